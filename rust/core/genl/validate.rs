// SPDX-License-Identifier: GPL-2.0
//! Validation of nested attribute sets against their tables, with errors that name the set,
//! the field and the problem, and map onto what the 8.4 kernel answers.
//!
//! The order of checks follows `drbd_nla_parse_nested` and `<set>_from_attrs`:
//! 1. walk the set, strip the mandatory bit; an id above the set's highest id *with* the bit
//!    fails the set (`-EOPNOTSUPP`); unknown ids without it are ignored;
//! 2. check every known attribute's type and length (`-EINVAL`), and, if asked, its range;
//! 3. in declaration order: invariant fields present in a change request (`-EEXIST`), required
//!    fields missing (`-ENOMSG`; not for invariant fields of change requests).
//!
//! All of these map to `ERR_MANDATORY_TAG` with one of four info texts (see
//! [`ErrorKind::info_text`]), except for `drbd_cfg_context` and the top-level framing, which
//! the kernel reports as a netlink error (see [`ValidationError::outcome`]).

use super::nla::{Attr, Attrs, NlaError};
use super::ret_code::RetCode;
use super::sets::{FieldDef, SetDef, Tla};
use super::value::{decode_attr, AttrProblem, Value};

/// Linux errno values the kernel answers with.
pub mod errno {
    /// `EEXIST`.
    pub const EEXIST: i32 = 17;
    /// `EINVAL`.
    pub const EINVAL: i32 = 22;
    /// `ENOMSG`.
    pub const ENOMSG: i32 = 42;
    /// `EOPNOTSUPP`.
    pub const EOPNOTSUPP: i32 = 95;
}

/// How strictly to validate a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidateOpts {
    /// A change request (`*_from_attrs_for_change`): invariant fields are refused, and their
    /// absence is not a "required attribute missing".
    pub change: bool,
    /// Check numeric values against the table's limits / enum keywords. The 6.12 kernel leaves
    /// range checks to drbdsetup; drbd_rs checks them in the kernel too (stricter, never
    /// refusing what drbdsetup sends).
    pub check_ranges: bool,
}

impl ValidateOpts {
    /// A creating request (attach, connect, new-resource …), with range checks.
    pub const CREATE: Self = Self {
        change: false,
        check_ranges: true,
    };
    /// A change request (disk-options, net-options), with range checks.
    pub const CHANGE: Self = Self {
        change: true,
        check_ranges: true,
    };
    /// Structural checks only, as the 6.12 kernel and the tools apply to replies.
    pub const LENIENT: Self = Self {
        change: false,
        check_ranges: false,
    };
}

/// What is wrong with a set or one of its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The attribute stream is not well-formed TLVs.
    Malformed(NlaError),
    /// Unknown attribute id carrying the mandatory bit.
    UnknownMandatory,
    /// Type/length problem of a known attribute.
    Invalid(AttrProblem),
    /// Numeric value outside the accepted range or enum keywords (only with
    /// [`ValidateOpts::check_ranges`]).
    OutOfRange {
        /// The value found.
        value: i64,
    },
    /// A required field (or required top-level set) is missing.
    MissingRequired,
    /// An invariant field appears in a change request.
    InvariantChange,
}

impl ErrorKind {
    /// Errno the kernel's attribute parser returns for this problem.
    pub const fn errno(&self) -> i32 {
        match self {
            ErrorKind::UnknownMandatory => errno::EOPNOTSUPP,
            ErrorKind::MissingRequired => errno::ENOMSG,
            ErrorKind::InvariantChange => errno::EEXIST,
            ErrorKind::Malformed(_) | ErrorKind::Invalid(_) | ErrorKind::OutOfRange { .. } => {
                errno::EINVAL
            }
        }
    }

    /// The kernel's `from_attrs_err_to_txt()` text, sent as `cfg_reply.info_text`.
    pub const fn info_text(&self) -> &'static str {
        match self {
            ErrorKind::MissingRequired => "required attribute missing",
            ErrorKind::UnknownMandatory => "unknown mandatory attribute",
            ErrorKind::InvariantChange => "can not change invariant setting",
            ErrorKind::Malformed(_) | ErrorKind::Invalid(_) | ErrorKind::OutOfRange { .. } => {
                "invalid attribute value"
            }
        }
    }
}

/// A failed validation: where and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The top-level attribute concerned; `None` for problems of the message framing itself.
    pub tla: Option<Tla>,
    /// The field concerned, if the problem is about one.
    pub field: Option<&'static str>,
    /// Wire type (flags included) of the offending attribute, if there is one.
    pub attr_type: Option<u16>,
    /// The problem.
    pub kind: ErrorKind,
}

/// What the kernel answers to a request that failed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An `NLMSG_ERROR` carrying `-errno`, no drbd reply (broken framing, bad
    /// `drbd_cfg_context`).
    Netlink {
        /// Positive errno value.
        errno: i32,
    },
    /// A drbd reply with this `ret_code` and `cfg_reply.info_text`.
    Reply {
        /// The reply's return code.
        ret_code: RetCode,
        /// The info text.
        info_text: &'static str,
    },
}

impl ValidationError {
    /// Name of the attribute set concerned (`"netlink message"` for framing problems).
    pub fn set_name(&self) -> &'static str {
        match self.tla {
            Some(t) => t.set().name,
            None => "netlink message",
        }
    }

    /// Errno the kernel's attribute parser returns.
    pub const fn errno(&self) -> i32 {
        self.kind.errno()
    }

    /// Return code of the drbd reply: always `ERR_MANDATORY_TAG`.
    pub const fn ret_code(&self) -> RetCode {
        RetCode::ErrMandatoryTag
    }

    /// The kernel's info text for the reply.
    pub const fn info_text(&self) -> &'static str {
        self.kind.info_text()
    }

    /// How the kernel reports this failure to user space.
    pub fn outcome(&self) -> Outcome {
        match self.tla {
            None | Some(Tla::CfgContext) => Outcome::Netlink {
                errno: self.errno(),
            },
            Some(_) => Outcome::Reply {
                ret_code: self.ret_code(),
                info_text: self.info_text(),
            },
        }
    }
}

impl core::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.set_name())?;
        if let Some(field) = self.field {
            write!(f, ".{}", field)?;
        }
        if let Some(t) = self.attr_type {
            write!(f, " (type {:#06x})", t)?;
        }
        f.write_str(": ")?;
        match self.kind {
            ErrorKind::Malformed(e) => write!(f, "malformed attributes: {}", e),
            ErrorKind::UnknownMandatory => f.write_str("unknown mandatory attribute"),
            ErrorKind::Invalid(p) => write!(f, "invalid attribute value: {}", p),
            ErrorKind::OutOfRange { value } => write!(f, "value {} out of range", value),
            ErrorKind::MissingRequired => f.write_str("required attribute missing"),
            ErrorKind::InvariantChange => f.write_str("can not change invariant setting"),
        }
    }
}

/// Range check of a decoded value against its definition (strings and binaries always pass).
pub fn check_range(def: &FieldDef, v: &Value<'_>) -> Result<(), ErrorKind> {
    match v.as_i64() {
        Some(n) if !def.accepts(n) => Err(ErrorKind::OutOfRange { value: n }),
        _ => Ok(()),
    }
}

/// Validate the payload of a nested set (the content of its top-level attribute).
pub fn validate_set<'a>(
    def: &'static SetDef,
    payload: &'a [u8],
    opts: &ValidateOpts,
) -> Result<SetView<'a>, ValidationError> {
    let err = |field: Option<&'static str>, attr_type: Option<u16>, kind| ValidationError {
        tla: Some(def.tla),
        field,
        attr_type,
        kind,
    };
    let max_id = def.max_id();
    // Pass 1: framing and unknown mandatory attributes (drbd_nla_check_mandatory).
    for a in Attrs::new(payload) {
        let a = a.map_err(|e| err(None, None, ErrorKind::Malformed(e)))?;
        if a.is_mandatory() && a.id() > max_id {
            return Err(err(None, Some(a.raw_type()), ErrorKind::UnknownMandatory));
        }
    }
    // Pass 2: policy (type / length), then optional ranges.
    for a in Attrs::new(payload).map_while(Result::ok) {
        let Some(f) = def.field(a.id()) else {
            continue;
        };
        let ctx = |kind| err(Some(f.name), Some(a.raw_type()), kind);
        let v = decode_attr(f, &a).map_err(|p| ctx(ErrorKind::Invalid(p)))?;
        if opts.check_ranges {
            check_range(f, &v).map_err(ctx)?;
        }
    }
    // Pass 3: per field, in declaration order.
    for f in def.fields {
        let present = Attrs::find_last(payload, f.id);
        let invariant = opts.change && f.flags.is_invariant();
        match present {
            Some(a) if invariant => {
                return Err(err(
                    Some(f.name),
                    Some(a.raw_type()),
                    ErrorKind::InvariantChange,
                ))
            }
            None if !invariant && f.flags.is_required() => {
                return Err(err(Some(f.name), None, ErrorKind::MissingRequired))
            }
            _ => {}
        }
    }
    Ok(SetView { def, payload })
}

/// A validated set: its known fields can be read without further error handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetView<'a> {
    def: &'static SetDef,
    payload: &'a [u8],
}

impl<'a> SetView<'a> {
    /// The set's definition.
    pub fn def(&self) -> &'static SetDef {
        self.def
    }

    /// The raw payload (attributes as received).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The value of field `id` (last occurrence wins), if present.
    pub fn get(&self, id: u16) -> Option<Value<'a>> {
        let f = self.def.field(id)?;
        let a = Attrs::find_last(self.payload, id)?;
        decode_attr(f, &a).ok()
    }

    /// The value of the field named `name`, if present.
    pub fn get_by_name(&self, name: &str) -> Option<Value<'a>> {
        self.get(self.def.field_by_name(name)?.id)
    }

    /// Every known field present, in wire order (duplicates included; the later one wins).
    pub fn fields(&self) -> impl Iterator<Item = (&'static FieldDef, Value<'a>)> + 'a {
        let def = self.def;
        Attrs::new(self.payload)
            .map_while(Result::ok)
            .filter_map(move |a: Attr<'a>| {
                let f = def.field(a.id())?;
                decode_attr(f, &a).ok().map(|v| (f, v))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sets::{CFG_CONTEXT, DISK_CONF, RESIZE_PARMS, SET_ROLE_PARMS};
    use super::super::writer::Writer;
    use super::*;

    fn set(build: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let mut w = Writer::new(&mut buf);
        build(&mut w);
        let n = w.len();
        buf.truncate(n);
        buf
    }

    fn disk_base(w: &mut Writer<'_>) {
        w.put_string(1, b"/dev/sdb1").unwrap();
        w.put_string(2, b"/dev/sdb1").unwrap();
        w.put_s32(3, -3).unwrap();
    }

    fn kind(r: Result<SetView<'_>, ValidationError>) -> ErrorKind {
        r.unwrap_err().kind
    }

    #[test]
    fn mandatory_bit_semantics() {
        // Unknown id with the bit: refused.
        let p = set(|w| w.put_u32(0x4000 | 9, 1).unwrap());
        let e = validate_set(&SET_ROLE_PARMS, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownMandatory);
        assert_eq!(e.attr_type, Some(0x4009));
        assert_eq!(
            e.outcome(),
            Outcome::Reply {
                ret_code: RetCode::ErrMandatoryTag,
                info_text: "unknown mandatory attribute"
            }
        );
        assert_eq!(e.errno(), errno::EOPNOTSUPP);
        // Unknown id without the bit: ignored.
        let p = set(|w| w.put_u32(9, 1).unwrap());
        assert!(validate_set(&SET_ROLE_PARMS, &p, &ValidateOpts::CREATE).is_ok());
        // Known id with and without the bit: both fine.
        let p = set(|w| w.put_flag(0x4001, true).unwrap());
        let v = validate_set(&SET_ROLE_PARMS, &p, &ValidateOpts::CREATE).unwrap();
        assert_eq!(v.get(1), Some(Value::Flag(true)));
        let p = set(|w| w.put_flag(1, true).unwrap());
        assert!(validate_set(&SET_ROLE_PARMS, &p, &ValidateOpts::CREATE).is_ok());
        // A gap id (22 in disk_conf) with the bit is not above max id: ignored like the kernel.
        let p = set(|w| {
            disk_base(w);
            w.put_u32(0x4000 | 22, 1).unwrap();
        });
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).is_ok());
        // Unknown mandatory is detected before an invalid known field.
        let p = set(|w| {
            w.put_u32(1, 1).unwrap();
            w.put_u32(0x4002, 1).unwrap();
        });
        assert_eq!(
            kind(validate_set(&SET_ROLE_PARMS, &p, &ValidateOpts::CREATE)),
            ErrorKind::UnknownMandatory
        );
    }

    #[test]
    fn nested_flag_and_pad_tolerated() {
        let p = set(|w| {
            w.put_attr(0, &[]).unwrap(); // pad attribute
            w.put_u64(0x8000 | 0x4001, 77).unwrap();
        });
        let v = validate_set(&RESIZE_PARMS, &p, &ValidateOpts::CREATE).unwrap();
        assert_eq!(v.get(1), Some(Value::U64(77)));
    }

    #[test]
    fn required_and_invariant() {
        let p = set(|w| {
            w.put_string(1, b"/dev/sdb1").unwrap();
            w.put_s32(3, -3).unwrap();
        });
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(
            (e.field, e.kind),
            (Some("meta_dev"), ErrorKind::MissingRequired)
        );
        assert_eq!(e.info_text(), "required attribute missing");
        assert_eq!(e.errno(), errno::ENOMSG);
        // In a change request the required-but-invariant fields may be absent…
        let p = set(|w| w.put_u32(0x4008, 100).unwrap());
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::CHANGE).is_ok());
        // …and must be.
        let p = set(|w| w.put_u64(0x4004, 100).unwrap());
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CHANGE).unwrap_err();
        assert_eq!(
            (e.field, e.kind),
            (Some("disk_size"), ErrorKind::InvariantChange)
        );
        assert_eq!(e.info_text(), "can not change invariant setting");
        assert_eq!(e.errno(), errno::EEXIST);
        let p = set(disk_base);
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CHANGE).unwrap_err();
        assert_eq!(e.field, Some("backing_dev"));
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).is_ok());
    }

    #[test]
    fn invalid_values_and_ranges() {
        let p = set(|w| {
            disk_base(w);
            w.put_u64(0x4008, 1).unwrap();
        });
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(e.field, Some("resync_rate"));
        assert_eq!(
            e.kind,
            ErrorKind::Invalid(AttrProblem::BadLength {
                len: 8,
                expected: 4
            })
        );
        assert_eq!(e.info_text(), "invalid attribute value");
        assert_eq!(e.errno(), errno::EINVAL);
        let text = format!("{}", e);
        assert!(text.contains("disk_conf.resync_rate"), "{}", text);

        let p = set(|w| {
            disk_base(w);
            w.put_u32(0x4008, 0).unwrap();
        });
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfRange { value: 0 });
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::LENIENT).is_ok());
        let p = set(|w| {
            disk_base(w);
            w.put_u32(0x4006, 3).unwrap();
        });
        let e = validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(
            (e.field, e.kind),
            (Some("on_io_error"), ErrorKind::OutOfRange { value: 3 })
        );
        let p = set(|w| {
            disk_base(w);
            w.put_u64(0x4004, (1 << 41) + 1).unwrap();
        });
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).is_err());
        let p = set(|w| {
            disk_base(w);
            w.put_u64(0x4004, u64::MAX).unwrap();
        });
        assert!(validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).is_err());
        let p = set(|w| {
            disk_base(w);
            w.put_u8(0x4010, 2).unwrap();
        });
        assert_eq!(
            kind(validate_set(&DISK_CONF, &p, &ValidateOpts::LENIENT)),
            ErrorKind::Invalid(AttrProblem::FlagNotBool(2))
        );
    }

    #[test]
    fn context_errors_are_netlink_errors() {
        let p = set(|w| w.put_attr(0x4003, &[0; 129]).unwrap());
        let e = validate_set(&CFG_CONTEXT, &p, &ValidateOpts::CREATE).unwrap_err();
        assert_eq!(e.field, Some("ctx_my_addr"));
        assert_eq!(
            e.outcome(),
            Outcome::Netlink {
                errno: errno::EINVAL
            }
        );
        let p = vec![8, 0, 1, 0, 0];
        let e = validate_set(&CFG_CONTEXT, &p, &ValidateOpts::CREATE).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Malformed(_)));
    }

    #[test]
    fn view_access() {
        let p = set(|w| {
            disk_base(w);
            w.put_u32(0x4008, 100).unwrap();
            w.put_u32(0x4008, 200).unwrap();
        });
        let v = validate_set(&DISK_CONF, &p, &ValidateOpts::CREATE).unwrap();
        assert_eq!(v.get_by_name("resync_rate"), Some(Value::U32(200)));
        assert_eq!(v.get_by_name("backing_dev"), Some(Value::Str(b"/dev/sdb1")));
        assert_eq!(v.get_by_name("fencing"), None);
        assert_eq!(v.fields().count(), 5);
    }
}
