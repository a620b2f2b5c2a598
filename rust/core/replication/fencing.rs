// SPDX-License-Identifier: GPL-2.0
//! Resource-level fencing (`disk { fencing resource-only; }`): the `fence-peer` handler.
//!
//! A Primary that loses its peer, or a Secondary asked to become Primary without one, does
//! not know whether the peer's data are still good. With a fencing policy the user's
//! `fence-peer` handler (e.g. `crm-fence-peer.sh`, which places a Pacemaker constraint)
//! decides that, and its exit code is what drbd 8.4 makes of it (`conn_try_outdate_peer`):
//!
//! | exit | meaning                              | effect                            |
//! |------|--------------------------------------|-----------------------------------|
//! | 3    | peer is inconsistent or worse        | pdsk Inconsistent                 |
//! | 4    | peer was fenced (outdated)           | pdsk Outdated                     |
//! | 5    | peer unreachable, assumed dead       | pdsk Outdated if our disk is UpToDate |
//! | 6    | peer is active (Primary)             | our disk Outdated                 |
//! | 7    | peer was stonithed                   | pdsk Outdated                     |
//! | else | the handler is broken                | nothing                           |
//!
//! The handler runs outside every lock and may take long (cluster manager calls): the
//! engine asks [`Replica::fence_peer_start`] for a [`FenceTicket`], runs the handler, and
//! hands the exit code to [`Replica::fence_peer_done`]. A connection established and lost
//! again while the handler ran makes its answer stale; it is then ignored, as by drbd.
//! When the handler runs: on the loss of the connection while Primary with the peer's disk
//! not known to be bad ([`Host::fence_peer`]), and when a promotion is refused for want of
//! an outdated peer (the engine's promotion retries, as `drbd_set_role`).

use super::super::state::{
    ConnState, DiskState, Fencing, Field, Role, SsCode, StateChange, StateError,
};
use super::connection::{Host, Level, Replica, Storage};

/// A run of the `fence-peer` handler: which connection attempt it was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceTicket {
    connect_count: u32,
}

/// What [`Replica::fence_peer_start`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceStart {
    /// Run the handler, then report its exit code with this ticket.
    Run(FenceTicket),
    /// `fencing dont-care`: the peer counts as outdated without asking anyone.
    NotNeeded,
    /// Nothing to run: connected again, or our own disk is not even Consistent.
    Refused,
}

/// drbd's meaning of a `fence-peer` exit code, and the change it makes.
fn exit_effect(exit: u8, disk: DiskState) -> Option<(&'static str, Option<StateChange>)> {
    let outdate_peer = Some(StateChange::new().pdsk(DiskState::Outdated));
    Some(match exit {
        3 => (
            "peer is inconsistent or worse",
            Some(StateChange::new().pdsk(DiskState::Inconsistent)),
        ),
        4 => ("peer was fenced", outdate_peer),
        5 if disk == DiskState::UpToDate => {
            ("peer is unreachable, assumed to be dead", outdate_peer)
        }
        5 => (
            "peer unreachable, doing nothing since disk != UpToDate",
            None,
        ),
        6 => (
            "peer is active",
            Some(StateChange::new().disk(DiskState::Outdated)),
        ),
        7 => ("peer was stonithed", outdate_peer),
        _ => return None,
    })
}

impl<S: Storage> Replica<S> {
    /// The disk's fencing policy (`DontCare` without a disk); takes effect for the next
    /// decision.
    pub fn set_fencing(&mut self, fencing: Fencing) {
        self.fencing = fencing;
    }

    /// The fencing policy in force: none without a disk that is at least Consistent
    /// (drbd's `highest_fencing_policy` only counts such disks).
    fn effective_fencing(&self) -> Option<Fencing> {
        (self.state().disk >= DiskState::Consistent).then_some(self.fencing)
    }

    /// Whether the `fence-peer` handler is to run now, and for which connection attempt.
    pub fn fence_peer_start(&mut self, host: &mut impl Host) -> FenceStart {
        if self.state().conn >= ConnState::WFReportParams {
            host.log(
                Level::Err,
                format_args!("Expected cstate < C_WF_REPORT_PARAMS"),
            );
            return FenceStart::Refused;
        }
        match self.effective_fencing() {
            None => {
                host.log(
                    Level::Warn,
                    format_args!("Not fencing peer, I'm not even Consistent myself."),
                );
                FenceStart::Refused
            }
            Some(Fencing::DontCare) => FenceStart::NotNeeded,
            Some(_) => FenceStart::Run(FenceTicket {
                connect_count: self.connect_count,
            }),
        }
    }

    /// The handler of `ticket` exited with `exit`: apply what it means, unless the connection
    /// came back (or came and went) meanwhile. Returns whether the peer's disk is now known
    /// to be Outdated or worse (a promotion may go on).
    pub fn fence_peer_done(&mut self, ticket: FenceTicket, exit: u8, host: &mut impl Host) -> bool {
        let Some((meaning, change)) = exit_effect(exit, self.state().disk) else {
            host.log(
                Level::Err,
                format_args!("fence-peer helper broken, returned {exit}"),
            );
            return false;
        };
        if exit == 6 {
            host.log(
                Level::Warn,
                format_args!("Peer is primary, outdating myself."),
            );
        }
        if exit == 7 && self.fencing != Fencing::ResourceAndStonith {
            host.log(
                Level::Err,
                format_args!("fence-peer() = 7 && fencing != Stonith !!!"),
            );
        }
        host.log(
            Level::Info,
            format_args!("fence-peer helper returned {exit} ({meaning})"),
        );
        if self.state().conn < ConnState::WFReportParams {
            if self.connect_count != ticket.connect_count {
                host.log(Level::Info, format_args!("Ignoring fence-peer exit code"));
            } else if let Some(change) = change {
                self.apply_fence_result(change, host);
            }
        }
        self.state().pdsk <= DiskState::Outdated
    }

    /// A fence result is a requested change (drbd's `CS_VERBOSE`): the rules may refuse it
    /// (a Primary cannot have its own disk outdated).
    fn apply_fence_result(&mut self, change: StateChange, host: &mut impl Host) {
        match self.check_change(change) {
            Ok(Some(ns)) => self.set_state(ns, host),
            Ok(None) => {}
            Err(SsCode::Failed(e)) => {
                host.log(Level::Err, format_args!("State change failed: {e}"))
            }
            Err(_) => {}
        }
    }

    /// After the peer was lost: a Primary whose peer's disk is not known to be bad asks the
    /// handler (drbd's `conn_try_outdate_peer_async` at the end of
    /// `conn_disconnect`).
    pub(super) fn fence_after_peer_lost(&mut self, host: &mut impl Host) {
        let s = self.state();
        if s.role == Role::Primary
            && s.pdsk >= DiskState::DUnknown
            && self.fencing != Fencing::DontCare
        {
            host.fence_peer();
        }
    }
}

/// How many times a promotion is tried (drbd's `max_tries`).
const PROMOTION_TRIES: u32 = 4;

/// A promotion (`primary [--force]`) as drbd's `drbd_set_role` drives it: the change is
/// requested; when the rules refuse it for want of an outdated peer, the `fence-peer`
/// handler is asked and the change retried, at most [`PROMOTION_TRIES`] times in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promotion {
    change: StateChange,
    force: bool,
    tries: u32,
    /// The change carries a pdsk (the peer's disk forced Outdated, or by a fence result).
    with_pdsk: bool,
    /// What a successful fence adds: our Consistent disk becomes UpToDate.
    fence_for_disk: bool,
}

/// What to do after a refused promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionStep {
    /// Request [`Promotion::change`] again.
    Retry,
    /// Run the `fence-peer` handler ([`Replica::fence_peer_start`] …
    /// [`Replica::fence_peer_done`]), report with [`Promotion::fenced`], then retry.
    Fence,
    /// Wait this long (the peer may be found dead meanwhile), then retry.
    WaitMs(u32),
    /// Give up with this error.
    Fail(StateError),
}

impl Promotion {
    /// `primary`, or `primary --force` (`force`).
    pub const fn new(force: bool) -> Self {
        Promotion {
            change: StateChange::new().role(Role::Primary),
            force,
            tries: 0,
            with_pdsk: false,
            fence_for_disk: false,
        }
    }

    /// The change to request now.
    pub const fn change(&self) -> StateChange {
        self.change
    }

    /// `primary --force`.
    pub const fn force(&self) -> bool {
        self.force
    }

    /// The request was refused with `refused`; `disk` is our disk state now,
    /// `ping_timeout_ds` the net option (the wait for a peer that may be dead).
    pub fn refused(
        &mut self,
        refused: StateError,
        disk: DiskState,
        ping_timeout_ds: u32,
    ) -> PromotionStep {
        self.tries += 1;
        if self.tries >= PROMOTION_TRIES {
            return PromotionStep::Fail(refused);
        }
        match refused {
            // Outdated the peer, but the connection came back meanwhile: as it is.
            StateError::CwFailedByPeer if self.with_pdsk => {
                self.change = self.change.without(Field::Pdsk);
                self.with_pdsk = false;
                PromotionStep::Retry
            }
            StateError::NoUpToDateDisk
                if self.force && (DiskState::Inconsistent..DiskState::UpToDate).contains(&disk) =>
            {
                self.change = self.change.disk(DiskState::UpToDate);
                PromotionStep::Retry
            }
            StateError::NoUpToDateDisk if disk == DiskState::Consistent && !self.with_pdsk => {
                self.fence_for_disk = true;
                PromotionStep::Fence
            }
            StateError::PrimaryNop if !self.with_pdsk => {
                self.fence_for_disk = false;
                PromotionStep::Fence
            }
            StateError::TwoPrimaries => {
                self.tries = PROMOTION_TRIES - 1;
                PromotionStep::WaitMs((ping_timeout_ds + 1) * 100)
            }
            e => PromotionStep::Fail(e),
        }
    }

    /// The `fence-peer` handler's verdict (`outdated`: the peer's disk is now Outdated or
    /// worse). Returns a warning to log, if any.
    pub fn fenced(&mut self, outdated: bool) -> Option<&'static str> {
        if self.fence_for_disk {
            if outdated {
                self.change = self.change.disk(DiskState::UpToDate);
            }
            None
        } else if !outdated && self.force {
            self.change = self.change.pdsk(DiskState::Outdated);
            self.with_pdsk = true;
            Some("Forced into split brain situation!")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{connected, Setup, TestHost, TestReplica};
    use super::*;

    /// Connected, Primary, fencing `resource-only`.
    fn primary_with_fencing() -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(Setup::DEFAULT);
        r.set_fencing(Fencing::ResourceOnly);
        r.request_change(StateChange::new().role(Role::Primary), false, &mut h);
        // The peer approves the promotion.
        r.receive(
            super::super::connection::Socket::Meta,
            &super::super::super::wire::Packet::StateChgReply(1),
            0,
            &mut h,
        );
        assert_eq!(r.state().role, Role::Primary);
        assert_eq!(r.state().conn, ConnState::Connected);
        (r, h)
    }

    #[test]
    fn a_primary_losing_its_peer_asks_the_handler_and_exit_5_outdates_the_peer() {
        let (mut r, mut h) = primary_with_fencing();
        r.socket_failed(&mut h);
        assert_eq!(h.fence_requests, 1);
        assert_eq!(r.state().pdsk, DiskState::DUnknown);
        let FenceStart::Run(ticket) = r.fence_peer_start(&mut h) else {
            panic!("the handler must run");
        };
        assert!(r.fence_peer_done(ticket, 5, &mut h));
        assert_eq!(r.state().pdsk, DiskState::Outdated);
        assert!(h.logged("fence-peer helper returned 5 (peer is unreachable, assumed to be dead)"));
    }

    #[test]
    fn without_a_policy_nobody_is_asked() {
        let (mut r, mut h) = primary_with_fencing();
        r.set_fencing(Fencing::DontCare);
        r.socket_failed(&mut h);
        assert_eq!(h.fence_requests, 0);
        assert_eq!(r.fence_peer_start(&mut h), FenceStart::NotNeeded);
    }

    #[test]
    fn a_secondary_losing_its_peer_asks_nobody() {
        let (mut r, mut h) = connected(Setup::DEFAULT);
        r.set_fencing(Fencing::ResourceOnly);
        r.socket_failed(&mut h);
        assert_eq!(h.fence_requests, 0);
    }

    #[test]
    fn an_answer_for_an_older_connection_is_ignored() {
        let (mut r, mut h) = primary_with_fencing();
        r.socket_failed(&mut h);
        let FenceStart::Run(ticket) = r.fence_peer_start(&mut h) else {
            panic!("the handler must run");
        };
        // Connected and lost again while the handler ran.
        r.connect_count += 1;
        assert!(!r.fence_peer_done(ticket, 4, &mut h));
        assert_eq!(r.state().pdsk, DiskState::DUnknown);
        assert!(h.logged("Ignoring fence-peer exit code"));
    }

    #[test]
    fn a_broken_handler_changes_nothing() {
        let (mut r, mut h) = primary_with_fencing();
        r.socket_failed(&mut h);
        let FenceStart::Run(ticket) = r.fence_peer_start(&mut h) else {
            panic!("the handler must run");
        };
        assert!(!r.fence_peer_done(ticket, 1, &mut h));
        assert!(h.logged("fence-peer helper broken, returned 1"));
        assert_eq!(r.state().pdsk, DiskState::DUnknown);
    }

    #[test]
    fn while_connected_the_handler_is_not_run() {
        let (mut r, mut h) = primary_with_fencing();
        assert_eq!(r.fence_peer_start(&mut h), FenceStart::Refused);
        assert!(h.logged("Expected cstate < C_WF_REPORT_PARAMS"));
    }

    /// A Secondary whose peer is gone, promoted as Pacemaker does after a failover:
    /// refused (SS_PRIMARY_NOP), fenced, promoted.
    #[test]
    fn promotion_without_peer_fences_first() {
        let (mut r, mut h) = connected(Setup::DEFAULT);
        r.set_fencing(Fencing::ResourceOnly);
        r.socket_failed(&mut h);
        let mut p = Promotion::new(false);
        h.finished.clear();
        r.request_change(p.change(), false, &mut h);
        let Some(Err(e)) = h.finished.pop() else {
            panic!("the first try must be refused");
        };
        assert_eq!(e, StateError::PrimaryNop);
        assert_eq!(p.refused(e, r.state().disk, 5), PromotionStep::Fence);
        let FenceStart::Run(ticket) = r.fence_peer_start(&mut h) else {
            panic!("the handler must run");
        };
        let outdated = r.fence_peer_done(ticket, 4, &mut h);
        assert_eq!(p.fenced(outdated), None);
        r.request_change(p.change(), false, &mut h);
        assert_eq!(h.finished.pop(), Some(Ok(())));
        assert_eq!(r.state().role, Role::Primary);
        assert_eq!(r.state().pdsk, DiskState::Outdated);
    }

    #[test]
    fn a_forced_promotion_goes_on_when_the_handler_fails() {
        let mut p = Promotion::new(true);
        assert_eq!(
            p.refused(StateError::PrimaryNop, DiskState::UpToDate, 5),
            PromotionStep::Fence
        );
        assert_eq!(p.fenced(false), Some("Forced into split brain situation!"));
        assert_eq!(
            p.change(),
            StateChange::new()
                .role(Role::Primary)
                .pdsk(DiskState::Outdated)
        );
        // Not without --force: refused again, at most four tries in all.
        let mut p = Promotion::new(false);
        for _ in 0..3 {
            assert_eq!(
                p.refused(StateError::PrimaryNop, DiskState::UpToDate, 5),
                PromotionStep::Fence
            );
            assert_eq!(p.fenced(false), None);
        }
        assert_eq!(
            p.refused(StateError::PrimaryNop, DiskState::UpToDate, 5),
            PromotionStep::Fail(StateError::PrimaryNop)
        );
    }

    #[test]
    fn a_consistent_disk_becomes_uptodate_once_the_peer_is_outdated() {
        let mut p = Promotion::new(false);
        assert_eq!(
            p.refused(StateError::NoUpToDateDisk, DiskState::Consistent, 5),
            PromotionStep::Fence
        );
        p.fenced(true);
        assert_eq!(
            p.change(),
            StateChange::new()
                .role(Role::Primary)
                .disk(DiskState::UpToDate)
        );
    }

    #[test]
    fn an_outdated_peer_stays_outdated_when_a_new_attempt_fails() {
        let (mut r, mut h) = primary_with_fencing();
        r.socket_failed(&mut h);
        let FenceStart::Run(ticket) = r.fence_peer_start(&mut h) else {
            panic!("the handler must run");
        };
        assert!(r.fence_peer_done(ticket, 4, &mut h));
        // The next attempt gets sockets and fails before the peer's state arrives.
        r.sockets_established(false, 0, &mut h);
        r.socket_failed(&mut h);
        assert_eq!(r.state().pdsk, DiskState::Outdated);
        // Known to be outdated: nobody needs to be asked again.
        assert_eq!(h.fence_requests, 1);
    }
}
