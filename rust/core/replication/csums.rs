// SPDX-License-Identifier: GPL-2.0
//! Checksum-based resync of a [`Replica`] (`csums-alg`), and the local reads whose bytes the
//! core digests (here and in online verify, [`super::verify`]).
//!
//! Spec: `wire-protocol.md` §5.5. With a csums-alg agreed (apv ≥ 89; and, with
//! `csums-after-crash-only`, only while this node is a crashed primary) the SyncTarget does
//! not ask for a block's data at once: it reads its own copy, sends `P_CSUM_RS_REQUEST` with
//! the digest, and the SyncSource reads its copy and compares. Equal: `P_RS_IS_IN_SYNC`, both
//! clear the bits and count the block as "equal" (the statistics line at the end); different:
//! the data goes as `P_RS_DATA_REPLY`, as for a plain request. A digest of the wrong size is a
//! protocol error.
//!
//! Reads that need their bytes ([`ReadPurpose::needs_data`]) go to the engine like resync
//! reads ([`Host::read_for_peer`]); it reports them with [`Replica::peer_read_data`] and the
//! bytes, so the digest is computed here. Own-design choices where drbd leaves a gap: a target
//! that cannot read its own block asks for the data with a plain request (drbd drops the
//! request); a source read that must wait for an application write to the block is made a
//! plain resync read (the block is changing, its transfer cannot be saved).

use super::super::bitmap::BM_BLOCK_SIZE;
use super::super::digest::{Digest, DigestAlg};
use super::super::meta_data::SECTOR_SIZE;
use super::super::state::ConnState;
use super::super::wire::{self, AckKind, BlockAck, BlockReq, Packet, RequestKind};
use super::conflicts::{IoKind, Slot};
use super::connection::{Host, Level, LossReason, Replica, Socket, Storage};
use super::io_errors::FailedIo;
use super::resync_path::PeerRead;

/// Why a [`PeerRead`] reads its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPurpose {
    /// SyncSource, `P_RS_DATA_REQUEST`: the block goes to the target as `P_RS_DATA_REPLY`
    /// ([`Host::send_block`]). Reported with [`Replica::peer_read_done`].
    ResyncData,
    /// SyncSource, `P_CSUM_RS_REQUEST` with the target's digest: equal ⇒ `P_RS_IS_IN_SYNC`;
    /// else the block goes as `P_RS_DATA_REPLY` ([`Host::send_block`], during the report).
    CsumCompare(Digest),
    /// SyncTarget: its own block, whose digest its `P_CSUM_RS_REQUEST` carries. The read
    /// buffer is never sent.
    CsumRequest,
    /// VerifyT, `P_OV_REQUEST`: the block's digest answers as `P_OV_REPLY`. Never sent.
    VerifyReply,
    /// VerifyS, `P_OV_REPLY` with the peer's digest: compared, the result goes as
    /// `P_OV_RESULT`. Never sent.
    VerifyCompare(Digest),
}

impl ReadPurpose {
    /// The core needs the bytes read: report with [`Replica::peer_read_data`].
    pub const fn needs_data(&self) -> bool {
        !matches!(self, ReadPurpose::ResyncData)
    }
}

/// Checksum-based resync in one run, either role (drbd's `use_csums`, `rs_same_csum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CsumStats {
    /// Checksum requests were sent (target) or received (source).
    used: bool,
    /// Bitmap blocks found equal.
    same_blocks: u64,
}

impl CsumStats {
    /// Nothing yet.
    pub(super) const NONE: CsumStats = CsumStats {
        used: false,
        same_blocks: 0,
    };
}

/// Bitmap blocks (4 KiB) of `bytes` (drbd counts `size >> BM_BLOCK_SHIFT`).
fn blocks_of(bytes: u32) -> u64 {
    u64::from(bytes) / BM_BLOCK_SIZE
}

impl<S: Storage> Replica<S> {
    /// A read whose purpose [needs its bytes](ReadPurpose::needs_data) finished: `data` =
    /// the `read.size` bytes read, `None` if the read failed. The engine keeps the read buffer
    /// under `read.slot` during this call (the core may send it with [`Host::send_block`])
    /// and drops what is left of it afterwards. A resync read ([`ReadPurpose::ResyncData`])
    /// may be reported here as well. Bytes of another length count as a failed read.
    pub fn peer_read_data(&mut self, read: &PeerRead, data: Option<&[u8]>, host: &mut impl Host) {
        let failed = data.is_none();
        let data = data.filter(|d| d.len() == read.size as usize);
        match read.purpose {
            ReadPurpose::ResyncData => self.peer_read_done(read, data.is_some(), host),
            ReadPurpose::CsumCompare(digest) => self.csum_compare_read(read, &digest, data, host),
            ReadPurpose::CsumRequest => self.csum_request_read(read, data, host),
            ReadPurpose::VerifyReply => self.verify_reply_read(read, data, host),
            ReadPurpose::VerifyCompare(digest) => {
                self.verify_compare_read(read, &digest, data, host)
            }
        }
        // The peer has its answer first; then the disk stops claiming good data.
        if failed {
            self.local_io_failed(FailedIo::PeerRead, host);
        }
    }

    /// Reads that waited for overlapping writes go to the disk once those are done: resync
    /// and verify reads (VerifyT) wait for application and peer writes, verify comparisons (VerifyS: a verify entry whose digest arrived) for the peer
    /// writes that arrived before the digest. The first read still blocked keeps the ones
    /// behind it waiting.
    pub(super) fn issue_waiting_reads(&mut self, host: &mut impl Host) {
        while let Some((slot, e)) = self
            .conflicts
            .find(|e| matches!(e.kind, IoKind::ResyncRead | IoKind::VerifyRead) && !e.submitted)
        {
            let verify = e.kind == IoKind::VerifyRead;
            let comparison = verify && e.arrival != 0;
            let blocked = self.conflicts.overlaps(e.sector, e.size, Some(slot), |o| {
                if comparison {
                    o.kind == IoKind::PeerWrite && o.arrival < e.arrival
                } else {
                    matches!(o.kind, IoKind::AppWrite | IoKind::PeerWrite)
                }
            });
            if blocked {
                break;
            }
            if let Some(entry) = self.conflicts.get_mut(slot) {
                entry.submitted = true;
            }
            let purpose = if comparison {
                ReadPurpose::VerifyCompare(self.unpark_digest(slot))
            } else if verify {
                ReadPurpose::VerifyReply
            } else {
                ReadPurpose::ResyncData
            };
            host.read_for_peer(PeerRead {
                sector: e.sector,
                size: e.size,
                slot,
                purpose,
            });
        }
    }

    /// The digest a SyncTarget compares blocks with in this resync, if any (drbd's
    /// `use_checksum_based_resync`).
    pub(super) fn resync_csums(&self) -> Option<DigestAlg> {
        let net = self.net();
        if self.agreed().version < 89 || (net.csums_after_crash_only && !self.crashed_primary()) {
            return None;
        }
        DigestAlg::from_name(net.csums_alg.as_str())
    }

    /// SyncTarget: ask for the block the conflict entry `slot` tracks — by checksum (read our
    /// copy first) when a csums-alg is in use, else plainly.
    pub(super) fn send_resync_request(
        &mut self,
        sector: u64,
        size: u32,
        slot: Slot,
        host: &mut impl Host,
    ) {
        if self.resync_csums().is_some() {
            if let Some(p) = self.sync_progress.as_mut() {
                p.csums.used = true;
            }
            host.read_for_peer(PeerRead {
                sector,
                size,
                slot,
                purpose: ReadPurpose::CsumRequest,
            });
        } else {
            self.send_block_request(RequestKind::RsDataRequest, sector, size, &[], host);
        }
    }

    /// A `p_block_req` packet for the resync/verify handle `ID_SYNCER`.
    pub(super) fn send_block_request(
        &self,
        kind: RequestKind,
        sector: u64,
        size: u32,
        digest: &[u8],
        host: &mut impl Host,
    ) {
        let req = BlockReq {
            sector,
            block_id: wire::ID_SYNCER,
            blksize: size,
        };
        host.send(
            Socket::Data,
            self.agreed(),
            &Packet::BlockRequest { kind, req, digest },
        );
    }

    /// SyncTarget: our copy of a requested block was read.
    fn csum_request_read(&mut self, read: &PeerRead, data: Option<&[u8]>, host: &mut impl Host) {
        // Only while the request is still ours and unanswered (the connection may be gone).
        let pending = self.conflicts.get(read.slot).is_some_and(|e| {
            e.kind == IoKind::ResyncWrite
                && e.arrival == 0
                && e.sector == read.sector
                && e.size == read.size
        });
        if !pending {
            return;
        }
        match (self.resync_csums(), data) {
            (Some(alg), Some(bytes)) => {
                let digest = alg.digest(bytes);
                self.send_block_request(
                    RequestKind::CsumRsRequest,
                    read.sector,
                    read.size,
                    digest.as_bytes(),
                    host,
                );
            }
            // Our copy is unreadable: the peer's is wanted whatever it holds.
            _ => self.send_block_request(
                RequestKind::RsDataRequest,
                read.sector,
                read.size,
                &[],
                host,
            ),
        }
    }

    /// SyncSource: `P_CSUM_RS_REQUEST`.
    fn on_csum_request(
        &mut self,
        req: &BlockReq,
        digest: &[u8],
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        let Some(alg) = DigestAlg::from_name(self.net().csums_alg.as_str()) else {
            host.log(
                Level::Err,
                format_args!("CsumRSRequest received without a csums-alg"),
            );
            return Err(LossReason::ProtocolError);
        };
        let sized = (digest.len() == alg.digest_len())
            .then(|| Digest::from_bytes(digest))
            .flatten();
        let Some(digest) = sized else {
            host.log(
                Level::Err,
                format_args!(
                    "CsumRSRequest with a {}-byte digest, csums-alg {} has {}",
                    digest.len(),
                    alg.name(),
                    alg.digest_len()
                ),
            );
            return Err(LossReason::ProtocolError);
        };
        if let Some(p) = self.sync_progress.as_mut() {
            p.csums.used = true;
        }
        self.on_resync_request(req, ReadPurpose::CsumCompare(digest), host)
    }

    /// SyncSource: our copy of a block the target sent a digest of was read.
    fn csum_compare_read(
        &mut self,
        read: &PeerRead,
        peer: &Digest,
        data: Option<&[u8]>,
        host: &mut impl Host,
    ) {
        let alg = DigestAlg::from_name(self.net().csums_alg.as_str());
        let equal = match (alg, data) {
            (Some(alg), Some(bytes)) => alg.digest(bytes) == *peer,
            _ => false,
        };
        if !equal {
            // Different (or unreadable): answered as a plain resync read, with the data or
            // P_NEG_RS_DREPLY.
            let plain = PeerRead {
                purpose: ReadPurpose::ResyncData,
                ..*read
            };
            self.peer_read_done(&plain, data.is_some(), host);
            return;
        }
        if self.conflicts.remove(read.slot).is_none() {
            return; // the connection that asked is gone
        }
        host.mark_in_sync(read.sector, read.size);
        if let Some(p) = self.sync_progress.as_mut() {
            p.csums.same_blocks += blocks_of(read.size);
        }
        self.send_ack(
            AckKind::RsIsInSync,
            read.sector,
            wire::ID_SYNCER,
            read.size,
            host,
        );
    }

    /// SyncTarget: `P_RS_IS_IN_SYNC`, the answer to a checksum request whose block is equal.
    fn on_rs_is_in_sync(&mut self, ack: &BlockAck, host: &mut impl Host) -> Result<(), LossReason> {
        let found = self.conflicts.find(|e| {
            e.kind == IoKind::ResyncWrite
                && e.arrival == 0
                && e.sector == ack.sector
                && e.size == ack.blksize
        });
        let Some((slot, _)) = found else {
            host.log(
                Level::Err,
                format_args!(
                    "CsumRSIsInSync for sector {} (size {}) that was not requested",
                    ack.sector, ack.blksize
                ),
            );
            return Err(LossReason::ProtocolError);
        };
        self.conflicts.remove(slot);
        host.mark_in_sync(ack.sector, ack.blksize);
        if let Some(run) = self.sync_run.as_mut() {
            run.received_sectors = run
                .received_sectors
                .saturating_add(ack.blksize.div_ceil(SECTOR_SIZE));
        }
        if let Some(p) = self.sync_progress.as_mut() {
            p.csums.same_blocks += blocks_of(ack.blksize);
        }
        self.maybe_finish_target(host);
        Ok(())
    }

    /// drbd's statistics line at the end of a checksum-based resync (either role).
    pub(super) fn log_csums_stats(&self, host: &mut impl Host) {
        let Some(p) = self.sync_progress.as_ref() else {
            return;
        };
        if !p.csums.used || p.rs_total == 0 {
            return;
        }
        let (same, total) = (p.csums.same_blocks, p.rs_total);
        let ratio = if total < 100_000 {
            same.saturating_mul(100) / total
        } else {
            same / (total / 100)
        };
        let kib = BM_BLOCK_SIZE / 1024;
        host.log(
            Level::Info,
            format_args!(
                "{} % had equal checksums, eliminated: {}K; transferred {}K total {}K",
                ratio,
                same.saturating_mul(kib),
                total.saturating_sub(same).saturating_mul(kib),
                total.saturating_mul(kib)
            ),
        );
    }

    /// Packets of checksum-based resync and online verify (handled by
    /// [`Self::on_digest_traffic`]); `P_NEG_RS_DREPLY` only while this node drives a verify.
    pub(super) fn is_digest_traffic(&self, packet: &Packet<'_>) -> bool {
        match packet {
            Packet::BlockRequest { kind, .. } => matches!(
                kind,
                RequestKind::OvRequest | RequestKind::OvReply | RequestKind::CsumRsRequest
            ),
            Packet::Ack { kind, .. } => match kind {
                AckKind::OvResult | AckKind::RsIsInSync => true,
                AckKind::NegRsDReply => self.state().conn == ConnState::VerifyS,
                _ => false,
            },
            _ => false,
        }
    }

    /// One of the packets [`Self::is_digest_traffic`] selects.
    pub(super) fn on_digest_traffic(
        &mut self,
        packet: &Packet<'_>,
        host: &mut impl Host,
    ) -> Result<(), LossReason> {
        match packet {
            Packet::BlockRequest { kind, req, digest } => match kind {
                RequestKind::OvRequest => self.on_ov_request(req, host),
                RequestKind::OvReply => self.on_ov_reply(req, digest, host),
                RequestKind::CsumRsRequest => self.on_csum_request(req, digest, host),
                _ => Err(LossReason::ProtocolError),
            },
            Packet::Ack { kind, ack } => match kind {
                AckKind::OvResult => self.on_ov_result(ack, host),
                AckKind::RsIsInSync => self.on_rs_is_in_sync(ack, host),
                AckKind::NegRsDReply => self.on_verify_refused(ack, host),
                _ => Err(LossReason::ProtocolError),
            },
            _ => Err(LossReason::ProtocolError),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::super::super::state::DiskState;
    use super::super::connection::NetSettings;
    use super::super::resync_path::HeldWrite;
    use super::super::test_support::{block, connected, Out, Setup, TestHost, TestReplica};
    use super::super::writes::WriteFlags;
    use super::*;

    fn md5(data: &[u8]) -> Vec<u8> {
        DigestAlg::Md5.digest(data).as_bytes().to_vec()
    }

    const CSUMS: Setup = Setup {
        csums_alg: "md5",
        ..Setup::DEFAULT
    };

    /// Our replica as SyncTarget of the blocks `bits` (the peer's bitmap), after the peer's
    /// P_SYNC_UUID at time 0.
    fn sync_target(setup: Setup, bits: &[u64]) -> (TestReplica, TestHost) {
        let (mut r, mut h) = connected(Setup {
            my_disk: DiskState::Inconsistent,
            ..setup
        });
        // Inconsistent against UpToDate: target by the disk states (§7.4 step 2).
        assert_eq!(r.state().conn, ConnState::WFBitMapT);
        let word: u64 = bits.iter().map(|b| 1u64 << b).sum();
        receive_bitmap(&mut r, &mut h, word);
        assert_eq!(r.state().conn, ConnState::WFSyncUUID);
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncTarget);
        assert_eq!(h.bitmap.count(), bits.len() as u64);
        (r, h)
    }

    /// The peer's one-word bitmap in plain chunks: the word, then the empty terminator.
    fn receive_bitmap(r: &mut TestReplica, h: &mut TestHost, word: u64) {
        let bytes = word.to_le_bytes();
        r.receive(Socket::Data, &Packet::Bitmap(&bytes), 0, h);
        r.receive(Socket::Data, &Packet::Bitmap(&[]), 0, h);
    }

    fn csum_request(sector: u64, size: u32, digest: &[u8]) -> Packet<'_> {
        Packet::BlockRequest {
            kind: RequestKind::CsumRsRequest,
            req: BlockReq {
                sector,
                block_id: wire::ID_SYNCER,
                blksize: size,
            },
            digest,
        }
    }

    fn in_sync(sector: u64, size: u32) -> Packet<'static> {
        Packet::Ack {
            kind: AckKind::RsIsInSync,
            // Garbage on the wire (a kernel pointer, §14): ignored.
            ack: BlockAck {
                sector,
                block_id: 0xffff_8880_1234_5678,
                blksize: size,
                seq_num: 3,
            },
        }
    }

    fn requests(out: &[Out]) -> Vec<(RequestKind, u64, Vec<u8>)> {
        out.iter()
            .filter_map(|o| match o {
                Out::Request {
                    kind,
                    sector,
                    digest,
                    ..
                } => Some((*kind, *sector, digest.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_sync_target_with_csums_sends_the_digest_of_its_own_block() {
        let (mut r, mut h) = sync_target(CSUMS, &[0, 2, 5]);
        // Nothing goes out before our copies are read.
        assert!(requests(&h.take()).is_empty());
        let reads = h.take_reads();
        assert_eq!(
            reads
                .iter()
                .map(|r| (r.sector, r.size, r.purpose))
                .collect::<Vec<_>>(),
            [
                (0, 4096, ReadPurpose::CsumRequest),
                (16, 4096, ReadPurpose::CsumRequest),
                (40, 4096, ReadPurpose::CsumRequest)
            ]
        );
        for (read, tag) in reads.iter().zip([0u8, 1, 2]) {
            r.peer_read_data(read, Some(&block(tag, 4096)), &mut h);
        }
        assert_eq!(
            requests(&h.take()),
            [
                (RequestKind::CsumRsRequest, 0, md5(&block(0, 4096))),
                (RequestKind::CsumRsRequest, 16, md5(&block(1, 4096))),
                (RequestKind::CsumRsRequest, 40, md5(&block(2, 4096)))
            ]
        );
        // Equal blocks come back "in sync", the different one as data.
        r.receive(Socket::Meta, &in_sync(0, 4096), 10, &mut h);
        r.receive(Socket::Meta, &in_sync(40, 4096), 10, &mut h);
        assert_eq!(h.bitmap.count(), 1);
        let reply = Packet::Data {
            kind: wire::DataKind::RsDataReply,
            hdr: wire::DataHeader {
                sector: 16,
                block_id: wire::ID_SYNCER,
                seq_num: 0,
                dp_flags: 0,
            },
            digest: &[],
            data_len: 4096,
        };
        r.receive(Socket::Data, &reply, 20, &mut h);
        let HeldWrite::Resync(write) = h.held[0] else {
            panic!("resync write held");
        };
        r.resync_write_done(&write, true, &mut h);
        assert_eq!(h.bitmap.count(), 0);
        // Done behind a ping; drbd's statistics line (§5.5), 2 of 3 blocks equal.
        r.receive(Socket::Meta, &Packet::PingAck, 30, &mut h);
        assert_eq!(r.state().conn, ConnState::Connected);
        assert!(h.logged("66 % had equal checksums, eliminated: 8K; transferred 4K total 12K"));
    }

    #[test]
    fn an_unreadable_own_block_is_requested_plainly() {
        let (mut r, mut h) = sync_target(CSUMS, &[3]);
        h.take();
        let read = h.take_reads()[0];
        r.peer_read_data(&read, None, &mut h);
        assert_eq!(
            requests(&h.take()),
            [(RequestKind::RsDataRequest, 24, Vec::new())]
        );
    }

    #[test]
    fn without_csums_or_after_crash_only_the_requests_are_plain() {
        let (_r, mut h) = sync_target(Setup::DEFAULT, &[1]);
        assert_eq!(
            requests(&h.take()),
            [(RequestKind::RsDataRequest, 8, Vec::new())]
        );
        assert!(h.reads.is_empty());
        // csums-after-crash-only on a node that did not crash as Primary.
        let (mut r, mut h) = connected(Setup {
            my_disk: DiskState::Inconsistent,
            ..CSUMS
        });
        let net = NetSettings {
            csums_after_crash_only: true,
            ..*r.net()
        };
        r.change_net_options(net, &mut h);
        receive_bitmap(&mut r, &mut h, 2);
        r.receive(Socket::Data, &Packet::SyncUuid(0x77), 0, &mut h);
        assert_eq!(r.state().conn, ConnState::SyncTarget);
        assert_eq!(
            requests(&h.take()),
            [(RequestKind::RsDataRequest, 8, Vec::new())]
        );
        assert!(h.reads.is_empty());
    }

    #[test]
    fn the_source_answers_equal_blocks_in_sync_and_sends_the_others() {
        let (mut r, mut h) = connected(CSUMS);
        h.bitmap.set_range(0..3);
        let zeros = md5(&block(0, 4096));
        // Equal: P_RS_IS_IN_SYNC, the bit cleared here too.
        r.receive(Socket::Data, &csum_request(0, 4096, &zeros), 10, &mut h);
        let read = h.take_reads()[0];
        assert_eq!(
            read.purpose,
            ReadPurpose::CsumCompare(Digest::from_bytes(&zeros).unwrap())
        );
        r.peer_read_data(&read, Some(&block(0, 4096)), &mut h);
        assert_eq!(
            h.take(),
            [Out::Ack {
                kind: AckKind::RsIsInSync,
                sector: 0,
                block_id: wire::ID_SYNCER,
                size: 4096
            }]
        );
        assert!(!h.bitmap.test(0));
        // Different: the data.
        r.receive(Socket::Data, &csum_request(8, 4096, &zeros), 10, &mut h);
        let read = h.take_reads()[0];
        r.peer_read_data(&read, Some(&block(9, 4096)), &mut h);
        assert_eq!(
            h.take(),
            [Out::Block {
                cmd: wire::Cmd::RsDataReply,
                sector: 8,
                size: 4096
            }]
        );
        assert!(
            h.bitmap.test(1),
            "cleared by the target's write ack, not here"
        );
        // Unreadable: P_NEG_RS_DREPLY.
        r.receive(Socket::Data, &csum_request(16, 4096, &zeros), 10, &mut h);
        let read = h.take_reads()[0];
        r.peer_read_data(&read, None, &mut h);
        assert!(matches!(
            h.take()[..],
            [
                Out::Ack {
                    kind: AckKind::NegRsDReply,
                    sector: 16,
                    ..
                },
                ..
            ]
        ));
        // The source's disk failed a read: it no longer claims good data.
        assert_eq!(r.state().disk, DiskState::Inconsistent);
    }

    #[test]
    fn a_malformed_digest_drops_the_connection() {
        let (mut r, mut h) = connected(CSUMS);
        r.receive(Socket::Data, &csum_request(0, 4096, &[1; 20]), 10, &mut h);
        assert!(h.dropped);
        assert!(h.logged("CsumRSRequest with a 20-byte digest, csums-alg md5 has 16"));
        // Without a csums-alg any checksum request is a protocol error.
        let (mut r, mut h) = connected(Setup::DEFAULT);
        r.receive(Socket::Data, &csum_request(0, 4096, &[1; 16]), 10, &mut h);
        assert!(h.dropped);
        assert!(h.logged("CsumRSRequest received without a csums-alg"));
    }

    #[test]
    fn an_in_sync_answer_to_no_request_drops_the_connection() {
        let (mut r, mut h) = sync_target(CSUMS, &[3]);
        r.receive(Socket::Meta, &in_sync(8, 4096), 10, &mut h);
        assert!(h.dropped);
        assert!(h.logged("CsumRSIsInSync for sector 8 (size 4096) that was not requested"));
    }

    #[test]
    fn a_source_read_behind_an_application_write_is_sent_plainly() {
        let (mut r, mut h) = connected(CSUMS);
        let plan = r
            .plan_write(0, 4096, WriteFlags::default(), 5, 0)
            .expect("write planned");
        r.receive(Socket::Data, &csum_request(0, 4096, &[0; 16]), 10, &mut h);
        assert!(h.take_reads().is_empty(), "waits for the write");
        r.local_write_done(plan.slot.expect("tracked"), &mut h);
        let reads = h.take_reads();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].purpose, ReadPurpose::ResyncData);
    }
}
