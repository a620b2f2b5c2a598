// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 device state: connection state, roles, disk states, the 32-bit
//! `union drbd_state` that travels in P_STATE / P_STATE_CHG_REQ, the `SS_*` result codes and
//! the validity rules that decide whether a state change may happen.
//!
//! Everything here is a pure function of its arguments. Facts the rules need beyond the two
//! states (configuration, open count, flags of the connection) come in a [`StateContext`]
//! that the caller fills.

use core::fmt;

/// One field of the packed 32-bit state (bit 0 = least significant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Own role, bits 0–1.
    Role,
    /// The peer's role as seen locally, bits 2–3.
    Peer,
    /// Connection state, bits 4–8.
    Conn,
    /// Own disk state, bits 9–12.
    Disk,
    /// The peer's disk state as seen locally, bits 13–16.
    Pdsk,
    /// I/O suspended by the user, bit 17.
    Susp,
    /// Resync paused because of a resync-after dependency, bit 18.
    AftrIsp,
    /// Resync paused by the peer, bit 19.
    PeerIsp,
    /// Resync paused by the user, bit 20.
    UserIsp,
    /// I/O suspended because no data is accessible, bit 21.
    SuspNod,
    /// I/O suspended while fencing, bit 22.
    SuspFen,
}

impl Field {
    /// Every field, in bit order.
    pub const ALL: [Field; 11] = [
        Field::Role,
        Field::Peer,
        Field::Conn,
        Field::Disk,
        Field::Pdsk,
        Field::Susp,
        Field::AftrIsp,
        Field::PeerIsp,
        Field::UserIsp,
        Field::SuspNod,
        Field::SuspFen,
    ];

    /// Position of the field's lowest bit.
    pub const fn shift(self) -> u32 {
        match self {
            Field::Role => 0,
            Field::Peer => 2,
            Field::Conn => 4,
            Field::Disk => 9,
            Field::Pdsk => 13,
            Field::Susp => 17,
            Field::AftrIsp => 18,
            Field::PeerIsp => 19,
            Field::UserIsp => 20,
            Field::SuspNod => 21,
            Field::SuspFen => 22,
        }
    }

    /// Width of the field in bits.
    pub const fn width(self) -> u32 {
        match self {
            Field::Role | Field::Peer => 2,
            Field::Conn => 5,
            Field::Disk | Field::Pdsk => 4,
            _ => 1,
        }
    }

    /// All-ones value of the field (`R_MASK` 3, `C_MASK` 31, `D_MASK` 15, or 1).
    pub const fn max_value(self) -> u32 {
        (1u32 << self.width()) - 1
    }

    /// The field's bits within the 32-bit word.
    pub const fn mask(self) -> u32 {
        self.max_value() << self.shift()
    }

    /// The field's raw value in `word`.
    pub const fn get(self, word: u32) -> u32 {
        (word & self.mask()) >> self.shift()
    }

    /// `word` with the field replaced by `value` (excess high bits of `value` are dropped).
    pub const fn set(self, word: u32, value: u32) -> u32 {
        (word & !self.mask()) | ((value & self.max_value()) << self.shift())
    }

    /// The field's name as in the C `union drbd_state`.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Role => "role",
            Field::Peer => "peer",
            Field::Conn => "conn",
            Field::Disk => "disk",
            Field::Pdsk => "pdsk",
            Field::Susp => "susp",
            Field::AftrIsp => "aftr_isp",
            Field::PeerIsp => "peer_isp",
            Field::UserIsp => "user_isp",
            Field::SuspNod => "susp_nod",
            Field::SuspFen => "susp_fen",
        }
    }
}

/// A raw number that names no value of the state field it was read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidValue {
    /// The field (for the plain enum conversions: `Role`, `Conn` or `Disk`).
    pub field: Field,
    /// The offending raw value.
    pub value: u32,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} value {}", self.field.name(), self.value)
    }
}

/// What `drbd_*_str()` prints for a value beyond the last name.
pub const TOO_LARGE: &str = "TOO_LARGE";

macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($field:expr) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The name DRBD 8.4 prints for the value (/proc/drbd, drbdsetup, kernel log).
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The numeric value (as on the wire).
            pub const fn value(self) -> u8 {
                self as u8
            }

            /// The value with number `raw`, or an error for numbers that name none.
            pub const fn from_u8(raw: u8) -> Result<Self, InvalidValue> {
                match raw {
                    $( $value => Ok($name::$variant), )+
                    _ => Err(InvalidValue { field: $field, value: raw as u32 }),
                }
            }

            /// The value whose 8.4 name is `name` (exact, case-sensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// Name of a raw number as the C `drbd_*_str()` gives it: `TOO_LARGE` beyond
            /// the last value.
            pub const fn name_of_raw(raw: u8) -> &'static str {
                match Self::from_u8(raw) {
                    Ok(v) => v.name(),
                    Err(_) => TOO_LARGE,
                }
            }
        }

        impl TryFrom<u8> for $name {
            type Error = InvalidValue;

            fn try_from(raw: u8) -> Result<Self, InvalidValue> {
                Self::from_u8(raw)
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v as u8
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

state_enum! {
    /// Connection state (`enum drbd_conns`, 5 bits on the wire). Ordered by number, which the
    /// rules use (e.g. "< Connected" means no established connection).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum ConnState (Field::Conn) {
        /// No network configuration, or gave up.
        StandAlone = 0 => "StandAlone",
        /// Transient, followed by StandAlone.
        Disconnecting = 1 => "Disconnecting",
        /// Transient, the receiver is (re)starting.
        Unconnected = 2 => "Unconnected",
        /// Transient, after an ack or send timeout.
        Timeout = 3 => "Timeout",
        /// Transient, after a socket error.
        BrokenPipe = 4 => "BrokenPipe",
        /// Transient, after a ping timeout or meta socket error.
        NetworkFailure = 5 => "NetworkFailure",
        /// Transient, after a protocol violation.
        ProtocolError = 6 => "ProtocolError",
        /// Transient, the peer asked to disconnect.
        TearDown = 7 => "TearDown",
        /// Trying to connect, waiting for the peer.
        WFConnection = 8 => "WFConnection",
        /// Sockets up, handshake packets being exchanged.
        WFReportParams = 9 => "WFReportParams",
        /// Connected, no resync running.
        Connected = 10 => "Connected",
        /// Full sync as source being set up (invalidate-remote).
        StartingSyncS = 11 => "StartingSyncS",
        /// Full sync as target being set up (invalidate).
        StartingSyncT = 12 => "StartingSyncT",
        /// Source, exchanging bitmaps.
        WFBitMapS = 13 => "WFBitMapS",
        /// Target, exchanging bitmaps.
        WFBitMapT = 14 => "WFBitMapT",
        /// Target, waiting for P_SYNC_UUID.
        WFSyncUUID = 15 => "WFSyncUUID",
        /// Resync running, this node is the source.
        SyncSource = 16 => "SyncSource",
        /// Resync running, this node is the target.
        SyncTarget = 17 => "SyncTarget",
        /// Online verify running, this node drives it.
        VerifyS = 18 => "VerifyS",
        /// Online verify running, the peer drives it.
        VerifyT = 19 => "VerifyT",
        /// Resync as source, paused.
        PausedSyncS = 20 => "PausedSyncS",
        /// Resync as target, paused.
        PausedSyncT = 21 => "PausedSyncT",
        /// Congestion: replication replaced by out-of-sync marking.
        Ahead = 22 => "Ahead",
        /// The peer is Ahead.
        Behind = 23 => "Behind",
    }
}

state_enum! {
    /// Role of a node (`enum drbd_role`). The numbers are not ordered by meaning.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Role (Field::Role) {
        /// Not known (the peer while not connected).
        Unknown = 0 => "Unknown",
        /// May be written to by applications.
        Primary = 1 => "Primary",
        /// Receives replicated writes only.
        Secondary = 2 => "Secondary",
    }
}

state_enum! {
    /// Disk state (`enum drbd_disk_state`). Ordered by number, which the rules use.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum DiskState (Field::Disk) {
        /// No local disk.
        Diskless = 0 => "Diskless",
        /// Reading meta data.
        Attaching = 1 => "Attaching",
        /// I/O error or detaching; becomes Diskless after telling the peer.
        Failed = 2 => "Failed",
        /// Attached while connected, decision pending.
        Negotiating = 3 => "Negotiating",
        /// Data not usable.
        Inconsistent = 4 => "Inconsistent",
        /// Consistent but known stale.
        Outdated = 5 => "Outdated",
        /// Not known (only for the peer's disk).
        DUnknown = 6 => "DUnknown",
        /// Consistent, freshness unknown.
        Consistent = 7 => "Consistent",
        /// Consistent and current.
        UpToDate = 8 => "UpToDate",
    }
}

impl ConnState {
    /// A resync or verify is running (not paused): the states /proc/drbd shows progress for.
    pub const fn shows_progress(self) -> bool {
        matches!(
            self,
            ConnState::SyncSource | ConnState::SyncTarget | ConnState::VerifyS | ConnState::VerifyT
        )
    }

    /// Online verify (either side).
    pub const fn is_verify(self) -> bool {
        matches!(self, ConnState::VerifyS | ConnState::VerifyT)
    }

    /// A resync, running or paused (`is_sync_state()` in 8.4).
    pub const fn is_sync(self) -> bool {
        matches!(
            self,
            ConnState::SyncSource
                | ConnState::SyncTarget
                | ConnState::PausedSyncS
                | ConnState::PausedSyncT
        )
    }

    /// One of the transient failure states Timeout..TearDown.
    pub const fn is_network_failure(self) -> bool {
        matches!(
            self,
            ConnState::Timeout
                | ConnState::BrokenPipe
                | ConnState::NetworkFailure
                | ConnState::ProtocolError
                | ConnState::TearDown
        )
    }
}

/// Bits 23–31 of the packed state: unused by 8.4 (sent as 0, ignored when read).
pub const RESERVED_MASK: u32 = 0xff80_0000;

/// The state of one device as 8.4 keeps it (`union drbd_state`, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct State {
    /// Own role.
    pub role: Role,
    /// The peer's role as seen locally.
    pub peer: Role,
    /// Connection state.
    pub conn: ConnState,
    /// Own disk state.
    pub disk: DiskState,
    /// The peer's disk state as seen locally.
    pub pdsk: DiskState,
    /// I/O suspended by the user (`suspend-io`).
    pub susp: bool,
    /// Resync paused because of a resync-after dependency.
    pub aftr_isp: bool,
    /// Resync paused by the peer.
    pub peer_isp: bool,
    /// Resync paused by the user (`pause-sync`).
    pub user_isp: bool,
    /// I/O suspended: no accessible data (on-no-data-accessible suspend-io).
    pub susp_nod: bool,
    /// I/O suspended while the fence-peer handler runs.
    pub susp_fen: bool,
}

impl State {
    /// A state with these roles and connection/disk states, no suspend or pause flags.
    pub const fn new(
        role: Role,
        peer: Role,
        conn: ConnState,
        disk: DiskState,
        pdsk: DiskState,
    ) -> Self {
        State {
            role,
            peer,
            conn,
            disk,
            pdsk,
            ..State::UNCONFIGURED
        }
    }

    /// The state of a freshly created minor: Secondary/Unknown StandAlone Diskless/DUnknown.
    pub const UNCONFIGURED: State = State {
        role: Role::Secondary,
        peer: Role::Unknown,
        conn: ConnState::StandAlone,
        disk: DiskState::Diskless,
        pdsk: DiskState::DUnknown,
        susp: false,
        aftr_isp: false,
        peer_isp: false,
        user_isp: false,
        susp_nod: false,
        susp_fen: false,
    };

    /// The 32-bit wire form (reserved bits 0).
    pub const fn pack(&self) -> u32 {
        let mut w = 0;
        w = Field::Role.set(w, self.role as u32);
        w = Field::Peer.set(w, self.peer as u32);
        w = Field::Conn.set(w, self.conn as u32);
        w = Field::Disk.set(w, self.disk as u32);
        w = Field::Pdsk.set(w, self.pdsk as u32);
        w = Field::Susp.set(w, self.susp as u32);
        w = Field::AftrIsp.set(w, self.aftr_isp as u32);
        w = Field::PeerIsp.set(w, self.peer_isp as u32);
        w = Field::UserIsp.set(w, self.user_isp as u32);
        w = Field::SuspNod.set(w, self.susp_nod as u32);
        Field::SuspFen.set(w, self.susp_fen as u32)
    }

    /// Decode the 32-bit form. Fields holding a number that names no value (role 3, conn
    /// 24–31, disk 9–15) are an error; reserved bits 23–31 are ignored.
    pub fn unpack(word: u32) -> Result<State, InvalidValue> {
        let role = |field: Field| {
            Role::from_u8(field.get(word) as u8).map_err(|e| InvalidValue { field, ..e })
        };
        let disk = |field: Field| {
            DiskState::from_u8(field.get(word) as u8).map_err(|e| InvalidValue { field, ..e })
        };
        let flag = |field: Field| field.get(word) != 0;
        Ok(State {
            role: role(Field::Role)?,
            peer: role(Field::Peer)?,
            conn: ConnState::from_u8(Field::Conn.get(word) as u8)?,
            disk: disk(Field::Disk)?,
            pdsk: disk(Field::Pdsk)?,
            susp: flag(Field::Susp),
            aftr_isp: flag(Field::AftrIsp),
            peer_isp: flag(Field::PeerIsp),
            user_isp: flag(Field::UserIsp),
            susp_nod: flag(Field::SuspNod),
            susp_fen: flag(Field::SuspFen),
        })
    }

    /// StandAlone, Diskless and Secondary: /proc/drbd prints `cs:Unconfigured`.
    pub const fn is_unconfigured(&self) -> bool {
        matches!(self.conn, ConnState::StandAlone)
            && matches!(self.disk, DiskState::Diskless)
            && matches!(self.role, Role::Secondary)
    }

    /// I/O is suspended for any reason (`is_susp()`: susp, susp_nod or susp_fen).
    pub const fn is_suspended(&self) -> bool {
        self.susp || self.susp_nod || self.susp_fen
    }
}

impl Default for State {
    fn default() -> Self {
        State::UNCONFIGURED
    }
}

/// A state change request: the fields in `mask` are to take their values from `val`
/// (P_STATE_CHG_REQ / P_CONN_ST_CHG_REQ payload, also the internal `NS()` requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateChange {
    /// Bits to change.
    pub mask: u32,
    /// New values of those bits.
    pub val: u32,
}

impl StateChange {
    /// A request that changes nothing.
    pub const fn new() -> Self {
        StateChange { mask: 0, val: 0 }
    }

    /// Also set `field` to the raw `value`.
    pub const fn with(self, field: Field, value: u32) -> Self {
        StateChange {
            mask: self.mask | field.mask(),
            val: field.set(self.val, value),
        }
    }

    /// The same request without `field` (that field stays as it is).
    pub const fn without(self, field: Field) -> Self {
        StateChange {
            mask: self.mask & !field.mask(),
            val: self.val & !field.mask(),
        }
    }

    /// Also set the own role.
    pub const fn role(self, v: Role) -> Self {
        self.with(Field::Role, v as u32)
    }

    /// Also set the peer's role.
    pub const fn peer(self, v: Role) -> Self {
        self.with(Field::Peer, v as u32)
    }

    /// Also set the connection state.
    pub const fn conn(self, v: ConnState) -> Self {
        self.with(Field::Conn, v as u32)
    }

    /// Also set the own disk state.
    pub const fn disk(self, v: DiskState) -> Self {
        self.with(Field::Disk, v as u32)
    }

    /// Also set the peer's disk state.
    pub const fn pdsk(self, v: DiskState) -> Self {
        self.with(Field::Pdsk, v as u32)
    }

    /// Also set one of the one-bit flags (`Susp` … `SuspFen`); for other fields this sets
    /// the raw value 0 or 1.
    pub const fn flag(self, field: Field, on: bool) -> Self {
        self.with(field, on as u32)
    }

    /// The new raw word: `(old & !mask) | val`, as 8.4's `apply_mask_val()` (note: `val` is
    /// not masked).
    pub const fn apply_raw(&self, old: u32) -> u32 {
        (old & !self.mask) | self.val
    }

    /// The requested state, decoded.
    pub fn apply(&self, old: &State) -> Result<State, InvalidValue> {
        State::unpack(self.apply_raw(old.pack()))
    }

    /// A request received from the peer turned into the local orientation (8.4's
    /// `convert_state()` applied to mask and val): role↔peer and disk↔pdsk swap,
    /// peer_isp = aftr_isp | user_isp, conn mapped (see [`convert_peer_conn`]).
    pub const fn from_peer(self) -> Self {
        StateChange {
            mask: convert_peer_state(self.mask),
            val: convert_peer_state(self.val),
        }
    }
}

/// The connection-state mapping of a peer's request: WFReportParams and Connected stay,
/// StartingSyncS↔StartingSyncT, Disconnecting→TearDown, VerifyS→VerifyT, the mask value 31
/// stays 31; every other number becomes 0 (StandAlone).
pub const fn convert_peer_conn(raw: u32) -> u32 {
    match raw {
        9 => 9,
        10 => 10,
        11 => 12,
        12 => 11,
        1 => 7,
        18 => 19,
        31 => 31,
        _ => 0,
    }
}

/// A raw state word (mask or val) of the peer in the local orientation (`convert_state()`).
pub const fn convert_peer_state(ps: u32) -> u32 {
    let mut ms = ps;
    ms = Field::Conn.set(ms, convert_peer_conn(Field::Conn.get(ps)));
    ms = Field::Peer.set(ms, Field::Role.get(ps));
    ms = Field::Role.set(ms, Field::Peer.get(ps));
    ms = Field::Pdsk.set(ms, Field::Disk.get(ps));
    ms = Field::Disk.set(ms, Field::Pdsk.get(ps));
    Field::PeerIsp.set(ms, Field::AftrIsp.get(ps) | Field::UserIsp.get(ps))
}

/// Failure codes of a state change (`enum drbd_state_rv` < 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum StateError {
    /// SS_TWO_PRIMARIES.
    TwoPrimaries = -1,
    /// SS_NO_UP_TO_DATE_DISK.
    NoUpToDateDisk = -2,
    /// SS_NO_LOCAL_DISK.
    NoLocalDisk = -4,
    /// SS_NO_REMOTE_DISK.
    NoRemoteDisk = -5,
    /// SS_CONNECTED_OUTDATES.
    ConnectedOutdates = -6,
    /// SS_PRIMARY_NOP.
    PrimaryNop = -7,
    /// SS_RESYNC_RUNNING.
    ResyncRunning = -8,
    /// SS_ALREADY_STANDALONE.
    AlreadyStandalone = -9,
    /// SS_CW_FAILED_BY_PEER.
    CwFailedByPeer = -10,
    /// SS_IS_DISKLESS.
    IsDiskless = -11,
    /// SS_DEVICE_IN_USE.
    DeviceInUse = -12,
    /// SS_NO_NET_CONFIG.
    NoNetConfig = -13,
    /// SS_NO_VERIFY_ALG.
    NoVerifyAlg = -14,
    /// SS_NEED_CONNECTION.
    NeedConnection = -15,
    /// SS_LOWER_THAN_OUTDATED.
    LowerThanOutdated = -16,
    /// SS_NOT_SUPPORTED.
    NotSupported = -17,
    /// SS_IN_TRANSIENT_STATE.
    InTransientState = -18,
    /// SS_CONCURRENT_ST_CHG.
    ConcurrentStChg = -19,
    /// SS_O_VOL_PEER_PRI.
    OVolPeerPri = -20,
    /// SS_OUTDATE_WO_CONN.
    OutdateWoConn = -21,
}

/// `SS_AFTER_LAST_ERROR`: codes at or below it are "TOO_SMALL".
pub const SS_AFTER_LAST_ERROR: i32 = -22;

impl StateError {
    /// Every failure code, from −1 down.
    pub const ALL: [StateError; 20] = [
        StateError::TwoPrimaries,
        StateError::NoUpToDateDisk,
        StateError::NoLocalDisk,
        StateError::NoRemoteDisk,
        StateError::ConnectedOutdates,
        StateError::PrimaryNop,
        StateError::ResyncRunning,
        StateError::AlreadyStandalone,
        StateError::CwFailedByPeer,
        StateError::IsDiskless,
        StateError::DeviceInUse,
        StateError::NoNetConfig,
        StateError::NoVerifyAlg,
        StateError::NeedConnection,
        StateError::LowerThanOutdated,
        StateError::NotSupported,
        StateError::InTransientState,
        StateError::ConcurrentStChg,
        StateError::OVolPeerPri,
        StateError::OutdateWoConn,
    ];

    /// The numeric code (negative).
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The failure with number `code`, if there is one.
    pub const fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            -1 => StateError::TwoPrimaries,
            -2 => StateError::NoUpToDateDisk,
            -4 => StateError::NoLocalDisk,
            -5 => StateError::NoRemoteDisk,
            -6 => StateError::ConnectedOutdates,
            -7 => StateError::PrimaryNop,
            -8 => StateError::ResyncRunning,
            -9 => StateError::AlreadyStandalone,
            -10 => StateError::CwFailedByPeer,
            -11 => StateError::IsDiskless,
            -12 => StateError::DeviceInUse,
            -13 => StateError::NoNetConfig,
            -14 => StateError::NoVerifyAlg,
            -15 => StateError::NeedConnection,
            -16 => StateError::LowerThanOutdated,
            -17 => StateError::NotSupported,
            -18 => StateError::InTransientState,
            -19 => StateError::ConcurrentStChg,
            -20 => StateError::OVolPeerPri,
            -21 => StateError::OutdateWoConn,
            _ => return None,
        })
    }

    /// The C name, e.g. `SS_TWO_PRIMARIES`.
    pub const fn name(self) -> &'static str {
        match self {
            StateError::TwoPrimaries => "SS_TWO_PRIMARIES",
            StateError::NoUpToDateDisk => "SS_NO_UP_TO_DATE_DISK",
            StateError::NoLocalDisk => "SS_NO_LOCAL_DISK",
            StateError::NoRemoteDisk => "SS_NO_REMOTE_DISK",
            StateError::ConnectedOutdates => "SS_CONNECTED_OUTDATES",
            StateError::PrimaryNop => "SS_PRIMARY_NOP",
            StateError::ResyncRunning => "SS_RESYNC_RUNNING",
            StateError::AlreadyStandalone => "SS_ALREADY_STANDALONE",
            StateError::CwFailedByPeer => "SS_CW_FAILED_BY_PEER",
            StateError::IsDiskless => "SS_IS_DISKLESS",
            StateError::DeviceInUse => "SS_DEVICE_IN_USE",
            StateError::NoNetConfig => "SS_NO_NET_CONFIG",
            StateError::NoVerifyAlg => "SS_NO_VERIFY_ALG",
            StateError::NeedConnection => "SS_NEED_CONNECTION",
            StateError::LowerThanOutdated => "SS_LOWER_THAN_OUTDATED",
            StateError::NotSupported => "SS_NOT_SUPPORTED",
            StateError::InTransientState => "SS_IN_TRANSIENT_STATE",
            StateError::ConcurrentStChg => "SS_CONCURRENT_ST_CHG",
            StateError::OVolPeerPri => "SS_O_VOL_PEER_PRI",
            StateError::OutdateWoConn => "SS_OUTDATE_WO_CONN",
        }
    }

    /// The text 8.4 prints ("State change failed: <text>", drbdsetup error output).
    pub const fn message(self) -> &'static str {
        match self {
            StateError::TwoPrimaries => "Multiple primaries not allowed by config",
            StateError::NoUpToDateDisk => "Need access to UpToDate data",
            StateError::NoLocalDisk => "Can not resync without local disk",
            StateError::NoRemoteDisk => "Can not resync without remote disk",
            StateError::ConnectedOutdates => "Refusing to be Outdated while Connected",
            StateError::PrimaryNop => "Refusing to be Primary while peer is not outdated",
            StateError::ResyncRunning => "Can not start OV/resync since it is already active",
            StateError::AlreadyStandalone => "Can not disconnect a StandAlone device",
            StateError::CwFailedByPeer => "State change was refused by peer node",
            StateError::IsDiskless => "Device is diskless, the requested operation requires a disk",
            StateError::DeviceInUse => "Device is held open by someone",
            StateError::NoNetConfig => "Have no net/connection configuration",
            StateError::NoVerifyAlg => "Need a verify algorithm to start online verify",
            StateError::NeedConnection => "Need a connection to start verify or resync",
            StateError::LowerThanOutdated => "Disk state is lower than outdated",
            StateError::NotSupported => "Peer does not support protocol",
            StateError::InTransientState => "In transient state, retry after next state change",
            StateError::ConcurrentStChg => "Concurrent state changes detected and aborted",
            StateError::OVolPeerPri => "Other vol primary on peer not allowed by config",
            StateError::OutdateWoConn => "Need a connection for a graceful disconnect/outdate peer",
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A number that is no `SS_*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownCode(pub i32);

impl TryFrom<i32> for StateError {
    type Error = UnknownCode;

    fn try_from(code: i32) -> Result<Self, UnknownCode> {
        StateError::from_code(code).ok_or(UnknownCode(code))
    }
}

/// Any `SS_*` result (`enum drbd_state_rv`), e.g. the retcode of P_STATE_CHG_REPLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SsCode {
    /// SS_CW_NO_NEED (4, internal).
    CwNoNeed,
    /// SS_CW_SUCCESS (3, internal).
    CwSuccess,
    /// SS_NOTHING_TO_DO (2).
    NothingToDo,
    /// SS_SUCCESS (1).
    Success,
    /// SS_UNKNOWN_ERROR (0).
    UnknownError,
    /// One of the failures (< 0).
    Failed(StateError),
}

impl SsCode {
    /// The numeric code.
    pub const fn code(self) -> i32 {
        match self {
            SsCode::CwNoNeed => 4,
            SsCode::CwSuccess => 3,
            SsCode::NothingToDo => 2,
            SsCode::Success => 1,
            SsCode::UnknownError => 0,
            SsCode::Failed(e) => e.code(),
        }
    }

    /// The result with number `code`, if there is one.
    pub const fn from_code(code: i32) -> Option<Self> {
        match code {
            4 => Some(SsCode::CwNoNeed),
            3 => Some(SsCode::CwSuccess),
            2 => Some(SsCode::NothingToDo),
            1 => Some(SsCode::Success),
            0 => Some(SsCode::UnknownError),
            _ => match StateError::from_code(code) {
                Some(e) => Some(SsCode::Failed(e)),
                None => None,
            },
        }
    }

    /// The C name, e.g. `SS_SUCCESS`.
    pub const fn name(self) -> &'static str {
        match self {
            SsCode::CwNoNeed => "SS_CW_NO_NEED",
            SsCode::CwSuccess => "SS_CW_SUCCESS",
            SsCode::NothingToDo => "SS_NOTHING_TO_DO",
            SsCode::Success => "SS_SUCCESS",
            SsCode::UnknownError => "SS_UNKNOWN_ERROR",
            SsCode::Failed(e) => e.name(),
        }
    }

    /// A requester applies its change when the peer's reply is ≥ 1 (success codes).
    pub const fn is_success(self) -> bool {
        self.code() >= 1
    }
}

impl From<StateError> for SsCode {
    fn from(e: StateError) -> Self {
        SsCode::Failed(e)
    }
}

impl TryFrom<i32> for SsCode {
    type Error = UnknownCode;

    fn try_from(code: i32) -> Result<Self, UnknownCode> {
        SsCode::from_code(code).ok_or(UnknownCode(code))
    }
}

/// The text of any numeric result as 8.4's `drbd_set_st_err_str()` gives it: the message for
/// failure codes, `TOO_LARGE` for codes ≥ 0, `TOO_SMALL` for ≤ −22 and `(null)` for the
/// unassigned −3.
pub const fn set_st_err_str(code: i32) -> &'static str {
    if code <= SS_AFTER_LAST_ERROR {
        "TOO_SMALL"
    } else if code > -1 {
        TOO_LARGE
    } else {
        match StateError::from_code(code) {
            Some(e) => e.message(),
            None => "(null)",
        }
    }
}

/// Disk `fencing` policy (only counts while a local disk is attached; pass
/// [`Fencing::DontCare`] when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Fencing {
    /// `dont-care` (0).
    #[default]
    DontCare = 0,
    /// `resource-only` (1).
    ResourceOnly = 1,
    /// `resource-and-stonith` (2).
    ResourceAndStonith = 2,
}

impl Fencing {
    /// The `fencing` attribute's value (`None`: not a policy).
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Fencing::DontCare),
            1 => Some(Fencing::ResourceOnly),
            2 => Some(Fencing::ResourceAndStonith),
            _ => None,
        }
    }
}

/// Resource option `on-no-data-accessible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnNoData {
    /// `io-error` (0).
    #[default]
    IoError = 0,
    /// `suspend-io` (1).
    SuspendIo = 1,
}

/// Whether a change is requested (soft: all rules apply) or imposed by the environment (hard:
/// disk or network broke; only the transition rules of [`is_valid_transition`] apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A user or protocol request that may be refused.
    Soft,
    /// A fact (`CS_HARD`).
    Hard,
}

/// Facts outside the two states that the rules consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateContext {
    /// A net configuration exists for the connection.
    pub has_net_conf: bool,
    /// Net option `allow-two-primaries`.
    pub allow_two_primaries: bool,
    /// Some volume of the connection currently sees its peer as Primary
    /// (`conn_highest_peer() == R_PRIMARY`, this device's current state included).
    pub any_peer_primary: bool,
    /// The device is held open (`open_cnt > 0`).
    pub device_open: bool,
    /// Net option `verify-alg` is set.
    pub has_verify_alg: bool,
    /// Agreed protocol version of the connection (0 if none).
    pub agreed_pro_version: u32,
    /// Disk fencing policy; `DontCare` when no local disk is attached.
    pub fencing: Fencing,
    /// Resource option `on-no-data-accessible`.
    pub on_no_data: OnNoData,
    /// Our state was sent during the connect handshake and the handshake is not finished
    /// (the `STATE_SENT` connection flag): only connection-state changes are allowed.
    pub state_sent: bool,
    /// For a connection lost while the disk is Negotiating: `Some((disk, pdsk))` to fall back
    /// to when the exposed data UUID still equals the current UUID (8.4's
    /// `new_state_tmp`), `None` when it does not (the disk then becomes Diskless).
    pub negotiation_fallback: Option<(DiskState, DiskState)>,
}

impl StateContext {
    /// No configuration at all: no net config, nothing open, policies at their defaults.
    pub const fn new() -> Self {
        StateContext {
            has_net_conf: false,
            allow_two_primaries: false,
            any_peer_primary: false,
            device_open: false,
            has_verify_alg: false,
            agreed_pro_version: 0,
            fencing: Fencing::DontCare,
            on_no_data: OnNoData::IoError,
            state_sent: false,
            negotiation_fallback: None,
        }
    }
}

impl Default for StateContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `ns` is a valid state to be in (8.4 `is_valid_state()`, first match wins).
pub fn is_valid_state(ns: &State, ctx: &StateContext) -> Result<(), StateError> {
    use ConnState as C;
    use DiskState as D;
    use StateError as E;

    let primary = ns.role == Role::Primary;
    if ctx.has_net_conf && !ctx.allow_two_primaries && primary {
        if ns.peer == Role::Primary {
            return Err(E::TwoPrimaries);
        }
        if ctx.any_peer_primary {
            return Err(E::OVolPeerPri);
        }
    }
    let verify = ns.conn.is_verify();
    let starting_sync = matches!(ns.conn, C::StartingSyncS | C::StartingSyncT);
    let err = if ns.role == Role::Secondary && ctx.device_open {
        E::DeviceInUse
    } else if primary && ns.conn < C::Connected && ns.disk < D::UpToDate {
        E::NoUpToDateDisk
    } else if ctx.fencing >= Fencing::ResourceOnly
        && primary
        && ns.conn < C::Connected
        && ns.pdsk >= D::DUnknown
    {
        E::PrimaryNop
    } else if primary && ns.disk <= D::Inconsistent && ns.pdsk <= D::Inconsistent {
        E::NoUpToDateDisk
    } else if ns.conn > C::Connected && ns.disk < D::Inconsistent {
        E::NoLocalDisk
    } else if ns.conn > C::Connected && ns.pdsk < D::Inconsistent {
        E::NoRemoteDisk
    } else if ns.conn > C::Connected && ns.disk < D::UpToDate && ns.pdsk < D::UpToDate {
        E::NoUpToDateDisk
    } else if matches!(
        ns.conn,
        C::Connected | C::WFBitMapS | C::SyncSource | C::PausedSyncS
    ) && ns.disk == D::Outdated
    {
        E::ConnectedOutdates
    } else if ctx.has_net_conf && verify && !ctx.has_verify_alg {
        E::NoVerifyAlg
    } else if verify && ctx.agreed_pro_version < 88 {
        E::NotSupported
    } else if primary && ns.disk < D::UpToDate && ns.pdsk < D::UpToDate {
        E::NoUpToDateDisk
    } else if starting_sync && ns.pdsk == D::DUnknown {
        E::NeedConnection
    } else if ns.conn >= C::Connected && ns.pdsk == D::DUnknown {
        E::ConnectedOutdates
    } else {
        return Ok(());
    };
    Err(err)
}

/// Rules that only limit requested (soft) transitions (8.4 `is_valid_soft_transition()`;
/// every rule is checked and the last one that matches decides).
pub fn is_valid_soft_transition(
    os: &State,
    ns: &State,
    ctx: &StateContext,
) -> Result<(), StateError> {
    use ConnState as C;
    use DiskState as D;
    use StateError as E;

    let starting_sync = matches!(ns.conn, C::StartingSyncS | C::StartingSyncT);
    let mut rv = None;
    if starting_sync && os.conn > C::Connected {
        rv = Some(E::ResyncRunning);
    }
    if ns.conn == C::Disconnecting && os.conn == C::StandAlone {
        rv = Some(E::AlreadyStandalone);
    }
    if ns.disk > D::Attaching && os.disk == D::Diskless {
        rv = Some(E::IsDiskless);
    }
    if ns.conn == C::WFConnection && os.conn < C::Unconnected {
        rv = Some(E::NoNetConfig);
    }
    if ns.disk == D::Outdated && os.disk < D::Outdated && os.disk != D::Attaching {
        rv = Some(E::LowerThanOutdated);
    }
    if ns.conn == C::Disconnecting && os.conn == C::Unconnected {
        rv = Some(E::InTransientState);
    }
    if ctx.state_sent
        && !((ns.conn == C::WFReportParams && os.conn == C::WFConnection)
            || (ns.conn >= C::Connected && os.conn == C::WFReportParams))
    {
        rv = Some(E::InTransientState);
    }
    // No promotion during the resync handshake that a forced primary on the peer started.
    if os.role != Role::Primary
        && ns.role == Role::Primary
        && ns.pdsk == D::UpToDate
        && ns.disk != D::UpToDate
        && ns.disk != D::Diskless
        && (ns.conn <= C::WFSyncUUID || ns.conn != os.conn)
    {
        rv = Some(E::InTransientState);
    }
    if ns.conn.is_verify() && os.conn < C::Connected {
        rv = Some(E::NeedConnection);
    }
    if ns.conn.is_verify() && ns.conn != os.conn && os.conn > C::Connected {
        rv = Some(E::ResyncRunning);
    }
    if starting_sync && os.conn < C::Connected {
        rv = Some(E::NeedConnection);
    }
    if matches!(ns.conn, C::SyncTarget | C::SyncSource) && os.conn < C::WFReportParams {
        rv = Some(E::NeedConnection);
    }
    if ns.conn == C::Disconnecting
        && ns.pdsk == D::Outdated
        && os.conn < C::Connected
        && os.pdsk > D::Outdated
    {
        rv = Some(E::OutdateWoConn);
    }
    match rv {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Connection-state transition rules that hold even for hard changes (8.4
/// `is_valid_conn_transition()`); an unchanged connection state is fine.
pub fn is_valid_conn_transition(oc: ConnState, nc: ConnState) -> Result<(), StateError> {
    use ConnState as C;

    if oc == nc {
        return Ok(());
    }
    if oc == C::StandAlone && nc == C::Disconnecting {
        return Err(StateError::AlreadyStandalone);
    }
    if oc == C::StandAlone && nc != C::Unconnected {
        return Err(StateError::NeedConnection);
    }
    if oc < C::WFReportParams && nc >= C::Connected {
        return Err(StateError::NeedConnection);
    }
    if oc.is_network_failure() && nc != C::Unconnected && nc != C::Disconnecting {
        return Err(StateError::InTransientState);
    }
    if oc == C::Disconnecting && nc != C::StandAlone {
        return Err(StateError::InTransientState);
    }
    Ok(())
}

/// Transition rules for every change, hard ones included (8.4 `is_valid_transition()`):
/// the connection-state rules, and a Diskless disk cannot fail again.
pub fn is_valid_transition(os: &State, ns: &State) -> Result<(), StateError> {
    if ns.disk == DiskState::Failed && os.disk == DiskState::Diskless {
        return Err(StateError::IsDiskless);
    }
    is_valid_conn_transition(os.conn, ns.conn)
}

/// Whether going from `os` to `ns` is allowed, as 8.4's `_drbd_set_state()` decides after
/// sanitizing: the transition rules always; for soft changes also the state validity rules
/// (a new state that is invalid for the same reason as the old one is let through) and the
/// soft-transition rules.
pub fn check_transition(
    os: &State,
    ns: &State,
    ctx: &StateContext,
    kind: ChangeKind,
) -> Result<(), StateError> {
    is_valid_transition(os, ns)?;
    if kind == ChangeKind::Hard {
        return Ok(());
    }
    match is_valid_state(ns, ctx) {
        Ok(()) => is_valid_soft_transition(os, ns, ctx),
        Err(e) if is_valid_state(os, ctx) == Err(e) => is_valid_soft_transition(os, ns, ctx),
        Err(e) => Err(e),
    }
}

/// Whether a change must be agreed by the peer first (8.4 `cl_wide_st_chg()`): while
/// connected, becoming Primary, starting a full sync either way or failing the disk; any
/// disconnect of a connected resource; Connected → VerifyS; Connected → WFReportParams.
pub fn is_cluster_wide(os: &State, ns: &State) -> bool {
    use ConnState as C;

    (os.conn >= C::Connected
        && ns.conn >= C::Connected
        && ((os.role != Role::Primary && ns.role == Role::Primary)
            || (os.conn != C::StartingSyncT && ns.conn == C::StartingSyncT)
            || (os.conn != C::StartingSyncS && ns.conn == C::StartingSyncS)
            || (os.disk != DiskState::Failed && ns.disk == DiskState::Failed)))
        || (os.conn >= C::Connected && ns.conn == C::Disconnecting)
        || (os.conn == C::Connected && ns.conn == C::VerifyS)
        || (os.conn == C::Connected && ns.conn == C::WFReportParams)
}

/// What [`sanitize`] changed that 8.4 logs as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SanitizeWarning {
    /// A verify state with a failed disk fell back to Connected.
    AbortedOnlineVerify,
    /// A resync state with a failed disk fell back to Connected.
    AbortedResync,
    /// The connection broke while Negotiating and the data is not usable.
    ConnectionLostNegotiating,
    /// The own disk state was raised to the minimum the connection state implies.
    ImplicitlyUpgradedDisk,
    /// The peer's disk state was raised to the minimum the connection state implies.
    ImplicitlyUpgradedPdsk,
}

impl SanitizeWarning {
    /// The kernel log text.
    pub const fn message(self) -> &'static str {
        match self {
            SanitizeWarning::AbortedOnlineVerify => "Online-verify aborted.",
            SanitizeWarning::AbortedResync => "Resync aborted.",
            SanitizeWarning::ConnectionLostNegotiating => {
                "Connection lost while negotiating, no data!"
            }
            SanitizeWarning::ImplicitlyUpgradedDisk => "Implicitly upgraded disk",
            SanitizeWarning::ImplicitlyUpgradedPdsk => "Implicitly upgraded pdsk",
        }
    }
}

/// The implied adjustments applied to every new state before it is checked (8.4
/// `sanitize_state()`), with the warning to log (the last one raised, as in 8.4).
pub fn sanitize(os: &State, ns: &State, ctx: &StateContext) -> (State, Option<SanitizeWarning>) {
    use ConnState as C;
    use DiskState as D;

    let mut ns = *ns;
    let mut warn = None;

    if ns.conn < C::Connected {
        ns.peer_isp = false;
        ns.peer = Role::Unknown;
        if ns.pdsk > D::DUnknown || ns.pdsk < D::Inconsistent {
            ns.pdsk = D::DUnknown;
        }
    }

    if ns.is_unconfigured() {
        ns.aftr_isp = false;
    }

    if ns.conn > C::Connected && (ns.disk <= D::Failed || ns.pdsk <= D::Failed) {
        warn = Some(if ns.conn.is_verify() {
            SanitizeWarning::AbortedOnlineVerify
        } else {
            SanitizeWarning::AbortedResync
        });
        ns.conn = C::Connected;
    }

    if ns.conn < C::Connected && ns.disk == D::Negotiating && os.disk >= D::Negotiating {
        match ctx.negotiation_fallback {
            Some((disk, pdsk)) => {
                ns.disk = disk;
                ns.pdsk = pdsk;
            }
            None => {
                warn = Some(SanitizeWarning::ConnectionLostNegotiating);
                ns.disk = D::Diskless;
                ns.pdsk = D::DUnknown;
            }
        }
    }

    if ns.conn >= C::Connected && ns.conn < C::Ahead {
        if matches!(ns.disk, D::Consistent | D::Outdated) {
            ns.disk = D::UpToDate;
        }
        if matches!(ns.pdsk, D::Consistent | D::Outdated) {
            ns.pdsk = D::UpToDate;
        }
    }

    let (disk_min, disk_max, pdsk_min, pdsk_max) = match ns.conn {
        C::WFBitMapT | C::PausedSyncT | C::StartingSyncT | C::WFSyncUUID | C::Behind => {
            (D::Inconsistent, D::Outdated, D::UpToDate, D::UpToDate)
        }
        C::VerifyS | C::VerifyT => (D::UpToDate, D::UpToDate, D::UpToDate, D::UpToDate),
        C::Connected => (D::Diskless, D::UpToDate, D::Diskless, D::UpToDate),
        C::WFBitMapS | C::PausedSyncS | C::StartingSyncS | C::Ahead => {
            (D::UpToDate, D::UpToDate, D::Inconsistent, D::Consistent)
        }
        C::SyncTarget => (D::Inconsistent, D::Inconsistent, D::UpToDate, D::UpToDate),
        C::SyncSource => (D::UpToDate, D::UpToDate, D::Inconsistent, D::Inconsistent),
        _ => (D::Diskless, D::UpToDate, D::Inconsistent, D::DUnknown),
    };
    if ns.disk > disk_max {
        ns.disk = disk_max;
    }
    if ns.disk < disk_min {
        warn = Some(SanitizeWarning::ImplicitlyUpgradedDisk);
        ns.disk = disk_min;
    }
    if ns.pdsk > pdsk_max {
        ns.pdsk = pdsk_max;
    }
    if ns.pdsk < pdsk_min {
        warn = Some(SanitizeWarning::ImplicitlyUpgradedPdsk);
        ns.pdsk = pdsk_min;
    }

    let peer_lost =
        |s: &State| s.role == Role::Primary && s.conn < C::Connected && s.pdsk > D::Outdated;
    if ctx.fencing == Fencing::ResourceAndStonith && peer_lost(&ns) && !peer_lost(os) {
        ns.susp_fen = true;
    }
    let no_data =
        |s: &State| s.role == Role::Primary && s.disk < D::UpToDate && s.pdsk < D::UpToDate;
    if ctx.on_no_data == OnNoData::SuspendIo && no_data(&ns) && !no_data(os) {
        ns.susp_nod = true;
    }

    if ns.aftr_isp || ns.peer_isp || ns.user_isp {
        ns.conn = match ns.conn {
            C::SyncSource => C::PausedSyncS,
            C::SyncTarget => C::PausedSyncT,
            c => c,
        };
    } else {
        ns.conn = match ns.conn {
            C::PausedSyncS => C::SyncSource,
            C::PausedSyncT => C::SyncTarget,
            c => c,
        };
    }

    (ns, warn)
}

/// What a requested state comes to after [`prepare_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOutcome {
    /// The sanitized state equals the current one (`SS_NOTHING_TO_DO`).
    NothingToDo,
    /// The change is allowed; `state` is the sanitized new state to install.
    Apply {
        /// The new state.
        state: State,
        /// The sanitize warning to log, if any.
        warning: Option<SanitizeWarning>,
    },
}

impl ChangeOutcome {
    /// The result code 8.4 returns for it.
    pub const fn code(&self) -> SsCode {
        match self {
            ChangeOutcome::NothingToDo => SsCode::NothingToDo,
            ChangeOutcome::Apply { .. } => SsCode::Success,
        }
    }
}

/// A whole local state change as 8.4's `_drbd_set_state()` decides it: sanitize the
/// requested state (typically [`StateChange::apply`] of the current one), report "nothing to
/// do" if it equals the current state, otherwise [`check_transition`] it.
pub fn prepare_change(
    os: &State,
    requested: &State,
    ctx: &StateContext,
    kind: ChangeKind,
) -> Result<ChangeOutcome, StateError> {
    let (ns, warning) = sanitize(os, requested, ctx);
    if ns == *os {
        return Ok(ChangeOutcome::NothingToDo);
    }
    check_transition(os, &ns, ctx, kind)?;
    Ok(ChangeOutcome::Apply { state: ns, warning })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ConnState as C;
    use DiskState as D;
    use StateError as E;

    fn st(role: Role, peer: Role, conn: ConnState, disk: DiskState, pdsk: DiskState) -> State {
        State::new(role, peer, conn, disk, pdsk)
    }

    const P: Role = Role::Primary;
    const S: Role = Role::Secondary;
    const U: Role = Role::Unknown;

    #[test]
    fn conn_names_and_values() {
        let expected = [
            "StandAlone",
            "Disconnecting",
            "Unconnected",
            "Timeout",
            "BrokenPipe",
            "NetworkFailure",
            "ProtocolError",
            "TearDown",
            "WFConnection",
            "WFReportParams",
            "Connected",
            "StartingSyncS",
            "StartingSyncT",
            "WFBitMapS",
            "WFBitMapT",
            "WFSyncUUID",
            "SyncSource",
            "SyncTarget",
            "VerifyS",
            "VerifyT",
            "PausedSyncS",
            "PausedSyncT",
            "Ahead",
            "Behind",
        ];
        assert_eq!(ConnState::ALL.len(), expected.len());
        for (i, (c, name)) in ConnState::ALL.iter().zip(expected).enumerate() {
            assert_eq!(c.value() as usize, i);
            assert_eq!(c.name(), name);
            assert_eq!(c.to_string(), name);
            assert_eq!(ConnState::from_u8(i as u8), Ok(*c));
            assert_eq!(ConnState::try_from(i as u8), Ok(*c));
            assert_eq!(ConnState::from_name(name), Some(*c));
            assert_eq!(u8::from(*c) as usize, i);
        }
        for raw in 24..=255u8 {
            assert_eq!(
                ConnState::from_u8(raw),
                Err(InvalidValue {
                    field: Field::Conn,
                    value: raw as u32
                })
            );
            assert_eq!(ConnState::name_of_raw(raw), "TOO_LARGE");
        }
        assert_eq!(ConnState::name_of_raw(10), "Connected");
        assert_eq!(ConnState::from_name("connected"), None);
        assert_eq!(ConnState::from_name("Unconfigured"), None);
    }

    #[test]
    fn role_names_and_values() {
        let expected = [(0, "Unknown"), (1, "Primary"), (2, "Secondary")];
        assert_eq!(Role::ALL.len(), 3);
        for (r, (v, name)) in Role::ALL.iter().zip(expected) {
            assert_eq!(r.value(), v);
            assert_eq!(r.name(), name);
            assert_eq!(Role::from_u8(v), Ok(*r));
            assert_eq!(Role::from_name(name), Some(*r));
        }
        for raw in 3..=255u8 {
            assert!(Role::try_from(raw).is_err());
            assert_eq!(Role::name_of_raw(raw), "TOO_LARGE");
        }
        assert_eq!(
            Role::from_u8(3).unwrap_err().to_string(),
            "invalid role value 3"
        );
    }

    #[test]
    fn disk_names_and_values() {
        let expected = [
            "Diskless",
            "Attaching",
            "Failed",
            "Negotiating",
            "Inconsistent",
            "Outdated",
            "DUnknown",
            "Consistent",
            "UpToDate",
        ];
        assert_eq!(DiskState::ALL.len(), expected.len());
        for (i, (d, name)) in DiskState::ALL.iter().zip(expected).enumerate() {
            assert_eq!(d.value() as usize, i);
            assert_eq!(d.name(), name);
            assert_eq!(DiskState::from_u8(i as u8), Ok(*d));
            assert_eq!(DiskState::from_name(name), Some(*d));
        }
        for raw in 9..=255u8 {
            assert!(DiskState::from_u8(raw).is_err());
            assert_eq!(DiskState::name_of_raw(raw), "TOO_LARGE");
        }
    }

    #[test]
    fn field_layout() {
        let expected = [
            (Field::Role, 0x0000_0003),
            (Field::Peer, 0x0000_000c),
            (Field::Conn, 0x0000_01f0),
            (Field::Disk, 0x0000_1e00),
            (Field::Pdsk, 0x0001_e000),
            (Field::Susp, 1 << 17),
            (Field::AftrIsp, 1 << 18),
            (Field::PeerIsp, 1 << 19),
            (Field::UserIsp, 1 << 20),
            (Field::SuspNod, 1 << 21),
            (Field::SuspFen, 1 << 22),
        ];
        let mut all = 0;
        for (f, mask) in expected {
            assert_eq!(f.mask(), mask, "{}", f.name());
            assert_eq!(all & mask, 0);
            all |= mask;
        }
        assert_eq!(all, !RESERVED_MASK);
        assert_eq!(Field::ALL.len(), expected.len());
    }

    #[test]
    fn observed_words_decode() {
        let cases = [
            (
                0x0000_c882,
                st(S, U, C::WFConnection, D::Inconsistent, D::DUnknown),
            ),
            (
                0x0000_88aa,
                st(S, S, C::Connected, D::Inconsistent, D::Inconsistent),
            ),
            (
                0x0000_90a9,
                st(P, S, C::Connected, D::UpToDate, D::Inconsistent),
            ),
            (
                0x0001_08e6,
                st(S, P, C::WFBitMapT, D::Inconsistent, D::UpToDate),
            ),
            (
                0x0001_10a6,
                st(S, P, C::Connected, D::UpToDate, D::UpToDate),
            ),
            (
                0x0001_0ae6,
                st(S, P, C::WFBitMapT, D::Outdated, D::UpToDate),
            ),
        ];
        for (word, state) in cases {
            assert_eq!(State::unpack(word), Ok(state), "{word:#x}");
            assert_eq!(state.pack(), word);
        }
    }

    #[test]
    fn unpack_rejects_out_of_range_fields_and_ignores_reserved_bits() {
        let base = State::UNCONFIGURED.pack();
        let bad = |field: Field, value: u32| {
            assert_eq!(
                State::unpack(field.set(base, value)),
                Err(InvalidValue { field, value })
            );
        };
        bad(Field::Role, 3);
        bad(Field::Peer, 3);
        bad(Field::Conn, 24);
        bad(Field::Conn, 31);
        bad(Field::Disk, 9);
        bad(Field::Pdsk, 15);
        assert_eq!(State::unpack(base | RESERVED_MASK), Ok(State::UNCONFIGURED));
    }

    #[test]
    fn flags_pack_to_their_bits() {
        let s = State {
            susp: true,
            user_isp: true,
            susp_fen: true,
            ..State::UNCONFIGURED
        };
        let w = s.pack();
        assert_eq!(w & (1 << 17), 1 << 17);
        assert_eq!(w & (1 << 20), 1 << 20);
        assert_eq!(w & (1 << 22), 1 << 22);
        assert_eq!(w & ((1 << 18) | (1 << 19) | (1 << 21)), 0);
        assert!(s.is_suspended());
        assert!(!State::UNCONFIGURED.is_suspended());
    }

    #[test]
    fn observed_requests() {
        // drbdadm primary --force
        let force = StateChange::new().role(P).disk(D::UpToDate);
        assert_eq!((force.mask, force.val), (0x0000_1e03, 0x0000_1001));
        // drbdadm verify
        let verify = StateChange::new().conn(C::VerifyS);
        assert_eq!((verify.mask, verify.val), (0x1f0, 0x120));
        // drbdadm disconnect
        let disc = StateChange::new().conn(C::Disconnecting);
        assert_eq!((disc.mask, disc.val), (0x1f0, 0x10));

        let old = st(S, S, C::Connected, D::Inconsistent, D::Inconsistent);
        let new = force.apply(&old).unwrap();
        assert_eq!(new, st(P, S, C::Connected, D::UpToDate, D::Inconsistent));
        assert!(
            StateChange::new()
                .flag(Field::UserIsp, true)
                .apply(&old)
                .unwrap()
                .user_isp
        );
    }

    #[test]
    fn peer_requests_are_mirrored() {
        let force = StateChange::new().role(P).disk(D::UpToDate).from_peer();
        assert_eq!(force, StateChange::new().peer(P).pdsk(D::UpToDate));
        let verify = StateChange::new().conn(C::VerifyS).from_peer();
        assert_eq!(verify, StateChange::new().conn(C::VerifyT));
        let disc = StateChange::new().conn(C::Disconnecting).from_peer();
        assert_eq!(disc, StateChange::new().conn(C::TearDown));
        let inval = StateChange::new().conn(C::StartingSyncT).from_peer();
        assert_eq!(inval, StateChange::new().conn(C::StartingSyncS));
        let other = StateChange::new().conn(C::SyncSource).from_peer();
        assert_eq!(other.mask, Field::Conn.mask());
        assert_eq!(Field::Conn.get(other.val), 0);
        let pause = StateChange::new().flag(Field::UserIsp, true).from_peer();
        assert_eq!(pause.mask & Field::PeerIsp.mask(), Field::PeerIsp.mask());
        assert_eq!(pause.val & Field::PeerIsp.mask(), Field::PeerIsp.mask());
        for raw in 0..32 {
            let expect = match raw {
                9 | 10 | 31 => raw,
                11 => 12,
                12 => 11,
                1 => 7,
                18 => 19,
                _ => 0,
            };
            assert_eq!(convert_peer_conn(raw), expect);
        }
    }

    #[test]
    fn ss_codes() {
        let table: [(i32, &str, &str); 20] = [
            (
                -1,
                "SS_TWO_PRIMARIES",
                "Multiple primaries not allowed by config",
            ),
            (-2, "SS_NO_UP_TO_DATE_DISK", "Need access to UpToDate data"),
            (-4, "SS_NO_LOCAL_DISK", "Can not resync without local disk"),
            (
                -5,
                "SS_NO_REMOTE_DISK",
                "Can not resync without remote disk",
            ),
            (
                -6,
                "SS_CONNECTED_OUTDATES",
                "Refusing to be Outdated while Connected",
            ),
            (
                -7,
                "SS_PRIMARY_NOP",
                "Refusing to be Primary while peer is not outdated",
            ),
            (
                -8,
                "SS_RESYNC_RUNNING",
                "Can not start OV/resync since it is already active",
            ),
            (
                -9,
                "SS_ALREADY_STANDALONE",
                "Can not disconnect a StandAlone device",
            ),
            (
                -10,
                "SS_CW_FAILED_BY_PEER",
                "State change was refused by peer node",
            ),
            (
                -11,
                "SS_IS_DISKLESS",
                "Device is diskless, the requested operation requires a disk",
            ),
            (-12, "SS_DEVICE_IN_USE", "Device is held open by someone"),
            (
                -13,
                "SS_NO_NET_CONFIG",
                "Have no net/connection configuration",
            ),
            (
                -14,
                "SS_NO_VERIFY_ALG",
                "Need a verify algorithm to start online verify",
            ),
            (
                -15,
                "SS_NEED_CONNECTION",
                "Need a connection to start verify or resync",
            ),
            (
                -16,
                "SS_LOWER_THAN_OUTDATED",
                "Disk state is lower than outdated",
            ),
            (-17, "SS_NOT_SUPPORTED", "Peer does not support protocol"),
            (
                -18,
                "SS_IN_TRANSIENT_STATE",
                "In transient state, retry after next state change",
            ),
            (
                -19,
                "SS_CONCURRENT_ST_CHG",
                "Concurrent state changes detected and aborted",
            ),
            (
                -20,
                "SS_O_VOL_PEER_PRI",
                "Other vol primary on peer not allowed by config",
            ),
            (
                -21,
                "SS_OUTDATE_WO_CONN",
                "Need a connection for a graceful disconnect/outdate peer",
            ),
        ];
        for ((code, name, msg), e) in table.into_iter().zip(StateError::ALL) {
            assert_eq!(e.code(), code);
            assert_eq!(e.name(), name);
            assert_eq!(e.message(), msg);
            assert_eq!(e.to_string(), msg);
            assert_eq!(StateError::try_from(code), Ok(e));
            assert_eq!(SsCode::from_code(code), Some(SsCode::Failed(e)));
            assert_eq!(SsCode::from(e).code(), code);
            assert_eq!(SsCode::Failed(e).name(), name);
            assert_eq!(set_st_err_str(code), msg);
            assert!(!SsCode::Failed(e).is_success());
        }
        let positive = [
            (4, SsCode::CwNoNeed, "SS_CW_NO_NEED", true),
            (3, SsCode::CwSuccess, "SS_CW_SUCCESS", true),
            (2, SsCode::NothingToDo, "SS_NOTHING_TO_DO", true),
            (1, SsCode::Success, "SS_SUCCESS", true),
            (0, SsCode::UnknownError, "SS_UNKNOWN_ERROR", false),
        ];
        for (code, ss, name, ok) in positive {
            assert_eq!(SsCode::try_from(code), Ok(ss));
            assert_eq!(ss.code(), code);
            assert_eq!(ss.name(), name);
            assert_eq!(ss.is_success(), ok);
            assert_eq!(set_st_err_str(code), "TOO_LARGE");
        }
        for code in [-3, -22, -100, 5, i32::MIN, i32::MAX] {
            assert_eq!(SsCode::try_from(code), Err(UnknownCode(code)));
            assert_eq!(StateError::from_code(code), None);
        }
        assert_eq!(set_st_err_str(-3), "(null)");
        assert_eq!(set_st_err_str(-22), "TOO_SMALL");
        assert_eq!(set_st_err_str(i32::MIN), "TOO_SMALL");
    }

    fn net() -> StateContext {
        StateContext {
            has_net_conf: true,
            has_verify_alg: true,
            agreed_pro_version: 101,
            ..StateContext::new()
        }
    }

    #[test]
    fn state_validity_table() {
        let no_net = StateContext::new();
        let two = StateContext {
            allow_two_primaries: true,
            ..net()
        };
        let other_vol = StateContext {
            any_peer_primary: true,
            ..net()
        };
        let open = StateContext {
            device_open: true,
            ..net()
        };
        let fenced = StateContext {
            fencing: Fencing::ResourceOnly,
            ..net()
        };
        let no_alg = StateContext {
            has_verify_alg: false,
            ..net()
        };
        let old_peer = StateContext {
            agreed_pro_version: 87,
            ..net()
        };
        let cases: &[(State, StateContext, Result<(), StateError>)] = &[
            // Two primaries.
            (
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                net(),
                Err(E::TwoPrimaries),
            ),
            (
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                two,
                Ok(()),
            ),
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                other_vol,
                Err(E::OVolPeerPri),
            ),
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                net(),
                Ok(()),
            ),
            // Demotion of an open device.
            (
                st(S, S, C::Connected, D::UpToDate, D::UpToDate),
                open,
                Err(E::DeviceInUse),
            ),
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                open,
                Ok(()),
            ),
            // Primary without a connection needs UpToDate data.
            (
                st(P, U, C::StandAlone, D::Diskless, D::DUnknown),
                no_net,
                Err(E::NoUpToDateDisk),
            ),
            (
                st(P, U, C::StandAlone, D::Consistent, D::DUnknown),
                no_net,
                Err(E::NoUpToDateDisk),
            ),
            (
                st(P, U, C::StandAlone, D::UpToDate, D::DUnknown),
                no_net,
                Ok(()),
            ),
            (
                st(P, U, C::WFConnection, D::UpToDate, D::DUnknown),
                net(),
                Ok(()),
            ),
            (
                st(P, U, C::WFConnection, D::UpToDate, D::DUnknown),
                fenced,
                Err(E::PrimaryNop),
            ),
            (
                st(P, U, C::WFConnection, D::UpToDate, D::Outdated),
                fenced,
                Ok(()),
            ),
            // Primary while connected.
            (
                st(P, S, C::Connected, D::Diskless, D::UpToDate),
                net(),
                Ok(()),
            ),
            (
                st(P, S, C::Connected, D::Inconsistent, D::Inconsistent),
                net(),
                Err(E::NoUpToDateDisk),
            ),
            (
                st(P, S, C::Connected, D::Outdated, D::Outdated),
                net(),
                Err(E::ConnectedOutdates),
            ),
            (
                st(P, S, C::Connected, D::Consistent, D::Consistent),
                net(),
                Err(E::NoUpToDateDisk),
            ),
            // Resync needs disks on both sides and UpToDate data on one.
            (
                st(S, S, C::SyncTarget, D::Diskless, D::UpToDate),
                net(),
                Err(E::NoLocalDisk),
            ),
            (
                st(S, S, C::SyncSource, D::UpToDate, D::Failed),
                net(),
                Err(E::NoRemoteDisk),
            ),
            (
                st(S, S, C::SyncSource, D::Consistent, D::Inconsistent),
                net(),
                Err(E::NoUpToDateDisk),
            ),
            (
                st(S, S, C::SyncSource, D::UpToDate, D::Inconsistent),
                net(),
                Ok(()),
            ),
            (
                st(S, S, C::Connected, D::Outdated, D::UpToDate),
                net(),
                Err(E::ConnectedOutdates),
            ),
            (
                st(S, S, C::WFBitMapS, D::Outdated, D::UpToDate),
                net(),
                Err(E::ConnectedOutdates),
            ),
            (
                st(S, S, C::WFBitMapT, D::Outdated, D::UpToDate),
                net(),
                Ok(()),
            ),
            // Verify.
            (
                st(S, S, C::VerifyS, D::UpToDate, D::UpToDate),
                no_alg,
                Err(E::NoVerifyAlg),
            ),
            (
                st(S, S, C::VerifyT, D::UpToDate, D::UpToDate),
                old_peer,
                Err(E::NotSupported),
            ),
            (
                st(S, S, C::VerifyS, D::UpToDate, D::UpToDate),
                net(),
                Ok(()),
            ),
            // Full sync needs a known peer disk; connected needs a known peer disk.
            (
                st(S, S, C::StartingSyncS, D::UpToDate, D::DUnknown),
                net(),
                Err(E::NeedConnection),
            ),
            (
                st(S, S, C::Connected, D::UpToDate, D::DUnknown),
                net(),
                Err(E::ConnectedOutdates),
            ),
            (
                st(S, U, C::WFReportParams, D::UpToDate, D::DUnknown),
                net(),
                Ok(()),
            ),
            (State::UNCONFIGURED, no_net, Ok(())),
        ];
        for (i, (ns, ctx, want)) in cases.iter().enumerate() {
            assert_eq!(is_valid_state(ns, ctx), *want, "case {i}: {ns:?}");
        }
    }

    #[test]
    fn conn_transition_table() {
        let ok: &[(ConnState, ConnState)] = &[
            (C::StandAlone, C::Unconnected),
            (C::Unconnected, C::WFConnection),
            (C::WFConnection, C::WFReportParams),
            (C::WFReportParams, C::Connected),
            (C::WFReportParams, C::WFBitMapS),
            (C::WFBitMapT, C::WFSyncUUID),
            (C::WFSyncUUID, C::SyncTarget),
            (C::SyncSource, C::Connected),
            (C::Connected, C::NetworkFailure),
            (C::NetworkFailure, C::Unconnected),
            (C::BrokenPipe, C::Disconnecting),
            (C::TearDown, C::Unconnected),
            (C::Disconnecting, C::StandAlone),
            (C::Connected, C::Disconnecting),
            (C::StandAlone, C::StandAlone),
        ];
        for &(o, n) in ok {
            assert_eq!(is_valid_conn_transition(o, n), Ok(()), "{o} -> {n}");
        }
        let bad: &[(ConnState, ConnState, StateError)] = &[
            (C::StandAlone, C::Disconnecting, E::AlreadyStandalone),
            (C::StandAlone, C::WFConnection, E::NeedConnection),
            (C::StandAlone, C::Connected, E::NeedConnection),
            (C::WFConnection, C::Connected, E::NeedConnection),
            (C::Unconnected, C::SyncSource, E::NeedConnection),
            (C::Timeout, C::WFConnection, E::InTransientState),
            (C::ProtocolError, C::StandAlone, E::InTransientState),
            (C::TearDown, C::TearDown, E::InTransientState),
            (C::Disconnecting, C::Unconnected, E::InTransientState),
        ];
        for &(o, n, e) in bad {
            if o == n {
                continue;
            }
            assert_eq!(is_valid_conn_transition(o, n), Err(e), "{o} -> {n}");
        }
        // A Diskless disk cannot fail again, even as a hard change.
        let os = State::UNCONFIGURED;
        let ns = State {
            disk: D::Failed,
            ..os
        };
        assert_eq!(
            check_transition(&os, &ns, &net(), ChangeKind::Hard),
            Err(E::IsDiskless)
        );
    }

    #[test]
    fn soft_transition_table() {
        let ctx = net();
        let handshake = StateContext {
            state_sent: true,
            ..net()
        };
        let connected = st(S, S, C::Connected, D::UpToDate, D::UpToDate);
        let syncing = st(S, S, C::SyncSource, D::UpToDate, D::Inconsistent);
        let wfc = st(S, U, C::WFConnection, D::UpToDate, D::DUnknown);
        let cases: &[(State, State, StateContext, Result<(), StateError>)] = &[
            (
                syncing,
                State {
                    conn: C::StartingSyncS,
                    ..syncing
                },
                ctx,
                Err(E::ResyncRunning),
            ),
            (
                syncing,
                State {
                    conn: C::VerifyS,
                    ..syncing
                },
                ctx,
                Err(E::ResyncRunning),
            ),
            (
                wfc,
                State {
                    conn: C::VerifyS,
                    ..wfc
                },
                ctx,
                Err(E::NeedConnection),
            ),
            (
                wfc,
                State {
                    conn: C::StartingSyncT,
                    ..wfc
                },
                ctx,
                Err(E::NeedConnection),
            ),
            (
                wfc,
                State {
                    conn: C::SyncTarget,
                    ..wfc
                },
                ctx,
                Err(E::NeedConnection),
            ),
            (
                State::UNCONFIGURED,
                State {
                    conn: C::Disconnecting,
                    ..State::UNCONFIGURED
                },
                ctx,
                Err(E::AlreadyStandalone),
            ),
            (
                State::UNCONFIGURED,
                State {
                    disk: D::UpToDate,
                    ..State::UNCONFIGURED
                },
                ctx,
                Err(E::IsDiskless),
            ),
            (
                State::UNCONFIGURED,
                State {
                    disk: D::Attaching,
                    ..State::UNCONFIGURED
                },
                ctx,
                Ok(()),
            ),
            (
                st(S, U, C::StandAlone, D::Inconsistent, D::DUnknown),
                st(S, U, C::StandAlone, D::Outdated, D::DUnknown),
                ctx,
                Err(E::LowerThanOutdated),
            ),
            (
                st(S, U, C::StandAlone, D::Attaching, D::DUnknown),
                st(S, U, C::StandAlone, D::Outdated, D::DUnknown),
                ctx,
                Ok(()),
            ),
            (
                st(S, U, C::StandAlone, D::UpToDate, D::DUnknown),
                st(S, U, C::StandAlone, D::Outdated, D::DUnknown),
                ctx,
                Ok(()),
            ),
            (
                st(S, U, C::Unconnected, D::UpToDate, D::DUnknown),
                st(S, U, C::Disconnecting, D::UpToDate, D::DUnknown),
                ctx,
                Err(E::InTransientState),
            ),
            (
                st(S, U, C::StandAlone, D::UpToDate, D::DUnknown),
                st(S, U, C::WFConnection, D::UpToDate, D::DUnknown),
                ctx,
                Err(E::NoNetConfig),
            ),
            // Connect handshake: only conn may change.
            (
                wfc,
                State { role: P, ..wfc },
                handshake,
                Err(E::InTransientState),
            ),
            (
                wfc,
                State {
                    conn: C::WFReportParams,
                    ..wfc
                },
                handshake,
                Ok(()),
            ),
            (
                st(S, U, C::WFReportParams, D::UpToDate, D::DUnknown),
                connected,
                handshake,
                Ok(()),
            ),
            // No promotion during the handshake of a forced primary on the peer.
            (
                st(S, P, C::WFBitMapT, D::Outdated, D::UpToDate),
                st(P, P, C::WFBitMapT, D::Outdated, D::UpToDate),
                ctx,
                Err(E::InTransientState),
            ),
            (
                st(S, U, C::WFConnection, D::UpToDate, D::Consistent),
                st(S, U, C::Disconnecting, D::UpToDate, D::Outdated),
                ctx,
                Err(E::OutdateWoConn),
            ),
            (
                connected,
                State {
                    conn: C::Disconnecting,
                    ..connected
                },
                ctx,
                Ok(()),
            ),
        ];
        for (i, (os, ns, ctx, want)) in cases.iter().enumerate() {
            assert_eq!(
                is_valid_soft_transition(os, ns, ctx),
                *want,
                "case {i}: {os:?} -> {ns:?}"
            );
        }
    }

    #[test]
    fn check_transition_table() {
        let no_net = StateContext::new();
        let standalone_secondary = st(S, U, C::StandAlone, D::UpToDate, D::DUnknown);
        type Case = (
            State,
            State,
            StateContext,
            ChangeKind,
            Result<(), StateError>,
        );
        let cases: &[Case] = &[
            // Diskless + StandAlone cannot be promoted.
            (
                State::UNCONFIGURED,
                State {
                    role: P,
                    ..State::UNCONFIGURED
                },
                no_net,
                ChangeKind::Soft,
                Err(E::NoUpToDateDisk),
            ),
            // Inconsistent data cannot be promoted ...
            (
                st(S, U, C::StandAlone, D::Inconsistent, D::DUnknown),
                st(P, U, C::StandAlone, D::Inconsistent, D::DUnknown),
                no_net,
                ChangeKind::Soft,
                Err(E::NoUpToDateDisk),
            ),
            // ... unless forced: primary --force sets UpToDate in the same request.
            (
                st(S, U, C::StandAlone, D::Inconsistent, D::DUnknown),
                st(P, U, C::StandAlone, D::UpToDate, D::DUnknown),
                no_net,
                ChangeKind::Soft,
                Ok(()),
            ),
            (
                standalone_secondary,
                State {
                    role: P,
                    ..standalone_secondary
                },
                no_net,
                ChangeKind::Soft,
                Ok(()),
            ),
            // Two primaries need allow-two-primaries.
            (
                st(S, P, C::Connected, D::UpToDate, D::UpToDate),
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                net(),
                ChangeKind::Soft,
                Err(E::TwoPrimaries),
            ),
            (
                st(S, P, C::Connected, D::UpToDate, D::UpToDate),
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                StateContext {
                    allow_two_primaries: true,
                    ..net()
                },
                ChangeKind::Soft,
                Ok(()),
            ),
            // A hard change skips the validity rules ...
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                st(P, S, C::Connected, D::Failed, D::UpToDate),
                net(),
                ChangeKind::Hard,
                Ok(()),
            ),
            // ... but not the connection-state transition rules.
            (
                st(P, U, C::NetworkFailure, D::UpToDate, D::DUnknown),
                st(P, U, C::WFConnection, D::UpToDate, D::DUnknown),
                net(),
                ChangeKind::Hard,
                Err(E::InTransientState),
            ),
            // An old state invalid for the same reason does not block the change.
            (
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                st(P, P, C::Connected, D::UpToDate, D::Inconsistent),
                net(),
                ChangeKind::Soft,
                Ok(()),
            ),
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                st(P, P, C::Connected, D::UpToDate, D::UpToDate),
                net(),
                ChangeKind::Soft,
                Err(E::TwoPrimaries),
            ),
            // Demoting an open device.
            (
                st(P, S, C::Connected, D::UpToDate, D::UpToDate),
                st(S, S, C::Connected, D::UpToDate, D::UpToDate),
                StateContext {
                    device_open: true,
                    ..net()
                },
                ChangeKind::Soft,
                Err(E::DeviceInUse),
            ),
        ];
        for (i, (os, ns, ctx, kind, want)) in cases.iter().enumerate() {
            assert_eq!(
                check_transition(os, ns, ctx, *kind),
                *want,
                "case {i}: {os:?} -> {ns:?}"
            );
        }
    }

    #[test]
    fn sanitize_table() {
        let ctx = net();
        let cases: &[(State, State, Option<SanitizeWarning>)] = &[
            // Losing the connection forgets the peer.
            (
                st(P, S, C::NetworkFailure, D::UpToDate, D::UpToDate),
                st(P, U, C::NetworkFailure, D::UpToDate, D::DUnknown),
                None,
            ),
            (
                st(P, S, C::Unconnected, D::UpToDate, D::Outdated),
                st(P, U, C::Unconnected, D::UpToDate, D::Outdated),
                None,
            ),
            // Consistent/Outdated become UpToDate when connected ...
            (
                st(S, S, C::Connected, D::Consistent, D::Outdated),
                st(S, S, C::Connected, D::UpToDate, D::UpToDate),
                None,
            ),
            // ... and are clamped again by the sync states (observed 0x00010ae6).
            (
                st(S, P, C::WFBitMapT, D::UpToDate, D::UpToDate),
                st(S, P, C::WFBitMapT, D::Outdated, D::UpToDate),
                None,
            ),
            (
                st(S, S, C::SyncTarget, D::Inconsistent, D::Inconsistent),
                st(S, S, C::SyncTarget, D::Inconsistent, D::UpToDate),
                Some(SanitizeWarning::ImplicitlyUpgradedPdsk),
            ),
            (
                st(S, S, C::SyncSource, D::Inconsistent, D::UpToDate),
                st(S, S, C::SyncSource, D::UpToDate, D::Inconsistent),
                Some(SanitizeWarning::ImplicitlyUpgradedDisk),
            ),
            (
                st(P, S, C::Ahead, D::UpToDate, D::UpToDate),
                st(P, S, C::Ahead, D::UpToDate, D::Consistent),
                None,
            ),
            // A failed disk aborts resync / verify.
            (
                st(S, S, C::SyncSource, D::Failed, D::Inconsistent),
                st(S, S, C::Connected, D::Failed, D::Inconsistent),
                Some(SanitizeWarning::AbortedResync),
            ),
            (
                st(S, S, C::VerifyS, D::UpToDate, D::Diskless),
                st(S, S, C::Connected, D::UpToDate, D::Diskless),
                Some(SanitizeWarning::AbortedOnlineVerify),
            ),
        ];
        for (i, (ns, want, warn)) in cases.iter().enumerate() {
            let (got, w) = sanitize(ns, ns, &ctx);
            assert_eq!(got, *want, "case {i}");
            assert_eq!(w, *warn, "case {i}");
        }

        // Pause flags pause and resume the resync.
        let syncing = st(S, S, C::SyncSource, D::UpToDate, D::Inconsistent);
        let paused = sanitize(
            &syncing,
            &State {
                user_isp: true,
                ..syncing
            },
            &ctx,
        )
        .0;
        assert_eq!(paused.conn, C::PausedSyncS);
        let resumed = sanitize(
            &paused,
            &State {
                user_isp: false,
                ..paused
            },
            &ctx,
        )
        .0;
        assert_eq!(resumed.conn, C::SyncSource);
        let target = st(S, S, C::SyncTarget, D::Inconsistent, D::UpToDate);
        let paused = sanitize(
            &target,
            &State {
                peer_isp: true,
                ..target
            },
            &ctx,
        )
        .0;
        assert_eq!(paused.conn, C::PausedSyncT);

        // Becoming unconfigured clears aftr_isp.
        let s = State {
            aftr_isp: true,
            ..State::UNCONFIGURED
        };
        assert!(!sanitize(&s, &s, &ctx).0.aftr_isp);

        // Fencing and no-data suspension start on the transition only.
        let stonith = StateContext {
            fencing: Fencing::ResourceAndStonith,
            ..ctx
        };
        let os = st(P, S, C::Connected, D::UpToDate, D::UpToDate);
        let ns = st(P, S, C::NetworkFailure, D::UpToDate, D::UpToDate);
        let out = sanitize(&os, &ns, &stonith).0;
        assert!(out.susp_fen);
        assert!(!sanitize(&os, &ns, &ctx).0.susp_fen);
        let again = sanitize(
            &out,
            &State {
                susp_fen: false,
                ..out
            },
            &stonith,
        )
        .0;
        assert!(!again.susp_fen);
        let nod = StateContext {
            on_no_data: OnNoData::SuspendIo,
            ..ctx
        };
        let ns = st(P, S, C::Connected, D::Failed, D::Inconsistent);
        assert!(sanitize(&os, &ns, &nod).0.susp_nod);
        assert!(!sanitize(&os, &ns, &ctx).0.susp_nod);

        // Connection lost while Negotiating.
        let os = st(S, S, C::Connected, D::Negotiating, D::UpToDate);
        let ns = st(S, S, C::NetworkFailure, D::Negotiating, D::UpToDate);
        let (out, w) = sanitize(&os, &ns, &ctx);
        assert_eq!((out.disk, out.pdsk), (D::Diskless, D::DUnknown));
        assert_eq!(w, Some(SanitizeWarning::ConnectionLostNegotiating));
        let keep = StateContext {
            negotiation_fallback: Some((D::Consistent, D::DUnknown)),
            ..ctx
        };
        let (out, w) = sanitize(&os, &ns, &keep);
        assert_eq!((out.disk, out.pdsk), (D::Consistent, D::DUnknown));
        assert_eq!(w, None);
        assert_eq!(
            SanitizeWarning::ConnectionLostNegotiating.message(),
            "Connection lost while negotiating, no data!"
        );
    }

    #[test]
    fn prepare_change_flow() {
        let ctx = StateContext::new();
        let os = st(S, U, C::StandAlone, D::UpToDate, D::DUnknown);
        let promote = StateChange::new().role(P).apply(&os).unwrap();
        let out = prepare_change(&os, &promote, &ctx, ChangeKind::Soft).unwrap();
        assert_eq!(
            out,
            ChangeOutcome::Apply {
                state: State { role: P, ..os },
                warning: None
            }
        );
        assert_eq!(out.code(), SsCode::Success);
        let same = StateChange::new().role(S).apply(&os).unwrap();
        let out = prepare_change(&os, &same, &ctx, ChangeKind::Soft).unwrap();
        assert_eq!(out, ChangeOutcome::NothingToDo);
        assert_eq!(out.code(), SsCode::NothingToDo);
        // pdsk forced back to DUnknown by sanitize: still nothing to do.
        let pdsk = StateChange::new().pdsk(D::UpToDate).apply(&os).unwrap();
        assert_eq!(
            prepare_change(&os, &pdsk, &ctx, ChangeKind::Soft),
            Ok(ChangeOutcome::NothingToDo)
        );
        let unconf = State::UNCONFIGURED;
        let promote = StateChange::new().role(P).apply(&unconf).unwrap();
        assert_eq!(
            prepare_change(&unconf, &promote, &ctx, ChangeKind::Soft),
            Err(E::NoUpToDateDisk)
        );
    }

    #[test]
    fn cluster_wide_changes() {
        let connected = st(S, S, C::Connected, D::UpToDate, D::UpToDate);
        let cw = [
            State {
                role: P,
                ..connected
            },
            State {
                conn: C::StartingSyncS,
                ..connected
            },
            State {
                conn: C::StartingSyncT,
                ..connected
            },
            State {
                disk: D::Failed,
                ..connected
            },
            State {
                conn: C::Disconnecting,
                ..connected
            },
            State {
                conn: C::VerifyS,
                ..connected
            },
            State {
                conn: C::WFReportParams,
                ..connected
            },
        ];
        for ns in cw {
            assert!(is_cluster_wide(&connected, &ns), "{ns:?}");
        }
        let local = [
            State {
                conn: C::VerifyT,
                ..connected
            },
            State {
                user_isp: true,
                ..connected
            },
            State {
                conn: C::NetworkFailure,
                ..connected
            },
        ];
        for ns in local {
            assert!(!is_cluster_wide(&connected, &ns), "{ns:?}");
        }
        let standalone = st(S, U, C::StandAlone, D::UpToDate, D::DUnknown);
        assert!(!is_cluster_wide(
            &standalone,
            &State {
                role: P,
                ..standalone
            }
        ));
    }

    fn any_state() -> impl Strategy<Value = State> {
        (
            0u8..3,
            0u8..3,
            0u8..24,
            0u8..9,
            0u8..9,
            proptest::array::uniform6(any::<bool>()),
        )
            .prop_map(|(role, peer, conn, disk, pdsk, f)| State {
                role: Role::from_u8(role).unwrap(),
                peer: Role::from_u8(peer).unwrap(),
                conn: ConnState::from_u8(conn).unwrap(),
                disk: DiskState::from_u8(disk).unwrap(),
                pdsk: DiskState::from_u8(pdsk).unwrap(),
                susp: f[0],
                aftr_isp: f[1],
                peer_isp: f[2],
                user_isp: f[3],
                susp_nod: f[4],
                susp_fen: f[5],
            })
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trip(s in any_state()) {
            let w = s.pack();
            prop_assert_eq!(w & RESERVED_MASK, 0);
            prop_assert_eq!(State::unpack(w), Ok(s));
        }

        #[test]
        fn unpack_pack_keeps_used_bits(w in any::<u32>()) {
            match State::unpack(w) {
                Ok(s) => prop_assert_eq!(s.pack(), w & !RESERVED_MASK),
                Err(e) => {
                    let raw = e.field.get(w);
                    prop_assert_eq!(raw, e.value);
                    let too_big = match e.field {
                        Field::Role | Field::Peer => raw > 2,
                        Field::Conn => raw > 23,
                        Field::Disk | Field::Pdsk => raw > 8,
                        _ => false,
                    };
                    prop_assert!(too_big);
                }
            }
        }

        #[test]
        fn mask_val_changes_only_masked_fields(
            old in any_state(),
            new in any_state(),
            pick in proptest::array::uniform11(any::<bool>()),
        ) {
            let mut req = StateChange::new();
            for (field, on) in Field::ALL.into_iter().zip(pick) {
                if on {
                    req = req.with(field, field.get(new.pack()));
                }
            }
            let got = req.apply(&old).unwrap().pack();
            for (field, on) in Field::ALL.into_iter().zip(pick) {
                let from = if on { new.pack() } else { old.pack() };
                prop_assert_eq!(field.get(got), field.get(from));
            }
        }

        #[test]
        fn peer_conversion_is_an_involution_on_roles_and_disks(s in any_state()) {
            let w = s.pack();
            let back = convert_peer_state(convert_peer_state(w));
            for f in [Field::Role, Field::Peer, Field::Disk, Field::Pdsk] {
                prop_assert_eq!(f.get(back), f.get(w));
            }
        }

        #[test]
        fn sanitize_invariants_and_rules_never_panic(
            os in any_state(),
            ns in any_state(),
            open in any::<bool>(),
            two in any::<bool>(),
            sent in any::<bool>(),
        ) {
            let ctx = StateContext {
                device_open: open,
                allow_two_primaries: two,
                state_sent: sent,
                ..net()
            };
            let (out, _) = sanitize(&os, &ns, &ctx);
            if out.conn < ConnState::Connected {
                prop_assert_eq!(out.peer, Role::Unknown);
                prop_assert!(!out.peer_isp);
                prop_assert!(out.pdsk >= DiskState::Inconsistent);
                prop_assert!(out.pdsk <= DiskState::DUnknown);
            }
            let paused = out.aftr_isp || out.peer_isp || out.user_isp;
            prop_assert!(!(paused && matches!(out.conn, ConnState::SyncSource | ConnState::SyncTarget)));
            prop_assert!(paused || !matches!(out.conn, ConnState::PausedSyncS | ConnState::PausedSyncT));
            let _ = check_transition(&os, &out, &ctx, ChangeKind::Soft);
            let _ = prepare_change(&os, &ns, &ctx, ChangeKind::Hard);
        }
    }
}
