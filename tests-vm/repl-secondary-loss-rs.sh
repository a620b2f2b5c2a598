# The Secondary loses power while the Primary writes, and comes back: only what changed
# meanwhile is resynced (a bitmap resync, the bytes received ≪ the device), and both lower
# devices end identical. Boot 1: node-a Primary replicates 1 MiB, node-b loses power
# (harness: QEMU killed, disks kept); node-a notices (ping timeout), goes on alone and writes
# 2 MiB elsewhere (2048 KiB out of sync). Boot 2 of node-b: `up` with the meta data it had,
# the handshake picks a bitmap resync from node-a, node-b receives 2 MiB. The resync is
# checksum-based (csums-alg md5): the blocks written meanwhile differ, so all of them travel.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b).
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 1200
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
write_drbd_conf C "connect-int 3; csums-alg md5;"
load_node_module

if ((BOOT == 1)); then
  up_zeroed_pair
  if [[ $DRBDRS_NODE == a ]]; then
    adm primary r0
    log "replicated write, then the peer goes"
    dd if=/dev/urandom of=/dev/drbd0 bs=1M count=1 oflag=direct status=none
  fi
  sync_point replicated
  [[ $DRBDRS_NODE == b ]] && power_loss
  wait_for "the peer to be missed" 90 is_cs WFConnection
  cat /proc/drbd
  log "writes while the peer is away"
  dd if=/dev/urandom of=/dev/drbd0 bs=1M count=2 seek=4 oflag=direct status=none
  expect_eq "out of sync while alone" 2048 "$(oos)"
  sync_point written-alone
else
  # node-b boots faster than node-a misses it (ping-int 10 s): back only once node-a has
  # written alone, or it would rejoin as if nothing had happened.
  sync_point written-alone
  log "back after the power loss: up with the meta data as it was"
  adm up r0
fi
sync_point returned
wait_for "the resync to finish" 240 in_sync
cat /proc/drbd
expect_eq "oos after the resync" 0 "$(oos)"
if [[ $DRBDRS_NODE == b ]]; then
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  ((received == 2048)) || fail "node-b received $received KiB, want 2048 (only what changed)"
fi
[[ $DRBDRS_NODE == a ]] && adm secondary r0
compare_devices resynced
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
