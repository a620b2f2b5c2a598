//! The drbd.conf parser (spec §2.2–§2.6): tokens → raw sections → normalized [`Config`].

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{did_you_mean, ConfigError, ErrorKind, Location, Origin, Warning};
use super::glob;
use super::lexer::{lex, Tok, Token};
use super::model::{
    Address, AddressFamily, Config, Device, Global, HostKind, MetaDisk, Protocol, Sections,
    UsageCount,
};
use super::normalize::{normalize, RawConfig, RawHost, RawResource, RawVolume};
use super::options::{
    canonical_name, names, option_spec, syncer_target, OptionEntry, OptionKind, OptionList,
    OptionSpec, SectionKind, Value, IGNORED_OPTIONS, SYNCER_KEYWORDS,
};
use super::units::{parse_number, NumberError, Unit};

/// How to treat keywords of DRBD 0.7 that drbdadm-84 no longer accepts
/// (`incon-degr-cmd`, `syncer { group }`, `net { on-disconnect }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Legacy {
    /// Accept them with a warning: `incon-degr-cmd` becomes the `pri-on-incon-degr`
    /// handler, `group` and `on-disconnect` are ignored.
    #[default]
    Accept,
    /// Reject them with a parse error, exactly as drbdadm-84 does.
    Reject,
}

/// Parser settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Treatment of DRBD 0.7 keywords.
    pub legacy: Legacy,
}

/// Deepest include nesting (drbdadm's limit).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Largest file read (a drbd.conf is a few KiB; this guards against device files).
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Read a file as UTF-8 text, with errors naming the file.
pub(crate) fn read_file(path: &Path, origin: Option<Location>) -> Result<String, ConfigError> {
    let open_err = |e: std::io::Error| {
        ConfigError::new(
            ErrorKind::Io,
            origin.clone(),
            format!("cannot read '{}': {e}", path.display()),
        )
    };
    if path.is_dir() {
        return Err(ConfigError::new(
            ErrorKind::Io,
            origin,
            format!("cannot read '{}': it is a directory", path.display()),
        ));
    }
    let f = std::fs::File::open(path).map_err(open_err)?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(open_err)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ConfigError::new(
            ErrorKind::Io,
            origin,
            format!(
                "'{}' is larger than {} MiB; is this really a drbd.conf?",
                path.display(),
                MAX_FILE_SIZE >> 20
            ),
        ));
    }
    Ok(bytes_to_text(bytes))
}

/// The file's text: UTF-8, or — for files written in the days of Latin-1 editors, which
/// drbdadm-84 reads byte by byte — each byte as the Latin-1 character it was meant as. Keywords
/// and values are ASCII either way; a stray non-ASCII byte outside a comment or string then
/// meets the lexer's "unexpected character" error with its line and column.
pub(crate) fn bytes_to_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    }
}

/// Parse `text` (named `origin` in messages; includes are resolved relative to `dir`).
pub(crate) fn parse(
    text: &str,
    origin: &str,
    dir: &Path,
    opts: &ParseOptions,
) -> Result<Config, ConfigError> {
    let file: Arc<str> = Arc::from(origin);
    let tokens = lex(text, &file)?;
    let mut p = Parser {
        frames: vec![Frame {
            tokens,
            pos: 0,
            dir: dir.to_path_buf(),
        }],
        opts: opts.clone(),
        warnings: Vec::new(),
    };
    let raw = p.parse_config()?;
    let mut warnings = std::mem::take(&mut p.warnings);
    let config = normalize(raw, &mut warnings)?;
    Ok(Config { warnings, ..config })
}

struct Frame {
    tokens: Vec<Token>,
    pos: usize,
    dir: PathBuf,
}

struct Parser {
    frames: Vec<Frame>,
    opts: ParseOptions,
    warnings: Vec<Warning>,
}

const TOP_KEYWORDS: &[&str] = &["global", "common", "resource", "skip", "include"];
const GLOBAL_KEYWORDS: &[&str] = &[
    "usage-count",
    "minor-count",
    "dialog-refresh",
    "disable-ip-verification",
    "udev-always-use-vnr",
    "cmd-timeout-short",
    "cmd-timeout-medium",
    "cmd-timeout-long",
];
const RESOURCE_KEYWORDS: &[&str] = &[
    "protocol",
    "on",
    "floating",
    "volume",
    "device",
    "disk",
    "meta-disk",
    "flexible-meta-disk",
    "options",
    "net",
    "syncer",
    "startup",
    "handlers",
    "proxy",
    "ignore-on",
    "stacked-on-top-of",
];
const COMMON_KEYWORDS: &[&str] = &[
    "protocol", "options", "net", "disk", "syncer", "startup", "handlers",
];
const HOST_KEYWORDS: &[&str] = &[
    "address",
    "alternate-link-address",
    "volume",
    "device",
    "disk",
    "meta-disk",
    "flexible-meta-disk",
    "options",
    "proxy",
];
const VOLUME_KEYWORDS: &[&str] = &["device", "disk", "meta-disk", "flexible-meta-disk"];

fn perr(loc: &Location, msg: impl Into<String>) -> ConfigError {
    ConfigError::new(ErrorKind::Parse, Some(loc.clone()), msg)
}

fn quote_list(words: &[&str]) -> String {
    words.join(", ")
}

impl Parser {
    // ---------------------------------------------------------------- token stream

    /// The next token (without consuming it); finished included files are left.
    fn peek(&mut self) -> &Token {
        while self.frames.len() > 1
            && self.frames.last().is_some_and(|f| {
                matches!(f.tokens.get(f.pos).map(|t| &t.tok), Some(Tok::Eof) | None)
            })
        {
            self.frames.pop();
        }
        let f = self.frames.last().expect("the main frame is never popped");
        let i = f.pos.min(f.tokens.len().saturating_sub(1));
        &f.tokens[i]
    }

    /// Consume and return the next token; at the end of input this keeps returning `Eof`.
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            if let Some(f) = self.frames.last_mut() {
                f.pos += 1;
            }
        }
        t
    }

    fn warn(&mut self, loc: &Location, message: impl Into<String>) {
        self.warnings.push(Warning {
            origin: Origin::at(loc.clone()),
            message: message.into(),
        });
    }

    fn expect_semi(&mut self, after: &str) -> Result<(), ConfigError> {
        let t = self.next();
        match t.tok {
            Tok::Semi => Ok(()),
            other => Err(perr(
                &t.loc,
                format!("expected ';' after {after}, got {other}"),
            )),
        }
    }

    fn expect_lbrace(&mut self, after: &str) -> Result<Location, ConfigError> {
        let t = self.next();
        match t.tok {
            Tok::LBrace => Ok(t.loc),
            other => Err(perr(
                &t.loc,
                format!("expected '{{' after {after}, got {other}"),
            )),
        }
    }

    /// A word or quoted string.
    fn value(&mut self, what: &str) -> Result<(String, Location), ConfigError> {
        let t = self.next();
        match t.tok {
            Tok::Word(s) | Tok::Str(s) => Ok((s, t.loc)),
            other => Err(perr(&t.loc, format!("expected {what}, got {other}"))),
        }
    }

    /// Handle `include` and `skip` at the start of a statement.
    fn begin_statement(&mut self) -> Result<(), ConfigError> {
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Word(w) if w == "include" => {
                    self.next();
                    self.include(&t.loc)?;
                }
                Tok::Word(w) if w == "skip" => {
                    self.next();
                    self.skip_block(&t.loc)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn include(&mut self, loc: &Location) -> Result<(), ConfigError> {
        let (pattern, _) = self.value("a file name or pattern after 'include'")?;
        self.expect_semi("the include file name")?;
        let dir = self
            .frames
            .last()
            .map(|f| f.dir.clone())
            .unwrap_or_default();
        let files = glob::expand(&dir, &pattern);
        if files.is_empty() && !glob::has_wildcards(&pattern) {
            let looked_in = if Path::new(&pattern).is_absolute() {
                String::new()
            } else if dir.as_os_str().is_empty() {
                " (relative to the current directory)".to_string()
            } else {
                format!(" (looked in '{}')", dir.display())
            };
            return Err(ConfigError::new(
                ErrorKind::MissingInclude,
                Some(loc.clone()),
                format!("failed to open include file '{pattern}'{looked_in}"),
            ));
        }
        if self.frames.len() + 1 > MAX_INCLUDE_DEPTH {
            return Err(perr(
                loc,
                format!(
                    "includes nested deeper than {MAX_INCLUDE_DEPTH} levels; does a file include \
                     itself?"
                ),
            ));
        }
        // Push in reverse so that the first file (sorted) is read first.
        for path in files.iter().rev() {
            if path.is_dir() {
                continue;
            }
            let text = read_file(path, Some(loc.clone()))?;
            let name: Arc<str> = Arc::from(path.display().to_string());
            let tokens = lex(&text, &name)?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            self.frames.push(Frame {
                tokens,
                pos: 0,
                dir,
            });
        }
        Ok(())
    }

    fn skip_block(&mut self, loc: &Location) -> Result<(), ConfigError> {
        // `skip [words] { ... }`
        loop {
            let t = self.next();
            match t.tok {
                Tok::LBrace => break,
                Tok::Word(_) | Tok::Str(_) => {}
                other => {
                    return Err(perr(
                        &t.loc,
                        format!("expected '{{' to start the skipped block, got {other}"),
                    ))
                }
            }
        }
        let mut depth = 1usize;
        while depth > 0 {
            let t = self.next();
            match t.tok {
                Tok::LBrace => depth += 1,
                Tok::RBrace => depth -= 1,
                Tok::Eof => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "end of file inside the skip block started at {loc}: a '}}' is missing"
                        ),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn eof_in(&self, loc: &Location, what: &str, opened: &Location) -> ConfigError {
        perr(
            loc,
            format!("unexpected end of file in {what} opened at {opened}: a '}}' is missing"),
        )
    }

    /// The keyword that starts the next statement of a `{ ... }` block, or `None` at the
    /// block's closing '}'. `what` names the block in the end-of-file error; `expected`
    /// completes "expected … got X" for anything but a word.
    fn block_keyword(
        &mut self,
        what: &str,
        expected: &str,
        open: &Location,
    ) -> Result<Option<(String, Location)>, ConfigError> {
        self.begin_statement()?;
        let t = self.next();
        match t.tok {
            Tok::RBrace => Ok(None),
            Tok::Eof => Err(self.eof_in(&t.loc, what, open)),
            Tok::Word(w) => Ok(Some((w, t.loc))),
            other => Err(perr(&t.loc, format!("expected {expected}, got {other}"))),
        }
    }

    // ---------------------------------------------------------------- top level

    fn parse_config(&mut self) -> Result<RawConfig, ConfigError> {
        let mut cfg = RawConfig::default();
        let mut global_seen: Option<Location> = None;
        let mut common_seen: Option<Location> = None;
        let mut names: HashMap<String, Location> = HashMap::new();
        loop {
            self.begin_statement()?;
            let t = self.next();
            let w = match t.tok {
                Tok::Eof => break,
                Tok::Word(w) => w,
                other => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "expected 'global', 'common', 'resource', 'skip' or 'include', got \
                             {other}"
                        ),
                    ))
                }
            };
            match w.as_str() {
                "global" => {
                    if let Some(first) = &global_seen {
                        return Err(ConfigError::new(
                            ErrorKind::Invalid,
                            Some(t.loc),
                            format!(
                                "a second 'global' section (the first is at {first}); merge them"
                            ),
                        ));
                    }
                    if common_seen.is_some() || !cfg.resources.is_empty() {
                        self.warn(
                            &t.loc,
                            "the global section should come first in the configuration",
                        );
                    }
                    global_seen = Some(t.loc.clone());
                    cfg.global = self.parse_global(&t.loc)?;
                }
                "common" => {
                    if let Some(first) = &common_seen {
                        return Err(ConfigError::new(
                            ErrorKind::Invalid,
                            Some(t.loc),
                            format!(
                                "a second 'common' section (the first is at {first}); merge them"
                            ),
                        ));
                    }
                    common_seen = Some(t.loc.clone());
                    let open = self.expect_lbrace("common")?;
                    let mut raw = RawResource::default();
                    self.parse_resource_body(&mut raw, true, &open)?;
                    cfg.common = raw.sections;
                }
                "resource" => {
                    let (name, nloc) = self.value("a resource name after 'resource'")?;
                    check_resource_name(&name, &nloc)?;
                    if let Some(first) = names.get(&name) {
                        return Err(ConfigError::new(
                            ErrorKind::Invalid,
                            Some(nloc),
                            format!("resource '{name}' is defined twice (first at {first})"),
                        ));
                    }
                    names.insert(name.clone(), t.loc.clone());
                    let open = self.expect_lbrace(&format!("resource {name}"))?;
                    let mut raw = RawResource {
                        name,
                        origin: Origin::at(t.loc.clone()),
                        ..RawResource::default()
                    };
                    self.parse_resource_body(&mut raw, false, &open)?;
                    cfg.resources.push(raw);
                }
                other => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "unknown keyword '{other}' at top level; expected one of: {}{}",
                            quote_list(TOP_KEYWORDS),
                            did_you_mean(other, TOP_KEYWORDS)
                        ),
                    ))
                }
            }
        }
        Ok(cfg)
    }

    fn parse_global(&mut self, start: &Location) -> Result<Global, ConfigError> {
        let open = self.expect_lbrace("global")?;
        let mut g = Global {
            origin: Origin::at(start.clone()),
            ..Global::default()
        };
        loop {
            self.begin_statement()?;
            let t = self.next();
            let w = match t.tok {
                Tok::RBrace => return Ok(g),
                Tok::Eof => return Err(self.eof_in(&t.loc, "the global section", &open)),
                Tok::Word(w) => w,
                other => {
                    return Err(perr(
                        &t.loc,
                        format!("expected a global option or '}}', got {other}"),
                    ))
                }
            };
            match w.as_str() {
                "usage-count" => {
                    let (v, vloc) = self.value("yes, no or ask after usage-count")?;
                    g.usage_count = Some(match v.as_str() {
                        "yes" => UsageCount::Yes,
                        "no" => UsageCount::No,
                        "ask" => UsageCount::Ask,
                        _ => {
                            return Err(perr(
                                &vloc,
                                format!("usage-count must be yes, no or ask, not '{v}'"),
                            ))
                        }
                    });
                    self.expect_semi("usage-count")?;
                }
                "minor-count" => {
                    let r = drbd_core::limits::MINOR_COUNT;
                    g.minor_count =
                        Some(self.global_number(&w, u64::from(r.min), u64::from(r.max))?);
                }
                "dialog-refresh" => {
                    g.dialog_refresh = Some(self.global_number(&w, 0, u64::from(u32::MAX))?);
                }
                "cmd-timeout-short" => g.cmd_timeout_short = Some(self.global_number(&w, 0, 900)?),
                "cmd-timeout-medium" => {
                    g.cmd_timeout_medium = Some(self.global_number(&w, 0, 900)?)
                }
                "cmd-timeout-long" => g.cmd_timeout_long = Some(self.global_number(&w, 0, 900)?),
                "disable-ip-verification" => g.disable_ip_verification = self.flag_value(&w)?,
                "udev-always-use-vnr" => g.udev_always_use_vnr = self.flag_value(&w)?,
                other => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "unknown keyword '{other}' in section global{}; expected one of: {}",
                            did_you_mean(other, GLOBAL_KEYWORDS),
                            quote_list(GLOBAL_KEYWORDS)
                        ),
                    ))
                }
            }
        }
    }

    fn global_number(&mut self, name: &str, min: u64, max: u64) -> Result<u32, ConfigError> {
        let (text, loc) = self.value(&format!("a number after {name}"))?;
        let n = number_in_range(name, &text, Unit::Count, min, max, &loc)?;
        self.expect_semi(name)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// `name;`, `name yes;` or `name no;` (the keyword is already consumed).
    fn flag_value(&mut self, name: &str) -> Result<bool, ConfigError> {
        let t = self.next();
        match &t.tok {
            Tok::Semi => Ok(true),
            Tok::Word(v) | Tok::Str(v) if v == "yes" || v == "no" => {
                let b = v == "yes";
                self.expect_semi(name)?;
                Ok(b)
            }
            other => Err(perr(
                &t.loc,
                format!("{name} is a flag: write '{name};', '{name} yes;' or '{name} no;' (got {other})"),
            )),
        }
    }

    // ---------------------------------------------------------------- resource / common

    fn parse_resource_body(
        &mut self,
        raw: &mut RawResource,
        is_common: bool,
        open: &Location,
    ) -> Result<(), ConfigError> {
        let what = if is_common {
            "the common section".to_string()
        } else {
            format!("resource {}", raw.name)
        };
        let expected = format!("a keyword or '}}' in {what}");
        while let Some((w, loc)) = self.block_keyword(&what, &expected, open)? {
            if is_common && !COMMON_KEYWORDS.contains(&w.as_str()) && w != "disk" {
                let hint = if RESOURCE_KEYWORDS.contains(&w.as_str()) {
                    format!(
                        "'{w}' is not allowed in the common section (it may contain: {}); move it \
                         into a resource",
                        quote_list(COMMON_KEYWORDS)
                    )
                } else {
                    format!(
                        "unknown keyword '{w}' in the common section{}; expected one of: {}",
                        did_you_mean(&w, COMMON_KEYWORDS),
                        quote_list(COMMON_KEYWORDS)
                    )
                };
                return Err(perr(&loc, hint));
            }
            match w.as_str() {
                "protocol" => {
                    let v = self.protocol_value()?;
                    self.store(&mut raw.sections.net, "protocol", (v, None), &loc, "net");
                }
                "options" => self.option_block(SectionKind::Options, &mut raw.sections.options)?,
                "net" => self.option_block(SectionKind::Net, &mut raw.sections.net)?,
                "startup" => self.option_block(SectionKind::Startup, &mut raw.sections.startup)?,
                "handlers" => {
                    self.option_block(SectionKind::Handlers, &mut raw.sections.handlers)?
                }
                "syncer" => self.syncer_block(&mut raw.sections)?,
                "disk" if matches!(self.peek().tok, Tok::LBrace) => {
                    self.option_block(SectionKind::Disk, &mut raw.sections.disk)?
                }
                "disk" if is_common => return Err(perr(
                    &loc,
                    "'disk PATH;' is not allowed in the common section; use 'disk { options }' \
                         here and put the lower device into the resources",
                )),
                "disk" | "device" | "meta-disk" | "flexible-meta-disk" => {
                    let vol = implicit_volume(&mut raw.volumes, &loc, &what)?;
                    self.volume_statement(&w, &loc, vol)?;
                }
                "volume" => {
                    self.volume_block(&mut raw.volumes, &loc, &what)?;
                }
                "on" => {
                    let host = self.on_section(&loc, &raw.name)?;
                    raw.hosts.push(host);
                }
                "floating" => {
                    let host = self.floating_section(&loc, &raw.name)?;
                    raw.hosts.push(host);
                }
                "stacked-on-top-of" => {
                    return Err(ConfigError::new(
                        ErrorKind::Unsupported,
                        Some(loc),
                        format!(
                            "in resource {}: stacked resources ('stacked-on-top-of') are not \
                             supported by drbd_rs",
                            raw.name
                        ),
                    ))
                }
                "ignore-on" => {
                    let (h, _) = self.value("a host name after ignore-on")?;
                    self.expect_semi("ignore-on HOST")?;
                    self.warn(
                        &loc,
                        format!("'ignore-on {h}' is deprecated and has no effect; remove it"),
                    );
                }
                "proxy" => {
                    self.skip_section_after_keyword(&loc)?;
                    self.warn(
                        &loc,
                        "the 'proxy' section (DRBD Proxy) is ignored by drbd_rs",
                    );
                }
                "incon-degr-cmd" => self.incon_degr_cmd(&loc, &mut raw.sections)?,
                other => {
                    return Err(perr(
                        &loc,
                        format!(
                            "unknown keyword '{other}' in {what}{}; expected one of: {}",
                            did_you_mean(other, RESOURCE_KEYWORDS),
                            quote_list(RESOURCE_KEYWORDS)
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Skip everything up to and including a balanced `{ … }` (for `proxy`).
    fn skip_section_after_keyword(&mut self, loc: &Location) -> Result<(), ConfigError> {
        self.skip_block(loc)
    }

    fn incon_degr_cmd(
        &mut self,
        loc: &Location,
        sections: &mut Sections,
    ) -> Result<(), ConfigError> {
        if self.opts.legacy == Legacy::Reject {
            return Err(perr(
                loc,
                "'incon-degr-cmd' (DRBD 0.7) is not accepted any more; write \
                 'handlers { pri-on-incon-degr \"...\"; }' instead",
            ));
        }
        let (cmd, _) = self.value("a command after incon-degr-cmd")?;
        self.expect_semi("incon-degr-cmd")?;
        if sections.handlers.get("pri-on-incon-degr").is_some() {
            self.warn(
                loc,
                "'incon-degr-cmd' (DRBD 0.7) ignored: a pri-on-incon-degr handler is already set",
            );
        } else {
            self.warn(
                loc,
                "'incon-degr-cmd' is obsolete (DRBD 0.7); used as 'handlers { pri-on-incon-degr }'",
            );
            sections.handlers.set(OptionEntry::new(
                "pri-on-incon-degr",
                Value::Text(cmd),
                Origin::at(loc.clone()),
            ));
        }
        Ok(())
    }

    fn protocol_value(&mut self) -> Result<Value, ConfigError> {
        let (v, vloc) = self.value("A, B or C after protocol")?;
        let p = Protocol::from_name(&v)
            .ok_or_else(|| perr(&vloc, format!("unknown protocol '{v}'; expected A, B or C")))?;
        self.expect_semi("protocol")?;
        Ok(Value::Text(
            match p {
                Protocol::A => "A",
                Protocol::B => "B",
                Protocol::C => "C",
            }
            .to_string(),
        ))
    }

    fn store(
        &mut self,
        list: &mut OptionList,
        name: &'static str,
        (value, text): (Value, Option<String>),
        loc: &Location,
        section: &str,
    ) {
        if let Some(first) = list.entry(name) {
            let first = first.origin.clone();
            self.warn(
                loc,
                format!(
                    "{section} option '{name}' is given twice (first at {first}); remove one: \
                     drbdadm 8.4 passes both on where the section applies as written (the \
                     last counts), but only the first where it is inherited (from common {{ }}, \
                     or a resource's disk {{ }} into its volumes)"
                ),
            );
        }
        list.push(OptionEntry {
            name,
            value,
            origin: Origin::at(loc.clone()),
            text,
        });
    }

    // ---------------------------------------------------------------- option sections

    fn option_block(
        &mut self,
        section: SectionKind,
        list: &mut OptionList,
    ) -> Result<(), ConfigError> {
        let open = self.expect_lbrace(section.name())?;
        let what = format!("section {section}");
        let expected = format!("an option name or '}}' in section {section}");
        while let Some((w, loc)) = self.block_keyword(&what, &expected, &open)? {
            self.option_statement(section, &w, &loc, list)?;
        }
        Ok(())
    }

    fn option_statement(
        &mut self,
        section: SectionKind,
        word: &str,
        loc: &Location,
        list: &mut OptionList,
    ) -> Result<(), ConfigError> {
        let name = canonical_name(section, word);
        if let Some(spec) = option_spec(section, name) {
            let value = self.option_value(spec, word)?;
            self.store(list, spec.name, value, loc, section.name());
            return Ok(());
        }
        if let Some(flag) = word.strip_prefix("no-") {
            if let Some(spec) = option_spec(section, flag).filter(|s| s.kind == OptionKind::Flag) {
                self.expect_semi(word)?;
                self.store(
                    list,
                    spec.name,
                    (Value::Flag(false), None),
                    loc,
                    section.name(),
                );
                return Ok(());
            }
        }
        match (section, word) {
            (SectionKind::Disk | SectionKind::Net | SectionKind::Options, w)
                if IGNORED_OPTIONS.contains(&w) =>
            {
                self.ignored_option(w, loc)
            }
            (SectionKind::Disk, "use-bmbv" | "no-use-bmbv") => {
                if word == "use-bmbv" {
                    self.flag_value(word)?;
                } else {
                    self.expect_semi(word)?;
                }
                self.warn(
                    loc,
                    format!("'{word}' has no effect in DRBD 8.4 and is ignored"),
                );
                Ok(())
            }
            (SectionKind::Net, "discard-my-data") => Err(perr(
                loc,
                "'discard-my-data' is not allowed in drbd.conf: it is a one-shot flag of the \
                 connect command; use 'drbdadm connect --discard-my-data RESOURCE'",
            )),
            (SectionKind::Net, "on-disconnect") => {
                if self.opts.legacy == Legacy::Reject {
                    return Err(perr(
                        loc,
                        "'on-disconnect' (DRBD 0.7) is not accepted any more; remove it (DRBD \
                         8.4 always tries to reconnect)",
                    ));
                }
                self.consume_until_semi()?;
                self.warn(
                    loc,
                    "'on-disconnect' (DRBD 0.7) is obsolete and ignored; DRBD 8.4 always tries to \
                     reconnect",
                );
                Ok(())
            }
            _ => {
                let mut candidates = names(section);
                if section == SectionKind::Disk {
                    candidates.extend(["rate", "after"]);
                }
                let mut msg = format!(
                    "unknown keyword '{word}' in section {section}{}",
                    did_you_mean(word, &candidates)
                );
                if let Some((target, _)) = syncer_target(word).filter(|(t, _)| *t != section) {
                    msg.push_str(&format!("; '{word}' belongs into the {target} section"));
                } else if let Some(other) = SectionKind::ALL
                    .iter()
                    .find(|&&k| k != section && option_spec(k, word).is_some())
                {
                    msg.push_str(&format!("; '{word}' belongs into the {other} section"));
                } else if RESOURCE_KEYWORDS.contains(&word) {
                    msg.push_str(&format!("; is a '}}' missing before '{word}'?"));
                }
                Err(perr(loc, msg))
            }
        }
    }

    fn consume_until_semi(&mut self) -> Result<(), ConfigError> {
        loop {
            let t = self.next();
            match t.tok {
                Tok::Semi => return Ok(()),
                Tok::Word(_) | Tok::Str(_) => {}
                other => {
                    return Err(perr(
                        &t.loc,
                        format!("expected a value or ';', got {other}"),
                    ))
                }
            }
        }
    }

    fn ignored_option(&mut self, word: &str, loc: &Location) -> Result<(), ConfigError> {
        self.consume_until_semi()?;
        self.warn(loc, format!("'{word}' (DRBD 8.3) is obsolete and ignored"));
        Ok(())
    }

    /// The value(s) and the `;` of option `spec` (the keyword `written` is consumed), and
    /// for numbers the text as written (`40M`, see [`OptionEntry::text`]).
    fn option_value(
        &mut self,
        spec: &OptionSpec,
        written: &str,
    ) -> Result<(Value, Option<String>), ConfigError> {
        if let OptionKind::Number { unit, min, max } = spec.kind {
            let (text, loc) = self.value(&format!("a number after {written}"))?;
            let n = number_in_range(written, &text, unit, min, max, &loc)?;
            self.expect_semi(written)?;
            return Ok((Value::Number(n), Some(text)));
        }
        Ok((self.other_option_value(spec, written)?, None))
    }

    fn other_option_value(
        &mut self,
        spec: &OptionSpec,
        written: &str,
    ) -> Result<Value, ConfigError> {
        let name = spec.name;
        match spec.kind {
            OptionKind::Flag => Ok(Value::Flag(self.flag_value(written)?)),
            OptionKind::Number { .. } => unreachable!("handled by option_value"),
            OptionKind::Enum(values) => {
                let (text, loc) = self.value(&format!("a value after {written}"))?;
                let v = if name == "protocol" {
                    text.to_ascii_uppercase()
                } else {
                    text.clone()
                };
                let ok = values.iter().any(|(w, _)| *w == v)
                    || (name == "after-sb-0pri"
                        && v.strip_prefix("discard-node-")
                            .is_some_and(|h| !h.is_empty()));
                if !ok {
                    let words: Vec<&str> = values.iter().map(|(w, _)| *w).collect();
                    let mut msg = format!(
                        "unknown value '{text}' for {name}{}; expected one of: {}",
                        did_you_mean(&text, &words),
                        quote_list(&words)
                    );
                    if name == "after-sb-0pri" {
                        msg.push_str(", discard-node-HOSTNAME");
                    }
                    if name == "on-io-error" && text == "panic" {
                        msg.push_str(
                            " ('panic' is gone since DRBD 8.0: use 'call-local-io-error' with a \
                             local-io-error handler)",
                        );
                    }
                    return Err(perr(&loc, msg));
                }
                self.expect_semi(written)?;
                Ok(Value::Text(v))
            }
            OptionKind::Text { max_len } => {
                let (text, loc) = self.value(&format!("a value after {written}"))?;
                if text.chars().count() > max_len {
                    return Err(perr(
                        &loc,
                        format!("the value of {name} is too long (at most {max_len} characters)"),
                    ));
                }
                self.expect_semi(written)?;
                Ok(Value::Text(text))
            }
            OptionKind::CpuMask => {
                let (text, loc) = self.value("a hexadecimal CPU mask after cpu-mask")?;
                if text.len() > 31 || !text.chars().all(|c| c.is_ascii_hexdigit() || c == ',') {
                    return Err(perr(
                        &loc,
                        format!(
                            "invalid cpu-mask '{text}': write a hexadecimal CPU bitmap of at most \
                             31 characters, e.g. 'cpu-mask 3;' for CPUs 0 and 1"
                        ),
                    ));
                }
                self.expect_semi(written)?;
                Ok(Value::Text(text))
            }
            OptionKind::Command => {
                let (text, _) = self.value(&format!("a command after {written}"))?;
                self.expect_semi(written)?;
                Ok(Value::Text(text))
            }
            OptionKind::ResourceRef => {
                let (text, loc) = self.value(&format!("a resource name after {written}"))?;
                let (res, vnr) = split_resource_ref(&text);
                if res.is_empty() || vnr.is_some_and(|v| v.parse::<u32>().is_err()) {
                    return Err(perr(
                        &loc,
                        format!("invalid {name} value '{text}': write a resource name, or RESOURCE/VOLUME"),
                    ));
                }
                self.expect_semi(written)?;
                Ok(Value::Text(text))
            }
            OptionKind::HostList => {
                let mut hosts = Vec::new();
                loop {
                    let t = self.next();
                    match t.tok {
                        Tok::Semi if !hosts.is_empty() => return Ok(Value::List(hosts)),
                        Tok::Word(h) | Tok::Str(h) => hosts.push(h),
                        other => {
                            return Err(perr(
                                &t.loc,
                                format!(
                                    "expected a host name (or 'both') after {name}, got {other}"
                                ),
                            ))
                        }
                    }
                }
            }
        }
    }

    fn syncer_block(&mut self, sections: &mut Sections) -> Result<(), ConfigError> {
        let open = self.expect_lbrace("syncer")?;
        while let Some((w, loc)) =
            self.block_keyword("section syncer", "a syncer option keyword or '}'", &open)?
        {
            if let Some((section, name)) = syncer_target(&w) {
                let Some(spec) = option_spec(section, name) else {
                    return Err(perr(&loc, format!("internal error: no option {name}")));
                };
                let value = self.option_value(spec, &w)?;
                self.store(
                    sections.get_mut(section),
                    spec.name,
                    value,
                    &loc,
                    section.name(),
                );
            } else if IGNORED_OPTIONS.contains(&w.as_str()) && self.opts.legacy == Legacy::Accept {
                // drbdadm-84 only accepts these in disk/net/options.
                self.ignored_option(&w, &loc)?;
            } else if w == "group" {
                if self.opts.legacy == Legacy::Reject {
                    return Err(perr(
                        &loc,
                        "'a syncer option keyword' expected, but got 'group': 'group' (DRBD 0.7) \
                         is not accepted any more; order resyncs with 'disk { resync-after \
                         RESOURCE; }'",
                    ));
                }
                self.consume_until_semi()?;
                self.warn(
                    &loc,
                    "syncer option 'group' (DRBD 0.7) is obsolete and ignored; order resyncs with \
                     'disk { resync-after RESOURCE; }'",
                );
            } else {
                return Err(perr(
                    &loc,
                    format!(
                        "unknown keyword '{w}' in section syncer{}",
                        did_you_mean(&w, SYNCER_KEYWORDS)
                    ),
                ));
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- hosts and volumes

    fn on_section(&mut self, loc: &Location, resource: &str) -> Result<RawHost, ConfigError> {
        let mut names = Vec::new();
        let open = loop {
            let t = self.next();
            match t.tok {
                Tok::Word(n) | Tok::Str(n) => names.push(n),
                Tok::LBrace if !names.is_empty() => break t.loc,
                other => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "expected a host name after 'on' in resource {resource}, got {other}"
                        ),
                    ))
                }
            }
        };
        let mut host = RawHost {
            kind: HostKind::On(names),
            address: None,
            alternate_address: None,
            options: OptionList::new(),
            volumes: Vec::new(),
            origin: Origin::at(loc.clone()),
        };
        self.host_body(&mut host, resource, &open)?;
        Ok(host)
    }

    fn floating_section(&mut self, loc: &Location, resource: &str) -> Result<RawHost, ConfigError> {
        let address = self.address()?;
        let mut host = RawHost {
            kind: HostKind::Floating,
            address: Some(address),
            alternate_address: None,
            options: OptionList::new(),
            volumes: Vec::new(),
            origin: Origin::at(loc.clone()),
        };
        let t = self.next();
        match t.tok {
            Tok::Semi => {}
            Tok::LBrace => self.host_body(&mut host, resource, &t.loc)?,
            other => {
                return Err(perr(
                    &t.loc,
                    format!("expected ';' or '{{' after the floating address, got {other}"),
                ))
            }
        }
        Ok(host)
    }

    fn host_body(
        &mut self,
        host: &mut RawHost,
        resource: &str,
        open: &Location,
    ) -> Result<(), ConfigError> {
        let label = match &host.kind {
            HostKind::On(n) => format!("on {}", n.join(" ")),
            HostKind::Floating => "floating".to_string(),
        };
        let what = format!("resource {resource}, {label}");
        let eof_what = format!("'{label}' of resource {resource}");
        let expected = format!("a keyword or '}}' in {what}");
        while let Some((w, loc)) = self.block_keyword(&eof_what, &expected, open)? {
            match w.as_str() {
                "address" => {
                    if host.kind == HostKind::Floating {
                        return Err(perr(
                            &loc,
                            "a floating section has its address after 'floating'; remove this \
                             'address' statement",
                        ));
                    }
                    let a = self.address()?;
                    self.expect_semi("the address")?;
                    if host.address.replace(a).is_some() {
                        return Err(ConfigError::new(
                            ErrorKind::Invalid,
                            Some(loc),
                            format!("in {what}: 'address' is given twice"),
                        ));
                    }
                }
                "alternate-link-address" => {
                    let a = self.address()?;
                    self.expect_semi("the address")?;
                    host.alternate_address = Some(a);
                }
                "device" | "disk" | "meta-disk" | "flexible-meta-disk" => {
                    let vol = implicit_volume(&mut host.volumes, &loc, &what)?;
                    self.volume_statement(&w, &loc, vol)?;
                }
                "volume" => self.volume_block(&mut host.volumes, &loc, &what)?,
                "options" => self.option_block(SectionKind::Options, &mut host.options)?,
                "proxy" => {
                    self.skip_section_after_keyword(&loc)?;
                    self.warn(
                        &loc,
                        "the 'proxy' section (DRBD Proxy) is ignored by drbd_rs",
                    );
                }
                other => {
                    return Err(perr(
                        &loc,
                        format!(
                            "unknown keyword '{other}' in {what}{}; expected one of: {}",
                            did_you_mean(other, HOST_KEYWORDS),
                            quote_list(HOST_KEYWORDS)
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    fn volume_block(
        &mut self,
        volumes: &mut Vec<RawVolume>,
        loc: &Location,
        what: &str,
    ) -> Result<(), ConfigError> {
        let (text, nloc) = self.value("a volume number after 'volume'")?;
        let number = number_in_range("volume", &text, Unit::Count, 0, 65_534, &nloc)?;
        let number = u32::try_from(number).unwrap_or(u32::MAX);
        if volumes.iter().any(|v| v.implicit) {
            return Err(mixing_error(loc, what));
        }
        if let Some(v) = volumes.iter().find(|v| v.number == number) {
            return Err(ConfigError::new(
                ErrorKind::Invalid,
                Some(loc.clone()),
                format!(
                    "in {what}: volume {number} is defined twice (first at {})",
                    v.origin
                ),
            ));
        }
        let open = self.expect_lbrace(&format!("volume {number}"))?;
        let mut vol = RawVolume::new(number, false, loc);
        loop {
            self.begin_statement()?;
            let t = self.next();
            let w = match t.tok {
                Tok::RBrace => break,
                Tok::Eof => return Err(self.eof_in(&t.loc, &format!("volume {number}"), &open)),
                Tok::Word(w) => w,
                other => {
                    return Err(perr(
                        &t.loc,
                        format!("expected a keyword or '}}' in volume {number}, got {other}"),
                    ))
                }
            };
            if VOLUME_KEYWORDS.contains(&w.as_str()) {
                self.volume_statement(&w, &t.loc, &mut vol)?;
            } else {
                return Err(perr(
                    &t.loc,
                    format!(
                        "unknown keyword '{w}' in volume {number}{}; expected one of: {}",
                        did_you_mean(&w, VOLUME_KEYWORDS),
                        quote_list(VOLUME_KEYWORDS)
                    ),
                ));
            }
        }
        volumes.push(vol);
        Ok(())
    }

    /// `device …;`, `disk …;`, `disk { … }`, `meta-disk …;`, `flexible-meta-disk …;`.
    fn volume_statement(
        &mut self,
        kw: &str,
        loc: &Location,
        vol: &mut RawVolume,
    ) -> Result<(), ConfigError> {
        let twice = |what: &str| {
            ConfigError::new(
                ErrorKind::Invalid,
                Some(loc.clone()),
                format!("'{what}' is given twice for volume {}", vol.number),
            )
        };
        match kw {
            "device" => {
                let d = self.device()?;
                if vol.device.is_some() {
                    return Err(twice("device"));
                }
                vol.device = Some(d);
            }
            "disk" if matches!(self.peek().tok, Tok::LBrace) => {
                self.option_block(SectionKind::Disk, &mut vol.disk_options)?;
            }
            "disk" => {
                let (path, _) = self.value("the lower-level device after 'disk'")?;
                self.expect_semi("the disk")?;
                if vol.disk.is_some() {
                    return Err(twice("disk"));
                }
                vol.disk = Some(path);
            }
            _ => {
                let flexible = kw == "flexible-meta-disk";
                let md = self.meta_disk(flexible)?;
                if vol.meta_disk.is_some() {
                    return Err(twice("meta-disk"));
                }
                vol.meta_disk = Some(md);
            }
        }
        Ok(())
    }

    fn device(&mut self) -> Result<Device, ConfigError> {
        let t = self.next();
        let (path, ploc) = match t.tok {
            Tok::Word(w) if w == "minor" => {
                let minor = self.minor_number()?;
                self.expect_semi("the device")?;
                return Ok(Device::from_minor(minor));
            }
            Tok::Word(w) | Tok::Str(w) => (w, t.loc),
            other => {
                return Err(perr(
                    &t.loc,
                    format!("expected a device name or 'minor N' after 'device', got {other}"),
                ))
            }
        };
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/dev/{path}")
        };
        let explicit = match &self.peek().tok {
            Tok::Word(w) if w == "minor" => {
                self.next();
                Some(self.minor_number()?)
            }
            _ => None,
        };
        self.expect_semi("the device")?;
        let suffix = path.strip_prefix("/dev/drbd").ok_or_else(|| {
            perr(
                &ploc,
                format!(
                    "device name '{path}' must start with /dev/drbd; write 'device /dev/drbdN;' \
                     or 'device minor N;' (arbitrary names: 'device /dev/drbd_NAME minor N;')"
                ),
            )
        })?;
        let from_name = if !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()) {
            Some(number_in_range(
                "minor",
                suffix,
                Unit::Count,
                0,
                u64::from(Device::MAX_MINOR),
                &ploc,
            )?)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        } else {
            None
        };
        match (from_name, explicit) {
            (Some(a), Some(b)) if a != b => Err(perr(
                &ploc,
                format!(
                    "explicit minor number {b} must match the device name {path}; write 'device \
                     /dev/drbd{b} minor {b};' or leave off either the name or the minor"
                ),
            )),
            (Some(m), _) => Ok(Device { path, minor: m }),
            (None, Some(m)) if suffix.starts_with('_') => Ok(Device { path, minor: m }),
            (None, Some(_)) => Err(perr(
                &ploc,
                format!(
                    "arbitrary device names must start with /dev/drbd_ (mind the '_'), not '{path}'"
                ),
            )),
            (None, None) => Err(perr(
                &ploc,
                format!(
                    "cannot take a minor number from the device name '{path}'; write 'device \
                     {path} minor N;'"
                ),
            )),
        }
    }

    fn minor_number(&mut self) -> Result<u32, ConfigError> {
        let (text, loc) = self.value("a minor number after 'minor'")?;
        let n = number_in_range(
            "minor",
            &text,
            Unit::Count,
            0,
            u64::from(Device::MAX_MINOR),
            &loc,
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn meta_disk(&mut self, flexible: bool) -> Result<MetaDisk, ConfigError> {
        let kw = if flexible {
            "flexible-meta-disk"
        } else {
            "meta-disk"
        };
        let t = self.next();
        let path = match t.tok {
            Tok::Word(w) if w == "internal" => {
                self.expect_semi(kw)?;
                return Ok(MetaDisk::Internal);
            }
            Tok::Word(w) | Tok::Str(w) => w,
            other => {
                return Err(perr(
                    &t.loc,
                    format!("expected 'internal' or a device after '{kw}', got {other}"),
                ))
            }
        };
        if matches!(self.peek().tok, Tok::LBracket) {
            let b = self.next();
            if flexible {
                return Err(perr(
                    &b.loc,
                    "flexible-meta-disk takes no index; use 'meta-disk DEVICE [N];' for indexed \
                     meta data",
                ));
            }
            let (text, loc) = self.value("an index inside '[ ]'")?;
            let idx = number_in_range(
                "meta-disk index",
                &text,
                Unit::Count,
                0,
                i32::MAX as u64,
                &loc,
            )?;
            let close = self.next();
            if close.tok != Tok::RBracket {
                return Err(perr(
                    &close.loc,
                    format!("expected ']' after the meta-disk index, got {}", close.tok),
                ));
            }
            self.expect_semi(kw)?;
            return Ok(MetaDisk::IndexedExternal(
                path,
                u32::try_from(idx).unwrap_or(u32::MAX),
            ));
        }
        self.expect_semi(kw)?;
        Ok(MetaDisk::FlexibleExternal(path))
    }

    fn address(&mut self) -> Result<Address, ConfigError> {
        let mut t = self.next();
        let mut family = None;
        if let Tok::Word(w) = &t.tok {
            family = match w.as_str() {
                "ipv4" => Some(AddressFamily::Ipv4),
                "ipv6" => Some(AddressFamily::Ipv6),
                "ssocks" | "sci" => Some(AddressFamily::Ssocks),
                "sdp" => Some(AddressFamily::Sdp),
                _ => None,
            };
            if family.is_some() {
                t = self.next();
            }
        }
        let (ip, scope) = match &t.tok {
            Tok::Ipv6(text) => {
                let (addr, scope) = match text.split_once('%') {
                    Some((a, s)) => (a, Some(s.to_string())),
                    None => (text.as_str(), None),
                };
                let ip: Ipv6Addr = addr
                    .parse()
                    .map_err(|_| perr(&t.loc, format!("'{addr}' is not a valid IPv6 address")))?;
                (IpAddr::V6(ip), scope.filter(|s| !s.is_empty()))
            }
            Tok::Word(w) => match w.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) => (ip, None),
                _ if family == Some(AddressFamily::Ipv6) => {
                    return Err(perr(
                        &t.loc,
                        "IPv6 addresses must be written in brackets, e.g. 'address ipv6 \
                         [fd00::1]:7789;'",
                    ))
                }
                _ => {
                    return Err(perr(
                        &t.loc,
                        format!(
                            "'{w}' is not an IP address; drbd.conf needs a numeric address, e.g. \
                             'address 10.0.0.1:7789;'"
                        ),
                    ))
                }
            },
            other => {
                return Err(perr(
                    &t.loc,
                    format!("expected an IP address such as 10.0.0.1:7789, got {other}"),
                ))
            }
        };
        let family = match (family, ip) {
            (None, IpAddr::V4(_)) => AddressFamily::Ipv4,
            (None, IpAddr::V6(_)) => AddressFamily::Ipv6,
            (Some(AddressFamily::Ipv6), IpAddr::V4(_)) => {
                return Err(perr(
                    &t.loc,
                    format!("'{ip}' is an IPv4 address but the family is ipv6"),
                ))
            }
            (Some(f), IpAddr::V6(_)) if f != AddressFamily::Ipv6 => {
                return Err(perr(
                    &t.loc,
                    format!(
                        "'{ip}' is an IPv6 address but the family is {}; write 'ipv6 [{ip}]:PORT'",
                        f.as_str()
                    ),
                ))
            }
            (Some(f), _) => f,
        };
        let c = self.next();
        if c.tok != Tok::Colon {
            return Err(perr(
                &c.loc,
                format!(
                    "expected ':' and a port after the address {ip}, got {}",
                    c.tok
                ),
            ));
        }
        let (text, ploc) = self.value("a port number after ':'")?;
        let port = number_in_range("port", &text, Unit::Count, 1, 65_535, &ploc)?;
        Ok(Address {
            family,
            ip,
            scope,
            port: u16::try_from(port).unwrap_or(u16::MAX),
        })
    }
}

fn mixing_error(loc: &Location, what: &str) -> ConfigError {
    ConfigError::new(
        ErrorKind::Invalid,
        Some(loc.clone()),
        format!(
            "in {what}: you must not mix implicit and explicit volumes; put all device/disk/\
             meta-disk statements into 'volume N {{ }}' blocks, or use none"
        ),
    )
}

/// The implicit volume 0 of a section (created on first use).
fn implicit_volume<'a>(
    volumes: &'a mut Vec<RawVolume>,
    loc: &Location,
    what: &str,
) -> Result<&'a mut RawVolume, ConfigError> {
    if volumes.iter().any(|v| !v.implicit) {
        return Err(mixing_error(loc, what));
    }
    if volumes.is_empty() {
        volumes.push(RawVolume::new(0, true, loc));
    }
    volumes.first_mut().ok_or_else(|| mixing_error(loc, what))
}

fn check_resource_name(name: &str, loc: &Location) -> Result<(), ConfigError> {
    let bad = |why: &str| perr(loc, format!("invalid resource name '{name}': {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().count() > 127 {
        return Err(bad("longer than 127 characters"));
    }
    if name.contains('/') {
        return Err(bad("it may not contain '/'"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it may not contain white space"));
    }
    Ok(())
}

/// `res` / `res/vnr`.
pub(crate) fn split_resource_ref(text: &str) -> (&str, Option<&str>) {
    match text.split_once('/') {
        Some((r, v)) => (r, Some(v)),
        None => (text, None),
    }
}

/// Parse a number for option `name` and check its range; errors in drbdadm's format
/// `name TEXT => N out of range [MIN..MAX]`.
fn number_in_range(
    name: &str,
    text: &str,
    unit: Unit,
    min: u64,
    max: u64,
    loc: &Location,
) -> Result<u64, ConfigError> {
    let n = parse_number(text, unit).map_err(|e| {
        let mut msg = format!("{name}: '{text}' {e}");
        if matches!(e, NumberError::BadSuffix(_)) && unit != Unit::Count {
            msg.push_str(&format!("; plain numbers are in {unit}"));
        }
        perr(loc, msg)
    })?;
    if n < min || n > max {
        let mut msg = format!("{name} {text} => {n} out of range [{min}..{max}]");
        if unit != Unit::Count {
            msg.push_str(&format!(" ({unit})"));
        }
        if text.ends_with('s') && matches!(unit, Unit::Seconds | Unit::Deciseconds) {
            msg.push_str(&format!(
                "; note: the suffix 's' means 512-byte sectors, not seconds: write {name} as a \
                 plain number of {unit}"
            ));
        }
        return Err(ConfigError::new(
            ErrorKind::OutOfRange,
            Some(loc.clone()),
            msg,
        ));
    }
    Ok(n)
}
