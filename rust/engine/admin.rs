// SPDX-License-Identifier: GPL-2.0
//! Admin requests over generic netlink, with DRBD 8.4's semantics: validation and target
//! lookup as `drbd_adm_prepare` does them, one reply per request carrying the result code.

use core::ffi::{c_int, c_long, CStr};
use core::fmt::Write;

use kernel::prelude::*;
use kernel::sync::Arc;

use super::device::{AttachParams, Device, PromoteNext};
use super::events::{write_status_message, Reason, StatusConfig};
use super::{Drbd, Failure, Registry, Resource, MINOR_MAX, VOLUME_MAX};
use crate::drbd_core::activity_log;
use crate::drbd_core::genl::addr::SockAddr as GenlSockAddr;
use crate::drbd_core::genl::build::{write_reply, ReplyHeader};
use crate::drbd_core::genl::commands::{command, Command};
use crate::drbd_core::genl::msg::{
    Message, GENL_HDRLEN, MINOR_NONE, NLMSG_HDRLEN, NLM_F_EXCL, NLM_F_MULTI,
};
use crate::drbd_core::genl::request::{validate_message, ValidRequest};
use crate::drbd_core::genl::ret_code::{ReplyCode, RetCode};
use crate::drbd_core::genl::sets::{SetDef, DISK_CONF, NET_CONF, RES_OPTS};
use crate::drbd_core::genl::stored::StoredSet;
use crate::drbd_core::genl::typed::{
    CfgContext, DiskConf, EncodeOpts, NetConf, NewCUuidParms, ResizeParms, SetEncode, SetRoleParms,
    StartOvParms, TimeoutParms,
};
use crate::drbd_core::genl::validate::Outcome;
use crate::drbd_core::genl::writer::Writer;
use crate::drbd_core::replication::connection::NetSettings;
use crate::drbd_core::replication::fencing::Promotion;
use crate::drbd_core::replication::settings::{
    check_net_for_device, cpu_mask_valid, net_settings, DiskOptions, Refused,
};
use crate::drbd_core::replication::sync_control::{check_resync_after, FullSyncSide};
use crate::drbd_core::text_buf::TextBuf;
use crate::engine::link::LinkConfig;
use crate::glue::genl::{CommandSpec, DumpOut, GenlHandler, Reply};
use crate::glue::socket::{BufferSizes, SockAddr};
use crate::glue::sys;

/// Commands this module answers (others get EOPNOTSUPP from the genetlink core).
const SUPPORTED: &[Command] = &[
    Command::GetStatus,
    Command::NewMinor,
    Command::DelMinor,
    Command::NewResource,
    Command::DelResource,
    Command::Attach,
    Command::Primary,
    Command::Secondary,
    Command::Detach,
    Command::Down,
    Command::Resize,
    Command::Connect,
    Command::Disconnect,
    Command::ChgNetOpts,
    Command::GetTimeoutType,
    Command::NewCUuid,
    Command::Invalidate,
    Command::InvalPeer,
    Command::PauseSync,
    Command::ResumeSync,
    Command::StartOv,
    Command::ChgDiskOpts,
    Command::ResourceOpts,
    Command::Outdate,
    Command::SuspendIo,
    Command::ResumeIo,
];

/// The genetlink ops to register, from the core's command table.
pub(crate) fn commands() -> impl Iterator<Item = CommandSpec> {
    SUPPORTED
        .iter()
        .filter_map(|c| command(*c as u8))
        .map(|def| CommandSpec {
            cmd: def.number(),
            admin: def.admin_perm,
            doit: def.doit,
            dumpit: def.dumpit,
        })
}

/// Size of one reply message (headers + a few sets); status replies are the largest.
const REPLY_BUF: usize = 4096;

/// Extra detail for the reply's `info_text`.
type InfoText = TextBuf<256>;

/// The generic-netlink handler of the module.
pub(crate) struct Admin {
    drbd: Arc<Drbd>,
}

impl Admin {
    pub(crate) fn new(drbd: Arc<Drbd>) -> Self {
        Self { drbd }
    }
}

impl GenlHandler for Admin {
    fn doit(&self, msg: &[u8], reply: &mut Reply<'_>) -> c_int {
        let Ok(message) = Message::parse(msg) else {
            return EINVAL.to_errno();
        };
        let mut buf = match KVec::from_elem(0u8, REPLY_BUF, GFP_KERNEL) {
            Ok(b) => b,
            Err(_) => return ENOMEM.to_errno(),
        };
        let mut info = InfoText::new();
        let (code, echo) = match validate_message(message, false) {
            Ok(req) => {
                if req.cmd.cmd == Command::GetStatus {
                    return self.drbd.get_status(&req, reply, &mut buf);
                }
                if req.cmd.cmd == Command::GetTimeoutType {
                    return self.drbd.get_timeout_type(&req, reply, &mut buf);
                }
                let result = self.drbd.dispatch(&req, &mut info);
                self.drbd.refresh_dependencies();
                self.drbd.announce_states();
                let code = match result {
                    Ok(()) => ReplyCode::Ret(RetCode::NoError),
                    Err(f) => {
                        if info.as_bytes().is_empty() {
                            let _ = write!(info, "{f}");
                        }
                        ReplyCode::from_raw(f.code())
                    }
                };
                (code, req.context_attr)
            }
            // As 6.12: most refusals are drbd replies, broken framing is a netlink error.
            Err(e) => match e.outcome() {
                Outcome::Reply {
                    ret_code,
                    info_text,
                } => {
                    let _ = info.write_str(info_text);
                    (ReplyCode::Ret(ret_code), None)
                }
                Outcome::Netlink { errno } => return -errno.abs(),
            },
        };
        let header = reply_header(message.cmd(), message.drbd.minor, 0, code);
        let mut w = Writer::new(&mut buf);
        let Ok(len) = write_reply(
            &mut w,
            &header,
            echo.as_ref(),
            Some(info.as_bytes()),
            &[],
            &EncodeOpts::KERNEL,
        ) else {
            return ENOMEM.to_errno();
        };
        send(reply, message.cmd(), &buf[..len])
    }

    fn dumpit(&self, msg: &[u8], cursor: &mut [c_long], out: &mut DumpOut<'_>) -> c_int {
        let Ok(req) = Message::parse(msg)
            .map_err(|_| ())
            .and_then(|m| validate_message(m, false).map_err(|_| ()))
        else {
            return EINVAL.to_errno();
        };
        if req.cmd.cmd != Command::GetStatus {
            return crate::glue::errno::eopnotsupp().to_errno();
        }
        self.drbd.dump_status(&req, cursor, out)
    }
}

fn reply_header(cmd: u8, minor: u32, nl_flags: u16, ret: ReplyCode) -> ReplyHeader {
    // Family, sequence and port id are filled in by the netlink layer (genlmsg_put*).
    ReplyHeader {
        family: 0,
        cmd,
        nl_flags,
        seq: 0,
        pid: 0,
        minor,
        ret,
    }
}

/// The glue takes the part after `genlmsghdr` (family header + attributes).
fn family_payload(message: &[u8]) -> &[u8] {
    message.get(NLMSG_HDRLEN + GENL_HDRLEN..).unwrap_or(&[])
}

fn send(reply: &mut Reply<'_>, cmd: u8, message: &[u8]) -> c_int {
    match reply.send(cmd, family_payload(message)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `path` from a netlink string attribute, as a C string (the attribute is NUL-terminated
/// after validation; the NUL is part of the bytes or directly follows them).
fn c_str_of<'s>(bytes: &[u8], storage: &'s mut [u8; 128]) -> Option<&'s CStr> {
    let bytes = bytes.split(|b| *b == 0).next().unwrap_or(&[]);
    if bytes.is_empty() || bytes.len() >= storage.len() {
        return None;
    }
    storage[..bytes.len()].copy_from_slice(bytes);
    storage[bytes.len()] = 0;
    CStr::from_bytes_with_nul(&storage[..=bytes.len()]).ok()
}

impl Drbd {
    /// Run one validated admin request (not GET_STATUS).
    fn dispatch(&self, req: &ValidRequest<'_>, info: &mut InfoText) -> Result<(), Failure> {
        let mut reg = self.registry.lock();
        let ctx_name = req.context.and_then(|c| c.ctx_resource_name).map(trim_nul);
        match req.cmd.cmd {
            Command::NewResource => {
                let name = ctx_name.ok_or(Failure::Ret(RetCode::ErrMandatoryTag))?;
                if reg.resource_id(name).is_some() {
                    return if req.msg.nl.flags & NLM_F_EXCL != 0 {
                        let _ = info.write_str("resource exists");
                        Err(Failure::Ret(RetCode::ErrInvalidRequest))
                    } else {
                        Ok(())
                    };
                }
                let mut resource = Resource::new(name).ok_or_else(|| {
                    let _ = info.write_str("invalid resource name");
                    Failure::Ret(RetCode::ErrInvalidRequest)
                })?;
                apply_res_opts(&mut resource.res_opts, req, false, info)?;
                let id = reg.next_resource;
                reg.next_resource = reg.next_resource.wrapping_add(1);
                reg.resources
                    .try_create_and_insert(id, resource, GFP_KERNEL)
                    .map_err(|_| Failure::NoMemory)?;
                Ok(())
            }
            Command::ResourceOpts => {
                // drbd_adm_resource_opts: the current options (the defaults with
                // --set-defaults), the request's over them.
                let res = lookup_resource(&reg, ctx_name, info)?;
                let resource = reg
                    .resources
                    .get_mut(&res)
                    .ok_or(Failure::Ret(RetCode::ErrResNotKnown))?;
                let mut opts = resource.res_opts;
                apply_res_opts(&mut opts, req, req.set_defaults(), info)?;
                resource.res_opts = opts;
                Ok(())
            }
            Command::NewMinor => {
                let res = lookup_resource(&reg, ctx_name, info)?;
                let minor = req.minor();
                let volume = req.context.and_then(|c| c.ctx_volume).unwrap_or(u32::MAX);
                if minor > MINOR_MAX {
                    let _ = info.write_str("requested minor out of range");
                    return Err(Failure::Ret(RetCode::ErrInvalidRequest));
                }
                if volume > VOLUME_MAX {
                    let _ = info.write_str("requested volume id out of range");
                    return Err(Failure::Ret(RetCode::ErrInvalidRequest));
                }
                if let Some((r, dev)) = reg.devices.get(&minor) {
                    let same = *r == res && dev.volume == volume;
                    return if same && req.msg.nl.flags & NLM_F_EXCL == 0 {
                        Ok(())
                    } else {
                        Err(Failure::Ret(RetCode::ErrMinorOrVolumeExists))
                    };
                }
                if reg.devices_of(res).any(|d| d.volume == volume) {
                    return Err(Failure::Ret(RetCode::ErrMinorOrVolumeExists));
                }
                let name = reg.resources.get(&res).map_or(&[][..], |r| r.name());
                let dev = Device::new(
                    &self.major,
                    &self.pool,
                    &self.deps,
                    &self.handler_runs,
                    minor,
                    volume,
                    name,
                )
                .map_err(|e| {
                    // drbd's reply codes have no "other kernel error": say which one it was.
                    let _ = write!(
                        info,
                        "cannot create /dev/drbd{minor}: error {}",
                        e.to_errno()
                    );
                    pr_err!(
                        "drbd{minor}: cannot create the device: error {}\n",
                        e.to_errno()
                    );
                    if e == ENOMEM {
                        Failure::NoMemory
                    } else {
                        Failure::Ret(RetCode::ErrMinorOrVolumeExists)
                    }
                })?;
                reg.devices
                    .try_create_and_insert(minor, (res, dev), GFP_KERNEL)
                    .map_err(|_| Failure::NoMemory)?;
                Ok(())
            }
            Command::DelMinor => {
                let minor = lookup_minor(&reg, req, info)?;
                let dev = device(&mut reg, minor)?;
                if dev.has_disk()
                    || dev.has_link()
                    || dev.current_state().role == crate::drbd_core::state::Role::Primary
                {
                    return Err(Failure::Ret(RetCode::ErrMinorConfigured));
                }
                reg.devices.remove(&minor);
                Ok(())
            }
            Command::DelResource => {
                let res = lookup_resource(&reg, ctx_name, info)?;
                if reg.devices_of(res).next().is_some() {
                    return Err(Failure::Ret(RetCode::ErrResInUse));
                }
                reg.resources.remove(&res);
                Ok(())
            }
            Command::Attach => {
                let minor = lookup_minor(&reg, req, info)?;
                let conf: DiskConf<'_> = req.get().ok_or(Failure::Ret(RetCode::ErrMandatoryTag))?;
                let mut backing_storage = [0u8; 128];
                let mut meta_storage = [0u8; 128];
                let backing_dev = conf
                    .backing_dev
                    .and_then(|b| c_str_of(b, &mut backing_storage))
                    .ok_or(Failure::OpenDisk)?;
                let meta_dev = conf
                    .meta_dev
                    .and_then(|b| c_str_of(b, &mut meta_storage))
                    .ok_or(Failure::OpenMdDisk)?;
                let params = AttachParams {
                    backing_dev,
                    meta_dev,
                    meta_dev_idx: conf.meta_dev_idx.unwrap_or(-1),
                    disk_size: conf.disk_size.unwrap_or(0),
                    options: DiskOptions::of_attach(&conf),
                    al_extents: conf.al_extents.unwrap_or(activity_log::AL_EXTENTS_DEFAULT),
                    al_updates: conf.al_updates.unwrap_or(true),
                };
                // drbd_resync_after_valid, before anything is opened.
                check_resync_after(minor, params.options.resync_after, |m| {
                    reg.devices.get(&m).map(|(_, d)| d.dependency_node())
                })
                .map_err(Failure::Ret)?;
                let mut stored = boxed_set(&DISK_CONF, None)?;
                if let Some(view) = req.view(&DISK_CONF) {
                    stored.apply(&view, false);
                }
                let dev = device(&mut reg, minor)?;
                dev.attach(&params)?;
                dev.disk_conf = Some(stored);
                Ok(())
            }
            Command::ChgDiskOpts => {
                // drbd_adm_disk_opts: the current options (the defaults with
                // --set-defaults), the request's over them; needs a disk.
                let minor = lookup_minor(&reg, req, info)?;
                let dev = device(&mut reg, minor)?;
                if !dev.has_disk() {
                    return Err(Failure::Ret(RetCode::ErrNoDisk));
                }
                let mut stored = boxed_set(&DISK_CONF, dev.disk_conf.as_deref())?;
                if req.set_defaults() {
                    stored.reset_defaults(true);
                }
                if let Some(view) = req.view(&DISK_CONF) {
                    stored.apply(&view, true);
                }
                let mut buf =
                    KVec::from_elem(0u8, REPLY_BUF, GFP_KERNEL).map_err(|_| Failure::NoMemory)?;
                let view = stored
                    .view(&mut buf)
                    .ok_or(Failure::Ret(RetCode::ErrInvalidRequest))?;
                let options = DiskOptions::of_attach(&DiskConf::from_view(&view));
                check_resync_after(minor, options.resync_after, |m| {
                    reg.devices.get(&m).map(|(_, d)| d.dependency_node())
                })
                .map_err(Failure::Ret)?;
                let dev = device(&mut reg, minor)?;
                dev.change_disk_options(options)?;
                dev.disk_conf = Some(stored);
                Ok(())
            }
            Command::Primary => {
                let minor = lookup_minor(&reg, req, info)?;
                let force = req
                    .get::<SetRoleParms>()
                    .and_then(|p| p.assume_uptodate)
                    .unwrap_or(false);
                // drbd_set_role: the fence-peer handler and the waits run without the
                // registry (the handler reads /proc/drbd); the promotion's tries are bounded.
                let mut promotion = Promotion::new(force);
                loop {
                    match device(&mut reg, minor)?.promote(&mut promotion)? {
                        PromoteNext::Done => break Ok(()),
                        PromoteNext::Again => {}
                        PromoteNext::Fence(link) => {
                            drop(reg);
                            let outdated = link.outdate_peer();
                            drop(link);
                            reg = self.registry.lock();
                            if let Some(warning) = promotion.fenced(outdated) {
                                pr_warn!("drbd{minor}: {warning}\n");
                            }
                        }
                        PromoteNext::Sleep(ms) => {
                            drop(reg);
                            sys::sleep_ms(ms);
                            reg = self.registry.lock();
                        }
                    }
                }
            }
            Command::Secondary => {
                let minor = lookup_minor(&reg, req, info)?;
                device(&mut reg, minor)?.demote()
            }
            Command::Resize => {
                let minor = lookup_minor(&reg, req, info)?;
                let parms = req.get::<ResizeParms>().unwrap_or_default();
                let geometry_change = parms.al_stripes.is_some_and(|s| s != 1)
                    || parms.al_stripe_size.is_some_and(|s| s != 32);
                if geometry_change {
                    let _ = info.write_str("changing the activity-log layout is not supported");
                    return Err(Failure::Ret(RetCode::ErrInvalidRequest));
                }
                device(&mut reg, minor)?.resize(
                    parms.resize_size.unwrap_or(0),
                    parms.resize_force.unwrap_or(false),
                    parms.no_resync.unwrap_or(false),
                )
            }
            Command::NewCUuid => {
                let minor = lookup_minor(&reg, req, info)?;
                let clear_bitmap = req
                    .get::<NewCUuidParms>()
                    .and_then(|p| p.clear_bm)
                    .unwrap_or(false);
                device(&mut reg, minor)?.new_current_uuid(clear_bitmap)
            }
            Command::Detach => {
                let minor = lookup_minor(&reg, req, info)?;
                device(&mut reg, minor)?.detach()
            }
            Command::Invalidate | Command::InvalPeer => {
                let minor = lookup_minor(&reg, req, info)?;
                let side = if req.cmd.cmd == Command::Invalidate {
                    FullSyncSide::Target
                } else {
                    FullSyncSide::Source
                };
                device(&mut reg, minor)?.invalidate(side)
            }
            Command::StartOv => {
                let minor = lookup_minor(&reg, req, info)?;
                let parms = req.get::<StartOvParms>().unwrap_or_default();
                // drbdsetup-84 sends "no stop" as the largest sector.
                let stop = parms.ov_stop_sector.filter(|s| *s != u64::MAX);
                device(&mut reg, minor)?.start_verify(parms.ov_start_sector, stop)
            }
            Command::Outdate => {
                let minor = lookup_minor(&reg, req, info)?;
                device(&mut reg, minor)?.outdate()
            }
            Command::SuspendIo | Command::ResumeIo => {
                // The I/O path does not hold requests (no suspended state there yet): say so
                // rather than pretend.
                lookup_minor(&reg, req, info)?;
                let _ = info.write_str(
                    "suspend-io/resume-io are not supported by drbd_rs (application I/O cannot be held)",
                );
                Err(Failure::Ret(RetCode::ErrInvalidRequest))
            }
            Command::PauseSync | Command::ResumeSync => {
                let minor = lookup_minor(&reg, req, info)?;
                device(&mut reg, minor)?.pause_sync(req.cmd.cmd == Command::PauseSync)
            }
            Command::Connect => {
                let res = lookup_resource(&reg, ctx_name, info)?;
                let minor = single_volume(&reg, res, info)?;
                let ctx = req.context.ok_or(Failure::Ret(RetCode::ErrMandatoryTag))?;
                let addr = |b: Option<&[u8]>| -> Result<SockAddr, Failure> {
                    b.and_then(GenlSockAddr::decode)
                        .and_then(|a| SockAddr::try_from(a).ok())
                        .ok_or(Failure::Ret(RetCode::ErrInvalidRequest))
                };
                let my_addr = addr(ctx.ctx_my_addr)?;
                let peer_addr = addr(ctx.ctx_peer_addr)?;
                let mut stored = boxed_set(&NET_CONF, None)?;
                if let Some(view) = req.view(&NET_CONF) {
                    stored.apply(&view, false);
                }
                let mut buf =
                    KVec::from_elem(0u8, REPLY_BUF, GFP_KERNEL).map_err(|_| Failure::NoMemory)?;
                let (net, conf) = net_config(&stored, &mut buf, info)?;
                let config = LinkConfig {
                    my_addr,
                    peer_addr,
                    buffers: BufferSizes {
                        send: conf.sndbuf_size.unwrap_or(0),
                        receive: conf.rcvbuf_size.unwrap_or(0),
                    },
                    connect_int_s: conf.connect_int.unwrap_or(10),
                };
                let dev = device(&mut reg, minor)?;
                check_net_for(dev, &net, info)?;
                dev.connect(config, net)?;
                dev.net_conf = Some(stored);
                Ok(())
            }
            Command::ChgNetOpts => {
                // drbd_adm_net_opts: the current options (the defaults with
                // --set-defaults), the request's over them.
                let minor = connection_minor(&reg, req, ctx_name, info)?;
                let dev = device(&mut reg, minor)?;
                let current = dev.net_conf.as_deref().filter(|_| dev.has_link());
                let mut stored = boxed_set(&NET_CONF, current)?;
                if req.set_defaults() {
                    stored.reset_defaults(true);
                }
                if let Some(view) = req.view(&NET_CONF) {
                    stored.apply(&view, true);
                }
                let mut buf =
                    KVec::from_elem(0u8, REPLY_BUF, GFP_KERNEL).map_err(|_| Failure::NoMemory)?;
                let (net, _) = net_config(&stored, &mut buf, info)?;
                check_net_for(dev, &net, info)?;
                dev.change_net_options(net)?;
                dev.net_conf = Some(stored);
                Ok(())
            }
            Command::Disconnect => {
                let minor = connection_minor(&reg, req, ctx_name, info)?;
                device(&mut reg, minor)?.disconnect()
            }
            Command::Down => {
                let res = lookup_resource(&reg, ctx_name, info)?;
                // Every volume to Secondary first: one still open stops the whole `down`.
                let minors = minors_of(&reg, res)?;
                for minor in minors.iter() {
                    let dev = device(&mut reg, *minor)?;
                    if dev.current_state().role == crate::drbd_core::state::Role::Primary
                        && dev.io.is_open()
                    {
                        return Err(Failure::State(
                            crate::drbd_core::state::StateError::DeviceInUse,
                        ));
                    }
                }
                for minor in minors.iter() {
                    let dev = device(&mut reg, *minor)?;
                    if dev.has_link() {
                        dev.disconnect()?;
                    }
                }
                for minor in minors.iter() {
                    device(&mut reg, *minor)?.demote()?;
                }
                for minor in minors.iter() {
                    device(&mut reg, *minor)?.detach()?;
                    reg.devices.remove(minor);
                }
                reg.resources.remove(&res);
                Ok(())
            }
            _ => Err(Failure::Ret(RetCode::ErrInvalidRequest)),
        }
    }

    /// After every admin request: every device tells the `resync-after` board what it is
    /// now (disk, option, connection), then one pass hands out the verdicts (not under the
    /// registry: a pass takes only the board and one link at a time).
    fn refresh_dependencies(&self) {
        let reg = self.registry.lock();
        for (_, (_, dev)) in reg.devices.iter() {
            dev.publish_dependencies();
        }
        drop(reg);
        self.deps.pass();
    }

    /// Announce what admin operations (and connections) changed in every device's state.
    fn announce_states(&self) {
        let reg = self.registry.lock();
        for (_, (_, dev)) in reg.devices.iter() {
            dev.announce_state();
        }
    }

    /// GET_STATUS for one minor: its context and state.
    fn get_status(&self, req: &ValidRequest<'_>, reply: &mut Reply<'_>, buf: &mut [u8]) -> c_int {
        let reg = self.registry.lock();
        let minor = req.minor();
        let mut info = InfoText::new();
        let result = lookup_minor(&reg, req, &mut info);
        let mut w = Writer::new(buf);
        let len = match result {
            Ok(minor) => status_message(&reg, minor, 0, &mut w),
            Err(f) => write_reply(
                &mut w,
                &reply_header(
                    Command::GetStatus as u8,
                    minor,
                    0,
                    ReplyCode::from_raw(f.code()),
                ),
                None,
                Some(info.as_bytes()),
                &[],
                &EncodeOpts::KERNEL,
            )
            .ok(),
        };
        drop(reg);
        match len {
            Some(len) => send(reply, Command::GetStatus as u8, &buf[..len]),
            None => ENOMEM.to_errno(),
        }
    }

    /// GET_TIMEOUT_TYPE: which startup timeout `wait-connect` should apply (a reply with a
    /// `timeout_parms` set, as drbd.ko sends).
    fn get_timeout_type(
        &self,
        req: &ValidRequest<'_>,
        reply: &mut Reply<'_>,
        buf: &mut [u8],
    ) -> c_int {
        let reg = self.registry.lock();
        let minor = req.minor();
        let mut info = InfoText::new();
        let result = lookup_minor(&reg, req, &mut info).and_then(|m| {
            reg.devices
                .get(&m)
                .map(|(_, dev)| dev.timeout_type())
                .ok_or(Failure::Ret(RetCode::ErrMinorInvalid))
        });
        drop(reg);
        let mut w = Writer::new(buf);
        let cmd = Command::GetTimeoutType as u8;
        let len = match result {
            Ok(timeout_type) => {
                let parms = TimeoutParms {
                    timeout_type: Some(timeout_type),
                };
                let sets: [&dyn SetEncode; 1] = [&parms];
                write_reply(
                    &mut w,
                    &reply_header(cmd, minor, 0, ReplyCode::Ret(RetCode::NoError)),
                    None,
                    None,
                    &sets,
                    &EncodeOpts::KERNEL,
                )
                .ok()
            }
            Err(f) => write_reply(
                &mut w,
                &reply_header(cmd, minor, 0, ReplyCode::from_raw(f.code())),
                None,
                Some(info.as_bytes()),
                &[],
                &EncodeOpts::KERNEL,
            )
            .ok(),
        };
        match len {
            Some(len) => send(reply, cmd, buf.get(..len).unwrap_or(&[])),
            None => ENOMEM.to_errno(),
        }
    }

    /// GET_STATUS dump, as drbd's `get_one_status`: resource by resource (only the one in
    /// `cfg_context`, if given), each of its minors in order, or for a resource without a
    /// minor one message with the context alone; `cursor[0]` counts the messages sent.
    fn dump_status(
        &self,
        req: &ValidRequest<'_>,
        cursor: &mut [c_long],
        out: &mut DumpOut<'_>,
    ) -> c_int {
        let reg = self.registry.lock();
        let filter = match req.context.and_then(|c| c.ctx_resource_name).map(trim_nul) {
            Some(name) if !name.is_empty() => match reg.resource_id(name) {
                Some(id) => Some(id),
                None => return 0,
            },
            _ => None,
        };
        let mut buf = match KVec::from_elem(0u8, REPLY_BUF, GFP_KERNEL) {
            Ok(b) => b,
            Err(_) => return ENOMEM.to_errno(),
        };
        let start = cursor.first().copied().unwrap_or(0).max(0);
        let mut index: c_long = 0;
        for (res_id, resource) in reg.resources.iter() {
            if filter.is_some_and(|f| f != *res_id) {
                continue;
            }
            let mut minors = reg
                .devices
                .iter()
                .filter(|(_, (r, _))| r == res_id)
                .map(|(m, _)| Some(*m))
                .peekable();
            let lone = minors.peek().is_none().then_some(None);
            for minor in Iterator::chain(minors, lone) {
                if index >= start {
                    let mut w = Writer::new(&mut buf);
                    let len = match minor {
                        Some(m) => status_message(&reg, m, NLM_F_MULTI, &mut w),
                        None => resource_message(resource.name(), &mut w),
                    };
                    let Some(len) = len else {
                        return ENOMEM.to_errno();
                    };
                    if out
                        .put(Command::GetStatus as u8, family_payload(&buf[..len]))
                        .is_err()
                    {
                        // Full: continue with this message in the next call.
                        return 0;
                    }
                    if let Some(c) = cursor.first_mut() {
                        *c = index + 1;
                    }
                }
                index += 1;
            }
        }
        0
    }
}

/// One GET_STATUS message for `minor`: context (with the connection's addresses), the
/// resource's options, the disk and net configuration, then state_info.
fn status_message(reg: &Registry, minor: u32, nl_flags: u16, w: &mut Writer<'_>) -> Option<usize> {
    let (res, dev) = reg.devices.get(&minor)?;
    let mut my = [0u8; crate::drbd_core::genl::addr::SOCKADDR_IN6_LEN];
    let mut peer = [0u8; crate::drbd_core::genl::addr::SOCKADDR_IN6_LEN];
    let (my_addr, peer_addr) = match dev.link_addresses() {
        Some((m, p)) => (
            GenlSockAddr::from(m).encode(&mut my).map(|b| &*b),
            GenlSockAddr::from(p).encode(&mut peer).map(|b| &*b),
        ),
        None => (None, None),
    };
    let config = StatusConfig {
        my_addr,
        peer_addr,
        res_opts: reg.resources.get(res).map(|r| &r.res_opts),
        disk_conf: dev.disk_conf.as_deref().filter(|_| dev.has_disk()),
        net_conf: dev.net_conf.as_deref().filter(|_| dev.has_link()),
    };
    write_status_message(
        &dev.snapshot(),
        Some(&config),
        Reason::Reply { nl_flags },
        w,
    )
}

/// The dump's message for a resource without a minor: minor -1, the context alone.
fn resource_message(name: &[u8], w: &mut Writer<'_>) -> Option<usize> {
    let context = CfgContext {
        ctx_resource_name: Some(name),
        ..CfgContext::default()
    };
    let sets: [&dyn SetEncode; 1] = [&context];
    write_reply(
        w,
        &reply_header(
            Command::GetStatus as u8,
            MINOR_NONE,
            NLM_F_MULTI,
            ReplyCode::Ret(RetCode::NoError),
        ),
        None,
        None,
        &sets,
        &EncodeOpts::KERNEL,
    )
    .ok()
}

/// The one device of a resource (a connection carries one volume here).
fn single_volume(reg: &Registry, res: u32, info: &mut InfoText) -> Result<u32, Failure> {
    let minors = minors_of(reg, res)?;
    match minors.as_slice() {
        [minor] => Ok(*minor),
        [] => {
            let _ = info.write_str("the resource has no volume");
            Err(Failure::Ret(RetCode::ErrInvalidRequest))
        }
        _ => {
            let _ = info.write_str("replicating several volumes per resource is not supported yet");
            Err(Failure::Ret(RetCode::ErrInvalidRequest))
        }
    }
}

/// The device a connection request (`disconnect`, `net-options`) is about, found as
/// `drbd_adm_prepare` finds the connection: by the context's two addresses (what drbdsetup-84
/// sends), which must belong to the named resource if one is given; else by resource name.
fn connection_minor(
    reg: &Registry,
    req: &ValidRequest<'_>,
    name: Option<&[u8]>,
    info: &mut InfoText,
) -> Result<u32, Failure> {
    let addr = |b: Option<&[u8]>| {
        b.and_then(GenlSockAddr::decode)
            .and_then(|a| SockAddr::try_from(a).ok())
    };
    let ctx = req.context;
    let my = addr(ctx.and_then(|c| c.ctx_my_addr));
    let peer = addr(ctx.and_then(|c| c.ctx_peer_addr));
    let name = name.filter(|n| !n.is_empty());
    if let (Some(my), Some(peer)) = (my, peer) {
        let found = reg
            .devices
            .iter()
            .find(|(_, (_, d))| d.link_addresses() == Some((my, peer)));
        match (found, name) {
            (Some((minor, (res, _))), name) => {
                if name.is_some_and(|n| reg.resource_id(n) != Some(*res)) {
                    let _ = info.write_str("connection exists in different resource");
                    return Err(Failure::Ret(RetCode::ErrInvalidRequest));
                }
                return Ok(*minor);
            }
            (None, None) => {
                let _ = info.write_str("unknown connection");
                return Err(Failure::Ret(RetCode::ErrInvalidRequest));
            }
            (None, Some(_)) => {}
        }
    }
    let res = lookup_resource(reg, name, info)?;
    single_volume(reg, res, info)
}

/// The net settings of the net config a connect / net-options request leads to (`stored`,
/// decoded through `buf`; refusals carry drbd's codes).
fn net_config<'a>(
    stored: &StoredSet,
    buf: &'a mut [u8],
    info: &mut InfoText,
) -> Result<(NetSettings, NetConf<'a>), Failure> {
    let view = stored
        .view(buf)
        .ok_or(Failure::Ret(RetCode::ErrInvalidRequest))?;
    let conf = NetConf::from_view(&view);
    let mut net = net_settings(&conf).map_err(|r| refusal(r, info))?;
    // Discards and zeroes are not replicated yet: the peer must not send P_TRIM either.
    net.features = 0;
    Ok((net, conf))
}

/// A refused configuration as the reply: its code, and why in the info text.
fn refusal(refused: Refused, info: &mut InfoText) -> Failure {
    let _ = info.write_str(refused.why);
    Failure::Ret(refused.code)
}

/// `net` against the device as it is now (a Primary cannot `--discard-my-data`; protocol A
/// not under `resource-and-stonith`).
fn check_net_for(dev: &Device, net: &NetSettings, info: &mut InfoText) -> Result<(), Failure> {
    check_net_for_device(net, dev.current_state().role, dev.disk_fencing())
        .map_err(|r| refusal(r, info))
}

/// new-resource / resource-options: the request's `res_opts` into `opts` (after a reset to
/// the defaults with `set_defaults`); a `cpu-mask` the kernel could not parse is refused, as
/// drbd's `set_resource_options` does.
fn apply_res_opts(
    opts: &mut StoredSet,
    req: &ValidRequest<'_>,
    set_defaults: bool,
    info: &mut InfoText,
) -> Result<(), Failure> {
    let mut new = *opts;
    if set_defaults {
        new.reset_defaults(true);
    }
    if let Some(view) = req.view(&RES_OPTS) {
        new.apply(&view, false);
    }
    let mask = new.get(1).and_then(|v| v.as_str_bytes()).unwrap_or(&[]);
    if !cpu_mask_valid(mask) {
        let _ = info.write_str("invalid cpu-mask");
        return Err(Failure::Ret(RetCode::ErrInvalidRequest));
    }
    *opts = new;
    Ok(())
}

/// A configuration set in an allocation of its own: a copy of `current`, or `def` at its
/// defaults. Apart from the command handlers (and not inlined into them) so that the set's
/// ≈ 700 bytes never sit on their frames, which `attach` and `connect` stack deep.
#[inline(never)]
fn boxed_set(
    def: &'static SetDef,
    current: Option<&StoredSet>,
) -> Result<KBox<StoredSet>, Failure> {
    let set = match current {
        Some(s) => *s,
        None => StoredSet::new(def).ok_or(Failure::NoMemory)?,
    };
    KBox::new(set, GFP_KERNEL).map_err(|_| Failure::NoMemory)
}

fn trim_nul(s: &[u8]) -> &[u8] {
    s.split(|b| *b == 0).next().unwrap_or(&[])
}

fn lookup_resource(
    reg: &Registry,
    name: Option<&[u8]>,
    info: &mut InfoText,
) -> Result<u32, Failure> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        let _ = info.write_str("resource name missing");
        return Err(Failure::Ret(RetCode::ErrInvalidRequest));
    };
    reg.resource_id(name)
        .ok_or(Failure::Ret(RetCode::ErrResNotKnown))
}

fn lookup_minor(
    reg: &Registry,
    req: &ValidRequest<'_>,
    info: &mut InfoText,
) -> Result<u32, Failure> {
    let minor = req.minor();
    if minor == MINOR_NONE || reg.devices.get(&minor).is_none() {
        let _ = info.write_str("unknown minor");
        return Err(Failure::Ret(RetCode::ErrMinorInvalid));
    }
    // A resource name given along with the minor must agree with it.
    if let Some(name) = req.context.and_then(|c| c.ctx_resource_name).map(trim_nul) {
        if !name.is_empty() {
            let (res, _) = reg
                .devices
                .get(&minor)
                .ok_or(Failure::Ret(RetCode::ErrMinorInvalid))?;
            if reg.resource_id(name) != Some(*res) {
                let _ = info.write_str("minor exists in different resource");
                return Err(Failure::Ret(RetCode::ErrInvalidRequest));
            }
        }
    }
    Ok(minor)
}

fn device(reg: &mut Registry, minor: u32) -> Result<&mut Device, Failure> {
    reg.devices
        .get_mut(&minor)
        .map(|(_, d)| d)
        .ok_or(Failure::Ret(RetCode::ErrMinorInvalid))
}

fn minors_of(reg: &Registry, res: u32) -> Result<KVec<u32>, Failure> {
    let mut v = KVec::new();
    for (minor, (r, _)) in reg.devices.iter() {
        if *r == res {
            v.push(*minor, GFP_KERNEL).map_err(|_| Failure::NoMemory)?;
        }
    }
    Ok(v)
}
