//! Every error path: each error names file:line, says what is wrong and what to do.

use std::path::PathBuf;

use drbd_rs_tools::config::{self, ConfigError, ErrorKind, Legacy, ParseOptions};

const HOSTS: &str =
    "on alice { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }
on bob { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.2:7789; meta-disk internal; }";

fn err(text: &str) -> ConfigError {
    match config::parse_str(text, "drbd.conf") {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e,
    }
}

/// Assert kind, `drbd.conf:LINE: ` prefix and a message fragment.
fn check(text: &str, kind: ErrorKind, line: u32, fragment: &str) -> ConfigError {
    let e = err(text);
    let shown = e.to_string();
    assert_eq!(e.kind(), kind, "{shown}");
    assert!(
        shown.starts_with(&format!("drbd.conf:{line}: ")),
        "expected line {line}: {shown}"
    );
    assert!(shown.contains(fragment), "'{fragment}' not in: {shown}");
    assert_eq!(e.location().unwrap().file.as_ref(), "drbd.conf");
    e
}

/// A resource with `extra` inside, on line 2 (the hosts follow on lines 3 and 4).
fn res(extra: &str) -> String {
    format!("resource r0 {{\n{extra}\n{HOSTS}\n}}\n")
}

#[test]
fn lexer_errors() {
    check(
        "resource r0 {\n handlers { split-brain \"echo\n x\"; } }",
        ErrorKind::Syntax,
        2,
        "unterminated quoted string: strings cannot span lines",
    );
    check(
        "\n\n\"abc",
        ErrorKind::Syntax,
        3,
        "the closing '\"' is missing",
    );
    let long = "x".repeat(129);
    check(
        &format!("resource {long} {{ }}"),
        ErrorKind::Syntax,
        1,
        "string too long",
    );
    check(
        &format!(
            "resource r0 {{ handlers {{ split-brain \"{}\"; }} }}",
            "y".repeat(300)
        ),
        ErrorKind::Syntax,
        1,
        "quoted string too long (more than 255 characters)",
    );
    let e = check(
        "global {\u{7}}",
        ErrorKind::Syntax,
        1,
        "unexpected character U+0007",
    );
    assert_eq!(e.location().unwrap().column, 9);
    assert_eq!(e.exit_code(), 10, "drbdadm-84: a parse error");
    // Not UTF-8: read as Latin-1, so a stray byte is an error about the value it is in.
    let e = config::parse_bytes(b"global {\n usage-count \xa7; }", "bin.conf").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert!(e.to_string().starts_with("bin.conf:2: "), "{e}");
    assert!(e.to_string().contains("usage-count"), "{e}");
}

#[test]
fn latin1_comments_are_read_as_drbdadm_84_reads_them() {
    // "# Réplication" saved by a Latin-1 editor: 0xE9 is not UTF-8.
    let cfg = config::parse_bytes(
        b"# R\xe9plication des donn\xe9es\nglobal { usage-count no; } # \xa7 4\n",
        "latin1.conf",
    )
    .expect("a Latin-1 comment must not reject the file");
    assert_eq!(cfg.global.usage_count, Some(config::UsageCount::No));
}

#[test]
fn top_level_errors() {
    let e = check(
        "\nresorce r0 { }",
        ErrorKind::Parse,
        2,
        "unknown keyword 'resorce' at top level",
    );
    assert!(e.message().contains("(did you mean 'resource'?)"));
    assert_eq!(e.exit_code(), 10);
    check(
        "{ }",
        ErrorKind::Parse,
        1,
        "expected 'global', 'common', 'resource'",
    );
    check(
        "resource r0 {\n on alice { address 10.0.0.1:7789; ",
        ErrorKind::Parse,
        2,
        "unexpected end of file in 'on alice' of resource r0 opened at drbd.conf:2: a '}' is missing",
    );
    check(
        "resource r0 {\n",
        ErrorKind::Parse,
        2,
        "unexpected end of file in resource r0 opened at drbd.conf:1",
    );
    check(
        "skip {\n { }",
        ErrorKind::Parse,
        2,
        "end of file inside the skip block started at drbd.conf:1",
    );
    check(
        "skip ;",
        ErrorKind::Parse,
        1,
        "expected '{' to start the skipped block",
    );
    check(
        "resource",
        ErrorKind::Parse,
        1,
        "expected a resource name after 'resource', got end of file",
    );
    check(
        "resource r0 ;",
        ErrorKind::Parse,
        1,
        "expected '{' after resource r0, got ';'",
    );
}

#[test]
fn global_errors() {
    check(
        "global {\n usage-count maybe; }",
        ErrorKind::Parse,
        2,
        "usage-count must be yes, no or ask, not 'maybe'",
    );
    check(
        "global {\n minor-count 300; }",
        ErrorKind::OutOfRange,
        2,
        "minor-count 300 => 300 out of range [1..255]",
    );
    check(
        "global { cmd-timeout-long 901; }",
        ErrorKind::OutOfRange,
        1,
        "cmd-timeout-long 901 => 901 out of range [0..900]",
    );
    check(
        "global { dialog-refresh x; }",
        ErrorKind::Parse,
        1,
        "dialog-refresh: 'x' is not a number",
    );
    check(
        "global { disable-ip-verification maybe; }",
        ErrorKind::Parse,
        1,
        "disable-ip-verification is a flag: write 'disable-ip-verification;'",
    );
    let e = check(
        "global {\n usage-cont no; }",
        ErrorKind::Parse,
        2,
        "unknown keyword 'usage-cont' in section global",
    );
    assert!(e.message().contains("did you mean 'usage-count'"));
    check(
        "global { }\nglobal { }",
        ErrorKind::Invalid,
        2,
        "a second 'global' section (the first is at drbd.conf:1)",
    );
    check(
        "global { usage-count no }",
        ErrorKind::Parse,
        1,
        "expected ';' after usage-count, got '}'",
    );
    check(
        "global { ; }",
        ErrorKind::Parse,
        1,
        "expected a global option or '}', got ';'",
    );
    check(
        "global {",
        ErrorKind::Parse,
        1,
        "unexpected end of file in the global section",
    );
}

#[test]
fn common_errors() {
    check(
        "common {\n on alice { } }",
        ErrorKind::Parse,
        2,
        "'on' is not allowed in the common section",
    );
    check(
        "common {\n disk /dev/sdb1; }",
        ErrorKind::Parse,
        2,
        "'disk PATH;' is not allowed in the common section",
    );
    let e = check(
        "common { nett { } }",
        ErrorKind::Parse,
        1,
        "unknown keyword 'nett' in the common section",
    );
    assert!(e.message().contains("did you mean 'net'"));
    check(
        "common { }\ncommon { }",
        ErrorKind::Invalid,
        2,
        "a second 'common' section",
    );
}

#[test]
fn resource_errors() {
    check(
        "resource a/b { }",
        ErrorKind::Parse,
        1,
        "invalid resource name 'a/b': it may not contain '/'",
    );
    check(
        "resource \"\" { }",
        ErrorKind::Parse,
        1,
        "invalid resource name '': it is empty",
    );
    check(
        "resource \"a b\" { }",
        ErrorKind::Parse,
        1,
        "may not contain white space",
    );
    check(
        &format!("{}resource r0 {{ }}", res("")),
        ErrorKind::Invalid,
        6,
        "resource 'r0' is defined twice (first at drbd.conf:1)",
    );
    let e = check(
        &res("protocl C;"),
        ErrorKind::Parse,
        2,
        "unknown keyword 'protocl' in resource r0",
    );
    assert!(e.message().contains("(did you mean 'protocol'?)"));
    check(
        &res("protocol D;"),
        ErrorKind::Parse,
        2,
        "unknown protocol 'D'; expected A, B or C",
    );
    check(
        &res("; "),
        ErrorKind::Parse,
        2,
        "expected a keyword or '}' in resource r0, got ';'",
    );
    let e = check(
        &res("stacked-on-top-of r9 { }"),
        ErrorKind::Unsupported,
        2,
        "stacked resources ('stacked-on-top-of') are not supported",
    );
    assert_eq!(e.exit_code(), 10);
}

#[test]
fn option_errors() {
    // The brief's own example.
    let e = check(
        "resource r0 {\n syncer {\n  rat 10M; } }",
        ErrorKind::Parse,
        3,
        "unknown keyword 'rat' in section syncer (did you mean 'rate'?)",
    );
    assert_eq!(
        e.to_string(),
        "drbd.conf:3: unknown keyword 'rat' in section syncer (did you mean 'rate'?)"
    );
    check(
        &res("disk { resync-rat 10M; }"),
        ErrorKind::Parse,
        2,
        "(did you mean 'resync-rate'?)",
    );
    check(
        &res("net { resync-rate 10M; }"),
        ErrorKind::Parse,
        2,
        "'resync-rate' belongs into the disk section",
    );
    check(
        &res("disk { verify-alg sha1; }"),
        ErrorKind::Parse,
        2,
        "'verify-alg' belongs into the net section",
    );
    check(
        &res("disk { resync-rate 10M }"),
        ErrorKind::Parse,
        2,
        "expected ';' after resync-rate, got '}'",
    );
    check(
        &res("disk { resync-rate 10 M; }"),
        ErrorKind::Parse,
        2,
        "expected ';' after resync-rate, got 'M'",
    );
    check(
        &res("disk { resync-rate ; }"),
        ErrorKind::Parse,
        2,
        "expected a number after resync-rate, got ';'",
    );
    check(
        &res("disk { resync-rate fast; }"),
        ErrorKind::Parse,
        2,
        "resync-rate: 'fast' is not a number",
    );
    check(
        &res("disk { resync-rate 10MB; }"),
        ErrorKind::Parse,
        2,
        "resync-rate: '10MB' has an unknown unit suffix 'MB' (allowed: K, M, G, T (also k, m, g, t) and s for 512-byte sectors); plain numbers are in KiB",
    );
    check(
        &res("net { timeout 700; }"),
        ErrorKind::OutOfRange,
        2,
        "timeout 700 => 700 out of range [1..600] (tenths of a second)",
    );
    check(
        &res("net { timeout 5s; }"),
        ErrorKind::OutOfRange,
        2,
        "timeout 5s => 2560 out of range [1..600] (tenths of a second); note: the suffix 's' means 512-byte sectors, not seconds",
    );
    check(
        &res("disk { resync-rate 5G; }"),
        ErrorKind::OutOfRange,
        2,
        "resync-rate 5G => 5242880 out of range [1..4194304] (KiB)",
    );
    check(
        &res("disk { resync-rate 0; }"),
        ErrorKind::OutOfRange,
        2,
        "resync-rate 0 => 0 out of range",
    );
    check(
        &res("disk { c-max-rate 100; }"),
        ErrorKind::OutOfRange,
        2,
        "c-max-rate 100 => 100 out of range [250..4194304]",
    );
    check(
        &res("disk { size 2P; }"),
        ErrorKind::Parse,
        2,
        "unknown unit suffix 'P'",
    );
    check(
        &res("disk { size 1048577G; }"),
        ErrorKind::OutOfRange,
        2,
        "size 1048577G => 2199025352704 out of range [0..2199023255552]",
    );
    check(
        &res("net { sndbuf-size 11M; }"),
        ErrorKind::OutOfRange,
        2,
        "sndbuf-size 11M => 11534336 out of range [0..10485760] (bytes)",
    );
    check(
        &res("net { max-buffers 16; }"),
        ErrorKind::OutOfRange,
        2,
        "max-buffers 16 => 16 out of range [32..131072]",
    );
    check(
        &res("net { ko-count 99999999999999999999999; }"),
        ErrorKind::Parse,
        2,
        "is too large",
    );
    check(
        &res("startup { wfc-timeout 300001; }"),
        ErrorKind::OutOfRange,
        2,
        "wfc-timeout 300001 => 300001 out of range [0..300000] (seconds)",
    );
    let e = check(
        &res("disk { on-io-error panic; }"),
        ErrorKind::Parse,
        2,
        "unknown value 'panic' for on-io-error",
    );
    assert!(e
        .message()
        .contains("expected one of: pass_on, call-local-io-error, detach"));
    assert!(e.message().contains("'panic' is gone since DRBD 8.0"));
    let e = check(
        &res("net { after-sb-0pri discard-zero-change; }"),
        ErrorKind::Parse,
        2,
        "unknown value 'discard-zero-change' for after-sb-0pri",
    );
    assert!(e
        .message()
        .contains("(did you mean 'discard-zero-changes'?)"));
    assert!(e.message().contains("discard-node-HOSTNAME"));
    check(
        &res("net { after-sb-0pri discard-node-; }"),
        ErrorKind::Parse,
        2,
        "unknown value 'discard-node-'",
    );
    check(
        &res("net { after-sb-1pri discard-zero-changes; }"),
        ErrorKind::Parse,
        2,
        "expected one of: disconnect, consensus",
    );
    check(&res("net { shared-secret 0123456789012345678901234567890123456789012345678901234567890123; }"), ErrorKind::Parse, 2, "the value of shared-secret is too long (at most 63 characters)");
    check(
        &res("options { cpu-mask xyz; }"),
        ErrorKind::Parse,
        2,
        "invalid cpu-mask 'xyz'",
    );
    check(
        &res("disk { resync-after r1/x; }"),
        ErrorKind::Parse,
        2,
        "invalid resync-after value 'r1/x'",
    );
    check(
        &res("startup { become-primary-on ; }"),
        ErrorKind::Parse,
        2,
        "expected a host name (or 'both') after become-primary-on, got ';'",
    );
    check(
        &res("disk { disk-flushes maybe; }"),
        ErrorKind::Parse,
        2,
        "disk-flushes is a flag: write 'disk-flushes;', 'disk-flushes yes;' or 'disk-flushes no;'",
    );
    check(
        &res("disk { no-resync-rate; }"),
        ErrorKind::Parse,
        2,
        "unknown keyword 'no-resync-rate' in section disk",
    );
    check(
        &res("net { discard-my-data; }"),
        ErrorKind::Parse,
        2,
        "use 'drbdadm connect --discard-my-data RESOURCE'",
    );
    check(
        &res("handlers { split-brian \"x\"; }"),
        ErrorKind::Parse,
        2,
        "(did you mean 'split-brain'?)",
    );
    check(
        &res("handlers { split-brain; }"),
        ErrorKind::Parse,
        2,
        "expected a command after split-brain, got ';'",
    );
    check(
        &res("net { [ }"),
        ErrorKind::Parse,
        2,
        "expected an option name or '}' in section net, got '['",
    );
    check(
        &res("net { timeout 60; "),
        ErrorKind::Parse,
        3,
        "unknown keyword 'on' in section net; is a '}' missing before 'on'?",
    );
    check(
        &res("syncer { verify-alg; }"),
        ErrorKind::Parse,
        2,
        "expected a value after verify-alg, got ';'",
    );
    check(
        &res("syncer { 7; }"),
        ErrorKind::Parse,
        2,
        "unknown keyword '7' in section syncer",
    );
    check(
        &res("syncer { \"rate\" 1; }"),
        ErrorKind::Parse,
        2,
        "expected a syncer option keyword or '}', got \"rate\"",
    );
}

#[test]
fn legacy_keywords_in_strict_mode() {
    let strict = ParseOptions {
        legacy: Legacy::Reject,
    };
    let e = |text: &str| config::parse_str_with(text, "drbd.conf", &strict).unwrap_err();
    let x = e(&res("syncer { rate 10M; group 1; }"));
    assert_eq!(x.kind(), ErrorKind::Parse);
    assert!(x
        .to_string()
        .starts_with("drbd.conf:2: 'a syncer option keyword' expected, but got 'group'"));
    let x = e(&res("net { on-disconnect reconnect; }"));
    assert!(x
        .message()
        .contains("'on-disconnect' (DRBD 0.7) is not accepted any more"));
    let x = e(&res("incon-degr-cmd \"halt -f\";"));
    assert!(x
        .message()
        .contains("write 'handlers { pri-on-incon-degr \"...\"; }' instead"));
    let x = e(&res("syncer { delay-probe-volume 10; }"));
    assert!(x
        .message()
        .contains("unknown keyword 'delay-probe-volume' in section syncer"));
    // The same is accepted (with warnings) by default.
    let c = config::parse_str(
        &res("syncer { rate 10M; group 1; delay-probe-volume 10; }"),
        "drbd.conf",
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 2);
}

#[test]
fn volume_errors() {
    check(
        "resource r0 {\n on alice { volume 65535 { } } }",
        ErrorKind::OutOfRange,
        2,
        "volume 65535 => 65535 out of range [0..65534]",
    );
    check(
        "resource r0 {\n volume 0 { device minor 0; }\n volume 0 { } }",
        ErrorKind::Invalid,
        3,
        "volume 0 is defined twice (first at drbd.conf:2)",
    );
    check(
        "resource r0 {\n device minor 0;\n volume 1 { } }",
        ErrorKind::Invalid,
        3,
        "in resource r0: you must not mix implicit and explicit volumes",
    );
    check(
        "resource r0 {\n on alice {\n volume 1 { device minor 1; }\n disk /dev/sdb; } }",
        ErrorKind::Invalid,
        4,
        "in resource r0, on alice: you must not mix implicit and explicit volumes",
    );
    check(
        "resource r0 {\n device minor 0;\n device minor 1; }",
        ErrorKind::Invalid,
        3,
        "'device' is given twice for volume 0",
    );
    check(
        "resource r0 {\n volume 0 { disk /a;\n disk /b; } }",
        ErrorKind::Invalid,
        3,
        "'disk' is given twice for volume 0",
    );
    check(
        "resource r0 {\n meta-disk internal;\n flexible-meta-disk /x; }",
        ErrorKind::Invalid,
        3,
        "'meta-disk' is given twice",
    );
    check(
        "resource r0 {\n volume 0 { address 10.0.0.1:1; } }",
        ErrorKind::Parse,
        2,
        "unknown keyword 'address' in volume 0",
    );
    check(
        "resource r0 {\n volume 0 { device minor 0; ",
        ErrorKind::Parse,
        2,
        "unexpected end of file in volume 0",
    );
    check(
        "resource r0 {\n volume x { } }",
        ErrorKind::Parse,
        2,
        "volume: 'x' is not a number",
    );
}

#[test]
fn device_errors() {
    check(
        "resource r0 {\n device /dev/sdb1; }",
        ErrorKind::Parse,
        2,
        "device name '/dev/sdb1' must start with /dev/drbd",
    );
    check(
        "resource r0 {\n device /dev/drbd0 minor 1; }",
        ErrorKind::Parse,
        2,
        "explicit minor number 1 must match the device name /dev/drbd0; write 'device /dev/drbd1 minor 1;'",
    );
    check("resource r0 {\n device /dev/drbd_x; }", ErrorKind::Parse, 2, "cannot take a minor number from the device name '/dev/drbd_x'; write 'device /dev/drbd_x minor N;'");
    check(
        "resource r0 {\n device /dev/drbdx minor 1; }",
        ErrorKind::Parse,
        2,
        "arbitrary device names must start with /dev/drbd_ (mind the '_')",
    );
    check(
        "resource r0 {\n device minor 1048576; }",
        ErrorKind::OutOfRange,
        2,
        "minor 1048576 => 1048576 out of range [0..1048575]",
    );
    check(
        "resource r0 {\n device /dev/drbd1048576; }",
        ErrorKind::OutOfRange,
        2,
        "minor 1048576 => 1048576 out of range",
    );
    check(
        "resource r0 {\n device ; }",
        ErrorKind::Parse,
        2,
        "expected a device name or 'minor N' after 'device', got ';'",
    );
    check(
        "resource r0 {\n device minor; }",
        ErrorKind::Parse,
        2,
        "expected a minor number after 'minor', got ';'",
    );
}

#[test]
fn meta_disk_errors() {
    check(
        "resource r0 {\n flexible-meta-disk /dev/sdc[0]; }",
        ErrorKind::Parse,
        2,
        "flexible-meta-disk takes no index",
    );
    check(
        "resource r0 {\n meta-disk /dev/sdc[0; }",
        ErrorKind::Parse,
        2,
        "expected ']' after the meta-disk index, got ';'",
    );
    check(
        "resource r0 {\n meta-disk /dev/sdc[x]; }",
        ErrorKind::Parse,
        2,
        "meta-disk index: 'x' is not a number",
    );
    check(
        "resource r0 {\n meta-disk ; }",
        ErrorKind::Parse,
        2,
        "expected 'internal' or a device after 'meta-disk', got ';'",
    );
    check(
        "resource r0 {\n meta-disk internal }",
        ErrorKind::Parse,
        2,
        "expected ';' after meta-disk, got '}'",
    );
}

#[test]
fn address_errors() {
    let r = |addr: &str| format!("resource r0 {{\n on alice {{ address {addr}; }} }}");
    check(
        &r("node1:7789"),
        ErrorKind::Parse,
        2,
        "'node1' is not an IP address; drbd.conf needs a numeric address",
    );
    check(
        &r("ipv6 fd00::1:7789"),
        ErrorKind::Parse,
        2,
        "IPv6 addresses must be written in brackets, e.g. 'address ipv6 [fd00::1]:7789;'",
    );
    check(
        &r("ipv6 10.0.0.1:7789"),
        ErrorKind::Parse,
        2,
        "'10.0.0.1' is an IPv4 address but the family is ipv6",
    );
    check(
        &r("ipv4 [fd00::1]:7789"),
        ErrorKind::Parse,
        2,
        "'fd00::1' is an IPv6 address but the family is ipv4",
    );
    check(
        &r("[1:2:3:4:5:6:7:8:9]:7789"),
        ErrorKind::Parse,
        2,
        "'1:2:3:4:5:6:7:8:9' is not a valid IPv6 address",
    );
    check(
        &r("10.0.0.1"),
        ErrorKind::Parse,
        2,
        "expected ':' and a port after the address 10.0.0.1, got ';'",
    );
    check(
        &r("10.0.0.1:0"),
        ErrorKind::OutOfRange,
        2,
        "port 0 => 0 out of range [1..65535]",
    );
    check(
        &r("10.0.0.1:65536"),
        ErrorKind::OutOfRange,
        2,
        "port 65536 => 65536 out of range [1..65535]",
    );
    check(
        &r("10.0.0.1:"),
        ErrorKind::Parse,
        2,
        "expected a port number after ':', got ';'",
    );
    check(
        &r("{"),
        ErrorKind::Parse,
        2,
        "expected an IP address such as 10.0.0.1:7789, got '{'",
    );
    check(
        "resource r0 {\n on alice { address 10.0.0.1:1;\n address 10.0.0.1:2; } }",
        ErrorKind::Invalid,
        3,
        "in resource r0, on alice: 'address' is given twice",
    );
    check(
        "resource r0 {\n floating 10.0.0.1:1 {\n address 10.0.0.1:2; } }",
        ErrorKind::Parse,
        3,
        "a floating section has its address after 'floating'",
    );
    check(
        "resource r0 {\n floating 10.0.0.1:1 }",
        ErrorKind::Parse,
        2,
        "expected ';' or '{' after the floating address, got '}'",
    );
}

#[test]
fn host_section_errors() {
    check(
        "resource r0 {\n on { } }",
        ErrorKind::Parse,
        2,
        "expected a host name after 'on' in resource r0, got '{'",
    );
    let e = check(
        "resource r0 {\n on alice {\n adress 10.0.0.1:1; } }",
        ErrorKind::Parse,
        3,
        "unknown keyword 'adress' in resource r0, on alice",
    );
    assert!(e.message().contains("(did you mean 'address'?)"));
    check(
        "resource r0 {\n on alice {\n ; } }",
        ErrorKind::Parse,
        3,
        "expected a keyword or '}' in resource r0, on alice, got ';'",
    );
}

#[test]
fn missing_statements() {
    check(
        "resource r0 {\n on alice { device /dev/drbd0; disk /dev/sdb1; meta-disk internal; }\n}",
        ErrorKind::Invalid,
        2,
        "in resource r0, on alice { ... }: 'address' keyword missing. Add e.g. 'address 10.0.0.1:7789;'.",
    );
    check(
        "resource r0 {\n on alice { disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }\n}",
        ErrorKind::Invalid,
        2,
        "in resource r0, on alice { ... }: 'device' keyword missing.",
    );
    check(
        "resource r0 {\n on alice { device minor 0; address 10.0.0.1:7789; meta-disk internal; }\n}",
        ErrorKind::Invalid,
        2,
        "in resource r0, on alice { ... }: 'disk' keyword missing. Add e.g. 'disk /dev/sdb1;'.",
    );
    check(
        "resource r0 {\n on alice { device minor 0; disk /dev/sdb1; address 10.0.0.1:7789; }\n}",
        ErrorKind::Invalid,
        2,
        "in resource r0, on alice { ... }: 'meta-disk' keyword missing. Add e.g. 'meta-disk internal;'.",
    );
    check(
        "resource r0 {\n volume 1 { device minor 1; disk /dev/sdc; }\n on alice { address 10.0.0.1:7789; }\n}",
        ErrorKind::Invalid,
        3,
        "in resource r0, on alice { ... } volume 1: 'meta-disk' keyword missing.",
    );
    check(
        "resource r0 {\n on alice { address 10.0.0.1:7789; }\n}",
        ErrorKind::Invalid,
        2,
        "'device' keyword missing",
    );
}

#[test]
fn inconsistent_resources() {
    check(
        "resource r0 {\n device minor 0; disk /a; meta-disk internal;\n on alice { address 10.0.0.1:1; }\n on bob {\n volume 0 { device minor 0; disk /b; meta-disk internal; } address 10.0.0.2:1; } }",
        ErrorKind::Invalid,
        5,
        "in resource r0, on bob { ... }: volume 0 is implicit at one level and explicit at the other (resource level at drbd.conf:2)",
    );
    check(
        "resource r0 {\n on alice { volume 0 { device minor 0; disk /a; meta-disk internal; } address 10.0.0.1:1; }\n on bob { volume 1 { device minor 0; disk /a; meta-disk internal; } address 10.0.0.2:1; } }",
        ErrorKind::Invalid,
        3,
        "in resource r0: volume 0 is defined for 'on alice' but not for 'on bob'",
    );
    check(
        "resource r0 {\n on alice { volume 0 { device minor 0; disk /a; meta-disk internal; } address 10.0.0.1:1; }\n on bob { volume 0 { device minor 0; disk /a; meta-disk internal; }\n volume 1 { device minor 1; disk /a; meta-disk internal; } address 10.0.0.2:1; } }",
        ErrorKind::Invalid,
        3,
        "in resource r0: volume 1 is defined for 'on bob' but not for 'on alice'",
    );
    check(
        &format!("resource r0 {{\n{HOSTS}\n on alice {{ }} }}"),
        ErrorKind::Invalid,
        4,
        "in resource r0: host 'alice' has two 'on' sections (the first at drbd.conf:2)",
    );
    check(
        &res("startup {\n become-primary-on both; }"),
        ErrorKind::Invalid,
        3,
        "become-primary-on is set to both, but allow-two-primaries is not set",
    );
    let two = format!(
        "{}resource r1 {{\n on alice {{ device /dev/drbd0; disk /dev/sdc1; address 10.0.0.1:7790; meta-disk internal; }}\n}}",
        res("")
    );
    check(
        &two,
        ErrorKind::Invalid,
        7,
        "minor 0 is used twice on host 'alice': by resource r0 (at drbd.conf:3) and by resource r1",
    );
    let two = format!(
        "{}resource r1 {{\n on alice {{ device /dev/drbd1; disk /dev/sdc1; address 10.0.0.1:7789; meta-disk internal; }}\n}}",
        res("")
    );
    check(
        &two,
        ErrorKind::Invalid,
        7,
        "address 10.0.0.1:7789 is used twice: by resource r0 (at drbd.conf:3) and by resource r1",
    );
}

#[test]
fn include_errors() {
    let dir = std::env::temp_dir().join(format!("drbd-rs-inc-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let main = dir.join("drbd.conf");
    std::fs::write(&main, "\ninclude \"missing.conf\";\n").unwrap();
    let e = config::load(&main).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingInclude);
    assert_eq!(e.exit_code(), 10);
    assert_eq!(e.location().unwrap().line, 2);
    assert!(
        e.message()
            .starts_with("failed to open include file 'missing.conf'"),
        "{e}"
    );

    // A file that includes itself.
    std::fs::write(&main, "include \"drbd.conf\";\n").unwrap();
    let e = config::load(&main).unwrap_err();
    assert!(
        e.message()
            .contains("includes nested deeper than 10 levels"),
        "{e}"
    );

    // Errors inside an included file name that file.
    std::fs::write(
        dir.join("bad.res"),
        "resource r0 {\n  on alice {\n    adress 1.2.3.4:5; } }\n",
    )
    .unwrap();
    std::fs::write(&main, "include \"*.res\";\n").unwrap();
    let e = config::load(&main).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: unknown keyword 'adress' in resource r0, on alice (did you mean 'address'?); expected one of: address, alternate-link-address, volume, device, disk, meta-disk, flexible-meta-disk, options, proxy",
            dir.join("bad.res").display()
        )
    );
    std::fs::write(&main, "include \"bad.res\"").unwrap();
    let e = config::load(&main).unwrap_err();
    assert!(
        e.message()
            .contains("expected ';' after the include file name"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn io_errors() {
    let e = config::load(&PathBuf::from("/nonexistent/drbd.conf")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("cannot read '/nonexistent/drbd.conf': "),
        "{e}"
    );
    assert_eq!(e.exit_code(), 20);
    let e = config::load(&std::env::temp_dir()).unwrap_err();
    assert!(e.message().ends_with("it is a directory"), "{e}");
}

#[test]
fn host_view_errors() {
    let cfg = config::parse_str(&res(""), "drbd.conf").unwrap();
    let e = cfg.host_view("r9", "alice").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownResource);
    assert_eq!(
        e.to_string(),
        "'r9' not defined in your config (for this host). Defined resources: r0"
    );
    assert_eq!(e.exit_code(), 1);
    let e = cfg.host_view("r0", "carol").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoHostSection);
    assert_eq!(
        e.to_string(),
        "drbd.conf:1: resource r0 has no section for this host 'carol' (it has: on alice, on bob); add 'on carol { ... }' or check the host name ('uname -n')"
    );

    let view_err = |extra: &str, host: &str| {
        config::parse_str(&res(extra), "drbd.conf")
            .unwrap()
            .host_view("r0", host)
            .unwrap_err()
    };
    let e = view_err("net {\n after-sb-0pri discard-node-carol; }", "alice");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "drbd.conf:3: in resource r0: after-sb-0pri discard-node-carol: 'carol' is not a host of this resource"
    );
    let e = view_err("protocol A;\n net { allow-two-primaries; }", "alice");
    assert!(
        e.to_string()
            .starts_with("drbd.conf:3: in resource r0: allow-two-primaries requires protocol C"),
        "{e}"
    );
    let e = view_err("net { on-congestion pull-ahead; }", "alice");
    assert!(
        e.message()
            .contains("on-congestion pull-ahead requires protocol A"),
        "{e}"
    );
    let e = view_err(
        "protocol A;\n disk { fencing resource-and-stonith; }",
        "bob",
    );
    assert!(
        e.message()
            .contains("fencing resource-and-stonith is only allowed with protocol B or C"),
        "{e}"
    );

    // resync-after to a resource that has no section for this host.
    let text = format!(
        "{}resource r1 {{\n disk {{ resync-after r0; }}\n on carol {{ device minor 5; disk /x; address 10.0.0.3:1; meta-disk internal; }} }}",
        res("")
    );
    let cfg = config::parse_str(&text, "drbd.conf").unwrap();
    let e = cfg.host_view("r1", "carol").unwrap_err();
    assert_eq!(
        e.to_string(),
        "drbd.conf:7: resync-after r0: resource 'r0' has no section for host 'carol'"
    );
}
