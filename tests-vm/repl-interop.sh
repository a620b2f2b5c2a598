# drbd_rs (node-a) and the in-tree drbd.ko (node-b), both driven by drbd-utils' drbdadm:
# they connect, full-sync in each direction (first drbd_rs → drbd.ko, then, with fresh meta
# data, drbd.ko → drbd_rs), replicate checksummed writes both ways under protocol C and
# switch over; the data each node reads is what the other wrote.
# vm-nodes: 2
# The link carries about 0.4 MB/s under TCG with the debug kernel: small disks keep the
# full syncs short.
# vm-disks: 8M
# vm-timeout: 900
# drbd.ko 6.12 leaks the resync plan of a previous attach (see drbdadm84-local.sh).
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
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
if [[ $DRBDRS_NODE == a ]]; then insmod "$MODULE_KO"; else load_reference_drbd; fi

wait_proc() { # wait_proc REGEX [SECONDS]
  local t=${2:-300}
  for _ in $(seq $((t * 5))); do
    grep -Eq "$1" /proc/drbd && return 0
    sleep 0.2
  done
  cat /proc/drbd; dmesg | grep -i drbd | tail -40
  fail "timed out waiting for /$1/ in /proc/drbd"
}
pattern() { python3 -c 'import random,sys; r=random.Random(int(sys.argv[1])); sys.stdout.buffer.write(r.randbytes(2<<20))' "$1"; }
device_matches() { cmp <(dd if=/dev/drbd0 bs=1M count=2 iflag=direct status=none) <(pattern "$1"); }

# round WRITER SEED: WRITER forces (if asked) or is Primary, writes pattern SEED, demotes;
# the other node then promotes and must read it.
round() {
  local writer=$1 seed=$2
  if [[ $DRBDRS_NODE == "$writer" ]]; then
    drbdadm primary r0
    pattern "$seed" | dd of=/dev/drbd0 bs=1M oflag=direct status=none
    device_matches "$seed" || fail "read back on the writer"
    drbdadm secondary r0
    wait_proc 'ro:Secondary/Primary'
    wait_proc 'ro:Secondary/Secondary'
  else
    wait_proc 'ro:Secondary/Primary'
    wait_proc 'ro:Secondary/Secondary'
    drbdadm primary r0
    device_matches "$seed" || fail "node-$DRBDRS_NODE does not have node-$writer's data"
    log "node-$DRBDRS_NODE reads node-$writer's data (seed $seed)"
    drbdadm secondary r0
    wait_proc 'ro:Secondary/Secondary'
  fi
}

# sync_from SOURCE: fresh meta data on both, up, SOURCE forces itself primary, full sync.
sync_from() {
  drbdadm -- --force create-md r0 >/dev/null
  drbdadm up r0
  wait_proc 'cs:Connected ro:Secondary/Secondary ds:Inconsistent/Inconsistent'
  [[ $DRBDRS_NODE == "$1" ]] && drbdadm primary --force r0
  wait_proc 'cs:Connected ro:(Primary/Secondary|Secondary/Primary) ds:UpToDate/UpToDate'
  log "full sync from node-$1 done"; cat /proc/drbd
  [[ $DRBDRS_NODE == "$1" ]] && drbdadm secondary r0
  wait_proc 'ro:Secondary/Secondary'
}

sync_from a
round a 1
round b 2
sleep 2
drbdadm down r0
sync_from b
round b 3
round a 4
sleep 2
drbdadm down r0
if [[ $DRBDRS_NODE == a ]]; then rmmod drbd_rs; else rmmod drbd lru_cache; fi
log "ok"
