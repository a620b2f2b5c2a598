// SPDX-License-Identifier: GPL-2.0
//! The message digests users configure as `verify-alg` (online verify, `P_OV_REPLY`) and
//! `csums-alg` (checksum-based resync, `P_CSUM_RS_REQUEST`), named as the kernel's crypto API
//! names them. drbd sends the name in `P_SYNC_PARAM89` and both nodes must configure the same
//! one (§4.6); the bytes on the wire are whatever the kernel's `shash` of that name outputs,
//! so each algorithm here produces exactly those bytes:
//!
//! | name | output |
//! |---|---|
//! | `crc32c` | 4 bytes: the standard CRC-32C (init and final xor `!0`) in little-endian order, as the kernel's `crc32c` shash finishes it |
//! | `md5` | 16 bytes, RFC 1321 |
//! | `sha1` | 20 bytes, FIPS 180-4 |
//! | `sha256` | 32 bytes, FIPS 180-4 |
//!
//! Pure software, no allocation, no panics: [`Hasher`] takes the data in any number of slices
//! (a buffer made of pages), [`DigestAlg::digest`] a single one.

use core::fmt;

use super::crc32c::crc32c_drbd;

/// The longest digest of a supported algorithm (SHA-256).
pub const MAX_DIGEST_LEN: usize = 32;

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl DigestAlg {
    /// Every supported algorithm.
    pub const ALL: [DigestAlg; 4] = [
        DigestAlg::Crc32c,
        DigestAlg::Md5,
        DigestAlg::Sha1,
        DigestAlg::Sha256,
    ];

    /// The algorithm the kernel's `crypto_alloc_shash(name)` would give: its algorithm name or
    /// the name of the generic (software) driver, case-sensitive as the crypto API compares.
    /// `None` for any other name — drbd refuses it where the option is set.
    pub fn from_name(name: &str) -> Option<DigestAlg> {
        DigestAlg::ALL
            .into_iter()
            .find(|alg| name == alg.name() || name == alg.driver_name())
    }

    /// The crypto API's algorithm name.
    pub const fn name(self) -> &'static str {
        match self {
            DigestAlg::Crc32c => "crc32c",
            DigestAlg::Md5 => "md5",
            DigestAlg::Sha1 => "sha1",
            DigestAlg::Sha256 => "sha256",
        }
    }

    /// The crypto API's name of the generic software driver.
    const fn driver_name(self) -> &'static str {
        match self {
            DigestAlg::Crc32c => "crc32c-generic",
            DigestAlg::Md5 => "md5-generic",
            DigestAlg::Sha1 => "sha1-generic",
            DigestAlg::Sha256 => "sha256-generic",
        }
    }

    /// Bytes of a digest (`crypto_shash_digestsize`).
    pub const fn digest_len(self) -> usize {
        match self {
            DigestAlg::Crc32c => 4,
            DigestAlg::Md5 => 16,
            DigestAlg::Sha1 => 20,
            DigestAlg::Sha256 => 32,
        }
    }

    /// A hasher to feed the data in pieces.
    pub const fn hasher(self) -> Hasher {
        Hasher::new(self)
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

/// A digest value of up to [`MAX_DIGEST_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl Digest {
    /// `bytes` as a digest, `None` if longer than [`MAX_DIGEST_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Digest> {
        let mut d = Digest {
            bytes: [0; MAX_DIGEST_LEN],
            len: u8::try_from(bytes.len()).ok()?,
        };
        d.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(d)
    }

    /// All zero bytes in the length of `alg`'s digests: what drbd sends for a block it could
    /// not read (§5.6).
    pub const fn zeroed(alg: DigestAlg) -> Digest {
        Digest {
            bytes: [0; MAX_DIGEST_LEN],
            // At most 32.
            len: alg.digest_len() as u8,
        }
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An incremental digest computation.
#[derive(Debug, Clone)]
pub struct Hasher {
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    /// The CRC register (pre-inverted, as the kernel's `crc32c` shash keeps it).
    Crc32c(u32),
    Md5(Blocks, [u32; 4]),
    Sha1(Blocks, [u32; 5]),
    Sha256(Blocks, [u32; 8]),
}

impl Hasher {
    /// A fresh computation of `alg`.
    pub const fn new(alg: DigestAlg) -> Hasher {
        let state = match alg {
            DigestAlg::Crc32c => State::Crc32c(!0),
            DigestAlg::Md5 => State::Md5(Blocks::new(), MD5_INIT),
            DigestAlg::Sha1 => State::Sha1(Blocks::new(), SHA1_INIT),
            DigestAlg::Sha256 => State::Sha256(Blocks::new(), SHA256_INIT),
        };
        Hasher { state }
    }

    /// Feed the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32c(crc) => *crc = crc32c_drbd(*crc, data),
            State::Md5(blocks, h) => blocks.update(data, |b| md5_compress(h, b)),
            State::Sha1(blocks, h) => blocks.update(data, |b| sha1_compress(h, b)),
            State::Sha256(blocks, h) => blocks.update(data, |b| sha256_compress(h, b)),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let mut out = [0u8; MAX_DIGEST_LEN];
        let len = match self.state {
            State::Crc32c(crc) => put_words(&mut out, &[!crc], u32::to_le_bytes),
            State::Md5(mut blocks, mut h) => {
                blocks.finish(Endian::Little, |b| md5_compress(&mut h, b));
                put_words(&mut out, &h, u32::to_le_bytes)
            }
            State::Sha1(mut blocks, mut h) => {
                blocks.finish(Endian::Big, |b| sha1_compress(&mut h, b));
                put_words(&mut out, &h, u32::to_be_bytes)
            }
            State::Sha256(mut blocks, mut h) => {
                blocks.finish(Endian::Big, |b| sha256_compress(&mut h, b));
                put_words(&mut out, &h, u32::to_be_bytes)
            }
        };
        Digest {
            bytes: out,
            // At most 32.
            len: len as u8,
        }
    }
}

/// Write `words` into `out` with `to_bytes`; returns the bytes written.
fn put_words(out: &mut [u8], words: &[u32], to_bytes: fn(u32) -> [u8; 4]) -> usize {
    let mut n = 0;
    for (dst, w) in out.chunks_exact_mut(4).zip(words) {
        dst.copy_from_slice(&to_bytes(*w));
        n += 4;
    }
    n
}

/// Byte order of the message length in the final block.
#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

/// The 64-byte block framing MD5, SHA-1 and SHA-256 share: buffering, and the padding
/// (`0x80`, zeros, the message length in bits in the last 8 bytes).
#[derive(Debug, Clone)]
struct Blocks {
    buf: [u8; 64],
    /// Bytes of `buf` holding data (always < 64 between calls).
    filled: usize,
    /// Message length in bytes (wrapping, as the bit count the padding carries).
    total: u64,
}

impl Blocks {
    const fn new() -> Blocks {
        Blocks {
            buf: [0; 64],
            filled: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8], mut compress: impl FnMut(&[u8; 64])) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.filled > 0 {
            let take = (64 - self.filled).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.filled..self.filled + take) {
                dst.copy_from_slice(head);
            }
            self.filled += take;
            data = rest;
            if self.filled < 64 {
                return;
            }
            compress(&self.buf);
            self.filled = 0;
        }
        let mut chunks = data.chunks_exact(64);
        for block in &mut chunks {
            if let Ok(block) = block.try_into() {
                compress(block);
            }
        }
        let rest = chunks.remainder();
        if let Some(dst) = self.buf.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.filled = rest.len();
    }

    fn finish(&mut self, endian: Endian, mut compress: impl FnMut(&[u8; 64])) {
        let bits = self.total.wrapping_mul(8);
        let length = match endian {
            Endian::Little => bits.to_le_bytes(),
            Endian::Big => bits.to_be_bytes(),
        };
        let filled = self.filled.min(63);
        self.buf[filled] = 0x80;
        self.buf[filled + 1..].fill(0);
        if filled >= 56 {
            // No room for the length: it goes into one more block.
            compress(&self.buf);
            self.buf.fill(0);
        }
        self.buf[56..].copy_from_slice(&length);
        compress(&self.buf);
    }
}

/// The sixteen 32-bit words of a block in `from_bytes` order.
fn words(block: &[u8; 64], from_bytes: fn([u8; 4]) -> u32) -> [u32; 16] {
    let mut w = [0u32; 16];
    for (dst, src) in w.iter_mut().zip(block.chunks_exact(4)) {
        *dst = from_bytes([src[0], src[1], src[2], src[3]]);
    }
    w
}

// ---------------------------------------------------------------------------------------------
// MD5 (RFC 1321)
// ---------------------------------------------------------------------------------------------

const MD5_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-round rotations.
const MD5_SHIFT: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// `T[i]` = the integer part of 2^32 × |sin(i + 1)|.
const MD5_T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

fn md5_compress(h: &mut [u32; 4], block: &[u8; 64]) {
    let x = words(block, u32::from_le_bytes);
    let [mut a, mut b, mut c, mut d] = *h;
    for (i, t) in MD5_T.iter().enumerate() {
        let (f, k) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let shift = MD5_SHIFT[i / 16][i % 4];
        let sum = a.wrapping_add(f).wrapping_add(*t).wrapping_add(x[k]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(sum.rotate_left(shift));
    }
    for (s, v) in h.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

// ---------------------------------------------------------------------------------------------
// SHA-1 (FIPS 180-4 §6.1)
// ---------------------------------------------------------------------------------------------

const SHA1_INIT: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

fn sha1_compress(h: &mut [u32; 5], block: &[u8; 64]) {
    let first = words(block, u32::from_be_bytes);
    let mut w = [0u32; 80];
    w[..16].copy_from_slice(&first);
    for t in 16..80 {
        w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *h;
    for (t, wt) in w.iter().enumerate() {
        let (f, k) = match t / 20 {
            0 => ((b & c) | (!b & d), 0x5a82_7999),
            1 => (b ^ c ^ d, 0x6ed9_eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
            _ => (b ^ c ^ d, 0xca62_c1d6),
        };
        let tmp = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*wt);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = tmp;
    }
    for (s, v) in h.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4 §6.2)
// ---------------------------------------------------------------------------------------------

const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const SHA256_K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

fn sha256_compress(h: &mut [u32; 8], block: &[u8; 64]) {
    let first = words(block, u32::from_be_bytes);
    let mut w = [0u32; 64];
    w[..16].copy_from_slice(&first);
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for (k, wt) in SHA256_K.iter().zip(w.iter()) {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(*wt);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(d: &Digest) -> std::string::String {
        std::format!("{d:?}")
    }

    fn check(alg: DigestAlg, input: &[u8], expected: &str) {
        assert_eq!(
            hex(&alg.digest(input)),
            expected,
            "{} of {:?}",
            alg.name(),
            input
        );
    }

    #[test]
    fn md5_matches_the_rfc_1321_test_suite() {
        // RFC 1321, A.5.
        let suite: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, expected) in suite {
            check(DigestAlg::Md5, input.as_bytes(), expected);
        }
    }

    /// FIPS 180 example messages: "abc", the two-block 448-bit message, a million 'a'.
    const ABC: &[u8] = b"abc";
    const TWO_BLOCKS: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    #[test]
    fn sha1_matches_the_fips_180_examples() {
        check(
            DigestAlg::Sha1,
            ABC,
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        );
        check(
            DigestAlg::Sha1,
            TWO_BLOCKS,
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
        );
        check(
            DigestAlg::Sha1,
            &[b'a'; 1_000_000],
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
        );
        check(
            DigestAlg::Sha1,
            b"",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        );
    }

    #[test]
    fn sha256_matches_the_fips_180_examples() {
        check(
            DigestAlg::Sha256,
            ABC,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        check(
            DigestAlg::Sha256,
            TWO_BLOCKS,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        );
        check(
            DigestAlg::Sha256,
            &[b'a'; 1_000_000],
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        );
        check(
            DigestAlg::Sha256,
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
    }

    #[test]
    fn crc32c_gives_the_check_value_in_little_endian_order() {
        // The CRC-32C check value of "123456789" is 0xE3069283; the kernel's shash stores the
        // finished register little-endian.
        check(DigestAlg::Crc32c, b"123456789", "839206e3");
        check(DigestAlg::Crc32c, b"", "00000000");
    }

    #[test]
    fn names_are_the_kernel_crypto_names() {
        for alg in DigestAlg::ALL {
            assert_eq!(DigestAlg::from_name(alg.name()), Some(alg));
            assert_eq!(DigestAlg::from_name(alg.driver_name()), Some(alg));
            assert_eq!(alg.digest(b"x").as_bytes().len(), alg.digest_len());
            assert!(alg.digest_len() <= MAX_DIGEST_LEN);
        }
        for unknown in ["", "MD5", "sha512", "crc32", "md4", "sha256 "] {
            assert_eq!(DigestAlg::from_name(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn a_zeroed_digest_has_the_algorithms_length() {
        for alg in DigestAlg::ALL {
            let z = Digest::zeroed(alg);
            assert_eq!(z.as_bytes().len(), alg.digest_len());
            assert!(z.as_bytes().iter().all(|b| *b == 0));
        }
        assert_eq!(Digest::from_bytes(&[0; MAX_DIGEST_LEN + 1]), None);
        assert_eq!(
            Digest::from_bytes(&[1, 2]).map(|d| d.as_bytes().len()),
            Some(2)
        );
    }

    #[test]
    fn padding_boundaries_are_handled() {
        // Lengths around the 56-byte padding limit and the block size, fed whole and
        // byte by byte, agree.
        for alg in DigestAlg::ALL {
            for len in [55usize, 56, 57, 63, 64, 65, 119, 120, 128] {
                let data: std::vec::Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut h = alg.hasher();
                for b in &data {
                    h.update(core::slice::from_ref(b));
                }
                assert_eq!(h.finish(), alg.digest(&data), "{} len {len}", alg.name());
            }
        }
        // 56 and 64 bytes of 'a' (known SHA-256 values).
        check(
            DigestAlg::Sha256,
            &[b'a'; 64],
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
        );
    }

    proptest! {
        #[test]
        fn feeding_in_pieces_equals_feeding_at_once(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            for alg in DigestAlg::ALL {
                let mut points: std::vec::Vec<usize> =
                    cuts.iter().map(|c| c % (data.len() + 1)).collect();
                points.sort_unstable();
                let mut h = alg.hasher();
                let mut at = 0;
                for p in points {
                    h.update(&data[at..p]);
                    at = p;
                }
                h.update(&data[at..]);
                prop_assert_eq!(h.finish(), alg.digest(&data));
            }
        }
    }
}
