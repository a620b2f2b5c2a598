// SPDX-License-Identifier: GPL-2.0
//! The core's connection state machine in kernel context: two `Replica`s, each with a data
//! and a meta TCP connection over loopback (the socket glue), connect as two drbd nodes do —
//! initial packets, feature handshake, parameter exchange, sync handshake — and then run a
//! cluster-wide state change (a promotion approved by the peer, one refused because the peer
//! is Primary). One reader thread per socket feeds whole packets to its node's replica under
//! the node's mutex, as the receiver and asender threads of the module will; the case's own
//! thread drives the timers and checks.
//!
//! What this proves beyond the host tests: the core runs on a kernel stack with the kernel's
//! compiler flags, the two-phase receive (header, layout, fixed part, data) works on real
//! sockets, and threads, locks and teardown pass lockdep, KFENCE and kmemleak.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::time::{ktime_ms_delta, Ktime};

use crate::drbd_core::bitmap::Bitmap;
use crate::drbd_core::replication::conflicts::{Slot, SlotEntry};
use crate::drbd_core::replication::connection::{
    classify_first_packet, DiskGeometry, Host, Level, NetSettings, Replica, Socket, Storage,
    SyncSettings, CONFLICT_SLOTS, EPOCH_RING,
};
use crate::drbd_core::replication::epochs::SentEpoch;
use crate::drbd_core::replication::resync_handlers::ResyncHandlerTicket;
use crate::drbd_core::replication::resync_path::{HeldWrite, PeerRead};
use crate::drbd_core::replication::sync_handshake::Helper;
use crate::drbd_core::state::{ConnState, DiskState, Role, State, StateChange, StateError};
use crate::drbd_core::uuid::UuidSet;
use crate::drbd_core::wire::{self, AckKind, Agreed, BlockAck, Packet, MAX_FIXED_PAYLOAD};
use crate::glue::errno;
use crate::glue::kthread::Kthread;
use crate::glue::socket::{BufferSizes, SockAddr, TcpListener, TcpStream};

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];
const GUARD_MS: u32 = 10_000;

/// A heap slice the core can use as storage.
struct Heap<T>(KVec<T>);

impl<T> AsRef<[T]> for Heap<T> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

impl<T> AsMut<[T]> for Heap<T> {
    fn as_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

struct HeapStorage;

impl Storage for HeapStorage {
    type Epochs = Heap<SentEpoch>;
    type Slots = Heap<SlotEntry>;
}

fn sleep_ms(ms: u32) {
    // SAFETY: KUnit cases and our reader threads run in process context.
    unsafe { kernel::bindings::msleep(ms) };
}

/// What a node's world does with the replica's actions; here only what a handshake and a
/// state change need. Anything else counts as unexpected.
struct TestHost {
    data: Arc<TcpStream>,
    meta: Arc<TcpStream>,
    dropped: bool,
    unexpected: u32,
    send_failures: u32,
    finished: Option<Result<(), StateError>>,
    meta_writes: u32,
    random: u64,
}

impl TestHost {
    fn unexpected(&mut self) {
        self.unexpected += 1;
    }
}

impl Host for TestHost {
    fn send(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>) {
        let mut buf = [0u8; 256];
        let sock = match socket {
            Socket::Data => &self.data,
            Socket::Meta => &self.meta,
        };
        match packet.encode(ctx, 0, &mut buf) {
            Ok(n) if sock.send_all(&buf[..n], false).is_ok() => {}
            _ => self.send_failures += 1,
        }
    }
    fn drop_sockets(&mut self) {
        self.dropped = true;
    }
    fn log(&mut self, _level: Level, args: fmt::Arguments<'_>) {
        pr_info!("replica: {}\n", args);
    }
    fn state_changed(&mut self, _old: &State, _new: &State) {}
    fn write_meta_data(&mut self, _uuids: &UuidSet) {
        self.meta_writes += 1;
    }
    fn mark_all_out_of_sync(&mut self) {
        self.unexpected();
    }
    fn clear_bitmap(&mut self) {
        self.unexpected();
    }
    fn resync_progress(&mut self, _announce: bool) {
        self.unexpected();
    }
    fn bitmap_weight(&self) -> u64 {
        0
    }
    fn random_u64(&mut self) -> u64 {
        self.random = self
            .random
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1);
        self.random
    }
    fn call_helper(&mut self, _helper: Helper) {
        self.unexpected();
    }
    fn before_resync(&mut self, _ticket: ResyncHandlerTicket) -> Option<u8> {
        self.unexpected();
        Some(0)
    }
    fn fence_peer(&mut self) {
        self.unexpected();
    }
    fn set_capacity(&mut self, _sectors: u64) {}
    fn set_max_bio_size(&mut self, _bytes: u32) {}
    fn change_finished(&mut self, result: Result<(), StateError>) {
        self.finished = Some(result);
    }
    fn hold_write(&mut self, _write: HeldWrite) {
        self.unexpected();
    }
    fn submit_held(&mut self, _slot: Slot) {
        self.unexpected();
    }
    fn send_bitmap(&mut self, _ctx: &Agreed, _use_rle: bool) {
        self.unexpected();
    }
    fn with_bitmap(&mut self, _f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        self.unexpected();
    }
    fn read_for_peer(&mut self, _read: PeerRead) {
        self.unexpected();
    }
    fn send_block(&mut self, _ctx: &Agreed, _packet: &Packet<'_>, _slot: Slot) {
        self.unexpected();
    }
    fn flush_lower(&mut self) {
        self.unexpected();
    }
    fn mark_out_of_sync(&mut self, _sector: u64, _size: u32) {
        self.unexpected();
    }
    fn mark_in_sync(&mut self, _sector: u64, _size: u32) {
        self.unexpected();
    }
    fn peer_acked(&mut self, _kind: AckKind, _ack: &BlockAck) -> bool {
        self.unexpected();
        false
    }
    fn epoch_acked(&mut self, _epoch: u32) {
        self.unexpected();
    }
    fn requests_lost(&mut self) {}
}

struct NodeState {
    replica: Replica<HeapStorage>,
    host: TestHost,
}

/// One node: its replica behind a mutex, shared with its two reader threads.
#[pin_data]
struct Node {
    #[pin]
    state: Mutex<NodeState>,
    stop: AtomicBool,
    /// Packets that failed to frame or decode (each is a test failure).
    bad_packets: AtomicU32,
    start: Ktime,
}

impl Node {
    fn now_ms(&self) -> u64 {
        u64::try_from(ktime_ms_delta(Ktime::ktime_get(), self.start)).unwrap_or(0)
    }
}

/// Read packets from `sock` and feed them to the node until stopped or the socket fails.
fn reader(node: Arc<Node>, sock: Arc<TcpStream>, socket: Socket) {
    let Ok(mut fixed) = KVec::from_elem(0u8, MAX_FIXED_PAYLOAD, GFP_KERNEL) else {
        node.bad_packets.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut header = [0u8; 16];
    while !node.stop.load(Ordering::Acquire) {
        // The meta socket carries nothing before the handshake agreed its header format,
        // as the kernel starts its asender only then.
        let ctx = *node.state.lock().replica.agreed();
        if socket == Socket::Meta && ctx.version < wire::PRO_VERSION_MIN {
            sleep_ms(5);
            continue;
        }
        let hlen = ctx.header_len();
        if sock.recv_exact(&mut header[..hlen]).is_err() {
            break;
        }
        let framed = wire::decode_header(&header[..hlen], &ctx).and_then(|h| {
            let cmd = h.command()?;
            Ok((h, wire::layout(cmd, h.length, &ctx)?))
        });
        let Ok((h, layout)) = framed else {
            node.bad_packets.fetch_add(1, Ordering::Relaxed);
            break;
        };
        // Handshake packets carry no block data; a test that sent some has failed.
        if layout.data != 0 || sock.recv_exact(&mut fixed[..layout.fixed]).is_err() {
            node.bad_packets.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let Ok(packet) = Packet::decode_framed(&h, &fixed[..layout.fixed], &ctx) else {
            node.bad_packets.fetch_add(1, Ordering::Relaxed);
            break;
        };
        let now = node.now_ms();
        let mut st = node.state.lock();
        let NodeState { replica, host } = &mut *st;
        replica.receive(socket, &packet, now, host);
        if host.dropped {
            break;
        }
    }
}

fn new_node(
    data: Arc<TcpStream>,
    meta: Arc<TcpStream>,
    seed: u64,
    start: Ktime,
) -> Result<Arc<Node>> {
    let state = State::new(
        Role::Secondary,
        Role::Unknown,
        ConnState::StandAlone,
        DiskState::UpToDate,
        DiskState::DUnknown,
    );
    let uuids = UuidSet::from_array([0x3a54_8b9a_5f33_236c, 0, 0x78fa_d3eb_8f44_56d2, 4]);
    let geometry = DiskGeometry {
        usable_sectors: 0x1ffb0,
        user_sectors: 0,
        capacity_sectors: 0x1ffb0,
        max_bio_size: 1 << 20,
        ..DiskGeometry::default()
    };
    let epochs = Heap(KVec::from_elem(
        SentEpoch::default(),
        EPOCH_RING,
        GFP_KERNEL,
    )?);
    let slots = Heap(KVec::from_elem(
        SlotEntry::default(),
        CONFLICT_SLOTS,
        GFP_KERNEL,
    )?);
    let replica = Replica::new(state, uuids, false, geometry, epochs, slots);
    let host = TestHost {
        data,
        meta,
        dropped: false,
        unexpected: 0,
        send_failures: 0,
        finished: None,
        meta_writes: 0,
        random: seed,
    };
    Arc::pin_init(
        pin_init!(Node {
            state <- kernel::new_mutex!(NodeState { replica, host }, "drbd_rs_kunit:node"),
            stop: AtomicBool::new(false),
            bad_packets: AtomicU32::new(0),
            start,
        }),
        GFP_KERNEL,
    )
}

/// The two TCP connections of a node pair as drbd's connect makes them: A connects the data
/// socket to B (first packet P_INITIAL_DATA), B connects the meta socket to A
/// (P_INITIAL_META); the node that accepted the meta socket resolves conflicts (A).
/// Returns (A data, A meta, B data, B meta).
fn establish(port_a: u16, port_b: u16) -> Result<(TcpStream, TcpStream, TcpStream, TcpStream)> {
    let addr_a = SockAddr::ipv4(LOOPBACK, port_a);
    let addr_b = SockAddr::ipv4(LOOPBACK, port_b);
    let listen_a = TcpListener::bind(&addr_a, 5, BufferSizes::AUTO)?;
    let listen_b = TcpListener::bind(&addr_b, 5, BufferSizes::AUTO)?;
    let pre = Agreed::PRE_HANDSHAKE;
    let mut first = [0u8; 8];

    let a_data = TcpStream::new(&addr_a.with_port(0), BufferSizes::AUTO)?;
    a_data.connect(&addr_b, GUARD_MS)?;
    let n = Packet::InitialData
        .encode(&pre, 0, &mut first)
        .map_err(|_| EINVAL)?;
    a_data.send_all(&first[..n], false)?;
    let b_data = listen_b.accept(GUARD_MS)?.ok_or_else(errno::etimedout)?;
    b_data.set_recv_timeout(GUARD_MS);
    b_data.recv_exact(&mut first[..8])?;
    if classify_first_packet(&first[..8]) != Some(Socket::Data) {
        return Err(EIO);
    }

    let b_meta = TcpStream::new(&addr_b.with_port(0), BufferSizes::AUTO)?;
    b_meta.connect(&addr_a, GUARD_MS)?;
    let n = Packet::InitialMeta
        .encode(&pre, 0, &mut first)
        .map_err(|_| EINVAL)?;
    b_meta.send_all(&first[..n], false)?;
    let a_meta = listen_a.accept(GUARD_MS)?.ok_or_else(errno::etimedout)?;
    a_meta.set_recv_timeout(GUARD_MS);
    a_meta.recv_exact(&mut first[..8])?;
    if classify_first_packet(&first[..8]) != Some(Socket::Meta) {
        return Err(EIO);
    }
    for s in [&a_data, &a_meta, &b_data, &b_meta] {
        s.set_nodelay();
        // Readers block until data or a shutdown; the guard turns a lost wake-up into a
        // failure instead of a hang.
        s.set_recv_timeout(GUARD_MS);
    }
    Ok((a_data, a_meta, b_data, b_meta))
}

/// Both nodes with their reader threads.
struct Pair {
    nodes: [Arc<Node>; 2],
    sockets: [Arc<TcpStream>; 4],
    threads: KVec<Kthread>,
}

impl Pair {
    fn start(port_a: u16, port_b: u16) -> Result<Pair> {
        let (a_data, a_meta, b_data, b_meta) = establish(port_a, port_b)?;
        let sockets = [
            Arc::new(a_data, GFP_KERNEL)?,
            Arc::new(a_meta, GFP_KERNEL)?,
            Arc::new(b_data, GFP_KERNEL)?,
            Arc::new(b_meta, GFP_KERNEL)?,
        ];
        let start = Ktime::ktime_get();
        let a = new_node(sockets[0].clone(), sockets[1].clone(), 0xa, start)?;
        let b = new_node(sockets[2].clone(), sockets[3].clone(), 0xb, start)?;
        let nodes = [a, b];
        for (i, node) in nodes.iter().enumerate() {
            let mut st = node.state.lock();
            let NodeState { replica, host } = &mut *st;
            replica.connect(NetSettings::DEFAULT, SyncSettings::DEFAULT, host);
            replica.sockets_established(i == 0, node.now_ms(), host);
        }
        let mut threads = KVec::new();
        for (i, node) in nodes.iter().enumerate() {
            for (j, socket) in [Socket::Data, Socket::Meta].into_iter().enumerate() {
                let (n, s) = (node.clone(), sockets[2 * i + j].clone());
                let t = Kthread::spawn(format_args!("drbd_rs_kt{i}{j}"), move || {
                    reader(n, s, socket)
                })?;
                threads.push(t, GFP_KERNEL)?;
            }
        }
        Ok(Pair {
            nodes,
            sockets,
            threads,
        })
    }

    /// Tick both nodes every 100 ms until `done` holds for both states or `limit_ms` passes.
    fn run_until(&self, limit_ms: u32, done: impl Fn(&State) -> bool) -> bool {
        let mut waited = 0;
        loop {
            let mut all = true;
            for node in &self.nodes {
                let now = node.now_ms();
                let mut st = node.state.lock();
                let NodeState { replica, host } = &mut *st;
                replica.tick(now, host);
                all &= done(replica.state());
            }
            if all {
                return true;
            }
            if waited >= limit_ms {
                return false;
            }
            sleep_ms(20);
            waited += 20;
        }
    }

    fn state(&self, i: usize) -> State {
        *self.nodes[i].state.lock().replica.state()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // The stop protocol of the socket glue: flag, shut the sockets down (wakes the
        // readers), then join the threads, then release the sockets.
        for node in &self.nodes {
            node.stop.store(true, Ordering::Release);
        }
        for s in &self.sockets {
            s.shutdown();
        }
        drop(core::mem::replace(&mut self.threads, KVec::new()));
    }
}

fn connected(s: &State) -> bool {
    s.conn == ConnState::Connected && s.pdsk == DiskState::UpToDate
}

fn two_nodes_connect_in_kernel_context() {
    let pair = Pair::start(17801, 17802);
    check!(pair.is_ok());
    let Ok(pair) = pair else {
        return;
    };
    check!(pair.run_until(GUARD_MS, connected));
    for i in 0..2 {
        let s = pair.state(i);
        check_eq!(s.conn, ConnState::Connected);
        check_eq!((s.role, s.peer), (Role::Secondary, Role::Secondary));
        let st = pair.nodes[i].state.lock();
        check_eq!(st.replica.agreed().version, wire::PRO_VERSION_MAX);
        check_eq!(st.replica.resolve_conflicts(), i == 0);
        check_eq!(st.host.unexpected, 0);
        check_eq!(st.host.send_failures, 0);
        check!(!st.host.dropped);
        drop(st);
        check_eq!(pair.nodes[i].bad_packets.load(Ordering::Relaxed), 0);
    }
}

fn a_cluster_wide_promotion_and_a_refused_one() {
    let pair = Pair::start(17803, 17804);
    check!(pair.is_ok());
    let Ok(pair) = pair else {
        return;
    };
    check!(pair.run_until(GUARD_MS, connected));
    {
        let mut st = pair.nodes[0].state.lock();
        let NodeState { replica, host } = &mut *st;
        replica.request_change(StateChange::new().role(Role::Primary), false, host);
    }
    // The peer approves over the meta socket; both then see A as Primary.
    check!(pair.run_until(GUARD_MS, |s| s.role == Role::Primary
        || s.peer == Role::Primary));
    check_eq!(pair.nodes[0].state.lock().host.finished, Some(Ok(())));
    check_eq!(pair.state(0).role, Role::Primary);
    check_eq!(pair.state(1).peer, Role::Primary);
    {
        let mut st = pair.nodes[1].state.lock();
        let NodeState { replica, host } = &mut *st;
        replica.request_change(StateChange::new().role(Role::Primary), false, host);
        check_eq!(host.finished, Some(Err(StateError::TwoPrimaries)));
    }
    check_eq!(pair.state(1).role, Role::Secondary);
    for node in &pair.nodes {
        check_eq!(node.bad_packets.load(Ordering::Relaxed), 0);
        check_eq!(node.state.lock().host.unexpected, 0);
    }
}

kunit_suite!(
    REPLICATION_SUITE,
    "drbd_rs_replication",
    [
        two_nodes_connect_in_kernel_context,
        a_cluster_wide_promotion_and_a_refused_one
    ]
);
