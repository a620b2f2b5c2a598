//! What a drbdadm command does, as a list of steps. Each step is one command line drbdadm-84
//! runs (a `drbdsetup-84` or `drbdmeta` call, with its options in drbdadm-84's order and
//! spelling) and, for drbdadm-rs, the kernel request or meta-data operation that does the
//! same. The steps are built once from the configuration (the host views,
//! [`crate::config::HostView`]): the dry run (`-d`) prints their command lines, the executor
//! in `main.rs` carries them out, so what `-d` shows is what runs. `resize` and `invalidate`
//! print two lines, as drbdadm-84 (`check-resize`, which drbdadm-rs does not need, and the
//! drbdmeta fallback, which it runs only when the kernel cannot invalidate). drbdsetup
//! options given on the command line are appended to the lines where drbdadm-84 appends
//! them ([`Step::argvs`]) and taken into the step that runs ([`Step::with_setup`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::admin::ConnectFlags;
use crate::config::model::Address;
use crate::config::units::{self, Unit};
use crate::config::{MetaDisk, OptionEntry, OptionList, SectionKind, VolumeView};

/// Where drbd-utils installs drbdadm-84 and its helpers (Debian's drbd-utils 9.x).
pub const DRBD_LIB_DIR: &str = "/lib/drbd";

/// The names of the helper programs in the printed command lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `drbdsetup-84` (or a path to it).
    pub drbdsetup: String,
    /// `drbdmeta` (or a path to it).
    pub drbdmeta: String,
}

impl Tools {
    /// The names drbdadm-84 prints when run as `/lib/drbd/drbdadm-84` (as drbd-utils'
    /// `drbdadm` wrapper runs it): a helper found executable next to it is named by its path
    /// (`/lib/drbd/drbdsetup-84`), one that is not by its bare name (`drbdmeta`, looked up in
    /// `PATH`).
    pub fn as_installed() -> Self {
        Tools::in_dir(Path::new(DRBD_LIB_DIR))
    }

    /// The names drbdadm-84 prints when run from `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        let name = |tool: &str| {
            let path = dir.join(tool);
            let executable = std::fs::metadata(&path)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            if executable {
                path.display().to_string()
            } else {
                tool.to_string()
            }
        };
        Tools {
            drbdsetup: name("drbdsetup-84"),
            drbdmeta: name("drbdmeta"),
        }
    }
}

/// The two ends of a connection as the config names them (`None`: no peer section, which
/// the dry run prints as `N/A`, as drbdadm-84, and the executor refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ends {
    /// This node's address.
    pub my: Address,
    /// The peer's, when the resource has exactly one peer.
    pub peer: Option<Address>,
}

/// One step of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `drbdsetup new-resource RES [--resource-options]`.
    NewResource {
        /// Resource name.
        resource: String,
        /// The effective `options { }`.
        options: OptionList,
    },
    /// `drbdsetup resource-options RES [--set-defaults] [--resource-options]`.
    ResourceOptions {
        /// Resource name.
        resource: String,
        /// The options sent (drbdadm-84 sends none from the config; adjust all of them).
        options: OptionList,
        /// Reset the options not sent.
        set_defaults: bool,
    },
    /// `drbdsetup disk-options MINOR [--set-defaults] [--disk-options]`.
    DiskOptions {
        /// Minor number.
        minor: u32,
        /// The options sent (drbdadm-84 sends none from the config; adjust all of them).
        options: OptionList,
        /// Reset the options not sent.
        set_defaults: bool,
    },
    /// `drbdsetup new-minor RES MINOR VOLUME`.
    NewMinor {
        /// Resource name.
        resource: String,
        /// Minor number.
        minor: u32,
        /// Volume number.
        volume: u32,
    },
    /// `drbdmeta MINOR v08 META IDX apply-al`.
    ApplyAl {
        /// Resource name.
        resource: String,
        /// The volume.
        volume: VolumeView,
    },
    /// `drbdsetup attach MINOR LOWER META IDX [--disk-options]`.
    Attach {
        /// The volume (its effective disk options included).
        volume: VolumeView,
    },
    /// `drbdsetup connect RES MY PEER [--net-options] [--discard-my-data] [--tentative]`.
    Connect {
        /// Resource name.
        resource: String,
        /// The endpoints.
        ends: Ends,
        /// The effective `net { }` options.
        net: OptionList,
        /// One-shot flags.
        flags: ConnectFlags,
    },
    /// `drbdsetup disconnect MY PEER [--force]`.
    Disconnect {
        /// Resource name.
        resource: String,
        /// The endpoints.
        ends: Ends,
        /// Without waiting for the peer.
        force: bool,
    },
    /// `drbdsetup net-options MY PEER [--set-defaults] [--net-options]`.
    NetOptions {
        /// Resource name.
        resource: String,
        /// The endpoints.
        ends: Ends,
        /// The options sent (drbdadm-84 sends none from the config).
        net: OptionList,
        /// Reset the options not sent.
        set_defaults: bool,
    },
    /// `drbdsetup wait-connect MINOR [--startup-options]`.
    WaitConnect {
        /// Resource name.
        resource: String,
        /// Volume number.
        volume: u32,
        /// Minor number.
        minor: u32,
        /// The effective `startup { }` options (command-line timeouts set on top).
        startup: OptionList,
    },
    /// `drbdsetup down RES`.
    Down {
        /// Resource name.
        resource: String,
    },
    /// `drbdsetup resize MINOR [--size=S] [...]`, then `drbdsetup check-resize MINOR`.
    Resize {
        /// Minor number.
        minor: u32,
        /// `--size` as written and in sectors (the command line's, else `disk { size }`).
        size: Option<(String, u64)>,
        /// `--assume-peer-has-space`.
        assume_peer_has_space: bool,
        /// `--assume-clean`.
        assume_clean: bool,
    },
    /// `drbdsetup invalidate MINOR`; when the kernel cannot (not attached, no minor, no
    /// module) `drbdmeta MINOR v08 META IDX invalidate` — both printed by the dry run, as
    /// drbdadm-84 does.
    Invalidate {
        /// The volume.
        volume: VolumeView,
    },
    /// `drbdsetup verify MINOR [--start=S] [--stop=S]`.
    Verify {
        /// Minor number.
        minor: u32,
        /// `--start` as given and in sectors.
        start: Option<(String, u64)>,
        /// `--stop` as given and in sectors.
        stop: Option<(String, u64)>,
    },
    /// `drbdsetup new-current-uuid MINOR [--clear-bitmap]`.
    NewCurrentUuid {
        /// Minor number.
        minor: u32,
        /// `--clear-bitmap`.
        clear_bitmap: bool,
    },
    /// `drbdsetup primary MINOR [--force]`.
    Primary {
        /// Minor number.
        minor: u32,
        /// `--force`.
        force: bool,
    },
    /// `drbdsetup detach MINOR [--force]`.
    Detach {
        /// Minor number.
        minor: u32,
        /// `--force` (given after `--`, or directly as drbdadm-84 takes it).
        force: bool,
    },
    /// A `drbdsetup CMD MINOR` without options.
    Minor {
        /// Which.
        cmd: MinorCmd,
        /// Minor number.
        minor: u32,
    },
    /// `drbdsetup outdate MINOR`, then `drbdmeta MINOR v08 META IDX outdate` (run only when
    /// the kernel has no such disk, as drbdadm-84; both printed by the dry run).
    Outdate {
        /// The volume.
        volume: VolumeView,
    },
    /// `drbdsetup show-gi|get-gi MINOR`, then `drbdmeta ... show-gi|get-gi` (the meta data
    /// on disk, read only when the kernel has no disk for the minor).
    Gi {
        /// The volume.
        volume: VolumeView,
        /// `show-gi` (explained) rather than `get-gi` (one line).
        show: bool,
    },
    /// A drbdmeta command on a detached volume: `drbdmeta MINOR v08 META IDX dump-md|wipe-md`.
    Meta {
        /// The volume.
        volume: VolumeView,
        /// Which.
        cmd: MetaCmd,
    },
    /// `drbdmeta MINOR v08 META IDX create-md [--force]`.
    CreateMd {
        /// Resource name.
        resource: String,
        /// The volume.
        volume: VolumeView,
        /// Overwrite without asking.
        force: bool,
    },
}

/// The drbdsetup commands that take only a minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinorCmd {
    /// `secondary`.
    Secondary,
    /// `invalidate-remote`.
    InvalidateRemote,
    /// `pause-sync`.
    PauseSync,
    /// `resume-sync`.
    ResumeSync,
    /// `del-minor` (adjust: a minor the configuration no longer has).
    DelMinor,
    /// `suspend-io`.
    SuspendIo,
    /// `resume-io`.
    ResumeIo,
}

/// The drbdmeta commands on a detached volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCmd {
    /// `dump-md`.
    DumpMd,
    /// `wipe-md [--force]`.
    WipeMd {
        /// Do not ask.
        force: bool,
    },
}

impl MetaCmd {
    /// The drbdmeta command name.
    pub fn name(self) -> &'static str {
        match self {
            MetaCmd::DumpMd => "dump-md",
            MetaCmd::WipeMd { .. } => "wipe-md",
        }
    }
}

impl MinorCmd {
    /// The drbdsetup command name.
    pub fn name(self) -> &'static str {
        match self {
            MinorCmd::Secondary => "secondary",
            MinorCmd::InvalidateRemote => "invalidate-remote",
            MinorCmd::PauseSync => "pause-sync",
            MinorCmd::ResumeSync => "resume-sync",
            MinorCmd::DelMinor => "del-minor",
            MinorCmd::SuspendIo => "suspend-io",
            MinorCmd::ResumeIo => "resume-io",
        }
    }
}

/// The `startup { }` options drbdadm-84 gives `wait-connect` (`become-primary-on` and
/// `stacked-timeouts` are its own, not drbdsetup's).
const WAIT_CONNECT_OPTIONS: [&str; 4] = [
    "wfc-timeout",
    "degr-wfc-timeout",
    "outdated-wfc-timeout",
    "wait-after-sb",
];

/// `--name=value` for each option, as drbdadm-84's `make_options`.
fn options(list: &OptionList) -> impl Iterator<Item = String> + '_ {
    list.iter().map(|e| format!("--{}={}", e.name, e.arg()))
}

/// The address as drbdadm-84 writes it (`ipv4:10.0.0.1:7789`, `ipv6:[fd00::1]:7789`).
fn address(a: &Address) -> String {
    a.to_arg()
}

fn ends_args(ends: &Ends) -> [String; 2] {
    [
        address(&ends.my),
        ends.peer
            .as_ref()
            .map_or_else(|| "N/A".to_string(), address),
    ]
}

/// drbdmeta's meta-data arguments: `META IDX` (`internal`, `flex-external`, `N`).
fn meta_args(v: &VolumeView) -> [String; 2] {
    match &v.meta_disk {
        MetaDisk::Internal => [v.disk.clone(), "internal".to_string()],
        MetaDisk::FlexibleExternal(d) => [d.clone(), "flex-external".to_string()],
        MetaDisk::IndexedExternal(d, i) => [d.clone(), i.to_string()],
    }
}

fn drbdmeta(tools: &Tools, v: &VolumeView, cmd: &str) -> Vec<String> {
    let [meta, idx] = meta_args(v);
    vec![
        tools.drbdmeta.clone(),
        v.device.minor.to_string(),
        "v08".to_string(),
        meta,
        idx,
        cmd.to_string(),
    ]
}

impl Step {
    /// The command lines drbdadm-84 runs for this step (argv each), in order, with the
    /// drbdsetup options given on the command line (`setup`) appended where drbdadm-84
    /// appends them (not to new-minor, wait-connect and check-resize).
    pub fn argvs(&self, tools: &Tools, setup: &[String]) -> Vec<Vec<String>> {
        let mut argvs = self.own_argvs(tools);
        let takes_setup = |i: usize| match self {
            Step::NewMinor { .. } | Step::WaitConnect { .. } => false,
            Step::Resize { .. } => i == 0,
            _ => true,
        };
        for (i, argv) in argvs.iter_mut().enumerate() {
            if takes_setup(i) {
                argv.extend(setup.iter().cloned());
            }
        }
        argvs
    }

    fn own_argvs(&self, tools: &Tools) -> Vec<Vec<String>> {
        let setup = |args: &[&str]| -> Vec<String> {
            std::iter::once(tools.drbdsetup.clone())
                .chain(args.iter().map(|a| a.to_string()))
                .collect()
        };
        match self {
            Step::NewResource {
                resource,
                options: o,
            } => {
                let mut argv = setup(&["new-resource", resource]);
                argv.extend(options(o));
                vec![argv]
            }
            Step::ResourceOptions {
                resource,
                options: o,
                set_defaults,
            } => {
                let mut argv = setup(&["resource-options", resource]);
                if *set_defaults {
                    argv.push("--set-defaults".into());
                }
                argv.extend(options(o));
                vec![argv]
            }
            Step::DiskOptions {
                minor,
                options: o,
                set_defaults,
            } => {
                let mut argv = setup(&["disk-options", &minor.to_string()]);
                if *set_defaults {
                    argv.push("--set-defaults".into());
                }
                argv.extend(options(o));
                vec![argv]
            }
            Step::NewMinor {
                resource,
                minor,
                volume,
            } => vec![setup(&[
                "new-minor",
                resource,
                &minor.to_string(),
                &volume.to_string(),
            ])],
            Step::ApplyAl { volume, .. } => vec![drbdmeta(tools, volume, "apply-al")],
            Step::Attach { volume: v } => {
                let (meta, idx) = v.meta_disk.attach_args(&v.disk);
                let mut argv = setup(&["attach", &v.device.minor.to_string(), &v.disk, meta, &idx]);
                argv.extend(options(&v.disk_options));
                vec![argv]
            }
            Step::Connect {
                resource,
                ends,
                net,
                flags,
            } => {
                let [my, peer] = ends_args(ends);
                let mut argv = setup(&["connect", resource, &my, &peer]);
                argv.extend(options(net));
                if flags.discard_my_data {
                    argv.push("--discard-my-data".into());
                }
                if flags.tentative {
                    argv.push("--tentative".into());
                }
                vec![argv]
            }
            Step::Disconnect { ends, force, .. } => {
                let [my, peer] = ends_args(ends);
                let mut argv = setup(&["disconnect", &my, &peer]);
                if *force {
                    argv.push("--force".into());
                }
                vec![argv]
            }
            Step::NetOptions {
                ends,
                net,
                set_defaults,
                ..
            } => {
                let [my, peer] = ends_args(ends);
                let mut argv = setup(&["net-options", &my, &peer]);
                if *set_defaults {
                    argv.push("--set-defaults".into());
                }
                argv.extend(options(net));
                vec![argv]
            }
            Step::WaitConnect { minor, startup, .. } => {
                let mut argv = setup(&["wait-connect", &minor.to_string()]);
                argv.extend(
                    startup
                        .iter()
                        .filter(|e| WAIT_CONNECT_OPTIONS.contains(&e.name))
                        .map(|e| format!("--{}={}", e.name, e.arg())),
                );
                vec![argv]
            }
            Step::Down { resource } => vec![setup(&["down", resource])],
            Step::Resize {
                minor,
                size,
                assume_peer_has_space,
                assume_clean,
            } => {
                let m = minor.to_string();
                let mut argv = setup(&["resize", &m]);
                if let Some((text, _)) = size {
                    argv.push(format!("--size={text}"));
                }
                if *assume_peer_has_space {
                    argv.push("--assume-peer-has-space".into());
                }
                if *assume_clean {
                    argv.push("--assume-clean".into());
                }
                vec![argv, setup(&["check-resize", &m])]
            }
            Step::Invalidate { volume } => vec![
                setup(&["invalidate", &volume.device.minor.to_string()]),
                drbdmeta(tools, volume, "invalidate"),
            ],
            Step::Verify { minor, start, stop } => {
                let mut argv = setup(&["verify", &minor.to_string()]);
                if let Some((text, _)) = start {
                    argv.push(format!("--start={text}"));
                }
                if let Some((text, _)) = stop {
                    argv.push(format!("--stop={text}"));
                }
                vec![argv]
            }
            Step::NewCurrentUuid {
                minor,
                clear_bitmap,
            } => {
                let mut argv = setup(&["new-current-uuid", &minor.to_string()]);
                if *clear_bitmap {
                    argv.push("--clear-bitmap".into());
                }
                vec![argv]
            }
            Step::Primary { minor, force } => {
                let mut argv = setup(&["primary", &minor.to_string()]);
                if *force {
                    argv.push("--force".into());
                }
                vec![argv]
            }
            Step::Detach { minor, force } => {
                let mut argv = setup(&["detach", &minor.to_string()]);
                if *force {
                    argv.push("--force".into());
                }
                vec![argv]
            }
            Step::Minor { cmd, minor } => vec![setup(&[cmd.name(), &minor.to_string()])],
            Step::Outdate { volume } => vec![
                setup(&["outdate", &volume.device.minor.to_string()]),
                drbdmeta(tools, volume, "outdate"),
            ],
            Step::Gi { volume, show } => {
                let cmd = if *show { "show-gi" } else { "get-gi" };
                vec![
                    setup(&[cmd, &volume.device.minor.to_string()]),
                    drbdmeta(tools, volume, cmd),
                ]
            }
            Step::Meta { volume, cmd } => {
                let mut argv = drbdmeta(tools, volume, cmd.name());
                if let MetaCmd::WipeMd { force: true } = cmd {
                    argv.push("--force".into());
                }
                vec![argv]
            }
            Step::CreateMd { volume, force, .. } => {
                let mut argv = drbdmeta(tools, volume, "create-md");
                if *force {
                    argv.push("--force".into());
                }
                vec![argv]
            }
        }
    }

    /// The lines the dry run prints for this step.
    pub fn lines(&self, tools: &Tools, setup: &[String]) -> Vec<String> {
        self.argvs(tools, setup)
            .iter()
            .map(|argv| command_line(argv))
            .collect()
    }

    /// The drbdsetup (or drbdmeta) command of this step, for messages.
    pub fn command_name(&self) -> &'static str {
        match self {
            Step::NewResource { .. } => "new-resource",
            Step::ResourceOptions { .. } => "resource-options",
            Step::DiskOptions { .. } => "disk-options",
            Step::NewMinor { .. } => "new-minor",
            Step::ApplyAl { .. } => "apply-al",
            Step::Attach { .. } => "attach",
            Step::Connect { .. } => "connect",
            Step::Disconnect { .. } => "disconnect",
            Step::NetOptions { .. } => "net-options",
            Step::WaitConnect { .. } => "wait-connect",
            Step::Down { .. } => "down",
            Step::Resize { .. } => "resize",
            Step::Invalidate { .. } => "invalidate",
            Step::Verify { .. } => "verify",
            Step::NewCurrentUuid { .. } => "new-current-uuid",
            Step::Primary { .. } => "primary",
            Step::Detach { .. } => "detach",
            Step::Minor { cmd, .. } => cmd.name(),
            Step::Outdate { .. } => "outdate",
            Step::Gi { show: true, .. } => "show-gi",
            Step::Gi { show: false, .. } => "get-gi",
            Step::Meta { cmd, .. } => cmd.name(),
            Step::CreateMd { .. } => "create-md",
        }
    }

    /// This step with the drbdsetup options given on the command line (`setup`, as
    /// `--name=value` or `--name`) taken into it: what drbdadm-rs then does. The dry run
    /// prints the step and the options as given; drbdsetup-84, reading them after the
    /// config's, lets the later of two equal options win, as [`OptionList::set`] does. An
    /// option the step's drbdsetup command does not have, or a bad value, is an error.
    /// drbdadm-84 gives the options to drbdmeta apply-al too; drbdadm-rs's apply-al takes
    /// none and ignores them (new-minor and wait-connect get none from drbdadm-84).
    pub fn with_setup(&self, setup: &[String]) -> Result<Step, String> {
        let cmd = self.command_name();
        let mut step = self.clone();
        for raw in setup {
            let (name, value) = match raw.strip_prefix("--") {
                Some(body) => match body.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (body, None),
                },
                None => {
                    return Err(format!(
                        "'{raw}': drbdsetup options are given as --NAME or --NAME=VALUE"
                    ))
                }
            };
            let unknown = || format!("{raw}: drbdsetup-84 {cmd} has no option --{name}");
            let flag = || match value {
                None | Some("yes") => Ok(true),
                Some("no") => Ok(false),
                Some(_) => Err(format!(
                    "{raw}: expected --{name}, --{name}=yes or --{name}=no"
                )),
            };
            let sectors = || -> Result<(String, u64), String> {
                let text = value.ok_or_else(|| format!("--{name} needs a value (--{name}=S)"))?;
                units::parse_number(text, Unit::Sectors)
                    .map(|n| (text.to_string(), n))
                    .map_err(|e| format!("{raw}: '{text}' {e}"))
            };
            let set = |list: &mut OptionList, section: SectionKind| -> Result<(), String> {
                let entry = OptionEntry::from_arg(section, name, value).ok_or_else(unknown)??;
                list.set(entry);
                Ok(())
            };
            match (&mut step, name) {
                (Step::NewResource { options, .. }, _) => set(options, SectionKind::Options)?,
                (Step::ResourceOptions { set_defaults, .. }, "set-defaults")
                | (Step::DiskOptions { set_defaults, .. }, "set-defaults") => {
                    *set_defaults = flag()?
                }
                (Step::ResourceOptions { options, .. }, _) => set(options, SectionKind::Options)?,
                (Step::DiskOptions { options, .. }, _) => set(options, SectionKind::Disk)?,
                (Step::Attach { volume }, _) => set(&mut volume.disk_options, SectionKind::Disk)?,
                (Step::Connect { flags, .. }, "discard-my-data") => flags.discard_my_data = flag()?,
                (Step::Connect { flags, .. }, "tentative" | "dry-run") => flags.tentative = flag()?,
                (Step::Connect { net, .. }, _) => set(net, SectionKind::Net)?,
                (Step::NetOptions { set_defaults, .. }, "set-defaults") => *set_defaults = flag()?,
                (Step::NetOptions { net, .. }, _) => set(net, SectionKind::Net)?,
                (Step::Disconnect { force, .. }, "force")
                | (Step::Detach { force, .. }, "force")
                | (Step::CreateMd { force, .. }, "force")
                | (
                    Step::Meta {
                        cmd: MetaCmd::WipeMd { force },
                        ..
                    },
                    "force",
                )
                | (
                    Step::Primary { force, .. },
                    "force" | "overwrite-data-of-peer" | "do-what-I-say",
                ) => *force = flag()?,
                (Step::Resize { size, .. }, "size") => *size = Some(sectors()?),
                (
                    Step::Resize {
                        assume_peer_has_space,
                        ..
                    },
                    "assume-peer-has-space",
                ) => *assume_peer_has_space = flag()?,
                (Step::Resize { assume_clean, .. }, "assume-clean") => *assume_clean = flag()?,
                (Step::Verify { start, .. }, "start") => *start = Some(sectors()?),
                (Step::Verify { stop, .. }, "stop") => *stop = Some(sectors()?),
                (Step::NewCurrentUuid { clear_bitmap, .. }, "clear-bitmap") => {
                    *clear_bitmap = flag()?
                }
                (Step::NewMinor { .. } | Step::WaitConnect { .. } | Step::ApplyAl { .. }, _) => {}
                _ => return Err(unknown()),
            }
        }
        Ok(step)
    }
}

/// An argv as drbdadm-84 prints it: each word through [`shell_escape`], joined by spaces.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_escape(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// drbd-utils' `shell_escape`: a backslash before every character but letters, digits and
/// `%+-./:=@_` (so `ipv6:\[fd00::1\]:7789`).
pub fn shell_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || "%+-./:=@_".contains(c)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_drbd_utils() {
        assert_eq!(
            shell_escape("ipv6:[fd00::1]:7789"),
            "ipv6:\\[fd00::1\\]:7789"
        );
        assert_eq!(
            shell_escape("--shared-secret=a b'c"),
            "--shared-secret=a\\ b\\'c"
        );
        assert_eq!(
            shell_escape("/dev/vg0/r1-data_x%+@"),
            "/dev/vg0/r1-data_x%+@"
        );
    }

    fn setup(words: &str) -> Vec<String> {
        words.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn setup_options_go_into_the_step() {
        let connect = Step::Connect {
            resource: "r0".into(),
            ends: Ends {
                my: Address {
                    family: crate::config::AddressFamily::Ipv4,
                    ip: "10.0.0.1".parse().unwrap(),
                    scope: None,
                    port: 7789,
                },
                peer: None,
            },
            net: OptionList::new(),
            flags: ConnectFlags::default(),
        };
        let Step::Connect { net, flags, .. } = connect
            .with_setup(&setup("--protocol=a --discard-my-data --max-buffers=8K"))
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(net.text("protocol"), Some("A"));
        assert_eq!(net.number("max-buffers"), Some(8192));
        assert_eq!(net.entry("max-buffers").unwrap().arg(), "8K");
        assert!(flags.discard_my_data && !flags.tentative);
        let e = connect.with_setup(&setup("--protocol=Q")).unwrap_err();
        assert!(e.contains("expected one of A, B, C"), "{e}");
        let e = connect
            .with_setup(&setup("--on-io-error=detach"))
            .unwrap_err();
        assert_eq!(
            e,
            "--on-io-error=detach: drbdsetup-84 connect has no option --on-io-error"
        );

        let primary = Step::Primary {
            minor: 0,
            force: false,
        };
        assert_eq!(
            primary.with_setup(&setup("--overwrite-data-of-peer")),
            Ok(Step::Primary {
                minor: 0,
                force: true
            })
        );
        let resize = Step::Resize {
            minor: 1,
            size: None,
            assume_peer_has_space: false,
            assume_clean: false,
        };
        assert_eq!(
            resize.with_setup(&setup("--size=1G --assume-clean")),
            Ok(Step::Resize {
                minor: 1,
                size: Some(("1G".into(), 2 * 1024 * 1024)),
                assume_peer_has_space: false,
                assume_clean: true,
            })
        );
        let down = Step::Down {
            resource: "r0".into(),
        };
        assert!(down.with_setup(&setup("--force")).is_err());
        assert!(down.with_setup(&setup("force")).is_err());
        // The lines: appended where drbdadm-84 appends them.
        let tools = Tools {
            drbdsetup: "drbdsetup-84".into(),
            drbdmeta: "drbdmeta".into(),
        };
        assert_eq!(
            resize.lines(&tools, &setup("--assume-clean")),
            [
                "drbdsetup-84 resize 1 --assume-clean",
                "drbdsetup-84 check-resize 1"
            ]
        );
    }

    #[test]
    fn tools_named_by_path_only_when_installed() {
        let dir = std::env::temp_dir().join(format!("drbdadm-rs-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setup = dir.join("drbdsetup-84");
        std::fs::write(&setup, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o755)).unwrap();
        let t = Tools::in_dir(&dir);
        assert_eq!(t.drbdsetup, setup.display().to_string());
        assert_eq!(t.drbdmeta, "drbdmeta");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
