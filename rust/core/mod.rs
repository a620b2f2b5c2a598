// SPDX-License-Identifier: GPL-2.0
//! The pure core of drbd_rs: formats, codecs and decisions, with no I/O.
//!
//! This tree is compiled twice: as the `drbd_core` cargo crate (host tests, tools, simulator;
//! `lib.rs` beside this file) and as a module of the kernel crate via `#[path]`. Hence the
//! rules: only `core::` items, siblings reached through `super::`, no `unsafe`, no allocation.
//! `forbid` here holds in the kernel build too (`lib.rs` repeats it for the cargo crate).

#![forbid(unsafe_code)]

pub mod activity_log;
pub mod al_cache;
pub mod bitmap;
pub mod bitmap_xfer;
pub mod crc32c;
pub mod digest;
pub mod genl;
pub mod limits;
pub mod meta_data;
pub mod proc_text;
pub mod replication;
pub mod resync;
pub mod state;
pub mod text_buf;
pub mod uuid;
pub mod version;
pub mod wire;
