// SPDX-License-Identifier: GPL-2.0
//! Kernel-side validation of a whole request: framing, command, and every top-level attribute
//! the command takes, in the order the 8.4 kernel parses them (`cfg_context` first, in
//! `drbd_adm_prepare`; then the command's own sets).

use super::commands::{command, CommandDef};
use super::msg::{Message, MsgError};
use super::nla::{Attr, NLA_HDRLEN};
use super::ret_code::RetCode;
use super::sets::{SetDef, Tla};
use super::typed::{CfgContext, SetDecode};
use super::validate::{
    errno, validate_set, ErrorKind, Outcome, SetView, ValidateOpts, ValidationError,
};

/// Why a request was refused before reaching its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Broken headers or top-level framing.
    Message(MsgError),
    /// A command number the family does not have, or has no op for.
    UnknownCommand(u8),
    /// An attribute set failed validation.
    Invalid(ValidationError),
}

impl RequestError {
    /// How the kernel reports it (netlink error or drbd reply).
    pub fn outcome(&self) -> Outcome {
        match self {
            RequestError::Message(e) => Outcome::Netlink { errno: e.errno() },
            RequestError::UnknownCommand(_) => Outcome::Netlink {
                errno: errno::EOPNOTSUPP,
            },
            RequestError::Invalid(e) => e.outcome(),
        }
    }
}

impl From<ValidationError> for RequestError {
    fn from(e: ValidationError) -> Self {
        RequestError::Invalid(e)
    }
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::Message(e) => e.fmt(f),
            RequestError::UnknownCommand(c) => write!(f, "unknown command {}", c),
            RequestError::Invalid(e) => e.fmt(f),
        }
    }
}

/// A request that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidRequest<'a> {
    /// The message.
    pub msg: Message<'a>,
    /// The command's table entry.
    pub cmd: &'static CommandDef,
    /// The decoded `cfg_context`, if the request carries one.
    pub context: Option<CfgContext<'a>>,
    /// The raw `cfg_context` attribute, to echo in the reply
    /// ([`super::build::write_context_echo`]).
    pub context_attr: Option<Attr<'a>>,
}

impl<'a> ValidRequest<'a> {
    /// Minor from the DRBD header.
    pub const fn minor(&self) -> u32 {
        self.msg.drbd.minor
    }

    /// Whether `DRBD_GENL_F_SET_DEFAULTS` was given.
    pub const fn set_defaults(&self) -> bool {
        self.msg.drbd.set_defaults()
    }

    /// Decode the set `T` if the request carries it (already validated, so this cannot fail
    /// for the sets the command takes). A set the command takes as a change (`disk-options`'
    /// `disk_conf`, `net-options`' `net_conf`) is decoded as one: its required fields may be
    /// absent.
    pub fn get<T: SetDecode<'a>>(&self) -> Option<T> {
        self.view(T::set_def_static()).map(|v| T::from_set_view(&v))
    }

    /// The set `def` as the request carries it (validated as [`Self::get`] does), for
    /// generic access to its fields (a [`super::stored::StoredSet`] applies them).
    pub fn view(&self, def: &'static SetDef) -> Option<SetView<'a>> {
        let a = self.msg.tla(def.tla)?;
        let opts = ValidateOpts {
            change: self.cmd.request_tla(def.tla).is_some_and(|r| r.change),
            ..ValidateOpts::LENIENT
        };
        validate_set(def, a.payload(), &opts).ok()
    }
}

/// Validate the request in `buf` (one netlink message).
///
/// `check_ranges` additionally checks numeric values against the tables' limits (the 6.12
/// kernel leaves that to drbdsetup). On success every set the command takes has been checked
/// and can be decoded with [`ValidRequest::get`].
pub fn validate_request(buf: &[u8], check_ranges: bool) -> Result<ValidRequest<'_>, RequestError> {
    let msg = Message::parse(buf).map_err(RequestError::Message)?;
    validate_message(msg, check_ranges)
}

/// [`validate_request`] for an already framed message.
pub fn validate_message(
    msg: Message<'_>,
    check_ranges: bool,
) -> Result<ValidRequest<'_>, RequestError> {
    let cmd = command(msg.cmd())
        .filter(|c| c.is_op())
        .ok_or(RequestError::UnknownCommand(msg.cmd()))?;
    // genetlink's policy check of the family's NLA_NESTED top-level attributes.
    for a in msg.attrs() {
        let len = a.payload().len();
        if Tla::from_id(a.id()).is_some() && len > 0 && len < NLA_HDRLEN {
            return Err(RequestError::Message(MsgError::BadNest {
                ty: a.raw_type(),
            }));
        }
    }
    let mut context = None;
    let context_attr = msg.tla(Tla::CfgContext);
    if let Some(a) = context_attr {
        let opts = ValidateOpts {
            change: false,
            check_ranges,
        };
        let v = validate_set(Tla::CfgContext.set(), a.payload(), &opts)?;
        context = Some(CfgContext::from_view(&v));
    }
    for r in cmd.request.iter().filter(|r| r.tla != Tla::CfgContext) {
        match msg.tla(r.tla) {
            Some(a) => {
                let opts = ValidateOpts {
                    change: r.change,
                    check_ranges,
                };
                validate_set(r.tla.set(), a.payload(), &opts)?;
            }
            None if r.required => {
                return Err(RequestError::Invalid(ValidationError {
                    tla: Some(r.tla),
                    field: None,
                    attr_type: None,
                    kind: ErrorKind::MissingRequired,
                }))
            }
            None => {}
        }
    }
    Ok(ValidRequest {
        msg,
        cmd,
        context,
        context_attr,
    })
}

/// The reply code and info text for a validation failure that the kernel answers with a drbd
/// reply (`None` if it answers with a netlink error instead).
pub fn error_reply(e: &RequestError) -> Option<(RetCode, &'static str)> {
    match e.outcome() {
        Outcome::Reply {
            ret_code,
            info_text,
        } => Some((ret_code, info_text)),
        Outcome::Netlink { .. } => None,
    }
}
