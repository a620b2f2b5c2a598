// SPDX-License-Identifier: GPL-2.0
//! How a payload of a given command and length splits into a bounded fixed part and streamed
//! block data, with every size rule the 6.12 receiver applies (§3, §4, §9.3/9.4).

use super::cmd::Cmd;
use super::error::WireError;
use super::header::Agreed;
use super::{ALG_NAME_MAX, CHALLENGE_LEN, DRBD_FF_WSAME, DRBD_MAX_BIO_SIZE, MAX_DIGEST_SIZE};

/// `p_data`: sector, block_id, seq_num, dp_flags.
pub(super) const P_DATA_LEN: usize = 24;
/// `p_trim`: `p_data` + size.
pub(super) const P_TRIM_LEN: usize = 28;
/// `p_block_ack`.
pub(super) const P_BLOCK_ACK_LEN: usize = 24;
/// `p_block_req` (without a digest).
pub(super) const P_BLOCK_REQ_LEN: usize = 24;
/// `p_block_desc`.
pub(super) const P_BLOCK_DESC_LEN: usize = 16;
/// `p_barrier`.
pub(super) const P_BARRIER_LEN: usize = 8;
/// `p_barrier_ack`.
pub(super) const P_BARRIER_ACK_LEN: usize = 8;
/// `p_protocol` without the integrity-alg string.
pub(super) const P_PROTOCOL_LEN: usize = 24;
/// `p_rs_param` (apv ≤ 88, without the apv-88 verify-alg string).
pub(super) const P_RS_PARAM_LEN: usize = 4;
/// `p_rs_param_89` (apv 89..94).
pub(super) const P_RS_PARAM_89_LEN: usize = 4 + 2 * ALG_NAME_MAX;
/// `p_rs_param_95` (apv ≥ 95).
pub(super) const P_RS_PARAM_95_LEN: usize = P_RS_PARAM_89_LEN + 16;
/// `p_sizes` without `o_qlim`.
pub(super) const P_SIZES_LEN: usize = 32;
/// `o_qlim`, the `P_SIZES` tail when [`DRBD_FF_WSAME`] is agreed.
pub(super) const O_QLIM_LEN: usize = 24;
/// `p_uuids`.
pub(super) const P_UUIDS_LEN: usize = 48;
/// `p_state`.
pub(super) const P_STATE_LEN: usize = 4;
/// `p_req_state`.
pub(super) const P_REQ_STATE_LEN: usize = 8;
/// `p_req_state_reply`.
pub(super) const P_REQ_STATE_REPLY_LEN: usize = 4;
/// `p_rs_uuid`.
pub(super) const P_RS_UUID_LEN: usize = 8;
/// `p_delay_probe93`.
pub(super) const P_DELAY_PROBE_LEN: usize = 8;
/// `p_connection_features`.
pub(super) const P_FEATURES_LEN: usize = 72;
/// `p_compressed_bm`: the encoding byte and at least one code byte.
pub(super) const P_COMPRESSED_BM_MIN: usize = 2;

/// How to read a payload: `fixed` bytes into a buffer (never more than
/// [`MAX_FIXED_PAYLOAD`](super::MAX_FIXED_PAYLOAD)), then `data` bytes of block payload
/// (only the three data packets; never more than [`DRBD_MAX_BIO_SIZE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Bytes to read and decode with [`Packet::decode`](super::Packet::decode).
    pub fixed: usize,
    /// Block data bytes following the fixed part.
    pub data: usize,
}

impl Layout {
    /// The whole payload length.
    pub const fn total(&self) -> usize {
        self.fixed + self.data
    }
}

const fn fixed(n: usize) -> Layout {
    Layout { fixed: n, data: 0 }
}

/// Clamp a buffer size into an error field (every size here is far below `u32::MAX`).
const fn as_u32(n: usize) -> u32 {
    if n > u32::MAX as usize {
        u32::MAX
    } else {
        n as u32
    }
}

fn exact(cmd: Cmd, length: u32, size: usize) -> Result<Layout, WireError> {
    between(cmd, length, size, size)
}

fn between(cmd: Cmd, length: u32, min: usize, max: usize) -> Result<Layout, WireError> {
    let len = length as usize;
    if len < min {
        Err(WireError::UnexpectedSize {
            cmd,
            expected: as_u32(min),
            received: length,
        })
    } else if len > max {
        Err(WireError::TooLong {
            cmd,
            max: as_u32(max),
            received: length,
        })
    } else {
        Ok(fixed(len))
    }
}

/// Split a payload of `length` bytes of `cmd` for the connection context `ctx`, or refuse it
/// the way the 6.12 receiver does:
/// * acks, requests, state, UUID, barrier packets: exact sizes; `P_SIZES` 32, or 56 with
///   [`DRBD_FF_WSAME`]; `P_TRIM`/`P_ZEROES` exactly 28 (no digest is sent with them);
/// * data packets: `p_data` + integrity digest, then at most 1 MiB of sector-aligned data;
/// * `P_PROTOCOL`/`P_PROTOCOL_UPDATE`: 24, plus (apv ≥ 87) an algorithm name of ≤ 64 bytes;
/// * `P_SYNC_PARAM`/`P_SYNC_PARAM89` (handled alike): 4 (apv ≤ 87), 5..=68 (apv 88),
///   132 (apv 89..94), 148 (apv ≥ 95);
/// * `P_CSUM_RS_REQUEST`/`P_OV_REPLY`: `p_block_req` + a digest of ≤ 64 bytes;
/// * auth: challenge 64..=128, response ≤ 64 (its exact size is the HMAC's, the caller's
///   check); `P_CONNECTION_FEATURES` 72;
/// * bitmaps: ≤ 4096 − header bytes, plain chunks whole 64-bit words, RLE chunks ≥ 2 bytes;
/// * `P_WSAME` and the obsolete `P_BECOME_SYNC_*`: never ([`WireError::NotReceivable`]).
pub fn layout(cmd: Cmd, length: u32, ctx: &Agreed) -> Result<Layout, WireError> {
    let len = length as usize;
    match cmd {
        Cmd::Data | Cmd::DataReply | Cmd::RsDataReply => {
            let head = P_DATA_LEN + ctx.digest_len()?;
            let data = len.checked_sub(head).ok_or(WireError::UnexpectedSize {
                cmd,
                expected: as_u32(head),
                received: length,
            })?;
            if data > DRBD_MAX_BIO_SIZE as usize {
                return Err(WireError::TooLong {
                    cmd,
                    max: as_u32(head).saturating_add(DRBD_MAX_BIO_SIZE),
                    received: length,
                });
            }
            if !data.is_multiple_of(512) {
                return Err(WireError::Misaligned {
                    cmd,
                    size: as_u32(data),
                });
            }
            Ok(Layout { fixed: head, data })
        }
        Cmd::Trim | Cmd::Zeroes => exact(cmd, length, P_TRIM_LEN),
        Cmd::RecvAck
        | Cmd::WriteAck
        | Cmd::RsWriteAck
        | Cmd::Superseded
        | Cmd::NegAck
        | Cmd::NegDReply
        | Cmd::NegRsDReply
        | Cmd::OvResult
        | Cmd::RsIsInSync
        | Cmd::RsCancel
        | Cmd::RetryWrite => exact(cmd, length, P_BLOCK_ACK_LEN),
        Cmd::DataRequest | Cmd::RsDataRequest | Cmd::RsThinReq | Cmd::OvRequest => {
            exact(cmd, length, P_BLOCK_REQ_LEN)
        }
        Cmd::CsumRsRequest | Cmd::OvReply => between(
            cmd,
            length,
            P_BLOCK_REQ_LEN,
            P_BLOCK_REQ_LEN + MAX_DIGEST_SIZE,
        ),
        Cmd::OutOfSync | Cmd::RsDeallocated => exact(cmd, length, P_BLOCK_DESC_LEN),
        Cmd::Barrier => exact(cmd, length, P_BARRIER_LEN),
        Cmd::BarrierAck => exact(cmd, length, P_BARRIER_ACK_LEN),
        Cmd::Protocol | Cmd::ProtocolUpdate => {
            if ctx.version >= 87 {
                between(cmd, length, P_PROTOCOL_LEN, P_PROTOCOL_LEN + ALG_NAME_MAX)
            } else {
                exact(cmd, length, P_PROTOCOL_LEN)
            }
        }
        Cmd::SyncParam | Cmd::SyncParam89 => match ctx.version {
            // The kernel reads the full fixed size whatever the length said, so anything
            // shorter would desynchronize the stream: sizes are exact in practice.
            ..=87 => exact(cmd, length, P_RS_PARAM_LEN),
            88 => between(
                cmd,
                length,
                P_RS_PARAM_LEN + 1,
                P_RS_PARAM_LEN + ALG_NAME_MAX,
            ),
            89..=94 => exact(cmd, length, P_RS_PARAM_89_LEN),
            _ => exact(cmd, length, P_RS_PARAM_95_LEN),
        },
        Cmd::Sizes => {
            let size = if ctx.has_features(DRBD_FF_WSAME) {
                P_SIZES_LEN + O_QLIM_LEN
            } else {
                P_SIZES_LEN
            };
            exact(cmd, length, size)
        }
        Cmd::Uuids => exact(cmd, length, P_UUIDS_LEN),
        Cmd::State => exact(cmd, length, P_STATE_LEN),
        Cmd::StateChgReq | Cmd::ConnStChgReq => exact(cmd, length, P_REQ_STATE_LEN),
        Cmd::StateChgReply | Cmd::ConnStChgReply => exact(cmd, length, P_REQ_STATE_REPLY_LEN),
        Cmd::SyncUuid => exact(cmd, length, P_RS_UUID_LEN),
        Cmd::DelayProbe => exact(cmd, length, P_DELAY_PROBE_LEN),
        Cmd::UnplugRemote | Cmd::Ping | Cmd::PingAck | Cmd::InitialData | Cmd::InitialMeta => {
            exact(cmd, length, 0)
        }
        Cmd::ConnectionFeatures => exact(cmd, length, P_FEATURES_LEN),
        Cmd::AuthChallenge => between(cmd, length, CHALLENGE_LEN, 2 * CHALLENGE_LEN),
        Cmd::AuthResponse => between(cmd, length, 0, MAX_DIGEST_SIZE),
        Cmd::Bitmap => {
            let layout = between(cmd, length, 0, ctx.bitmap_payload_max())?;
            if !len.is_multiple_of(8) {
                return Err(WireError::Misaligned { cmd, size: length });
            }
            Ok(layout)
        }
        Cmd::CompressedBitmap => {
            between(cmd, length, P_COMPRESSED_BM_MIN, ctx.bitmap_payload_max())
        }
        Cmd::BecomeSyncTarget | Cmd::BecomeSyncSource | Cmd::Wsame => {
            Err(WireError::NotReceivable(cmd))
        }
    }
}
