// SPDX-License-Identifier: GPL-2.0
//! Kernel TCP sockets for DRBD's two connections, the data and the meta socket (wire
//! protocol §1.1): a [`TcpListener`] waiting for the peer, a [`TcpStream`] per connection,
//! both in the initial network namespace, and the [`SockAddr`] they use.
//!
//! Every call may sleep (process context only, never under a spinlock). Blocking calls sleep
//! interruptibly (the socket layer's own waits), bounded by the timeout given to them or set
//! on the socket, where 0 means "no limit" as for `SO_RCVTIMEO`. Streams allocate with
//! `GFP_NOIO` and without the task's page fragment: they carry writeback of drbd devices,
//! which must not recurse into the block layer.
//!
//! # Stopping a thread blocked in a socket call
//!
//! `kthread_stop()` alone does not end a socket wait: the waits re-check only their socket's
//! state, and some (`wait_woken()`) then spin until their timeout. The owner of a thread
//! that may block in [`TcpListener::accept`], [`TcpStream::connect`], a send or a receive:
//!
//! 1. sets whatever flag tells the thread's loop to end;
//! 2. calls `shutdown()` on every socket the thread may be blocked on (from any thread; the
//!    sockets are shared through an `Arc`): the blocked call, and every later one, returns
//!    [`SockError::ShutDown`] promptly;
//! 3. drops the thread's `Kthread` (`kthread_stop()`, which waits for the body to return);
//! 4. drops the sockets (`sock_release()`, process context only).

use core::ffi::{c_int, c_uint, c_void};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::bindings;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::ffi::c_ulong;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

use super::errno;
use super::ffi;
use super::pagebuf::PageBuf;
use crate::drbd_core::genl::addr::{self as genl_addr, SockAddr as GenlSockAddr};

/// Largest transfer handed to the network stack in one call: its byte counts are `int`.
const MAX_CALL_BYTES: usize = 1 << 30;

/// Pages of a [`PageBuf`] per call of the network stack (64 KiB; 256 bytes of bvecs on the
/// stack).
const BUF_CHUNK: usize = 16;

/// An IPv4 or IPv6 endpoint: address and port.
///
/// # Invariants
///
/// The address is `AF_INET` or `AF_INET6` (not `AF_INET_SDP`, which Linux 6.12 lacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SockAddr(GenlSockAddr);

impl SockAddr {
    /// `addr:port` over IPv4.
    pub(crate) const fn ipv4(addr: [u8; 4], port: u16) -> Self {
        Self(GenlSockAddr::ipv4(addr, port))
    }

    /// `[addr]:port` over IPv6 (no flow info, no scope).
    pub(crate) const fn ipv6(addr: [u8; 16], port: u16) -> Self {
        Self(GenlSockAddr::ipv6(addr, port))
    }

    /// The port.
    pub(crate) const fn port(&self) -> u16 {
        self.0.port()
    }

    /// The same address with another port.
    pub(crate) fn with_port(self, port: u16) -> Self {
        Self(match self.0 {
            GenlSockAddr::V4 { family, addr, .. } => GenlSockAddr::V4 { family, addr, port },
            GenlSockAddr::V6 {
                addr,
                flowinfo,
                scope_id,
                ..
            } => GenlSockAddr::V6 {
                addr,
                port,
                flowinfo,
                scope_id,
            },
        })
    }

    /// The address family (`AF_INET` or `AF_INET6`).
    pub(crate) const fn family(&self) -> u16 {
        self.0.family()
    }

    /// The `struct sockaddr_in`/`sockaddr_in6` the kernel takes.
    fn to_raw(self) -> Result<RawSockAddr> {
        let mut raw = RawSockAddr {
            bytes: [0; genl_addr::SOCKADDR_IN6_LEN],
            len: 0,
        };
        let len = self.0.encode(&mut raw.bytes).ok_or(EINVAL)?.len();
        raw.len = c_int::try_from(len).map_err(|_| EINVAL)?;
        Ok(raw)
    }
}

/// The addresses netlink gives (`my-addr`, `peer-addr`): IPv4 or IPv6 only.
impl TryFrom<GenlSockAddr> for SockAddr {
    type Error = Error;

    fn try_from(addr: GenlSockAddr) -> Result<Self> {
        match addr.family() {
            genl_addr::AF_INET | genl_addr::AF_INET6 => Ok(Self(addr)),
            _ => Err(errno::eafnosupport()),
        }
    }
}

impl From<SockAddr> for GenlSockAddr {
    fn from(addr: SockAddr) -> Self {
        addr.0
    }
}

/// A socket address in the kernel's layout, aligned for `struct sockaddr_in6`.
#[repr(C, align(8))]
struct RawSockAddr {
    bytes: [u8; genl_addr::SOCKADDR_IN6_LEN],
    len: c_int,
}

impl RawSockAddr {
    fn as_mut_ptr(&mut self) -> *mut bindings::sockaddr {
        self.bytes.as_mut_ptr().cast()
    }
}

/// Socket buffer sizes in bytes, drbd's `sndbuf-size` and `rcvbuf-size`; 0 leaves a buffer
/// to TCP's autotuning. Given when the socket is made, so that TCP's window scale can use
/// them; a size is used as given (not doubled like `SO_SNDBUF`), at least the stack's minimum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BufferSizes {
    /// Send buffer (0 = autotune).
    pub(crate) send: u32,
    /// Receive buffer (0 = autotune).
    pub(crate) receive: u32,
}

impl BufferSizes {
    /// Both autotuned (drbd's default).
    pub(crate) const AUTO: Self = Self {
        send: 0,
        receive: 0,
    };
}

/// Traffic class of a connection's packets (`SO_PRIORITY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// `TC_PRIO_INTERACTIVE_BULK`: the data socket.
    InteractiveBulk,
    /// `TC_PRIO_INTERACTIVE`: the meta socket (acks and pings must not queue behind data).
    Interactive,
}

/// Why a socket call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockError {
    /// The call's timeout (send, receive, connect or accept) expired without progress. The
    /// connection is intact: a caller counting `ko-count` may try again.
    TimedOut,
    /// The peer closed or reset the connection.
    Closed,
    /// `shutdown()` was called on this socket, possibly by another thread while the call was
    /// blocked.
    ShutDown,
    /// Anything else the network stack reported (refused, unreachable, out of memory, ...).
    Other(Error),
}

impl From<SockError> for Error {
    fn from(e: SockError) -> Self {
        match e {
            SockError::TimedOut => errno::etimedout(),
            SockError::Closed => errno::econnreset(),
            SockError::ShutDown => errno::eshutdown(),
            SockError::Other(e) => e,
        }
    }
}

/// A send or receive of a whole buffer that stopped early: why, and how many bytes had been
/// moved. After [`SockError::TimedOut`] the caller may continue with the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransferError {
    /// Why it stopped.
    pub(crate) kind: SockError,
    /// Bytes sent or received before it stopped.
    pub(crate) done: usize,
}

impl From<TransferError> for SockError {
    fn from(e: TransferError) -> Self {
        e.kind
    }
}

impl From<TransferError> for Error {
    fn from(e: TransferError) -> Self {
        e.kind.into()
    }
}

/// Part of one page to send, laid out as a `struct bio_vec` so that a slice of them is the
/// bvec array the network stack reads.
///
/// # Invariants
///
/// `bvec` describes `bv_len > 0` bytes at `bv_offset` from `bv_page` that stay allocated and
/// readable for `'a`.
#[repr(transparent)]
pub(crate) struct PageRange<'a> {
    bvec: bindings::bio_vec,
    _page: PhantomData<&'a Page>,
}

impl<'a> PageRange<'a> {
    /// `len` bytes from `offset` of `page`; the range must be non-empty and inside the page.
    pub(crate) fn new(page: &'a Page, offset: usize, len: usize) -> Result<Self> {
        let bvec = checked_bvec(page.as_ptr(), offset, len)?;
        Ok(Self {
            bvec,
            _page: PhantomData,
        })
    }

    /// A segment of a bio (multi-page segments allowed).
    ///
    /// # Safety
    ///
    /// `len > 0` bytes from `offset` of `page` (through the following pages of the same
    /// physically contiguous allocation, if they exceed it) stay allocated for `'a`.
    #[allow(dead_code)] // For the bios of the replication path.
    pub(crate) unsafe fn from_raw(page: NonNull<bindings::page>, offset: u32, len: u32) -> Self {
        Self {
            bvec: bindings::bio_vec {
                bv_page: page.as_ptr(),
                bv_len: len,
                bv_offset: offset,
            },
            _page: PhantomData,
        }
    }
}

/// Part of one page to receive into; a `struct bio_vec` like [`PageRange`].
///
/// # Invariants
///
/// `bvec` describes `bv_len > 0` bytes at `bv_offset` from `bv_page` that stay allocated for
/// `'a`, and nothing else accesses them meanwhile.
#[repr(transparent)]
pub(crate) struct PageRangeMut<'a> {
    bvec: bindings::bio_vec,
    _page: PhantomData<&'a mut Page>,
}

impl<'a> PageRangeMut<'a> {
    /// `len` bytes from `offset` of `page`; the range must be non-empty and inside the page.
    pub(crate) fn new(page: &'a mut Page, offset: usize, len: usize) -> Result<Self> {
        let bvec = checked_bvec(page.as_ptr(), offset, len)?;
        Ok(Self {
            bvec,
            _page: PhantomData,
        })
    }

    /// A segment of a bio (multi-page segments allowed).
    ///
    /// # Safety
    ///
    /// `len > 0` bytes from `offset` of `page` (through the following pages of the same
    /// physically contiguous allocation, if they exceed it) stay allocated for `'a`, and
    /// nothing else reads or writes them meanwhile.
    #[allow(dead_code)] // For the bios of the replication path.
    pub(crate) unsafe fn from_raw(page: NonNull<bindings::page>, offset: u32, len: u32) -> Self {
        Self {
            bvec: bindings::bio_vec {
                bv_page: page.as_ptr(),
                bv_len: len,
                bv_offset: offset,
            },
            _page: PhantomData,
        }
    }
}

fn checked_bvec(page: *mut bindings::page, offset: usize, len: usize) -> Result<bindings::bio_vec> {
    let end = offset.checked_add(len).ok_or(EINVAL)?;
    if len == 0 || end > PAGE_SIZE {
        return Err(EINVAL);
    }
    Ok(bindings::bio_vec {
        bv_page: page,
        bv_len: c_uint::try_from(len).map_err(|_| EINVAL)?,
        bv_offset: c_uint::try_from(offset).map_err(|_| EINVAL)?,
    })
}

/// Total bytes of a bvec array, if one call of the network stack can take them.
fn bvec_bytes(bvecs: &[bindings::bio_vec]) -> Option<usize> {
    bvecs
        .iter()
        .try_fold(0usize, |sum, b| sum.checked_add(b.bv_len as usize))
        .filter(|&sum| sum <= MAX_CALL_BYTES)
}

/// A timeout in milliseconds as the shim takes it: jiffies, 0 = no limit.
fn timeout_jiffies(ms: u32) -> c_ulong {
    // Rounds up: a non-zero timeout stays non-zero.
    kernel::time::msecs_to_jiffies(ms)
}

fn neg(errno: u32) -> c_int {
    -(errno as c_int)
}

/// An owned `struct socket`, released on drop.
///
/// # Invariants
///
/// `sock` is a live socket with a protocol sock (`sk`), created by `sock_create_kern` or
/// `kernel_accept`, owned by this object.
struct Socket {
    sock: NonNull<bindings::socket>,
    family: u16,
    /// Set by `shutdown` before it shuts the socket down: errors after it mean "stopped".
    shut: AtomicBool,
}

// SAFETY: a socket may be used and released from any thread.
unsafe impl Send for Socket {}
// SAFETY: every operation used through `&Socket` takes the socket's own lock.
unsafe impl Sync for Socket {}

impl Socket {
    /// A new TCP socket for `addr`'s family, in the initial network namespace.
    fn create(addr: &SockAddr) -> Result<Self> {
        let family = addr.family();
        let mut sock: *mut bindings::socket = ptr::null_mut();
        // SAFETY: `sock` is a valid place for the result.
        let ret = unsafe { ffi::drbd_rs_sock_create(c_int::from(family), &mut sock) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        let sock = NonNull::new(sock).ok_or(ENOMEM)?;
        Ok(Self {
            sock,
            family,
            shut: AtomicBool::new(false),
        })
    }

    fn as_ptr(&self) -> *mut bindings::socket {
        self.sock.as_ptr()
    }

    fn bind(&self, addr: SockAddr) -> Result {
        let mut raw = addr.to_raw()?;
        // SAFETY: the socket is live; `raw` holds `raw.len` bytes of a sockaddr of the
        // socket's family, which kernel_bind copies.
        let ret = unsafe { bindings::kernel_bind(self.as_ptr(), raw.as_mut_ptr(), raw.len) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    fn set_noio(&self) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_noio(self.as_ptr()) };
    }

    fn set_buffer_sizes(&self, sizes: BufferSizes) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_bufsizes(self.as_ptr(), sizes.send, sizes.receive) };
    }

    fn set_send_timeout(&self, ms: u32) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_sndtimeo(self.as_ptr(), timeout_jiffies(ms)) };
    }

    fn set_recv_timeout(&self, ms: u32) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_rcvtimeo(self.as_ptr(), timeout_jiffies(ms)) };
    }

    fn shutdown(&self) {
        self.shut.store(true, Ordering::Release);
        // SAFETY: the socket is live. Shutting down wakes every waiter on it; calls already
        // made or still to come then fail or see end of stream. An unconnected socket
        // answers ENOTCONN but is marked shut down all the same.
        let _ = unsafe {
            bindings::kernel_sock_shutdown(self.as_ptr(), bindings::sock_shutdown_cmd_SHUT_RDWR)
        };
    }

    fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// What a negative return of the network stack means.
    fn error_of(&self, ret: c_int) -> SockError {
        if self.is_shut() {
            return SockError::ShutDown;
        }
        let errno = ret.unsigned_abs();
        if errno == bindings::EAGAIN {
            // SO_SNDTIMEO/SO_RCVTIMEO expired (EWOULDBLOCK is the same number).
            SockError::TimedOut
        } else if errno == bindings::ECONNRESET
            || errno == bindings::EPIPE
            || errno == bindings::ENOTCONN
            || errno == bindings::ECONNABORTED
        {
            SockError::Closed
        } else {
            SockError::Other(Error::from_errno(ret))
        }
    }

    /// End of stream: the peer's FIN, or our own shutdown.
    fn end_of_stream(&self) -> SockError {
        if self.is_shut() {
            SockError::ShutDown
        } else {
            SockError::Closed
        }
    }

    /// Move `total` bytes with `step(done)`, one call of the network stack each, which
    /// returns what the stack returned: bytes moved, 0 at end of stream, or an error.
    fn transfer(
        &self,
        total: usize,
        mut step: impl FnMut(usize) -> c_int,
    ) -> Result<(), TransferError> {
        let mut done = 0usize;
        while done < total {
            let ret = step(done);
            match usize::try_from(ret) {
                Ok(0) => {
                    return Err(TransferError {
                        kind: self.end_of_stream(),
                        done,
                    })
                }
                Ok(n) => done = done.saturating_add(n),
                Err(_) => {
                    return Err(TransferError {
                        kind: self.error_of(ret),
                        done,
                    })
                }
            }
        }
        Ok(())
    }

    /// One `sendmsg` of (a prefix of) `buf`.
    fn send_some(&self, buf: &[u8], more: bool) -> c_int {
        let len = buf.len().min(MAX_CALL_BYTES);
        let mut flags = bindings::MSG_NOSIGNAL;
        if more || len < buf.len() {
            flags |= bindings::MSG_MORE;
        }
        let mut msg = bindings::msghdr {
            msg_flags: flags,
            ..Default::default()
        };
        let mut vec = bindings::kvec {
            iov_base: buf.as_ptr().cast_mut().cast::<c_void>(),
            iov_len: len,
        };
        // SAFETY: the socket is live; `vec` describes `len` readable bytes of `buf`, which the
        // stack only reads (copies) during the call.
        unsafe { bindings::kernel_sendmsg(self.as_ptr(), &mut msg, &mut vec, 1, len) }
    }

    /// One `recvmsg` into (a prefix of) `buf`.
    fn recv_some(&self, buf: &mut [u8], flags: u32) -> c_int {
        let len = buf.len().min(MAX_CALL_BYTES);
        let mut msg = bindings::msghdr::default();
        let mut vec = bindings::kvec {
            iov_base: buf.as_mut_ptr().cast::<c_void>(),
            iov_len: len,
        };
        // SAFETY: the socket is live; `vec` describes `len` writable bytes of `buf`, which we
        // borrow exclusively for the call.
        unsafe {
            bindings::kernel_recvmsg(
                self.as_ptr(),
                &mut msg,
                &mut vec,
                1,
                len,
                (flags | bindings::MSG_NOSIGNAL) as c_int,
            )
        }
    }

    /// One `sendmsg` or `recvmsg` over a bvec array, from byte `done` on.
    ///
    /// # Safety
    ///
    /// `bvecs` describe `total` bytes of allocated pages; for `ITER_DEST` nothing else
    /// accesses them during the call.
    unsafe fn bvec_call(
        &self,
        bvecs: &[bindings::bio_vec],
        total: usize,
        done: usize,
        direction: u32,
        flags: u32,
    ) -> c_int {
        let sending = direction == bindings::ITER_SOURCE;
        let mut msg = bindings::msghdr {
            // Flags of a send are the message's; a receive takes them as an argument.
            msg_flags: if sending { flags } else { 0 },
            ..Default::default()
        };
        // SAFETY: `bvecs` is a live array of `bvecs.len()` entries holding `total` bytes (per
        // the contract and `bvec_bytes`), borrowed for this call; `done < total`.
        unsafe {
            bindings::iov_iter_bvec(
                &mut msg.msg_iter,
                direction,
                bvecs.as_ptr(),
                bvecs.len(),
                total,
            );
            bindings::iov_iter_advance(&mut msg.msg_iter, done);
        }
        if sending {
            // SAFETY: the socket is live; the iterator is valid for the call (above).
            unsafe { bindings::sock_sendmsg(self.as_ptr(), &mut msg) }
        } else {
            // SAFETY: as above; the pages are ours to write (contract).
            unsafe { bindings::sock_recvmsg(self.as_ptr(), &mut msg, flags as c_int) }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the socket (type invariant) and no call on it is in progress (they
        // borrow `self`). Releasing a TCP socket does not linger.
        unsafe { bindings::sock_release(self.as_ptr()) };
    }
}

/// A listening TCP socket (`SO_REUSEADDR`), from which the peer's connections are accepted.
///
/// Shared by reference between the accepting thread and the one that stops it.
pub(crate) struct TcpListener {
    sock: Socket,
}

impl TcpListener {
    /// Listen on `addr` with room for `backlog` connections not yet accepted. Accepted
    /// streams inherit `buffers`.
    pub(crate) fn bind(addr: &SockAddr, backlog: u32, buffers: BufferSizes) -> Result<Self> {
        let sock = Socket::create(addr)?;
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_reuseaddr(sock.as_ptr()) };
        sock.set_buffer_sizes(buffers);
        sock.bind(*addr)?;
        let backlog = c_int::try_from(backlog).map_err(|_| EINVAL)?;
        // SAFETY: the socket is live and bound.
        let ret = unsafe { bindings::kernel_listen(sock.as_ptr(), backlog) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Self { sock })
    }

    /// Wait up to `timeout_ms` (0 = no limit) for a connection: `Ok(None)` when the time ran
    /// out, [`SockError::ShutDown`] once [`TcpListener::shutdown`] was called. One thread at
    /// a time accepts (the timeout is the listener's).
    pub(crate) fn accept(&self, timeout_ms: u32) -> Result<Option<TcpStream>, SockError> {
        if self.sock.is_shut() {
            return Err(SockError::ShutDown);
        }
        self.sock.set_recv_timeout(timeout_ms);
        let mut new: *mut bindings::socket = ptr::null_mut();
        // SAFETY: the listener is live; `new` is a valid place for the accepted socket, which
        // is ours on success.
        let ret = unsafe { bindings::kernel_accept(self.sock.as_ptr(), &mut new, 0) };
        if ret < 0 {
            return match self.sock.error_of(ret) {
                SockError::TimedOut => Ok(None),
                e => Err(e),
            };
        }
        let sock = NonNull::new(new).ok_or(SockError::Other(ENOMEM))?;
        let stream = TcpStream {
            sock: Socket {
                sock,
                family: self.sock.family,
                shut: AtomicBool::new(false),
            },
        };
        stream.sock.set_noio();
        Ok(Some(stream))
    }

    /// Stop listening; wakes a thread blocked in [`TcpListener::accept`]. Any thread may
    /// call it, any number of times.
    pub(crate) fn shutdown(&self) {
        self.sock.shutdown();
    }
}

/// A TCP connection (or, until [`TcpStream::connect`] succeeds, a socket bound for one).
///
/// All calls take `&self`, so that one thread can shut the stream down while another is
/// blocked in it. Concurrent sends (or receives) would interleave their bytes: each
/// direction needs one user at a time, which the owner ensures.
pub(crate) struct TcpStream {
    sock: Socket,
}

impl TcpStream {
    /// A socket bound to `local`'s address with an ephemeral port (`local`'s port is not
    /// used: it is the listener's), ready for [`TcpStream::connect`].
    pub(crate) fn new(local: &SockAddr, buffers: BufferSizes) -> Result<Self> {
        let sock = Socket::create(local)?;
        sock.set_noio();
        sock.set_buffer_sizes(buffers);
        sock.bind(local.with_port(0))?;
        Ok(Self { sock })
    }

    /// Connect to `peer`, waiting at most `timeout_ms` (0 = no limit); [`SockError::TimedOut`]
    /// when that ran out (drop the stream then), [`SockError::ShutDown`] if
    /// [`TcpStream::shutdown`] was called meanwhile. Leaves the send timeout unlimited: set
    /// the timeouts after connecting.
    pub(crate) fn connect(&self, peer: &SockAddr, timeout_ms: u32) -> Result<(), SockError> {
        if peer.family() != self.sock.family {
            return Err(SockError::Other(EINVAL));
        }
        if self.sock.is_shut() {
            return Err(SockError::ShutDown);
        }
        let mut raw = peer.to_raw().map_err(SockError::Other)?;
        // A blocking connect() waits as long as the send timeout allows.
        self.sock.set_send_timeout(timeout_ms);
        // SAFETY: the socket is live; `raw` holds `raw.len` bytes of a sockaddr of the
        // socket's family, which kernel_connect copies.
        let ret =
            unsafe { bindings::kernel_connect(self.sock.as_ptr(), raw.as_mut_ptr(), raw.len, 0) };
        self.sock.set_send_timeout(0);
        match ret {
            0 => Ok(()),
            // Still connecting when the timeout expired.
            _ if ret == neg(bindings::EINPROGRESS) || ret == neg(bindings::EALREADY) => {
                Err(self.sock.error_of(neg(bindings::EAGAIN)))
            }
            _ => Err(self.sock.error_of(ret)),
        }
    }

    /// Send some of `buf` (at least one byte, or an error); `more` = more data follows at
    /// once (`MSG_MORE`), so TCP may hold back a partial segment.
    pub(crate) fn send(&self, buf: &[u8], more: bool) -> Result<usize, SockError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let ret = self.sock.send_some(buf, more);
        match usize::try_from(ret) {
            Ok(0) => Err(self.sock.end_of_stream()),
            Ok(n) => Ok(n),
            Err(_) => Err(self.sock.error_of(ret)),
        }
    }

    /// Send all of `buf` (`more` as for [`TcpStream::send`]). Stops at the first error; after
    /// a [`SockError::TimedOut`] (the send timeout passed without progress) the caller may go
    /// on with `buf[err.done..]`, which is how `ko-count` is counted.
    pub(crate) fn send_all(&self, buf: &[u8], more: bool) -> Result<(), TransferError> {
        self.sock.transfer(buf.len(), |done| {
            self.sock
                .send_some(buf.get(done..).unwrap_or_default(), more)
        })
    }

    /// Send the bytes of `ranges` in order, like [`TcpStream::send_all`]. The bytes are
    /// copied into the socket's buffers: the pages may change once this returns.
    pub(crate) fn send_pages(
        &self,
        ranges: &[PageRange<'_>],
        more: bool,
    ) -> Result<(), TransferError> {
        // SAFETY: `PageRange` is a transparent `bio_vec`.
        let bvecs = unsafe {
            core::slice::from_raw_parts(ranges.as_ptr().cast::<bindings::bio_vec>(), ranges.len())
        };
        let total = bvec_bytes(bvecs).ok_or(TransferError {
            kind: SockError::Other(EINVAL),
            done: 0,
        })?;
        let mut flags = bindings::MSG_NOSIGNAL;
        if more {
            flags |= bindings::MSG_MORE;
        }
        self.sock.transfer(total, |done| {
            // SAFETY: the ranges' pages are allocated while borrowed (type invariant of
            // `PageRange`) and hold `total` bytes; the stack only reads them.
            unsafe {
                self.sock
                    .bvec_call(bvecs, total, done, bindings::ITER_SOURCE, flags)
            }
        })
    }

    /// Send the whole of `buf` like [`TcpStream::send_pages`] (`more` = more data follows);
    /// on an error, `done` counts the bytes of `buf` that were sent.
    pub(crate) fn send_buf(&self, buf: &PageBuf, more: bool) -> Result<(), TransferError> {
        self.send_buf_from(buf, 0, more)
    }

    /// Send the bytes of `buf` from `offset` on, like [`TcpStream::send_buf`]; on an error,
    /// `done` counts the bytes of `buf` sent so far including the first `offset`, so that
    /// after a [`SockError::TimedOut`] the caller can go on from there.
    pub(crate) fn send_buf_from(
        &self,
        buf: &PageBuf,
        offset: usize,
        more: bool,
    ) -> Result<(), TransferError> {
        let mut ranges = buf.ranges_from(offset).peekable();
        let mut sent = offset.min(buf.len());
        // The pages go to the stack a chunk at a time, from an array on our stack: no
        // allocation for a buffer's worth of bvecs.
        let mut bvecs = [bindings::bio_vec::default(); BUF_CHUNK];
        loop {
            let mut count = 0;
            let mut bytes = 0usize;
            for slot in bvecs.iter_mut() {
                let Some(range) = ranges.next() else { break };
                bytes += range.bvec.bv_len as usize;
                *slot = range.bvec;
                count += 1;
            }
            let Some(chunk) = bvecs.get(..count).filter(|c| !c.is_empty()) else {
                return Ok(());
            };
            let mut flags = bindings::MSG_NOSIGNAL;
            if more || ranges.peek().is_some() {
                flags |= bindings::MSG_MORE;
            }
            self.sock
                .transfer(bytes, |done| {
                    // SAFETY: the bvecs describe `bytes` bytes of pages of `buf`, which we
                    // borrow (so they stay allocated); the stack only reads them.
                    unsafe {
                        self.sock
                            .bvec_call(chunk, bytes, done, bindings::ITER_SOURCE, flags)
                    }
                })
                .map_err(|e| TransferError {
                    kind: e.kind,
                    done: sent + e.done,
                })?;
            sent += bytes;
        }
    }

    /// Fill the whole of `buf`, exactly, like [`TcpStream::recv_pages`]; on an error, `done`
    /// counts the bytes of `buf` that were received.
    pub(crate) fn recv_buf(&self, buf: &mut PageBuf) -> Result<(), TransferError> {
        let mut ranges = buf.ranges_mut();
        let mut received = 0usize;
        let mut bvecs = [bindings::bio_vec::default(); BUF_CHUNK];
        let flags = bindings::MSG_NOSIGNAL | bindings::MSG_WAITALL;
        loop {
            let mut count = 0;
            let mut bytes = 0usize;
            for slot in bvecs.iter_mut() {
                let Some(range) = ranges.next() else { break };
                bytes += range.bvec.bv_len as usize;
                *slot = range.bvec;
                count += 1;
            }
            let Some(chunk) = bvecs.get(..count).filter(|c| !c.is_empty()) else {
                return Ok(());
            };
            self.sock
                .transfer(bytes, |done| {
                    // SAFETY: the bvecs describe `bytes` bytes of pages of `buf`, which we
                    // borrow mutably: allocated, and nothing else accesses them meanwhile.
                    unsafe {
                        self.sock
                            .bvec_call(chunk, bytes, done, bindings::ITER_DEST, flags)
                    }
                })
                .map_err(|e| TransferError {
                    kind: e.kind,
                    done: received + e.done,
                })?;
            received += bytes;
        }
    }

    /// Receive some bytes into `buf`: at least one, or an error ([`SockError::Closed`] at
    /// the peer's end of stream).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<usize, SockError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let ret = self.sock.recv_some(buf, 0);
        match usize::try_from(ret) {
            Ok(0) => Err(self.sock.end_of_stream()),
            Ok(n) => Ok(n),
            Err(_) => Err(self.sock.error_of(ret)),
        }
    }

    /// Fill `buf` exactly. The receive timeout bounds each wait without progress; on an
    /// error, `done` bytes of `buf` were received.
    pub(crate) fn recv_exact(&self, buf: &mut [u8]) -> Result<(), TransferError> {
        let total = buf.len();
        self.sock.transfer(total, |done| {
            let rest = buf.get_mut(done..).unwrap_or_default();
            self.sock.recv_some(rest, bindings::MSG_WAITALL)
        })
    }

    /// Fill `ranges` in order, exactly, like [`TcpStream::recv_exact`].
    pub(crate) fn recv_pages(&self, ranges: &mut [PageRangeMut<'_>]) -> Result<(), TransferError> {
        // SAFETY: `PageRangeMut` is a transparent `bio_vec`.
        let bvecs = unsafe {
            core::slice::from_raw_parts(ranges.as_ptr().cast::<bindings::bio_vec>(), ranges.len())
        };
        let total = bvec_bytes(bvecs).ok_or(TransferError {
            kind: SockError::Other(EINVAL),
            done: 0,
        })?;
        let flags = bindings::MSG_NOSIGNAL | bindings::MSG_WAITALL;
        self.sock.transfer(total, |done| {
            // SAFETY: the ranges' pages are allocated and exclusively ours while borrowed
            // (type invariant of `PageRangeMut`, and `ranges` is borrowed mutably).
            unsafe {
                self.sock
                    .bvec_call(bvecs, total, done, bindings::ITER_DEST, flags)
            }
        })
    }

    /// Whether the connection still looks usable: false once the peer closed or reset it
    /// (or it was shut down here). Never blocks and consumes nothing.
    pub(crate) fn peek_alive(&self) -> bool {
        let mut byte = [0u8; 1];
        let ret = self
            .sock
            .recv_some(&mut byte, bindings::MSG_PEEK | bindings::MSG_DONTWAIT);
        // Data waiting, or none yet: alive. End of stream or an error: not.
        ret > 0 || ret == neg(bindings::EAGAIN)
    }

    /// Shut both directions down; wakes threads blocked in calls on this stream, and every
    /// call after it fails with [`SockError::ShutDown`]. Any thread may call it, any number
    /// of times.
    pub(crate) fn shutdown(&self) {
        self.sock.shutdown();
    }

    /// End the sending direction (a TCP FIN after what was sent) but go on receiving: the
    /// peer reads everything sent so far, then the end of the stream.
    pub(crate) fn finish_sending(&self) {
        // SAFETY: the socket is live; shutting down the sending side has no other effect
        // on this object (sends after it fail with EPIPE).
        let _ = unsafe {
            bindings::kernel_sock_shutdown(self.sock.as_ptr(), bindings::sock_shutdown_cmd_SHUT_WR)
        };
    }

    /// Send small packets at once (`TCP_NODELAY`).
    pub(crate) fn set_nodelay(&self) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_nodelay(self.sock.as_ptr()) };
    }

    /// Acknowledge received data now instead of waiting for the delayed-ACK timer
    /// (`TCP_QUICKACK` with drbd's value 2: leave delayed-ACK mode and push a pending ACK).
    pub(crate) fn quickack(&self) {
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_quickack(self.sock.as_ptr(), 2) };
    }

    /// Fixed buffer sizes (see [`BufferSizes`]; 0 leaves a buffer as it is).
    pub(crate) fn set_buffer_sizes(&self, sizes: BufferSizes) {
        self.sock.set_buffer_sizes(sizes);
    }

    /// The traffic class of this connection's packets.
    pub(crate) fn set_priority(&self, priority: Priority) {
        let prio = match priority {
            Priority::InteractiveBulk => bindings::TC_PRIO_INTERACTIVE_BULK,
            Priority::Interactive => bindings::TC_PRIO_INTERACTIVE,
        };
        // SAFETY: the socket is live.
        unsafe { ffi::drbd_rs_sock_set_priority(self.sock.as_ptr(), prio) };
    }

    /// How long a send may wait for room without progress (0 = no limit); then
    /// [`SockError::TimedOut`].
    pub(crate) fn set_send_timeout(&self, ms: u32) {
        self.sock.set_send_timeout(ms);
    }

    /// How long a receive may wait for data without progress (0 = no limit); then
    /// [`SockError::TimedOut`].
    pub(crate) fn set_recv_timeout(&self, ms: u32) {
        self.sock.set_recv_timeout(ms);
    }
}
