# `resync-after` between two resources on the same pair of nodes: r0 (/dev/drbd0 on /dev/vda)
# and r1 (/dev/drbd1 on /dev/vdb, `disk { resync-after r0; }`). node-b invalidates r0; while
# r0 resyncs, r1 shows the `a` flag (aftr_isp) Connected, keeps it StandAlone after a
# disconnect and has it again on the new connection; then node-b invalidates r1. r1's full
# sync waits as PausedSyncT / PausedSyncS with `a` in /proc/drbd (and the peer's `p`) and
# moves no block while r0 resyncs, then continues by itself and finishes; both lower devices
# end identical. Then the refusals of a dependency cycle (r0 after r1 while r1 is after r0),
# with drbd's message: node-a's drbdadm-rs at attach (`up`, the resource name translated into
# its minor), node-b's drbd-utils drbdadm at `disk-options`.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b).
# vm-nodes: 2
# vm-disks: 4M 4M
# vm-timeout: 900
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link

# write_conf R0-DISK-OPTIONS: both resources; r1 resyncs after r0.
write_conf() {
  cat >/etc/drbd.conf <<CONF
global { usage-count no; }
resource r0 {
  net { protocol C; ping-timeout 30; connect-int 3; }
  disk { c-plan-ahead 0; resync-rate 64K; $1 }
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
resource r1 {
  net { protocol C; ping-timeout 30; connect-int 3; }
  disk { c-plan-ahead 0; resync-rate 512K; resync-after r0; }
  on node-a { device /dev/drbd1; disk /dev/vdb; address 169.254.77.1:7790; meta-disk internal; }
  on node-b { device /dev/drbd1; disk /dev/vdb; address 169.254.77.2:7790; meta-disk internal; }
}
CONF
}
write_conf ""
load_node_module

# /proc/drbd of one minor: its state line, connection state, flags (the last field), oos KiB.
line_of() { grep -E "^ *$1: cs:" "${2:-/proc/drbd}"; }
cs_of() { line_of "$@" | sed 's/.*cs:\([A-Za-z]*\).*/\1/'; }
flags_of() { line_of "$@" | awk '{print $NF}'; }
oos_of() { awk -v m="$1:" '$1 == m { getline; for (i = 1; i <= NF; i++) if (sub(/^oos:/, "", $i)) print $i }' "${2:-/proc/drbd}"; }
synced() { line_of "$1" | grep -q 'cs:Connected .*ds:UpToDate/UpToDate' && [[ $(oos_of "$1") == 0 ]]; }
both_synced() { synced 0 && synced 1; }
resyncing() { [[ $(cs_of "$@") =~ ^(Paused)?Sync(Source|Target)$ ]]; }
# r1 paused by its dependency (`a`, the second flag).
r1_waits() { [[ $(flags_of 1) == ra* ]]; }
held() { [[ $(cs_of 1) =~ ^PausedSync(S|T)$ ]] && r1_waits; }
lower_sha() { # lower_sha MINOR DISK: sha256 of DISK's replicated area
  dd if="$2" bs=1M count=$(($(cat /sys/block/drbd$1/size) * 512)) iflag=direct,count_bytes status=none |
    sha256sum | cut -d' ' -f1
}

for r in r0 r1; do adm_create_md $r; done
adm up r0
adm up r1
for r in r0 r1; do adm_within 120 wait-connect $r || fail "$r not connected within 120 s"; done
sync_point connected
# Blank disks: no initial sync (as up_zeroed_pair, for both resources).
if [[ $DRBDRS_NODE == a ]]; then
  for r in r0 r1; do adm new-current-uuid --clear-bitmap $r; done
fi
wait_for "both resources UpToDate/UpToDate" 60 both_synced
cat /proc/drbd
r1_kib=$(($(cat /sys/block/drbd1/size) / 2))

if [[ $DRBDRS_NODE == a ]]; then
  log "node-a writes data into both resources"
  adm primary r0
  adm primary r1
  seeded_data 7 | dd of=/dev/drbd0 bs=1M oflag=direct status=none
  seeded_data 8 | dd of=/dev/drbd1 bs=1M oflag=direct status=none
  adm secondary r0
  adm secondary r1
fi
sync_point written

log "node-b invalidates r0, then r1: r1 waits for r0"
if [[ $DRBDRS_NODE == b ]]; then
  adm invalidate r0
  wait_for "r0's full sync" 60 is_cs SyncTarget
  # The dependency holds r1 back before its own resync exists.
  wait_for "r1's aftr_isp" 30 r1_waits
  cat /proc/drbd
  # StandAlone with its disk, r1 keeps the flag (drbd sets it there too), and the new
  # connection starts with it.
  adm disconnect r1
  wait_for "r1 StandAlone, still waiting" 30 bash -c "grep -Eq '^ *1: cs:StandAlone .* ra' /proc/drbd"
  cat /proc/drbd
  adm connect r1
  wait_for "r1 connected again, still waiting" 60 bash -c "grep -Eq '^ *1: cs:Connected .* ra' /proc/drbd"
  adm invalidate r1
fi
wait_for "r1 paused by the dependency" 120 held
cat /proc/drbd
resyncing 0 || fail "r0 finished before r1 was seen waiting: make r0's resync slower"
# invalidate set every bit of r1 (on both nodes); nothing of it moves while it waits.
r1_oos=$(oos_of 1)
((r1_oos >= r1_kib)) || fail "r1 out of sync: $r1_oos KiB, want the whole device ($r1_kib KiB)"
sync_point held

# Every snapshot while r0 resyncs: r1 paused by the dependency (`a`; the peer's `p` too) and
# not one block moved.
checked=0
while snap=$(cat /proc/drbd) && resyncing 0 <(echo "$snap"); do
  [[ $(cs_of 1 <(echo "$snap")) =~ ^PausedSync(S|T)$ ]] || { echo "$snap"; fail "r1 resyncs while r0 does"; }
  flags=$(flags_of 1 <(echo "$snap"))
  [[ $flags == rap* ]] || { echo "$snap"; fail "r1's flags while r0 resyncs: want rap..., got $flags"; }
  expect_eq "r1 out of sync while r0 resyncs (KiB)" "$r1_oos" "$(oos_of 1 <(echo "$snap"))"
  checked=$((checked + 1))
  ((checked < 300)) || fail "r0's resync does not end"
  sleep 1
done
echo "$snap"
((checked >= 3)) || fail "only $checked looks at r1 while r0 resynced"
log "r1 stayed paused in all $checked looks during r0's resync"

wait_for "r0 in sync" 60 synced 0
wait_for "r1 to continue after r0 and finish" 240 synced 1
cat /proc/drbd
[[ $(flags_of 1) == r--* ]] || fail "r1's pause flags after its resync: $(flags_of 1)"
if [[ $DRBDRS_NODE == b ]]; then
  dmesg | grep -q "drbd1: Syncer continues." || fail "no 'Syncer continues.' for drbd1"
  dd if=/dev/vdb bs=1M count=2 iflag=direct status=none | cmp - <(seeded_data 8) ||
    fail "node-b's r1 does not have node-a's data"
  dd if=/dev/vda bs=1M count=2 iflag=direct status=none | cmp - <(seeded_data 7) ||
    fail "node-b's r0 does not have node-a's data"
fi
sync_point synced-quiet
peer=$(sync_point synced "$(lower_sha 0 /dev/vda) $(lower_sha 1 /dev/vdb)")
expect_eq "both lower devices on both nodes" "$peer" "$(lower_sha 0 /dev/vda) $(lower_sha 1 /dev/vdb)"

log "a dependency cycle is refused: r0 after r1 while r1 is after r0"
cycle="This would cause a resync-after dependency cycle"
write_conf "resync-after r1;"
if [[ $DRBDRS_NODE == b ]]; then
  # The kernel refuses (133). drbd-utils' drbdadm sends disk-options with only the options
  # after `--`, as they are (a minor); on a drbdadm-rs node drbdsetup-84's own request
  # (drbdadm-rs's disk-options sends the same: compared in userspace-tools/tests/dry_run.rs).
  if [[ $NODE_TOOL == drbdadm-84 ]]; then
    out=$(adm -- --resync-after=1 disk-options r0 2>&1) && fail "disk-options with a cycle succeeded: $out"
  else
    out=$(/lib/drbd/drbdsetup-84 disk-options 0 --resync-after=1 2>&1) &&
      fail "disk-options with a cycle succeeded: $out"
  fi
  echo "$out"
  expect_match "disk-options r0" "$cycle" "$out"
fi
sync_point refused-change
if [[ $DRBDRS_NODE == a ]]; then
  # drbdadm-rs: refused at attach (drbd_resync_after_valid), before the disk is opened.
  adm down r0
  out=$(adm up r0 2>&1) && fail "up with a cycle succeeded: $out"
  echo "$out"
  expect_match "attach of r0" "$cycle" "$out"
  # Its minor exists without a disk: drbd's line for such a minor.
  grep -Eq '^ *0: cs:Unconfigured$' /proc/drbd || { cat /proc/drbd; fail "r0 attached after all"; }
fi
sync_point refused-attach
# The refusals changed nothing else: r1 still resyncs after minor 0.
cat /proc/drbd
adm down r1
adm down r0
expect_clean_dmesg
log "ok"
