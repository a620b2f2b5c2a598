#!/usr/bin/env bash
# `make demo`: two linked VMs run the classic walkthrough (tests-vm/repl-walkthrough.sh, also
# part of `make check`) with drbd_rs on both, then the same pair under Heartbeat
# (tests-vm/failover-heartbeat.sh: node-a loses power, node-b takes over the file system, the
# service address and the service with node-a's data; node-a returns and resyncs what
# changed; a manual failback), consoles shown, /proc/drbd at each step.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
echo "demo 1/2: the walkthrough — booting node-a and node-b (QEMU, linked over 127.0.0.1 only)"
scripts/vm.py --verbose --out build/vm/demo tests-vm/repl-walkthrough.sh
echo "demo 2/2: failover under Heartbeat (drbddisk, Filesystem, IPaddr, a service)"
scripts/vm.py --verbose --out build/vm/demo-heartbeat tests-vm/failover-heartbeat.sh
