//! Property tests: no input makes the parser panic; whatever parses survives a dump round
//! trip; generated valid configurations always parse, with every value where it was put.

use drbd_rs_tools::config::{self, options, OptionKind, SectionKind, Value};
use proptest::prelude::*;

const VOCABULARY: &[&str] = &[
    "{",
    "}",
    ";",
    "[",
    "]",
    ":",
    "\n",
    "# c\n",
    "global",
    "common",
    "resource",
    "r0",
    "r1",
    "on",
    "alice",
    "bob",
    "floating",
    "volume",
    "0",
    "1",
    "device",
    "/dev/drbd0",
    "/dev/drbd_x",
    "minor",
    "disk",
    "/dev/sdb1",
    "meta-disk",
    "flexible-meta-disk",
    "internal",
    "address",
    "ipv4",
    "ipv6",
    "ssocks",
    "10.0.0.1",
    "10.0.0.2",
    "[fd00::1]",
    "7789",
    "options",
    "net",
    "startup",
    "handlers",
    "syncer",
    "skip",
    "protocol",
    "C",
    "a",
    "rate",
    "resync-rate",
    "10M",
    "4k",
    "1G",
    "8s",
    "0",
    "65535",
    "99999999999999999999",
    "timeout",
    "ping-int",
    "max-buffers",
    "no-disk-flushes",
    "disk-flushes",
    "yes",
    "no",
    "after-sb-0pri",
    "discard-node-alice",
    "become-primary-on",
    "both",
    "allow-two-primaries",
    "resync-after",
    "r0/0",
    "group",
    "incon-degr-cmd",
    "on-disconnect",
    "\"quoted string\"",
    "\"a\\\"b\"",
    "usage-count",
    "minor-count",
    "split-brain",
    "outdate-peer",
    "after",
    "al-extents",
    "verify-alg",
    "sha1",
    "cpu-mask",
    "ff",
    "proxy",
    "ignore-on",
    "stacked-on-top-of",
    "use-bmbv",
    "delay-probe-volume",
    "alternate-link-address",
    "discard-my-data",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..120).prop_map(|v| v.join(" "))
}

/// Whatever parses must dump to text that parses to the same configuration.
fn check_round_trip(text: &str) {
    if let Ok(cfg) = config::parse_str(text, "fuzz.conf") {
        let dumped = config::dump(&cfg);
        let again = config::parse_str(&dumped, "dump.conf")
            .unwrap_or_else(|e| panic!("dump of\n{text}\ndoes not parse: {e}\n{dumped}"));
        assert_eq!(again, cfg, "round trip of\n{text}\nvia\n{dumped}");
        // Host views never panic either.
        for r in &cfg.resources {
            for h in ["alice", "bob", "carol"] {
                let _ = cfg.host_view(&r.name, h);
            }
        }
    }
}

/// A valid value for `spec`, chosen by `seed`, as drbd.conf text.
fn value_text(spec: &options::OptionSpec, seed: u64) -> String {
    match spec.kind {
        OptionKind::Flag => ["yes", "no", ""][(seed % 3) as usize].to_string(),
        OptionKind::Number { unit, min, max } => {
            let span = max - min;
            let n = min
                + if span == u64::MAX {
                    seed
                } else {
                    seed % (span + 1)
                };
            if seed & 1 == 0 {
                config::units::format_number(n, unit)
            } else {
                n.to_string()
            }
        }
        OptionKind::Enum(values) => {
            if spec.name == "protocol" || spec.name == "on-congestion" {
                // Keep the protocol-dependent checks of host_view out of the way.
                values[if spec.name == "protocol" { 2 } else { 0 }]
                    .0
                    .to_string()
            } else {
                values[(seed % values.len() as u64) as usize].0.to_string()
            }
        }
        OptionKind::Text { max_len } => {
            let len = (seed % (max_len as u64 + 1)) as usize;
            options::quote(&"s".repeat(len))
        }
        OptionKind::CpuMask => format!("{:x}", seed % 0xffff),
        OptionKind::Command => options::quote(&format!("/bin/echo {seed} \"x\" \\ y")),
        OptionKind::ResourceRef => "r0".to_string(),
        OptionKind::HostList => "alice".to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=N runs more (or fewer) cases.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = config::parse_bytes(&bytes, "fuzz.conf");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check_round_trip(&text);
    }

    #[test]
    fn random_text_never_panics(text in "[ -~\n\t]{0,400}") {
        check_round_trip(&text);
    }

    #[test]
    fn token_soup_never_panics_and_round_trips(text in soup()) {
        check_round_trip(&text);
    }

    #[test]
    fn token_soup_inside_a_resource(body in soup()) {
        check_round_trip(&format!(
            "resource r0 {{ {body} }}"
        ));
        check_round_trip(&format!(
            "resource r0 {{ on alice {{ device minor 0; disk /d; meta-disk internal; address 10.0.0.1:1; {body} }} }}"
        ));
        check_round_trip(&format!("resource r0 {{ net {{ {body} }} on alice {{ device minor 0; disk /d; meta-disk internal; address 10.0.0.1:1; }} }}"));
    }

    #[test]
    fn generated_valid_configs_parse_and_keep_their_values(
        picks in prop::collection::vec((0..options::OPTIONS.len(), any::<u64>(), 0u8..3), 0..40),
        volumes in 1u32..4,
        explicit in any::<bool>(),
    ) {
        // Place each picked option at common, resource or volume level.
        let mut common: Vec<String> = Vec::new();
        let mut resource: Vec<String> = Vec::new();
        let mut volume0_disk: Vec<String> = Vec::new();
        let mut expected: Vec<(SectionKind, &str, u8, String)> = Vec::new();
        for (i, seed, level) in picks {
            let spec = &options::OPTIONS[i];
            if spec.kind == OptionKind::HostList {
                continue; // become-primary-on has its own rules
            }
            let v = value_text(spec, seed);
            let stmt = format!("{} {};", spec.name, v);
            let section = format!("{} {{ {} }}", spec.section.name(), stmt);
            let level = match level {
                2 if spec.section == SectionKind::Disk && explicit => 2,
                0 => 0,
                _ => 1,
            };
            match level {
                0 => common.push(section),
                1 => resource.push(section),
                _ => volume0_disk.push(stmt),
            }
            expected.push((spec.section, spec.name, level, v));
        }
        let mut vols = String::new();
        for n in 0..volumes {
            if explicit {
                let extra = if n == 0 { format!("disk {{ {} }}", volume0_disk.join(" ")) } else { String::new() };
                vols.push_str(&format!("volume {n} {{ device minor {n}; disk /dev/d{n}; meta-disk internal; {extra} }}\n"));
            }
        }
        if !explicit {
            vols.push_str("device minor 0; disk /dev/d0; meta-disk internal;\n");
        }
        let text = format!(
            "common {{ {} }}\nresource r0 {{\n{}\n{}\non alice {{ address 10.0.0.1:7789; }}\non bob {{ address 10.0.0.2:7789; }}\n}}\n",
            common.join("\n"),
            resource.join("\n"),
            vols
        );
        let cfg = config::parse_str(&text, "gen.conf").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let view = cfg.host_view("r0", "alice").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(view.volumes.len(), if explicit { volumes as usize } else { 1 });
        // The last write of each option at the strongest level wins: the resource, then
        // common; a resource-level `volume N { disk { } }` only adds what neither sets
        // (drbdadm-84's order of inheritance).
        let strength = |level: u8| match level {
            2 => 0,
            0 => 1,
            _ => 2,
        };
        for section in SectionKind::ALL {
            let effective = match section {
                SectionKind::Options => &view.options,
                SectionKind::Disk => &view.volumes[0].disk_options,
                SectionKind::Net => &view.net,
                SectionKind::Startup => &view.startup,
                SectionKind::Handlers => &view.handlers,
            };
            let mut seen: Vec<&str> = Vec::new();
            for entry in effective {
                // An option written twice is listed twice; the one that counts is entry().
                if seen.contains(&entry.name) {
                    continue;
                }
                seen.push(entry.name);
                let entry = effective.entry(entry.name).unwrap();
                let top = expected
                    .iter()
                    .filter(|(s, n, _, _)| *s == section && *n == entry.name)
                    .map(|(_, _, level, _)| *level)
                    .max_by_key(|level| strength(*level));
                // At the level that wins: the last write where the section applies as
                // written (the resource's net, options, ...), the first where it is
                // inherited (common's, and every disk { }: it goes into the volume).
                let mut at_top = expected
                    .iter()
                    .filter(|(s, n, l, _)| *s == section && *n == entry.name && Some(*l) == top);
                let winner = if section == SectionKind::Disk || top == Some(0) {
                    at_top.next()
                } else {
                    at_top.next_back()
                };
                let Some((_, _, _, text_value)) = winner else {
                    return Err(TestCaseError::fail(format!("unexpected {}", entry.name)));
                };
                let spec = options::option_spec(section, entry.name).unwrap();
                // Compare by re-reading the written text the way the parser does.
                let want = match (spec.kind, text_value.as_str()) {
                    (OptionKind::Flag, "" | "yes") => Value::Flag(true),
                    (OptionKind::Flag, _) => Value::Flag(false),
                    (OptionKind::Number { unit, .. }, t) => {
                        Value::Number(config::units::parse_number(t, unit).unwrap())
                    }
                    (OptionKind::ResourceRef, _) => Value::Number(0),
                    (_, t) => Value::Text(unquote(t)),
                };
                prop_assert_eq!(&entry.value, &want, "{} in\n{}", entry.name, text);
            }
        }
        let dumped = config::dump(&cfg);
        let again = config::parse_str(&dumped, "dump.conf").map_err(|e| TestCaseError::fail(format!("{e}\n{dumped}")))?;
        prop_assert_eq!(again, cfg);
    }
}

fn unquote(t: &str) -> String {
    match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => t.to_string(),
    }
}
