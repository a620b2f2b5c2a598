#!/usr/bin/env python3
"""Send malformed and random requests to the kernel's `drbd` generic-netlink family.

usage: genl_fuzz.py SEED COUNT

Every request is built from SEED (replayable; GENL_FUZZ_VERBOSE=1 prints each one in hex). The kernel must answer each with a reply or a
netlink error and never crash; the caller checks the module and the kernel log afterwards.
"""
import os
import random
import socket
import struct
import sys
import time

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_EXCL = 1, 4, 0x300, 0x200
COMMANDS = [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
            27, 28, 29, 30, 31, 32, 33, 38, 0, 1, 3, 99, 255]


def nlmsg(ty, flags, seq, payload):
    return struct.pack("=IHHII", 16 + len(payload), ty, flags, seq, 0) + payload


def attr(ty, data):
    length = 4 + len(data)
    return struct.pack("=HH", length, ty) + data + b"\0" * ((4 - length % 4) % 4)


def family_id(sock):
    sock.send(nlmsg(GENL_ID_CTRL, NLM_F_REQUEST, 1,
                    struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + attr(CTRL_ATTR_FAMILY_NAME, b"drbd\0")))
    data = sock.recv(65536)
    pos = 20
    while pos + 4 <= len(data):
        length, ty = struct.unpack_from("=HH", data, pos)
        if length < 4:
            break
        if ty & 0x3fff == CTRL_ATTR_FAMILY_ID:
            return struct.unpack_from("=H", data, pos + 4)[0]
        pos += (length + 3) & ~3
    sys.exit("genl_fuzz: family drbd not found")


def random_value(rng):
    kind = rng.randrange(8)
    if kind == 0:
        return b""
    if kind == 1:
        return bytes([rng.randrange(256)])
    if kind == 2:
        return struct.pack("=I", rng.choice([0, 1, 0xffffffff, 0x7fffffff, rng.getrandbits(32)]))
    if kind == 3:
        return struct.pack("=Q", rng.getrandbits(64))
    if kind == 4:  # strings: paths, names, garbage, no NUL, overlong
        return rng.choice([b"r0\0", b"/dev/vda\0", b"/dev/vdb", b"x" * rng.randrange(300),
                           b"a/b\0", b"\xff\xfe\0", b"\0", b"/dev/null\0"])
    if kind == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 6:
        return nested(rng, depth=1)
    return b"\0" * rng.randrange(16)


def nested(rng, depth):
    out = b""
    for _ in range(rng.randrange(6)):
        ty = rng.choice([rng.randrange(1, 40), rng.randrange(65536)]) | rng.choice([0, 0x4000, 0x8000])
        value = nested(rng, depth + 1) if depth < 3 and rng.random() < 0.2 else random_value(rng)
        out += attr(ty & 0xffff, value)
    return out


def request(rng, fam, seq):
    cmd = rng.choice(COMMANDS)
    minor = rng.choice([0, 1, 7, 0xffffffff, rng.getrandbits(32)])
    flags = rng.choice([0, 1, rng.getrandbits(32)])
    body = struct.pack("=BBHIi", cmd, rng.choice([1, 0, 2]), 0, minor, flags - (1 << 32) if flags >= 1 << 31 else flags)
    tlas = b""
    for _ in range(rng.randrange(5)):
        tla = rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13, rng.randrange(65536)])
        tlas += attr((tla | rng.choice([0, 0x8000, 0x4000])) & 0xffff, nested(rng, 1))
    msg_flags = NLM_F_REQUEST | rng.choice([NLM_F_ACK, NLM_F_DUMP, NLM_F_ACK | NLM_F_EXCL, 0])
    raw = nlmsg(fam, msg_flags, seq, body + tlas)
    if rng.random() < 0.1:  # lie about the length / cut the message
        raw = raw[: rng.randrange(len(raw) + 1)]
    return raw


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.bind((0, 0))
    sock.settimeout(2.0)
    fam = family_id(sock)
    answered = 0
    silent = 0
    start = time.monotonic()
    for seq in range(2, count + 2):
        if seq % 250 == 0:
            print(f"genl_fuzz: {seq} sent, {answered} answers, {silent} unanswered, {time.monotonic() - start:.1f}s", flush=True)
        raw = request(rng, fam, seq)
        if os.environ.get("GENL_FUZZ_VERBOSE"):
            print(f"genl_fuzz: #{seq}: {raw.hex()}", flush=True)
        try:
            sock.send(raw)
        except OSError:
            continue  # the kernel refused the datagram outright (e.g. too short)
        # Wait briefly for the first answer (the reply, ack or error), then drain the rest
        # (dump parts) without waiting.
        sock.settimeout(0.15)
        try:
            try:
                sock.recv(1 << 16)
            except socket.timeout:
                silent += 1
                raise
            answered += 1
            # (Python polls for the socket timeout before every recv, even with
            # MSG_DONTWAIT: drain in non-blocking mode.)
            sock.setblocking(False)
            while True:
                sock.recv(1 << 16)
                answered += 1
        except (socket.timeout, BlockingIOError, OSError):
            pass
    print(f"genl_fuzz: seed {seed}: {count} requests sent, {answered} messages received")


if __name__ == "__main__":
    main()
