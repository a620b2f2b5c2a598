# Failover under Pacemaker + corosync, as the DRBD 8.4 User's Guide sets it up: drbd_rs loaded
# by `modprobe drbd`, drbd-utils' drbdadm, the stock OCF agent `ocf:linbit:drbd` as a
# master/slave (promotable) clone, a group of Filesystem (the replicated ext4 on /data),
# IPaddr2 (the service IP) and the small service tests-vm/lib/ha-logger (as lsb:ha-logger; the
# test kernel has no NFSD) colocated with and ordered after the promoted instance.
# Boot 1: both nodes create-md/up on zeroed disks (no initial sync), node-a formats, both take
# drbd down again and start corosync and pacemaker (/etc/init.d); node-a loads the
# configuration with crmsh; Pacemaker starts DRBD on both, promotes node-a, which serves;
# node-a writes files and their checksums, then loses power (QEMU killed). node-b is promoted
# and serves with node-a's files and service log intact; node-b writes more.
# Boot 2 of node-a: only corosync and pacemaker are started; Pacemaker starts DRBD as Slave,
# which resyncs only what changed (not the whole device), and leaves the group on node-b
# (stickiness); node-a's after-resync-target (crm-unfence-peer.sh) removes the constraint
# node-b's fence-peer handler (crm-fence-peer.sh) placed when it was promoted. Logs:
# out/node-*/corosync-boot*.log, pacemaker-boot*.log. Passed whole 2026-12-01 in 19 min on a
# loaded host (takeover 141 s after the power loss, node-a resynced 17420 KiB of 131072).
# vm-nodes: 2
# vm-disks: 128M
# vm-timeout: 1500
DRBD_MODULE_A=drbd_rs DRBD_MODULE_B=drbd_rs
# The OCF agent runs drbd-utils' drbdadm: the test's own calls use it too.
DRBD_TOOL_A=${DRBD_TOOL_A:-drbdadm-84} DRBD_TOOL_B=${DRBD_TOOL_B:-drbdadm-84}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SERVICE=/etc/init.d/ha-logger
CLUSTER_LOG=$DRBDRS_RESULTS/pacemaker-boot$BOOT.log
source "$DRBDRS_REPO/tests-vm/lib/failover.sh"
# Under TCG on a busy host every agent call takes seconds: the nodes wait longer than usual.
SYNC_TIMEOUT=900
wait_link

load_drbd_as_tools_do
# ping-int 3: a dead peer is noticed within ~6 s. al-extents 7 (the least): a crashed
# Primary's activity log covers at most 28 MiB of the 128 MiB, so "resyncs only what
# changed" is visible in the resync's size. Fencing as the DRBD 8.4 User's Guide sets it up
# for Pacemaker: the fence-peer handler places a constraint that keeps the Master role on
# this node while the peer is away, the peer's after-resync-target removes it.
write_drbd_conf C "connect-int 3; ping-int 3;" "resync-rate 20M; al-extents 7; fencing resource-only;" \
  'handlers { fence-peer "/usr/lib/drbd/crm-fence-peer.sh"; after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh"; }'
mkdir -p /data
install -m 755 "$DRBDRS_REPO/tests-vm/lib/ha-logger" /etc/init.d/ha-logger
expect_eq "uname -n" "node-$DRBDRS_NODE" "$(uname -n)"

# --- corosync 3 (knet) on the private link, two_node quorum --------------------------------
# token 5000: a TCG guest on a busy host can stall for a second or two.
cat >/etc/corosync/corosync.conf <<CONF
totem {
  version: 2
  cluster_name: drbdrs
  transport: knet
  crypto_cipher: none
  crypto_hash: none
  token: 5000
}
nodelist {
  node {
    ring0_addr: 169.254.77.1
    name: node-a
    nodeid: 1
  }
  node {
    ring0_addr: 169.254.77.2
    name: node-b
    nodeid: 2
  }
}
quorum {
  provider: corosync_votequorum
  two_node: 1
}
logging {
  to_logfile: yes
  logfile: $DRBDRS_RESULTS/corosync-boot$BOOT.log
  to_syslog: no
  to_stderr: no
  timestamp: on
}
CONF
echo "PCMK_logfile=$CLUSTER_LOG" >>/etc/default/pacemaker

# The constraint crm-fence-peer.sh places (id drbd-fence-by-handler-RES-MS).
fence_constraint() { cibadmin -Q -o constraints 2>/dev/null | grep -o 'id="drbd-fence-by-handler-r0-ms_drbd_r0"' | head -1; }

start_cluster() {
  # (The init script answers 0 even when corosync refuses its configuration.)
  /etc/init.d/corosync start && sleep 1 && pidof corosync >/dev/null ||
    { tail -20 "$DRBDRS_RESULTS/corosync-boot$BOOT.log"; fail "corosync did not start"; }
  /etc/init.d/pacemaker start || { tail -20 "$CLUSTER_LOG"; fail "pacemaker did not start"; }
  wait_for "both nodes online in Pacemaker" 300 bash -c 'crm_mon -1 2>/dev/null | grep -q "Online: \[ node-a node-b \]"'
}
stop_cluster() {
  /etc/init.d/pacemaker stop || { tail -20 "$CLUSTER_LOG"; fail "pacemaker did not stop"; }
  /etc/init.d/corosync stop || fail "corosync did not stop"
}

if ((BOOT == 1)); then
  prepare_replicated_fs
  sync_point formatted-secondary
  # From here on DRBD is Pacemaker's: down until the agent starts it.
  adm down r0
  sync_point down-for-pacemaker
  start_cluster
  sync_point cluster-up
  if [[ $DRBDRS_NODE == a ]]; then
    cat >/tmp/cluster.crm <<CRM
property cib-bootstrap-options: stonith-enabled=false no-quorum-policy=ignore
rsc_defaults rsc-options: resource-stickiness=100
op_defaults op-options: timeout=120s
primitive p_drbd_r0 ocf:linbit:drbd params drbd_resource=r0 \\
  op monitor interval=9s role=Master timeout=60s op monitor interval=11s role=Slave timeout=60s \\
  op start timeout=240s op stop timeout=120s op promote timeout=120s op demote timeout=120s \\
  op notify timeout=120s
ms ms_drbd_r0 p_drbd_r0 meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
primitive p_fs Filesystem params device=/dev/drbd0 directory=/data fstype=ext4 options=noinit_itable \\
  op start timeout=120s op stop timeout=120s op monitor interval=20s timeout=60s
primitive p_ip IPaddr2 params ip=$SERVICE_IP cidr_netmask=24 nic=$DRBDRS_NIC op monitor interval=20s timeout=60s
primitive p_service lsb:ha-logger op monitor interval=10s timeout=60s
group g_service p_fs p_ip p_service
colocation c_service_on_drbd inf: g_service ms_drbd_r0:Master
order o_drbd_before_service Mandatory: ms_drbd_r0:promote g_service:start
location l_service_prefers_a g_service 50: node-a
CRM
    crm configure load update /tmp/cluster.crm || fail "crm configure load failed"
    crm configure show >"$DRBDRS_RESULTS/cluster.crm"
    wait_serving "start" 600
    crm_mon -1 || true
    written=$(write_files) || exit 1
    sync_point written "$written"
    cat /proc/drbd
    power_loss
  fi
  read -r sums a_lines < <(sync_point written)
  log "node-a's checksum list $sums, $a_lines service lines; waiting for node-a's power loss"
  wait_serving "takeover after node-a's power loss" 600
  crm_mon -1 || true
  expect_eq "drbdadm role" "Primary/Unknown" "$(drbdadm role r0)"
  expect_eq "drbdadm cstate" "WFConnection" "$(drbdadm cstate r0)"
  # The promotion asked the fence-peer handler: it placed the constraint, and the peer's
  # disk counts as Outdated.
  expect_eq "drbdadm dstate" "UpToDate/Outdated" "$(drbdadm dstate r0)"
  [[ -n $(fence_constraint) ]] || fail "no fence constraint after the takeover: $(cibadmin -Q -o constraints)"
  dmesg | grep -E "fence-peer helper returned [457] " || fail "the kernel log shows no fence-peer answer"
  log "node-b was promoted after the fence-peer handler placed the constraint"
  sums=$(check_takeover "$sums" "$a_lines") || exit 1
  sync_point returned "$sums" >/dev/null
else
  # Down for a while, as a dead machine is: back only once node-b has taken over.
  sums=$(sync_point returned)
  log "back after the power loss: only the cluster is started, Pacemaker starts DRBD"
  start_cluster
fi

# --- node-a is back: Pacemaker starts DRBD as Slave, it resyncs what changed -------------
wait_for "the resync to finish" 600 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then
  expect_eq "returning node's role" "Secondary/Primary" "$(drbdadm role r0)"
  check_partial_resync
  sleep 10
  idle || fail "node-a took resources on rejoining (stickiness)"
fi
sync_point rejoined
if [[ $DRBDRS_NODE == b ]]; then
  # node-a's after-resync-target (crm-unfence-peer.sh) removes the constraint.
  wait_for "the fence constraint to be removed" 120 bash -c '! cibadmin -Q -o constraints 2>/dev/null | grep -q drbd-fence-by-handler-r0'
  log "the fence constraint was removed after the resync"
  serving || fail "node-b no longer serves after node-a rejoined"
  check_data "$sums"
  crm_mon -1 || true
  # Teardown: the group stopped (the file system unmounted) before the devices are compared.
  crm resource stop g_service || fail "crm resource stop g_service failed"
  wait_for "the group to stop" 300 bash -c '! mountpoint -q /data'
fi
sync_point service-stopped
compare_devices final
# node-a's cluster first, so that nothing moves to it.
[[ $DRBDRS_NODE == a ]] && stop_cluster
sync_point a-stopped
[[ $DRBDRS_NODE == b ]] && stop_cluster
sync_point b-stopped
grep -q '^ *0: ' /proc/drbd && fail "pacemaker's stop left drbd up: $(cat /proc/drbd)"
expect_clean_dmesg
log "ok"
