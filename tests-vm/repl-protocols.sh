# Replication with each protocol: for A, B and C both nodes disconnect, switch the protocol
# in drbd.conf and connect again; the primary writes with fio (random 4k..64k blocks,
# checksummed, verified), then the nodes switch over and the new primary verifies the same
# blocks; the whole replicated area must be identical on both lower devices.
# Module and tool per node: DRBD_MODULE_A/B, DRBD_TOOL_A/B (tests-vm/lib/common.sh).
# vm-nodes: 2
# vm-check: no
# vm-disks: 8M
# vm-timeout: 1500
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
wait_link
write_drbd_conf C
load_node_module
up_zeroed_pair

# Per protocol: fio writes FIO_SIZE (random blocks, so about 2/3 of it distinct) over the link.
FIO_SIZE=${FIO_SIZE:-1M}
fio_run() { # fio_run SEED [--verify_only]
  fio --name=repl --filename=/dev/drbd0 --ioengine=libaio --direct=1 --iodepth=8 \
    --rw=randwrite --bssplit=4k/50:16k/30:64k/20 --size="$FIO_SIZE" --verify=crc32c \
    --do_verify=1 --randseed="$1" --output-format=terse --terse-version=3 "${@:2}" >/tmp/fio.out ||
    { cat /tmp/fio.out; fail "fio ${*:2} (seed $1) failed"; }
}

for proto in A B C; do
  log "protocol $proto (at ${SECONDS}s)"
  # One side at a time: disconnecting while the peer's own teardown is still in transit
  # could meet a transient state.
  [[ $DRBDRS_NODE == a ]] && adm disconnect r0
  sync_point "disconnected-a-$proto"
  if [[ $DRBDRS_NODE == b ]]; then
    wait_for "WFConnection after the peer left" 30 is_cs WFConnection
    adm disconnect r0
  fi
  wait_for StandAlone 30 is_cs StandAlone
  write_drbd_conf $proto
  sync_point "reconfigured-$proto"
  adm connect r0
  wait_for "connected, in sync" 120 in_sync
  grep -q " $proto r" /proc/drbd || { cat /proc/drbd; fail "/proc/drbd does not show protocol $proto"; }
  sync_point "connected-$proto"
  seed=$((4242 + $(printf %d "'$proto")))
  if [[ $DRBDRS_NODE == a ]]; then
    adm primary r0
    t=$SECONDS
    fio_run $seed
    echo "fio: wrote $(cut -d';' -f47 /tmp/fio.out) KiB with protocol $proto in $((SECONDS - t))s"
    adm secondary r0
  fi
  sync_point "written-$proto"
  wait_for "in sync after the writes" 60 in_sync
  if [[ $DRBDRS_NODE == b ]]; then
    adm primary r0
    fio_run $seed --verify_only
    adm secondary r0
  fi
  compare_devices "protocol-$proto"
done
cat /proc/drbd
log "protocols done (at ${SECONDS}s)"
sync_point down
adm down r0
expect_clean_dmesg
log "ok"
