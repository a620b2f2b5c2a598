// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 activity log (AL): the 4 KiB transaction codec, its placement in the on-disk
//! ring buffer, and the replay `drbdmeta apply-al` performs.
//!
//! Spec: `on-disk-metadata.md` §6 (activity log), §7 (bitmap), §8 (clean/unclean life cycle)
//! and §9 (what create-md writes). The replay follows drbd-utils' `replay_al_84()` /
//! `replay_al_07()` / `apply_al()` / `meta_apply_al()` step by step, including their quirks
//! (noted where they matter), so that the admin tool can stand in for `drbdmeta apply-al` and
//! leave byte-identical meta data behind. The reference is drbd-utils 9.22.0 (what the spec
//! was verified with; later versions skip one more extent at the bitmap's end, see
//! [`plan_apply_al`]). Not covered: DRBD 9's persistent-memory AL format and the 0.7
//! superblock, which `apply-al` also knows.
//!
//! Everything here works on caller-provided buffers: 4 KiB blocks as `[u8; 4096]`, and the
//! replay's slot table (one `u32` per AL slot, [`AL_EXTENTS_MAX`] of them) as `&mut [u32]`.
//!
//! The flow for `apply-al`:
//!
//! 1. read the superblock ([`Superblock::decode`]), validate its geometry
//!    ([`Superblock::check_geometry`]) and read the whole AL area (in on-disk order), or give
//!    the replay an [`AlBlockSource`] that reads it block by block;
//! 2. [`plan_apply_al`] (or [`plan_apply_al_from`]) → an [`ApplyAlPlan`]: which extents to
//!    mark, whether to re-initialize the AL, and the superblock to write (if any);
//! 3. mark the extents, either in an in-core [`Bitmap`] ([`mark_al_extents`]) or, for a
//!    byte-exact copy of drbdmeta's behaviour, page by page in the on-disk bitmap
//!    ([`ApplyAlPlan::bitmap_pages`] + [`mark_al_extents_in_page`]);
//! 4. write every AL block as [`encode_initialized_slot`] if [`ApplyAlPlan::reinitialize_al`];
//! 5. write [`ApplyAlPlan::superblock`] if it is `Some`.

use core::ops::Range;

use super::bitmap::{
    al_extent_bits, bits_for_sectors, on_disk_bytes_for_bits, Bitmap, BITS_PER_AL_EXTENT,
    BM_PAGE_SIZE,
};
use super::crc32c::{crc32c_drbd, crc32c_drbd_zeros};
use super::meta_data::{
    AlGeometry, MdError, MdFlags, MdGeometry, Superblock, BM_BYTES_PER_BIT, DRBD_AL_MAGIC,
    DRBD_MAGIC, DRBD_MD_MAGIC_08, DRBD_MD_MAGIC_84_UNCLEAN, MD_BLOCK_SIZE,
};

/// Size of one AL transaction block (`struct al_transaction_on_disk`).
pub const AL_TRANSACTION_SIZE: usize = MD_BLOCK_SIZE;
/// Slot changes one transaction can carry (`AL_UPDATES_PER_TRANSACTION`).
pub const AL_UPDATES_PER_TRANSACTION: usize = 64;
/// Context entries one transaction carries (`AL_CONTEXT_PER_TRANSACTION`).
pub const AL_CONTEXT_PER_TRANSACTION: usize = 919;
/// Transaction type of a regular transaction (`AL_TR_UPDATE`).
pub const AL_TR_UPDATE: u16 = 0;
/// Transaction type of an initialized, empty slot (`AL_TR_INITIALIZED`).
pub const AL_TR_INITIALIZED: u16 = 0xFFFF;
/// Extent number of a free slot (`LC_FREE`); also fills unused update and context entries.
pub const LC_FREE: u32 = u32::MAX;
/// Slot number of an unused update entry.
pub const UPDATE_SLOT_UNUSED: u16 = 0xFFFF;
/// log2 of the AL extent size (4 MiB).
pub const AL_EXTENT_SHIFT: u32 = 22;
/// Sectors per AL extent (8192; extent number = sector >> 13).
pub const AL_EXTENT_SECTORS: u64 = 1 << (AL_EXTENT_SHIFT - 9);
/// Bytes of on-disk bitmap per AL extent (1024 bits).
pub const BM_BYTES_PER_AL_EXTENT: u64 = BITS_PER_AL_EXTENT / 8;
/// AL extents per 4 KiB bitmap page.
pub const AL_EXTENTS_PER_BM_PAGE: u64 = BM_PAGE_SIZE as u64 / BM_BYTES_PER_AL_EXTENT;
/// Largest `al-extents` (`DRBD_AL_EXTENTS_MAX`); also the number of slots drbdmeta replays
/// into (slot numbers at or above it are ignored).
pub const AL_EXTENTS_MAX: usize = 65534;
/// Smallest `al-extents` (`DRBD_AL_EXTENTS_MIN`).
pub const AL_EXTENTS_MIN: u32 = 67;
/// Default `al-extents` (`DRBD_AL_EXTENTS_DEF`).
pub const AL_EXTENTS_DEFAULT: u32 = 1237;
/// The CRC of an initialized slot ([`encode_initialized_slot`]), as drbdmeta writes it.
pub const INITIALIZED_SLOT_CRC: u32 = 0x709C_C651;

/// Byte offsets of the transaction fields (on-disk-metadata.md §6.2).
const OFF_MAGIC: usize = 0;
const OFF_TR_NUMBER: usize = 4;
const OFF_CRC: usize = 8;
const OFF_TYPE: usize = 12;
const OFF_N_UPDATES: usize = 14;
const OFF_CONTEXT_SIZE: usize = 16;
const OFF_CONTEXT_START: usize = 18;
const OFF_RESERVED: usize = 20;
const OFF_UPDATE_SLOT: usize = 36;
const OFF_UPDATE_EXTENT: usize = OFF_UPDATE_SLOT + 2 * AL_UPDATES_PER_TRANSACTION;
const OFF_CONTEXT: usize = OFF_UPDATE_EXTENT + 4 * AL_UPDATES_PER_TRANSACTION;
/// Number of reserved `u32` words after the header.
pub const AL_RESERVED_WORDS: usize = 4;

const _: () = assert!(OFF_UPDATE_EXTENT == 164);
const _: () = assert!(OFF_CONTEXT == 420);
const _: () = assert!(OFF_CONTEXT + 4 * AL_CONTEXT_PER_TRANSACTION == AL_TRANSACTION_SIZE);

fn get_be16(b: &[u8], off: usize) -> u16 {
    off.checked_add(2)
        .and_then(|end| b.get(off..end))
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_be_bytes)
}

fn get_be32(b: &[u8], off: usize) -> u32 {
    off.checked_add(4)
        .and_then(|end| b.get(off..end))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
}

fn put_bytes(b: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(d) = off
        .checked_add(bytes.len())
        .and_then(|end| b.get_mut(off..end))
    {
        d.copy_from_slice(bytes);
    }
}

fn put_be16(b: &mut [u8], off: usize, v: u16) {
    put_bytes(b, off, &v.to_be_bytes());
}

fn put_be32(b: &mut [u8], off: usize, v: u32) {
    put_bytes(b, off, &v.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// CRC and the transaction view
// ---------------------------------------------------------------------------------------------

/// The CRC a transaction block must carry: `crc32c(0, block, 4096)` computed with the crc
/// field taken as zero (whatever it holds), as the kernel and drbdmeta do.
pub fn al_block_crc(block: &[u8; AL_TRANSACTION_SIZE]) -> u32 {
    let head = block.get(..OFF_CRC).unwrap_or(&[]);
    let tail = block.get(OFF_CRC + 4..).unwrap_or(&[]);
    let crc = crc32c_drbd(0, head);
    let crc = crc32c_drbd_zeros(crc, 4);
    crc32c_drbd(crc, tail)
}

/// Compute the CRC of `block` and store it in its crc field; returns it.
pub fn seal(block: &mut [u8; AL_TRANSACTION_SIZE]) -> u32 {
    let crc = al_block_crc(block);
    put_be32(block, OFF_CRC, crc);
    crc
}

/// What an AL block is, as drbdmeta's `replay_al_84` classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlSlotStatus {
    /// The magic is not [`DRBD_AL_MAGIC`]: invalid.
    BadMagic,
    /// Magic fine, CRC wrong: invalid (e.g. a torn write).
    BadCrc,
    /// Valid, type [`AL_TR_INITIALIZED`]: nothing to replay.
    Initialized,
    /// Valid, type [`AL_TR_UPDATE`].
    Update,
    /// Valid, but of another type. drbdmeta only warns (`d_expect`) and replays it like an
    /// update; so does [`replay_al_84`].
    OtherType(u16),
}

impl AlSlotStatus {
    /// Magic and CRC are correct.
    pub const fn is_valid(self) -> bool {
        matches!(self, Self::Initialized | Self::Update | Self::OtherType(_))
    }

    /// A valid transaction that takes part in the replay (anything but initialized).
    pub const fn is_replayed(self) -> bool {
        matches!(self, Self::Update | Self::OtherType(_))
    }
}

/// One slot change of a transaction: AL slot `slot` now holds extent `extent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlUpdate {
    /// AL slot index (`update_slot_nr[]`).
    pub slot: u16,
    /// The slot's new extent number (`update_extent_nr[]`); [`LC_FREE`] frees it.
    pub extent: u32,
}

/// A read-only view of one 4 KiB AL transaction block (big-endian fields, §6.2). Accessors
/// never fail: they read whatever the block holds.
#[derive(Clone, Copy)]
pub struct AlTransaction<'a> {
    block: &'a [u8; AL_TRANSACTION_SIZE],
}

impl core::fmt::Debug for AlTransaction<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AlTransaction")
            .field("magic", &self.magic())
            .field("tr_number", &self.tr_number())
            .field("crc32c", &self.crc32c())
            .field("transaction_type", &self.transaction_type())
            .field("n_updates", &self.n_updates())
            .field("context_size", &self.context_size())
            .field("context_start_slot_nr", &self.context_start_slot_nr())
            .finish_non_exhaustive()
    }
}

impl<'a> AlTransaction<'a> {
    /// View `block`.
    pub const fn new(block: &'a [u8; AL_TRANSACTION_SIZE]) -> Self {
        Self { block }
    }

    /// The underlying block.
    pub const fn block(&self) -> &'a [u8; AL_TRANSACTION_SIZE] {
        self.block
    }

    /// `magic` (valid: [`DRBD_AL_MAGIC`]).
    pub fn magic(&self) -> u32 {
        get_be32(self.block, OFF_MAGIC)
    }

    /// `tr_number`, the 32-bit wrapping sequence number.
    pub fn tr_number(&self) -> u32 {
        get_be32(self.block, OFF_TR_NUMBER)
    }

    /// The stored `crc32c`.
    pub fn crc32c(&self) -> u32 {
        get_be32(self.block, OFF_CRC)
    }

    /// `transaction_type` ([`AL_TR_UPDATE`] or [`AL_TR_INITIALIZED`]).
    pub fn transaction_type(&self) -> u16 {
        get_be16(self.block, OFF_TYPE)
    }

    /// `n_updates`: valid entries of the update arrays (0..=64 when written by the kernel).
    pub fn n_updates(&self) -> u16 {
        get_be16(self.block, OFF_N_UPDATES)
    }

    /// `context_size`: the number of AL slots (`al-extents`) when it was written.
    pub fn context_size(&self) -> u16 {
        get_be16(self.block, OFF_CONTEXT_SIZE)
    }

    /// `context_start_slot_nr`: the slot `context[0]` describes.
    pub fn context_start_slot_nr(&self) -> u16 {
        get_be16(self.block, OFF_CONTEXT_START)
    }

    /// Reserved word `i` (0..4); 0 for other `i`.
    pub fn reserved(&self, i: usize) -> u32 {
        if i < AL_RESERVED_WORDS {
            get_be32(self.block, OFF_RESERVED + 4 * i)
        } else {
            0
        }
    }

    /// `update_slot_nr[i]` (`i` < 64).
    pub fn update_slot_nr(&self, i: usize) -> Option<u16> {
        (i < AL_UPDATES_PER_TRANSACTION).then(|| get_be16(self.block, OFF_UPDATE_SLOT + 2 * i))
    }

    /// `update_extent_nr[i]` (`i` < 64).
    pub fn update_extent_nr(&self, i: usize) -> Option<u32> {
        (i < AL_UPDATES_PER_TRANSACTION).then(|| get_be32(self.block, OFF_UPDATE_EXTENT + 4 * i))
    }

    /// Update entry `i` (`i` < 64), used or not.
    pub fn update(&self, i: usize) -> Option<AlUpdate> {
        Some(AlUpdate {
            slot: self.update_slot_nr(i)?,
            extent: self.update_extent_nr(i)?,
        })
    }

    /// The first `min(n_updates, 64)` update entries.
    pub fn updates(&self) -> impl Iterator<Item = AlUpdate> + 'a {
        let this = *self;
        let n = usize::from(this.n_updates()).min(AL_UPDATES_PER_TRANSACTION);
        (0..n).filter_map(move |i| this.update(i))
    }

    /// `context[i]` (`i` < 919): the extent of slot `context_start_slot_nr + i`.
    pub fn context(&self, i: usize) -> Option<u32> {
        (i < AL_CONTEXT_PER_TRANSACTION).then(|| get_be32(self.block, OFF_CONTEXT + 4 * i))
    }

    /// All 919 context entries as `(slot, extent)`, slot = `context_start_slot_nr + i`.
    pub fn context_entries(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        let this = *self;
        let start = u32::from(this.context_start_slot_nr());
        (0..AL_CONTEXT_PER_TRANSACTION).filter_map(move |i| {
            let e = this.context(i)?;
            Some((start + i as u32, e))
        })
    }

    /// The CRC the block should carry ([`al_block_crc`]).
    pub fn computed_crc32c(&self) -> u32 {
        al_block_crc(self.block)
    }

    /// Classify: magic, then CRC, then type (drbdmeta's `v84_al_disk_to_cpu` + type checks).
    pub fn status(&self) -> AlSlotStatus {
        if self.magic() != DRBD_AL_MAGIC {
            AlSlotStatus::BadMagic
        } else if self.crc32c() != self.computed_crc32c() {
            AlSlotStatus::BadCrc
        } else {
            match self.transaction_type() {
                AL_TR_INITIALIZED => AlSlotStatus::Initialized,
                AL_TR_UPDATE => AlSlotStatus::Update,
                t => AlSlotStatus::OtherType(t),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Write what `drbdmeta create-md` and `apply-al` (`initialize_al`) put into every AL slot:
/// magic, `tr_number` 0, type [`AL_TR_INITIALIZED`], every other field 0 (the update arrays
/// too, not 0xFFFF), and the CRC, which is then [`INITIALIZED_SLOT_CRC`].
pub fn encode_initialized_slot(block: &mut [u8; AL_TRANSACTION_SIZE]) {
    block.fill(0);
    put_be32(block, OFF_MAGIC, DRBD_AL_MAGIC);
    put_be16(block, OFF_TYPE, AL_TR_INITIALIZED);
    seal(block);
}

/// The contents of an update transaction as the kernel writes it (`__al_write_transaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlUpdateTransaction<'a> {
    /// `tr_number`.
    pub tr_number: u32,
    /// `context_size`: the number of AL slots (`act_log->nr_elements`).
    pub context_size: u16,
    /// `context_start_slot_nr` (the kernel's `al_tr_cycle`).
    pub context_start_slot_nr: u16,
    /// The slot changes (at most 64); `n_updates` = `updates.len()`.
    pub updates: &'a [AlUpdate],
    /// Extents of slots `context_start_slot_nr ..` (at most 919, normally
    /// [`context_window`]'s length); missing entries are written as [`LC_FREE`].
    pub context: &'a [u32],
}

/// Why a transaction could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlEncodeError {
    /// More than 64 updates.
    TooManyUpdates {
        /// Updates given.
        n: usize,
    },
    /// More than 919 context entries.
    TooManyContextEntries {
        /// Entries given.
        n: usize,
    },
}

impl core::fmt::Display for AlEncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooManyUpdates { n } => write!(
                f,
                "{n} AL updates exceed {AL_UPDATES_PER_TRANSACTION} per transaction"
            ),
            Self::TooManyContextEntries { n } => write!(
                f,
                "{n} AL context entries exceed {AL_CONTEXT_PER_TRANSACTION} per transaction"
            ),
        }
    }
}

/// Encode an update transaction into `block` exactly as the kernel does: zeroed block, magic,
/// `tr_number`, type [`AL_TR_UPDATE`], `n_updates`, the update entries (unused ones 0xFFFF /
/// [`LC_FREE`]), context size and start, the context (the rest [`LC_FREE`]), reserved words
/// 0, and the CRC. On error `block` is left untouched.
pub fn encode_update_transaction(
    block: &mut [u8; AL_TRANSACTION_SIZE],
    tr: &AlUpdateTransaction<'_>,
) -> Result<(), AlEncodeError> {
    if tr.context.len() > AL_CONTEXT_PER_TRANSACTION {
        return Err(AlEncodeError::TooManyContextEntries {
            n: tr.context.len(),
        });
    }
    encode_update_transaction_from(
        block,
        tr.tr_number,
        tr.context_size,
        tr.context_start_slot_nr,
        tr.updates,
        tr.context.iter().copied(),
    )
}

/// [`encode_update_transaction`] with the context given as an iterator (the kernel's AL
/// builds it from its slot table without a 3.6 KiB array on the stack); entries beyond 919
/// are ignored.
pub fn encode_update_transaction_from(
    block: &mut [u8; AL_TRANSACTION_SIZE],
    tr_number: u32,
    context_size: u16,
    context_start_slot_nr: u16,
    updates: &[AlUpdate],
    context: impl Iterator<Item = u32>,
) -> Result<(), AlEncodeError> {
    if updates.len() > AL_UPDATES_PER_TRANSACTION {
        return Err(AlEncodeError::TooManyUpdates { n: updates.len() });
    }
    block.fill(0);
    put_be32(block, OFF_MAGIC, DRBD_AL_MAGIC);
    put_be32(block, OFF_TR_NUMBER, tr_number);
    put_be16(block, OFF_TYPE, AL_TR_UPDATE);
    // At most 64, checked above.
    put_be16(block, OFF_N_UPDATES, updates.len() as u16);
    put_be16(block, OFF_CONTEXT_SIZE, context_size);
    put_be16(block, OFF_CONTEXT_START, context_start_slot_nr);
    for i in 0..AL_UPDATES_PER_TRANSACTION {
        let u = updates.get(i).copied().unwrap_or(AlUpdate {
            slot: UPDATE_SLOT_UNUSED,
            extent: LC_FREE,
        });
        put_be16(block, OFF_UPDATE_SLOT + 2 * i, u.slot);
        put_be32(block, OFF_UPDATE_EXTENT + 4 * i, u.extent);
    }
    let mut context = context.fuse();
    for i in 0..AL_CONTEXT_PER_TRANSACTION {
        let e = context.next().unwrap_or(LC_FREE);
        put_be32(block, OFF_CONTEXT + 4 * i, e);
    }
    seal(block);
    Ok(())
}

/// The slots a transaction starting its context at `start` describes when the AL has
/// `context_size` slots: `start .. min(start + 919, context_size)` (empty if `start` is past
/// the end). The kernel fills `context[]` with these slots' extents.
pub const fn context_window(context_size: u16, start: u16) -> Range<u32> {
    let size = context_size as u32;
    let start = start as u32;
    let end = start + AL_CONTEXT_PER_TRANSACTION as u32;
    let end = if end < size { end } else { size };
    if start < end {
        start..end
    } else {
        start..start
    }
}

/// The next transaction's context start (`al_tr_cycle`): `start + 919`, wrapping to 0 once it
/// reaches `context_size`.
pub const fn next_context_start(start: u16, context_size: u16) -> u16 {
    let next = start as u32 + AL_CONTEXT_PER_TRANSACTION as u32;
    if next >= context_size as u32 {
        0
    } else {
        // < context_size <= u16::MAX.
        next as u16
    }
}

/// The largest `al-extents` an AL of this size supports (`drbd_al_extents_max`): 65534 if the
/// ring has more than 72 blocks, else `(blocks − 1) × 919` (one transaction may be torn).
pub const fn al_extents_max(al: AlGeometry) -> u32 {
    let max = AL_EXTENTS_MAX as u64;
    let sufficient = max.div_ceil(AL_CONTEXT_PER_TRANSACTION as u64);
    let blocks = al.size_4k();
    if blocks > sufficient {
        max as u32
    } else {
        // blocks <= 72 here, so the product is < 2^17.
        (blocks.saturating_sub(1) * AL_CONTEXT_PER_TRANSACTION as u64) as u32
    }
}

/// The `al-extents` the kernel uses for a configured value: raised to 67, then clamped to
/// [`al_extents_max`].
pub const fn effective_al_extents(requested: u32, al: AlGeometry) -> u32 {
    let v = if requested < AL_EXTENTS_MIN {
        AL_EXTENTS_MIN
    } else {
        requested
    };
    let max = al_extents_max(al);
    if v > max {
        max
    } else {
        v
    }
}

/// The AL extent containing data sector `sector` (4 MiB extents).
pub const fn sector_to_al_extent(sector: u64) -> u64 {
    sector >> (AL_EXTENT_SHIFT - 9)
}

// ---------------------------------------------------------------------------------------------
// Placement
// ---------------------------------------------------------------------------------------------

/// The 4 KiB block (index inside the AL area) that holds ring position `n` — equivalently
/// transaction number `n` (§6.3): `t = n mod (S×Z)`, block `(t mod S) × Z + t div S`.
/// Returns 0 for a degenerate geometry (a zero stripe count or size).
pub const fn al_ring_block(al: AlGeometry, n: u64) -> u64 {
    let stripes = al.stripes as u64;
    let stripe_size = al.stripe_size_4k as u64;
    let Some(t) = n.checked_rem(stripes.saturating_mul(stripe_size)) else {
        return 0;
    };
    // stripes > 0 here; t < S×Z, so the result is < S×Z.
    (t % stripes) * stripe_size + t / stripes
}

/// The absolute sector (on the meta device) where the kernel writes transaction `tr_number`
/// (`al_tr_number_to_on_disk_sector`): `md_offset + al_offset + 8 × block`.
pub const fn al_transaction_sector(g: &MdGeometry, tr_number: u32) -> u64 {
    g.al_sector()
        .wrapping_add(al_ring_block(g.al, tr_number as u64).wrapping_mul(8))
}

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

/// Random access to the blocks of an AL area, in on-disk order, for the replay: a slice of
/// blocks held in memory, or a reader that fetches one block at a time from the meta device
/// (so that an AL of up to 16 GiB never has to be held in memory at once).
pub trait AlBlockSource {
    /// Why a block could not be read (stops the replay).
    type Error;

    /// Number of blocks the area has.
    fn block_count(&self) -> u64;

    /// Block `index` (`< block_count()`); `Ok(None)` if it does not exist (it then counts
    /// as invalid, like a torn write). The reference is valid until the next call.
    fn block(&mut self, index: u64) -> Result<Option<&[u8; AL_TRANSACTION_SIZE]>, Self::Error>;
}

impl AlBlockSource for &[[u8; AL_TRANSACTION_SIZE]] {
    type Error = core::convert::Infallible;

    fn block_count(&self) -> u64 {
        self.len() as u64
    }

    fn block(&mut self, index: u64) -> Result<Option<&[u8; AL_TRANSACTION_SIZE]>, Self::Error> {
        Ok(usize::try_from(index).ok().and_then(|i| self.get(i)))
    }
}

/// The value of a computation over a slice source, which cannot fail.
fn infallible<T>(r: Result<T, core::convert::Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e {},
    }
}

/// Which AL format the replay read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlFormat {
    /// 8.4: 4 KiB transactions ([`AlTransaction`]).
    V84,
    /// 0.7 … 8.3: 512-byte transactions (`DRBD_MAGIC`, XOR checksum), read from the first
    /// 32 KiB of the AL area.
    Legacy,
}

/// A position in the ring and the transaction number found there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlCursor {
    /// Ring position (transaction number modulo the ring size; for the 8.4 format the block
    /// is [`al_ring_block`] of it, for the legacy format it is the 512-byte sector index).
    pub position: u64,
    /// The transaction's `tr_number`.
    pub tr_number: u32,
}

/// The result of the replay step, as drbdmeta's `replay_al_*` return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlReplayOutcome {
    /// Transactions were replayed (positive return): the AL must be re-initialized and, if
    /// the node was primary, the resulting extents applied to the bitmap.
    Replayed,
    /// Nothing to replay (0): every slot is initialized (or only slot 0 is corrupt and the
    /// others initialized — a failed very first write); legacy format: no valid sector.
    Clean,
    /// No valid slot at all (`-ENODATA`, "No usable activity log found").
    NoUsableLog,
    /// Some valid initialized slots, some corrupt ones, and no update (`-EINVAL`, "No valid
    /// AL update transaction found").
    NoValidUpdate,
}

/// What the replay saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlScan {
    /// The format replayed.
    pub format: AlFormat,
    /// Transactions (ring positions) examined.
    pub transactions: u64,
    /// Of those, valid ones (magic and checksum correct).
    pub valid: u64,
    /// Of those, ones that were replayed (8.4: not initialized; legacy: all valid ones).
    pub replayed: u64,
    /// Valid 8.4 transactions of a type other than update or initialized (replayed anyway).
    pub unexpected_type: u64,
    /// The oldest replayed transaction (signed 32-bit `tr_number` order).
    pub oldest: Option<AlCursor>,
    /// The newest replayed transaction.
    pub newest: Option<AlCursor>,
    /// Slot numbers ≥ [`AL_EXTENTS_MAX`] (or beyond the slot table) that were skipped
    /// ("slot number out of range").
    pub slots_out_of_range: u64,
    /// The outcome.
    pub outcome: AlReplayOutcome,
}

impl AlScan {
    /// Corrupt transactions (examined − valid); drbdmeta reports "N corrupt AL transactions
    /// found" when non-zero.
    pub const fn corrupt(&self) -> u64 {
        self.transactions.saturating_sub(self.valid)
    }
}

/// Oldest/newest tracking with drbdmeta's signed 32-bit difference rule.
struct Finder {
    count: u64,
    oldest: AlCursor,
    newest: AlCursor,
}

impl Finder {
    const fn new() -> Self {
        let c = AlCursor {
            position: 0,
            tr_number: 0,
        };
        Self {
            count: 0,
            oldest: c,
            newest: c,
        }
    }

    fn offer(&mut self, position: u64, tr_number: u32) {
        let c = AlCursor {
            position,
            tr_number,
        };
        self.count += 1;
        if self.count == 1 {
            self.oldest = c;
            self.newest = c;
            return;
        }
        if (tr_number as i32).wrapping_sub(self.oldest.tr_number as i32) < 0 {
            self.oldest = c;
        }
        if (tr_number as i32).wrapping_sub(self.newest.tr_number as i32) > 0 {
            self.newest = c;
        }
    }

    /// Ring positions oldest ..= newest (wrapping once), as drbdmeta walks them.
    fn walk(&self, ring: u64) -> Range<u64> {
        if self.count == 0 || ring == 0 {
            return 0..0;
        }
        let end = if self.newest.position < self.oldest.position {
            self.newest.position.saturating_add(ring)
        } else {
            self.newest.position
        };
        self.oldest.position..end.saturating_add(1)
    }

    fn cursors(&self) -> (Option<AlCursor>, Option<AlCursor>) {
        if self.count == 0 {
            (None, None)
        } else {
            (Some(self.oldest), Some(self.newest))
        }
    }
}

/// Store `extent` into slot `slot` of the table, unless the slot is out of range.
fn set_slot(slots: &mut [u32], slot: u32, extent: u32, out_of_range: &mut u64) {
    let bound = slots.len().min(AL_EXTENTS_MAX);
    match usize::try_from(slot) {
        Ok(s) if s < bound => {
            if let Some(v) = slots.get_mut(s) {
                *v = extent;
            }
        }
        _ => *out_of_range += 1,
    }
}

/// Replay an 8.4 activity log (`replay_al_84`): `blocks` is the whole AL area in on-disk
/// order (`al.size_4k()` blocks; missing ones count as invalid). `slots` is the slot → extent
/// table (give it [`AL_EXTENTS_MAX`] entries, as drbdmeta has; slot numbers beyond its length
/// are skipped like drbdmeta's out-of-range ones); it is first filled with [`LC_FREE`].
///
/// Valid blocks (magic, CRC) that are not initialized are ordered by signed 32-bit
/// `tr_number` difference; the ring positions from the oldest to the newest are walked in
/// order and, for each valid non-initialized transaction, first its context and then its
/// update entries are stored into the table. drbdmeta quirks kept: a context entry is
/// skipped only if it is [`LC_FREE`] *and* its slot is ≥ `context_size`; an update entry at
/// or beyond `n_updates` is still applied unless its slot is 0xFFFF.
pub fn replay_al_84(
    al: AlGeometry,
    blocks: &[[u8; AL_TRANSACTION_SIZE]],
    slots: &mut [u32],
) -> AlScan {
    infallible(replay_al_84_from(al, &mut &*blocks, slots))
}

/// [`replay_al_84`] over any [`AlBlockSource`] (each block is fetched when needed, some
/// twice); stops at the first read error.
pub fn replay_al_84_from<S: AlBlockSource>(
    al: AlGeometry,
    blocks: &mut S,
    slots: &mut [u32],
) -> Result<AlScan, S::Error> {
    slots.fill(LC_FREE);
    let ring = al.size_4k();
    let mut scan = AlScan {
        format: AlFormat::V84,
        transactions: ring,
        valid: 0,
        replayed: 0,
        unexpected_type: 0,
        oldest: None,
        newest: None,
        slots_out_of_range: 0,
        outcome: AlReplayOutcome::Clean,
    };
    let mut finder = Finder::new();
    let mut slot0_valid = false;
    for b in 0..ring {
        let Some(block) = blocks.block(al_ring_block(al, b))? else {
            continue;
        };
        let t = AlTransaction::new(block);
        let status = t.status();
        if !status.is_valid() {
            continue;
        }
        scan.valid += 1;
        if b == 0 {
            slot0_valid = true;
        }
        if !status.is_replayed() {
            continue;
        }
        if let AlSlotStatus::OtherType(_) = status {
            scan.unexpected_type += 1;
        }
        finder.offer(b, t.tr_number());
    }
    scan.replayed = finder.count;
    (scan.oldest, scan.newest) = finder.cursors();

    if scan.valid == 0 {
        scan.outcome = AlReplayOutcome::NoUsableLog;
        return Ok(scan);
    }
    if finder.count == 0 {
        scan.outcome =
            if scan.valid == ring || (!slot0_valid && scan.valid == ring.saturating_sub(1)) {
                AlReplayOutcome::Clean
            } else {
                AlReplayOutcome::NoValidUpdate
            };
        return Ok(scan);
    }

    let mut oor = 0u64;
    for b in finder.walk(ring) {
        let Some(block) = blocks.block(al_ring_block(al, b % ring))? else {
            continue;
        };
        let t = AlTransaction::new(block);
        if !t.status().is_replayed() {
            continue;
        }
        let size = u32::from(t.context_size());
        for (slot, extent) in t.context_entries() {
            if extent == LC_FREE && slot >= size {
                continue;
            }
            set_slot(slots, slot, extent, &mut oor);
        }
        let n = usize::from(t.n_updates());
        for i in 0..AL_UPDATES_PER_TRANSACTION {
            let Some(u) = t.update(i) else { continue };
            if i >= n && u.slot == UPDATE_SLOT_UNUSED {
                continue;
            }
            set_slot(slots, u32::from(u.slot), u.extent, &mut oor);
        }
    }
    scan.slots_out_of_range = oor;
    scan.outcome = AlReplayOutcome::Replayed;
    Ok(scan)
}

/// Size of a legacy (pre-8.4) AL transaction.
pub const LEGACY_AL_SECTOR_SIZE: usize = 512;
/// Entries of a legacy transaction (one update at index 0, 61 context entries).
pub const LEGACY_AL_ENTRIES: usize = 62;
/// Context entries per legacy transaction (`AL_EXTENTS_PT`).
pub const LEGACY_AL_EXTENTS_PT: u32 = 61;
/// Sectors of the legacy AL area (`MD_AL_MAX_SECT_07`, 32 KiB).
pub const LEGACY_AL_MAX_SECT: u64 = 64;
const LEGACY_OFF_ENTRIES: usize = 8;
const LEGACY_OFF_XOR: usize = LEGACY_OFF_ENTRIES + 8 * LEGACY_AL_ENTRIES;

/// Legacy sector `k` of the AL area, from the block source.
fn legacy_sector<S: AlBlockSource>(blocks: &mut S, k: u64) -> Result<Option<&[u8]>, S::Error> {
    let per_block = (AL_TRANSACTION_SIZE / LEGACY_AL_SECTOR_SIZE) as u64;
    let Some(block) = blocks.block(k / per_block)? else {
        return Ok(None);
    };
    let Ok(off) = usize::try_from(k % per_block) else {
        return Ok(None);
    };
    let off = off * LEGACY_AL_SECTOR_SIZE;
    Ok(block.get(off..off + LEGACY_AL_SECTOR_SIZE))
}

/// Whether a legacy sector is valid: `DRBD_MAGIC` and the XOR of the 62 extent numbers.
fn legacy_valid(s: &[u8]) -> bool {
    let mut xor = 0u32;
    for i in 0..LEGACY_AL_ENTRIES {
        xor ^= get_be32(s, LEGACY_OFF_ENTRIES + 8 * i + 4);
    }
    get_be32(s, 0) == DRBD_MAGIC && get_be32(s, LEGACY_OFF_XOR) == xor
}

/// Replay a pre-8.4 AL (`replay_al_07`): `1 + ceil(al_nr_extents / 61)` 512-byte transactions
/// at the start of the AL area (capped at the 64 sectors of its 32 KiB), each `DRBD_MAGIC`,
/// `tr_number`, 62 (slot, extent) pairs and an XOR checksum. Valid ones are walked oldest to
/// newest; in each, entries 61 down to 0 with an extent other than [`LC_FREE`] are stored.
/// The outcome is [`AlReplayOutcome::Replayed`] if any sector was valid, else
/// [`AlReplayOutcome::Clean`] (drbdmeta does not treat that as an error for this format).
pub fn replay_al_legacy(
    al_nr_extents: u32,
    blocks: &[[u8; AL_TRANSACTION_SIZE]],
    slots: &mut [u32],
) -> AlScan {
    infallible(replay_al_legacy_from(al_nr_extents, &mut &*blocks, slots))
}

/// [`replay_al_legacy`] over any [`AlBlockSource`]; stops at the first read error.
pub fn replay_al_legacy_from<S: AlBlockSource>(
    al_nr_extents: u32,
    blocks: &mut S,
    slots: &mut [u32],
) -> Result<AlScan, S::Error> {
    slots.fill(LC_FREE);
    // drbdmeta does not cap this and would overrun its 64-entry arrays; we stop at the area.
    let ring = (1 + u64::from(al_nr_extents).div_ceil(u64::from(LEGACY_AL_EXTENTS_PT)))
        .min(LEGACY_AL_MAX_SECT);
    let mut finder = Finder::new();
    for k in 0..ring {
        if let Some(s) = legacy_sector(blocks, k)? {
            if legacy_valid(s) {
                finder.offer(k, get_be32(s, 4));
            }
        }
    }
    let (oldest, newest) = finder.cursors();
    let mut scan = AlScan {
        format: AlFormat::Legacy,
        transactions: ring,
        valid: finder.count,
        replayed: finder.count,
        unexpected_type: 0,
        oldest,
        newest,
        slots_out_of_range: 0,
        outcome: if finder.count == 0 {
            AlReplayOutcome::Clean
        } else {
            AlReplayOutcome::Replayed
        },
    };
    let mut oor = 0;
    for b in finder.walk(ring) {
        let Some(s) = legacy_sector(blocks, b % ring)? else {
            continue;
        };
        if !legacy_valid(s) {
            continue;
        }
        for i in (0..LEGACY_AL_ENTRIES).rev() {
            let pos = get_be32(s, LEGACY_OFF_ENTRIES + 8 * i);
            let extent = get_be32(s, LEGACY_OFF_ENTRIES + 8 * i + 4);
            if extent == LC_FREE {
                continue;
            }
            set_slot(slots, pos, extent, &mut oor);
        }
    }
    scan.slots_out_of_range = oor;
    Ok(scan)
}

/// Whether drbdmeta would read the AL in the legacy format: a `MAGIC_08` superblock (not
/// `84_UNCLEAN`), the default 1 × 32 KiB AL, and neither of the first two blocks carrying the
/// 8.4 AL magic (typically the first apply-al after an upgrade from 8.3).
pub fn is_legacy_al(sb: &Superblock, al: AlGeometry, blocks: &[[u8; AL_TRANSACTION_SIZE]]) -> bool {
    infallible(is_legacy_al_from(sb, al, &mut &*blocks))
}

/// [`is_legacy_al`] over any [`AlBlockSource`] (reads at most blocks 0 and 1).
pub fn is_legacy_al_from<S: AlBlockSource>(
    sb: &Superblock,
    al: AlGeometry,
    blocks: &mut S,
) -> Result<bool, S::Error> {
    if sb.magic != DRBD_MD_MAGIC_08 || !al.is_default() {
        return Ok(false);
    }
    for i in 0..2 {
        if let Some(b) = blocks.block(i)? {
            if AlTransaction::new(b).magic() == DRBD_AL_MAGIC {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// apply-al
// ---------------------------------------------------------------------------------------------

/// Why [`plan_apply_al`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAlError {
    /// The superblock is not v08 meta data (magic neither `MAGIC_08` nor `84_UNCLEAN`).
    NotV08 {
        /// The magic found.
        magic: u32,
    },
    /// Invalid AL striping or `bm_bytes_per_bit` in the superblock.
    Md(MdError),
    /// The number of AL blocks given differs from the superblock's AL size.
    AlSizeMismatch {
        /// Blocks the superblock describes.
        expected_blocks: u64,
        /// Blocks given.
        got_blocks: usize,
    },
    /// The slot table is shorter than [`AL_EXTENTS_MAX`].
    SlotTableTooSmall {
        /// Entries given.
        have: usize,
    },
    /// The node was primary and not a single AL slot is valid: drbdmeta prints "No usable
    /// activity log found. Do you need to create-md?" and fails (exit status 1), writing
    /// nothing.
    NoUsableLog,
    /// The node was primary and the AL has valid initialized slots and corrupt ones but no
    /// update: drbdmeta prints "No valid AL update transaction found." and fails (exit
    /// status 1), writing nothing.
    NoValidUpdate,
}

impl ApplyAlError {
    /// drbdmeta's exit status for the refusals it has: 1 for both (`meta_apply_al` returns
    /// 1 and 2, but drbdmeta's `main` normalizes every failure to 1); `None` for caller errors.
    pub const fn drbdmeta_exit_code(&self) -> Option<i32> {
        match self {
            Self::NoUsableLog | Self::NoValidUpdate => Some(1),
            _ => None,
        }
    }
}

impl core::fmt::Display for ApplyAlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotV08 { magic } => write!(f, "no valid v08 meta data (magic {magic:#010x})"),
            Self::Md(e) => write!(f, "{e}"),
            Self::AlSizeMismatch {
                expected_blocks,
                got_blocks,
            } => write!(
                f,
                "activity log has {expected_blocks} blocks, {got_blocks} given"
            ),
            Self::SlotTableTooSmall { have } => write!(
                f,
                "AL slot table has {have} entries, {AL_EXTENTS_MAX} needed"
            ),
            Self::NoUsableLog => {
                f.write_str("No usable activity log found. Do you need to create-md?")
            }
            Self::NoValidUpdate => f.write_str("No valid AL update transaction found."),
        }
    }
}

/// What `drbdmeta apply-al` will do; see [`plan_apply_al`]. Borrows the slot table, which
/// holds the sorted, distinct active extents afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyAlPlan<'a> {
    /// What the replay saw.
    pub scan: AlScan,
    /// Whether the bitmap is to be changed: replayed transactions and `MDF_PRIMARY_IND`.
    pub mark_bitmap: bool,
    /// The bitmap bytes drbdmeta considers: `la_size_sect` bits rounded up to 64-bit words
    /// and to 4 KiB (`bm_bytes()`).
    pub bm_bytes: u64,
    /// Whether every AL block is to be rewritten as [`encode_initialized_slot`].
    pub reinitialize_al: bool,
    /// The superblock to write (magic `MAGIC_08`, `MDF_AL_CLEAN` added, AL striping as
    /// normalized by drbdmeta), or `None` if it stays as it is.
    pub superblock: Option<Superblock>,
    extents: &'a [u32],
    n_mark: usize,
}

impl<'a> ApplyAlPlan<'a> {
    /// Every extent of the replayed active set, sorted ascending, without duplicates (also
    /// when the bitmap is not to be changed).
    pub const fn active_extents(&self) -> &'a [u32] {
        self.extents
    }

    /// The extents whose 1024 bits are to be set: the active extents inside the bitmap, if
    /// [`ApplyAlPlan::mark_bitmap`]; else empty. Sorted, distinct.
    pub fn extents_to_mark(&self) -> &'a [u32] {
        if self.mark_bitmap {
            self.extents.get(..self.n_mark).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Active extents drbdmeta skips with "extent N beyond end of bitmap!" — those whose
    /// bitmap bytes start at or past [`ApplyAlPlan::bm_bytes`] (only reported if
    /// [`ApplyAlPlan::mark_bitmap`]).
    pub fn extents_beyond_bitmap(&self) -> &'a [u32] {
        if self.mark_bitmap {
            self.extents.get(self.n_mark..).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// The 4 KiB bitmap pages (index from the start of the bitmap area) that
    /// [`ApplyAlPlan::extents_to_mark`] touch, ascending: read each, apply
    /// [`mark_al_extents_in_page`], write it back.
    pub fn bitmap_pages(&self) -> BitmapPages<'a> {
        BitmapPages {
            extents: self.extents_to_mark(),
        }
    }

    /// Whether anything is to be written at all.
    pub fn writes_anything(&self) -> bool {
        self.reinitialize_al || self.superblock.is_some() || !self.extents_to_mark().is_empty()
    }
}

/// drbdmeta's `bm_bytes()` for a v08 superblock: `ceil(la_size_sect / 8)` bits, rounded up to
/// 64-bit words, in bytes, rounded up to 4096.
pub const fn drbdmeta_bm_bytes(la_size_sect: u64) -> u64 {
    on_disk_bytes_for_bits(bits_for_sectors(la_size_sect))
}

/// Plan `drbdmeta <minor> v08 <dev> <idx> apply-al` (§6.5, §8): `sb` is the superblock as read
/// (magic `MAGIC_08` or `84_UNCLEAN`; drbdmeta clips `la_size_sect` to the device's usable
/// size before this — do the same if it can be larger), `al_blocks` the whole AL area in
/// on-disk order (`al_stripes × al_stripe_size_4k` blocks), `slots` scratch space of at least
/// [`AL_EXTENTS_MAX`] entries that receives the sorted active extents.
///
/// Steps, as drbdmeta: replay (legacy format if [`is_legacy_al`], else 8.4); a replay error
/// refuses if `MDF_PRIMARY_IND` is set ([`ApplyAlError::NoUsableLog`] /
/// [`ApplyAlError::NoValidUpdate`]) and is otherwise ignored (the AL is re-initialized);
/// replayed transactions with `MDF_PRIMARY_IND` mark their extents; replayed transactions (or
/// the legacy format, or an ignored error) re-initialize the AL; and the superblock is written
/// with magic `MAGIC_08` and `MDF_AL_CLEAN` if bits were marked or it was not already clean.
/// `MDF_PRIMARY_IND` is left alone. An all-initialized AL on clean meta data writes nothing.
pub fn plan_apply_al<'a>(
    sb: &Superblock,
    al_blocks: &[[u8; AL_TRANSACTION_SIZE]],
    slots: &'a mut [u32],
) -> Result<ApplyAlPlan<'a>, ApplyAlError> {
    infallible(plan_apply_al_from(sb, &mut &*al_blocks, slots))
}

/// [`plan_apply_al`] over any [`AlBlockSource`] (which must have `al_stripes ×
/// al_stripe_size_4k` blocks), e.g. one that reads the AL block by block from the meta
/// device. The outer `Result` is the source's read error (nothing planned); the inner one is
/// [`plan_apply_al`]'s.
pub fn plan_apply_al_from<'a, S: AlBlockSource>(
    sb: &Superblock,
    al_blocks: &mut S,
    slots: &'a mut [u32],
) -> Result<Result<ApplyAlPlan<'a>, ApplyAlError>, S::Error> {
    if sb.magic != DRBD_MD_MAGIC_08 && sb.magic != DRBD_MD_MAGIC_84_UNCLEAN {
        return Ok(Err(ApplyAlError::NotV08 { magic: sb.magic }));
    }
    if sb.bm_bytes_per_bit != BM_BYTES_PER_BIT {
        return Ok(Err(ApplyAlError::Md(MdError::BadBytesPerBit {
            found: sb.bm_bytes_per_bit,
        })));
    }
    let al = match sb.al_geometry() {
        Ok(al) => al,
        Err(e) => return Ok(Err(ApplyAlError::Md(e))),
    };
    if al_blocks.block_count() != al.size_4k() {
        return Ok(Err(ApplyAlError::AlSizeMismatch {
            expected_blocks: al.size_4k(),
            got_blocks: usize::try_from(al_blocks.block_count()).unwrap_or(usize::MAX),
        }));
    }
    if slots.len() < AL_EXTENTS_MAX {
        return Ok(Err(ApplyAlError::SlotTableTooSmall { have: slots.len() }));
    }
    let primary = sb.flags.contains(MdFlags::PRIMARY_IND);

    let legacy = is_legacy_al_from(sb, al, al_blocks)?;
    let scan = if legacy {
        replay_al_legacy_from(sb.al_nr_extents, al_blocks, slots)?
    } else {
        replay_al_84_from(al, al_blocks, slots)?
    };
    let mut reinitialize_al = legacy;
    match scan.outcome {
        AlReplayOutcome::NoUsableLog | AlReplayOutcome::NoValidUpdate if primary => {
            return Ok(Err(if scan.outcome == AlReplayOutcome::NoUsableLog {
                ApplyAlError::NoUsableLog
            } else {
                ApplyAlError::NoValidUpdate
            }));
        }
        // "Error ignored, no need to apply the AL".
        AlReplayOutcome::NoUsableLog | AlReplayOutcome::NoValidUpdate => reinitialize_al = true,
        AlReplayOutcome::Replayed => reinitialize_al = true,
        AlReplayOutcome::Clean => {}
    }
    let replayed = scan.outcome == AlReplayOutcome::Replayed;
    let mark_bitmap = replayed && primary;

    // Sort (drbdmeta's qsort) and drop duplicates and the free markers.
    slots.sort_unstable();
    let mut n = 0usize;
    for i in 0..slots.len() {
        let Some(&v) = slots.get(i) else { break };
        if v == LC_FREE {
            break;
        }
        let dup = n > 0 && slots.get(n - 1) == Some(&v);
        if !dup {
            if let Some(d) = slots.get_mut(n) {
                *d = v;
            }
            n += 1;
        }
    }
    if let Some(rest) = slots.get_mut(n..) {
        rest.fill(LC_FREE);
    }
    let slots: &'a [u32] = slots;
    let extents = slots.get(..n).unwrap_or(&[]);

    // apply_al() of drbd-utils 9.22: an extent is skipped ("beyond end of bitmap") if its
    // first bitmap byte is at or past bm_bytes. (Later drbd-utils compare the *end* of the
    // range instead, `128·(E+1) >= bm_bytes`, and so also skip the last extent of a
    // 4 KiB-aligned bitmap; 9.22 is what this was verified against.)
    let bm_bytes = drbdmeta_bm_bytes(sb.la_size_sect);
    let n_mark = extents
        .partition_point(|&e| u64::from(e).saturating_mul(BM_BYTES_PER_AL_EXTENT) < bm_bytes);

    let superblock = if mark_bitmap || !sb.is_clean() {
        let mut new = *sb;
        new.mark_clean();
        // drbdmeta writes its normalized AL striping back (both 0 → 1 × 8).
        new.al_stripes = al.stripes;
        new.al_stripe_size_4k = al.stripe_size_4k;
        Some(new)
    } else {
        None
    };

    Ok(Ok(ApplyAlPlan {
        scan,
        mark_bitmap,
        bm_bytes,
        reinitialize_al,
        superblock,
        extents,
        n_mark,
    }))
}

/// The on-disk bitmap bytes of AL extent `extent`: `128·E .. 128·E + 128`.
pub const fn al_extent_bitmap_bytes(extent: u32) -> Range<u64> {
    let start = extent as u64 * BM_BYTES_PER_AL_EXTENT;
    start..start + BM_BYTES_PER_AL_EXTENT
}

/// The 4 KiB bitmap page holding AL extent `extent`'s bits (32 extents per page).
pub const fn al_extent_bitmap_page(extent: u32) -> u64 {
    extent as u64 / AL_EXTENTS_PER_BM_PAGE
}

/// Iterator over the distinct bitmap pages of a sorted extent list
/// (see [`ApplyAlPlan::bitmap_pages`]).
#[derive(Debug, Clone)]
pub struct BitmapPages<'a> {
    extents: &'a [u32],
}

impl Iterator for BitmapPages<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let (&first, _) = self.extents.split_first()?;
        let page = al_extent_bitmap_page(first);
        let skip = self
            .extents
            .iter()
            .position(|&e| al_extent_bitmap_page(e) != page)
            .unwrap_or(self.extents.len());
        self.extents = self.extents.get(skip..).unwrap_or(&[]);
        Some(page)
    }
}

/// Set the bits of every AL extent in `extents` in an in-core bitmap (1024 bits each, clipped
/// to the bitmap's bit count); returns the number of bits newly set.
pub fn mark_al_extents<W: AsRef<[u64]> + AsMut<[u64]>>(bm: &mut Bitmap<W>, extents: &[u32]) -> u64 {
    extents
        .iter()
        .map(|&e| bm.set_range(al_extent_bits(u64::from(e))))
        .sum()
}

/// drbdmeta's `apply_al` on one on-disk bitmap page: for every extent of `extents` whose 128
/// bytes lie in page `page`, set them to 0xFF (no clipping to the device size: drbdmeta sets
/// whole 128-byte ranges, surplus bits included). `extents` should be
/// [`ApplyAlPlan::extents_to_mark`]. Returns the number of bits newly set.
pub fn mark_al_extents_in_page(page: u64, buf: &mut [u8; BM_PAGE_SIZE], extents: &[u32]) -> u64 {
    let page_start = page.saturating_mul(BM_PAGE_SIZE as u64);
    let mut newly = 0u64;
    for &e in extents {
        if al_extent_bitmap_page(e) != page {
            continue;
        }
        let r = al_extent_bitmap_bytes(e);
        let (Some(s), Some(t)) = (
            r.start
                .checked_sub(page_start)
                .and_then(|v| usize::try_from(v).ok()),
            r.end
                .checked_sub(page_start)
                .and_then(|v| usize::try_from(v).ok()),
        ) else {
            continue;
        };
        if let Some(bytes) = buf.get_mut(s..t) {
            for b in bytes {
                newly += u64::from((!*b).count_ones());
                *b = 0xFF;
            }
        }
    }
    newly
}

#[cfg(test)]
mod tests {
    use super::super::meta_data::MdLayout;
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    type Block = [u8; AL_TRANSACTION_SIZE];

    fn initialized() -> Block {
        let mut b = [0u8; AL_TRANSACTION_SIZE];
        encode_initialized_slot(&mut b);
        b
    }

    fn slot_table() -> Vec<u32> {
        vec![0u32; AL_EXTENTS_MAX]
    }

    /// What the kernel's AL writer does (`__al_write_transaction`), over an in-memory ring:
    /// the context is the committed state of the slot window, then the updates are committed.
    struct KernelAl {
        al: AlGeometry,
        blocks: Vec<Block>,
        tr_number: u32,
        cycle: u16,
        size: u16,
        state: Vec<u32>,
    }

    impl KernelAl {
        fn new(al: AlGeometry, size: u16, tr_number: u32) -> Self {
            Self {
                al,
                blocks: vec![initialized(); al.size_4k() as usize],
                tr_number,
                cycle: 0,
                size,
                state: vec![LC_FREE; usize::from(size)],
            }
        }

        /// Write one transaction; returns the block index it went to.
        fn write(&mut self, updates: &[AlUpdate]) -> usize {
            let w = context_window(self.size, self.cycle);
            let context = &self.state[w.start as usize..w.end as usize];
            let block = al_ring_block(self.al, u64::from(self.tr_number)) as usize;
            encode_update_transaction(
                &mut self.blocks[block],
                &AlUpdateTransaction {
                    tr_number: self.tr_number,
                    context_size: self.size,
                    context_start_slot_nr: self.cycle,
                    updates,
                    context,
                },
            )
            .unwrap();
            self.cycle = next_context_start(self.cycle, self.size);
            self.tr_number = self.tr_number.wrapping_add(1);
            for u in updates {
                self.state[usize::from(u.slot)] = u.extent;
            }
            block
        }
    }

    fn upd(slot: u16, extent: u32) -> AlUpdate {
        AlUpdate { slot, extent }
    }

    fn geometry_1g() -> MdGeometry {
        MdGeometry::compute(
            MdLayout::Internal,
            2_097_152,
            2_097_152,
            AlGeometry::DEFAULT,
        )
        .unwrap()
    }

    // ---- codec -------------------------------------------------------------------------

    #[test]
    fn field_offsets_are_the_spec_table() {
        let updates: Vec<AlUpdate> = (0..3)
            .map(|i| upd(0x0100 + i, 0x0A0B_0C00 + u32::from(i)))
            .collect();
        let context: Vec<u32> = (0..5).map(|i| 0x1122_3300 + i).collect();
        let mut b = [0xAAu8; AL_TRANSACTION_SIZE];
        encode_update_transaction(
            &mut b,
            &AlUpdateTransaction {
                tr_number: 0x0102_0304,
                context_size: 0x0506,
                context_start_slot_nr: 0x0708,
                updates: &updates,
                context: &context,
            },
        )
        .unwrap();
        assert_eq!(&b[0..4], &[0x69, 0xCB, 0x65, 0xA2]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(&b[12..14], &[0, 0]); // AL_TR_UPDATE
        assert_eq!(&b[14..16], &[0, 3]); // n_updates
        assert_eq!(&b[16..18], &[5, 6]);
        assert_eq!(&b[18..20], &[7, 8]);
        assert_eq!(&b[20..36], &[0; 16]);
        assert_eq!(&b[36..38], &[0x01, 0x00]);
        assert_eq!(&b[40..42], &[0x01, 0x02]);
        assert_eq!(&b[42..44], &[0xFF, 0xFF]); // unused update slot
        assert_eq!(&b[162..164], &[0xFF, 0xFF]);
        assert_eq!(&b[164..168], &[0x0A, 0x0B, 0x0C, 0x00]);
        assert_eq!(&b[172..176], &[0x0A, 0x0B, 0x0C, 0x02]);
        assert_eq!(&b[176..180], &[0xFF; 4]); // unused update extent
        assert_eq!(&b[416..420], &[0xFF; 4]);
        assert_eq!(&b[420..424], &[0x11, 0x22, 0x33, 0x00]);
        assert_eq!(&b[436..440], &[0x11, 0x22, 0x33, 0x04]);
        assert!(b[440..].iter().all(|&x| x == 0xFF));
        // CRC: over the block with the crc field zero, seed 0, no inversion.
        let mut z = b;
        z[8..12].fill(0);
        let crc = crc32c_drbd(0, &z);
        assert_eq!(&b[8..12], &crc.to_be_bytes());

        let t = AlTransaction::new(&b);
        assert_eq!(t.status(), AlSlotStatus::Update);
        assert_eq!(t.tr_number(), 0x0102_0304);
        assert_eq!(t.n_updates(), 3);
        assert_eq!(t.context_size(), 0x0506);
        assert_eq!(t.context_start_slot_nr(), 0x0708);
        assert_eq!(t.updates().collect::<Vec<_>>(), updates);
        assert_eq!(t.update(3), Some(upd(UPDATE_SLOT_UNUSED, LC_FREE)));
        assert_eq!(t.update(64), None);
        assert_eq!(t.context(4), Some(0x1122_3304));
        assert_eq!(t.context(5), Some(LC_FREE));
        assert_eq!(t.context(919), None);
        assert_eq!(t.reserved(0), 0);
        assert_eq!(t.reserved(9), 0);
        let first = t.context_entries().next().unwrap();
        assert_eq!(first, (0x0708, 0x1122_3300));
        assert_eq!(t.context_entries().count(), AL_CONTEXT_PER_TRANSACTION);
        assert!(format!("{t:?}").contains("tr_number: 16909060"));
    }

    #[test]
    fn encode_limits() {
        let mut b = [7u8; AL_TRANSACTION_SIZE];
        let many = vec![upd(0, 0); 65];
        let tr = AlUpdateTransaction {
            tr_number: 1,
            context_size: 67,
            context_start_slot_nr: 0,
            updates: &many,
            context: &[],
        };
        assert_eq!(
            encode_update_transaction(&mut b, &tr),
            Err(AlEncodeError::TooManyUpdates { n: 65 })
        );
        let ctx = vec![0u32; 920];
        let tr = AlUpdateTransaction {
            updates: &[],
            context: &ctx,
            ..tr
        };
        assert_eq!(
            encode_update_transaction(&mut b, &tr),
            Err(AlEncodeError::TooManyContextEntries { n: 920 })
        );
        assert!(b.iter().all(|&x| x == 7), "untouched on error");
        let full_u = vec![upd(1, 2); 64];
        let full_c = vec![3u32; 919];
        let tr = AlUpdateTransaction {
            updates: &full_u,
            context: &full_c,
            ..tr
        };
        encode_update_transaction(&mut b, &tr).unwrap();
        let t = AlTransaction::new(&b);
        assert_eq!(t.n_updates(), 64);
        assert_eq!(t.updates().count(), 64);
        assert!(t.context_entries().all(|(_, e)| e == 3));
        assert_eq!(t.status(), AlSlotStatus::Update);
        assert!(AlEncodeError::TooManyUpdates { n: 65 }
            .to_string()
            .contains("65"));
    }

    #[test]
    fn status_classification() {
        let mut b = initialized();
        assert_eq!(AlTransaction::new(&b).status(), AlSlotStatus::Initialized);
        b[100] ^= 1;
        assert_eq!(AlTransaction::new(&b).status(), AlSlotStatus::BadCrc);
        b[100] ^= 1;
        b[0] = 0;
        assert_eq!(AlTransaction::new(&b).status(), AlSlotStatus::BadMagic);
        let mut b = initialized();
        b[12..14].copy_from_slice(&7u16.to_be_bytes());
        seal(&mut b);
        assert_eq!(AlTransaction::new(&b).status(), AlSlotStatus::OtherType(7));
        assert!(AlSlotStatus::OtherType(7).is_replayed());
        assert!(!AlSlotStatus::Initialized.is_replayed());
        assert!(AlSlotStatus::Initialized.is_valid());
        assert!(!AlSlotStatus::BadCrc.is_valid());
        // The crc field's own content does not enter the CRC.
        let mut c = b;
        c[8..12].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(al_block_crc(&c), al_block_crc(&b));
    }

    /// Every AL slot `drbdmeta create-md` writes (spec §9). The fixture is slot 0 of
    /// `truncate -s 64M x.img; drbdmeta --force 0 v08 x.img internal create-md` (drbd-utils
    /// 9.22.0, regular file); all eight slots were identical.
    #[test]
    fn initialized_slot_is_what_drbdmeta_writes() {
        let b = initialized();
        assert_eq!(&b[0..4], &DRBD_AL_MAGIC.to_be_bytes());
        assert_eq!(&b[4..8], &[0; 4]);
        assert_eq!(&b[8..12], &INITIALIZED_SLOT_CRC.to_be_bytes());
        assert_eq!(&b[12..14], &[0xFF, 0xFF]);
        assert!(b[14..].iter().all(|&x| x == 0));
        assert_eq!(AlTransaction::new(&b).crc32c(), 0x709C_C651);
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/drbdmeta-create-md-al-slot.bin"
        );
        let fixture = std::fs::read(path).expect("fixture present");
        assert_eq!(fixture.len(), AL_TRANSACTION_SIZE);
        assert_eq!(&fixture[..], &b[..]);
    }

    // ---- placement and sizing -------------------------------------------------------------

    #[test]
    fn placement() {
        let al = AlGeometry::DEFAULT;
        for t in 0..20u64 {
            assert_eq!(al_ring_block(al, t), t % 8);
        }
        assert_eq!(al_ring_block(al, u64::from(u32::MAX)), 7);
        // 4 stripes × 2 blocks: t → (t mod 4) × 2 + t div 4.
        let striped = AlGeometry::new(4, 2).unwrap();
        let got: Vec<u64> = (0..8).map(|t| al_ring_block(striped, t)).collect();
        assert_eq!(got, [0, 2, 4, 6, 1, 3, 5, 7]);
        assert_eq!(al_ring_block(striped, 8), 0);
        // Degenerate geometries do not panic.
        assert_eq!(
            al_ring_block(
                AlGeometry {
                    stripes: 0,
                    stripe_size_4k: 8
                },
                5
            ),
            0
        );
        assert_eq!(
            al_ring_block(
                AlGeometry {
                    stripes: 3,
                    stripe_size_4k: 0
                },
                5
            ),
            0
        );
        assert_eq!(
            al_ring_block(
                AlGeometry {
                    stripes: u32::MAX,
                    stripe_size_4k: u32::MAX
                },
                u64::MAX
            ),
            al_ring_block(
                AlGeometry {
                    stripes: u32::MAX,
                    stripe_size_4k: u32::MAX
                },
                u64::MAX
            )
        );

        // 1 GiB internal: superblock at 2097144, AL at 2097080 (§2.3).
        let g = geometry_1g();
        assert_eq!(al_transaction_sector(&g, 0), 2_097_080);
        assert_eq!(al_transaction_sector(&g, 5), 2_097_080 + 40);
        assert_eq!(al_transaction_sector(&g, 13), 2_097_080 + 40);
        // Flexible external: AL right after the superblock at sector 8.
        let ext = MdGeometry::compute(MdLayout::FlexExternal, 1 << 21, 1 << 20, striped).unwrap();
        assert_eq!(al_transaction_sector(&ext, 1), 8 + 16);
        assert_eq!(al_transaction_sector(&ext, 4), 8 + 8);
    }

    #[test]
    fn context_cycle_and_limits() {
        assert_eq!(context_window(1237, 0), 0..919);
        assert_eq!(context_window(1237, 919), 919..1237);
        assert_eq!(context_window(67, 0), 0..67);
        assert_eq!(context_window(67, 100).len(), 0);
        assert_eq!(next_context_start(0, 1237), 919);
        assert_eq!(next_context_start(919, 1237), 0);
        assert_eq!(next_context_start(0, 919), 0);
        assert_eq!(next_context_start(0, 67), 0);
        assert_eq!(next_context_start(64_336, 65534), 65_255);
        assert_eq!(next_context_start(64_615, 65534), 0);
        assert_eq!(next_context_start(u16::MAX, u16::MAX), 0);

        assert_eq!(al_extents_max(AlGeometry::DEFAULT), 6433);
        assert_eq!(al_extents_max(AlGeometry::new(1, 72).unwrap()), 71 * 919);
        assert_eq!(al_extents_max(AlGeometry::new(1, 73).unwrap()), 65534);
        assert_eq!(al_extents_max(AlGeometry::new(1024, 4096).unwrap()), 65534);
        assert_eq!(effective_al_extents(10, AlGeometry::DEFAULT), 67);
        assert_eq!(effective_al_extents(1237, AlGeometry::DEFAULT), 1237);
        assert_eq!(effective_al_extents(60000, AlGeometry::DEFAULT), 6433);
        assert_eq!(sector_to_al_extent(8191), 0);
        assert_eq!(sector_to_al_extent(8192), 1);
        assert_eq!(al_extent_bitmap_bytes(3), 384..512);
        assert_eq!(al_extent_bitmap_page(31), 0);
        assert_eq!(al_extent_bitmap_page(32), 1);
    }

    // ---- replay -----------------------------------------------------------------------------

    #[test]
    fn all_initialized_is_clean() {
        let blocks = vec![initialized(); 8];
        let mut slots = slot_table();
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut slots);
        assert_eq!(scan.outcome, AlReplayOutcome::Clean);
        assert_eq!((scan.transactions, scan.valid, scan.replayed), (8, 8, 0));
        assert_eq!(scan.oldest, None);
        assert!(slots.iter().all(|&s| s == LC_FREE));

        // Clean superblock: nothing to write at all (§8 step 2).
        let sb = Superblock::create_md(&geometry_1g());
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert!(!plan.writes_anything());
        assert!(plan.active_extents().is_empty());
        // Same AL, unclean superblock: only the superblock is rewritten.
        let mut unclean = sb;
        unclean.mark_unclean();
        unclean.flags = MdFlags::CONSISTENT;
        let plan = plan_apply_al(&unclean, &blocks, &mut slots).unwrap();
        assert!(!plan.reinitialize_al);
        let new = plan.superblock.unwrap();
        assert_eq!(new.magic, DRBD_MD_MAGIC_08);
        assert_eq!(new.flags, MdFlags::CONSISTENT | MdFlags::AL_CLEAN);
    }

    #[test]
    fn corrupt_slots() {
        let mut slots = slot_table();
        let mut blocks = vec![initialized(); 8];
        // Only slot 0 torn: tolerated (a failed very first write).
        blocks[0][50] = 1;
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut slots);
        assert_eq!(scan.outcome, AlReplayOutcome::Clean);
        assert_eq!(scan.corrupt(), 1);
        // Another slot torn: no valid update, -EINVAL.
        let mut blocks = vec![initialized(); 8];
        blocks[3][50] = 1;
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut slots);
        assert_eq!(scan.outcome, AlReplayOutcome::NoValidUpdate);
        // Nothing valid: -ENODATA.
        let zero = vec![[0u8; AL_TRANSACTION_SIZE]; 8];
        let scan = replay_al_84(AlGeometry::DEFAULT, &zero, &mut slots);
        assert_eq!(scan.outcome, AlReplayOutcome::NoUsableLog);

        let g = geometry_1g();
        let mut sb = Superblock::create_md(&g);
        sb.mark_unclean();
        sb.flags = MdFlags::PRIMARY_IND;
        let e = plan_apply_al(&sb, &zero, &mut slots).unwrap_err();
        assert_eq!(e, ApplyAlError::NoUsableLog);
        assert_eq!(e.drbdmeta_exit_code(), Some(1));
        let e = plan_apply_al(&sb, &blocks, &mut slots).unwrap_err();
        assert_eq!(e, ApplyAlError::NoValidUpdate);
        assert_eq!(e.drbdmeta_exit_code(), Some(1));
        assert!(e.to_string().contains("No valid AL update"));
        // Not primary: "Error ignored", AL re-initialized, superblock cleaned.
        sb.flags = MdFlags::CONSISTENT;
        let plan = plan_apply_al(&sb, &zero, &mut slots).unwrap();
        assert_eq!(plan.scan.outcome, AlReplayOutcome::NoUsableLog);
        assert!(plan.reinitialize_al && !plan.mark_bitmap);
        assert_eq!(plan.superblock.unwrap().flags.bits(), 0x81);
    }

    #[test]
    fn later_transactions_win_and_wrap() {
        let mut k = KernelAl::new(AlGeometry::DEFAULT, 67, u32::MAX - 2);
        k.write(&[upd(7, 10), upd(8, 20)]); // tr MAX-2 at block 5
        k.write(&[upd(7, 11)]); // MAX-1, block 6
        k.write(&[upd(9, 30)]); // MAX, block 7
        k.write(&[upd(8, LC_FREE), upd(66, 40)]); // 0 (wrapped), block 0
        let mut slots = slot_table();
        let scan = replay_al_84(AlGeometry::DEFAULT, &k.blocks, &mut slots);
        assert_eq!(scan.outcome, AlReplayOutcome::Replayed);
        assert_eq!(
            scan.oldest,
            Some(AlCursor {
                position: 5,
                tr_number: u32::MAX - 2
            })
        );
        assert_eq!(
            scan.newest,
            Some(AlCursor {
                position: 0,
                tr_number: 0
            })
        );
        assert_eq!(&slots[7..10], &[11, LC_FREE, 30]);
        assert_eq!(slots[66], 40);
        assert_eq!(slots.iter().filter(|&&s| s != LC_FREE).count(), 3);
    }

    #[test]
    fn drbdmeta_quirks_in_replay() {
        // An update entry past n_updates with a real slot number is still applied; a context
        // entry LC_FREE inside context_size frees the slot; a slot ≥ 65534 is skipped.
        let mut b = [0u8; AL_TRANSACTION_SIZE];
        encode_update_transaction(
            &mut b,
            &AlUpdateTransaction {
                tr_number: 1,
                context_size: 100,
                context_start_slot_nr: 0,
                updates: &[upd(UPDATE_SLOT_UNUSED, 5), upd(3, 33)],
                context: &[9, 9, 9, 9, 9],
            },
        )
        .unwrap();
        // Entry 2 (beyond n_updates = 2): slot 4 → 44.
        b[OFF_UPDATE_SLOT + 4..OFF_UPDATE_SLOT + 6].copy_from_slice(&4u16.to_be_bytes());
        b[OFF_UPDATE_EXTENT + 8..OFF_UPDATE_EXTENT + 12].copy_from_slice(&44u32.to_be_bytes());
        seal(&mut b);
        let mut blocks = vec![initialized(); 8];
        blocks[1] = b;
        let mut slots = slot_table();
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut slots);
        assert_eq!(&slots[0..6], &[9, 9, 9, 33, 44, LC_FREE]);
        assert_eq!(scan.slots_out_of_range, 1); // slot 0xFFFF inside n_updates
                                                // Context beyond 65534 slots: skipped and counted.
        let mut b = [0u8; AL_TRANSACTION_SIZE];
        encode_update_transaction(
            &mut b,
            &AlUpdateTransaction {
                tr_number: 1,
                context_size: 0xFFFF,
                context_start_slot_nr: 65530,
                updates: &[],
                context: &[1, 2, 3, 4, 5, 6],
            },
        )
        .unwrap();
        blocks[1] = b;
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut slots);
        assert_eq!(&slots[65530..], &[1, 2, 3, 4]);
        // 919 entries from slot 65530: 4 stored; slots 65534 and 65535 (extents 5, 6) out of
        // range; the LC_FREE ones from slot 65535 = context_size on skipped silently.
        assert_eq!(scan.slots_out_of_range, 2);
        // A smaller slot table bounds the slots like drbdmeta's table size does.
        let mut small = vec![0u32; 4];
        let scan = replay_al_84(AlGeometry::DEFAULT, &blocks, &mut small);
        assert_eq!(small, [LC_FREE; 4]);
        assert!(scan.slots_out_of_range > 0);
    }

    #[test]
    fn torn_newest_transaction_falls_back() {
        let mut k = KernelAl::new(AlGeometry::DEFAULT, 1237, 100);
        k.write(&[upd(1, 1)]);
        k.write(&[upd(2, 2)]);
        let last = k.write(&[upd(3, 3)]);
        k.blocks[last][2000] ^= 0x40;
        let mut slots = slot_table();
        let scan = replay_al_84(AlGeometry::DEFAULT, &k.blocks, &mut slots);
        assert_eq!(scan.newest.unwrap().tr_number, 101);
        assert_eq!(scan.corrupt(), 1);
        assert_eq!(&slots[1..4], &[1, 2, LC_FREE]);
    }

    // ---- apply-al ------------------------------------------------------------------------

    /// The spec's §8 example: a hand-written unclean superblock (magic `84_UNCLEAN`, flags
    /// `PRIMARY_IND`) on a 1 GiB device and one UPDATE transaction, `tr_number` 5 in slot 5,
    /// slot 0 → extent 3. `drbdmeta apply-al` sets bitmap bytes 384…511, flags become 0x82
    /// and the magic `MAGIC_08`. Checked against drbd-utils 9.22 by
    /// `drbdmeta_apply_al_interop` below.
    fn spec_example() -> (Superblock, Vec<Block>) {
        let g = geometry_1g();
        let mut sb = Superblock::create_md(&g);
        sb.magic = DRBD_MD_MAGIC_84_UNCLEAN;
        sb.flags = MdFlags::PRIMARY_IND;
        sb.la_size_sect = g.first_md_sector();
        let mut blocks = vec![initialized(); 8];
        encode_update_transaction(
            &mut blocks[al_ring_block(g.al, 5) as usize],
            &AlUpdateTransaction {
                tr_number: 5,
                context_size: 1237,
                context_start_slot_nr: 0,
                updates: &[upd(0, 3)],
                context: &[],
            },
        )
        .unwrap();
        (sb, blocks)
    }

    #[test]
    fn spec_section_8_example() {
        let (sb, blocks) = spec_example();
        assert_eq!(sb.la_size_sect, 2_097_016);
        let mut slots = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert_eq!(plan.scan.format, AlFormat::V84);
        assert_eq!(plan.scan.outcome, AlReplayOutcome::Replayed);
        assert_eq!(plan.scan.replayed, 1);
        assert!(plan.mark_bitmap && plan.reinitialize_al);
        assert_eq!(plan.active_extents(), &[3]);
        assert_eq!(plan.extents_to_mark(), &[3]);
        assert!(plan.extents_beyond_bitmap().is_empty());
        assert_eq!(plan.bm_bytes, 32768);
        assert_eq!(plan.bitmap_pages().collect::<Vec<_>>(), [0]);
        let new = plan.superblock.unwrap();
        assert_eq!(new.magic, DRBD_MD_MAGIC_08);
        assert_eq!(new.flags.bits(), 0x82);
        assert_eq!(
            Superblock {
                magic: sb.magic,
                flags: sb.flags,
                ..new
            },
            sb
        );

        // On-disk page, byte-exact.
        let mut page = [0u8; BM_PAGE_SIZE];
        assert_eq!(
            mark_al_extents_in_page(0, &mut page, plan.extents_to_mark()),
            1024
        );
        for (i, &b) in page.iter().enumerate() {
            assert_eq!(
                b,
                if (384..512).contains(&i) { 0xFF } else { 0 },
                "byte {i}"
            );
        }
        assert_eq!(
            mark_al_extents_in_page(0, &mut page, plan.extents_to_mark()),
            0
        );
        assert_eq!(
            mark_al_extents_in_page(1, &mut page, plan.extents_to_mark()),
            0
        );

        // In-core bitmap.
        let bits = bits_for_sectors(sb.la_size_sect);
        let mut words = vec![0u64; bits.div_ceil(64) as usize];
        let mut bm = Bitmap::for_sectors(&mut words[..], sb.la_size_sect).unwrap();
        assert_eq!(mark_al_extents(&mut bm, plan.extents_to_mark()), 1024);
        assert_eq!(bm.count(), 1024);
        assert_eq!(bm.runs().collect::<Vec<_>>(), vec![3072u64..4096]);
        let mut out = [0u8; BM_PAGE_SIZE];
        bm.write_page(0, &mut out);
        assert_eq!(out, page);
    }

    #[test]
    fn not_primary_replays_but_marks_nothing() {
        let (mut sb, blocks) = spec_example();
        sb.flags = MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE;
        let mut slots = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert_eq!(plan.active_extents(), &[3]);
        assert!(!plan.mark_bitmap);
        assert!(plan.extents_to_mark().is_empty());
        assert_eq!(plan.bitmap_pages().count(), 0);
        assert!(plan.reinitialize_al);
        assert_eq!(plan.superblock.unwrap().flags.bits(), 0x91);
    }

    #[test]
    fn extents_beyond_bitmap_follow_drbdmeta() {
        // 40 MiB: 10240 bits = 1280 bytes → bm_bytes 4096; extents whose 128 bytes start at
        // or past 4096 are skipped; 31, the last one inside the 4 KiB, is marked.
        let (mut sb, mut blocks) = spec_example();
        sb.la_size_sect = 81_920;
        let updates = [
            upd(0, 40),
            upd(1, 31),
            upd(2, 30),
            upd(3, 2),
            upd(4, 2),
            upd(5, 5000),
        ];
        encode_update_transaction(
            &mut blocks[6],
            &AlUpdateTransaction {
                tr_number: 6,
                context_size: 1237,
                context_start_slot_nr: 919,
                updates: &updates,
                context: &[],
            },
        )
        .unwrap();
        let mut slots = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert_eq!(plan.bm_bytes, 4096);
        assert_eq!(plan.active_extents(), &[2, 30, 31, 40, 5000]);
        assert_eq!(plan.extents_to_mark(), &[2, 30, 31]);
        assert_eq!(plan.extents_beyond_bitmap(), &[40, 5000]);
        let mut page = [0u8; BM_PAGE_SIZE];
        assert_eq!(
            mark_al_extents_in_page(0, &mut page, plan.extents_to_mark()),
            3072
        );
        assert!(
            page[3840..].iter().all(|&b| b == 0xFF),
            "surplus bits set, as drbdmeta"
        );
        // The in-core bitmap clips to the device: extent 2 fully, extent 30 not at all.
        let mut words = vec![0u64; 160];
        let mut bm = Bitmap::for_sectors(&mut words[..], sb.la_size_sect).unwrap();
        assert_eq!(mark_al_extents(&mut bm, plan.extents_to_mark()), 1024);
        // No la_size: every extent is beyond the bitmap.
        sb.la_size_sect = 0;
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert!(plan.extents_to_mark().is_empty());
        assert_eq!(plan.extents_beyond_bitmap().len(), 5);
    }

    #[test]
    fn bitmap_pages_iterator() {
        let pages: Vec<u64> = BitmapPages {
            extents: &[0, 1, 31, 32, 33, 100, 1000, 1001],
        }
        .collect();
        assert_eq!(pages, [0, 1, 3, 31]);
        assert_eq!(BitmapPages { extents: &[] }.count(), 0);
    }

    #[test]
    fn plan_input_errors() {
        let (mut sb, blocks) = spec_example();
        let mut slots = slot_table();
        assert_eq!(
            plan_apply_al(&sb, &blocks[..7], &mut slots).unwrap_err(),
            ApplyAlError::AlSizeMismatch {
                expected_blocks: 8,
                got_blocks: 7
            }
        );
        let mut small = vec![0u32; 100];
        assert_eq!(
            plan_apply_al(&sb, &blocks, &mut small).unwrap_err(),
            ApplyAlError::SlotTableTooSmall { have: 100 }
        );
        sb.al_stripes = 0;
        assert!(matches!(
            plan_apply_al(&sb, &blocks, &mut slots).unwrap_err(),
            ApplyAlError::Md(MdError::BadAlStripes { .. })
        ));
        sb.al_stripe_size_4k = 0; // 0/0: old fixed 1 × 32 KiB, written back as 1 / 8.
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        let new = plan.superblock.unwrap();
        assert_eq!((new.al_stripes, new.al_stripe_size_4k), (1, 8));
        sb.bm_bytes_per_bit = 512;
        assert!(matches!(
            plan_apply_al(&sb, &blocks, &mut slots).unwrap_err(),
            ApplyAlError::Md(MdError::BadBytesPerBit { found: 512 })
        ));
        sb.magic = 0x1234;
        let e = plan_apply_al(&sb, &blocks, &mut slots).unwrap_err();
        assert_eq!(e, ApplyAlError::NotV08 { magic: 0x1234 });
        assert_eq!(e.drbdmeta_exit_code(), None);
        assert!(e.to_string().contains("0x00001234"));
    }

    // ---- block sources -----------------------------------------------------------------------

    /// A source over blocks in memory that records what is asked of it and can fail.
    struct Probe<'b> {
        blocks: &'b [Block],
        count: u64,
        reads: u64,
        fail_at: Option<u64>,
        out_of_range: u64,
    }

    impl<'b> Probe<'b> {
        fn new(blocks: &'b [Block]) -> Self {
            Self {
                blocks,
                count: blocks.len() as u64,
                reads: 0,
                fail_at: None,
                out_of_range: 0,
            }
        }
    }

    impl AlBlockSource for Probe<'_> {
        type Error = u64;

        fn block_count(&self) -> u64 {
            self.count
        }

        fn block(&mut self, index: u64) -> Result<Option<&Block>, u64> {
            self.reads += 1;
            if index >= self.count {
                self.out_of_range += 1;
            }
            if self.fail_at == Some(index) {
                return Err(index);
            }
            Ok(self.blocks.get(index as usize))
        }
    }

    #[test]
    fn source_read_errors_stop_the_plan() {
        let (sb, blocks) = spec_example();
        let mut slots = slot_table();
        for k in 0..8 {
            let mut src = Probe::new(&blocks);
            src.fail_at = Some(k);
            assert_eq!(
                plan_apply_al_from(&sb, &mut src, &mut slots).map(|r| r.is_ok()),
                Err(k)
            );
        }
        // The source's size must be the superblock's AL size.
        let mut src = Probe::new(&blocks);
        src.count = 4_194_304;
        assert_eq!(
            plan_apply_al_from(&sb, &mut src, &mut slots)
                .unwrap()
                .unwrap_err(),
            ApplyAlError::AlSizeMismatch {
                expected_blocks: 8,
                got_blocks: 4_194_304
            }
        );
        assert_eq!(src.reads, 0, "nothing read before the size check");
        // A streamed plan equals the in-memory one, and reads each block at most twice.
        let mut src = Probe::new(&blocks);
        let streamed = plan_apply_al_from(&sb, &mut src, &mut slots)
            .unwrap()
            .unwrap();
        let (streamed_scan, streamed_extents) =
            (streamed.scan, streamed.extents_to_mark().to_vec());
        assert!(src.reads <= 2 * 8 + 2);
        let mut slots2 = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots2).unwrap();
        assert_eq!(plan.scan, streamed_scan);
        assert_eq!(plan.extents_to_mark(), &streamed_extents[..]);
    }

    // ---- legacy (pre-8.4) format -----------------------------------------------------------

    fn legacy_sector(tr: u32, entries: &[(u32, u32)]) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[0..4].copy_from_slice(&DRBD_MAGIC.to_be_bytes());
        s[4..8].copy_from_slice(&tr.to_be_bytes());
        let mut xor = 0;
        for i in 0..LEGACY_AL_ENTRIES {
            let (pos, ext) = entries.get(i).copied().unwrap_or((0, LC_FREE));
            s[8 + 8 * i..12 + 8 * i].copy_from_slice(&pos.to_be_bytes());
            s[12 + 8 * i..16 + 8 * i].copy_from_slice(&ext.to_be_bytes());
            xor ^= ext;
        }
        s[504..508].copy_from_slice(&xor.to_be_bytes());
        s
    }

    /// An 8.3-style AL on `MAGIC_08` meta data of a crashed primary (flags `PRIMARY_IND`,
    /// `al_nr_extents` 127 → 1 + ceil(127 / 61) = 4 transactions).
    fn legacy_example(g: &MdGeometry) -> (Superblock, Vec<Block>) {
        let mut sb = Superblock::create_md(g);
        sb.flags = MdFlags::PRIMARY_IND;
        sb.la_size_sect = g.first_md_sector();
        sb.al_nr_extents = 127;
        let mut blocks = vec![[0u8; AL_TRANSACTION_SIZE]; 8];
        // Sector 2 is the newest (tr 12): its update (index 0) sets slot 5 → 77 after the
        // context (indices 61..1) was applied; sector 3 (tr 9) is the oldest.
        let s3 = legacy_sector(9, &[(5, 70), (1, 10)]);
        let s0 = legacy_sector(10, &[(1, 11)]);
        let s1 = legacy_sector(11, &[(2, 20)]);
        let s2 = legacy_sector(12, &[(5, 77), (5, 76), (3, 30)]);
        for (k, s) in [(0, s0), (1, s1), (2, s2), (3, s3)] {
            blocks[0][k * 512..(k + 1) * 512].copy_from_slice(&s);
        }
        // A valid sector beyond the 4 transactions is ignored.
        blocks[0][4 * 512..5 * 512].copy_from_slice(&legacy_sector(13, &[(6, 66)]));
        (sb, blocks)
    }

    #[test]
    fn legacy_format() {
        let g = geometry_1g();
        let (sb, blocks) = legacy_example(&g);
        assert!(is_legacy_al(&sb, g.al, &blocks));
        let mut slots = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert_eq!(plan.scan.format, AlFormat::Legacy);
        assert_eq!(plan.scan.transactions, 4);
        assert_eq!(plan.scan.oldest.unwrap().position, 3);
        assert_eq!(plan.scan.newest.unwrap().position, 2);
        assert_eq!(plan.active_extents(), &[11, 20, 30, 77]);
        assert!(plan.mark_bitmap && plan.reinitialize_al);
        assert_eq!(plan.superblock.unwrap().flags.bits(), 0x82);

        // A zeroed AL on clean meta data: "No usable activity log found" is no error here,
        // but the AL is re-initialized anyway.
        let zero = vec![[0u8; AL_TRANSACTION_SIZE]; 8];
        let clean = Superblock::create_md(&g);
        let plan = plan_apply_al(&clean, &zero, &mut slots).unwrap();
        assert_eq!(plan.scan.format, AlFormat::Legacy);
        assert_eq!(plan.scan.outcome, AlReplayOutcome::Clean);
        assert!(plan.reinitialize_al);
        assert!(plan.superblock.is_none());
        // 84_UNCLEAN or an 8.4 magic in slot 0/1 selects the 8.4 format.
        let mut unclean = clean;
        unclean.mark_unclean();
        assert!(!is_legacy_al(&unclean, g.al, &zero));
        let mut one = zero.clone();
        one[1] = initialized();
        assert!(!is_legacy_al(&clean, g.al, &one));
        // Huge al_nr_extents stops at the 64 sectors of the area.
        let scan = replay_al_legacy(u32::MAX, &zero, &mut slots);
        assert_eq!(scan.transactions, 64);
    }

    // ---- real kernel AL ---------------------------------------------------------------------

    fn md_tail(node: char) -> Vec<u8> {
        let path = format!(
            "{}/testdata/auth-csums-verify.node-{node}.md-tail-1MiB.bin.xz",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut compressed = Vec::new();
        std::fs::File::open(path)
            .expect("testdata present")
            .read_to_end(&mut compressed)
            .unwrap();
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &compressed[..], &mut out).unwrap();
        assert_eq!(out.len(), 1 << 20);
        out
    }

    /// The AL drbd.ko (Linux 6.12) wrote on the 8 MiB test disks (internal meta data, last
    /// 1 MiB of the device, see meta_data.rs): read it, check every transaction, and rebuild
    /// it bit for bit with the encoder driven like the kernel (`drbd_al_initialize` writes
    /// eight context-only transactions 0..7; node a then activated extent 0 in slot 1236 and
    /// extent 1 in slot 1235 — the LRU hands out the highest free slot first).
    #[test]
    fn kernel_written_al() {
        const TAIL_START_SECT: u64 = 16384 - 2048;
        let g = MdGeometry::compute(MdLayout::Internal, 16384, 16384, AlGeometry::DEFAULT).unwrap();
        assert_eq!(g.al_sector(), 16312);
        for node in ['a', 'b'] {
            let tail = md_tail(node);
            let sb_off = ((g.md_offset - TAIL_START_SECT) * 512) as usize;
            let sb = Superblock::decode(tail[sb_off..sb_off + 4096].try_into().unwrap()).unwrap();
            assert_eq!(sb.magic, DRBD_MD_MAGIC_84_UNCLEAN);
            assert_eq!(sb.al_nr_extents, 1237);
            let blocks: Vec<Block> = (0..8u64)
                .map(|b| {
                    let off = ((g.al_sector() + 8 * b - TAIL_START_SECT) * 512) as usize;
                    tail[off..off + 4096].try_into().unwrap()
                })
                .collect();
            for b in &blocks {
                let t = AlTransaction::new(b);
                assert_eq!(t.status(), AlSlotStatus::Update, "{node}: {t:?}");
                assert_eq!(t.context_size(), 1237);
                assert_eq!((0..4).map(|i| t.reserved(i)).sum::<u32>(), 0);
            }
            // Rebuild with the kernel's writer.
            let mut k = KernelAl::new(AlGeometry::DEFAULT, 1237, 0);
            for _ in 0..8 {
                k.write(&[]);
            }
            let trs: Vec<u32> = blocks
                .iter()
                .map(|b| AlTransaction::new(b).tr_number())
                .collect();
            let mut slots = slot_table();
            let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
            if node == 'a' {
                assert_eq!(trs, [8, 9, 2, 3, 4, 5, 6, 7]);
                let t9 = AlTransaction::new(&blocks[1]);
                assert_eq!(t9.updates().collect::<Vec<_>>(), [upd(1235, 1)]);
                assert_eq!(t9.context_start_slot_nr(), 919);
                assert_eq!(t9.context(1236 - 919), Some(0));
                k.write(&[upd(1236, 0)]);
                k.write(&[upd(1235, 1)]);
                assert_eq!(plan.active_extents(), &[0, 1]);
                assert_eq!(
                    plan.scan.oldest.unwrap(),
                    AlCursor {
                        position: 2,
                        tr_number: 2
                    }
                );
                assert_eq!(
                    plan.scan.newest.unwrap(),
                    AlCursor {
                        position: 1,
                        tr_number: 9
                    }
                );
            } else {
                assert_eq!(trs, [0, 1, 2, 3, 4, 5, 6, 7]);
                assert!(plan.active_extents().is_empty());
            }
            for (i, (ours, theirs)) in k.blocks.iter().zip(&blocks).enumerate() {
                assert!(ours == theirs, "node {node}: block {i} differs");
            }
            // Secondary at the end (flags CONSISTENT | WAS_UP_TO_DATE): nothing to mark;
            // the AL is re-initialized and the superblock made clean.
            assert_eq!(sb.flags.bits(), 0x11);
            assert_eq!(plan.scan.replayed, 8);
            assert!(!plan.mark_bitmap && plan.reinitialize_al);
            let new = plan.superblock.unwrap();
            assert_eq!((new.magic, new.flags.bits()), (DRBD_MD_MAGIC_08, 0x91));
        }
    }

    // ---- interop with the real drbdmeta ----------------------------------------------------

    fn run_drbdmeta(args: &[&str]) {
        let out = std::process::Command::new("drbdmeta")
            .args(args)
            .output()
            .expect("drbdmeta runs");
        assert!(
            out.status.success(),
            "drbdmeta {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn drbdmeta_status(args: &[&str]) -> i32 {
        let out = std::process::Command::new("drbdmeta")
            .args(args)
            .output()
            .expect("drbdmeta runs");
        out.status.code().unwrap_or(-1)
    }

    fn read_at(f: &std::fs::File, sector: u64, len: usize) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mut v = vec![0u8; len];
        f.read_exact_at(&mut v, sector * 512).unwrap();
        v
    }

    fn write_at(f: &std::fs::File, sector: u64, data: &[u8]) {
        use std::os::unix::fs::FileExt;
        f.write_all_at(data, sector * 512).unwrap();
    }

    /// Replay by the real `drbdmeta apply-al` and by [`plan_apply_al`] on the same meta data,
    /// and compare superblock, AL and bitmap bytes afterwards. drbdmeta's apply-al wants a
    /// block device, so this needs one whose contents may be destroyed, e.g.
    ///
    /// ```text
    /// truncate -s 1G /tmp/al.img && DEV=$(losetup -f --show /tmp/al.img)
    /// DRBD_RS_INTEROP_BLOCKDEV=$DEV cargo test -p drbd_core drbdmeta_apply_al_interop -- --ignored
    /// losetup -d $DEV
    /// ```
    ///
    /// Run once that way (drbd-utils 9.22.0, 1 GiB loop device) and passed:
    ///
    /// 1. create-md writes [`Superblock::create_md`] and [`encode_initialized_slot`] in every
    ///    AL block, for both scenarios;
    /// 2. the spec §8 example (default AL): bitmap bytes 384..511 0xFF, the rest of the 32 KiB
    ///    bitmap zero, flags 0x82, `MAGIC_08`, all AL slots re-initialized — byte-identical to
    ///    the plan;
    /// 3. a striped AL (`--al-stripes 2 --al-stripe-size-kB 32`, 16 blocks) filled by the
    ///    kernel-like writer across a `tr_number` wrap (0xFFFFFFF6 …), 20 transactions with
    ///    slot reuse and frees, la_size 40 MiB so that extent 31 (the last of the 4 KiB
    ///    bitmap) is marked and extents from 32 on are skipped: bitmap, superblock and AL
    ///    byte-identical to the plan;
    /// 4. refusals: primary with a torn non-first slot and no update, or with a zeroed AL →
    ///    exit status 1 ("No valid AL update transaction found." / "No usable activity log
    ///    found."), nothing written; secondary with a zeroed AL → AL re-initialized and
    ///    the superblock made clean, as planned.
    ///
    /// 5. a pre-8.4 AL (512-byte transactions, [`legacy_example`]) on `MAGIC_08` meta data:
    ///    extents 11, 20, 30, 77 marked, AL re-initialized, superblock cleaned — as planned.
    ///
    /// Side effect: drbdmeta records `/var/lib/drbd/drbd-minor-250.lkbd`.
    #[test]
    #[ignore = "needs drbdmeta and a scratch block device in DRBD_RS_INTEROP_BLOCKDEV"]
    fn drbdmeta_apply_al_interop() {
        use std::io::{Seek, SeekFrom};
        let Ok(dev) = std::env::var("DRBD_RS_INTEROP_BLOCKDEV") else {
            eprintln!("DRBD_RS_INTEROP_BLOCKDEV not set: skipped");
            return;
        };
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&dev)
                .unwrap()
        };
        let n = open().seek(SeekFrom::End(0)).unwrap() / 512;
        assert!(n >= 1 << 21, "want at least 1 GiB");

        let scenarios: [(AlGeometry, &[&str]); 2] = [
            (AlGeometry::DEFAULT, &[]),
            (
                AlGeometry::new(2, 8).unwrap(),
                &["--al-stripes", "2", "--al-stripe-size-kB", "32"],
            ),
        ];
        for (i, (al, extra)) in scenarios.into_iter().enumerate() {
            // Wipe the last MiB so create-md does not find (and try to convert) meta data.
            let f = open();
            write_at(&f, n - 2048, &vec![0u8; 1 << 20]);
            f.sync_all().unwrap();
            drop(f);
            let mut args = vec!["--force", "250", "v08", &dev, "internal", "create-md"];
            args.extend_from_slice(extra);
            run_drbdmeta(&args);
            let f = open();
            let g = MdGeometry::compute(MdLayout::Internal, n, n, al).unwrap();
            let al_len = al.size_4k() as usize * 4096;
            let bm_len = g.bitmap_area_sectors() as usize * 512;
            // create-md: our superblock and AL.
            let sb_bytes = read_at(&f, g.md_offset, 4096);
            let sb0 = Superblock::decode(sb_bytes[..].try_into().unwrap()).unwrap();
            assert_eq!(sb0, Superblock::create_md(&g));
            let al_bytes = read_at(&f, g.al_sector(), al_len);
            assert!(al_bytes.chunks(4096).all(|c| c == initialized()));

            // Unclean superblock and AL transactions.
            let mut sb = sb0;
            sb.mark_unclean();
            sb.flags = MdFlags::PRIMARY_IND | MdFlags::CONSISTENT;
            let blocks: Vec<Block> = if i == 0 {
                sb.la_size_sect = g.first_md_sector();
                let (_, blocks) = spec_example();
                blocks
            } else {
                sb.la_size_sect = 81_920;
                let mut k = KernelAl::new(al, 1237, 0xFFFF_FFF6);
                for t in 0u32..20 {
                    let s = (t * 37 % 1237) as u16;
                    let mut u = vec![upd(s, t % 45), upd(1236 - s, 5000 + t)];
                    if t % 4 == 3 {
                        u.push(upd(((t - 3) * 37 % 1237) as u16, LC_FREE));
                    }
                    if t == 19 {
                        // 31 is the last extent of the 4 KiB bitmap (marked by 9.22, skipped
                        // by later drbd-utils), 32 the first one beyond it.
                        u.extend([upd(1000, 31), upd(1001, 32)]);
                    }
                    k.write(&u);
                }
                k.blocks
            };
            let mut block = [0u8; 4096];
            sb.encode(&mut block);
            write_at(&f, g.md_offset, &block);
            write_at(&f, g.al_sector(), &blocks.concat());
            f.sync_all().unwrap();
            let bm_before = read_at(&f, g.bm_sector(), bm_len);

            // Our plan, applied to copies.
            let mut slots = slot_table();
            let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
            assert!(plan.mark_bitmap);
            let mut bm = bm_before.clone();
            for p in plan.bitmap_pages() {
                let page: &mut [u8; 4096] = (&mut bm[p as usize * 4096..(p as usize + 1) * 4096])
                    .try_into()
                    .unwrap();
                mark_al_extents_in_page(p, page, plan.extents_to_mark());
            }
            let mut want_sb = [0u8; 4096];
            plan.superblock.unwrap().encode(&mut want_sb);
            if i == 1 {
                assert!(plan.extents_beyond_bitmap().contains(&32));
                assert!(plan.extents_to_mark().contains(&31));
                assert!(plan.extents_to_mark().len() > 5);
            }
            drop(f);

            run_drbdmeta(&["250", "v08", &dev, "internal", "apply-al"]);
            let f = open();
            assert_eq!(
                read_at(&f, g.md_offset, 4096),
                want_sb,
                "scenario {i}: superblock"
            );
            let al_after = read_at(&f, g.al_sector(), al_len);
            assert!(
                al_after.chunks(4096).all(|c| c == initialized()),
                "scenario {i}: AL re-initialized"
            );
            let bm_after = read_at(&f, g.bm_sector(), bm_len);
            let diff: Vec<usize> = (0..bm_len).filter(|&j| bm_after[j] != bm[j]).collect();
            assert!(
                diff.is_empty(),
                "scenario {i}: bitmap bytes differ: {diff:?}"
            );
            if i == 0 {
                let set: Vec<usize> = (0..bm_len).filter(|&j| bm_after[j] != 0).collect();
                assert_eq!(set, (384..512).collect::<Vec<_>>());
            }
            eprintln!(
                "scenario {i}: ok ({} extents marked, {} beyond the bitmap)",
                plan.extents_to_mark().len(),
                plan.extents_beyond_bitmap().len()
            );
        }

        // Refusals and the ignored error, on the default layout.
        let f = open();
        write_at(&f, n - 2048, &vec![0u8; 1 << 20]);
        f.sync_all().unwrap();
        drop(f);
        run_drbdmeta(&["--force", "250", "v08", &dev, "internal", "create-md"]);
        let g = MdGeometry::compute(MdLayout::Internal, n, n, AlGeometry::DEFAULT).unwrap();
        let mut sb = Superblock::create_md(&g);
        sb.mark_unclean();
        sb.flags = MdFlags::PRIMARY_IND;
        let mut block = [0u8; 4096];
        sb.encode(&mut block);
        type Case = (&'static str, Vec<Block>, MdFlags, Result<(), ApplyAlError>);
        let cases: [Case; 3] = [
            (
                "torn slot 3",
                {
                    let mut b = vec![initialized(); 8];
                    b[3][99] = 1;
                    b
                },
                MdFlags::PRIMARY_IND,
                Err(ApplyAlError::NoValidUpdate),
            ),
            (
                "zeroed AL",
                vec![[0u8; 4096]; 8],
                MdFlags::PRIMARY_IND,
                Err(ApplyAlError::NoUsableLog),
            ),
            (
                "zeroed AL, secondary",
                vec![[0u8; 4096]; 8],
                MdFlags::CONSISTENT,
                Ok(()),
            ),
        ];
        for (name, blocks, flags, want) in cases {
            let mut sb = sb;
            sb.flags = flags;
            sb.encode(&mut block);
            let f = open();
            write_at(&f, g.md_offset, &block);
            write_at(&f, g.al_sector(), &blocks.concat());
            f.sync_all().unwrap();
            drop(f);
            let mut slots = slot_table();
            let ours = plan_apply_al(&sb, &blocks, &mut slots);
            let code = drbdmeta_status(&["250", "v08", &dev, "internal", "apply-al"]);
            let f = open();
            let sb_after = read_at(&f, g.md_offset, 4096);
            let al_after = read_at(&f, g.al_sector(), 8 * 4096);
            match want {
                Err(e) => {
                    assert_eq!(ours.unwrap_err(), e, "{name}");
                    assert_eq!(Some(code), e.drbdmeta_exit_code(), "{name}");
                    assert_eq!(sb_after, block, "{name}: superblock untouched");
                    assert_eq!(al_after, blocks.concat(), "{name}: AL untouched");
                }
                Ok(()) => {
                    assert_eq!(code, 0, "{name}");
                    let plan = ours.unwrap();
                    assert!(plan.reinitialize_al && !plan.mark_bitmap);
                    let mut want_sb = [0u8; 4096];
                    plan.superblock.unwrap().encode(&mut want_sb);
                    assert_eq!(sb_after, want_sb, "{name}");
                    assert!(al_after.chunks(4096).all(|c| c == initialized()), "{name}");
                }
            }
            eprintln!("{name}: ok (drbdmeta exit {code})");
        }

        // The pre-8.4 AL format.
        let (sb, blocks) = legacy_example(&g);
        sb.encode(&mut block);
        let f = open();
        write_at(&f, g.md_offset, &block);
        write_at(&f, g.al_sector(), &blocks.concat());
        f.sync_all().unwrap();
        let bm_len = g.bitmap_area_sectors() as usize * 512;
        let mut bm = read_at(&f, g.bm_sector(), bm_len);
        drop(f);
        let mut slots = slot_table();
        let plan = plan_apply_al(&sb, &blocks, &mut slots).unwrap();
        assert_eq!(plan.scan.format, AlFormat::Legacy);
        for p in plan.bitmap_pages() {
            let page: &mut [u8; 4096] = (&mut bm[p as usize * 4096..(p as usize + 1) * 4096])
                .try_into()
                .unwrap();
            mark_al_extents_in_page(p, page, plan.extents_to_mark());
        }
        let mut want_sb = [0u8; 4096];
        plan.superblock.unwrap().encode(&mut want_sb);
        run_drbdmeta(&["250", "v08", &dev, "internal", "apply-al"]);
        let f = open();
        assert_eq!(
            read_at(&f, g.md_offset, 4096),
            want_sb,
            "legacy: superblock"
        );
        let al_after = read_at(&f, g.al_sector(), 8 * 4096);
        assert!(
            al_after.chunks(4096).all(|c| c == initialized()),
            "legacy: AL"
        );
        assert!(read_at(&f, g.bm_sector(), bm_len) == bm, "legacy: bitmap");
        eprintln!("legacy: ok (extents {:?})", plan.extents_to_mark());
    }

    // ---- properties ------------------------------------------------------------------------

    fn arb_updates() -> impl Strategy<Value = Vec<AlUpdate>> {
        proptest::collection::vec(
            (any::<u16>(), any::<u32>()).prop_map(|(slot, extent)| AlUpdate { slot, extent }),
            0..=AL_UPDATES_PER_TRANSACTION,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn encode_decode_round_trip(
            tr_number in any::<u32>(),
            context_size in any::<u16>(),
            start in any::<u16>(),
            updates in arb_updates(),
            context in proptest::collection::vec(any::<u32>(), 0..=AL_CONTEXT_PER_TRANSACTION),
        ) {
            let mut b = [0u8; AL_TRANSACTION_SIZE];
            let tr = AlUpdateTransaction {
                tr_number,
                context_size,
                context_start_slot_nr: start,
                updates: &updates,
                context: &context,
            };
            encode_update_transaction(&mut b, &tr).unwrap();
            let t = AlTransaction::new(&b);
            prop_assert_eq!(t.status(), AlSlotStatus::Update);
            prop_assert_eq!(t.magic(), DRBD_AL_MAGIC);
            prop_assert_eq!(t.tr_number(), tr_number);
            prop_assert_eq!(t.context_size(), context_size);
            prop_assert_eq!(t.context_start_slot_nr(), start);
            prop_assert_eq!(usize::from(t.n_updates()), updates.len());
            prop_assert_eq!(t.updates().collect::<Vec<_>>(), updates.clone());
            for i in updates.len()..AL_UPDATES_PER_TRANSACTION {
                prop_assert_eq!(t.update(i), Some(upd(UPDATE_SLOT_UNUSED, LC_FREE)));
            }
            for i in 0..AL_CONTEXT_PER_TRANSACTION {
                prop_assert_eq!(t.context(i), Some(context.get(i).copied().unwrap_or(LC_FREE)));
            }
            // Re-encoding what was decoded gives the same block.
            let decoded_updates: Vec<AlUpdate> = t.updates().collect();
            let decoded_context: Vec<u32> =
                (0..context.len()).map(|i| t.context(i).unwrap()).collect();
            let mut again = [0u8; AL_TRANSACTION_SIZE];
            encode_update_transaction(&mut again, &AlUpdateTransaction {
                tr_number: t.tr_number(),
                context_size: t.context_size(),
                context_start_slot_nr: t.context_start_slot_nr(),
                updates: &decoded_updates,
                context: &decoded_context,
            }).unwrap();
            prop_assert!(again == b);
            // Any single bit flip is detected.
            let bit = (tr_number as usize) % (AL_TRANSACTION_SIZE * 8);
            let mut flipped = b;
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!AlTransaction::new(&flipped).status().is_valid());
        }

        /// Replaying what a kernel-like writer left in the ring gives the writer's final
        /// active set, for any start number (wraps included), striping, AL size within the
        /// kernel's limit, and with a torn newest transaction the state before it.
        #[test]
        fn replay_reconstructs_the_active_set(
            stripes_log in 0u32..3,
            size_log in 1u32..4,
            size_seed in any::<u32>(),
            tr0 in prop_oneof![any::<u32>(), (u32::MAX - 40)..=u32::MAX],
            txs in proptest::collection::vec(
                proptest::collection::vec((any::<u16>(), 0u32..200), 0..6), 0..30),
            torn in any::<bool>(),
        ) {
            let al = AlGeometry { stripes: 1 << stripes_log, stripe_size_4k: 1 << size_log };
            let ring = al.size_4k();
            prop_assume!(ring >= 2);
            let max = ((ring - 1) * AL_CONTEXT_PER_TRANSACTION as u64).min(AL_EXTENTS_MAX as u64);
            let size = (1 + u64::from(size_seed) % max) as u16;
            let mut k = KernelAl::new(al, size, tr0);
            let mut before_last = k.state.clone();
            let mut last = None;
            for tx in &txs {
                before_last = k.state.clone();
                let u: Vec<AlUpdate> = tx
                    .iter()
                    .map(|&(s, e)| upd(s % size, if e >= 190 { LC_FREE } else { e }))
                    .collect();
                last = Some(k.write(&u));
            }
            let expected = match last {
                Some(b) if torn => {
                    k.blocks[b][777] ^= 0x10;
                    before_last
                }
                _ => k.state.clone(),
            };
            let mut slots = slot_table();
            let scan = replay_al_84(al, &k.blocks, &mut slots);
            prop_assert_eq!(&slots[..usize::from(size)], &expected[..]);
            prop_assert!(slots[usize::from(size)..].iter().all(|&s| s == LC_FREE));
            prop_assert_eq!(scan.slots_out_of_range, 0);
            let written = txs.len() as u64;
            if written == 0 || (torn && written == 1) {
                prop_assert!(scan.outcome != AlReplayOutcome::Replayed);
            } else {
                prop_assert_eq!(scan.outcome, AlReplayOutcome::Replayed);
            }
        }

        #[test]
        fn random_blocks_never_panic(
            seed in proptest::collection::vec(any::<u8>(), 64),
            magic in any::<bool>(),
            sb_magic in prop_oneof![Just(DRBD_MD_MAGIC_08), Just(DRBD_MD_MAGIC_84_UNCLEAN), any::<u32>()],
            flags in any::<u32>(),
            la in any::<u64>(),
            al_nr in any::<u32>(),
        ) {
            // Expand the seed into 8 blocks; optionally make them look like AL transactions
            // with valid CRCs so that the replay paths run on garbage contents.
            let mut blocks = vec![[0u8; AL_TRANSACTION_SIZE]; 8];
            let mut x = u64::from_le_bytes(seed[..8].try_into().unwrap()) | 1;
            for (bi, b) in blocks.iter_mut().enumerate() {
                for (i, byte) in b.iter_mut().enumerate() {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    *byte = (x >> 24) as u8 ^ seed[(i + bi) % 64];
                }
                if magic {
                    b[0..4].copy_from_slice(&DRBD_AL_MAGIC.to_be_bytes());
                    if seed[bi] & 1 == 0 {
                        b[12..14].fill(0);
                    }
                    seal(b);
                }
                let t = AlTransaction::new(b);
                let _ = (t.status(), t.updates().count(), t.context_entries().count());
            }
            let mut sb = Superblock::create_md(&geometry_1g());
            sb.magic = sb_magic;
            sb.flags = MdFlags::from_bits_retain(flags);
            sb.la_size_sect = la;
            sb.al_nr_extents = al_nr;
            let mut slots = slot_table();
            if let Ok(plan) = plan_apply_al(&sb, &blocks, &mut slots) {
                let mut page = [0u8; BM_PAGE_SIZE];
                for p in plan.bitmap_pages() {
                    mark_al_extents_in_page(p, &mut page, plan.extents_to_mark());
                }
                let ext = plan.active_extents();
                prop_assert!(ext.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(!ext.contains(&LC_FREE));
                let mut words = vec![0u64; 64];
                let mut bm = Bitmap::new(&mut words[..], 4096).unwrap();
                mark_al_extents(&mut bm, plan.extents_to_mark());
            }
            let _ = replay_al_legacy(al_nr, &blocks, &mut slots);
            let _ = replay_al_84(AlGeometry { stripes: 3, stripe_size_4k: 3 }, &blocks, &mut slots);
        }
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        prop_oneof![
            Just(initialized()),
            Just([0u8; AL_TRANSACTION_SIZE]),
            // A sealed update transaction with random contents.
            (
                any::<u32>(),
                proptest::collection::vec((any::<u16>(), any::<u32>()), 0..70),
                any::<u16>(),
                any::<u16>(),
                any::<u8>()
            )
                .prop_map(|(tr, ups, size, start, fill)| {
                    let mut b = [fill; AL_TRANSACTION_SIZE];
                    b[0..4].copy_from_slice(&DRBD_AL_MAGIC.to_be_bytes());
                    b[4..8].copy_from_slice(&tr.to_be_bytes());
                    b[12..14].copy_from_slice(&(fill as u16 & 1).to_be_bytes());
                    b[14..16].copy_from_slice(&(ups.len() as u16).to_be_bytes());
                    b[16..18].copy_from_slice(&size.to_be_bytes());
                    b[18..20].copy_from_slice(&start.to_be_bytes());
                    for (i, (slot, ext)) in ups.iter().take(AL_UPDATES_PER_TRANSACTION).enumerate()
                    {
                        b[36 + 2 * i..38 + 2 * i].copy_from_slice(&slot.to_be_bytes());
                        b[164 + 4 * i..168 + 4 * i].copy_from_slice(&ext.to_be_bytes());
                    }
                    seal(&mut b);
                    b
                }),
            // Legacy sectors.
            (
                any::<u32>(),
                proptest::collection::vec((any::<u32>(), any::<u32>()), 0..62)
            )
                .prop_map(|(tr, e)| {
                    let mut b = [0u8; AL_TRANSACTION_SIZE];
                    for k in 0..8 {
                        b[k * 512..(k + 1) * 512]
                            .copy_from_slice(&legacy_sector(tr.wrapping_add(k as u32), &e));
                    }
                    b
                }),
            proptest::collection::vec(any::<u8>(), AL_TRANSACTION_SIZE)
                .prop_map(|v| <Block>::try_from(&v[..]).unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Reading the AL through a block source gives the same plan as the whole AL in
        /// memory, for any blocks, striping and superblock; the source is never asked for a
        /// block outside the area, and the number of reads is bounded by the AL's size.
        #[test]
        fn streamed_plan_equals_in_memory_plan(
            geometry in prop::sample::select(vec![(0u32, 0u32), (1, 8), (2, 4), (4, 4), (3, 3), (1, 16), (8, 1), (5, 7)]),
            pool in proptest::collection::vec(arb_block(), 1..6),
            pick in proptest::collection::vec(any::<prop::sample::Index>(), 64),
            sb_magic in prop_oneof![Just(DRBD_MD_MAGIC_08), Just(DRBD_MD_MAGIC_84_UNCLEAN), any::<u32>()],
            flags in any::<u32>(),
            la in prop_oneof![0u64..(1 << 26), any::<u64>()],
            al_nr in any::<u32>(),
        ) {
            let mut sb = Superblock::create_md(&geometry_1g());
            (sb.al_stripes, sb.al_stripe_size_4k) = geometry;
            sb.magic = sb_magic;
            sb.flags = MdFlags::from_bits_retain(flags);
            sb.la_size_sect = la;
            sb.al_nr_extents = al_nr;
            let n = sb.al_geometry().map_or(8, |al| al.size_4k()) as usize;
            let blocks: Vec<Block> = (0..n).map(|i| pool[pick[i % 64].index(pool.len())]).collect();
            let mut slots = slot_table();
            let in_memory = plan_apply_al(&sb, &blocks, &mut slots)
                .map(|p| (p.scan, p.mark_bitmap, p.reinitialize_al, p.superblock, p.extents_to_mark().to_vec()));
            let mut src = Probe::new(&blocks);
            let mut slots2 = slot_table();
            let streamed = plan_apply_al_from(&sb, &mut src, &mut slots2).unwrap()
                .map(|p| (p.scan, p.mark_bitmap, p.reinitialize_al, p.superblock, p.extents_to_mark().to_vec()));
            prop_assert_eq!(in_memory, streamed);
            prop_assert_eq!(src.out_of_range, 0);
            // The legacy format reads its (at most 64) 512-byte sectors one by one.
            prop_assert!(src.reads <= 2 * (n as u64).max(LEGACY_AL_MAX_SECT) + 2);
            prop_assert_eq!(slots, slots2);
        }
    }
}
