/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's interface (see helpers.c). Rust declares the same prototypes in
 * rust/glue/ffi.rs; keep both in step.
 */
#ifndef DRBD_RS_HELPERS_H
#define DRBD_RS_HELPERS_H

#include <linux/types.h>

struct seq_file;
struct proc_dir_entry;

unsigned int drbd_rs_param_minor_count(void);
void drbd_rs_param_set_minor_count(unsigned int value);

struct proc_dir_entry *drbd_rs_proc_create(const char *name,
					   int (*show)(struct seq_file *, void *), void *data);
void drbd_rs_proc_remove(struct proc_dir_entry *entry);
void *drbd_rs_seq_private(struct seq_file *m);
int drbd_rs_seq_write(struct seq_file *m, const void *data, size_t len);

int drbd_rs_genl_register(const char *name, unsigned int version, unsigned int hdrsize,
			  unsigned int maxattr, const char *mcgrp_name, u8 resv_start_op);
void drbd_rs_genl_unregister(void);

#endif
