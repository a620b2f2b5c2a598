//! Lower-disk errors: seeded schedules of protocol C writes on node-a, link cuts and heals,
//! and windows in which one node's lower disk fails every I/O (the other's never does: two
//! failed disks lose data whatever DRBD does; nor does a window start while the other disk
//! is not UpToDate, see `run_seed`). At the end the disk is repaired and the link
//! healed, and an administrator recovers as the 8.4 guide says: the Primary whose disk is no
//! longer UpToDate goes Secondary, the node with the Inconsistent disk reconnects (it becomes
//! SyncTarget). Checked:
//! - after every step: the states drbd allows (a Primary whose disk failed while alone is
//!   the one state drbd reaches only by force), every difference between the disks marked
//!   when nothing is in flight;
//! - a disk that failed an I/O is never UpToDate again until a resync made it so;
//! - at the end both disks are UpToDate, identical, no bit is set, and every block holds at
//!   least the newest write that completed successfully to the application: no
//!   acknowledged write was lost to a stale block of the failed disk (when node-a's own
//!   disk fails, the writes the peer acknowledged: see [`acknowledged`]).
//!
//! A failure prints its seed; `DRBD_SIM_SEED=<seed> cargo test -p drbd_sim --test
//! disk_errors replay -- --nocapture` runs that schedule again with a trace.

use std::collections::BTreeMap;

use drbd_core::replication::connection::NetSettings;
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::UuidSet;
use drbd_sim::invariants;
use drbd_sim::world::{Completion, World};
use drbd_sim::SimRng;

const BLOCKS: u64 = 64;

fn net() -> NetSettings {
    NetSettings {
        protocol: WireProtocol::C,
        ..NetSettings::DEFAULT
    }
}

fn io_failures(w: &World, node: usize) -> usize {
    w.nodes[node]
        .host
        .log
        .iter()
        .filter(|l| l.starts_with("Local IO failed"))
        .count()
}

/// The node's disk failed an I/O since it was last made UpToDate by a resync.
fn stale(w: &World, node: usize, failures_seen: usize) -> bool {
    io_failures(w, node) > failures_seen
}

fn check(w: &World, failing: usize, failures_seen: usize) -> Result<(), String> {
    if let Err(e) = invariants::states_allowed(w) {
        // drbd's `_drbd_set_state(..., CS_HARD)` after a failed I/O: a Primary without
        // any UpToDate disk (its writes fail from then on) is the one refused state it
        // enters, by force.
        let forced = e.contains("NoUpToDateDisk") && io_failures(w, failing) > 0;
        if !forced {
            return Err(e);
        }
    }
    invariants::differences_are_marked(w, BLOCKS)?;
    let s = w.nodes[failing].replica.state();
    if s.disk == DiskState::UpToDate && stale(w, failing, failures_seen) {
        return Err(format!(
            "node {failing} failed an I/O and still claims an UpToDate disk: {s:?}"
        ));
    }
    Ok(())
}

fn promote(w: &mut World, node: usize) {
    w.with_node(node, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
            == Role::Primary)
    );
}

/// A Connected UpToDate pair (seed `seed`), node-a Primary.
fn primary_pair(seed: u64) -> World {
    let uuids = UuidSet::from_array([0x5eed_0000_0000_2000, 0, 0, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8);
    w.connect_both(net());
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    promote(&mut w, 0);
    w
}

/// The newest successful completion per block (write ids grow with time) that must
/// survive. With node-a's own disk the failing one, only the writes the peer acknowledged
/// count: a write that completed on node-a's disk alone (the link was down) and a later
/// failure of that disk are two faults, and the resync that repairs the failed blocks
/// takes node-a's disk as its target (drbd's disk-state rule), so such a write is lost
/// with drbd 8.4 as well.
fn acknowledged(w: &World, failing: usize) -> BTreeMap<u64, u64> {
    let mut acked = BTreeMap::new();
    let must_survive = |c: &&Completion| c.ok && (failing != 0 || !c.marked);
    for c in w.nodes[0].host.completions.iter().filter(must_survive) {
        let e = acked.entry(c.block).or_insert(0);
        *e = (*e).max(c.id);
    }
    acked
}

/// What the seed saw: (writes refused for want of good data, resyncs that repaired the
/// failed disk).
fn run_seed(seed: u64, verbose: bool) -> Result<(World, usize, usize), String> {
    let uuids = UuidSet::from_array([0x5eed_0000_0000_2000, 0, 0, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8);
    let mut rng = SimRng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let failing = (seed % 2) as usize;
    w.connect_both(net());
    if !w.run_until(5_000, |w| w.both_in(ConnState::Connected)) {
        return Err("no connection".into());
    }
    promote(&mut w, 0);
    let mut failures_seen = 0;
    let mut refused = 0;
    let mut repaired = 0;
    let report = |w: &World, e: String| format!("{e}\n{}", w.report());
    for _ in 0..rng.below(300) + 100 {
        match rng.below(100) {
            0..=44 => {
                let primary = w.nodes[0].replica.state().role == Role::Primary;
                let block = rng.below(BLOCKS);
                if primary && w.app_write(0, block).is_none() && !w.nodes[0].replica.may_do_writes()
                {
                    refused += 1;
                }
            }
            45..=46 if w.link_up => w.cut_link(),
            47..=52 if !w.link_up => w.heal_link(),
            // One fault at a time: the disk starts failing only while the other node's
            // disk is UpToDate. Failing while it is itself the only good copy (the peer a
            // SyncTarget) leaves no node with all the data; drbd refuses to resync then
            // ("I shall become SyncSource, but I am inconsistent!"), and so do we.
            53..=56 => {
                let peer_good = w.nodes[1 - failing].replica.state().disk == DiskState::UpToDate;
                let h = &mut w.nodes[failing].host;
                if h.disk_failing || peer_good {
                    h.disk_failing = !h.disk_failing;
                }
            }
            _ => {
                w.step();
            }
        }
        // A finished resync towards the failed node repaired it (its disk is good again).
        if w.nodes[failing].replica.state().disk == DiskState::UpToDate
            && !w.nodes[failing].host.disk_failing
        {
            let now = io_failures(&w, failing);
            if now > failures_seen {
                // Only a resync may have brought it back: `check` reports anything else
                // before we get here.
                failures_seen = now;
                repaired += 1;
            }
        }
        check(&w, failing, failures_seen).map_err(|e| report(&w, e))?;
    }
    // The disk is replaced, the link mended; the administrator recovers.
    w.nodes[failing].host.disk_failing = false;
    w.heal_link();
    let limit = w.now_ms() + 60_000;
    let done = |w: &World| {
        w.quiescent()
            && w.both_in(ConnState::Connected)
            && w.nodes.iter().all(|n| {
                let s = n.replica.state();
                (s.disk, s.pdsk) == (DiskState::UpToDate, DiskState::UpToDate)
                    && n.host.bitmap.count() == 0
            })
    };
    while w.now_ms() < limit && !done(&w) {
        if w.quiescent() {
            recover_step(&mut w);
        }
        w.step();
        if w.nodes[failing].replica.state().disk == DiskState::UpToDate {
            let now = io_failures(&w, failing);
            if now > failures_seen {
                failures_seen = now;
                repaired += 1;
            }
        }
        check(&w, failing, failures_seen).map_err(|e| report(&w, e))?;
    }
    if !done(&w) {
        return Err(report(&w, "did not recover".into()));
    }
    if w.nodes[0].host.disk != w.nodes[1].host.disk {
        return Err(report(&w, "disks differ after recovery".into()));
    }
    for (block, id) in acknowledged(&w, failing) {
        let held = w.nodes[0].host.disk[block as usize];
        if held < id {
            return Err(report(
                &w,
                format!("block {block}: write {id} was acknowledged, both disks hold {held}"),
            ));
        }
    }
    if verbose {
        println!(
            "seed {seed}: node {failing} failed {} I/Os, {refused} writes refused, {repaired} repairs",
            io_failures(&w, failing)
        );
    }
    Ok((w, refused, repaired))
}

/// One step of what the administrator does when nothing is in flight.
fn recover_step(w: &mut World) {
    for i in 0..2 {
        let s = *w.nodes[i].replica.state();
        // A Primary without good local data cannot become SyncTarget (rr-conflict): demote.
        if s.role == Role::Primary && s.disk != DiskState::UpToDate {
            let demote = StateChange::new().role(Role::Secondary);
            w.with_node(i, |r, h| r.request_change(demote, false, h));
        }
    }
    for i in 0..2 {
        let s = *w.nodes[i].replica.state();
        if s.conn == ConnState::StandAlone {
            w.connect(i, net());
        } else if s.conn == ConnState::Connected
            && s.pdsk != DiskState::DUnknown
            && s.disk == DiskState::Inconsistent
            && s.role == Role::Secondary
        {
            // pass_on left it Inconsistent while connected: reconnect to resync it.
            w.with_node(i, |r, h| r.disconnect(h));
        }
    }
}

fn seeds() -> u64 {
    drbd_sim::env_u64("DRBD_SIM_DISK_ERROR_SEEDS").unwrap_or(300)
}

#[test]
fn disk_errors_lose_no_acknowledged_write() {
    let (mut failed, mut refused, mut repaired) = (0, 0, 0);
    for seed in 0..seeds() {
        match run_seed(seed, false) {
            Ok((w, r, p)) => {
                failed += (0..2).map(|i| io_failures(&w, i)).sum::<usize>();
                refused += r;
                repaired += p;
            }
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreplay: DRBD_SIM_SEED={seed} cargo test -p drbd_sim --test disk_errors replay -- --nocapture"
            ),
        }
    }
    println!(
        "{failed} disk failures (to Inconsistent), {refused} writes refused, {repaired} repairs"
    );
    // The schedules reach what they are meant to: disks that fail, writes refused without
    // good data, repairs by resync.
    assert!(failed > 0 && refused > 0 && repaired > 0);
}

/// A Primary whose local write fails goes on with the peer's disk: the write completes, the
/// disk becomes Inconsistent, the peer learns it, and a reconnect after demotion resyncs
/// exactly the failed block back.
#[test]
fn a_failed_local_write_completes_from_the_peer_and_is_resynced() {
    let mut w = primary_pair(3);
    w.nodes[0].host.disk_failing = true;
    let id = w.app_write(0, 7).expect("write accepted");
    assert!(w.run_until(w.now_ms() + 2_000, World::quiescent));
    let c = w.nodes[0].host.completions.last().expect("completed");
    assert_eq!(
        (c.id, c.ok),
        (id, true),
        "the peer's copy makes it a success"
    );
    assert_eq!(w.nodes[1].host.disk[7], id);
    assert_ne!(w.nodes[0].host.disk[7], id);
    assert_eq!(w.nodes[0].replica.state().disk, DiskState::Inconsistent);
    assert!(
        w.run_until(w.now_ms() + 1_000, |w| w.nodes[1].replica.state().pdsk
            == DiskState::Inconsistent)
    );
    assert!(w.nodes[0].host.bitmap.test(7));
    assert_eq!(io_failures(&w, 0), 1);

    // Demoted, reconnected with a good disk: SyncTarget for the one block.
    w.nodes[0].host.disk_failing = false;
    let demote = StateChange::new().role(Role::Secondary);
    w.with_node(0, |r, h| r.request_change(demote, false, h));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[0].replica.state().role
            == Role::Secondary)
    );
    w.with_node(0, |r, h| r.disconnect(h));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[0].replica.state().conn
            == ConnState::StandAlone)
    );
    w.connect(0, net());
    let synced = w.run_until(w.now_ms() + 10_000, |w| {
        w.quiescent()
            && w.both_in(ConnState::Connected)
            && w.nodes[0].replica.state().disk == DiskState::UpToDate
    });
    assert!(synced, "{}", w.report());
    assert_eq!(w.nodes[0].host.disk[7], id);
    assert!(w.nodes[0]
        .host
        .log
        .iter()
        .any(|l| l == "Becoming sync target due to disk states."));
}

/// A write that reaches only an Inconsistent disk fails: the next resync (this disk its
/// target) would overwrite it. Here node-a's disk failed before; the next write lands on
/// it but the link goes down before the peer has it.
#[test]
fn a_write_kept_only_by_an_inconsistent_disk_fails() {
    let mut w = primary_pair(5);
    w.nodes[0].host.disk_failing = true;
    w.app_write(0, 1).expect("write accepted");
    assert!(w.run_until(w.now_ms() + 2_000, World::quiescent));
    assert_eq!(w.nodes[0].replica.state().disk, DiskState::Inconsistent);
    w.nodes[0].host.disk_failing = false;
    // The peer is UpToDate, so the write is taken; the link fails before it arrives.
    let id = w.app_write(0, 2).expect("write accepted");
    w.cut_link();
    assert!(w.run_until(w.now_ms() + 10_000, World::quiescent));
    assert_eq!(w.nodes[0].host.disk[2], id, "it reached node-a's disk");
    let c = w.nodes[0].host.completions.last().expect("completed");
    assert_eq!(c.id, id);
    assert!(
        !c.ok,
        "completed successfully on an Inconsistent disk alone"
    );
    // Nor are new writes taken: no disk with good data is reachable.
    assert!(w.app_write(0, 3).is_none());
    assert!(!w.nodes[0].replica.may_do_writes());
}

#[test]
fn replay() {
    let Some(seed) = drbd_sim::env_u64("DRBD_SIM_SEED") else {
        return;
    };
    match run_seed(seed, true) {
        Ok((w, _, _)) => println!("seed {seed} passed\n{}", w.report()),
        Err(e) => panic!("seed {seed} failed: {e}"),
    }
}
