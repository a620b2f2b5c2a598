// SPDX-License-Identifier: GPL-2.0
//! Kernel threads (`drbdN_worker`, later `drbdN_receiver` and `drbdN_asender`).
//!
//! 6.12 has no kthread abstraction. A [`Kthread`] runs a closure on its own named kernel
//! thread and, when dropped, stops it and waits for it. The closure decides when to return:
//! it must watch its own stop condition (woken through whatever it waits on) — the owner
//! signals that condition *before* dropping the `Kthread`, so no wake-up can be lost.

use core::ffi::{c_int, c_void};
use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;
use kernel::task::Task;
use kernel::types::ARef;

/// A closure run once through a `dyn` box (the kernel's `Box` cannot call a boxed `FnOnce`).
pub(crate) trait Body: Send {
    /// Run the closure; later calls do nothing.
    fn run(&mut self);
}

/// A closure as a [`Body`].
pub(crate) struct Once<F>(Option<F>);

impl<F: FnOnce() + Send> Once<F> {
    /// Box `f` for a thread or a work queue.
    pub(crate) fn boxed(f: F) -> Result<KBox<dyn Body>>
    where
        F: 'static,
    {
        // 6.12's `Box` has no unsizing coercion; go through the raw pointer, which has.
        let boxed: KBox<Once<F>> = KBox::new(Once(Some(f)), GFP_KERNEL)?;
        let raw: *mut Once<F> = KBox::into_raw(boxed);
        let raw: *mut dyn Body = raw;
        // SAFETY: `raw` comes from `KBox::into_raw` just above; only its type was unsized.
        Ok(unsafe { KBox::from_raw(raw) })
    }
}

impl<F: FnOnce() + Send> Body for Once<F> {
    fn run(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A running kernel thread; dropping it waits for the thread to finish.
///
/// # Invariants
///
/// `task` is a kthread created by [`Kthread::spawn`], and we hold a reference on its
/// task_struct, so `kthread_stop()` is valid even after the body has returned. `body` holds
/// the thread's `KBox<dyn Body>` (leaked) until the thread takes it; a thread stopped before
/// it first ran never takes it, and `drop` frees it then.
pub(crate) struct Kthread {
    task: ARef<Task>,
    body: KBox<AtomicPtr<KBox<dyn Body>>>,
}

impl Kthread {
    /// Start `body` on a new kernel thread named `name` (at most 15 characters are kept).
    pub(crate) fn spawn(
        name: fmt::Arguments<'_>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<Self> {
        let mut comm = [0u8; 16];
        let mut writer = crate::drbd_core::text_buf::TextBuf::<15>::new();
        // A name longer than the kernel's 15 characters is cut, as the kernel would do.
        let _ = fmt::Write::write_fmt(&mut writer, name);
        comm[..writer.as_bytes().len()].copy_from_slice(writer.as_bytes());

        let body = Once::boxed(body)?;
        let slot = KBox::new(AtomicPtr::new(ptr::null_mut()), GFP_KERNEL)?;
        slot.store(
            KBox::into_raw(KBox::new(body, GFP_KERNEL)?),
            Ordering::Release,
        );
        // SAFETY: `thread_main` matches the kthread function type; the slot is a heap object
        // owned by the `Kthread` returned below, which outlives the thread (its drop stops
        // and waits for the thread); "%s" with a NUL-terminated buffer is a valid format.
        let task = unsafe {
            kernel::bindings::kthread_create_on_node(
                Some(thread_main),
                ptr::from_ref::<AtomicPtr<KBox<dyn Body>>>(&slot)
                    .cast_mut()
                    .cast(),
                kernel::bindings::NUMA_NO_NODE,
                c"%s".as_ptr().cast(),
                comm.as_ptr(),
            )
        };
        let task = match kernel::error::from_err_ptr(task).map(NonNull::new) {
            Ok(Some(task)) => task,
            failed => {
                drop(take_body(&slot));
                return Err(failed.err().unwrap_or(ENOMEM));
            }
        };
        // SAFETY: `task` is a live task_struct (just created, not yet running); `Task` is a
        // transparent wrapper of it. `ARef::from` takes our own reference.
        let task: ARef<Task> = ARef::from(unsafe { &*task.as_ptr().cast::<Task>() });
        task.wake_up();
        Ok(Self { task, body: slot })
    }
}

impl Kthread {
    /// Run the thread with a low real-time priority (`sched_set_fifo_low`), as drbd runs
    /// its asender: pings and acks must not wait behind ordinary load.
    pub(crate) fn set_realtime(&self) {
        // `Task` is a transparent wrapper of `task_struct`.
        let task: *const Task = &*self.task;
        // SAFETY: we hold a reference on the task (type invariant), so it is live.
        unsafe { kernel::bindings::sched_set_fifo_low(task.cast_mut().cast()) };
    }
}

/// Take the body out of `slot`, if the thread has not taken it.
fn take_body(slot: &AtomicPtr<KBox<dyn Body>>) -> Option<KBox<KBox<dyn Body>>> {
    let raw = slot.swap(ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a non-null pointer in the slot is the leaked box of `spawn`; the swap makes us
    // its only taker.
    (!raw.is_null()).then(|| unsafe { KBox::from_raw(raw) })
}

impl Drop for Kthread {
    fn drop(&mut self) {
        // `Task` is a transparent wrapper of `task_struct`.
        let task: *const Task = &*self.task;
        // SAFETY: the task is a kthread we created and still hold a reference on (type
        // invariant); kthread_stop() wakes it, and waits for the body to return if it has
        // not yet. A thread stopped before it first ran exits without calling
        // `thread_main`.
        unsafe { kernel::bindings::kthread_stop(task.cast_mut().cast()) };
        // The thread is gone: if it never ran, its closure (and what it owns) is freed here.
        drop(take_body(&self.body));
    }
}

/// # Safety
///
/// `data` is the body slot of a [`Kthread`], which outlives this thread.
unsafe extern "C" fn thread_main(data: *mut c_void) -> c_int {
    // SAFETY: per the contract, the slot is alive while this thread runs.
    let slot = unsafe { &*data.cast::<AtomicPtr<KBox<dyn Body>>>() };
    if let Some(body) = take_body(slot) {
        let mut body = KBox::into_inner(body);
        body.run();
    }
    0
}
