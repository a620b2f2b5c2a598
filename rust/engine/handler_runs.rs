// SPDX-License-Identifier: GPL-2.0
//! The threads that run the handlers of links: `fence-peer` after a Primary lost its peer
//! (drbd's `drbd_async_h`; [`crate::drbd_core::replication::fencing`]), and each link's
//! helper thread, which runs the device-level helpers one after the other, among them
//! `before-resync-target` / `before-resync-source`, whose answer a resync waits for
//! ([`crate::drbd_core::replication::resync_handlers`]). The decisions are the core's.
//!
//! A handler may run for a long time (cluster manager calls) and reads `/proc/drbd`, which
//! waits for admin requests to finish: nothing may wait for the handler while holding the
//! registry — a link's `stop` (under the registry, for `down`) must not join it. So these
//! threads do not belong to their link: each holds its link alive until it is done, and the
//! module keeps the handles, joins finished ones when the next starts, and all at unload
//! (after the devices are gone and with no lock held).

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::glue::kthread::Kthread;

struct Run {
    /// Held for its drop, which joins the thread.
    _thread: Kthread,
    done: Arc<AtomicBool>,
}

/// The module's handler threads.
#[pin_data]
pub(crate) struct HandlerRuns {
    #[pin]
    runs: Mutex<KVec<Run>>,
}

impl HandlerRuns {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                runs <- kernel::new_mutex!(KVec::new(), "drbd_rs:handler_runs"),
            }),
            GFP_KERNEL,
        )
    }

    /// Run `body` on a new thread named `name`.
    pub(crate) fn start(
        &self,
        name: fmt::Arguments<'_>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result {
        let done = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
        let finished = done.clone();
        let mut runs = self.runs.lock();
        // Keep the running ones; joining a thread whose body has returned does not wait.
        // The room is made first: no push below can fail (a failed push would join a
        // running thread here).
        let mut kept = KVec::with_capacity(runs.len() + 1, GFP_KERNEL)?;
        for run in core::mem::replace(&mut *runs, KVec::new()) {
            if !run.done.load(Ordering::Acquire) {
                kept.push(run, GFP_KERNEL)?;
            }
        }
        *runs = kept;
        let thread = Kthread::spawn(name, move || {
            body();
            finished.store(true, Ordering::Release);
        })?;
        runs.push(
            Run {
                _thread: thread,
                done,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Wait for every thread (module unload: no device is left, no lock is held).
    pub(crate) fn join_all(&self) {
        let runs = core::mem::replace(&mut *self.runs.lock(), KVec::new());
        drop(runs);
    }
}
