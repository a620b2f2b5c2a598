// SPDX-License-Identifier: GPL-2.0
//! Bio-based block devices (`/dev/drbdN`), the bios they receive, and lower devices.
//!
//! DRBD is bio-based (`submit_bio` in its block_device_operations), which 6.12's Rust block
//! layer (blk-mq only) does not cover. The types here are small RAII owners: a [`Major`]
//! registration, a [`Disk`] (gendisk), a [`BioSet`], an upper [`Bio`] that must be ended
//! exactly once, and a [`LowerDevice`] opened exclusively.

use core::ffi::{c_int, c_void, CStr};
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::page::Page;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;

use super::ffi;

/// A registered block major number; unregistered on drop.
pub(crate) struct Major {
    major: u32,
    name: &'static CStr,
}

impl Major {
    /// Register `major` (non-zero) under `name` (shown in /proc/devices).
    pub(crate) fn register(major: u32, name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated static; no probe callback.
        let ret = unsafe { bindings::__register_blkdev(major, name.as_ptr().cast(), None) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Self { major, name })
    }

    /// The major number.
    pub(crate) fn number(&self) -> u32 {
        self.major
    }
}

impl Drop for Major {
    fn drop(&mut self) {
        // SAFETY: registered in `register` with the same number and name.
        unsafe { bindings::unregister_blkdev(self.major, self.name.as_ptr().cast()) };
    }
}

/// A pool of bios for clones sent to lower devices.
///
/// # Invariants
///
/// `inner` is initialized by `bioset_init` and exited in `drop`.
#[pin_data(PinnedDrop)]
pub(crate) struct BioSet {
    #[pin]
    inner: Opaque<bindings::bio_set>,
}

// SAFETY: a bio_set is designed for concurrent use from any context.
unsafe impl Send for BioSet {}
// SAFETY: as above.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A pool that guarantees `pool_size` bios under memory pressure. Every bio carries
    /// [`CLONE_CONTEXT_SIZE`] bytes in front of it for its completion context.
    pub(crate) fn new(pool_size: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // SAFETY: the closure fully initializes the slot or fails without leaving anything
            // to clean up (bioset_init undoes its own partial work). `slot` is valid, pinned
            // memory for a bio_set; no bvec pool (clones share the upper bio's pages).
            inner <- unsafe {
                kernel::init::pin_init_from_closure(move |slot: *mut Opaque<bindings::bio_set>| {
                    // bioset_init() expects zeroed memory (mempool counters start at 0).
                    let raw = Opaque::raw_get(slot);
                    core::ptr::write_bytes(raw, 0, 1);
                    let ret = bindings::bioset_init(raw, pool_size, CLONE_CONTEXT_SIZE as u32, 0);
                    if ret < 0 { Err(Error::from_errno(ret)) } else { Ok(()) }
                })
            },
        })
    }

    fn as_ptr(&self) -> *mut bindings::bio_set {
        self.inner.get()
    }
}

#[pinned_drop]
impl PinnedDrop for BioSet {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialized (type invariant); all clones have completed by the time the
        // owner drops the pool (devices are torn down first).
        unsafe { bindings::bioset_exit(self.inner.get()) };
    }
}

/// Kind of a block request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BioOp {
    /// Read.
    Read,
    /// Write.
    Write,
    /// Cache flush (no data).
    Flush,
    /// Discard.
    Discard,
    /// Write zeroes.
    WriteZeroes,
    /// Anything else (not supported by DRBD).
    Other,
}

/// A bio submitted to one of our disks; must be ended exactly once (consumed by `end`).
///
/// # Invariants
///
/// `bio` is a live bio owned by us until `end` is called.
pub(crate) struct Bio {
    bio: NonNull<bindings::bio>,
}

// SAFETY: a bio may be completed from any context.
unsafe impl Send for Bio {}

impl Bio {
    fn raw(&self) -> &bindings::bio {
        // SAFETY: live (type invariant) and not mutated concurrently while we own it.
        unsafe { self.bio.as_ref() }
    }

    /// First sector.
    pub(crate) fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// Operation.
    pub(crate) fn op(&self) -> BioOp {
        match self.raw().bi_opf & ((1 << bindings::REQ_OP_BITS) - 1) {
            bindings::req_op_REQ_OP_READ => BioOp::Read,
            bindings::req_op_REQ_OP_WRITE => BioOp::Write,
            bindings::req_op_REQ_OP_FLUSH => BioOp::Flush,
            bindings::req_op_REQ_OP_DISCARD => BioOp::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => BioOp::WriteZeroes,
            _ => BioOp::Other,
        }
    }

    /// Complete the bio with `errno` (0 = success).
    pub(crate) fn end(self, errno: c_int) {
        let bio = self.bio.as_ptr();
        // SAFETY: live and ours (type invariant); errno_to_blk_status accepts any errno.
        unsafe {
            (*bio).bi_status = bindings::errno_to_blk_status(errno);
            bindings::bio_endio(bio);
        }
    }

    /// Send a clone of this bio to `lower`. When the clone completes (in interrupt
    /// context), `ctx.done(upper, errno)` gets this bio back with 0 or a negative errno. If
    /// no clone can be made, the bio comes back at once with the error.
    ///
    /// The context lives in the clone's front pad: no allocation besides the mempool's.
    pub(crate) fn submit_clone<C: CloneDone>(
        self,
        lower: &LowerDevice,
        pool: &BioSet,
        ctx: C,
    ) -> Result<(), (Bio, Error)> {
        const { assert!(core::mem::size_of::<Pending<C>>() <= CLONE_CONTEXT_SIZE) };
        const { assert!(core::mem::align_of::<Pending<C>>() <= 8) };
        // SAFETY: `self.bio` is live; `lower.bdev` is an open block device; `pool` is an
        // initialized bio_set that outlives all clones (see `BioSet::drop`).
        let clone = unsafe {
            ffi::drbd_rs_bio_clone(lower.bdev.as_ptr(), self.bio.as_ptr(), pool.as_ptr())
        };
        if clone.is_null() {
            return Err((self, ENOMEM));
        }
        // SAFETY: bios of `pool` have CLONE_CONTEXT_SIZE bytes of front pad (see `BioSet::new`),
        // 8-byte aligned (slab objects), unused by the block layer: room for `Pending<C>`
        // (size and alignment asserted above). Read back exactly once in `clone_end_io::<C>`.
        unsafe {
            context_of::<C>(clone).write(Pending { upper: self, ctx });
            (*clone).bi_end_io = Some(clone_end_io::<C>);
            bindings::submit_bio_noacct(clone);
        }
        Ok(())
    }
}

/// Bytes in front of every clone for its [`CloneDone`] context.
pub(crate) const CLONE_CONTEXT_SIZE: usize = 64;

/// Where a clone's context lives.
///
/// # Safety
///
/// `clone` was allocated from a [`BioSet`].
unsafe fn context_of<C>(clone: *mut bindings::bio) -> *mut Pending<C> {
    // SAFETY: per the contract, the front pad precedes the bio in the same allocation.
    unsafe { clone.cast::<u8>().sub(CLONE_CONTEXT_SIZE).cast() }
}

/// An upper bio and the context of its clone, from submission to completion.
struct Pending<C> {
    upper: Bio,
    ctx: C,
}

/// Completion of a clone sent to a lower device. Runs in interrupt context: no sleeping.
pub(crate) trait CloneDone: Send + Sized {
    /// The clone of `upper` finished with `errno` (0 = success); `upper` must be ended.
    fn done(self, upper: Bio, errno: c_int);
}

/// # Safety
///
/// Only installed by `submit_clone::<C>`, which wrote a `Pending<C>` into the front pad.
unsafe extern "C" fn clone_end_io<C: CloneDone>(clone: *mut bindings::bio) {
    // SAFETY: `clone` is the completing clone; its status and front pad are ours to read,
    // and the context is read exactly once, before the clone is freed.
    let (status, pending) = unsafe { ((*clone).bi_status, context_of::<C>(clone).read()) };
    // SAFETY: the clone is done; this frees it (and its front pad, already read).
    unsafe { bindings::bio_put(clone) };
    // SAFETY: any status value is accepted.
    let errno = unsafe { bindings::blk_status_to_errno(status) };
    let Pending { upper, ctx } = pending;
    ctx.done(upper, errno);
}

/// Callbacks of a [`Disk`]; they get a borrowed `Arc` so that requests can keep the device.
pub(crate) trait DiskOps: Send + Sync {
    /// A bio for this disk; it must end, now or later.
    fn submit_bio(self: ArcBorrow<'_, Self>, bio: Bio);
    /// The device is being opened; return 0 or a negative errno to refuse.
    fn open(self: ArcBorrow<'_, Self>, write: bool) -> c_int;
    /// An opener closed the device.
    fn release(self: ArcBorrow<'_, Self>);
}

/// Meta-data I/O unit (one page; the kernel's PAGE_SIZE on our targets).
pub(crate) const BLOCK_SIZE: usize = 4096;
const _: () = assert!(BLOCK_SIZE == kernel::page::PAGE_SIZE);

/// Largest bio we accept (DRBD_MAX_BIO_SIZE, 1 MiB), in sectors.
pub(crate) const MAX_BIO_SECTORS: u32 = (1 << 20) >> 9;

/// A bio-based gendisk `/dev/drbdN`, removed on drop.
///
/// # Invariants
///
/// `disk` was allocated by `drbd_rs_disk_alloc` with `private_data` = `ops` (a leaked
/// `KBox<Arc<dyn DiskOps>>`); `added` says whether it is visible (device_add_disk done).
/// The box lives as long as the gendisk can call back: until the block layer's `free_disk`
/// for an added disk (an opener may still hold it after `del_gendisk`), until `drop` for one
/// never added (the block layer calls `free_disk` only for added disks).
pub(crate) struct Disk {
    disk: NonNull<bindings::gendisk>,
    ops: *mut Arc<dyn DiskOps>,
    added: bool,
}

// SAFETY: gendisk operations used here may be called from any thread.
unsafe impl Send for Disk {}
// SAFETY: `&Disk` only allows operations that the block layer serializes itself.
unsafe impl Sync for Disk {}

impl Disk {
    /// Allocate `/dev/drbd<minor>` (not yet visible; see [`Disk::add`]).
    pub(crate) fn new(major: &Major, minor: u32, ops: Arc<dyn DiskOps>) -> Result<Self> {
        let ops = KBox::into_raw(KBox::new(ops, GFP_KERNEL)?);
        let minor_c = c_int::try_from(minor).map_err(|_| EINVAL)?;
        // SAFETY: arguments are plain values; `ops` stays valid until `drop`.
        let disk = unsafe {
            ffi::drbd_rs_disk_alloc(
                major.number() as c_int,
                minor_c,
                MAX_BIO_SECTORS,
                ops.cast(),
            )
        };
        match kernel::error::from_err_ptr(disk).map(NonNull::new) {
            Ok(Some(disk)) => Ok(Self {
                disk,
                ops,
                added: false,
            }),
            failed => {
                // SAFETY: the disk does not exist, nothing else holds `ops`.
                drop(unsafe { KBox::from_raw(ops) });
                Err(failed.err().unwrap_or(ENOMEM))
            }
        }
    }

    /// Make the device visible to user space.
    pub(crate) fn add(&mut self) -> Result {
        // SAFETY: allocated, not yet added (checked); no parent device or attribute groups.
        let ret = unsafe {
            bindings::device_add_disk(
                core::ptr::null_mut(),
                self.disk.as_ptr(),
                core::ptr::null_mut(),
            )
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        self.added = true;
        Ok(())
    }

    /// Set the size the device shows, in 512-byte sectors, and tell user space (a uevent
    /// with RESIZE=1, as for any disk whose size changes while it is visible).
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: the disk is live; set_capacity_and_notify takes the disk's own lock and
        // only notifies when the disk is visible and the size really changed.
        unsafe { bindings::set_capacity_and_notify(self.disk.as_ptr(), sectors) };
    }

    /// Adopt the lower device's queue limits (block sizes, discard support, ...).
    pub(crate) fn stack_limits(&self, lower: &LowerDevice) -> Result {
        // SAFETY: both devices are live; the shim uses the queue-limits update protocol.
        let ret = unsafe {
            ffi::drbd_rs_disk_stack_limits(self.disk.as_ptr(), lower.bdev.as_ptr(), MAX_BIO_SECTORS)
        };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.added {
            // SAFETY: the disk is live and added (type invariant). del_gendisk() stops new
            // opens and bios; callbacks still possible afterwards (a release by an opener
            // that outlives it) find the ops box, which `drbd_rs_disk_free` frees once the
            // last reference is gone. put_disk() drops ours.
            unsafe {
                bindings::del_gendisk(self.disk.as_ptr());
                bindings::put_disk(self.disk.as_ptr());
            }
        } else {
            // SAFETY: never added, so never opened and no free_disk callback will come;
            // after put_disk() nothing refers to the box.
            unsafe {
                bindings::put_disk(self.disk.as_ptr());
                drop(KBox::from_raw(self.ops));
            }
        }
    }
}

/// # Safety
///
/// `private` is the `private_data` of one of our disks (set by `Disk::new`), still alive.
unsafe fn disk_ops<'a>(private: *mut c_void) -> &'a Arc<dyn DiskOps> {
    // SAFETY: per the contract.
    unsafe { &*private.cast::<Arc<dyn DiskOps>>() }
}

#[no_mangle]
unsafe extern "C" fn drbd_rs_submit_bio(private: *mut c_void, bio: *mut bindings::bio) {
    // SAFETY: called by the block layer for a disk of ours with a live bio that we now own.
    let (ops, bio) = unsafe {
        (
            disk_ops(private),
            Bio {
                bio: NonNull::new_unchecked(bio),
            },
        )
    };
    ops.as_arc_borrow().submit_bio(bio);
}

#[no_mangle]
unsafe extern "C" fn drbd_rs_disk_open(private: *mut c_void, write: bool) -> c_int {
    // SAFETY: called by the block layer for a disk of ours.
    unsafe { disk_ops(private) }.as_arc_borrow().open(write)
}

#[no_mangle]
unsafe extern "C" fn drbd_rs_disk_release(private: *mut c_void) {
    // SAFETY: called by the block layer for a disk of ours.
    unsafe { disk_ops(private) }.as_arc_borrow().release()
}

#[no_mangle]
unsafe extern "C" fn drbd_rs_disk_free(private: *mut c_void) {
    // SAFETY: called once, by the block layer's free_disk for an added disk of ours, when no
    // other callback can come: the box leaked by `Disk::new` is ours to free.
    drop(unsafe { KBox::from_raw(private.cast::<Arc<dyn DiskOps>>()) });
}

/// A lower (backing or meta-data) block device, opened read-write and exclusively.
///
/// # Invariants
///
/// `file` is an open block-device file and `bdev` its block device.
pub(crate) struct LowerDevice {
    file: NonNull<bindings::file>,
    bdev: NonNull<bindings::block_device>,
}

// SAFETY: an open block device may be used and closed from any thread.
unsafe impl Send for LowerDevice {}
// SAFETY: I/O submission on a block device is thread-safe.
unsafe impl Sync for LowerDevice {}

impl LowerDevice {
    /// Open the block device at `path` (NUL-terminated) for `holder` (exclusive: a second
    /// open with another holder fails with EBUSY).
    pub(crate) fn open(path: &CStr, holder: *mut c_void) -> Result<Self> {
        // SAFETY: `path` is NUL-terminated; `holder` is only compared by the block layer.
        let file = unsafe { ffi::drbd_rs_bdev_open(path.as_ptr(), holder) };
        let file = match kernel::error::from_err_ptr(file).map(NonNull::new) {
            Ok(Some(file)) => file,
            failed => return Err(failed.err().unwrap_or(ENOMEM)),
        };
        // SAFETY: `file` is an open block-device file.
        let bdev = unsafe { bindings::file_bdev(file.as_ptr()) };
        let Some(bdev) = NonNull::new(bdev) else {
            // SAFETY: we own the file reference.
            unsafe { bindings::fput(file.as_ptr()) };
            return Err(EINVAL);
        };
        Ok(Self { file, bdev })
    }

    /// Size in 512-byte sectors.
    pub(crate) fn sectors(&self) -> u64 {
        // SAFETY: the device is open (type invariant).
        unsafe { ffi::drbd_rs_bdev_nr_sectors(self.bdev.as_ptr()) }
    }

    /// Whether both are the same block device.
    pub(crate) fn same_device(&self, other: &LowerDevice) -> bool {
        self.bdev == other.bdev
    }

    /// Read the 4 KiB block at `sector` into `buf`.
    pub(crate) fn read_block(&self, sector: u64, buf: &mut [u8; BLOCK_SIZE]) -> Result {
        let page = Page::alloc_page(GFP_KERNEL)?;
        self.rw_page(sector, &page, false, false)?;
        // SAFETY: `buf` is valid for BLOCK_SIZE (= PAGE_SIZE) bytes of writes.
        unsafe { page.read_raw(buf.as_mut_ptr(), 0, BLOCK_SIZE) }
    }

    /// Write `buf` to the 4 KiB block at `sector`; with `durable`, flush + FUA so the block
    /// is on stable storage on return.
    pub(crate) fn write_block(&self, sector: u64, buf: &[u8; BLOCK_SIZE], durable: bool) -> Result {
        let page = Page::alloc_page(GFP_KERNEL)?;
        // SAFETY: `buf` is valid for BLOCK_SIZE (= PAGE_SIZE) bytes of reads.
        unsafe { page.write_raw(buf.as_ptr(), 0, BLOCK_SIZE) }?;
        self.rw_page(sector, &page, true, durable)
    }

    fn rw_page(&self, sector: u64, page: &Page, write: bool, durable: bool) -> Result {
        // SAFETY: the device is open; `page` is a live page we hold for the whole (synchronous)
        // call.
        let ret = unsafe {
            ffi::drbd_rs_bdev_rw_page(self.bdev.as_ptr(), sector, page.as_ptr(), write, durable)
        };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        }
    }
}

impl Drop for LowerDevice {
    fn drop(&mut self) {
        // SAFETY: we own the file reference (type invariant); closing releases the claim.
        unsafe { bindings::fput(self.file.as_ptr()) };
    }
}
