// SPDX-License-Identifier: GPL-2.0
//! In-flight I/O that must not overlap: the ordering rules between application writes,
//! writes from the peer and resync traffic.
//!
//! A resync moves blocks from the SyncSource to the SyncTarget while the Primary keeps
//! writing. Without rules an old block could overwrite a newer one:
//! - on the source, a resync read must not overlap a local application write in flight (it
//!   could read either version), and an application write must not start while an
//!   overlapping resync read is in flight (its `P_DATA` could overtake the older
//!   `P_RS_DATA_REPLY` on the wire). The read waits; the write is told to retry.
//! - on the target, a resync write and a peer write to the same blocks are serialized in
//!   arrival order: whoever came second waits for the first to reach the disk. With the
//!   source's rules, arrival order is data order.
//! - online verify: a block is requested only while no write to it is in flight on the
//!   requesting node, which then holds off application writes to it until its comparison is
//!   done and compares in arrival order with the peer's writes; the answering node reads it
//!   only after the writes that reached it before the request.
//!
//! The table has a fixed capacity (no allocation in the core); a full table is back pressure.

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    /// An application write submitted locally (any node).
    AppWrite,
    /// A write received from the peer (`P_DATA`/`P_TRIM`/`P_ZEROES`), target side.
    PeerWrite,
    /// A resync request this node sent, then the write of its reply (target side).
    ResyncWrite,
    /// A resync read serving the peer's request (source side).
    ResyncRead,
    /// Online verify (`verify.rs`): on VerifyT the read of a block whose digest answers
    /// `P_OV_REQUEST`; on VerifyS a requested block from its `P_OV_REQUEST` until the
    /// comparison with the peer's digest is done (`arrival` set when the `P_OV_REPLY` came:
    /// the comparison is ordered among the peer's writes). Like a resync read it waits for
    /// overlapping writes in flight and holds off new application writes, so both nodes
    /// digest the same data.
    VerifyRead,
}

/// One entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// First sector.
    pub sector: u64,
    /// Bytes.
    pub size: u32,
    /// Kind.
    pub kind: IoKind,
    /// Submitted to the disk (false: waiting for an overlapping entry, or a resync request
    /// whose reply has not arrived).
    pub submitted: bool,
    /// Arrival order of writes on the target (0: not arrived yet, e.g. a resync request
    /// still waiting for its reply).
    pub arrival: u64,
}

impl Interval {
    fn end(&self) -> u64 {
        self.sector + u64::from(self.size).div_ceil(512)
    }

    /// Whether the two ranges share a sector.
    pub fn overlaps(&self, sector: u64, size: u32) -> bool {
        let end = sector + u64::from(size).div_ceil(512);
        self.sector < end && sector < self.end()
    }
}

/// A slot handle: index into the table plus the slot's use count at insertion, so a handle
/// of a removed entry never names a later entry that reuses the slot (an I/O of a dead
/// connection completing after the slot was given to new I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Slot {
    index: u16,
    generation: u16,
}

impl Slot {
    /// The table index (engines keep per-slot data in an array of the same size).
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// The table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// One slot of the caller-provided storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotEntry {
    generation: u16,
    interval: Option<Interval>,
}

/// In-flight intervals in caller-provided slots (`S`, at most 65536 are used).
#[derive(Debug, Clone)]
pub struct Conflicts<S> {
    slots: S,
    used: usize,
}

impl<S: AsRef<[SlotEntry]> + AsMut<[SlotEntry]>> Conflicts<S> {
    /// An empty table over `storage` (its entries are cleared).
    pub fn new(mut storage: S) -> Self {
        for e in storage.as_mut() {
            e.interval = None;
        }
        Conflicts {
            slots: storage,
            used: 0,
        }
    }

    fn entries(&self) -> &[SlotEntry] {
        let all = self.slots.as_ref();
        all.get(..all.len().min(1 << 16)).unwrap_or(all)
    }

    fn entries_mut(&mut self) -> &mut [SlotEntry] {
        let all = self.slots.as_mut();
        let n = all.len().min(1 << 16);
        &mut all[..n]
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.entries().len()
    }

    /// Every slot is in use.
    pub fn is_full(&self) -> bool {
        self.used >= self.capacity()
    }

    /// Entries in use.
    pub const fn len(&self) -> usize {
        self.used
    }

    /// No entry in use.
    pub const fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Add an entry.
    pub fn insert(&mut self, interval: Interval) -> Result<Slot, TableFull> {
        let entries = self.entries_mut();
        let index = entries
            .iter()
            .position(|e| e.interval.is_none())
            .ok_or(TableFull)?;
        let index16 = u16::try_from(index).map_err(|_| TableFull)?;
        let entry = entries.get_mut(index).ok_or(TableFull)?;
        entry.generation = entry.generation.wrapping_add(1);
        entry.interval = Some(interval);
        let generation = entry.generation;
        self.used += 1;
        Ok(Slot {
            index: index16,
            generation,
        })
    }

    fn entry(&self, slot: Slot) -> Option<&SlotEntry> {
        self.entries()
            .get(slot.index())
            .filter(|e| e.generation == slot.generation)
    }

    fn entry_mut(&mut self, slot: Slot) -> Option<&mut SlotEntry> {
        self.entries_mut()
            .get_mut(slot.index())
            .filter(|e| e.generation == slot.generation)
    }

    /// Remove an entry, returning it (None if the handle is stale).
    pub fn remove(&mut self, slot: Slot) -> Option<Interval> {
        let taken = self.entry_mut(slot)?.interval.take();
        if taken.is_some() {
            self.used -= 1;
        }
        taken
    }

    /// The entry of `slot`.
    pub fn get(&self, slot: Slot) -> Option<&Interval> {
        self.entry(slot)?.interval.as_ref()
    }

    /// The entry of `slot`, mutable.
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Interval> {
        self.entry_mut(slot)?.interval.as_mut()
    }

    /// The live handle of table index `index`, if an entry is there.
    pub fn slot_at(&self, index: usize) -> Option<Slot> {
        let e = self.entries().get(index)?;
        e.interval.as_ref()?;
        Some(Slot {
            index: u16::try_from(index).ok()?,
            generation: e.generation,
        })
    }

    /// Whether an entry other than `except` that `pred` accepts overlaps the range.
    pub fn overlaps(
        &self,
        sector: u64,
        size: u32,
        except: Option<Slot>,
        pred: impl Fn(&Interval) -> bool,
    ) -> bool {
        if self.used == 0 {
            return false;
        }
        self.entries().iter().enumerate().any(|(i, e)| {
            except.is_none_or(|x| x.index() != i)
                && e.interval
                    .as_ref()
                    .is_some_and(|e| e.overlaps(sector, size) && pred(e))
        })
    }

    /// The first entry accepted by `pred`, with its slot.
    pub fn find(&self, pred: impl Fn(&Interval) -> bool) -> Option<(Slot, Interval)> {
        if self.used == 0 {
            return None;
        }
        self.entries().iter().enumerate().find_map(|(i, entry)| {
            let e = entry.interval.as_ref()?;
            let slot = Slot {
                index: u16::try_from(i).ok()?,
                generation: entry.generation,
            };
            pred(e).then_some((slot, *e))
        })
    }

    /// Drop every entry `pred` accepts (the connection is gone; the caller forgets what it
    /// tracked). Handles of dropped entries go stale.
    pub fn clear_where(&mut self, pred: impl Fn(&Interval) -> bool) {
        let mut cleared = 0;
        for e in self.entries_mut() {
            if e.interval.as_ref().is_some_and(&pred) {
                e.interval = None;
                cleared += 1;
            }
        }
        self.used -= cleared;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn iv(sector: u64, size: u32, kind: IoKind) -> Interval {
        Interval {
            sector,
            size,
            kind,
            submitted: true,
            arrival: 0,
        }
    }

    #[test]
    fn overlap_is_by_sector() {
        let a = iv(8, 4096, IoKind::AppWrite);
        assert!(a.overlaps(15, 512));
        assert!(!a.overlaps(16, 512));
        assert!(!a.overlaps(0, 4096));
        assert!(a.overlaps(0, 4097));
    }

    #[test]
    fn insert_remove_find_and_capacity() {
        let mut t = Conflicts::new([SlotEntry::default(); 2]);
        let s1 = t.insert(iv(0, 4096, IoKind::ResyncRead)).unwrap();
        let s2 = t.insert(iv(8, 4096, IoKind::AppWrite)).unwrap();
        assert_eq!(t.insert(iv(16, 4096, IoKind::AppWrite)), Err(TableFull));
        assert!(t.overlaps(4, 4096, None, |e| e.kind == IoKind::AppWrite));
        assert!(!t.overlaps(4, 4096, Some(s2), |e| e.kind == IoKind::AppWrite));
        assert_eq!(
            t.find(|e| e.kind == IoKind::ResyncRead).map(|f| f.0),
            Some(s1)
        );
        assert_eq!(t.remove(s1).map(|e| e.kind), Some(IoKind::ResyncRead));
        assert_eq!(t.remove(s1), None);
        assert_eq!(t.len(), 1);
        // The freed slot is reused; the old handle does not reach the new entry.
        let s3 = t.insert(iv(32, 4096, IoKind::PeerWrite)).unwrap();
        assert_eq!(s3.index(), s1.index());
        assert_eq!(t.remove(s1), None);
        assert!(t.get(s1).is_none());
        assert_eq!(t.get(s3).map(|e| e.kind), Some(IoKind::PeerWrite));
        assert_eq!(t.remove(s3).map(|e| e.sector), Some(32));
        t.clear_where(|_| true);
        assert!(t.is_empty());
    }
}
