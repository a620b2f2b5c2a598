// SPDX-License-Identifier: GPL-2.0
//! From the UUID comparison to the connection state: drbd's sync handshake, split brain
//! recovery included.
//!
//! Spec: `wire-protocol.md` §7.4 and §8. Run when the peer's `P_STATE` completes a new
//! connection's parameter exchange. [`super::super::uuid::uuid_compare`] says which generation
//! is newer; this step overrides it by the disk states (an Inconsistent disk is always the
//! target), resolves a split brain — automatically by the `after-sb-0pri/1pri/2pri` policies
//! (for a −100 result only with `always-asbp`), then manually by `discard-my-data` — refuses
//! what would destroy good data, and yields the connection state to enter and whether the
//! whole device must be resynced.
//!
//! Pure: everything the decision looks at is in [`HandshakeInput`] (the caller knows in advance
//! whether a demotion would be allowed), and everything it wants done on the way — log lines,
//! user-mode helpers, the demotion `call-pri-lost-after-sb` asks of a losing Primary — comes
//! back as an ordered list of [`Event`]s that the caller carries out in that order.
//!
//! Both nodes decide on their own, from the same facts seen from either side (roles, the bit 0
//! of both bitmap UUIDs, both "changes" counts as exchanged in `P_UUIDS`, and the
//! resolve-conflicts flag that exactly one of them holds), so every policy yields mirrored
//! results: one node syncs from "this node", the other from the "peer node".
//!
//! Deliberate difference: drbd 8.4 attempts the `call-pri-lost-after-sb` demotion as an
//! ordinary state change, which during the initial handshake its `STATE_SENT` guard always
//! refuses (`SS_IN_TRANSIENT_STATE`, meant for administrator role changes racing the
//! handshake), so there the helper runs every time. Here the demotion is checked by every
//! other state rule (a device held open still refuses it), so an idle Primary gives up its
//! role as the policy intends.

use super::super::state::{ConnState, DiskState, Role, StateError};
use super::super::uuid::{Comparison, SyncDecision};
use super::connection::Level;

/// What one node knows at the handshake (its own view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeInput {
    /// `uuid_compare` on the own UUIDs and the peer's.
    pub comparison: Comparison,
    /// The own disk state as it will be after negotiation.
    pub my_disk: DiskState,
    /// The peer's disk state (Negotiating already resolved through its UUID flag 4).
    pub peer_disk: DiskState,
    /// The own role.
    pub my_role: Role,
    /// This node's `connect --discard-my-data`.
    pub discard_my_data: bool,
    /// The peer's UUID flag 1 (`discard-my-data` on its side).
    pub peer_discard_my_data: bool,
    /// `rr-conflict` policy of the own net config.
    pub rr_conflict: RrConflict,
    /// `--dry-run` on either side.
    pub dry_run: bool,
    /// What the after-sb policies look at.
    pub split_brain: SplitBrainView,
}

/// The facts the after-sb policies decide on (§8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitBrainView {
    /// The peer's role (from its `P_STATE`).
    pub peer_role: Role,
    /// `after-sb-0pri`, `after-sb-1pri`, `after-sb-2pri` (wire values, [`AfterSb`]).
    pub after_sb: [u32; 3],
    /// `always-asbp`: apply the policies to a −100 result too (then as a full sync).
    pub always_asbp: bool,
    /// The own bitmap UUID; its bit 0 says "I was Primary when this generation started".
    pub my_bitmap_uuid: u64,
    /// The peer's bitmap UUID (bit 0 as sent).
    pub peer_bitmap_uuid: u64,
    /// Own changes: the bitmap weight sent in our `P_UUIDS` (`UI_SIZE`).
    pub my_changes: u64,
    /// The peer's changes: `UI_SIZE` of its `P_UUIDS`.
    pub peer_changes: u64,
    /// This node holds the resolve-conflicts flag (the tie-breaker: it is discarded).
    pub resolve_conflicts: bool,
    /// Whether this node could give up the Primary role now (`Ok` when not Primary):
    /// `call-pri-lost-after-sb` demotes a losing Primary only if this allows it.
    pub demote: Result<(), StateError>,
}

impl SplitBrainView {
    /// No Primary, every policy `disconnect`, no changes, nothing known.
    pub const NONE: SplitBrainView = SplitBrainView {
        peer_role: Role::Secondary,
        after_sb: [0; 3],
        always_asbp: false,
        my_bitmap_uuid: 0,
        peer_bitmap_uuid: 0,
        my_changes: 0,
        peer_changes: 0,
        resolve_conflicts: false,
        demote: Ok(()),
    };
}

/// `rr-conflict`: what a Primary with good data does when it would become SyncTarget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RrConflict {
    /// Drop the connection (default).
    #[default]
    Disconnect,
    /// Run the `pri-lost` helper, then drop the connection.
    CallPriLost,
    /// Sync anyway, overwriting the Primary's data.
    Violently,
}

/// An after-sb policy (`enum drbd_after_sb_p`, the values `P_PROTOCOL` carries, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSb {
    /// 0 `disconnect`: no automatic resolution (all three columns).
    Disconnect,
    /// 1 `discard-younger-primary` (0pri).
    DiscardYoungerPrimary,
    /// 2 `discard-older-primary` (0pri).
    DiscardOlderPrimary,
    /// 3 `discard-zero-changes` (0pri).
    DiscardZeroChanges,
    /// 4 `discard-least-changes` (0pri).
    DiscardLeastChanges,
    /// 5 `discard-local` (0pri).
    DiscardLocal,
    /// 6 `discard-remote` (0pri).
    DiscardRemote,
    /// 7 `consensus` (1pri).
    Consensus,
    /// 8 `discard-secondary` (1pri).
    DiscardSecondary,
    /// 9 `call-pri-lost-after-sb` (1pri, 2pri).
    CallPriLostAfterSb,
    /// 10 `violently-as0p` (1pri, 2pri).
    ViolentlyAs0p,
}

impl AfterSb {
    /// Every policy, in wire order.
    pub const ALL: [AfterSb; 11] = [
        AfterSb::Disconnect,
        AfterSb::DiscardYoungerPrimary,
        AfterSb::DiscardOlderPrimary,
        AfterSb::DiscardZeroChanges,
        AfterSb::DiscardLeastChanges,
        AfterSb::DiscardLocal,
        AfterSb::DiscardRemote,
        AfterSb::Consensus,
        AfterSb::DiscardSecondary,
        AfterSb::CallPriLostAfterSb,
        AfterSb::ViolentlyAs0p,
    ];

    /// The policy with wire value `v` (`None`: a value drbd knows no policy for; like drbd,
    /// it resolves nothing).
    pub const fn from_wire(v: u32) -> Option<AfterSb> {
        if v < 11 {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// The wire value.
    pub const fn wire(self) -> u32 {
        self as u32
    }

    /// The config keyword.
    pub const fn name(self) -> &'static str {
        match self {
            AfterSb::Disconnect => "disconnect",
            AfterSb::DiscardYoungerPrimary => "discard-younger-primary",
            AfterSb::DiscardOlderPrimary => "discard-older-primary",
            AfterSb::DiscardZeroChanges => "discard-zero-changes",
            AfterSb::DiscardLeastChanges => "discard-least-changes",
            AfterSb::DiscardLocal => "discard-local",
            AfterSb::DiscardRemote => "discard-remote",
            AfterSb::Consensus => "consensus",
            AfterSb::DiscardSecondary => "discard-secondary",
            AfterSb::CallPriLostAfterSb => "call-pri-lost-after-sb",
            AfterSb::ViolentlyAs0p => "violently-as0p",
        }
    }
}

/// Whose data survives a resolved split brain (drbd's "Sync from {this|peer} node").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFrom {
    /// This node's data wins: it becomes SyncSource.
    ThisNode,
    /// The peer's data wins: this node is discarded and becomes SyncTarget.
    PeerNode,
}

impl SyncFrom {
    const fn text(self) -> &'static str {
        match self {
            SyncFrom::ThisNode => "this",
            SyncFrom::PeerNode => "peer",
        }
    }
}

/// How the direction was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The UUIDs decided.
    Uuids,
    /// "Becoming sync source due to disk states." / "… target …"
    DiskStates,
    /// "Split-Brain detected, N primaries, automatically solved. Sync from {peer|this} node"
    SplitBrainAuto {
        /// Primaries at the handshake (which after-sb column applied).
        primaries: u8,
    },
    /// "Split-Brain detected, manually solved. Sync from {peer|this} node"
    SplitBrainManual,
    /// "Becoming SyncTarget, violating the stable-data assumption" (`rr-conflict violently`).
    ViolatingStableData,
}

/// A user-mode helper the kernel calls on the way (`<helper> <name> minor-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    /// `initial-split-brain`: a split brain was detected (resolved or not).
    InitialSplitBrain,
    /// `split-brain`: it could not be resolved.
    SplitBrain,
    /// `pri-lost-after-sb`: `call-pri-lost-after-sb` chose this Primary's data to be
    /// discarded, and it could not give up its role.
    PriLostAfterSb,
    /// `pri-lost`: `rr-conflict call-pri-lost`.
    PriLost,
    /// `out-of-sync`: an online verify finished and blocks are out of sync.
    OutOfSync,
    /// `after-resync-target`: this node's resync as SyncTarget finished (the fencing guide
    /// runs `crm-unfence-peer.sh` here).
    AfterResyncTarget,
    /// `unfence-peer`: this node's resync as SyncSource finished with a fencing policy and
    /// both disks UpToDate.
    UnfencePeer,
    /// `before-resync-target`: waited for before becoming SyncTarget
    /// ([`super::resync_handlers`]).
    BeforeResyncTarget,
    /// `before-resync-source`: waited for before becoming SyncSource.
    BeforeResyncSource,
}

impl Helper {
    /// The helper's command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Helper::InitialSplitBrain => "initial-split-brain",
            Helper::SplitBrain => "split-brain",
            Helper::PriLostAfterSb => "pri-lost-after-sb",
            Helper::PriLost => "pri-lost",
            Helper::OutOfSync => "out-of-sync",
            Helper::AfterResyncTarget => "after-resync-target",
            Helper::UnfencePeer => "unfence-peer",
            Helper::BeforeResyncTarget => "before-resync-target",
            Helper::BeforeResyncSource => "before-resync-source",
        }
    }
}

/// Why the connection attempt fails (each is drbd's kernel log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// "Unrelated data, aborting!"
    UnrelatedData,
    /// "To resolve this both sides have to support at least protocol N"
    NeedProtocol(u32),
    /// "To resolve this both sides have to support at least protocol P and feature flags F"
    NeedFeatures {
        /// Protocol version.
        proto: u32,
        /// `DRBD_FF_*` flags.
        features: u32,
    },
    /// "Split-Brain detected but unresolved, dropping connection!"
    SplitBrain,
    /// "I shall become SyncSource, but I am inconsistent!"
    SourceInconsistent,
    /// "I shall become SyncTarget, but I am primary!"
    TargetPrimary,
    /// `--dry-run`: nothing is changed.
    DryRun,
}

impl core::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandshakeFailure::UnrelatedData => f.write_str("Unrelated data, aborting!"),
            HandshakeFailure::NeedProtocol(p) => write!(
                f,
                "To resolve this both sides have to support at least protocol {p}"
            ),
            HandshakeFailure::NeedFeatures { proto, features } => write!(
                f,
                "To resolve this both sides have to support at least protocol {proto} and feature flags 0x{features:x}"
            ),
            HandshakeFailure::SplitBrain => {
                f.write_str("Split-Brain detected but unresolved, dropping connection!")
            }
            HandshakeFailure::SourceInconsistent => {
                f.write_str("I shall become SyncSource, but I am inconsistent!")
            }
            HandshakeFailure::TargetPrimary => {
                f.write_str("I shall become SyncTarget, but I am primary!")
            }
            HandshakeFailure::DryRun => f.write_str("dry-run connect: nothing changed"),
        }
    }
}

/// A kernel log line of the handshake (the text is drbd's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// "Becoming sync {source|target} due to disk states."
    DiskStates {
        /// This node becomes the source.
        source: bool,
    },
    /// "Configuration error.": a policy in a column it is not allowed in.
    ConfigurationError,
    /// discard-younger/older-primary found both or neither bitmap UUID with bit 0 and falls
    /// through to the change counts (two lines, as drbd prints them).
    NoPrimaryAgeDecision,
    /// "State change failed: …": the demotion `call-pri-lost-after-sb` asked for.
    DemoteFailed(StateError),
    /// "Successfully gave up primary role."
    GaveUpPrimary,
    /// "Split-Brain detected, N primaries, automatically solved. Sync from X node"
    AutoSolved {
        /// Primaries at the handshake.
        primaries: u8,
        /// The survivor.
        from: SyncFrom,
    },
    /// "Doing a full sync, since UUIDs where ambiguous." (sic; a −100 solved by `always-asbp`)
    FullSyncAmbiguous,
    /// "Split-Brain detected, manually solved. Sync from X node"
    ManuallySolved {
        /// The survivor.
        from: SyncFrom,
    },
    /// "Becoming SyncTarget, violating the stable-data assumption"
    ViolatingStableData,
    /// "Writing the whole bitmap, full sync required after drbd_sync_handshake."
    WritingWholeBitmap,
    /// The handshake fails with this line.
    Failed(HandshakeFailure),
}

impl Note {
    /// The severity drbd gives the line.
    pub const fn level(self) -> Level {
        match self {
            Note::DiskStates { .. } | Note::WritingWholeBitmap => Level::Info,
            Note::Failed(HandshakeFailure::DryRun) => Level::Info,
            Note::ConfigurationError | Note::DemoteFailed(_) | Note::Failed(_) => Level::Err,
            Note::NoPrimaryAgeDecision
            | Note::GaveUpPrimary
            | Note::AutoSolved { .. }
            | Note::FullSyncAmbiguous
            | Note::ManuallySolved { .. }
            | Note::ViolatingStableData => Level::Warn,
        }
    }
}

impl core::fmt::Display for Note {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Note::DiskStates { source } => write!(
                f,
                "Becoming sync {} due to disk states.",
                if *source { "source" } else { "target" }
            ),
            Note::ConfigurationError => f.write_str("Configuration error."),
            Note::NoPrimaryAgeDecision => f.write_str(
                "Discard younger/older primary did not find a decision\nUsing discard-least-changes instead",
            ),
            Note::DemoteFailed(e) => write!(f, "State change failed: {e}"),
            Note::GaveUpPrimary => f.write_str("Successfully gave up primary role."),
            Note::AutoSolved { primaries, from } => write!(
                f,
                "Split-Brain detected, {primaries} primaries, automatically solved. Sync from {} node",
                from.text()
            ),
            Note::FullSyncAmbiguous => {
                f.write_str("Doing a full sync, since UUIDs where ambiguous.")
            }
            Note::ManuallySolved { from } => write!(
                f,
                "Split-Brain detected, manually solved. Sync from {} node",
                from.text()
            ),
            Note::ViolatingStableData => {
                f.write_str("Becoming SyncTarget, violating the stable-data assumption")
            }
            Note::WritingWholeBitmap => f.write_str(
                "Writing the whole bitmap, full sync required after drbd_sync_handshake.",
            ),
            Note::Failed(failure) => write!(f, "{failure}"),
        }
    }
}

/// One thing the caller does on the way, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Log a line.
    Log(Note),
    /// Run a user-mode helper.
    Helper(Helper),
    /// Give up the Primary role now (`call-pri-lost-after-sb`; [`SplitBrainView::demote`]
    /// said it is allowed): role Secondary, the current UUID's bit 0 cleared.
    Demote,
}

/// The most events one handshake produces (disk states, two helpers around the policy's
/// notes, demotion, the solved lines, the bitmap line; a failure ends it earlier).
pub const MAX_EVENTS: usize = 10;

/// The ordered events of one handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    items: [Option<Event>; MAX_EVENTS],
}

impl Events {
    const fn new() -> Self {
        Events {
            items: [None; MAX_EVENTS],
        }
    }

    fn push(&mut self, event: Event) {
        // MAX_EVENTS covers the longest path; were one lost, it would only be a log line.
        if let Some(slot) = self.items.iter_mut().find(|e| e.is_none()) {
            *slot = Some(event);
        }
    }

    fn log(&mut self, note: Note) {
        self.push(Event::Log(note));
    }

    fn helper(&mut self, helper: Helper) {
        self.push(Event::Helper(helper));
    }

    /// The events in order.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.items.iter().map_while(|e| *e)
    }

    /// The helpers in order.
    pub fn helpers(&self) -> impl Iterator<Item = Helper> + '_ {
        self.iter().filter_map(|e| match e {
            Event::Helper(h) => Some(h),
            _ => None,
        })
    }

    /// The log lines in order.
    pub fn notes(&self) -> impl Iterator<Item = Note> + '_ {
        self.iter().filter_map(|e| match e {
            Event::Log(n) => Some(n),
            _ => None,
        })
    }

    /// Whether a demotion is asked for.
    pub fn demotes(&self) -> bool {
        self.iter().any(|e| e == Event::Demote)
    }
}

/// The outcome of a successful handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeOutcome {
    /// `Connected`, `WFBitMapS` or `WFBitMapT`.
    pub conn: ConnState,
    /// Set every bit of the own bitmap before the bitmap exchange.
    pub full_sync: bool,
    /// How the direction was settled.
    pub reason: Reason,
}

/// The outcome, plus what to do on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Success or the reason to give up.
    pub result: Result<HandshakeOutcome, HandshakeFailure>,
    /// Log lines, helpers and the demotion, in order (the failure's line included).
    pub events: Events,
}

/// drbd's `drbd_sync_handshake` decision (§7.4 steps 1–11, §8).
pub fn sync_handshake(input: &HandshakeInput) -> Handshake {
    let mut events = Events::new();
    let result = decide(input, &mut events);
    if let Err(failure) = result {
        // The split-brain line comes before its helper, as drbd logs them.
        let helper_first = matches!(failure, HandshakeFailure::TargetPrimary)
            && input.rr_conflict == RrConflict::CallPriLost;
        if !helper_first {
            events.log(Note::Failed(failure));
        }
        match failure {
            HandshakeFailure::SplitBrain => events.helper(Helper::SplitBrain),
            HandshakeFailure::TargetPrimary if helper_first => {
                events.helper(Helper::PriLost);
                events.log(Note::Failed(failure));
            }
            _ => {}
        }
    }
    Handshake { result, events }
}

fn decide(input: &HandshakeInput, ev: &mut Events) -> Result<HandshakeOutcome, HandshakeFailure> {
    use SyncDecision::*;
    let mut decision = input.comparison.decision;
    let mut reason = Reason::Uuids;
    match decision {
        Unrelated => return Err(HandshakeFailure::UnrelatedData),
        NeedProtocol(p) => return Err(HandshakeFailure::NeedProtocol(p)),
        NeedFeatures { proto, features } => {
            return Err(HandshakeFailure::NeedFeatures { proto, features })
        }
        _ => {}
    }

    // Step 2: exactly one Inconsistent disk, the other better: the disks decide.
    let mine_bad = input.my_disk == DiskState::Inconsistent;
    let peer_bad = input.peer_disk == DiskState::Inconsistent;
    let mine_good = input.my_disk > DiskState::Inconsistent;
    let peer_good = input.peer_disk > DiskState::Inconsistent;
    if (mine_bad && peer_good) || (peer_bad && mine_good) {
        let full = matches!(decision, SplitBrain | SourceFull | TargetFull);
        decision = match (mine_good, full) {
            (true, true) => SourceFull,
            (true, false) => SourceBitmap,
            (false, true) => TargetFull,
            (false, false) => TargetBitmap,
        };
        reason = Reason::DiskStates;
        ev.log(Note::DiskStates { source: mine_good });
    }

    // Step 3.
    if matches!(decision, SplitBrain | SplitBrainAuto) {
        ev.helper(Helper::InitialSplitBrain);
    }

    // Step 4: the after-sb policies. Unresolved, the result is −100 from here on.
    let mut my_role = input.my_role;
    if decision == SplitBrainAuto || (decision == SplitBrain && input.split_brain.always_asbp) {
        let forced = decision == SplitBrain;
        let sb = &input.split_brain;
        let primaries =
            u8::from(my_role == Role::Primary) + u8::from(sb.peer_role == Role::Primary);
        let solved = match primaries {
            0 => recover_0p(sb, ev),
            1 => recover_1p(sb, my_role, ev),
            _ => recover_2p(sb, ev),
        };
        decision = SplitBrain;
        if let Some(from) = solved {
            if ev.demotes() {
                my_role = Role::Secondary;
            }
            ev.log(Note::AutoSolved { primaries, from });
            decision = match (from, forced) {
                (SyncFrom::ThisNode, false) => SourceBitmap,
                (SyncFrom::PeerNode, false) => TargetBitmap,
                (SyncFrom::ThisNode, true) => SourceFull,
                (SyncFrom::PeerNode, true) => TargetFull,
            };
            if forced {
                ev.log(Note::FullSyncAmbiguous);
            }
            reason = Reason::SplitBrainAuto { primaries };
        }
    }

    // Step 5: `discard-my-data` on exactly one side (a bitmap-based sync, as drbd).
    if matches!(decision, SplitBrain | SplitBrainAuto) {
        let from = match (input.discard_my_data, input.peer_discard_my_data) {
            (true, false) => Some(SyncFrom::PeerNode),
            (false, true) => Some(SyncFrom::ThisNode),
            _ => None,
        };
        let Some(from) = from else {
            // Step 6.
            return Err(HandshakeFailure::SplitBrain);
        };
        ev.log(Note::ManuallySolved { from });
        decision = match from {
            SyncFrom::ThisNode => SourceBitmap,
            SyncFrom::PeerNode => TargetBitmap,
        };
        reason = Reason::SplitBrainManual;
    }

    // Step 7.
    if decision.is_source() && input.my_disk <= DiskState::Inconsistent {
        return Err(HandshakeFailure::SourceInconsistent);
    }
    // Step 8 (the role after a demotion of step 4).
    if decision.is_target() && my_role == Role::Primary && input.my_disk >= DiskState::Consistent {
        match input.rr_conflict {
            RrConflict::Disconnect | RrConflict::CallPriLost => {
                return Err(HandshakeFailure::TargetPrimary)
            }
            RrConflict::Violently => {
                ev.log(Note::ViolatingStableData);
                reason = Reason::ViolatingStableData;
            }
        }
    }
    // Step 9.
    if input.dry_run {
        return Err(HandshakeFailure::DryRun);
    }
    // Steps 10–11.
    if decision.is_full_sync() {
        ev.log(Note::WritingWholeBitmap);
    }
    let conn = if decision.is_source() {
        ConnState::WFBitMapS
    } else if decision.is_target() {
        ConnState::WFBitMapT
    } else {
        ConnState::Connected
    };
    Ok(HandshakeOutcome {
        conn,
        full_sync: decision.is_full_sync(),
        reason,
    })
}

/// The tie-breaker: the node holding resolve-conflicts is discarded.
const fn tie_break(sb: &SplitBrainView) -> SyncFrom {
    if sb.resolve_conflicts {
        SyncFrom::PeerNode
    } else {
        SyncFrom::ThisNode
    }
}

/// `after-sb-0pri` (also the base of the 1pri/2pri policies that defer to it).
fn recover_0p(sb: &SplitBrainView, ev: &mut Events) -> Option<SyncFrom> {
    use AfterSb::*;
    let policy = AfterSb::from_wire(sb.after_sb[0])?;
    // Bit 0 of the bitmap UUID: already Primary when the divergent generation started, i.e.
    // the older Primary.
    let older = match (sb.my_bitmap_uuid & 1, sb.peer_bitmap_uuid & 1) {
        (1, 0) => Some(SyncFrom::ThisNode),
        (0, 1) => Some(SyncFrom::PeerNode),
        _ => None,
    };
    let other = |from: SyncFrom| match from {
        SyncFrom::ThisNode => SyncFrom::PeerNode,
        SyncFrom::PeerNode => SyncFrom::ThisNode,
    };
    let zero_changes = || match (sb.my_changes, sb.peer_changes) {
        (0, 0) => Some(tie_break(sb)),
        (_, 0) => Some(SyncFrom::ThisNode),
        (0, _) => Some(SyncFrom::PeerNode),
        _ => None,
    };
    let least_changes = || match sb.my_changes.cmp(&sb.peer_changes) {
        core::cmp::Ordering::Less => SyncFrom::PeerNode,
        core::cmp::Ordering::Greater => SyncFrom::ThisNode,
        core::cmp::Ordering::Equal => tie_break(sb),
    };
    match policy {
        Consensus | DiscardSecondary | CallPriLostAfterSb | ViolentlyAs0p => {
            ev.log(Note::ConfigurationError);
            None
        }
        Disconnect => None,
        // The older Primary's data survives (the younger is discarded)…
        DiscardYoungerPrimary if older.is_some() => older,
        // …or the younger one's.
        DiscardOlderPrimary if older.is_some() => older.map(other),
        DiscardYoungerPrimary | DiscardOlderPrimary => {
            ev.log(Note::NoPrimaryAgeDecision);
            Some(zero_changes().unwrap_or_else(least_changes))
        }
        DiscardZeroChanges => zero_changes(),
        DiscardLeastChanges => Some(least_changes()),
        DiscardLocal => Some(SyncFrom::PeerNode),
        DiscardRemote => Some(SyncFrom::ThisNode),
    }
}

/// `call-pri-lost-after-sb` on a Primary the 0pri policy discards: give up the role, or run
/// the helper and stay unresolved.
fn primary_loses(sb: &SplitBrainView, ev: &mut Events) -> Option<SyncFrom> {
    match sb.demote {
        Ok(()) => {
            ev.push(Event::Demote);
            ev.log(Note::GaveUpPrimary);
            Some(SyncFrom::PeerNode)
        }
        Err(e) => {
            ev.log(Note::DemoteFailed(e));
            ev.helper(Helper::PriLostAfterSb);
            None
        }
    }
}

/// `after-sb-1pri`.
fn recover_1p(sb: &SplitBrainView, my_role: Role, ev: &mut Events) -> Option<SyncFrom> {
    use AfterSb::*;
    let primary = my_role == Role::Primary;
    match AfterSb::from_wire(sb.after_sb[1])? {
        DiscardYoungerPrimary
        | DiscardOlderPrimary
        | DiscardLeastChanges
        | DiscardLocal
        | DiscardRemote
        | DiscardZeroChanges => {
            ev.log(Note::ConfigurationError);
            None
        }
        Disconnect => None,
        // Only a decision that discards the Secondary is taken.
        Consensus => match recover_0p(sb, ev)? {
            SyncFrom::PeerNode if !primary => Some(SyncFrom::PeerNode),
            SyncFrom::ThisNode if primary => Some(SyncFrom::ThisNode),
            _ => None,
        },
        ViolentlyAs0p => recover_0p(sb, ev),
        DiscardSecondary => Some(if primary {
            SyncFrom::ThisNode
        } else {
            SyncFrom::PeerNode
        }),
        CallPriLostAfterSb => match recover_0p(sb, ev)? {
            SyncFrom::PeerNode if primary => primary_loses(sb, ev),
            from => Some(from),
        },
    }
}

/// `after-sb-2pri`.
fn recover_2p(sb: &SplitBrainView, ev: &mut Events) -> Option<SyncFrom> {
    use AfterSb::*;
    match AfterSb::from_wire(sb.after_sb[2])? {
        DiscardYoungerPrimary
        | DiscardOlderPrimary
        | DiscardLeastChanges
        | DiscardLocal
        | DiscardRemote
        | Consensus
        | DiscardSecondary
        | DiscardZeroChanges => {
            ev.log(Note::ConfigurationError);
            None
        }
        Disconnect => None,
        ViolentlyAs0p => recover_0p(sb, ev),
        CallPriLostAfterSb => match recover_0p(sb, ev)? {
            SyncFrom::PeerNode => primary_loses(sb, ev),
            from => Some(from),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::uuid::{uuid_compare, CompareContext, PeerUuids, UuidSet};
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;
    use AfterSb::*;

    fn input(decision: SyncDecision, my_disk: DiskState, peer_disk: DiskState) -> HandshakeInput {
        HandshakeInput {
            comparison: Comparison {
                decision,
                rule: 0,
                correction: None,
            },
            my_disk,
            peer_disk,
            my_role: Role::Secondary,
            discard_my_data: false,
            peer_discard_my_data: false,
            rr_conflict: RrConflict::Disconnect,
            dry_run: false,
            split_brain: SplitBrainView::NONE,
        }
    }

    /// A rule-90 split brain between two UpToDate disks with the given roles and policies.
    fn split(my_role: Role, peer_role: Role, policies: [AfterSb; 3]) -> HandshakeInput {
        let mut i = input(
            SyncDecision::SplitBrainAuto,
            DiskState::UpToDate,
            DiskState::UpToDate,
        );
        i.my_role = my_role;
        i.split_brain.peer_role = peer_role;
        i.split_brain.after_sb = policies.map(AfterSb::wire);
        i.split_brain.my_changes = 10;
        i.split_brain.peer_changes = 20;
        i
    }

    fn p0(policy: AfterSb) -> HandshakeInput {
        split(
            Role::Secondary,
            Role::Secondary,
            [policy, Disconnect, Disconnect],
        )
    }

    /// The same split brain seen from the peer.
    fn mirror(i: &HandshakeInput) -> HandshakeInput {
        let mut m = *i;
        let sb = &i.split_brain;
        m.my_role = sb.peer_role;
        m.split_brain.peer_role = i.my_role;
        m.split_brain.my_bitmap_uuid = sb.peer_bitmap_uuid;
        m.split_brain.peer_bitmap_uuid = sb.my_bitmap_uuid;
        m.split_brain.my_changes = sb.peer_changes;
        m.split_brain.peer_changes = sb.my_changes;
        m.split_brain.resolve_conflicts = !sb.resolve_conflicts;
        m.discard_my_data = i.peer_discard_my_data;
        m.peer_discard_my_data = i.discard_my_data;
        m
    }

    fn ok(h: Handshake) -> HandshakeOutcome {
        h.result.expect("handshake succeeds")
    }

    fn helpers(h: &Handshake) -> Vec<Helper> {
        h.events.helpers().collect()
    }

    fn lines(h: &Handshake) -> Vec<std::string::String> {
        h.events.notes().map(|n| n.to_string()).collect()
    }

    /// Resolved with `from` as survivor, from one automatic policy: (conn, full, log line).
    #[track_caller]
    fn solved(i: &HandshakeInput, primaries: u8, from: SyncFrom) {
        let h = sync_handshake(i);
        let out = ok(h);
        let conn = match from {
            SyncFrom::ThisNode => ConnState::WFBitMapS,
            SyncFrom::PeerNode => ConnState::WFBitMapT,
        };
        assert_eq!((out.conn, out.full_sync), (conn, false), "{h:?}");
        assert_eq!(out.reason, Reason::SplitBrainAuto { primaries });
        assert!(h
            .events
            .notes()
            .any(|n| n == Note::AutoSolved { primaries, from }));
        assert_eq!(helpers(&h), [Helper::InitialSplitBrain]);
    }

    #[track_caller]
    fn unresolved(i: &HandshakeInput) -> Handshake {
        let h = sync_handshake(i);
        assert_eq!(h.result, Err(HandshakeFailure::SplitBrain), "{h:?}");
        assert_eq!(h.events.helpers().last(), Some(Helper::SplitBrain));
        assert_eq!(h.events.helpers().next(), Some(Helper::InitialSplitBrain));
        h
    }

    #[test]
    fn fresh_pair_after_forced_primary_is_a_full_sync_both_ways() {
        // The observed fullsync session: A (UpToDate, new current UUID) vs B (just created).
        let a = UuidSet::from_array([0x8a3c_0000_0000_0001, 4, 0, 0]);
        let b = UuidSet::from_array([4, 0, 0, 0]);
        let ctx = CompareContext::new(101);
        let a_view = uuid_compare(&a, &PeerUuids::from_array([4, 0, 0, 0, 16374, 0]), &ctx);
        let b_view = uuid_compare(&b, &PeerUuids::from_array([a.current, 4, 0, 0, 0, 0]), &ctx);
        assert_eq!((a_view.rule, b_view.rule), (30, 20), "rules drbd.ko logged");
        let mut a_in = input(
            a_view.decision,
            DiskState::UpToDate,
            DiskState::Inconsistent,
        );
        a_in.my_role = Role::Primary;
        let b_in = input(
            b_view.decision,
            DiskState::Inconsistent,
            DiskState::UpToDate,
        );
        let a_h = sync_handshake(&a_in);
        let b_out = ok(sync_handshake(&b_in));
        // node-a's kernel log of that session, in order.
        assert_eq!(
            lines(&a_h),
            [
                "Becoming sync source due to disk states.",
                "Writing the whole bitmap, full sync required after drbd_sync_handshake."
            ]
        );
        let a_out = ok(a_h);
        assert_eq!((a_out.conn, a_out.full_sync), (ConnState::WFBitMapS, true));
        assert_eq!((b_out.conn, b_out.full_sync), (ConnState::WFBitMapT, true));
    }

    #[test]
    fn identical_data_connects_without_sync() {
        let u = UuidSet::from_array([0x1234_5678_9abc_def0, 0, 0, 0]);
        let cmp = uuid_compare(
            &u,
            &PeerUuids::from_array([u.current, 0, 0, 0, 0, 0]),
            &CompareContext::new(101),
        );
        assert_eq!(cmp.rule, 40);
        let mut i = input(cmp.decision, DiskState::UpToDate, DiskState::UpToDate);
        i.comparison = cmp;
        let h = sync_handshake(&i);
        assert_eq!(h.events.iter().count(), 0);
        let out = ok(h);
        assert_eq!((out.conn, out.full_sync), (ConnState::Connected, false));
        // Two just-created disks (rule 10): Connected, Inconsistent/Inconsistent.
        let i = input(
            SyncDecision::NoSync,
            DiskState::Inconsistent,
            DiskState::Inconsistent,
        );
        assert_eq!(ok(sync_handshake(&i)).conn, ConnState::Connected);
    }

    #[test]
    fn disk_states_override_the_uuids() {
        let out = ok(sync_handshake(&input(
            SyncDecision::TargetBitmap,
            DiskState::UpToDate,
            DiskState::Inconsistent,
        )));
        assert_eq!(out.conn, ConnState::WFBitMapS);
        assert_eq!(out.reason, Reason::DiskStates);
        assert!(!out.full_sync);
        let h = sync_handshake(&input(
            SyncDecision::SplitBrain,
            DiskState::Inconsistent,
            DiskState::Outdated,
        ));
        // No split brain is left to report.
        assert_eq!(helpers(&h), []);
        let out = ok(h);
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapT, true));
    }

    #[test]
    fn disconnect_policy_leaves_it_unresolved_with_drbds_lines_and_helpers() {
        // The recorded splitbrain session, step 3: both Primary, every policy disconnect.
        let i = split(Role::Primary, Role::Primary, [Disconnect; 3]);
        let h = unresolved(&i);
        assert_eq!(helpers(&h), [Helper::InitialSplitBrain, Helper::SplitBrain]);
        assert_eq!(
            lines(&h),
            ["Split-Brain detected but unresolved, dropping connection!"]
        );
        // The line comes before the split-brain helper, as in the capture.
        let order: Vec<Event> = h.events.iter().collect();
        assert_eq!(
            order,
            [
                Event::Helper(Helper::InitialSplitBrain),
                Event::Log(Note::Failed(HandshakeFailure::SplitBrain)),
                Event::Helper(Helper::SplitBrain),
            ]
        );
        for roles in [
            (Role::Secondary, Role::Secondary),
            (Role::Primary, Role::Secondary),
        ] {
            unresolved(&split(roles.0, roles.1, [Disconnect; 3]));
        }
    }

    #[test]
    fn discard_my_data_resolves_split_brain() {
        // The recorded splitbrain session, step 4: rule 90 (hg 100), b connected with
        // discard-my-data.
        let mut victim = input(
            SyncDecision::SplitBrainAuto,
            DiskState::UpToDate,
            DiskState::UpToDate,
        );
        victim.discard_my_data = true;
        let h = sync_handshake(&victim);
        assert_eq!(
            lines(&h),
            ["Split-Brain detected, manually solved. Sync from peer node"]
        );
        assert_eq!(helpers(&h), [Helper::InitialSplitBrain]);
        let out = h.result.unwrap();
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapT, false));
        assert_eq!(out.reason, Reason::SplitBrainManual);

        let mut survivor = mirror(&victim);
        survivor.my_role = Role::Primary;
        let h = sync_handshake(&survivor);
        assert_eq!(
            lines(&h),
            ["Split-Brain detected, manually solved. Sync from this node"]
        );
        assert_eq!((ok(h).conn, ok(h).full_sync), (ConnState::WFBitMapS, false));

        // From −100 the manual resolution is bitmap-based too (drbd doubles only the
        // automatic one).
        victim.comparison.decision = SyncDecision::SplitBrain;
        assert!(!ok(sync_handshake(&victim)).full_sync);
        // Both sides discarding: unresolved.
        victim.peer_discard_my_data = true;
        unresolved(&victim);
    }

    #[test]
    fn discard_younger_and_older_primary_read_bit_0_of_the_bitmap_uuids() {
        for (policy, older_wins) in [(DiscardYoungerPrimary, true), (DiscardOlderPrimary, false)] {
            let mut i = p0(policy);
            // I was Primary when the divergence started (bit 0 set), the peer was not.
            i.split_brain.my_bitmap_uuid = 0x1235;
            i.split_brain.peer_bitmap_uuid = 0x1234;
            let from = if older_wins {
                SyncFrom::ThisNode
            } else {
                SyncFrom::PeerNode
            };
            solved(&i, 0, from);
            let other = if older_wins {
                SyncFrom::PeerNode
            } else {
                SyncFrom::ThisNode
            };
            solved(&mirror(&i), 0, other);
            assert!(!sync_handshake(&i)
                .events
                .notes()
                .any(|n| n == Note::NoPrimaryAgeDecision));
        }
    }

    #[test]
    fn primary_age_undecided_falls_through_to_the_changes() {
        for policy in [DiscardYoungerPrimary, DiscardOlderPrimary] {
            for bits in [(0, 0), (1, 1)] {
                let mut i = p0(policy);
                i.split_brain.my_bitmap_uuid = 0x1230 | bits.0;
                i.split_brain.peer_bitmap_uuid = 0x1230 | bits.1;
                // 10 own changes against 20: least changes is discarded.
                solved(&i, 0, SyncFrom::PeerNode);
                let h = sync_handshake(&i);
                assert_eq!(
                    lines(&h)[0],
                    "Discard younger/older primary did not find a decision\nUsing discard-least-changes instead"
                );
                // Zero changes are tried first: the peer changed nothing.
                i.split_brain.peer_changes = 0;
                solved(&i, 0, SyncFrom::ThisNode);
                // Equal: the resolve-conflicts node is discarded.
                i.split_brain.peer_changes = 10;
                solved(&i, 0, SyncFrom::ThisNode);
                i.split_brain.resolve_conflicts = true;
                solved(&i, 0, SyncFrom::PeerNode);
            }
        }
    }

    #[test]
    fn discard_zero_changes() {
        let mut i = p0(DiscardZeroChanges);
        // Both changed something: no resolution, no fall-through.
        let h = unresolved(&i);
        assert_eq!(
            lines(&h),
            ["Split-Brain detected but unresolved, dropping connection!"]
        );
        i.split_brain.peer_changes = 0;
        solved(&i, 0, SyncFrom::ThisNode);
        i.split_brain.my_changes = 0;
        i.split_brain.peer_changes = 5;
        solved(&i, 0, SyncFrom::PeerNode);
        // Neither changed anything: the resolve-conflicts node is the target.
        i.split_brain.peer_changes = 0;
        solved(&i, 0, SyncFrom::ThisNode);
        i.split_brain.resolve_conflicts = true;
        solved(&i, 0, SyncFrom::PeerNode);
    }

    #[test]
    fn discard_least_changes_with_resolve_conflicts_as_tie_break() {
        let mut i = p0(DiscardLeastChanges);
        solved(&i, 0, SyncFrom::PeerNode);
        solved(&mirror(&i), 0, SyncFrom::ThisNode);
        i.split_brain.my_changes = 20;
        solved(&i, 0, SyncFrom::ThisNode);
        i.split_brain.resolve_conflicts = true;
        solved(&i, 0, SyncFrom::PeerNode);
    }

    #[test]
    fn discard_local_and_remote() {
        solved(&p0(DiscardLocal), 0, SyncFrom::PeerNode);
        solved(&p0(DiscardRemote), 0, SyncFrom::ThisNode);
        // The peer's discard-remote is our discard-local (convert_after_sb): mirrored.
        let mut peer = mirror(&p0(DiscardLocal));
        peer.split_brain.after_sb[0] = DiscardRemote.wire();
        solved(&peer, 0, SyncFrom::ThisNode);
    }

    #[test]
    fn a_policy_in_the_wrong_column_is_a_configuration_error() {
        let wrong: [(usize, &[AfterSb]); 3] = [
            (
                0,
                &[
                    Consensus,
                    DiscardSecondary,
                    CallPriLostAfterSb,
                    ViolentlyAs0p,
                ],
            ),
            (
                1,
                &[
                    DiscardYoungerPrimary,
                    DiscardOlderPrimary,
                    DiscardZeroChanges,
                    DiscardLeastChanges,
                    DiscardLocal,
                    DiscardRemote,
                ],
            ),
            (
                2,
                &[
                    DiscardYoungerPrimary,
                    DiscardOlderPrimary,
                    DiscardZeroChanges,
                    DiscardLeastChanges,
                    DiscardLocal,
                    DiscardRemote,
                    Consensus,
                    DiscardSecondary,
                ],
            ),
        ];
        for (column, policies) in wrong {
            for &policy in policies {
                let mut pol = [Disconnect; 3];
                pol[column] = policy;
                let (me, peer) = match column {
                    0 => (Role::Secondary, Role::Secondary),
                    1 => (Role::Primary, Role::Secondary),
                    _ => (Role::Primary, Role::Primary),
                };
                let h = unresolved(&split(me, peer, pol));
                assert_eq!(
                    lines(&h),
                    [
                        "Configuration error.",
                        "Split-Brain detected but unresolved, dropping connection!"
                    ],
                    "{policy:?} in column {column}"
                );
            }
        }
        // A 1pri policy deferring to a wrong 0pri value reports it too.
        let h = unresolved(&split(
            Role::Primary,
            Role::Secondary,
            [Consensus, ViolentlyAs0p, Disconnect],
        ));
        assert_eq!(lines(&h)[0], "Configuration error.");
        // A value drbd has no policy for resolves nothing, silently.
        let mut i = p0(Disconnect);
        i.split_brain.after_sb[0] = 11;
        assert_eq!(lines(&unresolved(&i)).len(), 1);
    }

    #[test]
    fn one_primary_consensus_takes_only_a_decision_against_the_secondary() {
        // 0pri discard-least-changes: the node with fewer changes loses.
        let pol = [DiscardLeastChanges, Consensus, Disconnect];
        // The Secondary changed less: it is discarded, on both sides.
        let sec = split(Role::Secondary, Role::Primary, pol);
        solved(&sec, 1, SyncFrom::PeerNode);
        solved(&mirror(&sec), 1, SyncFrom::ThisNode);
        // The Primary changed less: no consensus.
        let pri = split(Role::Primary, Role::Secondary, pol);
        unresolved(&pri);
        unresolved(&mirror(&pri));
    }

    #[test]
    fn one_primary_violently_follows_0pri_even_against_the_primary() {
        let pol = [DiscardLeastChanges, ViolentlyAs0p, Disconnect];
        let mut pri = split(Role::Primary, Role::Secondary, pol);
        solved(&mirror(&pri), 1, SyncFrom::ThisNode);
        // The Primary becomes target: rr-conflict still guards it.
        let h = sync_handshake(&pri);
        assert_eq!(h.result, Err(HandshakeFailure::TargetPrimary));
        assert!(h.events.notes().any(|n| n
            == Note::AutoSolved {
                primaries: 1,
                from: SyncFrom::PeerNode
            }));
        pri.rr_conflict = RrConflict::Violently;
        let h = sync_handshake(&pri);
        assert_eq!(
            lines(&h),
            [
                "Split-Brain detected, 1 primaries, automatically solved. Sync from peer node",
                "Becoming SyncTarget, violating the stable-data assumption"
            ]
        );
        assert_eq!(ok(h).conn, ConnState::WFBitMapT);
    }

    #[test]
    fn one_primary_discard_secondary() {
        let pol = [Disconnect, DiscardSecondary, Disconnect];
        let i = split(Role::Primary, Role::Secondary, pol);
        solved(&i, 1, SyncFrom::ThisNode);
        solved(&mirror(&i), 1, SyncFrom::PeerNode);
    }

    #[test]
    fn call_pri_lost_after_sb_demotes_the_losing_primary_or_calls_the_helper() {
        for (me, peer, primaries) in [
            (Role::Primary, Role::Secondary, 1),
            (Role::Primary, Role::Primary, 2),
        ] {
            // 0pri: discard-local on the Primary under test (the peer sees discard-remote).
            let pol = [DiscardLocal, CallPriLostAfterSb, CallPriLostAfterSb];
            let i = split(me, peer, pol);
            let h = sync_handshake(&i);
            let order: Vec<Event> = h.events.iter().collect();
            assert_eq!(
                order,
                [
                    Event::Helper(Helper::InitialSplitBrain),
                    Event::Demote,
                    Event::Log(Note::GaveUpPrimary),
                    Event::Log(Note::AutoSolved {
                        primaries,
                        from: SyncFrom::PeerNode
                    }),
                ]
            );
            // Secondary now: no rr-conflict refusal.
            assert_eq!(ok(h).conn, ConnState::WFBitMapT);
            let mut winner = mirror(&i);
            winner.split_brain.after_sb[0] = DiscardRemote.wire();
            solved(&winner, primaries, SyncFrom::ThisNode);
            assert!(!sync_handshake(&winner).events.demotes());

            // The device is held open: the helper, and unresolved.
            let mut held = i;
            held.split_brain.demote = Err(StateError::DeviceInUse);
            let h = unresolved(&held);
            assert!(!h.events.demotes());
            assert_eq!(
                helpers(&h),
                [
                    Helper::InitialSplitBrain,
                    Helper::PriLostAfterSb,
                    Helper::SplitBrain
                ]
            );
            assert_eq!(
                lines(&h),
                [
                    "State change failed: Device is held open by someone",
                    "Split-Brain detected but unresolved, dropping connection!"
                ]
            );
        }
        // 1pri: a Secondary that loses needs no demotion.
        let i = split(
            Role::Secondary,
            Role::Primary,
            [DiscardLocal, CallPriLostAfterSb, Disconnect],
        );
        solved(&i, 1, SyncFrom::PeerNode);
    }

    #[test]
    fn two_primaries() {
        let mut i = split(
            Role::Primary,
            Role::Primary,
            [DiscardLeastChanges, Disconnect, Disconnect],
        );
        unresolved(&i);
        i.split_brain.after_sb[2] = ViolentlyAs0p.wire();
        solved(&mirror(&i), 2, SyncFrom::ThisNode);
        // The losing Primary keeps its role: rr-conflict decides.
        assert_eq!(
            sync_handshake(&i).result,
            Err(HandshakeFailure::TargetPrimary)
        );
        i.rr_conflict = RrConflict::Violently;
        assert_eq!(ok(sync_handshake(&i)).conn, ConnState::WFBitMapT);
    }

    #[test]
    fn always_asbp_applies_the_policies_to_minus_100_as_a_full_sync() {
        let mut i = p0(DiscardLocal);
        i.comparison.decision = SyncDecision::SplitBrain;
        unresolved(&i);
        i.split_brain.always_asbp = true;
        let h = sync_handshake(&i);
        assert_eq!(
            lines(&h),
            [
                "Split-Brain detected, 0 primaries, automatically solved. Sync from peer node",
                "Doing a full sync, since UUIDs where ambiguous.",
                "Writing the whole bitmap, full sync required after drbd_sync_handshake."
            ]
        );
        let out = ok(h);
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapT, true));
        let mut m = mirror(&i);
        m.split_brain.after_sb[0] = DiscardRemote.wire();
        let out = ok(sync_handshake(&m));
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapS, true));
        // Unresolved by the policy, discard-my-data still decides (bitmap-based).
        i.split_brain.after_sb[0] = Disconnect.wire();
        i.discard_my_data = true;
        let out = ok(sync_handshake(&i));
        assert_eq!(
            (out.reason, out.full_sync),
            (Reason::SplitBrainManual, false)
        );
    }

    #[test]
    fn every_policy_decides_mirrored_on_both_nodes() {
        let roles = [Role::Secondary, Role::Primary];
        for (c0, c1, c2) in AfterSb::ALL
            .iter()
            .flat_map(|a| AfterSb::ALL.iter().map(move |b| (*a, *b)))
            .flat_map(|(a, b)| AfterSb::ALL.iter().map(move |c| (a, b, *c)))
        {
            for (me, peer) in roles
                .iter()
                .flat_map(|m| roles.iter().map(move |p| (*m, *p)))
            {
                for (bits, changes, rc) in [
                    ((0, 1), (3, 3), false),
                    ((1, 1), (0, 0), true),
                    ((0, 0), (0, 7), false),
                    ((1, 0), (9, 2), true),
                ] {
                    let mut i = split(me, peer, [c0, c1, c2]);
                    i.rr_conflict = RrConflict::Violently;
                    i.split_brain.my_bitmap_uuid = 0x40 | bits.0;
                    i.split_brain.peer_bitmap_uuid = 0x40 | bits.1;
                    i.split_brain.my_changes = changes.0;
                    i.split_brain.peer_changes = changes.1;
                    i.split_brain.resolve_conflicts = rc;
                    let mut m = mirror(&i);
                    // convert_after_sb: each side sees the other's discard-local as remote.
                    m.split_brain.after_sb = [c0, c1, c2].map(|p| match p {
                        DiscardLocal => DiscardRemote.wire(),
                        DiscardRemote => DiscardLocal.wire(),
                        p => p.wire(),
                    });
                    let a = sync_handshake(&i).result.map(|o| o.conn);
                    let b = sync_handshake(&m).result.map(|o| o.conn);
                    let ok = matches!(
                        (a, b),
                        (Ok(ConnState::WFBitMapS), Ok(ConnState::WFBitMapT))
                            | (Ok(ConnState::WFBitMapT), Ok(ConnState::WFBitMapS))
                            | (
                                Err(HandshakeFailure::SplitBrain),
                                Err(HandshakeFailure::SplitBrain)
                            )
                    );
                    assert!(ok, "{c0:?}/{c1:?}/{c2:?} {me:?}/{peer:?}: {a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_that_protect_data() {
        let h = sync_handshake(&input(
            SyncDecision::SourceBitmap,
            DiskState::Inconsistent,
            DiskState::Inconsistent,
        ));
        assert_eq!(h.result, Err(HandshakeFailure::SourceInconsistent));
        let mut primary = input(
            SyncDecision::TargetBitmap,
            DiskState::UpToDate,
            DiskState::UpToDate,
        );
        primary.my_role = Role::Primary;
        assert_eq!(
            sync_handshake(&primary).result,
            Err(HandshakeFailure::TargetPrimary)
        );
        primary.rr_conflict = RrConflict::CallPriLost;
        let h = sync_handshake(&primary);
        assert_eq!(h.result, Err(HandshakeFailure::TargetPrimary));
        // drbd runs the helper, then logs the refusal.
        let order: Vec<Event> = h.events.iter().collect();
        assert_eq!(
            order,
            [
                Event::Helper(Helper::PriLost),
                Event::Log(Note::Failed(HandshakeFailure::TargetPrimary))
            ]
        );
        primary.rr_conflict = RrConflict::Violently;
        let out = ok(sync_handshake(&primary));
        assert_eq!(out.conn, ConnState::WFBitMapT);
        assert_eq!(out.reason, Reason::ViolatingStableData);
        primary.dry_run = true;
        assert_eq!(
            sync_handshake(&primary).result,
            Err(HandshakeFailure::DryRun)
        );
        for (d, f) in [
            (SyncDecision::Unrelated, HandshakeFailure::UnrelatedData),
            (
                SyncDecision::NeedProtocol(91),
                HandshakeFailure::NeedProtocol(91),
            ),
        ] {
            let h = sync_handshake(&input(d, DiskState::UpToDate, DiskState::UpToDate));
            assert_eq!(h.result, Err(f));
            assert_eq!(h.events.notes().collect::<Vec<_>>(), [Note::Failed(f)]);
        }
    }

    #[test]
    fn texts_are_drbds() {
        assert_eq!(
            HandshakeFailure::SplitBrain.to_string(),
            "Split-Brain detected but unresolved, dropping connection!"
        );
        assert_eq!(
            Note::AutoSolved {
                primaries: 2,
                from: SyncFrom::ThisNode
            }
            .to_string(),
            "Split-Brain detected, 2 primaries, automatically solved. Sync from this node"
        );
        assert_eq!(Helper::PriLostAfterSb.name(), "pri-lost-after-sb");
        for (v, p) in AfterSb::ALL.iter().enumerate() {
            assert_eq!(AfterSb::from_wire(v as u32), Some(*p));
            assert_eq!(p.wire(), v as u32);
        }
        assert_eq!(AfterSb::from_wire(11), None);
        // The keywords are the netlink set's.
        use super::super::super::genl::sets::{
            AFTER_SB_0P_VALUES, AFTER_SB_1P_VALUES, AFTER_SB_2P_VALUES,
        };
        for set in [
            &AFTER_SB_0P_VALUES[..],
            &AFTER_SB_1P_VALUES[..],
            &AFTER_SB_2P_VALUES[..],
        ] {
            for v in set {
                assert_eq!(AfterSb::from_wire(v.value).map(AfterSb::name), Some(v.name));
            }
        }
    }
}
