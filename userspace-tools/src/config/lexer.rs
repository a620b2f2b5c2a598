//! Splits drbd.conf text into tokens (spec §2.1).
//!
//! * `#` starts a comment that runs to the end of the line.
//! * Punctuation: `{ } ; [ ] :`.
//! * A bracketed IPv6 literal such as `[fd00::1]` or `[fe80::1%eth0]` is one token.
//! * Quoted strings: `"…"`, at most 255 characters, no newline; `\"` and `\\` stand for `"`
//!   and `\`, any other backslash is kept as written (handler commands are shell text).
//! * Everything else is a word: a run of characters that are not white space, control
//!   characters, punctuation, `"` or `#`, at most 128 characters. (drbdadm's own word
//!   alphabet is `[A-Za-z0-9/._-]`; the wider set accepted here is a superset.)

use std::fmt;
use std::sync::Arc;

use super::error::{ConfigError, ErrorKind, Location};

/// Longest unquoted word.
pub const MAX_WORD_LEN: usize = 128;
/// Longest quoted string.
pub const MAX_STRING_LEN: usize = 255;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `;`
    Semi,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `:`
    Colon,
    /// An unquoted word.
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
    /// The inside of a bracketed IPv6 literal, without the brackets.
    Ipv6(String),
    /// End of the input.
    Eof,
}

impl Tok {
    /// The text of a word or a string.
    pub fn text(&self) -> Option<&str> {
        match self {
            Tok::Word(s) | Tok::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Tok {
    /// How the token is named in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LBrace => f.write_str("'{'"),
            Tok::RBrace => f.write_str("'}'"),
            Tok::Semi => f.write_str("';'"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::Colon => f.write_str("':'"),
            Tok::Word(w) => write!(f, "'{w}'"),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Ipv6(a) => write!(f, "'[{a}]'"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub loc: Location,
}

/// Whether `c` may appear in an unquoted word.
pub fn is_word_char(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(c, '{' | '}' | ';' | '[' | ']' | ':' | '"' | '#'))
}

/// Whether `s` can be written as an unquoted word with drbdadm's own alphabet
/// (`[A-Za-z0-9/._-]`, 1–128 characters), so that both drbdadm and this parser read it back.
pub fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_WORD_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

/// Tokenize `text`; the result always ends with one [`Tok::Eof`].
pub fn lex(text: &str, file: &Arc<str>) -> Result<Vec<Token>, ConfigError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0usize;
    let mut line = 1u32;
    let mut col = 1u32;
    let loc = |line: u32, column: u32| Location {
        file: file.clone(),
        line,
        column,
    };

    while let Some(&c) = chars.get(i) {
        let start = loc(line, col);
        match c {
            '\n' => {
                i += 1;
                line = line.saturating_add(1);
                col = 1;
            }
            c if c.is_whitespace() => {
                i += 1;
                col = col.saturating_add(1);
            }
            '#' => {
                while let Some(&c) = chars.get(i) {
                    if c == '\n' {
                        break;
                    }
                    i += 1;
                    col = col.saturating_add(1);
                }
            }
            '{' | '}' | ';' | ']' | ':' => {
                let tok = match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ';' => Tok::Semi,
                    ']' => Tok::RBracket,
                    _ => Tok::Colon,
                };
                out.push(Token { tok, loc: start });
                i += 1;
                col = col.saturating_add(1);
            }
            '[' => {
                if let Some(len) = ipv6_literal_len(&chars[i + 1..]) {
                    let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                    out.push(Token {
                        tok: Tok::Ipv6(inner),
                        loc: start,
                    });
                    // '[' + inner + ']'
                    i += len + 2;
                    col = col.saturating_add(u32::try_from(len + 2).unwrap_or(u32::MAX));
                } else {
                    out.push(Token {
                        tok: Tok::LBracket,
                        loc: start,
                    });
                    i += 1;
                    col = col.saturating_add(1);
                }
            }
            '"' => {
                i += 1;
                col = col.saturating_add(1);
                let mut s = String::new();
                let mut n = 0usize;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(ConfigError::new(
                            ErrorKind::Syntax,
                            Some(start),
                            "unterminated quoted string: the closing '\"' is missing",
                        ));
                    };
                    match c {
                        '"' => {
                            i += 1;
                            col = col.saturating_add(1);
                            break;
                        }
                        '\n' => {
                            return Err(ConfigError::new(
                                ErrorKind::Syntax,
                                Some(start),
                                "unterminated quoted string: strings cannot span lines, \
                                 add the closing '\"' on this line",
                            ));
                        }
                        '\\' => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\')) => {
                                s.push(e);
                                i += 2;
                                col = col.saturating_add(2);
                            }
                            _ => {
                                s.push('\\');
                                i += 1;
                                col = col.saturating_add(1);
                            }
                        },
                        c => {
                            s.push(c);
                            i += 1;
                            col = col.saturating_add(1);
                        }
                    }
                    n += 1;
                    if n > MAX_STRING_LEN {
                        return Err(ConfigError::new(
                            ErrorKind::Syntax,
                            Some(start),
                            format!(
                                "quoted string too long (more than {MAX_STRING_LEN} characters)"
                            ),
                        ));
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    loc: start,
                });
            }
            c if is_word_char(c) => {
                let mut w = String::new();
                while let Some(&c) = chars.get(i) {
                    if !is_word_char(c) {
                        break;
                    }
                    w.push(c);
                    i += 1;
                    col = col.saturating_add(1);
                }
                if w.chars().count() > MAX_WORD_LEN {
                    let head: String = w.chars().take(20).collect();
                    return Err(ConfigError::new(
                        ErrorKind::Syntax,
                        Some(start),
                        format!(
                            "string too long: '{head}...' has more than {MAX_WORD_LEN} characters \
                             (quoted strings may have up to {MAX_STRING_LEN})"
                        ),
                    ));
                }
                out.push(Token {
                    tok: Tok::Word(w),
                    loc: start,
                });
            }
            c => {
                return Err(ConfigError::new(
                    ErrorKind::Syntax,
                    Some(start),
                    format!("unexpected character U+{:04X}", u32::from(c)),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        loc: loc(line, col),
    });
    Ok(out)
}

/// If `rest` (the text after a `[`) starts with an IPv6 literal and its `]`, the literal's
/// length. An IPv6 literal has at least one `:` and only hex digits, `:`, `.` and an optional
/// `%scope` (scope: word characters).
fn ipv6_literal_len(rest: &[char]) -> Option<usize> {
    let mut colons = 0;
    let mut in_scope = false;
    for (n, &c) in rest.iter().enumerate() {
        match c {
            ']' => return (colons > 0 && n > 0).then_some(n),
            ':' if !in_scope => colons += 1,
            '%' if !in_scope => in_scope = true,
            c if !in_scope && (c.is_ascii_hexdigit() || c == '.') => {}
            c if in_scope && (c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) => {}
            _ => return None,
        }
        if n > 80 {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, &Arc::from("t.conf"))
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.to_string())
    }

    #[test]
    fn punctuation_words_comments() {
        assert_eq!(
            toks("resource r0 { # comment ; {\n protocol C; }"),
            vec![
                w("resource"),
                w("r0"),
                Tok::LBrace,
                w("protocol"),
                w("C"),
                Tok::Semi,
                Tok::RBrace,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn addresses_and_indices() {
        assert_eq!(
            toks("address 1.2.3.4:7789; meta-disk /dev/sda7[0];"),
            vec![
                w("address"),
                w("1.2.3.4"),
                Tok::Colon,
                w("7789"),
                Tok::Semi,
                w("meta-disk"),
                w("/dev/sda7"),
                Tok::LBracket,
                w("0"),
                Tok::RBracket,
                Tok::Semi,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("ipv6 [fe80::1%eth0]:7789"),
            vec![
                w("ipv6"),
                Tok::Ipv6("fe80::1%eth0".into()),
                Tok::Colon,
                w("7789"),
                Tok::Eof
            ]
        );
        assert_eq!(toks("[::1]"), vec![Tok::Ipv6("::1".into()), Tok::Eof]);
        // Not an IPv6 literal: a lone bracket.
        assert_eq!(toks("[ 0 ]")[0], Tok::LBracket);
        assert_eq!(toks("[]"), vec![Tok::LBracket, Tok::RBracket, Tok::Eof]);
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(
            toks(r#""a \"b\" \\ c\n" x"#),
            vec![Tok::Str(r#"a "b" \ c\n"#.into()), w("x"), Tok::Eof]
        );
        assert_eq!(toks(r#""""#), vec![Tok::Str(String::new()), Tok::Eof]);
    }

    #[test]
    fn positions() {
        let t = lex("a\n  b", &Arc::from("f")).unwrap();
        assert_eq!((t[0].loc.line, t[0].loc.column), (1, 1));
        assert_eq!((t[1].loc.line, t[1].loc.column), (2, 3));
        assert_eq!(t[2].tok, Tok::Eof);
    }

    #[test]
    fn errors() {
        let f: Arc<str> = Arc::from("f.conf");
        let e = lex("x \"abc\n\"", &f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert!(e
            .to_string()
            .starts_with("f.conf:1: unterminated quoted string"));
        let e = lex("\"abc", &f).unwrap_err();
        assert!(e.message().contains("closing"));
        let long = "a".repeat(129);
        let e = lex(&format!("\n{long}"), &f).unwrap_err();
        assert!(
            e.to_string().starts_with("f.conf:2: string too long"),
            "{e}"
        );
        assert!(lex(&"a".repeat(128), &f).is_ok());
        let e = lex(&format!("\"{}\"", "b".repeat(256)), &f).unwrap_err();
        assert!(e.message().contains("too long"));
        assert!(lex(&format!("\"{}\"", "b".repeat(255)), &f).is_ok());
        let e = lex("a \u{1} b", &f).unwrap_err();
        assert_eq!(e.message(), "unexpected character U+0001");
    }

    #[test]
    fn plain_words() {
        assert!(is_plain_word("/dev/drbd0"));
        assert!(is_plain_word("discard-zero-changes"));
        assert!(!is_plain_word(""));
        assert!(!is_plain_word("a b"));
        assert!(!is_plain_word("x:y"));
    }
}
