// SPDX-License-Identifier: GPL-2.0
//! Data buffers of replication I/O and their asynchronous I/O to a real block device: byte
//! access across page boundaries, copies to and from bios of any layout, writes read back
//! through the lower device (`/dev/vda`, the disk `run-in-guest.sh` asks the VM for), flushes,
//! and the error paths (beyond the end of the device, buffers the block layer cannot take).
//!
//! Completions run in interrupt context, where KUnit's assertions must not run: they record
//! what they saw in a [`Done`] that the case polls and then checks.

use core::ffi::{c_int, c_void, CStr};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use kernel::error::code::{EINVAL, ENOENT};
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::glue::block::{BufDone, BufOp, DetachedBio, FlushDone, LowerDevice};
use crate::glue::pagebuf::{PageBuf, MAX_LEN};

/// The disk of the KUnit VM (`# vm-disks:` in run-in-guest.sh).
const DISK: &CStr = c"/dev/vda";
/// How long a completion may take before the case fails.
const GUARD_MS: u32 = 10_000;

/// The holder of our exclusive opens; one for all cases, so that a close still pending
/// (a kthread's `fput` is deferred) does not make the next case's open fail with EBUSY.
static HOLDER: u8 = 0;

fn sleep_ms(ms: u32) {
    // SAFETY: KUnit cases run in process context, where sleeping is allowed.
    unsafe { kernel::bindings::msleep(ms) };
}

/// Test data: byte `i` of stream `seed`.
pub(crate) fn pattern_byte(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 9)).wrapping_add(usize::from(seed).wrapping_mul(13)) as u8
}

/// Fill `buf` with stream `seed`.
pub(crate) fn fill(buf: &mut PageBuf, seed: u8) -> Result {
    let mut chunk = [0u8; 256];
    let mut at = 0;
    while at < buf.len() {
        let n = chunk.len().min(buf.len() - at);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern_byte(seed, at + i);
        }
        buf.write_bytes(at, &chunk[..n])?;
        at += n;
    }
    Ok(())
}

/// Whether `buf` holds stream `seed` (callable in interrupt context).
pub(crate) fn holds(buf: &PageBuf, seed: u8) -> bool {
    let mut chunk = [0u8; 256];
    let mut at = 0;
    while at < buf.len() {
        let n = chunk.len().min(buf.len() - at);
        if buf.read_bytes(at, &mut chunk[..n]).is_err() {
            return false;
        }
        if chunk[..n]
            .iter()
            .enumerate()
            .any(|(i, &b)| b != pattern_byte(seed, at + i))
        {
            return false;
        }
        at += n;
    }
    true
}

fn pattern_buf(len: usize, seed: u8) -> Result<PageBuf> {
    let mut buf = PageBuf::new(len)?;
    fill(&mut buf, seed)?;
    Ok(buf)
}

// ---- PageBuf ----

fn pagebuf_sizes() {
    check!(PageBuf::new(MAX_LEN + 1).is_err());
    let empty = PageBuf::new(0);
    check!(empty.is_ok());
    if let Ok(empty) = empty {
        check!(empty.is_empty());
        check_eq!(empty.page_count(), 0);
        check_eq!(empty.ranges().count(), 0);
        check!(empty.read_bytes(0, &mut []).is_ok());
        check!(empty.read_bytes(1, &mut []).is_err());
    }
    for len in [1, 511, 4095, 4096, 4097, 3 * 4096 + 100, MAX_LEN] {
        let buf = pattern_buf(len, 3);
        check!(buf.is_ok());
        let Ok(mut buf) = buf else { return };
        check_eq!(buf.len(), len);
        check!(!buf.is_empty());
        check_eq!(buf.page_count(), len.div_ceil(PAGE_SIZE));
        // The ranges cover the buffer in order, each inside one page.
        check_eq!(buf.ranges().count(), buf.page_count());
        check_eq!(buf.ranges_mut().count(), buf.page_count());
        check!(holds(&buf, 3));
        // Bounds: nothing may reach past the end.
        let mut two = [0u8; 2];
        check_eq!(buf.write_bytes(len - 1, &[1, 2]), Err(EINVAL));
        check_eq!(buf.read_bytes(len - 1, &mut two), Err(EINVAL));
        check_eq!(buf.read_bytes(len, &mut two[..1]), Err(EINVAL));
        check_eq!(buf.write_bytes(usize::MAX, &[1, 2]), Err(EINVAL));
        check!(buf.read_bytes(len, &mut []).is_ok());
        // The last byte is reachable alone.
        check!(buf.write_bytes(len - 1, &[0xa5]).is_ok());
        check!(buf.read_bytes(len - 1, &mut two[..1]).is_ok());
        check_eq!(two[0], 0xa5);
    }
}

fn pagebuf_bytes_across_pages() {
    let buf = pattern_buf(3 * 4096 + 100, 1);
    check!(buf.is_ok());
    let Ok(mut buf) = buf else { return };
    // 5000 bytes from 4000 on: the end of page 0, all of page 1, the start of page 2.
    let mut new = [0u8; 5000];
    for (i, b) in new.iter_mut().enumerate() {
        *b = pattern_byte(9, i);
    }
    check!(buf.write_bytes(4000, &new).is_ok());
    // Read a window around it at an odd offset and length.
    let mut got = [0u8; 5021];
    check!(buf.read_bytes(3990, &mut got).is_ok());
    for (i, &b) in got.iter().enumerate() {
        let at = 3990 + i;
        let want = if (4000..9000).contains(&at) {
            pattern_byte(9, at - 4000)
        } else {
            pattern_byte(1, at)
        };
        if b != want {
            check_eq!((at, b), (at, want));
            return;
        }
    }
    // Untouched elsewhere: the first and the last page.
    let mut head = [0u8; 100];
    check!(buf.read_bytes(0, &mut head).is_ok());
    check!(head
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(1, i)));
    let mut tail = [0u8; 100];
    check!(buf.read_bytes(3 * 4096, &mut tail).is_ok());
    check!(tail
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(1, 3 * 4096 + i)));
}

fn page_with(seed: u8) -> Result<Page> {
    let page = Page::alloc_page(GFP_KERNEL)?;
    let mut bytes = [0u8; PAGE_SIZE];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = pattern_byte(seed, i);
    }
    // SAFETY: `bytes` is valid for PAGE_SIZE bytes of reads; the page is new and ours.
    unsafe { page.write_raw(bytes.as_ptr(), 0, PAGE_SIZE) }?;
    Ok(page)
}

fn page_bytes(page: &Page) -> Result<KVec<u8>> {
    let mut bytes = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
    // SAFETY: `bytes` is valid for PAGE_SIZE bytes of writes; nothing writes the page now.
    unsafe { page.read_raw(bytes.as_mut_ptr(), 0, PAGE_SIZE) }?;
    Ok(bytes)
}

/// Copies between a buffer and a bio whose segments start and end anywhere in their pages
/// (as an upper bio's may), including two segments in one page and a one-byte segment.
fn pagebuf_copies_bio() {
    let (Ok(p1), Ok(p2), Ok(p3)) = (page_with(1), page_with(2), page_with(3)) else {
        check!(false);
        return;
    };
    let segments = [
        (&p1, 100, 3000),
        (&p2, 0, 4096),
        (&p1, 3500, 96),
        (&p3, 4095, 1),
    ];
    const TOTAL: usize = 3000 + 4096 + 96 + 1;
    // Reject a segment that leaves its page, and an empty one.
    check!(DetachedBio::new(&[(&p1, 4000, 200)]).is_err());
    check!(DetachedBio::new(&[(&p1, 0, 0)]).is_err());
    let bio = DetachedBio::new(&segments);
    check!(bio.is_ok());
    let Ok(bio) = bio else { return };
    check_eq!(bio.bio().size() as usize, TOTAL);

    // Bio to buffer: the segments' bytes, in order.
    let buf = PageBuf::new(TOTAL);
    check!(buf.is_ok());
    let Ok(mut buf) = buf else { return };
    check!(buf.copy_from_bio(bio.bio()).is_ok());
    let mut at = 0;
    for (&(_, offset, len), seed) in segments.iter().zip([1, 2, 1, 3]) {
        let mut got = [0u8; 4096];
        check!(buf.read_bytes(at, &mut got[..len]).is_ok());
        check!(got[..len]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(seed, offset + i)));
        at += len;
    }
    // Sizes must match.
    let Ok(mut short) = PageBuf::new(TOTAL - 1) else {
        check!(false);
        return;
    };
    check_eq!(short.copy_from_bio(bio.bio()), Err(EINVAL));

    // Buffer to bio: stream 7 lands in the segments, in order; the rest of the pages stays.
    let other = pattern_buf(TOTAL, 7);
    check!(other.is_ok());
    let Ok(other) = other else { return };
    check!(other.copy_to_bio(bio.bio()).is_ok());
    let (Ok(b1), Ok(b2), Ok(b3)) = (page_bytes(&p1), page_bytes(&p2), page_bytes(&p3)) else {
        check!(false);
        return;
    };
    for (i, &b) in b1.iter().enumerate() {
        let want = match i {
            100..3100 => pattern_byte(7, i - 100),
            3500..3596 => pattern_byte(7, 7096 + i - 3500),
            _ => pattern_byte(1, i),
        };
        if b != want {
            check_eq!((i, b), (i, want));
            return;
        }
    }
    check!(b2
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(7, 3000 + i)));
    check!(b3[..4095]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(3, i)));
    check_eq!(b3[4095], pattern_byte(7, TOTAL - 1));
}

// ---- I/O to the lower device ----

/// What a completion reported.
struct Done {
    finished: AtomicBool,
    errno: AtomicI32,
    /// Length of the buffer handed back.
    len: AtomicUsize,
    /// Whether the buffer held the expected stream (for verified reads; true otherwise).
    matched: AtomicBool,
}

impl Done {
    fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            Done {
                finished: AtomicBool::new(false),
                errno: AtomicI32::new(0),
                len: AtomicUsize::new(0),
                matched: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?)
    }

    /// Wait for the completion; false if it did not come in time.
    fn wait(&self) -> bool {
        for _ in 0..GUARD_MS {
            if self.finished() {
                return true;
            }
            sleep_ms(1);
        }
        self.finished()
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn errno(&self) -> c_int {
        self.errno.load(Ordering::Relaxed)
    }

    fn report(&self, errno: c_int, len: usize, matched: bool) {
        self.errno.store(errno, Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.matched.store(matched, Ordering::Relaxed);
        self.finished.store(true, Ordering::Release);
    }
}

/// The context of a buffer I/O: reports to `done`; a read checks for stream `expect`.
struct Check {
    done: Arc<Done>,
    expect: Option<u8>,
}

impl BufDone for Check {
    fn done(self, buf: PageBuf, errno: c_int) {
        let matched = match self.expect {
            Some(seed) => errno == 0 && holds(&buf, seed),
            None => true,
        };
        self.done.report(errno, buf.len(), matched);
        // The buffer is freed here, in interrupt context, as a real completion may do.
    }
}

impl FlushDone for Check {
    fn done(self, errno: c_int) {
        self.done.report(errno, 0, true);
    }
}

fn open_disk() -> Result<LowerDevice> {
    let holder = core::ptr::addr_of!(HOLDER).cast_mut().cast::<c_void>();
    LowerDevice::open(DISK, holder)
}

/// Submit `buf` and return its report, or None if it could not start.
fn submit(
    lower: &LowerDevice,
    op: BufOp,
    sector: u64,
    buf: PageBuf,
    expect: Option<u8>,
) -> Option<Arc<Done>> {
    let done = Done::new().ok()?;
    let ctx = Check {
        done: done.clone(),
        expect,
    };
    lower.submit_buf(op, sector, buf, ctx).ok()?;
    Some(done)
}

const WRITE: BufOp = BufOp::Write {
    fua: false,
    preflush: false,
};

/// Write stream `seed` of `len` bytes at `sector`, read it back into a buffer holding other
/// bytes, and check what the read returned.
fn write_and_read_back(lower: &LowerDevice, op: BufOp, sector: u64, len: usize, seed: u8) {
    let Ok(buf) = pattern_buf(len, seed) else {
        check!(false);
        return;
    };
    let done = submit(lower, op, sector, buf, None);
    check!(done.is_some());
    let Some(done) = done else { return };
    check!(done.wait());
    check_eq!(done.errno(), 0);
    check_eq!(done.len.load(Ordering::Relaxed), len);

    let Ok(stale) = pattern_buf(len, seed.wrapping_add(100)) else {
        check!(false);
        return;
    };
    let done = submit(lower, BufOp::Read, sector, stale, Some(seed));
    check!(done.is_some());
    let Some(done) = done else { return };
    check!(done.wait());
    check_eq!(done.errno(), 0);
    check_eq!(done.len.load(Ordering::Relaxed), len);
    check!(done.matched.load(Ordering::Relaxed));
}

fn lower_write_read_back() {
    let lower = match open_disk() {
        Ok(lower) => lower,
        Err(e) if e == ENOENT => skip!("no /dev/vda (run-in-guest.sh asks for a disk)"),
        Err(e) => {
            check_eq!(Err::<(), Error>(e), Ok(()));
            return;
        }
    };
    check!(lower.sectors() >= 16 * 2048);
    write_and_read_back(&lower, WRITE, 0, 4096, 1);
    write_and_read_back(&lower, WRITE, 8, 4096 + 512, 2);
    write_and_read_back(&lower, WRITE, 31, 512, 3);
    write_and_read_back(&lower, WRITE, 2048, MAX_LEN, 4);
    write_and_read_back(&lower, WRITE, 4095, 65536 + 1536, 5);
    let durable = BufOp::Write {
        fua: true,
        preflush: true,
    };
    write_and_read_back(&lower, durable, 6144, MAX_LEN, 6);
    write_and_read_back(
        &lower,
        BufOp::Write {
            fua: true,
            preflush: false,
        },
        100,
        8192,
        7,
    );
    // The first write is still there (nothing above overlapped it).
    let Ok(buf) = PageBuf::new(4096) else {
        check!(false);
        return;
    };
    let done = submit(&lower, BufOp::Read, 0, buf, Some(1));
    check!(done.as_ref().is_some_and(|d| d.wait() && d.errno() == 0));
    check!(done.is_some_and(|d| d.matched.load(Ordering::Relaxed)));
}

/// Many I/Os in flight at once (more than the bio pool reserves): all of them complete.
fn lower_many_in_flight() {
    let lower = match open_disk() {
        Ok(lower) => lower,
        Err(e) if e == ENOENT => skip!("no /dev/vda (run-in-guest.sh asks for a disk)"),
        Err(e) => {
            check_eq!(Err::<(), Error>(e), Ok(()));
            return;
        }
    };
    const N: usize = 12;
    const LEN: usize = 128 * 1024;
    let base: u64 = 8192;
    for pass in 0..2u8 {
        let mut all = KVec::new();
        for i in 0..N {
            let seed = 20 + i as u8;
            let sector = base + (i * LEN / 512) as u64;
            let (op, buf, expect) = if pass == 0 {
                (WRITE, pattern_buf(LEN, seed), None)
            } else {
                (BufOp::Read, PageBuf::new(LEN), Some(seed))
            };
            let Ok(buf) = buf else {
                check!(false);
                return;
            };
            let done = submit(&lower, op, sector, buf, expect);
            check!(done.is_some());
            let Some(done) = done else { return };
            check!(all.push(done, GFP_KERNEL).is_ok());
        }
        for done in &all {
            check!(done.wait());
            check_eq!(done.errno(), 0);
            check!(done.matched.load(Ordering::Relaxed));
        }
    }
}

fn lower_flush() {
    let lower = match open_disk() {
        Ok(lower) => lower,
        Err(e) if e == ENOENT => skip!("no /dev/vda (run-in-guest.sh asks for a disk)"),
        Err(e) => {
            check_eq!(Err::<(), Error>(e), Ok(()));
            return;
        }
    };
    let Ok(done) = Done::new() else {
        check!(false);
        return;
    };
    let ctx = Check {
        done: done.clone(),
        expect: None,
    };
    check!(lower.submit_flush(ctx).is_ok());
    check!(done.wait());
    check_eq!(done.errno(), 0);
}

fn lower_errors() {
    let lower = match open_disk() {
        Ok(lower) => lower,
        Err(e) if e == ENOENT => skip!("no /dev/vda (run-in-guest.sh asks for a disk)"),
        Err(e) => {
            check_eq!(Err::<(), Error>(e), Ok(()));
            return;
        }
    };
    let end = lower.sectors();
    // Beyond the end: the block layer completes the bio with an error; the buffer comes back.
    for (op, sector) in [
        (WRITE, end - 4),
        (BufOp::Read, end),
        (BufOp::Read, u64::MAX >> 9),
    ] {
        let Ok(buf) = pattern_buf(4096, 1) else {
            check!(false);
            return;
        };
        let done = submit(&lower, op, sector, buf, None);
        check!(done.is_some());
        let Some(done) = done else { return };
        check!(done.wait());
        check!(done.errno() < 0);
        check_eq!(done.len.load(Ordering::Relaxed), 4096);
    }
    // Lengths a bio cannot have: refused at once, buffer and context handed back.
    for len in [0, 100, 4096 + 1] {
        let (Ok(buf), Ok(done)) = (PageBuf::new(len), Done::new()) else {
            check!(false);
            return;
        };
        let ctx = Check {
            done: done.clone(),
            expect: None,
        };
        match lower.submit_buf(WRITE, 0, buf, ctx) {
            Ok(()) => check!(false),
            Err((buf, ctx, err)) => {
                check_eq!(buf.len(), len);
                check_eq!(err, EINVAL);
                drop(ctx);
            }
        }
        check!(!done.finished());
    }
}

/// Closing the device with I/O in flight waits for it.
fn lower_close_waits_for_io() {
    let lower = match open_disk() {
        Ok(lower) => lower,
        Err(e) if e == ENOENT => skip!("no /dev/vda (run-in-guest.sh asks for a disk)"),
        Err(e) => {
            check_eq!(Err::<(), Error>(e), Ok(()));
            return;
        }
    };
    let Ok(buf) = pattern_buf(MAX_LEN, 40) else {
        check!(false);
        return;
    };
    let done = submit(&lower, WRITE, 12288, buf, None);
    check!(done.is_some());
    drop(lower);
    let Some(done) = done else { return };
    check!(done.wait());
    check_eq!(done.errno(), 0);
}

kunit_suite!(
    BUFIO_SUITE,
    "drbd_rs_bufio",
    [
        pagebuf_sizes,
        pagebuf_bytes_across_pages,
        pagebuf_copies_bio,
        lower_write_read_back,
        lower_many_in_flight,
        lower_flush,
        lower_errors,
        lower_close_waits_for_io
    ]
);
