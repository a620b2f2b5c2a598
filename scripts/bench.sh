#!/usr/bin/env bash
# `make bench`: fio in a VM on the raw disk, drbd_rs and drbd.ko; prints a table with ratios.
# Numbers under TCG emulation are only comparable within one run (15 s per job and target).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
scripts/vm.py --out build/vm/bench scripts/bench-guest.sh
cat build/vm/bench/node-a/bench.txt
