# Resize on one node: a grown lower device (a loop device over a file) is only used after
# `resize --assume-peer-has-space` (as drbd: without a peer nobody agrees on the size);
# internal meta data moves to the new end; new blocks are marked out of sync; the file system
# grows and keeps its data across down/up; a too-large size is refused; an explicit shrink works.
# vm-timeout: 240
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
adm() { "$TOOL" "$@"; }
# `up` without its last step, connect: this test runs without a peer (two-node scenarios:
# tests-vm/repl-*.sh).
up_local() { adm new-resource "$1"; adm new-minor "$1"; adm attach "$1"; }
MNT=/tmp/mnt
mkdir -p $MNT
truncate -s 64M /tmp/lower.img
LOOP=$(losetup --show -f /tmp/lower.img)
cat >/etc/drbd.conf <<CONF
global { usage-count no; }
resource r0 {
  on node-a { device /dev/drbd0; disk $LOOP; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk $LOOP; address 169.254.77.2:7789; meta-disk internal; }
}
CONF

insmod "$MODULE_KO"
adm create-md r0
up_local r0
adm primary --force r0
expect_eq "size before" 130992 "$(cat /sys/block/drbd0/size)"
mkfs.ext4 -q /dev/drbd0
mount /dev/drbd0 $MNT
head -c 3M /dev/urandom >$MNT/data
(cd $MNT && sha256sum data) >/tmp/sums

log "grow the lower device by 32 MiB"
truncate -s 96M /tmp/lower.img
losetup -c "$LOOP"
adm resize r0
expect_eq "size unchanged without a peer's consent" 130992 "$(cat /sys/block/drbd0/size)"
before=$(oos)
adm resize --assume-peer-has-space r0
# 96 MiB = 196608 sectors minus internal meta data (bitmap 8 + AL 64 + superblock 8)
expect_eq "size after resize" 196528 "$(cat /sys/block/drbd0/size)"
expect_eq "new blocks out of sync (KiB)" $((before + (196528 - 130992) / 2)) "$(oos)"
resize2fs -f /dev/drbd0 >/dev/null 2>&1
df -k $MNT | tail -1
(cd $MNT && sha256sum -c /tmp/sums)

log "refusals"
if adm resize --size 1G r0 2>/tmp/err; then fail "resize beyond the device worked"; fi
cat /tmp/err
grep -q "too small" /tmp/err || fail "too-large resize error"
umount $MNT

log "the moved meta data is found again: down, up"
adm secondary r0
adm down r0
adm apply-al r0
drbdmeta 0 v08 "$LOOP" internal dump-md 2>/dev/null | grep "^la-size-sect" | tee /tmp/la
grep -q "^la-size-sect 196528;" /tmp/la || fail "la-size-sect after resize"
up_local r0
expect_eq "size after re-up" 196528 "$(cat /sys/block/drbd0/size)"
adm primary r0
mount /dev/drbd0 $MNT
(cd $MNT && sha256sum -c /tmp/sums)
umount $MNT
log "explicit shrink to 80 MiB"
adm resize --size 80M r0
expect_eq "size after explicit shrink" 163840 "$(cat /sys/block/drbd0/size)"
adm down r0
rmmod drbd_rs
losetup -d "$LOOP"
expect_clean_dmesg
log "ok"
