// SPDX-License-Identifier: GPL-2.0
//! Replication decisions: the life of a replicated write on the submitting node, the write
//! epochs on both ends of a connection, resync (plain and checksum-based) and online verify.
//!
//! Spec: `wire-protocol.md` §5.1–5.3. These are value types the caller keeps (the engine in
//! its request objects, the simulator in its tables): they decide, the caller performs the
//! I/O and sends the packets.

pub mod conflicts;
pub mod connection;
pub mod csums;
pub mod epochs;
pub mod establish;
pub mod fencing;
pub mod io_errors;
pub mod request;
pub mod resync_handlers;
pub mod resync_path;
pub mod settings;
pub mod sync_control;
pub mod sync_handshake;
#[cfg(test)]
mod test_support;
pub mod verify;
pub mod writes;

pub use super::proc_text::{WireProtocol, WriteOrdering};
