// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 generic-netlink family as user space (drbdsetup-84) expects it.

use core::ffi::CStr;

use super::version;

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
