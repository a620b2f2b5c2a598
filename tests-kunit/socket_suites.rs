// SPDX-License-Identifier: GPL-2.0
//! The socket glue over loopback: connection set-up, whole-buffer and page transfers, the
//! timeouts drbd's ping and ko-count logic rely on, detection of a closed peer, and the stop
//! protocol (a shutdown from another thread wakes a thread blocked in the socket).
//!
//! Assertions only run on the KUnit case's own thread; helper threads report through an
//! [`Outcome`] that the case checks after stopping them. Every helper thread's blocking call
//! has a 10 s limit, so a wake-up that does not come fails the case instead of hanging it.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::error::code::{EINVAL, ENOMEM};
use kernel::page::Page;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::{ktime_ms_delta, Ktime};

use crate::bufio_suites::{fill, holds};
use crate::drbd_core::genl::addr::{self as genl_addr, SockAddr as GenlSockAddr};
use crate::glue::errno;
use crate::glue::kthread::Kthread;
use crate::glue::pagebuf::{PageBuf, MAX_LEN};
use crate::glue::socket::{
    BufferSizes, PageRange, PageRangeMut, Priority, SockAddr, SockError, TcpListener, TcpStream,
    TransferError,
};

const LOOPBACK_V4: [u8; 4] = [127, 0, 0, 1];
const LOOPBACK_V6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// drbd's listen backlog.
const BACKLOG: u32 = 5;
/// Limit of every wait that should end early; reaching it means the wake-up was lost.
const GUARD_MS: u32 = 10_000;
/// A stop must take effect well within this.
const PROMPT_MS: i64 = 3_000;

fn v4(port: u16) -> SockAddr {
    SockAddr::ipv4(LOOPBACK_V4, port)
}

fn sleep_ms(ms: u32) {
    // SAFETY: KUnit cases run in process context, where sleeping is allowed.
    unsafe { kernel::bindings::msleep(ms) };
}

fn now() -> Ktime {
    Ktime::ktime_get()
}

fn ms_since(start: Ktime) -> i64 {
    ktime_ms_delta(now(), start)
}

/// Test data: byte `i` of stream `seed`.
fn pattern_byte(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)).wrapping_add(usize::from(seed)) as u8
}

fn pattern(seed: u8, len: usize) -> Result<KVec<u8>> {
    let mut v = zeroed(len)?;
    for (i, b) in v.iter_mut().enumerate() {
        *b = pattern_byte(seed, i);
    }
    Ok(v)
}

fn zeroed(len: usize) -> Result<KVec<u8>> {
    Ok(KVec::from_elem(0u8, len, GFP_KERNEL)?)
}

/// A listener on `addr` and a connection to it from the same address: (listener, client,
/// server).
fn connected(
    addr: &SockAddr,
    listen_buffers: BufferSizes,
    client_buffers: BufferSizes,
) -> Result<(TcpListener, TcpStream, TcpStream), Error> {
    let listener = TcpListener::bind(addr, BACKLOG, listen_buffers)?;
    let client = TcpStream::new(addr, client_buffers)?;
    client.connect(addr, GUARD_MS)?;
    let server = listener.accept(GUARD_MS)?.ok_or_else(errno::etimedout)?;
    Ok((listener, client, server))
}

/// What a helper thread's socket call returned, for the case to check.
struct Outcome {
    started: AtomicBool,
    /// 0 while running, then [`Outcome::code`] of the result.
    result: AtomicU32,
}

impl Outcome {
    const RUNNING: u32 = 0;
    /// The thread saw wrong data.
    const WRONG_DATA: u32 = 100;

    fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            Outcome {
                started: AtomicBool::new(false),
                result: AtomicU32::new(Self::RUNNING),
            },
            GFP_KERNEL,
        )?)
    }

    fn code(result: Result<(), SockError>) -> u32 {
        match result {
            Ok(()) => 1,
            Err(SockError::TimedOut) => 2,
            Err(SockError::Closed) => 3,
            Err(SockError::ShutDown) => 4,
            Err(SockError::Other(_)) => 5,
        }
    }

    fn start(&self) {
        self.started.store(true, Ordering::Release);
    }

    fn finish(&self, code: u32) {
        self.result.store(code, Ordering::Release);
    }

    fn result(&self) -> u32 {
        self.result.load(Ordering::Acquire)
    }

    /// Wait until the thread is about to block, then give it time to get there.
    fn wait_started(&self) -> bool {
        for _ in 0..200 {
            if self.started.load(Ordering::Acquire) {
                sleep_ms(100);
                return true;
            }
            sleep_ms(10);
        }
        false
    }
}

fn spawn(body: impl FnOnce() + Send + 'static) -> Option<Kthread> {
    Kthread::spawn(format_args!("drbd_rs_ktest"), body).ok()
}

/// Both directions of a fresh connection carry a few KiB intact.
fn exchange_over(addr: SockAddr) {
    let pair = connected(&addr, BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let Ok((listener, client, server)) = pair else {
        return;
    };
    // The options drbd sets on an established connection.
    for s in [&client, &server] {
        s.set_nodelay();
        s.quickack();
        s.set_priority(Priority::InteractiveBulk);
        s.set_send_timeout(GUARD_MS);
        s.set_recv_timeout(GUARD_MS);
    }
    server.set_priority(Priority::Interactive);

    let (Ok(to_server), Ok(to_client)) = (pattern(1, 8195), pattern(2, 5 * 1024)) else {
        check!(false);
        return;
    };
    let (Ok(mut at_server), Ok(mut at_client)) = (zeroed(8195), zeroed(5 * 1024)) else {
        check!(false);
        return;
    };
    // A header with MSG_MORE, then the body: what a packet send looks like.
    check_eq!(client.send_all(&to_server[..8], true), Ok(()));
    check_eq!(client.send_all(&to_server[8..], false), Ok(()));
    check_eq!(server.send_all(&to_client, false), Ok(()));
    check_eq!(server.recv_exact(&mut at_server), Ok(()));
    check_eq!(client.recv_exact(&mut at_client), Ok(()));
    check!(at_server[..] == to_server[..]);
    check!(at_client[..] == to_client[..]);
    // Nothing more in flight: a single receive would wait, a peek does not.
    check!(client.peek_alive() && server.peek_alive());

    // Our side closes first, so the old connection lingers in TIME_WAIT on the listening
    // port; SO_REUSEADDR lets a new listener have the port at once (a reconnect).
    drop(server);
    drop(client);
    drop(listener);
    check!(TcpListener::bind(&addr, BACKLOG, BufferSizes::AUTO).is_ok());
}

fn exchange_ipv4() {
    exchange_over(v4(17701));
}

fn exchange_ipv6() {
    let addr = SockAddr::ipv6(LOOPBACK_V6, 17702);
    // IPv6 is built in (kernel/fragment.config), but ::1 exists only while `lo` is up.
    match TcpListener::bind(&addr, BACKLOG, BufferSizes::AUTO) {
        Err(e) if e == Error::from_errno(-(kernel::bindings::EADDRNOTAVAIL as i32)) => {
            skip!("no ::1 (loopback down or IPv6 off)")
        }
        other => drop(other),
    }
    exchange_over(addr);
}

fn recv_timeout_keeps_the_connection() {
    let pair = connected(&v4(17703), BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let Ok((_listener, client, server)) = pair else {
        return;
    };
    server.set_recv_timeout(100);
    let mut buf = [0u8; 8];

    let start = now();
    check_eq!(server.recv(&mut buf), Err(SockError::TimedOut));
    // HZ=250 and rounding up: the wait is never shorter than asked, give or take a tick.
    check!(ms_since(start) >= 90);

    // A partial packet: the timeout reports how far it got, and the rest can follow.
    check_eq!(client.send_all(&[1, 2, 3], false), Ok(()));
    check_eq!(
        server.recv_exact(&mut buf),
        Err(TransferError {
            kind: SockError::TimedOut,
            done: 3
        })
    );
    check_eq!(client.send_all(&[4, 5, 6, 7, 8], false), Ok(()));
    check_eq!(server.recv_exact(&mut buf[3..]), Ok(()));
    check_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8]);
    check!(server.peek_alive());
}

fn peer_close_is_detected() {
    let pair = connected(&v4(17704), BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let Ok((_listener, client, server)) = pair else {
        return;
    };
    server.set_recv_timeout(GUARD_MS);
    check!(server.peek_alive());
    check_eq!(client.send_all(&[9, 8], false), Ok(()));
    // Data waiting: alive, and peeking took nothing away.
    check!(server.peek_alive());
    let mut buf = [0u8; 2];
    check_eq!(server.recv_exact(&mut buf), Ok(()));
    check_eq!(buf, [9, 8]);

    drop(client);
    check_eq!(
        server.recv_exact(&mut buf),
        Err(TransferError {
            kind: SockError::Closed,
            done: 0
        })
    );
    check!(!server.peek_alive());
    // The closed peer answers data with a reset: sends fail soon.
    let mut send_result = Ok(());
    for _ in 0..50 {
        send_result = server.send_all(&[0u8; 64], false).map_err(|e| e.kind);
        if send_result.is_err() {
            break;
        }
        sleep_ms(10);
    }
    check_eq!(send_result, Err(SockError::Closed));
}

fn shutdown_wakes_blocked_recv() {
    let pair = connected(&v4(17705), BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let Ok((_listener, _client, server)) = pair else {
        return;
    };
    let (Ok(server), Ok(outcome)) = (Arc::new(server, GFP_KERNEL), Outcome::new()) else {
        check!(false);
        return;
    };
    server.set_recv_timeout(GUARD_MS);
    let thread = {
        let (server, outcome) = (server.clone(), outcome.clone());
        spawn(move || {
            let mut buf = [0u8; 16];
            outcome.start();
            let r = server.recv_exact(&mut buf).map_err(|e| e.kind);
            outcome.finish(Outcome::code(r));
        })
    };
    check!(thread.is_some());
    check!(outcome.wait_started());
    check_eq!(outcome.result(), Outcome::RUNNING);

    // The stop protocol: shut the socket down, then stop the thread.
    let start = now();
    server.shutdown();
    drop(thread);
    check!(ms_since(start) < PROMPT_MS);
    check_eq!(outcome.result(), Outcome::code(Err(SockError::ShutDown)));
    // Later calls fail the same way at once.
    check_eq!(server.recv(&mut [0u8; 1]), Err(SockError::ShutDown));
    check!(!server.peek_alive());
}

fn shutdown_wakes_blocked_send() {
    let small = BufferSizes {
        send: 16 * 1024,
        receive: 16 * 1024,
    };
    let pair = connected(&v4(17706), small, small);
    check!(pair.is_ok());
    let Ok((_listener, client, _server)) = pair else {
        return;
    };
    let (Ok(client), Ok(outcome), Ok(data)) = (
        Arc::new(client, GFP_KERNEL),
        Outcome::new(),
        pattern(3, 256 * 1024),
    ) else {
        check!(false);
        return;
    };
    client.set_send_timeout(GUARD_MS);
    let thread = {
        let (client, outcome) = (client.clone(), outcome.clone());
        spawn(move || {
            outcome.start();
            // The peer never reads: this fills both buffers and blocks.
            let r = client.send_all(&data, false).map_err(|e| e.kind);
            outcome.finish(Outcome::code(r));
        })
    };
    check!(thread.is_some());
    check!(outcome.wait_started());
    check_eq!(outcome.result(), Outcome::RUNNING);

    let start = now();
    client.shutdown();
    drop(thread);
    check!(ms_since(start) < PROMPT_MS);
    check_eq!(outcome.result(), Outcome::code(Err(SockError::ShutDown)));
}

fn send_timeout_reports_progress() {
    let small = BufferSizes {
        send: 16 * 1024,
        receive: 16 * 1024,
    };
    let pair = connected(&v4(17707), small, small);
    check!(pair.is_ok());
    let Ok((_listener, client, server)) = pair else {
        return;
    };
    // Far more than the two small buffers hold.
    const LEN: usize = 256 * 1024;
    let (Ok(data), Ok(server), Ok(outcome)) = (
        pattern(4, LEN),
        Arc::new(server, GFP_KERNEL),
        Outcome::new(),
    ) else {
        check!(false);
        return;
    };
    client.set_send_timeout(200);

    // Nobody reads: the send stops after the timeout, and says how much went out.
    let start = now();
    let first = client.send_all(&data, false);
    check!(ms_since(start) >= 190);
    let sent = match first {
        Err(TransferError {
            kind: SockError::TimedOut,
            done,
        }) => done,
        _ => 0,
    };
    check!(sent > 0 && sent < LEN);

    // The connection is intact: once the peer reads, the rest follows (ko-count's retry).
    server.set_recv_timeout(GUARD_MS);
    let thread = {
        let (server, outcome) = (server.clone(), outcome.clone());
        spawn(move || {
            outcome.start();
            let code = match zeroed(LEN) {
                Ok(mut buf) => match server.recv_exact(&mut buf) {
                    Ok(())
                        if buf
                            .iter()
                            .enumerate()
                            .all(|(i, &b)| b == pattern_byte(4, i)) =>
                    {
                        Outcome::code(Ok(()))
                    }
                    Ok(()) => Outcome::WRONG_DATA,
                    Err(e) => Outcome::code(Err(e.kind)),
                },
                Err(_) => Outcome::code(Err(SockError::Other(ENOMEM))),
            };
            outcome.finish(code);
        })
    };
    check!(thread.is_some());
    client.set_send_timeout(GUARD_MS);
    check_eq!(client.send_all(&data[sent..], false), Ok(()));
    // The reader ends by itself once it has everything; then stopping it returns at once.
    for _ in 0..500 {
        if outcome.result() != Outcome::RUNNING {
            break;
        }
        sleep_ms(10);
    }
    drop(thread);
    check_eq!(outcome.result(), Outcome::code(Ok(())));
}

fn accept_times_out_with_none() {
    let listener = TcpListener::bind(&v4(17708), BACKLOG, BufferSizes::AUTO);
    check!(listener.is_ok());
    let Ok(listener) = listener else { return };
    let start = now();
    check!(matches!(listener.accept(100), Ok(None)));
    check!(ms_since(start) >= 90);
}

fn shutdown_wakes_blocked_accept() {
    let (Ok(listener), Ok(outcome)) = (
        TcpListener::bind(&v4(17709), BACKLOG, BufferSizes::AUTO),
        Outcome::new(),
    ) else {
        check!(false);
        return;
    };
    let Ok(listener) = Arc::new(listener, GFP_KERNEL) else {
        check!(false);
        return;
    };
    let thread = {
        let (listener, outcome) = (listener.clone(), outcome.clone());
        spawn(move || {
            outcome.start();
            let r = match listener.accept(GUARD_MS) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(SockError::TimedOut),
                Err(e) => Err(e),
            };
            outcome.finish(Outcome::code(r));
        })
    };
    check!(thread.is_some());
    check!(outcome.wait_started());

    let start = now();
    listener.shutdown();
    drop(thread);
    check!(ms_since(start) < PROMPT_MS);
    check_eq!(outcome.result(), Outcome::code(Err(SockError::ShutDown)));
    check!(matches!(listener.accept(0), Err(SockError::ShutDown)));
}

fn connect_timeout_and_shutdown() {
    let addr = v4(17710);
    // Backlog 0 holds one connection; while it is not accepted, further SYNs are dropped
    // and connecting waits.
    let listener = TcpListener::bind(&addr, 0, BufferSizes::AUTO);
    check!(listener.is_ok());
    let (Ok(first), Ok(second), Ok(third)) = (
        TcpStream::new(&addr, BufferSizes::AUTO),
        TcpStream::new(&addr, BufferSizes::AUTO),
        TcpStream::new(&addr, BufferSizes::AUTO),
    ) else {
        check!(false);
        return;
    };
    check_eq!(first.connect(&addr, GUARD_MS), Ok(()));

    let start = now();
    check_eq!(second.connect(&addr, 200), Err(SockError::TimedOut));
    check!(ms_since(start) >= 190);

    // A connect blocked without limit ends when another thread shuts the socket down.
    let (Ok(third), Ok(outcome)) = (Arc::new(third, GFP_KERNEL), Outcome::new()) else {
        check!(false);
        return;
    };
    let thread = {
        let (third, outcome) = (third.clone(), outcome.clone());
        spawn(move || {
            outcome.start();
            let r = third.connect(&addr, GUARD_MS);
            outcome.finish(Outcome::code(r));
        })
    };
    check!(thread.is_some());
    check!(outcome.wait_started());
    let start = now();
    third.shutdown();
    drop(thread);
    check!(ms_since(start) < PROMPT_MS);
    check_eq!(outcome.result(), Outcome::code(Err(SockError::ShutDown)));
    drop(listener);
}

fn connect_errors() {
    let refused = Error::from_errno(-(kernel::bindings::ECONNREFUSED as i32));
    let (Ok(stream), Ok(other)) = (
        TcpStream::new(&v4(0), BufferSizes::AUTO),
        TcpStream::new(&v4(0), BufferSizes::AUTO),
    ) else {
        check!(false);
        return;
    };
    // No listener: the peer's stack refuses at once.
    check_eq!(
        stream.connect(&v4(17711), GUARD_MS),
        Err(SockError::Other(refused))
    );
    // An IPv4 socket cannot reach an IPv6 peer.
    check_eq!(
        other.connect(&SockAddr::ipv6(LOOPBACK_V6, 17711), GUARD_MS),
        Err(SockError::Other(EINVAL))
    );
}

fn pages_round_trip() {
    let pair = connected(&v4(17712), BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let Ok((_listener, client, server)) = pair else {
        return;
    };
    client.set_recv_timeout(GUARD_MS);
    server.set_recv_timeout(GUARD_MS);
    let (Ok(mut a), Ok(mut b), Ok(mut c)) = (
        Page::alloc_page(GFP_KERNEL),
        Page::alloc_page(GFP_KERNEL),
        Page::alloc_page(GFP_KERNEL),
    ) else {
        check!(false);
        return;
    };
    // Ranges must be non-empty and inside their page.
    check!(PageRange::new(&a, 4000, 200).is_err());
    check!(PageRange::new(&a, 0, 0).is_err());
    check!(PageRange::new(&a, usize::MAX, 2).is_err());

    const TOTAL: usize = 3000 + 4096 + 1;
    let Ok(data) = pattern(5, TOTAL) else {
        check!(false);
        return;
    };
    check_eq!(client.send_all(&data, false), Ok(()));
    {
        let ranges = (
            PageRangeMut::new(&mut a, 100, 3000),
            PageRangeMut::new(&mut b, 0, 4096),
            PageRangeMut::new(&mut c, 7, 1),
        );
        let (Ok(ra), Ok(rb), Ok(rc)) = ranges else {
            check!(false);
            return;
        };
        let mut ranges = [ra, rb, rc];
        check_eq!(server.recv_pages(&mut ranges), Ok(()));
    }
    // Send the ranges back in another order: each must carry what was received into it.
    let ranges = (
        PageRange::new(&b, 0, 4096),
        PageRange::new(&c, 7, 1),
        PageRange::new(&a, 100, 3000),
    );
    let (Ok(rb), Ok(rc), Ok(ra)) = ranges else {
        check!(false);
        return;
    };
    check_eq!(server.send_pages(&[rb, rc, ra], false), Ok(()));
    let Ok(mut back) = zeroed(TOTAL) else {
        check!(false);
        return;
    };
    check_eq!(client.recv_exact(&mut back), Ok(()));
    check!(back[..4096] == data[3000..7096]);
    check_eq!(back[4096], data[7096]);
    check!(back[4097..] == data[..3000]);
}

/// Whole page buffers, a large one and one ending inside a page, each way.
fn bufs_round_trip() {
    const SIZES: [usize; 2] = [MAX_LEN, 3 * 4096 + 7];
    let pair = connected(&v4(17713), BufferSizes::AUTO, BufferSizes::AUTO);
    check!(pair.is_ok());
    let (Ok((_listener, client, server)), Ok(outcome)) = (pair, Outcome::new()) else {
        return;
    };
    let Ok(server) = Arc::new(server, GFP_KERNEL) else {
        check!(false);
        return;
    };
    client.set_send_timeout(GUARD_MS);
    server.set_recv_timeout(GUARD_MS);
    // A buffer of 1 MiB does not fit into the socket buffers: the receiver runs alongside.
    let thread = {
        let (server, outcome) = (server.clone(), outcome.clone());
        spawn(move || {
            outcome.start();
            let mut code = Outcome::code(Ok(()));
            for (i, len) in SIZES.into_iter().enumerate() {
                let Ok(mut buf) = PageBuf::new(len) else {
                    code = Outcome::code(Err(SockError::Other(ENOMEM)));
                    break;
                };
                if let Err(e) = server.recv_buf(&mut buf) {
                    code = Outcome::code(Err(e.kind));
                    break;
                }
                if !holds(&buf, i as u8 + 1) {
                    code = Outcome::WRONG_DATA;
                    break;
                }
                // Back to the client, which checks the echo.
                if let Err(e) = server.send_buf(&buf, false) {
                    code = Outcome::code(Err(e.kind));
                    break;
                }
            }
            outcome.finish(code);
        })
    };
    check!(thread.is_some());
    for (i, len) in SIZES.into_iter().enumerate() {
        let buf = PageBuf::new(len);
        check!(buf.is_ok());
        let Ok(mut buf) = buf else { return };
        check!(fill(&mut buf, i as u8 + 1).is_ok());
        check_eq!(client.send_buf(&buf, false), Ok(()));
        let Ok(mut echo) = PageBuf::new(len) else {
            check!(false);
            return;
        };
        client.set_recv_timeout(GUARD_MS);
        check_eq!(client.recv_buf(&mut echo), Ok(()));
        check!(holds(&echo, i as u8 + 1));
    }
    for _ in 0..500 {
        if outcome.result() != Outcome::RUNNING {
            break;
        }
        sleep_ms(10);
    }
    drop(thread);
    check_eq!(outcome.result(), Outcome::code(Ok(())));
    // A peer that closes early: the receive reports how much of the buffer arrived.
    let Ok(mut buf) = PageBuf::new(3 * 4096) else {
        check!(false);
        return;
    };
    check_eq!(server.send_all(&[7u8; 5000], false), Ok(()));
    server.shutdown();
    check_eq!(
        client.recv_buf(&mut buf),
        Err(TransferError {
            kind: SockError::Closed,
            done: 5000
        })
    );
}

fn addresses_from_netlink() {
    let v4_genl = GenlSockAddr::ipv4([10, 1, 2, 3], 7789);
    let v4_addr = SockAddr::try_from(v4_genl);
    check!(v4_addr.is_ok());
    if let Ok(a) = v4_addr {
        check_eq!(a.port(), 7789);
        check_eq!(a.family(), genl_addr::AF_INET);
        check_eq!(GenlSockAddr::from(a.with_port(0)).port(), 0);
        check!(GenlSockAddr::from(a) == v4_genl);
    }
    let v6_genl = GenlSockAddr::V6 {
        addr: LOOPBACK_V6,
        port: genl_addr::DEFAULT_PORT,
        flowinfo: 0,
        scope_id: 1,
    };
    let v6_addr = SockAddr::try_from(v6_genl);
    check!(v6_addr.is_ok());
    if let Ok(a) = v6_addr {
        check_eq!(a.family(), genl_addr::AF_INET6);
        // Only the port changes; the scope (interface) stays.
        check!(
            GenlSockAddr::from(a.with_port(1))
                == GenlSockAddr::V6 {
                    addr: LOOPBACK_V6,
                    port: 1,
                    flowinfo: 0,
                    scope_id: 1,
                }
        );
    }
    // drbdsetup's sdp: addresses need a protocol Linux no longer has.
    let sdp = GenlSockAddr::V4 {
        family: genl_addr::AF_INET_SDP,
        addr: LOOPBACK_V4,
        port: 7789,
    };
    check!(SockAddr::try_from(sdp).is_err());
}

kunit_suite!(
    SOCKET_SUITE,
    "drbd_rs_socket",
    [
        addresses_from_netlink,
        exchange_ipv4,
        exchange_ipv6,
        recv_timeout_keeps_the_connection,
        peer_close_is_detected,
        shutdown_wakes_blocked_recv,
        shutdown_wakes_blocked_send,
        send_timeout_reports_progress,
        accept_times_out_with_none,
        shutdown_wakes_blocked_accept,
        connect_timeout_and_shutdown,
        connect_errors,
        pages_round_trip,
        bufs_round_trip
    ]
);
