# A lower disk that fails under the Primary (on-io-error acts as pass_on, see
# Documentation/operations.md). node-a's lower device is a device-mapper table over /dev/vda;
# after a replicated write the table gets an `error` segment at 2 MiB. A write there fails on
# node-a's disk but completes for the application (the peer has it, protocol C); node-a's
# disk becomes Inconsistent ("Local IO failed"), node-b sees it. With the link down, no
# UpToDate disk in reach, node-a refuses writes ("neither local nor remote data"). The disk
# repaired (table back to linear) and the link back, node-a — still Primary — resyncs as
# SyncTarget just the marked blocks; both lower devices end identical and hold the write
# that failed locally.
# vm-nodes: 2
# vm-disks: 8M
# vm-timeout: 900
DRBD_MODULE_A=${DRBD_MODULE_A:-drbd_rs} DRBD_MODULE_B=${DRBD_MODULE_B:-drbd_rs}
DRBD_DISK_A=/dev/mapper/lower
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
write_drbd_conf C "connect-int 3;"
sectors=$(blockdev --getsz /dev/vda)
# table KIND: node-a's lower device, whole (linear) or with 1 MiB at 2 MiB failing every I/O.
table() {
  case $1 in
    linear) echo "0 $sectors linear /dev/vda 0" ;;
    failing) printf '0 4096 linear /dev/vda 0\n4096 2048 error\n6144 %d linear /dev/vda 6144\n' \
      $((sectors - 6144)) ;;
  esac
}
# The guest has no udev: dmsetup makes the /dev/mapper node itself.
dm() { dmsetup --noudevsync "$@"; }
swap_table() {
  table "$1" | dm load lower && dm resume lower || fail "dmsetup: table $1"
}
if [[ $DRBDRS_NODE == a ]]; then
  table linear | dm create lower && dm mknodes lower || fail "dmsetup create"
  [[ -b $DRBD_DISK_A ]] || fail "no $DRBD_DISK_A"
fi
load_node_module
up_zeroed_pair
block() { python3 -c 'import sys; sys.stdout.buffer.write(bytes([int(sys.argv[1])]) * 4096)' "$1"; }

if [[ $DRBDRS_NODE == a ]]; then
  adm primary r0
  seeded_data 3 | dd of=/dev/drbd0 bs=1M oflag=direct status=none || fail "first write"
  swap_table failing
  log "a write into the failing range: node-a's disk fails, node-b has it"
  block 171 | dd of=/dev/drbd0 bs=4096 seek=512 oflag=direct status=none ||
    { dmesg | tail -20; fail "the write failed although the peer wrote it"; }
  cat /proc/drbd
  dmesg | grep -q "Local IO failed in an application write" || fail "no 'Local IO failed' in the kernel log"
  wait_for "node-a Inconsistent, node-b UpToDate" 30 is_ds Inconsistent/UpToDate
fi
sync_point failed
[[ $DRBDRS_NODE == b ]] && wait_for "node-a's disk reported Inconsistent" 30 is_ds UpToDate/Inconsistent
sync_point reported

received() { grep -o ' nr:[0-9]*' /proc/drbd | cut -d: -f2; }
if [[ $DRBDRS_NODE == a ]]; then
  before=$(received)
  log "alone (link down), without an UpToDate disk in reach, writes fail"
  ip link set "$DRBDRS_NIC" down
  wait_for "node-a to lose node-b" 60 is_cs WFConnection
  if block 172 | dd of=/dev/drbd0 bs=4096 seek=600 oflag=direct status=none 2>/dev/null; then
    fail "a write without any UpToDate disk in reach succeeded"
  fi
  dmesg | grep -q "IO ERROR: neither local nor remote data" || fail "no 'neither local nor remote data'"
  log "repaired (table linear again), the link back: node-a, still Primary, resyncs as SyncTarget"
  swap_table linear
  ip link set "$DRBDRS_NIC" up
fi
wait_for "the resync of the marked blocks" 120 in_sync
cat /proc/drbd
if [[ $DRBDRS_NODE == a ]]; then
  got=$(($(received) - before))
  ((got > 0 && got <= 64)) || fail "node-a received $got KiB, want the marked blocks only (≤ 64 KiB)"
  cmp <(dd if=/dev/vda bs=4096 skip=512 count=1 iflag=direct status=none) <(block 171) ||
    fail "node-a's disk lacks the write that failed on it"
fi
compare_devices repaired
sync_point down
adm down r0
[[ $DRBDRS_NODE == a ]] && dm remove lower
expect_clean_dmesg
log "ok"
