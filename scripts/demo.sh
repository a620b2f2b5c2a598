#!/usr/bin/env bash
# `make demo`: two linked VMs run the classic walkthrough (tests-vm/repl-walkthrough.sh, also
# part of `make check`) with drbd_rs on both, consoles shown.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
echo "demo: booting node-a and node-b (QEMU, linked over 127.0.0.1 only)"
scripts/vm.py --verbose --out build/vm/demo tests-vm/repl-walkthrough.sh
