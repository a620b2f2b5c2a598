# drbd_rs (node-a) and the in-tree drbd.ko (node-b), both driven by drbd-utils' drbdadm:
# they connect, full-sync in each direction (first drbd_rs → drbd.ko, then, with fresh meta
# data, drbd.ko → drbd_rs), replicate checksummed writes both ways under protocol C and
# switch over; the data each node reads is what the other wrote, and both lower devices hold
# the same replicated area.
# vm-nodes: 2
# The link carries about 0.4 MB/s under TCG with the debug kernel: small disks keep the
# full syncs short.
# vm-disks: 8M
# vm-timeout: 900
# drbd.ko 6.12 leaks the resync plan of a previous attach (see drbdadm84-local.sh).
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd}
DRBD_TOOL_A=${DRBD_TOOL_A:-drbdadm-84} DRBD_TOOL_B=${DRBD_TOOL_B:-drbdadm-84}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
write_drbd_conf C
load_node_module

full_sync_from a
switch_over a 1
switch_over b 2
compare_devices "sync-from-a"
sync_point down-1
adm down r0
full_sync_from b
switch_over b 3
switch_over a 4
compare_devices "sync-from-b"
sync_point down-2
adm down r0
unload_node_module
expect_clean_dmesg
log "ok"
