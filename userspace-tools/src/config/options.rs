//! The options of the `options`, `disk`, `net`, `startup` and `handlers` sections (spec §2.4):
//! their names, value kinds, units, ranges and defaults, and ordered option lists.

use std::fmt;

use super::error::Origin;
use super::units::{format_number, Unit};

/// The option sections of a resource (and of `common`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `options { }`: resource options (`new-resource` / `resource-options`).
    Options,
    /// `disk { }`: per-volume disk options (`attach` / `disk-options`).
    Disk,
    /// `net { }`: connection options (`connect` / `net-options`), including `protocol`.
    Net,
    /// `startup { }`: used by `wait-connect` and `become-primary-on`.
    Startup,
    /// `handlers { }`: shell commands the kernel's callbacks run.
    Handlers,
}

impl SectionKind {
    /// The section's keyword.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Options => "options",
            SectionKind::Disk => "disk",
            SectionKind::Net => "net",
            SectionKind::Startup => "startup",
            SectionKind::Handlers => "handlers",
        }
    }

    /// All sections, in the order `dump` writes them.
    pub const ALL: [SectionKind; 5] = [
        SectionKind::Options,
        SectionKind::Net,
        SectionKind::Disk,
        SectionKind::Startup,
        SectionKind::Handlers,
    ];
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What values an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `name;`, `name yes;`, `name no;` (and the 8.3 spelling `no-name;`).
    Flag,
    /// A number in `unit`, with an inclusive range.
    Number {
        /// The unit of plain numbers (and of the stored value).
        unit: Unit,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// One of a fixed set of words; each has the kernel's numeric code.
    Enum(&'static [(&'static str, u32)]),
    /// Free text (hash algorithm names, secrets) of at most `max_len` characters.
    Text {
        /// Longest accepted value.
        max_len: usize,
    },
    /// A hexadecimal CPU mask (`cpu-mask`), at most 31 characters.
    CpuMask,
    /// A shell command (handlers).
    Command,
    /// A resource name, optionally `/volume` (`resync-after`).
    ResourceRef,
    /// One or more host names, or `both` (`become-primary-on`).
    HostList,
}

/// The default of an option, as documented in `drbd_limits.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// No default value (the option is off / unset unless given).
    None,
    /// A flag's default.
    Flag(bool),
    /// A number's default, in the option's unit.
    Number(u64),
    /// A word's default.
    Text(&'static str),
}

/// Everything known about one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The 8.4 name (also the drbdsetup `--name`).
    pub name: &'static str,
    /// The section it belongs to.
    pub section: SectionKind,
    /// Its values.
    pub kind: OptionKind,
    /// Its default.
    pub default: DefaultValue,
}

impl OptionSpec {
    /// The kernel's numeric code for an enum value (e.g. `on-io-error detach` → 2), if this is
    /// an enum option and `value` one of its words.
    pub fn enum_code(&self, value: &str) -> Option<u32> {
        match self.kind {
            OptionKind::Enum(values) => values.iter().find(|(w, _)| *w == value).map(|&(_, c)| c),
            _ => None,
        }
    }
}

/// The value of one option, normalized: numbers are in the option's unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A flag.
    Flag(bool),
    /// A number in the option's unit (see [`OptionSpec::kind`]).
    Number(u64),
    /// A word or string (enum values, algorithm names, commands, resource references).
    Text(String),
    /// A list of words (`become-primary-on`).
    List(Vec<String>),
}

impl Value {
    /// The value as drbdsetup's `--name=value` argument wants it: `yes`/`no` for flags, the
    /// number in the option's default unit, the text, or the words joined by spaces.
    pub fn to_arg(&self) -> String {
        match self {
            Value::Flag(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Text(t) => t.clone(),
            Value::List(l) => l.join(" "),
        }
    }
}

/// One option as written (or inherited), with where it was written.
#[derive(Debug, Clone)]
pub struct OptionEntry {
    /// The 8.4 name (old names are translated).
    pub name: &'static str,
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub origin: Origin,
    /// The value as written, when it is not [`Value::to_arg`] of the value: a number with
    /// its unit suffix (`40M`), as drbdadm-84 passes it on to drbdsetup-84 (and its dry run
    /// prints it). Not part of the option's identity (`40M` and `40960` are equal).
    pub text: Option<String>,
}

impl PartialEq for OptionEntry {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value && self.origin == other.origin
    }
}

impl Eq for OptionEntry {}

impl OptionEntry {
    /// An entry without a separate written form.
    pub fn new(name: &'static str, value: Value, origin: Origin) -> Self {
        OptionEntry {
            name,
            value,
            origin,
            text: None,
        }
    }

    /// An option given to drbdsetup on the command line (`--name=value`, `--name` for a
    /// flag), checked as the config's: `None` when `section` has no option `name`, an error
    /// message for a bad value. `resync-after` takes a minor number, as drbdsetup's.
    pub fn from_arg(
        section: SectionKind,
        name: &str,
        value: Option<&str>,
    ) -> Option<Result<OptionEntry, String>> {
        let spec = option_spec(section, name)?;
        let bad = |why: String| Err(format!("--{name}={}: {why}", value.unwrap_or("")));
        let need = || value.ok_or_else(|| format!("--{name} needs a value (--{name}=VALUE)"));
        let entry = |value: Value, text: Option<String>| {
            Ok(OptionEntry {
                name: spec.name,
                value,
                origin: Origin::default(),
                text,
            })
        };
        Some(match spec.kind {
            OptionKind::Flag => match value {
                None | Some("yes") => entry(Value::Flag(true), None),
                Some("no") => entry(Value::Flag(false), None),
                Some(_) => bad("expected yes or no".into()),
            },
            OptionKind::Number { unit, min, max } => {
                let text = match need() {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                match crate::config::units::parse_number(text, unit) {
                    Ok(n) if (min..=max).contains(&n) => {
                        entry(Value::Number(n), Some(text.to_string()))
                    }
                    Ok(n) => bad(format!("{n} out of range [{min}..{max}] ({unit})")),
                    Err(e) => bad(format!("'{text}' {e}")),
                }
            }
            OptionKind::Enum(words) => match need() {
                Ok(t) => {
                    let t = if spec.name == "protocol" {
                        t.to_ascii_uppercase()
                    } else {
                        t.to_string()
                    };
                    if words.iter().any(|(w, _)| *w == t) {
                        entry(Value::Text(t), None)
                    } else {
                        let words: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
                        bad(format!("expected one of {}", words.join(", ")))
                    }
                }
                Err(e) => Err(e),
            },
            OptionKind::ResourceRef => match need().map(|t| t.parse::<u64>()) {
                Ok(Ok(minor)) => entry(Value::Number(minor), None),
                Ok(Err(_)) => bad("expected a minor number".into()),
                Err(e) => Err(e),
            },
            OptionKind::Text { .. } | OptionKind::CpuMask | OptionKind::Command => match need() {
                Ok(t) => entry(Value::Text(t.to_string()), None),
                Err(e) => Err(e),
            },
            OptionKind::HostList => bad("not a drbdsetup option".into()),
        })
    }

    /// The value as drbdadm-84 gives it to drbdsetup-84: as written for numbers (`40M`),
    /// else [`Value::to_arg`].
    pub fn arg(&self) -> String {
        self.text.clone().unwrap_or_else(|| self.value.to_arg())
    }
}

/// An ordered list of options (one section's content). Setting an option that is already
/// present replaces its value in place; an option written twice in one section is kept twice
/// ([`OptionList::push`]), as drbdadm-84 keeps it: it passes both to drbdsetup where the
/// section applies as written (the later counts, so [`OptionList::entry`] is the last), and
/// only the first where the section is inherited ([`OptionList::inherit_84`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionList {
    entries: Vec<OptionEntry>,
}

impl OptionList {
    /// An empty list.
    pub fn new() -> Self {
        OptionList::default()
    }

    /// Set an option (the one that counts, if it is there twice); returns the entry it
    /// replaced, if any.
    pub fn set(&mut self, entry: OptionEntry) -> Option<OptionEntry> {
        match self.entries.iter_mut().rev().find(|e| e.name == entry.name) {
            Some(e) => Some(std::mem::replace(e, entry)),
            None => {
                self.entries.push(entry);
                None
            }
        }
    }

    /// Append an option, also when it is already there (written twice in one section).
    pub fn push(&mut self, entry: OptionEntry) {
        self.entries.push(entry);
    }

    /// Remove an option (every time it is there); returns the one that counted.
    pub fn remove(&mut self, name: &str) -> Option<OptionEntry> {
        let last = self.entry(name).cloned();
        self.entries.retain(|e| e.name != name);
        last
    }

    /// The entry named `name` (the last one, which counts, if it is there twice).
    pub fn entry(&self, name: &str) -> Option<&OptionEntry> {
        self.entries.iter().rev().find(|e| e.name == name)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entry(name).map(|e| &e.value)
    }

    /// The value of a numeric option.
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a flag.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Flag(b) => Some(*b),
            _ => None,
        }
    }

    /// The value of a word or string option.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> std::slice::Iter<'_, OptionEntry> {
        self.entries.iter()
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(name, value)` pairs with values rendered as by [`Value::to_arg`].
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        self.entries
            .iter()
            .map(|e| (e.name, e.value.to_arg()))
            .collect()
    }

    /// drbdsetup-style arguments, `--name=value` each.
    pub fn to_args(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| format!("--{}={}", e.name, e.value.to_arg()))
            .collect()
    }

    /// drbdadm-84's inheritance (its `expand_opts`): `self` (the more specific level) with
    /// each option of `outer` that `self` does not set put in front, one after the other
    /// (so they end up in reverse order; of an option `outer` has twice, the first). Values
    /// and order are what drbdadm-84 hands to drbdsetup-84: `common { disk { a; b; } }`
    /// under `resource { disk { c; } }` is `b a c`.
    pub fn inherit_84(&self, outer: &OptionList) -> OptionList {
        // An option `outer` has twice comes in once, the first (drbdadm-84 looks each one up
        // in the list it is building).
        let mut front: Vec<OptionEntry> = Vec::new();
        for e in &outer.entries {
            if self.entry(e.name).is_none() && !front.iter().any(|f| f.name == e.name) {
                front.push(e.clone());
            }
        }
        front.reverse();
        front.extend(self.entries.iter().cloned());
        OptionList { entries: front }
    }

    /// `self` with every option of `overlay` set on top (inheritance: `overlay` is the more
    /// specific level).
    pub fn merged(&self, overlay: &OptionList) -> OptionList {
        let mut out = self.clone();
        for e in &overlay.entries {
            out.set(e.clone());
        }
        out
    }
}

impl<'a> IntoIterator for &'a OptionList {
    type Item = &'a OptionEntry;
    type IntoIter = std::slice::Iter<'a, OptionEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

const fn num(unit: Unit, min: u64, max: u64) -> OptionKind {
    OptionKind::Number { unit, min, max }
}

macro_rules! spec {
    ($section:ident, $name:expr, $kind:expr, $default:expr) => {
        OptionSpec {
            name: $name,
            section: SectionKind::$section,
            kind: $kind,
            default: $default,
        }
    };
}

const ON_IO_ERROR: &[(&str, u32)] = &[("pass_on", 0), ("call-local-io-error", 1), ("detach", 2)];
const FENCING: &[(&str, u32)] = &[
    ("dont-care", 0),
    ("resource-only", 1),
    ("resource-and-stonith", 2),
];
const READ_BALANCING: &[(&str, u32)] = &[
    ("prefer-local", 0),
    ("prefer-remote", 1),
    ("round-robin", 2),
    ("least-pending", 3),
    ("when-congested-remote", 4),
    ("32K-striping", 5),
    ("64K-striping", 6),
    ("128K-striping", 7),
    ("256K-striping", 8),
    ("512K-striping", 9),
    ("1M-striping", 10),
];
const PROTOCOL: &[(&str, u32)] = &[("A", 1), ("B", 2), ("C", 3)];
const AFTER_SB_0PRI: &[(&str, u32)] = &[
    ("disconnect", 0),
    ("discard-younger-primary", 1),
    ("discard-older-primary", 2),
    ("discard-zero-changes", 3),
    ("discard-least-changes", 4),
    ("discard-local", 5),
    ("discard-remote", 6),
];
const AFTER_SB_1PRI: &[(&str, u32)] = &[
    ("disconnect", 0),
    ("consensus", 7),
    ("discard-secondary", 8),
    ("call-pri-lost-after-sb", 9),
    ("violently-as0p", 10),
];
const AFTER_SB_2PRI: &[(&str, u32)] = &[
    ("disconnect", 0),
    ("call-pri-lost-after-sb", 9),
    ("violently-as0p", 10),
];
const RR_CONFLICT: &[(&str, u32)] = &[("disconnect", 0), ("call-pri-lost", 9), ("violently", 10)];
const ON_CONGESTION: &[(&str, u32)] = &[("block", 0), ("pull-ahead", 1), ("disconnect", 2)];
const ON_NO_DATA: &[(&str, u32)] = &[("io-error", 0), ("suspend-io", 1)];

/// Every option drbd.conf 8.4 knows, with its limits (`drbd_limits.h`).
pub static OPTIONS: &[OptionSpec] = &[
    // options { }
    spec!(
        Options,
        "cpu-mask",
        OptionKind::CpuMask,
        DefaultValue::Text("")
    ),
    spec!(
        Options,
        "on-no-data-accessible",
        OptionKind::Enum(ON_NO_DATA),
        DefaultValue::Text("io-error")
    ),
    // disk { }
    spec!(
        Disk,
        "size",
        num(Unit::Sectors, 0, 1 << 41),
        DefaultValue::Number(0)
    ),
    spec!(
        Disk,
        "on-io-error",
        OptionKind::Enum(ON_IO_ERROR),
        DefaultValue::Text("detach")
    ),
    spec!(
        Disk,
        "fencing",
        OptionKind::Enum(FENCING),
        DefaultValue::Text("dont-care")
    ),
    spec!(
        Disk,
        "disk-barrier",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Disk,
        "disk-flushes",
        OptionKind::Flag,
        DefaultValue::Flag(true)
    ),
    spec!(
        Disk,
        "disk-drain",
        OptionKind::Flag,
        DefaultValue::Flag(true)
    ),
    spec!(
        Disk,
        "md-flushes",
        OptionKind::Flag,
        DefaultValue::Flag(true)
    ),
    spec!(
        Disk,
        "resync-rate",
        num(Unit::KiB, 1, 4_194_304),
        DefaultValue::Number(250)
    ),
    spec!(
        Disk,
        "resync-after",
        OptionKind::ResourceRef,
        DefaultValue::None
    ),
    // drbdadm does not range-check al-extents; the kernel clamps it.
    spec!(
        Disk,
        "al-extents",
        num(Unit::Count, 0, u32::MAX as u64),
        DefaultValue::Number(1237)
    ),
    spec!(
        Disk,
        "al-updates",
        OptionKind::Flag,
        DefaultValue::Flag(true)
    ),
    spec!(
        Disk,
        "c-plan-ahead",
        num(Unit::Deciseconds, 0, 300),
        DefaultValue::Number(20)
    ),
    spec!(
        Disk,
        "c-delay-target",
        num(Unit::Deciseconds, 1, 100),
        DefaultValue::Number(10)
    ),
    spec!(
        Disk,
        "c-fill-target",
        num(Unit::Sectors, 0, 1_048_576),
        DefaultValue::Number(100)
    ),
    spec!(
        Disk,
        "c-max-rate",
        num(Unit::KiB, 250, 4_194_304),
        DefaultValue::Number(102_400)
    ),
    spec!(
        Disk,
        "c-min-rate",
        num(Unit::KiB, 0, 4_194_304),
        DefaultValue::Number(250)
    ),
    spec!(
        Disk,
        "disk-timeout",
        num(Unit::Deciseconds, 0, 6000),
        DefaultValue::Number(0)
    ),
    spec!(
        Disk,
        "max-bio-bvecs",
        num(Unit::Count, 0, 128),
        DefaultValue::Number(0)
    ),
    spec!(
        Disk,
        "read-balancing",
        OptionKind::Enum(READ_BALANCING),
        DefaultValue::Text("prefer-local")
    ),
    spec!(
        Disk,
        "discard-zeroes-if-aligned",
        OptionKind::Flag,
        DefaultValue::Flag(true)
    ),
    spec!(
        Disk,
        "disable-write-same",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Disk,
        "rs-discard-granularity",
        num(Unit::Bytes, 0, 1 << 20),
        DefaultValue::Number(0)
    ),
    // net { }
    spec!(
        Net,
        "protocol",
        OptionKind::Enum(PROTOCOL),
        DefaultValue::Text("C")
    ),
    spec!(
        Net,
        "timeout",
        num(Unit::Deciseconds, 1, 600),
        DefaultValue::Number(60)
    ),
    spec!(
        Net,
        "connect-int",
        num(Unit::Seconds, 1, 120),
        DefaultValue::Number(10)
    ),
    spec!(
        Net,
        "ping-int",
        num(Unit::Seconds, 1, 120),
        DefaultValue::Number(10)
    ),
    spec!(
        Net,
        "ping-timeout",
        num(Unit::Deciseconds, 1, 300),
        DefaultValue::Number(5)
    ),
    spec!(
        Net,
        "sndbuf-size",
        num(Unit::Bytes, 0, 10 << 20),
        DefaultValue::Number(0)
    ),
    spec!(
        Net,
        "rcvbuf-size",
        num(Unit::Bytes, 0, 10 << 20),
        DefaultValue::Number(0)
    ),
    spec!(
        Net,
        "ko-count",
        num(Unit::Count, 0, 200),
        DefaultValue::Number(7)
    ),
    spec!(
        Net,
        "max-buffers",
        num(Unit::Count, 32, 131_072),
        DefaultValue::Number(2048)
    ),
    spec!(
        Net,
        "max-epoch-size",
        num(Unit::Count, 1, 20_000),
        DefaultValue::Number(2048)
    ),
    spec!(
        Net,
        "unplug-watermark",
        num(Unit::Count, 1, 131_072),
        DefaultValue::Number(128)
    ),
    spec!(
        Net,
        "allow-two-primaries",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Net,
        "cram-hmac-alg",
        OptionKind::Text { max_len: 63 },
        DefaultValue::None
    ),
    spec!(
        Net,
        "shared-secret",
        OptionKind::Text { max_len: 63 },
        DefaultValue::None
    ),
    spec!(
        Net,
        "after-sb-0pri",
        OptionKind::Enum(AFTER_SB_0PRI),
        DefaultValue::Text("disconnect")
    ),
    spec!(
        Net,
        "after-sb-1pri",
        OptionKind::Enum(AFTER_SB_1PRI),
        DefaultValue::Text("disconnect")
    ),
    spec!(
        Net,
        "after-sb-2pri",
        OptionKind::Enum(AFTER_SB_2PRI),
        DefaultValue::Text("disconnect")
    ),
    spec!(
        Net,
        "always-asbp",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Net,
        "rr-conflict",
        OptionKind::Enum(RR_CONFLICT),
        DefaultValue::Text("disconnect")
    ),
    spec!(
        Net,
        "data-integrity-alg",
        OptionKind::Text { max_len: 63 },
        DefaultValue::None
    ),
    spec!(
        Net,
        "verify-alg",
        OptionKind::Text { max_len: 63 },
        DefaultValue::None
    ),
    spec!(
        Net,
        "csums-alg",
        OptionKind::Text { max_len: 63 },
        DefaultValue::None
    ),
    spec!(Net, "tcp-cork", OptionKind::Flag, DefaultValue::Flag(true)),
    spec!(
        Net,
        "on-congestion",
        OptionKind::Enum(ON_CONGESTION),
        DefaultValue::Text("block")
    ),
    spec!(
        Net,
        "congestion-fill",
        num(Unit::Sectors, 0, 20_971_520),
        DefaultValue::Number(0)
    ),
    spec!(
        Net,
        "congestion-extents",
        num(Unit::Count, 67, 65_534),
        DefaultValue::Number(1237)
    ),
    spec!(Net, "use-rle", OptionKind::Flag, DefaultValue::Flag(true)),
    spec!(
        Net,
        "csums-after-crash-only",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Net,
        "socket-check-timeout",
        num(Unit::Deciseconds, 0, 300),
        DefaultValue::Number(0)
    ),
    // startup { }
    spec!(
        Startup,
        "wfc-timeout",
        num(Unit::Seconds, 0, 300_000),
        DefaultValue::Number(0)
    ),
    spec!(
        Startup,
        "degr-wfc-timeout",
        num(Unit::Seconds, 0, 300_000),
        DefaultValue::Number(0)
    ),
    spec!(
        Startup,
        "outdated-wfc-timeout",
        num(Unit::Seconds, 0, 300_000),
        DefaultValue::Number(0)
    ),
    spec!(
        Startup,
        "wait-after-sb",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Startup,
        "stacked-timeouts",
        OptionKind::Flag,
        DefaultValue::Flag(false)
    ),
    spec!(
        Startup,
        "become-primary-on",
        OptionKind::HostList,
        DefaultValue::None
    ),
    // handlers { }
    spec!(
        Handlers,
        "pri-on-incon-degr",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "pri-lost-after-sb",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "pri-lost",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "fence-peer",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "unfence-peer",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "local-io-error",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "initial-split-brain",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "split-brain",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "before-resync-target",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "after-resync-target",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "before-resync-source",
        OptionKind::Command,
        DefaultValue::None
    ),
    spec!(
        Handlers,
        "out-of-sync",
        OptionKind::Command,
        DefaultValue::None
    ),
];

/// The option `name` of `section`, if drbd.conf 8.4 knows it (8.4 names only; see
/// [`canonical_name`] for the old ones).
pub fn option_spec(section: SectionKind, name: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|s| s.section == section && s.name == name)
}

/// The 8.4 name for an old (8.3) option name that is renamed silently anywhere in its
/// section (`rate` → `resync-rate`, `after` → `resync-after`, `outdate-peer` →
/// `fence-peer`), or `name` itself.
pub fn canonical_name(section: SectionKind, name: &str) -> &str {
    match (section, name) {
        (SectionKind::Disk, "rate") => "resync-rate",
        (SectionKind::Disk, "after") => "resync-after",
        (SectionKind::Handlers, "outdate-peer") => "fence-peer",
        _ => name,
    }
}

/// The names of all options of `section` (for "did you mean" hints).
pub fn names(section: SectionKind) -> Vec<&'static str> {
    OPTIONS
        .iter()
        .filter(|s| s.section == section)
        .map(|s| s.name)
        .collect()
}

/// Where an 8.3 `syncer { }` option lives in 8.4 (spec §2.6).
pub fn syncer_target(name: &str) -> Option<(SectionKind, &'static str)> {
    Some(match name {
        "rate" | "resync-rate" => (SectionKind::Disk, "resync-rate"),
        "after" | "resync-after" => (SectionKind::Disk, "resync-after"),
        "al-extents" => (SectionKind::Disk, "al-extents"),
        "c-plan-ahead" => (SectionKind::Disk, "c-plan-ahead"),
        "c-delay-target" => (SectionKind::Disk, "c-delay-target"),
        "c-fill-target" => (SectionKind::Disk, "c-fill-target"),
        "c-max-rate" => (SectionKind::Disk, "c-max-rate"),
        "c-min-rate" => (SectionKind::Disk, "c-min-rate"),
        "verify-alg" => (SectionKind::Net, "verify-alg"),
        "csums-alg" => (SectionKind::Net, "csums-alg"),
        "use-rle" => (SectionKind::Net, "use-rle"),
        "cpu-mask" => (SectionKind::Options, "cpu-mask"),
        "on-no-data-accessible" => (SectionKind::Options, "on-no-data-accessible"),
        _ => return None,
    })
}

/// The keywords `syncer { }` accepts (for "did you mean" hints).
pub const SYNCER_KEYWORDS: &[&str] = &[
    "rate",
    "after",
    "al-extents",
    "c-plan-ahead",
    "c-delay-target",
    "c-fill-target",
    "c-max-rate",
    "c-min-rate",
    "verify-alg",
    "csums-alg",
    "use-rle",
    "cpu-mask",
    "on-no-data-accessible",
    "delay-probe-volume",
    "delay-probe-interval",
    "throttle-threshold",
    "hold-off-threshold",
];

/// 8.3 options that are accepted and ignored (they take one value).
pub const IGNORED_OPTIONS: &[&str] = &[
    "delay-probe-volume",
    "delay-probe-interval",
    "throttle-threshold",
    "hold-off-threshold",
];

/// Render a value for drbd.conf (used by `dump`): flags as `yes`/`no`, numbers with the
/// largest exact unit suffix, words bare when they can be, quoted otherwise.
pub fn format_value(spec: &OptionSpec, value: &Value) -> String {
    match (value, spec.kind) {
        (Value::Number(n), OptionKind::Number { unit, .. }) => format_number(*n, unit),
        (Value::Number(n), _) => n.to_string(),
        (Value::Flag(b), _) => if *b { "yes" } else { "no" }.to_string(),
        (Value::Text(t), _) => quote_if_needed(t),
        (Value::List(l), _) => l
            .iter()
            .map(|w| quote_if_needed(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `s` as a bare word if it is one, else as a quoted string with `"` and `\` escaped.
pub fn quote_if_needed(s: &str) -> String {
    if super::lexer::is_plain_word(s) {
        s.to_string()
    } else {
        quote(s)
    }
}

/// `s` as a quoted string with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let s = option_spec(SectionKind::Disk, "resync-rate").unwrap();
        assert_eq!(
            s.kind,
            OptionKind::Number {
                unit: Unit::KiB,
                min: 1,
                max: 4_194_304
            }
        );
        assert_eq!(s.default, DefaultValue::Number(250));
        assert!(option_spec(SectionKind::Net, "resync-rate").is_none());
        assert_eq!(canonical_name(SectionKind::Disk, "rate"), "resync-rate");
        assert_eq!(canonical_name(SectionKind::Net, "rate"), "rate");
        assert_eq!(
            canonical_name(SectionKind::Handlers, "outdate-peer"),
            "fence-peer"
        );
        assert_eq!(
            syncer_target("verify-alg"),
            Some((SectionKind::Net, "verify-alg"))
        );
        assert_eq!(syncer_target("group"), None);
        assert!(names(SectionKind::Startup).contains(&"wfc-timeout"));
    }

    #[test]
    fn every_option_is_unique_per_section() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert!(
                    !(a.section == b.section && a.name == b.name),
                    "{} twice",
                    a.name
                );
            }
        }
    }

    #[test]
    fn enum_codes() {
        let s = option_spec(SectionKind::Disk, "on-io-error").unwrap();
        assert_eq!(s.enum_code("detach"), Some(2));
        assert_eq!(s.enum_code("panic"), None);
        let s = option_spec(SectionKind::Net, "after-sb-1pri").unwrap();
        assert_eq!(s.enum_code("violently-as0p"), Some(10));
        let s = option_spec(SectionKind::Net, "protocol").unwrap();
        assert_eq!(s.enum_code("C"), Some(3));
        let s = option_spec(SectionKind::Net, "timeout").unwrap();
        assert_eq!(s.enum_code("C"), None);
    }

    #[test]
    fn option_list_semantics() {
        let mut l = OptionList::new();
        assert!(l.is_empty());
        let e = |name, value| OptionEntry::new(name, value, Origin::default());
        assert!(l.set(e("timeout", Value::Number(60))).is_none());
        assert!(l.set(e("tcp-cork", Value::Flag(false))).is_none());
        let old = l.set(e("timeout", Value::Number(70))).unwrap();
        assert_eq!(old.value, Value::Number(60));
        assert_eq!(l.len(), 2);
        assert_eq!(l.number("timeout"), Some(70));
        assert_eq!(l.flag("tcp-cork"), Some(false));
        assert_eq!(l.text("timeout"), None);
        assert_eq!(
            l.to_args(),
            vec!["--timeout=70".to_string(), "--tcp-cork=no".to_string()]
        );
        let mut over = OptionList::new();
        over.set(e("verify-alg", Value::Text("sha1".into())));
        over.set(e("timeout", Value::Number(80)));
        let m = l.merged(&over);
        assert_eq!(
            m.pairs(),
            vec![
                ("timeout", "80".to_string()),
                ("tcp-cork", "no".to_string()),
                ("verify-alg", "sha1".to_string())
            ]
        );
        assert!(l.clone().remove("timeout").is_some());
        assert!(l.clone().remove("nope").is_none());
        assert_eq!((&l).into_iter().count(), 2);
    }

    #[test]
    fn value_rendering() {
        let rate = option_spec(SectionKind::Disk, "resync-rate").unwrap();
        assert_eq!(format_value(rate, &Value::Number(10_240)), "10M");
        let h = option_spec(SectionKind::Handlers, "split-brain").unwrap();
        assert_eq!(
            format_value(
                h,
                &Value::Text("/usr/lib/drbd/notify-split-brain.sh root".into())
            ),
            "\"/usr/lib/drbd/notify-split-brain.sh root\""
        );
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            Value::List(vec!["alice".into(), "bob".into()]).to_arg(),
            "alice bob"
        );
    }
}
