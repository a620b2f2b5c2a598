// SPDX-License-Identifier: GPL-2.0
//! Prototypes of the C shim (`helpers.c`); keep in step with it. Kernel objects the Rust
//! bindings of 6.12 do not describe are opaque here and only ever handled by pointer.

use core::ffi::{c_char, c_int, c_uint, c_void};

/// `struct seq_file`, opaque.
#[repr(C)]
pub(crate) struct SeqFileRaw {
    _opaque: [u8; 0],
}

/// `struct proc_dir_entry`, opaque.
#[repr(C)]
pub(crate) struct ProcDirEntryRaw {
    _opaque: [u8; 0],
}

/// A `single_open` show callback.
pub(crate) type ShowFn = unsafe extern "C" fn(*mut SeqFileRaw, *mut c_void) -> c_int;

extern "C" {
    pub(crate) fn drbd_rs_param_minor_count() -> c_uint;
    pub(crate) fn drbd_rs_param_set_minor_count(value: c_uint);

    pub(crate) fn drbd_rs_proc_create(
        name: *const c_char,
        show: ShowFn,
        data: *mut c_void,
    ) -> *mut ProcDirEntryRaw;
    pub(crate) fn drbd_rs_proc_remove(entry: *mut ProcDirEntryRaw);
    pub(crate) fn drbd_rs_seq_private(m: *mut SeqFileRaw) -> *mut c_void;
    pub(crate) fn drbd_rs_seq_write(m: *mut SeqFileRaw, data: *const c_void, len: usize) -> c_int;

    pub(crate) fn drbd_rs_genl_register(
        name: *const c_char,
        version: c_uint,
        hdrsize: c_uint,
        maxattr: c_uint,
        mcgrp_name: *const c_char,
        resv_start_op: u8,
    ) -> c_int;
    pub(crate) fn drbd_rs_genl_unregister();
}
