# Resize while writes run: no write's bitmap mark may be lost. The device is large enough
# (> 128 GiB) for a bitmap of more than 4 MiB, which kvmalloc takes from vmalloc: under the
# debug kernel an allocation or a vfree under the bitmap spinlock is reported (and fails this
# test). Grown with --assume-clean, so new blocks stay in sync and the bitmap must hold
# exactly the blocks written — in /proc/drbd and in the meta data drbdmeta reads after detach.
# vm-timeout: 900
# vm-memory: 1024
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
IMG=/tmp/lower.img
truncate -s 136G $IMG
LOOP=$(losetup --show -f $IMG)

log "meta data for 136 GiB with a clear bitmap"
drbdmeta --force 0 v08 "$LOOP" internal create-md >/dev/null
insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 "$LOOP" "$LOOP" internal
$SETUP primary 0 --force
size=$(cat /sys/block/drbd0/size)
$SETUP down r0
drbdmeta 0 v08 "$LOOP" internal apply-al
clear_bitmap "$LOOP"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 "$LOOP" "$LOOP" internal
expect_eq "oos after attach" 0 "$(oos)"
$SETUP primary 0 --force

blocks=$((size / 8))
writer() { # writer ID: 4 KiB writes at random blocks of the first 136 GiB, logged
  local b
  while [[ ! -e /tmp/stop ]]; do
    b=$(( (RANDOM * 32768 + RANDOM) % blocks ))
    dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=$b oflag=direct status=none
    echo $b >>/tmp/written.$1
  done
}
log "two writers; meanwhile grow the device three times by 8 GiB"
writer 1 &
w1=$!
writer 2 &
w2=$!
for i in 1 2 3; do
  sleep 1
  truncate -s $((136 + 8 * i))G $IMG
  losetup -c "$LOOP"
  $SETUP resize 0 --assume-peer-has-space --assume-clean
  log "size now $(cat /sys/block/drbd0/size) sectors, oos $(oos) KiB"
done
sleep 1
touch /tmp/stop
wait $w1 $w2
written=$(sort -un /tmp/written.* | wc -l)
log "$written distinct blocks written"
((written > 20)) || fail "too few writes ran during the resizes"
expect_eq "oos (KiB) = 4 x blocks written" $((4 * written)) "$(oos)"

log "after detach, the meta data holds exactly those bits"
$SETUP secondary 0
$SETUP detach 0
drbdmeta 0 v08 "$LOOP" internal apply-al
drbdmeta 0 v08 "$LOOP" internal dump-md 2>/dev/null >/tmp/md2
python3 - /tmp/md2 /tmp/written.1 /tmp/written.2 <<'PY'
import re, sys
text = open(sys.argv[1]).read()
bm = text[text.index("bm {"):]
bm = bm[:bm.index("}")]
words = []
for m in re.finditer(r"(?:(\d+)\s+times\s+)?0x([0-9A-Fa-f]{16})", bm):  # "[N times] 0xWORD;"
    words.extend([int(m.group(2), 16)] * int(m.group(1) or 1))
written = {int(l) for f in sys.argv[2:] for l in open(f) if l.strip()}
missing = [b for b in written if not (words[b // 64] >> (b % 64)) & 1]
total = sum(bin(w).count("1") for w in words)
print(f"bitmap: {total} bits set, {len(written)} blocks written, {len(missing)} missing")
sys.exit(1 if missing or total != len(written) else 0)
PY
$SETUP down r0
rmmod drbd_rs
losetup -d "$LOOP"
expect_clean_dmesg
log "ok"
