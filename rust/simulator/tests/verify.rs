//! Online verify and checksum-based resync between two simulated nodes (`wire-protocol.md`
//! §5.5, §5.6). The simulator writes behind DRBD's back to corrupt blocks of one disk; verify
//! must find exactly those (bitmap bits, `oos`, drbd's log lines on both nodes), and the next
//! disconnect/connect must resync exactly those. A verify between start and stop sector covers
//! only that range, one cut by the link keeps what it found and resumes where it stopped, and
//! one running while the Primary writes reports only the corrupted blocks. With a csums-alg a
//! resync transfers data only for blocks that really differ.

use drbd_core::replication::connection::{AlgName, NetSettings, SyncSettings};
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::UuidSet;
use drbd_core::wire::Cmd;
use drbd_sim::invariants;
use drbd_sim::world::World;
use drbd_sim::SimRng;

const BLOCKS: u64 = 64;

fn net(csums: &str) -> NetSettings {
    NetSettings {
        verify_alg: AlgName::new("md5").expect("alg"),
        csums_alg: AlgName::new(csums).expect("alg"),
        ..NetSettings::DEFAULT
    }
}

/// A fixed resync rate of `kib` KiB/s (no dynamic controller): `kib / 40` blocks per step.
fn fixed_rate(kib: u32) -> SyncSettings {
    let mut sync = SyncSettings::DEFAULT;
    sync.resync_rate = kib;
    sync.controller.plan_ahead = 0;
    sync
}

/// Two UpToDate nodes of one data generation, connected with `net`, node 0 Primary, every
/// block written once and replicated.
fn primary_pair(seed: u64, blocks: u64, net: NetSettings, sync: SyncSettings) -> World {
    let uuids = UuidSet::from_array([0x5eed_0000_0000_1000, 0, 0, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, blocks * 8);
    w.connect_with(0, net, sync);
    w.connect_with(1, net, sync);
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "connected\n{}",
        w.report()
    );
    w.with_node(0, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[0].replica.state().role
            == Role::Primary)
    );
    for block in 0..blocks {
        w.app_write(0, block).expect("write accepted");
    }
    assert!(w.run_until(w.now_ms() + 10_000, |w| w.quiescent() && w.link_idle()));
    assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk);
    w
}

fn log_count(w: &World, node: usize, prefix: &str) -> usize {
    w.nodes[node]
        .host
        .log
        .iter()
        .filter(|l| l.starts_with(prefix))
        .count()
}

/// Both nodes ended `runs` verify runs and are Connected with nothing in flight.
fn verified(w: &World, runs: usize) -> bool {
    w.both_in(ConnState::Connected)
        && w.link_idle()
        && w.quiescent()
        && (0..2).all(|i| log_count(w, i, "Online verify done") == runs)
}

/// The blocks the "Out of sync: start=…, size=… (sectors)" lines of `node` cover.
fn logged_runs(w: &World, node: usize) -> Vec<u64> {
    let mut blocks = Vec::new();
    for line in &w.nodes[node].host.log {
        let Some(rest) = line.strip_prefix("Out of sync: start=") else {
            continue;
        };
        let (start, rest) = rest.split_once(", size=").expect("size");
        let size = rest.strip_suffix(" (sectors)").expect("unit");
        let (start, size): (u64, u64) = (start.parse().unwrap(), size.parse().unwrap());
        blocks.extend(start / 8..(start + size) / 8);
    }
    blocks.sort_unstable();
    blocks
}

fn set_bits(w: &World, node: usize) -> Vec<u64> {
    let bm = &w.nodes[node].host.bitmap;
    (0..bm.bits()).filter(|b| bm.test(*b)).collect()
}

fn start_verify(w: &mut World, node: usize, start: Option<u64>, stop: Option<u64>) {
    w.with_node(node, |r, h| r.start_verify(start, stop, h));
}

/// `disconnect` and `connect` on node 0; back Connected UpToDate/UpToDate, resynced.
fn reconnect(w: &mut World, net: NetSettings) {
    w.with_node(0, |r, h| r.disconnect(h));
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[0].replica.state().conn
            == ConnState::StandAlone)
    );
    w.connect(0, net);
    assert!(
        w.run_until(w.now_ms() + 60_000, |w| w.both_in(ConnState::Connected)
            && w.link_idle()
            && w.quiescent()
            && w.nodes
                .iter()
                .all(|n| n.replica.state().pdsk == DiskState::UpToDate)),
        "resynced\n{}",
        w.report()
    );
}

#[test]
fn verify_finds_exactly_the_corrupted_blocks_and_a_reconnect_repairs_them() {
    for seed in [1, 2, 3] {
        let net = net("");
        let mut w = primary_pair(seed, BLOCKS, net, SyncSettings::DEFAULT);
        let corrupted = [5, 6, 7, 20, 41];
        for (i, block) in corrupted.iter().enumerate() {
            w.corrupt(1, *block, 9_000 + i as u64);
        }
        start_verify(&mut w, 0, None, None);
        // /proc/drbd shows the run while it lasts (VerifyS: verified, want).
        assert!(
            w.run_until(w.now_ms() + 1_000, |w| w.nodes[0].replica.state().conn
                == ConnState::VerifyS)
        );
        let status = w.nodes[0].replica.sync_status(BLOCKS, w.now_ms());
        assert_eq!(status.map(|s| s.rs_total), Some(BLOCKS));
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| verified(w, 1)),
            "seed {seed}: verify finished\n{}",
            w.report()
        );
        assert_eq!(w.nodes[0].host.finished.last(), Some(&Ok(())));
        for node in 0..2 {
            // Both bitmaps know exactly the corrupted blocks (`oos:` 20 KiB), both logs the
            // count and the runs of adjacent blocks (a run is logged when an in-sync block
            // follows it in the order the comparisons finish), and both ran the helper.
            assert_eq!(set_bits(&w, node), corrupted, "seed {seed} node {node}");
            assert_eq!(logged_runs(&w, node), corrupted, "seed {seed} node {node}");
            assert!(w.logged(node, "Online verify found 5 4k block out of sync!"));
            assert_eq!(w.nodes[node].host.helpers, [Helper::OutOfSync]);
        }
        // In order they are three runs (the unit tests of verify.rs pin the coalescing).
        assert!(log_count(&w, 0, "Out of sync: ") >= 3);
        assert!(w.logged(0, "Starting Online Verify from sector 0"));
        assert!(w.logged(1, "Online Verify start sector: 0"));
        // One request, digest and result per block (§5.6).
        assert_eq!(w.nodes[0].host.sent(Cmd::OvRequest), BLOCKS);
        assert_eq!(w.nodes[1].host.sent(Cmd::OvReply), BLOCKS);
        assert_eq!(w.nodes[0].host.sent(Cmd::OvResult), BLOCKS);
        // Verify itself repairs nothing.
        assert_ne!(w.nodes[0].host.disk, w.nodes[1].host.disk);
        assert_eq!(w.nodes[0].host.sent(Cmd::RsDataReply), 0);

        // The Primary loses its peer (a new data generation) and becomes SyncSource of the
        // marked blocks at the reconnect: exactly those travel.
        reconnect(&mut w, net);
        assert_eq!(
            w.nodes[0].host.sent_blocks.get(&Cmd::RsDataReply),
            Some(&(corrupted.len() as u64)),
            "seed {seed}"
        );
        assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk, "seed {seed}");
        assert!(set_bits(&w, 0).is_empty() && set_bits(&w, 1).is_empty());
    }
}

#[test]
fn verify_between_start_and_stop_sector_covers_only_that_range() {
    let net = net("");
    let mut w = primary_pair(7, BLOCKS, net, SyncSettings::DEFAULT);
    for block in [3, 10, 20] {
        w.corrupt(1, block, 7_000 + block);
    }
    // `verify --start 69 --stop 128`: from the block of sector 69 up to sector 128.
    start_verify(&mut w, 0, Some(69), Some(128));
    assert!(
        w.run_until(w.now_ms() + 10_000, |w| verified(w, 1)),
        "{}",
        w.report()
    );
    assert_eq!(w.nodes[0].host.sent(Cmd::OvRequest), 8);
    assert_eq!(set_bits(&w, 0), [10]);
    assert_eq!(set_bits(&w, 1), [10]);
    assert!(w.logged(0, "Starting Online Verify from sector 64"));
    assert!(w.logged(1, "Online Verify start sector: 64"));
    // Stopped early: both remember where (VerifyT learned the end from VerifyS's P_STATE).
    assert!(w.logged(0, "Online Verify reached sector 128"));
    assert!(w.logged(1, "Online Verify reached sector 128"));
    assert_eq!(w.nodes[0].replica.verify_start_sector(), 128);

    // The next `verify` resumes there and runs to the end.
    start_verify(&mut w, 0, None, None);
    assert!(
        w.run_until(w.now_ms() + 10_000, |w| verified(w, 2)),
        "{}",
        w.report()
    );
    assert_eq!(w.nodes[0].host.sent(Cmd::OvRequest), 8 + (BLOCKS - 16));
    assert_eq!(set_bits(&w, 0), [10, 20]);
    assert_eq!(w.nodes[0].replica.verify_start_sector(), 0);
}

#[test]
fn a_verify_cut_by_the_link_keeps_what_it_found_and_resumes_where_it_was() {
    // 2048 blocks at 400 KiB/s (10 blocks per step): about 20 s of verify.
    const BIG: u64 = 2048;
    let net = net("");
    let mut w = primary_pair(11, BIG, net, fixed_rate(400));
    w.corrupt(1, 100, 1);
    w.corrupt(1, 1500, 2);
    start_verify(&mut w, 0, None, None);
    assert!(
        w.run_until(w.now_ms() + 30_000, |w| w.nodes[0]
            .replica
            .sync_status(BIG, w.now_ms())
            .is_some_and(|s| s.ov_left < BIG - 400)),
        "{}",
        w.report()
    );
    w.cut_link();
    let s0 = *w.nodes[0].replica.state();
    assert_eq!((s0.conn, s0.role), (ConnState::WFConnection, Role::Primary));
    // What was found stays marked; where the run was is where the next one starts.
    assert_eq!(set_bits(&w, 0), [100]);
    let reached = w.nodes[0].replica.verify_start_sector();
    assert!((400 * 8..1500 * 8).contains(&reached), "reached {reached}");
    assert!(w.logged(0, &format!("Online Verify reached sector {reached}")));
    assert_eq!(log_count(&w, 0, "Online verify done"), 0);

    // Reconnected, the Primary resyncs what was found.
    w.heal_link();
    assert!(
        w.run_until(w.now_ms() + 30_000, |w| w.both_in(ConnState::Connected)
            && w.link_idle()
            && w.quiescent()),
        "{}",
        w.report()
    );
    assert_eq!(w.nodes[0].host.disk[100], w.nodes[1].host.disk[100]);
    assert!(set_bits(&w, 0).is_empty());
    // `verify` again: it resumes at the position reached and finds the other block.
    start_verify(&mut w, 0, None, None);
    assert!(
        w.logged(0, &format!("Starting Online Verify from sector {reached}"))
            || w.run_until(w.now_ms() + 1_000, |w| w
                .logged(0, &format!("Starting Online Verify from sector {reached}")))
    );
    assert!(
        w.run_until(w.now_ms() + 60_000, |w| verified(w, 1)),
        "{}",
        w.report()
    );
    assert_eq!(set_bits(&w, 0), [1500]);
    assert_eq!(set_bits(&w, 1), [1500]);
}

#[test]
fn verify_while_the_primary_writes_reports_only_the_corrupted_block() {
    // Either node drives the verify, under protocols A and C, while the Primary keeps writing
    // every block but the corrupted one: the ordering rules must keep both nodes digesting
    // the same data.
    let seeds: u64 = drbd_sim::env_u64("DRBD_SIM_SEEDS").unwrap_or(8);
    for seed in 0..seeds {
        let protocol = if seed % 2 == 0 {
            WireProtocol::C
        } else {
            WireProtocol::A
        };
        let net = NetSettings {
            protocol,
            ..net("")
        };
        let mut w = primary_pair(100 + seed, BLOCKS, net, fixed_rate(400));
        let corrupted = 33;
        w.corrupt(1, corrupted, 1);
        let driver = (seed / 2 % 2) as usize;
        start_verify(&mut w, driver, None, None);
        let mut rng = SimRng::new(seed);
        let limit = w.now_ms() + 20_000;
        let mut writes = 0;
        let finished = |w: &World| (0..2).all(|i| log_count(w, i, "Online verify done") == 1);
        while w.now_ms() < limit && !finished(&w) {
            if rng.below(4) == 0 {
                let block = rng.below(BLOCKS);
                if block != corrupted && w.app_write(0, block).is_some() {
                    writes += 1;
                }
            }
            w.step();
            invariants::states_allowed(&w).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        assert!(
            writes > 20,
            "seed {seed}: {writes} writes during the verify"
        );
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| verified(w, 1)),
            "seed {seed}\n{:?}\n{:?}",
            w.nodes[0].host.log,
            w.nodes[1].host.log,
        );
        for node in 0..2 {
            assert_eq!(
                set_bits(&w, node),
                [corrupted],
                "seed {seed} node {node} (verify driven by node {driver})"
            );
        }
    }
}

#[test]
fn csums_resync_after_a_link_cut_transfers_only_blocks_that_differ() {
    for (seed, alg) in [(1, "md5"), (2, "sha1"), (3, "sha256"), (4, "crc32c")] {
        let net = net(alg);
        let mut w = primary_pair(seed, BLOCKS, net, SyncSettings::DEFAULT);
        w.cut_link();
        // Written while disconnected: these really differ.
        let written = [3, 11, 19];
        for block in written {
            w.app_write(0, block).expect("write accepted");
        }
        // Marked but equal on both disks (as a crashed Primary's activity log comes back).
        let equal = [7, 15, 23, 31];
        for block in equal {
            w.nodes[0].host.bitmap.set(block);
        }
        assert!(w.run_until(w.now_ms() + 1_000, World::quiescent));
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.both_in(ConnState::Connected)
                && w.link_idle()
                && w.quiescent()
                && w.nodes
                    .iter()
                    .all(|n| n.replica.state().pdsk == DiskState::UpToDate)),
            "{alg}\n{}",
            w.report()
        );
        // §5.5: one checksum request per marked block (none adjacent), data only for the
        // written ones, "in sync" for the others.
        let (source, target) = (&w.nodes[0].host, &w.nodes[1].host);
        assert_eq!(target.sent(Cmd::CsumRsRequest), 7, "{alg}");
        assert_eq!(target.sent(Cmd::RsDataRequest), 0, "{alg}");
        assert_eq!(source.sent(Cmd::RsIsInSync), 4, "{alg}");
        assert_eq!(source.sent(Cmd::RsDataReply), 3, "{alg}");
        assert_eq!(source.sent_blocks.get(&Cmd::RsDataReply), Some(&3), "{alg}");
        assert_eq!(source.disk, target.disk, "{alg}");
        assert!(set_bits(&w, 0).is_empty() && set_bits(&w, 1).is_empty());
        for node in 0..2 {
            assert!(
                w.logged(
                    node,
                    "57 % had equal checksums, eliminated: 16K; transferred 12K total 28K"
                ),
                "{alg} node {node}: {:?}",
                w.nodes[node].host.log
            );
        }
    }
}

#[test]
fn csums_after_crash_only_resyncs_plainly_without_a_crash() {
    let net = NetSettings {
        csums_after_crash_only: true,
        ..net("md5")
    };
    let mut w = primary_pair(5, BLOCKS, net, SyncSettings::DEFAULT);
    w.cut_link();
    for block in [2, 9] {
        w.app_write(0, block).expect("write accepted");
    }
    assert!(w.run_until(w.now_ms() + 1_000, World::quiescent));
    w.heal_link();
    assert!(
        w.run_until(w.now_ms() + 30_000, |w| w.both_in(ConnState::Connected)
            && w.link_idle()
            && w.quiescent()
            && w.nodes
                .iter()
                .all(|n| n.replica.state().pdsk == DiskState::UpToDate))
    );
    assert_eq!(w.nodes[1].host.sent(Cmd::CsumRsRequest), 0);
    assert_eq!(w.nodes[1].host.sent(Cmd::RsDataRequest), 2);
    assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk);
}

#[test]
fn verify_needs_the_same_verify_alg_on_both_nodes() {
    // A different verify-alg ends the handshake (§1.5); without one, verify is refused.
    let uuids = UuidSet::from_array([0x5eed_0000_0000_1000, 0, 0, 0]);
    let mut w = World::pair(1, DiskState::UpToDate, uuids, BLOCKS * 8);
    w.connect(0, net(""));
    w.connect(
        1,
        NetSettings {
            verify_alg: AlgName::new("sha1").expect("alg"),
            ..net("")
        },
    );
    assert!(w.run_until(5_000, |w| w.nodes[1].replica.state().conn
        == ConnState::StandAlone
        || w.nodes[0].replica.state().conn == ConnState::StandAlone));
    assert!(w.nodes.iter().any(|n| n
        .host
        .log
        .iter()
        .any(|l| l.starts_with("Different verify-alg settings"))));

    let mut w = World::pair(2, DiskState::UpToDate, uuids, BLOCKS * 8);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()));
    start_verify(&mut w, 0, None, None);
    assert_eq!(
        w.nodes[0].host.finished,
        [Err(drbd_core::state::StateError::NoVerifyAlg)]
    );
    assert_eq!(w.nodes[0].host.sent(Cmd::StateChgReq), 0);
}
