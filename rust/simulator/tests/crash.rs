// SPDX-License-Identifier: GPL-2.0
//! Power loss: the crash model itself (volatile writes, the activity log of a crashed
//! Primary, uuid rule 40) and seeded schedules of writes under protocol C, link cuts and
//! heals, crashes of either node and restarts, failovers to the Secondary while the Primary
//! is down and planned switchovers. Checked after every step:
//! - when a node crashes while its peer is Connected with UpToDate/UpToDate, every write the
//!   crashed node completed under protocol C (unmarked) is on the peer's disk;
//! - every block keeps at least the newest write completed to the application on it; the
//!   only excuse is a crashed Primary's own volatile write, lost with its disk cache, where
//!   the block may fall back to what that node's disk or the peer's disk held at the crash
//!   (whichever side becomes the sync source) — never below what was durable;
//! - every state, and every pair of states, is one drbd.ko allows; differing blocks are
//!   marked in a bitmap whenever nothing is in flight; no split brain is ever detected (the
//!   schedules never make one) — a silently resolved one would lose writes, caught above;
//! - at the end, with the link up and both nodes running: Connected UpToDate/UpToDate,
//!   bitmaps empty, both disks identical.
//!
//! The schedules also resync by checksums (a csums-alg per seed, sometimes only after a
//! crashed Primary's return) and run online verify now and then.
//!
//! A failure prints its seed; `DRBD_SIM_SEED=<seed> cargo test -p drbd_sim --test crash
//! replay -- --nocapture` runs that one schedule again.

use drbd_core::bitmap::{al_extent_bits, BITS_PER_AL_EXTENT};
use drbd_core::meta_data::MdFlags;
use drbd_core::replication::connection::{AlgName, NetSettings, SyncSettings};
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::UuidSet;
use drbd_sim::invariants;
use drbd_sim::world::{Completion, NodeHost, World};
use drbd_sim::SimRng;

const BLOCKS: u64 = 64;
const UUID: u64 = 0x5eed_0000_0000_1000;

fn world(seed: u64, blocks: u64) -> World {
    let uuids = UuidSet::from_array([UUID, 0, 0, 0]);
    World::pair(seed, DiskState::UpToDate, uuids, blocks * 8)
}

fn promote(w: &mut World, node: usize) {
    w.with_node(node, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
            == Role::Primary),
        "promotion of node {node} finished\n{}",
        w.report()
    );
}

/// A connected pair in sync, node 0 Primary.
fn connected_pair(seed: u64, blocks: u64) -> World {
    let mut w = world(seed, blocks);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    promote(&mut w, 0);
    w
}

fn in_sync(w: &World) -> bool {
    connected_up_to_date(w, |h| h.bitmap.count() == 0)
}

/// Nothing in flight, both nodes running, Connected UpToDate/UpToDate, and each node's
/// bitmap as `bitmap_ok` wants it.
fn connected_up_to_date(w: &World, bitmap_ok: impl Fn(&NodeHost) -> bool) -> bool {
    w.quiescent()
        && w.link_idle()
        && w.nodes.iter().all(|n| {
            let s = n.replica.state();
            !n.down
                && s.conn == ConnState::Connected
                && (s.disk, s.pdsk) == (DiskState::UpToDate, DiskState::UpToDate)
                && bitmap_ok(&n.host)
        })
}

/// The end of a schedule: as [`in_sync`], except that a bit may stay set for a block both
/// disks hold alike. drbd leaves such bits when a SyncSource that missed the end of a
/// finished resync corrects its UUIDs (rule 34, a resync of its stale bits) and loses the
/// connection before that resync ran: the UUIDs are equal from then on ("No resync, but N
/// bits in bitmap!"), and the stale bits wait for the next resync (seed 48777).
fn settled(w: &World) -> bool {
    let (a, b) = (&w.nodes[0].host, &w.nodes[1].host);
    connected_up_to_date(w, |h| {
        (0..h.bitmap.bits())
            .filter(|&bit| h.bitmap.test(bit))
            .all(|bit| a.disk.get(bit as usize) == b.disk.get(bit as usize))
    })
}

// ---------------------------------------------------------------------------------------
// The crash model.

/// Two writes in one extent on a Primary without a peer: the first to complete stays
/// volatile while the other keeps the extent in the activity log; a power loss keeps or
/// loses it (the seed decides). Once both completed the extent left the log — an AL
/// transaction, which flushes — and both survive every crash.
#[test]
fn an_unflushed_write_may_vanish_a_flushed_one_never_does() {
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..40 {
        let mut w = world(seed, BLOCKS);
        promote(&mut w, 0);
        let a = w.app_write(0, 1).expect("write accepted");
        let b = w.app_write(0, 2).expect("write accepted");
        assert!(w.run_until(w.now_ms() + 1_000, |w| !w.nodes[0]
            .host
            .completions
            .is_empty()));
        let first: Completion = w.nodes[0].host.completions[0];
        let other = if first.id == a { (2, b) } else { (1, a) };
        assert_eq!(
            w.nodes[0].host.volatile.len(),
            1,
            "seed {seed}: only the completed write is volatile"
        );
        w.crash(0);
        let disk = &w.nodes[0].host.disk;
        match disk[first.block as usize] {
            id if id == first.id => kept += 1,
            0 => lost += 1,
            id => panic!("seed {seed}: block {} holds {id}", first.block),
        }
        assert_eq!(
            disk[other.0 as usize], 0,
            "seed {seed}: a write the disk had not completed is not there"
        );

        let mut w = world(seed, BLOCKS);
        promote(&mut w, 0);
        let ids = [w.app_write(0, 1).unwrap(), w.app_write(0, 2).unwrap()];
        assert!(w.run_until(w.now_ms() + 1_000, World::quiescent));
        assert!(w.nodes[0].host.volatile.is_empty(), "seed {seed}");
        w.crash(0);
        assert_eq!(w.nodes[0].host.disk[1..3], ids, "seed {seed}");
    }
    assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");
}

/// On the Secondary a replicated write is volatile until the barrier's flush; a write whose
/// epoch was barrier-acknowledged survives a crash of the Secondary.
#[test]
fn a_barrier_acked_write_survives_the_secondary_crash() {
    for seed in 0..20 {
        let mut w = connected_pair(seed, BLOCKS);
        let id = w.app_write(0, 5).expect("write accepted");
        assert!(
            w.run_until(w.now_ms() + 2_000, |w| w.nodes[0]
                .host
                .barrier_acked
                .contains(&(5, id))),
            "seed {seed}\n{}",
            w.report()
        );
        w.crash(1);
        assert_eq!(w.nodes[1].host.disk[5], id, "seed {seed}");
    }
}

/// Writes a Primary had in flight keep their extents in the activity log: after the crash
/// every bit of those extents is out of sync (apply-al), the other extents are clean. A
/// crashed Secondary has nothing to apply.
#[test]
fn the_activity_log_of_a_crashed_primary_comes_back_out_of_sync() {
    let blocks = 3 * BITS_PER_AL_EXTENT;
    for seed in 0..4 {
        let mut w = connected_pair(seed, blocks);
        // The Primary's disk stops answering: its writes cannot complete.
        w.stalled[0] = true;
        w.app_write(0, 10).expect("write accepted");
        w.app_write(0, 2 * BITS_PER_AL_EXTENT + 7)
            .expect("write accepted");
        w.run_until_ms(w.now_ms() + 200);
        assert!(w.nodes[0].host.completions.is_empty());
        w.crash(0);
        w.restart(0, NetSettings::DEFAULT);
        let n = &w.nodes[0];
        assert!(n.replica.crashed_primary(), "seed {seed}");
        assert!(n.host.persisted.flags.contains(MdFlags::CRASHED_PRIMARY));
        let bm = &n.host.bitmap;
        assert_eq!(bm.count(), 2 * BITS_PER_AL_EXTENT, "seed {seed}");
        for extent in [0, 2] {
            assert_eq!(bm.count_range(al_extent_bits(extent)), BITS_PER_AL_EXTENT);
        }
        assert_eq!(bm.count_range(al_extent_bits(1)), 0);

        let mut w = connected_pair(seed, blocks);
        w.app_write(0, 10).expect("write accepted");
        w.crash(1);
        w.restart(1, NetSettings::DEFAULT);
        assert_eq!(w.nodes[1].host.bitmap.count(), 0, "seed {seed}");
        assert!(!w.nodes[1].replica.crashed_primary());
    }
}

/// uuid rule 40: a crashed Primary that returns to a peer that stayed Secondary (equal
/// current UUIDs) becomes SyncSource of its activity-log extents; afterwards both disks are
/// equal, UpToDate, and the crashed-primary bit is gone from memory and superblock.
#[test]
fn a_crashed_primary_returning_to_its_secondary_is_sync_source_of_its_al_extents() {
    let blocks = 2 * BITS_PER_AL_EXTENT;
    for seed in 0..3 {
        let mut w = connected_pair(seed, blocks);
        for block in [3, 40] {
            w.app_write(0, block).expect("write accepted");
        }
        assert!(w.run_until(w.now_ms() + 2_000, World::quiescent));
        // Writes in flight in extent 1 when the power goes.
        w.stalled[0] = true;
        w.app_write(0, BITS_PER_AL_EXTENT + 1)
            .expect("write accepted");
        w.run_until_ms(w.now_ms() + 50);
        w.crash(0);
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[1].replica.state().conn
                < ConnState::Connected),
            "seed {seed}: the peer noticed the crash through its timeouts\n{}",
            w.report()
        );
        let (a, b) = (w.nodes[0].host.persisted.uuids, *w.nodes[1].replica.uuids());
        assert_eq!(
            a.current & !1,
            b.current & !1,
            "seed {seed}: equal current UUIDs"
        );
        w.restart(0, NetSettings::DEFAULT);
        assert!(
            w.run_until(w.now_ms() + 60_000, in_sync),
            "seed {seed}\n{}",
            w.report()
        );
        let n = &w.nodes[0];
        let power_on = n
            .host
            .log
            .iter()
            .rposition(|l| l.starts_with("-- power on"))
            .unwrap();
        assert!(
            n.host.log[power_on..]
                .iter()
                .any(|l| l == "uuid_compare()=1 by rule 40"),
            "seed {seed}: {:?}",
            &n.host.log[power_on..]
        );
        assert!(
            n.host
                .states
                .iter()
                .rev()
                .take(8)
                .any(|s| s.conn == ConnState::SyncSource),
            "seed {seed}: {:?}",
            n.host.states
        );
        assert!(!n.replica.crashed_primary());
        assert!(!n.host.persisted.flags.contains(MdFlags::CRASHED_PRIMARY));
        assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk, "seed {seed}");
        assert_eq!(n.host.disk[3], w.nodes[1].host.disk[3]);
        assert!(n.host.disk[3] != 0 && n.host.disk[40] != 0);
    }
}

/// A SyncTarget that loses power in the middle of a long resync resumes it rather than
/// starting over: its progress is written every two seconds (the pages of bits cleared
/// since, after a flush of its data disk), so after the restart only what was left — and at
/// most the last interval's blocks again — is resynced; and nothing is skipped.
#[test]
fn a_sync_target_crashing_in_a_long_resync_resumes_it() {
    let changed = 2000;
    for seed in 0..3 {
        let mut w = world(seed, 4096);
        // A fixed 400 KiB/s: 100 blocks a second, the resync takes 20 s.
        let mut sync = SyncSettings::DEFAULT;
        sync.resync_rate = 400;
        sync.controller.plan_ahead = 0;
        for node in 0..2 {
            w.connect_with(node, NetSettings::DEFAULT, sync);
        }
        assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
        promote(&mut w, 0);
        w.cut_link();
        for block in 0..changed {
            w.app_write(0, block).expect("write accepted");
        }
        assert!(w.run_until(w.now_ms() + 10_000, World::quiescent));
        w.heal_link();
        let halfway = |w: &World| {
            w.nodes[1].replica.state().conn == ConnState::SyncTarget
                && w.nodes[1].host.bitmap.count() <= changed / 2
        };
        assert!(
            w.run_until(w.now_ms() + 60_000, halfway),
            "seed {seed}: half resynced\n{}",
            w.report()
        );
        let writes = w.nodes[1].host.progress_writes;
        assert!(writes >= 3, "seed {seed}: progress written {writes} times");
        let left = w.nodes[1].host.bitmap.count();
        w.crash(1);
        w.restart(1, NetSettings::DEFAULT);
        let resyncing = |w: &World| {
            matches!(
                w.nodes[1].replica.state().conn,
                ConnState::SyncTarget | ConnState::PausedSyncT
            )
        };
        assert!(
            w.run_until(w.now_ms() + 60_000, resyncing),
            "seed {seed}: resyncing again\n{}",
            w.report()
        );
        let again = w.nodes[1].host.bitmap.count();
        assert!(
            again >= left && again <= left + 300,
            "seed {seed}: {again} blocks to resync after the crash, {left} were left"
        );
        assert!(
            w.run_until(w.now_ms() + 120_000, in_sync),
            "seed {seed}\n{}",
            w.report()
        );
        assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk, "seed {seed}");
    }
}

/// Found by the crash schedules (seed 9516 of the first version): the Secondary loses the
/// connection while a peer write is on its way to its disk, is promoted at once (failover)
/// and writes the same block. The application write must wait for the peer write: issued
/// concurrently, the older peer data could land last and overwrite a completed write.
#[test]
fn an_application_write_waits_for_a_peer_write_still_on_its_way_to_the_disk() {
    for seed in 0..10 {
        let mut w = connected_pair(seed, BLOCKS);
        w.stalled[1] = true;
        let old = w.app_write(0, 30).expect("write accepted");
        assert!(w.run_until(w.now_ms() + 100, |w| w.link_idle()));
        w.cut_link();
        promote(&mut w, 1);
        assert_eq!(
            w.app_write(1, 30),
            None,
            "seed {seed}: the peer write to block 30 is still in flight"
        );
        assert!(w.app_write(1, 31).is_some(), "other blocks are free");
        w.stalled[1] = false;
        assert!(w.run_until(w.now_ms() + 100, World::quiescent));
        assert_eq!(w.nodes[1].host.disk[30], old, "seed {seed}");
        let new = w
            .app_write(1, 30)
            .expect("write accepted once the peer write landed");
        assert!(w.run_until(w.now_ms() + 100, World::quiescent));
        assert_eq!(w.nodes[1].host.disk[30], new, "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------
// Seeded schedules.

/// What the schedule knows beyond the world.
struct Run {
    /// Lower bound of every block's final content (see the module documentation).
    floor: Vec<u64>,
    /// Completions already folded into `floor`, per node.
    seen: [usize; 2],
    /// Per node: its completions before this index happened in an earlier life.
    life_start: [usize; 2],
    /// The node that may take over while the crashed Primary is down (it was Connected and
    /// UpToDate/UpToDate with it at the crash).
    failover: Option<usize>,
    primary: Option<usize>,
    stats: Stats,
}

/// What a schedule exercised (summed over seeds to show the schedules reach the cases).
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    writes: u64,
    crashes: u64,
    failovers: u64,
    /// A crashed Primary came back as SyncSource by rule 40.
    rule_40_sources: u64,
    /// A peer noticed a crash through its own timeouts (not the reboot's reset).
    noticed_by_timeout: u64,
    lost_volatile_writes: u64,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.writes += o.writes;
        self.crashes += o.crashes;
        self.failovers += o.failovers;
        self.rule_40_sources += o.rule_40_sources;
        self.noticed_by_timeout += o.noticed_by_timeout;
        self.lost_volatile_writes += o.lost_volatile_writes;
    }
}

impl Run {
    /// Fold new completions into the floor; check the running-state invariants.
    fn check(&mut self, w: &World) -> Result<(), String> {
        for (i, n) in w.nodes.iter().enumerate() {
            for c in &n.host.completions[self.seen[i]..] {
                if c.ok {
                    let f = &mut self.floor[c.block as usize];
                    *f = (*f).max(c.id);
                }
            }
            self.seen[i] = n.host.completions.len();
            if n.host.bad_acks > 0 {
                return Err(format!(
                    "node {i}: {} acks matched no request",
                    n.host.bad_acks
                ));
            }
            // A finished resync's helpers are the normal path; any other (split brain) is not.
            let unexpected = n
                .host
                .helpers
                .iter()
                .find(|h| !matches!(h, Helper::AfterResyncTarget | Helper::UnfencePeer));
            if let Some(h) = unexpected {
                return Err(format!("node {i}: unexpected helper {}", h.name()));
            }
            if !n.down && n.replica.state().conn == ConnState::StandAlone {
                return Err(format!("node {i} gave up the connection"));
            }
        }
        invariants::states_allowed(w)?;
        invariants::differences_are_marked(w, BLOCKS)?;
        if in_sync(w) {
            self.check_disks(w)?;
        }
        Ok(())
    }

    /// Connected and in sync: both disks equal, no block below its floor.
    fn check_disks(&self, w: &World) -> Result<(), String> {
        let (a, b) = (&w.nodes[0].host.disk, &w.nodes[1].host.disk);
        for block in 0..BLOCKS as usize {
            if a[block] != b[block] {
                return Err(format!(
                    "in sync, but block {block} differs: {} / {}",
                    a[block], b[block]
                ));
            }
            if a[block] < self.floor[block] {
                return Err(format!(
                    "block {block} holds {}, but write {} completed to the application",
                    a[block], self.floor[block]
                ));
            }
        }
        Ok(())
    }

    /// Power loss on `node`, with the checks that belong to that moment.
    fn crash(&mut self, w: &mut World, node: usize) -> Result<(), String> {
        let peer = &w.nodes[1 - node];
        let ps = *peer.replica.state();
        let peer_in_sync = !peer.down
            && ps.conn == ConnState::Connected
            && (ps.disk, ps.pdsk) == (DiskState::UpToDate, DiskState::UpToDate);
        if peer_in_sync {
            // The promise of protocol C: the peer holds every write completed to the
            // application (unless it was marked: then the peer was known to lack it).
            // Writes of an earlier life may have been lost in that crash (the floor says
            // what must survive of them).
            let completions = &w.nodes[node].host.completions;
            for c in &completions[self.life_start[node]..] {
                let on_peer = peer.host.disk[c.block as usize];
                if c.ok && c.protocol == WireProtocol::C && !c.marked && on_peer < c.id {
                    return Err(format!(
                        "node {node} crashed: its write {} to block {} completed under \
                         protocol C, the peer has {on_peer}",
                        c.id, c.block
                    ));
                }
            }
        }
        let was_primary = w.nodes[node].replica.state().role == Role::Primary;
        let durable = w.nodes[node].host.durable.clone();
        w.crash(node);
        if was_primary {
            // A crashed Primary may become sync source (rule 40) with what its disk kept:
            // its own volatile writes may be gone, not what was durable, and not below
            // what both disks held.
            let after = &w.nodes[node].host.disk;
            let peer_disk = &w.nodes[1 - node].host.disk;
            for (block, f) in self.floor.iter_mut().enumerate() {
                let fallback = durable[block].max(after[block].min(peer_disk[block]));
                *f = (*f).min(fallback);
            }
            self.primary = None;
            self.failover = peer_in_sync.then_some(1 - node);
        }
        Ok(())
    }
}

fn switchover(w: &mut World, run: &mut Run, candidate: usize) {
    match run.primary {
        Some(p) if w.nodes[p].host.requests.is_empty() => {
            let demote = StateChange::new().role(Role::Secondary);
            w.with_node(p, |r, h| r.request_change(demote, false, h));
            if w.nodes[p].replica.state().role == Role::Secondary {
                run.primary = None;
            }
        }
        None if w.nodes.iter().all(|n| !n.down) => {
            let s = *w.nodes[candidate].replica.state();
            if s.conn == ConnState::Connected
                && s.peer == Role::Secondary
                && s.disk == DiskState::UpToDate
                && s.pdsk == DiskState::UpToDate
            {
                let promote = StateChange::new().role(Role::Primary);
                w.with_node(candidate, |r, h| r.request_change(promote, false, h));
                run.primary = Some(candidate);
            }
        }
        _ => {}
    }
}

/// The Secondary takes over while the crashed Primary is down, once it noticed the loss
/// (as a cluster manager does after the peer is declared dead).
fn failover(w: &mut World, run: &mut Run) {
    let Some(node) = run.failover else {
        return;
    };
    let s = *w.nodes[node].replica.state();
    if w.nodes[1 - node].down && s.conn < ConnState::Connected && s.disk == DiskState::UpToDate {
        let promote = StateChange::new().role(Role::Primary);
        w.with_node(node, |r, h| r.request_change(promote, false, h));
        if w.nodes[node].replica.state().role == Role::Primary {
            run.primary = Some(node);
            run.failover = None;
            run.stats.failovers += 1;
        }
    }
}

/// Let up to `ms` of virtual time pass (timeouts fire), checking after every step.
fn pass_time(w: &mut World, run: &mut Run, ms: u64) -> Result<(), String> {
    let until = w.now_ms() + ms;
    while w.now_ms() < until && w.step() {
        run.check(w)?;
    }
    Ok(())
}

/// The net options of a schedule: verify-alg md5, and no csums-alg, md5, or md5 only after
/// a crash (`csums-after-crash-only`).
fn net_for(seed: u64) -> NetSettings {
    let csums = if seed.is_multiple_of(3) { "" } else { "md5" };
    NetSettings {
        verify_alg: AlgName::new("md5").expect("alg"),
        csums_alg: AlgName::new(csums).expect("alg"),
        csums_after_crash_only: seed % 3 == 2,
        ..NetSettings::DEFAULT
    }
}

fn run_seed(seed: u64, verbose: bool) -> Result<(World, Stats), String> {
    let mut w = world(seed, BLOCKS);
    let mut rng = SimRng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xc4a5);
    let net = net_for(seed);
    w.connect_both(net);
    if !w.run_until(5_000, |w| w.both_in(ConnState::Connected)) {
        return Err("no connection".into());
    }
    promote(&mut w, 0);
    let mut run = Run {
        floor: vec![0; BLOCKS as usize],
        seen: [0; 2],
        life_start: [0; 2],
        failover: None,
        primary: Some(0),
        stats: Stats::default(),
    };
    let fail = |e: String, w: &World| format!("{e}\n{}", w.report());
    for _ in 0..rng.below(300) + 100 {
        let down = w.nodes.iter().position(|n| n.down);
        match rng.below(100) {
            0..=34 => {
                if let Some(p) = run.primary {
                    if w.app_write(p, rng.below(BLOCKS)).is_some() {
                        run.stats.writes += 1;
                    }
                }
            }
            35..=36 if w.link_up => w.cut_link(),
            37..=41 if !w.link_up => w.heal_link(),
            42..=43 if down.is_none() => {
                run.stats.crashes += 1;
                let node = rng.below(2) as usize;
                run.crash(&mut w, node).map_err(|e| fail(e, &w))?;
            }
            44..=46 => {
                if let Some(node) = down {
                    let peer = &w.nodes[1 - node];
                    // The peer's own timeouts noticed the dead connection already.
                    if w.link_up
                        && peer.replica.state().conn < ConnState::Connected
                        && peer.host.states.iter().rev().take(4).any(|s| {
                            matches!(s.conn, ConnState::NetworkFailure | ConnState::Timeout)
                        })
                    {
                        run.stats.noticed_by_timeout += 1;
                    }
                    run.life_start[node] = w.nodes[node].host.completions.len();
                    // Once the crashed Primary is back, taking over is no longer a failover.
                    run.failover = None;
                    w.restart(node, net);
                }
            }
            47..=51 => failover(&mut w, &mut run),
            52..=55 => switchover(&mut w, &mut run, rng.below(2) as usize),
            56..=59 => {
                let ms = rng.below(12_000);
                pass_time(&mut w, &mut run, ms).map_err(|e| fail(e, &w))?;
            }
            60..=61 => {
                let node = rng.below(2) as usize;
                let n = &w.nodes[node];
                if !n.down && n.replica.state().conn == ConnState::Connected {
                    w.with_node(node, |r, h| r.start_verify(None, None, h));
                }
            }
            _ => {
                w.step();
            }
        }
        run.check(&w).map_err(|e| fail(e, &w))?;
    }
    // Drain: power on, heal the link and let everything settle.
    if let Some(node) = w.nodes.iter().position(|n| n.down) {
        w.restart(node, net);
    }
    w.heal_link();
    let limit = w.now_ms() + 60_000;
    while w.now_ms() < limit && !settled(&w) {
        w.step();
        run.check(&w).map_err(|e| fail(e, &w))?;
    }
    if !settled(&w) {
        return Err(fail("did not reach Connected UpToDate/UpToDate".into(), &w));
    }
    run.check_disks(&w).map_err(|e| fail(e, &w))?;
    run.stats.lost_volatile_writes = w.lost_volatile_writes;
    run.stats.rule_40_sources = w
        .nodes
        .iter()
        .map(|n| {
            n.host
                .log
                .iter()
                .filter(|l| *l == "uuid_compare()=1 by rule 40")
                .count() as u64
        })
        .sum();
    if verbose {
        println!("seed {seed}: {:?}, {} steps", run.stats, w.steps);
    }
    Ok((w, run.stats))
}

fn seeds() -> u64 {
    drbd_sim::env_u64("DRBD_SIM_CRASH_SEEDS").unwrap_or(100)
}

#[test]
fn crash_schedules_hold_the_invariants() {
    let mut total = Stats::default();
    for seed in 0..seeds() {
        match run_seed(seed, false) {
            Ok((_, stats)) => total.add(stats),
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreplay: DRBD_SIM_SEED={seed} cargo test -p drbd_sim --test crash replay -- --nocapture"
            ),
        }
    }
    println!("{} seeds: {total:?}", seeds());
    if seeds() >= 100 {
        // The schedules reach every case they are meant to.
        assert!(total.crashes > seeds(), "{total:?}");
        assert!(total.failovers > 0, "{total:?}");
        assert!(total.rule_40_sources > 0, "{total:?}");
        assert!(total.noticed_by_timeout > 0, "{total:?}");
        assert!(total.lost_volatile_writes > 0, "{total:?}");
    }
}

#[test]
fn replay() {
    let Some(seed) = drbd_sim::env_u64("DRBD_SIM_SEED") else {
        return;
    };
    match run_seed(seed, true) {
        Ok((w, _)) => println!("seed {seed} passed\n{}", w.report()),
        Err(e) => panic!("seed {seed} failed: {e}"),
    }
}
