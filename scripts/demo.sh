#!/usr/bin/env bash
# `make demo`: two linked VMs run the demo scenario (scripts/demo-guest.sh), consoles shown.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
echo "demo: booting node-a and node-b (QEMU, linked over 127.0.0.1 only)"
scripts/vm.py --verbose --out build/vm/demo scripts/demo-guest.sh
