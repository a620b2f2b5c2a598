//! `drbdadm-rs`: administration of drbd_rs (and DRBD 8.4) resources from drbd.conf.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use drbd_core::proc_text::parse_release;
use drbd_core::version;
use drbd_rs_tools::admin::{AdminError, Kernel, MinorStatus};
use drbd_rs_tools::config::{self, units, Config, HostView};
use drbd_rs_tools::meta::{self, AlOutcome, MetaTarget};

const PROC_DRBD: &str = "/proc/drbd";

/// Old spellings of `primary --force` users still type (8.3 era).
const LEGACY_FORCE_FLAGS: [&str; 2] = ["--overwrite-data-of-peer", "--do-what-I-say"];

#[derive(Parser)]
#[command(
    name = "drbdadm-rs",
    version,
    about = "Administer drbd_rs / DRBD 8.4 resources defined in drbd.conf",
    after_help = "RESOURCE is a resource name from the configuration, or 'all'.\n\
                  'primary RES -- --overwrite-data-of-peer' (and --do-what-I-say) are accepted as \
                  the old spellings of 'primary --force RES'."
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
    /// Configure the resource in the kernel (resource, minors, attach).
    Up { resource: String },
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
    let (args, legacy_force) = take_legacy_force(std::env::args().collect());
    let cli = Cli::parse_from(args);
    match run(cli, legacy_force) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Remove the legacy force flags (and a `--` before them) from argv.
fn take_legacy_force(args: Vec<String>) -> (Vec<String>, bool) {
    let mut force = false;
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        if LEGACY_FORCE_FLAGS.contains(&a.as_str()) {
            force = true;
        } else if a == "--"
            && args[i + 1..]
                .iter()
                .any(|n| LEGACY_FORCE_FLAGS.contains(&n.as_str()))
        {
            continue;
        } else {
            out.push(a.clone());
        }
    }
    (out, force)
}

fn run(cli: Cli, legacy_force: bool) -> Result<(), Failure> {
    if legacy_force && !matches!(cli.command, Command::Primary { .. }) {
        return Err(Failure {
            message: "--overwrite-data-of-peer / --do-what-I-say only go with 'primary'".into(),
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
        Command::Up { resource } => for_each(&cfg, &host, &resource, |view| {
            let mut k = Kernel::open()?;
            k.new_resource(&view.resource)?;
            for vol in &view.volumes {
                k.new_minor(&view.resource, vol.device.minor, vol.number)?;
                attach(&mut k, &view.resource, vol)?;
            }
            Ok(())
        }),
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
            Ok(k.primary(m, force || legacy_force)?)
        }),
        Command::Secondary { resource } => {
            for_minors(&cfg, &host, &resource, |k, m| Ok(k.secondary(m)?))
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

fn unknown_resource(name: &str) -> Failure {
    Failure {
        message: format!("'{name}' not defined in your config (for this host)."),
        code: 10,
    }
}

/// The host views of `resource` (`all` = every resource with a section for this host).
fn views(cfg: &Config, host: &str, resource: &str) -> Result<Vec<HostView>, Failure> {
    if resource == "all" {
        let mut out = Vec::new();
        for r in cfg.resources_for_host(host) {
            out.push(cfg.host_view(&r.name, host)?);
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
            println!(
                "  connection:{} peer-disk:{}",
                s.state.conn.name(),
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
                 \"connection\": {}, \"disk\": {}, \"peer-disk\": {}, \"size-sectors\": {}}}",
                json_str(&s.resource),
                s.volume,
                s.minor,
                json_str(s.state.role.name()),
                json_str(s.state.peer.name()),
                json_str(s.state.conn.name()),
                json_str(s.state.disk.name()),
                json_str(s.state.pdsk.name()),
                s.capacity
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

fn show_version() -> Result<(), Failure> {
    println!(
        "DRBDADM_RS_VERSION={}\nDRBD_API={}\nDRBD_PROTOCOLS={}-{}",
        version::RELEASE,
        version::GENL_API_VERSION,
        version::PROTOCOL_MIN,
        version::PROTOCOL_MAX
    );
    let text = std::fs::read_to_string(PROC_DRBD).map_err(|e| Failure {
        message: format!("{PROC_DRBD}: {e}; load the module first (insmod drbd_rs.ko)"),
        code: 20,
    })?;
    let r = parse_release(&text).ok_or_else(|| Failure {
        message: format!("{PROC_DRBD}: no 'version:' line; is this a DRBD module?"),
        code: 20,
    })?;
    println!("DRBD_KERNEL_VERSION={}.{}.{}", r.major, r.minor, r.sub);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn legacy_force_spellings() {
        let (a, f) = take_legacy_force(argv("drbdadm-rs primary r0 -- --overwrite-data-of-peer"));
        assert_eq!((a, f), (argv("drbdadm-rs primary r0"), true));
        let (a, f) = take_legacy_force(argv("drbdadm-rs -- --do-what-I-say primary r0"));
        assert_eq!((a, f), (argv("drbdadm-rs primary r0"), true));
        let (a, f) = take_legacy_force(argv("drbdadm-rs primary --force r0"));
        assert_eq!((a, f), (argv("drbdadm-rs primary --force r0"), false));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
