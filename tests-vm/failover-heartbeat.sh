# Failover under Heartbeat v1 (haresources), as the tutorials set it up: drbd_rs loaded by
# `modprobe drbd` (scripts/install.sh's alias), drbd-utils' drbdadm (9.x front end, which
# hands over to its 8.4 tools), the stock `drbddisk`, `IPaddr` and `Filesystem` resource
# scripts, and a small service on the replicated ext4 (tests-vm/lib/ha-logger: appends a
# checksummed line every second; the test kernel has no NFSD for the tutorials' NFS export).
# Boot 1: both nodes create-md/up on zeroed disks (new-current-uuid --clear-bitmap instead of
# an initial sync), node-a formats, heartbeat starts on both (/etc/init.d/heartbeat), node-a
# takes the resources, writes files and their checksums, then loses power (QEMU killed).
# node-b's heartbeat declares node-a dead and takes over: Primary, mounted, service IP up,
# the service running, node-a's files and service log intact; node-b writes more.
# Boot 2 of node-a (once node-b has taken over): `up` with the meta data as the crash left
# it, returns as Secondary and resyncs only what changed (not the whole device); heartbeat on
# node-a rejoins without taking the resources back (auto_failback off); `hb_standby` on node-b
# hands them to node-a, which serves the same data. Heartbeat's logs: out/node-*/ha-log-boot*.
# Runs in `make check-failover` (skipped in `make check`: budget); ≈ 8–10 min on a quiet
# host, 14 min on a loaded one. Passed whole 2026-12-01 in 7.7 min (takeover 65 s after node-a's power
# loss, node-a resynced 41961 KiB of 131072, failback 76 s), on a loaded host in 14 min
# (takeover 108 s), with fencing in the module in 7.5 min (takeover 62 s, 41964 KiB,
# failback 75 s).
# vm-nodes: 2
# vm-disks: 128M
# vm-timeout: 1200
DRBD_MODULE_A=drbd_rs DRBD_MODULE_B=drbd_rs
# Heartbeat's drbddisk runs drbd-utils' drbdadm: the test's own calls use it too.
DRBD_TOOL_A=${DRBD_TOOL_A:-drbdadm-84} DRBD_TOOL_B=${DRBD_TOOL_B:-drbdadm-84}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SERVICE=/etc/ha.d/resource.d/ha-logger
CLUSTER_LOG=$DRBDRS_RESULTS/ha-log-boot$BOOT
source "$DRBDRS_REPO/tests-vm/lib/failover.sh"
# Under TCG on a busy host every resource script takes tens of seconds (heartbeat starts a
# group one script after the other): the nodes wait for each other longer than usual.
SYNC_TIMEOUT=900
wait_link

# --- module loading as drbd-utils does it -------------------------------------------------
load_drbd_as_tools_do
expect_match "/proc/drbd" "^version: 8\.4\." "$(head -1 /proc/drbd)"
v=$(drbdadm -V 2>&1)
expect_match "drbdadm -V with drbd_rs loaded" "DRBDADM_API_VERSION=1" "$v"
expect_match "drbdadm -V kernel version" "DRBD_KERNEL_VERSION_CODE=0x0804" "$v"
log "modprobe drbd loaded drbd_rs; drbdadm dispatches to the 8.4 tools"

# ping-int 3: a dead peer is noticed within ~6 s, before heartbeat's deadtime runs out.
# al-extents 7 (the least): a crashed Primary's activity log covers at most 28 MiB of the
# 128 MiB, so "resyncs only what changed" is visible in the resync's size.
write_drbd_conf C "connect-int 3; ping-int 3;" "resync-rate 20M; al-extents 7;"
mkdir -p /data

# --- heartbeat v1 configuration -----------------------------------------------------------
# Timings for TCG guests on a busy host: a guest can stall for a second or two.
cat >/etc/ha.d/ha.cf <<CONF
logfile $DRBDRS_RESULTS/ha-log-boot$BOOT
logfacility none
use_logd no
keepalive 1
warntime 6
deadtime 15
initdead 30
udpport 694
ucast $DRBDRS_NIC $DRBDRS_PEER_IP
auto_failback off
crm no
node node-a
node node-b
CONF
printf 'auth 1\n1 sha1 drbd_rs-failover-test\n' >/etc/ha.d/authkeys
chmod 600 /etc/ha.d/authkeys
echo "node-a IPaddr::$SERVICE_IP/24/$DRBDRS_NIC drbddisk::r0 Filesystem::/dev/drbd0::/data::ext4::noinit_itable ha-logger" >/etc/ha.d/haresources
install -m 755 "$DRBDRS_REPO/tests-vm/lib/ha-logger" /etc/ha.d/resource.d/ha-logger
# The guests share the host's root: give each node its own heartbeat UUID, the same in every
# boot (a node coming back with a new one would be a stranger to its peer).
printf "drbdrs-hb-node-%s" "$DRBDRS_NODE" >/var/lib/heartbeat/hb_uuid
expect_eq "uname -n" "node-$DRBDRS_NODE" "$(uname -n)"

start_heartbeat() {
  /etc/init.d/heartbeat start || { tail -20 "$DRBDRS_RESULTS/ha-log-boot$BOOT"; fail "heartbeat did not start"; }
}
stop_heartbeat() {
  /etc/init.d/heartbeat stop || { tail -20 "$DRBDRS_RESULTS/ha-log-boot$BOOT"; fail "heartbeat did not stop"; }
}
if ((BOOT == 1)); then
  prepare_replicated_fs
  start_heartbeat
  if [[ $DRBDRS_NODE == a ]]; then
    wait_serving "start" 600
    written=$(write_files) || exit 1
    sync_point written "$written"
    cat /proc/drbd
    power_loss
  fi
  read -r sums a_lines < <(sync_point written)
  log "node-a's checksum list $sums, $a_lines service lines; waiting for node-a's power loss"
  wait_serving "takeover after node-a's power loss" 600
  cat /proc/drbd
  expect_eq "drbdadm role" "Primary/Unknown" "$(drbdadm role r0)"
  expect_eq "drbdadm cstate" "WFConnection" "$(drbdadm cstate r0)"
  expect_eq "drbdadm dstate" "UpToDate/DUnknown" "$(drbdadm dstate r0)"
  sums=$(check_takeover "$sums" "$a_lines") || exit 1
  sync_point returned "$sums" >/dev/null
else
  # Down for a while, as a dead machine is: back only once node-b has taken over.
  sums=$(sync_point returned)
  log "back after the power loss: up with the meta data as the crash left it"
  adm up r0
fi

# --- node-a is back: resync of what changed, heartbeat rejoins ---------------------------
wait_for "the resync to finish" 300 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then
  expect_eq "returning node's role" "Secondary/Primary" "$(drbdadm role r0)"
  check_partial_resync
  start_heartbeat
  # Joined: it sees node-b's heartbeat, and (auto_failback off) leaves the resources there.
  wait_for "node-a's heartbeat to see node-b" 120 bash -c '[[ $(cl_status nodestatus node-b 2>/dev/null) == active ]]'
  sleep 5
  idle || fail "node-a took resources on rejoining (auto_failback off)"
fi
sync_point rejoined
if [[ $DRBDRS_NODE == b ]]; then
  serving || fail "node-b no longer serves after node-a rejoined"
  log "manual failback: hb_standby on node-b"
  /usr/share/heartbeat/hb_standby || fail "hb_standby failed"
  wait_for "node-b to give up the resources" 600 idle
else
  wait_serving "failback" 600
  cat /proc/drbd
  check_data "$sums"
  (($(service_lines b) >= 3)) || fail "node-b's service lines missing after failback"
  n=$(service_lines a)
  wait_for "node-a's service to write again" 120 bash -c "((\$(grep -c '^node-a ' /data/service/log) > $n + 2))"
  log "node-a serves node-b's data after the failback"
fi
sync_point failed-back

# --- teardown: node-b's heartbeat first, so node-a's stop does not hand anything over -----
[[ $DRBDRS_NODE == b ]] && stop_heartbeat
sync_point b-stopped
[[ $DRBDRS_NODE == a ]] && { stop_heartbeat; idle || fail "node-a still holds resources after heartbeat stop"; }
sync_point a-stopped
wait_for "both Secondary" 60 is_ro Secondary/Secondary
compare_devices final
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
