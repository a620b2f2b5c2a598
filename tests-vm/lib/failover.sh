# Shared by the failover tests (failover-heartbeat.sh, failover-pacemaker.sh): the service
# group (the replicated ext4 on /data, a service IP, tests-vm/lib/ha-logger as the service)
# and the checks on it. Sourced after common.sh; the test sets SERVICE (the ha-logger script
# as its cluster manager runs it) and CLUSTER_LOG (the manager's log, shown on failures).
SERVICE_IP=169.254.77.10

# load_drbd_as_tools_do: drbd_rs installed and loaded the way drbd-utils' scripts load it,
# `modprobe drbd` (scripts/install.sh's alias). Before the module is loaded drbdadm asks
# `modinfo drbd` which tools to run, and modinfo does not follow modprobe.d aliases: that one
# case picks the 9.x tools. Every stock script runs `modprobe drbd` first;
# Documentation/failover.md says so.
load_drbd_as_tools_do() {
  install_for_modprobe
  modprobe drbd
  grep -q '^drbd_rs ' /proc/modules || fail "modprobe drbd did not load drbd_rs: $(cat /proc/modules)"
}

# serving: this node holds every resource of the group.
serving() {
  is_ro 'Primary/.*' && mountpoint -q /data && ip -o addr show dev "$DRBDRS_NIC" | grep -q " $SERVICE_IP/" &&
    "$SERVICE" status >/dev/null
}
# idle: this node holds none of them.
idle() {
  is_ro 'Secondary/.*' && ! mountpoint -q /data && ! ip -o addr show dev "$DRBDRS_NIC" | grep -q " $SERVICE_IP/" &&
    ! "$SERVICE" status >/dev/null
}
wait_serving() { # wait_serving WHAT SECS
  local start=$SECONDS
  until serving; do
    if ((SECONDS > start + $2)); then
      cat /proc/drbd; mount | grep /data || true; ip -o addr show dev "$DRBDRS_NIC"
      tail -30 "$CLUSTER_LOG"
      fail "$1: node-$DRBDRS_NODE does not serve after $2 s"
    fi
    sleep 1
  done
  log "node-$DRBDRS_NODE serves ($1) after $((SECONDS - start)) s"
}
# service_lines NODE: the service log's lines written on NODE.
service_lines() { grep -c "^node-$1 " /data/service/log || true; }
check_data() { # check_data EXPECTED-SUMS-SHA
  (cd /data/files && sha256sum --quiet -c ../files.sha256) || fail "node-$DRBDRS_NODE: a file's checksum differs"
  expect_eq "checksum list" "$1" "$(sha256sum </data/files.sha256 | cut -c1-64)"
  "$SERVICE" check /data/service/log || fail "node-$DRBDRS_NODE: the service log is damaged"
}
sums_of_files() { sha256sum </data/files.sha256 | cut -c1-64; }

# The first boot's common start: both nodes create-md/up on zeroed disks, no initial sync
# (new-current-uuid --clear-bitmap: both disks are zeros), node-a formats; both end Secondary.
prepare_replicated_fs() {
  up_zeroed_pair
  if [[ $DRBDRS_NODE == a ]]; then
    adm primary r0
    # The disks are zeros: the inode tables need no initialising (mkfs leaves them to the
    # kernel's lazy init, which the mount option noinit_itable turns off).
    mkfs.ext4 -q -E lazy_itable_init=1,lazy_journal_init=0,nodiscard /dev/drbd0
    adm secondary r0
  fi
  sync_point formatted
  wait_for "both Secondary" 60 is_ro Secondary/Secondary
}

# On the serving node-a: files with their checksums, the service's lines counted. Prints
# "SUMS LINES" for the peer. Run as `x=$(write_files) || exit 1` (a failure exits only the
# command substitution's subshell), as check_takeover.
write_files() {
  {
  mkdir /data/files
  for i in 1 2 3 4 5 6; do head -c 256K /dev/urandom >/data/files/f$i; done
  (cd /data/files && sha256sum f*) >/data/files.sha256
  sync
  sleep 3
  local lines
  lines=$(service_lines a)
  ((lines > 0)) || fail "the service wrote nothing on node-a"
  log "node-a wrote its files; the service wrote $lines lines"
  } >&2
  echo "$(sums_of_files) $lines"
}

# On the node that took over: node-a's data intact, the new service writing, 1 MiB more.
# check_takeover SUMS A-LINES; prints the new checksum list's sum.
check_takeover() {
  {
  check_data "$1"
  # Every line node-a's service had fsynced before the count was taken is here.
  (($(service_lines a) >= $2 - 1)) || fail "node-a's service lines: $(service_lines a) of $2"
  wait_for "node-b's service to write" 120 bash -c '(($(grep -c "^node-b " /data/service/log) >= 3))'
  head -c 1M /dev/urandom >/data/files/f7
  (cd /data/files && sha256sum f*) >/data/files.sha256
  sync
  log "node-b took over with node-a's data intact, wrote 1 MiB more"
  } >&2
  sums_of_files
}

# On the returning node-a after its resync: what it received is what changed, not the
# device. 128 MiB device: the crashed Primary's activity-log extents (al-extents 7: at most
# 28 MiB) and what node-b wrote as Primary — ext4's journal (16 MiB on this size) cycles
# through its area during the recovery and the service's writes, plus the new file and
# metadata. Measured 2026-12-01 (heartbeat): 41964 KiB. A full sync would be all 131072.
check_partial_resync() {
  local received
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  ((received > 0 && received <= 65536)) || fail "node-a received $received KiB in the resync: want what changed, not all 131072"
  log "node-a resynced $received KiB of 131072"
}
