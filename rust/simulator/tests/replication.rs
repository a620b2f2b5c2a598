//! Replicated writes under protocols A, B and C through seeded schedules of writes, link
//! cuts and reconnects and planned switchovers (demote, then promote the peer), with the
//! invariants checked after every step:
//! - a write completed to the application under protocol C is on the peer's disk;
//! - a write whose epoch was barrier-acknowledged is on the peer's disk (any protocol);
//! - every state of either node passes drbd's validity rules, and the two nodes' states
//!   always form a pair drbd.ko allows;
//! - whenever nothing is in flight, every block where the disks differ is marked out of sync
//!   in one of the bitmaps (so a resync can repair it), and with the link up and no marks the
//!   disks are identical.
//!
//! The schedules also run online verify (from either node, sometimes between a start and a
//! stop sector) while the Primary writes, and resync by checksums (a csums-alg per seed): a
//! verify finds nothing where nothing differs, so the final bitmaps stay empty.
//!
//! A failure prints its seed; `DRBD_SIM_SEED=<seed> cargo test -p drbd_sim --test replication
//! replay -- --nocapture` runs that one schedule again with a trace.

use drbd_core::replication::connection::{AlgName, NetSettings};
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::UuidSet;
use drbd_core::wire::Cmd;
use drbd_sim::invariants;
use drbd_sim::world::World;
use drbd_sim::SimRng;

const BLOCKS: u64 = 64;

fn world(seed: u64) -> World {
    let uuids = UuidSet::from_array([0x5eed_0000_0000_1000, 0, 0, 0]);
    World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8)
}

fn promote(w: &mut World, node: usize) {
    w.with_node(node, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
            == Role::Primary),
        "promotion of node {node} finished"
    );
}

fn protocol_for(seed: u64) -> WireProtocol {
    match seed % 3 {
        0 => WireProtocol::A,
        1 => WireProtocol::B,
        _ => WireProtocol::C,
    }
}

/// The net options of a seed: its protocol, verify-alg md5 and a csums-alg (or none).
fn net_for(seed: u64) -> NetSettings {
    let csums = ["", "md5", "crc32c", "sha256"][(seed / 3 % 4) as usize];
    NetSettings {
        protocol: protocol_for(seed),
        verify_alg: AlgName::new("md5").expect("alg"),
        csums_alg: AlgName::new(csums).expect("alg"),
        ..NetSettings::DEFAULT
    }
}

/// `verify` on `node` if it is Connected, over the whole device or part of it.
fn verify(w: &mut World, rng: &mut SimRng, node: usize) -> bool {
    if w.nodes[node].replica.state().conn != ConnState::Connected {
        return false;
    }
    let (start, stop) = match rng.below(3) {
        0 => (Some(rng.below(BLOCKS * 8)), Some(rng.below(BLOCKS * 8))),
        1 => (Some(0), None),
        _ => (None, None),
    };
    w.with_node(node, |r, h| r.start_verify(start, stop, h));
    true
}

/// Checks after every step; `seen` = completions (0, 1) and barrier-acked writes (2, 3)
/// already checked per node.
fn check(w: &World, seen: &mut [usize; 4]) -> Result<(), String> {
    for (i, n) in w.nodes.iter().enumerate() {
        let peer = &w.nodes[1 - i];
        for c in &n.host.completions[seen[i]..] {
            let (block, id) = (c.block, c.id);
            if c.ok && c.protocol == WireProtocol::C && !c.marked {
                let on_peer = peer.host.disk[block as usize];
                if on_peer < id {
                    return Err(format!(
                        "node {i}: write {id} to block {block} completed under protocol C, peer has {on_peer}"
                    ));
                }
            }
        }
        seen[i] = n.host.completions.len();
        for &(block, id) in &n.host.barrier_acked[seen[2 + i]..] {
            let on_peer = peer.host.disk[block as usize];
            if on_peer < id {
                return Err(format!(
                    "node {i}: write {id} to block {block} was barrier-acked, peer has {on_peer}"
                ));
            }
        }
        seen[2 + i] = n.host.barrier_acked.len();
        if n.host.bad_acks > 0 {
            return Err(format!(
                "node {i}: {} acks matched no request",
                n.host.bad_acks
            ));
        }
    }
    invariants::states_allowed(w)?;
    invariants::differences_are_marked(w, BLOCKS)
}

fn run_seed(seed: u64, verbose: bool) -> Result<World, String> {
    let mut w = world(seed);
    let mut rng = SimRng::new(seed.wrapping_mul(0x9e37_79b9));
    let net = net_for(seed);
    w.connect_both(net);
    if !w.run_until(5_000, |w| w.both_in(ConnState::Connected)) {
        return Err("no connection".into());
    }
    promote(&mut w, 0);
    let mut primary = Some(0);
    let mut seen = [0usize; 4];
    let mut writes = 0;
    let mut verifies = 0;
    for _ in 0..rng.below(400) + 100 {
        match rng.below(100) {
            0..=39 => {
                let node = primary.unwrap_or(0);
                if w.app_write(node, rng.below(BLOCKS)).is_some() {
                    writes += 1;
                }
            }
            40..=41 if w.link_up => w.cut_link(),
            42..=49 if !w.link_up => w.heal_link(),
            // A planned switchover, as an administrator does it: the Primary goes Secondary
            // once its writes are done; later the peer is promoted while both are Connected.
            50..=53 => switchover(&mut w, &mut primary, rng.below(2) as usize),
            54..=57 => {
                let node = rng.below(2) as usize;
                if verify(&mut w, &mut rng, node) {
                    verifies += 1;
                }
            }
            _ => {
                w.step();
            }
        }
        check(&w, &mut seen).map_err(|e| format!("{e}\n{}", w.report()))?;
    }
    // Drain: heal the link and let everything settle.
    w.heal_link();
    let limit = w.now_ms() + 30_000;
    while w.now_ms() < limit
        && !(w.quiescent()
            && (0..2).all(|i| w.nodes[i].replica.state().conn == ConnState::Connected))
    {
        w.step();
        check(&w, &mut seen).map_err(|e| format!("{e}\n{}", w.report()))?;
    }
    if !w.quiescent() {
        return Err(format!("did not settle\n{}", w.report()));
    }
    // Settled and connected: the resync has run, nothing is out of sync, the disks are equal.
    for (i, n) in w.nodes.iter().enumerate() {
        let s = n.replica.state();
        if (s.disk, s.pdsk) != (DiskState::UpToDate, DiskState::UpToDate)
            || n.host.bitmap.count() != 0
        {
            return Err(format!(
                "node {i} after settling: {s:?}, {} bits\n{}",
                n.host.bitmap.count(),
                w.report()
            ));
        }
    }
    if w.nodes[0].host.disk != w.nodes[1].host.disk {
        return Err(format!("disks differ after the resync\n{}", w.report()));
    }
    if verbose {
        println!(
            "seed {seed}: {writes} writes, {verifies} verify runs, {} steps",
            w.steps
        );
    }
    Ok(w)
}

fn switchover(w: &mut World, primary: &mut Option<usize>, candidate: usize) {
    match *primary {
        Some(p) if w.nodes[p].host.requests.is_empty() => {
            let demote = StateChange::new().role(Role::Secondary);
            w.with_node(p, |r, h| r.request_change(demote, false, h));
            if w.nodes[p].replica.state().role == Role::Secondary {
                *primary = None;
            }
        }
        None => {
            let s = *w.nodes[candidate].replica.state();
            if s.conn == ConnState::Connected
                && s.peer == Role::Secondary
                && s.disk == DiskState::UpToDate
            {
                let promote = StateChange::new().role(Role::Primary);
                w.with_node(candidate, |r, h| r.request_change(promote, false, h));
                // The peer approves over the link; writes start once the role changed.
                *primary = Some(candidate);
            }
        }
        _ => {}
    }
}

fn seeds() -> u64 {
    drbd_sim::env_u64("DRBD_SIM_SEEDS").unwrap_or(300)
}

#[test]
fn replicated_writes_hold_the_invariants() {
    let (mut started, mut verified, mut found, mut csum_requests) = (0, 0, 0, 0);
    for seed in 0..seeds() {
        match run_seed(seed, false) {
            Ok(w) => {
                for n in &w.nodes {
                    let log = &n.host.log;
                    started += log.iter().filter(|l| l.starts_with("Starting Online")).count();
                    verified += log.iter().filter(|l| l.starts_with("Online verify done")).count();
                    found += log.iter().filter(|l| l.starts_with("Online verify found")).count();
                    csum_requests += n.host.sent(Cmd::CsumRsRequest);
                }
            }
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreplay: DRBD_SIM_SEED={seed} cargo test -p drbd_sim --test replication replay -- --nocapture"
            ),
        }
    }
    println!(
        "{started} verify runs started, {verified} ended (either node), {found} found blocks, \
         {csum_requests} checksum requests"
    );
    if seeds() >= 100 {
        // The schedules reach what they are meant to: verify runs that end (a finished one
        // may have found blocks a cut connection left marked on one side only — those are
        // really out of sync), and resyncs by checksum.
        assert!(started > 0 && verified > 0 && csum_requests > 0);
    }
}

#[test]
fn protocol_c_writes_reach_the_peer_with_a_healthy_link() {
    for seed in [2, 5, 8] {
        let mut w = world(seed);
        let net = NetSettings::DEFAULT;
        w.connect_both(net);
        assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
        promote(&mut w, 0);
        let mut ids = Vec::new();
        for block in 0..BLOCKS {
            ids.push(w.app_write(0, block).expect("write accepted"));
        }
        let settled = w.run_until(w.now_ms() + 10_000, World::quiescent);
        assert!(
            settled,
            "seed {seed}: requests left {:?}\n{}",
            w.nodes[0].host.requests.values().next(),
            w.report()
        );
        for (block, id) in ids.iter().enumerate() {
            assert_eq!(
                w.nodes[1].host.disk[block], *id,
                "block {block} on the peer"
            );
            assert_eq!(w.nodes[0].host.disk[block], *id, "block {block} locally");
        }
        assert_eq!(w.nodes[0].host.completions.len(), BLOCKS as usize);
        assert!(w.nodes[0]
            .host
            .completions
            .iter()
            .all(|c| c.ok && !c.marked));
        assert_eq!(w.nodes[0].host.bitmap.count(), 0, "nothing out of sync");
    }
}

#[test]
fn writes_without_the_peer_are_marked() {
    let mut w = world(4);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    promote(&mut w, 0);
    w.cut_link();
    for block in [3, 9, 17] {
        w.app_write(0, block).expect("write accepted");
    }
    assert!(w.run_until(w.now_ms() + 1_000, World::quiescent));
    assert_eq!(w.nodes[0].host.bitmap.count(), 3);
    assert!(w.nodes[0].host.bitmap.test(9));
    // Lost contact while Primary: a new data generation began (§7.2).
    assert_ne!(
        w.nodes[0].replica.uuids().current >> 1,
        0x5eed_0000_0000_1000 >> 1
    );
}

#[test]
fn replay() {
    let Some(seed) = drbd_sim::env_u64("DRBD_SIM_SEED") else {
        return;
    };
    match run_seed(seed, true) {
        Ok(w) => println!("seed {seed} passed\n{}", w.report()),
        Err(e) => panic!("seed {seed} failed: {e}"),
    }
}
