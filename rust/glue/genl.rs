// SPDX-License-Identifier: GPL-2.0
//! Registration of the generic-netlink family.

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::error::code::EBUSY;
use kernel::prelude::*;

use super::ffi;

/// What identifies a family to user space.
pub(crate) struct FamilySpec {
    /// Family name resolved by `nlctrl`.
    pub(crate) name: &'static CStr,
    /// Family version.
    pub(crate) version: u32,
    /// Size of the family's own header after `genlmsghdr`.
    pub(crate) hdrsize: u32,
    /// Highest top-level attribute id.
    pub(crate) maxattr: u32,
    /// The one multicast group.
    pub(crate) mcgrp: &'static CStr,
    /// Commands below this number get lenient attribute validation.
    pub(crate) resv_start_op: u8,
}

/// The C shim holds a single family object: at most one registration may exist.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// A registered generic-netlink family; unregistered on drop.
///
/// # Invariants
///
/// While a `Family` exists, the shim's family object is registered and owned by it.
pub(crate) struct Family(());

impl Family {
    /// Register the family described by `spec`.
    pub(crate) fn register(spec: &FamilySpec) -> Result<Self> {
        if REGISTERED.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: the strings are NUL-terminated statics; no other registration of the shim's
        // family object exists (checked above).
        let ret = unsafe {
            ffi::drbd_rs_genl_register(
                spec.name.as_ptr(),
                spec.version,
                spec.hdrsize,
                spec.maxattr,
                spec.mcgrp.as_ptr(),
                spec.resv_start_op,
            )
        };
        if ret < 0 {
            REGISTERED.store(false, Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        Ok(Self(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: the family is registered (type invariant); genl_unregister_family() waits
        // for running operations of the family.
        unsafe { ffi::drbd_rs_genl_unregister() };
        REGISTERED.store(false, Ordering::Release);
    }
}
