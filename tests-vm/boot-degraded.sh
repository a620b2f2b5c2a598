# Boot-time start with the peer absent, as drbd-utils' stock init script does it
# (/etc/init.d/drbd start: `modprobe drbd` — drbd_rs through scripts/install.sh's alias —,
# `drbdadm adjust-with-progress all`, `drbdadm wait-con-int`), with drbd-utils' drbdadm.
# Boot 1: a connected pair, node-a Primary writes; node-b loses power; node-a, now a degraded
# Primary, writes more and loses power too. Boot 2 of node-a, node-b still away: the init
# script waits `degr-wfc-timeout` (the kernel says the node was a degraded Primary), not
# `wfc-timeout`, then goes on: Secondary, WFConnection, UpToDate/DUnknown; promoted, it
# reads everything it wrote. Boot 2 of node-b afterwards: its init script connects, node-b
# resyncs what it missed, both lower devices end identical; `/etc/init.d/drbd stop` on both.
# vm-nodes: 2
# vm-disks: 16M
# vm-timeout: 900
DRBD_MODULE_A=drbd_rs DRBD_MODULE_B=drbd_rs
# The init script runs drbd-utils' drbdadm: the test's own calls use it too.
DRBD_TOOL_A=drbdadm-84 DRBD_TOOL_B=drbdadm-84
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
install_for_modprobe
WFC=120 DEGR_WFC=15
STARTUP_OPTIONS="wfc-timeout $WFC; degr-wfc-timeout $DEGR_WFC;" write_drbd_conf C "connect-int 3;"

# init_start: the stock init script's start; prints how long it took (seconds).
init_start() {
  local start=$SECONDS
  /etc/init.d/drbd start </dev/null >&2 || fail "/etc/init.d/drbd start failed"
  grep -q '^drbd_rs ' /proc/modules || fail "the init script did not load drbd_rs: $(cat /proc/modules)"
  echo $((SECONDS - start))
}

if ((BOOT == 1)); then
  modprobe drbd
  up_zeroed_pair
  if [[ $DRBDRS_NODE == a ]]; then
    adm primary r0
    seeded_data 11 | dd of=/dev/drbd0 bs=1M oflag=direct status=none
  fi
  sync_point written
  [[ $DRBDRS_NODE == b ]] && power_loss
  wait_for "the peer to be missed" 90 is_cs WFConnection
  log "degraded Primary: writes more, then loses power as well"
  seeded_data 22 | dd of=/dev/drbd0 bs=1M seek=4 oflag=direct status=none
  cat /proc/drbd
  power_loss
fi

if [[ $DRBDRS_NODE == a ]]; then
  log "boot with the peer away: the init script waits degr-wfc-timeout ($DEGR_WFC s)"
  took=$(init_start)
  cat /proc/drbd
  log "/etc/init.d/drbd start took $took s"
  ((took >= DEGR_WFC && took < WFC)) || fail "start took $took s: want degr-wfc-timeout ($DEGR_WFC s), not wfc-timeout ($WFC s)"
  expect_eq "cstate after the start" WFConnection "$(drbdadm cstate r0)"
  expect_eq "role after the start" "Secondary/Unknown" "$(drbdadm role r0)"
  expect_eq "dstate after the start" "UpToDate/DUnknown" "$(drbdadm dstate r0)"
  adm primary r0
  drbd_has 11 || fail "node-a lost its replicated write"
  cmp <(dd if=/dev/drbd0 bs=1M skip=4 count=2 iflag=direct status=none) <(seeded_data 22) ||
    fail "node-a lost what it wrote as a degraded Primary"
  adm secondary r0
  log "node-a started degraded with its data intact"
fi
sync_point started-degraded
if [[ $DRBDRS_NODE == b ]]; then
  log "node-b returns: its init script finds the peer"
  took=$(init_start)
  log "/etc/init.d/drbd start took $took s"
fi
wait_for "the resync to finish" 240 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == b ]]; then
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  # What node-a wrote alone (2 MiB) and the extents its activity log held at the crash, not
  # the whole 16 MiB.
  ((received >= 2048 && received < 16384)) || fail "node-b received $received KiB, want what changed"
  dd if=/dev/vda bs=1M skip=4 count=2 iflag=direct status=none | cmp - <(seeded_data 22) ||
    fail "node-b did not receive node-a's degraded writes"
fi
compare_devices resynced
sync_point stopping
/etc/init.d/drbd stop >&2 || fail "/etc/init.d/drbd stop failed"
grep -q '^ *0: cs:' /proc/drbd && { cat /proc/drbd; fail "r0 still configured after the init script's stop"; }
rmmod drbd_rs
expect_clean_dmesg
log "ok"
