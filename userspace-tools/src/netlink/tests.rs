//! Unit tests of the netlink transport against a scripted kernel: canned datagrams fed
//! through a mock [`Transport`].

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use drbd_core::genl::build::{build_reply, ReplyHeader};
use drbd_core::genl::commands::Command;
use drbd_core::genl::msg::{
    GenlMsgHdr, Message, NlMsgHdr, MINOR_NONE, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLM_F_ACK,
    NLM_F_DUMP, NLM_F_EXCL, NLM_F_MULTI, NLM_F_REQUEST,
};
use drbd_core::genl::nla::{align, NLA_F_NESTED};
use drbd_core::genl::ret_code::{ReplyCode, RetCode};
use drbd_core::genl::typed::{CfgContext, EncodeOpts, SetEncode, SetRoleParms, StateInfo};
use drbd_core::genl::validate::ValidateOpts;
use drbd_core::genl::writer::Writer;
use proptest::prelude::*;

use super::ctrl::{self, GENL_ID_CTRL};
use super::exchange::{Exchange, Mode};
use super::*;

const FAMILY: u16 = 0x1c;
const PORT: u32 = 0x1234_5678;
const EVENTS_GROUP: u32 = 9;

// ---------------------------------------------------------------------------------------------
// The scripted kernel.

/// One thing the mock kernel makes `recv` return.
enum Step {
    Dgram(Vec<u8>),
    Err(io::Error),
    Trunc(usize),
}

/// A request as the mock kernel sees it.
struct Req {
    seq: u32,
    flags: u16,
    cmd: u8,
    minor: u32,
}

type Responder = Box<dyn FnMut(&[u8]) -> Vec<Step>>;

struct Mock {
    sent: Vec<Vec<u8>>,
    queue: VecDeque<Step>,
    responder: Responder,
    send_errors: VecDeque<io::Error>,
    joined: Vec<u32>,
    recv_calls: usize,
}

impl Mock {
    fn new(responder: impl FnMut(&[u8]) -> Vec<Step> + 'static) -> Self {
        Self {
            sent: Vec::new(),
            queue: VecDeque::new(),
            responder: Box::new(responder),
            send_errors: VecDeque::new(),
            joined: Vec::new(),
            recv_calls: 0,
        }
    }
}

impl std::fmt::Debug for Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mock")
            .field("sent", &self.sent.len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl Transport for Mock {
    fn port_id(&self) -> u32 {
        PORT
    }

    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if let Some(e) = self.send_errors.pop_front() {
            return Err(e);
        }
        self.sent.push(datagram.to_vec());
        let steps = (self.responder)(datagram);
        self.queue.extend(steps);
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, _timeout: Duration) -> io::Result<Received> {
        self.recv_calls += 1;
        match self.queue.pop_front() {
            None => Ok(Received::TimedOut),
            Some(Step::Dgram(d)) => {
                buf.clear();
                buf.extend_from_slice(&d);
                Ok(Received::Datagram(d.len()))
            }
            Some(Step::Err(e)) => Err(e),
            Some(Step::Trunc(len)) => Ok(Received::Truncated { len }),
        }
    }

    fn join_group(&mut self, group: u32) -> io::Result<()> {
        self.joined.push(group);
        Ok(())
    }
}

/// What `nlctrl` reports for the family.
#[derive(Clone)]
struct FamilySpec {
    name: &'static str,
    version: u32,
    hdrsize: u32,
    groups: Vec<(&'static str, u32)>,
}

impl Default for FamilySpec {
    fn default() -> Self {
        Self {
            name: "drbd",
            version: 1,
            hdrsize: 8,
            groups: vec![("events", EVENTS_GROUP)],
        }
    }
}

fn nlhdr(len: usize, ty: u16, flags: u16, seq: u32, pid: u32) -> [u8; 16] {
    NlMsgHdr {
        len: len as u32,
        ty,
        flags,
        seq,
        pid,
    }
    .to_bytes()
}

/// A `CTRL_CMD_NEWFAMILY` reply as 6.12 builds it: id, name, version, hdrsize, maxattr, ops,
/// multicast groups.
fn newfamily(seq: u32, spec: &FamilySpec) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let mut w = Writer::new(&mut buf);
    w.put_raw(&nlhdr(0, GENL_ID_CTRL, 0, seq, PORT)).unwrap();
    w.put_raw(
        &GenlMsgHdr {
            cmd: 1,
            version: 2,
            reserved: 0,
        }
        .to_bytes(),
    )
    .unwrap();
    w.put_attr(1, &FAMILY.to_ne_bytes()).unwrap();
    w.put_string(2, spec.name.as_bytes()).unwrap();
    w.put_u32(3, spec.version).unwrap();
    w.put_u32(4, spec.hdrsize).unwrap();
    w.put_u32(5, 24).unwrap();
    let ops = w.nest_start(6 | NLA_F_NESTED).unwrap();
    for (i, cmd) in [2u32, 5, 6].into_iter().enumerate() {
        let op = w.nest_start((i as u16 + 1) | NLA_F_NESTED).unwrap();
        w.put_u32(1, cmd).unwrap();
        w.put_u32(2, 0x1e).unwrap();
        w.nest_end(op).unwrap();
    }
    w.nest_end(ops).unwrap();
    let groups = w.nest_start(7 | NLA_F_NESTED).unwrap();
    for (i, (name, id)) in spec.groups.iter().enumerate() {
        let g = w.nest_start((i as u16 + 1) | NLA_F_NESTED).unwrap();
        w.put_u32(2, *id).unwrap();
        w.put_string(1, name.as_bytes()).unwrap();
        w.nest_end(g).unwrap();
    }
    w.nest_end(groups).unwrap();
    let n = w.len();
    w.patch(0, &(n as u32).to_ne_bytes()).unwrap();
    buf.truncate(n);
    buf
}

/// `NLMSG_ERROR` answering request `seq` (`error` 0 = acknowledgement).
fn nlmsgerr(seq: u32, error: i32) -> Vec<u8> {
    let mut v = nlhdr(36, NLMSG_ERROR, 0, seq, PORT).to_vec();
    v.extend(error.to_ne_bytes());
    v.extend(nlhdr(40, FAMILY, NLM_F_REQUEST | NLM_F_ACK, seq, PORT));
    v
}

/// `NLMSG_DONE` of a dump with error code `error`.
fn done(seq: u32, error: i32) -> Vec<u8> {
    let mut v = nlhdr(20, NLMSG_DONE, NLM_F_MULTI, seq, PORT).to_vec();
    v.extend(error.to_ne_bytes());
    v
}

/// A drbd message from the kernel.
fn drbd_msg(
    seq: u32,
    cmd: u8,
    nl_flags: u16,
    minor: u32,
    ret: i32,
    info: Option<&[u8]>,
    sets: &[&dyn SetEncode],
) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = build_reply(
        &mut buf,
        &ReplyHeader {
            family: FAMILY,
            cmd,
            nl_flags,
            seq,
            pid: PORT,
            minor,
            ret: ReplyCode::from_raw(ret),
        },
        None,
        info,
        sets,
        &EncodeOpts::KERNEL,
    )
    .unwrap();
    buf.truncate(n);
    buf
}

/// Several messages in one datagram (each 4-byte aligned).
fn cat(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        v.extend_from_slice(m);
        v.resize(align(v.len()), 0);
    }
    v
}

fn parse_req(d: &[u8]) -> Req {
    let m = Message::parse(d).expect("request parses");
    Req {
        seq: m.nl.seq,
        flags: m.nl.flags,
        cmd: m.cmd(),
        minor: m.minor(),
    }
}

/// A kernel that answers `nlctrl` with `spec` (+ acknowledgement) and drbd requests with
/// `drbd`.
fn kernel_with(spec: FamilySpec, mut drbd: impl FnMut(Req) -> Vec<Step> + 'static) -> Mock {
    Mock::new(move |d: &[u8]| {
        let h = NlMsgHdr::parse(d).unwrap();
        if h.ty == GENL_ID_CTRL {
            vec![
                Step::Dgram(newfamily(h.seq, &spec)),
                Step::Dgram(nlmsgerr(h.seq, 0)),
            ]
        } else {
            assert_eq!(h.ty, FAMILY);
            drbd(parse_req(d))
        }
    })
}

fn kernel(drbd: impl FnMut(Req) -> Vec<Step> + 'static) -> Mock {
    kernel_with(FamilySpec::default(), drbd)
}

fn open(mock: Mock) -> DrbdGenl<Mock> {
    DrbdGenl::with_transport(mock, DEFAULT_TIMEOUT).expect("family resolves")
}

/// A reply plus acknowledgement in two datagrams, like the kernel sends them.
fn reply_and_ack(r: &Req, ret: i32, info: Option<&[u8]>) -> Vec<Step> {
    vec![
        Step::Dgram(drbd_msg(r.seq, r.cmd, 0, r.minor, ret, info, &[])),
        Step::Dgram(nlmsgerr(r.seq, 0)),
    ]
}

// ---------------------------------------------------------------------------------------------
// nlctrl.

#[test]
fn getfamily_request_bytes() {
    let mut buf = [0xAAu8; 64];
    let n = ctrl::build_getfamily(&mut buf, b"drbd", 0x0102_0304, 7).unwrap();
    assert_eq!(n, 32);
    #[rustfmt::skip]
    let expected: [u8; 32] = [
        32, 0, 0, 0,            // nlmsg_len
        0x10, 0,                // GENL_ID_CTRL
        0x05, 0,                // NLM_F_REQUEST | NLM_F_ACK
        4, 3, 2, 1,             // seq
        7, 0, 0, 0,             // pid
        3, 2, 0, 0,             // CTRL_CMD_GETFAMILY, version 2
        9, 0, 2, 0,             // CTRL_ATTR_FAMILY_NAME, 4 + 5 bytes
        b'd', b'r', b'b', b'd', 0, 0, 0, 0,
    ];
    assert_eq!(&buf[..n], &expected);
    assert!(ctrl::build_getfamily(&mut buf, b"0123456789abcdef", 1, 1).is_err());
    assert!(ctrl::build_getfamily(&mut [0u8; 31], b"drbd", 1, 1).is_err());
}

#[test]
fn newfamily_reply_from_literal_bytes() {
    #[rustfmt::skip]
    let msg: Vec<u8> = [
        &[92u8, 0, 0, 0, 0x10, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0][..], // nlmsghdr, len 92
        &[1, 2, 0, 0],                                  // NEWFAMILY, version 2
        &[6, 0, 1, 0, 0x1c, 0, 0, 0],                   // FAMILY_ID 0x1c (u16 + pad)
        &[9, 0, 2, 0, b'd', b'r', b'b', b'd', 0, 0, 0, 0], // FAMILY_NAME "drbd"
        &[8, 0, 3, 0, 1, 0, 0, 0],                      // VERSION 1
        &[8, 0, 4, 0, 8, 0, 0, 0],                      // HDRSIZE 8
        &[8, 0, 5, 0, 24, 0, 0, 0],                     // MAXATTR 24
        &[28, 0, 7, 0x80,                               // MCAST_GROUPS
            24, 0, 1, 0x80,                             //   group #1
                8, 0, 2, 0, 5, 0, 0, 0,                 //     GRP_ID 5
                11, 0, 1, 0, b'e', b'v', b'e', b'n', b't', b's', 0, 0], // GRP_NAME
    ]
    .concat();
    assert_eq!(msg.len(), 92);
    let info = ctrl::parse_family(&msg).unwrap();
    assert_eq!(
        info,
        FamilyInfo {
            id: 0x1c,
            name: "drbd".into(),
            version: 1,
            hdrsize: 8,
            maxattr: 24,
            mcast_groups: vec![McastGroup {
                name: "events".into(),
                id: 5
            }],
        }
    );
    assert_eq!(info.events_group(), Some(5));
    assert_eq!(info.mcast_group("nope"), None);
}

#[test]
fn newfamily_reply_built_like_the_kernel() {
    let spec = FamilySpec {
        groups: vec![("events", 3), ("other", 40)],
        ..FamilySpec::default()
    };
    let info = ctrl::parse_family(&newfamily(1, &spec)).unwrap();
    assert_eq!(info.id, FAMILY);
    assert_eq!(info.maxattr, 24);
    assert_eq!(info.events_group(), Some(3));
    assert_eq!(info.mcast_group("other"), Some(40));
}

#[test]
fn newfamily_reply_errors() {
    let good = newfamily(1, &FamilySpec::default());
    // Wrong message type, wrong command.
    let mut m = good.clone();
    m[4] = 0x11;
    assert!(ctrl::parse_family(&m).unwrap_err().contains("message type"));
    let mut m = good.clone();
    m[16] = 3;
    assert!(ctrl::parse_family(&m).unwrap_err().contains("command"));
    // Truncated: nlmsg_len beyond the data, or shorter than the headers.
    assert!(ctrl::parse_family(&good[..good.len() - 4]).is_err());
    assert!(ctrl::parse_family(&good[..10]).is_err());
    let mut m = good.clone();
    m[..4].copy_from_slice(&18u32.to_ne_bytes());
    assert!(ctrl::parse_family(&m).is_err());
    // No family id.
    let mut m = good[..20].to_vec();
    m[..4].copy_from_slice(&20u32.to_ne_bytes());
    assert!(ctrl::parse_family(&m).unwrap_err().contains("family id"));
    // An attribute running past the end.
    let mut m = good[..28].to_vec();
    m[..4].copy_from_slice(&28u32.to_ne_bytes());
    m[20] = 200;
    assert!(ctrl::parse_family(&m).is_err());
    // A version that is not a u32.
    let mut m = good[..20].to_vec();
    m.extend([6, 0, 1, 0, 0x1c, 0, 0, 0, 6, 0, 3, 0, 1, 0, 0, 0]);
    let n = m.len() as u32;
    m[..4].copy_from_slice(&n.to_ne_bytes());
    assert!(ctrl::parse_family(&m).unwrap_err().contains("version"));
    // A group without id is skipped, without name too.
    let spec = FamilySpec {
        groups: vec![],
        ..FamilySpec::default()
    };
    let info = ctrl::parse_family(&newfamily(1, &spec)).unwrap();
    assert!(info.mcast_groups.is_empty());
}

#[test]
fn open_resolves_the_family() {
    let genl = open(kernel(|_| vec![]));
    let f = genl.family();
    assert_eq!((f.id, f.version, f.hdrsize, f.maxattr), (FAMILY, 1, 8, 24));
    assert_eq!(f.name, "drbd");
    assert_eq!(f.events_group(), Some(EVENTS_GROUP));
    let sent = &genl.transport().sent;
    assert_eq!(sent.len(), 1);
    let h = NlMsgHdr::parse(&sent[0]).unwrap();
    assert_eq!(h.ty, GENL_ID_CTRL);
    assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK);
    assert_eq!(h.pid, PORT);
    assert_ne!(h.seq, 0);
    assert_eq!(
        &sent[0][20..],
        &[9, 0, 2, 0, b'd', b'r', b'b', b'd', 0, 0, 0, 0]
    );
}

#[test]
fn open_family_not_found() {
    let mock = Mock::new(|d: &[u8]| {
        let h = NlMsgHdr::parse(d).unwrap();
        vec![Step::Dgram(nlmsgerr(h.seq, -libc::ENOENT))]
    });
    let e = DrbdGenl::with_transport(mock, DEFAULT_TIMEOUT).unwrap_err();
    assert!(matches!(e, NlError::FamilyNotFound));
    assert_eq!(
        e.to_string(),
        "the drbd module is not loaded (no generic-netlink family 'drbd')"
    );
    // An acknowledgement without a NEWFAMILY message means the same.
    let mock = Mock::new(|d: &[u8]| {
        let h = NlMsgHdr::parse(d).unwrap();
        vec![Step::Dgram(nlmsgerr(h.seq, 0))]
    });
    let e = DrbdGenl::with_transport(mock, DEFAULT_TIMEOUT).unwrap_err();
    assert!(matches!(e, NlError::FamilyNotFound));
}

#[test]
fn open_api_mismatch() {
    for (version, hdrsize) in [(2, 8), (1, 12), (0, 0)] {
        let spec = FamilySpec {
            version,
            hdrsize,
            ..FamilySpec::default()
        };
        let e =
            DrbdGenl::with_transport(kernel_with(spec, |_| vec![]), DEFAULT_TIMEOUT).unwrap_err();
        match &e {
            NlError::ApiMismatch {
                version: v,
                hdrsize: h,
            } => assert_eq!((*v, *h), (version, hdrsize)),
            other => panic!("unexpected {other:?}"),
        }
        let text = e.to_string();
        assert!(text.starts_with("API mismatch!"), "{text}");
        assert!(text.contains(&format!("kernel: {version}")), "{text}");
    }
}

#[test]
fn open_wrong_family_name() {
    let spec = FamilySpec {
        name: "drbd9",
        ..FamilySpec::default()
    };
    let e = DrbdGenl::with_transport(kernel_with(spec, |_| vec![]), DEFAULT_TIMEOUT).unwrap_err();
    assert!(matches!(e, NlError::Malformed(_)), "{e:?}");
}

#[test]
fn open_times_out_without_answer() {
    let e = DrbdGenl::with_transport(Mock::new(|_: &[u8]| vec![]), Duration::from_millis(5))
        .unwrap_err();
    assert!(matches!(e, NlError::Timeout(d) if d == Duration::from_millis(5)));
    assert!(e.to_string().starts_with("timed out waiting for reply"));
}

// ---------------------------------------------------------------------------------------------
// Requests.

#[test]
fn request_framing_and_fresh_sequence_numbers() {
    let mut genl = open(kernel(|r| reply_and_ack(&r, 101, None)));
    let ctx = CfgContext {
        ctx_resource_name: Some(b"r0"),
        ctx_volume: Some(0),
        ..CfgContext::default()
    };
    genl.request(Command::NewMinor, 7, &[&ctx], NLM_F_EXCL)
        .unwrap();
    let role = SetRoleParms {
        assume_uptodate: Some(true),
    };
    genl.request_with(
        Command::Primary,
        7,
        &[&role],
        RequestOptions {
            nl_flags: 0,
            set_defaults: true,
        },
    )
    .unwrap();
    // A dump flag given to request() cannot turn it into a dump.
    genl.request(Command::GetStatus, 7, &[], NLM_F_DUMP)
        .unwrap();

    let sent = &genl.transport().sent;
    assert_eq!(sent.len(), 4);
    let seqs: Vec<u32> = sent
        .iter()
        .map(|d| NlMsgHdr::parse(d).unwrap().seq)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{seqs:?}"
    );

    let m = Message::parse(&sent[1]).unwrap();
    assert_eq!(m.nl.ty, FAMILY);
    assert_eq!(m.nl.len as usize, sent[1].len());
    assert_eq!(m.nl.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL);
    assert_eq!(m.nl.pid, PORT);
    assert_eq!(m.genl.cmd, Command::NewMinor.number());
    assert_eq!(m.genl.version, 1);
    assert_eq!((m.drbd.minor, m.drbd.flags), (7, 0));
    let got = CfgContext::from_message(&m, &ValidateOpts::CREATE)
        .unwrap()
        .unwrap();
    assert_eq!(got.ctx_resource_name, Some(&b"r0"[..]));
    assert_eq!(got.ctx_volume, Some(0));

    let m = Message::parse(&sent[2]).unwrap();
    assert_eq!(m.genl.cmd, Command::Primary.number());
    assert_eq!(m.drbd.flags, 1, "DRBD_GENL_F_SET_DEFAULTS");
    let got = SetRoleParms::from_message(&m, &ValidateOpts::CREATE)
        .unwrap()
        .unwrap();
    assert_eq!(got.assume_uptodate, Some(true));

    let h = NlMsgHdr::parse(&sent[3]).unwrap();
    assert_eq!(h.flags & NLM_F_DUMP, NLM_F_EXCL, "ROOT stripped");
    assert!(h.flags & NLM_F_ACK != 0);
}

#[test]
fn request_returns_code_info_text_and_typed_sets() {
    let mut genl = open(kernel(|r| {
        let info = StateInfo {
            sib_reason: Some(1),
            current_state: Some(0x1234),
            capacity: Some(2048),
            ..StateInfo::default()
        };
        let ctx = CfgContext {
            ctx_resource_name: Some(b"r0"),
            ctx_volume: Some(1),
            ..CfgContext::default()
        };
        vec![
            Step::Dgram(drbd_msg(
                r.seq,
                r.cmd,
                0,
                r.minor,
                101,
                None,
                &[&ctx, &info],
            )),
            Step::Dgram(nlmsgerr(r.seq, 0)),
        ]
    }));
    let reply = genl.request(Command::GetStatus, 3, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::Ret(RetCode::NoError));
    assert!(reply.is_success());
    assert_eq!(reply.info_text, None);
    assert_eq!(reply.cmd(), Some(Command::GetStatus.number()));
    assert_eq!(reply.minor(), Some(3));
    let m = reply.message().unwrap();
    assert_eq!(m.nl.len as usize, reply.raw.len());
    let info = StateInfo::from_message(&m, &ValidateOpts::LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(info.current_state, Some(0x1234));
    assert_eq!(info.capacity, Some(2048));
    let ctx = CfgContext::from_message(&m, &ValidateOpts::LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(ctx.ctx_volume, Some(1));
    // The acknowledgement was consumed: nothing left over for the next request.
    assert!(genl.transport().queue.is_empty());

    let mut genl = open(kernel(|r| {
        reply_and_ack(&r, 162, Some(b"minor exists in different resource"))
    }));
    let reply = genl.request(Command::NewMinor, 1, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::Ret(RetCode::ErrInvalidRequest));
    assert!(!reply.is_success());
    assert_eq!(
        reply.info_text.as_deref(),
        Some("minor exists in different resource")
    );

    // State-change results.
    let mut genl = open(kernel(|r| reply_and_ack(&r, -2, None)));
    let reply = genl.request(Command::Primary, 0, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::State(-2));
}

#[test]
fn request_skips_unrelated_messages() {
    let mut genl = open(kernel(|r| {
        let old = r.seq.wrapping_sub(1);
        vec![
            // A stale reply and acknowledgement of an earlier request.
            Step::Dgram(drbd_msg(old, r.cmd, 0, r.minor, 127, None, &[])),
            Step::Dgram(nlmsgerr(old, 0)),
            Step::Dgram(nlmsgerr(old, -libc::EPERM)),
            // A message of another family, and a no-op, with our sequence number.
            Step::Dgram(cat(&[
                {
                    let mut m = drbd_msg(r.seq, r.cmd, 0, r.minor, 127, None, &[]);
                    m[4..6].copy_from_slice(&0x33u16.to_ne_bytes());
                    m
                },
                nlhdr(16, NLMSG_NOOP, 0, r.seq, PORT).to_vec(),
            ])),
            // Ours, with its acknowledgement in the same datagram.
            Step::Dgram(cat(&[
                drbd_msg(r.seq, r.cmd, 0, r.minor, 101, Some(b"ok"), &[]),
                nlmsgerr(r.seq, 0),
            ])),
        ]
    }));
    let reply = genl.request(Command::Secondary, 2, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::Ret(RetCode::NoError));
    assert_eq!(reply.info_text.as_deref(), Some("ok"));
    assert!(genl.transport().queue.is_empty());
}

#[test]
fn request_kernel_errors() {
    let mut genl = open(kernel(|r| {
        vec![Step::Dgram(nlmsgerr(r.seq, -libc::EINVAL))]
    }));
    let e = genl.request(Command::Attach, 0, &[], 0).unwrap_err();
    match &e {
        NlError::Kernel { errno, text } => {
            assert_eq!(*errno, libc::EINVAL);
            assert_eq!(text, "Invalid argument");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(e.to_string(), "Invalid argument");
    assert_eq!(e.errno(), Some(libc::EINVAL));

    let mut genl = open(kernel(|r| vec![Step::Dgram(nlmsgerr(r.seq, -libc::EPERM))]));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::PermissionDenied));
    assert_eq!(
        e.to_string(),
        "permission denied: needs root (CAP_NET_ADMIN)"
    );
    assert_eq!(e.errno(), Some(libc::EPERM));
}

#[test]
fn request_timeout_and_missing_ack() {
    // No answer at all.
    let mut genl = open(kernel(|_| vec![]));
    genl.set_timeout(Duration::from_millis(10));
    assert_eq!(genl.timeout(), Duration::from_millis(10));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Timeout(_)), "{e:?}");
    assert_eq!(e.to_string(), "timed out waiting for reply (after 10ms)");

    // A reply whose acknowledgement never comes is still the answer.
    let mut genl = open(kernel(|r| {
        vec![Step::Dgram(drbd_msg(
            r.seq,
            r.cmd,
            0,
            r.minor,
            1,
            None,
            &[],
        ))]
    }));
    let reply = genl.request(Command::Connect, MINOR_NONE, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::State(1));

    // An acknowledgement without a reply.
    let mut genl = open(kernel(|r| vec![Step::Dgram(nlmsgerr(r.seq, 0))]));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::NoReply));
}

#[test]
fn request_only_keeps_the_first_reply() {
    let mut genl = open(kernel(|r| {
        vec![
            Step::Dgram(drbd_msg(r.seq, r.cmd, 0, r.minor, 101, None, &[])),
            Step::Dgram(drbd_msg(r.seq, r.cmd, 0, r.minor, 127, None, &[])),
            Step::Dgram(nlmsgerr(r.seq, 0)),
        ]
    }));
    let reply = genl.request(Command::Outdate, 0, &[], 0).unwrap();
    assert_eq!(reply.code, ReplyCode::Ret(RetCode::NoError));
}

#[test]
fn request_malformed_answers() {
    // A datagram whose first message claims more bytes than there are.
    let mut genl = open(kernel(|r| {
        let mut m = drbd_msg(r.seq, r.cmd, 0, r.minor, 101, None, &[]);
        m.truncate(m.len() - 2);
        vec![Step::Dgram(m)]
    }));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Malformed(_)), "{e:?}");
    assert!(e.to_string().starts_with("malformed netlink reply: "));

    // A message of the family with our sequence number that is too short for the headers.
    let mut genl = open(kernel(|r| {
        let mut m = nlhdr(24, FAMILY, 0, r.seq, PORT).to_vec();
        m.extend([r.cmd, 1, 0, 0, 0, 0, 0, 0]);
        vec![Step::Dgram(m), Step::Dgram(nlmsgerr(r.seq, 0))]
    }));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Malformed(_)), "{e:?}");

    // Broken top-level attributes.
    let mut genl = open(kernel(|r| {
        let mut m = drbd_msg(r.seq, r.cmd, 0, r.minor, 101, Some(b"x"), &[]);
        let n = m.len();
        m[28] = 0xff; // nla_len of the first attribute
        m[..4].copy_from_slice(&(n as u32).to_ne_bytes());
        vec![Step::Dgram(m), Step::Dgram(nlmsgerr(r.seq, 0))]
    }));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Malformed(_)), "{e:?}");

    // An empty datagram and garbage are skipped or reported, never a panic.
    let mut genl = open(kernel(|r| {
        vec![
            Step::Dgram(vec![]),
            Step::Dgram(vec![1, 2, 3]),
            Step::Dgram(nlmsgerr(r.seq, 0)),
        ]
    }));
    assert!(genl.request(Command::Primary, 0, &[], 0).is_err());
}

#[test]
fn transport_errors() {
    // Truncated datagram.
    let mut genl = open(kernel(|_| vec![Step::Trunc(70000)]));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Truncated { len: 70000 }));
    // Receive queue overrun.
    let mut genl = open(kernel(|_| {
        vec![Step::Err(io::Error::from_raw_os_error(libc::ENOBUFS))]
    }));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Overrun));
    assert_eq!(e.errno(), Some(libc::ENOBUFS));
    // Any other socket error.
    let mut genl = open(kernel(|_| {
        vec![Step::Err(io::Error::from_raw_os_error(libc::EBADF))]
    }));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Socket { op: "recv()", .. }));
    assert_eq!(e.to_string(), "netlink recv() failed: Bad file descriptor");
    assert!(std::error::Error::source(&e).is_some());
    // EINTR is retried, on receive and on send.
    let mut genl = open(kernel(|r| {
        let mut v = vec![Step::Err(io::Error::from(io::ErrorKind::Interrupted))];
        v.extend(reply_and_ack(&r, 101, None));
        v
    }));
    genl.transport_mut()
        .send_errors
        .push_back(io::Error::from(io::ErrorKind::Interrupted));
    let reply = genl.request(Command::Primary, 0, &[], 0).unwrap();
    assert!(reply.is_success());
    // A send error is reported.
    genl.transport_mut()
        .send_errors
        .push_back(io::Error::from_raw_os_error(libc::ECONNREFUSED));
    let e = genl.request(Command::Primary, 0, &[], 0).unwrap_err();
    assert!(matches!(e, NlError::Socket { op: "send()", .. }));
}

#[test]
fn large_requests_grow_the_buffer() {
    let mut genl = open(kernel(|r| reply_and_ack(&r, 101, None)));
    let name = vec![b'x'; 100];
    let addr = vec![7u8; 128];
    let ctx = CfgContext {
        ctx_resource_name: Some(&name),
        ctx_my_addr: Some(&addr),
        ctx_peer_addr: Some(&addr),
        ctx_volume: None,
    };
    let sets: Vec<&dyn SetEncode> = vec![&ctx; 20];
    genl.request(Command::Connect, MINOR_NONE, &sets, 0)
        .unwrap();
    assert!(genl.transport().sent[1].len() > INITIAL_REQUEST_BUFFER);
    // An invalid value is an encoding error, not a panic.
    let long = vec![b'y'; 300];
    let bad = CfgContext {
        ctx_resource_name: Some(&long),
        ..CfgContext::default()
    };
    let e = genl
        .request(Command::Down, MINOR_NONE, &[&bad], 0)
        .unwrap_err();
    assert!(matches!(e, NlError::Encode(_)), "{e:?}");
    assert!(e.to_string().starts_with("could not encode the request"));
}

// ---------------------------------------------------------------------------------------------
// Dumps.

fn status_part(seq: u32, minor: u32, name: &[u8]) -> Vec<u8> {
    let ctx = CfgContext {
        ctx_resource_name: Some(name),
        ctx_volume: Some(0),
        ..CfgContext::default()
    };
    let info = StateInfo {
        current_state: Some(minor),
        ..StateInfo::default()
    };
    drbd_msg(
        seq,
        Command::GetStatus.number(),
        NLM_F_MULTI,
        minor,
        101,
        None,
        &[&ctx, &info],
    )
}

#[test]
fn dump_reassembles_messages_across_datagrams() {
    let mut genl = open(kernel(|r| {
        assert_eq!(r.flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(r.minor, MINOR_NONE);
        let other = r.seq.wrapping_add(1000);
        vec![
            Step::Dgram(cat(&[
                status_part(r.seq, 0, b"r0"),
                status_part(r.seq, 1, b"r0"),
                status_part(other, 99, b"zz"),
                status_part(r.seq, 2, b"r1"),
            ])),
            Step::Err(io::Error::from(io::ErrorKind::Interrupted)),
            Step::Dgram(status_part(other, 98, b"zz")),
            Step::Dgram(cat(&[status_part(r.seq, 5, b"r2"), done(r.seq, 0)])),
            // After NLMSG_DONE: not part of this dump.
            Step::Dgram(status_part(r.seq, 6, b"r3")),
        ]
    }));
    let parts = genl.dump(Command::GetStatus, MINOR_NONE, &[]).unwrap();
    let minors: Vec<u32> = parts.iter().map(|p| p.minor().unwrap()).collect();
    assert_eq!(minors, [0, 1, 2, 5]);
    for p in &parts {
        assert!(p.is_success());
        let m = p.message().unwrap();
        assert_eq!(m.nl.flags, NLM_F_MULTI);
        let info = StateInfo::from_message(&m, &ValidateOpts::LENIENT)
            .unwrap()
            .unwrap();
        assert_eq!(info.current_state, Some(m.minor()));
    }
    let ctx = CfgContext::from_message(&parts[2].message().unwrap(), &ValidateOpts::LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(ctx.ctx_resource_name, Some(&b"r1"[..]));
    // The message after NLMSG_DONE is still queued: the dump stopped reading at DONE.
    assert_eq!(genl.transport().queue.len(), 1);
}

#[test]
fn dump_with_filter_and_empty_dump() {
    let mut genl = open(kernel(|r| vec![Step::Dgram(done(r.seq, 0))]));
    let ctx = CfgContext {
        ctx_resource_name: Some(b"r9"),
        ..CfgContext::default()
    };
    assert!(genl
        .dump(Command::GetDevices, MINOR_NONE, &[&ctx])
        .unwrap()
        .is_empty());
    let m = Message::parse(&genl.transport().sent[1]).unwrap();
    assert_eq!(m.genl.cmd, Command::GetDevices.number());
    let got = CfgContext::from_message(&m, &ValidateOpts::LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(got.ctx_resource_name, Some(&b"r9"[..]));

    // Unknown resource for GET_DEVICES: one message with ERR_RES_NOT_KNOWN.
    let mut genl = open(kernel(|r| {
        vec![Step::Dgram(cat(&[
            drbd_msg(r.seq, r.cmd, NLM_F_MULTI, MINOR_NONE, 158, None, &[]),
            done(r.seq, 0),
        ]))]
    }));
    let parts = genl.dump(Command::GetDevices, MINOR_NONE, &[&ctx]).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].code, ReplyCode::Ret(RetCode::ErrResNotKnown));
}

#[test]
fn dump_errors() {
    // The dump's error code in NLMSG_DONE (GET_STATUS with an unknown resource: -ENODEV).
    let mut genl = open(kernel(|r| vec![Step::Dgram(done(r.seq, -libc::ENODEV))]));
    let e = genl.dump(Command::GetStatus, MINOR_NONE, &[]).unwrap_err();
    assert!(matches!(e, NlError::Kernel { errno, .. } if errno == libc::ENODEV));
    assert_eq!(e.to_string(), "No such device");
    // NLMSG_ERROR instead of a dump.
    let mut genl = open(kernel(|r| {
        vec![Step::Dgram(nlmsgerr(r.seq, -libc::EINVAL))]
    }));
    let e = genl.dump(Command::GetStatus, MINOR_NONE, &[]).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    // A dump that never ends.
    let mut genl = open(kernel(|r| vec![Step::Dgram(status_part(r.seq, 0, b"r0"))]));
    let e = genl.dump(Command::GetStatus, MINOR_NONE, &[]).unwrap_err();
    assert!(matches!(e, NlError::Timeout(_)));
    // A stray acknowledgement does not end a dump; NLMSG_DONE without payload does.
    let mut genl = open(kernel(|r| {
        vec![
            Step::Dgram(nlmsgerr(r.seq, 0)),
            Step::Dgram(status_part(r.seq, 4, b"r0")),
            Step::Dgram(nlhdr(16, NLMSG_DONE, NLM_F_MULTI, r.seq, PORT).to_vec()),
        ]
    }));
    let parts = genl.dump(Command::GetStatus, MINOR_NONE, &[]).unwrap();
    assert_eq!(parts.len(), 1);
}

#[test]
fn exchange_state_machine() {
    let mut ex = Exchange::new(5, FAMILY, Mode::Single);
    ex.feed(&status_part(4, 0, b"r")).unwrap();
    assert!(!ex.has_message() && !ex.is_done());
    ex.feed(&status_part(5, 0, b"r")).unwrap();
    assert!(ex.has_message() && !ex.is_done());
    ex.feed(&nlmsgerr(5, 0)).unwrap();
    assert!(ex.is_done());
    assert_eq!(ex.into_messages().len(), 1);

    let mut ex = Exchange::new(5, FAMILY, Mode::Dump);
    ex.feed(&cat(&[status_part(5, 0, b"r"), status_part(5, 1, b"r")]))
        .unwrap();
    ex.feed(&nlmsgerr(5, 0)).unwrap();
    assert!(!ex.is_done());
    ex.feed(&cat(&[done(5, 0), status_part(5, 2, b"r")]))
        .unwrap();
    assert!(ex.is_done());
    assert_eq!(ex.into_messages().len(), 2);

    let mut ex = Exchange::new(5, FAMILY, Mode::Dump);
    assert!(matches!(
        ex.feed(&nlmsgerr(5, i32::MIN)),
        Err(NlError::Kernel {
            errno: i32::MAX,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Events.

#[test]
fn events_subscription() {
    let genl = open(kernel(|_| vec![]));
    let mut mock = Mock::new(|_: &[u8]| vec![]);
    let event = |seq: u32, minor: u32| {
        let info = StateInfo {
            sib_reason: Some(2),
            current_state: Some(minor),
            ..StateInfo::default()
        };
        let mut m = drbd_msg(seq, Command::Event.number(), 0, minor, 101, None, &[&info]);
        m[12..16].copy_from_slice(&0u32.to_ne_bytes()); // broadcasts: nlmsg_pid 0
        m
    };
    mock.queue.extend([
        Step::Dgram(cat(&[event(100, 0), event(101, 1)])),
        Step::Dgram(newfamily(3, &FamilySpec::default())), // not drbd: skipped
        Step::Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
        Step::Dgram(event(102, 2)),
        Step::Dgram(cat(&[event(103, 3), vec![1, 2, 3, 4, 5]])),
    ]);
    let mut ev = genl.events_with(mock).unwrap();
    assert_eq!(ev.group(), EVENTS_GROUP);
    assert_eq!(ev.transport.joined, [EVENTS_GROUP]);
    let t = Duration::from_millis(1);
    assert_eq!(ev.recv(t).unwrap().unwrap().minor(), Some(0));
    assert_eq!(ev.recv(t).unwrap().unwrap().minor(), Some(1));
    assert!(matches!(ev.recv(t), Err(NlError::Overrun)));
    let e = ev.recv(t).unwrap().unwrap();
    assert_eq!(e.cmd(), Some(Command::Event.number()));
    assert_eq!(e.minor(), Some(2));
    // The good message before the garbage comes first, then the error.
    assert_eq!(ev.recv(t).unwrap().unwrap().minor(), Some(3));
    assert!(matches!(ev.recv(t), Err(NlError::Malformed(_))));
    assert!(ev.recv(t).unwrap().is_none());

    // A family without an events group.
    let spec = FamilySpec {
        groups: vec![("other", 4)],
        ..FamilySpec::default()
    };
    let genl = open(kernel_with(spec, |_| vec![]));
    let e = genl.events_with(Mock::new(|_: &[u8]| vec![])).unwrap_err();
    assert!(matches!(e, NlError::NoEventsGroup));
}

// ---------------------------------------------------------------------------------------------
// Errors and replies.

#[test]
fn error_texts_and_errnos() {
    assert_eq!(strerror(libc::ENOENT), "No such file or directory");
    assert!(matches!(
        NlError::from_kernel_error(-libc::EPERM),
        NlError::PermissionDenied
    ));
    assert!(matches!(
        NlError::from_io("bind()", io::Error::from_raw_os_error(libc::EACCES)),
        NlError::PermissionDenied
    ));
    let e = NlError::from_io(
        "socket()",
        io::Error::from_raw_os_error(libc::EPROTONOSUPPORT),
    );
    assert_eq!(e.errno(), Some(libc::EPROTONOSUPPORT));
    assert_eq!(
        e.to_string(),
        "netlink socket() failed: Protocol not supported"
    );
    let all = [
        NlError::FamilyNotFound,
        NlError::ApiMismatch {
            version: 2,
            hdrsize: 8,
        },
        NlError::PermissionDenied,
        NlError::from_errno(libc::EINVAL),
        NlError::Timeout(Duration::from_secs(30)),
        NlError::Overrun,
        NlError::Truncated { len: 1 },
        NlError::Malformed("x".into()),
        NlError::NoReply,
        NlError::NoEventsGroup,
        NlError::Encode(drbd_core::genl::writer::EncodeError::TooLarge),
        NlError::Socket {
            op: "send()",
            source: io::Error::other("boom"),
        },
    ];
    for e in &all {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(
        all[4].to_string(),
        "timed out waiting for reply (after 30s)"
    );
    assert_eq!(all[11].to_string(), "netlink send() failed: boom");
    assert_eq!(all[0].errno(), Some(libc::ENOENT));
    assert_eq!(all[8].errno(), None);
}

#[test]
fn reply_from_bytes() {
    let mut m = drbd_msg(1, 2, 0, 4, 101, Some(b"hi"), &[]);
    let len = m.len();
    m.extend([0, 0, 0, 0, 9, 9]); // trailing bytes beyond nlmsg_len are dropped
    let r = Reply::from_bytes(m).unwrap();
    assert_eq!(r.raw.len(), len);
    assert_eq!(r.info_text.as_deref(), Some("hi"));
    assert_eq!((r.cmd(), r.minor()), (Some(2), Some(4)));
    assert!(Reply::from_bytes(vec![]).is_err());
    assert!(Reply::from_bytes(nlmsgerr(1, 0)).is_err());
    let bogus = Reply {
        code: ReplyCode::from_raw(101),
        info_text: None,
        raw: vec![1, 2, 3],
    };
    assert_eq!(bogus.message(), None);
    assert_eq!(bogus.cmd(), None);
}

// ---------------------------------------------------------------------------------------------
// Robustness: whatever the kernel sends, no panic.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_datagrams_never_panic(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        dump in any::<bool>(),
    ) {
        let script = datagrams.clone();
        let mut genl = open(kernel(move |_| script.iter().cloned().map(Step::Dgram).collect()));
        genl.set_timeout(Duration::from_millis(1));
        let _ = if dump {
            genl.dump(Command::GetStatus, MINOR_NONE, &[]).map(|_| ())
        } else {
            genl.request(Command::GetStatus, 0, &[], 0).map(|_| ())
        };
        let _ = ctrl::parse_family(&datagrams.concat());
    }

    #[test]
    fn corrupted_replies_never_panic(pos in 0usize..200, byte in any::<u8>(), dump in any::<bool>()) {
        let mut genl = open(kernel(move |r| {
            let mut d = cat(&[
                status_part(r.seq, 1, b"r0"),
                drbd_msg(r.seq, r.cmd, 0, r.minor, 101, Some(b"info"), &[]),
                done(r.seq, 0),
                nlmsgerr(r.seq, 0),
            ]);
            if let Some(b) = d.get_mut(pos) {
                *b = byte;
            }
            vec![Step::Dgram(d)]
        }));
        genl.set_timeout(Duration::from_millis(1));
        let _ = if dump {
            genl.dump(Command::GetStatus, MINOR_NONE, &[]).map(|_| ())
        } else {
            genl.request(Command::GetStatus, 0, &[], 0).map(|_| ())
        };
        let mut fam = newfamily(1, &FamilySpec::default());
        if let Some(b) = fam.get_mut(pos) {
            *b = byte;
        }
        let _ = ctrl::parse_family(&fam);
    }
}

// ---------------------------------------------------------------------------------------------
// The real socket, against the host kernel's `nlctrl` (no drbd module needed).

fn real_socket() -> Option<NlSocket> {
    match NlSocket::open() {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipping: no generic-netlink socket here: {e}");
            None
        }
    }
}

/// Receive on a real socket until `ex` is complete.
fn run_exchange(s: &mut NlSocket, ex: &mut Exchange) {
    let mut buf = Vec::new();
    while !ex.is_done() {
        match s.recv(&mut buf, Duration::from_secs(10)).unwrap() {
            Received::Datagram(n) => ex.feed(&buf[..n]).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn real_socket_resolves_nlctrl() {
    let Some(mut s) = real_socket() else { return };
    assert_ne!(s.port_id(), 0);
    let mut buf = [0u8; 64];
    let n = ctrl::build_getfamily(&mut buf, b"nlctrl", 77, s.port_id()).unwrap();
    s.send(&buf[..n]).unwrap();
    let mut ex = Exchange::new(77, GENL_ID_CTRL, Mode::Single);
    run_exchange(&mut s, &mut ex);
    let messages = ex.into_messages();
    assert_eq!(messages.len(), 1);
    let info = ctrl::parse_family(&messages[0]).unwrap();
    assert_eq!((info.id, info.name.as_str()), (GENL_ID_CTRL, "nlctrl"));
    let notify = info
        .mcast_group("notify")
        .expect("nlctrl has a notify group");
    // Nothing more is coming: the receive times out instead of hanging.
    let mut rbuf = Vec::new();
    assert_eq!(
        s.recv(&mut rbuf, Duration::from_millis(20)).unwrap(),
        Received::TimedOut
    );
    s.join_group(notify).unwrap();

    // An unknown family: NLMSG_ERROR -ENOENT.
    let n = ctrl::build_getfamily(&mut buf, b"no-such-fam", 78, s.port_id()).unwrap();
    s.send(&buf[..n]).unwrap();
    let mut ex = Exchange::new(78, GENL_ID_CTRL, Mode::Single);
    let mut rbuf = Vec::new();
    let err = loop {
        match s.recv(&mut rbuf, Duration::from_secs(10)).unwrap() {
            Received::Datagram(n) => {
                if let Err(e) = ex.feed(&rbuf[..n]) {
                    break e;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(err.errno(), Some(libc::ENOENT));
}

#[test]
fn real_socket_dump_spans_datagrams() {
    let Some(mut s) = real_socket() else { return };
    // CTRL_CMD_GETFAMILY as a dump: every family, usually in several datagrams.
    let mut req = nlhdr(20, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_DUMP, 5, s.port_id()).to_vec();
    req.extend([ctrl::CTRL_CMD_GETFAMILY, ctrl::CTRL_VERSION, 0, 0]);
    s.send(&req).unwrap();
    let mut ex = Exchange::new(5, GENL_ID_CTRL, Mode::Dump);
    run_exchange(&mut s, &mut ex);
    let names: Vec<String> = ex
        .into_messages()
        .iter()
        .map(|m| ctrl::parse_family(m).unwrap().name)
        .collect();
    assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
}

#[test]
fn real_open_reports_a_missing_module() {
    match DrbdGenl::open() {
        // A drbd module is loaded here after all.
        Ok(genl) => assert_eq!(genl.family().name, "drbd"),
        Err(NlError::FamilyNotFound) | Err(NlError::ApiMismatch { .. }) => {}
        Err(e @ NlError::Socket { .. }) => eprintln!("skipping: {e}"),
        Err(e) => panic!("unexpected {e:?}"),
    }
}
