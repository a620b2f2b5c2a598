//! `create-md`, `apply-al` and the offline `invalidate` on image files with crafted superblocks: on-disk geometry is
//! validated with the module's attach checks before any read or write it points to, every
//! access stays on the device, and a refused image is left exactly as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use drbd_core::activity_log::{
    self, encode_initialized_slot, encode_update_transaction, AlUpdate, AlUpdateTransaction,
    AL_EXTENTS_MAX,
};
use drbd_core::meta_data::{
    AlGeometry, AttachDisk, MdError, MdFlags, MdGeometry, MdLayout, OffsetError, Superblock,
    DRBD_MD_MAGIC_84_UNCLEAN, MD_BLOCK_SIZE,
};
use drbd_core::uuid::UuidSet;
use drbd_rs_tools::meta::{self, AlOutcome, MetaError, MetaTarget};
use proptest::prelude::*;

/// A sparse image file, removed when dropped.
struct Image {
    path: PathBuf,
}

impl Image {
    fn new(bytes: u64) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "drbd_rs-meta-geometry-{}-{}.img",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let f = File::create(&path).unwrap();
        f.set_len(bytes).unwrap();
        Self { path }
    }

    fn write_at(&self, sector: u64, data: &[u8]) {
        let mut f = OpenOptions::new().write(true).open(&self.path).unwrap();
        f.seek(SeekFrom::Start(sector * 512)).unwrap();
        f.write_all(data).unwrap();
    }

    fn read_at(&self, sector: u64, len: usize) -> Vec<u8> {
        let mut f = File::open(&self.path).unwrap();
        f.seek(SeekFrom::Start(sector * 512)).unwrap();
        let mut v = vec![0u8; len];
        f.read_exact(&mut v).unwrap();
        v
    }

    fn contents(&self) -> Vec<u8> {
        fs::read(&self.path).unwrap()
    }

    fn write_superblock(&self, sector: u64, sb: &Superblock) {
        let mut b = [0u8; MD_BLOCK_SIZE];
        sb.encode(&mut b);
        self.write_at(sector, &b);
    }

    fn target(&self, layout: MdLayout) -> MetaTarget {
        MetaTarget {
            lower: self.path.clone(),
            meta: self.path.clone(),
            layout,
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn initialized() -> [u8; MD_BLOCK_SIZE] {
    let mut b = [0u8; MD_BLOCK_SIZE];
    encode_initialized_slot(&mut b);
    b
}

/// An AL update transaction putting `extents[i]` into slot `i` (its empty context frees the
/// other slots below 61).
fn update_block(tr_number: u32, extents: &[u32]) -> [u8; MD_BLOCK_SIZE] {
    let updates: Vec<AlUpdate> = extents
        .iter()
        .enumerate()
        .map(|(i, &extent)| AlUpdate {
            slot: i as u16,
            extent,
        })
        .collect();
    let mut b = [0u8; MD_BLOCK_SIZE];
    encode_update_transaction(
        &mut b,
        &AlUpdateTransaction {
            tr_number,
            context_size: 61,
            context_start_slot_nr: 0,
            updates: &updates,
            context: &[],
        },
    )
    .unwrap();
    b
}

/// An unclean superblock of a crashed primary for `geometry`.
fn crashed_primary(geometry: &MdGeometry, la_size_sect: u64) -> Superblock {
    let mut sb = Superblock::create_md(geometry);
    sb.la_size_sect = la_size_sect;
    sb.flags = MdFlags::PRIMARY_IND | MdFlags::CONSISTENT;
    sb.mark_unclean();
    sb
}

/// Runs apply-al on an image that must be refused: the error (with its message), and the
/// image unchanged.
fn refused(img: &Image, layout: MdLayout) -> (MetaError, String) {
    let before = img.contents();
    let err = meta::apply_al(&img.target(layout)).expect_err("must be refused");
    assert!(
        img.contents() == before,
        "image modified by a refused apply-al"
    );
    let msg = err.to_string();
    assert!(!msg.is_empty());
    (err, msg)
}

fn offsets_err(e: &MetaError) -> OffsetError {
    match e {
        MetaError::Layout {
            err: MdError::BadOffsets(o),
            ..
        } => *o,
        other => panic!("expected an offsets error, got {other:?}"),
    }
}

const MIB: u64 = 1 << 20;

#[test]
fn internal_meta_data_on_a_device_under_4k_is_refused() {
    for bytes in [0, 1, 511, 512, 4000, 4095, 4096, 4097, 8191, MIB - 512] {
        let img = Image::new(bytes);
        if bytes >= 64 {
            // Something that looks like meta data where a wrapped sector would point.
            img.write_at(0, &[0x83, 0x74, 0x02, 0x6c]);
        }
        let (e, msg) = refused(&img, MdLayout::Internal);
        assert!(
            matches!(
                e,
                MetaError::Layout {
                    err: MdError::MetaDeviceTooSmall { need_sectors: 2048, have_sectors },
                    ..
                } if have_sectors == bytes / 512
            ),
            "{bytes} bytes: {e:?}"
        );
        assert!(msg.starts_with("meta data on "), "{msg}");
        assert!(msg.contains("meta-data device too small"), "{msg}");
        // create-md refuses it the same way.
        let before = img.contents();
        let e = meta::create_md(&img.target(MdLayout::Internal), true).unwrap_err();
        assert!(matches!(
            e,
            MetaError::Layout {
                err: MdError::MetaDeviceTooSmall { .. },
                ..
            }
        ));
        assert!(img.contents() == before);
    }
    // An indexed slot that is not on the device.
    let img = Image::new(MIB);
    let (e, _) = refused(&img, MdLayout::Indexed(3));
    assert!(matches!(
        e,
        MetaError::Layout {
            err: MdError::MetaDeviceTooSmall {
                need_sectors: 1_048_576,
                ..
            },
            ..
        }
    ));
}

#[test]
fn negative_al_offset_of_external_meta_data_is_refused() {
    // A flexible external superblock with internal-style (negative) offsets passes every
    // test of the kernel's check_offsets_and_sizes; its AL would be at sector -64.
    let img = Image::new(MIB);
    let g = MdGeometry::compute(
        MdLayout::FlexExternal,
        MIB / 512,
        MIB / 512,
        AlGeometry::DEFAULT,
    )
    .unwrap();
    let mut sb = crashed_primary(&g, 0);
    sb.al_offset = -64;
    sb.bm_offset = -128;
    img.write_superblock(0, &sb);
    img.write_at(8, &update_block(1, &[3]));
    let (e, msg) = refused(&img, MdLayout::FlexExternal);
    assert!(
        matches!(
            offsets_err(&e),
            OffsetError::RegionOutsideDevice {
                offset: -64,
                md_offset: 0,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("activity log at offset -64 from the superblock at sector 0"),
        "{msg}"
    );
    assert!(
        msg.contains("lies before the start of the meta device"),
        "{msg}"
    );

    // Negative bitmap offset only.
    let mut sb = crashed_primary(&g, 0);
    sb.bm_offset = -8;
    img.write_superblock(0, &sb);
    let (e, _) = refused(&img, MdLayout::FlexExternal);
    assert_eq!(offsets_err(&e), OffsetError::AlAreaMisaligned);
}

#[test]
fn extreme_offsets_of_internal_meta_data_are_refused() {
    let n = 2 * MIB / 512;
    let g = MdGeometry::compute(MdLayout::Internal, n, n, AlGeometry::DEFAULT).unwrap();
    let cases: [(i32, i32, u32); 8] = [
        (i32::MIN, i32::MIN, 0),
        (-64, i32::MIN, 136),
        (-64, i32::MIN + 64, u32::MAX),
        (i32::MIN, -64, 136),
        (-64, -(n as i32) - 64, 136),
        (-64, -(n as i32), 0),
        (i32::MAX, i32::MAX, u32::MAX),
        (8, i32::MAX, u32::MAX),
    ];
    for (al_offset, bm_offset, md_size_sect) in cases {
        let img = Image::new(n * 512);
        let mut sb = crashed_primary(&g, 0);
        sb.al_offset = al_offset;
        sb.bm_offset = bm_offset;
        sb.md_size_sect = md_size_sect;
        img.write_superblock(g.md_offset, &sb);
        let (e, msg) = refused(&img, MdLayout::Internal);
        offsets_err(&e);
        assert!(msg.contains("meta data offsets don't make sense"), "{msg}");
    }
}

#[test]
fn huge_activity_log_is_refused_before_anything_is_allocated() {
    // 1024 stripes × 16 MiB = 16 GiB of AL: accepted by AlGeometry::new, but not on a 1 MiB
    // device (the tool used to allocate it all before reading).
    let (stripes, size4k) = (1024, 4096);
    let al_sect = stripes as u64 * size4k as u64 * 8;

    // Internal: the AL area between bitmap and superblock is 64 sectors, not 16 GiB.
    let n = MIB / 512;
    let img = Image::new(MIB);
    let g = MdGeometry::compute(MdLayout::Internal, n, n, AlGeometry::DEFAULT).unwrap();
    let mut sb = crashed_primary(&g, 0);
    sb.al_stripes = stripes;
    sb.al_stripe_size_4k = size4k;
    img.write_superblock(g.md_offset, &sb);
    let (e, _) = refused(&img, MdLayout::Internal);
    assert_eq!(offsets_err(&e), OffsetError::AlAreaSizeMismatch);

    // Internal with offsets that match the huge AL: the area does not fit on the device.
    sb.al_offset = -(al_sect as i32);
    sb.bm_offset = sb.al_offset - 8;
    sb.md_size_sect = (al_sect + 16) as u32;
    img.write_superblock(g.md_offset, &sb);
    let (e, _) = refused(&img, MdLayout::Internal);
    offsets_err(&e);

    // Flexible external with consistent offsets and a small md_size_sect: the kernel's
    // checks take the negative bitmap size for a huge one; the region checks refuse it.
    let img = Image::new(MIB);
    let g = MdGeometry::compute(MdLayout::FlexExternal, n, n, AlGeometry::DEFAULT).unwrap();
    let mut sb = crashed_primary(&g, 0);
    sb.al_stripes = stripes;
    sb.al_stripe_size_4k = size4k;
    sb.bm_offset = 8 + al_sect as i32;
    img.write_superblock(0, &sb);
    let (e, msg) = refused(&img, MdLayout::FlexExternal);
    assert_eq!(
        offsets_err(&e),
        OffsetError::BitmapBeyondMdArea {
            bm_offset: 8 + al_sect as i32,
            md_size_sect: 2048
        }
    );
    assert!(
        msg.contains("beyond the end of the meta-data area"),
        "{msg}"
    );

    // ... and with md_size_sect claiming the whole AL: larger than the device.
    sb.md_size_sect = (al_sect + 8 + 8) as u32;
    img.write_superblock(0, &sb);
    let (e, _) = refused(&img, MdLayout::FlexExternal);
    assert_eq!(offsets_err(&e), OffsetError::LargerThanDevice);
}

/// What the in-memory plan of the core does to a copy of the image (the reference the tool's
/// block-by-block apply-al must match).
fn expected_after_apply(img: &Image, g: &MdGeometry) -> Vec<u8> {
    let mut bytes = img.contents();
    let sb_at = (g.md_offset * 512) as usize;
    let sb = Superblock::decode_fields(bytes[sb_at..sb_at + 4096].try_into().unwrap());
    let al_at = (g.al_sector() * 512) as usize;
    let blocks: Vec<[u8; 4096]> = bytes[al_at..al_at + g.al.size_4k() as usize * 4096]
        .chunks(4096)
        .map(|c| c.try_into().unwrap())
        .collect();
    let mut slots = vec![0u32; AL_EXTENTS_MAX];
    let plan = activity_log::plan_apply_al(&sb, &blocks, &mut slots).unwrap();
    let bm_at = (g.bm_sector() * 512) as usize;
    for p in plan.bitmap_pages() {
        let at = bm_at + p as usize * 4096;
        let page: &mut [u8; 4096] = (&mut bytes[at..at + 4096]).try_into().unwrap();
        activity_log::mark_al_extents_in_page(p, page, plan.extents_to_mark());
    }
    if plan.reinitialize_al {
        for c in bytes[al_at..al_at + blocks.len() * 4096].chunks_mut(4096) {
            c.copy_from_slice(&initialized());
        }
    }
    if let Some(s) = plan.superblock {
        let mut b = [0u8; 4096];
        s.encode(&mut b);
        bytes[sb_at..sb_at + 4096].copy_from_slice(&b);
    }
    bytes
}

#[test]
fn create_md_then_apply_al_internal() {
    let n = 4 * MIB / 512;
    let img = Image::new(n * 512);
    let created = meta::create_md(&img.target(MdLayout::Internal), false).unwrap();
    let g = created.geometry;
    assert_eq!(
        g,
        MdGeometry::compute(MdLayout::Internal, n, n, AlGeometry::DEFAULT).unwrap()
    );
    assert_eq!(
        meta::apply_al(&img.target(MdLayout::Internal)).unwrap(),
        AlOutcome::AlreadyClean
    );
    // A crashed primary with two transactions in the log.
    let sb = crashed_primary(&g, created.capacity);
    img.write_superblock(g.md_offset, &sb);
    img.write_at(g.al_sector(), &update_block(7, &[0]));
    img.write_at(g.al_sector() + 8, &update_block(8, &[0, 1]));
    let want = expected_after_apply(&img, &g);
    assert_eq!(
        meta::apply_al(&img.target(MdLayout::Internal)).unwrap(),
        AlOutcome::Applied { extents_marked: 2 }
    );
    assert!(img.contents() == want);
    let bm = img.read_at(g.bm_sector(), 512);
    assert!(bm[..256].iter().all(|&b| b == 0xff) && bm[256..].iter().all(|&b| b == 0));
    assert_eq!(
        meta::apply_al(&img.target(MdLayout::Internal)).unwrap(),
        AlOutcome::AlreadyClean
    );
}

#[test]
fn striped_external_al_is_read_block_by_block() {
    // 4 stripes × 4 blocks on a flexible external meta device: the ring order differs from
    // the on-disk order.
    let m = 2 * MIB / 512;
    let img = Image::new(m * 512);
    let al = AlGeometry::new(4, 4).unwrap();
    let g = MdGeometry::compute(MdLayout::FlexExternal, 1 << 30, m, al).unwrap();
    let sb = crashed_primary(&g, 1 << 24);
    img.write_superblock(0, &sb);
    for b in 0..16 {
        img.write_at(g.al_sector() + 8 * b, &initialized());
    }
    for tr in 0u32..5 {
        let block = activity_log::al_ring_block(al, u64::from(tr));
        // Each transaction's (empty) context frees the slots it does not update: the newest
        // one decides.
        let extents: Vec<u32> = (0..=tr).map(|i| i * 40).collect();
        img.write_at(g.al_sector() + 8 * block, &update_block(100 + tr, &extents));
    }
    let want = expected_after_apply(&img, &g);
    assert!(matches!(
        meta::apply_al(&img.target(MdLayout::FlexExternal)).unwrap(),
        AlOutcome::Applied { extents_marked: 5 }
    ));
    assert!(img.contents() == want);
}

#[test]
fn partial_last_bitmap_page_stays_on_the_device() {
    // External meta data whose bitmap area (md_size − 72 = 2028 sectors) ends 4 sectors into
    // its last 4 KiB page, at the end of the device. Extents on that page are marked in the
    // part that exists; nothing is written past the end of the device.
    let m = 2100u64;
    let img = Image::new(m * 512);
    let g = MdGeometry::compute(MdLayout::FlexExternal, 1 << 40, m, AlGeometry::DEFAULT).unwrap();
    assert_eq!(g.bitmap_area_sectors(), 2028);
    let covered = 2028 * 32768;
    let sb = crashed_primary(&g, covered);
    img.write_superblock(0, &sb);
    for b in 0..8 {
        img.write_at(8 + 8 * b, &initialized());
    }
    // 8100: bytes 1 036 800.. of the bitmap (inside); 8120: past the area's end but inside
    // the 4 KiB-rounded size drbdmeta computes.
    img.write_at(8, &update_block(1, &[8100, 8120]));
    let len = img.contents().len();
    meta::apply_al(&img.target(MdLayout::FlexExternal)).unwrap();
    let after = img.contents();
    assert_eq!(after.len(), len, "written past the end of the device");
    let bm = 72 * 512;
    assert!(after[bm + 1_036_800..bm + 1_036_928]
        .iter()
        .all(|&b| b == 0xff));
    assert!(after[bm + 1_036_928..].iter().all(|&b| b == 0));
    // The superblock keeps its size; clean now.
    let sb_after = Superblock::decode(img.read_at(0, 4096)[..].try_into().unwrap()).unwrap();
    assert_eq!(sb_after.la_size_sect, covered);
    assert!(sb_after.is_clean());
}

#[test]
fn last_agreed_size_beyond_the_bitmap_is_clipped() {
    // The kernel's test rounds the bitmap coverage down: la_size_sect up to 32760 sectors
    // beyond what the 8-sector bitmap of a 1 MiB device covers passes, and drbdmeta's
    // rounding then reaches a second bitmap page, which is the activity log.
    let n = MIB / 512;
    let img = Image::new(MIB);
    meta::create_md(&img.target(MdLayout::Internal), false).unwrap();
    let g = MdGeometry::compute(MdLayout::Internal, n, n, AlGeometry::DEFAULT).unwrap();
    let la = 9 * 32768 - 8;
    let sb = crashed_primary(&g, la);
    assert!(sb.check_geometry(MdLayout::Internal, n).is_ok());
    img.write_superblock(g.md_offset, &sb);
    img.write_at(g.al_sector(), &update_block(1, &[5, 33]));
    meta::apply_al(&img.target(MdLayout::Internal)).unwrap();
    let bm = img.read_at(g.bm_sector(), 4096);
    assert!(bm[640..768].iter().all(|&b| b == 0xff));
    assert_eq!(bm.iter().filter(|&&b| b != 0).count(), 128);
    // The AL is initialized, not marked.
    assert!(img.read_at(g.al_sector(), 4096) == initialized());
    let sb_after =
        Superblock::decode(img.read_at(g.md_offset, 4096)[..].try_into().unwrap()).unwrap();
    assert_eq!(sb_after.la_size_sect, la);
}

#[test]
fn apply_al_on_foreign_data_is_refused() {
    let img = Image::new(MIB);
    let (e, msg) = refused(&img, MdLayout::Internal);
    assert!(matches!(e, MetaError::Unclean { .. }), "{e:?}");
    assert!(msg.contains("run create-md first"), "{msg}");
}

// ---- properties ----------------------------------------------------------------------------

fn interesting_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            8,
            72,
            -8,
            -64,
            -72,
            -128,
            -136,
            -2048,
            2040,
            i32::MIN,
            i32::MAX,
        ]),
        -4096i32..4096,
        any::<i32>(),
    ]
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            8,
            72,
            80,
            136,
            1024,
            2048,
            4096,
            4_194_304,
            u32::MAX
        ]),
        0u32..5000,
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// Whatever the superblock says, apply-al neither panics nor writes outside the device;
    /// a refused image is unchanged.
    #[test]
    fn crafted_superblocks_never_escape_the_device(
        extra in 0u64..24,
        internal in any::<bool>(),
        unclean in any::<bool>(),
        flags in any::<u32>(),
        la in prop_oneof![Just(0u64), 0u64..(1 << 24), any::<u64>()],
        md_size in interesting_u32(),
        al_offset in interesting_i32(),
        bm_offset in interesting_i32(),
        stripes in interesting_u32(),
        stripe_size in interesting_u32(),
        bpb in prop_oneof![Just(4096u32), any::<u32>()],
        al_nr in any::<u32>(),
        extents in prop::collection::vec(any::<u32>(), 0..8),
        al_fill in 0u8..3,
    ) {
        let sectors = 2048 + extra;
        let img = Image::new(sectors * 512);
        let layout = if internal { MdLayout::Internal } else { MdLayout::FlexExternal };
        let md_at = layout.superblock_sector(sectors);
        let sb = Superblock {
            la_size_sect: la,
            uuids: UuidSet::from_array([4, 0, 0, 0]),
            device_uuid: 0,
            flags: MdFlags::from_bits_retain(flags),
            magic: if unclean { DRBD_MD_MAGIC_84_UNCLEAN } else { drbd_core::meta_data::DRBD_MD_MAGIC_08 },
            md_size_sect: md_size,
            al_offset,
            al_nr_extents: al_nr,
            bm_offset,
            bm_bytes_per_bit: bpb,
            la_peer_max_bio_size: 0,
            al_stripes: stripes,
            al_stripe_size_4k: stripe_size,
        };
        img.write_superblock(md_at, &sb);
        // Something AL-like wherever the (default) AL would be.
        let al_at = if internal { md_at - 64 } else { 8 };
        match al_fill {
            0 => {}
            1 => img.write_at(al_at, &update_block(9, &extents)),
            _ => {
                for b in 0..8 {
                    img.write_at(al_at + 8 * b, &initialized());
                }
                img.write_at(al_at + 8, &update_block(3, &extents));
            }
        }
        let before = img.contents();
        let r = meta::apply_al(&img.target(layout));
        let after = img.contents();
        prop_assert_eq!(after.len(), before.len());
        match r {
            Err(e) => {
                prop_assert!(after == before, "refused but modified: {}", e);
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(_) => {
                // Accepted geometry: the module's own checks accept it too.
                let mut clean = sb;
                clean.mark_clean();
                prop_assert!(clean.check_attach(layout, sectors).is_ok());
            }
        }
    }
}

#[test]
fn offline_invalidate_marks_the_disk_for_a_full_sync() {
    let n = 4 * MIB / 512;
    let img = Image::new(n * 512);
    let created = meta::create_md(&img.target(MdLayout::Internal), false).unwrap();
    let g = created.geometry;
    // An UpToDate disk, clean (detached).
    let mut sb =
        Superblock::decode_fields(&img.read_at(g.md_offset, MD_BLOCK_SIZE).try_into().unwrap());
    sb.flags
        .insert(MdFlags::CONSISTENT.union(MdFlags::WAS_UP_TO_DATE));
    img.write_superblock(g.md_offset, &sb);
    let before = sb.flags.on_attach(true, false);
    assert_eq!(before.disk, AttachDisk::UpToDate);
    assert!(!before.full_sync);

    meta::invalidate(&img.target(MdLayout::Internal)).unwrap();
    let after =
        Superblock::decode_fields(&img.read_at(g.md_offset, MD_BLOCK_SIZE).try_into().unwrap());
    // drbdmeta's v08 invalidate: consistent and was-up-to-date gone, full sync set.
    assert!(!after
        .flags
        .intersects(MdFlags::CONSISTENT.union(MdFlags::WAS_UP_TO_DATE)));
    assert!(after.flags.contains(MdFlags::FULL_SYNC));
    assert!(after.flags.contains(MdFlags::AL_CLEAN), "still clean");
    assert_eq!(
        (after.uuids, after.la_size_sect),
        (sb.uuids, sb.la_size_sect)
    );
    // What the next attach makes of it: Inconsistent, every bit set.
    let attach = after.flags.on_attach(true, false);
    assert_eq!(attach.disk, AttachDisk::Inconsistent);
    assert!(attach.full_sync);
}

#[test]
fn offline_invalidate_refuses_meta_data_in_use_or_missing() {
    let n = 4 * MIB / 512;
    let img = Image::new(n * 512);
    let created = meta::create_md(&img.target(MdLayout::Internal), false).unwrap();
    let g = created.geometry;
    // Unclean (attached, or a crash not yet applied): left alone.
    img.write_superblock(g.md_offset, &crashed_primary(&g, created.capacity));
    let before = img.contents();
    let err = meta::invalidate(&img.target(MdLayout::Internal)).unwrap_err();
    assert!(err.to_string().contains("apply-al"), "{err}");
    assert!(img.contents() == before);
    // No meta data at all.
    let empty = Image::new(n * 512);
    let err = meta::invalidate(&empty.target(MdLayout::Internal)).unwrap_err();
    assert!(err.to_string().contains("create-md"), "{err}");
    assert!(empty.contents().iter().all(|&b| b == 0));
}
