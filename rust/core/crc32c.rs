// SPDX-License-Identifier: GPL-2.0
//! CRC-32C (Castagnoli), table-driven, in software.
//!
//! Two flavours:
//!
//! * [`crc32c_drbd`] is the raw register update the Linux kernel's `crc32c(seed, data, len)`
//!   and drbd-utils' `crc32c()` compute: reflected polynomial 0x82F63B78, the register starts at
//!   `seed`, and there is **no** initial or final inversion. DRBD 8.4 seals its activity-log
//!   transactions with `crc32c(0, block, 4096)` (on-disk-metadata.md §6.2), which is why an
//!   initialized AL slot carries 0x709CC651 rather than the standard-parameter 0xE86587D8.
//! * [`crc32c`] is the standard CRC-32C (init `!0`, final xor `!0`; iSCSI, ext4, check value
//!   0xE3069283 for `"123456789"`), i.e. `!crc32c_drbd(!0, data)`.

/// The reflected Castagnoli polynomial.
pub const CRC32C_POLY_REFLECTED: u32 = 0x82F6_3B78;

/// Byte-wise lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32C_POLY_REFLECTED
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// One table step.
#[inline]
fn step(crc: u32, byte: u8) -> u32 {
    // The index is masked to 0..=255, so the lookup always hits; `get` keeps it panic-free.
    let idx = ((crc ^ u32::from(byte)) & 0xff) as usize;
    TABLE.get(idx).copied().unwrap_or(0) ^ (crc >> 8)
}

/// The kernel's `crc32c(seed, data, len)`: feed `data` into a CRC-32C register that holds
/// `seed`, without any inversion. Chaining is plain: `crc32c_drbd(crc32c_drbd(s, a), b)` equals
/// `crc32c_drbd(s, a ++ b)`.
pub fn crc32c_drbd(seed: u32, data: &[u8]) -> u32 {
    let mut crc = seed;
    for &b in data {
        crc = step(crc, b);
    }
    crc
}

/// Feed `n` zero bytes into the register (as if `crc32c_drbd(crc, &[0; n])`).
pub fn crc32c_drbd_zeros(seed: u32, n: usize) -> u32 {
    let mut crc = seed;
    for _ in 0..n {
        crc = step(crc, 0);
    }
    crc
}

/// The standard CRC-32C of `data` (init `!0`, final xor `!0`).
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_drbd(!0, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_known_entries() {
        assert_eq!(TABLE[0], 0);
        assert_eq!(TABLE[1], 0xF26B_8303);
        assert_eq!(TABLE[128], CRC32C_POLY_REFLECTED);
        assert_eq!(TABLE[255], 0xAD7D_5351);
    }

    #[test]
    fn standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    /// RFC 3720 (iSCSI) appendix B.4 test vectors.
    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113F_DB5C);
    }

    #[test]
    fn drbd_variant() {
        // Raw register, seed 0: zero input keeps the register at zero.
        assert_eq!(crc32c_drbd(0, &[0u8; 4096]), 0);
        assert_eq!(crc32c_drbd(0, b""), 0);
        assert_eq!(crc32c_drbd(0x1234_5678, b""), 0x1234_5678);
        // The standard variant is the raw one wrapped in inversions.
        assert_eq!(!crc32c_drbd(!0, b"123456789"), 0xE306_9283);
        // The raw value of "123456789" with seed 0 (no inversions).
        assert_eq!(crc32c_drbd(0, b"123456789"), 0x58E3_FA20);
    }

    /// The block drbdmeta create-md writes into every AL slot (spec §6.5/§9): only magic,
    /// the CRC and transaction type 0xFFFF are non-zero. Its seal is 0x709CC651 in the drbd
    /// variant, while the standard-parameter CRC-32C of the same block is 0xE86587D8.
    #[test]
    fn initialized_al_slot_crc() {
        let mut b = [0u8; 4096];
        b[0..4].copy_from_slice(&0x69CB_65A2u32.to_be_bytes());
        b[12..14].copy_from_slice(&0xFFFFu16.to_be_bytes());
        assert_eq!(crc32c_drbd(0, &b), 0x709C_C651);
        assert_eq!(crc32c(&b), 0xE865_87D8);
    }

    #[test]
    fn zeros_helper() {
        assert_eq!(
            crc32c_drbd_zeros(0xdead_beef, 7),
            crc32c_drbd(0xdead_beef, &[0; 7])
        );
    }

    proptest! {
        #[test]
        fn chaining(a in proptest::collection::vec(any::<u8>(), 0..300),
                    b in proptest::collection::vec(any::<u8>(), 0..300),
                    seed in any::<u32>()) {
            let mut ab = a.clone();
            ab.extend_from_slice(&b);
            prop_assert_eq!(crc32c_drbd(crc32c_drbd(seed, &a), &b), crc32c_drbd(seed, &ab));
        }

        #[test]
        fn matches_bitwise_reference(data in proptest::collection::vec(any::<u8>(), 0..300),
                                     seed in any::<u32>()) {
            let mut crc = seed;
            for &byte in &data {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 { (crc >> 1) ^ CRC32C_POLY_REFLECTED } else { crc >> 1 };
                }
            }
            prop_assert_eq!(crc32c_drbd(seed, &data), crc);
        }
    }
}
