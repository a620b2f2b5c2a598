// SPDX-License-Identifier: GPL-2.0
//! Error codes the `kernel` crate of 6.12 does not name.

use kernel::bindings;
use kernel::error::Error;

/// EMEDIUMTYPE: what drbd answers when a Secondary is opened for reading.
pub(crate) fn emediumtype() -> Error {
    Error::from_errno(-(bindings::EMEDIUMTYPE as i32))
}

/// EOPNOTSUPP: operation not supported.
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}
