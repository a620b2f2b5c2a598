// SPDX-License-Identifier: GPL-2.0
//! From the `net_conf` netlink set of `connect` / `net-options` to the [`NetSettings`] the
//! connection runs with — and what is refused, with the 8.4 reply code drbdsetup prints.
//!
//! Missing attributes take the defaults of the netlink set (one source of truth:
//! `genl::sets::NET_CONF`, via [`NetConf::defaults`]). Options this implementation does not
//! provide yet are refused up front rather than accepted and ignored: a peer configured for
//! them would fail the handshake later anyway, and a user must not believe a feature is on.

use super::super::digest::DigestAlg;
use super::super::genl::ret_code::RetCode;
use super::super::genl::typed::{DiskConf, NetConf};
use super::super::state::{Fencing, Role};
use super::super::wire::Controller;
use super::connection::{AlgName, NetSettings, SyncSettings};
use super::sync_control::RESYNC_AFTER_NONE;
use super::sync_handshake::RrConflict;
use super::WireProtocol;

/// Why a net configuration is refused: the reply code and the info text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The `drbd_ret_code`.
    pub code: RetCode,
    /// Detail for the reply's info text.
    pub why: &'static str,
}

const fn refused(code: RetCode, why: &'static str) -> Refused {
    Refused { code, why }
}

/// `rr-conflict` values (genl-netlink.md §6.2).
const ASB_CALL_HELPER: u32 = 9;
const ASB_VIOLENTLY: u32 = 10;
/// `on-congestion` value `block` (the default; pull-ahead and disconnect need Ahead/Behind).
const OC_BLOCK: u32 = 0;

fn non_empty(s: Option<&[u8]>) -> bool {
    s.is_some_and(|s| s.iter().any(|b| *b != 0))
}

/// A `verify-alg` / `csums-alg` attribute (a NUL-terminated string; absent or "" = none) as
/// the name of a digest this implementation computes ([`DigestAlg::from_name`]); `None` for
/// any other name, which drbd refuses as an algorithm the kernel does not have.
fn digest_name(attr: Option<&[u8]>) -> Option<AlgName> {
    let name = attr.unwrap_or(&[]);
    let name = name.split(|b| *b == 0).next().unwrap_or(&[]);
    let name = core::str::from_utf8(name).ok()?;
    if !name.is_empty() {
        DigestAlg::from_name(name)?;
    }
    AlgName::new(name)
}

/// The settings for `conf` (attributes present override the set's defaults).
pub fn net_settings(conf: &NetConf<'_>) -> Result<NetSettings, Refused> {
    let mut c = NetConf::defaults();
    c.apply(conf);
    if non_empty(c.cram_hmac_alg) || non_empty(c.shared_secret) {
        return Err(refused(
            RetCode::ErrAuthAlg,
            "peer authentication (cram-hmac-alg) is not supported yet",
        ));
    }
    if non_empty(c.integrity_alg) {
        return Err(refused(
            RetCode::ErrIntegrityAlg,
            "data-integrity-alg is not supported yet",
        ));
    }
    if c.two_primaries == Some(true) {
        return Err(refused(
            RetCode::ErrInvalidRequest,
            "allow-two-primaries is not supported yet",
        ));
    }
    if c.on_congestion.unwrap_or(OC_BLOCK) != OC_BLOCK {
        return Err(refused(
            RetCode::ErrInvalidRequest,
            "on-congestion other than block is not supported yet",
        ));
    }
    let protocol = match c.wire_protocol {
        Some(1) => WireProtocol::A,
        Some(2) => WireProtocol::B,
        Some(3) | None => WireProtocol::C,
        Some(_) => return Err(refused(RetCode::ErrInvalidRequest, "unknown protocol")),
    };
    let verify_alg = digest_name(c.verify_alg).ok_or(refused(
        RetCode::ErrVerifyAlg,
        "verify-alg: no such digest (crc32c, md5, sha1, sha256)",
    ))?;
    let csums_alg = digest_name(c.csums_alg).ok_or(refused(
        RetCode::ErrCsumsAlg,
        "csums-alg: no such digest (crc32c, md5, sha1, sha256)",
    ))?;
    let d = NetSettings::DEFAULT;
    Ok(NetSettings {
        protocol,
        after_sb: [
            c.after_sb_0p.unwrap_or(0),
            c.after_sb_1p.unwrap_or(0),
            c.after_sb_2p.unwrap_or(0),
        ],
        always_asbp: c.always_asbp.unwrap_or(false),
        two_primaries: false,
        discard_my_data: c.discard_my_data.unwrap_or(false),
        dry_run: c.tentative.unwrap_or(false),
        rr_conflict: match c.rr_conflict.unwrap_or(0) {
            ASB_CALL_HELPER => RrConflict::CallPriLost,
            ASB_VIOLENTLY => RrConflict::Violently,
            _ => RrConflict::Disconnect,
        },
        ping_int_s: c.ping_int.unwrap_or(d.ping_int_s),
        ping_timeout_ds: c.ping_timeo.unwrap_or(d.ping_timeout_ds),
        timeout_ds: c.timeout.unwrap_or(d.timeout_ds),
        ko_count: c.ko_count.unwrap_or(d.ko_count),
        max_epoch_size: c.max_epoch_size.unwrap_or(d.max_epoch_size),
        verify_alg,
        csums_alg,
        csums_after_crash_only: c.csums_after_crash_only.unwrap_or(false),
        use_rle: c.use_rle.unwrap_or(d.use_rle),
        ..d
    })
}

/// What `connect` / `net-options` are refused for on this device as it is now (drbd's
/// `check_net_options` beyond the options themselves): `--discard-my-data` on a Primary — a
/// split-brain victim must be demoted first, or the handshake would fail later as a
/// rr-conflict ("I shall become SyncTarget, but I am primary!") — and protocol A under
/// `resource-and-stonith` (the fencing policy needs the peer's acknowledgement of every write).
/// `disk_fencing` is the attached disk's policy (`None`: diskless).
pub fn check_net_for_device(
    net: &NetSettings,
    role: Role,
    disk_fencing: Option<Fencing>,
) -> Result<(), Refused> {
    if net.protocol == WireProtocol::A && disk_fencing == Some(Fencing::ResourceAndStonith) {
        return Err(refused(
            RetCode::ErrStonithAndProtA,
            "fencing resource-and-stonith needs protocol B or C",
        ));
    }
    if net.discard_my_data && role == Role::Primary {
        return Err(refused(
            RetCode::ErrDiscardImpossible,
            "demote the device (secondary) before connecting with --discard-my-data",
        ));
    }
    Ok(())
}

/// The disk options a device keeps while attached besides what attach itself uses: the
/// resync pacing and `resync-after` (both changeable with `disk-options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskOptions {
    /// `resync-rate` and the `c-*` controller settings.
    pub sync: SyncSettings,
    /// `resync-after`: a minor, or [`RESYNC_AFTER_NONE`].
    pub resync_after: i32,
    /// `fencing` ([`super::fencing`]).
    pub fencing: Fencing,
}

impl DiskOptions {
    /// The defaults of the `disk_conf` set.
    pub const DEFAULT: DiskOptions = DiskOptions {
        sync: SyncSettings::DEFAULT,
        resync_after: RESYNC_AFTER_NONE,
        fencing: Fencing::DontCare,
    };

    /// `attach`: the request's values over the defaults.
    pub fn of_attach(conf: &DiskConf<'_>) -> Self {
        Self::DEFAULT.changed(conf)
    }

    /// `disk-options` (`drbd_adm_disk_opts`): the values the request carries over `self`
    /// (the current options, or [`DiskOptions::DEFAULT`] for `--set-defaults`). Not
    /// validated here: `resync-after` is checked against the devices
    /// ([`super::sync_control::check_resync_after`]).
    pub fn changed(&self, conf: &DiskConf<'_>) -> Self {
        let c = &self.sync.controller;
        DiskOptions {
            sync: SyncSettings {
                resync_rate: conf.resync_rate.unwrap_or(self.sync.resync_rate),
                controller: Controller {
                    plan_ahead: conf.c_plan_ahead.unwrap_or(c.plan_ahead),
                    delay_target: conf.c_delay_target.unwrap_or(c.delay_target),
                    fill_target: conf.c_fill_target.unwrap_or(c.fill_target),
                    max_rate: conf.c_max_rate.unwrap_or(c.max_rate),
                },
            },
            resync_after: conf.resync_after.unwrap_or(self.resync_after),
            // The attribute's range is checked when the request is validated.
            fencing: conf
                .fencing
                .and_then(Fencing::from_raw)
                .unwrap_or(self.fencing),
        }
    }
}

/// Whether `mask` is a `cpu-mask` the kernel's `bitmap_parse` takes (what
/// `set_resource_options` parses): groups of one to eight hex digits separated by commas, or
/// empty (all CPUs). drbd_rs accepts and keeps the option; its threads are not pinned.
pub fn cpu_mask_valid(mask: &[u8]) -> bool {
    let mask = mask.split(|b| *b == 0).next().unwrap_or(&[]);
    mask.is_empty()
        || mask
            .split(|b| *b == b',')
            .all(|g| (1..=8).contains(&g.len()) && g.iter().all(u8::is_ascii_hexdigit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_my_data_refused_on_a_primary_only() {
        let net = NetSettings {
            discard_my_data: true,
            ..NetSettings::DEFAULT
        };
        let r = check_net_for_device(&net, Role::Primary, Some(Fencing::DontCare));
        assert_eq!(r.map_err(|r| r.code), Err(RetCode::ErrDiscardImpossible));
        assert_eq!(check_net_for_device(&net, Role::Secondary, None), Ok(()));
        let keep = NetSettings::DEFAULT;
        assert_eq!(check_net_for_device(&keep, Role::Primary, None), Ok(()));
    }

    #[test]
    fn stonith_fencing_refuses_protocol_a() {
        let a = NetSettings {
            protocol: WireProtocol::A,
            ..NetSettings::DEFAULT
        };
        let stonith = Some(Fencing::ResourceAndStonith);
        let r = check_net_for_device(&a, Role::Secondary, stonith);
        assert_eq!(r.map_err(|r| r.code), Err(RetCode::ErrStonithAndProtA));
        assert_eq!(
            check_net_for_device(&a, Role::Secondary, Some(Fencing::ResourceOnly)),
            Ok(())
        );
        assert_eq!(check_net_for_device(&a, Role::Secondary, None), Ok(()));
        let c = NetSettings::DEFAULT;
        assert_eq!(check_net_for_device(&c, Role::Secondary, stonith), Ok(()));
    }

    #[test]
    fn cpu_masks_as_bitmap_parse() {
        for ok in [&b""[..], b"3", b"ff", b"0000000f,ffffffff", b"A0\0"] {
            assert!(cpu_mask_valid(ok), "{ok:?}");
        }
        for bad in [&b"x"[..], b"3,", b",3", b"123456789", b"0x3", b"1 2"] {
            assert!(!cpu_mask_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_request_gets_drbds_defaults() {
        let s = net_settings(&NetConf::default()).unwrap();
        assert_eq!(s.protocol, WireProtocol::C);
        assert_eq!((s.ping_int_s, s.ping_timeout_ds), (10, 5));
        assert_eq!((s.timeout_ds, s.ko_count), (60, 7));
        assert_eq!(s.max_epoch_size, 2048);
        assert_eq!(s.after_sb, [0; 3]);
        assert!(!s.always_asbp);
        assert_eq!(s.rr_conflict, RrConflict::Disconnect);
        assert!(!s.discard_my_data && !s.dry_run);
        assert_eq!(s.verify_alg.as_str(), "");
    }

    #[test]
    fn given_values_win() {
        let conf = NetConf {
            wire_protocol: Some(1),
            ping_int: Some(3),
            ko_count: Some(0),
            after_sb_0p: Some(4),
            rr_conflict: Some(ASB_VIOLENTLY),
            always_asbp: Some(true),
            discard_my_data: Some(true),
            tentative: Some(true),
            verify_alg: Some(b"md5\0"),
            ..NetConf::default()
        };
        let s = net_settings(&conf).unwrap();
        assert_eq!(s.protocol, WireProtocol::A);
        assert_eq!(s.ping_int_s, 3);
        assert_eq!(s.ko_count, 0);
        assert_eq!(s.after_sb[0], 4);
        assert!(s.always_asbp);
        assert_eq!(s.rr_conflict, RrConflict::Violently);
        assert!(s.discard_my_data && s.dry_run);
        assert_eq!(s.verify_alg.as_str(), "md5");
    }

    #[test]
    fn known_digests_are_accepted_as_verify_and_csums_alg() {
        for (verify, csums) in [("md5", "sha1"), ("sha256", "crc32c"), ("crc32c", "md5")] {
            let v = std::format!("{verify}\0");
            let c = std::format!("{csums}\0");
            let conf = NetConf {
                verify_alg: Some(v.as_bytes()),
                csums_alg: Some(c.as_bytes()),
                csums_after_crash_only: Some(true),
                ..NetConf::default()
            };
            let s = net_settings(&conf).unwrap();
            assert_eq!(s.verify_alg.as_str(), verify);
            assert_eq!(s.csums_alg.as_str(), csums);
            assert!(s.csums_after_crash_only);
        }
        let s = net_settings(&NetConf::default()).unwrap();
        assert_eq!(s.csums_alg.as_str(), "");
        assert!(!s.csums_after_crash_only);
    }

    #[test]
    fn features_not_provided_are_refused_with_drbds_codes() {
        let cases: [(NetConf<'_>, RetCode); 6] = [
            (
                NetConf {
                    cram_hmac_alg: Some(b"sha256\0"),
                    ..NetConf::default()
                },
                RetCode::ErrAuthAlg,
            ),
            (
                NetConf {
                    integrity_alg: Some(b"crc32c\0"),
                    ..NetConf::default()
                },
                RetCode::ErrIntegrityAlg,
            ),
            (
                NetConf {
                    csums_alg: Some(b"md4\0"),
                    ..NetConf::default()
                },
                RetCode::ErrCsumsAlg,
            ),
            (
                NetConf {
                    verify_alg: Some(b"sha512\0"),
                    ..NetConf::default()
                },
                RetCode::ErrVerifyAlg,
            ),
            (
                NetConf {
                    two_primaries: Some(true),
                    ..NetConf::default()
                },
                RetCode::ErrInvalidRequest,
            ),
            (
                NetConf {
                    on_congestion: Some(1),
                    ..NetConf::default()
                },
                RetCode::ErrInvalidRequest,
            ),
        ];
        for (conf, code) in cases {
            assert_eq!(net_settings(&conf).map_err(|r| r.code), Err(code));
        }
        // Empty strings (drbdsetup sends "" for unset algorithms) are no request.
        let conf = NetConf {
            cram_hmac_alg: Some(b"\0"),
            csums_alg: Some(b""),
            ..NetConf::default()
        };
        assert!(net_settings(&conf).is_ok());
    }

    #[test]
    fn disk_options_default_as_the_netlink_set_and_change_only_what_is_given() {
        // One truth: the compiled-in defaults are the set's.
        assert_eq!(
            DiskOptions::of_attach(&DiskConf::defaults()),
            DiskOptions::DEFAULT
        );
        assert_eq!(
            DiskOptions::of_attach(&DiskConf::default()),
            DiskOptions::DEFAULT
        );
        let attached = DiskOptions::of_attach(&DiskConf {
            resync_rate: Some(128),
            c_plan_ahead: Some(0),
            resync_after: Some(0),
            ..DiskConf::default()
        });
        assert_eq!(attached.sync.resync_rate, 128);
        assert_eq!(attached.sync.controller.plan_ahead, 0);
        assert_eq!(attached.resync_after, 0);
        // disk-options with only a new resync-after keeps the rest.
        let changed = attached.changed(&DiskConf {
            resync_after: Some(RESYNC_AFTER_NONE),
            ..DiskConf::default()
        });
        assert_eq!(changed.sync, attached.sync);
        assert_eq!(changed.resync_after, RESYNC_AFTER_NONE);
        // --set-defaults: over the defaults.
        let reset = DiskOptions::DEFAULT.changed(&DiskConf {
            c_max_rate: Some(1000),
            ..DiskConf::default()
        });
        assert_eq!(reset.sync.resync_rate, SyncSettings::DEFAULT.resync_rate);
        assert_eq!(reset.sync.controller.max_rate, 1000);
        assert_eq!(reset.resync_after, RESYNC_AFTER_NONE);
    }
}
