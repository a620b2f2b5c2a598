//! A hostile or broken peer: whatever decodes as an 8.4 packet is thrown at a `Replica` in
//! every phase of a connection, in any order. The replica may drop the connection, but it
//! never panics, never asks its host to send something the codec cannot encode (the
//! simulator's host panics then), and keeps its own state one drbd accepts.

use drbd_core::replication::connection::{NetSettings, Socket};
use drbd_core::state::{is_valid_state, ConnState, DiskState, Role, State, StateContext};
use drbd_core::uuid::UuidSet;
use drbd_core::wire::{self, Agreed, Cmd, Packet};
use drbd_sim::world::World;
use proptest::prelude::*;

fn world(seed: u64) -> World {
    let uuids = UuidSet::from_array([0x77aa_0000_0000_1000, 0, 0, 0]);
    World::pair(seed, DiskState::UpToDate, uuids, 512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_from_the_peer_never_breaks_the_replica(
        seed in 0u64..1000,
        connect_first in any::<bool>(),
        packets in proptest::collection::vec(
            (0usize..Cmd::ALL.len(), proptest::collection::vec(any::<u8>(), 0..200), any::<bool>()),
            1..60,
        ),
    ) {
        let mut w = world(seed);
        // The injected packets desynchronize node 0 from its honest peer, whose decoder then
        // sees garbage: a protocol error there, as in the engine, not a simulator bug.
        w.strict_decoding = false;
        if connect_first {
            w.connect_both(NetSettings::DEFAULT);
            w.run_until(5_000, |w| w.nodes[0].replica.state().conn == ConnState::Connected);
        }
        for (cmd, mut bytes, meta) in packets {
            let cmd = Cmd::ALL[cmd];
            let ctx = *w.nodes[0].replica.agreed();
            let ctx = if ctx.version < wire::PRO_VERSION_MIN { Agreed::PRE_HANDSHAKE } else { ctx };
            // A length the layout accepts (the random one if it does), filled with the random
            // bytes, so the decoder and then the replica see them.
            let wanted = bytes.len() as u32;
            let Some(layout) = std::iter::once(wanted)
                .chain(0..=300)
                .find_map(|len| wire::layout(cmd, len, &ctx).ok())
            else {
                continue;
            };
            let fill: Vec<u8> = bytes.iter().copied().chain(std::iter::repeat(0)).take(layout.fixed).collect();
            bytes = fill;
            let Ok(packet) = Packet::decode(cmd, &bytes, &ctx) else { continue };
            let socket = if meta { Socket::Meta } else { Socket::Data };
            let now = w.now_ms();
            w.with_node(0, |r, h| r.receive(socket, &packet, now, h));
            let s = *w.nodes[0].replica.state();
            // Only our own administrator changes our role.
            prop_assert_eq!(s.role, Role::Secondary, "the peer changed our role: {:?}", s);
            let ctx = StateContext {
                has_net_conf: true,
                agreed_pro_version: 101,
                ..StateContext::new()
            };
            let own = State { peer: Role::Unknown, pdsk: DiskState::DUnknown, conn: ConnState::StandAlone, ..s };
            prop_assert!(is_valid_state(&own, &ctx).is_ok(), "own state invalid: {:?}", s);
            w.step();
        }
        // Whatever happened, time goes on without panics.
        w.run_until_ms(w.now_ms() + 3_000);
    }
}

#[test]
fn the_peer_cannot_change_our_role() {
    let mut w = world(3);
    w.connect_both(NetSettings::DEFAULT);
    assert!(w.run_until(5_000, |w| (0..2)
        .all(|i| w.nodes[i].replica.state().conn == ConnState::Connected)));
    // From the peer's side, "your role" is its `peer` field.
    let change = drbd_core::state::StateChange::new().peer(Role::Primary);
    let req = wire::StateReq {
        mask: change.mask,
        val: change.val,
    };
    let now = w.now_ms();
    w.with_node(0, |r, h| {
        r.receive(Socket::Data, &Packet::StateChgReq(req), now, h)
    });
    assert_eq!(w.nodes[0].replica.state().role, Role::Secondary);
}
