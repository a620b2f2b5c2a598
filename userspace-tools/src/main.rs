//! `drbdadm-rs`: administration of drbd_rs (and DRBD 8.4) resources from drbd.conf.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use drbd_core::genl::sets::timeout_type;
use drbd_core::proc_text::parse_release;
use drbd_core::version;
use drbd_rs_tools::admin::{
    self, AdminError, ConnectFlags, Endpoints, Kernel, MinorStatus, WaitOutcome,
};
use drbd_rs_tools::config::{self, units, Config, HostView};
use drbd_rs_tools::meta::{self, AlOutcome, MetaTarget};

const PROC_DRBD: &str = "/proc/drbd";

/// Old spellings of `primary --force` users still type (8.3 era).
const LEGACY_FORCE_FLAGS: [&str; 2] = ["--overwrite-data-of-peer", "--do-what-I-say"];

/// drbdsetup options drbdadm users pass through after `--` (`drbdadm -- --discard-my-data
/// connect r0`).
const PASS_THROUGH_FLAGS: [&str; 3] = ["--discard-my-data", "--dry-run", "--tentative"];

/// drbdsetup options with a value that drbdadm-84 takes only after `--` (`drbdadm --
/// --start=1024 verify r0`).
const PASS_THROUGH_VALUES: [&str; 2] = ["--start=", "--stop="];

/// Exit status of `wait-connect` when the timeout passed (drbdsetup-84's).
const EXIT_WAIT_TIMEOUT: u8 = 5;

#[derive(Parser)]
#[command(
    name = "drbdadm-rs",
    disable_version_flag = true,
    about = "Administer drbd_rs / DRBD 8.4 resources defined in drbd.conf",
    after_help = "RESOURCE is a resource name from the configuration, or 'all'.\n\
                  'primary RES -- --overwrite-data-of-peer' (and --do-what-I-say) are accepted as \
                  the old spellings of 'primary --force RES'; '-- --discard-my-data' and \
                  '-- --dry-run' go with 'connect', '-- --start=S' and '-- --stop=S' with \
                  'verify'. --version is the 'version' command."
)]
struct Cli {
    /// Configuration file (default: the first of /etc/drbd-84.conf ... /etc/drbd.conf).
    #[arg(short = 'c', long = "config-file", global = true)]
    config: Option<PathBuf>,
    /// Act as this host instead of `uname -n`.
    #[arg(long, global = true)]
    hostname: Option<String>,
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
        resource: String,
    },
    /// Configure the resource in the kernel: new-resource, new-minor, attach, connect.
    Up { resource: String },
    /// Create the resource in the kernel (with its `options { }`): the first step of `up`.
    NewResource { resource: String },
    /// Create the resource's minors in the kernel: the second step of `up`.
    NewMinor { resource: String },
    /// Configure the network: connect to the peer with the `net { }` options.
    Connect {
        /// This node's data is discarded if a split brain is detected.
        #[arg(long)]
        discard_my_data: bool,
        /// Only report (in the kernel log) what the handshake would decide.
        #[arg(long, visible_alias = "dry-run")]
        tentative: bool,
        resource: String,
    },
    /// Tear the connection down (StandAlone).
    Disconnect {
        /// Do not wait for the peer (hard state change).
        #[arg(long)]
        force: bool,
        resource: String,
    },
    /// Apply the `net { }` options to the connection.
    NetOptions {
        /// Reset the options not in the config to their defaults.
        #[arg(long)]
        set_defaults: bool,
        resource: String,
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
        resource: String,
    },
    /// Remove the resource from the kernel (Secondary, detach, delete).
    Down { resource: String },
    /// Attach the lower devices (after apply-al).
    Attach { resource: String },
    /// Detach the lower devices.
    Detach { resource: String },
    /// Make the resource's volumes clean meta data again (replay the activity log).
    ApplyAl { resource: String },
    /// Become Primary; --force promotes data not known to be UpToDate.
    Primary {
        #[arg(long)]
        force: bool,
        resource: String,
    },
    /// Become Secondary.
    Secondary { resource: String },
    /// Start a new data generation (new current UUID); with --clear-bitmap on a connected
    /// pair of freshly created meta data: skip the initial sync (both sides UpToDate).
    NewCurrentUuid {
        /// Clear the bitmap too (the "skip initial sync" of two identical, fresh disks).
        #[arg(long)]
        clear_bitmap: bool,
        resource: String,
    },
    /// Discard this node's data: a full resync from the peer (StandAlone: the disk becomes
    /// Inconsistent and the next connection syncs it completely; not attached: the meta data
    /// on disk is marked for a full sync).
    Invalidate { resource: String },
    /// Discard the peer's data: a full resync from this node.
    InvalidateRemote { resource: String },
    /// Pause the resync (this node's pause flag; the peer shows it as paused by its peer).
    PauseSync { resource: String },
    /// Clear this node's pause flag; the resync continues unless paused for another reason.
    ResumeSync { resource: String },
    /// Start online verify against the peer (blocks found different are marked out of sync).
    Verify {
        /// Sector to start at (K/M/G suffixes are bytes); default: where the last run ended.
        #[arg(long)]
        start: Option<String>,
        /// Sector to stop at; default: the end of the device.
        #[arg(long)]
        stop: Option<String>,
        resource: String,
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
        resource: String,
    },
    /// Show roles: local/peer.
    Role { resource: String },
    /// Show disk states: local/peer.
    Dstate { resource: String },
    /// Show the connection state.
    Cstate { resource: String },
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
    let (args, legacy) = take_legacy_flags(std::env::args().collect());
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
    match run(cli, legacy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// drbdsetup flags given the drbdadm way (see [`take_legacy_flags`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct LegacyFlags {
    /// `--overwrite-data-of-peer` / `--do-what-I-say` (anywhere).
    force: bool,
    /// `-- --discard-my-data`.
    discard_my_data: bool,
    /// `-- --dry-run` / `-- --tentative`.
    tentative: bool,
    /// `-- --start=S` (verify).
    start: Option<String>,
    /// `-- --stop=S` (verify).
    stop: Option<String>,
}

/// Remove the legacy force flags (anywhere) and the pass-through connect flags (after `--`),
/// and the `--` before them, from argv.
fn take_legacy_flags(args: Vec<String>) -> (Vec<String>, LegacyFlags) {
    let mut flags = LegacyFlags::default();
    let mut out = Vec::with_capacity(args.len());
    let mut after_dashes = false;
    for (i, a) in args.iter().enumerate() {
        let pass_through = |n: &String| {
            LEGACY_FORCE_FLAGS.contains(&n.as_str())
                || PASS_THROUGH_FLAGS.contains(&n.as_str())
                || PASS_THROUGH_VALUES.iter().any(|p| n.starts_with(p))
        };
        if LEGACY_FORCE_FLAGS.contains(&a.as_str()) {
            flags.force = true;
        } else if after_dashes && a == "--discard-my-data" {
            flags.discard_my_data = true;
        } else if after_dashes && (a == "--dry-run" || a == "--tentative") {
            flags.tentative = true;
        } else if let (true, Some(v)) = (after_dashes, a.strip_prefix("--start=")) {
            flags.start = Some(v.to_string());
        } else if let (true, Some(v)) = (after_dashes, a.strip_prefix("--stop=")) {
            flags.stop = Some(v.to_string());
        } else if a == "--" && !after_dashes && args[i + 1..].iter().any(pass_through) {
            after_dashes = true;
        } else {
            out.push(a.clone());
        }
    }
    (out, flags)
}

fn run(cli: Cli, legacy: LegacyFlags) -> Result<(), Failure> {
    if legacy.force && !matches!(cli.command, Command::Primary { .. }) {
        return Err(Failure {
            message: "--overwrite-data-of-peer / --do-what-I-say only go with 'primary'".into(),
            code: 10,
        });
    }
    if (legacy.discard_my_data || legacy.tentative)
        && !matches!(cli.command, Command::Connect { .. })
    {
        return Err(Failure {
            message: "--discard-my-data / --dry-run only go with 'connect'".into(),
            code: 10,
        });
    }
    if (legacy.start.is_some() || legacy.stop.is_some())
        && !matches!(cli.command, Command::Verify { .. })
    {
        return Err(Failure {
            message: "--start / --stop only go with 'verify'".into(),
            code: 10,
        });
    }
    if let Command::Version = cli.command {
        return show_version();
    }
    let cfg = load_config(cli.config.as_ref())?;
    let host = match cli.hostname {
        Some(h) => h,
        None => hostname()?,
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
        Command::CreateMd { force, resource } => for_each(&cfg, &host, &resource, |view| {
            for vol in &view.volumes {
                let target = MetaTarget::new(&vol.disk, &vol.meta_disk);
                let created = meta::create_md(&target, force)?;
                println!(
                    "{}/{}: meta data written to {} ({} KiB usable)",
                    view.resource,
                    vol.number,
                    target.meta.display(),
                    created.capacity / 2
                );
            }
            println!("New drbd meta data block successfully created.");
            Ok(())
        }),
        Command::ApplyAl { resource } => for_each(&cfg, &host, &resource, |view| {
            for vol in &view.volumes {
                apply_al(&view.resource, vol)?;
            }
            Ok(())
        }),
        Command::Up { resource } => {
            // In stages over all resources, like drbdadm: every object first (resync-after
            // may name another resource's minor), then the disks, then the network.
            let views = views(&cfg, &host, &resource)?;
            let mut k = Kernel::open()?;
            for view in &views {
                new_resource_and_minors(&mut k, view)?;
            }
            for view in &views {
                for vol in &view.volumes {
                    attach(&mut k, &view.resource, vol)?;
                }
            }
            for view in &views {
                connect(&mut k, view, ConnectFlags::default())?;
            }
            Ok(())
        }
        Command::NewResource { resource } => for_each(&cfg, &host, &resource, |view| {
            Ok(Kernel::open()?.new_resource(&view.resource, &view.options)?)
        }),
        Command::NewMinor { resource } => for_each(&cfg, &host, &resource, |view| {
            let mut k = Kernel::open()?;
            for vol in &view.volumes {
                k.new_minor(&view.resource, vol.device.minor, vol.number)?;
            }
            Ok(())
        }),
        Command::Connect {
            discard_my_data,
            tentative,
            resource,
        } => {
            let flags = ConnectFlags {
                discard_my_data: discard_my_data || legacy.discard_my_data,
                tentative: tentative || legacy.tentative,
            };
            for_each(&cfg, &host, &resource, |view| {
                connect(&mut Kernel::open()?, view, flags)
            })
        }
        Command::Disconnect { force, resource } => for_each(&cfg, &host, &resource, |view| {
            Ok(Kernel::open()?.disconnect(&endpoints(view)?, force)?)
        }),
        Command::NetOptions {
            set_defaults,
            resource,
        } => for_each(&cfg, &host, &resource, |view| {
            let net = admin::net_conf_values(&view.net, ConnectFlags::default())?;
            Ok(Kernel::open()?.net_options(&endpoints(view)?, &net, set_defaults)?)
        }),
        Command::WaitConnect {
            wfc_timeout,
            degr_wfc_timeout,
            outdated_wfc_timeout,
            resource,
        } => {
            let given = WfcTimeouts {
                wfc: wfc_timeout,
                degr: degr_wfc_timeout,
                outdated: outdated_wfc_timeout,
            };
            for_each(&cfg, &host, &resource, |view| wait_connect(view, given))
        }
        Command::Attach { resource } => for_each(&cfg, &host, &resource, |view| {
            let mut k = Kernel::open()?;
            for vol in &view.volumes {
                attach(&mut k, &view.resource, vol)?;
            }
            Ok(())
        }),
        Command::Detach { resource } => for_minors(&cfg, &host, &resource, |k, m| Ok(k.detach(m)?)),
        Command::Down { resource } => for_each(&cfg, &host, &resource, |view| {
            Ok(Kernel::open()?.down(&view.resource)?)
        }),
        Command::Primary { force, resource } => for_minors(&cfg, &host, &resource, |k, m| {
            Ok(k.primary(m, force || legacy.force)?)
        }),
        Command::Secondary { resource } => {
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.secondary(m)?))
        }
        Command::NewCurrentUuid {
            clear_bitmap,
            resource,
        } => {
            // As drbdadm-84: a named resource must have one volume (`all` takes every one).
            for view in views(&cfg, &host, &resource)? {
                if resource != "all" && view.volumes.len() > 1 {
                    return Err(Failure {
                        message: format!(
                            "new-current-uuid requires a specific volume id, but none is specified.\n\
                             Try 'new-current-uuid minor-<minor_number>' or 'new-current-uuid {}/<vnr>'",
                            view.resource
                        ),
                        code: 1,
                    });
                }
            }
            for_minors(&cfg, &host, &resource, |k, m| {
                Ok(k.new_current_uuid(m, clear_bitmap)?)
            })
        }
        Command::Invalidate { resource } => {
            for view in views(&cfg, &host, &resource)? {
                for vol in &view.volumes {
                    invalidate(vol)?;
                }
            }
            Ok(())
        }
        Command::InvalidateRemote { resource } => {
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.invalidate_remote(m)?))
        }
        Command::PauseSync { resource } => {
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.pause_sync(m)?))
        }
        Command::ResumeSync { resource } => {
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.resume_sync(m)?))
        }
        Command::Verify {
            start,
            stop,
            resource,
        } => {
            let sector = |name: &str, text: Option<String>| -> Result<Option<u64>, Failure> {
                text.map(|t| {
                    units::parse_number(&t, units::Unit::Sectors).map_err(|e| Failure {
                        message: format!("--{name} {t}: {e}"),
                        code: 20,
                    })
                })
                .transpose()
            };
            let values = admin::start_ov_values(
                sector("start", start.or(legacy.start))?,
                sector("stop", stop.or(legacy.stop))?,
            );
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.verify(m, &values)?))
        }
        Command::Resize {
            size,
            assume_peer_has_space,
            assume_clean,
            resource,
        } => {
            let sectors = match size.as_deref() {
                None => 0,
                Some(text) => {
                    units::parse_number(text, units::Unit::Sectors).map_err(|e| Failure {
                        message: format!("--size {text}: {e}"),
                        code: 10,
                    })?
                }
            };
            for_minors(&cfg, &host, &resource, |k, m| {
                Ok(k.resize(m, sectors, assume_peer_has_space, assume_clean)?)
            })
        }
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
        Command::Version => unreachable!("handled above"),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, Failure> {
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
    Ok(cfg)
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

/// The host views of `resource` (`all` = every resource with a section for this host).
/// `all` matching nothing is an error, as in drbdadm-84: after a host rename (or with a
/// wrong `--hostname`) `up all` must not succeed silently.
fn views(cfg: &Config, host: &str, resource: &str) -> Result<Vec<HostView>, Failure> {
    if resource == "all" {
        if cfg.resources.is_empty() {
            return Err(Failure {
                message: "no resources defined!".into(),
                code: USAGE_ERROR,
            });
        }
        let mut out = Vec::new();
        for r in cfg.resources_for_host(host) {
            out.push(cfg.host_view(&r.name, host)?);
        }
        if out.is_empty() {
            return Err(Failure {
                message: format!(
                    "no resources defined for this host ('{host}'): is the host name in the \
                     'on' sections misspelled? ('uname -n' must match, or use --hostname)"
                ),
                code: USAGE_ERROR,
            });
        }
        Ok(out)
    } else {
        if cfg.resource(resource).is_none() {
            return Err(unknown_resource(resource));
        }
        Ok(vec![cfg.host_view(resource, host)?])
    }
}

fn for_each(
    cfg: &Config,
    host: &str,
    resource: &str,
    mut f: impl FnMut(&HostView) -> Result<(), Failure>,
) -> Result<(), Failure> {
    for view in views(cfg, host, resource)? {
        f(&view)?;
    }
    Ok(())
}

fn for_minors(
    cfg: &Config,
    host: &str,
    resource: &str,
    mut f: impl FnMut(&mut Kernel, u32) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut k = Kernel::open()?;
    for view in views(cfg, host, resource)? {
        for vol in &view.volumes {
            f(&mut k, vol.device.minor)?;
        }
    }
    Ok(())
}

fn new_resource_and_minors(k: &mut Kernel, view: &HostView) -> Result<(), Failure> {
    k.new_resource(&view.resource, &view.options)?;
    for vol in &view.volumes {
        k.new_minor(&view.resource, vol.device.minor, vol.number)?;
    }
    Ok(())
}

/// The connection's endpoints: this node's address and its (single) peer's.
fn endpoints(view: &HostView) -> Result<Endpoints, Failure> {
    let peer = view.peer().ok_or_else(|| Failure {
        message: format!(
            "resource {}: cannot configure network without knowing my peer.",
            view.resource
        ),
        code: 20,
    })?;
    Ok(Endpoints::from_config(&view.address, &peer.address)?)
}

fn connect(k: &mut Kernel, view: &HostView, flags: ConnectFlags) -> Result<(), Failure> {
    let net = admin::net_conf_values(&view.net, flags)?;
    k.connect(&view.resource, &endpoints(view)?, &net)?;
    Ok(())
}

/// `wait-connect` timeouts given on the command line (else from `startup { }`).
#[derive(Debug, Clone, Copy, Default)]
struct WfcTimeouts {
    wfc: Option<u32>,
    degr: Option<u32>,
    outdated: Option<u32>,
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

fn wait_connect(view: &HostView, given: WfcTimeouts) -> Result<(), Failure> {
    let startup = |cli: Option<u32>, name: &str| {
        cli.map(u64::from)
            .or_else(|| view.startup.number(name))
            .unwrap_or(0)
    };
    let wfc = startup(given.wfc, "wfc-timeout");
    let degr = startup(given.degr, "degr-wfc-timeout");
    let outdated = startup(given.outdated, "outdated-wfc-timeout");
    let mut k = Kernel::open()?;
    for vol in &view.volumes {
        let minor = vol.device.minor;
        let secs = choose_wfc_timeout(wfc, degr, outdated, k.timeout_type(minor)?);
        let timeout = (secs > 0).then(|| Duration::from_secs(secs));
        if let WaitOutcome::TimedOut(s) = k.wait_connect(minor, timeout)? {
            return Err(Failure {
                message: format!(
                    "{}/{} (minor {minor}): not connected after {secs} s (still {})",
                    view.resource, vol.number, s.conn
                ),
                code: EXIT_WAIT_TIMEOUT,
            });
        }
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

fn attach(k: &mut Kernel, resource: &str, vol: &config::VolumeView) -> Result<(), Failure> {
    apply_al(resource, vol)?;
    let (meta_dev, _) = vol.meta_disk.attach_args(&vol.disk);
    k.attach(
        vol.device.minor,
        &vol.disk,
        meta_dev,
        vol.meta_disk.index_code(),
        &vol.disk_options,
    )?;
    Ok(())
}

fn show_state(
    cfg: &Config,
    host: &str,
    resource: &str,
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

fn status(cfg: &Config, host: &str, resource: Option<&str>, json: bool) -> Result<(), Failure> {
    if let Some(r) = resource.filter(|r| *r != "all") {
        views(cfg, host, r)?;
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

    fn force() -> LegacyFlags {
        LegacyFlags {
            force: true,
            ..LegacyFlags::default()
        }
    }

    #[test]
    fn legacy_force_spellings() {
        let (a, f) = take_legacy_flags(argv("drbdadm-rs primary r0 -- --overwrite-data-of-peer"));
        assert_eq!((a, f), (argv("drbdadm-rs primary r0"), force()));
        let (a, f) = take_legacy_flags(argv("drbdadm-rs -- --do-what-I-say primary r0"));
        assert_eq!((a, f), (argv("drbdadm-rs primary r0"), force()));
        let (a, f) = take_legacy_flags(argv("drbdadm-rs primary --force r0"));
        assert_eq!(
            (a, f),
            (
                argv("drbdadm-rs primary --force r0"),
                LegacyFlags::default()
            )
        );
    }

    #[test]
    fn pass_through_connect_flags() {
        let (a, f) = take_legacy_flags(argv("drbdadm-rs -- --discard-my-data connect r0"));
        assert_eq!(a, argv("drbdadm-rs connect r0"));
        assert!(f.discard_my_data && !f.tentative && !f.force);
        let (a, f) = take_legacy_flags(argv("drbdadm-rs connect r0 -- --dry-run"));
        assert_eq!(a, argv("drbdadm-rs connect r0"));
        assert!(f.tentative && !f.discard_my_data);
        // Without `--` clap parses them (connect --discard-my-data r0).
        let (a, f) = take_legacy_flags(argv("drbdadm-rs connect --discard-my-data r0"));
        assert_eq!(a, argv("drbdadm-rs connect --discard-my-data r0"));
        assert_eq!(f, LegacyFlags::default());
        let cli = Cli::parse_from(argv("drbdadm-rs connect --dry-run r0"));
        assert!(matches!(
            cli.command,
            Command::Connect {
                tentative: true,
                ..
            }
        ));
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
        let (a, f) = take_legacy_flags(argv("drbdadm-rs -- --start=1024 --stop=8M verify r0"));
        assert_eq!(a, argv("drbdadm-rs verify r0"));
        assert_eq!(
            (f.start.as_deref(), f.stop.as_deref()),
            (Some("1024"), Some("8M"))
        );
        let (a, f) = take_legacy_flags(argv("drbdadm-rs verify r0 -- --stop=100"));
        assert_eq!(a, argv("drbdadm-rs verify r0"));
        assert_eq!((f.start, f.stop.as_deref()), (None, Some("100")));
        // Without `--` they are verify's own options.
        let (a, f) = take_legacy_flags(argv("drbdadm-rs verify --start 16 r0"));
        assert_eq!(a, argv("drbdadm-rs verify --start 16 r0"));
        assert_eq!(f, LegacyFlags::default());
        let cli = Cli::parse_from(a);
        assert!(matches!(
            cli.command,
            Command::Verify { start: Some(ref s), stop: None, ref resource } if s == "16" && resource == "r0"
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
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
