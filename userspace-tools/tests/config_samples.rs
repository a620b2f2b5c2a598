//! Complete real-world configurations: DRBD 0.7 (Heartbeat tutorial), 8.3 and 8.4
//! (drbd-utils' `drbd.conf` + `drbd.d/global_common.conf` + `drbd.d/*.res`).

use std::path::{Path, PathBuf};

use drbd_rs_tools::config::{
    self, AddressFamily, ErrorKind, HostKind, Legacy, MetaDisk, ParseOptions, Protocol, Value,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn round_trip(cfg: &config::Config) {
    let text = config::dump(cfg);
    let again = config::parse_str(&text, "dump.conf")
        .unwrap_or_else(|e| panic!("dump does not parse: {e}\n{text}"));
    assert_eq!(&again, cfg, "round trip changed the config:\n{text}");
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Equal except for the "# resource … defined at file:line" comments.
    assert_eq!(
        strip(&config::dump(&again)),
        strip(&text),
        "dump is not stable"
    );
}

#[test]
fn heartbeat_07_classic_two_node() {
    let cfg = config::load(&data("heartbeat-0.7.conf")).unwrap();
    assert!(cfg.global.is_empty());
    assert!(cfg.common.is_empty());
    assert_eq!(cfg.resources.len(), 2);

    let r0 = cfg.resource("r0").unwrap();
    assert_eq!(r0.sections.net.text("protocol"), Some("C"));
    assert_eq!(
        r0.sections.handlers.text("pri-on-incon-degr"),
        Some("echo '!DRBD! pri on incon-degr' | wall ; sleep 60 ; halt -f")
    );
    assert_eq!(r0.sections.startup.number("wfc-timeout"), Some(0));
    assert_eq!(r0.sections.startup.number("degr-wfc-timeout"), Some(120));
    assert_eq!(r0.sections.disk.text("on-io-error"), Some("detach"));
    // syncer { rate 10M; al-extents 257; } moved to disk, in KiB/s.
    assert_eq!(r0.sections.disk.number("resync-rate"), Some(10_240));
    assert_eq!(r0.sections.disk.number("al-extents"), Some(257));
    assert!(r0.sections.net.get("group").is_none());

    let n1 = r0.host("node1").unwrap();
    assert_eq!(n1.address.to_arg(), "ipv4:192.168.1.1:7788");
    let v = &n1.volumes[0];
    assert!(v.implicit);
    assert_eq!((v.device.path.as_str(), v.device.minor), ("/dev/drbd0", 0));
    assert_eq!(v.disk, "/dev/hda3");
    assert_eq!(
        v.meta_disk,
        MetaDisk::IndexedExternal("/dev/sda7".into(), 0)
    );
    // "/dev/sda7 [0]" with a space means the same.
    assert_eq!(
        r0.host("node2").unwrap().volumes[0].meta_disk,
        MetaDisk::IndexedExternal("/dev/sda7".into(), 0)
    );

    let r1 = cfg.resource("r1").unwrap();
    assert_eq!(r1.sections.net.number("sndbuf-size"), Some(524_288));
    assert_eq!(r1.sections.net.number("timeout"), Some(60));
    assert_eq!(r1.sections.net.number("ko-count"), Some(4));
    assert_eq!(r1.sections.net.get("on-disconnect"), None);
    assert_eq!(
        r1.host("node2").unwrap().volumes[0].meta_disk,
        MetaDisk::IndexedExternal("/dev/sda7".into(), 1)
    );

    // The obsolete keywords are reported, with their lines.
    let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    let file = data("heartbeat-0.7.conf").display().to_string();
    assert!(
        w.contains(&format!(
            "{file}:17: warning: 'incon-degr-cmd' is obsolete (DRBD 0.7); used as 'handlers {{ pri-on-incon-degr }}'"
        )),
        "{w:#?}"
    );
    assert!(w
        .iter()
        .any(|m| m.starts_with(&format!("{file}:41: warning: syncer option 'group'"))));
    assert!(w
        .iter()
        .any(|m| m.contains("'on-disconnect' (DRBD 0.7) is obsolete")));
    assert_eq!(w.len(), 5, "{w:#?}");

    let view = cfg.host_view("r0", "node2").unwrap();
    assert_eq!(view.address.to_arg(), "ipv4:192.168.1.2:7788");
    assert_eq!(view.peer().unwrap().names(), ["node1".to_string()]);
    assert_eq!(view.protocol, Protocol::C);
    // In drbdadm-84's order: the resource's disk options (disk { } then syncer { }) taken
    // into the volume one after the other, so reversed.
    assert_eq!(
        view.volumes[0].disk_options.to_args(),
        [
            "--al-extents=257",
            "--resync-rate=10240",
            "--on-io-error=detach"
        ]
    );
    assert_eq!(
        view.volumes[0].meta_disk.attach_args("/dev/hda3"),
        ("/dev/sda7", "0".to_string())
    );
    round_trip(&cfg);
}

#[test]
fn heartbeat_07_is_rejected_in_strict_84_mode() {
    let opts = ParseOptions {
        legacy: Legacy::Reject,
    };
    let e = config::load_with(&data("heartbeat-0.7.conf"), &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(e.location().unwrap().line, 17);
    assert!(e
        .message()
        .contains("'incon-degr-cmd' (DRBD 0.7) is not accepted"));
    assert_eq!(e.exit_code(), 10);
}

#[test]
fn drbd83_with_common_syncer_and_old_spellings() {
    let cfg = config::load(&data("drbd83.conf")).unwrap();
    assert_eq!(cfg.global.usage_count, Some(config::UsageCount::Yes));
    assert_eq!(cfg.global.minor_count, Some(64));
    assert_eq!(cfg.global.dialog_refresh, Some(5));
    let c = &cfg.common;
    assert_eq!(c.net.text("protocol"), Some("C"));
    assert_eq!(c.disk.number("resync-rate"), Some(33 * 1024));
    assert_eq!(c.disk.flag("disk-barrier"), Some(false));
    assert_eq!(c.disk.flag("disk-flushes"), Some(false));
    assert_eq!(c.disk.flag("md-flushes"), Some(false));
    assert_eq!(
        c.handlers.text("fence-peer"),
        Some("/usr/lib/drbd/crm-fence-peer.sh")
    );
    assert!(c.handlers.get("outdate-peer").is_none());
    assert_eq!(c.net.number("max-buffers"), Some(8000));
    assert_eq!(c.net.text("shared-secret"), Some("FooFunFactory"));

    let mysql = cfg.host_view("mysql", "alice.example.com").unwrap();
    assert_eq!(mysql.volumes.len(), 1);
    let v = &mysql.volumes[0];
    assert_eq!(v.device.minor, 1);
    assert_eq!(v.disk, "/dev/vg0/mysql");
    assert_eq!(v.meta_disk, MetaDisk::Internal);
    let d = &v.disk_options;
    assert_eq!(d.number("resync-rate"), Some(33_792));
    assert_eq!(d.number("al-extents"), Some(3389));
    assert_eq!(d.number("c-fill-target"), Some(2048));
    assert_eq!(d.number("c-max-rate"), Some(112_640));
    assert_eq!(d.number("c-min-rate"), Some(10_240));
    assert_eq!(d.number("c-plan-ahead"), Some(20));
    assert_eq!(d.text("fencing"), Some("resource-only"));
    // resync-after web → the minor of web's volume 0 on this host.
    assert_eq!(d.get("resync-after"), Some(&Value::Number(0)));
    assert_eq!(mysql.net.text("verify-alg"), Some("sha1"));
    assert_eq!(mysql.net.text("csums-alg"), Some("md5"));
    assert_eq!(mysql.net.text("after-sb-1pri"), Some("discard-secondary"));
    assert_eq!(mysql.startup.number("outdated-wfc-timeout"), Some(30));
    assert_eq!(
        mysql.peer().unwrap().address.to_arg(),
        "ipv4:10.1.1.32:7790"
    );

    let web = cfg.host_view("web", "bob.example.com").unwrap();
    assert_eq!(
        web.volumes[0].meta_disk,
        MetaDisk::FlexibleExternal("/dev/sdb1".into())
    );
    assert_eq!(web.net.flag("allow-two-primaries"), Some(true));
    assert_eq!(
        web.startup.get("become-primary-on"),
        Some(&Value::List(vec!["both".into()]))
    );
    // flexible-meta-disk on alice is the same as meta-disk DEV.
    assert_eq!(
        cfg.resource("web").unwrap().hosts[0].volumes[0].meta_disk,
        MetaDisk::FlexibleExternal("/dev/sdb1".into())
    );
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    round_trip(&cfg);
}

#[test]
fn drbd84_include_tree() {
    let cfg = config::load(&data("drbd84/drbd.conf")).unwrap();
    // The included files are read in order: global_common.conf, then r0, r1, r2 (sorted);
    // old.res.disabled and .hidden.res are not matched.
    let names: Vec<&str> = cfg.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r0", "r1", "r2"]);
    assert_eq!(cfg.global.usage_count, Some(config::UsageCount::No));
    assert_eq!(cfg.common.handlers.len(), 3);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let origin = cfg
        .resource("r1")
        .unwrap()
        .origin
        .location()
        .unwrap()
        .clone();
    assert!(origin.file.ends_with("drbd.d/r1.res"), "{origin:?}");
    assert_eq!(origin.line, 2);

    // r0: implicit volume at resource level, inherited by both hosts.
    let r0 = cfg.host_view("r0", "alice").unwrap();
    assert_eq!(r0.host, "alice");
    assert_eq!(r0.address.to_arg(), "ipv4:10.0.0.1:7789");
    assert_eq!(r0.peer().unwrap().address.to_arg(), "ipv4:10.0.0.2:7789");
    assert_eq!(r0.volumes.len(), 1);
    assert_eq!(r0.volumes[0].device.path, "/dev/drbd0");
    assert_eq!(r0.volumes[0].disk, "/dev/vg0/r0");
    let d = &r0.volumes[0].disk_options;
    assert_eq!(
        d.number("resync-rate"),
        Some(102_400),
        "resource overrides common"
    );
    assert_eq!(d.number("al-extents"), Some(3389), "inherited from common");
    assert_eq!(d.number("c-plan-ahead"), Some(0));
    assert_eq!(d.text("on-io-error"), Some("call-local-io-error"));
    assert_eq!(r0.net.number("sndbuf-size"), Some(524_288));
    assert_eq!(r0.net.number("max-buffers"), Some(8192));
    assert_eq!(r0.net.number("timeout"), Some(90));
    assert_eq!(r0.net.number("ping-timeout"), Some(10));
    assert_eq!(r0.net.text("verify-alg"), Some("sha1"));
    assert_eq!(r0.net.text("shared-secret"), Some("9GxRMsDmSaRdXCk4"));
    assert_eq!(r0.startup.number("wfc-timeout"), Some(30));
    assert_eq!(
        r0.handlers.text("local-io-error"),
        Some("/usr/local/sbin/drbd-io-error.sh"),
        "resource handler overrides common"
    );
    assert!(r0
        .handlers
        .text("pri-lost-after-sb")
        .unwrap()
        .starts_with("/usr/lib/drbd/notify-pri-lost-after-sb.sh"));

    // r1: explicit volumes at resource level, one field overridden on alice.
    let a = cfg.host_view("r1", "alice").unwrap();
    let b = cfg.host_view("r1", "bob").unwrap();
    assert_eq!(a.volumes.len(), 2);
    assert_eq!(a.volume(0).unwrap().device.minor, 1);
    assert_eq!(a.volume(1).unwrap().device.minor, 2);
    assert_eq!(a.volume(1).unwrap().disk, "/dev/vg0/alice-log");
    assert_eq!(b.volume(1).unwrap().disk, "/dev/vg0/r1-log");
    assert_eq!(
        a.volume(1).unwrap().meta_disk,
        MetaDisk::FlexibleExternal("/dev/vg1/r1-md".into())
    );
    let a1 = &a.volume(1).unwrap().disk_options;
    let b1 = &b.volume(1).unwrap().disk_options;
    assert_eq!(a1.flag("disk-flushes"), Some(true), "host volume wins");
    assert_eq!(b1.flag("disk-flushes"), Some(false));
    assert_eq!(
        a1.get("resync-after"),
        Some(&Value::Number(0)),
        "r0's minor"
    );
    assert_eq!(a1.number("c-fill-target"), Some(20_480));
    assert_eq!(a1.number("disk-timeout"), Some(300));
    assert_eq!(a.volume(0).unwrap().disk_options.get("resync-after"), None);
    assert_eq!(a.options.text("cpu-mask"), Some("3"));
    assert_eq!(a.options.text("on-no-data-accessible"), Some("suspend-io"));

    // r2: IPv6, two names for one host, named device, indexed meta data, protocol A.
    let r2 = cfg.resource("r2").unwrap();
    assert_eq!(
        r2.hosts[0].kind,
        HostKind::On(vec!["alice".into(), "alice.example.net".into()])
    );
    let v = cfg.host_view("r2", "alice.example.net").unwrap();
    assert_eq!(v.host, "alice.example.net");
    assert_eq!(v.address.family, AddressFamily::Ipv6);
    assert_eq!(v.address.to_arg(), "ipv6:[fd00:1::1]:7791");
    assert_eq!(v.protocol, Protocol::A);
    assert_eq!(v.volumes[0].device.path, "/dev/drbd_r2");
    assert_eq!(v.volumes[0].device.minor, 10);
    assert_eq!(
        v.volumes[0].meta_disk,
        MetaDisk::IndexedExternal("/dev/vg0/r2-md".into(), 0)
    );
    assert_eq!(v.net.number("congestion-fill"), Some(819_200));
    assert_eq!(v.net.text("after-sb-0pri"), Some("discard-remote"));
    let bob = cfg.host_view("r2", "bob").unwrap();
    assert_eq!(bob.net.text("after-sb-0pri"), Some("discard-local"));

    assert_eq!(
        cfg.resources_for_host("alice")
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["r0", "r1", "r2"]
    );
    assert!(cfg.resources_for_host("carol").is_empty());
    round_trip(&cfg);
}

#[test]
fn spec_minimal_example_gives_the_documented_commands() {
    // spec §2.7 / §3: attach … --resync-rate=40M, connect … --protocol=C.
    let text = "global { usage-count no; }
common { net { protocol C; } disk { resync-rate 40M; } }
resource r0 {
  startup { wfc-timeout 30; degr-wfc-timeout 15; }
  on alice { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }
  on bob   { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.2:7789; meta-disk internal; }
}
";
    let cfg = config::parse_str(text, "drbd.conf").unwrap();
    let v = cfg.host_view("r0", "alice").unwrap();
    let vol = &v.volumes[0];
    let (md, idx) = vol.meta_disk.attach_args(&vol.disk);
    assert_eq!(
        format!(
            "attach {} {} {} {} {}",
            vol.device.minor,
            vol.disk,
            md,
            idx,
            vol.disk_options.to_args().join(" ")
        ),
        "attach 0 /dev/sdb1 /dev/sdb1 internal --resync-rate=40960"
    );
    assert_eq!(
        format!(
            "connect {} {} {} {}",
            v.resource,
            v.address.to_arg(),
            v.peer().unwrap().address.to_arg(),
            v.net.to_args().join(" ")
        ),
        "connect r0 ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --protocol=C"
    );
    assert_eq!(
        v.startup.pairs(),
        [
            ("wfc-timeout", "30".to_string()),
            ("degr-wfc-timeout", "15".to_string())
        ]
    );
    round_trip(&cfg);
}

#[test]
fn dump_looks_like_drbdadm() {
    let cfg = config::load(&data("drbd83.conf")).unwrap();
    let text = config::dump(&cfg);
    let file = data("drbd83.conf").display().to_string();
    let expected_web = format!(
        "# resource web defined at {file}:72
resource web {{
    on alice.example.com {{
        device           minor 0;
        disk             /dev/sda7;
        meta-disk        /dev/sdb1;
        address          ipv4 10.1.1.31:7789;
    }}
    on bob.example.com {{
        device           minor 0;
        disk             /dev/sda7;
        meta-disk        /dev/sdb1;
        address          ipv4 10.1.1.32:7789;
    }}
    net {{
        allow-two-primaries yes;
    }}
    startup {{
        become-primary-on both;
    }}
}}
"
    );
    assert!(text.contains(&expected_web), "{text}");
    assert!(text.starts_with(
        "global {
    usage-count yes;
    minor-count 64;
    dialog-refresh 5;
}

common {
    net {
        protocol           C;
"
    ));
    assert!(text.contains("        fence-peer       /usr/lib/drbd/crm-fence-peer.sh;\n"));
    assert!(
        text.contains("        split-brain      \"/usr/lib/drbd/notify-split-brain.sh root\";\n")
    );
    assert!(text.contains("        resync-rate      33M;\n"));
    assert!(text.contains("        c-fill-target     1M;\n"));
}
