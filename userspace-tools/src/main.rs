//! `drbdadm-rs`: administration of drbd_rs (and DRBD 8.4) resources from drbd.conf.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use drbd_core::genl::sets::timeout_type;
use drbd_core::proc_text::parse_release;
use drbd_core::version;
use drbd_rs_tools::adjust;
use drbd_rs_tools::admin::{
    self, AdminError, ConnectFlags, Endpoints, Kernel, MinorStatus, WaitOutcome,
};
use drbd_rs_tools::config::options::{names as option_names, option_spec};
use drbd_rs_tools::config::{
    self, units, Config, HostView, OptionEntry, OptionKind, OptionList, SectionKind, Value,
};
use drbd_rs_tools::meta::{self, AlOutcome, MetaTarget};
use drbd_rs_tools::plan::{Ends, MetaCmd, MinorCmd, Step, Tools};

mod queries;
use queries::Query;

const PROC_DRBD: &str = "/proc/drbd";

/// Old spellings of `primary --force` users still type (8.3 era), taken anywhere (drbdadm-84
/// takes them only after `--`).
const LEGACY_FORCE_FLAGS: [&str; 2] = ["--overwrite-data-of-peer", "--do-what-I-say"];

/// Global options that take a value (the word after them is not the command).
const GLOBAL_WITH_VALUE: [&str; 9] = [
    "-c",
    "--config-file",
    "-t",
    "--config-to-test",
    "--hostname",
    "-s",
    "--drbdsetup",
    "-m",
    "--drbdmeta",
];

/// Exit status of `wait-connect` when the timeout passed (drbdsetup-84's).
const EXIT_WAIT_TIMEOUT: u8 = 5;

/// Exit status of an option a drbdsetup command does not have, or a bad value
/// (drbdsetup-84's).
const EXIT_SETUP_OPTION: u8 = 20;

#[derive(Parser)]
#[command(
    name = "drbdadm-rs",
    disable_version_flag = true,
    about = "Administer drbd_rs / DRBD 8.4 resources defined in drbd.conf",
    after_help = "RESOURCE is a resource name from the configuration, 'all', or one volume: \
                  RES/VNR or minor-N.\n\
                  drbdsetup options go after '--' (before or after the command: \
                  'drbdadm-rs -- --protocol=A net-options r0'), or directly after attach, \
                  connect, net-options and detach ('attach --on-io-error=detach r0'), or one \
                  each with -W OPT / --setup-option=OPT, as with drbdadm-84; the old spellings of 'primary --force', --overwrite-data-of-peer \
                  and --do-what-I-say, anywhere. --version is the 'version' command."
)]
struct Cli {
    /// Configuration file (default: the first of /etc/drbd-84.conf ... /etc/drbd.conf).
    #[arg(short = 'c', long = "config-file", global = true)]
    config: Option<PathBuf>,
    /// Act as this host instead of `uname -n` (also: environment variable __DRBD_NODE__, as
    /// for drbdadm-84).
    #[arg(long, global = true)]
    hostname: Option<String>,
    /// Change nothing: print the drbdsetup-84 / drbdmeta command lines drbdadm-84 would run
    /// for this command (drbdadm-rs does the same with netlink requests and its own meta-data
    /// code).
    #[arg(short = 'd', long = "dry-run", global = true)]
    dry_run: bool,
    /// The drbdsetup name the dry run prints (default: /lib/drbd/drbdsetup-84 when it is
    /// installed, else drbdsetup-84).
    #[arg(short = 's', long, global = true, value_name = "PATH")]
    drbdsetup: Option<String>,
    /// The drbdmeta name the dry run prints (default: /lib/drbd/drbdmeta when it is
    /// installed, else drbdmeta).
    #[arg(short = 'm', long, global = true, value_name = "PATH")]
    drbdmeta: Option<String>,
    /// Stacked mode (drbdadm-84's -S): only resources stacked on top of another; drbdadm-rs
    /// reads no stacked resources, so there is nothing to do (as drbdadm-84 says on a
    /// configuration without them).
    #[arg(short = 'S', long, global = true)]
    stacked: bool,
    /// Print each drbdsetup-84 / drbdmeta command line before doing it (as drbdadm-84's -v).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Also read this file (after the configuration) and check it; with `dump` and `sh-nop`
    /// only, as drbdadm-84's -t (given before the command).
    #[arg(short = 't', long = "config-to-test", value_name = "FILE")]
    config_to_test: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write fresh meta data for the resource's volumes.
    CreateMd {
        /// Overwrite existing meta data or a file system without asking.
        #[arg(long)]
        force: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Configure the resource in the kernel: new-resource, new-minor, attach, connect.
    Up {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Create the resource in the kernel (with its `options { }`): the first step of `up`.
    NewResource {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Create the resource's minors in the kernel: the second step of `up`.
    #[command(alias = "sh-new-minor")]
    NewMinor {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Configure the network: connect to the peer with the `net { }` options.
    Connect {
        /// This node's data is discarded if a split brain is detected.
        #[arg(long)]
        discard_my_data: bool,
        /// Only report (in the kernel log) what the handshake would decide (drbdsetup's old
        /// name `-- --dry-run` too; a plain `--dry-run` is drbdadm's `-d`).
        #[arg(long)]
        tentative: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Tear the connection down (StandAlone).
    Disconnect {
        /// Do not wait for the peer (hard state change).
        #[arg(long)]
        force: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Change options of the connection (as drbdadm-84: only those given; with
    /// --from-config the `net { }` section).
    NetOptions {
        /// Reset the options not sent to their defaults.
        #[arg(long)]
        set_defaults: bool,
        /// Send the config's `net { }` options (what `adjust` would apply).
        #[arg(long)]
        from_config: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Change the resource options of a resource in the kernel (as drbdadm-84: only those
    /// given, after `--` or directly).
    ResourceOptions {
        /// Reset the options not sent to their defaults.
        #[arg(long)]
        set_defaults: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Change disk options of attached volumes (as drbdadm-84: only those given, after `--`
    /// or directly).
    DiskOptions {
        /// Reset the options not sent to their defaults.
        #[arg(long)]
        set_defaults: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Make the kernel's configuration what the file says: compare the running configuration
    /// with the file and do only what differs.
    Adjust {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// `adjust`, printing its progress stage by stage (as the init script runs it).
    AdjustWithProgress {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Wait until the resource's volumes are connected (exit 5 on timeout).
    WaitConnect {
        /// Seconds to wait (0: forever); default: startup { wfc-timeout }.
        #[arg(short = 't', long)]
        wfc_timeout: Option<u32>,
        /// Seconds to wait after a crash as degraded Primary; default: startup
        /// { degr-wfc-timeout }.
        #[arg(long)]
        degr_wfc_timeout: Option<u32>,
        /// Seconds to wait when the peer is known Outdated; default: startup
        /// { outdated-wfc-timeout }.
        #[arg(long)]
        outdated_wfc_timeout: Option<u32>,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Remove the resource from the kernel (Secondary, detach, delete).
    Down {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Attach the lower devices (after apply-al).
    Attach {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Detach the lower devices.
    Detach {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Make the resource's volumes clean meta data again (replay the activity log).
    ApplyAl {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Become Primary; --force promotes data not known to be UpToDate.
    Primary {
        #[arg(long)]
        force: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Become Secondary.
    Secondary {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Start a new data generation (new current UUID); with --clear-bitmap on a connected
    /// pair of freshly created meta data: skip the initial sync (both sides UpToDate).
    NewCurrentUuid {
        /// Clear the bitmap too (the "skip initial sync" of two identical, fresh disks).
        #[arg(long)]
        clear_bitmap: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Discard this node's data: a full resync from the peer (StandAlone: the disk becomes
    /// Inconsistent and the next connection syncs it completely; not attached: the meta data
    /// on disk is marked for a full sync).
    Invalidate {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Discard the peer's data: a full resync from this node.
    InvalidateRemote {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Pause the resync (this node's pause flag; the peer shows it as paused by its peer).
    PauseSync {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Clear this node's pause flag; the resync continues unless paused for another reason.
    ResumeSync {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Start online verify against the peer (blocks found different are marked out of sync).
    Verify {
        /// Sector to start at (K/M/G suffixes are bytes); default: where the last run ended.
        #[arg(long)]
        start: Option<String>,
        /// Sector to stop at; default: the end of the device.
        #[arg(long)]
        stop: Option<String>,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Resize the DRBD device after its lower device changed size.
    Resize {
        /// New size (sectors, or with K/M/G/T suffix); default: as large as possible.
        #[arg(long)]
        size: Option<String>,
        /// Grow without a peer (there is nobody to agree on the size with).
        #[arg(long)]
        assume_peer_has_space: bool,
        /// Do not mark the new space out of sync.
        #[arg(long)]
        assume_clean: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Mark the disk Outdated (the kernel; when it has no such disk, the meta data on disk,
    /// as drbdadm-84). Refused while Primary or connected to a peer.
    Outdate {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Suspend application I/O (new requests are held until resume-io).
    SuspendIo {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Resume application I/O suspended by suspend-io.
    ResumeIo {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The init script's wait: wait-connect on every volume of every resource of this host
    /// with its startup timeouts (resource names are ignored, as by drbdadm-84).
    WaitConInt { resource: Vec<String> },
    /// resize, then check-resize (drbdadm-84's order); drbdadm-rs moves internal meta data
    /// online and needs no check-resize of its own.
    CheckResize {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The data generation identifiers (UUIDs and flags), explained: from the kernel when
    /// the disk is attached, else from the meta data.
    ShowGi {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The data generation identifiers (UUIDs and flags) on one line.
    GetGi {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Print the meta data (as drbdmeta dump-md) of a detached volume.
    DumpMd {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Wipe the meta data superblock of a detached volume.
    WipeMd {
        /// Do not ask.
        #[arg(long)]
        force: bool,
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Nothing (checks the configuration; with -t, the file given too).
    ShNop { resource: Vec<String> },
    /// The resources of this host, on one line.
    ShResources { resource: Vec<String> },
    /// The name of each resource given.
    ShResource {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The module's minor_count parameter for this configuration.
    ShModParms { resource: Vec<String> },
    /// The device of each volume.
    ShDev {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// udev's RESOURCE, DEVICE and DISK of one volume.
    ShUdev {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The minor of each volume.
    ShMinor {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The lower device of each volume.
    ShLlDev {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The meta-data device of each volume.
    ShMdDev {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The meta-data index of each volume (internal, flexible or N).
    ShMdIdx {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// This node's address of each volume's resource.
    ShIp {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The lower resource of a stacked resource (none here: stacked mode only).
    ShLrOf {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Become Primary when `startup { become-primary-on }` names this host (or both).
    ShBPri {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// The state of every volume of this host's resources, as shell variables.
    ShStatus { resource: Vec<String> },
    /// List the commands not shown by --help.
    HiddenCommands,
    /// Show roles: local/peer.
    Role {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Show disk states: local/peer.
    Dstate {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Show the connection state.
    Cstate {
        #[arg(required = true)]
        resource: Vec<String>,
    },
    /// Show the state of resources (all when none is named).
    Status {
        #[arg(long)]
        json: bool,
        resource: Option<String>,
    },
    /// Print the (normalized) configuration.
    Dump { resource: Option<String> },
    /// Show the tool's and the kernel module's versions.
    Version,
}

/// A failure: message for stderr and exit status.
struct Failure {
    message: String,
    code: u8,
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl From<meta::MetaError> for Failure {
    fn from(e: meta::MetaError) -> Self {
        Failure {
            code: 10,
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let (args, setup) = take_setup_options(std::env::args().collect());
    // `--version` is the `version` command (one output for both, as drbdadm-84's keys).
    if args.iter().skip(1).any(|a| a == "--version" || a == "-V") {
        return match show_version() {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => {
                eprintln!("{}", f.message);
                ExitCode::from(f.code)
            }
        };
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A usage error exits 1 as drbdadm-84's E_USAGE; --help and --version are none.
            return if e.use_stderr() {
                ExitCode::from(USAGE_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli, &setup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// The drbdsetup options drbdadm-84 takes directly after `command` (those of its drbdsetup
/// context that drbdadm-rs has no flag of its own for).
fn direct_options(command: &str) -> Vec<&'static str> {
    match command {
        "attach" => option_names(SectionKind::Disk),
        "connect" | "net-options" => option_names(SectionKind::Net),
        "detach" => vec!["force"],
        "disk-options" => option_names(SectionKind::Disk),
        "resource-options" => option_names(SectionKind::Options),
        _ => Vec::new(),
    }
}

/// Whether drbdsetup option `name` of `command` takes a value (`--name VALUE` is
/// `--name=VALUE`).
fn takes_value(command: &str, name: &str) -> bool {
    let section = match command {
        "attach" | "disk-options" => SectionKind::Disk,
        "resource-options" => SectionKind::Options,
        "connect" | "net-options" => SectionKind::Net,
        _ => return false,
    };
    option_spec(section, name).is_some_and(|s| s.kind != OptionKind::Flag)
}

/// Take the drbdsetup options given the drbdadm way out of argv, in the order given: every
/// option after `--` (drbdadm-84 takes them before the command; after it too here: `primary
/// r0 -- --overwrite-data-of-peer`), `-W OPT` / `--setup-option=OPT` (drbdadm-84's, one each),
/// the old primary spellings anywhere, and the drbdsetup
/// options drbdadm-84 takes directly for attach, connect, net-options and detach (`attach
/// --on-io-error=detach r0`). They go to the command's drbdsetup steps (see
/// `Step::with_setup`); the dry run prints them where drbdadm-84 does.
fn take_setup_options(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut out = Vec::with_capacity(args.len());
    let mut setup = Vec::new();
    let mut command: Option<&str> = None;
    let mut after_dashes = false;
    let mut words = args.iter().enumerate();
    if let Some((_, program)) = words.next() {
        out.push(program.clone());
    }
    while let Some((i, a)) = words.next() {
        // drbdadm-84's -W / --setup-option: one drbdsetup option, anywhere.
        let setup_option = match a.as_str() {
            "-W" | "--setup-option" => Some(words.next().map(|(_, v)| v.clone())),
            _ => a
                .strip_prefix("--setup-option=")
                .or_else(|| a.strip_prefix("-W"))
                .map(|v| Some(v.to_string())),
        };
        if let Some(option) = setup_option {
            setup.extend(option);
        } else if a == "--" && !after_dashes {
            after_dashes = true;
        } else if LEGACY_FORCE_FLAGS.contains(&a.as_str()) || (after_dashes && a.starts_with('-')) {
            setup.push(a.clone());
        } else if let Some(cmd) = command {
            let direct = a.strip_prefix("--").map(|body| match body.split_once('=') {
                Some((name, _)) => (name, true),
                None => (body, false),
            });
            match direct {
                Some((name, has_value)) if direct_options(cmd).contains(&name) => {
                    match args.get(i + 1) {
                        Some(v) if !has_value && takes_value(cmd, name) => {
                            setup.push(format!("--{name}={v}"));
                            words.next();
                        }
                        _ => setup.push(a.clone()),
                    }
                }
                _ => out.push(a.clone()),
            }
        } else {
            out.push(a.clone());
            if GLOBAL_WITH_VALUE.contains(&a.as_str()) {
                if let Some((_, v)) = words.next() {
                    out.push(v.clone());
                }
            } else if !a.starts_with('-') && commands.iter().any(|c| c == a) {
                command = Some(a.as_str());
            }
        }
    }
    (out, setup)
}

fn run(cli: Cli, setup: &[String]) -> Result<(), Failure> {
    if !setup.is_empty()
        && matches!(
            cli.command,
            Command::Role { .. }
                | Command::Dstate { .. }
                | Command::Cstate { .. }
                | Command::Status { .. }
                | Command::Dump { .. }
                | Command::Version
        )
    {
        return Err(Failure {
            message: format!(
                "{}: drbdsetup options go with the commands that change something",
                setup.join(" ")
            ),
            code: USAGE_ERROR,
        });
    }
    if let Command::Version = cli.command {
        return show_version();
    }
    if let Command::HiddenCommands = cli.command {
        print!("{}", hidden_commands());
        return Ok(());
    }
    if cli.config_to_test.is_some()
        && !matches!(cli.command, Command::Dump { .. } | Command::ShNop { .. })
    {
        return Err(Failure {
            message: "The --config-to-test (-t) option is only allowed with the dump and sh-nop \
                      commands"
                .into(),
            code: USAGE_ERROR,
        });
    }
    let (mut cfg, config_path) = load_config(cli.config.as_ref())?;
    if let Some(test) = &cli.config_to_test {
        add_config_to_test(&mut cfg, test)?;
    }
    // As drbdadm-84: `__DRBD_NODE__` stands for `uname -n` (--hostname for both).
    let name = match (cli.hostname, std::env::var("__DRBD_NODE__")) {
        (Some(h), _) => h,
        (None, Ok(h)) if !h.is_empty() => {
            eprintln!("found __DRBD_NODE__ in environment: acting as host '{h}'");
            h
        }
        _ => hostname()?,
    };
    let host = Node {
        name,
        addresses: local_addresses(),
    };
    let tools = tools(cli.drbdsetup.clone(), cli.drbdmeta.clone());
    let (dry_run, verbose, stacked) = (cli.dry_run, cli.verbose, cli.stacked);
    let read_only = |what: &str| Failure {
        message: format!(
            "-d (--dry-run): '{what}' only reads the kernel's state, there is nothing to print; \
             run it without -d"
        ),
        code: USAGE_ERROR,
    };
    // A command that changes something: adjust compares with the running configuration
    // first, the others are planned from the file alone.
    let run_command = |command: Command| match command {
        Command::Adjust { resource } => adjust(
            &cfg, &host, &resource, dry_run, verbose, &tools, setup, false,
        ),
        Command::AdjustWithProgress { resource } => adjust(
            &cfg, &host, &resource, dry_run, verbose, &tools, setup, true,
        ),
        command => run_planned(&cfg, &host, command, dry_run, verbose, &tools, setup),
    };
    match cli.command {
        Command::Dump { resource } => {
            let text = match resource.as_deref() {
                None | Some("all") => config::dump(&cfg),
                Some(name) => {
                    let mut one = cfg.clone();
                    one.resources.retain(|r| r.name == name);
                    if one.resources.is_empty() {
                        return Err(unknown_resource(name));
                    }
                    config::dump(&one)
                }
            };
            print!("{text}");
            Ok(())
        }
        Command::Role { .. } if cli.dry_run => Err(read_only("role")),
        Command::Dstate { .. } if cli.dry_run => Err(read_only("dstate")),
        Command::Cstate { .. } if cli.dry_run => Err(read_only("cstate")),
        Command::Status { .. } if cli.dry_run => Err(read_only("status")),
        Command::Role { resource } => show_state(&cfg, &host, &resource, |s| {
            format!("{}/{}", s.state.role.name(), s.state.peer.name())
        }),
        Command::Dstate { resource } => show_state(&cfg, &host, &resource, |s| {
            format!("{}/{}", s.state.disk.name(), s.state.pdsk.name())
        }),
        Command::Cstate { resource } => {
            show_state(&cfg, &host, &resource, |s| s.state.conn.name().to_string())
        }
        Command::Status { json, resource } => status(&cfg, &host, resource.as_deref(), json),
        Command::ShNop { resource } => {
            ignored_names(&resource);
            Ok(())
        }
        Command::ShResources { resource } => {
            ignored_names(&resource);
            print!("{}", queries::sh_resources(&cfg, &host, cli.stacked)?);
            Ok(())
        }
        Command::ShModParms { resource } => {
            ignored_names(&resource);
            print!("{}", queries::sh_mod_parms(&cfg, &host)?);
            Ok(())
        }
        Command::ShStatus { resource } => {
            ignored_names(&resource);
            sh_status(&cfg, &config_path, &host, dry_run, &tools)
        }
        Command::ShResource { resource } => sh(&cfg, &host, Query::Resource, &resource, stacked),
        Command::ShDev { resource } => sh(&cfg, &host, Query::Dev, &resource, stacked),
        Command::ShUdev { resource } => sh(&cfg, &host, Query::Udev, &resource, stacked),
        Command::ShMinor { resource } => sh(&cfg, &host, Query::Minor, &resource, stacked),
        Command::ShLlDev { resource } => sh(&cfg, &host, Query::LlDev, &resource, stacked),
        Command::ShMdDev { resource } => sh(&cfg, &host, Query::MdDev, &resource, stacked),
        Command::ShMdIdx { resource } => sh(&cfg, &host, Query::MdIdx, &resource, stacked),
        Command::ShIp { resource } => sh(&cfg, &host, Query::Ip, &resource, stacked),
        Command::ShLrOf { resource } => sh(&cfg, &host, Query::LrOf, &resource, stacked),
        Command::ShBPri { resource } if stacked => sh(&cfg, &host, Query::BPri, &resource, stacked),
        Command::WaitConInt { resource } if stacked => {
            ignored_names(&resource);
            Ok(())
        }
        Command::WaitConInt { resource } => {
            ignored_names(&resource);
            let command = Command::WaitConInt {
                resource: Vec::new(),
            };
            run_command(command)
        }
        command if stacked => stacked_mode(&cfg, &host, command, run_command),
        command => run_command(command),
    }
}

/// The helper names the dry run prints (`-s`, `-m`, else as installed).
fn tools(drbdsetup: Option<String>, drbdmeta: Option<String>) -> Tools {
    let default = Tools::as_installed();
    Tools {
        drbdsetup: drbdsetup.unwrap_or(default.drbdsetup),
        drbdmeta: drbdmeta.unwrap_or(default.drbdmeta),
    }
}

/// A command that changes something: its steps printed (`-d`) or carried out (with `-v`,
/// each step's command lines printed first, as drbdadm-84 prints what it runs).
fn run_planned(
    cfg: &Config,
    host: &Node,
    command: Command,
    dry_run: bool,
    verbose: u8,
    tools: &Tools,
    setup: &[String],
) -> Result<(), Failure> {
    {
        {
            let (steps, failure) = plan(cfg, host, command)?;
            if dry_run {
                for step in &steps {
                    for line in step.lines(tools, setup) {
                        println!("{line}");
                    }
                }
                return failure.map_or(Ok(()), Err);
            }
            // The options given on the command line taken into the steps, all checked
            // before the first one runs.
            let steps = steps
                .iter()
                .map(|s| {
                    s.with_setup(setup).map_err(|message| Failure {
                        message,
                        code: EXIT_SETUP_OPTION,
                    })
                })
                .collect::<Result<Vec<Step>, Failure>>()?;
            let mut exec = Executor::default();
            for step in &steps {
                if verbose > 0 {
                    for line in step.lines(tools, setup) {
                        println!("{line}");
                    }
                }
                exec.run(step)?;
            }
            failure.map_or(Ok(()), Err)
        }
    }
}

/// The steps of a command that changes something (see [`plan`](drbd_rs_tools::plan)), in
/// drbdadm-84's order: what `-d` prints and what runs. A failure found at a later target
/// (new-current-uuid of a resource with several volumes) comes with the steps of the targets
/// before it, which drbdadm-84 runs (and prints) before it stops.
fn plan(
    cfg: &Config,
    host: &Node,
    command: Command,
) -> Result<(Vec<Step>, Option<Failure>), Failure> {
    let mut steps = Vec::new();
    match command {
        Command::CreateMd { force, resource } => {
            for view in views(cfg, host, &resource)? {
                for vol in &view.volumes {
                    steps.push(Step::CreateMd {
                        resource: view.resource.clone(),
                        volume: vol.clone(),
                        force,
                    });
                }
            }
        }
        Command::ApplyAl { resource } => {
            for view in views(cfg, host, &resource)? {
                for vol in &view.volumes {
                    steps.push(Step::ApplyAl {
                        resource: view.resource.clone(),
                        volume: vol.clone(),
                    });
                }
            }
        }
        Command::Up { resource } => {
            // In stages over all resources, like drbdadm: every object first (resync-after
            // may name another resource's minor), then the disks, then the network.
            let views = views(cfg, host, &resource)?;
            for view in &views {
                push_new_resource(&mut steps, view);
                push_new_minors(&mut steps, view);
            }
            for view in &views {
                push_attach(&mut steps, view);
            }
            for view in &views {
                steps.push(connect_step(view, ConnectFlags::default()));
            }
        }
        Command::NewResource { resource } => {
            for view in whole_views(cfg, host, &resource, "new-resource")? {
                push_new_resource(&mut steps, &view);
            }
        }
        Command::NewMinor { resource } => {
            for view in views(cfg, host, &resource)? {
                push_new_minors(&mut steps, &view);
            }
        }
        Command::Attach { resource } => {
            for view in views(cfg, host, &resource)? {
                push_attach(&mut steps, &view);
            }
        }
        Command::Connect {
            discard_my_data,
            tentative,
            resource,
        } => {
            let flags = ConnectFlags {
                discard_my_data,
                tentative,
            };
            for view in whole_views(cfg, host, &resource, "connect")? {
                steps.push(connect_step(&view, flags));
            }
        }
        Command::Disconnect { force, resource } => {
            for view in whole_views(cfg, host, &resource, "disconnect")? {
                steps.push(Step::Disconnect {
                    resource: view.resource.clone(),
                    ends: ends(&view),
                    force,
                });
            }
        }
        Command::NetOptions {
            set_defaults,
            from_config,
            resource,
        } => {
            for view in whole_views(cfg, host, &resource, "net-options")? {
                steps.push(Step::NetOptions {
                    resource: view.resource.clone(),
                    ends: ends(&view),
                    net: if from_config {
                        view.net.clone()
                    } else {
                        OptionList::new()
                    },
                    set_defaults,
                });
            }
        }
        Command::ResourceOptions {
            set_defaults,
            resource,
        } => {
            for view in whole_views(cfg, host, &resource, "resource-options")? {
                steps.push(Step::ResourceOptions {
                    resource: view.resource.clone(),
                    options: OptionList::new(),
                    set_defaults,
                });
            }
        }
        Command::DiskOptions {
            set_defaults,
            resource,
        } => push_minor_cmds(&mut steps, cfg, host, &resource, |minor| {
            Step::DiskOptions {
                minor,
                options: OptionList::new(),
                set_defaults,
            }
        })?,
        Command::WaitConnect {
            wfc_timeout,
            degr_wfc_timeout,
            outdated_wfc_timeout,
            resource,
        } => {
            for view in views(cfg, host, &resource)? {
                let mut startup = view.startup.clone();
                for (name, given) in [
                    ("wfc-timeout", wfc_timeout),
                    ("degr-wfc-timeout", degr_wfc_timeout),
                    ("outdated-wfc-timeout", outdated_wfc_timeout),
                ] {
                    if let Some(secs) = given {
                        startup.set(OptionEntry::new(
                            name,
                            Value::Number(u64::from(secs)),
                            Default::default(),
                        ));
                    }
                }
                for vol in &view.volumes {
                    steps.push(Step::WaitConnect {
                        resource: view.resource.clone(),
                        volume: vol.number,
                        minor: vol.device.minor,
                        startup: startup.clone(),
                    });
                }
            }
        }
        Command::Down { resource } => {
            for view in whole_views(cfg, host, &resource, "down")? {
                steps.push(Step::Down {
                    resource: view.resource.clone(),
                });
            }
        }
        Command::Detach { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Detach {
                minor,
                force: false,
            })?
        }
        Command::Primary { force, resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Primary {
                minor,
                force,
            })?
        }
        Command::Secondary { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::Secondary,
                minor,
            })?
        }
        Command::NewCurrentUuid {
            clear_bitmap,
            resource,
        } => {
            // As drbdadm-84: a named resource must have one volume (`all` takes every one);
            // checked target by target, so the targets before run (and are printed by -d).
            for (target, views) in select_targets(cfg, host, &resource, None)? {
                for view in &views {
                    if target != "all" && view.volumes.len() > 1 {
                        return Ok((
                            steps,
                            Some(Failure {
                                message: format!(
                                    "new-current-uuid requires a specific volume id, but none is specified.\n\
                                     Try 'new-current-uuid minor-<minor_number>' or 'new-current-uuid {}/<vnr>'",
                                    view.resource
                                ),
                                code: 1,
                            }),
                        ));
                    }
                    for vol in &view.volumes {
                        steps.push(Step::NewCurrentUuid {
                            minor: vol.device.minor,
                            clear_bitmap,
                        });
                    }
                }
            }
        }
        Command::Invalidate { resource } => {
            for view in views(cfg, host, &resource)? {
                for vol in &view.volumes {
                    steps.push(Step::Invalidate {
                        volume: vol.clone(),
                    });
                }
            }
        }
        Command::InvalidateRemote { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::InvalidateRemote,
                minor,
            })?
        }
        Command::PauseSync { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::PauseSync,
                minor,
            })?
        }
        Command::ResumeSync { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::ResumeSync,
                minor,
            })?
        }
        Command::Verify {
            start,
            stop,
            resource,
        } => {
            let start = sectors("start", start, 20)?;
            let stop = sectors("stop", stop, 20)?;
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Verify {
                minor,
                start: start.clone(),
                stop: stop.clone(),
            })?
        }
        Command::Resize {
            size,
            assume_peer_has_space,
            assume_clean,
            resource,
        } => {
            let given = sectors("size", size, 10)?;
            for view in views(cfg, host, &resource)? {
                for vol in &view.volumes {
                    // drbdadm-84 passes the configured `disk { size }` on.
                    let size = given.clone().or_else(|| {
                        let e = vol.disk_options.entry("size")?;
                        match e.value {
                            Value::Number(n) => Some((e.arg(), n)),
                            _ => None,
                        }
                    });
                    steps.push(Step::Resize {
                        minor: vol.device.minor,
                        size,
                        assume_peer_has_space,
                        assume_clean,
                    });
                }
            }
        }
        Command::Outdate { resource } => {
            for view in views(cfg, host, &resource)? {
                for vol in &view.volumes {
                    steps.push(Step::Outdate {
                        volume: vol.clone(),
                    });
                }
            }
        }
        Command::SuspendIo { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::SuspendIo,
                minor,
            })?
        }
        Command::ResumeIo { resource } => {
            push_minor_cmds(&mut steps, cfg, host, &resource, |minor| Step::Minor {
                cmd: MinorCmd::ResumeIo,
                minor,
            })?
        }
        Command::WaitConInt { .. } => {
            // Every volume of every resource of this host, with its startup timeouts.
            for r in cfg.resources_for_host_with(&host.name, &host.addresses) {
                let view = cfg.host_view_with(&r.name, &host.name, &host.addresses)?;
                for vol in &view.volumes {
                    steps.push(Step::WaitConnect {
                        resource: view.resource.clone(),
                        volume: vol.number,
                        minor: vol.device.minor,
                        startup: view.startup.clone(),
                    });
                }
            }
        }
        Command::CheckResize { resource } => {
            return plan(
                cfg,
                host,
                Command::Resize {
                    size: None,
                    assume_peer_has_space: false,
                    assume_clean: false,
                    resource,
                },
            )
        }
        Command::ShowGi { resource } => push_gi(&mut steps, cfg, host, &resource, true)?,
        Command::GetGi { resource } => push_gi(&mut steps, cfg, host, &resource, false)?,
        Command::DumpMd { resource } => {
            push_meta(&mut steps, cfg, host, &resource, MetaCmd::DumpMd)?
        }
        Command::WipeMd { force, resource } => {
            push_meta(&mut steps, cfg, host, &resource, MetaCmd::WipeMd { force })?
        }
        Command::ShBPri { resource } => {
            for view in views(cfg, host, &resource)? {
                if queries::becomes_primary(&view, host) {
                    for vol in &view.volumes {
                        steps.push(Step::Primary {
                            minor: vol.device.minor,
                            force: false,
                        });
                    }
                }
            }
        }
        Command::Role { .. }
        | Command::Dstate { .. }
        | Command::Cstate { .. }
        | Command::Status { .. }
        | Command::Dump { .. }
        | Command::Adjust { .. }
        | Command::AdjustWithProgress { .. }
        | Command::ShNop { .. }
        | Command::ShResources { .. }
        | Command::ShResource { .. }
        | Command::ShModParms { .. }
        | Command::ShDev { .. }
        | Command::ShUdev { .. }
        | Command::ShMinor { .. }
        | Command::ShLlDev { .. }
        | Command::ShMdDev { .. }
        | Command::ShMdIdx { .. }
        | Command::ShIp { .. }
        | Command::ShLrOf { .. }
        | Command::ShStatus { .. }
        | Command::HiddenCommands
        | Command::Version => unreachable!("not planned: handled by run"),
    }
    Ok((steps, None))
}

/// `adjust` / `adjust-with-progress` (`progress`: the stages printed as drbdadm-84 prints
/// them when it runs them; a dry run prints the commands only): the
/// running configuration of each resource (none when the module is not loaded) compared with
/// the file ([`adjust::adjust_steps`]), the differences done stage by stage over all
/// resources. As drbdadm-84, a failed step of the first stages (new-resource, detach,
/// del-minor, new-minor) skips the rest of its resource, other failures only themselves, and
/// without progress nothing runs after the stage of a failure; the exit status is then 1.
/// With `dry_run` the steps are printed with `tools`' names; with `verbose` each step's
/// command lines are printed before it runs, as for the other commands ([`run_planned`]).
#[allow(clippy::too_many_arguments)]
fn adjust(
    cfg: &Config,
    host: &Node,
    resource: &[String],
    dry_run: bool,
    verbose: u8,
    tools: &Tools,
    setup: &[String],
    progress: bool,
) -> Result<(), Failure> {
    let command = if progress {
        "adjust-with-progress"
    } else {
        "adjust"
    };
    let views = whole_views(cfg, host, resource, command)?;
    // drbdadm-84 reads `drbdsetup show`; without a module that prints nothing.
    let mut kernel = Kernel::open().ok();
    let mut per_resource = Vec::new();
    for (i, view) in views.iter().enumerate() {
        let running = match kernel.as_mut() {
            Some(k) => k.running(&view.resource)?,
            None => None,
        };
        let steps = adjust::adjust_steps(view, running.as_ref())?;
        per_resource.push(
            steps
                .into_iter()
                .map(|(stage, step)| (stage, (i, step)))
                .collect::<Vec<_>>(),
        );
    }
    let all = adjust::in_stages(per_resource);
    if dry_run {
        for (_, (_, step)) in &all {
            for line in step.lines(tools, setup) {
                println!("{line}");
            }
        }
        return Ok(());
    }
    let steps = all
        .into_iter()
        .map(|(stage, (res, step))| {
            step.with_setup(setup)
                .map(|s| (stage, res, s))
                .map_err(|message| Failure {
                    message,
                    code: EXIT_SETUP_OPTION,
                })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    if progress {
        print!("[");
    }
    let mut exec = Executor::default();
    let mut skipped = vec![false; views.len()];
    let mut failed = false;
    let mut stage_shown: Option<adjust::Stage> = None;
    let mut last_res: Option<usize> = None;
    let mut skip_attach = false;
    for (stage, res, step) in &steps {
        if stage_shown != Some(*stage) {
            // Without progress drbdadm-84 stops after a stage that failed.
            if failed && !progress {
                break;
            }
            if progress {
                print!("\n{:>15}:", stage.progress_name());
            }
            stage_shown = Some(*stage);
            last_res = None;
        }
        let name = &views[*res].resource;
        let new_res = last_res != Some(*res);
        last_res = Some(*res);
        if skipped[*res] {
            if progress {
                if new_res {
                    print!(" [skipped:{name}]");
                }
            } else {
                eprintln!(
                    "drbdadm-rs: {} {name}: skipped due to earlier error",
                    step.command_name()
                );
            }
            continue;
        }
        if progress && new_res {
            print!(" {name}");
        }
        // attach runs after its apply-al only if that succeeded (drbdadm-84's adm_attach).
        if matches!(step, Step::Attach { .. }) && std::mem::take(&mut skip_attach) {
            continue;
        }
        if verbose > 0 {
            for line in step.lines(tools, setup) {
                println!("{line}");
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Err(f) = exec.run(step) {
            eprintln!("{}", f.message);
            if matches!(step, Step::Detach { .. }) && f.message.contains("net config exists") {
                eprintln!(
                    "{name}: drbd_rs detaches only without a connection: run \
                     'drbdadm-rs disconnect {name}', then adjust again"
                );
            }
            failed = true;
            let arg = match step {
                Step::ApplyAl { .. } => {
                    skip_attach = true;
                    "attach"
                }
                s => s.command_name(),
            };
            if matches!(stage, adjust::Stage::Prereq | adjust::Stage::DiskPrereq) {
                skipped[*res] = true;
            }
            if progress {
                print!(":failed({arg}:{})", f.code);
            }
        }
    }
    if progress {
        println!("\n]");
    }
    if failed {
        return Err(Failure {
            message: format!("{}: adjust did not complete", resource.join(" ")),
            code: 1,
        });
    }
    Ok(())
}

/// A `--start`/`--stop`/`--size` value: as given (for the dry run) and in sectors.
fn sectors(name: &str, text: Option<String>, code: u8) -> Result<Option<(String, u64)>, Failure> {
    text.map(|t| {
        units::parse_number(&t, units::Unit::Sectors)
            .map(|n| (t.clone(), n))
            .map_err(|e| Failure {
                message: format!("--{name} {t}: {e}"),
                code,
            })
    })
    .transpose()
}

fn push_new_resource(steps: &mut Vec<Step>, view: &HostView) {
    steps.push(Step::NewResource {
        resource: view.resource.clone(),
        options: view.options.clone(),
    });
}

fn push_new_minors(steps: &mut Vec<Step>, view: &HostView) {
    for vol in &view.volumes {
        steps.push(Step::NewMinor {
            resource: view.resource.clone(),
            minor: vol.device.minor,
            volume: vol.number,
        });
    }
}

/// apply-al, then attach, per volume (the kernel refuses unclean meta data).
fn push_attach(steps: &mut Vec<Step>, view: &HostView) {
    for vol in &view.volumes {
        steps.push(Step::ApplyAl {
            resource: view.resource.clone(),
            volume: vol.clone(),
        });
        steps.push(Step::Attach {
            volume: vol.clone(),
        });
    }
}

fn push_gi(
    steps: &mut Vec<Step>,
    cfg: &Config,
    host: &Node,
    resource: &[String],
    show: bool,
) -> Result<(), Failure> {
    for view in views(cfg, host, resource)? {
        for vol in &view.volumes {
            steps.push(Step::Gi {
                volume: vol.clone(),
                show,
            });
        }
    }
    Ok(())
}

fn push_meta(
    steps: &mut Vec<Step>,
    cfg: &Config,
    host: &Node,
    resource: &[String],
    cmd: MetaCmd,
) -> Result<(), Failure> {
    for view in views(cfg, host, resource)? {
        for vol in &view.volumes {
            steps.push(Step::Meta {
                volume: vol.clone(),
                cmd,
            });
        }
    }
    Ok(())
}

fn push_minor_cmds(
    steps: &mut Vec<Step>,
    cfg: &Config,
    host: &Node,
    resource: &[String],
    step: impl Fn(u32) -> Step,
) -> Result<(), Failure> {
    for view in views(cfg, host, resource)? {
        for vol in &view.volumes {
            steps.push(step(vol.device.minor));
        }
    }
    Ok(())
}

fn ends(view: &HostView) -> Ends {
    Ends {
        my: view.address.clone(),
        peer: view.peer().map(|p| p.address.clone()),
    }
}

fn connect_step(view: &HostView, flags: ConnectFlags) -> Step {
    Step::Connect {
        resource: view.resource.clone(),
        ends: ends(view),
        net: view.net.clone(),
        flags,
    }
}

/// The configuration and the file it was read from.
fn load_config(path: Option<&PathBuf>) -> Result<(Config, PathBuf), Failure> {
    let path = match path {
        Some(p) => p.clone(),
        None => config::find_config_file().ok_or_else(|| Failure {
            message: format!(
                "no configuration file found (looked for {}); use -c FILE",
                config::CONFIG_SEARCH_PATH.join(", ")
            ),
            code: 20,
        })?,
    };
    let cfg = config::load(&path)?;
    for w in &cfg.warnings {
        eprintln!("{w}");
    }
    Ok((cfg, path))
}

/// This node: its name (for `on` sections) and its IP addresses (for `floating` ones, as
/// drbdadm-84 matches them).
struct Node {
    name: String,
    addresses: Vec<IpAddr>,
}

/// The node's IP addresses: IPv4 from the kernel's local routes (/proc/net/fib_trie),
/// IPv6 from /proc/net/if_inet6. None when they cannot be read (then only `on` sections and
/// a floating address given as the host name match).
fn local_addresses() -> Vec<IpAddr> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let mut out = local_ipv4(&read("/proc/net/fib_trie"));
    out.extend(local_ipv6(&read("/proc/net/if_inet6")));
    out
}

/// The `/32 host LOCAL` entries of /proc/net/fib_trie.
fn local_ipv4(fib_trie: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(a) = line.strip_prefix("|-- ") {
            last = a.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(a) = last.filter(|a| !out.contains(a)) {
                out.push(a);
            }
        }
    }
    out
}

/// The addresses of /proc/net/if_inet6 (32 hex digits first on each line).
fn local_ipv6(if_inet6: &str) -> Vec<IpAddr> {
    if_inet6
        .lines()
        .filter_map(|l| {
            let hex = l.split_whitespace().next()?;
            let n = u128::from_str_radix(hex, 16)
                .ok()
                .filter(|_| hex.len() == 32)?;
            Some(IpAddr::V6(std::net::Ipv6Addr::from(n)))
        })
        .collect()
}

fn hostname() -> Result<String, Failure> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .map_err(|e| Failure {
            message: format!("cannot read the host name: {e}; use --hostname"),
            code: 20,
        })
}

/// drbdadm-84's `E_USAGE`: bad command line, unknown resource, nothing to do.
const USAGE_ERROR: u8 = 1;

fn unknown_resource(name: &str) -> Failure {
    Failure {
        message: format!("'{name}' not defined in your config (for this host)."),
        code: USAGE_ERROR,
    }
}

/// The host views of the command line's targets, in order: `all` (every resource with a
/// section for this host), `RES`, or one volume as drbdadm-84 names it, `RES/VNR` or
/// `minor-N` (the view then has only that volume). `all` matching nothing is an error, as in
/// drbdadm-84: after a host rename (or with a wrong `--hostname`) `up all` must not succeed
/// silently. The views' warnings go to stderr.
fn views(cfg: &Config, host: &Node, targets: &[String]) -> Result<Vec<HostView>, Failure> {
    Ok(select_targets(cfg, host, targets, None)?
        .into_iter()
        .flat_map(|(_, views)| views)
        .collect())
}

/// [`views`] for a command on whole resources (`cmd`: down, connect, ...): a volume is
/// refused, as by drbdadm-84, unless it is the resource's implicit one.
fn whole_views(
    cfg: &Config,
    host: &Node,
    targets: &[String],
    cmd: &str,
) -> Result<Vec<HostView>, Failure> {
    Ok(select_targets(cfg, host, targets, Some(cmd))?
        .into_iter()
        .flat_map(|(_, views)| views)
        .collect())
}

/// Each target of the command line with its views, every one checked before anything is
/// done, as drbdadm-84 does; `all` among them stands for all (the others add nothing).
fn select_targets(
    cfg: &Config,
    host: &Node,
    targets: &[String],
    whole: Option<&str>,
) -> Result<Vec<(String, Vec<HostView>)>, Failure> {
    let targets: Vec<&str> = if targets.iter().any(|t| t == "all") {
        vec!["all"]
    } else {
        targets.iter().map(String::as_str).collect()
    };
    targets
        .into_iter()
        .map(|t| Ok((t.to_string(), select_views(cfg, host, t, whole)?)))
        .collect()
}

fn select_views(
    cfg: &Config,
    host: &Node,
    target: &str,
    whole: Option<&str>,
) -> Result<Vec<HostView>, Failure> {
    let views = match volume_target(cfg, host, target)? {
        None => host_views(cfg, host, target)?,
        Some((mut view, number)) => {
            let implicit = view.volume(number).is_some_and(|v| v.implicit);
            match whole {
                Some(cmd) if !implicit => {
                    return Err(Failure {
                        message: format!(
                            "{cmd} operates on whole resources, but you specified a specific \
                             volume! (name the resource: '{cmd} {}')",
                            view.resource
                        ),
                        code: USAGE_ERROR,
                    })
                }
                Some(_) => {}
                None => view.volumes.retain(|v| v.number == number),
            }
            vec![view]
        }
    };
    for view in &views {
        for w in &view.warnings {
            eprintln!("{w}");
        }
    }
    Ok(views)
}

/// `RES/VNR` or `minor-N` (as drbdadm-84: a resource of that name first): the resource's
/// view and the volume number; `None` for a plain resource name or `all`.
fn volume_target(
    cfg: &Config,
    host: &Node,
    target: &str,
) -> Result<Option<(HostView, u32)>, Failure> {
    if target == "all" || cfg.resource(target).is_some() {
        return Ok(None);
    }
    if let Some((name, vnr)) = target.split_once('/') {
        if cfg.resource(name).is_none() {
            return Err(unknown_resource(target));
        }
        let view = cfg.host_view_with(name, &host.name, &host.addresses)?;
        let number = vnr
            .parse::<u32>()
            .ok()
            .filter(|n| view.volume(*n).is_some())
            .ok_or_else(|| unknown_resource(target))?;
        return Ok(Some((view, number)));
    }
    if let Some(minor) = target
        .strip_prefix("minor-")
        .and_then(|m| m.parse::<u32>().ok())
    {
        for r in cfg.resources_for_host_with(&host.name, &host.addresses) {
            let view = cfg.host_view_with(&r.name, &host.name, &host.addresses)?;
            if let Some(v) = view.volumes.iter().find(|v| v.device.minor == minor) {
                let number = v.number;
                return Ok(Some((view, number)));
            }
        }
    }
    Err(unknown_resource(target))
}

fn host_views(cfg: &Config, host: &Node, resource: &str) -> Result<Vec<HostView>, Failure> {
    if resource == "all" {
        if cfg.resources.is_empty() {
            return Err(Failure {
                message: "no resources defined!".into(),
                code: USAGE_ERROR,
            });
        }
        let mut out = Vec::new();
        for r in cfg.resources_for_host_with(&host.name, &host.addresses) {
            out.push(cfg.host_view_with(&r.name, &host.name, &host.addresses)?);
        }
        if out.is_empty() {
            return Err(Failure {
                message: format!(
                    "no resources defined for this host ('{}'): is the host name in the \
                     'on' sections misspelled? ('uname -n' must match, or use --hostname)",
                    host.name
                ),
                code: USAGE_ERROR,
            });
        }
        Ok(out)
    } else {
        if cfg.resource(resource).is_none() {
            return Err(unknown_resource(resource));
        }
        Ok(vec![cfg.host_view_with(
            resource,
            &host.name,
            &host.addresses,
        )?])
    }
}

/// Carries out [`Step`]s: kernel requests over one netlink socket, opened at the first
/// step that needs the kernel (create-md and apply-al do not).
#[derive(Default)]
struct Executor {
    kernel: Option<Kernel>,
}

impl Executor {
    fn kernel(&mut self) -> Result<&mut Kernel, Failure> {
        if self.kernel.is_none() {
            self.kernel = Some(Kernel::open()?);
        }
        Ok(self.kernel.as_mut().expect("just opened"))
    }

    fn run(&mut self, step: &Step) -> Result<(), Failure> {
        match step {
            Step::NewResource { resource, options } => {
                self.kernel()?.new_resource(resource, options)?
            }
            Step::ResourceOptions {
                resource,
                options,
                set_defaults,
            } => self
                .kernel()?
                .resource_options(resource, options, *set_defaults)?,
            Step::DiskOptions {
                minor,
                options,
                set_defaults,
            } => self
                .kernel()?
                .disk_options(*minor, options, *set_defaults)?,
            Step::NewMinor {
                resource,
                minor,
                volume,
            } => self.kernel()?.new_minor(resource, *minor, *volume)?,
            Step::ApplyAl { resource, volume } => apply_al(resource, volume)?,
            Step::Attach { volume: vol } => {
                let (meta_dev, _) = vol.meta_disk.attach_args(&vol.disk);
                self.kernel()?.attach(
                    vol.device.minor,
                    &vol.disk,
                    meta_dev,
                    vol.meta_disk.index_code(),
                    &vol.disk_options,
                )?
            }
            Step::Connect {
                resource,
                ends,
                net,
                flags,
            } => {
                let values = admin::net_conf_values(net, *flags)?;
                let ends = endpoints(resource, ends)?;
                self.kernel()?.connect(resource, &ends, &values)?
            }
            Step::Disconnect {
                resource,
                ends,
                force,
            } => {
                let ends = endpoints(resource, ends)?;
                self.kernel()?.disconnect(&ends, *force)?
            }
            Step::NetOptions {
                resource,
                ends,
                net,
                set_defaults,
            } => {
                let values = admin::net_conf_values(net, ConnectFlags::default())?;
                let ends = endpoints(resource, ends)?;
                self.kernel()?.net_options(&ends, &values, *set_defaults)?
            }
            Step::WaitConnect {
                resource,
                volume,
                minor,
                startup,
            } => wait_connect(self.kernel()?, resource, *volume, *minor, startup)?,
            Step::Down { resource } => self.kernel()?.down(resource)?,
            Step::Resize {
                minor,
                size,
                assume_peer_has_space,
                assume_clean,
            } => {
                // drbdsetup-84's check-resize (the printed second line) records the lower
                // device's size for drbdmeta in /var/lib/drbd; drbdadm-rs moves internal
                // meta data online and keeps no such file.
                let sectors = size.as_ref().map_or(0, |(_, n)| *n);
                self.kernel()?
                    .resize(*minor, sectors, *assume_peer_has_space, *assume_clean)?
            }
            Step::Invalidate { volume } => invalidate(volume)?,
            Step::Verify { minor, start, stop } => {
                let values = admin::start_ov_values(
                    start.as_ref().map(|(_, n)| *n),
                    stop.as_ref().map(|(_, n)| *n),
                );
                self.kernel()?.verify(*minor, &values)?
            }
            Step::NewCurrentUuid {
                minor,
                clear_bitmap,
            } => self.kernel()?.new_current_uuid(*minor, *clear_bitmap)?,
            Step::Primary { minor, force } => self.kernel()?.primary(*minor, *force)?,
            Step::Detach { minor, force } => self.kernel()?.detach(*minor, *force)?,
            Step::Minor { cmd, minor } => {
                let k = self.kernel()?;
                match cmd {
                    MinorCmd::Secondary => k.secondary(*minor)?,
                    MinorCmd::InvalidateRemote => k.invalidate_remote(*minor)?,
                    MinorCmd::PauseSync => k.pause_sync(*minor)?,
                    MinorCmd::ResumeSync => k.resume_sync(*minor)?,
                    MinorCmd::DelMinor => k.del_minor(*minor)?,
                    MinorCmd::SuspendIo => k.suspend_io(*minor)?,
                    MinorCmd::ResumeIo => k.resume_io(*minor)?,
                }
            }
            Step::Outdate { volume } => outdate(volume)?,
            Step::Gi { volume, show } => gi(volume, *show)?,
            Step::Meta { volume, cmd } => {
                let target = MetaTarget::new(&volume.disk, &volume.meta_disk);
                match cmd {
                    MetaCmd::DumpMd => {
                        let header = dump_header(&tools_line(step));
                        match meta::dump_md(&target, &header) {
                            Ok(text) => print!("{text}"),
                            // drbdmeta's status for unclean meta data.
                            Err(e @ meta::MetaError::Unclean { .. }) => {
                                return Err(Failure {
                                    message: e.to_string(),
                                    code: 1,
                                })
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    MetaCmd::WipeMd { force } => wipe_md(&target, *force)?,
                }
            }
            Step::CreateMd {
                resource,
                volume: vol,
                force,
            } => {
                let target = MetaTarget::new(&vol.disk, &vol.meta_disk);
                let created = meta::create_md(&target, *force)?;
                println!(
                    "{resource}/{}: meta data written to {} ({} KiB usable)",
                    vol.number,
                    target.meta.display(),
                    created.capacity / 2
                );
                println!("New drbd meta data block successfully created.");
            }
        }
        Ok(())
    }
}

/// The drbdmeta command line of a step (for dump-md's header).
fn tools_line(step: &Step) -> String {
    let tools = Tools {
        drbdsetup: "drbdsetup-84".into(),
        drbdmeta: "drbdmeta".into(),
    };
    step.lines(&tools, &[]).join(" ")
}

/// drbdmeta's dump header after its first line: the time (`%F %T %z [%s]`, here in UTC),
/// `HOST> COMMAND LINE`.
fn dump_header(command_line: &str) -> Vec<String> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let host = hostname().unwrap_or_default();
    vec![
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 [{secs}]",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        ),
        format!("{host}> {command_line}"),
    ]
}

/// drbdadm-84's note for the commands that take no resource names.
fn ignored_names(names: &[String]) {
    if !names.is_empty() {
        eprintln!("This command will ignore resource names!");
    }
}

/// The `hidden-commands` text: the commands `--help` does not list, as drbdadm-84 groups
/// them (those drbdadm-rs has; see Documentation/admin-tool.md for the others).
fn hidden_commands() -> String {
    let group = |names: &[&str]| {
        let mut out = String::new();
        for pair in names.chunks(2) {
            match pair {
                [a, b] => out.push_str(&format!(" {a:<35}{b:<35}\n")),
                [a] => out.push_str(&format!(" {a:<35}\n")),
                _ => {}
            }
        }
        out
    };
    format!(
        "\nThese additional commands might be useful for writing\nnifty shell scripts around \
         drbdadm:\n\n{}\nThese commands ought to be used by experts and developers:\n\n{}\n",
        group(&[
            "sh-nop",
            "sh-resources",
            "sh-resource",
            "sh-mod-parms",
            "sh-dev",
            "sh-udev",
            "sh-minor",
            "sh-ll-dev",
            "sh-md-dev",
            "sh-md-idx",
            "sh-ip",
            "sh-lr-of",
            "sh-b-pri",
            "sh-status",
            "new-resource",
        ]),
        group(&[
            "sh-new-minor",
            "new-minor",
            "suspend-io",
            "resume-io",
            "new-current-uuid",
            "check-resize",
        ])
    )
}

/// `-t FILE`: the file is read after the configuration, as drbdadm-84 reads it: its
/// resources join the configuration's, a second `global` section or a resource defined twice
/// is an error (exit 10).
fn add_config_to_test(cfg: &mut Config, path: &std::path::Path) -> Result<(), Failure> {
    let test = config::load(path)?;
    for w in &test.warnings {
        eprintln!("{w}");
    }
    let invalid = |message: String| Failure { message, code: 10 };
    if !cfg.global.is_empty() && !test.global.is_empty() {
        return Err(invalid(format!(
            "{}: conflicting use of global section 'global' ...",
            path.display()
        )));
    }
    if !test.global.is_empty() {
        cfg.global = test.global.clone();
    }
    for r in test.resources {
        if cfg.resource(&r.name).is_some() {
            return Err(invalid(format!(
                "{}: conflicting use of resource name '{}'",
                path.display(),
                r.name
            )));
        }
        cfg.resources.push(r);
    }
    Ok(())
}

/// One of the `sh-*` queries over the command line's targets (see [`queries`]).
fn sh(
    cfg: &Config,
    host: &Node,
    q: Query,
    targets: &[String],
    stacked: bool,
) -> Result<(), Failure> {
    let (out, failure) = queries::sh_query(cfg, host, q, targets, stacked);
    print!("{out}");
    match failure {
        None => Ok(()),
        // Reported already (a skipped target): only the status remains.
        Some(f) if f.message.is_empty() => Err(Failure {
            message: String::new(),
            code: f.code,
        }),
        Some(f) => Err(f),
    }
}

/// `sh-status`: the configuration's resources as shell variables, each volume's state as
/// drbdsetup-84's `sh-status` prints it (from the kernel; a minor it does not know is
/// `_known=NA`). With `-d`, the drbdsetup-84 lines in their place, as drbdadm-84.
fn sh_status(
    cfg: &Config,
    config_path: &std::path::Path,
    host: &Node,
    dry_run: bool,
    tools: &Tools,
) -> Result<(), Failure> {
    let views: Vec<HostView> = cfg
        .resources_for_host_with(&host.name, &host.addresses)
        .into_iter()
        .map(|r| cfg.host_view_with(&r.name, &host.name, &host.addresses))
        .collect::<Result<_, _>>()?;
    let mut kernel = None;
    if !dry_run {
        let canonical = std::fs::canonicalize(config_path)
            .unwrap_or_else(|_| config_path.to_path_buf())
            .display()
            .to_string();
        print!(
            "_drbd_version={}\n_drbd_api={}\n_config_file={}\n\n\n",
            drbd_rs_tools::plan::shell_escape(env!("CARGO_PKG_VERSION")),
            version::GENL_API_VERSION,
            drbd_rs_tools::plan::shell_escape(&canonical)
        );
        kernel = Some(Kernel::open()?);
    }
    for view in &views {
        print!("{}", queries::status_header(cfg, view));
        for vol in &view.volumes {
            println!("_conf_volume={}", vol.number);
            match kernel.as_mut() {
                None => println!(
                    "{}",
                    drbd_rs_tools::plan::command_line(&[
                        tools.drbdsetup.clone(),
                        "sh-status".into(),
                        vol.device.minor.to_string()
                    ])
                ),
                Some(k) => print!(
                    "{}",
                    sh_status_of(vol.device.minor, k.status(vol.device.minor)?)
                ),
            }
        }
    }
    Ok(())
}

/// drbdsetup-84's `sh-status` block of one minor.
fn sh_status_of(minor: u32, status: Option<MinorStatus>) -> String {
    let mut out = format!("_minor={minor}\n");
    let flag = |b: bool| if b { "1" } else { "" };
    match status {
        Some(s)
            if !(s.state.conn == drbd_core::state::ConnState::StandAlone
                && s.state.disk == drbd_core::state::DiskState::Diskless
                && s.state.role != drbd_core::state::Role::Primary) =>
        {
            out.push_str(&format!(
                "_res_name={}\n_volume={}\n_known=Configured\n\n_cstate={}\n_role={}\n_peer={}\n\
                 _disk={}\n_pdsk={}\n\n_flags_susp={}\n_flags_aftr_isp={}\n_flags_peer_isp={}\n\
                 _flags_user_isp={}\n\n_resynced_percent=",
                drbd_rs_tools::plan::shell_escape(&s.resource),
                s.volume,
                s.state.conn.name(),
                s.state.role.name(),
                s.state.peer.name(),
                s.state.disk.name(),
                s.state.pdsk.name(),
                // drbdsetup-84 prints the user's suspend bit only.
                flag(s.state.susp),
                flag(s.state.aftr_isp),
                flag(s.state.peer_isp),
                flag(s.state.user_isp),
            ));
            match s.bits_rs_total {
                Some(total) => {
                    let shift = if total >= 1 << 32 { 16 } else { 10 };
                    let left = s.bits_oos.saturating_sub(s.bits_rs_failed) >> shift;
                    let total = 1 + (total >> shift);
                    // drbdsetup-84's unsigned arithmetic, wrap-around included.
                    let synced = 1000u64.wrapping_sub(left.wrapping_mul(1000) / total) as u32;
                    out.push_str(&format!("{}.{}\n", synced / 10, synced % 10));
                }
                None => out.push('\n'),
            }
        }
        other => {
            let (name, volume) = other.as_ref().map_or((None, -1i64), |s| {
                (Some(s.resource.clone()), i64::from(s.volume))
            });
            if let Some(n) = name {
                out.push_str(&format!(
                    "_res_name={}\n",
                    drbd_rs_tools::plan::shell_escape(&n)
                ));
            }
            out.push_str(&format!(
                "_volume={volume}\n_known={}\n\n_cstate=Unconfigured\n_role=\n_peer=\n_disk=\n\
                 _pdsk=\n_flags_susp=\n_flags_aftr_isp=\n_flags_peer_isp=\n_flags_user_isp=\n\
                 _resynced_percent=\n",
                if other.is_some() {
                    "Unconfigured"
                } else {
                    "NA # not available or not yet created"
                }
            ));
        }
    }
    out.push_str("\n_sh_status_process\n\n\n");
    out
}

/// The resource arguments of a command (`None` for those that take none or one).
fn targets_mut(command: &mut Command) -> Option<&mut Vec<String>> {
    match command {
        Command::CreateMd { resource, .. }
        | Command::Up { resource }
        | Command::NewResource { resource }
        | Command::NewMinor { resource }
        | Command::Connect { resource, .. }
        | Command::Disconnect { resource, .. }
        | Command::NetOptions { resource, .. }
        | Command::WaitConnect { resource, .. }
        | Command::Down { resource }
        | Command::Attach { resource }
        | Command::Detach { resource }
        | Command::ApplyAl { resource }
        | Command::Primary { resource, .. }
        | Command::Secondary { resource }
        | Command::NewCurrentUuid { resource, .. }
        | Command::Invalidate { resource }
        | Command::InvalidateRemote { resource }
        | Command::PauseSync { resource }
        | Command::ResumeSync { resource }
        | Command::Verify { resource, .. }
        | Command::Resize { resource, .. }
        | Command::Adjust { resource }
        | Command::AdjustWithProgress { resource }
        | Command::Outdate { resource }
        | Command::SuspendIo { resource }
        | Command::ResumeIo { resource }
        | Command::CheckResize { resource }
        | Command::ShowGi { resource }
        | Command::GetGi { resource }
        | Command::DumpMd { resource }
        | Command::WipeMd { resource, .. }
        | Command::ShBPri { resource }
        | Command::Role { resource }
        | Command::Dstate { resource }
        | Command::Cstate { resource } => Some(resource),
        _ => None,
    }
}

/// `-S` with a command on resources: drbdadm-rs has no stacked resources, so every target
/// is refused as drbdadm-84 refuses a normal resource in stacked mode (exit 1 at the end) —
/// except a volume named by its minor (`minor-N`), which drbdadm-84 lets through: the
/// command runs for those.
fn stacked_mode(
    cfg: &Config,
    host: &Node,
    mut command: Command,
    run: impl FnOnce(Command) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let usage = |message: String| Failure {
        message,
        code: USAGE_ERROR,
    };
    let Some(targets) = targets_mut(&mut command) else {
        return run(command);
    };
    if targets.first().is_none_or(|t| t == "all") {
        return Err(usage(format!(
            "WARN: nothing stacked for this host ({}), nothing to do in stacked mode!",
            host.name
        )));
    }
    let mut refused = false;
    let mut minors = Vec::new();
    for t in targets.iter() {
        let name = match volume_target(cfg, host, t)? {
            Some(_) if t.starts_with("minor-") && cfg.resource(t).is_none() => {
                minors.push(t.clone());
                continue;
            }
            Some((view, _)) => view.resource,
            None if cfg.resource(t).is_some() => t.clone(),
            None => return Err(unknown_resource(t)),
        };
        eprintln!("'{name}' is a normal resource, and not available in stacked mode.");
        refused = true;
    }
    if !minors.is_empty() {
        *targets = minors;
        run(command)?;
    }
    if refused {
        return Err(usage(String::new()));
    }
    Ok(())
}

/// `outdate` of one volume as drbdadm-84 does it: the kernel first; a Primary (exit 17) is
/// the answer; otherwise, when the kernel cannot do it (no such disk, minor or module, or the
/// disk is Inconsistent: exit 5), the meta data on disk (exit 5 when it is Inconsistent).
fn outdate(vol: &config::VolumeView) -> Result<(), Failure> {
    let minor = vol.device.minor;
    let target = MetaTarget::new(&vol.disk, &vol.meta_disk);
    match Kernel::open().and_then(|mut k| k.outdate(minor)) {
        Ok(()) => Ok(()),
        Err(e) if e.exit_code() == 17 => Err(e.into()),
        Err(e) if e.exit_code() == 11 => Err(e.into()),
        Err(e) => {
            let code = e.exit_code();
            match meta::outdate(&target) {
                Ok(true) => Ok(()),
                Ok(false) => Err(Failure {
                    message: "Device is inconsistent.".into(),
                    code: 5,
                }),
                Err(m) => Err(Failure {
                    message: format!("{e}\n{m}"),
                    code: if code == 5 { 5 } else { 10 },
                }),
            }
        }
    }
}

/// `get-gi` / `show-gi` of one volume: the kernel's UUIDs and flags when it has the disk
/// (drbdsetup-84's), else the meta data on disk (drbdmeta's, with the last agreed size).
fn gi(vol: &config::VolumeView, show: bool) -> Result<(), Failure> {
    let minor = vol.device.minor;
    let from_kernel = Kernel::open()
        .and_then(|mut k| k.status(minor))
        .ok()
        .flatten()
        .filter(|s| s.state.disk != drbd_core::state::DiskState::Diskless);
    if let Some(s) = from_kernel {
        if let (Some(uuids), Some(flags)) = (s.uuids, s.disk_flags) {
            let text = if show {
                meta::gi_explained(&uuids, flags)
            } else {
                meta::gi_line(&uuids, flags)
            };
            print!("{text}");
            return Ok(());
        }
    }
    let sb = meta::read_superblock(&MetaTarget::new(&vol.disk, &vol.meta_disk))?;
    print!("{}", meta::gi_of_superblock(&sb, show));
    Ok(())
}

/// `wipe-md` of a detached volume: asks first unless `--force` (as drbdmeta).
fn wipe_md(target: &MetaTarget, force: bool) -> Result<(), Failure> {
    if !meta::has_meta_data(target)? {
        eprintln!("There appears to be no drbd meta data to wipe out?");
        return Ok(());
    }
    if force {
        eprintln!(
            "Do you really want to wipe out the DRBD meta data?\n*** confirmation forced via \
             --force option ***"
        );
    } else {
        use std::io::{BufRead, Write};
        print!(
            "Do you really want to wipe out the DRBD meta data?\n[need to type 'yes' to confirm] "
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            println!("Operation cancelled.");
            return Err(Failure {
                message: String::new(),
                code: 1,
            });
        }
    }
    println!("Wiping meta data...");
    meta::wipe_md(target)?;
    println!("DRBD meta data block successfully wiped out.");
    Ok(())
}

/// The connection's endpoints: this node's address and its (single) peer's.
fn endpoints(resource: &str, ends: &Ends) -> Result<Endpoints, Failure> {
    let peer = ends.peer.as_ref().ok_or_else(|| Failure {
        message: format!("resource {resource}: cannot configure network without knowing my peer."),
        code: 20,
    })?;
    Ok(Endpoints::from_config(&ends.my, peer)?)
}

/// The seconds to wait (0 = forever) for a device with kernel timeout type `ty`, from the
/// three timeouts as drbdsetup-84 settles them: the degraded timeout is capped by the
/// normal one, the outdated timeout by the degraded one (an unset = infinite timeout is
/// capped too).
fn choose_wfc_timeout(wfc: u64, degr: u64, outdated: u64, ty: u32) -> u64 {
    let mut degr = degr;
    let mut outdated = outdated;
    if wfc > 0 && (degr == 0 || wfc < degr) {
        degr = wfc;
    }
    if degr > 0 && (outdated == 0 || degr < outdated) {
        outdated = degr;
    }
    match ty {
        timeout_type::DEGRADED => degr,
        timeout_type::PEER_OUTDATED => outdated,
        _ => wfc,
    }
}

/// `wait-connect` of one minor with the timeouts of `startup` (the config's, with the
/// command line's set on top).
fn wait_connect(
    k: &mut Kernel,
    resource: &str,
    volume: u32,
    minor: u32,
    startup: &OptionList,
) -> Result<(), Failure> {
    let secs = |name: &str| startup.number(name).unwrap_or(0);
    let secs = choose_wfc_timeout(
        secs("wfc-timeout"),
        secs("degr-wfc-timeout"),
        secs("outdated-wfc-timeout"),
        k.timeout_type(minor)?,
    );
    let timeout = (secs > 0).then(|| Duration::from_secs(secs));
    if let WaitOutcome::TimedOut(s) = k.wait_connect(minor, timeout)? {
        return Err(Failure {
            message: format!(
                "{resource}/{volume} (minor {minor}): not connected after {secs} s (still {})",
                s.conn
            ),
            code: EXIT_WAIT_TIMEOUT,
        });
    }
    Ok(())
}

/// `invalidate` of one volume as drbdadm-84 does it: the kernel first; unless it refused the
/// state change (exit 11 or 17), which is the answer, the meta data on disk (the disk is not
/// attached, the minor or the module not there).
fn invalidate(vol: &config::VolumeView) -> Result<(), Failure> {
    let minor = vol.device.minor;
    match Kernel::open().and_then(|mut k| k.invalidate(minor)) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.exit_code(), 11 | 17) => Err(e.into()),
        Err(e) => {
            eprintln!("{e}");
            meta::invalidate(&MetaTarget::new(&vol.disk, &vol.meta_disk))?;
            Ok(())
        }
    }
}

fn apply_al(resource: &str, vol: &config::VolumeView) -> Result<(), Failure> {
    let target = MetaTarget::new(&vol.disk, &vol.meta_disk);
    if let AlOutcome::Applied { extents_marked } = meta::apply_al(&target)? {
        if extents_marked > 0 {
            println!(
                "{resource}/{}: {extents_marked} activity-log extents marked out of sync",
                vol.number
            );
        }
    }
    Ok(())
}

fn show_state(
    cfg: &Config,
    host: &Node,
    resource: &[String],
    show: impl Fn(&MinorStatus) -> String,
) -> Result<(), Failure> {
    let mut k = Kernel::open()?;
    for view in views(cfg, host, resource)? {
        for vol in &view.volumes {
            match k.status(vol.device.minor)? {
                Some(s) => println!("{}", show(&s)),
                None => {
                    return Err(Failure {
                        message: format!(
                            "{}: not configured in the kernel (run 'up' first)",
                            vol.device.minor
                        ),
                        code: 10,
                    })
                }
            }
        }
    }
    Ok(())
}

fn status(cfg: &Config, host: &Node, resource: Option<&str>, json: bool) -> Result<(), Failure> {
    if let Some(r) = resource.filter(|r| *r != "all") {
        whole_views(cfg, host, &[r.to_string()], "status")?;
    }
    let all = Kernel::open()?.status_all()?;
    let wanted: Vec<&MinorStatus> = all
        .iter()
        .filter(|s| resource.is_none_or(|r| r == "all" || r == s.resource))
        .collect();
    if json {
        print!("{}", status_json(&wanted));
    } else {
        let mut last: Option<&str> = None;
        for s in &wanted {
            if last != Some(s.resource.as_str()) {
                println!("{} role:{}", s.resource, s.state.role.name());
                last = Some(&s.resource);
            }
            println!(
                "  volume:{} minor:{} disk:{}",
                s.volume,
                s.minor,
                s.state.disk.name()
            );
            let done = s
                .sync_done()
                .map(|d| format!(" done:{d:.2}"))
                .unwrap_or_default();
            println!(
                "  connection:{} peer-role:{} peer-disk:{}{done}",
                s.state.conn.name(),
                s.state.peer.name(),
                s.state.pdsk.name()
            );
        }
    }
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_json(all: &[&MinorStatus]) -> String {
    let items: Vec<String> = all
        .iter()
        .map(|s| {
            format!(
                "  {{\"resource\": {}, \"volume\": {}, \"minor\": {}, \"role\": {}, \"peer-role\": {}, \
                 \"connection\": {}, \"disk\": {}, \"peer-disk\": {}, \"size-sectors\": {}, \
                 \"out-of-sync-kib\": {}, \"sync-done\": {}}}",
                json_str(&s.resource),
                s.volume,
                s.minor,
                json_str(s.state.role.name()),
                json_str(s.state.peer.name()),
                json_str(s.state.conn.name()),
                json_str(s.state.disk.name()),
                json_str(s.state.pdsk.name()),
                s.capacity,
                s.oos_kib(),
                s.sync_done()
                    .map_or_else(|| "null".to_string(), |d| format!("{d:.2}"))
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// `version` and `--version`: the keys of drbdadm-84's `--version` (scripts `eval` them; the
/// OCF agent reads `DRBD_KERNEL_VERSION_CODE`), with this tool speaking drbd 8.4's admin
/// interface, then drbdadm-rs's own version. Without a loaded module the kernel code is
/// 0x000000, as drbdadm-84 prints it.
fn show_version() -> Result<(), Failure> {
    let kernel = std::fs::read_to_string(PROC_DRBD)
        .ok()
        .and_then(|text| parse_release(&text));
    print!("{}", version_text(kernel));
    Ok(())
}

fn version_text(kernel: Option<drbd_core::proc_text::Release>) -> String {
    let code = |r: &drbd_core::proc_text::Release| (r.major << 16) | (r.minor << 8) | r.sub;
    let ours = parse_release(&format!("version: {}", version::RELEASE));
    let mut text = format!(
        "DRBDADM_BUILDTAG=drbdadm-rs\\ {tool}\n\
         DRBDADM_API_VERSION={api}\n\
         DRBD_KERNEL_VERSION_CODE=0x{kernel_code:06x}\n\
         DRBDADM_VERSION_CODE=0x{our_code:06x}\n\
         DRBDADM_VERSION={release}\n\
         DRBDADM_RS_VERSION={tool}\n\
         DRBD_PROTOCOLS={min}-{max}\n",
        tool = env!("CARGO_PKG_VERSION"),
        api = version::GENL_API_VERSION,
        kernel_code = kernel.as_ref().map_or(0, code),
        our_code = ours.as_ref().map_or(0, code),
        release = version::RELEASE,
        min = version::PROTOCOL_MIN,
        max = version::PROTOCOL_MAX,
    );
    if let Some(r) = kernel {
        text.push_str(&format!(
            "DRBD_KERNEL_VERSION={}.{}.{}\n",
            r.major, r.minor, r.sub
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn take(line: &str) -> (Vec<String>, Vec<String>) {
        take_setup_options(argv(line))
    }

    #[test]
    fn legacy_force_spellings() {
        let (a, f) = take("drbdadm-rs primary r0 -- --overwrite-data-of-peer");
        assert_eq!(
            (a, f),
            (
                argv("drbdadm-rs primary r0"),
                argv("--overwrite-data-of-peer")
            )
        );
        let (a, f) = take("drbdadm-rs -- --do-what-I-say primary r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs primary r0"), argv("--do-what-I-say"))
        );
        let (a, f) = take("drbdadm-rs primary --overwrite-data-of-peer r0");
        assert_eq!(
            (a, f),
            (
                argv("drbdadm-rs primary r0"),
                argv("--overwrite-data-of-peer")
            )
        );
        let (a, f) = take("drbdadm-rs primary --force r0");
        assert_eq!((a, f), (argv("drbdadm-rs primary --force r0"), vec![]));
    }

    #[test]
    fn setup_options_after_dashes_and_direct() {
        // Everything with a dash after `--`, in order, before or after the command.
        let (a, f) = take("drbdadm-rs -c x.conf -- --set-defaults --protocol=A net-options r0");
        assert_eq!(a, argv("drbdadm-rs -c x.conf net-options r0"));
        assert_eq!(f, argv("--set-defaults --protocol=A"));
        let (a, f) = take("drbdadm-rs -d -- --foo=1 up r0");
        assert_eq!((a, f), (argv("drbdadm-rs -d up r0"), argv("--foo=1")));
        // drbdadm-84's direct drbdsetup options of attach, connect, net-options, detach
        // (`--name value` as `--name=value`); other options stay for clap.
        let (a, f) = take("drbdadm-rs attach --on-io-error detach --disk-flushes r0 -d");
        assert_eq!(a, argv("drbdadm-rs attach r0 -d"));
        assert_eq!(f, argv("--on-io-error=detach --disk-flushes"));
        let (a, f) = take("drbdadm-rs net-options --protocol=A r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs net-options r0"), argv("--protocol=A"))
        );
        let (a, f) = take("drbdadm-rs detach --force r0");
        assert_eq!((a, f), (argv("drbdadm-rs detach r0"), argv("--force")));
        // drbdadm-84's -W / --setup-option.
        for line in [
            "drbdadm-rs -W--force detach r0",
            "drbdadm-rs -W --force detach r0",
            "drbdadm-rs --setup-option=--force detach r0",
            "drbdadm-rs detach --setup-option --force r0",
        ] {
            assert_eq!(
                take(line),
                (argv("drbdadm-rs detach r0"), argv("--force")),
                "{line}"
            );
        }
        let (a, f) = take("drbdadm-rs disconnect --force r0");
        assert_eq!((a, f), (argv("drbdadm-rs disconnect --force r0"), vec![]));
        // A global option's value is not the command (`-c attach`).
        let (a, f) = take("drbdadm-rs -c attach up --protocol=A r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs -c attach up --protocol=A r0"), vec![])
        );
    }

    #[test]
    fn pass_through_connect_flags() {
        let (a, f) = take("drbdadm-rs -- --discard-my-data connect r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs connect r0"), argv("--discard-my-data"))
        );
        let (a, f) = take("drbdadm-rs connect r0 -- --dry-run");
        assert_eq!((a, f), (argv("drbdadm-rs connect r0"), argv("--dry-run")));
        // Without `--` clap parses them (connect --discard-my-data r0).
        let (a, f) = take("drbdadm-rs connect --discard-my-data r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs connect --discard-my-data r0"), vec![])
        );
        let cli = Cli::parse_from(argv("drbdadm-rs connect --tentative r0"));
        assert!(matches!(
            cli.command,
            Command::Connect {
                tentative: true,
                ..
            }
        ));
        // A plain --dry-run is drbdadm's -d, after the command too (as drbdadm-84).
        let cli = Cli::parse_from(argv("drbdadm-rs connect --dry-run r0"));
        assert!(cli.dry_run);
        assert!(matches!(
            cli.command,
            Command::Connect {
                tentative: false,
                ..
            }
        ));
        for line in [
            "drbdadm-rs -d up r0",
            "drbdadm-rs up -d r0",
            "drbdadm-rs up r0 --dry-run",
        ] {
            let cli = Cli::parse_from(argv(line));
            assert!(
                cli.dry_run && matches!(cli.command, Command::Up { .. }),
                "{line}"
            );
        }
        let cli = Cli::parse_from(argv("drbdadm-rs wait-connect -t 7 r0"));
        assert!(matches!(
            cli.command,
            Command::WaitConnect {
                wfc_timeout: Some(7),
                ..
            }
        ));
    }

    #[test]
    fn version_keys_as_drbdadm_84_prints_them() {
        let r = drbd_core::proc_text::Release {
            major: 8,
            minor: 4,
            sub: 11,
        };
        let text = version_text(Some(r));
        let lines: Vec<&str> = text.lines().collect();
        // The keys drbd-utils' scripts and the OCF agent read, in drbdadm-84's format.
        assert!(
            lines.contains(&"DRBD_KERNEL_VERSION_CODE=0x08040b"),
            "{text}"
        );
        assert!(lines.contains(&"DRBDADM_API_VERSION=1"), "{text}");
        assert!(lines.contains(&"DRBDADM_VERSION_CODE=0x08040b"), "{text}");
        assert!(lines.contains(&"DRBDADM_VERSION=8.4.11"), "{text}");
        assert!(lines.contains(&"DRBD_KERNEL_VERSION=8.4.11"), "{text}");
        let tool = format!("DRBDADM_RS_VERSION={}", env!("CARGO_PKG_VERSION"));
        assert!(lines.contains(&tool.as_str()), "{text}");
        // Every line is KEY=VALUE with the spaces escaped: `eval` must accept it.
        for line in &lines {
            let (key, value) = line.split_once('=').expect(line);
            assert!(
                key.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{line}"
            );
            assert!(!value.replace("\\ ", "").contains(' '), "{line}");
        }
        let without = version_text(None);
        assert!(without
            .lines()
            .any(|l| l == "DRBD_KERNEL_VERSION_CODE=0x000000"));
        assert!(!without.contains("DRBD_KERNEL_VERSION="));
    }

    #[test]
    fn verify_sectors_the_drbdadm_way_and_the_drbdsetup_way() {
        // drbdadm-84 takes them only after `--`.
        let (a, f) = take("drbdadm-rs -- --start=1024 --stop=8M verify r0");
        assert_eq!(
            (a, f),
            (argv("drbdadm-rs verify r0"), argv("--start=1024 --stop=8M"))
        );
        let (a, f) = take("drbdadm-rs verify r0 -- --stop=100");
        assert_eq!((a, f), (argv("drbdadm-rs verify r0"), argv("--stop=100")));
        // Without `--` they are verify's own options.
        let (a, f) = take("drbdadm-rs verify --start 16 r0");
        assert_eq!((&a, f), (&argv("drbdadm-rs verify --start 16 r0"), vec![]));
        let cli = Cli::parse_from(a);
        assert!(matches!(
            cli.command,
            Command::Verify { start: Some(ref s), stop: None, ref resource } if s == "16" && resource == &["r0"]
        ));
    }

    #[test]
    fn sync_control_commands_parse() {
        for (line, want) in [
            ("drbdadm-rs invalidate r0", "invalidate"),
            ("drbdadm-rs invalidate-remote all", "invalidate-remote"),
            ("drbdadm-rs pause-sync r1", "pause-sync"),
            ("drbdadm-rs resume-sync r1", "resume-sync"),
        ] {
            let cli = Cli::parse_from(argv(line));
            let got = match cli.command {
                Command::Invalidate { .. } => "invalidate",
                Command::InvalidateRemote { .. } => "invalidate-remote",
                Command::PauseSync { .. } => "pause-sync",
                Command::ResumeSync { .. } => "resume-sync",
                _ => "other",
            };
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn wfc_timeouts_like_drbdsetup() {
        use timeout_type::{DEFAULT, DEGRADED, PEER_OUTDATED};
        // wfc 30, degr 15: the degraded case waits 15 s.
        assert_eq!(choose_wfc_timeout(30, 15, 0, DEFAULT), 30);
        assert_eq!(choose_wfc_timeout(30, 15, 0, DEGRADED), 15);
        assert_eq!(choose_wfc_timeout(30, 15, 0, PEER_OUTDATED), 15);
        // degr longer than wfc, or infinite: capped to wfc.
        assert_eq!(choose_wfc_timeout(10, 60, 0, DEGRADED), 10);
        assert_eq!(choose_wfc_timeout(10, 0, 0, DEGRADED), 10);
        // All 0: forever.
        assert_eq!(choose_wfc_timeout(0, 0, 0, DEGRADED), 0);
        assert_eq!(choose_wfc_timeout(0, 20, 5, PEER_OUTDATED), 5);
    }

    #[test]
    fn local_addresses_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.0\n        /8 host LOCAL\n     \
                   |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.0.2.2\n        /32 host \
                   LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\nLocal:\n     |-- \
                   127.0.0.1\n        /32 host LOCAL\n";
        assert_eq!(
            local_ipv4(fib),
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "192.0.2.2".parse().unwrap()
            ]
        );
        let inet6 = "fd000000000000000000000000000002 04 40 00 82     eth0\n\
                     00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            local_ipv6(inet6),
            ["fd00::2".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
