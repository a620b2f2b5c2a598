#!/bin/bash
# Second stage of a test guest, inside the writable overlay of the host's root. Sets up the
# basics a test expects, runs the test script, records its exit status in /results and powers
# off. Parameters come from the kernel command line (environment of PID 1).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
# What udev would provide: bash process substitution needs /dev/fd.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# /tmp stays the overlay's: writable here, yet the host's /tmp (where a CI clone may live)
# remains visible.
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
mkdir -p /run/lock /var/lock /var/run/drbd /var/lib/drbd

hostname "${DRBDRS_HOSTNAME:-node-a}"
echo "${DRBDRS_HOSTNAME:-node-a}" >/etc/hostname
ip link set lo up
if [[ -n "${DRBDRS_MAC:-}" ]]; then
  for dev in /sys/class/net/*; do
    if [[ "$(cat "$dev/address")" == "$DRBDRS_MAC" ]]; then
      ip addr add "$DRBDRS_IP/24" dev "${dev##*/}"
      ip link set "${dev##*/}" up
      export DRBDRS_NIC=${dev##*/}
    fi
  done
fi

export DRBDRS_RESULTS=/results
# Harness steps in the kernel log, with its timestamps.
mark() { echo "drbd_rs-harness: $*" >/dev/kmsg 2>/dev/null || true; }
KMEMLEAK=/sys/kernel/debug/kmemleak
# The debug kernel's leak detector starts from here: what boot left behind is not ours.
[[ -w $KMEMLEAK ]] && echo clear >$KMEMLEAK
status=0
cd "$DRBDRS_REPO" || status=125
if ((status == 0)); then
  echo "=== guest $(hostname): running $DRBDRS_SCRIPT ==="
  mark "test start"
  bash -e "$DRBDRS_SCRIPT" || status=$?
  mark "test end, status $status"
fi
# Teardown paths are part of every test: unload what the test left loaded, then let kmemleak
# look for what is left unreferenced (objects younger than 5 s are not reported, and a
# report needs two scans that find it unchanged). The host checks both logs.
for m in drbd_rs_kunit drbd_rs drbd lru_cache; do
  grep -q "^$m " /proc/modules && { rmmod "$m" || echo "guest: rmmod $m failed"; }
done
if [[ -w $KMEMLEAK ]]; then
  sleep 5
  echo scan >$KMEMLEAK
  echo scan >$KMEMLEAK
  cat $KMEMLEAK >/results/kmemleak.txt 2>&1 || true
  mark "kmemleak scanned"
fi
dmesg >/results/dmesg.txt 2>&1 || true
echo "$status" >/results/exit-status
sync
echo "=== guest $(hostname): exit status $status ==="
/bin/busybox poweroff -f
