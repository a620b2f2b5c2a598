#!/usr/bin/env python3
"""A test-only hostile DRBD 8.4 peer: one connection to a drbd_rs node, one bad packet.

    bad_peer.py NODE_IP PEER_IP PORT CASE...   (or "all")

Plays the peer of the node listening on NODE_IP:PORT, as drbd 8.4 does it (spec §1.2, §1.3):
connects the data socket (first packet P_INITIAL_DATA) and the meta socket (P_INITIAL_META)
from PEER_IP, reads the node's P_CONNECTION_FEATURES and answers with its own (protocol 86..101,
no feature flags: protocol 101 and h100 headers from then on). Then it sends what CASE says
(one fault per connection) and waits for the node to close the data socket. Never listens, so
the node's own outgoing connects are refused and the sockets are ours.

For each case (one process for all of them: Python starts slowly in a TCG guest) it checks
that the node closed the connection, logged exactly one error-level kernel line about it
(matching the case's pattern) and is back in WFConnection (/proc/drbd). Exit status 0 when
every case passed.
"""

import os
import re
import socket
import struct
import sys
import time

H80_MAGIC = 0x83740267
H100_MAGIC = 0x8620EC20
P_DATA, P_SIZES, P_STATE, P_PING = 0x00, 0x0D, 0x0E, 0x13
P_CONNECTION_FEATURES, P_INITIAL_META, P_INITIAL_DATA = 0xFFFE, 0xFFF1, 0xFFF2
DRBD_MAX_BIO_SIZE = 1 << 20
P_DATA_LEN = 24  # sector, block_id, seq, dp_flags


def h80(cmd, length):
    return struct.pack(">IHH", H80_MAGIC, cmd, length)


def h100(cmd, length, volume=0):
    return struct.pack(">IHHII", H100_MAGIC, volume, cmd, length, 0)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def connect(node, me, port, first_cmd, deadline):
    """Connect from `me` (the node listens only while it is in WFConnection)."""
    while True:
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((me, 0))
        s.settimeout(5)
        try:
            s.connect((node, port))
            s.sendall(h80(first_cmd, 0))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                sys.exit(f"bad_peer: {node}:{port} never accepted")
            time.sleep(0.2)


def features(max_version=101):
    return h80(P_CONNECTION_FEATURES, 72) + struct.pack(">IIII", 86, 0, max_version, 0) + bytes(56)


def p_data(sector, payload, length=None):
    body = struct.pack(">QQII", sector, 0x1234, 1, 0)
    return h100(P_DATA, length if length is not None else P_DATA_LEN + len(payload)) + body + payload


# What each case sends after the feature exchange (None: it sends instead of our features),
# and the error line the node must log for it.
CASES = {
    # The next header's magic is wrong.
    "bad-magic": (lambda: b"\xde\xad\xbe\xef" + bytes(12),
                  r"malformed packet from the peer: .*magic"),
    # A P_DATA header announcing 2 MiB of data (the limit is 1 MiB).
    "too-long": (lambda: h100(P_DATA, P_DATA_LEN + 2 * DRBD_MAX_BIO_SIZE),
                 r"malformed packet from the peer: Data packet too long"),
    # A command number that does not exist.
    "unknown-command": (lambda: h100(0x7777, 0),
                        r"malformed packet from the peer: Unexpected packet Unknown \(0x7777\)"),
    # P_SIZES announcing 8 bytes of payload (it has 32): the payload is cut short.
    "short-payload": (lambda: h100(P_SIZES, 8) + bytes(8),
                      r"malformed packet from the peer: ReportSizes: unexpected packet size"),
    # P_DATA (4 KiB of 0xAA at sector 0) before P_PROTOCOL/P_UUIDS/P_STATE: out of order.
    "data-before-handshake": (lambda: p_data(0, b"\xaa" * 4096), r"Unexpected data packet Data"),
    # P_STATE with every bit set: no such role, connection or disk state.
    "impossible-state": (lambda: h100(P_STATE, 4) + b"\xff\xff\xff\xff",
                         r"Invalid state from peer"),
    # Garbage on the meta socket (the asender's side).
    "meta-bad-magic": (lambda: b"\x00\x01\x02\x03" + bytes(12),
                       r"malformed packet from the peer: .*magic"),
    # A P_STATE where P_CONNECTION_FEATURES must come first.
    "state-before-features": (None, r"expected ConnectionFeatures packet"),
    # The peer closes the data socket in the middle of a P_SIZES payload.
    "truncated": (lambda: h100(P_SIZES, 32) + bytes(10),
                  r"the peer closed the data socket in the middle of a packet"),
}


def conn_state():
    with open("/proc/drbd") as f:
        m = re.search(r" 0: cs:(\w+)", f.read())
    return m.group(1) if m else None


class Kmsg:
    """Error-level kernel log records since the last mark."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)

    def mark(self):
        os.lseek(self.fd, 0, os.SEEK_END)

    def errors(self):
        out = []
        while True:
            try:
                rec = os.read(self.fd, 8192).decode(errors="replace")
            except BlockingIOError:
                return out
            except BrokenPipeError:  # overwritten records: go on with the next
                continue
            prefix, _, text = rec.partition(";")
            if int(prefix.split(",")[0]) & 7 <= 3:
                out.append(text.split("\n")[0])


def run_case(node, me, port, case):
    build = CASES[case][0]
    deadline = time.monotonic() + 60
    data = connect(node, me, port, P_INITIAL_DATA, deadline)
    meta = connect(node, me, port, P_INITIAL_META, deadline)
    data.settimeout(30)
    meta.settimeout(30)
    hdr = recv_exact(data, 8)
    magic, cmd, length = struct.unpack(">IHH", hdr)
    if (magic, cmd, length) != (H80_MAGIC, P_CONNECTION_FEATURES, 72):
        return f"expected P_CONNECTION_FEATURES, got {hdr.hex()}"
    recv_exact(data, 72)
    if build is None:
        data.sendall(h80(P_STATE, 4) + bytes(4))
    else:
        data.sendall(features())
        # Let the node agree on protocol 101 (h100 headers) before the fault arrives.
        time.sleep(0.5)
        sock = meta if case.startswith("meta-") else data
        sock.sendall(build())
        if case == "truncated":
            # Only the data socket: the node must notice and close the meta socket itself.
            data.close()
            data = meta
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            if not data.recv(65536):
                break
        else:
            return "the node kept the connection"
    except ConnectionError:
        pass
    except socket.timeout:
        return "the node kept the connection"
    finally:
        data.close()
        meta.close()
    return None


def main():
    node, me, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cases = list(CASES) if sys.argv[4:] == ["all"] else sys.argv[4:]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"bad_peer: unknown case(s) {unknown}; known: {' '.join(CASES)}")
    kmsg = Kmsg()
    failed = []
    for case in cases:
        start = time.monotonic()
        kmsg.mark()
        problem = run_case(node, me, port, case)
        while problem is None and conn_state() != "WFConnection":
            if time.monotonic() > start + 60:
                problem = f"not back in WFConnection (cs:{conn_state()})"
            time.sleep(0.2)
        time.sleep(0.5)  # a second error line would come now
        errors = kmsg.errors()
        if problem is None:
            want = CASES[case][1]
            if len(errors) != 1:
                problem = f"{len(errors)} error lines, want 1"
            elif not re.search(r"drbd0: .*" + want, errors[0]):
                problem = f"error line does not match /{want}/"
        verdict = "ok" if problem is None else f"FAILED: {problem}"
        print(f"bad_peer: {case}: {verdict} ({time.monotonic() - start:.1f}s)")
        for line in errors:
            print(f"    {line}")
        if problem is not None:
            failed.append(case)
    if failed:
        print(f"bad_peer: failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
