// SPDX-License-Identifier: GPL-2.0
//! Write epochs on both ends of a connection: `P_BARRIER` / `P_BARRIER_ACK` bookkeeping.
//!
//! Spec: `wire-protocol.md` §5.3. The sending node groups replicated writes into epochs. An
//! epoch is *closed* when one of its writes completed to the application (from then on the
//! application may issue writes that depend on it), when it reached `max-epoch-size` writes,
//! or on an empty flush; the `P_BARRIER(n)` that separates it from the next write is sent
//! before that next write, or when the sender runs out of work. The receiving node counts the
//! writes of each epoch and, once all of them are on its disk (and, with the default
//! write-ordering `flush`, its lower device was flushed), answers `P_BARRIER_ACK(n, count)`.
//! Only then are the epoch's writes safe from a crash of the peer.

use super::WriteOrdering;

/// One closed epoch waiting for its barrier ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SentEpoch {
    /// The barrier number sent in `P_BARRIER`.
    pub number: u32,
    /// Writes sent in it (the expected `set_size`).
    pub writes: u32,
    /// When its first write was sent (ms, the caller's clock): the age `ko-count` limits.
    pub first_ms: u64,
}

/// The ring of barriered epochs is full: the sender must wait for a barrier ack before it
/// sends the next write (the caller sized the ring; this is its back pressure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochsFull;

/// A `P_BARRIER_ACK` that does not match the oldest unacknowledged epoch: drbd's
/// "BAD! BarrierAck #%u received with n_writes=%u, expected n_writes=%u!", a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBarrierAck {
    /// What the peer acknowledged.
    pub barrier: u32,
    /// The count it sent.
    pub set_size: u32,
    /// The epoch we expected (None: nothing was outstanding).
    pub expected: Option<SentEpoch>,
}

impl core::fmt::Display for BadBarrierAck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.expected {
            Some(e) => write!(
                f,
                "BAD! BarrierAck #{} received with n_writes={}, expected #{} with n_writes={}!",
                self.barrier, self.set_size, e.number, e.writes
            ),
            None => write!(
                f,
                "BAD! BarrierAck #{} received with n_writes={}, no epoch outstanding!",
                self.barrier, self.set_size
            ),
        }
    }
}

/// What to put on the data socket before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct WriteSlot {
    /// Send `P_BARRIER(n)` first: it closes the previous epoch.
    pub barrier_first: Option<u32>,
    /// The epoch the write belongs to (its request remembers it for the barrier ack).
    pub epoch: u32,
}

/// The sending node's epochs. `S` is caller-provided storage for barriered epochs that are
/// not acknowledged yet (its length is the ring capacity, at least 1).
#[derive(Debug)]
pub struct SenderEpochs<S> {
    ring: S,
    head: usize,
    len: usize,
    current: u32,
    current_writes: u32,
    current_first_ms: u64,
    close_requested: bool,
    max_epoch_size: u32,
}

impl<S: AsRef<[SentEpoch]> + AsMut<[SentEpoch]>> SenderEpochs<S> {
    /// A fresh connection's epochs; the first epoch gets number `first`.
    /// `max_epoch_size` is the net option (writes per epoch, at least 1).
    pub fn new(ring: S, first: u32, max_epoch_size: u32) -> Self {
        SenderEpochs {
            ring,
            head: 0,
            len: 0,
            current: first,
            current_writes: 0,
            current_first_ms: 0,
            close_requested: false,
            max_epoch_size: max_epoch_size.max(1),
        }
    }

    /// The number of the open epoch.
    pub const fn current(&self) -> u32 {
        self.current
    }

    /// Barriered epochs still waiting for their ack.
    pub const fn unacked(&self) -> usize {
        self.len
    }

    /// The oldest epoch waiting for its ack (for the `ko-count` timeout).
    pub fn oldest_unacked(&self) -> Option<SentEpoch> {
        (self.len > 0)
            .then(|| self.ring.as_ref().get(self.head).copied())
            .flatten()
    }

    /// Nothing sent is waiting for a barrier ack, and the open epoch is empty.
    pub const fn is_idle(&self) -> bool {
        self.len == 0 && self.current_writes == 0
    }

    /// When the oldest write still waiting for its barrier ack was sent (None: nothing is
    /// outstanding). `ko-count × timeout` past it the peer is declared dead (§5.3).
    pub fn oldest_pending_since(&self) -> Option<u64> {
        match self.oldest_unacked() {
            Some(e) => Some(e.first_ms),
            None => (self.current_writes > 0).then_some(self.current_first_ms),
        }
    }

    /// A write is about to be sent at `now_ms`. Fails only when the ring is full and a
    /// barrier is due.
    pub fn prepare_write(&mut self, now_ms: u64) -> Result<WriteSlot, EpochsFull> {
        let must_close = self.close_requested || self.current_writes >= self.max_epoch_size;
        let barrier_first = if must_close && self.current_writes > 0 {
            Some(self.push_current()?)
        } else {
            self.close_requested = false;
            None
        };
        if self.current_writes == 0 {
            self.current_first_ms = now_ms;
        }
        self.current_writes += 1;
        Ok(WriteSlot {
            barrier_first,
            epoch: self.current,
        })
    }

    /// A write of `epoch` completed to the application: its epoch must not take later writes.
    pub fn write_completed(&mut self, epoch: u32) {
        if epoch == self.current {
            self.close_current();
        }
    }

    /// Close the open epoch (an empty flush, a change of replication mode).
    pub fn close_current(&mut self) {
        if self.current_writes > 0 {
            self.close_requested = true;
        }
    }

    /// The sender has nothing else to send: a closed epoch gets its barrier now instead of
    /// waiting for the next write (else its barrier ack, and the peer's flush, never come).
    pub fn barrier_when_idle(&mut self) -> Result<Option<u32>, EpochsFull> {
        if self.close_requested && self.current_writes > 0 {
            self.push_current().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A `P_BARRIER_ACK(barrier, set_size)` arrived; returns the acknowledged epoch, whose
    /// writes are now on the peer's stable storage.
    pub fn barrier_ack(&mut self, barrier: u32, set_size: u32) -> Result<SentEpoch, BadBarrierAck> {
        let expected = self.oldest_unacked();
        match expected {
            Some(e) if e.number == barrier && e.writes == set_size => {
                self.head = (self.head + 1) % self.capacity();
                self.len -= 1;
                Ok(e)
            }
            _ => Err(BadBarrierAck {
                barrier,
                set_size,
                expected,
            }),
        }
    }

    /// A new connection: forget every epoch and take the (possibly changed) net option.
    pub fn restart(&mut self, max_epoch_size: u32) {
        self.reset();
        self.max_epoch_size = max_epoch_size.max(1);
    }

    /// The connection is gone: every epoch is forgotten (the requests themselves are marked
    /// out of sync by their own `connection_lost`). Numbering goes on.
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
        self.current = self.current.wrapping_add(1);
        self.current_writes = 0;
        self.close_requested = false;
    }

    fn capacity(&self) -> usize {
        self.ring.as_ref().len().max(1)
    }

    fn push_current(&mut self) -> Result<u32, EpochsFull> {
        let capacity = self.capacity();
        if self.len >= capacity {
            return Err(EpochsFull);
        }
        let slot = (self.head + self.len) % capacity;
        let epoch = SentEpoch {
            number: self.current,
            writes: self.current_writes,
            first_ms: self.current_first_ms,
        };
        *self.ring.as_mut().get_mut(slot).ok_or(EpochsFull)? = epoch;
        self.len += 1;
        self.current = self.current.wrapping_add(1);
        self.current_writes = 0;
        self.close_requested = false;
        Ok(epoch.number)
    }
}

/// Which epoch a received write belongs to (returned on receipt, handed back on completion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochTag(u32);

/// An epoch whose barrier arrived, waiting for its writes (and flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Closing {
    tag: u32,
    barrier: u32,
    count: u32,
    pending: u32,
    flushing: bool,
}

/// What the receiving node does next for the closing epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ReceiverStep {
    /// Nothing yet.
    Wait,
    /// Flush the lower device, then call [`ReceiverEpochs::flush_done`].
    Flush,
    /// Send `P_BARRIER_ACK(barrier, set_size)`; the receiver may read packets again.
    SendBarrierAck {
        /// Echo of the peer's barrier number.
        barrier: u32,
        /// Writes of the epoch.
        set_size: u32,
    },
}

/// A receiver protocol violation (drops the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverEpochError {
    /// A write completion for an epoch that has no write pending.
    UnknownWrite,
    /// A packet was processed while the receiver should have waited for the epoch.
    NotReceiving,
}

/// The receiving node's epochs. The receiver stops reading the data socket after a
/// `P_BARRIER` until that epoch is acknowledged ([`Self::may_receive`]), so writes of the next
/// epoch never reach the disk before the previous one is stable — drbd's `drain`/`flush`
/// write ordering. With ordering `none` the flush is skipped but the wait stays (a simpler
/// pipeline; it costs throughput, never order).
#[derive(Debug)]
pub struct ReceiverEpochs {
    ordering: WriteOrdering,
    tag: u32,
    received: u32,
    pending: u32,
    closing: Option<Closing>,
}

impl ReceiverEpochs {
    /// A fresh connection's receiver epochs.
    pub const fn new(ordering: WriteOrdering) -> Self {
        ReceiverEpochs {
            ordering,
            tag: 0,
            received: 0,
            pending: 0,
            closing: None,
        }
    }

    /// The data socket may be read (no epoch is closing).
    pub const fn may_receive(&self) -> bool {
        self.closing.is_none()
    }

    /// Writes submitted and not completed, over all epochs (detach and disconnect wait on it).
    pub fn writes_in_flight(&self) -> u32 {
        self.pending + self.closing.map_or(0, |c| c.pending)
    }

    /// A `P_DATA`/`P_TRIM`/`P_ZEROES` arrived (also one the receiver cannot write: it is
    /// counted and negatively acknowledged). Complete it with [`Self::write_done`].
    pub fn write_received(&mut self) -> Result<EpochTag, ReceiverEpochError> {
        if !self.may_receive() {
            return Err(ReceiverEpochError::NotReceiving);
        }
        self.received += 1;
        self.pending += 1;
        Ok(EpochTag(self.tag))
    }

    /// A received write finished on the lower device (or was dropped).
    pub fn write_done(&mut self, tag: EpochTag) -> Result<ReceiverStep, ReceiverEpochError> {
        if tag.0 == self.tag {
            self.pending = self
                .pending
                .checked_sub(1)
                .ok_or(ReceiverEpochError::UnknownWrite)?;
            return Ok(ReceiverStep::Wait);
        }
        match &mut self.closing {
            Some(c) if c.tag == tag.0 => {
                c.pending = c
                    .pending
                    .checked_sub(1)
                    .ok_or(ReceiverEpochError::UnknownWrite)?;
                Ok(self.advance())
            }
            _ => Err(ReceiverEpochError::UnknownWrite),
        }
    }

    /// `P_BARRIER(barrier)` arrived: the open epoch is closed. A barrier for an empty epoch
    /// (drbd never sends one) is not acknowledged, as drbd does.
    pub fn barrier_received(&mut self, barrier: u32) -> Result<ReceiverStep, ReceiverEpochError> {
        if !self.may_receive() {
            return Err(ReceiverEpochError::NotReceiving);
        }
        if self.received == 0 {
            return Ok(ReceiverStep::Wait);
        }
        self.closing = Some(Closing {
            tag: self.tag,
            barrier,
            count: self.received,
            pending: self.pending,
            flushing: false,
        });
        self.tag = self.tag.wrapping_add(1);
        self.received = 0;
        self.pending = 0;
        Ok(self.advance())
    }

    /// The flush requested by [`ReceiverStep::Flush`] finished (a failed flush is the lower
    /// device's problem, reported by the caller; the epoch is done either way, as in drbd).
    pub fn flush_done(&mut self) -> ReceiverStep {
        match self.closing {
            Some(c) if c.flushing => {
                self.closing = None;
                ReceiverStep::SendBarrierAck {
                    barrier: c.barrier,
                    set_size: c.count,
                }
            }
            _ => ReceiverStep::Wait,
        }
    }

    /// The connection is gone: writes in flight still complete (and are ignored); a new
    /// connection starts a new epoch.
    pub fn reset(&mut self) {
        self.tag = self.tag.wrapping_add(2);
        self.received = 0;
        self.pending = 0;
        self.closing = None;
    }

    fn advance(&mut self) -> ReceiverStep {
        let Some(c) = &mut self.closing else {
            return ReceiverStep::Wait;
        };
        if c.pending > 0 || c.flushing {
            return ReceiverStep::Wait;
        }
        if self.ordering == WriteOrdering::Flush {
            c.flushing = true;
            return ReceiverStep::Flush;
        }
        let ack = ReceiverStep::SendBarrierAck {
            barrier: c.barrier,
            set_size: c.count,
        };
        self.closing = None;
        ack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(capacity: usize) -> SenderEpochs<[SentEpoch; 8]> {
        assert!(capacity == 8);
        SenderEpochs::new([SentEpoch::default(); 8], 0, 2048)
    }

    #[test]
    fn protocol_c_pattern_one_write_per_epoch() {
        // Observed: DATA, WRITE_ACK, BARRIER(k), DATA, …, BARRIER_ACK(k, 1).
        let mut tx = sender(8);
        let w = tx.prepare_write(0).unwrap();
        assert_eq!(
            w,
            WriteSlot {
                barrier_first: None,
                epoch: 0
            }
        );
        assert_eq!(
            tx.barrier_when_idle(),
            Ok(None),
            "open epoch: no barrier yet"
        );
        tx.write_completed(w.epoch);
        assert_eq!(tx.barrier_when_idle(), Ok(Some(0)));
        assert_eq!(tx.barrier_when_idle(), Ok(None), "once");
        let w = tx.prepare_write(0).unwrap();
        assert_eq!(
            w,
            WriteSlot {
                barrier_first: None,
                epoch: 1
            }
        );
        assert_eq!(
            tx.barrier_ack(0, 1),
            Ok(SentEpoch {
                number: 0,
                writes: 1,
                first_ms: 0,
            })
        );
        tx.write_completed(1);
        let w = tx.prepare_write(0).unwrap();
        assert_eq!(
            w,
            WriteSlot {
                barrier_first: Some(1),
                epoch: 2
            }
        );
        assert_eq!(tx.unacked(), 1);
    }

    #[test]
    fn epochs_grow_until_a_write_completes_or_max_size() {
        let mut tx = SenderEpochs::new([SentEpoch::default(); 4], 10, 3);
        for _ in 0..3 {
            assert_eq!(tx.prepare_write(0).unwrap().barrier_first, None);
        }
        let w = tx.prepare_write(0).unwrap();
        assert_eq!(
            w,
            WriteSlot {
                barrier_first: Some(10),
                epoch: 11
            },
            "max-epoch-size 3"
        );
        tx.write_completed(10); // an old epoch's completion does not close the new one
        assert_eq!(tx.prepare_write(0).unwrap().barrier_first, None);
        tx.close_current(); // an empty flush
        assert_eq!(tx.prepare_write(0).unwrap().barrier_first, Some(11));
        assert_eq!(
            tx.oldest_unacked(),
            Some(SentEpoch {
                number: 10,
                writes: 3,
                first_ms: 0,
            })
        );
        assert_eq!(tx.barrier_ack(10, 3).unwrap().writes, 3);
        assert_eq!(tx.barrier_ack(11, 2).unwrap().writes, 2);
        assert_eq!(tx.oldest_unacked(), None);
    }

    #[test]
    fn bad_barrier_acks_are_refused() {
        let mut tx = sender(8);
        assert!(tx.barrier_ack(0, 0).is_err(), "nothing outstanding");
        let _ = tx.prepare_write(0).unwrap();
        tx.close_current();
        let _ = tx.barrier_when_idle().unwrap();
        let err = tx.barrier_ack(0, 2).unwrap_err();
        assert_eq!(
            err.expected,
            Some(SentEpoch {
                number: 0,
                writes: 1,
                first_ms: 0,
            })
        );
        let mut text = crate_text();
        core::fmt::write(&mut text, format_args!("{err}")).unwrap();
        assert!(text
            .0
            .starts_with("BAD! BarrierAck #0 received with n_writes=2"));
        assert!(tx.barrier_ack(1, 1).is_err(), "wrong number");
        assert!(tx.barrier_ack(0, 1).is_ok());
    }

    struct Text(std::string::String);
    impl core::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.push_str(s);
            Ok(())
        }
    }
    fn crate_text() -> Text {
        Text(std::string::String::new())
    }

    #[test]
    fn the_oldest_pending_write_dates_the_ko_timeout() {
        let mut tx = sender(8);
        assert_eq!(tx.oldest_pending_since(), None);
        let _ = tx.prepare_write(100).unwrap();
        let _ = tx.prepare_write(150).unwrap();
        assert_eq!(tx.oldest_pending_since(), Some(100));
        tx.close_current();
        assert_eq!(tx.barrier_when_idle(), Ok(Some(0)));
        let _ = tx.prepare_write(300).unwrap();
        assert_eq!(
            tx.oldest_pending_since(),
            Some(100),
            "barriered epoch 0 still unacked"
        );
        assert!(tx.barrier_ack(0, 2).is_ok());
        assert_eq!(tx.oldest_pending_since(), Some(300));
    }

    #[test]
    fn a_full_ring_is_back_pressure_not_loss() {
        let mut tx = SenderEpochs::new([SentEpoch::default(); 2], 0, 1);
        let _ = tx.prepare_write(0).unwrap(); // epoch 0
        let _ = tx.prepare_write(0).unwrap(); // barrier 0, epoch 1
        let _ = tx.prepare_write(0).unwrap(); // barrier 1, epoch 2
        assert_eq!(tx.prepare_write(0), Err(EpochsFull));
        assert_eq!(tx.barrier_when_idle(), Ok(None), "epoch 2 not closed yet");
        assert!(tx.barrier_ack(0, 1).is_ok());
        assert_eq!(tx.prepare_write(0).unwrap().barrier_first, Some(2));
        assert_eq!(tx.unacked(), 2);
    }

    #[test]
    fn sender_reset_forgets_everything() {
        let mut tx = sender(8);
        let _ = tx.prepare_write(0).unwrap();
        tx.close_current();
        let _ = tx.barrier_when_idle().unwrap();
        let _ = tx.prepare_write(0).unwrap();
        tx.reset();
        assert!(tx.is_idle());
        assert_eq!(tx.oldest_unacked(), None);
        let w = tx.prepare_write(0).unwrap();
        assert_eq!(
            w.barrier_first, None,
            "no barrier for epochs of the old connection"
        );
    }

    #[test]
    fn receiver_acks_after_writes_and_flush() {
        let mut rx = ReceiverEpochs::new(WriteOrdering::Flush);
        let a = rx.write_received().unwrap();
        let b = rx.write_received().unwrap();
        assert_eq!(rx.write_done(a), Ok(ReceiverStep::Wait));
        assert_eq!(rx.barrier_received(7), Ok(ReceiverStep::Wait));
        assert!(!rx.may_receive(), "drain before the next epoch");
        assert_eq!(rx.write_received(), Err(ReceiverEpochError::NotReceiving));
        assert_eq!(rx.write_done(b), Ok(ReceiverStep::Flush));
        assert_eq!(rx.writes_in_flight(), 0);
        assert!(!rx.may_receive());
        assert_eq!(
            rx.flush_done(),
            ReceiverStep::SendBarrierAck {
                barrier: 7,
                set_size: 2
            }
        );
        assert!(rx.may_receive());
        assert_eq!(rx.flush_done(), ReceiverStep::Wait);
    }

    #[test]
    fn receiver_without_flush_acks_when_drained() {
        let mut rx = ReceiverEpochs::new(WriteOrdering::Drain);
        let a = rx.write_received().unwrap();
        assert_eq!(rx.write_done(a), Ok(ReceiverStep::Wait));
        assert_eq!(
            rx.barrier_received(0x0100_0000),
            Ok(ReceiverStep::SendBarrierAck {
                barrier: 0x0100_0000,
                set_size: 1
            })
        );
        assert!(rx.may_receive());
        assert_eq!(
            rx.barrier_received(5),
            Ok(ReceiverStep::Wait),
            "empty epoch: no ack"
        );
        assert!(rx.may_receive());
    }

    #[test]
    fn receiver_rejects_unknown_completions() {
        let mut rx = ReceiverEpochs::new(WriteOrdering::Flush);
        assert_eq!(
            rx.write_done(EpochTag(0)),
            Err(ReceiverEpochError::UnknownWrite)
        );
        let a = rx.write_received().unwrap();
        rx.reset();
        assert_eq!(
            rx.write_done(a),
            Err(ReceiverEpochError::UnknownWrite),
            "old connection"
        );
    }

    /// Sender and receiver together over a FIFO link with random local completion order:
    /// every barrier ack is accepted and counts every write exactly once.
    #[test]
    fn sender_and_receiver_agree_under_random_schedules() {
        use proptest::prelude::*;
        proptest!(|(ops in proptest::collection::vec(0u8..4, 1..300), max in 1u32..5)| {
            let mut tx = SenderEpochs::new([SentEpoch::default(); 16], 0, max);
            let mut rx = ReceiverEpochs::new(WriteOrdering::Flush);
            let mut in_flight: std::vec::Vec<(EpochTag, u32)> = std::vec::Vec::new();
            let mut link: std::collections::VecDeque<(bool, u32)> = Default::default();
            let mut acks = 0u32;
            let mut sent = 0u32;
            for op in ops {
                match op {
                    0 => if let Ok(slot) = tx.prepare_write(0) {
                        if let Some(b) = slot.barrier_first { link.push_back((true, b)); }
                        link.push_back((false, slot.epoch));
                        sent += 1;
                    },
                    1 => { // the sender completes the oldest write to the application
                        if let Some(&(_, epoch)) = in_flight.first() { tx.write_completed(epoch); }
                        if let Ok(Some(b)) = tx.barrier_when_idle() { link.push_back((true, b)); }
                    }
                    2 => if rx.may_receive() { if let Some((is_barrier, n)) = link.pop_front() {
                        if is_barrier {
                            let step = rx.barrier_received(n).unwrap();
                            acks += handle(&mut tx, &mut rx, step);
                        } else {
                            in_flight.push((rx.write_received().unwrap(), n));
                        }
                    }},
                    _ => if !in_flight.is_empty() {
                        let (tag, _) = in_flight.remove(in_flight.len() / 2);
                        let step = rx.write_done(tag).unwrap();
                        acks += handle(&mut tx, &mut rx, step);
                    },
                }
            }
            prop_assert!(acks <= sent);
        });

        fn handle(
            tx: &mut SenderEpochs<[SentEpoch; 16]>,
            rx: &mut ReceiverEpochs,
            mut step: ReceiverStep,
        ) -> u32 {
            if step == ReceiverStep::Flush {
                step = rx.flush_done();
            }
            match step {
                ReceiverStep::SendBarrierAck { barrier, set_size } => {
                    assert!(tx.barrier_ack(barrier, set_size).is_ok());
                    set_size
                }
                _ => 0,
            }
        }
    }
}
