// SPDX-License-Identifier: GPL-2.0
//! One DRBD device (minor): its `/dev/drbdN`, its lower devices and meta data, its state.
//!
//! Admin operations run serialized (generic netlink is not `parallel_ops` and the registry
//! lock is held); the I/O path only sees [`DeviceIo`].

use core::ffi::CStr;

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::drbd_core::activity_log;
use crate::drbd_core::bitmap::BM_PAGE_SIZE;
use crate::drbd_core::genl::ret_code::RetCode;
use crate::drbd_core::genl::stored::StoredSet;
use crate::drbd_core::meta_data::{
    self, AttachDisk, FlagState, MdError, MdFlags, MdGeometry, MdLayout, Superblock, MD_BLOCK_SIZE,
};
use crate::drbd_core::proc_text::DeviceStatus;
use crate::drbd_core::replication::connection::{DiskGeometry, NetSettings};
use crate::drbd_core::replication::fencing::{Promotion, PromotionStep};
use crate::drbd_core::replication::settings::DiskOptions;
use crate::drbd_core::replication::sync_control::{
    outdate_state, pause_sync_state, plan_invalidate, resume_sync_state, AdminRefusal,
    DependencyNode, FullSyncSide, InvalidatePlan,
};
use crate::drbd_core::state::{
    ConnState, DiskState, Fencing, Role, State, StateChange, StateContext, StateError,
};
use crate::engine::al::{ActivityLog, Submitter};
use crate::engine::bitmap::{
    write_bitmap_pages, BitmapArea, BitmapStorage, DeviceBitmap, PageSelection,
};
use crate::engine::dependency::Dependencies;
use crate::engine::events::{DiskStatus, StateEvents, StatusSnapshot};
use crate::engine::handler_runs::HandlerRuns;
use crate::engine::io::DeviceIo;
use crate::engine::link::{Link, LinkConfig, LinkStart, LinkThreads, MetaStore};
use crate::engine::worker::{Service, Worker};
use crate::engine::Failure;
use crate::glue::block::{BioSet, Disk, LowerDevice, Major};
use crate::glue::drain::Drained;
use crate::glue::socket::SockAddr;
use crate::glue::sys;

/// What the caller of [`Device::promote`] does next.
pub(crate) enum PromoteNext {
    /// Primary now.
    Done,
    /// Call again.
    Again,
    /// Run the `fence-peer` handler on this link with no lock held
    /// ([`Link::outdate_peer`]), tell the promotion, call again.
    Fence(Arc<Link>),
    /// Sleep this long with no lock held, call again.
    Sleep(u32),
}

/// What `attach` needs (from the `disk_conf` of the request).
pub(crate) struct AttachParams<'a> {
    /// Backing device path.
    pub(crate) backing_dev: &'a CStr,
    /// Meta-data device path (the backing device for internal meta data).
    pub(crate) meta_dev: &'a CStr,
    /// `meta_dev_idx`.
    pub(crate) meta_dev_idx: i32,
    /// Explicit size in sectors (0 = all the backing device offers).
    pub(crate) disk_size: u64,
    /// Resync rate, controller settings and `resync-after` (8.4 keeps them in
    /// `disk_conf`); `resync-after` validated by the caller.
    pub(crate) options: DiskOptions,
    /// `al-extents` as configured (the kernel's limits are applied at attach).
    pub(crate) al_extents: u32,
    /// `al-updates`: write the activity log. Without it the meta data says so
    /// (`MDF_AL_DISABLED`) and a crash while Primary means a full resync.
    pub(crate) al_updates: bool,
}

/// An attached backing device with its meta data.
struct Backing {
    lower: Arc<LowerDevice>,
    /// External meta device; `None` for internal meta data.
    meta: Option<Arc<LowerDevice>>,
    geometry: MdGeometry,
    superblock: Superblock,
    /// `drbdN_submit`, while the activity log is written.
    al_submitter: Option<Submitter>,
}

impl Backing {
    fn meta_device(&self) -> &LowerDevice {
        self.meta.as_deref().unwrap_or(&self.lower)
    }

    fn bitmap_area(&self) -> BitmapArea {
        BitmapArea {
            data: self.lower.clone(),
            meta: self.meta_device_arc(),
            bm_sector: self.geometry.bm_sector(),
            pages: self.geometry.bitmap_area_sectors() / 8,
        }
    }

    fn meta_device_arc(&self) -> Arc<LowerDevice> {
        self.meta.clone().unwrap_or_else(|| self.lower.clone())
    }

    /// Write the superblock now, durably. Every write by an attached node marks the meta data
    /// unclean until user space's `apply-al` (as drbd.ko does).
    fn write_superblock(&mut self) -> Result<(), Failure> {
        self.superblock.mark_unclean();
        let mut block = sys::zeroed_block::<MD_BLOCK_SIZE>().map_err(|_| Failure::NoMemory)?;
        self.superblock.encode(&mut block);
        self.meta_device()
            .write_block(self.geometry.md_offset, &block, true)
            .map_err(|_| Failure::MdIo)
    }
}

/// Largest request the device builds and a peer must accept (`DRBD_MAX_BIO_SIZE`).
const DRBD_MAX_BIO_SIZE: u32 = 1 << 20;

/// A minor.
pub(crate) struct Device {
    // Dropped in declaration order: the gendisk goes first (no new openers or bios), then the
    // worker (its jobs may touch the lower device), then the lower devices.
    disk: Disk,
    worker: Worker,
    backing: Option<Backing>,
    /// Minor number (`/dev/drbd<minor>`).
    pub(crate) minor: u32,
    /// Volume number within the resource.
    pub(crate) volume: u32,
    /// What the I/O path reads.
    pub(crate) io: Arc<Drained<DeviceIo>>,
    /// Replicated state (roles, disks, connection) as DRBD defines it; while a link
    /// exists, the link's replica holds the current state.
    pub(crate) state: State,
    /// The connection to the peer (net config present).
    link: Option<(Arc<Link>, LinkThreads)>,
    /// Resync settings and `resync-after` from the disk configuration (while attached).
    options: DiskOptions,
    /// The whole disk configuration as given (`attach`, then `disk-options`), reported by
    /// GET_STATUS while a disk is attached.
    pub(crate) disk_conf: Option<KBox<StoredSet>>,
    /// The whole net configuration as given (`connect`, then `net-options`), reported by
    /// GET_STATUS while a net config exists.
    pub(crate) net_conf: Option<KBox<StoredSet>>,
    /// The `resync-after` board: this device's entry lives as long as the device.
    deps: Arc<Dependencies>,
    /// Where the link's handler threads (`fence-peer`, the helper thread) run.
    handler_runs: Arc<HandlerRuns>,
    /// State-change notifications (`DRBD_EVENT`).
    events: Arc<StateEvents>,
    /// The meta data at attach said "Primary, not connected" (a degraded cluster): `wait-connect`
    /// uses `degr-wfc-timeout` (drbd's `USE_DEGR_WFC_T`).
    degraded_at_attach: bool,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.end_link();
        // Normally detached already; either way no bio may be in flight to a lower device
        // when `backing` closes it.
        drop(self.io.take_backing());
        self.stop_activity_log();
        self.deps.remove(self.minor);
    }
}

impl Device {
    /// Create `/dev/drbd<minor>`: Secondary, diskless, unconnected.
    pub(crate) fn new(
        major: &Major,
        pool: &Arc<Pin<KBox<BioSet>>>,
        deps: &Arc<Dependencies>,
        handler_runs: &Arc<HandlerRuns>,
        minor: u32,
        volume: u32,
        resource: &[u8],
    ) -> Result<Self> {
        let events = StateEvents::new(minor, volume, resource, State::UNCONFIGURED)?;
        let io = Arc::pin_init(Drained::new(DeviceIo::new(pool.clone())), GFP_KERNEL)?;
        let worker = Worker::start(minor)?;
        let mut disk = Disk::new(major, minor, io.clone())?;
        disk.add()?;
        // Last: nothing fails after it, so the entry is removed by `drop` only.
        deps.add(minor)?;
        Ok(Self {
            minor,
            volume,
            io,
            state: State::UNCONFIGURED,
            backing: None,
            disk,
            worker,
            link: None,
            options: DiskOptions::DEFAULT,
            disk_conf: None,
            net_conf: None,
            deps: deps.clone(),
            handler_runs: handler_runs.clone(),
            events,
            degraded_at_attach: false,
        })
    }

    /// Whether a backing device is attached.
    /// The attached disk's `fencing` policy as configured (`None`: diskless).
    pub(crate) fn disk_fencing(&self) -> Option<Fencing> {
        self.backing.is_some().then_some(self.options.fencing)
    }

    pub(crate) fn has_disk(&self) -> bool {
        self.backing.is_some()
    }

    /// Current size of `/dev/drbdN` in sectors.
    pub(crate) fn capacity(&self) -> u64 {
        self.backing
            .as_ref()
            .map_or(0, |b| b.superblock.la_size_sect)
    }

    /// The generation UUIDs (zero when diskless).
    pub(crate) fn uuids(&self) -> [u64; 4] {
        if let Some((link, _)) = self.link.as_ref() {
            return link.status().uuids.to_array();
        }
        self.backing
            .as_ref()
            .map_or([0; 4], |b| b.superblock.uuids.to_array())
    }

    /// The meta-data flags (zero when diskless).
    /// `GET_TIMEOUT_TYPE`: which `startup` timeout `wait-connect` applies (`UT_*`).
    pub(crate) fn timeout_type(&self) -> u32 {
        use crate::drbd_core::genl::sets::timeout_type;
        if self.current_state().pdsk == DiskState::Outdated {
            timeout_type::PEER_OUTDATED
        } else if self.degraded_at_attach {
            timeout_type::DEGRADED
        } else {
            timeout_type::DEFAULT
        }
    }

    pub(crate) fn md_flags(&self) -> u32 {
        self.backing
            .as_ref()
            .map_or(0, |b| b.superblock.flags.bits())
    }

    /// Attach a backing device: open it (and the meta device), validate the meta data in the
    /// kernel's order, derive the disk state from its flags, then publish the size.
    pub(crate) fn attach(&mut self, p: &AttachParams<'_>) -> Result<(), Failure> {
        if self.backing.is_some() {
            return Err(Failure::DiskConfigured);
        }
        let layout = MdLayout::from_index(p.meta_dev_idx).map_err(Failure::Md)?;
        let holder = (self as *mut Self).cast();
        let lower = LowerDevice::open(p.backing_dev, holder).map_err(|_| Failure::OpenDisk)?;
        let meta = if layout.is_internal() {
            if p.meta_dev != p.backing_dev {
                return Err(Failure::Md(MdError::IndexInvalid {
                    index: p.meta_dev_idx,
                }));
            }
            None
        } else {
            let meta = LowerDevice::open(p.meta_dev, holder).map_err(|_| Failure::OpenMdDisk)?;
            layout
                .check_device(meta.same_device(&lower))
                .map_err(Failure::Md)?;
            Some(Arc::new(meta, GFP_KERNEL).map_err(|_| Failure::NoMemory)?)
        };
        let backing_sectors = lower.sectors();
        let meta_sectors = meta.as_ref().map_or(backing_sectors, |m| m.sectors());
        layout
            .check_meta_device_size(meta_sectors)
            .map_err(Failure::Md)?;

        let mut block = sys::zeroed_block::<MD_BLOCK_SIZE>().map_err(|_| Failure::NoMemory)?;
        let md_sector = layout.superblock_sector(meta_sectors);
        meta.as_deref()
            .unwrap_or(&lower)
            .read_block(md_sector, &mut block)
            .map_err(|_| Failure::MdIo)?;
        let (mut superblock, geometry) =
            meta_data::attach_check(&block, layout, meta_sectors).map_err(Failure::Md)?;

        // As drbd: the size the meta data last knew, unless the device is now smaller; an
        // explicit `size` wins if it fits. Growing is `resize`'s job.
        let my_max = geometry.max_capacity(backing_sectors);
        let (capacity, too_big) =
            meta_data::new_dev_size(my_max, 0, superblock.la_size_sect, p.disk_size);
        if too_big {
            return Err(Failure::Md(MdError::DiskTooSmall {
                need_sectors: p.disk_size,
                have_sectors: my_max,
            }));
        }
        meta_data::check_implicit_shrink(
            superblock.flags,
            superblock.la_size_sect,
            capacity,
            p.disk_size,
        )
        .map_err(Failure::Md)?;

        // The bitmap covers the size the meta data knew; a larger device gets its new blocks
        // marked out of sync (fresh meta data: the whole device, as drbd.ko does).
        let mut bitmap = DeviceBitmap::load(
            meta.as_deref().unwrap_or(&lower),
            geometry.bm_sector(),
            geometry.bitmap_area_sectors(),
            superblock.la_size_sect,
            capacity,
        )
        .map_err(|_| Failure::MdIo)?;
        let attach = superblock
            .flags
            .on_attach(p.options.fencing == Fencing::DontCare, false);
        let degraded = superblock.flags.contains(MdFlags::PRIMARY_IND)
            && !superblock.flags.contains(MdFlags::CONNECTED_IND);
        if attach.full_sync {
            // An interrupted "set all bits" (MDF_FULL_SYNC) or a crashed primary without AL.
            bitmap.set_all();
        }
        let mut new_state = self.state;
        new_state.disk = match attach.disk {
            AttachDisk::Inconsistent => DiskState::Inconsistent,
            AttachDisk::Outdated => DiskState::Outdated,
            AttachDisk::Consistent => DiskState::Consistent,
            AttachDisk::UpToDate => DiskState::UpToDate,
        };
        superblock.la_size_sect = capacity;
        superblock.flags = superblock
            .flags
            .recompute(FlagState::of(&new_state, attach.crashed_primary));
        superblock.flags.set(MdFlags::AL_DISABLED, !p.al_updates);

        let mut backing = Backing {
            lower: Arc::new(lower, GFP_KERNEL).map_err(|_| Failure::NoMemory)?,
            meta,
            geometry,
            superblock,
            al_submitter: None,
        };
        // Everything that can fail comes before anything is published: a failed attach
        // leaves the device as it was (diskless), only the meta data may have been written.
        self.disk
            .stack_limits(&backing.lower)
            .map_err(|_| Failure::OpenDisk)?;
        write_fresh_bitmap(&backing, &bitmap)?;
        backing.write_superblock()?;
        let al = if p.al_updates {
            let (al, submitter) = ActivityLog::start(
                self.minor,
                activity_log::effective_al_extents(p.al_extents, geometry.al),
                backing.meta_device_arc(),
                geometry,
                geometry.bitmap_area_sectors() / 8,
                self.io.clone(),
            )
            .map_err(|_| Failure::NoMemory)?;
            backing.al_submitter = Some(submitter);
            Some(al)
        } else {
            None
        };

        self.io.counters.reset_traffic();
        // Installed over `None` (attach requires a diskless device): nothing to free here.
        drop(self.io.replace_bitmap(Some(bitmap)));
        *self.io.al.lock() = al;
        *self.io.backing.lock() = Some(backing.lower.clone());
        self.disk.set_capacity(capacity);
        self.state = new_state;
        self.backing = Some(backing);
        self.options = p.options;
        self.apply_fencing();
        self.degraded_at_attach = degraded;
        pr_info!(
            "drbd{}: attached, {} sectors, disk {}\n",
            self.minor,
            capacity,
            new_state.disk.name()
        );
        Ok(())
    }

    /// Resize (`drbdsetup resize`): `size` in sectors (0 = as large as possible);
    /// `assume_peer_has_space` lets a node without a peer grow (there is nobody to agree with);
    /// `no_resync` (`--assume-clean`) leaves new blocks in sync. Internal meta data moves to the
    /// new end of a grown lower device.
    pub(crate) fn resize(
        &mut self,
        size: u64,
        assume_peer_has_space: bool,
        no_resync: bool,
    ) -> Result<(), Failure> {
        let Some(backing) = self.backing.as_ref() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        if self.link.is_some() {
            return Err(Failure::Unsupported("resize while a net config exists"));
        }
        let lower_sectors = backing.lower.sectors();
        let geometry = if backing.geometry.layout.is_internal() {
            MdGeometry::compute(
                MdLayout::Internal,
                lower_sectors,
                lower_sectors,
                backing.geometry.al,
            )
            .map_err(Failure::Md)?
        } else {
            backing.geometry
        };
        let my_max = geometry.max_capacity(lower_sectors);
        let peer = if assume_peer_has_space { my_max } else { 0 };
        let la_size = backing.superblock.la_size_sect;
        let (new_size, too_big) = meta_data::new_dev_size(my_max, peer, la_size, size);
        if too_big {
            return Err(Failure::Md(MdError::DiskTooSmall {
                need_sectors: size,
                have_sectors: my_max,
            }));
        }
        meta_data::check_implicit_shrink(backing.superblock.flags, la_size, new_size, size)
            .map_err(Failure::Md)?;
        if new_size == la_size && geometry == backing.geometry {
            return Ok(());
        }
        // Allocated before the bitmap lock (may sleep); swapped in under it, so that no mark
        // of a write running meanwhile is lost.
        let storage = DeviceBitmap::storage_for(new_size).map_err(|_| Failure::NoMemory)?;
        // Shrinking: stop I/O to the cut-off part before the meta data says so.
        if new_size < la_size {
            self.disk.set_capacity(new_size);
        }
        let Some(old_storage) = self.resize_bitmap(storage, !no_resync) else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        drop(old_storage);

        let Some(backing) = self.backing.as_mut() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        let (old_geometry, old_superblock) = (backing.geometry, backing.superblock);
        backing.geometry = geometry;
        backing.superblock.la_size_sect = new_size;
        backing.superblock.md_size_sect = geometry.md_size_sect;
        backing.superblock.al_offset = geometry.al_offset;
        backing.superblock.bm_offset = geometry.bm_offset;
        if let Err(e) = self.write_resized_meta_data(old_geometry) {
            // The meta data on disk still describes the old size (the superblock is written
            // last): go back to it. Blocks beyond the old end, or whose bits a shrink dropped,
            // are marked out of sync — at worst an extra resync, never a missed one.
            if let Some(backing) = self.backing.as_mut() {
                backing.geometry = old_geometry;
                backing.superblock = old_superblock;
            }
            match DeviceBitmap::storage_for(la_size) {
                Ok(storage) => drop(self.resize_bitmap(storage, true)),
                Err(_) => pr_warn!("drbd{}: no memory to restore the bitmap size\n", self.minor),
            }
            self.disk.set_capacity(la_size);
            return Err(e);
        }
        self.disk.set_capacity(new_size);
        pr_info!(
            "drbd{}: resized from {} to {} sectors\n",
            self.minor,
            la_size,
            new_size
        );
        Ok(())
    }

    /// Swap the attached bitmap for one of the size `storage` was made for; returns the old
    /// storage (dropped by the caller, outside the lock), or `None` when diskless.
    fn resize_bitmap(&self, storage: BitmapStorage, mark_new: bool) -> Option<BitmapStorage> {
        let mut guard = self.io.bitmap.lock();
        let bm = guard.as_mut()?;
        Some(bm.resize_into(storage, mark_new))
    }

    /// The writes of a resize, superblock last: an activity log at a new place (initialized;
    /// nothing to replay, it is not written yet), the bitmap, then the superblock.
    fn write_resized_meta_data(&mut self, old_geometry: MdGeometry) -> Result<(), Failure> {
        let backing = self
            .backing
            .as_ref()
            .ok_or(Failure::Ret(RetCode::ErrNoDisk))?;
        let geometry = backing.geometry;
        if geometry != old_geometry {
            // The activity log stays where it was until the next attach: it is not written
            // any more (a crash before then means a full resync, as with `al-updates no`).
            // Not under the spinlock: disabling waits for a transaction being written.
            let al = self.io.al.lock().clone();
            if let Some(al) = al {
                al.disable();
            }
            let mut slot = sys::zeroed_block::<MD_BLOCK_SIZE>().map_err(|_| Failure::NoMemory)?;
            activity_log::encode_initialized_slot(&mut slot);
            for i in 0..geometry.al.size_4k() {
                backing
                    .meta_device()
                    .write_block(geometry.al_sector() + i * 8, &slot, false)
                    .map_err(|_| Failure::MdIo)?;
            }
        }
        self.write_bitmap(backing)?;
        let backing = self
            .backing
            .as_mut()
            .ok_or(Failure::Ret(RetCode::ErrNoDisk))?;
        if geometry != old_geometry {
            backing.superblock.flags.set(MdFlags::AL_DISABLED, true);
        }
        backing.write_superblock()
    }

    /// Stop `drbdN_submit` and drop the activity log (no write may be in flight: after
    /// `take_backing`).
    fn stop_activity_log(&mut self) {
        if let Some(backing) = self.backing.as_mut() {
            drop(backing.al_submitter.take());
        }
        // Dropped outside the spinlock (the last reference closes the meta device).
        let al = self.io.al.lock().take();
        drop(al);
    }

    /// One step of becoming Primary (drbd's `drbd_set_role`, driven by the caller with the
    /// core's [`Promotion`]): `primary --force` promotes data that is not known to be
    /// UpToDate (the first promotion after create-md). Diskless without a peer is refused.
    /// [`PromoteNext::Fence`]: the caller runs the `fence-peer` handler with no lock held,
    /// tells `promotion`, and calls again.
    pub(crate) fn promote(&mut self, promotion: &mut Promotion) -> Result<PromoteNext, Failure> {
        let force = promotion.force();
        if let Some((link, _)) = self.link.as_ref() {
            let link = link.clone();
            // Openers see Primary only once the peer agreed.
            return match link.request_change(promotion.change(), force) {
                Ok(()) => {
                    self.state = link.state();
                    self.io
                        .set_primary(true)
                        .map_err(|_| Failure::State(StateError::DeviceInUse))?;
                    Ok(PromoteNext::Done)
                }
                Err(refused) => {
                    match promotion.refused(refused, link.state().disk, link.ping_timeout_ds()) {
                        PromotionStep::Retry => Ok(PromoteNext::Again),
                        PromotionStep::Fence => Ok(PromoteNext::Fence(link)),
                        PromotionStep::WaitMs(ms) => Ok(PromoteNext::Sleep(ms)),
                        PromotionStep::Fail(e) => Err(Failure::State(e)),
                    }
                }
            };
        }
        if self.state.role == Role::Primary {
            return Ok(PromoteNext::Done);
        }
        let Some(backing) = self.backing.as_mut() else {
            return Err(Failure::State(StateError::NoUpToDateDisk));
        };
        let mut ns = self.state;
        ns.role = Role::Primary;
        if ns.disk < DiskState::UpToDate {
            if !force || ns.disk < DiskState::Inconsistent {
                return Err(Failure::State(StateError::NoUpToDateDisk));
            }
            ns.disk = DiskState::UpToDate;
        }
        // No peer can have our data: a new current UUID tells it apart from what any former
        // peer has (drbd's "new current UUID" on promotion while disconnected).
        backing
            .superblock
            .uuids
            .promote(false, force, sys::random_u64());
        backing.superblock.flags = backing
            .superblock
            .flags
            .recompute(FlagState::of(&ns, false));
        backing.write_superblock()?;
        self.io
            .set_primary(true)
            .map_err(|_| Failure::State(StateError::DeviceInUse))?;
        self.state = ns;
        Ok(PromoteNext::Done)
    }

    /// Become Secondary; refused while `/dev/drbdN` is open.
    pub(crate) fn demote(&mut self) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            let link = link.clone();
            if link.state().role != Role::Primary {
                return Ok(());
            }
            self.io
                .set_primary(false)
                .map_err(|_| Failure::State(StateError::DeviceInUse))?;
            if let Err(e) = link.request_change(StateChange::new().role(Role::Secondary), false) {
                let _ = self.io.set_primary(true);
                return Err(Failure::State(e));
            }
            self.state = link.state();
            return Ok(());
        }
        if self.state.role != Role::Primary {
            return Ok(());
        }
        self.io
            .set_primary(false)
            .map_err(|_| Failure::State(StateError::DeviceInUse))?;
        let mut ns = self.state;
        ns.role = Role::Secondary;
        if let Err(e) = self.write_demoted_meta_data(&ns) {
            // Still Primary, in the I/O path as in the state (nobody could open the device
            // meanwhile: opens need a Primary).
            let _ = self.io.set_primary(true);
            return Err(e);
        }
        self.state = ns;
        Ok(())
    }

    /// The meta-data writes of a demotion to `ns`; the in-memory superblock changes only if
    /// they succeed.
    fn write_demoted_meta_data(&mut self, ns: &State) -> Result<(), Failure> {
        let Some(backing) = self.backing.as_ref() else {
            return Ok(());
        };
        self.write_bitmap(backing)?;
        let Some(backing) = self.backing.as_mut() else {
            return Ok(());
        };
        let before = backing.superblock;
        backing.superblock.uuids.demote();
        backing.superblock.flags = backing.superblock.flags.recompute(FlagState::of(ns, false));
        if let Err(e) = backing.write_superblock() {
            backing.superblock = before;
            return Err(e);
        }
        Ok(())
    }

    /// `new-current-uuid [--clear-bitmap]` (`drbd_adm_new_c_uuid`). With a net config the
    /// link's replica decides (drbd's "skip initial sync" while Connected, `ERR_CONNECTED`
    /// otherwise unless StandAlone). Without one the device is StandAlone: the UUIDs rotate
    /// (bitmap UUID into the history, a new current UUID), `clear_bitmap` clears and writes
    /// the bitmap, the disk state stays.
    pub(crate) fn new_current_uuid(&mut self, clear_bitmap: bool) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            let skipped = link.new_current_uuid(clear_bitmap).map_err(Failure::Ret)?;
            self.state = link.state();
            if skipped {
                pr_info!("drbd{}: skipped the initial sync\n", self.minor);
            }
            return Ok(());
        }
        let Some(backing) = self.backing.as_ref() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        // drbd answers a failed bitmap write with ERR_IO_MD_DISK and still writes the UUIDs.
        let mut bitmap_written = Ok(());
        if clear_bitmap {
            if let Some(bm) = self.io.bitmap.lock().as_mut() {
                bm.with_view(&mut |b| b.clear_all());
            }
            bitmap_written = self.write_bitmap(backing);
            if bitmap_written.is_err() {
                pr_err!("drbd{}: bitmap write failed\n", self.minor);
            }
        }
        let Some(backing) = self.backing.as_mut() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        let before = backing.superblock;
        backing.superblock.uuids.new_current_uuid_cmd(
            sys::random_u64(),
            self.state.role == Role::Primary,
            false,
        );
        if let Err(e) = backing.write_superblock() {
            backing.superblock = before;
            return Err(e);
        }
        bitmap_written
    }

    /// `invalidate` (`side` Target) / `invalidate-remote` (Source), `DRBD_ADM_INVALIDATE` /
    /// `DRBD_ADM_INVAL_PEER`. With a net config the link's replica decides (a connected pair
    /// starts a full sync, a StandAlone one marks everything). Without one the device is
    /// StandAlone: drbd's shortcut for a Secondary's invalidate (disk Inconsistent) and a
    /// Primary's invalidate-remote (peer disk Inconsistent) — every bit set and written, so
    /// the next connection resyncs the whole device in that direction; anything else needs
    /// a connection.
    pub(crate) fn invalidate(&mut self, side: FullSyncSide) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            link.invalidate(side)?;
            self.state = link.state();
            return Ok(());
        }
        let ctx = StateContext {
            device_open: self.io.is_open(),
            ..StateContext::default()
        };
        let ns = match plan_invalidate(&self.state, side, &ctx).map_err(refused)? {
            InvalidatePlan::MarkAll { state } => state.unwrap_or(self.state),
            // Only a connected pair starts a sync; the plan never says so StandAlone.
            InvalidatePlan::StartFullSync { .. } => {
                return Err(Failure::State(StateError::NeedConnection))
            }
        };
        let Some(backing) = self.backing.as_ref() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        if let Some(bm) = self.io.bitmap.lock().as_mut() {
            bm.with_view(&mut |b| {
                b.set_all();
            });
        }
        self.write_bitmap(backing)?;
        let Some(backing) = self.backing.as_mut() else {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        };
        backing.superblock.flags = backing
            .superblock
            .flags
            .recompute(FlagState::of(&ns, false));
        backing.write_superblock()?;
        self.state = ns;
        pr_info!(
            "drbd{}: marked the whole device out of sync: the next connection resyncs the {} disk completely\n",
            self.minor,
            match side {
                FullSyncSide::Target => "local",
                FullSyncSide::Source => "peer's",
            }
        );
        Ok(())
    }

    /// `verify` (`DRBD_ADM_START_OV`): online verify driven by this node; needs a connection.
    pub(crate) fn start_verify(
        &mut self,
        start_sector: Option<u64>,
        stop_sector: Option<u64>,
    ) -> Result<(), Failure> {
        let Some((link, _)) = self.link.as_ref() else {
            return Err(Failure::State(StateError::NeedConnection));
        };
        link.start_verify(start_sector, stop_sector)
            .map_err(Failure::State)?;
        self.state = link.state();
        Ok(())
    }

    /// `pause-sync` (`pause` true) / `resume-sync`: only a connection has a resync to pause;
    /// without one drbd answers as for a flag already in that position.
    pub(crate) fn pause_sync(&mut self, pause: bool) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            link.pause_sync(pause).map_err(refused)?;
            self.state = link.state();
            return Ok(());
        }
        let ctx = StateContext {
            device_open: self.io.is_open(),
            ..StateContext::default()
        };
        let ns = if pause {
            pause_sync_state(&self.state, &ctx)
        } else {
            resume_sync_state(&self.state, &ctx)
        }
        .map_err(refused)?;
        self.state = ns;
        Ok(())
    }

    /// `outdate` (`DRBD_ADM_OUTDATE`): the disk becomes Outdated, as far as the state rules
    /// allow (drbd's: a Primary and a disk below Outdated are refused; while Connected the
    /// change vanishes, nothing happens).
    /// With a net config the link's replica makes the change (and writes the meta data);
    /// without one the flags are written here (`MDF_WAS_UP_TO_DATE` cleared).
    pub(crate) fn outdate(&mut self) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            let link = link.clone();
            link.request_change(StateChange::new().disk(DiskState::Outdated), false)
                .map_err(Failure::State)?;
            self.state = link.state();
            return Ok(());
        }
        let ctx = StateContext {
            device_open: self.io.is_open(),
            ..StateContext::default()
        };
        let Some(ns) = outdate_state(&self.state, &ctx).map_err(refused)? else {
            return Ok(());
        };
        let Some(backing) = self.backing.as_mut() else {
            return Err(Failure::State(StateError::LowerThanOutdated));
        };
        let before = backing.superblock;
        backing.superblock.flags = backing
            .superblock
            .flags
            .recompute(FlagState::of(&ns, false));
        if let Err(e) = backing.write_superblock() {
            backing.superblock = before;
            return Err(e);
        }
        self.state = ns;
        pr_info!("drbd{}: disk Outdated\n", self.minor);
        Ok(())
    }

    /// Detach the backing device. A Primary without a peer would lose its only data and is
    /// refused.
    pub(crate) fn detach(&mut self) -> Result<(), Failure> {
        if self.backing.is_none() {
            return Ok(());
        }
        if self.link.is_some() {
            return Err(Failure::Unsupported("detach while a net config exists"));
        }
        if self.state.role == Role::Primary {
            return Err(Failure::State(StateError::NoUpToDateDisk));
        }
        // No new bio sees the lower device, and none is in flight to it when this returns:
        // dropping `backing` below closes it, so it can be attached again at once.
        drop(self.io.take_backing());
        self.worker.flush();
        if let Some(backing) = self.backing.as_ref() {
            // Best effort: the disk is going away either way; drbd.ko logs and continues.
            if self.write_bitmap(backing).is_err() {
                pr_warn!("drbd{}: bitmap write failed on detach\n", self.minor);
            }
        }
        if let Some(backing) = self.backing.as_mut() {
            backing.superblock.flags = backing
                .superblock
                .flags
                .recompute(FlagState::of(&self.state, false));
            if backing.write_superblock().is_err() {
                pr_warn!("drbd{}: meta-data write failed on detach\n", self.minor);
            }
        }
        drop(self.io.replace_bitmap(None));
        self.stop_activity_log();
        self.backing = None;
        self.options = DiskOptions::DEFAULT;
        self.apply_fencing();
        self.disk.set_capacity(0);
        self.state.disk = DiskState::Diskless;
        pr_info!("drbd{}: detached\n", self.minor);
        Ok(())
    }

    /// Write the attached bitmap to the meta data, every page, stable on return
    /// ([`write_bitmap_pages`]).
    fn write_bitmap(&self, backing: &Backing) -> Result<(), Failure> {
        write_bitmap_pages(&self.io, &backing.bitmap_area(), PageSelection::All)
            .map(|_| ())
            .map_err(|_| Failure::MdIo)
    }

    /// The state as the admin interface reports it (the link's while connected).
    pub(crate) fn current_state(&self) -> State {
        match self.link.as_ref() {
            Some((l, _)) => l.state(),
            None => self.standalone_state(),
        }
    }

    /// The device's own state (no link), with the `aftr_isp` the `resync-after` board keeps
    /// for it.
    fn standalone_state(&self) -> State {
        State {
            aftr_isp: self.deps.aftr_isp(self.minor),
            ..self.state
        }
    }

    /// What the `resync-after` rules see of this device.
    pub(crate) fn dependency_node(&self) -> DependencyNode {
        DependencyNode {
            state: self.current_state(),
            has_disk: self.has_disk(),
            resync_after: self.options.resync_after,
        }
    }

    /// Tell the `resync-after` board what changed here (after every admin request; the
    /// caller runs the pass).
    pub(crate) fn publish_dependencies(&self) {
        self.deps.update(
            self.minor,
            self.has_disk(),
            self.options.resync_after,
            self.state,
            self.link.as_ref().map(|(l, _)| l),
        );
    }

    /// `disk-options`: new resync settings and `resync-after` (validated by the caller); a
    /// connection uses the settings at once and sends them to the peer.
    pub(crate) fn change_disk_options(&mut self, options: DiskOptions) -> Result<(), Failure> {
        if self.backing.is_none() {
            return Err(Failure::Ret(RetCode::ErrNoDisk));
        }
        if let Some((link, _)) = self.link.as_ref() {
            if options.sync != self.options.sync {
                link.change_sync_settings(options.sync);
            }
        }
        self.options = options;
        self.apply_fencing();
        Ok(())
    }

    /// The fencing policy the replica applies: the disk's. `resource-and-stonith` would
    /// also freeze I/O until the handler has answered; drbd_rs does not freeze I/O yet, so
    /// it is applied as `resource-only` (warned at attach and in Documentation/failover.md).
    fn effective_fencing(&self) -> Fencing {
        match self.options.fencing {
            Fencing::ResourceAndStonith => Fencing::ResourceOnly,
            f => f,
        }
    }

    fn apply_fencing(&self) {
        if self.options.fencing == Fencing::ResourceAndStonith {
            pr_warn!(
                "drbd{}: fencing resource-and-stonith: I/O is not frozen while fence-peer runs (not implemented); fencing as resource-only\n",
                self.minor
            );
        }
        if let Some((link, _)) = self.link.as_ref() {
            link.set_fencing(self.effective_fencing());
        }
    }

    /// Whether a net config exists.
    pub(crate) fn has_link(&self) -> bool {
        self.link.is_some()
    }

    /// The connection's own and peer address, while a net config exists.
    pub(crate) fn link_addresses(&self) -> Option<(SockAddr, SockAddr)> {
        self.link.as_ref().map(|(l, _)| l.addresses())
    }

    /// `connect`: start the connection to the peer (StandAlone → WFConnection).
    pub(crate) fn connect(&mut self, config: LinkConfig, net: NetSettings) -> Result<(), Failure> {
        if let Some((link, _)) = self.link.as_ref() {
            // A connection that ended by itself (split brain, refused handshake) is
            // StandAlone with its net config still there; drbd takes a new `connect` then
            // (the split-brain victim's `connect --discard-my-data`).
            if link.state().conn != ConnState::StandAlone {
                return Err(Failure::Ret(RetCode::ErrNetConfigured));
            }
            self.end_link();
        }
        let Some(backing) = self.backing.as_ref() else {
            return Err(Failure::Unsupported("connecting without a local disk"));
        };
        // With the `aftr_isp` the board kept: a resync that starts starts paused.
        let mut state = self.standalone_state();
        state.conn = ConnState::StandAlone;
        let geometry = DiskGeometry {
            usable_sectors: backing.geometry.max_capacity(backing.lower.sectors()),
            user_sectors: 0,
            capacity_sectors: backing.superblock.la_size_sect,
            max_bio_size: DRBD_MAX_BIO_SIZE,
            ..DiskGeometry::default()
        };
        let start = LinkStart {
            minor: self.minor,
            state,
            geometry,
            lower: backing.lower.clone(),
            pool: self.io.pool.clone(),
            io: self.io.clone(),
            meta: MetaStore {
                data: backing.lower.clone(),
                device: backing.meta_device_arc(),
                md_offset: backing.geometry.md_offset,
                bm_sector: backing.geometry.bm_sector(),
                bm_area_sectors: backing.geometry.bitmap_area_sectors(),
                superblock: backing.superblock,
            },
            config,
            net,
            sync: self.options.sync,
            worker_wake: self.worker.wakeup(),
            events: self.events.clone(),
            deps: self.deps.clone(),
            handler_runs: self.handler_runs.clone(),
            fencing: self.effective_fencing(),
        };
        // drbd counts `ns nr` per connection: a `connect` starts them over.
        self.io.counters.reset_network();
        let (link, threads) = Link::start(start).map_err(|_| Failure::NoMemory)?;
        let service: Arc<dyn Service> = link.clone();
        self.worker.set_service(Some(service));
        *self.io.link.lock() = Some(link.clone());
        self.link = Some((link, threads));
        self.publish_dependencies();
        Ok(())
    }

    /// New net options for an existing connection.
    pub(crate) fn change_net_options(&mut self, net: NetSettings) -> Result<(), Failure> {
        match self.link.as_ref() {
            Some((link, _)) => link.change_net_options(net).map_err(Failure::Ret),
            None => Err(Failure::Ret(RetCode::ErrInvalidRequest)),
        }
    }

    /// `disconnect`: tell the peer, stop the connection's threads, keep what the
    /// connection decided (state, UUIDs) for the StandAlone device.
    pub(crate) fn disconnect(&mut self) -> Result<(), Failure> {
        let Some((link, _)) = self.link.as_ref() else {
            return Err(Failure::State(StateError::AlreadyStandalone));
        };
        // A peer that does not answer is left anyway (as `disconnect --force`).
        let _ = link.disconnect();
        self.end_link();
        Ok(())
    }

    /// Tear the link down: no new bio reaches it, its threads stop, its I/O completes.
    fn end_link(&mut self) {
        let Some((link, mut threads)) = self.link.take() else {
            return;
        };
        // No pass hands the link a verdict from now on (one in progress has finished when
        // this returns); the board keeps its last `aftr_isp` for the StandAlone device.
        self.deps.update(
            self.minor,
            self.has_disk(),
            self.options.resync_after,
            link.state(),
            None,
        );
        drop(self.io.link.lock().take());
        // Submissions that still saw the link have left it when this returns.
        self.io.wait_idle();
        // The worker's service may be blocked sending to a dead peer: wake it first.
        link.halt();
        self.worker.set_service(None);
        let superblock = link.stop(&mut threads);
        // What the link changed last goes out before the StandAlone that follows.
        link.announce_states();
        let mut state = link.state();
        state.conn = ConnState::StandAlone;
        state.peer = Role::Unknown;
        state.pdsk = DiskState::DUnknown;
        self.state = state;
        if let Some(backing) = self.backing.as_mut() {
            backing.superblock = superblock;
        }
        if let Some(backing) = self.backing.as_ref() {
            if self.write_bitmap(backing).is_err() {
                pr_warn!("drbd{}: bitmap write failed on disconnect\n", self.minor);
            }
        }
        pr_info!("drbd{}: disconnected\n", self.minor);
    }

    /// Out-of-sync and total bits of the bitmap (zero when diskless).
    pub(crate) fn bitmap_weight(&self) -> (u64, u64) {
        self.io.bitmap_weight().unwrap_or((0, 0))
    }

    /// What a status message (GET_STATUS, `DRBD_EVENT`) says about this minor now.
    pub(crate) fn snapshot(&self) -> StatusSnapshot<'_> {
        let disk = self.has_disk().then(|| {
            let (oos_bits, total_bits) = self.bitmap_weight();
            DiskStatus {
                md_flags: self.md_flags(),
                oos_bits,
                total_bits,
                resync: self
                    .link
                    .as_ref()
                    .and_then(|(link, _)| link.status().resync),
            }
        });
        StatusSnapshot {
            minor: self.minor,
            volume: self.volume,
            resource: &self.events.resource,
            state: self.current_state(),
            capacity: self.capacity(),
            uuids: self.uuids(),
            disk,
            counters: self.io.counters.snapshot(),
        }
    }

    /// Send `DRBD_EVENT`s for the state changes not announced yet (the connection's in
    /// order while it exists, else the device's own after an admin operation).
    pub(crate) fn announce_state(&self) {
        match self.link.as_ref() {
            Some((link, _)) => link.announce_states(),
            None => self.events.announce(|| {
                let mut states = KVec::new();
                // Without memory for the list nothing is announced; the next change is.
                let _ = states.push(self.standalone_state(), GFP_KERNEL);
                (states, self.snapshot())
            }),
        }
    }

    /// What /proc/drbd shows for this minor.
    pub(crate) fn status(&self) -> DeviceStatus {
        let link = self.link.as_ref().map(|(l, _)| l.status());
        DeviceStatus {
            minor: self.minor,
            state: match link.as_ref() {
                Some(l) => l.state,
                None => self.standalone_state(),
            },
            protocol: link.as_ref().map(|l| l.protocol),
            // AL updates are pointless while every block is out of sync anyway (and no peer
            // is connected): drbd.ko shows them suspended then.
            al_suspended: self.has_disk() && {
                let (set, bits) = self.bitmap_weight();
                set == bits
            },
            counters: self.io.counters.snapshot(),
            oos_bits: self.bitmap_weight().0,
            sync: link.and_then(|l| l.sync).unwrap_or_default(),
            ..DeviceStatus::default()
        }
    }
}

/// Write the bitmap `attach` just loaded (not published yet: no I/O of the device can have
/// changed it) whole; the superblock write that follows makes it stable.
fn write_fresh_bitmap(backing: &Backing, bitmap: &DeviceBitmap) -> Result<(), Failure> {
    let mut page = sys::zeroed_block::<BM_PAGE_SIZE>().map_err(|_| Failure::NoMemory)?;
    // Never past the bitmap area (see `DeviceBitmap::load`: what does not fit is marked out
    // of sync at the next attach).
    let pages = bitmap
        .pages()
        .min(backing.geometry.bitmap_area_sectors() / 8);
    for p in 0..pages {
        bitmap.page(p, &mut page);
        backing
            .meta_device()
            .write_block(backing.geometry.bm_sector() + p * 8, &page, false)
            .map_err(|_| Failure::MdIo)?;
    }
    Ok(())
}

/// A refusal of the core's resync controls as the genl reply reports it.
fn refused(r: AdminRefusal) -> Failure {
    match r {
        AdminRefusal::Ret(code) => Failure::Ret(code),
        AdminRefusal::State(e) => Failure::State(e),
    }
}
