// SPDX-License-Identifier: GPL-2.0
//! `glue::events`: how completions reach the worker. A kick before the wait is not lost; a
//! wait without a kick ends at its timeout; events pushed from another thread arrive whole
//! and oldest first; events never pushed, and events left on a list, are freed.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::{ktime_ms_delta, Ktime};

use crate::glue::events::{Event, EventList, Wakeup};
use crate::glue::kthread::Kthread;

fn kick_before_wait_is_not_lost() {
    let Ok(w) = Wakeup::new() else {
        check!(false);
        return;
    };
    w.kick();
    let start = Ktime::ktime_get();
    w.wait(10_000);
    // Returned at once, not after the 10 s timeout.
    check!(ktime_ms_delta(Ktime::ktime_get(), start) < 5_000);
    // The kick was consumed: the next wait runs into its timeout.
    let start = Ktime::ktime_get();
    w.wait(50);
    check!(ktime_ms_delta(Ktime::ktime_get(), start) >= 40);
}

/// Counts drops, to see that every value is freed exactly once.
struct Counted {
    value: u32,
    drops: Arc<AtomicU32>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

fn events_from_another_thread_arrive_in_order() {
    const N: u32 = 200;
    let (Ok(list), Ok(wake), Ok(drops)) = (
        EventList::<Counted>::new(),
        Wakeup::new(),
        Arc::new(AtomicU32::new(0), GFP_KERNEL),
    ) else {
        check!(false);
        return;
    };
    let (Ok(list), Ok(wake)) = (Arc::new(list, GFP_KERNEL), Arc::new(wake, GFP_KERNEL)) else {
        check!(false);
        return;
    };
    let (l, w, d) = (list.clone(), wake.clone(), drops.clone());
    let producer = Kthread::spawn(format_args!("drbd_rs_kt_ev"), move || {
        for value in 0..N {
            let Ok(mut ev) = Event::new() else {
                return;
            };
            ev.set(Counted {
                value,
                drops: d.clone(),
            });
            l.push(ev);
            w.kick();
        }
    });
    check!(producer.is_ok());
    let mut next = 0;
    let start = Ktime::ktime_get();
    while next < N && ktime_ms_delta(Ktime::ktime_get(), start) < 20_000 {
        wake.wait(100);
        for c in list.take_all() {
            check_eq!(c.value, next);
            next += 1;
        }
    }
    check_eq!(next, N);
    drop(producer);
    check_eq!(drops.load(Ordering::Relaxed), N);
}

fn unpushed_and_untaken_events_are_freed() {
    let (Ok(list), Ok(drops)) = (
        EventList::<Counted>::new(),
        Arc::new(AtomicU32::new(0), GFP_KERNEL),
    ) else {
        check!(false);
        return;
    };
    for value in 0..3 {
        let Ok(mut ev) = Event::new() else {
            check!(false);
            return;
        };
        ev.set(Counted {
            value,
            drops: drops.clone(),
        });
        if value == 0 {
            drop(ev);
        } else {
            list.push(ev);
        }
    }
    // An empty event pushed is skipped by the consumer.
    if let Ok(empty) = Event::new() {
        list.push(empty);
    }
    check_eq!(drops.load(Ordering::Relaxed), 1);
    // Take one, leave the rest on the list: dropping the batch and the list frees them.
    let mut batch = list.take_all();
    check_eq!(batch.next().map(|c| c.value), Some(1));
    drop(batch);
    check_eq!(drops.load(Ordering::Relaxed), 3);
    if let Ok(mut ev) = Event::new() {
        ev.set(Counted {
            value: 9,
            drops: drops.clone(),
        });
        list.push(ev);
    }
    drop(list);
    check_eq!(drops.load(Ordering::Relaxed), 4);
}

kunit_suite!(
    EVENTS_SUITE,
    "drbd_rs_events",
    [
        kick_before_wait_is_not_lost,
        events_from_another_thread_arrive_in_order,
        unpushed_and_untaken_events_are_freed
    ]
);
