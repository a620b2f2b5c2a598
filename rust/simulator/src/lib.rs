//! Deterministic simulation harness for the drbd_rs core.
//!
//! The protocol engine in `drbd_core` is sans-I/O: events in, actions out. This crate is the
//! world around it on the host: virtual time, a seeded random source and an event queue, so
//! that any schedule of deliveries, losses and crashes is replayable from its seed. Nodes and
//! links plug in as the engine grows (replication issues); what exists now is the
//! deterministic base every scenario needs.

pub mod invariants;
pub mod rng;
pub mod scheduler;
pub mod world;

pub use rng::SimRng;
pub use scheduler::{Scheduler, VirtualTime};
