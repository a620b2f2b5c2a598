# Failure paths leave nothing behind. With the fail-nth allocation counter restricted to call
# stacks that run through drbd_rs (failslab's require-start/end over the module's text), each
# slab allocation the module makes fails once in turn: during module load (major, bio pool,
# /proc, genl ops table, handler, family registration), during new-minor (worker thread, then
# gendisk: a device that fails after its worker started must stop it and free its closure)
# and during attach (lower devices, meta data, bitmap). After each failure the next attempt
# works; the harness's kmemleak scan (after rmmod) must find nothing.
# (fail_function on the shim's ALLOW_ERROR_INJECTION point is not used: its kprobe handler
# draws a random number in int3 context, which lockdep reports as a crngs.lock inversion.)
# vm-disks: 64M
# vm-timeout: 900
# Injected allocation failures are reported by their callers, with a stack dump:
# vm-allow-dmesg: vmalloc error: .*allocation failed|page allocation failure|execmem: unable to allocate
# vm-allow-dmesg: kunit module: error filtering suites
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
DBG=/sys/kernel/debug
FS=$DBG/failslab
[[ -e $FS/require-start ]] || fail "the test kernel lacks fault injection (kernel/debug.config)"
major_registered() { grep -c ' drbd$' /proc/devices || true; }

drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null

# Injected failures print nothing (the harness treats stack dumps as splats); sleeping
# allocations may fail too.
echo 0 >$FS/verbose
echo N >$FS/ignore-gfp-wait

# The module's text, where it will be loaded again (same size, same free space).
insmod "$MODULE_KO"
text=$(cat /sys/module/drbd_rs/sections/.text)
size=$(awk '$1 == "drbd_rs" {print $2}' /proc/modules)
rmmod drbd_rs
echo "$text" >$FS/require-start
printf '%#x\n' $((text + size)) >$FS/require-end
log "counting allocations with drbd_rs on the stack: $text + $size"

log "module load: each allocation of the init fails in turn"
python3 "$DRBDRS_REPO/tests-vm/lib/insmod_faults.py" "$MODULE_KO" drbd_rs
expect_eq "major 147 released" 0 "$(major_registered)"
[[ ! -e /proc/drbd ]] || fail "/proc/drbd left behind"
insmod "$MODULE_KO"
expect_eq "the module is where the filter expects it" "$text" "$(cat /sys/module/drbd_rs/sections/.text)"
expect_eq "major 147 after a clean load" 1 "$(major_registered)"

# sweep WHAT UNDO CMD...: run CMD with its n-th allocation failing, n = 1, 2, ... until it
# succeeded 5 times in a row (no more allocations to fail); UNDO after each success.
sweep() {
  local what=$1 undo=$2 n ok=0 refused=0
  shift 2
  for ((n = 1; n <= 400 && ok < 5; n++)); do
    if (echo $n >/proc/self/fail-nth && exec "$@") >/dev/null 2>&1; then
      ok=$((ok + 1))
      eval "$undo"
    else
      ok=0
      refused=$((refused + 1))
    fi
  done
  ((ok == 5)) || fail "$what: still failing at n=$n"
  log "$what: $refused of $((n - 1)) attempts refused, state consistent after each"
}

log "new-minor: each allocation fails in turn (most after the worker thread started)"
$SETUP new-resource r0
sweep new-minor "$SETUP del-minor 0" $SETUP new-minor r0 0 0
pgrep -x drbd0_worker && fail "a worker thread outlived its failed device"
$SETUP new-minor r0 0 0
log "attach: each allocation fails in turn"
sweep attach "$SETUP detach 0 && drbdmeta 0 v08 /dev/vda internal apply-al >/dev/null" \
  $SETUP attach 0 /dev/vda /dev/vda internal
drbdmeta 0 v08 /dev/vda internal apply-al >/dev/null
echo 0 >$FS/require-start
echo 0xffffffffffffffff >$FS/require-end
echo Y >$FS/ignore-gfp-wait

log "afterwards the device works"
$SETUP attach 0 /dev/vda /dev/vda internal
pgrep -x drbd0_worker >/dev/null || fail "no drbd0_worker"
$SETUP primary 0 --force
dd if=/dev/urandom of=/dev/drbd0 bs=64k count=16 oflag=direct status=none
$SETUP down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
