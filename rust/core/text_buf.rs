// SPDX-License-Identifier: GPL-2.0
//! Formatting into a fixed-size buffer, for places without allocation.

use core::fmt;

/// A `fmt::Write` sink of at most `N` bytes; writing past the end fails and keeps what fit.
pub struct TextBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> TextBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `str`s are appended (see `write_str`), so this cannot fail.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for TextBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn keeps_whole_writes_only() {
        let mut b = TextBuf::<8>::new();
        write!(b, "abc").unwrap();
        assert!(write!(b, "defghi").is_err());
        assert_eq!(b.as_str(), "abc");
        write!(b, "de").unwrap();
        assert_eq!(b.as_bytes(), b"abcde");
    }
}
