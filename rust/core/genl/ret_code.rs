// SPDX-License-Identifier: GPL-2.0
//! `enum drbd_ret_code` (§9.1) with drbdsetup-84's messages, and the classification of the
//! reply header's `ret_code`, which carries either a `drbd_ret_code` (≥ 100) or a state-change
//! result (`SS_*`, ≤ 4, defined with the state machine, not here).

/// `ERR_CODE_BASE`: every `drbd_ret_code` is above it.
pub const ERR_CODE_BASE: i32 = 100;

macro_rules! ret_codes {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal, $cname:literal, $msg:expr, $k612:literal; )*) => {
        /// A `drbd_ret_code` value (`ERR_CODE_BASE` itself excluded: it is never a result).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum RetCode {
            $( $(#[$doc])* $variant = $value, )*
        }

        impl RetCode {
            /// Every code, ascending.
            pub const ALL: &'static [RetCode] = &[$(RetCode::$variant),*];

            /// The numeric value.
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The code with value `code`, if it is one.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code {
                    $( $value => Some(RetCode::$variant), )*
                    _ => None,
                }
            }

            /// C name (`ERR_MANDATORY_TAG`, …).
            pub const fn name(self) -> &'static str {
                match self {
                    $( RetCode::$variant => $cname, )*
                }
            }

            /// drbdsetup-84's message for the code (`error_to_string`).
            pub const fn message(self) -> &'static str {
                match self {
                    $( RetCode::$variant => $msg, )*
                }
            }

            /// Whether Linux 6.12's drbd can return the code.
            pub const fn returned_by_kernel(self) -> bool {
                match self {
                    $( RetCode::$variant => $k612, )*
                }
            }
        }
    };
}

ret_codes! {
    /// Success.
    NoError = 101, "NO_ERROR", "No further Information available.", true;
    /// Local address/port already used by some connection.
    ErrLocalAddr = 102, "ERR_LOCAL_ADDR", "Local address(port) already in use.", true;
    /// Peer address/port already used.
    ErrPeerAddr = 103, "ERR_PEER_ADDR", "Remote address(port) already in use.", true;
    /// Opening the backing device failed.
    ErrOpenDisk = 104, "ERR_OPEN_DISK", "Can not open backing device.", true;
    /// Opening the meta device failed.
    ErrOpenMdDisk = 105, "ERR_OPEN_MD_DISK", "Can not open meta device.", true;
    /// Backing path is not a block device.
    ErrDiskNotBdev = 107, "ERR_DISK_NOT_BDEV", "Lower device is not a block device.", false;
    /// Meta path is not a block device.
    ErrMdNotBdev = 108, "ERR_MD_NOT_BDEV", "Meta device is not a block device.", false;
    /// Backing device smaller than requested/current size.
    ErrDiskTooSmall = 111, "ERR_DISK_TOO_SMALL",
        "Low.dev. smaller than requested DRBD-dev. size.", true;
    /// Meta device too small for the layout.
    ErrMdDiskTooSmall = 112, "ERR_MD_DISK_TOO_SMALL", "Meta device too small.", true;
    /// Backing device claimed by someone.
    ErrBdclaimDisk = 114, "ERR_BDCLAIM_DISK",
        "Lower device is already claimed. This usually means it is mounted.", false;
    /// Meta device claimed by someone.
    ErrBdclaimMdDisk = 115, "ERR_BDCLAIM_MD_DISK",
        "Meta device is already claimed. This usually means it is mounted.", false;
    /// Bad meta index / device combination.
    ErrMdIdxInvalid = 116, "ERR_MD_IDX_INVALID",
        "Lower device / meta device / index combination invalid.", true;
    /// I/O error on meta data.
    ErrIoMdDisk = 118, "ERR_IO_MD_DISK",
        "IO error(s) occurred during initial access to meta-data.\n", true;
    /// No valid superblock.
    ErrMdInvalid = 119, "ERR_MD_INVALID",
        "No valid meta-data signature found.\n\n\t==> Use 'drbdadm create-md res' to initialize meta-data area. <==\n",
        true;
    /// cram-hmac-alg unknown to the kernel crypto API.
    ErrAuthAlg = 120, "ERR_AUTH_ALG",
        "The 'cram-hmac-alg' you specified is not known in the kernel. (Maybe you need to modprobe it, or modprobe hmac?)",
        true;
    /// cram-hmac-alg is not a digest.
    ErrAuthAlgNd = 121, "ERR_AUTH_ALG_ND",
        "The 'cram-hmac-alg' you specified is not a digest.", false;
    /// Allocation failure.
    ErrNomem = 122, "ERR_NOMEM", "kmalloc() failed. Out of memory?", true;
    /// discard-my-data requested while Primary.
    ErrDiscardImpossible = 123, "ERR_DISCARD_IMPOSSIBLE",
        "--discard-my-data not allowed when primary.", true;
    /// Minor already has a disk.
    ErrDiskConfigured = 124, "ERR_DISK_CONFIGURED",
        "Device is attached to a disk (use detach first)", true;
    /// Connection already configured.
    ErrNetConfigured = 125, "ERR_NET_CONFIGURED",
        "Device has a net-config (use disconnect first)", true;
    /// Attribute problem (§2.1); details in the info text.
    ErrMandatoryTag = 126, "ERR_MANDATORY_TAG", "UnknownMandatoryTag", true;
    /// Minor does not exist.
    ErrMinorInvalid = 127, "ERR_MINOR_INVALID", "Device minor not allocated", true;
    /// Interrupted by a signal.
    ErrIntr = 129, "ERR_INTR", "Interrupted by Signal", true;
    /// Resize during resync/verify.
    ErrResizeResync = 130, "ERR_RESIZE_RESYNC", "Resize not allowed during resync.", true;
    /// Resize with both nodes Secondary.
    ErrNoPrimary = 131, "ERR_NO_PRIMARY", "Need one Primary node to resize.", true;
    /// resync-after names an invalid minor.
    ErrResyncAfter = 132, "ERR_RESYNC_AFTER", "The resync-after minor number is invalid", true;
    /// resync-after dependency loop.
    ErrResyncAfterCycle = 133, "ERR_RESYNC_AFTER_CYCLE",
        "This would cause a resync-after dependency cycle", true;
    /// pause-sync when already paused by user.
    ErrPauseIsSet = 134, "ERR_PAUSE_IS_SET", "Sync-pause flag is already set", true;
    /// resume-sync when not paused by user.
    ErrPauseIsClear = 135, "ERR_PAUSE_IS_CLEAR", "Sync-pause flag is already cleared", true;
    /// Unknown request.
    ErrPacketNr = 137, "ERR_PACKET_NR",
        "Kernel does not know how to handle your request.\nMaybe API_VERSION mismatch?", false;
    /// Operation needs a local disk.
    ErrNoDisk = 138, "ERR_NO_DISK", "Device does not have a disk-config", true;
    /// allow-two-primaries without protocol C.
    ErrNotProtoC = 139, "ERR_NOT_PROTO_C", "Protocol C required", true;
    /// Bitmap allocation failed.
    ErrNomemBitmap = 140, "ERR_NOMEM_BITMAP", "vmalloc() failed. Out of memory?", true;
    /// data-integrity-alg unknown.
    ErrIntegrityAlg = 141, "ERR_INTEGRITY_ALG",
        "The 'data-integrity-alg' you specified is not known in the kernel. (Maybe you need to modprobe it, or modprobe hmac?)",
        true;
    /// data-integrity-alg is not a digest.
    ErrIntegrityAlgNd = 142, "ERR_INTEGRITY_ALG_ND",
        "The 'data-integrity-alg' you specified is not a digest.", false;
    /// Bad cpu-mask.
    ErrCpuMaskParse = 143, "ERR_CPU_MASK_PARSE", "Invalid cpu-mask.", false;
    /// csums-alg unknown.
    ErrCsumsAlg = 144, "ERR_CSUMS_ALG", "CSUMSAlgNotAvail", true;
    /// csums-alg is not a digest.
    ErrCsumsAlgNd = 145, "ERR_CSUMS_ALG_ND", "CSUMSAlgNotDigest", false;
    /// verify-alg unknown.
    ErrVerifyAlg = 146, "ERR_VERIFY_ALG", "VERIFYAlgNotAvail", true;
    /// verify-alg is not a digest.
    ErrVerifyAlgNd = 147, "ERR_VERIFY_ALG_ND", "VERIFYAlgNotDigest", false;
    /// csums-alg change during resync.
    ErrCsumsResyncRunning = 148, "ERR_CSUMS_RESYNC_RUNNING",
        "Can not change csums-alg while resync is in progress", true;
    /// verify-alg change during verify.
    ErrVerifyRunning = 149, "ERR_VERIFY_RUNNING",
        "Can not change verify-alg while online verify runs", true;
    /// Re-attach of a disk whose data is not current.
    ErrDataNotCurrent = 150, "ERR_DATA_NOT_CURRENT",
        "Can only attach to the data we lost last (see kernel log).", true;
    /// new-current-uuid requires StandAlone.
    ErrConnected = 151, "ERR_CONNECTED", "Need to be StandAlone", true;
    /// Permission denied (legacy).
    ErrPerm = 152, "ERR_PERM", "Permission denied. CAP_SYS_ADMIN necessary", false;
    /// --assume-clean needs protocol ≥ 93.
    ErrNeedApv93 = 153, "ERR_NEED_APV_93",
        "Protocol version 93 required to use --assume-clean", true;
    /// resource-and-stonith with protocol A.
    ErrStonithAndProtA = 154, "ERR_STONITH_AND_PROT_A",
        "Fencing policy resource-and-stonith only with prot B or C allowed", true;
    /// on-congestion ≠ block without protocol A.
    ErrCongNotProtoA = 155, "ERR_CONG_NOT_PROTO_A",
        "on-congestion policy pull-ahead only with prot A allowed", true;
    /// resume-sync: paused by a resync-after dependency.
    ErrPicAfterDep = 156, "ERR_PIC_AFTER_DEP",
        "Sync-pause flag is already cleared.\nNote: Resync pause caused by a local resync-after dependency.",
        true;
    /// resume-sync: paused by the peer.
    ErrPicPeerDep = 157, "ERR_PIC_PEER_DEP",
        "Sync-pause flag is already cleared.\nNote: Resync pause caused by the peer node.", true;
    /// Resource unknown.
    ErrResNotKnown = 158, "ERR_RES_NOT_KNOWN", "Unknown resource", true;
    /// del-resource with minors left.
    ErrResInUse = 159, "ERR_RES_IN_USE", "Resource still in use (delete all minors first)", true;
    /// del-minor while attached or Primary.
    ErrMinorConfigured = 160, "ERR_MINOR_CONFIGURED", "Minor still configured (down it first)",
        true;
    /// Minor or volume number taken.
    ErrMinorOrVolumeExists = 161, "ERR_MINOR_OR_VOLUME_EXISTS",
        "Minor or volume exists already (delete it first)", true;
    /// Malformed or contradicting request (see info text).
    ErrInvalidRequest = 162, "ERR_INVALID_REQUEST", "Invalid configuration request", true;
    /// Changing these net options while connected needs protocol 100.
    ErrNeedApv100 = 163, "ERR_NEED_APV_100",
        "Prot version 100 required in order to change\nthese network options while connected",
        true;
    /// Clearing allow-two-primaries while both are Primary.
    ErrNeedAllowTwoPri = 164, "ERR_NEED_ALLOW_TWO_PRI",
        "Can not clear allow_two_primaries as long as\nthere a primaries on both sides", true;
    /// Superblock unclean.
    ErrMdUnclean = 165, "ERR_MD_UNCLEAN",
        "Unclean meta-data found.\nYou need to 'drbdadm apply-al res'\n", true;
    /// Online AL-layout change requires Connected.
    ErrMdLayoutConnected = 166, "ERR_MD_LAYOUT_CONNECTED",
        "DRBD need to be connected for online MD layout change\n", true;
    /// AL too big.
    ErrMdLayoutTooBig = 167, "ERR_MD_LAYOUT_TOO_BIG", "Resulting AL area too big\n", true;
    /// AL too small.
    ErrMdLayoutTooSmall = 168, "ERR_MD_LAYOUT_TOO_SMALL", "Resulting AL are too small\n", true;
    /// AL does not fit.
    ErrMdLayoutNoFit = 169, "ERR_MD_LAYOUT_NO_FIT",
        "Resulting AL does not fit into available meta data space\n", true;
    /// Implicit shrink refused.
    ErrImplicitShrink = 170, "ERR_IMPLICIT_SHRINK",
        "Implicit device shrinking not allowed. See kernel log.\n", true;
}

/// Smallest state-change result (`SS_AFTER_LAST_ERROR + 1`): values from here to
/// [`SS_MAX`] are `SS_*` codes.
pub const SS_MIN: i32 = -21;
/// Largest state-change result (`SS_CW_NO_NEED`).
pub const SS_MAX: i32 = 4;

/// The reply header's `ret_code`: either a `drbd_ret_code` or a state-change result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyCode {
    /// A `drbd_ret_code`.
    Ret(RetCode),
    /// A state-change result (`enum drbd_state_rv`, see the state module), in
    /// [`SS_MIN`]..=[`SS_MAX`].
    State(i32),
    /// Neither ("Error code N unknown" in drbdsetup).
    Unknown(i32),
}

impl ReplyCode {
    /// Classify a raw `ret_code`.
    pub const fn from_raw(raw: i32) -> Self {
        if raw >= SS_MIN && raw <= SS_MAX {
            return ReplyCode::State(raw);
        }
        match RetCode::from_code(raw) {
            Some(r) => ReplyCode::Ret(r),
            None => ReplyCode::Unknown(raw),
        }
    }

    /// The raw value for the reply header.
    pub const fn raw(self) -> i32 {
        match self {
            ReplyCode::Ret(r) => r.code(),
            ReplyCode::State(v) | ReplyCode::Unknown(v) => v,
        }
    }

    /// Whether drbdsetup treats the code as success (`NO_ERROR`, or `SS_SUCCESS` …
    /// `SS_CW_NO_NEED`).
    pub const fn is_success(self) -> bool {
        match self {
            ReplyCode::Ret(r) => matches!(r, RetCode::NoError),
            ReplyCode::State(v) => v >= 1,
            ReplyCode::Unknown(_) => false,
        }
    }
}

impl From<RetCode> for ReplyCode {
    fn from(r: RetCode) -> Self {
        ReplyCode::Ret(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        let mut prev = ERR_CODE_BASE;
        for &c in RetCode::ALL {
            assert!(c.code() > prev);
            prev = c.code();
            assert_eq!(RetCode::from_code(c.code()), Some(c));
            assert!(c.name().starts_with("ERR_") || c == RetCode::NoError);
            assert!(!c.message().is_empty());
            assert_eq!(ReplyCode::from_raw(c.code()), ReplyCode::Ret(c));
        }
        assert_eq!(RetCode::ALL.len(), 63);
        for hole in [100, 106, 109, 110, 113, 117, 128, 136, 171] {
            assert_eq!(RetCode::from_code(hole), None);
        }
        assert_eq!(RetCode::ErrMandatoryTag.code(), 126);
        assert_eq!(RetCode::ErrMandatoryTag.message(), "UnknownMandatoryTag");
        assert_eq!(RetCode::ErrInvalidRequest.code(), 162);
        assert!(!RetCode::ErrPerm.returned_by_kernel());
    }

    #[test]
    fn reply_codes() {
        assert!(ReplyCode::from_raw(101).is_success());
        assert!(ReplyCode::from_raw(1).is_success());
        assert!(ReplyCode::from_raw(4).is_success());
        assert!(!ReplyCode::from_raw(0).is_success());
        assert_eq!(ReplyCode::from_raw(-2), ReplyCode::State(-2));
        assert_eq!(ReplyCode::from_raw(-22), ReplyCode::Unknown(-22));
        assert_eq!(ReplyCode::from_raw(50), ReplyCode::Unknown(50));
        assert!(!ReplyCode::from_raw(126).is_success());
        assert_eq!(ReplyCode::from(RetCode::ErrNoDisk).raw(), 138);
    }
}
