//! Units, inheritance, host selection, statement forms, includes and dump details.

use std::net::IpAddr;

use drbd_rs_tools::config::{
    self, options, AddressFamily, Config, Device, HostKind, MetaDisk, OptionKind, Protocol,
    SectionKind, Value,
};

const HOSTS: &str =
    "on alice { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }
on bob { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.2:7789; meta-disk internal; }";

fn parse(text: &str) -> Config {
    config::parse_str(text, "drbd.conf").unwrap_or_else(|e| panic!("{e}"))
}

fn res(extra: &str) -> Config {
    parse(&format!("resource r0 {{\n{extra}\n{HOSTS}\n}}\n"))
}

fn round_trip(cfg: &Config) {
    let text = config::dump(cfg);
    let again = config::parse_str(&text, "dump.conf").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&again, cfg, "{text}");
}

#[test]
fn unit_conversions_per_option() {
    let c = res("disk { size 10G; resync-rate 10M; c-fill-target 1M; c-max-rate 1G; c-min-rate 4k; rs-discard-granularity 64K; }
net { sndbuf-size 512K; rcvbuf-size 2m; congestion-fill 1G; max-buffers 8K; max-epoch-size 2k; timeout 60; ping-timeout 5; }");
    let d = &c.resources[0].sections.disk;
    assert_eq!(d.number("size"), Some(20_971_520), "sectors");
    assert_eq!(d.number("resync-rate"), Some(10_240), "KiB/s");
    assert_eq!(d.number("c-fill-target"), Some(2048), "sectors");
    assert_eq!(d.number("c-max-rate"), Some(1_048_576));
    assert_eq!(d.number("c-min-rate"), Some(4));
    assert_eq!(d.number("rs-discard-granularity"), Some(65_536), "bytes");
    let n = &c.resources[0].sections.net;
    assert_eq!(n.number("sndbuf-size"), Some(524_288));
    assert_eq!(n.number("rcvbuf-size"), Some(2_097_152));
    assert_eq!(n.number("congestion-fill"), Some(2_097_152));
    assert_eq!(
        n.number("max-buffers"),
        Some(8192),
        "suffix multiplies a count"
    );
    assert_eq!(n.number("max-epoch-size"), Some(2048));
    assert_eq!(n.number("timeout"), Some(60), "tenths of a second");
    round_trip(&c);

    // Plain numbers are in the default unit; 's' is 512-byte sectors and rounding is up.
    let c =
        res("disk { size 2048; resync-rate 250; c-fill-target 100s; }\nnet { sndbuf-size 3s; }");
    let d = &c.resources[0].sections.disk;
    assert_eq!(d.number("size"), Some(2048));
    assert_eq!(d.number("resync-rate"), Some(250));
    assert_eq!(d.number("c-fill-target"), Some(100));
    assert_eq!(
        c.resources[0].sections.net.number("sndbuf-size"),
        Some(1536)
    );
    let c = res("disk { resync-rate 1s; size 1K; }");
    assert_eq!(
        c.resources[0].sections.disk.number("resync-rate"),
        Some(1),
        "rounded up"
    );
    assert_eq!(c.resources[0].sections.disk.number("size"), Some(2));

    // Range edges are inclusive.
    let c = res("disk { resync-rate 4G; c-plan-ahead 300; disk-timeout 6000; size 0; }\nnet { timeout 600; ko-count 0; congestion-extents 65534; }");
    assert_eq!(
        c.resources[0].sections.disk.number("resync-rate"),
        Some(4_194_304)
    );
    assert_eq!(c.resources[0].sections.net.number("timeout"), Some(600));
}

#[test]
fn option_table_describes_units_and_defaults() {
    let s = options::option_spec(SectionKind::Net, "ping-timeout").unwrap();
    assert!(matches!(
        s.kind,
        OptionKind::Number {
            unit: config::units::Unit::Deciseconds,
            min: 1,
            max: 300
        }
    ));
    assert_eq!(s.default, options::DefaultValue::Number(5));
    let l = config::OptionList::new();
    assert_eq!(
        config::effective_number(&l, SectionKind::Net, "timeout"),
        Some(60)
    );
    assert_eq!(
        config::effective_number(&l, SectionKind::Disk, "c-max-rate"),
        Some(102_400)
    );
    assert_eq!(
        config::effective_number(&l, SectionKind::Disk, "fencing"),
        None
    );
}

#[test]
fn flags_all_spellings() {
    let c = res(
        "disk { disk-barrier; disk-flushes no; no-disk-drain; md-flushes yes; al-updates no; }
net { always-asbp; no-tcp-cork; use-rle no; }
startup { wait-after-sb; stacked-timeouts no; }",
    );
    let s = &c.resources[0].sections;
    assert_eq!(s.disk.flag("disk-barrier"), Some(true));
    assert_eq!(s.disk.flag("disk-flushes"), Some(false));
    assert_eq!(s.disk.flag("disk-drain"), Some(false));
    assert_eq!(s.disk.flag("md-flushes"), Some(true));
    assert_eq!(s.disk.flag("al-updates"), Some(false));
    assert_eq!(s.net.flag("always-asbp"), Some(true));
    assert_eq!(s.net.flag("tcp-cork"), Some(false));
    assert_eq!(s.net.flag("use-rle"), Some(false));
    assert_eq!(s.startup.flag("wait-after-sb"), Some(true));
    assert_eq!(s.startup.flag("stacked-timeouts"), Some(false));
    round_trip(&c);
}

#[test]
fn old_names_and_places() {
    let c = res("syncer { rate 20M; after r0; al-extents 1237; c-plan-ahead 10; c-delay-target 20; c-fill-target 50; c-max-rate 100M; c-min-rate 1M; verify-alg crc32c; csums-alg sha1; use-rle; cpu-mask ff; on-no-data-accessible suspend-io; }
disk { after r0; rate 30M; use-bmbv; }
handlers { outdate-peer \"/bin/true\"; }
protocol b;");
    let s = &c.resources[0].sections;
    // disk { rate } comes after syncer { rate }: both are kept (with a warning); as written
    // the later one counts, but drbdadm-84 gives the volumes only the first of the
    // resource's disk options (its inheritance), and so does the view.
    assert_eq!(s.disk.number("resync-rate"), Some(30 * 1024));
    let v = c.host_view("r0", "alice").unwrap();
    assert_eq!(
        v.volumes[0].disk_options.number("resync-rate"),
        Some(20 * 1024)
    );
    assert_eq!(s.disk.text("resync-after"), Some("r0"));
    assert_eq!(s.disk.number("al-extents"), Some(1237));
    assert_eq!(s.disk.number("c-delay-target"), Some(20));
    assert_eq!(s.disk.number("c-min-rate"), Some(1024));
    assert_eq!(s.net.text("verify-alg"), Some("crc32c"));
    assert_eq!(s.net.text("csums-alg"), Some("sha1"));
    assert_eq!(s.net.flag("use-rle"), Some(true));
    assert_eq!(
        s.net.text("protocol"),
        Some("B"),
        "resource-level protocol, upper-cased"
    );
    assert_eq!(s.options.text("cpu-mask"), Some("ff"));
    assert_eq!(s.options.text("on-no-data-accessible"), Some("suspend-io"));
    assert_eq!(s.handlers.text("fence-peer"), Some("/bin/true"));
    assert!(s.disk.get("use-bmbv").is_none());
    let w: Vec<String> = c.warnings.iter().map(|w| w.message.clone()).collect();
    assert!(
        w.contains(&"'use-bmbv' has no effect in DRBD 8.4 and is ignored".to_string()),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m
                .starts_with("disk option 'resync-rate' is given twice (first at drbd.conf:2)")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.starts_with("disk option 'resync-after' is given twice")),
        "{w:?}"
    );
    let v = c.host_view("r0", "alice").unwrap();
    assert_eq!(v.protocol, Protocol::B);
    round_trip(&c);
}

#[test]
fn ignored_83_options() {
    let c = res("disk { delay-probe-volume 16384; throttle-threshold 20; }\nnet { hold-off-threshold 1; }\noptions { delay-probe-interval 100; }\nsyncer { delay-probe-volume 1; }");
    assert!(c.resources[0].sections.disk.is_empty());
    assert!(c.resources[0].sections.net.is_empty());
    assert_eq!(c.warnings.len(), 5);
    assert_eq!(
        c.warnings[0].to_string(),
        "drbd.conf:2: warning: 'delay-probe-volume' (DRBD 8.3) is obsolete and ignored"
    );
}

#[test]
fn inheritance_common_resource_volume_host() {
    let c = parse(
        "common {
  disk { resync-rate 10M; on-io-error pass_on; al-extents 100; }
  net { protocol A; ko-count 3; }
  options { cpu-mask 1; }
  startup { wfc-timeout 10; }
  handlers { split-brain \"common-sb\"; fence-peer \"common-fp\"; }
}
resource r0 {
  disk { resync-rate 20M; }
  net { ko-count 4; }
  handlers { split-brain \"r0-sb\"; }
  volume 0 { device minor 0; disk /dev/a; meta-disk internal; disk { al-extents 200; c-max-rate 200M; } }
  volume 1 { device minor 1; disk /dev/b; meta-disk internal; }
  on alice { options { cpu-mask 3; } volume 0 { disk { c-max-rate 300M; } } address 10.0.0.1:1; }
  on bob { address 10.0.0.2:1; }
}
resource r1 {
  on alice { device minor 5; disk /dev/c; meta-disk internal; address 10.0.0.1:2; }
  on bob { device minor 5; disk /dev/c; meta-disk internal; address 10.0.0.2:2; }
}",
    );
    let a = c.host_view("r0", "alice").unwrap();
    let v0 = &a.volume(0).unwrap().disk_options;
    assert_eq!(
        v0.number("resync-rate"),
        Some(20 * 1024),
        "resource beats common"
    );
    assert_eq!(v0.text("on-io-error"), Some("pass_on"), "from common");
    assert_eq!(
        v0.number("al-extents"),
        Some(100),
        "common beats a resource-level volume section (drbdadm-84's order of inheritance)"
    );
    assert!(
        a.warnings.iter().any(|w| w
            .to_string()
            .contains("'al-extents 200' of volume 0 is overridden")),
        "{:?}",
        a.warnings
    );
    assert_eq!(
        v0.number("c-max-rate"),
        Some(300 * 1024),
        "host volume beats resource volume"
    );
    let v1 = &a.volume(1).unwrap().disk_options;
    assert_eq!(v1.number("al-extents"), Some(100));
    assert_eq!(v1.number("c-max-rate"), None);
    let b = c.host_view("r0", "bob").unwrap();
    assert_eq!(
        b.volume(0).unwrap().disk_options.number("c-max-rate"),
        Some(200 * 1024)
    );
    assert_eq!(a.net.number("ko-count"), Some(4));
    assert_eq!(a.protocol, Protocol::A);
    assert_eq!(
        a.options.text("cpu-mask"),
        Some("1"),
        "options {{ }} in a host section are ignored, as by drbdadm-84"
    );
    assert!(a.warnings.iter().any(|w| w
        .to_string()
        .contains("options { } section of 'on alice' is ignored")));
    assert_eq!(b.options.text("cpu-mask"), Some("1"));
    assert_eq!(a.startup.number("wfc-timeout"), Some(10));
    assert_eq!(a.handlers.text("split-brain"), Some("r0-sb"));
    assert_eq!(a.handlers.text("fence-peer"), Some("common-fp"));
    // drbdadm-84's order (its `attach 0 ... --resync-rate=20M --on-io-error=pass_on
    // --al-extents=100 --c-max-rate=300M`).
    assert_eq!(
        v0.pairs(),
        [
            ("resync-rate", "20480".to_string()),
            ("on-io-error", "pass_on".to_string()),
            ("al-extents", "100".to_string()),
            ("c-max-rate", "307200".to_string()),
        ]
    );
    // The resource itself keeps only what it wrote.
    assert_eq!(c.resources[0].sections.disk.len(), 1);
    // r1 only gets common.
    let r1 = c.host_view("r1", "bob").unwrap();
    assert_eq!(
        r1.volumes[0].disk_options.number("resync-rate"),
        Some(10 * 1024)
    );
    assert_eq!(r1.net.number("ko-count"), Some(3));
    round_trip(&c);
}

#[test]
fn single_implicit_volume_is_volume_0() {
    let c = res("");
    let h = &c.resources[0].hosts[0];
    assert_eq!(h.volumes.len(), 1);
    assert_eq!(h.volumes[0].number, 0);
    assert!(h.volumes[0].implicit);
    // Resource-level implicit statements fill in what the hosts leave out.
    let c = parse(
        "resource r0 {
  disk /dev/sdb1; meta-disk internal;
  on alice { device minor 3; address 10.0.0.1:1; }
  on bob { device minor 4; disk /dev/sdc1; address 10.0.0.2:1; }
}",
    );
    let a = c.host_view("r0", "alice").unwrap();
    let b = c.host_view("r0", "bob").unwrap();
    assert_eq!(
        (a.volumes[0].device.minor, a.volumes[0].disk.as_str()),
        (3, "/dev/sdb1")
    );
    assert_eq!(
        (b.volumes[0].device.minor, b.volumes[0].disk.as_str()),
        (4, "/dev/sdc1")
    );
    assert_eq!(b.volumes[0].meta_disk, MetaDisk::Internal);
    round_trip(&c);
}

#[test]
fn host_selection() {
    let c = parse(
        "resource r0 {
  device minor 0; disk /dev/sdb1; meta-disk internal;
  on alice alice.example.com { address 10.0.0.1:7789; }
  on bob { address 10.0.0.2:7789; }
  on carol { address 10.0.0.3:7789; }
}
resource r1 {
  device minor 1; disk /dev/sdc1; meta-disk internal;
  floating 10.0.1.1:7790;
  floating ipv4 10.0.1.2:7790;
}",
    );
    let v = c.host_view("r0", "alice.example.com").unwrap();
    assert_eq!(v.host, "alice.example.com");
    assert_eq!(v.address.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(v.peers.len(), 2);
    assert!(v.peer().is_none(), "more than one peer");
    assert_eq!(v.peer_named("carol").unwrap().address.port, 7789);
    assert!(v.peer_named("alice").is_none());
    let v = c.host_view("r0", "bob").unwrap();
    let peer_names: Vec<Vec<String>> = v.peers.iter().map(|p| p.names().to_vec()).collect();
    assert_eq!(
        peer_names,
        [
            vec!["alice".to_string(), "alice.example.com".to_string()],
            vec!["carol".to_string()]
        ]
    );
    // Host names are matched exactly.
    assert!(c.host_view("r0", "Alice").is_err());
    assert!(c.host_view("r0", "alice.example").is_err());

    // Floating sections are matched by a local address.
    assert!(c.host_view("r1", "alice").is_err());
    let local: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "10.0.1.2".parse().unwrap()];
    let v = c.host_view_with("r1", "alice", &local).unwrap();
    assert_eq!(v.host, "10.0.1.2");
    assert_eq!(v.address.to_arg(), "ipv4:10.0.1.2:7790");
    assert_eq!(v.peer().unwrap().address.to_arg(), "ipv4:10.0.1.1:7790");
    assert_eq!(v.peer().unwrap().kind, HostKind::Floating);
    assert_eq!(v.volumes[0].device.minor, 1);
    // An `on` section wins over a floating one.
    assert_eq!(c.host_view_with("r0", "bob", &local).unwrap().host, "bob");
    round_trip(&c);
}

#[test]
fn device_forms() {
    let dev = |stmt: &str| -> Device {
        let c = parse(&format!(
            "resource r0 {{ on a {{ {stmt} disk /x; meta-disk internal; address 10.0.0.1:1; }} }}"
        ));
        c.resources[0].hosts[0].volumes[0].device.clone()
    };
    assert_eq!(dev("device /dev/drbd0;"), Device::from_minor(0));
    assert_eq!(dev("device /dev/drbd12 minor 12;"), Device::from_minor(12));
    assert_eq!(dev("device drbd7;"), Device::from_minor(7));
    assert_eq!(dev("device minor 1048575;"), Device::from_minor(1_048_575));
    assert_eq!(
        dev("device \"/dev/drbd_fancy_name\" minor 4;"),
        Device {
            path: "/dev/drbd_fancy_name".into(),
            minor: 4
        }
    );
    assert_eq!(
        dev("device drbd_x minor 9;"),
        Device {
            path: "/dev/drbd_x".into(),
            minor: 9
        }
    );
}

#[test]
fn meta_disk_forms() {
    let md = |stmt: &str| -> MetaDisk {
        let c = parse(&format!(
            "resource r0 {{ on a {{ device minor 0; disk /x; {stmt} address 10.0.0.1:1; }} }}"
        ));
        c.resources[0].hosts[0].volumes[0].meta_disk.clone()
    };
    assert_eq!(md("meta-disk internal;"), MetaDisk::Internal);
    assert_eq!(md("flexible-meta-disk internal;"), MetaDisk::Internal);
    assert_eq!(
        md("meta-disk /dev/sdb1;"),
        MetaDisk::FlexibleExternal("/dev/sdb1".into())
    );
    assert_eq!(
        md("flexible-meta-disk /dev/sdb1;"),
        MetaDisk::FlexibleExternal("/dev/sdb1".into())
    );
    assert_eq!(
        md("meta-disk /dev/sda7[0];"),
        MetaDisk::IndexedExternal("/dev/sda7".into(), 0)
    );
    assert_eq!(
        md("meta-disk /dev/sda7 [3];"),
        MetaDisk::IndexedExternal("/dev/sda7".into(), 3)
    );
    assert_eq!(
        md("meta-disk /dev/sda7 [ 3 ] ;"),
        MetaDisk::IndexedExternal("/dev/sda7".into(), 3)
    );
    assert_eq!(
        md("meta-disk \"internal\";"),
        MetaDisk::FlexibleExternal("internal".into())
    );
    let c = parse("resource r0 { on a { device minor 0; disk /x; meta-disk \"internal\"; address 10.0.0.1:1; } }");
    round_trip(&c);
}

#[test]
fn address_forms() {
    let addr = |a: &str| {
        let c = parse(&format!(
            "resource r0 {{ on a {{ device minor 0; disk /x; meta-disk internal; address {a}; }} }}"
        ));
        c.resources[0].hosts[0].address.clone()
    };
    let a = addr("1.2.3.4:7789");
    assert_eq!((a.family, a.port), (AddressFamily::Ipv4, 7789));
    assert_eq!(a.to_string(), "ipv4 1.2.3.4:7789");
    assert_eq!(addr("ipv4 1.2.3.4:7789"), a);
    let a = addr("ipv6 [::1]:7789");
    assert_eq!(a.family, AddressFamily::Ipv6);
    assert_eq!(a.ip, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(a.to_arg(), "ipv6:[::1]:7789");
    assert_eq!(addr("[fd00::1]:1").family, AddressFamily::Ipv6);
    let a = addr("ipv6 [fe80::1%eth0]:7788");
    assert_eq!(a.scope.as_deref(), Some("eth0"));
    assert_eq!(a.to_string(), "ipv6 [fe80::1%eth0]:7788");
    assert_eq!(addr("ssocks 1.2.3.4:1").family, AddressFamily::Ssocks);
    assert_eq!(addr("sci 1.2.3.4:1").family, AddressFamily::Ssocks);
    assert_eq!(addr("sdp 1.2.3.4:1").to_arg(), "sdp:1.2.3.4:1");
    assert_eq!(addr("1.2.3.4:65535").port, 65535);
    let c = parse("resource r0 { on a { device minor 0; disk /x; meta-disk internal; address ipv6 [fe80::1%eth0]:7788; alternate-link-address sdp 1.2.3.4:7; } }");
    assert_eq!(
        c.resources[0].hosts[0]
            .alternate_address
            .as_ref()
            .unwrap()
            .to_arg(),
        "sdp:1.2.3.4:7"
    );
    round_trip(&c);
}

#[test]
fn global_section() {
    let c = parse("global { usage-count ask; minor-count 255; dialog-refresh 0; disable-ip-verification; udev-always-use-vnr no; cmd-timeout-short 5; cmd-timeout-medium 121; cmd-timeout-long 600; }");
    let g = &c.global;
    assert_eq!(g.usage_count, Some(config::UsageCount::Ask));
    assert_eq!(g.minor_count, Some(255));
    assert_eq!(g.dialog_refresh, Some(0));
    assert!(g.disable_ip_verification);
    assert!(!g.udev_always_use_vnr);
    assert_eq!(
        (
            g.cmd_timeout_short,
            g.cmd_timeout_medium,
            g.cmd_timeout_long
        ),
        (Some(5), Some(121), Some(600))
    );
    assert!(c.resources.is_empty());
    round_trip(&c);
    // global after a resource: accepted with a warning.
    let c = parse(&format!(
        "resource r0 {{ {HOSTS} }}\nglobal {{ usage-count no; }}"
    ));
    assert_eq!(
        c.warnings[0].message,
        "the global section should come first in the configuration"
    );
}

#[test]
fn comments_skip_quotes_and_layout() {
    let c = parse(
        "# comment
skip resource old { on x { anything { nested } } \"}\" }
resource r0 { # trailing comment
  handlers {
    split-brain \"/usr/lib/drbd/notify-split-brain.sh root; echo \\\"done\\\" # not a comment\";
    fence-peer \"a\\\\b\";
  }
  skip { net { protocol X; } }
  proxy { memlimit 100M; plugin { lzma; } }
  ignore-on carol;
on alice{device minor 0;disk /dev/sdb1;address 10.0.0.1:7789;meta-disk internal;}
}",
    );
    let h = &c.resources[0].sections.handlers;
    assert_eq!(
        h.text("split-brain"),
        Some("/usr/lib/drbd/notify-split-brain.sh root; echo \"done\" # not a comment")
    );
    assert_eq!(h.text("fence-peer"), Some("a\\b"));
    assert!(c.resources[0].sections.net.is_empty());
    assert_eq!(c.resources.len(), 1);
    let w: Vec<&str> = c.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        w,
        [
            "the 'proxy' section (DRBD Proxy) is ignored by drbd_rs",
            "'ignore-on carol' is deprecated and has no effect; remove it"
        ]
    );
    round_trip(&c);
}

#[test]
fn empty_and_host_less_configs() {
    let c = parse("");
    assert_eq!(c, Config::default());
    assert_eq!(config::dump(&c), "");
    let c = parse("# only comments\n\n");
    assert!(c.resources.is_empty());
    let c = parse("resource r0 { device minor 0; disk /x; meta-disk internal; }");
    assert!(c.resources[0].hosts.is_empty());
    assert!(c.warnings[0].message.contains("has no 'on' sections"));
}

#[test]
fn resync_after_resolution_and_unknown_targets() {
    let c = parse(
        "resource a { volume 0 { device minor 10; disk /a0; meta-disk internal; } volume 1 { device minor 11; disk /a1; meta-disk internal; }
  on n1 { address 10.0.0.1:1; } on n2 { address 10.0.0.2:1; } }
resource b { disk { resync-after a/1; } device minor 12; disk /b; meta-disk internal;
  on n1 { address 10.0.0.1:2; } on n2 { address 10.0.0.2:2; } }
resource c { disk { resync-after a; } device minor 13; disk /c; meta-disk internal;
  on n1 { address 10.0.0.1:3; } on n2 { address 10.0.0.2:3; } }
resource d { disk { resync-after nope; } device minor 14; disk /d; meta-disk internal;
  on n1 { address 10.0.0.1:4; } on n2 { address 10.0.0.2:4; } }
resource e { disk { resync-after a/7; } device minor 15; disk /e; meta-disk internal;
  on n1 { address 10.0.0.1:5; } on n2 { address 10.0.0.2:5; } }",
    );
    let b = c.host_view("b", "n1").unwrap();
    assert_eq!(
        b.volumes[0].disk_options.get("resync-after"),
        Some(&Value::Number(11))
    );
    assert_eq!(b.volumes[0].disk_options.to_args(), ["--resync-after=11"]);
    let cc = c.host_view("c", "n2").unwrap();
    assert_eq!(
        cc.volumes[0].disk_options.get("resync-after"),
        Some(&Value::Number(10))
    );
    // Unknown targets are reported and dropped, like drbdadm does.
    assert!(c.resource("d").unwrap().sections.disk.is_empty());
    assert!(c.resource("e").unwrap().sections.disk.is_empty());
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "drbd.conf:7: warning: in resource d: resource 'nope' is not known (mentioned in 'resync-after'); the option is ignored",
            "drbd.conf:9: warning: in resource e: resource 'a' has no volume 7 (mentioned in 'resync-after'); the option is ignored",
        ]
    );
    round_trip(&c);
}

#[test]
fn view_warnings_for_timeouts() {
    let c = res("net { timeout 100; ping-int 5; }");
    let v = c.host_view("r0", "alice").unwrap();
    let w: Vec<String> = v.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "drbd.conf:2: warning: in resource r0: timeout (100 tenths of a second) should be below ping-int (5 s)",
            "drbd.conf:2: warning: in resource r0: timeout (100 tenths of a second) should be below connect-int (10 s)",
        ]
    );
    assert!(res("")
        .host_view("r0", "alice")
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn includes_relative_sorted_nested() {
    let dir = std::env::temp_dir().join(format!("drbd-rs-inc-{}", std::process::id()));
    let sub = dir.join("drbd.d");
    let deeper = sub.join("more");
    std::fs::create_dir_all(&deeper).unwrap();
    std::fs::write(
        dir.join("drbd.conf"),
        "global { usage-count no; }\ninclude \"drbd.d/*.res\";\ninclude \"drbd.d/nothing-*.conf\";\n",
    )
    .unwrap();
    let r = |name: &str, minor: u32, port: u32| {
        format!("resource {name} {{ device minor {minor}; disk /dev/{name}; meta-disk internal; on a {{ address 10.0.0.1:{port}; }} on b {{ address 10.0.0.2:{port}; }} }}\n")
    };
    std::fs::write(sub.join("b.res"), r("rb", 2, 7002)).unwrap();
    // a.res includes a file relative to its own directory.
    std::fs::write(
        sub.join("a.res"),
        format!("{}include \"more/x.conf\";\n", r("ra", 1, 7001)),
    )
    .unwrap();
    std::fs::write(deeper.join("x.conf"), r("rx", 3, 7003)).unwrap();
    std::fs::write(sub.join("c.res.off"), "garbage {").unwrap();

    let c = config::load(&dir.join("drbd.conf")).unwrap();
    let names: Vec<&str> = c.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ra", "rx", "rb"]);
    let loc = c.resource("rx").unwrap().origin.location().unwrap().clone();
    assert_eq!(
        loc.file.as_ref(),
        deeper.join("x.conf").display().to_string()
    );
    assert_eq!(loc.line, 1);

    // parse_str resolves includes relative to the origin's directory.
    let text = "include \"drbd.d/b.res\";";
    let origin = dir.join("virtual.conf").display().to_string();
    let c = config::parse_str(text, &origin).unwrap();
    assert_eq!(c.resources[0].name, "rb");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn find_config_file_uses_the_search_path() {
    assert_eq!(config::CONFIG_SEARCH_PATH[0], "/etc/drbd-84.conf");
    assert_eq!(config::CONFIG_SEARCH_PATH[4], "/etc/drbd.conf");
    if let Some(p) = config::find_config_file() {
        assert!(config::CONFIG_SEARCH_PATH.contains(&p.to_str().unwrap()));
    }
}

#[test]
fn dump_quotes_what_needs_quoting() {
    let c = parse(
        "resource \"odd:name\" {
  net { shared-secret \"with space\"; cram-hmac-alg \"\"; }
  handlers { split-brain \"say \\\"hi\\\" \\\\ bye\"; }
  startup { become-primary-on \"host one\"; }
  on \"host one\" { device \"/dev/drbd_a b\" minor 1; disk \"/dev/disk/by-path/pci-0000:00:1f.2\"; meta-disk \"/dev/md x\" [2]; address 10.0.0.1:1; }
}",
    );
    let text = config::dump(&c);
    assert!(text.contains("resource \"odd:name\" {"), "{text}");
    assert!(text.contains("shared-secret    \"with space\";"), "{text}");
    assert!(text.contains("cram-hmac-alg     \"\";"), "{text}");
    assert!(
        text.contains("split-brain      \"say \\\"hi\\\" \\\\ bye\";"),
        "{text}"
    );
    assert!(text.contains("on \"host one\" {"), "{text}");
    assert!(
        text.contains("device           \"/dev/drbd_a b\" minor 1;"),
        "{text}"
    );
    assert!(
        text.contains("disk             \"/dev/disk/by-path/pci-0000:00:1f.2\";"),
        "{text}"
    );
    assert!(
        text.contains("meta-disk        \"/dev/md x\" [2];"),
        "{text}"
    );
    round_trip(&c);
    let v = c.host_view("odd:name", "host one").unwrap();
    assert_eq!(v.volumes[0].disk, "/dev/disk/by-path/pci-0000:00:1f.2");
}
