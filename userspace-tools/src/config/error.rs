//! Errors, warnings and source positions.

use std::fmt;
use std::sync::Arc;

/// A position in a configuration file: which file, which line, which column (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file's name as it was given (`load`'s path, `parse_str`'s origin name, or the
    /// path an `include` statement resolved to).
    pub file: Arc<str>,
    /// Line number, starting at 1.
    pub line: u32,
    /// Column (in characters), starting at 1.
    pub column: u32,
}

impl fmt::Display for Location {
    /// Renders `file:line`, the form drbdadm uses in its messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Where a configuration item was written, if it came from a file.
///
/// Origins do **not** take part in equality: two configurations are equal when they say the
/// same thing, wherever they said it (this is what makes `parse(dump(c)) == c` meaningful).
#[derive(Debug, Clone, Default)]
pub struct Origin(pub Option<Location>);

impl Origin {
    /// The origin of something read at `location`.
    pub fn at(location: Location) -> Self {
        Origin(Some(location))
    }

    /// The location, if known.
    pub fn location(&self) -> Option<&Location> {
        self.0.as_ref()
    }
}

impl PartialEq for Origin {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

impl fmt::Display for Origin {
    /// `file:line`, or `<unknown>` for items that were not read from a file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(l) => l.fmt(f),
            None => f.write_str("<unknown>"),
        }
    }
}

/// What kind of problem a [`ConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration file could not be read.
    Io,
    /// An `include` names a file (no wildcard) that does not exist or cannot be read.
    MissingInclude,
    /// The text could not be split into tokens (bad character, unterminated string, a word
    /// or string that is too long, input that is not UTF-8).
    Syntax,
    /// A token was not what the grammar allows at this place (unknown keyword, missing `;`,
    /// bad value for an option, ...).
    Parse,
    /// A number is outside the range the option allows.
    OutOfRange,
    /// The statements are individually fine but the configuration is not consistent
    /// (missing `address`, duplicate minor, mixed implicit and explicit volumes, ...).
    Invalid,
    /// The configuration uses something drbd_rs does not implement (stacked resources).
    Unsupported,
    /// A resource name that is not defined in the configuration.
    UnknownResource,
    /// The resource has no `on` (or `floating`) section for the requested host.
    NoHostSection,
}

/// An error found while reading, parsing or evaluating drbd.conf.
///
/// `Display` renders `file:line: message` (like drbdadm); the message says what is wrong and,
/// where possible, what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ErrorKind,
    location: Option<Location>,
    message: String,
}

impl ConfigError {
    /// A new error. `location` is where the problem was found, if it is tied to a place.
    pub fn new(kind: ErrorKind, location: Option<Location>, message: impl Into<String>) -> Self {
        ConfigError {
            kind,
            location,
            message: message.into(),
        }
    }

    /// A new error at `origin`.
    pub(crate) fn at(kind: ErrorKind, origin: &Origin, message: impl Into<String>) -> Self {
        ConfigError::new(kind, origin.0.clone(), message)
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where the problem is (file, line, column), if it is tied to a place.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The message without the location prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The exit code drbdadm-84 gives for this kind of problem (checked against it in
    /// tests/exit_codes.rs): 1 (`E_USAGE`) for an unknown resource or a resource without a
    /// section for this host, 20 (`E_EXEC_ERROR`) when the configuration file cannot be read,
    /// 10 (`E_CONFIG_INVALID`) for everything wrong inside it — bad characters and missing
    /// include files too.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::UnknownResource | ErrorKind::NoHostSection => 1,
            ErrorKind::Io => 20,
            // Tokens, grammar, values, includes: all "the configuration is invalid".
            _ => 10,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{}: {}", l, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something accepted but worth telling the user (obsolete keyword, ignored option, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it was found.
    pub origin: Origin,
    /// What to tell the user.
    pub message: String,
}

impl fmt::Display for Warning {
    /// `file:line: warning: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin.location() {
            Some(l) => write!(f, "{}: warning: {}", l, self.message),
            None => write!(f, "warning: {}", self.message),
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely
/// typo (at most 2 edits, and fewer edits than the word has characters).
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if word.chars().count() > 64 {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    for &c in candidates {
        let d = edit_distance(word, c);
        let better = match best {
            Some((bd, _)) => d < bd,
            None => true,
        };
        if d <= 2 && d < word.chars().count() && better {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// " (did you mean 'x'?)" or "".
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("rat", "rate"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("resync-rate", "resync-rate"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("rat", &["rate", "after", "group"]), Some("rate"));
        assert_eq!(suggest("xyz", &["rate", "after"]), None);
        assert_eq!(suggest("a", &["b"]), None);
        assert_eq!(
            did_you_mean("protocl", &["protocol", "net"]),
            " (did you mean 'protocol'?)"
        );
    }

    #[test]
    fn display_and_exit_codes() {
        let loc = Location {
            file: Arc::from("drbd.conf"),
            line: 12,
            column: 3,
        };
        let e = ConfigError::new(ErrorKind::Parse, Some(loc.clone()), "bad");
        assert_eq!(e.to_string(), "drbd.conf:12: bad");
        assert_eq!(e.exit_code(), 10);
        assert_eq!(e.location(), Some(&loc));
        assert_eq!(ConfigError::new(ErrorKind::Io, None, "x").exit_code(), 20);
        assert_eq!(
            ConfigError::new(ErrorKind::Syntax, None, "x").exit_code(),
            10
        );
        assert_eq!(
            ConfigError::new(ErrorKind::MissingInclude, None, "x").exit_code(),
            10
        );
        assert_eq!(
            ConfigError::new(ErrorKind::UnknownResource, None, "x").to_string(),
            "x"
        );
        let w = Warning {
            origin: Origin::at(loc),
            message: "old".into(),
        };
        assert_eq!(w.to_string(), "drbd.conf:12: warning: old");
    }
}
