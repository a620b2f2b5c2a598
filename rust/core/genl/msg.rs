// SPDX-License-Identifier: GPL-2.0
//! The message header layer: `nlmsghdr` (16 bytes), `genlmsghdr` (4), `drbd_genlmsghdr` (8),
//! then the top-level attributes.
//!
//! All header fields are in host byte order (little-endian on x86_64), encoded and decoded
//! with the native byte order like everything in this codec.

use super::nla::{align, Attr, Attrs, NlaError};
use super::ret_code::ReplyCode;
use super::sets::Tla;
use super::writer::{EncodeError, Writer};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// Size of `struct drbd_genlmsghdr` (the family's user header).
pub const DRBD_HDRLEN: usize = 8;
/// All three headers: where the top-level attributes start.
pub const HEADERS_LEN: usize = NLMSG_HDRLEN + GENL_HDRLEN + DRBD_HDRLEN;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: error or acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;
/// First message type available to families (`NLMSG_MIN_TYPE`).
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// `NLM_F_REQUEST`: a request (set by drbdsetup on everything it sends).
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multipart (dump) answer.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ECHO`.
pub const NLM_F_ECHO: u16 = 0x8;
/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_ROOT`.
pub const NLM_F_ROOT: u16 = 0x100;
/// `NLM_F_MATCH`.
pub const NLM_F_MATCH: u16 = 0x200;
/// `NLM_F_DUMP` (`ROOT | MATCH`): run the command's dumpit.
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// `NLM_F_EXCL` (same bit as `NLM_F_MATCH`, meaning for "new" requests): fail if it exists.
pub const NLM_F_EXCL: u16 = 0x200;

/// `drbd_genlmsghdr.flags` bit: reset the object's options to defaults before applying.
pub const DRBD_GENL_F_SET_DEFAULTS: u32 = 1;
/// Minor number meaning "no minor" (`~0`).
pub const MINOR_NONE: u32 = u32::MAX;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NlMsgHdr {
    /// `nlmsg_len`: length of the message including this header.
    pub len: u32,
    /// `nlmsg_type`: the family id for genetlink data messages, or `NLMSG_*`.
    pub ty: u16,
    /// `nlmsg_flags`: `NLM_F_*`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: sender port id (0 from the kernel).
    pub pid: u32,
}

impl NlMsgHdr {
    /// Decode from the first 16 bytes of `b`.
    pub fn parse(b: &[u8]) -> Option<Self> {
        Some(Self {
            len: u32_at(b, 0)?,
            ty: u16_at(b, 4)?,
            flags: u16_at(b, 6)?,
            seq: u32_at(b, 8)?,
            pid: u32_at(b, 12)?,
        })
    }

    /// Encode.
    pub fn to_bytes(&self) -> [u8; NLMSG_HDRLEN] {
        let (l, t, f) = (
            self.len.to_ne_bytes(),
            self.ty.to_ne_bytes(),
            self.flags.to_ne_bytes(),
        );
        let (s, p) = (self.seq.to_ne_bytes(), self.pid.to_ne_bytes());
        [
            l[0], l[1], l[2], l[3], t[0], t[1], f[0], f[1], s[0], s[1], s[2], s[3], p[0], p[1],
            p[2], p[3],
        ]
    }
}

/// `struct genlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenlMsgHdr {
    /// Command number.
    pub cmd: u8,
    /// Family version (1).
    pub version: u8,
    /// Reserved, 0.
    pub reserved: u16,
}

impl GenlMsgHdr {
    /// Decode from the first 4 bytes of `b`.
    pub fn parse(b: &[u8]) -> Option<Self> {
        Some(Self {
            cmd: *b.first()?,
            version: *b.get(1)?,
            reserved: u16_at(b, 2)?,
        })
    }

    /// Encode.
    pub fn to_bytes(&self) -> [u8; GENL_HDRLEN] {
        let r = self.reserved.to_ne_bytes();
        [self.cmd, self.version, r[0], r[1]]
    }
}

/// `struct drbd_genlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrbdGenlMsgHdr {
    /// Minor the message is about, or [`MINOR_NONE`].
    pub minor: u32,
    /// Requests: `DRBD_GENL_F_*` flags; replies: the `ret_code` (as u32).
    pub flags: u32,
}

impl DrbdGenlMsgHdr {
    /// Decode from the first 8 bytes of `b`.
    pub fn parse(b: &[u8]) -> Option<Self> {
        Some(Self {
            minor: u32_at(b, 0)?,
            flags: u32_at(b, 4)?,
        })
    }

    /// Encode.
    pub fn to_bytes(&self) -> [u8; DRBD_HDRLEN] {
        let (m, f) = (self.minor.to_ne_bytes(), self.flags.to_ne_bytes());
        [m[0], m[1], m[2], m[3], f[0], f[1], f[2], f[3]]
    }

    /// The union read as `ret_code` (replies).
    pub const fn ret_code(&self) -> i32 {
        self.flags as i32
    }

    /// Whether `DRBD_GENL_F_SET_DEFAULTS` is set (requests).
    pub const fn set_defaults(&self) -> bool {
        self.flags & DRBD_GENL_F_SET_DEFAULTS != 0
    }
}

/// Why a buffer is not a usable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgError {
    /// Shorter than the headers, or than `nlmsg_len` says.
    Truncated,
    /// `nlmsg_len` smaller than the headers it must contain.
    BadLength {
        /// The `nlmsg_len` found.
        len: u32,
    },
    /// A control message (`NLMSG_ERROR`, `NLMSG_DONE`, …) where a data message was expected.
    NotData {
        /// The `nlmsg_type` found.
        ty: u16,
    },
    /// The top-level attributes are malformed.
    Attr(NlaError),
    /// A known top-level attribute whose payload (1–3 bytes) cannot hold a nested attribute
    /// (the genetlink policy check of `NLA_NESTED`).
    BadNest {
        /// Wire type of the attribute.
        ty: u16,
    },
}

impl MsgError {
    /// The errno the kernel answers with (`EINVAL` for every framing problem).
    pub const fn errno(&self) -> i32 {
        super::validate::errno::EINVAL
    }
}

impl core::fmt::Display for MsgError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MsgError::Truncated => f.write_str("truncated netlink message"),
            MsgError::BadLength { len } => write!(f, "bad nlmsg_len {}", len),
            MsgError::NotData { ty } => write!(f, "netlink control message type {}", ty),
            MsgError::Attr(e) => write!(f, "malformed top-level attributes: {}", e),
            MsgError::BadNest { ty } => write!(f, "top-level attribute {:#06x} too short", ty),
        }
    }
}

/// One netlink message of a datagram: its header and its payload (`nlmsg_len` bounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub hdr: NlMsgHdr,
    /// The bytes after the header, up to `nlmsg_len`.
    pub payload: &'a [u8],
    /// The whole message, header included.
    pub bytes: &'a [u8],
}

/// What a [`Frame`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `NLMSG_NOOP` / `NLMSG_OVERRUN`.
    Noop,
    /// `NLMSG_ERROR`: `error` is 0 for an ack, else a negative errno.
    Error {
        /// `nlmsgerr.error`.
        error: i32,
        /// Header of the request it answers, if included.
        request: Option<NlMsgHdr>,
    },
    /// `NLMSG_DONE`: end of a dump.
    Done,
    /// A family message.
    Data,
}

impl<'a> Frame<'a> {
    /// Classify the frame. A truncated `NLMSG_ERROR` reads as error `-EINVAL`.
    pub fn kind(&self) -> FrameKind {
        match self.hdr.ty {
            NLMSG_NOOP | NLMSG_OVERRUN => FrameKind::Noop,
            NLMSG_ERROR => FrameKind::Error {
                error: u32_at(self.payload, 0)
                    .map(|v| v as i32)
                    .unwrap_or(-super::validate::errno::EINVAL),
                request: self.payload.get(4..).and_then(NlMsgHdr::parse),
            },
            NLMSG_DONE => FrameKind::Done,
            _ => FrameKind::Data,
        }
    }
}

/// Iterator over the netlink messages of a received datagram (each aligned to 4 bytes).
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Frames<'a> {
    /// Walk the messages in `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            offset: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, MsgError>;

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
        let r = (|| {
            let hdr = NlMsgHdr::parse(rest).ok_or(MsgError::Truncated)?;
            let len = usize::try_from(hdr.len).map_err(|_| MsgError::Truncated)?;
            if len < NLMSG_HDRLEN {
                return Err(MsgError::BadLength { len: hdr.len });
            }
            let bytes = rest.get(..len).ok_or(MsgError::Truncated)?;
            let payload = bytes.get(NLMSG_HDRLEN..).unwrap_or(&[]);
            Ok((
                Frame {
                    hdr,
                    payload,
                    bytes,
                },
                len,
            ))
        })();
        match r {
            Ok((f, len)) => {
                self.offset = self.offset.saturating_add(align(len));
                Some(Ok(f))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A DRBD family message: the three headers and the (well-formed) top-level attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Netlink header.
    pub nl: NlMsgHdr,
    /// Generic netlink header.
    pub genl: GenlMsgHdr,
    /// DRBD header.
    pub drbd: DrbdGenlMsgHdr,
    attrs: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parse the message at the start of `buf` (bytes after `nlmsg_len` are ignored).
    /// Checks the header lengths and that the top-level attributes are well-formed TLVs.
    pub fn parse(buf: &'a [u8]) -> Result<Self, MsgError> {
        let nl = NlMsgHdr::parse(buf).ok_or(MsgError::Truncated)?;
        let len = usize::try_from(nl.len).map_err(|_| MsgError::Truncated)?;
        if len < NLMSG_HDRLEN {
            return Err(MsgError::BadLength { len: nl.len });
        }
        let bytes = buf.get(..len).ok_or(MsgError::Truncated)?;
        Self::from_frame(&Frame {
            hdr: nl,
            payload: bytes.get(NLMSG_HDRLEN..).unwrap_or(&[]),
            bytes,
        })
    }

    /// Interpret a frame as a DRBD message.
    pub fn from_frame(f: &Frame<'a>) -> Result<Self, MsgError> {
        if f.hdr.ty < NLMSG_MIN_TYPE {
            return Err(MsgError::NotData { ty: f.hdr.ty });
        }
        if f.payload.len() < GENL_HDRLEN + DRBD_HDRLEN {
            return Err(MsgError::BadLength { len: f.hdr.len });
        }
        let genl = GenlMsgHdr::parse(f.payload).ok_or(MsgError::Truncated)?;
        let drbd = f
            .payload
            .get(GENL_HDRLEN..)
            .and_then(DrbdGenlMsgHdr::parse)
            .ok_or(MsgError::Truncated)?;
        let attrs = f.payload.get(GENL_HDRLEN + DRBD_HDRLEN..).unwrap_or(&[]);
        Attrs::check(attrs).map_err(MsgError::Attr)?;
        Ok(Self {
            nl: f.hdr,
            genl,
            drbd,
            attrs,
        })
    }

    /// Command number.
    pub const fn cmd(&self) -> u8 {
        self.genl.cmd
    }

    /// Minor from the DRBD header.
    pub const fn minor(&self) -> u32 {
        self.drbd.minor
    }

    /// The reply's `ret_code`, classified.
    pub const fn reply_code(&self) -> ReplyCode {
        ReplyCode::from_raw(self.drbd.ret_code())
    }

    /// The top-level attribute bytes.
    pub const fn attr_bytes(&self) -> &'a [u8] {
        self.attrs
    }

    /// Iterate the top-level attributes.
    pub fn attrs(&self) -> impl Iterator<Item = Attr<'a>> {
        Attrs::new(self.attrs).map_while(Result::ok)
    }

    /// The last top-level attribute `tla` (flag bits ignored), like the kernel's parse.
    pub fn tla(&self, tla: Tla) -> Option<Attr<'a>> {
        Attrs::find_last(self.attrs, tla.id())
    }

    /// `cfg_reply.info_text`, if the message carries a well-formed one.
    pub fn info_text(&self) -> Option<&'a [u8]> {
        let reply = self.tla(Tla::CfgReply)?;
        let def = super::sets::CFG_REPLY.field(1)?;
        let a = Attrs::find_last(reply.payload(), def.id)?;
        super::value::decode_attr(def, &a).ok()?.as_str_bytes()
    }
}

/// Header values of a message to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `nlmsg_type`: the family id (from `nlctrl`).
    pub family: u16,
    /// `nlmsg_flags`.
    pub nl_flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// Command number.
    pub cmd: u8,
    /// DRBD header: minor.
    pub minor: u32,
    /// DRBD header: flags (requests) or ret_code (replies).
    pub flags: u32,
}

/// An open message; close it with [`end_message`].
#[derive(Debug)]
#[must_use = "a message must be closed with end_message"]
pub struct MessageStart {
    start: usize,
}

/// Write the three headers (with a provisional `nlmsg_len`). Messages start at a 4-byte
/// boundary; padding is added first if needed.
pub fn begin_message(w: &mut Writer<'_>, h: &Header) -> Result<MessageStart, EncodeError> {
    let before = w.len();
    w.pad_to_alignment()?;
    let start = w.len();
    let nl = NlMsgHdr {
        len: HEADERS_LEN as u32,
        ty: h.family,
        flags: h.nl_flags,
        seq: h.seq,
        pid: h.pid,
    };
    let genl = GenlMsgHdr {
        cmd: h.cmd,
        version: super::FAMILY_VERSION as u8,
        reserved: 0,
    };
    let drbd = DrbdGenlMsgHdr {
        minor: h.minor,
        flags: h.flags,
    };
    let r = w
        .put_raw(&nl.to_bytes())
        .and_then(|_| w.put_raw(&genl.to_bytes()))
        .and_then(|_| w.put_raw(&drbd.to_bytes()));
    match r {
        Ok(()) => Ok(MessageStart { start }),
        Err(e) => {
            w.truncate(before);
            Err(e)
        }
    }
}

/// Patch `nlmsg_len` of a message begun with [`begin_message`]; returns its length.
pub fn end_message(w: &mut Writer<'_>, m: MessageStart) -> Result<usize, EncodeError> {
    let len = w.len().saturating_sub(m.start);
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLarge)?;
    w.patch(m.start, &len32.to_ne_bytes())?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = NlMsgHdr {
            len: 40,
            ty: 0x1c,
            flags: 5,
            seq: 7,
            pid: 99,
        };
        assert_eq!(NlMsgHdr::parse(&h.to_bytes()), Some(h));
        assert_eq!(NlMsgHdr::parse(&h.to_bytes()[..15]), None);
        let g = GenlMsgHdr {
            cmd: 14,
            version: 1,
            reserved: 0,
        };
        assert_eq!(GenlMsgHdr::parse(&g.to_bytes()), Some(g));
        let d = DrbdGenlMsgHdr {
            minor: MINOR_NONE,
            flags: (-2i32) as u32,
        };
        assert_eq!(DrbdGenlMsgHdr::parse(&d.to_bytes()), Some(d));
        assert_eq!(d.ret_code(), -2);
    }

    #[test]
    fn message_errors() {
        assert_eq!(Message::parse(&[]), Err(MsgError::Truncated));
        let mut b = [0u8; 28];
        b[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(Message::parse(&b), Err(MsgError::BadLength { len: 8 }));
        b[..4].copy_from_slice(&20u32.to_ne_bytes());
        b[4..6].copy_from_slice(&0x20u16.to_ne_bytes());
        assert_eq!(Message::parse(&b), Err(MsgError::BadLength { len: 20 }));
        b[..4].copy_from_slice(&29u32.to_ne_bytes());
        assert_eq!(Message::parse(&b), Err(MsgError::Truncated));
        b[..4].copy_from_slice(&28u32.to_ne_bytes());
        assert!(Message::parse(&b).is_ok());
        b[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert_eq!(Message::parse(&b), Err(MsgError::NotData { ty: 3 }));
    }

    #[test]
    fn frames() {
        let mut buf = vec![0u8; 64];
        let mut w = Writer::new(&mut buf);
        let h = Header {
            family: 0x1c,
            nl_flags: NLM_F_MULTI,
            seq: 1,
            pid: 2,
            cmd: 2,
            minor: 0,
            flags: 101,
        };
        let m = begin_message(&mut w, &h).unwrap();
        end_message(&mut w, m).unwrap();
        w.put_raw(
            &NlMsgHdr {
                len: 20,
                ty: NLMSG_DONE,
                flags: NLM_F_MULTI,
                seq: 1,
                pid: 2,
            }
            .to_bytes(),
        )
        .unwrap();
        w.put_raw(&0u32.to_ne_bytes()).unwrap();
        let n = w.len();
        let frames: Vec<_> = Frames::new(&buf[..n]).collect();
        assert_eq!(frames.len(), 2);
        let f0 = frames[0].unwrap();
        assert_eq!(f0.kind(), FrameKind::Data);
        let m = Message::from_frame(&f0).unwrap();
        assert_eq!(m.reply_code(), ReplyCode::from_raw(101));
        assert_eq!(frames[1].unwrap().kind(), FrameKind::Done);
        // An NLMSG_ERROR carrying -EPERM and the request header.
        let mut e = NlMsgHdr {
            len: 36,
            ty: NLMSG_ERROR,
            flags: 0,
            seq: 1,
            pid: 2,
        }
        .to_bytes()
        .to_vec();
        e.extend((-1i32).to_ne_bytes());
        e.extend(h_bytes());
        let f = Frames::new(&e).next().unwrap().unwrap();
        assert!(matches!(
            f.kind(),
            FrameKind::Error {
                error: -1,
                request: Some(NlMsgHdr { ty: 0x1c, .. })
            }
        ));
        // A frame claiming more than there is.
        let mut t = e.clone();
        t.truncate(30);
        assert_eq!(Frames::new(&t).next(), Some(Err(MsgError::Truncated)));
    }

    fn h_bytes() -> [u8; 16] {
        NlMsgHdr {
            len: 28,
            ty: 0x1c,
            flags: 1,
            seq: 1,
            pid: 2,
        }
        .to_bytes()
    }
}
