// SPDX-License-Identifier: GPL-2.0
//! Typed views of the attribute sets, and encoding of sets as nested top-level attributes.
//!
//! Every set of [`super::sets`] has a struct here whose fields are `Option`s: `Some` for an
//! attribute present on the wire, `None` for an absent one — presence matters (change requests
//! only touch the fields they carry; the kernel emits some fields only in some states). String
//! fields are the bytes before the NUL and binaries the raw payload, both borrowed from the
//! input. The struct definitions are checked at compile time against the tables (same ids,
//! names, types, and every table field covered).
//!
//! Decoding validates first ([`validate_set`]); encoding writes the set as a nested top-level
//! attribute in the style of the sender ([`EncodeOpts`]).

use super::msg::Message;
use super::nla::NLA_F_NESTED;
use super::sets::{self, DefaultValue, FieldType, SetDef, Tla};
use super::validate::{validate_set, SetView, ValidateOpts, ValidationError};
use super::value::{put_field, FieldStyle, Value};
use super::writer::{EncodeError, FieldProblem, Writer};

/// Which side builds a message; this decides the attribute style (§2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// drbdsetup / the admin tool: mandatory bit on every field declared mandatory,
    /// `NLA_F_NESTED` on every top-level attribute.
    Tool,
    /// The kernel: `cfg_context`, `cfg_reply` and `state_info` are built by hand (mandatory
    /// bits, no `NLA_F_NESTED`), all other sets by the generic serializers (plain ids,
    /// `NLA_F_NESTED`).
    Kernel,
}

/// How sets are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOpts {
    /// Who sends.
    pub sender: Sender,
    /// Insert type-0 pad attributes before misaligned u64s (kernel on architectures without
    /// efficient unaligned access; never on x86_64).
    pub pad_u64: bool,
    /// Emit sensitive fields (`shared_secret`): requests, and unicast replies to a caller with
    /// `CAP_SYS_ADMIN`; never multicasts.
    pub include_sensitive: bool,
}

impl EncodeOpts {
    /// The admin tool's requests.
    pub const TOOL: Self = Self {
        sender: Sender::Tool,
        pad_u64: false,
        include_sensitive: true,
    };
    /// Kernel multicasts and replies to unprivileged callers (x86_64: no u64 padding).
    pub const KERNEL: Self = Self {
        sender: Sender::Kernel,
        pad_u64: false,
        include_sensitive: false,
    };
    /// Kernel unicast replies to a caller with `CAP_SYS_ADMIN`.
    pub const KERNEL_PRIVILEGED: Self = Self {
        sender: Sender::Kernel,
        pad_u64: false,
        include_sensitive: true,
    };

    /// Field style used for set `tla`.
    pub const fn field_style(&self, tla: Tla) -> FieldStyle {
        FieldStyle {
            mandatory_bits: match self.sender {
                Sender::Tool => true,
                Sender::Kernel => tla.kernel_hand_built(),
            },
            pad_u64: self.pad_u64,
            include_sensitive: self.include_sensitive,
        }
    }

    /// Wire type of top-level attribute `tla` (with `NLA_F_NESTED` where the sender sets it).
    pub const fn tla_type(&self, tla: Tla) -> u16 {
        let nested = match self.sender {
            Sender::Tool => true,
            Sender::Kernel => !tla.kernel_hand_built(),
        };
        if nested {
            tla.id() | NLA_F_NESTED
        } else {
            tla.id()
        }
    }
}

/// A set that can be encoded as a nested top-level attribute.
pub trait SetEncode {
    /// The set's table.
    fn set_def(&self) -> &'static SetDef;

    /// Write the set's fields (the nest's content).
    fn encode_fields(&self, w: &mut Writer<'_>, style: &FieldStyle) -> Result<(), EncodeError>;

    /// Write the set as its top-level attribute. On error nothing of it remains written.
    fn encode(&self, w: &mut Writer<'_>, opts: &EncodeOpts) -> Result<(), EncodeError> {
        let tla = self.set_def().tla;
        let nest = w.nest_start(opts.tla_type(tla))?;
        match self.encode_fields(w, &opts.field_style(tla)) {
            Ok(()) => w.nest_end(nest),
            Err(e) => {
                w.nest_cancel(nest);
                Err(e)
            }
        }
    }
}

/// A typed set that can be decoded from a validated [`SetView`] (for generic access, e.g.
/// [`super::request::ValidRequest::get`]).
pub trait SetDecode<'a>: Sized {
    /// The set's table.
    fn set_def_static() -> &'static SetDef;

    /// Decode an already validated set.
    fn from_set_view(view: &SetView<'a>) -> Self;
}

/// A set given as a list of `(field id, value)` pairs, checked against the table when encoded;
/// for building sets generically (e.g. from drbdsetup option names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldValues<'v> {
    /// The set.
    pub set: &'static SetDef,
    /// The fields to emit, in this order.
    pub values: &'v [(u16, Value<'v>)],
}

impl SetEncode for FieldValues<'_> {
    fn set_def(&self) -> &'static SetDef {
        self.set
    }

    fn encode_fields(&self, w: &mut Writer<'_>, style: &FieldStyle) -> Result<(), EncodeError> {
        for (id, v) in self.values {
            let def = self.set.field(*id).ok_or(EncodeError::InvalidField {
                set: self.set.name,
                field: "?",
                problem: FieldProblem::UnknownField,
            })?;
            put_field(w, self.set.name, def, v, style)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    U32,
    S32,
    U64,
    Str,
    Bin,
}

const fn same_name(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a, b) {
            ([x, ta @ ..], [y, tb @ ..]) if *x == *y => {
                a = ta;
                b = tb;
            }
            ([], []) => return true,
            _ => return false,
        }
    }
}

/// Compile-time check that `set` has field `id` named `name` of kind `kind`.
const fn field_matches(set: &SetDef, id: u16, name: &str, kind: Kind) -> bool {
    let mut rest = set.fields;
    while let [f, tail @ ..] = rest {
        if f.id == id {
            let k = match f.ty {
                FieldType::Flag => Kind::Flag,
                FieldType::U32 => Kind::U32,
                FieldType::S32 => Kind::S32,
                FieldType::U64 => Kind::U64,
                FieldType::Str { .. } => Kind::Str,
                FieldType::Bin { .. } => Kind::Bin,
            };
            return same_name(f.name, name) && k as u8 == kind as u8;
        }
        rest = tail;
    }
    false
}

macro_rules! field_type {
    (Flag) => { bool };
    (U32) => { u32 };
    (S32) => { i32 };
    (U64) => { u64 };
    (Str) => { &'a [u8] };
    (Bin) => { &'a [u8] };
}

macro_rules! from_value {
    (Flag, $v:expr) => {
        $v.as_flag()
    };
    (U32, $v:expr) => {
        $v.as_u32()
    };
    (S32, $v:expr) => {
        $v.as_s32()
    };
    (U64, $v:expr) => {
        $v.as_u64()
    };
    (Str, $v:expr) => {
        $v.as_str_bytes()
    };
    (Bin, $v:expr) => {
        $v.as_bin()
    };
}

macro_rules! to_value {
    (Flag, $x:expr) => {
        Value::Flag($x)
    };
    (U32, $x:expr) => {
        Value::U32($x)
    };
    (S32, $x:expr) => {
        Value::S32($x)
    };
    (U64, $x:expr) => {
        Value::U64($x)
    };
    (Str, $x:expr) => {
        Value::Str($x)
    };
    (Bin, $x:expr) => {
        Value::Bin($x)
    };
}

macro_rules! from_default {
    (Flag, $d:expr) => {
        match $d {
            DefaultValue::Flag(v) => Some(v),
            _ => None,
        }
    };
    (U32, $d:expr) => {
        match $d {
            DefaultValue::U32(v) => Some(v),
            _ => None,
        }
    };
    (S32, $d:expr) => {
        match $d {
            DefaultValue::S32(v) => Some(v),
            _ => None,
        }
    };
    (U64, $d:expr) => {
        match $d {
            DefaultValue::U64(v) => Some(v),
            _ => None,
        }
    };
    (Str, $d:expr) => {
        match $d {
            DefaultValue::Str(v) => Some(v.as_bytes()),
            _ => None,
        }
    };
    (Bin, $d:expr) => {{
        let _ = $d;
        None
    }};
}

/// The methods shared by borrowed and owned typed sets.
macro_rules! typed_methods {
    ($set:path, $lt:lifetime; $( $field:ident : $kind:ident = $id:literal ),*) => {
        /// The set's table.
        pub const DEF: &'static SetDef = &$set;

        /// Validate `payload` (the content of the set's top-level attribute) and decode it.
        pub fn decode(payload: &$lt [u8], opts: &ValidateOpts) -> Result<Self, ValidationError> {
            validate_set(&$set, payload, opts).map(|v| Self::from_view(&v))
        }

        /// Decode an already validated set (the last occurrence of a field wins).
        pub fn from_view(view: &SetView<$lt>) -> Self {
            let mut s = Self::default();
            for (f, v) in view.fields() {
                match f.id {
                    $( $id => s.$field = from_value!($kind, v), )*
                    _ => {}
                }
            }
            s
        }

        /// Find the set's top-level attribute in `msg` (last occurrence) and decode it;
        /// `Ok(None)` if the message does not carry it.
        pub fn from_message(
            msg: &Message<$lt>,
            opts: &ValidateOpts,
        ) -> Result<Option<Self>, ValidationError> {
            match msg.tla($set.tla) {
                Some(a) => Self::decode(a.payload(), opts).map(Some),
                None => Ok(None),
            }
        }

        /// Fill every absent field that has a default in the table with that default.
        pub fn fill_defaults(&mut self) {
            $(
                if self.$field.is_none() {
                    if let Some(d) = $set.field($id).and_then(|f| f.default) {
                        self.$field = from_default!($kind, d);
                    }
                }
            )*
        }

        /// The set with every field that has a default set to it (others absent).
        pub fn defaults() -> Self {
            let mut s = Self::default();
            s.fill_defaults();
            s
        }

        /// Overwrite the fields present in `changes` (a change request applied to the
        /// current settings).
        pub fn apply(&mut self, changes: &Self) {
            $(
                if changes.$field.is_some() {
                    self.$field = changes.$field;
                }
            )*
        }
    };
}

macro_rules! typed_encode {
    ($set:path; $( $field:ident : $kind:ident = $id:literal ),*) => {
        fn set_def(&self) -> &'static SetDef {
            &$set
        }

        fn encode_fields(
            &self,
            w: &mut Writer<'_>,
            style: &FieldStyle,
        ) -> Result<(), EncodeError> {
            $(
                if let Some(x) = self.$field {
                    let def = $set.field($id).ok_or(EncodeError::InvalidField {
                        set: $set.name,
                        field: stringify!($field),
                        problem: FieldProblem::UnknownField,
                    })?;
                    put_field(w, $set.name, def, &to_value!($kind, x), style)?;
                }
            )*
            Ok(())
        }
    };
}

macro_rules! typed_checks {
    ($set:path; $( $field:ident : $kind:ident = $id:literal ),*) => {
        const _: () = {
            $( assert!(field_matches(&$set, $id, stringify!($field), Kind::$kind)); )*
            assert!([$($id),*].len() == $set.fields.len());
        };
    };
}

macro_rules! typed_set {
    (
        $(#[$meta:meta])*
        borrowed $name:ident = $set:path {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident = $id:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name<'a> {
            $( $(#[$fmeta])* pub $field: Option<field_type!($kind)>, )*
        }

        impl<'a> $name<'a> {
            typed_methods!($set, 'a; $( $field : $kind = $id ),*);
        }

        impl SetEncode for $name<'_> {
            typed_encode!($set; $( $field : $kind = $id ),*);
        }

        impl<'a> SetDecode<'a> for $name<'a> {
            fn set_def_static() -> &'static SetDef {
                &$set
            }

            fn from_set_view(view: &SetView<'a>) -> Self {
                Self::from_view(view)
            }
        }

        typed_checks!($set; $( $field : $kind = $id ),*);
    };
    (
        $(#[$meta:meta])*
        owned $name:ident = $set:path {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident = $id:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<field_type!($kind)>, )*
        }

        impl $name {
            typed_methods!($set, '_; $( $field : $kind = $id ),*);
        }

        impl SetEncode for $name {
            typed_encode!($set; $( $field : $kind = $id ),*);
        }

        impl<'a> SetDecode<'a> for $name {
            fn set_def_static() -> &'static SetDef {
                &$set
            }

            fn from_set_view(view: &SetView<'a>) -> Self {
                Self::from_view(view)
            }
        }

        typed_checks!($set; $( $field : $kind = $id ),*);
    };
}

typed_set! {
    /// `drbd_cfg_reply` (TLA 1).
    borrowed CfgReply = sets::CFG_REPLY {
        /// Human-readable detail ("additional info from kernel").
        info_text: Str = 1,
    }
}

typed_set! {
    /// `drbd_cfg_context` (TLA 2): the object a request is about.
    borrowed CfgContext = sets::CFG_CONTEXT {
        /// Volume number within the resource.
        ctx_volume: U32 = 1,
        /// Resource name.
        ctx_resource_name: Str = 2,
        /// Local address: raw `sockaddr_in`/`sockaddr_in6` (see [`super::addr`]).
        ctx_my_addr: Bin = 3,
        /// Peer address, same format.
        ctx_peer_addr: Bin = 4,
    }
}

typed_set! {
    /// `disk_conf` (TLA 3): attach / disk-options.
    borrowed DiskConf = sets::DISK_CONF {
        /// Backing block device path.
        backing_dev: Str = 1,
        /// Meta-data device path.
        meta_dev: Str = 2,
        /// Meta-data index (−3 flex-internal, −2 flex-external, −1 internal, ≥ 0 index).
        meta_dev_idx: S32 = 3,
        /// User-requested size in sectors (0: as large as possible).
        disk_size: U64 = 4,
        /// `max-bio-bvecs`.
        max_bio_bvecs: U32 = 5,
        /// `on-io-error`.
        on_io_error: U32 = 6,
        /// `fencing`.
        fencing: U32 = 7,
        /// `resync-rate` (KiB/s).
        resync_rate: U32 = 8,
        /// `resync-after` minor (−1: none).
        resync_after: S32 = 9,
        /// `al-extents`.
        al_extents: U32 = 10,
        /// `c-plan-ahead` (0.1 s).
        c_plan_ahead: U32 = 11,
        /// `c-delay-target` (0.1 s).
        c_delay_target: U32 = 12,
        /// `c-fill-target` (sectors).
        c_fill_target: U32 = 13,
        /// `c-max-rate` (KiB/s).
        c_max_rate: U32 = 14,
        /// `c-min-rate` (KiB/s).
        c_min_rate: U32 = 15,
        /// `disk-barrier`.
        disk_barrier: Flag = 16,
        /// `disk-flushes`.
        disk_flushes: Flag = 17,
        /// `disk-drain`.
        disk_drain: Flag = 18,
        /// `md-flushes`.
        md_flushes: Flag = 19,
        /// `disk-timeout` (0.1 s).
        disk_timeout: U32 = 20,
        /// `read-balancing`.
        read_balancing: U32 = 21,
        /// `al-updates`.
        al_updates: Flag = 23,
        /// `discard-zeroes-if-aligned`.
        discard_zeroes_if_aligned: Flag = 24,
        /// `rs-discard-granularity` (bytes).
        rs_discard_granularity: U32 = 25,
        /// `disable-write-same`.
        disable_write_same: Flag = 26,
    }
}

typed_set! {
    /// `res_opts` (TLA 4): new-resource / resource-options.
    borrowed ResOpts = sets::RES_OPTS {
        /// `cpu-mask` (hex bitmap; empty: all CPUs).
        cpu_mask: Str = 1,
        /// `on-no-data-accessible`.
        on_no_data: U32 = 2,
    }
}

typed_set! {
    /// `net_conf` (TLA 5): connect / net-options.
    borrowed NetConf = sets::NET_CONF {
        /// `shared-secret` (sensitive).
        shared_secret: Str = 1,
        /// `cram-hmac-alg`.
        cram_hmac_alg: Str = 2,
        /// `data-integrity-alg`.
        integrity_alg: Str = 3,
        /// `verify-alg`.
        verify_alg: Str = 4,
        /// `csums-alg`.
        csums_alg: Str = 5,
        /// `protocol` (1 A, 2 B, 3 C).
        wire_protocol: U32 = 6,
        /// `connect-int` (s).
        connect_int: U32 = 7,
        /// `timeout` (0.1 s).
        timeout: U32 = 8,
        /// `ping-int` (s).
        ping_int: U32 = 9,
        /// `ping-timeout` (0.1 s).
        ping_timeo: U32 = 10,
        /// `sndbuf-size`.
        sndbuf_size: U32 = 11,
        /// `rcvbuf-size`.
        rcvbuf_size: U32 = 12,
        /// `ko-count`.
        ko_count: U32 = 13,
        /// `max-buffers`.
        max_buffers: U32 = 14,
        /// `max-epoch-size`.
        max_epoch_size: U32 = 15,
        /// `unplug-watermark`.
        unplug_watermark: U32 = 16,
        /// `after-sb-0pri`.
        after_sb_0p: U32 = 17,
        /// `after-sb-1pri`.
        after_sb_1p: U32 = 18,
        /// `after-sb-2pri`.
        after_sb_2p: U32 = 19,
        /// `rr-conflict`.
        rr_conflict: U32 = 20,
        /// `on-congestion`.
        on_congestion: U32 = 21,
        /// `congestion-fill` (sectors).
        cong_fill: U32 = 22,
        /// `congestion-extents`.
        cong_extents: U32 = 23,
        /// `allow-two-primaries`.
        two_primaries: Flag = 24,
        /// `--discard-my-data` (connect only).
        discard_my_data: Flag = 25,
        /// `tcp-cork`.
        tcp_cork: Flag = 26,
        /// `always-asbp`.
        always_asbp: Flag = 27,
        /// `--tentative` (connect only).
        tentative: Flag = 28,
        /// `use-rle`.
        use_rle: Flag = 29,
        /// `csums-after-crash-only`.
        csums_after_crash_only: Flag = 33,
        /// `socket-check-timeout` (0.1 s).
        sock_check_timeo: U32 = 34,
    }
}

typed_set! {
    /// `set_role_parms` (TLA 6).
    owned SetRoleParms = sets::SET_ROLE_PARMS {
        /// `primary --force`.
        assume_uptodate: Flag = 1,
    }
}

typed_set! {
    /// `resize_parms` (TLA 7).
    owned ResizeParms = sets::RESIZE_PARMS {
        /// New size in sectors (0: as large as possible).
        resize_size: U64 = 1,
        /// `--assume-peer-has-space`.
        resize_force: Flag = 2,
        /// `--assume-clean`.
        no_resync: Flag = 3,
        /// `--al-stripes`.
        al_stripes: U32 = 4,
        /// `--al-stripe-size-kB`.
        al_stripe_size: U32 = 5,
    }
}

typed_set! {
    /// `state_info` (TLA 8). Fields are declared (and encoded) in the order 6.12 emits them.
    borrowed StateInfo = sets::STATE_INFO {
        /// Why the message was sent (`sib_reason::*`).
        sib_reason: U32 = 1,
        /// Packed state word of the device now.
        current_state: U32 = 2,
        /// Exposed-data UUID.
        ed_uuid: U64 = 4,
        /// Exported size in sectors.
        capacity: U64 = 3,
        /// Sectors sent to the peer.
        send_cnt: U64 = 15,
        /// Sectors received.
        recv_cnt: U64 = 16,
        /// Sectors read from the backing disk.
        read_cnt: U64 = 17,
        /// Sectors written to the backing disk.
        writ_cnt: U64 = 18,
        /// AL transactions written.
        al_writ_cnt: U64 = 19,
        /// Bitmap writes.
        bm_writ_cnt: U64 = 20,
        /// Application requests in flight.
        ap_bio_cnt: U32 = 21,
        /// Requests waiting for a peer ack.
        ap_pending_cnt: U32 = 22,
        /// Resync requests pending.
        rs_pending_cnt: U32 = 23,
        /// Current, bitmap, history1, history2 UUIDs (4 × u64, host order).
        uuids: Bin = 7,
        /// `MDF_*` meta-data flags.
        disk_flags: U32 = 8,
        /// Bitmap bits.
        bits_total: U64 = 9,
        /// Out-of-sync bits.
        bits_oos: U64 = 10,
        /// Bits to resync in this run.
        bits_rs_total: U64 = 11,
        /// Bits that failed to resync.
        bits_rs_failed: U64 = 12,
        /// State before the change (`SIB_STATE_CHANGE`).
        prev_state: U32 = 5,
        /// State after the change (`SIB_STATE_CHANGE`).
        new_state: U32 = 6,
        /// Raw wait status of the helper (`SIB_HELPER_POST`).
        helper_exit_code: U32 = 14,
        /// Helper name (`SIB_HELPER_PRE/POST`).
        helper: Str = 13,
    }
}

typed_set! {
    /// `start_ov_parms` (TLA 9).
    owned StartOvParms = sets::START_OV_PARMS {
        /// First sector to verify.
        ov_start_sector: U64 = 1,
        /// Sector to stop at.
        ov_stop_sector: U64 = 2,
    }
}

typed_set! {
    /// `new_c_uuid_parms` (TLA 10).
    owned NewCUuidParms = sets::NEW_C_UUID_PARMS {
        /// `--clear-bitmap`.
        clear_bm: Flag = 1,
    }
}

typed_set! {
    /// `timeout_parms` (TLA 11).
    owned TimeoutParms = sets::TIMEOUT_PARMS {
        /// `timeout_type::*`.
        timeout_type: U32 = 1,
    }
}

typed_set! {
    /// `disconnect_parms` (TLA 12).
    owned DisconnectParms = sets::DISCONNECT_PARMS {
        /// `disconnect --force`.
        force_disconnect: Flag = 1,
    }
}

typed_set! {
    /// `detach_parms` (TLA 13).
    owned DetachParms = sets::DETACH_PARMS {
        /// `detach --force`.
        force_detach: Flag = 1,
    }
}

typed_set! {
    /// `resource_info` (TLA 15).
    owned ResourceInfo = sets::RESOURCE_INFO {
        /// Highest role of the resource's volumes.
        res_role: U32 = 1,
        /// I/O suspended by user.
        res_susp: Flag = 2,
        /// Suspended: no data accessible.
        res_susp_nod: Flag = 3,
        /// Suspended: fence-peer running.
        res_susp_fen: Flag = 4,
    }
}

typed_set! {
    /// `device_info` (TLA 16).
    owned DeviceInfo = sets::DEVICE_INFO {
        /// Local disk state.
        dev_disk_state: U32 = 1,
    }
}

typed_set! {
    /// `connection_info` (TLA 17).
    owned ConnectionInfo = sets::CONNECTION_INFO {
        /// Connection state (`C_*`).
        conn_connection_state: U32 = 1,
        /// Highest peer role.
        conn_role: U32 = 2,
    }
}

typed_set! {
    /// `peer_device_info` (TLA 18).
    owned PeerDeviceInfo = sets::PEER_DEVICE_INFO {
        /// Replication state.
        peer_repl_state: U32 = 1,
        /// Peer disk state.
        peer_disk_state: U32 = 2,
        /// Resync paused by the user (0/1).
        peer_resync_susp_user: U32 = 3,
        /// Resync paused by the peer (0/1).
        peer_resync_susp_peer: U32 = 4,
        /// Resync paused by a resync-after dependency (0/1).
        peer_resync_susp_dependency: U32 = 5,
    }
}

typed_set! {
    /// `resource_statistics` (TLA 19).
    owned ResourceStatistics = sets::RESOURCE_STATISTICS {
        /// Write ordering method (0 none, 1 drain, 2 flush).
        res_stat_write_ordering: U32 = 1,
    }
}

typed_set! {
    /// `device_statistics` (TLA 20).
    borrowed DeviceStatistics = sets::DEVICE_STATISTICS {
        /// Size in sectors.
        dev_size: U64 = 1,
        /// Sectors read.
        dev_read: U64 = 2,
        /// Sectors written.
        dev_write: U64 = 3,
        /// AL transactions.
        dev_al_writes: U64 = 4,
        /// Bitmap writes.
        dev_bm_writes: U64 = 5,
        /// Application requests in progress.
        dev_upper_pending: U32 = 6,
        /// Backing-device requests in progress.
        dev_lower_pending: U32 = 7,
        /// New application I/O blocked.
        dev_upper_blocked: Flag = 8,
        /// Lower I/O blocked.
        dev_lower_blocked: Flag = 9,
        /// AL updates suspended.
        dev_al_suspended: Flag = 10,
        /// Exposed-data UUID.
        dev_exposed_data_uuid: U64 = 11,
        /// Current UUID.
        dev_current_uuid: U64 = 12,
        /// `MDF_*` flags.
        dev_disk_flags: U32 = 13,
        /// History UUIDs (32 × u64, host order).
        history_uuids: Bin = 14,
    }
}

typed_set! {
    /// `connection_statistics` (TLA 21).
    owned ConnectionStatistics = sets::CONNECTION_STATISTICS {
        /// Data socket congested.
        conn_congested: Flag = 1,
    }
}

typed_set! {
    /// `peer_device_statistics` (TLA 22).
    owned PeerDeviceStatistics = sets::PEER_DEVICE_STATISTICS {
        /// Sectors received.
        peer_dev_received: U64 = 1,
        /// Sectors sent.
        peer_dev_sent: U64 = 2,
        /// ap + rs pending requests.
        peer_dev_pending: U32 = 3,
        /// Unacknowledged requests.
        peer_dev_unacked: U32 = 4,
        /// Out-of-sync sectors.
        peer_dev_out_of_sync: U64 = 5,
        /// Sectors that failed to resync.
        peer_dev_resync_failed: U64 = 6,
        /// Bitmap UUID.
        peer_dev_bitmap_uuid: U64 = 7,
        /// `peer_dev_flags::*`.
        peer_dev_flags: U32 = 9,
    }
}

typed_set! {
    /// `drbd_notification_header` (TLA 23).
    owned NotificationHeader = sets::NOTIFICATION_HEADER {
        /// `notify::*`, possibly or-ed with `notify::CONTINUES`.
        nh_type: U32 = 1,
    }
}

typed_set! {
    /// `drbd_helper_info` (TLA 24).
    borrowed HelperInfo = sets::HELPER_INFO {
        /// Helper name.
        helper_name: Str = 1,
        /// Wait status (0 for CALL).
        helper_status: U32 = 2,
    }
}

/// Write `src` as host-order u64s into the start of `dst`; returns the written part, or
/// `None` if `dst` is too small. (For `state_info.uuids` and `history_uuids`.)
pub fn u64s_to_bytes<'d>(src: &[u64], dst: &'d mut [u8]) -> Option<&'d [u8]> {
    let n = src.len().checked_mul(8)?;
    let out = dst.get_mut(..n)?;
    for (chunk, v) in out.chunks_exact_mut(8).zip(src) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    Some(out)
}

/// The `index`-th host-order u64 of a binary field, if it is that long.
pub fn u64_at(bytes: &[u8], index: usize) -> Option<u64> {
    let start = index.checked_mul(8)?;
    let chunk: [u8; 8] = bytes.get(start..start.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_ne_bytes(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(s: &dyn SetEncode, opts: &EncodeOpts) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf);
        s.encode(&mut w, opts).unwrap();
        let n = w.len();
        buf.truncate(n);
        buf
    }

    #[test]
    fn styles() {
        let ctx = CfgContext {
            ctx_volume: Some(0),
            ..Default::default()
        };
        // Tool: nested flag on the TLA, mandatory bit on the field.
        assert_eq!(
            encode(&ctx, &EncodeOpts::TOOL),
            [12, 0, 2, 0x80, 8, 0, 1, 0x40, 0, 0, 0, 0]
        );
        // Kernel, hand-built set: no nested flag, mandatory bit.
        assert_eq!(
            encode(&ctx, &EncodeOpts::KERNEL),
            [12, 0, 2, 0, 8, 0, 1, 0x40, 0, 0, 0, 0]
        );
        // Kernel, generic serializer: nested flag, plain ids.
        let ro = ResOpts {
            on_no_data: Some(1),
            ..Default::default()
        };
        assert_eq!(
            encode(&ro, &EncodeOpts::KERNEL),
            [12, 0, 4, 0x80, 8, 0, 2, 0, 1, 0, 0, 0]
        );
    }

    #[test]
    fn sensitive_fields() {
        let nc = NetConf {
            shared_secret: Some(b"secret"),
            wire_protocol: Some(3),
            ..Default::default()
        };
        let with = encode(&nc, &EncodeOpts::KERNEL_PRIVILEGED);
        let without = encode(&nc, &EncodeOpts::KERNEL);
        assert_eq!(with.len(), 4 + 12 + 8);
        assert_eq!(without.len(), 4 + 8);
        let back = NetConf::decode(&with[4..], &ValidateOpts::LENIENT).unwrap();
        assert_eq!(back, nc);
        let back = NetConf::decode(&without[4..], &ValidateOpts::LENIENT).unwrap();
        assert_eq!(back.shared_secret, None);
    }

    #[test]
    fn defaults_and_apply() {
        let mut d = DiskConf::defaults();
        assert_eq!(d.resync_rate, Some(250));
        assert_eq!(d.resync_after, Some(-1));
        assert_eq!(d.disk_flushes, Some(true));
        assert_eq!(d.backing_dev, None);
        assert_eq!(d.disk_size, Some(0));
        let change = DiskConf {
            resync_rate: Some(1000),
            ..Default::default()
        };
        d.apply(&change);
        assert_eq!(d.resync_rate, Some(1000));
        assert_eq!(d.al_extents, Some(1237));
        assert_eq!(ResOpts::defaults().cpu_mask, Some(&b""[..]));
        assert_eq!(NetConf::defaults().wire_protocol, Some(3));
        assert_eq!(NetConf::defaults().discard_my_data, None);
    }

    #[test]
    fn generic_values() {
        let vals = [(6u16, Value::U32(2)), (24, Value::Flag(true))];
        let fv = FieldValues {
            set: &sets::NET_CONF,
            values: &vals,
        };
        let bytes = encode(&fv, &EncodeOpts::TOOL);
        let nc = NetConf::decode(&bytes[4..], &ValidateOpts::CREATE).unwrap();
        assert_eq!(nc.wire_protocol, Some(2));
        assert_eq!(nc.two_primaries, Some(true));
        let bad = [(99u16, Value::U32(2))];
        let fv = FieldValues {
            set: &sets::NET_CONF,
            values: &bad,
        };
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        assert!(fv.encode(&mut w, &EncodeOpts::TOOL).is_err());
        assert!(w.is_empty());
        let bad = [(6u16, Value::Flag(true))];
        let fv = FieldValues {
            set: &sets::NET_CONF,
            values: &bad,
        };
        assert!(matches!(
            fv.encode(&mut w, &EncodeOpts::TOOL),
            Err(EncodeError::InvalidField {
                problem: FieldProblem::TypeMismatch,
                ..
            })
        ));
    }

    #[test]
    fn u64_helpers() {
        let mut buf = [0u8; 40];
        let b = u64s_to_bytes(&[1, 2, 3, 4], &mut buf).unwrap();
        assert_eq!(b.len(), 32);
        assert_eq!(u64_at(b, 3), Some(4));
        assert_eq!(u64_at(b, 4), None);
        assert_eq!(u64s_to_bytes(&[1; 6], &mut buf), None);
    }
}
