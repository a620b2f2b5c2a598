// SPDX-License-Identifier: GPL-2.0
//! The quick-sync bitmap of an attached device, in memory: one bit per 4 KiB block that may
//! differ from the peer. Loaded from the meta data at attach, updated by every write the
//! peer does not see, written back to the meta data on detach and role changes.

use kernel::alloc::KVVec;
use kernel::prelude::*;

use crate::drbd_core::bitmap::{
    bits_for_sectors, pages_for_bits, words_for_bits, Bitmap, BM_PAGE_SIZE,
};
use crate::glue::block::LowerDevice;

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

/// The bitmap and its number of set bits (kept up to date, so /proc needs no scan).
pub(crate) struct DeviceBitmap {
    bm: Bitmap<Words>,
    set: u64,
}

impl DeviceBitmap {
    /// Read the bitmap of a device of `old_sectors` (the size the meta data knew) from
    /// `bm_sector` on `meta`, and size it for `sectors`. Blocks the meta data did not cover
    /// (a new or grown device) are marked out of sync: the peer has never seen them.
    pub(crate) fn load(
        meta: &LowerDevice,
        bm_sector: u64,
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
        let mut page = KBox::new([0u8; BM_PAGE_SIZE], GFP_KERNEL)?;
        for p in 0..pages_for_bits(old_bits) {
            meta.read_block(bm_sector + p * 8, &mut page)?;
            bm.read_page(p, &page);
        }
        // Bits past the old size may hold garbage from the read pages: clear, then mark new.
        bm.clear_range(old_bits..bits);
        bm.set_range(old_bits..bits);
        let set = bm.count();
        Ok(Self { bm, set })
    }

    /// Mark `nr_sectors` from `sector` out of sync; returns the bits newly set.
    pub(crate) fn set_out_of_sync(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        let newly = self.bm.set_out_of_sync(sector, nr_sectors);
        self.set += newly;
        newly
    }

    /// The same bits for a device of `sectors` (after a resize): blocks beyond the old end
    /// are marked out of sync when `mark_new`, bits beyond a new, smaller end are dropped.
    pub(crate) fn resized(&self, sectors: u64, mark_new: bool) -> Result<Self> {
        let bits = bits_for_sectors(sectors);
        let old_bits = self.bm.bits();
        let mut words = KVVec::from_elem(0u64, words_for_bits(bits) as usize, GFP_KERNEL)?;
        let keep = words.len().min(self.bm.storage().0.len());
        words.as_mut_slice()[..keep].copy_from_slice(&self.bm.storage().0.as_slice()[..keep]);
        let mut bm = Bitmap::new(Words(words), bits).map_err(|_| EINVAL)?;
        // Words copied whole may carry bits past the new end or past the old end.
        bm.clear_surplus();
        if bits > old_bits {
            bm.clear_range(old_bits..bits);
            if mark_new {
                bm.set_range(old_bits..bits);
            }
        }
        let set = bm.count();
        Ok(Self { bm, set })
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
