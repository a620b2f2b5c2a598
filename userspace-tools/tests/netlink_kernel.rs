//! The netlink transport against a real kernel with the `drbd` family (Linux's drbd.ko or
//! drbd_rs.ko). Ignored by default: run it where a module is loaded, e.g. in a test VM:
//!
//! ```sh
//! cargo test -p drbd_rs_tools --test netlink_kernel -- --ignored --nocapture
//! ```
//!
//! `talks_to_the_kernel_drbd_family` and `admin_request_needs_cap_net_admin` only send requests
//! that change nothing; `events_report_a_new_resource` creates and deletes a resource named
//! `drbd-rs-nltest` (and nothing else). Run `admin_request_needs_cap_net_admin` once as root
//! and once unprivileged (e.g. `setpriv --reuid=65534 --regid=65534 --clear-groups
//! --inh-caps=-all`).

use std::time::{Duration, Instant};

use drbd_core::genl::commands::Command;
use drbd_core::genl::msg::MINOR_NONE;
use drbd_core::genl::ret_code::{ReplyCode, RetCode};
use drbd_core::genl::typed::{CfgContext, StateInfo};
use drbd_core::genl::validate::ValidateOpts;
use drbd_rs_tools::netlink::{DrbdGenl, NlError};

/// A minor number no test configures (the largest DRBD 8.4 allows).
const UNUSED_MINOR: u32 = (1 << 20) - 1;

/// The family, or `None` (test skipped) if no drbd module is loaded.
fn open() -> Option<DrbdGenl> {
    match DrbdGenl::open() {
        Ok(g) => Some(g),
        Err(NlError::FamilyNotFound) => {
            eprintln!("skipping: {}", NlError::FamilyNotFound);
            None
        }
        Err(e) => panic!("opening the drbd family failed: {e}"),
    }
}

/// Whether this process has CAP_NET_ADMIN (from /proc/self/status).
fn has_cap_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

#[test]
#[ignore = "needs a loaded drbd (or drbd_rs) module"]
fn talks_to_the_kernel_drbd_family() {
    let Some(mut genl) = open() else { return };
    let family = genl.family().clone();
    eprintln!("family: {family:?}");
    assert_eq!(family.name, "drbd");
    assert_eq!((family.version, family.hdrsize), (1, 8));
    assert_eq!(family.maxattr, 24);
    assert!(family.events_group().is_some());

    // GET_STATUS of a minor that does not exist: a drbd reply, not a netlink error.
    let reply = genl
        .request(Command::GetStatus, UNUSED_MINOR, &[], 0)
        .expect("GET_STATUS doit");
    assert_eq!(reply.code, ReplyCode::Ret(RetCode::ErrMinorInvalid));
    assert_eq!(reply.minor(), Some(UNUSED_MINOR));
    assert_eq!(reply.cmd(), Some(Command::GetStatus.number()));

    // GET_STATUS dump of everything; every part decodes.
    let parts = genl
        .dump(Command::GetStatus, MINOR_NONE, &[])
        .expect("GET_STATUS dump");
    eprintln!("GET_STATUS dump: {} message(s)", parts.len());
    for p in &parts {
        let m = p.message().expect("dump part parses");
        if m.minor() != MINOR_NONE {
            let info = StateInfo::from_message(&m, &ValidateOpts::LENIENT)
                .expect("state_info validates")
                .expect("state_info present");
            assert!(info.current_state.is_some());
        }
    }
    let resources = genl
        .dump(Command::GetResources, MINOR_NONE, &[])
        .expect("GET_RESOURCES dump");
    eprintln!("GET_RESOURCES dump: {} message(s)", resources.len());

    // Subscribing works; nothing needs to happen within the short wait.
    let mut events = genl.subscribe_events().expect("join the events group");
    match events.recv(Duration::from_millis(200)) {
        Ok(Some(ev)) => eprintln!("event: cmd {:?} minor {:?}", ev.cmd(), ev.minor()),
        Ok(None) => {}
        Err(e) => panic!("receiving events failed: {e}"),
    }
}

#[test]
#[ignore = "needs a loaded drbd (or drbd_rs) module"]
fn admin_request_needs_cap_net_admin() {
    let Some(mut genl) = open() else { return };
    // PRIMARY on a minor that does not exist changes nothing either way.
    let r = genl.request(Command::Primary, UNUSED_MINOR, &[], 0);
    if has_cap_net_admin() {
        let reply = r.expect("PRIMARY doit");
        assert_eq!(reply.code, ReplyCode::Ret(RetCode::ErrMinorInvalid));
    } else {
        let e = r.expect_err("PRIMARY needs CAP_NET_ADMIN");
        assert!(matches!(e, NlError::PermissionDenied), "{e:?}");
        eprintln!("unprivileged: {e}");
    }
}

#[test]
#[ignore = "needs a loaded drbd (or drbd_rs) module and CAP_NET_ADMIN"]
fn events_report_a_new_resource() {
    const NAME: &[u8] = b"drbd-rs-nltest";
    let Some(mut genl) = open() else { return };
    let mut events = genl.subscribe_events().expect("join the events group");
    let ctx = CfgContext {
        ctx_resource_name: Some(NAME),
        ..CfgContext::default()
    };
    let created = genl
        .request(Command::NewResource, MINOR_NONE, &[&ctx], 0)
        .expect("NEW_RESOURCE");
    assert!(created.is_success(), "{created:?}");
    let listed = genl
        .dump(Command::GetResources, MINOR_NONE, &[])
        .expect("GET_RESOURCES dump");
    let names: Vec<Vec<u8>> = listed
        .iter()
        .filter_map(|r| {
            let m = r.message()?;
            let c = CfgContext::from_message(&m, &ValidateOpts::LENIENT).ok()??;
            c.ctx_resource_name.map(<[u8]>::to_vec)
        })
        .collect();
    assert!(names.iter().any(|n| n == NAME), "{names:?}");
    let deleted = genl
        .request(Command::DelResource, MINOR_NONE, &[&ctx], 0)
        .expect("DEL_RESOURCE");
    assert!(deleted.is_success(), "{deleted:?}");

    // RESOURCE_STATE notifications about the resource (CREATE, DESTROY) arrive.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = 0;
    while Instant::now() < deadline && seen < 2 {
        let Some(ev) = events.recv(Duration::from_millis(500)).expect("events") else {
            continue;
        };
        let m = ev.message().expect("notification parses");
        let ctx = CfgContext::from_message(&m, &ValidateOpts::LENIENT)
            .ok()
            .flatten();
        eprintln!(
            "event cmd {} minor {:#x} resource {:?}",
            m.cmd(),
            m.minor(),
            ctx.and_then(|c| c.ctx_resource_name)
                .map(String::from_utf8_lossy)
        );
        if m.cmd() == Command::ResourceState.number()
            && ctx.and_then(|c| c.ctx_resource_name) == Some(NAME)
        {
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "RESOURCE_STATE CREATE and DESTROY");
}
