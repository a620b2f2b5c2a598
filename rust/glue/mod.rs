// SPDX-License-Identifier: GPL-2.0
//! Glue: the only place of `unsafe` and raw kernel interfaces. Each type is a small RAII
//! wrapper with a safe interface; `helpers.c` covers what 6.12's Rust bindings lack.

pub(crate) mod block;
pub(crate) mod drain;
pub(crate) mod errno;
mod ffi;
pub(crate) mod genl;
pub(crate) mod kthread;
pub(crate) mod module_info;
pub(crate) mod params;
pub(crate) mod procfs;
pub(crate) mod sys;
