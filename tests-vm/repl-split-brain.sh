# tests-vm/repl-split-brain-rs.sh against the in-tree drbd.ko: node-a runs drbd_rs, node-b
# drbd.ko. Both detect the split brain and run the handlers, the manual recovery
# (node-b --discard-my-data) is a bitmap resync, and after-sb-0pri discard-zero-changes
# resolves the second one by itself; drbd.ko as the Primary to be discarded refuses
# `--discard-my-data` and, under the default rr-conflict, the resync it would be the target
# of — as drbd_rs does in the -rs variant.
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 900
# drbd.ko 6.12 leaks the resync plan of a previous attach (see drbdadm84-local.sh).
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
export DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd}
source "$DRBDRS_REPO/tests-vm/repl-split-brain-rs.sh"
