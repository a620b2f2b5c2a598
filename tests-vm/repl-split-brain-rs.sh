# Split brain between two drbd_rs nodes, and the manual recovery the DRBD guide teaches.
# The pair is in sync; both disconnect; each becomes Primary and writes its own 2 MiB; both
# go back to Secondary and connect: both detect the split brain (kernel log, both
# handlers run through the user-mode helper: /sbin/drbdadm → the configured handler with
# DRBD_RESOURCE/DRBD_MINOR/DRBD_PEER_ADDRESS), the default `after-sb-0pri disconnect` leaves
# it unresolved and both end StandAlone. Recovery: node-b connects with --discard-my-data,
# node-a connects; node-b becomes SyncTarget and resyncs only what either node changed (a
# bitmap resync, not a full one), and both lower devices end identical, with node-a's data.
# The resync waits for the `before-resync-target` / `before-resync-source` handlers (as the
# DRBD guide's LVM-snapshot handler needs): node-b's refuses the first attempt (exit 1:
# node-b drops the connection, StandAlone, nothing resynced), the next connect resyncs.
# Then a second split brain that `after-sb-0pri discard-zero-changes` resolves by itself: both
# promote while apart, only node-a writes; on connect node-b becomes SyncTarget. Last the
# rr-conflict: node-b stays Primary, unchanged, and `after-sb-1pri violently-as0p` makes it
# the one to discard: `connect --discard-my-data` on a Primary is refused, the default
# `rr-conflict disconnect` drops the connection ("I shall become SyncTarget, but I am
# primary!"), `rr-conflict violently` resyncs the Primary from node-a. Then one split brain
# per further policy (discard-younger-primary, discard-older-primary, discard-least-changes,
# after-sb-1pri discard-secondary), each resolved towards the node the policy names.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh; here
# drbd_rs on both, drbdadm-rs on node-a and drbd-utils' drbdadm on node-b).
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 900
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
# shellcheck disable=SC2016 # expanded by the handler's shell, not here
write_drbd_conf C "connect-int 3;" "" 'handlers {
    initial-split-brain "echo initial-split-brain $DRBD_RESOURCE $DRBD_MINOR $DRBD_PEER_ADDRESS >> /tmp/handlers";
    split-brain "echo split-brain $DRBD_RESOURCE $DRBD_MINOR $DRBD_PEER_ADDRESS >> /tmp/handlers";
    before-resync-target "echo before-resync-target $DRBD_RESOURCE $DRBD_MINOR >> /tmp/handlers; test ! -e /tmp/refuse-resync";
    before-resync-source "echo before-resync-source $DRBD_RESOURCE $DRBD_MINOR >> /tmp/handlers";
  }'
load_node_module
up_zeroed_pair

log "apart: both Primary, each writes its own 2 MiB"
adm disconnect r0
sync_point apart
adm primary r0
if [[ $DRBDRS_NODE == a ]]; then seek=0 seed=11; else seek=4 seed=22; fi
seeded_data $seed | dd of=/dev/drbd0 bs=1M seek=$seek oflag=direct status=none
adm secondary r0
sync_point written

log "together again: split brain"
# Every handler call is announced before and after (DRBD_EVENT, SIB_HELPER_PRE/POST), as
# drbdsetup-84 events shows them ("UH", "UH-post" with the wait status).
/lib/drbd/drbdsetup-84 events all >/tmp/events 2>&1 &
events_pid=$!
adm connect r0
wait_for "StandAlone after the handshake" 90 is_cs StandAlone
dmesg | grep -q "Split-Brain detected but unresolved, dropping connection!" ||
  fail "no split-brain line in the kernel log"
peer_ip=$DRBDRS_PEER_IP
wait_for "both handlers" 30 bash -c "grep -qx 'split-brain r0 0 $peer_ip' /tmp/handlers"
cat /tmp/handlers
grep -qx "initial-split-brain r0 0 $peer_ip" /tmp/handlers || fail "initial-split-brain handler not run"
cat /proc/drbd
sync_point detected

log "manual recovery: node-b discards its changes; its before-resync-target handler refuses once"
if [[ $DRBDRS_NODE == b ]]; then
  touch /tmp/refuse-resync
  adm -- --discard-my-data connect r0
  wait_for "the handler's refusal" 90 grep -qx "before-resync-target r0 0" /tmp/handlers
  wait_for "StandAlone after the refusal" 60 is_cs StandAlone
  dmesg | grep -q "before-resync-target handler returned 1, dropping connection." ||
    fail "no 'before-resync-target handler returned 1' line in the kernel log"
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  expect_eq "KiB received before the handler agreed" 0 "$received"
else
  adm connect r0
  # node-a became SyncSource once its own handler agreed; node-b then dropped the connection.
  wait_for "the source's handler" 90 grep -qx "before-resync-source r0 0" /tmp/handlers
fi
cat /proc/drbd
sync_point refused
if [[ $DRBDRS_NODE == b ]]; then
  rm /tmp/refuse-resync
  adm connect r0
fi
wait_for "the resync to finish" 240 in_sync
cat /proc/drbd
cat /tmp/handlers
kill $events_pid
grep -E ' UH' /tmp/events
grep -Eq '^[0-9]+ UH 0,r0\[0\] split-brain$' /tmp/events || fail "no split-brain helper event"
grep -Eq '^[0-9]+ UH-post 0,r0\[0\] split-brain 0x0000$' /tmp/events ||
  fail "no split-brain helper event with its exit status"
if [[ $DRBDRS_NODE == b ]]; then
  expect_eq "before-resync-target runs" 2 "$(grep -cx 'before-resync-target r0 0' /tmp/handlers)"
  grep -Eq '^[0-9]+ UH-post 0,r0\[0\] before-resync-target 0x0100$' /tmp/events ||
    fail "no event of the refusing before-resync-target (exit 1)"
  grep -Eq '^[0-9]+ UH-post 0,r0\[0\] before-resync-target 0x0000$' /tmp/events ||
    fail "no event of the agreeing before-resync-target"
else
  grep -Eq '^[0-9]+ UH-post 0,r0\[0\] before-resync-source 0x0000$' /tmp/events ||
    fail "no before-resync-source helper event"
fi
expect_eq "oos after the resync" 0 "$(oos)"
if [[ $DRBDRS_NODE == b ]]; then
  # Only what changed on either side travels: 2 + 2 MiB of the 8 MiB device.
  received=$(grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2)
  (( received >= 4096 && received < 6144 )) || fail "node-b received $received KiB, want 4096 (a bitmap resync)"
  # Secondary: read the lower device (internal meta data: the data area starts at 0).
  dd if=/dev/vda bs=1M count=2 iflag=direct status=none | cmp - <(seeded_data 11) ||
    fail "node-b does not have node-a's data"
  dd if=/dev/vda bs=1M skip=4 count=2 iflag=direct status=none | cmp - <(head -c 2M /dev/zero) ||
    fail "node-b kept its own (discarded) data"
fi
compare_devices recovered

log "again apart, with after-sb-0pri discard-zero-changes: only node-a writes"
adm disconnect r0
sync_point apart-2
# Both promote (each rotates its current UUID: a split brain), only node-a writes; node-b
# has no changes to lose, which the policy resolves without anyone's help.
write_drbd_conf C "connect-int 3; after-sb-0pri discard-zero-changes;"
adm primary r0
[[ $DRBDRS_NODE == a ]] && seeded_data 33 | dd of=/dev/drbd0 bs=1M seek=2 oflag=direct status=none
adm secondary r0
sync_point written-2
adm connect r0
wait_for "the automatic resync to finish" 240 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then from=this; else from=peer; fi
dmesg | grep -q "Split-Brain detected, 0 primaries, automatically solved. Sync from $from node" ||
  fail "no 'automatically solved. Sync from $from node' in the kernel log"
sync_point auto-resolved
if [[ $DRBDRS_NODE == b ]]; then
  dd if=/dev/vda bs=1M skip=2 count=2 iflag=direct status=none | cmp - <(seeded_data 33) ||
    fail "node-b does not have node-a's second write"
fi
compare_devices resolved

log "a third time apart: node-b stays Primary with no changes (after-sb-1pri violently-as0p)"
adm disconnect r0
sync_point apart-3
# One Primary at the handshake: violently-as0p applies the 0pri policy even where it
# discards the Primary's data. node-b, unchanged, is to become SyncTarget while Primary:
# the default rr-conflict (disconnect) refuses; `rr-conflict violently` lets it.
write_drbd_conf C "connect-int 3; after-sb-0pri discard-zero-changes; after-sb-1pri violently-as0p;"
adm primary r0
if [[ $DRBDRS_NODE == a ]]; then
  seeded_data 44 | dd of=/dev/drbd0 bs=1M seek=4 oflag=direct status=none
  adm secondary r0
fi
sync_point written-3
if [[ $DRBDRS_NODE == b ]]; then
  # The victim of a split brain must be demoted before it discards its data (drbd's
  # check_net_options: ERR_DISCARD_IMPOSSIBLE).
  out=$(adm -- --discard-my-data connect r0 2>&1) &&
    fail "connect --discard-my-data on a Primary succeeded: $out"
  echo "$out"
  grep -q -- "--discard-my-data not allowed when primary" <<<"$out" ||
    fail "the refusal does not say why"
  adm connect r0
  wait_for "StandAlone after the rr-conflict" 90 is_cs StandAlone
  dmesg | grep -q "I shall become SyncTarget, but I am primary!" ||
    fail "no 'I shall become SyncTarget, but I am primary!' in the kernel log"
  grep -q 'ro:Primary/' /proc/drbd || fail "node-b is no longer Primary"
else
  adm connect r0
  wait_for "the split-brain decision" 90 bash -c \
    "dmesg | grep -q 'Split-Brain detected, 1 primaries, automatically solved. Sync from this node'"
fi
cat /proc/drbd
sync_point rr-refused
write_drbd_conf C "connect-int 3; after-sb-0pri discard-zero-changes; after-sb-1pri violently-as0p; rr-conflict violently;"
# node-a is still trying to connect; node-b, StandAlone, connects with the new setting.
[[ $DRBDRS_NODE == b ]] && adm connect r0
wait_for "the resync towards the Primary" 240 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == b ]]; then
  dmesg | grep -q "Becoming SyncTarget, violating the stable-data" ||
    fail "no 'Becoming SyncTarget, violating the stable-data assumption' in the kernel log"
  grep -q 'ro:Primary/Secondary' /proc/drbd || fail "node-b is no longer Primary"
  # The Primary's own device now shows node-a's write.
  dd if=/dev/drbd0 bs=1M skip=4 count=2 iflag=direct status=none | cmp - <(seeded_data 44) ||
    fail "node-b's /dev/drbd0 does not show node-a's write after the resync"
fi
compare_devices rr-violently
[[ $DRBDRS_NODE == b ]] && adm secondary r0

# sb_round NAME NET_OPTIONS FIRST A_MIB B_MIB STAYS WINNER: a split brain made with node
# FIRST (or -) Primary already when the link goes, the other promoting after it; node-a
# writes A_MIB at 0, node-b B_MIB at 4 MiB; all but STAYS (or -) demote before connecting.
# The policies in NET_OPTIONS must resolve it with WINNER's data ("automatically solved").
sb_round() {
  local name=$1 options=$2 first=$3 a_mib=$4 b_mib=$5 stays=$6 winner=$7 mib seek from
  log "split brain '$name': $options"
  write_drbd_conf C "connect-int 3; $options"
  [[ $DRBDRS_NODE == "$first" ]] && adm primary r0
  sync_point "$name-first"
  adm disconnect r0
  sync_point "$name-apart"
  [[ $DRBDRS_NODE != "$first" ]] && adm primary r0
  if [[ $DRBDRS_NODE == a ]]; then mib=$a_mib seek=0; else mib=$b_mib seek=4; fi
  # (The generator's broken pipe, once head has its MiB, is expected.)
  { seeded_data "${#name}$mib$seek" 2>/dev/null || true; } | head -c "${mib}M" |
    dd of=/dev/drbd0 bs=1M seek=$seek oflag=direct status=none
  [[ $DRBDRS_NODE != "$stays" ]] && adm secondary r0
  sync_point "$name-written"
  if [[ $DRBDRS_NODE == "$winner" ]]; then from=this; else from=peer; fi
  local solved="automatically solved. Sync from $from node"
  local before_round
  before_round=$(dmesg | grep -c "$solved" || true)
  adm connect r0
  wait_for "the automatic resync ($name)" 240 in_sync
  (($(dmesg | grep -c "$solved") > before_round)) ||
    fail "$name: no new '$solved' in the kernel log"
  compare_devices "$name"
  [[ $DRBDRS_NODE == "$stays" ]] && adm secondary r0
  sync_point "$name-done"
}
# The Primary at the split (its bitmap UUID remembers it) is the older one.
sb_round younger "after-sb-0pri discard-younger-primary;" a 1 1 - a
sb_round older "after-sb-0pri discard-older-primary;" a 1 1 - b
sb_round least "after-sb-0pri discard-least-changes;" - 1 2 - b
# One Primary at the connect (node-b): the Secondary's changes go.
sb_round secondary "after-sb-1pri discard-secondary;" - 1 1 b b
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
