// SPDX-License-Identifier: GPL-2.0
//! From the UUID comparison to the connection state: drbd's sync handshake.
//!
//! Spec: `wire-protocol.md` §7.4. Run when the peer's `P_STATE` completes a new connection's
//! parameter exchange. [`super::super::uuid::uuid_compare`] says which generation is newer;
//! this step overrides it by the disk states (an Inconsistent disk is always the target),
//! resolves a split brain by `discard-my-data`, refuses what would destroy good data, and
//! yields the connection state to enter and whether the whole device must be resynced.
//!
//! Not here yet: the after-sb automatic policies (§8, step 4) — a split brain that
//! `discard-my-data` does not resolve drops the connection, which is what the default policy
//! `disconnect` does.

use super::super::state::{ConnState, DiskState, Role};
use super::super::uuid::{Comparison, SyncDecision};

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

/// How the direction was settled (each is one kernel log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The UUIDs decided.
    Uuids,
    /// "Becoming sync source due to disk states." / "… target …"
    DiskStates,
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
    /// `pri-lost`: `rr-conflict call-pri-lost`.
    PriLost,
}

impl Helper {
    /// The helper's command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Helper::InitialSplitBrain => "initial-split-brain",
            Helper::SplitBrain => "split-brain",
            Helper::PriLost => "pri-lost",
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

/// The outcome, plus the helpers to call in order (at most two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Success or the reason to give up.
    pub result: Result<HandshakeOutcome, HandshakeFailure>,
    /// Helpers to run, in order.
    pub helpers: [Option<Helper>; 2],
}

/// drbd's `drbd_sync_handshake` decision (§7.4 steps 1–11 without the after-sb policies).
pub fn sync_handshake(input: &HandshakeInput) -> Handshake {
    let mut helpers = [None, None];
    let result = decide(input, &mut helpers);
    Handshake { result, helpers }
}

fn decide(
    input: &HandshakeInput,
    helpers: &mut [Option<Helper>; 2],
) -> Result<HandshakeOutcome, HandshakeFailure> {
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
    }

    // Steps 3–6: split brain.
    if matches!(decision, SplitBrain | SplitBrainAuto) {
        push(helpers, Helper::InitialSplitBrain);
        let manual = match (input.discard_my_data, input.peer_discard_my_data) {
            (true, false) => Some(TargetBitmap),
            (false, true) => Some(SourceBitmap),
            _ => None,
        };
        match manual {
            Some(d) => {
                // A split brain resolved from −100 syncs everything (§7.4 step 4).
                decision = match (d, input.comparison.decision == SplitBrain) {
                    (TargetBitmap, true) => TargetFull,
                    (SourceBitmap, true) => SourceFull,
                    (d, _) => d,
                };
                reason = Reason::SplitBrainManual;
            }
            None => {
                push(helpers, Helper::SplitBrain);
                return Err(HandshakeFailure::SplitBrain);
            }
        }
    }

    // Step 7.
    if decision.is_source() && input.my_disk <= DiskState::Inconsistent {
        return Err(HandshakeFailure::SourceInconsistent);
    }
    // Step 8.
    if decision.is_target()
        && input.my_role == Role::Primary
        && input.my_disk >= DiskState::Consistent
    {
        match input.rr_conflict {
            RrConflict::Disconnect => return Err(HandshakeFailure::TargetPrimary),
            RrConflict::CallPriLost => {
                push(helpers, Helper::PriLost);
                return Err(HandshakeFailure::TargetPrimary);
            }
            RrConflict::Violently => reason = Reason::ViolatingStableData,
        }
    }
    // Step 9.
    if input.dry_run {
        return Err(HandshakeFailure::DryRun);
    }
    // Steps 10–11.
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

fn push(helpers: &mut [Option<Helper>; 2], helper: Helper) {
    if let Some(slot) = helpers.iter_mut().find(|h| h.is_none()) {
        *slot = Some(helper);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::uuid::{uuid_compare, CompareContext, PeerUuids, UuidSet};
    use super::*;

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
        }
    }

    fn ok(h: Handshake) -> HandshakeOutcome {
        h.result.expect("handshake succeeds")
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
        let a_out = ok(sync_handshake(&a_in));
        let b_out = ok(sync_handshake(&b_in));
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
        let out = ok(sync_handshake(&i));
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
        let out = ok(sync_handshake(&input(
            SyncDecision::SplitBrain,
            DiskState::Inconsistent,
            DiskState::Outdated,
        )));
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapT, true));
    }

    #[test]
    fn unresolved_split_brain_drops_the_connection_with_both_helpers() {
        let h = sync_handshake(&input(
            SyncDecision::SplitBrainAuto,
            DiskState::UpToDate,
            DiskState::UpToDate,
        ));
        assert_eq!(h.result, Err(HandshakeFailure::SplitBrain));
        assert_eq!(
            h.helpers,
            [Some(Helper::InitialSplitBrain), Some(Helper::SplitBrain)]
        );
    }

    #[test]
    fn discard_my_data_resolves_split_brain() {
        // The recorded splitbrain session: rule 90 (hg 100), b connected with discard-my-data.
        let mut victim = input(
            SyncDecision::SplitBrainAuto,
            DiskState::UpToDate,
            DiskState::UpToDate,
        );
        victim.discard_my_data = true;
        let h = sync_handshake(&victim);
        let out = h.result.unwrap();
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapT, false));
        assert_eq!(out.reason, Reason::SplitBrainManual);
        assert_eq!(h.helpers, [Some(Helper::InitialSplitBrain), None]);

        let mut survivor = victim;
        survivor.discard_my_data = false;
        survivor.peer_discard_my_data = true;
        survivor.my_role = Role::Primary;
        let out = ok(sync_handshake(&survivor));
        assert_eq!((out.conn, out.full_sync), (ConnState::WFBitMapS, false));

        // From −100 the resolution becomes a full sync.
        victim.comparison.decision = SyncDecision::SplitBrain;
        assert!(ok(sync_handshake(&victim)).full_sync);
        // Both sides discarding: unresolved.
        victim.peer_discard_my_data = true;
        assert_eq!(
            sync_handshake(&victim).result,
            Err(HandshakeFailure::SplitBrain)
        );
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
        assert_eq!(h.helpers, [Some(Helper::PriLost), None]);
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
        }
    }

    #[test]
    fn failure_texts_are_drbds() {
        let mut s = std::string::String::new();
        use core::fmt::Write;
        write!(s, "{}", HandshakeFailure::SplitBrain).unwrap();
        assert_eq!(
            s,
            "Split-Brain detected but unresolved, dropping connection!"
        );
    }
}
