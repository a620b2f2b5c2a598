//! `include "pattern";` expansion: a small glob(3) with `*`, `?`, `[...]` (`[!...]`/`[^...]`
//! negate, ranges with `-`) and `\` escapes, per path component. As with glob(3), wildcards
//! do not match a leading `.` unless the pattern component starts with `.`. Matches are
//! sorted.

use std::path::{Path, PathBuf};

/// Whether `pattern` contains wildcard characters.
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The paths matching `pattern` (relative patterns are taken relative to `base`), sorted.
/// A pattern without wildcards yields the path itself if it exists.
pub fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    if !has_wildcards(pattern) {
        return if full.exists() { vec![full] } else { vec![] };
    }
    // Split into components, keeping the root.
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in full.components() {
        let text = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        if has_wildcards(&text) {
            for dir in &current {
                let read = if dir.as_os_str().is_empty() {
                    std::fs::read_dir(".")
                } else {
                    std::fs::read_dir(dir)
                };
                let Ok(entries) = read else { continue };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with('.') && !text.starts_with('.') {
                        continue;
                    }
                    if matches(&text, &name) {
                        next.push(dir.join(&*name));
                    }
                }
            }
        } else {
            for dir in &current {
                let p = dir.join(comp.as_os_str());
                if p.exists() {
                    next.push(p);
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.sort();
    current
}

/// Whether `name` matches the glob `pattern` (one path component).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last '*'.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p, pi, n[ni]) {
                Some((true, end)) => Some(end),
                Some((false, _)) => None,
                // Unclosed '[' matches itself.
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(pi + 2),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(np) => {
                pi = np;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// Match `c` against the bracket expression starting at `p[start] == '['`: whether it
/// matched and the index after the closing `]`; `None` if the bracket is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &x = p.get(i)?;
        if x == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = p[i + 2];
            if x <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if x == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(matches("*.res", "r0.res"));
        assert!(matches("*.res", ".res"));
        assert!(!matches("*.res", "r0.res.bak"));
        assert!(matches("r?.res", "r1.res"));
        assert!(!matches("r?.res", "r10.res"));
        assert!(matches("r[0-9].res", "r5.res"));
        assert!(!matches("r[!0-9].res", "r5.res"));
        assert!(matches("r[^0-9].res", "rx.res"));
        assert!(matches("r[]].res", "r].res"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("*", ""));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "x"));
        assert!(matches("[ab", "[ab"));
        assert!(!matches("", "x"));
    }

    #[test]
    fn expansion_is_sorted_and_skips_dot_files() {
        let dir = std::env::temp_dir().join(format!("drbd-rs-glob-{}", std::process::id()));
        let sub = dir.join("drbd.d");
        std::fs::create_dir_all(&sub).unwrap();
        for f in ["b.res", "a.res", ".hidden.res", "c.conf"] {
            std::fs::write(sub.join(f), "").unwrap();
        }
        let got = expand(&dir, "drbd.d/*.res");
        assert_eq!(got, vec![sub.join("a.res"), sub.join("b.res")]);
        let abs = format!("{}/*/*.conf", dir.display());
        assert_eq!(
            expand(Path::new("/nonexistent"), &abs),
            vec![sub.join("c.conf")]
        );
        assert_eq!(expand(&dir, "drbd.d/a.res"), vec![sub.join("a.res")]);
        assert!(expand(&dir, "drbd.d/missing.res").is_empty());
        assert!(expand(&dir, "nodir/*.res").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
