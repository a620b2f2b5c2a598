// SPDX-License-Identifier: GPL-2.0
//! Small kernel services: randomness.

use kernel::bindings;

/// 64 random bits from the kernel's CSPRNG (for generation UUIDs).
pub(crate) fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: writes exactly 8 bytes into `v`.
    unsafe { bindings::get_random_bytes((&mut v as *mut u64).cast(), core::mem::size_of::<u64>()) };
    v
}
