#!/usr/bin/env python3
"""Find kernel splats in a guest's kernel log (and kmemleak report).

usage: dmesg_check.py [--allow REGEX]... [--allow-leak REGEX]... FILE...
       (FILE may be - for standard input)

Prints each finding with a few lines of context and exits 1 if there is any, 0 otherwise.
What counts: BUG/WARNING/INFO headers (KFENCE or KASAN, sleeping in atomic context, lockdep reports,
hung tasks, soft lockups, spinlock debugging), oopses, refcount/list corruption, UBSAN, and kmemleak's
"unreferenced object" records. The debug test kernel (kernel/debug.config) produces them;
the harness (scripts/vm.py) runs this over every guest's log after every test.
A test that provokes a report on purpose names it with `# vm-allow-dmesg: REGEX`: a line
matching it is not a finding, nor is a stack dump ("Call Trace:") right after it. A leak that
is not ours (the in-tree drbd.ko's, in tests that load it) is named with
`# vm-allow-leak: REGEX`, matched against the whole kmemleak record (object, hex dump,
backtrace); its summary line in the kernel log is then not a finding either.
"""
import re
import sys

SPLAT = re.compile(
    r"(\b(BUG|WARNING|INFO):"
    r"|\bOops\b|general protection fault|Kernel panic"
    r"|\bUBSAN:|\bKASAN\b|refcount_t:|list_(add|del) corruption"
    r"|DEBUG_LOCKS_WARN_ON|possible (circular|recursive) locking|inconsistent lock state"
    r"|blocked for more than \d+ seconds"
    r"|suspected memory leaks|unreferenced object 0x"
    r"|Call Trace:)"
)
# Printed by the kernel at boot in every guest and harmless.
BENIGN = [
    re.compile(r"KASAN: .*(initialized|enabled)"),
    re.compile(r"kasan: KernelAddressSanitizer initialized"),
    re.compile(r"kmemleak: Kernel memory leak detector initialized"),
    re.compile(r"kmemleak: Automatic memory scanning thread"),
]


def findings(lines, allowed):
    out = []
    allowed_at = None  # line of the last allowed report: its stack dump belongs to it
    for i, line in enumerate(lines):
        if any(a.search(line) for a in allowed):
            allowed_at = i
            continue
        if not SPLAT.search(line) or any(b.search(line) for b in BENIGN):
            continue
        if "Call Trace:" in line and allowed_at is not None and i - allowed_at <= 8:
            continue
        out.append((i, line))
    return out


def leak_records(text):
    """kmemleak's report, one string per leaked object."""
    parts = re.split(r"(?m)^(?=unreferenced object 0x)", text)
    return [p for p in parts if p.startswith("unreferenced object")]


def main() -> int:
    args = sys.argv[1:]
    allowed, allowed_leaks, files = [], [], []
    while args:
        a = args.pop(0)
        if a == "--allow":
            allowed.append(re.compile(args.pop(0)))
        elif a == "--allow-leak":
            allowed_leaks.append(re.compile(args.pop(0)))
        else:
            files.append(a)
    leaks_allowed = 0
    texts = {}
    for name in files:
        texts[name] = sys.stdin.read() if name == "-" else open(name, errors="replace").read()
        records = leak_records(texts[name])
        if records and allowed_leaks:
            kept = [r for r in records if not any(a.search(r) for a in allowed_leaks)]
            leaks_allowed += len(records) - len(kept)
            texts[name] = "".join(kept)
    if leaks_allowed:
        print(f"dmesg_check: {leaks_allowed} leak(s) not ours (vm-allow-leak)")
        # The kernel log's summary counts them too.
        allowed.append(re.compile(r"kmemleak: \d+ new suspected memory leaks"))
    bad = 0
    for name in files:
        lines = texts[name].splitlines()
        found = findings(lines, allowed)
        shown_until = -1
        for i, line in found:
            bad += 1
            if i <= shown_until:
                continue
            print(f"{name}: kernel report at line {i + 1}: {line.strip()}")
            lo, hi = max(0, i - 3), min(len(lines), i + 25)
            for ctx in lines[lo:hi]:
                print(f"    | {ctx}")
            shown_until = hi
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
