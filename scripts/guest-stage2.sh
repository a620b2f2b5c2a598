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
status=0
cd "$DRBDRS_REPO" || status=125
if ((status == 0)); then
  echo "=== guest $(hostname): running $DRBDRS_SCRIPT ==="
  bash -e "$DRBDRS_SCRIPT" || status=$?
fi
dmesg >/results/dmesg.txt 2>&1 || true
echo "$status" >/results/exit-status
sync
echo "=== guest $(hostname): exit status $status ==="
/bin/busybox poweroff -f
