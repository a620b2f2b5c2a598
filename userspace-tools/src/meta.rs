//! Meta data on lower devices, from user space: `create-md`, and the `apply-al` step that
//! makes meta data clean again before an attach (the kernel, like drbd.ko, leaves it
//! "unclean" while attached and refuses unclean meta data).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use drbd_core::activity_log;
use drbd_core::meta_data::{
    AlGeometry, MdError, MdGeometry, MdLayout, MdMagic, Superblock, MD_BLOCK_SIZE,
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
            MetaError::Layout { path, err } => write!(f, "{}: {err}", path.display()),
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

/// An open device (or image file) with block I/O in 4 KiB units.
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

    fn read_at(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), MetaError> {
        self.file
            .seek(SeekFrom::Start(sector * 512))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(io_err(&self.path, "read failed"))
    }

    fn write_at(&mut self, sector: u64, buf: &[u8]) -> Result<(), MetaError> {
        self.file
            .seek(SeekFrom::Start(sector * 512))
            .and_then(|_| self.file.write_all(buf))
            .map_err(io_err(&self.path, "write failed"))
    }

    /// Every activity-log slot initialized, as drbdmeta writes it.
    fn initialize_al(&mut self, geometry: &MdGeometry) -> Result<(), MetaError> {
        let mut slot = [0u8; MD_BLOCK_SIZE];
        activity_log::encode_initialized_slot(&mut slot);
        for i in 0..geometry.al.size_4k() {
            self.write_at(geometry.al_sector() + i * 8, &slot)?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MetaError> {
        self.file
            .sync_all()
            .map_err(io_err(&self.path, "sync failed"))
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

    if !force {
        let mut block = [0u8; MD_BLOCK_SIZE];
        meta.read_at(geometry.md_offset, &mut block)?;
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
        let n = head.len().min((meta.sectors * 512) as usize);
        meta.read_at(
            if internal { 0 } else { geometry.md_offset },
            &mut head[..n],
        )?;
        if let Some(found) = probe_signature(&head[..n]) {
            return Err(MetaError::WouldDestroy {
                path: target.meta.clone(),
                found: format!("contains {found}"),
            });
        }
    }

    meta.initialize_al(&geometry)?;
    // Bitmap: all clear (nothing to resync against a peer that has never been seen).
    let zero = vec![0u8; 1 << 20];
    let mut left = geometry.bitmap_area_sectors() * 512;
    let mut sector = geometry.bm_sector();
    while left > 0 {
        let n = left.min(zero.len() as u64);
        meta.write_at(sector, &zero[..n as usize])?;
        sector += n / 512;
        left -= n;
    }
    let mut sb = Superblock::create_md(&geometry);
    sb.device_uuid = random_u64().map_err(io_err(Path::new("/dev/urandom"), "read failed"))?;
    let mut block = [0u8; MD_BLOCK_SIZE];
    sb.encode(&mut block);
    meta.write_at(geometry.md_offset, &block)?;
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

/// Make the meta data clean before an attach: replay the activity log into the bitmap (for
/// a node that was Primary) and mark the superblock clean, exactly as `drbdmeta apply-al`.
pub fn apply_al(target: &MetaTarget) -> Result<AlOutcome, MetaError> {
    let mut meta = Dev::open(&target.meta)?;
    let md_sector = target.layout.superblock_sector(meta.sectors);
    let mut block = [0u8; MD_BLOCK_SIZE];
    meta.read_at(md_sector, &mut block)?;
    let sb = Superblock::decode_fields(&block);
    let unclean = |why: String| MetaError::Unclean {
        path: target.meta.clone(),
        why,
    };
    if !matches!(
        MdMagic::of_block(&block),
        MdMagic::V08 | MdMagic::V84Unclean
    ) {
        return Err(unclean(
            "no DRBD 8.4 meta data found; run create-md first".into(),
        ));
    }
    let al = sb.al_geometry().map_err(|err| MetaError::Layout {
        path: target.meta.clone(),
        err,
    })?;
    let geometry = MdGeometry {
        layout: target.layout,
        md_offset: md_sector,
        md_size_sect: sb.md_size_sect,
        al_offset: sb.al_offset,
        bm_offset: sb.bm_offset,
        al,
    };
    let mut blocks = vec![[0u8; MD_BLOCK_SIZE]; al.size_4k() as usize];
    for (i, b) in blocks.iter_mut().enumerate() {
        meta.read_at(geometry.al_sector() + i as u64 * 8, b)?;
    }
    let mut slots = vec![0u32; activity_log::AL_EXTENTS_MAX];
    let plan = activity_log::plan_apply_al(&sb, &blocks, &mut slots)
        .map_err(|e| unclean(e.to_string()))?;
    if !plan.writes_anything() {
        return Ok(AlOutcome::AlreadyClean);
    }
    let extents = plan.extents_to_mark();
    for page in plan.bitmap_pages() {
        let sector = geometry.bm_sector() + page * 8;
        let mut buf = [0u8; MD_BLOCK_SIZE];
        meta.read_at(sector, &mut buf)?;
        activity_log::mark_al_extents_in_page(page, &mut buf, extents);
        meta.write_at(sector, &buf)?;
    }
    if plan.reinitialize_al {
        meta.initialize_al(&geometry)?;
    }
    if let Some(clean) = plan.superblock {
        clean.encode(&mut block);
        meta.write_at(md_sector, &block)?;
    }
    meta.sync()?;
    Ok(AlOutcome::Applied {
        extents_marked: extents.len() as u64,
    })
}
