//! Two simulated nodes running the core's [`Replica`] over a simulated link.
//!
//! Every packet goes through the real wire codec: the sender encodes it to bytes, the link
//! carries the bytes (in order per socket and direction, as TCP does, with a seeded random
//! delay), and the receiver decodes header, layout and payload exactly as the kernel's
//! receiver does. A cut link loses what is in flight and fails both nodes' sockets; the nodes
//! then reconnect by themselves when the link is back. A node that closes its sockets (the
//! replica gave up the connection) closes them as TCP does: what it sent before still reaches
//! the peer, which notices the close after reading it.
//!
//! Power loss ([`World::crash`], [`World::restart`]): a crashed node loses its replica and
//! every piece of host memory; its peer is not told — it sees nothing more from the node and
//! notices through its own ping or ack timeouts, or through the reset the rebooted host sends
//! back on the old connection. What survives is what the node's disk holds durably:
//! - data writes the disk completed are volatile until a flush covers them (the barrier flush
//!   of the receiver, or any meta-data write, which drbd issues with PREFLUSH|FUA); at the
//!   crash each volatile write is kept or lost by the seed's random source;
//! - the superblock as last written: the UUIDs of the last `write_meta_data` and the
//!   `MDF_*` flags recomputed from every state change (written at once, as the engine does at
//!   the end of each replica call, not after drbd's 5 s lazy timer);
//! - the bitmap as last written: whole at every connection-state change, demotion, full sync
//!   and clear; one 4 MiB extent when it leaves the activity log;
//! - the activity log, modelled conservatively: an application write's extent is active from
//!   before its local submission until the write completed to the application; activating
//!   and retiring an extent are AL transactions (meta-data writes: they flush the data disk,
//!   and retiring writes the extent's bitmap bits first, as drbd's hinted write-out does).
//!
//! [`World::restart`] attaches from that image as `drbdadm attach` does: `drbdmeta apply-al`
//! (the active extents out of sync if `MDF_PRIMARY_IND` is set), the disk state and the
//! crashed-primary bit from [`MdFlags::on_attach`] (fencing `dont-care`, drbd's default), then
//! a fresh [`Replica`] that connects again.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use drbd_core::bitmap::{al_extent_bits, Bitmap, BITS_PER_AL_EXTENT, BITS_PER_PAGE};
use drbd_core::bitmap_xfer::{BitmapSender, ChunkKind};
use drbd_core::meta_data::{AttachDisk, FlagState, MdFlags};
use drbd_core::replication::conflicts::{Slot, SlotEntry};
use drbd_core::replication::connection::{
    DiskGeometry, Host, Level, NetSettings, Replica, Socket, Storage, SyncSettings, CONFLICT_SLOTS,
    EPOCH_RING,
};
use drbd_core::replication::epochs::SentEpoch;
use drbd_core::replication::establish::Establish;
use drbd_core::replication::fencing::{FenceStart, Promotion, PromotionStep};
use drbd_core::replication::io_errors::FailedIo;
use drbd_core::replication::request::{Step, WriteRequest};
use drbd_core::replication::resync_handlers::ResyncHandlerTicket;
use drbd_core::replication::resync_path::{HeldWrite, PeerRead};
use drbd_core::replication::sync_handshake::Helper;
use drbd_core::replication::writes::{PeerWriteKind, WriteFlags};
use drbd_core::replication::WireProtocol;
use drbd_core::state::{ConnState, DiskState, Role, State, StateError};
use drbd_core::uuid::{UuidSet, UUID_PRIMARY_BIT};
use drbd_core::wire::{self, AckKind, Agreed, BlockAck, Cmd, DescKind, Packet};

use crate::{Scheduler, SimRng};

/// Node index: 0 = node-a, 1 = node-b.
pub type NodeId = usize;

/// What a node's host recorded (the simulator's view of the engine).
#[derive(Debug)]
pub struct NodeHost {
    /// Encoded packets waiting to be put on the link: (socket, bytes).
    pub outbox: Vec<(Socket, Vec<u8>)>,
    /// Kernel log lines.
    pub log: Vec<String>,
    /// Every state the node passed through.
    pub states: Vec<State>,
    /// Superblock writes (their UUIDs).
    pub meta_writes: Vec<UuidSet>,
    /// The out-of-sync bitmap (one bit per 4 KiB block).
    pub bitmap: Bitmap<Vec<u64>>,
    /// The lower disk as reads see it: per 4 KiB block the id of the write it holds (0 =
    /// never written), volatile writes included.
    pub disk: Vec<u64>,
    /// What the disk holds durably (survives a power loss): `disk` without the volatile
    /// writes.
    pub durable: Vec<u64>,
    /// Writes the disk completed that no flush covered yet, oldest first.
    pub volatile: Vec<VolatileWrite>,
    /// Sequence number of the last completed data write (flushes cover up to one).
    write_seq: u64,
    /// The meta data as last written to the disk.
    pub persisted: PersistedMeta,
    /// Application writes in flight per activity-log extent (an extent is active while > 0).
    pub al_active: BTreeMap<u64, u32>,
    /// The in-core crashed-primary bit as the superblock flags last recorded it.
    crashed_primary: bool,
    /// Application writes in flight or waiting for the peer, by block_id.
    pub requests: BTreeMap<u64, SimRequest>,
    /// Local I/O submitted and not completed yet.
    pub io: Vec<LocalIo>,
    /// Epochs of requests that completed to the application (the replica closes them).
    pub completed_epochs: Vec<u32>,
    /// Application writes completed.
    pub completions: Vec<Completion>,
    /// Writes whose epoch the peer acknowledged with `P_BARRIER_ACK` and that were not
    /// marked out of sync: (block, id). The peer must hold them (any protocol).
    pub barrier_acked: Vec<(u64, u64)>,
    /// Block data that arrived with the last data packet (set by the world before
    /// `receive`, consumed by `submit_peer_write`).
    pub incoming_data: Vec<u64>,
    /// A peer ack named no request or was refused by it.
    pub bad_acks: u32,
    /// Writes from the peer held with their data until the replica submits them.
    held: BTreeMap<Slot, (HeldWrite, Vec<u64>)>,
    /// Data read for the peer, until it is sent.
    read_buffers: BTreeMap<Slot, Vec<u64>>,
    /// Helpers called.
    pub helpers: Vec<Helper>,
    /// `fence-peer` runs the core asked for ([`Host::fence_peer`]).
    pub fence_requests: u32,
    /// Of those, the ones the world has run (at the node's next tick, as the engine's
    /// handler thread would, outside the replica's calls).
    fence_handled: u32,
    /// The simulated `fence-peer` handler's exit code (5, "peer unreachable", unless a test
    /// sets another).
    pub fence_exit: u8,
    /// `before-resync-*` handler runs the core asked for ([`Host::before_resync`]) and not
    /// answered at once: answered at the node's next tick (as the engine's handler thread
    /// does, outside the replica's calls), with [`NodeHost::resync_handler_exit`]. Every other
    /// request is answered at once (a handler with nothing to do), so that schedules see
    /// both: the resync starting within the call that asked, and later.
    pub resync_handler_requests: Vec<ResyncHandlerTicket>,
    /// The simulated `before-resync-*` handler's exit code (0 unless a test sets another).
    pub resync_handler_exit: u8,
    /// Every `before-resync-*` handler asked for, in order.
    pub resync_handlers_run: Vec<Helper>,
    /// Resync progress written out ([`Host::resync_progress`]).
    pub progress_writes: u32,
    /// First and last bitmap page with bits cleared since the last progress write.
    cleared_pages: Option<(u64, u64)>,
    /// Results of finished cluster-wide changes.
    pub finished: Vec<Result<(), StateError>>,
    /// The engine was told to close its sockets.
    pub drop_requested: bool,
    /// Device capacity set by the size agreement.
    pub capacity: Option<u64>,
    /// Agreed maximum bio size.
    pub max_bio_size: Option<u32>,
    /// The lower disk fails every I/O that completes while this is set (nothing is
    /// written, reads return an error): a dying disk or a pulled cable.
    pub disk_failing: bool,
    /// Packets sent, per command.
    pub sent_packets: BTreeMap<Cmd, u64>,
    /// 4 KiB blocks of data sent after data packets, per command.
    pub sent_blocks: BTreeMap<Cmd, u64>,
    rng: Option<SimRng>,
}

/// A data write the disk completed but no flush covered yet: lost or kept at a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolatileWrite {
    /// Completion order on this disk.
    pub seq: u64,
    /// The block written.
    pub block: u64,
    /// The id it wrote.
    pub id: u64,
}

/// The meta data on a node's disk (what a power loss leaves).
#[derive(Debug, Clone)]
pub struct PersistedMeta {
    /// Superblock UUIDs.
    pub uuids: UuidSet,
    /// Superblock flags.
    pub flags: MdFlags,
    /// The on-disk bitmap.
    pub bitmap: Bitmap<Vec<u64>>,
}

/// The activity-log extent of a 4 KiB block (one bitmap bit per block).
pub fn al_extent_of(block: u64) -> u64 {
    block / BITS_PER_AL_EXTENT
}

/// An application write that completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The block written.
    pub block: u64,
    /// The write's id.
    pub id: u64,
    /// Protocol it was submitted under.
    pub protocol: WireProtocol,
    /// Result given to the application.
    pub ok: bool,
    /// Its blocks were marked out of sync before it completed (the peer may lack it).
    pub marked: bool,
}

/// One application write on the node that submitted it.
#[derive(Debug, Clone, Copy)]
pub struct SimRequest {
    /// The core's decision state.
    pub req: WriteRequest,
    /// Its epoch.
    pub epoch: u32,
    /// The block written.
    pub block: u64,
    /// The write's id (the data).
    pub id: u64,
    /// Marked out of sync so far.
    pub marked: bool,
}

/// Local I/O on a node's lower disk.
#[derive(Debug, Clone)]
pub enum LocalIo {
    /// An application write: block, id, request handle, conflict slot.
    App {
        /// Block.
        block: u64,
        /// Write id.
        id: u64,
        /// Request handle.
        block_id: u64,
        /// Its slot in the replica's conflict table.
        slot: Option<Slot>,
    },
    /// A write received from the peer (or a resync reply) with its blocks' data.
    Held { write: HeldWrite, data: Vec<u64> },
    /// A read serving the peer's resync request.
    Read(PeerRead),
    /// A flush for the receiver's barrier; it makes the writes completed before it was
    /// issued (sequence numbers up to `covers`) durable.
    Flush {
        /// The last completed write it covers.
        covers: u64,
    },
}

impl NodeHost {
    /// Execute a request's step: mark, complete, release.
    fn apply_step(&mut self, block_id: u64, step: Step) {
        let Some(r) = self.requests.get_mut(&block_id) else {
            return;
        };
        r.marked |= step.mark_out_of_sync;
        let r = *r;
        if step.mark_out_of_sync {
            self.bitmap.set(r.block);
        }
        if step.mark_in_sync {
            self.bitmap.clear(r.block);
        }
        if let Some(ok) = step.complete_upper {
            self.al_put(r.block);
            self.completions.push(Completion {
                block: r.block,
                id: r.id,
                protocol: r.req.protocol(),
                ok,
                marked: r.marked,
            });
            self.completed_epochs.push(r.epoch);
        }
        if step.release {
            self.requests.remove(&block_id);
        }
    }

    /// The data disk completed a write of `id` to `block`: visible at once, durable after the
    /// next flush.
    fn disk_write(&mut self, block: u64, id: u64) {
        let Some(slot) = self.disk.get_mut(block as usize) else {
            return;
        };
        *slot = id;
        self.write_seq += 1;
        self.volatile.push(VolatileWrite {
            seq: self.write_seq,
            block,
            id,
        });
    }

    /// A flush completed that covers the writes completed up to `seq`.
    fn flushed(&mut self, seq: u64) {
        let durable = &mut self.durable;
        self.volatile.retain(|w| {
            if w.seq > seq {
                return true;
            }
            if let Some(b) = durable.get_mut(w.block as usize) {
                *b = w.id;
            }
            false
        });
    }

    /// A meta-data write: drbd submits it with PREFLUSH|FUA, so every data write completed
    /// before it is durable too.
    fn meta_data_write(&mut self) {
        self.flushed(self.write_seq);
    }

    /// Record the superblock flags of `state` if they changed (the kernel writes them).
    fn write_flags(&mut self, state: &State) {
        let flags = self
            .persisted
            .flags
            .recompute(FlagState::of(state, self.crashed_primary));
        if flags != self.persisted.flags {
            self.persisted.flags = flags;
            self.meta_data_write();
        }
    }

    /// Write the whole in-core bitmap to the disk.
    fn write_bitmap(&mut self) {
        self.persisted.bitmap = self.bitmap.clone();
        self.meta_data_write();
    }

    /// Write the bitmap pages `pages` selects, as the engine does (copied, the data disk
    /// flushed, then written): the model's meta-data write flushes first.
    fn write_bitmap_pages(&mut self, mut pages: impl FnMut(&Bitmap<Vec<u64>>, u64) -> bool) {
        let bits = self.bitmap.bits();
        let mut any = false;
        for page in 0..bits.div_ceil(BITS_PER_PAGE) {
            if !pages(&self.bitmap, page) {
                continue;
            }
            any = true;
            let end = ((page + 1) * BITS_PER_PAGE).min(bits);
            for bit in page * BITS_PER_PAGE..end {
                if self.bitmap.test(bit) {
                    self.persisted.bitmap.set(bit);
                } else {
                    self.persisted.bitmap.clear(bit);
                }
            }
        }
        if any {
            self.meta_data_write();
        }
    }

    /// An application write to `block` is about to be submitted: its extent joins the
    /// activity log (a transaction, i.e. a meta-data write, when it was not active).
    fn al_get(&mut self, block: u64) {
        let refs = self.al_active.entry(al_extent_of(block)).or_insert(0);
        *refs += 1;
        if *refs == 1 {
            self.meta_data_write();
        }
    }

    /// An application write to `block` completed: its extent leaves the activity log when no
    /// other write holds it, after its bitmap bits were written (drbd's hinted write-out).
    fn al_put(&mut self, block: u64) {
        let extent = al_extent_of(block);
        let Some(refs) = self.al_active.get_mut(&extent) else {
            return;
        };
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return;
        }
        self.al_active.remove(&extent);
        let bits = al_extent_bits(extent);
        let end = bits.end.min(self.bitmap.bits());
        for bit in bits.start.min(end)..end {
            if self.bitmap.test(bit) {
                self.persisted.bitmap.set(bit);
            } else {
                self.persisted.bitmap.clear(bit);
            }
        }
        self.meta_data_write();
    }

    fn update(&mut self, block_id: u64, f: impl FnOnce(&mut WriteRequest) -> Option<Step>) -> bool {
        let Some(r) = self.requests.get_mut(&block_id) else {
            return false;
        };
        match f(&mut r.req) {
            Some(step) => {
                self.apply_step(block_id, step);
                true
            }
            None => false,
        }
    }
}

fn blocks_of(sector: u64, size: u32) -> std::ops::Range<u64> {
    sector / 8..(sector + u64::from(size) / 512).div_ceil(8)
}

impl NodeHost {
    /// Queue a data packet followed by its block data (each 4 KiB block carries its write
    /// id in its first 8 bytes).
    fn send_with_data(&mut self, ctx: &Agreed, packet: &Packet<'_>, ids: &[u64]) {
        *self.sent_packets.entry(packet.cmd()).or_insert(0) += 1;
        *self.sent_blocks.entry(packet.cmd()).or_insert(0) += ids.len() as u64;
        let mut buf = encoded(ctx, packet);
        for id in ids {
            buf.extend_from_slice(&block_bytes(*id));
        }
        self.outbox.push((Socket::Data, buf));
    }

    /// Packets of `cmd` this node sent.
    pub fn sent(&self, cmd: Cmd) -> u64 {
        self.sent_packets.get(&cmd).copied().unwrap_or(0)
    }

    /// The bytes of `size` bytes at `sector` of the disk as reads see it.
    fn read_bytes(&self, sector: u64, size: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(size as usize);
        for s in sector..sector + u64::from(size) / 512 {
            let id = self.disk.get((s / 8) as usize).copied().unwrap_or(0);
            let at = (s % 8) as usize * 512;
            out.extend_from_slice(&block_bytes(id)[at..at + 512]);
        }
        out
    }
}

/// The states in which a node is (about to be) the target of a resync (the engine's rule).
fn is_resync_target(conn: ConnState) -> bool {
    matches!(
        conn,
        ConnState::WFSyncUUID | ConnState::SyncTarget | ConnState::PausedSyncT
    )
}

/// A 4 KiB block holding write `id`: the id in its first 8 bytes, zeros after.
fn block_bytes(id: u64) -> [u8; 4096] {
    let mut block = [0u8; 4096];
    block[..8].copy_from_slice(&id.to_le_bytes());
    block
}

/// Header and fixed part of `packet`; the core never asks for an unencodable packet, so
/// one is a bug the simulation stops at.
fn encoded(ctx: &Agreed, packet: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; packet.encoded_len(ctx)];
    match packet.encode(ctx, 0, &mut buf) {
        Ok(n) => buf.truncate(n),
        Err(e) => panic!("core asked to send an unencodable packet {packet:?}: {e}"),
    }
    buf
}

/// Every `P_BITMAP` / `P_COMPRESSED_BITMAP` of a whole bitmap transfer, in order, as a
/// sending engine produces them with the core's sender.
pub fn bitmap_packets(
    bitmap: &Bitmap<Vec<u64>>,
    ctx: &Agreed,
    use_rle: bool,
    mut emit: impl FnMut(&Packet<'_>),
) {
    let mut sender = BitmapSender::new(bitmap.bits(), ctx.header_len(), use_rle);
    let mut buf = vec![0u8; 4096];
    while let Some(chunk) = sender.next_packet(bitmap, &mut buf) {
        let payload = &buf[..chunk.len];
        emit(&match chunk.kind {
            ChunkKind::Plain => Packet::Bitmap(payload),
            ChunkKind::Compressed => Packet::CompressedBitmap(payload),
        });
    }
}

/// The `fence-peer` handler as the engine runs it: [`Replica::fence_peer_start`], the
/// handler (its answer is the node's [`NodeHost::fence_exit`]), [`Replica::fence_peer_done`].
/// True: the peer's disk counts as outdated.
fn run_fence_handler(replica: &mut Replica<VecStorage>, host: &mut NodeHost) -> bool {
    match replica.fence_peer_start(host) {
        FenceStart::Run(ticket) => {
            let exit = host.fence_exit;
            replica.fence_peer_done(ticket, exit, host)
        }
        FenceStart::NotNeeded => true,
        FenceStart::Refused => false,
    }
}

/// Run `f` on a borrowed view of `bitmap` (what [`Host::with_bitmap`] hands the core).
pub fn with_bitmap_view(bitmap: &mut Bitmap<Vec<u64>>, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
    f(&mut bitmap.view_mut());
}

impl Host for NodeHost {
    fn send(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>) {
        *self.sent_packets.entry(packet.cmd()).or_insert(0) += 1;
        self.outbox.push((socket, encoded(ctx, packet)));
    }

    fn drop_sockets(&mut self) {
        self.drop_requested = true;
    }

    fn log(&mut self, _level: Level, args: fmt::Arguments<'_>) {
        self.log.push(args.to_string());
    }

    fn state_changed(&mut self, old: &State, new: &State) {
        self.states.push(*new);
        // Where the engine writes the bitmap besides full syncs, AL evictions and resync
        // progress: whole at a demotion; the pages with set bits when this node is about to
        // become SyncTarget (before its first request).
        if old.role == Role::Primary && new.role != Role::Primary {
            self.write_bitmap();
        }
        if is_resync_target(new.conn) && !is_resync_target(old.conn) {
            self.write_bitmap_pages(|bm, page| {
                let end = ((page + 1) * BITS_PER_PAGE).min(bm.bits());
                bm.count_range(page * BITS_PER_PAGE..end) > 0
            });
        }
        self.write_flags(new);
    }

    fn write_meta_data(&mut self, uuids: &UuidSet) {
        self.meta_writes.push(*uuids);
        self.persisted.uuids = *uuids;
        self.meta_data_write();
    }

    fn mark_all_out_of_sync(&mut self) {
        self.bitmap.set_all();
        self.write_bitmap();
    }

    fn clear_bitmap(&mut self) {
        self.bitmap.clear_all();
        self.write_bitmap();
    }

    fn resync_progress(&mut self, _announce: bool) {
        // The pages with bits cleared since the last time.
        self.progress_writes += 1;
        if let Some((first, last)) = self.cleared_pages.take() {
            self.write_bitmap_pages(|_, page| (first..=last).contains(&page));
        }
    }

    fn bitmap_weight(&self) -> u64 {
        self.bitmap.count()
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.get_or_insert_with(|| SimRng::new(1)).next_u64()
    }

    fn call_helper(&mut self, helper: Helper) {
        self.helpers.push(helper);
    }

    fn before_resync(&mut self, ticket: ResyncHandlerTicket) -> Option<u8> {
        self.resync_handlers_run.push(ticket.helper());
        if self.resync_handlers_run.len() % 2 == 1 {
            return Some(self.resync_handler_exit);
        }
        self.resync_handler_requests.push(ticket);
        None
    }

    fn fence_peer(&mut self) {
        self.fence_requests += 1;
    }

    fn set_capacity(&mut self, sectors: u64) {
        self.capacity = Some(sectors);
    }

    fn set_max_bio_size(&mut self, bytes: u32) {
        self.max_bio_size = Some(bytes);
    }

    fn change_finished(&mut self, result: Result<(), StateError>) {
        self.finished.push(result);
    }

    fn hold_write(&mut self, write: HeldWrite) {
        let data = std::mem::take(&mut self.incoming_data);
        self.held.insert(write.slot(), (write, data));
    }

    fn submit_held(&mut self, slot: Slot) {
        match self.held.remove(&slot) {
            Some((write, data)) => self.io.push(LocalIo::Held { write, data }),
            None => panic!("replica submitted slot {slot:?} that holds no write"),
        }
    }

    fn send_bitmap(&mut self, ctx: &Agreed, use_rle: bool) {
        let outbox = &mut self.outbox;
        bitmap_packets(&self.bitmap, ctx, use_rle, |packet| {
            outbox.push((Socket::Data, encoded(ctx, packet)));
        });
    }

    fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        with_bitmap_view(&mut self.bitmap, f);
    }

    fn read_for_peer(&mut self, read: PeerRead) {
        self.io.push(LocalIo::Read(read));
    }

    fn send_block(&mut self, ctx: &Agreed, packet: &Packet<'_>, slot: Slot) {
        let data = self.read_buffers.remove(&slot).unwrap_or_default();
        self.send_with_data(ctx, packet, &data);
    }

    fn flush_lower(&mut self) {
        self.io.push(LocalIo::Flush {
            covers: self.write_seq,
        });
    }

    fn mark_out_of_sync(&mut self, sector: u64, size: u32) {
        let r = blocks_of(sector, size);
        let end = r.end.min(self.bitmap.bits());
        let newly = self.bitmap.set_range(r.start.min(end)..end);
        if newly > 0 && self.states.last().is_some_and(|s| is_resync_target(s.conn)) {
            // The engine writes these pages before the block can be requested.
            let pages = r.start / BITS_PER_PAGE..=(end.max(1) - 1) / BITS_PER_PAGE;
            self.write_bitmap_pages(|_, page| pages.contains(&page));
        }
    }

    fn mark_in_sync(&mut self, sector: u64, size: u32) {
        let r = blocks_of(sector, size);
        let end = r.end.min(self.bitmap.bits());
        if self.bitmap.clear_range(r.start.min(end)..end) > 0 {
            let (first, last) = (r.start / BITS_PER_PAGE, (end.max(1) - 1) / BITS_PER_PAGE);
            self.cleared_pages = Some(match self.cleared_pages {
                Some((a, b)) => (a.min(first), b.max(last)),
                None => (first, last),
            });
        }
    }

    fn peer_acked(&mut self, kind: AckKind, ack: &BlockAck) -> bool {
        let ok = self.update(ack.block_id, |req| req.peer_ack(kind).ok());
        if !ok {
            self.bad_acks += 1;
        }
        ok
    }

    fn epoch_acked(&mut self, epoch: u32) {
        let ids: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.epoch == epoch)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(r) = self.requests.get_mut(&id) else {
                continue;
            };
            let step = r.req.barrier_acked();
            let (block, write, marked) = (r.block, r.id, r.marked || step.mark_out_of_sync);
            self.apply_step(id, step);
            if !marked {
                self.barrier_acked.push((block, write));
            }
        }
    }

    fn requests_lost(&mut self) {
        let ids: Vec<u64> = self.requests.keys().copied().collect();
        for id in ids {
            self.update(id, |req| Some(req.connection_lost()));
        }
        // drbd writes the bitmap once the transfer log is cleared ("write from
        // disconnected"); the engine does not: the bits of the writes the peer may lack lie
        // in extents of the activity log, which a crashed Primary's return marks.
    }
}

/// A node's state before `connect`: Secondary, StandAlone, its disk in `disk`.
pub fn standalone(disk: DiskState) -> State {
    State::new(
        Role::Secondary,
        Role::Unknown,
        ConnState::StandAlone,
        disk,
        DiskState::DUnknown,
    )
}

/// A disk of `sectors` usable sectors, the device that size, 1 MiB requests.
pub fn geometry(sectors: u64) -> DiskGeometry {
    DiskGeometry {
        usable_sectors: sectors,
        user_sectors: 0,
        capacity_sectors: sectors,
        max_bio_size: 1 << 20,
        ..DiskGeometry::default()
    }
}

/// A simulated node's replica keeps its storage in `Vec`s.
#[derive(Debug)]
pub struct VecStorage;

impl Storage for VecStorage {
    type Epochs = Vec<SentEpoch>;
    type Slots = Vec<SlotEntry>;
}

/// One simulated node.
#[derive(Debug)]
pub struct Node {
    /// The core under test.
    pub replica: Replica<VecStorage>,
    /// Its world.
    pub host: NodeHost,
    /// Bytes received per socket, not yet a whole packet.
    inbox: [Vec<u8>; 2],
    /// The disk's geometry (to attach again after a crash).
    geometry: DiskGeometry,
    /// Powered off by [`World::crash`]: its replica and host state are stale and unused.
    pub down: bool,
    /// Extents the activity log held at the crash (`apply-al` input at the restart).
    crash_activity_log: Vec<u64>,
}

/// Events on the virtual time line.
#[derive(Debug)]
enum Event {
    /// Bytes arrive at `to` on `socket` (only if the link generation still matches).
    Deliver {
        to: NodeId,
        socket: Socket,
        bytes: Vec<u8>,
        generation: u64,
    },
    /// Timer tick of a node.
    Tick(NodeId),
    /// Local I/O of a node completes (if the node has not crashed since: its power-on count
    /// is the second field).
    IoDone(NodeId, u32, LocalIo),
}

/// The peer of a node that closed its sockets reads what is still on its way.
#[derive(Debug, Clone, Copy)]
struct Drain {
    to: NodeId,
    generation: u64,
}

/// Two nodes and the link between them.
pub struct World {
    /// node-a and node-b.
    pub nodes: [Node; 2],
    sched: Scheduler<Event>,
    rng: SimRng,
    /// Link up (sockets can be established and carry data).
    pub link_up: bool,
    /// The link silently swallows every byte (no reset): only timeouts can notice.
    pub blackhole: bool,
    /// Bumped whenever the sockets are torn down: in-flight bytes of older generations are
    /// lost with their connection.
    generation: u64,
    connected: bool,
    /// Per direction and socket: the time the last byte is delivered (TCP order).
    last_delivery: [[u64; 2]; 2],
    /// Maximum one-way delay in virtual nanoseconds.
    pub max_delay_ns: u64,
    /// Steps taken.
    pub steps: u64,
    /// Ids of application writes (monotonic, so a newer write has a larger id).
    next_write_id: u64,
    /// Local I/O scheduled and not completed.
    io_in_flight: usize,
    /// Deliveries scheduled and not yet happened.
    deliveries: usize,
    /// Deliveries scheduled and not yet happened, per generation and receiving node.
    pending_to: BTreeMap<(u64, NodeId), usize>,
    /// After a node closed its sockets: the peer still reads what was sent to it in that
    /// generation, then sees its sockets fail.
    draining: Option<Drain>,
    /// Undecodable bytes from a peer are a bug of ours (panic, the default), or — when a test
    /// injects garbage on purpose — a protocol error that drops the connection, as the engine
    /// handles it.
    pub strict_decoding: bool,
    /// A node's lower disk stopped answering: its I/O waits here until it resumes.
    pub stalled: [bool; 2],
    stalled_io: [Vec<LocalIo>; 2],
    /// Power-on count per node: I/O of an earlier life completes into nothing.
    incarnation: [u32; 2],
    /// Volatile writes power losses took from the disks (for schedule statistics).
    pub lost_volatile_writes: u64,
    trace: VecDeque<String>,
}

const TICK_NS: u64 = 100_000_000;

fn socket_index(socket: Socket) -> usize {
    match socket {
        Socket::Data => 0,
        Socket::Meta => 1,
    }
}

impl World {
    /// Two nodes with the given initial states, UUIDs and geometry.
    pub fn new(seed: u64, nodes: [(State, UuidSet, DiskGeometry); 2]) -> Self {
        let make = |(state, uuids, geometry): (State, UuidSet, DiskGeometry), seed: u64| Node {
            replica: Replica::new(
                state,
                uuids,
                false,
                geometry,
                vec![SentEpoch::default(); EPOCH_RING],
                vec![SlotEntry::default(); CONFLICT_SLOTS],
            ),
            host: {
                let bits = geometry.usable_sectors.div_ceil(8);
                let bitmap = Bitmap::new(vec![0; bits.div_ceil(64) as usize], bits)
                    .expect("bitmap storage sized for its bits");
                NodeHost {
                    outbox: Vec::new(),
                    log: Vec::new(),
                    states: Vec::new(),
                    meta_writes: Vec::new(),
                    persisted: PersistedMeta {
                        uuids,
                        flags: MdFlags::empty().recompute(FlagState::of(&state, false)),
                        bitmap: bitmap.clone(),
                    },
                    bitmap,
                    disk: vec![0; bits as usize],
                    durable: vec![0; bits as usize],
                    volatile: Vec::new(),
                    write_seq: 0,
                    al_active: BTreeMap::new(),
                    crashed_primary: false,
                    requests: BTreeMap::new(),
                    io: Vec::new(),
                    completed_epochs: Vec::new(),
                    completions: Vec::new(),
                    barrier_acked: Vec::new(),
                    incoming_data: Vec::new(),
                    bad_acks: 0,
                    held: BTreeMap::new(),
                    read_buffers: BTreeMap::new(),
                    helpers: Vec::new(),
                    fence_requests: 0,
                    progress_writes: 0,
                    cleared_pages: None,
                    fence_handled: 0,
                    fence_exit: 5,
                    resync_handler_requests: Vec::new(),
                    resync_handler_exit: 0,
                    resync_handlers_run: Vec::new(),
                    disk_failing: false,
                    finished: Vec::new(),
                    drop_requested: false,
                    capacity: None,
                    max_bio_size: None,
                    sent_packets: BTreeMap::new(),
                    sent_blocks: BTreeMap::new(),
                    rng: Some(SimRng::new(seed)),
                }
            },
            inbox: [Vec::new(), Vec::new()],
            geometry,
            down: false,
            crash_activity_log: Vec::new(),
        };
        let [a, b] = nodes;
        let mut world = World {
            nodes: [make(a, seed ^ 0xa), make(b, seed ^ 0xb)],
            sched: Scheduler::new(),
            rng: SimRng::new(seed),
            link_up: true,
            blackhole: false,
            generation: 0,
            connected: false,
            last_delivery: [[0; 2]; 2],
            max_delay_ns: 2_000_000,
            steps: 0,
            next_write_id: 0,
            io_in_flight: 0,
            deliveries: 0,
            pending_to: BTreeMap::new(),
            draining: None,
            strict_decoding: true,
            stalled: [false; 2],
            stalled_io: [Vec::new(), Vec::new()],
            incarnation: [0; 2],
            lost_volatile_writes: 0,
            trace: VecDeque::new(),
        };
        world.sched.schedule(TICK_NS, Event::Tick(0));
        world.sched.schedule(TICK_NS + 1, Event::Tick(1));
        world
    }

    /// Two nodes alike: StandAlone Secondaries with `disk`, the same UUIDs, `sectors` each.
    pub fn pair(seed: u64, disk: DiskState, uuids: UuidSet, sectors: u64) -> Self {
        let node = (standalone(disk), uuids, geometry(sectors));
        World::new(seed, [node, node])
    }

    /// `connect` on both nodes.
    pub fn connect_both(&mut self, net: NetSettings) {
        self.connect(0, net);
        self.connect(1, net);
    }

    /// Both nodes are in connection state `conn`.
    pub fn both_in(&self, conn: ConnState) -> bool {
        self.nodes.iter().all(|n| n.replica.state().conn == conn)
    }

    /// For failure messages: each node's state, log and state history, then the last
    /// packets delivered.
    pub fn report(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            s += &format!(
                "node {i}: {:?}\n  log {:?}\n",
                n.replica.state(),
                n.host.log
            );
            for st in &n.host.states {
                s += &format!(
                    "  {} {:?}/{:?} {:?}/{:?}\n",
                    st.conn, st.role, st.peer, st.disk, st.pdsk
                );
            }
        }
        for t in self.trace() {
            s += t;
            s += "\n";
        }
        s
    }

    /// Whether `node` logged exactly `line`.
    pub fn logged(&self, node: NodeId, line: &str) -> bool {
        self.nodes[node].host.log.iter().any(|l| l == line)
    }

    /// Virtual time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.sched.now().0 / 1_000_000
    }

    /// `connect` on one node.
    pub fn connect(&mut self, node: NodeId, net: NetSettings) {
        self.connect_with(node, net, SyncSettings::DEFAULT);
    }

    /// `connect` on one node with its resync settings (the disk options of `attach`).
    pub fn connect_with(&mut self, node: NodeId, net: NetSettings, sync: SyncSettings) {
        let n = &mut self.nodes[node];
        n.replica.connect(net, sync, &mut n.host);
        self.flush();
    }

    /// Run `f` on a node's replica with its host (admin commands), then move its output.
    pub fn with_node<R>(
        &mut self,
        node: NodeId,
        f: impl FnOnce(&mut Replica<VecStorage>, &mut NodeHost) -> R,
    ) -> R {
        let n = &mut self.nodes[node];
        let r = f(&mut n.replica, &mut n.host);
        self.flush();
        r
    }

    /// `primary [--force]` as the engine drives it (drbd's `drbd_set_role`): requested, and
    /// when refused for want of an outdated peer, the `fence-peer` handler run (with the
    /// node's [`NodeHost::fence_exit`]) and the change retried, at most four tries. Runs the
    /// world while a connected peer's answer is awaited.
    pub fn promote(&mut self, node: NodeId, force: bool) -> Result<(), StateError> {
        let mut promotion = Promotion::new(force);
        loop {
            self.nodes[node].host.finished.clear();
            let change = promotion.change();
            self.with_node(node, |r, h| r.request_change(change, force, h));
            let limit = self.now_ms() + 10_000;
            self.run_until(limit, |w| !w.nodes[node].host.finished.is_empty());
            let result = self.nodes[node]
                .host
                .finished
                .pop()
                .unwrap_or(Err(StateError::CwFailedByPeer));
            let Err(refused) = result else {
                return Ok(());
            };
            let n = &self.nodes[node];
            let (disk, ping) = (n.replica.state().disk, n.replica.net().ping_timeout_ds);
            match promotion.refused(refused, disk, ping) {
                PromotionStep::Retry => {}
                PromotionStep::Fence => {
                    let outdated = self.with_node(node, run_fence_handler);
                    if let Some(warning) = promotion.fenced(outdated) {
                        let n = &mut self.nodes[node];
                        n.host.log(Level::Warn, format_args!("{warning}"));
                    }
                }
                PromotionStep::WaitMs(ms) => {
                    let until = self.now_ms() + u64::from(ms);
                    self.run_until_ms(until);
                }
                PromotionStep::Fail(e) => return Err(e),
            }
        }
    }

    /// Write `id` to `block` of `node`'s lower disk behind DRBD's back (durably, no bitmap
    /// bit): a corruption online verify should find.
    pub fn corrupt(&mut self, node: NodeId, block: u64, id: u64) {
        let h = &mut self.nodes[node].host;
        for disk in [&mut h.disk, &mut h.durable] {
            if let Some(b) = disk.get_mut(block as usize) {
                *b = id;
            }
        }
    }

    /// Cut the link: everything in flight is lost, both nodes see their sockets fail.
    pub fn cut_link(&mut self) {
        self.link_up = false;
        // What a closed peer sent is lost with the link.
        self.end_drain();
        self.tear_down_sockets();
    }

    /// Heal the link.
    pub fn heal_link(&mut self) {
        self.link_up = true;
        self.flush();
    }

    /// Power loss on `node`: its replica and host memory are gone, each volatile write on its
    /// disk is kept or lost (seeded), in-flight I/O completes into nothing. The peer is not
    /// told: bytes to the node vanish until the peer's own timeouts notice (bytes the node
    /// sent before are still delivered, they are on the wire).
    pub fn crash(&mut self, node: NodeId) {
        assert!(!self.nodes[node].down, "node {node} is already down");
        let rng = &mut self.rng;
        let lost = &mut self.lost_volatile_writes;
        let n = &mut self.nodes[node];
        n.down = true;
        self.incarnation[node] += 1;
        let h = &mut n.host;
        // The disk's cache writes back in any order: each volatile write independently.
        for w in std::mem::take(&mut h.volatile) {
            if rng.chance(1, 2) {
                if let Some(b) = h.durable.get_mut(w.block as usize) {
                    *b = w.id;
                }
            } else {
                *lost += 1;
            }
        }
        h.disk.clone_from(&h.durable);
        n.crash_activity_log = h.al_active.keys().copied().collect();
        h.al_active.clear();
        h.outbox.clear();
        h.requests.clear();
        h.io.clear();
        h.completed_epochs.clear();
        h.incoming_data.clear();
        h.held.clear();
        h.read_buffers.clear();
        h.drop_requested = false;
        n.inbox = [Vec::new(), Vec::new()];
        // What the stalled disk held dies with the power; it answers again after the reboot.
        self.stalled_io[node].clear();
        self.stalled[node] = false;
        if self.draining.is_some_and(|d| d.to == node) {
            self.draining = None;
        }
        self.trace
            .push_back(format!("{}ms node {node} lost power", self.now_ms()));
        self.flush();
    }

    /// Power `node` on again after [`World::crash`] and attach its disk as `drbdadm attach`
    /// does (see the module documentation), as Secondary, then `connect` with `net`. A peer still holding
    /// the old connection gets the reset the rebooted host answers it with.
    pub fn restart(&mut self, node: NodeId, net: NetSettings) {
        assert!(self.nodes[node].down, "node {node} is running");
        if self.connected {
            self.connected = false;
            self.generation += 1;
            self.trace.push_back(format!(
                "{}ms node {node} rebooted, the peer's old connection is reset: generation {}",
                self.now_ms(),
                self.generation
            ));
            let peer = &mut self.nodes[1 - node];
            peer.inbox = [Vec::new(), Vec::new()];
            peer.host.outbox.clear();
            peer.host.drop_requested = false;
            peer.replica.socket_failed(&mut peer.host);
        }
        let n = &mut self.nodes[node];
        let h = &mut n.host;
        let mut meta = h.persisted.clone();
        // Attach sets bit 0 of the current UUID to the role: a Secondary now.
        if meta.uuids.current & UUID_PRIMARY_BIT != 0 {
            meta.uuids.current &= !UUID_PRIMARY_BIT;
            h.write_meta_data(&meta.uuids);
        }
        let attach = meta.flags.on_attach(true, false);
        // drbdmeta apply-al: the logged extents out of sync, only for a node that was Primary.
        let mut bitmap = meta.bitmap.clone();
        if meta.flags.contains(MdFlags::PRIMARY_IND) {
            for &extent in &n.crash_activity_log {
                let bits = al_extent_bits(extent);
                let end = bits.end.min(bitmap.bits());
                bitmap.set_range(bits.start.min(end)..end);
            }
        }
        if attach.full_sync {
            bitmap.set_all();
        }
        n.crash_activity_log.clear();
        h.bitmap = bitmap.clone();
        h.persisted.bitmap = bitmap;
        h.crashed_primary = attach.crashed_primary;
        let disk = match attach.disk {
            AttachDisk::Inconsistent => DiskState::Inconsistent,
            AttachDisk::Outdated => DiskState::Outdated,
            AttachDisk::Consistent => DiskState::Consistent,
            AttachDisk::UpToDate => DiskState::UpToDate,
        };
        let state = standalone(disk);
        h.capacity = None;
        h.max_bio_size = None;
        h.log.push(format!(
            "-- power on: attached {disk:?}, crashed primary {}, {} bits out of sync --",
            attach.crashed_primary,
            h.bitmap.count()
        ));
        // The attach writes the superblock (the flags of the new state).
        h.write_flags(&state);
        n.replica = Replica::new(
            state,
            meta.uuids,
            attach.crashed_primary,
            n.geometry,
            vec![SentEpoch::default(); EPOCH_RING],
            vec![SlotEntry::default(); CONFLICT_SLOTS],
        );
        n.down = false;
        self.trace
            .push_back(format!("{}ms node {node} powered on", self.now_ms()));
        self.connect(node, net);
    }

    fn tear_down_sockets(&mut self) {
        if self.connected {
            self.reset_connection("link cut");
        }
        self.flush();
    }

    /// Both TCP connections are gone: bytes in flight are lost (a new generation), and both
    /// nodes see their sockets fail.
    fn reset_connection(&mut self, why: &str) {
        self.connected = false;
        self.generation += 1;
        self.trace.push_back(format!(
            "{}ms {why}: generation {}",
            self.now_ms(),
            self.generation
        ));
        for n in self.nodes.iter_mut().filter(|n| !n.down) {
            n.inbox = [Vec::new(), Vec::new()];
            n.host.outbox.clear();
            n.host.drop_requested = false;
            n.replica.socket_failed(&mut n.host);
        }
    }

    /// Node `from` closed its sockets: the connection is gone for it at once; its peer reads
    /// what `from` sent before (TCP delivers it before the FIN), then its sockets fail.
    fn close_from(&mut self, from: NodeId) {
        self.connected = false;
        let old = self.generation;
        self.generation += 1;
        self.trace.push_back(format!(
            "{}ms node {from} closed its sockets: generation {}",
            self.now_ms(),
            self.generation
        ));
        let to = 1 - from;
        let n = &mut self.nodes[from];
        n.inbox = [Vec::new(), Vec::new()];
        n.host.outbox.clear();
        n.replica.socket_failed(&mut n.host);
        self.nodes[to].host.outbox.clear();
        self.draining = Some(Drain {
            to,
            generation: old,
        });
        self.finish_drain_if_read();
    }

    /// The draining peer has read everything: now it sees its sockets fail.
    fn finish_drain_if_read(&mut self) {
        if let Some(d) = self.draining {
            if !self.pending_to.contains_key(&(d.generation, d.to)) && !self.data_resting(d.to) {
                self.end_drain();
            }
        }
    }

    /// `node`'s receiver has data-socket bytes it does not read yet: an epoch is draining.
    fn data_resting(&self, node: NodeId) -> bool {
        let n = &self.nodes[node];
        !n.down && !n.inbox[0].is_empty() && !n.replica.may_receive()
    }

    fn end_drain(&mut self) {
        if let Some(d) = self.draining.take() {
            let n = &mut self.nodes[d.to];
            if n.down {
                return;
            }
            n.inbox = [Vec::new(), Vec::new()];
            n.host.outbox.clear();
            n.host.drop_requested = false;
            n.replica.socket_failed(&mut n.host);
        }
    }

    /// Establish sockets when both nodes want them; put every node's output on the link.
    fn flush(&mut self) {
        // The superblock records the crashed-primary bit as the replica holds it now.
        for n in self.nodes.iter_mut().filter(|n| !n.down) {
            if n.host.crashed_primary != n.replica.crashed_primary() {
                n.host.crashed_primary = n.replica.crashed_primary();
                n.host.write_flags(n.replica.state());
            }
        }
        loop {
            // A node that dropped its sockets ends the TCP connections for both.
            if let Some(from) = self.nodes.iter().position(|n| n.host.drop_requested) {
                for n in &mut self.nodes {
                    n.host.drop_requested = false;
                }
                if self.connected {
                    self.close_from(from);
                    continue;
                }
            }
            if !self.connected
                && self.link_up
                && self
                    .nodes
                    .iter()
                    .all(|n| !n.down && n.replica.wants_connection())
            {
                // A new connection: nothing of an old one is read any more.
                self.end_drain();
                self.connected = true;
                self.trace.push_back(format!(
                    "{}ms established: generation {}",
                    self.now_ms(),
                    self.generation
                ));
                self.last_delivery = [[self.sched.now().0; 2]; 2];
                // Whoever connects first owns the data socket as client; the other node's
                // later connection becomes the meta socket, accepted by the first node.
                let first = self.rng.below(2) as usize;
                let coin = self.rng.below(2) == 1;
                let mut roles = [Establish::new(); 2];
                // `first` connects the data socket, the other accepts it and connects the
                // meta socket, which `first` accepts (§1.2).
                let data = roles[first].connected();
                let _ = roles[1 - first].accepted(data, coin);
                let meta = roles[1 - first].connected();
                let _ = roles[first].accepted(meta, coin);
                assert!(
                    roles.iter().all(Establish::complete),
                    "both nodes hold two sockets"
                );
                let now = self.now_ms();
                for (n, role) in self.nodes.iter_mut().zip(roles) {
                    n.replica
                        .sockets_established(role.resolve_conflicts(), now, &mut n.host);
                }
                continue;
            }
            break;
        }
        for from in 0..2 {
            let out = std::mem::take(&mut self.nodes[from].host.outbox);
            if !self.connected {
                continue;
            }
            for (socket, bytes) in out {
                let to = 1 - from;
                let s = socket_index(socket);
                let delay = self.rng.below(self.max_delay_ns.max(1));
                let at = (self.sched.now().0 + delay).max(self.last_delivery[from][s]);
                self.last_delivery[from][s] = at;
                let generation = self.generation;
                let rel = at - self.sched.now().0;
                self.deliveries += 1;
                *self.pending_to.entry((generation, to)).or_insert(0) += 1;
                self.sched.schedule(
                    rel,
                    Event::Deliver {
                        to,
                        socket,
                        bytes,
                        generation,
                    },
                );
            }
        }
    }

    /// One event. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some((_, event)) = self.sched.pop() else {
            return false;
        };
        self.steps += 1;
        match event {
            Event::Tick(i) => {
                let now = self.now_ms();
                let n = &mut self.nodes[i];
                if !n.down {
                    n.replica.tick(now, &mut n.host);
                    if n.host.fence_handled < n.host.fence_requests {
                        n.host.fence_handled = n.host.fence_requests;
                        run_fence_handler(&mut n.replica, &mut n.host);
                    }
                    for ticket in core::mem::take(&mut n.host.resync_handler_requests) {
                        let exit = n.host.resync_handler_exit;
                        n.replica.before_resync_done(ticket, exit, now, &mut n.host);
                    }
                }
                self.sched.schedule(TICK_NS, Event::Tick(i));
            }
            Event::Deliver {
                to,
                socket,
                bytes,
                generation,
            } => {
                self.deliveries -= 1;
                if let Some(left) = self.pending_to.get_mut(&(generation, to)) {
                    *left -= 1;
                    if *left == 0 {
                        self.pending_to.remove(&(generation, to));
                    }
                }
                let current = generation == self.generation && self.connected;
                let drained = self
                    .draining
                    .is_some_and(|d| d.to == to && d.generation == generation);
                // A powered-off host receives nothing (and answers nothing).
                if (current || drained) && !self.blackhole && !self.nodes[to].down {
                    self.deliver(to, socket, &bytes);
                }
                if drained {
                    self.finish_drain_if_read();
                }
            }
            Event::IoDone(i, incarnation, io) => {
                self.io_in_flight -= 1;
                if incarnation == self.incarnation[i] && !self.nodes[i].down {
                    self.io_done(i, io);
                }
            }
        }
        for i in 0..2 {
            self.post(i);
        }
        // A receiver whose epoch drained reads on.
        for i in 0..2 {
            let n = &self.nodes[i];
            if !n.down && !n.inbox[0].is_empty() && n.replica.may_receive() {
                self.read_inbox(i, Socket::Data);
                self.post(i);
            }
        }
        self.finish_drain_if_read();
        self.flush();
        true
    }

    /// Run until virtual time `ms` (ticks keep the queue alive forever).
    pub fn run_until_ms(&mut self, ms: u64) {
        while self.now_ms() < ms {
            if !self.step() {
                break;
            }
        }
    }

    /// Run until `done` holds or virtual time `limit_ms` passes; returns whether it held.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&World) -> bool) -> bool {
        while self.now_ms() < limit_ms {
            if done(self) {
                return true;
            }
            if !self.step() {
                break;
            }
        }
        done(self)
    }

    fn deliver(&mut self, to: NodeId, socket: Socket, bytes: &[u8]) {
        self.nodes[to].inbox[socket_index(socket)].extend_from_slice(bytes);
        self.read_inbox(to, socket);
    }

    /// Hand the whole packets in `to`'s inbox of `socket` to its replica. As the engine's
    /// receiver, the data socket rests after a `P_BARRIER` until that epoch is on disk and
    /// acknowledged ([`Replica::may_receive`]); [`World::step`] reads on after that.
    fn read_inbox(&mut self, to: NodeId, socket: Socket) {
        let now = self.now_ms();
        let strict = self.strict_decoding;
        let n = &mut self.nodes[to];
        let inbox = &mut n.inbox[socket_index(socket)];
        loop {
            if socket == Socket::Data && !n.replica.may_receive() {
                return;
            }
            let ctx = *n.replica.agreed();
            let hlen = ctx.header_len();
            if inbox.len() < hlen {
                return;
            }
            let framed = wire::decode_header(&inbox[..hlen], &ctx).and_then(|h| {
                let cmd = h.command()?;
                Ok((h, cmd, wire::layout(cmd, h.length, &ctx)?))
            });
            let (header, cmd, layout) = match framed {
                Ok(f) => f,
                Err(e) if strict => {
                    let states: Vec<_> = n.host.states.iter().rev().take(8).collect();
                    let trace: Vec<_> = self.trace.iter().rev().take(20).collect();
                    panic!("node {to}: undecodable packet from the peer: {e}\nstates {states:#?}\ntrace {trace:#?}")
                }
                Err(_) => {
                    n.replica.malformed_packet(&mut n.host);
                    return;
                }
            };
            let total = hlen + layout.fixed + layout.data;
            if inbox.len() < total {
                return;
            }
            let packet_bytes: Vec<u8> = inbox.drain(..total).collect();
            let fixed = &packet_bytes[hlen..hlen + layout.fixed];
            let packet = match Packet::decode_framed(&header, fixed, &ctx) {
                Ok(p) => p,
                Err(e) if strict => panic!("node {to}: undecodable {cmd:?} from the peer: {e}"),
                Err(_) => {
                    n.replica.malformed_packet(&mut n.host);
                    return;
                }
            };
            n.host.incoming_data = packet_bytes[hlen + layout.fixed..]
                .chunks(4096)
                .map(|c| {
                    c.get(..8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                })
                .collect();
            self.trace
                .push_back(format!("{}ms {}<-{:?} {:?}", now, to, socket, packet));
            if self.trace.len() > 200 {
                self.trace.pop_front();
            }
            n.replica.receive(socket, &packet, now, &mut n.host);
            if n.host.drop_requested {
                return;
            }
        }
    }

    /// After a node's replica ran: schedule its I/O, close epochs of completed writes, let an
    /// idle sender send its barrier.
    fn post(&mut self, i: NodeId) {
        if self.nodes[i].down {
            return;
        }
        let mut io = std::mem::take(&mut self.nodes[i].host.io);
        if self.stalled[i] {
            self.stalled_io[i].append(&mut io);
            return;
        }
        io.splice(0..0, std::mem::take(&mut self.stalled_io[i]));
        for op in io {
            let delay = 50_000 + self.rng.below(2_000_000);
            self.io_in_flight += 1;
            self.sched
                .schedule(delay, Event::IoDone(i, self.incarnation[i], op));
        }
        let n = &mut self.nodes[i];
        for epoch in std::mem::take(&mut n.host.completed_epochs) {
            n.replica.write_completed(epoch);
        }
        n.replica.sender_idle(&mut n.host);
    }

    fn io_done(&mut self, i: NodeId, io: LocalIo) {
        let n = &mut self.nodes[i];
        match io {
            LocalIo::App {
                block,
                id,
                block_id,
                slot,
            } => {
                let ok = !n.host.disk_failing;
                if ok {
                    n.host.disk_write(block, id);
                }
                let counts = ok && n.replica.local_copy_counts();
                n.host.update(block_id, |r| Some(r.local_done(counts)));
                if !ok {
                    n.replica.local_io_failed(FailedIo::AppWrite, &mut n.host);
                }
                if let Some(slot) = slot {
                    n.replica.local_write_done(slot, &mut n.host);
                }
            }
            LocalIo::Held { write, .. } if n.host.disk_failing => match write {
                HeldWrite::Peer(w) => n.replica.peer_write_done(&w, false, &mut n.host),
                HeldWrite::Resync(w) => n.replica.resync_write_done(&w, false, &mut n.host),
            },
            LocalIo::Read(read) if n.host.disk_failing => {
                if read.purpose.needs_data() {
                    n.replica.peer_read_data(&read, None, &mut n.host);
                } else {
                    n.replica.peer_read_done(&read, false, &mut n.host);
                }
            }
            LocalIo::Held { write, data } => {
                let (sector, size, zero) = match write {
                    HeldWrite::Peer(w) => (w.sector, w.size, w.kind != PeerWriteKind::Data),
                    HeldWrite::Resync(w) => (w.sector, w.size, false),
                };
                // FUA and PREFLUSH of peer writes are not modelled: such a write stays
                // volatile until the barrier's flush (the conservative reading).
                for (k, b) in blocks_of(sector, size).enumerate() {
                    let id = if zero {
                        0
                    } else {
                        data.get(k).copied().unwrap_or(0)
                    };
                    n.host.disk_write(b, id);
                }
                match write {
                    HeldWrite::Peer(w) => n.replica.peer_write_done(&w, true, &mut n.host),
                    HeldWrite::Resync(w) => n.replica.resync_write_done(&w, true, &mut n.host),
                }
            }
            LocalIo::Read(read) => {
                let data = blocks_of(read.sector, read.size)
                    .map(|b| n.host.disk.get(b as usize).copied().unwrap_or(0))
                    .collect();
                n.host.read_buffers.insert(read.slot, data);
                if read.purpose.needs_data() {
                    // The core digests the bytes; what it did not send is dropped after.
                    let bytes = n.host.read_bytes(read.sector, read.size);
                    n.replica.peer_read_data(&read, Some(&bytes), &mut n.host);
                    n.host.read_buffers.remove(&read.slot);
                } else {
                    n.replica.peer_read_done(&read, true, &mut n.host);
                }
            }
            LocalIo::Flush { covers } => {
                n.host.flushed(covers);
                n.replica.flush_done(&mut n.host);
            }
        }
    }

    /// The application on `node` writes one 4 KiB block. Returns the write id, or None when a
    /// write to that block is still in flight (applications do not overlap writes), the node
    /// is not Primary, or the replica asked to wait (too many epochs unacknowledged).
    pub fn app_write(&mut self, node: NodeId, block: u64) -> Option<u64> {
        let now = self.now_ms();
        let n = &mut self.nodes[node];
        if n.down
            || n.replica.state().role != drbd_core::state::Role::Primary
            || block >= n.host.bitmap.bits()
            || n.host
                .requests
                .values()
                .any(|r| r.block == block && !r.req.is_completed())
        {
            return None;
        }
        let id = self.next_write_id + 1;
        let block_id = id;
        let plan = n
            .replica
            .plan_write(block * 8, 4096, WriteFlags::default(), block_id, now)
            .ok()?;
        self.next_write_id = id;
        n.host.al_get(block);
        n.host.requests.insert(
            block_id,
            SimRequest {
                req: plan.request,
                epoch: plan.epoch,
                block,
                id,
                marked: false,
            },
        );
        n.host.apply_step(block_id, plan.first);
        let ctx = *n.replica.agreed();
        if plan.out_of_sync {
            let desc = Packet::BlockDesc {
                kind: DescKind::OutOfSync,
                sector: block * 8,
                blksize: 4096,
            };
            n.host.send(Socket::Data, &ctx, &desc);
        }
        if let Some(send) = plan.send {
            if let Some(barrier) = send.barrier_first {
                n.host
                    .send(Socket::Data, &ctx, &Packet::Barrier { barrier });
            }
            n.host.send_with_data(&ctx, &send.packet, &[id]);
            n.host.update(block_id, |r| Some(r.sent()));
        }
        n.host.io.push(LocalIo::App {
            block,
            id,
            block_id,
            slot: plan.slot,
        });
        self.post(node);
        self.flush();
        Some(id)
    }

    /// No I/O in flight (held by a stalled disk included) and no request waiting on either
    /// node.
    pub fn quiescent(&self) -> bool {
        self.nodes.iter().all(|n| n.host.requests.is_empty())
            && self.io_in_flight == 0
            && self.stalled_io.iter().all(Vec::is_empty)
    }

    /// No packet is on its way (both nodes have seen everything the other sent), nor waits
    /// unread in a receiver that holds its data socket while an epoch drains.
    pub fn link_idle(&self) -> bool {
        self.deliveries == 0 && self.nodes.iter().all(|n| n.down || n.inbox[0].is_empty())
    }

    /// Nothing in flight, both Connected and UpToDate/UpToDate: a resync (if any) is done.
    pub fn in_sync_and_idle(&self) -> bool {
        self.quiescent()
            && self.link_idle()
            && self.nodes.iter().all(|n| {
                let s = n.replica.state();
                s.conn == ConnState::Connected
                    && (s.disk, s.pdsk) == (DiskState::UpToDate, DiskState::UpToDate)
            })
    }

    /// The last packets delivered (for failure reports).
    pub fn trace(&self) -> impl Iterator<Item = &String> {
        self.trace.iter()
    }
}
