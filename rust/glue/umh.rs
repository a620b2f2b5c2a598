// SPDX-License-Identifier: GPL-2.0
//! drbd's user-mode helper: the kernel runs `<usermode_helper> <handler> <target>` (module
//! parameter `usermode_helper`, default `/sbin/drbdadm`), which runs the handler the
//! configuration names (`handlers { split-brain "..."; }`).

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
const PROGRAM_MAX: usize = 80;

/// Start `<usermode_helper> <handler> <target>` with drbd's environment (`DRBD_PEER_AF` and
/// `DRBD_PEER_ADDRESS` from `peer`) and return once it runs, with the program's path (for
/// the log line). Process context; sleeps until the program has been executed.
pub(crate) fn start_helper(handler: &str, target: &str, peer: Option<SockAddr>) -> Result<CString> {
    call(handler, target, peer, false).map(|(path, _)| path)
}

/// Run `<usermode_helper> <handler> <target>` as [`start_helper`] does, and wait for it to
/// end: the program's path and its exit code (`fence-peer`). Process context; sleeps as long
/// as the handler runs — call it holding no lock the handler's commands may need.
pub(crate) fn run_helper(
    handler: &str,
    target: &str,
    peer: Option<SockAddr>,
) -> Result<(CString, u8)> {
    let (path, status) = call(handler, target, peer, true)?;
    // A wait status: the exit code is in bits 8..15 (a killed handler reads as code 0,
    // which no handler answer means: "broken").
    Ok((path, ((status >> 8) & 0xff) as u8))
}

fn call(
    handler: &str,
    target: &str,
    peer: Option<SockAddr>,
    wait_for_exit: bool,
) -> Result<(CString, i32)> {
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
    let mut program = [0u8; PROGRAM_MAX];
    // SAFETY: the strings are NUL-terminated and live across the call; `program` is a
    // writable buffer of the given length (the shim writes a NUL-terminated path into it).
    let ret = unsafe {
        ffi::drbd_rs_start_helper(
            handler.as_char_ptr().cast(),
            target.as_char_ptr().cast(),
            af.map_or(core::ptr::null(), |a: &CStr| a.as_char_ptr().cast()),
            address
                .as_ref()
                .map_or(core::ptr::null(), |a| a.as_char_ptr().cast()),
            program.as_mut_ptr().cast::<c_char>(),
            program.len(),
            i32::from(wait_for_exit),
        )
    };
    let len = program
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(program.len());
    let path = core::str::from_utf8(program.get(..len).unwrap_or(&[])).unwrap_or("?");
    let path = CString::try_from_fmt(fmt!("{path}"))?;
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok((path, ret))
    }
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
