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

load_reference_drbd() {
  insmod "$DRBDRS_KDIR/lib/lru_cache.ko"
  insmod "$DRBDRS_KDIR/drivers/block/drbd/drbd.ko" "$@"
}
