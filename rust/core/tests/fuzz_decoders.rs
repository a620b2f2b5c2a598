//! Fuzz-style properties over the decoders of on-disk and wire input that the in-module tests
//! do not reach with random bytes alone: structured netlink messages (valid framing, random
//! attribute trees) fed to every decoder of the family, every typed set decoded from any
//! payload, bitmap pages at any index, AL transactions from any bytes, raw state words, and
//! superblock blocks through every meta-data check. Bytes in → no panic, and every index or
//! length taken from the input stays checked.
//!
//! Case counts are modest (PROPTEST_CASES overrides them) so the suite stays fast.

use drbd_core::activity_log::{
    self, AlTransaction, AL_CONTEXT_PER_TRANSACTION, AL_EXTENTS_MAX, AL_TRANSACTION_SIZE,
    AL_UPDATES_PER_TRANSACTION,
};
use drbd_core::bitmap::{words_for_bits, Bitmap, BM_PAGE_SIZE};
use drbd_core::genl::addr::SockAddr;
use drbd_core::genl::commands::{self, Command};
use drbd_core::genl::msg::{Frames, Message};
use drbd_core::genl::nla::{Attrs, NLA_F_NESTED};
use drbd_core::genl::request::{error_reply, validate_request};
use drbd_core::genl::ret_code::{ReplyCode, RetCode};
use drbd_core::genl::sets::ALL_SETS;
use drbd_core::genl::typed::*;
use drbd_core::genl::validate::{validate_set, ValidateOpts};
use drbd_core::meta_data::{
    attach_check, is_v07_superblock, v07_superblock_sector, MdLayout, MdMagic, Superblock,
};
use drbd_core::state::{
    convert_peer_state, set_st_err_str, ConnState, DiskState, Role, SsCode, State, StateChange,
    StateError,
};
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

// ---- netlink ---------------------------------------------------------------------------------

/// A netlink attribute tree: leaves with random payloads, nested nodes with children. Types
/// are mostly small (the ids the sets use), sometimes with the nested or mandatory flag.
#[derive(Debug, Clone)]
enum Node {
    Leaf(u16, Vec<u8>),
    Nested(u16, Vec<Node>),
    /// A header whose length field lies (too short, too long, or past the buffer).
    Bad(u16, u16, Vec<u8>),
}

fn arb_type() -> impl Strategy<Value = u16> {
    prop_oneof![
        0u16..40,
        (0u16..40).prop_map(|t| t | 0x4000),
        (0u16..40).prop_map(|t| t | NLA_F_NESTED),
        any::<u16>(),
    ]
}

fn arb_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![0]),
        Just(vec![1]),
        any::<[u8; 4]>().prop_map(|b| b.to_vec()),
        any::<[u8; 8]>().prop_map(|b| b.to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
        // A NUL-terminated string.
        "[a-z/]{0,20}".prop_map(|s| {
            let mut v = s.into_bytes();
            v.push(0);
            v
        }),
    ]
}

fn arb_tree() -> impl Strategy<Value = Vec<Node>> {
    let leaf = prop_oneof![
        4 => (arb_type(), arb_payload()).prop_map(|(t, p)| Node::Leaf(t, p)),
        1 => (arb_type(), any::<u16>(), arb_payload()).prop_map(|(t, l, p)| Node::Bad(t, l, p)),
    ];
    let node = leaf.prop_recursive(3, 40, 8, |inner| {
        (arb_type(), prop::collection::vec(inner, 0..8))
            .prop_map(|(t, c)| Node::Nested(t | NLA_F_NESTED, c))
    });
    prop::collection::vec(node, 0..8)
}

fn encode_nodes(nodes: &[Node], out: &mut Vec<u8>) {
    for n in nodes {
        let start = out.len();
        out.extend([0u8; 4]);
        let (ty, len) = match n {
            Node::Leaf(t, p) => {
                out.extend(p);
                (*t, None)
            }
            Node::Nested(t, c) => {
                encode_nodes(c, out);
                (*t, None)
            }
            Node::Bad(t, l, p) => {
                out.extend(p);
                (*t, Some(*l))
            }
        };
        let len = len.unwrap_or((out.len() - start).min(u16::MAX as usize) as u16);
        out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        out[start + 2..start + 4].copy_from_slice(&ty.to_ne_bytes());
        out.resize(out.len().next_multiple_of(4), 0);
    }
}

/// A drbd generic-netlink message around `attrs`, with a (usually) right total length.
fn message(family: u16, cmd: u8, flags: u16, minor: u32, hdr_flags: u32, attrs: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let len = (16 + 4 + 8 + attrs.len()) as u32;
    v.extend(len.to_ne_bytes());
    v.extend(family.to_ne_bytes());
    v.extend(flags.to_ne_bytes());
    v.extend(1u32.to_ne_bytes());
    v.extend(2u32.to_ne_bytes());
    v.extend([cmd, 1, 0, 0]);
    v.extend(minor.to_ne_bytes());
    v.extend(hdr_flags.to_ne_bytes());
    v.extend(attrs);
    v
}

/// Every typed view of every set, from any payload and with every option set.
fn decode_every_set(payload: &[u8]) {
    for opts in [
        ValidateOpts::CREATE,
        ValidateOpts::CHANGE,
        ValidateOpts::LENIENT,
    ] {
        for set in ALL_SETS {
            if let Ok(view) = validate_set(set, payload, &opts) {
                let _ = view.fields().count();
            }
        }
        let _ = CfgReply::decode(payload, &opts);
        let _ = CfgContext::decode(payload, &opts).map(|c| {
            c.ctx_my_addr.map(SockAddr::decode);
            c.ctx_peer_addr.map(SockAddr::decode);
        });
        let _ = DiskConf::decode(payload, &opts);
        let _ = ResOpts::decode(payload, &opts);
        let _ = NetConf::decode(payload, &opts);
        let _ = SetRoleParms::decode(payload, &opts);
        let _ = ResizeParms::decode(payload, &opts);
        let _ = StateInfo::decode(payload, &opts);
        let _ = StartOvParms::decode(payload, &opts);
        let _ = NewCUuidParms::decode(payload, &opts);
        let _ = TimeoutParms::decode(payload, &opts);
        let _ = DisconnectParms::decode(payload, &opts);
        let _ = DetachParms::decode(payload, &opts);
        let _ = ResourceInfo::decode(payload, &opts);
        let _ = DeviceInfo::decode(payload, &opts);
        let _ = ConnectionInfo::decode(payload, &opts);
        let _ = PeerDeviceInfo::decode(payload, &opts);
        let _ = ResourceStatistics::decode(payload, &opts);
        let _ = DeviceStatistics::decode(payload, &opts);
        let _ = ConnectionStatistics::decode(payload, &opts);
        let _ = PeerDeviceStatistics::decode(payload, &opts);
        let _ = NotificationHeader::decode(payload, &opts);
        let _ = HelperInfo::decode(payload, &opts);
    }
}

/// Walk every attribute (recursively), reading it as every type.
fn walk(attrs: Attrs<'_>, depth: u32) {
    for a in attrs.flatten() {
        let _ = (
            a.id(),
            a.is_mandatory(),
            a.get_u8(),
            a.get_flag(),
            a.get_u32(),
            a.get_s32(),
            a.get_u64(),
            a.get_nul_str(),
        );
        let _ = SockAddr::decode(a.payload());
        if depth < 4 {
            walk(a.nested(), depth + 1);
        }
    }
}

fn every_decoder(bytes: &[u8]) {
    for check in [true, false] {
        match validate_request(bytes, check) {
            Ok(req) => {
                let _ = (req.minor(), req.set_defaults());
                let _ = req.get::<CfgContext>();
                let _ = req.get::<DiskConf>();
                let _ = req.get::<NetConf>();
                let _ = req.get::<ResOpts>();
                let _ = req.get::<ResizeParms>();
                let _ = req.get::<SetRoleParms>();
                let _ = req.get::<StateInfo>();
                let _ = req.get::<DetachParms>();
                let _ = req.get::<DisconnectParms>();
                let _ = req.get::<NewCUuidParms>();
                let _ = req.get::<StartOvParms>();
                let _ = req.get::<TimeoutParms>();
            }
            Err(e) => {
                let _ = (e.outcome(), error_reply(&e));
            }
        }
    }
    if let Ok(m) = Message::parse(bytes) {
        let _ = (m.cmd(), m.minor(), m.reply_code(), m.info_text());
        walk(Attrs::new(m.attr_bytes()), 0);
        for a in m.attrs() {
            decode_every_set(a.payload());
        }
    }
    for f in Frames::new(bytes).flatten() {
        let _ = f.kind();
        if let Ok(m) = Message::from_frame(&f) {
            walk(Attrs::new(m.attr_bytes()), 0);
        }
    }
    let _ = Attrs::check(bytes);
    walk(Attrs::new(bytes), 0);
}

proptest! {
    #![proptest_config(config(512))]

    /// Well-framed messages of every command with random attribute trees (and lying lengths)
    /// never make a decoder panic; neither does any mutation of them.
    #[test]
    fn structured_messages_never_panic(
        tree in arb_tree(),
        cmd_pick in any::<prop::sample::Index>(),
        raw_cmd in any::<u8>(),
        use_raw_cmd in prop::bool::weighted(0.1),
        family in prop_oneof![Just(0x1cu16), any::<u16>()],
        flags in prop_oneof![Just(1u16), Just(0x301), any::<u16>()],
        minor in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
        hdr_flags in any::<u32>(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let ops: Vec<_> = commands::ops().collect();
        let cmd = if use_raw_cmd { raw_cmd } else { ops[cmd_pick.index(ops.len())].number() };
        let mut attrs = Vec::new();
        encode_nodes(&tree, &mut attrs);
        let msg = message(family, cmd, flags, minor, hdr_flags, &attrs);
        every_decoder(&msg);
        decode_every_set(&attrs);
        // Truncated and corrupted copies.
        let mut m = msg.clone();
        m.truncate(cut.index(msg.len() + 1));
        every_decoder(&m);
        let mut m = msg;
        for (i, v) in flips {
            let at = i.index(m.len());
            m[at] = v;
        }
        every_decoder(&m);
        // Two messages back to back (a multipart datagram).
        let mut two = m.clone();
        two.extend(&m);
        every_decoder(&two);
    }

    /// Any payload for any set, typed or generic.
    #[test]
    fn any_payload_for_any_set(payload in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_every_set(&payload);
        walk(Attrs::new(&payload), 0);
        let _ = SockAddr::decode(&payload);
    }

    /// Reply and status codes from the wire.
    #[test]
    fn any_codes(code in any::<i32>(), cmd in any::<u8>()) {
        let _ = RetCode::from_code(code).map(|r| (r.name(), r.message()));
        let r = ReplyCode::from_raw(code);
        prop_assert_eq!(r.raw(), code);
        let _ = Command::from_number(cmd).map(|c| c.def());
        let _ = commands::command(cmd);
        let _ = SsCode::from_code(code).map(|c| c.code());
        let _ = StateError::from_code(code).map(|e| (e.name(), e.message()));
        let _ = set_st_err_str(code);
    }
}

// ---- state words -------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1000))]

    /// Raw state words and state-change requests as they come from the peer or netlink: any
    /// mask and value decode or fail cleanly, in both orientations.
    #[test]
    fn raw_state_words_never_panic(old in any::<u32>(), mask in any::<u32>(), val in any::<u32>(), raw in any::<u8>()) {
        let _ = State::unpack(old);
        let _ = State::unpack(convert_peer_state(old));
        let req = StateChange { mask, val };
        let _ = req.apply_raw(old);
        let _ = req.from_peer().apply_raw(old);
        if let Ok(s) = State::unpack(old) {
            let _ = req.apply(&s);
            let _ = req.from_peer().apply(&s);
            prop_assert_eq!(State::unpack(s.pack()), Ok(s));
        }
        let _ = (Role::from_u8(raw), ConnState::from_u8(raw), DiskState::from_u8(raw));
        let _ = (Role::name_of_raw(raw), ConnState::name_of_raw(raw), DiskState::name_of_raw(raw));
    }
}

// ---- on-disk ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Bitmap pages and byte ranges read from disk at any index, into bitmaps of any size:
    /// nothing lands past the bitmap's bits, and nothing panics.
    #[test]
    fn bitmap_page_reads_at_any_index(
        bits in prop_oneof![0u64..100, 0u64..(1 << 17)],
        extra_words in 0usize..3,
        page in prop_oneof![0u64..40, any::<u64>()],
        offset in prop_oneof![0u64..20_000, any::<u64>()],
        fill in any::<u8>(),
        len in 0usize..5000,
    ) {
        let words = words_for_bits(bits) as usize + extra_words;
        let mut bm = Bitmap::new(vec![0u64; words], bits).unwrap();
        let data = [fill; BM_PAGE_SIZE];
        bm.read_page(page, &data);
        bm.read_le_bytes(offset, &vec![fill; len]);
        prop_assert!(bm.count() <= bits);
        let mut out = [0u8; BM_PAGE_SIZE];
        bm.write_page(page, &mut out);
        let mut out = vec![0u8; len];
        bm.write_le_bytes(offset, &mut out);
        // Storage of the wrong size is an error, not a panic.
        let _ = Bitmap::new(vec![0u64; extra_words], bits.saturating_mul(1000));
        let _ = Bitmap::for_sectors(vec![0u64; words], bits.saturating_mul(8));
    }

    /// Any 4 KiB as an AL transaction: every accessor, in and out of range.
    #[test]
    fn al_transaction_from_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), AL_TRANSACTION_SIZE),
        magic in any::<bool>(),
        i in any::<usize>(),
    ) {
        let mut b: [u8; AL_TRANSACTION_SIZE] = bytes[..].try_into().unwrap();
        if magic {
            b[0..4].copy_from_slice(&drbd_core::meta_data::DRBD_AL_MAGIC.to_be_bytes());
            activity_log::seal(&mut b);
        }
        let t = AlTransaction::new(&b);
        let _ = (t.status(), t.tr_number(), t.n_updates(), t.context_size(), t.reserved(i));
        prop_assert!(t.updates().count() <= AL_UPDATES_PER_TRANSACTION);
        prop_assert_eq!(t.context_entries().count(), AL_CONTEXT_PER_TRANSACTION);
        let _ = (t.update(i), t.context(i), t.update_slot_nr(i), t.update_extent_nr(i));
        let _ = format!("{t:?}");
        // The whole AL made of it, replayed in both formats with any superblock numbers.
        let blocks = vec![b; 8];
        let mut slots = vec![0u32; AL_EXTENTS_MAX];
        let _ = activity_log::replay_al_84(drbd_core::meta_data::AlGeometry::DEFAULT, &blocks, &mut slots);
        let _ = activity_log::replay_al_legacy(i as u32, &blocks, &mut slots);
    }

    /// Any superblock block through every meta-data check, on any device size and layout.
    #[test]
    fn superblock_from_any_bytes(
        head in prop::collection::vec(any::<u8>(), 96),
        magic in prop_oneof![
            Just(drbd_core::meta_data::DRBD_MD_MAGIC_08),
            Just(drbd_core::meta_data::DRBD_MD_MAGIC_84_UNCLEAN),
            Just(drbd_core::meta_data::DRBD_MD_MAGIC_07),
            any::<u32>(),
        ],
        idx in prop_oneof![-4i32..4, any::<i32>()],
        cap in prop_oneof![0u64..16, 2048u64..(1 << 22), any::<u64>()],
    ) {
        let mut b = [0u8; 4096];
        b[..96].copy_from_slice(&head);
        b[60..64].copy_from_slice(&magic.to_be_bytes());
        let _ = (MdMagic::of_block(&b), is_v07_superblock(&b), Superblock::decode(&b));
        let sb = Superblock::decode_fields(&b);
        let _ = (sb.al_geometry(), sb.peer_max_bio_size_on_attach(), sb.flags.on_attach(false, false));
        if let Ok(layout) = MdLayout::from_index(idx) {
            let _ = v07_superblock_sector(layout, cap);
            let _ = layout.checked_superblock_sector(cap);
            let _ = sb.check_geometry(layout, cap);
            if let Ok((_, g)) = attach_check(&b, layout, cap) {
                let r = g.regions(cap).unwrap();
                prop_assert!(r.superblock.end <= cap && r.activity_log.end <= cap && r.bitmap.end <= cap);
                let _ = (g.max_capacity(cap), g.first_md_sector(), g.bitmap_area_sectors());
            }
        }
    }
}
