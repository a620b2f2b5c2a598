// SPDX-License-Identifier: GPL-2.0
//! Fuzz-style properties over the wire decoders (beside `fuzz_decoders.rs`): random bytes,
//! random headers over random payloads, and mutated packets of the reference captures go
//! through the receive path a kernel receiver runs (header → layout → fixed part → decode).
//! Bytes in → no panic; `fixed` never above 4 KiB and `data` never above 1 MiB whatever the
//! length field says; and whatever decodes re-encodes to something that decodes the same.
//!
//! Case counts are modest (PROPTEST_CASES overrides them) so the suite stays fast.

mod support;

use std::sync::OnceLock;

use drbd_core::wire::*;
use proptest::prelude::*;
use support::pcap;

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_cases),
        ..ProptestConfig::default()
    }
}

/// A decoded packet is sendable (except lengths only an h95 header carries, which our sender
/// uses from apv 95 only) and comes back from its encoding unchanged.
fn check_canonical(packet: &Packet<'_>, ctx: &Agreed, volume: u16) {
    let cmd = packet.cmd_for(ctx);
    // h80 has no volume field: the three pre-handshake packets always go out as volume 0.
    let (header_ctx, volume) = if cmd.is_pre_handshake() {
        (Agreed::PRE_HANDSHAKE, 0)
    } else {
        (*ctx, volume)
    };
    let mut out = vec![0u8; packet.encoded_len(ctx)];
    match packet.encode(ctx, volume, &mut out) {
        Ok(n) => assert_eq!(n, out.len()),
        Err(WireError::LengthNotEncodable { .. }) if ctx.version < 95 => return,
        Err(e) => panic!("{packet:?} decoded but does not encode: {e}"),
    }
    let header_len = header_ctx.header_len();
    let header = decode_header(&out[..header_len], &header_ctx).expect("own header");
    let back = Packet::decode_framed(&header, &out[header_len..], ctx).expect("own packet");
    assert_eq!(&back, packet);
}

/// Receive packets from `bytes` until the input ends or is refused; returns how many decoded.
fn receive_all(bytes: &[u8], ctx: &Agreed) -> usize {
    let mut pos = 0;
    let mut decoded = 0;
    loop {
        let header_len = ctx.header_len();
        let Some(header_bytes) = bytes.get(pos..pos + header_len) else {
            return decoded;
        };
        let Ok(header) = decode_header(header_bytes, ctx) else {
            return decoded;
        };
        let Ok(cmd) = header.command() else {
            return decoded;
        };
        let Ok(framing) = layout(cmd, header.length, ctx) else {
            return decoded;
        };
        assert!(framing.fixed <= MAX_FIXED_PAYLOAD, "{cmd} {framing:?}");
        assert!(
            framing.data <= DRBD_MAX_BIO_SIZE as usize,
            "{cmd} {framing:?}"
        );
        assert_eq!(framing.total(), header.length as usize);
        let start = pos + header_len;
        let Some(fixed) = bytes.get(start..start + framing.fixed) else {
            return decoded;
        };
        let Ok(packet) = Packet::decode_framed(&header, fixed, ctx) else {
            return decoded;
        };
        if let Packet::Data { data_len, .. } = packet {
            assert_eq!(data_len as usize, framing.data);
        }
        check_canonical(&packet, ctx, header.volume);
        decoded += 1;
        pos = start + framing.total();
    }
}

/// Contexts including ones no handshake produces (odd versions, absurd digest sizes).
fn arb_any_ctx() -> impl Strategy<Value = Agreed> {
    (
        prop_oneof![3 => 80u32..=101, 1 => any::<u32>()],
        prop_oneof![0u32..16, any::<u32>()],
        prop_oneof![Just(0u32), 1u32..=64, any::<u32>()],
    )
        .prop_map(|(version, features, integrity_digest_len)| Agreed {
            version,
            features,
            integrity_digest_len,
        })
}

fn arb_cmd_number() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => proptest::sample::select(Cmd::ALL).prop_map(Cmd::to_u16),
        1 => any::<u16>(),
    ]
}

/// Payload sizes worth trying: the fixed parts of the commands, and a few data sizes.
const SIZES: [usize; 18] = [
    0,
    4,
    5,
    8,
    16,
    24,
    25,
    28,
    32,
    40,
    44,
    48,
    56,
    64,
    72,
    132,
    148,
    24 + 512,
];

/// One packet-shaped chunk: a header of the context's size (sometimes a wrong kind, magic or
/// pad) and a random payload, usually of a size `layout` accepts for the command, with a
/// length field that usually matches it.
fn arb_chunk(ctx: Agreed) -> impl Strategy<Value = Vec<u8>> {
    (
        arb_cmd_number(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 600),
        (any::<prop::sample::Index>(), 0usize..600, any::<bool>()),
        prop_oneof![3 => Just(None), 1 => any::<u32>().prop_map(Some)],
        prop_oneof![6 => Just(0u32), 1 => any::<u32>()],
        0u8..8,
    )
        .prop_map(
            move |(cmd, volume, mut payload, size, length, pad, style)| {
                let (pick, random_size, prefer_valid) = size;
                let valid: Vec<usize> = Cmd::from_u16(cmd)
                    .map(|c| {
                        SIZES
                            .iter()
                            .copied()
                            .filter(|&n| layout(c, n as u32, &ctx).is_ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let size = if prefer_valid && !valid.is_empty() {
                    valid[pick.index(valid.len())]
                } else {
                    random_size
                };
                payload.truncate(size);
                let length = length.unwrap_or(payload.len() as u32);
                let mut out = Vec::new();
                if ctx.header_len() == 16 {
                    let magic = if style == 0 {
                        DRBD_MAGIC
                    } else {
                        DRBD_MAGIC_100
                    };
                    out.extend(magic.to_be_bytes());
                    out.extend(volume.to_be_bytes());
                    out.extend(cmd.to_be_bytes());
                    out.extend(length.to_be_bytes());
                    out.extend(pad.to_be_bytes());
                } else if style < 4 {
                    out.extend(DRBD_MAGIC.to_be_bytes());
                    out.extend(cmd.to_be_bytes());
                    out.extend((length as u16).to_be_bytes());
                } else {
                    out.extend(DRBD_MAGIC_BIG.to_be_bytes());
                    out.extend(cmd.to_be_bytes());
                    out.extend(length.to_be_bytes());
                }
                out.extend(payload);
                out
            },
        )
}

fn arb_stream() -> impl Strategy<Value = (Agreed, Vec<u8>)> {
    arb_any_ctx().prop_flat_map(|ctx| {
        (
            Just(ctx),
            proptest::collection::vec(arb_chunk(ctx), 1..4).prop_map(|c| c.concat()),
        )
    })
}

/// Up to four packets of every command in the captures (header, fixed part and the start of
/// any data), with the context they were received in.
fn captured_samples() -> &'static [(Agreed, Vec<u8>)] {
    static SAMPLES: OnceLock<Vec<(Agreed, Vec<u8>)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = pcap::testdata_dir()
            .expect("testdata/drbd84-peer (the repository carries it; DRBD_RS_TESTDATA overrides)");
        let agreed = agree(&Features::new(PRO_FEATURES), &Features::new(PRO_FEATURES))
            .expect("6.12 agrees with itself");
        let mut samples = Vec::new();
        let mut per_cmd = std::collections::HashMap::<u16, usize>::new();
        for capture in [
            "auth-csums-verify.node-a.pcap.xz",
            "splitbrain.node-a.pcap.xz",
        ] {
            let frames = pcap::read_pcap_xz(&dir.join(capture));
            for conn in pcap::tcp_connections(&frames) {
                for stream in [&conn.client_to_server, &conn.server_to_client] {
                    let mut ctx = if stream.starts_with(&DRBD_MAGIC.to_be_bytes()) {
                        Agreed::PRE_HANDSHAKE
                    } else {
                        agreed
                    };
                    let mut pos = 0;
                    while pos < stream.len() {
                        let header_len = ctx.header_len();
                        let header = decode_header(&stream[pos..pos + header_len], &ctx).unwrap();
                        let cmd = header.command().unwrap();
                        let framing = layout(cmd, header.length, &ctx).unwrap();
                        let seen = per_cmd.entry(header.cmd).or_default();
                        if *seen < 4 {
                            *seen += 1;
                            let keep = header_len + framing.fixed + framing.data.min(64);
                            samples.push((ctx, stream[pos..pos + keep].to_vec()));
                        }
                        if matches!(cmd, Cmd::ConnectionFeatures | Cmd::InitialMeta) {
                            ctx = agreed;
                        }
                        pos += header_len + framing.total();
                    }
                }
            }
        }
        samples
    })
}

#[test]
fn captured_samples_decode_unmutated() {
    let samples = captured_samples();
    for (ctx, bytes) in samples {
        // The fixed part is all a sample must hold (data is cut to its first 64 bytes).
        assert_eq!(receive_all(bytes, ctx), 1);
    }
    if !samples.is_empty() {
        let commands: std::collections::HashSet<u16> = samples
            .iter()
            .map(|(ctx, b)| decode_header(&b[..ctx.header_len()], ctx).unwrap().cmd)
            .collect();
        assert!(commands.len() >= 25, "{} commands sampled", commands.len());
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn headers_never_panic(ctx in arb_any_ctx(), bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(header) = decode_header(&bytes, &ctx) {
            prop_assert_eq!(bytes.len(), ctx.header_len());
            if ctx.header_len() == 8 {
                prop_assert_eq!(header.volume, 0);
            }
        }
    }

    #[test]
    fn layout_bounds_hold_for_any_length(cmd in arb_cmd_number(), length in prop_oneof![0u32..5000, any::<u32>()], ctx in arb_any_ctx()) {
        match Cmd::from_u16(cmd) {
            None => prop_assert_eq!(
                (Header { cmd, volume: 0, length }).command(),
                Err(WireError::UnknownCommand(cmd))
            ),
            Some(cmd) => {
                if let Ok(framing) = layout(cmd, length, &ctx) {
                    prop_assert!(framing.fixed <= MAX_FIXED_PAYLOAD);
                    prop_assert!(framing.data <= DRBD_MAX_BIO_SIZE as usize);
                    prop_assert_eq!(framing.total(), length as usize);
                    prop_assert!(framing.data == 0 || DataKind::from_cmd(cmd).is_some());
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(ctx in arb_any_ctx(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        receive_all(&bytes, &ctx);
        // The fixed-part decoder alone, for every command, on any bytes.
        for &cmd in Cmd::ALL {
            if let Ok(packet) = Packet::decode(cmd, &bytes, &ctx) {
                check_canonical(&packet, &ctx, 0);
            }
        }
    }

    #[test]
    fn random_packet_streams_never_panic((ctx, bytes) in arb_stream()) {
        receive_all(&bytes, &ctx);
    }

    #[test]
    fn mutated_captured_packets_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        length in prop_oneof![3 => Just(None), 1 => any::<u32>().prop_map(Some)],
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let samples = captured_samples();
        if samples.is_empty() {
            return Ok(());
        }
        let (ctx, original) = &samples[pick.index(samples.len())];
        let mut bytes = original.clone();
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        if let Some(length) = length {
            // The length field: bytes 8..12 of h100, 4..8 of h95, 6..8 of h80.
            if ctx.header_len() == 16 {
                bytes[8..12].copy_from_slice(&length.to_be_bytes());
            } else {
                bytes[6..8].copy_from_slice(&(length as u16).to_be_bytes());
            }
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        receive_all(&bytes, ctx);
    }
}
