#!/bin/busybox sh
# First stage of a test guest (runs from the initramfs, PID 1). The host's root file system
# arrives read-only over 9p; a tmpfs overlay on top makes it writable inside this guest only
# (so /etc/drbd.conf, /var and /tmp are per guest), then we switch into it and run the test.
# cache=loose: the host does not change these files while a guest runs, and without a page
# cache every exec (bash, python3, drbdadm) reads its binary and libraries over 9p again —
# about 10 s of each boot under TCG.
set -e
/bin/busybox mkdir -p /proc /sys /dev /lower /rw /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose hostroot /lower
/bin/busybox mount -t tmpfs -o size=70% rw /rw
/bin/busybox mkdir -p /rw/upper /rw/work
/bin/busybox mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot
/bin/busybox mkdir -p /newroot/results
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /newroot/results
/bin/busybox umount /proc /sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /bin/bash "$DRBDRS_STAGE2"
