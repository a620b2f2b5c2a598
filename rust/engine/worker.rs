// SPDX-License-Identifier: GPL-2.0
//! `drbdN_worker`: the per-device thread that runs the device's slow work in order (meta-data
//! writes after state changes now; resync and connection work later).

use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};

use crate::glue::kthread::{Body, Kthread};

/// A job for the worker.
pub(crate) type Job = KBox<dyn Body>;

struct Queue {
    jobs: KVec<Job>,
    /// Jobs queued and not yet finished (queued + running).
    unfinished: usize,
    stopping: bool,
}

#[pin_data]
struct Shared {
    #[pin]
    queue: Mutex<Queue>,
    #[pin]
    wake: CondVar,
    #[pin]
    idle: CondVar,
}

/// The worker thread of one device; stops (after finishing queued jobs) when dropped.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    thread: Option<Kthread>,
}

impl Worker {
    /// Start `drbd<minor>_worker`.
    pub(crate) fn start(minor: u32) -> Result<Self> {
        let shared = Arc::pin_init(
            pin_init!(Shared {
                queue <- kernel::new_mutex!(Queue { jobs: KVec::new(), unfinished: 0, stopping: false }, "drbd_rs:worker_queue"),
                wake <- kernel::new_condvar!("drbd_rs:worker_wake"),
                idle <- kernel::new_condvar!("drbd_rs:worker_idle"),
            }),
            GFP_KERNEL,
        )?;
        let for_thread = shared.clone();
        let thread = Kthread::spawn(format_args!("drbd{minor}_worker"), move || run(for_thread))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Queue `job`; jobs run one at a time in queue order.
    // First users arrive with replication (resync and connection work).
    #[allow(dead_code)]
    pub(crate) fn queue(&self, job: Job) -> Result {
        let mut q = self.shared.queue.lock();
        q.jobs.push(job, GFP_KERNEL)?;
        q.unfinished += 1;
        drop(q);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Wait until every job queued so far has run.
    pub(crate) fn flush(&self) {
        let mut q = self.shared.queue.lock();
        while q.unfinished > 0 {
            self.shared.idle.wait(&mut q);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.queue.lock().stopping = true;
        self.shared.wake.notify_all();
        // Joins the thread, which drains the queue before it returns.
        drop(self.thread.take());
    }
}

fn run(shared: Arc<Shared>) {
    loop {
        let mut q = shared.queue.lock();
        while q.jobs.is_empty() && !q.stopping {
            // Idle is an interruptible sleep: an uninterruptible one would count towards the
            // load average and trip the hung-task detector. Kernel threads get no signals,
            // so the "signal pending" result needs no handling beyond re-checking.
            let _ = shared.wake.wait_interruptible(&mut q);
        }
        if q.jobs.is_empty() {
            // Stopping and nothing left.
            return;
        }
        // Take the whole batch; jobs queued meanwhile form the next one, so order is kept.
        let batch = core::mem::replace(&mut q.jobs, KVec::new());
        drop(q);
        let mut done = 0;
        for mut job in batch {
            job.run();
            done += 1;
        }
        let mut q = shared.queue.lock();
        q.unfinished -= done;
        if q.unfinished == 0 {
            shared.idle.notify_all();
        }
    }
}
