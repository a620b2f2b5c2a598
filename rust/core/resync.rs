// SPDX-License-Identifier: GPL-2.0
//! Resync and online-verify request planning, the resync rate controller, the c-min-rate
//! throttle and the progress marks.
//!
//! Spec: `wire-protocol.md` §5.5 (request geometry), §5.6 (verify requests), §9.1 (bitmap
//! geometry), §11 (controller and rate settings); `proc-drbd.md` §2.3 (progress marks).
//!
//! Sans-I/O: the caller owns the clock, the sockets and the bitmap. The node issuing requests
//! (SyncTarget, VerifyS) calls [`ResyncController::step`] once per [`SLEEP_TIME_MS`] tick to
//! learn how much to request, then takes requests from [`next_resync_request`] (or
//! [`next_verify_request`]) until that budget is spent, reporting each one with
//! [`ResyncController::on_request_sent`]. Integer arithmetic only (kernel build: no floats).

use super::bitmap::{bit_to_sector, Bitmap, BITS_PER_RS_EXTENT, BM_BLOCK_SIZE, BM_SECT_PER_BIT};
use super::genl::sets::{DefaultValue, FieldDef, Limits, SetDef, DISK_CONF, NET_CONF};
use super::meta_data::SECTOR_SIZE;
use super::proc_text::{rate, secs_since, RateMark};

// ---------------------------------------------------------------------------------------------
// Request geometry
// ---------------------------------------------------------------------------------------------

/// One resync request (P_RS_DATA_REQUEST, P_CSUM_RS_REQUEST) as the SyncTarget sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResyncRequest {
    /// First sector (always 4 KiB aligned: the start of a bitmap bit).
    pub sector: u64,
    /// Length in bytes: a multiple of 4 KiB, except a last request clipped to the device end
    /// (still a multiple of 512).
    pub size: u32,
    /// Where the next search starts: the bit after the last one this request covers.
    pub next_cursor_bit: u64,
}

/// The next resync request at or after `cursor_bit` (§5.5 "Request geometry"), or `None` when
/// no set bit that starts inside the device is left.
///
/// The request starts at the first set bit at or after the cursor and covers 4 KiB per bit. It
/// grows over the following set bits while the start stays aligned to the grown size rounded
/// up to a power of two, the size stays ≤ `max_request_bytes` and no 16 MiB resync-extent
/// boundary is crossed; it is clipped to `device_sectors`. Growing from n to n + 1 bits needs
/// the start bit to be a multiple of n + 1 rounded up to a power of two, which holds exactly
/// while n + 1 ≤ the largest power of two dividing the start bit: the alignment rule caps a
/// request at that power of two, which is how it is computed here.
/// One bit is the smallest request: a `max_request_bytes` below 4 KiB still yields 4 KiB.
pub fn next_resync_request<W: AsRef<[u64]>>(
    bitmap: &Bitmap<W>,
    cursor_bit: u64,
    max_request_bytes: u32,
    device_sectors: u64,
) -> Option<ResyncRequest> {
    let first = bitmap.find_next_set(cursor_bit)?;
    let sector = bit_to_sector(first);
    if sector >= device_sectors {
        return None;
    }
    let run_end = bitmap.find_next_clear(first).unwrap_or(bitmap.bits());
    let run_bits = run_end.saturating_sub(first);
    // Bit 0 is aligned to every size; otherwise 2^(trailing zeros) is the largest power of
    // two dividing the start.
    let alignment_bits = match first.trailing_zeros() {
        64 => u64::MAX,
        zeros => 1u64 << zeros,
    };
    let limit_bits = (u64::from(max_request_bytes) / BM_BLOCK_SIZE).max(1);
    let extent_bits = BITS_PER_RS_EXTENT - first % BITS_PER_RS_EXTENT;
    // Each limit is at least 1: `first` is set, and a bit is the smallest request.
    let bits = run_bits
        .min(alignment_bits)
        .min(limit_bits)
        .min(extent_bits);
    let end_sector = sector
        .saturating_add(bits.saturating_mul(BM_SECT_PER_BIT))
        .min(device_sectors);
    let bytes = (end_sector - sector).saturating_mul(u64::from(SECTOR_SIZE));
    Some(ResyncRequest {
        sector,
        // At most max(max_request_bytes, 4 KiB), so it fits; saturate rather than assume.
        size: u32::try_from(bytes).unwrap_or(u32::MAX),
        next_cursor_bit: first.saturating_add(bits),
    })
}

/// The online-verify request at `sector` (§5.6): `(sector, size)` of one 4 KiB block, the
/// last one clipped to `device_sectors`; `None` once `sector` reaches `stop_sector` or the
/// device end. The next request starts at `sector + size / 512`.
pub fn next_verify_request(
    sector: u64,
    stop_sector: u64,
    device_sectors: u64,
) -> Option<(u64, u32)> {
    if sector >= stop_sector || sector >= device_sectors {
        return None;
    }
    let sectors = BM_SECT_PER_BIT.min(device_sectors - sector);
    // At most 8 × 512 bytes.
    let size = u32::try_from(sectors).unwrap_or(0) * SECTOR_SIZE;
    Some((sector, size))
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// Length of one controller step (`SLEEP_TIME`, 100 ms): the period of the resync timer.
pub const SLEEP_TIME_MS: u32 = 100;

/// Controller steps per second.
const STEPS_PER_SEC: u64 = 1000 / SLEEP_TIME_MS as u64;
/// Sectors per KiB.
const SECTORS_PER_KIB: u64 = 1024 / SECTOR_SIZE as u64;
/// KiB per bitmap bit (the unit requests are counted in).
const KIB_PER_BLOCK: u64 = BM_BLOCK_SIZE / 1024;

/// The field `name` of `set`; only evaluated in constants, where a missing entry fails the
/// build instead of silently taking a made-up value.
const fn table_field(set: &SetDef, name: &str) -> &'static FieldDef {
    match set.field_by_name(name) {
        Some(f) => f,
        None => panic!("field missing from the genl table"),
    }
}

/// The default of the u32 field `name` of `set` (constants only, see [`table_field`]).
const fn table_default(set: &SetDef, name: &str) -> u32 {
    match table_field(set, name).default {
        Some(DefaultValue::U32(v)) => v,
        _ => panic!("genl table field has no u32 default"),
    }
}

/// The largest accepted value of the field `name` of `set` (constants only).
const fn table_max(set: &SetDef, name: &str) -> i64 {
    match table_field(set, name).limits {
        Some(Limits { max, .. }) => max,
        None => panic!("genl table field has no limits"),
    }
}

/// Longest planning window, in steps (the upper limit of `c-plan-ahead`, 300 = 30 s). The
/// plan is a fixed array of this many slots: 300 × 4 bytes is small enough to live inside
/// the controller, so neither a const generic nor a caller-provided slice is needed.
pub const MAX_PLAN_STEPS: usize = table_max(&DISK_CONF, "c_plan_ahead") as usize;

/// Default `max-buffers` (net option, 4 KiB pages); half of it caps the resync requests in
/// flight.
pub const DEFAULT_MAX_BUFFERS: u32 = table_default(&NET_CONF, "max_buffers");

/// The disk options that drive the resync controller (§11). A SyncTarget uses whatever the
/// peer sent last in P_SYNC_PARAM89.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResyncSettings {
    /// `resync-rate`, KiB/s: the fixed rate, or with the dynamic controller the size of the
    /// first step.
    pub resync_rate_kib: u32,
    /// `c-plan-ahead`, 0.1 s (= steps): planning window; 0 selects the fixed rate.
    pub c_plan_ahead: u32,
    /// `c-delay-target`, 0.1 s: with no fill target, keep in flight what arrives in this time.
    pub c_delay_target: u32,
    /// `c-fill-target`, sectors: if ≠ 0, the amount of resync data to keep in flight.
    pub c_fill_target: u32,
    /// `c-max-rate`, KiB/s: upper bound of every step.
    pub c_max_rate_kib: u32,
    /// `c-min-rate`, KiB/s: resync speed granted despite application I/O (0 = no throttle).
    pub c_min_rate_kib: u32,
}

impl ResyncSettings {
    /// DRBD 8.4's defaults, taken from the netlink table (`drbd_limits.h`).
    pub const DEFAULT: Self = Self {
        resync_rate_kib: table_default(&DISK_CONF, "resync_rate"),
        c_plan_ahead: table_default(&DISK_CONF, "c_plan_ahead"),
        c_delay_target: table_default(&DISK_CONF, "c_delay_target"),
        c_fill_target: table_default(&DISK_CONF, "c_fill_target"),
        c_max_rate_kib: table_default(&DISK_CONF, "c_max_rate"),
        c_min_rate_kib: table_default(&DISK_CONF, "c_min_rate"),
    };
}

impl Default for ResyncSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Sectors moved in one step at `kib_per_sec` (rate × 0.2: KiB/s × 0.1 s × 2 sectors/KiB).
const fn sectors_per_step(kib_per_sec: u32) -> u64 {
    kib_per_sec as u64 * SECTORS_PER_KIB / STEPS_PER_SEC
}

// ---------------------------------------------------------------------------------------------
// Rate controller
// ---------------------------------------------------------------------------------------------

/// The resync rate controller of the requesting node (§11): per step, how many sectors of
/// resync (or verify) requests to send.
///
/// In-flight accounting: report every request sent with [`Self::on_request_sent`] and every
/// answer that completes one (data reply, in-sync, negative reply, cancel, verify reply) in
/// the next [`Self::step`]'s `sectors_received`; unanswered requests count against the
/// max-buffers cap.
///
/// Not handled here (I/O side, the caller's job): pausing request generation while the data
/// socket's send queue is more than half full, and the c-min-rate throttle
/// ([`ResyncThrottle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncController {
    /// Planned corrections, sectors per future step; a ring of `plan_len` slots from `head`.
    plan: [i32; MAX_PLAN_STEPS],
    /// Slots in use (= `c-plan-ahead` of the plan's settings, 0 in fixed-rate mode).
    plan_len: usize,
    /// The slot of the current step.
    head: usize,
    /// Sectors requested and not yet answered.
    in_flight: u64,
    /// The rate aimed at in the last step (`c_sync_rate`, `want:` in /proc/drbd).
    target_rate_kib: u32,
}

impl Default for ResyncController {
    fn default() -> Self {
        Self::new()
    }
}

impl ResyncController {
    /// A controller with nothing planned and nothing in flight.
    pub const fn new() -> Self {
        Self {
            plan: [0; MAX_PLAN_STEPS],
            plan_len: 0,
            head: 0,
            in_flight: 0,
            target_rate_kib: 0,
        }
    }

    /// Forget plan and in-flight count: at the start of every resync or verify run.
    pub fn reset(&mut self) {
        // In place: the plan is too big to want a temporary copy on a kernel stack.
        self.plan.fill(0);
        self.plan_len = 0;
        self.head = 0;
        self.in_flight = 0;
        self.target_rate_kib = 0;
    }

    /// Account a request of `sectors` just sent.
    pub fn on_request_sent(&mut self, sectors: u32) {
        self.in_flight = self.in_flight.saturating_add(u64::from(sectors));
    }

    /// Sectors requested and not yet answered.
    pub const fn in_flight_sectors(&self) -> u64 {
        self.in_flight
    }

    /// The rate the last step aimed at, KiB/s (the `want:` of /proc/drbd): `resync-rate` in
    /// fixed mode, else the controller's output before the max-buffers cap.
    pub const fn target_rate_kib(&self) -> u32 {
        self.target_rate_kib
    }

    /// One step: `sectors_received` = sectors answered since the last step; `max_buffers` =
    /// the net option `max-buffers` (4 KiB pages). Returns the sectors to request now, always
    /// whole 4 KiB blocks.
    ///
    /// Fixed mode (`c_plan_ahead` = 0): `resync-rate` × 0.1 s in whole 4 KiB blocks. Dynamic
    /// mode: the fifo plan of §11. Either way the blocks in flight after this step's requests
    /// stay ≤ `max_buffers / 2`.
    pub fn step(
        &mut self,
        settings: &ResyncSettings,
        sectors_received: u32,
        max_buffers: u32,
    ) -> u32 {
        let received = u64::from(sectors_received);
        // "Nothing in flight, nothing received": a run just started (or went idle).
        let idle = self.in_flight == 0 && received == 0;
        self.in_flight = self.in_flight.saturating_sub(received);

        let blocks = if settings.c_plan_ahead == 0 {
            // A later switch to the dynamic controller starts from an empty plan.
            self.plan_len = 0;
            self.target_rate_kib = settings.resync_rate_kib;
            u64::from(settings.resync_rate_kib) / (KIB_PER_BLOCK * STEPS_PER_SEC)
        } else {
            let blocks = self.planned_sectors(settings, received, idle) / BM_SECT_PER_BIT;
            let rate = blocks.saturating_mul(KIB_PER_BLOCK * STEPS_PER_SEC);
            self.target_rate_kib = u32::try_from(rate).unwrap_or(u32::MAX);
            blocks
        };

        // The peer allocates max-buffers pages for what we request; asking for more than half
        // of them at once can deadlock both sides under congestion.
        let room = u64::from(max_buffers / 2).saturating_sub(self.in_flight / BM_SECT_PER_BIT);
        let sectors = blocks.min(room).saturating_mul(BM_SECT_PER_BIT);
        u32::try_from(sectors).unwrap_or(u32::MAX)
    }

    /// The dynamic controller's output for this step, in sectors, before the max-buffers cap.
    fn planned_sectors(&mut self, settings: &ResyncSettings, received: u64, idle: bool) -> u64 {
        let steps = (settings.c_plan_ahead as usize).min(MAX_PLAN_STEPS);
        if steps != self.plan_len {
            // A new window length makes a new, empty plan.
            self.plan.fill(0);
            self.plan_len = steps;
            self.head = 0;
        }
        let steps_i64 = steps as i64;

        let want = if idle {
            // Nothing to measure yet: plan resync-rate for the whole window.
            sectors_per_step(settings.resync_rate_kib).saturating_mul(steps as u64)
        } else if settings.c_fill_target != 0 {
            u64::from(settings.c_fill_target)
        } else {
            // Keep in flight what arrives within c-delay-target: this step's arrivals times
            // c-delay-target steps.
            received.saturating_mul(u64::from(settings.c_delay_target))
        };
        let planned: i64 = self.plan.iter().take(steps).map(|&s| i64::from(s)).sum();
        let correction = to_i64(want)
            .saturating_sub(to_i64(self.in_flight))
            .saturating_sub(planned);

        // Spread the correction evenly over the window (truncating, as integer division
        // does), then consume the current step's slot.
        let per_slot = correction.checked_div(steps_i64).unwrap_or(0);
        let per_slot =
            i32::try_from(per_slot).unwrap_or(if per_slot < 0 { i32::MIN } else { i32::MAX });
        for slot in self.plan.iter_mut().take(steps) {
            *slot = slot.saturating_add(per_slot);
        }
        let now = match self.plan.get_mut(self.head) {
            Some(slot) => core::mem::replace(slot, 0),
            None => 0,
        };
        self.head = (self.head + 1) % steps.max(1);

        let request = to_i64(received).saturating_add(i64::from(now)).max(0);
        let max = to_i64(sectors_per_step(settings.c_max_rate_kib));
        // Non-negative after the clamp.
        request.min(max).unsigned_abs()
    }
}

/// `v` as i64, saturating.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Progress marks and the c-min-rate throttle
// ---------------------------------------------------------------------------------------------

/// Progress marks kept (`DRBD_SYNC_MARKS`).
pub const SYNC_MARKS: usize = 8;

/// Seconds between two progress marks (`DRBD_SYNC_MARK_STEP`).
pub const SYNC_MARK_STEP_SECS: u64 = 3;

/// The ring of resync progress marks (bits left at a time, jiffies) behind the speeds and the
/// finish estimate of /proc/drbd and the c-min-rate throttle.
///
/// "Bits left" is the set bits minus failed bits for a resync, the blocks still to verify for
/// a verify. Start a run (and resume a paused one) with [`SyncMarks::new`]; while paused do
/// not call [`SyncMarks::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncMarks {
    marks: [RateMark; SYNC_MARKS],
    /// Index of the newest mark.
    newest: usize,
}

impl SyncMarks {
    /// Every mark at (`bits_left`, `now`).
    pub const fn new(bits_left: u64, now: u64) -> Self {
        Self {
            marks: [RateMark {
                left: bits_left,
                time: now,
            }; SYNC_MARKS],
            newest: 0,
        }
    }

    /// Take a new mark if the newest is at least [`SYNC_MARK_STEP_SECS`] old and progress was
    /// made since; `hz` = jiffies per second. Without progress the marks age, which is what
    /// makes /proc/drbd report "(stalled)". Returns whether a mark was taken.
    pub fn advance(&mut self, bits_left: u64, now: u64, hz: u64) -> bool {
        let newest = self.newest();
        let due = now.wrapping_sub(newest.time) >= SYNC_MARK_STEP_SECS.saturating_mul(hz);
        if !due || newest.left == bits_left {
            return false;
        }
        self.newest = (self.newest + 1) % SYNC_MARKS;
        self.marks[self.newest] = RateMark {
            left: bits_left,
            time: now,
        };
        true
    }

    /// The mark `back` steps before the newest (0 = newest).
    fn back(&self, back: usize) -> RateMark {
        self.marks[(self.newest + SYNC_MARKS - back % SYNC_MARKS) % SYNC_MARKS]
    }

    /// The newest mark (at most ~3 s old while progress is made).
    pub fn newest(&self) -> RateMark {
        self.back(0)
    }

    /// The second-newest mark (3–6 s old): the c-min-rate throttle's and /proc/drbd's short
    /// window (`SyncStatus::mark_fast`).
    pub fn fast(&self) -> RateMark {
        self.back(1)
    }

    /// The mark six steps back (~18 s old): /proc/drbd's speed and finish estimate
    /// (`SyncStatus::mark_slow`).
    pub fn slow(&self) -> RateMark {
        self.back(SYNC_MARKS - 2)
    }

    /// Recent resync speed, KiB/s: progress since the [`Self::fast`] mark over the whole
    /// seconds since it (at least 1). No progress (or bits added since) gives 0.
    pub fn recent_rate_kib(&self, bits_left: u64, now: u64, hz: u64) -> u64 {
        let mark = self.fast();
        let done = mark.left.saturating_sub(bits_left);
        u64::try_from(rate(done, secs_since(now, mark.time, hz))).unwrap_or(0)
    }
}

/// Application I/O on the backing device since the last detection that counts as activity
/// (more than this many sectors).
pub const THROTTLE_APP_IO_SECTORS: i64 = 64;

/// The c-min-rate throttle (§11): whether to hold back resync because the application is
/// using the backing device and resync already runs faster than `c-min-rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResyncThrottle {
    /// Application sectors at the last detected activity.
    app_sectors_seen: u64,
}

impl ResyncThrottle {
    /// A throttle whose baseline is the current application I/O total (at resync start).
    pub const fn new(app_sectors: u64) -> Self {
        Self {
            app_sectors_seen: app_sectors,
        }
    }

    /// Whether to delay resync now.
    ///
    /// * `app_sectors`: running total of non-resync sectors read and written on the backing
    ///   device (the disk's counters minus resync's own I/O); it may wrap.
    /// * `al_waiters`: application writes waiting for the activity log.
    /// * `recent_rate_kib`: [`SyncMarks::recent_rate_kib`].
    ///
    /// Never with `c_min_rate_kib` = 0. Otherwise only when activity is seen — more than
    /// [`THROTTLE_APP_IO_SECTORS`] application sectors since the last activity, or AL waiters
    /// — and the recent rate exceeds `c_min_rate_kib`. The baseline moves only when activity is
    /// seen, so slow application I/O accumulates until it counts.
    pub fn should_throttle(
        &mut self,
        c_min_rate_kib: u32,
        app_sectors: u64,
        al_waiters: u32,
        recent_rate_kib: u64,
    ) -> bool {
        if c_min_rate_kib == 0 {
            return false;
        }
        // Signed, so a counter that wrapped still gives the right difference and one that went
        // backwards (resync I/O accounted late) counts as no activity.
        let app_io = app_sectors.wrapping_sub(self.app_sectors_seen) as i64;
        if al_waiters == 0 && app_io <= THROTTLE_APP_IO_SECTORS {
            return false;
        }
        self.app_sectors_seen = app_sectors;
        recent_rate_kib > u64::from(c_min_rate_kib)
    }
}

#[cfg(test)]
mod tests {
    use super::super::bitmap::{bits_for_sectors, words_for_bits};
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    const MIB: u32 = 1 << 20;
    /// d_size of the fullsync-protoC capture (64 MiB disk minus internal meta data).
    const CAPTURE_SECTORS: u64 = 0x1ffb0;

    fn empty(bits: u64) -> Bitmap<Vec<u64>> {
        Bitmap::new(vec![0; words_for_bits(bits) as usize], bits).unwrap()
    }

    fn full_for_sectors(sectors: u64) -> Bitmap<Vec<u64>> {
        let words = words_for_bits(bits_for_sectors(sectors)) as usize;
        Bitmap::for_sectors(vec![u64::MAX; words], sectors).unwrap()
    }

    /// Every request of a walk from `cursor` to the end.
    fn walk<W: AsRef<[u64]>>(
        bm: &Bitmap<W>,
        mut cursor: u64,
        max: u32,
        device: u64,
    ) -> Vec<ResyncRequest> {
        let mut out = Vec::new();
        while let Some(r) = next_resync_request(bm, cursor, max, device) {
            assert!(r.next_cursor_bit > cursor);
            cursor = r.next_cursor_bit;
            out.push(r);
        }
        out
    }

    #[test]
    fn full_sync_of_the_capture() {
        assert_eq!(CAPTURE_SECTORS, 130_992);
        let bm = full_for_sectors(CAPTURE_SECTORS);
        assert_eq!(bm.bits(), 16374);
        let reqs = walk(&bm, 0, MIB, CAPTURE_SECTORS);
        // Observed: 64 requests, 1 MiB each at 0, 2048, 4096, … and a last one of 984 KiB
        // at 129024 (the device ends 984 KiB into the last MiB).
        assert_eq!(reqs.len(), 64);
        for (i, r) in reqs.iter().enumerate() {
            assert_eq!(r.sector, i as u64 * 2048);
            assert_eq!(r.next_cursor_bit, ((i as u64 + 1) * 256).min(16374));
        }
        assert!(reqs[..63].iter().all(|r| r.size == MIB));
        assert_eq!(reqs[63].sector, 129_024);
        assert_eq!(reqs[63].size, 1_007_616);
    }

    #[test]
    fn last_request_clipped_to_a_partial_block() {
        // Two sectors short of a whole block: the last bit covers 6 sectors only.
        let device = CAPTURE_SECTORS - 2;
        let bm = full_for_sectors(device);
        let reqs = walk(&bm, 0, MIB, device);
        assert_eq!(reqs.len(), 64);
        assert_eq!(reqs[63].sector, 129_024);
        assert_eq!(reqs[63].size, 1_007_616 - 1024);
        assert_eq!(reqs[63].next_cursor_bit, 16374);
        // A single partial bit.
        let bm = full_for_sectors(3);
        assert_eq!(
            next_resync_request(&bm, 0, MIB, 3),
            Some(ResyncRequest {
                sector: 0,
                size: 1536,
                next_cursor_bit: 1
            })
        );
    }

    #[test]
    fn dirty_run_of_the_capture() {
        // 64 bits at bit 5000 (sector 40000): observed 32 KiB @40000, 64 KiB @40064,
        // 128 KiB @40192, 32 KiB @40448.
        let mut bm = full_for_sectors(CAPTURE_SECTORS);
        bm.clear_all();
        bm.set_range(5000..5064);
        let got: Vec<(u64, u32)> = walk(&bm, 0, MIB, CAPTURE_SECTORS)
            .iter()
            .map(|r| (r.sector, r.size))
            .collect();
        assert_eq!(
            got,
            [
                (40_000, 32 << 10),
                (40_064, 64 << 10),
                (40_192, 128 << 10),
                (40_448, 32 << 10)
            ]
        );
    }

    #[test]
    fn limits_of_a_request() {
        let mut bm = empty(3 * 4096);
        bm.set_all();
        let device = 3 * 4096 * 8;
        // A request larger than an extent would be allowed: the extent still ends it.
        let r = next_resync_request(&bm, 0, 64 * MIB, device).unwrap();
        assert_eq!((r.sector, r.size, r.next_cursor_bit), (0, 16 * MIB, 4096));
        // Below one block: one block anyway.
        let r = next_resync_request(&bm, 7, 100, device).unwrap();
        assert_eq!((r.sector, r.size, r.next_cursor_bit), (56, 4096, 8));
        let r = next_resync_request(&bm, 0, 0, device).unwrap();
        assert_eq!(r.size, 4096);
        // A limit that is not a power of two: 12 KiB from an aligned start.
        let r = next_resync_request(&bm, 16, 12 << 10, device).unwrap();
        assert_eq!((r.sector, r.size), (128, 12 << 10));
        // Odd start: 4 KiB whatever the run; then the next start is aligned to 8 KiB.
        let r = next_resync_request(&bm, 4095, MIB, device).unwrap();
        assert_eq!((r.size, r.next_cursor_bit), (4096, 4096));
        let r = next_resync_request(&bm, 4097, MIB, device).unwrap();
        assert_eq!((r.size, r.next_cursor_bit), (4096, 4098));
        let r = next_resync_request(&bm, 4098, MIB, device).unwrap();
        assert_eq!((r.size, r.next_cursor_bit), (8192, 4100));
    }

    #[test]
    fn nothing_to_request() {
        let bm = empty(100);
        assert_eq!(next_resync_request(&bm, 0, MIB, 800), None);
        let mut bm = empty(100);
        bm.set(10);
        assert_eq!(next_resync_request(&bm, 11, MIB, 800), None);
        assert_eq!(next_resync_request(&bm, u64::MAX, MIB, 800), None);
        // A set bit that starts at or past the given device end is not requested.
        assert_eq!(next_resync_request(&bm, 0, MIB, 80), None);
        assert_eq!(
            next_resync_request(&bm, 0, MIB, 81).map(|r| r.size),
            Some(512)
        );
    }

    #[test]
    fn verify_requests() {
        // Observed: 16374 requests of 4 KiB, 0 … 130984.
        let mut sector = 0;
        let mut count = 0;
        while let Some((s, size)) = next_verify_request(sector, u64::MAX, CAPTURE_SECTORS) {
            assert_eq!((s, size), (sector, 4096));
            sector += u64::from(size / 512);
            count += 1;
        }
        assert_eq!((count, sector), (16374, CAPTURE_SECTORS));
        // Clipped last block.
        assert_eq!(next_verify_request(24, u64::MAX, 27), Some((24, 1536)));
        assert_eq!(next_verify_request(27, u64::MAX, 27), None);
        // The stop sector ends the run before the device end.
        assert_eq!(next_verify_request(64, 72, 1000), Some((64, 4096)));
        assert_eq!(next_verify_request(72, 72, 1000), None);
        assert_eq!(next_verify_request(0, 0, 1000), None);
    }

    /// A bitmap from alternating clear/set run lengths.
    fn runs_bitmap(bits: u64, runs: &[(u16, u16)]) -> Bitmap<Vec<u64>> {
        let mut bm = empty(bits);
        let mut at = 0u64;
        for &(gap, len) in runs {
            let start = (at + u64::from(gap)).min(bits);
            let end = (start + u64::from(len)).min(bits);
            bm.set_range(start..end);
            at = end;
        }
        bm
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// A walk from `cursor` yields requests that, in order:
        /// * start at the first set bit at or after the previous request's end (or the cursor),
        ///   are 4 KiB aligned and end inside the device;
        /// * cover only set bits, never cross a 16 MiB extent, and are whole blocks unless
        ///   they end exactly at the device end (then a multiple of 512);
        /// * are ≤ max(max_request_bytes, 4 KiB) and start aligned to their block count
        ///   rounded up to a power of two;
        /// * are maximal: one more bit would be clear or past the end, or break one of the
        ///   rules above;
        /// and together cover exactly the set bits at or after the cursor, each once.
        #[test]
        fn walk_covers_exactly_the_set_bits(
            bits in 1u64..9000,
            short in 0u64..8,
            runs in proptest::collection::vec(
                (prop_oneof![Just(0u16), 0u16..300], prop_oneof![1u16..64, 1u16..6000, 4000u16..9000]), 0..12),
            max in prop_oneof![Just(MIB), Just(32 << 10), Just(128 << 10),
                Just(64 << 20), 0u32..(3 << 20)],
            cursor_pick in prop_oneof![Just(0u64), any::<u64>()],
        ) {
            let device = (bits * 8 - short).max((bits - 1) * 8 + 1);
            let bm = runs_bitmap(bits, &runs);
            let cursor = cursor_pick % (bits + 10);
            let max_bits = (u64::from(max) / 4096).max(1);
            let reqs = walk(&bm, cursor, max, device);
            let mut at = cursor;
            let mut covered = 0u64;
            for r in &reqs {
                prop_assert_eq!(r.sector % 8, 0);
                let first = r.sector / 8;
                prop_assert!(first >= at);
                prop_assert_eq!(bm.count_range(at..first), 0);
                prop_assert!(r.size > 0 && r.size % 512 == 0);
                let end_sector = r.sector + u64::from(r.size / 512);
                prop_assert!(end_sector <= device);
                let n = u64::from(r.size).div_ceil(4096);
                prop_assert!(n * 4096 == u64::from(r.size) || end_sector == device);
                prop_assert!(n <= max_bits);
                prop_assert_eq!(bm.count_range(first..first + n), n);
                prop_assert_eq!(first / 4096, (first + n - 1) / 4096);
                prop_assert_eq!(first % n.next_power_of_two(), 0);
                prop_assert_eq!(r.next_cursor_bit, first + n);
                let next = first + n;
                let stops = next >= bm.bits()
                    || !bm.test(next)
                    || n + 1 > max_bits
                    || next % 4096 == 0
                    || first % (n + 1).next_power_of_two() != 0;
                prop_assert!(stops, "request {:?} could grow", r);
                covered += n;
                at = next;
            }
            prop_assert_eq!(bm.count_range(at..bits), 0);
            prop_assert_eq!(covered, bm.count_range(cursor..bits));
        }
    }

    // --- controller ---

    fn settings(rate: u32) -> ResyncSettings {
        ResyncSettings {
            resync_rate_kib: rate,
            ..ResyncSettings::DEFAULT
        }
    }

    #[test]
    fn defaults_are_drbd_84s() {
        // wire-protocol.md §11 table; config-and-tools.md for the limits.
        assert_eq!(
            ResyncSettings::default(),
            ResyncSettings {
                resync_rate_kib: 250,
                c_plan_ahead: 20,
                c_delay_target: 10,
                c_fill_target: 100,
                c_max_rate_kib: 102_400,
                c_min_rate_kib: 250,
            }
        );
        assert_eq!(MAX_PLAN_STEPS, 300);
        assert_eq!(DEFAULT_MAX_BUFFERS, 2048);
    }

    #[test]
    fn observed_first_step() {
        // 40 MiB/s, plan-ahead 20: 4 MiB requested at once.
        let mut c = ResyncController::new();
        let s = settings(40 << 10);
        assert_eq!(c.step(&s, 0, DEFAULT_MAX_BUFFERS), 8192);
        assert_eq!(c.target_rate_kib(), 40 << 10);
        // The requests of the capture's first step: 4 × 1 MiB.
        let bm = full_for_sectors(CAPTURE_SECTORS);
        let mut budget = 8192u32;
        let mut cursor = 0;
        let mut sent = Vec::new();
        while budget > 0 {
            let r =
                next_resync_request(&bm, cursor, MIB.min(budget * 512), CAPTURE_SECTORS).unwrap();
            c.on_request_sent(r.size / 512);
            budget -= r.size / 512;
            cursor = r.next_cursor_bit;
            sent.push(r.sector);
        }
        assert_eq!(sent, [0, 2048, 4096, 6144]);
        assert_eq!(c.in_flight_sectors(), 8192);
        // Step 2, nothing answered: want = fill target 100; the plan still holds 19 × 8192,
        // so correction = 100 − 8192 − 155648 = −163740, −8187 per slot; the head slot keeps
        // 5 sectors: less than a block, nothing is requested.
        assert_eq!(c.step(&s, 0, DEFAULT_MAX_BUFFERS), 0);
        // Step 3, everything answered: 18 × 5 planned, correction 100 − 0 − 90 = 10 is 0 per
        // slot, so the step re-requests what arrived (8192 + 5 sectors, whole blocks).
        assert_eq!(c.step(&s, 8192, DEFAULT_MAX_BUFFERS), 8192);
    }

    #[test]
    fn fixed_rate() {
        // requests per step = rate × 0.1 s / 4 KiB, whole requests.
        for (rate, blocks) in [
            (250u32, 6u32),
            (1000, 25),
            (40 << 10, 1024),
            (4 << 20, 1024),
        ] {
            let s = ResyncSettings {
                c_plan_ahead: 0,
                ..settings(rate)
            };
            let mut c = ResyncController::new();
            let expected = (u64::from(rate) * 1024 / 10 / 4096).min(1024) as u32;
            assert_eq!(expected, blocks);
            let mut received = 0;
            for _ in 0..50 {
                let r = c.step(&s, received, DEFAULT_MAX_BUFFERS);
                assert_eq!(r, blocks * 8, "rate {rate}");
                assert_eq!(c.target_rate_kib(), rate);
                c.on_request_sent(r);
                received = r;
            }
        }
    }

    #[test]
    fn max_rate_clamp() {
        // c-max-rate × 0.2 sectors per step: 10 MiB/s → 2048 sectors.
        let s = ResyncSettings {
            c_max_rate_kib: 10 << 10,
            ..settings(40 << 10)
        };
        let mut c = ResyncController::new();
        let mut link = VecDeque::from([0u32; 2]);
        let mut seen_max = 0;
        for _ in 0..200 {
            let delivered = link.pop_front().unwrap();
            let r = c.step(&s, delivered, DEFAULT_MAX_BUFFERS);
            assert!(r <= 2048, "{r}");
            seen_max = seen_max.max(r);
            c.on_request_sent(r);
            link.push_back(r);
        }
        assert_eq!(seen_max, 2048);
        // With the minimum c-max-rate of 250 KiB/s: 50 sectors → 6 whole blocks.
        let s = ResyncSettings {
            c_max_rate_kib: 250,
            ..settings(40 << 10)
        };
        assert_eq!(ResyncController::new().step(&s, 0, DEFAULT_MAX_BUFFERS), 48);
    }

    #[test]
    fn max_buffers_cap() {
        let s = settings(40 << 10);
        let mut c = ResyncController::new();
        // max-buffers 32: at most 16 blocks in flight.
        assert_eq!(c.step(&s, 0, 32), 128);
        c.on_request_sent(100);
        // 12 blocks still in flight: 4 more.
        assert_eq!(c.step(&s, 0, 32), 32);
        c.on_request_sent(32);
        assert_eq!(c.step(&s, 0, 32), 0);
        // Fixed mode obeys the cap too.
        let fixed = ResyncSettings {
            c_plan_ahead: 0,
            ..s
        };
        assert_eq!(c.step(&fixed, 32, 32), 32);
    }

    /// Run `steps` steps over a toy link: what is sent in one step is answered `latency`
    /// steps later, at most `bandwidth` sectors per step (the rest queues). Returns the
    /// in-flight sectors the controller saw at each step (after the answers, before the new
    /// requests: the quantity it steers).
    fn simulate(s: &ResyncSettings, latency: usize, bandwidth: u64, steps: usize) -> Vec<u64> {
        let mut c = ResyncController::new();
        let mut wire: VecDeque<u64> = VecDeque::from(vec![0; latency]);
        let mut queued = 0u64;
        let mut out = Vec::new();
        for _ in 0..steps {
            queued += wire.pop_front().unwrap();
            let delivered = queued.min(bandwidth);
            queued -= delivered;
            let r = c.step(s, delivered as u32, 131_072);
            out.push(c.in_flight_sectors());
            c.on_request_sent(r);
            wire.push_back(u64::from(r));
        }
        out
    }

    /// Whether the in-flight values of steps 300..400 sit steadily just below `target`.
    ///
    /// At rest every step requests exactly what arrived, so the head slot lies in [0, 8)
    /// sectors (less than one 4 KiB block, which the step cannot request); the plan then holds
    /// 0 … 7 sectors in each of its 20 slots, and in flight + planned = target puts the
    /// in-flight count in (target − 160, target].
    fn settles_below(in_flight: &[u64], target: u64) {
        let tail = &in_flight[300..];
        assert!(tail.iter().all(|&f| f == tail[0]), "not steady: {tail:?}");
        assert!(
            tail[0] <= target && tail[0] > target - 8 * 20,
            "{} vs {target}",
            tail[0]
        );
    }

    // The toy links below limit bandwidth as well as adding latency. Over a link with latency
    // only, this controller (like drbd's) does not settle: it re-requests each step what
    // arrived, so any uneven spread of requests over the `latency` phases comes back
    // unchanged, and the phases whose arrivals are too small for their share of a negative
    // correction lose it to the clamp at 0, so the in-flight amount creeps up to c-max-rate.

    #[test]
    fn converges_to_the_fill_target() {
        for rate in [250, 40 << 10] {
            for (fill, latency, bandwidth) in [(4096u32, 3, 1024), (2000, 1, 512), (16384, 5, 2048)]
            {
                let s = ResyncSettings {
                    c_fill_target: fill,
                    ..settings(rate)
                };
                settles_below(&simulate(&s, latency, bandwidth, 400), u64::from(fill));
            }
        }
    }

    #[test]
    fn converges_to_the_delay_target() {
        // No fill target: keep in flight what arrives within c-delay-target (1 s = 10 steps).
        for rate in [250, 40 << 10] {
            for (latency, bandwidth) in [(1, 1024u64), (4, 3000)] {
                let s = ResyncSettings {
                    c_fill_target: 0,
                    ..settings(rate)
                };
                settles_below(&simulate(&s, latency, bandwidth, 400), bandwidth * 10);
            }
        }
    }

    #[test]
    fn new_window_length_starts_a_new_plan() {
        let s20 = settings(40 << 10);
        let s10 = ResyncSettings {
            c_plan_ahead: 10,
            ..s20
        };
        let mut a = ResyncController::new();
        for received in [0, 0, 4096, 1024] {
            let r = a.step(&s20, received, DEFAULT_MAX_BUFFERS);
            a.on_request_sent(r);
        }
        // Same in-flight count, empty plan: identical from now on.
        let mut b = ResyncController::new();
        b.on_request_sent(a.in_flight_sectors() as u32);
        for received in [512, 0, 2048, 8, 0] {
            assert_eq!(
                a.step(&s10, received, DEFAULT_MAX_BUFFERS),
                b.step(&s10, received, DEFAULT_MAX_BUFFERS)
            );
        }
        a.reset();
        assert_eq!(a, ResyncController::new());
    }

    // --- progress marks and throttle ---

    const HZ: u64 = 250;

    #[test]
    fn marks_advance_every_three_seconds_with_progress() {
        let t0 = 1_000_000;
        let mut m = SyncMarks::new(10_000, t0);
        let start = RateMark {
            left: 10_000,
            time: t0,
        };
        assert_eq!((m.newest(), m.fast(), m.slow()), (start, start, start));
        assert!(!m.advance(9_000, t0 + 3 * HZ - 1, HZ));
        assert!(m.advance(9_000, t0 + 3 * HZ, HZ));
        assert_eq!(
            m.newest(),
            RateMark {
                left: 9_000,
                time: t0 + 3 * HZ
            }
        );
        assert_eq!(m.fast(), start);
        // No progress: no mark, however long it takes.
        assert!(!m.advance(9_000, t0 + 300 * HZ, HZ));
        // Ten more marks: the ring keeps the last eight.
        let mut t = t0 + 300 * HZ;
        for i in 1..=10u64 {
            t += 3 * HZ;
            assert!(m.advance(9_000 - i * 100, t, HZ));
        }
        assert_eq!(
            m.newest(),
            RateMark {
                left: 8_000,
                time: t
            }
        );
        assert_eq!(
            m.fast(),
            RateMark {
                left: 8_100,
                time: t - 3 * HZ
            }
        );
        assert_eq!(
            m.slow(),
            RateMark {
                left: 8_600,
                time: t - 18 * HZ
            }
        );
    }

    #[test]
    fn recent_rate() {
        let t0 = 5_000;
        let mut m = SyncMarks::new(10_000, t0);
        assert!(m.advance(9_000, t0 + 3 * HZ, HZ));
        // Since the second-newest mark: 1500 bits in 5 s = 300 bits/s = 1200 KiB/s.
        assert_eq!(m.recent_rate_kib(8_500, t0 + 5 * HZ, HZ), 1200);
        // Less than a second counts as one.
        assert_eq!(m.recent_rate_kib(9_990, t0 + HZ / 2, HZ), 40);
        // Bits added since the mark: no progress.
        assert_eq!(m.recent_rate_kib(12_000, t0 + 5 * HZ, HZ), 0);
    }

    #[test]
    fn throttle_needs_a_min_rate() {
        let mut t = ResyncThrottle::new(0);
        assert!(!t.should_throttle(0, 1 << 30, 5, u64::MAX));
    }

    #[test]
    fn throttle_on_application_io_above_min_rate() {
        let mut t = ResyncThrottle::new(1000);
        // 64 sectors is not activity yet; 65 is.
        assert!(!t.should_throttle(250, 1064, 0, 10_000));
        assert!(t.should_throttle(250, 1065, 0, 251));
        // Activity seen: the baseline moved to 1065.
        assert!(!t.should_throttle(250, 1100, 0, 10_000));
        assert!(t.should_throttle(250, 1130, 0, 10_000));
        // Activity, but resync is not faster than c-min-rate.
        assert!(!t.should_throttle(250, 2000, 0, 250));
        // AL waiters count as activity without new I/O.
        assert!(t.should_throttle(250, 2000, 1, 251));
        assert!(!t.should_throttle(250, 2000, 0, 251));
    }

    #[test]
    fn throttle_accumulates_slow_io_and_survives_wrap() {
        let mut t = ResyncThrottle::new(0);
        assert!(!t.should_throttle(250, 40, 0, 10_000));
        assert!(t.should_throttle(250, 70, 0, 10_000));
        let mut t = ResyncThrottle::new(u64::MAX - 10);
        assert!(t.should_throttle(250, 100, 0, 10_000));
        // A counter that went backwards is no activity.
        let mut t = ResyncThrottle::new(1000);
        assert!(!t.should_throttle(250, 900, 0, 10_000));
    }
}
