# An idle drbdN_worker sleeps interruptibly: it adds nothing to the load average and the
# hung-task detector (armed with a 2 s timeout here) has nothing to report about it.
# vm-disks: 64M
# vm-timeout: 180
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
SETUP=/lib/drbd/drbdsetup-84
[[ -w /proc/sys/kernel/hung_task_timeout_secs ]] || fail "the test kernel has no hung-task detector"

drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null
insmod "$MODULE_KO"
$SETUP new-resource r0
$SETUP new-minor r0 0 0
$SETUP attach 0 /dev/vda /dev/vda internal
pid=$(pgrep -x drbd0_worker) || fail "no drbd0_worker thread"

echo 2 >/proc/sys/kernel/hung_task_timeout_secs
echo 1 >/proc/sys/kernel/hung_task_check_interval_secs
log "idle for 8 s"
sleep 8
state=$(awk '{print $3}' "/proc/$pid/stat")
expect_eq "state of the idle drbd0_worker (S = interruptible sleep)" S "$state"
dmesg | grep "blocked for more than" && fail "hung-task report"
echo 15 >/proc/sys/kernel/hung_task_timeout_secs

$SETUP down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
