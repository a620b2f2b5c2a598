# Crash consistency with the activity log: a Primary without a peer writes one 4 KiB block in
# each of 80 extents with `al-extents 67` (the minimum), so 13 extents are evicted again; the
# meta data is copied as it is at that moment (the crash), and after drbdmeta's apply-al
# drbd_rs and the in-tree drbd.ko alike find exactly: the 67 extents of the activity log
# wholly out of sync, and for the 13 evicted ones the single block written (their bitmap page
# reached the disk before the transaction that evicted them). Also: one AL transaction per
# cold extent (`al:` in /proc/drbd).
# The disk is sparse on the host; only the meta data at its end is copied.
# vm-disks: 336M
# vm-memory: 1024
# vm-timeout: 600
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
EXTENTS=80 AL_EXTENTS=67
# Internal meta data lives in the last MiB (bitmap 11 KiB, AL 32 KiB, superblock).
md_copy() { dd if=/dev/vda of="$1" bs=1M skip=335 count=1 iflag=direct status=none; }
md_restore() { dd if="$1" of=/dev/vda bs=1M seek=335 count=1 oflag=direct,sync status=none; }

log "meta data with a clear bitmap (drbdmeta restore-md)"
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
clear_bitmap /dev/vda "$(($(blockdev --getsz /dev/vda) - 2048))"

insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal --al-extents=$AL_EXTENTS
expect_eq "oos after attach" 0 "$(oos)"
$SETUP primary 0 --force
for e in $(seq 0 $((EXTENTS - 1))); do
  dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=$((e * 1024)) oflag=direct status=none
done
cat /proc/drbd
expect_eq "oos after the writes" $((EXTENTS * 4)) "$(oos)"
expect_eq "AL transactions (one per cold extent)" $EXTENTS "$(grep -o ' al:[0-9]*' /proc/drbd | cut -d: -f2)"

log "the crash: the meta data as it is now, while Primary"
md_copy /tmp/crash-md
$SETUP down r0

EXPECTED=$((AL_EXTENTS * 4096 + (EXTENTS - AL_EXTENTS) * 4))
# attach_crashed WHO: the crashed meta data back in place, apply-al, attach: the AL's extents
# and the evicted blocks are out of sync, nothing else; then down.
attach_crashed() {
  md_restore /tmp/crash-md
  drbdmeta 0 v08 /dev/vda internal apply-al
  $SETUP new-resource r0
  $SETUP new-minor r0 0 0
  $SETUP attach 0 /dev/vda /dev/vda internal
  cat /proc/drbd
  expect_eq "oos in $1 after attaching a crashed drbd_rs Primary" $EXPECTED "$(oos)"
  $SETUP down r0
}

log "drbd_rs attaches the crashed meta data"
attach_crashed drbd_rs
rmmod drbd_rs

log "drbd.ko attaches the crashed meta data"
load_reference_drbd
attach_crashed drbd.ko
rmmod drbd lru_cache
expect_clean_dmesg
log "ok"
