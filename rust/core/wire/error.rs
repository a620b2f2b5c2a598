// SPDX-License-Identifier: GPL-2.0
//! Why a header or packet was refused (on receive) or cannot be built (on send).

use core::fmt;

use super::cmd::Cmd;

/// A wire codec error. Every receive-side error is a connection error for drbd; the messages
/// follow the kernel's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// A command number that is no command of DRBD 8.4.
    UnknownCommand(u16),
    /// A command the 6.12 receiver has no handler for (obsolete, `P_WSAME`).
    NotReceivable(Cmd),
    /// The header's magic matches no header valid for the agreed version.
    WrongMagic {
        /// The first four header bytes, big-endian.
        magic: u32,
        /// The agreed protocol version the header was read with.
        version: u32,
    },
    /// The h100 pad field is not zero.
    HeaderPadNotZero,
    /// A buffer handed to a decoder does not have the length the framing requires.
    BufferLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// An output buffer is too short.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A payload length not allowed for the command (exact sizes, or a minimum).
    UnexpectedSize {
        /// The command.
        cmd: Cmd,
        /// The required length (the minimum where longer payloads are allowed).
        expected: u32,
        /// The length received.
        received: u32,
    },
    /// A payload longer than the command allows.
    TooLong {
        /// The command.
        cmd: Cmd,
        /// The largest allowed length.
        max: u32,
        /// The length received.
        received: u32,
    },
    /// A block size or range that is not a multiple of 512 bytes, or (bitmaps) of 8 bytes.
    Misaligned {
        /// The command.
        cmd: Cmd,
        /// The offending size in bytes.
        size: u32,
    },
    /// A block request size outside 1 ..= 1 MiB (or not sector-aligned).
    BadRequestSize {
        /// The command.
        cmd: Cmd,
        /// The requested size in bytes.
        size: u32,
    },
    /// An integrity digest length no hash produces.
    BadDigestLength(u32),
    /// An algorithm name without its terminating NUL.
    UnterminatedString(Cmd),
    /// An algorithm name that is not UTF-8.
    InvalidUtf8(Cmd),
    /// An algorithm name too long for its field, or containing a NUL (encoding).
    BadString(Cmd),
    /// Both sides' protocol ranges do not overlap.
    IncompatibleDialects {
        /// Our lowest version.
        ours_min: u32,
        /// Our highest version.
        ours_max: u32,
        /// The peer's lowest version.
        peer_min: u32,
        /// The peer's highest version (after the `max == 0` rule).
        peer_max: u32,
    },
    /// A length that the header of the agreed version cannot carry (h80: 16 bits).
    LengthNotEncodable {
        /// The payload length.
        length: u32,
    },
    /// A volume number other than 0 needs an h100 header.
    VolumeNotEncodable(u16),
    /// A packet whose content cannot be sent with the agreed version or features.
    NotEncodable {
        /// The command.
        cmd: Cmd,
        /// What does not fit.
        reason: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownCommand(c) => write!(f, "Unexpected packet Unknown (0x{c:04x})"),
            Self::NotReceivable(c) => write!(f, "Unexpected packet {} (0x{:04x})", c, c as u16),
            Self::WrongMagic { magic, version } => write!(
                f,
                "Wrong magic value 0x{magic:08x} in protocol version {version}"
            ),
            Self::HeaderPadNotZero => f.write_str("Header padding is not zero"),
            Self::BufferLength { expected, got } => {
                write!(f, "buffer of {got} bytes where {expected} are required")
            }
            Self::BufferTooSmall { needed, available } => {
                write!(f, "output buffer of {available} bytes, {needed} are needed")
            }
            Self::UnexpectedSize {
                cmd,
                expected,
                received,
            } => write!(
                f,
                "{cmd}: unexpected packet size, expected:{expected} received:{received}"
            ),
            Self::TooLong { cmd, max, received } => write!(
                f,
                "{cmd} packet too long: received {received}, expected <= {max} bytes"
            ),
            Self::Misaligned { cmd, size } => write!(f, "{cmd}: size {size} is not aligned"),
            Self::BadRequestSize { cmd, size } => write!(f, "{cmd}: bad request size {size}"),
            Self::BadDigestLength(len) => write!(f, "digest length {len} is not possible"),
            Self::UnterminatedString(cmd) => {
                write!(f, "{cmd}: algorithm name is not NUL-terminated")
            }
            Self::InvalidUtf8(cmd) => write!(f, "{cmd}: algorithm name is not UTF-8"),
            Self::BadString(cmd) => {
                write!(f, "{cmd}: algorithm name too long or contains NUL")
            }
            Self::IncompatibleDialects {
                ours_min,
                ours_max,
                peer_min,
                peer_max,
            } => write!(
                f,
                "incompatible DRBD dialects: I support {ours_min}-{ours_max}, \
                 peer supports {peer_min}-{peer_max}"
            ),
            Self::LengthNotEncodable { length } => {
                write!(f, "payload length {length} does not fit the header")
            }
            Self::VolumeNotEncodable(v) => {
                write!(f, "volume {v} needs protocol version 100 or later")
            }
            Self::NotEncodable { cmd, reason } => write!(f, "cannot send {cmd}: {reason}"),
        }
    }
}
