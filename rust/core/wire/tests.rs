// SPDX-License-Identifier: GPL-2.0
//! Unit tests of the wire codec against the byte strings and rules of `wire-protocol.md`.

use super::*;

const APV101: Agreed = Agreed {
    version: 101,
    features: PRO_FEATURES,
    integrity_digest_len: 0,
};

fn apv(version: u32) -> Agreed {
    Agreed { version, ..APV101 }
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Encode `packet` and run the result through the receive path again.
fn round_trip(packet: &Packet<'_>, ctx: &Agreed, volume: u16) -> Vec<u8> {
    let mut out = vec![0u8; packet.encoded_len(ctx)];
    let n = packet.encode(ctx, volume, &mut out).unwrap();
    assert_eq!(n, out.len());
    let header_len = if packet.cmd().is_pre_handshake() {
        8
    } else {
        ctx.header_len()
    };
    let header_ctx = if packet.cmd().is_pre_handshake() {
        Agreed::PRE_HANDSHAKE
    } else {
        *ctx
    };
    let header = decode_header(&out[..header_len], &header_ctx).unwrap();
    assert_eq!(header.volume, volume);
    let back = Packet::decode_framed(&header, &out[header_len..], ctx).unwrap();
    assert_eq!(&back, packet);
    out
}

// ---- command table (§3) ------------------------------------------------------------------------

#[test]
fn command_numbers_round_trip_and_holes_are_unknown() {
    for &cmd in Cmd::ALL {
        assert_eq!(Cmd::from_u16(cmd.to_u16()), Some(cmd));
    }
    let holes = [
        0x25, 0x26, 0x2E, 0x2F, 0x30, 0x35, 0x37, 0x40, 0x48, 0x100, 0x101, 0xFFFF,
    ];
    for value in holes {
        assert_eq!(Cmd::from_u16(value), None, "0x{value:x}");
    }
    assert_eq!(Cmd::ALL.len(), 52);
    assert_eq!(Cmd::Zeroes as u16, 0x36);
    assert_eq!(Cmd::ConnectionFeatures as u16, 0xFFFE);
}

#[test]
fn command_names_are_the_kernel_log_names() {
    // The list of §3, in command order (it omits the four named last).
    let logged = "Data, DataReply, RSDataReply, Barrier, ReportBitMap, UnplugRemote, DataRequest, \
        RSDataRequest, SyncParam, ReportProtocol, ReportUUIDs, ReportSizes, ReportState, \
        ReportSyncUUID, AuthChallenge, AuthResponse, StateChgRequest, Ping, PingAck, RecvAck, \
        WriteAck, RSWriteAck, Superseded, NegAck, NegDReply, NegRSDReply, BarrierAck, \
        StateChgReply, OVRequest, OVReply, OVResult, CsumRSRequest, CsumRSIsInSync, SyncParam89, \
        CBitmap, DelayProbe, OutOfSync, RSCancel, conn_st_chg_req, conn_st_chg_reply, \
        protocol_update, Trim, rs_thin_req, rs_deallocated, WriteSame, Zeroes, InitialMeta, \
        InitialData";
    let expected: Vec<&str> = logged.split(", ").collect();
    let unlisted = [
        Cmd::BecomeSyncTarget,
        Cmd::BecomeSyncSource,
        Cmd::RetryWrite,
        Cmd::ConnectionFeatures,
    ];
    let names: Vec<&str> = Cmd::ALL
        .iter()
        .filter(|c| !unlisted.contains(c))
        .map(|c| c.name())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(Cmd::ConnectionFeatures.to_string(), "ConnectionFeatures");
}

#[test]
fn sockets_follow_the_command_table() {
    let meta = [
        Cmd::Ping,
        Cmd::PingAck,
        Cmd::RecvAck,
        Cmd::WriteAck,
        Cmd::RsWriteAck,
        Cmd::Superseded,
        Cmd::NegAck,
        Cmd::NegDReply,
        Cmd::NegRsDReply,
        Cmd::BarrierAck,
        Cmd::StateChgReply,
        Cmd::OvResult,
        Cmd::RsIsInSync,
        Cmd::RsCancel,
        Cmd::ConnStChgReply,
        Cmd::RetryWrite,
        Cmd::InitialMeta,
    ];
    for &cmd in Cmd::ALL {
        let want = if meta.contains(&cmd) {
            SocketKind::Meta
        } else if cmd == Cmd::DelayProbe {
            SocketKind::Either
        } else {
            SocketKind::Data
        };
        assert_eq!(cmd.socket(), want, "{cmd}");
    }
    assert!(SocketKind::Either.allows(SocketKind::Meta));
    assert!(SocketKind::Either.allows(SocketKind::Data));
    assert!(!SocketKind::Meta.allows(SocketKind::Data));
    assert!(!SocketKind::Data.allows(SocketKind::Meta));
}

// ---- versions, features (§0, §1.3) --------------------------------------------------------------

#[test]
fn version_constants_have_one_source() {
    assert_eq!((PRO_VERSION_MIN, PRO_VERSION_MAX), (86, 101));
    assert_eq!(super::super::version::PROTOCOL_MAX, PRO_VERSION_MAX);
    assert_eq!(super::super::uuid::DRBD_FF_WSAME, DRBD_FF_WSAME);
    assert_eq!(PRO_FEATURES, 0x0F);
}

#[test]
fn features_agree_like_two_612_nodes() {
    let ours = Features::new(PRO_FEATURES);
    let agreed = agree(&ours, &ours).unwrap();
    assert_eq!(agreed, APV101);
    // Features are ANDed; the version is the lower maximum.
    let peer = Features {
        protocol_min: 86,
        feature_flags: DRBD_FF_TRIM | 0x100,
        protocol_max: 96,
    };
    let agreed = agree(&ours, &peer).unwrap();
    assert_eq!((agreed.version, agreed.features), (96, DRBD_FF_TRIM));
    assert_eq!(agreed.header_len(), 8);
    // protocol_max 0 means protocol_min.
    let old = Features {
        protocol_min: 90,
        feature_flags: 0,
        protocol_max: 0,
    };
    assert_eq!(agree(&ours, &old).unwrap().version, 90);
}

#[test]
fn features_without_overlap_are_incompatible_dialects() {
    let ours = Features::new(0);
    for (min, max) in [(102, 110), (80, 85), (85, 0)] {
        let peer = Features {
            protocol_min: min,
            feature_flags: 0,
            protocol_max: max,
        };
        assert!(matches!(
            agree(&ours, &peer),
            Err(WireError::IncompatibleDialects { .. })
        ));
    }
    let err = agree(
        &ours,
        &Features {
            protocol_min: 102,
            feature_flags: 0,
            protocol_max: 110,
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "incompatible DRBD dialects: I support 86-101, peer supports 102-110"
    );
}

#[test]
fn features_packet_matches_observed_bytes() {
    // §1.3: h80 header, cmd 0xFFFE, length 72; `00000056 0000000f 00000065 00000000 …zeros`.
    let packet = Packet::ConnectionFeatures(Features::new(PRO_FEATURES));
    let bytes = round_trip(&packet, &Agreed::PRE_HANDSHAKE, 0);
    let mut want = hex("83740267 fffe 0048 00000056 0000000f 00000065");
    want.resize(8 + 72, 0);
    assert_eq!(bytes, want);
    // Always h80, even if a caller passes the agreed context.
    let mut out = [0u8; 80];
    assert_eq!(packet.encode(&APV101, 0, &mut out), Ok(80));
    assert_eq!(&out[..], &want[..]);
}

// ---- headers (§1.2, §2) -------------------------------------------------------------------------

#[test]
fn initial_packets_are_the_observed_eight_bytes() {
    assert_eq!(
        round_trip(&Packet::InitialData, &Agreed::PRE_HANDSHAKE, 0),
        hex("83 74 02 67 ff f2 00 00")
    );
    assert_eq!(
        round_trip(&Packet::InitialMeta, &APV101, 0),
        hex("83 74 02 67 ff f1 00 00")
    );
}

#[test]
fn h100_headers_match_observed_bytes() {
    let ping = hex("86 20 ec 20 00 00 00 13 00 00 00 00 00 00 00 00");
    assert_eq!(
        decode_header(&ping, &APV101),
        Ok(Header {
            cmd: 0x13,
            volume: 0,
            length: 0
        })
    );
    assert_eq!(round_trip(&Packet::Ping, &APV101, 0), ping);

    let data = hex("86 20 ec 20 00 00 00 00 00 00 10 18 00 00 00 00");
    let header = decode_header(&data, &APV101).unwrap();
    assert_eq!((header.command(), header.length), (Ok(Cmd::Data), 4120));
    let mut out = [0u8; 16];
    assert_eq!(encode_header(&APV101, Cmd::Data, 0, 4120, &mut out), Ok(16));
    assert_eq!(&out[..], &data[..]);

    let mut out = [0u8; 16];
    encode_header(&APV101, Cmd::State, 7, 4, &mut out).unwrap();
    assert_eq!(decode_header(&out, &APV101).unwrap().volume, 7);
}

#[test]
fn h80_and_h95_are_chosen_by_version_and_length() {
    let mut out = [0u8; 8];
    // apv 95..99: h80 up to 32 KiB, h95 above.
    let ctx = apv(96);
    encode_header(&ctx, Cmd::Data, 0, MAX_SIZE_H80_PACKET, &mut out).unwrap();
    assert_eq!(&out[..4], &DRBD_MAGIC.to_be_bytes());
    encode_header(&ctx, Cmd::Data, 0, MAX_SIZE_H80_PACKET + 1, &mut out).unwrap();
    assert_eq!(out, [0x83, 0x5a, 0, 0, 0, 0, 0x80, 0x01]);
    assert_eq!(
        decode_header(&out, &ctx),
        Ok(Header {
            cmd: 0,
            volume: 0,
            length: 0x8001
        })
    );
    // An 8-byte header may be either kind, whatever the version.
    assert_eq!(decode_header(&out, &apv(86)).unwrap().length, 0x8001);
    // Below 95 only h80: its 16-bit length bounds the payload.
    let ctx = apv(94);
    assert_eq!(encode_header(&ctx, Cmd::Data, 0, 0xFFFF, &mut out), Ok(8));
    assert_eq!(
        encode_header(&ctx, Cmd::Data, 0, 0x1_0000, &mut out),
        Err(WireError::LengthNotEncodable { length: 0x1_0000 })
    );
    // No volume field in 8-byte headers.
    assert_eq!(
        encode_header(&apv(99), Cmd::State, 1, 4, &mut out),
        Err(WireError::VolumeNotEncodable(1))
    );
    assert_eq!(
        encode_header(&APV101, Cmd::Ping, 0, 0, &mut [0u8; 15]),
        Err(WireError::BufferTooSmall {
            needed: 16,
            available: 15
        })
    );
}

#[test]
fn bad_headers_are_refused_with_drbds_words() {
    let err = decode_header(&hex("12345678 0000 0000"), &apv(90)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong magic value 0x12345678 in protocol version 90"
    );
    // An h80 header where h100 is expected is a wrong magic too.
    let h80_ping = hex("83740267 0013 0000 00000000 00000000");
    assert!(matches!(
        decode_header(&h80_ping, &APV101),
        Err(WireError::WrongMagic {
            magic: DRBD_MAGIC,
            version: 101
        })
    ));
    let padded = hex("8620ec20 0000 0013 00000000 00000001");
    assert_eq!(
        decode_header(&padded, &APV101),
        Err(WireError::HeaderPadNotZero)
    );
    assert_eq!(
        decode_header(&[0u8; 8], &APV101),
        Err(WireError::BufferLength {
            expected: 16,
            got: 8
        })
    );
    let unknown = decode_header(&hex("8620ec20 0000 0025 00000000 00000000"), &APV101).unwrap();
    assert_eq!(unknown.command(), Err(WireError::UnknownCommand(0x25)));
}

// ---- layout (§3, §4) ------------------------------------------------------------------------------

fn fixed_len(cmd: Cmd, length: u32, ctx: &Agreed) -> Option<usize> {
    layout(cmd, length, ctx).ok().map(|l| {
        assert_eq!(l.data, 0);
        l.fixed
    })
}

#[test]
fn exact_sizes_are_exact() {
    let cases: &[(Cmd, u32)] = &[
        (Cmd::WriteAck, 24),
        (Cmd::RetryWrite, 24),
        (Cmd::OvResult, 24),
        (Cmd::RsDataRequest, 24),
        (Cmd::RsThinReq, 24),
        (Cmd::OutOfSync, 16),
        (Cmd::RsDeallocated, 16),
        (Cmd::Barrier, 8),
        (Cmd::BarrierAck, 8),
        (Cmd::Uuids, 48),
        (Cmd::State, 4),
        (Cmd::StateChgReq, 8),
        (Cmd::ConnStChgReq, 8),
        (Cmd::StateChgReply, 4),
        (Cmd::SyncUuid, 8),
        (Cmd::DelayProbe, 8),
        (Cmd::Trim, 28),
        (Cmd::Zeroes, 28),
        (Cmd::Ping, 0),
        (Cmd::UnplugRemote, 0),
        (Cmd::ConnectionFeatures, 72),
    ];
    for &(cmd, size) in cases {
        assert_eq!(fixed_len(cmd, size, &APV101), Some(size as usize), "{cmd}");
        assert_eq!(fixed_len(cmd, size + 1, &APV101), None, "{cmd}");
        if size > 0 {
            assert_eq!(
                layout(cmd, size - 1, &APV101),
                Err(WireError::UnexpectedSize {
                    cmd,
                    expected: size,
                    received: size - 1
                })
            );
        }
    }
}

#[test]
fn sizes_length_follows_wsame() {
    assert_eq!(fixed_len(Cmd::Sizes, 56, &APV101), Some(56));
    assert_eq!(fixed_len(Cmd::Sizes, 32, &APV101), None);
    let no_wsame = Agreed {
        features: DRBD_FF_TRIM,
        ..APV101
    };
    assert_eq!(fixed_len(Cmd::Sizes, 32, &no_wsame), Some(32));
    assert_eq!(fixed_len(Cmd::Sizes, 56, &no_wsame), None);
}

#[test]
fn protocol_and_sync_param_lengths_follow_the_version() {
    assert_eq!(fixed_len(Cmd::Protocol, 25, &APV101), Some(25));
    assert_eq!(fixed_len(Cmd::ProtocolUpdate, 88, &APV101), Some(88));
    assert_eq!(fixed_len(Cmd::Protocol, 89, &APV101), None);
    assert_eq!(fixed_len(Cmd::Protocol, 25, &apv(86)), None);
    assert_eq!(fixed_len(Cmd::Protocol, 24, &apv(86)), Some(24));

    for (version, ok, bad) in [
        (86, &[4u32][..], &[3u32, 5][..]),
        (87, &[4], &[5]),
        (88, &[5, 68], &[4, 69]),
        (89, &[132], &[131, 133, 148]),
        (94, &[132], &[148]),
        (95, &[148], &[132, 147]),
        (101, &[148], &[149]),
    ] {
        for cmd in [Cmd::SyncParam, Cmd::SyncParam89] {
            for &len in ok {
                assert_eq!(fixed_len(cmd, len, &apv(version)), Some(len as usize));
            }
            for &len in bad {
                assert_eq!(fixed_len(cmd, len, &apv(version)), None, "{version} {len}");
            }
        }
    }
    assert_eq!(
        layout(Cmd::SyncParam89, 149, &APV101)
            .unwrap_err()
            .to_string(),
        "SyncParam89 packet too long: received 149, expected <= 148 bytes"
    );
}

#[test]
fn auth_digest_and_bitmap_bounds() {
    assert_eq!(fixed_len(Cmd::AuthChallenge, 63, &APV101), None);
    assert_eq!(fixed_len(Cmd::AuthChallenge, 64, &APV101), Some(64));
    assert_eq!(fixed_len(Cmd::AuthChallenge, 128, &APV101), Some(128));
    assert_eq!(fixed_len(Cmd::AuthChallenge, 129, &APV101), None);
    assert_eq!(fixed_len(Cmd::AuthResponse, 32, &APV101), Some(32));
    assert_eq!(fixed_len(Cmd::AuthResponse, 65, &APV101), None);

    assert_eq!(fixed_len(Cmd::CsumRsRequest, 24 + 16, &APV101), Some(40));
    assert_eq!(fixed_len(Cmd::OvReply, 24 + 64, &APV101), Some(88));
    assert_eq!(fixed_len(Cmd::OvReply, 24 + 65, &APV101), None);
    assert_eq!(fixed_len(Cmd::OvRequest, 24 + 16, &APV101), None);

    // §9.3: 510 words with h100, 511 with 8-byte headers; empty terminator allowed.
    assert_eq!(APV101.bitmap_words_per_packet(), 510);
    assert_eq!(apv(96).bitmap_words_per_packet(), 511);
    assert_eq!(fixed_len(Cmd::Bitmap, 4080, &APV101), Some(4080));
    assert_eq!(fixed_len(Cmd::Bitmap, 4088, &APV101), None);
    assert_eq!(fixed_len(Cmd::Bitmap, 4088, &apv(96)), Some(4088));
    assert_eq!(fixed_len(Cmd::Bitmap, 0, &APV101), Some(0));
    assert_eq!(
        layout(Cmd::Bitmap, 12, &APV101),
        Err(WireError::Misaligned {
            cmd: Cmd::Bitmap,
            size: 12
        })
    );
    // §9.4: 2 ..= 4096 − header.
    assert_eq!(fixed_len(Cmd::CompressedBitmap, 1, &APV101), None);
    assert_eq!(fixed_len(Cmd::CompressedBitmap, 2, &APV101), Some(2));
    assert_eq!(fixed_len(Cmd::CompressedBitmap, 4080, &APV101), Some(4080));
    assert_eq!(fixed_len(Cmd::CompressedBitmap, 4081, &APV101), None);
}

#[test]
fn data_splits_into_head_and_streamed_blocks() {
    let layout101 = |cmd, len| layout(cmd, len, &APV101);
    assert_eq!(
        layout101(Cmd::Data, 4120),
        Ok(Layout {
            fixed: 24,
            data: 4096
        })
    );
    assert_eq!(
        layout101(Cmd::DataReply, 24),
        Ok(Layout { fixed: 24, data: 0 })
    );
    assert_eq!(
        layout101(Cmd::RsDataReply, 24 + DRBD_MAX_BIO_SIZE),
        Ok(Layout {
            fixed: 24,
            data: 1 << 20
        })
    );
    assert!(matches!(
        layout101(Cmd::RsDataReply, 24 + DRBD_MAX_BIO_SIZE + 512),
        Err(WireError::TooLong { .. })
    ));
    assert!(matches!(
        layout101(Cmd::Data, 24 + 100),
        Err(WireError::Misaligned { .. })
    ));
    assert!(matches!(
        layout101(Cmd::Data, 23),
        Err(WireError::UnexpectedSize { expected: 24, .. })
    ));
    // With a data-integrity-alg the digest is part of the fixed head.
    let sha1 = Agreed {
        integrity_digest_len: 20,
        ..APV101
    };
    assert_eq!(
        layout(Cmd::Data, 24 + 20 + 512, &sha1),
        Ok(Layout {
            fixed: 44,
            data: 512
        })
    );
    assert!(layout(Cmd::Data, 30, &sha1).is_err());
    // …but not of P_TRIM (§4.2).
    assert_eq!(fixed_len(Cmd::Trim, 28, &sha1), Some(28));
    let absurd = Agreed {
        integrity_digest_len: 65,
        ..APV101
    };
    assert_eq!(
        layout(Cmd::Data, 4096, &absurd),
        Err(WireError::BadDigestLength(65))
    );
}

#[test]
fn commands_612_cannot_receive_are_refused() {
    for cmd in [Cmd::Wsame, Cmd::BecomeSyncSource, Cmd::BecomeSyncTarget] {
        assert_eq!(layout(cmd, 28, &APV101), Err(WireError::NotReceivable(cmd)));
        assert!(!cmd.receivable());
    }
    assert_eq!(
        WireError::NotReceivable(Cmd::Wsame).to_string(),
        "Unexpected packet WriteSame (0x0034)"
    );
}

// ---- payloads (§4) ----------------------------------------------------------------------------

fn decode_hex<'a>(cmd: Cmd, bytes: &'a [u8], ctx: &Agreed) -> Packet<'a> {
    Packet::decode(cmd, bytes, ctx).unwrap()
}

#[test]
fn observed_handshake_payloads_decode() {
    let protocol = hex("00000003 00000000 00000000 00000000 00000000 00000000 00");
    assert_eq!(
        decode_hex(Cmd::Protocol, &protocol, &APV101),
        Packet::Protocol(ProtocolSettings {
            protocol: 3,
            ..ProtocolSettings::default()
        })
    );

    let mut params = hex("0000a000");
    params.extend_from_slice(b"md5");
    params.resize(4 + 64 + 64, 0);
    params.extend(hex("00000014 0000000a 00000064 00019000"));
    assert_eq!(
        decode_hex(Cmd::SyncParam89, &params, &APV101),
        Packet::SyncParam(SyncParams {
            resync_rate: 40960,
            verify_alg: "md5",
            csums_alg: "",
            controller: Some(Controller {
                plan_ahead: 20,
                delay_target: 10,
                fill_target: 100,
                max_rate: 102400,
            }),
        })
    );

    let sizes = hex(
        "000000000001ffb0 0000000000000000 000000000001ffb0 00100000 0000 0000 \
         00000200 00000200 00000000 00000200 00000000 01 00 00 00",
    );
    assert_eq!(
        decode_hex(Cmd::Sizes, &sizes, &APV101),
        Packet::Sizes(Sizes {
            d_size: 0x1ffb0,
            u_size: 0,
            c_size: 0x1ffb0,
            max_bio_size: 1 << 20,
            queue_order_type: 0,
            dds_flags: 0,
            queue_limits: Some(QueueLimits {
                physical_block_size: 512,
                logical_block_size: 512,
                alignment_offset: 0,
                io_min: 512,
                io_opt: 0,
                discard_enabled: 1,
                discard_zeroes_data: 0,
                write_same_capable: 0,
            }),
        })
    );

    let uuids = hex(
        "0000000000000004 0000000000000000 0000000000000000 0000000000000000 \
         0000000000003ff6 0000000000000000",
    );
    assert_eq!(
        decode_hex(Cmd::Uuids, &uuids, &APV101),
        Packet::Uuids(Uuids {
            current: 4,
            bitmap_bits: 16374,
            ..Uuids::default()
        })
    );

    let verify_start = hex("000001f0 00000120");
    assert_eq!(
        decode_hex(Cmd::StateChgReq, &verify_start, &APV101),
        Packet::StateChgReq(StateReq {
            mask: 0x1f0,
            val: 0x120
        })
    );
    assert_eq!(
        decode_hex(Cmd::StateChgReply, &hex("ffffffff"), &APV101),
        Packet::StateChgReply(-1)
    );
}

#[test]
fn opaque_values_echo_verbatim() {
    // §4.4: barrier `01000000` is acked as `01000000 00000001`.
    let received = hex("01000000 00000000");
    let barrier = decode_hex(Cmd::Barrier, &received, &APV101);
    let Packet::Barrier { barrier: number } = barrier else {
        panic!("{barrier:?}");
    };
    let ack = Packet::BarrierAck {
        barrier: number,
        set_size: 1,
    };
    let bytes = round_trip(&ack, &APV101, 0);
    assert_eq!(&bytes[16..], &hex("01000000 00000001")[..]);

    // §5.6: P_OV_RESULT carries big-endian 4711.
    let result = hex("0000000000000000 0000000000001267 00001000 00000001");
    assert_eq!(
        decode_hex(Cmd::OvResult, &result, &APV101),
        Packet::Ack {
            kind: AckKind::OvResult,
            ack: BlockAck {
                sector: 0,
                block_id: ID_IN_SYNC,
                blksize: 4096,
                seq_num: 1
            }
        }
    );
    // A host-order pointer as block_id comes back byte for byte.
    let data = hex("0000000000000000 c0b18802000011ff 00000001 00000102");
    let packet = decode_hex(Cmd::Data, &data, &APV101);
    assert_eq!(&round_trip(&packet, &APV101, 0)[16..], &data[..]);
}

#[test]
fn request_pad_is_ignored_and_sent_as_zero() {
    let with_pad = hex("0000000000000800 ffffffffffffffff 00100000 deadbeef");
    let packet = decode_hex(Cmd::RsDataRequest, &with_pad, &APV101);
    assert_eq!(
        packet,
        Packet::BlockRequest {
            kind: RequestKind::RsDataRequest,
            req: BlockReq {
                sector: 0x800,
                block_id: ID_SYNCER,
                blksize: 1 << 20
            },
            digest: &[],
        }
    );
    let bytes = round_trip(&packet, &APV101, 0);
    assert_eq!(&bytes[16 + 20..], &[0, 0, 0, 0]);
}

#[test]
fn request_and_trim_sizes_are_checked() {
    for size in [0u32, 100, DRBD_MAX_BIO_SIZE + 512] {
        let mut req = hex("0000000000000000 ffffffffffffffff");
        req.extend(size.to_be_bytes());
        req.extend([0; 4]);
        assert_eq!(
            Packet::decode(Cmd::OvRequest, &req, &APV101),
            Err(WireError::BadRequestSize {
                cmd: Cmd::OvRequest,
                size
            })
        );
    }
    let trim = |size: u32| {
        let mut t = vec![0u8; 24];
        t.extend(size.to_be_bytes());
        Packet::decode(Cmd::Trim, &t, &APV101).map(|_| ())
    };
    assert_eq!(trim(128 << 20), Ok(()));
    assert!(matches!(
        trim((128 << 20) + 512),
        Err(WireError::TooLong { .. })
    ));
    assert!(matches!(trim(1000), Err(WireError::Misaligned { .. })));
}

#[test]
fn algorithm_names_must_be_terminated_utf8() {
    let mut params = vec![0u8; 148];
    params[4..68].fill(b'a');
    assert_eq!(
        Packet::decode(Cmd::SyncParam89, &params, &APV101),
        Err(WireError::UnterminatedString(Cmd::SyncParam89))
    );
    params[4..68].fill(0);
    params[4] = 0xff;
    assert_eq!(
        Packet::decode(Cmd::SyncParam89, &params, &APV101),
        Err(WireError::InvalidUtf8(Cmd::SyncParam89))
    );
    // Bytes after the NUL do not matter.
    params[4..9].copy_from_slice(b"md5\0x");
    let Ok(Packet::SyncParam(p)) = Packet::decode(Cmd::SyncParam89, &params, &APV101) else {
        panic!("decodes");
    };
    assert_eq!(p.verify_alg, "md5");

    let mut protocol = vec![0u8; 24];
    protocol.extend_from_slice(b"crc32c");
    assert_eq!(
        Packet::decode(Cmd::Protocol, &protocol, &APV101),
        Err(WireError::UnterminatedString(Cmd::Protocol))
    );
    // A peer may omit the string entirely.
    let Ok(Packet::Protocol(p)) = Packet::decode(Cmd::Protocol, &protocol[..24], &APV101) else {
        panic!("decodes");
    };
    assert_eq!(p.integrity_alg, "");
    // apv 88: the verify-alg is the rest of the packet.
    let mut old = hex("000000fa");
    old.extend_from_slice(b"sha1\0");
    assert_eq!(
        Packet::decode(Cmd::SyncParam, &old, &apv(88)),
        Ok(Packet::SyncParam(SyncParams {
            resync_rate: 250,
            verify_alg: "sha1",
            ..SyncParams::default()
        }))
    );
}

#[test]
fn sync_param_command_follows_the_version() {
    let params = Packet::SyncParam(SyncParams {
        resync_rate: 250,
        ..SyncParams::default()
    });
    assert_eq!(params.cmd_for(&apv(88)), Cmd::SyncParam);
    assert_eq!(params.cmd_for(&apv(94)), Cmd::SyncParam89);
    let bytes = round_trip(&params, &apv(87), 0);
    assert_eq!(bytes, hex("83740267 000a 0004 000000fa"));
    let bytes = round_trip(&params, &apv(89), 0);
    assert_eq!(bytes.len(), 8 + 132);
    assert_eq!(&bytes[4..8], &hex("0023 0084")[..]);
}

#[test]
fn decode_framed_fills_data_len() {
    let header = Header {
        cmd: Cmd::RsDataReply as u16,
        volume: 0,
        length: 24 + 4096,
    };
    let fixed = hex("0000000000000010 ffffffffffffffff 00000000 00000000");
    assert_eq!(
        Packet::decode_framed(&header, &fixed, &APV101),
        Ok(Packet::Data {
            kind: DataKind::RsDataReply,
            hdr: DataHeader {
                sector: 16,
                block_id: ID_SYNCER,
                seq_num: 0,
                dp_flags: 0
            },
            digest: &[],
            data_len: 4096,
        })
    );
    // The plain decoder cannot know it.
    assert!(matches!(
        Packet::decode(Cmd::RsDataReply, &fixed, &APV101),
        Ok(Packet::Data { data_len: 0, .. })
    ));
    assert_eq!(
        Packet::decode_framed(&header, &fixed[..20], &APV101),
        Err(WireError::BufferLength {
            expected: 24,
            got: 20
        })
    );
    assert_eq!(
        Packet::decode(Cmd::State, &[0; 8], &APV101),
        Err(WireError::TooLong {
            cmd: Cmd::State,
            max: 4,
            received: 8
        })
    );
}

#[test]
fn unsendable_content_is_refused() {
    let mut out = [0u8; 4200];
    let long = "a".repeat(64);
    let cases: Vec<(Packet<'_>, Agreed)> = vec![
        (
            Packet::Protocol(ProtocolSettings {
                integrity_alg: &long,
                ..ProtocolSettings::default()
            }),
            APV101,
        ),
        (
            Packet::Protocol(ProtocolSettings {
                integrity_alg: "a\0b",
                ..ProtocolSettings::default()
            }),
            APV101,
        ),
        (
            Packet::Protocol(ProtocolSettings {
                integrity_alg: "md5",
                ..ProtocolSettings::default()
            }),
            apv(86),
        ),
        (
            Packet::SyncParam(SyncParams {
                csums_alg: "md5",
                ..SyncParams::default()
            }),
            apv(88),
        ),
        (Packet::SyncParam(SyncParams::default()), APV101),
        (Packet::Sizes(Sizes::default()), APV101),
        (
            Packet::Data {
                kind: DataKind::Data,
                hdr: DataHeader::default(),
                digest: &[1, 2, 3, 4],
                data_len: 512,
            },
            APV101,
        ),
        (
            Packet::Data {
                kind: DataKind::Data,
                hdr: DataHeader::default(),
                digest: &[],
                data_len: 100,
            },
            APV101,
        ),
        (
            Packet::BlockRequest {
                kind: RequestKind::RsDataRequest,
                req: BlockReq {
                    sector: 0,
                    block_id: ID_SYNCER,
                    blksize: 4096,
                },
                digest: &[0; 16],
            },
            APV101,
        ),
        (
            Packet::BlockRequest {
                kind: RequestKind::DataRequest,
                req: BlockReq::default(),
                digest: &[],
            },
            APV101,
        ),
        (
            Packet::Trim {
                kind: TrimKind::Zeroes,
                hdr: DataHeader::default(),
                size: 513,
            },
            APV101,
        ),
        (Packet::AuthChallenge(&[0; 32]), APV101),
        (Packet::Bitmap(&[0; 4088]), APV101),
        (Packet::CompressedBitmap(&[0x82]), APV101),
    ];
    for (packet, ctx) in cases {
        assert!(
            packet.encode(&ctx, 0, &mut out).is_err(),
            "{packet:?} at {ctx:?}"
        );
    }
    // Too small an output buffer is an error, not a panic.
    let uuids = Packet::Uuids(Uuids::default());
    assert_eq!(
        uuids.encode(&APV101, 0, &mut out[..63]),
        Err(WireError::BufferTooSmall {
            needed: 64,
            available: 63
        })
    );
}

#[test]
fn every_family_round_trips_at_every_version() {
    let digest = [0x5a; 64];
    let bytes: Vec<u8> = (0..=255).collect();
    for version in PRO_VERSION_MIN..=PRO_VERSION_MAX {
        for features in [0, PRO_FEATURES] {
            for integrity in [0usize, 16] {
                let ctx = Agreed {
                    version,
                    features,
                    integrity_digest_len: integrity as u32,
                };
                let hdr = DataHeader {
                    sector: 8,
                    block_id: 0x1122_3344_5566_7788,
                    seq_num: 3,
                    dp_flags: DP_SEND_WRITE_ACK,
                };
                let mut packets = vec![
                    Packet::InitialData,
                    Packet::InitialMeta,
                    Packet::ConnectionFeatures(Features::new(features)),
                    Packet::AuthChallenge(&bytes[..64]),
                    Packet::AuthResponse(&bytes[..32]),
                    Packet::Protocol(ProtocolSettings {
                        protocol: 3,
                        two_primaries: true,
                        integrity_alg: if version >= 87 { "sha1" } else { "" },
                        ..ProtocolSettings::default()
                    }),
                    Packet::ProtocolUpdate(ProtocolSettings::default()),
                    Packet::SyncParam(SyncParams {
                        resync_rate: 250,
                        verify_alg: if version >= 88 { "md5" } else { "" },
                        csums_alg: if version >= 89 { "crc32c" } else { "" },
                        controller: (version >= 95).then_some(Controller {
                            plan_ahead: 20,
                            delay_target: 10,
                            fill_target: 100,
                            max_rate: 102400,
                        }),
                    }),
                    Packet::Sizes(Sizes {
                        d_size: 1 << 30,
                        queue_limits: (features & DRBD_FF_WSAME != 0)
                            .then_some(QueueLimits::default()),
                        ..Sizes::default()
                    }),
                    Packet::Uuids(Uuids::from_array([1, 2, 3, 4, 5, 6])),
                    Packet::State(0x110a6),
                    Packet::StateChgReq(StateReq { mask: 3, val: 1 }),
                    Packet::ConnStChgReq(StateReq { mask: 3, val: 1 }),
                    Packet::StateChgReply(-10),
                    Packet::ConnStChgReply(1),
                    Packet::SyncUuid(u64::MAX - 1),
                    Packet::Barrier { barrier: 7 },
                    Packet::BarrierAck {
                        barrier: 7,
                        set_size: 9,
                    },
                    Packet::Bitmap(&bytes[..64]),
                    Packet::CompressedBitmap(&bytes[..9]),
                    Packet::Ping,
                    Packet::PingAck,
                    Packet::UnplugRemote,
                    Packet::DelayProbe {
                        seq_num: 1,
                        offset: 2,
                    },
                ];
                for &kind in DataKind::ALL {
                    packets.push(Packet::Data {
                        kind,
                        hdr,
                        digest: &digest[..integrity],
                        data_len: 4096,
                    });
                }
                for &kind in TrimKind::ALL {
                    packets.push(Packet::Trim {
                        kind,
                        hdr,
                        size: 1 << 20,
                    });
                }
                for &kind in AckKind::ALL {
                    packets.push(Packet::Ack {
                        kind,
                        ack: BlockAck {
                            sector: 1,
                            block_id: 2,
                            blksize: 512,
                            seq_num: 4,
                        },
                    });
                }
                for &kind in RequestKind::ALL {
                    packets.push(Packet::BlockRequest {
                        kind,
                        req: BlockReq {
                            sector: 9,
                            block_id: ID_SYNCER,
                            blksize: 4096,
                        },
                        digest: if kind.has_digest() {
                            &digest[..20]
                        } else {
                            &[]
                        },
                    });
                }
                for &kind in DescKind::ALL {
                    packets.push(Packet::BlockDesc {
                        kind,
                        sector: 1,
                        blksize: 4096,
                    });
                }
                for packet in &packets {
                    let volume = if ctx.version >= 100 && !packet.cmd().is_pre_handshake() {
                        3
                    } else {
                        0
                    };
                    round_trip(packet, &ctx, volume);
                }
            }
        }
    }
}

#[test]
fn errors_read_like_drbds_messages() {
    let cases = [
        (
            WireError::UnexpectedSize {
                cmd: Cmd::WriteAck,
                expected: 24,
                received: 20,
            },
            "WriteAck: unexpected packet size, expected:24 received:20",
        ),
        (WireError::HeaderPadNotZero, "Header padding is not zero"),
        (
            WireError::UnknownCommand(0x2e),
            "Unexpected packet Unknown (0x002e)",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn feature_names_as_drbd_logs_them() {
    // §1.3: "Feature flags enabled on protocol level: 0xf TRIM THIN_RESYNC WRITE_SAME WRITE_ZEROES."
    let line = std::format!("0x{:x}{}.", 0xf, super::FeatureNames(0xf));
    assert_eq!(line, "0xf TRIM THIN_RESYNC WRITE_SAME WRITE_ZEROES.");
    assert_eq!(
        std::format!("{}", super::FeatureNames(0x5)),
        " TRIM WRITE_SAME"
    );
    assert_eq!(std::format!("{}", super::FeatureNames(0)), "");
}
