# Helpers for scripts running inside a test guest (sourced). Tests run with `bash -e`.
# shellcheck shell=bash

MODULE_KO="$DRBDRS_REPO/drbd_rs.ko"
KUNIT_KO="$DRBDRS_REPO/tests-kunit/drbd_rs_kunit.ko"
TOOL="$DRBDRS_REPO/target/release/drbdadm-rs"

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

expect_eq() { # expect_eq WHAT EXPECTED ACTUAL
  [[ "$2" == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

expect_match() { # expect_match WHAT REGEX TEXT
  [[ "$3" =~ $2 ]] || fail "$1: '$3' does not match /$2/"
}

# The kernel log since boot must show no warning, oops, lockdep or KASAN report, hung task...
# (the harness checks again after the test, kmemleak included).
expect_clean_dmesg() {
  dmesg | python3 "$DRBDRS_REPO/tests-vm/lib/dmesg_check.py" - || fail "kernel log shows problems"
}

# The out-of-sync KiB /proc/drbd shows (single-device tests).
oos() { grep -o 'oos:[0-9]*' /proc/drbd | cut -d: -f2; }

# clear_bitmap DEV [LA_SIZE_SECT]: DEV's internal meta data rewritten by drbdmeta with every
# bitmap bit clear (and the last agreed size set, if given), left clean (apply-al).
clear_bitmap() {
  local edits=(-e '/^bm {/,/^}/s/0x[0-9A-F]\{16\}/0x0000000000000000/g')
  [[ -n ${2:-} ]] && edits+=(-e "s/^la-size-sect .*/la-size-sect $2;/")
  drbdmeta 0 v08 "$1" internal dump-md >/tmp/md 2>/dev/null
  sed -i "${edits[@]}" /tmp/md
  drbdmeta --force 0 v08 "$1" internal restore-md /tmp/md >/dev/null
  drbdmeta 0 v08 "$1" internal apply-al
}

load_reference_drbd() {
  insmod "$DRBDRS_KDIR/lib/lru_cache.ko"
  insmod "$DRBDRS_KDIR/drivers/block/drbd/drbd.ko" "$@"
}
