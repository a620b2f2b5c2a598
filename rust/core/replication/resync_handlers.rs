// SPDX-License-Identifier: GPL-2.0
//! The `before-resync-target` and `before-resync-source` handlers: a resync starts only
//! after them.
//!
//! Users hang data-safety steps there — the classic one takes an LVM snapshot of the
//! SyncTarget's disk (`snapshot-resync-target-lvm.sh`), because a SyncTarget is inconsistent
//! until the resync ends and a failed source would leave nothing usable. drbd 8.4
//! (`drbd_start_resync`) runs the handler and waits for it right before the state change to
//! SyncTarget (after `P_SYNC_UUID` arrived) or SyncSource (after the bitmap exchange, or
//! when a full sync starts), and decides on its exit code:
//!
//! | handler                | exit        | effect                                        |
//! |------------------------|-------------|-----------------------------------------------|
//! | `before-resync-target` | 0           | the resync starts                             |
//! | `before-resync-target` | else        | "dropping connection": StandAlone             |
//! | `before-resync-source` | 0           | the resync starts                             |
//! | `before-resync-source` | 3           | ignored ("Old userland tools?"): it starts    |
//! | `before-resync-source` | else        | "dropping connection": StandAlone             |
//!
//! A helper that could not be run at all counts as exit 0 (drbd ignores errnos).
//!
//! The handler runs outside every lock and may take long, so the decision is split: the
//! replica hands the host a [`ResyncHandlerTicket`] ([`Host::before_resync`]); the host
//! either answers at once or runs the handler and calls [`Replica::before_resync_done`].
//! Meanwhile the connection stays in WFSyncUUID (target) or WFBitMapS / StartingSyncS
//! (source). An answer for a connection that was lost meanwhile, or that moved on, is stale
//! and ignored, as drbd re-checks the connection after its handler.

use super::super::state::ConnState;
use super::connection::{Host, Level, Replica, Storage};
use super::sync_handshake::Helper;

/// Which end of a resync this node is about to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncSide {
    /// SyncSource: sends the blocks the target asks for.
    Source,
    /// SyncTarget: its disk becomes Inconsistent until the resync ends.
    Target,
}

/// A resync waiting for its handler: which one, and for which connection and state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncHandlerTicket {
    side: ResyncSide,
    /// The connection state the resync starts from (WFSyncUUID, WFBitMapS, StartingSyncS).
    from: ConnState,
    connect_count: u32,
}

impl ResyncHandlerTicket {
    /// The handler to run.
    pub const fn helper(self) -> Helper {
        match self.side {
            ResyncSide::Source => Helper::BeforeResyncSource,
            ResyncSide::Target => Helper::BeforeResyncTarget,
        }
    }

    /// The side this node is about to take.
    pub const fn side(self) -> ResyncSide {
        self.side
    }
}

/// Whether the resync may start after the handler exited with `exit` (drbd's rules, above).
const fn handler_allows(side: ResyncSide, exit: u8) -> bool {
    matches!((side, exit), (_, 0) | (ResyncSide::Source, 3))
}

impl<S: Storage> Replica<S> {
    /// The resync from the current state is about to start on `side`: run its handler first.
    /// Starts it at once when the host answers at once.
    pub(super) fn run_before_resync(
        &mut self,
        side: ResyncSide,
        now_ms: u64,
        host: &mut impl Host,
    ) {
        let ticket = ResyncHandlerTicket {
            side,
            from: self.state().conn,
            connect_count: self.connect_count,
        };
        self.resync_handler = Some(ticket);
        if let Some(exit) = host.before_resync(ticket) {
            self.before_resync_done(ticket, exit, now_ms, host);
        }
    }

    /// Whether a resync waits for its `before-resync-*` handler.
    pub fn resync_handler_pending(&self) -> bool {
        self.resync_handler.is_some()
    }

    /// The handler of `ticket` exited with `exit`: start the resync, or drop the connection,
    /// as drbd does. Nothing happens for a stale ticket (the connection was lost or moved on
    /// while the handler ran).
    pub fn before_resync_done(
        &mut self,
        ticket: ResyncHandlerTicket,
        exit: u8,
        now_ms: u64,
        host: &mut impl Host,
    ) {
        if self.resync_handler != Some(ticket) {
            return;
        }
        self.resync_handler = None;
        if ticket.connect_count != self.connect_count || self.state().conn != ticket.from {
            host.log(
                Level::Info,
                format_args!(
                    "{} handler finished in {}: no resync to start",
                    ticket.helper().name(),
                    self.state().conn
                ),
            );
            return;
        }
        if !handler_allows(ticket.side, exit) {
            host.log(
                Level::Info,
                format_args!(
                    "{} handler returned {exit}, dropping connection.",
                    ticket.helper().name()
                ),
            );
            self.go_standalone(host);
            return;
        }
        if exit != 0 {
            host.log(
                Level::Info,
                format_args!(
                    "{} handler returned {exit}, ignoring. Old userland tools?",
                    ticket.helper().name()
                ),
            );
        }
        match ticket.side {
            ResyncSide::Source => self.enter_sync_source(now_ms, host),
            ResyncSide::Target => self.enter_sync_target(now_ms, host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::state::DiskState;
    use super::super::super::wire::{Cmd, Packet};
    use super::super::connection::Socket;
    use super::super::test_support::{connected, Out, Setup, TestHost, TestReplica};
    use super::*;

    /// The peer's one-word bitmap in plain chunks: the word, then the empty terminator.
    fn receive_bitmap(r: &mut TestReplica, h: &mut TestHost, word: u64) {
        r.receive(Socket::Data, &Packet::Bitmap(&word.to_le_bytes()), 0, h);
        r.receive(Socket::Data, &Packet::Bitmap(&[]), 0, h);
    }

    /// Our Inconsistent replica in WFSyncUUID, the handler not answering at once.
    fn target_waiting_for_sync_uuid() -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(Setup {
            my_disk: DiskState::Inconsistent,
            ..Setup::DEFAULT
        });
        h.resync_handler_exit = None;
        assert_eq!(r.state().conn, ConnState::WFBitMapT);
        receive_bitmap(&mut r, &mut h, 0b1011);
        assert_eq!(r.state().conn, ConnState::WFSyncUUID);
        h.take();
        (r, h)
    }

    /// Our UpToDate replica against an Inconsistent peer, after the bitmap exchange, the
    /// handler not answering at once.
    fn source_after_bitmaps() -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(Setup {
            peer_disk: DiskState::Inconsistent,
            ..Setup::DEFAULT
        });
        h.resync_handler_exit = None;
        assert_eq!(r.state().conn, ConnState::WFBitMapS);
        receive_bitmap(&mut r, &mut h, 0b110);
        (r, h)
    }

    fn sent_sync_uuid(h: &mut TestHost) -> bool {
        h.take().contains(&Out::Other(Cmd::SyncUuid))
    }

    #[test]
    fn the_target_waits_for_before_resync_target_after_the_sync_uuid() {
        let (mut r, mut h) = target_waiting_for_sync_uuid();
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        assert_eq!(
            r.state().conn,
            ConnState::WFSyncUUID,
            "not before the handler"
        );
        assert_eq!(
            r.uuids().to_array()[0] & !1,
            0x77 & !1,
            "the sync UUID is taken first, as drbd"
        );
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        assert_eq!(ticket.helper(), Helper::BeforeResyncTarget);
        assert!(r.resync_handler_pending());
        assert!(
            !h.take().iter().any(|o| matches!(o, Out::Request { .. })),
            "no resync request while the handler runs"
        );
        r.before_resync_done(ticket, 0, 5, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncTarget);
        assert_eq!(r.state().disk, DiskState::Inconsistent);
        assert!(h.take().iter().any(|o| matches!(o, Out::Request { .. })));
        assert!(!r.resync_handler_pending());
    }

    #[test]
    fn a_failing_before_resync_target_drops_the_connection() {
        let (mut r, mut h) = target_waiting_for_sync_uuid();
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        r.before_resync_done(ticket, 3, 5, &mut h);
        assert_eq!(r.state().conn, ConnState::StandAlone);
        assert!(h.dropped);
        assert!(h.logged("before-resync-target handler returned 3, dropping connection."));
        // The data were not touched: still what they were before the resync.
        assert_eq!(r.state().disk, DiskState::Inconsistent);
    }

    #[test]
    fn the_source_waits_for_before_resync_source_after_the_bitmaps() {
        let (mut r, mut h) = source_after_bitmaps();
        assert_eq!(
            r.state().conn,
            ConnState::WFBitMapS,
            "not before the handler"
        );
        assert!(
            !sent_sync_uuid(&mut h),
            "the UUID is sent once the handler agreed"
        );
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        assert_eq!(ticket.helper(), Helper::BeforeResyncSource);
        assert_eq!(ticket.side(), ResyncSide::Source);
        r.before_resync_done(ticket, 0, 5, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncSource);
        assert!(sent_sync_uuid(&mut h));
    }

    #[test]
    fn before_resync_source_exit_3_is_ignored_others_drop_the_connection() {
        let (mut r, mut h) = source_after_bitmaps();
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        r.before_resync_done(ticket, 3, 5, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncSource);
        assert!(h.logged("before-resync-source handler returned 3, ignoring. Old userland tools?"));

        let (mut r, mut h) = source_after_bitmaps();
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        r.before_resync_done(ticket, 4, 5, &mut h);
        assert_eq!(r.state().conn, ConnState::StandAlone);
        assert!(!sent_sync_uuid(&mut h));
        assert!(h.logged("before-resync-source handler returned 4, dropping connection."));
    }

    #[test]
    fn an_answer_after_the_connection_was_lost_is_stale() {
        let (mut r, mut h) = target_waiting_for_sync_uuid();
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        let ticket = *h.resync_handlers.last().expect("handler asked for");
        r.socket_failed(&mut h);
        assert!(!r.resync_handler_pending());
        let before = *r.state();
        r.before_resync_done(ticket, 0, 5, &mut h);
        assert_eq!(*r.state(), before, "no resync from a stale answer");
        assert_ne!(r.state().conn, ConnState::SyncTarget);
    }

    #[test]
    fn a_host_that_answers_at_once_starts_the_resync_at_once() {
        let (mut r, mut h) = target_waiting_for_sync_uuid();
        h.resync_handler_exit = Some(0);
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncTarget);
        assert!(!r.resync_handler_pending());
    }

    #[test]
    fn exit_codes_as_drbd_reads_them() {
        assert!(handler_allows(ResyncSide::Target, 0));
        assert!(!handler_allows(ResyncSide::Target, 1));
        assert!(
            !handler_allows(ResyncSide::Target, 3),
            "3 is a source-only exception"
        );
        assert!(handler_allows(ResyncSide::Source, 0));
        assert!(handler_allows(ResyncSide::Source, 3), "old userland tools");
        assert!(!handler_allows(ResyncSide::Source, 4));
        assert!(!handler_allows(ResyncSide::Source, 255));
    }

    #[test]
    fn the_ticket_names_drbds_handlers() {
        let t = |side| ResyncHandlerTicket {
            side,
            from: ConnState::WFSyncUUID,
            connect_count: 0,
        };
        assert_eq!(
            t(ResyncSide::Target).helper().name(),
            "before-resync-target"
        );
        assert_eq!(
            t(ResyncSide::Source).helper().name(),
            "before-resync-source"
        );
    }
}
