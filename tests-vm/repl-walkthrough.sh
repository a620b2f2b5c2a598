# The classic two-node walkthrough: create-md and up on both nodes, Connected
# Secondary/Secondary Inconsistent/Inconsistent, `primary --force` on node-a, full sync to
# UpToDate/UpToDate while node-a makes ext4 and writes checksummed files, switch over,
# node-b mounts it and finds the same files; both lower devices hold the same replicated
# area; down, the threads gone, the module removed. `make demo` shows it (scripts/demo.sh).
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both by default, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b, so
# both tools drive drbd_rs).
# vm-nodes: 2
# The link carries about 0.4 MB/s under TCG with the debug kernel: a small disk keeps the
# initial sync short.
# vm-disks: 8M
# vm-timeout: 900
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
MNT=/tmp/mnt
mkdir -p $MNT
wait_link
write_drbd_conf C
load_node_module

log "create-md, up"
adm_create_md r0
# drbdsetup-84's `events` and `wait-connect` follow the DRBD_EVENT notifications sent
# after each state change (after one GET_STATUS): the init script and the cluster agents
# wait this way.
/lib/drbd/drbdsetup-84 events all >/tmp/events 2>&1 &
events_pid=$!
adm up r0
adm_within 120 wait-connect r0 || fail "wait-connect did not return within 120 s"
wait_for "the peer" 60 fresh_pair
kill $events_pid
cat /tmp/events
grep -q '^[0-9]* ST-new 0,r0\[0\] { cs:Connected ' /tmp/events ||
  fail "drbdsetup-84 events did not show the connection"
expect_eq "cstate" Connected "$(adm cstate r0)"
expect_eq "role" Secondary/Secondary "$(adm role r0)"
expect_eq "dstate" Inconsistent/Inconsistent "$(adm dstate r0)"
cat /proc/drbd
if [[ $NODE_MODULE == drbd_rs ]]; then
  ps -eo comm | grep -E '^drbd0_(worker|receiver|asender)$' | sort | tr '\n' ' ' >/tmp/threads
  expect_eq "threads" "drbd0_asender drbd0_receiver drbd0_worker " "$(cat /tmp/threads)"
fi
if [[ $NODE_TOOL == drbdadm-rs ]]; then
  adm status r0 | tee /tmp/status
  grep -q "connection:Connected peer-role:Secondary peer-disk:Inconsistent" /tmp/status ||
    fail "status does not show the connection"
fi
sync_point connected

if [[ $DRBDRS_NODE == a ]]; then
  log "primary --force: full sync to the peer"
  adm primary --force r0
fi
wait_for "the sync to start" 60 bash -c '! grep -q "cs:Connected.*Inconsistent/Inconsistent" /proc/drbd'
if [[ $NODE_TOOL == drbdadm-rs ]] && grep -q "cs:Sync" /proc/drbd; then
  adm status --json r0 | tee /tmp/status.json
  # The sync may have ended between /proc/drbd and the status call (8 MiB go fast).
  python3 -c 'import json; d=json.load(open("/tmp/status.json"))[0]; assert d["connection"].startswith("Sync") or (d["connection"], d["disk"], d["peer-disk"]) == ("Connected", "UpToDate", "UpToDate"), d' ||
    fail "status --json during the sync"
fi
if [[ $DRBDRS_NODE == a ]]; then
  # As the DRBD guide says, the new Primary is usable at once: its writes race the sync's
  # (this found a worker that never slept while an application write held the socket).
  log "ext4 and files on node-a while the initial sync runs"
  mkfs.ext4 -q /dev/drbd0
  mount /dev/drbd0 $MNT
  for i in 1 2 3; do head -c $((i * 400000 + 4321)) /dev/urandom >$MNT/file$i; done
  echo "written on $(hostname)" >$MNT/hello.txt
  sync
  (cd $MNT && sha256sum file* hello.txt) | tee /tmp/sums
fi
# The progress bar every 10 s while the sync runs.
deadline=$((SECONDS + 400))
until in_sync; do
  ((SECONDS < deadline)) || { cat /proc/drbd; fail "no UpToDate/UpToDate after 400 s"; }
  grep -A2 '^ *0: cs:Sync' /proc/drbd || true
  sleep 10
done
log "initial sync done"
cat /proc/drbd
[[ $DRBDRS_NODE == a ]] && expect_eq "role" Primary/Secondary "$(adm role r0)"
[[ $DRBDRS_NODE == b ]] && expect_eq "role" Secondary/Primary "$(adm role r0)"
expect_eq "oos after sync" 0 "$(oos)"
sync_point synced

if [[ $DRBDRS_NODE == a ]]; then
  umount $MNT
  adm secondary r0
fi
sums=$(sync_point node-a-secondary "$(base64 -w0 /tmp/sums 2>/dev/null || true)")
wait_for "in sync after the writes" 60 in_sync

if [[ $DRBDRS_NODE == b ]]; then
  log "switch over: node-b primary, same files"
  echo "$sums" | base64 -d >/tmp/sums
  adm primary r0
  expect_eq "role" Primary/Secondary "$(adm role r0)"
  mount /dev/drbd0 $MNT
  (cd $MNT && sha256sum -c /tmp/sums)
  log "node-b has node-a's files"
  cat /proc/drbd
  umount $MNT
  adm secondary r0
fi
compare_devices switched-over

sync_point down
adm down r0
cat /proc/drbd
! grep -q " 0: cs:" /proc/drbd || fail "minor 0 still shown after down"
unload_node_module
ps -eo comm | grep -E '^drbd' && fail "DRBD threads left after rmmod"
expect_clean_dmesg
log "ok"
