// SPDX-License-Identifier: GPL-2.0
//! Cargo entry point of the drbd_rs core; the kernel module includes `mod.rs` directly.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[path = "mod.rs"]
mod core_tree;
pub use core_tree::*;
