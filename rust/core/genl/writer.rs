// SPDX-License-Identifier: GPL-2.0
//! Netlink attribute encoding into a caller-provided buffer.
//!
//! [`Writer`] appends attributes (header, payload, zero padding to 4 bytes) to a `&mut [u8]`
//! and fails with [`EncodeError::BufferTooSmall`] instead of growing. Integers are written in
//! host byte order (little-endian on x86_64), like the kernel and drbdsetup. Nested attributes
//! are opened with [`Writer::nest_start`] and closed with [`Writer::nest_end`], which patches
//! the nest's length.

use super::nla::{align, NLA_HDRLEN, NLA_MAX_LEN, PAD_ATTR_TYPE};

/// Why something could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// An attribute (or nest) would exceed the 65535 bytes `nla_len` can describe, or a
    /// message the 2^32 bytes of `nlmsg_len`.
    TooLarge,
    /// A field value does not fit its definition.
    InvalidField {
        /// Attribute set name.
        set: &'static str,
        /// Field name (or `"?"` for an id the set does not define).
        field: &'static str,
        /// What is wrong.
        problem: FieldProblem,
    },
}

/// What is wrong with a field value given for encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// String or binary longer than the field allows.
    TooLong,
    /// String containing a NUL byte (it would be cut at the NUL by the receiver).
    InteriorNul,
    /// Value of a different type than the field is declared with.
    TypeMismatch,
    /// The set has no field with that id.
    UnknownField,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("netlink buffer too small"),
            EncodeError::TooLarge => f.write_str("netlink attribute or message too large"),
            EncodeError::InvalidField {
                set,
                field,
                problem,
            } => {
                let what = match problem {
                    FieldProblem::TooLong => "value too long",
                    FieldProblem::InteriorNul => "string contains NUL",
                    FieldProblem::TypeMismatch => "value of wrong type",
                    FieldProblem::UnknownField => "unknown field",
                };
                write!(f, "{}.{}: {}", set, field, what)
            }
        }
    }
}

/// Copy `src` into `dst` at `at`; returns the offset after it.
fn copy_into(dst: &mut [u8], at: usize, src: &[u8]) -> Result<usize, EncodeError> {
    let end = at.checked_add(src.len()).ok_or(EncodeError::TooLarge)?;
    dst.get_mut(at..end)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(src);
    Ok(end)
}

/// An open nested attribute; close it with [`Writer::nest_end`] or [`Writer::nest_cancel`].
#[derive(Debug)]
#[must_use = "a nest must be closed with nest_end or nest_cancel"]
pub struct Nest {
    start: usize,
}

/// Appends netlink attributes to a caller-provided buffer.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    /// A writer filling `buf` from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    /// Forget everything written after `len` (no effect if `len` is beyond the end).
    pub fn truncate(&mut self, len: usize) {
        if len < self.pos {
            self.pos = len;
        }
    }

    /// Reserve `n` zeroed bytes at the end and return them.
    pub fn reserve(&mut self, n: usize) -> Result<&mut [u8], EncodeError> {
        let end = self.pos.checked_add(n).ok_or(EncodeError::TooLarge)?;
        let start = self.pos;
        let out = self
            .buf
            .get_mut(start..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        out.fill(0);
        self.pos = end;
        Ok(out)
    }

    /// Append raw bytes (e.g. a copied attribute) without any framing.
    pub fn put_raw(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Overwrite `bytes.len()` already written bytes at `offset`.
    pub fn patch(&mut self, offset: usize, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = offset
            .checked_add(bytes.len())
            .ok_or(EncodeError::TooLarge)?;
        if end > self.pos {
            return Err(EncodeError::BufferTooSmall);
        }
        self.buf
            .get_mut(offset..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        Ok(())
    }

    /// Append zero bytes up to the next multiple of 4 (relative to the buffer start).
    pub fn pad_to_alignment(&mut self) -> Result<(), EncodeError> {
        let n = align(self.pos).saturating_sub(self.pos);
        self.reserve(n).map(|_| ())
    }

    /// Append an attribute of wire type `ty` made of the concatenation of `parts`.
    fn put_attr_parts(&mut self, ty: u16, parts: &[&[u8]]) -> Result<(), EncodeError> {
        let payload_len = parts
            .iter()
            .map(|p| p.len())
            .fold(0usize, usize::saturating_add);
        let nla_len = payload_len.saturating_add(NLA_HDRLEN);
        if nla_len > NLA_MAX_LEN {
            return Err(EncodeError::TooLarge);
        }
        let start = self.pos;
        // `reserve` leaves the writer unchanged on failure.
        let out = self.reserve(align(nla_len))?;
        let fill = |out: &mut [u8]| -> Result<(), EncodeError> {
            let mut at = copy_into(out, 0, &(nla_len as u16).to_ne_bytes())?;
            at = copy_into(out, at, &ty.to_ne_bytes())?;
            for p in parts {
                at = copy_into(out, at, p)?;
            }
            Ok(())
        };
        fill(out).inspect_err(|_| self.pos = start)
    }

    /// Append an attribute with an arbitrary payload (`nla_put`).
    pub fn put_attr(&mut self, ty: u16, payload: &[u8]) -> Result<(), EncodeError> {
        self.put_attr_parts(ty, &[payload])
    }

    /// Append a u8 attribute.
    pub fn put_u8(&mut self, ty: u16, v: u8) -> Result<(), EncodeError> {
        self.put_attr(ty, &[v])
    }

    /// Append a DRBD flag: a u8 attribute of value 0 or 1.
    pub fn put_flag(&mut self, ty: u16, v: bool) -> Result<(), EncodeError> {
        self.put_u8(ty, u8::from(v))
    }

    /// Append a host-order u32 attribute.
    pub fn put_u32(&mut self, ty: u16, v: u32) -> Result<(), EncodeError> {
        self.put_attr(ty, &v.to_ne_bytes())
    }

    /// Append an s32 as a host-order u32 attribute (two's complement).
    pub fn put_s32(&mut self, ty: u16, v: i32) -> Result<(), EncodeError> {
        self.put_attr(ty, &v.to_ne_bytes())
    }

    /// Append a host-order u64 attribute without alignment padding (`nla_put_u64`, and what
    /// `nla_put_u64_0pad` does on x86_64).
    pub fn put_u64(&mut self, ty: u16, v: u64) -> Result<(), EncodeError> {
        self.put_attr(ty, &v.to_ne_bytes())
    }

    /// Append a u64 attribute like the kernel's `nla_put_u64_0pad` on architectures without
    /// efficient unaligned access: if the payload would not be 8-byte aligned (relative to the
    /// buffer start), first append an empty pad attribute of type 0.
    pub fn put_u64_padded(&mut self, ty: u16, v: u64) -> Result<(), EncodeError> {
        let start = self.pos;
        if self.pos.wrapping_add(NLA_HDRLEN) & 7 != 0 {
            self.put_attr(PAD_ATTR_TYPE, &[])?;
        }
        self.put_u64(ty, v).inspect_err(|_| self.pos = start)
    }

    /// Append a NUL-terminated string attribute (`nla_put_string`: `s` plus one NUL).
    /// `s` must not contain a NUL itself.
    pub fn put_string(&mut self, ty: u16, s: &[u8]) -> Result<(), EncodeError> {
        if s.contains(&0) {
            return Err(EncodeError::InvalidField {
                set: "",
                field: "",
                problem: FieldProblem::InteriorNul,
            });
        }
        self.put_attr_parts(ty, &[s, &[0]])
    }

    /// Append a binary attribute.
    pub fn put_binary(&mut self, ty: u16, b: &[u8]) -> Result<(), EncodeError> {
        self.put_attr(ty, b)
    }

    /// Open a nested attribute of wire type `ty` (or-in `NLA_F_NESTED` yourself if wanted).
    pub fn nest_start(&mut self, ty: u16) -> Result<Nest, EncodeError> {
        let start = self.pos;
        let hdr = self.reserve(NLA_HDRLEN)?;
        copy_into(hdr, 2, &ty.to_ne_bytes())?;
        Ok(Nest { start })
    }

    /// Close a nest: patch its `nla_len` to cover everything written since it was opened.
    /// On error (nest longer than 65535 bytes) the nest and its content are removed.
    pub fn nest_end(&mut self, nest: Nest) -> Result<(), EncodeError> {
        let len = self.pos.saturating_sub(nest.start);
        if len > NLA_MAX_LEN {
            self.truncate(nest.start);
            return Err(EncodeError::TooLarge);
        }
        self.patch(nest.start, &(len as u16).to_ne_bytes())
    }

    /// Remove a nest and everything written into it.
    pub fn nest_cancel(&mut self, nest: Nest) {
        self.truncate(nest.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_zeroed() {
        let mut buf = [0xAAu8; 32];
        let mut w = Writer::new(&mut buf);
        w.put_u8(0x4001, 1).unwrap();
        w.put_string(2, b"r0").unwrap();
        assert_eq!(
            w.written(),
            &[5, 0, 1, 0x40, 1, 0, 0, 0, 7, 0, 2, 0, b'r', b'0', 0, 0]
        );
    }

    #[test]
    fn nests_patch_length() {
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        let n = w.nest_start(0x8006).unwrap();
        w.put_flag(0x4001, true).unwrap();
        w.nest_end(n).unwrap();
        assert_eq!(w.written(), &[12, 0, 6, 0x80, 5, 0, 1, 0x40, 1, 0, 0, 0]);
        let n = w.nest_start(7).unwrap();
        w.put_u32(1, 5).unwrap();
        w.nest_cancel(n);
        assert_eq!(w.len(), 12);
    }

    #[test]
    fn too_small_leaves_writer_unchanged() {
        let mut buf = [0u8; 10];
        let mut w = Writer::new(&mut buf);
        w.put_u32(1, 1).unwrap();
        assert_eq!(w.put_u32(2, 2), Err(EncodeError::BufferTooSmall));
        assert_eq!(w.len(), 8);
        assert_eq!(w.put_u64_padded(2, 2), Err(EncodeError::BufferTooSmall));
        assert_eq!(w.len(), 8);
        assert!(w.nest_start(1).is_err());
        assert_eq!(w.put_string(1, b"a\0b").map_err(|_| ()), Err(()));
    }

    #[test]
    fn u64_padding() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        // At 0 the payload would start at 4: pad attribute first.
        w.put_u64_padded(3, 1).unwrap();
        assert_eq!(&w.written()[..4], &[4, 0, 0, 0]);
        assert_eq!(w.len(), 16);
        w.put_u32(1, 0).unwrap();
        // At 24 (8-aligned): pad again.
        let before = w.len();
        w.put_u64_padded(3, 2).unwrap();
        assert_eq!(w.len() - before, 16);
        w.put_attr(1, &[]).unwrap();
        // At 44 the payload starts at 48: no pad.
        let before = w.len();
        w.put_u64_padded(3, 3).unwrap();
        assert_eq!(w.len() - before, 12);
    }

    #[test]
    fn too_large_attribute() {
        let mut buf = vec![0u8; 70_000];
        let mut w = Writer::new(&mut buf);
        let big = vec![1u8; 65_532];
        assert_eq!(w.put_attr(1, &big), Err(EncodeError::TooLarge));
        assert!(w.put_attr(1, &big[..65_531]).is_ok());
        let mut buf = vec![0u8; 70_000];
        let mut w = Writer::new(&mut buf);
        let n = w.nest_start(1).unwrap();
        w.put_attr(1, &big[..65_000]).unwrap();
        w.put_attr(1, &big[..1_000]).unwrap();
        assert_eq!(w.nest_end(n), Err(EncodeError::TooLarge));
        assert!(w.is_empty());
    }
}
