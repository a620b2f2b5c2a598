// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 generic-netlink family as user space (drbdsetup-84) expects it: a sans-I/O
//! codec shared by the kernel module (receives requests, sends replies and notifications) and
//! the admin tool (sends requests, parses replies).
//!
//! Layers:
//! * [`nla`] / [`writer`]: netlink attribute TLVs — decoding borrows from the input, encoding
//!   writes into a caller-provided buffer;
//! * [`msg`]: `nlmsghdr` + `genlmsghdr` + `drbd_genlmsghdr`, message framing;
//! * [`sets`]: top-level attribute ids and one declarative table per nested set;
//! * [`value`] / [`validate`]: per-attribute policy checks and per-set validation with the
//!   kernel's error semantics (mandatory bit, required, invariant);
//! * [`typed`]: typed views of every set, and set encoding in the tool's or kernel's style;
//! * [`commands`]: the command table (single source of truth for command numbers);
//! * [`ret_code`]: `drbd_ret_code` and the reply code classification;
//! * [`request`] / [`build`]: validating whole requests, building whole messages;
//! * [`addr`]: the `sockaddr` blobs of `cfg_context`.
//!
//! Byte order: netlink uses host byte order. This codec uses the native byte order throughout
//! (`to_ne_bytes`/`from_ne_bytes`), which is little-endian on our x86_64 target; only the
//! port/address parts of socket addresses are in network order.
//!
//! Nothing here allocates, panics on input, or uses floating point.

#![warn(missing_docs)]

use core::ffi::CStr;

use super::version;

pub mod addr;
pub mod build;
pub mod commands;
pub mod msg;
pub mod nla;
pub mod request;
pub mod ret_code;
pub mod sets;
pub mod stored;
pub mod typed;
pub mod validate;
pub mod value;
pub mod writer;

#[cfg(test)]
mod tests;

/// Family name resolved through `nlctrl`.
pub const FAMILY_NAME: &CStr = c"drbd";
/// Family version; drbdsetup refuses any other ("API mismatch!").
pub const FAMILY_VERSION: u32 = version::GENL_API_VERSION;
/// `struct drbd_genlmsghdr`: u32 minor + u32 flags/ret_code, after `genlmsghdr`.
pub const USER_HEADER_SIZE: u32 = 8;
/// Highest top-level attribute id (`DRBD_NLA_HELPER`).
pub const MAX_TOP_LEVEL_ATTR: u32 = 24;
/// The family's only multicast group.
pub const MCGRP_EVENTS: &CStr = c"events";
/// Every drbd command predates strict validation: all of them are below this.
pub const RESV_START_OP: u8 = 42;
