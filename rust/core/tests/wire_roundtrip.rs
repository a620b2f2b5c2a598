// SPDX-License-Identifier: GPL-2.0
//! Property: every packet the codec agrees to send comes back unchanged through the receive
//! path (header, layout, fixed part), for every protocol version 86..=101, feature set and
//! integrity digest size; and the feature handshake is symmetric.
//!
//! Case counts are modest (PROPTEST_CASES overrides them) so the suite stays fast.

use drbd_core::wire::*;
use proptest::prelude::*;

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_cases),
        ..ProptestConfig::default()
    }
}

fn arb_ctx() -> impl Strategy<Value = Agreed> {
    (
        PRO_VERSION_MIN..=PRO_VERSION_MAX,
        0u32..16,
        prop_oneof![Just(0u32), 1u32..=MAX_DIGEST_SIZE as u32],
    )
        .prop_map(|(version, features, integrity_digest_len)| Agreed {
            version,
            features,
            integrity_digest_len,
        })
}

/// Algorithm names: typical ASCII ones and arbitrary printable Unicode.
fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9()_-]{0,70}", "\\PC{0,20}"]
}

/// Everything a packet may borrow or be built from; [`build`] turns it into a packet that is
/// valid for a given context.
#[derive(Debug, Clone)]
struct Spec {
    family: usize,
    kind: usize,
    nums: [u64; 6],
    bytes: Vec<u8>,
    names: [String; 2],
    flag: bool,
    volume: u16,
}

/// Number of packet families [`build`] knows.
const FAMILIES: usize = 29;

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        0..FAMILIES,
        0usize..11,
        any::<[u64; 6]>(),
        any::<u64>().prop_map(pseudo_random_bytes),
        [arb_name(), arb_name()],
        any::<bool>(),
        any::<u16>(),
    )
        .prop_map(|(family, kind, nums, bytes, names, flag, volume)| Spec {
            family,
            kind,
            nums,
            bytes,
            names,
            flag,
            volume,
        })
}

/// A buffer to borrow payloads from, cheaper to make than 4 KiB of strategy output.
fn pseudo_random_bytes(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..MAX_FIXED_PAYLOAD)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The longest prefix of `name` that fits an algorithm field with its NUL.
fn fit(name: &str) -> &str {
    let mut end = name.len().min(ALG_NAME_MAX - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

fn pick<T: Copy>(all: &[T], i: usize) -> T {
    all[i % all.len()]
}

fn build<'a>(s: &'a Spec, ctx: &Agreed) -> Packet<'a> {
    let n = &s.nums;
    let low = |i: usize| n[i] as u32;
    let high = |i: usize| (n[i] >> 32) as u32;
    let upto = |i: usize, max: usize| (n[i] % (max as u64 + 1)) as usize;
    let hdr = DataHeader {
        sector: n[0],
        block_id: n[1],
        seq_num: low(2),
        dp_flags: high(2),
    };
    let settings = ProtocolSettings {
        protocol: low(0),
        after_sb_0p: high(0),
        after_sb_1p: low(1),
        after_sb_2p: high(1),
        conn_flags: low(2),
        two_primaries: s.flag,
        integrity_alg: if ctx.version >= 87 {
            fit(&s.names[0])
        } else {
            ""
        },
    };
    let bitmap_max = ctx.bitmap_payload_max();
    // §2: below apv 95 only h80 headers (16-bit length) exist; senders keep to 32 KiB.
    let max_data = if ctx.version < 95 {
        MAX_SIZE_H80_PACKET as usize
    } else {
        DRBD_MAX_BIO_SIZE as usize
    };
    match s.family {
        0 => Packet::InitialData,
        1 => Packet::InitialMeta,
        2 => Packet::ConnectionFeatures(Features {
            protocol_min: low(0),
            feature_flags: high(0),
            protocol_max: low(1),
        }),
        3 => Packet::AuthChallenge(&s.bytes[..CHALLENGE_LEN + upto(0, CHALLENGE_LEN)]),
        4 => Packet::AuthResponse(&s.bytes[..upto(0, MAX_DIGEST_SIZE)]),
        5 => Packet::Protocol(settings),
        6 => Packet::ProtocolUpdate(settings),
        7 => Packet::SyncParam(SyncParams {
            resync_rate: low(0),
            verify_alg: if ctx.version >= 88 {
                fit(&s.names[0])
            } else {
                ""
            },
            csums_alg: if ctx.version >= 89 {
                fit(&s.names[1])
            } else {
                ""
            },
            controller: (ctx.version >= 95).then_some(Controller {
                plan_ahead: low(1),
                delay_target: high(1),
                fill_target: low(2),
                max_rate: high(2),
            }),
        }),
        8 => Packet::Sizes(Sizes {
            d_size: n[0],
            u_size: n[1],
            c_size: n[2],
            max_bio_size: low(3),
            queue_order_type: high(3) as u16,
            dds_flags: (high(3) >> 16) as u16,
            queue_limits: ctx.has_features(DRBD_FF_WSAME).then_some(QueueLimits {
                physical_block_size: low(4),
                logical_block_size: high(4),
                alignment_offset: low(5),
                io_min: high(5),
                io_opt: low(0),
                discard_enabled: n[1] as u8,
                discard_zeroes_data: (n[1] >> 8) as u8,
                write_same_capable: (n[1] >> 16) as u8,
            }),
        }),
        9 => Packet::Uuids(Uuids::from_array(*n)),
        10 => Packet::State(low(0)),
        11 => Packet::StateChgReq(StateReq {
            mask: low(0),
            val: high(0),
        }),
        12 => Packet::ConnStChgReq(StateReq {
            mask: low(0),
            val: high(0),
        }),
        13 => Packet::StateChgReply(low(0) as i32),
        14 => Packet::ConnStChgReply(low(0) as i32),
        15 => Packet::SyncUuid(n[0]),
        16 => Packet::Data {
            kind: pick(DataKind::ALL, s.kind),
            hdr,
            digest: &s.bytes[..ctx.integrity_digest_len as usize],
            data_len: upto(3, max_data / 512) as u32 * 512,
        },
        17 => Packet::Trim {
            kind: pick(TrimKind::ALL, s.kind),
            hdr,
            size: upto(3, DRBD_MAX_BBIO_SECTORS as usize) as u32 * 512,
        },
        18 => Packet::Ack {
            kind: pick(AckKind::ALL, s.kind),
            ack: BlockAck {
                sector: n[0],
                block_id: n[1],
                blksize: low(2),
                seq_num: high(2),
            },
        },
        19 => {
            let kind = pick(RequestKind::ALL, s.kind);
            let sectors = upto(2, (DRBD_MAX_BIO_SIZE / 512) as usize - 1) as u32 + 1;
            Packet::BlockRequest {
                kind,
                req: BlockReq {
                    sector: n[0],
                    block_id: n[1],
                    blksize: sectors * 512,
                },
                digest: if kind.has_digest() {
                    &s.bytes[..upto(3, MAX_DIGEST_SIZE)]
                } else {
                    &[]
                },
            }
        }
        20 => Packet::BlockDesc {
            kind: pick(DescKind::ALL, s.kind),
            sector: n[0],
            blksize: low(1),
        },
        21 => Packet::Barrier { barrier: low(0) },
        22 => Packet::BarrierAck {
            barrier: low(0),
            set_size: high(0),
        },
        23 => Packet::Bitmap(&s.bytes[..8 * upto(0, bitmap_max / 8)]),
        24 => Packet::CompressedBitmap(&s.bytes[..2 + upto(0, bitmap_max - 2)]),
        25 => Packet::Ping,
        26 => Packet::PingAck,
        27 => Packet::UnplugRemote,
        _ => Packet::DelayProbe {
            seq_num: low(0),
            offset: high(0),
        },
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn every_sendable_packet_comes_back_unchanged(spec in arb_spec(), ctx in arb_ctx()) {
        let packet = build(&spec, &ctx);
        let cmd = packet.cmd_for(&ctx);
        let (header_ctx, volume) = if cmd.is_pre_handshake() {
            (Agreed::PRE_HANDSHAKE, 0)
        } else if ctx.version >= 100 {
            (ctx, spec.volume)
        } else {
            (ctx, 0)
        };
        let len = packet.encoded_len(&ctx);
        let mut out = vec![0u8; len + 1];
        prop_assert_eq!(
            packet.encode(&ctx, volume, &mut out[..len - 1]),
            Err(WireError::BufferTooSmall { needed: len, available: len - 1 })
        );
        prop_assert_eq!(packet.encode(&ctx, volume, &mut out), Ok(len));

        let header_len = header_ctx.header_len();
        let header = decode_header(&out[..header_len], &header_ctx).unwrap();
        prop_assert_eq!(header.command(), Ok(cmd));
        prop_assert_eq!(header.volume, volume);
        let framing = layout(cmd, header.length, &ctx).unwrap();
        prop_assert!(framing.fixed <= MAX_FIXED_PAYLOAD);
        prop_assert_eq!(header_len + framing.fixed, len);
        let data_len = match packet {
            Packet::Data { data_len, .. } => data_len as usize,
            _ => 0,
        };
        prop_assert_eq!(framing.data, data_len);
        let back = Packet::decode_framed(&header, &out[header_len..len], &ctx).unwrap();
        prop_assert_eq!(back, packet);
    }

    #[test]
    fn the_feature_handshake_is_symmetric(
        a in (0u32..120, 0u32..30, any::<u32>()),
        b in (0u32..120, 0u32..30, any::<u32>()),
    ) {
        let features = |(min, span, flags): (u32, u32, u32)| Features {
            protocol_min: min,
            feature_flags: flags,
            protocol_max: min + span,
        };
        let (a, b) = (features(a), features(b));
        let ab = agree(&a, &b);
        let ba = agree(&b, &a);
        prop_assert_eq!(ab.is_ok(), ba.is_ok());
        if let (Ok(agreed), Ok(other)) = (ab, ba) {
            prop_assert_eq!(agreed, other);
            for side in [a, b] {
                prop_assert!((side.protocol_min..=side.protocol_max).contains(&agreed.version));
            }
            prop_assert_eq!(agreed.features, a.feature_flags & b.feature_flags);
        }
    }
}
