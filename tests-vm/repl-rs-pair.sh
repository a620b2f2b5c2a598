# Two drbd_rs nodes driven by drbd-utils' drbdadm (8.4): create-md, up, Connected
# Secondary/Secondary Inconsistent/Inconsistent, primary --force on node-a, full sync to
# UpToDate/UpToDate, a checksummed write on node-a under protocol C, switch-over, node-b reads
# the same data, down on both.
# vm-nodes: 2
# The link carries about 0.4 MB/s under TCG with the debug kernel: small disks keep the
# full syncs short.
# vm-disks: 8M
# vm-timeout: 600
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
cat >/etc/drbd.conf <<'CONF'
global { usage-count no; }
# ping-timeout 3 s: guests under TCG on a loaded host stall for more than drbd's 0.5 s.
common { net { protocol C; ping-timeout 30; } disk { resync-rate 40M; c-plan-ahead 0; } }
resource r0 {
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
CONF
for _ in $(seq 60); do ping -c1 -W1 "$DRBDRS_PEER_IP" >/dev/null 2>&1 && break; done

insmod "$MODULE_KO"
yes yes | drbdadm create-md r0 >/dev/null
drbdadm up r0

# wait_proc REGEX [SECONDS]: until /proc/drbd's device line matches.
wait_proc() {
  local t=${2:-120}
  for _ in $(seq $((t * 5))); do
    grep -Eq "$1" /proc/drbd && return 0
    sleep 0.2
  done
  cat /proc/drbd; dmesg | grep -i drbd | tail -60
  fail "timed out waiting for /$1/ in /proc/drbd"
}
# Deterministic test data both nodes can produce: 2 MiB from a seeded generator.
pattern() { python3 -c 'import random,sys; r=random.Random(7); sys.stdout.buffer.write(r.randbytes(2<<20))'; }

wait_proc 'cs:Connected ro:Secondary/Secondary ds:Inconsistent/Inconsistent'
log "connected"; cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then
  drbdadm primary --force r0
fi
wait_proc 'cs:(SyncSource|SyncTarget|Connected)'
cat /proc/drbd
wait_proc 'cs:Connected ro:(Primary/Secondary|Secondary/Primary) ds:UpToDate/UpToDate' 300
log "synced"; cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then
  pattern >/tmp/pattern
  timeout 120 dd if=/tmp/pattern of=/dev/drbd0 bs=1M oflag=direct status=none ||
    { cat /proc/drbd; dmesg | grep -i drbd | tail -60; ps -eo pid,stat,wchan:30,comm | grep -i "drbd\| dd"; fail "write on node-a"; }
  cmp <(dd if=/dev/drbd0 bs=1M count=2 iflag=direct status=none) <(pattern) || fail "read back differs"
  drbdadm secondary r0
  wait_proc 'ro:Secondary/Primary'
else
  # node-a writes, then demotes: wait for that, then take over.
  wait_proc 'ro:Secondary/Primary'
  wait_proc 'ro:Secondary/Secondary' 300 || { dmesg | grep -i drbd | tail -60; false; }
  drbdadm primary r0
  cmp <(dd if=/dev/drbd0 bs=1M count=2 iflag=direct status=none) <(pattern) || fail "node-b does not have node-a's data"
  log "node-b has node-a's data"
  drbdadm secondary r0
fi
wait_proc 'ro:Secondary/Secondary'
cat /proc/drbd
sleep 2
drbdadm down r0
cat /proc/drbd
rmmod drbd_rs
expect_clean_dmesg
log "ok"
