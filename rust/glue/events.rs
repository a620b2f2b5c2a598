// SPDX-License-Identifier: GPL-2.0
//! Handing work from any context — bio completions in interrupt context included — to a
//! kernel thread: a [`Wakeup`] the thread sleeps on, and an [`EventList`] of preallocated
//! [`Event`]s. 6.12's Rust has no irq-safe lock and no `wait_event()`; the kernel's lock-less
//! list (`llist`) and wait queues provide both, through `event_helpers.c`.
//!
//! Allocation happens where sleeping is allowed ([`Event::new`], at submission); the completion
//! only fills in the event and pushes it, which never fails and never allocates.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use super::ffi;

/// A thread's alarm clock: [`Wakeup::wait`] sleeps until [`Wakeup::kick`] (from any context)
/// or a timeout. A kick that comes before the wait is not lost: the wait returns at once.
///
/// # Invariants
///
/// `raw` is a live `struct drbd_rs_wakeup` we allocated and free on drop.
pub(crate) struct Wakeup {
    raw: NonNull<ffi::WakeupRaw>,
}

// SAFETY: the wait queue and the atomic flag are designed for use from any context.
unsafe impl Send for Wakeup {}
// SAFETY: as above; every operation is internally synchronized.
unsafe impl Sync for Wakeup {}

impl Wakeup {
    /// A wakeup nobody has kicked yet.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions.
        let raw = unsafe { ffi::drbd_rs_wakeup_new() };
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }

    /// Wake the waiter (or make its next wait return at once). Any context.
    pub(crate) fn kick(&self) {
        // SAFETY: live (type invariant); the helper is irq-safe.
        unsafe { ffi::drbd_rs_wakeup_kick(self.raw.as_ptr()) }
    }

    /// Sleep (interruptibly: an idle thread neither loads the system nor trips the hung-task
    /// detector) until kicked or `timeout_ms` pass (0 = no limit). Process context only.
    pub(crate) fn wait(&self, timeout_ms: u32) {
        // SAFETY: live (type invariant); we are in process context (callers' contract).
        unsafe { ffi::drbd_rs_wakeup_wait(self.raw.as_ptr(), timeout_ms) }
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        // SAFETY: allocated by `drbd_rs_wakeup_new`; nobody waits on it any more (we own it).
        unsafe { ffi::drbd_rs_wakeup_free(self.raw.as_ptr()) }
    }
}

/// One list entry: the kernel's link first, so a `*mut llist_node` is a `*mut Node<T>`.
#[repr(C)]
struct Node<T> {
    link: bindings::llist_node,
    value: Option<T>,
}

/// An allocated entry for an [`EventList`], filled in later (e.g. by a completion).
pub(crate) struct Event<T> {
    node: KBox<Node<T>>,
}

// SAFETY: the node is owned exclusively by the `Event` (its link is unused until pushed, when
// ownership moves to the list); the value is `Send`.
unsafe impl<T: Send> Send for Event<T> {}

impl<T> Event<T> {
    /// An empty event (allocates; may sleep — callers on the I/O path run with no-I/O
    /// allocation, see [`super::sys::NoIo`]).
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            node: KBox::new(
                Node {
                    link: bindings::llist_node {
                        next: core::ptr::null_mut(),
                    },
                    value: None,
                },
                GFP_KERNEL,
            )?,
        })
    }

    /// Put `value` in (replacing what was there).
    pub(crate) fn set(&mut self, value: T) {
        self.node.value = Some(value);
    }
}

/// A multi-producer list of [`Event`]s, consumed oldest first by one thread.
///
/// # Invariants
///
/// `head` is a live `llist_head` we allocated; every node on it is a leaked
/// `KBox<Node<T>>`.
pub(crate) struct EventList<T: Send> {
    head: NonNull<bindings::llist_head>,
    _values: PhantomData<T>,
}

// SAFETY: llist_add is safe from any context and concurrently with llist_del_all; the values
// are `Send` and move to the consumer.
unsafe impl<T: Send> Send for EventList<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for EventList<T> {}

impl<T: Send> EventList<T> {
    /// An empty list.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions.
        let head = unsafe { ffi::drbd_rs_llist_new() };
        Ok(Self {
            head: NonNull::new(head).ok_or(ENOMEM)?,
            _values: PhantomData,
        })
    }

    /// Append `event`. Any context; never fails.
    pub(crate) fn push(&self, event: Event<T>) {
        let node = KBox::into_raw(event.node);
        // SAFETY: `node` is a live, leaked `Node<T>` whose first field is the llist link
        // (repr(C)); the list owns it until `take_all` reclaims it. `head` is live.
        unsafe {
            ffi::drbd_rs_llist_add(core::ptr::addr_of_mut!((*node).link), self.head.as_ptr());
        }
    }

    /// Everything pushed so far, oldest first (each event's value; empty events are skipped).
    pub(crate) fn take_all(&self) -> Drain<T> {
        // SAFETY: `head` is live; the nodes taken are ours now (type invariant).
        let first = unsafe { ffi::drbd_rs_llist_take_all(self.head.as_ptr()) };
        Drain {
            next: first,
            _values: PhantomData,
        }
    }
}

impl<T: Send> Drop for EventList<T> {
    fn drop(&mut self) {
        drop(self.take_all());
        // SAFETY: allocated by `drbd_rs_llist_new`; empty and no longer shared.
        unsafe { ffi::drbd_rs_llist_free(self.head.as_ptr()) }
    }
}

/// The events taken from an [`EventList`]; frees what is not consumed.
pub(crate) struct Drain<T> {
    /// Next node (a leaked `KBox<Node<T>>` owned by us), or null.
    next: *mut bindings::llist_node,
    _values: PhantomData<T>,
}

impl<T> Iterator for Drain<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        while !self.next.is_null() {
            let raw = self.next.cast::<Node<T>>();
            // SAFETY: `raw` is a node taken off the list: a leaked `KBox<Node<T>>` (the link
            // is its first field) that only we reference now.
            let node = unsafe { KBox::from_raw(raw) };
            self.next = node.link.next;
            if let Some(v) = KBox::into_inner(node).value {
                return Some(v);
            }
        }
        None
    }
}

impl<T> Drop for Drain<T> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}

// SAFETY: the nodes are exclusively ours; values are `Send`.
unsafe impl<T: Send> Send for Drain<T> {}
