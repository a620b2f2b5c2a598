// SPDX-License-Identifier: GPL-2.0
//! The text of `/proc/drbd`, byte for byte as DRBD 8.4.11 in Linux 6.12 prints it.
//!
//! drbd-utils reads the version from the first line to decide it talks to an 8.4 kernel, so
//! the header must be exact.

use core::fmt::{self, Write};

use super::version;

/// Second header line: how the module was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildTag<'a> {
    /// Loadable module: the kernel's srcversion of it.
    SrcVersion(&'a str),
    /// Compiled into the kernel.
    BuiltIn,
}

/// Write the two header lines.
pub fn write_header<W: Write>(out: &mut W, build: BuildTag<'_>) -> fmt::Result {
    writeln!(
        out,
        "version: {} (api:{}/proto:{}-{})",
        version::RELEASE,
        version::GENL_API_VERSION,
        version::PROTOCOL_MIN,
        version::PROTOCOL_MAX
    )?;
    match build {
        // srcversion left-justified in 24 columns: 23 hex digits leave one trailing space.
        BuildTag::SrcVersion(src) => writeln!(out, "srcversion: {src:<24}"),
        BuildTag::BuiltIn => writeln!(out, "built-in"),
    }
}

/// A DRBD release number as the tools parse it from `/proc/drbd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// Major number (8).
    pub major: u32,
    /// Minor number (4).
    pub minor: u32,
    /// Sub-release (11).
    pub sub: u32,
}

/// Find the release after the first `version:` in `text` (the tools read the first 4 KiB),
/// accepting out-of-tree forms such as `8.4.11-1`.
pub fn parse_release(text: &str) -> Option<Release> {
    let start = text.find("version:")? + "version:".len();
    let token = text[start..].split_whitespace().next()?;
    let mut parts = token.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let sub_text = parts.next()?;
    let digits = sub_text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(sub_text.len());
    let sub = sub_text[..digits].parse().ok()?;
    Some(Release { major, minor, sub })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_from_proc_text() {
        let ours = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: X \n";
        assert_eq!(
            parse_release(ours),
            Some(Release {
                major: 8,
                minor: 4,
                sub: 11
            })
        );
        let linbit = "version: 8.4.11-1 (api:1/proto:86-101)\nGIT-hash: ab build by x";
        assert_eq!(parse_release(linbit).map(|r| r.sub), Some(11));
        assert_eq!(
            parse_release("version: 9.2.4 (api:2/proto:86-122)").map(|r| r.major),
            Some(9)
        );
        assert_eq!(parse_release("no version here"), None);
        assert_eq!(parse_release("version: 8.x"), None);
    }

    #[test]
    fn our_header_parses_as_our_release() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::BuiltIn).unwrap();
        let r = parse_release(&s).unwrap();
        assert_eq!(release_text(r), version::RELEASE);
    }

    fn release_text(r: Release) -> String {
        format!("{}.{}.{}", r.major, r.minor, r.sub)
    }

    #[test]
    fn header_as_a_module() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::SrcVersion("5E1C3A7D20F3B9C8A41D6E2")).unwrap();
        assert_eq!(
            s,
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 5E1C3A7D20F3B9C8A41D6E2 \n"
        );
    }

    #[test]
    fn header_built_in() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::BuiltIn).unwrap();
        assert_eq!(s, "version: 8.4.11 (api:1/proto:86-101)\nbuilt-in\n");
    }
}
