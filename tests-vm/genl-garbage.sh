# Malformed and random generic-netlink requests (replayable seeds) must get errors, never
# crash the kernel or corrupt state: afterwards the module still works and unloads cleanly.
# vm-disks: 64M
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84

insmod "$MODULE_KO"
log "fuzzing an empty module"
/usr/bin/python3 "$DRBDRS_REPO/tests-vm/lib/genl_fuzz.py" 1 2000

log "fuzzing with a configured, attached minor"
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
/usr/bin/python3 "$DRBDRS_REPO/tests-vm/lib/genl_fuzz.py" 2 2000
cat /proc/drbd

log "still usable: bring whatever the fuzzer left to a known state and use the device"
$SETUP down r0 2>/dev/null || true
for m in $(sed -n 's/^ *\([0-9]*\): .*/\1/p' /proc/drbd); do
  $SETUP secondary "$m" 2>/dev/null || true
  $SETUP detach "$m" 2>/dev/null || true
  $SETUP del-minor "$m" 2>/dev/null || true
done
for r in $($SETUP show 2>/dev/null | sed -n 's/^resource \([^ ]*\) {/\1/p'); do $SETUP down "$r" 2>/dev/null || true; done
drbdmeta 0 v08 /dev/vda internal apply-al >/dev/null 2>&1 || true
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
$SETUP primary 0 --force
dd if=/dev/urandom of=/tmp/blk bs=64k count=16 status=none
dd if=/tmp/blk of=/dev/drbd0 bs=64k oflag=direct status=none
cmp <(dd if=/dev/drbd0 bs=64k count=16 iflag=direct status=none) /tmp/blk || fail "data read back differs"
$SETUP secondary 0
$SETUP down r0
rmmod drbd_rs || { cat /proc/drbd; fail "module cannot be unloaded after fuzzing"; }
expect_clean_dmesg
log "ok"
