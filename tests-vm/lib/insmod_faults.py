#!/usr/bin/env python3
"""Load a module with its n-th counted slab allocation failing, for every n. The caller
restricts counting to the module's own allocations (failslab require-start/end over its
text), so every failure path of its init runs once; after each failed load nothing may be
left behind (the harness's kmemleak scan checks memory; the caller checks that a clean load
still works).

usage: insmod_faults.py MODULE.ko NAME

Uses the task's fail-nth (Documentation/fault-injection/fault-injection.rst) with failslab;
the caller sets /sys/kernel/debug/failslab/ignore-gfp-wait to N first. A load is the
finit_module system call itself, so only its own allocations are counted (no fork or exec in
between). A first, fault-free load counts them: fail-nth set to a large number goes down by
one per allocation.
"""
import ctypes
import os
import sys

SYS_FINIT_MODULE = 313  # x86_64
SYS_DELETE_MODULE = 176
BIG = 1 << 30

libc = ctypes.CDLL(None, use_errno=True)


class FailNth:
    """This thread's fail-nth, opened once: opening it later would itself allocate."""

    def __init__(self):
        self.fd = os.open("/proc/thread-self/fail-nth", os.O_RDWR)

    def set(self, n):
        os.pwrite(self.fd, str(n).encode(), 0)

    def get(self):
        return int(os.pread(self.fd, 32, 0).decode().strip() or 0)


def load(ko, fail_nth, n):
    """finit_module with the n-th allocation failing (0: none); returns (errno, injected)."""
    fd = os.open(ko, os.O_RDONLY)
    try:
        fail_nth.set(n if n else BIG)
        rc = libc.syscall(SYS_FINIT_MODULE, fd, b"", 0)
        err = 0 if rc == 0 else ctypes.get_errno()
        left = fail_nth.get()
        fail_nth.set(0)
    finally:
        os.close(fd)
    return err, left


def unload(name):
    if libc.syscall(SYS_DELETE_MODULE, name.encode(), os.O_NONBLOCK) != 0:
        raise SystemExit(f"insmod_faults: cannot unload {name}: errno {ctypes.get_errno()}")


def main() -> int:
    ko, name = sys.argv[1], sys.argv[2]
    fail_nth = FailNth()
    err, left = load(ko, fail_nth, 0)
    if err:
        print(f"insmod_faults: the fault-free load failed: errno {err}")
        return 1
    unload(name)
    total = BIG - left
    print(f"insmod_faults: a load makes {total} counted allocations; failing each in turn")
    refused_count = loaded = 0
    for n in range(1, total + 1):
        err, left = load(ko, fail_nth, n)
        if err == 0:
            loaded += 1
            unload(name)
        else:
            refused_count += 1
    print(f"insmod_faults: {refused_count} loads refused, {loaded} loaded anyway")
    err, _ = load(ko, fail_nth, 0)
    if err:
        print(f"insmod_faults: a fault-free load after the failed ones failed: errno {err}")
        return 1
    unload(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
