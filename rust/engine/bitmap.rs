// SPDX-License-Identifier: GPL-2.0
//! The quick-sync bitmap of an attached device, in memory: one bit per 4 KiB block that may
//! differ from the peer. Loaded from the meta data at attach, updated by every write the
//! peer does not see, written back to the meta data on detach, disconnect and role changes,
//! when a resync starts and as it progresses.

use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::drbd_core::bitmap::{
    bits_for_sectors, pages_for_bits, words_for_bits, Bitmap, BITS_PER_PAGE, BM_PAGE_SIZE,
    BM_SECT_PER_BIT,
};
use crate::engine::io::DeviceIo;
use crate::glue::block::LowerDevice;
use crate::glue::sys::{self, NoIo};

/// Bitmap storage: large devices need more than kmalloc gives, hence KVVec (which in 6.12
/// does not implement `AsRef`/`AsMut` itself).
struct Words(KVVec<u64>);

impl AsRef<[u64]> for Words {
    fn as_ref(&self) -> &[u64] {
        self.0.as_slice()
    }
}

impl AsMut<[u64]> for Words {
    fn as_mut(&mut self) -> &mut [u64] {
        self.0.as_mut_slice()
    }
}

/// Bitmap words not (or no longer) in use: allocated before, or freed after, the bitmap lock.
pub(crate) struct BitmapStorage(Bitmap<Words>);

/// The bitmap and its number of set bits (kept up to date, so /proc needs no scan).
pub(crate) struct DeviceBitmap {
    bm: Bitmap<Words>,
    set: u64,
    /// The span of pages with bits cleared since [`DeviceBitmap::take_cleared_pages`] (a
    /// resync clears in order, so it stays small between two write-outs).
    cleared_pages: Option<PageSelection>,
}

impl DeviceBitmap {
    /// Read the bitmap of a device of `old_sectors` (the size the meta data knew) from the
    /// `area_sectors` at `bm_sector` on `meta`, and size it for `sectors`. Blocks the meta
    /// data did not cover (a new or grown device, or bits the area is too small to hold) are
    /// marked out of sync: the peer has never seen them, or we cannot tell.
    pub(crate) fn load(
        meta: &LowerDevice,
        bm_sector: u64,
        area_sectors: u64,
        old_sectors: u64,
        sectors: u64,
    ) -> Result<Self> {
        let bits = bits_for_sectors(sectors);
        let old_bits = bits_for_sectors(old_sectors).min(bits);
        let words = Words(KVVec::from_elem(
            0u64,
            words_for_bits(bits) as usize,
            GFP_KERNEL,
        )?);
        let mut bm = Bitmap::new(words, bits).map_err(|_| EINVAL)?;
        let mut page = sys::zeroed_block::<BM_PAGE_SIZE>()?;
        // Never past the bitmap area (attach's size check rounds: the last page the size
        // asks for may lie beyond it, in the activity log).
        let pages = pages_for_bits(old_bits).min(area_sectors / 8);
        for p in 0..pages {
            meta.read_block(bm_sector + p * 8, &mut page)?;
            bm.read_page(p, &page);
        }
        let read_bits = old_bits.min(pages * (BM_PAGE_SIZE as u64) * 8);
        // Bits past what was read may hold garbage from the read pages: clear, then mark.
        bm.clear_range(read_bits..bits);
        bm.set_range(read_bits..bits);
        let set = bm.count();
        Ok(Self {
            bm,
            set,
            cleared_pages: None,
        })
    }

    /// Mark `nr_sectors` from `sector` out of sync; returns the bits newly set.
    pub(crate) fn set_out_of_sync(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        let newly = self.bm.set_out_of_sync(sector, nr_sectors);
        self.set += newly;
        newly
    }

    /// Zeroed storage for the bitmap of a device of `sectors`, allocated ahead of a resize:
    /// the allocation may sleep, the swap in [`DeviceBitmap::resize_into`] runs under the
    /// spinlock every write takes.
    pub(crate) fn storage_for(sectors: u64) -> Result<BitmapStorage> {
        let bits = bits_for_sectors(sectors);
        let words = Words(KVVec::from_elem(
            0u64,
            words_for_bits(bits) as usize,
            GFP_KERNEL,
        )?);
        Ok(BitmapStorage(Bitmap::new(words, bits).map_err(|_| EINVAL)?))
    }

    /// Become the bitmap of the resized device `storage` was made for, without allocating
    /// (callers hold the bitmap lock, so no write's mark can be lost in between): every bit
    /// both sizes have is kept, blocks beyond the old end are marked out of sync when
    /// `mark_new`, bits beyond a new, smaller end are dropped. Returns the old storage, for
    /// the caller to drop once the lock is released (freeing may sleep).
    pub(crate) fn resize_into(&mut self, storage: BitmapStorage, mark_new: bool) -> BitmapStorage {
        let BitmapStorage(mut bm) = storage;
        let old_bits = self.bm.bits();
        let mut set = bm.copy_from(&self.bm);
        if mark_new && bm.bits() > old_bits {
            set += bm.set_range(old_bits..bm.bits());
        }
        self.set = set;
        BitmapStorage(core::mem::replace(&mut self.bm, bm))
    }

    /// Clear `nr_sectors` from `sector` (both copies are equal); returns the bits cleared.
    pub(crate) fn set_in_sync(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        let cleared = self.bm.set_in_sync(sector, nr_sectors);
        self.set -= cleared.min(self.set);
        if cleared > 0 {
            self.note_cleared_pages(PageSelection::of_sectors(sector, nr_sectors));
        }
        cleared
    }

    /// `pages` hold cleared bits not written out yet.
    pub(crate) fn note_cleared_pages(&mut self, pages: PageSelection) {
        self.cleared_pages = Some(self.cleared_pages.map_or(pages, |p| p.and(pages)));
    }

    /// The pages with bits cleared since the last call, if any.
    pub(crate) fn take_cleared_pages(&mut self) -> Option<PageSelection> {
        self.cleared_pages.take()
    }

    /// Whether page `page` has a bit set.
    pub(crate) fn page_has_set_bits(&self, page: u64) -> bool {
        let start = page.saturating_mul(BITS_PER_PAGE).min(self.bm.bits());
        let end = start.saturating_add(BITS_PER_PAGE).min(self.bm.bits());
        self.bm.count_range(start..end) > 0
    }

    /// Run `f` on a mutable view of the bits (the core's interface); the count of set bits
    /// is taken again afterwards, as `f` may have changed any of them.
    pub(crate) fn with_view(&mut self, f: &mut dyn FnMut(&mut Bitmap<&mut [u64]>)) {
        f(&mut self.bm.view_mut());
        self.set = self.bm.count();
    }

    /// Run `f` on a read-only view of the bits.
    pub(crate) fn with_ref<R>(&self, f: impl FnOnce(&Bitmap<&[u64]>) -> R) -> Option<R> {
        let view = Bitmap::new(self.bm.storage().as_ref(), self.bm.bits()).ok()?;
        Some(f(&view))
    }

    /// Mark every block out of sync (a full sync is due).
    pub(crate) fn set_all(&mut self) {
        self.bm.set_all();
        self.set = self.bm.bits();
    }

    /// Bits set (blocks out of sync).
    pub(crate) fn weight(&self) -> u64 {
        self.set
    }

    /// Bits in total.
    pub(crate) fn bits(&self) -> u64 {
        self.bm.bits()
    }

    /// Copy page `page` in its on-disk form into `out`.
    pub(crate) fn page(&self, page: u64, out: &mut [u8; BM_PAGE_SIZE]) {
        self.bm.write_page(page, out);
    }

    /// Number of on-disk pages.
    pub(crate) fn pages(&self) -> u64 {
        pages_for_bits(self.bm.bits())
    }
}

/// Where a device's bitmap lives on disk, and the data device whose writes its bits
/// describe.
#[derive(Clone)]
pub(crate) struct BitmapArea {
    /// Flushed before bitmap pages are written.
    pub(crate) data: Arc<LowerDevice>,
    /// The meta-data device (the data device itself for internal meta data).
    pub(crate) meta: Arc<LowerDevice>,
    /// First sector of the bitmap area.
    pub(crate) bm_sector: u64,
    /// Pages the area holds (what does not fit is marked out of sync at the next attach,
    /// see [`DeviceBitmap::load`]).
    pub(crate) pages: u64,
}

/// Which pages [`write_bitmap_pages`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageSelection {
    /// Every page.
    All,
    /// The pages with a bit set: the disk then marks at least what memory marks (a resync
    /// is about to start from these bits).
    WithSetBits,
    /// Pages first..=last.
    Span(u64, u64),
}

impl PageSelection {
    /// The pages of `self` and of `other` (or more).
    pub(crate) fn and(self, other: PageSelection) -> PageSelection {
        use PageSelection::*;
        match (self, other) {
            (All, _) | (_, All) => All,
            // Only the SyncTarget's writes meet a span here, one around bits just set:
            // those pages have set bits.
            (WithSetBits, _) | (_, WithSetBits) => WithSetBits,
            (Span(a, b), Span(c, d)) => Span(a.min(c), b.max(d)),
        }
    }

    /// The pages holding the bits of `nr_sectors` from `sector` (at least one sector).
    pub(crate) fn of_sectors(sector: u64, nr_sectors: u64) -> PageSelection {
        let page = |s: u64| (s / BM_SECT_PER_BIT) / BITS_PER_PAGE;
        PageSelection::Span(page(sector), page(sector + nr_sectors.max(1) - 1))
    }
}

/// Pages copied per round, and pages looked at per hold of the bitmap lock.
const BATCH_PAGES: usize = 16;
const SCAN_PAGES: u64 = 256;

/// Write `which` pages of `io`'s bitmap to `area`; the number written.
///
/// A cleared bit must not reach the disk before the data it stands for, which may still sit
/// in the data device's volatile cache: each batch of pages is copied under the lock, then
/// the data device is flushed (all that completed before the copy is stable), then the
/// copies are written, the batch's last with preflush and FUA, so the batch is stable when
/// this returns. Set bits may be stale on disk the other way (a block marked that is in
/// sync): that costs a resync of it, never data. Writers are serialized
/// ([`DeviceIo::bitmap_writes`]), so no older copy of a page overwrites a newer one.
pub(crate) fn write_bitmap_pages(
    io: &DeviceIo,
    area: &BitmapArea,
    which: PageSelection,
) -> Result<u64> {
    // Our own writeback may wait for a bitmap write (an activity-log eviction).
    let _noio = NoIo::enter();
    let _serial = io.bitmap_writes.lock();
    let bitmap = &io.bitmap;
    let total = bitmap
        .lock()
        .as_ref()
        .map_or(0, |b| b.pages())
        .min(area.pages);
    let (mut next, end) = match which {
        PageSelection::All | PageSelection::WithSetBits => (0, total),
        PageSelection::Span(first, last) => (first.min(total), last.saturating_add(1).min(total)),
    };
    let mut copies = KVVec::from_elem(0u8, BATCH_PAGES * BM_PAGE_SIZE, GFP_KERNEL)?;
    let mut numbers = [0u64; BATCH_PAGES];
    let mut written = 0;
    while next < end {
        let mut n = 0;
        {
            let guard = bitmap.lock();
            let Some(bm) = guard.as_ref() else {
                return Ok(written);
            };
            let scan_end = end.min(next.saturating_add(SCAN_PAGES));
            while next < scan_end && n < BATCH_PAGES {
                if which != PageSelection::WithSetBits || bm.page_has_set_bits(next) {
                    bm.page(next, page_slot(&mut copies, n)?);
                    numbers[n] = next;
                    n += 1;
                }
                next += 1;
            }
        }
        if n == 0 {
            continue;
        }
        area.data.flush()?;
        for (i, page) in numbers.iter().take(n).enumerate() {
            let durable = i + 1 == n;
            area.meta.write_block(
                area.bm_sector + page * 8,
                page_slot(&mut copies, i)?,
                durable,
            )?;
        }
        written += n as u64;
    }
    Ok(written)
}

/// Slot `i` of the copy buffer as one page.
fn page_slot(copies: &mut [u8], i: usize) -> Result<&mut [u8; BM_PAGE_SIZE]> {
    let slot = copies
        .get_mut(i * BM_PAGE_SIZE..(i + 1) * BM_PAGE_SIZE)
        .ok_or(EINVAL)?;
    <&mut [u8; BM_PAGE_SIZE]>::try_from(slot).map_err(|_| EINVAL)
}
