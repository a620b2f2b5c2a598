//! Numbers with unit suffixes (spec §2.5).
//!
//! A number may carry the suffix `K`/`k` (×2^10), `M`/`m` (×2^20), `G`/`g` (×2^30), `T`/`t`
//! (×2^40, beyond drbd-utils) or `s` (×512). The suffix is relative to **bytes**; the value is then converted into the
//! option's default unit (bytes, 512-byte sectors or KiB), rounding up. A plain number is
//! always in the default unit. For options whose unit is not a size (counts, seconds,
//! tenths of a second) the suffix simply multiplies (as drbdsetup does): `max-buffers 8K` is
//! 8192 — and `timeout 5s` is 2560 tenths of a second, because `s` means sectors, never
//! seconds.

use std::fmt;

/// The unit an option's plain numbers are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Bytes.
    Bytes,
    /// 512-byte sectors.
    Sectors,
    /// KiB (used for rates, KiB/s).
    KiB,
    /// A plain count (extents, buffers, requests, ...).
    Count,
    /// Seconds.
    Seconds,
    /// Tenths of a second.
    Deciseconds,
}

impl Unit {
    /// How many bytes one unit is, for size units; 1 for units that are not sizes.
    pub fn bytes(self) -> u64 {
        match self {
            Unit::Sectors => 512,
            Unit::KiB => 1024,
            Unit::Bytes | Unit::Count | Unit::Seconds | Unit::Deciseconds => 1,
        }
    }

    /// Whether this unit is a size (so `K`/`M`/`G`/`s` are conversions, not multipliers).
    pub fn is_size(self) -> bool {
        matches!(self, Unit::Bytes | Unit::Sectors | Unit::KiB)
    }

    /// How the unit is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Sectors => "512-byte sectors",
            Unit::KiB => "KiB",
            Unit::Count => "count",
            Unit::Seconds => "seconds",
            Unit::Deciseconds => "tenths of a second",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a number could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    /// The text does not start with a digit.
    NotANumber,
    /// The digits are followed by something that is not a known suffix.
    BadSuffix(String),
    /// The value does not fit in 64 bits.
    TooLarge,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::NotANumber => f.write_str("is not a number"),
            NumberError::BadSuffix(s) => write!(
                f,
                "has an unknown unit suffix '{s}' (allowed: K, M, G, T (also k, m, g, t) and s for \
                 512-byte sectors)"
            ),
            NumberError::TooLarge => f.write_str("is too large"),
        }
    }
}

/// The factor a suffix stands for, in bytes.
fn suffix_factor(suffix: &str) -> Option<u64> {
    match suffix {
        "K" | "k" => Some(1 << 10),
        "M" | "m" => Some(1 << 20),
        "G" | "g" => Some(1 << 30),
        // drbd-utils stops at G; T is ours (a terabyte device is no longer rare).
        "T" | "t" => Some(1 << 40),
        "s" => Some(512),
        _ => None,
    }
}

/// Read `text` (digits plus an optional suffix) as a value in `unit`.
pub fn parse_number(text: &str, unit: Unit) -> Result<u64, NumberError> {
    let digits_end = text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(text.len(), |(i, _)| i);
    if digits_end == 0 {
        return Err(NumberError::NotANumber);
    }
    let (digits, suffix) = text.split_at(digits_end);
    let n: u64 = digits.parse().map_err(|_| NumberError::TooLarge)?;
    if suffix.is_empty() {
        return Ok(n);
    }
    let factor = suffix_factor(suffix).ok_or_else(|| NumberError::BadSuffix(suffix.to_string()))?;
    let bytes = n.checked_mul(factor).ok_or(NumberError::TooLarge)?;
    let per = unit.bytes();
    Ok(bytes / per + u64::from(bytes % per != 0))
}

/// Render `value` (in `unit`) the shortest exact way: with the largest of `G`, `M`, `K`
/// that divides it (size units only), else as a plain number. Reading the result back with
/// [`parse_number`] gives `value` again.
pub fn format_number(value: u64, unit: Unit) -> String {
    if unit.is_size() && value != 0 {
        if let Some(bytes) = value.checked_mul(unit.bytes()) {
            for (suffix, factor) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
                if bytes % factor == 0 && factor >= unit.bytes() {
                    return format!("{}{}", bytes / factor, suffix);
                }
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(parse_number("10M", Unit::KiB), Ok(10_240));
        assert_eq!(parse_number("10G", Unit::Sectors), Ok(20_971_520));
        assert_eq!(parse_number("512K", Unit::Bytes), Ok(524_288));
        assert_eq!(parse_number("1M", Unit::Sectors), Ok(2048));
    }

    #[test]
    fn terabytes_as_the_help_text_promises() {
        assert_eq!(parse_number("1T", Unit::Sectors), Ok(1 << 31));
        assert_eq!(parse_number("2t", Unit::KiB), Ok(2 << 30));
        assert_eq!(
            parse_number("16777216T", Unit::Bytes),
            Err(NumberError::TooLarge),
            "2^64 bytes overflow"
        );
    }

    #[test]
    fn plain_numbers_are_in_the_default_unit() {
        assert_eq!(parse_number("250", Unit::KiB), Ok(250));
        assert_eq!(parse_number("100", Unit::Sectors), Ok(100));
        assert_eq!(parse_number("0", Unit::Bytes), Ok(0));
        assert_eq!(parse_number("60", Unit::Deciseconds), Ok(60));
    }

    #[test]
    fn lower_case_and_sectors() {
        assert_eq!(parse_number("10m", Unit::KiB), Ok(10_240));
        assert_eq!(parse_number("1g", Unit::KiB), Ok(1_048_576));
        assert_eq!(parse_number("4k", Unit::Sectors), Ok(8));
        assert_eq!(parse_number("8s", Unit::Bytes), Ok(4096));
        assert_eq!(parse_number("2s", Unit::KiB), Ok(1));
        assert_eq!(parse_number("3s", Unit::KiB), Ok(2), "rounds up");
        assert_eq!(parse_number("1K", Unit::Sectors), Ok(2));
        assert_eq!(parse_number("1s", Unit::Sectors), Ok(1));
    }

    #[test]
    fn suffixes_multiply_non_size_units() {
        assert_eq!(parse_number("8K", Unit::Count), Ok(8192));
        // 's' is sectors, never seconds.
        assert_eq!(parse_number("5s", Unit::Deciseconds), Ok(2560));
        assert_eq!(parse_number("1M", Unit::Seconds), Ok(1 << 20));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_number("", Unit::KiB), Err(NumberError::NotANumber));
        assert_eq!(parse_number("M", Unit::KiB), Err(NumberError::NotANumber));
        assert_eq!(parse_number("-1", Unit::KiB), Err(NumberError::NotANumber));
        assert_eq!(
            parse_number("10MB", Unit::KiB),
            Err(NumberError::BadSuffix("MB".into()))
        );
        assert_eq!(
            parse_number("10 ", Unit::KiB),
            Err(NumberError::BadSuffix(" ".into()))
        );
        assert_eq!(
            parse_number("99999999999999999999999", Unit::KiB),
            Err(NumberError::TooLarge)
        );
        assert_eq!(
            parse_number("18446744073709551615G", Unit::KiB),
            Err(NumberError::TooLarge)
        );
        assert!(NumberError::BadSuffix("MB".into())
            .to_string()
            .contains("unknown unit suffix 'MB'"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_number(10_240, Unit::KiB), "10M");
        assert_eq!(format_number(20_971_520, Unit::Sectors), "10G");
        assert_eq!(format_number(524_288, Unit::Bytes), "512K");
        assert_eq!(format_number(250, Unit::KiB), "250K");
        assert_eq!(format_number(100, Unit::Sectors), "50K");
        assert_eq!(format_number(101, Unit::Sectors), "101");
        assert_eq!(format_number(1000, Unit::Bytes), "1000");
        assert_eq!(format_number(0, Unit::KiB), "0");
        assert_eq!(format_number(2048, Unit::Count), "2048");
        assert_eq!(format_number(u64::MAX, Unit::KiB), u64::MAX.to_string());
    }

    #[test]
    fn format_then_parse_is_identity() {
        for unit in [
            Unit::Bytes,
            Unit::Sectors,
            Unit::KiB,
            Unit::Count,
            Unit::Seconds,
            Unit::Deciseconds,
        ] {
            for v in [
                0,
                1,
                7,
                100,
                512,
                1023,
                1024,
                2048,
                4_194_304,
                1 << 41,
                12345,
            ] {
                assert_eq!(
                    parse_number(&format_number(v, unit), unit),
                    Ok(v),
                    "{v} {unit}"
                );
            }
        }
    }
}
