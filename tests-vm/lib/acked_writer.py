"""Writes numbered 4 KiB blocks to a device, one at a time (O_DIRECT), and after each
completed write reports its number to a collector on the peer over TCP: after a power loss
the peer knows which writes the application saw completed. Block i at offset i * 4096 holds
MAGIC, i and a pattern derived from i (see block()).

  acked_writer.py write DEVICE PEER_IP PORT COUNT     (runs until COUNT blocks or death)
  acked_writer.py collect PORT OUTFILE                (appends each number, one per line)
  acked_writer.py check DEVICE ACKED_FILE             (every acknowledged block is intact,
                                                       and the blocks form a prefix)
"""
import mmap
import os
import socket
import struct
import sys
import time

MAGIC = 0x6472626472735F61  # "drbdrs_a"
BLOCK = 4096


def block(i: int) -> bytes:
    head = struct.pack("<QQ", MAGIC, i)
    body = (struct.pack("<Q", i * 0x9E3779B97F4A7C15 & (2**64 - 1)) * (BLOCK // 8))
    return head + body[len(head):]


def write(device: str, peer: str, port: int, count: int) -> None:
    fd = os.open(device, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)  # page aligned, as O_DIRECT needs
    # The collector is a Python process too: it may still be starting.
    deadline = time.monotonic() + 60
    while True:
        try:
            sock = socket.create_connection((peer, port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    for i in range(count):
        buf[:] = block(i)
        if os.pwrite(fd, buf, i * BLOCK) != BLOCK:
            sys.exit(f"short write at block {i}")
        sock.sendall(struct.pack("<Q", i))
    sock.close()


def collect(port: int, outfile: str) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    conn, _ = srv.accept()
    with open(outfile, "a") as out:
        pending = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                break
            if not data:
                break
            pending += data
            while len(pending) >= 8:
                (i,) = struct.unpack("<Q", pending[:8])
                pending = pending[8:]
                out.write(f"{i}\n")
                out.flush()


def check(device: str, acked_file: str) -> None:
    acked = [int(line) for line in open(acked_file) if line.strip()]
    if not acked:
        sys.exit("no write was acknowledged")
    last = max(acked)
    fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    present = 0
    for i in range(last + 2):
        os.preadv(fd, [buf], i * BLOCK)
        if bytes(buf) == block(i):
            present = i + 1
            continue
        if i <= last:
            sys.exit(f"block {i} was acknowledged (up to {last}) but is not on the device")
        break
    print(f"{len(acked)} acknowledged writes (last {last}), {present} blocks intact")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "write":
        write(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "collect":
        collect(int(args[0]), args[1])
    elif cmd == "check":
        check(args[0], args[1])
    else:
        sys.exit(__doc__)
