// SPDX-License-Identifier: GPL-2.0
//! Building complete messages: requests (tool side), replies and notifications (kernel side).
//!
//! The `build_*` functions fill a caller-provided buffer with one message and return its
//! length; the `write_*` functions append one message to a [`Writer`] (several messages in one
//! buffer, as in a dump).

use super::commands::Command;
use super::msg::{begin_message, end_message, Header, DRBD_GENL_F_SET_DEFAULTS, NLM_F_REQUEST};
use super::nla::{Attr, DRBD_GENLA_F_MANDATORY};
use super::ret_code::{ReplyCode, RetCode};
use super::typed::{CfgReply, EncodeOpts, SetEncode};
use super::writer::{EncodeError, Writer};

/// Header values of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// Family id resolved through `nlctrl`.
    pub family: u16,
    /// The command.
    pub cmd: Command,
    /// Minor to operate on, or [`super::msg::MINOR_NONE`] when the object is named in
    /// `cfg_context`.
    pub minor: u32,
    /// `DRBD_GENL_F_SET_DEFAULTS` (`--set-defaults`).
    pub set_defaults: bool,
    /// Extra `NLM_F_*` flags (`NLM_F_DUMP` for dumps); `NLM_F_REQUEST` is always set.
    pub nl_flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid` (the socket's port id; drbdsetup fills it in, the kernel ignores it).
    pub pid: u32,
}

/// Header values of a reply or notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    /// Family id.
    pub family: u16,
    /// Command number (a reply repeats the request's).
    pub cmd: u8,
    /// `NLM_F_*` flags (`NLM_F_MULTI` in dumps, 0 otherwise).
    pub nl_flags: u16,
    /// `nlmsg_seq` (the request's for replies; a global counter for broadcasts).
    pub seq: u32,
    /// `nlmsg_pid` (the requester's port id for replies, 0 for broadcasts).
    pub pid: u32,
    /// Minor the message is about (replies echo the request's minor), or `~0`.
    pub minor: u32,
    /// The result code.
    pub ret: ReplyCode,
}

/// Append a request: headers, then `sets` in the tool's style (mandatory bits,
/// `NLA_F_NESTED`). Returns the message length.
pub fn write_request(
    w: &mut Writer<'_>,
    h: &RequestHeader,
    sets: &[&dyn SetEncode],
) -> Result<usize, EncodeError> {
    let before = w.len();
    let r = (|| {
        let m = begin_message(
            w,
            &Header {
                family: h.family,
                nl_flags: h.nl_flags | NLM_F_REQUEST,
                seq: h.seq,
                pid: h.pid,
                cmd: h.cmd.number(),
                minor: h.minor,
                flags: if h.set_defaults {
                    DRBD_GENL_F_SET_DEFAULTS
                } else {
                    0
                },
            },
        )?;
        for s in sets {
            s.encode(w, &EncodeOpts::TOOL)?;
        }
        end_message(w, m)
    })();
    r.inspect_err(|_| w.truncate(before))
}

/// Build a complete request in `buf`; returns its length.
pub fn build_request(
    buf: &mut [u8],
    h: &RequestHeader,
    sets: &[&dyn SetEncode],
) -> Result<usize, EncodeError> {
    write_request(&mut Writer::new(buf), h, sets)
}

/// Append a copy of a request's `cfg_context` top-level attribute, as `drbd_adm_prepare`
/// does: same top-level type, nested attributes with the mandatory bit stripped (the kernel
/// strips it in place while validating, before copying).
pub fn write_context_echo(w: &mut Writer<'_>, ctx: &Attr<'_>) -> Result<(), EncodeError> {
    let nest = w.nest_start(ctx.raw_type())?;
    let r = (|| {
        for child in ctx.nested() {
            match child {
                Ok(c) => w.put_attr(c.raw_type() & !DRBD_GENLA_F_MANDATORY, c.payload())?,
                // Not reachable for a validated context; keep the rest verbatim.
                Err(e) => w.put_raw(ctx.payload().get(e.offset..).unwrap_or(&[]))?,
            }
        }
        Ok(())
    })();
    match r {
        Ok(()) => w.nest_end(nest),
        Err(e) => {
            w.nest_cancel(nest);
            Err(e)
        }
    }
}

/// Append a reply (or any kernel message): headers, the echoed request context (if any),
/// `cfg_reply.info_text` (if given and non-empty), then `sets` in the kernel's style.
pub fn write_reply(
    w: &mut Writer<'_>,
    h: &ReplyHeader,
    echo_context: Option<&Attr<'_>>,
    info_text: Option<&[u8]>,
    sets: &[&dyn SetEncode],
    opts: &EncodeOpts,
) -> Result<usize, EncodeError> {
    let before = w.len();
    let r = (|| {
        let m = begin_message(
            w,
            &Header {
                family: h.family,
                nl_flags: h.nl_flags,
                seq: h.seq,
                pid: h.pid,
                cmd: h.cmd,
                minor: h.minor,
                flags: h.ret.raw() as u32,
            },
        )?;
        if let Some(ctx) = echo_context {
            write_context_echo(w, ctx)?;
        }
        if let Some(text) = info_text.filter(|t| !t.is_empty()) {
            CfgReply {
                info_text: Some(text),
            }
            .encode(w, opts)?;
        }
        for s in sets {
            s.encode(w, opts)?;
        }
        end_message(w, m)
    })();
    r.inspect_err(|_| w.truncate(before))
}

/// Build a complete reply in `buf`; returns its length.
pub fn build_reply(
    buf: &mut [u8],
    h: &ReplyHeader,
    echo_context: Option<&Attr<'_>>,
    info_text: Option<&[u8]>,
    sets: &[&dyn SetEncode],
    opts: &EncodeOpts,
) -> Result<usize, EncodeError> {
    write_reply(
        &mut Writer::new(buf),
        h,
        echo_context,
        info_text,
        sets,
        opts,
    )
}

/// Header values of a broadcast notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationHeader {
    /// Family id.
    pub family: u16,
    /// The notification command (`DRBD_EVENT`, `DRBD_*_STATE`, `DRBD_HELPER`, …).
    pub cmd: Command,
    /// Broadcast sequence number.
    pub seq: u32,
    /// Minor the message is about, or `~0`.
    pub minor: u32,
}

/// Append a notification: `nlmsg_pid` 0, no flags, `ret_code` `NO_ERROR`, `sets` in the
/// kernel's style (pass [`EncodeOpts::KERNEL`]: no sensitive fields in multicasts).
pub fn write_notification(
    w: &mut Writer<'_>,
    h: &NotificationHeader,
    sets: &[&dyn SetEncode],
    opts: &EncodeOpts,
) -> Result<usize, EncodeError> {
    write_reply(
        w,
        &ReplyHeader {
            family: h.family,
            cmd: h.cmd.number(),
            nl_flags: 0,
            seq: h.seq,
            pid: 0,
            minor: h.minor,
            ret: ReplyCode::Ret(RetCode::NoError),
        },
        None,
        None,
        sets,
        opts,
    )
}

/// Build a complete notification in `buf`; returns its length.
pub fn build_notification(
    buf: &mut [u8],
    h: &NotificationHeader,
    sets: &[&dyn SetEncode],
    opts: &EncodeOpts,
) -> Result<usize, EncodeError> {
    write_notification(&mut Writer::new(buf), h, sets, opts)
}
