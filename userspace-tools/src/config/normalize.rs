//! Post-parse checks and inheritance: resource-level volume statements are copied into the
//! host sections, required statements are checked, minors and addresses must be unique, and
//! `resync-after` must name a known resource.

use std::collections::HashMap;
use std::net::IpAddr;

use super::error::{ConfigError, ErrorKind, Location, Origin, Warning};
use super::model::{
    Address, Config, Device, DiskLayers, Global, Host, HostKind, MetaDisk, Resource, Sections,
    Volume,
};
use super::options::{OptionList, Value};
use super::parser::split_resource_ref;

/// A volume as written in one section, before inheritance.
#[derive(Debug, Clone)]
pub(super) struct RawVolume {
    pub(super) number: u32,
    pub(super) implicit: bool,
    pub(super) device: Option<Device>,
    pub(super) disk: Option<String>,
    pub(super) meta_disk: Option<MetaDisk>,
    pub(super) disk_options: OptionList,
    pub(super) origin: Origin,
}

impl RawVolume {
    pub(super) fn new(number: u32, implicit: bool, loc: &Location) -> Self {
        RawVolume {
            number,
            implicit,
            device: None,
            disk: None,
            meta_disk: None,
            disk_options: OptionList::new(),
            origin: Origin::at(loc.clone()),
        }
    }
}

/// An `on` / `floating` section as written.
#[derive(Debug)]
pub(super) struct RawHost {
    pub(super) kind: HostKind,
    pub(super) address: Option<Address>,
    pub(super) alternate_address: Option<Address>,
    pub(super) options: OptionList,
    pub(super) volumes: Vec<RawVolume>,
    pub(super) origin: Origin,
}

/// A resource (or `common`) as written.
#[derive(Debug, Default)]
pub(super) struct RawResource {
    pub(super) name: String,
    pub(super) sections: Sections,
    pub(super) volumes: Vec<RawVolume>,
    pub(super) hosts: Vec<RawHost>,
    pub(super) origin: Origin,
}

/// The whole file as written.
#[derive(Debug, Default)]
pub(super) struct RawConfig {
    pub(super) global: Global,
    pub(super) common: Sections,
    pub(super) resources: Vec<RawResource>,
}

fn invalid(origin: &Origin, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(ErrorKind::Invalid, origin, msg)
}

pub(super) fn normalize(
    raw: RawConfig,
    warnings: &mut Vec<Warning>,
) -> Result<Config, ConfigError> {
    let mut resources = Vec::new();
    for r in raw.resources {
        resources.push(normalize_resource(r, &raw.common, warnings)?);
    }
    let mut config = Config {
        global: raw.global,
        common: raw.common,
        resources,
        warnings: Vec::new(),
    };
    check_unique_minors_and_addresses(&config)?;
    check_resync_after(&mut config, warnings);
    Ok(config)
}

fn normalize_resource(
    raw: RawResource,
    common: &Sections,
    warnings: &mut Vec<Warning>,
) -> Result<Resource, ConfigError> {
    let name = raw.name;
    if raw.hosts.is_empty() {
        warnings.push(Warning {
            origin: raw.origin.clone(),
            message: format!("resource {name} has no 'on' sections; it cannot be used on any host"),
        });
    }
    let mut hosts: Vec<Host> = Vec::new();
    let mut seen_names: HashMap<&str, &Origin> = HashMap::new();
    for h in &raw.hosts {
        if let HostKind::On(ns) = &h.kind {
            for n in ns {
                if let Some(first) = seen_names.insert(n, &h.origin) {
                    return Err(invalid(
                        &h.origin,
                        format!(
                            "in resource {name}: host '{n}' has two 'on' sections (the first at \
                             {first})"
                        ),
                    ));
                }
            }
        }
    }
    for h in raw.hosts {
        let label = match &h.kind {
            HostKind::On(n) => format!("on {}", n.join(" ")),
            HostKind::Floating => "floating".to_string(),
        };
        let ctx = format!("in resource {name}, {label} {{ ... }}");
        let missing = |kw: &str, hint: &str| {
            invalid(
                &h.origin,
                format!("{ctx}: '{kw}' keyword missing. Add e.g. '{hint}'."),
            )
        };
        let Some(address) = h.address.clone() else {
            return Err(missing("address", "address 10.0.0.1:7789;"));
        };
        let mut numbers: Vec<u32> = h
            .volumes
            .iter()
            .chain(raw.volumes.iter())
            .map(|v| v.number)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        if numbers.is_empty() {
            return Err(missing("device", "device /dev/drbd0 minor 0;"));
        }
        let mut volumes = Vec::new();
        for n in numbers {
            let hv = h.volumes.iter().find(|v| v.number == n);
            let rv = raw.volumes.iter().find(|v| v.number == n);
            if let (Some(hv), Some(rv)) = (hv, rv) {
                if hv.implicit != rv.implicit {
                    return Err(invalid(
                        &hv.origin,
                        format!(
                            "{ctx}: volume {n} is implicit at one level and explicit at the other \
                             (resource level at {}); use 'volume {n} {{ }}' blocks everywhere or \
                             nowhere",
                            rv.origin
                        ),
                    ));
                }
            }
            let pick = |f: &dyn Fn(&RawVolume) -> bool| -> Option<&RawVolume> {
                hv.filter(|v| f(v)).or(rv.filter(|v| f(v)))
            };
            let vctx = if hv.or(rv).is_some_and(|v| v.implicit) {
                String::new()
            } else {
                format!(" volume {n}")
            };
            let need = |kw: &str, hint: &str| {
                invalid(
                    &h.origin,
                    format!("{ctx}{vctx}: '{kw}' keyword missing. Add e.g. '{hint}'."),
                )
            };
            let device = pick(&|v| v.device.is_some())
                .and_then(|v| v.device.clone())
                .ok_or_else(|| need("device", "device /dev/drbd0 minor 0;"))?;
            let disk = pick(&|v| v.disk.is_some())
                .and_then(|v| v.disk.clone())
                .ok_or_else(|| need("disk", "disk /dev/sdb1;"))?;
            let meta_disk = pick(&|v| v.meta_disk.is_some())
                .and_then(|v| v.meta_disk.clone())
                .ok_or_else(|| need("meta-disk", "meta-disk internal;"))?;
            let mut disk_options = OptionList::new();
            if let Some(rv) = rv {
                disk_options = disk_options.merged(&rv.disk_options);
            }
            if let Some(hv) = hv {
                disk_options = disk_options.merged(&hv.disk_options);
            }
            let src = hv.or(rv);
            volumes.push(Volume {
                number: n,
                implicit: src.is_some_and(|v| v.implicit),
                device,
                disk,
                meta_disk,
                disk_options,
                layers: DiskLayers {
                    resource: rv.map(|v| v.disk_options.clone()).unwrap_or_default(),
                    host: hv.map(|v| v.disk_options.clone()).unwrap_or_default(),
                },
                origin: src.map(|v| v.origin.clone()).unwrap_or_default(),
            });
        }
        hosts.push(Host {
            kind: h.kind,
            address,
            alternate_address: h.alternate_address,
            options: h.options,
            volumes,
            origin: h.origin,
        });
    }
    // All host sections must define the same volumes.
    if let Some(first) = hosts.first() {
        let set: Vec<u32> = first.volumes.iter().map(|v| v.number).collect();
        for h in &hosts[1..] {
            let other: Vec<u32> = h.volumes.iter().map(|v| v.number).collect();
            if other != set {
                let only_first = set.iter().find(|n| !other.contains(n));
                let msg = match only_first {
                    Some(n) => format!(
                        "in resource {name}: volume {n} is defined for '{}' but not for '{}'; \
                         every host section needs the same volumes",
                        first.label(),
                        h.label()
                    ),
                    None => {
                        let n = other
                            .iter()
                            .find(|n| !set.contains(n))
                            .copied()
                            .unwrap_or(0);
                        format!(
                            "in resource {name}: volume {n} is defined for '{}' but not for \
                             '{}'; every host section needs the same volumes",
                            h.label(),
                            first.label()
                        )
                    }
                };
                return Err(invalid(&h.origin, msg));
            }
        }
    }
    // become-primary-on both needs allow-two-primaries.
    let eff = common.merged(&raw.sections);
    if let Some(Value::List(l)) = eff.startup.get("become-primary-on") {
        let two = l.iter().any(|h| h == "both") || l.len() > 1;
        if two && eff.net.flag("allow-two-primaries") != Some(true) {
            let origin = eff
                .startup
                .entry("become-primary-on")
                .map(|e| e.origin.clone())
                .unwrap_or_default();
            return Err(invalid(
                &origin,
                format!(
                    "in resource {name}: become-primary-on is set to {}, but allow-two-primaries \
                     is not set; add 'net {{ allow-two-primaries; }}' or name a single host",
                    l.join(" ")
                ),
            ));
        }
    }
    Ok(Resource {
        name,
        sections: raw.sections,
        hosts,
        origin: raw.origin,
    })
}

fn check_unique_minors_and_addresses(config: &Config) -> Result<(), ConfigError> {
    let mut minors: HashMap<(String, u32), (&str, &Origin)> = HashMap::new();
    let mut addrs: HashMap<(IpAddr, u16), (&str, &Origin)> = HashMap::new();
    for r in &config.resources {
        for h in &r.hosts {
            let keys: Vec<String> = match &h.kind {
                HostKind::On(n) => n.clone(),
                HostKind::Floating => vec![format!("floating {}", h.address.ip)],
            };
            for v in &h.volumes {
                for k in &keys {
                    if let Some((res, first)) =
                        minors.insert((k.clone(), v.device.minor), (&r.name, &v.origin))
                    {
                        return Err(invalid(
                            &v.origin,
                            format!(
                                "minor {} is used twice on host '{k}': by resource {} (at \
                                 {first}) and by resource {}; every volume on a host needs its \
                                 own minor",
                                v.device.minor, res, r.name
                            ),
                        ));
                    }
                }
            }
            if let Some((res, first)) =
                addrs.insert((h.address.ip, h.address.port), (&r.name, &h.origin))
            {
                return Err(invalid(
                    &h.origin,
                    format!(
                        "address {} is used twice: by resource {res} (at {first}) and by resource \
                         {} ('{}'); every connection needs its own IP:port",
                        h.address.host_port(),
                        r.name,
                        h.label()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `resync-after` must name a known resource (and volume); like drbdadm, an unknown one is
/// reported and the option dropped.
fn check_resync_after(config: &mut Config, warnings: &mut Vec<Warning>) {
    let known: Vec<(String, Vec<u32>)> = config
        .resources
        .iter()
        .map(|r| {
            let vols = r
                .hosts
                .first()
                .map(|h| h.volumes.iter().map(|v| v.number).collect())
                .unwrap_or_default();
            (r.name.clone(), vols)
        })
        .collect();
    let mut check = |list: &mut OptionList, ctx: &str| {
        let Some(e) = list.entry("resync-after") else {
            return;
        };
        let Value::Text(text) = &e.value else { return };
        let (res, vnr) = split_resource_ref(text);
        let problem = match known.iter().find(|(n, _)| n == res) {
            None => Some(format!("resource '{res}' is not known")),
            Some((_, vols)) => match vnr.and_then(|v| v.parse::<u32>().ok()) {
                Some(v) if !vols.contains(&v) => {
                    Some(format!("resource '{res}' has no volume {v}"))
                }
                _ => None,
            },
        };
        if let Some(p) = problem {
            warnings.push(Warning {
                origin: e.origin.clone(),
                message: format!("{ctx}: {p} (mentioned in 'resync-after'); the option is ignored"),
            });
            list.remove("resync-after");
        }
    };
    check(&mut config.common.disk, "in common");
    for r in &mut config.resources {
        let ctx = format!("in resource {}", r.name);
        check(&mut r.sections.disk, &ctx);
        for h in &mut r.hosts {
            for v in &mut h.volumes {
                check(&mut v.disk_options, &ctx);
                if v.disk_options.entry("resync-after").is_none() {
                    v.layers.resource.remove("resync-after");
                    v.layers.host.remove("resync-after");
                }
            }
        }
    }
}
