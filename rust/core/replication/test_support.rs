// SPDX-License-Identifier: GPL-2.0
//! Unit-test harness for the replication modules: one [`Replica`] whose peer is scripted by
//! the test (packets fed as values, what the replica sends recorded), and a host that keeps
//! a bitmap, the reads the replica asked for, the log and the helpers.

use std::string::{String, ToString};
use std::vec::Vec;

use core::fmt;

use super::super::bitmap::Bitmap;
use super::super::state::{ConnState, DiskState, Role, State, StateError};
use super::super::uuid::UuidSet;
use super::super::wire::{
    self, AckKind, Agreed, Cmd, Features, Packet, ProtocolSettings, RequestKind, Sizes, SyncParams,
    Uuids,
};
use super::conflicts::{Slot, SlotEntry};
use super::connection::{
    AlgName, DiskGeometry, Host, Level, NetSettings, Replica, Socket, Storage, SyncSettings,
    CONFLICT_SLOTS, EPOCH_RING,
};
use super::epochs::SentEpoch;
use super::resync_handlers::ResyncHandlerTicket;
use super::resync_path::{HeldWrite, PeerRead};
use super::sync_handshake::Helper;

/// What the replica sent, as owned values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Out {
    State(u32),
    StateChgReq(u32, u32),
    StateChgReply(i32),
    Request {
        kind: RequestKind,
        sector: u64,
        size: u32,
        digest: Vec<u8>,
    },
    Ack {
        kind: AckKind,
        sector: u64,
        block_id: u64,
        size: u32,
    },
    /// A data packet whose block data the host was told to send from a read buffer.
    Block {
        cmd: Cmd,
        sector: u64,
        size: u32,
    },
    Ping,
    PingAck,
    Other(Cmd),
}

pub(super) struct TestHost {
    pub(super) out: Vec<Out>,
    pub(super) reads: Vec<PeerRead>,
    pub(super) held: Vec<HeldWrite>,
    pub(super) submitted: Vec<Slot>,
    pub(super) log: Vec<String>,
    pub(super) bitmap: Bitmap<Vec<u64>>,
    pub(super) helpers: Vec<Helper>,
    pub(super) finished: Vec<Result<(), StateError>>,
    pub(super) dropped: bool,
    /// [`Host::fence_peer`] calls.
    pub(super) fence_requests: u32,
    /// The `before-resync-*` handlers asked for, in order.
    pub(super) resync_handlers: Vec<ResyncHandlerTicket>,
    /// Their exit code at once, or None: the test answers with
    /// [`Replica::before_resync_done`].
    pub(super) resync_handler_exit: Option<u8>,
    /// [`Host::resync_progress`] calls: (announce, bits out of sync then).
    pub(super) progress: Vec<(bool, u64)>,
}

impl TestHost {
    fn new(sectors: u64) -> Self {
        let bits = sectors.div_ceil(8);
        TestHost {
            out: Vec::new(),
            reads: Vec::new(),
            held: Vec::new(),
            submitted: Vec::new(),
            log: Vec::new(),
            bitmap: Bitmap::new(std::vec![0; bits.div_ceil(64) as usize], bits).expect("bitmap"),
            helpers: Vec::new(),
            finished: Vec::new(),
            dropped: false,
            fence_requests: 0,
            resync_handlers: Vec::new(),
            resync_handler_exit: Some(0),
            progress: Vec::new(),
        }
    }

    /// Everything sent since the last call.
    pub(super) fn take(&mut self) -> Vec<Out> {
        core::mem::take(&mut self.out)
    }

    /// The reads asked for since the last call.
    pub(super) fn take_reads(&mut self) -> Vec<PeerRead> {
        core::mem::take(&mut self.reads)
    }

    pub(super) fn logged(&self, line: &str) -> bool {
        self.log.iter().any(|l| l == line)
    }
}

impl Host for TestHost {
    fn send(&mut self, _socket: Socket, _ctx: &Agreed, packet: &Packet<'_>) {
        self.out.push(match packet {
            Packet::State(w) => Out::State(*w),
            Packet::StateChgReq(r) => Out::StateChgReq(r.mask, r.val),
            Packet::StateChgReply(c) => Out::StateChgReply(*c),
            Packet::BlockRequest { kind, req, digest } => Out::Request {
                kind: *kind,
                sector: req.sector,
                size: req.blksize,
                digest: digest.to_vec(),
            },
            Packet::Ack { kind, ack } => Out::Ack {
                kind: *kind,
                sector: ack.sector,
                block_id: ack.block_id,
                size: ack.blksize,
            },
            Packet::Ping => Out::Ping,
            Packet::PingAck => Out::PingAck,
            p => Out::Other(p.cmd()),
        });
    }
    fn drop_sockets(&mut self) {
        self.dropped = true;
    }
    fn log(&mut self, _level: Level, args: fmt::Arguments<'_>) {
        self.log.push(args.to_string());
    }
    fn state_changed(&mut self, _old: &State, _new: &State) {}
    fn write_meta_data(&mut self, _uuids: &UuidSet) {}
    fn mark_all_out_of_sync(&mut self) {
        self.bitmap.set_all();
    }
    fn clear_bitmap(&mut self) {
        self.bitmap.clear_all();
    }
    fn resync_progress(&mut self, announce: bool) {
        let weight = self.bitmap.count();
        self.progress.push((announce, weight));
    }
    fn bitmap_weight(&self) -> u64 {
        self.bitmap.count()
    }
    fn random_u64(&mut self) -> u64 {
        0x1234_5678_9abc_def0
    }
    fn call_helper(&mut self, helper: Helper) {
        self.helpers.push(helper);
    }
    fn before_resync(&mut self, ticket: ResyncHandlerTicket) -> Option<u8> {
        self.resync_handlers.push(ticket);
        self.resync_handler_exit
    }
    fn fence_peer(&mut self) {
        self.fence_requests += 1;
    }
    fn set_capacity(&mut self, _sectors: u64) {}
    fn set_max_bio_size(&mut self, _bytes: u32) {}
    fn change_finished(&mut self, result: Result<(), StateError>) {
        self.finished.push(result);
    }
    fn hold_write(&mut self, write: HeldWrite) {
        self.held.push(write);
    }
    fn submit_held(&mut self, slot: Slot) {
        self.submitted.push(slot);
    }
    fn send_bitmap(&mut self, _ctx: &Agreed, _use_rle: bool) {}
    fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        f(&mut self.bitmap.view_mut());
    }
    fn read_for_peer(&mut self, read: PeerRead) {
        self.reads.push(read);
    }
    fn send_block(&mut self, _ctx: &Agreed, packet: &Packet<'_>, _slot: Slot) {
        let (sector, size) = match packet {
            Packet::Data { hdr, data_len, .. } => (hdr.sector, *data_len),
            _ => (0, 0),
        };
        self.out.push(Out::Block {
            cmd: packet.cmd(),
            sector,
            size,
        });
    }
    fn flush_lower(&mut self) {}
    fn mark_out_of_sync(&mut self, sector: u64, size: u32) {
        let end = (sector + u64::from(size) / 512).div_ceil(8);
        self.bitmap
            .set_range(sector / 8..end.min(self.bitmap.bits()));
    }
    fn mark_in_sync(&mut self, sector: u64, size: u32) {
        let end = (sector + u64::from(size) / 512).div_ceil(8);
        self.bitmap
            .clear_range(sector / 8..end.min(self.bitmap.bits()));
    }
    fn peer_acked(&mut self, _kind: AckKind, _ack: &wire::BlockAck) -> bool {
        true
    }
    fn epoch_acked(&mut self, _epoch: u32) {}
    fn requests_lost(&mut self) {}
}

pub(super) struct VecStorage;

impl Storage for VecStorage {
    type Epochs = Vec<SentEpoch>;
    type Slots = Vec<SlotEntry>;
}

pub(super) type TestReplica = Replica<VecStorage>;

/// How the scripted peer and our replica are configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setup {
    /// Device size (sectors) on both nodes.
    pub(super) sectors: u64,
    /// The peer's highest protocol version (the agreed one).
    pub(super) apv: u32,
    pub(super) verify_alg: &'static str,
    pub(super) csums_alg: &'static str,
    pub(super) my_disk: DiskState,
    pub(super) peer_disk: DiskState,
}

impl Setup {
    pub(super) const DEFAULT: Setup = Setup {
        sectors: 68,
        apv: 101,
        verify_alg: "md5",
        csums_alg: "",
        my_disk: DiskState::UpToDate,
        peer_disk: DiskState::UpToDate,
    };

    pub(super) fn net(&self) -> NetSettings {
        NetSettings {
            features: 0xf,
            verify_alg: AlgName::new(self.verify_alg).expect("alg"),
            csums_alg: AlgName::new(self.csums_alg).expect("alg"),
            ..NetSettings::DEFAULT
        }
    }
}

/// The UUIDs both nodes start with (equal: no resync from the UUIDs, rule 40).
pub(super) const UUIDS: [u64; 4] = [0x5eed_0000_0000_1000, 0, 0, 0];

/// A replica Secondary/Secondary after the handshake with a scripted peer (§1.5): Connected,
/// or the sync state the disk states force. Time 0.
pub(super) fn connected(setup: Setup) -> (TestReplica, TestHost) {
    let state = State::new(
        Role::Secondary,
        Role::Unknown,
        ConnState::StandAlone,
        setup.my_disk,
        DiskState::DUnknown,
    );
    let geometry = DiskGeometry {
        usable_sectors: setup.sectors,
        capacity_sectors: setup.sectors,
        max_bio_size: wire::DRBD_MAX_BIO_SIZE,
        ..DiskGeometry::default()
    };
    let mut r: TestReplica = Replica::new(
        state,
        UuidSet::from_array(UUIDS),
        false,
        geometry,
        std::vec![SentEpoch::default(); EPOCH_RING],
        std::vec![SlotEntry::default(); CONFLICT_SLOTS],
    );
    let mut h = TestHost::new(setup.sectors);
    r.connect(setup.net(), SyncSettings::DEFAULT, &mut h);
    r.sockets_established(false, 0, &mut h);
    let peer_state = State::new(
        Role::Secondary,
        Role::Unknown,
        ConnState::WFConnection,
        setup.peer_disk,
        DiskState::DUnknown,
    );
    let [c, b, h1, h2] = UUIDS;
    let peer = [
        Packet::ConnectionFeatures(Features {
            protocol_min: 86,
            feature_flags: 0xf,
            protocol_max: setup.apv,
        }),
        Packet::Protocol(ProtocolSettings {
            protocol: 3,
            ..ProtocolSettings::default()
        }),
        Packet::SyncParam(SyncParams {
            resync_rate: 40960,
            verify_alg: setup.verify_alg,
            csums_alg: setup.csums_alg,
            controller: Some(SyncSettings::DEFAULT.controller),
        }),
        Packet::Sizes(Sizes {
            d_size: setup.sectors,
            u_size: 0,
            c_size: setup.sectors,
            max_bio_size: wire::DRBD_MAX_BIO_SIZE,
            queue_order_type: 0,
            dds_flags: 0,
            queue_limits: Some(wire::QueueLimits::default()),
        }),
        Packet::Uuids(Uuids::from_array([c, b, h1, h2, 0, 0])),
        Packet::State(peer_state.pack()),
    ];
    for p in &peer {
        r.receive(Socket::Data, p, 0, &mut h);
    }
    h.take();
    (r, h)
}

/// 4 KiB of a block whose content is `tag`.
pub(super) fn block(tag: u8, size: u32) -> Vec<u8> {
    std::vec![tag; size as usize]
}
