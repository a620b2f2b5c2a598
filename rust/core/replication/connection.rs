// SPDX-License-Identifier: GPL-2.0
//! One device and its connection to the peer, as the protocol sees them: the connect
//! handshake, cluster-wide state changes, keep-alive. Sans-I/O: events in (methods), actions
//! out (calls on a [`Host`]), so the kernel module and the simulator run the same decisions.
//!
//! Spec: `wire-protocol.md` §1 (establishment), §1.5 (initial packets and their checks),
//! §4.5–4.9, §6 (states and cluster-wide changes), §7.4 (sync handshake), §10 (keep-alive).
//!
//! The engine owns the sockets: it connects/accepts as §1.2 describes, classifies the two
//! TCP connections with [`classify_first_packet`], then calls [`Replica::sockets_established`].
//! From then on every packet it reads goes to [`Replica::receive`] and every timer tick to
//! [`Replica::tick`]. When the replica decides the connection is over it calls
//! [`Host::drop_sockets`]; the engine closes both sockets and — if [`Replica::wants_connection`]
//! — starts connecting again.

use core::fmt;

use super::super::bitmap::Bitmap;
use super::super::bitmap_xfer::BitmapReceiver;
use super::super::digest::DigestAlg;
use super::super::genl::ret_code::RetCode;
use super::super::state::{
    prepare_change, sanitize, ChangeKind, ChangeOutcome, ConnState, DiskState, Fencing, Field,
    Role, SsCode, State, StateChange, StateContext, StateError,
};
use super::super::uuid::{
    uuid_compare, CompareContext, PeerUuids, UuidSet, UUID_FLAG_CRASHED_PRIMARY,
    UUID_FLAG_DISCARD_MY_DATA, UUID_FLAG_SKIP_INITIAL_SYNC,
};
use super::super::wire::{
    self, AckKind, Agreed, Cmd, DataKind, DescKind, Features, Packet, ProtocolSettings,
    RequestKind, Sizes, StateReq, SyncParams, TrimKind, Uuids, CF_DISCARD_MY_DATA, CF_DRY_RUN,
};
use super::conflicts::{Conflicts, IoKind, Slot, SlotEntry};
use super::csums::ReadPurpose;
use super::epochs::{ReceiverEpochs, SenderEpochs, SentEpoch};
use super::resync_handlers::ResyncHandlerTicket;
use super::resync_path::{HeldWrite, PeerRead, SyncProgress, SyncRun};
use super::sync_control::SyncControl;
use super::sync_handshake::{
    sync_handshake, Event, HandshakeInput, Helper, RrConflict, SplitBrainView,
};
use super::verify::VerifyState;
use super::writes::PeerWriteKind;
use super::{WireProtocol, WriteOrdering};

/// Barriered epochs the Primary may have unacknowledged before it waits (back pressure).
pub const EPOCH_RING: usize = 256;
/// In-flight I/O tracked for ordering (application writes, peer writes, resync traffic).
/// drbd.ko as SyncTarget keeps at most max-buffers/2 = 1024 requests in flight.
pub const CONFLICT_SLOTS: usize = 2048;

/// Caller-provided storage of a [`Replica`] (the core does not allocate, and 56 KiB must not
/// pass through a kernel stack): the kernel gives heap vectors, the simulator `Vec`s.
pub trait Storage {
    /// Barriered epochs not yet acknowledged; [`EPOCH_RING`] entries.
    type Epochs: AsRef<[SentEpoch]> + AsMut<[SentEpoch]>;
    /// In-flight I/O slots; [`CONFLICT_SLOTS`] entries.
    type Slots: AsRef<[SlotEntry]> + AsMut<[SlotEntry]>;
}

/// Which of the two TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// The data socket ("sock").
    Data,
    /// The meta socket ("msock"): pings and acks.
    Meta,
}

/// Classify an accepted TCP connection by the first packet the connecting peer sent on it
/// (always an h80 header, §1.2). `None`: not a DRBD initial packet; close it.
pub fn classify_first_packet(header: &[u8]) -> Option<Socket> {
    let h = wire::decode_header(header, &Agreed::PRE_HANDSHAKE).ok()?;
    match (Cmd::from_u16(h.cmd)?, h.length) {
        (Cmd::InitialData, 0) => Some(Socket::Data),
        (Cmd::InitialMeta, 0) => Some(Socket::Meta),
        _ => None,
    }
}

/// Severity of a log line (the kernel's `drbd_err`/`drbd_warn`/`drbd_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An error.
    Err,
    /// A warning.
    Warn,
    /// Information.
    Info,
}

/// The world around a [`Replica`]: the engine in the kernel, a simulated node on the host.
pub trait Host {
    /// Queue `packet` for `socket`, encoded with `ctx`. Data-carrying packets are not sent
    /// through here.
    fn send(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>);
    /// Close both sockets (the connection is over or failed) — as a TCP close: what was
    /// sent before still reaches the peer, which sees the end of the stream after it.
    fn drop_sockets(&mut self);
    /// One kernel log line.
    fn log(&mut self, level: Level, args: fmt::Arguments<'_>);
    /// The state changed (for /proc/drbd, events, waking waiters).
    fn state_changed(&mut self, old: &State, new: &State);
    /// UUIDs or meta-data flags changed: write the superblock.
    fn write_meta_data(&mut self, uuids: &UuidSet);
    /// Set every bit of the bitmap and write it whole (a full sync is decided: handshake,
    /// invalidate, invalidate-remote; drbd's `drbd_bmio_set_n_write`). The bitmap must be on
    /// disk before anything sent after this call leaves: the resync starts from it.
    fn mark_all_out_of_sync(&mut self);
    /// Clear every bit of the bitmap and write it whole (`new-current-uuid --clear-bitmap`,
    /// drbd's `drbd_bmio_clear_n_write`).
    fn clear_bitmap(&mut self);
    /// A resync cleared bits: write the bitmap's changed part to the meta data — only after
    /// the data those bits stand for is durable — and, with `announce`, tell listeners
    /// (`DRBD_EVENT` SIB_SYNC_PROGRESS). Called every
    /// [`super::resync_path::RESYNC_PROGRESS_INTERVAL_MS`] while a resync clears bits, when
    /// it ends, and (without `announce`) when the connection is lost during one (drbd's
    /// `update_on_disk_bitmap` and the write-out at disconnect). May be done after the call
    /// returns, outside the caller's locks.
    fn resync_progress(&mut self, announce: bool);
    /// Bits set in the bitmap (`UI_SIZE` of `P_UUIDS`).
    fn bitmap_weight(&self) -> u64;
    /// A random 64-bit value (new UUIDs).
    fn random_u64(&mut self) -> u64;
    /// Run a user-mode helper (`split-brain`, …).
    fn call_helper(&mut self, helper: Helper);
    /// A resync is about to start: run `ticket`'s `before-resync-*` handler and wait for it,
    /// outside the caller's locks. Its exit code now, or None and
    /// [`Replica::before_resync_done`] once it exited ([`super::resync_handlers`]).
    fn before_resync(&mut self, ticket: ResyncHandlerTicket) -> Option<u8>;
    /// Run the `fence-peer` handler, not under the caller's locks and without holding up
    /// the connection: [`Replica::fence_peer_start`], the handler, then
    /// [`Replica::fence_peer_done`] ([`super::fencing`]).
    fn fence_peer(&mut self);
    /// The agreed device size changed: set the capacity of `/dev/drbdN` (sectors).
    fn set_capacity(&mut self, sectors: u64);
    /// The largest request both nodes accept (bytes): lower the queue limit to it.
    fn set_max_bio_size(&mut self, bytes: u32);
    /// A cluster-wide state change requested with [`Replica::request_change`] finished.
    fn change_finished(&mut self, result: Result<(), StateError>);
    /// Keep a write received from the peer together with the data that came with it (the
    /// engine's receive buffer) under its slot, until [`Host::submit_held`].
    fn hold_write(&mut self, write: HeldWrite);
    /// Submit the held write of `slot` to the lower device; report the result with
    /// [`Replica::peer_write_done`] or [`Replica::resync_write_done`].
    fn submit_held(&mut self, slot: Slot);
    /// Send this node's whole bitmap (a series of `P_BITMAP`/`P_COMPRESSED_BITMAP` made by
    /// [`super::super::bitmap_xfer::BitmapSender`] with `ctx.header_len()`).
    fn send_bitmap(&mut self, ctx: &Agreed, use_rle: bool);
    /// Run `f` on the bitmap (under the engine's bitmap lock).
    fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>));
    /// Read a range for the peer; report with [`Replica::peer_read_done`].
    fn read_for_peer(&mut self, read: PeerRead);
    /// Send `packet` (a data packet) followed by the block data read for `slot`.
    fn send_block(&mut self, ctx: &Agreed, packet: &Packet<'_>, slot: Slot);
    /// Flush the lower device, then call [`Replica::flush_done`].
    fn flush_lower(&mut self);
    /// Mark a range out of sync in the bitmap.
    fn mark_out_of_sync(&mut self, sector: u64, size: u32);
    /// Clear a range in the bitmap (both copies are equal).
    fn mark_in_sync(&mut self, sector: u64, size: u32);
    /// A per-write ack for the request whose handle is `ack.block_id`: apply it to the
    /// request's [`super::request::WriteRequest`]. False: no such request, or the request
    /// refused the ack — a protocol error.
    fn peer_acked(&mut self, kind: wire::AckKind, ack: &wire::BlockAck) -> bool;
    /// `P_BARRIER_ACK` for `epoch`: every request of that epoch gets `barrier_acked`.
    fn epoch_acked(&mut self, epoch: u32);
    /// The connection is gone: every request still waiting for the peer gets
    /// `connection_lost`.
    fn requests_lost(&mut self);
}

/// Net options the handshake uses (the `net { }` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetSettings {
    /// Replication protocol.
    pub protocol: WireProtocol,
    /// `after-sb-0pri`, `after-sb-1pri`, `after-sb-2pri` (wire values, §8; see
    /// [`super::sync_handshake::AfterSb`]).
    pub after_sb: [u32; 3],
    /// `always-asbp`: the after-sb policies also resolve a −100 split brain (as a full sync).
    /// A local option; drbd does not exchange it.
    pub always_asbp: bool,
    /// `allow-two-primaries`.
    pub two_primaries: bool,
    /// `connect --discard-my-data`.
    pub discard_my_data: bool,
    /// `connect --dry-run`.
    pub dry_run: bool,
    /// `rr-conflict`.
    pub rr_conflict: RrConflict,
    /// `ping-int` in seconds.
    pub ping_int_s: u32,
    /// `ping-timeout` in 0.1 s.
    pub ping_timeout_ds: u32,
    /// `timeout` in 0.1 s (the send timeout; with `ko-count` the limit for an ack).
    pub timeout_ds: u32,
    /// `ko-count`: a write unacknowledged for `ko-count × timeout` drops the peer (0 = off).
    pub ko_count: u32,
    /// Feature flags to advertise (`DRBD_FF_*`).
    pub features: u32,
    /// `max-epoch-size`: writes per epoch.
    pub max_epoch_size: u32,
    /// Write ordering on this node's lower device (`disk-flushes`, `disk-drain`).
    pub write_ordering: WriteOrdering,
    /// `use-rle`: send the bitmap RLE-compressed where that is smaller (apv ≥ 90).
    pub use_rle: bool,
    /// `verify-alg`: the digest of online verify ([`super::verify`]), a name
    /// [`super::super::digest::DigestAlg::from_name`] knows or none (verify is then refused
    /// with SS_NO_VERIFY_ALG). Sent in `P_SYNC_PARAM89`, it must equal the peer's (§1.5).
    pub verify_alg: AlgName,
    /// `csums-alg`: the digest of checksum-based resync ([`super::csums`]), or none. Sent in
    /// `P_SYNC_PARAM89`, it must equal the peer's (§1.5).
    pub csums_alg: AlgName,
    /// `csums-after-crash-only`: checksum-based resync only while this node is a crashed
    /// primary (a local option).
    pub csums_after_crash_only: bool,
}

impl NetSettings {
    /// drbd 8.4's defaults with protocol C.
    pub const DEFAULT: NetSettings = NetSettings {
        protocol: WireProtocol::C,
        after_sb: [0; 3],
        always_asbp: false,
        two_primaries: false,
        discard_my_data: false,
        dry_run: false,
        rr_conflict: RrConflict::Disconnect,
        ping_int_s: 10,
        ping_timeout_ds: 5,
        timeout_ds: 60,
        ko_count: 7,
        features: wire::DRBD_FF_TRIM | wire::DRBD_FF_WSAME,
        max_epoch_size: 2048,
        write_ordering: WriteOrdering::Flush,
        use_rle: true,
        verify_alg: AlgName::NONE,
        csums_alg: AlgName::NONE,
        csums_after_crash_only: false,
    };
}

/// Resync settings exchanged in `P_SYNC_PARAM89` (the peer's values replace ours, §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// `resync-rate`, KiB/s.
    pub resync_rate: u32,
    /// `c-plan-ahead` (0.1 s), `c-delay-target` (0.1 s), `c-fill-target` (sectors),
    /// `c-max-rate` (KiB/s).
    pub controller: wire::Controller,
}

impl SyncSettings {
    /// Compiled-in defaults (what a diskless node sends).
    pub const DEFAULT: SyncSettings = SyncSettings {
        resync_rate: 250,
        controller: wire::Controller {
            plan_ahead: 20,
            delay_target: 10,
            fill_target: 100,
            max_rate: 102_400,
        },
    };
}

/// The local disk as the handshake describes it (`P_SIZES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskGeometry {
    /// Usable sectors of the backing device (`d_size`).
    pub usable_sectors: u64,
    /// The `size` option, 0 = none (`u_size`).
    pub user_sectors: u64,
    /// Current capacity of `/dev/drbdN` (`c_size`).
    pub capacity_sectors: u64,
    /// Largest request the local stack accepts, bytes.
    pub max_bio_size: u32,
    /// The `o_qlim` tail (FF_WSAME).
    pub queue_limits: wire::QueueLimits,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No net config (StandAlone) or being torn down.
    Idle,
    /// The engine is establishing the two sockets (WFConnection).
    Connecting,
    /// Sockets up, our features sent; waiting for the peer's.
    Features,
    /// Initial packets sent (WFReportParams); collecting the peer's.
    Params,
    /// Past the sync handshake (Connected or a sync/bitmap state).
    Established,
}

/// What the peer told us during the parameter exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct PeerParams {
    uuids: Option<PeerUuids>,
}

/// A cluster-wide change we asked the peer to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingChange {
    change: StateChange,
    force_uuid: bool,
    connection_wide: bool,
}

/// Why the connection ends (the transient connection state it passes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// A socket read or write failed, or the peer closed it (`BrokenPipe`).
    SocketError,
    /// Ping ack missing (`NetworkFailure`).
    NetworkFailure,
    /// The peer violated the protocol (`ProtocolError`).
    ProtocolError,
    /// Send or ack timeout (`Timeout`).
    Timeout,
}

impl LossReason {
    pub(super) const fn conn(self) -> ConnState {
        match self {
            LossReason::SocketError => ConnState::BrokenPipe,
            LossReason::NetworkFailure => ConnState::NetworkFailure,
            LossReason::ProtocolError => ConnState::ProtocolError,
            LossReason::Timeout => ConnState::Timeout,
        }
    }
}

/// One device and its peer connection (see the module documentation).
pub struct Replica<S: Storage> {
    state: State,
    uuids: UuidSet,
    crashed_primary: bool,
    geometry: DiskGeometry,
    net: NetSettings,
    sync: SyncSettings,
    phase: Phase,
    agreed: Agreed,
    resolve_conflicts: bool,
    peer: PeerParams,
    /// Time of the last packet received on either socket (ms).
    last_receive_ms: u64,
    /// When our unanswered `P_PING` went out.
    ping_sent_ms: Option<u64>,
    /// When the sockets were established (the feature exchange has 4 × ping-timeout).
    established_ms: u64,
    pending: Option<PendingChange>,
    pub(super) sender: SenderEpochs<S::Epochs>,
    pub(super) receiver: ReceiverEpochs,
    /// Per-volume sequence number of the last P_DATA / ack sent (§4.3).
    seq: u32,
    pub(super) conflicts: Conflicts<S::Slots>,
    arrival: u64,
    pub(super) bm_rx: Option<BitmapReceiver>,
    pub(super) sync_run: Option<SyncRun>,
    pub(super) sync_progress: Option<SyncProgress>,
    /// The peer was forced to UpToDate + Primary while both were Inconsistent: its next
    /// `P_STATE` reruns the sync handshake (drbd's `CONSIDER_RESYNC`).
    consider_resync: bool,
    device_open: bool,
    /// The bitmap weight our last `P_UUIDS` carried (drbd's `comm_bm_set`): the own
    /// "changes" of the after-sb policies, the same number the peer sees as our `UI_SIZE`.
    sent_bitmap_weight: u64,
    /// invalidate / pause-sync / resync-after bookkeeping ([`super::sync_control`]).
    pub(super) sync_control: SyncControl,
    /// Online verify: where the next run starts and stops, the run.
    pub(super) verify: VerifyState,
    /// Disk `fencing` policy ([`super::fencing`]).
    pub(super) fencing: Fencing,
    /// Connection attempts that reached WFReportParams (drbd's `connect_cnt`): a fence-peer
    /// answer for an older attempt is stale.
    pub(super) connect_count: u32,
    /// A resync that waits for its `before-resync-*` handler ([`super::resync_handlers`]).
    pub(super) resync_handler: Option<ResyncHandlerTicket>,
}

/// A NUL-free algorithm name of at most 63 bytes (`SHARED_SECRET_MAX` − 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgName {
    bytes: [u8; 63],
    len: u8,
}

impl AlgName {
    /// No algorithm.
    pub const NONE: AlgName = AlgName {
        bytes: [0; 63],
        len: 0,
    };

    /// `name` if it fits.
    pub fn new(name: &str) -> Option<AlgName> {
        let src = name.as_bytes();
        if src.len() > 63 || src.contains(&0) {
            return None;
        }
        let mut a = AlgName::NONE;
        a.bytes.get_mut(..src.len())?.copy_from_slice(src);
        a.len = src.len() as u8;
        Some(a)
    }

    /// The name ("" for none).
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len as usize)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// `convert_after_sb`: the peer's discard-local is our discard-remote and vice versa.
const fn convert_after_sb(peer: u32) -> u32 {
    match peer {
        5 => 6,
        6 => 5,
        p => p,
    }
}

impl<S: Storage> fmt::Debug for Replica<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("state", &self.state)
            .field("phase", &self.phase)
            .field("uuids", &self.uuids)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Replica<S> {
    /// A device with a disk in `state` (role and disk state from the meta data), its UUIDs
    /// and geometry; no net config yet. `epochs` and `slots` are its storage (see
    /// [`Storage`]).
    pub fn new(
        state: State,
        uuids: UuidSet,
        crashed_primary: bool,
        geometry: DiskGeometry,
        epochs: S::Epochs,
        slots: S::Slots,
    ) -> Self {
        Replica {
            state,
            uuids,
            crashed_primary,
            geometry,
            net: NetSettings::DEFAULT,
            sync: SyncSettings::DEFAULT,
            phase: Phase::Idle,
            agreed: Agreed::PRE_HANDSHAKE,
            resolve_conflicts: false,
            peer: PeerParams::default(),
            last_receive_ms: 0,
            ping_sent_ms: None,
            established_ms: 0,
            pending: None,
            sender: SenderEpochs::new(epochs, 0, NetSettings::DEFAULT.max_epoch_size),
            receiver: ReceiverEpochs::new(WriteOrdering::Flush),
            seq: 0,
            conflicts: Conflicts::new(slots),
            arrival: 0,
            bm_rx: None,
            sync_run: None,
            sync_progress: None,
            consider_resync: false,
            device_open: false,
            sent_bitmap_weight: 0,
            sync_control: SyncControl::new(),
            verify: VerifyState::new(),
            fencing: Fencing::DontCare,
            connect_count: 0,
            resync_handler: None,
        }
    }

    /// The current state.
    pub const fn state(&self) -> &State {
        &self.state
    }

    /// The own generation UUIDs.
    /// This node crashed as Primary (found at attach) and has not been in sync with a peer
    /// since: `MDF_CRASHED_PRIMARY`, and the flag in our `P_UUIDS`.
    pub const fn crashed_primary(&self) -> bool {
        self.crashed_primary
    }

    pub const fn uuids(&self) -> &UuidSet {
        &self.uuids
    }

    /// The agreed encoding context (headers, features) of the current connection.
    pub const fn agreed(&self) -> &Agreed {
        &self.agreed
    }

    /// This node holds the resolve-conflicts flag (it accepted the meta socket).
    pub const fn resolve_conflicts(&self) -> bool {
        self.resolve_conflicts
    }

    /// The net options in force (protocol, …).
    pub const fn net(&self) -> &NetSettings {
        &self.net
    }

    /// The resync settings in force (possibly the peer's, §4.6).
    pub const fn sync_settings(&self) -> &SyncSettings {
        &self.sync
    }

    /// The next per-volume sequence number (every P_DATA and ack carries a new one).
    pub(super) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub(super) fn next_arrival(&mut self) -> u64 {
        self.arrival += 1;
        self.arrival
    }

    pub(super) fn geometry(&self) -> &DiskGeometry {
        &self.geometry
    }

    pub(super) fn uuids_mut(&mut self) -> &mut UuidSet {
        &mut self.uuids
    }

    pub(super) fn peer_uuids(&self) -> Option<PeerUuids> {
        self.peer.uuids
    }

    pub(super) fn send_state_packet(&self, host: &mut impl Host) {
        self.send_state(host);
    }

    /// The cluster-wide change we wait for the peer to approve, if any.
    pub(super) fn pending_change(&self) -> Option<StateChange> {
        self.pending.map(|p| p.change)
    }

    /// The time of the event being handled. Resync and verify runs start and end only while a
    /// packet is handled ([`Replica::receive`]), so this is their clock there.
    pub(super) const fn event_time_ms(&self) -> u64 {
        self.last_receive_ms
    }

    /// The engine should be establishing sockets (WFConnection).
    pub fn wants_connection(&self) -> bool {
        self.phase == Phase::Connecting
    }

    /// The device is held open (demotion is refused while it is).
    pub fn set_device_open(&mut self, open: bool) {
        self.device_open = open;
    }

    /// The local disk's size changed (attach, resize).
    pub fn set_geometry(&mut self, geometry: DiskGeometry) {
        self.geometry = geometry;
    }

    /// `connect` / `net-options` before connecting: StandAlone → WFConnection.
    pub fn connect(&mut self, net: NetSettings, sync: SyncSettings, host: &mut impl Host) {
        self.net = net;
        self.sync = sync;
        if self.phase == Phase::Idle {
            self.phase = Phase::Connecting;
            let mut ns = self.state;
            ns.conn = ConnState::Unconnected;
            self.set_state(ns, host);
            ns.conn = ConnState::WFConnection;
            self.set_state(ns, host);
        }
    }

    /// `net-options` while connected (apv ≥ 100): the peer adopts the new protocol, after-sb
    /// policies and two-primaries setting from `P_PROTOCOL_UPDATE`; the open epoch closes,
    /// as on any change of the replication mode. Before 100 drbd refuses online changes of
    /// these; here they then wait for the next connection.
    pub fn change_net_options(&mut self, net: NetSettings, host: &mut impl Host) {
        let announce = self.phase == Phase::Established && self.agreed.version >= 100;
        self.net = net;
        self.sender.close_current();
        if announce {
            let update = self.protocol_settings(0);
            host.send(Socket::Data, &self.agreed, &Packet::ProtocolUpdate(update));
        }
        // As drbd: the (possibly new) verify-alg and csums-alg go to a connected peer.
        if matches!(self.phase, Phase::Params | Phase::Established) {
            self.send_sync_params(host);
        }
    }

    /// `disk-options` with new resync settings (`resync-rate`, `c-*`): used from the next
    /// controller step on and, with a connection past the initial packets, sent to the peer
    /// in `P_SYNC_PARAM89`, as drbd's `drbd_send_sync_param` does (the peer adopts them).
    pub fn change_sync_settings(&mut self, sync: SyncSettings, host: &mut impl Host) {
        self.sync = sync;
        if matches!(self.phase, Phase::Params | Phase::Established) {
            self.send_sync_params(host);
        }
    }

    /// The engine owns a data and a meta socket; `resolve_conflicts` = we accepted the meta
    /// socket. Sends our `P_CONNECTION_FEATURES`.
    pub fn sockets_established(
        &mut self,
        resolve_conflicts: bool,
        now_ms: u64,
        host: &mut impl Host,
    ) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.resolve_conflicts = resolve_conflicts;
        self.agreed = Agreed::PRE_HANDSHAKE;
        self.peer = PeerParams::default();
        self.last_receive_ms = now_ms;
        self.established_ms = now_ms;
        self.ping_sent_ms = None;
        self.seq = 0;
        self.sender.restart(self.net.max_epoch_size);
        self.receiver = ReceiverEpochs::new(self.net.write_ordering);
        self.phase = Phase::Features;
        let ours = Features::new(self.net.features);
        host.send(
            Socket::Data,
            &self.agreed,
            &Packet::ConnectionFeatures(ours),
        );
    }

    /// A packet from the peer. Any violation drops the connection (never panics).
    pub fn receive(
        &mut self,
        socket: Socket,
        packet: &Packet<'_>,
        now_ms: u64,
        host: &mut impl Host,
    ) {
        if matches!(self.phase, Phase::Idle | Phase::Connecting) {
            // The connection this came on is over (its sockets close once our last packets
            // went out): what the peer sent on it before it saw that belongs to no one.
            return;
        }
        self.last_receive_ms = now_ms;
        self.sync_control.clock(now_ms);
        if let Err(reason) = self.dispatch(socket, packet, now_ms, host) {
            self.lose_connection(reason, host);
        }
    }

    /// A socket failed or the peer closed it.
    pub fn socket_failed(&mut self, host: &mut impl Host) {
        self.lose_connection(LossReason::SocketError, host);
    }

    /// What arrived cannot be decoded (bad magic, size, encoding): the connection is over
    /// (`ProtocolError`), the machine goes on — the engine logs the codec's error first.
    pub fn malformed_packet(&mut self, host: &mut impl Host) {
        self.lose_connection(LossReason::ProtocolError, host);
    }

    /// Timers: keep-alive pings and their timeout.
    pub fn tick(&mut self, now_ms: u64, host: &mut impl Host) {
        if self.phase == Phase::Features {
            // The peer's first packets must come within 4 × ping-timeout (§10).
            let limit = u64::from(self.net.ping_timeout_ds) * 400;
            if now_ms.saturating_sub(self.established_ms) >= limit {
                self.lose_connection(LossReason::NetworkFailure, host);
            }
            return;
        }
        if !matches!(self.phase, Phase::Params | Phase::Established) {
            return;
        }
        self.resync_step(now_ms, host);
        self.verify_step(now_ms, host);
        self.mark_progress(now_ms, host);
        if self.net.ko_count > 0 {
            let limit = u64::from(self.net.ko_count) * u64::from(self.net.timeout_ds) * 100;
            if let Some(since) = self.sender.oldest_pending_since() {
                let waited = now_ms.saturating_sub(since);
                if waited > limit {
                    host.log(
                        Level::Err,
                        format_args!(
                            "Remote failed to finish a request within {}ms > ko-count ({}) * timeout ({} * 0.1s)",
                            waited, self.net.ko_count, self.net.timeout_ds
                        ),
                    );
                    self.lose_connection(LossReason::Timeout, host);
                    return;
                }
            }
        }
        match self.ping_sent_ms {
            Some(sent) => {
                let timeout = u64::from(self.net.ping_timeout_ds) * 100;
                if self.last_receive_ms <= sent && now_ms.saturating_sub(sent) >= timeout {
                    host.log(Level::Err, format_args!("PingAck did not arrive in time."));
                    self.lose_connection(LossReason::NetworkFailure, host);
                }
            }
            None => {
                let idle = u64::from(self.net.ping_int_s) * 1000;
                if now_ms.saturating_sub(self.last_receive_ms) >= idle {
                    self.ping_sent_ms = Some(now_ms);
                    host.send(Socket::Meta, &self.agreed, &Packet::Ping);
                }
            }
        }
    }

    /// A send on the data socket made no progress for `timeout` (the socket's send timeout),
    /// for the `stalls`-th time in a row on the same packet. drbd counts these against
    /// `ko-count`: at `ko-count` the peer is given up (`Timeout`); before that each expiry
    /// asks the peer for a `P_PING`, so that a dead link ends in the ping timeout. The timers
    /// run here too, since the caller (the data socket's only sender) cannot tick meanwhile.
    /// Returns whether the connection is still up, i.e. the caller should keep trying.
    pub fn data_send_stalled(&mut self, stalls: u32, now_ms: u64, host: &mut impl Host) -> bool {
        if !matches!(self.phase, Phase::Params | Phase::Established) {
            return false;
        }
        if self.net.ko_count > 0 && stalls >= self.net.ko_count {
            host.log(
                Level::Err,
                format_args!(
                    "sending on the data socket timed out {} times in a row (ko-count {})",
                    stalls, self.net.ko_count
                ),
            );
            self.lose_connection(LossReason::Timeout, host);
            return false;
        }
        host.log(
            Level::Warn,
            format_args!(
                "sock_sendmsg time expired, ko = {}",
                self.net.ko_count.saturating_sub(stalls)
            ),
        );
        if self.ping_sent_ms.is_none() {
            self.ping_sent_ms = Some(now_ms);
            host.send(Socket::Meta, &self.agreed, &Packet::Ping);
        }
        self.tick(now_ms, host);
        matches!(self.phase, Phase::Params | Phase::Established)
    }

    /// Promote / demote / other changes of the own state. While connected, changes the peer
    /// must approve go out as `P_STATE_CHG_REQ` and finish in [`Host::change_finished`];
    /// otherwise they apply at once. `force` = `primary --force` (disk becomes UpToDate and a
    /// new current UUID is generated).
    pub fn request_change(&mut self, change: StateChange, force: bool, host: &mut impl Host) {
        if self.pending.is_some() {
            host.change_finished(Err(StateError::ConcurrentStChg));
            return;
        }
        let ns = match self.check_change(change) {
            Ok(Some(ns)) => ns,
            Ok(None) => {
                host.change_finished(Ok(()));
                return;
            }
            Err(code) => {
                host.change_finished(Err(local_error(code)));
                return;
            }
        };
        if self.needs_peer_approval(&ns) {
            self.ask_peer(change, force, false, host);
            return;
        }
        self.commit_local_change(ns, force, host);
        host.change_finished(Ok(()));
    }

    /// `disconnect`: a connected peer is told (`P_CONN_ST_CHG_REQ`, conn = Disconnecting);
    /// we end StandAlone either way.
    pub fn disconnect(&mut self, host: &mut impl Host) {
        if self.phase == Phase::Idle {
            host.change_finished(Err(StateError::AlreadyStandalone));
            return;
        }
        if self.phase == Phase::Established && self.agreed.version >= 100 {
            let change = StateChange::new().conn(ConnState::Disconnecting);
            self.ask_peer(change, false, true, host);
            return;
        }
        self.go_standalone(host);
        host.change_finished(Ok(()));
    }

    /// `new-current-uuid [--clear-bitmap]` (`drbd_adm_new_c_uuid`) on a device with a net
    /// config. Connected to a peer of protocol ≥ 90 with fresh meta data (current UUID
    /// [`super::super::uuid::UUID_JUST_CREATED`]) and `clear_bitmap`, this is drbd's "skip
    /// initial sync": a new current UUID, the bitmap cleared, `P_UUIDS` with
    /// [`UUID_FLAG_SKIP_INITIAL_SYNC`] to the peer (which adopts the UUID), and both disks
    /// UpToDate without a resync. Otherwise drbd wants StandAlone (`ERR_CONNECTED`); there
    /// the UUIDs rotate and `clear_bitmap` clears the bitmap, the disk state stays.
    /// `ERR_NO_DISK` without a local disk. Returns whether the initial sync was skipped.
    pub fn new_current_uuid(
        &mut self,
        clear_bitmap: bool,
        host: &mut impl Host,
    ) -> Result<bool, RetCode> {
        if self.state.disk < DiskState::Inconsistent {
            return Err(RetCode::ErrNoDisk);
        }
        let connected = self.phase == Phase::Established && self.state.conn == ConnState::Connected;
        let skip = clear_bitmap
            && self
                .uuids
                .can_skip_initial_sync(connected, self.agreed.version);
        if skip {
            host.log(Level::Info, format_args!("Preparing to skip initial sync"));
        } else if self.state.conn != ConnState::StandAlone {
            return Err(RetCode::ErrConnected);
        }
        let primary = self.state.role == Role::Primary;
        let random = host.random_u64();
        let sent = self.uuids.new_current_uuid_cmd(random, primary, skip);
        if clear_bitmap {
            host.clear_bitmap();
        }
        if skip {
            // As drbd: the set from before the bitmap UUID (the old current, 4) is cleared.
            self.send_uuid_set(&sent, UUID_FLAG_SKIP_INITIAL_SYNC, host);
            let mut ns = self.state;
            ns.disk = DiskState::UpToDate;
            ns.pdsk = DiskState::UpToDate;
            self.set_state(ns, host);
        }
        host.write_meta_data(&self.uuids);
        Ok(skip)
    }

    /// Send a state change for the peer's approval; the reply finishes it.
    fn ask_peer(
        &mut self,
        change: StateChange,
        force: bool,
        connection_wide: bool,
        host: &mut impl Host,
    ) {
        self.pending = Some(PendingChange {
            change,
            force_uuid: force,
            connection_wide,
        });
        let req = StateReq {
            mask: change.mask,
            val: change.val,
        };
        let packet = if connection_wide {
            Packet::ConnStChgReq(req)
        } else {
            Packet::StateChgReq(req)
        };
        host.send(Socket::Data, &self.agreed, &packet);
    }

    pub(super) fn go_standalone(&mut self, host: &mut impl Host) {
        self.pending = None;
        self.leave_connection(ConnState::Disconnecting, false, host);
    }

    /// End the connection: close the sockets, pass through the transient state `through`
    /// (the peer forgotten), then either StandAlone or — `reconnect` — Unconnected and back
    /// to WFConnection; everything that depended on the peer is reset.
    fn leave_connection(&mut self, through: ConnState, reconnect: bool, host: &mut impl Host) {
        if self.phase != Phase::Idle {
            host.drop_sockets();
        }
        let old = self.state;
        let mut ns = old;
        ns.conn = through;
        self.forget_peer(&mut ns);
        self.set_state(ns, host);
        ns.conn = if reconnect {
            ConnState::Unconnected
        } else {
            ConnState::StandAlone
        };
        self.set_state(ns, host);
        self.after_peer_lost(&old, host);
        if old.conn != ConnState::StandAlone {
            self.fence_after_peer_lost(host);
        }
        if reconnect {
            self.phase = Phase::Connecting;
            ns.conn = ConnState::WFConnection;
            self.set_state(ns, host);
        } else {
            self.phase = Phase::Idle;
        }
    }

    /// `change` applied to the current state and checked as a requested change: the new
    /// state, `None` when nothing changes, or the code that refuses it (`SS_UNKNOWN_ERROR`
    /// when it names values that do not exist).
    pub(super) fn check_change(&self, change: StateChange) -> Result<Option<State>, SsCode> {
        let requested = change
            .apply(&self.state)
            .map_err(|_| SsCode::UnknownError)?;
        match prepare_change(
            &self.state,
            &requested,
            &self.state_context(),
            ChangeKind::Soft,
        ) {
            Ok(ChangeOutcome::NothingToDo) => Ok(None),
            Ok(ChangeOutcome::Apply { state, .. }) => Ok(Some(state)),
            Err(e) => Err(SsCode::Failed(e)),
        }
    }

    /// Whether the handshake may demote this Primary now (`call-pri-lost-after-sb`): every
    /// rule of a requested change except the handshake's own transient-state guard, which
    /// exists against administrator changes racing the handshake (see the module
    /// documentation of [`super::sync_handshake`]).
    fn handshake_demotion_allowed(&self) -> Result<(), StateError> {
        if self.state.role != Role::Primary {
            return Ok(());
        }
        let requested = State {
            role: Role::Secondary,
            ..self.state
        };
        let ctx = StateContext {
            state_sent: false,
            ..self.state_context()
        };
        prepare_change(&self.state, &requested, &ctx, ChangeKind::Soft).map(|_| ())
    }

    fn needs_peer_approval(&self, ns: &State) -> bool {
        self.phase == Phase::Established
            && (ns.role == Role::Primary && self.state.role != Role::Primary
                || ns.disk == DiskState::Failed && self.state.disk != DiskState::Failed
                || matches!(
                    ns.conn,
                    ConnState::StartingSyncS | ConnState::StartingSyncT | ConnState::VerifyS
                ) && ns.conn != self.state.conn)
    }

    pub(super) fn state_context(&self) -> StateContext {
        StateContext {
            has_net_conf: self.phase != Phase::Idle,
            allow_two_primaries: self.net.two_primaries,
            has_verify_alg: !self.net.verify_alg.as_str().is_empty(),
            any_peer_primary: self.state.peer == Role::Primary,
            device_open: self.device_open,
            agreed_pro_version: if self.phase == Phase::Established {
                self.agreed.version
            } else {
                0
            },
            // Our P_STATE is out and the handshake not decided: only the connection state
            // may change (SS_IN_TRANSIENT_STATE otherwise).
            state_sent: self.phase == Phase::Params,
            fencing: if self.state.disk >= DiskState::Inconsistent {
                self.fencing
            } else {
                Fencing::DontCare
            },
            ..StateContext::new()
        }
    }

    /// Apply a change that is already approved (by rules and, if needed, by the peer).
    fn commit_local_change(&mut self, ns: State, force: bool, host: &mut impl Host) {
        let old = self.state;
        let promoted = old.role != Role::Primary && ns.role == Role::Primary;
        let demoted = old.role == Role::Primary && ns.role != Role::Primary;
        let mut uuids_changed = false;
        if promoted {
            let reachable = self.phase == Phase::Established && ns.pdsk > DiskState::Failed;
            let random = host.random_u64();
            uuids_changed = self.uuids.promote(reachable, force, random);
        } else if demoted {
            self.uuids.demote();
        }
        self.set_state(ns, host);
        if promoted || demoted || uuids_changed {
            host.write_meta_data(&self.uuids);
        }
        if self.phase == Phase::Established && (promoted || demoted) {
            if force {
                self.send_uuids(host);
            }
            self.send_state(host);
        }
    }

    pub(super) fn set_state(&mut self, ns: State, host: &mut impl Host) {
        // Every change, requested or forced by the connection, passes drbd's implied
        // adjustments (§6.6): e.g. an UpToDate disk reads Outdated while in WFBitMapT, and a
        // SyncTarget's disk is Inconsistent.
        let (ns, warning) = sanitize(&self.state, &ns, &self.state_context());
        if let Some(w) = warning {
            host.log(Level::Warn, format_args!("{}", w.message()));
        }
        if ns != self.state {
            let old = self.state;
            self.state = ns;
            // A crashed Primary's data are whole again once both disks are UpToDate
            // (drbd clears CRASHED_PRIMARY then, in memory and in the meta data).
            if ns.disk == DiskState::UpToDate && ns.pdsk == DiskState::UpToDate {
                self.crashed_primary = false;
            }
            host.state_changed(&old, &ns);
            self.after_state_change(&old, &ns, host);
            self.verify_conn_changed(&old, &ns, host);
        }
    }

    /// What is known of the peer without a connection: its role not, its disk only when it
    /// is known to be bad (Inconsistent or Outdated stay, as drbd's `sanitize_state` keeps
    /// them: an outdated peer remains outdated for the fencing rules).
    fn forget_peer(&self, ns: &mut State) {
        ns.peer = Role::Unknown;
        if !matches!(ns.pdsk, DiskState::Inconsistent | DiskState::Outdated) {
            ns.pdsk = DiskState::DUnknown;
        }
        ns.peer_isp = false;
    }

    /// The connection failed: pass through the transient state, back to WFConnection.
    pub(super) fn lose_connection(&mut self, reason: LossReason, host: &mut impl Host) {
        if matches!(self.phase, Phase::Idle | Phase::Connecting) {
            return;
        }
        if let Some(p) = self.pending.take() {
            if p.connection_wide {
                // The peer closed on our disconnect request: that is the success path.
                self.leave_connection(ConnState::Disconnecting, false, host);
                host.change_finished(Ok(()));
                return;
            }
            host.change_finished(Err(StateError::CwFailedByPeer));
        }
        self.leave_connection(reason.conn(), true, host);
    }

    /// §7.2: losing contact to the peer's good data while someone is Primary starts a new
    /// data generation. `old` is the state before the peer was forgotten.
    fn after_peer_lost(&mut self, old: &State, host: &mut impl Host) {
        self.consider_resync = false;
        self.resync_handler = None;
        self.sender.reset();
        self.receiver.reset();
        // Peer and resync I/O still in flight completes into nothing; local application
        // writes keep their entries until they complete, and so do peer writes already on
        // their way to the disk: an application write to the same blocks (this node may be
        // promoted now) must not reach the disk before them and be overwritten.
        self.conflicts.clear_where(|e| {
            e.kind != IoKind::AppWrite && !(e.kind == IoKind::PeerWrite && e.submitted)
        });
        self.bm_rx = None;
        self.sync_run = None;
        if self.sync_progress.take().is_some() {
            // What the resync achieved stays achieved (drbd writes the bitmap when a
            // connection ends).
            host.resync_progress(false);
        }
        self.sync_control.connection_lost();
        host.requests_lost();
        let had_peer_data = (DiskState::Inconsistent..=DiskState::UpToDate).contains(&old.pdsk)
            && old.pdsk != DiskState::DUnknown;
        if !had_peer_data {
            return;
        }
        // The connection is gone: only this node's role counts (a Secondary rotates only
        // when, still connected, its Primary peer loses its disk).
        let primary = self.state.role == Role::Primary;
        let random = host.random_u64();
        if self.uuids.on_lost_peer_data(
            primary,
            self.state.disk == DiskState::UpToDate,
            primary,
            random,
        ) {
            host.write_meta_data(&self.uuids);
        }
    }

    fn dispatch(
        &mut self,
        socket: Socket,
        packet: &Packet<'_>,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        match (self.phase, packet) {
            (Phase::Features, Packet::ConnectionFeatures(peer)) => self.on_features(peer, host),
            (Phase::Features, _) => {
                host.log(
                    Level::Err,
                    format_args!(
                        "expected ConnectionFeatures packet, received: {} (0x{:04x})",
                        packet.cmd().name(),
                        packet.cmd() as u16
                    ),
                );
                Err(LossReason::ProtocolError)
            }
            (_, Packet::Ping) => {
                host.send(Socket::Meta, &self.agreed, &Packet::PingAck);
                Ok(())
            }
            (_, Packet::PingAck) => {
                self.ping_sent_ms = None;
                self.resync_ping_acked(host);
                self.verify_ping_acked(host);
                Ok(())
            }
            (Phase::Params | Phase::Established, Packet::Protocol(p)) => self.on_protocol(p, host),
            (Phase::Params | Phase::Established, Packet::ProtocolUpdate(p)) => {
                self.adopt_protocol(p);
                Ok(())
            }
            (Phase::Params | Phase::Established, Packet::SyncParam(p)) => {
                self.on_sync_param(p, host)
            }
            (Phase::Params | Phase::Established, Packet::Sizes(s)) => self.on_sizes(s, host),
            (Phase::Params | Phase::Established, Packet::Uuids(u)) => {
                let peer = PeerUuids::from_array([
                    u.current,
                    u.bitmap,
                    u.history[0],
                    u.history[1],
                    u.bitmap_bits,
                    u.flags,
                ]);
                self.on_uuids(peer, host);
                Ok(())
            }
            (Phase::Params | Phase::Established, Packet::State(word)) => self.on_state(*word, host),
            (Phase::Established, Packet::StateChgReq(req)) => {
                self.on_state_request(*req, false, now_ms, host)
            }
            (Phase::Established, Packet::ConnStChgReq(req)) => {
                self.on_state_request(*req, true, now_ms, host)
            }
            (Phase::Established, Packet::StateChgReply(code))
            | (Phase::Established, Packet::ConnStChgReply(code)) => {
                self.on_state_reply(*code, now_ms, host)
            }
            (Phase::Established, Packet::Bitmap(payload)) => {
                self.on_bitmap_chunk(false, payload, now_ms, host)
            }
            (Phase::Established, Packet::CompressedBitmap(payload)) => {
                self.on_bitmap_chunk(true, payload, now_ms, host)
            }
            (Phase::Established, Packet::SyncUuid(uuid)) => {
                self.on_sync_uuid_packet(*uuid, now_ms, host)
            }
            (Phase::Established, _) if self.is_digest_traffic(packet) => {
                self.on_digest_traffic(packet, host)
            }
            (
                Phase::Established,
                Packet::BlockRequest {
                    kind: RequestKind::RsDataRequest,
                    req,
                    ..
                },
            ) => self.on_resync_request(req, ReadPurpose::ResyncData, host),
            (
                Phase::Established,
                Packet::Data {
                    kind: DataKind::RsDataReply,
                    hdr,
                    data_len,
                    ..
                },
            ) => self.on_resync_reply(hdr, *data_len, host),
            (
                Phase::Established,
                Packet::Ack {
                    kind: AckKind::RsWriteAck,
                    ack,
                },
            ) if ack.block_id == wire::ID_SYNCER => {
                host.mark_in_sync(ack.sector, ack.blksize);
                Ok(())
            }
            (
                Phase::Established,
                Packet::Ack {
                    kind: AckKind::NegAck,
                    ack,
                },
            ) if ack.block_id == wire::ID_SYNCER => {
                host.log(
                    Level::Err,
                    format_args!("Peer could not write resync data at sector {}", ack.sector),
                );
                Ok(())
            }
            (
                Phase::Established,
                Packet::Ack {
                    kind: AckKind::NegRsDReply,
                    ack,
                },
            ) => self.on_resync_refused(ack, host),
            (
                Phase::Established,
                Packet::Data {
                    kind: DataKind::Data,
                    hdr,
                    data_len,
                    ..
                },
            ) => self.on_peer_write(hdr, *data_len, PeerWriteKind::Data, host),
            (Phase::Established, Packet::Trim { kind, hdr, size }) => {
                let unmap = hdr.dp_flags & wire::DP_DISCARD != 0;
                let write_kind = match kind {
                    TrimKind::Zeroes => PeerWriteKind::Zeroes { unmap },
                    // Without the WZEROES feature a P_TRIM must zero the range (§5.1).
                    TrimKind::Trim if self.agreed.features & wire::DRBD_FF_WZEROES == 0 => {
                        PeerWriteKind::Zeroes { unmap: true }
                    }
                    TrimKind::Trim => PeerWriteKind::Discard,
                };
                self.on_peer_write(hdr, *size, write_kind, host)
            }
            (Phase::Established, Packet::Barrier { barrier }) => self.on_barrier(*barrier, host),
            (Phase::Established, Packet::BarrierAck { barrier, set_size }) => {
                self.on_barrier_ack(*barrier, *set_size, host)
            }
            (Phase::Established, Packet::Ack { kind, ack })
                if ack.block_id != wire::ID_SYNCER
                    && matches!(
                        kind,
                        AckKind::RecvAck
                            | AckKind::WriteAck
                            | AckKind::RsWriteAck
                            | AckKind::NegAck
                    ) =>
            {
                self.on_write_ack(*kind, ack, host)
            }
            (
                Phase::Established,
                Packet::BlockDesc {
                    kind: DescKind::OutOfSync,
                    sector,
                    blksize,
                },
            ) => {
                host.mark_out_of_sync(*sector, *blksize);
                Ok(())
            }
            (_, Packet::DelayProbe { .. }) | (_, Packet::UnplugRemote) => Ok(()),
            _ => {
                let what = match socket {
                    Socket::Data => "data",
                    Socket::Meta => "meta",
                };
                host.log(
                    Level::Err,
                    format_args!(
                        "Unexpected {} packet {} (0x{:04x})",
                        what,
                        packet.cmd().name(),
                        packet.cmd() as u16
                    ),
                );
                Err(LossReason::ProtocolError)
            }
        }
    }

    fn on_features(&mut self, peer: &Features, host: &mut impl Host) -> Result<(), LossReason> {
        let ours = Features::new(self.net.features);
        let agreed = match wire::agree(&ours, peer) {
            Ok(a) => a,
            Err(e) => {
                host.log(Level::Err, format_args!("{e}"));
                // Incompatible dialects: give up (StandAlone), drbd does not retry.
                self.go_standalone(host);
                return Ok(());
            }
        };
        self.agreed = agreed;
        host.log(
            Level::Info,
            format_args!(
                "Handshake successful: Agreed network protocol version {}",
                agreed.version
            ),
        );
        host.log(
            Level::Info,
            format_args!(
                "Feature flags enabled on protocol level: 0x{:x}{}.",
                agreed.features,
                wire::FeatureNames(agreed.features),
            ),
        );
        self.send_initial_packets(host);
        self.phase = Phase::Params;
        self.connect_count = self.connect_count.wrapping_add(1);
        let mut ns = self.state;
        ns.conn = ConnState::WFReportParams;
        self.set_state(ns, host);
        Ok(())
    }

    /// §1.5: P_PROTOCOL, P_SYNC_PARAM89, P_SIZES, P_UUIDS (with a disk), P_STATE.
    /// `p_protocol` for our net options.
    fn protocol_settings(&self, conn_flags: u32) -> ProtocolSettings<'static> {
        ProtocolSettings {
            protocol: match self.net.protocol {
                WireProtocol::A => 1,
                WireProtocol::B => 2,
                WireProtocol::C => 3,
            },
            after_sb_0p: self.net.after_sb[0],
            after_sb_1p: self.net.after_sb[1],
            after_sb_2p: self.net.after_sb[2],
            conn_flags,
            two_primaries: self.net.two_primaries,
            integrity_alg: "",
        }
    }

    fn send_initial_packets(&mut self, host: &mut impl Host) {
        let mut conn_flags = 0;
        if self.net.discard_my_data {
            conn_flags |= CF_DISCARD_MY_DATA;
        }
        if self.net.dry_run {
            conn_flags |= CF_DRY_RUN;
        }
        let protocol = self.protocol_settings(conn_flags);
        host.send(Socket::Data, &self.agreed, &Packet::Protocol(protocol));
        self.send_sync_params(host);
        self.send_sizes(host);
        if self.state.disk >= DiskState::Negotiating {
            self.send_uuids(host);
        }
        self.send_state(host);
    }

    fn send_sync_params(&self, host: &mut impl Host) {
        let params = SyncParams {
            resync_rate: self.sync.resync_rate,
            verify_alg: self.net.verify_alg.as_str(),
            csums_alg: self.net.csums_alg.as_str(),
            controller: Some(self.sync.controller),
        };
        host.send(Socket::Data, &self.agreed, &Packet::SyncParam(params));
    }

    fn send_sizes(&self, host: &mut impl Host) {
        let g = &self.geometry;
        let with_disk = self.state.disk > DiskState::Diskless;
        let sizes = Sizes {
            d_size: if with_disk { g.usable_sectors } else { 0 },
            u_size: g.user_sectors,
            c_size: g.capacity_sectors,
            max_bio_size: g.max_bio_size,
            queue_order_type: 0,
            dds_flags: 0,
            queue_limits: (self.agreed.features & wire::DRBD_FF_WSAME != 0)
                .then_some(g.queue_limits),
        };
        host.send(Socket::Data, &self.agreed, &Packet::Sizes(sizes));
    }

    fn send_uuids(&mut self, host: &mut impl Host) {
        let uuids = self.uuids;
        self.send_uuid_set(&uuids, 0, host);
    }

    /// `P_UUIDS` with `u` and the flags drbd adds to `extra_flags`.
    fn send_uuid_set(&mut self, u: &UuidSet, extra_flags: u64, host: &mut impl Host) {
        let mut flags = extra_flags;
        if self.net.discard_my_data {
            flags |= UUID_FLAG_DISCARD_MY_DATA;
        }
        if self.crashed_primary {
            flags |= UUID_FLAG_CRASHED_PRIMARY;
        }
        self.sent_bitmap_weight = host.bitmap_weight();
        let uuids = Uuids {
            current: u.current,
            bitmap: u.bitmap,
            history: u.history,
            bitmap_bits: self.sent_bitmap_weight,
            flags,
        };
        host.send(Socket::Data, &self.agreed, &Packet::Uuids(uuids));
    }

    fn send_state(&self, host: &mut impl Host) {
        host.send(
            Socket::Data,
            &self.agreed,
            &Packet::State(self.state.pack()),
        );
    }

    fn on_protocol(
        &mut self,
        p: &ProtocolSettings<'_>,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let ours = &self.net;
        let our_protocol = match ours.protocol {
            WireProtocol::A => 1,
            WireProtocol::B => 2,
            WireProtocol::C => 3,
        };
        let mismatch = if p.protocol != our_protocol {
            Some("protocol")
        } else if convert_after_sb(p.after_sb_0p) != ours.after_sb[0] {
            Some("after-sb-0pri")
        } else if convert_after_sb(p.after_sb_1p) != ours.after_sb[1] {
            Some("after-sb-1pri")
        } else if convert_after_sb(p.after_sb_2p) != ours.after_sb[2] {
            Some("after-sb-2pri")
        } else if p.conn_flags & CF_DISCARD_MY_DATA != 0 && ours.discard_my_data {
            Some("discard-my-data")
        } else if p.two_primaries != ours.two_primaries {
            Some("allow-two-primaries")
        } else if !p.integrity_alg.is_empty() {
            // We run no data-integrity-alg (ours is ""), so any name differs.
            Some("data-integrity-alg")
        } else {
            None
        };
        if let Some(what) = mismatch {
            host.log(Level::Err, format_args!("incompatible {what} settings"));
            self.go_standalone(host);
            return Ok(());
        }
        if p.conn_flags & CF_DRY_RUN != 0 {
            self.net.dry_run = true;
        }
        Ok(())
    }

    fn adopt_protocol(&mut self, p: &ProtocolSettings<'_>) {
        self.net.protocol = match p.protocol {
            1 => WireProtocol::A,
            2 => WireProtocol::B,
            _ => WireProtocol::C,
        };
        self.net.after_sb = [
            convert_after_sb(p.after_sb_0p),
            convert_after_sb(p.after_sb_1p),
            convert_after_sb(p.after_sb_2p),
        ];
        self.net.two_primaries = p.two_primaries;
    }

    fn on_sync_param(
        &mut self,
        p: &SyncParams<'_>,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        if self.phase == Phase::Params {
            if p.verify_alg != self.net.verify_alg.as_str() {
                host.log(
                    Level::Err,
                    format_args!(
                        "Different verify-alg settings. me=\"{}\" peer=\"{}\"",
                        self.net.verify_alg.as_str(),
                        p.verify_alg
                    ),
                );
                self.go_standalone(host);
                return Ok(());
            }
            if p.csums_alg != self.net.csums_alg.as_str() {
                host.log(
                    Level::Err,
                    format_args!(
                        "Different csums-alg settings. me=\"{}\" peer=\"{}\"",
                        self.net.csums_alg.as_str(),
                        p.csums_alg
                    ),
                );
                self.go_standalone(host);
                return Ok(());
            }
        } else {
            // Connected: the peer's net-options changed; its digests become ours, as drbd
            // allocates them, or the connection ends.
            let digest_name = |name: &str| {
                (name.is_empty() || DigestAlg::from_name(name).is_some())
                    .then(|| AlgName::new(name))
                    .flatten()
            };
            let names = [
                ("verify-alg", p.verify_alg, digest_name(p.verify_alg)),
                ("csums-alg", p.csums_alg, digest_name(p.csums_alg)),
            ];
            for (what, theirs, known) in names {
                if known.is_none() {
                    host.log(
                        Level::Err,
                        format_args!("Can not allocate \"{theirs}\" as {what} (reason: -2)"),
                    );
                    self.go_standalone(host);
                    return Ok(());
                }
            }
            if let [(_, _, Some(verify)), (_, _, Some(csums))] = names {
                self.net.verify_alg = verify;
                self.net.csums_alg = csums;
            }
        }
        if self.state.disk > DiskState::Diskless {
            self.sync.resync_rate = p.resync_rate;
            if let Some(c) = p.controller {
                self.sync.controller = c;
            }
        }
        Ok(())
    }

    fn on_sizes(&mut self, s: &Sizes, host: &mut impl Host) -> Result<(), LossReason> {
        let g = self.geometry;
        let has_disk = self.state.disk > DiskState::Diskless;
        let new_size = if has_disk {
            let user = min_not_zero(g.user_sectors, s.u_size);
            let both = if s.d_size > 0 {
                g.usable_sectors.min(s.d_size)
            } else {
                g.usable_sectors
            };
            if user > 0 {
                both.min(user)
            } else {
                both
            }
        } else if s.c_size > 0 {
            s.c_size
        } else if s.u_size > 0 {
            s.u_size
        } else {
            s.d_size
        };
        if has_disk
            && new_size < g.capacity_sectors
            && self.state.disk >= DiskState::Outdated
            && self.state.conn < ConnState::Connected
        {
            host.log(
                Level::Err,
                format_args!("The peer's disk size is too small!"),
            );
            self.go_standalone(host);
            return Ok(());
        }
        if new_size != self.geometry.capacity_sectors {
            self.geometry.capacity_sectors = new_size;
            host.set_capacity(new_size);
        }
        let max_bio = if s.max_bio_size == 0 {
            g.max_bio_size
        } else {
            g.max_bio_size.min(s.max_bio_size)
        };
        host.set_max_bio_size(max_bio.min(wire::DRBD_MAX_BIO_SIZE));
        Ok(())
    }

    /// `P_UUIDS`: remembered for the sync handshake; while Connected with fresh meta data,
    /// the peer's "skip initial sync" is accepted as drbd does (`receive_uuids`): its current
    /// UUID adopted, the bitmap cleared, both disks UpToDate.
    fn on_uuids(&mut self, peer: PeerUuids, host: &mut impl Host) {
        self.peer.uuids = Some(peer);
        if self.state.disk < DiskState::Inconsistent {
            return;
        }
        let connected = self.phase == Phase::Established && self.state.conn == ConnState::Connected;
        let primary = self.state.role == Role::Primary;
        if self
            .uuids
            .accept_skip_initial_sync(connected, self.agreed.version, &peer, primary)
        {
            host.log(
                Level::Info,
                format_args!("Accepted new current UUID, preparing to skip initial sync"),
            );
            host.clear_bitmap();
            let mut ns = self.state;
            ns.disk = DiskState::UpToDate;
            ns.pdsk = DiskState::UpToDate;
            self.set_state(ns, host);
            host.write_meta_data(&self.uuids);
        }
    }

    fn on_state(&mut self, word: u32, host: &mut impl Host) -> Result<(), LossReason> {
        let peer_state = match State::unpack(word) {
            Ok(s) => s,
            Err(e) => {
                host.log(Level::Err, format_args!("Invalid state from peer: {e}"));
                return Err(LossReason::ProtocolError);
            }
        };
        let mut peer_disk = match (peer_state.disk, self.peer.uuids) {
            (DiskState::Negotiating, Some(u))
                if u.flags & super::super::uuid::UUID_FLAG_INCONSISTENT != 0 =>
            {
                DiskState::Inconsistent
            }
            (DiskState::Negotiating, _) => DiskState::Consistent,
            (d, _) => d,
        };
        if matches!(
            self.state.conn,
            ConnState::SyncSource | ConnState::PausedSyncS
        ) && peer_state.conn == ConnState::Connected
            && peer_state.disk == DiskState::UpToDate
        {
            if host.bitmap_weight() == 0 {
                // The target finished (§11 "Resync end").
                self.finish_sync_source(host);
            } else {
                // Bits are left, as drbd checks: a state the peer sent before it saw our
                // resync begin (e.g. for a pause flag while our full sync was being
                // approved). Its disk state is stale, its pause flags are not.
                peer_disk = DiskState::Inconsistent;
            }
        }
        if self.state.conn == ConnState::VerifyT
            && self.state.disk == DiskState::UpToDate
            && peer_state.conn == ConnState::Connected
            && peer_disk == DiskState::UpToDate
        {
            // VerifyS says it finished (it may have stopped at a stop sector, §5.6).
            self.finish_verify(host);
            return Ok(());
        }
        let mut ns = self.state;
        ns.peer = peer_state.role;
        ns.pdsk = peer_disk;
        ns.peer_isp = peer_state.aftr_isp || peer_state.user_isp;

        let first = self.phase == Phase::Params;
        // Not while our own invalidate waits for its approval: the peer, already in its
        // half of that full sync, is not starting a handshake.
        let peer_starts_sync = self.state.conn == ConnState::Connected
            && (ConnState::StartingSyncS..=ConnState::WFBitMapT).contains(&peer_state.conn)
            && !self.awaiting_full_sync();
        let handshake = first || self.consider_resync || peer_starts_sync;
        self.consider_resync = false;
        if handshake
            && self.state.disk >= DiskState::Inconsistent
            && peer_disk >= DiskState::Inconsistent
        {
            let Some(peer_uuids) = self.peer.uuids else {
                host.log(
                    Level::Err,
                    format_args!("Peer sent its state before its UUIDs"),
                );
                return Err(LossReason::ProtocolError);
            };
            let ctx = CompareContext {
                agreed_pro_version: self.agreed.version,
                agreed_features: self.agreed.features,
                self_primary: self.state.role == Role::Primary,
                peer_primary: peer_state.role == Role::Primary,
                self_crashed_primary: self.crashed_primary,
                resolve_conflicts: self.resolve_conflicts,
            };
            let comparison = uuid_compare(&self.uuids, &peer_uuids, &ctx);
            host.log(
                Level::Info,
                format_args!(
                    "uuid_compare()={} by rule {}",
                    comparison.decision.hg(),
                    comparison.rule
                ),
            );
            if let Some(fix) = comparison.correction {
                let mut peer_set = peer_uuids.uuids;
                fix.apply(&mut self.uuids, &mut peer_set);
                if fix.changes_own() {
                    host.write_meta_data(&self.uuids);
                }
            }
            let input = HandshakeInput {
                comparison,
                my_disk: self.state.disk,
                peer_disk,
                my_role: self.state.role,
                discard_my_data: self.net.discard_my_data,
                peer_discard_my_data: peer_uuids.flags & UUID_FLAG_DISCARD_MY_DATA != 0,
                rr_conflict: self.net.rr_conflict,
                dry_run: self.net.dry_run,
                split_brain: SplitBrainView {
                    peer_role: peer_state.role,
                    after_sb: self.net.after_sb,
                    always_asbp: self.net.always_asbp,
                    my_bitmap_uuid: self.uuids.bitmap,
                    peer_bitmap_uuid: peer_uuids.uuids.bitmap,
                    my_changes: self.sent_bitmap_weight,
                    peer_changes: peer_uuids.bitmap_weight,
                    resolve_conflicts: self.resolve_conflicts,
                    demote: self.handshake_demotion_allowed(),
                },
            };
            let decided = sync_handshake(&input);
            for event in decided.events.iter() {
                match event {
                    Event::Log(note) => host.log(note.level(), format_args!("{note}")),
                    Event::Helper(helper) => host.call_helper(helper),
                    Event::Demote => {
                        self.commit_local_change(
                            State {
                                role: Role::Secondary,
                                ..self.state
                            },
                            false,
                            host,
                        );
                        ns.role = self.state.role;
                    }
                }
            }
            match decided.result {
                Ok(outcome) => {
                    if outcome.full_sync {
                        host.mark_all_out_of_sync();
                    }
                    ns.conn = outcome.conn;
                    if ns.conn == ConnState::Connected {
                        let bits = host.bitmap_weight();
                        if bits > 0 {
                            host.log(
                                Level::Info,
                                format_args!("No resync, but {bits} bits in bitmap!"),
                            );
                        }
                    }
                }
                Err(_) => {
                    self.go_standalone(host);
                    return Ok(());
                }
            }
        } else if first {
            ns.conn = ConnState::Connected;
        }
        // Becoming Connected is a requested change in drbd (`receive_state`): two Primaries
        // without `allow-two-primaries` refuse it and drop the connection.
        if first && !self.net.two_primaries && ns.role == Role::Primary && ns.peer == Role::Primary
        {
            host.log(
                Level::Err,
                format_args!("State change failed: {}", StateError::TwoPrimaries),
            );
            self.go_standalone(host);
            return Ok(());
        }
        let was_first = first;
        if first {
            self.phase = Phase::Established;
        }
        // drbd's CONSIDER_RESYNC: both Inconsistent and the peer was forced UpToDate+Primary.
        if peer_forced_over_inconsistent(&self.state, &ns) {
            self.consider_resync = true;
        }
        let old_conn = self.state.conn;
        self.set_state(ns, host);
        if was_first || ns.conn != old_conn {
            // We want a resync but the peer has not decided yet: tell it (UUIDs + state).
            let peer_undecided = !was_first
                && ns.conn > ConnState::Connected
                && peer_state.conn <= ConnState::Connected;
            if peer_undecided {
                self.send_uuids(host);
            }
            // Otherwise only the first state after WFReportParams goes out (§6.3): a peer
            // that already reported WFBitMapT learns our WFBitMapS from the bitmap itself.
            if was_first || peer_undecided {
                self.send_state(host);
            }
            if matches!(ns.conn, ConnState::WFBitMapS | ConnState::WFBitMapT) {
                self.start_bitmap_exchange(ns.conn == ConnState::WFBitMapS, host);
            }
        }
        Ok(())
    }

    fn on_state_request(
        &mut self,
        req: StateReq,
        connection_wide: bool,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let change = StateChange {
            mask: req.mask,
            val: req.val,
        }
        .from_peer();
        let reply = |code: i32| {
            if connection_wide {
                Packet::ConnStChgReply(code)
            } else {
                Packet::StateChgReply(code)
            }
        };
        // Only our own administrator changes our role; drbd peers never ask for it, and a
        // peer that does is refused rather than obeyed.
        if change.mask & Field::Role.mask() != 0 {
            host.log(
                Level::Warn,
                format_args!("Peer requested a change of our role; refused"),
            );
            host.send(
                Socket::Meta,
                &self.agreed,
                &reply(SsCode::UnknownError.code()),
            );
            return Ok(());
        }
        if self.pending.is_some() && self.resolve_conflicts {
            let code = StateError::ConcurrentStChg.code();
            host.send(Socket::Meta, &self.agreed, &reply(code));
            return Ok(());
        }
        let teardown = connection_wide
            && change.mask & Field::Conn.mask() != 0
            && Field::Conn.get(change.val) == ConnState::TearDown as u32
            && change.apply(&self.state).is_ok();
        if teardown {
            host.send(Socket::Meta, &self.agreed, &reply(SsCode::Success.code()));
            match self.pending.take() {
                // Both sides asked to disconnect at the same moment and the peer, which
                // resolves conflicts, refuses ours: its request does what ours asked
                // (drbd's `_conn_rq_cond` sees the connection gone and lets the waiting
                // `disconnect` go ahead locally). Reconnecting instead would greet the
                // peer's next `up` with this node's old data while our `down` waits.
                Some(pending) if pending.connection_wide => {
                    self.leave_connection(ConnState::Disconnecting, false, host);
                    host.change_finished(Ok(()));
                }
                pending => {
                    if pending.is_some() {
                        host.change_finished(Err(StateError::CwFailedByPeer));
                    }
                    // The peer disconnects on purpose: reconnect and wait for it.
                    self.leave_connection(ConnState::TearDown, true, host);
                }
            }
            return Ok(());
        }
        if let Err(e) = self.full_sync_allowed(&change) {
            host.send(Socket::Meta, &self.agreed, &reply(e.code()));
            return Ok(());
        }
        match self.check_change(change) {
            Ok(None) => {
                host.send(
                    Socket::Meta,
                    &self.agreed,
                    &reply(SsCode::NothingToDo.code()),
                );
            }
            Ok(Some(state)) => {
                host.send(Socket::Meta, &self.agreed, &reply(SsCode::Success.code()));
                if peer_forced_over_inconsistent(&self.state, &state) {
                    self.consider_resync = true;
                }
                let old_conn = self.state.conn;
                self.set_state(state, host);
                self.start_full_sync(old_conn, now_ms, host)?;
            }
            Err(code) => host.send(Socket::Meta, &self.agreed, &reply(code.code())),
        }
        Ok(())
    }

    fn on_state_reply(
        &mut self,
        code: i32,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let Some(pending) = self.pending.take() else {
            host.log(
                Level::Err,
                format_args!("State change reply without a request"),
            );
            return Err(LossReason::ProtocolError);
        };
        if code < 1 && pending.connection_wide && code == StateError::ConcurrentStChg.code() {
            // The peer, which resolves conflicts, is busy with a change of its own — when
            // both run `down` at once, its own disconnect. Ours needs no consent then: drop
            // the connection, which also ends the peer's request (a lost connection is the
            // success path of a disconnect).
            self.go_standalone(host);
            host.change_finished(Ok(()));
            return Ok(());
        }
        if code < 1 {
            host.log(
                Level::Err,
                format_args!(
                    "State change failed: {}",
                    super::super::state::set_st_err_str(code)
                ),
            );
            host.change_finished(Err(StateError::CwFailedByPeer));
            return Ok(());
        }
        if pending.connection_wide {
            self.go_standalone(host);
            host.change_finished(Ok(()));
            return Ok(());
        }
        match self.check_change(pending.change) {
            Ok(Some(state)) => {
                let old_conn = self.state.conn;
                self.commit_local_change(state, pending.force_uuid, host);
                host.change_finished(Ok(()));
                self.start_full_sync(old_conn, now_ms, host)?;
            }
            Ok(None) => host.change_finished(Ok(())),
            Err(code) => host.change_finished(Err(local_error(code))),
        }
        Ok(())
    }
}

/// A refusal reported to our own administrator: a request naming values that do not exist
/// cannot come from the admin path's typed changes; it reads as "not supported".
const fn local_error(code: SsCode) -> StateError {
    match code {
        SsCode::Failed(e) => e,
        _ => StateError::NotSupported,
    }
}

/// drbd's `CONSIDER_RESYNC`: both disks were Inconsistent and the peer became Primary — it
/// was forced UpToDate, so its next `P_STATE` reruns the sync handshake.
fn peer_forced_over_inconsistent(old: &State, new: &State) -> bool {
    old.disk == DiskState::Inconsistent
        && old.pdsk == DiskState::Inconsistent
        && old.peer == Role::Secondary
        && new.peer == Role::Primary
}

const fn min_not_zero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) if a < b => a,
        (_, b) => b,
    }
}

#[cfg(test)]
mod tests {
    //! Facts of the reference capture `fullsync-protoC` (shared/testdata/drbd84-peer) the
    //! replay against drbd.ko (rust/simulator/tests/capture_replay.rs) found the core to
    //! miss, each checked here on its own.
    use super::super::super::uuid::UUID_JUST_CREATED;
    use super::*;

    /// What the replica sent, reduced to what these tests compare.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Out {
        State(u32),
        Uuids([u64; 4]),
        SyncParam { verify_alg: std::string::String },
        Bitmap,
        Other(wire::Cmd),
    }

    struct Recorder {
        sent: std::vec::Vec<Out>,
        words: std::vec::Vec<u64>,
        bits: u64,
        random: u64,
    }

    impl Recorder {
        fn new(random: u64) -> Self {
            let bits = SECTORS.div_ceil(8);
            Recorder {
                sent: std::vec::Vec::new(),
                words: std::vec![u64::MAX; bits.div_ceil(64) as usize],
                bits,
                random,
            }
        }

        fn take(&mut self) -> std::vec::Vec<Out> {
            core::mem::take(&mut self.sent)
        }
    }

    impl Host for Recorder {
        fn send(&mut self, _socket: Socket, _ctx: &Agreed, packet: &Packet<'_>) {
            self.sent.push(match packet {
                Packet::State(word) => Out::State(*word),
                Packet::Uuids(u) => Out::Uuids([u.current, u.bitmap, u.history[0], u.history[1]]),
                Packet::SyncParam(p) => Out::SyncParam {
                    verify_alg: p.verify_alg.into(),
                },
                p => Out::Other(p.cmd()),
            });
        }
        fn drop_sockets(&mut self) {}
        fn log(&mut self, _level: Level, _args: fmt::Arguments<'_>) {}
        fn state_changed(&mut self, _old: &State, _new: &State) {}
        fn write_meta_data(&mut self, _uuids: &UuidSet) {}
        fn mark_all_out_of_sync(&mut self) {}
        fn clear_bitmap(&mut self) {
            self.words.fill(0);
        }
        fn resync_progress(&mut self, _announce: bool) {}
        fn bitmap_weight(&self) -> u64 {
            self.words.iter().map(|w| u64::from(w.count_ones())).sum()
        }
        fn random_u64(&mut self) -> u64 {
            self.random
        }
        fn call_helper(&mut self, _helper: Helper) {}
        fn before_resync(&mut self, _ticket: ResyncHandlerTicket) -> Option<u8> {
            Some(0)
        }
        fn fence_peer(&mut self) {}
        fn set_capacity(&mut self, _sectors: u64) {}
        fn set_max_bio_size(&mut self, _bytes: u32) {}
        fn change_finished(&mut self, _result: Result<(), StateError>) {}
        fn hold_write(&mut self, _write: HeldWrite) {}
        fn submit_held(&mut self, _slot: Slot) {}
        fn send_bitmap(&mut self, _ctx: &Agreed, _use_rle: bool) {
            self.sent.push(Out::Bitmap);
        }
        fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
            let mut view = Bitmap::new(&mut self.words[..], self.bits).expect("geometry");
            f(&mut view);
        }
        fn read_for_peer(&mut self, _read: PeerRead) {}
        fn send_block(&mut self, _ctx: &Agreed, _packet: &Packet<'_>, _slot: Slot) {}
        fn flush_lower(&mut self) {}
        fn mark_out_of_sync(&mut self, _sector: u64, _size: u32) {}
        fn mark_in_sync(&mut self, _sector: u64, _size: u32) {}
        fn peer_acked(&mut self, _kind: wire::AckKind, _ack: &wire::BlockAck) -> bool {
            false
        }
        fn epoch_acked(&mut self, _epoch: u32) {}
        fn requests_lost(&mut self) {}
    }

    /// The capture's 64 MiB disks minus internal meta data (its P_SIZES).
    const SECTORS: u64 = 0x1ffb0;
    /// fullsync-protoC.conf: `net { verify-alg md5; }`, sent by both nodes in P_SYNC_PARAM89.
    const VERIFY_ALG: &str = "md5";
    /// Node-a's current UUID after `primary --force` (capture, first connect).
    const PROMOTED: u64 = 0x3a54_8b9a_5f33_236d;
    /// Node-a's sync UUID of the full sync (capture).
    const SYNC_UUID: u64 = 0x78fa_d3eb_8f44_56d2;
    /// Node-a's current UUID at the reconnect (made when it lost node-b while Primary).
    const RECONNECT: u64 = 0x6153_6dab_537c_0e31;

    fn net() -> NetSettings {
        NetSettings {
            features: 0xf,
            verify_alg: AlgName::new(VERIFY_ALG).expect("alg name"),
            ..NetSettings::DEFAULT
        }
    }

    /// Host-side storage for the tests.
    struct VecStorage;

    impl Storage for VecStorage {
        type Epochs = std::vec::Vec<SentEpoch>;
        type Slots = std::vec::Vec<SlotEntry>;
    }

    type TestReplica = Replica<VecStorage>;

    fn node(role: Role, disk: DiskState, uuids: [u64; 4], random: u64) -> (TestReplica, Recorder) {
        let state = State::new(
            role,
            Role::Unknown,
            ConnState::StandAlone,
            disk,
            DiskState::DUnknown,
        );
        let geometry = DiskGeometry {
            usable_sectors: SECTORS,
            capacity_sectors: SECTORS,
            max_bio_size: wire::DRBD_MAX_BIO_SIZE,
            ..DiskGeometry::default()
        };
        let replica = Replica::new(
            state,
            UuidSet::from_array(uuids),
            false,
            geometry,
            std::vec![SentEpoch::default(); EPOCH_RING],
            std::vec![SlotEntry::default(); CONFLICT_SLOTS],
        );
        (replica, Recorder::new(random))
    }

    /// Sockets up, features exchanged, the peer's initial packets up to (not including) its
    /// P_STATE received (§1.5).
    fn handshake(r: &mut TestReplica, h: &mut Recorder, net: NetSettings, peer_uuids: [u64; 6]) {
        r.connect(net, SyncSettings::DEFAULT, h);
        r.sockets_established(false, 0, h);
        let peer = [
            Packet::ConnectionFeatures(Features::new(0xf)),
            Packet::Protocol(ProtocolSettings {
                protocol: 3,
                ..ProtocolSettings::default()
            }),
            Packet::SyncParam(SyncParams {
                resync_rate: 40960,
                verify_alg: VERIFY_ALG,
                csums_alg: "",
                controller: Some(SyncSettings::DEFAULT.controller),
            }),
            Packet::Sizes(Sizes {
                d_size: SECTORS,
                u_size: 0,
                c_size: SECTORS,
                max_bio_size: wire::DRBD_MAX_BIO_SIZE,
                queue_order_type: 0,
                dds_flags: 0,
                queue_limits: Some(wire::QueueLimits::default()),
            }),
            Packet::Uuids(Uuids::from_array(peer_uuids)),
        ];
        for p in &peer {
            r.receive(Socket::Data, p, 0, h);
        }
    }

    #[test]
    fn a_crashed_primary_stays_so_until_both_disks_are_up_to_date() {
        let (mut r, mut h) = node(Role::Secondary, DiskState::UpToDate, [0x10, 0, 0, 0], 1);
        r.crashed_primary = true;
        let mut ns = *r.state();
        ns.conn = ConnState::SyncSource;
        ns.pdsk = DiskState::Inconsistent;
        r.set_state(ns, &mut h);
        assert!(
            r.crashed_primary(),
            "still crashed while the peer is behind"
        );
        ns.conn = ConnState::Connected;
        ns.pdsk = DiskState::UpToDate;
        r.set_state(ns, &mut h);
        assert!(
            !r.crashed_primary(),
            "whole again once both disks are UpToDate"
        );
    }

    #[test]
    fn verify_alg_is_a_net_setting_sent_and_checked_at_connect() {
        // Both drbd.ko nodes of the capture send verify_alg "md5"; a node configured the
        // same way must send it too and get past the WFReportParams check.
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut r, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        assert!(h.take().contains(&Out::SyncParam {
            verify_alg: VERIFY_ALG.into()
        }));
        r.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::Connected);

        // Without the setting the strings differ: "Different verify-alg settings".
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut r, &mut h, NetSettings::DEFAULT, [4, 0, 0, 0, 16374, 0]);
        assert_eq!(r.state().conn, ConnState::StandAlone);
    }

    #[test]
    fn new_resync_settings_are_used_and_sent_to_a_connected_peer() {
        let fast = SyncSettings {
            resync_rate: 4096,
            ..SyncSettings::DEFAULT
        };
        // Not connected yet: kept for the handshake, nothing sent.
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        r.change_sync_settings(fast, &mut h);
        assert_eq!(r.sync_settings(), &fast);
        assert!(h.take().is_empty());
        // Past the initial packets: P_SYNC_PARAM89 with them (drbd_send_sync_param).
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut r, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        r.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        h.take();
        r.change_sync_settings(fast, &mut h);
        assert_eq!(r.sync_settings(), &fast);
        assert_eq!(
            h.take(),
            [Out::SyncParam {
                verify_alg: VERIFY_ALG.into()
            }]
        );
    }

    #[test]
    fn a_stalled_data_socket_pings_then_gives_up_at_ko_count() {
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut r, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        r.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::Connected);
        h.take();
        // First expiry: still connected, one P_PING asks the peer whether it is alive.
        assert!(r.data_send_stalled(1, 100, &mut h));
        assert_eq!(h.take(), [Out::Other(wire::Cmd::Ping)]);
        // Its ack came back: the link lives, the send is merely slow.
        r.receive(Socket::Meta, &Packet::PingAck, 150, &mut h);
        assert!(r.data_send_stalled(2, 200, &mut h));
        assert_eq!(h.take(), [Out::Other(wire::Cmd::Ping)]);
        r.receive(Socket::Meta, &Packet::PingAck, 250, &mut h);
        // ko-count expiries in a row: Timeout, back to WFConnection.
        let ko = NetSettings::DEFAULT.ko_count;
        assert!(!r.data_send_stalled(ko, 300, &mut h));
        assert_eq!(r.state().conn, ConnState::WFConnection);
        assert!(r.wants_connection());

        // No PingAck within ping-timeout: the next expiry finds the link dead.
        let (mut r, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut r, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        r.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        assert!(r.data_send_stalled(1, 100, &mut h));
        let timeout = u64::from(NetSettings::DEFAULT.ping_timeout_ds) * 100;
        assert!(!r.data_send_stalled(2, 100 + timeout, &mut h));
        assert_eq!(r.state().conn, ConnState::WFConnection);
    }

    #[test]
    fn entering_wfbitmap_s_after_the_peer_reported_wfbitmap_t_sends_no_state() {
        // Capture, first connect, node-a: after `primary --force` it sent its UUIDs and
        // 0x90a9; node-b answered with its UUIDs and 0x108e6 (WFBitMapT); node-a then sent
        // only its P_COMPRESSED_BITMAP, no P_STATE for WFBitMapS (§6.3).
        let (mut a, mut h) = node(
            Role::Secondary,
            DiskState::Inconsistent,
            [UUID_JUST_CREATED, 0, 0, 0],
            PROMOTED,
        );
        handshake(&mut a, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        a.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        let promote = StateChange::new()
            .role(Role::Primary)
            .disk(DiskState::UpToDate);
        a.request_change(promote, true, &mut h);
        h.take();
        a.receive(Socket::Meta, &Packet::StateChgReply(1), 0, &mut h);
        assert_eq!(
            h.take(),
            [
                Out::Uuids([PROMOTED, UUID_JUST_CREATED, 0, 0]),
                Out::State(0x90a9)
            ]
        );
        let b_uuids = Packet::Uuids(Uuids::from_array([4, 0, 0, 0, 16374, 0]));
        a.receive(Socket::Data, &b_uuids, 0, &mut h);
        a.receive(Socket::Data, &Packet::State(0x108e6), 0, &mut h);
        assert_eq!(a.state().conn, ConnState::WFBitMapS);
        assert_eq!(h.take(), [Out::Bitmap]);
    }

    #[test]
    fn deciding_a_resync_the_peer_has_not_decided_sends_uuids_and_state() {
        // Capture, first connect, node-b: node-a's promotion approved, then node-a's UUIDs and
        // 0x90a9 arrive; node-b (rule 20, WFBitMapT) sends its UUIDs and 0x108e6.
        let (mut b, mut h) = node(Role::Secondary, DiskState::Inconsistent, [4, 0, 0, 0], 1);
        handshake(&mut b, &mut h, net(), [4, 0, 0, 0, 16374, 0]);
        b.receive(Socket::Data, &Packet::State(0xc882), 0, &mut h);
        let req = StateReq {
            mask: 0x1e03,
            val: 0x1001,
        };
        b.receive(Socket::Data, &Packet::StateChgReq(req), 0, &mut h);
        h.take();
        let a_uuids = Uuids::from_array([PROMOTED, UUID_JUST_CREATED, 0, 0, 16374, 0]);
        b.receive(Socket::Data, &Packet::Uuids(a_uuids), 0, &mut h);
        b.receive(Socket::Data, &Packet::State(0x90a9), 0, &mut h);
        assert_eq!(b.state().conn, ConnState::WFBitMapT);
        assert_eq!(h.take(), [Out::Uuids([4, 0, 0, 0]), Out::State(0x108e6)]);
    }

    #[test]
    fn bitmap_exchange_states_are_sanitized() {
        // Capture, reconnect: node-b (UpToDate) reported WFBitMapT as 0x10ae6, its disk
        // Outdated; node-a reported WFBitMapS as 0xf0d9, node-b's disk Consistent (§6.6).
        let a_set = [RECONNECT, PROMOTED, SYNC_UUID, 4];
        let b_set = [PROMOTED & !1, 0, SYNC_UUID, 4];

        let (mut b, mut h) = node(Role::Secondary, DiskState::UpToDate, b_set, 1);
        let [c, bm, h1, h2] = a_set;
        handshake(&mut b, &mut h, net(), [c, bm, h1, h2, 64, 0]);
        h.take();
        b.receive(Socket::Data, &Packet::State(0xd081), 0, &mut h);
        assert_eq!(b.state().conn, ConnState::WFBitMapT);
        assert_eq!(b.state().disk, DiskState::Outdated);
        assert_eq!(h.take(), [Out::State(0x10ae6)]);

        let (mut a, mut h) = node(Role::Primary, DiskState::UpToDate, a_set, 1);
        let [c, bm, h1, h2] = b_set;
        handshake(&mut a, &mut h, net(), [c, bm, h1, h2, 0, 0]);
        h.take();
        a.receive(Socket::Data, &Packet::State(0xd082), 0, &mut h);
        assert_eq!(a.state().conn, ConnState::WFBitMapS);
        assert_eq!(h.take(), [Out::State(0xf0d9), Out::Bitmap]);
    }
}
