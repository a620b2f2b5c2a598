#!/usr/bin/env python3
"""Count KUnit results in KTAP text taken from a kernel log.

    ktap.py FILE            print one line per test case and a total
    ktap.py --counts FILE   print "PASSED FAILED" only

A case counts as failed when it reports `not ok`; a suite that announced `1..N` but reported
fewer cases (the guest crashed, or a case hung) counts the missing ones as failed too.
Skipped cases (`# SKIP`) count as neither.
"""
import re
import sys

CASE = re.compile(r"^ {4}(not ok|ok) (\d+) (\S+)(.*)$")
SUBTEST = re.compile(r"^ {4}# Subtest: (\S+)")
PLAN = re.compile(r"^ {4}1\.\.(\d+)")


def parse(text: str):
    suites = []  # [name, planned, [(case, status)]]
    for line in text.splitlines():
        if m := SUBTEST.match(line):
            suites.append([m.group(1), None, []])
        elif suites and (m := PLAN.match(line)) and suites[-1][1] is None:
            suites[-1][1] = int(m.group(1))
        elif suites and (m := CASE.match(line)):
            skipped = "# SKIP" in m.group(4)
            status = "skip" if skipped else ("pass" if m.group(1) == "ok" else "fail")
            suites[-1][2].append((m.group(3), status))
    results = []
    for name, planned, cases in suites:
        for case, status in cases:
            results.append((f"{name}.{case}", status))
        for i in range(len(cases), planned or 0):
            results.append((f"{name}.#{i + 1}", "fail (never reported)"))
    return results


def main() -> int:
    counts_only = sys.argv[1:2] == ["--counts"]
    path = sys.argv[-1]
    try:
        text = open(path, errors="replace").read()
    except OSError as e:
        print(f"ktap: {e}", file=sys.stderr)
        return 1
    results = parse(text)
    passed = sum(1 for _, s in results if s == "pass")
    failed = sum(1 for _, s in results if s.startswith("fail"))
    if counts_only:
        print(passed, failed)
    else:
        for name, status in results:
            print(f"  kunit {status:5} {name}")
        print(f"kunit: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
