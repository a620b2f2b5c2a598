// SPDX-License-Identifier: GPL-2.0
//! The text of `/proc/drbd`, byte for byte as DRBD 8.4.11 in Linux 6.12 prints it.
//!
//! drbd-utils reads the version from the first line to decide it talks to an 8.4 kernel, so
//! the header must be exact.

use core::borrow::Borrow;
use core::fmt::{self, Write};

use super::state::{ConnState, DiskState, State};
use super::version;

/// Second header line: how the module was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildTag<'a> {
    /// Loadable module: the kernel's srcversion of it.
    SrcVersion(&'a str),
    /// Compiled into the kernel.
    BuiltIn,
}

/// Write the two header lines.
pub fn write_header<W: Write>(out: &mut W, build: BuildTag<'_>) -> fmt::Result {
    writeln!(
        out,
        "version: {} (api:{}/proto:{}-{})",
        version::RELEASE,
        version::GENL_API_VERSION,
        version::PROTOCOL_MIN,
        version::PROTOCOL_MAX
    )?;
    match build {
        // srcversion left-justified in 24 columns: 23 hex digits leave one trailing space.
        BuildTag::SrcVersion(src) => writeln!(out, "srcversion: {src:<24}"),
        BuildTag::BuiltIn => writeln!(out, "built-in"),
    }
}

/// A DRBD release number as the tools parse it from `/proc/drbd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// Major number (8).
    pub major: u32,
    /// Minor number (4).
    pub minor: u32,
    /// Sub-release (11).
    pub sub: u32,
}

/// Find the release after the first `version:` in `text` (the tools read the first 4 KiB),
/// accepting out-of-tree forms such as `8.4.11-1`.
pub fn parse_release(text: &str) -> Option<Release> {
    let start = text.find("version:")? + "version:".len();
    let token = text[start..].split_whitespace().next()?;
    let mut parts = token.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let sub_text = parts.next()?;
    let digits = sub_text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(sub_text.len());
    let sub = sub_text[..digits].parse().ok()?;
    Some(Release { major, minor, sub })
}

/// Replication protocol of the connection's net config (`wire_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireProtocol {
    /// Protocol A (asynchronous), `DRBD_PROT_A` = 1.
    A,
    /// Protocol B (memory synchronous), 2.
    B,
    /// Protocol C (synchronous), 3.
    C,
}

impl WireProtocol {
    /// The letter /proc/drbd prints.
    pub const fn letter(self) -> char {
        match self {
            WireProtocol::A => 'A',
            WireProtocol::B => 'B',
            WireProtocol::C => 'C',
        }
    }
}

/// Write-ordering method in use (`wo:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WriteOrdering {
    /// No ordering (`n`).
    None,
    /// Drain I/O (`d`).
    Drain,
    /// Flush the backing device (`f`).
    #[default]
    Flush,
}

impl WriteOrdering {
    /// The character /proc/drbd prints.
    pub const fn letter(self) -> char {
        match self {
            WriteOrdering::None => 'n',
            WriteOrdering::Drain => 'd',
            WriteOrdering::Flush => 'f',
        }
    }
}

/// The raw counters of the second line, as the kernel keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// Sectors sent to the peer (`send_cnt`, 32 bits, wraps); printed ÷ 2 as `ns:` KiB.
    pub send_sectors: u32,
    /// Sectors received from the peer (`recv_cnt`); `nr:`.
    pub recv_sectors: u32,
    /// Sectors written to the backing device (`writ_cnt`); `dw:`.
    pub write_sectors: u32,
    /// Sectors read from the backing device (`read_cnt`); `dr:`.
    pub read_sectors: u32,
    /// Activity-log transactions written (`al:`).
    pub al_writes: u32,
    /// Bitmap writes (`bm:`, 0 in 6.12).
    pub bm_writes: u32,
    /// References on the local disk (`lo:`).
    pub local: i32,
    /// Application requests awaiting the peer (`ap_pending_cnt`, part of `pe:`).
    pub ap_pending: i32,
    /// Resync requests awaiting the peer (`rs_pending_cnt`, part of `pe:`).
    pub rs_pending: i32,
    /// Peer requests not yet answered (`ua:`).
    pub unacked: i32,
    /// Application requests accepted but not completed (`ap:`).
    pub ap_bio: i32,
    /// Epochs in flight (`ep:`, the connection's `epochs`).
    pub epochs: u32,
    /// Write ordering in use (`wo:`).
    pub write_ordering: WriteOrdering,
}

/// Statistics of one LRU cache (`lc_seq_printf_stats()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LruStats {
    /// Elements in use.
    pub used: u32,
    /// Number of elements (61 for `resync`, `al-extents` for `act_log`).
    pub nr_elements: u32,
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Starving.
    pub starving: u64,
    /// Locked.
    pub locked: u64,
    /// Changed.
    pub changed: u64,
}

/// The two LRU caches of a device with a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LruCaches {
    /// Resync extents.
    pub resync: LruStats,
    /// Activity log.
    pub act_log: LruStats,
}

/// A rolling resync rate mark: bits still to do at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RateMark {
    /// Bits left at the mark (`rs_mark_left[i]`).
    pub left: u64,
    /// When the mark was taken, in jiffies (`rs_mark_time[i]`).
    pub time: u64,
}

/// Raw resync / verify bookkeeping, read only in SyncSource, SyncTarget, VerifyS and VerifyT.
/// Bit counts are bitmap bits (4 KiB each), times are jiffies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SyncStatus {
    /// Bits to handle in this run (`rs_total`).
    pub rs_total: u64,
    /// Bits that failed to resync (`rs_failed`).
    pub rs_failed: u64,
    /// Bits still to verify (`ov_left`).
    pub ov_left: u64,
    /// The mark 6 steps back (`rs_mark_*[(rs_last_mark + 2) % 8]`, ~18 s old).
    pub mark_slow: RateMark,
    /// The newest complete mark (`rs_mark_*[(rs_last_mark + 7) % 8]`, ~3 s old).
    pub mark_fast: RateMark,
    /// Now, in jiffies.
    pub now: u64,
    /// Jiffies per second (`HZ`).
    pub hz: u64,
    /// When the run started, in jiffies (`rs_start`).
    pub rs_start: u64,
    /// Jiffies spent paused (`rs_paused`).
    pub rs_paused: u64,
    /// Rate the resync controller aims for, KiB/s (`c_sync_rate`).
    pub c_sync_rate: i32,
    /// Bits in the bitmap (`drbd_bm_bits()`).
    pub bm_bits: u64,
    /// Resync position: next bit to look at (`bm_resync_fo`).
    pub bm_resync_fo: u64,
    /// Sector at which verify stops (`ov_stop_sector`; 0 or all-ones: none).
    pub ov_stop_sector: u64,
    /// Agreed protocol version (stop sector shown only for ≥ 97 and ≠ 100).
    pub agreed_pro_version: u32,
}

/// Everything /proc/drbd shows for one minor, as plain numbers the module copies out of its
/// state; all the arithmetic happens in [`write_device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeviceStatus {
    /// Minor number.
    pub minor: u32,
    /// Device state (roles, connection, disks, pause and suspend flags).
    pub state: State,
    /// Protocol of the net config, `None` when there is no net config.
    pub protocol: Option<WireProtocol>,
    /// Activity-log updates suspended (`AL_SUSPENDED`).
    pub al_suspended: bool,
    /// The counters line.
    pub counters: Counters,
    /// Bits set in the bitmap (`drbd_bm_total_weight()`), printed × 4 as `oos:` KiB.
    pub oos_bits: u64,
    /// Resync / verify bookkeeping.
    pub sync: SyncStatus,
    /// LRU statistics, `Some` exactly when the device has a disk (≥ Failed, i.e.
    /// `get_ldev_if_state(D_FAILED)` succeeds).
    pub caches: Option<LruCaches>,
    /// Requests waiting for an activity-log transaction (`ap_actlog_cnt`).
    pub blocked_on_al: i32,
}

/// Bitmap bits to KiB (`Bit2KB`: 4 KiB per bit), wrapping like the C macro.
const fn bit_to_kib(bits: u64) -> u64 {
    bits.wrapping_mul(4)
}

/// Sectors per bitmap bit (`BM_SECT_PER_BIT`).
const SECTORS_PER_BIT: u64 = 8;

/// Rate marks older than this many seconds make the line end in ` (stalled)`.
pub const STALLED_AFTER_SECS: u64 = 180;

/// Above this many bits (4 GiB) the size pair is printed in MiB.
pub const MIB_DISPLAY_THRESHOLD_BITS: u64 = 1 << 20;

/// Write `v` with thousands separators as DRBD does for rates: `999`, `1,000`,
/// `1,234,567` (negative values print plainly).
pub fn write_grouped<W: Write>(out: &mut W, v: i64) -> fmt::Result {
    if v >= 1_000_000 {
        let rest = v % 1_000_000;
        write!(
            out,
            "{},{:03},{:03}",
            v / 1_000_000,
            rest / 1000,
            rest % 1000
        )
    } else if v >= 1000 {
        write!(out, "{},{:03}", v / 1000, v % 1000)
    } else {
        write!(out, "{v}")
    }
}

/// Resync or verify progress: bits left (clamped to `rs_total`) and per-mille done
/// (`drbd_get_syncer_progress()`).
///
/// Per-mille = 1000 − (left × 1000) ÷ (total + 1) on bit counts shifted right by 10, or by
/// 16 when `rs_total` does not fit in 32 bits. If more bits are left than the run has
/// (a race in the kernel), left is clamped and the result is 0 (1000 for an empty run).
pub const fn progress(rs_total: u64, bits_left: u64) -> (u64, u32) {
    if bits_left > rs_total {
        return (rs_total, if rs_total != 0 { 0 } else { 1000 });
    }
    let shift = if rs_total > u32::MAX as u64 { 16 } else { 10 };
    let left = bits_left >> shift;
    let total = (rs_total >> shift) + 1;
    // left < total, so left * 1000 / total < 1000 and cannot overflow (left < 2^48).
    let done = 1000 - left.wrapping_mul(1000) / total;
    (bits_left, done as u32)
}

/// Whole seconds between two jiffies values (`(now - then) / HZ`, wrapping like jiffies).
pub const fn secs_since(now: u64, then: u64, hz: u64) -> u64 {
    let d = now.wrapping_sub(then);
    match d.checked_div(hz) {
        Some(s) => s,
        None => d,
    }
}

/// Resync speed in KiB/s from `db` bits done in `dt` seconds (`Bit2KB(db / dt)`, as the
/// signed `long` the C passes on); `dt` = 0 counts as 1 s.
pub const fn rate(db: u64, dt: u64) -> i64 {
    let per_sec = match db.checked_div(dt) {
        Some(r) => r,
        None => db,
    };
    bit_to_kib(per_sec) as i64
}

fn write_progress<W: Write>(out: &mut W, dev: &DeviceStatus, details: i32) -> fmt::Result {
    let conn = dev.state.conn;
    let s = &dev.sync;
    let bits_left = if conn.is_verify() {
        s.ov_left
    } else {
        dev.oos_bits.wrapping_sub(s.rs_failed)
    };
    let (rs_left, permille) = progress(s.rs_total, bits_left);

    // The bar: x - 1 '=' (none at x = 0), '>', 20 - x '.'.
    let x = permille / 50;
    out.write_str("\t[")?;
    for _ in 1..x {
        out.write_char('=')?;
    }
    out.write_char('>')?;
    for _ in 0..20u32.saturating_sub(x) {
        out.write_char('.')?;
    }
    out.write_str("] ")?;
    out.write_str(if conn.is_verify() {
        "verified:"
    } else {
        "sync'ed:"
    })?;
    write!(out, "{:3}.{}% ", permille / 10, permille % 10)?;
    if s.rs_total > MIB_DISPLAY_THRESHOLD_BITS {
        write!(
            out,
            "({}/{})M",
            bit_to_kib(rs_left >> 10),
            bit_to_kib(s.rs_total >> 10)
        )?;
    } else {
        write!(out, "({}/{})K", bit_to_kib(rs_left), bit_to_kib(s.rs_total))?;
    }
    out.write_str("\n\t")?;

    // ~18 s average: remaining time and current speed.
    let mut dt = secs_since(s.now, s.mark_slow.time, s.hz);
    let stalled = dt > STALLED_AFTER_SECS;
    if dt == 0 {
        dt = 1;
    }
    let db = s.mark_slow.left.wrapping_sub(rs_left);
    let per = rs_left / (db / 100 + 1);
    let rt = dt.wrapping_mul(per) / 100;
    write!(
        out,
        "finish: {}:{:02}:{:02}",
        rt / 3600,
        (rt % 3600) / 60,
        rt % 60
    )?;
    out.write_str(" speed: ")?;
    write_grouped(out, rate(db, dt))?;
    out.write_str(" (")?;

    // ~3 s average.
    if details >= 1 {
        let mut dt = secs_since(s.now, s.mark_fast.time, s.hz);
        if dt == 0 {
            dt = 1;
        }
        let db = s.mark_fast.left.wrapping_sub(rs_left);
        write_grouped(out, rate(db, dt))?;
        out.write_str(" -- ")?;
    }

    // Average since the run started, paused time excluded.
    let mut dt = secs_since(s.now, s.rs_start.wrapping_add(s.rs_paused), s.hz);
    if dt == 0 {
        dt = 1;
    }
    let db = s.rs_total.wrapping_sub(rs_left);
    write_grouped(out, rate(db, dt))?;
    out.write_char(')')?;

    if matches!(conn, ConnState::SyncTarget | ConnState::VerifyS) {
        out.write_str(" want: ")?;
        write_grouped(out, i64::from(s.c_sync_rate))?;
    }
    out.write_str(" K/sec")?;
    if stalled {
        out.write_str(" (stalled)")?;
    }
    out.write_char('\n')?;

    if details >= 1 {
        let mut stop_sector = 0;
        let bit_pos = if conn.is_verify() {
            if s.agreed_pro_version >= 97 && s.agreed_pro_version != 100 {
                stop_sector = s.ov_stop_sector;
            }
            s.bm_bits.wrapping_sub(s.ov_left)
        } else {
            s.bm_resync_fo
        };
        // `(int)` of the unsigned long quotient, as in C.
        let percent = (bit_pos / (s.bm_bits / 100 + 1)) as i32;
        write!(
            out,
            "\t{:3}% sector pos: {}/{}",
            percent,
            bit_pos.wrapping_mul(SECTORS_PER_BIT),
            s.bm_bits.wrapping_mul(SECTORS_PER_BIT)
        )?;
        if stop_sector != 0 && stop_sector != u64::MAX {
            write!(out, " stop sector: {stop_sector}")?;
        }
        out.write_char('\n')?;
    }
    Ok(())
}

fn write_lru<W: Write>(out: &mut W, name: &str, lc: &LruStats) -> fmt::Result {
    writeln!(
        out,
        "\t{}: used:{}/{} hits:{} misses:{} starving:{} locked:{} changed:{}",
        name, lc.used, lc.nr_elements, lc.hits, lc.misses, lc.starving, lc.locked, lc.changed
    )
}

/// Write the block of one minor. `prev_minor` is the minor written just before it (`None`
/// for the first block): a blank line precedes the block unless `dev.minor` is exactly one
/// more (for the first block: unless it is 0). `details` is the `proc_details` module
/// parameter.
pub fn write_device<W: Write>(
    out: &mut W,
    prev_minor: Option<u32>,
    dev: &DeviceStatus,
    details: i32,
) -> fmt::Result {
    let expected = match prev_minor {
        None => Some(0),
        Some(p) => p.checked_add(1),
    };
    if expected != Some(dev.minor) {
        out.write_char('\n')?;
    }

    let st = &dev.state;
    if st.is_unconfigured() {
        writeln!(out, "{:2}: cs:Unconfigured", dev.minor)?;
    } else {
        let c = &dev.counters;
        let flag = |on: bool, ch: char| if on { ch } else { '-' };
        // F5, the congestion reason, is never set in 6.12.
        let congestion = '-';
        writeln!(
            out,
            "{:2}: cs:{} ro:{}/{} ds:{}/{} {} {}{}{}{}{}{}",
            dev.minor,
            st.conn.name(),
            st.role.name(),
            st.peer.name(),
            st.disk.name(),
            st.pdsk.name(),
            dev.protocol.map_or(' ', WireProtocol::letter),
            if st.is_suspended() { 's' } else { 'r' },
            flag(st.aftr_isp, 'a'),
            flag(st.peer_isp, 'p'),
            flag(st.user_isp, 'u'),
            congestion,
            flag(dev.al_suspended, 's'),
        )?;
        writeln!(
            out,
            "    ns:{} nr:{} dw:{} dr:{} al:{} bm:{} lo:{} pe:{} ua:{} ap:{} ep:{} wo:{} oos:{}",
            c.send_sectors / 2,
            c.recv_sectors / 2,
            c.write_sectors / 2,
            c.read_sectors / 2,
            c.al_writes,
            c.bm_writes,
            c.local,
            c.ap_pending.wrapping_add(c.rs_pending),
            c.unacked,
            c.ap_bio,
            c.epochs as i32,
            c.write_ordering.letter(),
            bit_to_kib(dev.oos_bits),
        )?;
    }

    if st.conn.shows_progress() {
        write_progress(out, dev, details)?;
    }

    if details >= 1 {
        if let Some(caches) = &dev.caches {
            write_lru(out, "resync", &caches.resync)?;
            write_lru(out, "act_log", &caches.act_log)?;
        }
    }
    if details >= 2 {
        writeln!(out, "\tblocked on activity log: {}", dev.blocked_on_al)?;
    }
    Ok(())
}

/// Write the whole file: the header, then every device (in ascending minor order, as
/// given) with the blank-line rule of [`write_device`].
pub fn write_all<W, I>(out: &mut W, build: BuildTag<'_>, devices: I, details: i32) -> fmt::Result
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<DeviceStatus>,
{
    write_header(out, build)?;
    let mut prev = None;
    for dev in devices {
        let dev = dev.borrow();
        write_device(out, prev, dev, details)?;
        prev = Some(dev.minor);
    }
    Ok(())
}

/// Whether the disk state counts as "has a disk" for the LRU lines (≥ Failed).
pub const fn has_disk(disk: DiskState) -> bool {
    !matches!(disk, DiskState::Diskless | DiskState::Attaching)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_from_proc_text() {
        let ours = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: X \n";
        assert_eq!(
            parse_release(ours),
            Some(Release {
                major: 8,
                minor: 4,
                sub: 11
            })
        );
        let linbit = "version: 8.4.11-1 (api:1/proto:86-101)\nGIT-hash: ab build by x";
        assert_eq!(parse_release(linbit).map(|r| r.sub), Some(11));
        assert_eq!(
            parse_release("version: 9.2.4 (api:2/proto:86-122)").map(|r| r.major),
            Some(9)
        );
        assert_eq!(parse_release("no version here"), None);
        assert_eq!(parse_release("version: 8.x"), None);
    }

    #[test]
    fn our_header_parses_as_our_release() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::BuiltIn).unwrap();
        let r = parse_release(&s).unwrap();
        assert_eq!(release_text(r), version::RELEASE);
    }

    fn release_text(r: Release) -> String {
        format!("{}.{}.{}", r.major, r.minor, r.sub)
    }

    #[test]
    fn header_as_a_module() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::SrcVersion("5E1C3A7D20F3B9C8A41D6E2")).unwrap();
        assert_eq!(
            s,
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 5E1C3A7D20F3B9C8A41D6E2 \n"
        );
    }

    use crate::state::{ConnState as C, DiskState as D, Role, State};
    use crate::text_buf::TextBuf;

    const HZ: u64 = 250;
    const NOW: u64 = 10_000_000;

    fn state(role: Role, peer: Role, conn: C, disk: D, pdsk: D) -> State {
        State::new(role, peer, conn, disk, pdsk)
    }

    fn idle_counters() -> Counters {
        Counters {
            epochs: 1,
            ..Counters::default()
        }
    }

    /// Minors 0, 1, 2 and 5 of the spec's example (§3).
    fn example_devices() -> [DeviceStatus; 4] {
        let left = 2_097_152; // 8192 MiB in bits
        let dev0 = DeviceStatus {
            minor: 0,
            state: state(
                Role::Primary,
                Role::Secondary,
                C::Connected,
                D::UpToDate,
                D::UpToDate,
            ),
            protocol: Some(WireProtocol::C),
            counters: Counters {
                send_sectors: 2_097_152,
                write_sectors: 2_097_152,
                read_sectors: 12_867,
                al_writes: 42,
                ..idle_counters()
            },
            ..DeviceStatus::default()
        };
        let dev1 = DeviceStatus {
            minor: 1,
            state: state(
                Role::Primary,
                Role::Secondary,
                C::SyncSource,
                D::UpToDate,
                D::Inconsistent,
            ),
            protocol: Some(WireProtocol::C),
            counters: Counters {
                send_sectors: 4_194_304,
                read_sectors: 4_202_496,
                rs_pending: 4,
                ..idle_counters()
            },
            oos_bits: left,
            sync: SyncStatus {
                rs_total: 2_621_440, // 10240 MiB
                mark_slow: RateMark {
                    left: left + 3072 * 18,
                    time: NOW - 18 * HZ,
                },
                now: NOW,
                hz: HZ,
                rs_start: NOW - 175 * HZ - 40 * HZ,
                rs_paused: 40 * HZ,
                ..SyncStatus::default()
            },
            ..DeviceStatus::default()
        };
        let dev2 = DeviceStatus {
            minor: 2,
            ..DeviceStatus::default()
        };
        let dev5 = DeviceStatus {
            minor: 5,
            state: state(
                Role::Secondary,
                Role::Unknown,
                C::StandAlone,
                D::UpToDate,
                D::DUnknown,
            ),
            counters: idle_counters(),
            ..DeviceStatus::default()
        };
        [dev0, dev1, dev2, dev5]
    }

    const SPEC_EXAMPLE: &str = "version: 8.4.11 (api:1/proto:86-101)
srcversion: 5E1C3A7D20F3B9C8A41D6E2 \n 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:1048576 nr:0 dw:1048576 dr:6433 al:42 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
    ns:2097152 nr:0 dw:0 dr:2101248 al:0 bm:0 lo:0 pe:4 ua:0 ap:0 ep:1 wo:f oos:8388608
\t[===>................] sync'ed: 20.1% (8192/10240)M
\tfinish: 0:11:22 speed: 12,288 (11,946) K/sec
 2: cs:Unconfigured

 5: cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown   r-----
    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
";

    fn render(devices: &[DeviceStatus], details: i32) -> String {
        let mut s = String::new();
        write_all(
            &mut s,
            BuildTag::SrcVersion("5E1C3A7D20F3B9C8A41D6E2"),
            devices,
            details,
        )
        .unwrap();
        s
    }

    fn device_text(dev: &DeviceStatus, details: i32) -> String {
        let mut s = String::new();
        write_device(&mut s, dev.minor.checked_sub(1), dev, details).unwrap();
        s
    }

    #[test]
    fn spec_example_byte_for_byte() {
        // The spec's average speed 11,946 cannot come out of DRBD's arithmetic: Bit2KB()
        // multiplies by 4, so every speed is a multiple of 4. Everything else is verbatim;
        // the average here is 524288 bits in 175 s = 2995 bits/s = 11,980 KiB/s.
        let expected = SPEC_EXAMPLE.replace("(11,946)", "(11,980)");
        assert_eq!(render(&example_devices(), 0), expected);
        assert!(expected.contains("5E1C3A7D20F3B9C8A41D6E2 \n"));
        assert!(expected.contains("\n\t[===>"));
        assert!(expected.contains("Unconfigured\n\n 5:"));
    }

    #[test]
    fn full_buffer_is_an_error_not_a_panic() {
        let full = render(&example_devices(), 2);
        let mut ok = TextBuf::<4096>::new();
        write_all(
            &mut ok,
            BuildTag::SrcVersion("5E1C3A7D20F3B9C8A41D6E2"),
            example_devices(),
            2,
        )
        .unwrap();
        assert_eq!(ok.as_str(), full);
        for cut in [0, 1, 40, 100, 300, full.len() - 1] {
            let mut small = TextBuf::<4096>::new();
            // Fill the buffer so only `cut` bytes are left.
            for _ in 0..(4096 - cut) {
                small.write_char('x').unwrap();
            }
            assert!(
                write_all(
                    &mut small,
                    BuildTag::SrcVersion("5E1C3A7D20F3B9C8A41D6E2"),
                    example_devices(),
                    2
                )
                .is_err(),
                "{cut}"
            );
        }
    }

    #[test]
    fn blank_line_rule() {
        let dev = |minor| DeviceStatus {
            minor,
            ..DeviceStatus::default()
        };
        let text = |prev, minor| {
            let mut s = String::new();
            write_device(&mut s, prev, &dev(minor), 0).unwrap();
            s
        };
        assert_eq!(text(None, 0), " 0: cs:Unconfigured\n");
        assert_eq!(text(None, 3), "\n 3: cs:Unconfigured\n");
        assert_eq!(text(Some(3), 4), " 4: cs:Unconfigured\n");
        assert_eq!(text(Some(3), 6), "\n 6: cs:Unconfigured\n");
        assert_eq!(text(Some(9), 10), "10: cs:Unconfigured\n");
        assert_eq!(text(Some(99), 100), "100: cs:Unconfigured\n");
        assert_eq!(text(Some(u32::MAX), 0), "\n 0: cs:Unconfigured\n");
        let all = render(&[dev(1), dev(2), dev(7), dev(8)], 0);
        assert!(all.ends_with("\n 1: cs:Unconfigured\n 2: cs:Unconfigured\n\n 7: cs:Unconfigured\n 8: cs:Unconfigured\n"));
    }

    #[test]
    fn every_state_name_in_the_first_line() {
        for &conn in C::ALL {
            for &disk in D::ALL {
                for &role in Role::ALL {
                    let st = state(role, Role::Unknown, conn, disk, D::DUnknown);
                    let dev = DeviceStatus {
                        minor: 0,
                        state: st,
                        protocol: Some(WireProtocol::A),
                        ..DeviceStatus::default()
                    };
                    let text = device_text(&dev, 0);
                    let first = text.lines().next().unwrap();
                    if st.is_unconfigured() {
                        assert_eq!(first, " 0: cs:Unconfigured");
                    } else {
                        assert_eq!(
                            first,
                            format!(
                                " 0: cs:{} ro:{}/Unknown ds:{}/DUnknown A r-----",
                                conn.name(),
                                role.name(),
                                disk.name()
                            )
                        );
                    }
                    let lines = if st.is_unconfigured() {
                        1
                    } else if conn.shows_progress() {
                        4
                    } else {
                        2
                    };
                    assert_eq!(text.lines().count(), lines, "{conn} {disk} {role}");
                }
            }
        }
    }

    #[test]
    fn protocol_and_flags() {
        let base = DeviceStatus {
            minor: 0,
            state: state(
                Role::Secondary,
                Role::Primary,
                C::Connected,
                D::UpToDate,
                D::UpToDate,
            ),
            counters: idle_counters(),
            ..DeviceStatus::default()
        };
        let first = |dev: &DeviceStatus| device_text(dev, 0).lines().next().unwrap().to_owned();
        let tail = |dev: &DeviceStatus| {
            let f = first(dev);
            f[f.len() - 13..].to_owned()
        };
        assert_eq!(tail(&base), "Date   r-----");
        for (p, l) in [
            (WireProtocol::A, 'A'),
            (WireProtocol::B, 'B'),
            (WireProtocol::C, 'C'),
        ] {
            let dev = DeviceStatus {
                protocol: Some(p),
                ..base
            };
            assert_eq!(tail(&dev), format!("Date {l} r-----"));
        }
        let all = DeviceStatus {
            state: State {
                susp: true,
                aftr_isp: true,
                peer_isp: true,
                user_isp: true,
                ..base.state
            },
            al_suspended: true,
            ..base
        };
        assert!(first(&all).ends_with("   sapu-s"));
        for st in [
            State {
                susp_nod: true,
                ..base.state
            },
            State {
                susp_fen: true,
                ..base.state
            },
        ] {
            assert!(first(&DeviceStatus { state: st, ..base }).ends_with(" s-----"));
        }
        let peer = DeviceStatus {
            state: State {
                peer_isp: true,
                ..base.state
            },
            ..base
        };
        assert!(first(&peer).ends_with(" r-p---"));
    }

    #[test]
    fn counters_line() {
        let dev = DeviceStatus {
            minor: 3,
            state: state(
                Role::Primary,
                Role::Secondary,
                C::Connected,
                D::UpToDate,
                D::UpToDate,
            ),
            counters: Counters {
                send_sectors: u32::MAX,
                recv_sectors: 3,
                write_sectors: 10,
                read_sectors: 1,
                al_writes: 7,
                bm_writes: 0,
                local: -1,
                ap_pending: i32::MAX,
                rs_pending: 1,
                unacked: 5,
                ap_bio: 6,
                epochs: 2,
                write_ordering: WriteOrdering::Drain,
            },
            oos_bits: u64::MAX / 4 + 1,
            ..DeviceStatus::default()
        };
        let text = device_text(&dev, 0);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "    ns:2147483647 nr:1 dw:5 dr:0 al:7 bm:0 lo:-1 pe:-2147483648 ua:5 ap:6 ep:2 wo:d oos:0"
        );
        for (wo, ch) in [(WriteOrdering::None, 'n'), (WriteOrdering::Flush, 'f')] {
            let dev = DeviceStatus {
                counters: Counters {
                    write_ordering: wo,
                    ..dev.counters
                },
                oos_bits: 3,
                ..dev
            };
            assert!(device_text(&dev, 0).ends_with(&format!(" wo:{ch} oos:12\n")));
        }
    }

    #[test]
    fn thousands_grouping() {
        let g = |v| {
            let mut s = String::new();
            write_grouped(&mut s, v).unwrap();
            s
        };
        assert_eq!(g(0), "0");
        assert_eq!(g(999), "999");
        assert_eq!(g(1000), "1,000");
        assert_eq!(g(12_345), "12,345");
        assert_eq!(g(999_999), "999,999");
        assert_eq!(g(1_000_000), "1,000,000");
        assert_eq!(g(1_234_567), "1,234,567");
        assert_eq!(g(1_002_003_004), "1002,003,004");
        assert_eq!(g(-5000), "-5000");
        assert_eq!(g(i64::MAX), "9223372036854,775,807");
        assert_eq!(g(i64::MIN), "-9223372036854775808");
    }

    #[test]
    fn per_mille_math() {
        assert_eq!(progress(2_621_440, 2_097_152), (2_097_152, 201));
        assert_eq!(progress(1000, 0), (0, 1000));
        assert_eq!(progress(0, 0), (0, 1000));
        assert_eq!(progress(100, 200), (100, 0));
        assert_eq!(progress(0, 5), (0, 1000));
        // Everything left of a 4 GiB run is 1 per mille done, not 0.
        assert_eq!(progress(1 << 20, 1 << 20).1, 1);
        // The shift grows to 16 once the total needs more than 32 bits.
        assert_eq!(progress(1 << 32, 4_307_890).1, 1000);
        assert_eq!(progress(u32::MAX as u64, 4_307_890).1, 999);
        assert_eq!(progress(u64::MAX, u64::MAX - 1).1, 1);
    }

    fn syncing(conn: C, rs_total: u64, left: u64) -> DeviceStatus {
        let (disk, pdsk) = match conn {
            C::SyncTarget => (D::Inconsistent, D::UpToDate),
            C::SyncSource => (D::UpToDate, D::Inconsistent),
            _ => (D::UpToDate, D::UpToDate),
        };
        DeviceStatus {
            minor: 0,
            state: state(Role::Secondary, Role::Secondary, conn, disk, pdsk),
            protocol: Some(WireProtocol::C),
            counters: idle_counters(),
            oos_bits: left,
            sync: SyncStatus {
                rs_total,
                ov_left: left,
                mark_slow: RateMark {
                    left: left + 1000 * 20,
                    time: NOW - 20 * HZ,
                },
                mark_fast: RateMark {
                    left: left + 1500 * 4,
                    time: NOW - 4 * HZ,
                },
                now: NOW,
                hz: HZ,
                rs_start: NOW - 100 * HZ,
                c_sync_rate: 250_000,
                ..SyncStatus::default()
            },
            ..DeviceStatus::default()
        }
    }

    fn progress_lines(dev: &DeviceStatus, details: i32) -> Vec<String> {
        device_text(dev, details)
            .lines()
            .skip(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn progress_bar_edges() {
        // 0 % (more left than the run has): '>' and 20 dots, 21 characters.
        let zero = progress_lines(&syncing(C::SyncSource, 1000, 2000), 0);
        assert_eq!(
            zero[0],
            "\t[>....................] sync'ed:  0.0% (4000/4000)K"
        );
        let inside = &zero[0][2..zero[0].find(']').unwrap()];
        assert_eq!(inside.len(), 21);
        // 100 %: 19 '=' and '>'.
        let full = progress_lines(&syncing(C::SyncSource, 1000, 0), 0);
        assert_eq!(full[0], "\t[===================>] sync'ed:100.0% (0/4000)K");
        // x = 1: no '=' at all, 20 characters.
        let dev = syncing(C::SyncSource, 1 << 20, 972_000);
        assert_eq!(
            progress_lines(&dev, 0)[0],
            "\t[>...................] sync'ed:  7.5% (3888000/4194304)K"
        );
        // Half way.
        let half = syncing(C::SyncSource, 2 << 20, 1 << 20);
        assert_eq!(
            progress_lines(&half, 0)[0],
            "\t[=========>..........] sync'ed: 50.1% (4096/8192)M"
        );
    }

    #[test]
    fn k_and_m_units() {
        let k = syncing(C::SyncSource, 1 << 20, 1 << 19);
        assert!(progress_lines(&k, 0)[0].ends_with(" (2097152/4194304)K"));
        let m = syncing(C::SyncSource, (1 << 20) + 1, 1 << 19);
        assert!(progress_lines(&m, 0)[0].ends_with(" (2048/4096)M"));
    }

    #[test]
    fn finish_and_speeds() {
        // 20 s window, 20000 bits done: 1000 bits/s = 4,000 K/s; avg since start:
        // (rs_total - left) / 100 s.
        let dev = syncing(C::SyncSource, 2_000_000, 1_000_000);
        let lines = progress_lines(&dev, 0);
        // rt = 20 * (1000000 / (20000/100 + 1)) / 100 = 20 * 4975 / 100 = 995 s.
        assert_eq!(lines[1], "\tfinish: 0:16:35 speed: 4,000 (40,000) K/sec");
        // Hours are not padded.
        let slow = DeviceStatus {
            sync: SyncStatus {
                mark_slow: RateMark {
                    left: 1_000_000 + 200,
                    time: NOW - 20 * HZ,
                },
                ..dev.sync
            },
            ..dev
        };
        // rt = 20 * (1000000 / 3) / 100 = 66666 s = 18:31:06.
        assert_eq!(
            progress_lines(&slow, 0)[1],
            "\tfinish: 18:31:06 speed: 40 (40,000) K/sec"
        );
        // Nothing done, fresh marks: dt counts as 1 s.
        let fresh = DeviceStatus {
            sync: SyncStatus {
                mark_slow: RateMark {
                    left: 1000,
                    time: NOW,
                },
                rs_start: NOW,
                ..dev.sync
            },
            oos_bits: 1000,
            ..dev
        };
        let lines = progress_lines(&fresh, 0);
        assert_eq!(lines[1], "\tfinish: 0:00:10 speed: 0 (7,996,000) K/sec");
        // A zero HZ does not divide by zero.
        let no_hz = DeviceStatus {
            sync: SyncStatus { hz: 0, ..dev.sync },
            ..dev
        };
        assert_eq!(progress_lines(&no_hz, 0).len(), 2);
    }

    #[test]
    fn want_only_on_sync_target_and_verify_source() {
        for (conn, want) in [
            (C::SyncSource, false),
            (C::SyncTarget, true),
            (C::VerifyS, true),
            (C::VerifyT, false),
        ] {
            let line = progress_lines(&syncing(conn, 2_000_000, 1_000_000), 0)[1].clone();
            assert_eq!(
                line.ends_with(" want: 250,000 K/sec"),
                want,
                "{conn}: {line}"
            );
            assert!(line.ends_with(" K/sec"));
        }
        let lines = progress_lines(&syncing(C::SyncTarget, 2_000_000, 1_000_000), 0);
        assert_eq!(
            lines[1],
            "\tfinish: 0:16:35 speed: 4,000 (40,000) want: 250,000 K/sec"
        );
    }

    #[test]
    fn verify_label_and_left() {
        let mut dev = syncing(C::VerifyS, 2_000_000, 500_000);
        dev.oos_bits = 7; // ignored while verifying
        let lines = progress_lines(&dev, 0);
        assert_eq!(
            lines[0],
            "\t[==============>.....] verified: 75.1% (1952/7812)M"
        );
        // Resync: left = oos bits - failed bits.
        let mut dev = syncing(C::SyncTarget, 1000, 600);
        dev.sync.rs_failed = 100;
        assert!(progress_lines(&dev, 0)[0].ends_with(" (2000/4000)K"));
    }

    #[test]
    fn stalled_after_180_seconds() {
        let mut dev = syncing(C::SyncSource, 2_000_000, 1_000_000);
        dev.sync.mark_slow.time = NOW - 180 * HZ;
        assert!(progress_lines(&dev, 0)[1].ends_with(" K/sec"));
        dev.sync.mark_slow.time = NOW - 181 * HZ;
        let line = progress_lines(&dev, 0)[1].clone();
        assert!(line.ends_with(" K/sec (stalled)"), "{line}");
        let mut dev = syncing(C::SyncTarget, 2_000_000, 1_000_000);
        dev.sync.mark_slow.time = NOW - 200 * HZ;
        assert!(progress_lines(&dev, 0)[1].ends_with(" want: 250,000 K/sec (stalled)"));
    }

    #[test]
    fn no_progress_while_paused() {
        for conn in [C::PausedSyncS, C::PausedSyncT, C::Connected, C::WFBitMapT] {
            assert_eq!(
                progress_lines(&syncing(conn, 2_000_000, 1_000_000), 2).len(),
                1
            );
        }
    }

    #[test]
    fn proc_details_one() {
        let mut dev = syncing(C::SyncTarget, 2_000_000, 1_000_000);
        dev.sync.bm_bits = 2_621_440;
        dev.sync.bm_resync_fo = 1_310_720;
        dev.caches = Some(LruCaches {
            resync: LruStats {
                used: 3,
                nr_elements: 61,
                hits: 100,
                misses: 20,
                starving: 0,
                locked: 1,
                changed: 19,
            },
            act_log: LruStats {
                used: 0,
                nr_elements: 1237,
                hits: 5,
                ..LruStats::default()
            },
        });
        dev.blocked_on_al = 2;
        let lines = progress_lines(&dev, 1);
        assert_eq!(
            lines,
            [
                "\t[=========>..........] sync'ed: 50.1% (3904/7812)M",
                "\tfinish: 0:16:35 speed: 4,000 (6,000 -- 40,000) want: 250,000 K/sec",
                "\t 49% sector pos: 10485760/20971520",
                "\tresync: used:3/61 hits:100 misses:20 starving:0 locked:1 changed:19",
                "\tact_log: used:0/1237 hits:5 misses:0 starving:0 locked:0 changed:0",
            ]
        );
        let lines2 = progress_lines(&dev, 2);
        assert_eq!(lines2[..5], lines[..]);
        assert_eq!(lines2[5], "\tblocked on activity log: 2");
        assert_eq!(lines2.len(), 6);
        // Without a disk: no LRU lines.
        dev.caches = None;
        assert_eq!(progress_lines(&dev, 1).len(), 3);
        // proc_details 0 and negative values show none of it.
        assert_eq!(progress_lines(&dev, 0).len(), 2);
        assert_eq!(progress_lines(&dev, -1).len(), 2);
    }

    #[test]
    fn proc_details_verify_stop_sector() {
        let mut dev = syncing(C::VerifyS, 2_000_000, 500_000);
        dev.sync.bm_bits = 2_000_000;
        dev.sync.ov_stop_sector = 12_345_678;
        dev.sync.agreed_pro_version = 101;
        let lines = progress_lines(&dev, 1);
        assert_eq!(
            lines[2],
            "\t 74% sector pos: 12000000/16000000 stop sector: 12345678"
        );
        for (apv, stop, shown) in [
            (96, 12_345_678, false),
            (97, 12_345_678, true),
            (100, 12_345_678, false),
            (101, u64::MAX, false),
            (101, 0, false),
        ] {
            dev.sync.agreed_pro_version = apv;
            dev.sync.ov_stop_sector = stop;
            let line = progress_lines(&dev, 1)[2].clone();
            assert_eq!(line.contains("stop sector"), shown, "{apv} {stop}");
        }
    }

    #[test]
    fn details_two_on_unconfigured_minor() {
        let dev = DeviceStatus {
            minor: 0,
            blocked_on_al: 0,
            ..DeviceStatus::default()
        };
        assert_eq!(
            device_text(&dev, 2),
            " 0: cs:Unconfigured\n\tblocked on activity log: 0\n"
        );
        assert_eq!(device_text(&dev, 1), " 0: cs:Unconfigured\n");
    }

    #[test]
    fn disk_presence_for_lru_lines() {
        assert!(!has_disk(D::Diskless));
        assert!(!has_disk(D::Attaching));
        for &d in &D::ALL[2..] {
            assert!(has_disk(d));
        }
    }

    #[test]
    fn never_panics_on_extreme_numbers() {
        for conn in [C::SyncSource, C::SyncTarget, C::VerifyS, C::VerifyT] {
            for v in [0, 1, u32::MAX as u64, u64::MAX] {
                let dev = DeviceStatus {
                    minor: u32::MAX,
                    state: state(Role::Primary, Role::Primary, conn, D::UpToDate, D::UpToDate),
                    oos_bits: v,
                    sync: SyncStatus {
                        rs_total: v,
                        rs_failed: v.wrapping_mul(3),
                        ov_left: v,
                        mark_slow: RateMark { left: 0, time: v },
                        mark_fast: RateMark { left: v, time: 0 },
                        now: v.wrapping_add(7),
                        hz: v,
                        rs_start: v,
                        rs_paused: v,
                        c_sync_rate: i32::MIN,
                        bm_bits: v,
                        bm_resync_fo: u64::MAX,
                        ov_stop_sector: v,
                        agreed_pro_version: u32::MAX,
                    },
                    caches: Some(LruCaches::default()),
                    blocked_on_al: i32::MIN,
                    ..DeviceStatus::default()
                };
                let mut s = String::new();
                write_device(&mut s, None, &dev, i32::MAX).unwrap();
                assert!(s.starts_with("\n4294967295: cs:"));
            }
        }
    }

    #[test]
    fn header_built_in() {
        let mut s = String::new();
        write_header(&mut s, BuildTag::BuiltIn).unwrap();
        assert_eq!(s, "version: 8.4.11 (api:1/proto:86-101)\nbuilt-in\n");
    }
}
