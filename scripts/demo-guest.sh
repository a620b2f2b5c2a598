# The demo scenario, run on both nodes of `make demo`. Today: a single-node DRBD life cycle on
# each node (replication, sync and failover arrive with the replication issues).
# vm-nodes: 2
# vm-disks: 64M
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
adm() { echo "# drbdadm-rs $*"; "$TOOL" "$@"; }
# `up` without its last step, connect: this test runs without a peer (two-node scenarios:
# tests-vm/repl-*.sh).
up_local() { adm new-resource "$1"; adm new-minor "$1"; adm attach "$1"; }
show_proc() { echo "# cat /proc/drbd"; cat /proc/drbd; }

cat >/etc/drbd.conf <<'CONF'
global { usage-count no; }
resource r0 {
  net { protocol C; }
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
CONF

log "$(hostname): kernel $(uname -r), link $DRBDRS_IP <-> $DRBDRS_PEER_IP"
for _ in $(seq 60); do ping -c1 -W1 "$DRBDRS_PEER_IP" >/dev/null 2>&1 && break; done
ping -c1 -W2 "$DRBDRS_PEER_IP" >/dev/null && log "peer reachable"
insmod "$MODULE_KO"
ps -eo comm | grep -E '^drbd' || true
adm create-md r0
up_local r0
ps -eo comm | grep -E '^drbd[0-9]+_' || fail "no drbd kernel threads"
show_proc
if [[ $DRBDRS_NODE == a ]]; then
  adm primary --force r0
  show_proc
  mkfs.ext4 -q /dev/drbd0
  mkdir -p /tmp/mnt && mount /dev/drbd0 /tmp/mnt
  echo "written on $(hostname) at $(date)" >/tmp/mnt/hello.txt
  head -c 4M /dev/urandom >/tmp/mnt/data.bin
  (cd /tmp/mnt && sha256sum hello.txt data.bin)
  umount /tmp/mnt
  adm secondary r0
fi
adm status r0
show_proc
adm down r0
rmmod drbd_rs
log "done"
