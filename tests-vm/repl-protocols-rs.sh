# repl-protocols.sh with drbd_rs on both nodes (unless DRBD_MODULE_A/B say otherwise): protocols
# A, B and C after a skipped initial sync (new-current-uuid --clear-bitmap); node-a driven by
# drbdadm-rs, node-b by drbd-utils' drbdadm (the defaults of tests-vm/lib/common.sh).
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 1500
export DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/repl-protocols.sh"
