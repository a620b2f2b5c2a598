// SPDX-License-Identifier: GPL-2.0
//! The wire codec against the reference captures of two Linux 6.12 `drbd.ko` peers
//! (`shared/testdata/drbd84-peer`, README there): every packet of every TCP stream must pass
//! the two-phase receive path (header, layout, fixed part, streamed data), re-encode to the
//! same bytes, and carry the values `wire-protocol.md` reports as observed.
//!
//! Node-a is 169.254.77.1 in all captures (it connects the data socket, so it is the client
//! of every data connection and the server of every meta connection).

mod support;

use drbd_core::digest::DigestAlg;
use drbd_core::uuid::{UUID_FLAG_DISCARD_MY_DATA, UUID_JUST_CREATED, UUID_NEW_BM_OFFSET};
use drbd_core::wire::*;
use support::pcap::{self, TcpConnection};

const NODE_A: [u8; 4] = [169, 254, 77, 1];

/// One packet as received, with its sender.
struct Seen {
    from_a: bool,
    volume: u16,
    packet: Packet<'static>,
}

/// One connection attempt: its data socket and (if it got one) meta socket.
struct Session {
    agreed: Agreed,
    features: [Features; 2],
    data: Vec<Seen>,
    meta: Vec<Seen>,
}

impl Session {
    fn data_from(&self, a: bool) -> impl Iterator<Item = &Packet<'static>> {
        self.data
            .iter()
            .filter(move |s| s.from_a == a)
            .map(|s| &s.packet)
    }

    fn meta_from(&self, a: bool) -> impl Iterator<Item = &Packet<'static>> {
        self.meta
            .iter()
            .filter(move |s| s.from_a == a)
            .map(|s| &s.packet)
    }

    fn states_from(&self, a: bool) -> Vec<u32> {
        self.data_from(a)
            .filter_map(|p| match p {
                Packet::State(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    fn uuids_from(&self, a: bool) -> Vec<Uuids> {
        self.data_from(a)
            .filter_map(|p| match p {
                Packet::Uuids(u) => Some(*u),
                _ => None,
            })
            .collect()
    }

    fn requests_from(&self, a: bool, kind: RequestKind) -> Vec<(BlockReq, &'static [u8])> {
        self.data_from(a)
            .filter_map(|p| match p {
                Packet::BlockRequest {
                    kind: k,
                    req,
                    digest,
                } if *k == kind => Some((*req, *digest)),
                _ => None,
            })
            .collect()
    }

    fn acks_from(&self, a: bool, kind: AckKind) -> Vec<BlockAck> {
        self.meta_from(a)
            .filter_map(|p| match p {
                Packet::Ack { kind: k, ack } if *k == kind => Some(*ack),
                _ => None,
            })
            .collect()
    }

    fn data_packets_from(&self, a: bool, kind: DataKind) -> Vec<(DataHeader, u32)> {
        self.data_from(a)
            .filter_map(|p| match p {
                Packet::Data {
                    kind: k,
                    hdr,
                    data_len,
                    ..
                } if *k == kind => Some((*hdr, *data_len)),
                _ => None,
            })
            .collect()
    }

    fn first<T>(&self, a: bool, pick: impl Fn(&Packet<'static>) -> Option<T>) -> T {
        self.data_from(a)
            .find_map(pick)
            .expect("packet present in the capture")
    }

    fn count(&self, cmd: Cmd) -> usize {
        self.data
            .iter()
            .chain(&self.meta)
            .filter(|s| s.packet.cmd() == cmd)
            .count()
    }
}

/// Run one direction of a TCP stream through the receive path. `agreed` is the connection's
/// context; streams that open with an h80 packet use [`Agreed::PRE_HANDSHAKE`] until their
/// `P_CONNECTION_FEATURES` or `P_INITIAL_META`.
fn receive_stream(
    bytes: &'static [u8],
    agreed: &Agreed,
    socket: SocketKind,
    from_a: bool,
) -> Vec<Seen> {
    let mut ctx = if bytes.starts_with(&DRBD_MAGIC.to_be_bytes()) {
        Agreed::PRE_HANDSHAKE
    } else {
        *agreed
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let at =
            |what: &str| format!("{what} at stream offset {pos} ({socket:?}, from_a {from_a})");
        let header_len = ctx.header_len();
        let header_bytes = bytes
            .get(pos..pos + header_len)
            .unwrap_or_else(|| panic!("{}", at("truncated header")));
        let header =
            decode_header(header_bytes, &ctx).unwrap_or_else(|e| panic!("{}: {e}", at("header")));
        let cmd = header
            .command()
            .unwrap_or_else(|e| panic!("{}: {e}", at("command")));
        assert!(
            cmd.socket().allows(socket),
            "{}",
            at(&format!("{cmd} on the wrong socket"))
        );
        let lay =
            layout(cmd, header.length, &ctx).unwrap_or_else(|e| panic!("{}: {e}", at("layout")));
        assert!(lay.fixed <= MAX_FIXED_PAYLOAD && lay.data <= DRBD_MAX_BIO_SIZE as usize);
        assert_eq!(lay.total(), header.length as usize);
        let fixed_start = pos + header_len;
        let end = fixed_start + lay.total();
        let whole = bytes
            .get(pos..end)
            .unwrap_or_else(|| panic!("{}", at(&format!("truncated {cmd}"))));
        let fixed = &bytes[fixed_start..fixed_start + lay.fixed];
        let packet = Packet::decode_framed(&header, fixed, &ctx)
            .unwrap_or_else(|e| panic!("{}: {e}", at(&format!("decoding {cmd}"))));
        assert_eq!(packet.cmd_for(&ctx), cmd);

        let mut encoded = vec![0u8; packet.encoded_len(&ctx)];
        let written = packet
            .encode(&ctx, header.volume, &mut encoded)
            .unwrap_or_else(|e| panic!("{}: {e}", at(&format!("encoding {cmd}"))));
        assert_eq!(written, header_len + lay.fixed, "{}", at("encoded length"));
        encoded.extend_from_slice(&bytes[fixed_start + lay.fixed..end]);
        assert!(
            encoded == whole,
            "{}",
            at(&format!("{cmd} re-encodes differently"))
        );

        if matches!(cmd, Cmd::ConnectionFeatures | Cmd::InitialMeta) {
            ctx = *agreed;
        }
        out.push(Seen {
            from_a,
            volume: header.volume,
            packet,
        });
        pos = end;
    }
    out
}

/// The `P_CONNECTION_FEATURES` a data-socket direction opens with (after `P_INITIAL_DATA` on
/// the connecting side).
fn features_of(stream: &[u8]) -> Features {
    let ctx = Agreed::PRE_HANDSHAKE;
    let mut pos = 0;
    loop {
        let header = decode_header(&stream[pos..pos + 8], &ctx).expect("h80 header");
        let cmd = header.command().expect("known command");
        let fixed = &stream[pos + 8..pos + 8 + header.length as usize];
        match Packet::decode(cmd, fixed, &ctx).expect("pre-handshake packet") {
            Packet::InitialData => pos += 8,
            Packet::ConnectionFeatures(f) => return f,
            other => panic!("unexpected {other:?} before the features"),
        }
    }
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// The data-integrity digest size a configuration implies (the digest sizes of the usual
/// kernel hashes); 0 without `data-integrity-alg`.
fn integrity_digest_len(conf: &str) -> u32 {
    let Some(at) = conf.find("data-integrity-alg") else {
        return 0;
    };
    let alg = conf[at..]
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(';');
    match alg {
        "crc32c" => 4,
        "md5" => 16,
        "sha1" => 20,
        "sha256" => 32,
        "sha512" => 64,
        other => panic!("digest size of {other} unknown"),
    }
}

/// Decode a whole capture into sessions (one per data connection, each with the meta
/// connection opened closest in time). TCP connections without payload (refused or reset
/// attempts) are skipped.
fn load(capture: &str, conf: &str) -> Option<Vec<Session>> {
    let dir = pcap::testdata_dir()
        .expect("testdata/drbd84-peer (the repository carries it; DRBD_RS_TESTDATA overrides)");
    let conf = std::fs::read_to_string(dir.join(conf)).expect("configuration of the capture");
    let integrity_digest_len = integrity_digest_len(&conf);
    let connections: Vec<TcpConnection> =
        pcap::tcp_connections(&pcap::read_pcap_xz(&dir.join(capture)))
            .into_iter()
            .filter(|c| !c.client_to_server.is_empty() || !c.server_to_client.is_empty())
            .collect();

    let mut data = Vec::new();
    let mut meta = Vec::new();
    for c in connections {
        let first = decode_header(&c.client_to_server[..8], &Agreed::PRE_HANDSHAKE)
            .expect("first packet has an h80 header");
        match first.command() {
            Ok(Cmd::InitialData) => data.push(c),
            Ok(Cmd::InitialMeta) => meta.push(c),
            other => panic!("connection opened with {other:?}"),
        }
    }

    let mut sessions = Vec::new();
    let mut syn_times = Vec::new();
    for d in data {
        let client_features = features_of(&d.client_to_server);
        let server_features = features_of(&d.server_to_client);
        let agreed = agree(&client_features, &server_features).expect("compatible peers");
        assert_eq!(Ok(agreed), agree(&server_features, &client_features));
        let agreed = Agreed {
            integrity_digest_len,
            ..agreed
        };
        let client_is_a = d.client.0 == NODE_A;
        let mut seen = receive_stream(
            leak(d.client_to_server),
            &agreed,
            SocketKind::Data,
            client_is_a,
        );
        seen.extend(receive_stream(
            leak(d.server_to_client),
            &agreed,
            SocketKind::Data,
            !client_is_a,
        ));
        syn_times.push(d.syn_time_us);
        sessions.push(Session {
            agreed,
            features: [client_features, server_features],
            data: seen,
            meta: Vec::new(),
        });
    }
    for m in meta {
        let nearest = (0..sessions.len())
            .min_by_key(|&i| syn_times[i].abs_diff(m.syn_time_us))
            .expect("a data connection for every meta connection");
        let session = &mut sessions[nearest];
        assert!(
            session.meta.is_empty(),
            "two meta connections for one data connection"
        );
        let client_is_a = m.client.0 == NODE_A;
        let agreed = session.agreed;
        session.meta = receive_stream(
            leak(m.client_to_server),
            &agreed,
            SocketKind::Meta,
            client_is_a,
        );
        session.meta.extend(receive_stream(
            leak(m.server_to_client),
            &agreed,
            SocketKind::Meta,
            !client_is_a,
        ));
    }
    Some(sessions)
}

/// Checks that hold for every session of every capture.
fn check_session(s: &Session) {
    // §1.3: both 6.12 nodes offer 86..101 with all four flags and agree on 101/0xF.
    let offered = Features {
        protocol_min: 86,
        feature_flags: 0x0F,
        protocol_max: 101,
    };
    assert_eq!(s.features, [offered, offered]);
    assert_eq!((s.agreed.version, s.agreed.features), (101, PRO_FEATURES));
    assert!(s.data.iter().chain(&s.meta).all(|p| p.volume == 0));

    for a in [true, false] {
        // §1.5: the initial packets after features (and auth) in this order, each with a disk.
        let initial: Vec<Cmd> = s
            .data_from(a)
            .map(Packet::cmd)
            .filter(|c| {
                !matches!(
                    c,
                    Cmd::InitialData
                        | Cmd::ConnectionFeatures
                        | Cmd::AuthChallenge
                        | Cmd::AuthResponse
                )
            })
            .take(5)
            .collect();
        assert_eq!(
            initial,
            [
                Cmd::Protocol,
                Cmd::SyncParam89,
                Cmd::Sizes,
                Cmd::Uuids,
                Cmd::State
            ]
        );

        // §4.5: protocol C, no options: a 25-byte payload.
        let protocol = s.first(a, |p| match p {
            Packet::Protocol(p) => Some(*p),
            _ => None,
        });
        assert_eq!(protocol.protocol, 3);
        assert_eq!(
            (
                protocol.after_sb_0p,
                protocol.after_sb_1p,
                protocol.after_sb_2p
            ),
            (0, 0, 0)
        );
        assert!(!protocol.two_primaries);
        assert_eq!(protocol.integrity_alg, "");
        assert_eq!(Packet::Protocol(protocol).encoded_len(&s.agreed), 16 + 25);

        // §4.6: resync-rate 40M, verify-alg md5, compiled-in controller defaults, 148 bytes.
        let params = s.first(a, |p| match p {
            Packet::SyncParam(p) => Some(*p),
            _ => None,
        });
        assert_eq!(params.resync_rate, 40960);
        assert_eq!(params.verify_alg, "md5");
        assert_eq!(
            params.controller,
            Some(Controller {
                plan_ahead: 20,
                delay_target: 10,
                fill_target: 100,
                max_rate: 102400,
            })
        );
        assert_eq!(Packet::SyncParam(params).encoded_len(&s.agreed), 16 + 148);

        // §4.7: 56 bytes with FF_WSAME; 1 MiB max bio; the observed o_qlim.
        let sizes = s.first(a, |p| match p {
            Packet::Sizes(z) => Some(*z),
            _ => None,
        });
        assert_eq!(sizes.c_size, sizes.d_size);
        assert_eq!((sizes.u_size, sizes.max_bio_size), (0, DRBD_MAX_BIO_SIZE));
        assert_eq!((sizes.queue_order_type, sizes.dds_flags), (0, 0));
        assert_eq!(
            sizes.queue_limits,
            Some(QueueLimits {
                physical_block_size: 512,
                logical_block_size: 512,
                alignment_offset: 0,
                io_min: 512,
                io_opt: 0,
                discard_enabled: 1,
                discard_zeroes_data: 0,
                write_same_capable: 0,
            })
        );

        // §4.3: one per-volume counter numbers every P_DATA/P_TRIM/P_ZEROES and every ack a
        // node sends, from 1 after connecting, across both sockets.
        let mut seqs: Vec<u32> = s
            .data_from(a)
            .filter_map(|p| match p {
                Packet::Data {
                    kind: DataKind::Data,
                    hdr,
                    ..
                }
                | Packet::Trim { hdr, .. } => Some(hdr.seq_num),
                _ => None,
            })
            .chain(s.meta_from(a).filter_map(|p| match p {
                Packet::Ack { ack, .. } => Some(ack.seq_num),
                _ => None,
            }))
            .collect();
        seqs.sort_unstable();
        assert!(
            seqs.iter().copied().eq(1..=seqs.len() as u32),
            "sequence numbers {seqs:?}"
        );

        // Replies carry seq 0 and no flags (§4.1), requests are ≤ 1 MiB (§5.5).
        for kind in [DataKind::DataReply, DataKind::RsDataReply] {
            for (hdr, _) in s.data_packets_from(a, kind) {
                assert_eq!((hdr.seq_num, hdr.dp_flags), (0, 0));
            }
        }
    }
    check_writes(s);
    check_resync(s);
}

/// §5.2/§5.3: node-a's protocol C writes, node-b's write acks and the barrier echo.
fn check_writes(s: &Session) {
    let writes = s.data_packets_from(true, DataKind::Data);
    let acks = s.acks_from(false, AckKind::WriteAck);
    assert_eq!(writes.len(), acks.len());
    for (hdr, _) in &writes {
        assert_eq!(hdr.dp_flags, DP_SEND_WRITE_ACK | DP_RW_SYNC); // observed 0x102
    }
    for ack in &acks {
        let matching = writes
            .iter()
            .filter(|(h, len)| {
                h.sector == ack.sector && h.block_id == ack.block_id && *len == ack.blksize
            })
            .count();
        assert_eq!(matching, 1, "write ack {ack:?} echoes one write");
    }
    let barriers: Vec<u32> = s
        .data_from(true)
        .filter_map(|p| match p {
            Packet::Barrier { barrier } => Some(*barrier),
            _ => None,
        })
        .collect();
    let barrier_acks: Vec<(u32, u32)> = s
        .meta_from(false)
        .filter_map(|p| match p {
            Packet::BarrierAck { barrier, set_size } => Some((*barrier, *set_size)),
            _ => None,
        })
        .collect();
    // Protocol C: a barrier after every write, each acked with the verbatim value and 1.
    assert_eq!(barriers.len(), writes.len());
    assert!(barriers
        .iter()
        .map(|&b| (b, 1))
        .eq(barrier_acks.iter().copied()));
    // 6.12 numbers epochs with a host-order (little-endian) counter: 00000000, 01000000, ...
    for pair in barriers.windows(2) {
        assert_eq!(pair[1].swap_bytes(), pair[0].swap_bytes() + 1);
    }
}

/// §5.5: resync requests by node-b are answered by node-a (data, or "in sync" for checksum
/// requests) and acknowledged by node-b with ID_SYNCER.
fn check_resync(s: &Session) {
    let plain = s.requests_from(false, RequestKind::RsDataRequest);
    let csum = s.requests_from(false, RequestKind::CsumRsRequest);
    let requests: Vec<BlockReq> = plain.iter().chain(&csum).map(|(r, _)| *r).collect();
    for (_, digest) in &csum {
        assert_eq!(digest.len(), 16, "md5 digests");
    }
    for (_, digest) in &plain {
        assert!(digest.is_empty());
    }
    let replies = s.data_packets_from(true, DataKind::RsDataReply);
    let in_sync = s.acks_from(true, AckKind::RsIsInSync);
    let write_acks = s.acks_from(false, AckKind::RsWriteAck);
    assert_eq!(requests.len(), replies.len() + in_sync.len());
    assert_eq!(replies.len(), write_acks.len());
    for req in &requests {
        assert_eq!(req.block_id, ID_SYNCER);
        assert!(req.blksize <= DRBD_MAX_BIO_SIZE);
        let replied = replies
            .iter()
            .filter(|(h, len)| {
                h.sector == req.sector && h.block_id == ID_SYNCER && *len == req.blksize
            })
            .count();
        let skipped = in_sync
            .iter()
            .filter(|a| a.sector == req.sector && a.blksize == req.blksize)
            .count();
        assert_eq!(replied + skipped, 1, "request {req:?} answered once");
    }
    for ack in &write_acks {
        assert_eq!(ack.block_id, ID_SYNCER);
        assert!(requests
            .iter()
            .any(|r| r.sector == ack.sector && r.blksize == ack.blksize));
    }
}

/// Requests covering the whole device in order, 1 MiB each except the clipped last one.
fn assert_full_sweep(requests: &[BlockReq], d_size: u64) {
    let mut next = 0;
    for (i, req) in requests.iter().enumerate() {
        assert_eq!(req.sector, next);
        if i + 1 < requests.len() {
            assert_eq!(req.blksize, DRBD_MAX_BIO_SIZE);
        }
        next += u64::from(req.blksize / 512);
    }
    assert_eq!(next, d_size);
}

fn state_change(s: &Session, a: bool) -> Vec<StateReq> {
    s.data_from(a)
        .filter_map(|p| match p {
            Packet::StateChgReq(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn conn_state_change(s: &Session, a: bool) -> Vec<StateReq> {
    s.data_from(a)
        .filter_map(|p| match p {
            Packet::ConnStChgReq(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn compressed_bitmaps(s: &Session, a: bool) -> Vec<&'static [u8]> {
    s.data_from(a)
        .filter_map(|p| match p {
            Packet::CompressedBitmap(b) => Some(*b),
            _ => None,
        })
        .collect()
}

const PROMOTE: StateReq = StateReq {
    mask: 0x1e03,
    val: 0x1001,
};
const DISCONNECT: StateReq = StateReq {
    mask: 0x1f0,
    val: 0x10,
};
const START_VERIFY: StateReq = StateReq {
    mask: 0x1f0,
    val: 0x120,
};

/// The first connect of two fresh nodes and `primary --force` on node-a (§12).
fn check_initial_full_sync(s: &Session, d_size: u64) {
    for a in [true, false] {
        let sizes = s.first(a, |p| match p {
            Packet::Sizes(z) => Some(*z),
            _ => None,
        });
        assert_eq!(sizes.d_size, d_size);
        // §4.8: fresh meta data: current = UUID_JUST_CREATED, every bit set.
        let fresh = s.uuids_from(a)[0];
        assert_eq!(fresh.current, UUID_JUST_CREATED);
        assert_eq!((fresh.bitmap, fresh.history, fresh.flags), (0, [0, 0], 0));
        assert_eq!(fresh.bitmap_bits, d_size / 8);
        assert_eq!(&s.states_from(a)[..2], [0xc882, 0x88aa]);
    }
    assert_eq!(state_change(s, true), [PROMOTE]);
    assert_eq!(s.states_from(true)[2], 0x90a9);
    assert_eq!(s.states_from(false)[2], 0x108e6);
    assert!(s.meta_from(false).any(|p| *p == Packet::StateChgReply(1)));
    // The promoted node's new current UUID; the old one becomes the bitmap UUID.
    let promoted = s.uuids_from(true)[1];
    assert_eq!(promoted.bitmap, UUID_JUST_CREATED);
    assert_ne!(promoted.current, UUID_JUST_CREATED);
    // One RLE packet each way (§9.4 encoding byte: code 2 = RLE_VLI_Bits, bit 7 = the first
    // run is of set bits); a full bitmap is a single run.
    for a in [true, false] {
        let rle = compressed_bitmaps(s, a);
        assert_eq!(rle.len(), 1);
        assert_eq!(rle[0][0] & 0x8f, 0x82);
    }
    assert_eq!(s.count(Cmd::SyncUuid), 1);
    assert_eq!(*s.states_from(false).last().unwrap(), 0x110a6);
    assert_eq!(conn_state_change(s, true), [DISCONNECT]);
    assert!(s.meta_from(false).any(|p| *p == Packet::ConnStChgReply(1)));
}

/// Reconnect after writes on a disconnected node-a, then `verify` on node-a (§12, §5.6).
fn check_reconnect_and_verify(first: &Session, s: &Session, d_size: u64) -> Vec<BlockReq> {
    let old_current = first.uuids_from(true)[1].current;
    let uuids = s.uuids_from(true)[0];
    assert_eq!(uuids.bitmap, old_current);
    assert_eq!(uuids.bitmap_bits, 64);
    assert_eq!(
        s.first(true, |p| match p {
            Packet::SyncUuid(u) => Some(*u),
            _ => None,
        }),
        old_current + UUID_NEW_BM_OFFSET
    );
    // Both directions carry the same RLE packet (§9.2).
    let rle_a = compressed_bitmaps(s, true);
    assert_eq!(rle_a, compressed_bitmaps(s, false));
    assert_eq!(rle_a.len(), 1);

    assert_eq!(state_change(s, true), [START_VERIFY]);
    let verify = s.requests_from(true, RequestKind::OvRequest);
    assert_eq!(verify.len() as u64, d_size / 8);
    for (i, (req, digest)) in verify.iter().enumerate() {
        assert_eq!(
            (req.sector, req.block_id, req.blksize),
            (i as u64 * 8, ID_SYNCER, 4096)
        );
        assert!(digest.is_empty());
    }
    let replies = s.requests_from(false, RequestKind::OvReply);
    assert_eq!(replies.len(), verify.len());
    assert!(replies
        .iter()
        .all(|(r, d)| r.block_id == ID_SYNCER && d.len() == 16));
    let results = s.acks_from(true, AckKind::OvResult);
    assert_eq!(results.len(), verify.len());
    assert!(
        results.iter().all(|a| a.block_id == ID_IN_SYNC),
        "0 out of sync"
    );
    assert!(s.states_from(true).contains(&0x110a9));
    assert_eq!(conn_state_change(s, true), [DISCONNECT]);

    s.requests_from(false, RequestKind::RsDataRequest)
        .into_iter()
        .chain(s.requests_from(false, RequestKind::CsumRsRequest))
        .map(|(r, _)| r)
        .collect()
}

#[test]
fn fullsync_capture_decodes_and_reencodes() {
    let Some(sessions) = load("fullsync-protoC.node-a.pcap.xz", "fullsync-protoC.conf") else {
        return;
    };
    assert_eq!(sessions.len(), 2);
    sessions.iter().for_each(check_session);
    const D_SIZE: u64 = 0x1ffb0; // §4.7 observed

    let first = &sessions[0];
    check_initial_full_sync(first, D_SIZE);
    assert_eq!(
        compressed_bitmaps(first, true)[0],
        [0xb2, 0x7f, 0xc5, 0x1e, 0x00]
    );
    let requests: Vec<BlockReq> = first
        .requests_from(false, RequestKind::RsDataRequest)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(requests.len(), 64);
    assert_full_sweep(&requests, D_SIZE);
    // §4.3: 64 resync write acks numbered 1..64, then the first write ack carries 65.
    let rs_acks = first.acks_from(false, AckKind::RsWriteAck);
    assert!(rs_acks.iter().map(|a| a.seq_num).eq(1..=64));
    assert_eq!(first.acks_from(false, AckKind::WriteAck)[0].seq_num, 65);
    // README step 3: 1 MiB of 4 KiB writes and 1 MiB of 64 KiB writes.
    let writes = first.data_packets_from(true, DataKind::Data);
    assert_eq!(writes.iter().filter(|(_, len)| *len == 4096).count(), 256);
    assert_eq!(writes.iter().filter(|(_, len)| *len == 65536).count(), 16);
    assert_eq!(writes.len(), 272);

    let second = &sessions[1];
    let resync = check_reconnect_and_verify(first, second, D_SIZE);
    assert_eq!(
        compressed_bitmaps(second, true)[0],
        [0x02, 0x3f, 0x57, 0xf2, 0x7b, 0xf8, 0xeb, 0x57, 0x00]
    );
    // §5.5: a 64-bit dirty run at bit 5000 becomes four power-of-two aligned requests.
    let geometry: Vec<(u64, u32)> = resync.iter().map(|r| (r.sector, r.blksize)).collect();
    assert_eq!(
        geometry,
        [
            (40000, 32768),
            (40064, 65536),
            (40192, 131072),
            (40448, 32768)
        ]
    );
}

#[test]
fn auth_csums_capture_decodes_and_reencodes() {
    // cram-hmac and csums, but no data-integrity-alg: data packets carry no digest.
    let Some(sessions) = load("auth-csums-verify.node-a.pcap.xz", "auth-csums-verify.conf") else {
        return;
    };
    assert_eq!(sessions.len(), 2);
    sessions.iter().for_each(check_session);
    const D_SIZE: u64 = 0x3fb0; // README: la_size_sect

    for s in &sessions {
        // §1.4: a 64-byte challenge each way (never the same), 32-byte HMAC-SHA256 answers,
        // before anything else and already with h100 headers.
        let mut challenges = Vec::new();
        for a in [true, false] {
            let auth: Vec<&Packet> = s
                .data_from(a)
                .filter(|p| !matches!(p, Packet::InitialData | Packet::ConnectionFeatures(_)))
                .take(2)
                .collect();
            match auth[..] {
                [Packet::AuthChallenge(c), Packet::AuthResponse(r)] => {
                    assert_eq!((c.len(), r.len()), (CHALLENGE_LEN, 32));
                    challenges.push(*c);
                }
                _ => panic!("auth exchange expected, got {auth:?}"),
            }
            let params = s.first(a, |p| match p {
                Packet::SyncParam(p) => Some(*p),
                _ => None,
            });
            assert_eq!(params.csums_alg, "md5");
        }
        assert_ne!(challenges[0], challenges[1]);
    }

    let first = &sessions[0];
    check_initial_full_sync(first, D_SIZE);
    // §5.5: the initial full sync of zero-filled disks: 8 checksum requests, all in sync.
    let requests: Vec<BlockReq> = first
        .requests_from(false, RequestKind::CsumRsRequest)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(requests.len(), 8);
    assert_full_sweep(&requests, D_SIZE);
    assert_eq!(first.acks_from(true, AckKind::RsIsInSync).len(), 8);
    // Their digests are the md5 (csums-alg) of the zeros node-b had: our digest agrees with
    // the kernel's on whole 1 MiB requests and the clipped last one.
    for (req, digest) in first.requests_from(false, RequestKind::CsumRsRequest) {
        let zeros = vec![0u8; req.blksize as usize];
        assert_eq!(digest, DigestAlg::Md5.digest(&zeros).as_bytes(), "{req:?}");
    }
    assert_eq!(first.count(Cmd::RsDataReply), 0);

    let second = &sessions[1];
    let resync = check_reconnect_and_verify(first, second, D_SIZE);
    // README step 4: 64 dirty bits at bit 1000, all fetched by checksum requests.
    assert_eq!(
        resync.iter().map(|r| u64::from(r.blksize)).sum::<u64>(),
        64 * 4096
    );
    assert_eq!(resync[0].sector, 1000 * 8);
}

#[test]
fn splitbrain_capture_decodes_and_reencodes() {
    let Some(sessions) = load("splitbrain.node-a.pcap.xz", "fullsync-protoC.conf") else {
        return;
    };
    assert_eq!(sessions.len(), 3);
    sessions.iter().for_each(check_session);
    const D_SIZE: u64 = 0x7fb0; // 16 MiB minus internal meta data

    check_initial_full_sync(&sessions[0], D_SIZE);

    // Split brain detected: both send their handshake and state, nothing more.
    let split = &sessions[1];
    for a in [true, false] {
        assert_eq!(split.states_from(a), [0xd081]);
        assert!(compressed_bitmaps(split, a).is_empty());
        let protocol = split.first(a, |p| match p {
            Packet::Protocol(p) => Some(*p),
            _ => None,
        });
        assert_eq!(protocol.conn_flags, 0);
    }

    // node-b reconnects with --discard-my-data: the flag travels in P_PROTOCOL (§4.5) and in
    // P_UUIDS (§4.8); node-a's data wins and 1 MiB is resynced.
    let solved = &sessions[2];
    let protocol_b = solved.first(false, |p| match p {
        Packet::Protocol(p) => Some(*p),
        _ => None,
    });
    assert_eq!(protocol_b.conn_flags, CF_DISCARD_MY_DATA);
    assert_eq!(solved.uuids_from(false)[0].flags, UUID_FLAG_DISCARD_MY_DATA);
    let resynced: u64 = solved
        .requests_from(false, RequestKind::RsDataRequest)
        .iter()
        .map(|(r, _)| u64::from(r.blksize))
        .sum();
    assert_eq!(resynced, 1 << 20);
}
