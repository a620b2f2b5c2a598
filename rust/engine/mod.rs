// SPDX-License-Identifier: GPL-2.0
//! The engine: resources and devices, their admin operations and their threads, in safe
//! Rust over the glue types. Decisions (formats, validity of state changes, UUIDs) come from
//! the core.
//!
//! No `unsafe` here: what needs it is a glue type with a safe interface.

#![deny(unsafe_code)]

mod admin;
mod al;
mod bitmap;
mod dependency;
mod device;
mod events;
mod handler_runs;
mod io;
mod link;
mod worker;

use core::fmt;

use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::sync::{Arc, Mutex};

use crate::drbd_core::genl::ret_code::RetCode;
use crate::drbd_core::genl::sets::RES_OPTS;
use crate::drbd_core::genl::stored::StoredSet;
use crate::drbd_core::meta_data::MdError;
use crate::drbd_core::proc_text::{self, BuildTag};
use crate::drbd_core::state::StateError;
use crate::glue::block::{BioSet, Major};
use crate::glue::procfs::{ProcShow, SeqWriter};

pub(crate) use admin::{commands, Admin};
use dependency::Dependencies;
use device::Device;
use handler_runs::HandlerRuns;

/// DRBD's block major.
pub(crate) const DRBD_MAJOR: u32 = 147;
/// Longest resource name (`ctx_resource_name` holds 128 bytes with the NUL).
const RESOURCE_NAME_MAX: usize = 127;
/// Highest minor number (`MINORMASK`).
const MINOR_MAX: u32 = (1 << 20) - 1;
/// Highest volume number.
const VOLUME_MAX: u32 = 65534;

/// Why an admin operation failed; maps onto the 8.4 reply codes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failure {
    /// A `drbd_ret_code`.
    Ret(RetCode),
    /// A refused state change (`SS_*`).
    State(StateError),
    /// Invalid meta data or layout.
    Md(MdError),
    /// The device already has a disk.
    DiskConfigured,
    /// The backing device cannot be opened.
    OpenDisk,
    /// The meta device cannot be opened.
    OpenMdDisk,
    /// Meta-data I/O failed.
    MdIo,
    /// Out of memory.
    NoMemory,
    /// Valid, but not implemented yet (the text says what).
    Unsupported(&'static str),
}

impl Failure {
    /// The code put into the reply header.
    pub(crate) fn code(self) -> i32 {
        match self {
            Failure::Ret(r) => r.code(),
            Failure::State(s) => s.code(),
            Failure::Md(m) => m.ret_code(),
            Failure::DiskConfigured => RetCode::ErrDiskConfigured.code(),
            Failure::OpenDisk => RetCode::ErrOpenDisk.code(),
            Failure::OpenMdDisk => RetCode::ErrOpenMdDisk.code(),
            Failure::MdIo => RetCode::ErrIoMdDisk.code(),
            Failure::NoMemory => RetCode::ErrNomem.code(),
            Failure::Unsupported(_) => RetCode::ErrInvalidRequest.code(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only meta-data problems get detail beyond the code: drbdsetup prints the code's own
        // text for everything else.
        match self {
            Failure::Md(m) => write!(f, "{m}"),
            Failure::Unsupported(what) => write!(f, "{what} is not supported yet"),
            _ => Ok(()),
        }
    }
}

/// A named group of devices (volumes) replicated together.
pub(crate) struct Resource {
    name: [u8; RESOURCE_NAME_MAX],
    name_len: usize,
    /// The resource options (`new-resource`, `resource-options`): `cpu-mask` and
    /// `on-no-data-accessible`, kept and reported (GET_STATUS); neither acts yet.
    pub(crate) res_opts: StoredSet,
}

impl Resource {
    fn new(name: &[u8]) -> Option<Self> {
        if name.is_empty()
            || name.len() > RESOURCE_NAME_MAX
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return None;
        }
        let mut r = Self {
            name: [0; RESOURCE_NAME_MAX],
            name_len: name.len(),
            res_opts: StoredSet::new(&RES_OPTS)?,
        };
        r.name[..name.len()].copy_from_slice(name);
        Some(r)
    }

    /// The resource's name.
    pub(crate) fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// Everything configured, under one lock (admin operations are rare and serialized anyway).
struct Registry {
    /// Resources by creation number.
    resources: RBTree<u32, Resource>,
    next_resource: u32,
    /// Devices by minor, each naming its resource.
    devices: RBTree<u32, (u32, Device)>,
}

impl Registry {
    fn resource_id(&self, name: &[u8]) -> Option<u32> {
        self.resources
            .iter()
            .find(|(_, r)| r.name() == name)
            .map(|(id, _)| *id)
    }

    fn devices_of(&self, resource: u32) -> impl Iterator<Item = &Device> {
        self.devices
            .values()
            .filter(move |(r, _)| *r == resource)
            .map(|(_, d)| d)
    }
}

/// The loaded driver: block major, bio pool, registry, `resync-after` board.
#[pin_data]
pub(crate) struct Drbd {
    major: Major,
    pool: Arc<Pin<KBox<BioSet>>>,
    deps: Arc<Dependencies>,
    handler_runs: Arc<HandlerRuns>,
    #[pin]
    registry: Mutex<Registry>,
    srcversion: Option<&'static str>,
}

impl Drbd {
    /// Register the block major and set up empty state.
    pub(crate) fn new(srcversion: Option<&'static str>) -> Result<Arc<Self>> {
        let major = Major::register(DRBD_MAJOR, c"drbd")?;
        let pool = Arc::new(KBox::pin_init(BioSet::new(128), GFP_KERNEL)?, GFP_KERNEL)?;
        let deps = Dependencies::new()?;
        let handler_runs = HandlerRuns::new()?;
        Arc::pin_init(
            pin_init!(Self {
                major,
                pool,
                deps,
                handler_runs,
                registry <- kernel::new_mutex!(
                    Registry { resources: RBTree::new(), next_resource: 0, devices: RBTree::new() },
                    "drbd_rs:registry"
                ),
                srcversion,
            }),
            GFP_KERNEL,
        )
    }

    /// Tear everything down (module unload): devices first, then resources.
    pub(crate) fn shutdown(&self) {
        let mut reg = self.registry.lock();
        loop {
            let Some(minor) = reg.devices.keys().next().copied() else {
                break;
            };
            if let Some((_, mut dev)) = reg.devices.remove(&minor) {
                // Nobody can have the device open: the module is being unloaded.
                let _ = dev.demote();
                let _ = dev.detach();
                drop(dev);
            }
        }
        loop {
            let Some(id) = reg.resources.keys().next().copied() else {
                break;
            };
            reg.resources.remove(&id);
        }
        drop(reg);
        // A fence-peer handler may still run (its thread holds its link): wait for it, with
        // no lock held (it reads /proc/drbd).
        self.handler_runs.join_all();
    }
}

impl ProcShow for Drbd {
    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result {
        let build = match self.srcversion {
            Some(src) => BuildTag::SrcVersion(src),
            None => BuildTag::BuiltIn,
        };
        proc_text::write_header(out, build)?;
        let reg = self.registry.lock();
        let mut prev = None;
        for (minor, (_, dev)) in reg.devices.iter() {
            proc_text::write_device(out, prev, &dev.status(), 0)?;
            prev = Some(*minor);
        }
        Ok(())
    }
}
