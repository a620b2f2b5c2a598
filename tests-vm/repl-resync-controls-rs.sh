# The resync controls an administrator uses on a connected pair: `invalidate` on the Secondary
# (its data discarded: a full sync from the Primary), `pause-sync` / `resume-sync` in the
# middle of it (PausedSyncS/PausedSyncT on both nodes, no progress while paused), and
# `invalidate-remote` on the Primary (a full sync towards the peer); the refusals drbd gives
# (a Primary cannot become SyncTarget, resume-sync without a pause); then online verify
# (verify-alg md5) finds exactly the two blocks changed behind DRBD's back on node-b's
# lower device, and a reconnect resyncs just them. A slow fixed resync rate
# keeps the sync long enough to pause: the SyncTarget issues requests at that rate, and what
# it requested before the pause still arrives (drbd keeps up to max-buffers/2 in flight), so
# the rate must stay below what the link carries under TCG. The second full sync runs under
# the dynamic resync controller (c-plan-ahead, c-fill-target) and must not exceed c-max-rate;
# both nodes announce its progress (drbdsetup-84 events: SP).
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b).
# vm-nodes: 2
# vm-disks: 4M
# vm-timeout: 900
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
write_drbd_conf C "connect-int 3; verify-alg md5;" "resync-rate 128K;"
load_node_module
up_zeroed_pair
device_kib=$(($(cat /sys/block/drbd0/size) / 2))
received() { grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2; }
syncing() { [[ $(proc_cs) =~ ^(Paused)?Sync(Source|Target)$ ]]; }

if [[ $DRBDRS_NODE == a ]]; then
  adm primary r0
  seeded_data 7 | dd of=/dev/drbd0 bs=1M oflag=direct status=none
  log "refused: the Primary cannot discard its data"
  out=$(adm invalidate r0 2>&1) && fail "invalidate on the Primary succeeded: $out"
  echo "$out"
  expect_match "invalidate on the Primary" "Need access to UpToDate data" "$out"
fi
sync_point written

log "invalidate on node-b: a full sync from node-a"
before=$(received)
[[ $DRBDRS_NODE == b ]] && adm invalidate r0
wait_for "the full sync to start" 60 syncing
cat /proc/drbd
sync_point syncing

log "pause-sync on node-a"
[[ $DRBDRS_NODE == a ]] && adm pause-sync r0
if [[ $DRBDRS_NODE == a ]]; then paused=PausedSyncS; else paused=PausedSyncT; fi
wait_for "$paused" 30 is_cs $paused
# /proc/drbd's flags: u = this node paused it, p = the peer did.
if [[ $DRBDRS_NODE == a ]]; then flags='r--u--'; else flags='r-p---'; fi
grep -q " C $flags\$" /proc/drbd || { cat /proc/drbd; fail "want the isp flags $flags"; }
# What was requested before the pause still completes; then nothing moves.
settled() { local a; a=$(oos); sleep 2; [[ $(oos) == "$a" ]]; }
wait_for "in-flight resync requests to drain" 60 settled
oos_paused=$(oos)
cat /proc/drbd
((oos_paused > 0)) || fail "the sync finished before the pause held anything back"
sleep 3
expect_eq "out of sync while paused (no progress)" "$oos_paused" "$(oos)"
sync_point paused
if [[ $DRBDRS_NODE == b ]]; then
  # Our own flag is clear: the peer paused it (drbdsetup-84: "Sync-pause flag is already
  # cleared" or the peer-dependency variant).
  out=$(adm resume-sync r0 2>&1) && fail "resume-sync of the peer's pause succeeded: $out"
  echo "$out"
fi
sync_point refused
# The slow rate has served its purpose; the rest (two full syncs, a verify) goes faster.
# `disk-options` sends only the options given on its command line (drbdadm-84 too).
adm -- --resync-rate=20M disk-options r0
sync_point faster
log "resume-sync on node-a"
[[ $DRBDRS_NODE == a ]] && adm resume-sync r0
wait_for "the full sync to finish" 240 in_sync
cat /proc/drbd
expect_eq "oos after the full sync" 0 "$(oos)"
if [[ $DRBDRS_NODE == b ]]; then
  got=$(($(received) - before))
  ((got >= device_kib)) || fail "node-b received $got KiB, want the whole device ($device_kib KiB)"
  dd if=/dev/vda bs=1M count=2 iflag=direct status=none | cmp - <(seeded_data 7) ||
    fail "node-b does not have node-a's data after the full sync"
fi
# The next sync is paced by the dynamic controller (c-plan-ahead > 0): the SyncTarget
# decides each 100 ms step how much to request, to keep c-fill-target sectors in flight and
# never more than c-max-rate.
max_rate_kib=512
adm -- --c-plan-ahead=20 --c-fill-target=100 --c-max-rate=$max_rate_kib disk-options r0
# Counted before the sync point: node-a starts the next sync as soon as it leaves it, and
# its first blocks may arrive before node-b looks.
before=$(received)
# A running resync announces its progress every 2 s (DRBD_EVENT SIB_SYNC_PROGRESS, after
# the bitmap's cleared pages were written), which drbdsetup-84 events prints as "SP".
/lib/drbd/drbdsetup-84 events all >/tmp/events 2>&1 &
events_pid=$!
compare_devices invalidated

log "invalidate-remote on node-a: another full sync towards node-b, at most c-max-rate"
[[ $DRBDRS_NODE == a ]] && adm invalidate-remote r0
# What shows the sync happened is the whole device arriving at node-b; node-a's part ends
# with node-b's sync point.
if [[ $DRBDRS_NODE == b ]]; then
  now_ms() { echo $(($(date +%s%N) / 1000000)); }
  first_block_received() { (($(received) > before)); }
  whole_device_received() { (($(received) - before >= device_kib)); }
  wait_for "the full sync's first block" 60 first_block_received
  start_ms=$(now_ms)
  wait_for "the full sync (the whole device received)" 240 whole_device_received
  took_ms=$(($(now_ms) - start_ms))
  wait_for "the full sync to finish" 240 in_sync
  cat /proc/drbd
  # A ceiling, not a speed: a slower host only takes longer. Two seconds' worth of slack
  # for what the first steps may request and for the polls.
  floor_ms=$(((device_kib - 2 * max_rate_kib) * 1000 / max_rate_kib))
  log "the whole device ($device_kib KiB) arrived in $took_ms ms (c-max-rate $max_rate_kib KiB/s)"
  ((took_ms >= floor_ms)) ||
    fail "the whole device arrived in $took_ms ms, faster than c-max-rate allows (>= $floor_ms ms)"
fi
compare_devices invalidated-remote
kill $events_pid
grep ' SP ' /tmp/events || true
# Each node, source and target, announced progress, never backwards: drbd.ko when a 16 MiB
# resync extent is done (here: once, at the end), drbd_rs every 2 s as well (about four
# times in the ≈ 8 s sync). drbdsetup-84 prints 100.0 throughout for a device under
# 4 MiB (it counts in units of 1024 bits).
percents=$(sed -n 's/^[0-9]* SP 0,r0\[0\] \([0-9]*\.[0-9]\)$/\1/p' /tmp/events)
[[ -n $percents ]] || fail "no sync-progress event"
sort -n -c <<<"$percents" || fail "sync progress went backwards: $percents"
# Each progress event follows a write of the bitmap's cleared pages (after a flush).
! dmesg | grep -E 'bitmap write failed|meta-data write failed' ||
  fail "a meta-data write failed during the resync"
adm -- --c-plan-ahead=0 disk-options r0

log "online verify: two blocks changed behind DRBD's back on node-b"
if [[ $DRBDRS_NODE == b ]]; then
  for kib in 1024 3072; do
    head -c 4096 /dev/zero | tr '\0' '\377' |
      dd of=/dev/vda bs=4096 seek=$((kib / 4)) oflag=direct conv=notrunc status=none ||
      fail "cannot write node-b's lower device at $kib KiB"
  done
fi
sync_point corrupted
[[ $DRBDRS_NODE == a ]] && adm verify r0
wait_for "the verify to start" 60 bash -c "grep -Eq 'cs:Verify(S|T)|oos:8\$' /proc/drbd"
wait_for "the verify to finish" 240 is_cs Connected
cat /proc/drbd
expect_eq "out of sync after the verify (KiB)" 8 "$(oos)"
dmesg | grep -q "Online verify found 2 4k block out of sync" ||
  { dmesg | grep -i verify; fail "no 'Online verify found 2 4k block out of sync' in the kernel log"; }
dmesg | grep -q "Out of sync: start=2048, size=8 (sectors)" ||
  fail "the first changed block (sector 2048) was not logged"
sync_point verified
log "reconnect: only the two blocks resync"
[[ $DRBDRS_NODE == b ]] && { adm disconnect r0; adm connect r0; }
wait_for "the resync to finish" 120 bash -c "grep -q 'cs:Connected.*UpToDate/UpToDate' /proc/drbd && grep -q 'oos:0\$' /proc/drbd"
# `connect` starts the ns/nr counters over (both modules).
[[ $DRBDRS_NODE == b ]] && expect_eq "KiB resynced after the verify" 8 "$(received)"
compare_devices repaired
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
