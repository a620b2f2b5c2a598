// SPDX-License-Identifier: GPL-2.0
//! Meta data, bitmap and state packing in kernel context: the same code the module runs on
//! attach and in its I/O path, built with the kernel's target and flags.

use kernel::prelude::*;

use crate::drbd_core::bitmap::{words_for_bits, Bitmap};
use crate::drbd_core::meta_data::{
    attach_check, AlGeometry, MdGeometry, MdLayout, Superblock, DRBD_MD_MAGIC_08, MD_BLOCK_SIZE,
};
use crate::drbd_core::state::{ConnState, DiskState, Role, State};

/// 64 MiB backing device, internal meta data (the VM tests' disk).
const BACKING_SECTORS: u64 = 131_072;

fn internal_geometry_of_64mib() {
    let g = MdGeometry::compute(
        MdLayout::Internal,
        BACKING_SECTORS,
        BACKING_SECTORS,
        AlGeometry::DEFAULT,
    );
    check!(g.is_ok());
    if let Ok(g) = g {
        // bitmap 8 + AL 64 + superblock 8 sectors at the end of the device.
        check_eq!(g.md_size_sect, 80);
        check_eq!(g.md_offset, BACKING_SECTORS - 8);
        check_eq!(g.al_offset, -64);
        check_eq!(g.bm_offset, -72);
        check_eq!(g.max_capacity(BACKING_SECTORS), 130_992);
    }
}

fn too_small_device_is_refused() {
    let g = MdGeometry::compute(MdLayout::Internal, 64, 64, AlGeometry::DEFAULT);
    check!(g.is_err());
}

fn superblock_round_trip_and_attach() {
    let Ok(g) = MdGeometry::compute(
        MdLayout::Internal,
        BACKING_SECTORS,
        BACKING_SECTORS,
        AlGeometry::DEFAULT,
    ) else {
        check!(false);
        return;
    };
    let sb = Superblock::create_md(&g);
    let Ok(mut block) = KBox::new([0u8; MD_BLOCK_SIZE], GFP_KERNEL) else {
        check!(false);
        return;
    };
    sb.encode(&mut block);
    // Big-endian magic at offset 60, as drbdmeta writes it.
    check_eq!(block[60..64], DRBD_MD_MAGIC_08.to_be_bytes());
    let decoded = Superblock::decode(&block);
    check!(decoded.is_ok());
    check!(decoded.ok() == Some(sb));
    let attached = attach_check(&block, MdLayout::Internal, BACKING_SECTORS);
    check!(attached.is_ok());
    // An unclean superblock is refused, as drbd.ko refuses it.
    let mut unclean = sb;
    unclean.mark_unclean();
    unclean.encode(&mut block);
    check!(attach_check(&block, MdLayout::Internal, BACKING_SECTORS).is_err());
}

fn garbage_superblock_is_refused() {
    let Ok(mut block) = KBox::new([0xa5u8; MD_BLOCK_SIZE], GFP_KERNEL) else {
        check!(false);
        return;
    };
    check!(attach_check(&block, MdLayout::Internal, BACKING_SECTORS).is_err());
    block.fill(0);
    check!(attach_check(&block, MdLayout::Internal, BACKING_SECTORS).is_err());
}

fn bitmap_counts_in_kernel_memory() {
    let bits = 16_374; // 130992 sectors / 8
    let Ok(mut words) = KVec::from_elem(0u64, words_for_bits(bits) as usize, GFP_KERNEL) else {
        check!(false);
        return;
    };
    // The kernel's `Vec` has no `AsMut<[u64]>`; the bitmap works on the borrowed slice.
    let Ok(mut bm) = Bitmap::new(words.as_mut_slice(), bits) else {
        check!(false);
        return;
    };
    check_eq!(bm.count(), 0);
    // A 4 KiB write at sector 8 dirties exactly bit 1; 12 KiB from sector 12 spans bits 1..=3.
    bm.set_out_of_sync(8, 8);
    check_eq!(bm.count(), 1);
    bm.set_out_of_sync(12, 24);
    check_eq!(bm.count(), 4);
    check_eq!(bm.set_all(), bits - 4);
    check_eq!(bm.count(), bits);
    bm.clear_all();
    check_eq!(bm.count(), 0);
}

fn state_word_round_trip() {
    let s = State {
        role: Role::Primary,
        conn: ConnState::StandAlone,
        disk: DiskState::UpToDate,
        ..State::UNCONFIGURED
    };
    check!(State::unpack(s.pack()).ok() == Some(s));
    check_eq!(s.disk.name(), "UpToDate");
}

kunit_suite!(
    MD_SUITE,
    "drbd_rs_core_meta_data",
    [
        internal_geometry_of_64mib,
        too_small_device_is_refused,
        superblock_round_trip_and_attach,
        garbage_superblock_is_refused
    ]
);
kunit_suite!(
    BITMAP_STATE_SUITE,
    "drbd_rs_core_bitmap_state",
    [bitmap_counts_in_kernel_memory, state_word_round_trip]
);
