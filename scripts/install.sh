#!/usr/bin/env bash
# make install: drbd_rs.ko into the module tree of kernel KVER (default: the running one),
# depmod, and /etc/modprobe.d/drbd_rs.conf so that `modprobe drbd` — what drbd-utils' init
# script, drbd.service, the Heartbeat and OCF agents run — loads drbd_rs (a configured alias
# comes before a module file of the same name, so this holds next to the in-tree drbd.ko);
# drbdadm-rs into /usr/local/sbin when it was built.
# Usage: scripts/install.sh [KVER]   (tests-vm/failover-heartbeat.sh runs it inside a guest)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kver=${1:-$(uname -r)}
ko="$repo/drbd_rs.ko"
[[ -f $ko ]] || { echo "install: $ko missing (make module)" >&2; exit 1; }
# The module must be built for that kernel: modprobe would refuse it later, say it now.
built_for=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
[[ $built_for == "$kver" ]] || echo "install: warning: drbd_rs.ko is built for $built_for, installing for $kver" >&2
install -D -m 644 "$ko" "/lib/modules/$kver/extra/drbd_rs.ko"
depmod -a "$kver"
mkdir -p /etc/modprobe.d
cat >/etc/modprobe.d/drbd_rs.conf <<'CONF'
# drbd_rs (DRBD 8.4 in Rust) answers to the name drbd-utils loads. `rmmod drbd` does not read
# this file: unload with `modprobe -r drbd` or `rmmod drbd_rs`.
alias drbd drbd_rs
CONF
if [[ -x $repo/target/release/drbdadm-rs ]]; then
  install -D -m 755 "$repo/target/release/drbdadm-rs" /usr/local/sbin/drbdadm-rs
fi
echo "install: drbd_rs.ko for $kver; modprobe drbd loads drbd_rs (/etc/modprobe.d/drbd_rs.conf)"
