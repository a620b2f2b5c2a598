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

/// A number from the environment, for the seeded tests (`DRBD_SIM_SEEDS=10000`,
/// `DRBD_SIM_SEED=42` to replay one): `None` when unset or not a number.
pub fn env_u64(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}
pub use scheduler::{Scheduler, VirtualTime};
