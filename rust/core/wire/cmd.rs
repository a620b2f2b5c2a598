// SPDX-License-Identifier: GPL-2.0
//! The command table (`enum drbd_packet`, spec §3): numbers, kernel log names, sockets.

use core::fmt;

/// Which of the two TCP connections a command travels on (§1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// The data socket ("sock").
    Data,
    /// The meta socket ("msock").
    Meta,
    /// Accepted on both.
    Either,
}

impl SocketKind {
    /// Whether a command of this kind may arrive on `socket` (which is `Data` or `Meta`).
    pub const fn allows(self, socket: SocketKind) -> bool {
        matches!(
            (self, socket),
            (SocketKind::Either, _)
                | (SocketKind::Data, SocketKind::Data)
                | (SocketKind::Meta, SocketKind::Meta)
        )
    }
}

macro_rules! commands {
    ( $( $(#[$doc:meta])* $variant:ident = $value:literal, $name:literal, $sock:ident; )+ ) => {
        /// A DRBD 8.4 command number. Holes of the kernel's numbering (reserved "protocol D",
        /// DRBD 9 numbers, `P_MAY_IGNORE`) are not commands: [`Cmd::from_u16`] rejects them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u16)]
        pub enum Cmd {
            $( $(#[$doc])* $variant = $value, )+
        }

        impl Cmd {
            /// Every command, in numeric order.
            pub const ALL: &'static [Cmd] = &[ $( Cmd::$variant, )+ ];

            /// The command with this number, if there is one.
            pub const fn from_u16(value: u16) -> Option<Cmd> {
                match value {
                    $( $value => Some(Cmd::$variant), )+
                    _ => None,
                }
            }

            /// The name the kernel logs for the command (`cmdname()`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Cmd::$variant => $name, )+
                }
            }

            /// The socket the command travels on.
            pub const fn socket(self) -> SocketKind {
                match self {
                    $( Cmd::$variant => SocketKind::$sock, )+
                }
            }
        }
    };
}

commands! {
    /// Replicated write.
    Data = 0x00, "Data", Data;
    /// Answer to `P_DATA_REQUEST`.
    DataReply = 0x01, "DataReply", Data;
    /// Resync data.
    RsDataReply = 0x02, "RSDataReply", Data;
    /// Closes a write epoch.
    Barrier = 0x03, "Barrier", Data;
    /// Plain bitmap chunk.
    Bitmap = 0x04, "ReportBitMap", Data;
    /// Obsolete; 6.12 cannot receive it.
    BecomeSyncTarget = 0x05, "BecomeSyncTarget", Data;
    /// Obsolete; 6.12 cannot receive it.
    BecomeSyncSource = 0x06, "BecomeSyncSource", Data;
    /// Hint: push queued I/O.
    UnplugRemote = 0x07, "UnplugRemote", Data;
    /// Remote read.
    DataRequest = 0x08, "DataRequest", Data;
    /// Resync read request.
    RsDataRequest = 0x09, "RSDataRequest", Data;
    /// Resync parameters (apv ≤ 88).
    SyncParam = 0x0A, "SyncParam", Data;
    /// Connection settings.
    Protocol = 0x0B, "ReportProtocol", Data;
    /// Generation UUIDs.
    Uuids = 0x0C, "ReportUUIDs", Data;
    /// Sizes and limits.
    Sizes = 0x0D, "ReportSizes", Data;
    /// Current state.
    State = 0x0E, "ReportState", Data;
    /// New bitmap UUID at resync start.
    SyncUuid = 0x0F, "ReportSyncUUID", Data;
    /// cram-hmac challenge.
    AuthChallenge = 0x10, "AuthChallenge", Data;
    /// cram-hmac response.
    AuthResponse = 0x11, "AuthResponse", Data;
    /// Cluster-wide (per volume) state change request.
    StateChgReq = 0x12, "StateChgRequest", Data;
    /// Keepalive.
    Ping = 0x13, "Ping", Meta;
    /// Keepalive answer.
    PingAck = 0x14, "PingAck", Meta;
    /// Protocol B: data received.
    RecvAck = 0x15, "RecvAck", Meta;
    /// Protocol C: data written.
    WriteAck = 0x16, "WriteAck", Meta;
    /// Write ack + "now in sync".
    RsWriteAck = 0x17, "RSWriteAck", Meta;
    /// Conflicting write superseded (two primaries).
    Superseded = 0x18, "Superseded", Meta;
    /// Write failed / not written.
    NegAck = 0x19, "NegAck", Meta;
    /// `P_DATA_REQUEST` failed.
    NegDReply = 0x1A, "NegDReply", Meta;
    /// Resync/verify request failed.
    NegRsDReply = 0x1B, "NegRSDReply", Meta;
    /// Epoch completed.
    BarrierAck = 0x1C, "BarrierAck", Meta;
    /// Answer to `P_STATE_CHG_REQ`.
    StateChgReply = 0x1D, "StateChgReply", Meta;
    /// Online-verify request.
    OvRequest = 0x1E, "OVRequest", Data;
    /// Online-verify digest.
    OvReply = 0x1F, "OVReply", Data;
    /// Verify outcome per block.
    OvResult = 0x20, "OVResult", Meta;
    /// Checksum-based resync request.
    CsumRsRequest = 0x21, "CsumRSRequest", Data;
    /// Checksum matched.
    RsIsInSync = 0x22, "CsumRSIsInSync", Meta;
    /// Resync parameters (apv ≥ 89).
    SyncParam89 = 0x23, "SyncParam89", Data;
    /// RLE/VLI bitmap chunk.
    CompressedBitmap = 0x24, "CBitmap", Data;
    /// Obsolete probe, accepted and ignored on both sockets.
    DelayProbe = 0x27, "DelayProbe", Either;
    /// "Mark this range out of sync".
    OutOfSync = 0x28, "OutOfSync", Data;
    /// The source cancels a resync request (Ahead).
    RsCancel = 0x29, "RSCancel", Meta;
    /// Connection-wide state change request.
    ConnStChgReq = 0x2A, "conn_st_chg_req", Data;
    /// Answer to `P_CONN_ST_CHG_REQ`.
    ConnStChgReply = 0x2B, "conn_st_chg_reply", Meta;
    /// Two primaries: retry the conflicting write (the kernel has no log name for it).
    RetryWrite = 0x2C, "RetryWrite", Meta;
    /// Settings changed while connected.
    ProtocolUpdate = 0x2D, "protocol_update", Data;
    /// Discard a range.
    Trim = 0x31, "Trim", Data;
    /// Resync request, "reply DEALLOCATED if all zero".
    RsThinReq = 0x32, "rs_thin_req", Data;
    /// Resync answer: the range is all zeros.
    RsDeallocated = 0x33, "rs_deallocated", Data;
    /// Write-same; 6.12 cannot receive it, never send it.
    Wsame = 0x34, "WriteSame", Data;
    /// Write-zeroes a range.
    Zeroes = 0x36, "Zeroes", Data;
    /// First packet on the meta socket.
    InitialMeta = 0xFFF1, "InitialMeta", Meta;
    /// First packet on the data socket.
    InitialData = 0xFFF2, "InitialData", Data;
    /// Version/feature negotiation.
    ConnectionFeatures = 0xFFFE, "ConnectionFeatures", Data;
}

impl Cmd {
    /// The command number.
    pub const fn to_u16(self) -> u16 {
        self as u16
    }

    /// Whether the 6.12 receiver has a handler for the command at all (`P_WSAME` and the
    /// obsolete `P_BECOME_SYNC_*` are fatal to send).
    pub const fn receivable(self) -> bool {
        !matches!(
            self,
            Cmd::BecomeSyncTarget | Cmd::BecomeSyncSource | Cmd::Wsame
        )
    }

    /// Whether the command is one of the three sent before features are agreed, always with
    /// an h80 header.
    pub const fn is_pre_handshake(self) -> bool {
        matches!(
            self,
            Cmd::InitialData | Cmd::InitialMeta | Cmd::ConnectionFeatures
        )
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
