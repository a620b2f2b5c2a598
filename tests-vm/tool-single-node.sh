# drbdadm-rs drives drbd_rs on one node from drbd.conf: create-md (internal and indexed
# external meta data), up, primary --force, ext4 with checksums, open rules, down, rmmod,
# insmod, up, primary, data intact; and bad input gets clear errors, never a crash.
# vm-disks: 64M 64M 130M 512K
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
MNT=/tmp/mnt
mkdir -p $MNT
proc_line() { sed -n "s/^ *$1: //p" /proc/drbd; }
adm() { "$TOOL" "$@"; }
# `up` without its last step, connect: this test runs without a peer (two-node scenarios:
# tests-vm/repl-*.sh).
up_local() { adm new-resource "$1"; adm new-minor "$1"; adm attach "$1"; }

cat >/etc/drbd.conf <<'CONF'
global { usage-count no; }
common { net { protocol C; } }
resource r0 {
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
# 8.3-style resource with indexed external meta data and a syncer section.
resource r1 {
  protocol C;
  syncer { rate 10M; al-extents 257; }
  on node-a { device /dev/drbd1; disk /dev/vdb; address 169.254.77.1:7790; meta-disk /dev/vdc[0]; }
  on node-b { device /dev/drbd1; disk /dev/vdb; address 169.254.77.2:7790; meta-disk /dev/vdc[0]; }
}
CONF

log "dump re-reads the config"
adm dump r1 | tee /tmp/dump.txt
grep -q "meta-disk.*/dev/vdc" /tmp/dump.txt || fail "dump lost the meta disk"

log "create-md all"
adm create-md all
drbdmeta 0 v08 /dev/vda internal dump-md | grep -q "^la-size-sect" || fail "drbdmeta cannot read our internal meta data"
drbdmeta 1 v08 /dev/vdc 0 dump-md | grep -q "^la-size-sect" || fail "drbdmeta cannot read our indexed meta data"

log "create-md refuses to overwrite meta data without --force"
if adm create-md r0 2>/tmp/err; then fail "second create-md succeeded"; fi
grep -q "refusing to overwrite" /tmp/err || fail "create-md overwrite error: $(cat /tmp/err)"

log "up all (new-resource, new-minor, attach)"
insmod "$MODULE_KO"
up_local all
cat /proc/drbd
expect_eq "r0 after up" "cs:StandAlone ro:Secondary/Unknown ds:Inconsistent/DUnknown   r----s" "$(proc_line 0)"
expect_eq "r1 after up" "cs:StandAlone ro:Secondary/Unknown ds:Inconsistent/DUnknown   r----s" "$(proc_line 1)"
expect_eq "role r0" "Secondary/Unknown" "$(adm role r0)"
expect_eq "dstate r1" "Inconsistent/DUnknown" "$(adm dstate r1)"
expect_eq "cstate r0" "StandAlone" "$(adm cstate r0)"
# indexed external: the whole 64 MiB lower device is usable
expect_eq "r1 size" 131072 "$(cat /sys/block/drbd1/size)"

log "primary without force refused; legacy --overwrite-data-of-peer spelling works"
if adm primary r0 2>/tmp/err; then fail "primary on Inconsistent data worked"; fi
grep -q "Need access to UpToDate data" /tmp/err || fail "primary error: $(cat /tmp/err)"
adm primary r0 -- --overwrite-data-of-peer
adm primary --force r1
expect_eq "role r0 primary" "Primary/Unknown" "$(adm role r0)"
expect_eq "r0 after primary" "cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r----s" "$(proc_line 0)"

log "file systems and checksums"
for m in 0 1; do
  mkfs.ext4 -q /dev/drbd$m
  mkdir -p $MNT$m
  mount /dev/drbd$m $MNT$m
  for i in 1 2; do head -c $((i * 777777)) /dev/urandom >$MNT$m/file$i; done
  (cd $MNT$m && sha256sum file*) >/tmp/sums$m
  umount $MNT$m
done
adm status
adm status --json >/tmp/status.json
python3 -c 'import json,sys; d=json.load(open("/tmp/status.json")); assert [x["role"] for x in d]==["Primary","Primary"], d' ||
  fail "status --json: $(cat /tmp/status.json)"

log "secondary: the device cannot be opened"
adm secondary all
if dd if=/dev/zero of=/dev/drbd0 bs=4k count=1 2>/dev/null; then fail "write-open of a Secondary worked"; fi

log "down, rmmod, insmod, up, primary: data intact"
adm down all
expect_eq "/proc/drbd after down" 2 "$(wc -l </proc/drbd)"
rmmod drbd_rs
insmod "$MODULE_KO"
up_local all
expect_eq "dstate after re-up" "UpToDate/DUnknown" "$(adm dstate r0)"
adm primary all
for m in 0 1; do
  mount /dev/drbd$m $MNT$m
  (cd $MNT$m && sha256sum -c /tmp/sums$m)
  umount $MNT$m
done
adm secondary all

log "bad input: clear errors, non-zero exit"
expect_fail() { # expect_fail WHAT EXPECTED-EXIT PATTERN CMD...
  local what=$1 want=$2 pattern=$3; shift 3
  set +e; "$@" >/tmp/out 2>&1; local rc=$?; set -e
  cat /tmp/out
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want"
  grep -qE -- "$pattern" /tmp/out || fail "$what: message does not match /$pattern/"
}
printf 'resource bad {\n  on node-a { device /dev/drbd5; disk /dev/vdz; address 1.2.3.4:7789; meta-disk internal; }\n  syncr { rate 10M; }\n}\n' >/tmp/bad.conf
expect_fail "syntax error" 10 "/tmp/bad.conf:3" adm -c /tmp/bad.conf dump
expect_fail "unknown resource" 1 "'nosuch' not defined" adm role nosuch
printf 'resource m {\n  on node-a { device /dev/drbd5; disk /dev/vdz; address 1.2.3.4:7789; meta-disk internal; }\n  on node-b { device /dev/drbd5; disk /dev/vdz; address 1.2.3.5:7789; meta-disk internal; }\n}\n' >/tmp/missing.conf
expect_fail "missing disk" 10 "/dev/vdz" adm -c /tmp/missing.conf create-md m
printf 'resource s {\n  on node-a { device /dev/drbd6; disk /dev/vdd; address 1.2.3.4:7789; meta-disk internal; }\n  on node-b { device /dev/drbd6; disk /dev/vdd; address 1.2.3.5:7789; meta-disk internal; }\n}\n' >/tmp/small.conf
expect_fail "too small disk" 10 "too small.*need" adm -c /tmp/small.conf create-md s
expect_fail "unknown minor" 10 "Device minor not allocated|not configured" adm -c /tmp/small.conf role s
expect_fail "non-root netlink" 20 "ermission" setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOL" primary r0

adm down all
rmmod drbd_rs
expect_clean_dmesg
log "ok"
