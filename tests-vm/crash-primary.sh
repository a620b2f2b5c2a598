# Crash consistency while the activity log is not written: drbd_rs marks the meta data
# MDF_AL_DISABLED, so a Primary that crashes (here: a copy of its disks taken while it is
# Primary and writing) comes back with every block out of sync — with drbd_rs and with the
# in-tree drbd.ko alike — instead of a bitmap that misses the writes since attach.
# vm-disks: 64M 64M
# vm-memory: 1024
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
oos() { grep -o 'oos:[0-9]*' /proc/drbd | cut -d: -f2; }
FULL=65496 # KiB: 64 MiB minus internal meta data

log "meta data with a clear bitmap (drbdmeta restore-md)"
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
drbdmeta 0 v08 /dev/vda internal dump-md >/tmp/md 2>/dev/null
sed -i -e 's/^la-size-sect .*/la-size-sect 130992;/' \
  -e '/^bm {/,/^}/s/0x[0-9A-F]\{16\}/0x0000000000000000/g' /tmp/md
drbdmeta --force 0 v08 /dev/vda internal restore-md /tmp/md >/dev/null
drbdmeta 0 v08 /dev/vda internal apply-al

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

log "drbd_rs attaches the crashed disk: everything out of sync"
dd if=/tmp/crash.img of=/dev/vdb bs=1M oflag=direct status=none
drbdmeta 0 v08 /dev/vdb internal apply-al
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vdb /dev/vdb internal
cat /proc/drbd
expect_eq "oos after attaching a crashed Primary" $FULL "$(oos)"
$SETUP down r0
rmmod drbd_rs

log "drbd.ko attaches the crashed disk: everything out of sync too"
dd if=/tmp/crash.img of=/dev/vdb bs=1M oflag=direct status=none
drbdmeta 0 v08 /dev/vdb internal apply-al
load_reference_drbd
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vdb /dev/vdb internal
cat /proc/drbd
expect_eq "oos in drbd.ko after attaching a crashed drbd_rs Primary" $FULL "$(oos)"
$SETUP down r0
rmmod drbd lru_cache
expect_clean_dmesg
log "ok"
