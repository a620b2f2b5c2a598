// SPDX-License-Identifier: GPL-2.0
//! Small kernel services: randomness, sleeping, no-I/O allocation scopes.

use kernel::bindings;
use kernel::prelude::*;

/// 64 random bits from the kernel's CSPRNG (for generation UUIDs).
pub(crate) fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: writes exactly 8 bytes into `v`.
    unsafe { bindings::get_random_bytes((&mut v as *mut u64).cast(), core::mem::size_of::<u64>()) };
    v
}

/// A no-I/O allocation scope (see [`super::pagebuf::NoIoScope`]).
pub(crate) use super::pagebuf::NoIoScope as NoIo;

/// Sleep about `ms` milliseconds, interruptibly (kernel threads get no signals; an idle
/// thread must not count as uninterruptible). Process context only.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: called from process context (callers' contract); no other preconditions.
    unsafe { bindings::msleep_interruptible(ms) };
}

/// Let other runnable threads have the CPU if they are due (`cond_resched`): called once
/// per round by every loop of ours that may go round without sleeping. The kernel is built
/// without preemption, so on one CPU such a loop would otherwise starve the very threads it
/// waits for. Process context only.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context (callers' contract); no other preconditions.
    unsafe { super::ffi::drbd_rs_cond_resched() };
}

/// A zeroed `N`-byte block on the heap, built in place: `KBox::new([0u8; N])` would build the
/// array on the stack first, and the kernel stack (16 KiB without KASAN, which doubles it)
/// cannot hold a few of those on a deep call path such as attach from generic netlink.
pub(crate) fn zeroed_block<const N: usize>() -> Result<KBox<[u8; N]>> {
    KBox::init(kernel::init::zeroed(), GFP_KERNEL)
}
