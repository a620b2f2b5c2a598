# `make bench`, single node: the same fio jobs on the raw lower device, on drbd_rs and on the
# in-tree drbd.ko (both StandAlone Primary over the same kind of disk), with ratios.
# vm-disks: 256M
# vm-timeout: 900
# vm-memory: 1024
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
RUNTIME=15
JOBS=("seqwrite:--rw=write --bs=1M --iodepth=8"
  "randwrite:--rw=randwrite --bs=4k --iodepth=16"
  "randread:--rw=randread --bs=4k --iodepth=16")

run() { # run DEV JOB-ARGS → "KiB/s IOPS"
  fio --name=b --filename="$1" --ioengine=libaio --direct=1 --size=192M --time_based \
    --runtime="$RUNTIME" --ramp_time=2 --randseed=1 $2 --output-format=terse --terse-version=3 |
    awk -F';' '{ if ($7 > 0) print $7, $8; else print $48, $49 }'
}

bring_up() { # bring_up: StandAlone Primary /dev/drbd0 on /dev/vda with whichever module is loaded
  drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
  $SETUP new-resource r0
  $SETUP new-minor r0 0 0
  $SETUP attach 0 /dev/vda /dev/vda internal
  $SETUP primary 0 --force
}

declare -A RESULT
for job in "${JOBS[@]}"; do
  name=${job%%:*} args=${job#*:}
  RESULT[raw,$name]=$(run /dev/vda "$args")
done
insmod "$MODULE_KO"; bring_up
for job in "${JOBS[@]}"; do name=${job%%:*}; RESULT[drbd_rs,$name]=$(run /dev/drbd0 "${job#*:}"); done
$SETUP secondary 0; $SETUP down r0; rmmod drbd_rs
load_reference_drbd; bring_up
for job in "${JOBS[@]}"; do name=${job%%:*}; RESULT[drbd.ko,$name]=$(run /dev/drbd0 "${job#*:}"); done
$SETUP secondary 0; $SETUP down r0; rmmod drbd lru_cache

printf '\n%-10s %14s %14s %14s %10s %12s\n' job "raw KiB/s" "drbd_rs KiB/s" "drbd.ko KiB/s" "rs/raw" "rs/drbd.ko"
for job in "${JOBS[@]}"; do
  name=${job%%:*}
  read -r raw _ <<<"${RESULT[raw,$name]}"
  read -r rs _ <<<"${RESULT[drbd_rs,$name]}"
  read -r ko _ <<<"${RESULT[drbd.ko,$name]}"
  printf '%-10s %14s %14s %14s %10s %12s\n' "$name" "$raw" "$rs" "$ko" \
    "$(awk -v a="$rs" -v b="$raw" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
    "$(awk -v a="$rs" -v b="$ko" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
done | tee "$DRBDRS_RESULTS/bench.txt"
