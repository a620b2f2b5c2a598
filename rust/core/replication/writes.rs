// SPDX-License-Identifier: GPL-2.0
//! The replicated write path of a [`Replica`]: what the Primary sends for an application
//! write, and what the Secondary does with a `P_DATA`, `P_TRIM` or `P_BARRIER`.
//!
//! Spec: `wire-protocol.md` §5.1–5.3 and §5.7. The per-write decisions of the sending side
//! are [`WriteRequest`](super::request::WriteRequest)'s; the epoch bookkeeping of both sides
//! is in [`epochs`](super::epochs). This file connects them to the connection state.

use super::super::state::{ConnState, DiskState};
use super::super::wire::{
    self, AckKind, BlockAck, DataHeader, DataKind, Packet, TrimKind, DP_DISCARD, DP_FLUSH, DP_FUA,
    DP_MAY_SET_IN_SYNC, DP_RW_SYNC, DP_SEND_RECEIVE_ACK, DP_SEND_WRITE_ACK, DP_ZEROES,
};
use super::conflicts::{Interval, IoKind, Slot};
use super::connection::{Host, Level, LossReason, Replica, Socket, Storage};
use super::epochs::{EpochTag, EpochsFull, ReceiverStep};
use super::io_errors::FailedIo;
use super::request::{AckWanted, Step, WriteRequest};
use super::resync_path::HeldWrite;
use super::WireProtocol;

/// What an application write asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteFlags {
    /// `REQ_FUA`.
    pub fua: bool,
    /// `REQ_PREFLUSH`.
    pub flush: bool,
    /// `REQ_SYNC`.
    pub sync: bool,
    /// A discard (no data).
    pub discard: bool,
    /// A write-zeroes (no data); `discard` too when unmapping is allowed.
    pub zeroes: bool,
}

/// The packet(s) to put on the data socket for a replicated write, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSend {
    /// `P_BARRIER(n)` closing the previous epoch.
    pub barrier_first: Option<u32>,
    /// The write itself; for [`Packet::Data`] the caller appends `data_len` bytes.
    pub packet: Packet<'static>,
}

/// Why an application write must wait (retry after the next ack, completion or tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBusy {
    /// Too many epochs are unacknowledged.
    Epochs,
    /// A resync read of an overlapping range is in flight (its reply must go first), an
    /// online verify of it is (both nodes must digest the same data), or, on the SyncTarget,
    /// the range is requested from the source and not written yet.
    ResyncConflict,
    /// A write of the peer to an overlapping range, received before the connection was
    /// lost, is still on its way to the disk (it must land first).
    PeerWriteInFlight,
    /// Too much I/O in flight.
    TableFull,
    /// Not a wait but a refusal: neither this node's disk nor the peer's is UpToDate
    /// (drbd's `may_do_writes`), the write fails with an I/O error ("IO ERROR: neither
    /// local nor remote data"). Written to an Inconsistent disk alone it would be
    /// overwritten by the next resync, which makes such a disk its target.
    NoGoodData,
}

impl From<EpochsFull> for WriteBusy {
    fn from(_: EpochsFull) -> Self {
        WriteBusy::Epochs
    }
}

/// How the engine handles one application write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// The request's decision state; keep it with the request.
    pub request: WriteRequest,
    /// The epoch the write belongs to (hand it to [`Replica::write_completed`]).
    pub epoch: u32,
    /// What to do before submitting the local write (mark out of sync if asked).
    pub first: Step,
    /// Send this to the peer (None: local only).
    pub send: Option<DataSend>,
    /// Send `P_OUT_OF_SYNC` for the range instead (WFBitMapS, Ahead).
    pub out_of_sync: bool,
    /// Report the local completion with [`Replica::local_write_done`] (None for an empty
    /// flush).
    pub slot: Option<Slot>,
}

/// A write received from the peer, to be submitted to the lower device. The engine keeps it
/// with its peer request and hands it back to [`Replica::peer_write_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerWrite {
    /// First sector.
    pub sector: u64,
    /// Bytes.
    pub size: u32,
    /// Discard / write-zeroes instead of data.
    pub kind: PeerWriteKind,
    /// Submit with FUA.
    pub fua: bool,
    /// Submit with PREFLUSH.
    pub flush: bool,
    /// Submit with REQ_SYNC.
    pub sync: bool,
    /// The conflict slot the engine holds it under.
    pub slot: Slot,
    block_id: u64,
    tag: EpochTag,
    send_write_ack: bool,
    may_set_in_sync: bool,
}

/// What a peer write does to the lower device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerWriteKind {
    /// The data that came with the packet.
    Data,
    /// Discard the range (`P_TRIM` with `DP_DISCARD`).
    Discard,
    /// Zero the range (`P_ZEROES`, or `P_TRIM` without the WZEROES feature).
    Zeroes {
        /// Unmapping is allowed.
        unmap: bool,
    },
}

impl<S: Storage> Replica<S> {
    /// The peer gets this node's writes (drbd's `drbd_should_do_remote`).
    pub fn replicates_writes(&self) -> bool {
        let s = self.state();
        s.pdsk == DiskState::UpToDate
            || (s.pdsk >= DiskState::Inconsistent
                && s.conn >= ConnState::WFBitMapT
                && s.conn < ConnState::Ahead)
    }

    /// Whether an application write that reached this node's disk may complete on that copy
    /// alone: only an UpToDate disk keeps it. On an Inconsistent disk (a SyncTarget, or after
    /// a failed I/O) the next resync overwrites what differs from the peer, so such a write
    /// completes successfully only once the peer has it — the engine reports the local
    /// write as failed to the request otherwise. (drbd 8.4 completes it, and a connection
    /// lost at that moment makes the resync that follows drop it.)
    pub fn local_copy_counts(&self) -> bool {
        self.state().disk == DiskState::UpToDate
    }

    /// drbd's `may_do_writes`: an application write needs good data on one side.
    pub fn may_do_writes(&self) -> bool {
        let s = self.state();
        s.disk == DiskState::UpToDate || s.pdsk == DiskState::UpToDate
    }

    /// Plan an application write of `size` bytes at `sector` at time `now_ms`. `block_id` is
    /// the engine's handle of the request (echoed in the peer's acks). Fails when it must
    /// wait ([`WriteBusy`]: retry after the next ack or completion) or, with
    /// [`WriteBusy::NoGoodData`], must fail.
    pub fn plan_write(
        &mut self,
        sector: u64,
        size: u32,
        flags: WriteFlags,
        block_id: u64,
        now_ms: u64,
    ) -> Result<WritePlan, WriteBusy> {
        let protocol = self.net().protocol;
        let conn = self.state().conn;
        if size == 0 {
            // An empty flush closes the epoch; the peer flushes at the barrier.
            self.sender.close_current();
            return Ok(WritePlan {
                request: WriteRequest::nothing_to_replicate(protocol),
                epoch: self.sender.current(),
                first: Step::default(),
                send: None,
                out_of_sync: false,
                slot: None,
            });
        }
        if !self.may_do_writes() {
            return Err(WriteBusy::NoGoodData);
        }
        if self.conflicts.is_full() {
            return Err(WriteBusy::TableFull);
        }
        // On a SyncTarget (a Primary whose disk is Inconsistent), a block requested from
        // the source is not written until its resync write is done: the reply may carry
        // data older than this write (drbd's BME_NO_WRITES on a resync extent).
        if self.conflicts.overlaps(sector, size, None, |e| {
            (matches!(e.kind, IoKind::ResyncRead | IoKind::VerifyRead) && e.submitted)
                || e.kind == IoKind::ResyncWrite
        }) {
            return Err(WriteBusy::ResyncConflict);
        }
        if self.conflicts.overlaps(sector, size, None, |e| {
            e.kind == IoKind::PeerWrite && e.submitted
        }) {
            return Err(WriteBusy::PeerWriteInFlight);
        }
        let app_write = Interval {
            sector,
            size,
            kind: IoKind::AppWrite,
            submitted: true,
            arrival: 0,
        };
        if !self.replicates_writes() {
            let (request, first) = WriteRequest::local_only(protocol);
            let slot = self
                .conflicts
                .insert(app_write)
                .map_err(|_| WriteBusy::TableFull)?;
            return Ok(WritePlan {
                request,
                epoch: self.sender.current(),
                first,
                send: None,
                out_of_sync: matches!(conn, ConnState::WFBitMapS | ConnState::Ahead),
                slot: Some(slot),
            });
        }
        let epoch_slot = self.sender.prepare_write(now_ms)?;
        // Cannot fail: fullness was checked above and nothing was inserted since.
        let conflict_slot = self
            .conflicts
            .insert(app_write)
            .map_err(|_| WriteBusy::TableFull)?;
        let slot = epoch_slot;
        let resyncing = (ConnState::SyncSource..=ConnState::PausedSyncT).contains(&conn)
            && !matches!(conn, ConnState::VerifyS | ConnState::VerifyT);
        let apv = self.agreed().version;
        let mut dp_flags = 0;
        if flags.sync {
            dp_flags |= DP_RW_SYNC;
        }
        if apv >= 95 {
            if flags.fua {
                dp_flags |= DP_FUA;
            }
            if flags.flush {
                dp_flags |= DP_FLUSH;
            }
        }
        let wanted = if apv >= 100 {
            let wanted = AckWanted::for_protocol(protocol, resyncing);
            dp_flags |= match wanted {
                AckWanted::Write => DP_SEND_WRITE_ACK,
                AckWanted::Receive => DP_SEND_RECEIVE_ACK,
                AckWanted::None => 0,
            };
            if resyncing {
                dp_flags |= DP_MAY_SET_IN_SYNC;
            }
            wanted
        } else {
            // Before 100 the receiver's protocol decides (it equals ours).
            if resyncing {
                dp_flags |= DP_MAY_SET_IN_SYNC;
            }
            AckWanted::for_protocol(protocol, false)
        };
        let header = DataHeader {
            sector,
            block_id,
            seq_num: self.next_seq(),
            dp_flags,
        };
        let packet = if flags.discard || flags.zeroes {
            let zeroes_feature = self.agreed().features & wire::DRBD_FF_WZEROES != 0;
            let (kind, extra) = match (flags.zeroes, zeroes_feature) {
                (true, true) => (
                    TrimKind::Zeroes,
                    DP_ZEROES | if flags.discard { DP_DISCARD } else { 0 },
                ),
                _ => (TrimKind::Trim, DP_DISCARD),
            };
            Packet::Trim {
                kind,
                hdr: DataHeader {
                    dp_flags: header.dp_flags | extra,
                    ..header
                },
                size,
            }
        } else {
            Packet::Data {
                kind: DataKind::Data,
                hdr: header,
                digest: &[],
                data_len: size,
            }
        };
        Ok(WritePlan {
            request: WriteRequest::replicated(protocol, wanted),
            epoch: slot.epoch,
            first: Step::default(),
            send: Some(DataSend {
                barrier_first: slot.barrier_first,
                packet,
            }),
            out_of_sync: false,
            slot: Some(conflict_slot),
        })
    }

    /// A write of `epoch` completed to the application: later writes go to a new epoch.
    pub fn write_completed(&mut self, epoch: u32) {
        self.sender.write_completed(epoch);
    }

    /// The data socket's sender has nothing queued: send a due barrier now.
    pub fn sender_idle(&mut self, host: &mut impl Host) {
        if let Ok(Some(barrier)) = self.sender.barrier_when_idle() {
            host.send(Socket::Data, self.agreed(), &Packet::Barrier { barrier });
        }
    }

    /// The receiver may read the next data-socket packet (no epoch is draining).
    pub fn may_receive(&self) -> bool {
        self.receiver.may_receive()
    }

    /// A received peer write finished on the lower device.
    pub fn peer_write_done(&mut self, write: &PeerWrite, ok: bool, host: &mut impl Host) {
        if !ok {
            self.local_io_failed(FailedIo::PeerWrite, host);
        }
        if self.conflicts.remove(write.slot).is_none() {
            // Its connection is gone (the table was cleared); only the local result counts.
            if !ok {
                host.mark_out_of_sync(write.sector, write.size);
            }
            return;
        }
        self.finish_peer_write(write, ok, host);
        self.submit_arrived_writes(host);
        self.issue_waiting_reads(host);
    }

    fn finish_peer_write(&mut self, write: &PeerWrite, ok: bool, host: &mut impl Host) {
        let step = match self.receiver.write_done(write.tag) {
            Ok(step) => step,
            // A write of an earlier connection: nobody waits for its ack any more.
            Err(_) => {
                if !ok {
                    host.mark_out_of_sync(write.sector, write.size);
                }
                return;
            }
        };
        if !ok {
            host.mark_out_of_sync(write.sector, write.size);
        }
        if write.send_write_ack {
            let in_sync_state = self.state().conn.is_sync();
            let kind = match (ok, write.may_set_in_sync && in_sync_state) {
                (false, _) => AckKind::NegAck,
                (true, true) => AckKind::RsWriteAck,
                (true, false) => AckKind::WriteAck,
            };
            self.send_ack(kind, write.sector, write.block_id, write.size, host);
            if kind == AckKind::RsWriteAck {
                host.mark_in_sync(write.sector, write.size);
            }
        }
        self.epoch_step(step, host);
    }

    /// The lower-device flush asked for by [`Host::flush_lower`] finished.
    pub fn flush_done(&mut self, host: &mut impl Host) {
        let step = self.receiver.flush_done();
        self.epoch_step(step, host);
    }

    fn epoch_step(&mut self, step: ReceiverStep, host: &mut impl Host) {
        match step {
            ReceiverStep::Wait => {}
            ReceiverStep::Flush => host.flush_lower(),
            ReceiverStep::SendBarrierAck { barrier, set_size } => {
                host.send(
                    Socket::Meta,
                    self.agreed(),
                    &Packet::BarrierAck { barrier, set_size },
                );
            }
        }
    }

    pub(super) fn send_ack(
        &mut self,
        kind: AckKind,
        sector: u64,
        block_id: u64,
        blksize: u32,
        host: &mut impl Host,
    ) {
        let ack = BlockAck {
            sector,
            block_id,
            blksize,
            seq_num: self.next_seq(),
        };
        host.send(Socket::Meta, self.agreed(), &Packet::Ack { kind, ack });
    }

    /// `P_DATA` / `P_TRIM` / `P_ZEROES` from the peer; the block data (if any) is already in
    /// the engine's buffer.
    pub(super) fn on_peer_write(
        &mut self,
        hdr: &DataHeader,
        size: u32,
        kind: PeerWriteKind,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let tag = match self.receiver.write_received() {
            Ok(tag) => tag,
            Err(_) => {
                host.log(
                    Level::Err,
                    format_args!("peer write received while the epoch was draining"),
                );
                return Err(LossReason::ProtocolError);
            }
        };
        let apv = self.agreed().version;
        let protocol = self.net().protocol;
        let (recv_ack, write_ack) = if apv >= 100 {
            (
                hdr.dp_flags & DP_SEND_RECEIVE_ACK != 0,
                hdr.dp_flags & DP_SEND_WRITE_ACK != 0,
            )
        } else {
            (protocol == WireProtocol::B, protocol == WireProtocol::C)
        };
        if recv_ack {
            self.send_ack(AckKind::RecvAck, hdr.sector, hdr.block_id, size, host);
        }
        let no_disk = self.state().disk < DiskState::Inconsistent;
        let slot = if no_disk {
            // Never looked up: the write completes at once below.
            Slot::default()
        } else {
            let arrival = self.next_arrival();
            match self.conflicts.insert(Interval {
                sector: hdr.sector,
                size,
                kind: IoKind::PeerWrite,
                submitted: false,
                arrival,
            }) {
                Ok(slot) => slot,
                Err(_) => {
                    host.log(
                        Level::Err,
                        format_args!("too many writes in flight from the peer"),
                    );
                    return Err(LossReason::ProtocolError);
                }
            }
        };
        let write = PeerWrite {
            slot,
            sector: hdr.sector,
            size,
            kind,
            fua: hdr.dp_flags & DP_FUA != 0,
            flush: hdr.dp_flags & DP_FLUSH != 0,
            sync: hdr.dp_flags & DP_RW_SYNC != 0,
            block_id: hdr.block_id,
            tag,
            send_write_ack: write_ack,
            may_set_in_sync: hdr.dp_flags & DP_MAY_SET_IN_SYNC != 0,
        };
        if no_disk {
            // No disk to write to: the write is counted and answered negatively.
            self.finish_peer_write(&write, false, host);
            return Ok(());
        }
        host.hold_write(HeldWrite::Peer(write));
        self.submit_arrived_writes(host);
        Ok(())
    }

    /// `P_BARRIER` from the peer.
    pub(super) fn on_barrier(
        &mut self,
        barrier: u32,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        match self.receiver.barrier_received(barrier) {
            Ok(step) => {
                self.epoch_step(step, host);
                Ok(())
            }
            Err(_) => {
                host.log(
                    Level::Err,
                    format_args!("Barrier received while the epoch was draining"),
                );
                Err(LossReason::ProtocolError)
            }
        }
    }

    /// `P_BARRIER_ACK` from the peer.
    pub(super) fn on_barrier_ack(
        &mut self,
        barrier: u32,
        set_size: u32,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        match self.sender.barrier_ack(barrier, set_size) {
            Ok(epoch) => {
                host.epoch_acked(epoch.number);
                Ok(())
            }
            Err(bad) => {
                host.log(Level::Err, format_args!("{bad}"));
                Err(LossReason::ProtocolError)
            }
        }
    }

    /// A per-write ack from the peer, routed to the engine's request by `block_id`.
    pub(super) fn on_write_ack(
        &mut self,
        kind: AckKind,
        ack: &BlockAck,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        if host.peer_acked(kind, ack) {
            Ok(())
        } else {
            host.log(
                Level::Err,
                format_args!(
                    "{}: no request for sector {}, block_id {:#x}",
                    kind.cmd().name(),
                    ack.sector,
                    ack.block_id
                ),
            );
            Err(LossReason::ProtocolError)
        }
    }
}
