//! drbd_rs_tools: the library behind `drbdadm-rs`, the admin tool of drbd_rs (a DRBD
//! 8.4-compatible replicated block device).
//!
//! * [`config`]: reading, checking, evaluating and dumping drbd.conf.

#![warn(missing_docs)]

pub mod config;
