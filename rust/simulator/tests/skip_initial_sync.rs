//! `new-current-uuid [--clear-bitmap]` (drbd's `drbd_adm_new_c_uuid`): on a freshly created,
//! connected pair `--clear-bitmap` skips the initial full sync (P_UUIDS with the skip flag,
//! both disks UpToDate, no resync), after which writes replicate under every protocol; the
//! refusals and the StandAlone rotation as drbd has them.

use drbd_core::genl::ret_code::RetCode;
use drbd_core::replication::connection::NetSettings;
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::{UuidSet, UUID_JUST_CREATED};
use drbd_sim::world::World;

const BLOCKS: u64 = 256;

/// Two nodes right after `create-md` (current UUID 4, every bitmap bit set), connected.
fn fresh_connected_pair(seed: u64, protocol: WireProtocol) -> World {
    let mut w = World::pair(
        seed,
        DiskState::Inconsistent,
        UuidSet::just_created(),
        BLOCKS * 8,
    );
    for n in &mut w.nodes {
        n.host.bitmap.set_all();
    }
    w.connect_both(NetSettings {
        protocol,
        ..NetSettings::DEFAULT
    });
    // Both Connected and every handshake packet delivered (as drbd, a late initial P_STATE
    // would report the peer's disk Inconsistent again).
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "seed {seed}: connected\n{}",
        w.report()
    );
    w
}

fn up_to_date_pair(w: &World) -> bool {
    w.nodes.iter().all(|n| {
        let s = n.replica.state();
        s.conn == ConnState::Connected
            && (s.disk, s.pdsk) == (DiskState::UpToDate, DiskState::UpToDate)
    })
}

#[test]
fn clear_bitmap_on_a_fresh_pair_skips_the_initial_sync_then_writes_replicate() {
    for seed in 0..60 {
        let protocol = [WireProtocol::A, WireProtocol::B, WireProtocol::C][(seed % 3) as usize];
        let mut w = fresh_connected_pair(seed, protocol);
        let node = (seed % 2) as usize;
        let skipped = w.with_node(node, |r, h| r.new_current_uuid(true, h));
        assert_eq!(skipped, Ok(true), "seed {seed}");
        assert!(
            w.run_until(w.now_ms() + 5_000, |w| up_to_date_pair(w) && w.link_idle()),
            "seed {seed}: UpToDate/UpToDate\n{}",
            w.report()
        );
        for (i, n) in w.nodes.iter().enumerate() {
            // No resync and no bitmap exchange: only Connected states were ever entered.
            assert!(
                n.host.states.iter().all(|s| s.conn <= ConnState::Connected),
                "seed {seed} node {i}: {:?}",
                n.host.states
            );
            assert_eq!(
                n.host.bitmap.count(),
                0,
                "seed {seed} node {i}: bitmap clear"
            );
            let u = n.replica.uuids();
            assert_ne!(u.current & !1, UUID_JUST_CREATED, "seed {seed} node {i}");
            assert_eq!((u.bitmap, u.history), (0, [0, 0]), "seed {seed} node {i}");
            assert_eq!(n.host.meta_writes.last(), Some(u), "seed {seed} node {i}");
        }
        assert_eq!(
            w.nodes[0].replica.uuids(),
            w.nodes[1].replica.uuids(),
            "seed {seed}: the peer adopted the new current UUID"
        );
        assert!(w.nodes[node]
            .host
            .log
            .iter()
            .any(|l| l == "Preparing to skip initial sync"));
        assert!(w.nodes[1 - node]
            .host
            .log
            .iter()
            .any(|l| l == "Accepted new current UUID, preparing to skip initial sync"));

        // Writes replicate: a plain promotion (no --force needed any more), then writes.
        w.with_node(node, |r, h| {
            r.request_change(StateChange::new().role(Role::Primary), false, h)
        });
        assert!(
            w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
                == Role::Primary),
            "seed {seed}: promoted\n{}",
            w.report()
        );
        for block in (0..BLOCKS).step_by(7) {
            assert!(
                w.app_write(node, block).is_some(),
                "seed {seed} block {block}"
            );
        }
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| w.quiescent() && w.link_idle()),
            "seed {seed}: writes done\n{}",
            w.report()
        );
        assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk, "seed {seed}");
        assert!(w.nodes[0].host.disk.iter().any(|&id| id != 0));
        assert!(up_to_date_pair(&w), "seed {seed}\n{}", w.report());
        for n in &w.nodes {
            assert_eq!(n.host.bitmap.count(), 0, "seed {seed}: nothing out of sync");
        }
    }
}

#[test]
fn refusals_follow_drbd() {
    let mut w = fresh_connected_pair(5, WireProtocol::C);
    // Connected without --clear-bitmap: drbd wants StandAlone.
    assert_eq!(
        w.with_node(0, |r, h| r.new_current_uuid(false, h)),
        Err(RetCode::ErrConnected)
    );
    assert_eq!(w.nodes[0].replica.uuids(), &UuidSet::just_created());
    assert_eq!(w.with_node(0, |r, h| r.new_current_uuid(true, h)), Ok(true));
    assert!(w.run_until(w.now_ms() + 5_000, up_to_date_pair));
    // The meta data is no longer fresh: a second --clear-bitmap is refused on both nodes.
    for node in 0..2 {
        assert_eq!(
            w.with_node(node, |r, h| r.new_current_uuid(true, h)),
            Err(RetCode::ErrConnected)
        );
    }
}

#[test]
fn standalone_rotates_the_uuids_and_keeps_the_disk_state() {
    let mut w = World::pair(
        9,
        DiskState::Inconsistent,
        UuidSet::from_array([0x1230, 0x4560, 0x7890, 0]),
        BLOCKS * 8,
    );
    w.nodes[0].host.bitmap.set_all();
    // Without --clear-bitmap: the bitmap UUID goes to the history, a new current UUID.
    assert_eq!(
        w.with_node(0, |r, h| r.new_current_uuid(false, h)),
        Ok(false)
    );
    let u = *w.nodes[0].replica.uuids();
    assert_eq!(u.bitmap, 0x1230);
    assert_eq!(u.history, [0x4560, 0x7890]);
    assert_eq!(w.nodes[0].host.bitmap.count(), BLOCKS);
    assert_eq!(w.nodes[0].host.meta_writes.last(), Some(&u));
    // With it: the bitmap is cleared as well; the disk stays what it was.
    assert_eq!(
        w.with_node(0, |r, h| r.new_current_uuid(true, h)),
        Ok(false)
    );
    assert_eq!(w.nodes[0].host.bitmap.count(), 0);
    assert_eq!(w.nodes[0].replica.uuids().bitmap, u.current);
    assert_eq!(w.nodes[0].replica.state().disk, DiskState::Inconsistent);
    // Diskless: ERR_NO_DISK.
    let mut w = World::pair(1, DiskState::Diskless, UuidSet::default(), BLOCKS * 8);
    assert_eq!(
        w.with_node(0, |r, h| r.new_current_uuid(true, h)),
        Err(RetCode::ErrNoDisk)
    );
}
