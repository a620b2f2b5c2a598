// SPDX-License-Identifier: GPL-2.0
//! The in-memory activity log: which 4 MiB extents are "hot" (may be written without a
//! meta-data update first), and the transactions that make a cold extent hot.
//!
//! Spec: `on-disk-metadata.md` §6. A write may reach the lower disk only after its extent is
//! recorded in an on-disk AL transaction, so that after a crash of this node every extent that
//! might hold a write the peer lacks is known (apply-al marks them out of sync). The AL has
//! `al-extents` slots, each holding one extent; a cold extent takes a free slot or evicts the
//! least recently used extent without writes in flight. An evicted extent's bitmap bits must
//! be on disk before the transaction that drops it (the engine writes those bitmap pages
//! first). Changes are batched: up to 64 slot updates per 4 KiB transaction, each transaction
//! also carrying a 919-slot window of the whole table (the context) so that a replay of the
//! ring reconstructs every slot.
//!
//! Sans-I/O, caller-provided slot storage: the engine asks [`AlCache::begin`] per write,
//! writes the block [`AlCache::next_transaction`] encodes (after the evicted extents' bitmap
//! pages), reports [`AlCache::transaction_written`], and calls [`AlCache::end`] when a write
//! completes.

use super::activity_log::{
    context_window, encode_update_transaction_from, next_context_start, sector_to_al_extent,
    AlUpdate, AL_EXTENTS_MAX, AL_TRANSACTION_SIZE, AL_UPDATES_PER_TRANSACTION, LC_FREE,
};

/// One AL slot (caller storage; start with `AlSlot::default()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlSlot {
    /// The extent the slot holds (or will hold once the pending transaction is written).
    extent: u32,
    /// The extent the slot holds on disk.
    committed: u32,
    /// Writes in flight in the extent.
    refs: u32,
    /// Last use (LRU order).
    stamp: u64,
}

impl Default for AlSlot {
    fn default() -> Self {
        AlSlot {
            extent: LC_FREE,
            committed: LC_FREE,
            refs: 0,
            stamp: 0,
        }
    }
}

/// What a write to an extent must do first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// The extent is on disk in the AL: write now.
    Active,
    /// The extent is in the next transaction: write after [`AlCache::transaction_written`].
    /// `evicted` lost its slot: its bitmap must be written before that transaction.
    WaitTransaction {
        /// The extent that was evicted to make room, if any.
        evicted: Option<u32>,
    },
    /// No room now (every slot has writes in flight, the batch is full, or a transaction is
    /// being written): retry after a write ends or a transaction is written. Nothing was
    /// taken.
    Busy,
}

/// A transaction to write: the encoded block goes to ring position `tr_number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    /// Its number; the block index in the AL area is `al_ring_block(geometry, tr_number)`.
    pub tr_number: u32,
    /// Slot updates it carries.
    pub updates: usize,
}

/// The extents a request touches, first to last (empty for a zero-length request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentRange {
    first: u32,
    /// One past the last.
    end: u32,
}

impl ExtentRange {
    /// The extents of `size` bytes at data sector `sector`. Extent numbers are 32-bit on disk;
    /// a device is far below 2^32 × 4 MiB, so the truncation never bites.
    pub fn of(sector: u64, size: u32) -> Self {
        if size == 0 {
            return ExtentRange { first: 0, end: 0 };
        }
        let last_sector = sector.saturating_add(u64::from(size >> 9).max(1) - 1);
        ExtentRange {
            first: sector_to_al_extent(sector) as u32,
            end: (sector_to_al_extent(last_sector) as u32).saturating_add(1),
        }
    }

    /// Whether it touches no extent.
    pub fn is_empty(self) -> bool {
        self.first >= self.end
    }

    fn iter(self) -> core::ops::Range<u32> {
        self.first..self.end
    }
}

/// What a request must do before its data may reach the disk ([`AlCache::begin_range`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBegin {
    /// Every extent is on disk in the AL: write now.
    Active,
    /// Some extent is in the next transaction: write once it is written.
    WaitTransaction,
    /// No room now; nothing was taken. Retry after a write ends or a transaction is written.
    Busy,
}

/// A call out of order (an engine bug, never the peer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlCacheError {
    /// `end` for an extent without writes in flight.
    NotActive,
    /// `transaction_written` without a transaction in flight.
    NoTransaction,
}

/// The activity log's slots (see the module documentation).
#[derive(Debug)]
pub struct AlCache<S> {
    slots: S,
    pending: [AlUpdate; AL_UPDATES_PER_TRANSACTION],
    pending_len: usize,
    writing: bool,
    tr_number: u32,
    context_start: u16,
    clock: u64,
}

impl<S: AsRef<[AlSlot]> + AsMut<[AlSlot]>> AlCache<S> {
    /// An empty AL over `slots` (its length is `al-extents`, at most 65534; extra entries are
    /// ignored). `first_tr` numbers the first transaction (the on-disk ring is initialized,
    /// so any start works; drbd starts at 0 after attach).
    pub fn new(mut slots: S, first_tr: u32) -> Self {
        for s in slots.as_mut() {
            *s = AlSlot::default();
        }
        AlCache {
            slots,
            pending: [AlUpdate {
                slot: 0,
                extent: LC_FREE,
            }; AL_UPDATES_PER_TRANSACTION],
            pending_len: 0,
            writing: false,
            tr_number: first_tr,
            context_start: 0,
            clock: 0,
        }
    }

    fn table(&self) -> &[AlSlot] {
        let all = self.slots.as_ref();
        &all[..all.len().min(AL_EXTENTS_MAX)]
    }

    fn table_mut(&mut self) -> &mut [AlSlot] {
        let all = self.slots.as_mut();
        let n = all.len().min(AL_EXTENTS_MAX);
        &mut all[..n]
    }

    /// A write to `extent` starts (call once per extent it touches).
    pub fn begin(&mut self, extent: u32) -> Begin {
        self.clock += 1;
        let clock = self.clock;
        if let Some(s) = self.table_mut().iter_mut().find(|s| s.extent == extent) {
            s.refs += 1;
            s.stamp = clock;
            return if s.committed == extent {
                Begin::Active
            } else {
                Begin::WaitTransaction { evicted: None }
            };
        }
        if self.writing || self.pending_len >= AL_UPDATES_PER_TRANSACTION {
            return Begin::Busy;
        }
        // A free slot first, else the least recently used one without writes in flight whose
        // content is on disk (a pending change is not evicted again before it is written).
        let victim = self
            .table()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.refs == 0 && s.extent == s.committed)
            .min_by_key(|(_, s)| (s.extent != LC_FREE, s.stamp))
            .map(|(i, _)| i);
        let Some(index) = victim else {
            return Begin::Busy;
        };
        let Ok(slot_nr) = u16::try_from(index) else {
            return Begin::Busy;
        };
        let Some(slot) = self.table_mut().get_mut(index) else {
            return Begin::Busy;
        };
        let evicted = (slot.extent != LC_FREE).then_some(slot.extent);
        slot.extent = extent;
        slot.refs = 1;
        slot.stamp = clock;
        if let Some(p) = self.pending.get_mut(self.pending_len) {
            *p = AlUpdate {
                slot: slot_nr,
                extent,
            };
            self.pending_len += 1;
        }
        Begin::WaitTransaction { evicted }
    }

    /// A write to `extent` completed.
    pub fn end(&mut self, extent: u32) -> Result<(), AlCacheError> {
        let s = self
            .table_mut()
            .iter_mut()
            .find(|s| s.extent == extent && s.refs > 0)
            .ok_or(AlCacheError::NotActive)?;
        s.refs -= 1;
        Ok(())
    }

    /// Changes wait for a transaction and none is being written.
    pub fn transaction_due(&self) -> bool {
        self.pending_len > 0 && !self.writing
    }

    /// Encode the next transaction into `block` (None if nothing is due). Write it to the
    /// ring, after the bitmap pages of the extents [`Begin::WaitTransaction`] evicted.
    pub fn next_transaction(
        &mut self,
        block: &mut [u8; AL_TRANSACTION_SIZE],
    ) -> Option<Transaction> {
        if !self.transaction_due() {
            return None;
        }
        let size = u16::try_from(self.table().len()).unwrap_or(u16::MAX);
        let window = context_window(size, self.context_start);
        // The context shows what is on disk; the updates (applied after it on replay) carry
        // the changes.
        let table = self.table();
        let context = window.map(|i| table.get(i as usize).map_or(LC_FREE, |s| s.committed));
        encode_update_transaction_from(
            block,
            self.tr_number,
            size,
            self.context_start,
            self.pending.get(..self.pending_len)?,
            context,
        )
        .ok()?;
        self.writing = true;
        Some(Transaction {
            tr_number: self.tr_number,
            updates: self.pending_len,
        })
    }

    /// The transaction is on disk: its extents are active, waiting writes may go.
    pub fn transaction_written(&mut self) -> Result<(), AlCacheError> {
        if !self.writing {
            return Err(AlCacheError::NoTransaction);
        }
        let size = u16::try_from(self.table().len()).unwrap_or(u16::MAX);
        for i in 0..self.pending_len {
            let Some(u) = self.pending.get(i).copied() else {
                continue;
            };
            if let Some(s) = self.table_mut().get_mut(usize::from(u.slot)) {
                s.committed = u.extent;
            }
        }
        self.pending_len = 0;
        self.writing = false;
        self.tr_number = self.tr_number.wrapping_add(1);
        self.context_start = next_context_start(self.context_start, size);
        Ok(())
    }

    /// The submit path's fast check: if every extent of `range` is on disk in the AL, take a
    /// reference on each and return true (the write may go at once). Otherwise take nothing
    /// and change nothing: the write goes to the submitter, which calls
    /// [`AlCache::begin_range`].
    pub fn begin_if_active(&mut self, range: ExtentRange) -> bool {
        let hot = |s: &AlSlot, e: u32| s.extent == e && s.committed == e;
        if !range.iter().all(|e| self.table().iter().any(|s| hot(s, e))) {
            return false;
        }
        self.clock += 1;
        let clock = self.clock;
        for e in range.iter() {
            if let Some(s) = self.table_mut().iter_mut().find(|s| hot(s, e)) {
                s.refs += 1;
                s.stamp = clock;
            }
        }
        true
    }

    /// Begin a request's extents (the submitter). On [`RangeBegin::Busy`] the references
    /// taken for its first extents are given back; slots it already claimed stay in the
    /// pending transaction (harmless: those extents simply become hot).
    pub fn begin_range(&mut self, range: ExtentRange) -> RangeBegin {
        let mut result = RangeBegin::Active;
        for e in range.iter() {
            match self.begin(e) {
                Begin::Active => {}
                Begin::WaitTransaction { .. } => result = RangeBegin::WaitTransaction,
                Begin::Busy => {
                    for taken in range.first..e {
                        let _ = self.end(taken);
                    }
                    return RangeBegin::Busy;
                }
            }
        }
        result
    }

    /// A request's write completed (every extent of `range`).
    pub fn end_range(&mut self, range: ExtentRange) -> Result<(), AlCacheError> {
        let mut result = Ok(());
        for e in range.iter() {
            if let Err(err) = self.end(e) {
                result = Err(err);
            }
        }
        result
    }

    /// The extents the transaction being written (after [`AlCache::next_transaction`]) drops
    /// from the AL: their bitmap pages must be on disk before it. Written into `out`; returns
    /// how many.
    pub fn evicted(&self, out: &mut [u32; AL_UPDATES_PER_TRANSACTION]) -> usize {
        let mut n = 0;
        for u in self.pending.iter().take(self.pending_len) {
            let Some(slot) = self.table().get(usize::from(u.slot)) else {
                continue;
            };
            if slot.committed != LC_FREE && slot.committed != u.extent {
                if let Some(o) = out.get_mut(n) {
                    *o = slot.committed;
                    n += 1;
                }
            }
        }
        n
    }

    /// The transaction could not be written: the same changes go into the next attempt
    /// (with the same number; the ring slot is simply overwritten).
    pub fn transaction_failed(&mut self) {
        self.writing = false;
    }

    /// Whether `extent` is on disk in the AL.
    pub fn is_active(&self, extent: u32) -> bool {
        self.table()
            .iter()
            .any(|s| s.committed == extent && extent != LC_FREE)
    }

    /// Writes in flight in `extent`.
    pub fn writes_in(&self, extent: u32) -> u32 {
        self.table()
            .iter()
            .find(|s| s.extent == extent)
            .map_or(0, |s| s.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::activity_log::{al_ring_block, encode_initialized_slot, replay_al_84};
    use super::super::meta_data::AlGeometry;
    use super::*;
    use std::collections::BTreeSet;
    use std::vec;
    use std::vec::Vec;

    fn cache(n: usize) -> AlCache<Vec<AlSlot>> {
        AlCache::new(vec![AlSlot::default(); n], 0)
    }

    #[test]
    fn a_request_touches_one_or_two_extents() {
        // Extent = 8192 sectors (4 MiB).
        assert!(ExtentRange::of(100, 0).is_empty());
        assert_eq!(ExtentRange::of(0, 4096).iter(), 0..1);
        assert_eq!(ExtentRange::of(8191, 512).iter(), 0..1);
        assert_eq!(
            ExtentRange::of(8191, 1024).iter(),
            0..2,
            "crosses the boundary"
        );
        assert_eq!(ExtentRange::of(8192 * 5, 1 << 20).iter(), 5..6);
    }

    #[test]
    fn the_fast_path_takes_hot_extents_only_and_nothing_else() {
        let mut al = cache(4);
        let both = ExtentRange::of(8192 - 8, 8192);
        assert!(!al.begin_if_active(both), "cold");
        assert!(
            !al.transaction_due(),
            "the fast path never starts a transaction"
        );
        assert_eq!(al.begin_range(both), RangeBegin::WaitTransaction);
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        assert_eq!(al.next_transaction(&mut block).unwrap().updates, 2);
        assert!(!al.begin_if_active(both), "not on disk yet");
        al.transaction_written().unwrap();
        assert!(al.begin_if_active(both));
        assert_eq!((al.writes_in(0), al.writes_in(1)), (2, 2));
        al.end_range(both).unwrap();
        al.end_range(both).unwrap();
        assert_eq!(al.end_range(both), Err(AlCacheError::NotActive));
        assert_eq!(al.begin_range(both), RangeBegin::Active);
    }

    #[test]
    fn a_busy_range_gives_back_what_it_took() {
        let mut al = cache(2);
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        assert_eq!(
            al.begin_range(ExtentRange::of(0, 4096)),
            RangeBegin::WaitTransaction
        );
        let _ = al.next_transaction(&mut block).unwrap();
        al.transaction_written().unwrap();
        // Extent 0 has a write in flight; 1 and 2 need two slots but only one is free.
        let range = ExtentRange::of(8192 * 2 - 8, 8192);
        assert_eq!(range.iter(), 1..3);
        assert_eq!(al.begin_range(range), RangeBegin::Busy);
        assert_eq!(
            al.writes_in(1),
            0,
            "the reference on extent 1 was given back"
        );
        al.end_range(ExtentRange::of(0, 4096)).unwrap();
        assert_eq!(al.begin_range(range), RangeBegin::WaitTransaction);
    }

    #[test]
    fn evicted_extents_are_reported_until_the_transaction_is_written() {
        let mut al = cache(2);
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        let mut out = [0u32; AL_UPDATES_PER_TRANSACTION];
        for e in [1u64, 2] {
            assert_eq!(
                al.begin_range(ExtentRange::of(e * 8192, 512)),
                RangeBegin::WaitTransaction
            );
        }
        let _ = al.next_transaction(&mut block).unwrap();
        assert_eq!(al.evicted(&mut out), 0, "free slots evict nothing");
        al.transaction_written().unwrap();
        al.end_range(ExtentRange::of(8192, 512)).unwrap();
        assert_eq!(
            al.begin_range(ExtentRange::of(3 * 8192, 512)),
            RangeBegin::WaitTransaction
        );
        let t = al.next_transaction(&mut block).unwrap();
        assert_eq!(al.evicted(&mut out), 1);
        assert_eq!(out[0], 1, "extent 1 was idle and least recently used");
        // A failed write is retried with the same number and the same eviction.
        al.transaction_failed();
        assert_eq!(al.next_transaction(&mut block).unwrap(), t);
        assert_eq!(al.evicted(&mut out), 1);
        al.transaction_written().unwrap();
        assert_eq!(al.evicted(&mut out), 0);
        assert!(al.is_active(3) && !al.is_active(1));
    }

    #[test]
    fn a_cold_extent_waits_for_its_transaction_a_hot_one_does_not() {
        let mut al = cache(3);
        assert_eq!(al.begin(7), Begin::WaitTransaction { evicted: None });
        assert_eq!(
            al.begin(7),
            Begin::WaitTransaction { evicted: None },
            "same batch"
        );
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        let t = al.next_transaction(&mut block).unwrap();
        assert_eq!(
            t,
            Transaction {
                tr_number: 0,
                updates: 1
            }
        );
        assert_eq!(al.begin(9), Begin::Busy, "one transaction at a time");
        al.transaction_written().unwrap();
        assert!(al.is_active(7));
        assert_eq!(al.begin(7), Begin::Active);
        assert_eq!(al.writes_in(7), 3);
        for _ in 0..3 {
            al.end(7).unwrap();
        }
        assert_eq!(al.end(7), Err(AlCacheError::NotActive));
        assert_eq!(al.transaction_written(), Err(AlCacheError::NoTransaction));
    }

    #[test]
    fn eviction_takes_the_least_recently_used_idle_extent() {
        let mut al = cache(2);
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        for e in [1, 2] {
            let _ = al.begin(e);
        }
        let _ = al.next_transaction(&mut block).unwrap();
        al.transaction_written().unwrap();
        assert_eq!(
            al.begin(3),
            Begin::Busy,
            "both extents have writes in flight"
        );
        al.end(2).unwrap();
        al.end(1).unwrap();
        assert_eq!(al.begin(1), Begin::Active); // 1 is now the most recent
        al.end(1).unwrap();
        assert_eq!(al.begin(3), Begin::WaitTransaction { evicted: Some(2) });
        assert!(
            al.is_active(2),
            "still on disk until the transaction is written"
        );
        let _ = al.next_transaction(&mut block).unwrap();
        al.transaction_written().unwrap();
        assert!(!al.is_active(2));
        assert!(al.is_active(3));
    }

    #[test]
    fn a_batch_holds_64_changes() {
        let mut al = cache(100);
        for e in 0..64 {
            assert!(matches!(al.begin(e), Begin::WaitTransaction { .. }));
        }
        assert_eq!(al.begin(64), Begin::Busy);
        let mut block = [0u8; AL_TRANSACTION_SIZE];
        assert_eq!(al.next_transaction(&mut block).unwrap().updates, 64);
    }

    /// Random writes with crashes at any moment: replaying the on-disk ring (drbdmeta's
    /// algorithm, `replay_al_84`) yields every extent a write was allowed to start in and
    /// that has not ended — and every extent evicted had no write in flight.
    #[test]
    fn a_replayed_ring_covers_every_write_in_flight() {
        use proptest::prelude::*;
        let geometry = AlGeometry {
            stripes: 1,
            stripe_size_4k: 8,
        };
        let config = ProptestConfig::with_cases(48);
        proptest!(config, |(ops in proptest::collection::vec((0u8..4, 0u32..40), 1..300), slots in 67usize..90)| {
            let mut ring = vec![[0u8; AL_TRANSACTION_SIZE]; 8];
            for b in &mut ring {
                encode_initialized_slot(b);
            }
            let mut al = AlCache::new(vec![AlSlot::default(); slots], 0);
            let mut started: Vec<u32> = Vec::new(); // writes on the disk path
            let mut waiting: Vec<u32> = Vec::new(); // writes waiting for the transaction
            let mut block = [0u8; AL_TRANSACTION_SIZE];
            let mut in_transaction: Option<u32> = None;
            for (op, extent) in ops {
                match op {
                    0 => match al.begin(extent) {
                        Begin::Active => started.push(extent),
                        Begin::WaitTransaction { evicted } => {
                            if let Some(e) = evicted {
                                prop_assert!(!started.contains(&e) && !waiting.contains(&e));
                            }
                            waiting.push(extent);
                        }
                        Begin::Busy => {}
                    },
                    1 => if in_transaction.is_none() {
                        if let Some(t) = al.next_transaction(&mut block) {
                            in_transaction = Some(t.tr_number);
                        }
                    },
                    2 => if let Some(tr) = in_transaction.take() {
                        ring[al_ring_block(geometry, u64::from(tr)) as usize] = block;
                        al.transaction_written().unwrap();
                        started.append(&mut waiting);
                    },
                    _ => if !started.is_empty() {
                        let e = started.remove(usize::try_from(extent).unwrap_or(0) % started.len());
                        al.end(e).unwrap();
                    },
                }
                // The invariant can only break when a write starts or the ring changes.
                if op == 1 || op == 3 {
                    continue;
                }
                // Crash now: what apply-al would mark.
                // Slot numbers beyond the table are skipped by the replay; ours stay below.
                let mut table = vec![0u32; slots];
                let _ = replay_al_84(geometry, &ring, &mut table);
                let replayed: BTreeSet<u32> = table.iter().copied().filter(|e| *e != LC_FREE).collect();
                for e in &started {
                    prop_assert!(replayed.contains(e), "extent {e} has a write on disk but is not in the replayed AL");
                }
            }
        });
    }
}
