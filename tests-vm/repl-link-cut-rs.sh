# tests-vm/repl-link-cut.sh with drbd_rs on both nodes (unless DRBD_MODULE_A/B say
# otherwise): the link is cut mid-sync and while node-a writes, and comes back; the
# connection returns by itself and the resync finishes with identical data.
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 900
export DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/repl-link-cut.sh"
