// SPDX-License-Identifier: GPL-2.0
/*
 * C shim for kernel TCP sockets (rust/glue/socket.rs): the initial network namespace, socket
 * options that 6.12 only offers as C helpers or struct fields, and macros such as
 * MAX_SCHEDULE_TIMEOUT. Mechanism only; what to set and when is decided in Rust.
 *
 * Separate from helpers.c so that the KUnit module can link the socket glue alone (helpers.c
 * calls back into Rust code that only drbd_rs.ko has). Prototypes: helpers.h and ffi.rs.
 */
#include <linux/net.h>
#include <linux/sched.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "helpers.h"

/*
 * A TCP socket of @family in the initial namespace. A kernel socket: it pins no namespace,
 * which init_net does not need.
 */
int drbd_rs_sock_create(int family, struct socket **res)
{
	return sock_create_kern(&init_net, family, SOCK_STREAM, IPPROTO_TCP, res);
}

/*
 * The socket's allocations may happen while the block layer waits for us (writeback through
 * a drbd device): they must not recurse into I/O (GFP_NOIO), and must not use the calling
 * task's page fragment, which that task may be in the middle of using itself.
 */
void drbd_rs_sock_set_noio(struct socket *sock)
{
	struct sock *sk = sock->sk;

	lock_sock(sk);
	sk->sk_allocation = GFP_NOIO;
	sk->sk_use_task_frag = false;
	release_sock(sk);
}

void drbd_rs_sock_set_reuseaddr(struct socket *sock)
{
	sock_set_reuseaddr(sock->sk);
}

/*
 * Fixed buffer sizes in bytes; 0 leaves that buffer to TCP's autotuning. Unlike SO_SNDBUF
 * from user space the value is neither doubled nor capped by the sysctls, only raised to the
 * stack's minimum.
 */
void drbd_rs_sock_set_bufsizes(struct socket *sock, unsigned int sndbuf, unsigned int rcvbuf)
{
	struct sock *sk = sock->sk;

	lock_sock(sk);
	if (sndbuf) {
		sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
		WRITE_ONCE(sk->sk_sndbuf, max_t(int, min_t(u32, sndbuf, INT_MAX), SOCK_MIN_SNDBUF));
		/* Writers waiting for room may have it now. */
		sk->sk_write_space(sk);
	}
	if (rcvbuf) {
		sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
		WRITE_ONCE(sk->sk_rcvbuf, max_t(int, min_t(u32, rcvbuf, INT_MAX), SOCK_MIN_RCVBUF));
	}
	release_sock(sk);
}

/* @timeo in jiffies, 0 = wait without limit (as SO_SNDTIMEO/SO_RCVTIMEO from user space). */
static long drbd_rs_timeo(unsigned long timeo)
{
	return timeo && timeo < (unsigned long)MAX_SCHEDULE_TIMEOUT ? (long)timeo : MAX_SCHEDULE_TIMEOUT;
}

/* Send timeout; also bounds a blocking connect(). */
void drbd_rs_sock_set_sndtimeo(struct socket *sock, unsigned long timeo)
{
	struct sock *sk = sock->sk;

	lock_sock(sk);
	WRITE_ONCE(sk->sk_sndtimeo, drbd_rs_timeo(timeo));
	release_sock(sk);
}

/* Receive timeout; also bounds a blocking accept(). */
void drbd_rs_sock_set_rcvtimeo(struct socket *sock, unsigned long timeo)
{
	struct sock *sk = sock->sk;

	lock_sock(sk);
	WRITE_ONCE(sk->sk_rcvtimeo, drbd_rs_timeo(timeo));
	release_sock(sk);
}

void drbd_rs_sock_set_priority(struct socket *sock, u32 priority)
{
	sock_set_priority(sock->sk, priority);
}

void drbd_rs_sock_set_nodelay(struct socket *sock)
{
	tcp_sock_set_nodelay(sock->sk);
}

void drbd_rs_sock_set_quickack(struct socket *sock, int val)
{
	tcp_sock_set_quickack(sock->sk, val);
}
