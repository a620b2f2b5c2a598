//! The administrator's resync controls through the simulated link: `invalidate` and
//! `invalidate-remote` (connected: the cluster-wide change to StartingSyncT/StartingSyncS and a
//! full sync without a bitmap exchange; StandAlone: a full bitmap the next connection syncs),
//! `pause-sync` / `resume-sync` (the user's and the peer's pause flags, no resync requests
//! while paused), `resync-after` between two resources (two worlds run side by side, the
//! test playing the engine that knows both), the refusals with drbd's codes, and a seeded
//! schedule mixing all of them with writes and link cuts under the shared invariants.

use drbd_core::genl::ret_code::RetCode;
use drbd_core::proc_text::{write_device, DeviceStatus};
use drbd_core::replication::connection::{NetSettings, SyncSettings};
use drbd_core::replication::sync_control::{
    dependency_syncing, settle_dependencies, AdminRefusal, DependencyEntry, DependencyNode,
    FullSyncSide, RESYNC_AFTER_NONE,
};
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, State, StateChange, StateError};
use drbd_core::uuid::UuidSet;
use drbd_sim::invariants;
use drbd_sim::world::World;
use drbd_sim::SimRng;

const BLOCKS: u64 = 256;
const GENERATION: u64 = 0x5eed_0000_0000_1000;

fn uuids() -> UuidSet {
    UuidSet::from_array([GENERATION, 0, 0, 0])
}

/// A fixed-rate resync (c-plan-ahead 0) slow enough to be paused half way: 256 KiB/s moves
/// the 1 MiB device in about 4 s.
fn slow_sync() -> SyncSettings {
    SyncSettings {
        resync_rate: 256,
        controller: drbd_core::wire::Controller {
            plan_ahead: 0,
            ..SyncSettings::DEFAULT.controller
        },
    }
}

fn net(seed: u64) -> NetSettings {
    NetSettings {
        protocol: [WireProtocol::A, WireProtocol::B, WireProtocol::C][(seed % 3) as usize],
        ..NetSettings::DEFAULT
    }
}

/// Two UpToDate nodes with the same data generation, connected, nothing in flight.
fn connected_pair(seed: u64, sync: SyncSettings) -> World {
    let mut w = World::pair(seed, DiskState::UpToDate, uuids(), BLOCKS * 8);
    let net = net(seed);
    w.connect_with(0, net, sync);
    w.connect_with(1, net, sync);
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "seed {seed}: connected\n{}",
        w.report()
    );
    w
}

fn promote(w: &mut World, node: usize) {
    w.with_node(node, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
            == Role::Primary),
        "promotion of node {node}\n{}",
        w.report()
    );
}

/// Silent damage to a node's data (a disk that lost or garbled writes): invalidate repairs it.
fn scribble(w: &mut World, node: usize, marker: u64) {
    let host = &mut w.nodes[node].host;
    for (b, (disk, durable)) in host
        .disk
        .iter_mut()
        .zip(host.durable.iter_mut())
        .enumerate()
    {
        *disk = marker + b as u64;
        *durable = *disk;
    }
}

/// `invalidate` (`Target`) or `invalidate-remote` (`Source`) on `node`; the state result once
/// it finished (at once, or when the peer answered).
fn full_sync(
    w: &mut World,
    node: usize,
    side: FullSyncSide,
) -> Result<Result<(), StateError>, RetCode> {
    let now = w.now_ms();
    let before = w.nodes[node].host.finished.len();
    w.with_node(node, |r, h| match side {
        FullSyncSide::Target => r.invalidate(now, h),
        FullSyncSide::Source => r.invalidate_remote(now, h),
    })?;
    assert!(
        w.run_until(now + 5_000, |w| w.nodes[node].host.finished.len() > before),
        "node {node}: the request finished\n{}",
        w.report()
    );
    Ok(w.nodes[node].host.finished[before])
}

fn up_to_date_pair(w: &World) -> bool {
    w.nodes.iter().all(|n| {
        let s = n.replica.state();
        s.conn == ConnState::Connected
            && (s.disk, s.pdsk) == (DiskState::UpToDate, DiskState::UpToDate)
    })
}

fn settle(w: &mut World, seed: u64, what: &str) {
    assert!(
        w.run_until(w.now_ms() + 30_000, |w| up_to_date_pair(w)
            && w.quiescent()
            && w.link_idle()),
        "seed {seed}: {what}\n{}",
        w.report()
    );
}

/// Both disks equal, both bitmaps clear, the data generations agree.
fn assert_in_sync(w: &World, seed: u64) {
    assert_eq!(w.nodes[0].host.disk, w.nodes[1].host.disk, "seed {seed}");
    for (i, n) in w.nodes.iter().enumerate() {
        assert_eq!(n.host.bitmap.count(), 0, "seed {seed} node {i}");
    }
    let (a, b) = (w.nodes[0].replica.uuids(), w.nodes[1].replica.uuids());
    assert_eq!(a.current & !1, b.current & !1, "seed {seed}");
    assert_eq!((a.bitmap, b.bitmap), (0, 0), "seed {seed}");
    assert_eq!(
        a.history[0] & !1,
        b.history[0] & !1,
        "seed {seed}: the sync UUID"
    );
}

fn entered(w: &World, node: usize, conn: ConnState) -> bool {
    w.nodes[node].host.states.iter().any(|s| s.conn == conn)
}

/// Milliseconds and text of the delivered packets in the trace (`"<ms>ms <to><-…"`).
fn trace_packets(w: &World) -> Vec<(u64, String)> {
    w.trace()
        .filter_map(|t| {
            let (ms, rest) = t.split_once("ms ")?;
            Some((ms.parse().ok()?, rest.to_string()))
        })
        .collect()
}

/// Runs a connected full sync started by `requester` as `side`, with application writes on
/// the Primary during the resync; returns whether the target saw the source's `P_SYNC_UUID`
/// before the approval of its own request.
fn run_full_sync(seed: u64, requester: usize, side: FullSyncSide) -> Option<bool> {
    let mut w = connected_pair(seed, SyncSettings::DEFAULT);
    let primary = (seed % 2) as usize;
    promote(&mut w, primary);
    let (target, source) = match side {
        FullSyncSide::Target => (requester, 1 - requester),
        FullSyncSide::Source => (1 - requester, requester),
    };
    assert_eq!(
        target,
        1 - primary,
        "the tests only make the Secondary a target"
    );
    for block in (0..BLOCKS).step_by(5) {
        w.app_write(primary, block).expect("write accepted");
    }
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent() && w.link_idle()));
    scribble(&mut w, target, 1 << 40);
    let bits_before = w.nodes[target].host.bitmap.count();
    assert_eq!(bits_before, 0, "seed {seed}: nothing known out of sync");

    assert_eq!(
        full_sync(&mut w, requester, side),
        Ok(Ok(())),
        "seed {seed}"
    );
    // As soon as the change is approved and the target waits for the sync UUID: both bitmaps
    // are full and on disk.
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| matches!(
            w.nodes[target].replica.state().conn,
            ConnState::SyncTarget | ConnState::Connected
        )),
        "seed {seed}: resync started\n{}",
        w.report()
    );
    let overtaken = early_sync_uuid(&w, target);
    for block in (0..BLOCKS).step_by(3) {
        // Writes during the resync replicate (or wait for a conflicting resync request).
        let _ = w.app_write(primary, block);
        w.step();
    }
    settle(&mut w, seed, "full sync done");
    assert_in_sync(&w, seed);
    assert!(
        w.nodes[target].host.disk.iter().all(|&id| id < 1 << 40),
        "seed {seed}: every scribbled block was resynced"
    );
    // The cluster-wide change, the full bitmap, no bitmap exchange.
    assert!(entered(&w, target, ConnState::StartingSyncT), "seed {seed}");
    assert!(entered(&w, target, ConnState::WFSyncUUID), "seed {seed}");
    assert!(entered(&w, target, ConnState::SyncTarget), "seed {seed}");
    assert!(entered(&w, source, ConnState::StartingSyncS), "seed {seed}");
    assert!(entered(&w, source, ConnState::SyncSource), "seed {seed}");
    for n in 0..2 {
        assert!(
            !entered(&w, n, ConnState::WFBitMapS),
            "seed {seed} node {n}\n{}",
            w.report()
        );
        assert!(
            !entered(&w, n, ConnState::WFBitMapT),
            "seed {seed} node {n}"
        );
        assert_eq!(
            w.nodes[n].replica.state().role,
            [Role::Primary, Role::Secondary][(n != primary) as usize]
        );
    }
    overtaken
}

/// Whether the target received `P_SYNC_UUID` before the reply to its own `P_STATE_CHG_REQ`
/// (`None`: the target was not the requester, or the trace lost the start).
fn early_sync_uuid(w: &World, target: usize) -> Option<bool> {
    let to_target = format!("{target}<-");
    let packets = trace_packets(w);
    let position = |what: &str| {
        packets
            .iter()
            .position(|(_, p)| p.starts_with(&to_target) && p.contains(what))
    };
    let sync_uuid = position("SyncUuid(")?;
    let reply = position("StateChgReply(")?;
    Some(sync_uuid < reply)
}

#[test]
fn invalidate_on_the_secondary_resyncs_everything_from_the_primary() {
    let mut orders = [0usize; 2];
    for seed in 0..24 {
        let primary = (seed % 2) as usize;
        if let Some(early) = run_full_sync(seed, 1 - primary, FullSyncSide::Target) {
            orders[early as usize] += 1;
        }
    }
    // The source starts as it approves; its P_SYNC_UUID (data socket) may overtake its reply
    // (meta socket). Both orders happened and both were handled.
    assert!(orders[0] > 0 && orders[1] > 0, "orders seen {orders:?}");
}

#[test]
fn invalidate_remote_on_the_primary_resyncs_everything_to_the_secondary() {
    for seed in 0..12 {
        let primary = (seed % 2) as usize;
        run_full_sync(seed, primary, FullSyncSide::Source);
    }
}

#[test]
fn invalidate_while_standalone_then_connect_syncs_everything_toward_this_node() {
    for seed in 0..8 {
        let mut w = World::pair(seed, DiskState::UpToDate, uuids(), BLOCKS * 8);
        scribble(&mut w, 1, 1 << 40);
        assert_eq!(full_sync(&mut w, 1, FullSyncSide::Target), Ok(Ok(())));
        let n = &w.nodes[1];
        assert_eq!(n.replica.state().disk, DiskState::Inconsistent);
        assert_eq!(n.replica.state().conn, ConnState::StandAlone);
        assert_eq!(n.host.bitmap.count(), BLOCKS, "every bit set");
        assert_eq!(n.host.persisted.bitmap.count(), BLOCKS, "and written");
        assert_eq!(*n.replica.uuids(), uuids(), "no UUID changes");
        // Again: already Inconsistent is no error, the bitmap stays full.
        assert_eq!(full_sync(&mut w, 1, FullSyncSide::Target), Ok(Ok(())));

        w.connect_both(net(seed));
        settle(&mut w, seed, "the connect resynced node 1");
        assert_in_sync(&w, seed);
        assert!(entered(&w, 1, ConnState::SyncTarget), "seed {seed}");
        assert!(entered(&w, 0, ConnState::SyncSource), "seed {seed}");
        assert!(
            w.nodes[1].host.disk.iter().all(|&id| id == 0),
            "seed {seed}"
        );
    }
}

#[test]
fn invalidate_remote_on_a_standalone_primary_syncs_everything_to_the_peer() {
    for seed in 0..8 {
        let mut w = World::pair(seed, DiskState::UpToDate, uuids(), BLOCKS * 8);
        w.with_node(0, |r, h| {
            r.request_change(StateChange::new().role(Role::Primary), false, h)
        });
        assert_eq!(w.nodes[0].replica.state().role, Role::Primary);
        scribble(&mut w, 1, 1 << 40);
        assert_eq!(full_sync(&mut w, 0, FullSyncSide::Source), Ok(Ok(())));
        let s = *w.nodes[0].replica.state();
        assert_eq!(
            (s.disk, s.pdsk),
            (DiskState::UpToDate, DiskState::Inconsistent)
        );
        assert_eq!(w.nodes[0].host.bitmap.count(), BLOCKS);
        assert_eq!(w.nodes[0].host.persisted.bitmap.count(), BLOCKS);

        w.connect_both(net(seed));
        settle(&mut w, seed, "the connect resynced node 1");
        assert_in_sync(&w, seed);
        assert!(entered(&w, 0, ConnState::SyncSource), "seed {seed}");
        assert!(
            w.nodes[1].host.disk.iter().all(|&id| id == 0),
            "seed {seed}"
        );
    }
}

#[test]
fn refusals_carry_drbds_codes() {
    // No local disk: ERR_NO_DISK, before any state rule.
    let mut w = World::pair(1, DiskState::Diskless, uuids(), BLOCKS * 8);
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Target),
        Err(RetCode::ErrNoDisk)
    );
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Source),
        Err(RetCode::ErrNoDisk)
    );

    // StandAlone: the other role needs a connection.
    let mut w = World::pair(2, DiskState::UpToDate, uuids(), BLOCKS * 8);
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Source),
        Ok(Err(StateError::NeedConnection))
    );
    w.with_node(0, |r, h| {
        r.request_change(StateChange::new().role(Role::Primary), false, h)
    });
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Target),
        Ok(Err(StateError::NeedConnection))
    );
    // Waiting for the peer (WFConnection) is no connection either.
    w.connect(1, NetSettings::DEFAULT);
    assert_eq!(w.nodes[1].replica.state().conn, ConnState::WFConnection);
    assert_eq!(
        full_sync(&mut w, 1, FullSyncSide::Target),
        Ok(Err(StateError::NeedConnection))
    );
    assert_eq!(w.nodes[1].replica.state().disk, DiskState::UpToDate);

    // Connected: a Primary does not become SyncTarget, neither by its own invalidate nor by
    // its peer's invalidate-remote (which our peer refuses: SS_CW_FAILED_BY_PEER).
    let mut w = connected_pair(3, SyncSettings::DEFAULT);
    promote(&mut w, 0);
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Target),
        Ok(Err(StateError::NoUpToDateDisk))
    );
    assert_eq!(
        full_sync(&mut w, 1, FullSyncSide::Source),
        Ok(Err(StateError::CwFailedByPeer))
    );
    assert!(w.nodes[0]
        .host
        .log
        .iter()
        .all(|l| !l.contains("Implicitly upgraded")));
    assert!(w.run_until(w.now_ms() + 1_000, |w| w.link_idle()));
    assert!(w.both_in(ConnState::Connected), "{}", w.report());

    // A running resync refuses another one.
    let mut w = connected_pair(4, slow_sync());
    assert_eq!(full_sync(&mut w, 1, FullSyncSide::Target), Ok(Ok(())));
    assert!(
        w.run_until(w.now_ms() + 2_000, |w| w.nodes[1].replica.state().conn
            == ConnState::SyncTarget)
    );
    assert_eq!(
        full_sync(&mut w, 1, FullSyncSide::Target),
        Ok(Err(StateError::ResyncRunning))
    );
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Source),
        Ok(Err(StateError::ResyncRunning))
    );
    // invalidate needs good data on the peer: the peer's disk is Inconsistent now.
    assert_eq!(
        full_sync(&mut w, 0, FullSyncSide::Target),
        Ok(Err(StateError::ResyncRunning))
    );
    settle(&mut w, 4, "the first resync finishes");
    assert_in_sync(&w, 4);
}

#[test]
fn a_full_sync_needs_up_to_date_data_on_its_source() {
    // Two fresh, Inconsistent disks, connected: neither has data to sync from. drbd's implied
    // state adjustments would call the source UpToDate; here both directions are refused.
    let mut w = World::pair(5, DiskState::Inconsistent, uuids(), BLOCKS * 8);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()));
    for node in 0..2 {
        for side in [FullSyncSide::Target, FullSyncSide::Source] {
            assert_eq!(
                full_sync(&mut w, node, side),
                Ok(Err(StateError::NoUpToDateDisk)),
                "node {node} {side:?}"
            );
        }
    }
    assert!(w.both_in(ConnState::Connected));
    for n in &w.nodes {
        let s = n.replica.state();
        assert_eq!(
            (s.disk, s.pdsk),
            (DiskState::Inconsistent, DiskState::Inconsistent)
        );
    }
}

/// Resync requests delivered after `since_ms`.
fn requests_after(w: &World, since_ms: u64) -> usize {
    trace_packets(w)
        .iter()
        .filter(|(ms, p)| *ms > since_ms && p.contains("RsDataRequest"))
        .count()
}

fn proc_line(w: &World, node: usize) -> String {
    let dev = DeviceStatus {
        minor: 0,
        state: *w.nodes[node].replica.state(),
        protocol: Some(w.nodes[node].replica.net().protocol),
        ..DeviceStatus::default()
    };
    let mut out = String::new();
    write_device(&mut out, None, &dev, 0).expect("format");
    out.lines().next().unwrap_or_default().to_string()
}

fn pause(w: &mut World, node: usize) -> Result<(), AdminRefusal> {
    let now = w.now_ms();
    w.with_node(node, |r, h| r.pause_sync(now, h))
}

fn resume(w: &mut World, node: usize) -> Result<(), AdminRefusal> {
    let now = w.now_ms();
    w.with_node(node, |r, h| r.resume_sync(now, h))
}

#[test]
fn pause_sync_mid_resync_stops_the_requests_and_resume_sync_finishes_it() {
    for seed in 0..6 {
        let mut w = connected_pair(seed, slow_sync());
        scribble(&mut w, 1, 1 << 40);
        assert_eq!(full_sync(&mut w, 1, FullSyncSide::Target), Ok(Ok(())));
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| w.nodes[1].host.bitmap.count()
                < BLOCKS / 2),
            "seed {seed}: half way\n{}",
            w.report()
        );
        let paused_by = (seed % 2) as usize;
        assert_eq!(pause(&mut w, paused_by), Ok(()));
        assert_eq!(
            pause(&mut w, paused_by),
            Err(AdminRefusal::Ret(RetCode::ErrPauseIsSet))
        );
        // Requests already on their way are answered; then nothing moves.
        assert!(w.run_until(w.now_ms() + 2_000, |w| w.link_idle() && w.quiescent()));
        let (t0, left) = (w.now_ms(), w.nodes[1].host.bitmap.count());
        assert!(left > 0, "seed {seed}: paused before the end");
        w.run_until_ms(t0 + 3_000);
        assert_eq!(
            requests_after(&w, t0),
            0,
            "seed {seed}: no requests while paused"
        );
        assert_eq!(w.nodes[1].host.bitmap.count(), left, "seed {seed}");
        let (s0, s1) = (*w.nodes[0].replica.state(), *w.nodes[1].replica.state());
        assert_eq!(
            (s0.conn, s1.conn),
            (ConnState::PausedSyncS, ConnState::PausedSyncT)
        );
        // The pausing node shows `u`, its peer `p` (our P_STATE carried user_isp).
        assert!(w.nodes[paused_by].replica.state().user_isp);
        assert!(w.nodes[1 - paused_by].replica.state().peer_isp);
        assert!(!w.nodes[1 - paused_by].replica.state().user_isp);
        let lines = [proc_line(&w, paused_by), proc_line(&w, 1 - paused_by)];
        assert!(lines[0].contains(" r--u--"), "{}", lines[0]);
        assert!(lines[1].contains(" r-p---"), "{}", lines[1]);
        assert!(
            lines.iter().any(|l| l.starts_with(" 0: cs:PausedSyncT ")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(" 0: cs:PausedSyncS ")),
            "{lines:?}"
        );
        assert!(w.nodes[paused_by]
            .host
            .log
            .iter()
            .any(|l| l == "Resync suspended"));
        // The other node cannot resume what the peer paused.
        assert_eq!(
            resume(&mut w, 1 - paused_by),
            Err(AdminRefusal::Ret(RetCode::ErrPicPeerDep))
        );

        assert_eq!(resume(&mut w, paused_by), Ok(()));
        assert_eq!(
            resume(&mut w, paused_by),
            Err(AdminRefusal::Ret(RetCode::ErrPauseIsClear))
        );
        settle(&mut w, seed, "resumed resync finishes");
        assert!(requests_after(&w, t0) > 0, "seed {seed}");
        assert_in_sync(&w, seed);
        for n in &w.nodes {
            assert!(n.host.log.iter().any(|l| l == "Syncer continues."));
            let s = n.replica.state();
            assert!(!s.user_isp && !s.peer_isp, "seed {seed}: {s:?}");
        }
    }
}

#[test]
fn a_pause_set_before_the_resync_holds_it_from_the_start() {
    // pause-sync while StandAlone: the flag goes out with the first P_STATE, the resync the
    // connect decides starts paused on both sides.
    let mut w = World::new(
        6,
        [
            (
                drbd_sim::world::standalone(DiskState::UpToDate),
                uuids(),
                drbd_sim::world::geometry(BLOCKS * 8),
            ),
            (
                drbd_sim::world::standalone(DiskState::Inconsistent),
                uuids(),
                drbd_sim::world::geometry(BLOCKS * 8),
            ),
        ],
    );
    w.nodes[1].host.bitmap.set_all();
    assert_eq!(pause(&mut w, 0), Ok(()));
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| w.nodes[1].replica.state().conn
        == ConnState::PausedSyncT
        && w.link_idle()));
    let t0 = w.now_ms();
    w.run_until_ms(t0 + 2_000);
    assert_eq!(w.nodes[0].replica.state().conn, ConnState::PausedSyncS);
    assert_eq!(
        w.nodes[1].host.bitmap.count(),
        BLOCKS,
        "nothing synced while paused"
    );
    assert_eq!(requests_after(&w, 0), 0);
    assert_eq!(resume(&mut w, 0), Ok(()));
    settle(&mut w, 6, "resumed");
    assert_in_sync(&w, 6);
}

/// What the engine does on every node after any state change: a pass over both devices
/// (`settle_dependencies`, as `rust/engine/dependency.rs` runs it); minor 1 (in `r1`) resyncs
/// after minor 0 (in `r0`) on the same node.
fn tell_dependency(r0: &mut World, r1: &mut World) {
    for node in 0..2 {
        let mut entries = [
            DependencyEntry {
                minor: 0,
                node: DependencyNode {
                    state: *r0.nodes[node].replica.state(),
                    has_disk: true,
                    resync_after: RESYNC_AFTER_NONE,
                },
            },
            DependencyEntry {
                minor: 1,
                node: DependencyNode {
                    state: *r1.nodes[node].replica.state(),
                    has_disk: true,
                    resync_after: 0,
                },
            },
        ];
        // The check the pass repeats for each device.
        let lookup = |minor: u32| entries.get(minor as usize).map(|e| e.node);
        let syncing = dependency_syncing(1, lookup);
        settle_dependencies(&mut entries, |index, _, verdict| {
            let world = if index == 0 { &mut *r0 } else { &mut *r1 };
            let now = world.now_ms();
            world.with_node(node, |r, h| {
                r.dependency_syncing(verdict, now, h);
                *r.state()
            })
        });
        assert_eq!(entries[1].node.state.aftr_isp, syncing);
        assert!(
            !entries[0].node.state.aftr_isp,
            "minor 0 depends on nothing"
        );
    }
}

/// Two resources, each a pair of nodes; minor 1 resyncs after minor 0 on both nodes. The test
/// is the engine: after every slice of time it tells each replica of minor 1 whether its
/// dependency on the same node is resyncing.
#[test]
fn resync_after_holds_a_resync_until_the_dependency_finished() {
    for seed in 0..4 {
        let mut r0 = connected_pair(seed, slow_sync());
        let mut r1 = connected_pair(seed + 100, slow_sync());
        scribble(&mut r0, 1, 1 << 40);
        scribble(&mut r1, 1, 1 << 41);
        assert_eq!(full_sync(&mut r0, 1, FullSyncSide::Target), Ok(Ok(())));
        // Both ends: the target may still wait for its `before-resync-target` handler.
        assert!(r0.run_until(r0.now_ms() + 2_000, |w| w.link_idle()
            && w.nodes[0].replica.state().conn == ConnState::SyncSource
            && w.nodes[1].replica.state().conn == ConnState::SyncTarget));
        // The engine looks at the dependency after every state change.
        tell_dependency(&mut r0, &mut r1);
        assert!(r1.run_until(r1.now_ms() + 1_000, World::link_idle));
        for (node, n) in r1.nodes.iter().enumerate() {
            let s = n.replica.state();
            assert!(s.aftr_isp && s.peer_isp, "seed {seed} node {node}: {s:?}");
            assert!(
                proc_line(&r1, node).contains(" rap---"),
                "{}",
                proc_line(&r1, node)
            );
        }
        // Its own resync starts paused.
        assert_eq!(full_sync(&mut r1, 1, FullSyncSide::Target), Ok(Ok(())));
        let mut r1_waited_while_r0_synced = false;
        let mut r1_synced_while_r0_synced = false;
        let mut t = r0.now_ms().max(r1.now_ms());
        let done = |w: &World| up_to_date_pair(w) && w.quiescent() && w.link_idle();
        while !(done(&r0) && done(&r1)) {
            assert!(
                t < 60_000,
                "seed {seed}: both resyncs finish\n{}\n{}",
                r0.report(),
                r1.report()
            );
            t += 20;
            r0.run_until_ms(t);
            r1.run_until_ms(t);
            tell_dependency(&mut r0, &mut r1);
            let r0_syncing = r0.nodes[1].replica.state().conn.is_sync();
            let r1_state = *r1.nodes[1].replica.state();
            if r0_syncing && r1_state.conn == ConnState::PausedSyncT && r1_state.aftr_isp {
                r1_waited_while_r0_synced = true;
            }
            if r0_syncing && r1_state.conn == ConnState::SyncTarget {
                r1_synced_while_r0_synced = true;
            }
        }
        assert!(r1_waited_while_r0_synced, "seed {seed}");
        assert!(!r1_synced_while_r0_synced, "seed {seed}");
        assert_in_sync(&r0, seed);
        assert_in_sync(&r1, seed);
        for n in &r1.nodes {
            let s = n.replica.state();
            assert!(
                !s.aftr_isp && !s.peer_isp,
                "seed {seed}: flags cleared: {s:?}"
            );
            assert!(n.host.log.iter().any(|l| l == "Syncer continues."));
        }
        // Minor 0 never waited.
        for n in &r0.nodes {
            assert!(n
                .host
                .states
                .iter()
                .all(|s: &State| !s.aftr_isp && !s.peer_isp));
        }
    }
}

/// A seeded schedule: writes on the Primary, invalidate / invalidate-remote / pause / resume
/// on either node, link cuts; the shared invariants after every step; at the end, resumed and
/// healed, both disks equal.
fn run_schedule(seed: u64) -> Result<(), String> {
    let mut w = connected_pair(seed, SyncSettings::DEFAULT);
    promote(&mut w, 0);
    let mut rng = SimRng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    for _ in 0..rng.below(300) + 100 {
        let node = rng.below(2) as usize;
        let now = w.now_ms();
        match rng.below(100) {
            0..=29 => {
                let _ = w.app_write(0, rng.below(BLOCKS));
            }
            30..=32 => {
                let _ = w.with_node(node, |r, h| r.invalidate(now, h));
            }
            33..=35 => {
                let _ = w.with_node(node, |r, h| r.invalidate_remote(now, h));
            }
            36..=39 => {
                let _ = w.with_node(node, |r, h| r.pause_sync(now, h));
            }
            40..=45 => {
                let _ = w.with_node(node, |r, h| r.resume_sync(now, h));
            }
            46 if w.link_up => w.cut_link(),
            47..=50 if !w.link_up => w.heal_link(),
            _ => {
                w.step();
            }
        }
        invariants::states_allowed(&w).map_err(|e| format!("{e}\n{}", w.report()))?;
        invariants::differences_are_marked(&w, BLOCKS)
            .map_err(|e| format!("{e}\n{}", w.report()))?;
    }
    w.heal_link();
    let limit = w.now_ms() + 60_000;
    while w.now_ms() < limit && !(up_to_date_pair(&w) && w.quiescent() && w.link_idle()) {
        // Resumed as soon as the state allows it (not in the middle of a handshake).
        for node in 0..2 {
            if w.nodes[node].replica.state().user_isp {
                let now = w.now_ms();
                let _ = w.with_node(node, |r, h| r.resume_sync(now, h));
            }
        }
        w.step();
        invariants::states_allowed(&w).map_err(|e| format!("{e}\n{}", w.report()))?;
    }
    if !up_to_date_pair(&w) || w.nodes[0].host.disk != w.nodes[1].host.disk {
        return Err(format!("not in sync after settling\n{}", w.report()));
    }
    if w.nodes.iter().any(|n| n.host.bad_acks > 0) {
        return Err("acks matched no request".into());
    }
    Ok(())
}

#[test]
fn seeded_schedules_of_invalidate_and_pause_hold_the_invariants() {
    let seeds = drbd_sim::env_u64("DRBD_SIM_SEEDS").unwrap_or(60);
    for seed in 0..seeds {
        if let Err(e) = run_schedule(seed) {
            panic!("seed {seed} failed: {e}");
        }
    }
}
