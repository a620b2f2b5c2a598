//! The `before-resync-target` / `before-resync-source` handlers in two simulated nodes: a
//! resync starts only once its handler agreed; a refusal drops the connection before either
//! disk changed ([`drbd_core::replication::resync_handlers`]). The handler's answer is
//! scripted ([`drbd_sim::world::NodeHost::resync_handler_exit`]); the world answers every
//! other request at once and the rest at the node's next tick, so both paths run.

use drbd_core::replication::connection::NetSettings;
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::state::{ConnState, DiskState, Role};
use drbd_core::uuid::UuidSet;
use drbd_sim::world::World;

const BLOCKS: u64 = 128;
const A: usize = 0;
const B: usize = 1;
const SEEDS: std::ops::Range<u64> = 0..8;

/// Connected and in sync, A Primary; then the link breaks and A writes three blocks B
/// misses. Returns with the link still cut.
fn primary_wrote_while_apart(seed: u64) -> World {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0x1111_0000, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8);
    w.connect_both(NetSettings::DEFAULT);
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "seed {seed}: connected\n{}",
        w.report()
    );
    w.promote(A, false).expect("A promoted while connected");
    w.cut_link();
    assert!(
        w.run_until(w.now_ms() + 30_000, |w| w.nodes[A].replica.state().conn
            < ConnState::Connected
            && w.nodes[B].replica.state().conn < ConnState::Connected),
        "seed {seed}: both notice\n{}",
        w.report()
    );
    for block in [3, 4, 50] {
        assert!(w.app_write(A, block).is_some(), "seed {seed}");
    }
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
    w
}

/// B's `before-resync-target` refuses: B drops the connection and stays StandAlone with its
/// disk as it was (not Inconsistent, nothing written). Its next connect, with a handler that
/// agrees, resyncs what A wrote.
#[test]
fn a_refusing_before_resync_target_leaves_the_target_untouched() {
    for seed in SEEDS {
        let mut w = primary_wrote_while_apart(seed);
        let b_disk = w.nodes[B].host.disk.clone();
        w.nodes[B].host.resync_handler_exit = 1;
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[B].replica.state().conn
                == ConnState::StandAlone),
            "seed {seed}: B drops the connection\n{}",
            w.report()
        );
        assert!(w.logged(
            B,
            "before-resync-target handler returned 1, dropping connection."
        ));
        assert_eq!(
            w.nodes[B].host.resync_handlers_run,
            [Helper::BeforeResyncTarget],
            "seed {seed}"
        );
        assert_ne!(w.nodes[B].replica.state().disk, DiskState::Inconsistent);
        assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
        assert_eq!(
            w.nodes[B].host.disk, b_disk,
            "seed {seed}: nothing resynced"
        );
        assert_eq!(w.nodes[A].replica.state().role, Role::Primary);

        w.nodes[B].host.resync_handler_exit = 0;
        w.connect(B, NetSettings::DEFAULT);
        assert!(
            w.run_until(w.now_ms() + 30_000, World::in_sync_and_idle),
            "seed {seed}: resynced at the next connect\n{}",
            w.report()
        );
        assert_eq!(w.nodes[A].host.disk, w.nodes[B].host.disk, "seed {seed}");
        assert_eq!(
            w.nodes[B].host.resync_handlers_run,
            [Helper::BeforeResyncTarget; 2]
        );
        assert_eq!(
            w.nodes[A].host.resync_handlers_run,
            [Helper::BeforeResyncSource; 2],
            "seed {seed}: the source ran its handler at both attempts"
        );
    }
}

/// A's `before-resync-source`: 3 is ignored ("old userland tools") and the resync runs; any
/// other failure drops the connection on A's side before it sent the sync UUID.
#[test]
fn before_resync_source_exit_3_is_ignored_others_drop_the_connection() {
    for seed in SEEDS {
        let mut w = primary_wrote_while_apart(seed);
        w.nodes[A].host.resync_handler_exit = 3;
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, World::in_sync_and_idle),
            "seed {seed}: resynced\n{}",
            w.report()
        );
        assert!(w.logged(
            A,
            "before-resync-source handler returned 3, ignoring. Old userland tools?"
        ));
        assert_eq!(w.nodes[A].host.disk, w.nodes[B].host.disk, "seed {seed}");

        let mut w = primary_wrote_while_apart(seed);
        let b_disk = w.nodes[B].host.disk.clone();
        w.nodes[A].host.resync_handler_exit = 5;
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 30_000, |w| w.nodes[A].replica.state().conn
                == ConnState::StandAlone),
            "seed {seed}: A drops the connection\n{}",
            w.report()
        );
        assert!(w.logged(
            A,
            "before-resync-source handler returned 5, dropping connection."
        ));
        assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
        assert_eq!(
            w.nodes[B].host.disk, b_disk,
            "seed {seed}: nothing resynced"
        );
        assert_ne!(w.nodes[B].replica.state().conn, ConnState::SyncTarget);
    }
}
