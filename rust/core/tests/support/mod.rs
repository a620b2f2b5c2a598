// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by integration tests (not a test target itself).

#![allow(dead_code)]

pub mod pcap;
