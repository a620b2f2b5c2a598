//! Split brain and its recovery (`wire-protocol.md` §7.4, §8): two connected nodes lose their
//! link, write independently (as Primary on one or both sides), and reconnect. Each after-sb
//! policy must pick the node drbd picks, log drbd's line on both nodes, and leave both disks
//! identical with the survivor's data; `disconnect` leaves both StandAlone with their data.

use drbd_core::replication::connection::NetSettings;
use drbd_core::replication::sync_handshake::{AfterSb, Helper, RrConflict};
use drbd_core::state::{ConnState, DiskState, Role, StateChange};
use drbd_core::uuid::UuidSet;
use drbd_sim::world::World;
use AfterSb::*;

const BLOCKS: u64 = 256;
const A: usize = 0;
const B: usize = 1;

/// How the two nodes diverge.
#[derive(Clone, Copy)]
struct Divergence {
    /// Net options of each node (the after-sb policies).
    net: [NetSettings; 2],
    /// Primary while still connected (so it was Primary when the link was lost: bit 0 of
    /// its new bitmap UUID is set, the "older primary").
    primary_at_cut: [bool; 2],
    /// Promoted while disconnected (the "younger primary").
    promote_after_cut: [bool; 2],
    /// Blocks each node writes while disconnected.
    writes: [&'static [u64]; 2],
    /// Demoted again before the link comes back.
    demote_before_reconnect: [bool; 2],
}

const A_WRITES: &[u64] = &[1, 2, 3, 40, 41];
const B_WRITES: &[u64] = &[2, 3, 4, 100, 101, 102, 103, 104, 105, 106, 107, 200];

fn policies(p0: AfterSb, p1: AfterSb, p2: AfterSb) -> NetSettings {
    NetSettings {
        after_sb: [p0.wire(), p1.wire(), p2.wire()],
        ..NetSettings::DEFAULT
    }
}

impl Divergence {
    /// Both Secondary when reconnecting; A was Primary at the cut, B promoted after it.
    fn zero_primaries(net: NetSettings) -> Self {
        Divergence {
            net: [net, net],
            primary_at_cut: [true, false],
            promote_after_cut: [false, true],
            writes: [A_WRITES, B_WRITES],
            demote_before_reconnect: [true, true],
        }
    }

    /// A stays Primary throughout; B is Primary only while disconnected.
    fn one_primary(net: NetSettings) -> Self {
        Divergence {
            demote_before_reconnect: [false, true],
            ..Self::zero_primaries(net)
        }
    }

    /// Both Primary when reconnecting.
    fn two_primaries(net: NetSettings) -> Self {
        Divergence {
            demote_before_reconnect: [false, false],
            ..Self::zero_primaries(net)
        }
    }
}

fn role(w: &mut World, node: usize, role: Role) {
    w.with_node(node, |r, h| {
        r.request_change(StateChange::new().role(role), false, h)
    });
    assert!(
        w.run_until(w.now_ms() + 5_000, |w| w.nodes[node].replica.state().role
            == role),
        "node {node} {role:?}\n{}",
        w.report()
    );
}

/// Two UpToDate nodes with the same data, connected, then diverged as `d` says; the link is
/// still down.
fn diverge(seed: u64, d: Divergence) -> World {
    let uuids = UuidSet::from_array([0x6d1a_22c0_47e8_1234, 0, 0x1111_0000, 0]);
    let mut w = World::pair(seed, DiskState::UpToDate, uuids, BLOCKS * 8);
    w.connect(A, d.net[A]);
    w.connect(B, d.net[B]);
    assert!(
        w.run_until(5_000, |w| w.both_in(ConnState::Connected) && w.link_idle()),
        "seed {seed}: connected\n{}",
        w.report()
    );
    for node in [A, B] {
        if d.primary_at_cut[node] {
            role(&mut w, node, Role::Primary);
        }
    }
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.link_idle()));
    w.cut_link();
    for node in [A, B] {
        if d.promote_after_cut[node] {
            role(&mut w, node, Role::Primary);
        }
        for &block in d.writes[node] {
            assert!(
                w.app_write(node, block).is_some(),
                "seed {seed} node {node}"
            );
        }
    }
    assert!(w.run_until(w.now_ms() + 5_000, |w| w.quiescent()));
    for node in [A, B] {
        if d.demote_before_reconnect[node] {
            role(&mut w, node, Role::Secondary);
        }
        assert_eq!(
            w.nodes[node].host.bitmap.count(),
            d.writes[node].len() as u64
        );
    }
    // What each node's disk holds now.
    assert_ne!(w.nodes[A].host.disk, w.nodes[B].host.disk);
    w
}

/// The split-brain helpers a node ran (without those that end every resync).
fn split_brain_helpers(w: &World, node: usize) -> Vec<Helper> {
    w.nodes[node]
        .host
        .helpers
        .iter()
        .copied()
        .filter(|h| !matches!(h, Helper::AfterResyncTarget | Helper::UnfencePeer))
        .collect()
}

/// Reconnect and expect `winner`'s data on both disks, with drbd's line on both nodes.
#[track_caller]
fn expect_winner(seed: u64, d: Divergence, winner: usize, primaries: u8) -> World {
    let mut w = diverge(seed, d);
    let data = w.nodes[winner].host.disk.clone();
    w.heal_link();
    assert!(
        w.run_until(w.now_ms() + 20_000, World::in_sync_and_idle),
        "seed {seed}: resynced\n{}",
        w.report()
    );
    for node in [A, B] {
        let from = if node == winner { "this" } else { "peer" };
        let line = format!(
            "Split-Brain detected, {primaries} primaries, automatically solved. Sync from {from} node"
        );
        assert!(
            w.logged(node, &line),
            "seed {seed} node {node}: {line}\n{}",
            w.report()
        );
        assert!(
            w.logged(node, "uuid_compare()=100 by rule 90"),
            "seed {seed}"
        );
        assert_eq!(
            split_brain_helpers(&w, node),
            [Helper::InitialSplitBrain],
            "seed {seed} node {node}"
        );
        // The victim's resync as SyncTarget ended with its helper, as drbd.ko's does.
        assert_eq!(
            w.nodes[node].host.helpers.last() == Some(&Helper::AfterResyncTarget),
            node != winner,
            "seed {seed} node {node}: {:?}",
            w.nodes[node].host.helpers
        );
        assert_eq!(
            w.nodes[node].host.disk, data,
            "seed {seed} node {node}: survivor's data"
        );
        assert_eq!(w.nodes[node].host.bitmap.count(), 0, "seed {seed}");
        // Only the survivor was ever SyncSource.
        let was_source = w.nodes[node]
            .host
            .states
            .iter()
            .any(|s| s.conn == ConnState::SyncSource);
        assert_eq!(was_source, node == winner, "seed {seed} node {node}");
    }
    // Bitmap-based (from a 100 result): the exchanged bitmaps, the blocks either node wrote,
    // were enough; nothing asked for a full sync.
    for node in [A, B] {
        assert!(!w.logged(
            node,
            "Writing the whole bitmap, full sync required after drbd_sync_handshake."
        ));
    }
    w
}

/// Reconnect and expect both to end StandAlone with the data they had.
#[track_caller]
fn expect_standalone(seed: u64, d: Divergence) -> World {
    let mut w = diverge(seed, d);
    let disks = [w.nodes[A].host.disk.clone(), w.nodes[B].host.disk.clone()];
    w.heal_link();
    assert!(
        w.run_until(w.now_ms() + 10_000, |w| w.both_in(ConnState::StandAlone)),
        "seed {seed}: both StandAlone\n{}",
        w.report()
    );
    w.run_until_ms(w.now_ms() + 1_000);
    for node in [A, B] {
        assert_eq!(
            w.nodes[node].host.disk, disks[node],
            "seed {seed} node {node}"
        );
        assert!(
            w.logged(
                node,
                "Split-Brain detected but unresolved, dropping connection!"
            ),
            "seed {seed} node {node}\n{}",
            w.report()
        );
        assert_eq!(
            split_brain_helpers(&w, node),
            [Helper::InitialSplitBrain, Helper::SplitBrain],
            "seed {seed} node {node}"
        );
        assert_eq!(w.nodes[node].replica.state().conn, ConnState::StandAlone);
    }
    w
}

const SEEDS: std::ops::Range<u64> = 0..12;

#[test]
fn zero_primaries_discard_younger_primary_keeps_the_older_primary() {
    for seed in SEEDS {
        let d = Divergence::zero_primaries(policies(DiscardYoungerPrimary, Disconnect, Disconnect));
        expect_winner(seed, d, A, 0);
    }
}

#[test]
fn zero_primaries_discard_older_primary_keeps_the_younger_primary() {
    for seed in SEEDS {
        let d = Divergence::zero_primaries(policies(DiscardOlderPrimary, Disconnect, Disconnect));
        expect_winner(seed, d, B, 0);
    }
}

#[test]
fn zero_primaries_younger_primary_falls_through_to_least_changes() {
    for seed in SEEDS {
        // Both promoted after the cut: neither is older; A changed less and is discarded.
        let mut d =
            Divergence::zero_primaries(policies(DiscardYoungerPrimary, Disconnect, Disconnect));
        d.primary_at_cut = [false, false];
        d.promote_after_cut = [true, true];
        let w = expect_winner(seed, d, B, 0);
        for node in [A, B] {
            assert!(w.logged(node,
                "Discard younger/older primary did not find a decision\nUsing discard-least-changes instead"
            ));
        }
    }
}

#[test]
fn zero_primaries_discard_least_changes() {
    for seed in SEEDS {
        let d = Divergence::zero_primaries(policies(DiscardLeastChanges, Disconnect, Disconnect));
        expect_winner(seed, d, B, 0);
        // The other way round.
        let mut d = d;
        d.writes = [B_WRITES, A_WRITES];
        expect_winner(seed, d, A, 0);
    }
}

#[test]
fn zero_primaries_discard_zero_changes() {
    for seed in SEEDS {
        let mut d =
            Divergence::zero_primaries(policies(DiscardZeroChanges, Disconnect, Disconnect));
        // A went through a new generation but wrote nothing: it is discarded.
        d.writes = [&[], B_WRITES];
        expect_winner(seed, d, B, 0);
        // Both changed something: not resolved.
        let d = Divergence::zero_primaries(policies(DiscardZeroChanges, Disconnect, Disconnect));
        expect_standalone(seed, d);
    }
}

#[test]
fn zero_primaries_discard_local_on_one_node_is_discard_remote_on_the_other() {
    for seed in SEEDS {
        let mut d = Divergence::zero_primaries(policies(DiscardLocal, Disconnect, Disconnect));
        d.net[B] = policies(DiscardRemote, Disconnect, Disconnect);
        expect_winner(seed, d, B, 0);
    }
}

#[test]
fn zero_primaries_disconnect_leaves_both_standalone() {
    for seed in SEEDS {
        expect_standalone(seed, Divergence::zero_primaries(NetSettings::DEFAULT));
    }
}

#[test]
fn one_primary_discard_secondary() {
    for seed in SEEDS {
        let d = Divergence::one_primary(policies(Disconnect, DiscardSecondary, Disconnect));
        let w = expect_winner(seed, d, A, 1);
        assert_eq!(w.nodes[A].replica.state().role, Role::Primary);
    }
}

#[test]
fn one_primary_consensus_only_discards_the_secondary() {
    for seed in SEEDS {
        // B (the Secondary) changed more: least-changes would discard the Primary, no
        // consensus.
        let d = Divergence::one_primary(policies(DiscardLeastChanges, Consensus, Disconnect));
        expect_standalone(seed, d);
        // B changed less: it is discarded.
        let mut d = d;
        d.writes = [B_WRITES, A_WRITES];
        expect_winner(seed, d, A, 1);
    }
}

#[test]
fn one_primary_violently_as0p_may_discard_the_primary() {
    for seed in SEEDS {
        let mut net = policies(DiscardOlderPrimary, ViolentlyAs0p, Disconnect);
        net.rr_conflict = RrConflict::Violently;
        let w = expect_winner(seed, Divergence::one_primary(net), B, 1);
        assert_eq!(w.nodes[A].replica.state().role, Role::Primary);
        assert!(w.logged(
            A,
            "Becoming SyncTarget, violating the stable-data assumption"
        ));
    }
}

#[test]
fn one_primary_call_pri_lost_after_sb_demotes_the_losing_primary() {
    for seed in SEEDS {
        let net = policies(DiscardOlderPrimary, CallPriLostAfterSb, Disconnect);
        let w = expect_winner(seed, Divergence::one_primary(net), B, 1);
        assert_eq!(w.nodes[A].replica.state().role, Role::Secondary);
        assert!(w.logged(A, "Successfully gave up primary role."));
        // The demotion cleared bit 0 of the current UUID, and it was written.
        assert_eq!(w.nodes[A].replica.uuids().current & 1, 0);
    }
}

#[test]
fn one_primary_call_pri_lost_after_sb_with_the_device_open_calls_the_helper() {
    for seed in SEEDS {
        let net = policies(DiscardOlderPrimary, CallPriLostAfterSb, Disconnect);
        let mut w = diverge(seed, Divergence::one_primary(net));
        let disks = [w.nodes[A].host.disk.clone(), w.nodes[B].host.disk.clone()];
        w.with_node(A, |r, _| r.set_device_open(true));
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| w.nodes[A].replica.state().conn
                == ConnState::StandAlone),
            "seed {seed}\n{}",
            w.report()
        );
        w.run_until_ms(w.now_ms() + 2_000);
        assert_eq!(
            split_brain_helpers(&w, A),
            [
                Helper::InitialSplitBrain,
                Helper::PriLostAfterSb,
                Helper::SplitBrain
            ]
        );
        assert!(w.logged(A, "State change failed: Device is held open by someone"));
        assert_eq!(w.nodes[A].replica.state().role, Role::Primary);
        for node in [A, B] {
            assert_eq!(
                w.nodes[node].host.disk, disks[node],
                "seed {seed} node {node}"
            );
            assert_ne!(w.nodes[node].replica.state().conn, ConnState::Connected);
        }
    }
}

#[test]
fn two_primaries_call_pri_lost_after_sb_demotes_the_loser() {
    for seed in SEEDS {
        let mut net = policies(DiscardYoungerPrimary, Disconnect, CallPriLostAfterSb);
        net.two_primaries = true;
        let w = expect_winner(seed, Divergence::two_primaries(net), A, 2);
        assert_eq!(w.nodes[A].replica.state().role, Role::Primary);
        assert_eq!(w.nodes[B].replica.state().role, Role::Secondary);
        assert!(w.logged(B, "Successfully gave up primary role."));
    }
}

#[test]
fn two_primaries_violently_as0p() {
    for seed in SEEDS {
        let mut net = policies(DiscardOlderPrimary, Disconnect, ViolentlyAs0p);
        net.two_primaries = true;
        net.rr_conflict = RrConflict::Violently;
        let w = expect_winner(seed, Divergence::two_primaries(net), B, 2);
        for node in [A, B] {
            assert_eq!(w.nodes[node].replica.state().role, Role::Primary);
        }
    }
}

#[test]
fn two_primaries_disconnect_leaves_both_standalone() {
    for seed in SEEDS {
        let mut net = NetSettings::DEFAULT;
        net.two_primaries = true;
        expect_standalone(seed, Divergence::two_primaries(net));
    }
}

/// The recorded session (`splitbrain.node-{a,b}.dmesg.txt`): both Primary with the default
/// policies; unresolved on both nodes. Then b becomes Secondary and reconnects with
/// `--discard-my-data`: "manually solved", a's data on both disks.
#[test]
fn the_recorded_split_brain_session() {
    for seed in SEEDS {
        let d = Divergence::two_primaries(NetSettings::DEFAULT);
        let mut w = expect_standalone(seed, d);
        let data = w.nodes[A].host.disk.clone();
        role(&mut w, B, Role::Secondary);
        w.connect(
            B,
            NetSettings {
                discard_my_data: true,
                ..NetSettings::DEFAULT
            },
        );
        w.connect(A, NetSettings::DEFAULT);
        assert!(
            w.run_until(w.now_ms() + 20_000, World::in_sync_and_idle),
            "seed {seed}\n{}",
            w.report()
        );
        assert!(w.logged(
            A,
            "Split-Brain detected, manually solved. Sync from this node"
        ));
        assert!(w.logged(
            B,
            "Split-Brain detected, manually solved. Sync from peer node"
        ));
        for node in [A, B] {
            assert_eq!(w.nodes[node].host.disk, data, "seed {seed} node {node}");
        }
    }
}

/// Without `allow-two-primaries` a 2pri resolution cannot connect: the loser gives up its role,
/// but the survivor saw two Primaries in the first `P_STATE` and refuses the state
/// (`receive_state` checks it like a requested change) — it ends StandAlone, no data moves.
#[test]
fn two_primaries_without_allow_two_primaries_cannot_connect() {
    for seed in SEEDS {
        let net = policies(DiscardYoungerPrimary, Disconnect, CallPriLostAfterSb);
        let mut w = diverge(seed, Divergence::two_primaries(net));
        let disks = [w.nodes[A].host.disk.clone(), w.nodes[B].host.disk.clone()];
        w.heal_link();
        assert!(
            w.run_until(w.now_ms() + 10_000, |w| w.nodes[A].replica.state().conn
                == ConnState::StandAlone),
            "seed {seed}\n{}",
            w.report()
        );
        w.run_until_ms(w.now_ms() + 2_000);
        assert!(w.logged(
            A,
            "State change failed: Multiple primaries not allowed by config"
        ));
        assert!(w.logged(B, "Successfully gave up primary role."));
        for node in [A, B] {
            assert_eq!(
                w.nodes[node].host.disk, disks[node],
                "seed {seed} node {node}"
            );
        }
    }
}
