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

# The kernel log since boot must show no warning, oops or lockdep splat.
expect_clean_dmesg() {
  local bad
  bad=$(dmesg | grep -E "WARNING:|BUG:|Oops|general protection|Call Trace:|refcount_t:|UBSAN|KASAN|possible circular locking" || true)
  [[ -z "$bad" ]] || { dmesg | tail -60; fail "kernel log shows problems: $bad"; }
}

load_reference_drbd() {
  insmod "$DRBDRS_KDIR/lib/lru_cache.ko"
  insmod "$DRBDRS_KDIR/drivers/block/drbd/drbd.ko" "$@"
}
