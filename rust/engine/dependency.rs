// SPDX-License-Identifier: GPL-2.0
//! `resync-after` across devices: the dependency board.
//!
//! Whether a device's resync must wait ([`dependency_syncing`] in the core) depends on the
//! states of other devices, which change in their own link threads. Those threads must never
//! take the registry lock (admin operations hold it while they stop link threads), so the
//! devices meet here instead: one entry per minor with what the rules look at (state, disk,
//! `resync-after` option) and, while the device has a connection, its [`Link`], which takes
//! the verdicts. A device without a link keeps its `aftr_isp` here (drbd sets the flag for a
//! StandAlone device with a disk as well); `Device` reads it back, and `connect` hands it to
//! the new link.
//!
//! A pass ([`Dependencies::pass`]) re-reads every link's state, then applies the verdicts of
//! [`settle_dependencies`], all under the board's mutex, so passes are serialized and none
//! applies a verdict computed from states older than another pass's. Lock order: registry →
//! board → one link's `st` at a time; nothing takes the board while holding a link's `st`.
//! Passes run after every admin request (under the registry) and from a link's worker after
//! its state changed ([`Dependencies::link_changed`]); a pass never starts another one (a
//! verdict's own state change is seen by that link's worker, whose next pass finds nothing
//! to do), and [`settle_dependencies`] bounds its sweeps.
//!
//! [`dependency_syncing`]: crate::drbd_core::replication::sync_control::dependency_syncing

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::drbd_core::replication::sync_control::{
    settle_dependencies, takes_dependency_verdict, DependencyEntry, DependencyNode,
    RESYNC_AFTER_NONE,
};
use crate::drbd_core::state::State;
use crate::engine::link::Link;
use crate::glue::sys::NoIo;

/// The minor of a free entry (above every real minor, so no chain leads to it).
const FREE: u32 = u32::MAX;

/// A free (or fresh) entry: an unconfigured device, which takes no verdict.
const fn unconfigured(minor: u32) -> DependencyEntry {
    DependencyEntry {
        minor,
        node: DependencyNode {
            state: State::UNCONFIGURED,
            has_disk: false,
            resync_after: RESYNC_AFTER_NONE,
        },
    }
}

struct Board {
    /// What the rules see, one entry per minor (index-aligned with `links`).
    entries: KVec<DependencyEntry>,
    /// The connection of each entry's device, if it has one.
    links: KVec<Option<Arc<Link>>>,
}

impl Board {
    fn index(&self, minor: u32) -> Option<usize> {
        self.entries.iter().position(|e| e.minor == minor)
    }

    /// The pass over the locked board.
    fn pass(&mut self) {
        let Board { entries, links } = self;
        for (entry, link) in entries.iter_mut().zip(links.iter()) {
            if let Some(link) = link {
                entry.node.state = link.state();
            }
        }
        settle_dependencies(entries.as_mut_slice(), |index, state, verdict| match links
            .get(index)
            .and_then(|l| l.as_ref())
        {
            Some(link) => link.dependency_syncing(verdict),
            None => State {
                aftr_isp: verdict,
                ..*state
            },
        });
    }
}

/// The board (see the module documentation), shared by the registry's devices and their
/// links.
#[pin_data]
pub(crate) struct Dependencies {
    #[pin]
    board: Mutex<Board>,
}

impl Dependencies {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                board <- kernel::new_mutex!(
                    Board { entries: KVec::new(), links: KVec::new() },
                    "drbd_rs:dependencies"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// A new minor: an unconfigured entry (a free one is reused).
    pub(crate) fn add(&self, minor: u32) -> Result {
        // Link workers, which complete our writeback, wait for this lock: allocate without
        // I/O under it.
        let _noio = NoIo::enter();
        let mut board = self.board.lock();
        if board.index(minor).is_some() {
            return Ok(());
        }
        if let Some(free) = board.index(FREE) {
            if let Some(e) = board.entries.get_mut(free) {
                *e = unconfigured(minor);
            }
            return Ok(());
        }
        board.entries.reserve(1, GFP_KERNEL)?;
        board.links.reserve(1, GFP_KERNEL)?;
        board.entries.push(unconfigured(minor), GFP_KERNEL)?;
        board.links.push(None, GFP_KERNEL)?;
        Ok(())
    }

    /// The minor is gone: its entry is free (and its link, if any, let go).
    pub(crate) fn remove(&self, minor: u32) {
        let mut board = self.board.lock();
        let Some(i) = board.index(minor) else {
            return;
        };
        if let Some(e) = board.entries.get_mut(i) {
            *e = unconfigured(FREE);
        }
        let link = board.links.get_mut(i).and_then(|l| l.take());
        drop(board);
        drop(link);
    }

    /// What the device itself knows (admin context): whether it has a disk, its
    /// `resync-after`, its connection. Without one, `state` is the device's own, except for
    /// `aftr_isp`, which the board keeps (carried over from the link that ended, cleared for
    /// an unconfigured device). With one, the link's state is read by the next pass.
    pub(crate) fn update(
        &self,
        minor: u32,
        has_disk: bool,
        resync_after: i32,
        state: State,
        link: Option<&Arc<Link>>,
    ) {
        let mut board = self.board.lock();
        let Some(i) = board.index(minor) else {
            return;
        };
        let old_link = match board.links.get_mut(i) {
            Some(slot) => core::mem::replace(slot, link.cloned()),
            None => None,
        };
        if let Some(e) = board.entries.get_mut(i) {
            e.node.has_disk = has_disk;
            e.node.resync_after = resync_after;
            if link.is_none() {
                let mut s = State {
                    aftr_isp: e.node.state.aftr_isp,
                    ..state
                };
                if !takes_dependency_verdict(&s) {
                    s.aftr_isp = false;
                }
                e.node.state = s;
            }
        }
        drop(board);
        // The last reference to an ended link may go here: not under the board's lock.
        drop(old_link);
    }

    /// `aftr_isp` of a device without a link.
    pub(crate) fn aftr_isp(&self, minor: u32) -> bool {
        let board = self.board.lock();
        board
            .index(minor)
            .and_then(|i| board.entries.get(i))
            .is_some_and(|e| e.node.state.aftr_isp)
    }

    /// Bring every device's `aftr_isp` in line with its chain.
    pub(crate) fn pass(&self) {
        self.board.lock().pass();
    }

    /// From `link`'s worker after its service: if `link` is a device's current connection and
    /// its state differs from what the board saw last, run a pass. Never call it with the
    /// link's `st` held.
    pub(crate) fn link_changed(&self, link: &Link) {
        let mut board = self.board.lock();
        let Some(i) = board
            .links
            .iter()
            .position(|l| l.as_deref().is_some_and(|l| core::ptr::eq(l, link)))
        else {
            return;
        };
        let state = link.state();
        if board.entries.get(i).is_some_and(|e| e.node.state == state) {
            return;
        }
        board.pass();
    }
}
