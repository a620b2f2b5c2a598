// SPDX-License-Identifier: GPL-2.0
//! Online verify of a [`Replica`], both roles.
//!
//! Spec: `wire-protocol.md` §5.6, §6.4, §11; `genl-netlink.md` (START_OV); `proc-drbd.md`
//! §2.3. `verify` ([`Replica::start_verify`]) is the cluster-wide change Connected → VerifyS
//! (the peer becomes VerifyT), refused with SS_NO_VERIFY_ALG without a verify-alg. VerifyS
//! sends `P_OV_REQUEST` for every 4 KiB block from the start sector on, paced by the resync
//! controller; VerifyT reads each block and answers `P_OV_REPLY` with its digest (all zeros
//! when the read fails; `P_NEG_RS_DREPLY` without UpToDate data); VerifyS digests its own
//! copy, compares, and sends `P_OV_RESULT` (`ID_IN_SYNC` / `ID_OUT_OF_SYNC`). Both mark the
//! differing blocks out of sync — verify never resyncs — and log adjacent ones as one run
//! ("Out of sync: start=…, size=… (sectors)"). A run ends at the device end, or (apv ≥ 97
//! except 100) at the stop sector; each side then pings the peer, logs "Online verify done"
//! (and "Online verify found N 4k block out of sync!" with the `out-of-sync` helper when the
//! bitmap has bits) and returns to Connected; VerifyS also sends its `P_STATE`, which ends the
//! run on VerifyT if its own count did not. A run cut short (disconnect, stop sector) logs
//! "Online Verify reached sector N", where the next `verify` without a start sector resumes.
//!
//! Both nodes must digest the same data, while a Primary on either side goes on writing:
//! - VerifyS requests a block only while no write to it is in flight, and holds off
//!   application writes to it until its comparison is done (a `VerifyRead` entry in the
//!   conflict table from the request on);
//! - VerifyT reads it only after the writes that reached it before the request (its own and
//!   the peer's), and holds off its application writes while it reads;
//! - VerifyS compares in arrival order with the peer's writes: after those that arrived
//!   before the digest, before those that arrive after it. A comparison that has to wait keeps
//!   the peer's digest in the run ([`PARKED_COMPARISONS`] of them; beyond that it compares at
//!   once, and a block the peer writes meanwhile may be reported out of sync — marking only
//!   ever adds work for the next resync).

use super::super::bitmap::{bit_to_sector, BM_BLOCK_SIZE, BM_SECT_PER_BIT};
use super::super::digest::{Digest, DigestAlg};
use super::super::genl::ret_code::RetCode;
use super::super::meta_data::SECTOR_SIZE;
use super::super::proc_text::SyncStatus;
use super::super::resync::{next_verify_request, ResyncSettings, SyncMarks};
use super::super::state::{ConnState, DiskState, State, StateChange};
use super::super::wire::{self, AckKind, BlockAck, BlockReq, Packet, RequestKind};
use super::conflicts::{Interval, IoKind, Slot};
use super::connection::{Host, Level, LossReason, NetSettings, Replica, Socket, Storage};
use super::csums::ReadPurpose;
use super::resync_path::{PeerRead, SyncRun};
use super::sync_handshake::Helper;

/// No stop sector (`ULLONG_MAX`, START_OV's default).
pub const NO_STOP_SECTOR: u64 = u64::MAX;

/// Comparisons VerifyS can keep waiting for earlier writes of the peer (their digests).
pub const PARKED_COMPARISONS: usize = 8;

/// Where verify runs start and stop, and the run in progress.
#[derive(Debug, Clone)]
pub(super) struct VerifyState {
    /// Where the next run starts (`ov_start_sector`): a `verify --start` rounded down to a
    /// bitmap block, else where the last run stopped (0 after a complete run).
    start_sector: u64,
    /// Where VerifyS stops requesting (`ov_stop_sector`), [`NO_STOP_SECTOR`] for the end.
    stop_sector: u64,
    run: Option<VerifyRun>,
}

impl VerifyState {
    pub(super) const fn new() -> Self {
        VerifyState {
            start_sector: 0,
            stop_sector: NO_STOP_SECTOR,
            run: None,
        }
    }
}

/// A verify run, either role.
#[derive(Debug, Clone)]
struct VerifyRun {
    /// This node drives the run (VerifyS).
    source: bool,
    /// VerifyT learns the start from the first request (apv ≥ 90); until then `false`.
    start_known: bool,
    /// VerifyS: the next block to request.
    position: u64,
    /// VerifyS: requests sent.
    requested: u64,
    /// Blocks of the run (`rs_total`).
    total: u64,
    /// Blocks still to verify (`ov_left`).
    left: u64,
    /// Blocks the peer could not read (`rs_failed`).
    failed: u64,
    started_ms: u64,
    marks: SyncMarks,
    /// The run of adjacent out-of-sync sectors not logged yet (`ov_last_oos_*`).
    oos_start: u64,
    oos_sectors: u64,
    /// Done on our side; waiting for the ack of a `P_PING` sent behind our last packet.
    finishing: bool,
    /// VerifyS: digests of the peer whose comparison waits for earlier peer writes.
    parked: [Option<(Slot, Digest)>; PARKED_COMPARISONS],
}

impl VerifyRun {
    fn new(source: bool, blocks: u64, now_ms: u64) -> Self {
        VerifyRun {
            source,
            start_known: source,
            position: 0,
            requested: 0,
            total: blocks,
            left: blocks,
            failed: 0,
            started_ms: now_ms,
            marks: SyncMarks::new(blocks, now_ms),
            oos_start: 0,
            oos_sectors: 0,
            finishing: false,
            parked: [None; PARKED_COMPARISONS],
        }
    }

    /// Keep `digest` for the comparison of `slot`; false when no room is left.
    fn park(&mut self, slot: Slot, digest: Digest) -> bool {
        match self.parked.iter_mut().find(|p| p.is_none()) {
            Some(free) => {
                *free = Some((slot, digest));
                true
            }
            None => false,
        }
    }

    /// Log the pending out-of-sync run (drbd's `ov_out_of_sync_print`).
    fn log_oos_run(&mut self, host: &mut impl Host) {
        if self.oos_sectors != 0 {
            host.log(
                Level::Err,
                format_args!(
                    "Out of sync: start={}, size={} (sectors)",
                    self.oos_start, self.oos_sectors
                ),
            );
        }
        self.oos_sectors = 0;
    }

    /// A block found out of sync joins the pending run, or starts a new one.
    fn add_oos(&mut self, sector: u64, size: u32, host: &mut impl Host) {
        let sectors = u64::from(size.div_ceil(SECTOR_SIZE));
        if self.oos_sectors != 0 && self.oos_start.saturating_add(self.oos_sectors) == sector {
            self.oos_sectors += sectors;
            return;
        }
        // Blocks are normally found in order; a run interrupted out of order is logged first
        // rather than lost.
        self.log_oos_run(host);
        self.oos_start = sector;
        self.oos_sectors = sectors;
    }
}

impl<S: Storage> Replica<S> {
    /// `verify [--start S] [--stop S]` (START_OV): run an online verify driven by this node,
    /// from `start_sector` (rounded down to a 4 KiB block; `None` resumes where the last run
    /// stopped) to `stop_sector` (`None`: the device end; honoured with apv ≥ 97 except 100).
    /// The cluster-wide change Connected → VerifyS finishes in [`Host::change_finished`]
    /// (SS_NO_VERIFY_ALG without a verify-alg, SS_NEED_CONNECTION, SS_RESYNC_RUNNING …).
    /// Repeated while this node is VerifyS it succeeds with nothing to do and moves the stop
    /// sector of the running verify — 8.4's way to end one early.
    pub fn start_verify(
        &mut self,
        start_sector: Option<u64>,
        stop_sector: Option<u64>,
        host: &mut impl Host,
    ) {
        if let Some(start) = start_sector {
            self.verify.start_sector = start & !(BM_SECT_PER_BIT - 1);
        }
        self.verify.stop_sector = stop_sector.unwrap_or(NO_STOP_SECTOR);
        self.request_change(StateChange::new().conn(ConnState::VerifyS), false, host);
    }

    /// Whether `net-options` may switch to `new` now (drbd's checks): the csums-alg not while
    /// a resync runs (`ERR_CSUMS_RESYNC_RUNNING`), the verify-alg not while a verify runs
    /// (`ERR_VERIFY_RUNNING`).
    pub fn check_digest_change(&self, new: &NetSettings) -> Result<(), RetCode> {
        let conn = self.state().conn;
        let resync = matches!(
            conn,
            ConnState::SyncSource
                | ConnState::SyncTarget
                | ConnState::PausedSyncS
                | ConnState::PausedSyncT
        );
        if resync && new.csums_alg != self.net().csums_alg {
            return Err(RetCode::ErrCsumsResyncRunning);
        }
        if conn.is_verify() && new.verify_alg != self.net().verify_alg {
            return Err(RetCode::ErrVerifyRunning);
        }
        Ok(())
    }

    /// Where the next `verify` without `--start` begins (a stopped run's position, else 0).
    pub const fn verify_start_sector(&self) -> u64 {
        self.verify.start_sector
    }

    /// The stop sector of the last `verify` ([`NO_STOP_SECTOR`]: none).
    pub const fn verify_stop_sector(&self) -> u64 {
        self.verify.stop_sector
    }

    /// The numbers /proc/drbd shows for a running verify (see [`Replica::sync_status`]).
    pub(super) fn verify_status(&self, bm_bits: u64, now_ms: u64) -> Option<SyncStatus> {
        let run = self.verify.run.as_ref()?;
        let want = self
            .sync_run
            .as_ref()
            .filter(|_| run.source)
            .map_or(0, |pacing| pacing.controller.target_rate_kib());
        Some(SyncStatus {
            rs_total: run.total,
            ov_left: run.left,
            mark_slow: run.marks.slow(),
            mark_fast: run.marks.fast(),
            now: now_ms,
            hz: 1000,
            rs_start: run.started_ms,
            c_sync_rate: i32::try_from(want).unwrap_or(i32::MAX),
            bm_bits,
            ov_stop_sector: self.verify.stop_sector,
            agreed_pro_version: self.agreed().version,
            ..SyncStatus::default()
        })
    }

    /// The verify-alg as a digest (None: not configured).
    fn verify_digest(&self) -> Option<DigestAlg> {
        DigestAlg::from_name(self.net().verify_alg.as_str())
    }

    /// Whether the peer knows stop sectors (drbd's `verify_can_do_stop_sector`).
    fn can_stop_early(&self) -> bool {
        let apv = self.agreed().version;
        apv >= 97 && apv != 100
    }

    fn bitmap_blocks(&self) -> u64 {
        self.geometry().capacity_sectors.div_ceil(BM_SECT_PER_BIT)
    }

    /// The connection state changed from `old` to `new`: a run starts (Connected → Verify*)
    /// or ends.
    pub(super) fn verify_conn_changed(&mut self, old: &State, new: &State, host: &mut impl Host) {
        if old.conn == ConnState::Connected && new.conn.is_verify() {
            self.start_verify_run(new.conn == ConnState::VerifyS, host);
        } else if old.conn.is_verify() && !new.conn.is_verify() {
            if old.conn == ConnState::VerifyS {
                self.sync_run = None;
            }
            if let Some(run) = self.verify.run.take() {
                if run.left == 0 {
                    self.verify.start_sector = 0;
                } else {
                    let done = self.bitmap_blocks().saturating_sub(run.left);
                    self.verify.start_sector = bit_to_sector(done);
                    host.log(
                        Level::Info,
                        format_args!("Online Verify reached sector {}", self.verify.start_sector),
                    );
                }
            }
            // The peer may not know where we stopped: tell it we are done.
            if old.conn == ConnState::VerifyS
                && new.conn == ConnState::Connected
                && self.can_stop_early()
            {
                self.send_state_packet(host);
            }
        }
    }

    fn start_verify_run(&mut self, source: bool, host: &mut impl Host) {
        let now = self.event_time_ms();
        let blocks = self.bitmap_blocks();
        if self.agreed().version < 90 {
            self.verify.start_sector = 0;
        }
        let mut run = VerifyRun::new(source, blocks, now);
        if source {
            let bit = self.verify.start_sector / BM_SECT_PER_BIT;
            if bit >= blocks {
                // Past the end: the last block is verified.
                self.verify.start_sector = bit_to_sector(blocks.saturating_sub(1));
                run.total = 1;
            } else {
                run.total = blocks - bit;
            }
            run.left = run.total;
            run.position = self.verify.start_sector;
            run.marks = SyncMarks::new(run.left, now);
            // The resync controller and its 100 ms clock pace the requests.
            self.sync_run = Some(SyncRun::new(now));
            host.log(
                Level::Info,
                format_args!("Starting Online Verify from sector {}", run.position),
            );
        } else {
            // Before apv 90 VerifyT always counts from sector 0.
            run.start_known = self.agreed().version < 90;
        }
        self.verify.run = Some(run);
    }

    /// VerifyS, every tick: request what the controller allows; both roles: progress marks.
    pub(super) fn verify_step(&mut self, now_ms: u64, host: &mut impl Host) {
        let settings = ResyncSettings {
            resync_rate_kib: self.sync_settings().resync_rate,
            c_plan_ahead: self.sync_settings().controller.plan_ahead,
            c_delay_target: self.sync_settings().controller.delay_target,
            c_fill_target: self.sync_settings().controller.fill_target,
            c_max_rate_kib: self.sync_settings().controller.max_rate,
            ..ResyncSettings::DEFAULT
        };
        let capacity = self.geometry().capacity_sectors;
        let stop = if self.can_stop_early() {
            self.verify.stop_sector
        } else {
            NO_STOP_SECTOR
        };
        let verify_s = self.state().conn == ConnState::VerifyS;
        let Some(run) = self.verify.run.as_mut() else {
            return;
        };
        run.marks.advance(run.left, now_ms, 1000);
        if !verify_s || !run.source || run.finishing {
            return;
        }
        let (mut position, mut requested) = (run.position, run.requested);
        let Some(pacing) = self.sync_run.as_mut() else {
            return;
        };
        // The 100 ms rhythm of the resync timer.
        let Some(mut budget) = pacing.step_budget(now_ms, &settings) else {
            return;
        };
        let mut sent_sectors = 0u32;
        while budget > 0 {
            // At least one request per run, even when it starts at the stop sector.
            if requested > 0 && position >= stop {
                break;
            }
            let Some((sector, size)) = next_verify_request(position, NO_STOP_SECTOR, capacity)
            else {
                break;
            };
            // A block with a write in flight waits for the next step (drbd's requeue).
            let busy = self.conflicts.overlaps(sector, size, None, |e| {
                matches!(e.kind, IoKind::AppWrite | IoKind::PeerWrite)
            });
            if busy {
                break;
            }
            let held = self.conflicts.insert(Interval {
                sector,
                size,
                kind: IoKind::VerifyRead,
                submitted: true,
                arrival: 0,
            });
            if held.is_err() {
                break;
            }
            self.send_block_request(RequestKind::OvRequest, sector, size, &[], host);
            let sectors = size.div_ceil(SECTOR_SIZE);
            sent_sectors = sent_sectors.saturating_add(sectors);
            budget = budget.saturating_sub(u64::from(sectors));
            position += u64::from(sectors);
            requested += 1;
        }
        if let Some(run) = self.verify.run.as_mut() {
            run.position = position;
            run.requested = requested;
        }
        if let Some(pacing) = self.sync_run.as_mut() {
            pacing.controller.on_request_sent(sent_sectors);
        }
        self.maybe_finish_verify_source(host);
    }

    /// VerifyS is done when nothing is left to request (device end or stop sector) and no
    /// request is unanswered; it pings the peer before it finishes.
    fn maybe_finish_verify_source(&mut self, host: &mut impl Host) {
        let capacity = self.geometry().capacity_sectors;
        let stop = if self.can_stop_early() {
            self.verify.stop_sector
        } else {
            NO_STOP_SECTOR
        };
        let in_flight = self
            .conflicts
            .find(|e| e.kind == IoKind::VerifyRead)
            .is_some();
        let Some(run) = self.verify.run.as_mut() else {
            return;
        };
        let all_requested = run.position >= capacity || (run.requested > 0 && run.position >= stop);
        if !run.source || run.finishing || !all_requested || in_flight {
            return;
        }
        run.log_oos_run(host);
        run.finishing = true;
        host.send(Socket::Meta, self.agreed(), &Packet::Ping);
    }

    /// The `P_PING_ACK` after our last verify packet arrived.
    pub(super) fn verify_ping_acked(&mut self, host: &mut impl Host) {
        if self.verify.run.as_ref().is_some_and(|r| r.finishing) {
            self.finish_verify(host);
        }
    }

    /// End the run (drbd's `drbd_resync_finished` for verify): the summary lines, back to
    /// Connected, the `out-of-sync` helper if the bitmap has bits.
    pub(super) fn finish_verify(&mut self, host: &mut impl Host) {
        let now = self.event_time_ms();
        let Some(run) = self.verify.run.as_mut() else {
            return;
        };
        run.log_oos_run(host);
        let secs = (now.saturating_sub(run.started_ms) / 1000).max(1);
        let done = run.total.saturating_sub(run.left);
        let kib_per_bit = BM_BLOCK_SIZE / 1024;
        host.log(
            Level::Info,
            format_args!(
                "Online verify done (total {} sec; paused 0 sec; {} K/sec)",
                secs,
                (done / secs).saturating_mul(kib_per_bit)
            ),
        );
        let failed = run.failed;
        let out_of_sync = host.bitmap_weight();
        if out_of_sync > 0 {
            host.log(
                Level::Err,
                format_args!(
                    "Online verify found {} {}k block out of sync!",
                    out_of_sync, kib_per_bit
                ),
            );
        }
        let mut ns = *self.state();
        ns.conn = ConnState::Connected;
        ns.disk = DiskState::UpToDate;
        ns.pdsk = DiskState::UpToDate;
        if failed > 0 {
            host.log(
                Level::Info,
                format_args!("            {failed} failed blocks"),
            );
            // As drbd: blocks the peer could not read make its disk Inconsistent.
            ns.pdsk = DiskState::Inconsistent;
        }
        self.set_state(ns, host);
        if out_of_sync > 0 {
            host.call_helper(Helper::OutOfSync);
        }
    }

    /// The outcome of one block on either side: out of sync ⇒ marked and added to the
    /// pending run; in sync ⇒ the pending run is logged.
    fn verify_block_result(&mut self, sector: u64, size: u32, equal: bool, host: &mut impl Host) {
        if !equal {
            host.mark_out_of_sync(sector, size);
        }
        let Some(run) = self.verify.run.as_mut() else {
            return;
        };
        if equal {
            run.log_oos_run(host);
        } else {
            run.add_oos(sector, size, host);
        }
    }

    /// A block request the peer sent for verify, inside the device and at most 1 MiB.
    fn check_verify_range(
        &self,
        what: &str,
        sector: u64,
        size: u32,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let capacity = self.geometry().capacity_sectors;
        let end = sector.checked_add(u64::from(size / SECTOR_SIZE));
        if size == 0
            || !size.is_multiple_of(SECTOR_SIZE)
            || size > wire::DRBD_MAX_BIO_SIZE
            || end.is_none_or(|end| end > capacity)
        {
            host.log(
                Level::Err,
                format_args!("{what} out of range: sector {sector} size {size}"),
            );
            return Err(LossReason::ProtocolError);
        }
        Ok(())
    }

    /// VerifyT: `P_OV_REQUEST`.
    pub(super) fn on_ov_request(
        &mut self,
        req: &BlockReq,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        self.check_verify_range("OVRequest", req.sector, req.blksize, host)?;
        if self.state().disk < DiskState::UpToDate {
            host.log(
                Level::Err,
                format_args!("Can not satisfy peer's read request, no local data."),
            );
            self.send_ack(
                AckKind::NegRsDReply,
                req.sector,
                req.block_id,
                req.blksize,
                host,
            );
            return Ok(());
        }
        let Some(alg) = self.verify_digest() else {
            host.log(
                Level::Err,
                format_args!("OVRequest received without a verify-alg"),
            );
            return Err(LossReason::ProtocolError);
        };
        let blocks = self.bitmap_blocks();
        let now = self.event_time_ms();
        if let Some(run) = self.verify.run.as_mut().filter(|r| !r.start_known) {
            // The first request tells VerifyT where the run starts.
            run.start_known = true;
            run.total = blocks.saturating_sub(req.sector / BM_SECT_PER_BIT);
            run.left = run.total;
            run.marks = SyncMarks::new(run.left, now);
            host.log(
                Level::Info,
                format_args!("Online Verify start sector: {}", req.sector),
            );
        }
        // Read only after the writes that reached us before the request.
        let waiting = self.conflicts.overlaps(req.sector, req.blksize, None, |e| {
            matches!(e.kind, IoKind::AppWrite | IoKind::PeerWrite)
        });
        let slot = self.conflicts.insert(Interval {
            sector: req.sector,
            size: req.blksize,
            kind: IoKind::VerifyRead,
            submitted: !waiting,
            arrival: 0,
        });
        match slot {
            // No room to track the read: answered as an unreadable block.
            Err(_) => self.send_ov_reply(req.sector, req.blksize, &Digest::zeroed(alg), host),
            Ok(slot) if !waiting => host.read_for_peer(PeerRead {
                sector: req.sector,
                size: req.blksize,
                slot,
                purpose: ReadPurpose::VerifyReply,
            }),
            Ok(_) => {}
        }
        Ok(())
    }

    fn send_ov_reply(&self, sector: u64, size: u32, digest: &Digest, host: &mut impl Host) {
        self.send_block_request(RequestKind::OvReply, sector, size, digest.as_bytes(), host);
    }

    /// VerifyT: the block of a `P_OV_REQUEST` was read.
    pub(super) fn verify_reply_read(
        &mut self,
        read: &PeerRead,
        data: Option<&[u8]>,
        host: &mut impl Host,
    ) {
        if self.conflicts.remove(read.slot).is_none() {
            return; // the connection that asked is gone
        }
        let Some(alg) = self.verify_digest() else {
            return;
        };
        let digest = data.map_or(Digest::zeroed(alg), |bytes| alg.digest(bytes));
        self.send_ov_reply(read.sector, read.size, &digest, host);
    }

    /// VerifyS: `P_OV_REPLY` with the peer's digest of a block we requested.
    pub(super) fn on_ov_reply(
        &mut self,
        req: &BlockReq,
        digest: &[u8],
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let Some(alg) = self.verify_digest() else {
            host.log(
                Level::Err,
                format_args!("OVReply received without a verify-alg"),
            );
            return Err(LossReason::ProtocolError);
        };
        let sized = (digest.len() == alg.digest_len())
            .then(|| Digest::from_bytes(digest))
            .flatten();
        let Some(peer_digest) = sized else {
            host.log(
                Level::Err,
                format_args!(
                    "OVReply with a {}-byte digest, verify-alg {} has {}",
                    digest.len(),
                    alg.name(),
                    alg.digest_len()
                ),
            );
            return Err(LossReason::ProtocolError);
        };
        let found = (self.state().conn == ConnState::VerifyS)
            .then(|| {
                self.conflicts.find(|e| {
                    e.kind == IoKind::VerifyRead
                        && e.submitted
                        && e.arrival == 0
                        && e.sector == req.sector
                        && e.size == req.blksize
                })
            })
            .flatten();
        let Some((slot, _)) = found else {
            host.log(
                Level::Err,
                format_args!(
                    "OVReply for sector {} (size {}) that was not requested",
                    req.sector, req.blksize
                ),
            );
            return Err(LossReason::ProtocolError);
        };
        // The comparison takes its place among the peer's writes (see the module doc).
        let arrival = self.next_arrival();
        let behind_writes = self
            .conflicts
            .overlaps(req.sector, req.blksize, Some(slot), |o| {
                o.kind == IoKind::PeerWrite
            });
        self.verify_answered(req.blksize);
        let parked = behind_writes
            && self
                .verify
                .run
                .as_mut()
                .is_some_and(|run| run.park(slot, peer_digest));
        if let Some(e) = self.conflicts.get_mut(slot) {
            e.arrival = arrival;
            e.submitted = !parked;
        }
        if !parked {
            host.read_for_peer(PeerRead {
                sector: req.sector,
                size: req.blksize,
                slot,
                purpose: ReadPurpose::VerifyCompare(peer_digest),
            });
        }
        Ok(())
    }

    /// VerifyS: the peer answered a request of `size` bytes (for the controller).
    fn verify_answered(&mut self, size: u32) {
        if let Some(pacing) = self.sync_run.as_mut() {
            pacing.received_sectors = pacing
                .received_sectors
                .saturating_add(size.div_ceil(SECTOR_SIZE));
        }
    }

    /// The digest a parked comparison (VerifyS) waits with; all zeros if it is not there.
    pub(super) fn unpark_digest(&mut self, slot: Slot) -> Digest {
        let parked = self.verify.run.as_mut().and_then(|run| {
            run.parked
                .iter_mut()
                .find(|p| p.is_some_and(|(s, _)| s == slot))
                .and_then(Option::take)
        });
        match (parked, self.verify_digest()) {
            (Some((_, digest)), _) => digest,
            (None, Some(alg)) => Digest::zeroed(alg),
            (None, None) => Digest::zeroed(DigestAlg::Crc32c),
        }
    }

    /// VerifyS: our copy of a block was read; compare and tell the peer.
    pub(super) fn verify_compare_read(
        &mut self,
        read: &PeerRead,
        peer: &Digest,
        data: Option<&[u8]>,
        host: &mut impl Host,
    ) {
        if self.conflicts.remove(read.slot).is_none() {
            return; // the connection is gone
        }
        // Peer writes that arrived after the digest waited for this comparison.
        self.submit_arrived_writes(host);
        // A block we cannot read counts as out of sync.
        let equal = match (self.verify_digest(), data) {
            (Some(alg), Some(bytes)) => alg.digest(bytes) == *peer,
            _ => false,
        };
        self.verify_block_result(read.sector, read.size, equal, host);
        let result = if equal {
            wire::ID_IN_SYNC
        } else {
            wire::ID_OUT_OF_SYNC
        };
        self.send_ack(AckKind::OvResult, read.sector, result, read.size, host);
        if let Some(run) = self.verify.run.as_mut() {
            run.left = run.left.saturating_sub(1);
        }
        self.maybe_finish_verify_source(host);
    }

    /// VerifyT: `P_OV_RESULT`.
    pub(super) fn on_ov_result(
        &mut self,
        ack: &BlockAck,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        self.check_verify_range("OVResult", ack.sector, ack.blksize, host)?;
        let equal = ack.block_id != wire::ID_OUT_OF_SYNC;
        self.verify_block_result(ack.sector, ack.blksize, equal, host);
        if self.state().conn != ConnState::VerifyT {
            return Ok(());
        }
        let Some(run) = self.verify.run.as_mut().filter(|r| !r.finishing) else {
            return Ok(());
        };
        run.left = run.left.saturating_sub(1);
        if run.left == 0 {
            run.log_oos_run(host);
            run.finishing = true;
            host.send(Socket::Meta, self.agreed(), &Packet::Ping);
        }
        Ok(())
    }

    /// VerifyS: `P_NEG_RS_DREPLY`, the peer could not read a block for us.
    pub(super) fn on_verify_refused(
        &mut self,
        ack: &BlockAck,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let found = self
            .conflicts
            .find(|e| e.kind == IoKind::VerifyRead && e.arrival == 0 && e.sector == ack.sector);
        if let Some((slot, e)) = found {
            self.conflicts.remove(slot);
            if let Some(run) = self.verify.run.as_mut() {
                run.left = run.left.saturating_sub(1);
                run.failed += 1;
            }
            self.verify_answered(e.size);
            host.log(
                Level::Err,
                format_args!("Could not verify sector {} (peer refused)", ack.sector),
            );
        }
        self.maybe_finish_verify_source(host);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::super::super::state::{Role, StateError};
    use super::super::super::wire::{DataHeader, DataKind, StateReq, SyncParams};
    use super::super::connection::AlgName;
    use super::super::resync_path::HeldWrite;
    use super::super::test_support::{block, connected, Out, Setup, TestHost, TestReplica};
    use super::super::writes::{WriteBusy, WriteFlags};
    use super::*;

    /// The verify request the capture shows (§6.4: mask conn, val VerifyS).
    const VERIFY_REQ: StateReq = StateReq {
        mask: 0x1f0,
        val: 0x120,
    };

    fn md5(data: &[u8]) -> Vec<u8> {
        DigestAlg::Md5.digest(data).as_bytes().to_vec()
    }

    fn conn(r: &TestReplica) -> ConnState {
        r.state().conn
    }

    /// Our replica as VerifyS (its request approved at time 0).
    fn verify_source(
        setup: Setup,
        start: Option<u64>,
        stop: Option<u64>,
    ) -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(setup);
        r.start_verify(start, stop, &mut h);
        assert_eq!(
            h.take(),
            [Out::StateChgReq(VERIFY_REQ.mask, VERIFY_REQ.val)]
        );
        r.receive(Socket::Meta, &Packet::StateChgReply(1), 0, &mut h);
        assert_eq!(conn(&r), ConnState::VerifyS);
        (r, h)
    }

    /// Our replica as VerifyT (the peer's request approved at time 0).
    fn verify_target(setup: Setup) -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(setup);
        r.receive(Socket::Data, &Packet::StateChgReq(VERIFY_REQ), 0, &mut h);
        assert_eq!(h.take(), [Out::StateChgReply(1)]);
        assert_eq!(conn(&r), ConnState::VerifyT);
        (r, h)
    }

    /// The `(sector, size)` of every P_OV_REQUEST in `out`.
    fn ov_requests(out: &[Out]) -> Vec<(u64, u32)> {
        out.iter()
            .filter_map(|o| match o {
                Out::Request {
                    kind: RequestKind::OvRequest,
                    sector,
                    size,
                    digest,
                } => {
                    assert!(digest.is_empty());
                    Some((*sector, *size))
                }
                _ => None,
            })
            .collect()
    }

    fn ov_reply(sector: u64, size: u32, digest: &[u8]) -> Packet<'_> {
        Packet::BlockRequest {
            kind: RequestKind::OvReply,
            req: BlockReq {
                sector,
                block_id: wire::ID_SYNCER,
                blksize: size,
            },
            digest,
        }
    }

    fn ov_request(sector: u64, size: u32) -> Packet<'static> {
        Packet::BlockRequest {
            kind: RequestKind::OvRequest,
            req: BlockReq {
                sector,
                block_id: wire::ID_SYNCER,
                blksize: size,
            },
            digest: &[],
        }
    }

    fn ov_result(sector: u64, size: u32, in_sync: bool) -> Packet<'static> {
        Packet::Ack {
            kind: AckKind::OvResult,
            ack: BlockAck {
                sector,
                block_id: if in_sync {
                    wire::ID_IN_SYNC
                } else {
                    wire::ID_OUT_OF_SYNC
                },
                blksize: size,
                seq_num: 0,
            },
        }
    }

    /// VerifyS: the peer answers every request with the digest of `peer_tag`'s bytes for the
    /// blocks in `differ`, of zero bytes otherwise; our copies are zeros.
    fn answer_all(
        r: &mut TestReplica,
        h: &mut TestHost,
        requests: &[(u64, u32)],
        differ: &[u64],
        now: u64,
    ) {
        for &(sector, size) in requests {
            let theirs = if differ.contains(&(sector / 8)) { 1 } else { 0 };
            let digest = md5(&block(theirs, size));
            r.receive(Socket::Data, &ov_reply(sector, size, &digest), now, h);
            for read in h.take_reads() {
                assert_eq!(
                    read.purpose,
                    ReadPurpose::VerifyCompare(Digest::from_bytes(&digest).unwrap())
                );
                r.peer_read_data(&read, Some(&block(0, read.size)), h);
            }
        }
    }

    #[test]
    fn verify_is_the_cluster_wide_change_to_verify_s() {
        // §6.4, observed: mask 0x1f0, val 0x120; the peer's approval starts the run.
        let (_r, h) = verify_source(Setup::DEFAULT, None, None);
        assert!(h.logged("Starting Online Verify from sector 0"));
        assert_eq!(h.finished, [Ok(())]);
    }

    #[test]
    fn verify_without_a_verify_alg_is_refused() {
        let (mut r, mut h) = connected(Setup {
            verify_alg: "",
            ..Setup::DEFAULT
        });
        r.start_verify(None, None, &mut h);
        assert_eq!(h.finished, [Err(StateError::NoVerifyAlg)]);
        assert!(h.take().is_empty());
        // And the peer's request is refused with the same code.
        r.receive(Socket::Data, &Packet::StateChgReq(VERIFY_REQ), 0, &mut h);
        assert_eq!(
            h.take(),
            [Out::StateChgReply(StateError::NoVerifyAlg.code())]
        );
        assert_eq!(conn(&r), ConnState::Connected);
    }

    #[test]
    fn verify_s_requests_every_4k_block_and_clips_the_last() {
        // 68 sectors: eight whole blocks and a 2 KiB tail (§5.6 step 2).
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        let mut expected: Vec<(u64, u32)> = (0..8).map(|b| (b * 8, 4096)).collect();
        expected.push((64, 2048));
        assert_eq!(ov_requests(&h.take()), expected);
        // Nothing more to request: the next step sends nothing.
        r.tick(200, &mut h);
        assert!(ov_requests(&h.take()).is_empty());
    }

    #[test]
    fn differing_blocks_are_marked_reported_in_runs_and_finish_the_run() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        let requests = ov_requests(&h.take());
        answer_all(&mut r, &mut h, &requests, &[2, 3, 6], 200);
        let results: Vec<(u64, u64)> = h
            .take()
            .into_iter()
            .filter_map(|o| match o {
                Out::Ack {
                    kind: AckKind::OvResult,
                    sector,
                    block_id,
                    ..
                } => Some((sector, block_id)),
                Out::Ping => Some((u64::MAX, 0)),
                _ => None,
            })
            .collect();
        let mut expected: Vec<(u64, u64)> = (0..9)
            .map(|b| {
                let id = if [2, 3, 6].contains(&b) {
                    wire::ID_OUT_OF_SYNC
                } else {
                    wire::ID_IN_SYNC
                };
                (b * 8, id)
            })
            .collect();
        // Done on our side: a ping behind the last result (§10).
        expected.push((u64::MAX, 0));
        assert_eq!(results, expected);
        assert_eq!(h.bitmap.count(), 3);
        assert!(h.bitmap.test(2) && h.bitmap.test(3) && h.bitmap.test(6));
        // Adjacent blocks are one run, logged when an in-sync block follows.
        let runs: Vec<&str> = h
            .log
            .iter()
            .filter(|l| l.starts_with("Out of sync"))
            .map(|l| l.as_str())
            .collect();
        assert_eq!(
            runs,
            [
                "Out of sync: start=16, size=16 (sectors)",
                "Out of sync: start=48, size=8 (sectors)"
            ]
        );
        assert_eq!(conn(&r), ConnState::VerifyS);
        r.receive(Socket::Meta, &Packet::PingAck, 500, &mut h);
        assert_eq!(conn(&r), ConnState::Connected);
        assert!(h.logged("Online verify done (total 1 sec; paused 0 sec; 36 K/sec)"));
        assert!(h.logged("Online verify found 3 4k block out of sync!"));
        assert_eq!(h.helpers, [Helper::OutOfSync]);
        // apv 101: VerifyS tells the peer with its state (observed 0x110a9 on a Primary).
        let sent = h.take();
        let states: Vec<State> = sent
            .iter()
            .filter_map(|o| match o {
                Out::State(w) => State::unpack(*w).ok(),
                _ => None,
            })
            .collect();
        assert_eq!(states.len(), 1);
        assert_eq!(states[0].conn, ConnState::Connected);
        assert_eq!(
            (states[0].disk, states[0].pdsk),
            (DiskState::UpToDate, DiskState::UpToDate)
        );
        // A complete run: the next one starts at 0 again.
        assert_eq!(r.verify_start_sector(), 0);
        // Verify never resyncs: the bits stay.
        assert_eq!(h.bitmap.count(), 3);
    }

    #[test]
    fn an_unreadable_own_block_counts_as_out_of_sync() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        let digest = md5(&block(0, 4096));
        r.receive(Socket::Data, &ov_reply(0, 4096, &digest), 200, &mut h);
        let read = h.take_reads()[0];
        r.peer_read_data(&read, None, &mut h);
        assert!(h.take().contains(&Out::Ack {
            kind: AckKind::OvResult,
            sector: 0,
            block_id: wire::ID_OUT_OF_SYNC,
            size: 4096
        }));
        assert!(h.bitmap.test(0));
    }

    #[test]
    fn a_digest_of_the_wrong_size_drops_the_connection() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        h.take();
        r.receive(Socket::Data, &ov_reply(0, 4096, &[0; 15]), 200, &mut h);
        assert!(h.dropped);
        assert!(h.logged("OVReply with a 15-byte digest, verify-alg md5 has 16"));
        assert_eq!(conn(&r), ConnState::WFConnection);
    }

    #[test]
    fn a_reply_that_was_not_requested_drops_the_connection() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        // Nothing requested yet.
        r.receive(Socket::Data, &ov_reply(8, 4096, &[0; 16]), 50, &mut h);
        assert!(h.dropped);
        assert!(h.logged("OVReply for sector 8 (size 4096) that was not requested"));
    }

    #[test]
    fn the_start_sector_is_rounded_down_and_past_the_end_means_the_last_block() {
        // START_OV: rounded down to a bitmap block (genl-netlink.md §START_OV).
        let (mut r, mut h) = verify_source(Setup::DEFAULT, Some(21), None);
        assert!(h.logged("Starting Online Verify from sector 16"));
        r.tick(100, &mut h);
        assert_eq!(ov_requests(&h.take())[0], (16, 4096));
        assert_eq!(r.verify.run.as_ref().map(|run| run.total), Some(7));
        // Beyond the device: only the last block (set_ov_position).
        let (mut r, mut h) = verify_source(Setup::DEFAULT, Some(10_000), None);
        assert!(h.logged("Starting Online Verify from sector 64"));
        r.tick(100, &mut h);
        assert_eq!(ov_requests(&h.take()), [(64, 2048)]);
    }

    #[test]
    fn the_stop_sector_ends_a_run_early_from_apv_97_except_100() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, Some(8), Some(24));
        r.tick(100, &mut h);
        let requests = ov_requests(&h.take());
        assert_eq!(requests, [(8, 4096), (16, 4096)]);
        answer_all(&mut r, &mut h, &requests, &[], 200);
        assert_eq!(h.take().last(), Some(&Out::Ping));
        r.receive(Socket::Meta, &Packet::PingAck, 300, &mut h);
        assert_eq!(conn(&r), ConnState::Connected);
        // Not at the end: where it stopped is where the next run resumes.
        assert!(h.logged("Online Verify reached sector 24"));
        assert_eq!(r.verify_start_sector(), 24);
        assert!(h.take().iter().any(|o| matches!(o, Out::State(_))));
        assert!(h.helpers.is_empty(), "nothing found, no helper");
        // The next `verify` without --start resumes there.
        r.start_verify(None, None, &mut h);
        r.receive(Socket::Meta, &Packet::StateChgReply(1), 400, &mut h);
        assert!(h.logged("Starting Online Verify from sector 24"));

        // apv 100 knows no stop sector: the run goes to the end, and no P_STATE at its end.
        let setup = Setup {
            apv: 100,
            ..Setup::DEFAULT
        };
        let (mut r, mut h) = verify_source(setup, Some(8), Some(24));
        r.tick(100, &mut h);
        let requests = ov_requests(&h.take());
        assert_eq!(requests.len(), 8);
        answer_all(&mut r, &mut h, &requests, &[], 200);
        r.receive(Socket::Meta, &Packet::PingAck, 300, &mut h);
        assert_eq!(conn(&r), ConnState::Connected);
        assert!(!h.take().iter().any(|o| matches!(o, Out::State(_))));
    }

    #[test]
    fn repeating_verify_while_verify_s_moves_the_stop_sector() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.start_verify(None, Some(8), &mut h);
        // SS_NOTHING_TO_DO is a success, and nothing goes to the peer.
        assert_eq!(h.finished, [Ok(()), Ok(())]);
        assert!(h.take().is_empty());
        assert_eq!(r.verify_stop_sector(), 8);
        r.tick(100, &mut h);
        // At least one request, then the stop sector ends the run.
        assert_eq!(ov_requests(&h.take()), [(0, 4096)]);
    }

    #[test]
    fn verify_t_answers_with_the_digest_of_its_block() {
        let (mut r, mut h) = verify_target(Setup::DEFAULT);
        r.receive(Socket::Data, &ov_request(8, 4096), 10, &mut h);
        // The first request tells VerifyT the start (apv ≥ 90).
        assert!(h.logged("Online Verify start sector: 8"));
        assert_eq!(r.verify.run.as_ref().map(|run| run.left), Some(8));
        let reads = h.take_reads();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].purpose, ReadPurpose::VerifyReply);
        let data = block(7, 4096);
        r.peer_read_data(&reads[0], Some(&data), &mut h);
        assert_eq!(
            h.take(),
            [Out::Request {
                kind: RequestKind::OvReply,
                sector: 8,
                size: 4096,
                digest: md5(&data)
            }]
        );
        // A read error answers with an all-zero digest (§5.6 step 3).
        r.receive(Socket::Data, &ov_request(16, 4096), 20, &mut h);
        let read = h.take_reads()[0];
        r.peer_read_data(&read, None, &mut h);
        let sent = h.take();
        assert_eq!(
            sent.first(),
            Some(&Out::Request {
                kind: RequestKind::OvReply,
                sector: 16,
                size: 4096,
                digest: std::vec![0; 16]
            })
        );
        // Then the failed read makes the disk Inconsistent, which a verify does not allow
        // (drbd's sanitize would call it UpToDate again): the connection starts over.
        assert_eq!(r.state().disk, DiskState::Inconsistent);
        assert!(r.state().conn < ConnState::Connected, "{sent:?}");
    }

    #[test]
    fn verify_t_marks_what_verify_s_found_and_finishes_when_all_results_came() {
        let (mut r, mut h) = verify_target(Setup::DEFAULT);
        for b in 0..9u64 {
            let size = if b == 8 { 2048 } else { 4096 };
            r.receive(Socket::Data, &ov_request(b * 8, size), 10, &mut h);
        }
        for read in h.take_reads() {
            r.peer_read_data(&read, Some(&block(0, read.size)), &mut h);
        }
        h.take();
        for b in 0..9u64 {
            let size = if b == 8 { 2048 } else { 4096 };
            r.receive(Socket::Meta, &ov_result(b * 8, size, b != 5), 20, &mut h);
        }
        assert!(h.bitmap.test(5));
        assert_eq!(h.bitmap.count(), 1);
        assert!(h.logged("Out of sync: start=40, size=8 (sectors)"));
        // All counted: VerifyT pings, then finishes.
        assert_eq!(h.take(), [Out::Ping]);
        r.receive(Socket::Meta, &Packet::PingAck, 1_500, &mut h);
        assert_eq!(conn(&r), ConnState::Connected);
        assert!(h.logged("Online verify done (total 1 sec; paused 0 sec; 36 K/sec)"));
        assert!(h.logged("Online verify found 1 4k block out of sync!"));
        assert_eq!(h.helpers, [Helper::OutOfSync]);
        // VerifyT sends no state at the end.
        assert!(h.take().is_empty());
    }

    #[test]
    fn verify_t_finishes_when_the_peer_reports_connected_up_to_date() {
        // VerifyS stopped early (stop sector): its P_STATE ends the run here (§5.6 step 5).
        let (mut r, mut h) = verify_target(Setup::DEFAULT);
        r.receive(Socket::Data, &ov_request(0, 4096), 10, &mut h);
        let read = h.take_reads()[0];
        r.peer_read_data(&read, Some(&block(0, 4096)), &mut h);
        r.receive(Socket::Meta, &ov_result(0, 4096, true), 20, &mut h);
        let peer = State::new(
            Role::Secondary,
            Role::Secondary,
            ConnState::Connected,
            DiskState::UpToDate,
            DiskState::UpToDate,
        );
        r.receive(Socket::Data, &Packet::State(peer.pack()), 30, &mut h);
        assert_eq!(conn(&r), ConnState::Connected);
        assert!(h.logged("Online Verify reached sector 8"));
        assert!(h.log.iter().any(|l| l.starts_with("Online verify done")));
        assert!(h.helpers.is_empty());
    }

    #[test]
    fn verify_t_without_up_to_date_data_refuses_requests() {
        // An Inconsistent node (here waiting for the bitmap of the resync its disk state
        // forces) answers P_OV_REQUEST with P_NEG_RS_DREPLY.
        let (mut r, mut h) = connected(Setup {
            my_disk: DiskState::Inconsistent,
            ..Setup::DEFAULT
        });
        r.receive(Socket::Data, &ov_request(8, 4096), 10, &mut h);
        assert_eq!(
            h.take(),
            [Out::Ack {
                kind: AckKind::NegRsDReply,
                sector: 8,
                block_id: wire::ID_SYNCER,
                size: 4096
            }]
        );
        assert!(h.reads.is_empty());
    }

    #[test]
    fn a_refused_block_is_a_failed_block_and_outdates_nothing_but_the_peer() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, Some(0), Some(8));
        r.tick(100, &mut h);
        assert_eq!(ov_requests(&h.take()), [(0, 4096)]);
        let refused = Packet::Ack {
            kind: AckKind::NegRsDReply,
            ack: BlockAck {
                sector: 0,
                block_id: wire::ID_SYNCER,
                blksize: 4096,
                seq_num: 1,
            },
        };
        r.receive(Socket::Meta, &refused, 200, &mut h);
        assert_eq!(h.take(), [Out::Ping]);
        r.receive(Socket::Meta, &Packet::PingAck, 300, &mut h);
        assert!(h.logged("            1 failed blocks"));
        assert_eq!(r.state().pdsk, DiskState::Inconsistent);
        assert_eq!(r.state().disk, DiskState::UpToDate);
    }

    #[test]
    fn a_lost_connection_keeps_the_bits_and_where_the_run_was() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        let requests = ov_requests(&h.take());
        answer_all(&mut r, &mut h, &requests[..3], &[1], 200);
        r.socket_failed(&mut h);
        assert_eq!(conn(&r), ConnState::WFConnection);
        assert!(h.bitmap.test(1), "found blocks stay marked");
        assert!(h.logged("Online Verify reached sector 24"));
        assert_eq!(r.verify_start_sector(), 24);
        assert!(r.verify.run.is_none());
        assert!(r.sync_status(9, 300).is_none());
    }

    #[test]
    fn verify_s_waits_for_writes_in_flight_and_holds_off_new_ones() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        // An application write to block 3 is in flight (a Primary's write, not replicated
        // here: only its conflict entry matters).
        let plan = r
            .plan_write(24, 4096, WriteFlags::default(), 77, 50)
            .expect("write planned");
        h.take();
        r.tick(100, &mut h);
        // Blocks 0..3 are requested; block 3 waits for the write.
        assert_eq!(ov_requests(&h.take()), [(0, 4096), (8, 4096), (16, 4096)]);
        r.local_write_done(plan.slot.expect("tracked"), &mut h);
        r.tick(200, &mut h);
        assert_eq!(ov_requests(&h.take())[0], (24, 4096));
        // A requested block holds off application writes until its comparison is done.
        assert_eq!(
            r.plan_write(8, 4096, WriteFlags::default(), 78, 250).err(),
            Some(WriteBusy::ResyncConflict)
        );
        answer_all(&mut r, &mut h, &[(8, 4096)], &[], 300);
        assert!(r
            .plan_write(8, 4096, WriteFlags::default(), 79, 350)
            .is_ok());
    }

    #[test]
    fn verify_t_reads_only_after_the_peer_writes_that_came_first() {
        let (mut r, mut h) = verify_target(Setup::DEFAULT);
        // A write of the (Primary) peer to block 2 arrives, then the request for it.
        let data = Packet::Data {
            kind: DataKind::Data,
            hdr: DataHeader {
                sector: 16,
                block_id: 5,
                seq_num: 1,
                dp_flags: wire::DP_SEND_WRITE_ACK,
            },
            digest: &[],
            data_len: 4096,
        };
        r.receive(Socket::Data, &data, 10, &mut h);
        let HeldWrite::Peer(write) = h.held[0] else {
            panic!("peer write held");
        };
        r.receive(Socket::Data, &ov_request(16, 4096), 11, &mut h);
        assert!(h.take_reads().is_empty(), "the read waits");
        r.peer_write_done(&write, true, &mut h);
        let reads = h.take_reads();
        assert_eq!(reads.len(), 1);
        assert_eq!(
            (reads[0].sector, reads[0].purpose),
            (16, ReadPurpose::VerifyReply)
        );
    }

    /// A write of the peer (a Primary VerifyT) to `sector`, as it arrives.
    fn peer_write(sector: u64, block_id: u64) -> Packet<'static> {
        Packet::Data {
            kind: DataKind::Data,
            hdr: DataHeader {
                sector,
                block_id,
                seq_num: 1,
                dp_flags: wire::DP_SEND_WRITE_ACK,
            },
            digest: &[],
            data_len: 4096,
        }
    }

    #[test]
    fn verify_s_compares_after_the_peer_writes_that_came_before_the_digest() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        h.take();
        // The Primary peer wrote block 1 (it read the new data for its digest): the write
        // reaches us before the digest and is on its way to our disk.
        r.receive(Socket::Data, &peer_write(8, 5), 150, &mut h);
        let HeldWrite::Peer(write) = h.held[0] else {
            panic!("peer write held");
        };
        assert_eq!(h.submitted.len(), 1, "nothing holds the write back");
        let digest = md5(&block(3, 4096));
        r.receive(Socket::Data, &ov_reply(8, 4096, &digest), 160, &mut h);
        assert!(
            h.take_reads().is_empty(),
            "the comparison waits for the write"
        );
        r.peer_write_done(&write, true, &mut h);
        let reads = h.take_reads();
        assert_eq!(reads.len(), 1);
        assert_eq!(
            reads[0].purpose,
            ReadPurpose::VerifyCompare(Digest::from_bytes(&digest).unwrap())
        );
        r.peer_read_data(&reads[0], Some(&block(3, 4096)), &mut h);
        assert!(h.take().contains(&Out::Ack {
            kind: AckKind::OvResult,
            sector: 8,
            block_id: wire::ID_IN_SYNC,
            size: 4096
        }));
    }

    #[test]
    fn peer_writes_after_the_digest_wait_for_the_comparison() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, None, None);
        r.tick(100, &mut h);
        h.take();
        let digest = md5(&block(0, 4096));
        r.receive(Socket::Data, &ov_reply(16, 4096, &digest), 150, &mut h);
        let read = h.take_reads()[0];
        // The peer wrote block 2 after it read it: that write must not reach our disk before
        // our copy is read.
        r.receive(Socket::Data, &peer_write(16, 6), 160, &mut h);
        assert_eq!(h.held.len(), 1);
        assert!(h.submitted.is_empty(), "the write waits for the comparison");
        r.peer_read_data(&read, Some(&block(0, 4096)), &mut h);
        assert_eq!(h.submitted.len(), 1);
        assert!(h.take().contains(&Out::Ack {
            kind: AckKind::OvResult,
            sector: 16,
            block_id: wire::ID_IN_SYNC,
            size: 4096
        }));
    }

    #[test]
    fn proc_shows_the_run() {
        let (mut r, mut h) = verify_source(Setup::DEFAULT, Some(16), Some(48));
        r.tick(100, &mut h);
        let s = r.sync_status(9, 200).expect("verify shows progress");
        assert_eq!((s.rs_total, s.ov_left), (7, 7));
        assert_eq!(s.ov_stop_sector, 48);
        assert_eq!(s.agreed_pro_version, 101);
        assert!(s.c_sync_rate > 0, "VerifyS shows the rate it wants");
        let requests = ov_requests(&h.take());
        answer_all(&mut r, &mut h, &requests[..2], &[], 300);
        assert_eq!(r.sync_status(9, 400).map(|s| s.ov_left), Some(5));
    }

    #[test]
    fn digests_cannot_change_while_they_are_used() {
        let (r, _h) = verify_source(Setup::DEFAULT, None, None);
        let sha = NetSettings {
            verify_alg: AlgName::new("sha1").unwrap(),
            ..*r.net()
        };
        assert_eq!(r.check_digest_change(&sha), Err(RetCode::ErrVerifyRunning));
        let csums = NetSettings {
            csums_alg: AlgName::new("md5").unwrap(),
            ..*r.net()
        };
        assert_eq!(r.check_digest_change(&csums), Ok(()));
        let (r, _h) = connected(Setup::DEFAULT);
        assert_eq!(r.check_digest_change(&sha), Ok(()));
    }

    #[test]
    fn the_peers_new_verify_alg_is_adopted_while_connected() {
        let (mut r, mut h) = connected(Setup::DEFAULT);
        let params = |alg| {
            Packet::SyncParam(SyncParams {
                resync_rate: 1000,
                verify_alg: alg,
                csums_alg: "",
                controller: None,
            })
        };
        r.receive(Socket::Data, &params("sha256"), 10, &mut h);
        assert_eq!(r.net().verify_alg.as_str(), "sha256");
        // A name no digest has ends the connection, as drbd's failed allocation does.
        r.receive(Socket::Data, &params("whirlpool"), 20, &mut h);
        assert!(h.logged("Can not allocate \"whirlpool\" as verify-alg (reason: -2)"));
        assert_eq!(conn(&r), ConnState::StandAlone);
    }
}
