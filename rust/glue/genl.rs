// SPDX-License-Identifier: GPL-2.0
//! The generic-netlink family: registration, and requests handed to Rust as raw bytes.
//!
//! The C shim owns the `genl_family` and `genl_ops` objects (their layout is C's); for every
//! request it passes the whole netlink message to a [`GenlHandler`], which parses and
//! validates it with the core codec and answers with complete payloads (family header +
//! attributes) that the shim wraps into netlink messages.

use core::ffi::{c_int, c_long, c_uint, c_void, CStr};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::error::code::{EBUSY, EINVAL, ESRCH};
use kernel::prelude::*;
use kernel::sync::Arc;

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

/// One command of the family.
#[derive(Clone, Copy)]
pub(crate) struct CommandSpec {
    /// Command number.
    pub(crate) cmd: u8,
    /// Needs CAP_NET_ADMIN (checked by the genetlink core before we see the request).
    pub(crate) admin: bool,
    /// Has a "do" handler.
    pub(crate) doit: bool,
    /// Has a "dump" handler.
    pub(crate) dumpit: bool,
}

/// Answers requests of the family. Runs in process context, serialized by the genetlink
/// core (the family is not `parallel_ops`).
pub(crate) trait GenlHandler: Send + Sync {
    /// Handle a "do" request: `msg` is the whole netlink message (from `nlmsghdr` on).
    /// Return 0 or a negative errno (sent as netlink error); answers go through `reply`.
    fn doit(&self, msg: &[u8], reply: &mut Reply<'_>) -> c_int;

    /// Fill one part of a dump: put messages until `out` is full; `cursor` persists between
    /// the calls of one dump (zero at the start). Return 0 or a negative errno; a call that
    /// adds nothing ends the dump.
    fn dumpit(&self, msg: &[u8], cursor: &mut [c_long], out: &mut DumpOut<'_>) -> c_int;
}

/// Sends unicast replies to the requester of a "do" command.
pub(crate) struct Reply<'a> {
    info: *mut ffi::GenlInfoRaw,
    _request: core::marker::PhantomData<&'a mut ffi::GenlInfoRaw>,
}

impl Reply<'_> {
    /// Send `payload` (family header + attributes) as command `cmd`.
    pub(crate) fn send(&mut self, cmd: u8, payload: &[u8]) -> Result {
        // SAFETY: `info` is the live request of the running doit callback (lifetime `'a`);
        // the payload pointer/length describe a valid slice.
        let ret = unsafe {
            ffi::drbd_rs_genl_reply(self.info, cmd, payload.as_ptr().cast(), payload.len())
        };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        }
    }
}

/// Collects the messages of one dump call.
pub(crate) struct DumpOut<'a> {
    skb: *mut ffi::SkBuffRaw,
    cb: *mut ffi::NetlinkCallbackRaw,
    _call: core::marker::PhantomData<&'a mut ffi::SkBuffRaw>,
}

impl DumpOut<'_> {
    /// Add one message; `Err(EMSGSIZE)` when this part of the dump is full (the caller keeps
    /// its cursor at this item and stops).
    pub(crate) fn put(&mut self, cmd: u8, payload: &[u8]) -> Result {
        // SAFETY: `skb` and `cb` belong to the running dumpit callback (lifetime `'a`).
        let ret = unsafe {
            ffi::drbd_rs_genl_dump_put(
                self.skb,
                self.cb,
                cmd,
                payload.as_ptr().cast(),
                payload.len(),
            )
        };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        }
    }
}

/// Send `payload` (family header + attributes) as command `cmd` to the family's multicast
/// group. Nobody listening, or the family already unregistered (module unload), is not an
/// error: a notification is for whoever is there. Process context only.
pub(crate) fn multicast(cmd: u8, payload: &[u8]) -> Result {
    // SAFETY: the payload pointer/length describe a valid slice; the shim checks under its
    // own lock that the family is registered.
    let ret = unsafe { ffi::drbd_rs_genl_multicast(cmd, payload.as_ptr().cast(), payload.len()) };
    if ret < 0 && ret != ESRCH.to_errno() {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

/// The handler of the one registered family (the C shim has a single family object).
static HANDLER: AtomicPtr<Arc<dyn GenlHandler>> = AtomicPtr::new(ptr::null_mut());

/// A registered generic-netlink family; unregistered on drop.
///
/// # Invariants
///
/// While a `Family` exists, the shim's family is registered and `HANDLER` points to the
/// handler box owned by this object.
pub(crate) struct Family {
    handler: *mut Arc<dyn GenlHandler>,
}

// SAFETY: the handler is `Send + Sync`; the raw pointer is only freed in `drop`.
unsafe impl Send for Family {}
// SAFETY: `&Family` gives no access to anything.
unsafe impl Sync for Family {}

impl Family {
    /// Register the family described by `spec` with `commands`, answered by `handler`.
    pub(crate) fn register(
        spec: &FamilySpec,
        commands: &[CommandSpec],
        handler: Arc<dyn GenlHandler>,
    ) -> Result<Self> {
        if commands.len() > ffi::GENL_MAX_OPS {
            return Err(EINVAL);
        }
        // Everything that can fail is prepared before the handler is published: from then on
        // the only failure is the registration itself, which unpublishes it again.
        let mut ops: KVec<ffi::GenlCmd> = KVec::with_capacity(commands.len(), GFP_KERNEL)?;
        for c in commands {
            let flags = if c.admin { ffi::GENL_ADMIN } else { 0 }
                | if c.doit { ffi::GENL_DOIT } else { 0 }
                | if c.dumpit { ffi::GENL_DUMPIT } else { 0 };
            ops.push(ffi::GenlCmd { cmd: c.cmd, flags }, GFP_KERNEL)?;
        }
        let boxed = KBox::into_raw(KBox::new(handler, GFP_KERNEL)?);
        if HANDLER
            .compare_exchange(ptr::null_mut(), boxed, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `boxed` was never published.
            drop(unsafe { KBox::from_raw(boxed) });
            return Err(EBUSY);
        }
        // SAFETY: the strings are NUL-terminated statics; `ops` is valid for the call (the
        // shim copies it); no other registration exists (HANDLER was null).
        let ret = unsafe {
            ffi::drbd_rs_genl_register(
                spec.name.as_ptr(),
                spec.version,
                spec.hdrsize,
                spec.maxattr,
                spec.mcgrp.as_ptr(),
                spec.resv_start_op,
                ops.as_ptr(),
                ops.len() as c_uint,
            )
        };
        if ret < 0 {
            HANDLER.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: registration failed, so no callback can see `boxed`.
            drop(unsafe { KBox::from_raw(boxed) });
            return Err(Error::from_errno(ret));
        }
        Ok(Self { handler: boxed })
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: the family is registered (type invariant). genl_unregister_family() waits
        // for running callbacks; dumps still in progress hold a module reference, so they
        // cannot outlive the module whose unload drops this.
        unsafe { ffi::drbd_rs_genl_unregister() };
        HANDLER.store(ptr::null_mut(), Ordering::Release);
        // SAFETY: no callback can reach the handler any more; the box is ours.
        drop(unsafe { KBox::from_raw(self.handler) });
    }
}

fn handler() -> Option<&'static Arc<dyn GenlHandler>> {
    let ptr = HANDLER.load(Ordering::Acquire);
    // SAFETY: a non-null HANDLER points to the box owned by the registered `Family`, which
    // outlives every callback (see `Family::drop`).
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

/// Called by the shim for every "do" request.
///
/// # Safety
///
/// `info` is the request being handled and `msg`/`len` its whole netlink message.
#[no_mangle]
unsafe extern "C" fn drbd_rs_genl_doit(
    info: *mut ffi::GenlInfoRaw,
    msg: *const c_void,
    len: c_uint,
) -> c_int {
    let Some(handler) = handler() else {
        return EINVAL.to_errno();
    };
    // SAFETY: per the contract, `msg` points to `len` readable bytes for this call.
    let msg = unsafe { core::slice::from_raw_parts(msg.cast::<u8>(), len as usize) };
    let mut reply = Reply {
        info,
        _request: core::marker::PhantomData,
    };
    handler.doit(msg, &mut reply)
}

/// Called by the shim for every part of a dump.
///
/// # Safety
///
/// `skb`/`cb` belong to the running dump, `msg`/`len` is its request message and `cursor`
/// points to the callback's `args` array of 6 longs.
#[no_mangle]
unsafe extern "C" fn drbd_rs_genl_dumpit(
    skb: *mut ffi::SkBuffRaw,
    cb: *mut ffi::NetlinkCallbackRaw,
    msg: *const c_void,
    len: c_uint,
    cursor: *mut c_long,
) -> c_int {
    let Some(handler) = handler() else {
        return EINVAL.to_errno();
    };
    // SAFETY: per the contract.
    let msg = unsafe { core::slice::from_raw_parts(msg.cast::<u8>(), len as usize) };
    // SAFETY: per the contract, `cursor` is `cb->args` (6 longs), used only by this dump.
    let cursor = unsafe { core::slice::from_raw_parts_mut(cursor, 6) };
    let mut out = DumpOut {
        skb,
        cb,
        _call: core::marker::PhantomData,
    };
    handler.dumpit(msg, cursor, &mut out)
}
