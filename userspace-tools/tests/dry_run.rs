// SPDX-License-Identifier: GPL-2.0
//! `drbdadm-rs -d` against drbd-utils' `drbdadm-84 -d`: for every configuration in
//! tests/data, every host named in it, every resource (and `all`, each volume as `RES/VNR`
//! and `minor-N`, several at once) and every command of the table below, both dry runs must
//! print the same lines (drbdsetup-84 / drbdmeta command lines with their options, in
//! drbdadm-84's order and spelling) and exit alike. Configurations drbdadm-84 refuses are
//! listed in REFUSED_BY_84 and asserted refused.
//!
//! drbdadm-84 is a real dependency (`make deps` installs drbd-utils): without it this test
//! fails. It takes the host name from `__DRBD_NODE__` (else `uname -n`), drbdadm-rs from
//! `--hostname`.

use std::path::{Path, PathBuf};
use std::process::Command;

use drbd_rs_tools::config;

/// drbd-utils installs the 8.4 front end here (Debian's drbd-utils 9.x).
const DRBDADM_84: &str = "/lib/drbd/drbdadm-84";

/// The commands compared, as typed after `-d -c FILE` (the resource goes last).
const COMMANDS: &[&[&str]] = &[
    &["up"],
    &["down"],
    &["attach"],
    &["detach"],
    &["connect"],
    &["connect", "--discard-my-data"],
    &["--", "--discard-my-data", "connect"],
    &["connect", "--tentative"],
    &["disconnect"],
    &["disconnect", "--force"],
    &["primary"],
    &["primary", "--force"],
    &["secondary"],
    &["new-resource"],
    &["new-minor"],
    &["resize"],
    &["invalidate"],
    &["invalidate-remote"],
    &["pause-sync"],
    &["resume-sync"],
    &["verify"],
    &["--", "--start=100", "--stop=8M", "verify"],
    &["new-current-uuid"],
    &["new-current-uuid", "--clear-bitmap"],
    &["net-options"],
    &["wait-connect"],
    &["disk-options"],
    &["resource-options"],
    // Nothing runs on the host (no drbd module): adjust plans everything, as drbdadm-84 does
    // when `drbdsetup-84 show` prints nothing.
    &["adjust"],
    &["adjust-with-progress"],
    &["create-md"],
    &["create-md", "--force"],
    &["apply-al"],
    // drbdsetup options given the drbdadm way: after `--` (appended to each drbdsetup and
    // drbdmeta line but new-minor's, wait-connect's and check-resize's), or directly where
    // drbdadm-84 takes them.
    &["--", "--foo=1", "up"],
    &["--", "--cpu-mask=1", "new-resource"],
    &["attach", "--on-io-error=detach"],
    &["attach", "--disk-flushes=no", "--al-extents", "7"],
    &["connect", "--protocol=B"],
    &["--", "--protocol=A", "net-options"],
    &["net-options", "--protocol=A", "--allow-two-primaries"],
    &["--", "--set-defaults", "--protocol=A", "net-options"],
    &["--", "--force", "disconnect"],
    &["detach", "--force"],
    &["--", "--force", "detach"],
    &["--", "--overwrite-data-of-peer", "primary"],
    &["--", "--do-what-I-say", "primary"],
    &["--", "--size=1G", "--assume-peer-has-space", "resize"],
    &["--", "--assume-clean", "resize"],
    &["--", "--stop=8M", "--start=100", "verify"],
    &["--", "--clear-bitmap", "new-current-uuid"],
    &["--", "--force", "create-md"],
    &["--", "--force", "invalidate"],
    &["--", "--force", "wait-connect"],
    &["-W--force", "detach"],
    &["disk-options", "--al-extents", "7", "--on-io-error=detach"],
    &["--", "--set-defaults", "--resync-rate=1M", "disk-options"],
    &["--", "--size=1G", "disk-options"],
    &["resource-options", "--on-no-data-accessible=suspend-io"],
    &["resource-options", "--cpu-mask", "3"],
    &["--", "--set-defaults", "resource-options"],
    &["--", "--protocol=A", "adjust"],
    &["--setup-option=--assume-clean", "resize"],
    // The commands added for issue #13 (kernel- and meta-data-backed ones).
    &["outdate"],
    &["suspend-io"],
    &["resume-io"],
    &["check-resize"],
    &["show-gi"],
    &["get-gi"],
    &["dump-md"],
    &["wipe-md"],
    &["wait-con-int"],
    &["sh-b-pri"],
    &["sh-new-minor"],
    &["sh-status"],
    &["-v", "primary"],
    // Stacked mode: drbdadm-rs, like drbdadm-84 on these configurations, has no stacked
    // resources.
    &["-S", "up"],
    &["-S", "primary"],
];

/// The `sh-*` queries (no `-d`: they only read the configuration), compared by output and
/// exit status like the dry runs. `sh-status` needs the kernel and is in COMMANDS (`-d`).
const SH_QUERIES: &[&[&str]] = &[
    &["sh-nop"],
    &["sh-resources"],
    &["sh-resource"],
    &["sh-mod-parms"],
    &["sh-dev"],
    &["sh-udev"],
    &["sh-minor"],
    &["sh-ll-dev"],
    &["sh-md-dev"],
    &["sh-md-idx"],
    &["sh-ip"],
    &["sh-lr-of"],
    &["-S", "sh-resources"],
    &["-S", "sh-dev"],
    &["-S", "sh-lr-of"],
];

/// Configurations drbdadm-84 refuses and drbdadm-rs reads (0.7 syntax: `incon-degr-cmd`,
/// `on-disconnect`, `group`): only drbdadm-rs's side can be run; asserted below that it is
/// still so, and that drbdadm-rs plans something for them.
const REFUSED_BY_84: &[&str] = &["heartbeat-0.7.conf"];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Every configuration file under tests/data (files in a `drbd.d` directory are included
/// by another one, not configurations of their own).
fn configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("tests/data")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "drbd.d") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|e| e == "conf") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data_dir(), &mut out);
    out
}

/// What one dry run gave.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    code: i32,
    stdout: Vec<String>,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run");
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What drbdadm-84's `wait-con-int` writes before its first line when stdout is no
/// terminal (no newline after it).
const NO_TTY_WARNING: &str = "WARN: stdin/stdout is not a TTY; using /dev/console";

/// `resources`: one or more (separated by spaces).
fn theirs(conf: &Path, host: &str, args: &[&str], resources: &str) -> Run {
    theirs_with(conf, host, &["-d"], args, resources)
}

fn theirs_with(conf: &Path, host: &str, pre: &[&str], args: &[&str], resources: &str) -> Run {
    let mut cmd = Command::new(DRBDADM_84);
    cmd.env("__DRBD_NODE__", host)
        .args(pre)
        .arg("-c")
        .arg(conf)
        .args(args)
        .args(resources.split_whitespace());
    let mut r = run(cmd);
    for line in &mut r.stdout {
        while let Some(rest) = line.strip_prefix(NO_TTY_WARNING) {
            *line = rest.to_string();
        }
    }
    r.stdout
        .retain(|l| !l.is_empty() || !args.contains(&"wait-con-int"));
    r
}

fn ours(conf: &Path, host: &str, args: &[&str], resources: &str) -> Run {
    ours_with(conf, host, &["-d"], args, resources)
}

fn ours_with(conf: &Path, host: &str, pre: &[&str], args: &[&str], resources: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drbdadm-rs"));
    cmd.args(pre)
        .arg("-c")
        .arg(conf)
        .args(["--hostname", host])
        .args(args)
        .args(resources.split_whitespace());
    run(cmd)
}

/// A readable line-by-line diff of the two outputs.
fn diff(theirs: &[String], ours: &[String]) -> String {
    let mut text = String::new();
    for i in 0..theirs.len().max(ours.len()) {
        match (theirs.get(i), ours.get(i)) {
            (Some(t), Some(o)) if t == o => text.push_str(&format!("    {t}\n")),
            (t, o) => {
                if let Some(t) = t {
                    text.push_str(&format!("-84 {t}\n"));
                }
                if let Some(o) = o {
                    text.push_str(&format!("+rs {o}\n"));
                }
            }
        }
    }
    text
}

/// The host names of a configuration (as drbdadm-rs reads it).
fn hosts(conf: &Path) -> Vec<String> {
    let cfg = config::load(conf).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
    // `on` sections by name, `floating` ones by address (drbdadm-84 takes that for the host
    // name too).
    let mut hosts: Vec<String> = cfg
        .resources
        .iter()
        .flat_map(|r| r.hosts.iter())
        .flat_map(|h| match h.kind {
            config::HostKind::Floating => vec![h.address.ip.to_string()],
            config::HostKind::On(_) => h.names().to_vec(),
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// What the commands are given for `host`: every resource, `all`, and each of the host's
/// volumes as `RES/VNR` and `minor-N`, a volume that does not exist, and several at once
/// (the resources in reverse order, `all` with another, a resource and a volume).
fn targets(conf: &Path, host: &str) -> Vec<String> {
    let cfg = config::load(conf).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
    let mut out: Vec<String> = cfg.resources.iter().map(|r| r.name.clone()).collect();
    out.push("all".to_string());
    for r in cfg.resources_for_host(host) {
        for v in &r.select_host(host, &[]).expect("host section").volumes {
            out.push(format!("{}/{}", r.name, v.number));
            out.push(format!("minor-{}", v.device.minor));
        }
    }
    if let Some(r) = cfg.resources.first() {
        out.push(format!("{}/99", r.name));
        out.push(format!("all {}", r.name));
    }
    let mine: Vec<&str> = cfg
        .resources_for_host(host)
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    if mine.len() > 1 {
        let reversed: Vec<&str> = mine.iter().rev().copied().collect();
        out.push(reversed.join(" "));
        out.push(format!("{} minor-{}", mine[1], {
            let r = cfg.resource(mine[0]).expect("resource");
            r.select_host(host, &[]).expect("host").volumes[0]
                .device
                .minor
        }));
    }
    out
}

#[test]
fn dry_run_prints_what_drbdadm_84_prints() {
    assert!(
        Path::new(DRBDADM_84).exists(),
        "{DRBDADM_84} is missing: make deps installs drbd-utils (this test compares with it)"
    );
    // The configurations side by side (thousands of short runs each).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let configs = configs();
    let results: Vec<Compared> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let mine: Vec<&PathBuf> = configs.iter().skip(k).step_by(threads).collect();
                scope.spawn(move || mine.into_iter().map(|c| compare(c)).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("comparison thread"))
            .collect()
    });
    let compared: usize = results.iter().map(|r| r.runs).sum();
    let lines: usize = results.iter().map(|r| r.lines).sum();
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.failures).collect();
    assert!(
        failures.is_empty(),
        "{} of {compared} dry runs differ from drbdadm-84's (-84: its line, +rs: ours):\n\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("{compared} dry runs, {lines} lines of drbdadm-84 output compared");
    // Enough was compared to mean something (every config, host, resource, command).
    assert!(compared > 1000, "only {compared} runs compared");
    assert!(lines > 1000, "only {lines} lines compared");
}

#[test]
fn sh_queries_print_what_drbdadm_84_prints() {
    let mut runs = 0;
    let mut lines = 0;
    let mut failures = Vec::new();
    for conf in configs() {
        let name = conf
            .strip_prefix(data_dir())
            .expect("under tests/data")
            .display()
            .to_string();
        if REFUSED_BY_84.contains(&name.as_str()) {
            continue;
        }
        for host in hosts(&conf) {
            let mut targets = targets(&conf, &host);
            targets.push("nosuch".into());
            for args in SH_QUERIES {
                for res in &targets {
                    let t = theirs_with(&conf, &host, &[], args, res);
                    let o = ours_with(&conf, &host, &[], args, res);
                    runs += 1;
                    lines += t.stdout.len();
                    if o.stdout != t.stdout || o.code != t.code {
                        failures.push(format!(
                            "{name} (host {host}): {} {res}: exit {} (drbdadm-84 {})\n{}\
                             drbdadm-84 stderr: {}drbdadm-rs stderr: {}",
                            args.join(" "),
                            o.code,
                            t.code,
                            diff(&t.stdout, &o.stdout),
                            t.stderr,
                            o.stderr
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} sh-* queries differ from drbdadm-84's:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{runs} sh-* queries, {lines} lines of drbdadm-84 output compared");
    assert!(runs > 500 && lines > 500, "only {runs} runs, {lines} lines");
}

/// What [`compare`] found for one configuration.
struct Compared {
    runs: usize,
    lines: usize,
    failures: Vec<String>,
}

/// Every host, command and target of one configuration, both tools.
fn compare(conf: &Path) -> Compared {
    let name = conf
        .strip_prefix(data_dir())
        .expect("under tests/data")
        .display()
        .to_string();
    let mut found = Compared {
        runs: 0,
        lines: 0,
        failures: Vec::new(),
    };
    let hosts = hosts(conf);
    assert!(!hosts.is_empty(), "{name}: no hosts");
    for host in &hosts {
        let targets = targets(conf, host);
        for args in COMMANDS {
            for res in &targets {
                let t = theirs(conf, host, args, res);
                let what = format!("{name} (host {host}): -d {} {res}", args.join(" "));
                if REFUSED_BY_84.contains(&name.as_str()) {
                    // drbdadm-84 stops at the 0.7 keywords; drbdadm-rs reads the file.
                    assert_eq!(t.code, 10, "{what}: drbdadm-84 accepts it now: {t:?}");
                    assert!(t.stdout.is_empty(), "{what}: {t:?}");
                    assert!(
                        t.stderr.contains("Parse error"),
                        "{what}: drbdadm-84 said {}",
                        t.stderr
                    );
                    continue;
                }
                let o = ours(conf, host, args, res);
                found.runs += 1;
                found.lines += t.stdout.len();
                if o.stdout != t.stdout || o.code != t.code {
                    found.failures.push(format!(
                        "{what}: exit {} (drbdadm-84 {})\n{}drbdadm-84 stderr: {}drbdadm-rs stderr: {}",
                        o.code,
                        t.code,
                        diff(&t.stdout, &o.stdout),
                        t.stderr,
                        o.stderr
                    ));
                }
            }
        }
    }
    found
}

/// The 0.7 configuration drbdadm-84 refuses: drbdadm-rs plans it as it would an 8.4 one
/// (`syncer { rate }` as the attach's `--resync-rate`, `group` and `on-disconnect` dropped,
/// `incon-degr-cmd` a handler, not a drbdsetup option).
#[test]
fn dry_run_of_a_config_only_drbdadm_rs_reads() {
    let conf = data_dir().join("heartbeat-0.7.conf");
    let o = ours(&conf, "node1", &["up"], "all");
    assert_eq!(o.code, 0, "{o:?}");
    let setup = drbd_rs_tools::plan::Tools::as_installed().drbdsetup;
    let want = [
        format!("{setup} new-resource r0"),
        format!("{setup} new-minor r0 0 0"),
        format!("{setup} new-resource r1"),
        format!("{setup} new-minor r1 1 0"),
    ];
    assert_eq!(o.stdout[..4], want, "{o:?}");
    assert!(
        o.stdout.iter().any(|l| {
            l.ends_with(
            "attach 0 /dev/hda3 /dev/sda7 0 --al-extents=257 --resync-rate=10M --on-io-error=detach"
        )
        }),
        "{o:?}"
    );
    assert!(
        o.stdout.iter().any(|l| l.ends_with(
            "connect r1 ipv4:192.168.1.1:7789 ipv4:192.168.1.2:7789 --protocol=C \
             --sndbuf-size=512k --timeout=60 --connect-int=10 --ping-int=10 --max-buffers=2048 \
             --max-epoch-size=2048 --ko-count=4"
        )),
        "{o:?}"
    );
}

/// A dry run changes nothing: it needs no module, no devices, no root (`create-md` and
/// `invalidate` would otherwise touch /dev/vg0/r0).
#[test]
fn dry_run_needs_no_kernel_and_no_devices() {
    let conf = data_dir().join("drbd84/drbd.conf");
    for args in [
        &["create-md", "--force"][..],
        &["invalidate"],
        &["up"],
        &["down"],
    ] {
        let o = ours(&conf, "alice", args, "r0");
        assert_eq!(o.code, 0, "{args:?}: {o:?}");
        assert!(!o.stdout.is_empty(), "{args:?}");
        assert!(
            Path::new("/dev/vg0/r0").metadata().is_err(),
            "there is a /dev/vg0/r0 here"
        );
    }
    // The read-only commands have nothing to print and say so.
    let o = ours(&conf, "alice", &["role"], "r0");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("only reads the kernel's state"), "{o:?}");
}

/// Without -d, the drbdsetup options given are checked against the steps before anything
/// runs (no module needed to see the error): an option the step's drbdsetup command does not
/// have, or a bad value, exits 20 as drbdsetup-84 does.
#[test]
fn setup_options_are_checked_before_anything_runs() {
    let conf = data_dir().join("drbd84/drbd.conf");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drbdadm-rs"));
        cmd.arg("-c")
            .arg(&conf)
            .args(["--hostname", "alice"])
            .args(args);
        run(cmd)
    };
    let o = run(&["--", "--foo=1", "up", "r0"]);
    assert_eq!(o.code, 20, "{o:?}");
    assert!(
        o.stderr
            .contains("--foo=1: drbdsetup-84 new-resource has no option --foo"),
        "{o:?}"
    );
    let o = run(&["net-options", "--protocol=Q", "r0"]);
    assert_eq!(o.code, 20, "{o:?}");
    assert!(o.stderr.contains("expected one of A, B, C"), "{o:?}");
    let o = run(&["--", "--size=12Q", "resize", "r0"]);
    assert_eq!(o.code, 20, "{o:?}");
    // Read-only commands take none.
    let o = run(&["--", "--force", "role", "r0"]);
    assert_eq!(o.code, 1, "{o:?}");
}
