// SPDX-License-Identifier: GPL-2.0
//! Glue: the only place of `unsafe` and raw kernel interfaces. Each type is a small RAII
//! wrapper with a safe interface; `helpers.c`, `block_helpers.c` and `net_helpers.c` cover
//! what 6.12's Rust bindings lack.

pub(crate) mod block;
pub(crate) mod drain;
pub(crate) mod errno;
pub(crate) mod events;
mod ffi;
pub(crate) mod genl;
pub(crate) mod kthread;
pub(crate) mod module_info;
// Some helpers (byte access, copies back into bios) serve the KUnit suites only so far.
#[allow(dead_code)]
pub(crate) mod pagebuf;
pub(crate) mod params;
pub(crate) mod procfs;
// Some calls (page ranges, explicit addresses) serve the KUnit suite `drbd_rs_socket` only.
#[allow(dead_code)]
pub(crate) mod socket;
pub(crate) mod sys;
pub(crate) mod umh;
