// SPDX-License-Identifier: GPL-2.0
//! The activity log of an attached device, and `drbdN_submit`, the thread that writes it.
//!
//! A write may reach the lower disk only once every 4 MiB extent it touches is recorded in an
//! on-disk AL transaction (on-disk-metadata.md §6): after a crash of this node, `drbdmeta
//! apply-al` marks those extents out of sync, so nothing the peer may lack is forgotten.
//! Which extents are hot, which slot a cold one takes and what a transaction holds is the
//! core's [`AlCache`]; this file does the I/O.
//!
//! `submit_bio` takes the fast path when every extent of a write is hot already
//! ([`ActivityLog::begin_if_active`]). Any other write is handed to `drbdN_submit` (never a
//! synchronous meta-data write inside `submit_bio`), which batches the cold extents of
//! everything waiting into one transaction, writes the bitmap pages of the extents it evicts,
//! then the transaction (flush + FUA), and only then lets the writes go on. A write's
//! extents are released when the write is over — locally, and for a replicated write also
//! towards the peer, since a write the peer missed sets its bits only then.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex, SpinLock};

use crate::drbd_core::activity_log::{
    al_transaction_sector, AL_EXTENTS_PER_BM_PAGE, AL_TRANSACTION_SIZE, AL_UPDATES_PER_TRANSACTION,
};
use crate::drbd_core::al_cache::{AlCache, AlSlot, ExtentRange, RangeBegin};
use crate::drbd_core::bitmap::BM_PAGE_SIZE;
use crate::drbd_core::meta_data::MdGeometry;
use crate::engine::io::{self, DeviceIo};
use crate::engine::link::Heap;
use crate::glue::block::{Bio, LowerDevice};
use crate::glue::drain::{Drained, Ticket};
use crate::glue::events::{Event, EventList, Wakeup};
use crate::glue::kthread::Kthread;
use crate::glue::sys::{self, NoIo};

/// A write waiting for its extents: its bio, and the device it keeps busy (a detach waits
/// for it).
pub(crate) struct Deferred {
    device: Ticket<DeviceIo>,
    bio: Bio,
}

/// The activity log of one attach (see the module documentation).
#[pin_data]
pub(crate) struct ActivityLog {
    minor: u32,
    #[pin]
    cache: SpinLock<AlCache<Heap<AlSlot>>>,
    /// Held while a transaction is written: [`ActivityLog::disable`] waits for it.
    #[pin]
    writing: Mutex<()>,
    /// Writes for `drbdN_submit`.
    deferred: EventList<Deferred>,
    /// Extents of writes that ended in a context that cannot take `cache`'s lock.
    ended: EventList<ExtentRange>,
    /// Some write waits for room (a slot without writes in flight): every end kicks.
    starved: AtomicBool,
    wake: Arc<Wakeup>,
    stopping: AtomicBool,
    /// After a resize moved the meta data, the AL is no longer written (the superblock says
    /// so with `MDF_AL_DISABLED`; a crash then means a full sync, as with `al-updates no`).
    disabled: AtomicBool,
    meta: Arc<LowerDevice>,
    geometry: MdGeometry,
    /// Pages of the on-disk bitmap area.
    bm_area_pages: u64,
}

/// The running `drbdN_submit`; stops it when dropped.
pub(crate) struct Submitter {
    al: Arc<ActivityLog>,
    thread: Option<Kthread>,
}

impl Drop for Submitter {
    fn drop(&mut self) {
        self.al.stopping.store(true, Ordering::Release);
        self.al.wake.kick();
        drop(self.thread.take());
    }
}

impl ActivityLog {
    /// The AL of an attach with `al_extents` slots on `meta` at `geometry`, and its thread.
    pub(crate) fn start(
        minor: u32,
        al_extents: u32,
        meta: Arc<LowerDevice>,
        geometry: MdGeometry,
        bm_area_pages: u64,
        io: Arc<Drained<DeviceIo>>,
    ) -> Result<(Arc<Self>, Submitter)> {
        let mut slots = KVVec::with_capacity(al_extents as usize, GFP_KERNEL)?;
        for _ in 0..al_extents {
            slots.push(AlSlot::default(), GFP_KERNEL)?;
        }
        // drbd numbers transactions from 0 after the minor is created; the ring was
        // initialized by apply-al before this attach, so any start is valid.
        let cache = AlCache::new(Heap::from(slots), 0);
        let (deferred, ended) = (EventList::new()?, EventList::new()?);
        let wake = Arc::new(Wakeup::new()?, GFP_KERNEL)?;
        let al = Arc::pin_init(
            pin_init!(Self {
                minor,
                cache <- kernel::new_spinlock!(cache, "drbd_rs:al_cache"),
                writing <- kernel::new_mutex!((), "drbd_rs:al_writing"),
                deferred,
                ended,
                starved: AtomicBool::new(false),
                wake,
                stopping: AtomicBool::new(false),
                disabled: AtomicBool::new(false),
                meta,
                geometry,
                bm_area_pages,
            }),
            GFP_KERNEL,
        )?;
        // The transaction block is allocated once, here: the thread never needs memory to
        // write one.
        let block = sys::zeroed_block::<AL_TRANSACTION_SIZE>()?;
        let for_thread = al.clone();
        let thread = Kthread::spawn(format_args!("drbd{minor}_submit"), move || {
            for_thread.submitter(io, block)
        })?;
        let submitter = Submitter {
            al: al.clone(),
            thread: Some(thread),
        };
        Ok((al, submitter))
    }

    /// Whether the AL is written at all.
    pub(crate) fn enabled(&self) -> bool {
        !self.disabled.load(Ordering::Acquire)
    }

    /// Stop writing the AL (the meta data is about to move); writes no longer wait for it.
    /// When this returns, no transaction is being written and none will be.
    pub(crate) fn disable(&self) {
        self.disabled.store(true, Ordering::Release);
        drop(self.writing.lock());
        self.wake.kick();
    }

    /// `submit_bio`'s fast path: true if `range` is hot (a reference is taken on each
    /// extent; give them back with [`ActivityLog::end`]).
    pub(crate) fn begin_if_active(&self, range: ExtentRange) -> bool {
        range.is_empty() || self.cache.lock().begin_if_active(range)
    }

    /// Hand a write whose extents are not hot to `drbdN_submit`.
    pub(crate) fn defer(&self, device: Ticket<DeviceIo>, bio: Bio) {
        let _noio = NoIo::enter();
        match Event::new() {
            Ok(mut event) => {
                event.set(Deferred { device, bio });
                self.deferred.push(event);
                self.wake.kick();
            }
            Err(e) => fail(Deferred { device, bio }, e),
        }
    }

    /// The writes of `range` are over (process context).
    pub(crate) fn end(&self, range: ExtentRange) {
        if range.is_empty() {
            return;
        }
        // Writes admitted while the AL was off took no references.
        if self.cache.lock().end_range(range).is_err() && self.enabled() {
            pr_warn!(
                "drbd{}: activity log: end of a write it did not know\n",
                self.minor
            );
        }
        if self.starved.load(Ordering::Acquire) {
            self.wake.kick();
        }
    }

    /// An event for [`ActivityLog::end_from_completion`], allocated where that may sleep.
    pub(crate) fn end_event(&self) -> Result<Event<ExtentRange>> {
        let _noio = NoIo::enter();
        Event::new()
    }

    /// The writes of `range` are over, in a bio completion (any context): the submitter
    /// thread gives the references back.
    pub(crate) fn end_from_completion(&self, mut event: Event<ExtentRange>, range: ExtentRange) {
        event.set(range);
        self.ended.push(event);
        self.wake.kick();
    }

    /// `drbdN_submit`: admit waiting writes, write their transaction, send them on.
    fn submitter(&self, io: Arc<Drained<DeviceIo>>, mut block: KBox<[u8; AL_TRANSACTION_SIZE]>) {
        let mut waiting: KVec<Deferred> = KVec::new();
        loop {
            if waiting.is_empty() || self.starved.load(Ordering::Acquire) {
                // Once stopping, the kick that said so may have been consumed already: poll.
                let stopping = self.stopping.load(Ordering::Acquire);
                self.wake.wait(if stopping { 10 } else { 0 });
            }
            let stopping = self.stopping.load(Ordering::Acquire);
            let _noio = NoIo::enter();
            for range in self.ended.take_all() {
                self.end(range);
            }
            for d in self.deferred.take_all() {
                if let Some(d) = push_reserved(&mut waiting, d) {
                    fail(d, ENOMEM);
                }
            }
            // Room for every outcome, made before the lock (nothing allocates under it).
            let (Ok(mut ready), Ok(mut still_waiting)) = (
                KVec::with_capacity(waiting.len(), GFP_KERNEL),
                KVec::with_capacity(waiting.len(), GFP_KERNEL),
            ) else {
                // What waits fails (nothing of it was written).
                waiting.into_iter().for_each(|d| fail(d, ENOMEM));
                waiting = KVec::new();
                continue;
            };
            let mut evicted = [0u32; AL_UPDATES_PER_TRANSACTION];
            let (transaction, n_evicted) = {
                let mut cache = self.cache.lock();
                let mut starved = false;
                for d in waiting.into_iter() {
                    let range = io::write_extents(&d.bio);
                    let admitted = !self.enabled()
                        || range.is_empty()
                        || cache.begin_range(range) != RangeBegin::Busy;
                    starved |= !admitted;
                    let target: &mut KVec<Deferred> = if admitted {
                        &mut ready
                    } else {
                        &mut still_waiting
                    };
                    // Within the capacity reserved above: cannot fail.
                    let _ = target.push(d, GFP_NOWAIT);
                }
                self.starved.store(starved, Ordering::Release);
                match self
                    .enabled()
                    .then(|| cache.next_transaction(&mut block))
                    .flatten()
                {
                    Some(t) => (Some(t), cache.evicted(&mut evicted)),
                    None => (None, 0),
                }
            };
            waiting = still_waiting;
            if let Some(t) = transaction {
                let writing = self.writing.lock();
                if !self.enabled() {
                    // Disabled meanwhile: its location may be data now. The writes go
                    // without it (the superblock says the AL is off).
                    drop(writing);
                    self.cache.lock().transaction_failed();
                    for d in ready.into_iter() {
                        io::submit_admitted(io.as_arc_borrow(), d.device, d.bio);
                    }
                    continue;
                }
                let written = self
                    .write_evicted_bitmap(&io, evicted.get(..n_evicted).unwrap_or(&[]))
                    .and_then(|()| {
                        self.meta.write_block(
                            al_transaction_sector(&self.geometry, t.tr_number),
                            &block,
                            true,
                        )
                    });
                drop(writing);
                let mut cache = self.cache.lock();
                if written.is_ok() {
                    let _ = cache.transaction_written();
                    drop(cache);
                    io.counters.al_writes.fetch_add(1, Ordering::Relaxed);
                } else {
                    cache.transaction_failed();
                    drop(cache);
                    pr_err!(
                        "drbd{}: activity log transaction {} not written; its writes fail\n",
                        self.minor,
                        t.tr_number
                    );
                    for d in ready.into_iter() {
                        if self.enabled() {
                            self.end(io::write_extents(&d.bio));
                        }
                        fail(d, EIO);
                    }
                    continue;
                }
            }
            for d in ready.into_iter() {
                io::submit_admitted(io.as_arc_borrow(), d.device, d.bio);
            }
            if stopping && waiting.is_empty() {
                return;
            }
        }
    }

    /// Write the bitmap pages covering `extents` (before the transaction that evicts them,
    /// so the on-disk bitmap is right for everything outside the AL).
    fn write_evicted_bitmap(&self, io: &DeviceIo, extents: &[u32]) -> Result {
        // In turn with the other bitmap writers (see `DeviceIo::bitmap_writes`).
        let _serial = io.bitmap_writes.lock();
        let mut last_page = None;
        let mut page = sys::zeroed_block::<BM_PAGE_SIZE>()?;
        for &e in extents {
            let p = u64::from(e) / AL_EXTENTS_PER_BM_PAGE;
            if last_page == Some(p) || p >= self.bm_area_pages {
                continue;
            }
            let copied = io
                .bitmap
                .lock()
                .as_ref()
                .filter(|bm| p < bm.pages())
                .map(|bm| bm.page(p, &mut page))
                .is_some();
            if copied {
                self.meta
                    .write_block(self.geometry.bm_sector() + p * 8, &page, false)?;
            }
            last_page = Some(p);
        }
        Ok(())
    }
}

/// Append `d` to `v`, growing it; gives `d` back if there is no memory.
fn push_reserved(v: &mut KVec<Deferred>, d: Deferred) -> Option<Deferred> {
    if v.reserve(1, GFP_KERNEL).is_err() {
        return Some(d);
    }
    // Reserved: cannot fail.
    let _ = v.push(d, GFP_NOWAIT);
    None
}

/// A write that cannot be done: its bio fails (nothing of it was written).
fn fail(d: Deferred, err: Error) {
    drop(d.device);
    d.bio.end(err.to_errno());
}
