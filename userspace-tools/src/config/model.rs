//! The parsed, normalized configuration.
//!
//! Normalization done by the parser:
//! * old keywords are translated to their 8.4 names and places (`syncer { rate }` →
//!   `disk { resync-rate }`, resource-level `protocol` → `net { protocol }`, ...);
//! * numbers are stored in the option's unit;
//! * resource-level `device`/`disk`/`meta-disk` statements and `volume N { }` blocks are
//!   copied into every host section that does not set them (like drbdadm does), so each
//!   [`Host`] lists complete volumes;
//! * `common` and resource option sections are kept apart (as written): the effective
//!   options of a host are computed by [`Config::host_view`](super::Config::host_view).

use std::fmt;
use std::net::IpAddr;

use super::error::{Origin, Warning};
use super::options::{OptionList, SectionKind};

/// A whole drbd.conf (with its included files).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The `global { }` section.
    pub global: Global,
    /// The `common { }` section: defaults for every resource.
    pub common: Sections,
    /// The resources, in file order.
    pub resources: Vec<Resource>,
    /// Things that were accepted but should be told to the user (old keywords, ignored
    /// options). Not part of equality.
    pub warnings: Vec<Warning>,
}

impl PartialEq for Config {
    /// Equal when `global`, `common` and `resources` are equal; warnings and source
    /// positions do not count.
    fn eq(&self, other: &Self) -> bool {
        self.global == other.global
            && self.common == other.common
            && self.resources == other.resources
    }
}

impl Eq for Config {}

impl Config {
    /// The resource called `name`.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }
}

/// `usage-count` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageCount {
    /// `usage-count yes;`
    Yes,
    /// `usage-count no;`
    No,
    /// `usage-count ask;`
    Ask,
}

impl UsageCount {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageCount::Yes => "yes",
            UsageCount::No => "no",
            UsageCount::Ask => "ask",
        }
    }
}

/// The `global { }` section. Unset values are `None` / `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    /// `usage-count yes|no|ask;`
    pub usage_count: Option<UsageCount>,
    /// `minor-count N;` (1 … 255).
    pub minor_count: Option<u32>,
    /// `dialog-refresh N;` (seconds).
    pub dialog_refresh: Option<u32>,
    /// `disable-ip-verification;`
    pub disable_ip_verification: bool,
    /// `udev-always-use-vnr;`
    pub udev_always_use_vnr: bool,
    /// `cmd-timeout-short N;` (seconds, 0 … 900).
    pub cmd_timeout_short: Option<u32>,
    /// `cmd-timeout-medium N;` (seconds, 0 … 900).
    pub cmd_timeout_medium: Option<u32>,
    /// `cmd-timeout-long N;` (seconds, 0 … 900).
    pub cmd_timeout_long: Option<u32>,
    /// Where the section was written.
    pub origin: Origin,
}

impl Global {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Global::default()
    }
}

/// The option sections of `common` or of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    /// `options { }`
    pub options: OptionList,
    /// `disk { }` (applies to every volume)
    pub disk: OptionList,
    /// `net { }` (including `protocol`)
    pub net: OptionList,
    /// `startup { }`
    pub startup: OptionList,
    /// `handlers { }`
    pub handlers: OptionList,
}

impl Sections {
    /// The list of one section.
    pub fn get(&self, kind: SectionKind) -> &OptionList {
        match kind {
            SectionKind::Options => &self.options,
            SectionKind::Disk => &self.disk,
            SectionKind::Net => &self.net,
            SectionKind::Startup => &self.startup,
            SectionKind::Handlers => &self.handlers,
        }
    }

    /// The list of one section, mutable.
    pub fn get_mut(&mut self, kind: SectionKind) -> &mut OptionList {
        match kind {
            SectionKind::Options => &mut self.options,
            SectionKind::Disk => &mut self.disk,
            SectionKind::Net => &mut self.net,
            SectionKind::Startup => &mut self.startup,
            SectionKind::Handlers => &mut self.handlers,
        }
    }

    /// Whether all sections are empty.
    pub fn is_empty(&self) -> bool {
        SectionKind::ALL.iter().all(|&k| self.get(k).is_empty())
    }

    /// `self` with `overlay`'s options set on top, section by section.
    pub fn merged(&self, overlay: &Sections) -> Sections {
        Sections {
            options: self.options.merged(&overlay.options),
            disk: self.disk.merged(&overlay.disk),
            net: self.net.merged(&overlay.net),
            startup: self.startup.merged(&overlay.startup),
            handlers: self.handlers.merged(&overlay.handlers),
        }
    }
}

/// One `resource NAME { }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// The resource name.
    pub name: String,
    /// The resource's own option sections (without `common`).
    pub sections: Sections,
    /// The `on` and `floating` sections, with resource-level volume statements already
    /// copied in.
    pub hosts: Vec<Host>,
    /// Where `resource NAME` was written.
    pub origin: Origin,
}

/// How a host section is selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// `on NAME [NAME…] { }`: matched against the node's host name.
    On(Vec<String>),
    /// `floating ADDRESS { }`: matched by a local IP address.
    Floating,
}

/// One `on` or `floating` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// How it is selected.
    pub kind: HostKind,
    /// `address` (for `floating`, the section's address).
    pub address: Address,
    /// `alternate-link-address` (accepted and kept; not used by the 8.4 kernel).
    pub alternate_address: Option<Address>,
    /// Host-level `options { }` (override the resource's).
    pub options: OptionList,
    /// The volumes, sorted by number.
    pub volumes: Vec<Volume>,
    /// Where the section starts.
    pub origin: Origin,
}

impl Host {
    /// The host names of an `on` section (empty for `floating`).
    pub fn names(&self) -> &[String] {
        match &self.kind {
            HostKind::On(n) => n,
            HostKind::Floating => &[],
        }
    }

    /// A name for messages: `on alice`, `on alice bob`, or `floating ipv4 10.0.0.1:7789`.
    pub fn label(&self) -> String {
        match &self.kind {
            HostKind::On(n) => format!("on {}", n.join(" ")),
            HostKind::Floating => format!("floating {}", self.address),
        }
    }
}

/// One volume of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Volume number (0 … 65534).
    pub number: u32,
    /// Written without a `volume N { }` block (the single implicit volume 0).
    pub implicit: bool,
    /// `device`.
    pub device: Device,
    /// `disk` (the lower-level block device).
    pub disk: String,
    /// `meta-disk`.
    pub meta_disk: MetaDisk,
    /// `disk { }` options given for this volume (resource-level `volume N { disk { } }`
    /// merged with the host's, the host's winning). What counts for the kernel is computed
    /// by [`Config::host_view`](super::Config::host_view) from [`Volume::layers`].
    pub disk_options: OptionList,
    /// The two lists [`Volume::disk_options`] was merged from, as written.
    pub layers: DiskLayers,
    /// Where the volume was written.
    pub origin: Origin,
}

/// A volume's `disk { }` options by where they were written: drbdadm-84 evaluates them
/// in an order of its own (the host's volume section first, then the resource's and
/// `common`'s `disk { }`, the resource-level `volume N { disk { } }` last: it only adds
/// options none of the others set), and so does [`Config::host_view`](super::Config::host_view).
/// Not part of the configuration's identity: `dump` writes the merged list into the host.
#[derive(Debug, Clone, Default)]
pub struct DiskLayers {
    /// The resource-level `volume N { disk { } }` (or the implicit volume's).
    pub resource: OptionList,
    /// The host section's `volume N { disk { } }`.
    pub host: OptionList,
}

impl PartialEq for DiskLayers {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for DiskLayers {}

/// The DRBD device of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device {
    /// Device node, e.g. `/dev/drbd0` (`/dev/drbd<minor>` when only `minor` was given).
    pub path: String,
    /// Minor number (0 … 1 048 575).
    pub minor: u32,
}

impl Device {
    /// Largest minor number.
    pub const MAX_MINOR: u32 = 1_048_575;

    /// The device for `minor` with the default name `/dev/drbd<minor>`.
    pub fn from_minor(minor: u32) -> Self {
        Device {
            path: format!("/dev/drbd{minor}"),
            minor,
        }
    }

    /// Whether the path is the default name for the minor.
    pub fn has_default_path(&self) -> bool {
        self.path == format!("/dev/drbd{}", self.minor)
    }
}

/// Where a volume's meta data lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetaDisk {
    /// `meta-disk internal;`: at the end of the lower device.
    Internal,
    /// `meta-disk DEV;` / `flexible-meta-disk DEV;`: a separate device, sized to fit.
    FlexibleExternal(String),
    /// `meta-disk DEV [N];`: fixed 128 MiB slot `N` of a separate device.
    IndexedExternal(String, u32),
}

impl MetaDisk {
    /// drbdsetup's `attach` arguments after the lower device: the meta device (the lower
    /// device for internal meta data) and the index (`internal`, `flexible` or `N`).
    pub fn attach_args<'a>(&'a self, lower: &'a str) -> (&'a str, String) {
        match self {
            MetaDisk::Internal => (lower, "internal".to_string()),
            MetaDisk::FlexibleExternal(d) => (d, "flexible".to_string()),
            MetaDisk::IndexedExternal(d, i) => (d, i.to_string()),
        }
    }

    /// The kernel's `meta_dev_idx`: −3 for internal (flexible internal), −2 for flexible
    /// external, the slot number for indexed external meta data (saturated at `i32::MAX`).
    pub fn index_code(&self) -> i32 {
        match self {
            MetaDisk::Internal => -3,
            MetaDisk::FlexibleExternal(_) => -2,
            MetaDisk::IndexedExternal(_, i) => i32::try_from(*i).unwrap_or(i32::MAX),
        }
    }
}

/// Address families drbd.conf knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// `ipv4` (the default).
    Ipv4,
    /// `ipv6` (address in brackets).
    Ipv6,
    /// `ssocks` (old alias `sci`).
    Ssocks,
    /// `sdp`.
    Sdp,
}

impl AddressFamily {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
            AddressFamily::Ssocks => "ssocks",
            AddressFamily::Sdp => "sdp",
        }
    }
}

/// `[family] ip:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Address family.
    pub family: AddressFamily,
    /// The IP address.
    pub ip: IpAddr,
    /// IPv6 scope (`%eth0`), if given.
    pub scope: Option<String>,
    /// Port (1 … 65535).
    pub port: u16,
}

impl Address {
    /// `ipv4:10.0.0.1:7789` / `ipv6:[fd00::1]:7789`, as drbdsetup takes it.
    pub fn to_arg(&self) -> String {
        format!("{}:{}", self.family.as_str(), self.host_port())
    }

    /// `10.0.0.1:7789` / `[fd00::1%eth0]:7789`.
    pub fn host_port(&self) -> String {
        let scope = self
            .scope
            .as_deref()
            .map(|s| format!("%{s}"))
            .unwrap_or_default();
        match self.ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.port),
            IpAddr::V6(ip) => format!("[{ip}{scope}]:{}", self.port),
        }
    }
}

impl fmt::Display for Address {
    /// `ipv4 10.0.0.1:7789`, the drbd.conf form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.family.as_str(), self.host_port())
    }
}

/// Replication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Asynchronous.
    A,
    /// Memory synchronous.
    B,
    /// Synchronous (the default).
    C,
}

impl Protocol {
    /// The kernel's `wire_protocol` value (1, 2, 3).
    pub fn code(self) -> u32 {
        match self {
            Protocol::A => 1,
            Protocol::B => 2,
            Protocol::C => 3,
        }
    }

    /// From the keyword (`A`, `B`, `C`, any case).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "A" | "a" => Some(Protocol::A),
            "B" | "b" => Some(Protocol::B),
            "C" | "c" => Some(Protocol::C),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_render() {
        let a = Address {
            family: AddressFamily::Ipv4,
            ip: "10.0.0.1".parse().unwrap(),
            scope: None,
            port: 7789,
        };
        assert_eq!(a.to_string(), "ipv4 10.0.0.1:7789");
        assert_eq!(a.to_arg(), "ipv4:10.0.0.1:7789");
        let b = Address {
            family: AddressFamily::Ipv6,
            ip: "fe80::1".parse().unwrap(),
            scope: Some("eth0".into()),
            port: 7788,
        };
        assert_eq!(b.to_string(), "ipv6 [fe80::1%eth0]:7788");
        assert_eq!(b.to_arg(), "ipv6:[fe80::1%eth0]:7788");
    }

    #[test]
    fn meta_disk_args() {
        assert_eq!(
            MetaDisk::Internal.attach_args("/dev/sdb1"),
            ("/dev/sdb1", "internal".to_string())
        );
        let f = MetaDisk::FlexibleExternal("/dev/sdc".into());
        assert_eq!(f.attach_args("/dev/sdb1"), ("/dev/sdc", "flexible".into()));
        assert_eq!(f.index_code(), -2);
        let i = MetaDisk::IndexedExternal("/dev/sda7".into(), 3);
        assert_eq!(i.attach_args("/dev/sdb1"), ("/dev/sda7", "3".into()));
        assert_eq!(i.index_code(), 3);
        assert_eq!(MetaDisk::Internal.index_code(), -3);
    }

    #[test]
    fn devices_and_protocols() {
        let d = Device::from_minor(7);
        assert_eq!(d.path, "/dev/drbd7");
        assert!(d.has_default_path());
        assert_eq!(Protocol::from_name("c"), Some(Protocol::C));
        assert_eq!(Protocol::from_name("D"), None);
        assert_eq!(Protocol::A.code(), 1);
        assert_eq!(UsageCount::Ask.as_str(), "ask");
        assert!(Global::default().is_empty());
    }
}
