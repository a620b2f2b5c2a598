/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's interface (helpers.c, block_helpers.c, net_helpers.c, event_helpers.c).
 * Rust declares the same prototypes in rust/glue/ffi.rs; keep both in step.
 */
#ifndef DRBD_RS_HELPERS_H
#define DRBD_RS_HELPERS_H

#include <linux/types.h>

struct seq_file;
struct proc_dir_entry;
struct genl_info;
struct sk_buff;
struct netlink_callback;
struct bio;
struct gendisk;
struct block_device;
struct file;
struct page;
struct bio_set;
struct bvec_iter;
struct socket;

/* One generic-netlink command as Rust describes it. */
struct drbd_rs_genl_cmd {
	u8 cmd;
	u8 flags;
};
#define DRBD_RS_GENL_ADMIN  0x01 /* needs CAP_NET_ADMIN (GENL_ADMIN_PERM) */
#define DRBD_RS_GENL_DOIT   0x02
#define DRBD_RS_GENL_DUMPIT 0x04
#define DRBD_RS_GENL_MAX_OPS 48

unsigned int drbd_rs_param_minor_count(void);
void drbd_rs_param_set_minor_count(unsigned int value);

struct proc_dir_entry *drbd_rs_proc_create(const char *name,
					   int (*show)(struct seq_file *, void *), void *data);
void drbd_rs_proc_remove(struct proc_dir_entry *entry);
void *drbd_rs_seq_private(struct seq_file *m);
int drbd_rs_seq_write(struct seq_file *m, const void *data, size_t len);

int drbd_rs_genl_register(const char *name, unsigned int version, unsigned int hdrsize,
			  unsigned int maxattr, const char *mcgrp_name, u8 resv_start_op,
			  const struct drbd_rs_genl_cmd *cmds, unsigned int n_cmds);
void drbd_rs_genl_unregister(void);
int drbd_rs_genl_multicast(u8 cmd, const void *payload, size_t len);
void drbd_rs_usermode_helper(char *buf, size_t len);
int drbd_rs_run_helper(const char *cmd, const char *target, const char *peer_af,
		       const char *peer_address);
int drbd_rs_genl_reply(struct genl_info *info, u8 cmd, const void *payload, size_t len);
int drbd_rs_genl_dump_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd,
			  const void *payload, size_t len);

/* Block devices, bios, data buffers, draining: block_helpers.c. */
struct gendisk *drbd_rs_disk_alloc(int major, int minor, unsigned int max_bio_sectors,
				   void *private_data);
int drbd_rs_disk_stack_limits(struct gendisk *disk, struct block_device *lower,
			      unsigned int max_bio_sectors);
struct bio *drbd_rs_bio_clone(struct block_device *bdev, struct bio *bio, struct bio_set *bs);
sector_t drbd_rs_bdev_nr_sectors(struct block_device *bdev);
struct file *drbd_rs_bdev_open(const char *path, void *holder);
int drbd_rs_bdev_rw_page(struct block_device *bdev, sector_t sector, struct page *page,
			 bool write, bool flush_fua);
unsigned int drbd_rs_noio_save(void);
void drbd_rs_noio_restore(unsigned int flags);
unsigned int drbd_rs_bio_copy_page(struct bio *bio, struct bvec_iter *iter, struct page *page,
				   unsigned int len, bool to_bio);
struct bio *drbd_rs_buf_bio_alloc(struct block_device *bdev, unsigned short nr_vecs, bool write,
				  bool fua, bool preflush);
struct bio *drbd_rs_bio_kmalloc(unsigned short nr_vecs);
void drbd_rs_bio_kfree(struct bio *bio);
void drbd_rs_wait_var_zero(u32 *var);
void drbd_rs_wake_var(void *var);

/* TCP sockets: net_helpers.c. */
int drbd_rs_sock_create(int family, struct socket **res);
void drbd_rs_sock_set_noio(struct socket *sock);
void drbd_rs_sock_set_reuseaddr(struct socket *sock);
void drbd_rs_sock_set_bufsizes(struct socket *sock, unsigned int sndbuf, unsigned int rcvbuf);
void drbd_rs_sock_set_sndtimeo(struct socket *sock, unsigned long timeo);
void drbd_rs_sock_set_rcvtimeo(struct socket *sock, unsigned long timeo);
void drbd_rs_sock_set_priority(struct socket *sock, u32 priority);
void drbd_rs_sock_set_nodelay(struct socket *sock);
void drbd_rs_sock_set_quickack(struct socket *sock, int val);

/* Wake-ups, scheduling and the interrupt-fed event list: event_helpers.c. */
struct drbd_rs_wakeup;
struct llist_head;
struct llist_node;
struct drbd_rs_wakeup *drbd_rs_wakeup_new(void);
void drbd_rs_wakeup_free(struct drbd_rs_wakeup *w);
void drbd_rs_wakeup_kick(struct drbd_rs_wakeup *w);
void drbd_rs_wakeup_wait(struct drbd_rs_wakeup *w, unsigned int timeout_ms);
void drbd_rs_cond_resched(void);
struct llist_head *drbd_rs_llist_new(void);
void drbd_rs_llist_free(struct llist_head *head);
bool drbd_rs_llist_add(struct llist_node *node, struct llist_head *head);
struct llist_node *drbd_rs_llist_take_all(struct llist_head *head);

/* Implemented in Rust (rust/glue/genl.rs, rust/glue/block.rs). */
int drbd_rs_genl_doit(struct genl_info *info, const void *msg, unsigned int len);
int drbd_rs_genl_dumpit(struct sk_buff *skb, struct netlink_callback *cb, const void *msg,
			unsigned int len, long *cursor);
void drbd_rs_submit_bio(void *disk_private, struct bio *bio);
int drbd_rs_disk_open(void *disk_private, bool write);
void drbd_rs_disk_release(void *disk_private);
void drbd_rs_disk_free(void *disk_private);

#endif
