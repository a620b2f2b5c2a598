// SPDX-License-Identifier: GPL-2.0
//! Limits and defaults of configurable values (`drbd_limits.h` in DRBD 8.4).

/// A value's allowed range and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Smallest accepted value.
    pub min: u32,
    /// Largest accepted value.
    pub max: u32,
    /// Value used when none is given.
    pub default: u32,
}

impl Range {
    /// Whether `value` is accepted.
    pub const fn contains(&self, value: u32) -> bool {
        value >= self.min && value <= self.max
    }
}

/// The `minor_count` module parameter: a sizing hint, not a hard limit on minors.
pub const MINOR_COUNT: Range = Range {
    min: 1,
    max: 255,
    default: 32,
};

/// Outcome of checking a module parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamCheck {
    /// The value to use.
    Valid(u32),
    /// Not given: use the default.
    Defaulted(u32),
    /// Out of range: use the default, and the caller should say so (drbd does the same
    /// rather than refuse to load).
    Invalid {
        /// The rejected value.
        given: u32,
        /// The value used instead.
        used: u32,
    },
}

/// Check a `minor_count` given at load time; 0 means "not given".
pub const fn check_minor_count(given: u32) -> ParamCheck {
    if given == 0 {
        ParamCheck::Defaulted(MINOR_COUNT.default)
    } else if MINOR_COUNT.contains(given) {
        ParamCheck::Valid(given)
    } else {
        ParamCheck::Invalid {
            given,
            used: MINOR_COUNT.default,
        }
    }
}

impl ParamCheck {
    /// The value in effect.
    pub const fn value(self) -> u32 {
        match self {
            ParamCheck::Valid(v) | ParamCheck::Defaulted(v) => v,
            ParamCheck::Invalid { used, .. } => used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_count_bounds() {
        assert_eq!(check_minor_count(0), ParamCheck::Defaulted(32));
        assert_eq!(check_minor_count(1), ParamCheck::Valid(1));
        assert_eq!(check_minor_count(255), ParamCheck::Valid(255));
        assert_eq!(
            check_minor_count(256),
            ParamCheck::Invalid {
                given: 256,
                used: 32
            }
        );
        assert_eq!(check_minor_count(256).value(), 32);
    }
}
