# The link fails in the middle of a sync: node-a (SyncSource) drops all traffic to and from
# port 7789 with nftables, both nodes notice (ping timeout) and keep trying; node-a writes
# more data while cut off; the rule goes away, the connection comes back by itself, the
# resync finishes, and the whole replicated area is identical on both nodes.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh).
# vm-nodes: 2
# vm-check: no
# vm-disks: 8M
# vm-timeout: 1500
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
command -v nft >/dev/null || fail "nft missing (make deps installs nftables)"
wait_link
# On failure, the module's story (the harness's dmesg.txt is lost if teardown hangs too).
on_exit() {
  cat /proc/drbd
  nft list ruleset
  ss -tnmi
  dmesg | grep -E "drbd|INFO|WARN|BUG" | tail -n 150
  for p in $(pgrep drbd); do echo "$p $(cat /proc/$p/comm):"; cat /proc/$p/stack; done
}
trap '(( $? )) && on_exit' EXIT
# A slow sync (8 MiB at 128 KiB/s: a minute) to cut into, with room for a slow guest (at
# 256 KiB/s a loaded CI host once saw the sync end before the cut); quick reconnects.
write_drbd_conf C "connect-int 3;" "resync-rate 128K;"
load_node_module
adm_create_md r0
adm up r0
adm_within 120 wait-connect r0 || fail "not connected within 120 s"
sync_point connected

# Not called `cut`: that would shadow coreutils' cut, which oos() uses.
cut_link() {
  nft add table inet cut
  nft add chain inet cut in '{ type filter hook input priority 0; policy accept; }'
  nft add chain inet cut out '{ type filter hook output priority 0; policy accept; }'
  nft add rule inet cut in tcp dport 7789 drop
  nft add rule inet cut in tcp sport 7789 drop
  nft add rule inet cut out tcp dport 7789 drop
  nft add rule inet cut out tcp sport 7789 drop
}

[[ $DRBDRS_NODE == a ]] && adm primary --force r0
wait_for "the sync to run" 60 bash -c 'grep -qE "cs:Sync(Source|Target)" /proc/drbd'
# Application writes while the sync runs (replicated beside the resync requests).
[[ $DRBDRS_NODE == a ]] && dd if=/dev/urandom of=/dev/drbd0 bs=1M count=2 seek=1 oflag=direct status=none
start=$(oos)
wait_for "some progress" 180 bash -c "(( \$(grep -o 'oos:[0-9]*' /proc/drbd | cut -d: -f2) < $start - 512 ))"
cat /proc/drbd
sync_point syncing

if [[ $DRBDRS_NODE == a ]]; then
  log "cut the link (nftables drops port 7789)"
  cut_link
  nft list ruleset
fi
wait_for "the connection to break" 90 bash -c '! grep -qE "cs:(Sync|Connected|WFBitMap|WFSyncUUID)" /proc/drbd'
cat /proc/drbd
wait_for "reconnect attempts" 60 is_cs WFConnection
left=$(oos)
(( left > 0 )) || fail "the sync finished before the cut"
log "cut off with $left KiB out of sync"
if [[ $DRBDRS_NODE == a ]]; then
  log "node-a writes while cut off"
  dd if=/dev/urandom of=/dev/drbd0 bs=1M count=2 seek=5 oflag=direct status=none
  sleep 3
  expect_match "still cut off" "WFConnection" "$(adm cstate r0)"
fi
sync_point cut

if [[ $DRBDRS_NODE == a ]]; then
  log "restore the link"
  nft delete table inet cut
fi
wait_for "the connection to come back" 90 bash -c 'grep -qE "cs:(Sync|Connected)" /proc/drbd'
cat /proc/drbd
wait_for "the resync to finish" 240 in_sync
cat /proc/drbd
expect_eq "oos after the resync" 0 "$(oos)"
[[ $DRBDRS_NODE == a ]] && adm secondary r0
compare_devices resynced
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
