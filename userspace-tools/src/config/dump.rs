//! `drbdadm dump`: the normalized configuration as 8.4 drbd.conf text.
//!
//! The layout follows drbdadm-84's dump (4-space indentation, `name value;` with the name
//! padded to a column). Old keywords come out in their 8.4 form, numbers with the largest
//! exact unit suffix, resource-level volume statements inside each host section. Parsing the
//! output gives a configuration equal to the one dumped.

use std::fmt::Write;

use super::model::{Config, Global, Host, HostKind, MetaDisk, Resource, Sections, Volume};
use super::options::{format_value, option_spec, quote, quote_if_needed, OptionList, SectionKind};

/// Render the whole configuration.
pub fn dump(config: &Config) -> String {
    let mut out = String::new();
    if !config.global.is_empty() {
        dump_global(&mut out, &config.global);
        out.push('\n');
    }
    if !config.common.is_empty() {
        out.push_str("common {\n");
        dump_sections(&mut out, &config.common, 1);
        out.push_str("}\n\n");
    }
    for r in &config.resources {
        dump_resource(&mut out, r);
        out.push('\n');
    }
    out
}

/// Render one resource.
pub fn dump_resource(out: &mut String, r: &Resource) {
    if let Some(loc) = r.origin.location() {
        let _ = writeln!(out, "# resource {} defined at {loc}", r.name);
    }
    let _ = writeln!(out, "resource {} {{", quote_if_needed(&r.name));
    for h in &r.hosts {
        dump_host(out, h);
    }
    dump_sections(out, &r.sections, 1);
    out.push_str("}\n");
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}

/// `name value;` with drbdadm's column layout.
fn line(out: &mut String, depth: usize, name: &str, value: &str) {
    indent(out, depth);
    let width = 16usize.saturating_sub(4 * depth.saturating_sub(2));
    if depth <= 1 || value.is_empty() {
        if value.is_empty() {
            let _ = writeln!(out, "{name};");
        } else {
            let _ = writeln!(out, "{name} {value};");
        }
    } else {
        let _ = writeln!(out, "{name:<width$} {value:>3};");
    }
}

fn dump_global(out: &mut String, g: &Global) {
    out.push_str("global {\n");
    if g.disable_ip_verification {
        line(out, 1, "disable-ip-verification", "");
    }
    if g.udev_always_use_vnr {
        line(out, 1, "udev-always-use-vnr", "");
    }
    if let Some(u) = g.usage_count {
        line(out, 1, "usage-count", u.as_str());
    }
    let numbers = [
        ("minor-count", g.minor_count),
        ("dialog-refresh", g.dialog_refresh),
        ("cmd-timeout-short", g.cmd_timeout_short),
        ("cmd-timeout-medium", g.cmd_timeout_medium),
        ("cmd-timeout-long", g.cmd_timeout_long),
    ];
    for (name, v) in numbers {
        if let Some(v) = v {
            line(out, 1, name, &v.to_string());
        }
    }
    out.push_str("}\n");
}

fn dump_sections(out: &mut String, s: &Sections, depth: usize) {
    for kind in SectionKind::ALL {
        dump_options(out, kind, s.get(kind), depth);
    }
}

fn dump_options(out: &mut String, kind: SectionKind, list: &OptionList, depth: usize) {
    if list.is_empty() {
        return;
    }
    indent(out, depth);
    let _ = writeln!(out, "{} {{", kind.name());
    for e in list {
        let value = match option_spec(kind, e.name) {
            Some(spec) => format_value(spec, &e.value),
            None => quote_if_needed(&e.value.to_arg()),
        };
        line(out, depth + 1, e.name, &value);
    }
    indent(out, depth);
    out.push_str("}\n");
}

fn dump_host(out: &mut String, h: &Host) {
    indent(out, 1);
    match &h.kind {
        HostKind::On(names) => {
            let names: Vec<String> = names.iter().map(|n| quote_if_needed(n)).collect();
            let _ = writeln!(out, "on {} {{", names.join(" "));
        }
        HostKind::Floating => {
            let _ = writeln!(out, "floating {} {{", h.address);
        }
    }
    for v in &h.volumes {
        if v.implicit {
            dump_volume_body(out, v, 2);
        } else {
            indent(out, 2);
            let _ = writeln!(out, "volume {} {{", v.number);
            dump_volume_body(out, v, 3);
            indent(out, 2);
            out.push_str("}\n");
        }
    }
    if h.kind != HostKind::Floating {
        line(out, 2, "address", &h.address.to_string());
    }
    if let Some(a) = &h.alternate_address {
        line(out, 2, "alternate-link-address", &a.to_string());
    }
    dump_options(out, SectionKind::Options, &h.options, 2);
    indent(out, 1);
    out.push_str("}\n");
}

fn dump_volume_body(out: &mut String, v: &Volume, depth: usize) {
    let device = if v.device.has_default_path() {
        format!("minor {}", v.device.minor)
    } else {
        format!(
            "{} minor {}",
            quote_if_needed(&v.device.path),
            v.device.minor
        )
    };
    line(out, depth, "device", &device);
    line(out, depth, "disk", &quote_if_needed(&v.disk));
    let md = match &v.meta_disk {
        MetaDisk::Internal => "internal".to_string(),
        MetaDisk::FlexibleExternal(p) => path_word(p),
        MetaDisk::IndexedExternal(p, i) => format!("{} [{i}]", path_word(p)),
    };
    line(out, depth, "meta-disk", &md);
    dump_options(out, SectionKind::Disk, &v.disk_options, depth);
}

/// A meta-disk path; `internal` must be quoted to stay a path.
fn path_word(p: &str) -> String {
    if p == "internal" {
        quote(p)
    } else {
        quote_if_needed(p)
    }
}
