// SPDX-License-Identifier: GPL-2.0
/*
 * Wake-ups and an event list that interrupt context may feed (see rust/glue/events.rs):
 * 6.12's Rust has neither wait_event() nor llist, and no irq-safe lock.
 */
#include <linux/llist.h>
#include <linux/sched.h>
#include <linux/wait.h>

#include <linux/slab.h>

#include "helpers.h"

struct drbd_rs_wakeup {
	wait_queue_head_t wq;
	atomic_t kicked;
};

struct drbd_rs_wakeup *drbd_rs_wakeup_new(void)
{
	struct drbd_rs_wakeup *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (w) {
		init_waitqueue_head(&w->wq);
		atomic_set(&w->kicked, 0);
	}
	return w;
}

void drbd_rs_wakeup_free(struct drbd_rs_wakeup *w)
{
	kfree(w);
}

void drbd_rs_wakeup_kick(struct drbd_rs_wakeup *w)
{
	atomic_set(&w->kicked, 1);
	/* Pairs with the barrier in wait_event's condition check (set_current_state). */
	smp_mb__after_atomic();
	wake_up_all(&w->wq);
}

/* Sleep until kicked (the kick is consumed) or timeout_ms pass (0: no limit). */
void drbd_rs_wakeup_wait(struct drbd_rs_wakeup *w, unsigned int timeout_ms)
{
	if (timeout_ms)
		wait_event_interruptible_timeout(w->wq, atomic_xchg(&w->kicked, 0),
						 msecs_to_jiffies(timeout_ms));
	else
		wait_event_interruptible(w->wq, atomic_xchg(&w->kicked, 0));
}

/*
 * Give the CPU to whoever waits for it. Our threads loop over queues and sockets that
 * other threads feed; under PREEMPT_NONE a loop that never sleeps would starve them (and
 * RCU) on a one-CPU machine. The macro also checks that we may sleep here.
 */
void drbd_rs_cond_resched(void)
{
	cond_resched();
}

struct llist_head *drbd_rs_llist_new(void)
{
	struct llist_head *head = kzalloc(sizeof(*head), GFP_KERNEL);

	if (head)
		init_llist_head(head);
	return head;
}

void drbd_rs_llist_free(struct llist_head *head)
{
	kfree(head);
}


bool drbd_rs_llist_add(struct llist_node *node, struct llist_head *head)
{
	return llist_add(node, head);
}

/* Everything pushed so far, oldest first. */
struct llist_node *drbd_rs_llist_take_all(struct llist_head *head)
{
	return llist_reverse_order(llist_del_all(head));
}
