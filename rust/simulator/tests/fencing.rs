//! Resource-level fencing (`fencing resource-only`, Documentation/failover.md): the core's
//! `fence-peer` decisions in two simulated nodes, with the handler's answer scripted
//! ([`drbd_sim::world::NodeHost::fence_exit`]). Each scenario runs on several seeds.

use drbd_core::replication::connection::NetSettings;
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::state::{ConnState, DiskState, Fencing, Role, StateChange, StateError};
use drbd_core::uuid::UuidSet;
use drbd_sim::world::World;

const BLOCKS: u64 = 128;
const A: usize = 0;
const B: usize = 1;
const SEEDS: std::ops::Range<u64> = 0..8;

/// Connected, both UpToDate with the same data, fencing `resource-only` on both, A Primary.
fn pair_with_fencing(seed: u64) -> World {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0x1111_0000, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8);
    for node in [A, B] {
        w.with_node(node, |r, _| r.set_fencing(Fencing::ResourceOnly));
        w.connect(node, NetSettings::DEFAULT);
    }
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "seed {seed}: connected\n{}",
        w.report()
    );
    w.promote(A, false).expect("A promoted while connected");
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.link_idle()));
    w
}

/// A Primary whose link breaks asks the handler; "unreachable" (5) outdates the peer while
/// the Primary writes on. At the reconnect the peer resyncs, runs after-resync-target, and the
/// Primary, done as SyncSource with both disks UpToDate, runs unfence-peer.
#[test]
fn a_primary_losing_its_peer_outdates_it_and_unfences_after_the_resync() {
    for seed in SEEDS {
        let mut w = pair_with_fencing(seed);
        w.cut_link();
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| w.nodes[A].replica.state().pdsk
                == DiskState::Outdated),
            "seed {seed}: A outdates B\n{}",
            w.report()
        );
        assert_eq!(w.nodes[A].host.fence_requests, 1, "seed {seed}");
        assert!(w.logged(
            A,
            "fence-peer helper returned 5 (peer is unreachable, assumed to be dead)"
        ));
        // B is Secondary: it asks nobody.
        assert_eq!(w.nodes[B].host.fence_requests, 0, "seed {seed}");
        for block in [3, 4, 50] {
            assert!(w.app_write(A, block).is_some(), "seed {seed}");
        }
        assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
        assert_eq!(w.nodes[A].replica.state().pdsk, DiskState::Outdated);
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, World::in_sync_and_idle),
            "seed {seed}: resynced\n{}",
            w.report()
        );
        assert_eq!(w.nodes[A].host.disk, w.nodes[B].host.disk, "seed {seed}");
        assert_eq!(w.nodes[B].host.helpers, [Helper::AfterResyncTarget]);
        assert_eq!(w.nodes[A].host.helpers, [Helper::UnfencePeer]);
    }
}

/// The Primary dies; its peer is promoted as Pacemaker does it: refused at first
/// (SS_PRIMARY_NOP), the handler outdates the dead peer, the promotion goes through. The old
/// Primary comes back and becomes SyncTarget of the survivor's data.
#[test]
fn the_survivor_is_promoted_after_fencing_and_the_old_primary_resyncs() {
    for seed in SEEDS {
        let mut w = pair_with_fencing(seed);
        for block in [1, 2] {
            assert!(w.app_write(A, block).is_some(), "seed {seed}");
        }
        assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent() && w.link_idle()));
        w.crash(A);
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[B].replica.state().conn
                < ConnState::Connected),
            "seed {seed}: B notices\n{}",
            w.report()
        );
        w.promote(B, false)
            .unwrap_or_else(|e| panic!("seed {seed}: B promoted: {e:?}\n{}", w.report()));
        let s = *w.nodes[B].replica.state();
        assert_eq!(
            (s.role, s.pdsk),
            (Role::Primary, DiskState::Outdated),
            "seed {seed}"
        );
        for block in [7, 8, 90] {
            assert!(w.app_write(B, block).is_some(), "seed {seed}");
        }
        assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
        w.restart(A, NetSettings::DEFAULT);
        assert!(
            w.run_until(w.now_ms() + 30_000, World::in_sync_and_idle),
            "seed {seed}: A resynced\n{}",
            w.report()
        );
        assert_eq!(w.nodes[A].host.disk, w.nodes[B].host.disk, "seed {seed}");
        assert_eq!(w.nodes[A].replica.state().role, Role::Secondary);
    }
}

/// A handler that fails (exit 1) keeps the peer's disk unknown: the promotion is refused
/// after drbd's four tries; `--force` goes on, as drbd says, into a possible split brain.
#[test]
fn a_broken_handler_refuses_the_promotion_unless_forced() {
    for seed in SEEDS {
        let mut w = pair_with_fencing(seed);
        w.crash(A);
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[B].replica.state().conn
                < ConnState::Connected)
        );
        w.nodes[B].host.fence_exit = 1;
        assert_eq!(
            w.promote(B, false),
            Err(StateError::PrimaryNop),
            "seed {seed}"
        );
        assert!(w.logged(B, "fence-peer helper broken, returned 1"));
        assert_eq!(w.nodes[B].replica.state().role, Role::Secondary);
        w.promote(B, true)
            .unwrap_or_else(|e| panic!("seed {seed}: forced: {e:?}\n{}", w.report()));
        assert!(w.logged(B, "Forced into split brain situation!"));
        let s = *w.nodes[B].replica.state();
        assert_eq!(
            (s.role, s.pdsk),
            (Role::Primary, DiskState::Outdated),
            "seed {seed}"
        );
    }
}

/// Without a fencing policy nothing is asked, and a lone Secondary is promoted at once.
#[test]
fn without_fencing_nobody_is_asked() {
    for seed in SEEDS {
        let mut w = pair_with_fencing(seed);
        for node in [A, B] {
            w.with_node(node, |r, _| r.set_fencing(Fencing::DontCare));
        }
        w.cut_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[B].replica.state().conn
                < ConnState::Connected)
        );
        w.with_node(B, |r, h| {
            r.request_change(StateChange::new().role(Role::Primary), false, h)
        });
        assert_eq!(
            w.nodes[B].replica.state().role,
            Role::Primary,
            "seed {seed}"
        );
        w.run_until_ms(w.now_ms() + 1_000);
        assert_eq!(w.nodes[A].host.fence_requests, 0, "seed {seed}");
        assert_eq!(w.nodes[B].replica.state().pdsk, DiskState::DUnknown);
    }
}
