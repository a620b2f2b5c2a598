// SPDX-License-Identifier: GPL-2.0
//! Bitmap exchange and resync of a [`Replica`], both roles.
//!
//! Spec: `wire-protocol.md` §5.5 (requests and replies), §7.2 (UUID rotations at resync
//! start and end), §9 (bitmap exchange), §11 (rate). Sequence: the node entering WFBitMapS
//! sends its bitmap; the WFBitMapT node ORs it into its own, answers with the merged bitmap
//! and waits in WFSyncUUID; the source ORs that in, rotates its UUIDs and sends
//! `P_SYNC_UUID`; the target becomes SyncTarget and requests every out-of-sync block, paced by
//! the resync controller (by checksum with a csums-alg, [`super::csums`]); the source reads
//! and answers, the target writes and acknowledges,
//! both clear the bits. The target finishes when its bitmap is clear and says so with its
//! `P_STATE` (Connected, UpToDate); the source finishes on that.
//!
//! Ordering against application writes: see [`conflicts`](super::conflicts).

use super::super::bitmap::Bitmap;
use super::super::bitmap_xfer::{BitmapReceiver, Progress};
use super::super::meta_data::SECTOR_SIZE;
use super::super::proc_text::SyncStatus;
use super::super::resync::{
    next_resync_request, ResyncController, ResyncSettings, SyncMarks, SLEEP_TIME_MS,
};
use super::super::state::{ConnState, DiskState, Fencing, Role};
use super::super::wire::{self, AckKind, BlockAck, BlockReq, DataHeader, DataKind, Packet};
use super::conflicts::{Interval, IoKind, Slot};
use super::connection::{Host, Level, LossReason, Replica, Socket, Storage};
use super::csums::{CsumStats, ReadPurpose};
use super::io_errors::FailedIo;
use super::resync_handlers::ResyncSide;
use super::sync_handshake::Helper;
use super::writes::PeerWrite;

/// A local read the protocol needs: serving the peer's resync request (source side), or a
/// block to digest for checksum-based resync or online verify ([`ReadPurpose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRead {
    /// First sector.
    pub sector: u64,
    /// Bytes.
    pub size: u32,
    /// The conflict slot; the engine keeps the read buffer under it for [`Host::send_block`].
    pub slot: Slot,
    /// Why it is read, and so which event reports it: [`Replica::peer_read_done`], or
    /// [`Replica::peer_read_data`] with the bytes when [`ReadPurpose::needs_data`].
    pub purpose: ReadPurpose,
}

/// A resync reply to write (target side); the engine holds it with its data
/// ([`Host::hold_write`]) until [`Host::submit_held`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncWrite {
    /// First sector.
    pub sector: u64,
    /// Bytes.
    pub size: u32,
    /// The conflict slot holding the data.
    pub slot: Slot,
}

/// A write received from the peer that waits in the engine, with its data, until
/// [`Host::submit_held`] names its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldWrite {
    /// `P_DATA`/`P_TRIM`/`P_ZEROES`: complete with [`Replica::peer_write_done`].
    Peer(PeerWrite),
    /// `P_RS_DATA_REPLY`: complete with [`Replica::resync_write_done`].
    Resync(ResyncWrite),
}

impl HeldWrite {
    /// The conflict slot it is held under.
    pub const fn slot(&self) -> Slot {
        match self {
            HeldWrite::Peer(w) => w.slot,
            HeldWrite::Resync(w) => w.slot,
        }
    }
}

/// A running resync on the target; the controller and its clock also pace a verify on
/// VerifyS (drbd too has one resync timer and plan per device).
#[derive(Debug, Clone)]
pub(super) struct SyncRun {
    cursor_bit: u64,
    pub(super) controller: ResyncController,
    pub(super) received_sectors: u32,
    failed_blocks: u64,
    /// When the next controller step is due (steps are [`SLEEP_TIME_MS`] apart, as drbd's
    /// resync timer, however often the host ticks).
    pub(super) next_step_ms: u64,
    /// Done on our side; waiting for the ack of a `P_PING` sent behind our last
    /// `P_RS_WRITE_ACK`, so the source has cleared every bit before it learns we finished.
    finishing: bool,
}

impl SyncRun {
    pub(super) const fn new(now_ms: u64) -> Self {
        SyncRun {
            cursor_bit: 0,
            controller: ResyncController::new(),
            received_sectors: 0,
            failed_blocks: 0,
            next_step_ms: now_ms,
            finishing: false,
        }
    }

    /// The sectors the controller allows in the step due at `now_ms`, `None` before the next
    /// step is due. Keeps the 100 ms rhythm through a late tick; after a long gap, starts a
    /// new one instead of catching up with a burst.
    pub(super) fn step_budget(&mut self, now_ms: u64, settings: &ResyncSettings) -> Option<u64> {
        if now_ms < self.next_step_ms {
            return None;
        }
        let step_ms = u64::from(SLEEP_TIME_MS);
        let late = now_ms - self.next_step_ms;
        self.next_step_ms = if late < step_ms {
            self.next_step_ms + step_ms
        } else {
            now_ms + step_ms
        };
        let received = core::mem::take(&mut self.received_sectors);
        Some(u64::from(self.controller.step(
            settings,
            received,
            super::super::resync::DEFAULT_MAX_BUFFERS,
        )))
    }
}

/// Progress of a resync in either role, for /proc/drbd (times in ms: /proc is given
/// `hz` = 1000).
#[derive(Debug, Clone, Copy)]
pub(super) struct SyncProgress {
    pub(super) rs_total: u64,
    started_ms: u64,
    marks: SyncMarks,
    /// Checksum-based resync in this run (either role).
    pub(super) csums: CsumStats,
    /// When the progress was last written out ([`Host::resync_progress`]), and the bits out
    /// of sync then.
    written_ms: u64,
    written_weight: u64,
}

/// How often a running resync writes its progress (the bitmap's cleared bits) to the meta
/// data and announces it: drbd's `lazy_bitmap_update_due`, 2 s.
pub const RESYNC_PROGRESS_INTERVAL_MS: u64 = 2000;

impl SyncProgress {
    pub(super) const fn new(bits: u64, now_ms: u64) -> Self {
        SyncProgress {
            rs_total: bits,
            started_ms: now_ms,
            marks: SyncMarks::new(bits, now_ms),
            csums: CsumStats::NONE,
            // The first write-out comes a second after the start (drbd's `rs_last_bcast`).
            written_ms: now_ms.saturating_sub(RESYNC_PROGRESS_INTERVAL_MS / 2),
            written_weight: bits,
        }
    }
}

/// Largest resync request for an agreed version (§11 granularity facts).
const fn max_request_bytes(apv: u32) -> u32 {
    if apv >= 100 {
        wire::DRBD_MAX_BIO_SIZE
    } else if apv >= 95 {
        128 << 10
    } else {
        32 << 10
    }
}

impl<S: Storage> Replica<S> {
    /// Entered WFBitMapS or WFBitMapT: prepare to receive the peer's bitmap; the source
    /// sends its own first.
    pub(super) fn start_bitmap_exchange(&mut self, source: bool, host: &mut impl Host) {
        let bits = self.bitmap_bits();
        self.bm_rx = Some(BitmapReceiver::new(bits, self.agreed().header_len()));
        if source {
            host.send_bitmap(self.agreed(), self.rle_allowed());
        }
    }

    /// RLE chunks need `use-rle` and apv ≥ 90 (§9.4).
    fn rle_allowed(&self) -> bool {
        self.net().use_rle && self.agreed().version >= 90
    }

    fn bitmap_bits(&self) -> u64 {
        self.geometry().capacity_sectors.div_ceil(8)
    }

    /// `P_BITMAP` / `P_COMPRESSED_BITMAP` from the peer.
    pub(super) fn on_bitmap_chunk(
        &mut self,
        compressed: bool,
        payload: &[u8],
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let conn = self.state().conn;
        if !matches!(conn, ConnState::WFBitMapS | ConnState::WFBitMapT) {
            host.log(
                Level::Err,
                format_args!("unexpected bitmap packet in {conn}"),
            );
            return Err(LossReason::ProtocolError);
        }
        let Some(mut rx) = self.bm_rx.take() else {
            return Err(LossReason::ProtocolError);
        };
        let mut result = Ok(Progress::More);
        host.with_bitmap(&mut |bm: &mut Bitmap<&mut [u64]>| {
            result = if compressed {
                rx.receive_compressed(bm, payload)
            } else {
                rx.receive_plain(bm, payload)
            };
        });
        match result {
            Err(e) => {
                host.log(Level::Err, format_args!("bitmap exchange: {e}"));
                Err(LossReason::ProtocolError)
            }
            Ok(Progress::More) => {
                self.bm_rx = Some(rx);
                Ok(())
            }
            Ok(Progress::Done) => {
                if conn == ConnState::WFBitMapT {
                    host.send_bitmap(self.agreed(), self.rle_allowed());
                    let mut ns = *self.state();
                    ns.conn = ConnState::WFSyncUUID;
                    self.set_state(ns, host);
                } else {
                    self.start_sync_source(now_ms, host);
                }
                Ok(())
            }
        }
    }

    /// Blocks of the running resync (in any of its states, paused too) and those that
    /// failed: the `bits_rs_total` / `bits_rs_failed` of status messages.
    pub fn resync_totals(&self) -> Option<(u64, u64)> {
        let progress = self.sync_progress?;
        let failed = self.sync_run.as_ref().map_or(0, |r| r.failed_blocks);
        Some((progress.rs_total, failed))
    }

    /// The numbers /proc/drbd shows for a running resync or online verify (None outside
    /// SyncSource, SyncTarget, VerifyS, VerifyT); `bm_bits` = bits of the whole bitmap. Times
    /// are ms, so `hz` is 1000.
    pub fn sync_status(&self, bm_bits: u64, now_ms: u64) -> Option<SyncStatus> {
        if self.state().conn.is_verify() {
            return self.verify_status(bm_bits, now_ms);
        }
        if !matches!(
            self.state().conn,
            ConnState::SyncSource | ConnState::SyncTarget
        ) {
            return None;
        }
        let progress = self.sync_progress?;
        let failed = self.sync_run.as_ref().map_or(0, |r| r.failed_blocks);
        Some(SyncStatus {
            rs_total: progress.rs_total,
            rs_failed: failed,
            mark_slow: progress.marks.slow(),
            mark_fast: progress.marks.fast(),
            now: now_ms,
            hz: 1000,
            rs_start: progress.started_ms,
            rs_paused: self.sync_control.paused_ms(now_ms),
            c_sync_rate: self.sync_run.as_ref().map_or(0, |r| {
                i32::try_from(r.controller.target_rate_kib()).unwrap_or(i32::MAX)
            }),
            bm_bits,
            bm_resync_fo: self.sync_run.as_ref().map_or(0, |r| r.cursor_bit),
            agreed_pro_version: self.agreed().version,
            ..SyncStatus::default()
        })
    }

    /// Take a progress mark every few seconds (the speeds and the finish estimate), and
    /// have the progress written out every [`RESYNC_PROGRESS_INTERVAL_MS`] while bits are
    /// cleared — so a node that crashes in a long resync resumes it rather than starting
    /// over. The bitmap is counted only while a resync runs.
    pub(super) fn mark_progress(&mut self, now_ms: u64, host: &mut impl Host) {
        let running = matches!(
            self.state().conn,
            ConnState::SyncSource | ConnState::SyncTarget
        );
        let Some(p) = self.sync_progress.as_mut() else {
            return;
        };
        let weight = host.bitmap_weight();
        p.marks.advance(weight, now_ms, 1000);
        let due = now_ms.saturating_sub(p.written_ms) >= RESYNC_PROGRESS_INTERVAL_MS;
        if running && due && weight < p.written_weight {
            p.written_ms = now_ms;
            host.resync_progress(true);
        }
        if due || weight > p.written_weight {
            // Bits set meanwhile (P_OUT_OF_SYNC) are no progress: count from here.
            p.written_weight = weight;
        }
    }

    /// Become SyncSource (after the bitmap exchange, or as a full sync's source), once the
    /// `before-resync-source` handler agrees.
    pub(super) fn start_sync_source(&mut self, now_ms: u64, host: &mut impl Host) {
        self.run_before_resync(ResyncSide::Source, now_ms, host);
    }

    /// The source's start: new bitmap UUID, `P_SYNC_UUID`, SyncSource.
    pub(super) fn enter_sync_source(&mut self, now_ms: u64, host: &mut impl Host) {
        let random = host.random_u64();
        let uuid = self.uuids_mut().start_sync_source(random);
        host.write_meta_data(self.uuids());
        host.send(Socket::Data, self.agreed(), &Packet::SyncUuid(uuid));
        let mut ns = *self.state();
        ns.conn = ConnState::SyncSource;
        self.set_state(ns, host);
        self.sync_progress = Some(SyncProgress::new(host.bitmap_weight(), now_ms));
        if host.bitmap_weight() == 0 {
            host.log(Level::Info, format_args!("Resync of 0 bits: nothing to do"));
        }
    }

    /// `P_SYNC_UUID` from the source.
    pub(super) fn on_sync_uuid(
        &mut self,
        uuid: u64,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        if self.state().conn != ConnState::WFSyncUUID {
            host.log(
                Level::Err,
                format_args!("unexpected SyncUUID in {}", self.state().conn),
            );
            return Err(LossReason::ProtocolError);
        }
        let primary = self.state().role == Role::Primary;
        self.uuids_mut().receive_sync_uuid(uuid, primary);
        host.write_meta_data(self.uuids());
        self.run_before_resync(ResyncSide::Target, now_ms, host);
        Ok(())
    }

    /// The target's start, once the `before-resync-target` handler agreed.
    pub(super) fn enter_sync_target(&mut self, now_ms: u64, host: &mut impl Host) {
        self.sync_run = Some(SyncRun::new(now_ms));
        self.sync_progress = Some(SyncProgress::new(host.bitmap_weight(), now_ms));
        let mut ns = *self.state();
        ns.conn = ConnState::SyncTarget;
        self.set_state(ns, host);
        self.resync_step(now_ms, host);
    }

    /// The target's 100 ms step: request what the controller allows.
    pub(super) fn resync_step(&mut self, now_ms: u64, host: &mut impl Host) {
        if self.state().conn != ConnState::SyncTarget {
            return;
        }
        let settings = ResyncSettings {
            resync_rate_kib: self.sync_settings().resync_rate,
            c_plan_ahead: self.sync_settings().controller.plan_ahead,
            c_delay_target: self.sync_settings().controller.delay_target,
            c_fill_target: self.sync_settings().controller.fill_target,
            c_max_rate_kib: self.sync_settings().controller.max_rate,
            ..ResyncSettings::DEFAULT
        };
        let device_sectors = self.geometry().capacity_sectors;
        let max_bytes = max_request_bytes(self.agreed().version);
        let Some(run) = self.sync_run.as_mut() else {
            return;
        };
        let Some(mut budget) = run.step_budget(now_ms, &settings) else {
            return;
        };
        let mut cursor = run.cursor_bit;
        while budget > 0 && !self.conflicts.is_full() {
            let mut next = None;
            // Merging adjacent blocks stays within the step's budget (as drbd counts each
            // merged block against it); a lone block is the least one request asks for.
            let limit = u32::try_from(budget.saturating_mul(u64::from(SECTOR_SIZE)))
                .unwrap_or(u32::MAX)
                .min(max_bytes);
            host.with_bitmap(&mut |bm: &mut Bitmap<&mut [u64]>| {
                next = next_resync_request(bm, cursor, limit, device_sectors);
            });
            let Some(req) = next else {
                break;
            };
            cursor = req.next_cursor_bit;
            // A block already requested (or being written) waits for that answer.
            if self.conflicts.overlaps(req.sector, req.size, None, |e| {
                e.kind == IoKind::ResyncWrite
            }) {
                continue;
            }
            let Ok(slot) = self.conflicts.insert(Interval {
                sector: req.sector,
                size: req.size,
                kind: IoKind::ResyncWrite,
                submitted: false,
                arrival: 0,
            }) else {
                break;
            };
            let sectors = req.size.div_ceil(SECTOR_SIZE);
            budget = budget.saturating_sub(u64::from(sectors));
            if let Some(run) = self.sync_run.as_mut() {
                run.controller.on_request_sent(sectors);
            }
            self.send_resync_request(req.sector, req.size, slot, host);
        }
        if let Some(run) = self.sync_run.as_mut() {
            run.cursor_bit = cursor;
        }
        self.maybe_finish_target(host);
    }

    /// The target's resync is done when nothing is requested and no bit is left (or only
    /// blocks that failed). A cursor at the end with bits left starts over.
    pub(super) fn maybe_finish_target(&mut self, host: &mut impl Host) {
        self.check_finish_target(false, host);
    }

    /// The `P_PING_ACK` after our last resync ack arrived.
    pub(super) fn resync_ping_acked(&mut self, host: &mut impl Host) {
        if self.sync_run.as_ref().is_some_and(|r| r.finishing) {
            self.check_finish_target(true, host);
        }
    }

    fn check_finish_target(&mut self, ping_acked: bool, host: &mut impl Host) {
        let pending = self
            .conflicts
            .find(|e| e.kind == IoKind::ResyncWrite)
            .is_some();
        if pending {
            return;
        }
        // A paused resync does not end either (as drbd, whose resync timer finds the end);
        // a final ping already on its way still completes it.
        if self.state().conn == ConnState::PausedSyncT && !ping_acked {
            return;
        }
        let weight = host.bitmap_weight();
        let Some(run) = self.sync_run.as_mut() else {
            return;
        };
        if weight > run.failed_blocks {
            // Bits set behind the cursor (P_OUT_OF_SYNC, failed writes): scan again.
            run.cursor_bit = 0;
            run.finishing = false;
            return;
        }
        if !ping_acked {
            if !run.finishing {
                run.finishing = true;
                host.send(Socket::Meta, self.agreed(), &Packet::Ping);
            }
            return;
        }
        let failed = run.failed_blocks;
        self.log_csums_stats(host);
        self.sync_run = None;
        self.sync_progress = None;
        let mut ns = *self.state();
        ns.conn = ConnState::Connected;
        if failed == 0 {
            if let Some(peer) = self.peer_uuids() {
                let primary = ns.role == Role::Primary;
                self.uuids_mut().finish_sync_target(&peer.uuids, primary);
                self.uuids_mut().clear_bitmap_uuid();
            }
            ns.disk = DiskState::UpToDate;
            ns.pdsk = DiskState::UpToDate;
            host.log(Level::Info, format_args!("Resync done (total, 0 failed)"));
        } else {
            host.log(
                Level::Warn,
                format_args!("Resync done, but {failed} blocks could not be synced"),
            );
        }
        host.resync_progress(true);
        host.write_meta_data(self.uuids());
        self.set_state(ns, host);
        self.send_state_packet(host);
        host.call_helper(Helper::AfterResyncTarget);
    }

    /// The source learns the target finished (its P_STATE: Connected, UpToDate).
    pub(super) fn finish_sync_source(&mut self, host: &mut impl Host) {
        self.log_csums_stats(host);
        self.sync_progress = None;
        host.resync_progress(true);
        self.uuids_mut().clear_bitmap_uuid();
        host.write_meta_data(self.uuids());
        let mut ns = *self.state();
        ns.conn = ConnState::Connected;
        ns.pdsk = DiskState::UpToDate;
        self.set_state(ns, host);
        // Both copies are good again: a constraint the fence-peer handler placed may go.
        let s = self.state();
        if self.fencing != Fencing::DontCare
            && s.disk == DiskState::UpToDate
            && s.pdsk == DiskState::UpToDate
        {
            host.call_helper(Helper::UnfencePeer);
        }
    }

    /// `P_RS_DATA_REQUEST` from the target (`purpose` [`ReadPurpose::ResyncData`]), or a
    /// checksum request whose digest was checked ([`ReadPurpose::CsumCompare`]).
    pub(super) fn on_resync_request(
        &mut self,
        req: &BlockReq,
        purpose: ReadPurpose,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let capacity = self.geometry().capacity_sectors;
        let end = req.sector.checked_add(u64::from(req.blksize) / 512);
        if req.blksize == 0
            || !req.blksize.is_multiple_of(512)
            || req.blksize > wire::DRBD_MAX_BIO_SIZE
            || end.is_none_or(|end| end > capacity)
        {
            host.log(
                Level::Err,
                format_args!(
                    "resync request out of range: sector {} size {}",
                    req.sector, req.blksize
                ),
            );
            return Err(LossReason::ProtocolError);
        }
        // Writes that reached us before this request go to the disk first, the peer's
        // too: a SyncTarget Primary wrote that data before it asked for the block.
        let waiting = self.conflicts.overlaps(req.sector, req.blksize, None, |e| {
            matches!(e.kind, IoKind::AppWrite | IoKind::PeerWrite)
        });
        // Without good data, or with no room to track the read, the target records a failed
        // block and goes on.
        let slot = if self.state().disk < DiskState::UpToDate {
            None
        } else {
            self.conflicts
                .insert(Interval {
                    sector: req.sector,
                    size: req.blksize,
                    kind: IoKind::ResyncRead,
                    submitted: !waiting,
                    arrival: 0,
                })
                .ok()
        };
        let Some(slot) = slot else {
            self.send_ack(
                AckKind::NegRsDReply,
                req.sector,
                req.block_id,
                req.blksize,
                host,
            );
            return Ok(());
        };
        // A read that waits for an application write is issued later as a plain resync read:
        // the block is changing anyway, comparing checksums would not save its transfer.
        if !waiting {
            host.read_for_peer(PeerRead {
                sector: req.sector,
                size: req.blksize,
                slot,
                purpose,
            });
        }
        Ok(())
    }

    /// A resync read ([`ReadPurpose::ResyncData`]) finished: answer the target. A read whose
    /// purpose needs its bytes is reported with [`Replica::peer_read_data`]; given here, it
    /// counts as a read that failed.
    pub fn peer_read_done(&mut self, read: &PeerRead, ok: bool, host: &mut impl Host) {
        if read.purpose.needs_data() {
            self.peer_read_data(read, None, host);
            return;
        }
        if self.conflicts.remove(read.slot).is_none() {
            if !ok {
                self.local_io_failed(FailedIo::PeerRead, host);
            }
            return; // the connection that asked is gone
        }
        if ok {
            let packet = Packet::Data {
                kind: DataKind::RsDataReply,
                hdr: DataHeader {
                    sector: read.sector,
                    block_id: wire::ID_SYNCER,
                    seq_num: 0,
                    dp_flags: 0,
                },
                digest: &[],
                data_len: read.size,
            };
            host.send_block(self.agreed(), &packet, read.slot);
        } else {
            self.send_ack(
                AckKind::NegRsDReply,
                read.sector,
                wire::ID_SYNCER,
                read.size,
                host,
            );
            self.local_io_failed(FailedIo::PeerRead, host);
        }
    }

    /// An application write finished locally: resync and verify reads waiting for it may go.
    pub fn local_write_done(&mut self, slot: Slot, host: &mut impl Host) {
        self.conflicts.remove(slot);
        self.issue_waiting_reads(host);
    }

    /// `P_RS_DATA_REPLY` from the source; its data is in the engine's receive buffer.
    pub(super) fn on_resync_reply(
        &mut self,
        hdr: &DataHeader,
        size: u32,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let found = self.conflicts.find(|e| {
            e.kind == IoKind::ResyncWrite
                && e.arrival == 0
                && e.sector == hdr.sector
                && e.size == size
        });
        let Some((slot, _)) = found else {
            host.log(
                Level::Err,
                format_args!(
                    "RSDataReply for sector {} (size {size}) that was not requested",
                    hdr.sector
                ),
            );
            return Err(LossReason::ProtocolError);
        };
        if let Some(run) = self.sync_run.as_mut() {
            run.received_sectors = run
                .received_sectors
                .saturating_add(size.div_ceil(SECTOR_SIZE));
        }
        let arrival = self.next_arrival();
        if let Some(e) = self.conflicts.get_mut(slot) {
            e.arrival = arrival;
        }
        host.hold_write(HeldWrite::Resync(ResyncWrite {
            sector: hdr.sector,
            size,
            slot,
        }));
        self.submit_arrived_writes(host);
        Ok(())
    }

    /// `P_NEG_RS_DREPLY`: the source could not serve a request.
    pub(super) fn on_resync_refused(
        &mut self,
        ack: &BlockAck,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let found = self
            .conflicts
            .find(|e| e.kind == IoKind::ResyncWrite && e.arrival == 0 && e.sector == ack.sector);
        if let Some((slot, e)) = found {
            self.conflicts.remove(slot);
            if let Some(run) = self.sync_run.as_mut() {
                run.failed_blocks += u64::from(e.size.div_ceil(4096));
            }
            host.log(
                Level::Err,
                format_args!("Could not resync sector {} (peer refused)", ack.sector),
            );
        }
        self.maybe_finish_target(host);
        Ok(())
    }

    /// A resync write on the target finished.
    pub fn resync_write_done(&mut self, write: &ResyncWrite, ok: bool, host: &mut impl Host) {
        if !ok {
            self.local_io_failed(FailedIo::ResyncWrite, host);
        }
        if self.conflicts.remove(write.slot).is_none() {
            return;
        }
        if ok {
            host.mark_in_sync(write.sector, write.size);
            self.send_ack(
                AckKind::RsWriteAck,
                write.sector,
                wire::ID_SYNCER,
                write.size,
                host,
            );
        } else {
            if let Some(run) = self.sync_run.as_mut() {
                run.failed_blocks += u64::from(write.size.div_ceil(4096));
            }
            self.send_ack(
                AckKind::NegAck,
                write.sector,
                wire::ID_SYNCER,
                write.size,
                host,
            );
        }
        self.submit_arrived_writes(host);
        self.maybe_finish_target(host);
    }

    /// Submit every arrived write (peer or resync) that no earlier-arrived overlapping write
    /// (submitted or still waiting) precedes. One pass suffices: submitting a write does not
    /// remove it from the table, so it keeps blocking later arrivals until it completes.
    pub(super) fn submit_arrived_writes(&mut self, host: &mut impl Host) {
        let is_write = |e: &Interval| {
            matches!(e.kind, IoKind::PeerWrite | IoKind::ResyncWrite) && e.arrival != 0
        };
        for index in 0..self.conflicts.capacity() {
            let Some(slot) = self.conflicts.slot_at(index) else {
                continue;
            };
            let Some(w) = self.conflicts.get(slot).copied() else {
                continue;
            };
            if !is_write(&w) || w.submitted {
                continue;
            }
            // A verify comparison (VerifyS) orders like a write: it reads what the writes
            // that arrived before its digest wrote, and later ones wait for it.
            let blocked = self.conflicts.overlaps(w.sector, w.size, Some(slot), |o| {
                (is_write(o) || (o.kind == IoKind::VerifyRead && o.arrival != 0))
                    && o.arrival < w.arrival
            });
            if blocked {
                continue;
            }
            if let Some(e) = self.conflicts.get_mut(slot) {
                e.submitted = true;
            }
            host.submit_held(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::state::DiskState;
    use super::super::test_support::{connected, Setup, TestHost, TestReplica};
    use super::*;

    /// Our UpToDate replica as SyncSource of the two blocks the Inconsistent peer's bitmap
    /// marks, started at 0 ms.
    fn syncing_source() -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(Setup {
            peer_disk: DiskState::Inconsistent,
            ..Setup::DEFAULT
        });
        let word = 0b110u64.to_le_bytes();
        r.receive(Socket::Data, &Packet::Bitmap(&word), 0, &mut h);
        r.receive(Socket::Data, &Packet::Bitmap(&[]), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncSource);
        assert_eq!(h.bitmap.count(), 2);
        (r, h)
    }

    #[test]
    fn a_running_resync_writes_its_progress_every_two_seconds_while_bits_clear() {
        let (mut r, mut h) = syncing_source();
        r.tick(RESYNC_PROGRESS_INTERVAL_MS, &mut h);
        assert!(
            h.progress.is_empty(),
            "nothing cleared yet: nothing to write"
        );
        // The peer's acks clear a block.
        h.bitmap.clear(1);
        r.tick(RESYNC_PROGRESS_INTERVAL_MS + 100, &mut h);
        assert_eq!(h.progress, [(true, 1)], "written once due and cleared");
        r.tick(RESYNC_PROGRESS_INTERVAL_MS + 200, &mut h);
        h.bitmap.clear(2);
        r.tick(2 * RESYNC_PROGRESS_INTERVAL_MS, &mut h);
        assert_eq!(h.progress.len(), 1, "not before the interval is over");
        r.tick(2 * RESYNC_PROGRESS_INTERVAL_MS + 100, &mut h);
        assert_eq!(h.progress, [(true, 1), (true, 0)]);
        r.tick(4 * RESYNC_PROGRESS_INTERVAL_MS, &mut h);
        assert_eq!(h.progress.len(), 2, "no progress, no write");
    }

    #[test]
    fn bits_set_during_the_resync_are_no_progress() {
        let (mut r, mut h) = syncing_source();
        h.bitmap.set(5);
        r.tick(RESYNC_PROGRESS_INTERVAL_MS, &mut h);
        assert!(h.progress.is_empty());
        h.bitmap.clear(1);
        r.tick(2 * RESYNC_PROGRESS_INTERVAL_MS, &mut h);
        assert_eq!(h.progress, [(true, 2)]);
    }

    #[test]
    fn a_connection_lost_in_a_resync_writes_what_it_achieved_silently() {
        let (mut r, mut h) = syncing_source();
        h.bitmap.clear(1);
        r.socket_failed(&mut h);
        assert_eq!(h.progress, [(false, 1)]);
        // Not again when nothing was syncing.
        r.socket_failed(&mut h);
        assert_eq!(h.progress.len(), 1);
    }
}
