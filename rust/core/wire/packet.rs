// SPDX-License-Identifier: GPL-2.0
//! Typed packets: decoding the fixed part of a payload (borrowing from it) and encoding header
//! plus fixed part (§4). Block data of the three data packets is never copied here: the caller
//! streams it after the fixed part.
//!
//! Opaque values (`block_id`, barrier numbers, §14) are read and written as big-endian
//! integers, so echoing a decoded value reproduces the peer's bytes whatever they mean.

use core::str;

use super::bytes::{Reader, Writer};
use super::cmd::Cmd;
use super::error::WireError;
use super::header::{encode_header, header_len_for, Agreed, Features, Header};
use super::layout::{
    layout, Layout, O_QLIM_LEN, P_BARRIER_ACK_LEN, P_BARRIER_LEN, P_BLOCK_ACK_LEN,
    P_BLOCK_DESC_LEN, P_BLOCK_REQ_LEN, P_DATA_LEN, P_DELAY_PROBE_LEN, P_FEATURES_LEN,
    P_PROTOCOL_LEN, P_REQ_STATE_LEN, P_REQ_STATE_REPLY_LEN, P_RS_PARAM_89_LEN, P_RS_PARAM_95_LEN,
    P_RS_PARAM_LEN, P_RS_UUID_LEN, P_SIZES_LEN, P_STATE_LEN, P_TRIM_LEN, P_UUIDS_LEN,
};
use super::{ALG_NAME_MAX, DRBD_FF_WSAME, DRBD_MAX_BBIO_SECTORS, DRBD_MAX_BIO_SIZE};

/// Generates a "which command of a family" enum whose variants are named like the commands.
macro_rules! kind_enum {
    ($(#[$meta:meta])* $name:ident { $( $(#[$vmeta:meta])* $variant:ident, )+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every kind.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The command of this kind.
            pub const fn cmd(self) -> Cmd {
                match self {
                    $( $name::$variant => Cmd::$variant, )+
                }
            }

            /// The kind of `cmd`, if it belongs to this family.
            pub const fn from_cmd(cmd: Cmd) -> Option<Self> {
                match cmd {
                    $( Cmd::$variant => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

kind_enum! {
    /// The packets made of `p_data`, an optional integrity digest and block data.
    DataKind {
        /// `P_DATA`: replicated write.
        Data,
        /// `P_DATA_REPLY`: answer to `P_DATA_REQUEST`.
        DataReply,
        /// `P_RS_DATA_REPLY`: resync data.
        RsDataReply,
    }
}

kind_enum! {
    /// The packets made of `p_trim` (a range without data).
    TrimKind {
        /// `P_TRIM`: discard.
        Trim,
        /// `P_ZEROES`: write zeroes.
        Zeroes,
    }
}

kind_enum! {
    /// The meta-socket packets made of `p_block_ack`.
    AckKind {
        /// `P_RECV_ACK`.
        RecvAck,
        /// `P_WRITE_ACK`.
        WriteAck,
        /// `P_RS_WRITE_ACK`.
        RsWriteAck,
        /// `P_SUPERSEDED`.
        Superseded,
        /// `P_NEG_ACK`.
        NegAck,
        /// `P_NEG_DREPLY`.
        NegDReply,
        /// `P_NEG_RS_DREPLY`.
        NegRsDReply,
        /// `P_OV_RESULT` (block_id [`ID_IN_SYNC`](super::ID_IN_SYNC) or
        /// [`ID_OUT_OF_SYNC`](super::ID_OUT_OF_SYNC)).
        OvResult,
        /// `P_RS_IS_IN_SYNC` (block_id is garbage).
        RsIsInSync,
        /// `P_RS_CANCEL`.
        RsCancel,
        /// `P_RETRY_WRITE`.
        RetryWrite,
    }
}

kind_enum! {
    /// The packets made of `p_block_req`, two of them followed by a digest.
    RequestKind {
        /// `P_DATA_REQUEST`.
        DataRequest,
        /// `P_RS_DATA_REQUEST`.
        RsDataRequest,
        /// `P_RS_THIN_REQ`.
        RsThinReq,
        /// `P_OV_REQUEST`.
        OvRequest,
        /// `P_CSUM_RS_REQUEST` (+ csums-alg digest of the requester's block).
        CsumRsRequest,
        /// `P_OV_REPLY` (+ verify-alg digest of the replier's block).
        OvReply,
    }
}

impl RequestKind {
    /// Whether a digest follows `p_block_req`.
    pub const fn has_digest(self) -> bool {
        matches!(self, RequestKind::CsumRsRequest | RequestKind::OvReply)
    }
}

kind_enum! {
    /// The packets made of `p_block_desc`.
    DescKind {
        /// `P_OUT_OF_SYNC`.
        OutOfSync,
        /// `P_RS_DEALLOCATED`.
        RsDeallocated,
    }
}

/// `p_data`, the head of data, trim and zeroes packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataHeader {
    /// First sector.
    pub sector: u64,
    /// Opaque sender handle, echoed in the ack; [`ID_SYNCER`](super::ID_SYNCER) for resync.
    pub block_id: u64,
    /// Per-volume sequence number (0 in replies).
    pub seq_num: u32,
    /// `DP_*` flags (0 in replies).
    pub dp_flags: u32,
}

/// `p_block_ack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockAck {
    /// Echo of the request's sector.
    pub sector: u64,
    /// Echo of the request's block_id (opaque), or a verify result id.
    pub block_id: u64,
    /// Bytes covered.
    pub blksize: u32,
    /// The sender's per-volume sequence number.
    pub seq_num: u32,
}

/// `p_block_req` (the pad is ignored on receipt and sent as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockReq {
    /// First sector.
    pub sector: u64,
    /// Opaque requester handle, or [`ID_SYNCER`](super::ID_SYNCER).
    pub block_id: u64,
    /// Bytes requested: 1 ..= 1 MiB, a multiple of 512.
    pub blksize: u32,
}

/// `p_req_state`: a state change request, from the sender's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateReq {
    /// Which state fields change.
    pub mask: u32,
    /// Their new values.
    pub val: u32,
}

/// `p_uuids`: the sender's generation UUIDs as stored (bit 0 included), its bitmap weight and
/// `UUID_FLAG_*` flags ([`uuid`](super::super::uuid)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Uuids {
    /// `UI_CURRENT`.
    pub current: u64,
    /// `UI_BITMAP`.
    pub bitmap: u64,
    /// `UI_HISTORY_START`, `UI_HISTORY_END`.
    pub history: [u64; 2],
    /// Set bits in the sender's bitmap.
    pub bitmap_bits: u64,
    /// `UUID_FLAG_*`.
    pub flags: u64,
}

impl Uuids {
    /// From the six slots in wire order.
    pub const fn from_array(a: [u64; 6]) -> Self {
        Self {
            current: a[0],
            bitmap: a[1],
            history: [a[2], a[3]],
            bitmap_bits: a[4],
            flags: a[5],
        }
    }

    /// The six slots in wire order.
    pub const fn to_array(&self) -> [u64; 6] {
        [
            self.current,
            self.bitmap,
            self.history[0],
            self.history[1],
            self.bitmap_bits,
            self.flags,
        ]
    }
}

/// `o_qlim`, the `P_SIZES` tail sent when [`DRBD_FF_WSAME`] is agreed (6.12 does not use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QueueLimits {
    /// Physical block size, bytes.
    pub physical_block_size: u32,
    /// Logical block size, bytes.
    pub logical_block_size: u32,
    /// Alignment offset, bytes.
    pub alignment_offset: u32,
    /// Minimum I/O size, bytes.
    pub io_min: u32,
    /// Optimal I/O size, bytes.
    pub io_opt: u32,
    /// Discards supported (0/1).
    pub discard_enabled: u8,
    /// 6.12 sends 0.
    pub discard_zeroes_data: u8,
    /// 6.12 sends 0.
    pub write_same_capable: u8,
}

/// `p_sizes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sizes {
    /// Usable size of the sender's backing device, sectors (0 if diskless).
    pub d_size: u64,
    /// User-requested size, sectors (0 = none).
    pub u_size: u64,
    /// The sender's current capacity, sectors (0 = "please answer" in a resize).
    pub c_size: u64,
    /// Largest request the sender accepts, bytes.
    pub max_bio_size: u32,
    /// Always 0.
    pub queue_order_type: u16,
    /// `DDSF_*` resize flags.
    pub dds_flags: u16,
    /// Present exactly when [`DRBD_FF_WSAME`] is agreed.
    pub queue_limits: Option<QueueLimits>,
}

/// `p_protocol` with its integrity-alg name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProtocolSettings<'a> {
    /// Wire protocol: 1 = A, 2 = B, 3 = C.
    pub protocol: u32,
    /// after-sb-0pri policy.
    pub after_sb_0p: u32,
    /// after-sb-1pri policy.
    pub after_sb_1p: u32,
    /// after-sb-2pri policy.
    pub after_sb_2p: u32,
    /// `CF_*` flags.
    pub conn_flags: u32,
    /// allow-two-primaries.
    pub two_primaries: bool,
    /// data-integrity-alg ("" = none; apv ≥ 87).
    pub integrity_alg: &'a str,
}

/// Resync controller settings (`p_rs_param_95` tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Controller {
    /// c-plan-ahead, 0.1 s.
    pub plan_ahead: u32,
    /// c-delay-target, 0.1 s.
    pub delay_target: u32,
    /// c-fill-target, sectors.
    pub fill_target: u32,
    /// c-max-rate, KiB/s.
    pub max_rate: u32,
}

/// `p_rs_param*`: resync settings; which fields travel depends on the agreed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SyncParams<'a> {
    /// resync-rate, KiB/s.
    pub resync_rate: u32,
    /// verify-alg ("" = none; apv ≥ 88).
    pub verify_alg: &'a str,
    /// csums-alg ("" = none; apv ≥ 89).
    pub csums_alg: &'a str,
    /// Present exactly when apv ≥ 95.
    pub controller: Option<Controller>,
}

/// One packet, as far as it is held in memory: everything but the block data of the data
/// packets, which the caller streams (`data_len` bytes after the fixed part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packet<'a> {
    /// `P_INITIAL_DATA`.
    InitialData,
    /// `P_INITIAL_META`.
    InitialMeta,
    /// `P_CONNECTION_FEATURES`.
    ConnectionFeatures(Features),
    /// `P_AUTH_CHALLENGE`: the challenge bytes.
    AuthChallenge(&'a [u8]),
    /// `P_AUTH_RESPONSE`: the HMAC.
    AuthResponse(&'a [u8]),
    /// `P_PROTOCOL`.
    Protocol(ProtocolSettings<'a>),
    /// `P_PROTOCOL_UPDATE`.
    ProtocolUpdate(ProtocolSettings<'a>),
    /// `P_SYNC_PARAM` (apv ≤ 88) or `P_SYNC_PARAM89` (apv ≥ 89).
    SyncParam(SyncParams<'a>),
    /// `P_SIZES`.
    Sizes(Sizes),
    /// `P_UUIDS`.
    Uuids(Uuids),
    /// `P_STATE`: the packed state word.
    State(u32),
    /// `P_STATE_CHG_REQ`.
    StateChgReq(StateReq),
    /// `P_CONN_ST_CHG_REQ`.
    ConnStChgReq(StateReq),
    /// `P_STATE_CHG_REPLY`: an `SS_*` code.
    StateChgReply(i32),
    /// `P_CONN_ST_CHG_REPLY`: an `SS_*` code.
    ConnStChgReply(i32),
    /// `P_SYNC_UUID`.
    SyncUuid(u64),
    /// `P_DATA`, `P_DATA_REPLY`, `P_RS_DATA_REPLY`.
    Data {
        /// Which of the three.
        kind: DataKind,
        /// `p_data`.
        hdr: DataHeader,
        /// The integrity digest over the data ([`Agreed::integrity_digest_len`] bytes).
        digest: &'a [u8],
        /// Block data bytes following the fixed part.
        data_len: u32,
    },
    /// `P_TRIM`, `P_ZEROES`.
    Trim {
        /// Which of the two.
        kind: TrimKind,
        /// `p_data`.
        hdr: DataHeader,
        /// Bytes affected (a multiple of 512, at most 128 MiB).
        size: u32,
    },
    /// Every `p_block_ack` packet.
    Ack {
        /// Which ack.
        kind: AckKind,
        /// `p_block_ack`.
        ack: BlockAck,
    },
    /// Every `p_block_req` packet.
    BlockRequest {
        /// Which request.
        kind: RequestKind,
        /// `p_block_req`.
        req: BlockReq,
        /// The digest of `P_CSUM_RS_REQUEST` / `P_OV_REPLY`; empty for the others.
        digest: &'a [u8],
    },
    /// `P_OUT_OF_SYNC`, `P_RS_DEALLOCATED`.
    BlockDesc {
        /// Which of the two.
        kind: DescKind,
        /// First sector.
        sector: u64,
        /// Bytes.
        blksize: u32,
    },
    /// `P_BARRIER`.
    Barrier {
        /// Opaque epoch handle (echo it verbatim).
        barrier: u32,
    },
    /// `P_BARRIER_ACK`.
    BarrierAck {
        /// Echo of the `P_BARRIER` value.
        barrier: u32,
        /// Writes in that epoch.
        set_size: u32,
    },
    /// `P_BITMAP`: little-endian 64-bit words, carried opaquely.
    Bitmap(&'a [u8]),
    /// `P_COMPRESSED_BITMAP`: encoding byte and code bytes, carried opaquely.
    CompressedBitmap(&'a [u8]),
    /// `P_PING`.
    Ping,
    /// `P_PING_ACK`.
    PingAck,
    /// `P_UNPLUG_REMOTE`.
    UnplugRemote,
    /// `P_DELAY_PROBE` (ignored on receipt).
    DelayProbe {
        /// Probe sequence number.
        seq_num: u32,
        /// Probe offset.
        offset: u32,
    },
}

/// Check a block request size the way the receiver of a request does before anything else.
fn check_request_size(cmd: Cmd, size: u32) -> Result<(), WireError> {
    if size == 0 || !size.is_multiple_of(512) || size > DRBD_MAX_BIO_SIZE {
        Err(WireError::BadRequestSize { cmd, size })
    } else {
        Ok(())
    }
}

/// Check the range size of `P_TRIM` / `P_ZEROES`.
fn check_trim_size(cmd: Cmd, size: u32) -> Result<(), WireError> {
    if !size.is_multiple_of(512) {
        Err(WireError::Misaligned { cmd, size })
    } else if size > DRBD_MAX_BBIO_SECTORS << 9 {
        Err(WireError::TooLong {
            cmd,
            max: DRBD_MAX_BBIO_SECTORS << 9,
            received: size,
        })
    } else {
        Ok(())
    }
}

/// A NUL-terminated algorithm name from `field`; bytes after the NUL are ignored.
fn c_str(cmd: Cmd, field: &[u8]) -> Result<&str, WireError> {
    let end = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(WireError::UnterminatedString(cmd))?;
    let name = field.get(..end).ok_or(WireError::UnterminatedString(cmd))?;
    str::from_utf8(name).map_err(|_| WireError::InvalidUtf8(cmd))
}

/// Whether `name` can be sent in a field of [`ALG_NAME_MAX`] bytes with its NUL.
fn check_alg_name(cmd: Cmd, name: &str) -> Result<(), WireError> {
    if name.len() < ALG_NAME_MAX && !name.as_bytes().contains(&0) {
        Ok(())
    } else {
        Err(WireError::BadString(cmd))
    }
}

fn read_data_header(r: &mut Reader<'_>) -> Result<DataHeader, WireError> {
    Ok(DataHeader {
        sector: r.u64()?,
        block_id: r.u64()?,
        seq_num: r.u32()?,
        dp_flags: r.u32()?,
    })
}

fn write_data_header(w: &mut Writer<'_>, hdr: &DataHeader) -> Result<(), WireError> {
    w.u64(hdr.sector)?;
    w.u64(hdr.block_id)?;
    w.u32(hdr.seq_num)?;
    w.u32(hdr.dp_flags)
}

fn write_alg_field(w: &mut Writer<'_>, name: &str) -> Result<(), WireError> {
    w.put(name.as_bytes())?;
    w.zeros(ALG_NAME_MAX.saturating_sub(name.len()))
}

fn decode_protocol<'a>(
    cmd: Cmd,
    r: &mut Reader<'a>,
    ctx: &Agreed,
) -> Result<ProtocolSettings<'a>, WireError> {
    let protocol = r.u32()?;
    let after_sb_0p = r.u32()?;
    let after_sb_1p = r.u32()?;
    let after_sb_2p = r.u32()?;
    let conn_flags = r.u32()?;
    let two_primaries = r.u32()? != 0;
    let name = r.rest();
    // An empty name field is what a pre-87 peer sends; the kernel accepts it as "none" later.
    let integrity_alg = if ctx.version < 87 || name.is_empty() {
        ""
    } else {
        c_str(cmd, name)?
    };
    Ok(ProtocolSettings {
        protocol,
        after_sb_0p,
        after_sb_1p,
        after_sb_2p,
        conn_flags,
        two_primaries,
        integrity_alg,
    })
}

fn decode_sync_params<'a>(
    cmd: Cmd,
    r: &mut Reader<'a>,
    ctx: &Agreed,
) -> Result<SyncParams<'a>, WireError> {
    let resync_rate = r.u32()?;
    let mut params = SyncParams {
        resync_rate,
        ..SyncParams::default()
    };
    match ctx.version {
        ..=87 => {}
        88 => params.verify_alg = c_str(cmd, r.rest())?,
        _ => {
            params.verify_alg = c_str(cmd, r.bytes(ALG_NAME_MAX)?)?;
            params.csums_alg = c_str(cmd, r.bytes(ALG_NAME_MAX)?)?;
            if ctx.version >= 95 {
                params.controller = Some(Controller {
                    plan_ahead: r.u32()?,
                    delay_target: r.u32()?,
                    fill_target: r.u32()?,
                    max_rate: r.u32()?,
                });
            }
        }
    }
    Ok(params)
}

fn decode_sizes(r: &mut Reader<'_>, ctx: &Agreed) -> Result<Sizes, WireError> {
    let mut sizes = Sizes {
        d_size: r.u64()?,
        u_size: r.u64()?,
        c_size: r.u64()?,
        max_bio_size: r.u32()?,
        queue_order_type: r.u16()?,
        dds_flags: r.u16()?,
        queue_limits: None,
    };
    if ctx.has_features(DRBD_FF_WSAME) {
        sizes.queue_limits = Some(QueueLimits {
            physical_block_size: r.u32()?,
            logical_block_size: r.u32()?,
            alignment_offset: r.u32()?,
            io_min: r.u32()?,
            io_opt: r.u32()?,
            discard_enabled: r.u8()?,
            discard_zeroes_data: r.u8()?,
            write_same_capable: r.u8()?,
        });
    }
    Ok(sizes)
}

impl<'a> Packet<'a> {
    /// Decode the fixed part of a payload of `cmd`. `fixed` must be exactly the
    /// [`Layout::fixed`] bytes [`layout`] gave for the packet. Data packets come back with
    /// `data_len` 0, as the fixed part does not tell it: [`Packet::decode_framed`] fills it in.
    pub fn decode(cmd: Cmd, fixed: &'a [u8], ctx: &Agreed) -> Result<Packet<'a>, WireError> {
        let length = u32::try_from(fixed.len()).map_err(|_| WireError::TooLong {
            cmd,
            max: u32::MAX,
            received: u32::MAX,
        })?;
        let Layout { fixed: want, data } = layout(cmd, length, ctx)?;
        if want != fixed.len() || data != 0 {
            return Err(WireError::BufferLength {
                expected: want,
                got: fixed.len(),
            });
        }
        let mut r = Reader::new(fixed);
        let packet = if let Some(kind) = DataKind::from_cmd(cmd) {
            Packet::Data {
                kind,
                hdr: read_data_header(&mut r)?,
                digest: r.rest(),
                data_len: 0,
            }
        } else if let Some(kind) = TrimKind::from_cmd(cmd) {
            let hdr = read_data_header(&mut r)?;
            let size = r.u32()?;
            check_trim_size(cmd, size)?;
            Packet::Trim { kind, hdr, size }
        } else if let Some(kind) = AckKind::from_cmd(cmd) {
            Packet::Ack {
                kind,
                ack: BlockAck {
                    sector: r.u64()?,
                    block_id: r.u64()?,
                    blksize: r.u32()?,
                    seq_num: r.u32()?,
                },
            }
        } else if let Some(kind) = RequestKind::from_cmd(cmd) {
            let req = BlockReq {
                sector: r.u64()?,
                block_id: r.u64()?,
                blksize: r.u32()?,
            };
            // The 6.12 sender leaves the pad uninitialized.
            let _pad = r.u32()?;
            check_request_size(cmd, req.blksize)?;
            Packet::BlockRequest {
                kind,
                req,
                digest: r.rest(),
            }
        } else if let Some(kind) = DescKind::from_cmd(cmd) {
            Packet::BlockDesc {
                kind,
                sector: r.u64()?,
                blksize: r.u32()?,
            }
        } else {
            match cmd {
                Cmd::InitialData => Packet::InitialData,
                Cmd::InitialMeta => Packet::InitialMeta,
                Cmd::ConnectionFeatures => Packet::ConnectionFeatures(Features {
                    protocol_min: r.u32()?,
                    feature_flags: r.u32()?,
                    protocol_max: r.u32()?,
                }),
                Cmd::AuthChallenge => Packet::AuthChallenge(fixed),
                Cmd::AuthResponse => Packet::AuthResponse(fixed),
                Cmd::Protocol => Packet::Protocol(decode_protocol(cmd, &mut r, ctx)?),
                Cmd::ProtocolUpdate => Packet::ProtocolUpdate(decode_protocol(cmd, &mut r, ctx)?),
                Cmd::SyncParam | Cmd::SyncParam89 => {
                    Packet::SyncParam(decode_sync_params(cmd, &mut r, ctx)?)
                }
                Cmd::Sizes => Packet::Sizes(decode_sizes(&mut r, ctx)?),
                Cmd::Uuids => Packet::Uuids(Uuids::from_array([
                    r.u64()?,
                    r.u64()?,
                    r.u64()?,
                    r.u64()?,
                    r.u64()?,
                    r.u64()?,
                ])),
                Cmd::State => Packet::State(r.u32()?),
                Cmd::StateChgReq => Packet::StateChgReq(StateReq {
                    mask: r.u32()?,
                    val: r.u32()?,
                }),
                Cmd::ConnStChgReq => Packet::ConnStChgReq(StateReq {
                    mask: r.u32()?,
                    val: r.u32()?,
                }),
                Cmd::StateChgReply => Packet::StateChgReply(i32::from_be_bytes(r.array()?)),
                Cmd::ConnStChgReply => Packet::ConnStChgReply(i32::from_be_bytes(r.array()?)),
                Cmd::SyncUuid => Packet::SyncUuid(r.u64()?),
                Cmd::Barrier => Packet::Barrier { barrier: r.u32()? },
                Cmd::BarrierAck => Packet::BarrierAck {
                    barrier: r.u32()?,
                    set_size: r.u32()?,
                },
                Cmd::Bitmap => Packet::Bitmap(fixed),
                Cmd::CompressedBitmap => Packet::CompressedBitmap(fixed),
                Cmd::Ping => Packet::Ping,
                Cmd::PingAck => Packet::PingAck,
                Cmd::UnplugRemote => Packet::UnplugRemote,
                Cmd::DelayProbe => Packet::DelayProbe {
                    seq_num: r.u32()?,
                    offset: r.u32()?,
                },
                // Families handled above, and the commands `layout` already refused.
                _ => return Err(WireError::NotReceivable(cmd)),
            }
        };
        Ok(packet)
    }

    /// Decode a packet from its header and the fixed part of its payload (exactly
    /// [`Layout::fixed`] bytes of `layout(header's cmd, header.length)`), filling in
    /// `data_len` of data packets: the one call a receiver needs after reading `fixed`.
    pub fn decode_framed(
        header: &Header,
        fixed: &'a [u8],
        ctx: &Agreed,
    ) -> Result<Packet<'a>, WireError> {
        let cmd = header.command()?;
        let framing = layout(cmd, header.length, ctx)?;
        if framing.fixed != fixed.len() {
            return Err(WireError::BufferLength {
                expected: framing.fixed,
                got: fixed.len(),
            });
        }
        let mut packet = Self::decode(cmd, fixed, ctx)?;
        if let Packet::Data { data_len, .. } = &mut packet {
            // `layout` bounds data to 1 MiB.
            *data_len = u32::try_from(framing.data).unwrap_or(u32::MAX);
        }
        Ok(packet)
    }

    /// The command of the packet. `SyncParam` answers `P_SYNC_PARAM89`, the command of every
    /// apv ≥ 89; [`Packet::cmd_for`] gives the one a given connection uses.
    pub const fn cmd(&self) -> Cmd {
        match self {
            Packet::InitialData => Cmd::InitialData,
            Packet::InitialMeta => Cmd::InitialMeta,
            Packet::ConnectionFeatures(_) => Cmd::ConnectionFeatures,
            Packet::AuthChallenge(_) => Cmd::AuthChallenge,
            Packet::AuthResponse(_) => Cmd::AuthResponse,
            Packet::Protocol(_) => Cmd::Protocol,
            Packet::ProtocolUpdate(_) => Cmd::ProtocolUpdate,
            Packet::SyncParam(_) => Cmd::SyncParam89,
            Packet::Sizes(_) => Cmd::Sizes,
            Packet::Uuids(_) => Cmd::Uuids,
            Packet::State(_) => Cmd::State,
            Packet::StateChgReq(_) => Cmd::StateChgReq,
            Packet::ConnStChgReq(_) => Cmd::ConnStChgReq,
            Packet::StateChgReply(_) => Cmd::StateChgReply,
            Packet::ConnStChgReply(_) => Cmd::ConnStChgReply,
            Packet::SyncUuid(_) => Cmd::SyncUuid,
            Packet::Data { kind, .. } => kind.cmd(),
            Packet::Trim { kind, .. } => kind.cmd(),
            Packet::Ack { kind, .. } => kind.cmd(),
            Packet::BlockRequest { kind, .. } => kind.cmd(),
            Packet::BlockDesc { kind, .. } => kind.cmd(),
            Packet::Barrier { .. } => Cmd::Barrier,
            Packet::BarrierAck { .. } => Cmd::BarrierAck,
            Packet::Bitmap(_) => Cmd::Bitmap,
            Packet::CompressedBitmap(_) => Cmd::CompressedBitmap,
            Packet::Ping => Cmd::Ping,
            Packet::PingAck => Cmd::PingAck,
            Packet::UnplugRemote => Cmd::UnplugRemote,
            Packet::DelayProbe { .. } => Cmd::DelayProbe,
        }
    }

    /// The command this packet is sent as on a connection with context `ctx`: as
    /// [`Packet::cmd`], except `P_SYNC_PARAM` for resync settings below apv 89.
    pub const fn cmd_for(&self, ctx: &Agreed) -> Cmd {
        match self {
            Packet::SyncParam(_) if ctx.version <= 88 => Cmd::SyncParam,
            _ => self.cmd(),
        }
    }

    /// Bytes of the fixed part (the payload without streamed block data).
    fn fixed_len(&self, ctx: &Agreed) -> usize {
        match self {
            Packet::InitialData
            | Packet::InitialMeta
            | Packet::Ping
            | Packet::PingAck
            | Packet::UnplugRemote => 0,
            Packet::ConnectionFeatures(_) => P_FEATURES_LEN,
            Packet::AuthChallenge(bytes)
            | Packet::AuthResponse(bytes)
            | Packet::Bitmap(bytes)
            | Packet::CompressedBitmap(bytes) => bytes.len(),
            Packet::Protocol(p) | Packet::ProtocolUpdate(p) => {
                if ctx.version >= 87 {
                    P_PROTOCOL_LEN + p.integrity_alg.len() + 1
                } else {
                    P_PROTOCOL_LEN
                }
            }
            Packet::SyncParam(p) => match ctx.version {
                ..=87 => P_RS_PARAM_LEN,
                88 => P_RS_PARAM_LEN + p.verify_alg.len() + 1,
                89..=94 => P_RS_PARAM_89_LEN,
                _ => P_RS_PARAM_95_LEN,
            },
            Packet::Sizes(s) => {
                if s.queue_limits.is_some() {
                    P_SIZES_LEN + O_QLIM_LEN
                } else {
                    P_SIZES_LEN
                }
            }
            Packet::Uuids(_) => P_UUIDS_LEN,
            Packet::State(_) => P_STATE_LEN,
            Packet::StateChgReq(_) | Packet::ConnStChgReq(_) => P_REQ_STATE_LEN,
            Packet::StateChgReply(_) | Packet::ConnStChgReply(_) => P_REQ_STATE_REPLY_LEN,
            Packet::SyncUuid(_) => P_RS_UUID_LEN,
            Packet::Data { digest, .. } => P_DATA_LEN + digest.len(),
            Packet::Trim { .. } => P_TRIM_LEN,
            Packet::Ack { .. } => P_BLOCK_ACK_LEN,
            Packet::BlockRequest { digest, .. } => P_BLOCK_REQ_LEN + digest.len(),
            Packet::BlockDesc { .. } => P_BLOCK_DESC_LEN,
            Packet::Barrier { .. } => P_BARRIER_LEN,
            Packet::BarrierAck { .. } => P_BARRIER_ACK_LEN,
            Packet::DelayProbe { .. } => P_DELAY_PROBE_LEN,
        }
    }

    /// Bytes [`Packet::encode`] writes: header and fixed part, without the block data of data
    /// packets.
    pub fn encoded_len(&self, ctx: &Agreed) -> usize {
        header_len_for(self.cmd_for(ctx), ctx) + self.fixed_len(ctx)
    }

    /// Refuse content that the agreed version or features cannot carry, or that the
    /// receiver would refuse.
    fn check_encodable(&self, cmd: Cmd, ctx: &Agreed) -> Result<(), WireError> {
        let not = |reason| Err(WireError::NotEncodable { cmd, reason });
        match self {
            Packet::Protocol(p) | Packet::ProtocolUpdate(p) => {
                check_alg_name(cmd, p.integrity_alg)?;
                if ctx.version < 87 && !p.integrity_alg.is_empty() {
                    return not("a data-integrity-alg needs protocol 87");
                }
            }
            Packet::SyncParam(p) => {
                check_alg_name(cmd, p.verify_alg)?;
                check_alg_name(cmd, p.csums_alg)?;
                if ctx.version < 88 && !p.verify_alg.is_empty() {
                    return not("a verify-alg needs protocol 88");
                }
                if ctx.version < 89 && !p.csums_alg.is_empty() {
                    return not("a csums-alg needs protocol 89");
                }
                if (ctx.version >= 95) != p.controller.is_some() {
                    return not("controller settings travel exactly from protocol 95");
                }
            }
            Packet::Sizes(s) if ctx.has_features(DRBD_FF_WSAME) != s.queue_limits.is_some() => {
                return not("queue limits travel exactly when WRITE_SAME is agreed");
            }
            Packet::Data { digest, .. } if digest.len() != ctx.digest_len()? => {
                return not("digest length differs from the integrity digest length");
            }
            Packet::Trim { size, .. } => check_trim_size(cmd, *size)?,
            Packet::BlockRequest { kind, req, digest } => {
                if !kind.has_digest() && !digest.is_empty() {
                    return not("only checksum requests and verify replies carry a digest");
                }
                check_request_size(cmd, req.blksize)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Write header and fixed part into `out` for `volume`, returning the bytes written
    /// ([`Packet::encoded_len`]). For data packets the header's length includes `data_len`,
    /// whose bytes the caller sends right after. Anything the peer would refuse (sizes per
    /// [`layout`], request and trim sizes, fields the agreed version cannot carry) is an
    /// error instead.
    pub fn encode(&self, ctx: &Agreed, volume: u16, out: &mut [u8]) -> Result<usize, WireError> {
        let cmd = self.cmd_for(ctx);
        self.check_encodable(cmd, ctx)?;
        let fixed_len = self.fixed_len(ctx);
        let data_len = match self {
            Packet::Data { data_len, .. } => *data_len as usize,
            _ => 0,
        };
        let length = fixed_len
            .checked_add(data_len)
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(WireError::NotEncodable {
                cmd,
                reason: "payload length overflows",
            })?;
        let framing = layout(cmd, length, ctx)?;
        if framing.fixed != fixed_len {
            return Err(WireError::NotEncodable {
                cmd,
                reason: "fixed part does not match the framing",
            });
        }
        let needed = self.encoded_len(ctx);
        if out.len() < needed {
            return Err(WireError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let header_len = encode_header(ctx, cmd, volume, length, out)?;
        let body = out.get_mut(header_len..).ok_or(WireError::BufferTooSmall {
            needed,
            available: header_len,
        })?;
        let mut w = Writer::new(body);
        self.write_fixed(&mut w, ctx)?;
        Ok(header_len + w.written())
    }

    fn write_fixed(&self, w: &mut Writer<'_>, ctx: &Agreed) -> Result<(), WireError> {
        match self {
            Packet::InitialData
            | Packet::InitialMeta
            | Packet::Ping
            | Packet::PingAck
            | Packet::UnplugRemote => Ok(()),
            Packet::ConnectionFeatures(f) => {
                w.u32(f.protocol_min)?;
                w.u32(f.feature_flags)?;
                w.u32(f.protocol_max)?;
                // pad and the seven reserved u64
                w.zeros(P_FEATURES_LEN - 12)
            }
            Packet::AuthChallenge(bytes)
            | Packet::AuthResponse(bytes)
            | Packet::Bitmap(bytes)
            | Packet::CompressedBitmap(bytes) => w.put(bytes),
            Packet::Protocol(p) | Packet::ProtocolUpdate(p) => {
                w.u32(p.protocol)?;
                w.u32(p.after_sb_0p)?;
                w.u32(p.after_sb_1p)?;
                w.u32(p.after_sb_2p)?;
                w.u32(p.conn_flags)?;
                w.u32(u32::from(p.two_primaries))?;
                if ctx.version >= 87 {
                    w.put(p.integrity_alg.as_bytes())?;
                    w.u8(0)?;
                }
                Ok(())
            }
            Packet::SyncParam(p) => {
                w.u32(p.resync_rate)?;
                match ctx.version {
                    ..=87 => {}
                    88 => {
                        w.put(p.verify_alg.as_bytes())?;
                        w.u8(0)?;
                    }
                    _ => {
                        write_alg_field(w, p.verify_alg)?;
                        write_alg_field(w, p.csums_alg)?;
                    }
                }
                if let Some(c) = p.controller {
                    w.u32(c.plan_ahead)?;
                    w.u32(c.delay_target)?;
                    w.u32(c.fill_target)?;
                    w.u32(c.max_rate)?;
                }
                Ok(())
            }
            Packet::Sizes(s) => {
                w.u64(s.d_size)?;
                w.u64(s.u_size)?;
                w.u64(s.c_size)?;
                w.u32(s.max_bio_size)?;
                w.u16(s.queue_order_type)?;
                w.u16(s.dds_flags)?;
                if let Some(q) = s.queue_limits {
                    w.u32(q.physical_block_size)?;
                    w.u32(q.logical_block_size)?;
                    w.u32(q.alignment_offset)?;
                    w.u32(q.io_min)?;
                    w.u32(q.io_opt)?;
                    w.u8(q.discard_enabled)?;
                    w.u8(q.discard_zeroes_data)?;
                    w.u8(q.write_same_capable)?;
                    w.u8(0)?;
                }
                Ok(())
            }
            Packet::Uuids(u) => {
                for slot in u.to_array() {
                    w.u64(slot)?;
                }
                Ok(())
            }
            Packet::State(state) => w.u32(*state),
            Packet::StateChgReq(req) | Packet::ConnStChgReq(req) => {
                w.u32(req.mask)?;
                w.u32(req.val)
            }
            Packet::StateChgReply(code) | Packet::ConnStChgReply(code) => {
                w.put(&code.to_be_bytes())
            }
            Packet::SyncUuid(uuid) => w.u64(*uuid),
            Packet::Data { hdr, digest, .. } => {
                write_data_header(w, hdr)?;
                w.put(digest)
            }
            Packet::Trim { hdr, size, .. } => {
                write_data_header(w, hdr)?;
                w.u32(*size)
            }
            Packet::Ack { ack, .. } => {
                w.u64(ack.sector)?;
                w.u64(ack.block_id)?;
                w.u32(ack.blksize)?;
                w.u32(ack.seq_num)
            }
            Packet::BlockRequest { req, digest, .. } => {
                w.u64(req.sector)?;
                w.u64(req.block_id)?;
                w.u32(req.blksize)?;
                w.u32(0)?;
                w.put(digest)
            }
            Packet::BlockDesc {
                sector, blksize, ..
            } => {
                w.u64(*sector)?;
                w.u32(*blksize)?;
                w.u32(0)
            }
            Packet::Barrier { barrier } => {
                w.u32(*barrier)?;
                w.u32(0)
            }
            Packet::BarrierAck { barrier, set_size } => {
                w.u32(*barrier)?;
                w.u32(*set_size)
            }
            Packet::DelayProbe { seq_num, offset } => {
                w.u32(*seq_num)?;
                w.u32(*offset)
            }
        }
    }
}
