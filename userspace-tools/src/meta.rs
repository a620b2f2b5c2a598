//! Meta data on lower devices, from user space: `create-md`, and the `apply-al` step that
//! makes meta data clean again before an attach (the kernel, like drbd.ko, leaves it
//! "unclean" while attached and refuses unclean meta data).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use drbd_core::activity_log::{self, AlBlockSource, AL_EXTENTS_MAX};
use drbd_core::meta_data::{
    AlGeometry, MdError, MdFlags, MdGeometry, MdLayout, MdMagic, MdRegion, MdRegions, SectorRange,
    Superblock, BM_SECT_PER_EXT, MD_4KB_SECT, MD_BLOCK_SIZE,
};

use crate::config::model::MetaDisk;

/// Where one volume's data and meta data live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaTarget {
    /// The lower (backing) device.
    pub lower: PathBuf,
    /// The meta device (the lower device for internal meta data).
    pub meta: PathBuf,
    /// The layout.
    pub layout: MdLayout,
}

impl MetaTarget {
    /// From a volume's `disk` and `meta-disk`.
    pub fn new(disk: &str, meta_disk: &MetaDisk) -> Self {
        let (meta, layout) = match meta_disk {
            MetaDisk::Internal => (disk, MdLayout::Internal),
            MetaDisk::FlexibleExternal(d) => (d.as_str(), MdLayout::FlexExternal),
            MetaDisk::IndexedExternal(d, n) => (d.as_str(), MdLayout::Indexed(*n)),
        };
        Self {
            lower: PathBuf::from(disk),
            meta: PathBuf::from(meta),
            layout,
        }
    }
}

/// Why a meta-data operation failed; the text tells the user what to do.
#[derive(Debug)]
pub enum MetaError {
    /// I/O on a device.
    Io {
        /// The device.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        err: std::io::Error,
    },
    /// Layout or size problem.
    Layout {
        /// The meta device.
        path: PathBuf,
        /// The problem.
        err: MdError,
    },
    /// A read or write that would not lie on the device (or inside the meta-data region it
    /// belongs to), or whose byte offset would overflow: refused before any I/O.
    OutOfBounds {
        /// The device.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The first sector of the access (as computed, before any check).
        sector: u64,
        /// Bytes accessed.
        bytes: u64,
        /// The limit that was exceeded, absolute sectors.
        limit: SectorRange,
        /// What the limit is ("the device", "the activity log", ...).
        within: &'static str,
    },
    /// Existing data would be destroyed.
    WouldDestroy {
        /// The device.
        path: PathBuf,
        /// What was found.
        found: String,
    },
    /// The meta data cannot be made clean.
    Unclean {
        /// The meta device.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::Io { path, what, err } => {
                write!(f, "{}: {what}: {err}", path.display())
            }
            MetaError::Layout { path, err } => {
                write!(f, "meta data on {}: {err}", path.display())
            }
            MetaError::OutOfBounds {
                path,
                what,
                sector,
                bytes,
                limit,
                within,
            } => write!(
                f,
                "{}: refusing to {what} {bytes} bytes at sector {sector}: outside {within} \
                 (sectors {}..{})",
                path.display(),
                limit.start,
                limit.end
            ),
            MetaError::WouldDestroy { path, found } => write!(
                f,
                "{}: {found}; refusing to overwrite it. Use --force (create-md --force) if \
                 this data may be destroyed",
                path.display()
            ),
            MetaError::Unclean { path, why } => write!(f, "{}: {why}", path.display()),
        }
    }
}

impl std::error::Error for MetaError {}

fn io_err<'p>(path: &'p Path, what: &'static str) -> impl FnOnce(std::io::Error) -> MetaError + 'p {
    move |err| MetaError::Io {
        path: path.to_path_buf(),
        what,
        err,
    }
}

/// An open device (or image file) with sector-addressed I/O. Every access is bounds-checked
/// against the device size with checked arithmetic: an offset that would overflow or lie
/// beyond the end is an error, never a wrapped seek.
struct Dev {
    file: File,
    path: PathBuf,
    sectors: u64,
}

impl Dev {
    /// Open read-write. Block devices are opened exclusively (O_EXCL), so a device that is
    /// mounted or attached by a DRBD module is refused.
    fn open(path: &Path) -> Result<Self, MetaError> {
        let is_blk = std::fs::metadata(path)
            .map_err(io_err(path, "cannot access"))?
            .file_type()
            .is_block_device();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        if is_blk {
            opts.custom_flags(libc_o_excl());
        }
        let mut file = opts
            .open(path)
            .map_err(io_err(path, "cannot open (in use?)"))?;
        let bytes = file
            .seek(SeekFrom::End(0))
            .map_err(io_err(path, "cannot get size"))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            sectors: bytes / 512,
        })
    }

    /// The whole device.
    fn whole(&self) -> SectorRange {
        SectorRange {
            start: 0,
            end: self.sectors,
        }
    }

    /// The byte offset of `len` bytes at `sector`, if they lie wholly inside `limit` (and
    /// `limit` on the device).
    fn checked_offset(
        &self,
        what: &'static str,
        sector: u64,
        len: usize,
        limit: SectorRange,
        within: &'static str,
    ) -> Result<u64, MetaError> {
        let err = || MetaError::OutOfBounds {
            path: self.path.clone(),
            what,
            sector,
            bytes: len as u64,
            limit,
            within,
        };
        let dev_end = self.sectors.checked_mul(512).ok_or_else(err)?;
        let lim_start = limit.start.checked_mul(512).ok_or_else(err)?;
        let lim_end = limit.end.checked_mul(512).ok_or_else(err)?.min(dev_end);
        let start = sector.checked_mul(512).ok_or_else(err)?;
        let end = start.checked_add(len as u64).ok_or_else(err)?;
        if start < lim_start || end > lim_end {
            return Err(err());
        }
        Ok(start)
    }

    /// Read `buf.len()` bytes at `sector`, inside `limit`.
    fn read_in(
        &mut self,
        limit: SectorRange,
        within: &'static str,
        sector: u64,
        buf: &mut [u8],
    ) -> Result<(), MetaError> {
        let off = self.checked_offset("read", sector, buf.len(), limit, within)?;
        self.file
            .seek(SeekFrom::Start(off))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(io_err(&self.path, "read failed"))
    }

    /// Write `buf` at `sector`, inside `limit`.
    fn write_in(
        &mut self,
        limit: SectorRange,
        within: &'static str,
        sector: u64,
        buf: &[u8],
    ) -> Result<(), MetaError> {
        let off = self.checked_offset("write", sector, buf.len(), limit, within)?;
        self.file
            .seek(SeekFrom::Start(off))
            .and_then(|_| self.file.write_all(buf))
            .map_err(io_err(&self.path, "write failed"))
    }

    /// Read anywhere on the device.
    fn read_at(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), MetaError> {
        self.read_in(self.whole(), "the device", sector, buf)
    }

    /// Read inside one region of validated meta data.
    fn read_region(
        &mut self,
        regions: &MdRegions,
        region: MdRegion,
        sector: u64,
        buf: &mut [u8],
    ) -> Result<(), MetaError> {
        self.read_in(
            region_range(regions, region),
            region_name(region),
            sector,
            buf,
        )
    }

    /// Write inside one region of validated meta data.
    fn write_region(
        &mut self,
        regions: &MdRegions,
        region: MdRegion,
        sector: u64,
        buf: &[u8],
    ) -> Result<(), MetaError> {
        self.write_in(
            region_range(regions, region),
            region_name(region),
            sector,
            buf,
        )
    }

    /// Every activity-log slot initialized, as drbdmeta writes it.
    fn initialize_al(&mut self, regions: &MdRegions) -> Result<(), MetaError> {
        let mut slot = [0u8; MD_BLOCK_SIZE];
        activity_log::encode_initialized_slot(&mut slot);
        let al = regions.activity_log;
        let mut sector = al.start;
        while sector < al.end {
            self.write_region(regions, MdRegion::ActivityLog, sector, &slot)?;
            sector += u64::from(MD_4KB_SECT);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MetaError> {
        self.file
            .sync_all()
            .map_err(io_err(&self.path, "sync failed"))
    }
}

fn region_range(regions: &MdRegions, region: MdRegion) -> SectorRange {
    match region {
        MdRegion::Superblock => regions.superblock,
        MdRegion::ActivityLog => regions.activity_log,
        MdRegion::Bitmap => regions.bitmap,
    }
}

fn region_name(region: MdRegion) -> &'static str {
    match region {
        MdRegion::Superblock => "the superblock",
        MdRegion::ActivityLog => "the activity log",
        MdRegion::Bitmap => "the bitmap",
    }
}

/// The activity log of validated meta data, read block by block for the replay (an AL may be
/// up to 16 GiB; only one block is held in memory).
struct AlReader<'d> {
    dev: &'d mut Dev,
    regions: MdRegions,
    blocks: u64,
    buf: [u8; MD_BLOCK_SIZE],
}

impl AlBlockSource for AlReader<'_> {
    type Error = MetaError;

    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn block(&mut self, index: u64) -> Result<Option<&[u8; MD_BLOCK_SIZE]>, MetaError> {
        if index >= self.blocks {
            return Ok(None);
        }
        // Out-of-range values fall through to the bounds check as u64::MAX.
        let sector = index
            .checked_mul(u64::from(MD_4KB_SECT))
            .and_then(|s| s.checked_add(self.regions.activity_log.start))
            .unwrap_or(u64::MAX);
        self.dev
            .read_region(&self.regions, MdRegion::ActivityLog, sector, &mut self.buf)?;
        Ok(Some(&self.buf))
    }
}

/// `O_EXCL` (same value on every Linux architecture we build for).
const fn libc_o_excl() -> i32 {
    0o200
}

/// Known signatures in the first 68 KiB of a device (what drbdmeta probes for).
pub fn probe_signature(head: &[u8]) -> Option<&'static str> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(1024 + 56, &[0x53, 0xEF]) {
        Some("an ext2/ext3/ext4 file system")
    } else if at(0, b"XFSB") {
        Some("an XFS file system")
    } else if at(65536 + 64, b"_BHRfS_M") {
        Some("a btrfs file system")
    } else if at(4086, b"SWAPSPACE2") || at(4086, b"SWAP-SPACE") {
        Some("swap space")
    } else if (0..4).any(|s| at(s * 512, b"LABELONE")) {
        Some("an LVM physical volume")
    } else if at(32768 + 1, b"CD001") {
        Some("an ISO-9660 file system")
    } else {
        None
    }
}

/// What `create-md` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The layout written.
    pub geometry: MdGeometry,
    /// Usable size of the DRBD device, in sectors.
    pub capacity: u64,
}

/// Write fresh 8.4 meta data: initialized activity log, zeroed bitmap, a superblock with
/// current UUID "just created" and a random device UUID. Refuses, unless `force`, to
/// overwrite existing meta data or a file system it would damage.
pub fn create_md(target: &MetaTarget, force: bool) -> Result<Created, MetaError> {
    let internal = target.layout.is_internal();
    let lower_sectors = if internal {
        None
    } else {
        Some(Dev::open(&target.lower)?.sectors)
    };
    let mut meta = Dev::open(&target.meta)?;
    let lower_sectors = lower_sectors.unwrap_or(meta.sectors);
    let layout_err = |err| MetaError::Layout {
        path: target.meta.clone(),
        err,
    };
    target
        .layout
        .check_meta_device_size(meta.sectors)
        .map_err(layout_err)?;
    let geometry = MdGeometry::compute(
        target.layout,
        lower_sectors,
        meta.sectors,
        AlGeometry::DEFAULT,
    )
    .map_err(layout_err)?;
    let mut sb = Superblock::create_md(&geometry);
    // What is written must pass the module's attach checks (one source of truth for what
    // valid meta data is); the regions they vouch for bound every write below.
    let checked = sb
        .check_attach(target.layout, meta.sectors)
        .map_err(layout_err)?;
    let regions = checked
        .regions(meta.sectors)
        .map_err(|e| layout_err(MdError::BadOffsets(e)))?;

    if !force {
        let mut block = [0u8; MD_BLOCK_SIZE];
        meta.read_region(
            &regions,
            MdRegion::Superblock,
            regions.superblock.start,
            &mut block,
        )?;
        match MdMagic::of_block(&block) {
            MdMagic::Unknown(_) => {}
            kind => {
                return Err(MetaError::WouldDestroy {
                    path: target.meta.clone(),
                    found: format!("valid DRBD meta data ({kind:?}) found"),
                })
            }
        }
        // Internal meta data takes the end of the lower device; external meta data takes the
        // whole meta device (or its slot): any file system there would be damaged.
        let mut head = vec![0u8; 68 * 1024];
        let start = if internal { 0 } else { geometry.md_offset };
        let avail = meta.sectors.saturating_sub(start).saturating_mul(512);
        let n = usize::try_from(avail).map_or(head.len(), |a| a.min(head.len()));
        meta.read_at(start, &mut head[..n])?;
        if let Some(found) = probe_signature(&head[..n]) {
            return Err(MetaError::WouldDestroy {
                path: target.meta.clone(),
                found: format!("contains {found}"),
            });
        }
    }

    meta.initialize_al(&regions)?;
    // Bitmap: all clear (nothing to resync against a peer that has never been seen).
    let zero = vec![0u8; 1 << 20];
    let chunk = zero.len() as u64 / 512;
    let mut sector = regions.bitmap.start;
    while sector < regions.bitmap.end {
        let n = (regions.bitmap.end - sector).min(chunk);
        let len = (n * 512) as usize; // n <= 2048
        meta.write_region(&regions, MdRegion::Bitmap, sector, &zero[..len])?;
        sector += n;
    }
    sb.device_uuid = random_u64().map_err(io_err(Path::new("/dev/urandom"), "read failed"))?;
    let mut block = [0u8; MD_BLOCK_SIZE];
    sb.encode(&mut block);
    meta.write_region(
        &regions,
        MdRegion::Superblock,
        regions.superblock.start,
        &block,
    )?;
    meta.sync()?;
    Ok(Created {
        geometry,
        capacity: geometry.max_capacity(lower_sectors),
    })
}

fn random_u64() -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// What `apply_al` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlOutcome {
    /// The meta data was clean already; nothing written.
    AlreadyClean,
    /// Cleaned; this many activity-log extents were marked out of sync.
    Applied {
        /// Extents marked.
        extents_marked: u64,
    },
}

/// `drbdmeta … invalidate` (v08): the disk counts as Inconsistent and is resynced completely:
/// `MDF_CONSISTENT` and `MDF_WAS_UP_TO_DATE` cleared, `MDF_FULL_SYNC` set, so the next attach
/// sets every bit of the bitmap (on-disk-metadata.md §4) and the next connection syncs the
/// whole device towards this node. drbdadm's fallback when the kernel cannot invalidate (the
/// disk is not attached). Only clean 8.4 meta data is changed: unclean meta data belongs to an
/// attached disk or needs `apply-al` first.
pub fn invalidate(target: &MetaTarget) -> Result<(), MetaError> {
    let mut meta = Dev::open(&target.meta)?;
    let layout_err = |err| MetaError::Layout {
        path: target.meta.clone(),
        err,
    };
    let md_sector = target
        .layout
        .checked_superblock_sector(meta.sectors)
        .map_err(layout_err)?;
    let mut block = [0u8; MD_BLOCK_SIZE];
    meta.read_at(md_sector, &mut block)?;
    match MdMagic::of_block(&block) {
        MdMagic::V08 => {}
        MdMagic::V84Unclean => {
            return Err(MetaError::Unclean {
                path: target.meta.clone(),
                why: "the meta data is in use or unclean; run apply-al (or detach) first".into(),
            })
        }
        _ => {
            return Err(MetaError::Unclean {
                path: target.meta.clone(),
                why: "no DRBD 8.4 meta data found; run create-md first".into(),
            })
        }
    }
    let mut sb = Superblock::decode_fields(&block);
    let geometry = sb
        .check_geometry(target.layout, meta.sectors)
        .map_err(layout_err)?;
    let regions = geometry
        .regions(meta.sectors)
        .map_err(|e| layout_err(MdError::BadOffsets(e)))?;
    sb.flags
        .remove(MdFlags::CONSISTENT.union(MdFlags::WAS_UP_TO_DATE));
    sb.flags.insert(MdFlags::FULL_SYNC);
    sb.encode(&mut block);
    meta.write_region(&regions, MdRegion::Superblock, md_sector, &block)?;
    meta.sync()
}

/// Make the meta data clean before an attach: replay the activity log into the bitmap (for
/// a node that was Primary) and mark the superblock clean, exactly as `drbdmeta apply-al`.
///
/// Nothing the superblock says is trusted before the module's own attach checks accepted it
/// ([`MdLayout::checked_superblock_sector`] before the superblock is read,
/// [`Superblock::check_geometry`] before anything it points to is): every later read and write
/// is bounded by the [`MdRegions`] those checks vouch for. The AL is read block by block, so
/// memory use does not grow with its size, and nothing is written before everything has been
/// read and planned.
pub fn apply_al(target: &MetaTarget) -> Result<AlOutcome, MetaError> {
    let mut meta = Dev::open(&target.meta)?;
    let layout_err = |err| MetaError::Layout {
        path: target.meta.clone(),
        err,
    };
    let unclean = |why: String| MetaError::Unclean {
        path: target.meta.clone(),
        why,
    };
    let md_sector = target
        .layout
        .checked_superblock_sector(meta.sectors)
        .map_err(layout_err)?;
    let mut block = [0u8; MD_BLOCK_SIZE];
    meta.read_at(md_sector, &mut block)?;
    if !matches!(
        MdMagic::of_block(&block),
        MdMagic::V08 | MdMagic::V84Unclean
    ) {
        return Err(unclean(
            "no DRBD 8.4 meta data found; run create-md first".into(),
        ));
    }
    let sb = Superblock::decode_fields(&block);
    let geometry = sb
        .check_geometry(target.layout, meta.sectors)
        .map_err(layout_err)?;
    let regions = geometry
        .regions(meta.sectors)
        .map_err(|e| layout_err(MdError::BadOffsets(e)))?;

    // drbdmeta clips the last agreed size to what the device can hold before planning; clip
    // it to what the on-disk bitmap covers, so that no extent maps beyond the bitmap area.
    // (The attach checks round that coverage down; the superblock keeps its value.)
    let mut planned = sb;
    planned.la_size_sect = sb
        .la_size_sect
        .min(regions.bitmap.sectors().saturating_mul(BM_SECT_PER_EXT));
    let mut slots = vec![0u32; AL_EXTENTS_MAX];
    let mut al = AlReader {
        dev: &mut meta,
        regions,
        blocks: geometry.al.size_4k(),
        buf: [0u8; MD_BLOCK_SIZE],
    };
    let plan = activity_log::plan_apply_al_from(&planned, &mut al, &mut slots)?
        .map_err(|e| unclean(e.to_string()))?;
    if !plan.writes_anything() {
        return Ok(AlOutcome::AlreadyClean);
    }
    let extents = plan.extents_to_mark();

    // Bitmap pages: read and marked first, written only when every one is in bounds. A last
    // partial page (an external bitmap area that is not a multiple of 4 KiB) is read and
    // written only up to the end of the area.
    let mut pages = Vec::new();
    for page in plan.bitmap_pages() {
        let at = page.checked_mul(u64::from(MD_4KB_SECT));
        let sectors = at.map_or(0, |at| {
            regions
                .bitmap
                .sectors()
                .saturating_sub(at)
                .min(u64::from(MD_4KB_SECT))
        });
        let sector = at
            .and_then(|at| at.checked_add(regions.bitmap.start))
            .unwrap_or(u64::MAX);
        if sectors == 0 {
            // Cannot happen with the clipped size; refuse rather than write past the area.
            return Err(MetaError::OutOfBounds {
                path: target.meta.clone(),
                what: "mark",
                sector,
                bytes: MD_BLOCK_SIZE as u64,
                limit: regions.bitmap,
                within: "the bitmap",
            });
        }
        let len = (sectors * 512) as usize; // 512 ..= 4096
        let mut buf = [0u8; MD_BLOCK_SIZE];
        meta.read_region(&regions, MdRegion::Bitmap, sector, &mut buf[..len])?;
        activity_log::mark_al_extents_in_page(page, &mut buf, extents);
        pages.push((sector, len, buf));
    }
    for (sector, len, buf) in &pages {
        meta.write_region(&regions, MdRegion::Bitmap, *sector, &buf[..*len])?;
    }
    if plan.reinitialize_al {
        meta.initialize_al(&regions)?;
    }
    if let Some(mut clean) = plan.superblock {
        clean.la_size_sect = sb.la_size_sect;
        clean.encode(&mut block);
        meta.write_region(&regions, MdRegion::Superblock, md_sector, &block)?;
    }
    meta.sync()?;
    Ok(AlOutcome::Applied {
        extents_marked: extents.len() as u64,
    })
}

/// The meta data of one volume as read for the drbdmeta-style queries: the superblock, where
/// it is (sector on the meta device) and the regions the checks vouch for.
struct ReadMeta {
    dev: Dev,
    md_sector: u64,
    sb: Superblock,
    regions: MdRegions,
    unclean: bool,
}

fn read_meta(target: &MetaTarget) -> Result<ReadMeta, MetaError> {
    let mut dev = Dev::open(&target.meta)?;
    let layout_err = |err| MetaError::Layout {
        path: target.meta.clone(),
        err,
    };
    let md_sector = target
        .layout
        .checked_superblock_sector(dev.sectors)
        .map_err(layout_err)?;
    let mut block = [0u8; MD_BLOCK_SIZE];
    dev.read_at(md_sector, &mut block)?;
    let unclean = match MdMagic::of_block(&block) {
        MdMagic::V08 => false,
        MdMagic::V84Unclean => true,
        _ => {
            return Err(MetaError::Unclean {
                path: target.meta.clone(),
                why: "No valid meta data found".into(),
            })
        }
    };
    let sb = Superblock::decode_fields(&block);
    let geometry = sb
        .check_geometry(target.layout, dev.sectors)
        .map_err(layout_err)?;
    let regions = geometry
        .regions(dev.sectors)
        .map_err(|e| layout_err(MdError::BadOffsets(e)))?;
    Ok(ReadMeta {
        dev,
        md_sector,
        sb,
        regions,
        unclean,
    })
}

/// The superblock of a volume's 8.4 meta data (clean or not), after the attach checks.
pub fn read_superblock(target: &MetaTarget) -> Result<Superblock, MetaError> {
    Ok(read_meta(target)?.sb)
}

/// Whether the volume has DRBD 8.4 meta data where its configuration says.
pub fn has_meta_data(target: &MetaTarget) -> Result<bool, MetaError> {
    match read_meta(target) {
        Ok(_) => Ok(true),
        Err(MetaError::Unclean { .. } | MetaError::Layout { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `drbdmeta … outdate` (v08): a Consistent disk loses `MDF_WAS_UP_TO_DATE` (it counts as
/// Outdated at the next attach); `Ok(false)` for an Inconsistent one, which drbdmeta refuses
/// ("Device is inconsistent.", exit 5). As drbdmeta, unclean meta data (a detach leaves it
/// so until the next apply-al) is changed too: only the flags, the magic stays.
pub fn outdate(target: &MetaTarget) -> Result<bool, MetaError> {
    let mut m = read_meta(target)?;
    if !m.sb.flags.contains(MdFlags::CONSISTENT) {
        return Ok(false);
    }
    let mut block = [0u8; MD_BLOCK_SIZE];
    m.dev.read_at(m.md_sector, &mut block)?;
    m.sb.flags.remove(MdFlags::WAS_UP_TO_DATE);
    m.sb.encode(&mut block);
    m.dev
        .write_region(&m.regions, MdRegion::Superblock, m.md_sector, &block)?;
    m.dev.sync()?;
    Ok(true)
}

/// `drbdmeta … wipe-md`: the superblock's 4 KiB block zeroed (the volume has no DRBD meta
/// data afterwards; the activity log and bitmap are left as they are, as drbdmeta does).
pub fn wipe_md(target: &MetaTarget) -> Result<(), MetaError> {
    let mut m = read_meta(target)?;
    let block = [0u8; MD_BLOCK_SIZE];
    m.dev
        .write_region(&m.regions, MdRegion::Superblock, m.md_sector, &block)?;
    m.dev.sync()
}

/// drbd-utils' `dt_print_uuids`: the four UUIDs and seven flag bits on one line (`get-gi`).
pub fn gi_line(uuids: &[u64; 4], flags: u32) -> String {
    let bit = |f: MdFlags| u8::from(flags & f.bits() != 0);
    format!(
        "{:016X}:{:016X}:{:016X}:{:016X}:{}:{}:{}:{}:{}:{}:{}\n",
        uuids[0],
        uuids[1],
        uuids[2],
        uuids[3],
        bit(MdFlags::CONSISTENT),
        bit(MdFlags::WAS_UP_TO_DATE),
        bit(MdFlags::PRIMARY_IND),
        bit(MdFlags::CONNECTED_IND),
        bit(MdFlags::FULL_SYNC),
        bit(MdFlags::PEER_OUT_DATED),
        bit(MdFlags::CRASHED_PRIMARY),
    )
}

/// drbd-utils' `dt_pretty_print_uuids` (v84): [`gi_line`] with its legend (`show-gi`).
pub fn gi_explained(uuids: &[u64; 4], flags: u32) -> String {
    let has = |f: MdFlags| flags & f.bits() != 0;
    let mut out = String::from(
        "\n       +--<  Current data generation UUID  >-\n       |               +--<  Bitmap's \
         base data generation UUID  >-\n       |               |                 +--<  younger \
         history UUID  >-\n       |               |                 |         +-<  older history  \
         >-\n       V               V                 V         V\n",
    );
    out.push_str(&gi_line(uuids, flags));
    out.push_str(concat!(
        "                                                                    ^ ^ ^ ^ ^ ^ ^\n",
        "                                      -<  Data consistency flag  >--+ | | | | | |\n",
        "                             -<  Data was/is currently up-to-date  >--+ | | | | |\n",
        "                                  -<  Node was/is currently primary  >--+ | | | |\n",
        "                                  -<  Node was/is currently connected  >--+ | | |\n",
        "         -<  Node was in the progress of setting all bits in the bitmap  >--+ | |\n",
        "                        -<  The peer's disk was out-dated or inconsistent  >--+ |\n",
        "      -<  This node was a crashed primary, and has not seen its peer since   >--+\n",
        "\n"
    ));
    let disk = if has(MdFlags::CONSISTENT) {
        if has(MdFlags::WAS_UP_TO_DATE) {
            "UpToDate"
        } else {
            "Outdated"
        }
    } else {
        "Inconsistent"
    };
    out.push_str(&format!(
        "flags:{} {}, {}, {}{}{}\n",
        if has(MdFlags::CRASHED_PRIMARY) {
            " crashed"
        } else {
            ""
        },
        if has(MdFlags::PRIMARY_IND) {
            "Primary"
        } else {
            "Secondary"
        },
        if has(MdFlags::CONNECTED_IND) {
            "Connected"
        } else {
            "StandAlone"
        },
        disk,
        if has(MdFlags::FULL_SYNC) {
            ", need full sync"
        } else {
            ""
        },
        if has(MdFlags::PEER_OUT_DATED) {
            ", peer Outdated"
        } else {
            ""
        },
    ));
    out.push_str(&format!(
        "meta-data: {}\n",
        if has(MdFlags::AL_CLEAN) {
            "clean"
        } else {
            "need apply-al"
        }
    ));
    out
}

/// drbd-utils' `ppsize`: KiB as `N KB`, `N MB`, ... (below 10000 of the unit, rounded).
pub fn ppsize(kib: u64) -> String {
    const UNITS: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    let mut size = kib;
    let mut base = 0;
    while size >= 10000 && base < UNITS.len() - 1 {
        size = (size >> 10) + u64::from(size & (1 << 9) != 0);
        base += 1;
    }
    format!("{} {}B", size as u32, UNITS[base])
}

/// `drbdmeta … get-gi` / `show-gi` of meta data on disk (`show-gi` adds the last agreed size).
pub fn gi_of_superblock(sb: &Superblock, show: bool) -> String {
    let uuids = sb.uuids.to_array();
    let flags = sb.flags.bits();
    if !show {
        return gi_line(&uuids, flags);
    }
    let mut out = gi_explained(&uuids, flags);
    if sb.la_size_sect > 0 {
        out.push_str(&format!(
            "last agreed size: {} ({} sectors)\nlast agreed max bio size: {} Byte\n",
            ppsize(sb.la_size_sect >> 1),
            sb.la_size_sect,
            sb.la_peer_max_bio_size
        ));
    } else {
        out.push_str("zero size device -- never seen peer yet?\n");
    }
    out
}

/// `drbdmeta … dump-md` of a detached volume's 8.4 meta data, from the `version` line on
/// (drbdmeta's first lines are a comment with the time, host and command line: `header`,
/// each line without its `# `). Unclean meta data is refused, as by drbdmeta without
/// `--force` ("apply-al first").
pub fn dump_md(target: &MetaTarget, header: &[String]) -> Result<String, MetaError> {
    let mut m = read_meta(target)?;
    if m.unclean || !m.sb.flags.contains(MdFlags::AL_CLEAN) {
        return Err(MetaError::Unclean {
            path: target.meta.clone(),
            why: "Found meta data is \"unclean\", please apply-al first".into(),
        });
    }
    let sb = m.sb;
    let mut out = String::new();
    if !header.is_empty() {
        out.push_str("# DRBD meta data dump\n");
        for line in header {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str("#\n\n");
    }
    let md_offset = m.md_sector * 512;
    let offset = |sectors: i32| (md_offset as i64 + i64::from(sectors) * 512) as u64;
    let u = sb.uuids.to_array();
    out.push_str(&format!(
        "version \"v08\";\n\n# md_size_sect {}\n# md_offset {md_offset}\n# al_offset {}\n\
         # bm_offset {}\n\nuuid {{\n    0x{:016X}; 0x{:016X}; 0x{:016X}; 0x{:016X};\n    \
         flags 0x{:08X};\n}}\n",
        sb.md_size_sect,
        offset(sb.al_offset),
        offset(sb.bm_offset),
        u[0],
        u[1],
        u[2],
        u[3],
        // drbdmeta prints the (v09) peer flags here, which v08 meta data does not have.
        0
    ));
    let (stripes, stripe_4k) = if sb.al_stripes == 0 && sb.al_stripe_size_4k == 0 {
        (1, 8)
    } else {
        (sb.al_stripes, sb.al_stripe_size_4k)
    };
    // The bitmap drbdmeta reads: what the last agreed size needs (64-bit words, whole 4 KiB
    // blocks), within what the bitmap area holds.
    let la = sb
        .la_size_sect
        .min(m.regions.bitmap.sectors().saturating_mul(BM_SECT_PER_EXT));
    let sectors_per_bit = u64::from(sb.bm_bytes_per_bit.max(4096) >> 9);
    let bits = la.div_ceil(sectors_per_bit).next_multiple_of(64);
    let bm_bytes = (bits / 8).next_multiple_of(MD_BLOCK_SIZE as u64);
    out.push_str(&format!(
        "# al-extents {};\nla-size-sect {};\nbm-byte-per-bit {};\ndevice-uuid 0x{:016X};\n\
         la-peer-max-bio-size {};\nal-stripes {stripes};\nal-stripe-size-4k {stripe_4k};\n\
         # bm-bytes {bm_bytes};\n",
        sb.al_nr_extents,
        sb.la_size_sect,
        sb.bm_bytes_per_bit,
        sb.device_uuid,
        sb.la_peer_max_bio_size as i32,
    ));
    let mut bm = vec![0u8; bm_bytes as usize];
    let start = m.regions.bitmap.start;
    let area = m.regions.bitmap.sectors().saturating_mul(512);
    for (k, chunk) in bm.chunks_mut(MD_BLOCK_SIZE).enumerate() {
        let at = k as u64 * MD_BLOCK_SIZE as u64;
        let len = area.saturating_sub(at).min(chunk.len() as u64) as usize;
        if len == 0 {
            break;
        }
        m.dev.read_region(
            &m.regions,
            MdRegion::Bitmap,
            start + k as u64 * u64::from(MD_4KB_SECT),
            &mut chunk[..len],
        )?;
    }
    let words: Vec<u32> = bm
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let (text, bits_set) = bitmap_text(&words);
    out.push_str("bm ");
    out.push_str(&text);
    out.push_str(&format!("# bits-set {bits_set};\n"));
    Ok(out)
}

/// drbdmeta's `fprintf_bm` for one peer: the bitmap as 64-bit words (high word first), eight
/// per line, a run of more than eight equal 32-bit words as `N times 0x…;`, a `# at NkB`
/// comment every 64 words; and the number of bits set.
fn bitmap_text(bm: &[u32]) -> (String, u64) {
    const WPL: usize = 8;
    let n = bm.len();
    let mut out = String::from("{");
    let eol = |out: &mut String, r: usize| {
        if r & 63 == 0 {
            out.push_str(&format!("\n   # at {}kB\n   ", 128 * r as u64));
        } else {
            out.push_str("\n   ");
        }
    };
    let mut bits_set = 0u64;
    let (mut i, mut count) = (0usize, 0usize);
    let mut cw = 0u32;
    let mut lw = 0u32;
    while i < n {
        if count == 0 {
            cw = bm[i];
        }
        if i % WPL == 0 {
            if count == 0 {
                eol(&mut out, i);
            }
            let mut j = i;
            while j < n && bm[j] == cw {
                j += 1;
            }
            let run = (j - i) / WPL * WPL;
            if run > WPL {
                count += run;
                i += run;
            }
            if count > 0 {
                out.push_str(&format!(" {} times 0x{cw:08X}{cw:08X};", count / 2));
                bits_set += count as u64 * u64::from(cw.count_ones());
                count = 0;
                continue;
            }
        }
        if i & 1 == 0 {
            lw = bm[i];
        } else {
            out.push_str(&format!(" 0x{:08X}{lw:08X};", bm[i]));
        }
        bits_set += u64::from(bm[i].count_ones());
        i += 1;
    }
    out.push_str("\n}\n");
    (out, bits_set)
}
