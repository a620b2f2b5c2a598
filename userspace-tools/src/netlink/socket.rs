//! The datagram transport under [`super::DrbdGenl`]: the [`Transport`] trait, and
//! [`NlSocket`], its implementation over a real `AF_NETLINK`/`NETLINK_GENERIC` socket.
//!
//! The trait is deliberately small (send one datagram, receive one datagram with a timeout,
//! join a multicast group) so that tests can replace the kernel with canned datagrams.

use std::io;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::{deadline_after, NlError};

/// Initial (and minimum) size of the receive buffer: the kernel sizes dump datagrams by the
/// largest buffer it has seen the reader use, up to 32 KiB.
pub const RECV_BUFFER_SIZE: usize = 32 * 1024;

/// Largest datagram [`NlSocket`] grows its receive buffer for; a larger one is consumed and
/// reported as [`Received::Truncated`].
pub const MAX_DATAGRAM_SIZE: usize = 16 * 1024 * 1024;

/// Socket receive buffer (`SO_RCVBUF`) requested, as drbdsetup does (1 MiB); best effort.
const SOCKET_RCVBUF: usize = 1 << 20;

/// What [`Transport::recv`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A datagram of this many bytes, now at the start of the buffer.
    Datagram(usize),
    /// A datagram of `len` bytes did not fit and was lost.
    Truncated {
        /// The datagram's real length.
        len: usize,
    },
    /// Nothing arrived within the timeout.
    TimedOut,
}

/// A datagram channel to the kernel's generic-netlink side.
pub trait Transport {
    /// The socket's netlink port id (`nl_pid`), put into requests' `nlmsg_pid`.
    fn port_id(&self) -> u32;

    /// Send one datagram to the kernel, whole.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;

    /// Wait at most `timeout` for the next datagram from the kernel and put it at the start of
    /// `buf` (which the transport may grow). Datagrams from other senders are skipped.
    /// `ENOBUFS` (receive queue overrun) is returned as an error of that errno.
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<Received>;

    /// Join multicast group `group` (`NETLINK_ADD_MEMBERSHIP`).
    fn join_group(&mut self, group: u32) -> io::Result<()>;
}

/// A generic-netlink socket bound to a kernel-assigned port id.
#[derive(Debug)]
pub struct NlSocket {
    sock: Socket,
    port_id: u32,
}

impl NlSocket {
    /// Open and bind a `NETLINK_GENERIC` socket.
    pub fn open() -> Result<Self, NlError> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(|e| NlError::from_io("socket()", e))?;
        // Best effort: a larger queue only matters for event subscribers.
        let _ = sock.set_rx_buf_sz(SOCKET_RCVBUF);
        let addr = sock
            .bind_auto()
            .map_err(|e| NlError::from_io("bind()", e))?;
        Ok(Self {
            sock,
            port_id: addr.port_number(),
        })
    }

    /// Wait until the socket is readable or `deadline` passes; `false` on timeout.
    fn wait_readable(&self, deadline: Instant) -> io::Result<bool> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ts = Timespec::try_from(remaining).unwrap_or(Timespec {
                tv_sec: i64::from(i32::MAX),
                tv_nsec: 0,
            });
            let mut fds = [PollFd::new(&self.sock, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => return Ok(false),
                // Readable, or an error is pending (ENOBUFS): recv reports it.
                Ok(_) => return Ok(true),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One non-blocking `recvfrom` into `buf`; `None` if interrupted or nothing was there.
    fn recv_once(
        &self,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        let mut slice: &mut [u8] = buf;
        match self
            .sock
            .recv_from(&mut slice, flags | libc::MSG_TRUNC | libc::MSG_DONTWAIT)
        {
            Ok(r) => Ok(Some(r)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl Transport for NlSocket {
    fn port_id(&self) -> u32 {
        self.port_id
    }

    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let kernel = SocketAddr::new(0, 0);
        loop {
            match self.sock.send_to(datagram, &kernel, 0) {
                Ok(n) if n == datagram.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("short netlink send: {n} of {} bytes", datagram.len()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<Received> {
        let deadline = deadline_after(timeout);
        if buf.len() < RECV_BUFFER_SIZE {
            buf.resize(RECV_BUFFER_SIZE, 0);
        }
        loop {
            if !self.wait_readable(deadline)? {
                return Ok(Received::TimedOut);
            }
            // Peek first (MSG_TRUNC gives the real length) so that a datagram larger than the
            // buffer can be read whole after growing it, instead of being cut.
            let Some((len, _)) = self.recv_once(buf, libc::MSG_PEEK)? else {
                continue;
            };
            if len > buf.len() && len <= MAX_DATAGRAM_SIZE {
                buf.resize(len, 0);
            }
            let Some((len, from)) = self.recv_once(buf, 0)? else {
                continue;
            };
            if from.port_number() != 0 {
                // Not from the kernel: some other process wrote to our port.
                continue;
            }
            if len > buf.len() {
                return Ok(Received::Truncated { len });
            }
            return Ok(Received::Datagram(len));
        }
    }

    fn join_group(&mut self, group: u32) -> io::Result<()> {
        self.sock.add_membership(group)
    }
}
