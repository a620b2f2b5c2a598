// SPDX-License-Identifier: GPL-2.0
//! The I/O side of a device: what `/dev/drbdN` does with opens and bios.
//!
//! A write first needs its activity-log extents (hot ones at once, cold ones through
//! `drbdN_submit`, see [`crate::engine::al`]). Without a connection a bio is then cloned to the
//! lower device and the upper bio completes with the clone's result; with one, the link plans
//! it with the replica (the upper bio then waits for what the protocol demands).

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::error::code::{EIO, EROFS};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLock};

use crate::drbd_core::al_cache::ExtentRange;
use crate::drbd_core::proc_text::{Counters as ProcCounters, WriteOrdering};
use crate::drbd_core::replication::writes::WriteFlags;
use crate::engine::al::ActivityLog;
use crate::engine::bitmap::DeviceBitmap;
use crate::engine::link::Link;
use crate::glue::block::{Bio, BioOp, BioSet, CloneDone, DiskOps, LowerDevice};
use crate::glue::drain::{Drained, Ticket};
use crate::glue::errno::{emediumtype, eopnotsupp};
use crate::glue::events::Event;
use crate::glue::pagebuf::PageBuf;
use crate::glue::sys::NoIo;

/// Counters shown in /proc/drbd; bytes are accumulated in sectors and shown in KiB.
#[derive(Default)]
pub(crate) struct Counters {
    /// Sectors sent to the peer (`ns`).
    pub(crate) net_sent: AtomicU32,
    /// Sectors received from the peer (`nr`).
    pub(crate) net_received: AtomicU32,
    /// Sectors written to the lower device (`dw`).
    pub(crate) disk_written: AtomicU32,
    /// Sectors read from the lower device (`dr`).
    pub(crate) disk_read: AtomicU32,
    /// Activity-log transactions written (`al`).
    pub(crate) al_writes: AtomicU32,
    /// Lower-device I/Os in flight (`lo`).
    pub(crate) local_pending: AtomicU32,
    /// Application bios accepted, not yet completed (`ap`).
    pub(crate) app_pending: AtomicU32,
}

impl Counters {
    /// Start over (on attach), as drbd does for `ns nr dw dr`.
    pub(crate) fn reset_traffic(&self) {
        for c in [
            &self.net_sent,
            &self.net_received,
            &self.disk_written,
            &self.disk_read,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Start over on `connect`, as drbd does for `ns nr` (a new connection's traffic).
    pub(crate) fn reset_network(&self) {
        self.net_sent.store(0, Ordering::Relaxed);
        self.net_received.store(0, Ordering::Relaxed);
    }

    /// The counters as /proc/drbd and status messages report them.
    pub(crate) fn snapshot(&self) -> ProcCounters {
        let get = |c: &AtomicU32| c.load(Ordering::Relaxed);
        ProcCounters {
            send_sectors: get(&self.net_sent),
            recv_sectors: get(&self.net_received),
            write_sectors: get(&self.disk_written),
            read_sectors: get(&self.disk_read),
            al_writes: get(&self.al_writes),
            bm_writes: 0,
            local: get(&self.local_pending) as i32,
            ap_pending: 0,
            rs_pending: 0,
            unacked: 0,
            ap_bio: get(&self.app_pending) as i32,
            epochs: 1,
            write_ordering: WriteOrdering::Flush,
        }
    }
}

/// Role and openers, changed together: a demotion must see every opener, and an open must
/// see every demotion.
pub(crate) struct Openers {
    /// This node is Primary.
    pub(crate) primary: bool,
    /// Number of openers of `/dev/drbdN`.
    pub(crate) count: u32,
}

/// State of a device the I/O path reads on every bio. It lives in a [`Drained`]: bios in
/// submission or in flight borrow it through [`Ticket`]s, not references, so the last
/// reference is never dropped in a bio's completion (interrupt) context.
#[pin_data]
pub(crate) struct DeviceIo {
    /// Mirror of `openers.primary` for the bio path (no lock per bio).
    primary: AtomicBool,
    /// Role and open count.
    #[pin]
    openers: SpinLock<Openers>,
    /// Counters for /proc/drbd.
    pub(crate) counters: Counters,
    /// The attached lower device, if any.
    #[pin]
    pub(crate) backing: SpinLock<Option<Arc<LowerDevice>>>,
    /// The quick-sync bitmap while attached.
    #[pin]
    pub(crate) bitmap: SpinLock<Option<DeviceBitmap>>,
    /// Held by whoever writes bitmap pages to the meta data (the link, the resync's
    /// progress write-out, activity-log evictions, detach): a page copied earlier must not
    /// land on the disk after one copied later.
    #[pin]
    pub(crate) bitmap_writes: Mutex<()>,
    /// Pool for clones (module-wide).
    pub(crate) pool: Arc<Pin<KBox<BioSet>>>,
    /// The connection to the peer, while a net config exists: writes go through it.
    #[pin]
    pub(crate) link: SpinLock<Option<Arc<Link>>>,
    /// The activity log while attached (unless `al-updates no`).
    #[pin]
    pub(crate) al: SpinLock<Option<Arc<ActivityLog>>>,
}

impl DeviceIo {
    /// A device that is Secondary and diskless.
    pub(crate) fn new(pool: Arc<Pin<KBox<BioSet>>>) -> impl PinInit<Self> {
        pin_init!(Self {
            primary: AtomicBool::new(false),
            openers <- kernel::new_spinlock!(Openers { primary: false, count: 0 }, "drbd_rs:openers"),
            counters: Counters::default(),
            backing <- kernel::new_spinlock!(None, "drbd_rs:backing"),
            bitmap <- kernel::new_spinlock!(None, "drbd_rs:bitmap"),
            bitmap_writes <- kernel::new_mutex!((), "drbd_rs:bitmap_writes"),
            pool,
            link <- kernel::new_spinlock!(None, "drbd_rs:io_link"),
            al <- kernel::new_spinlock!(None, "drbd_rs:io_al"),
        })
    }

    fn al(&self) -> Option<Arc<ActivityLog>> {
        self.al.lock().clone()
    }

    /// A write's activity-log extents are free again (process context).
    pub(crate) fn al_end(&self, range: ExtentRange) {
        if let Some(al) = self.al() {
            al.end(range);
        }
    }

    fn backing(&self) -> Option<Arc<LowerDevice>> {
        self.backing.lock().clone()
    }

    /// Install a new bitmap (or none) and return the old one. The caller drops it after the
    /// lock is released: freeing a large (vmalloc'ed) bitmap may sleep.
    #[must_use = "drop the old bitmap outside the lock"]
    pub(crate) fn replace_bitmap(&self, new: Option<DeviceBitmap>) -> Option<DeviceBitmap> {
        core::mem::replace(&mut *self.bitmap.lock(), new)
    }

    /// Out-of-sync bits and total bits of the attached device's bitmap.
    pub(crate) fn bitmap_weight(&self) -> Option<(u64, u64)> {
        self.bitmap.lock().as_ref().map(|b| (b.weight(), b.bits()))
    }

    /// Whether anyone has `/dev/drbdN` open.
    pub(crate) fn is_open(&self) -> bool {
        self.openers.lock().count > 0
    }

    /// Become Primary (`true`) or Secondary; demotion fails with the open count while
    /// anyone has the device open.
    pub(crate) fn set_primary(&self, primary: bool) -> Result<(), u32> {
        let mut openers = self.openers.lock();
        if !primary && openers.count > 0 {
            return Err(openers.count);
        }
        openers.primary = primary;
        self.primary.store(primary, Ordering::Release);
        Ok(())
    }
}

impl Drained<DeviceIo> {
    /// Stop using the lower device: new bios no longer see it, and when this returns no bio
    /// is in flight to it any more (without a time limit: a lower device that never completes
    /// a bio hangs its detach, as it would in drbd). Returns it for the caller to close.
    pub(crate) fn take_backing(&self) -> Option<Arc<LowerDevice>> {
        let lower = self.backing.lock().take();
        self.wait_idle();
        lower
    }
}

/// One upper bio in flight to the lower device. Its ticket keeps the device (and through
/// detach's wait, the lower device) alive until the clone has completed.
struct LocalRequest {
    device: Ticket<DeviceIo>,
    op: BioOp,
    sectors: u32,
    /// A write's activity-log extents, given back when it is over.
    al: Option<AlRelease>,
}

/// What a local write gives back to the activity log from its completion.
struct AlRelease {
    al: Arc<ActivityLog>,
    event: Event<ExtentRange>,
    range: ExtentRange,
}

impl LocalRequest {
    fn finish(self, upper: Bio, errno: c_int) {
        if let Some(r) = self.al {
            // Never the last reference: a detach waits for this request's ticket before it
            // drops the activity log.
            r.al.end_from_completion(r.event, r.range);
        }
        let counters = &self.device.counters;
        if errno == 0 {
            match self.op {
                BioOp::Write | BioOp::WriteZeroes => {
                    counters
                        .disk_written
                        .fetch_add(self.sectors, Ordering::Relaxed);
                }
                BioOp::Read => {
                    counters
                        .disk_read
                        .fetch_add(self.sectors, Ordering::Relaxed);
                }
                BioOp::Flush | BioOp::Discard | BioOp::Other => {}
            }
        }
        counters.local_pending.fetch_sub(1, Ordering::Relaxed);
        counters.app_pending.fetch_sub(1, Ordering::Relaxed);
        upper.end(errno);
        // The ticket goes last: after it nothing of the device may be touched.
        drop(self.device);
    }
}

impl CloneDone for LocalRequest {
    fn done(self, upper: Bio, errno: c_int) {
        self.finish(upper, errno);
    }
}

impl DiskOps for Drained<DeviceIo> {
    fn submit_bio(self: ArcBorrow<'_, Self>, bio: Bio) {
        // Secondary refuses to be opened, but a bio may still race with a demotion.
        if !self.primary.load(Ordering::Acquire) {
            bio.end(EIO.to_errno());
            return;
        }
        // Counted before the lower device is looked up, and held until our reference to it is
        // dropped: a detach that no longer sees this submission in flight knows that nothing
        // here still uses the lower device. (Declared first, so dropped last.)
        let _submitting = Drained::enter(self);
        let Some(backing) = self.backing() else {
            // Diskless without a peer: nowhere to read or write.
            bio.end(EIO.to_errno());
            return;
        };
        let op = bio.op();
        if op == BioOp::Other {
            bio.end(eopnotsupp().to_errno());
            return;
        }
        let device = Drained::enter(self);
        let range = write_extents(&bio);
        if !range.is_empty() {
            if let Some(al) = self.al() {
                if al.enabled() && !al.begin_if_active(range) {
                    al.defer(device, bio);
                    return;
                }
            }
        }
        drop(backing);
        submit_admitted(self, device, bio);
    }

    fn open(self: ArcBorrow<'_, Self>, write: bool) -> c_int {
        // As drbd 8.4: only a Primary can be opened; a Secondary refuses writers with
        // EROFS and readers with EMEDIUMTYPE.
        let mut openers = self.openers.lock();
        if !openers.primary {
            return if write {
                EROFS.to_errno()
            } else {
                emediumtype().to_errno()
            };
        }
        openers.count += 1;
        0
    }

    fn release(self: ArcBorrow<'_, Self>) {
        let mut openers = self.openers.lock();
        openers.count = openers.count.saturating_sub(1);
    }
}

/// The activity-log extents a bio writes to (none for reads and flushes).
pub(crate) fn write_extents(bio: &Bio) -> ExtentRange {
    match bio.op() {
        BioOp::Write | BioOp::WriteZeroes | BioOp::Discard => {
            ExtentRange::of(bio.sector(), bio.size())
        }
        BioOp::Read | BioOp::Flush | BioOp::Other => ExtentRange::of(0, 0),
    }
}

/// A bio whose activity-log extents (if it writes) are on disk: to the peer and the lower
/// device, or only the latter. `device` is its ticket.
pub(crate) fn submit_admitted(
    io: ArcBorrow<'_, Drained<DeviceIo>>,
    device: Ticket<DeviceIo>,
    bio: Bio,
) {
    let op = bio.op();
    let range = write_extents(&bio);
    let Some(backing) = io.backing() else {
        // Detached meanwhile (a deferred write): nowhere to write.
        io.al_end(range);
        bio.end(EIO.to_errno());
        return;
    };
    if op != BioOp::Read {
        let link = io.link.lock().clone();
        if let Some(link) = link {
            submit_replicated(&link, bio, op);
            return;
        }
    }
    if matches!(op, BioOp::Write | BioOp::WriteZeroes | BioOp::Discard) {
        // No peer sees this write: the blocks now differ from any peer's copy. Marked before
        // the write is submitted, so the bitmap never claims "in sync" for data that reached
        // the disk.
        if let Some(bm) = io.bitmap.lock().as_mut() {
            bm.set_out_of_sync(bio.sector(), u64::from(bio.size() >> 9));
        }
    }
    let al = match (range.is_empty(), io.al()) {
        (false, Some(al)) => match al.end_event() {
            Ok(event) => Some(AlRelease { al, event, range }),
            Err(e) => {
                al.end(range);
                bio.end(e.to_errno());
                return;
            }
        },
        _ => None,
    };
    io.counters.app_pending.fetch_add(1, Ordering::Relaxed);
    io.counters.local_pending.fetch_add(1, Ordering::Relaxed);
    let request = LocalRequest {
        device,
        op,
        sectors: bio.size() >> 9,
        al,
    };
    if let Err((bio, err)) = bio.submit_clone(&backing, &io.pool, request) {
        // The request was consumed (its extents with it); account for a failed local I/O.
        io.al_end(range);
        io.counters.local_pending.fetch_sub(1, Ordering::Relaxed);
        io.counters.app_pending.fetch_sub(1, Ordering::Relaxed);
        bio.end(err.to_errno());
    }
}

/// A write (or flush, discard, zeroes) on a device with a connection: the link decides
/// with the replica whether and how the peer gets it.
fn submit_replicated(link: &Arc<Link>, bio: Bio, op: BioOp) {
    if matches!(op, BioOp::Discard | BioOp::WriteZeroes | BioOp::Other) {
        // Not replicated yet (the trim feature is not offered to the peer): refused on both
        // nodes alike, so the disks never differ. Callers of write-zeroes fall back to
        // writing zero pages; discards are advisory.
        link.io().al_end(write_extents(&bio));
        bio.end(eopnotsupp().to_errno());
        return;
    }
    let flags = WriteFlags {
        fua: bio.fua(),
        flush: bio.preflush() || op == BioOp::Flush,
        sync: bio.sync(),
        discard: op == BioOp::Discard,
        zeroes: op == BioOp::WriteZeroes,
    };
    let data = if op == BioOp::Write && bio.size() > 0 {
        let _noio = NoIo::enter();
        let copied = PageBuf::new(bio.size() as usize).and_then(|mut buf| {
            buf.copy_from_bio(&bio)?;
            Ok(buf)
        });
        match copied {
            Ok(buf) => Some(buf),
            Err(e) => {
                link.io().al_end(write_extents(&bio));
                bio.end(e.to_errno());
                return;
            }
        }
    } else {
        None
    };
    link.as_arc_borrow().submit_write(bio, flags, data);
}
