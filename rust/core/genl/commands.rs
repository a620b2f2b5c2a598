// SPDX-License-Identifier: GPL-2.0
//! The command table (§3): the single source of truth for command numbers, names, which
//! callbacks exist, permissions, how the target is looked up and which top-level attributes a
//! request carries. The kernel module iterates [`COMMANDS`] to register its genetlink ops.

use super::sets::Tla;

/// Command numbers (`genlmsghdr.cmd`). 3, 4 and 39 are unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Command {
    /// `DRBD_EVENT`: per-minor notification.
    Event = 1,
    /// `DRBD_ADM_GET_STATUS`.
    GetStatus = 2,
    /// `DRBD_ADM_NEW_MINOR`.
    NewMinor = 5,
    /// `DRBD_ADM_DEL_MINOR`.
    DelMinor = 6,
    /// `DRBD_ADM_NEW_RESOURCE`.
    NewResource = 7,
    /// `DRBD_ADM_DEL_RESOURCE`.
    DelResource = 8,
    /// `DRBD_ADM_RESOURCE_OPTS`.
    ResourceOpts = 9,
    /// `DRBD_ADM_CONNECT`.
    Connect = 10,
    /// `DRBD_ADM_DISCONNECT`.
    Disconnect = 11,
    /// `DRBD_ADM_ATTACH`.
    Attach = 12,
    /// `DRBD_ADM_RESIZE`.
    Resize = 13,
    /// `DRBD_ADM_PRIMARY`.
    Primary = 14,
    /// `DRBD_ADM_SECONDARY`.
    Secondary = 15,
    /// `DRBD_ADM_NEW_C_UUID`.
    NewCUuid = 16,
    /// `DRBD_ADM_START_OV`.
    StartOv = 17,
    /// `DRBD_ADM_DETACH`.
    Detach = 18,
    /// `DRBD_ADM_INVALIDATE`.
    Invalidate = 19,
    /// `DRBD_ADM_INVAL_PEER`.
    InvalPeer = 20,
    /// `DRBD_ADM_PAUSE_SYNC`.
    PauseSync = 21,
    /// `DRBD_ADM_RESUME_SYNC`.
    ResumeSync = 22,
    /// `DRBD_ADM_SUSPEND_IO`.
    SuspendIo = 23,
    /// `DRBD_ADM_RESUME_IO`.
    ResumeIo = 24,
    /// `DRBD_ADM_OUTDATE`.
    Outdate = 25,
    /// `DRBD_ADM_GET_TIMEOUT_TYPE`.
    GetTimeoutType = 26,
    /// `DRBD_ADM_DOWN`.
    Down = 27,
    /// `DRBD_ADM_CHG_DISK_OPTS`.
    ChgDiskOpts = 28,
    /// `DRBD_ADM_CHG_NET_OPTS`.
    ChgNetOpts = 29,
    /// `DRBD_ADM_GET_RESOURCES`.
    GetResources = 30,
    /// `DRBD_ADM_GET_DEVICES`.
    GetDevices = 31,
    /// `DRBD_ADM_GET_CONNECTIONS`.
    GetConnections = 32,
    /// `DRBD_ADM_GET_PEER_DEVICES`.
    GetPeerDevices = 33,
    /// `DRBD_RESOURCE_STATE`: notification.
    ResourceState = 34,
    /// `DRBD_DEVICE_STATE`: notification.
    DeviceState = 35,
    /// `DRBD_CONNECTION_STATE`: notification.
    ConnectionState = 36,
    /// `DRBD_PEER_DEVICE_STATE`: notification.
    PeerDeviceState = 37,
    /// `DRBD_ADM_GET_INITIAL_STATE`.
    GetInitialState = 38,
    /// `DRBD_HELPER`: notification.
    Helper = 40,
    /// `DRBD_INITIAL_STATE_DONE`: notification.
    InitialStateDone = 41,
}

impl Command {
    /// The command number.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The command with number `cmd`, if there is one.
    pub fn from_number(cmd: u8) -> Option<Self> {
        COMMANDS.iter().find(|c| c.cmd as u8 == cmd).map(|c| c.cmd)
    }

    /// The command's table entry.
    pub fn def(self) -> &'static CommandDef {
        // Every variant has exactly one entry (checked by the tests); the fallback is never
        // taken.
        COMMANDS
            .iter()
            .find(|c| c.cmd == self)
            .unwrap_or(&EVENT_DEF)
    }
}

/// How the target object of a request is looked up (`drbd_adm_prepare` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// No lookup (notifications, dumps over everything, NEW_RESOURCE).
    None,
    /// `drbd_genlmsghdr.minor` must name an existing minor (`ERR_MINOR_INVALID`).
    Minor,
    /// `cfg_context.ctx_resource_name` must name an existing resource (`ERR_RES_NOT_KNOWN`,
    /// or `ERR_INVALID_REQUEST` without a name).
    Resource,
    /// `ctx_my_addr` and `ctx_peer_addr` must match an existing connection, with no resource
    /// name and no valid minor given (`ERR_INVALID_REQUEST`).
    Connection,
}

/// Which objects a dump covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpScope {
    /// Not a dump.
    None,
    /// All objects; no filter.
    All,
    /// All objects, or those of the resource named in an optional `cfg_context`.
    AllOrResource,
}

/// One top-level attribute a request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTla {
    /// The attribute.
    pub tla: Tla,
    /// Whether the kernel's attribute parsing refuses the request without it
    /// (`ERR_MANDATORY_TAG`, "required attribute missing"). A missing `cfg_context` is not
    /// reported here but by the target lookup (see [`Context`]): NEW_MINOR and NEW_RESOURCE
    /// need its resource name and answer `ERR_INVALID_REQUEST` / `ERR_MANDATORY_TAG`
    /// ("resource name missing") without one.
    pub required: bool,
    /// Whether it is parsed as a change (`*_from_attrs_for_change`: invariant fields refused).
    pub change: bool,
}

const fn opt(tla: Tla) -> RequestTla {
    RequestTla {
        tla,
        required: false,
        change: false,
    }
}
const fn req(tla: Tla) -> RequestTla {
    RequestTla {
        tla,
        required: true,
        change: false,
    }
}
const fn chg(tla: Tla) -> RequestTla {
    RequestTla {
        tla,
        required: false,
        change: true,
    }
}

/// One command of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandDef {
    /// Number and identity.
    pub cmd: Command,
    /// C name (`DRBD_ADM_PRIMARY`, …).
    pub name: &'static str,
    /// Has a `.doit` callback.
    pub doit: bool,
    /// Has a `.dumpit` callback.
    pub dumpit: bool,
    /// Sent by the kernel to the `events` multicast group (or as dump records of it).
    pub notification: bool,
    /// `GENL_ADMIN_PERM`: the caller needs `CAP_NET_ADMIN`.
    pub admin_perm: bool,
    /// Target lookup of the doit.
    pub context: Context,
    /// Coverage of the dumpit.
    pub dump: DumpScope,
    /// Top-level attributes of the request, in the order the kernel parses them.
    pub request: &'static [RequestTla],
    /// drbdsetup-84 commands that send (or consume) it.
    pub drbdsetup: &'static str,
}

impl CommandDef {
    /// The command number.
    pub const fn number(&self) -> u8 {
        self.cmd as u8
    }

    /// Whether the kernel module registers an op for it (doit and/or dumpit).
    pub const fn is_op(&self) -> bool {
        self.doit || self.dumpit
    }

    /// The request description of top-level attribute `tla`, if the command takes it.
    pub fn request_tla(&self, tla: Tla) -> Option<&'static RequestTla> {
        self.request.iter().find(|r| r.tla == tla)
    }
}

const fn notification(cmd: Command, name: &'static str, drbdsetup: &'static str) -> CommandDef {
    CommandDef {
        cmd,
        name,
        doit: false,
        dumpit: false,
        notification: true,
        admin_perm: false,
        context: Context::None,
        dump: DumpScope::None,
        request: &[],
        drbdsetup,
    }
}

const fn admin(
    cmd: Command,
    name: &'static str,
    context: Context,
    request: &'static [RequestTla],
    drbdsetup: &'static str,
) -> CommandDef {
    CommandDef {
        cmd,
        name,
        doit: true,
        dumpit: false,
        notification: false,
        admin_perm: true,
        context,
        dump: DumpScope::None,
        request,
        drbdsetup,
    }
}

const fn dump(
    cmd: Command,
    name: &'static str,
    scope: DumpScope,
    request: &'static [RequestTla],
    drbdsetup: &'static str,
) -> CommandDef {
    CommandDef {
        cmd,
        name,
        doit: false,
        dumpit: true,
        notification: false,
        admin_perm: false,
        context: Context::None,
        dump: scope,
        request,
        drbdsetup,
    }
}

const CTX: RequestTla = opt(Tla::CfgContext);

const EVENT_DEF: CommandDef = notification(
    Command::Event,
    "DRBD_EVENT",
    "events, wait-connect, wait-sync",
);

/// The commands, in number order.
pub const COMMANDS: &[CommandDef] = &[
    EVENT_DEF,
    CommandDef {
        cmd: Command::GetStatus,
        name: "DRBD_ADM_GET_STATUS",
        doit: true,
        dumpit: true,
        notification: false,
        admin_perm: false,
        context: Context::Minor,
        dump: DumpScope::AllOrResource,
        request: &[CTX],
        drbdsetup: "role, cstate, dstate, show, show-gi, get-gi, sh-status, check-resize, udev, \
                    events, wait-connect, wait-sync, down",
    },
    admin(
        Command::NewMinor,
        "DRBD_ADM_NEW_MINOR",
        Context::Resource,
        &[CTX],
        "new-minor",
    ),
    admin(
        Command::DelMinor,
        "DRBD_ADM_DEL_MINOR",
        Context::Minor,
        &[CTX],
        "del-minor",
    ),
    admin(
        Command::NewResource,
        "DRBD_ADM_NEW_RESOURCE",
        Context::None,
        &[CTX, opt(Tla::ResourceOpts)],
        "new-resource",
    ),
    admin(
        Command::DelResource,
        "DRBD_ADM_DEL_RESOURCE",
        Context::Resource,
        &[CTX],
        "del-resource",
    ),
    admin(
        Command::ResourceOpts,
        "DRBD_ADM_RESOURCE_OPTS",
        Context::Resource,
        &[CTX, opt(Tla::ResourceOpts)],
        "resource-options",
    ),
    admin(
        Command::Connect,
        "DRBD_ADM_CONNECT",
        Context::Resource,
        &[CTX, opt(Tla::NetConf)],
        "connect",
    ),
    admin(
        Command::Disconnect,
        "DRBD_ADM_DISCONNECT",
        Context::Connection,
        &[CTX, opt(Tla::DisconnectParms)],
        "disconnect",
    ),
    admin(
        Command::Attach,
        "DRBD_ADM_ATTACH",
        Context::Minor,
        &[CTX, req(Tla::DiskConf)],
        "attach",
    ),
    admin(
        Command::Resize,
        "DRBD_ADM_RESIZE",
        Context::Minor,
        &[CTX, opt(Tla::ResizeParms)],
        "resize",
    ),
    admin(
        Command::Primary,
        "DRBD_ADM_PRIMARY",
        Context::Minor,
        &[CTX, opt(Tla::SetRoleParms)],
        "primary",
    ),
    admin(
        Command::Secondary,
        "DRBD_ADM_SECONDARY",
        Context::Minor,
        &[CTX, opt(Tla::SetRoleParms)],
        "secondary",
    ),
    admin(
        Command::NewCUuid,
        "DRBD_ADM_NEW_C_UUID",
        Context::Minor,
        &[CTX, opt(Tla::NewCUuidParms)],
        "new-current-uuid",
    ),
    admin(
        Command::StartOv,
        "DRBD_ADM_START_OV",
        Context::Minor,
        &[CTX, opt(Tla::StartOvParms)],
        "verify",
    ),
    admin(
        Command::Detach,
        "DRBD_ADM_DETACH",
        Context::Minor,
        &[CTX, opt(Tla::DetachParms)],
        "detach",
    ),
    admin(
        Command::Invalidate,
        "DRBD_ADM_INVALIDATE",
        Context::Minor,
        &[CTX],
        "invalidate",
    ),
    admin(
        Command::InvalPeer,
        "DRBD_ADM_INVAL_PEER",
        Context::Minor,
        &[CTX],
        "invalidate-remote",
    ),
    admin(
        Command::PauseSync,
        "DRBD_ADM_PAUSE_SYNC",
        Context::Minor,
        &[CTX],
        "pause-sync",
    ),
    admin(
        Command::ResumeSync,
        "DRBD_ADM_RESUME_SYNC",
        Context::Minor,
        &[CTX],
        "resume-sync",
    ),
    admin(
        Command::SuspendIo,
        "DRBD_ADM_SUSPEND_IO",
        Context::Minor,
        &[CTX],
        "suspend-io",
    ),
    admin(
        Command::ResumeIo,
        "DRBD_ADM_RESUME_IO",
        Context::Minor,
        &[CTX],
        "resume-io",
    ),
    admin(
        Command::Outdate,
        "DRBD_ADM_OUTDATE",
        Context::Minor,
        &[CTX],
        "outdate",
    ),
    admin(
        Command::GetTimeoutType,
        "DRBD_ADM_GET_TIMEOUT_TYPE",
        Context::Minor,
        &[CTX],
        "wait-connect, wait-sync",
    ),
    admin(
        Command::Down,
        "DRBD_ADM_DOWN",
        Context::Resource,
        &[CTX],
        "down",
    ),
    admin(
        Command::ChgDiskOpts,
        "DRBD_ADM_CHG_DISK_OPTS",
        Context::Minor,
        &[CTX, chg(Tla::DiskConf)],
        "disk-options",
    ),
    admin(
        Command::ChgNetOpts,
        "DRBD_ADM_CHG_NET_OPTS",
        Context::Connection,
        &[CTX, chg(Tla::NetConf)],
        "net-options",
    ),
    dump(
        Command::GetResources,
        "DRBD_ADM_GET_RESOURCES",
        DumpScope::All,
        &[],
        "status",
    ),
    dump(
        Command::GetDevices,
        "DRBD_ADM_GET_DEVICES",
        DumpScope::AllOrResource,
        &[CTX],
        "status",
    ),
    dump(
        Command::GetConnections,
        "DRBD_ADM_GET_CONNECTIONS",
        DumpScope::AllOrResource,
        &[CTX],
        "status",
    ),
    dump(
        Command::GetPeerDevices,
        "DRBD_ADM_GET_PEER_DEVICES",
        DumpScope::AllOrResource,
        &[CTX],
        "status",
    ),
    notification(Command::ResourceState, "DRBD_RESOURCE_STATE", "events2"),
    notification(Command::DeviceState, "DRBD_DEVICE_STATE", "events2"),
    notification(Command::ConnectionState, "DRBD_CONNECTION_STATE", "events2"),
    notification(
        Command::PeerDeviceState,
        "DRBD_PEER_DEVICE_STATE",
        "events2",
    ),
    dump(
        Command::GetInitialState,
        "DRBD_ADM_GET_INITIAL_STATE",
        DumpScope::All,
        &[],
        "events2",
    ),
    notification(Command::Helper, "DRBD_HELPER", "events2"),
    notification(
        Command::InitialStateDone,
        "DRBD_INITIAL_STATE_DONE",
        "events2",
    ),
];

/// The table entry of command number `cmd`.
pub fn command(cmd: u8) -> Option<&'static CommandDef> {
    COMMANDS.iter().find(|c| c.number() == cmd)
}

/// The commands the kernel module registers as genetlink ops (doit and/or dumpit).
pub fn ops() -> impl Iterator<Item = &'static CommandDef> {
    COMMANDS.iter().filter(|c| c.is_op())
}

#[cfg(test)]
mod tests {
    use super::super::RESV_START_OP;
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut prev = 0u8;
        for c in COMMANDS {
            assert!(c.number() > prev, "{} out of order", c.name);
            prev = c.number();
            assert!(c.number() < RESV_START_OP);
            assert_eq!(c.cmd.def(), c);
            assert_eq!(Command::from_number(c.number()), Some(c.cmd));
            assert!(c.name.starts_with("DRBD_"));
            assert!(c.notification != c.is_op());
            // Every doit except GET_STATUS carries GENL_ADMIN_PERM; dumps never do.
            assert_eq!(
                c.admin_perm,
                c.doit && c.cmd != Command::GetStatus,
                "{}",
                c.name
            );
            assert_eq!(c.dumpit, c.dump != DumpScope::None);
        }
        assert_eq!(COMMANDS.len(), 38);
        for unused in [0, 3, 4, 39, 42] {
            assert!(command(unused).is_none());
        }
        assert_eq!(ops().count(), 31);
    }

    #[test]
    fn spot_checks() {
        let p = Command::Primary.def();
        assert_eq!(p.number(), 14);
        assert_eq!(p.context, Context::Minor);
        assert!(p.request_tla(Tla::SetRoleParms).is_some());
        let a = command(12).unwrap();
        assert_eq!(a.cmd, Command::Attach);
        assert!(a.request_tla(Tla::DiskConf).unwrap().required);
        assert!(
            Command::ChgDiskOpts
                .def()
                .request_tla(Tla::DiskConf)
                .unwrap()
                .change
        );
        assert!(
            Command::ChgNetOpts
                .def()
                .request_tla(Tla::NetConf)
                .unwrap()
                .change
        );
        assert_eq!(Command::ChgNetOpts.def().context, Context::Connection);
        let g = Command::GetStatus.def();
        assert!(g.doit && g.dumpit && !g.admin_perm);
        assert_eq!(Command::GetResources.def().dump, DumpScope::All);
        assert!(Command::InitialStateDone.def().notification);
    }
}
