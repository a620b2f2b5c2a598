# The Primary loses power in the middle of protocol C writes: every write the application saw
# completed is on the Secondary, which is promoted and goes on; the old Primary returns as
# Secondary and resyncs from the new Primary's bitmap and its own activity log — not a full
# sync — and both lower devices end identical.
# Boot 1: node-a Primary writes numbered 4 KiB blocks one at a time (O_DIRECT) and reports
# each completed one to node-b over TCP (tests-vm/lib/acked_writer.py); after 15 s node-a
# loses power (QEMU killed). node-b notices, becomes Primary, checks that every reported
# block is intact (and that the blocks form a prefix), writes 1 MiB of its own. Boot 2 of
# node-a, once node-b has taken over: `up` (activity log applied, meta data as the crash
# left it), SyncTarget, only the activity log's extents and node-b's new writes travel.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b).
# vm-nodes: 2
# vm-disks: 64M
# vm-timeout: 1500
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
WRITER="$DRBDRS_REPO/tests-vm/lib/acked_writer.py"
ACK_PORT=7701
wait_link
write_drbd_conf C "connect-int 3;"
load_node_module

if ((BOOT == 1)); then
  up_zeroed_pair
  if [[ $DRBDRS_NODE == b ]]; then
    python3 "$WRITER" collect $ACK_PORT /tmp/acked &
    collector=$!
  else
    adm primary r0
  fi
  sync_point writing
  if [[ $DRBDRS_NODE == a ]]; then
    python3 "$WRITER" write /dev/drbd0 "$DRBDRS_PEER_IP" $ACK_PORT 4096 &
    sleep 15
    cat /proc/drbd
    power_loss
  fi
  wait_for "the Primary to be missed" 120 is_cs WFConnection
  kill "$collector" 2>/dev/null || true
  cat /proc/drbd
  log "node-b takes over: $(wc -l </tmp/acked) writes were acknowledged to node-a's application"
  adm primary r0
  python3 "$WRITER" check /dev/drbd0 /tmp/acked || fail "an acknowledged write is missing"
  dd if=/dev/urandom of=/dev/drbd0 bs=1M count=1 seek=32 oflag=direct status=none
  sync_point taken-over
else
  # node-a boots faster than node-b misses it (ping-int 10 s): back before the takeover,
  # it would simply be the Primary's data again. The scenario is the failover, so node-a
  # stays away until node-b has taken over, as a node held down by its cluster manager.
  sync_point taken-over
  log "back after the power loss: up with the meta data and activity log as the crash left them"
  adm up r0
fi
sync_point returned
wait_for "the resync to finish" 300 in_sync
cat /proc/drbd
expect_eq "oos after the resync" 0 "$(oos)"
if [[ $DRBDRS_NODE == a ]]; then
  expect_match "old Primary returns as Secondary" "Secondary/Primary" "$(adm role r0)"
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  # The 64 MiB device has 16 activity-log extents of 4 MiB; the writes touched the first few.
  ((received >= 1024 && received < 16384)) ||
    fail "node-a received $received KiB: want the activity log's extents and node-b's 1 MiB, not a full sync"
  log "node-a received $received KiB"
fi
sync_point checked
[[ $DRBDRS_NODE == b ]] && adm secondary r0
compare_devices resynced
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
