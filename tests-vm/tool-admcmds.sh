# The kernel- and meta-data-backed commands of issue #13 on one node: outdate (refused while
# Inconsistent and while Primary, done on a Secondary, nothing to do twice, on the meta data
# when detached), get-gi / show-gi (attached: the kernel's UUIDs; detached: the meta data),
# suspend-io / resume-io, sh-status and dump-md. The same flow runs first with drbd-utils'
# drbdadm-84 against the in-tree drbd.ko (the reference), then with drbdadm-rs against
# drbd_rs: exit codes, states and flags must be the same. Against drbd_rs, drbdadm-84's
# get-gi / show-gi / sh-status (drbdsetup-84 reading drbd_rs's status) must print what
# drbdadm-rs prints, and drbdadm-rs's dump-md what drbdmeta prints.
# vm-disks: 64M
# vm-timeout: 300
# drbd.ko 6.12 leaks the resync plan of a previous attach (drbd_adm_attach overwrites
# device->rs_plan_s, drbd_nl.c:1986): a 96-byte fifo_buffer {head 0, size 20 (c-plan-ahead)}.
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
export DRBD_DONT_WARN_ON_VERSION_MISMATCH=1
ADM84=/lib/drbd/drbdadm-84
cat >/etc/drbd.conf <<'CONF'
global { usage-count no; }
resource r0 {
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
CONF

# rc CMD...: the exit status, output kept in /tmp/out.
rc() { set +e; "$@" >/tmp/out 2>&1; local r=$?; set -e; cat /tmp/out >&2; echo "$r"; }
# The flags of get-gi (the UUIDs are random).
gi_flags() { "$@" get-gi r0 | cut -d: -f5-; }
disk_state() { sed -n 's/.* ds:\([A-Za-z]*\)\/.*/\1/p' /proc/drbd; }

# flow TOOL OUT: the life cycle, what the tool and the module say recorded in OUT.
flow() {
  local tool=$1 out=$2
  if [[ $tool == "$ADM84" ]]; then "$tool" -- --force create-md r0 >/dev/null; else "$tool" create-md --force r0; fi
  {
    echo "detached fresh: gi $(gi_flags "$tool")"
    "$tool" new-resource r0
    "$tool" new-minor r0
    "$tool" attach r0
    echo "attached: $(disk_state) gi $(gi_flags "$tool")"
    echo "outdate Inconsistent: exit $(rc "$tool" outdate r0) disk $(disk_state)"
    "$tool" primary --force r0
    echo "outdate Primary: exit $(rc "$tool" outdate r0) disk $(disk_state)"
    "$tool" secondary r0
    echo "outdate Secondary: exit $(rc "$tool" outdate r0) disk $(disk_state) dstate $("$tool" dstate r0)"
    echo "outdate again: exit $(rc "$tool" outdate r0) disk $(disk_state)"
    echo "outdated: gi $(gi_flags "$tool")"
    "$tool" show-gi r0 | grep '^flags:'
    "$tool" detach r0
    echo "outdate detached: exit $(rc "$tool" outdate r0)"
    echo "detached: gi $(gi_flags "$tool")"
    "$tool" show-gi r0 | grep -E '^(flags|meta-data|last agreed size):'
    "$tool" attach r0
    echo "re-attached: $(disk_state) dstate $("$tool" dstate r0)"
  } >"$out"
  cat "$out"
}

log "reference: drbdadm-84 and drbd.ko"
load_reference_drbd
flow "$ADM84" /tmp/reference.txt
log "drbd.ko: suspend-io / resume-io"
"$ADM84" suspend-io r0
cat /proc/drbd
"$ADM84" resume-io r0
"$ADM84" down r0
rmmod drbd lru_cache

log "drbdadm-rs and drbd_rs"
insmod "$MODULE_KO"
flow "$TOOL" /tmp/drbd_rs.txt
diff -u /tmp/reference.txt /tmp/drbd_rs.txt || fail "drbdadm-rs/drbd_rs differ from drbdadm-84/drbd.ko"

log "attached: drbdadm-84 (drbdsetup-84 get-gi/show-gi/sh-status from drbd_rs) = drbdadm-rs"
expect_eq "get-gi" "$("$ADM84" get-gi r0)" "$("$TOOL" get-gi r0)"
expect_eq "show-gi" "$("$ADM84" show-gi r0)" "$("$TOOL" show-gi r0)"
# sh-status: the configuration lines and the kernel's block (drbd-utils' version and the
# config path in the first lines are each tool's own).
expect_eq "sh-status" "$("$ADM84" sh-status | sed '1,3d')" "$("$TOOL" sh-status | sed '1,3d')"
"$TOOL" sh-status

log "suspend-io: drbd_rs refuses it clearly"
expect_eq "suspend-io exit" 10 "$(rc "$TOOL" suspend-io r0)"
grep -q "not supported by drbd_rs" /tmp/out || fail "suspend-io message: $(cat /tmp/out)"
expect_eq "resume-io exit" 10 "$(rc "$TOOL" resume-io r0)"

log "detached: dump-md and get-gi from the meta data, as drbdmeta"
"$TOOL" detach r0
expect_eq "get-gi detached" "$(drbdmeta 0 v08 /dev/vda internal get-gi)" "$("$TOOL" get-gi r0)"
expect_eq "show-gi detached" "$(drbdmeta 0 v08 /dev/vda internal show-gi)" "$("$TOOL" show-gi r0)"
# Unclean after the detach: both refuse to dump it (exit 1); after apply-al, the dumps.
expect_eq "dump-md unclean" "1 1" "$(rc drbdmeta 0 v08 /dev/vda internal dump-md) $(rc "$TOOL" dump-md r0)"
"$TOOL" apply-al r0
expect_eq "dump-md" "$(drbdmeta 0 v08 /dev/vda internal dump-md | sed 1,3d)" "$("$TOOL" dump-md r0 | sed 1,3d)"
"$TOOL" dump-md r0 | sed -n '/^la-size-sect/,/^bm {/p'
"$TOOL" -d dump-md r0
"$TOOL" down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
