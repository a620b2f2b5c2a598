// SPDX-License-Identifier: GPL-2.0
//! A read-only file in /proc whose content a Rust object renders on each read.

use core::ffi::{c_int, c_void, CStr};
use core::fmt;
use core::ptr::NonNull;

use kernel::error::code::ENOMEM;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::ffi;

/// Renders the content of a proc file. Called concurrently by readers.
pub(crate) trait ProcShow: Sync + Send {
    /// Write the whole file; an `Err` from `out` means the buffer is full and the read will be
    /// retried with a larger one, so just propagate it.
    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result;
}

/// `fmt::Write` into a `seq_file` being filled by a read.
pub(crate) struct SeqWriter<'a> {
    m: NonNull<ffi::SeqFileRaw>,
    _in_show: core::marker::PhantomData<&'a mut ffi::SeqFileRaw>,
}

impl fmt::Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the seq_file of the show callback this writer was made in, and the
        // writer does not outlive that callback (lifetime `'a`).
        let ret = unsafe { ffi::drbd_rs_seq_write(self.m.as_ptr(), s.as_ptr().cast(), s.len()) };
        if ret == 0 {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// A registered `/proc/<name>` file showing `T`.
///
/// # Invariants
///
/// `entry` is a live proc entry whose private data points at `*data`; it is removed in
/// `drop` before `data` is freed.
pub(crate) struct ProcEntry<T: ProcShow> {
    entry: NonNull<ffi::ProcDirEntryRaw>,
    /// Kept alive for `show`, which reaches it through the entry's private pointer.
    _data: Arc<T>,
}

// SAFETY: the entry pointer is only used to remove the entry, which may happen from any
// thread; `T` is `Sync + Send`.
unsafe impl<T: ProcShow> Send for ProcEntry<T> {}
// SAFETY: `&ProcEntry` gives no access to the entry; `T` is `Sync`.
unsafe impl<T: ProcShow> Sync for ProcEntry<T> {}

impl<T: ProcShow> ProcEntry<T> {
    /// Create `/proc/<name>` in procfs' root.
    pub(crate) fn new(name: &'static CStr, data: Arc<T>) -> Result<Self> {
        let data_ptr: *const T = &*data;
        // SAFETY: `name` is a NUL-terminated static string; `data_ptr` stays valid until the
        // entry is removed in `drop` (type invariant), and `show_trampoline::<T>` only reads it.
        let entry = unsafe {
            ffi::drbd_rs_proc_create(
                name.as_ptr(),
                show_trampoline::<T>,
                data_ptr.cast_mut().cast(),
            )
        };
        let entry = NonNull::new(entry).ok_or(ENOMEM)?;
        Ok(Self { entry, _data: data })
    }
}

impl<T: ProcShow> Drop for ProcEntry<T> {
    fn drop(&mut self) {
        // SAFETY: `entry` is live (type invariant). proc_remove() waits for readers in
        // progress, so no `show` runs on `data` after this returns.
        unsafe { ffi::drbd_rs_proc_remove(self.entry.as_ptr()) };
    }
}

/// # Safety
///
/// Called by the seq_file core with a seq_file whose private data was set by
/// [`ProcEntry::new`] to a live `T`.
unsafe extern "C" fn show_trampoline<T: ProcShow>(
    m: *mut ffi::SeqFileRaw,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: per this function's contract, `m` is a valid seq_file.
    let data = unsafe { ffi::drbd_rs_seq_private(m) }.cast::<T>();
    // SAFETY: the private data is the `T` registered with this entry, alive until the entry
    // is removed, which waits for this call to return.
    let data = unsafe { &*data };
    let Some(m) = NonNull::new(m) else {
        return 0;
    };
    let mut out = SeqWriter {
        m,
        _in_show: core::marker::PhantomData,
    };
    // A full buffer is not an error: seq_read() sees the overflow and calls us again with a
    // larger buffer.
    let _ = data.show(&mut out);
    0
}
