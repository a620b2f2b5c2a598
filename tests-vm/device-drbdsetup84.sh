# drbd_rs driven by the reference tools (drbdmeta + drbdsetup-84 from drbd-utils), one node:
# create-md, attach, roles, open rules, a file system whose data survive down/rmmod/insmod,
# and meta data that drbdmeta accepts after drbd_rs wrote it.
# vm-disks: 64M
# vm-timeout: 240
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
MNT=/tmp/mnt
mkdir -p $MNT

proc_line() { sed -n "s/^ *$1: //p" /proc/drbd; }

log "create-md with drbdmeta, load drbd_rs"
drbdmeta --force 0 v08 /dev/vda internal create-md
insmod "$MODULE_KO"

log "new-resource, new-minor: an unconfigured minor"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
[[ -b /dev/drbd0 ]] || fail "/dev/drbd0 missing"
expect_eq "/dev/drbd0 major" 147 "$(( 0x$(stat -c %t /dev/drbd0) ))"
expect_eq "unconfigured line" "cs:Unconfigured" "$(proc_line 0)"

log "attach: fresh meta data is Inconsistent"
$SETUP attach 0 /dev/vda /dev/vda internal
cat /proc/drbd
expect_eq "state after attach" "cs:StandAlone ro:Secondary/Unknown ds:Inconsistent/DUnknown   r----s" "$(proc_line 0)"
expect_eq "role" "Secondary/Unknown" "$($SETUP role 0)"
expect_eq "dstate" "Inconsistent/DUnknown" "$($SETUP dstate 0)"
expect_eq "cstate" "StandAlone" "$($SETUP cstate 0)"
# 64 MiB minus internal meta data (bitmap 8 sectors + AL 64 + superblock 8) = 130992 sectors
expect_eq "capacity" 130992 "$(cat /sys/block/drbd0/size)"

log "a Secondary cannot be opened"
if dd if=/dev/zero of=/dev/drbd0 bs=4k count=1 oflag=direct 2>/tmp/err; then fail "write-open of a Secondary worked"; fi
grep -q "Read-only file system" /tmp/err || fail "write-open error: $(cat /tmp/err)"
if dd if=/dev/drbd0 of=/dev/null bs=4k count=1 2>/tmp/err; then fail "read-open of a Secondary worked"; fi
grep -q "Wrong medium type" /tmp/err || fail "read-open error: $(cat /tmp/err)"

log "primary without --force is refused on Inconsistent data"
if $SETUP primary 0 2>/tmp/err; then fail "primary on Inconsistent data worked"; fi
cat /tmp/err
grep -q "Need access to UpToDate data" /tmp/err || fail "primary error text"

log "primary --force; flush, FUA and discard are passed on to the lower device"
$SETUP primary 0 --force
expect_eq "write cache" "write back" "$(cat /sys/block/drbd0/queue/write_cache)"
expect_eq "fua" 1 "$(cat /sys/block/drbd0/queue/fua)"
(( $(cat /sys/block/vda/queue/discard_max_bytes) > 0 )) || fail "lower device has no discard (QEMU discard=unmap)"
(( $(cat /sys/block/drbd0/queue/discard_max_bytes) > 0 )) || fail "discard not stacked onto drbd0"
blockdev --flushbufs /dev/drbd0
dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=100 oflag=direct,dsync status=none
blkdiscard -o $((1 << 20)) -l $((4 << 20)) /dev/drbd0

log "file system, files"
expect_eq "state after primary --force" "cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r----s" "$(proc_line 0)"
mkfs.ext4 -q /dev/drbd0
mount /dev/drbd0 $MNT
for i in 1 2 3; do head -c $((i * 1024 * 1024 + 123)) /dev/urandom >$MNT/file$i; done
(cd $MNT && sha256sum file*) >/tmp/sums
umount $MNT
counters=$(sed -n '/^ 0:/{n;p}' /proc/drbd)
echo "$counters"
dw=$(sed 's/.* dw:\([0-9]*\) .*/\1/' <<<"$counters")
(( dw > 3 * 1024 )) || fail "dw counter too small: $dw KiB for >3 MiB of files"

log "secondary is refused while mounted"
mount /dev/drbd0 $MNT
if $SETUP secondary 0 2>/tmp/err; then fail "secondary while mounted worked"; fi
grep -q "Device is held open by someone" /tmp/err || fail "secondary error: $(cat /tmp/err)"
umount $MNT
$SETUP secondary 0

log "down, rmmod, insmod"
$SETUP down r0
expect_eq "/proc/drbd after down" 2 "$(wc -l </proc/drbd)"
rmmod drbd_rs
insmod "$MODULE_KO"

log "drbd_rs left the meta data unclean (as drbd.ko does): attach needs apply-al"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
if $SETUP attach 0 /dev/vda /dev/vda internal 2>/tmp/err; then fail "attach of unclean meta data worked"; fi
grep -q "apply-al" /tmp/err || fail "unclean attach error: $(cat /tmp/err)"
drbdmeta 0 v08 /dev/vda internal apply-al
drbdmeta 0 v08 /dev/vda internal dump-md >/tmp/md.txt
grep -E "^(uuid|flags|la-size-sect)" /tmp/md.txt
grep -q "^la-size-sect 130992;" /tmp/md.txt || fail "la-size-sect in drbdmeta dump-md"

log "re-attach: UpToDate, primary without force, data intact"
$SETUP attach 0 /dev/vda /dev/vda internal
expect_eq "dstate after re-attach" "UpToDate/DUnknown" "$($SETUP dstate 0)"
$SETUP primary 0
mount /dev/drbd0 $MNT
(cd $MNT && sha256sum -c /tmp/sums)
umount $MNT

log "rmmod with the resource still up and Primary: the module takes it down itself"
rmmod drbd_rs
[[ ! -e /dev/drbd0 ]] || fail "/dev/drbd0 still there after rmmod"
drbdmeta 0 v08 /dev/vda internal apply-al
insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
expect_eq "dstate after rmmod with a Primary" "UpToDate/DUnknown" "$($SETUP dstate 0)"
$SETUP down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
