# Crash consistency while the activity log is not written: drbd_rs marks the meta data
# MDF_AL_DISABLED, so a Primary that crashes (here: a copy of its disks taken while it is
# Primary and writing) comes back with every block out of sync — with drbd_rs and with the
# in-tree drbd.ko alike — instead of a bitmap that misses the writes since attach.
# vm-disks: 64M 64M
# vm-memory: 1024
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
FULL=65496 # KiB: 64 MiB minus internal meta data

log "meta data with a clear bitmap (drbdmeta restore-md)"
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
clear_bitmap /dev/vda 130992

insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
expect_eq "oos after attach" 0 "$(oos)"
$SETUP primary 0 --force
dd if=/dev/urandom of=/dev/drbd0 bs=4k count=8 seek=100 oflag=direct status=none
expect_eq "oos after writes" 32 "$(oos)"

log "the crash: a copy of the disk as it is now, while Primary"
dd if=/dev/vda of=/tmp/crash.img bs=1M iflag=direct status=none
$SETUP down r0

# attach_crashed WHO: a fresh copy of the crash image attached as minor 0 shows every block
# out of sync; then down.
attach_crashed() {
  dd if=/tmp/crash.img of=/dev/vdb bs=1M oflag=direct status=none
  drbdmeta 0 v08 /dev/vdb internal apply-al
  $SETUP new-resource r0
  $SETUP new-minor r0 0 0
  $SETUP attach 0 /dev/vdb /dev/vdb internal
  cat /proc/drbd
  expect_eq "oos in $1 after attaching a crashed drbd_rs Primary" $FULL "$(oos)"
  $SETUP down r0
}

log "drbd_rs attaches the crashed disk: everything out of sync"
attach_crashed drbd_rs
rmmod drbd_rs

log "drbd.ko attaches the crashed disk: everything out of sync too"
load_reference_drbd
attach_crashed drbd.ko
rmmod drbd lru_cache
expect_clean_dmesg
log "ok"
