// SPDX-License-Identifier: GPL-2.0
//! drbd's user-mode helper: the kernel runs `<usermode_helper> <handler> <target>` (module
//! parameter `usermode_helper`, default `/sbin/drbdadm`), which runs the handler the
//! configuration names (`handlers { split-brain "..."; }`), and waits for it, as drbd does.

use core::ffi::c_char;
use core::fmt::Write;

use kernel::prelude::*;
use kernel::str::CString;
use kernel::{c_str, fmt};

use super::ffi;
use super::socket::SockAddr;
use crate::drbd_core::genl::addr::SockAddr as GenlSockAddr;
use crate::drbd_core::text_buf::TextBuf;

/// Longest program path the parameter holds (the C array's size).
pub(crate) const PROGRAM_MAX: usize = 80;

/// How a helper ended: the kernel's wait status (`exit code << 8` for a normal exit), or a
/// negative errno when it could not be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitStatus(i32);

impl WaitStatus {
    /// The status of a helper that could not be run.
    pub(crate) fn of_errno(e: Error) -> Self {
        WaitStatus(e.to_errno())
    }

    /// As returned by the kernel (what drbd puts in its notifications).
    pub(crate) const fn raw(self) -> i32 {
        self.0
    }

    /// The exit code, as drbd reads it (`(status >> 8) & 0xff`; a killed handler reads 0).
    pub(crate) const fn exit_code(self) -> u8 {
        ((self.0 >> 8) & 0xff) as u8
    }
}

/// The program the helpers run (the module parameter), for the log lines.
pub(crate) fn program() -> TextBuf<PROGRAM_MAX> {
    let mut program = [0u8; PROGRAM_MAX];
    // SAFETY: `program` is a writable buffer of the given length; the shim writes a
    // NUL-terminated path into it.
    unsafe { ffi::drbd_rs_usermode_helper(program.as_mut_ptr().cast::<c_char>(), program.len()) };
    let len = program
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(program.len());
    let mut text = TextBuf::new();
    let path = core::str::from_utf8(program.get(..len).unwrap_or(&[])).unwrap_or("?");
    let _ = text.write_str(path);
    text
}

/// Run `<usermode_helper> <handler> <target>` with drbd's environment (`DRBD_PEER_AF` and
/// `DRBD_PEER_ADDRESS` from `peer`) and wait for it to end. Process context; sleeps as long
/// as the handler runs — call it holding no lock the handler's commands may need.
pub(crate) fn run_helper(
    handler: &str,
    target: &str,
    peer: Option<SockAddr>,
) -> Result<WaitStatus> {
    let handler = CString::try_from_fmt(fmt!("{handler}"))?;
    let target = CString::try_from_fmt(fmt!("{target}"))?;
    let (af, address) = match peer {
        Some(peer) => {
            let (af, address) = peer_env(peer);
            (
                Some(af),
                Some(CString::try_from_fmt(fmt!("{}", address.as_str()))?),
            )
        }
        None => (None, None),
    };
    // SAFETY: the strings are NUL-terminated and live across the call.
    let ret = unsafe {
        ffi::drbd_rs_run_helper(
            handler.as_char_ptr().cast(),
            target.as_char_ptr().cast(),
            af.map_or(core::ptr::null(), |a: &CStr| a.as_char_ptr().cast()),
            address
                .as_ref()
                .map_or(core::ptr::null(), |a| a.as_char_ptr().cast()),
        )
    };
    Ok(WaitStatus(ret))
}

/// `DRBD_PEER_AF` and `DRBD_PEER_ADDRESS` as drbd sets them (`%pI4`, or `%pI6`: eight groups
/// of four hex digits).
fn peer_env(peer: SockAddr) -> (&'static CStr, TextBuf<48>) {
    let mut text = TextBuf::<48>::new();
    match GenlSockAddr::from(peer) {
        GenlSockAddr::V6 { addr, .. } => {
            for (i, pair) in addr.chunks(2).enumerate() {
                let group = pair.iter().fold(0u16, |g, b| (g << 8) | u16::from(*b));
                let _ = write!(text, "{}{group:04x}", if i > 0 { ":" } else { "" });
            }
            (c_str!("ipv6"), text)
        }
        GenlSockAddr::V4 { addr, .. } => {
            let [a, b, c, d] = addr;
            let _ = write!(text, "{a}.{b}.{c}.{d}");
            (c_str!("ipv4"), text)
        }
    }
}
