// SPDX-License-Identifier: GPL-2.0
//! The meta-data commands on a detached volume (`get-gi`, `show-gi`, `dump-md`, `outdate`,
//! `wipe-md`) against drbdmeta's output, on meta data drbd.ko wrote
//! (`testdata/drbd84-peer/auth-csums-verify.node-a.md-tail-1MiB.bin.xz`: the last MiB of an
//! 8 MiB lower device, unclean as a crash leaves it) and on meta data drbdadm-rs's create-md
//! writes. The expected texts were recorded from drbd-utils 9.22's `drbdmeta` on a loop
//! device over the same bytes (drbdmeta wants a block device); when this test runs as root
//! with loop devices, it compares with drbdmeta itself as well.
//!
//! No kernel module is needed: without one, drbdadm-rs reads the meta data on disk (as
//! drbdadm-84 falls back to drbdmeta when drbdsetup-84 fails).

use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    std::env::var_os("DRBD_RS_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/drbd84-peer"),
        PathBuf::from,
    )
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drbdadm-rs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An 8 MiB lower device whose last MiB is drbd.ko's meta data tail.
fn node_a_device(dir: &Path) -> PathBuf {
    let mut xz = std::io::BufReader::new(
        std::fs::File::open(testdata().join("auth-csums-verify.node-a.md-tail-1MiB.bin.xz"))
            .expect("testdata/drbd84-peer (see development.md)"),
    );
    let mut tail = Vec::new();
    lzma_rs::xz_decompress(&mut xz, &mut tail).expect("xz");
    assert_eq!(tail.len(), 1 << 20);
    let mut dev = vec![0u8; 7 << 20];
    dev.extend_from_slice(&tail);
    let path = dir.join("node-a.img");
    std::fs::write(&path, dev).expect("write image");
    path
}

fn config(dir: &Path, disk: &Path) -> PathBuf {
    let conf = dir.join("drbd.conf");
    std::fs::write(
        &conf,
        format!(
            "resource r0 {{ on h {{ device /dev/drbd0; disk {}; meta-disk internal; \
             address 10.0.0.1:7789; }} }}\n",
            disk.display()
        ),
    )
    .expect("config");
    conf
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn adm(conf: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_drbdadm-rs"))
        .arg("-c")
        .arg(conf)
        .args(["--hostname", "h"])
        .args(args)
        .output()
        .expect("run drbdadm-rs");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// dump-md's text after drbdmeta's header (time, host, command line).
fn without_header(dump: &str) -> String {
    let mut lines = dump.lines();
    for expected in ["# DRBD meta data dump", "", "", "#", ""] {
        let line = lines.next().expect("header line");
        if !expected.is_empty() {
            assert_eq!(line, expected, "{dump}");
        }
    }
    lines.map(|l| format!("{l}\n")).collect()
}

const NODE_A_GI: &str =
    "1815B54974CDC872:0000000000000000:37D4E71A5A02AFCB:37D3E71A5A02AFCB:1:1:0:0:0:0:0\n";

#[test]
fn gi_and_dump_of_drbd_ko_meta_data() {
    let s = Scratch::new("meta-gi");
    let dev = node_a_device(&s.0);
    let conf = config(&s.0, &dev);

    let o = adm(&conf, &["get-gi", "r0"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, NODE_A_GI), "{}", o.stderr);
    let o = adm(&conf, &["show-gi", "r0"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with(
        "\n       +--<  Current data generation UUID  >-\n       |               +--<  Bitmap's"
    ));
    assert!(o.stdout.contains(NODE_A_GI), "{}", o.stdout);
    assert!(
        o.stdout.ends_with(
            "flags: Secondary, StandAlone, UpToDate\nmeta-data: need apply-al\n\
             last agreed size: 8152 KB (16304 sectors)\nlast agreed max bio size: 1048576 Byte\n"
        ),
        "{}",
        o.stdout
    );

    // Unclean: drbdmeta refuses to dump it (exit 1).
    let o = adm(&conf, &["dump-md", "r0"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("please apply-al first"), "{}", o.stderr);
    // After apply-al: the whole dump, bitmap included, as drbdmeta prints it after its own
    // apply-al of the same bytes.
    assert_eq!(adm(&conf, &["apply-al", "r0"]).code, 0);
    let o = adm(&conf, &["dump-md", "r0"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let want = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/meta/node-a-after-apply-al.dump-md"),
    )
    .expect("recorded dump");
    assert_eq!(without_header(&o.stdout), want);

    // outdate: UpToDate -> Outdated (MDF_WAS_UP_TO_DATE cleared), as drbdmeta outdate.
    let o = adm(&conf, &["outdate", "r0"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = adm(&conf, &["get-gi", "r0"]);
    assert_eq!(
        o.stdout,
        "1815B54974CDC872:0000000000000000:37D4E71A5A02AFCB:37D3E71A5A02AFCB:1:0:0:0:0:0:0\n"
    );
    assert!(adm(&conf, &["show-gi", "r0"])
        .stdout
        .contains("flags: Secondary, StandAlone, Outdated\nmeta-data: clean\n"));

    // wipe-md: the superblock gone; a second one finds nothing (exit 0, as drbdmeta).
    let o = adm(&conf, &["wipe-md", "--force", "r0"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (
            0,
            "Wiping meta data...\nDRBD meta data block successfully wiped out.\n"
        ),
        "{}",
        o.stderr
    );
    let o = adm(&conf, &["wipe-md", "--force", "r0"]);
    assert_eq!(o.code, 0);
    assert!(o
        .stderr
        .contains("There appears to be no drbd meta data to wipe out?"));
    assert_ne!(adm(&conf, &["get-gi", "r0"]).code, 0);
}

#[test]
fn outdate_of_inconsistent_meta_data_is_refused() {
    let s = Scratch::new("meta-outdate");
    let dev = s.0.join("fresh.img");
    std::fs::File::create(&dev)
        .and_then(|f| f.set_len(64 << 20))
        .expect("image");
    let conf = config(&s.0, &dev);
    assert_eq!(adm(&conf, &["create-md", "--force", "r0"]).code, 0);
    let o = adm(&conf, &["get-gi", "r0"]);
    assert_eq!(
        o.stdout,
        "0000000000000004:0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0:0\n"
    );
    // Fresh meta data is Inconsistent: drbdmeta outdate says so and exits 5.
    let o = adm(&conf, &["outdate", "r0"]);
    assert_eq!(o.code, 5, "{} {}", o.stdout, o.stderr);
    assert!(o.stderr.contains("Device is inconsistent."), "{}", o.stderr);
    let o = adm(&conf, &["show-gi", "r0"]);
    assert!(o
        .stdout
        .ends_with("flags: Secondary, StandAlone, Inconsistent\nmeta-data: clean\nzero size device -- never seen peer yet?\n"));
    let o = adm(&conf, &["dump-md", "r0"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let dump = without_header(&o.stdout);
    assert!(dump.contains("la-size-sect 0;\n"), "{dump}");
    assert!(
        dump.ends_with("# bm-bytes 0;\nbm {\n}\n# bits-set 0;\n"),
        "{dump}"
    );
}

/// With root and loop devices, the same commands side by side with drbdmeta itself.
#[test]
fn same_as_drbdmeta_on_a_loop_device() {
    let losetup = |args: &[&str]| {
        Command::new("losetup")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let s = Scratch::new("meta-loop");
    let dev = node_a_device(&s.0);
    let Some(loop_dev) = losetup(&["-f", "--show", dev.to_str().expect("path")]) else {
        eprintln!(
            "no loop devices here (not root?): only the recorded drbdmeta output is compared"
        );
        return;
    };
    let conf = config(&s.0, Path::new(&loop_dev));
    let drbdmeta = |cmd: &str| {
        let out = Command::new("drbdmeta")
            .args(["0", "v08", &loop_dev, "internal", cmd])
            .output()
            .expect("drbdmeta (make deps installs drbd-utils)");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let mut failures = Vec::new();
    for (cmd, run_apply_al) in [
        ("get-gi", false),
        ("show-gi", false),
        ("apply-al", true),
        ("dump-md", false),
        ("show-gi", false),
    ] {
        let theirs = drbdmeta(cmd);
        if run_apply_al {
            // drbdmeta applied it: both go on from the same bytes.
            continue;
        }
        let ours = adm(&conf, &[cmd, "r0"]);
        let (t, o) = if cmd == "dump-md" {
            (without_header(&theirs.1), without_header(&ours.stdout))
        } else {
            (theirs.1.clone(), ours.stdout.clone())
        };
        if t != o || theirs.0 != ours.code {
            failures.push(format!(
                "{cmd}: drbdmeta exit {} / ours {}\n--- drbdmeta\n{t}--- ours\n{o}{}",
                theirs.0, ours.code, ours.stderr
            ));
        }
    }
    let _ = losetup(&["-d", &loop_dev]);

    // outdate of unclean meta data (as a detach leaves it): drbdmeta's bytes and ours.
    let theirs = node_a_device(&s.0);
    let ours = s.0.join("ours.img");
    std::fs::copy(&theirs, &ours).expect("copy");
    if let Some(loop_dev) = losetup(&["-f", "--show", theirs.to_str().expect("path")]) {
        let st = Command::new("drbdmeta")
            .args(["0", "v08", &loop_dev, "internal", "outdate"])
            .status()
            .expect("drbdmeta");
        let _ = losetup(&["-d", &loop_dev]);
        assert!(st.success(), "drbdmeta outdate: {st}");
        let conf = config(&s.0, &ours);
        let o = adm(&conf, &["outdate", "r0"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        if std::fs::read(&theirs).expect("read") != std::fs::read(&ours).expect("read") {
            failures.push("outdate of unclean meta data: the bytes differ from drbdmeta's".into());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
