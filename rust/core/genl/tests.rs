// SPDX-License-Identifier: GPL-2.0
//! Cross-module tests of the codec: byte-exact messages, request validation paths, round trips
//! of every typed set, and robustness against arbitrary input.

use proptest::prelude::*;

use super::addr::SockAddr;
use super::build::{
    build_notification, build_reply, build_request, write_context_echo, write_reply, ReplyHeader,
    RequestHeader,
};
use super::commands::{Command, COMMANDS};
use super::msg::{Frames, Message, MsgError, MINOR_NONE, NLM_F_DUMP, NLM_F_MULTI};
use super::nla::{Attr, Attrs, NLA_F_NESTED};
use super::request::{error_reply, validate_request, RequestError};
use super::ret_code::{ReplyCode, RetCode};
use super::sets::{self, notify, sib_reason, FieldDef, FieldType, SetDef, Tla, ALL_SETS};
use super::typed::*;
use super::validate::{errno, validate_set, ErrorKind, Outcome, ValidateOpts};
use super::value::{AttrProblem, Value};
use super::writer::{EncodeError, Writer};

const FAMILY: u16 = 0x1c;

fn ne32(v: u32) -> [u8; 4] {
    v.to_ne_bytes()
}

fn request(cmd: Command, minor: u32, sets: &[&dyn SetEncode]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = build_request(
        &mut buf,
        &RequestHeader {
            family: FAMILY,
            cmd,
            minor,
            set_defaults: false,
            nl_flags: 0,
            seq: 1234,
            pid: 5678,
        },
        sets,
    )
    .unwrap();
    buf.truncate(n);
    buf
}

/// Headers as drbdsetup-84 writes them (`genlmsg_put` + `genl_send`).
fn headers(len: u32, cmd: u8, minor: u32, flags: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(ne32(len));
    v.extend(FAMILY.to_ne_bytes());
    v.extend(1u16.to_ne_bytes()); // NLM_F_REQUEST
    v.extend(ne32(1234));
    v.extend(ne32(5678));
    v.extend([cmd, 1, 0, 0]);
    v.extend(ne32(minor));
    v.extend(ne32(flags));
    v
}

#[test]
#[cfg(target_endian = "little")]
fn primary_force_request_is_byte_exact() {
    // drbdsetup-84 `primary 0 --force`: minor in the header, no cfg_context, a nested
    // SET_ROLE_PARMS (NLA_F_NESTED) holding T_assume_uptodate (1 | 0x4000) as u8 = 1.
    let parms = SetRoleParms {
        assume_uptodate: Some(true),
    };
    let got = request(Command::Primary, 0, &[&parms]);
    let expected: &[u8] = &[
        40, 0, 0, 0, 0x1c, 0, 1, 0, 0xd2, 0x04, 0, 0, 0x2e, 0x16, 0, 0, // nlmsghdr
        14, 1, 0, 0, // genlmsghdr: DRBD_ADM_PRIMARY, version 1
        0, 0, 0, 0, 0, 0, 0, 0, // drbd_genlmsghdr: minor 0, flags 0
        12, 0, 6, 0x80, // DRBD_NLA_SET_ROLE_PARMS | NLA_F_NESTED
        5, 0, 1, 0x40, 1, 0, 0, 0, // T_assume_uptodate = 1, padded
    ];
    assert_eq!(got, expected);

    // The kernel side accepts it and sees the flag.
    let req = validate_request(&got, true).unwrap();
    assert_eq!(req.cmd.cmd, Command::Primary);
    assert_eq!(req.minor(), 0);
    assert!(req.context.is_none());
    assert_eq!(req.get::<SetRoleParms>(), Some(parms));
    // Plain `primary 0` sends no SET_ROLE_PARMS at all.
    let plain = request(Command::Primary, 0, &[]);
    assert_eq!(plain, headers(28, 14, 0, 0));
    assert_eq!(
        validate_request(&plain, true)
            .unwrap()
            .get::<SetRoleParms>(),
        None
    );
}

#[test]
#[cfg(target_endian = "little")]
fn new_resource_and_attach_requests_are_byte_exact() {
    // `new-resource r0`: minor ~0, cfg_context{T_ctx_resource_name (0x4002) "r0"}.
    let ctx = CfgContext {
        ctx_resource_name: Some(b"r0"),
        ..Default::default()
    };
    let got = request(Command::NewResource, MINOR_NONE, &[&ctx]);
    let mut expected = headers(40, 7, MINOR_NONE, 0);
    expected.extend([12, 0, 2, 0x80, 7, 0, 2, 0x40, b'r', b'0', 0, 0]);
    assert_eq!(got, expected);

    // `attach 0 /dev/vdb /dev/vdb internal --resync-rate=1M`: positional fields with plain
    // types (declared R I, not M), meta_dev_idx -3 as u32, resync_rate 1024 KiB/s flagged.
    let dc = DiskConf {
        backing_dev: Some(b"/dev/vdb"),
        meta_dev: Some(b"/dev/vdb"),
        meta_dev_idx: Some(-3),
        resync_rate: Some(1024),
        ..Default::default()
    };
    let got = request(Command::Attach, 0, &[&dc]);
    let mut expected = headers(28 + 52, 12, 0, 0);
    expected.extend([52, 0, 3, 0x80]);
    expected.extend([13, 0, 1, 0]);
    expected.extend(b"/dev/vdb\0\0\0\0");
    expected.extend([13, 0, 2, 0]);
    expected.extend(b"/dev/vdb\0\0\0\0");
    expected.extend([8, 0, 3, 0, 0xfd, 0xff, 0xff, 0xff]);
    expected.extend([8, 0, 8, 0x40, 0, 4, 0, 0]);
    assert_eq!(got, expected);
    let req = validate_request(&got, true).unwrap();
    assert_eq!(req.get::<DiskConf>(), Some(dc));

    // `disk-options 0 --set-defaults --al-extents=3389`: flags bit 0 in the drbd header.
    let mut buf = [0u8; 128];
    let n = build_request(
        &mut buf,
        &RequestHeader {
            family: FAMILY,
            cmd: Command::ChgDiskOpts,
            minor: 0,
            set_defaults: true,
            nl_flags: 0,
            seq: 1234,
            pid: 5678,
        },
        &[&DiskConf {
            al_extents: Some(3389),
            ..Default::default()
        }],
    )
    .unwrap();
    assert_eq!(&buf[..28], &headers(40, 28, 0, 1)[..]);
    let req = validate_request(&buf[..n], true).unwrap();
    assert!(req.set_defaults());
    // A change request decodes without the fields attach requires (backing_dev, ...).
    let conf = req.get::<DiskConf>().expect("disk_conf of disk-options");
    assert_eq!(conf.al_extents, Some(3389));
    assert_eq!(conf.backing_dev, None);
    // drbdadm-84's `-- --resync-after=1 disk-options r0`.
    let n = build_request(
        &mut buf,
        &RequestHeader {
            family: FAMILY,
            cmd: Command::ChgDiskOpts,
            minor: 0,
            set_defaults: false,
            nl_flags: 0,
            seq: 1,
            pid: 1,
        },
        &[&DiskConf {
            resync_after: Some(1),
            ..Default::default()
        }],
    )
    .unwrap();
    let req = validate_request(&buf[..n], true).unwrap();
    assert_eq!(req.get::<DiskConf>().and_then(|c| c.resync_after), Some(1));
}

#[test]
#[cfg(target_endian = "little")]
fn error_reply_is_byte_exact() {
    // The kernel's answer to an attach without disk_conf: ret_code 126, echoed context
    // (mandatory bits stripped), cfg_reply without NLA_F_NESTED, info_text as 0x4001.
    let ctx_req = {
        let ctx = CfgContext {
            ctx_volume: Some(0),
            ..Default::default()
        };
        request(Command::Attach, 0, &[&ctx])
    };
    let req_err = validate_request(&ctx_req, true).unwrap_err();
    let (ret, info) = error_reply(&req_err).unwrap();
    assert_eq!(
        (ret, info),
        (RetCode::ErrMandatoryTag, "required attribute missing")
    );
    let msg = Message::parse(&ctx_req).unwrap();
    let echo = msg.tla(Tla::CfgContext).unwrap();

    let mut buf = [0u8; 256];
    let n = build_reply(
        &mut buf,
        &ReplyHeader {
            family: FAMILY,
            cmd: Command::Attach.number(),
            nl_flags: 0,
            seq: 1234,
            pid: 5678,
            minor: 0,
            ret: ret.into(),
        },
        Some(&echo),
        Some(info.as_bytes()),
        &[],
        &EncodeOpts::KERNEL,
    )
    .unwrap();
    let mut expected = Vec::new();
    expected.extend(ne32(28 + 12 + 4 + 4 + 28));
    expected.extend(FAMILY.to_ne_bytes());
    expected.extend([0, 0]);
    expected.extend(ne32(1234));
    expected.extend(ne32(5678));
    expected.extend([12, 1, 0, 0]);
    expected.extend(ne32(0));
    expected.extend(ne32(126));
    expected.extend([12, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 0]); // echo, bit stripped
                                                               // DRBD_NLA_CFG_REPLY without NLA_F_NESTED; its length counts the padded child.
    expected.extend([4 + 32, 0, 1, 0]);
    expected.extend([4 + 27, 0, 1, 0x40]);
    expected.extend(b"required attribute missing\0\0");
    assert_eq!(&buf[..n], &expected[..]);

    // The tool side reads it back.
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.reply_code(), ReplyCode::Ret(RetCode::ErrMandatoryTag));
    assert_eq!(m.info_text(), Some(&b"required attribute missing"[..]));
    assert_eq!(
        CfgContext::from_message(&m, &ValidateOpts::LENIENT).unwrap(),
        Some(CfgContext {
            ctx_volume: Some(0),
            ..Default::default()
        })
    );
}

#[test]
fn status_reply_round_trip() {
    let mut uuid_buf = [0u8; 32];
    let uuids = u64s_to_bytes(&[0xABCD, 0, 0x1111, 0x2222], &mut uuid_buf).unwrap();
    let ctx = CfgContext {
        ctx_volume: Some(0),
        ctx_resource_name: Some(b"r0"),
        ..Default::default()
    };
    let ro = ResOpts::defaults();
    let dc = DiskConf {
        backing_dev: Some(b"/dev/vdb"),
        meta_dev: Some(b"/dev/vdb"),
        meta_dev_idx: Some(-3),
        ..DiskConf::defaults()
    };
    let si = StateInfo {
        sib_reason: Some(sib_reason::GET_STATUS_REPLY),
        current_state: Some(0x1_0002),
        ed_uuid: Some(0xABCD),
        capacity: Some(2048),
        uuids: Some(uuids),
        disk_flags: Some(0x5),
        bits_total: Some(1),
        bits_oos: Some(0),
        ..Default::default()
    };
    for opts in [
        EncodeOpts::KERNEL,
        EncodeOpts {
            pad_u64: true,
            ..EncodeOpts::KERNEL
        },
    ] {
        let mut buf = [0u8; 1024];
        let n = build_reply(
            &mut buf,
            &ReplyHeader {
                family: FAMILY,
                cmd: Command::GetStatus.number(),
                nl_flags: 0,
                seq: 9,
                pid: 10,
                minor: 0,
                ret: RetCode::NoError.into(),
            },
            None,
            None,
            &[&ctx, &ro, &dc, &si],
            &opts,
        )
        .unwrap();
        let m = Message::parse(&buf[..n]).unwrap();
        assert!(m.reply_code().is_success());
        let l = ValidateOpts::LENIENT;
        assert_eq!(CfgContext::from_message(&m, &l).unwrap(), Some(ctx));
        assert_eq!(ResOpts::from_message(&m, &l).unwrap(), Some(ro));
        assert_eq!(DiskConf::from_message(&m, &l).unwrap(), Some(dc));
        let back = StateInfo::from_message(&m, &l).unwrap().unwrap();
        assert_eq!(back, si);
        assert_eq!(u64_at(back.uuids.unwrap(), 3), Some(0x2222));
        // Hand-built sets without NLA_F_NESTED, generic ones with it.
        assert!(!m.tla(Tla::StateInfo).unwrap().has_nested_flag());
        assert!(m.tla(Tla::DiskConf).unwrap().has_nested_flag());
        // sib_reason carries the mandatory bit (0x4001), current_state (R only) does not.
        let si_attr = m.tla(Tla::StateInfo).unwrap();
        let types: Vec<u16> = si_attr
            .nested()
            .map(|a| a.unwrap().raw_type())
            .filter(|&t| t != 0)
            .collect();
        assert_eq!(&types[..4], &[0x4001, 2, 0x4004, 0x4003]);
        if opts.pad_u64 {
            assert!(si_attr.nested().any(|a| a.unwrap().raw_type() == 0));
        }
        // disk_conf from the generic serializer: plain ids.
        assert!(m
            .tla(Tla::DiskConf)
            .unwrap()
            .nested()
            .all(|a| a.unwrap().raw_type() < 0x4000));
    }
}

#[test]
fn notification_burst_in_one_buffer() {
    let mut buf = [0u8; 1024];
    let mut w = Writer::new(&mut buf);
    let ctx = CfgContext {
        ctx_resource_name: Some(b"r0"),
        ..Default::default()
    };
    let nh1 = NotificationHeader {
        nh_type: Some(notify::CREATE | notify::CONTINUES),
    };
    let nh2 = NotificationHeader {
        nh_type: Some(notify::CREATE),
    };
    let ri = ResourceInfo {
        res_role: Some(2),
        res_susp: Some(false),
        res_susp_nod: Some(false),
        res_susp_fen: Some(false),
    };
    let rs = ResourceStatistics {
        res_stat_write_ordering: Some(2),
    };
    let a = super::build::write_notification(
        &mut w,
        &super::build::NotificationHeader {
            family: FAMILY,
            cmd: Command::ResourceState,
            seq: 3,
            minor: MINOR_NONE,
        },
        &[&ctx, &nh1, &ri, &rs],
        &EncodeOpts::KERNEL,
    )
    .unwrap();
    // The second message starts 4-aligned right after the first.
    let dev = DeviceInfo {
        dev_disk_state: Some(0),
    };
    let b = super::build::write_notification(
        &mut w,
        &super::build::NotificationHeader {
            family: FAMILY,
            cmd: Command::DeviceState,
            seq: 4,
            minor: 7,
        },
        &[&ctx, &nh2, &dev],
        &EncodeOpts::KERNEL,
    )
    .unwrap();
    assert_eq!(w.len(), a + b);
    let n = w.len();
    let msgs: Vec<Message<'_>> = Frames::new(&buf[..n])
        .map(|f| Message::from_frame(&f.unwrap()).unwrap())
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].cmd(), 34);
    assert_eq!(msgs[0].nl.pid, 0);
    assert_eq!(msgs[0].minor(), MINOR_NONE);
    assert_eq!(msgs[0].reply_code(), ReplyCode::Ret(RetCode::NoError));
    let l = ValidateOpts::LENIENT;
    assert_eq!(
        NotificationHeader::from_message(&msgs[0], &l).unwrap(),
        Some(nh1)
    );
    assert_eq!(ResourceInfo::from_message(&msgs[0], &l).unwrap(), Some(ri));
    assert_eq!(
        ResourceStatistics::from_message(&msgs[0], &l).unwrap(),
        Some(rs)
    );
    assert_eq!(DeviceInfo::from_message(&msgs[1], &l).unwrap(), Some(dev));
    assert_eq!(msgs[1].minor(), 7);

    // A single notification into a fresh buffer, and a too small one.
    let mut one = [0u8; 64];
    let h = super::build::NotificationHeader {
        family: FAMILY,
        cmd: Command::InitialStateDone,
        seq: 5,
        minor: MINOR_NONE,
    };
    assert_eq!(
        build_notification(&mut one, &h, &[], &EncodeOpts::KERNEL),
        Ok(28)
    );
    assert_eq!(
        build_notification(&mut one[..27], &h, &[], &EncodeOpts::KERNEL),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn dump_request_and_multi_reply() {
    let mut buf = [0u8; 64];
    let n = build_request(
        &mut buf,
        &RequestHeader {
            family: FAMILY,
            cmd: Command::GetResources,
            minor: MINOR_NONE,
            set_defaults: false,
            nl_flags: NLM_F_DUMP,
            seq: 1,
            pid: 2,
        },
        &[],
    )
    .unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.nl.flags, NLM_F_DUMP | 1);
    assert!(validate_request(&buf[..n], true).is_ok());

    let mut out = [0u8; 256];
    let mut w = Writer::new(&mut out);
    let h = ReplyHeader {
        family: FAMILY,
        cmd: Command::GetDevices.number(),
        nl_flags: NLM_F_MULTI,
        seq: 1,
        pid: 2,
        minor: MINOR_NONE,
        ret: RetCode::ErrResNotKnown.into(),
    };
    write_reply(&mut w, &h, None, None, &[], &EncodeOpts::KERNEL).unwrap();
    let n = w.len();
    let m = Message::parse(&out[..n]).unwrap();
    assert_eq!(m.reply_code(), ReplyCode::Ret(RetCode::ErrResNotKnown));
    assert_eq!(m.nl.flags, NLM_F_MULTI);
}

fn set_bytes(tla_type: u16, build: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut w = Writer::new(&mut buf);
    let nest = w.nest_start(tla_type).unwrap();
    build(&mut w);
    w.nest_end(nest).unwrap();
    let n = w.len();
    buf.truncate(n);
    buf
}

fn raw_request(cmd: u8, minor: u32, tlas: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = tlas.concat();
    let mut v = headers((28 + body.len()) as u32, cmd, minor, 0);
    v.extend(body);
    v
}

fn outcome(buf: &[u8]) -> Result<(), (Outcome, Option<&'static str>, ErrorKind)> {
    match validate_request(buf, true) {
        Ok(_) => Ok(()),
        Err(RequestError::Invalid(e)) => Err((e.outcome(), e.field, e.kind)),
        Err(e) => panic!("unexpected {:?}", e),
    }
}

fn reply(info: &'static str) -> Outcome {
    Outcome::Reply {
        ret_code: RetCode::ErrMandatoryTag,
        info_text: info,
    }
}

#[test]
fn every_validation_error_path() {
    let attach = Command::Attach.number();
    let disk = |f: &dyn Fn(&mut Writer<'_>)| {
        set_bytes(0x8003, |w| {
            w.put_string(1, b"/dev/vdb").unwrap();
            w.put_string(2, b"/dev/vdb").unwrap();
            w.put_s32(3, -3).unwrap();
            f(w);
        })
    };
    let inv = "invalid attribute value";
    type Case = (
        &'static str,
        Vec<u8>,
        Outcome,
        Option<&'static str>,
        ErrorKind,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown mandatory attribute",
            raw_request(attach, 0, &[disk(&|w| w.put_u32(0x4000 | 27, 1).unwrap())]),
            reply("unknown mandatory attribute"),
            None,
            ErrorKind::UnknownMandatory,
        ),
        (
            "missing required field",
            raw_request(
                attach,
                0,
                &[set_bytes(0x8003, |w| w.put_string(1, b"/dev/vdb").unwrap())],
            ),
            reply("required attribute missing"),
            Some("meta_dev"),
            ErrorKind::MissingRequired,
        ),
        (
            "missing required set",
            raw_request(attach, 0, &[]),
            reply("required attribute missing"),
            None,
            ErrorKind::MissingRequired,
        ),
        (
            "invariant in change request",
            raw_request(
                Command::ChgDiskOpts.number(),
                0,
                &[set_bytes(0x8003, |w| w.put_u32(0x4005, 8).unwrap())],
            ),
            reply("can not change invariant setting"),
            Some("max_bio_bvecs"),
            ErrorKind::InvariantChange,
        ),
        (
            "u32 of wrong size",
            raw_request(attach, 0, &[disk(&|w| w.put_u8(0x4008, 1).unwrap())]),
            reply(inv),
            Some("resync_rate"),
            ErrorKind::Invalid(AttrProblem::BadLength {
                len: 1,
                expected: 4,
            }),
        ),
        (
            "u64 of wrong size",
            raw_request(attach, 0, &[disk(&|w| w.put_u32(0x4004, 1).unwrap())]),
            reply(inv),
            Some("disk_size"),
            ErrorKind::Invalid(AttrProblem::BadLength {
                len: 4,
                expected: 8,
            }),
        ),
        (
            "flag not 0/1",
            raw_request(attach, 0, &[disk(&|w| w.put_u8(0x4011, 7).unwrap())]),
            reply(inv),
            Some("disk_flushes"),
            ErrorKind::Invalid(AttrProblem::FlagNotBool(7)),
        ),
        (
            "string without NUL",
            raw_request(
                attach,
                0,
                &[set_bytes(0x8003, |w| w.put_attr(1, b"/dev/vdb").unwrap())],
            ),
            reply(inv),
            Some("backing_dev"),
            ErrorKind::Invalid(AttrProblem::StringNotTerminated),
        ),
        (
            "string too long",
            raw_request(
                Command::ResourceOpts.number(),
                MINOR_NONE,
                &[set_bytes(0x8004, |w| {
                    w.put_string(0x4001, &[b'f'; 40]).unwrap()
                })],
            ),
            reply(inv),
            Some("cpu_mask"),
            ErrorKind::Invalid(AttrProblem::StringNotTerminated),
        ),
        (
            "string too long with padding NULs",
            raw_request(
                Command::ResourceOpts.number(),
                MINOR_NONE,
                &[set_bytes(0x8004, |w| {
                    let mut s = vec![b'f'; 30];
                    s.extend([0, 0, 0]);
                    w.put_attr(0x4001, &s).unwrap()
                })],
            ),
            reply(inv),
            Some("cpu_mask"),
            ErrorKind::Invalid(AttrProblem::StringTooLong { len: 32, max: 31 }),
        ),
        (
            "out of range",
            raw_request(attach, 0, &[disk(&|w| w.put_u32(0x400a, 66).unwrap())]),
            reply(inv),
            Some("al_extents"),
            ErrorKind::OutOfRange { value: 66 },
        ),
        (
            "malformed nested set",
            raw_request(
                attach,
                0,
                &[set_bytes(0x8003, |w| w.put_raw(&[9, 0, 1, 0]).unwrap())],
            ),
            reply(inv),
            None,
            ErrorKind::Malformed(super::nla::NlaError {
                offset: 0,
                kind: super::nla::NlaErrorKind::LengthBeyondBuffer,
            }),
        ),
        (
            "binary too long in context: netlink error",
            raw_request(
                Command::Disconnect.number(),
                MINOR_NONE,
                &[set_bytes(0x8002, |w| {
                    w.put_attr(0x4003, &[0; 129]).unwrap()
                })],
            ),
            Outcome::Netlink {
                errno: errno::EINVAL,
            },
            Some("ctx_my_addr"),
            ErrorKind::Invalid(AttrProblem::BinaryTooLong { len: 129, max: 128 }),
        ),
        (
            "unknown mandatory in context: netlink error",
            raw_request(
                Command::Down.number(),
                MINOR_NONE,
                &[set_bytes(0x8002, |w| w.put_u32(0x4005, 1).unwrap())],
            ),
            Outcome::Netlink {
                errno: errno::EOPNOTSUPP,
            },
            None,
            ErrorKind::UnknownMandatory,
        ),
    ];
    for (name, buf, want_outcome, want_field, want_kind) in cases {
        assert_eq!(
            outcome(&buf),
            Err((want_outcome, want_field, want_kind)),
            "case {}",
            name
        );
    }
}

#[test]
fn request_level_errors() {
    // Framing.
    let ok = request(Command::Invalidate, 0, &[]);
    assert!(validate_request(&ok, true).is_ok());
    assert!(matches!(
        validate_request(&ok[..27], true),
        Err(RequestError::Message(MsgError::Truncated))
    ));
    let mut broken = ok.clone();
    broken.extend([5, 0, 1, 0]);
    broken[0] += 4;
    let e = validate_request(&broken, true).unwrap_err();
    assert!(matches!(e, RequestError::Message(MsgError::Attr(_))));
    assert_eq!(
        e.outcome(),
        Outcome::Netlink {
            errno: errno::EINVAL
        }
    );
    assert_eq!(error_reply(&e), None);
    // A known top-level attribute too short to be a nest.
    let mut short = ok.clone();
    short.extend([5, 0, 6, 0x80, 1, 0, 0, 0]);
    short[0] += 8;
    assert_eq!(
        validate_request(&short, true),
        Err(RequestError::Message(MsgError::BadNest { ty: 0x8006 }))
    );
    // Unknown command numbers and notifications are not ops.
    for cmd in [0u8, 3, 39, 41, 1, 34, 200] {
        let mut b = ok.clone();
        b[16] = cmd;
        let e = validate_request(&b, true).unwrap_err();
        assert_eq!(e, RequestError::UnknownCommand(cmd));
        assert_eq!(
            e.outcome(),
            Outcome::Netlink {
                errno: errno::EOPNOTSUPP
            }
        );
    }
    // Display names set, field and problem.
    let b = raw_request(
        Command::Attach.number(),
        0,
        &[set_bytes(0x8003, |w| w.put_attr(1, b"x").unwrap())],
    );
    let text = format!("{}", validate_request(&b, true).unwrap_err());
    assert!(text.contains("disk_conf.backing_dev"), "{}", text);
    assert!(text.contains("NUL"), "{}", text);
}

#[test]
fn mandatory_bit_and_nested_flag_tolerance() {
    let primary = Command::Primary.number();
    // Unknown attribute without the mandatory bit: ignored.
    let b = raw_request(
        primary,
        0,
        &[set_bytes(0x8006, |w| {
            w.put_u32(2, 5).unwrap();
            w.put_flag(0x4001, true).unwrap();
        })],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(
        req.get::<SetRoleParms>().unwrap().assume_uptodate,
        Some(true)
    );
    // Known field without the mandatory bit, TLA without NLA_F_NESTED: accepted.
    let b = raw_request(
        primary,
        0,
        &[set_bytes(6, |w| w.put_flag(1, true).unwrap())],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(
        req.get::<SetRoleParms>().unwrap().assume_uptodate,
        Some(true)
    );
    // NLA_F_NESTED on a leaf attribute: tolerated (lenient kernel validation).
    let b = raw_request(
        primary,
        0,
        &[set_bytes(6, |w| w.put_flag(0x8001, true).unwrap())],
    );
    assert!(validate_request(&b, true).is_ok());
    // Unknown top-level attributes are ignored, with or without flag bits; so are sets the
    // command does not take.
    let b = raw_request(
        primary,
        0,
        &[
            set_bytes(0x8000 | 30, |w| w.put_u32(0x4009, 1).unwrap()),
            set_bytes(14, |_| {}),
            set_bytes(0x8003, |w| w.put_u32(0x4077, 1).unwrap()),
            set_bytes(0x8006, |w| w.put_flag(0x4001, false).unwrap()),
        ],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(
        req.get::<SetRoleParms>().unwrap().assume_uptodate,
        Some(false)
    );
    // Pad attributes (type 0, with or without payload) inside sets are ignored.
    let b = raw_request(
        Command::Resize.number(),
        0,
        &[set_bytes(0x8007, |w| {
            w.put_attr(0, &[]).unwrap();
            w.put_u64(0x4001, 4096).unwrap();
            w.put_attr(0x4000, &[0; 4]).unwrap();
        })],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(req.get::<ResizeParms>().unwrap().resize_size, Some(4096));
    // Duplicate top-level attributes: the last one counts (and both are validated only as
    // the last one, like nla_parse).
    let b = raw_request(
        primary,
        0,
        &[
            set_bytes(0x8006, |w| w.put_flag(0x4001, true).unwrap()),
            set_bytes(0x8006, |w| w.put_flag(0x4001, false).unwrap()),
        ],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(
        req.get::<SetRoleParms>().unwrap().assume_uptodate,
        Some(false)
    );
}

#[test]
fn context_echo_strips_mandatory_bits() {
    let addr_buf = &mut [0u8; 28];
    let my = SockAddr::ipv4([10, 0, 0, 1], 7789)
        .encode(addr_buf)
        .unwrap()
        .to_vec();
    let peer_buf = &mut [0u8; 28];
    let peer = SockAddr::ipv4([10, 0, 0, 2], 7789)
        .encode(peer_buf)
        .unwrap()
        .to_vec();
    let ctx = CfgContext {
        ctx_my_addr: Some(&my),
        ctx_peer_addr: Some(&peer),
        ..Default::default()
    };
    let b = request(
        Command::Disconnect,
        MINOR_NONE,
        &[
            &ctx,
            &DisconnectParms {
                force_disconnect: Some(true),
            },
        ],
    );
    let req = validate_request(&b, true).unwrap();
    assert_eq!(req.context, Some(ctx));
    assert_eq!(
        SockAddr::decode(req.context.unwrap().ctx_peer_addr.unwrap()),
        Some(SockAddr::ipv4([10, 0, 0, 2], 7789))
    );
    let mut out = [0u8; 128];
    let mut w = Writer::new(&mut out);
    write_context_echo(&mut w, &req.context_attr.unwrap()).unwrap();
    let echoed = Attrs::new(w.written()).next().unwrap().unwrap();
    assert_eq!(echoed.raw_type(), 2 | NLA_F_NESTED);
    let inner: Vec<Attr<'_>> = echoed.nested().map(Result::unwrap).collect();
    assert_eq!(inner.len(), 2);
    assert_eq!((inner[0].raw_type(), inner[0].payload()), (3, &my[..]));
    assert_eq!((inner[1].raw_type(), inner[1].payload()), (4, &peer[..]));
}

#[test]
fn kernel_registers_ops_from_the_table() {
    let ops: Vec<u8> = super::commands::ops().map(|c| c.number()).collect();
    assert_eq!(ops.first(), Some(&2));
    assert!(ops.contains(&38));
    assert!(!ops.contains(&1));
    assert!(COMMANDS.iter().all(|c| c.number() < super::RESV_START_OP));
}

// ---------------------------------------------------------------------------------------
// Round trips of every typed set, driven by the tables.

#[derive(Clone, Debug)]
enum OwnedValue {
    Flag(bool),
    U32(u32),
    S32(i32),
    U64(u64),
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

impl OwnedValue {
    fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Flag(v) => Value::Flag(*v),
            OwnedValue::U32(v) => Value::U32(*v),
            OwnedValue::S32(v) => Value::S32(*v),
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::Str(v) => Value::Str(v),
            OwnedValue::Bin(v) => Value::Bin(v),
        }
    }
}

fn value_strategy(f: &'static FieldDef) -> BoxedStrategy<OwnedValue> {
    match f.ty {
        FieldType::Flag => any::<bool>().prop_map(OwnedValue::Flag).boxed(),
        FieldType::U32 => any::<u32>().prop_map(OwnedValue::U32).boxed(),
        FieldType::S32 => any::<i32>().prop_map(OwnedValue::S32).boxed(),
        FieldType::U64 => any::<u64>().prop_map(OwnedValue::U64).boxed(),
        FieldType::Str { max } => {
            let max = if max == 0 { 300 } else { usize::from(max) - 1 };
            prop::collection::vec(1u8..=255, 0..=max)
                .prop_map(OwnedValue::Str)
                .boxed()
        }
        FieldType::Bin { max } => prop::collection::vec(any::<u8>(), 0..=usize::from(max))
            .prop_map(OwnedValue::Bin)
            .boxed(),
    }
}

/// Random content of set `def`: every field present or not (required ones always present).
fn set_strategy(def: &'static SetDef) -> impl Strategy<Value = Vec<(u16, OwnedValue)>> {
    let per_field: Vec<BoxedStrategy<Option<(u16, OwnedValue)>>> = def
        .fields
        .iter()
        .map(|f| {
            let id = f.id;
            let v = value_strategy(f).prop_map(move |v| (id, v));
            if f.flags.is_required() {
                v.prop_map(Some).boxed()
            } else {
                prop::option::of(v).boxed()
            }
        })
        .collect();
    (per_field, any::<prop::sample::Index>()).prop_map(|(fields, rot)| {
        let mut v: Vec<(u16, OwnedValue)> = fields.into_iter().flatten().collect();
        // Any wire order must be accepted.
        if !v.is_empty() {
            let k = rot.index(v.len());
            v.rotate_left(k);
        }
        v
    })
}

fn opts_strategy() -> impl Strategy<Value = EncodeOpts> {
    (any::<bool>(), any::<bool>()).prop_map(|(kernel, pad)| EncodeOpts {
        sender: if kernel { Sender::Kernel } else { Sender::Tool },
        pad_u64: pad,
        include_sensitive: true,
    })
}

fn encode_set(s: &dyn SetEncode, opts: &EncodeOpts) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut w = Writer::new(&mut buf);
    s.encode(&mut w, opts).unwrap();
    let n = w.len();
    buf.truncate(n);
    buf
}

fn tla_payload(bytes: &[u8]) -> &[u8] {
    Attrs::new(bytes).next().unwrap().unwrap().payload()
}

macro_rules! round_trip_tests {
    ($( $test:ident: $ty:ident = $set:path; )*) => {
        $(
            proptest! {
                #[test]
                fn $test(values in set_strategy(&$set), opts in opts_strategy()) {
                    let pairs: Vec<(u16, Value<'_>)> =
                        values.iter().map(|(id, v)| (*id, v.as_value())).collect();
                    let generic = FieldValues { set: &$set, values: &pairs };
                    let bytes = encode_set(&generic, &opts);
                    let payload = tla_payload(&bytes);
                    // Decode into the typed struct: every generated value is there.
                    let typed = $ty::decode(payload, &ValidateOpts::LENIENT).unwrap();
                    let view = validate_set(&$set, payload, &ValidateOpts::LENIENT).unwrap();
                    for (id, v) in &pairs {
                        prop_assert_eq!(view.get(*id), Some(*v));
                    }
                    prop_assert_eq!(view.fields().count(), pairs.len());
                    // Typed → bytes → typed is the identity, in every style.
                    let again = encode_set(&typed, &opts);
                    let back = $ty::decode(tla_payload(&again), &ValidateOpts::LENIENT).unwrap();
                    prop_assert_eq!(back, typed);
                    let tool = encode_set(&typed, &EncodeOpts::TOOL);
                    let back = $ty::decode(tla_payload(&tool), &ValidateOpts::LENIENT).unwrap();
                    prop_assert_eq!(back, typed);
                    // Same number of non-pad attributes as generated.
                    let n = Attrs::new(tla_payload(&again))
                        .map(Result::unwrap)
                        .filter(|a| a.raw_type() != 0)
                        .count();
                    prop_assert_eq!(n, pairs.len());
                }
            }
        )*

        #[test]
        fn every_set_has_a_round_trip_test() {
            let covered: Vec<&str> = vec![$($set.name),*];
            for s in ALL_SETS {
                assert!(covered.contains(&s.name), "{} not covered", s.name);
            }
        }
    };
}

round_trip_tests! {
    rt_cfg_reply: CfgReply = sets::CFG_REPLY;
    rt_cfg_context: CfgContext = sets::CFG_CONTEXT;
    rt_disk_conf: DiskConf = sets::DISK_CONF;
    rt_res_opts: ResOpts = sets::RES_OPTS;
    rt_net_conf: NetConf = sets::NET_CONF;
    rt_set_role_parms: SetRoleParms = sets::SET_ROLE_PARMS;
    rt_resize_parms: ResizeParms = sets::RESIZE_PARMS;
    rt_state_info: StateInfo = sets::STATE_INFO;
    rt_start_ov_parms: StartOvParms = sets::START_OV_PARMS;
    rt_new_c_uuid_parms: NewCUuidParms = sets::NEW_C_UUID_PARMS;
    rt_timeout_parms: TimeoutParms = sets::TIMEOUT_PARMS;
    rt_disconnect_parms: DisconnectParms = sets::DISCONNECT_PARMS;
    rt_detach_parms: DetachParms = sets::DETACH_PARMS;
    rt_resource_info: ResourceInfo = sets::RESOURCE_INFO;
    rt_device_info: DeviceInfo = sets::DEVICE_INFO;
    rt_connection_info: ConnectionInfo = sets::CONNECTION_INFO;
    rt_peer_device_info: PeerDeviceInfo = sets::PEER_DEVICE_INFO;
    rt_resource_statistics: ResourceStatistics = sets::RESOURCE_STATISTICS;
    rt_device_statistics: DeviceStatistics = sets::DEVICE_STATISTICS;
    rt_connection_statistics: ConnectionStatistics = sets::CONNECTION_STATISTICS;
    rt_peer_device_statistics: PeerDeviceStatistics = sets::PEER_DEVICE_STATISTICS;
    rt_notification_header: NotificationHeader = sets::NOTIFICATION_HEADER;
    rt_helper_info: HelperInfo = sets::HELPER_INFO;
}

proptest! {
    /// Typed DiskConf straight from field values (not via the generic encoder).
    #[test]
    fn disk_conf_typed_round_trip(
        dev in prop::collection::vec(1u8..=255, 1..127),
        idx in any::<i32>(),
        size in prop::option::of(any::<u64>()),
        rate in prop::option::of(any::<u32>()),
        after in prop::option::of(any::<i32>()),
        flags in prop::array::uniform4(prop::option::of(any::<bool>())),
        opts in opts_strategy(),
    ) {
        let dc = DiskConf {
            backing_dev: Some(&dev),
            meta_dev: Some(&dev),
            meta_dev_idx: Some(idx),
            disk_size: size,
            resync_rate: rate,
            resync_after: after,
            disk_barrier: flags[0],
            disk_flushes: flags[1],
            disk_drain: flags[2],
            md_flushes: flags[3],
            ..Default::default()
        };
        let bytes = encode_set(&dc, &opts);
        prop_assert_eq!(DiskConf::decode(tla_payload(&bytes), &ValidateOpts::LENIENT), Ok(dc));
    }

    /// Requests survive the full message round trip (tool builds, kernel validates and
    /// decodes).
    #[test]
    fn request_round_trip(
        minor in any::<u32>(),
        force in any::<bool>(),
        size in 0u64..=(1 << 41),
        name in prop::collection::vec(b'a'..=b'z', 1..127),
    ) {
        let ctx = CfgContext { ctx_resource_name: Some(&name), ..Default::default() };
        let rp = ResizeParms {
            resize_size: Some(size),
            resize_force: Some(force),
            ..Default::default()
        };
        let b = request(Command::Resize, minor, &[&ctx, &rp]);
        let req = validate_request(&b, true).unwrap();
        prop_assert_eq!(req.minor(), minor);
        prop_assert_eq!(req.context, Some(ctx));
        prop_assert_eq!(req.get::<ResizeParms>(), Some(rp));
    }

    /// Arbitrary bytes never make any decoder panic.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = validate_request(&bytes, true);
        let _ = validate_request(&bytes, false);
        let _ = Message::parse(&bytes).map(|m| (m.info_text(), m.attrs().count()));
        for f in Frames::new(&bytes).flatten() {
            let _ = f.kind();
            let _ = Message::from_frame(&f);
        }
        for a in Attrs::new(&bytes).flatten() {
            let _ = (a.get_u8(), a.get_u32(), a.get_u64(), a.get_nul_str());
            for c in a.nested().flatten() {
                let _ = c.get_flag();
            }
        }
        for set in ALL_SETS {
            for opts in [ValidateOpts::CREATE, ValidateOpts::CHANGE, ValidateOpts::LENIENT] {
                if let Ok(v) = validate_set(set, &bytes, &opts) {
                    let _ = v.fields().count();
                }
            }
        }
        let _ = DiskConf::decode(&bytes, &ValidateOpts::CREATE);
        let _ = StateInfo::decode(&bytes, &ValidateOpts::LENIENT);
        let _ = CfgContext::decode(&bytes, &ValidateOpts::LENIENT);
        let _ = NetConf::decode(&bytes, &ValidateOpts::CHANGE);
        let _ = SockAddr::decode(&bytes);
    }

    /// Valid messages with random corruption (byte flips, truncation) never panic, and a
    /// validated request's sets always decode.
    #[test]
    fn corrupted_messages_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        cmd_pick in any::<prop::sample::Index>(),
    ) {
        let dc = DiskConf {
            backing_dev: Some(b"/dev/vdb"),
            meta_dev: Some(b"/dev/vdb"),
            meta_dev_idx: Some(-3),
            ..DiskConf::defaults()
        };
        let ctx = CfgContext {
            ctx_volume: Some(0),
            ctx_resource_name: Some(b"r0"),
            ..Default::default()
        };
        let cmd = super::commands::ops().nth(cmd_pick.index(31)).unwrap().cmd;
        let mut b = request(cmd, 0, &[&ctx, &dc, &ResizeParms::defaults()]);
        for (i, v) in flips {
            let at = i.index(b.len());
            b[at] = v;
        }
        let keep = cut.index(b.len() + 1);
        b.truncate(keep);
        if let Ok(req) = validate_request(&b, true) {
            for r in req.cmd.request {
                let a = req.msg.tla(r.tla);
                if let Some(a) = a {
                    prop_assert!(validate_set(r.tla.set(), a.payload(), &ValidateOpts::LENIENT).is_ok());
                }
            }
            let _ = req.get::<DiskConf>();
            let _ = req.get::<ResizeParms>();
        }
    }

    /// The writer never panics and never writes past the buffer; too small buffers give an
    /// error, not a partial message.
    #[test]
    fn small_buffers_are_errors(len in 0usize..200) {
        let dc = DiskConf {
            backing_dev: Some(b"/dev/vdb"),
            meta_dev: Some(b"/dev/vdb"),
            meta_dev_idx: Some(-3),
            ..DiskConf::defaults()
        };
        let mut buf = vec![0u8; len];
        let r = build_request(
            &mut buf,
            &RequestHeader {
                family: FAMILY,
                cmd: Command::Attach,
                minor: 0,
                set_defaults: false,
                nl_flags: 0,
                seq: 0,
                pid: 0,
            },
            &[&dc],
        );
        match r {
            Ok(n) => {
                prop_assert!(n <= len);
                prop_assert!(validate_request(&buf[..n], true).is_ok());
            }
            Err(e) => prop_assert_eq!(e, EncodeError::BufferTooSmall),
        }
    }
}
