//! The transport the admin tool uses to talk to the kernel's `drbd` generic-netlink family
//! (Linux's `drbd.ko` or our `drbd_rs.ko`: same family, same wire format).
//!
//! * [`DrbdGenl::open`] opens a `NETLINK_GENERIC` socket and resolves the family `drbd`
//!   through `nlctrl` (id, version, user header size, highest attribute, multicast groups),
//!   refusing a family whose version is not 1 or whose user header is not 8 bytes, like
//!   drbdsetup-84 ("API mismatch").
//! * [`DrbdGenl::request`] sends one doit request and returns the kernel's [`Reply`]:
//!   the `ret_code` ([`ReplyCode`]), `cfg_reply.info_text`, and the raw message for decoding
//!   typed sets ([`Reply::message`]).
//! * [`DrbdGenl::dump`] runs an `NLM_F_DUMP` request and collects every message until
//!   `NLMSG_DONE`, across as many datagrams as the kernel needs.
//! * [`DrbdGenl::subscribe_events`] joins the family's `events` multicast group on a second
//!   socket and receives notifications with a timeout ([`Events::recv`]).
//!
//! Message framing and decoding are the core's ([`drbd_core::genl`]); this module only moves
//! datagrams, matches them to requests and maps failures to [`NlError`].
//!
//! # Request semantics
//!
//! Every request gets a fresh sequence number; received messages with another sequence number
//! (stale answers, anything unrelated) are skipped. Doit requests carry `NLM_F_ACK` (drbdsetup
//! sends none, the drbd family does not care): the kernel then answers with the drbd reply and
//! an acknowledgement (`NLMSG_ERROR` with error 0), so a request the kernel accepted without
//! replying is reported at once ([`NlError::NoReply`]) instead of after the timeout. Both are
//! queued before the kernel's `sendmsg` returns; if the acknowledgement still does not follow
//! the reply within [`ACK_GRACE`], the reply is returned anyway. Failures before the drbd
//! handler runs (no `CAP_NET_ADMIN`, a context that does not validate, no memory) come as
//! `NLMSG_ERROR` with a negative errno and no reply ([`NlError::Kernel`],
//! [`NlError::PermissionDenied`]). A dump's own failure comes as the error code in
//! `NLMSG_DONE` and is reported the same way.
//!
//! Nothing here panics on what the kernel sends: malformed datagrams become
//! [`NlError::Malformed`].

mod ctrl;
mod exchange;
mod socket;
#[cfg(test)]
mod tests;

pub use socket::{NlSocket, Received, Transport, MAX_DATAGRAM_SIZE, RECV_BUFFER_SIZE};

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use drbd_core::genl::build::{build_request, RequestHeader};
use drbd_core::genl::commands::Command;
use drbd_core::genl::msg::{FrameKind, Frames, Message, MsgError, NLM_F_ACK, NLM_F_DUMP};
use drbd_core::genl::msg::{NLMSG_HDRLEN, NLM_F_ROOT};
use drbd_core::genl::ret_code::ReplyCode;
use drbd_core::genl::typed::SetEncode;
use drbd_core::genl::writer::EncodeError;
use drbd_core::genl::{FAMILY_NAME, FAMILY_VERSION, MCGRP_EVENTS, USER_HEADER_SIZE};

use exchange::{Exchange, Mode};

/// How long a request waits for its answer unless changed with [`DrbdGenl::set_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a doit request waits for the acknowledgement once its reply has arrived.
pub const ACK_GRACE: Duration = Duration::from_secs(1);

/// Initial size of the request buffer; it grows (up to [`MAX_REQUEST_SIZE`]) for larger
/// requests.
const INITIAL_REQUEST_BUFFER: usize = 4096;

/// Largest request this module builds.
pub const MAX_REQUEST_SIZE: usize = 1 << 20;

/// `Instant::now() + timeout`, saturating at about a year instead of overflowing.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86400)))
        .unwrap_or(now)
}

/// `strerror(errno)`: the system's text for an errno, without std's " (os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.strip_suffix(&format!(" (os error {errno})")) {
        Some(t) => t.to_owned(),
        None => text,
    }
}

/// Why talking to the kernel failed.
#[derive(Debug)]
pub enum NlError {
    /// A socket call failed (`socket()`, `bind()`, `send()`, `recv()`, joining a group).
    Socket {
        /// The call.
        op: &'static str,
        /// Its error.
        source: io::Error,
    },
    /// `nlctrl` knows no family `drbd`: the module is not loaded.
    FamilyNotFound,
    /// The family is not the DRBD 8.4 API (version 1, 8-byte user header).
    ApiMismatch {
        /// The kernel family's version.
        version: u32,
        /// The kernel family's user header size.
        hdrsize: u32,
    },
    /// `EPERM`: the request needs `CAP_NET_ADMIN`.
    PermissionDenied,
    /// The kernel refused the request with `NLMSG_ERROR` (or failed a dump) with this errno.
    Kernel {
        /// The errno (positive).
        errno: i32,
        /// Its `strerror` text.
        text: String,
    },
    /// No answer within the timeout.
    Timeout(Duration),
    /// The socket's receive queue overflowed (`ENOBUFS`): messages were lost.
    Overrun,
    /// A datagram was larger than [`MAX_DATAGRAM_SIZE`] and was lost.
    Truncated {
        /// Its length.
        len: usize,
    },
    /// The kernel sent something that is not a well-formed answer.
    Malformed(String),
    /// The kernel acknowledged a doit request without sending a reply.
    NoReply,
    /// The family has no multicast group `events`.
    NoEventsGroup,
    /// The request could not be encoded.
    Encode(EncodeError),
}

impl NlError {
    /// The error for errno `errno` (positive) reported by the kernel.
    pub fn from_errno(errno: i32) -> Self {
        if errno == libc::EPERM {
            NlError::PermissionDenied
        } else {
            NlError::Kernel {
                errno,
                text: strerror(errno),
            }
        }
    }

    /// The error for an `NLMSG_ERROR`/`NLMSG_DONE` error field (a negative errno).
    pub(crate) fn from_kernel_error(error: i32) -> Self {
        Self::from_errno(if error < 0 {
            error.saturating_neg()
        } else {
            error
        })
    }

    /// The error for a failed socket call.
    pub(crate) fn from_io(op: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => NlError::PermissionDenied,
            Some(libc::ENOBUFS) => NlError::Overrun,
            _ => NlError::Socket { op, source },
        }
    }

    /// The errno behind the error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Socket { source, .. } => source.raw_os_error(),
            NlError::PermissionDenied => Some(libc::EPERM),
            NlError::Kernel { errno, .. } => Some(*errno),
            NlError::Overrun => Some(libc::ENOBUFS),
            NlError::FamilyNotFound => Some(libc::ENOENT),
            _ => None,
        }
    }
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlError::Socket { op, source } => match source.raw_os_error() {
                Some(errno) => write!(f, "netlink {op} failed: {}", strerror(errno)),
                None => write!(f, "netlink {op} failed: {source}"),
            },
            NlError::FamilyNotFound => {
                f.write_str("the drbd module is not loaded (no generic-netlink family 'drbd')")
            }
            NlError::ApiMismatch { version, hdrsize } => write!(
                f,
                "API mismatch! API version drbdadm-rs: {FAMILY_VERSION} kernel: {version}, \
                 header size drbdadm-rs: {USER_HEADER_SIZE} kernel: {hdrsize}"
            ),
            NlError::PermissionDenied => {
                f.write_str("permission denied: needs root (CAP_NET_ADMIN)")
            }
            NlError::Kernel { text, .. } => f.write_str(text),
            NlError::Timeout(after) => write!(f, "timed out waiting for reply (after {after:?})"),
            NlError::Overrun => f.write_str("packets dropped, socket receive buffer overrun"),
            NlError::Truncated { len } => {
                write!(f, "netlink datagram of {len} bytes too large, dropped")
            }
            NlError::Malformed(what) => write!(f, "malformed netlink reply: {what}"),
            NlError::NoReply => {
                f.write_str("the kernel acknowledged the request without sending a reply")
            }
            NlError::NoEventsGroup => {
                f.write_str("the drbd family has no multicast group 'events'")
            }
            NlError::Encode(e) => write!(f, "could not encode the request: {e}"),
        }
    }
}

impl std::error::Error for NlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NlError::Socket { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One multicast group of a family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McastGroup {
    /// Group name (`events` for drbd).
    pub name: String,
    /// Group id (what `NETLINK_ADD_MEMBERSHIP` takes).
    pub id: u32,
}

/// A generic-netlink family as `nlctrl` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyInfo {
    /// Family id: the `nlmsg_type` of its messages.
    pub id: u16,
    /// Family name.
    pub name: String,
    /// Family version (`CTRL_ATTR_VERSION`).
    pub version: u32,
    /// User header size (`CTRL_ATTR_HDRSIZE`).
    pub hdrsize: u32,
    /// Highest top-level attribute (`CTRL_ATTR_MAXATTR`).
    pub maxattr: u32,
    /// Multicast groups.
    pub mcast_groups: Vec<McastGroup>,
}

impl FamilyInfo {
    /// Id of the multicast group called `name`.
    pub fn mcast_group(&self, name: &str) -> Option<u32> {
        self.mcast_groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.id)
    }

    /// Id of drbd's `events` group.
    pub fn events_group(&self) -> Option<u32> {
        self.mcast_group(MCGRP_EVENTS.to_str().unwrap_or("events"))
    }
}

/// One DRBD family message from the kernel (a doit reply, one part of a dump, or a
/// notification), owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The `ret_code` of the DRBD header.
    pub code: ReplyCode,
    /// `cfg_reply.info_text`, if the kernel added one.
    pub info_text: Option<String>,
    /// The whole netlink message, headers included (exactly `nlmsg_len` bytes).
    pub raw: Vec<u8>,
}

impl Reply {
    /// Take a received message (headers included); fails if it is not a well-formed DRBD
    /// family message.
    pub fn from_bytes(mut raw: Vec<u8>) -> Result<Self, MsgError> {
        let (code, info_text, len) = {
            let m = Message::parse(&raw)?;
            (
                m.reply_code(),
                m.info_text()
                    .map(|t| String::from_utf8_lossy(t).into_owned()),
                m.nl.len,
            )
        };
        // `Message::parse` checked that `nlmsg_len` bytes are there.
        raw.truncate(usize::try_from(len).unwrap_or(raw.len()).max(NLMSG_HDRLEN));
        Ok(Self {
            code,
            info_text,
            raw,
        })
    }

    /// A view of the message for decoding typed sets (`StateInfo::from_message`, …). Always
    /// `Some` for a reply this module returned.
    pub fn message(&self) -> Option<Message<'_>> {
        Message::parse(&self.raw).ok()
    }

    /// The command number of the message.
    pub fn cmd(&self) -> Option<u8> {
        self.message().map(|m| m.cmd())
    }

    /// The minor of the DRBD header (`~0` for resource/connection-level messages).
    pub fn minor(&self) -> Option<u32> {
        self.message().map(|m| m.minor())
    }

    /// Whether [`Reply::code`] is a success for drbdsetup (`NO_ERROR` or an `SS_*` ≥ 1).
    pub fn is_success(&self) -> bool {
        self.code.is_success()
    }
}

/// Extra header settings of a request (see [`DrbdGenl::request_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Extra `NLM_F_*` flags, e.g. `NLM_F_EXCL` for new-resource/new-minor that must not
    /// exist yet. `NLM_F_REQUEST` and `NLM_F_ACK` are always set; use [`DrbdGenl::dump`] for
    /// dumps.
    pub nl_flags: u16,
    /// `DRBD_GENL_F_SET_DEFAULTS` (`--set-defaults` of the *-options commands).
    pub set_defaults: bool,
}

/// What one receive attempt gave.
enum Got {
    Data(usize),
    TimedOut,
    Again,
}

fn recv_datagram<T: Transport>(
    transport: &mut T,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> Result<Got, NlError> {
    match transport.recv(buf, wait) {
        Ok(Received::Datagram(n)) => Ok(Got::Data(n.min(buf.len()))),
        Ok(Received::TimedOut) => Ok(Got::TimedOut),
        Ok(Received::Truncated { len }) => Err(NlError::Truncated { len }),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Got::Again),
        Err(e) => Err(NlError::from_io("recv()", e)),
    }
}

/// A first sequence number that differs between runs, like drbd-utils (`time(0)`); never 0.
fn initial_seq() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    (secs as u32).max(1)
}

/// A connection to the kernel's `drbd` generic-netlink family.
#[derive(Debug)]
pub struct DrbdGenl<T: Transport = NlSocket> {
    transport: T,
    family: FamilyInfo,
    seq: u32,
    timeout: Duration,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl DrbdGenl<NlSocket> {
    /// Open a generic-netlink socket and resolve the `drbd` family, with
    /// [`DEFAULT_TIMEOUT`].
    pub fn open() -> Result<Self, NlError> {
        Self::with_transport(NlSocket::open()?, DEFAULT_TIMEOUT)
    }

    /// Subscribe to the family's `events` multicast group on a new socket of its own (so that
    /// notifications never mix with request answers).
    pub fn subscribe_events(&self) -> Result<Events<NlSocket>, NlError> {
        Events::with_transport(NlSocket::open()?, &self.family)
    }
}

impl<T: Transport> DrbdGenl<T> {
    /// Resolve the `drbd` family over `transport`; `timeout` bounds every exchange.
    pub fn with_transport(transport: T, timeout: Duration) -> Result<Self, NlError> {
        let mut genl = Self {
            transport,
            family: FamilyInfo::default(),
            seq: initial_seq().wrapping_sub(1),
            timeout,
            send_buf: vec![0; INITIAL_REQUEST_BUFFER],
            recv_buf: Vec::new(),
        };
        genl.family = genl.resolve_family()?;
        Ok(genl)
    }

    /// The resolved family.
    pub fn family(&self) -> &FamilyInfo {
        &self.family
    }

    /// How long an exchange may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Change how long an exchange may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutable.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Send doit request `cmd` about `minor` (or [`drbd_core::genl::msg::MINOR_NONE`]) with
    /// the top-level attribute `sets`, with extra `NLM_F_*` flags `nl_flags` (usually 0), and
    /// wait for the kernel's reply.
    ///
    /// A reply whose code is an error is still `Ok`: check [`Reply::code`].
    pub fn request(
        &mut self,
        cmd: Command,
        minor: u32,
        sets: &[&dyn SetEncode],
        nl_flags: u16,
    ) -> Result<Reply, NlError> {
        self.request_with(
            cmd,
            minor,
            sets,
            RequestOptions {
                nl_flags,
                set_defaults: false,
            },
        )
    }

    /// [`DrbdGenl::request`] with all header options.
    pub fn request_with(
        &mut self,
        cmd: Command,
        minor: u32,
        sets: &[&dyn SetEncode],
        opts: RequestOptions,
    ) -> Result<Reply, NlError> {
        // Without ROOT the request can never be taken for a dump (MATCH doubles as EXCL).
        let nl_flags = (opts.nl_flags & !NLM_F_ROOT) | NLM_F_ACK;
        let seq = self.send_request(cmd, minor, sets, nl_flags, opts.set_defaults)?;
        let raw = self
            .exchange(seq, self.family.id, Mode::Single)?
            .into_iter()
            .next()
            .ok_or(NlError::NoReply)?;
        Reply::from_bytes(raw).map_err(|e| NlError::Malformed(e.to_string()))
    }

    /// Run dump request `cmd` (`NLM_F_DUMP`) with `minor` and `sets` (e.g. a `cfg_context`
    /// naming one resource) and return every message until `NLMSG_DONE`, in order.
    pub fn dump(
        &mut self,
        cmd: Command,
        minor: u32,
        sets: &[&dyn SetEncode],
    ) -> Result<Vec<Reply>, NlError> {
        let seq = self.send_request(cmd, minor, sets, NLM_F_DUMP, false)?;
        self.exchange(seq, self.family.id, Mode::Dump)?
            .into_iter()
            .map(|raw| Reply::from_bytes(raw).map_err(|e| NlError::Malformed(e.to_string())))
            .collect()
    }

    /// Receive notifications of the family on another transport (which joins the `events`
    /// group).
    pub fn events_with<U: Transport>(&self, transport: U) -> Result<Events<U>, NlError> {
        Events::with_transport(transport, &self.family)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    fn resolve_family(&mut self) -> Result<FamilyInfo, NlError> {
        let seq = self.next_seq();
        let name = FAMILY_NAME.to_bytes();
        let len = ctrl::build_getfamily(&mut self.send_buf, name, seq, self.transport.port_id())
            .map_err(NlError::Encode)?;
        self.send(len)?;
        let messages = match self.exchange(seq, ctrl::GENL_ID_CTRL, Mode::Single) {
            Err(NlError::Kernel { errno, .. }) if errno == libc::ENOENT => {
                return Err(NlError::FamilyNotFound)
            }
            Err(NlError::NoReply) => return Err(NlError::FamilyNotFound),
            r => r?,
        };
        let first = messages.first().ok_or(NlError::FamilyNotFound)?;
        let info = ctrl::parse_family(first).map_err(NlError::Malformed)?;
        if !info.name.is_empty() && info.name.as_bytes() != name {
            return Err(NlError::Malformed(format!(
                "nlctrl answered with family '{}'",
                info.name
            )));
        }
        if info.version != FAMILY_VERSION || info.hdrsize != USER_HEADER_SIZE {
            return Err(NlError::ApiMismatch {
                version: info.version,
                hdrsize: info.hdrsize,
            });
        }
        Ok(info)
    }

    fn send_request(
        &mut self,
        cmd: Command,
        minor: u32,
        sets: &[&dyn SetEncode],
        nl_flags: u16,
        set_defaults: bool,
    ) -> Result<u32, NlError> {
        let seq = self.next_seq();
        let header = RequestHeader {
            family: self.family.id,
            cmd,
            minor,
            set_defaults,
            nl_flags,
            seq,
            pid: self.transport.port_id(),
        };
        let len = loop {
            match build_request(&mut self.send_buf, &header, sets) {
                Ok(n) => break n,
                Err(EncodeError::BufferTooSmall) if self.send_buf.len() < MAX_REQUEST_SIZE => {
                    let bigger = self.send_buf.len().saturating_mul(2);
                    self.send_buf
                        .resize(bigger.clamp(INITIAL_REQUEST_BUFFER, MAX_REQUEST_SIZE), 0);
                }
                Err(e) => return Err(NlError::Encode(e)),
            }
        };
        self.send(len)?;
        Ok(seq)
    }

    fn send(&mut self, len: usize) -> Result<(), NlError> {
        let datagram = self
            .send_buf
            .get(..len)
            .ok_or(NlError::Encode(EncodeError::BufferTooSmall))?;
        loop {
            match self.transport.send(datagram) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NlError::from_io("send()", e)),
            }
        }
    }

    /// Receive until the exchange for `seq` is over; returns its messages.
    fn exchange(&mut self, seq: u32, msg_type: u16, mode: Mode) -> Result<Vec<Vec<u8>>, NlError> {
        let mut ex = Exchange::new(seq, msg_type, mode);
        let deadline = deadline_after(self.timeout);
        let mut ack_deadline: Option<Instant> = None;
        loop {
            let mut until = deadline;
            if mode == Mode::Single && ex.has_message() {
                until = until.min(*ack_deadline.get_or_insert_with(|| deadline_after(ACK_GRACE)));
            }
            let wait = until.saturating_duration_since(Instant::now());
            match recv_datagram(&mut self.transport, &mut self.recv_buf, wait)? {
                Got::Data(n) => ex.feed(self.recv_buf.get(..n).unwrap_or(&[]))?,
                Got::Again => continue,
                // The reply is there, only the acknowledgement is missing: good enough.
                Got::TimedOut if mode == Mode::Single && ex.has_message() => break,
                Got::TimedOut => return Err(NlError::Timeout(self.timeout)),
            }
            if ex.is_done() {
                break;
            }
        }
        Ok(ex.into_messages())
    }
}

/// A subscription to the `drbd` family's `events` multicast group.
#[derive(Debug)]
pub struct Events<T: Transport = NlSocket> {
    transport: T,
    family_id: u16,
    group: u32,
    buf: Vec<u8>,
    pending: VecDeque<Reply>,
    deferred: Option<NlError>,
}

impl<T: Transport> Events<T> {
    /// Join `family`'s `events` group on `transport`.
    pub fn with_transport(mut transport: T, family: &FamilyInfo) -> Result<Self, NlError> {
        let group = family.events_group().ok_or(NlError::NoEventsGroup)?;
        transport
            .join_group(group)
            .map_err(|e| NlError::from_io("NETLINK_ADD_MEMBERSHIP", e))?;
        Ok(Self {
            transport,
            family_id: family.id,
            group,
            buf: Vec::new(),
            pending: VecDeque::new(),
            deferred: None,
        })
    }

    /// The multicast group id joined.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// The next notification, waiting at most `timeout`; `Ok(None)` if none came.
    ///
    /// [`NlError::Overrun`] means notifications were lost (the receiver was too slow); the
    /// subscription stays usable. A malformed datagram is reported after the well-formed
    /// notifications that preceded it in the datagram.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Reply>, NlError> {
        if let Some(r) = self.pending.pop_front() {
            return Ok(Some(r));
        }
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let deadline = deadline_after(timeout);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match recv_datagram(&mut self.transport, &mut self.buf, wait)? {
                Got::TimedOut => return Ok(None),
                Got::Again => continue,
                Got::Data(n) => {
                    let datagram = self.buf.get(..n).unwrap_or(&[]);
                    for frame in Frames::new(datagram) {
                        let parsed =
                            frame
                                .map_err(|e| e.to_string())
                                .and_then(|f| match f.kind() {
                                    FrameKind::Data if f.hdr.ty == self.family_id => {
                                        Reply::from_bytes(f.bytes.to_vec())
                                            .map(Some)
                                            .map_err(|e| e.to_string())
                                    }
                                    _ => Ok(None),
                                });
                        match parsed {
                            Ok(Some(r)) => self.pending.push_back(r),
                            Ok(None) => {}
                            Err(e) => {
                                self.deferred = Some(NlError::Malformed(e));
                                break;
                            }
                        }
                    }
                    if let Some(r) = self.pending.pop_front() {
                        return Ok(Some(r));
                    }
                    if let Some(e) = self.deferred.take() {
                        return Err(e);
                    }
                }
            }
        }
    }
}
