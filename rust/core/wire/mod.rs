// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 wire codec: packet headers, the command table, the feature handshake and every
//! payload the Linux 6.12 `drbd` exchanges with a peer (protocol 86..101).
//!
//! Spec: `wire-protocol.md` §0–§5 and §14. Sans-I/O: decoders borrow from the caller's bytes,
//! encoders write into the caller's buffer, nothing allocates.
//!
//! Receiving is two-phase so that a kernel receiver never sizes a buffer from a length field:
//! 1. read [`Agreed::header_len`] bytes, [`decode_header`];
//! 2. [`layout`] turns (command, length) into a [`Layout`]: `fixed` bytes (at most
//!    [`MAX_FIXED_PAYLOAD`]) to read into a buffer and hand to [`Packet::decode_framed`] (or
//!    [`Packet::decode`]), then `data` bytes (block payload of the three data packets, at most
//!    [`DRBD_MAX_BIO_SIZE`]) to stream into pages.
//!
//! Every size rule lives in [`layout`]; the encoders check what they build against it, so
//! what we send is exactly what we would accept.

#![warn(missing_docs)]

mod bytes;
mod cmd;
mod error;
mod header;
mod layout;
mod packet;

#[cfg(test)]
mod tests;

pub use cmd::{Cmd, SocketKind};
pub use error::WireError;
pub use header::{agree, decode_header, encode_header, Agreed, Features, Header};
pub use layout::{layout, Layout};
pub use packet::{
    AckKind, BlockAck, BlockReq, Controller, DataHeader, DataKind, DescKind, Packet,
    ProtocolSettings, QueueLimits, RequestKind, Sizes, StateReq, SyncParams, TrimKind, Uuids,
};

// ---- versions and feature flags (§0, §1.3) ----------------------------------------------------

/// Oldest wire protocol version spoken (`PRO_VERSION_MIN`).
pub const PRO_VERSION_MIN: u32 = 86;
/// Newest wire protocol version spoken (`PRO_VERSION_MAX`).
pub const PRO_VERSION_MAX: u32 = 101;

/// Feature flag: discards travel as `P_TRIM`.
pub const DRBD_FF_TRIM: u32 = 1;
/// Feature flag: thin resync (`P_RS_THIN_REQ` / `P_RS_DEALLOCATED`).
pub const DRBD_FF_THIN_RESYNC: u32 = 2;
/// Feature flag: `P_SIZES` carries the `o_qlim` tail, 128 MiB discards, UUID rule 41. It would
/// also allow `P_WSAME`, which 6.12 cannot receive (§14).
pub const DRBD_FF_WSAME: u32 = 4;
/// Feature flag: write-zeroes travel as `P_ZEROES`.
pub const DRBD_FF_WZEROES: u32 = 8;
/// The feature flags with the names drbd logs for them.
const FEATURE_NAMES: [(u32, &str); 4] = [
    (DRBD_FF_TRIM, "TRIM"),
    (DRBD_FF_THIN_RESYNC, "THIN_RESYNC"),
    (DRBD_FF_WSAME, "WRITE_SAME"),
    (DRBD_FF_WZEROES, "WRITE_ZEROES"),
];

/// Displays as the names of the set feature flags, each after a space, as drbd's
/// "Feature flags enabled on protocol level: 0x%x%s%s%s%s." line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureNames(pub u32);

impl core::fmt::Display for FeatureNames {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (flag, name) in FEATURE_NAMES {
            if self.0 & flag != 0 {
                write!(f, " {name}")?;
            }
        }
        Ok(())
    }
}

/// The flags 6.12 advertises (`PRO_FEATURES`).
pub const PRO_FEATURES: u32 = DRBD_FF_TRIM | DRBD_FF_THIN_RESYNC | DRBD_FF_WSAME | DRBD_FF_WZEROES;

// ---- header magics and sizes (§2) -------------------------------------------------------------

/// Magic of the 8-byte h80 header (`DRBD_MAGIC`).
pub const DRBD_MAGIC: u32 = 0x8374_0267;
/// 16-bit magic of the 8-byte h95 header (`DRBD_MAGIC_BIG`).
pub const DRBD_MAGIC_BIG: u16 = 0x835A;
/// Magic of the 16-byte h100 header (`DRBD_MAGIC_100`).
pub const DRBD_MAGIC_100: u32 = 0x8620_EC20;
/// Size of the h80 and h95 headers.
pub const HEADER_LEN_80: usize = 8;
/// Size of the h100 header.
pub const HEADER_LEN_100: usize = 16;
/// Largest payload sent with an h80 header at apv 95..99 (`DRBD_MAX_SIZE_H80_PACKET`); larger
/// ones use h95.
pub const MAX_SIZE_H80_PACKET: u32 = 1 << 15;

// ---- size limits ------------------------------------------------------------------------------

/// Largest block payload of `P_DATA` / `P_DATA_REPLY` / `P_RS_DATA_REPLY`, and largest
/// request (`DRBD_MAX_BIO_SIZE`, 1 MiB).
pub const DRBD_MAX_BIO_SIZE: u32 = 1 << 20;
/// Largest range of one `P_TRIM` / `P_ZEROES`, in sectors (`DRBD_MAX_BBIO_SECTORS`, 128 MiB).
pub const DRBD_MAX_BBIO_SECTORS: u32 = 1 << 18;
/// Largest `fixed` part of any packet: the receive buffer size (`DRBD_SOCKET_BUFFER_SIZE`).
/// Bitmap chunks are sized so that header and payload fit in it together.
pub const MAX_FIXED_PAYLOAD: usize = 4096;
/// Largest digest the kernel's hash API produces (`HASH_MAX_DIGESTSIZE`): bounds integrity,
/// checksum, verify and HMAC digests.
pub const MAX_DIGEST_SIZE: usize = 64;
/// Size of an algorithm name field, NUL included (`SHARED_SECRET_MAX`).
pub const ALG_NAME_MAX: usize = 64;
/// Size of a cram-hmac challenge we send (`CHALLENGE_LEN`); a peer's may be up to twice that.
pub const CHALLENGE_LEN: usize = 64;

// ---- special block ids (§4.1, §4.3) ------------------------------------------------------------

/// `block_id` of resync and verify traffic (byte-order neutral).
pub const ID_SYNCER: u64 = u64::MAX;
/// `block_id` of a `P_OV_RESULT`: the block is in sync.
pub const ID_IN_SYNC: u64 = 4711;
/// `block_id` of a `P_OV_RESULT`: the block is out of sync.
pub const ID_OUT_OF_SYNC: u64 = 4712;

// ---- p_data dp_flags (§5.1) --------------------------------------------------------------------

/// Obsolete, never set.
pub const DP_HARDBARRIER: u32 = 1;
/// Submit with REQ_SYNC.
pub const DP_RW_SYNC: u32 = 2;
/// The sender is in a resync state: a written block may be marked in sync.
pub const DP_MAY_SET_IN_SYNC: u32 = 4;
/// Obsolete.
pub const DP_UNPLUG: u32 = 8;
/// Submit with FUA.
pub const DP_FUA: u32 = 16;
/// Submit with PREFLUSH.
pub const DP_FLUSH: u32 = 32;
/// Discard (`P_TRIM`), or "unmap allowed" together with [`DP_ZEROES`].
pub const DP_DISCARD: u32 = 64;
/// (apv ≥ 100) answer with `P_RECV_ACK` on receipt.
pub const DP_SEND_RECEIVE_ACK: u32 = 128;
/// (apv ≥ 100) answer with a write ack (or `P_NEG_ACK`) once written.
pub const DP_SEND_WRITE_ACK: u32 = 256;
/// Write-same (never used by 6.12).
pub const DP_WSAME: u32 = 512;
/// Write-zeroes (`P_ZEROES`).
pub const DP_ZEROES: u32 = 1024;

// ---- p_protocol conn_flags (§4.5) and p_sizes dds_flags (§4.7) ----------------------------------

/// The sender's `discard-my-data` is set.
pub const CF_DISCARD_MY_DATA: u32 = 1;
/// Dry run: check the settings, do not connect (apv ≥ 92).
pub const CF_DRY_RUN: u32 = 2;
/// `P_SIZES` dds_flags: resize `--assume-peer-has-space` (`DDSF_FORCED`).
pub const DDSF_FORCED: u16 = 1;
/// `P_SIZES` dds_flags: resize `--assume-clean` (`DDSF_NO_RESYNC`).
pub const DDSF_NO_RESYNC: u16 = 2;
