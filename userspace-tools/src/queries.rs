//! drbdadm-84's `sh-*` queries (part of the `drbdadm-rs` binary): what shell scripts ask
//! drbdadm about the configuration (`sh-resources`, `sh-dev`, `sh-ll-dev`, `sh-md-dev`,
//! `sh-ip`, ...). Output and exit status are drbdadm-84's, byte for byte
//! (`tests/sh_queries.rs` compares both tools on every sample configuration).
//!
//! drbdadm-84 runs them target by target: the output of the targets before a bad one is
//! printed, then the error ends the command (exit 1); a resource without a section for this
//! host is skipped with exit 1 at the end; `all` counts only as the first target.

use super::{Failure, Node, USAGE_ERROR};
use drbd_rs_tools::config::{Config, HostView, MetaDisk, Value, VolumeView};

/// The per-volume and per-resource queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Query {
    /// `sh-resource`: the resource's name (whole resources only).
    Resource,
    /// `sh-dev`: the device node.
    Dev,
    /// `sh-udev`: udev's RESOURCE, DEVICE, DISK (one volume).
    Udev,
    /// `sh-minor`: the minor number.
    Minor,
    /// `sh-ll-dev`: the lower device.
    LlDev,
    /// `sh-md-dev`: the meta-data device.
    MdDev,
    /// `sh-md-idx`: `internal`, `flexible` or the index.
    MdIdx,
    /// `sh-ip`: this node's address.
    Ip,
    /// `sh-lr-of`: the lower resource of a stacked one (drbdadm-rs has no stacked ones).
    LrOf,
    /// `sh-b-pri`: planned separately (it runs `primary`); here only the target checks.
    BPri,
}

impl Query {
    /// The command's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Query::Resource => "sh-resource",
            Query::Dev => "sh-dev",
            Query::Udev => "sh-udev",
            Query::Minor => "sh-minor",
            Query::LlDev => "sh-ll-dev",
            Query::MdDev => "sh-md-dev",
            Query::MdIdx => "sh-md-idx",
            Query::Ip => "sh-ip",
            Query::LrOf => "sh-lr-of",
            Query::BPri => "sh-b-pri",
        }
    }
}

/// drbd-utils' `esc()` (shared_tool.c): a word with a character outside `[a-zA-Z0-9/._-]`
/// (or longer than 80) in double quotes with `"` and `\` escaped; an empty one as `""`.
pub(crate) fn esc(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".to_string();
    }
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if plain && s.len() <= 80 {
        return s.to_string();
    }
    crate::config::options::quote(s)
}

/// The resources with a section for this host, in configuration order.
fn my_views(cfg: &Config, host: &Node) -> Result<Vec<HostView>, Failure> {
    cfg.resources_for_host_with(&host.name, &host.addresses)
        .into_iter()
        .map(|r| {
            cfg.host_view_with(&r.name, &host.name, &host.addresses)
                .map_err(Failure::from)
        })
        .collect()
}

/// `sh-resources`: this host's resources on one line (nothing in stacked mode: drbdadm-rs
/// has no stacked resources).
pub(crate) fn sh_resources(cfg: &Config, host: &Node, stacked: bool) -> Result<String, Failure> {
    if stacked {
        return Ok(String::new());
    }
    let names: Vec<String> = my_views(cfg, host)?
        .iter()
        .map(|v| esc(&v.resource))
        .collect();
    Ok(if names.is_empty() {
        String::new()
    } else {
        format!("{}\n", names.join(" "))
    })
}

/// `sh-mod-parms`: `minor_count` for the module, as drbdadm-84 computes it: the global
/// `minor-count`, else this host's volumes + 3 within 32 … 255.
pub(crate) fn sh_mod_parms(cfg: &Config, host: &Node) -> Result<String, Failure> {
    let count = match cfg.global.minor_count.filter(|n| *n > 0) {
        Some(n) => n as usize,
        None => {
            let minors: usize = my_views(cfg, host)?.iter().map(|v| v.volumes.len()).sum();
            (minors + 3).clamp(32, 255)
        }
    };
    Ok(format!("minor_count={count}\n"))
}

/// The lines of one query for one volume (or resource).
fn lines_of(cfg: &Config, q: Query, view: &HostView, vol: &VolumeView) -> String {
    match q {
        Query::Resource => format!("{}\n", view.resource),
        Query::Dev => format!("{}\n", vol.device.path),
        Query::Minor => format!("{}\n", vol.device.minor),
        Query::LlDev => format!("{}\n", vol.disk),
        Query::MdDev => match &vol.meta_disk {
            MetaDisk::Internal => format!("{}\n", vol.disk),
            MetaDisk::FlexibleExternal(d) | MetaDisk::IndexedExternal(d, _) => format!("{d}\n"),
        },
        Query::MdIdx => match &vol.meta_disk {
            MetaDisk::Internal => "internal\n".to_string(),
            MetaDisk::FlexibleExternal(_) => "flexible\n".to_string(),
            MetaDisk::IndexedExternal(_, i) => format!("{i}\n"),
        },
        Query::Ip => match &view.address.scope {
            Some(scope) => format!("{}%{scope}\n", view.address.ip),
            None => format!("{}\n", view.address.ip),
        },
        Query::Udev => {
            let resource = if vol.implicit && !cfg.global.udev_always_use_vnr {
                view.resource.clone()
            } else {
                format!("{}/{}", view.resource, vol.number)
            };
            let device = match vol.device.path.strip_prefix("/dev/") {
                Some(rest) if vol.device.path.starts_with("/dev/drbd") => rest.to_string(),
                _ => format!("drbd{}", vol.device.minor),
            };
            let disk = vol.disk.strip_prefix("/dev/").unwrap_or(&vol.disk);
            format!("RESOURCE={resource}\nDEVICE={device}\nDISK={disk}\n")
        }
        Query::LrOf | Query::BPri => String::new(),
    }
}

/// One target resolved as drbdadm-84's main loop resolves it: the resource's view and, for a
/// volume given as `RES/VNR` or `minor-N`, its number; `None` for a resource without a
/// section for this host (drbdadm-84 skips it: "ignored").
fn resolve(
    cfg: &Config,
    host: &Node,
    target: &str,
) -> Result<Option<(HostView, Option<u32>)>, Failure> {
    if let Some(r) = cfg.resource(target) {
        if r.select_host(&host.name, &host.addresses).is_none() {
            eprintln!(
                "'{}' ignored, since this host ({}) is not mentioned with an 'on' keyword.",
                r.name, host.name
            );
            return Ok(None);
        }
        return Ok(Some((
            cfg.host_view_with(target, &host.name, &host.addresses)?,
            None,
        )));
    }
    match super::volume_target(cfg, host, target)? {
        Some((view, n)) => Ok(Some((view, Some(n)))),
        None => Err(super::unknown_resource(target)),
    }
}

/// The per-volume / per-resource queries over the command line's targets: the output (to
/// print even when a later target fails) and the failure, if any.
pub(crate) fn sh_query(
    cfg: &Config,
    host: &Node,
    q: Query,
    targets: &[String],
    stacked: bool,
) -> (String, Option<Failure>) {
    let mut out = String::new();
    let mut status: Option<Failure> = None;
    let usage = |message: String| Failure {
        message,
        code: USAGE_ERROR,
    };
    if targets.len() > 1 && q == Query::Udev {
        eprintln!("You should not use this command with multiple resources!");
    }
    if targets.first().is_some_and(|t| t == "all") {
        let views = match my_views(cfg, host) {
            Ok(v) => v,
            Err(e) => return (out, Some(e)),
        };
        if cfg.resources.is_empty() {
            return (out, Some(usage("no resources defined!".into())));
        }
        if stacked {
            return (
                out,
                Some(usage(format!(
                    "WARN: nothing stacked for this host ({}), nothing to do in stacked mode!",
                    host.name
                ))),
            );
        }
        for view in &views {
            match q {
                Query::LrOf => {
                    return (
                        out,
                        Some(usage(
                            "sh-lower-resource only available in stacked mode".into(),
                        )),
                    )
                }
                // drbdadm-84 hands `all`'s resources to sh-udev without a volume.
                Query::Udev => {
                    eprintln!("volume not specified");
                    status = Some(usage("sh-udev: volume not specified".into()));
                }
                Query::Resource => {
                    if let Some(v) = view.volumes.first() {
                        out.push_str(&lines_of(cfg, q, view, v));
                    }
                }
                _ => {
                    for v in &view.volumes {
                        out.push_str(&lines_of(cfg, q, view, v));
                    }
                }
            }
        }
        return (out, status);
    }
    for target in targets {
        let (view, number) = match resolve(cfg, host, target) {
            Ok(Some(found)) => found,
            Ok(None) => {
                status = Some(usage(String::new()));
                continue;
            }
            Err(e) => return (out, Some(e)),
        };
        let implicit = |n: u32| view.volume(n).is_some_and(|v| v.implicit);
        let mut number = number;
        if q == Query::Resource {
            if let Some(n) = number {
                if !implicit(n) {
                    return (
                        out,
                        Some(usage(format!(
                            "{} operates on whole resources, but you specified a specific \
                             volume!",
                            q.name()
                        ))),
                    );
                }
                number = None;
            }
        }
        if q == Query::Udev && number.is_none() {
            match view.volumes.as_slice() {
                [only] if only.implicit => number = Some(only.number),
                _ => {
                    return (
                        out,
                        Some(usage(format!(
                            "{0} requires a specific volume id, but none is specified.\n\
                             Try '{0} minor-<minor_number>' or '{0} {1}/<vnr>'",
                            q.name(),
                            target
                        ))),
                    )
                }
            }
        }
        // drbdadm-84 lets a volume named by its minor through in stacked mode.
        if stacked && !target.starts_with("minor-") {
            eprintln!(
                "'{}' is a normal resource, and not available in stacked mode.",
                view.resource
            );
            status = Some(usage(String::new()));
            continue;
        }
        if q == Query::LrOf {
            return (
                out,
                Some(usage(
                    "sh-lower-resource only available in stacked mode".into(),
                )),
            );
        }
        match (q, number) {
            (Query::Resource, _) => {
                if let Some(v) = view.volumes.first() {
                    out.push_str(&lines_of(cfg, q, &view, v));
                }
            }
            (_, Some(n)) => {
                if let Some(v) = view.volume(n) {
                    out.push_str(&lines_of(cfg, q, &view, v));
                }
            }
            (_, None) => {
                for v in &view.volumes {
                    out.push_str(&lines_of(cfg, q, &view, v));
                }
            }
        }
    }
    (out, status)
}

/// `sh-b-pri`: whether `become-primary-on` names this host (or `both`).
pub(crate) fn becomes_primary(view: &HostView, host: &Node) -> bool {
    match view.startup.get("become-primary-on") {
        Some(Value::List(names)) => names.iter().any(|n| *n == host.name || n == "both"),
        Some(Value::Text(n)) => *n == host.name || n == "both",
        _ => false,
    }
}

/// `sh-status`'s lines for one resource before its volumes (drbdadm-84 has them for stacked
/// resources; drbdadm-rs has none, so they are empty).
pub(crate) fn status_header(cfg: &Config, view: &HostView) -> String {
    let place = cfg
        .resource(&view.resource)
        .and_then(|r| r.origin.location())
        .map(|l| {
            // drbdadm-84 names the file by its absolute path.
            let file = std::fs::canonicalize(&*l.file)
                .map_or_else(|_| l.file.to_string(), |p| p.display().to_string());
            format!("{file}:{}", l.line)
        })
        .unwrap_or_default();
    format!(
        "_conf_res_name={}\n_conf_file_line={}\n\n_stacked_on=\n_stacked_on_device=\n\
         _stacked_on_minor=\n",
        drbd_rs_tools::plan::shell_escape(&view.resource),
        drbd_rs_tools::plan::shell_escape(&place)
    )
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn esc_as_drbd_utils() {
        assert_eq!(esc("r0"), "r0");
        assert_eq!(esc(""), "\"\"");
        assert_eq!(esc("a b"), "\"a b\"");
        assert_eq!(esc("x\"y\\"), "\"x\\\"y\\\\\"");
        assert_eq!(esc(&"a".repeat(81)), format!("\"{}\"", "a".repeat(81)));
    }
}
