// SPDX-License-Identifier: GPL-2.0
//! `make install DESTDIR=… PREFIX=…` puts the tool, its man page and its bash completion in
//! place; the man page renders without warnings (`man --warnings -l`, when man is
//! installed); the completion completes commands, options and the configuration's resource
//! names (through `drbdadm-rs sh-resources`, honouring `-c`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository")
        .to_path_buf()
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("drbdadm-rs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    Scratch(dir)
}

fn install(dest: &Path) {
    let out = Command::new("make")
        .current_dir(repo())
        .args(["--no-print-directory", "install"])
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/usr")
        .arg(format!("DRBDADM_RS={}", env!("CARGO_BIN_EXE_drbdadm-rs")))
        .output()
        .expect("make");
    assert!(
        out.status.success(),
        "make install failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn make_install_puts_tool_man_page_and_completion_in_place() {
    let s = scratch("install");
    let dest = s.0.join("root");
    install(&dest);
    let tool = dest.join("usr/sbin/drbdadm-rs");
    let man = dest.join("usr/share/man/man8/drbdadm-rs.8");
    let completion = dest.join("usr/share/bash-completion/completions/drbdadm-rs");
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(&tool, 0o755), (&man, 0o644), (&completion, 0o644)] {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            meta.permissions().mode() & 0o777,
            mode,
            "{}",
            path.display()
        );
    }
    // The installed tool runs.
    let out = Command::new(&tool).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DRBDADM_RS_VERSION="));
    // Nothing outside DESTDIR: the module part needs no DESTDIR-less install here.
    assert!(!dest.join("lib/modules").exists());
}

#[test]
fn man_page_renders_without_warnings() {
    let page = repo().join("Documentation/man/drbdadm-rs.8");
    let Ok(out) = Command::new("man")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .args(["--warnings", "-l"])
        .arg(&page)
        .output()
    else {
        eprintln!("man is not installed: rendering not checked");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "man warns:\n{stderr}");
    // Every command of the tool is in the page.
    let help = Command::new(env!("CARGO_BIN_EXE_drbdadm-rs"))
        .arg("--help")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 40, "{help}");
    // Hyphens as the locale renders them, words hyphenated at line ends joined again.
    let text = text.replace(['\u{2010}', '\u{2212}'], "-");
    let mut flat = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        flat.push_str(line.trim_end());
        if !line.ends_with('-') || lines.peek().is_none() {
            flat.push(' ');
        } else if let Some(next) = lines.next() {
            // "re-" + "source": the next line's first word continues this one.
            flat.push_str(next.trim_start());
            flat.push(' ');
        }
    }
    for c in commands {
        assert!(flat.contains(c), "the man page does not mention '{c}'");
    }
}

/// Runs the completion function for `line` (completing its last word) and returns COMPREPLY.
fn complete(completion: &Path, tool_dir: &Path, line: &str) -> Vec<String> {
    let script = format!(
        "source '{}'\nCOMP_LINE='{line}'\nread -ra COMP_WORDS <<< \"$COMP_LINE\"\n\
         [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\nCOMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
         _drbdadm_rs\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        completion.display()
    );
    let path = format!(
        "{}:{}",
        tool_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("__DRBD_NODE__", "alice")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    words.sort();
    words
}

#[test]
fn bash_completion_completes_commands_and_resources() {
    let s = scratch("completion");
    let dest = s.0.join("root");
    install(&dest);
    let completion = dest.join("usr/share/bash-completion/completions/drbdadm-rs");
    let tool_dir = dest.join("usr/sbin");
    let conf = repo().join("userspace-tools/tests/data/drbd84/drbd.conf");
    let conf = conf.display();

    assert_eq!(
        complete(&completion, &tool_dir, "drbdadm-rs sh-r"),
        ["sh-resource", "sh-resources"]
    );
    assert_eq!(
        complete(&completion, &tool_dir, "drbdadm-rs wait-c"),
        ["wait-con-int", "wait-connect"]
    );
    assert_eq!(
        complete(&completion, &tool_dir, &format!("drbdadm-rs -c {conf} up ")),
        ["all", "r0", "r1", "r2"]
    );
    assert_eq!(
        complete(
            &completion,
            &tool_dir,
            &format!("drbdadm-rs -c {conf} primary r")
        ),
        ["r0", "r1", "r2"]
    );
    assert_eq!(
        complete(&completion, &tool_dir, "drbdadm-rs create-md --f"),
        ["--force"]
    );
}
