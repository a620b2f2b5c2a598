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

/// ETIMEDOUT: a wait ran out of time.
pub(crate) fn etimedout() -> Error {
    Error::from_errno(-(bindings::ETIMEDOUT as i32))
}

/// ECONNRESET: the peer closed or reset the connection.
pub(crate) fn econnreset() -> Error {
    Error::from_errno(-(bindings::ECONNRESET as i32))
}

/// ESHUTDOWN: the socket was shut down on this side.
pub(crate) fn eshutdown() -> Error {
    Error::from_errno(-(bindings::ESHUTDOWN as i32))
}

/// EAFNOSUPPORT: an address family we cannot open sockets of.
pub(crate) fn eafnosupport() -> Error {
    Error::from_errno(-(bindings::EAFNOSUPPORT as i32))
}
