// SPDX-License-Identifier: GPL-2.0
//! The connection of one device to its peer: the core's [`Replica`] under a mutex, driven by
//! three threads and the I/O path.
//!
//! - `drbdN_receiver` establishes the two TCP connections (§1.2) and reads the data socket;
//! - `drbdN_asender` reads the meta socket (pings, acks);
//! - `drbdN_worker` (the device's worker, through [`Service`]) handles I/O completions,
//!   timers and sends what is left queued for the data socket;
//! - `submit_bio` plans application writes with the replica, queues their data and sends it
//!   itself when no other thread is sending on the data socket.
//!
//! Every decision is the replica's; this file only moves bytes and completions. Whoever calls
//! into the replica does so through [`Link::locked`], which runs the actions the replica
//! asked for once the lock is released (ending bios, submitting lower I/O, sending on the
//! meta socket, kicking the worker).
//!
//! Deadlock rules: the receiver and the asender never send on the data socket (the peer's
//! receiver may itself be blocked sending to us, and only our receiver reads); the worker and
//! application writers may, one at a time, and none of them waits for another to send. The
//! meta socket is always read by the peer's asender, so any thread may send on it. Bio completions never take a lock: they
//! push a preallocated [`Event`] and kick the worker. Memory is allocated without I/O while
//! the replica's lock is held (our own writeback may wait for it).

use core::ffi::c_int;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::sync::{Arc, ArcBorrow, CondVar, Mutex};
use kernel::time::{ktime_ms_delta, Ktime};

use crate::drbd_core::al_cache::ExtentRange;
use crate::drbd_core::bitmap::Bitmap;
use crate::drbd_core::bitmap_xfer::{BitmapSender, ChunkKind};
use crate::drbd_core::genl::ret_code::RetCode;
use crate::drbd_core::meta_data::{FlagState, MdFlags, Superblock, MD_BLOCK_SIZE};
use crate::drbd_core::replication::conflicts::{Slot, SlotEntry};
use crate::drbd_core::replication::connection::{
    classify_first_packet, DiskGeometry, Host, Level, NetSettings, Replica, Socket, Storage,
    SyncSettings, CONFLICT_SLOTS, EPOCH_RING,
};
use crate::drbd_core::replication::epochs::SentEpoch;
use crate::drbd_core::replication::establish::{Accepted, Establish};
use crate::drbd_core::replication::fencing::FenceStart;
use crate::drbd_core::replication::io_errors::FailedIo;
use crate::drbd_core::replication::request::{Step, WriteRequest};
use crate::drbd_core::replication::resync_handlers::ResyncHandlerTicket;
use crate::drbd_core::replication::resync_path::{HeldWrite, PeerRead};
use crate::drbd_core::replication::sync_control::{AdminRefusal, FullSyncSide};
use crate::drbd_core::replication::sync_handshake::Helper;
use crate::drbd_core::replication::writes::{PeerWriteKind, WriteBusy, WriteFlags};
use crate::drbd_core::state::{ConnState, Fencing, State, StateChange, StateError};
use crate::drbd_core::text_buf::TextBuf;
use crate::drbd_core::uuid::UuidSet;
use crate::drbd_core::wire::{
    self, AckKind, Agreed, BlockAck, DescKind, Packet, MAX_FIXED_PAYLOAD,
};
use crate::engine::bitmap::{write_bitmap_pages, BitmapArea, PageSelection};
use crate::engine::dependency::Dependencies;
use crate::engine::events::{DiskStatus, StateEvents, StatusSnapshot};
use crate::engine::handler_runs::HandlerRuns;
use crate::engine::io::DeviceIo;
use crate::engine::worker::Service;
use crate::engine::Failure;
use crate::glue::block::{Bio, BioSet, BufDone, BufOp, CloneDone, FlushDone, LowerDevice};
use crate::glue::drain::{Drained, Ticket};
use crate::glue::events::{Event, EventList, Wakeup};
use crate::glue::kthread::Kthread;
use crate::glue::pagebuf::PageBuf;
use crate::glue::socket::{
    BufferSizes, Priority, SockAddr, SockError, TcpListener, TcpStream, TransferError,
};
use crate::glue::sys::{self, NoIo};
use crate::glue::umh::{self, WaitStatus};

/// A heap slice the core uses as storage.
pub(crate) struct Heap<T>(KVVec<T>);

impl<T> From<KVVec<T>> for Heap<T> {
    fn from(v: KVVec<T>) -> Self {
        Heap(v)
    }
}

impl<T> AsRef<[T]> for Heap<T> {
    fn as_ref(&self) -> &[T] {
        self.0.as_slice()
    }
}

impl<T> AsMut<[T]> for Heap<T> {
    fn as_mut(&mut self) -> &mut [T] {
        self.0.as_mut_slice()
    }
}

/// The replica's tables live on the heap (never on a kernel stack).
pub(crate) struct KernelStorage;

impl Storage for KernelStorage {
    type Epochs = Heap<SentEpoch>;
    type Slots = Heap<SlotEntry>;
}

/// Where and how to connect (from `connect`'s context and `net_conf`).
#[derive(Clone, Copy)]
pub(crate) struct LinkConfig {
    pub(crate) my_addr: SockAddr,
    pub(crate) peer_addr: SockAddr,
    pub(crate) buffers: BufferSizes,
    /// `connect-int`, seconds.
    pub(crate) connect_int_s: u32,
}

/// The superblock and where it lives, written by the link while it exists (the device
/// takes it back when the link ends).
pub(crate) struct MetaStore {
    /// The data device (flushed before bitmap pages are written).
    pub(crate) data: Arc<LowerDevice>,
    pub(crate) device: Arc<LowerDevice>,
    pub(crate) md_offset: u64,
    pub(crate) bm_sector: u64,
    pub(crate) bm_area_sectors: u64,
    pub(crate) superblock: Superblock,
}

impl MetaStore {
    fn bitmap_area(&self) -> BitmapArea {
        BitmapArea {
            data: self.data.clone(),
            meta: self.device.clone(),
            bm_sector: self.bm_sector,
            pages: self.bm_area_sectors / 8,
        }
    }
}

/// Everything a new link starts from.
pub(crate) struct LinkStart {
    pub(crate) minor: u32,
    pub(crate) state: State,
    pub(crate) geometry: DiskGeometry,
    pub(crate) lower: Arc<LowerDevice>,
    pub(crate) pool: Arc<Pin<KBox<BioSet>>>,
    pub(crate) io: Arc<Drained<DeviceIo>>,
    pub(crate) meta: MetaStore,
    pub(crate) config: LinkConfig,
    pub(crate) net: NetSettings,
    pub(crate) sync: SyncSettings,
    pub(crate) worker_wake: Arc<Wakeup>,
    pub(crate) events: Arc<StateEvents>,
    /// The `resync-after` board (the worker reports state changes to it).
    pub(crate) deps: Arc<Dependencies>,
    /// Where the handler threads (`fence-peer`, the helper thread) run.
    pub(crate) handler_runs: Arc<HandlerRuns>,
    /// The disk's fencing policy.
    pub(crate) fencing: Fencing,
}

/// What completes in interrupt context, for the worker.
enum IoEvent {
    AppWritten {
        block_id: u64,
        upper: Bio,
        errno: c_int,
    },
    PeerWritten {
        write: HeldWrite,
        errno: c_int,
        /// Freed by the worker, not in interrupt context.
        buf: PageBuf,
    },
    PeerRead {
        read: PeerRead,
        errno: c_int,
        buf: PageBuf,
    },
    Flushed {
        errno: c_int,
    },
}

/// What interrupt context reaches: the event list and the worker's wake-up.
pub(crate) struct Completions {
    events: EventList<IoEvent>,
    wake: Arc<Wakeup>,
}

impl Completions {
    fn push(&self, mut event: Event<IoEvent>, value: IoEvent) {
        event.set(value);
        self.events.push(event);
        self.wake.kick();
    }
}

/// What every completion context carries: a way back to the worker, allocated at
/// submission so that the completion (interrupt context) neither allocates nor locks.
struct Notify {
    completions: Ticket<Completions>,
    event: Event<IoEvent>,
}

impl Notify {
    fn new(completions: &Arc<Drained<Completions>>, event: Event<IoEvent>) -> Self {
        Self {
            completions: Drained::enter(completions.as_arc_borrow()),
            event,
        }
    }

    /// Hand `value` to the worker; the ticket goes last.
    fn send(self, value: IoEvent) {
        let Notify { completions, event } = self;
        completions.push(event, value);
        drop(completions);
    }
}

/// Context of an application write's local clone.
struct AppWriteDone {
    notify: Notify,
    block_id: u64,
}

impl CloneDone for AppWriteDone {
    fn done(self, upper: Bio, errno: c_int) {
        let block_id = self.block_id;
        self.notify.send(IoEvent::AppWritten {
            block_id,
            upper,
            errno,
        });
    }
}

/// Context of a peer or resync write.
struct PeerWriteDone {
    notify: Notify,
    write: HeldWrite,
}

impl BufDone for PeerWriteDone {
    fn done(self, buf: PageBuf, errno: c_int) {
        let write = self.write;
        self.notify.send(IoEvent::PeerWritten { write, errno, buf });
    }
}

/// Context of a read for the peer.
struct PeerReadDone {
    notify: Notify,
    read: PeerRead,
}

impl BufDone for PeerReadDone {
    fn done(self, buf: PageBuf, errno: c_int) {
        let read = self.read;
        self.notify.send(IoEvent::PeerRead { read, errno, buf });
    }
}

/// Context of a flush for the receiver's barrier.
struct FlushedDone {
    notify: Notify,
}

impl FlushDone for FlushedDone {
    fn done(self, errno: c_int) {
        self.notify.send(IoEvent::Flushed { errno });
    }
}

/// One application write known to the replica.
struct AppRequest {
    req: WriteRequest,
    epoch: u32,
    slot: Option<Slot>,
    sector: u64,
    size: u32,
    /// Back from the local clone, until completed.
    upper: Option<Bio>,
    /// The result to give the upper bio, once decided.
    result: Option<bool>,
    /// Completed to the application (its epoch told to the replica).
    completed: bool,
}

/// Bytes queued for a socket, with the block data that follows them.
struct Outgoing {
    bytes: KVec<u8>,
    data: Option<PageBuf>,
    /// The write whose data this is: tell it `sent()` once on the wire.
    sent_block_id: Option<u64>,
    sectors: u32,
}

/// The sockets of an established connection.
struct Sockets {
    data: Arc<TcpStream>,
    meta: Arc<TcpStream>,
    generation: u64,
}

/// Lower I/O the replica asked for, submitted once the lock is released.
enum Submit {
    Write(HeldWrite, PageBuf),
    Read(PeerRead),
    Flush,
}

/// What the replica's actions do to the world (see the module documentation).
struct EngineHost {
    minor: u32,
    io: Arc<Drained<DeviceIo>>,
    meta: MetaStore,
    sockets: Option<Sockets>,
    generation: u64,
    queues: [KVec<Outgoing>; 2],
    requests: RBTree<u64, AppRequest>,
    next_block_id: u64,
    held: KVVec<Option<(HeldWrite, PageBuf)>>,
    read_bufs: KVVec<Option<PageBuf>>,
    /// Block data that came with the packet being handed to the replica.
    incoming: Option<PageBuf>,
    submits: KVec<Submit>,
    to_end: KVec<(Bio, bool)>,
    completed_epochs: KVec<u32>,
    finished: Option<Result<(), StateError>>,
    state: State,
    /// States reached and not yet announced (`DRBD_EVENT`), oldest first.
    state_events: KVec<State>,
    /// The replica's "crashed primary" (for the meta-data flags), copied after every call.
    crashed_primary: bool,
    /// User-mode helpers the replica asked for, not yet run (the worker starts the link's
    /// helper thread, which runs them).
    helpers: KVec<HelperCall>,
    /// The replica asked for the `fence-peer` handler (the asender starts its thread).
    fence_wanted: bool,
    meta_dirty: bool,
    /// Bitmap pages to write at the end of the replica call, before anything it sent leaves.
    bitmap_dirty: Option<PageSelection>,
    /// The replica reported resync progress ([`Host::resync_progress`]): the worker writes
    /// the pages cleared since and, with `true`, announces it.
    progress: Option<bool>,
    /// Something could not be done for lack of memory: the connection is dropped.
    failed: bool,
    drop_requested: bool,
    /// The replica ended the connection of this socket generation: the worker ends the
    /// data socket's sending side once its queue is sent (a TCP close: the peer reads
    /// everything we sent before it sees the end, as the replica assumes).
    close_after_send: Option<u64>,
    /// The data socket of this generation is half closed: the sockets are shut down when
    /// the peer closes too (the receiver sees the end), at the latest at this time (ms).
    /// The meta socket stays open meanwhile: a peer whose asender saw its end first would
    /// drop the connection before its receiver read our last packets.
    half_closed: Option<(u64, u64)>,
}

impl EngineHost {
    fn queue(&mut self, socket: Socket, out: Outgoing) {
        if self.queues[socket_index(socket)]
            .push(out, GFP_KERNEL)
            .is_err()
        {
            self.failed = true;
        }
    }

    fn encode(&mut self, ctx: &Agreed, packet: &Packet<'_>) -> Option<KVec<u8>> {
        let len = packet.encoded_len(ctx);
        let Ok(mut bytes) = KVec::from_elem(0u8, len, GFP_KERNEL) else {
            self.failed = true;
            return None;
        };
        match packet.encode(ctx, 0, &mut bytes) {
            Ok(n) if n == bytes.len() => Some(bytes),
            Ok(n) => {
                let mut exact = KVec::new();
                if exact
                    .extend_from_slice(bytes.get(..n)?, GFP_KERNEL)
                    .is_err()
                {
                    self.failed = true;
                    return None;
                }
                Some(exact)
            }
            Err(e) => {
                pr_err!("drbd{}: cannot encode {:?}: {}\n", self.minor, packet, e);
                self.failed = true;
                None
            }
        }
    }

    /// Execute a request's step: mark, complete, release.
    fn apply_step(&mut self, block_id: u64, step: Step) {
        let Some(r) = self.requests.get_mut(&block_id) else {
            return;
        };
        let (sector, size) = (r.sector, r.size);
        if let Some(ok) = step.complete_upper {
            r.result = Some(ok);
        }
        let ready = r.result.is_some() && r.upper.is_some() && !r.completed;
        let release = step.release;
        if step.mark_out_of_sync {
            self.mark_out_of_sync(sector, size);
        }
        if step.mark_in_sync {
            self.mark_in_sync(sector, size);
        }
        if ready {
            self.complete(block_id);
        }
        if release {
            let done = self.requests.get(&block_id).is_some_and(|r| r.completed);
            if done {
                self.requests.remove(&block_id);
                // Over towards the peer too (a miss would have set its bits by now): its
                // activity-log extents may be evicted again.
                self.io.al_end(ExtentRange::of(sector, size));
            }
        }
    }

    /// Hand a decided request's upper bio back to the application.
    fn complete(&mut self, block_id: u64) {
        let Some(r) = self.requests.get_mut(&block_id) else {
            return;
        };
        let (Some(ok), Some(upper)) = (r.result, r.upper.take()) else {
            return;
        };
        r.completed = true;
        let epoch = r.epoch;
        if self.to_end.push((upper, ok), GFP_KERNEL).is_err() {
            // Cannot happen without the push allocating; keep the bio for the next try.
            if let Some(r) = self.requests.get_mut(&block_id) {
                r.completed = false;
            }
            self.failed = true;
            return;
        }
        if self.completed_epochs.push(epoch, GFP_KERNEL).is_err() {
            self.failed = true;
        }
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

    fn request_ids(&mut self, pred: impl Fn(&AppRequest) -> bool) -> KVec<u64> {
        let mut ids = KVec::new();
        for (id, r) in self.requests.iter() {
            if pred(r) && ids.push(*id, GFP_KERNEL).is_err() {
                self.failed = true;
            }
        }
        ids
    }

    fn flag_state(&self) -> FlagState {
        FlagState::of(&self.state, self.crashed_primary)
    }

    /// Write what the replica changed in the meta data: the bitmap (whole after a full sync
    /// was decided, its marked pages when a resync is about to start), then the superblock.
    fn write_meta(&mut self) {
        if let Some(which) = self.bitmap_dirty.take() {
            if self.write_bitmap(which).is_err() {
                pr_err!("drbd{}: bitmap write failed\n", self.minor);
            }
        }
        if self.meta_dirty {
            self.meta_dirty = false;
            let flags = self.flag_state();
            let sb = &mut self.meta.superblock;
            sb.flags = sb.flags.recompute(flags);
            sb.mark_unclean();
            let Ok(mut block) = sys::zeroed_block::<MD_BLOCK_SIZE>() else {
                self.failed = true;
                return;
            };
            sb.encode(&mut block);
            if self
                .meta
                .device
                .write_block(self.meta.md_offset, &block, true)
                .is_err()
            {
                pr_err!("drbd{}: meta-data write failed\n", self.minor);
            }
        }
    }

    fn write_bitmap(&mut self, which: PageSelection) -> Result {
        write_bitmap_pages(&self.io, &self.meta.bitmap_area(), which).map(|_| ())
    }

    fn shutdown_sockets(&mut self) {
        if let Some(s) = self.sockets.as_ref() {
            s.data.shutdown();
            s.meta.shutdown();
        }
    }
}

/// From the bitmap exchange to the end of a resync as its target: the states in which the
/// peer clears a bit once we acknowledge the block, so the bit must be on our disk first.
fn is_resync_target(conn: ConnState) -> bool {
    matches!(
        conn,
        ConnState::WFSyncUUID | ConnState::SyncTarget | ConnState::PausedSyncT
    )
}

fn socket_name(socket: Socket) -> &'static str {
    match socket {
        Socket::Data => "data",
        Socket::Meta => "meta",
    }
}

fn socket_index(socket: Socket) -> usize {
    match socket {
        Socket::Data => 0,
        Socket::Meta => 1,
    }
}

impl Host for EngineHost {
    fn send(&mut self, socket: Socket, ctx: &Agreed, packet: &Packet<'_>) {
        if let Some(bytes) = self.encode(ctx, packet) {
            self.queue(
                socket,
                Outgoing {
                    bytes,
                    data: None,
                    sent_block_id: None,
                    sectors: 0,
                },
            );
        }
    }

    fn drop_sockets(&mut self) {
        // Closed once what the replica sent before has gone out (see `Link::settle`).
        self.drop_requested = true;
    }

    fn log(&mut self, level: Level, args: fmt::Arguments<'_>) {
        match level {
            Level::Err => pr_err!("drbd{}: {}\n", self.minor, args),
            Level::Warn => pr_warn!("drbd{}: {}\n", self.minor, args),
            Level::Info => pr_info!("drbd{}: {}\n", self.minor, args),
        }
    }

    fn state_changed(&mut self, old: &State, new: &State) {
        self.state = *new;
        // Without memory this change is not announced; the next one is, in full.
        let _ = self.state_events.push(*new, GFP_KERNEL);
        if old.disk != new.disk
            || old.pdsk != new.pdsk
            || old.role != new.role
            || (old.conn > ConnState::WFReportParams) != (new.conn > ConnState::WFReportParams)
        {
            self.meta_dirty = true;
        }
        // The SyncTarget's disk must mark every block it is about to receive until the
        // block is stable: the peer clears its bit on our ack, and a crash of ours could
        // lose that write from our cache. Before the first request leaves, the pages with
        // set bits (the peer's merged in) go to disk (bits set later: `mark_out_of_sync`);
        // later write-outs flush first.
        if is_resync_target(new.conn) && !is_resync_target(old.conn) {
            let marked = PageSelection::WithSetBits;
            self.bitmap_dirty = Some(self.bitmap_dirty.map_or(marked, |p| p.and(marked)));
        }
        pr_info!(
            "drbd{}: {} {}/{} {}/{}\n",
            self.minor,
            new.conn.name(),
            new.role.name(),
            new.peer.name(),
            new.disk.name(),
            new.pdsk.name()
        );
    }

    fn write_meta_data(&mut self, uuids: &UuidSet) {
        self.meta.superblock.uuids = *uuids;
        self.meta_dirty = true;
    }

    fn mark_all_out_of_sync(&mut self) {
        if let Some(bm) = self.io.bitmap.lock().as_mut() {
            bm.set_all();
        }
        self.bitmap_dirty = Some(PageSelection::All);
    }

    fn clear_bitmap(&mut self) {
        if let Some(bm) = self.io.bitmap.lock().as_mut() {
            bm.with_view(&mut |b| b.clear_all());
        }
        self.bitmap_dirty = Some(PageSelection::All);
    }

    fn resync_progress(&mut self, announce: bool) {
        self.progress = Some(announce || self.progress == Some(true));
    }

    fn bitmap_weight(&self) -> u64 {
        self.io.bitmap_weight().map_or(0, |(set, _)| set)
    }

    fn random_u64(&mut self) -> u64 {
        sys::random_u64()
    }

    fn call_helper(&mut self, helper: Helper) {
        if self
            .helpers
            .push(HelperCall::Notify(helper), GFP_KERNEL)
            .is_err()
        {
            pr_err!(
                "drbd{}: helper command {} dropped: out of memory\n",
                self.minor,
                helper.name()
            );
        }
    }

    fn before_resync(&mut self, ticket: ResyncHandlerTicket) -> Option<u8> {
        match self
            .helpers
            .push(HelperCall::BeforeResync(ticket), GFP_KERNEL)
        {
            Ok(()) => None,
            Err(_) => {
                // As a handler that could not be run (drbd ignores such errors).
                pr_err!(
                    "drbd{}: out of memory, failed to invoke {} helper\n",
                    self.minor,
                    ticket.helper().name()
                );
                Some(0)
            }
        }
    }

    fn fence_peer(&mut self) {
        self.fence_wanted = true;
    }

    fn set_capacity(&mut self, sectors: u64) {
        let have = self.meta.superblock.la_size_sect;
        if sectors != have {
            pr_warn!(
                "drbd{}: agreed size {} sectors differs from ours ({}); resizing while connected is not supported yet\n",
                self.minor,
                sectors,
                have
            );
        }
    }

    fn set_max_bio_size(&mut self, _bytes: u32) {
        // Our queue never builds requests above DRBD_MAX_BIO_SIZE, which every 8.4 peer of
        // protocol ≥ 95 accepts.
    }

    fn change_finished(&mut self, result: Result<(), StateError>) {
        self.finished = Some(result);
    }

    fn hold_write(&mut self, write: HeldWrite) {
        let buf = match self.incoming.take() {
            Some(buf) => buf,
            // Zeroes and discards carry no data.
            None => match PageBuf::new(0) {
                Ok(b) => b,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            },
        };
        match self.held.as_mut_slice().get_mut(write.slot().index()) {
            Some(entry) => *entry = Some((write, buf)),
            None => self.failed = true,
        }
    }

    fn submit_held(&mut self, slot: Slot) {
        let entry = self
            .held
            .as_mut_slice()
            .get_mut(slot.index())
            .and_then(Option::take);
        match entry {
            Some((write, buf)) if write.slot() == slot => {
                if self
                    .submits
                    .push(Submit::Write(write, buf), GFP_KERNEL)
                    .is_err()
                {
                    self.failed = true;
                }
            }
            _ => {
                pr_err!("drbd{}: no held write for slot {:?}\n", self.minor, slot);
                self.failed = true;
            }
        }
    }

    fn send_bitmap(&mut self, ctx: &Agreed, use_rle: bool) {
        let Some(bits) = self.io.bitmap.lock().as_ref().map(|b| b.bits()) else {
            self.failed = true;
            return;
        };
        let Ok(mut buf) = KVec::from_elem(0u8, MAX_FIXED_PAYLOAD, GFP_KERNEL) else {
            self.failed = true;
            return;
        };
        let mut sender = BitmapSender::new(bits, ctx.header_len(), use_rle);
        loop {
            let chunk = {
                let guard = self.io.bitmap.lock();
                let Some(bm) = guard.as_ref() else {
                    break;
                };
                bm.with_ref(|view| sender.next_packet(view, &mut buf))
                    .flatten()
            };
            let Some(chunk) = chunk else {
                break;
            };
            let payload = buf.get(..chunk.len).unwrap_or(&[]);
            let packet = match chunk.kind {
                ChunkKind::Plain => Packet::Bitmap(payload),
                ChunkKind::Compressed => Packet::CompressedBitmap(payload),
            };
            if let Some(bytes) = self.encode(ctx, &packet) {
                self.queue(
                    Socket::Data,
                    Outgoing {
                        bytes,
                        data: None,
                        sent_block_id: None,
                        sectors: 0,
                    },
                );
            }
        }
    }

    fn with_bitmap(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        if let Some(bm) = self.io.bitmap.lock().as_mut() {
            bm.with_view(f);
        }
    }

    fn read_for_peer(&mut self, read: PeerRead) {
        if self.submits.push(Submit::Read(read), GFP_KERNEL).is_err() {
            self.failed = true;
        }
    }

    fn send_block(&mut self, ctx: &Agreed, packet: &Packet<'_>, slot: Slot) {
        let data = self
            .read_bufs
            .as_mut_slice()
            .get_mut(slot.index())
            .and_then(Option::take);
        let sectors = data.as_ref().map_or(0, |d| (d.len() >> 9) as u32);
        if let Some(bytes) = self.encode(ctx, packet) {
            self.queue(
                Socket::Data,
                Outgoing {
                    bytes,
                    data,
                    sent_block_id: None,
                    sectors,
                },
            );
        }
    }

    fn flush_lower(&mut self) {
        if self.submits.push(Submit::Flush, GFP_KERNEL).is_err() {
            self.failed = true;
        }
    }

    fn mark_out_of_sync(&mut self, sector: u64, size: u32) {
        let nr_sectors = u64::from(size >> 9);
        let newly = self
            .io
            .bitmap
            .lock()
            .as_mut()
            .map_or(0, |bm| bm.set_out_of_sync(sector, nr_sectors));
        if newly > 0 && is_resync_target(self.state.conn) {
            // As at the start of the resync: on disk before the block is requested.
            let pages = PageSelection::of_sectors(sector, nr_sectors);
            self.bitmap_dirty = Some(self.bitmap_dirty.map_or(pages, |p| p.and(pages)));
        }
    }

    fn mark_in_sync(&mut self, sector: u64, size: u32) {
        if let Some(bm) = self.io.bitmap.lock().as_mut() {
            bm.set_in_sync(sector, u64::from(size >> 9));
        }
    }

    fn peer_acked(&mut self, kind: AckKind, ack: &BlockAck) -> bool {
        self.update(ack.block_id, |req| req.peer_ack(kind).ok())
    }

    fn epoch_acked(&mut self, epoch: u32) {
        let ids = self.request_ids(|r| r.epoch == epoch);
        for id in ids.iter() {
            self.update(*id, |req| Some(req.barrier_acked()));
        }
    }

    fn requests_lost(&mut self) {
        let ids = self.request_ids(|_| true);
        for id in ids.iter() {
            self.update(*id, |req| Some(req.connection_lost()));
        }
    }
}

/// The replica and its host, under the link's mutex.
struct LinkState {
    replica: Replica<KernelStorage>,
    host: EngineHost,
}

/// The connection of one device (see the module documentation).
#[pin_data]
pub(crate) struct Link {
    minor: u32,
    #[pin]
    /// Boxed: the replica and its host are kilobytes, too much to pass through the stack of
    /// `connect` (16 KiB in all without KASAN) on the way into the mutex.
    st: Mutex<KBox<LinkState>>,
    /// Waiters for a finished state change or room for a write.
    #[pin]
    changed: CondVar,
    /// A thread is sending on the data socket (see [`Link::flush_socket`]).
    data_sending: AtomicBool,
    /// Serializes senders on the meta socket.
    #[pin]
    meta_send: Mutex<()>,
    completions: Arc<Drained<Completions>>,
    asender_wake: Wakeup,
    stop: AtomicBool,
    lower: Arc<LowerDevice>,
    pool: Arc<Pin<KBox<BioSet>>>,
    io: Arc<Drained<DeviceIo>>,
    config: LinkConfig,
    start: Ktime,
    events: Arc<StateEvents>,
    deps: Arc<Dependencies>,
    handler_runs: Arc<HandlerRuns>,
    /// A `fence-peer` handler thread of this link runs.
    fencing_now: AtomicBool,
    /// The thread that runs this link's queued helpers runs ([`Link::start_helper_runner`]).
    helpers_running: AtomicBool,
    /// When a write refused for want of good data was last logged ([`Link::now_ms`] + 1;
    /// 0: never): one line per second at most, as drbd's ratelimit.
    no_data_logged_ms: AtomicU64,
}

/// The threads of a running link.
pub(crate) struct LinkThreads {
    receiver: Option<Kthread>,
    asender: Option<Kthread>,
}

/// How long a connection the replica ended waits, half closed, for the peer to close too.
const HALF_CLOSE_MS: u64 = 5_000;

/// A state change that did not finish in time is reported as this.
const CHANGE_WAIT_MS: u32 = 30_000;

impl LinkState {
    /// The replica and its host, built in their box. Not inlined into [`Link::start`]: the
    /// two are kilobytes, and `connect` runs deep in generic netlink on a 16 KiB stack.
    #[inline(never)]
    fn boxed(
        minor: u32,
        state: State,
        geometry: DiskGeometry,
        io: Arc<Drained<DeviceIo>>,
        meta: MetaStore,
    ) -> Result<KBox<LinkState>> {
        let epochs = Heap(KVVec::from_elem(
            SentEpoch::default(),
            EPOCH_RING,
            GFP_KERNEL,
        )?);
        let slots = Heap(KVVec::from_elem(
            SlotEntry::default(),
            CONFLICT_SLOTS,
            GFP_KERNEL,
        )?);
        let mut held = KVVec::with_capacity(CONFLICT_SLOTS, GFP_KERNEL)?;
        let mut read_bufs = KVVec::with_capacity(CONFLICT_SLOTS, GFP_KERNEL)?;
        for _ in 0..CONFLICT_SLOTS {
            held.push(None, GFP_KERNEL)?;
            read_bufs.push(None, GFP_KERNEL)?;
        }
        let uuids = meta.superblock.uuids;
        let crashed_primary = meta.superblock.flags.contains(MdFlags::CRASHED_PRIMARY);
        let replica = Replica::new(state, uuids, crashed_primary, geometry, epochs, slots);
        let host = EngineHost {
            minor,
            io,
            meta,
            sockets: None,
            generation: 0,
            queues: [KVec::new(), KVec::new()],
            requests: RBTree::new(),
            next_block_id: 1,
            held,
            read_bufs,
            incoming: None,
            submits: KVec::new(),
            to_end: KVec::new(),
            completed_epochs: KVec::new(),
            finished: None,
            state,
            state_events: KVec::new(),
            crashed_primary,
            helpers: KVec::new(),
            fence_wanted: false,
            meta_dirty: false,
            bitmap_dirty: None,
            progress: None,
            failed: false,
            drop_requested: false,
            close_after_send: None,
            half_closed: None,
        };
        Ok(KBox::new(LinkState { replica, host }, GFP_KERNEL)?)
    }
}

impl Link {
    /// Set up the connection of a device and start its receiver and asender.
    pub(crate) fn start(s: LinkStart) -> Result<(Arc<Link>, LinkThreads)> {
        let _noio = NoIo::enter();
        let state = LinkState::boxed(s.minor, s.state, s.geometry, s.io.clone(), s.meta)?;
        let completions = Completions {
            events: EventList::new()?,
            wake: s.worker_wake,
        };
        let completions: Arc<Drained<Completions>> =
            Arc::pin_init::<core::convert::Infallible>(Drained::new(completions), GFP_KERNEL)?;
        let asender_wake = Wakeup::new()?;
        let link = Arc::pin_init(
            pin_init!(Link {
                minor: s.minor,
                st <- kernel::new_mutex!(state, "drbd_rs:link"),
                changed <- kernel::new_condvar!("drbd_rs:link_changed"),
                data_sending: AtomicBool::new(false),
                meta_send <- kernel::new_mutex!((), "drbd_rs:meta_send"),
                completions,
                asender_wake,
                stop: AtomicBool::new(false),
                lower: s.lower,
                pool: s.pool,
                io: s.io,
                config: s.config,
                start: Ktime::ktime_get(),
                events: s.events,
                deps: s.deps,
                handler_runs: s.handler_runs,
                fencing_now: AtomicBool::new(false),
                helpers_running: AtomicBool::new(false),
                no_data_logged_ms: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )?;
        link.locked(|r, h| {
            r.set_fencing(s.fencing);
            r.connect(s.net, s.sync, h)
        });
        let for_receiver = link.clone();
        let receiver = Kthread::spawn(format_args!("drbd{}_receiver", s.minor), move || {
            for_receiver.receiver()
        })?;
        let mut threads = LinkThreads {
            receiver: Some(receiver),
            asender: None,
        };
        let for_asender = link.clone();
        match Kthread::spawn(format_args!("drbd{}_asender", s.minor), move || {
            Link::asender(&for_asender)
        }) {
            Ok(t) => {
                t.set_realtime();
                threads.asender = Some(t);
            }
            Err(e) => {
                link.stop(&mut threads);
                return Err(e);
            }
        }
        Ok((link, threads))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(ktime_ms_delta(Ktime::ktime_get(), self.start)).unwrap_or(0)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Run `f` on the replica under the lock, then do what it asked for.
    fn locked<R>(&self, f: impl FnOnce(&mut Replica<KernelStorage>, &mut EngineHost) -> R) -> R {
        let (r, work) = self.locked_work(f);
        self.run(work, true);
        r
    }

    /// Run `f` under the lock; returns what is left to do outside it.
    fn locked_work<R>(
        &self,
        f: impl FnOnce(&mut Replica<KernelStorage>, &mut EngineHost) -> R,
    ) -> (R, Work) {
        let _noio = NoIo::enter();
        let mut st = self.st.lock();
        let LinkState { replica, host } = &mut **st;
        let r = f(replica, host);
        self.settle(&mut st);
        let work = Work::take(&mut st.host);
        (r, work)
    }

    /// Bookkeeping that must happen under the lock after every replica call.
    fn settle(&self, st: &mut LinkState) {
        let LinkState { replica, host } = st;
        if host.crashed_primary != replica.crashed_primary() {
            host.crashed_primary = replica.crashed_primary();
            host.meta_dirty = true;
        }
        for epoch in core::mem::take(&mut host.completed_epochs).iter() {
            replica.write_completed(*epoch);
        }
        if host.failed {
            host.failed = false;
            pr_err!(
                "drbd{}: out of memory; dropping the connection\n",
                self.minor
            );
            replica.socket_failed(host);
        }
        host.write_meta();
        if host.drop_requested {
            host.drop_requested = false;
            match host.sockets.as_ref() {
                Some(s) => host.close_after_send = Some(s.generation),
                None => host.queues = [KVec::new(), KVec::new()],
            }
        }
        self.changed.notify_all();
    }

    /// Do, outside the lock, what the replica asked for (`flush_meta`: also send what is
    /// queued for the meta socket — not when the caller is that socket's sender already).
    fn run(&self, work: Work, flush_meta: bool) {
        for (bio, ok) in work.to_end {
            let errno = if ok { 0 } else { EIO.to_errno() };
            self.io.counters.app_pending.fetch_sub(1, Ordering::Relaxed);
            bio.end(errno);
        }
        for submit in work.submits {
            self.submit(submit);
        }
        if work.meta_queued && flush_meta {
            self.flush_socket(Socket::Meta);
        }
        // The worker sends queued data and announces state changes (never from a bio's
        // submission or a receiving thread). Data queued while another thread holds the
        // data socket is that sender's: it looks at the queue again after it lets go
        // (`flush_socket`). Waking the worker for it would make the worker go round without
        // sleeping for as long as that sender waits for the peer (on one CPU, for ever).
        let data_for_worker = work.data_queued && !self.data_sending.load(Ordering::Acquire);
        if data_for_worker || work.states_changed || work.helpers_pending || work.progress_pending {
            self.completions.wake.kick();
        }
    }

    /// Send `DRBD_EVENT`s for the states reached since the last call, in order.
    pub(crate) fn announce_states(&self) {
        self.events.announce(|| {
            let mut st = self.st.lock();
            let states = core::mem::take(&mut st.host.state_events);
            (states, self.status_snapshot(&st))
        });
    }

    /// What the replica reported as resync progress: write the bitmap pages cleared since
    /// the last time (on the worker: page writes and a flush take a while, and nothing of
    /// the link waits for them), then announce it (`DRBD_EVENT` SIB_SYNC_PROGRESS).
    fn write_resync_progress(&self) {
        let Some((announce, area)) = ({
            let mut st = self.st.lock();
            let area = st.host.meta.bitmap_area();
            st.host.progress.take().map(|announce| (announce, area))
        }) else {
            return;
        };
        let cleared = self
            .io
            .bitmap
            .lock()
            .as_mut()
            .and_then(|b| b.take_cleared_pages());
        if let Some(which) = cleared {
            if let Err(e) = write_bitmap_pages(&self.io, &area, which) {
                pr_err!("drbd{}: bitmap write failed: {:?}\n", self.minor, e);
                // Written at the next progress, or at disconnect/detach.
                if let Some(b) = self.io.bitmap.lock().as_mut() {
                    b.note_cleared_pages(which);
                }
            }
        }
        if announce {
            self.events
                .announce_progress(|| self.status_snapshot(&self.st.lock()));
        }
    }

    /// `DRBD_EVENT` for a helper: before it runs (`status` None) or with its wait status.
    fn announce_helper(&self, name: &str, status: Option<u32>) {
        self.events
            .announce_helper(|| self.status_snapshot(&self.st.lock()), name, status);
    }

    /// What a status message of this device shows, from the link's state.
    fn status_snapshot(&self, st: &LinkState) -> StatusSnapshot<'_> {
        let bits = self.io.bitmap_weight();
        let superblock = &st.host.meta.superblock;
        StatusSnapshot {
            minor: self.minor,
            volume: self.events.volume,
            resource: &self.events.resource,
            state: *st.replica.state(),
            capacity: superblock.la_size_sect,
            uuids: st.replica.uuids().to_array(),
            disk: Some(DiskStatus {
                md_flags: superblock.flags.bits(),
                oos_bits: bits.map_or(0, |b| b.0),
                total_bits: bits.map_or(0, |b| b.1),
                resync: st.replica.resync_totals(),
            }),
            counters: self.io.counters.snapshot(),
        }
    }

    fn submit(&self, submit: Submit) {
        let Ok(event) = Event::new() else {
            self.fail_submit(submit);
            return;
        };
        let notify = Notify::new(&self.completions, event);
        self.io
            .counters
            .local_pending
            .fetch_add(1, Ordering::Relaxed);
        match submit {
            Submit::Write(write, buf) => {
                let (sector, fua, preflush, zero) = match write {
                    HeldWrite::Peer(w) => (w.sector, w.fua, w.flush, w.kind != PeerWriteKind::Data),
                    HeldWrite::Resync(w) => (w.sector, false, false, false),
                };
                let buf = if zero {
                    // Zeroes and discards: written as zeroes (discard is advisory).
                    let size = match write {
                        HeldWrite::Peer(w) => w.size as usize,
                        HeldWrite::Resync(w) => w.size as usize,
                    };
                    match PageBuf::new(size) {
                        Ok(b) => b,
                        Err(_) => {
                            drop(notify);
                            self.io_finished();
                            self.fail_submit(Submit::Write(write, buf));
                            return;
                        }
                    }
                } else {
                    buf
                };
                let ctx = PeerWriteDone { notify, write };
                if let Err((buf, ctx, _)) =
                    self.lower
                        .submit_buf(BufOp::Write { fua, preflush }, sector, buf, ctx)
                {
                    ctx.done(buf, EIO.to_errno());
                }
            }
            Submit::Read(read) => {
                let Ok(buf) = PageBuf::new(read.size as usize) else {
                    drop(notify);
                    self.io_finished();
                    self.fail_submit(Submit::Read(read));
                    return;
                };
                let ctx = PeerReadDone { notify, read };
                if let Err((buf, ctx, _)) =
                    self.lower.submit_buf(BufOp::Read, read.sector, buf, ctx)
                {
                    ctx.done(buf, EIO.to_errno());
                }
            }
            Submit::Flush => {
                let ctx = FlushedDone { notify };
                if let Err((ctx, _)) = self.lower.submit_flush(ctx) {
                    ctx.done(EIO.to_errno());
                }
            }
        }
    }

    /// A submission that could not even start: report it as failed I/O.
    fn fail_submit(&self, submit: Submit) {
        self.locked(|r, h| match submit {
            Submit::Write(HeldWrite::Peer(w), _) => r.peer_write_done(&w, false, h),
            Submit::Write(HeldWrite::Resync(w), _) => r.resync_write_done(&w, false, h),
            Submit::Read(read) => r.peer_read_done(&read, false, h),
            Submit::Flush => r.flush_done(h),
        });
    }

    /// A lower I/O submitted by the link is over (`lo:` in /proc/drbd).
    fn io_finished(&self) {
        self.io
            .counters
            .local_pending
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Send what is queued for `socket`. On the data socket one thread sends at a time and
    /// the others leave it their items: the submitter of a write sends it itself when the
    /// socket is free (under TCG a hand-over to the worker costs a millisecond per write),
    /// the worker sends whatever was left (resync, barriers, a write queued meanwhile).
    fn flush_socket(&self, socket: Socket) {
        match socket {
            Socket::Meta => {
                let _serial = self.meta_send.lock();
                self.drain_socket(socket);
            }
            Socket::Data => loop {
                if self
                    .data_sending
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    // The sender checks the queue again after it lets go (below).
                    return;
                }
                let drained = self.drain_socket(socket);
                self.data_sending.store(false, Ordering::Release);
                // An item queued after the last look, while this thread still held the
                // socket, was left to it: look once more.
                if !drained || self.st.lock().host.queues[socket_index(socket)].is_empty() {
                    return;
                }
            },
        }
    }

    /// Send `socket`'s queue until it is empty (true) or the connection is over (false);
    /// the caller is the socket's only sender.
    fn drain_socket(&self, socket: Socket) -> bool {
        loop {
            let (taken, work) = self.locked_work(|_, h| {
                let s = h.sockets.as_ref()?;
                let stream = match socket {
                    Socket::Data => s.data.clone(),
                    Socket::Meta => s.meta.clone(),
                };
                let generation = s.generation;
                let batch = core::mem::take(&mut h.queues[socket_index(socket)]);
                // A write counts as sent once its sender has it: the peer's ack may come
                // back before this thread gets the lock again.
                for out in batch.iter() {
                    if let Some(id) = out.sent_block_id {
                        h.update(id, |req| Some(req.sent()));
                    }
                }
                Some((batch, stream, generation))
            });
            self.run(work, socket != Socket::Meta);
            let Some((batch, stream, generation)) = taken else {
                // No connection: nothing queued can go anywhere.
                self.st.lock().host.queues[socket_index(socket)] = KVec::new();
                return false;
            };
            if batch.is_empty() {
                return true;
            }
            sys::cond_resched();
            for out in batch.iter() {
                if !self.send_out(&stream, socket, generation, out) {
                    // The connection is over: the rest of the batch goes nowhere.
                    return false;
                }
            }
        }
    }

    /// Send one queued item; false when the connection is over. A data-socket send that
    /// makes no progress for `timeout` is the replica's to judge (ko-count, a ping); it goes
    /// on where it stopped while the replica keeps the connection. On the meta socket (acks
    /// and pings, which never fill a healthy link) the same expiry ends the connection.
    fn send_out(
        &self,
        stream: &TcpStream,
        socket: Socket,
        generation: u64,
        out: &Outgoing,
    ) -> bool {
        let more = out.data.is_some();
        let (mut head, mut body, mut stalls) = (0usize, 0usize, 0u32);
        loop {
            let step = if head < out.bytes.len() {
                let rest = out.bytes.get(head..).unwrap_or_default();
                stream.send_all(rest, more).map_err(|e| {
                    head += e.done;
                    e.kind
                })
            } else if let Some(data) = out.data.as_ref() {
                stream.send_buf_from(data, body, false).map_err(|e| {
                    body = e.done;
                    e.kind
                })
            } else {
                return true;
            };
            match step {
                Ok(()) if head < out.bytes.len() => head = out.bytes.len(),
                Ok(()) => {
                    self.io
                        .counters
                        .net_sent
                        .fetch_add(out.sectors, Ordering::Relaxed);
                    return true;
                }
                Err(SockError::TimedOut) if socket == Socket::Data => {
                    stalls += 1;
                    let now = self.now_ms();
                    let (alive, work) = self.locked_work(|r, h| {
                        h.generation == generation && r.data_send_stalled(stalls, now, h)
                    });
                    self.run(work, true);
                    if !alive || self.stopping() {
                        return false;
                    }
                }
                Err(kind) => {
                    let ((), work) = self.locked_work(|r, h| {
                        if h.generation == generation && !r.wants_connection() {
                            if kind == SockError::TimedOut {
                                pr_err!(
                                    "drbd{}: sending on the meta socket timed out\n",
                                    self.minor
                                );
                            } else if kind != SockError::ShutDown {
                                pr_err!(
                                    "drbd{}: sending on the {} socket failed: {:?}\n",
                                    self.minor,
                                    socket_name(socket),
                                    kind
                                );
                            }
                            r.socket_failed(h);
                        }
                    });
                    self.run(work, socket != Socket::Meta);
                    return false;
                }
            }
        }
    }

    /// The worker's part: completions, timers, the data socket.
    fn service(&self) {
        let events = self.completions.events.take_all();
        let now = self.now_ms();
        self.locked(|r, h| {
            for ev in events {
                // Every event is the end of one lower I/O.
                self.io_finished();
                match ev {
                    IoEvent::AppWritten {
                        block_id,
                        upper,
                        errno,
                    } => {
                        let ok = errno == 0;
                        let slot = h.requests.get(&block_id).and_then(|q| q.slot);
                        let size = h.requests.get(&block_id).map_or(0, |q| q.size);
                        if ok {
                            h.io.counters
                                .disk_written
                                .fetch_add(size >> 9, Ordering::Relaxed);
                        }
                        match h.requests.get_mut(&block_id) {
                            Some(q) => q.upper = Some(upper),
                            None => {
                                // Not known (cannot happen): never lose the bio.
                                let _ = h.to_end.push((upper, ok), GFP_KERNEL);
                                continue;
                            }
                        }
                        let counts = ok && r.local_copy_counts();
                        h.update(block_id, |req| Some(req.local_done(counts)));
                        if !ok {
                            r.local_io_failed(FailedIo::AppWrite, h);
                        }
                        if let Some(slot) = slot {
                            r.local_write_done(slot, h);
                        }
                    }
                    IoEvent::PeerWritten { write, errno, buf } => {
                        drop(buf);
                        let ok = errno == 0;
                        match write {
                            HeldWrite::Peer(w) => {
                                if ok {
                                    h.io.counters
                                        .disk_written
                                        .fetch_add(w.size >> 9, Ordering::Relaxed);
                                }
                                r.peer_write_done(&w, ok, h)
                            }
                            HeldWrite::Resync(w) => {
                                if ok {
                                    h.io.counters
                                        .disk_written
                                        .fetch_add(w.size >> 9, Ordering::Relaxed);
                                }
                                r.resync_write_done(&w, ok, h)
                            }
                        }
                    }
                    IoEvent::PeerRead { read, errno, buf } => {
                        let ok = errno == 0;
                        if ok {
                            h.io.counters
                                .disk_read
                                .fetch_add(read.size >> 9, Ordering::Relaxed);
                        }
                        if read.purpose.needs_data() {
                            // The core digests the block (checksum resync, online verify):
                            // it gets the bytes in one piece; no memory counts as a failed
                            // read, which the protocol answers as drbd does.
                            let bytes = if ok { contiguous(&buf) } else { None };
                            if let Some(e) = h.read_bufs.as_mut_slice().get_mut(read.slot.index()) {
                                *e = Some(buf);
                            }
                            r.peer_read_data(&read, bytes.as_deref(), h);
                            // What the core did not send is not needed any more.
                            if let Some(e) = h.read_bufs.as_mut_slice().get_mut(read.slot.index()) {
                                *e = None;
                            }
                        } else {
                            if let Some(e) = h.read_bufs.as_mut_slice().get_mut(read.slot.index()) {
                                *e = Some(buf);
                            }
                            r.peer_read_done(&read, ok, h);
                        }
                    }
                    IoEvent::Flushed { errno } => {
                        if errno != 0 {
                            // drbd goes on as well; the epoch's writes are on their way.
                            pr_warn!("drbd{}: lower-device flush failed: {}\n", self.minor, errno);
                        }
                        r.flush_done(h);
                    }
                }
            }
            r.tick(now, h);
            r.sender_idle(h);
        });
        self.flush_socket(Socket::Data);
        self.flush_socket(Socket::Meta);
        self.close_if_sent();
        self.announce_states();
        // Other devices may wait for this one (`resync-after`); not under `st`.
        self.deps.link_changed(self);
    }

    /// End the connection the replica ended, in two steps: once its last packets are sent
    /// (or can no longer be: a failed send leaves the queue as it is), end the data
    /// socket's sending side; once the peer closed as well, or `HALF_CLOSE_MS` later, shut
    /// both sockets down.
    fn close_if_sent(&self) {
        let now = self.now_ms();
        let mut st = self.st.lock();
        let host = &mut st.host;
        let current = host.sockets.as_ref().map(|s| s.generation);
        if let Some((generation, deadline)) = host.half_closed {
            if current != Some(generation) {
                host.half_closed = None;
            } else if now >= deadline {
                host.half_closed = None;
                host.shutdown_sockets();
            }
        }
        let Some(generation) = host.close_after_send else {
            return;
        };
        if self.data_sending.load(Ordering::Acquire) && !host.queues[0].is_empty() {
            // Another thread is sending them; the next round closes.
            return;
        }
        host.close_after_send = None;
        if current == Some(generation) {
            host.queues = [KVec::new(), KVec::new()];
            if let Some(s) = host.sockets.as_ref() {
                s.data.finish_sending();
            }
            host.half_closed = Some((generation, now + HALF_CLOSE_MS));
        }
    }

    /// Run the user-mode helpers the replica asked for, in order, on a handler thread (one
    /// per link at a time, which takes what is queued until nothing is): each waited for as
    /// drbd's `drbd_khelper` waits, but by no thread of the link, since a handler may run
    /// drbdadm against this device (or take an LVM snapshot before a resync). A
    /// `before-resync-*` handler's exit code goes back to the replica.
    fn start_helper_runner(this: ArcBorrow<'_, Link>) {
        if this.st.lock().host.helpers.is_empty()
            || this.helpers_running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let link: Arc<Link> = this.into();
        let started = this
            .handler_runs
            .start(format_args!("drbd{}_helpers", this.minor), move || {
                link.run_queued_helpers()
            });
        if started.is_err() {
            this.helpers_running.store(false, Ordering::Release);
            let dropped = core::mem::take(&mut this.st.lock().host.helpers);
            for call in dropped.iter() {
                pr_err!(
                    "drbd{}: out of memory, failed to invoke {} helper\n",
                    this.minor,
                    call.name()
                );
                // As a handler that could not be run (drbd ignores such errors).
                this.helper_done(call, 0);
            }
        }
    }

    /// The helper thread's loop (see [`Link::start_helper_runner`]).
    fn run_queued_helpers(&self) {
        loop {
            let helpers = core::mem::take(&mut self.st.lock().host.helpers);
            if helpers.is_empty() {
                self.helpers_running.store(false, Ordering::Release);
                // Queued after the look above: this thread goes on, unless another started.
                if self.st.lock().host.helpers.is_empty()
                    || self.helpers_running.swap(true, Ordering::AcqRel)
                {
                    return;
                }
                continue;
            }
            for call in helpers.iter() {
                let exit = self.run_device_helper(call.name());
                if !self.stopping() {
                    self.helper_done(call, exit);
                }
            }
        }
    }

    /// What follows a helper's end: a `before-resync-*` handler's exit code goes to the
    /// replica (the resync starts, or the connection ends).
    fn helper_done(&self, call: &HelperCall, exit: u8) {
        if let HelperCall::BeforeResync(ticket) = *call {
            let now = self.now_ms();
            self.locked(|r, h| r.before_resync_done(ticket, exit, now, h));
        }
    }

    /// drbd's `drbd_khelper` for this device: the `helper command:` line, `DRBD_EVENT`
    /// (SIB_HELPER_PRE), `<usermode_helper> <name> minor-<N>` waited for, the line with its
    /// exit code, `DRBD_EVENT` (SIB_HELPER_POST). Returns the exit code; a helper that could
    /// not be run counts as 0, as drbd ignores errnos. Sleeps while the handler runs; call it
    /// holding no lock.
    fn run_device_helper(&self, name: &str) -> u8 {
        let mut target = TextBuf::<24>::new();
        let _ = write!(target, "minor-{}", self.minor);
        let program = umh::program();
        let program = program.as_str();
        pr_info!(
            "drbd{}: helper command: {} {} {}\n",
            self.minor,
            program,
            name,
            target.as_str()
        );
        self.announce_helper(name, None);
        let status = match umh::run_helper(name, target.as_str(), Some(self.config.peer_addr)) {
            Ok(status) => status,
            Err(e) => WaitStatus::of_errno(e),
        };
        let exit = status.exit_code();
        if status.raw() != 0 {
            pr_warn!(
                "drbd{}: helper command: {} {} {} exit code {} (0x{:x})\n",
                self.minor,
                program,
                name,
                target.as_str(),
                exit,
                status.raw()
            );
        } else {
            pr_info!(
                "drbd{}: helper command: {} {} {} exit code 0 (0x0)\n",
                self.minor,
                program,
                name,
                target.as_str()
            );
        }
        self.announce_helper(name, Some(status.raw() as u32));
        if status.raw() < 0 {
            0
        } else {
            exit
        }
    }

    // ---- application writes ---------------------------------------------------------

    /// An application write (or flush) on a Primary with this link: plan it with the
    /// replica, queue its data for the peer, submit the local clone. `data` is the bio's
    /// payload (None for flushes, discards and zeroes).
    pub(crate) fn submit_write(
        self: ArcBorrow<'_, Self>,
        bio: Bio,
        flags: WriteFlags,
        data: Option<PageBuf>,
    ) {
        let _noio = NoIo::enter();
        let (sector, size) = (bio.sector(), bio.size());
        let Ok(event) = Event::new() else {
            self.io.al_end(ExtentRange::of(sector, size));
            bio.end(ENOMEM.to_errno());
            return;
        };
        let mut data = data;
        let mut st = self.st.lock();
        let mut waited = false;
        let block_id = loop {
            let LinkState { replica, host } = &mut **st;
            let block_id = host.next_block_id;
            match replica.plan_write(sector, size, flags, block_id, self.now_ms()) {
                Ok(plan) => {
                    host.next_block_id += 1;
                    let ctx = *replica.agreed();
                    let request = AppRequest {
                        req: plan.request,
                        epoch: plan.epoch,
                        slot: plan.slot,
                        sector,
                        size,
                        upper: None,
                        result: None,
                        completed: false,
                    };
                    if host
                        .requests
                        .try_create_and_insert(block_id, request, GFP_KERNEL)
                        .is_err()
                    {
                        host.failed = true;
                    }
                    host.apply_step(block_id, plan.first);
                    if plan.out_of_sync {
                        let desc = Packet::BlockDesc {
                            kind: DescKind::OutOfSync,
                            sector,
                            blksize: size,
                        };
                        host.send(Socket::Data, &ctx, &desc);
                    }
                    if let Some(send) = plan.send {
                        if let Some(barrier) = send.barrier_first {
                            host.send(Socket::Data, &ctx, &Packet::Barrier { barrier });
                        }
                        if let Some(bytes) = host.encode(&ctx, &send.packet) {
                            let payload = match send.packet {
                                Packet::Data { .. } => data.take(),
                                _ => None,
                            };
                            host.queue(
                                Socket::Data,
                                Outgoing {
                                    bytes,
                                    data: payload,
                                    sent_block_id: Some(block_id),
                                    sectors: size >> 9,
                                },
                            );
                        }
                    }
                    break block_id;
                }
                Err(WriteBusy::NoGoodData) => {
                    drop(st);
                    let now = self.now_ms() + 1;
                    let last = self.no_data_logged_ms.load(Ordering::Relaxed);
                    if last == 0 || now.saturating_sub(last) >= 1000 {
                        self.no_data_logged_ms.store(now, Ordering::Relaxed);
                        pr_err!(
                            "drbd{}: IO ERROR: neither local nor remote data, sector {}+{}\n",
                            self.minor,
                            sector,
                            size >> 9
                        );
                    }
                    self.io.al_end(ExtentRange::of(sector, size));
                    bio.end(EIO.to_errno());
                    return;
                }
                Err(busy) => {
                    if !waited {
                        waited = true;
                        pr_info!(
                            "drbd{}: write at {} waits: {:?}\n",
                            self.minor,
                            sector,
                            busy
                        );
                    }
                    // Room comes with acks and completions (the worker notifies).
                    let _ = self
                        .changed
                        .wait_interruptible_timeout(&mut st, kernel::time::msecs_to_jiffies(100));
                    if self.stopping() {
                        drop(st);
                        self.io.al_end(ExtentRange::of(sector, size));
                        bio.end(EIO.to_errno());
                        return;
                    }
                }
            }
        };
        self.settle(&mut st);
        let mut work = Work::take(&mut st.host);
        drop(st);
        // Alone in flight, the write is sent below by this thread, after its local write
        // has started: its latency is what counts. With others in flight the worker sends
        // while this thread goes on submitting (throughput needs both CPUs).
        let send_now =
            work.data_queued && self.io.counters.app_pending.load(Ordering::Relaxed) == 0;
        if send_now {
            work.data_queued = false;
        }
        self.run(work, true);
        self.io.counters.app_pending.fetch_add(1, Ordering::Relaxed);
        self.io
            .counters
            .local_pending
            .fetch_add(1, Ordering::Relaxed);
        let ctx = AppWriteDone {
            notify: Notify::new(&self.completions, event),
            block_id,
        };
        if let Err((bio, _err)) = bio.submit_clone(&self.lower, &self.pool, ctx) {
            // The context went with the failed clone; report a failed local write.
            self.completions.push(
                match Event::new() {
                    Ok(e) => e,
                    Err(_) => {
                        // Last resort: complete the bio with an error right here.
                        self.io_finished();
                        self.io.counters.app_pending.fetch_sub(1, Ordering::Relaxed);
                        bio.end(EIO.to_errno());
                        return;
                    }
                },
                IoEvent::AppWritten {
                    block_id,
                    upper: bio,
                    errno: EIO.to_errno(),
                },
            );
        }
        if send_now {
            self.flush_socket(Socket::Data);
        }
    }

    /// The device's I/O side.
    pub(crate) fn io(&self) -> &DeviceIo {
        &self.io
    }

    // ---- admin ------------------------------------------------------------------------

    /// A state change for the replica (promotion, demotion), waiting for the peer's answer
    /// where one is needed.
    pub(crate) fn request_change(
        &self,
        change: StateChange,
        force: bool,
    ) -> Result<(), StateError> {
        self.locked(|r, h| {
            h.finished = None;
            r.request_change(change, force, h);
        });
        self.wait_finished()
    }

    /// `disconnect`: tell the peer, end StandAlone.
    pub(crate) fn disconnect(&self) -> Result<(), StateError> {
        self.locked(|r, h| {
            h.finished = None;
            r.disconnect(h);
        });
        self.wait_finished()
    }

    /// `new-current-uuid [--clear-bitmap]`: the replica decides (skip initial sync while
    /// Connected on fresh meta data, else StandAlone only); the meta data is written before
    /// this returns. `Ok(true)`: the initial sync was skipped.
    pub(crate) fn new_current_uuid(&self, clear_bitmap: bool) -> Result<bool, RetCode> {
        self.locked(|r, h| r.new_current_uuid(clear_bitmap, h))
    }

    /// `invalidate` / `invalidate-remote`: the replica decides (StandAlone: mark everything;
    /// connected: the cluster-wide change that starts a full sync), waiting for the peer's
    /// answer where one is needed. The bitmap is on disk before the sync starts (the
    /// settle after the change writes it before anything queued goes out).
    pub(crate) fn invalidate(&self, side: FullSyncSide) -> Result<(), Failure> {
        let now = self.now_ms();
        self.locked(|r, h| {
            h.finished = None;
            match side {
                FullSyncSide::Target => r.invalidate(now, h),
                FullSyncSide::Source => r.invalidate_remote(now, h),
            }
        })
        .map_err(Failure::Ret)?;
        self.wait_finished().map_err(Failure::State)
    }

    /// `verify [--start S] [--stop S]`: the cluster-wide change to VerifyS, waiting for the
    /// peer's answer.
    pub(crate) fn start_verify(
        &self,
        start_sector: Option<u64>,
        stop_sector: Option<u64>,
    ) -> Result<(), StateError> {
        self.locked(|r, h| {
            h.finished = None;
            r.start_verify(start_sector, stop_sector, h);
        });
        self.wait_finished()
    }

    /// `pause-sync` (`pause` true) / `resume-sync`: the user's pause flag.
    pub(crate) fn pause_sync(&self, pause: bool) -> Result<(), AdminRefusal> {
        let now = self.now_ms();
        self.locked(|r, h| {
            if pause {
                r.pause_sync(now, h)
            } else {
                r.resume_sync(now, h)
            }
        })
    }

    /// The `resync-after` verdict for this device ([`Replica::dependency_syncing`]); returns
    /// the state afterwards. Harmless on a link that is shutting down.
    pub(crate) fn dependency_syncing(&self, syncing: bool) -> State {
        let now = self.now_ms();
        self.locked(|r, h| {
            r.dependency_syncing(syncing, now, h);
            *r.state()
        })
    }

    /// New resync settings from `disk-options` (sent to a connected peer).
    pub(crate) fn change_sync_settings(&self, sync: SyncSettings) {
        self.locked(|r, h| r.change_sync_settings(sync, h));
    }

    /// New net options (a running connection adopts what it can); the digest algorithms
    /// not while a resync or verify uses them.
    pub(crate) fn change_net_options(&self, net: NetSettings) -> Result<(), RetCode> {
        self.locked(|r, h| {
            r.check_digest_change(&net)?;
            r.change_net_options(net, h);
            Ok(())
        })
    }

    fn wait_finished(&self) -> Result<(), StateError> {
        let mut waited = 0;
        let mut st = self.st.lock();
        loop {
            if let Some(result) = st.host.finished.take() {
                return result;
            }
            if waited >= CHANGE_WAIT_MS || self.stopping() {
                return Err(StateError::CwFailedByPeer);
            }
            let _ = self
                .changed
                .wait_interruptible_timeout(&mut st, kernel::time::msecs_to_jiffies(100));
            waited += 100;
        }
    }

    /// This node's and the peer's address, as `connect` gave them.
    pub(crate) fn addresses(&self) -> (SockAddr, SockAddr) {
        (self.config.my_addr, self.config.peer_addr)
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        *self.st.lock().replica.state()
    }

    /// State, protocol and resync figures for /proc/drbd.
    pub(crate) fn status(&self) -> LinkStatus {
        let st = self.st.lock();
        let bits = self.io.bitmap_weight().map_or(0, |(_, bits)| bits);
        LinkStatus {
            state: *st.replica.state(),
            protocol: st.replica.net().protocol,
            sync: st.replica.sync_status(bits, self.now_ms()),
            uuids: *st.replica.uuids(),
            resync: st.replica.resync_totals(),
        }
    }

    /// Begin to stop: no thread of the link starts anything new, and a send or receive
    /// blocked on a dead link returns now. Call before waiting for the worker (its service
    /// may be in such a send).
    pub(crate) fn halt(&self) {
        self.stop.store(true, Ordering::Release);
        {
            let mut st = self.st.lock();
            st.host.shutdown_sockets();
        }
        self.asender_wake.kick();
        self.changed.notify_all();
    }

    /// Stop the threads and wait until no I/O of the link is in flight; the link is dead
    /// afterwards. Returns the superblock as the link last wrote it.
    pub(crate) fn stop(&self, threads: &mut LinkThreads) -> Superblock {
        self.halt();
        drop(threads.receiver.take());
        drop(threads.asender.take());
        // The worker no longer runs our service (the caller removed it): wait for the I/O
        // still in flight and handle its completions here; then nothing of ours is left.
        self.completions.wait_idle();
        self.service();
        let mut st = self.st.lock();
        let host = &mut st.host;
        host.requests_lost();
        host.sockets = None;
        host.queues = [KVec::new(), KVec::new()];
        host.write_meta();
        let work = Work::take(host);
        let sb = host.meta.superblock;
        drop(st);
        self.run(work, true);
        sb
    }

    // ---- receiver ---------------------------------------------------------------------

    fn receiver(&self) {
        while !self.stopping() {
            let wants = self.st.lock().replica.wants_connection();
            if !wants {
                self.sleep_ms(100);
                continue;
            }
            let Some((data, meta, resolve)) = self.establish() else {
                continue;
            };
            let (data, meta) = match (Arc::new(data, GFP_KERNEL), Arc::new(meta, GFP_KERNEL)) {
                (Ok(d), Ok(m)) => (d, m),
                _ => continue,
            };
            // `timeout` bounds every send (§10): a stalled data socket counts towards
            // ko-count, a stalled meta socket ends the connection.
            let send_timeout_ms = self.st.lock().replica.net().timeout_ds * 100;
            data.set_send_timeout(send_timeout_ms);
            meta.set_send_timeout(send_timeout_ms);
            data.set_nodelay();
            meta.set_nodelay();
            meta.quickack();
            // Acks and pings must not queue behind bulk data in the host's queues either.
            data.set_priority(Priority::InteractiveBulk);
            meta.set_priority(Priority::Interactive);
            let now = self.now_ms();
            let generation = self.locked(|r, h| {
                h.generation += 1;
                h.sockets = Some(Sockets {
                    data: data.clone(),
                    meta: meta.clone(),
                    generation: h.generation,
                });
                r.sockets_established(resolve, now, h);
                h.generation
            });
            self.asender_wake.kick();
            self.completions.wake.kick();
            self.read_loop(&data, Socket::Data, generation);
            // The connection is over: release the sockets once both readers let go.
            self.locked(|r, h| {
                if h.generation == generation {
                    r.socket_failed(h);
                    h.shutdown_sockets();
                    h.sockets = None;
                }
            });
            self.asender_wake.kick();
        }
    }

    fn sleep_ms(&self, ms: u32) {
        sys::sleep_ms(ms);
    }

    /// Establish the data and meta sockets (§1.2); None when stopped, no longer wanted or
    /// the listening address cannot be bound (retried after connect-int).
    fn establish(&self) -> Option<(TcpStream, TcpStream, bool)> {
        let listener = match TcpListener::bind(&self.config.my_addr, 5, self.config.buffers) {
            Ok(l) => l,
            Err(e) => {
                pr_err!(
                    "drbd{}: cannot listen on the configured address: error {}\n",
                    self.minor,
                    e.to_errno()
                );
                self.sleep_ms(self.config.connect_int_s.max(1) * 1000);
                return None;
            }
        };
        let mut est = Establish::new();
        let mut data: Option<TcpStream> = None;
        let mut meta: Option<TcpStream> = None;
        let mut accept_first = false;
        let pre = Agreed::PRE_HANDSHAKE;
        while !self.stopping() && self.st.lock().replica.wants_connection() {
            if !accept_first {
                if let Some(role) = est.next_outgoing() {
                    if let Some(s) = self.try_connect(role) {
                        if est.connected().is_some() {
                            match role {
                                Socket::Data => data = Some(s),
                                Socket::Meta => meta = Some(s),
                            }
                        }
                    }
                }
            }
            accept_first = false;
            if est.complete() {
                if let Some(done) = self.check_alive(&mut est, &mut data, &mut meta) {
                    return Some(done);
                }
            }
            let wait = 500 + (sys::random_u64() % 1000) as u32;
            let accepted = match listener.accept(wait) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(_) => {
                    self.sleep_ms(100);
                    continue;
                }
            };
            accepted.set_recv_timeout(self.first_packet_timeout_ms());
            let mut first = [0u8; 8];
            let class = match accepted.recv_exact(&mut first[..pre.header_len()]) {
                Ok(()) => classify_first_packet(&first[..pre.header_len()]),
                Err(_) => None,
            };
            accepted.set_recv_timeout(0);
            let coin = sys::random_u64() & 1 == 1;
            match est.accepted(class, coin) {
                Accepted::Keep {
                    role, accept_again, ..
                } => {
                    match role {
                        Socket::Data => data = Some(accepted),
                        Socket::Meta => meta = Some(accepted),
                    }
                    accept_first = accept_again;
                }
                Accepted::Close { accept_again } => accept_first = accept_again,
            }
            if est.complete() {
                if let Some(done) = self.check_alive(&mut est, &mut data, &mut meta) {
                    return Some(done);
                }
            }
        }
        None
    }

    fn first_packet_timeout_ms(&self) -> u32 {
        let ping_timeout_ds = self.st.lock().replica.net().ping_timeout_ds;
        (ping_timeout_ds * 100 * 4).max(2000)
    }

    /// Both sockets exist: keep them if both still look alive.
    fn check_alive(
        &self,
        est: &mut Establish,
        data: &mut Option<TcpStream>,
        meta: &mut Option<TcpStream>,
    ) -> Option<(TcpStream, TcpStream, bool)> {
        // Give a crossing connection of the peer a moment to close one of ours.
        self.sleep_ms(100);
        let mut ok = true;
        if !data.as_ref().is_some_and(|s| s.peek_alive()) {
            est.lost(Socket::Data);
            *data = None;
            ok = false;
        }
        if !meta.as_ref().is_some_and(|s| s.peek_alive()) {
            est.lost(Socket::Meta);
            *meta = None;
            ok = false;
        }
        if !ok {
            return None;
        }
        let resolve = est.resolve_conflicts();
        match (data.take(), meta.take()) {
            (Some(d), Some(m)) => Some((d, m, resolve)),
            _ => None,
        }
    }

    fn try_connect(&self, role: Socket) -> Option<TcpStream> {
        let s = TcpStream::new(&self.config.my_addr.with_port(0), self.config.buffers).ok()?;
        s.connect(&self.config.peer_addr, 1000).ok()?;
        let pre = Agreed::PRE_HANDSHAKE;
        let packet = match role {
            Socket::Data => Packet::InitialData,
            Socket::Meta => Packet::InitialMeta,
        };
        let mut first = [0u8; 8];
        let n = packet.encode(&pre, 0, &mut first).ok()?;
        s.send_all(first.get(..n)?, false).ok()?;
        Some(s)
    }

    /// Read packets from `sock` until it fails or the replica drops the connection.
    fn read_loop(&self, sock: &TcpStream, socket: Socket, generation: u64) {
        let Ok(mut fixed) = KVec::from_elem(0u8, MAX_FIXED_PAYLOAD, GFP_KERNEL) else {
            return;
        };
        let mut header = [0u8; 16];
        while !self.stopping() {
            let ctx = {
                let mut st = self.st.lock();
                // After a P_BARRIER the data socket rests until that epoch is on disk and
                // acknowledged: the next epoch's writes must not overtake it.
                while socket == Socket::Data
                    && !st.replica.may_receive()
                    && st.host.generation == generation
                    && !self.stopping()
                {
                    let _ = self
                        .changed
                        .wait_interruptible_timeout(&mut st, kernel::time::msecs_to_jiffies(100));
                }
                *st.replica.agreed()
            };
            let hlen = ctx.header_len();
            if let Err(e) = sock.recv_exact(&mut header[..hlen]) {
                self.receive_failed(socket, generation, e, 0);
                return;
            }
            let framed = wire::decode_header(&header[..hlen], &ctx).and_then(|h| {
                let cmd = h.command()?;
                Ok((h, wire::layout(cmd, h.length, &ctx)?))
            });
            let (h, layout) = match framed {
                Ok(f) => f,
                Err(e) => {
                    pr_err!(
                        "drbd{}: malformed packet from the peer: {}\n",
                        self.minor,
                        e
                    );
                    self.locked(|r, host| {
                        if host.generation == generation {
                            r.malformed_packet(host)
                        }
                    });
                    return;
                }
            };
            let Some(fixed_buf) = fixed.get_mut(..layout.fixed) else {
                return;
            };
            if let Err(e) = sock.recv_exact(fixed_buf) {
                self.receive_failed(socket, generation, e, hlen);
                return;
            }
            let data = if layout.data > 0 {
                let _noio = NoIo::enter();
                let Ok(mut buf) = PageBuf::new(layout.data) else {
                    pr_err!("drbd{}: no memory for received data\n", self.minor);
                    self.locked(|r, host| {
                        if host.generation == generation {
                            r.socket_failed(host)
                        }
                    });
                    return;
                };
                if let Err(e) = sock.recv_buf(&mut buf) {
                    self.receive_failed(socket, generation, e, hlen + layout.fixed);
                    return;
                }
                self.io
                    .counters
                    .net_received
                    .fetch_add((layout.data >> 9) as u32, Ordering::Relaxed);
                Some(buf)
            } else {
                None
            };
            let packet = match wire::Packet::decode_framed(&h, &fixed[..layout.fixed], &ctx) {
                Ok(p) => p,
                Err(e) => {
                    pr_err!(
                        "drbd{}: malformed packet from the peer: {}\n",
                        self.minor,
                        e
                    );
                    self.locked(|r, host| {
                        if host.generation == generation {
                            r.malformed_packet(host)
                        }
                    });
                    return;
                }
            };
            let now = self.now_ms();
            let over = self.locked(|r, host| {
                if host.generation != generation {
                    return true;
                }
                host.incoming = data;
                r.receive(socket, &packet, now, host);
                host.incoming = None;
                host.sockets.is_none()
                    || !host
                        .sockets
                        .as_ref()
                        .is_some_and(|s| s.generation == generation)
                    || r.wants_connection()
            });
            if over {
                return;
            }
            // A busy peer keeps the socket full: receiving need not sleep between packets.
            sys::cond_resched();
        }
    }

    /// A receive on `socket` stopped after `before` bytes of the packet plus what the failed
    /// call got: say why in one line and drop the connection — unless it is over already (our
    /// own shutdown, or the other reader reported first).
    fn receive_failed(&self, socket: Socket, generation: u64, err: TransferError, before: usize) {
        if err.kind == SockError::ShutDown {
            return;
        }
        let got = before + err.done;
        self.locked(|r, h| {
            if h.generation != generation || r.wants_connection() {
                return;
            }
            let name = socket_name(socket);
            match err.kind {
                SockError::Closed if got == 0 => {
                    pr_warn!("drbd{}: the peer closed the {} socket\n", self.minor, name)
                }
                SockError::Closed => pr_err!(
                    "drbd{}: the peer closed the {} socket in the middle of a packet ({} bytes of it received)\n",
                    self.minor,
                    name,
                    got
                ),
                kind => pr_err!(
                    "drbd{}: receiving on the {} socket failed: {:?}\n",
                    self.minor,
                    name,
                    kind
                ),
            }
            r.socket_failed(h);
        });
    }

    // ---- asender ----------------------------------------------------------------------

    fn asender(this: &Arc<Link>) {
        while !this.stopping() {
            Link::start_fencing_if_wanted(this);
            let current = {
                let st = this.st.lock();
                let agreed = st.replica.agreed().version >= wire::PRO_VERSION_MIN;
                match st.host.sockets.as_ref() {
                    Some(s) if agreed => Some((s.meta.clone(), s.generation)),
                    _ => None,
                }
            };
            let Some((meta, generation)) = current else {
                this.asender_wake.wait(100);
                continue;
            };
            this.read_loop(&meta, Socket::Meta, generation);
            this.locked(|r, h| {
                if h.generation == generation && h.sockets.is_some() {
                    r.socket_failed(h);
                }
            });
            // Wait for the receiver to set up the next connection.
            while !this.stopping() {
                Link::start_fencing_if_wanted(this);
                let same = this
                    .st
                    .lock()
                    .host
                    .sockets
                    .as_ref()
                    .is_some_and(|s| s.generation == generation);
                if !same {
                    break;
                }
                this.asender_wake.wait(100);
            }
        }
    }

    // ---- fencing ----------------------------------------------------------------------

    /// The replica asked for the `fence-peer` handler after losing the peer: start a thread
    /// for it (one per link at a time; a request made while one runs waits for it).
    fn start_fencing_if_wanted(this: &Arc<Link>) {
        if this.fencing_now.load(Ordering::Acquire) {
            return;
        }
        if !core::mem::take(&mut this.st.lock().host.fence_wanted) {
            return;
        }
        this.fencing_now.store(true, Ordering::Release);
        let link = this.clone();
        let started = this
            .handler_runs
            .start(format_args!("drbd_async_h"), move || {
                link.outdate_peer();
                link.fencing_now.store(false, Ordering::Release);
            });
        if started.is_err() {
            this.fencing_now.store(false, Ordering::Release);
            pr_err!(
                "drbd{}: out of mem, failed to invoke fence-peer helper\n",
                this.minor
            );
        }
    }

    /// drbd's `conn_try_outdate_peer`: ask the `fence-peer` handler whether the peer's data
    /// are outdated, as the replica decides. Sleeps while the handler runs; call it holding
    /// no lock (the handler reads /proc/drbd). True: the peer's disk is now known Outdated
    /// or worse, or the policy does not care.
    pub(crate) fn outdate_peer(&self) -> bool {
        let ticket = match self.locked(|r, h| r.fence_peer_start(h)) {
            FenceStart::Run(ticket) => ticket,
            FenceStart::NotNeeded => return true,
            FenceStart::Refused => return false,
        };
        let mut target = TextBuf::<72>::new();
        let _ = write!(
            target,
            "{}",
            core::str::from_utf8(&self.events.resource).unwrap_or("?")
        );
        // drbd runs it for the connection: `<helper> fence-peer <resource>`.
        let exit = match umh::run_helper("fence-peer", target.as_str(), Some(self.config.peer_addr))
        {
            Ok(status) => {
                pr_info!(
                    "drbd {}: helper command: {} fence-peer {} exit code {}\n",
                    target.as_str(),
                    umh::program().as_str(),
                    target.as_str(),
                    status.exit_code()
                );
                status.exit_code()
            }
            Err(e) => {
                pr_err!(
                    "drbd {}: helper command fence-peer could not be run: error {}\n",
                    target.as_str(),
                    e.to_errno()
                );
                return false;
            }
        };
        if self.stopping() {
            return false;
        }
        self.locked(|r, h| r.fence_peer_done(ticket, exit, h))
    }

    /// The disk's fencing policy changed (`disk-options`).
    pub(crate) fn set_fencing(&self, fencing: Fencing) {
        self.locked(|r, _| r.set_fencing(fencing));
    }

    /// The net option `ping-timeout` (tenths of a second), for a promotion's wait.
    pub(crate) fn ping_timeout_ds(&self) -> u32 {
        self.st.lock().replica.net().ping_timeout_ds
    }
}

impl Service for Link {
    fn round(self: ArcBorrow<'_, Self>) {
        if !self.stopping() {
            self.service();
            self.write_resync_progress();
            Link::start_helper_runner(self);
        }
    }
}

/// A user-mode helper the replica asked for, as the link's helper thread runs it.
#[derive(Clone, Copy)]
enum HelperCall {
    /// One whose exit code means nothing (`split-brain`, `after-resync-target`, …).
    Notify(Helper),
    /// A resync waits for this `before-resync-*` handler's exit code.
    BeforeResync(ResyncHandlerTicket),
}

impl HelperCall {
    fn name(&self) -> &'static str {
        match self {
            HelperCall::Notify(helper) => helper.name(),
            HelperCall::BeforeResync(ticket) => ticket.helper().name(),
        }
    }
}

/// What /proc/drbd and status show of a link.
pub(crate) struct LinkStatus {
    pub(crate) state: State,
    pub(crate) protocol: crate::drbd_core::replication::WireProtocol,
    pub(crate) sync: Option<crate::drbd_core::proc_text::SyncStatus>,
    pub(crate) uuids: UuidSet,
    /// Blocks of the running resync and those that failed.
    pub(crate) resync: Option<(u64, u64)>,
}

/// What a replica call left to do outside the lock.
struct Work {
    to_end: KVec<(Bio, bool)>,
    submits: KVec<Submit>,
    meta_queued: bool,
    data_queued: bool,
    states_changed: bool,
    helpers_pending: bool,
    progress_pending: bool,
}

impl Work {
    fn take(h: &mut EngineHost) -> Work {
        Work {
            to_end: core::mem::take(&mut h.to_end),
            submits: core::mem::take(&mut h.submits),
            meta_queued: !h.queues[1].is_empty(),
            data_queued: !h.queues[0].is_empty() || h.close_after_send.is_some(),
            states_changed: !h.state_events.is_empty(),
            helpers_pending: !h.helpers.is_empty(),
            progress_pending: h.progress.is_some(),
        }
    }
}

/// The bytes of `buf` in one allocation (a block to digest), `None` without memory.
fn contiguous(buf: &PageBuf) -> Option<KVVec<u8>> {
    // Up to a resync request (1 MiB): vmalloc may back it.
    let mut bytes = KVVec::from_elem(0u8, buf.len(), GFP_KERNEL).ok()?;
    buf.read_bytes(0, &mut bytes).ok()?;
    Some(bytes)
}
