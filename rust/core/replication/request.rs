// SPDX-License-Identifier: GPL-2.0
//! The life of one application write on the node that submitted it.
//!
//! Spec: `wire-protocol.md` §5.1–5.3. A write has a local half (the clone submitted to the
//! lower device) and a network half (the `P_DATA` to the peer and the acks it earns). The
//! upper bio may complete once the local half is done and the network half has reached the
//! point the replication protocol promises:
//!
//! | protocol | network half is "far enough" when |
//! |---|---|
//! | A | the data was handed to TCP |
//! | B | the peer's `P_RECV_ACK` arrived |
//! | C | the peer's `P_WRITE_ACK` (or `P_RS_WRITE_ACK`) arrived |
//!
//! or when the network half failed (`P_NEG_ACK`, connection lost, or the write was never
//! replicated because there was no peer): then the blocks are marked out of sync, so that the
//! next resync brings the peer up to date. A failed local write marks them too (the peer, if
//! it acked, holds the only good copy). Marking always happens *before* the upper bio learns
//! its result, so no acknowledged write can slip past the bitmap.
//!
//! The request stays known (it may not be freed) until its epoch's `P_BARRIER_ACK` arrived:
//! before that the peer may still lose it in a crash (its write may sit in a volatile cache
//! until the barrier's flush), and on a connection loss every write that is not barrier-acked
//! is marked out of sync. A value of this type lives in the engine's request object (kernel)
//! or the simulator's request table; it decides, the caller acts.

use super::super::wire::AckKind;
use super::WireProtocol;

/// What the sender asked the peer to acknowledge for this write (from its `dp_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckWanted {
    /// Nothing per write (protocol A outside a resync).
    None,
    /// `P_RECV_ACK` on receipt (protocol B, `DP_SEND_RECEIVE_ACK`).
    Receive,
    /// `P_WRITE_ACK`/`P_RS_WRITE_ACK`/`P_NEG_ACK` after the peer's write (protocol C, or any
    /// protocol while resyncing: `DP_SEND_WRITE_ACK`).
    Write,
}

impl AckWanted {
    /// The ack a protocol asks for; during a resync every write asks for the write ack
    /// (`DP_MAY_SET_IN_SYNC | DP_SEND_WRITE_ACK`), so it can clear bits on both nodes.
    pub const fn for_protocol(protocol: WireProtocol, resyncing: bool) -> AckWanted {
        match (protocol, resyncing) {
            (_, true) | (WireProtocol::C, false) => AckWanted::Write,
            (WireProtocol::B, false) => AckWanted::Receive,
            (WireProtocol::A, false) => AckWanted::None,
        }
    }
}

/// The local half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Pending,
    Done { ok: bool },
}

/// The network half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    /// Not replicated (no connection, or the peer may not get writes): out of sync at once.
    NotReplicated,
    /// Queued for the data socket, not yet handed to TCP.
    Queued { wanted: AckWanted },
    /// Handed to TCP; `acked` once the wanted per-write ack came in.
    Sent { wanted: AckWanted, acked: bool },
    /// `P_NEG_ACK`, or the connection went away before the barrier ack.
    Failed,
    /// The epoch's `P_BARRIER_ACK` arrived: the peer has the write on stable storage.
    BarrierAcked,
}

/// Errors: an ack the request never asked for, or one arriving in the wrong phase. A peer
/// that sends such a thing is broken; the connection is dropped (`ProtocolError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// An ack for a write that was never sent (queued, not replicated, already failed).
    AckForUnsentWrite,
    /// `P_RECV_ACK` for a write that did not ask for it.
    UnexpectedReceiveAck,
    /// `P_WRITE_ACK` for a write that did not ask for it.
    UnexpectedWriteAck,
    /// A second per-write ack.
    DuplicateAck,
    /// An ack kind that does not answer an application write (resync, verify, reads).
    NotAWriteAck,
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RequestError::AckForUnsentWrite => "ack for a write that was not sent",
            RequestError::UnexpectedReceiveAck => "RecvAck for a write that did not ask for it",
            RequestError::UnexpectedWriteAck => "WriteAck for a write that did not ask for it",
            RequestError::DuplicateAck => "second ack for the same write",
            RequestError::NotAWriteAck => "ack kind that answers no write",
        })
    }
}

/// What the caller must do after an event, in this order: mark, complete, release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use]
pub struct Step {
    /// Mark the write's blocks out of sync (before completing the upper bio).
    pub mark_out_of_sync: bool,
    /// Clear the write's blocks (the peer answered `P_RS_WRITE_ACK`: both copies equal).
    pub mark_in_sync: bool,
    /// Complete the upper bio now: `Some(true)` = success, `Some(false)` = I/O error.
    pub complete_upper: Option<bool>,
    /// Nothing refers to the request any more: free it.
    pub release: bool,
}

/// One application write (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRequest {
    protocol: WireProtocol,
    local: Local,
    net: Net,
    /// Set once `mark_out_of_sync` was returned, so it is returned once.
    marked: bool,
    completed: bool,
}

impl WriteRequest {
    /// A write that goes to the peer too, asking for `wanted`.
    pub const fn replicated(protocol: WireProtocol, wanted: AckWanted) -> WriteRequest {
        WriteRequest {
            protocol,
            local: Local::Pending,
            net: Net::Queued { wanted },
            marked: false,
            completed: false,
        }
    }

    /// A write the peer does not get. The first step tells the caller to mark its blocks
    /// before submitting.
    pub fn local_only(protocol: WireProtocol) -> (WriteRequest, Step) {
        let mut req = WriteRequest {
            protocol,
            local: Local::Pending,
            net: Net::NotReplicated,
            marked: false,
            completed: false,
        };
        let step = req.settle();
        (req, step)
    }

    /// A request with no data for the peer and nothing to mark (an empty flush: the peer
    /// flushes at the barrier that closes the epoch).
    pub const fn nothing_to_replicate(protocol: WireProtocol) -> WriteRequest {
        WriteRequest {
            protocol,
            local: Local::Pending,
            net: Net::NotReplicated,
            marked: true,
            completed: false,
        }
    }

    /// The protocol the write was submitted under.
    pub const fn protocol(&self) -> WireProtocol {
        self.protocol
    }

    /// The upper bio was completed.
    pub const fn is_completed(&self) -> bool {
        self.completed
    }

    /// Still waiting for something from the peer (an ack or its epoch's barrier ack).
    pub const fn awaits_peer(&self) -> bool {
        matches!(self.net, Net::Queued { .. } | Net::Sent { .. })
    }

    /// The lower device finished the local clone.
    pub fn local_done(&mut self, ok: bool) -> Step {
        if self.local == Local::Pending {
            self.local = Local::Done { ok };
        }
        self.settle()
    }

    /// The data went to TCP (protocol A completes here).
    pub fn sent(&mut self) -> Step {
        if let Net::Queued { wanted } = self.net {
            self.net = Net::Sent {
                wanted,
                acked: false,
            };
        }
        self.settle()
    }

    /// `P_RECV_ACK` arrived for this write.
    pub fn receive_ack(&mut self) -> Result<Step, RequestError> {
        match self.net {
            Net::Sent {
                wanted: AckWanted::Receive,
                acked: false,
            } => {
                self.net = Net::Sent {
                    wanted: AckWanted::Receive,
                    acked: true,
                };
                Ok(self.settle())
            }
            Net::Sent { acked: true, .. } => Err(RequestError::DuplicateAck),
            Net::Sent { .. } => Err(RequestError::UnexpectedReceiveAck),
            _ => Err(RequestError::AckForUnsentWrite),
        }
    }

    /// `P_WRITE_ACK` (`in_sync` = false) or `P_RS_WRITE_ACK` (`in_sync` = true) arrived.
    pub fn write_ack(&mut self, in_sync: bool) -> Result<Step, RequestError> {
        match self.net {
            Net::Sent {
                wanted: AckWanted::Write,
                acked: false,
            } => {
                self.net = Net::Sent {
                    wanted: AckWanted::Write,
                    acked: true,
                };
                let mut step = self.settle();
                step.mark_in_sync = in_sync && !self.marked;
                Ok(step)
            }
            Net::Sent { acked: true, .. } => Err(RequestError::DuplicateAck),
            Net::Sent { .. } => Err(RequestError::UnexpectedWriteAck),
            _ => Err(RequestError::AckForUnsentWrite),
        }
    }

    /// Any per-write ack from the meta socket, by its kind.
    pub fn peer_ack(&mut self, kind: AckKind) -> Result<Step, RequestError> {
        match kind {
            AckKind::RecvAck => self.receive_ack(),
            AckKind::WriteAck => self.write_ack(false),
            AckKind::RsWriteAck => self.write_ack(true),
            AckKind::NegAck => self.negative_ack(),
            _ => Err(RequestError::NotAWriteAck),
        }
    }

    /// `P_NEG_ACK`: the peer could not write it. Its blocks differ now.
    pub fn negative_ack(&mut self) -> Result<Step, RequestError> {
        match self.net {
            Net::Sent { acked: false, .. } => {
                self.net = Net::Failed;
                Ok(self.settle())
            }
            Net::Sent { acked: true, .. } => Err(RequestError::DuplicateAck),
            _ => Err(RequestError::AckForUnsentWrite),
        }
    }

    /// The epoch holding this write was acknowledged by `P_BARRIER_ACK`.
    pub fn barrier_acked(&mut self) -> Step {
        match self.net {
            // A protocol-B/C write whose per-write ack is missing cannot be in an acked
            // epoch; the caller checks the epoch's count first. Treat it as lost, not as
            // written: marking costs a resync, trusting could lose data.
            Net::Sent { wanted, acked } if acked || wanted == AckWanted::None => {
                self.net = Net::BarrierAcked
            }
            Net::Sent { .. } | Net::Queued { .. } => self.net = Net::Failed,
            Net::NotReplicated | Net::Failed | Net::BarrierAcked => {}
        }
        self.settle()
    }

    /// The connection is gone: whatever the peer did not confirm by a barrier ack may be
    /// missing there.
    pub fn connection_lost(&mut self) -> Step {
        if matches!(self.net, Net::Queued { .. } | Net::Sent { .. }) {
            self.net = Net::Failed;
        }
        self.settle()
    }

    /// Derives the step from the current halves; every event ends here.
    fn settle(&mut self) -> Step {
        let mut step = Step::default();
        let net_failed = matches!(self.net, Net::NotReplicated | Net::Failed);
        let local_failed = self.local == (Local::Done { ok: false });
        if (net_failed || local_failed) && !self.marked {
            self.marked = true;
            step.mark_out_of_sync = true;
        }
        if let Local::Done { ok: local_ok } = self.local {
            if !self.completed {
                let net_ok = self.net_far_enough();
                if net_ok || net_failed {
                    self.completed = true;
                    // The data is safe if either copy was written.
                    step.complete_upper = Some(local_ok || net_ok);
                }
            }
        }
        step.release = self.completed
            && matches!(
                self.net,
                Net::NotReplicated | Net::Failed | Net::BarrierAcked
            );
        step
    }

    /// The network half has reached what the protocol promises the application.
    fn net_far_enough(&self) -> bool {
        match self.net {
            Net::BarrierAcked => true,
            Net::Sent { wanted, acked } => match self.protocol {
                WireProtocol::A => true,
                // Under B/C the promised ack decides; a resync write under B asked for the
                // write ack, which then stands in for the receive ack.
                WireProtocol::B | WireProtocol::C => acked || wanted == AckWanted::None,
            },
            Net::NotReplicated | Net::Queued { .. } | Net::Failed => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(step: Step) -> Option<bool> {
        step.complete_upper
    }

    #[test]
    fn protocol_c_completes_on_write_ack_and_local_done_in_any_order() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        assert_eq!(done(req.sent()), None);
        assert_eq!(
            done(req.local_done(true)),
            None,
            "C waits for the write ack"
        );
        let step = req.write_ack(false).unwrap();
        assert_eq!(step.complete_upper, Some(true));
        assert!(!step.release, "kept until the barrier ack");
        assert!(!step.mark_out_of_sync);
        let step = req.barrier_acked();
        assert_eq!(step.complete_upper, None);
        assert!(step.release);

        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        assert_eq!(
            done(req.write_ack(false).unwrap()),
            None,
            "C waits for the local write"
        );
        assert_eq!(done(req.local_done(true)), Some(true));
    }

    #[test]
    fn protocol_a_completes_when_handed_to_tcp() {
        let mut req = WriteRequest::replicated(WireProtocol::A, AckWanted::None);
        assert_eq!(done(req.local_done(true)), None, "not yet sent");
        let step = req.sent();
        assert_eq!(step.complete_upper, Some(true));
        assert!(!step.release);
        assert!(req.barrier_acked().release);
    }

    #[test]
    fn protocol_b_completes_on_receive_ack() {
        let mut req = WriteRequest::replicated(WireProtocol::B, AckWanted::Receive);
        let _ = req.sent();
        assert_eq!(done(req.local_done(true)), None);
        assert_eq!(done(req.receive_ack().unwrap()), Some(true));
        assert_eq!(req.receive_ack(), Err(RequestError::DuplicateAck));
    }

    #[test]
    fn resync_writes_of_protocol_a_wait_for_the_write_ack_only_for_release() {
        let wanted = AckWanted::for_protocol(WireProtocol::A, true);
        assert_eq!(wanted, AckWanted::Write);
        let mut req = WriteRequest::replicated(WireProtocol::A, wanted);
        let _ = req.local_done(true);
        assert_eq!(done(req.sent()), Some(true), "A still completes on send");
        let step = req.write_ack(true).unwrap();
        assert!(step.mark_in_sync);
        assert!(!step.release);
        assert!(req.barrier_acked().release);
    }

    #[test]
    fn negative_ack_marks_before_completing() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let step = req.negative_ack().unwrap();
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, None, "local still pending");
        let step = req.local_done(true);
        assert!(!step.mark_out_of_sync, "marked once");
        assert_eq!(step.complete_upper, Some(true), "the local copy is good");
        assert!(step.release, "a failed network half needs no barrier ack");
    }

    #[test]
    fn connection_loss_marks_every_write_not_barrier_acked() {
        // Completed under C, waiting for its barrier ack: the peer may not have it on disk.
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let _ = req.local_done(true);
        let _ = req.write_ack(false).unwrap();
        let step = req.connection_lost();
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, None, "already completed");
        assert!(step.release);

        // Still queued: completes with the local result after marking.
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.local_done(true);
        let step = req.connection_lost();
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, Some(true));

        // Barrier-acked: nothing to mark.
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let _ = req.write_ack(false).unwrap();
        let _ = req.barrier_acked();
        let step = req.connection_lost();
        assert!(!step.mark_out_of_sync);
    }

    #[test]
    fn local_failure_with_a_written_peer_copy_succeeds_and_marks() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let step = req.local_done(false);
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, None);
        assert_eq!(done(req.write_ack(false).unwrap()), Some(true));
    }

    #[test]
    fn both_copies_failed_is_an_error() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let _ = req.negative_ack().unwrap();
        assert_eq!(done(req.local_done(false)), Some(false));
        let (mut req, step) = WriteRequest::local_only(WireProtocol::C);
        assert!(step.mark_out_of_sync);
        assert_eq!(done(req.local_done(false)), Some(false));
    }

    #[test]
    fn local_only_write_marks_first_and_releases_when_done() {
        let (mut req, step) = WriteRequest::local_only(WireProtocol::C);
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, None);
        let step = req.local_done(true);
        assert_eq!(step.complete_upper, Some(true));
        assert!(step.release);
        assert!(!step.mark_out_of_sync);
    }

    #[test]
    fn acks_in_the_wrong_phase_are_protocol_errors() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        assert_eq!(req.write_ack(false), Err(RequestError::AckForUnsentWrite));
        let _ = req.sent();
        assert_eq!(req.receive_ack(), Err(RequestError::UnexpectedReceiveAck));
        let _ = req.write_ack(false).unwrap();
        assert_eq!(req.write_ack(false), Err(RequestError::DuplicateAck));
        assert_eq!(req.negative_ack(), Err(RequestError::DuplicateAck));
        let mut req = WriteRequest::replicated(WireProtocol::A, AckWanted::None);
        let _ = req.sent();
        assert_eq!(req.write_ack(false), Err(RequestError::UnexpectedWriteAck));
    }

    #[test]
    fn acks_by_kind() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let _ = req.local_done(true);
        assert_eq!(
            req.peer_ack(AckKind::OvResult),
            Err(RequestError::NotAWriteAck)
        );
        let step = req.peer_ack(AckKind::RsWriteAck).unwrap();
        assert_eq!(step.complete_upper, Some(true));
        assert!(step.mark_in_sync);
        let mut req = WriteRequest::replicated(WireProtocol::B, AckWanted::Receive);
        let _ = req.sent();
        assert!(req.peer_ack(AckKind::RecvAck).is_ok());
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        assert!(req.peer_ack(AckKind::NegAck).unwrap().mark_out_of_sync);
    }

    #[test]
    fn a_barrier_ack_never_counts_as_a_missing_write_ack() {
        let mut req = WriteRequest::replicated(WireProtocol::C, AckWanted::Write);
        let _ = req.sent();
        let _ = req.local_done(true);
        let step = req.barrier_acked();
        assert!(step.mark_out_of_sync);
        assert_eq!(step.complete_upper, Some(true));
        assert!(step.release);
    }

    /// Exhaustive over short event sequences: the upper bio is completed at most once, never
    /// before the local half, and a completed write is either barrier-acked on the peer or
    /// was marked out of sync by the time it is released.
    #[test]
    fn invariants_over_all_event_orders() {
        #[derive(Clone, Copy, Debug)]
        enum Ev {
            LocalOk,
            LocalErr,
            Sent,
            RecvAck,
            WriteAck,
            RsWriteAck,
            NegAck,
            BarrierAck,
            Lost,
        }
        const EVS: [Ev; 9] = [
            Ev::LocalOk,
            Ev::LocalErr,
            Ev::Sent,
            Ev::RecvAck,
            Ev::WriteAck,
            Ev::RsWriteAck,
            Ev::NegAck,
            Ev::BarrierAck,
            Ev::Lost,
        ];
        let starts = [
            (WireProtocol::A, Some(AckWanted::None)),
            (WireProtocol::A, Some(AckWanted::Write)),
            (WireProtocol::B, Some(AckWanted::Receive)),
            (WireProtocol::C, Some(AckWanted::Write)),
            (WireProtocol::C, None),
        ];
        for (protocol, wanted) in starts {
            for seq in 0..EVS.len().pow(5) {
                let (mut req, first) = match wanted {
                    Some(w) => (WriteRequest::replicated(protocol, w), Step::default()),
                    None => WriteRequest::local_only(protocol),
                };
                let mut marked = first.mark_out_of_sync;
                let mut completions = 0;
                let mut local_done = false;
                let mut released = false;
                let mut barrier_acked = false;
                let mut n = seq;
                for _ in 0..5 {
                    if released {
                        break; // the caller freed it
                    }
                    let ev = EVS[n % EVS.len()];
                    n /= EVS.len();
                    let step = match ev {
                        Ev::LocalOk | Ev::LocalErr => {
                            local_done = true;
                            req.local_done(matches!(ev, Ev::LocalOk))
                        }
                        Ev::Sent => req.sent(),
                        Ev::RecvAck => req.receive_ack().unwrap_or_default(),
                        Ev::WriteAck => req.write_ack(false).unwrap_or_default(),
                        Ev::RsWriteAck => req.write_ack(true).unwrap_or_default(),
                        Ev::NegAck => req.negative_ack().unwrap_or_default(),
                        Ev::BarrierAck => {
                            let acked_before = req.net == Net::BarrierAcked;
                            let s = req.barrier_acked();
                            barrier_acked = acked_before || req.net == Net::BarrierAcked;
                            s
                        }
                        Ev::Lost => req.connection_lost(),
                    };
                    marked |= step.mark_out_of_sync;
                    if step.complete_upper.is_some() {
                        completions += 1;
                        assert!(local_done, "{protocol:?} {seq}: completed before local");
                    }
                    if step.release {
                        released = true;
                        assert_eq!(completions, 1, "{seq}: released uncompleted");
                        assert!(marked || barrier_acked, "{seq}: released unsafely");
                    }
                }
                assert!(completions <= 1);
            }
        }
    }
}
