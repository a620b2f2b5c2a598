//! `adjust`: what to do so that the kernel runs a resource as drbd.conf describes it, decided
//! as drbdadm-84's `adm_adjust` decides it (drbd-utils `user/v84/drbdadm_adjust.c`): the
//! running configuration ([`Running`], what `drbdsetup-84 show` prints: the GET_STATUS dump of
//! the resource) is compared with the file's ([`HostView`]), and only what differs is done.
//!
//! [`adjust_steps`] is a pure function of the two; its steps carry drbdadm-84's stage
//! ([`Stage`]), and a command over several resources runs them stage by stage, as drbdadm-84's
//! deferred commands: every `new-resource`/`detach`/`del-minor` first, then
//! `resource-options`, `new-minor`, the disks (`attach`, `disk-options`, `resize`),
//! `disconnect`, and last `connect`/`net-options`.
//!
//! What counts as different, as in drbdadm-84:
//! * an option differs when its value in the file (or the default, if the file does not set
//!   it) is not the kernel's (or the default, if the kernel does not report it): with
//!   drbdsetup-84 printing only options that are not at their defaults, that is
//!   `opts_equal()`;
//! * the disk: a different lower device, or internal against external meta data, or another
//!   external meta-data device (the index is not compared), or another minor: detach (when
//!   attached) and attach; `max-bio-bvecs` set or changed: detach and attach; `size` set or
//!   changed: `resize`; any other disk option: `disk-options --set-defaults` with the file's
//!   options but `size` and `max-bio-bvecs`;
//! * a volume the file does not have: detach (when attached) and `del-minor`; one the kernel
//!   does not have: `new-minor` and `attach`;
//! * the connection: other addresses (or the file has a peer and the kernel no connection):
//!   `disconnect` (when the kernel has a connection) and `connect` with the file's `net { }`;
//!   other net options alone: `net-options --set-defaults` with the file's;
//! * resource options: `resource-options --set-defaults` with the file's (not for a resource
//!   that is not there yet: `new-resource` carries them).

use drbd_core::genl::addr::SockAddr;
use drbd_core::genl::sets::{self, DefaultValue, FieldDef, FieldType, SetDef};

use crate::admin::{self, AdminError, ConnectFlags, OwnedValue, Running, RunningDisk, Values};
use crate::config::model::{Address, AddressFamily};
use crate::config::{HostView, MetaDisk, OptionList, Value, VolumeView};
use crate::plan::{Ends, MinorCmd, Step};

/// drbdadm-84's configuration stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// `new-resource`, `detach`, `del-minor` ("create res").
    Prereq,
    /// `resource-options` ("adjust res").
    Resource,
    /// `new-minor` ("prepare disk").
    DiskPrereq,
    /// `attach` (with `apply-al`), `disk-options`, `resize` ("adjust disk").
    Disk,
    /// `disconnect` ("prepare net").
    NetPrereq,
    /// `connect`, `net-options` ("adjust net").
    Net,
}

impl Stage {
    /// How `adjust-with-progress` names the stage (drbdadm-84's `drbd_cfg_stage_string`).
    pub fn progress_name(self) -> &'static str {
        match self {
            Stage::Prereq => "create res",
            Stage::Resource => "adjust res",
            Stage::DiskPrereq => "prepare disk",
            Stage::Disk => "adjust disk",
            Stage::NetPrereq => "prepare net",
            Stage::Net => "adjust net",
        }
    }
}

/// Disk options adjust handles apart (`size` by resize, `max-bio-bvecs` by a new attach).
const DISK_SPECIAL: [&str; 2] = ["size", "max-bio-bvecs"];
/// `disk_conf` fields that are attach's arguments, not options.
const DISK_POSITIONAL: [u16; 3] = [1, 2, 3];
/// `net_conf` fields drbdsetup-84 `show` does not print (connect's one-shot flags).
const NET_ONE_SHOT: [&str; 2] = ["discard-my-data", "tentative"];

/// The value a field has when nobody set it: its default, else zero / empty (as drbd's
/// zeroed configuration structs).
fn default_value(f: &FieldDef) -> OwnedValue {
    match (f.default, f.ty) {
        (Some(DefaultValue::Flag(b)), _) => OwnedValue::Flag(b),
        (Some(DefaultValue::U32(x)), _) => OwnedValue::U32(x),
        (Some(DefaultValue::S32(x)), _) => OwnedValue::S32(x),
        (Some(DefaultValue::U64(x)), _) => OwnedValue::U64(x),
        (Some(DefaultValue::Str(s)), _) => OwnedValue::Str(s.as_bytes().to_vec()),
        (None, FieldType::Flag) => OwnedValue::Flag(false),
        (None, FieldType::U32) => OwnedValue::U32(0),
        (None, FieldType::S32) => OwnedValue::S32(0),
        (None, FieldType::U64) => OwnedValue::U64(0),
        (None, FieldType::Str { .. } | FieldType::Bin { .. }) => OwnedValue::Str(Vec::new()),
    }
}

/// The file's options as kernel field values (the last of two equal options counts).
fn file_values(set: &SetDef, options: &OptionList, skip: &[u16]) -> Result<Values, AdminError> {
    Ok(admin::option_values(set, options, skip)?
        .into_iter()
        .collect())
}

/// Whether the options `fields` of `set` differ between the file and the kernel
/// (drbdadm-84's `!opts_equal()`).
fn options_differ(
    set: &SetDef,
    file: &Values,
    running: &Values,
    fields: impl Fn(&FieldDef) -> bool,
) -> bool {
    set.fields
        .iter()
        .filter(|f| !f.option.is_empty() && fields(f))
        .any(|f| {
            let default = default_value(f);
            file.get(&f.id).unwrap_or(&default) != running.get(&f.id).unwrap_or(&default)
        })
}

/// A field's value differs from its default (drbdadm-84's `!is_default()`), absent = default.
fn set_apart_from_default(set: &SetDef, values: &Values, name: &str) -> Option<OwnedValue> {
    let f = set.fields.iter().find(|f| f.option == name)?;
    values
        .get(&f.id)
        .filter(|v| **v != default_value(f))
        .cloned()
}

/// The file's value of disk option `name`, if it sets one.
fn file_option(set: &SetDef, values: &Values, name: &str) -> Option<OwnedValue> {
    let f = set.fields.iter().find(|f| f.option == name)?;
    values.get(&f.id).cloned()
}

/// drbdadm-84's `disk_equal()`: same lower device, both internal or both external meta data
/// and, external, the same meta-data device (its index is not compared).
fn disk_equal(file: &VolumeView, running: &RunningDisk) -> bool {
    let running_internal = matches!(running.meta_idx, -1 | -3);
    if file.disk != running.backing {
        return false;
    }
    match &file.meta_disk {
        MetaDisk::Internal => running_internal,
        MetaDisk::FlexibleExternal(dev) | MetaDisk::IndexedExternal(dev, _) => {
            !running_internal && *dev == running.meta_dev
        }
    }
}

/// The volume with `max-bio-bvecs` moved to the front of its disk options, as drbdadm-84's
/// adjust reorders them before it attaches.
fn max_bio_bvecs_first(vol: &VolumeView) -> VolumeView {
    let mut v = vol.clone();
    if let Some(e) = v.disk_options.entry("max-bio-bvecs").cloned() {
        let mut options = OptionList::new();
        options.push(e);
        for other in vol
            .disk_options
            .iter()
            .filter(|o| o.name != "max-bio-bvecs")
        {
            options.push(other.clone());
        }
        v.disk_options = options;
    }
    v
}

/// The config address of a kernel endpoint.
pub fn address_of(a: &SockAddr) -> Address {
    match *a {
        SockAddr::V4 { addr, port, .. } => Address {
            family: AddressFamily::Ipv4,
            ip: std::net::IpAddr::from(addr),
            scope: None,
            port,
        },
        SockAddr::V6 { addr, port, .. } => Address {
            family: AddressFamily::Ipv6,
            ip: std::net::IpAddr::from(addr),
            scope: None,
            port,
        },
    }
}

/// Whether the file's endpoints are the kernel's (drbdadm-84's `addr_equal()`: family,
/// address and port of both ends; none in the kernel matches a file without a peer).
fn addresses_equal(view: &HostView, running: Option<&(SockAddr, SockAddr)>) -> bool {
    let Some((my, peer)) = running else {
        return view.peer().is_none();
    };
    let Some(file_peer) = view.peer() else {
        return false;
    };
    let same = |file: &Address, kernel: &SockAddr| {
        let k = address_of(kernel);
        let family = |f: AddressFamily| match f {
            AddressFamily::Ipv6 => AddressFamily::Ipv6,
            _ => AddressFamily::Ipv4,
        };
        family(file.family) == k.family && file.ip == k.ip && file.port == k.port
    };
    same(&view.address, my) && same(&file_peer.address, peer)
}

/// What adjust does for one resource: the steps with their stages, in drbdadm-84's order
/// within each stage. `running` is `None` when the kernel does not know the resource.
pub fn adjust_steps(
    view: &HostView,
    running: Option<&Running>,
) -> Result<Vec<(Stage, Step)>, AdminError> {
    let mut steps = Vec::new();
    let resource = view.resource.clone();
    if running.is_none() {
        steps.push((
            Stage::Prereq,
            Step::NewResource {
                resource: resource.clone(),
                options: view.options.clone(),
            },
        ));
    }
    let empty = Running::default();
    let kernel = running.unwrap_or(&empty);

    // The resource options.
    let res_file = file_values(&sets::RES_OPTS, &view.options, &[])?;
    if running.is_some() && options_differ(&sets::RES_OPTS, &res_file, &kernel.res_opts, |_| true) {
        steps.push((
            Stage::Resource,
            Step::ResourceOptions {
                resource: resource.clone(),
                options: view.options.clone(),
                set_defaults: true,
            },
        ));
    }

    // The volumes, merged by number (those only in the kernel are removed).
    let mut numbers: Vec<u32> = view
        .volumes
        .iter()
        .map(|v| v.number)
        .chain(kernel.volumes.iter().map(|v| v.volume))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    for number in numbers {
        let file = view.volumes.iter().find(|v| v.number == number);
        let kern = kernel.volumes.iter().find(|v| v.volume == number);
        let (detach, del_minor, add_minor, attach, disk_options, resize) = match (file, kern) {
            (None, Some(k)) => (k.disk.is_some(), true, false, false, false, false),
            (Some(_), None) => (false, false, true, true, false, false),
            (Some(f), Some(k)) => {
                let other_minor = f.device.minor != k.minor;
                let disk_file = file_values(&sets::DISK_CONF, &f.disk_options, &DISK_POSITIONAL)?;
                let empty_disk = Values::new();
                let disk_kernel = k.disk.as_ref().map_or(&empty_disk, |d| &d.conf);
                let same_disk = k.disk.as_ref().is_some_and(|d| disk_equal(f, d));
                let bvecs = |values: &Values| {
                    set_apart_from_default(&sets::DISK_CONF, values, "max-bio-bvecs")
                };
                let mut attach = !same_disk || other_minor;
                // max-bio-bvecs set in one only, or set to another value: a new attach.
                let file_bvecs = file_option(&sets::DISK_CONF, &disk_file, "max-bio-bvecs");
                let kernel_bvecs = bvecs(disk_kernel);
                if file_bvecs.is_some() != kernel_bvecs.is_some()
                    || (file_bvecs.is_some()
                        && kernel_bvecs.is_some()
                        && file_bvecs != kernel_bvecs)
                {
                    attach = true;
                }
                let mut resize = false;
                let mut options = false;
                if !attach {
                    let file_size = file_option(&sets::DISK_CONF, &disk_file, "size");
                    let kernel_size = set_apart_from_default(&sets::DISK_CONF, disk_kernel, "size");
                    resize = file_size.is_some() != kernel_size.is_some()
                        || (file_size.is_some()
                            && kernel_size.is_some()
                            && file_size != kernel_size);
                    options = options_differ(&sets::DISK_CONF, &disk_file, disk_kernel, |f| {
                        !DISK_SPECIAL.contains(&f.option) && !DISK_POSITIONAL.contains(&f.id)
                    });
                }
                let detach = attach && k.disk.is_some();
                (detach, other_minor, other_minor, attach, options, resize)
            }
            (None, None) => continue,
        };
        if let Some(k) = kern {
            if detach {
                steps.push((
                    Stage::Prereq,
                    Step::Detach {
                        minor: k.minor,
                        force: false,
                    },
                ));
            }
            if del_minor {
                steps.push((
                    Stage::Prereq,
                    Step::Minor {
                        cmd: MinorCmd::DelMinor,
                        minor: k.minor,
                    },
                ));
            }
        }
        let Some(f) = file else { continue };
        if add_minor {
            steps.push((
                Stage::DiskPrereq,
                Step::NewMinor {
                    resource: resource.clone(),
                    minor: f.device.minor,
                    volume: f.number,
                },
            ));
        }
        if attach {
            let v = max_bio_bvecs_first(f);
            steps.push((
                Stage::Disk,
                Step::ApplyAl {
                    resource: resource.clone(),
                    volume: v.clone(),
                },
            ));
            steps.push((Stage::Disk, Step::Attach { volume: v }));
        }
        if disk_options {
            let mut options = OptionList::new();
            for e in f
                .disk_options
                .iter()
                .filter(|e| !DISK_SPECIAL.contains(&e.name))
            {
                options.push(e.clone());
            }
            steps.push((
                Stage::Disk,
                Step::DiskOptions {
                    minor: f.device.minor,
                    options,
                    set_defaults: true,
                },
            ));
        }
        if resize {
            let size = f.disk_options.entry("size").and_then(|e| match e.value {
                Value::Number(n) => Some((e.arg(), n)),
                _ => None,
            });
            steps.push((
                Stage::Disk,
                Step::Resize {
                    minor: f.device.minor,
                    size,
                    assume_peer_has_space: false,
                    assume_clean: false,
                },
            ));
        }
    }

    // The connection.
    let connect = running.is_none() || !addresses_equal(view, kernel.ends.as_ref());
    let net_file = file_values(&sets::NET_CONF, &view.net, &[25, 28])?;
    let empty_net = Values::new();
    let net_kernel = kernel.net.as_ref().unwrap_or(&empty_net);
    let ends = Ends {
        my: view.address.clone(),
        peer: view.peer().map(|p| p.address.clone()),
    };
    if connect {
        if let (Some(_), Some((my, peer))) = (running, kernel.ends.as_ref()) {
            steps.push((
                Stage::NetPrereq,
                Step::Disconnect {
                    resource: resource.clone(),
                    ends: Ends {
                        my: address_of(my),
                        peer: Some(address_of(peer)),
                    },
                    force: false,
                },
            ));
        }
        steps.push((
            Stage::Net,
            Step::Connect {
                resource: resource.clone(),
                ends,
                net: view.net.clone(),
                flags: ConnectFlags::default(),
            },
        ));
    } else if options_differ(&sets::NET_CONF, &net_file, net_kernel, |f| {
        !NET_ONE_SHOT.contains(&f.option)
    }) {
        steps.push((
            Stage::Net,
            Step::NetOptions {
                resource,
                ends,
                net: view.net.clone(),
                set_defaults: true,
            },
        ));
    }
    Ok(steps)
}

/// The steps of several resources' adjust in drbdadm-84's order: stage by stage, in each
/// stage in the order they were planned (resource by resource).
pub fn in_stages<T>(per_resource: Vec<Vec<(Stage, T)>>) -> Vec<(Stage, T)> {
    let mut all: Vec<(Stage, usize, T)> = Vec::new();
    for steps in per_resource {
        for (stage, step) in steps {
            all.push((stage, all.len(), step));
        }
    }
    all.sort_by_key(|(stage, order, _)| (*stage, *order));
    all.into_iter()
        .map(|(stage, _, step)| (stage, step))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::RunningVolume;
    use crate::config;
    use crate::plan::Tools;

    const CONF: &str = r#"
resource r0 {
  options { on-no-data-accessible suspend-io; }
  net { protocol C; connect-int 3; verify-alg md5; }
  disk { c-plan-ahead 0; resync-rate 128K; on-io-error detach; }
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
"#;

    fn view_of(text: &str) -> HostView {
        config::parse_str(text, "test.conf")
            .unwrap()
            .host_view_with("r0", "node-a", &[])
            .unwrap()
    }

    /// Every field of `set` at its default with the file's values over it, as the module
    /// reports a configuration it was given.
    fn kernel_values(set: &SetDef, options: &OptionList, extra: &[(u16, OwnedValue)]) -> Values {
        let mut v: Values = set
            .fields
            .iter()
            .map(|f| (f.id, default_value(f)))
            .collect();
        // attach's arguments come in `extra`; discard_my_data / tentative are connect's flags.
        let skip: &[u16] = match set.name {
            "disk_conf" => &DISK_POSITIONAL,
            "net_conf" => &[25, 28],
            _ => &[],
        };
        for (id, value) in admin::option_values(set, options, skip).unwrap() {
            v.insert(id, value);
        }
        for (id, value) in extra {
            v.insert(*id, value.clone());
        }
        v
    }

    /// What the kernel runs after `up` of `view`.
    fn running_of(view: &HostView) -> Running {
        let sock = |a: &Address| admin::sockaddr(a).unwrap();
        Running {
            res_opts: kernel_values(&sets::RES_OPTS, &view.options, &[]),
            net: Some(kernel_values(&sets::NET_CONF, &view.net, &[])),
            ends: view.peer().map(|p| (sock(&view.address), sock(&p.address))),
            volumes: view
                .volumes
                .iter()
                .map(|v| {
                    let (meta, idx) = match &v.meta_disk {
                        MetaDisk::Internal => (v.disk.clone(), -1),
                        MetaDisk::FlexibleExternal(d) => (d.clone(), -2),
                        MetaDisk::IndexedExternal(d, i) => (d.clone(), *i as i32),
                    };
                    let positional = [
                        (1, OwnedValue::Str(v.disk.as_bytes().to_vec())),
                        (2, OwnedValue::Str(meta.as_bytes().to_vec())),
                        (3, OwnedValue::S32(idx)),
                    ];
                    RunningVolume {
                        volume: v.number,
                        minor: v.device.minor,
                        disk: Some(RunningDisk {
                            backing: v.disk.clone(),
                            meta_dev: meta,
                            meta_idx: idx,
                            conf: kernel_values(&sets::DISK_CONF, &v.disk_options, &positional),
                        }),
                    }
                })
                .collect(),
        }
    }

    fn lines(steps: &[(Stage, Step)]) -> Vec<String> {
        let tools = Tools {
            drbdsetup: "drbdsetup-84".into(),
            drbdmeta: "drbdmeta".into(),
        };
        steps
            .iter()
            .flat_map(|(_, s)| s.lines(&tools, &[]))
            .collect()
    }

    fn plan(text: &str, running: Option<&Running>) -> Vec<String> {
        lines(&adjust_steps(&view_of(text), running).unwrap())
    }

    fn field(set: &SetDef, option: &str) -> u16 {
        set.fields.iter().find(|f| f.option == option).unwrap().id
    }

    // The resource's `disk { }` is inherited in drbdadm-84's order (reversed).
    const ATTACH: &str = "drbdsetup-84 attach 0 /dev/vda /dev/vda internal \
                          --on-io-error=detach --resync-rate=128K --c-plan-ahead=0";
    const CONNECT: &str = "drbdsetup-84 connect r0 ipv4:169.254.77.1:7789 \
                           ipv4:169.254.77.2:7789 --protocol=C --connect-int=3 --verify-alg=md5";

    #[test]
    fn nothing_running_is_up() {
        assert_eq!(
            plan(CONF, None),
            [
                "drbdsetup-84 new-resource r0 --on-no-data-accessible=suspend-io",
                "drbdsetup-84 new-minor r0 0 0",
                "drbdmeta 0 v08 /dev/vda internal apply-al",
                ATTACH,
                CONNECT,
            ]
        );
    }

    #[test]
    fn as_configured_is_nothing() {
        let view = view_of(CONF);
        assert_eq!(plan(CONF, Some(&running_of(&view))), Vec::<String>::new());
    }

    #[test]
    fn a_resource_without_minors() {
        let r = Running::default();
        assert_eq!(
            plan(CONF, Some(&r)),
            [
                "drbdsetup-84 resource-options r0 --set-defaults \
                 --on-no-data-accessible=suspend-io",
                "drbdsetup-84 new-minor r0 0 0",
                "drbdmeta 0 v08 /dev/vda internal apply-al",
                ATTACH,
                CONNECT,
            ]
        );
    }

    #[test]
    fn attached_not_connected() {
        let mut r = running_of(&view_of(CONF));
        r.net = None;
        r.ends = None;
        assert_eq!(plan(CONF, Some(&r)), [CONNECT]);
    }

    #[test]
    fn detached() {
        let mut r = running_of(&view_of(CONF));
        r.volumes[0].disk = None;
        assert_eq!(
            plan(CONF, Some(&r)),
            ["drbdmeta 0 v08 /dev/vda internal apply-al", ATTACH]
        );
    }

    #[test]
    fn disk_options_changed_in_the_file() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace("resync-rate 128K;", "resync-rate 256K; al-extents 3389;");
        assert_eq!(
            plan(&text, Some(&r)),
            ["drbdsetup-84 disk-options 0 --set-defaults --on-io-error=detach --al-extents=3389 \
              --resync-rate=256K --c-plan-ahead=0"]
        );
        // Removed from the file: back to the default (c-plan-ahead's is 20).
        let text = CONF.replace("c-plan-ahead 0;", "");
        assert_eq!(
            plan(&text, Some(&r)),
            ["drbdsetup-84 disk-options 0 --set-defaults --on-io-error=detach --resync-rate=128K"]
        );
        // on-io-error detach is the default: removing it changes nothing.
        let text = CONF.replace("on-io-error detach;", "");
        assert_eq!(plan(&text, Some(&r)), Vec::<String>::new());
    }

    #[test]
    fn defaults_written_or_not_are_equal() {
        // The file writes a default value, the kernel has it (from being unset): equal.
        let r = running_of(&view_of(CONF));
        let text = CONF.replace(
            "on-io-error detach;",
            "on-io-error detach; al-extents 1237;",
        );
        assert_eq!(plan(&text, Some(&r)), Vec::<String>::new());
        // A value the file writes in other units than the kernel's (K: the kernel's KiB).
        let text = CONF.replace("resync-rate 128K;", "resync-rate 131072K;");
        assert_eq!(plan(&text, Some(&r)).len(), 1);
    }

    #[test]
    fn a_kernel_option_the_file_does_not_have() {
        let mut r = running_of(&view_of(CONF));
        let disk = r.volumes[0].disk.as_mut().unwrap();
        disk.conf.insert(
            field(&sets::DISK_CONF, "disk-flushes"),
            OwnedValue::Flag(false),
        );
        assert_eq!(
            plan(CONF, Some(&r)),
            ["drbdsetup-84 disk-options 0 --set-defaults --on-io-error=detach --resync-rate=128K \
              --c-plan-ahead=0"]
        );
    }

    #[test]
    fn net_option_changed() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace("connect-int 3;", "connect-int 5; max-buffers 8000;");
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 net-options ipv4:169.254.77.1:7789 ipv4:169.254.77.2:7789 \
              --set-defaults --protocol=C --connect-int=5 --max-buffers=8000 --verify-alg=md5"
            ]
        );
        let text = CONF.replace("protocol C;", "protocol A;");
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 net-options ipv4:169.254.77.1:7789 ipv4:169.254.77.2:7789 \
              --set-defaults --protocol=A --connect-int=3 --verify-alg=md5"
            ]
        );
        // A connect flag the kernel kept is no option (show does not print it).
        let mut r2 = r.clone();
        r2.net.as_mut().unwrap().insert(25, OwnedValue::Flag(true));
        assert_eq!(plan(CONF, Some(&r2)), Vec::<String>::new());
    }

    #[test]
    fn peer_address_changed() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace("169.254.77.2:7789", "169.254.77.3:7790");
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 disconnect ipv4:169.254.77.1:7789 ipv4:169.254.77.2:7789",
                "drbdsetup-84 connect r0 ipv4:169.254.77.1:7789 ipv4:169.254.77.3:7790 \
                 --protocol=C --connect-int=3 --verify-alg=md5",
            ]
        );
        // Net options changed too: the connect carries them, no net-options.
        let text = text.replace("connect-int 3;", "connect-int 4;");
        assert_eq!(plan(&text, Some(&r)).len(), 2);
    }

    #[test]
    fn resource_option_changed() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace("on-no-data-accessible suspend-io;", "cpu-mask 3;");
        assert_eq!(
            plan(&text, Some(&r)),
            ["drbdsetup-84 resource-options r0 --set-defaults --cpu-mask=3"]
        );
    }

    #[test]
    fn another_lower_device_or_meta_data() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replacen("disk /dev/vda;", "disk /dev/vdb;", 1);
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 detach 0",
                "drbdmeta 0 v08 /dev/vdb internal apply-al",
                &ATTACH.replace("/dev/vda /dev/vda", "/dev/vdb /dev/vdb"),
            ]
        );
        let text = CONF.replacen("meta-disk internal;", "meta-disk /dev/vdc;", 1);
        assert_eq!(
            plan(&text, Some(&r))[..2],
            [
                "drbdsetup-84 detach 0",
                "drbdmeta 0 v08 /dev/vdc flex-external apply-al"
            ]
        );
        // An external device's index is not compared (as drbdadm-84).
        let ext = CONF.replacen("meta-disk internal;", "meta-disk /dev/vdc [0];", 1);
        let r = running_of(&view_of(&ext));
        let other = ext.replace("/dev/vdc [0]", "/dev/vdc [1]");
        assert_eq!(plan(&other, Some(&r)), Vec::<String>::new());
    }

    #[test]
    fn another_minor() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replacen("device /dev/drbd0;", "device /dev/drbd5;", 1);
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 detach 0",
                "drbdsetup-84 del-minor 0",
                "drbdsetup-84 new-minor r0 5 0",
                "drbdmeta 5 v08 /dev/vda internal apply-al",
                &ATTACH.replace("attach 0", "attach 5"),
            ]
        );
    }

    #[test]
    fn volumes_added_and_removed() {
        let mut r = running_of(&view_of(CONF));
        let mut extra = r.volumes[0].clone();
        extra.volume = 1;
        extra.minor = 1;
        r.volumes.push(extra.clone());
        assert_eq!(
            plan(CONF, Some(&r)),
            ["drbdsetup-84 detach 1", "drbdsetup-84 del-minor 1"]
        );
        extra.disk = None;
        r.volumes[1] = extra;
        assert_eq!(plan(CONF, Some(&r)), ["drbdsetup-84 del-minor 1"]);
        let mut r = running_of(&view_of(CONF));
        r.volumes.clear();
        assert_eq!(
            plan(CONF, Some(&r)),
            [
                "drbdsetup-84 new-minor r0 0 0",
                "drbdmeta 0 v08 /dev/vda internal apply-al",
                ATTACH
            ]
        );
    }

    #[test]
    fn size_is_a_resize() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace("on-io-error detach;", "on-io-error detach; size 100M;");
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 resize 0 --size=100M",
                "drbdsetup-84 check-resize 0"
            ]
        );
        // Size in the kernel, none in the file: resize to the largest.
        let r = running_of(&view_of(&text));
        assert_eq!(
            plan(CONF, Some(&r)),
            ["drbdsetup-84 resize 0", "drbdsetup-84 check-resize 0"]
        );
        assert_eq!(plan(&text, Some(&r)), Vec::<String>::new());
        // With another disk option changed: disk-options without the size.
        let other = text.replace("resync-rate 128K;", "resync-rate 1M;");
        assert_eq!(
            plan(&other, Some(&r)),
            [
                "drbdsetup-84 disk-options 0 --set-defaults --on-io-error=detach --resync-rate=1M \
              --c-plan-ahead=0"
            ]
        );
    }

    #[test]
    fn max_bio_bvecs_is_a_new_attach() {
        let r = running_of(&view_of(CONF));
        let text = CONF.replace(
            "on-io-error detach;",
            "on-io-error detach; max-bio-bvecs 1;",
        );
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 detach 0",
                "drbdmeta 0 v08 /dev/vda internal apply-al",
                "drbdsetup-84 attach 0 /dev/vda /dev/vda internal --max-bio-bvecs=1 \
                 --on-io-error=detach --resync-rate=128K --c-plan-ahead=0",
            ]
        );
    }

    #[test]
    fn without_a_peer() {
        let text = CONF.replace(
            "on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }",
            "",
        );
        let mut r = running_of(&view_of(&text));
        assert!(r.ends.is_none());
        r.net = None;
        // drbdadm-84 compares the file's net options with none and sends them, to N/A.
        assert_eq!(
            plan(&text, Some(&r)),
            [
                "drbdsetup-84 net-options ipv4:169.254.77.1:7789 N/A --set-defaults --protocol=C \
              --connect-int=3 --verify-alg=md5"
            ]
        );
        let plain = text.replace("net { protocol C; connect-int 3; verify-alg md5; }", "");
        let r = running_of(&view_of(&plain));
        assert_eq!(plan(&plain, Some(&r)), Vec::<String>::new());
        // Fresh: connect to N/A, as drbdadm-84's dry run prints it.
        assert_eq!(
            plan(&text, None).last().unwrap(),
            "drbdsetup-84 connect r0 ipv4:169.254.77.1:7789 N/A --protocol=C --connect-int=3 \
             --verify-alg=md5"
        );
    }

    /// A GET_STATUS message as the module builds it (context with the addresses, res_opts,
    /// disk_conf, net_conf, state_info), read back by `running_from`: the kernel's whole
    /// configuration sets compare equal with the file they came from.
    #[test]
    fn reads_the_modules_status_messages() {
        use drbd_core::genl::build::{write_reply, ReplyHeader};
        use drbd_core::genl::commands::Command;
        use drbd_core::genl::msg::{Message, MINOR_NONE};
        use drbd_core::genl::ret_code::{ReplyCode, RetCode};
        use drbd_core::genl::stored::StoredSet;
        use drbd_core::genl::typed::{CfgContext, EncodeOpts, SetEncode, StateInfo};
        use drbd_core::genl::writer::Writer;

        let view = view_of(CONF);
        let stored = |set: &'static SetDef, values: &Values| {
            let mut s = StoredSet::new(set).unwrap();
            for (id, v) in values {
                assert!(s.set(*id, v.as_value()), "{} {id}", set.name);
            }
            s
        };
        let want = running_of(&view);
        let res = stored(&sets::RES_OPTS, &want.res_opts);
        let disk = stored(
            &sets::DISK_CONF,
            &want.volumes[0].disk.as_ref().unwrap().conf,
        );
        let net = stored(&sets::NET_CONF, want.net.as_ref().unwrap());
        let (my, peer) = want.ends.unwrap();
        let (mut my_buf, mut peer_buf) = ([0u8; 28], [0u8; 28]);
        let ctx = CfgContext {
            ctx_volume: Some(0),
            ctx_resource_name: Some(b"r0"),
            ctx_my_addr: Some(my.encode(&mut my_buf).unwrap()),
            ctx_peer_addr: Some(peer.encode(&mut peer_buf).unwrap()),
        };
        let state = StateInfo {
            current_state: Some(0),
            ..StateInfo::default()
        };
        let header = |minor| ReplyHeader {
            family: 30,
            cmd: Command::GetStatus as u8,
            nl_flags: 2,
            seq: 1,
            pid: 1,
            minor,
            ret: ReplyCode::Ret(RetCode::NoError),
        };
        let mut buf = vec![0u8; 4096];
        let len = {
            let mut w = Writer::new(&mut buf);
            let sets: [&dyn SetEncode; 5] = [&ctx, &res, &disk, &net, &state];
            write_reply(&mut w, &header(0), None, None, &sets, &EncodeOpts::KERNEL).unwrap()
        };
        let msg = Message::parse(&buf[..len]).unwrap();
        let got = admin::running_from(std::iter::once(msg)).unwrap();
        assert_eq!(got.ends, want.ends);
        assert_eq!(got.volumes[0].minor, 0);
        assert_eq!(got.volumes[0].disk.as_ref().unwrap().backing, "/dev/vda");
        assert_eq!(got.volumes[0].disk.as_ref().unwrap().meta_idx, -1);
        // shared_secret is not reported (sensitive), which is its default anyway.
        assert_eq!(got.net.as_ref().unwrap().get(&1), None);
        assert_eq!(plan(CONF, Some(&got)), Vec::<String>::new());
        // A resource without minors: the context alone, minor -1.
        let lone = CfgContext {
            ctx_resource_name: Some(b"r0"),
            ..CfgContext::default()
        };
        let len = {
            let mut w = Writer::new(&mut buf);
            let sets: [&dyn SetEncode; 1] = [&lone];
            write_reply(
                &mut w,
                &header(MINOR_NONE),
                None,
                None,
                &sets,
                &EncodeOpts::KERNEL,
            )
            .unwrap()
        };
        let msg = Message::parse(&buf[..len]).unwrap();
        let got = admin::running_from(std::iter::once(msg)).unwrap();
        assert_eq!(got, Running::default());
        assert!(admin::running_from(std::iter::empty()).is_none());
    }

    #[test]
    fn several_resources_stage_by_stage() {
        let a = adjust_steps(&view_of(CONF), None).unwrap();
        let mut r = running_of(&view_of(CONF));
        r.volumes[0].disk = None;
        r.ends = None;
        r.net = None;
        r.volumes.push(RunningVolume {
            volume: 3,
            minor: 9,
            disk: None,
        });
        let b = adjust_steps(&view_of(CONF), Some(&r)).unwrap();
        let all = in_stages(vec![a, b]);
        let stages: Vec<Stage> = all.iter().map(|(s, _)| *s).collect();
        let mut sorted = stages.clone();
        sorted.sort();
        assert_eq!(stages, sorted);
        assert_eq!(
            lines(&all)[..2],
            [
                "drbdsetup-84 new-resource r0 --on-no-data-accessible=suspend-io",
                "drbdsetup-84 del-minor 9"
            ]
        );
        assert_eq!(lines(&all).len(), 9);
    }
}
