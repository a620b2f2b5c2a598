// SPDX-License-Identifier: GPL-2.0
//! The administrator's controls over resyncs: `invalidate`, `invalidate-remote`,
//! `pause-sync` / `resume-sync`, and the `resync-after` dependency between devices.
//!
//! Spec: `wire-protocol.md` §6.3 (the pause flags `aftr_isp`, `peer_isp`, `user_isp` and when
//! `P_STATE` carries them), §6.4 (invalidate as a cluster-wide change to StartingSyncT /
//! StartingSyncS), §6.6 (validity rules, the paused connection states), §7.2 (the UUID
//! rotation at resync start), §9 (the bitmap); `genl-netlink.md` §9.1 and §10 (the result
//! codes of INVALIDATE, INVAL_PEER, PAUSE_SYNC, RESUME_SYNC and of the `resync_after` disk
//! option).
//!
//! Two layers. Pure decisions on a [`State`] that the engine can also apply to a device
//! without a connection object ([`plan_invalidate`], [`pause_sync_state`],
//! [`resume_sync_state`], and the device-graph rules [`dependency_syncing`] and
//! [`check_resync_after`]); and their use by a [`Replica`]:
//! - [`Replica::invalidate`] / [`Replica::invalidate_remote`]: StandAlone, the disk (or the
//!   peer's disk) becomes Inconsistent and every bit is set, so the next connection resyncs
//!   everything; connected, a cluster-wide change to StartingSyncT / StartingSyncS. Once it is
//!   approved both nodes set every bit ([`Host::mark_all_out_of_sync`], which persists the
//!   bitmap before anything sent afterwards leaves), the target waits in WFSyncUUID and the
//!   source starts as after a bitmap exchange: sync UUID rotation, `P_SYNC_UUID`, SyncSource.
//!   No bitmap is exchanged (both are full).
//! - [`Replica::pause_sync`] / [`Replica::resume_sync`]: the `user_isp` flag.
//! - [`Replica::dependency_syncing`]: the engine's verdict on the `resync-after` chain, as the
//!   `aftr_isp` flag.
//!
//! A set pause flag turns SyncSource/SyncTarget into PausedSyncS/PausedSyncT (the state
//! module's sanitizing does that); a paused target sends no resync requests and does not end
//! its resync. Whenever `aftr_isp` or `user_isp` changes while connected, our `P_STATE` tells
//! the peer, which shows it as `peer_isp` and pauses too.
//!
//! Deliberate differences from drbd 8.4, both refusing what would lose data here:
//! - A full sync needs UpToDate data on the side that becomes source: invalidate needs an
//!   UpToDate peer disk, invalidate-remote an UpToDate own disk, and a peer's request is
//!   checked the same way (`SS_NO_UP_TO_DATE_DISK`). drbd's implied state adjustments would
//!   silently upgrade an Inconsistent source disk to UpToDate for the StartingSync states.
//! - A Primary does not become SyncTarget through invalidate (`SS_NO_UP_TO_DATE_DISK`, on
//!   either side of the request): drbd then serves reads from the peer, which drbd_rs does
//!   not do, so the application would read the Inconsistent local disk.

use super::super::genl::ret_code::RetCode;
use super::super::genl::sets::{Limits, DISK_CONF};
use super::super::state::{
    prepare_change, ChangeKind, ChangeOutcome, ConnState, DiskState, Field, Role, State,
    StateChange, StateContext, StateError,
};
use super::connection::{Host, Level, LossReason, Replica, Storage};

/// Why an administrator's request about resyncs is refused: a `drbd_ret_code` or a refused
/// state change (`SS_*`), as the genl reply carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// A `drbd_ret_code` (`ERR_NO_DISK`, `ERR_PAUSE_IS_SET`, …).
    Ret(RetCode),
    /// A refused state change.
    State(StateError),
}

impl AdminRefusal {
    /// The value for the genl reply header's `ret_code`.
    pub const fn code(self) -> i32 {
        match self {
            AdminRefusal::Ret(r) => r.code(),
            AdminRefusal::State(e) => e.code(),
        }
    }
}

/// Which end of a full sync this node asks to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullSyncSide {
    /// `invalidate`: this node's data is discarded, it becomes SyncTarget.
    Target,
    /// `invalidate-remote`: the peer's data is discarded, this node becomes SyncSource.
    Source,
}

impl FullSyncSide {
    /// The connection state that starts this side's full sync.
    pub const fn starting_state(self) -> ConnState {
        match self {
            FullSyncSide::Target => ConnState::StartingSyncT,
            FullSyncSide::Source => ConnState::StartingSyncS,
        }
    }

    /// The role drbd takes the StandAlone shortcut for (invalidate: a Secondary,
    /// invalidate-remote: a Primary).
    const fn shortcut_role(self) -> Role {
        match self {
            FullSyncSide::Target => Role::Secondary,
            FullSyncSide::Source => Role::Primary,
        }
    }
}

/// How an `invalidate` / `invalidate-remote` proceeds ([`plan_invalidate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidatePlan {
    /// StandAlone (drbd's shortcut for a Secondary's invalidate and a Primary's
    /// invalidate-remote): install `state` (the own resp. the peer's disk Inconsistent; `None`
    /// when it already is), set every bit of the bitmap and write it whole. The next
    /// connection resyncs the whole device in that direction.
    MarkAll {
        /// The new state, if it changes.
        state: Option<State>,
    },
    /// Connected: request `change` (conn StartingSyncT / StartingSyncS), which the peer must
    /// approve (a cluster-wide change).
    StartFullSync {
        /// The requested change.
        change: StateChange,
    },
}

/// The decision of `drbd_adm_invalidate` / `drbd_adm_invalidate_peer` on the state `os`.
///
/// Rules, in order:
/// 1. a local disk is needed (`ERR_NO_DISK` below Inconsistent);
/// 2. StandAlone Secondary (invalidate) / StandAlone Primary (invalidate-remote): the disk
///    (pdsk) becomes Inconsistent — checked as any requested change — and every bit is set;
/// 3. otherwise the change to StartingSyncT / StartingSyncS, checked as a requested change
///    (`SS_NEED_CONNECTION` without a connection, `SS_RESYNC_RUNNING` while one runs, …),
///    then [`check_full_sync`].
pub fn plan_invalidate(
    os: &State,
    side: FullSyncSide,
    ctx: &StateContext,
) -> Result<InvalidatePlan, AdminRefusal> {
    if os.disk < DiskState::Inconsistent {
        return Err(AdminRefusal::Ret(RetCode::ErrNoDisk));
    }
    if os.conn == ConnState::StandAlone && os.role == side.shortcut_role() {
        let change = match side {
            FullSyncSide::Target => StateChange::new().disk(DiskState::Inconsistent),
            FullSyncSide::Source => StateChange::new().pdsk(DiskState::Inconsistent),
        };
        let state = checked_change(os, change, ctx)?;
        return Ok(InvalidatePlan::MarkAll { state });
    }
    let change = StateChange::new().conn(side.starting_state());
    checked_change(os, change, ctx)?;
    check_full_sync(os, side.starting_state()).map_err(AdminRefusal::State)?;
    Ok(InvalidatePlan::StartFullSync { change })
}

/// Whether a node in `os` may enter `starting` (StartingSyncT: this node becomes target,
/// StartingSyncS: source), beyond drbd's own rules (see the module documentation): the
/// source side must have UpToDate data, and a Primary does not become target. Checked by the
/// requester and again by the peer for the mirrored state. Other states pass.
pub fn check_full_sync(os: &State, starting: ConnState) -> Result<(), StateError> {
    let source_disk = match starting {
        ConnState::StartingSyncT if os.role == Role::Primary => {
            return Err(StateError::NoUpToDateDisk)
        }
        ConnState::StartingSyncT => os.pdsk,
        ConnState::StartingSyncS => os.disk,
        _ => return Ok(()),
    };
    if source_disk != DiskState::UpToDate {
        return Err(StateError::NoUpToDateDisk);
    }
    Ok(())
}

/// `change` of `os` checked as a requested (soft) change: the new state, `None` for "nothing
/// to do".
fn checked_change(
    os: &State,
    change: StateChange,
    ctx: &StateContext,
) -> Result<Option<State>, AdminRefusal> {
    // The changes built here name existing values only; a failure to decode cannot happen
    // and would read as "unknown".
    let requested = change
        .apply(os)
        .map_err(|_| AdminRefusal::State(StateError::NotSupported))?;
    match prepare_change(os, &requested, ctx, ChangeKind::Soft) {
        Ok(ChangeOutcome::NothingToDo) => Ok(None),
        Ok(ChangeOutcome::Apply { state, .. }) => Ok(Some(state)),
        Err(e) => Err(AdminRefusal::State(e)),
    }
}

/// `pause-sync` (`drbd_adm_pause_sync`): the state with `user_isp` set, checked as a
/// requested change. Already set: `ERR_PAUSE_IS_SET`.
///
/// drbd 8.4 reports success for any other refusal of the change; here the refusal is
/// reported as what it is.
pub fn pause_sync_state(os: &State, ctx: &StateContext) -> Result<State, AdminRefusal> {
    let change = StateChange::new().flag(Field::UserIsp, true);
    checked_change(os, change, ctx)?.ok_or(AdminRefusal::Ret(RetCode::ErrPauseIsSet))
}

/// `outdate` (`drbd_adm_outdate`) of a device without a connection: the state with the disk
/// Outdated, checked as a requested change, so the state rules decide as drbd's do: a Primary
/// is refused (`SS_NO_UP_TO_DATE_DISK`, its only data would be outdated), so is a disk below
/// Outdated (`SS_LOWER_THAN_OUTDATED`: Diskless, Inconsistent); while Connected the change
/// vanishes (sanitize: an Outdated disk reads UpToDate when connected), nothing to do.
/// `None`: nothing to do.
pub fn outdate_state(os: &State, ctx: &StateContext) -> Result<Option<State>, AdminRefusal> {
    checked_change(os, StateChange::new().disk(DiskState::Outdated), ctx)
}

/// `resume-sync` (`drbd_adm_resume_sync`): the state with `user_isp` cleared, checked as a
/// requested change. Already clear: `ERR_PAUSE_IS_CLEAR` — or, while the resync is paused for
/// another reason, `ERR_PIC_AFTER_DEP` (a local resync-after dependency) before
/// `ERR_PIC_PEER_DEP` (the peer paused it).
pub fn resume_sync_state(os: &State, ctx: &StateContext) -> Result<State, AdminRefusal> {
    let change = StateChange::new().flag(Field::UserIsp, false);
    checked_change(os, change, ctx)?.ok_or_else(|| {
        let paused = matches!(os.conn, ConnState::PausedSyncS | ConnState::PausedSyncT);
        AdminRefusal::Ret(if paused && os.aftr_isp {
            RetCode::ErrPicAfterDep
        } else if paused && os.peer_isp {
            RetCode::ErrPicPeerDep
        } else {
            RetCode::ErrPauseIsClear
        })
    })
}

// ---------------------------------------------------------------------------------------------
// resync-after: the dependency graph between devices (the engine knows every device)
// ---------------------------------------------------------------------------------------------

/// `resync-after` value meaning "no dependency".
pub const RESYNC_AFTER_NONE: i32 = -1;

/// The largest minor `resync-after` may name (the limit of the `resync_after` field of
/// `disk_conf`, i.e. `MINORMASK`).
pub const RESYNC_AFTER_MAX: i32 = match DISK_CONF.field_by_name("resync_after") {
    Some(f) => match f.limits {
        Some(Limits { max, .. }) => max as i32,
        None => panic!("resync_after has no limits in the genl table"),
    },
    None => panic!("resync_after missing from the genl table"),
};

/// Longest `resync-after` chain followed. A validated configuration has no cycle, so a chain
/// is at most as long as there are devices; the bound only keeps a broken configuration from
/// looping.
pub const RESYNC_AFTER_MAX_HOPS: usize = 4096;

/// One device as the `resync-after` rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyNode {
    /// Its state.
    pub state: State,
    /// It has a local disk (attached and not Diskless): the chain can be followed through it.
    pub has_disk: bool,
    /// Its `resync-after` minor, [`RESYNC_AFTER_NONE`] for none.
    pub resync_after: i32,
}

/// A device that is resyncing (running or paused) or carries any pause flag holds back the
/// devices that resync after it.
const fn holds_back(s: &State) -> bool {
    let syncing = matches!(
        s.conn,
        ConnState::SyncSource
            | ConnState::SyncTarget
            | ConnState::VerifyS
            | ConnState::VerifyT
            | ConnState::PausedSyncS
            | ConnState::PausedSyncT
    );
    syncing || s.aftr_isp || s.peer_isp || s.user_isp
}

/// Whether `minor`'s resync must wait for its `resync-after` chain (the negation of drbd's
/// `_drbd_may_sync_now`): following the chain from `minor`, a device on it (after `minor`
/// itself) resyncs, verifies or is paused. The chain ends at a device without a disk, at
/// [`RESYNC_AFTER_NONE`] and at a minor `lookup` does not know. `lookup` gives the devices
/// (the engine's registry); feed the result to [`Replica::dependency_syncing`].
pub fn dependency_syncing(minor: u32, lookup: impl Fn(u32) -> Option<DependencyNode>) -> bool {
    let mut current = minor;
    for _ in 0..RESYNC_AFTER_MAX_HOPS {
        let Some(node) = lookup(current) else {
            return false;
        };
        if !node.has_disk || node.state.disk == DiskState::Diskless {
            return false;
        }
        let Ok(next) = u32::try_from(node.resync_after) else {
            return false;
        };
        let Some(dependency) = lookup(next) else {
            return false;
        };
        if holds_back(&dependency.state) {
            return true;
        }
        current = next;
    }
    false
}

/// Whether `minor` may resync after `resync_after` (`drbd_resync_after_valid`, checked at
/// attach and when the disk options change): [`RESYNC_AFTER_NONE`] always; a value outside
/// −1…[`RESYNC_AFTER_MAX`] is `ERR_RESYNC_AFTER`; a chain that leads back to `minor` is
/// `ERR_RESYNC_AFTER_CYCLE`. The chain cannot be followed beyond a device without a disk or
/// a minor that does not exist (yet), which is allowed.
pub fn check_resync_after(
    minor: u32,
    resync_after: i32,
    lookup: impl Fn(u32) -> Option<DependencyNode>,
) -> Result<(), RetCode> {
    if resync_after == RESYNC_AFTER_NONE {
        return Ok(());
    }
    if !(RESYNC_AFTER_NONE..=RESYNC_AFTER_MAX).contains(&resync_after) {
        return Err(RetCode::ErrResyncAfter);
    }
    let mut next = resync_after;
    for _ in 0..RESYNC_AFTER_MAX_HOPS {
        let Ok(current) = u32::try_from(next) else {
            return Ok(());
        };
        if current == minor {
            return Err(RetCode::ErrResyncAfterCycle);
        }
        let Some(node) = lookup(current) else {
            return Ok(());
        };
        if !node.has_disk || node.state.disk == DiskState::Diskless {
            return Ok(());
        }
        next = node.resync_after;
    }
    // Longer than any real chain: a loop among the others that does not reach `minor`.
    Err(RetCode::ErrResyncAfterCycle)
}

/// Whether a device in state `s` takes `resync-after` verdicts: an unconfigured one
/// (StandAlone and Diskless) keeps no pause flag (drbd's `_drbd_pause_after` and
/// `_drbd_resume_next` skip it).
pub const fn takes_dependency_verdict(s: &State) -> bool {
    !(matches!(s.conn, ConnState::StandAlone) && matches!(s.disk, DiskState::Diskless))
}

/// One device of a pass over all devices ([`settle_dependencies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyEntry {
    /// Its minor.
    pub minor: u32,
    /// Its state, disk and `resync-after` option.
    pub node: DependencyNode,
}

/// The verdict for `entries[index]` ([`dependency_syncing`] over the entries), `None` when
/// the device takes none ([`takes_dependency_verdict`]) or `index` is out of range.
pub fn dependency_verdict(entries: &[DependencyEntry], index: usize) -> Option<bool> {
    let entry = entries.get(index)?;
    if !takes_dependency_verdict(&entry.node.state) {
        return None;
    }
    Some(dependency_syncing(entry.minor, |minor| {
        entries.iter().find(|e| e.minor == minor).map(|e| e.node)
    }))
}

/// Bring every device's `aftr_isp` in line with its `resync-after` chain (drbd's
/// `_drbd_pause_after` and `_drbd_resume_next`, run over all devices): sweep over `entries`,
/// and for each device whose flag differs from its verdict call `apply(index, state,
/// verdict)` (`state`: the entry's), which hands the verdict to the device and returns its
/// state afterwards (a replica may
/// also have changed its connection state, e.g. SyncTarget → PausedSyncT); the entry takes
/// that state, so the verdicts of devices later in the sweep see it. Sweeps repeat until
/// one changes nothing, at most `entries.len() + 1` times: in a configuration without
/// cycles a verdict depends only on the devices further down the chain, so each sweep
/// settles at least one more link of every chain; a device that does not take its verdict
/// (a link shutting down) or a cycle (which validation refuses) cannot make a pass loop.
/// Returns how many verdicts were applied.
pub fn settle_dependencies(
    entries: &mut [DependencyEntry],
    mut apply: impl FnMut(usize, &State, bool) -> State,
) -> usize {
    let mut applied = 0;
    for _ in 0..=entries.len() {
        let mut changed = false;
        for index in 0..entries.len() {
            let Some(verdict) = dependency_verdict(entries, index) else {
                continue;
            };
            let Some(entry) = entries.get_mut(index) else {
                continue;
            };
            if entry.node.state.aftr_isp == verdict {
                continue;
            }
            let before = entry.node.state;
            entry.node.state = apply(index, &before, verdict);
            applied += 1;
            // A device that did not take it (shutting down) is not progress.
            changed |= entry.node.state != before;
        }
        if !changed {
            break;
        }
    }
    applied
}

// ---------------------------------------------------------------------------------------------
// The replica's part
// ---------------------------------------------------------------------------------------------

/// What a [`Replica`] keeps for these controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncControl {
    /// Time of the event being handled (ms), for the pause accounting.
    now_ms: u64,
    /// A `P_SYNC_UUID` that came before our own StartingSyncT was approved: the source starts
    /// as soon as it approves, and its data socket may overtake its reply on the meta socket.
    early_sync_uuid: Option<u64>,
    /// When the running resync was paused (ms).
    paused_since_ms: Option<u64>,
    /// Time the current resync spent paused before `paused_since_ms` (ms).
    paused_ms: u64,
}

impl SyncControl {
    /// Nothing paused, nothing waiting.
    pub const fn new() -> Self {
        SyncControl {
            now_ms: 0,
            early_sync_uuid: None,
            paused_since_ms: None,
            paused_ms: 0,
        }
    }

    /// The time of the event being handled.
    pub(super) fn clock(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// The connection is gone: nothing of its resync remains.
    pub(super) fn connection_lost(&mut self) {
        self.early_sync_uuid = None;
        self.paused_since_ms = None;
        self.paused_ms = 0;
    }

    /// Time the current resync has been paused, up to `now_ms` (`rs_paused`, in ms).
    pub(super) fn paused_ms(&self, now_ms: u64) -> u64 {
        let current = self
            .paused_since_ms
            .map_or(0, |since| now_ms.saturating_sub(since));
        self.paused_ms.saturating_add(current)
    }
}

const fn is_running_sync(c: ConnState) -> bool {
    matches!(c, ConnState::SyncSource | ConnState::SyncTarget)
}

const fn is_paused_sync(c: ConnState) -> bool {
    matches!(c, ConnState::PausedSyncS | ConnState::PausedSyncT)
}

impl<S: Storage> Replica<S> {
    /// `invalidate` (`DRBD_ADM_INVALIDATE`): this node becomes the target of a full sync; see
    /// [`plan_invalidate`]. `Err` only for `ERR_NO_DISK`; everything else finishes in
    /// [`Host::change_finished`] (at once, or when the peer answered the cluster-wide
    /// change), as [`Replica::request_change`] does.
    pub fn invalidate(&mut self, now_ms: u64, host: &mut impl Host) -> Result<(), RetCode> {
        self.request_full_sync(FullSyncSide::Target, now_ms, host)
    }

    /// `invalidate-remote` (`DRBD_ADM_INVAL_PEER`): the peer becomes the target of a full
    /// sync from this node; results as [`Replica::invalidate`].
    pub fn invalidate_remote(&mut self, now_ms: u64, host: &mut impl Host) -> Result<(), RetCode> {
        self.request_full_sync(FullSyncSide::Source, now_ms, host)
    }

    fn request_full_sync(
        &mut self,
        side: FullSyncSide,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), RetCode> {
        self.sync_control.clock(now_ms);
        if self.pending_change().is_some() {
            host.change_finished(Err(StateError::ConcurrentStChg));
            return Ok(());
        }
        match plan_invalidate(self.state(), side, &self.state_context()) {
            Err(AdminRefusal::Ret(code)) => return Err(code),
            Err(AdminRefusal::State(e)) => host.change_finished(Err(e)),
            Ok(InvalidatePlan::MarkAll { state }) => {
                if let Some(state) = state {
                    self.set_state(state, host);
                }
                host.mark_all_out_of_sync();
                let whose = match side {
                    FullSyncSide::Target => "local",
                    FullSyncSide::Source => "peer's",
                };
                host.log(
                    Level::Info,
                    format_args!(
                        "Marked the whole device out of sync: the next connection resyncs the {whose} disk completely"
                    ),
                );
                host.change_finished(Ok(()));
            }
            Ok(InvalidatePlan::StartFullSync { change }) => {
                self.sync_control.early_sync_uuid = None;
                self.request_change(change, false, host);
            }
        }
        Ok(())
    }

    /// `pause-sync` (`DRBD_ADM_PAUSE_SYNC`): sets `user_isp` ([`pause_sync_state`]). A running
    /// resync becomes PausedSyncS/PausedSyncT; connected, the peer learns it from our
    /// `P_STATE`.
    pub fn pause_sync(&mut self, now_ms: u64, host: &mut impl Host) -> Result<(), AdminRefusal> {
        self.sync_control.clock(now_ms);
        let ns = pause_sync_state(self.state(), &self.state_context())?;
        self.set_state(ns, host);
        Ok(())
    }

    /// `resume-sync` (`DRBD_ADM_RESUME_SYNC`): clears `user_isp` ([`resume_sync_state`]); the
    /// resync continues unless another pause flag holds it.
    pub fn resume_sync(&mut self, now_ms: u64, host: &mut impl Host) -> Result<(), AdminRefusal> {
        self.sync_control.clock(now_ms);
        let ns = resume_sync_state(self.state(), &self.state_context())?;
        self.set_state(ns, host);
        Ok(())
    }

    /// The engine's verdict on this device's `resync-after` chain ([`dependency_syncing`]):
    /// `syncing` while a device it resyncs after is resyncing or paused. Sets or clears
    /// `aftr_isp` (drbd's `drbd_pause_after` / `drbd_resume_next`, a change no rule refuses).
    /// Call it whenever the answer may have changed: after any state change of any device,
    /// after attach, and after a change of the `resync-after` option. Calls with an unchanged
    /// answer do nothing.
    pub fn dependency_syncing(&mut self, syncing: bool, now_ms: u64, host: &mut impl Host) {
        self.sync_control.clock(now_ms);
        let os = *self.state();
        // An unconfigured device keeps no pause flag (drbd skips StandAlone Diskless ones).
        if os.aftr_isp == syncing || !takes_dependency_verdict(&os) {
            return;
        }
        let ns = State {
            aftr_isp: syncing,
            ..os
        };
        self.set_state(ns, host);
    }

    /// After every state change ([`Replica::set_state`]): log and account pauses, and tell
    /// the peer when our pause flags changed (§6.3: `P_STATE` whenever `aftr_isp` or
    /// `user_isp` changes while connected).
    pub(super) fn after_state_change(&mut self, old: &State, new: &State, host: &mut impl Host) {
        let now = self.sync_control.now_ms;
        let was_sync = is_running_sync(old.conn) || is_paused_sync(old.conn);
        let is_sync = is_running_sync(new.conn) || is_paused_sync(new.conn);
        let control = &mut self.sync_control;
        if !was_sync && is_sync {
            // A new resync, possibly paused from its start.
            control.paused_ms = 0;
            control.paused_since_ms = is_paused_sync(new.conn).then_some(now);
        } else if was_sync && !is_sync {
            control.paused_ms = 0;
            control.paused_since_ms = None;
        } else if is_running_sync(old.conn) && is_paused_sync(new.conn) {
            control.paused_since_ms = Some(now);
            host.log(Level::Info, format_args!("Resync suspended"));
        } else if is_paused_sync(old.conn) && is_running_sync(new.conn) {
            control.paused_ms = control.paused_ms(now);
            control.paused_since_ms = None;
            host.log(Level::Info, format_args!("Syncer continues."));
        }
        let flags_changed = old.aftr_isp != new.aftr_isp || old.user_isp != new.user_isp;
        if flags_changed && new.conn >= ConnState::Connected {
            self.send_state_packet(host);
        }
    }

    /// Whether we wait for the peer to approve our own StartingSyncT / StartingSyncS.
    pub(super) fn awaiting_full_sync(&self) -> bool {
        self.pending_change().is_some_and(|c| {
            let conn = Field::Conn.get(c.val);
            c.mask & Field::Conn.mask() != 0
                && (conn == ConnState::StartingSyncT as u32
                    || conn == ConnState::StartingSyncS as u32)
        })
    }

    /// Our rules for a peer's request (already in our orientation) that would start a full
    /// sync ([`check_full_sync`]).
    pub(super) fn full_sync_allowed(&self, change: &StateChange) -> Result<(), StateError> {
        if change.mask & Field::Conn.mask() == 0 {
            return Ok(());
        }
        let Ok(conn) = ConnState::from_u8(Field::Conn.get(change.val) as u8) else {
            return Ok(());
        };
        check_full_sync(self.state(), conn)
    }

    /// A change just applied (ours approved by the peer, or the peer's approved by us) that
    /// entered StartingSyncT / StartingSyncS from `old_conn`: set every bit (written before
    /// anything sent from here on), then the target waits for the sync UUID and the source
    /// starts the resync (UUID rotation, `P_SYNC_UUID`).
    pub(super) fn start_full_sync(
        &mut self,
        old_conn: ConnState,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let conn = self.state().conn;
        if conn == old_conn {
            return Ok(());
        }
        match conn {
            ConnState::StartingSyncT => {
                host.mark_all_out_of_sync();
                let mut ns = *self.state();
                ns.conn = ConnState::WFSyncUUID;
                self.set_state(ns, host);
                match self.sync_control.early_sync_uuid.take() {
                    Some(uuid) => self.on_sync_uuid(uuid, now_ms, host),
                    None => Ok(()),
                }
            }
            ConnState::StartingSyncS => {
                host.mark_all_out_of_sync();
                self.start_sync_source(now_ms, host);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `P_SYNC_UUID`: kept while our own invalidate still waits for the peer's approval
    /// (the peer, as source, started on approving it), else handled at once.
    pub(super) fn on_sync_uuid_packet(
        &mut self,
        uuid: u64,
        now_ms: u64,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let waiting = self.state().conn == ConnState::Connected
            && self.pending_change().is_some_and(|c| {
                c.mask & Field::Conn.mask() != 0
                    && Field::Conn.get(c.val) == ConnState::StartingSyncT as u32
            });
        if waiting && self.sync_control.early_sync_uuid.is_none() {
            self.sync_control.early_sync_uuid = Some(uuid);
            return Ok(());
        }
        self.on_sync_uuid(uuid, now_ms, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState as C;
    use DiskState as D;

    const P: Role = Role::Primary;
    const S: Role = Role::Secondary;
    const U: Role = Role::Unknown;

    fn st(role: Role, peer: Role, conn: ConnState, disk: DiskState, pdsk: DiskState) -> State {
        State::new(role, peer, conn, disk, pdsk)
    }

    /// What a connected device's rules see (net config, agreed 101).
    fn connected_ctx() -> StateContext {
        StateContext {
            has_net_conf: true,
            agreed_pro_version: 101,
            ..StateContext::new()
        }
    }

    fn standalone_ctx() -> StateContext {
        StateContext::new()
    }

    fn refused(e: StateError) -> Result<InvalidatePlan, AdminRefusal> {
        Err(AdminRefusal::State(e))
    }

    #[test]
    fn outdate_follows_the_state_rules() {
        // A StandAlone Secondary with good data: Outdated.
        for disk in [D::UpToDate, D::Consistent] {
            let os = st(S, U, C::StandAlone, disk, D::DUnknown);
            assert_eq!(
                outdate_state(&os, &standalone_ctx()),
                Ok(Some(State {
                    disk: D::Outdated,
                    ..os
                })),
                "{disk}"
            );
        }
        // Outdated already: nothing to do.
        let os = st(S, U, C::StandAlone, D::Outdated, D::DUnknown);
        assert_eq!(outdate_state(&os, &standalone_ctx()), Ok(None));
        // A Primary would outdate its only data (drbdsetup's exit 17).
        let os = st(P, U, C::StandAlone, D::UpToDate, D::DUnknown);
        assert_eq!(
            outdate_state(&os, &standalone_ctx()),
            Err(AdminRefusal::State(StateError::NoUpToDateDisk))
        );
        // Below Outdated (exit 5, drbdadm-84 then tries drbdmeta).
        for disk in [D::Diskless, D::Inconsistent] {
            let os = st(S, U, C::StandAlone, disk, D::DUnknown);
            assert_eq!(
                outdate_state(&os, &standalone_ctx()),
                Err(AdminRefusal::State(StateError::LowerThanOutdated)),
                "{disk}"
            );
        }
        // Connected to a peer: drbd's sanitize_state undoes it ("D_CONSISTENT and D_OUTDATED
        // vanish when we get connected"), so there is nothing to do and the disk stays.
        let os = st(S, S, C::Connected, D::UpToDate, D::UpToDate);
        assert_eq!(outdate_state(&os, &connected_ctx()), Ok(None));
        // Waiting for the peer: allowed (the node fences itself).
        let os = st(S, U, C::WFConnection, D::UpToDate, D::DUnknown);
        assert_eq!(
            outdate_state(&os, &connected_ctx()).map(|s| s.map(|s| s.disk)),
            Ok(Some(D::Outdated))
        );
    }

    #[test]
    fn invalidate_needs_a_local_disk() {
        for disk in [D::Diskless, D::Attaching, D::Failed, D::Negotiating] {
            for side in [FullSyncSide::Target, FullSyncSide::Source] {
                let os = st(S, U, C::StandAlone, disk, D::DUnknown);
                assert_eq!(
                    plan_invalidate(&os, side, &standalone_ctx()),
                    Err(AdminRefusal::Ret(RetCode::ErrNoDisk)),
                    "{disk} {side:?}"
                );
            }
        }
        assert_eq!(AdminRefusal::Ret(RetCode::ErrNoDisk).code(), 138);
    }

    #[test]
    fn invalidate_on_a_standalone_secondary_makes_the_disk_inconsistent() {
        for disk in [D::UpToDate, D::Outdated, D::Consistent] {
            let os = st(S, U, C::StandAlone, disk, D::DUnknown);
            let plan = plan_invalidate(&os, FullSyncSide::Target, &standalone_ctx());
            let expected = State {
                disk: D::Inconsistent,
                ..os
            };
            assert_eq!(
                plan,
                Ok(InvalidatePlan::MarkAll {
                    state: Some(expected)
                })
            );
        }
        // Already Inconsistent: nothing to change, the bitmap is still set (drbd's
        // SS_NOTHING_TO_DO counts as success).
        let os = st(S, U, C::StandAlone, D::Inconsistent, D::DUnknown);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Target, &standalone_ctx()),
            Ok(InvalidatePlan::MarkAll { state: None })
        );
    }

    #[test]
    fn invalidate_remote_on_a_standalone_primary_makes_the_peer_disk_inconsistent() {
        let os = st(P, U, C::StandAlone, D::UpToDate, D::DUnknown);
        let expected = State {
            pdsk: D::Inconsistent,
            ..os
        };
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Source, &standalone_ctx()),
            Ok(InvalidatePlan::MarkAll {
                state: Some(expected)
            })
        );
    }

    #[test]
    fn without_a_connection_the_other_role_needs_one() {
        // drbd requests StartingSyncT/S, which StandAlone and WFConnection cannot enter.
        let cases = [
            (
                st(P, U, C::StandAlone, D::UpToDate, D::DUnknown),
                FullSyncSide::Target,
            ),
            (
                st(S, U, C::StandAlone, D::UpToDate, D::DUnknown),
                FullSyncSide::Source,
            ),
            (
                st(S, U, C::WFConnection, D::UpToDate, D::DUnknown),
                FullSyncSide::Target,
            ),
            (
                st(P, U, C::WFConnection, D::UpToDate, D::DUnknown),
                FullSyncSide::Source,
            ),
        ];
        for (os, side) in cases {
            assert_eq!(
                plan_invalidate(&os, side, &connected_ctx()),
                refused(StateError::NeedConnection),
                "{os:?} {side:?}"
            );
        }
        assert_eq!(StateError::NeedConnection.code(), -15);
    }

    #[test]
    fn connected_invalidate_requests_the_starting_sync_state() {
        let os = st(S, P, C::Connected, D::UpToDate, D::UpToDate);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Target, &connected_ctx()),
            Ok(InvalidatePlan::StartFullSync {
                change: StateChange::new().conn(C::StartingSyncT)
            })
        );
        let os = st(P, S, C::Connected, D::UpToDate, D::UpToDate);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Source, &connected_ctx()),
            Ok(InvalidatePlan::StartFullSync {
                change: StateChange::new().conn(C::StartingSyncS)
            })
        );
        // The request goes out as wire-protocol.md §6.3 lays out mask and val.
        let change = StateChange::new().conn(C::StartingSyncT);
        assert_eq!((change.mask, change.val), (0x1f0, 12 << 4));
        // The peer reads it mirrored (§6.4: StartingSyncS ↔ StartingSyncT).
        assert_eq!(
            change.from_peer(),
            StateChange::new().conn(C::StartingSyncS)
        );
    }

    #[test]
    fn a_running_resync_refuses_a_new_full_sync() {
        for conn in [
            C::SyncSource,
            C::SyncTarget,
            C::PausedSyncS,
            C::PausedSyncT,
            C::WFBitMapS,
        ] {
            let (disk, pdsk) = if matches!(conn, C::SyncTarget | C::PausedSyncT) {
                (D::Inconsistent, D::UpToDate)
            } else {
                (D::UpToDate, D::Inconsistent)
            };
            let os = st(S, S, conn, disk, pdsk);
            for side in [FullSyncSide::Target, FullSyncSide::Source] {
                let plan = plan_invalidate(&os, side, &connected_ctx());
                assert!(
                    matches!(
                        plan,
                        Err(AdminRefusal::State(
                            StateError::ResyncRunning | StateError::NoUpToDateDisk
                        ))
                    ),
                    "{conn} {side:?}: {plan:?}"
                );
            }
        }
        // The drbd rule itself: StartingSync from a sync state.
        let os = st(S, S, C::SyncSource, D::UpToDate, D::Inconsistent);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Source, &connected_ctx()),
            refused(StateError::ResyncRunning)
        );
    }

    #[test]
    fn the_source_of_a_full_sync_needs_up_to_date_data() {
        // invalidate: the peer must have UpToDate data.
        for pdsk in [D::Inconsistent, D::Outdated, D::Consistent] {
            let os = st(S, S, C::Connected, D::UpToDate, pdsk);
            assert_eq!(
                plan_invalidate(&os, FullSyncSide::Target, &connected_ctx()),
                refused(StateError::NoUpToDateDisk),
                "{pdsk}"
            );
        }
        // invalidate-remote: this node must have UpToDate data.
        let os = st(S, S, C::Connected, D::Inconsistent, D::UpToDate);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Source, &connected_ctx()),
            refused(StateError::NoUpToDateDisk)
        );
        assert_eq!(
            check_full_sync(&os, C::StartingSyncS),
            Err(StateError::NoUpToDateDisk)
        );
        assert_eq!(check_full_sync(&os, C::StartingSyncT), Ok(()));
        assert_eq!(check_full_sync(&os, C::Connected), Ok(()));
        assert_eq!(
            StateError::NoUpToDateDisk.message(),
            "Need access to UpToDate data"
        );
    }

    #[test]
    fn a_primary_does_not_become_sync_target() {
        let os = st(P, S, C::Connected, D::UpToDate, D::UpToDate);
        assert_eq!(
            plan_invalidate(&os, FullSyncSide::Target, &connected_ctx()),
            refused(StateError::NoUpToDateDisk)
        );
        // Nor when its peer asks (the peer's invalidate-remote arrives as StartingSyncT).
        assert_eq!(
            check_full_sync(&os, C::StartingSyncT),
            Err(StateError::NoUpToDateDisk)
        );
        // A Secondary whose peer is Primary becomes target as usual.
        let os = st(S, P, C::Connected, D::UpToDate, D::UpToDate);
        assert_eq!(check_full_sync(&os, C::StartingSyncT), Ok(()));
    }

    #[test]
    fn pause_sync_sets_the_user_flag_once() {
        let os = st(S, P, C::SyncTarget, D::Inconsistent, D::UpToDate);
        let ns = pause_sync_state(&os, &connected_ctx()).expect("pause");
        assert!(ns.user_isp);
        assert_eq!(
            ns.conn,
            C::PausedSyncT,
            "a set flag pauses the running resync"
        );
        assert_eq!(
            pause_sync_state(&ns, &connected_ctx()),
            Err(AdminRefusal::Ret(RetCode::ErrPauseIsSet))
        );
        // Without a resync the flag is set all the same (the next resync starts paused).
        let os = st(S, P, C::Connected, D::UpToDate, D::UpToDate);
        let ns = pause_sync_state(&os, &connected_ctx()).expect("pause");
        assert!(ns.user_isp);
        assert_eq!(ns.conn, C::Connected);
        let ns = pause_sync_state(
            &st(S, U, C::StandAlone, D::UpToDate, D::DUnknown),
            &standalone_ctx(),
        )
        .expect("pause");
        assert!(ns.user_isp);
    }

    #[test]
    fn resume_sync_clears_the_user_flag_and_says_why_a_resync_stays_paused() {
        let mut os = st(P, S, C::PausedSyncS, D::UpToDate, D::Inconsistent);
        os.user_isp = true;
        let ns = resume_sync_state(&os, &connected_ctx()).expect("resume");
        assert!(!ns.user_isp);
        assert_eq!(ns.conn, C::SyncSource);
        assert_eq!(
            resume_sync_state(&ns, &connected_ctx()),
            Err(AdminRefusal::Ret(RetCode::ErrPauseIsClear))
        );
        // Paused by both the dependency and the peer: the dependency is named first.
        let mut os = st(P, S, C::PausedSyncS, D::UpToDate, D::Inconsistent);
        os.aftr_isp = true;
        os.peer_isp = true;
        assert_eq!(
            resume_sync_state(&os, &connected_ctx()),
            Err(AdminRefusal::Ret(RetCode::ErrPicAfterDep))
        );
        os.aftr_isp = false;
        assert_eq!(
            resume_sync_state(&os, &connected_ctx()),
            Err(AdminRefusal::Ret(RetCode::ErrPicPeerDep))
        );
        // A peer flag outside a paused resync does not count.
        let mut os = st(S, S, C::Connected, D::UpToDate, D::UpToDate);
        os.peer_isp = true;
        assert_eq!(
            resume_sync_state(&os, &connected_ctx()),
            Err(AdminRefusal::Ret(RetCode::ErrPauseIsClear))
        );
        // Resuming with another flag still set: cleared, still paused.
        let mut os = st(S, P, C::PausedSyncT, D::Inconsistent, D::UpToDate);
        os.user_isp = true;
        os.peer_isp = true;
        let ns = resume_sync_state(&os, &connected_ctx()).expect("resume");
        assert!(!ns.user_isp);
        assert_eq!(ns.conn, C::PausedSyncT);
    }

    fn node(conn: ConnState, resync_after: i32) -> DependencyNode {
        DependencyNode {
            state: st(S, S, conn, D::UpToDate, D::UpToDate),
            has_disk: true,
            resync_after,
        }
    }

    /// A device table: index = minor.
    fn table(nodes: &[DependencyNode]) -> impl Fn(u32) -> Option<DependencyNode> + '_ {
        move |minor| nodes.get(minor as usize).copied()
    }

    #[test]
    fn a_device_waits_while_the_device_it_resyncs_after_resyncs_or_is_paused() {
        for conn in [
            C::SyncSource,
            C::SyncTarget,
            C::PausedSyncS,
            C::PausedSyncT,
            C::VerifyS,
            C::VerifyT,
        ] {
            let devices = [node(conn, RESYNC_AFTER_NONE), node(C::Connected, 0)];
            assert!(dependency_syncing(1, table(&devices)), "{conn}");
            // The dependency itself depends on nothing.
            assert!(!dependency_syncing(0, table(&devices)), "{conn}");
        }
        for conn in [C::Connected, C::WFConnection, C::StandAlone, C::WFBitMapS] {
            let devices = [node(conn, RESYNC_AFTER_NONE), node(C::Connected, 0)];
            assert!(!dependency_syncing(1, table(&devices)), "{conn}");
        }
    }

    #[test]
    fn any_pause_flag_of_the_dependency_holds_back_too() {
        for flag in [Field::AftrIsp, Field::PeerIsp, Field::UserIsp] {
            let mut dep = node(C::Connected, RESYNC_AFTER_NONE);
            dep.state = StateChange::new()
                .flag(flag, true)
                .apply(&dep.state)
                .expect("flag");
            let devices = [dep, node(C::Connected, 0)];
            assert!(dependency_syncing(1, table(&devices)), "{flag:?}");
        }
    }

    #[test]
    fn the_chain_is_followed_transitively_and_ends_at_a_missing_disk_or_minor() {
        // 2 after 1 after 0; 0 syncs.
        let devices = [
            node(C::SyncSource, RESYNC_AFTER_NONE),
            node(C::Connected, 0),
            node(C::Connected, 1),
        ];
        assert!(dependency_syncing(2, table(&devices)));
        // 1 has no disk: the chain cannot be followed through it.
        let mut without_disk = devices;
        without_disk[1].has_disk = false;
        assert!(!dependency_syncing(2, table(&without_disk)));
        without_disk[1].has_disk = true;
        without_disk[1].state.disk = D::Diskless;
        assert!(!dependency_syncing(2, table(&without_disk)));
        // A device without a disk does not wait at all.
        let mut own = devices;
        own[2].has_disk = false;
        assert!(!dependency_syncing(2, table(&own)));
        // A minor that does not exist ends the chain.
        let devices = [node(C::Connected, 7)];
        assert!(!dependency_syncing(0, table(&devices)));
        assert!(!dependency_syncing(5, table(&devices)));
    }

    #[test]
    fn resync_after_none_and_acyclic_chains_are_valid() {
        let devices = [
            node(C::Connected, RESYNC_AFTER_NONE),
            node(C::Connected, 0),
            node(C::Connected, 1),
        ];
        assert_eq!(
            check_resync_after(0, RESYNC_AFTER_NONE, table(&devices)),
            Ok(())
        );
        assert_eq!(check_resync_after(3, 2, table(&devices)), Ok(()));
        // Naming a minor that does not exist (yet) is allowed.
        assert_eq!(check_resync_after(0, 40, table(&devices)), Ok(()));
    }

    #[test]
    fn resync_after_out_of_range_is_err_resync_after() {
        let devices = [node(C::Connected, RESYNC_AFTER_NONE)];
        for bad in [-2, i32::MIN, RESYNC_AFTER_MAX + 1, i32::MAX] {
            assert_eq!(
                check_resync_after(0, bad, table(&devices)),
                Err(RetCode::ErrResyncAfter),
                "{bad}"
            );
        }
        assert_eq!(RESYNC_AFTER_MAX, (1 << 20) - 1);
        assert_eq!(
            check_resync_after(0, RESYNC_AFTER_MAX, table(&devices)),
            Ok(())
        );
        assert_eq!(RetCode::ErrResyncAfter.code(), 132);
    }

    #[test]
    fn a_resync_after_cycle_is_refused() {
        // 0 after itself.
        let devices = [node(C::Connected, RESYNC_AFTER_NONE)];
        assert_eq!(
            check_resync_after(0, 0, table(&devices)),
            Err(RetCode::ErrResyncAfterCycle)
        );
        // 0 after 2 while 2 is after 1 and 1 after 0.
        let devices = [
            node(C::Connected, RESYNC_AFTER_NONE),
            node(C::Connected, 0),
            node(C::Connected, 1),
        ];
        assert_eq!(
            check_resync_after(0, 2, table(&devices)),
            Err(RetCode::ErrResyncAfterCycle)
        );
        // Through a device without a disk the chain is not followed: no cycle seen.
        let mut broken = devices;
        broken[1].has_disk = false;
        assert_eq!(check_resync_after(0, 2, table(&broken)), Ok(()));
        // A loop among others (a broken configuration) does not hang.
        let looped = [
            node(C::Connected, RESYNC_AFTER_NONE),
            node(C::Connected, 2),
            node(C::SyncSource, 1),
        ];
        assert_eq!(
            check_resync_after(0, 1, table(&looped)),
            Err(RetCode::ErrResyncAfterCycle)
        );
        assert!(dependency_syncing(1, table(&looped)));
        assert_eq!(RetCode::ErrResyncAfterCycle.code(), 133);
    }

    fn entry(minor: u32, conn: ConnState, resync_after: i32) -> DependencyEntry {
        DependencyEntry {
            minor,
            node: node(conn, resync_after),
        }
    }

    /// What a replica does with a verdict ([`Replica::dependency_syncing`] on a `State`):
    /// set or clear `aftr_isp`; the sanitizing pauses or resumes a running resync.
    fn take_verdict(s: &State, verdict: bool) -> State {
        let mut ns = *s;
        ns.aftr_isp = verdict;
        let paused = ns.aftr_isp || ns.peer_isp || ns.user_isp;
        ns.conn = match (ns.conn, paused) {
            (C::SyncSource, true) => C::PausedSyncS,
            (C::SyncTarget, true) => C::PausedSyncT,
            (C::PausedSyncS, false) => C::SyncSource,
            (C::PausedSyncT, false) => C::SyncTarget,
            (c, _) => c,
        };
        ns
    }

    /// A pass over `entries` whose devices take their verdicts as a replica does; returns
    /// the verdicts given, per index.
    fn pass(entries: &mut [DependencyEntry]) -> ([Option<bool>; 8], usize) {
        let mut seen = [None; 8];
        let applied = settle_dependencies(entries, |i, s, v| {
            seen[i] = Some(v);
            take_verdict(s, v)
        });
        (seen, applied)
    }

    #[test]
    fn a_pass_pauses_the_devices_behind_a_resync_and_resumes_them_after_it() {
        // Minors in any order: 5 after 3 after 1; 1 resyncs; 7 is on its own.
        let mut entries = [
            entry(5, C::SyncTarget, 3),
            entry(7, C::SyncTarget, RESYNC_AFTER_NONE),
            entry(3, C::SyncTarget, 1),
            entry(1, C::SyncTarget, RESYNC_AFTER_NONE),
        ];
        let (seen, applied) = pass(&mut entries);
        assert_eq!(applied, 2, "5 and 3 pause");
        assert_eq!(seen[..4], [Some(true), None, Some(true), None]);
        for i in [0, 2] {
            assert_eq!(entries[i].node.state.conn, C::PausedSyncT);
            assert!(entries[i].node.state.aftr_isp);
        }
        for i in [1, 3] {
            assert_eq!(entries[i].node.state.conn, C::SyncTarget);
            assert!(!entries[i].node.state.aftr_isp);
        }
        // A second pass has nothing to do.
        assert_eq!(pass(&mut entries).1, 0);

        // 1 finished: 3 resumes; 5 still waits, now for 3.
        entries[3].node.state.conn = C::Connected;
        let (seen, applied) = pass(&mut entries);
        assert_eq!((applied, seen[2]), (1, Some(false)));
        assert_eq!(entries[2].node.state.conn, C::SyncTarget);
        assert_eq!(entries[0].node.state.conn, C::PausedSyncT);
        // 3 finished: 5 resumes.
        entries[2].node.state.conn = C::Connected;
        let (seen, applied) = pass(&mut entries);
        assert_eq!((applied, seen[0]), (1, Some(false)));
        assert_eq!(entries[0].node.state.conn, C::SyncTarget);
        assert!(!entries[0].node.state.aftr_isp);
    }

    #[test]
    fn a_stale_flag_is_cleared_along_the_chain_in_one_pass() {
        // 2 after 1 after 0; 0 no longer resyncs, but 1 and 2 still carry the flag (no
        // resync of their own yet). The sweep sees 2 before 1: 2 keeps waiting for 1's stale
        // flag until 1 is cleared, then the next sweep clears 2.
        let mut entries = [
            entry(2, C::Connected, 1),
            entry(1, C::Connected, 0),
            entry(0, C::Connected, RESYNC_AFTER_NONE),
        ];
        for i in [0, 1] {
            entries[i].node.state.aftr_isp = true;
        }
        let (seen, applied) = pass(&mut entries);
        assert_eq!(applied, 2);
        assert_eq!(seen[..3], [Some(false), Some(false), None]);
        assert!(entries.iter().all(|e| !e.node.state.aftr_isp));
        // A paused resync holds the next device back though, whatever its flags.
        let mut entries = [
            entry(1, C::Connected, 0),
            entry(0, C::PausedSyncT, RESYNC_AFTER_NONE),
        ];
        let (seen, _) = pass(&mut entries);
        assert_eq!(seen[..2], [Some(true), None]);
        assert!(entries[0].node.state.aftr_isp);
    }

    #[test]
    fn devices_without_a_configuration_get_no_verdict() {
        // StandAlone Diskless: no flag, whatever its chain says.
        let mut lone = node(C::StandAlone, 1);
        lone.state.disk = D::Diskless;
        lone.has_disk = false;
        let entries = [
            DependencyEntry {
                minor: 0,
                node: lone,
            },
            entry(1, C::SyncSource, RESYNC_AFTER_NONE),
        ];
        assert_eq!(dependency_verdict(&entries, 0), None);
        assert_eq!(dependency_verdict(&entries, 1), Some(false));
        assert_eq!(dependency_verdict(&entries, 2), None);
        // A StandAlone device with a disk gets one (drbd shows its `a` flag too).
        let entries = [
            entry(0, C::StandAlone, 1),
            entry(1, C::SyncSource, RESYNC_AFTER_NONE),
        ];
        assert_eq!(dependency_verdict(&entries, 0), Some(true));
        assert!(!takes_dependency_verdict(&lone.state));
    }

    #[test]
    fn a_pass_ends_when_a_device_does_not_take_its_verdict_or_on_a_cycle() {
        // A link shutting down keeps its state: tried once, no endless sweeps.
        let mut entries = [
            entry(0, C::SyncTarget, 1),
            entry(1, C::SyncSource, RESYNC_AFTER_NONE),
        ];
        let mut calls = 0;
        let applied = settle_dependencies(&mut entries, |_, s, _| {
            calls += 1;
            *s
        });
        assert_eq!((applied, calls), (1, 1));
        // A cycle (refused by validation, so only a broken configuration has one): 0 after 1
        // after 0, both resyncing. Each holds the other back; the pass ends.
        let mut entries = [entry(0, C::SyncTarget, 1), entry(1, C::SyncTarget, 0)];
        let (_, applied) = pass(&mut entries);
        assert!(applied <= 2 * entries.len() + 2, "{applied}");
        // And a pass over nothing does nothing.
        assert_eq!(pass(&mut []).1, 0);
    }

    #[test]
    fn pause_time_is_accounted_per_resync() {
        let mut c = SyncControl::new();
        assert_eq!(c.paused_ms(100), 0);
        c.paused_since_ms = Some(1_000);
        assert_eq!(c.paused_ms(1_500), 500);
        c.paused_ms = 200;
        assert_eq!(c.paused_ms(1_500), 700);
        c.early_sync_uuid = Some(7);
        c.connection_lost();
        assert_eq!(c, SyncControl::new());
    }
}
