// SPDX-License-Identifier: GPL-2.0
//! The feature handshake (§1.3), the per-connection context it yields, and the three packet
//! headers h80, h95 and h100 (§2).

use super::bytes::{Reader, Writer};
use super::cmd::Cmd;
use super::error::WireError;
use super::{
    DRBD_MAGIC, DRBD_MAGIC_100, DRBD_MAGIC_BIG, HEADER_LEN_100, HEADER_LEN_80, MAX_DIGEST_SIZE,
    MAX_FIXED_PAYLOAD, MAX_SIZE_H80_PACKET, PRO_VERSION_MAX, PRO_VERSION_MIN,
};

/// The content of `P_CONNECTION_FEATURES` (the 56 reserved bytes are sent as zeros and
/// ignored on receipt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// Lowest protocol version the sender speaks.
    pub protocol_min: u32,
    /// `DRBD_FF_*` flags the sender supports.
    pub feature_flags: u32,
    /// Highest protocol version the sender speaks; 0 means "same as `protocol_min`".
    pub protocol_max: u32,
}

impl Features {
    /// What we advertise: protocol [`PRO_VERSION_MIN`]..=[`PRO_VERSION_MAX`] with the given
    /// `DRBD_FF_*` flags (advertise only what is implemented).
    pub const fn new(feature_flags: u32) -> Self {
        Self {
            protocol_min: PRO_VERSION_MIN,
            feature_flags,
            protocol_max: PRO_VERSION_MAX,
        }
    }
}

/// The per-connection decode/encode context: what the feature handshake agreed, plus the
/// data-integrity digest size once a `data-integrity-alg` is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Agreed {
    /// Agreed protocol version ("apv").
    pub version: u32,
    /// Agreed `DRBD_FF_*` flags (both sides' AND).
    pub features: u32,
    /// Size of the integrity digest between `p_data` and the data of the three data packets;
    /// 0 without a `data-integrity-alg`. At most [`MAX_DIGEST_SIZE`].
    pub integrity_digest_len: u32,
}

impl Agreed {
    /// Before the feature handshake: protocol 80, h80 headers, nothing agreed. Also the
    /// context of `P_INITIAL_*` and `P_CONNECTION_FEATURES` at any time.
    pub const PRE_HANDSHAKE: Agreed = Agreed {
        version: 80,
        features: 0,
        integrity_digest_len: 0,
    };

    /// Size of the header every packet of this connection carries: 16 (h100) from apv 100,
    /// else 8 (h80 or h95).
    pub const fn header_len(&self) -> usize {
        if self.version >= 100 {
            HEADER_LEN_100
        } else {
            HEADER_LEN_80
        }
    }

    /// Whether all the `DRBD_FF_*` bits in `flags` were agreed.
    pub const fn has_features(&self, flags: u32) -> bool {
        self.features & flags == flags
    }

    /// Largest payload of a bitmap packet: header and payload fit the 4 KiB receive buffer.
    /// A plain chunk carries this many bytes rounded down to whole 64-bit words (510 words
    /// with h100, 511 with 8-byte headers).
    pub const fn bitmap_payload_max(&self) -> usize {
        MAX_FIXED_PAYLOAD - self.header_len()
    }

    /// Words in a full plain bitmap chunk (`P_BITMAP`).
    pub const fn bitmap_words_per_packet(&self) -> usize {
        self.bitmap_payload_max() / 8
    }

    /// The integrity digest length as a buffer size, if it is one a hash can have.
    pub(super) fn digest_len(&self) -> Result<usize, WireError> {
        usize::try_from(self.integrity_digest_len)
            .ok()
            .filter(|&len| len <= MAX_DIGEST_SIZE)
            .ok_or(WireError::BadDigestLength(self.integrity_digest_len))
    }
}

/// The feature handshake (§1.3): both sides compute the same result from the two
/// `P_CONNECTION_FEATURES`. `protocol_max == 0` from the peer means `protocol_min`; ranges
/// that do not overlap are "incompatible DRBD dialects". The agreed version is the lower of
/// the two maxima (the peer's minimum is not otherwise used), the features the AND of both.
pub fn agree(ours: &Features, peer: &Features) -> Result<Agreed, WireError> {
    let peer_max = if peer.protocol_max == 0 {
        peer.protocol_min
    } else {
        peer.protocol_max
    };
    if ours.protocol_max < peer.protocol_min || ours.protocol_min > peer_max {
        return Err(WireError::IncompatibleDialects {
            ours_min: ours.protocol_min,
            ours_max: ours.protocol_max,
            peer_min: peer.protocol_min,
            peer_max,
        });
    }
    Ok(Agreed {
        version: if peer_max < ours.protocol_max {
            peer_max
        } else {
            ours.protocol_max
        },
        features: ours.feature_flags & peer.feature_flags,
        integrity_digest_len: 0,
    })
}

/// A decoded packet header. `cmd` stays a raw number: [`Header::command`] maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The command number.
    pub cmd: u16,
    /// The volume number (always 0 in h80/h95 headers).
    pub volume: u16,
    /// Payload bytes following the header.
    pub length: u32,
}

impl Header {
    /// The command, or [`WireError::UnknownCommand`].
    pub const fn command(&self) -> Result<Cmd, WireError> {
        match Cmd::from_u16(self.cmd) {
            Some(cmd) => Ok(cmd),
            None => Err(WireError::UnknownCommand(self.cmd)),
        }
    }
}

/// Decode a header. `buf` must be exactly `ctx.header_len()` bytes: an 8-byte header may be
/// h80 or h95, a 16-byte one must be h100 with a zero pad field.
pub fn decode_header(buf: &[u8], ctx: &Agreed) -> Result<Header, WireError> {
    let expected = ctx.header_len();
    if buf.len() != expected {
        return Err(WireError::BufferLength {
            expected,
            got: buf.len(),
        });
    }
    let mut r = Reader::new(buf);
    let magic = r.u32()?;
    let wrong_magic = WireError::WrongMagic {
        magic,
        version: ctx.version,
    };
    if expected == HEADER_LEN_100 {
        if magic != DRBD_MAGIC_100 {
            return Err(wrong_magic);
        }
        let volume = r.u16()?;
        let cmd = r.u16()?;
        let length = r.u32()?;
        if r.u32()? != 0 {
            return Err(WireError::HeaderPadNotZero);
        }
        Ok(Header {
            cmd,
            volume,
            length,
        })
    } else if magic == DRBD_MAGIC {
        let cmd = r.u16()?;
        let length = u32::from(r.u16()?);
        Ok(Header {
            cmd,
            volume: 0,
            length,
        })
    } else if (magic >> 16) as u16 == DRBD_MAGIC_BIG {
        // h95: a 16-bit magic, so the command is the low half of the word read as "magic".
        Ok(Header {
            cmd: magic as u16,
            volume: 0,
            length: r.u32()?,
        })
    } else {
        Err(wrong_magic)
    }
}

/// Encode a header for a payload of `length` bytes into `out`, returning its size. The kind
/// follows §2: `P_INITIAL_*` and `P_CONNECTION_FEATURES` always h80 (whatever `ctx` says);
/// otherwise h100 from apv 100, h95 at apv 95..99 for payloads over 32 KiB, else h80.
/// 8-byte headers carry no volume, so `volume` must then be 0.
pub fn encode_header(
    ctx: &Agreed,
    cmd: Cmd,
    volume: u16,
    length: u32,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let ctx = if cmd.is_pre_handshake() {
        &Agreed::PRE_HANDSHAKE
    } else {
        ctx
    };
    let mut w = Writer::new(out);
    if ctx.header_len() == HEADER_LEN_100 {
        w.u32(DRBD_MAGIC_100)?;
        w.u16(volume)?;
        w.u16(cmd.to_u16())?;
        w.u32(length)?;
        w.u32(0)?;
        return Ok(w.written());
    }
    if volume != 0 {
        return Err(WireError::VolumeNotEncodable(volume));
    }
    if ctx.version >= 95 && length > MAX_SIZE_H80_PACKET {
        w.u16(DRBD_MAGIC_BIG)?;
        w.u16(cmd.to_u16())?;
        w.u32(length)?;
    } else {
        let short = u16::try_from(length).map_err(|_| WireError::LengthNotEncodable { length })?;
        w.u32(DRBD_MAGIC)?;
        w.u16(cmd.to_u16())?;
        w.u16(short)?;
    }
    Ok(w.written())
}

/// Header size `encode_header` uses for `cmd` in `ctx`.
pub(super) const fn header_len_for(cmd: Cmd, ctx: &Agreed) -> usize {
    if cmd.is_pre_handshake() {
        HEADER_LEN_80
    } else {
        ctx.header_len()
    }
}
