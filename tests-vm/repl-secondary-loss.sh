# tests-vm/repl-secondary-loss-rs.sh against the in-tree drbd.ko: node-a runs drbd_rs, node-b
# (the Secondary that loses power and returns) drbd.ko; the bitmap resync after its return
# carries only what changed (checksum-based, csums-alg md5 on both).
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 1200
# drbd.ko 6.12 leaks the resync plan of a previous attach (see drbdadm84-local.sh).
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
export DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd}
source "$DRBDRS_REPO/tests-vm/repl-secondary-loss-rs.sh"
