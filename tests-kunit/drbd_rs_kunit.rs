// SPDX-License-Identifier: GPL-2.0
//! KUnit suites exercising the drbd_rs core and the glue types that can run on their own
//! (sockets, block I/O to the VM's disk, threads) in kernel context (kernel target, kernel rustc flags, no std). Loading
//! the module runs them; results appear as KTAP in the kernel log.
//!
//! Add a case: write `fn name()` using `check!`/`check_eq!` in a suite file, list it in that
//! suite's `kunit_suite!` invocation. Add a suite: a new file with its own `kunit_suite!`, and
//! its static in `kunit_suites!` below.

use kernel::prelude::*;

#[path = "../rust/core/mod.rs"]
// The core is a library shared with the host tools: not all of it is used here, and its
// `pub` items and re-exports are public for those crates.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod drbd_core;

/// The glue files under test, compiled into this module as into drbd_rs.ko (with the socket
/// and block parts of the C shim, `net_helpers.c` and `block_helpers.c`; see Kbuild).
#[path = "../rust/glue"]
#[allow(dead_code)]
mod glue {
    pub(crate) mod block;
    pub(crate) mod drain;
    pub(crate) mod errno;
    pub(crate) mod events;
    mod ffi;
    pub(crate) mod kthread;
    pub(crate) mod pagebuf;
    pub(crate) mod socket;
}

#[macro_use]
mod kunit_macros;
mod bufio_suites;
mod core_suites;
mod events_suites;
mod genl_suites;
mod md_suites;
mod replication_suites;
mod socket_suites;

module! {
    type: DrbdRsKunit,
    name: "drbd_rs_kunit",
    author: "drbd_rs developers",
    description: "KUnit tests for the drbd_rs core",
    license: "GPL",
}

kunit_suites!(
    core_suites::TEXT_SUITE,
    core_suites::LIMITS_SUITE,
    md_suites::MD_SUITE,
    md_suites::BITMAP_STATE_SUITE,
    genl_suites::GENL_SUITE,
    socket_suites::SOCKET_SUITE,
    bufio_suites::BUFIO_SUITE,
    replication_suites::REPLICATION_SUITE,
    events_suites::EVENTS_SUITE
);

struct DrbdRsKunit;

impl kernel::Module for DrbdRsKunit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(DrbdRsKunit)
    }
}
