# drbd_rs.ko loads and unloads cleanly; /proc/drbd, the genl family and minor_count are there.
# vm-nodes: 1
# vm-timeout: 120
source "$DRBDRS_REPO/tests-vm/lib/common.sh"

log "insmod"
insmod "$MODULE_KO"
dmesg | grep -q "drbd_rs: initialized. Version: 8.4.11 (api:1/proto:86-101)" ||
  fail "no version line in the kernel log"
expect_eq "minor_count default" 32 "$(cat /sys/module/drbd_rs/parameters/minor_count)"

log "/proc/drbd"
cat /proc/drbd
expect_eq "/proc/drbd mode" "444" "$(stat -c %a /proc/drbd)"
mapfile -t lines </proc/drbd
expect_eq "version line" "version: 8.4.11 (api:1/proto:86-101)" "${lines[0]}"
expect_match "build line" '^srcversion: [0-9A-F]{23} $' "${lines[1]}"
expect_eq "line count (no minors yet)" 2 "${#lines[@]}"

log "drbd-utils recognise an 8.4 kernel"
out=$(drbdadm --version 2>&1)
# drbdadm switches to its 8.4 personality (API 1) only when /proc/drbd says 8.4.
echo "$out" | grep -qx "DRBD_KERNEL_VERSION_CODE=0x08040b" || fail "drbdadm --version: $out"
echo "$out" | grep -qx "DRBDADM_API_VERSION=1" || fail "drbdadm --version: $out"
out=$("$TOOL" version)
echo "$out" | grep -qx "DRBD_KERNEL_VERSION=8.4.11" || fail "drbdadm-rs version: $out"

log "generic netlink family"
fam=$(genl ctrl get name drbd)
echo "$fam"
expect_match "family version" 'Version: 0x1 ' "$fam"
expect_match "header size" 'header size: 8 ' "$fam"
expect_match "max attr" 'max attribs: 24 ' "$fam"
expect_match "events group" "name: events" "$fam"

log "rmmod"
rmmod drbd_rs
[[ ! -e /proc/drbd ]] || fail "/proc/drbd still there after rmmod"
genl ctrl get name drbd >/dev/null 2>&1 && fail "genl family still registered after rmmod"
dmesg | grep -q "drbd_rs: module cleanup done." || fail "no cleanup message"

log "reload with an out-of-range minor_count: default used, error logged"
insmod "$MODULE_KO" minor_count=1000
expect_eq "minor_count after invalid value" 32 "$(cat /sys/module/drbd_rs/parameters/minor_count)"
dmesg | grep -q "invalid minor_count (1000), using 32" || fail "no error for minor_count=1000"
rmmod drbd_rs
insmod "$MODULE_KO" minor_count=8
expect_eq "minor_count given" 8 "$(cat /sys/module/drbd_rs/parameters/minor_count)"
rmmod drbd_rs

expect_clean_dmesg
log "ok"
