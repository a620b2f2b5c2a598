// SPDX-License-Identifier: GPL-2.0
//! `drbdN_worker`: the per-device thread that runs the device's slow work in order, and —
//! while the device has a connection — the connection's service loop (completions, timers,
//! sending), see [`Service`].

use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, CondVar, Mutex};

use crate::glue::events::Wakeup;
use crate::glue::kthread::{Body, Kthread};
use crate::glue::sys;

/// Work the worker thread does on every wake-up besides its jobs (the connection's loop).
pub(crate) trait Service: Send + Sync {
    /// Handle whatever is pending; called after every wake-up and at least every
    /// [`SERVICE_PERIOD_MS`].
    fn round(self: ArcBorrow<'_, Self>);
}

/// Longest sleep of a worker with a [`Service`] (the connection's timer resolution).
pub(crate) const SERVICE_PERIOD_MS: u32 = 100;

/// A job for the worker.
pub(crate) type Job = KBox<dyn Body>;

struct Queue {
    jobs: KVec<Job>,
    /// Jobs queued and not yet finished (queued + running).
    unfinished: usize,
    stopping: bool,
    service: Option<Arc<dyn Service>>,
}

#[pin_data]
struct Shared {
    #[pin]
    queue: Mutex<Queue>,
    wake: Arc<Wakeup>,
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
        let wake = Arc::new(Wakeup::new()?, GFP_KERNEL)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                queue <- kernel::new_mutex!(Queue { jobs: KVec::new(), unfinished: 0, stopping: false, service: None }, "drbd_rs:worker_queue"),
                wake,
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
    #[allow(dead_code)]
    pub(crate) fn queue(&self, job: Job) -> Result {
        let mut q = self.shared.queue.lock();
        q.jobs.push(job, GFP_KERNEL)?;
        q.unfinished += 1;
        drop(q);
        self.shared.wake.kick();
        Ok(())
    }

    /// Run `service` on every wake-up from now on (None: stop running it). When this returns
    /// with None, the old service is not running and will not run again.
    pub(crate) fn set_service(&self, service: Option<Arc<dyn Service>>) {
        let old = core::mem::replace(&mut self.shared.queue.lock().service, service);
        self.shared.wake.kick();
        if old.is_some() {
            // A run in progress holds its own reference; a queued no-op job finishes after it.
            self.flush_with_marker();
        }
    }

    /// The wake-up of the thread: kicking it runs the service soon (any context).
    pub(crate) fn wakeup(&self) -> Arc<Wakeup> {
        self.shared.wake.clone()
    }

    /// Wait until the thread passed one loop iteration that started after this call.
    fn flush_with_marker(&self) {
        if let Ok(job) = crate::glue::kthread::Once::boxed(|| {}) {
            if self.queue(job).is_ok() {
                self.flush();
            }
        }
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
        self.shared.wake.kick();
        // Joins the thread, which drains the queue before it returns.
        drop(self.thread.take());
    }
}

fn run(shared: Arc<Shared>) {
    loop {
        let q = shared.queue.lock();
        let (stopping, idle, has_service) = (q.stopping, q.jobs.is_empty(), q.service.is_some());
        drop(q);
        if idle && !stopping {
            // The wake-up's sleep is interruptible: an idle thread must not count towards
            // the load average or trip the hung-task detector.
            shared
                .wake
                .wait(if has_service { SERVICE_PERIOD_MS } else { 0 });
        }
        let mut q = shared.queue.lock();
        if q.stopping && q.jobs.is_empty() {
            return;
        }
        // Take the whole batch; jobs queued meanwhile form the next one, so order is kept.
        let batch = core::mem::replace(&mut q.jobs, KVec::new());
        let service = q.service.clone();
        drop(q);
        if let Some(service) = service {
            service.as_arc_borrow().round();
        }
        let mut done = 0;
        for mut job in batch {
            job.run();
            done += 1;
        }
        if done > 0 {
            let mut q = shared.queue.lock();
            q.unfinished -= done;
            if q.unfinished == 0 {
                shared.idle.notify_all();
            }
        }
        // A kicked wake-up does not sleep: rounds may follow each other without a pause.
        sys::cond_resched();
    }
}
