// SPDX-License-Identifier: GPL-2.0
//! Field values: checking one attribute against its [`FieldDef`] and encoding one value.

use super::nla::{Attr, DRBD_GENLA_F_MANDATORY};
use super::sets::{FieldDef, FieldType};
use super::writer::{EncodeError, FieldProblem, Writer};

/// A decoded (or to-be-encoded) field value. Strings are the bytes before the NUL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A flag.
    Flag(bool),
    /// A u32.
    U32(u32),
    /// An s32.
    S32(i32),
    /// A u64.
    U64(u64),
    /// A string (without its terminating NUL; not necessarily UTF-8).
    Str(&'a [u8]),
    /// A binary blob.
    Bin(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The flag, if this is one.
    pub fn as_flag(&self) -> Option<bool> {
        match *self {
            Value::Flag(v) => Some(v),
            _ => None,
        }
    }

    /// The u32, if this is one.
    pub fn as_u32(&self) -> Option<u32> {
        match *self {
            Value::U32(v) => Some(v),
            _ => None,
        }
    }

    /// The s32, if this is one.
    pub fn as_s32(&self) -> Option<i32> {
        match *self {
            Value::S32(v) => Some(v),
            _ => None,
        }
    }

    /// The u64, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            _ => None,
        }
    }

    /// The string bytes, if this is a string.
    pub fn as_str_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The binary bytes, if this is a binary.
    pub fn as_bin(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bin(v) => Some(v),
            _ => None,
        }
    }

    /// Numeric value widened to i64 (flags as 0/1), for range checks.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Flag(v) => Some(i64::from(v)),
            Value::U32(v) => Some(i64::from(v)),
            Value::S32(v) => Some(i64::from(v)),
            Value::U64(v) => i64::try_from(v).ok().or(Some(i64::MAX)),
            Value::Str(_) | Value::Bin(_) => None,
        }
    }

    /// Whether the value's variant matches the declared type.
    pub fn matches(&self, ty: FieldType) -> bool {
        matches!(
            (self, ty),
            (Value::Flag(_), FieldType::Flag)
                | (Value::U32(_), FieldType::U32)
                | (Value::S32(_), FieldType::S32)
                | (Value::U64(_), FieldType::U64)
                | (Value::Str(_), FieldType::Str { .. })
                | (Value::Bin(_), FieldType::Bin { .. })
        )
    }
}

/// Why one attribute does not satisfy its field definition (the kernel's policy checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrProblem {
    /// Fixed-size type with a payload of another size.
    BadLength {
        /// Payload length found.
        len: usize,
        /// Payload length required.
        expected: usize,
    },
    /// Flag payload other than 0 or 1.
    FlagNotBool(u8),
    /// String without NUL within the allowed length.
    StringNotTerminated,
    /// String longer than `max - 1` characters.
    StringTooLong {
        /// Characters found (without a trailing NUL).
        len: usize,
        /// Characters allowed.
        max: usize,
    },
    /// Binary longer than allowed.
    BinaryTooLong {
        /// Bytes found.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
}

impl core::fmt::Display for AttrProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            AttrProblem::BadLength { len, expected } => {
                write!(f, "payload of {} bytes, expected {}", len, expected)
            }
            AttrProblem::FlagNotBool(v) => write!(f, "flag value {} is not 0 or 1", v),
            AttrProblem::StringNotTerminated => f.write_str("string not NUL-terminated"),
            AttrProblem::StringTooLong { len, max } => {
                write!(f, "string of {} characters, at most {} allowed", len, max)
            }
            AttrProblem::BinaryTooLong { len, max } => {
                write!(f, "binary of {} bytes, at most {} allowed", len, max)
            }
        }
    }
}

/// Check attribute `a` against `def` and decode its value.
///
/// Mirrors the kernel's `validate_nla` for the policy `genl_magic` generates, except that
/// fixed-size types must have exactly their size (the kernel's lenient mode only warns about
/// longer payloads; drbdsetup never sends them) and flags must be 0 or 1.
///
/// Strings (`NLA_NUL_STRING`, policy length `max - 1`): a NUL must occur within the first
/// `max` bytes, and the payload without one trailing NUL may be at most `max - 1` bytes.
pub fn decode_attr<'a>(def: &FieldDef, a: &Attr<'a>) -> Result<Value<'a>, AttrProblem> {
    let p = a.payload();
    let fixed = |expected: usize| {
        if p.len() == expected {
            Ok(())
        } else {
            Err(AttrProblem::BadLength {
                len: p.len(),
                expected,
            })
        }
    };
    match def.ty {
        FieldType::Flag => {
            fixed(1)?;
            let v = a.get_u8().unwrap_or(0);
            match v {
                0 => Ok(Value::Flag(false)),
                1 => Ok(Value::Flag(true)),
                other => Err(AttrProblem::FlagNotBool(other)),
            }
        }
        FieldType::U32 => {
            fixed(4)?;
            a.get_u32().map(Value::U32).ok_or(AttrProblem::BadLength {
                len: p.len(),
                expected: 4,
            })
        }
        FieldType::S32 => {
            fixed(4)?;
            a.get_s32().map(Value::S32).ok_or(AttrProblem::BadLength {
                len: p.len(),
                expected: 4,
            })
        }
        FieldType::U64 => {
            fixed(8)?;
            a.get_u64().map(Value::U64).ok_or(AttrProblem::BadLength {
                len: p.len(),
                expected: 8,
            })
        }
        FieldType::Str { max } => {
            let max = usize::from(max);
            let window = if max == 0 { p.len() } else { p.len().min(max) };
            let nul = p
                .get(..window)
                .and_then(|w| w.iter().position(|&b| b == 0))
                .ok_or(AttrProblem::StringNotTerminated)?;
            if max != 0 {
                let mut len = p.len();
                if p.last() == Some(&0) {
                    len -= 1;
                }
                if len > max - 1 {
                    return Err(AttrProblem::StringTooLong { len, max: max - 1 });
                }
            }
            Ok(Value::Str(p.get(..nul).unwrap_or(&[])))
        }
        FieldType::Bin { max } => {
            let max = usize::from(max);
            if max != 0 && p.len() > max {
                return Err(AttrProblem::BinaryTooLong { len: p.len(), max });
            }
            Ok(Value::Bin(p))
        }
    }
}

/// How fields are put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldStyle {
    /// Or the mandatory bit (0x4000) into the type of fields declared mandatory.
    pub mandatory_bits: bool,
    /// Precede u64 attributes with a type-0 pad attribute when their payload would not be
    /// 8-byte aligned (the kernel does so only on architectures without efficient unaligned
    /// access, i.e. not on x86_64).
    pub pad_u64: bool,
    /// Emit fields declared sensitive (`shared_secret`).
    pub include_sensitive: bool,
}

/// Check `v` against `def` for encoding: type, string/binary length, no NUL in strings.
pub fn check_for_encode(
    set: &'static str,
    def: &FieldDef,
    v: &Value<'_>,
) -> Result<(), EncodeError> {
    let err = |problem| EncodeError::InvalidField {
        set,
        field: def.name,
        problem,
    };
    if !v.matches(def.ty) {
        return Err(err(FieldProblem::TypeMismatch));
    }
    match (def.ty, v) {
        (FieldType::Str { max }, Value::Str(s)) => {
            if s.contains(&0) {
                return Err(err(FieldProblem::InteriorNul));
            }
            if max != 0 && s.len() >= usize::from(max) {
                return Err(err(FieldProblem::TooLong));
            }
        }
        (FieldType::Bin { max }, Value::Bin(b)) if max != 0 && b.len() > usize::from(max) => {
            return Err(err(FieldProblem::TooLong));
        }
        _ => {}
    }
    Ok(())
}

/// Encode field `def` of set `set` with value `v` in `style`. Sensitive fields are skipped
/// silently unless the style includes them.
pub fn put_field(
    w: &mut Writer<'_>,
    set: &'static str,
    def: &FieldDef,
    v: &Value<'_>,
    style: &FieldStyle,
) -> Result<(), EncodeError> {
    check_for_encode(set, def, v)?;
    if def.flags.is_sensitive() && !style.include_sensitive {
        return Ok(());
    }
    let ty = if style.mandatory_bits && def.flags.is_mandatory() {
        def.id | DRBD_GENLA_F_MANDATORY
    } else {
        def.id
    };
    match *v {
        Value::Flag(b) => w.put_flag(ty, b),
        Value::U32(x) => w.put_u32(ty, x),
        Value::S32(x) => w.put_s32(ty, x),
        Value::U64(x) if style.pad_u64 => w.put_u64_padded(ty, x),
        Value::U64(x) => w.put_u64(ty, x),
        Value::Str(s) => w.put_string(ty, s),
        Value::Bin(b) => w.put_binary(ty, b),
    }
}

#[cfg(test)]
mod tests {
    use super::super::sets::{CFG_CONTEXT, CFG_REPLY, DISK_CONF, STATE_INFO};
    use super::*;

    fn dec<'a>(def: &FieldDef, p: &'a [u8]) -> Result<Value<'a>, AttrProblem> {
        decode_attr(def, &Attr::new(def.id, p))
    }

    #[test]
    fn string_policy_like_the_kernel() {
        let name = CFG_CONTEXT.field(2).unwrap(); // max 128: 127 chars + NUL
        let ok127 = [b'a'; 127].iter().copied().chain([0]).collect::<Vec<_>>();
        assert_eq!(dec(name, &ok127), Ok(Value::Str(&ok127[..127])));
        // 127 chars without NUL: no terminator.
        assert_eq!(
            dec(name, &ok127[..127]),
            Err(AttrProblem::StringNotTerminated)
        );
        // 128 chars + NUL: NUL beyond the first 128 bytes.
        let long = [b'a'; 128].iter().copied().chain([0]).collect::<Vec<_>>();
        assert_eq!(dec(name, &long), Err(AttrProblem::StringNotTerminated));
        // "ab\0" padded with extra NULs beyond max - 1 after stripping one: refused.
        let mut padded = vec![b'a'; 126];
        padded.extend([0, 0, 0]);
        assert_eq!(
            dec(name, &padded),
            Err(AttrProblem::StringTooLong { len: 128, max: 127 })
        );
        // Bytes after the NUL are ignored when within limits.
        assert_eq!(dec(name, b"r0\0zz\0"), Ok(Value::Str(b"r0")));
        assert_eq!(dec(name, b""), Err(AttrProblem::StringNotTerminated));
        // Unlimited string (info_text).
        let info = CFG_REPLY.field(1).unwrap();
        let big = vec![b'x'; 1000].into_iter().chain([0]).collect::<Vec<_>>();
        assert_eq!(dec(info, &big), Ok(Value::Str(&big[..1000])));
        assert_eq!(dec(info, b"x"), Err(AttrProblem::StringNotTerminated));
    }

    #[test]
    fn fixed_sizes_and_flags() {
        let rate = DISK_CONF.field(8).unwrap();
        assert_eq!(dec(rate, &250u32.to_ne_bytes()), Ok(Value::U32(250)));
        assert_eq!(
            dec(rate, &[0; 8]),
            Err(AttrProblem::BadLength {
                len: 8,
                expected: 4
            })
        );
        let idx = DISK_CONF.field(3).unwrap();
        assert_eq!(dec(idx, &(-3i32).to_ne_bytes()), Ok(Value::S32(-3)));
        let size = DISK_CONF.field(4).unwrap();
        assert!(dec(size, &[1, 0, 0, 0]).is_err());
        let barrier = DISK_CONF.field(16).unwrap();
        assert_eq!(dec(barrier, &[1]), Ok(Value::Flag(true)));
        assert_eq!(dec(barrier, &[2]), Err(AttrProblem::FlagNotBool(2)));
        assert!(dec(barrier, &[]).is_err());
        let uuids = STATE_INFO.field(7).unwrap();
        assert!(dec(uuids, &[0; 32]).is_ok());
        assert_eq!(
            dec(uuids, &[0; 33]),
            Err(AttrProblem::BinaryTooLong { len: 33, max: 32 })
        );
    }

    #[test]
    fn encode_checks() {
        let name = CFG_CONTEXT.field(2).unwrap();
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf);
        let style = FieldStyle {
            mandatory_bits: true,
            pad_u64: false,
            include_sensitive: true,
        };
        put_field(&mut w, "c", name, &Value::Str(b"r0"), &style).unwrap();
        assert_eq!(w.written(), &[7, 0, 2, 0x40, b'r', b'0', 0, 0]);
        let too_long = [b'a'; 128];
        assert!(put_field(&mut w, "c", name, &Value::Str(&too_long), &style).is_err());
        assert!(put_field(&mut w, "c", name, &Value::Str(&too_long[..127]), &style).is_ok());
        assert!(put_field(&mut w, "c", name, &Value::U32(1), &style).is_err());
        assert!(put_field(&mut w, "c", name, &Value::Str(b"a\0"), &style).is_err());
    }
}
