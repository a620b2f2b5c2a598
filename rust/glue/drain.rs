// SPDX-License-Identifier: GPL-2.0
//! Draining operations in flight: a count of operations that use an object, tickets that
//! hold one count each, and a wait — without a time limit — until none is left.
//!
//! A bio completes in interrupt context, possibly after the admin side has decided to tear
//! its device down. Reference counting the device from the bio would let the last reference
//! drop in interrupt context, where nothing that sleeps (freeing a bio pool, closing a block
//! device) may run. Instead a [`Ticket`] borrows its owner, a [`Drained`] object, whose
//! destructor waits for every ticket to be gone. The last touch of a ticket is the decrement plus a
//! wake-up keyed by the counter's address only (`wake_up_var`, a global hashed wait queue),
//! so the owner may be freed as soon as the count reaches zero.

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use kernel::prelude::*;
use kernel::sync::ArcBorrow;

use super::ffi;

/// A `T` that operations in flight borrow through [`Ticket`]s, and the count of them.
///
/// # Invariants
///
/// `count` is the number of live tickets of this object. It lives in a kernel `Arc` whenever
/// a ticket exists (tickets are only made from an [`ArcBorrow`]), so it does not move, and
/// its destructor waits for the count to reach zero before `inner` is dropped.
#[pin_data(PinnedDrop)]
pub(crate) struct Drained<T> {
    count: AtomicU32,
    #[pin]
    inner: T,
}

// SAFETY: the counter is atomic; sharing a `Drained<T>` shares a `T`.
unsafe impl<T: Sync> Sync for Drained<T> {}
// SAFETY: as above; moving it moves a `T` (never while tickets exist: it is in an `Arc`).
unsafe impl<T: Send> Send for Drained<T> {}

impl<T> Drained<T> {
    /// `inner` with no operation in flight.
    pub(crate) fn new(inner: impl PinInit<T>) -> impl PinInit<Self> {
        pin_init!(Self {
            count: AtomicU32::new(0),
            inner <- inner,
        })
    }

    /// Sleep until no ticket is left, however long that takes (process context only).
    /// Tickets taken meanwhile are waited for too; callers first stop handing out new ones.
    pub(crate) fn wait_idle(&self) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        // SAFETY: `count` is a valid u32 for the whole call (we borrow `self`); the C side
        // only reads it and sleeps on its address.
        unsafe { ffi::drbd_rs_wait_var_zero(self.count.as_ptr()) };
        // Pairs with the release in `Ticket::drop`: what the operations did is visible now.
        fence(Ordering::Acquire);
    }

    /// Begin an operation on `this`; it ends when the ticket is dropped.
    pub(crate) fn enter(this: ArcBorrow<'_, Self>) -> Ticket<T> {
        this.count.fetch_add(1, Ordering::Relaxed);
        Ticket {
            owner: NonNull::from(&*this),
        }
    }
}

impl<T> core::ops::Deref for Drained<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Drained<T> {
    fn drop(self: Pin<&mut Self>) {
        // Owners normally wait themselves before they let go (detach, device removal); this
        // makes it a rule: `inner` outlives every ticket.
        self.wait_idle();
    }
}

/// One operation in flight on a `T`; dereferences to it and ends the operation when dropped.
///
/// # Invariants
///
/// `owner` points to a live `Drained<T>` whose count includes this ticket; it stays alive and
/// in place until the ticket is dropped (see [`Drained`]).
pub(crate) struct Ticket<T> {
    owner: NonNull<Drained<T>>,
}

// SAFETY: a ticket only gives shared access to a `T: Sync`, and may be dropped anywhere (the
// decrement and wake-up are interrupt-safe).
unsafe impl<T: Sync> Send for Ticket<T> {}

impl<T> core::ops::Deref for Ticket<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: alive while this ticket exists (type invariant).
        unsafe { &self.owner.as_ref().inner }
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        // SAFETY: the owner is alive until the decrement below lets `wait_idle` return.
        let count: *const AtomicU32 = unsafe { &self.owner.as_ref().count };
        // SAFETY: as above; the counter is not touched after the decrement.
        let left = unsafe { &*count }.fetch_sub(1, Ordering::Release) - 1;
        if left == 0 {
            // wake_up_var() needs a full barrier between the condition and the wake-up.
            fence(Ordering::SeqCst);
            // SAFETY: only the address is used, as the key of a global wait queue; the
            // owner may already be gone.
            unsafe { ffi::drbd_rs_wake_var(count.cast_mut().cast()) };
        }
    }
}
