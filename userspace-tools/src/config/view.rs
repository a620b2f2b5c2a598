//! One resource as seen from one node: this node's host section, its peers, and the
//! effective options after inheritance (`common` < resource < volume / host).

use std::net::IpAddr;

use super::error::{ConfigError, ErrorKind, Origin, Warning};
use super::model::{
    Address, Config, Device, Host, HostKind, MetaDisk, Protocol, Resource, Sections,
};
use super::options::{option_spec, DefaultValue, OptionEntry, OptionList, SectionKind, Value};
use super::parser::split_resource_ref;

/// One volume of this node, with effective disk options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeView {
    /// Volume number.
    pub number: u32,
    /// The resource's single volume written without a `volume N { }` block.
    pub implicit: bool,
    /// The DRBD device (path and minor).
    pub device: Device,
    /// The lower-level device.
    pub disk: String,
    /// Where the meta data lives.
    pub meta_disk: MetaDisk,
    /// Effective disk options: `common` < resource `disk { }` < `volume N { disk { } }`.
    /// `resync-after` is resolved to the minor number of the named volume on this node
    /// (as a [`Value::Number`]), which is what the kernel wants.
    pub disk_options: OptionList,
}

/// A resource from the point of view of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    /// Resource name.
    pub resource: String,
    /// The host name (or, for a `floating` section, the matched IP address) this view is for.
    pub host: String,
    /// This node's address.
    pub address: Address,
    /// This node's `alternate-link-address`, if any.
    pub alternate_address: Option<Address>,
    /// The other host sections of the resource (normally exactly one).
    pub peers: Vec<Host>,
    /// Replication protocol (effective `net { protocol }`, default C).
    pub protocol: Protocol,
    /// This node's volumes, sorted by number.
    pub volumes: Vec<VolumeView>,
    /// Effective resource options (`common` < resource < host `options { }`).
    pub options: OptionList,
    /// Effective net options, including `protocol`; `after-sb-0pri discard-node-NAME` is
    /// turned into `discard-local` / `discard-remote`.
    pub net: OptionList,
    /// Effective startup options.
    pub startup: OptionList,
    /// Effective handlers.
    pub handlers: OptionList,
    /// Remarks about questionable but accepted settings.
    pub warnings: Vec<Warning>,
}

impl HostView {
    /// The peer, when there is exactly one.
    pub fn peer(&self) -> Option<&Host> {
        match self.peers.as_slice() {
            [p] => Some(p),
            _ => None,
        }
    }

    /// The peer whose `on` section names `name` (for resources with more than two hosts;
    /// drbdadm's `--peer`).
    pub fn peer_named(&self, name: &str) -> Option<&Host> {
        self.peers
            .iter()
            .find(|p| p.names().iter().any(|n| n == name))
    }

    /// The volume with number `n`.
    pub fn volume(&self, n: u32) -> Option<&VolumeView> {
        self.volumes.iter().find(|v| v.number == n)
    }
}

/// The value of option `name` of `section` in `list`, or its documented default.
pub fn effective_number(list: &OptionList, section: SectionKind, name: &str) -> Option<u64> {
    list.number(name)
        .or_else(|| match option_spec(section, name)?.default {
            DefaultValue::Number(n) => Some(n),
            _ => None,
        })
}

impl Resource {
    /// The `on` section that names `hostname`.
    pub fn host(&self, hostname: &str) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| h.names().iter().any(|n| n == hostname))
    }

    /// The host section for this node: the `on` section naming `hostname`, else a `floating`
    /// section whose address is one of `local_addresses` or is `hostname` (drbdadm-84 takes
    /// `__DRBD_NODE__=10.0.0.1` for the floating section of that address, too).
    pub fn select_host(&self, hostname: &str, local_addresses: &[IpAddr]) -> Option<&Host> {
        let named: Option<IpAddr> = hostname.parse().ok();
        self.host(hostname).or_else(|| {
            self.hosts.iter().find(|h| {
                h.kind == HostKind::Floating
                    && (local_addresses.contains(&h.address.ip) || named == Some(h.address.ip))
            })
        })
    }
}

impl Config {
    /// The resources that have a host section for `hostname` (an `on` section, or a
    /// `floating` one of that address).
    pub fn resources_for_host(&self, hostname: &str) -> Vec<&Resource> {
        self.resources_for_host_with(hostname, &[])
    }

    /// Like [`Config::resources_for_host`], also matching `floating` sections against the
    /// node's local IP addresses.
    pub fn resources_for_host_with(
        &self,
        hostname: &str,
        local_addresses: &[IpAddr],
    ) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.select_host(hostname, local_addresses).is_some())
            .collect()
    }

    /// Resource `resource` as seen from the node called `hostname` (pass `uname -n`, or
    /// `$__DRBD_NODE__` when set, as drbdadm does).
    pub fn host_view(&self, resource: &str, hostname: &str) -> Result<HostView, ConfigError> {
        self.host_view_with(resource, hostname, &[])
    }

    /// Like [`Config::host_view`], also matching `floating` sections against the node's
    /// local IP addresses.
    pub fn host_view_with(
        &self,
        resource: &str,
        hostname: &str,
        local_addresses: &[IpAddr],
    ) -> Result<HostView, ConfigError> {
        let res = self.resource(resource).ok_or_else(|| {
            let known: Vec<&str> = self.resources.iter().map(|r| r.name.as_str()).collect();
            ConfigError::new(
                ErrorKind::UnknownResource,
                None,
                format!(
                    "'{resource}' not defined in your config (for this host). Defined resources: \
                     {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let me = res.select_host(hostname, local_addresses).ok_or_else(|| {
            let present: Vec<String> = res.hosts.iter().map(Host::label).collect();
            ConfigError::at(
                ErrorKind::NoHostSection,
                &res.origin,
                format!(
                    "resource {resource} has no section for this host '{hostname}' (it has: {}); \
                     add 'on {hostname} {{ ... }}' or check the host name ('uname -n')",
                    if present.is_empty() {
                        "none".to_string()
                    } else {
                        present.join(", ")
                    }
                ),
            )
        })?;
        let host_name = match &me.kind {
            HostKind::On(_) => hostname.to_string(),
            HostKind::Floating => me.address.ip.to_string(),
        };
        let peers: Vec<Host> = res
            .hosts
            .iter()
            .filter(|h| !std::ptr::eq(*h, me))
            .cloned()
            .collect();
        // drbdadm-84's inheritance order (see OptionList::inherit_84): what it gives
        // drbdsetup-84, in its order, so that the dry run prints the same lines.
        let inherit = |kind: SectionKind| res.sections.get(kind).inherit_84(self.common.get(kind));
        let eff = Sections {
            options: inherit(SectionKind::Options),
            disk: inherit(SectionKind::Disk),
            net: inherit(SectionKind::Net),
            startup: inherit(SectionKind::Startup),
            handlers: inherit(SectionKind::Handlers),
        };
        let mut warnings = Vec::new();

        // net: protocol and discard-node-NAME.
        let mut net = eff.net.clone();
        let protocol = net
            .text("protocol")
            .and_then(Protocol::from_name)
            .unwrap_or(Protocol::C);
        if let Some(e) = net.entry("after-sb-0pri").cloned() {
            if let Value::Text(t) = &e.value {
                if let Some(node) = t.strip_prefix("discard-node-") {
                    let replacement = if me.names().iter().any(|n| n == node) {
                        "discard-local"
                    } else if peers.iter().any(|p| p.names().iter().any(|n| n == node)) {
                        "discard-remote"
                    } else {
                        return Err(ConfigError::at(
                            ErrorKind::Invalid,
                            &e.origin,
                            format!(
                                "in resource {resource}: after-sb-0pri {t}: '{node}' is not a host \
                                 of this resource"
                            ),
                        ));
                    };
                    net.set(OptionEntry {
                        value: Value::Text(replacement.to_string()),
                        ..e
                    });
                }
            }
        }
        let net_origin = |name: &str| {
            net.entry(name)
                .map(|e| e.origin.clone())
                .unwrap_or_else(|| res.origin.clone())
        };
        if net.flag("allow-two-primaries") == Some(true) && protocol != Protocol::C {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                &net_origin("allow-two-primaries"),
                format!(
                    "in resource {resource}: allow-two-primaries requires protocol C (protocol is \
                     {protocol:?})"
                ),
            ));
        }
        if let Some(c) = net.text("on-congestion") {
            if c != "block" && protocol != Protocol::A {
                return Err(ConfigError::at(
                    ErrorKind::Invalid,
                    &net_origin("on-congestion"),
                    format!(
                        "in resource {resource}: on-congestion {c} requires protocol A (protocol is \
                         {protocol:?})"
                    ),
                ));
            }
        }
        let timeout = effective_number(&net, SectionKind::Net, "timeout").unwrap_or(60);
        for other in ["ping-int", "connect-int"] {
            let secs = effective_number(&net, SectionKind::Net, other).unwrap_or(10);
            if timeout >= secs.saturating_mul(10) {
                warnings.push(Warning {
                    origin: net_origin("timeout"),
                    message: format!(
                        "in resource {resource}: timeout ({timeout} tenths of a second) should be \
                         below {other} ({secs} s)"
                    ),
                });
            }
        }

        // drbdadm-84 reads an `options { }` section in a host section and does nothing with
        // it; so does drbdadm-rs, saying so.
        if let Some(e) = me.options.iter().next() {
            warnings.push(Warning {
                origin: e.origin.clone(),
                message: format!(
                    "in resource {resource}: the options {{ }} section of '{}' is ignored (as by \
                     drbdadm 8.4); move it into the resource",
                    me.label()
                ),
            });
        }

        // volumes
        let mut volumes = Vec::new();
        for v in &me.volumes {
            // The host's volume section, then the resource's (and common's) disk { }, then
            // the resource-level volume section, as drbdadm-84 (expand_common).
            let mut disk_options = v
                .layers
                .host
                .inherit_84(&eff.disk)
                .inherit_84(&v.layers.resource);
            // A resource-level volume option that the resource's or common's disk { }
            // shadows (the host's own volume section winning is the point of it).
            for e in v.layers.resource.iter() {
                if v.layers.host.entry(e.name).is_some() {
                    continue;
                }
                if let Some(won) = disk_options.entry(e.name).filter(|w| w.value != e.value) {
                    warnings.push(Warning {
                        origin: e.origin.clone(),
                        message: format!(
                            "in resource {resource}: '{} {}' of volume {} is overridden by '{} {}' \
                             at {} (drbdadm 8.4 lets the resource's and common's disk {{ }} win \
                             over a resource-level volume section); set it in the volume \
                             sections of the 'on' hosts instead",
                            e.name,
                            e.arg(),
                            v.number,
                            won.name,
                            won.arg(),
                            won.origin
                        ),
                    });
                }
            }
            if disk_options.text("fencing") == Some("resource-and-stonith")
                && protocol == Protocol::A
            {
                let origin = disk_options
                    .entry("fencing")
                    .map(|e| e.origin.clone())
                    .unwrap_or_default();
                return Err(ConfigError::at(
                    ErrorKind::Invalid,
                    &origin,
                    format!(
                        "in resource {resource}: fencing resource-and-stonith is only allowed with \
                         protocol B or C"
                    ),
                ));
            }
            if let Some(e) = disk_options.entry("resync-after").cloned() {
                if let Value::Text(t) = &e.value {
                    let minor =
                        self.resolve_resync_after(t, hostname, local_addresses, &e.origin)?;
                    disk_options.set(OptionEntry {
                        value: Value::Number(u64::from(minor)),
                        text: None,
                        ..e
                    });
                }
            }
            volumes.push(VolumeView {
                number: v.number,
                implicit: v.implicit,
                device: v.device.clone(),
                disk: v.disk.clone(),
                meta_disk: v.meta_disk.clone(),
                disk_options,
            });
        }

        Ok(HostView {
            resource: res.name.clone(),
            host: host_name,
            address: me.address.clone(),
            alternate_address: me.alternate_address.clone(),
            peers,
            protocol,
            volumes,
            options: eff.options,
            net,
            startup: eff.startup,
            handlers: eff.handlers,
            warnings,
        })
    }

    /// The minor of `res[/vnr]` (volume 0 when no volume is given) on this node.
    fn resolve_resync_after(
        &self,
        target: &str,
        hostname: &str,
        local_addresses: &[IpAddr],
        origin: &Origin,
    ) -> Result<u32, ConfigError> {
        let (name, vnr) = split_resource_ref(target);
        let vnr: u32 = vnr.and_then(|v| v.parse().ok()).unwrap_or(0);
        let fail = |why: String| {
            ConfigError::at(
                ErrorKind::Invalid,
                origin,
                format!("resync-after {target}: {why}"),
            )
        };
        let res = self
            .resource(name)
            .ok_or_else(|| fail(format!("resource '{name}' is not defined")))?;
        let host = res.select_host(hostname, local_addresses).ok_or_else(|| {
            fail(format!(
                "resource '{name}' has no section for host '{hostname}'"
            ))
        })?;
        host.volumes
            .iter()
            .find(|v| v.number == vnr)
            .map(|v| v.device.minor)
            .ok_or_else(|| fail(format!("resource '{name}' has no volume {vnr}")))
    }
}
