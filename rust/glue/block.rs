// SPDX-License-Identifier: GPL-2.0
//! Bio-based block devices (`/dev/drbdN`), the bios they receive, and lower devices.
//!
//! DRBD is bio-based (`submit_bio` in its block_device_operations), which 6.12's Rust block
//! layer (blk-mq only) does not cover. The types here are small RAII owners: a [`Major`]
//! registration, a [`Disk`] (gendisk), a [`BioSet`], an upper [`Bio`] that must be ended
//! exactly once, and a [`LowerDevice`] opened exclusively, with asynchronous I/O of
//! [`PageBuf`]s to it ([`LowerDevice::submit_buf`], [`LowerDevice::submit_flush`]).

use core::ffi::{c_int, c_ushort, c_void, CStr};
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::page::Page;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;

use super::drain::{Drained, Ticket};
use super::ffi;
use super::pagebuf::{NoIoScope, PageBuf};

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

    /// The bio, live while `self` is borrowed.
    pub(super) fn as_ptr(&self) -> *mut bindings::bio {
        self.bio.as_ptr()
    }

    /// A cursor over the bio's data, from its first byte.
    pub(super) fn data_iter(&self) -> bindings::bvec_iter {
        self.raw().bi_iter
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

    fn has_flag(&self, bit: bindings::req_flag_bits) -> bool {
        self.raw().bi_opf & (1 << bit) != 0
    }

    /// `REQ_FUA`: the write must be on stable storage when it completes.
    pub(crate) fn fua(&self) -> bool {
        self.has_flag(bindings::req_flag_bits___REQ_FUA)
    }

    /// `REQ_PREFLUSH`: the cache is flushed before the write.
    pub(crate) fn preflush(&self) -> bool {
        self.has_flag(bindings::req_flag_bits___REQ_PREFLUSH)
    }

    /// `REQ_SYNC`.
    pub(crate) fn sync(&self) -> bool {
        self.has_flag(bindings::req_flag_bits___REQ_SYNC)
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
    // A bio-based driver gets bios of any size: cut this one to our queue limits (at most
    // 1 MiB, the lower device's segment limits) as drbd does; the block layer resubmits the
    // rest to us. NULL: the bio was invalid and has been ended.
    // SAFETY: a live bio for one of our disks, owned by us, in its `submit_bio`.
    let bio = unsafe { bindings::bio_split_to_limits(bio) };
    let Some(bio) = NonNull::new(bio) else {
        return;
    };
    // SAFETY: called by the block layer for a disk of ours; `bio` is live and ours now.
    let ops = unsafe { disk_ops(private) };
    ops.as_arc_borrow().submit_bio(Bio { bio });
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
/// Besides synchronous block I/O for meta data it takes asynchronous I/O of [`PageBuf`]s
/// ([`LowerDevice::submit_buf`], [`LowerDevice::submit_flush`]). Owners keep it alive until
/// their I/O has completed (e.g. an `Arc` that detach drops after draining its requests);
/// as a safety net, dropping it waits for such I/O still in flight. Drop it in process
/// context only, so never the last reference from a completion (interrupt context).
///
/// # Invariants
///
/// `file` is an open block-device file and `bdev` its block device. Every buffer or flush
/// bio submitted to it holds a ticket of `in_flight` until it has completed.
pub(crate) struct LowerDevice {
    file: NonNull<bindings::file>,
    bdev: NonNull<bindings::block_device>,
    in_flight: Arc<Drained<()>>,
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
        let parts = NonNull::new(bdev)
            .ok_or(EINVAL)
            .and_then(|bdev| Ok((bdev, Arc::pin_init(Drained::new(()), GFP_KERNEL)?)));
        match parts {
            Ok((bdev, in_flight)) => Ok(Self {
                file,
                bdev,
                in_flight,
            }),
            Err(e) => {
                // SAFETY: we own the file reference.
                unsafe { bindings::fput(file.as_ptr()) };
                Err(e)
            }
        }
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

    /// Flush the device's volatile write cache: every write completed before is on stable
    /// storage on return.
    pub(crate) fn flush(&self) -> Result {
        // SAFETY: the device is open (type invariant); the call waits for the flush.
        let ret = unsafe { bindings::blkdev_issue_flush(self.bdev.as_ptr()) };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        }
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
        // Close the device only after the last buffer I/O to it.
        self.in_flight.wait_idle();
        // SAFETY: we own the file reference (type invariant); closing releases the claim.
        unsafe { bindings::fput(self.file.as_ptr()) };
    }
}

// The replication path is still to come; the KUnit suite `drbd_rs_bufio` exercises this now.
pub(crate) use buf_io::{BufDone, BufOp, FlushDone};

/// Asynchronous I/O of [`PageBuf`]s to a [`LowerDevice`].
mod buf_io {
    use super::*;

    /// What [`LowerDevice::submit_buf`] does with the buffer.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) enum BufOp {
        /// Read the buffer's length from the device into it.
        Read,
        /// Write the buffer to the device.
        Write {
            /// Forced unit access: on stable storage when it completes.
            fua: bool,
            /// Flush the device's volatile cache before the write.
            preflush: bool,
        },
    }

    /// Completion of [`LowerDevice::submit_buf`]. Runs in interrupt context (no sleeping, no
    /// lock that is also taken with interrupts enabled), or, for an I/O the block layer
    /// refuses at once (beyond the end of the device, ...), in the submitter's context before
    /// `submit_buf` returns: submitters must not hold a lock that `done` takes. `'static`:
    /// the context outlives the call that submitted it.
    pub(crate) trait BufDone: Send + Sized + 'static {
        /// The I/O finished with `errno` (0 = success); `buf` is the submitted buffer, after a
        /// successful read filled with the device's data.
        fn done(self, buf: PageBuf, errno: c_int);
    }

    /// Completion of [`LowerDevice::submit_flush`]; runs as [`BufDone::done`] does.
    pub(crate) trait FlushDone: Send + Sized + 'static {
        /// The flush finished with `errno` (0 = success).
        fn done(self, errno: c_int);
    }

    /// A buffer I/O from submission to completion (the bio's `bi_private`).
    struct BufPending<C> {
        /// Keeps the device open until the bio has completed.
        in_flight: Ticket<()>,
        buf: PageBuf,
        ctx: C,
    }

    /// A flush from submission to completion (the bio's `bi_private`).
    struct FlushPending<C> {
        in_flight: Ticket<()>,
        ctx: C,
    }

    impl LowerDevice {
        /// Read or write `buf` at `sector`, asynchronously: `ctx.done(buf, errno)` gets the
        /// buffer back when the I/O is over (see [`BufDone`] for where that runs). The
        /// length must be a non-zero multiple of 512 bytes; what the device refuses (beyond
        /// its end, not a multiple of its logical block size) completes with an error.
        ///
        /// May sleep (process context). One bio carries the whole buffer (1 MiB is 256
        /// pages, `BIO_MAX_VECS`), from the kernel's general bio pool with `GFP_NOIO`: it
        /// waits for a free bio rather than failing. As for any bio pool without a rescuer,
        /// a caller inside a `submit_bio` submits at most one bio per call this way. The
        /// context goes into a small allocation of its own (no-I/O scope); if that fails,
        /// buffer and context come back at once with the error, and `done` is not called.
        pub(crate) fn submit_buf<C: BufDone>(
            &self,
            op: BufOp,
            sector: u64,
            buf: PageBuf,
            ctx: C,
        ) -> Result<(), (PageBuf, C, Error)> {
            if buf.is_empty() || buf.len() % 512 != 0 {
                return Err((buf, ctx, EINVAL));
            }
            // At most MAX_LEN / PAGE_SIZE = BIO_MAX_VECS pages (PageBuf invariant).
            let Ok(nr_vecs) = c_ushort::try_from(buf.page_count()) else {
                return Err((buf, ctx, EINVAL));
            };
            let slot = {
                let _noio = NoIoScope::enter();
                KBox::<BufPending<C>>::new_uninit(GFP_KERNEL)
            };
            let Ok(slot) = slot else {
                return Err((buf, ctx, ENOMEM));
            };
            let (write, fua, preflush) = match op {
                BufOp::Read => (false, false, false),
                BufOp::Write { fua, preflush } => (true, fua, preflush),
            };
            // SAFETY: the device is open (type invariant); a plain allocation.
            let bio = unsafe {
                ffi::drbd_rs_buf_bio_alloc(self.bdev.as_ptr(), nr_vecs, write, fua, preflush)
            };
            let Some(bio) = NonNull::new(bio) else {
                return Err((buf, ctx, ENOMEM));
            };
            for (page, len) in buf.pages() {
                // SAFETY: the bio is ours and has room for `nr_vecs` = page-count segments;
                // `len` bytes from offset 0 are inside the page. The page stays allocated
                // until the bio has completed: the buffer moves into the context below and is
                // handed back only after `bio_put`.
                unsafe { bindings::__bio_add_page(bio.as_ptr(), page.as_ptr(), len as u32, 0) };
            }
            let pending = slot.write(BufPending {
                in_flight: Drained::enter(self.in_flight.as_arc_borrow()),
                buf,
                ctx,
            });
            // SAFETY: the bio is ours until submitted; `bi_private` is taken back exactly once,
            // by `buf_end_io::<C>`, which the block layer calls once.
            unsafe {
                let raw = bio.as_ptr();
                (*raw).bi_iter.bi_sector = sector;
                (*raw).bi_private = KBox::into_raw(pending).cast();
                (*raw).bi_end_io = Some(buf_end_io::<C>);
                bindings::submit_bio_noacct(raw);
            }
            Ok(())
        }

        /// Flush the device's volatile write cache (an empty `REQ_PREFLUSH` write),
        /// asynchronously: `ctx.done(errno)` when it is over. As [`LowerDevice::submit_buf`]:
        /// may sleep; `ctx` comes back if the I/O cannot start.
        pub(crate) fn submit_flush<C: FlushDone>(&self, ctx: C) -> Result<(), (C, Error)> {
            let slot = {
                let _noio = NoIoScope::enter();
                KBox::<FlushPending<C>>::new_uninit(GFP_KERNEL)
            };
            let Ok(slot) = slot else {
                return Err((ctx, ENOMEM));
            };
            // SAFETY: as in `submit_buf`; no data segments.
            let bio =
                unsafe { ffi::drbd_rs_buf_bio_alloc(self.bdev.as_ptr(), 0, true, false, true) };
            let Some(bio) = NonNull::new(bio) else {
                return Err((ctx, ENOMEM));
            };
            let pending = slot.write(FlushPending {
                in_flight: Drained::enter(self.in_flight.as_arc_borrow()),
                ctx,
            });
            // SAFETY: as in `submit_buf`, for `FlushPending<C>` and `flush_end_io::<C>`.
            unsafe {
                let raw = bio.as_ptr();
                (*raw).bi_private = KBox::into_raw(pending).cast();
                (*raw).bi_end_io = Some(flush_end_io::<C>);
                bindings::submit_bio_noacct(raw);
            }
            Ok(())
        }
    }

    /// Status and context of a completing buffer or flush bio; frees the bio.
    ///
    /// # Safety
    ///
    /// `bio` is completing, and its `bi_private` came from `KBox::<P>::into_raw` and has not
    /// been taken back before.
    unsafe fn finish<P>(bio: *mut bindings::bio) -> (c_int, KBox<P>) {
        // SAFETY: the bio is ours until `bio_put`; `bi_private` per the contract.
        let (status, pending) = unsafe {
            (
                (*bio).bi_status,
                KBox::from_raw((*bio).bi_private.cast::<P>()),
            )
        };
        // SAFETY: the I/O is over; this frees the bio and its bvecs (not the pages).
        unsafe { bindings::bio_put(bio) };
        // SAFETY: any status value is accepted.
        (unsafe { bindings::blk_status_to_errno(status) }, pending)
    }

    /// # Safety
    ///
    /// Only installed by `submit_buf::<C>`, with a `KBox<BufPending<C>>` in `bi_private`.
    unsafe extern "C" fn buf_end_io<C: BufDone>(bio: *mut bindings::bio) {
        // SAFETY: per the contract, called once by the block layer for that bio.
        let (errno, pending) = unsafe { finish::<BufPending<C>>(bio) };
        let BufPending {
            in_flight,
            buf,
            ctx,
        } = KBox::into_inner(pending);
        // The bio is gone: the device may be closed from here on (even while `done` runs).
        drop(in_flight);
        ctx.done(buf, errno);
    }

    /// # Safety
    ///
    /// Only installed by `submit_flush::<C>`, with a `KBox<FlushPending<C>>` in `bi_private`.
    unsafe extern "C" fn flush_end_io<C: FlushDone>(bio: *mut bindings::bio) {
        // SAFETY: per the contract, called once by the block layer for that bio.
        let (errno, pending) = unsafe { finish::<FlushPending<C>>(bio) };
        let FlushPending { in_flight, ctx } = KBox::into_inner(pending);
        drop(in_flight);
        ctx.done(errno);
    }
}

/// A bio over given page segments that is never submitted or ended: lets KUnit hand
/// [`PageBuf::copy_from_bio`] and [`PageBuf::copy_to_bio`] bios of any layout.
///
/// # Invariants
///
/// `bio` was allocated by `drbd_rs_bio_kmalloc` and is freed in `drop`; its segments are
/// inside pages borrowed for `'a`.
#[allow(dead_code)] // KUnit only.
pub(crate) struct DetachedBio<'a> {
    bio: Bio,
    _pages: PhantomData<&'a Page>,
}

#[allow(dead_code)] // KUnit only.
impl<'a> DetachedBio<'a> {
    /// A bio whose data are the `(page, offset, len)` segments in order; each must be
    /// non-empty and inside its page.
    pub(crate) fn new(segments: &[(&'a Page, usize, usize)]) -> Result<Self> {
        let nr_vecs = c_ushort::try_from(segments.len()).map_err(|_| EINVAL)?;
        if segments.len() > bindings::BIO_MAX_VECS as usize {
            return Err(EINVAL);
        }
        let mut checked = KVec::with_capacity(segments.len(), GFP_KERNEL)?;
        for &(page, offset, len) in segments {
            match offset.checked_add(len) {
                Some(end) if len > 0 && end <= kernel::page::PAGE_SIZE => {
                    checked.push((page.as_ptr(), offset as u32, len as u32), GFP_KERNEL)?
                }
                _ => return Err(EINVAL),
            }
        }
        // SAFETY: no requirement.
        let raw = NonNull::new(unsafe { ffi::drbd_rs_bio_kmalloc(nr_vecs) }).ok_or(ENOMEM)?;
        for (page, offset, len) in checked {
            // SAFETY: `raw` is ours with room for `nr_vecs` segments; the range is inside
            // the page (checked), which stays allocated for `'a`.
            unsafe { bindings::__bio_add_page(raw.as_ptr(), page, len, offset) };
        }
        Ok(Self {
            bio: Bio { bio: raw },
            _pages: PhantomData,
        })
    }

    /// The bio (shared only: it must not be ended).
    pub(crate) fn bio(&self) -> &Bio {
        &self.bio
    }
}

impl Drop for DetachedBio<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by `drbd_rs_bio_kmalloc`, never submitted (type invariant).
        unsafe { ffi::drbd_rs_bio_kfree(self.bio.bio.as_ptr()) };
    }
}
