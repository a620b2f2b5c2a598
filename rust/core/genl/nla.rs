// SPDX-License-Identifier: GPL-2.0
//! Netlink attribute (TLV) decoding: `struct nlattr` headers, 4-byte alignment, flag bits.
//!
//! An attribute is a 4-byte header — `nla_len: u16` (header + payload, without padding) and
//! `nla_type: u16` — followed by the payload and zero padding up to the next multiple of 4.
//! All integers are in host byte order (little-endian on our x86_64 target); this module uses
//! the native byte order throughout, exactly like the kernel and drbdsetup do.
//!
//! The two high bits of `nla_type` are flags: `NLA_F_NESTED` (0x8000) and
//! `NLA_F_NET_BYTEORDER` (0x4000). DRBD reuses the latter as `DRBD_GENLA_F_MANDATORY`; it never
//! means byte order here. [`Attr::id`] strips both before any lookup.
//!
//! Decoding never copies: [`Attr`] borrows its payload from the input, [`Attrs`] walks a
//! buffer of attributes and reports a malformed one as an error (and then stops).

/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// Alignment of attributes.
pub const NLA_ALIGNTO: usize = 4;
/// Largest `nla_len` (the field is a u16).
pub const NLA_MAX_LEN: usize = u16::MAX as usize;
/// Nested-attribute flag bit of `nla_type`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// Network-byte-order flag bit of `nla_type` (unused by DRBD in this meaning).
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// DRBD's "mandatory" bit: the same bit as [`NLA_F_NET_BYTEORDER`].
pub const DRBD_GENLA_F_MANDATORY: u16 = 0x4000;
/// Mask selecting the attribute id from `nla_type` (`NLA_TYPE_MASK`).
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
/// Attribute type the kernel uses for the padding it may put before u64 attributes.
pub const PAD_ATTR_TYPE: u16 = 0;

/// `len` rounded up to the attribute alignment (saturating: never overflows).
pub const fn align(len: usize) -> usize {
    len.saturating_add(NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// What is wrong with a malformed attribute stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlaErrorKind {
    /// Fewer than 4 bytes left where an attribute header should start.
    TruncatedHeader,
    /// `nla_len` smaller than the header itself.
    LengthTooSmall,
    /// `nla_len` extends past the end of the enclosing buffer.
    LengthBeyondBuffer,
}

/// A malformed attribute stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlaError {
    /// Offset of the bad attribute within the buffer being walked.
    pub offset: usize,
    /// What is wrong with it.
    pub kind: NlaErrorKind,
}

impl core::fmt::Display for NlaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self.kind {
            NlaErrorKind::TruncatedHeader => "truncated attribute header",
            NlaErrorKind::LengthTooSmall => "attribute length below header size",
            NlaErrorKind::LengthBeyondBuffer => "attribute length beyond buffer",
        };
        write!(f, "{} at offset {}", what, self.offset)
    }
}

/// One netlink attribute, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    raw_type: u16,
    payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// An attribute of wire type `raw_type` with `payload`.
    pub const fn new(raw_type: u16, payload: &'a [u8]) -> Self {
        Self { raw_type, payload }
    }

    /// `nla_type` as on the wire, flag bits included.
    pub const fn raw_type(&self) -> u16 {
        self.raw_type
    }

    /// The attribute id: `nla_type` without `NLA_F_NESTED` and the mandatory bit.
    pub const fn id(&self) -> u16 {
        self.raw_type & NLA_TYPE_MASK
    }

    /// Whether DRBD's mandatory bit (0x4000) is set.
    pub const fn is_mandatory(&self) -> bool {
        self.raw_type & DRBD_GENLA_F_MANDATORY != 0
    }

    /// Whether `NLA_F_NESTED` is set (informational only: both forms are accepted).
    pub const fn has_nested_flag(&self) -> bool {
        self.raw_type & NLA_F_NESTED != 0
    }

    /// The payload, without header and padding.
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// `nla_len`: header plus payload (the payload of a decoded attribute always fits).
    pub const fn nla_len(&self) -> usize {
        NLA_HDRLEN + self.payload.len()
    }

    /// The payload as a u8 (exactly 1 byte).
    pub fn get_u8(&self) -> Option<u8> {
        match self.payload {
            [b] => Some(*b),
            _ => None,
        }
    }

    /// The payload as a DRBD flag: a u8 that is 0 or 1.
    pub fn get_flag(&self) -> Option<bool> {
        match self.get_u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// The payload as a host-order u32 (exactly 4 bytes).
    pub fn get_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.payload.try_into().ok()?;
        Some(u32::from_ne_bytes(b))
    }

    /// The payload as a host-order s32 (exactly 4 bytes, two's complement).
    pub fn get_s32(&self) -> Option<i32> {
        let b: [u8; 4] = self.payload.try_into().ok()?;
        Some(i32::from_ne_bytes(b))
    }

    /// The payload as a host-order u64 (exactly 8 bytes).
    pub fn get_u64(&self) -> Option<u64> {
        let b: [u8; 8] = self.payload.try_into().ok()?;
        Some(u64::from_ne_bytes(b))
    }

    /// The payload as a NUL-terminated string: the bytes before the first NUL. `None` if the
    /// payload contains no NUL. (Length limits are checked by the set validation.)
    pub fn get_nul_str(&self) -> Option<&'a [u8]> {
        let end = self.payload.iter().position(|&b| b == 0)?;
        self.payload.get(..end)
    }

    /// The attributes nested in the payload.
    pub const fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// Iterator over the attributes in a buffer.
///
/// Yields `Err` once for a malformed attribute and then ends. A final attribute whose padding
/// is missing at the very end of the buffer is accepted.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Attrs<'a> {
    /// Walk the attributes in `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            offset: 0,
            done: false,
        }
    }

    /// The whole buffer being walked.
    pub const fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Check that the whole buffer is a well-formed sequence of attributes.
    pub fn check(buf: &'a [u8]) -> Result<(), NlaError> {
        for a in Attrs::new(buf) {
            a?;
        }
        Ok(())
    }

    /// The last attribute with id `id` (flag bits stripped); malformed input ends the search.
    /// Duplicates are resolved like the kernel's `nla_parse`: the last one wins.
    pub fn find_last(buf: &'a [u8], id: u16) -> Option<Attr<'a>> {
        Attrs::new(buf)
            .map_while(Result::ok)
            .filter(|a| a.id() == id)
            .last()
    }

    fn fail(&mut self, kind: NlaErrorKind) -> Option<Result<Attr<'a>, NlaError>> {
        self.done = true;
        Some(Err(NlaError {
            offset: self.offset,
            kind,
        }))
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, NlaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = match self.buf.get(self.offset..) {
            Some(r) if !r.is_empty() => r,
            _ => {
                self.done = true;
                return None;
            }
        };
        let (len, ty) = match rest {
            [l0, l1, t0, t1, ..] => (
                usize::from(u16::from_ne_bytes([*l0, *l1])),
                u16::from_ne_bytes([*t0, *t1]),
            ),
            _ => return self.fail(NlaErrorKind::TruncatedHeader),
        };
        if len < NLA_HDRLEN {
            return self.fail(NlaErrorKind::LengthTooSmall);
        }
        let payload = match rest.get(NLA_HDRLEN..len) {
            Some(p) => p,
            None => return self.fail(NlaErrorKind::LengthBeyondBuffer),
        };
        self.offset = self.offset.saturating_add(align(len));
        Some(Ok(Attr::new(ty, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_bytes(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((payload.len() + 4) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn walks_and_strips_flags() {
        let mut buf = attr_bytes(0x4001, &[1]);
        buf.extend(attr_bytes(0x8002, &attr_bytes(3, &7u32.to_ne_bytes())));
        buf.extend(attr_bytes(4, &9u64.to_ne_bytes()));
        let v: Vec<_> = Attrs::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!((v[0].id(), v[0].is_mandatory()), (1, true));
        assert_eq!(v[0].get_flag(), Some(true));
        assert_eq!((v[1].id(), v[1].has_nested_flag()), (2, true));
        let inner: Vec<_> = v[1].nested().map(Result::unwrap).collect();
        assert_eq!(inner[0].get_u32(), Some(7));
        assert_eq!(v[2].get_u64(), Some(9));
        assert_eq!(v[2].get_u32(), None);
        assert_eq!(Attrs::find_last(&buf, 4).unwrap().get_u64(), Some(9));
    }

    #[test]
    fn missing_final_padding_is_accepted() {
        let mut buf = attr_bytes(1, &[1]);
        buf.truncate(5);
        let v: Vec<_> = Attrs::new(&buf).collect();
        assert_eq!(v, vec![Ok(Attr::new(1, &[1]))]);
    }

    #[test]
    fn malformed_streams() {
        let e = |buf: &[u8]| Attrs::new(buf).find_map(Result::err).map(|e| e.kind);
        assert_eq!(e(&[4, 0]), Some(NlaErrorKind::TruncatedHeader));
        assert_eq!(e(&[3, 0, 1, 0]), Some(NlaErrorKind::LengthTooSmall));
        assert_eq!(e(&[9, 0, 1, 0, 1]), Some(NlaErrorKind::LengthBeyondBuffer));
        let mut buf = attr_bytes(1, &[1]);
        buf.extend([0, 0]);
        let r: Vec<_> = Attrs::new(&buf).collect();
        assert!(r[0].is_ok());
        assert_eq!(
            r[1],
            Err(NlaError {
                offset: 8,
                kind: NlaErrorKind::TruncatedHeader
            })
        );
        assert_eq!(r.len(), 2);
        assert!(Attrs::check(&buf).is_err());
        assert!(Attrs::check(&[]).is_ok());
    }

    #[test]
    fn strings() {
        assert_eq!(Attr::new(1, b"r0\0").get_nul_str(), Some(&b"r0"[..]));
        assert_eq!(Attr::new(1, b"r0\0x").get_nul_str(), Some(&b"r0"[..]));
        assert_eq!(Attr::new(1, b"r0").get_nul_str(), None);
        assert_eq!(Attr::new(1, &[2]).get_flag(), None);
    }
}
