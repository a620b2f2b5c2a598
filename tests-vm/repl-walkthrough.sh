# The classic two-node walkthrough: create-md and up on both nodes, Connected
# Secondary/Secondary Inconsistent/Inconsistent, `primary --force` on node-a, full sync to
# UpToDate/UpToDate, ext4 with checksummed files on node-a, switch over, node-b mounts it
# and finds the same files. Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B
# (tests-vm/lib/common.sh; default drbd.ko on both, drbdadm-rs on node-a, drbdadm-84 on b).
# vm-nodes: 2
# vm-check: no
# vm-disks: 8M
# vm-timeout: 900
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
MNT=/tmp/mnt
mkdir -p $MNT
wait_link
write_drbd_conf C
load_node_module

log "create-md, up"
adm_create_md r0
adm up r0
adm wait-connect r0
expect_eq "cstate" Connected "$(adm cstate r0)"
expect_eq "role" Secondary/Secondary "$(adm role r0)"
expect_eq "dstate" Inconsistent/Inconsistent "$(adm dstate r0)"
cat /proc/drbd
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
  python3 -c 'import json; d=json.load(open("/tmp/status.json"))[0]; assert d["connection"].startswith("Sync"), d' ||
    fail "status --json during the sync"
fi
wait_for "UpToDate/UpToDate" 400 in_sync
cat /proc/drbd
[[ $DRBDRS_NODE == a ]] && expect_eq "role" Primary/Secondary "$(adm role r0)"
[[ $DRBDRS_NODE == b ]] && expect_eq "role" Secondary/Primary "$(adm role r0)"
expect_eq "oos after sync" 0 "$(oos)"
sync_point synced

if [[ $DRBDRS_NODE == a ]]; then
  log "ext4 and files on node-a"
  mkfs.ext4 -q /dev/drbd0
  mount /dev/drbd0 $MNT
  for i in 1 2 3; do head -c $((i * 400000 + 4321)) /dev/urandom >$MNT/file$i; done
  echo "written on $(hostname)" >$MNT/hello.txt
  (cd $MNT && sha256sum file* hello.txt) | tee /tmp/sums
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
  umount $MNT
  adm secondary r0
fi
compare_devices switched-over

sync_point down
adm down r0
cat /proc/drbd
expect_clean_dmesg
log "ok"
