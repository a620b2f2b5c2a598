// SPDX-License-Identifier: GPL-2.0
//! Invariants every seeded schedule checks after every step, shared by the schedule tests
//! (replication with link faults, power loss). Each returns a description of the first
//! violation. Nodes that are powered off ([`crate::world::Node::down`]) are skipped: their
//! replica is stale until they restart.

use drbd_core::state::{is_valid_state, ConnState, Role, State, StateContext};

use crate::world::World;

/// Every running node's state passes drbd's validity rules, there are never two Primaries,
/// and two connected nodes with nothing in flight agree on roles and disk states and form a
/// connection-state pair drbd.ko forms.
pub fn states_allowed(w: &World) -> Result<(), String> {
    for (i, n) in w.nodes.iter().enumerate().filter(|(_, n)| !n.down) {
        let s = n.replica.state();
        let ctx = StateContext {
            has_net_conf: true,
            has_verify_alg: !n.replica.net().verify_alg.as_str().is_empty(),
            any_peer_primary: s.peer == Role::Primary,
            agreed_pro_version: 101,
            ..StateContext::new()
        };
        if let Err(e) = is_valid_state(s, &ctx) {
            return Err(format!(
                "node {i} is in a state drbd refuses ({e:?}): {s:?}"
            ));
        }
    }
    if w.nodes.iter().any(|n| n.down) {
        return Ok(());
    }
    let (a, b) = (w.nodes[0].replica.state(), w.nodes[1].replica.state());
    if a.role == Role::Primary && b.role == Role::Primary {
        return Err("two primaries".into());
    }
    let connected = |s: &State| s.conn >= ConnState::Connected;
    if connected(a) && connected(b) && w.link_idle() {
        if a.peer != b.role || b.peer != a.role {
            return Err(format!("roles disagree: {a:?} / {b:?}"));
        }
        if a.conn == ConnState::Connected
            && b.conn == ConnState::Connected
            && (a.pdsk != b.disk || b.pdsk != a.disk)
        {
            return Err(format!("disk states disagree: {a:?} / {b:?}"));
        }
        // With nothing in flight the two connection states must be a pair drbd.ko forms.
        use ConnState as C;
        let pair_ok = |x: ConnState, y: ConnState| {
            matches!(
                (x, y),
                (C::Connected, C::Connected)
                    | (C::WFBitMapS, C::WFBitMapT)
                    | (C::SyncSource, C::WFSyncUUID)
                    | (C::SyncSource, C::SyncTarget)
                    // A pause flag on either side pauses both (the peer's as peer_isp).
                    | (C::PausedSyncS, C::PausedSyncT)
                    | (C::VerifyS, C::VerifyT)
            )
        };
        // A node waiting for its `before-resync-*` handler: a source has not sent the sync
        // UUID yet (its peer waits for it); a target got it, its peer is resyncing already
        // (perhaps paused).
        let waiting = |i: usize, x: ConnState, y: ConnState| {
            w.nodes[i].replica.resync_handler_pending()
                && matches!(
                    (x, y),
                    (C::WFBitMapS | C::StartingSyncS, C::WFSyncUUID)
                        | (C::WFSyncUUID, C::SyncSource | C::PausedSyncS)
                )
        };
        let paired = pair_ok(a.conn, b.conn)
            || pair_ok(b.conn, a.conn)
            || waiting(0, a.conn, b.conn)
            || waiting(1, b.conn, a.conn);
        if !paired {
            return Err(format!(
                "connection states {} / {} do not form a pair",
                a.conn, b.conn
            ));
        }
    }
    Ok(())
}

/// With both nodes running and nothing in flight, every block of `0..blocks` where the two
/// disks differ is marked out of sync in one of the bitmaps (so a resync can repair it).
pub fn differences_are_marked(w: &World, blocks: u64) -> Result<(), String> {
    if !w.quiescent() || w.nodes.iter().any(|n| n.down) {
        return Ok(());
    }
    let [a, b] = &w.nodes;
    for block in 0..blocks {
        let i = block as usize;
        let (da, db) = (a.host.disk[i], b.host.disk[i]);
        let marked = a.host.bitmap.test(block) || b.host.bitmap.test(block);
        if da != db && !marked {
            return Err(format!(
                "block {block} differs ({da} vs {db}) and no bitmap knows it"
            ));
        }
    }
    Ok(())
}
