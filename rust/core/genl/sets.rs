// SPDX-License-Identifier: GPL-2.0
//! Top-level attribute ids (`DRBD_NLA_*`) and one declarative table per nested attribute set
//! (the `GENL_struct`s of `drbd_genl.h`).
//!
//! Each table lists, per field: the id within the set, the field name (globally unique), the
//! declared type with its maximum length, the flags (`M`andatory on the wire, `R`equired,
//! `I`nvariant, `S`ensitive), and where DRBD defines them the default, the accepted range, the
//! unit of a plain number and the tool keywords. The tables are the single source of truth for
//! validation ([`super::validate`]), for the typed sets ([`super::typed`]) and for encoding.
//!
//! `net_conf` follows the kernel's definition (ids 1–34); the `my_addr2`/`peer_addr2` fields
//! (35, 36) that only drbd-utils' copy declares are left out, as the kernel ignores them.

/// Declared type of a field, and how it is represented on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `__flg_field`: `NLA_U8` with payload 0 or 1 (not `NLA_FLAG`).
    Flag,
    /// `__u32_field`: `NLA_U32`, host byte order.
    U32,
    /// `__s32_field`: two's complement in an `NLA_U32`.
    S32,
    /// `__u64_field`: `NLA_U64`, host byte order (a pad attribute of type 0 may precede it).
    U64,
    /// `__str_field`: `NLA_NUL_STRING`; at most `max - 1` characters plus the terminating NUL.
    /// `max == 0` means no limit.
    Str {
        /// Size of the kernel's buffer including the NUL (`maxlen` of the declaration).
        max: u16,
    },
    /// `__bin_field`: `NLA_BINARY` of at most `max` bytes.
    Bin {
        /// Largest accepted payload in bytes.
        max: u16,
    },
}

impl FieldType {
    /// Human-readable name of the type, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            FieldType::Flag => "flag",
            FieldType::U32 => "u32",
            FieldType::S32 => "s32",
            FieldType::U64 => "u64",
            FieldType::Str { .. } => "string",
            FieldType::Bin { .. } => "binary",
        }
    }

    /// Exact payload size for fixed-size types, `None` for strings and binaries.
    pub const fn fixed_len(self) -> Option<usize> {
        match self {
            FieldType::Flag => Some(1),
            FieldType::U32 | FieldType::S32 => Some(4),
            FieldType::U64 => Some(8),
            FieldType::Str { .. } | FieldType::Bin { .. } => None,
        }
    }
}

/// The `DRBD_GENLA_F_MANDATORY` / `DRBD_F_*` flags of a field declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FieldFlags(u8);

impl FieldFlags {
    /// No flag ("opt" in the spec tables).
    pub const NONE: Self = Self(0);
    /// `DRBD_GENLA_F_MANDATORY`: or-ed into the attribute type on the wire (0x4000).
    pub const MANDATORY: Self = Self(1);
    /// `DRBD_F_REQUIRED`: the kernel refuses a set without this field.
    pub const REQUIRED: Self = Self(2);
    /// `DRBD_F_INVARIANT`: set at creation, refused in change requests.
    pub const INVARIANT: Self = Self(4);
    /// `DRBD_F_SENSITIVE`: omitted from multicasts and from replies to unprivileged callers.
    pub const SENSITIVE: Self = Self(8);

    /// Both sets of flags.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the field carries the mandatory bit on the wire.
    pub const fn is_mandatory(self) -> bool {
        self.contains(Self::MANDATORY)
    }

    /// Whether the field must be present.
    pub const fn is_required(self) -> bool {
        self.contains(Self::REQUIRED)
    }

    /// Whether the field must not appear in change requests.
    pub const fn is_invariant(self) -> bool {
        self.contains(Self::INVARIANT)
    }

    /// Whether the field is left out of multicasts and unprivileged replies.
    pub const fn is_sensitive(self) -> bool {
        self.contains(Self::SENSITIVE)
    }
}

/// Default value of a field (`*_DEF` in `drbd_limits.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// Default of a flag.
    Flag(bool),
    /// Default of a u32 field.
    U32(u32),
    /// Default of an s32 field.
    S32(i32),
    /// Default of a u64 field.
    U64(u64),
    /// Default of a string field.
    Str(&'static str),
}

/// Accepted numeric range (inclusive), as drbdsetup enforces it (`*_MIN` … `*_MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
}

impl Limits {
    /// Whether `value` lies within the range.
    pub const fn contains(&self, value: i64) -> bool {
        value >= self.min && value <= self.max
    }
}

/// Unit of a plain number given to drbdsetup (`*_SCALE` in `drbd_limits.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// A plain count / time value (`'1'`).
    One,
    /// KiB (`'k'`): suffixes are relative to bytes and converted.
    KiB,
    /// 512-byte sectors (`'s'`).
    Sectors,
}

/// One keyword of an enumerated u32 field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumValue {
    /// Value on the wire.
    pub value: u32,
    /// drbdsetup / drbd.conf keyword.
    pub name: &'static str,
}

/// One field of a nested attribute set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// Attribute id within the set (starting at 1).
    pub id: u16,
    /// Field name as in `drbd_genl.h` (globally unique).
    pub name: &'static str,
    /// Declared type.
    pub ty: FieldType,
    /// Declaration flags.
    pub flags: FieldFlags,
    /// Default value, where DRBD defines one.
    pub default: Option<DefaultValue>,
    /// Accepted range of numeric values, where DRBD defines one.
    pub limits: Option<Limits>,
    /// Unit of a plain number on the drbdsetup command line.
    pub scale: Scale,
    /// Keywords of an enumerated field (empty for other fields); with keywords, only the
    /// listed values are in range.
    pub values: &'static [EnumValue],
    /// drbdsetup option / drbd.conf keyword (empty when the field is not an option).
    pub option: &'static str,
}

const fn fd(id: u16, name: &'static str, ty: FieldType, flags: FieldFlags) -> FieldDef {
    FieldDef {
        id,
        name,
        ty,
        flags,
        default: None,
        limits: None,
        scale: Scale::One,
        values: &[],
        option: "",
    }
}
const fn flag(id: u16, name: &'static str, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::Flag, flags)
}
const fn u32f(id: u16, name: &'static str, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::U32, flags)
}
const fn s32f(id: u16, name: &'static str, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::S32, flags)
}
const fn u64f(id: u16, name: &'static str, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::U64, flags)
}
const fn strf(id: u16, name: &'static str, max: u16, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::Str { max }, flags)
}
const fn binf(id: u16, name: &'static str, max: u16, flags: FieldFlags) -> FieldDef {
    fd(id, name, FieldType::Bin { max }, flags)
}

impl FieldDef {
    const fn def(self, d: DefaultValue) -> Self {
        Self {
            default: Some(d),
            ..self
        }
    }
    const fn d_u32(self, v: u32) -> Self {
        self.def(DefaultValue::U32(v))
    }
    const fn d_flag(self, v: bool) -> Self {
        self.def(DefaultValue::Flag(v))
    }
    const fn range(self, min: i64, max: i64) -> Self {
        Self {
            limits: Some(Limits { min, max }),
            ..self
        }
    }
    const fn unit(self, scale: Scale) -> Self {
        Self { scale, ..self }
    }
    const fn vals(self, values: &'static [EnumValue]) -> Self {
        Self { values, ..self }
    }
    const fn opt(self, option: &'static str) -> Self {
        Self { option, ..self }
    }

    /// Wire attribute type when the mandatory bit is applied (`T_<name>` of the C headers).
    pub const fn flagged_type(&self) -> u16 {
        if self.flags.is_mandatory() {
            self.id | super::nla::DRBD_GENLA_F_MANDATORY
        } else {
            self.id
        }
    }

    /// Keyword of enum value `value`, if the field is enumerated and knows it.
    pub fn value_name(&self, value: u32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|v| v.value == value)
            .map(|v| v.name)
    }

    /// Value of keyword `name`, if the field is enumerated and knows it.
    pub fn value_of(&self, name: &str) -> Option<u32> {
        self.values.iter().find(|v| v.name == name).map(|v| v.value)
    }

    /// Whether a numeric value (u32 / s32 / u64 / flag widened to i64) is acceptable: within
    /// the keywords of an enumerated field, within `limits` otherwise; always for fields
    /// without either.
    pub fn accepts(&self, value: i64) -> bool {
        if !self.values.is_empty() {
            return self.values.iter().any(|v| i64::from(v.value) == value);
        }
        match self.limits {
            Some(l) => l.contains(value),
            None => true,
        }
    }
}

/// String equality usable in `const fn` (`==` on `str` is not).
const fn str_eq(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a, b) {
            ([x, a_rest @ ..], [y, b_rest @ ..]) if *x == *y => {
                a = a_rest;
                b = b_rest;
            }
            ([], []) => return true,
            _ => return false,
        }
    }
}

/// A nested attribute set: one top-level attribute and its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetDef {
    /// The top-level attribute carrying the set.
    pub tla: Tla,
    /// C struct name (`disk_conf`, `drbd_cfg_context`, …).
    pub name: &'static str,
    /// The fields, in declaration order.
    pub fields: &'static [FieldDef],
}

impl SetDef {
    /// Highest field id of the set (`maxtype` of the kernel's policy): unknown attributes with
    /// the mandatory bit and an id above it make the kernel refuse the set.
    pub const fn max_id(&self) -> u16 {
        let mut max = 0;
        let mut rest = self.fields;
        while let [f, tail @ ..] = rest {
            if f.id > max {
                max = f.id;
            }
            rest = tail;
        }
        max
    }

    /// The field with id `id` (mandatory/nested bits already stripped).
    pub fn field(&self, id: u16) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// The field named `name`. `const` so that other modules can take defaults and limits
    /// from the table in their own constants (one source of truth).
    pub const fn field_by_name(&self, name: &str) -> Option<&'static FieldDef> {
        let mut rest = self.fields;
        while let [f, tail @ ..] = rest {
            if str_eq(f.name, name) {
                return Some(f);
            }
            rest = tail;
        }
        None
    }

    /// The field whose drbdsetup option is `option`.
    pub fn field_by_option(&self, option: &str) -> Option<&'static FieldDef> {
        self.fields
            .iter()
            .find(|f| !f.option.is_empty() && f.option == option)
    }
}

/// Top-level attribute ids (`DRBD_NLA_*`, §4). Id 14 is unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Tla {
    /// `DRBD_NLA_CFG_REPLY`: `drbd_cfg_reply`.
    CfgReply = 1,
    /// `DRBD_NLA_CFG_CONTEXT`: `drbd_cfg_context`.
    CfgContext = 2,
    /// `DRBD_NLA_DISK_CONF`: `disk_conf`.
    DiskConf = 3,
    /// `DRBD_NLA_RESOURCE_OPTS`: `res_opts`.
    ResourceOpts = 4,
    /// `DRBD_NLA_NET_CONF`: `net_conf`.
    NetConf = 5,
    /// `DRBD_NLA_SET_ROLE_PARMS`: `set_role_parms`.
    SetRoleParms = 6,
    /// `DRBD_NLA_RESIZE_PARMS`: `resize_parms`.
    ResizeParms = 7,
    /// `DRBD_NLA_STATE_INFO`: `state_info`.
    StateInfo = 8,
    /// `DRBD_NLA_START_OV_PARMS`: `start_ov_parms`.
    StartOvParms = 9,
    /// `DRBD_NLA_NEW_C_UUID_PARMS`: `new_c_uuid_parms`.
    NewCUuidParms = 10,
    /// `DRBD_NLA_TIMEOUT_PARMS`: `timeout_parms`.
    TimeoutParms = 11,
    /// `DRBD_NLA_DISCONNECT_PARMS`: `disconnect_parms`.
    DisconnectParms = 12,
    /// `DRBD_NLA_DETACH_PARMS`: `detach_parms`.
    DetachParms = 13,
    /// `DRBD_NLA_RESOURCE_INFO`: `resource_info`.
    ResourceInfo = 15,
    /// `DRBD_NLA_DEVICE_INFO`: `device_info`.
    DeviceInfo = 16,
    /// `DRBD_NLA_CONNECTION_INFO`: `connection_info`.
    ConnectionInfo = 17,
    /// `DRBD_NLA_PEER_DEVICE_INFO`: `peer_device_info`.
    PeerDeviceInfo = 18,
    /// `DRBD_NLA_RESOURCE_STATISTICS`: `resource_statistics`.
    ResourceStatistics = 19,
    /// `DRBD_NLA_DEVICE_STATISTICS`: `device_statistics`.
    DeviceStatistics = 20,
    /// `DRBD_NLA_CONNECTION_STATISTICS`: `connection_statistics`.
    ConnectionStatistics = 21,
    /// `DRBD_NLA_PEER_DEVICE_STATISTICS`: `peer_device_statistics`.
    PeerDeviceStatistics = 22,
    /// `DRBD_NLA_NOTIFICATION_HEADER`: `drbd_notification_header`.
    NotificationHeader = 23,
    /// `DRBD_NLA_HELPER`: `drbd_helper_info`.
    Helper = 24,
}

impl Tla {
    /// Every top-level attribute, in id order.
    pub const ALL: [Tla; 23] = [
        Tla::CfgReply,
        Tla::CfgContext,
        Tla::DiskConf,
        Tla::ResourceOpts,
        Tla::NetConf,
        Tla::SetRoleParms,
        Tla::ResizeParms,
        Tla::StateInfo,
        Tla::StartOvParms,
        Tla::NewCUuidParms,
        Tla::TimeoutParms,
        Tla::DisconnectParms,
        Tla::DetachParms,
        Tla::ResourceInfo,
        Tla::DeviceInfo,
        Tla::ConnectionInfo,
        Tla::PeerDeviceInfo,
        Tla::ResourceStatistics,
        Tla::DeviceStatistics,
        Tla::ConnectionStatistics,
        Tla::PeerDeviceStatistics,
        Tla::NotificationHeader,
        Tla::Helper,
    ];

    /// Attribute id on the wire (without flag bits).
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The top-level attribute with id `id` (flag bits already stripped).
    pub const fn from_id(id: u16) -> Option<Tla> {
        Some(match id {
            1 => Tla::CfgReply,
            2 => Tla::CfgContext,
            3 => Tla::DiskConf,
            4 => Tla::ResourceOpts,
            5 => Tla::NetConf,
            6 => Tla::SetRoleParms,
            7 => Tla::ResizeParms,
            8 => Tla::StateInfo,
            9 => Tla::StartOvParms,
            10 => Tla::NewCUuidParms,
            11 => Tla::TimeoutParms,
            12 => Tla::DisconnectParms,
            13 => Tla::DetachParms,
            15 => Tla::ResourceInfo,
            16 => Tla::DeviceInfo,
            17 => Tla::ConnectionInfo,
            18 => Tla::PeerDeviceInfo,
            19 => Tla::ResourceStatistics,
            20 => Tla::DeviceStatistics,
            21 => Tla::ConnectionStatistics,
            22 => Tla::PeerDeviceStatistics,
            23 => Tla::NotificationHeader,
            24 => Tla::Helper,
            _ => return None,
        })
    }

    /// C name (`DRBD_NLA_…`).
    pub const fn name(self) -> &'static str {
        match self {
            Tla::CfgReply => "DRBD_NLA_CFG_REPLY",
            Tla::CfgContext => "DRBD_NLA_CFG_CONTEXT",
            Tla::DiskConf => "DRBD_NLA_DISK_CONF",
            Tla::ResourceOpts => "DRBD_NLA_RESOURCE_OPTS",
            Tla::NetConf => "DRBD_NLA_NET_CONF",
            Tla::SetRoleParms => "DRBD_NLA_SET_ROLE_PARMS",
            Tla::ResizeParms => "DRBD_NLA_RESIZE_PARMS",
            Tla::StateInfo => "DRBD_NLA_STATE_INFO",
            Tla::StartOvParms => "DRBD_NLA_START_OV_PARMS",
            Tla::NewCUuidParms => "DRBD_NLA_NEW_C_UUID_PARMS",
            Tla::TimeoutParms => "DRBD_NLA_TIMEOUT_PARMS",
            Tla::DisconnectParms => "DRBD_NLA_DISCONNECT_PARMS",
            Tla::DetachParms => "DRBD_NLA_DETACH_PARMS",
            Tla::ResourceInfo => "DRBD_NLA_RESOURCE_INFO",
            Tla::DeviceInfo => "DRBD_NLA_DEVICE_INFO",
            Tla::ConnectionInfo => "DRBD_NLA_CONNECTION_INFO",
            Tla::PeerDeviceInfo => "DRBD_NLA_PEER_DEVICE_INFO",
            Tla::ResourceStatistics => "DRBD_NLA_RESOURCE_STATISTICS",
            Tla::DeviceStatistics => "DRBD_NLA_DEVICE_STATISTICS",
            Tla::ConnectionStatistics => "DRBD_NLA_CONNECTION_STATISTICS",
            Tla::PeerDeviceStatistics => "DRBD_NLA_PEER_DEVICE_STATISTICS",
            Tla::NotificationHeader => "DRBD_NLA_NOTIFICATION_HEADER",
            Tla::Helper => "DRBD_NLA_HELPER",
        }
    }

    /// The attribute set this top-level attribute carries.
    pub const fn set(self) -> &'static SetDef {
        match self {
            Tla::CfgReply => &CFG_REPLY,
            Tla::CfgContext => &CFG_CONTEXT,
            Tla::DiskConf => &DISK_CONF,
            Tla::ResourceOpts => &RES_OPTS,
            Tla::NetConf => &NET_CONF,
            Tla::SetRoleParms => &SET_ROLE_PARMS,
            Tla::ResizeParms => &RESIZE_PARMS,
            Tla::StateInfo => &STATE_INFO,
            Tla::StartOvParms => &START_OV_PARMS,
            Tla::NewCUuidParms => &NEW_C_UUID_PARMS,
            Tla::TimeoutParms => &TIMEOUT_PARMS,
            Tla::DisconnectParms => &DISCONNECT_PARMS,
            Tla::DetachParms => &DETACH_PARMS,
            Tla::ResourceInfo => &RESOURCE_INFO,
            Tla::DeviceInfo => &DEVICE_INFO,
            Tla::ConnectionInfo => &CONNECTION_INFO,
            Tla::PeerDeviceInfo => &PEER_DEVICE_INFO,
            Tla::ResourceStatistics => &RESOURCE_STATISTICS,
            Tla::DeviceStatistics => &DEVICE_STATISTICS,
            Tla::ConnectionStatistics => &CONNECTION_STATISTICS,
            Tla::PeerDeviceStatistics => &PEER_DEVICE_STATISTICS,
            Tla::NotificationHeader => &NOTIFICATION_HEADER,
            Tla::Helper => &HELPER_INFO,
        }
    }

    /// Whether the 6.12 kernel builds this set by hand (`cfg_context`, `cfg_reply`,
    /// `state_info`): with the mandatory bit on flagged fields and without `NLA_F_NESTED` on
    /// the top-level attribute. The generic serializers used for the other sets do the
    /// opposite.
    pub const fn kernel_hand_built(self) -> bool {
        matches!(self, Tla::CfgReply | Tla::CfgContext | Tla::StateInfo)
    }
}

/// Every attribute set, in top-level attribute order.
pub const ALL_SETS: [&SetDef; 23] = [
    &CFG_REPLY,
    &CFG_CONTEXT,
    &DISK_CONF,
    &RES_OPTS,
    &NET_CONF,
    &SET_ROLE_PARMS,
    &RESIZE_PARMS,
    &STATE_INFO,
    &START_OV_PARMS,
    &NEW_C_UUID_PARMS,
    &TIMEOUT_PARMS,
    &DISCONNECT_PARMS,
    &DETACH_PARMS,
    &RESOURCE_INFO,
    &DEVICE_INFO,
    &CONNECTION_INFO,
    &PEER_DEVICE_INFO,
    &RESOURCE_STATISTICS,
    &DEVICE_STATISTICS,
    &CONNECTION_STATISTICS,
    &PEER_DEVICE_STATISTICS,
    &NOTIFICATION_HEADER,
    &HELPER_INFO,
];

const M: FieldFlags = FieldFlags::MANDATORY;
const OPT: FieldFlags = FieldFlags::NONE;
const R_I: FieldFlags = FieldFlags::REQUIRED.union(FieldFlags::INVARIANT);
const M_I: FieldFlags = FieldFlags::MANDATORY.union(FieldFlags::INVARIANT);
const M_S: FieldFlags = FieldFlags::MANDATORY.union(FieldFlags::SENSITIVE);
const R: FieldFlags = FieldFlags::REQUIRED;

/// Size of the kernel's `sockaddr_storage`: the longest accepted address.
pub const SOCKADDR_STORAGE_SIZE: u16 = 128;
/// Longest resource name plus NUL (`ctx_resource_name`).
pub const RESOURCE_NAME_MAX: u16 = 128;
/// `SHARED_SECRET_MAX`: buffer size of the net_conf strings.
pub const SHARED_SECRET_MAX: u16 = 64;
/// Number of UUID slots in `state_info.uuids` (`UI_SIZE`): current, bitmap, history1/2.
pub const UI_SIZE: usize = 4;
/// Number of history UUID slots in `device_statistics.history_uuids` (`HISTORY_UUIDS`).
pub const HISTORY_UUIDS: usize = 32;

const fn ev(value: u32, name: &'static str) -> EnumValue {
    EnumValue { value, name }
}

/// `on-io-error` keywords.
pub const ON_IO_ERROR_VALUES: [EnumValue; 3] = [
    ev(0, "pass_on"),
    ev(1, "call-local-io-error"),
    ev(2, "detach"),
];
/// `fencing` keywords.
pub const FENCING_VALUES: [EnumValue; 3] = [
    ev(0, "dont-care"),
    ev(1, "resource-only"),
    ev(2, "resource-and-stonith"),
];
/// `read-balancing` keywords.
pub const READ_BALANCING_VALUES: [EnumValue; 11] = [
    ev(0, "prefer-local"),
    ev(1, "prefer-remote"),
    ev(2, "round-robin"),
    ev(3, "least-pending"),
    ev(4, "when-congested-remote"),
    ev(5, "32K-striping"),
    ev(6, "64K-striping"),
    ev(7, "128K-striping"),
    ev(8, "256K-striping"),
    ev(9, "512K-striping"),
    ev(10, "1M-striping"),
];
/// `on-no-data-accessible` keywords.
pub const ON_NO_DATA_VALUES: [EnumValue; 2] = [ev(0, "io-error"), ev(1, "suspend-io")];
/// `protocol` keywords.
pub const WIRE_PROTOCOL_VALUES: [EnumValue; 3] = [ev(1, "A"), ev(2, "B"), ev(3, "C")];
/// `after-sb-0pri` keywords.
pub const AFTER_SB_0P_VALUES: [EnumValue; 7] = [
    ev(0, "disconnect"),
    ev(1, "discard-younger-primary"),
    ev(2, "discard-older-primary"),
    ev(3, "discard-zero-changes"),
    ev(4, "discard-least-changes"),
    ev(5, "discard-local"),
    ev(6, "discard-remote"),
];
/// `after-sb-1pri` keywords.
pub const AFTER_SB_1P_VALUES: [EnumValue; 5] = [
    ev(0, "disconnect"),
    ev(7, "consensus"),
    ev(8, "discard-secondary"),
    ev(9, "call-pri-lost-after-sb"),
    ev(10, "violently-as0p"),
];
/// `after-sb-2pri` keywords.
pub const AFTER_SB_2P_VALUES: [EnumValue; 3] = [
    ev(0, "disconnect"),
    ev(9, "call-pri-lost-after-sb"),
    ev(10, "violently-as0p"),
];
/// `rr-conflict` keywords.
pub const RR_CONFLICT_VALUES: [EnumValue; 3] = [
    ev(0, "disconnect"),
    ev(9, "call-pri-lost"),
    ev(10, "violently"),
];
/// `on-congestion` keywords.
pub const ON_CONGESTION_VALUES: [EnumValue; 3] =
    [ev(0, "block"), ev(1, "pull-ahead"), ev(2, "disconnect")];

/// `drbd_cfg_reply` (TLA 1): human-readable detail of a reply.
pub const CFG_REPLY: SetDef = SetDef {
    tla: Tla::CfgReply,
    name: "drbd_cfg_reply",
    fields: &[strf(1, "info_text", 0, M)],
};

/// `drbd_cfg_context` (TLA 2): names the object a request is about.
pub const CFG_CONTEXT: SetDef = SetDef {
    tla: Tla::CfgContext,
    name: "drbd_cfg_context",
    fields: &[
        u32f(1, "ctx_volume", M),
        strf(2, "ctx_resource_name", RESOURCE_NAME_MAX, M),
        binf(3, "ctx_my_addr", SOCKADDR_STORAGE_SIZE, M),
        binf(4, "ctx_peer_addr", SOCKADDR_STORAGE_SIZE, M),
    ],
};

/// `disk_conf` (TLA 3): attach / disk-options.
pub const DISK_CONF: SetDef = SetDef {
    tla: Tla::DiskConf,
    name: "disk_conf",
    fields: &[
        strf(1, "backing_dev", 128, R_I).opt("disk"),
        strf(2, "meta_dev", 128, R_I).opt("meta-disk"),
        s32f(3, "meta_dev_idx", R_I),
        u64f(4, "disk_size", M_I)
            .def(DefaultValue::U64(0))
            .range(0, 1 << 41)
            .unit(Scale::Sectors)
            .opt("size"),
        u32f(5, "max_bio_bvecs", M_I)
            .d_u32(0)
            .range(0, 128)
            .opt("max-bio-bvecs"),
        u32f(6, "on_io_error", M)
            .d_u32(2)
            .vals(&ON_IO_ERROR_VALUES)
            .opt("on-io-error"),
        u32f(7, "fencing", M)
            .d_u32(0)
            .vals(&FENCING_VALUES)
            .opt("fencing"),
        u32f(8, "resync_rate", M)
            .d_u32(250)
            .range(1, 4 << 20)
            .unit(Scale::KiB)
            .opt("resync-rate"),
        s32f(9, "resync_after", M)
            .def(DefaultValue::S32(-1))
            .range(-1, (1 << 20) - 1)
            .opt("resync-after"),
        u32f(10, "al_extents", M)
            .d_u32(1237)
            .range(67, 65534)
            .opt("al-extents"),
        u32f(11, "c_plan_ahead", M)
            .d_u32(20)
            .range(0, 300)
            .opt("c-plan-ahead"),
        u32f(12, "c_delay_target", M)
            .d_u32(10)
            .range(1, 100)
            .opt("c-delay-target"),
        u32f(13, "c_fill_target", M)
            .d_u32(100)
            .range(0, 1 << 20)
            .unit(Scale::Sectors)
            .opt("c-fill-target"),
        u32f(14, "c_max_rate", M)
            .d_u32(102_400)
            .range(250, 4 << 20)
            .unit(Scale::KiB)
            .opt("c-max-rate"),
        u32f(15, "c_min_rate", M)
            .d_u32(250)
            .range(0, 4 << 20)
            .unit(Scale::KiB)
            .opt("c-min-rate"),
        flag(16, "disk_barrier", M)
            .d_flag(false)
            .opt("disk-barrier"),
        flag(17, "disk_flushes", M).d_flag(true).opt("disk-flushes"),
        flag(18, "disk_drain", M).d_flag(true).opt("disk-drain"),
        flag(19, "md_flushes", M).d_flag(true).opt("md-flushes"),
        u32f(20, "disk_timeout", M)
            .d_u32(0)
            .range(0, 6000)
            .opt("disk-timeout"),
        u32f(21, "read_balancing", OPT)
            .d_u32(0)
            .vals(&READ_BALANCING_VALUES)
            .opt("read-balancing"),
        flag(23, "al_updates", OPT).d_flag(true).opt("al-updates"),
        flag(24, "discard_zeroes_if_aligned", OPT)
            .d_flag(true)
            .opt("discard-zeroes-if-aligned"),
        u32f(25, "rs_discard_granularity", OPT)
            .d_u32(0)
            .range(0, 1 << 20)
            .opt("rs-discard-granularity"),
        flag(26, "disable_write_same", OPT)
            .d_flag(false)
            .opt("disable-write-same"),
    ],
};

/// `res_opts` (TLA 4): new-resource / resource-options.
pub const RES_OPTS: SetDef = SetDef {
    tla: Tla::ResourceOpts,
    name: "res_opts",
    fields: &[
        strf(1, "cpu_mask", 32, M)
            .def(DefaultValue::Str(""))
            .opt("cpu-mask"),
        u32f(2, "on_no_data", M)
            .d_u32(0)
            .vals(&ON_NO_DATA_VALUES)
            .opt("on-no-data-accessible"),
    ],
};

/// `net_conf` (TLA 5): connect / net-options.
pub const NET_CONF: SetDef = SetDef {
    tla: Tla::NetConf,
    name: "net_conf",
    fields: &[
        strf(1, "shared_secret", SHARED_SECRET_MAX, M_S)
            .def(DefaultValue::Str(""))
            .opt("shared-secret"),
        strf(2, "cram_hmac_alg", SHARED_SECRET_MAX, M)
            .def(DefaultValue::Str(""))
            .opt("cram-hmac-alg"),
        strf(3, "integrity_alg", SHARED_SECRET_MAX, M)
            .def(DefaultValue::Str(""))
            .opt("data-integrity-alg"),
        strf(4, "verify_alg", SHARED_SECRET_MAX, M)
            .def(DefaultValue::Str(""))
            .opt("verify-alg"),
        strf(5, "csums_alg", SHARED_SECRET_MAX, M)
            .def(DefaultValue::Str(""))
            .opt("csums-alg"),
        u32f(6, "wire_protocol", M)
            .d_u32(3)
            .vals(&WIRE_PROTOCOL_VALUES)
            .opt("protocol"),
        u32f(7, "connect_int", M)
            .d_u32(10)
            .range(1, 120)
            .opt("connect-int"),
        u32f(8, "timeout", M).d_u32(60).range(1, 600).opt("timeout"),
        u32f(9, "ping_int", M)
            .d_u32(10)
            .range(1, 120)
            .opt("ping-int"),
        u32f(10, "ping_timeo", M)
            .d_u32(5)
            .range(1, 300)
            .opt("ping-timeout"),
        u32f(11, "sndbuf_size", M)
            .d_u32(0)
            .range(0, 10 << 20)
            .opt("sndbuf-size"),
        u32f(12, "rcvbuf_size", M)
            .d_u32(0)
            .range(0, 10 << 20)
            .opt("rcvbuf-size"),
        u32f(13, "ko_count", M)
            .d_u32(7)
            .range(0, 200)
            .opt("ko-count"),
        u32f(14, "max_buffers", M)
            .d_u32(2048)
            .range(32, 131_072)
            .opt("max-buffers"),
        u32f(15, "max_epoch_size", M)
            .d_u32(2048)
            .range(1, 20_000)
            .opt("max-epoch-size"),
        u32f(16, "unplug_watermark", M)
            .d_u32(128)
            .range(1, 131_072)
            .opt("unplug-watermark"),
        u32f(17, "after_sb_0p", M)
            .d_u32(0)
            .vals(&AFTER_SB_0P_VALUES)
            .opt("after-sb-0pri"),
        u32f(18, "after_sb_1p", M)
            .d_u32(0)
            .vals(&AFTER_SB_1P_VALUES)
            .opt("after-sb-1pri"),
        u32f(19, "after_sb_2p", M)
            .d_u32(0)
            .vals(&AFTER_SB_2P_VALUES)
            .opt("after-sb-2pri"),
        u32f(20, "rr_conflict", M)
            .d_u32(0)
            .vals(&RR_CONFLICT_VALUES)
            .opt("rr-conflict"),
        u32f(21, "on_congestion", M)
            .d_u32(0)
            .vals(&ON_CONGESTION_VALUES)
            .opt("on-congestion"),
        u32f(22, "cong_fill", M)
            .d_u32(0)
            .range(0, 10 << 21)
            .unit(Scale::Sectors)
            .opt("congestion-fill"),
        u32f(23, "cong_extents", M)
            .d_u32(1237)
            .range(67, 65534)
            .opt("congestion-extents"),
        flag(24, "two_primaries", M)
            .d_flag(false)
            .opt("allow-two-primaries"),
        flag(25, "discard_my_data", M_I).opt("discard-my-data"),
        flag(26, "tcp_cork", M).d_flag(true).opt("tcp-cork"),
        flag(27, "always_asbp", M).d_flag(false).opt("always-asbp"),
        flag(28, "tentative", M_I).opt("tentative"),
        flag(29, "use_rle", M).d_flag(true).opt("use-rle"),
        flag(33, "csums_after_crash_only", OPT)
            .d_flag(false)
            .opt("csums-after-crash-only"),
        u32f(34, "sock_check_timeo", OPT)
            .d_u32(0)
            .range(0, 300)
            .opt("socket-check-timeout"),
    ],
};

/// `set_role_parms` (TLA 6): primary / secondary.
pub const SET_ROLE_PARMS: SetDef = SetDef {
    tla: Tla::SetRoleParms,
    name: "set_role_parms",
    fields: &[flag(1, "assume_uptodate", M).opt("force")],
};

/// `resize_parms` (TLA 7): resize.
pub const RESIZE_PARMS: SetDef = SetDef {
    tla: Tla::ResizeParms,
    name: "resize_parms",
    fields: &[
        u64f(1, "resize_size", M)
            .range(0, 1 << 41)
            .unit(Scale::Sectors)
            .opt("size"),
        flag(2, "resize_force", M).opt("assume-peer-has-space"),
        flag(3, "no_resync", M).opt("assume-clean"),
        u32f(4, "al_stripes", OPT)
            .d_u32(1)
            .range(1, 1024)
            .opt("al-stripes"),
        u32f(5, "al_stripe_size", OPT)
            .d_u32(32)
            .range(4, 16_777_216)
            .unit(Scale::KiB)
            .opt("al-stripe-size-kB"),
    ],
};

/// `state_info` (TLA 8): GET_STATUS replies and `DRBD_EVENT` notifications.
pub const STATE_INFO: SetDef = SetDef {
    tla: Tla::StateInfo,
    name: "state_info",
    fields: &[
        u32f(1, "sib_reason", M),
        u32f(2, "current_state", R),
        u64f(3, "capacity", M),
        u64f(4, "ed_uuid", M),
        u32f(5, "prev_state", M),
        u32f(6, "new_state", M),
        binf(7, "uuids", (UI_SIZE * 8) as u16, M),
        u32f(8, "disk_flags", M),
        u64f(9, "bits_total", M),
        u64f(10, "bits_oos", M),
        u64f(11, "bits_rs_total", M),
        u64f(12, "bits_rs_failed", M),
        strf(13, "helper", 32, M),
        u32f(14, "helper_exit_code", M),
        u64f(15, "send_cnt", OPT),
        u64f(16, "recv_cnt", OPT),
        u64f(17, "read_cnt", OPT),
        u64f(18, "writ_cnt", OPT),
        u64f(19, "al_writ_cnt", OPT),
        u64f(20, "bm_writ_cnt", OPT),
        u32f(21, "ap_bio_cnt", OPT),
        u32f(22, "ap_pending_cnt", OPT),
        u32f(23, "rs_pending_cnt", OPT),
    ],
};

/// `start_ov_parms` (TLA 9): verify.
pub const START_OV_PARMS: SetDef = SetDef {
    tla: Tla::StartOvParms,
    name: "start_ov_parms",
    fields: &[
        u64f(1, "ov_start_sector", M)
            .range(0, 1 << 41)
            .unit(Scale::Sectors)
            .opt("start"),
        u64f(2, "ov_stop_sector", M)
            .range(0, 1 << 41)
            .unit(Scale::Sectors)
            .opt("stop"),
    ],
};

/// `new_c_uuid_parms` (TLA 10): new-current-uuid.
pub const NEW_C_UUID_PARMS: SetDef = SetDef {
    tla: Tla::NewCUuidParms,
    name: "new_c_uuid_parms",
    fields: &[flag(1, "clear_bm", M).opt("clear-bitmap")],
};

/// `timeout_parms` (TLA 11): reply of GET_TIMEOUT_TYPE.
pub const TIMEOUT_PARMS: SetDef = SetDef {
    tla: Tla::TimeoutParms,
    name: "timeout_parms",
    fields: &[u32f(1, "timeout_type", R)],
};

/// `disconnect_parms` (TLA 12): disconnect.
pub const DISCONNECT_PARMS: SetDef = SetDef {
    tla: Tla::DisconnectParms,
    name: "disconnect_parms",
    fields: &[flag(1, "force_disconnect", M).opt("force")],
};

/// `detach_parms` (TLA 13): detach.
pub const DETACH_PARMS: SetDef = SetDef {
    tla: Tla::DetachParms,
    name: "detach_parms",
    fields: &[flag(1, "force_detach", M).opt("force")],
};

/// `resource_info` (TLA 15).
pub const RESOURCE_INFO: SetDef = SetDef {
    tla: Tla::ResourceInfo,
    name: "resource_info",
    fields: &[
        u32f(1, "res_role", OPT),
        flag(2, "res_susp", OPT),
        flag(3, "res_susp_nod", OPT),
        flag(4, "res_susp_fen", OPT),
    ],
};

/// `device_info` (TLA 16).
pub const DEVICE_INFO: SetDef = SetDef {
    tla: Tla::DeviceInfo,
    name: "device_info",
    fields: &[u32f(1, "dev_disk_state", OPT)],
};

/// `connection_info` (TLA 17).
pub const CONNECTION_INFO: SetDef = SetDef {
    tla: Tla::ConnectionInfo,
    name: "connection_info",
    fields: &[
        u32f(1, "conn_connection_state", OPT),
        u32f(2, "conn_role", OPT),
    ],
};

/// `peer_device_info` (TLA 18).
pub const PEER_DEVICE_INFO: SetDef = SetDef {
    tla: Tla::PeerDeviceInfo,
    name: "peer_device_info",
    fields: &[
        u32f(1, "peer_repl_state", OPT),
        u32f(2, "peer_disk_state", OPT),
        u32f(3, "peer_resync_susp_user", OPT),
        u32f(4, "peer_resync_susp_peer", OPT),
        u32f(5, "peer_resync_susp_dependency", OPT),
    ],
};

/// `resource_statistics` (TLA 19).
pub const RESOURCE_STATISTICS: SetDef = SetDef {
    tla: Tla::ResourceStatistics,
    name: "resource_statistics",
    fields: &[u32f(1, "res_stat_write_ordering", OPT)],
};

/// `device_statistics` (TLA 20).
pub const DEVICE_STATISTICS: SetDef = SetDef {
    tla: Tla::DeviceStatistics,
    name: "device_statistics",
    fields: &[
        u64f(1, "dev_size", OPT),
        u64f(2, "dev_read", OPT),
        u64f(3, "dev_write", OPT),
        u64f(4, "dev_al_writes", OPT),
        u64f(5, "dev_bm_writes", OPT),
        u32f(6, "dev_upper_pending", OPT),
        u32f(7, "dev_lower_pending", OPT),
        flag(8, "dev_upper_blocked", OPT),
        flag(9, "dev_lower_blocked", OPT),
        flag(10, "dev_al_suspended", OPT),
        u64f(11, "dev_exposed_data_uuid", OPT),
        u64f(12, "dev_current_uuid", OPT),
        u32f(13, "dev_disk_flags", OPT),
        binf(14, "history_uuids", (HISTORY_UUIDS * 8) as u16, OPT),
    ],
};

/// `connection_statistics` (TLA 21).
pub const CONNECTION_STATISTICS: SetDef = SetDef {
    tla: Tla::ConnectionStatistics,
    name: "connection_statistics",
    fields: &[flag(1, "conn_congested", OPT)],
};

/// `peer_device_statistics` (TLA 22). Id 8 is unused.
pub const PEER_DEVICE_STATISTICS: SetDef = SetDef {
    tla: Tla::PeerDeviceStatistics,
    name: "peer_device_statistics",
    fields: &[
        u64f(1, "peer_dev_received", OPT),
        u64f(2, "peer_dev_sent", OPT),
        u32f(3, "peer_dev_pending", OPT),
        u32f(4, "peer_dev_unacked", OPT),
        u64f(5, "peer_dev_out_of_sync", OPT),
        u64f(6, "peer_dev_resync_failed", OPT),
        u64f(7, "peer_dev_bitmap_uuid", OPT),
        u32f(9, "peer_dev_flags", OPT),
    ],
};

/// `drbd_notification_header` (TLA 23).
pub const NOTIFICATION_HEADER: SetDef = SetDef {
    tla: Tla::NotificationHeader,
    name: "drbd_notification_header",
    fields: &[u32f(1, "nh_type", M)],
};

/// `drbd_helper_info` (TLA 24).
pub const HELPER_INFO: SetDef = SetDef {
    tla: Tla::Helper,
    name: "drbd_helper_info",
    fields: &[strf(1, "helper_name", 32, M), u32f(2, "helper_status", M)],
};

/// `state_info.sib_reason` values.
pub mod sib_reason {
    /// Reply to GET_STATUS.
    pub const GET_STATUS_REPLY: u32 = 1;
    /// Device state change (old/new state in `prev_state`/`new_state`).
    pub const STATE_CHANGE: u32 = 2;
    /// Before a user-mode helper runs.
    pub const HELPER_PRE: u32 = 3;
    /// After a user-mode helper returned.
    pub const HELPER_POST: u32 = 4;
    /// Resync / verify progress.
    pub const SYNC_PROGRESS: u32 = 5;
}

/// `drbd_notification_header.nh_type` values.
pub mod notify {
    /// Object exists (initial state dump).
    pub const EXISTS: u32 = 0;
    /// Object created.
    pub const CREATE: u32 = 1;
    /// Object changed.
    pub const CHANGE: u32 = 2;
    /// Object destroyed.
    pub const DESTROY: u32 = 3;
    /// Helper called.
    pub const CALL: u32 = 4;
    /// Helper returned.
    pub const RESPONSE: u32 = 5;
    /// Or-ed into the type when more messages of the same event follow.
    pub const CONTINUES: u32 = 0x8000;
    /// Mask of the type without [`CONTINUES`].
    pub const TYPE_MASK: u32 = !CONTINUES;
}

/// `timeout_parms.timeout_type` values.
pub mod timeout_type {
    /// `UT_DEFAULT`.
    pub const DEFAULT: u32 = 0;
    /// `UT_DEGRADED`: this node was a degraded primary before a crash.
    pub const DEGRADED: u32 = 1;
    /// `UT_PEER_OUTDATED`: the peer disk is Outdated.
    pub const PEER_OUTDATED: u32 = 2;
}

/// `peer_device_statistics.peer_dev_flags` bits.
pub mod peer_dev_flags {
    /// Peer was connected.
    pub const CONNECTED: u32 = 1;
    /// Peer disk is outdated.
    pub const OUTDATED: u32 = 2;
    /// Fencing (never set in 8.4).
    pub const FENCING: u32 = 4;
    /// Full sync pending.
    pub const FULL_SYNC: u32 = 8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tla_ids_round_trip_and_match_sets() {
        for (i, tla) in Tla::ALL.iter().enumerate() {
            assert_eq!(Tla::from_id(tla.id()), Some(*tla));
            assert_eq!(tla.set().tla, *tla);
            assert_eq!(ALL_SETS[i], tla.set());
        }
        assert_eq!(Tla::from_id(0), None);
        assert_eq!(Tla::from_id(14), None);
        assert_eq!(Tla::from_id(25), None);
        assert_eq!(
            Tla::ALL.iter().map(|t| t.id()).max(),
            Some(super::super::MAX_TOP_LEVEL_ATTR as u16)
        );
    }

    #[test]
    fn field_ids_unique_names_globally_unique() {
        let mut names: Vec<&str> = Vec::new();
        for set in ALL_SETS {
            for (i, f) in set.fields.iter().enumerate() {
                assert!(f.id >= 1 && f.id < 0x4000, "{}.{}", set.name, f.name);
                assert!(
                    set.fields[i + 1..].iter().all(|g| g.id != f.id),
                    "duplicate id in {}",
                    set.name
                );
                assert!(!names.contains(&f.name), "duplicate name {}", f.name);
                names.push(f.name);
                if let (Some(d), Some(_)) = (f.default, f.limits) {
                    let v = match d {
                        DefaultValue::U32(v) => i64::from(v),
                        DefaultValue::S32(v) => i64::from(v),
                        DefaultValue::U64(v) => v as i64,
                        DefaultValue::Flag(b) => i64::from(b),
                        DefaultValue::Str(_) => continue,
                    };
                    assert!(f.accepts(v), "default of {} out of range", f.name);
                }
                if let Some(DefaultValue::U32(v)) = f.default {
                    assert!(f.accepts(i64::from(v)), "default of {}", f.name);
                }
            }
        }
    }

    #[test]
    fn max_ids() {
        assert_eq!(DISK_CONF.max_id(), 26);
        assert_eq!(NET_CONF.max_id(), 34);
        assert_eq!(STATE_INFO.max_id(), 23);
        assert_eq!(PEER_DEVICE_STATISTICS.max_id(), 9);
        assert_eq!(CFG_CONTEXT.max_id(), 4);
        assert!(DISK_CONF.field(22).is_none());
    }

    #[test]
    fn flagged_types_and_lookups() {
        let f = SET_ROLE_PARMS.field_by_name("assume_uptodate").unwrap();
        assert_eq!(f.flagged_type(), 0x4001);
        // The const lookup matches whole names only.
        assert_eq!(
            DISK_CONF.field_by_name("c_plan_ahead").map(|f| f.id),
            Some(11)
        );
        assert!(DISK_CONF.field_by_name("c_plan").is_none());
        assert!(DISK_CONF.field_by_name("c_plan_ahead_").is_none());
        assert!(DISK_CONF.field_by_name("").is_none());
        let f = STATE_INFO.field(2).unwrap();
        assert_eq!(f.flagged_type(), 2);
        let f = DISK_CONF.field_by_option("on-io-error").unwrap();
        assert_eq!(f.value_of("detach"), Some(2));
        assert_eq!(f.value_name(0), Some("pass_on"));
        assert!(!f.accepts(3));
        let f = NET_CONF.field_by_option("after-sb-1pri").unwrap();
        assert!(f.accepts(7) && !f.accepts(1));
        assert!(NET_CONF.field(1).unwrap().flags.is_sensitive());
        assert!(DISK_CONF.field(1).unwrap().flags.is_required());
        assert!(!DISK_CONF.field(1).unwrap().flags.is_mandatory());
    }
}
