// SPDX-License-Identifier: GPL-2.0
/*
 * C shim for the kernel interfaces Linux 6.12's Rust bindings lack: procfs single files,
 * generic netlink and C-only module parameters. Mechanism only: every decision is made in
 * Rust; each function here adapts C types, macros or static inlines to plain pointers and
 * lengths. Rust declares these prototypes in rust/glue/ffi.rs (and helpers.h); keep them in step.
 * Block devices and bios are in block_helpers.c, sockets in net_helpers.c.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/proc_fs.h>
#include <linux/rwsem.h>
#include <linux/umh.h>
#include <linux/seq_file.h>
#include <net/genetlink.h>

#include "helpers.h"

/* ---- module parameters (6.12's Rust `module!` has none) ---- */

/* 0 = not given; the Rust side validates it and stores the value in effect. */
static unsigned int minor_count;
module_param(minor_count, uint, 0444);
MODULE_PARM_DESC(minor_count, "Approximate number of drbd devices (1-255)");

unsigned int drbd_rs_param_minor_count(void)
{
	return minor_count;
}

void drbd_rs_param_set_minor_count(unsigned int value)
{
	minor_count = value;
}

/* ---- user-mode helper ---- */

static char usermode_helper[80] = "/sbin/drbdadm";
module_param_string(usermode_helper, usermode_helper, sizeof(usermode_helper), 0644);
MODULE_PARM_DESC(usermode_helper, "Program run for drbd's handlers (default /sbin/drbdadm)");

/* The helper program's path (NUL-terminated, truncated to @len) into @buf. */
void drbd_rs_usermode_helper(char *buf, size_t len)
{
	kernel_param_lock(THIS_MODULE);
	strscpy(buf, usermode_helper, len);
	kernel_param_unlock(THIS_MODULE);
}

/*
 * Run "<usermode_helper> @cmd @target" with drbd's environment (and the peer's address
 * family and address when both are given) and wait for it to end, as drbd_khelper does.
 * The callers are threads of their own (a helper may run drbdadm against the device that
 * called it). Returns the wait status (exit code << 8) or a negative errno.
 */
int drbd_rs_run_helper(const char *cmd, const char *target, const char *peer_af,
		       const char *peer_address)
{
	char path[sizeof(usermode_helper)];
	char af[32], addr[80];
	char *envp[] = { "HOME=/", "TERM=linux", "PATH=/sbin:/usr/sbin:/bin:/usr/bin",
			 NULL, NULL, NULL };
	char *argv[] = { path, (char *)cmd, (char *)target, NULL };

	drbd_rs_usermode_helper(path, sizeof(path));
	if (peer_af && peer_address) {
		snprintf(af, sizeof(af), "DRBD_PEER_AF=%s", peer_af);
		snprintf(addr, sizeof(addr), "DRBD_PEER_ADDRESS=%s", peer_address);
		envp[3] = af;
		envp[4] = addr;
	}
	/*
	 * Killable: a handler may take long (crm-fence-peer.sh waits for the cluster), and a
	 * killable wait is not a hung task; nothing sends our kthreads signals.
	 */
	return call_usermodehelper(path, argv, envp, UMH_WAIT_PROC | UMH_KILLABLE);
}

/* ---- procfs ---- */

/* A read-only file in /proc's root whose @show gets @data back from drbd_rs_seq_private(). */
struct proc_dir_entry *drbd_rs_proc_create(const char *name,
					   int (*show)(struct seq_file *, void *), void *data)
{
	return proc_create_single_data(name, 0444, NULL, show, data);
}

void *drbd_rs_seq_private(struct seq_file *m)
{
	return m->private;
}

void drbd_rs_proc_remove(struct proc_dir_entry *entry)
{
	proc_remove(entry);
}

/* Returns 0, or -1 when the seq_file buffer is full (seq_read then retries bigger). */
int drbd_rs_seq_write(struct seq_file *m, const void *data, size_t len)
{
	return seq_write(m, data, len);
}

/* ---- generic netlink ---- */

/*
 * One family object, described by Rust at registration time. genl_register_family() keeps a
 * pointer to it, so it must live as long as the registration: it is static here and Rust
 * guarantees a single registration at a time.
 */
static struct genl_multicast_group drbd_rs_genl_mcgrps[1];
static struct genl_family drbd_rs_genl_family;

static struct genl_ops drbd_rs_genl_ops[DRBD_RS_GENL_MAX_OPS];

/*
 * Notifications may be sent by device threads until the devices are gone, which is after the
 * family is unregistered at module unload: the flag, under the semaphore, says whether the
 * family may still be used. Sequence numbers of notifications are module-global, as drbd's.
 */
static DECLARE_RWSEM(drbd_rs_genl_mcast_sem);
static bool drbd_rs_genl_registered;
static atomic_t drbd_rs_genl_mcast_seq = ATOMIC_INIT(0);

/* The whole request message goes to Rust, which parses and validates it itself. */
static int drbd_rs_genl_doit_adapter(struct sk_buff *skb, struct genl_info *info)
{
	return drbd_rs_genl_doit(info, info->nlhdr, info->nlhdr->nlmsg_len);
}

/* Netlink dump protocol: return the bytes added by this call; 0 ends the dump. */
static int drbd_rs_genl_dumpit_adapter(struct sk_buff *skb, struct netlink_callback *cb)
{
	int err = drbd_rs_genl_dumpit(skb, cb, cb->nlh, cb->nlh->nlmsg_len, cb->args);

	return err < 0 ? err : skb->len;
}

int drbd_rs_genl_register(const char *name, unsigned int version, unsigned int hdrsize,
			  unsigned int maxattr, const char *mcgrp_name, u8 resv_start_op,
			  const struct drbd_rs_genl_cmd *cmds, unsigned int n_cmds)
{
	unsigned int i;
	int err;

	if (n_cmds > DRBD_RS_GENL_MAX_OPS)
		return -E2BIG;
	memset(drbd_rs_genl_ops, 0, sizeof(drbd_rs_genl_ops));
	for (i = 0; i < n_cmds; i++) {
		struct genl_ops *op = &drbd_rs_genl_ops[i];

		op->cmd = cmds[i].cmd;
		op->validate = GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP;
		if (cmds[i].flags & DRBD_RS_GENL_ADMIN)
			op->flags |= GENL_ADMIN_PERM;
		if (cmds[i].flags & DRBD_RS_GENL_DOIT)
			op->doit = drbd_rs_genl_doit_adapter;
		if (cmds[i].flags & DRBD_RS_GENL_DUMPIT)
			op->dumpit = drbd_rs_genl_dumpit_adapter;
	}
	memset(&drbd_rs_genl_family, 0, sizeof(drbd_rs_genl_family));
	memset(drbd_rs_genl_mcgrps, 0, sizeof(drbd_rs_genl_mcgrps));
	strscpy(drbd_rs_genl_family.name, name, sizeof(drbd_rs_genl_family.name));
	strscpy(drbd_rs_genl_mcgrps[0].name, mcgrp_name, sizeof(drbd_rs_genl_mcgrps[0].name));
	drbd_rs_genl_family.version = version;
	drbd_rs_genl_family.hdrsize = hdrsize;
	drbd_rs_genl_family.maxattr = maxattr;
	drbd_rs_genl_family.resv_start_op = resv_start_op;
	drbd_rs_genl_family.mcgrps = drbd_rs_genl_mcgrps;
	drbd_rs_genl_family.n_mcgrps = ARRAY_SIZE(drbd_rs_genl_mcgrps);
	drbd_rs_genl_family.module = THIS_MODULE;
	drbd_rs_genl_family.ops = drbd_rs_genl_ops;
	drbd_rs_genl_family.n_ops = n_cmds;
	err = genl_register_family(&drbd_rs_genl_family);
	if (!err) {
		down_write(&drbd_rs_genl_mcast_sem);
		drbd_rs_genl_registered = true;
		up_write(&drbd_rs_genl_mcast_sem);
	}
	return err;
}

/* @payload = the family header (hdrsize bytes, reserved by genlmsg_put) + attributes. */
static int drbd_rs_genl_fill(struct sk_buff *skb, void *hdr, const void *payload, size_t len)
{
	unsigned int hdrsize = drbd_rs_genl_family.hdrsize;

	if (len < hdrsize || skb_tailroom(skb) < len - hdrsize)
		return -EMSGSIZE;
	memcpy(hdr, payload, hdrsize);
	skb_put_data(skb, payload + hdrsize, len - hdrsize);
	genlmsg_end(skb, hdr);
	return 0;
}

int drbd_rs_genl_reply(struct genl_info *info, u8 cmd, const void *payload, size_t len)
{
	struct sk_buff *skb = genlmsg_new(len, GFP_KERNEL);
	void *hdr;
	int err;

	if (!skb)
		return -ENOMEM;
	hdr = genlmsg_put_reply(skb, info, &drbd_rs_genl_family, 0, cmd);
	err = hdr ? drbd_rs_genl_fill(skb, hdr, payload, len) : -EMSGSIZE;
	if (err) {
		nlmsg_free(skb);
		return err;
	}
	return genlmsg_reply(skb, info);
}

int drbd_rs_genl_dump_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd,
			  const void *payload, size_t len)
{
	void *hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				&drbd_rs_genl_family, NLM_F_MULTI, cmd);
	int err;

	if (!hdr)
		return -EMSGSIZE;
	err = drbd_rs_genl_fill(skb, hdr, payload, len);
	if (err)
		genlmsg_cancel(skb, hdr);
	return err;
}

/*
 * Send @payload as command @cmd to the family's multicast group (portid 0). Returns 0, or
 * -ESRCH when nobody listens (not an error for the caller), or another negative errno.
 * Process context; GFP_NOIO because device threads call it on the I/O path.
 */
int drbd_rs_genl_multicast(u8 cmd, const void *payload, size_t len)
{
	struct sk_buff *skb;
	void *hdr;
	int err;

	down_read(&drbd_rs_genl_mcast_sem);
	if (!drbd_rs_genl_registered) {
		err = -ESRCH;
		goto out;
	}
	skb = genlmsg_new(len, GFP_NOIO);
	if (!skb) {
		err = -ENOMEM;
		goto out;
	}
	hdr = genlmsg_put(skb, 0, atomic_inc_return(&drbd_rs_genl_mcast_seq),
			  &drbd_rs_genl_family, 0, cmd);
	err = hdr ? drbd_rs_genl_fill(skb, hdr, payload, len) : -EMSGSIZE;
	if (err) {
		nlmsg_free(skb);
		goto out;
	}
	err = genlmsg_multicast(&drbd_rs_genl_family, skb, 0, 0, GFP_NOIO);
out:
	up_read(&drbd_rs_genl_mcast_sem);
	return err;
}

void drbd_rs_genl_unregister(void)
{
	down_write(&drbd_rs_genl_mcast_sem);
	drbd_rs_genl_registered = false;
	up_write(&drbd_rs_genl_mcast_sem);
	genl_unregister_family(&drbd_rs_genl_family);
}
