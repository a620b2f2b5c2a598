// SPDX-License-Identifier: GPL-2.0
//! Module parameters, declared in the C shim (6.12's `module!` macro has no parameters).

use super::ffi;

/// `minor_count` as given at load time (0 when not given).
pub(crate) fn minor_count() -> u32 {
    // SAFETY: reads a plain `unsigned int` parameter of this module.
    unsafe { ffi::drbd_rs_param_minor_count() }
}

/// Publish the value in effect (shown in /sys/module/drbd_rs/parameters/minor_count).
pub(crate) fn set_minor_count(value: u32) {
    // SAFETY: writes a plain `unsigned int` parameter of this module; only module init calls
    // this, before anything reads it concurrently.
    unsafe { ffi::drbd_rs_param_set_minor_count(value) }
}
