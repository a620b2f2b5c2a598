// SPDX-License-Identifier: GPL-2.0
//! A test-only reader for the reference captures in `shared/testdata/drbd84-peer`: xz-packed
//! classic pcap files of Ethernet/IPv4/TCP frames, reassembled into the byte stream of each
//! TCP direction. Enough for captures we made ourselves; not a general pcap library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the reference captures are: `$DRBD_RS_TESTDATA` if set, else the first
/// `shared/testdata/drbd84-peer` found walking up from this crate (the repository and its
/// worktrees both sit below the directory holding `shared/`). `None` if there is none.
pub fn testdata_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DRBD_RS_TESTDATA") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    // The repository carries a copy (testdata/drbd84-peer, from shared/testdata) so a clean
    // clone tests against the captures wherever it lives.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .flat_map(|a| {
            [
                a.join("testdata/drbd84-peer"),
                a.join("shared/testdata/drbd84-peer"),
            ]
        })
        .find(|d| d.is_dir())
}

/// The captures named in the testdata README.
pub const CAPTURES: [&str; 3] = [
    "fullsync-protoC.node-a.pcap.xz",
    "auth-csums-verify.node-a.pcap.xz",
    "splitbrain.node-a.pcap.xz",
];

/// One captured frame.
pub struct Frame {
    /// Capture time, microseconds.
    pub time_us: u64,
    /// The frame bytes as captured.
    pub bytes: Vec<u8>,
}

/// Decompress an `.xz` file and parse it as a classic pcap with Ethernet link type.
pub fn read_pcap_xz(path: &Path) -> Vec<Frame> {
    let compressed = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut raw = Vec::new();
    lzma_rs::xz_decompress(&mut &compressed[..], &mut raw)
        .unwrap_or_else(|e| panic!("{}: bad xz: {e:?}", path.display()));
    parse_pcap(&raw)
}

fn parse_pcap(raw: &[u8]) -> Vec<Frame> {
    assert!(raw.len() >= 24, "pcap global header truncated");
    let magic = [raw[0], raw[1], raw[2], raw[3]];
    let (little, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => panic!("not a classic pcap file (magic {magic:02x?})"),
    };
    let u32_at = |b: &[u8], off: usize| {
        let w = [b[off], b[off + 1], b[off + 2], b[off + 3]];
        if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let link_type = u32_at(raw, 20);
    assert_eq!(link_type, 1, "only Ethernet captures are supported");
    let mut frames = Vec::new();
    let mut off = 24;
    while off < raw.len() {
        assert!(off + 16 <= raw.len(), "pcap record header truncated");
        let secs = u64::from(u32_at(raw, off));
        let frac = u64::from(u32_at(raw, off + 4));
        let caplen = u32_at(raw, off + 8) as usize;
        let start = off + 16;
        assert!(start + caplen <= raw.len(), "pcap record truncated");
        let frac_us = if nanos { frac / 1000 } else { frac };
        frames.push(Frame {
            time_us: secs * 1_000_000 + frac_us,
            bytes: raw[start..start + caplen].to_vec(),
        });
        off = start + caplen;
    }
    frames
}

/// An IPv4 address and TCP port.
pub type Endpoint = ([u8; 4], u16);

/// One TCP connection with the reassembled stream of each direction.
pub struct TcpConnection {
    /// The side that sent the SYN.
    pub client: Endpoint,
    /// The side that answered it.
    pub server: Endpoint,
    /// Time of the SYN, microseconds.
    pub syn_time_us: u64,
    /// Bytes the client sent, in sequence order.
    pub client_to_server: Vec<u8>,
    /// Bytes the server sent, in sequence order.
    pub server_to_client: Vec<u8>,
    /// When the client's bytes were captured: see [`StreamTimes`].
    pub client_times: StreamTimes,
    /// When the server's bytes were captured.
    pub server_times: StreamTimes,
}

/// Capture time of the bytes of one reassembled direction: for every segment that added bytes
/// to the stream, the stream offset of its first new byte and the time of its first
/// transmission, in offset order.
#[derive(Default, Clone)]
pub struct StreamTimes(Vec<(usize, u64)>);

impl StreamTimes {
    /// Capture time (microseconds) of the segment carrying stream byte `offset`, i.e. when the
    /// byte passed node-a's NIC. Both nodes see a packet at about the time its last byte passed.
    pub fn at(&self, offset: usize) -> u64 {
        let next = self.0.partition_point(|&(start, _)| start <= offset);
        next.checked_sub(1)
            .and_then(|i| self.0.get(i))
            .map_or(0, |&(_, time)| time)
    }
}

/// Segments of one direction, keyed by sequence number relative to the ISN.
#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    segments: BTreeMap<u64, Vec<u8>>,
    /// Capture time of the first transmission of each segment.
    times: BTreeMap<u64, u64>,
    first_seq: Option<u32>,
}

impl Direction {
    fn add(&mut self, seq: u32, payload: &[u8], time_us: u64) {
        if payload.is_empty() {
            return;
        }
        self.first_seq.get_or_insert(seq);
        let base = match self.isn {
            Some(isn) => isn.wrapping_add(1),
            None => self.first_seq.unwrap_or(seq),
        };
        let rel = u64::from(seq.wrapping_sub(base));
        self.times.entry(rel).or_insert(time_us);
        let slot = self.segments.entry(rel).or_default();
        // A retransmission may carry more than the first transmission did: keep the longer.
        if payload.len() > slot.len() {
            *slot = payload.to_vec();
        }
    }

    /// The contiguous stream from the first byte; overlapping retransmissions are merged,
    /// a hole ends the stream (and fails the caller's test when a packet is cut by it).
    fn reassemble(&self) -> (Vec<u8>, StreamTimes) {
        let mut out: Vec<u8> = Vec::new();
        let mut times = Vec::new();
        for (&rel, payload) in &self.segments {
            let have = out.len() as u64;
            if rel > have {
                panic!("hole in TCP stream at relative offset {have} (next segment at {rel})");
            }
            let skip = (have - rel) as usize;
            if skip < payload.len() {
                times.push((out.len(), self.times.get(&rel).copied().unwrap_or(0)));
                out.extend_from_slice(&payload[skip..]);
            }
        }
        (out, StreamTimes(times))
    }
}

struct Pending {
    syn_time_us: u64,
    ends: (Endpoint, Endpoint),
    client: Option<Endpoint>,
    c2s: Direction,
    s2c: Direction,
}

/// The TCP part of a frame that matters here.
struct Segment<'a> {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: &'a [u8],
}

/// Ethernet II / IPv4 (unfragmented) / TCP, or `None` for anything else.
fn parse_tcp(frame: &[u8]) -> Option<Segment<'_>> {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    const IPPROTO_TCP: u8 = 6;
    if frame.get(12..14)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    assert_eq!(fragment & 0x3fff, 0, "IP fragments are not supported");
    if *ip.get(9)? != IPPROTO_TCP {
        return None;
    }
    let src_ip: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst_ip: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let tcp = ip.get(ihl..total)?;
    let src_port = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let dst_port = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    Some(Segment {
        src: (src_ip, src_port),
        dst: (dst_ip, dst_port),
        seq,
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        payload: tcp.get(data_offset..)?,
    })
}

/// Group the TCP segments of IPv4 frames into connections (by 4-tuple; a new SYN with another
/// ISN on a used 4-tuple starts a new connection), in the order of their first frame.
pub fn tcp_connections(frames: &[Frame]) -> Vec<TcpConnection> {
    let mut open: BTreeMap<(Endpoint, Endpoint), usize> = BTreeMap::new();
    let mut all: Vec<Pending> = Vec::new();
    for frame in frames {
        let Some(seg) = parse_tcp(&frame.bytes) else {
            continue;
        };
        let ends = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let pure_syn = seg.syn && !seg.ack;
        let reused = |p: &Pending| pure_syn && p.c2s.isn.is_some_and(|isn| isn != seg.seq);
        let index = match open.get(&ends) {
            Some(&i) if !reused(&all[i]) => i,
            _ => {
                all.push(Pending {
                    syn_time_us: frame.time_us,
                    ends,
                    client: None,
                    c2s: Direction::default(),
                    s2c: Direction::default(),
                });
                open.insert(ends, all.len() - 1);
                all.len() - 1
            }
        };
        let conn = &mut all[index];
        if pure_syn {
            conn.client = Some(seg.src);
            conn.syn_time_us = frame.time_us;
            conn.c2s.isn = Some(seg.seq);
            continue;
        }
        // Without a SYN in the capture, the first sender is taken as the client.
        let client = *conn.client.get_or_insert(seg.src);
        let dir = if seg.src == client {
            &mut conn.c2s
        } else {
            &mut conn.s2c
        };
        if seg.syn {
            dir.isn = Some(seg.seq);
        } else {
            dir.add(seg.seq, seg.payload, frame.time_us);
        }
    }
    all.into_iter()
        .map(|p| {
            let client = p.client.unwrap_or(p.ends.0);
            let server = if p.ends.0 == client {
                p.ends.1
            } else {
                p.ends.0
            };
            let (client_to_server, client_times) = p.c2s.reassemble();
            let (server_to_client, server_times) = p.s2c.reassemble();
            TcpConnection {
                client,
                server,
                syn_time_us: p.syn_time_us,
                client_to_server,
                server_to_client,
                client_times,
                server_times,
            }
        })
        .collect()
}
