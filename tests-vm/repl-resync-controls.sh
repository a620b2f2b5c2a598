# tests-vm/repl-resync-controls-rs.sh against the in-tree drbd.ko: node-a (drbd_rs) is the
# Primary, node-b (drbd.ko) is invalidated, paused by its peer, invalidated from node-a
# (drbd.ko's dynamic controller pacing it below c-max-rate, as drbd_rs's in the -rs variant),
# and verified by node-a: both modules find and log the same two blocks, and a reconnect
# resyncs just them.
# vm-nodes: 2
# vm-disks: 4M
# vm-timeout: 900
# drbd.ko 6.12 leaks the resync plan of a previous attach (see drbdadm84-local.sh).
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
export DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd}
source "$DRBDRS_REPO/tests-vm/repl-resync-controls-rs.sh"
