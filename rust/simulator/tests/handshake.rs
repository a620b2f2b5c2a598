//! Two cores connect through the simulated link and the real wire codec.

use drbd_core::replication::connection::{NetSettings, SyncSettings};
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange, StateError};
use drbd_core::uuid::UuidSet;
use drbd_core::wire::Cmd;
use drbd_sim::world::World;

const SECTORS: u64 = 0x1ffb0; // the capture's 64 MiB device minus internal meta data

fn fresh_pair(seed: u64) -> World {
    // create-md's UUIDs: current = UUID_JUST_CREATED.
    World::pair(
        seed,
        DiskState::Inconsistent,
        UuidSet::from_array([4, 0, 0, 0]),
        SECTORS,
    )
}

/// `primary --force` on `node`: Primary with its disk declared UpToDate.
fn force_primary(w: &mut World, node: usize) {
    let promote = StateChange::new()
        .role(Role::Primary)
        .disk(DiskState::UpToDate);
    w.with_node(node, |r, h| r.request_change(promote, true, h));
}

fn conn(w: &World, node: usize) -> ConnState {
    w.nodes[node].replica.state().conn
}

#[test]
fn fresh_pair_connects_secondary_secondary_inconsistent() {
    for seed in 0..200 {
        let mut w = fresh_pair(seed);
        w.connect_both(NetSettings::DEFAULT);
        let ok = w.run_until(5_000, |w| w.both_in(ConnState::Connected));
        assert!(ok, "seed {seed}\n{}", w.report());
        for n in &w.nodes {
            let s = n.replica.state();
            assert_eq!((s.role, s.peer), (Role::Secondary, Role::Secondary));
            assert_eq!(
                (s.disk, s.pdsk),
                (DiskState::Inconsistent, DiskState::Inconsistent)
            );
            assert!(n
                .host
                .log
                .iter()
                .any(|l| l == "uuid_compare()=0 by rule 10"));
            assert!(n
                .host
                .log
                .iter()
                .any(|l| l == "Handshake successful: Agreed network protocol version 101"));
            assert_eq!(n.host.max_bio_size, Some(1 << 20));
        }
        let rc: Vec<bool> = w
            .nodes
            .iter()
            .map(|n| n.replica.resolve_conflicts())
            .collect();
        assert_eq!(
            rc.iter().filter(|x| **x).count(),
            1,
            "exactly one node resolves conflicts"
        );
    }
}

#[test]
fn forced_primary_starts_a_full_sync_towards_the_peer() {
    let mut w = fresh_pair(7);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| conn(w, 1) == ConnState::Connected
        && conn(w, 0) == ConnState::Connected));
    force_primary(&mut w, 0);
    let ok = w.run_until(10_000, |w| {
        conn(w, 0) == ConnState::WFBitMapS && conn(w, 1) == ConnState::WFBitMapT
    });
    assert!(ok, "{}", w.report());
    assert_eq!(w.nodes[0].host.finished, vec![Ok(())]);
    let a = w.nodes[0].replica.state();
    assert_eq!((a.role, a.disk), (Role::Primary, DiskState::UpToDate));
    let b = w.nodes[1].replica.state();
    assert_eq!((b.peer, b.pdsk), (Role::Primary, DiskState::UpToDate));
    assert!(w.nodes[0]
        .host
        .log
        .iter()
        .any(|l| l == "uuid_compare()=2 by rule 30"));
    assert!(w.nodes[1]
        .host
        .log
        .iter()
        .any(|l| l == "uuid_compare()=-2 by rule 20"));
    // The forced promotion made a new current UUID with the Primary bit; the old one (4)
    // became the bitmap UUID (§7.2).
    let u = w.nodes[0].replica.uuids();
    assert_eq!(u.current & 1, 1);
    assert_eq!(u.bitmap, 4);
    assert_eq!(
        w.nodes[1].host.bitmap.count(),
        SECTORS.div_ceil(8),
        "target: all out of sync"
    );
}

#[test]
fn identical_data_connects_without_resync() {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0x1111, 0]);
    let mut w = World::pair(3, DiskState::UpToDate, uuids, SECTORS);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    for n in &w.nodes {
        assert_eq!(n.replica.state().pdsk, DiskState::UpToDate);
        assert!(n
            .host
            .log
            .iter()
            .any(|l| l == "uuid_compare()=0 by rule 40"));
        assert_eq!(n.host.bitmap.count(), 0);
    }
}

#[test]
fn different_protocols_are_refused_with_drbds_message() {
    let mut w = fresh_pair(11);
    w.connect(0, NetSettings::DEFAULT);
    w.connect(
        1,
        NetSettings {
            protocol: WireProtocol::A,
            ..NetSettings::DEFAULT
        },
    );
    w.run_until_ms(5_000);
    let standalone = (0..2)
        .filter(|&i| conn(&w, i) == ConnState::StandAlone)
        .count();
    assert!(standalone >= 1, "{}", w.report());
    assert!(w.nodes.iter().any(|n| n
        .host
        .log
        .iter()
        .any(|l| l == "incompatible protocol settings")));
    assert!(w
        .nodes
        .iter()
        .all(|n| n.replica.state().pdsk == DiskState::DUnknown));
}

#[test]
fn a_cut_link_reconnects_by_itself() {
    let mut w = fresh_pair(5);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    w.cut_link();
    for i in 0..2 {
        assert_eq!(conn(&w, i), ConnState::WFConnection);
        let states = &w.nodes[i].host.states;
        assert!(states.iter().any(|s| s.conn == ConnState::BrokenPipe));
    }
    w.run_until_ms(w.now_ms() + 3_000);
    assert_eq!(conn(&w, 0), ConnState::WFConnection, "link still down");
    w.heal_link();
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.both_in(ConnState::Connected)));
}

#[test]
fn disconnect_tells_the_peer_which_keeps_waiting() {
    let mut w = fresh_pair(9);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    w.with_node(0, |r, h| r.disconnect(h));
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| conn(w, 0) == ConnState::StandAlone
            && conn(w, 1) == ConnState::WFConnection)
    );
    assert_eq!(w.nodes[0].host.finished, vec![Ok(())]);
    assert!(w.nodes[1]
        .host
        .states
        .iter()
        .any(|s| s.conn == ConnState::TearDown));
    w.run_until_ms(w.now_ms() + 2_000);
    assert_eq!(conn(&w, 1), ConnState::WFConnection);
}

/// `down` on both nodes at once (the usual end of a test or a maintenance window): each
/// asks the other, the node that resolves conflicts refuses the peer's request and the other
/// accepts it. Both must end StandAlone with their `disconnect` done — the accepting node
/// must not go back to WFConnection, where the peer's next `up` would meet its old data.
#[test]
fn disconnect_on_both_nodes_at_once_ends_both_standalone() {
    // Which came first at the node that yields: the refusal of its request (one reply in
    // all) or the peer's request (both answered).
    let mut replies_seen = [0u32; 3];
    for seed in 0..200 {
        let mut w = fresh_pair(seed);
        w.connect_both(NetSettings::DEFAULT);
        assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
        w.with_node(0, |r, h| r.disconnect(h));
        w.with_node(1, |r, h| r.disconnect(h));
        let standalone = w.run_until(w.now_ms() + 5_000, |w| {
            w.both_in(ConnState::StandAlone) && w.nodes.iter().all(|n| !n.host.finished.is_empty())
        });
        assert!(standalone, "seed {seed}\n{}", w.report());
        w.run_until_ms(w.now_ms() + 2_000);
        let replies: u64 = w
            .nodes
            .iter()
            .map(|n| n.host.sent(Cmd::ConnStChgReply))
            .sum();
        replies_seen[replies.min(2) as usize] += 1;
        for n in &w.nodes {
            assert_eq!(n.host.finished, vec![Ok(())], "seed {seed}\n{}", w.report());
            assert_eq!(n.replica.state().conn, ConnState::StandAlone, "seed {seed}");
            assert!(
                !n.host.log.iter().any(|l| l.starts_with("Unexpected")),
                "seed {seed}\n{}",
                w.report()
            );
        }
    }
    assert!(
        replies_seen[1] > 0 && replies_seen[2] > 0,
        "both orders must occur: {replies_seen:?}"
    );
}

#[test]
fn promotion_is_refused_while_the_peer_is_primary() {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0, 0]);
    let mut w = World::pair(21, DiskState::UpToDate, uuids, SECTORS);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    let promote = StateChange::new().role(Role::Primary);
    w.with_node(0, |r, h| r.request_change(promote, false, h));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[1].replica.state().peer
            == Role::Primary)
    );
    w.with_node(1, |r, h| r.request_change(promote, false, h));
    assert_eq!(
        w.nodes[1].host.finished,
        vec![Err(StateError::TwoPrimaries)]
    );
    assert_eq!(w.nodes[1].replica.state().role, Role::Secondary);
}

#[test]
fn silence_on_the_link_is_detected_by_the_ping() {
    let mut w = fresh_pair(13);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    // Idle but healthy: pings keep it up for a minute.
    let t = w.now_ms();
    w.run_until_ms(t + 60_000);
    assert_eq!(conn(&w, 0), ConnState::Connected);
    assert!(w.nodes.iter().all(|n| !n
        .host
        .states
        .iter()
        .any(|s| s.conn == ConnState::NetworkFailure)));
    // A link that swallows everything without resetting: ping-int + ping-timeout later the
    // connection is declared dead.
    w.blackhole = true;
    let t = w.now_ms();
    w.run_until_ms(t + 12_000);
    assert!(w.nodes.iter().any(|n| n
        .host
        .log
        .iter()
        .any(|l| l == "PingAck did not arrive in time.")));
    assert!(w.nodes.iter().all(|n| n
        .host
        .states
        .iter()
        .any(|s| s.conn == ConnState::NetworkFailure)
        || n.host
            .states
            .iter()
            .any(|s| s.conn == ConnState::BrokenPipe)));
}

/// A fixed `resync-rate` (c-plan-ahead 0) caps the sync however fast the link is: drbd
/// requests rate × 0.1 s per 100 ms step, adjacent blocks merged only within that budget.
#[test]
fn a_fixed_resync_rate_is_honoured() {
    let mut w = fresh_pair(7);
    for n in &mut w.nodes {
        n.host.bitmap.set_all();
    }
    let mut sync = SyncSettings::DEFAULT;
    sync.resync_rate = 1024;
    sync.controller.plan_ahead = 0;
    for node in 0..2 {
        w.connect_with(node, NetSettings::DEFAULT, sync);
    }
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    force_primary(&mut w, 0);
    assert!(w.run_until(w.now_ms() + 5_000, |w| conn(w, 1) == ConnState::SyncTarget));
    let start = w.now_ms();
    let done = w.run_until(start + 300_000, |w| w.both_in(ConnState::Connected));
    assert!(done, "sync finished\n{}", w.report());
    // 1024 KiB/s → 25 blocks of 4 KiB per step: 16382 blocks in 656 steps.
    let blocks = w.nodes[0].host.bitmap.bits();
    let expected_ms = blocks.div_ceil(25) * 100;
    let took = w.now_ms() - start;
    assert!(
        took >= expected_ms - 1_000 && took <= expected_ms + 5_000,
        "{blocks} blocks at 1000 KiB/s took {took} ms, expected about {expected_ms} ms"
    );
}

#[test]
fn initial_full_sync_copies_the_whole_disk() {
    for seed in 0..3 {
        let mut w = fresh_pair(seed);
        for (b, v) in w.nodes[0].host.disk.iter_mut().enumerate() {
            *v = 1_000_000 + b as u64;
        }
        // create-md leaves every bit set (observed: 16374 bits on 64 MiB).
        for n in &mut w.nodes {
            n.host.bitmap.set_all();
        }
        w.connect_both(NetSettings::DEFAULT);
        assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
        force_primary(&mut w, 0);
        // Half way through, /proc/drbd shows drbd's progress line for both roles.
        let half = w.run_until(120_000, |w| {
            w.nodes[1].replica.state().conn == ConnState::SyncTarget
                && w.nodes[1].host.bitmap.count() < w.nodes[1].host.bitmap.bits() / 2
        });
        assert!(half, "seed {seed}: sync reached half way\n{}", w.report());
        for (i, role) in [(0, "SyncSource"), (1, "SyncTarget")] {
            let n = &w.nodes[i];
            let bits = n.host.bitmap.bits();
            let sync = n
                .replica
                .sync_status(bits, w.now_ms())
                .expect("a resync is running");
            assert_eq!(sync.rs_total, bits, "full sync: every bit");
            let status = drbd_core::proc_text::DeviceStatus {
                minor: 0,
                state: *n.replica.state(),
                protocol: Some(WireProtocol::C),
                oos_bits: n.host.bitmap.count(),
                sync,
                ..Default::default()
            };
            let mut text = String::new();
            drbd_core::proc_text::write_device(&mut text, None, &status, 0).unwrap();
            assert!(text.contains(&format!("cs:{role}")), "{text}");
            assert!(
                text.contains("\t[") && text.contains("] sync'ed:"),
                "{text}"
            );
            assert!(
                text.contains("finish: ") && text.contains("speed: "),
                "{text}"
            );
        }
        let done = w.run_until(120_000, |w| {
            (0..2).all(|i| {
                let s = w.nodes[i].replica.state();
                s.conn == ConnState::Connected
                    && s.disk == DiskState::UpToDate
                    && s.pdsk == DiskState::UpToDate
            }) && w.quiescent()
        });
        assert!(done, "seed {seed}: sync did not finish\n{}", w.report());
        assert!(
            w.nodes[0].host.disk == w.nodes[1].host.disk,
            "seed {seed}: disks differ"
        );
        assert_eq!(w.nodes[1].host.bitmap.count(), 0);
        assert_eq!(
            w.nodes[0].host.bitmap.count(),
            0,
            "seed {seed}\n{}",
            w.report()
        );
        // UUIDs after the sync: the target took the source's current UUID (§7.2).
        let (a, b) = (w.nodes[0].replica.uuids(), w.nodes[1].replica.uuids());
        assert_eq!(a.current & !1, b.current & !1, "seed {seed}");
        assert_eq!(a.bitmap, 0);
        assert_eq!(b.bitmap, 0);
    }
}

#[test]
fn a_peer_that_never_finishes_a_write_is_dropped_after_ko_count_timeouts() {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0, 0]);
    let mut w = World::pair(17, DiskState::UpToDate, uuids, SECTORS);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    let promote = StateChange::new().role(Role::Primary);
    w.with_node(0, |r, h| r.request_change(promote, false, h));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[0].replica.state().role
            == Role::Primary)
    );
    w.stalled[1] = true;
    let start = w.now_ms();
    w.app_write(0, 5).expect("write accepted");
    // The link stays healthy (pings are answered); 7 × 6 s later the write is overdue.
    w.run_until_ms(start + 41_000);
    assert_eq!(conn(&w, 0), ConnState::Connected, "{}", w.report());
    assert!(w.run_until(start + 44_000, |w| w.nodes[0]
        .host
        .states
        .iter()
        .any(|s| s.conn == ConnState::Timeout)));
    assert!(w.nodes[0].host.log.iter().any(|l| l
        .starts_with("Remote failed to finish a request within")
        && l.ends_with("> ko-count (7) * timeout (60 * 0.1s)")));
    // The write completed locally and is marked for the resync.
    assert_eq!(w.nodes[0].host.completions.len(), 1);
    assert!(w.nodes[0].host.bitmap.test(5));
}

#[test]
fn net_options_change_the_protocol_on_both_nodes_while_connected() {
    let mut w = fresh_pair(23);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    let async_net = NetSettings {
        protocol: WireProtocol::A,
        ..NetSettings::DEFAULT
    };
    w.with_node(0, |r, h| r.change_net_options(async_net, h));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[1].replica.net().protocol
            == WireProtocol::A)
    );
    assert_eq!(w.nodes[0].replica.net().protocol, WireProtocol::A);
    // Still connected: the update is not a handshake.
    w.run_until_ms(w.now_ms() + 1_000);
    assert_eq!(conn(&w, 0), ConnState::Connected);
    assert_eq!(conn(&w, 1), ConnState::Connected);
}

#[test]
fn without_use_rle_the_bitmap_goes_as_plain_chunks() {
    let mut w = fresh_pair(31);
    for n in &mut w.nodes {
        n.host.bitmap.set_all();
    }
    let plain = NetSettings {
        use_rle: false,
        ..NetSettings::DEFAULT
    };
    w.connect_both(plain);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected)));
    force_primary(&mut w, 0);
    // The bitmap exchange is over once the sync runs (the trace keeps only recent steps).
    assert!(w.run_until(w.now_ms() + 5_000, |w| conn(w, 1) == ConnState::SyncTarget));
    assert!(
        w.trace().any(|t| t.contains("<-Data Bitmap(")),
        "plain chunks on the wire"
    );
    assert!(!w.trace().any(|t| t.contains("CompressedBitmap")));
    // The default controller (c-fill-target 100 sectors per 100 ms step) needs about
    // 130 s of virtual time for these 64 MiB.
    assert!(w.run_until(300_000, |w| (0..2).all(|i| {
        let s = w.nodes[i].replica.state();
        s.conn == ConnState::Connected
            && s.pdsk == DiskState::UpToDate
            && s.disk == DiskState::UpToDate
    })));
}
