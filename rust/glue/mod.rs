// SPDX-License-Identifier: GPL-2.0
//! Glue: the only place of `unsafe` and raw kernel interfaces. Each type is a small RAII
//! wrapper with a safe interface; `helpers.c` covers what 6.12's Rust bindings lack.

mod ffi;
pub(crate) mod genl;
pub(crate) mod module_info;
pub(crate) mod params;
pub(crate) mod procfs;
