// SPDX-License-Identifier: GPL-2.0
//! A failed I/O on the lower device: the disk stops claiming good data.
//!
//! drbd 8.4 (`__drbd_chk_io_error_`) acts on its `on-io-error` disk option: `detach` (the
//! default) and `call-local-io-error` take the disk away (Failed, then Diskless, and the
//! Primary goes on with the peer's disk); `pass_on` marks it Inconsistent. Running without
//! a disk needs an I/O path that reads from the peer, which drbd_rs does not have yet, so
//! every policy acts as `pass_on` here: the block is marked out of sync (the caller did that)
//! and the disk becomes Inconsistent, which the peer learns at once and the meta data keeps.
//!
//! This is what keeps an acknowledged write: the write that failed here completed to the
//! application because the peer has it, and the handshake's disk-state rule makes an
//! Inconsistent node the SyncTarget of the next resync (a Primary refuses that as rr-conflict),
//! so the stale block here can never be sent over the peer's good one.

use super::super::state::{ConnState, DiskState};
use super::connection::{Host, Level, LossReason, Replica, Storage};

/// Which I/O of the lower device failed (the kernel log says where).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedIo {
    /// An application write on this node.
    AppWrite,
    /// A write the peer replicated to us (`P_DATA`, `P_TRIM`, ...).
    PeerWrite,
    /// A resync write on the SyncTarget.
    ResyncWrite,
    /// A read for the peer (resync, checksum or verify request).
    PeerRead,
}

impl FailedIo {
    const fn what(self) -> &'static str {
        match self {
            FailedIo::AppWrite => "an application write",
            FailedIo::PeerWrite => "a write from the peer",
            FailedIo::ResyncWrite => "a resync write",
            FailedIo::PeerRead => "a read for the peer",
        }
    }
}

impl<S: Storage> Replica<S> {
    /// The lower device failed `io`: a disk better than Inconsistent becomes Inconsistent
    /// (see the module documentation); a connected peer is told with `P_STATE`.
    pub fn local_io_failed(&mut self, io: FailedIo, host: &mut impl Host) {
        let old = *self.state();
        if old.disk <= DiskState::Inconsistent {
            return;
        }
        host.log(
            Level::Err,
            format_args!(
                "Local IO failed in {}. Disk is now Inconsistent (on-io-error acts as pass_on).",
                io.what()
            ),
        );
        // A handshake that may already have chosen us as SyncSource, or a resync we serve,
        // would send the failed blocks over the peer's good ones; and drbd's sanitize rules
        // hold a source's (and a verify's) disk at UpToDate. Start over: the next handshake
        // makes us the target.
        let serving = matches!(
            old.conn,
            ConnState::WFReportParams
                | ConnState::StartingSyncS
                | ConnState::WFBitMapS
                | ConnState::SyncSource
                | ConnState::PausedSyncS
                | ConnState::VerifyS
                | ConnState::VerifyT
        );
        if serving {
            host.log(
                Level::Err,
                format_args!("Our data can no longer be the resync source: reconnecting."),
            );
            self.lose_connection(LossReason::NetworkFailure, host);
        }
        let mut ns = *self.state();
        ns.disk = DiskState::Inconsistent;
        self.set_state(ns, host);
        if !serving && self.state().conn >= ConnState::Connected {
            self.send_state_packet(host);
        }
    }
}
