// SPDX-License-Identifier: GPL-2.0
//! The bitmap exchange (WFBitMapS / WFBitMapT): the payloads of `P_BITMAP` (plain 64-bit
//! little-endian words) and `P_COMPRESSED_BITMAP` (run lengths in the RLE/VLI code), produced
//! and consumed without I/O.
//!
//! Spec: `wire-protocol.md` §9 (exchange, plain chunks, RLE/VLI code, sender behaviour,
//! receiver bookkeeping) and §4.10 (payload layouts). The packet header is not ours: the
//! caller frames each [`Chunk`] as `P_BITMAP` or `P_COMPRESSED_BITMAP` and hands received
//! payloads back without their header; only the header's *length* matters here, because a
//! bitmap packet (header included) never exceeds [`BITMAP_PACKET_SIZE`].
//!
//! Both ends must agree on where the next packet starts: a plain chunk has exactly the size
//! the receiver computes from its own offsets, so [`BitmapSender`] follows the 6.12 sender
//! packet for packet (which packets are RLE, where they end, where a plain fallback starts)
//! and [`BitmapReceiver`] keeps the same word/bit offsets as the 6.12 receiver.
//!
//! The code stream is LSB-first: [`BitWriter`] and [`BitReader`] put and take bits in that
//! order, and [`vli_encode`] / [`vli_decode`] map run lengths to the code words of the §9.4
//! table. After a transfer drbd logs its statistics ([`XferStats::write_log_line`]).

use core::fmt;
use core::ops::Range;

use super::bitmap::{words_for_bits, Bitmap, BITS_PER_WORD};

/// Bytes of one bitmap packet, header included (`DRBD_SOCKET_BUFFER_SIZE`); the payload of
/// `P_BITMAP` and `P_COMPRESSED_BITMAP` is at most this minus the header length.
pub const BITMAP_PACKET_SIZE: usize = 4096;

/// Encoding code of the RLE/VLI bit stream (`RLE_VLI_Bits`), the only one drbd accepts.
pub const RLE_VLI_BITS: u8 = 2;

/// Encoding byte: the code (bits 0–3).
const ENCODING_CODE_MASK: u8 = 0x0f;
/// Encoding byte: unused high bits of the last code byte (bits 4–6).
const ENCODING_PAD_SHIFT: u32 = 4;
const ENCODING_PAD_MASK: u8 = 0x07;
/// Encoding byte: the first run is of set bits (bit 7).
const ENCODING_FIRST_RUN_SET: u8 = 0x80;

/// Bytes of one bitmap word on the wire.
const WORD_BYTES: usize = 8;

/// Smallest run length the VLI code can express.
pub const VLI_MIN: u64 = 1;
/// Largest run length the VLI code can express.
pub const VLI_MAX: u64 = 72_057_611_219_902_768;
/// Bits of the longest VLI code word.
pub const VLI_MAX_CODE_BITS: u32 = 64;

/// One row of the §9.4 table: the code word is `prefix` (its `prefix_bits` low bits),
/// then `value - first` in `data_bits` bits.
struct VliClass {
    prefix: u64,
    prefix_bits: u32,
    data_bits: u32,
    first: u64,
}

/// The §9.4 table, shortest code first. The prefixes cover all 256 patterns of a code
/// word's low byte, so every bit pattern decodes to some value.
const VLI_CLASSES: [VliClass; 10] = [
    VliClass {
        prefix: 0x00,
        prefix_bits: 1,
        data_bits: 1,
        first: 1,
    },
    VliClass {
        prefix: 0x01,
        prefix_bits: 2,
        data_bits: 1,
        first: 3,
    },
    VliClass {
        prefix: 0x03,
        prefix_bits: 3,
        data_bits: 2,
        first: 5,
    },
    VliClass {
        prefix: 0x07,
        prefix_bits: 4,
        data_bits: 3,
        first: 9,
    },
    VliClass {
        prefix: 0x0f,
        prefix_bits: 5,
        data_bits: 5,
        first: 17,
    },
    VliClass {
        prefix: 0x1f,
        prefix_bits: 6,
        data_bits: 8,
        first: 49,
    },
    VliClass {
        prefix: 0x3f,
        prefix_bits: 8,
        data_bits: 13,
        first: 305,
    },
    VliClass {
        prefix: 0x7f,
        prefix_bits: 8,
        data_bits: 21,
        first: 8_497,
    },
    VliClass {
        prefix: 0xbf,
        prefix_bits: 8,
        data_bits: 34,
        first: 2_105_649,
    },
    VliClass {
        prefix: 0xff,
        prefix_bits: 8,
        data_bits: 56,
        first: 17_181_974_833,
    },
];

/// The `bits` low bits set (all 64 for `bits >= 64`).
const fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The VLI code word of run length `value`, as `(code, bits)`: the stream carries the `bits`
/// low bits of `code`, least significant first. `None` outside [`VLI_MIN`]`..=`[`VLI_MAX`].
pub fn vli_encode(value: u64) -> Option<(u64, u32)> {
    VLI_CLASSES.iter().find_map(|class| {
        let offset = value.checked_sub(class.first)?;
        (offset <= low_mask(class.data_bits)).then(|| {
            (
                (offset << class.prefix_bits) | class.prefix,
                class.prefix_bits + class.data_bits,
            )
        })
    })
}

/// Decode the code word at the start of `look_ahead` (the next up to 64 stream bits, first
/// stream bit in bit 0): `(value, bits)` with `bits` the code word's length. The caller
/// checks that the stream really held `bits` more bits.
pub fn vli_decode(look_ahead: u64) -> (u64, u32) {
    // The prefixes are exhaustive (see VLI_CLASSES), so the fallback is only reached for
    // the widest class, whose prefix is the last pattern left.
    let widest = &VLI_CLASSES[VLI_CLASSES.len() - 1];
    let class = VLI_CLASSES
        .iter()
        .find(|class| look_ahead & low_mask(class.prefix_bits) == class.prefix)
        .unwrap_or(widest);
    let data = (look_ahead >> class.prefix_bits) & low_mask(class.data_bits);
    (data + class.first, class.prefix_bits + class.data_bits)
}

/// Why bits could not be appended to a [`BitWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitWriteError {
    /// The buffer has no room for the whole code word.
    BufferFull,
    /// More than 64 bits at once.
    TooWide,
    /// A run length the VLI code cannot express (0 or above [`VLI_MAX`]).
    VliOutOfRange,
}

impl fmt::Display for BitWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferFull => f.write_str("bit stream buffer full"),
            Self::TooWide => f.write_str("more than 64 bits in one write"),
            Self::VliOutOfRange => {
                write!(f, "run length outside the VLI range {VLI_MIN}..={VLI_MAX}")
            }
        }
    }
}

/// Appends bits LSB-first to a byte buffer: stream bit `n` is bit `n % 8` of byte `n / 8`.
pub struct BitWriter<'a> {
    buf: &'a mut [u8],
    bit_len: u64,
}

impl<'a> BitWriter<'a> {
    /// A writer at the start of `buf`, which is zeroed (bits are OR-ed in).
    pub fn new(buf: &'a mut [u8]) -> Self {
        buf.fill(0);
        Self { buf, bit_len: 0 }
    }

    /// Bits the buffer can hold.
    pub fn capacity_bits(&self) -> u64 {
        (self.buf.len() as u64).saturating_mul(8)
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> u64 {
        self.bit_len
    }

    /// Bytes holding the bits written so far (the last one possibly partly).
    pub fn byte_len(&self) -> usize {
        usize::try_from(self.bit_len.div_ceil(8)).unwrap_or(usize::MAX)
    }

    /// Unused high bits of the last byte (0..=7).
    pub fn pad_bits(&self) -> u8 {
        ((8 - self.bit_len % 8) % 8) as u8
    }

    /// Append the `bits` low bits of `value`; on error nothing is written. A code word that
    /// does not fit whole is refused, as the kernel's sender does (it then ends the packet).
    pub fn put_bits(&mut self, value: u64, bits: u32) -> Result<(), BitWriteError> {
        if bits > 64 {
            return Err(BitWriteError::TooWide);
        }
        let end = self.bit_len + u64::from(bits);
        if end > self.capacity_bits() {
            return Err(BitWriteError::BufferFull);
        }
        let mut rest = value & low_mask(bits);
        let mut pos = self.bit_len;
        while pos < end {
            let shift = (pos % 8) as u32;
            let take = (8 - shift).min((end - pos) as u32);
            if let Some(byte) = usize::try_from(pos / 8)
                .ok()
                .and_then(|i| self.buf.get_mut(i))
            {
                *byte |= ((rest & low_mask(take)) as u8) << shift;
            }
            rest >>= take;
            pos += u64::from(take);
        }
        self.bit_len = end;
        Ok(())
    }

    /// Append the VLI code word of `value`; returns its length in bits.
    pub fn put_vli(&mut self, value: u64) -> Result<u32, BitWriteError> {
        let (code, bits) = vli_encode(value).ok_or(BitWriteError::VliOutOfRange)?;
        self.put_bits(code, bits)?;
        Ok(bits)
    }
}

/// Takes bits LSB-first from a byte buffer whose last byte may have unused high bits.
pub struct BitReader<'a> {
    buf: &'a [u8],
    pos: u64,
    end: u64,
}

impl<'a> BitReader<'a> {
    /// A reader over `buf` whose last `pad_bits` bits (the high bits of the last byte) are
    /// not part of the stream.
    pub fn new(buf: &'a [u8], pad_bits: u8) -> Self {
        let end = (buf.len() as u64)
            .saturating_mul(8)
            .saturating_sub(u64::from(pad_bits));
        Self { buf, pos: 0, end }
    }

    /// Bits consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Stream bits not yet consumed.
    pub fn remaining_bits(&self) -> u64 {
        self.end - self.pos
    }

    /// The next up to 64 stream bits (0 past the stream's end) and how many of them are real.
    fn look_ahead(&self) -> (u64, u32) {
        let available = self.remaining_bits().min(64) as u32;
        let first_byte = usize::try_from(self.pos / 8).unwrap_or(usize::MAX);
        let bytes = self.buf.get(first_byte..).unwrap_or(&[]);
        let low = bytes
            .iter()
            .take(8)
            .enumerate()
            .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << (8 * i)));
        let shift = (self.pos % 8) as u32;
        let mut bits = low >> shift;
        // Starting mid-byte, the 64 bits reach into a ninth byte.
        if shift > 0 {
            if let Some(&ninth) = bytes.get(8) {
                bits |= u64::from(ninth) << (64 - shift);
            }
        }
        (bits & low_mask(available), available)
    }

    /// Take the next `bits` (at most 64) bits; `None`, consuming nothing, when fewer remain.
    pub fn read_bits(&mut self, bits: u32) -> Option<u64> {
        if bits > 64 || u64::from(bits) > self.remaining_bits() {
            return None;
        }
        let (window, _) = self.look_ahead();
        self.pos += u64::from(bits);
        Some(window & low_mask(bits))
    }

    /// Take the next VLI code word. Fails, consuming nothing, when the stream ends inside it.
    pub fn read_vli(&mut self) -> Result<u64, XferError> {
        let (window, available) = self.look_ahead();
        let (value, bits) = vli_decode(window);
        if bits > available {
            return Err(XferError::TruncatedCode {
                code_bit: self.pos,
                need_bits: bits,
                have_bits: available,
            });
        }
        self.pos += u64::from(bits);
        Ok(value)
    }
}

/// Payload bytes one bitmap packet carries after a `header_len`-byte header
/// (4080 with h100, 4088 with 8-byte headers).
pub const fn max_payload_len(header_len: usize) -> usize {
    BITMAP_PACKET_SIZE.saturating_sub(header_len)
}

/// Words in a full plain chunk: `(4096 − header) / 8`, 510 with h100 and 511 with 8-byte
/// headers. At least 1, so that even a nonsensical header length cannot stall a transfer.
pub const fn plain_chunk_words(header_len: usize) -> usize {
    let words = max_payload_len(header_len) / WORD_BYTES;
    if words == 0 {
        1
    } else {
        words
    }
}

/// Word `word` as a bit number, saturating.
const fn word_to_bit(word: u64) -> u64 {
    word.saturating_mul(BITS_PER_WORD)
}

/// What a [`Chunk`] must be sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// `P_BITMAP`: little-endian words (an empty one ends a transfer).
    Plain,
    /// `P_COMPRESSED_BITMAP`: encoding byte and RLE/VLI code.
    Compressed,
}

/// One packet's payload, written to the start of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The packet to frame it as.
    pub kind: ChunkKind,
    /// Payload bytes (possibly 0: the terminating empty `P_BITMAP`).
    pub len: usize,
}

/// Packet and byte counts of one transfer, as drbd counts them: every packet adds its
/// header length plus its payload length, the empty terminating `P_BITMAP` included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XferStats {
    /// Bytes of `P_BITMAP` packets, headers included.
    pub plain_bytes: u64,
    /// `P_BITMAP` packets.
    pub plain_packets: u64,
    /// Bytes of `P_COMPRESSED_BITMAP` packets, headers included.
    pub rle_bytes: u64,
    /// `P_COMPRESSED_BITMAP` packets.
    pub rle_packets: u64,
}

/// Which side of the transfer a log line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XferDirection {
    /// Our bitmap went to the peer.
    Send,
    /// The peer's bitmap came in.
    Receive,
}

impl XferDirection {
    /// The word drbd's log line starts with.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Receive => "receive",
        }
    }
}

/// What drbd reckons a plain transfer of `total_bits` would cost: every word, plus one
/// header per `4096 − header` units and one for the terminator. The kernel divides the
/// *word* count by the payload *byte* size; that quirk moves the printed percentage for
/// large bitmaps, so it is kept.
pub fn plain_transfer_estimate(total_bits: u64, header_len: usize) -> u64 {
    let words = words_for_bits(total_bits);
    let payload = (max_payload_len(header_len) as u64).max(1);
    let header = header_len as u64;
    header
        .saturating_mul(words.div_ceil(payload).saturating_add(1))
        .saturating_add(words.saturating_mul(WORD_BYTES as u64))
}

impl XferStats {
    /// Bytes of both kinds.
    pub const fn total_bytes(&self) -> u64 {
        self.plain_bytes.saturating_add(self.rle_bytes)
    }

    /// Count one packet with a `payload_len`-byte payload.
    fn count(&mut self, kind: ChunkKind, header_len: usize, payload_len: usize) {
        let bytes = (header_len as u64).saturating_add(payload_len as u64);
        let (total, packets) = match kind {
            ChunkKind::Plain => (&mut self.plain_bytes, &mut self.plain_packets),
            ChunkKind::Compressed => (&mut self.rle_bytes, &mut self.rle_packets),
        };
        *total = total.saturating_add(bytes);
        *packets = packets.saturating_add(1);
    }

    /// The saving against [`plain_transfer_estimate`] in tenths of a percent, as drbd
    /// computes it (integer division, rounding the *ratio* down, so the saving rounds up);
    /// `None` when drbd prints nothing: nothing was sent, or nothing was saved.
    pub fn compression_per_mille(&self, total_bits: u64, header_len: usize) -> Option<u64> {
        let total = self.total_bytes();
        let plain = plain_transfer_estimate(total_bits, header_len);
        if total == 0 || total >= plain {
            return None;
        }
        // drbd's counters are 32-bit: above this it divides first to avoid overflow, which
        // rounds differently; kept for identical output.
        let ratio = if total > u64::from(u32::MAX / 1000) {
            total.checked_div(plain / 1000).unwrap_or(1000)
        } else {
            1000 * total / plain
        };
        Some(1000 - ratio.min(1000))
    }

    /// Write drbd's log line (without the device prefix and newline), e.g.
    /// `send bitmap stats [Bytes(packets)]: plain 0(0), RLE 20(1), total 20; compression: 96.4%`.
    /// Returns `Ok(false)` and writes nothing when drbd logs nothing (see
    /// [`XferStats::compression_per_mille`]).
    pub fn write_log_line<F: fmt::Write>(
        &self,
        out: &mut F,
        direction: XferDirection,
        total_bits: u64,
        header_len: usize,
    ) -> Result<bool, fmt::Error> {
        let Some(per_mille) = self.compression_per_mille(total_bits, header_len) else {
            return Ok(false);
        };
        write!(
            out,
            "{} bitmap stats [Bytes(packets)]: plain {}({}), RLE {}({}), total {}; \
             compression: {}.{}%",
            direction.as_str(),
            self.plain_bytes,
            self.plain_packets,
            self.rle_bytes,
            self.rle_packets,
            self.total_bytes(),
            per_mille / 10,
            per_mille % 10
        )?;
        Ok(true)
    }
}

/// The first set bit at or after `from` among the first `total_bits` (`total_bits` if none).
/// Bits past the bitmap's own end read as clear.
fn next_set<W: AsRef<[u64]>>(bitmap: &Bitmap<W>, from: u64, total_bits: u64) -> u64 {
    bitmap
        .find_next_set(from)
        .map_or(total_bits, |bit| bit.min(total_bits))
}

/// The first clear bit at or after `from`, capped at `total_bits`.
fn next_clear<W: AsRef<[u64]>>(bitmap: &Bitmap<W>, from: u64, total_bits: u64) -> u64 {
    let bit = if from >= bitmap.bits() {
        from
    } else {
        bitmap.find_next_clear(from).unwrap_or(bitmap.bits())
    };
    bit.min(total_bits)
}

/// Produces the packets of one bitmap transfer, in the order and shape the 6.12 sender
/// uses (`wire-protocol.md` §9.4 "Sender behaviour").
#[derive(Debug, Clone)]
pub struct BitmapSender {
    total_bits: u64,
    header_len: usize,
    use_rle: bool,
    bit_offset: u64,
    word_offset: u64,
    done: bool,
    stats: XferStats,
}

impl BitmapSender {
    /// A transfer of a `total_bits`-bit bitmap over a connection with `header_len`-byte
    /// headers (16 for apv ≥ 100, else 8); `use_rle` = net option `use-rle` and apv ≥ 90.
    pub const fn new(total_bits: u64, header_len: usize, use_rle: bool) -> Self {
        Self {
            total_bits,
            header_len,
            use_rle,
            bit_offset: 0,
            word_offset: 0,
            done: false,
            stats: XferStats {
                plain_bytes: 0,
                plain_packets: 0,
                rle_bytes: 0,
                rle_packets: 0,
            },
        }
    }

    /// The buffer size [`BitmapSender::next_packet`] needs.
    pub const fn max_payload_len(&self) -> usize {
        let payload = max_payload_len(self.header_len);
        let plain = plain_chunk_words(self.header_len) * WORD_BYTES;
        if payload > plain {
            payload
        } else {
            plain
        }
    }

    /// Whether the last packet has been produced.
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// The next bit to send.
    pub const fn bit_offset(&self) -> u64 {
        self.bit_offset
    }

    /// The word the next plain chunk would start at.
    pub const fn word_offset(&self) -> u64 {
        self.word_offset
    }

    /// Packets and bytes produced so far.
    pub const fn stats(&self) -> XferStats {
        self.stats
    }

    /// Write the next packet's payload to the start of `out` and say how to send it. `None`
    /// once the transfer is complete, and also (changing nothing) when `out` is shorter than
    /// [`BitmapSender::max_payload_len`]; [`BitmapSender::is_done`] tells the two apart.
    ///
    /// Bits past `total_bits` are sent as clear, and so are bits past `bitmap`'s end.
    pub fn next_packet<W: AsRef<[u64]>>(
        &mut self,
        bitmap: &Bitmap<W>,
        out: &mut [u8],
    ) -> Option<Chunk> {
        if self.done || out.len() < self.max_payload_len() {
            return None;
        }
        if self.use_rle && self.bit_offset < self.total_bits {
            if let Some(len) = self.try_compressed(bitmap, out) {
                return Some(Chunk {
                    kind: ChunkKind::Compressed,
                    len,
                });
            }
        }
        Some(self.plain(bitmap, out))
    }

    /// Encode runs from the current bit offset until the code buffer is full or the bitmap
    /// ends. Worth sending only if the runs cover at least as many bits as the code takes;
    /// otherwise rewind to the start of the word holding the offset, where the plain chunk
    /// that replaces this attempt starts.
    fn try_compressed<W: AsRef<[u64]>>(
        &mut self,
        bitmap: &Bitmap<W>,
        out: &mut [u8],
    ) -> Option<usize> {
        let total = self.total_bits;
        let start = self.bit_offset;
        let payload = out.get_mut(..max_payload_len(self.header_len))?;
        let (encoding, code) = payload.split_first_mut()?;
        let mut writer = BitWriter::new(code);
        // A set first bit is expressed by the polarity flag, never by a zero-length run.
        let first_run_set = next_set(bitmap, start, total) == start;
        let mut set = first_run_set;
        let mut pos = start;
        while pos < total {
            let end = if set {
                next_clear(bitmap, pos, total)
            } else {
                next_set(bitmap, pos, total)
            };
            let Some(run) = end.checked_sub(pos).filter(|&run| run > 0) else {
                break;
            };
            if writer.put_vli(run).is_err() {
                break; // buffer full: the packet ends on the last whole run
            }
            pos = end;
            set = !set;
        }
        let code_len = writer.byte_len();
        let covered = pos - start;
        if code_len == 0 || covered < (code_len as u64).saturating_mul(8) {
            self.word_offset = start / BITS_PER_WORD;
            self.bit_offset = word_to_bit(self.word_offset);
            return None;
        }
        let polarity = if first_run_set {
            ENCODING_FIRST_RUN_SET
        } else {
            0
        };
        *encoding = RLE_VLI_BITS | (writer.pad_bits() << ENCODING_PAD_SHIFT) | polarity;
        self.bit_offset = pos;
        self.word_offset = pos / BITS_PER_WORD;
        self.done = pos >= total;
        let len = code_len + 1;
        self.stats
            .count(ChunkKind::Compressed, self.header_len, len);
        Some(len)
    }

    /// The next plain chunk: up to a full chunk of words from the word offset; once all
    /// words are out, the empty terminator.
    fn plain<W: AsRef<[u64]>>(&mut self, bitmap: &Bitmap<W>, out: &mut [u8]) -> Chunk {
        let remaining = words_for_bits(self.total_bits).saturating_sub(self.word_offset);
        let chunk_words = plain_chunk_words(self.header_len);
        let words = usize::try_from(remaining).map_or(chunk_words, |r| r.min(chunk_words));
        let len = words * WORD_BYTES;
        if let Some(dst) = out.get_mut(..len) {
            bitmap.write_le_bytes(self.word_offset.saturating_mul(WORD_BYTES as u64), dst);
            clear_bits_from(dst, word_to_bit(self.word_offset), self.total_bits);
        }
        self.word_offset += words as u64;
        self.bit_offset = word_to_bit(self.word_offset).min(self.total_bits);
        self.done = words == 0;
        self.stats.count(ChunkKind::Plain, self.header_len, len);
        Chunk {
            kind: ChunkKind::Plain,
            len,
        }
    }
}

/// Clear the bits of `bytes` (which hold bitmap bits from `first_bit` on) at and past bit
/// `end`: the bitmap may be larger than the transfer.
fn clear_bits_from(bytes: &mut [u8], first_bit: u64, end: u64) {
    let keep = end.saturating_sub(first_bit);
    let whole = usize::try_from(keep / 8).unwrap_or(usize::MAX);
    let partial = (keep % 8) as u32;
    let mut tail_start = whole;
    if partial != 0 {
        if let Some(byte) = bytes.get_mut(whole) {
            *byte &= low_mask(partial) as u8;
        }
        tail_start = whole.saturating_add(1);
    }
    if let Some(tail) = bytes.get_mut(tail_start..) {
        tail.fill(0);
    }
}

/// Whether a received packet completed the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More packets follow.
    More,
    /// The whole bitmap has arrived.
    Done,
}

/// Why a received bitmap packet was refused (the connection then fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XferError {
    /// A `P_BITMAP` whose size is not the one the receiver's offsets call for.
    PlainSizeMismatch {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A `P_COMPRESSED_BITMAP` longer than a bitmap packet allows.
    CompressedTooLarge {
        /// Payload bytes received.
        len: usize,
        /// Largest payload allowed.
        max: usize,
    },
    /// A `P_COMPRESSED_BITMAP` without at least one code byte after the encoding byte.
    CompressedTooSmall {
        /// Payload bytes received.
        len: usize,
    },
    /// An encoding code other than [`RLE_VLI_BITS`].
    UnknownEncoding {
        /// The encoding byte.
        encoding: u8,
    },
    /// The code stream ends inside a code word.
    TruncatedCode {
        /// Stream bit where the code word starts.
        code_bit: u64,
        /// Bits the code word needs.
        need_bits: u32,
        /// Bits left in the stream.
        have_bits: u32,
    },
    /// A run extends past the last bit of the bitmap.
    RunPastEnd {
        /// First bit of the run.
        start: u64,
        /// Length of the run.
        len: u64,
        /// Bits of the bitmap.
        total_bits: u64,
    },
    /// The bitmap handed in is not the size the transfer was set up for.
    BitmapSizeMismatch {
        /// Bits the transfer covers.
        expected_bits: u64,
        /// Bits of the bitmap given.
        bitmap_bits: u64,
    },
    /// A packet after the transfer was complete.
    AlreadyComplete,
}

impl fmt::Display for XferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PlainSizeMismatch { expected, got } => {
                write!(f, "plain bitmap chunk of {got} bytes, {expected} expected")
            }
            Self::CompressedTooLarge { len, max } => write!(
                f,
                "compressed bitmap packet too large ({len} bytes, at most {max})"
            ),
            Self::CompressedTooSmall { len } => {
                write!(f, "compressed bitmap packet too small ({len} bytes)")
            }
            Self::UnknownEncoding { encoding } => write!(
                f,
                "unknown bitmap encoding {} (encoding byte {encoding:#04x})",
                encoding & ENCODING_CODE_MASK
            ),
            Self::TruncatedCode {
                code_bit,
                need_bits,
                have_bits,
            } => write!(
                f,
                "bitmap code truncated at code bit {code_bit}: \
                 code word of {need_bits} bits, {have_bits} left"
            ),
            Self::RunPastEnd {
                start,
                len,
                total_bits,
            } => write!(
                f,
                "bitmap run of {len} bits at bit {start} overflows the {total_bits}-bit bitmap"
            ),
            Self::BitmapSizeMismatch {
                expected_bits,
                bitmap_bits,
            } => write!(
                f,
                "bitmap of {bitmap_bits} bits for a transfer of {expected_bits} bits"
            ),
            Self::AlreadyComplete => f.write_str("bitmap packet after the transfer completed"),
        }
    }
}

/// Merges the packets of one bitmap transfer into a bitmap (bits are only ever added),
/// keeping the 6.12 receiver's offsets (`wire-protocol.md` §9.4 "Receiver bookkeeping").
#[derive(Debug, Clone)]
pub struct BitmapReceiver {
    total_bits: u64,
    header_len: usize,
    bit_offset: u64,
    word_offset: u64,
    done: bool,
    stats: XferStats,
}

impl BitmapReceiver {
    /// A transfer of a `total_bits`-bit bitmap over a connection with `header_len`-byte
    /// headers.
    pub const fn new(total_bits: u64, header_len: usize) -> Self {
        Self {
            total_bits,
            header_len,
            bit_offset: 0,
            word_offset: 0,
            done: false,
            stats: XferStats {
                plain_bytes: 0,
                plain_packets: 0,
                rle_bytes: 0,
                rle_packets: 0,
            },
        }
    }

    /// Whether the whole bitmap has arrived.
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// The next bit expected.
    pub const fn bit_offset(&self) -> u64 {
        self.bit_offset
    }

    /// The word the next plain chunk must start at.
    pub const fn word_offset(&self) -> u64 {
        self.word_offset
    }

    /// Packets and bytes received so far.
    pub const fn stats(&self) -> XferStats {
        self.stats
    }

    /// The size the next `P_BITMAP` payload must have: a full chunk, or the words left
    /// (0 once all words are in: the terminator).
    pub fn expected_plain_len(&self) -> usize {
        let remaining = words_for_bits(self.total_bits).saturating_sub(self.word_offset);
        let chunk_words = plain_chunk_words(self.header_len);
        usize::try_from(remaining).map_or(chunk_words, |r| r.min(chunk_words)) * WORD_BYTES
    }

    fn check_ready<W: AsRef<[u64]>>(&self, bitmap: &Bitmap<W>) -> Result<(), XferError> {
        if self.done {
            return Err(XferError::AlreadyComplete);
        }
        if bitmap.bits() != self.total_bits {
            return Err(XferError::BitmapSizeMismatch {
                expected_bits: self.total_bits,
                bitmap_bits: bitmap.bits(),
            });
        }
        Ok(())
    }

    /// Take a `P_BITMAP` payload: OR its words into `bitmap` at the word offset. Its size
    /// must be exactly [`BitmapReceiver::expected_plain_len`]; the empty one completes the
    /// transfer. On error `bitmap` and the offsets are unchanged.
    pub fn receive_plain<W: AsRef<[u64]> + AsMut<[u64]>>(
        &mut self,
        bitmap: &mut Bitmap<W>,
        payload: &[u8],
    ) -> Result<Progress, XferError> {
        self.check_ready(bitmap)?;
        let expected = self.expected_plain_len();
        if payload.len() != expected {
            return Err(XferError::PlainSizeMismatch {
                expected,
                got: payload.len(),
            });
        }
        self.stats
            .count(ChunkKind::Plain, self.header_len, expected);
        if expected == 0 {
            self.done = true;
            return Ok(Progress::Done);
        }
        let mut first_bit = word_to_bit(self.word_offset);
        for word in payload.chunks_exact(WORD_BYTES) {
            let word = <[u8; WORD_BYTES]>::try_from(word).map_or(0, u64::from_le_bytes);
            or_word(bitmap, first_bit, word);
            first_bit = first_bit.saturating_add(BITS_PER_WORD);
        }
        self.word_offset += (expected / WORD_BYTES) as u64;
        self.bit_offset = word_to_bit(self.word_offset).min(self.total_bits);
        if self.word_offset >= words_for_bits(self.total_bits) {
            // Whatever the peer had past the last bit, and whatever the storage held there.
            bitmap.clear_surplus();
        }
        Ok(Progress::More)
    }

    /// Take a `P_COMPRESSED_BITMAP` payload: set the bits of its set runs, starting at the
    /// bit offset. The transfer is complete when the last run ends exactly at the last bit.
    /// The whole packet is checked before the bitmap is touched, so on error `bitmap` and
    /// the offsets are unchanged.
    pub fn receive_compressed<W: AsRef<[u64]> + AsMut<[u64]>>(
        &mut self,
        bitmap: &mut Bitmap<W>,
        payload: &[u8],
    ) -> Result<Progress, XferError> {
        self.check_ready(bitmap)?;
        let max = max_payload_len(self.header_len);
        if payload.len() > max {
            return Err(XferError::CompressedTooLarge {
                len: payload.len(),
                max,
            });
        }
        let Some((&encoding, code)) = payload.split_first().filter(|(_, code)| !code.is_empty())
        else {
            return Err(XferError::CompressedTooSmall { len: payload.len() });
        };
        if encoding & ENCODING_CODE_MASK != RLE_VLI_BITS {
            return Err(XferError::UnknownEncoding { encoding });
        }
        let pad_bits = (encoding >> ENCODING_PAD_SHIFT) & ENCODING_PAD_MASK;
        let first_run_set = encoding & ENCODING_FIRST_RUN_SET != 0;
        self.for_each_set_run(code, pad_bits, first_run_set, |_| {})?;
        let end = self.for_each_set_run(code, pad_bits, first_run_set, |run| {
            bitmap.set_range(run);
        })?;
        self.bit_offset = end;
        self.word_offset = end / BITS_PER_WORD;
        self.stats
            .count(ChunkKind::Compressed, self.header_len, payload.len());
        self.done = end == self.total_bits;
        Ok(if self.done {
            Progress::Done
        } else {
            Progress::More
        })
    }

    /// Walk the runs of `code` from the bit offset, calling `on_set_run` for each set run;
    /// returns where the last run ends. Every run, set or clear, must end within the bitmap:
    /// 6.12 checks only set runs, but a clear run past the end would leave its offsets past
    /// the bitmap (and its sender never produces one).
    fn for_each_set_run(
        &self,
        code: &[u8],
        pad_bits: u8,
        first_run_set: bool,
        mut on_set_run: impl FnMut(Range<u64>),
    ) -> Result<u64, XferError> {
        let mut reader = BitReader::new(code, pad_bits);
        let mut start = self.bit_offset;
        let mut set = first_run_set;
        while reader.remaining_bits() > 0 {
            let len = reader.read_vli()?;
            let end = start
                .checked_add(len)
                .filter(|&end| end <= self.total_bits)
                .ok_or(XferError::RunPastEnd {
                    start,
                    len,
                    total_bits: self.total_bits,
                })?;
            if set {
                on_set_run(start..end);
            }
            start = end;
            set = !set;
        }
        Ok(start)
    }
}

/// OR the 64 bits of `word` into `bitmap` from bit `first_bit` on (clipped to the bitmap).
fn or_word<W: AsRef<[u64]> + AsMut<[u64]>>(bitmap: &mut Bitmap<W>, first_bit: u64, word: u64) {
    let mut rest = word;
    while rest != 0 {
        let lo = rest.trailing_zeros();
        let len = (rest >> lo).trailing_ones();
        let hi = lo + len;
        bitmap.set_range(
            first_bit.saturating_add(u64::from(lo))..first_bit.saturating_add(u64::from(hi)),
        );
        rest &= !low_mask(hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    /// h100 (apv ≥ 100) and h80/h95 header lengths.
    const H100: usize = 16;
    const H80: usize = 8;

    fn bm(bits: u64) -> Bitmap<Vec<u64>> {
        Bitmap::new(vec![0u64; words_for_bits(bits) as usize], bits).unwrap()
    }

    /// A bitmap made of alternating runs, the first one set if `first_set`.
    fn from_runs(first_set: bool, runs: &[u64]) -> Bitmap<Vec<u64>> {
        let mut b = bm(runs.iter().sum());
        let mut pos = 0;
        let mut set = first_set;
        for &run in runs {
            if set {
                b.set_range(pos..pos + run);
            }
            pos += run;
            set = !set;
        }
        b
    }

    /// The set bits of `b` if they form exactly one run.
    fn only_run(b: &Bitmap<Vec<u64>>) -> Option<Range<u64>> {
        let mut runs = b.runs();
        let first = runs.next()?;
        runs.next().is_none().then_some(first)
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Packet {
        kind: ChunkKind,
        bytes: Vec<u8>,
    }

    fn compressed(bytes: &[u8]) -> Packet {
        Packet {
            kind: ChunkKind::Compressed,
            bytes: bytes.to_vec(),
        }
    }

    /// Run a whole send; the sender must finish within one packet per bit (plus the
    /// terminator), since every packet moves the offset forward.
    fn send_all<W: AsRef<[u64]>>(
        bitmap: &Bitmap<W>,
        total_bits: u64,
        header_len: usize,
        use_rle: bool,
    ) -> (Vec<Packet>, XferStats) {
        let mut sender = BitmapSender::new(total_bits, header_len, use_rle);
        let mut buf = vec![0xa5u8; sender.max_payload_len()];
        let mut packets = Vec::new();
        while let Some(chunk) = sender.next_packet(bitmap, &mut buf) {
            packets.push(Packet {
                kind: chunk.kind,
                bytes: buf[..chunk.len].to_vec(),
            });
            assert!(packets.len() as u64 <= total_bits + 2, "sender stalls");
        }
        assert!(sender.is_done());
        (packets, sender.stats())
    }

    fn receive(
        receiver: &mut BitmapReceiver,
        bitmap: &mut Bitmap<Vec<u64>>,
        packet: &Packet,
    ) -> Result<Progress, XferError> {
        match packet.kind {
            ChunkKind::Plain => receiver.receive_plain(bitmap, &packet.bytes),
            ChunkKind::Compressed => receiver.receive_compressed(bitmap, &packet.bytes),
        }
    }

    /// Feed all packets; every one but the last must ask for more, the last must finish.
    fn receive_all(
        packets: &[Packet],
        bitmap: &mut Bitmap<Vec<u64>>,
        header_len: usize,
    ) -> XferStats {
        let mut receiver = BitmapReceiver::new(bitmap.bits(), header_len);
        for (i, packet) in packets.iter().enumerate() {
            let want = if i + 1 == packets.len() {
                Progress::Done
            } else {
                Progress::More
            };
            assert_eq!(
                receive(&mut receiver, bitmap, packet),
                Ok(want),
                "packet {i}"
            );
        }
        assert!(receiver.is_done());
        receiver.stats()
    }

    fn log_line(
        stats: &XferStats,
        direction: XferDirection,
        bits: u64,
        header_len: usize,
    ) -> Option<String> {
        let mut line = String::new();
        stats
            .write_log_line(&mut line, direction, bits, header_len)
            .unwrap()
            .then_some(line)
    }

    // ---- VLI ------------------------------------------------------------------------------

    /// The §9.4 table: (first, last, total code bits, prefix as an integer, prefix bits).
    const SPEC_TABLE: [(u64, u64, u32, u64, u32); 10] = [
        (1, 2, 2, 0x00, 1),
        (3, 4, 3, 0x01, 2),
        (5, 8, 5, 0x03, 3),
        (9, 16, 7, 0x07, 4),
        (17, 48, 10, 0x0f, 5),
        (49, 304, 14, 0x1f, 6),
        (305, 8_496, 21, 0x3f, 8),
        (8_497, 2_105_648, 29, 0x7f, 8),
        (2_105_649, 17_181_974_832, 42, 0xbf, 8),
        (17_181_974_833, 72_057_611_219_902_768, 64, 0xff, 8),
    ];

    #[test]
    fn vli_table_boundaries() {
        for (first, last, bits, prefix, prefix_bits) in SPEC_TABLE {
            for (v, data) in [(first, 0), (last, last - first)] {
                let (code, n) = vli_encode(v).unwrap();
                assert_eq!(n, bits, "length of {v}");
                assert_eq!(code & low_mask(prefix_bits), prefix, "prefix of {v}");
                assert_eq!(code >> prefix_bits, data, "data of {v}");
                assert_eq!(vli_decode(code), (v, bits));
                // Whatever follows the code word does not matter.
                if bits < 64 {
                    assert_eq!(vli_decode(code | (u64::MAX << bits)), (v, bits));
                }
            }
        }
        assert_eq!(vli_encode(0), None);
        assert_eq!(vli_encode(VLI_MIN), Some((0, 2)));
        assert_eq!(vli_encode(VLI_MAX).map(|c| c.1), Some(VLI_MAX_CODE_BITS));
        assert_eq!(vli_encode(VLI_MAX + 1), None);
        assert_eq!(vli_encode(u64::MAX), None);
        // §9.4 worked example: 29 code bits 0x1EC57F = 16374.
        assert_eq!(vli_decode(0x1E_C57F), (16374, 29));
        assert_eq!(vli_encode(16374), Some((0x1E_C57F, 29)));
    }

    proptest! {
        /// Every 64-bit window decodes to a code word that re-encodes to the same bits: the
        /// prefixes cover every pattern and the code is a bijection.
        #[test]
        fn vli_every_window_decodes(window in any::<u64>()) {
            let (value, bits) = vli_decode(window);
            prop_assert!((VLI_MIN..=VLI_MAX).contains(&value));
            prop_assert_eq!(vli_encode(value), Some((window & low_mask(bits), bits)));
        }

        #[test]
        fn vli_round_trip(value in prop_oneof![1u64..=400, 1u64..=3_000_000, VLI_MIN..=VLI_MAX], junk in any::<u64>()) {
            let (code, bits) = vli_encode(value).unwrap();
            let above = if bits < 64 { junk << bits } else { 0 };
            prop_assert_eq!(vli_decode(code | above), (value, bits));
        }

        /// Bits written LSB-first read back the same, with the writer's pad bits.
        #[test]
        fn bit_stream_round_trip(items in prop::collection::vec((any::<u64>(), 0u32..=64), 0..40)) {
            let mut buf = [0xffu8; 400];
            let mut w = BitWriter::new(&mut buf);
            for &(value, bits) in &items {
                w.put_bits(value, bits).unwrap();
            }
            let total: u64 = items.iter().map(|&(_, b)| u64::from(b)).sum();
            prop_assert_eq!(w.bit_len(), total);
            prop_assert_eq!(w.byte_len() as u64, total.div_ceil(8));
            let (len, pad) = (w.byte_len(), w.pad_bits());
            prop_assert_eq!(len as u64 * 8 - u64::from(pad), total);
            let mut r = BitReader::new(&buf[..len], pad);
            for &(value, bits) in &items {
                prop_assert_eq!(r.read_bits(bits), Some(value & low_mask(bits)));
            }
            prop_assert_eq!(r.remaining_bits(), 0);
            prop_assert_eq!(r.read_bits(1), None);
        }
    }

    #[test]
    fn bit_writer_fills_lsb_first_and_refuses_overflow() {
        let mut buf = [0xffu8; 2];
        let mut w = BitWriter::new(&mut buf);
        assert_eq!(w.capacity_bits(), 16);
        w.put_bits(0b101, 3).unwrap();
        w.put_bits(0xff, 8).unwrap();
        assert_eq!((w.bit_len(), w.byte_len(), w.pad_bits()), (11, 2, 5));
        assert_eq!(w.put_bits(0, 6), Err(BitWriteError::BufferFull));
        assert_eq!(w.put_bits(0, 65), Err(BitWriteError::TooWide));
        assert_eq!(w.put_vli(0), Err(BitWriteError::VliOutOfRange));
        // A code word must fit whole: 5 bits do, a 7-bit VLI no longer does.
        assert_eq!(w.put_vli(9), Err(BitWriteError::BufferFull));
        w.put_bits(0b1_0011, 5).unwrap();
        assert_eq!((w.bit_len(), w.pad_bits()), (16, 0));
        assert_eq!(w.put_bits(1, 1), Err(BitWriteError::BufferFull));
        assert_eq!(buf, [0b1111_1101, 0b1001_1111]);
        for e in [
            BitWriteError::BufferFull,
            BitWriteError::TooWide,
            BitWriteError::VliOutOfRange,
        ] {
            assert!(!std::format!("{e}").is_empty());
        }
    }

    #[test]
    fn bit_reader_honours_pad_bits_and_reports_truncation() {
        // 0x07 = prefix `1110` (7-bit class): with 2 pad bits only 6 bits are real.
        let mut r = BitReader::new(&[0x07], 2);
        assert_eq!(r.remaining_bits(), 6);
        assert_eq!(
            r.read_vli(),
            Err(XferError::TruncatedCode {
                code_bit: 0,
                need_bits: 7,
                have_bits: 6
            })
        );
        assert_eq!(r.position(), 0, "nothing consumed");
        assert_eq!(r.read_bits(7), None);
        assert_eq!(r.read_bits(6), Some(0x07));
        // Without padding: run 9, then one lone bit `0` of a 2-bit code word.
        let mut r = BitReader::new(&[0x07], 0);
        assert_eq!(r.read_vli(), Ok(9));
        assert_eq!(
            r.read_vli(),
            Err(XferError::TruncatedCode {
                code_bit: 7,
                need_bits: 2,
                have_bits: 1
            })
        );
        // A 64-bit code word starting mid-byte spans 9 bytes.
        let mut buf = [0u8; 9];
        let mut w = BitWriter::new(&mut buf);
        w.put_bits(0b101, 3).unwrap();
        w.put_vli(VLI_MAX).unwrap();
        let pad = w.pad_bits();
        let mut r = BitReader::new(&buf, pad);
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_vli(), Ok(VLI_MAX));
        assert_eq!(r.remaining_bits(), 0);
        // More pad bits than bits: an empty stream.
        assert_eq!(BitReader::new(&[], 7).remaining_bits(), 0);
    }

    // ---- worked examples and captures -----------------------------------------------------

    /// §9.4: `b2 7f c5 1e 00` = 16374 set bits, the whole 64 MiB bitmap in one packet
    /// (observed in the fullsync capture in both directions).
    #[test]
    fn spec_example_full_bitmap() {
        let payload = [0xb2, 0x7f, 0xc5, 0x1e, 0x00];
        let mut b = bm(16374);
        let mut r = BitmapReceiver::new(16374, H100);
        assert_eq!(r.receive_compressed(&mut b, &payload), Ok(Progress::Done));
        assert_eq!(b.count(), 16374);
        assert_eq!((r.bit_offset(), r.word_offset()), (16374, 255));

        let mut full = bm(16374);
        full.set_all();
        let (packets, stats) = send_all(&full, 16374, H100, true);
        assert_eq!(packets, [compressed(&payload)]);
        let want = XferStats {
            rle_bytes: 16 + 5,
            rle_packets: 1,
            ..XferStats::default()
        };
        assert_eq!(stats, want);
        assert_eq!(r.stats(), want);
    }

    /// §9.4 / §9.2: `02 3f 57 f2 7b f8 eb 57 00` = 5000 clear, 64 set, 11310 clear.
    #[test]
    fn spec_example_reconnect_bitmap() {
        let payload = [0x02, 0x3f, 0x57, 0xf2, 0x7b, 0xf8, 0xeb, 0x57, 0x00];
        let want = from_runs(false, &[5000, 64, 11310]);
        assert_eq!(want.bits(), 16374);
        let mut b = bm(16374);
        let mut r = BitmapReceiver::new(16374, H100);
        assert_eq!(r.receive_compressed(&mut b, &payload), Ok(Progress::Done));
        assert_eq!(b.storage(), want.storage());
        let (packets, _) = send_all(&want, 16374, H100, true);
        assert_eq!(packets, [compressed(&payload)]);
    }

    /// The other RLE packets of the reference captures (read from the pcaps), with the
    /// bitmaps the sessions' steps produced and, for the split-brain session, the stats
    /// lines both kernels logged.
    #[test]
    fn captured_packets_and_logged_stats() {
        struct Case {
            bits: u64,
            payload: &'static [u8],
            set_bits: u64,
            runs: Option<&'static [u64]>,
            logged: Option<&'static str>,
        }
        let cases = [
            // splitbrain: full sync of the 16 MiB disks (bits=4086 in dmesg).
            Case {
                bits: 4086,
                payload: &[0xb2, 0x3f, 0xc5, 0x0e],
                set_bits: 4086,
                runs: None,
                logged: Some("plain 0(0), RLE 20(1), total 20; compression: 96.4%"),
            },
            // splitbrain: "will sync 1024 KB [256 bits set]".
            Case {
                bits: 4086,
                payload: &[0xd2, 0xdf, 0xf3, 0x4f, 0x71, 0x03],
                set_bits: 256,
                runs: None,
                logged: Some("plain 0(0), RLE 22(1), total 22; compression: 96.0%"),
            },
            // auth-csums-verify: full sync of the 8 MiB disks (2038 bits).
            Case {
                bits: 2038,
                payload: &[0xb2, 0x3f, 0xc5, 0x06],
                set_bits: 2038,
                runs: None,
                logged: None,
            },
            // auth-csums-verify: 256 KiB written at block 1000 while disconnected.
            Case {
                bits: 2038,
                payload: &[0x02, 0x3f, 0xb7, 0xe2, 0x7b, 0xf8, 0xe9, 0x14],
                set_bits: 64,
                runs: Some(&[1000, 64, 974]),
                logged: None,
            },
        ];
        for case in cases {
            let mut b = bm(case.bits);
            let mut r = BitmapReceiver::new(case.bits, H100);
            assert_eq!(
                r.receive_compressed(&mut b, case.payload),
                Ok(Progress::Done)
            );
            assert_eq!(b.count(), case.set_bits);
            if case.runs.is_none() && case.set_bits == case.bits {
                assert_eq!(only_run(&b), Some(0..case.bits));
            }
            if let Some(runs) = case.runs {
                assert_eq!(b.storage(), from_runs(false, runs).storage());
            }
            let (packets, stats) = send_all(&b, case.bits, H100, true);
            assert_eq!(packets, [compressed(case.payload)]);
            assert_eq!(stats, r.stats());
            if let Some(tail) = case.logged {
                assert_eq!(
                    log_line(&stats, XferDirection::Send, case.bits, H100).unwrap(),
                    std::format!("send bitmap stats [Bytes(packets)]: {tail}")
                );
                assert_eq!(
                    log_line(&r.stats(), XferDirection::Receive, case.bits, H100).unwrap(),
                    std::format!("receive bitmap stats [Bytes(packets)]: {tail}")
                );
            }
        }
    }

    // ---- sender shapes --------------------------------------------------------------------

    /// Plain chunks hold (4096 − header) / 8 words (510 with h100, 511 with 8-byte headers),
    /// the last one the rest, then the empty terminator.
    #[test]
    fn plain_only_chunking() {
        for (header, chunk_words) in [(H100, 510u64), (H80, 511)] {
            assert_eq!(plain_chunk_words(header) as u64, chunk_words);
            let bits = chunk_words * 64 * 2 + 5;
            let mut b = bm(bits);
            for bit in (0..bits).step_by(7) {
                b.set(bit);
            }
            let (packets, stats) = send_all(&b, bits, header, false);
            let full = (chunk_words * 8) as usize;
            let lens: Vec<usize> = packets.iter().map(|p| p.bytes.len()).collect();
            assert_eq!(lens, [full, full, 8, 0]);
            assert!(packets.iter().all(|p| p.kind == ChunkKind::Plain));
            let mut bytes = vec![0u8; (words_for_bits(bits) * 8) as usize];
            b.write_le_bytes(0, &mut bytes);
            let sent: Vec<u8> = packets.iter().flat_map(|p| p.bytes.clone()).collect();
            assert_eq!(sent, bytes);
            let h = header as u64;
            assert_eq!(
                stats,
                XferStats {
                    plain_bytes: 2 * (h + full as u64) + (h + 8) + h,
                    plain_packets: 4,
                    ..XferStats::default()
                }
            );
            let mut got = bm(bits);
            assert_eq!(receive_all(&packets, &mut got, header), stats);
            assert_eq!(got.storage(), b.storage());
            // drbd's estimate counts one header per 4080 (4088) *words*, so it sits below
            // the real cost of a multi-chunk plain transfer: no log line either way.
            let words = words_for_bits(bits);
            assert_eq!(plain_transfer_estimate(bits, header), 2 * h + words * 8);
            assert_eq!(log_line(&stats, XferDirection::Send, bits, header), None);
        }
    }

    #[test]
    fn empty_bitmap_is_one_empty_plain_packet() {
        for rle in [false, true] {
            let b = bm(0);
            let (packets, stats) = send_all(&b, 0, H100, rle);
            assert_eq!(
                packets,
                [Packet {
                    kind: ChunkKind::Plain,
                    bytes: vec![]
                }]
            );
            assert_eq!((stats.plain_bytes, stats.plain_packets), (16, 1));
            let mut got = bm(0);
            receive_all(&packets, &mut got, H100);
        }
    }

    /// A full code buffer ends an RLE packet mid-word; the incompressible rest goes as plain
    /// chunks starting at the word holding the bit offset (re-sending the bits the RLE
    /// packet already covered in that word), then the terminator.
    #[test]
    fn rle_then_plain_fallback_at_the_word_of_the_offset() {
        // 11000 runs of 4 bits (3-bit codes), first clear, then alternating single bits.
        let rle_part = 11_000 * 4;
        let bits = rle_part + 40_000;
        let mut b = bm(bits);
        for run in (1..11_000u64).step_by(2) {
            b.set_range(run * 4..run * 4 + 4);
        }
        for bit in (rle_part + 1..bits).step_by(2) {
            b.set(bit);
        }
        let (packets, stats) = send_all(&b, bits, H100, true);
        // Code buffer 4096 − 16 − 1 = 4079 bytes = 32632 bits = 10877 three-bit codes
        // (1 bit spare), covering 43508 bits.
        let covered = 10_877 * 4;
        let first = &packets[0];
        assert_eq!(first.kind, ChunkKind::Compressed);
        assert_eq!(first.bytes.len(), 4080);
        assert_eq!(
            first.bytes[0],
            RLE_VLI_BITS | (1 << 4),
            "pad 1, first run clear"
        );
        // The plain fallback starts at word 43508 / 64 = 679.
        let word = covered / 64;
        assert_eq!(word, 679);
        let words = words_for_bits(bits);
        let kinds_lens: Vec<(ChunkKind, usize)> =
            packets.iter().map(|p| (p.kind, p.bytes.len())).collect();
        assert_eq!(
            kinds_lens,
            [
                (ChunkKind::Compressed, 4080),
                (ChunkKind::Plain, 4080),
                (ChunkKind::Plain, ((words - word - 510) * 8) as usize),
                (ChunkKind::Plain, 0),
            ]
        );
        let mut expect = vec![0u8; 4080];
        b.write_le_bytes(word * 8, &mut expect);
        assert_eq!(packets[1].bytes, expect);
        assert_eq!(
            stats,
            XferStats {
                plain_bytes: 4096 + (16 + 992) + 16,
                plain_packets: 3,
                rle_bytes: 4096,
                rle_packets: 1,
            }
        );
        // The receiver's offsets after the RLE packet call for exactly that plain chunk.
        let mut got = bm(bits);
        let mut r = BitmapReceiver::new(bits, H100);
        assert_eq!(receive(&mut r, &mut got, first), Ok(Progress::More));
        assert_eq!((r.bit_offset(), r.word_offset()), (covered, word));
        assert_eq!(r.expected_plain_len(), 4080);
        assert_eq!(got.count(), b.count_range(0..covered));
        for p in &packets[1..] {
            receive(&mut r, &mut got, p).unwrap();
        }
        assert!(r.is_done());
        assert_eq!(got.storage(), b.storage());
    }

    /// Runs cost as many code bits as they cover: still worth it (kernel: only fewer plain
    /// bits than code bits is incompressible). Runs of 1 cost 2 bits each: not worth it.
    #[test]
    fn compressibility_threshold() {
        // 8 bits: a set run of 3 (`10` + 1 data bit), a clear run of 5 (`110` + 2 data
        // bits) → 8 code bits = 1 byte for 8 bits.
        let b = from_runs(true, &[3, 5]);
        let (packets, _) = send_all(&b, 8, H100, true);
        assert_eq!(packets, [compressed(&[0x82, 0x01 | (0x03 << 3)])]);
        // 8 single-bit runs: 16 code bits for 8 bits → plain.
        let b = from_runs(true, &[1; 8]);
        let (packets, _) = send_all(&b, 8, H100, true);
        assert_eq!(
            packets,
            [
                Packet {
                    kind: ChunkKind::Plain,
                    bytes: vec![0x55, 0, 0, 0, 0, 0, 0, 0]
                },
                Packet {
                    kind: ChunkKind::Plain,
                    bytes: vec![]
                },
            ]
        );
    }

    /// The transfer covers `total_bits`; the bitmap handed to the sender may be larger or
    /// smaller (missing bits read as clear).
    #[test]
    fn sender_clips_to_total_bits() {
        let mut big = bm(200);
        big.set_all();
        for rle in [false, true] {
            let (packets, _) = send_all(&big, 100, H100, rle);
            let mut got = bm(100);
            receive_all(&packets, &mut got, H100);
            assert_eq!(got.count(), 100);
            assert_eq!(got.storage()[1], (1 << 36) - 1);
        }
        let mut small = bm(10);
        small.set_all();
        let (packets, _) = send_all(&small, 1000, H100, true);
        let mut got = bm(1000);
        receive_all(&packets, &mut got, H100);
        assert_eq!(only_run(&got), Some(0..10));
    }

    #[test]
    fn short_output_buffer_changes_nothing() {
        let b = bm(100);
        let mut s = BitmapSender::new(100, H100, true);
        assert_eq!(s.max_payload_len(), 4080);
        let mut small = [0u8; 4079];
        assert_eq!(s.next_packet(&b, &mut small), None);
        assert!(!s.is_done());
        assert_eq!(
            (s.bit_offset(), s.word_offset(), s.stats()),
            (0, 0, XferStats::default())
        );
        // 100 clear bits: one 14-bit code word (49..=304 class) = 2 code bytes.
        let mut buf = [0u8; 4080];
        assert_eq!(
            s.next_packet(&b, &mut buf),
            Some(Chunk {
                kind: ChunkKind::Compressed,
                len: 3
            })
        );
        assert_eq!(buf[..3], [0x22, 0x1f | (51 << 6) as u8, (51 >> 2) as u8]);
        assert!(s.is_done());
        assert_eq!(s.next_packet(&b, &mut buf), None);
    }

    // ---- receiver -------------------------------------------------------------------------

    #[test]
    fn receiver_ors_into_existing_bits() {
        let payload = [0x02, 0x3f, 0x57, 0xf2, 0x7b, 0xf8, 0xeb, 0x57, 0x00];
        let mut b = bm(16374);
        b.set_range(10..20);
        b.set_range(5030..5100);
        let mut r = BitmapReceiver::new(16374, H100);
        assert_eq!(r.receive_compressed(&mut b, &payload), Ok(Progress::Done));
        assert_eq!(b.runs().collect::<Vec<_>>(), [10..20, 5000..5100]);
        // Plain words too; the peer's bits past the end are dropped.
        let mut b = bm(70);
        b.set(3);
        let mut r = BitmapReceiver::new(70, H100);
        let mut payload = [0u8; 16];
        payload[0] = 0x01;
        payload[8..].fill(0xff);
        assert_eq!(r.receive_plain(&mut b, &payload), Ok(Progress::More));
        assert_eq!(r.receive_plain(&mut b, &[]), Ok(Progress::Done));
        assert_eq!(b.runs().collect::<Vec<_>>(), [0..1, 3..4, 64..70]);
        assert_eq!(b.storage()[1], 0x3f);
    }

    #[test]
    fn receiver_clears_storage_surplus_at_the_last_word() {
        // 72 bits: bits 0..8 of word 1 are real, its bits 8.. and word 2 are surplus.
        let mut b = Bitmap::new(vec![0u64, 0xff0f, u64::MAX], 72).unwrap();
        let mut r = BitmapReceiver::new(72, H100);
        assert_eq!(r.receive_plain(&mut b, &[0u8; 16]), Ok(Progress::More));
        assert_eq!(b.storage(), &vec![0u64, 0x0f, 0]);
    }

    /// After an RLE packet the next plain chunk starts at the word holding the bit offset.
    #[test]
    fn plain_size_follows_rle_offset() {
        // 5000 clear bits: 305-class code (5000 − 305) << 8 | 0x3f, 21 bits, pad 3.
        let payload = [0x32, 0x3f, 0x57, 0x12];
        let mut b = bm(16374);
        let mut r = BitmapReceiver::new(16374, H100);
        assert_eq!(r.receive_compressed(&mut b, &payload), Ok(Progress::More));
        assert_eq!((r.bit_offset(), r.word_offset()), (5000, 78));
        // 256 words in all, 78 done: 178 words = 1424 bytes.
        assert_eq!(r.expected_plain_len(), 1424);
        assert_eq!(
            r.receive_plain(&mut b, &[0u8; 1432]),
            Err(XferError::PlainSizeMismatch {
                expected: 1424,
                got: 1432
            })
        );
        let mut words = [0u8; 1424];
        words[0] = 0x80; // bit 78 × 64 + 7 = 4999: already covered by the RLE run, still ORed
        assert_eq!(r.receive_plain(&mut b, &words), Ok(Progress::More));
        assert_eq!((r.bit_offset(), r.word_offset()), (16374, 256));
        assert_eq!(r.receive_plain(&mut b, &[]), Ok(Progress::Done));
        assert_eq!(only_run(&b), Some(4999..5000));
    }

    #[test]
    fn rejections() {
        let fresh = || (bm(100), BitmapReceiver::new(100, H100));
        // Plain chunk sizes: exactly the 2 words left.
        for len in [0, 8, 24] {
            let (mut b, mut r) = fresh();
            assert_eq!(
                r.receive_plain(&mut b, &vec![0xff; len]),
                Err(XferError::PlainSizeMismatch {
                    expected: 16,
                    got: len
                })
            );
            assert_eq!(b.count(), 0);
        }
        // Encoding codes other than 2.
        for encoding in [0x00, 0x01, 0x03, 0x0f, 0x80, 0xf1] {
            let (mut b, mut r) = fresh();
            assert_eq!(
                r.receive_compressed(&mut b, &[encoding, 0x00]),
                Err(XferError::UnknownEncoding { encoding })
            );
        }
        // Too small: no code byte.
        for payload in [&[][..], &[0x02][..]] {
            let (mut b, mut r) = fresh();
            assert_eq!(
                r.receive_compressed(&mut b, payload),
                Err(XferError::CompressedTooSmall { len: payload.len() })
            );
        }
        // Too large: more than 4096 − header.
        let (mut b, mut r) = fresh();
        assert_eq!(
            r.receive_compressed(&mut b, &[0x02; 4081]),
            Err(XferError::CompressedTooLarge {
                len: 4081,
                max: 4080
            })
        );
        let mut r8 = BitmapReceiver::new(100, H80);
        assert_eq!(
            r8.receive_compressed(&mut b, &[0x02; 4089]),
            Err(XferError::CompressedTooLarge {
                len: 4089,
                max: 4088
            })
        );
        // Runs past the end: a set run of 101 (49-class code (101 − 49) << 6 | 0x1f, 14
        // bits, pad 2), the same as a clear run, and a run after the last bit.
        for encoding in [0xa2, 0x22] {
            let (mut b, mut r) = fresh();
            assert_eq!(
                r.receive_compressed(&mut b, &[encoding, 0x1f, 0x0d]),
                Err(XferError::RunPastEnd {
                    start: 0,
                    len: 101,
                    total_bits: 100
                })
            );
        }
        let (mut b, mut r) = fresh();
        // Set run of 100 ((100 − 49) << 6 | 0x1f = 0xcdf, 14 bits), then a 1-run `00`.
        assert_eq!(
            r.receive_compressed(&mut b, &[0x82, 0xdf, 0x0c]),
            Err(XferError::RunPastEnd {
                start: 100,
                len: 1,
                total_bits: 100
            })
        );
        assert_eq!(b.count(), 0, "the valid first run was not applied either");
        // The spec example's pad bits matter: without them the 3 zero bits are a 1-run.
        let mut b = bm(16374);
        let mut r = BitmapReceiver::new(16374, H100);
        assert_eq!(
            r.receive_compressed(&mut b, &[0x82, 0x7f, 0xc5, 0x1e, 0x00]),
            Err(XferError::RunPastEnd {
                start: 16374,
                len: 1,
                total_bits: 16374
            })
        );
        // Truncated code word after a valid set run: nothing applied, offsets kept.
        let (mut b, mut r) = fresh();
        assert_eq!(
            r.receive_compressed(&mut b, &[0x82, 0x07]),
            Err(XferError::TruncatedCode {
                code_bit: 7,
                need_bits: 2,
                have_bits: 1
            })
        );
        assert_eq!(b.count(), 0);
        assert_eq!(
            (r.bit_offset(), r.word_offset(), r.stats()),
            (0, 0, XferStats::default())
        );
        // Bitmap of the wrong size.
        let mut other = bm(101);
        assert_eq!(
            r.receive_plain(&mut other, &[0; 16]),
            Err(XferError::BitmapSizeMismatch {
                expected_bits: 100,
                bitmap_bits: 101
            })
        );
        // Anything after the end.
        assert_eq!(
            r.receive_compressed(&mut b, &[0xa2, 0xdf, 0x0c]),
            Ok(Progress::Done)
        );
        assert_eq!(b.count(), 100);
        assert_eq!(
            r.receive_plain(&mut b, &[]),
            Err(XferError::AlreadyComplete)
        );
        assert_eq!(
            r.receive_compressed(&mut b, &[0x02, 0]),
            Err(XferError::AlreadyComplete)
        );
    }

    #[test]
    fn error_texts() {
        let cases = [
            (
                XferError::PlainSizeMismatch {
                    expected: 16,
                    got: 8,
                },
                "plain bitmap chunk of 8 bytes, 16 expected",
            ),
            (
                XferError::CompressedTooLarge {
                    len: 4081,
                    max: 4080,
                },
                "compressed bitmap packet too large (4081 bytes, at most 4080)",
            ),
            (
                XferError::CompressedTooSmall { len: 1 },
                "compressed bitmap packet too small (1 bytes)",
            ),
            (
                XferError::UnknownEncoding { encoding: 0xb3 },
                "unknown bitmap encoding 3 (encoding byte 0xb3)",
            ),
            (
                XferError::TruncatedCode {
                    code_bit: 7,
                    need_bits: 2,
                    have_bits: 1,
                },
                "bitmap code truncated at code bit 7: code word of 2 bits, 1 left",
            ),
            (
                XferError::RunPastEnd {
                    start: 0,
                    len: 101,
                    total_bits: 100,
                },
                "bitmap run of 101 bits at bit 0 overflows the 100-bit bitmap",
            ),
            (
                XferError::BitmapSizeMismatch {
                    expected_bits: 100,
                    bitmap_bits: 101,
                },
                "bitmap of 101 bits for a transfer of 100 bits",
            ),
            (
                XferError::AlreadyComplete,
                "bitmap packet after the transfer completed",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(std::format!("{e}"), text);
        }
    }

    // ---- stats line -----------------------------------------------------------------------

    #[test]
    fn stats_formula() {
        // One header per chunk-of-words (the kernel's unit mix-up) + terminator + words.
        assert_eq!(plain_transfer_estimate(4086, H100), 16 * 2 + 64 * 8);
        assert_eq!(plain_transfer_estimate(16374, H100), 16 * 2 + 256 * 8);
        // 2^32 bits: 2^26 words, ceil(2^26 / 4080) = 16449 → 16 × 16450 + 2^29.
        let bits = 1u64 << 32;
        assert_eq!(plain_transfer_estimate(bits, H100), 537_134_112);
        // Above 2^32 / 1000 bytes drbd divides by plain / 1000 first: 4834206 / 537134 = 9
        // (exact division would give 8.99998 → 8, i.e. 99.2%).
        let stats = XferStats {
            rle_bytes: 4_834_206,
            rle_packets: 1,
            ..XferStats::default()
        };
        assert_eq!(stats.compression_per_mille(bits, H100), Some(991));
        assert_eq!(
            log_line(&stats, XferDirection::Receive, bits, H100).unwrap(),
            "receive bitmap stats [Bytes(packets)]: plain 0(0), RLE 4834206(1), total 4834206; \
             compression: 99.1%"
        );
        // Nothing sent or nothing saved: no line.
        assert_eq!(XferStats::default().compression_per_mille(4086, H100), None);
        let stats = XferStats {
            plain_bytes: 544,
            plain_packets: 2,
            ..XferStats::default()
        };
        assert_eq!(log_line(&stats, XferDirection::Send, 4086, H100), None);
        let stats = XferStats {
            plain_bytes: 543,
            plain_packets: 2,
            ..XferStats::default()
        };
        assert_eq!(stats.compression_per_mille(4086, H100), Some(1000 - 998));
        // A writer that fails passes the error on.
        struct Full;
        impl fmt::Write for Full {
            fn write_str(&mut self, _: &str) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        let stats = XferStats {
            rle_bytes: 20,
            rle_packets: 1,
            ..XferStats::default()
        };
        assert_eq!(
            stats.write_log_line(&mut Full, XferDirection::Send, 4086, H100),
            Err(fmt::Error)
        );
    }

    // ---- properties -----------------------------------------------------------------------

    /// SplitMix64: cheap deterministic bits from a proptest seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Shape {
        /// A few random bits.
        Sparse,
        /// Every word random.
        Dense,
        /// Alternating runs up to the given length.
        Runs(u64),
        /// Clear runs, set runs and noise.
        Mixed,
    }

    fn arb_shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Sparse),
            Just(Shape::Dense),
            prop_oneof![Just(4u64), Just(300), Just(100_000)].prop_map(Shape::Runs),
            Just(Shape::Mixed),
        ]
    }

    fn build(bits: u64, shape: Shape, seed: u64) -> Bitmap<Vec<u64>> {
        let mut rng = Rng(seed);
        let mut b = bm(bits);
        match shape {
            Shape::Sparse => {
                for _ in 0..rng.below(200) {
                    b.set(rng.below(bits));
                }
            }
            Shape::Dense => {
                b.clear_all();
                let mut words = b.into_storage();
                words.iter_mut().for_each(|w| *w = rng.next());
                b = Bitmap::new(words, bits).unwrap();
                b.clear_surplus();
            }
            Shape::Runs(max) => {
                let mut pos = 0;
                let mut set = rng.next() & 1 == 1;
                while pos < bits {
                    let run = 1 + rng.below(max);
                    if set {
                        b.set_range(pos..pos + run);
                    }
                    pos += run;
                    set = !set;
                }
            }
            Shape::Mixed => {
                let mut pos = 0;
                while pos < bits {
                    // Noise stretches long enough to defeat a whole RLE packet.
                    let kind = rng.below(3);
                    let len = 1 + rng.below(if kind == 2 { 40_000 } else { 5000 });
                    match kind {
                        0 => {}
                        1 => {
                            b.set_range(pos..pos + len);
                        }
                        _ => {
                            for bit in pos..(pos + len).min(bits) {
                                if rng.next() & 1 == 1 {
                                    b.set(bit);
                                }
                            }
                        }
                    }
                    pos += len;
                }
            }
        }
        b
    }

    fn arb_bits() -> impl Strategy<Value = u64> {
        prop_oneof![1u64..=130, 1u64..=6000, 1u64..=300_000]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Sender → receiver reproduces the union of both bitmaps, with identical stats and
        /// well-formed packets.
        #[test]
        fn round_trip(
            bits in arb_bits(),
            shape in arb_shape(),
            seed in any::<u64>(),
            pre_shape in arb_shape(),
            pre_seed in any::<u64>(),
            header in prop_oneof![Just(H80), Just(H100)],
            use_rle in any::<bool>(),
        ) {
            let sent = build(bits, shape, seed);
            let (packets, stats) = send_all(&sent, bits, header, use_rle);
            let max = max_payload_len(header);
            for (i, p) in packets.iter().enumerate() {
                let last = i + 1 == packets.len();
                prop_assert!(p.bytes.len() <= max);
                match p.kind {
                    ChunkKind::Plain => {
                        prop_assert_eq!(p.bytes.len() % 8, 0);
                        prop_assert_eq!(p.bytes.is_empty(), last, "only the terminator is empty");
                    }
                    ChunkKind::Compressed => {
                        prop_assert!(use_rle);
                        prop_assert!(p.bytes.len() >= 2);
                        prop_assert_eq!(p.bytes[0] & ENCODING_CODE_MASK, RLE_VLI_BITS);
                    }
                }
            }
            if !use_rle {
                let chunks = words_for_bits(bits).div_ceil(plain_chunk_words(header) as u64);
                prop_assert_eq!(packets.len() as u64, chunks + 1);
            }
            let pre = build(bits, pre_shape, pre_seed);
            let mut got = pre.clone();
            prop_assert_eq!(receive_all(&packets, &mut got, header), stats);
            let union: Vec<u64> = sent.storage().iter().zip(pre.storage()).map(|(a, b)| a | b).collect();
            prop_assert_eq!(got.storage(), &union);
            prop_assert_eq!(stats.plain_packets + stats.rle_packets, packets.len() as u64);
        }

        /// Random payloads never panic; a refused packet changes nothing; bits are only
        /// added; a finished transfer accepts nothing more.
        #[test]
        fn receiver_survives_garbage(
            bits in 0u64..3000,
            header in prop_oneof![Just(H80), Just(H100)],
            pre_seed in any::<u64>(),
            packets in prop::collection::vec((any::<bool>(), prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                (0u8..8, any::<bool>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(
                    |(pad, set, code)| {
                        let mut p = vec![RLE_VLI_BITS | (pad << 4) | if set { 0x80 } else { 0 }];
                        p.extend(code);
                        p
                    }
                ),
                (0usize..=8).prop_map(|w| vec![0xffu8; w * 8]),
                (0usize..=512).prop_map(|w| vec![0x5au8; w * 8]),
                prop::collection::vec(any::<u8>(), 4080..4100),
            ]), 1..16),
        ) {
            let pre = build(bits, Shape::Sparse, pre_seed);
            let mut b = pre.clone();
            let mut r = BitmapReceiver::new(bits, header);
            for (plain, payload) in &packets {
                let before = (b.clone(), r.bit_offset(), r.word_offset(), r.stats(), r.is_done());
                let result = if *plain {
                    r.receive_plain(&mut b, payload)
                } else {
                    r.receive_compressed(&mut b, payload)
                };
                match result {
                    Ok(progress) => {
                        prop_assert!(!before.4);
                        prop_assert_eq!(progress == Progress::Done, r.is_done());
                        prop_assert!(r.bit_offset() <= bits);
                        // RLE: word = bit / 64; plain: bit = word × 64, capped at the end.
                        prop_assert!(
                            r.word_offset() == r.bit_offset() / 64
                                || (r.bit_offset() == bits
                                    && r.word_offset() == words_for_bits(bits))
                        );
                    }
                    Err(e) => {
                        let text = std::format!("{}", e);
                        prop_assert!(!text.is_empty());
                        prop_assert_eq!(b.storage(), before.0.storage());
                        prop_assert_eq!((r.bit_offset(), r.word_offset(), r.stats(), r.is_done()),
                            (before.1, before.2, before.3, before.4));
                        if before.4 {
                            prop_assert_eq!(e, XferError::AlreadyComplete);
                        }
                    }
                }
            }
            for (g, p) in b.storage().iter().zip(pre.storage()) {
                prop_assert_eq!(g & p, *p, "bits are only added");
            }
        }
    }
}
