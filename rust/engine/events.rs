// SPDX-License-Identifier: GPL-2.0
//! Status messages: the GET_STATUS reply and the `DRBD_EVENT` notification (genl group
//! `events`) that drbd 8.4 broadcasts after every state change of a device. drbdsetup-84's
//! `wait-connect`, `wait-sync` and `events` follow a device through these notifications
//! (after one GET_STATUS), so the init script, `drbdadm wait-con-int` and the cluster agents
//! depend on them.

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::drbd_core::genl::build::{write_reply, ReplyHeader};
use crate::drbd_core::genl::commands::Command;
use crate::drbd_core::genl::msg::{GENL_HDRLEN, NLMSG_HDRLEN};
use crate::drbd_core::genl::ret_code::{ReplyCode, RetCode};
use crate::drbd_core::genl::sets::sib_reason;
use crate::drbd_core::genl::stored::StoredSet;
use crate::drbd_core::genl::typed::{CfgContext, EncodeOpts, SetEncode, StateInfo};
use crate::drbd_core::genl::writer::Writer;
use crate::drbd_core::proc_text::Counters;
use crate::drbd_core::state::State;
use crate::glue::genl;
use crate::glue::sys::NoIo;

/// Size of one status message (headers, context, state_info with UUIDs).
pub(crate) const STATUS_MESSAGE_MAX: usize = 1024;

/// The bitmap and meta-data part of a status (only with a local disk).
#[derive(Clone, Copy)]
pub(crate) struct DiskStatus {
    pub(crate) md_flags: u32,
    /// Out-of-sync bits.
    pub(crate) oos_bits: u64,
    /// Bits of the bitmap.
    pub(crate) total_bits: u64,
    /// While a resync runs: its blocks in total and those that failed.
    pub(crate) resync: Option<(u64, u64)>,
}

/// Everything a status message says about one minor.
pub(crate) struct StatusSnapshot<'a> {
    pub(crate) minor: u32,
    pub(crate) volume: u32,
    pub(crate) resource: &'a [u8],
    pub(crate) state: State,
    /// Exported size in sectors.
    pub(crate) capacity: u64,
    /// Current, bitmap, history 1 and 2.
    pub(crate) uuids: [u64; 4],
    pub(crate) disk: Option<DiskStatus>,
    pub(crate) counters: Counters,
}

/// The configuration a GET_STATUS reply carries besides the state (drbd's
/// `nla_put_status_info`: the connection's addresses in the context, `res_opts`, `disk_conf`
/// while attached, `net_conf` while a net config exists): what `drbdsetup-84 show` prints and
/// `adjust` compares with drbd.conf. Notifications leave it out.
#[derive(Clone, Copy, Default)]
pub(crate) struct StatusConfig<'a> {
    /// This node's address (raw `sockaddr`), with a net config.
    pub(crate) my_addr: Option<&'a [u8]>,
    /// The peer's address, with a net config.
    pub(crate) peer_addr: Option<&'a [u8]>,
    pub(crate) res_opts: Option<&'a StoredSet>,
    pub(crate) disk_conf: Option<&'a StoredSet>,
    pub(crate) net_conf: Option<&'a StoredSet>,
}

/// Why a status message is sent.
#[derive(Clone, Copy)]
pub(crate) enum Reason<'a> {
    /// Answer to GET_STATUS (also each message of its dump).
    Reply { nl_flags: u16 },
    /// `DRBD_EVENT` after the state went from `prev` to the snapshot's state.
    StateChange { prev: State },
    /// `DRBD_EVENT` before the user-mode helper `name` runs (`status` None, SIB_HELPER_PRE)
    /// or after it returned this wait status (SIB_HELPER_POST).
    Helper { name: &'a str, status: Option<u32> },
    /// `DRBD_EVENT` after a resync's progress was written out (SIB_SYNC_PROGRESS).
    SyncProgress,
}

/// Encode the whole netlink message (from `nlmsghdr` on) for `snap` into `w`; its length.
pub(crate) fn write_status_message(
    snap: &StatusSnapshot<'_>,
    config: Option<&StatusConfig<'_>>,
    reason: Reason<'_>,
    w: &mut Writer<'_>,
) -> Option<usize> {
    let context = CfgContext {
        ctx_volume: Some(snap.volume),
        ctx_resource_name: Some(snap.resource),
        ctx_my_addr: config.and_then(|c| c.my_addr),
        ctx_peer_addr: config.and_then(|c| c.peer_addr),
    };
    let mut uuid_bytes = [0u8; 32];
    for (i, byte) in snap.uuids.iter().flat_map(|u| u.to_ne_bytes()).enumerate() {
        if let Some(b) = uuid_bytes.get_mut(i) {
            *b = byte;
        }
    }
    let c = &snap.counters;
    let state_word = snap.state.pack();
    let (cmd, nl_flags, why, prev_new) = match reason {
        Reason::Reply { nl_flags } => (
            Command::GetStatus,
            nl_flags,
            sib_reason::GET_STATUS_REPLY,
            None,
        ),
        Reason::StateChange { prev } => (
            Command::Event,
            0,
            sib_reason::STATE_CHANGE,
            Some((prev.pack(), state_word)),
        ),
        Reason::Helper { status: None, .. } => (Command::Event, 0, sib_reason::HELPER_PRE, None),
        Reason::Helper {
            status: Some(_), ..
        } => (Command::Event, 0, sib_reason::HELPER_POST, None),
        Reason::SyncProgress => (Command::Event, 0, sib_reason::SYNC_PROGRESS, None),
    };
    let (helper, helper_exit_code) = match reason {
        Reason::Helper { name, status } => (Some(name.as_bytes()), status),
        _ => (None, None),
    };
    let state = StateInfo {
        sib_reason: Some(why),
        current_state: Some(state_word),
        capacity: Some(snap.capacity),
        ed_uuid: Some(snap.uuids[0]),
        send_cnt: Some(u64::from(c.send_sectors)),
        recv_cnt: Some(u64::from(c.recv_sectors)),
        read_cnt: Some(u64::from(c.read_sectors)),
        writ_cnt: Some(u64::from(c.write_sectors)),
        al_writ_cnt: Some(u64::from(c.al_writes)),
        bm_writ_cnt: Some(0),
        ap_bio_cnt: Some(c.ap_bio.max(0) as u32),
        ap_pending_cnt: Some(c.ap_pending.max(0) as u32),
        rs_pending_cnt: Some(c.rs_pending.max(0) as u32),
        uuids: snap.disk.is_some().then_some(&uuid_bytes[..]),
        disk_flags: snap.disk.map(|d| d.md_flags),
        bits_total: snap.disk.map(|d| d.total_bits),
        bits_oos: snap.disk.map(|d| d.oos_bits),
        bits_rs_total: snap.disk.and_then(|d| d.resync).map(|r| r.0),
        bits_rs_failed: snap.disk.and_then(|d| d.resync).map(|r| r.1),
        prev_state: prev_new.map(|(p, _)| p),
        new_state: prev_new.map(|(_, n)| n),
        helper_exit_code,
        helper,
        ..StateInfo::default()
    };
    // cfg_context, res_opts, disk_conf, net_conf, state_info: drbd's order.
    let mut sets: [&dyn SetEncode; 5] = [&context; 5];
    let mut n = 1;
    for conf in [
        config.and_then(|c| c.res_opts),
        config.and_then(|c| c.disk_conf),
        config.and_then(|c| c.net_conf),
    ]
    .into_iter()
    .flatten()
    {
        sets[n] = conf;
        n += 1;
    }
    sets[n] = &state;
    let sets = sets.get(..=n)?;
    // Family, sequence and port id are filled in by the netlink layer (genlmsg_put*).
    let header = ReplyHeader {
        family: 0,
        cmd: cmd as u8,
        nl_flags,
        seq: 0,
        pid: 0,
        minor: snap.minor,
        ret: ReplyCode::Ret(RetCode::NoError),
    };
    write_reply(w, &header, None, None, sets, &EncodeOpts::KERNEL).ok()
}

/// The state-change notifications of one device, from whichever thread changed the state.
#[pin_data]
pub(crate) struct StateEvents {
    pub(crate) minor: u32,
    pub(crate) volume: u32,
    pub(crate) resource: KVec<u8>,
    /// The state announced last. Held while a notification is built and sent, so the
    /// announcements of all threads go out in the order of the changes.
    #[pin]
    announced: Mutex<State>,
}

impl StateEvents {
    pub(crate) fn new(minor: u32, volume: u32, resource: &[u8], state: State) -> Result<Arc<Self>> {
        let mut name = KVec::with_capacity(resource.len(), GFP_KERNEL)?;
        name.extend_from_slice(resource, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Self {
                minor,
                volume,
                resource: name,
                announced <- kernel::new_mutex!(state, "drbd_rs:state_events"),
            }),
            GFP_KERNEL,
        )
    }

    /// Announce, in order, every state `collect` returns (with the snapshot they share);
    /// states equal to the one announced last are skipped. `collect` runs with the
    /// announcement lock held, so what it takes from a queue goes out before anything a
    /// later caller takes.
    pub(crate) fn announce<'a>(&self, collect: impl FnOnce() -> (KVec<State>, StatusSnapshot<'a>)) {
        let _noio = NoIo::enter();
        let mut announced = self.announced.lock();
        let (states, mut snap) = collect();
        if states.iter().all(|s| s == &*announced) {
            return;
        }
        let Ok(mut buf) = KVec::from_elem(0u8, STATUS_MESSAGE_MAX, GFP_KERNEL) else {
            // Listeners miss these changes but see the next one with its full state.
            return;
        };
        for state in states.iter() {
            if *state == *announced {
                continue;
            }
            snap.state = *state;
            let reason = Reason::StateChange { prev: *announced };
            if !multicast_event(&snap, reason, &mut buf) {
                pr_warn!("drbd{}: state change notification not sent\n", self.minor);
            }
            *announced = *state;
        }
    }

    /// `DRBD_EVENT` for a resync's progress, with the device's status from `snapshot`. In
    /// order with the state announcements.
    pub(crate) fn announce_progress<'a>(&self, snapshot: impl FnOnce() -> StatusSnapshot<'a>) {
        self.announce_event(snapshot, Reason::SyncProgress);
    }

    /// `DRBD_EVENT` for the user-mode helper `name`: before it runs (`status` None) or with
    /// its wait status, with the device's status from `snapshot`. In order with the state
    /// announcements.
    pub(crate) fn announce_helper<'a>(
        &self,
        snapshot: impl FnOnce() -> StatusSnapshot<'a>,
        name: &str,
        status: Option<u32>,
    ) {
        self.announce_event(snapshot, Reason::Helper { name, status });
    }

    /// One `DRBD_EVENT` other than a state change, in order with those.
    fn announce_event<'a>(
        &self,
        snapshot: impl FnOnce() -> StatusSnapshot<'a>,
        reason: Reason<'_>,
    ) {
        let _noio = NoIo::enter();
        let _announced = self.announced.lock();
        let snap = snapshot();
        let Ok(mut buf) = KVec::from_elem(0u8, STATUS_MESSAGE_MAX, GFP_KERNEL) else {
            return;
        };
        if !multicast_event(&snap, reason, &mut buf) {
            pr_warn!("drbd{}: notification not sent\n", self.minor);
        }
    }
}

/// Encode a `DRBD_EVENT` for `snap` into `buf` and send it to the events group; whether it
/// went out.
fn multicast_event(snap: &StatusSnapshot<'_>, reason: Reason<'_>, buf: &mut [u8]) -> bool {
    let len = write_status_message(snap, None, reason, &mut Writer::new(buf));
    let sent = len
        .and_then(|len| buf.get(NLMSG_HDRLEN + GENL_HDRLEN..len))
        .map(|payload| genl::multicast(Command::Event as u8, payload));
    matches!(sent, Some(Ok(())))
}
