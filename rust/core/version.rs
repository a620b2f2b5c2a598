// SPDX-License-Identifier: GPL-2.0
//! What this implementation claims to be: the DRBD release, the genetlink API and the range
//! of wire protocol versions, as DRBD 8.4.11 in Linux 6.12 reports them.

/// Expands to the DRBD release string. A macro so that `concat!` can build modinfo strings
/// from the same single definition.
#[macro_export]
macro_rules! drbd_release {
    () => {
        "8.4.11"
    };
}

/// DRBD release this implementation is compatible with (`REL_VERSION`).
pub const RELEASE: &str = drbd_release!();
/// Generic-netlink family version (`GENL_MAGIC_VERSION`, "api" in /proc/drbd).
pub const GENL_API_VERSION: u32 = 1;
/// Oldest wire protocol version spoken (`PRO_VERSION_MIN`).
pub const PROTOCOL_MIN: u32 = super::wire::PRO_VERSION_MIN;
/// Newest wire protocol version spoken (`PRO_VERSION_MAX`).
pub const PROTOCOL_MAX: u32 = super::wire::PRO_VERSION_MAX;
