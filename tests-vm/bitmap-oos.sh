# The quick-sync bitmap: loaded at attach, every write without a peer marks exactly the 4 KiB
# blocks it touches (oos: in /proc/drbd, bits_oos for the tools), and detach writes the bits
# where drbdmeta (and so the next attach, or a later resync) finds them.
# vm-disks: 64M
# vm-timeout: 240
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
flags() { sed -n 's/^ 0: .* \([a-z-]\{6\}\)$/\1/p' /proc/drbd; }

log "meta data that knows the device size and has a clear bitmap (via drbdmeta restore-md)"
drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
clear_bitmap /dev/vda 130992

insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
cat /proc/drbd
expect_eq "oos after attach" 0 "$(oos)"
expect_eq "flags: AL not suspended" "r-----" "$(flags)"

log "writes mark the blocks they touch"
$SETUP primary 0 --force
dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=256 oflag=direct status=none     # block 256
expect_eq "oos after one 4 KiB write" 4 "$(oos)"
dd if=/dev/urandom of=/dev/drbd0 bs=512 count=2 seek=4095 oflag=direct status=none   # sectors 4095-4096: blocks 511, 512
expect_eq "oos after a write across a block boundary" 12 "$(oos)"
dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=256 oflag=direct status=none     # block 256 again
expect_eq "oos after rewriting a marked block" 12 "$(oos)"
dd if=/dev/drbd0 of=/dev/null bs=1M count=4 iflag=direct status=none
expect_eq "reads mark nothing" 12 "$(oos)"
blkdiscard -o $((8 << 20)) -l $((1 << 20)) /dev/drbd0
expect_eq "a 1 MiB discard marks 256 blocks" $((12 + 1024)) "$(oos)"

log "detach writes the bitmap; drbdmeta sees exactly those bits"
$SETUP secondary 0
$SETUP detach 0
drbdmeta 0 v08 /dev/vda internal apply-al
drbdmeta 0 v08 /dev/vda internal dump-md 2>/dev/null | sed -n '/^bm {/,/^}/p' >/tmp/bm
cat /tmp/bm
# word 4 (bits 256-319) has bit 0 set; word 7 (448-511) bit 63; word 8 (512-575) bit 0;
# words 32-35 (blocks 2048-2303, the discard) all set.
grep -q "0x0000000000000001; 0x0000000000000000; 0x0000000000000000; 0x8000000000000000;" /tmp/bm ||
  fail "bits of blocks 256 and 511 not where expected"
grep -A1 "# at 8192kB" /tmp/bm | grep -q "^ *0xFFFFFFFFFFFFFFFF; 0xFFFFFFFFFFFFFFFF; 0xFFFFFFFFFFFFFFFF; 0xFFFFFFFFFFFFFFFF;$" ||
  fail "discarded range not marked"
expect_eq "non-zero bitmap words on disk" 7 "$(grep -o '0x[0-9A-F]*' /tmp/bm | grep -vc '^0x0000000000000000$')"

log "the next attach loads the same bits"
$SETUP attach 0 /dev/vda /dev/vda internal
expect_eq "oos after re-attach" $((12 + 1024)) "$(oos)"
$SETUP down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
