// SPDX-License-Identifier: GPL-2.0
//! The captured sessions of two real `drbd.ko` 8.4.11 nodes (Linux 6.12) replayed against our
//! core: one node's packets (both sockets, in capture order) are fed to a [`Replica`] that
//! plays the other node, and what the replica sends is compared with what that node really
//! sent. Capture: `shared/testdata/drbd84-peer/fullsync-protoC.node-a.pcap.xz` (README there:
//! node-a = 169.254.77.1 runs `primary --force`, a full resync a→b follows, then writes on
//! node-a, `disconnect`, writes on a disconnected node-a, `connect` with a bitmap-based resync,
//! and an online verify). Spec: `wire-protocol.md` §1, §1.5, §5, §6.4, §7, §9, §12.
//!
//! The harness is a minimal engine: it owns the "sockets" (two FIFOs of captured packets
//! from the peer), calls [`Replica::sockets_established`] when the played node sent its
//! `P_CONNECTION_FEATURES` (it does that as soon as it owns both sockets, §1.3), ticks every
//! 100 ms of capture time, performs the admin actions the played node's stream shows, and
//! completes local I/O at once. Its disk starts zero-filled (as the README's lower disks) and
//! keeps what is written to it — the captured data of writes and resync replies — so the
//! online verify's md5 digests of our blocks can be compared with drbd.ko's.
//!
//! Where drbd.ko and our core may legitimately differ, the harness normalizes, and says why
//! where it does so:
//! * keep-alive: ping timers are local; the harness answers every `P_PING` of our replica at
//!   once (as a drbd.ko peer does, §10) and drops the peer's captured `P_PING_ACK`s, which
//!   answered the captured node's pings, not ours;
//! * pacing: a resync reply is delivered only after our replica requested it (the peer could
//!   not have answered earlier); replies, requests and their acks are compared as sets where
//!   drbd.ko's own order depended on its timing;
//! * `P_UNPLUG_REMOTE` is a TCP quick-ack hint our core does not send (§5.8);
//! * barrier numbers are opaque handles chosen by the sender (§14): drbd.ko's are host-order
//!   counters, ours are our own; the peer's `P_BARRIER_ACK` is translated by position;
//! * verify replies are compared by sector: drbd.ko answers in the order its reads complete.

#[path = "../../core/tests/support/pcap.rs"]
#[allow(dead_code)]
mod pcap;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::OnceLock;

use drbd_core::bitmap::Bitmap;
use drbd_core::digest::DigestAlg;
use drbd_core::replication::conflicts::{Slot, SlotEntry};
use drbd_core::replication::connection::{
    classify_first_packet, AlgName, DiskGeometry, Host, Level, NetSettings, Replica, Socket,
    SyncSettings, CONFLICT_SLOTS, EPOCH_RING,
};
use drbd_core::replication::epochs::SentEpoch;
use drbd_core::replication::request::{Step, WriteRequest};
use drbd_core::replication::resync_handlers::ResyncHandlerTicket;
use drbd_core::replication::resync_path::{HeldWrite, PeerRead};
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::replication::writes::WriteFlags;
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, State, StateChange, StateError};
use drbd_core::uuid::UuidSet;
use drbd_core::wire::{
    self, AckKind, Agreed, BlockAck, BlockReq, Cmd, DataHeader, DataKind, DescKind, Packet,
    RequestKind, StateReq, Uuids,
};
use drbd_sim::world::{bitmap_packets, standalone, with_bitmap_view, VecStorage};

const NODE_A: [u8; 4] = [169, 254, 77, 1];
const CAPTURE: &str = "fullsync-protoC.node-a.pcap.xz";
/// `resync-rate 40M` in fullsync-protoC.conf, in KiB/s (§4.6: the value P_SYNC_PARAM89 carries).
const RESYNC_RATE_KIB: u32 = 40 * 1024;
/// What the host answers when the core needs more random values than the capture shows.
const UNSHOWN_RANDOM: u64 = 0x5eed_5eed_5eed_5eed;
/// Capture time is replayed on a 100 ms grid: drbd's resync step (`SLEEP_TIME`, §11).
const TICK_MS: u64 = 100;

// ---------------------------------------------------------------------------------------------
// The capture
// ---------------------------------------------------------------------------------------------

/// One packet of the capture.
#[derive(Debug, Clone, Copy)]
struct Captured {
    /// Milliseconds since the first packet of the capture, when it passed node-a's NIC.
    at_ms: u64,
    from_a: bool,
    socket: Socket,
    packet: Packet<'static>,
    /// The block data after the fixed part (data packets).
    data: &'static [u8],
}

/// One connection: its data and meta socket.
struct Session {
    packets: Vec<Captured>,
    /// The first 8 bytes the connecting side sent on the connection node-a accepted, and on the
    /// one node-b accepted (what each node's accept path classified).
    first_on_accepted: [[u8; 8]; 2],
}

impl Session {
    fn from(&self, a: bool) -> impl Iterator<Item = &Captured> {
        self.packets.iter().filter(move |p| p.from_a == a)
    }

    fn packets_from(&self, a: bool, socket: Socket) -> Vec<Packet<'static>> {
        self.from(a)
            .filter(|p| p.socket == socket)
            .map(|p| p.packet)
            .collect()
    }

    /// Whether `node_a` (else node-b) accepted the meta socket: §1.2, that node holds the
    /// resolve-conflicts flag. Decided the way the engine decides it, by classifying the first
    /// packet of the connection the node accepted.
    fn resolve_conflicts(&self, node_a: bool) -> bool {
        let first = &self.first_on_accepted[usize::from(!node_a)];
        classify_first_packet(first) == Some(Socket::Meta)
    }
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// The `P_CONNECTION_FEATURES` a data-socket direction opens with.
fn features_of(stream: &[u8]) -> wire::Features {
    let ctx = Agreed::PRE_HANDSHAKE;
    let mut pos = 0;
    loop {
        let header = wire::decode_header(&stream[pos..pos + 8], &ctx).expect("h80 header");
        let cmd = header.command().expect("known command");
        let fixed = &stream[pos + 8..pos + 8 + header.length as usize];
        match Packet::decode(cmd, fixed, &ctx).expect("pre-handshake packet") {
            Packet::InitialData => pos += 8,
            Packet::ConnectionFeatures(f) => return f,
            other => panic!("unexpected {other:?} before the features"),
        }
    }
}

/// Split one direction of a TCP stream into packets (the receive path: header, layout, fixed
/// part, data). The stream's h80 start (initial packet, features) switches to `agreed`.
fn decode_stream(
    bytes: &'static [u8],
    times: &pcap::StreamTimes,
    t0_us: u64,
    agreed: &Agreed,
    socket: Socket,
    from_a: bool,
    out: &mut Vec<Captured>,
) {
    let mut ctx = if bytes.starts_with(&wire::DRBD_MAGIC.to_be_bytes()) {
        Agreed::PRE_HANDSHAKE
    } else {
        *agreed
    };
    let mut pos = 0;
    while pos < bytes.len() {
        let hlen = ctx.header_len();
        let header = wire::decode_header(&bytes[pos..pos + hlen], &ctx).expect("header");
        let cmd = header.command().expect("known command");
        let framing = wire::layout(cmd, header.length, &ctx).expect("layout");
        let fixed_start = pos + hlen;
        let end = fixed_start + framing.total();
        let fixed = &bytes[fixed_start..fixed_start + framing.fixed];
        let packet = Packet::decode_framed(&header, fixed, &ctx).expect("packet");
        if matches!(cmd, Cmd::ConnectionFeatures | Cmd::InitialMeta) {
            ctx = *agreed;
        }
        out.push(Captured {
            // The receiver has a packet when its last byte arrived.
            at_ms: (times.at(end - 1) - t0_us) / 1000,
            from_a,
            socket,
            packet,
            data: &bytes[fixed_start + framing.fixed..end],
        });
        pos = end;
    }
}

fn load() -> Option<Vec<Session>> {
    let dir = pcap::testdata_dir()
        .expect("testdata/drbd84-peer (the repository carries it; DRBD_RS_TESTDATA overrides)");
    let frames = pcap::read_pcap_xz(&dir.join(CAPTURE));
    let t0_us = frames.first().map_or(0, |f| f.time_us);
    let connections: Vec<pcap::TcpConnection> = pcap::tcp_connections(&frames)
        .into_iter()
        .filter(|c| !c.client_to_server.is_empty() || !c.server_to_client.is_empty())
        .collect();
    let (data, meta): (Vec<_>, Vec<_>) = connections
        .into_iter()
        .partition(|c| classify_first_packet(&c.client_to_server[..8]) == Some(Socket::Data));
    let mut sessions = Vec::new();
    let mut keys = Vec::new();
    for d in data {
        let agreed = wire::agree(
            &features_of(&d.client_to_server),
            &features_of(&d.server_to_client),
        )
        .expect("compatible peers");
        let client_is_a = d.client.0 == NODE_A;
        let mut first_on_accepted = [[0; 8]; 2];
        first_on_accepted[usize::from(client_is_a)] =
            d.client_to_server[..8].try_into().expect("8 bytes");
        let mut packets = Vec::new();
        decode_stream(
            leak(d.client_to_server),
            &d.client_times,
            t0_us,
            &agreed,
            Socket::Data,
            client_is_a,
            &mut packets,
        );
        decode_stream(
            leak(d.server_to_client),
            &d.server_times,
            t0_us,
            &agreed,
            Socket::Data,
            !client_is_a,
            &mut packets,
        );
        keys.push((d.syn_time_us, agreed));
        sessions.push(Session {
            packets,
            first_on_accepted,
        });
    }
    for m in meta {
        let nearest = (0..sessions.len())
            .min_by_key(|&i| keys[i].0.abs_diff(m.syn_time_us))
            .expect("a data connection for every meta connection");
        let agreed = keys[nearest].1;
        let client_is_a = m.client.0 == NODE_A;
        let s = &mut sessions[nearest];
        s.first_on_accepted[usize::from(client_is_a)] =
            m.client_to_server[..8].try_into().expect("8 bytes");
        decode_stream(
            leak(m.client_to_server),
            &m.client_times,
            t0_us,
            &agreed,
            Socket::Meta,
            client_is_a,
            &mut s.packets,
        );
        decode_stream(
            leak(m.server_to_client),
            &m.server_times,
            t0_us,
            &agreed,
            Socket::Meta,
            !client_is_a,
            &mut s.packets,
        );
    }
    for s in &mut sessions {
        // Stable: packets of one direction keep their stream order.
        s.packets.sort_by_key(|p| p.at_ms);
    }
    Some(sessions)
}

/// The capture, decoded once for all tests of this file.
fn sessions() -> Option<&'static [Session]> {
    static SESSIONS: OnceLock<Option<Vec<Session>>> = OnceLock::new();
    SESSIONS.get_or_init(load).as_deref()
}

// ---------------------------------------------------------------------------------------------
// The played node's world
// ---------------------------------------------------------------------------------------------

/// A packet our replica sent.
#[derive(Debug, Clone, Copy)]
struct Sent {
    socket: Socket,
    packet: Packet<'static>,
}

/// Local I/O submitted by the replica (completed by [`Node::settle`]).
#[derive(Debug)]
enum Io {
    /// A write from the peer with the data that came with it.
    Held(HeldWrite, &'static [u8]),
    Read(PeerRead),
    Flush,
    /// An application write of the played node and its data (empty: not in the capture).
    App {
        block_id: u64,
        slot: Option<Slot>,
        sector: u64,
        data: &'static [u8],
    },
}

/// An application write of the played node (node-a's writes phase).
#[derive(Debug)]
struct AppWrite {
    req: WriteRequest,
    epoch: u32,
    sector: u64,
    size: u32,
}

/// The engine around the replica: records what it sends, keeps the bitmap, queues I/O.
struct ReplayHost {
    sent: Vec<Sent>,
    states: Vec<State>,
    meta_writes: Vec<UuidSet>,
    log: Vec<String>,
    finished: Vec<Result<(), StateError>>,
    helpers: Vec<Helper>,
    dropped: bool,
    bitmap: Bitmap<Vec<u64>>,
    /// The values node-a's capture shows it generated, in the order it needed them.
    randoms: VecDeque<u64>,
    held: BTreeMap<Slot, (HeldWrite, &'static [u8])>,
    /// The block data of the packet being delivered (what the engine's receive buffer holds).
    incoming: &'static [u8],
    /// The lower disk: the sectors written with something other than zeros (the disks were
    /// zero-filled before the run), 512 bytes each.
    disk: BTreeMap<u64, Vec<u8>>,
    io: VecDeque<Io>,
    requests: BTreeMap<u64, AppWrite>,
    completed_epochs: Vec<u32>,
    bad_acks: u32,
    completions: u32,
}

impl ReplayHost {
    fn new(sectors: u64, randoms: &[u64]) -> Self {
        let bits = sectors.div_ceil(8);
        let mut bitmap = Bitmap::new(vec![0; bits.div_ceil(64) as usize], bits).expect("bitmap");
        // Fresh meta data (`create-md`): every bit set.
        bitmap.set_all();
        ReplayHost {
            sent: Vec::new(),
            states: Vec::new(),
            meta_writes: Vec::new(),
            log: Vec::new(),
            finished: Vec::new(),
            helpers: Vec::new(),
            dropped: false,
            bitmap,
            randoms: randoms.iter().copied().collect(),
            held: BTreeMap::new(),
            incoming: &[],
            disk: BTreeMap::new(),
            io: VecDeque::new(),
            requests: BTreeMap::new(),
            completed_epochs: Vec::new(),
            bad_acks: 0,
            completions: 0,
        }
    }

    /// Encode with the replica's context and decode again: what the peer would receive.
    fn record(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>) {
        self.sent.push(recorded(socket, ctx, packet));
    }

    /// Write `data` at `sector` to the disk model.
    fn write_disk(&mut self, sector: u64, data: &[u8]) {
        for (i, chunk) in data.chunks(512).enumerate() {
            let at = sector + i as u64;
            if chunk.iter().all(|b| *b == 0) {
                self.disk.remove(&at);
            } else {
                self.disk.insert(at, chunk.to_vec());
            }
        }
    }

    /// `size` bytes at `sector` of the disk model.
    fn read_disk(&self, sector: u64, size: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(size as usize);
        for at in sector..sector + u64::from(size) / 512 {
            match self.disk.get(&at) {
                Some(bytes) => out.extend_from_slice(bytes),
                None => out.extend_from_slice(&[0; 512]),
            }
        }
        out
    }

    fn range(&self, sector: u64, size: u32) -> std::ops::Range<u64> {
        let end = (sector + u64::from(size) / 512).div_ceil(8);
        (sector / 8).min(self.bitmap.bits())..end.min(self.bitmap.bits())
    }

    fn apply_step(&mut self, block_id: u64, step: Step) {
        let Some(w) = self.requests.get(&block_id) else {
            return;
        };
        let range = self.range(w.sector, w.size);
        let epoch = w.epoch;
        if step.mark_out_of_sync {
            self.bitmap.set_range(range.clone());
        }
        if step.mark_in_sync {
            self.bitmap.clear_range(range);
        }
        if let Some(ok) = step.complete_upper {
            assert!(ok, "write {block_id:#x} failed towards the application");
            self.completions += 1;
            self.completed_epochs.push(epoch);
        }
        if step.release {
            self.requests.remove(&block_id);
        }
    }

    fn update(&mut self, block_id: u64, f: impl FnOnce(&mut WriteRequest) -> Option<Step>) -> bool {
        let Some(w) = self.requests.get_mut(&block_id) else {
            return false;
        };
        match f(&mut w.req) {
            Some(step) => {
                self.apply_step(block_id, step);
                true
            }
            None => false,
        }
    }
}

/// What the core sent, as it crossed the wire: encoded, then decoded again (kept for the
/// whole test).
fn recorded(socket: Socket, ctx: &Agreed, packet: &Packet<'_>) -> Sent {
    let mut buf = vec![0u8; packet.encoded_len(ctx)];
    let n = packet
        .encode(ctx, 0, &mut buf)
        .unwrap_or_else(|e| panic!("core sent an unencodable {packet:?}: {e}"));
    buf.truncate(n);
    let bytes = leak(buf);
    let hlen = ctx.header_len();
    let header = wire::decode_header(&bytes[..hlen], ctx).expect("own header");
    let packet = Packet::decode_framed(&header, &bytes[hlen..], ctx).expect("own packet");
    Sent { socket, packet }
}

impl Host for ReplayHost {
    fn send(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>) {
        self.record(socket, ctx, packet);
    }

    fn drop_sockets(&mut self) {
        self.dropped = true;
    }

    fn log(&mut self, _level: Level, args: fmt::Arguments<'_>) {
        self.log.push(args.to_string());
    }

    fn state_changed(&mut self, _old: &State, new: &State) {
        self.states.push(*new);
    }

    fn write_meta_data(&mut self, uuids: &UuidSet) {
        self.meta_writes.push(*uuids);
    }

    fn mark_all_out_of_sync(&mut self) {
        self.bitmap.set_all();
    }

    fn clear_bitmap(&mut self) {
        self.bitmap.clear_all();
    }

    fn resync_progress(&mut self, _announce: bool) {}

    fn bitmap_weight(&self) -> u64 {
        self.bitmap.count()
    }

    fn random_u64(&mut self) -> u64 {
        // The core may draw a value it then does not use (UUID rotations that turn out not
        // to apply); a value the capture does not show would fail any UUID comparison.
        self.randoms.pop_front().unwrap_or(UNSHOWN_RANDOM)
    }

    fn call_helper(&mut self, helper: Helper) {
        self.helpers.push(helper);
    }

    fn before_resync(&mut self, ticket: ResyncHandlerTicket) -> Option<u8> {
        // drbd.ko ran its handlers in the captured sessions; none was configured (exit 0).
        self.helpers.push(ticket.helper());
        Some(0)
    }

    fn fence_peer(&mut self) {
        panic!("the captured sessions configure no fencing");
    }

    fn set_capacity(&mut self, _sectors: u64) {}

    fn set_max_bio_size(&mut self, _bytes: u32) {}

    fn change_finished(&mut self, result: Result<(), StateError>) {
        self.finished.push(result);
    }

    fn hold_write(&mut self, write: HeldWrite) {
        let data = std::mem::take(&mut self.incoming);
        self.held.insert(write.slot(), (write, data));
    }

    fn submit_held(&mut self, slot: Slot) {
        let (write, data) = self
            .held
            .remove(&slot)
            .expect("submitted slot holds a write");
        self.io.push_back(Io::Held(write, data));
    }

    fn send_bitmap(&mut self, ctx: &Agreed, use_rle: bool) {
        let sent = &mut self.sent;
        bitmap_packets(&self.bitmap, ctx, use_rle, |packet| {
            sent.push(recorded(Socket::Data, ctx, packet));
        });
    }

    fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        with_bitmap_view(&mut self.bitmap, f);
    }

    fn read_for_peer(&mut self, read: PeerRead) {
        self.io.push_back(Io::Read(read));
    }

    fn send_block(&mut self, ctx: &Agreed, packet: &Packet<'_>, _slot: Slot) {
        // The block data (zeros) follows on the wire; only the packet is compared.
        self.record(Socket::Data, ctx, packet);
    }

    fn flush_lower(&mut self) {
        self.io.push_back(Io::Flush);
    }

    fn mark_out_of_sync(&mut self, sector: u64, size: u32) {
        let r = self.range(sector, size);
        self.bitmap.set_range(r);
    }

    fn mark_in_sync(&mut self, sector: u64, size: u32) {
        let r = self.range(sector, size);
        self.bitmap.clear_range(r);
    }

    fn peer_acked(&mut self, kind: AckKind, ack: &BlockAck) -> bool {
        let matches = self
            .requests
            .get(&ack.block_id)
            .is_some_and(|w| w.sector == ack.sector && w.size == ack.blksize);
        let ok = matches && self.update(ack.block_id, |req| req.peer_ack(kind).ok());
        if !ok {
            self.bad_acks += 1;
        }
        ok
    }

    fn epoch_acked(&mut self, epoch: u32) {
        let ids: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, w)| w.epoch == epoch)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.update(id, |req| Some(req.barrier_acked()));
        }
    }

    fn requests_lost(&mut self) {
        let ids: Vec<u64> = self.requests.keys().copied().collect();
        for id in ids {
            self.update(id, |req| Some(req.connection_lost()));
        }
    }
}

/// Our replica playing one of the two nodes, and its host.
struct Node {
    replica: Replica<VecStorage>,
    host: ReplayHost,
    /// The next 100 ms tick.
    next_tick_ms: u64,
    /// Packets from the peer not yet read, per socket (TCP keeps each socket in order).
    inbox: [VecDeque<Captured>; 2],
    /// Sockets established (before, the peer's packets wait in the socket buffers).
    connected: bool,
    /// The replica dropped the sockets of the session being replayed: what the peer still
    /// sent on them is lost.
    sockets_gone: bool,
    /// Packets lost that way.
    lost: usize,
    /// Our `P_PING`s the harness answered.
    pings_answered: usize,
    /// Our `P_PING`s so far, counted over `sent[..pings_seen]`.
    pings_sent: usize,
    pings_seen: usize,
    /// `P_RS_DATA_REQUEST`s sent and not answered yet (sector, size).
    requested: BTreeMap<(u64, u32), usize>,
    /// How many `P_RS_DATA_REQUEST`s of `sent` were accounted in `requested`.
    requests_seen: usize,
    /// Barrier numbers the played node used in the session being replayed, in order.
    captured_barriers: Vec<u32>,
    /// How many barriers we sent before that session.
    barrier_base: usize,
}

fn socket_index(socket: Socket) -> usize {
    match socket {
        Socket::Data => 0,
        Socket::Meta => 1,
    }
}

/// Keep-alive and TCP hints: timing-dependent on both sides, never compared in sequence.
fn is_keepalive(p: &Packet<'_>) -> bool {
    matches!(
        p,
        Packet::Ping | Packet::PingAck | Packet::UnplugRemote | Packet::DelayProbe { .. }
    )
}

/// The packets that decide the protocol's course (everything but keep-alive, the socket
/// initial packets the engine sends, and the data path).
fn is_control(p: &Packet<'_>) -> bool {
    !is_keepalive(p)
        && !matches!(
            p,
            Packet::InitialData
                | Packet::InitialMeta
                | Packet::Data { .. }
                | Packet::Trim { .. }
                | Packet::Ack { .. }
                | Packet::BlockRequest { .. }
                | Packet::BlockDesc { .. }
                | Packet::Barrier { .. }
                | Packet::BarrierAck { .. }
        )
}

impl Node {
    fn new(state: State, uuids: UuidSet, geometry: DiskGeometry, randoms: &[u64]) -> Self {
        Node {
            replica: Replica::new(
                state,
                uuids,
                false,
                geometry,
                vec![SentEpoch::default(); EPOCH_RING],
                vec![SlotEntry::default(); CONFLICT_SLOTS],
            ),
            host: ReplayHost::new(geometry.usable_sectors, randoms),
            next_tick_ms: 0,
            inbox: [VecDeque::new(), VecDeque::new()],
            connected: false,
            sockets_gone: false,
            lost: 0,
            pings_answered: 0,
            pings_sent: 0,
            pings_seen: 0,
            requested: BTreeMap::new(),
            requests_seen: 0,
            captured_barriers: Vec::new(),
            barrier_base: 0,
        }
    }

    fn sent_on(&self, socket: Socket) -> impl Iterator<Item = &Packet<'static>> {
        self.host
            .sent
            .iter()
            .filter(move |s| s.socket == socket)
            .map(|s| &s.packet)
    }

    fn our_barriers(&self) -> Vec<u32> {
        self.sent_on(Socket::Data)
            .filter_map(|p| match p {
                Packet::Barrier { barrier } => Some(*barrier),
                _ => None,
            })
            .collect()
    }

    /// Complete every local I/O (in submission order) and what follows from it.
    fn settle(&mut self, now_ms: u64) {
        loop {
            while let Some(io) = self.host.io.pop_front() {
                let (r, h) = (&mut self.replica, &mut self.host);
                match io {
                    Io::Held(HeldWrite::Peer(w), data) => {
                        h.write_disk(w.sector, data);
                        r.peer_write_done(&w, true, h)
                    }
                    Io::Held(HeldWrite::Resync(w), data) => {
                        h.write_disk(w.sector, data);
                        r.resync_write_done(&w, true, h)
                    }
                    // Reads whose digest the core computes get the bytes of the disk model.
                    Io::Read(read) if read.purpose.needs_data() => {
                        let bytes = h.read_disk(read.sector, read.size);
                        r.peer_read_data(&read, Some(&bytes), h);
                    }
                    Io::Read(read) => r.peer_read_done(&read, true, h),
                    Io::Flush => r.flush_done(h),
                    Io::App {
                        block_id,
                        slot,
                        sector,
                        data,
                    } => {
                        h.write_disk(sector, data);
                        h.update(block_id, |req| Some(req.local_done(true)));
                        if let Some(slot) = slot {
                            r.local_write_done(slot, h);
                        }
                    }
                }
            }
            for epoch in std::mem::take(&mut self.host.completed_epochs) {
                self.replica.write_completed(epoch);
            }
            self.replica.sender_idle(&mut self.host);
            // A drbd.ko peer answers every P_PING at once (§10).
            let new = &self.host.sent[self.pings_seen..];
            self.pings_sent += new
                .iter()
                .filter(|s| s.socket == Socket::Meta && s.packet == Packet::Ping)
                .count();
            self.pings_seen = self.host.sent.len();
            if self.pings_sent > self.pings_answered {
                self.pings_answered += 1;
                self.replica
                    .receive(Socket::Meta, &Packet::PingAck, now_ms, &mut self.host);
                continue;
            }
            if self.host.io.is_empty() {
                break;
            }
        }
        if std::mem::take(&mut self.host.dropped) {
            self.connected = false;
            self.sockets_gone = true;
            self.lost += self.inbox.iter().map(VecDeque::len).sum::<usize>();
            self.inbox.iter_mut().for_each(VecDeque::clear);
        }
        // Account the resync and verify requests we sent (replies are delivered against them).
        let new: Vec<(u64, u32)> = self.host.sent[self.requests_seen..]
            .iter()
            .filter_map(|s| match s.packet {
                Packet::BlockRequest {
                    kind: RequestKind::RsDataRequest | RequestKind::OvRequest,
                    req,
                    ..
                } => Some((req.sector, req.blksize)),
                _ => None,
            })
            .collect();
        self.requests_seen = self.host.sent.len();
        for key in new {
            *self.requested.entry(key).or_default() += 1;
        }
    }

    /// Let capture time pass: ticks on the 100 ms grid up to `now_ms`.
    fn advance(&mut self, now_ms: u64) {
        while self.next_tick_ms <= now_ms {
            let t = self.next_tick_ms;
            self.replica.tick(t, &mut self.host);
            self.settle(t);
            self.pump(t);
            self.next_tick_ms += TICK_MS;
        }
    }

    /// Whether the head of a socket's inbox may be read now; `None` when it is dropped (a
    /// barrier ack for a barrier the captured node never sent, too: the writes it would
    /// release then stay pending, which the checks catch).
    fn deliverable(&self, p: &Captured) -> Option<bool> {
        match p.packet {
            // Answers to the captured node's pings, not to ours (ours are answered at once).
            Packet::PingAck => None,
            // The peer answers a resync request only after it arrived.
            Packet::Data {
                kind: DataKind::RsDataReply,
                hdr,
                data_len,
                ..
            } => Some(self.requested.contains_key(&(hdr.sector, data_len))),
            // Likewise a verify request: the digest comes after it.
            Packet::BlockRequest {
                kind: RequestKind::OvReply,
                req,
                ..
            } => Some(self.requested.contains_key(&(req.sector, req.blksize))),
            // The peer acknowledges a barrier only after it arrived.
            Packet::BarrierAck { barrier, .. } => {
                let k = self.captured_barriers.iter().position(|b| *b == barrier)?;
                Some(self.our_barriers().len() > self.barrier_base + k)
            }
            // Epoch draining holds the data socket (§5.3).
            _ if p.socket == Socket::Data => Some(self.replica.may_receive()),
            _ => Some(true),
        }
    }

    /// Read what the sockets allow.
    fn pump(&mut self, now_ms: u64) {
        if !self.connected {
            return;
        }
        loop {
            let mut progress = false;
            for s in 0..2 {
                while let Some(head) = self.inbox[s].front().copied() {
                    match self.deliverable(&head) {
                        None => {
                            self.inbox[s].pop_front();
                        }
                        Some(false) => break,
                        Some(true) => {
                            self.inbox[s].pop_front();
                            self.deliver(&head, now_ms);
                            progress = true;
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn deliver(&mut self, p: &Captured, now_ms: u64) {
        let mut packet = p.packet;
        if let Packet::BlockRequest {
            kind: RequestKind::OvReply,
            req,
            ..
        } = packet
        {
            let key = (req.sector, req.blksize);
            if let Some(n) = self.requested.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.requested.remove(&key);
                }
            }
        }
        match &mut packet {
            Packet::Data {
                kind: DataKind::RsDataReply,
                hdr,
                data_len,
                ..
            } => {
                let key = (hdr.sector, *data_len);
                if let Some(n) = self.requested.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.requested.remove(&key);
                    }
                }
            }
            Packet::BarrierAck { barrier, .. } => {
                // Barrier numbers are the sender's opaque handles (§14): the peer echoed
                // drbd.ko's k-th one, ours is our k-th.
                let k = self
                    .captured_barriers
                    .iter()
                    .position(|b| b == barrier)
                    .expect("barrier ack for a captured barrier");
                *barrier = self.our_barriers()[self.barrier_base + k];
            }
            _ => {}
        }
        self.host.incoming = p.data;
        self.replica
            .receive(p.socket, &packet, now_ms, &mut self.host);
        self.host.incoming = &[];
        self.settle(now_ms);
    }

    /// A packet of the peer arrives at our sockets.
    fn arrive(&mut self, p: &Captured, now_ms: u64) {
        if matches!(p.packet, Packet::InitialData | Packet::InitialMeta) {
            // Read by the engine's accept path, which classifies the socket.
            return;
        }
        if self.sockets_gone {
            self.lost += 1;
            return;
        }
        self.inbox[socket_index(p.socket)].push_back(*p);
        self.pump(now_ms);
    }

    /// Both sockets are ours: send our features, then read what the peer already sent.
    fn establish(&mut self, resolve_conflicts: bool, now_ms: u64) {
        self.replica
            .sockets_established(resolve_conflicts, now_ms, &mut self.host);
        self.connected = true;
        self.sockets_gone = false;
        self.settle(now_ms);
        self.pump(now_ms);
    }

    /// The application writes `size` bytes at `sector` with the `O_DIRECT` flags of the
    /// captured writes (`REQ_SYNC`, observed dp_flags 0x102). `block_id` is the engine's
    /// opaque request handle: for a captured `P_DATA` the captured one serves as ours.
    /// `data`: the bytes written (empty when the capture does not show them).
    fn app_write(
        &mut self,
        sector: u64,
        size: u32,
        block_id: u64,
        data: &'static [u8],
        now_ms: u64,
    ) {
        let flags = WriteFlags {
            sync: true,
            ..WriteFlags::default()
        };
        let plan = self
            .replica
            .plan_write(sector, size, flags, block_id, now_ms)
            .unwrap_or_else(|e| panic!("write at {sector} refused: {e:?}"));
        let previous = self.host.requests.insert(
            block_id,
            AppWrite {
                req: plan.request,
                epoch: plan.epoch,
                sector,
                size,
            },
        );
        assert!(previous.is_none(), "block_id {block_id:#x} reused early");
        self.host.apply_step(block_id, plan.first);
        let ctx = *self.replica.agreed();
        if plan.out_of_sync {
            let desc = Packet::BlockDesc {
                kind: DescKind::OutOfSync,
                sector,
                blksize: size,
            };
            self.host.send(Socket::Data, &ctx, &desc);
        }
        if let Some(send) = plan.send {
            if let Some(barrier) = send.barrier_first {
                self.host
                    .send(Socket::Data, &ctx, &Packet::Barrier { barrier });
            }
            self.host.send(Socket::Data, &ctx, &send.packet);
            self.host.update(block_id, |r| Some(r.sent()));
        }
        self.host.io.push_back(Io::App {
            block_id,
            slot: plan.slot,
            sector,
            data,
        });
        self.settle(now_ms);
        self.pump(now_ms);
    }

    fn inbox_empty(&self) -> bool {
        self.inbox.iter().all(VecDeque::is_empty)
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

fn first_of<T>(packets: &[Packet<'static>], pick: impl Fn(&Packet<'static>) -> Option<T>) -> T {
    packets
        .iter()
        .find_map(pick)
        .expect("packet present in the capture")
}

fn uuids_of(packets: &[Packet<'static>]) -> Vec<Uuids> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Uuids(u) => Some(*u),
            _ => None,
        })
        .collect()
}

fn states_of(packets: &[Packet<'static>]) -> Vec<u32> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::State(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn acks_of(packets: &[Packet<'static>], kind: AckKind) -> Vec<BlockAck> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Ack { kind: k, ack } if *k == kind => Some(*ack),
            _ => None,
        })
        .collect()
}

fn resync_requests(packets: &[Packet<'static>]) -> Vec<BlockReq> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::BlockRequest {
                kind: RequestKind::RsDataRequest,
                req,
                ..
            } => Some(*req),
            _ => None,
        })
        .collect()
}

fn data_headers(packets: &[Packet<'static>], kind: DataKind) -> Vec<(DataHeader, u32)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Data {
                kind: k,
                hdr,
                data_len,
                ..
            } if *k == kind => Some((*hdr, *data_len)),
            _ => None,
        })
        .collect()
}

fn barrier_acks(packets: &[Packet<'static>]) -> Vec<(u32, u32)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::BarrierAck { barrier, set_size } => Some((*barrier, *set_size)),
            _ => None,
        })
        .collect()
}

/// Node settings as in fullsync-protoC.conf, with the features the played node advertised.
fn settings(features: u32) -> (NetSettings, SyncSettings) {
    let net = NetSettings {
        protocol: WireProtocol::C,
        features,
        verify_alg: AlgName::new("md5").expect("alg name"),
        ..NetSettings::DEFAULT
    };
    let sync = SyncSettings {
        resync_rate: RESYNC_RATE_KIB,
        ..SyncSettings::DEFAULT
    };
    (net, sync)
}

/// The geometry the played node announced in its first `P_SIZES`.
fn geometry_of(own: &[Packet<'static>]) -> DiskGeometry {
    let sizes = first_of(own, |p| match p {
        Packet::Sizes(s) => Some(*s),
        _ => None,
    });
    DiskGeometry {
        usable_sectors: sizes.d_size,
        user_sectors: sizes.u_size,
        capacity_sectors: sizes.c_size,
        max_bio_size: sizes.max_bio_size,
        queue_limits: sizes.queue_limits.expect("FF_WSAME tail"),
    }
}

fn own_features(own: &[Packet<'static>]) -> u32 {
    first_of(own, |p| match p {
        Packet::ConnectionFeatures(f) => Some(f.feature_flags),
        _ => None,
    })
}

/// Replay one session from `me_a`'s point of view (node-a if true), up to capture time
/// `until_ms` (exclusive). Admin actions of the played node are taken from its stream.
fn replay(node: &mut Node, session: &Session, me_a: bool, until_ms: u64) {
    // New TCP connections: what the peer sends waits for the replica to take the sockets.
    node.sockets_gone = false;
    node.barrier_base = node.our_barriers().len();
    node.captured_barriers = session
        .from(me_a)
        .filter_map(|p| match p.packet {
            Packet::Barrier { barrier } => Some(barrier),
            _ => None,
        })
        .collect();
    replay_more(node, session, me_a, 0, until_ms);
}

/// Go on with a session [`replay`] started: its packets from capture time `from_ms` on, up to
/// `until_ms` (exclusive).
fn replay_more(node: &mut Node, session: &Session, me_a: bool, from_ms: u64, until_ms: u64) {
    let range = from_ms..until_ms;
    for p in session.packets.iter().filter(|p| range.contains(&p.at_ms)) {
        node.advance(p.at_ms);
        let now = p.at_ms;
        if p.from_a != me_a {
            node.arrive(p, now);
            continue;
        }
        // The played node's own packet: the admin action or event that made it send it.
        match p.packet {
            Packet::ConnectionFeatures(_) => {
                node.establish(session.resolve_conflicts(me_a), now);
            }
            Packet::StateChgReq(req) if req == VERIFY_REQUEST => {
                node.replica.start_verify(None, None, &mut node.host);
                node.settle(now);
                node.pump(now);
            }
            Packet::StateChgReq(req) => {
                // `primary --force`: Primary, and the disk declared UpToDate (§6.4).
                let promote = StateChange::new()
                    .role(Role::Primary)
                    .disk(DiskState::UpToDate);
                assert_eq!(
                    (req.mask, req.val),
                    (promote.mask, promote.val),
                    "only `primary --force` and `verify` are replayed"
                );
                node.replica.request_change(promote, true, &mut node.host);
                node.settle(now);
                node.pump(now);
            }
            Packet::ConnStChgReq(_) => {
                node.replica.disconnect(&mut node.host);
                node.settle(now);
                node.pump(now);
            }
            // `secondary` while connected: the demotion shows only as the new state.
            Packet::State(word)
                if node.replica.state().role == Role::Primary
                    && State::unpack(word).is_ok_and(|s| s.role == Role::Secondary) =>
            {
                let demote = StateChange::new().role(Role::Secondary);
                node.replica.request_change(demote, false, &mut node.host);
                node.settle(now);
                node.pump(now);
            }
            Packet::Data {
                kind: DataKind::Data,
                hdr,
                data_len,
                ..
            } => {
                // Writes with REQ_SYNC only: the O_DIRECT writes of the README.
                assert_eq!(hdr.dp_flags, wire::DP_SEND_WRITE_ACK | wire::DP_RW_SYNC);
                node.app_write(hdr.sector, data_len, hdr.block_id, p.data, now);
            }
            _ => {}
        }
    }
    node.advance(until_ms);
}

fn end_of(session: &Session) -> u64 {
    session.packets.last().map_or(0, |p| p.at_ms) + 1
}

/// node-a's `verify` (§5.6, §6.4: mask conn, val VerifyS).
const VERIFY_REQUEST: StateReq = StateReq {
    mask: 0x1f0,
    val: 0x120,
};

/// When node-a requested the verify of the second session: the resync part of the replay
/// ends there.
fn verify_request_ms(session: &Session) -> u64 {
    session
        .from(true)
        .find(|p| p.packet == Packet::StateChgReq(VERIFY_REQUEST))
        .expect("verify request in the capture")
        .at_ms
}

/// What one node sent on one socket in `session` from capture time `from_ms` on.
fn captured_from(session: &Session, a: bool, socket: Socket, from_ms: u64) -> Vec<Packet<'static>> {
    session
        .from(a)
        .filter(|p| p.socket == socket && p.at_ms >= from_ms)
        .map(|p| p.packet)
        .collect()
}

/// What one node sent on one socket in `session` before capture time `until_ms`.
fn captured_before(
    session: &Session,
    a: bool,
    socket: Socket,
    until_ms: u64,
) -> Vec<Packet<'static>> {
    session
        .from(a)
        .filter(|p| p.socket == socket && p.at_ms < until_ms)
        .map(|p| p.packet)
        .collect()
}

fn control(packets: &[Packet<'static>]) -> Vec<Packet<'static>> {
    packets.iter().copied().filter(is_control).collect()
}

impl Node {
    /// What we sent on `socket` since `mark` (an index into everything sent).
    fn sent_since(&self, mark: usize, socket: Socket) -> Vec<Packet<'static>> {
        self.host.sent[mark..]
            .iter()
            .filter(|s| s.socket == socket)
            .map(|s| s.packet)
            .collect()
    }
}

fn uuid_slots(u: &Uuids) -> [u64; 4] {
    [u.current, u.bitmap, u.history[0], u.history[1]]
}

/// Requests as a set (drbd.ko's order and pacing follow its own clock, ours ours).
fn request_set(v: &[BlockReq]) -> BTreeSet<(u64, u32, u64)> {
    v.iter()
        .map(|r| (r.sector, r.blksize, r.block_id))
        .collect()
}

/// `(sector, size, digest)` of every `P_OV_REPLY` in `packets`.
fn ov_replies(packets: &[Packet<'static>]) -> Vec<(u64, u32, &'static [u8])> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::BlockRequest {
                kind: RequestKind::OvReply,
                req,
                digest,
            } => Some((req.sector, req.blksize, *digest)),
            _ => None,
        })
        .collect()
}

fn sorted_by_sector(mut v: Vec<(DataHeader, u32)>) -> Vec<(DataHeader, u32)> {
    v.sort_by_key(|(h, len)| (h.sector, *len));
    v
}

/// Node-a (our replica as SyncSource): connect, `primary --force`, full sync, 272 writes,
/// `disconnect`; local writes while StandAlone, `connect`, bitmap exchange and a 64-bit
/// resync; `verify` as VerifyS.
#[test]
fn node_a_sync_source_writes_and_reconnect() {
    let Some(sessions) = sessions() else {
        return;
    };
    let (first, second) = (&sessions[0], &sessions[1]);
    let a_data = first.packets_from(true, Socket::Data);
    let b_data = first.packets_from(false, Socket::Data);

    // The random values node-a's capture shows it generated: the current UUID of the forced
    // promotion, the sync UUID (random because the bitmap UUID was 4, §7.2), and the current
    // UUID it made when it lost its peer while Primary (sent at the reconnect).
    let promoted = uuids_of(&a_data)[1];
    let sync_uuid = first_of(&a_data, |p| match p {
        Packet::SyncUuid(u) => Some(*u),
        _ => None,
    });
    let reconnect = uuids_of(&second.packets_from(true, Socket::Data))[0];
    let randoms = [promoted.current, sync_uuid, reconnect.current];

    let geometry = geometry_of(&a_data);
    let mut node = Node::new(
        standalone(DiskState::Inconsistent),
        UuidSet::just_created(),
        geometry,
        &randoms,
    );
    let (net, sync) = settings(own_features(&a_data));
    node.replica.connect(net, sync, &mut node.host);
    replay(&mut node, first, true, end_of(first));

    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    assert_eq!(node.host.bad_acks, 0);
    // As drbd.ko (its log: splitbrain.node-a.dmesg.txt): `before-resync-source` before each
    // resync as SyncSource.
    assert_eq!(node.host.helpers, [Helper::BeforeResyncSource]);
    let ours_data = node.sent_since(0, Socket::Data);

    // Handshake, state changes, UUIDs, bitmap, sync UUID, disconnect: the same packets in the
    // same order on each socket (§1.5, §6.4, §7.2, §9, §12).
    let expected = control(&a_data);
    assert_eq!(control(&ours_data), expected);
    assert_eq!(
        control(&node.sent_since(0, Socket::Meta)),
        control(&first.packets_from(true, Socket::Meta))
    );
    // Spelled out, the facts the sequence above holds (§12).
    assert_eq!(states_of(&expected), [0xc882, 0x88aa, 0x90a9]);
    assert!(expected.contains(&Packet::StateChgReq(StateReq {
        mask: 0x1e03,
        val: 0x1001
    })));
    assert_eq!(promoted.bitmap, 4);
    assert!(expected.contains(&Packet::CompressedBitmap(&[0xb2, 0x7f, 0xc5, 0x1e, 0x00])));
    assert!(expected.contains(&Packet::ConnStChgReq(StateReq {
        mask: 0x1f0,
        val: 0x10
    })));

    // Every P_RS_DATA_REQUEST of node-b answered with the same P_RS_DATA_REPLY header. Ours
    // go out in request order, drbd.ko's in read-completion order (observed: 10240 before
    // 8192), so they are compared sorted.
    let replies = data_headers(&a_data, DataKind::RsDataReply);
    assert_eq!(replies.len(), 64);
    assert_eq!(resync_requests(&b_data).len(), 64);
    assert_eq!(
        sorted_by_sector(data_headers(&ours_data, DataKind::RsDataReply)),
        sorted_by_sector(replies)
    );
    // The disks were zero-filled: node-a's replies carried zeros, as our reads return.
    for p in first.from(true) {
        if let Packet::Data {
            kind: DataKind::RsDataReply,
            ..
        } = p.packet
        {
            assert!(p.data.iter().all(|&b| b == 0));
        }
    }

    // The writes: the same P_DATA headers (block_id is our handle, taken from the capture;
    // sequence numbers 1.. and flags 0x102 are the core's), a barrier after each write, every
    // write completed by node-b's ack and barrier ack.
    let our_writes = data_headers(&ours_data, DataKind::Data);
    assert_eq!(our_writes, data_headers(&a_data, DataKind::Data));
    assert_eq!(our_writes.len(), 272);
    assert_eq!(node.our_barriers().len(), node.captured_barriers.len());
    assert_eq!(node.host.completions, 272);
    assert!(node.host.requests.is_empty());

    // `disconnect`: StandAlone, with the UUIDs node-a carried into its reconnect (a new
    // current UUID because it lost its peer while Primary, §7.2).
    let st = *node.replica.state();
    assert_eq!(
        (st.conn, st.role, st.disk),
        (ConnState::StandAlone, Role::Primary, DiskState::UpToDate)
    );
    assert_eq!(node.replica.uuids().to_array(), uuid_slots(&reconnect));
    assert_eq!(node.host.finished, [Ok(()), Ok(())]);
    assert_eq!(node.host.bitmap.count(), 0);

    // README step 4: 256 KiB of writes at 5000 × 4 KiB while disconnected (local only, they
    // go to the bitmap), then `connect`.
    let start = second.packets[0].at_ms;
    node.advance(start);
    // Their data is not on the wire until node-a serves the resync with it.
    for (i, block) in (5000u64..5064).enumerate() {
        let data = captured_reply_data(second, block * 8);
        node.app_write(block * 8, 4096, i as u64 + 1, data, start);
    }
    assert_eq!(node.host.bitmap.count(), reconnect.bitmap_bits);
    node.replica.connect(net, sync, &mut node.host);
    let mark = node.host.sent.len();
    let until = verify_request_ms(second);
    replay(&mut node, second, true, until);

    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    let ours_data = node.sent_since(mark, Socket::Data);
    let a_data = captured_before(second, true, Socket::Data, until);
    let b_data = captured_before(second, false, Socket::Data, until);
    // Rule 70 ⇒ WFBitMapS: handshake with the rotated UUIDs and 64 bits, our bitmap (the same
    // RLE bytes: 5000 clear, 64 set, 11310 clear), P_SYNC_UUID = bitmap UUID + 2^48 (§7.2).
    let expected = control(&a_data);
    assert_eq!(control(&ours_data), expected);
    assert!(control(&node.sent_since(mark, Socket::Meta)).is_empty());
    assert_eq!(states_of(&expected), [0xd081, 0xf0d9]);
    assert!(expected.contains(&Packet::CompressedBitmap(&[
        0x02, 0x3f, 0x57, 0xf2, 0x7b, 0xf8, 0xeb, 0x57, 0x00
    ])));
    assert!(expected.contains(&Packet::SyncUuid(reconnect.bitmap + (1 << 48))));
    // The four requests of the dirty run, answered with the same headers.
    assert_eq!(resync_requests(&b_data).len(), 4);
    assert_eq!(
        sorted_by_sector(data_headers(&ours_data, DataKind::RsDataReply)),
        sorted_by_sector(data_headers(&a_data, DataKind::RsDataReply))
    );
    // node-b's P_STATE 0x110a6 ended the resync on our side too.
    let st = *node.replica.state();
    assert_eq!(
        (st.conn, st.role, st.peer, st.disk, st.pdsk),
        (
            ConnState::Connected,
            Role::Primary,
            Role::Secondary,
            DiskState::UpToDate,
            DiskState::UpToDate
        )
    );
    assert_eq!(node.host.bitmap.count(), 0);
    assert_eq!(node.host.helpers, [Helper::BeforeResyncSource; 2]);

    // `verify` (§5.6): we are VerifyS to the end of the capture (`secondary`, `down`). Our
    // requests are paced by our controller, node-b's digests delivered against them; each is
    // compared with the md5 of our copy of the block.
    let mark = node.host.sent.len();
    let end = end_of(second);
    replay_more(&mut node, second, true, until, end);
    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    let ours_data = node.sent_since(mark, Socket::Data);
    let ours_meta = node.sent_since(mark, Socket::Meta);
    let a_data = captured_from(second, true, Socket::Data, until);
    let a_meta = captured_from(second, true, Socket::Meta, until);
    // The request, the final P_STATE (Connected, apv 101: observed 0x110a9), the demotion's
    // state, the disconnect — as node-a sent them.
    let expected = control(&a_data);
    assert_eq!(control(&ours_data), expected);
    assert_eq!(
        expected[..2],
        [Packet::StateChgReq(VERIFY_REQUEST), Packet::State(0x110a9)]
    );
    // Every 4 KiB block requested once (§5.6 step 2), in order from sector 0.
    let requests: Vec<BlockReq> = ours_data
        .iter()
        .filter_map(|p| match p {
            Packet::BlockRequest {
                kind: RequestKind::OvRequest,
                req,
                digest,
            } => {
                assert!(digest.is_empty());
                Some(*req)
            }
            _ => None,
        })
        .collect();
    let blocks = geometry.capacity_sectors / 8;
    assert_eq!(requests.len() as u64, blocks);
    assert!(requests
        .iter()
        .enumerate()
        .all(|(i, r)| (r.sector, r.blksize, r.block_id) == (i as u64 * 8, 4096, wire::ID_SYNCER)));
    // Every block in sync, as drbd.ko found (P_OV_RESULT with ID_IN_SYNC, §5.6 step 4).
    let sorted = |mut v: Vec<BlockAck>| {
        v.sort_by_key(|a| a.sector);
        v.into_iter()
            .map(|a| (a.sector, a.block_id, a.blksize))
            .collect::<Vec<_>>()
    };
    let ours = sorted(acks_of(&ours_meta, AckKind::OvResult));
    assert_eq!(ours.len() as u64, blocks);
    assert_eq!(ours, sorted(acks_of(&a_meta, AckKind::OvResult)));
    assert!(ours.iter().all(|r| r.1 == wire::ID_IN_SYNC));
    assert!(node
        .host
        .log
        .iter()
        .any(|l| l == "Starting Online Verify from sector 0"));
    assert!(node
        .host
        .log
        .iter()
        .any(|l| l.starts_with("Online verify done")));
    assert!(!node.host.log.iter().any(|l| l.starts_with("Out of sync")));
    assert_eq!(node.host.helpers, [Helper::BeforeResyncSource; 2]);
    assert_eq!(node.host.bitmap.count(), 0);
    assert_eq!(node.replica.verify_start_sector(), 0, "a complete run");
}

/// The 4 KiB node-a served at `sector` in `session`'s resync (`P_RS_DATA_REPLY` data).
fn captured_reply_data(session: &Session, sector: u64) -> &'static [u8] {
    session
        .from(true)
        .find_map(|p| match p.packet {
            Packet::Data {
                kind: DataKind::RsDataReply,
                hdr,
                data_len,
                ..
            } if (hdr.sector..hdr.sector + u64::from(data_len) / 512).contains(&sector) => {
                let at = ((sector - hdr.sector) * 512) as usize;
                p.data.get(at..at + 4096)
            }
            _ => None,
        })
        .expect("resync data for the block")
}

/// Node-b (our replica as SyncTarget), fed node-a's packets: the same scenario from the other
/// side; node-a's `disconnect` is a TearDown here, after which node-b waits for the reconnect.
#[test]
fn node_b_sync_target_writes_and_reconnect() {
    let Some(sessions) = sessions() else {
        return;
    };
    let (first, second) = (&sessions[0], &sessions[1]);
    let b_data = first.packets_from(false, Socket::Data);
    let b_meta = first.packets_from(false, Socket::Meta);
    let a_data = first.packets_from(true, Socket::Data);

    let geometry = geometry_of(&b_data);
    // Node-b generates no UUID in this scenario (it is never Primary, and a SyncTarget takes
    // its UUIDs from the source).
    let mut node = Node::new(
        standalone(DiskState::Inconsistent),
        UuidSet::just_created(),
        geometry,
        &[],
    );
    let (net, sync) = settings(own_features(&b_data));
    node.replica.connect(net, sync, &mut node.host);
    replay(&mut node, first, false, end_of(first));

    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    // As drbd.ko (its log in ../shared/testdata/drbd84-peer/splitbrain.node-b.dmesg.txt):
    // `before-resync-target` before the resync as SyncTarget, `after-resync-target` after.
    assert_eq!(
        node.host.helpers,
        [Helper::BeforeResyncTarget, Helper::AfterResyncTarget]
    );
    let ours_data = node.sent_since(0, Socket::Data);
    let ours_meta = node.sent_since(0, Socket::Meta);

    // Handshake, the UUIDs and state of the resync decision after node-a's promotion (rule
    // 20), the merged bitmap, the final state; on the meta socket the replies to node-a's
    // promotion and disconnect.
    let expected = control(&b_data);
    assert_eq!(control(&ours_data), expected);
    assert_eq!(states_of(&expected), [0xc882, 0x88aa, 0x108e6, 0x110a6]);
    assert_eq!(control(&ours_meta), control(&b_meta));
    assert_eq!(
        control(&ours_meta),
        [Packet::StateChgReply(1), Packet::ConnStChgReply(1)]
    );

    // Our requests cover exactly the sectors node-b requested, each once (64 × 1 MiB, the last
    // clipped). Pacing differs (our resync controller runs on our clock): compared as sets.
    let ours = resync_requests(&ours_data);
    let theirs = resync_requests(&b_data);
    assert_eq!(theirs.len(), 64);
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(request_set(&ours), request_set(&theirs));
    // Replies arrive in node-a's order and each is written and acknowledged at once: the same
    // acks with the same sequence numbers (1..64, §4.3).
    assert_eq!(
        acks_of(&ours_meta, AckKind::RsWriteAck),
        acks_of(&b_meta, AckKind::RsWriteAck)
    );
    // The target pings before it declares the resync done (§10, §12).
    let final_state = node
        .host
        .sent
        .iter()
        .position(|p| p.packet == Packet::State(0x110a6))
        .expect("final state sent");
    assert!(node.host.sent[..final_state]
        .iter()
        .any(|p| p.packet == Packet::Ping));
    // Every P_PING of node-a answered.
    let pings = first
        .from(true)
        .filter(|p| p.packet == Packet::Ping)
        .count();
    let ping_acks = ours_meta.iter().filter(|p| **p == Packet::PingAck).count();
    assert_eq!(ping_acks, pings);

    // The writes: P_DATA in, the same P_WRITE_ACKs (sequence 65.., echoing sector, block_id
    // and size) and P_BARRIER_ACKs (node-a's barrier numbers verbatim, one write each) out.
    assert_eq!(data_headers(&a_data, DataKind::Data).len(), 272);
    assert_eq!(
        acks_of(&ours_meta, AckKind::WriteAck),
        acks_of(&b_meta, AckKind::WriteAck)
    );
    assert_eq!(barrier_acks(&ours_meta), barrier_acks(&b_meta));
    assert_eq!(barrier_acks(&ours_meta).len(), 272);

    // node-a's disconnect: TearDown, then waiting for the reconnect (§6.4), with the UUIDs
    // node-b sent at the reconnect and a clear bitmap.
    let st = *node.replica.state();
    assert_eq!(
        (st.conn, st.role, st.disk, st.pdsk),
        (
            ConnState::WFConnection,
            Role::Secondary,
            DiskState::UpToDate,
            DiskState::DUnknown
        )
    );
    let reconnect = uuids_of(&second.packets_from(false, Socket::Data))[0];
    assert_eq!(node.replica.uuids().to_array(), uuid_slots(&reconnect));
    assert_eq!(node.host.bitmap.count(), reconnect.bitmap_bits);

    // The reconnect: rule 50 ⇒ WFBitMapT (reported as Outdated, §6.6), node-a's bitmap merged
    // and sent back, P_SYNC_UUID, the four requests of the dirty run, P_STATE 0x110a6.
    let mark = node.host.sent.len();
    let until = verify_request_ms(second);
    replay(&mut node, second, false, until);
    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    let ours_data = node.sent_since(mark, Socket::Data);
    let ours_meta = node.sent_since(mark, Socket::Meta);
    let b_data = captured_before(second, false, Socket::Data, until);
    let b_meta = captured_before(second, false, Socket::Meta, until);
    let expected = control(&b_data);
    assert_eq!(control(&ours_data), expected);
    assert!(control(&ours_meta).is_empty());
    assert_eq!(states_of(&expected), [0xd082, 0x10ae6, 0x110a6]);
    let ours = resync_requests(&ours_data);
    assert_eq!(
        ours.iter()
            .map(|r| (r.sector, r.blksize))
            .collect::<Vec<_>>(),
        [
            (40000, 32768),
            (40064, 65536),
            (40192, 131072),
            (40448, 32768)
        ]
    );
    assert_eq!(request_set(&ours), request_set(&resync_requests(&b_data)));
    assert_eq!(
        acks_of(&ours_meta, AckKind::RsWriteAck),
        acks_of(&b_meta, AckKind::RsWriteAck)
    );
    let st = *node.replica.state();
    assert_eq!(
        (st.conn, st.peer, st.disk, st.pdsk),
        (
            ConnState::Connected,
            Role::Primary,
            DiskState::UpToDate,
            DiskState::UpToDate
        )
    );
    assert_eq!(node.host.bitmap.count(), 0);

    // node-a's `verify` (Connected → VerifyS, §5.6): we are VerifyT to the end of the capture.
    let mark = node.host.sent.len();
    replay_more(&mut node, second, false, until, end_of(second));
    assert!(node.inbox_empty(), "undelivered: {:?}", node.inbox);
    assert_eq!(
        node.lost, 0,
        "peer packets after our replica closed the sockets"
    );
    let ours_data = node.sent_since(mark, Socket::Data);
    let ours_meta = node.sent_since(mark, Socket::Meta);
    let b_data = captured_from(second, false, Socket::Data, until);
    let b_meta = captured_from(second, false, Socket::Meta, until);
    // No state change of ours, the approval and node-a's final disconnect approved.
    assert!(control(&ours_data).is_empty());
    assert_eq!(control(&b_data), control(&ours_data));
    assert_eq!(
        control(&ours_meta),
        [Packet::StateChgReply(1), Packet::ConnStChgReply(1)]
    );
    assert_eq!(control(&ours_meta), control(&b_meta));
    // Every block's digest is node-b's: the md5 (verify-alg) of what the replay wrote to our
    // disk (the full sync's zeros, node-a's 576 blocks of writes and resync). drbd.ko answered
    // in its reads' completion order, ours is the requests' order: compared by sector.
    let sorted = |mut v: Vec<(u64, u32, &'static [u8])>| {
        v.sort();
        v
    };
    let ours = sorted(ov_replies(&ours_data));
    let theirs = sorted(ov_replies(&b_data));
    assert_eq!(theirs.len() as u64, geometry.capacity_sectors / 8);
    assert_eq!(ours, theirs);
    let zeros = DigestAlg::Md5.digest(&[0; 4096]);
    let written = ours.iter().filter(|r| r.2 != zeros.as_bytes()).count();
    assert_eq!(written, 576, "blocks with data, not zeros");
    // node-a found nothing: no run logged, no helper; the run ended on our count (node-a's
    // P_STATE 0x110a9 came after it), then node-a's disconnect.
    assert!(node
        .host
        .log
        .iter()
        .any(|l| l == "Online Verify start sector: 0"));
    assert!(node
        .host
        .log
        .iter()
        .any(|l| l.starts_with("Online verify done")));
    assert!(!node.host.log.iter().any(|l| l.starts_with("Out of sync")));
    // No `out-of-sync`: only the two earlier resyncs' helpers.
    assert_eq!(
        node.host.helpers,
        [
            Helper::BeforeResyncTarget,
            Helper::AfterResyncTarget,
            Helper::BeforeResyncTarget,
            Helper::AfterResyncTarget
        ]
    );
    assert_eq!(node.host.bitmap.count(), 0);
    assert!(node
        .host
        .states
        .iter()
        .any(|s| s.conn == ConnState::VerifyT));
    assert_eq!(node.replica.state().conn, ConnState::WFConnection);
}
