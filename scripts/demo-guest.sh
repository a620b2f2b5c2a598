# The demo scenario, run on both nodes of `make demo`.
# vm-nodes: 2
# vm-disks: 64M
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"

log "$(hostname): kernel $(uname -r), link $DRBDRS_IP <-> $DRBDRS_PEER_IP"
for _ in $(seq 60); do ping -c1 -W1 "$DRBDRS_PEER_IP" >/dev/null 2>&1 && break; done
ping -c1 -W2 "$DRBDRS_PEER_IP" >/dev/null && log "peer reachable"
log "insmod drbd_rs.ko"
insmod "$MODULE_KO"
ps -eo comm | grep -E '^drbd' || true
log "cat /proc/drbd"
cat /proc/drbd
"$TOOL" version
rmmod drbd_rs
log "module unloaded"
