# Load the KUnit module (its suites run at load) and hand the KTAP output to the host.
# vm-timeout: 180
# /dev/vda for the block I/O suite (drbd_rs_bufio).
# vm-disks: 16M
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
expect_clean_dmesg
# KUnit prints KTAP to the kernel log: start from an empty log so it holds only this run.
dmesg --clear
insmod "$KUNIT_KO"
dmesg --notime >"$DRBDRS_RESULTS/ktap.txt"
cat "$DRBDRS_RESULTS/ktap.txt"
rmmod drbd_rs_kunit
expect_clean_dmesg
