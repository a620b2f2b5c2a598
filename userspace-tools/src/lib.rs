//! drbd_rs_tools: the library behind `drbdadm-rs`, the admin tool of drbd_rs (a DRBD
//! 8.4-compatible replicated block device).
//!
//! * [`config`]: reading, checking, evaluating and dumping drbd.conf.
//! * [`netlink`]: the generic-netlink transport to the kernel's `drbd` family.
//! * [`admin`]: the requests the tool makes (new-resource, attach, primary, status, ...).
//! * [`meta`]: meta data on lower devices (create-md, apply-al).
//! * [`adjust`]: what `adjust` does: the running configuration compared with the file.
//! * [`plan`]: a command as steps, each drbdadm-84's command line (what `-d` prints) and
//!   what drbdadm-rs does for it.

#![warn(missing_docs)]

pub mod adjust;
pub mod admin;
pub mod config;
pub mod meta;
pub mod netlink;
pub mod plan;
