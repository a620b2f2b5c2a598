# Data integrity under concurrent I/O: fio writes random blocks of mixed sizes at queue depth
# 16 (libaio, O_DIRECT) with a checksum in every block, then verifies them — once right away
# and once more after down/rmmod/insmod/up, so acknowledged writes are on the lower device.
# vm-disks: 64M
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
insmod "$MODULE_KO"
up() { $SETUP new-resource r0; $SETUP new-minor r0 0 0; $SETUP attach 0 /dev/vda /dev/vda internal; }
up
$SETUP primary 0 --force
FIO=(fio --name=verify --filename=/dev/drbd0 --ioengine=libaio --direct=1 --iodepth=16
  --rw=randwrite --bssplit=4k/50:16k/30:64k/20 --size=48M --verify=crc32c --verify_backlog=512
  --do_verify=1 --randseed=4242 --output-format=terse --terse-version=3)
log "write + verify"
"${FIO[@]}" >/tmp/fio.out || { cat /tmp/fio.out; fail "fio write/verify failed"; }
# terse v3: field 47 = KiB written, field 6 = KiB read (the verify reads)
written=$(cut -d';' -f47 /tmp/fio.out) verified=$(cut -d';' -f6 /tmp/fio.out)
echo "fio: wrote ${written} KiB, read back ${verified} KiB for verification"
(( written >= 48 * 1024 && verified >= 48 * 1024 )) || { cat /tmp/fio.out; fail "fio did not write and verify 48 MiB"; }
log "verify again after down, rmmod, insmod, up"
$SETUP secondary 0
$SETUP down r0
rmmod drbd_rs
drbdmeta 0 v08 /dev/vda internal apply-al >/dev/null
insmod "$MODULE_KO"
up
$SETUP primary 0
"${FIO[@]}" --verify_only >/tmp/fio2.out || { cat /tmp/fio2.out; fail "data changed across down/up"; }
$SETUP secondary 0
$SETUP down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
