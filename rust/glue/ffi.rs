// SPDX-License-Identifier: GPL-2.0
//! Prototypes of the C shim (`helpers.c`, `block_helpers.c`, `net_helpers.c` and
//! `event_helpers.c`, declared in `helpers.h`); keep in step with it. Kernel objects the Rust bindings of 6.12 do not describe are opaque here
//! and only ever handled by pointer.

use core::ffi::{c_char, c_int, c_uint, c_ushort, c_void};

// The kernel's `unsigned long` is `usize` in its bindings (`core`'s is `u64`).
use kernel::ffi::c_ulong;

use kernel::bindings;

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

/// `struct genl_info`, opaque.
#[repr(C)]
pub(crate) struct GenlInfoRaw {
    _opaque: [u8; 0],
}

/// `struct sk_buff`, opaque.
#[repr(C)]
pub(crate) struct SkBuffRaw {
    _opaque: [u8; 0],
}

/// `struct netlink_callback`, opaque.
#[repr(C)]
pub(crate) struct NetlinkCallbackRaw {
    _opaque: [u8; 0],
}

/// `struct drbd_rs_genl_cmd` of helpers.h.
#[repr(C)]
pub(crate) struct GenlCmd {
    pub(crate) cmd: u8,
    pub(crate) flags: u8,
}
pub(crate) const GENL_ADMIN: u8 = 0x01;
pub(crate) const GENL_DOIT: u8 = 0x02;
pub(crate) const GENL_DUMPIT: u8 = 0x04;
pub(crate) const GENL_MAX_OPS: usize = 48;

/// A `single_open` show callback.
pub(crate) type ShowFn = unsafe extern "C" fn(*mut SeqFileRaw, *mut c_void) -> c_int;

// Kernel structs are only passed by pointer; their layout is bindgen's, as in `bindings`
// (which allows the same lint for the same reason).
#[allow(improper_ctypes)]
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
        cmds: *const GenlCmd,
        n_cmds: c_uint,
    ) -> c_int;
    pub(crate) fn drbd_rs_genl_unregister();
    pub(crate) fn drbd_rs_genl_multicast(cmd: u8, payload: *const c_void, len: usize) -> c_int;
    pub(crate) fn drbd_rs_usermode_helper(buf: *mut c_char, len: usize);
    pub(crate) fn drbd_rs_run_helper(
        cmd: *const c_char,
        target: *const c_char,
        peer_af: *const c_char,
        peer_address: *const c_char,
    ) -> c_int;
    pub(crate) fn drbd_rs_genl_reply(
        info: *mut GenlInfoRaw,
        cmd: u8,
        payload: *const c_void,
        len: usize,
    ) -> c_int;
    pub(crate) fn drbd_rs_genl_dump_put(
        skb: *mut SkBuffRaw,
        cb: *mut NetlinkCallbackRaw,
        cmd: u8,
        payload: *const c_void,
        len: usize,
    ) -> c_int;

    pub(crate) fn drbd_rs_disk_alloc(
        major: c_int,
        minor: c_int,
        max_bio_sectors: c_uint,
        private_data: *mut c_void,
    ) -> *mut bindings::gendisk;
    pub(crate) fn drbd_rs_disk_stack_limits(
        disk: *mut bindings::gendisk,
        lower: *mut bindings::block_device,
        max_bio_sectors: c_uint,
    ) -> c_int;
    pub(crate) fn drbd_rs_bio_clone(
        bdev: *mut bindings::block_device,
        bio: *mut bindings::bio,
        bs: *mut bindings::bio_set,
    ) -> *mut bindings::bio;
    pub(crate) fn drbd_rs_bdev_nr_sectors(bdev: *mut bindings::block_device) -> u64;
    pub(crate) fn drbd_rs_bdev_open(
        path: *const c_char,
        holder: *mut c_void,
    ) -> *mut bindings::file;
    pub(crate) fn drbd_rs_bdev_rw_page(
        bdev: *mut bindings::block_device,
        sector: u64,
        page: *mut bindings::page,
        write: bool,
        flush_fua: bool,
    ) -> c_int;

    pub(crate) fn drbd_rs_noio_save() -> c_uint;
    pub(crate) fn drbd_rs_noio_restore(flags: c_uint);
    pub(crate) fn drbd_rs_bio_copy_page(
        bio: *mut bindings::bio,
        iter: *mut bindings::bvec_iter,
        page: *mut bindings::page,
        len: c_uint,
        to_bio: bool,
    ) -> c_uint;
    #[allow(dead_code)] // Until the replication path uses `LowerDevice::submit_buf`.
    pub(crate) fn drbd_rs_buf_bio_alloc(
        bdev: *mut bindings::block_device,
        nr_vecs: c_ushort,
        write: bool,
        fua: bool,
        preflush: bool,
    ) -> *mut bindings::bio;
    pub(crate) fn drbd_rs_bio_kmalloc(nr_vecs: c_ushort) -> *mut bindings::bio;
    pub(crate) fn drbd_rs_bio_kfree(bio: *mut bindings::bio);

    pub(crate) fn drbd_rs_wait_var_zero(var: *mut u32);
    pub(crate) fn drbd_rs_wake_var(var: *mut c_void);

    pub(crate) fn drbd_rs_sock_create(family: c_int, res: *mut *mut bindings::socket) -> c_int;
    pub(crate) fn drbd_rs_sock_set_noio(sock: *mut bindings::socket);
    pub(crate) fn drbd_rs_sock_set_reuseaddr(sock: *mut bindings::socket);
    pub(crate) fn drbd_rs_sock_set_bufsizes(
        sock: *mut bindings::socket,
        sndbuf: c_uint,
        rcvbuf: c_uint,
    );
    pub(crate) fn drbd_rs_sock_set_sndtimeo(sock: *mut bindings::socket, timeo: c_ulong);
    pub(crate) fn drbd_rs_sock_set_rcvtimeo(sock: *mut bindings::socket, timeo: c_ulong);
    pub(crate) fn drbd_rs_sock_set_priority(sock: *mut bindings::socket, priority: u32);
    pub(crate) fn drbd_rs_sock_set_nodelay(sock: *mut bindings::socket);
    pub(crate) fn drbd_rs_sock_set_quickack(sock: *mut bindings::socket, val: c_int);

    pub(crate) fn drbd_rs_wakeup_new() -> *mut WakeupRaw;
    pub(crate) fn drbd_rs_wakeup_free(w: *mut WakeupRaw);
    pub(crate) fn drbd_rs_wakeup_kick(w: *mut WakeupRaw);
    pub(crate) fn drbd_rs_wakeup_wait(w: *mut WakeupRaw, timeout_ms: c_uint);
    pub(crate) fn drbd_rs_cond_resched();
    pub(crate) fn drbd_rs_llist_new() -> *mut bindings::llist_head;
    pub(crate) fn drbd_rs_llist_free(head: *mut bindings::llist_head);
    pub(crate) fn drbd_rs_llist_add(
        node: *mut bindings::llist_node,
        head: *mut bindings::llist_head,
    ) -> bool;
    pub(crate) fn drbd_rs_llist_take_all(
        head: *mut bindings::llist_head,
    ) -> *mut bindings::llist_node;
}

/// `struct drbd_rs_wakeup` of event_helpers.c, opaque.
#[repr(C)]
pub(crate) struct WakeupRaw {
    _opaque: [u8; 0],
}
