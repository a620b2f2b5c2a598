// SPDX-License-Identifier: GPL-2.0
//! Core code in kernel context: text formatting and parameter limits.

use core::fmt::Write;

use crate::drbd_core::limits::{check_minor_count, ParamCheck, MINOR_COUNT};
use crate::drbd_core::proc_text::{write_header, BuildTag};
use crate::drbd_core::text_buf::TextBuf;

fn proc_header_module() {
    let mut buf = TextBuf::<128>::new();
    check!(write_header(&mut buf, BuildTag::SrcVersion("0123456789ABCDEF0123456")).is_ok());
    check_eq!(
        buf.as_str(),
        "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 0123456789ABCDEF0123456 \n"
    );
}

fn proc_header_overflow_is_reported() {
    // A too-small buffer must fail, not truncate silently: seq_file relies on this to retry.
    let mut buf = TextBuf::<16>::new();
    check!(write_header(&mut buf, BuildTag::BuiltIn).is_err());
    check!(buf.as_bytes().len() <= 16);
}

fn text_buf_appends() {
    let mut buf = TextBuf::<8>::new();
    check!(write!(buf, "{}-{}", 12, 34).is_ok());
    check_eq!(buf.as_str(), "12-34");
}

fn minor_count_limits() {
    check_eq!(
        check_minor_count(0),
        ParamCheck::Defaulted(MINOR_COUNT.default)
    );
    check_eq!(check_minor_count(255), ParamCheck::Valid(255));
    check_eq!(check_minor_count(1000).value(), MINOR_COUNT.default);
}

kunit_suite!(
    TEXT_SUITE,
    "drbd_rs_core_text",
    [
        proc_header_module,
        proc_header_overflow_is_reported,
        text_buf_appends
    ]
);
kunit_suite!(LIMITS_SUITE, "drbd_rs_core_limits", [minor_count_limits]);
