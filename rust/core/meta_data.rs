// SPDX-License-Identifier: GPL-2.0
//! DRBD 8.4 on-disk meta data: the 4 KiB superblock (`struct meta_data_on_disk`), its magic
//! numbers and flags, the meta-data layouts and their size math, the attach-time validation of
//! the Linux 6.12 kernel, and what `drbdmeta create-md` writes.
//!
//! Spec: `on-disk-metadata.md` §2–§5, §8–§10. All sizes and offsets are in 512-byte sectors
//! unless a name says otherwise. Sans-I/O: the caller reads and writes the blocks.

use super::state::{ConnState, DiskState, Role, State};
use super::uuid::{UuidSet, UUID_JUST_CREATED};

/// Bytes per sector.
pub const SECTOR_SIZE: u32 = 512;
/// Size of the superblock and of every meta-data I/O, bytes.
pub const MD_BLOCK_SIZE: usize = 4096;
/// Sectors in 4 KiB (`MD_4kB_SECT`).
pub const MD_4KB_SECT: u32 = 8;
/// Sectors in 32 KiB (`MD_32kB_SECT`), the default / minimum activity-log size.
pub const MD_32KB_SECT: u32 = 64;
/// Sectors in 128 MiB (`MD_128MB_SECT`), one indexed external meta-data slot.
pub const MD_128MB_SECT: u64 = 262_144;
/// Minimum size of a meta device for flexible layouts, sectors (1 MiB).
pub const MD_FLEX_MIN_SECT: u64 = 2048;
/// Data sectors covered by one bitmap sector (`BM_SECT_PER_EXT`, 16 MiB).
pub const BM_SECT_PER_EXT: u64 = 32_768;
/// Data sectors covered by one 4 KiB bitmap block (128 MiB).
pub const BM_SECT_PER_BM_BLOCK: u64 = BM_SECT_PER_EXT * 8;
/// The only accepted `bm_bytes_per_bit` (`BM_BLOCK_SIZE`).
pub const BM_BYTES_PER_BIT: u32 = 4096;
/// Largest device with flexible meta data on 64-bit kernels (`DRBD_MAX_SECTORS_FLEX`, 2^51).
pub const DRBD_MAX_SECTORS_FLEX: u64 = 1 << 51;
/// Largest device with indexed (fixed 128 MiB) external meta data
/// (`DRBD_MAX_SECTORS_FIXED_BM` = (262144 − 72) × 32768).
pub const DRBD_MAX_SECTORS_FIXED_BM: u64 =
    (MD_128MB_SECT - MD_32KB_SECT as u64 - MD_4KB_SECT as u64) * BM_SECT_PER_EXT;
/// Smallest peer max BIO size assumed when attaching unconnected (`DRBD_MAX_BIO_SIZE_SAFE`).
pub const DRBD_MAX_BIO_SIZE_SAFE: u32 = 4096;
/// `al_nr_extents` written by `drbdmeta create-md`.
pub const CREATE_MD_AL_NR_EXTENTS: u32 = 257;
/// Largest activity log the kernel accepts, in 4 KiB blocks (16 GiB).
pub const AL_MAX_SIZE_4K: u64 = 16 * 1024 * 1024 / 4;
/// Smallest activity log, in 4 KiB blocks (32 KiB, 8 transaction slots).
pub const AL_MIN_SIZE_4K: u64 = 8;

/// `DRBD_MD_INDEX_INTERNAL` (legacy name, treated like [`DRBD_MD_INDEX_FLEX_INT`]).
pub const DRBD_MD_INDEX_INTERNAL: i32 = -1;
/// `DRBD_MD_INDEX_FLEX_EXT`: flexible external meta data.
pub const DRBD_MD_INDEX_FLEX_EXT: i32 = -2;
/// `DRBD_MD_INDEX_FLEX_INT`: flexible internal meta data.
pub const DRBD_MD_INDEX_FLEX_INT: i32 = -3;

/// `DRBD_MAGIC`: base magic (also 0.7–8.3 AL sectors and old packets).
pub const DRBD_MAGIC: u32 = 0x8374_0267;
/// `DRBD_MD_MAGIC_06`: 0.6 meta data.
pub const DRBD_MD_MAGIC_06: u32 = DRBD_MAGIC + 2;
/// `DRBD_MD_MAGIC_07`: 0.7 meta data.
pub const DRBD_MD_MAGIC_07: u32 = DRBD_MAGIC + 3;
/// `DRBD_MD_MAGIC_08`: 8.x superblock; clean only together with [`MdFlags::AL_CLEAN`].
pub const DRBD_MD_MAGIC_08: u32 = DRBD_MAGIC + 4;
/// `DRBD_MD_MAGIC_84_UNCLEAN`: 8.4 superblock written by an attached kernel.
pub const DRBD_MD_MAGIC_84_UNCLEAN: u32 = DRBD_MAGIC + 5;
/// `DRBD_MD_MAGIC_09`: DRBD 9 meta data (not accepted by 8.4).
pub const DRBD_MD_MAGIC_09: u32 = DRBD_MAGIC + 6;
/// `DRBD_AL_MAGIC`: 8.4 activity-log transaction block.
pub const DRBD_AL_MAGIC: u32 = 0x69CB_65A2;

/// `drbd_ret_code` values the meta-data code produces (8.4 `include/linux/drbd.h`).
pub mod ret_code {
    /// `NO_ERROR`.
    pub const NO_ERROR: i32 = 101;
    /// `ERR_DISK_TOO_SMALL`.
    pub const ERR_DISK_TOO_SMALL: i32 = 111;
    /// `ERR_MD_DISK_TOO_SMALL`.
    pub const ERR_MD_DISK_TOO_SMALL: i32 = 112;
    /// `ERR_MD_IDX_INVALID`.
    pub const ERR_MD_IDX_INVALID: i32 = 116;
    /// `ERR_IO_MD_DISK`.
    pub const ERR_IO_MD_DISK: i32 = 118;
    /// `ERR_MD_INVALID`.
    pub const ERR_MD_INVALID: i32 = 119;
    /// `ERR_MD_UNCLEAN`.
    pub const ERR_MD_UNCLEAN: i32 = 165;
    /// `ERR_IMPLICIT_SHRINK`.
    pub const ERR_IMPLICIT_SHRINK: i32 = 170;
}

// Byte offsets of the superblock fields.
const OFF_LA_SIZE: usize = 0;
const OFF_UUID: usize = 8;
const OFF_DEVICE_UUID: usize = 40;
const OFF_FLAGS: usize = 56;
const OFF_MAGIC: usize = 60;
const OFF_MD_SIZE: usize = 64;
const OFF_AL_OFFSET: usize = 68;
const OFF_AL_NR_EXTENTS: usize = 72;
const OFF_BM_OFFSET: usize = 76;
const OFF_BM_BYTES_PER_BIT: usize = 80;
const OFF_PEER_MAX_BIO: usize = 84;
const OFF_AL_STRIPES: usize = 88;
const OFF_AL_STRIPE_SIZE: usize = 92;
/// Bytes of the superblock that carry fields; the rest (and bytes 48..56) are reserved.
pub const SUPERBLOCK_USED_BYTES: usize = 96;
/// Offset of the magic in a 0.7 superblock (after `la_kb` and five generation counters).
const OFF_V07_MAGIC: usize = 28;

/// Why meta data was refused, each mapping to the kernel's `drbd_ret_code`
/// (see [`MdError::ret_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdError {
    /// `meta_dev_idx` < −3 (`ERR_MD_IDX_INVALID`).
    IndexInvalid {
        /// The index given.
        index: i32,
    },
    /// Internal meta data on a different device than the backing device, or external meta
    /// data on the backing device itself (`ERR_MD_IDX_INVALID`).
    IndexDeviceMismatch {
        /// The layout is internal.
        internal: bool,
    },
    /// The meta device is too small for this layout (`ERR_MD_DISK_TOO_SMALL`).
    MetaDeviceTooSmall {
        /// Sectors needed.
        need_sectors: u64,
        /// Sectors available.
        have_sectors: u64,
    },
    /// The usable size is smaller than the requested size (`ERR_DISK_TOO_SMALL`).
    DiskTooSmall {
        /// Sectors requested.
        need_sectors: u64,
        /// Sectors the layout can offer.
        have_sectors: u64,
    },
    /// Reading the superblock failed (`ERR_IO_MD_DISK`); produced by the caller.
    Io,
    /// Unclean meta data: `84_UNCLEAN` magic, or `MAGIC_08` without `MDF_AL_CLEAN`; run
    /// `drbdadm apply-al` (`ERR_MD_UNCLEAN`).
    Unclean {
        /// The magic found.
        magic: u32,
    },
    /// 0.7 meta-data magic found (`ERR_MD_INVALID`).
    OldMagic07,
    /// Not 8.4 meta data (`ERR_MD_INVALID`).
    BadMagic {
        /// The magic found.
        found: u32,
    },
    /// `bm_bytes_per_bit` ≠ 4096 (`ERR_MD_INVALID`).
    BadBytesPerBit {
        /// The value found.
        found: u32,
    },
    /// Invalid activity-log striping (`ERR_MD_INVALID`).
    BadAlStripes {
        /// `al_stripes`.
        stripes: u32,
        /// `al_stripe_size_4k`.
        stripe_size_4k: u32,
    },
    /// Offsets and sizes that don't make sense (`ERR_MD_INVALID`).
    BadOffsets(OffsetError),
    /// The layout needs more than the 32-bit on-disk fields can express (`ERR_MD_INVALID`).
    LayoutOverflow,
    /// A consistent device would shrink below its last agreed size without an explicit
    /// `size` (`ERR_IMPLICIT_SHRINK`).
    ImplicitShrink {
        /// `la_size_sect` from the superblock.
        la_size_sect: u64,
        /// The size the device would get.
        new_size_sect: u64,
    },
}

/// Which of the kernel's `check_offsets_and_sizes` tests failed (in the kernel's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetError {
    /// Internal layout (`al_offset` < 0) with `bm_offset` > `al_offset`.
    InternalBitmapAfterAl,
    /// External layout (`al_offset` ≥ 0) with `al_offset` ≠ 8.
    ExternalAlOffset,
    /// External layout with the bitmap starting inside the activity log.
    ExternalBitmapOverlapsAl,
    /// Indexed slot without the fixed 128 MiB / 8 / 72 / 1×8 layout.
    IndexedNotFixed,
    /// `md_size_sect` larger than the meta device.
    LargerThanDevice,
    /// The meta-data area would overlap the first data sector / the next slot.
    OverlapsData,
    /// Activity-log area not a multiple of 8 sectors or smaller than 64 sectors.
    AlAreaMisaligned,
    /// Activity-log area not exactly `al_stripes × al_stripe_size_4k × 8` sectors.
    AlAreaSizeMismatch,
    /// `bm_offset` not a multiple of 8.
    BitmapMisaligned,
    /// Bitmap area too small for `la_size_sect`.
    BitmapTooSmall,
    // The tests below go beyond the kernel's `check_offsets_and_sizes`: they make sure that
    // every region the offsets describe lies on the meta device (see [`MdGeometry::regions`]).
    /// External layout whose bitmap would start beyond the end of the meta-data area
    /// (`md_size_sect` < `bm_offset`; the kernel's size test takes the negative bitmap size
    /// for a huge unsigned one and lets it pass).
    BitmapBeyondMdArea {
        /// `bm_offset`.
        bm_offset: i32,
        /// `md_size_sect`.
        md_size_sect: u32,
    },
    /// A region starts before sector 0 of the meta device or ends beyond its last sector.
    RegionOutsideDevice {
        /// The region.
        region: MdRegion,
        /// Absolute sector of the superblock the offset is relative to.
        md_offset: u64,
        /// The region's offset from the superblock, sectors (0 for the superblock itself).
        offset: i32,
        /// The region's size, sectors.
        sectors: u64,
        /// Size of the meta device, sectors.
        device_sectors: u64,
    },
    /// Two regions share sectors.
    RegionsOverlap {
        /// One region.
        first: MdRegion,
        /// The other.
        second: MdRegion,
    },
}

impl core::fmt::Display for OffsetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InternalBitmapAfterAl => {
                f.write_str("internal meta data with the bitmap after the activity log")
            }
            Self::ExternalAlOffset => {
                f.write_str("external meta data with an activity-log offset other than 8")
            }
            Self::ExternalBitmapOverlapsAl => {
                f.write_str("external meta data with the bitmap inside the activity log")
            }
            Self::IndexedNotFixed => {
                f.write_str("indexed meta data without the fixed 128 MiB layout")
            }
            Self::LargerThanDevice => f.write_str("md_size_sect larger than the meta device"),
            Self::OverlapsData => f.write_str("the meta-data area overlaps the data area"),
            Self::AlAreaMisaligned => {
                f.write_str("activity-log area not a multiple of 4 KiB or smaller than 32 KiB")
            }
            Self::AlAreaSizeMismatch => {
                f.write_str("activity-log area size differs from al_stripes × al_stripe_size")
            }
            Self::BitmapMisaligned => f.write_str("bm_offset not a multiple of 8 sectors"),
            Self::BitmapTooSmall => f.write_str("bitmap area too small for the device size"),
            Self::BitmapBeyondMdArea {
                bm_offset,
                md_size_sect,
            } => write!(
                f,
                "bitmap at offset {bm_offset} lies beyond the end of the meta-data area \
                 ({md_size_sect} sectors)"
            ),
            Self::RegionOutsideDevice {
                region,
                md_offset,
                offset,
                sectors,
                device_sectors,
            } => match md_offset.checked_add_signed(*offset as i64) {
                Some(start) => write!(
                    f,
                    "{} at sector {start} ({sectors} sectors, offset {offset:+} from the \
                     superblock at sector {md_offset}) lies outside the meta device \
                     ({device_sectors} sectors)",
                    region.name()
                ),
                None => write!(
                    f,
                    "{} at offset {offset:+} from the superblock at sector {md_offset} \
                     ({sectors} sectors) lies before the start of the meta device",
                    region.name()
                ),
            },
            Self::RegionsOverlap { first, second } => {
                write!(f, "{} and {} overlap", first.name(), second.name())
            }
        }
    }
}

/// A region of the meta data (see [`MdRegions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdRegion {
    /// The 4 KiB superblock.
    Superblock,
    /// The activity log.
    ActivityLog,
    /// The on-disk bitmap.
    Bitmap,
}

impl MdRegion {
    /// Its name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Superblock => "superblock",
            Self::ActivityLog => "activity log",
            Self::Bitmap => "bitmap",
        }
    }
}

/// Sectors `start .. end` of the meta device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectorRange {
    /// First sector.
    pub start: u64,
    /// One past the last sector (`start <= end`).
    pub end: u64,
}

impl SectorRange {
    /// Number of sectors.
    pub const fn sectors(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range has no sectors.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether both ranges have a sector in common.
    pub const fn overlaps(&self, other: &SectorRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// The `len` sectors at `offset` sectors into this range, if they lie wholly inside it
    /// (checked arithmetic: `None` rather than a wrapped sector).
    pub const fn sub_range(&self, offset: u64, len: u64) -> Option<SectorRange> {
        let Some(start) = self.start.checked_add(offset) else {
            return None;
        };
        let Some(end) = start.checked_add(len) else {
            return None;
        };
        if end > self.end {
            None
        } else {
            Some(SectorRange { start, end })
        }
    }
}

/// Where the superblock, the activity log and the bitmap of an [`MdGeometry`] lie on the
/// meta device, in absolute sectors; see [`MdGeometry::regions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MdRegions {
    /// The superblock (8 sectors).
    pub superblock: SectorRange,
    /// The activity log (`al_stripes × al_stripe_size_4k × 8` sectors).
    pub activity_log: SectorRange,
    /// The on-disk bitmap area (see [`MdGeometry::bitmap_area_sectors`]).
    pub bitmap: SectorRange,
}

impl MdError {
    /// The 8.4 `drbd_ret_code` the kernel answers with for this error.
    pub const fn ret_code(&self) -> i32 {
        use ret_code::*;
        match self {
            Self::IndexInvalid { .. } | Self::IndexDeviceMismatch { .. } => ERR_MD_IDX_INVALID,
            Self::MetaDeviceTooSmall { .. } => ERR_MD_DISK_TOO_SMALL,
            Self::DiskTooSmall { .. } => ERR_DISK_TOO_SMALL,
            Self::Io => ERR_IO_MD_DISK,
            Self::Unclean { .. } => ERR_MD_UNCLEAN,
            Self::OldMagic07
            | Self::BadMagic { .. }
            | Self::BadBytesPerBit { .. }
            | Self::BadAlStripes { .. }
            | Self::BadOffsets(_)
            | Self::LayoutOverflow => ERR_MD_INVALID,
            Self::ImplicitShrink { .. } => ERR_IMPLICIT_SHRINK,
        }
    }
}

impl core::fmt::Display for MdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::IndexInvalid { index } => write!(f, "invalid meta-data index {index}"),
            Self::IndexDeviceMismatch { internal: true } => {
                f.write_str("internal meta data must be on the backing device")
            }
            Self::IndexDeviceMismatch { internal: false } => {
                f.write_str("external meta data must not be on the backing device")
            }
            Self::MetaDeviceTooSmall {
                need_sectors,
                have_sectors,
            } => write!(
                f,
                "meta-data device too small: need {need_sectors} sectors, have {have_sectors}"
            ),
            Self::DiskTooSmall {
                need_sectors,
                have_sectors,
            } => write!(
                f,
                "device too small: need {need_sectors} sectors, have {have_sectors}"
            ),
            Self::Io => f.write_str("error while reading meta data"),
            Self::Unclean { .. } => {
                f.write_str("unclean meta data found; run 'drbdadm apply-al' first")
            }
            Self::OldMagic07 => f.write_str("found old (0.7) meta data magic"),
            Self::BadMagic { found } => write!(f, "meta data magic not found ({found:#010x})"),
            Self::BadBytesPerBit { found } => {
                write!(f, "unexpected bm_bytes_per_bit: {found} (expected 4096)")
            }
            Self::BadAlStripes {
                stripes,
                stripe_size_4k,
            } => write!(
                f,
                "invalid activity log striping: al_stripes={stripes}, al_stripe_size_4k={stripe_size_4k}"
            ),
            Self::BadOffsets(e) => write!(f, "meta data offsets don't make sense: {e}"),
            Self::LayoutOverflow => f.write_str("device too large for this meta-data layout"),
            Self::ImplicitShrink {
                la_size_sect,
                new_size_sect,
            } => write!(
                f,
                "refusing to truncate a consistent device ({new_size_sect} < {la_size_sect} sectors)"
            ),
        }
    }
}

/// What a magic number at the superblock position means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdMagic {
    /// `DRBD_MD_MAGIC_06`.
    V06,
    /// `DRBD_MD_MAGIC_07`.
    V07,
    /// `DRBD_MD_MAGIC_08` (clean only if `MDF_AL_CLEAN` is set too).
    V08,
    /// `DRBD_MD_MAGIC_84_UNCLEAN`.
    V84Unclean,
    /// `DRBD_MD_MAGIC_09`.
    V09,
    /// Anything else.
    Unknown(u32),
}

impl MdMagic {
    /// Classify a magic value.
    pub const fn from_u32(magic: u32) -> Self {
        match magic {
            DRBD_MD_MAGIC_06 => Self::V06,
            DRBD_MD_MAGIC_07 => Self::V07,
            DRBD_MD_MAGIC_08 => Self::V08,
            DRBD_MD_MAGIC_84_UNCLEAN => Self::V84Unclean,
            DRBD_MD_MAGIC_09 => Self::V09,
            other => Self::Unknown(other),
        }
    }

    /// The magic of an 8.x superblock block (bytes 60..64).
    pub fn of_block(block: &[u8; MD_BLOCK_SIZE]) -> Self {
        Self::from_u32(be32(block, OFF_MAGIC))
    }
}

/// Whether `block` is a 0.7 superblock (`DRBD_MD_MAGIC_07` at byte 28, where the 0.7 layout
/// keeps it: `la_kb` u64, five u32 generation counters, magic). Detection only.
pub fn is_v07_superblock(block: &[u8; MD_BLOCK_SIZE]) -> bool {
    be32(block, OFF_V07_MAGIC) == DRBD_MD_MAGIC_07
}

/// Where a 0.7 superblock lives: internal meta data was a fixed 128 MiB area at the end of
/// the device (`(bytes & ~4095) − 128 MiB`), indexed slot N at N × 128 MiB. `None` if the
/// device is smaller than the area.
pub fn v07_superblock_sector(layout: MdLayout, backing_sectors: u64) -> Option<u64> {
    match layout {
        MdLayout::Internal => (backing_sectors & !7).checked_sub(MD_128MB_SECT),
        MdLayout::FlexExternal => Some(0),
        MdLayout::Indexed(n) => Some(u64::from(n) * MD_128MB_SECT),
    }
}

/// The superblock `flags` field: a set of `MDF_*` bits (unknown bits are kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MdFlags(u32);

impl MdFlags {
    /// `MDF_CONSISTENT`: local disk better than Inconsistent.
    pub const CONSISTENT: Self = Self(0x001);
    /// `MDF_PRIMARY_IND`: Primary (or diskless peer Primary): "crashed primary" if found at
    /// attach.
    pub const PRIMARY_IND: Self = Self(0x002);
    /// `MDF_CONNECTED_IND`: connection better than WFReportParams.
    pub const CONNECTED_IND: Self = Self(0x004);
    /// `MDF_FULL_SYNC`: a set-all-bits-and-write is in progress.
    pub const FULL_SYNC: Self = Self(0x008);
    /// `MDF_WAS_UP_TO_DATE`: local disk better than Outdated.
    pub const WAS_UP_TO_DATE: Self = Self(0x010);
    /// `MDF_PEER_OUT_DATED`: peer disk Inconsistent..Outdated.
    pub const PEER_OUT_DATED: Self = Self(0x020);
    /// `MDF_CRASHED_PRIMARY`: mirrors the in-core crashed-primary bit.
    pub const CRASHED_PRIMARY: Self = Self(0x040);
    /// `MDF_AL_CLEAN`: the AL has been applied (set by drbdmeta only).
    pub const AL_CLEAN: Self = Self(0x080);
    /// `MDF_AL_DISABLED`: `al-updates no` in effect (or layout being moved).
    pub const AL_DISABLED: Self = Self(0x100);
    /// All bits DRBD 8.4 defines.
    pub const ALL: Self = Self(0x1ff);

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// From the raw field, keeping unknown bits.
    pub const fn from_bits_retain(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw field.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// These flags plus `other`.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// These flags without `other`.
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Set the bits of `other`.
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Clear the bits of `other`.
    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// Set or clear the bits of `other`.
    pub fn set(&mut self, other: Self, on: bool) {
        if on {
            self.insert(other);
        } else {
            self.remove(other);
        }
    }

    /// The flags the kernel stores after a state change (`drbd_state.c`): the six
    /// state-derived bits are recomputed from `state`, `AL_CLEAN` is cleared, and the other
    /// bits (`FULL_SYNC`, `AL_DISABLED`, unknown) are kept.
    pub const fn recompute(self, state: FlagState) -> Self {
        let keep = Self::CONSISTENT
            .union(Self::PRIMARY_IND)
            .union(Self::CONNECTED_IND)
            .union(Self::WAS_UP_TO_DATE)
            .union(Self::PEER_OUT_DATED)
            .union(Self::CRASHED_PRIMARY)
            .union(Self::AL_CLEAN);
        let mut f = self.0 & !keep.0;
        if state.crashed_primary {
            f |= Self::CRASHED_PRIMARY.0;
        }
        if state.primary_ind {
            f |= Self::PRIMARY_IND.0;
        }
        if state.connected_ind {
            f |= Self::CONNECTED_IND.0;
        }
        if state.consistent {
            f |= Self::CONSISTENT.0;
        }
        if state.was_up_to_date {
            f |= Self::WAS_UP_TO_DATE.0;
        }
        if state.peer_outdated {
            f |= Self::PEER_OUT_DATED.0;
        }
        Self(f)
    }

    /// What these flags mean when attaching (`drbd_adm_attach`).
    ///
    /// `fencing_dont_care`: the disk option `fencing dont-care` is in effect;
    /// `primary_and_suspended`: the node is Primary with I/O suspended for lack of data
    /// (then `PRIMARY_IND` does not mark a crashed primary).
    pub const fn on_attach(
        self,
        fencing_dont_care: bool,
        primary_and_suspended: bool,
    ) -> AttachFlags {
        let consistent = self.contains(Self::CONSISTENT);
        let was_up_to_date = self.contains(Self::WAS_UP_TO_DATE);
        let peer_outdated = self.contains(Self::PEER_OUT_DATED);
        let crashed_primary = self.contains(Self::CRASHED_PRIMARY)
            || (self.contains(Self::PRIMARY_IND) && !primary_and_suspended);
        let disk = if !consistent {
            AttachDisk::Inconsistent
        } else if !was_up_to_date {
            AttachDisk::Outdated
        } else if peer_outdated || fencing_dont_care {
            AttachDisk::UpToDate
        } else {
            AttachDisk::Consistent
        };
        AttachFlags {
            disk,
            peer_outdated,
            crashed_primary,
            full_sync: self.contains(Self::FULL_SYNC)
                || (crashed_primary && self.contains(Self::AL_DISABLED)),
        }
    }
}

impl core::ops::BitOr for MdFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for MdFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.insert(rhs);
    }
}

impl core::ops::BitAnd for MdFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

/// The state facts [`MdFlags::recompute`] turns into flag bits (computed by the caller from
/// the device state, as `drbd_state.c` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlagState {
    /// The in-core `CRASHED_PRIMARY` bit.
    pub crashed_primary: bool,
    /// Role Primary, or peer Primary while the peer disk is < Inconsistent.
    pub primary_ind: bool,
    /// Connection state > WFReportParams.
    pub connected_ind: bool,
    /// Local disk > Inconsistent.
    pub consistent: bool,
    /// Local disk > Outdated.
    pub was_up_to_date: bool,
    /// Peer disk in Inconsistent..=Outdated.
    pub peer_outdated: bool,
}

impl FlagState {
    /// The flag facts of `state` as drbd recomputes them after every state change
    /// (on-disk-metadata.md §4); `crashed_primary` is the in-core bit, kept from attach until
    /// both disks are UpToDate.
    pub fn of(state: &State, crashed_primary: bool) -> Self {
        FlagState {
            crashed_primary,
            primary_ind: state.role == Role::Primary
                || (state.peer == Role::Primary && state.pdsk < DiskState::Inconsistent),
            connected_ind: state.conn > ConnState::WFReportParams,
            consistent: state.disk > DiskState::Inconsistent,
            was_up_to_date: state.disk > DiskState::Outdated,
            peer_outdated: (DiskState::Inconsistent..=DiskState::Outdated).contains(&state.pdsk),
        }
    }
}

/// The local disk state attach derives from the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachDisk {
    /// `MDF_CONSISTENT` clear.
    Inconsistent,
    /// Consistent but not `MDF_WAS_UP_TO_DATE`.
    Outdated,
    /// Consistent and was UpToDate; the peer's state decides.
    Consistent,
    /// Consistent, and the peer is known Outdated or fencing is `dont-care`.
    UpToDate,
}

/// What [`MdFlags::on_attach`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachFlags {
    /// The local disk state.
    pub disk: AttachDisk,
    /// The peer disk is assumed Outdated.
    pub peer_outdated: bool,
    /// The node crashed while Primary (in-core `CRASHED_PRIMARY`).
    pub crashed_primary: bool,
    /// Set all bitmap bits and write the whole bitmap at attach.
    pub full_sync: bool,
}

/// Where the meta data lives (`meta_dev_idx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdLayout {
    /// Flexible internal meta data at the end of the backing device (index −1 or −3).
    Internal,
    /// Flexible external meta data occupying a whole meta device (index −2).
    FlexExternal,
    /// Old fixed-size external slot N of 128 MiB on a shared meta device (index N ≥ 0).
    Indexed(u32),
}

impl MdLayout {
    /// From the `meta_dev_idx` netlink attribute; −1 and −3 both mean internal.
    pub const fn from_index(index: i32) -> Result<Self, MdError> {
        match index {
            DRBD_MD_INDEX_INTERNAL | DRBD_MD_INDEX_FLEX_INT => Ok(Self::Internal),
            DRBD_MD_INDEX_FLEX_EXT => Ok(Self::FlexExternal),
            n if n >= 0 => Ok(Self::Indexed(n as u32)),
            _ => Err(MdError::IndexInvalid { index }),
        }
    }

    /// The `meta_dev_idx` value (−3 for internal).
    pub const fn index(self) -> i32 {
        match self {
            Self::Internal => DRBD_MD_INDEX_FLEX_INT,
            Self::FlexExternal => DRBD_MD_INDEX_FLEX_EXT,
            // Indexes come from an i32; saturate anything larger.
            Self::Indexed(n) => {
                if n > i32::MAX as u32 {
                    i32::MAX
                } else {
                    n as i32
                }
            }
        }
    }

    /// Whether this is internal meta data.
    pub const fn is_internal(self) -> bool {
        matches!(self, Self::Internal)
    }

    /// Attach check: internal meta data must be on the backing device itself, external meta
    /// data on another device (`ERR_MD_IDX_INVALID`).
    pub const fn check_device(self, same_device_as_backing: bool) -> Result<(), MdError> {
        if self.is_internal() == same_device_as_backing {
            Ok(())
        } else {
            Err(MdError::IndexDeviceMismatch {
                internal: self.is_internal(),
            })
        }
    }

    /// Minimum meta-device size the kernel accepts: 1 MiB for flexible layouts,
    /// 128 MiB × (N + 1) for slot N.
    pub const fn min_meta_device_sectors(self) -> u64 {
        match self {
            Self::Internal | Self::FlexExternal => MD_FLEX_MIN_SECT,
            Self::Indexed(n) => MD_128MB_SECT * (n as u64 + 1),
        }
    }

    /// Attach check of the meta-device size (`ERR_MD_DISK_TOO_SMALL`).
    pub const fn check_meta_device_size(self, meta_dev_sectors: u64) -> Result<(), MdError> {
        let need = self.min_meta_device_sectors();
        if meta_dev_sectors < need {
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: need,
                have_sectors: meta_dev_sectors,
            })
        } else {
            Ok(())
        }
    }

    /// Absolute sector of the superblock (`drbd_md_ss`): internal: the last 4 KiB-aligned
    /// 4 KiB block of the backing device; flexible external: 0; slot N: N × 128 MiB.
    /// Wraps like the kernel for devices smaller than 4 KiB.
    pub const fn superblock_sector(self, backing_sectors: u64) -> u64 {
        match self {
            Self::Internal => (backing_sectors & !7).wrapping_sub(8),
            Self::FlexExternal => 0,
            Self::Indexed(n) => n as u64 * MD_128MB_SECT,
        }
    }

    /// Where to read the superblock on a meta device of `meta_dev_sectors`: the attach checks
    /// that come before that read ([`MdLayout::check_meta_device_size`]), then
    /// [`MdLayout::superblock_sector`]. Never a wrapped sector: the 4 KiB superblock lies on
    /// the device when this succeeds.
    pub const fn checked_superblock_sector(self, meta_dev_sectors: u64) -> Result<u64, MdError> {
        if let Err(e) = self.check_meta_device_size(meta_dev_sectors) {
            return Err(e);
        }
        let sector = self.superblock_sector(meta_dev_sectors);
        // Implied by the minimum size; kept so that no layout can hand out a wrapped sector.
        match sector.checked_add(MD_4KB_SECT as u64) {
            Some(end) if end <= meta_dev_sectors => Ok(sector),
            _ => Err(MdError::MetaDeviceTooSmall {
                need_sectors: self.min_meta_device_sectors(),
                have_sectors: meta_dev_sectors,
            }),
        }
    }

    /// The largest device size the kernel would allow for this layout
    /// (`DRBD_MAX_SECTORS_FLEX` or `DRBD_MAX_SECTORS_FIXED_BM`).
    pub const fn max_possible_sectors(self) -> u64 {
        match self {
            Self::Internal | Self::FlexExternal => DRBD_MAX_SECTORS_FLEX,
            Self::Indexed(_) => DRBD_MAX_SECTORS_FIXED_BM,
        }
    }
}

/// Activity-log geometry: `al_stripes` × `al_stripe_size_4k` 4 KiB blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlGeometry {
    /// Number of stripes.
    pub stripes: u32,
    /// Size of one stripe in 4 KiB blocks.
    pub stripe_size_4k: u32,
}

impl Default for AlGeometry {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AlGeometry {
    /// 1 × 32 KiB.
    pub const DEFAULT: Self = Self {
        stripes: 1,
        stripe_size_4k: 8,
    };

    /// Validate as the kernel does (`check_activity_log_stripe_size`): both 0 means the old
    /// fixed 1 × 32 KiB; only one 0 is invalid; the total must be 32 KiB ..= 16 GiB.
    pub const fn new(stripes: u32, stripe_size_4k: u32) -> Result<Self, MdError> {
        if stripes == 0 && stripe_size_4k == 0 {
            return Ok(Self::DEFAULT);
        }
        let err = Err(MdError::BadAlStripes {
            stripes,
            stripe_size_4k,
        });
        if stripes == 0 || stripe_size_4k == 0 {
            return err;
        }
        let size = stripes as u64 * stripe_size_4k as u64;
        if size > AL_MAX_SIZE_4K || size < AL_MIN_SIZE_4K {
            return err;
        }
        Ok(Self {
            stripes,
            stripe_size_4k,
        })
    }

    /// Total size in 4 KiB blocks (transaction slots).
    pub const fn size_4k(self) -> u64 {
        self.stripes as u64 * self.stripe_size_4k as u64
    }

    /// Total size in sectors (`al_size_sect`; saturating for unvalidated values).
    pub const fn size_sect(self) -> u64 {
        self.size_4k().saturating_mul(8)
    }

    /// Whether this is the default 1 × 32 KiB.
    pub const fn is_default(self) -> bool {
        self.stripes == 1 && self.stripe_size_4k == 8
    }
}

/// Sectors of the on-disk bitmap for internal meta data on a device of `backing_sectors`:
/// one 4 KiB block per 128 MiB, i.e. `8 × ceil(N / 262144)` (on-disk-metadata.md §2.3).
pub const fn internal_bitmap_sectors(backing_sectors: u64) -> u64 {
    backing_sectors.div_ceil(BM_SECT_PER_BM_BLOCK) * 8
}

/// Size of the internal meta-data area: bitmap + activity log + 4 KiB superblock.
pub const fn internal_md_size_sect(backing_sectors: u64, al: AlGeometry) -> u64 {
    internal_bitmap_sectors(backing_sectors)
        .saturating_add(MD_4KB_SECT as u64)
        .saturating_add(al.size_sect())
}

/// Where everything is: the meta-data layout of one device, in the superblock's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MdGeometry {
    /// The layout.
    pub layout: MdLayout,
    /// Absolute sector of the superblock on the meta device (`md_offset`).
    pub md_offset: u64,
    /// Size of the whole meta-data area (`md_size_sect`).
    pub md_size_sect: u32,
    /// AL offset from the superblock (negative for internal).
    pub al_offset: i32,
    /// Bitmap offset from the superblock (negative for internal).
    pub bm_offset: i32,
    /// Activity-log striping.
    pub al: AlGeometry,
}

impl MdGeometry {
    /// The layout the kernel computes (`drbd_md_set_sector_offsets`) and `drbdmeta
    /// create-md` writes.
    ///
    /// `backing_sectors` is the size of the backing (data) device; `meta_dev_sectors` that of
    /// the meta device (ignored for internal meta data, which lives on the backing device).
    /// Errors: the meta device is smaller than the layout's minimum or cannot hold the meta
    /// data ([`MdError::MetaDeviceTooSmall`] with the number of sectors needed); an indexed
    /// slot with a non-default AL ([`MdError::BadAlStripes`]); an invalid AL; a layout the
    /// 32-bit fields cannot hold ([`MdError::LayoutOverflow`]).
    pub fn compute(
        layout: MdLayout,
        backing_sectors: u64,
        meta_dev_sectors: u64,
        al: AlGeometry,
    ) -> Result<Self, MdError> {
        let al = AlGeometry::new(al.stripes, al.stripe_size_4k)?;
        let al_sect = al.size_sect();
        match layout {
            MdLayout::Internal => {
                let md_size = internal_md_size_sect(backing_sectors, al);
                let need = internal_min_sectors(al);
                if backing_sectors < need || md_size > (backing_sectors & !7) {
                    return Err(MdError::MetaDeviceTooSmall {
                        need_sectors: need,
                        have_sectors: backing_sectors,
                    });
                }
                let md_size_sect = u32::try_from(md_size).map_err(|_| MdError::LayoutOverflow)?;
                let bm_offset = 8i64 - md_size as i64;
                let bm_offset = i32::try_from(bm_offset).map_err(|_| MdError::LayoutOverflow)?;
                let al_offset =
                    i32::try_from(-(al_sect as i64)).map_err(|_| MdError::LayoutOverflow)?;
                Ok(Self {
                    layout,
                    md_offset: layout.superblock_sector(backing_sectors),
                    md_size_sect,
                    al_offset,
                    bm_offset,
                    al,
                })
            }
            MdLayout::FlexExternal => {
                let bm_offset = 8 + al_sect;
                // The AL must fit, and the kernel's 1 MiB minimum applies.
                let need = if bm_offset > MD_FLEX_MIN_SECT {
                    bm_offset
                } else {
                    MD_FLEX_MIN_SECT
                };
                if meta_dev_sectors < need {
                    return Err(MdError::MetaDeviceTooSmall {
                        need_sectors: need,
                        have_sectors: meta_dev_sectors,
                    });
                }
                // The kernel stores the meta device's capacity in a u32 (truncating beyond
                // 2 TiB); clip to the largest 4 KiB multiple instead.
                let md_size = if meta_dev_sectors > 0xFFFF_FFF8 {
                    0xFFFF_FFF8
                } else {
                    meta_dev_sectors
                };
                Ok(Self {
                    layout,
                    md_offset: 0,
                    md_size_sect: md_size as u32,
                    al_offset: MD_4KB_SECT as i32,
                    bm_offset: i32::try_from(bm_offset).map_err(|_| MdError::LayoutOverflow)?,
                    al,
                })
            }
            MdLayout::Indexed(n) => {
                if !al.is_default() {
                    return Err(MdError::BadAlStripes {
                        stripes: al.stripes,
                        stripe_size_4k: al.stripe_size_4k,
                    });
                }
                layout.check_meta_device_size(meta_dev_sectors)?;
                Ok(Self {
                    layout,
                    md_offset: u64::from(n) * MD_128MB_SECT,
                    md_size_sect: MD_128MB_SECT as u32,
                    al_offset: MD_4KB_SECT as i32,
                    bm_offset: (MD_4KB_SECT + MD_32KB_SECT) as i32,
                    al,
                })
            }
        }
    }

    /// Absolute sector of the activity log.
    pub const fn al_sector(&self) -> u64 {
        self.md_offset.wrapping_add(self.al_offset as i64 as u64)
    }

    /// Absolute sector of the bitmap.
    pub const fn bm_sector(&self) -> u64 {
        self.md_offset.wrapping_add(self.bm_offset as i64 as u64)
    }

    /// Sectors of the on-disk bitmap area (internal: between bitmap and AL; external: from
    /// the bitmap to the end of the meta-data area). 0 if the offsets are inconsistent.
    pub const fn bitmap_area_sectors(&self) -> u64 {
        let s = if self.al_offset < 0 {
            self.al_offset as i64 - self.bm_offset as i64
        } else {
            self.md_size_sect as i64 - self.bm_offset as i64
        };
        if s < 0 {
            0
        } else {
            s as u64
        }
    }

    /// Where the superblock, the activity log and the bitmap lie on a meta device of
    /// `meta_dev_sectors`, in absolute sectors, with checked arithmetic: an error if a region
    /// would start before sector 0, end beyond the device, or overlap another region, or if
    /// the bitmap area has a negative size. Every geometry [`Superblock::check_attach`]
    /// accepts passes (it ends with this test), so after attach checks every read and write of
    /// meta data can be bounded by these regions.
    pub fn regions(&self, meta_dev_sectors: u64) -> Result<MdRegions, OffsetError> {
        let bitmap_sectors = if self.al_offset < 0 {
            // Internal: the bitmap ends where the AL starts.
            let s = self.al_offset as i64 - self.bm_offset as i64;
            if s < 0 {
                return Err(OffsetError::InternalBitmapAfterAl);
            }
            s as u64
        } else {
            // External: the bitmap ends with the meta-data area.
            let s = self.md_size_sect as i64 - self.bm_offset as i64;
            if s < 0 {
                return Err(OffsetError::BitmapBeyondMdArea {
                    bm_offset: self.bm_offset,
                    md_size_sect: self.md_size_sect,
                });
            }
            s as u64
        };
        let region = |region: MdRegion, offset: i32, sectors: u64| {
            let err = OffsetError::RegionOutsideDevice {
                region,
                md_offset: self.md_offset,
                offset,
                sectors,
                device_sectors: meta_dev_sectors,
            };
            let start = self
                .md_offset
                .checked_add_signed(offset as i64)
                .ok_or(err)?;
            match start.checked_add(sectors) {
                Some(end) if end <= meta_dev_sectors => Ok(SectorRange { start, end }),
                _ => Err(err),
            }
        };
        let r = MdRegions {
            superblock: region(MdRegion::Superblock, 0, MD_4KB_SECT as u64)?,
            activity_log: region(MdRegion::ActivityLog, self.al_offset, self.al.size_sect())?,
            bitmap: region(MdRegion::Bitmap, self.bm_offset, bitmap_sectors)?,
        };
        let pairs = [
            (
                MdRegion::Superblock,
                r.superblock,
                MdRegion::ActivityLog,
                r.activity_log,
            ),
            (
                MdRegion::Superblock,
                r.superblock,
                MdRegion::Bitmap,
                r.bitmap,
            ),
            (
                MdRegion::ActivityLog,
                r.activity_log,
                MdRegion::Bitmap,
                r.bitmap,
            ),
        ];
        for (first, a, second, b) in pairs {
            if a.overlaps(&b) {
                return Err(OffsetError::RegionsOverlap { first, second });
            }
        }
        Ok(r)
    }

    /// First sector the meta data occupies on its device (`drbd_md_first_sector`): for
    /// internal meta data also the largest usable DRBD size.
    pub const fn first_md_sector(&self) -> u64 {
        match self.layout {
            MdLayout::Internal => self.bm_sector(),
            _ => self.md_offset,
        }
    }

    /// The largest DRBD device this backing device can provide (`drbd_get_max_capacity`):
    /// internal: everything before the meta data; flexible external: the backing device,
    /// clipped to what the bitmap area can cover; indexed: the backing device clipped to
    /// `DRBD_MAX_SECTORS_FIXED_BM`. All capped at `DRBD_MAX_SECTORS_FLEX`.
    pub const fn max_capacity(&self, backing_sectors: u64) -> u64 {
        match self.layout {
            MdLayout::Internal => {
                if backing_sectors == 0 {
                    0
                } else {
                    min(DRBD_MAX_SECTORS_FLEX, self.first_md_sector())
                }
            }
            MdLayout::FlexExternal => {
                let s = min(DRBD_MAX_SECTORS_FLEX, backing_sectors);
                let covered = self.bitmap_area_sectors().saturating_mul(BM_SECT_PER_EXT);
                min(s, covered)
            }
            MdLayout::Indexed(_) => min(DRBD_MAX_SECTORS_FIXED_BM, backing_sectors),
        }
    }

    /// [`MdGeometry::max_capacity`], refusing if it is below `user_size` (a non-zero
    /// explicit `size`), as attach does (`ERR_DISK_TOO_SMALL`).
    pub const fn check_user_size(
        &self,
        backing_sectors: u64,
        user_size: u64,
    ) -> Result<u64, MdError> {
        let max = self.max_capacity(backing_sectors);
        if max < user_size {
            Err(MdError::DiskTooSmall {
                need_sectors: user_size,
                have_sectors: max,
            })
        } else {
            Ok(max)
        }
    }
}

/// The smallest backing device internal meta data with this AL can be put on: at least the
/// kernel's 1 MiB, and large enough to hold its own meta-data area.
///
/// Every larger device fits too: the area grows by 8 sectors per 128 MiB, and the check
/// covers the worst device size in `n ..= n + 7` (one that crosses a 128 MiB boundary).
pub const fn internal_min_sectors(al: AlGeometry) -> u64 {
    let mut n = MD_FLEX_MIN_SECT;
    loop {
        // n is a multiple of 8; md sizes are too.
        let need = internal_md_size_sect(n.saturating_add(7), al);
        if need <= n {
            return n;
        }
        n = need;
    }
}

const fn min(a: u64, b: u64) -> u64 {
    if a < b {
        a
    } else {
        b
    }
}

/// `drbd_new_dev_size`: the size the DRBD device gets from the own maximum (`my_max`, see
/// [`MdGeometry::max_capacity`]), the peer's size (0 if unknown), the last agreed size and
/// the user's `size` (0 if none). Returns the size and whether the user size was too big (the
/// kernel then logs "Requested disk size is too big" and uses the computed size).
pub const fn new_dev_size(
    my_max: u64,
    peer_size: u64,
    la_size_sect: u64,
    user_size: u64,
) -> (u64, bool) {
    let mut size = 0;
    if peer_size != 0 && my_max != 0 {
        size = min(peer_size, my_max);
    } else if la_size_sect != 0 {
        size = la_size_sect;
        if my_max != 0 && my_max < size {
            size = my_max;
        }
        if peer_size != 0 && peer_size < size {
            size = peer_size;
        }
    } else {
        if my_max != 0 {
            size = my_max;
        }
        if peer_size != 0 {
            size = peer_size;
        }
    }
    if user_size != 0 {
        if user_size > size {
            return (size, true);
        }
        size = user_size;
    }
    (size, false)
}

/// Attach step 7, the consistent-device shrink guard: with `MDF_CONSISTENT` a new size below
/// `la_size_sect` is refused ([`MdError::ImplicitShrink`]) unless it equals the explicit user
/// `size`. `Ok(true)` means "truncating a consistent device" (allowed, the kernel warns).
pub const fn check_implicit_shrink(
    flags: MdFlags,
    la_size_sect: u64,
    new_size_sect: u64,
    user_size: u64,
) -> Result<bool, MdError> {
    if flags.contains(MdFlags::CONSISTENT) && new_size_sect < la_size_sect {
        if new_size_sect == user_size {
            Ok(true)
        } else {
            Err(MdError::ImplicitShrink {
                la_size_sect,
                new_size_sect,
            })
        }
    } else {
        Ok(false)
    }
}

/// The DRBD 8.4 superblock (`struct meta_data_on_disk`), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Last agreed device size, sectors.
    pub la_size_sect: u64,
    /// The generation UUIDs (`uuid[4]`).
    pub uuids: UuidSet,
    /// Random per-backing-device id.
    pub device_uuid: u64,
    /// `MDF_*` flags.
    pub flags: MdFlags,
    /// Magic: [`DRBD_MD_MAGIC_08`] or [`DRBD_MD_MAGIC_84_UNCLEAN`] after a successful decode.
    pub magic: u32,
    /// Size of the meta-data area, sectors.
    pub md_size_sect: u32,
    /// AL offset from the superblock, sectors (signed).
    pub al_offset: i32,
    /// AL active-set size in effect (informational).
    pub al_nr_extents: u32,
    /// Bitmap offset from the superblock, sectors (signed).
    pub bm_offset: i32,
    /// Bytes of data per bitmap bit (must be 4096).
    pub bm_bytes_per_bit: u32,
    /// Last known peer max BIO size, bytes.
    pub la_peer_max_bio_size: u32,
    /// AL stripes (0 with `al_stripe_size_4k` 0: old fixed 1 × 32 KiB).
    pub al_stripes: u32,
    /// AL stripe size in 4 KiB blocks.
    pub al_stripe_size_4k: u32,
}

fn be32(b: &[u8; MD_BLOCK_SIZE], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn be64(b: &[u8; MD_BLOCK_SIZE], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

fn put(b: &mut [u8; MD_BLOCK_SIZE], off: usize, bytes: &[u8]) {
    if let Some(d) = b.get_mut(off..off + bytes.len()) {
        d.copy_from_slice(bytes);
    }
}

impl Superblock {
    /// The superblock `drbdmeta create-md` writes for `geometry`: la_size 0, current UUID 4,
    /// device UUID 0 (`drbdadm create-md` then stores a random one, see
    /// [`Superblock::device_uuid`]), flags `AL_CLEAN`, magic `MAGIC_08`, `al_nr_extents`
    /// 257, peer max BIO size 0.
    pub const fn create_md(geometry: &MdGeometry) -> Self {
        Self {
            la_size_sect: 0,
            uuids: UuidSet::from_array([UUID_JUST_CREATED, 0, 0, 0]),
            device_uuid: 0,
            flags: MdFlags::AL_CLEAN,
            magic: DRBD_MD_MAGIC_08,
            md_size_sect: geometry.md_size_sect,
            al_offset: geometry.al_offset,
            al_nr_extents: CREATE_MD_AL_NR_EXTENTS,
            bm_offset: geometry.bm_offset,
            bm_bytes_per_bit: BM_BYTES_PER_BIT,
            la_peer_max_bio_size: 0,
            al_stripes: geometry.al.stripes,
            al_stripe_size_4k: geometry.al.stripe_size_4k,
        }
    }

    /// Decode a superblock. Accepts the two 8.4 magics (`MAGIC_08`, clean or not, and
    /// `84_UNCLEAN`); anything else is [`MdError::OldMagic07`] or [`MdError::BadMagic`].
    /// Field values are not checked here: see [`Superblock::check_attach`].
    pub fn decode(block: &[u8; MD_BLOCK_SIZE]) -> Result<Self, MdError> {
        let magic = be32(block, OFF_MAGIC);
        match MdMagic::from_u32(magic) {
            MdMagic::V08 | MdMagic::V84Unclean => {}
            MdMagic::V07 => return Err(MdError::OldMagic07),
            _ => return Err(MdError::BadMagic { found: magic }),
        }
        Ok(Self::decode_fields(block))
    }

    /// Decode every field regardless of the magic (for dumping arbitrary blocks).
    pub fn decode_fields(block: &[u8; MD_BLOCK_SIZE]) -> Self {
        Self {
            la_size_sect: be64(block, OFF_LA_SIZE),
            uuids: UuidSet::from_array([
                be64(block, OFF_UUID),
                be64(block, OFF_UUID + 8),
                be64(block, OFF_UUID + 16),
                be64(block, OFF_UUID + 24),
            ]),
            device_uuid: be64(block, OFF_DEVICE_UUID),
            flags: MdFlags::from_bits_retain(be32(block, OFF_FLAGS)),
            magic: be32(block, OFF_MAGIC),
            md_size_sect: be32(block, OFF_MD_SIZE),
            al_offset: be32(block, OFF_AL_OFFSET) as i32,
            al_nr_extents: be32(block, OFF_AL_NR_EXTENTS),
            bm_offset: be32(block, OFF_BM_OFFSET) as i32,
            bm_bytes_per_bit: be32(block, OFF_BM_BYTES_PER_BIT),
            la_peer_max_bio_size: be32(block, OFF_PEER_MAX_BIO),
            al_stripes: be32(block, OFF_AL_STRIPES),
            al_stripe_size_4k: be32(block, OFF_AL_STRIPE_SIZE),
        }
    }

    /// Encode into `block`; every reserved byte is zeroed (as the kernel does).
    pub fn encode(&self, block: &mut [u8; MD_BLOCK_SIZE]) {
        block.fill(0);
        put(block, OFF_LA_SIZE, &self.la_size_sect.to_be_bytes());
        for (i, u) in self.uuids.to_array().iter().enumerate() {
            put(block, OFF_UUID + 8 * i, &u.to_be_bytes());
        }
        put(block, OFF_DEVICE_UUID, &self.device_uuid.to_be_bytes());
        put(block, OFF_FLAGS, &self.flags.bits().to_be_bytes());
        put(block, OFF_MAGIC, &self.magic.to_be_bytes());
        put(block, OFF_MD_SIZE, &self.md_size_sect.to_be_bytes());
        put(block, OFF_AL_OFFSET, &self.al_offset.to_be_bytes());
        put(block, OFF_AL_NR_EXTENTS, &self.al_nr_extents.to_be_bytes());
        put(block, OFF_BM_OFFSET, &self.bm_offset.to_be_bytes());
        put(
            block,
            OFF_BM_BYTES_PER_BIT,
            &self.bm_bytes_per_bit.to_be_bytes(),
        );
        put(
            block,
            OFF_PEER_MAX_BIO,
            &self.la_peer_max_bio_size.to_be_bytes(),
        );
        put(block, OFF_AL_STRIPES, &self.al_stripes.to_be_bytes());
        put(
            block,
            OFF_AL_STRIPE_SIZE,
            &self.al_stripe_size_4k.to_be_bytes(),
        );
    }

    /// The magic, classified.
    pub const fn magic_kind(&self) -> MdMagic {
        MdMagic::from_u32(self.magic)
    }

    /// Clean meta data: `MAGIC_08` with `MDF_AL_CLEAN` (what attach requires).
    pub const fn is_clean(&self) -> bool {
        self.magic == DRBD_MD_MAGIC_08 && self.flags.contains(MdFlags::AL_CLEAN)
    }

    /// Prepare for a kernel superblock write (`drbd_md_write`): magic `84_UNCLEAN`. (The
    /// kernel's in-core flags never carry `AL_CLEAN` after the first state change; see
    /// [`MdFlags::recompute`].)
    pub fn mark_unclean(&mut self) {
        self.magic = DRBD_MD_MAGIC_84_UNCLEAN;
    }

    /// What `drbdmeta apply-al` leaves: magic `MAGIC_08` with `MDF_AL_CLEAN` set.
    pub fn mark_clean(&mut self) {
        self.magic = DRBD_MD_MAGIC_08;
        self.flags.insert(MdFlags::AL_CLEAN);
    }

    /// The AL geometry as the kernel takes it (both 0 → 1 × 32 KiB), validated.
    pub const fn al_geometry(&self) -> Result<AlGeometry, MdError> {
        AlGeometry::new(self.al_stripes, self.al_stripe_size_4k)
    }

    /// The peer max BIO size the kernel assumes when attaching while unconnected:
    /// `max(la_peer_max_bio_size, 4096)`.
    pub const fn peer_max_bio_size_on_attach(&self) -> u32 {
        if self.la_peer_max_bio_size > DRBD_MAX_BIO_SIZE_SAFE {
            self.la_peer_max_bio_size
        } else {
            DRBD_MAX_BIO_SIZE_SAFE
        }
    }

    /// Attach-time validation in the Linux 6.12 order (`drbd_md_read` steps 2–6 of
    /// on-disk-metadata.md §3.2): unclean → magic → `bm_bytes_per_bit` → AL striping →
    /// offsets and sizes, the last step extended by a test the kernel lacks: every region the
    /// offsets describe lies on the meta device ([`MdGeometry::regions`]). `layout` is the
    /// configured layout, `meta_dev_sectors` the size of the meta device (for internal meta
    /// data: the backing device). On success returns the geometry the stored offsets describe.
    pub fn check_attach(
        &self,
        layout: MdLayout,
        meta_dev_sectors: u64,
    ) -> Result<MdGeometry, MdError> {
        // Step 2.
        if self.magic == DRBD_MD_MAGIC_84_UNCLEAN
            || (self.magic == DRBD_MD_MAGIC_08 && !self.flags.contains(MdFlags::AL_CLEAN))
        {
            return Err(MdError::Unclean { magic: self.magic });
        }
        // Step 3.
        if self.magic != DRBD_MD_MAGIC_08 {
            return Err(if self.magic == DRBD_MD_MAGIC_07 {
                MdError::OldMagic07
            } else {
                MdError::BadMagic { found: self.magic }
            });
        }
        self.check_geometry(layout, meta_dev_sectors)
    }

    /// Attach steps 4–6 alone (`bm_bytes_per_bit`, AL striping, offsets and sizes, and that
    /// every region lies on the device: [`MdGeometry::regions`]), for a superblock whose
    /// magic is known to be 8.4 but which may be unclean: what `apply-al` must validate before
    /// it reads or writes anything the offsets point to. [`Superblock::check_attach`] is
    /// steps 2 and 3 followed by this.
    pub fn check_geometry(
        &self,
        layout: MdLayout,
        meta_dev_sectors: u64,
    ) -> Result<MdGeometry, MdError> {
        // Step 4.
        if self.bm_bytes_per_bit != BM_BYTES_PER_BIT {
            return Err(MdError::BadBytesPerBit {
                found: self.bm_bytes_per_bit,
            });
        }
        // Step 5.
        let al = self.al_geometry()?;
        // Step 6.
        let geometry = MdGeometry {
            layout,
            md_offset: layout.superblock_sector(meta_dev_sectors),
            md_size_sect: self.md_size_sect,
            al_offset: self.al_offset,
            bm_offset: self.bm_offset,
            al,
        };
        check_offsets_and_sizes(&geometry, meta_dev_sectors, self.la_size_sect)
            .map_err(MdError::BadOffsets)?;
        Ok(geometry)
    }
}

/// Read and validate a superblock block for attach: [`Superblock::decode_fields`] then
/// [`Superblock::check_attach`], so errors come in the kernel's order.
pub fn attach_check(
    block: &[u8; MD_BLOCK_SIZE],
    layout: MdLayout,
    meta_dev_sectors: u64,
) -> Result<(Superblock, MdGeometry), MdError> {
    let sb = Superblock::decode_fields(block);
    let g = sb.check_attach(layout, meta_dev_sectors)?;
    Ok((sb, g))
}

/// The kernel's `check_offsets_and_sizes`, with C's integer conversions reproduced
/// (signed 32-bit offsets, sign-extended when compared with 64-bit sizes).
fn check_offsets_and_sizes(
    g: &MdGeometry,
    capacity: u64,
    la_size_sect: u64,
) -> Result<(), OffsetError> {
    let al_size_4k = g.al.size_4k();
    let on_disk_al_sect: i32;
    let on_disk_bm_sect: i32;
    if g.al_offset < 0 {
        if g.bm_offset > g.al_offset {
            return Err(OffsetError::InternalBitmapAfterAl);
        }
        on_disk_al_sect = g.al_offset.wrapping_neg();
        on_disk_bm_sect = g.al_offset.wrapping_sub(g.bm_offset);
    } else {
        if g.al_offset != MD_4KB_SECT as i32 {
            return Err(OffsetError::ExternalAlOffset);
        }
        // s32 + u64 in C: both become u64.
        let al_end = (g.al_offset as u64).wrapping_add(al_size_4k.wrapping_mul(8));
        if (g.bm_offset as i64 as u64) < al_end {
            return Err(OffsetError::ExternalBitmapOverlapsAl);
        }
        on_disk_al_sect = g.bm_offset.wrapping_sub(MD_4KB_SECT as i32);
        on_disk_bm_sect = g.md_size_sect.wrapping_sub(g.bm_offset as u32) as i32;
    }

    if let MdLayout::Indexed(_) = g.layout {
        if g.md_size_sect as u64 != MD_128MB_SECT
            || g.al_offset != MD_4KB_SECT as i32
            || g.bm_offset != (MD_4KB_SECT + MD_32KB_SECT) as i32
            || !g.al.is_default()
        {
            return Err(OffsetError::IndexedNotFixed);
        }
    }

    let md_size = g.md_size_sect as u64;
    if capacity < md_size {
        return Err(OffsetError::LargerThanDevice);
    }
    if capacity - md_size < g.first_md_sector() {
        return Err(OffsetError::OverlapsData);
    }
    if on_disk_al_sect & 7 != 0 || on_disk_al_sect < MD_32KB_SECT as i32 {
        return Err(OffsetError::AlAreaMisaligned);
    }
    if on_disk_al_sect as i64 as u64 != al_size_4k.wrapping_mul(8) {
        return Err(OffsetError::AlAreaSizeMismatch);
    }
    if g.bm_offset & 7 != 0 {
        return Err(OffsetError::BitmapMisaligned);
    }
    if (on_disk_bm_sect as i64 as u64) < la_size_sect.wrapping_add(7) / 8 / 8 / 512 {
        return Err(OffsetError::BitmapTooSmall);
    }
    // Beyond the kernel's tests: an external layout with a negative bitmap size, or offsets
    // of a flexible external layout that point before sector 0, pass the tests above.
    g.regions(capacity)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    fn xz(path: &str) -> Vec<u8> {
        let mut f = std::fs::File::open(path).expect("testdata present");
        let mut compressed = Vec::new();
        f.read_to_end(&mut compressed).unwrap();
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &compressed[..], &mut out).expect("valid xz");
        out
    }

    /// The last 1 MiB of an 8 MiB (16384-sector) lower disk with internal meta data.
    fn md_tail(node: char) -> Vec<u8> {
        let path = format!(
            "{}/testdata/auth-csums-verify.node-{node}.md-tail-1MiB.bin.xz",
            env!("CARGO_MANIFEST_DIR")
        );
        let v = xz(&path);
        assert_eq!(v.len(), 1 << 20);
        v
    }

    /// Sector of the tail's first byte on the 8 MiB device.
    const TAIL_START_SECT: u64 = 16384 - 2048;

    fn block_at(tail: &[u8], sector: u64) -> [u8; 4096] {
        let off = ((sector - TAIL_START_SECT) * 512) as usize;
        tail[off..off + 4096].try_into().unwrap()
    }

    fn g(layout: MdLayout, n: u64) -> MdGeometry {
        MdGeometry::compute(layout, n, n, AlGeometry::DEFAULT).unwrap()
    }

    #[test]
    fn field_offsets_are_the_spec_table() {
        let sb = Superblock {
            la_size_sect: 0x0102_0304_0506_0708,
            uuids: UuidSet::from_array([0x11, 0x12, 0x13, 0x14]),
            device_uuid: 0x15,
            flags: MdFlags::from_bits_retain(0x1617_1819),
            magic: DRBD_MD_MAGIC_08,
            md_size_sect: 0x2021_2223,
            al_offset: -2,
            al_nr_extents: 0x3031_3233,
            bm_offset: -3,
            bm_bytes_per_bit: 0x4041_4243,
            la_peer_max_bio_size: 0x5051_5253,
            al_stripes: 0x6061_6263,
            al_stripe_size_4k: 0x7071_7273,
        };
        let mut b = [0xAAu8; 4096];
        sb.encode(&mut b);
        assert_eq!(&b[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b[15], 0x11);
        assert_eq!(b[23], 0x12);
        assert_eq!(b[31], 0x13);
        assert_eq!(b[39], 0x14);
        assert_eq!(b[47], 0x15);
        assert_eq!(&b[48..56], &[0; 8]);
        assert_eq!(&b[56..60], &[0x16, 0x17, 0x18, 0x19]);
        assert_eq!(&b[60..64], &[0x83, 0x74, 0x02, 0x6B]);
        assert_eq!(&b[64..68], &[0x20, 0x21, 0x22, 0x23]);
        assert_eq!(&b[68..72], &[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(&b[72..76], &[0x30, 0x31, 0x32, 0x33]);
        assert_eq!(&b[76..80], &[0xff, 0xff, 0xff, 0xfd]);
        assert_eq!(&b[80..84], &[0x40, 0x41, 0x42, 0x43]);
        assert_eq!(&b[84..88], &[0x50, 0x51, 0x52, 0x53]);
        assert_eq!(&b[88..92], &[0x60, 0x61, 0x62, 0x63]);
        assert_eq!(&b[92..96], &[0x70, 0x71, 0x72, 0x73]);
        assert!(b[96..].iter().all(|&x| x == 0));
        assert_eq!(Superblock::decode(&b), Ok(sb));
    }

    #[test]
    fn magic_constants() {
        assert_eq!(DRBD_MD_MAGIC_06, 0x8374_0269);
        assert_eq!(DRBD_MD_MAGIC_07, 0x8374_026A);
        assert_eq!(DRBD_MD_MAGIC_08, 0x8374_026B);
        assert_eq!(DRBD_MD_MAGIC_84_UNCLEAN, 0x8374_026C);
        assert_eq!(DRBD_MD_MAGIC_09, 0x8374_026D);
        for (m, k) in [
            (DRBD_MD_MAGIC_06, MdMagic::V06),
            (DRBD_MD_MAGIC_07, MdMagic::V07),
            (DRBD_MD_MAGIC_08, MdMagic::V08),
            (DRBD_MD_MAGIC_84_UNCLEAN, MdMagic::V84Unclean),
            (DRBD_MD_MAGIC_09, MdMagic::V09),
            (DRBD_MAGIC, MdMagic::Unknown(DRBD_MAGIC)),
        ] {
            assert_eq!(MdMagic::from_u32(m), k);
            let mut b = [0u8; 4096];
            b[60..64].copy_from_slice(&m.to_be_bytes());
            assert_eq!(MdMagic::of_block(&b), k);
        }
    }

    #[test]
    fn decode_rejects_foreign_magics() {
        let mut b = [0u8; 4096];
        assert_eq!(Superblock::decode(&b), Err(MdError::BadMagic { found: 0 }));
        b[60..64].copy_from_slice(&DRBD_MD_MAGIC_07.to_be_bytes());
        assert_eq!(Superblock::decode(&b), Err(MdError::OldMagic07));
        b[60..64].copy_from_slice(&DRBD_MD_MAGIC_09.to_be_bytes());
        assert_eq!(
            Superblock::decode(&b),
            Err(MdError::BadMagic {
                found: DRBD_MD_MAGIC_09
            })
        );
        // decode_fields reads anything.
        assert_eq!(Superblock::decode_fields(&b).magic, DRBD_MD_MAGIC_09);
    }

    #[test]
    fn v07_detection() {
        let mut b = [0u8; 4096];
        assert!(!is_v07_superblock(&b));
        b[28..32].copy_from_slice(&DRBD_MD_MAGIC_07.to_be_bytes());
        assert!(is_v07_superblock(&b));
        assert_eq!(
            v07_superblock_sector(MdLayout::Internal, 2_097_155),
            Some(2_097_152 - 262_144)
        );
        assert_eq!(v07_superblock_sector(MdLayout::Internal, 1000), None);
        assert_eq!(v07_superblock_sector(MdLayout::FlexExternal, 5), Some(0));
        assert_eq!(
            v07_superblock_sector(MdLayout::Indexed(2), 0),
            Some(524_288)
        );
    }

    /// The superblocks drbd.ko wrote (testdata/README.md): 8 MiB disks, internal meta data,
    /// after the auth-csums-verify session.
    #[test]
    fn real_drbd_ko_superblocks() {
        let n = 16384;
        let geom = g(MdLayout::Internal, n);
        assert_eq!(geom.md_offset, 16376);
        for (node, h1, device_uuid) in [
            ('a', 0x37d4_e71a_5a02_afcb_u64, 0x6bfc_1c59_2124_ac35_u64),
            ('b', 0x37d4_e71a_5a02_afca, 0xbb86_21db_601d_f9df),
        ] {
            let tail = md_tail(node);
            let block = block_at(&tail, geom.md_offset);
            let sb = Superblock::decode(&block).unwrap();
            // README: magic and la_size_sect.
            assert_eq!(sb.magic, 0x8374_026c);
            assert_eq!(sb.magic_kind(), MdMagic::V84Unclean);
            assert_eq!(sb.la_size_sect, 0x3fb0);
            // §2.3: la_size is the whole usable size of the 8 MiB disk.
            assert_eq!(sb.la_size_sect, geom.max_capacity(n));
            // Layout fields equal the §2.3 formulas.
            assert_eq!(sb.md_size_sect, 80);
            assert_eq!(sb.al_offset, -64);
            assert_eq!(sb.bm_offset, -72);
            assert_eq!(
                (sb.md_size_sect, sb.al_offset, sb.bm_offset),
                (geom.md_size_sect, geom.al_offset, geom.bm_offset)
            );
            assert_eq!(sb.bm_bytes_per_bit, 4096);
            assert_eq!((sb.al_stripes, sb.al_stripe_size_4k), (1, 8));
            // The kernel writes its active-set size: the default al-extents 1237.
            assert_eq!(sb.al_nr_extents, 1237);
            // Peer max BIO size learnt from the peer (1 MiB).
            assert_eq!(sb.la_peer_max_bio_size, 1 << 20);
            assert_eq!(sb.peer_max_bio_size_on_attach(), 1 << 20);
            // Both Secondary, down after a clean session: Consistent + WasUpToDate only,
            // AL_CLEAN cleared by the kernel.
            assert_eq!(
                sb.flags,
                MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE,
                "node {node}"
            );
            assert!(!sb.is_clean());
            // UUIDs: same current on both, no bitmap UUID, history = the two sync UUIDs.
            assert_eq!(sb.uuids.current, 0x1815_b549_74cd_c872);
            assert!(!sb.uuids.primary_bit());
            assert_eq!(sb.uuids.bitmap, 0);
            assert_eq!(sb.uuids.history, [h1, 0x37d3_e71a_5a02_afcb]);
            assert_eq!(sb.device_uuid, device_uuid);
            // Round trip to the same bytes (reserved area is zero on disk).
            let mut out = [0u8; 4096];
            sb.encode(&mut out);
            assert_eq!(out, block);
            // Attaching it directly is refused as unclean ...
            assert_eq!(
                sb.check_attach(MdLayout::Internal, n),
                Err(MdError::Unclean {
                    magic: DRBD_MD_MAGIC_84_UNCLEAN
                })
            );
            assert_eq!(
                attach_check(&block, MdLayout::Internal, n)
                    .unwrap_err()
                    .ret_code(),
                165
            );
            // ... and accepted after apply-al.
            let mut clean = sb;
            clean.mark_clean();
            assert_eq!(clean.flags.bits(), 0x91);
            assert_eq!(clean.check_attach(MdLayout::Internal, n), Ok(geom));
            let a = clean.flags.on_attach(false, false);
            assert_eq!(a.disk, AttachDisk::Consistent);
            assert!(!a.crashed_primary && !a.full_sync && !a.peer_outdated);
            // The data area ends where the bitmap starts.
            assert_eq!(geom.bm_sector(), 16304);
            assert_eq!(geom.al_sector(), 16312);
        }
    }

    #[test]
    fn spec_worked_examples() {
        // (N, superblock, bitmap sectors, md_size, al_offset, bm_offset, usable)
        let rows: [(u64, u64, u64, u32, i32, i32, u64); 5] = [
            (2_097_152, 2_097_144, 64, 136, -64, -128, 2_097_016),
            (2_097_155, 2_097_144, 72, 144, -64, -136, 2_097_008),
            (
                209_715_200,
                209_715_192,
                6_400,
                6_472,
                -64,
                -6_464,
                209_708_728,
            ),
            (
                1_953_525_168,
                1_953_525_160,
                59_624,
                59_696,
                -64,
                -59_688,
                1_953_465_472,
            ),
            (16_384, 16_376, 8, 80, -64, -72, 16_304),
        ];
        for (n, sb, bm, md, al, bmo, usable) in rows {
            assert_eq!(internal_bitmap_sectors(n), bm, "N={n}");
            let geom = g(MdLayout::Internal, n);
            assert_eq!(geom.md_offset, sb);
            assert_eq!(geom.md_size_sect, md);
            assert_eq!(geom.al_offset, al);
            assert_eq!(geom.bm_offset, bmo);
            assert_eq!(geom.first_md_sector(), usable);
            assert_eq!(geom.max_capacity(n), usable);
            assert_eq!(geom.bitmap_area_sectors(), bm);
            // A fresh superblock for it validates.
            let mut s = Superblock::create_md(&geom);
            s.la_size_sect = usable;
            assert_eq!(s.check_attach(MdLayout::Internal, n), Ok(geom));
        }
        // 1 GiB: 1 048 508 KiB usable.
        assert_eq!(
            g(MdLayout::Internal, 2_097_152).max_capacity(2_097_152) / 2,
            1_048_508
        );
    }

    #[test]
    fn internal_size_matches_kernel_formula() {
        // Kernel: ALIGN(N, 32768) >> 15, ALIGN(., 8), + 8 + al.
        fn kernel(n: u64) -> u64 {
            let ext = n.div_ceil(32768);
            ext.div_ceil(8) * 8 + 8 + 64
        }
        for n in [
            2048,
            2049,
            262_143,
            262_144,
            262_145,
            1 << 30,
            (1 << 41) + 1,
            DRBD_MAX_SECTORS_FLEX,
        ] {
            assert_eq!(
                internal_md_size_sect(n, AlGeometry::DEFAULT),
                kernel(n),
                "N={n}"
            );
        }
    }

    #[test]
    fn external_layouts() {
        // Flexible external on a 1 GiB meta device.
        let geom = MdGeometry::compute(
            MdLayout::FlexExternal,
            1 << 40,
            2_097_152,
            AlGeometry::DEFAULT,
        )
        .unwrap();
        assert_eq!(geom.md_offset, 0);
        assert_eq!(geom.md_size_sect, 2_097_152);
        assert_eq!(geom.al_offset, 8);
        assert_eq!(geom.bm_offset, 72);
        assert_eq!(geom.al_sector(), 8);
        assert_eq!(geom.bm_sector(), 72);
        assert_eq!(geom.first_md_sector(), 0);
        assert_eq!(geom.bitmap_area_sectors(), 2_097_152 - 72);
        // Clipped to what the bitmap covers.
        assert_eq!(geom.max_capacity(1 << 50), (2_097_152 - 72) * 32768);
        assert_eq!(geom.max_capacity(12345), 12345);
        let s = Superblock::create_md(&geom);
        assert_eq!(s.check_attach(MdLayout::FlexExternal, 2_097_152), Ok(geom));
        // Striped AL moves the bitmap.
        let al = AlGeometry::new(4, 16).unwrap();
        let geom = MdGeometry::compute(MdLayout::FlexExternal, 1 << 30, 4096, al).unwrap();
        assert_eq!(geom.bm_offset, 8 + 512);
        let s = Superblock::create_md(&geom);
        assert_eq!(s.check_attach(MdLayout::FlexExternal, 4096), Ok(geom));
        // Huge meta device: md_size clipped to 32 bits.
        let geom = MdGeometry::compute(
            MdLayout::FlexExternal,
            1 << 40,
            1 << 40,
            AlGeometry::DEFAULT,
        )
        .unwrap();
        assert_eq!(geom.md_size_sect, 0xFFFF_FFF8);

        // Indexed slot 2.
        let geom = MdGeometry::compute(
            MdLayout::Indexed(2),
            1 << 40,
            3 * 262_144,
            AlGeometry::DEFAULT,
        )
        .unwrap();
        assert_eq!(geom.md_offset, 524_288);
        assert_eq!(geom.md_size_sect, 262_144);
        assert_eq!((geom.al_offset, geom.bm_offset), (8, 72));
        assert_eq!(geom.max_capacity(1 << 40), 8_587_575_296);
        assert_eq!(geom.max_capacity(1000), 1000);
        assert_eq!(geom.first_md_sector(), 524_288);
        let s = Superblock::create_md(&geom);
        assert_eq!(s.check_attach(MdLayout::Indexed(2), 3 * 262_144), Ok(geom));
        // The slot must fit on the meta device.
        assert_eq!(
            MdGeometry::compute(
                MdLayout::Indexed(2),
                1 << 40,
                3 * 262_144 - 1,
                AlGeometry::DEFAULT
            ),
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: 786_432,
                have_sectors: 786_431
            })
        );
        assert_eq!(
            s.check_attach(MdLayout::Indexed(2), 3 * 262_144 - 1),
            Err(MdError::BadOffsets(OffsetError::OverlapsData))
        );
        // Indexed slots need the default AL.
        assert_eq!(
            MdGeometry::compute(
                MdLayout::Indexed(0),
                1,
                1 << 20,
                AlGeometry::new(2, 8).unwrap()
            ),
            Err(MdError::BadAlStripes {
                stripes: 2,
                stripe_size_4k: 8
            })
        );
    }

    #[test]
    fn minimum_sizes() {
        let al = AlGeometry::DEFAULT;
        assert_eq!(internal_min_sectors(al), 2048);
        assert_eq!(
            MdGeometry::compute(MdLayout::Internal, 2047, 0, al),
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: 2048,
                have_sectors: 2047
            })
        );
        let geom = g(MdLayout::Internal, 2048);
        assert_eq!(geom.max_capacity(2048), 2048 - 80);
        // A 16 GiB AL needs more than 16 GiB.
        let big = AlGeometry::new(1, 4_194_304).unwrap();
        let need = internal_min_sectors(big);
        assert_eq!(need, internal_md_size_sect(need, big));
        assert!(need > 33_554_432);
        let e = MdGeometry::compute(MdLayout::Internal, need - 1, 0, big).unwrap_err();
        assert_eq!(
            e,
            MdError::MetaDeviceTooSmall {
                need_sectors: need,
                have_sectors: need - 1
            }
        );
        assert_eq!(e.ret_code(), 112);
        let geom = MdGeometry::compute(MdLayout::Internal, need, 0, big).unwrap();
        assert_eq!(
            geom.max_capacity(need),
            (need & !7) - geom.md_size_sect as u64
        );
        // Flexible external: 1 MiB, or the AL if larger.
        assert_eq!(
            MdGeometry::compute(MdLayout::FlexExternal, 1, 2047, al),
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: 2048,
                have_sectors: 2047
            })
        );
        assert_eq!(
            MdGeometry::compute(MdLayout::FlexExternal, 1, 4096, big),
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: 8 + 33_554_432,
                have_sectors: 4096
            })
        );
        // Min device sizes per layout.
        assert_eq!(MdLayout::Internal.min_meta_device_sectors(), 2048);
        assert_eq!(MdLayout::FlexExternal.min_meta_device_sectors(), 2048);
        assert_eq!(MdLayout::Indexed(0).min_meta_device_sectors(), 262_144);
        assert_eq!(MdLayout::Indexed(3).min_meta_device_sectors(), 4 * 262_144);
        assert_eq!(MdLayout::Indexed(0).check_meta_device_size(262_144), Ok(()));
        assert_eq!(
            MdLayout::FlexExternal.check_meta_device_size(100),
            Err(MdError::MetaDeviceTooSmall {
                need_sectors: 2048,
                have_sectors: 100
            })
        );
    }

    #[test]
    fn layout_overflow() {
        // 2^50 sectors internal: bitmap 2^35 sectors does not fit in 32 bits.
        let e =
            MdGeometry::compute(MdLayout::Internal, 1 << 50, 0, AlGeometry::DEFAULT).unwrap_err();
        assert_eq!(e, MdError::LayoutOverflow);
        assert_eq!(e.ret_code(), 119);
        // 2^41 sectors (1 PiB) is fine.
        let geom = g(MdLayout::Internal, 1 << 41);
        assert_eq!(geom.md_size_sect as u64, (1u64 << 41) / 32768 + 72);
    }

    #[test]
    fn layout_indexes() {
        assert_eq!(MdLayout::from_index(-1), Ok(MdLayout::Internal));
        assert_eq!(MdLayout::from_index(-3), Ok(MdLayout::Internal));
        assert_eq!(MdLayout::from_index(-2), Ok(MdLayout::FlexExternal));
        assert_eq!(MdLayout::from_index(0), Ok(MdLayout::Indexed(0)));
        assert_eq!(MdLayout::from_index(255), Ok(MdLayout::Indexed(255)));
        let e = MdLayout::from_index(-4).unwrap_err();
        assert_eq!(e, MdError::IndexInvalid { index: -4 });
        assert_eq!(e.ret_code(), 116);
        assert!(MdLayout::from_index(i32::MIN).is_err());
        assert_eq!(MdLayout::Internal.index(), -3);
        assert_eq!(MdLayout::FlexExternal.index(), -2);
        assert_eq!(MdLayout::Indexed(7).index(), 7);
        assert_eq!(MdLayout::Indexed(u32::MAX).index(), i32::MAX);
        assert_eq!(MdLayout::Internal.check_device(true), Ok(()));
        assert_eq!(MdLayout::FlexExternal.check_device(false), Ok(()));
        let e = MdLayout::Internal.check_device(false).unwrap_err();
        assert_eq!(e, MdError::IndexDeviceMismatch { internal: true });
        assert_eq!(e.ret_code(), 116);
        assert_eq!(
            MdLayout::Indexed(0).check_device(true),
            Err(MdError::IndexDeviceMismatch { internal: false })
        );
        assert_eq!(MdLayout::Internal.superblock_sector(16387), 16376);
        assert_eq!(MdLayout::Internal.superblock_sector(3), u64::MAX - 7);
        assert_eq!(MdLayout::Internal.max_possible_sectors(), 1 << 51);
        assert_eq!(MdLayout::Indexed(0).max_possible_sectors(), 8_587_575_296);
    }

    #[test]
    fn al_geometry_rules() {
        assert_eq!(AlGeometry::new(0, 0), Ok(AlGeometry::DEFAULT));
        assert_eq!(AlGeometry::default(), AlGeometry::DEFAULT);
        assert_eq!(AlGeometry::DEFAULT.size_sect(), 64);
        for (s, z) in [
            (0, 8),
            (1, 0),
            (1, 7),
            (7, 1),
            (1, 4_194_305),
            (u32::MAX, u32::MAX),
        ] {
            let e = AlGeometry::new(s, z).unwrap_err();
            assert_eq!(
                e,
                MdError::BadAlStripes {
                    stripes: s,
                    stripe_size_4k: z
                }
            );
            assert_eq!(e.ret_code(), 119);
        }
        assert_eq!(AlGeometry::new(2, 4).unwrap().size_4k(), 8);
        let huge = AlGeometry {
            stripes: u32::MAX,
            stripe_size_4k: u32::MAX,
        };
        assert_eq!(huge.size_sect(), u64::MAX);
        assert_eq!(internal_md_size_sect(1 << 30, huge), u64::MAX);
        assert_eq!(internal_min_sectors(huge), u64::MAX);
        assert_eq!(
            MdGeometry::compute(MdLayout::FlexExternal, 1, 1 << 40, huge),
            Err(MdError::BadAlStripes {
                stripes: u32::MAX,
                stripe_size_4k: u32::MAX
            })
        );
        assert_eq!(AlGeometry::new(1024, 4096).unwrap().size_4k(), 4_194_304);
        assert!(MdGeometry::compute(
            MdLayout::Internal,
            1 << 30,
            0,
            AlGeometry {
                stripes: 1,
                stripe_size_4k: 1
            }
        )
        .is_err());
    }

    fn clean_internal(n: u64) -> Superblock {
        let mut s = Superblock::create_md(&g(MdLayout::Internal, n));
        s.la_size_sect = g(MdLayout::Internal, n).max_capacity(n);
        s
    }

    /// Every attach error path, in the kernel's order.
    #[test]
    fn attach_error_paths() {
        let n = 2_097_152;
        let ok = clean_internal(n);
        let check = |s: &Superblock| s.check_attach(MdLayout::Internal, n);
        assert!(check(&ok).is_ok());

        // Step 2: unclean wins over everything else.
        let mut s = ok;
        s.magic = DRBD_MD_MAGIC_84_UNCLEAN;
        s.bm_bytes_per_bit = 1;
        assert_eq!(
            check(&s),
            Err(MdError::Unclean {
                magic: DRBD_MD_MAGIC_84_UNCLEAN
            })
        );
        let mut s = ok;
        s.flags = MdFlags::CONSISTENT;
        s.al_stripes = 0;
        let e = check(&s).unwrap_err();
        assert_eq!(
            e,
            MdError::Unclean {
                magic: DRBD_MD_MAGIC_08
            }
        );
        assert_eq!(e.ret_code(), 165);

        // Step 3.
        let mut s = ok;
        s.magic = DRBD_MD_MAGIC_07;
        assert_eq!(check(&s), Err(MdError::OldMagic07));
        assert_eq!(MdError::OldMagic07.ret_code(), 119);
        s.magic = DRBD_MD_MAGIC_09;
        assert_eq!(
            check(&s),
            Err(MdError::BadMagic {
                found: DRBD_MD_MAGIC_09
            })
        );

        // Step 4 before 5.
        let mut s = ok;
        s.bm_bytes_per_bit = 512;
        s.al_stripes = 0;
        let e = check(&s).unwrap_err();
        assert_eq!(e, MdError::BadBytesPerBit { found: 512 });
        assert_eq!(e.ret_code(), 119);

        // Step 5 before 6.
        let mut s = ok;
        s.al_stripes = 0;
        s.bm_offset = 1;
        assert_eq!(
            check(&s),
            Err(MdError::BadAlStripes {
                stripes: 0,
                stripe_size_4k: 8
            })
        );
        // Both zero is the old fixed AL and fine.
        let mut s = ok;
        s.al_stripes = 0;
        s.al_stripe_size_4k = 0;
        assert_eq!(check(&s).unwrap().al, AlGeometry::DEFAULT);

        // Step 6, each offset test.
        let off = |s: &Superblock, layout: MdLayout, cap: u64| match s.check_attach(layout, cap) {
            Err(MdError::BadOffsets(e)) => {
                assert_eq!(MdError::BadOffsets(e).ret_code(), 119);
                Some(e)
            }
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => None,
        };
        let mut s = ok;
        s.bm_offset = -8;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::InternalBitmapAfterAl)
        );

        let ext = Superblock::create_md(
            &MdGeometry::compute(MdLayout::FlexExternal, n, 4096, AlGeometry::DEFAULT).unwrap(),
        );
        assert_eq!(off(&ext, MdLayout::FlexExternal, 4096), None);
        let mut s = ext;
        s.al_offset = 16;
        assert_eq!(
            off(&s, MdLayout::FlexExternal, 4096),
            Some(OffsetError::ExternalAlOffset)
        );
        let mut s = ext;
        s.bm_offset = 64;
        assert_eq!(
            off(&s, MdLayout::FlexExternal, 4096),
            Some(OffsetError::ExternalBitmapOverlapsAl)
        );
        // C quirk: a negative bm_offset passes the overlap test as a huge unsigned value and
        // is caught by the AL-area test instead.
        let mut s = ext;
        s.bm_offset = -8;
        assert_eq!(
            off(&s, MdLayout::FlexExternal, 4096),
            Some(OffsetError::AlAreaMisaligned)
        );

        let idx = Superblock::create_md(
            &MdGeometry::compute(MdLayout::Indexed(0), n, 262_144, AlGeometry::DEFAULT).unwrap(),
        );
        assert_eq!(off(&idx, MdLayout::Indexed(0), 262_144), None);
        let mut s = idx;
        s.md_size_sect = 4096;
        assert_eq!(
            off(&s, MdLayout::Indexed(0), 262_144),
            Some(OffsetError::IndexedNotFixed)
        );
        let mut s = idx;
        s.bm_offset = 80;
        assert_eq!(
            off(&s, MdLayout::Indexed(0), 262_144),
            Some(OffsetError::IndexedNotFixed)
        );
        // The flexible superblock is not acceptable as an indexed one.
        assert_eq!(
            off(&ext, MdLayout::Indexed(0), 262_144),
            Some(OffsetError::IndexedNotFixed)
        );

        let mut s = ext;
        s.md_size_sect = 4097;
        assert_eq!(
            off(&s, MdLayout::FlexExternal, 4096),
            Some(OffsetError::LargerThanDevice)
        );
        // Internal meta data larger than the device it claims to be at the end of.
        let mut s = ok;
        s.md_size_sect = 200;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::OverlapsData)
        );
        let mut s = ok;
        s.al_offset = -60;
        s.bm_offset = -128;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::AlAreaMisaligned)
        );
        let mut s = ok;
        s.al_offset = -56;
        s.bm_offset = -128;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::AlAreaMisaligned)
        );
        let mut s = ok;
        s.al_offset = -72;
        s.bm_offset = -128;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::AlAreaSizeMismatch)
        );
        let mut s = ok;
        s.bm_offset = -127;
        s.md_size_sect = 135;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::BitmapMisaligned)
        );
        let mut s = ok;
        s.la_size_sect = n;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            None,
            "kernel check rounds down"
        );
        s.la_size_sect = 65 * 32768 * 8;
        assert_eq!(
            off(&s, MdLayout::Internal, n),
            Some(OffsetError::BitmapTooSmall)
        );
        // Flexible external bitmap coverage.
        let mut s = ext;
        s.la_size_sect = (4096 - 72) * 32768 + 32768 * 8;
        assert_eq!(
            off(&s, MdLayout::FlexExternal, 4096),
            Some(OffsetError::BitmapTooSmall)
        );
        // Extreme values never panic.
        let mut s = ok;
        s.al_offset = i32::MIN;
        s.bm_offset = i32::MIN;
        s.md_size_sect = u32::MAX;
        s.la_size_sect = u64::MAX;
        assert!(check(&s).is_err());
    }

    #[test]
    fn attach_check_from_bytes() {
        let n = 1 << 21;
        let s = clean_internal(n);
        let mut b = [0u8; 4096];
        s.encode(&mut b);
        let (sb, geom) = attach_check(&b, MdLayout::Internal, n).unwrap();
        assert_eq!(sb, s);
        assert_eq!(geom, g(MdLayout::Internal, n));
        b[60..64].copy_from_slice(&DRBD_MD_MAGIC_07.to_be_bytes());
        assert_eq!(
            attach_check(&b, MdLayout::Internal, n),
            Err(MdError::OldMagic07)
        );
        assert_eq!(MdError::Io.ret_code(), 118);
    }

    #[test]
    fn regions_of_valid_layouts() {
        let r = |start, end| SectorRange { start, end };
        let n = 2_097_152;
        assert_eq!(
            g(MdLayout::Internal, n).regions(n),
            Ok(MdRegions {
                superblock: r(2_097_144, n),
                activity_log: r(2_097_080, 2_097_144),
                bitmap: r(2_097_016, 2_097_080),
            })
        );
        let ext =
            MdGeometry::compute(MdLayout::FlexExternal, n, 4100, AlGeometry::DEFAULT).unwrap();
        assert_eq!(
            ext.regions(4100),
            Ok(MdRegions {
                superblock: r(0, 8),
                activity_log: r(8, 72),
                bitmap: r(72, 4100),
            })
        );
        let idx =
            MdGeometry::compute(MdLayout::Indexed(2), n, 3 * 262_144, AlGeometry::DEFAULT).unwrap();
        let regions = idx.regions(3 * 262_144).unwrap();
        assert_eq!(regions.superblock, r(524_288, 524_296));
        assert_eq!(regions.activity_log, r(524_296, 524_360));
        assert_eq!(regions.bitmap, r(524_360, 786_432));
        assert_eq!(regions.bitmap.sectors(), idx.bitmap_area_sectors());
        // The same geometry on a smaller device.
        assert_eq!(
            idx.regions(786_431),
            Err(OffsetError::RegionOutsideDevice {
                region: MdRegion::Bitmap,
                md_offset: 524_288,
                offset: 72,
                sectors: 262_072,
                device_sectors: 786_431,
            })
        );
        // Range helpers.
        let a = r(8, 72);
        assert_eq!(a.sub_range(0, 64), Some(a));
        assert_eq!(a.sub_range(56, 8), Some(r(64, 72)));
        assert_eq!(a.sub_range(57, 8), None);
        assert_eq!(a.sub_range(u64::MAX, 1), None);
        assert_eq!(r(u64::MAX - 1, u64::MAX).sub_range(1, u64::MAX), None);
        assert!(a.overlaps(&r(71, 80)) && !a.overlaps(&r(72, 80)));
        assert!(!a.overlaps(&r(10, 10)), "empty ranges overlap nothing");
        assert!(r(5, 3).is_empty() && r(5, 3).sectors() == 0);
    }

    /// Superblocks that pass every test of the kernel's `check_offsets_and_sizes` but point
    /// outside the device; the region test refuses them (and attach with them).
    #[test]
    fn regions_refuse_what_the_kernel_checks_miss() {
        let m = 2048;
        let ext = Superblock::create_md(
            &MdGeometry::compute(MdLayout::FlexExternal, 1 << 30, m, AlGeometry::DEFAULT).unwrap(),
        );
        // Internal-style offsets on flexible external meta data: AL at sector −64.
        let mut s = ext;
        s.al_offset = -64;
        s.bm_offset = -128;
        let e = s.check_attach(MdLayout::FlexExternal, m).unwrap_err();
        assert_eq!(
            e,
            MdError::BadOffsets(OffsetError::RegionOutsideDevice {
                region: MdRegion::ActivityLog,
                md_offset: 0,
                offset: -64,
                sectors: 64,
                device_sectors: m,
            })
        );
        assert_eq!(e.ret_code(), 119);
        assert_eq!(
            std::string::ToString::to_string(&e),
            "meta data offsets don't make sense: activity log at offset -64 from the \
             superblock at sector 0 (64 sectors) lies before the start of the meta device"
        );
        // A 16 GiB AL with a small md_size_sect: negative bitmap size.
        let mut s = ext;
        s.al_stripes = 1024;
        s.al_stripe_size_4k = 4096;
        s.bm_offset = 8 + (1 << 25);
        assert_eq!(
            s.check_attach(MdLayout::FlexExternal, m),
            Err(MdError::BadOffsets(OffsetError::BitmapBeyondMdArea {
                bm_offset: 8 + (1 << 25),
                md_size_sect: 2048,
            }))
        );
        // Direct: overlapping regions, and offsets that overflow.
        let geo = |al_offset, bm_offset, md_size_sect, md_offset| MdGeometry {
            layout: MdLayout::FlexExternal,
            md_offset,
            md_size_sect,
            al_offset,
            bm_offset,
            al: AlGeometry::DEFAULT,
        };
        assert_eq!(
            geo(0, 64, 2048, 0).regions(m),
            Err(OffsetError::RegionsOverlap {
                first: MdRegion::Superblock,
                second: MdRegion::ActivityLog,
            })
        );
        assert_eq!(
            geo(8, 16, 2048, 0).regions(m),
            Err(OffsetError::RegionsOverlap {
                first: MdRegion::ActivityLog,
                second: MdRegion::Bitmap,
            })
        );
        assert!(matches!(
            geo(8, 72, u32::MAX, u64::MAX - 4).regions(u64::MAX),
            Err(OffsetError::RegionOutsideDevice {
                region: MdRegion::Superblock,
                ..
            })
        ));
        assert!(matches!(
            geo(i32::MAX, i32::MAX, u32::MAX, u64::MAX - 8).regions(u64::MAX),
            Err(OffsetError::RegionOutsideDevice {
                region: MdRegion::ActivityLog,
                ..
            })
        ));
        let mut internal = g(MdLayout::Internal, 1 << 21);
        internal.bm_offset = internal.al_offset + 8;
        assert_eq!(
            internal.regions(1 << 21),
            Err(OffsetError::InternalBitmapAfterAl)
        );
        // Every message names the problem.
        for e in [
            OffsetError::InternalBitmapAfterAl,
            OffsetError::ExternalAlOffset,
            OffsetError::ExternalBitmapOverlapsAl,
            OffsetError::IndexedNotFixed,
            OffsetError::LargerThanDevice,
            OffsetError::OverlapsData,
            OffsetError::AlAreaMisaligned,
            OffsetError::AlAreaSizeMismatch,
            OffsetError::BitmapMisaligned,
            OffsetError::BitmapTooSmall,
        ] {
            assert!(std::string::ToString::to_string(&e).len() > 20, "{e:?}");
        }
        assert_eq!(
            std::string::ToString::to_string(&OffsetError::RegionOutsideDevice {
                region: MdRegion::Bitmap,
                md_offset: 100,
                offset: -72,
                sectors: 8,
                device_sectors: 20,
            }),
            "bitmap at sector 28 (8 sectors, offset -72 from the superblock at sector 100) lies \
             outside the meta device (20 sectors)"
        );
    }

    #[test]
    fn checked_superblock_sector_small_devices() {
        for cap in [0, 1, 7, 8, 9, 2047] {
            assert_eq!(
                MdLayout::Internal.checked_superblock_sector(cap),
                Err(MdError::MetaDeviceTooSmall {
                    need_sectors: 2048,
                    have_sectors: cap
                })
            );
            assert!(MdLayout::FlexExternal
                .checked_superblock_sector(cap)
                .is_err());
        }
        assert_eq!(MdLayout::Internal.checked_superblock_sector(2048), Ok(2040));
        assert_eq!(MdLayout::Internal.checked_superblock_sector(2055), Ok(2040));
        assert_eq!(
            MdLayout::FlexExternal.checked_superblock_sector(2048),
            Ok(0)
        );
        assert_eq!(
            MdLayout::Indexed(1).checked_superblock_sector(2 * 262_144),
            Ok(262_144)
        );
        assert!(MdLayout::Indexed(1)
            .checked_superblock_sector(2 * 262_144 - 1)
            .is_err());
        assert_eq!(
            MdLayout::Indexed(u32::MAX).checked_superblock_sector(u64::MAX),
            Ok(u64::from(u32::MAX) * 262_144)
        );
    }

    /// apply-al validates unclean meta data with the attach checks minus the cleanliness and
    /// magic steps.
    #[test]
    fn check_geometry_accepts_unclean_meta_data() {
        let n = 16384;
        let tail = md_tail('a');
        let sb = Superblock::decode(&block_at(&tail, 16376)).unwrap();
        assert!(matches!(
            sb.check_attach(MdLayout::Internal, n),
            Err(MdError::Unclean { .. })
        ));
        assert_eq!(
            sb.check_geometry(MdLayout::Internal, n),
            Ok(g(MdLayout::Internal, n))
        );
        let mut bad = sb;
        bad.bm_bytes_per_bit = 512;
        assert_eq!(
            bad.check_geometry(MdLayout::Internal, n),
            Err(MdError::BadBytesPerBit { found: 512 })
        );
        let mut bad = sb;
        bad.al_offset = -72;
        assert_eq!(
            bad.check_geometry(MdLayout::Internal, n),
            Err(MdError::BadOffsets(OffsetError::AlAreaSizeMismatch))
        );
    }

    #[test]
    fn create_md_contents() {
        let geom = g(MdLayout::Internal, 2_097_152);
        let s = Superblock::create_md(&geom);
        assert_eq!(s.la_size_sect, 0);
        assert_eq!(s.uuids.to_array(), [4, 0, 0, 0]);
        assert_eq!(s.device_uuid, 0);
        assert_eq!(s.flags.bits(), 0x80);
        assert!(s.is_clean());
        assert_eq!(s.magic, DRBD_MD_MAGIC_08);
        assert_eq!((s.md_size_sect, s.al_offset, s.bm_offset), (136, -64, -128));
        assert_eq!(s.al_nr_extents, 257);
        assert_eq!(s.bm_bytes_per_bit, 4096);
        assert_eq!(s.la_peer_max_bio_size, 0);
        assert_eq!(s.peer_max_bio_size_on_attach(), 4096);
        assert_eq!((s.al_stripes, s.al_stripe_size_4k), (1, 8));
        let mut b = [0xffu8; 4096];
        s.encode(&mut b);
        let mut expect = [0u8; 96];
        expect[15] = 4;
        expect[56..60].copy_from_slice(&[0, 0, 0, 0x80]);
        expect[60..64].copy_from_slice(&[0x83, 0x74, 0x02, 0x6b]);
        expect[64..68].copy_from_slice(&136u32.to_be_bytes());
        expect[68..72].copy_from_slice(&(-64i32).to_be_bytes());
        expect[72..76].copy_from_slice(&257u32.to_be_bytes());
        expect[76..80].copy_from_slice(&(-128i32).to_be_bytes());
        expect[80..84].copy_from_slice(&4096u32.to_be_bytes());
        expect[88..92].copy_from_slice(&1u32.to_be_bytes());
        expect[92..96].copy_from_slice(&8u32.to_be_bytes());
        assert_eq!(&b[..96], &expect[..]);
        assert!(b[96..].iter().all(|&x| x == 0));
        // A fresh superblock attaches; the kernel's first write makes it unclean.
        assert!(s.check_attach(MdLayout::Internal, 2_097_152).is_ok());
        let mut k = s;
        k.flags = k.flags.recompute(FlagState::default());
        k.mark_unclean();
        assert_eq!(k.flags.bits(), 0);
        assert_eq!(k.magic_kind(), MdMagic::V84Unclean);
        assert!(matches!(
            k.check_attach(MdLayout::Internal, 2_097_152),
            Err(MdError::Unclean { .. })
        ));
    }

    #[test]
    fn flags_ops_and_recompute() {
        let mut f = MdFlags::empty();
        f.insert(MdFlags::CONSISTENT);
        f |= MdFlags::FULL_SYNC;
        assert!(f.contains(MdFlags::CONSISTENT | MdFlags::FULL_SYNC));
        assert!(f.intersects(MdFlags::FULL_SYNC | MdFlags::AL_CLEAN));
        assert!(!f.intersects(MdFlags::AL_CLEAN));
        f.set(MdFlags::FULL_SYNC, false);
        assert_eq!(f, MdFlags::CONSISTENT);
        f.set(MdFlags::AL_DISABLED, true);
        assert_eq!(f.bits(), 0x101);
        assert_eq!((f & MdFlags::AL_DISABLED).bits(), 0x100);
        assert_eq!(f.difference(MdFlags::CONSISTENT).bits(), 0x100);
        f.remove(MdFlags::ALL);
        assert_eq!(f, MdFlags::empty());
        // Recompute keeps FULL_SYNC, AL_DISABLED and unknown bits, drops AL_CLEAN.
        let old = MdFlags::from_bits_retain(0x8000_01ff);
        let st = FlagState {
            crashed_primary: false,
            primary_ind: true,
            connected_ind: false,
            consistent: true,
            was_up_to_date: true,
            peer_outdated: false,
        };
        assert_eq!(
            old.recompute(st).bits(),
            0x8000_0000 | 0x100 | 0x008 | 0x2 | 0x1 | 0x10
        );
        let all = FlagState {
            crashed_primary: true,
            primary_ind: true,
            connected_ind: true,
            consistent: true,
            was_up_to_date: true,
            peer_outdated: true,
        };
        assert_eq!(MdFlags::empty().recompute(all).bits(), 0x77);
    }

    #[test]
    fn flags_on_attach() {
        use AttachDisk::*;
        let f = |bits: u32| MdFlags::from_bits_retain(bits);
        assert_eq!(f(0).on_attach(false, false).disk, Inconsistent);
        assert_eq!(f(0x01).on_attach(false, false).disk, Outdated);
        assert_eq!(f(0x01).on_attach(true, false).disk, Outdated);
        assert_eq!(f(0x11).on_attach(false, false).disk, Consistent);
        assert_eq!(f(0x11).on_attach(true, false).disk, UpToDate);
        let a = f(0x31).on_attach(false, false);
        assert_eq!(a.disk, UpToDate);
        assert!(a.peer_outdated);
        // Crashed primary from PRIMARY_IND or CRASHED_PRIMARY.
        assert!(f(0x02).on_attach(false, false).crashed_primary);
        assert!(!f(0x02).on_attach(false, true).crashed_primary);
        assert!(f(0x40).on_attach(false, true).crashed_primary);
        // Full sync: FULL_SYNC, or crashed primary with AL disabled.
        assert!(f(0x08).on_attach(false, false).full_sync);
        assert!(f(0x102).on_attach(false, false).full_sync);
        assert!(!f(0x100).on_attach(false, false).full_sync);
    }

    #[test]
    fn new_dev_size_rules() {
        // Connected: min of both.
        assert_eq!(new_dev_size(100, 90, 0, 0), (90, false));
        assert_eq!(new_dev_size(100, 190, 500, 0), (100, false));
        // Unconnected with last agreed size: la clipped to what we have.
        assert_eq!(new_dev_size(100, 0, 80, 0), (80, false));
        assert_eq!(new_dev_size(70, 0, 80, 0), (70, false));
        assert_eq!(new_dev_size(0, 60, 80, 0), (60, false));
        // Nothing known.
        assert_eq!(new_dev_size(100, 0, 0, 0), (100, false));
        assert_eq!(new_dev_size(0, 0, 0, 0), (0, false));
        assert_eq!(new_dev_size(0, 50, 0, 0), (50, false));
        // User size.
        assert_eq!(new_dev_size(100, 0, 0, 40), (40, false));
        assert_eq!(new_dev_size(100, 0, 0, 400), (100, true));
    }

    #[test]
    fn shrink_guard_and_user_size() {
        let c = MdFlags::CONSISTENT;
        assert_eq!(check_implicit_shrink(c, 100, 100, 0), Ok(false));
        assert_eq!(check_implicit_shrink(c, 100, 120, 0), Ok(false));
        assert_eq!(
            check_implicit_shrink(MdFlags::empty(), 100, 50, 0),
            Ok(false)
        );
        assert_eq!(check_implicit_shrink(c, 100, 50, 50), Ok(true));
        let e = check_implicit_shrink(c, 100, 50, 0).unwrap_err();
        assert_eq!(
            e,
            MdError::ImplicitShrink {
                la_size_sect: 100,
                new_size_sect: 50
            }
        );
        assert_eq!(e.ret_code(), 170);

        let geom = g(MdLayout::Internal, 2_097_152);
        assert_eq!(geom.check_user_size(2_097_152, 0), Ok(2_097_016));
        assert_eq!(geom.check_user_size(2_097_152, 2_097_016), Ok(2_097_016));
        let e = geom.check_user_size(2_097_152, 2_097_017).unwrap_err();
        assert_eq!(
            e,
            MdError::DiskTooSmall {
                need_sectors: 2_097_017,
                have_sectors: 2_097_016
            }
        );
        assert_eq!(e.ret_code(), 111);
        assert_eq!(geom.max_capacity(0), 0);
    }

    #[test]
    fn errors_display() {
        use std::string::ToString;
        let all = [
            MdError::IndexInvalid { index: -9 },
            MdError::IndexDeviceMismatch { internal: true },
            MdError::IndexDeviceMismatch { internal: false },
            MdError::MetaDeviceTooSmall {
                need_sectors: 2048,
                have_sectors: 1,
            },
            MdError::DiskTooSmall {
                need_sectors: 5,
                have_sectors: 4,
            },
            MdError::Io,
            MdError::Unclean { magic: 0 },
            MdError::OldMagic07,
            MdError::BadMagic { found: 1 },
            MdError::BadBytesPerBit { found: 2 },
            MdError::BadAlStripes {
                stripes: 0,
                stripe_size_4k: 1,
            },
            MdError::BadOffsets(OffsetError::BitmapTooSmall),
            MdError::LayoutOverflow,
            MdError::ImplicitShrink {
                la_size_sect: 2,
                new_size_sect: 1,
            },
        ];
        for e in all {
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(
            MdError::MetaDeviceTooSmall {
                need_sectors: 2048,
                have_sectors: 1
            }
            .to_string(),
            "meta-data device too small: need 2048 sectors, have 1"
        );
    }

    fn arb_superblock() -> impl Strategy<Value = Superblock> {
        (
            any::<u64>(),
            any::<[u64; 4]>(),
            any::<u64>(),
            any::<u32>(),
            prop::sample::select(vec![DRBD_MD_MAGIC_08, DRBD_MD_MAGIC_84_UNCLEAN]),
            any::<[u32; 8]>(),
        )
            .prop_map(|(la, u, dev, flags, magic, w)| Superblock {
                la_size_sect: la,
                uuids: UuidSet::from_array(u),
                device_uuid: dev,
                flags: MdFlags::from_bits_retain(flags),
                magic,
                md_size_sect: w[0],
                al_offset: w[1] as i32,
                al_nr_extents: w[2],
                bm_offset: w[3] as i32,
                bm_bytes_per_bit: w[4],
                la_peer_max_bio_size: w[5],
                al_stripes: w[6],
                al_stripe_size_4k: w[7],
            })
    }

    proptest! {
        #[test]
        fn superblock_round_trip(sb in arb_superblock()) {
            let mut b = [0u8; 4096];
            sb.encode(&mut b);
            prop_assert_eq!(Superblock::decode(&b), Ok(sb));
            prop_assert!(b[48..56].iter().chain(&b[96..]).all(|&x| x == 0));
        }

        /// Any block whose reserved bytes are zero and whose magic is 8.4 re-encodes to the
        /// same bytes.
        #[test]
        fn bytes_round_trip(head in prop::collection::vec(any::<u8>(), 96), unclean in any::<bool>()) {
            let mut b = [0u8; 4096];
            b[..96].copy_from_slice(&head);
            b[48..56].fill(0);
            let magic = if unclean { DRBD_MD_MAGIC_84_UNCLEAN } else { DRBD_MD_MAGIC_08 };
            b[60..64].copy_from_slice(&magic.to_be_bytes());
            let sb = Superblock::decode(&b).unwrap();
            let mut out = [0xffu8; 4096];
            sb.encode(&mut out);
            prop_assert_eq!(&out[..], &b[..]);
        }

        /// Validation never panics, whatever the block and the device size.
        #[test]
        fn attach_check_total(
            sb in arb_superblock(),
            idx in -5i32..4,
            cap in any::<u64>(),
        ) {
            let mut sb = sb;
            sb.magic = DRBD_MD_MAGIC_08;
            sb.flags.insert(MdFlags::AL_CLEAN);
            if let Ok(layout) = MdLayout::from_index(idx) {
                let _ = sb.check_attach(layout, cap);
            }
        }

        /// Whatever the superblock block holds (random, or a valid one with fields replaced
        /// by random or boundary values) and whatever the device size: a geometry the attach
        /// checks accept has every region on the device, the regions do not overlap, and the
        /// AL region is exactly the AL's size. `check_geometry` agrees with `check_attach`.
        #[test]
        fn accepted_geometry_lies_on_the_device(
            n in prop_oneof![0u64..4096, 2048u64..(1 << 24), any::<u64>()],
            idx in -3i32..3,
            raw in prop::collection::vec(any::<u8>(), 96),
            keep in prop::array::uniform8(prop::bool::weighted(0.8)),
            words in prop::array::uniform8(prop_oneof![
                prop::sample::select(vec![0u32, 1, 7, 8, 64, 72, 80, 136, 4096, 262_144,
                    4_194_304, 0x8000_0000, 0xFFFF_FFC0, 0xFFFF_FFB8, 0xFFFF_FF80, u32::MAX]),
                any::<u32>(),
            ]),
            la in prop_oneof![Just(0u64), 0u64..(1 << 30), any::<u64>()],
        ) {
            let layout = MdLayout::from_index(idx).unwrap();
            let mut b = [0u8; 4096];
            if let Ok(geom) = MdGeometry::compute(layout, n, n, AlGeometry::DEFAULT) {
                Superblock::create_md(&geom).encode(&mut b);
                // Replace md_size, al_offset, al_nr, bm_offset, bpb, peer bio, stripes, size.
                for (i, (k, w)) in keep.iter().zip(words).enumerate() {
                    if !k {
                        b[64 + 4 * i..68 + 4 * i].copy_from_slice(&w.to_be_bytes());
                    }
                }
                b[..8].copy_from_slice(&la.to_be_bytes());
            } else {
                b[..96].copy_from_slice(&raw);
                b[60..64].copy_from_slice(&DRBD_MD_MAGIC_08.to_be_bytes());
                b[56..60].copy_from_slice(&MdFlags::AL_CLEAN.bits().to_be_bytes());
            }
            let sb = Superblock::decode_fields(&b);
            let attach = attach_check(&b, layout, n);
            prop_assert_eq!(attach.map(|(_, g)| g), sb.check_geometry(layout, n));
            if let Ok((_, geom)) = attach {
                let r = geom.regions(n);
                prop_assert!(r.is_ok(), "{:?}", r);
                let r = r.unwrap();
                for x in [r.superblock, r.activity_log, r.bitmap] {
                    prop_assert!(x.start <= x.end && x.end <= n, "{:?} on {}", x, n);
                }
                prop_assert_eq!(r.superblock.start, geom.md_offset);
                prop_assert_eq!(r.superblock.sectors(), 8);
                prop_assert_eq!(r.activity_log.sectors(), geom.al.size_sect());
                prop_assert_eq!(r.bitmap.sectors(), geom.bitmap_area_sectors());
                prop_assert!(!r.superblock.overlaps(&r.activity_log));
                prop_assert!(!r.superblock.overlaps(&r.bitmap));
                prop_assert!(!r.activity_log.overlaps(&r.bitmap));
                // Before the superblock read, the layout's own check vouches for it too.
                prop_assert_eq!(layout.checked_superblock_sector(n), Ok(geom.md_offset));
            }
        }

        /// Whatever compute() accepts, create_md + check_attach accept, and the usable size
        /// plus the meta-data area fit on the device.
        #[test]
        fn computed_layouts_validate(
            n in 2048u64..(1u64 << 45),
            m in 2048u64..(1u64 << 34),
            idx in -3i32..3,
            stripes in 1u32..5,
            size4k in 1u32..40,
        ) {
            let layout = MdLayout::from_index(idx).unwrap();
            let al = AlGeometry { stripes, stripe_size_4k: size4k };
            match MdGeometry::compute(layout, n, m, al) {
                Ok(geom) => {
                    let cap = if layout.is_internal() { n } else { m };
                    let mut sb = Superblock::create_md(&geom);
                    sb.la_size_sect = geom.max_capacity(n);
                    prop_assert_eq!(sb.check_attach(layout, cap), Ok(geom));
                    if layout.is_internal() {
                        prop_assert_eq!(
                            geom.max_capacity(n) + geom.md_size_sect as u64 + 8,
                            (n & !7) + 8
                        );
                        prop_assert!(geom.bitmap_area_sectors() * 32768 >= n);
                    }
                }
                Err(e) => {
                    let ok = matches!(
                        e,
                        MdError::MetaDeviceTooSmall { .. } | MdError::BadAlStripes { .. }
                    );
                    prop_assert!(ok, "{:?}", e);
                }
            }
        }
    }
}
