// SPDX-License-Identifier: GPL-2.0
//! The out-of-sync bitmap: one bit per 4 KiB block of the DRBD device (bit `n` covers
//! sectors `8n ..= 8n + 7`; set = out of sync), kept in caller-provided 64-bit words.
//!
//! Spec: `on-disk-metadata.md` §1 and §7. On disk (and in `P_BITMAP`) the bitmap is
//! little-endian: bit `n` is byte `n >> 3`, mask `1 << (n & 7)`, which is exactly the byte
//! stream of little-endian u64 words. Surplus bits past the last block are kept clear.

use core::ops::Range;

/// Bytes of data per bit (`BM_BLOCK_SIZE`).
pub const BM_BLOCK_SIZE: u64 = 4096;
/// Sectors per bit (`BM_SECT_PER_BIT`).
pub const BM_SECT_PER_BIT: u64 = 8;
/// Bits per storage word.
pub const BITS_PER_WORD: u64 = 64;
/// Bytes per bitmap page (the unit of bitmap I/O).
pub const BM_PAGE_SIZE: usize = 4096;
/// Bits per bitmap page (covers 128 MiB of data).
pub const BITS_PER_PAGE: u64 = BM_PAGE_SIZE as u64 * 8;
/// Words per bitmap page.
pub const WORDS_PER_PAGE: usize = BM_PAGE_SIZE / 8;
/// Bits per resync extent (16 MiB, 512 bitmap bytes).
pub const BITS_PER_RS_EXTENT: u64 = 4096;
/// Bits per activity-log extent (4 MiB, 128 bitmap bytes).
pub const BITS_PER_AL_EXTENT: u64 = 1024;

/// Bits needed for a device of `sectors` (`ceil(sectors / 8)`).
pub const fn bits_for_sectors(sectors: u64) -> u64 {
    sectors.div_ceil(BM_SECT_PER_BIT)
}

/// Storage words needed for `bits`.
pub const fn words_for_bits(bits: u64) -> u64 {
    bits.div_ceil(BITS_PER_WORD)
}

/// In-core bytes for `bits` (whole 64-bit words).
pub const fn bytes_for_bits(bits: u64) -> u64 {
    words_for_bits(bits) * 8
}

/// 4 KiB pages of bitmap for `bits` (the bitmap I/O unit).
pub const fn pages_for_bits(bits: u64) -> u64 {
    bits.div_ceil(BITS_PER_PAGE)
}

/// On-disk bytes for `bits`: whole words rounded up to 4 KiB (drbdmeta's `bm_bytes`).
pub const fn on_disk_bytes_for_bits(bits: u64) -> u64 {
    pages_for_bits(bits) * BM_PAGE_SIZE as u64
}

/// On-disk sectors for `bits` (a multiple of 8).
pub const fn on_disk_sectors_for_bits(bits: u64) -> u64 {
    pages_for_bits(bits) * 8
}

/// The bit covering `sector` (`BM_SECT_TO_BIT`).
pub const fn sector_to_bit(sector: u64) -> u64 {
    sector / BM_SECT_PER_BIT
}

/// The first sector of `bit` (`BM_BIT_TO_SECT`), saturating.
pub const fn bit_to_sector(bit: u64) -> u64 {
    bit.saturating_mul(BM_SECT_PER_BIT)
}

/// The bits of activity-log extent `extent` (4 MiB: 1024 bits).
pub const fn al_extent_bits(extent: u64) -> Range<u64> {
    let start = extent.saturating_mul(BITS_PER_AL_EXTENT);
    start..start.saturating_add(BITS_PER_AL_EXTENT)
}

/// The bits of resync extent `extent` (16 MiB: 4096 bits).
pub const fn rs_extent_bits(extent: u64) -> Range<u64> {
    let start = extent.saturating_mul(BITS_PER_RS_EXTENT);
    start..start.saturating_add(BITS_PER_RS_EXTENT)
}

/// Why a bitmap could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapError {
    /// The storage has fewer words than the bitmap needs.
    StorageTooSmall {
        /// Words needed.
        need_words: u64,
        /// Words provided.
        have_words: u64,
    },
}

/// Mask of bits `lo..hi` of a word (`0 <= lo < hi <= 64`).
const fn mask(lo: u64, hi: u64) -> u64 {
    let width = hi - lo;
    if width >= 64 {
        u64::MAX
    } else {
        ((1u64 << width) - 1) << lo
    }
}

/// An out-of-sync bitmap over caller-provided words: `W` is `&[u64]` (read-only use),
/// `&mut [u64]`, an array, or anything else that derefs to a word slice.
///
/// Read operations ignore whatever the storage holds past the last bit; write operations
/// never set such bits.
#[derive(Debug, Clone)]
pub struct Bitmap<W> {
    words: W,
    bits: u64,
    sectors: u64,
}

impl<W: AsRef<[u64]>> Bitmap<W> {
    /// A bitmap of `bits` bits over `words` (for a device of `bits × 8` sectors).
    pub fn new(words: W, bits: u64) -> Result<Self, BitmapError> {
        Self::check(&words, bits)?;
        Ok(Self {
            words,
            bits,
            sectors: bits.saturating_mul(BM_SECT_PER_BIT),
        })
    }

    /// A bitmap for a device of `sectors` (`ceil(sectors / 8)` bits). The exact size
    /// matters for [`Bitmap::set_in_sync`]: the last, partial block can be cleared.
    pub fn for_sectors(words: W, sectors: u64) -> Result<Self, BitmapError> {
        let bits = bits_for_sectors(sectors);
        Self::check(&words, bits)?;
        Ok(Self {
            words,
            bits,
            sectors,
        })
    }

    fn check(words: &W, bits: u64) -> Result<(), BitmapError> {
        let need = words_for_bits(bits);
        let have = words.as_ref().len() as u64;
        if have < need {
            Err(BitmapError::StorageTooSmall {
                need_words: need,
                have_words: have,
            })
        } else {
            Ok(())
        }
    }

    /// Number of bits.
    pub const fn bits(&self) -> u64 {
        self.bits
    }

    /// Device size in sectors this bitmap describes.
    pub const fn sectors(&self) -> u64 {
        self.sectors
    }

    /// The storage.
    pub fn storage(&self) -> &W {
        &self.words
    }

    /// Give the storage back.
    pub fn into_storage(self) -> W {
        self.words
    }

    /// A mutable view over the same words and geometry (what a sans-I/O caller borrows
    /// without giving up the owner's storage type).
    pub fn view_mut(&mut self) -> Bitmap<&mut [u64]>
    where
        W: AsMut<[u64]>,
    {
        Bitmap {
            words: self.words.as_mut(),
            bits: self.bits,
            sectors: self.sectors,
        }
    }

    /// Word `w` with the bits past the end masked out (0 past the storage).
    fn word(&self, w: u64) -> u64 {
        let Ok(i) = usize::try_from(w) else {
            return 0;
        };
        let v = self.words.as_ref().get(i).copied().unwrap_or(0);
        let first = w.saturating_mul(BITS_PER_WORD);
        if first >= self.bits {
            0
        } else if self.bits - first < BITS_PER_WORD {
            v & mask(0, self.bits - first)
        } else {
            v
        }
    }

    /// Whether `bit` is set (false past the end).
    pub fn test(&self, bit: u64) -> bool {
        bit < self.bits && self.word(bit / BITS_PER_WORD) & (1 << (bit % BITS_PER_WORD)) != 0
    }

    /// Number of set bits (the bitmap "weight").
    pub fn count(&self) -> u64 {
        self.count_range(0..self.bits)
    }

    /// Number of set bits in `range` (clipped to the bitmap).
    pub fn count_range(&self, range: Range<u64>) -> u64 {
        word_spans(range, self.bits)
            .map(|(w, m)| u64::from((self.word(w) & m).count_ones()))
            .sum()
    }

    /// Number of set bits within the sectors `sector .. sector + nr_sectors` (every block
    /// the range touches counts).
    pub fn count_sectors(&self, sector: u64, nr_sectors: u64) -> u64 {
        if nr_sectors == 0 {
            return 0;
        }
        let last = sector.saturating_add(nr_sectors - 1);
        self.count_range(sector_to_bit(sector)..sector_to_bit(last).saturating_add(1))
    }

    /// The first set bit at or after `from`.
    pub fn find_next_set(&self, from: u64) -> Option<u64> {
        self.find_next(from, false)
    }

    /// The first clear bit at or after `from` (below [`Bitmap::bits`]).
    pub fn find_next_clear(&self, from: u64) -> Option<u64> {
        self.find_next(from, true)
    }

    fn find_next(&self, from: u64, clear: bool) -> Option<u64> {
        if from >= self.bits {
            return None;
        }
        let last = (self.bits - 1) / BITS_PER_WORD;
        let mut w = from / BITS_PER_WORD;
        let mut lo = from % BITS_PER_WORD;
        while w <= last {
            let mut v = self.word(w);
            if clear {
                v = !v;
            }
            v &= mask(lo, BITS_PER_WORD);
            if v != 0 {
                let bit = w * BITS_PER_WORD + u64::from(v.trailing_zeros());
                return if bit < self.bits { Some(bit) } else { None };
            }
            w += 1;
            lo = 0;
        }
        None
    }

    /// Iterate over the runs of set bits, as half-open bit ranges in ascending order.
    pub fn runs(&self) -> Runs<'_, W> {
        Runs { bm: self, next: 0 }
    }

    /// Copy the on-disk (little-endian) bytes starting at bitmap byte `byte_offset` into
    /// `out`. Bytes past the bitmap's words are written as 0, and so are surplus bits.
    pub fn write_le_bytes(&self, byte_offset: u64, out: &mut [u8]) {
        let mut pos = byte_offset;
        let mut i = 0;
        // Unaligned head, byte by byte.
        while i < out.len() && pos & 7 != 0 {
            if let Some(b) = out.get_mut(i) {
                *b = self.byte(pos);
            }
            i += 1;
            pos = pos.saturating_add(1);
        }
        // Whole words.
        if let Some(rest) = out.get_mut(i..) {
            let mut chunks = rest.chunks_exact_mut(8);
            for c in &mut chunks {
                c.copy_from_slice(&self.word(pos / 8).to_le_bytes());
                pos = pos.saturating_add(8);
            }
            for b in chunks.into_remainder() {
                *b = self.byte(pos);
                pos = pos.saturating_add(1);
            }
        }
    }

    fn byte(&self, pos: u64) -> u8 {
        (self.word(pos / 8) >> ((pos % 8) * 8)) as u8
    }

    /// The on-disk form of bitmap page `page` (bytes `4096 × page ..`), zero-padded past the
    /// end of the bitmap.
    pub fn write_page(&self, page: u64, out: &mut [u8; BM_PAGE_SIZE]) {
        self.write_le_bytes(page.saturating_mul(BM_PAGE_SIZE as u64), out);
    }
}

impl<W: AsRef<[u64]> + AsMut<[u64]>> Bitmap<W> {
    fn words_mut(&mut self) -> &mut [u64] {
        self.words.as_mut()
    }

    /// Set (or clear) the bits of `range` (clipped); returns how many bits changed.
    fn update_range(&mut self, range: Range<u64>, set: bool) -> u64 {
        let mut changed = 0u64;
        for (w, m) in word_spans(range, self.bits) {
            if let Some(v) = usize::try_from(w)
                .ok()
                .and_then(|i| self.words_mut().get_mut(i))
            {
                if set {
                    changed += u64::from((m & !*v).count_ones());
                    *v |= m;
                } else {
                    changed += u64::from((m & *v).count_ones());
                    *v &= !m;
                }
            }
        }
        changed
    }

    /// Set `bit`; returns whether it was clear before (false past the end).
    pub fn set(&mut self, bit: u64) -> bool {
        self.update_range(bit..bit.saturating_add(1), true) == 1
    }

    /// Clear `bit`; returns whether it was set before.
    pub fn clear(&mut self, bit: u64) -> bool {
        self.update_range(bit..bit.saturating_add(1), false) == 1
    }

    /// Set the bits of `range` (clipped); returns how many were newly set.
    pub fn set_range(&mut self, range: Range<u64>) -> u64 {
        self.update_range(range, true)
    }

    /// Clear the bits of `range` (clipped); returns how many were set before.
    pub fn clear_range(&mut self, range: Range<u64>) -> u64 {
        self.update_range(range, false)
    }

    /// Set every bit (full sync); surplus bits stay clear. Returns how many were newly set.
    pub fn set_all(&mut self) -> u64 {
        self.clear_surplus();
        self.update_range(0..self.bits, true)
    }

    /// Clear every bit; also zeroes the storage's surplus.
    pub fn clear_all(&mut self) {
        self.words_mut().fill(0);
    }

    /// Take over the bits of `other` (a bitmap of the same device before a resize): bit `i`
    /// keeps its value for every `i` both have; bits past `other`'s end are cleared.
    /// Returns the number of bits set afterwards.
    pub fn copy_from<V: AsRef<[u64]>>(&mut self, other: &Bitmap<V>) -> u64 {
        let theirs = other.words.as_ref();
        let keep_words = usize::try_from(words_for_bits(other.bits.min(self.bits)))
            .unwrap_or(usize::MAX)
            .min(theirs.len());
        let mine = self.words_mut();
        let keep_words = keep_words.min(mine.len());
        mine[..keep_words].copy_from_slice(&theirs[..keep_words]);
        mine[keep_words..].fill(0);
        // The last copied word may carry `other`'s surplus or bits past our own end.
        let shared_end = other.bits.min(self.bits);
        self.update_range(shared_end..self.bits, false);
        self.clear_surplus();
        self.count()
    }

    /// Zero the storage past the last bit (the rest of the last word and any extra words).
    pub fn clear_surplus(&mut self) {
        let bits = self.bits;
        let full = bits / BITS_PER_WORD;
        let rem = bits % BITS_PER_WORD;
        let words = self.words_mut();
        let Ok(mut i) = usize::try_from(full) else {
            return;
        };
        if rem != 0 {
            if let Some(v) = words.get_mut(i) {
                *v &= mask(0, rem);
            }
            i = i.saturating_add(1);
        }
        if let Some(tail) = words.get_mut(i..) {
            tail.fill(0);
        }
    }

    /// Mark the sectors `sector .. sector + nr_sectors` out of sync
    /// (`drbd_set_out_of_sync`): every block the range touches is set; the range is clipped
    /// to the device; a range starting past the end does nothing. Returns the bits newly set.
    pub fn set_out_of_sync(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        match self.sync_range(sector, nr_sectors) {
            Some((sector, esector)) => {
                self.set_range(sector_to_bit(sector)..sector_to_bit(esector).saturating_add(1))
            }
            None => 0,
        }
    }

    /// Mark the sectors `sector .. sector + nr_sectors` in sync (`drbd_set_in_sync`): only
    /// blocks the range covers completely are cleared (start rounded up, end rounded down),
    /// except that a range reaching the last sector of the device also clears the last,
    /// possibly partial, block. Returns the bits that were set before.
    pub fn set_in_sync(&mut self, sector: u64, nr_sectors: u64) -> u64 {
        let Some((sector, esector)) = self.sync_range(sector, nr_sectors) else {
            return 0;
        };
        if esector < BM_SECT_PER_BIT - 1 {
            return 0;
        }
        let ebnr = if esector == self.sectors - 1 {
            sector_to_bit(self.sectors - 1)
        } else {
            sector_to_bit(esector - (BM_SECT_PER_BIT - 1))
        };
        let sbnr = sector_to_bit(sector.saturating_add(BM_SECT_PER_BIT - 1));
        if sbnr > ebnr {
            return 0;
        }
        self.clear_range(sbnr..ebnr + 1)
    }

    /// The kernel's range checks of `__drbd_change_sync`: empty or past-the-end ranges do
    /// nothing, the end is clipped to the last sector.
    fn sync_range(&self, sector: u64, nr_sectors: u64) -> Option<(u64, u64)> {
        if nr_sectors == 0 || sector >= self.sectors {
            return None;
        }
        let esector = sector.saturating_add(nr_sectors - 1);
        let last = self.sectors - 1;
        Some((sector, if esector > last { last } else { esector }))
    }

    /// Load on-disk (little-endian) bytes that start at bitmap byte `byte_offset`. Bytes
    /// past the bitmap's last word are ignored (on disk the area is usually larger), and the
    /// surplus bits of the last word are cleared afterwards.
    pub fn read_le_bytes(&mut self, byte_offset: u64, input: &[u8]) {
        let used_bytes = bytes_for_bits(self.bits);
        for (i, &b) in input.iter().enumerate() {
            let pos = byte_offset.saturating_add(i as u64);
            if pos >= used_bytes {
                break;
            }
            let shift = (pos % 8) * 8;
            if let Some(v) = usize::try_from(pos / 8)
                .ok()
                .and_then(|w| self.words_mut().get_mut(w))
            {
                *v = (*v & !(0xffu64 << shift)) | (u64::from(b) << shift);
            }
        }
        self.clear_surplus();
    }

    /// Load bitmap page `page` from its on-disk form.
    pub fn read_page(&mut self, page: u64, input: &[u8; BM_PAGE_SIZE]) {
        self.read_le_bytes(page.saturating_mul(BM_PAGE_SIZE as u64), input);
    }
}

/// The words `range` (clipped to `bits`) touches, each with the mask of its bits in range.
fn word_spans(range: Range<u64>, bits: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = range.end.min(bits);
    let start = range.start;
    let (first, last) = if start < end {
        (start / BITS_PER_WORD, (end - 1) / BITS_PER_WORD)
    } else {
        (1, 0) // empty
    };
    (first..=last).map(move |w| {
        let lo = if w == first { start % BITS_PER_WORD } else { 0 };
        let hi = if w == last {
            (end - 1) % BITS_PER_WORD + 1
        } else {
            BITS_PER_WORD
        };
        (w, mask(lo, hi))
    })
}

/// Iterator over the runs of set bits of a [`Bitmap`] (see [`Bitmap::runs`]).
pub struct Runs<'a, W> {
    bm: &'a Bitmap<W>,
    next: u64,
}

impl<W: AsRef<[u64]>> Iterator for Runs<'_, W> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        let start = self.bm.find_next_set(self.next)?;
        let end = self.bm.find_next_clear(start).unwrap_or(self.bm.bits);
        self.next = end;
        Some(start..end)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn copy_from_grows_and_shrinks() {
        let mut old = Bitmap::new([0u64; 3], 150).unwrap();
        old.set_range(0..3);
        old.set_range(60..70);
        old.set(149);
        // Grow: everything kept, new bits clear.
        let mut grown = Bitmap::new([u64::MAX; 5], 300).unwrap();
        assert_eq!(grown.copy_from(&old), old.count());
        assert!(grown.test(149) && !grown.test(150) && !grown.test(299));
        assert_eq!(grown.count_range(150..300), 0);
        // Shrink: bits past the new end are dropped, the surplus of the last word is clear.
        let mut small = Bitmap::new([u64::MAX; 2], 65).unwrap();
        assert_eq!(small.copy_from(&old), 3 + 5);
        assert_eq!(small.storage()[1], 1);
        // Garbage in the source's surplus does not leak into the copy.
        let dirty = Bitmap::new([0u64, 0, u64::MAX], 130).unwrap();
        let mut big = Bitmap::new([0u64; 4], 256).unwrap();
        assert_eq!(big.copy_from(&dirty), 2);
    }
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::io::Read;
    use std::vec;
    use std::vec::Vec;

    fn bm(bits: u64) -> Bitmap<Vec<u64>> {
        Bitmap::new(vec![0u64; words_for_bits(bits) as usize], bits).unwrap()
    }

    #[test]
    fn size_math() {
        assert_eq!(bits_for_sectors(0), 0);
        assert_eq!(bits_for_sectors(1), 1);
        assert_eq!(bits_for_sectors(8), 1);
        assert_eq!(bits_for_sectors(9), 2);
        assert_eq!(bits_for_sectors(u64::MAX), u64::MAX / 8 + 1);
        // 8 MiB device of the testdata: 16304 usable sectors = 2038 bits, 32 words.
        assert_eq!(bits_for_sectors(16304), 2038);
        assert_eq!(words_for_bits(2038), 32);
        assert_eq!(bytes_for_bits(2038), 256);
        assert_eq!(pages_for_bits(2038), 1);
        assert_eq!(on_disk_bytes_for_bits(2038), 4096);
        assert_eq!(on_disk_sectors_for_bits(2038), 8);
        // The 64 MiB example of wire-protocol.md §4.8: 16374 bits.
        assert_eq!(bits_for_sectors(130_992), 16374);
        // 1 bitmap page covers 128 MiB, 1 bitmap sector 16 MiB.
        assert_eq!(BITS_PER_PAGE * BM_BLOCK_SIZE, 128 << 20);
        assert_eq!(4096 * BM_BLOCK_SIZE, 16 << 20);
        assert_eq!(pages_for_bits(BITS_PER_PAGE), 1);
        assert_eq!(pages_for_bits(BITS_PER_PAGE + 1), 2);
        assert_eq!(words_for_bits(0), 0);
        assert_eq!(words_for_bits(64), 1);
        assert_eq!(words_for_bits(65), 2);
        // 1 PiB: 2^38 bits, 32 GiB of bitmap.
        assert_eq!(bits_for_sectors(1 << 41), 1 << 38);
        assert_eq!(bytes_for_bits(1 << 38), 32 << 30);
        assert_eq!(sector_to_bit(15), 1);
        assert_eq!(bit_to_sector(2), 16);
        assert_eq!(bit_to_sector(u64::MAX), u64::MAX);
        assert_eq!(al_extent_bits(3), 3072..4096);
        assert_eq!(rs_extent_bits(1), 4096..8192);
        // AL extent E = bitmap bytes 128E .. 128E+127.
        assert_eq!(al_extent_bits(3).start / 8, 384);
    }

    #[test]
    fn storage_checks() {
        let words = [0u64; 2];
        assert!(Bitmap::new(&words[..], 128).is_ok());
        assert_eq!(
            Bitmap::new(&words[..], 129).unwrap_err(),
            BitmapError::StorageTooSmall {
                need_words: 3,
                have_words: 2
            }
        );
        assert_eq!(
            Bitmap::for_sectors(&words[..], 1025).unwrap_err(),
            BitmapError::StorageTooSmall {
                need_words: 3,
                have_words: 2
            }
        );
        let b = Bitmap::for_sectors(&words[..], 1023).unwrap();
        assert_eq!(b.bits(), 128);
        assert_eq!(b.sectors(), 1023);
        let b = Bitmap::new(words, 100).unwrap();
        assert_eq!(b.sectors(), 800);
        assert_eq!(b.storage().len(), 2);
        assert_eq!(b.into_storage(), [0, 0]);
        let empty: [u64; 0] = [];
        let b = Bitmap::new(&empty[..], 0).unwrap();
        assert_eq!(b.count(), 0);
        assert_eq!(b.runs().count(), 0);
        assert_eq!(b.find_next_clear(0), None);
    }

    #[test]
    fn bits_and_ranges() {
        let mut b = bm(200);
        assert!(b.set(0));
        assert!(!b.set(0));
        assert!(b.set(199));
        assert!(!b.set(200), "past the end");
        assert!(!b.test(200));
        assert_eq!(b.count(), 2);
        assert!(b.clear(0));
        assert!(!b.clear(0));
        assert_eq!(b.set_range(10..150), 140);
        assert_eq!(b.set_range(5..20), 5);
        assert_eq!(b.count(), 146);
        assert_eq!(b.count_range(0..64), 59);
        assert_eq!(b.count_range(64..128), 64);
        assert_eq!(b.count_range(140..1000), 11);
        assert_eq!(b.count_range(30..30), 0);
        #[allow(clippy::reversed_empty_ranges)]
        let rev = 40..30;
        assert_eq!(b.count_range(rev), 0);
        assert_eq!(b.clear_range(0..12), 7);
        assert_eq!(b.runs().collect::<Vec<_>>(), vec![12..150, 199..200]);
        assert_eq!(b.find_next_set(0), Some(12));
        assert_eq!(b.find_next_set(150), Some(199));
        assert_eq!(b.find_next_set(200), None);
        assert_eq!(b.find_next_clear(12), Some(150));
        assert_eq!(b.find_next_clear(199), None);
        assert_eq!(b.set_range(1000..2000), 0);
        assert_eq!(b.set_all(), 200 - 139);
        assert_eq!(b.count(), 200);
        assert_eq!(b.runs().collect::<Vec<_>>(), vec![0..200]);
        // Surplus bits of the last word stay clear.
        assert_eq!(b.storage()[3], (1u64 << 8) - 1);
        b.clear_all();
        assert_eq!(b.count(), 0);
        assert_eq!(b.find_next_clear(5), Some(5));
    }

    #[test]
    fn surplus_in_storage_is_ignored_and_cleared() {
        let mut words = [u64::MAX; 3];
        {
            let b = Bitmap::new(&words[..], 70).unwrap();
            assert_eq!(b.count(), 70);
            assert_eq!(b.runs().collect::<Vec<_>>(), vec![0..70]);
            assert_eq!(b.find_next_clear(0), None);
            let mut out = [0u8; 24];
            b.write_le_bytes(0, &mut out);
            assert_eq!(
                &out[8..],
                &[0x3f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            );
        }
        let mut b = Bitmap::new(&mut words[..], 70).unwrap();
        b.clear_surplus();
        assert_eq!(b.storage()[1], 0x3f);
        assert_eq!(b.storage()[2], 0);
        assert_eq!(b.count(), 70);
    }

    #[test]
    fn sector_ranges_set_rounds_out() {
        let mut b = Bitmap::for_sectors(vec![0u64; 2], 100).unwrap(); // 13 bits, last partial
        assert_eq!(b.bits(), 13);
        // Sectors 3..=4 touch block 0 only.
        assert_eq!(b.set_out_of_sync(3, 2), 1);
        assert!(b.test(0));
        // Sectors 7..=8 touch blocks 0 and 1.
        assert_eq!(b.set_out_of_sync(7, 2), 1);
        assert!(b.test(1));
        // Past the end: clipped / ignored.
        assert_eq!(b.set_out_of_sync(95, 1000), 2);
        assert!(b.test(11) && b.test(12));
        assert_eq!(b.set_out_of_sync(100, 8), 0);
        assert_eq!(b.set_out_of_sync(5, 0), 0);
        assert_eq!(b.set_out_of_sync(u64::MAX, u64::MAX), 0);
        assert_eq!(b.count_sectors(0, 16), 2);
        assert_eq!(b.count_sectors(0, 0), 0);
        assert_eq!(b.count_sectors(96, 4), 1);
    }

    #[test]
    fn sector_ranges_clear_rounds_in() {
        let mut b = Bitmap::for_sectors(vec![0u64; 2], 100).unwrap(); // blocks 0..=12
        b.set_all();
        // Partial blocks are not cleared.
        assert_eq!(
            b.set_in_sync(1, 14),
            0,
            "sectors 1..=14 cover no whole block"
        );
        assert_eq!(b.set_in_sync(0, 7), 0, "end sector < 7");
        assert_eq!(b.set_in_sync(4, 20), 2, "sectors 4..=23: blocks 1 and 2");
        assert!(b.test(0) && !b.test(1) && !b.test(2) && b.test(3));
        assert_eq!(b.set_in_sync(0, 8), 1);
        assert!(!b.test(0));
        // The last block (sectors 96..=99, partial) is cleared by a range that reaches the
        // last sector of the device ...
        assert_eq!(
            b.set_in_sync(96, 3),
            0,
            "sectors 96..=98 do not reach the end"
        );
        assert!(b.test(12));
        assert_eq!(b.set_in_sync(96, 4), 1);
        assert!(!b.test(12));
        // ... also when the request runs past it (clipped first).
        b.set(12);
        assert_eq!(b.set_in_sync(88, 100), 2);
        assert!(!b.test(11) && !b.test(12));
        assert_eq!(b.set_in_sync(100, 8), 0);
        assert_eq!(b.set_in_sync(0, 0), 0);
        assert_eq!(b.count(), 8);
        // A whole-device clear empties it.
        assert_eq!(b.set_in_sync(0, 100), 8);
        assert_eq!(b.count(), 0);
    }

    #[test]
    fn tiny_device() {
        // 5 sectors: 1 bit, the only block is partial.
        let mut b = Bitmap::for_sectors([0u64; 1], 5).unwrap();
        assert_eq!(b.set_out_of_sync(0, 1), 1);
        // esector 4 < 7: the kernel bails out before the last-block rule.
        assert_eq!(b.set_in_sync(0, 5), 0);
        assert_eq!(b.count(), 1);
    }

    #[test]
    fn on_disk_byte_order() {
        let mut b = bm(100);
        b.set(0);
        b.set(9);
        b.set(63);
        b.set(64);
        b.set(99);
        let mut out = [0xAAu8; 16];
        b.write_le_bytes(0, &mut out);
        // Bit n is byte n >> 3, mask 1 << (n & 7).
        assert_eq!(out, [1, 2, 0, 0, 0, 0, 0, 0x80, 1, 0, 0, 0, 0x08, 0, 0, 0]);
        // Unaligned windows see the same bytes.
        let mut part = [0u8; 7];
        b.write_le_bytes(5, &mut part);
        assert_eq!(part, [0, 0, 0x80, 1, 0, 0, 0]);
        let mut far = [0xffu8; 4];
        b.write_le_bytes(1 << 62, &mut far);
        assert_eq!(far, [0; 4]);
        // Reading it back.
        let mut c = bm(100);
        c.read_le_bytes(0, &out);
        assert_eq!(c.storage(), b.storage());
        // Partial, unaligned read.
        let mut d = bm(100);
        d.read_le_bytes(7, &out[7..9]);
        assert_eq!(d.runs().collect::<Vec<_>>(), vec![63..65]);
        // Junk past the used bytes and in surplus bits is ignored.
        let mut e = bm(100);
        e.read_le_bytes(0, &[0xff; 40]);
        assert_eq!(e.count(), 100);
        assert_eq!(e.storage()[1], (1 << 36) - 1);
    }

    #[test]
    fn pages() {
        let bits = BITS_PER_PAGE + 100;
        let mut b = bm(bits);
        b.set(5);
        b.set(BITS_PER_PAGE + 3);
        let mut p0 = [0u8; BM_PAGE_SIZE];
        let mut p1 = [0xffu8; BM_PAGE_SIZE];
        b.write_page(0, &mut p0);
        b.write_page(1, &mut p1);
        assert_eq!(p0[0], 0x20);
        assert_eq!(p1[0], 0x08);
        assert!(p1[13..].iter().all(|&x| x == 0), "zero past the end");
        let mut c = bm(bits);
        c.read_page(1, &p1);
        c.read_page(0, &p0);
        assert_eq!(
            c.runs().collect::<Vec<_>>(),
            vec![5..6, BITS_PER_PAGE + 3..BITS_PER_PAGE + 4]
        );
        c.read_page(u64::MAX, &p0);
        assert_eq!(c.count(), 2);
    }

    fn md_tail(node: char) -> Vec<u8> {
        let path = format!(
            "{}/testdata/auth-csums-verify.node-{node}.md-tail-1MiB.bin.xz",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut compressed = Vec::new();
        std::fs::File::open(path)
            .unwrap()
            .read_to_end(&mut compressed)
            .unwrap();
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &compressed[..], &mut out).unwrap();
        out
    }

    /// The bitmap drbd.ko left on the 8 MiB test disks after the session (full sync, a
    /// bitmap resync and a verify that found nothing): all 2038 bits clear. The rest of the
    /// 4 KiB page (past the 32 used words) is not zeroed by the kernel and must be ignored.
    #[test]
    fn real_drbd_ko_bitmap() {
        // Internal meta data on 16384 sectors: bitmap at 16376 − 72 = 16304, 8 sectors.
        let bm_sector = 16304u64;
        let tail_start = 16384u64 - 2048;
        for node in ['a', 'b'] {
            let tail = md_tail(node);
            let off = ((bm_sector - tail_start) * 512) as usize;
            let page: [u8; 4096] = tail[off..off + 4096].try_into().unwrap();
            assert!(page[..256].iter().all(|&x| x == 0), "node {node}");
            let junk = page[256..].iter().any(|&x| x != 0);
            let mut words = vec![u64::MAX; 32];
            let mut b = Bitmap::for_sectors(&mut words[..], 16304).unwrap();
            assert_eq!(b.bits(), 2038);
            b.read_page(0, &page);
            assert_eq!(
                b.count(),
                0,
                "node {node}: no out-of-sync blocks after the run"
            );
            let mut back = [0xffu8; 4096];
            b.write_page(0, &mut back);
            assert_eq!(&back[..256], &page[..256]);
            assert!(back[256..].iter().all(|&x| x == 0));
            if junk {
                assert_ne!(
                    back, page,
                    "the kernel's unused page tail is not reproduced"
                );
            }
            // The data area ends at the bitmap: the sectors before it are data, not ours.
            assert_eq!(tail_start + (off as u64) / 512, 16304);
        }
    }

    proptest! {
        /// Range operations agree with a set-of-bits model.
        #[test]
        fn model_check(
            bits in 1u64..600,
            ops in prop::collection::vec((any::<bool>(), 0u64..700, 0u64..700), 1..40),
        ) {
            let mut b = bm(bits);
            let mut model = BTreeSet::new();
            for (set, a, z) in ops {
                let (lo, hi) = if a <= z { (a, z) } else { (z, a) };
                let want: u64 = (lo..hi.min(bits))
                    .filter(|i| model.contains(i) != set)
                    .count() as u64;
                let got = if set { b.set_range(lo..hi) } else { b.clear_range(lo..hi) };
                prop_assert_eq!(got, want);
                for i in lo..hi.min(bits) {
                    if set { model.insert(i); } else { model.remove(&i); }
                }
                prop_assert_eq!(b.count(), model.len() as u64);
                let q = lo / 2..hi + 3;
                prop_assert_eq!(b.count_range(q.clone()), model.range(q).count() as u64);
            }
            // Runs reproduce the model exactly.
            let mut from_runs = BTreeSet::new();
            for r in b.runs() {
                prop_assert!(r.start < r.end && r.end <= bits);
                from_runs.extend(r);
            }
            prop_assert_eq!(&from_runs, &model);
            for i in 0..bits {
                prop_assert_eq!(b.test(i), model.contains(&i));
            }
        }

        /// Bytes → bitmap → bytes is the identity on the used bytes (surplus bits cleared).
        #[test]
        fn le_bytes_round_trip(bits in 1u64..2000, data in prop::collection::vec(any::<u8>(), 256)) {
            let mut b = bm(bits);
            b.read_le_bytes(0, &data);
            let mut out = vec![0u8; 256];
            b.write_le_bytes(0, &mut out);
            for n in 0..(256 * 8) {
                let bit_in = data[n / 8] & (1 << (n % 8)) != 0;
                let bit_out = out[n / 8] & (1 << (n % 8)) != 0;
                prop_assert_eq!(bit_out, bit_in && (n as u64) < bits);
                prop_assert_eq!(b.test(n as u64), bit_out);
            }
            // And bitmap → bytes → bitmap.
            let mut c = bm(bits);
            c.read_le_bytes(0, &out);
            prop_assert_eq!(c.storage(), b.storage());
        }

        /// Sector operations follow the kernel's rounding rules (checked against a
        /// per-sector model).
        #[test]
        fn sector_rules(
            sectors in 1u64..300,
            ops in prop::collection::vec((any::<bool>(), 0u64..320, 0u64..80), 1..30),
        ) {
            let mut b = Bitmap::for_sectors(vec![0u64; 1], sectors).unwrap();
            let nbits = bits_for_sectors(sectors);
            let mut model = vec![false; nbits as usize];
            for (set, s, n) in ops {
                let got = if set { b.set_out_of_sync(s, n) } else { b.set_in_sync(s, n) };
                let mut want = 0;
                if n > 0 && s < sectors {
                    let e = (s + n - 1).min(sectors - 1);
                    for (bit, m) in model.iter_mut().enumerate() {
                        let first = bit as u64 * 8;
                        let last = (first + 7).min(sectors - 1);
                        let touched = first <= e && last >= s;
                        // Cleared only if the range covers the whole block; the device's
                        // last block counts as whole when the range reaches the last sector,
                        // but never when the range ends before sector 7.
                        let covered = s <= first
                            && (first + 7 <= e || (e == sectors - 1 && last == e))
                            && e >= 7;
                        if set && touched && !*m {
                            *m = true;
                            want += 1;
                        }
                        if !set && covered && *m {
                            *m = false;
                            want += 1;
                        }
                    }
                }
                prop_assert_eq!(got, want);
            }
            for (i, m) in model.iter().enumerate() {
                prop_assert_eq!(b.test(i as u64), *m);
            }
        }
    }
}
