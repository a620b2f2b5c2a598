// SPDX-License-Identifier: GPL-2.0
//! drbd_rs: a DRBD 8.4 compatible replicated block device, in Rust.
//!
//! Module root: registration order on load, the reverse on unload. The protocol and format
//! logic is in `rust/core` (shared with the host tools), kernel plumbing in `rust/glue`.

// `pin_init!` of the link's many fields nests deeper than the default limit.
#![recursion_limit = "256"]

use kernel::prelude::*;

#[path = "rust/core/mod.rs"]
// The core is a library shared with the host tools: not all of it is used here, and its
// `pub` items and re-exports are public for those crates.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod drbd_core;
#[path = "rust/engine/mod.rs"]
mod engine;
#[path = "rust/glue/mod.rs"]
mod glue;

use drbd_core::limits::{check_minor_count, ParamCheck};
use glue::procfs::ProcEntry;
use kernel::sync::Arc;

module! {
    type: DrbdRs,
    name: "drbd_rs",
    author: "drbd_rs developers",
    description: "DRBD 8.4 compatible replicated block device",
    license: "GPL",
}

/// `version=` makes modpost compute the module's srcversion, shown in /proc/drbd like drbd's.
const MODINFO_VERSION_TEXT: &str = concat!("version=", drbd_release!(), "\0");
#[used]
#[link_section = ".modinfo"]
static MODINFO_VERSION: [u8; MODINFO_VERSION_TEXT.len()] = str_to_array(MODINFO_VERSION_TEXT);

const fn str_to_array<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

struct DrbdRs {
    // Teardown: netlink first (taken in `drop`, so no admin request can race with the
    // devices going away), then the devices (`shutdown`), then /proc.
    genl: Option<glue::genl::Family>,
    _proc: ProcEntry<engine::Drbd>,
    drbd: Arc<engine::Drbd>,
}

impl kernel::Module for DrbdRs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let minor_count = match check_minor_count(glue::params::minor_count()) {
            ParamCheck::Invalid { given, used } => {
                pr_err!("invalid minor_count ({given}), using {used}\n");
                used
            }
            ok => ok.value(),
        };
        glue::params::set_minor_count(minor_count);

        let drbd = engine::Drbd::new(glue::module_info::srcversion(module))?;
        let proc = ProcEntry::new(c"drbd", drbd.clone())?;
        let mut commands = KVec::new();
        for c in engine::commands() {
            commands.push(c, GFP_KERNEL)?;
        }
        let genl = glue::genl::Family::register(
            &glue::genl::FamilySpec {
                name: drbd_core::genl::FAMILY_NAME,
                version: drbd_core::genl::FAMILY_VERSION,
                hdrsize: drbd_core::genl::USER_HEADER_SIZE,
                maxattr: drbd_core::genl::MAX_TOP_LEVEL_ATTR,
                mcgrp: drbd_core::genl::MCGRP_EVENTS,
                resv_start_op: drbd_core::genl::RESV_START_OP,
            },
            &commands,
            Arc::new(engine::Admin::new(drbd.clone()), GFP_KERNEL)?,
        )?;

        pr_info!(
            "initialized. Version: {} (api:{}/proto:{}-{}), minor_count {}\n",
            drbd_core::version::RELEASE,
            drbd_core::version::GENL_API_VERSION,
            drbd_core::version::PROTOCOL_MIN,
            drbd_core::version::PROTOCOL_MAX,
            minor_count
        );
        Ok(DrbdRs {
            genl: Some(genl),
            _proc: proc,
            drbd,
        })
    }
}

impl Drop for DrbdRs {
    fn drop(&mut self) {
        // Unregistering waits for requests in progress.
        drop(self.genl.take());
        self.drbd.shutdown();
        pr_info!("module cleanup done.\n");
    }
}
