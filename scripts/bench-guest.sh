# `make bench`, two nodes: fio on node-a's raw lower disk, then on /dev/drbd0 replicated to
# node-b by drbd_rs and by the in-tree drbd.ko, under protocols C and A, and the resync rate
# of each at the same cap. Both modules run with the same configuration and the same tool
# (drbd-utils' drbdadm) and durability settings (defaults: disk and meta-data flushes on).
# Prints a table with ratios; only ratios within one run mean anything under TCG.
# vm-nodes: 2
# vm-disks: 256M
# vm-timeout: 2400
# vm-memory: 1024
# vm-cpus: 2
export DRBD_TOOL_A=drbdadm-84 DRBD_TOOL_B=drbdadm-84
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
RUNTIME=15 # seconds per fio job (after a 2 s ramp)
# name:fio arguments. QD1 shows the write latency (one round trip per write under protocol C).
JOBS=("rand4k-qd1:--rw=randwrite --bs=4k --iodepth=1"
  "rand4k-qd32:--rw=randwrite --bs=4k --iodepth=32"
  "seq1m:--rw=write --bs=1M --iodepth=8")
RESYNC_CAP=100M    # the same fixed resync rate for both modules (c-plan-ahead 0)
RESYNC_SECONDS=120 # the resync is measured over at most this long
OUT="$DRBDRS_RESULTS/bench.txt"

fio_job() { # fio_job DEV ARGS → "KiB/s IOPS mean-latency-µs"
  fio --name=b --filename="$1" --ioengine=libaio --direct=1 --size=192M --time_based \
    --runtime="$RUNTIME" --ramp_time=2 --randseed=1 $2 --output-format=json |
    python3 -c 'import json,sys; w=json.load(sys.stdin)["jobs"][0]["write"]
print(int(w["bw"]), int(w["iops"]), round(w["lat_ns"]["mean"] / 1000))'
}

# The link itself: round trip of small packets and TCP throughput (node-a → node-b).
link_measure() {
  local port=7702
  if [[ $DRBDRS_NODE == b ]]; then
    python3 - "$DRBDRS_IP" $port <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
c, _ = s.accept()
while c.recv(1 << 20):
    pass
PY
    sync_point link-listening
    sync_point link-measured
    wait
    return
  fi
  sync_point link-listening
  RTT_MS=$(ping -c 20 -i 0.2 -q "$DRBDRS_PEER_IP" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
  LINK_KIBS=$(python3 - "$DRBDRS_PEER_IP" $port <<'PY'
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
buf = b"\0" * (1 << 20)
start = time.monotonic()
for _ in range(64):
    c.sendall(buf)
c.shutdown(socket.SHUT_WR); c.recv(1)
print(int(64 * 1024 / (time.monotonic() - start)))
PY
)
  sync_point link-measured
}

# up_pair PROTO: fresh meta data, connected, no initial sync (new-current-uuid
# --clear-bitmap), node-a Primary.
up_pair() {
  write_drbd_conf "$1" "" "resync-rate $RESYNC_CAP;"
  adm_create_md r0
  adm up r0
  wait_for "the connection" 120 fresh_pair
  sync_point "fresh-$NODE_MODULE-$1"
  [[ $DRBDRS_NODE == a ]] && adm -- --clear-bitmap new-current-uuid r0
  wait_for "UpToDate/UpToDate" 60 in_sync
  [[ $DRBDRS_NODE == a ]] && adm primary r0
  wait_for "node-a Primary" 60 is_ro "$([[ $DRBDRS_NODE == a ]] && echo Primary/Secondary || echo Secondary/Primary)"
}

down_pair() { # down_pair PROTO
  [[ $DRBDRS_NODE == a ]] && adm secondary r0
  sync_point "down-$NODE_MODULE-$1"
  adm down r0
}

# resync_rate: a full sync from node-a at the cap, measured on node-a from oos: KiB/s.
resync_rate() {
  write_drbd_conf C "" "resync-rate $RESYNC_CAP;"
  adm_create_md r0
  adm up r0
  wait_for "the connection" 120 fresh_pair
  sync_point "resync-$NODE_MODULE"
  [[ $DRBDRS_NODE == a ]] && adm primary --force r0
  wait_for "the sync to start" 60 bash -c 'grep -qE "cs:Sync(Source|Target)" /proc/drbd'
  local start_oos start_t left
  start_oos=$(oos) start_t=$(date +%s.%N)
  for ((i = 0; i < RESYNC_SECONDS * 2; i++)); do in_sync && break; sleep 0.5; done
  left=$(oos)
  [[ $DRBDRS_NODE == a ]] &&
    RESULT[$NODE_MODULE,resync]=$(awk -v a="$start_oos" -v b="${left:-0}" -v t0="$start_t" -v t1="$(date +%s.%N)" \
      'BEGIN { printf "%d", (a - b) / (t1 - t0) }')
  sync_point "resynced-$NODE_MODULE"
  [[ $DRBDRS_NODE == a ]] && adm secondary r0
  adm down r0
}

declare -A RESULT
wait_link
link_measure
if [[ $DRBDRS_NODE == a ]]; then
  for job in "${JOBS[@]}"; do RESULT[raw,${job%%:*}]=$(fio_job /dev/vda "${job#*:}"); done
fi
sync_point raw-done

for NODE_MODULE in drbd_rs drbd; do
  load_node_module
  for proto in C A; do
    up_pair $proto
    if [[ $DRBDRS_NODE == a ]]; then
      for job in "${JOBS[@]}"; do
        RESULT[$NODE_MODULE-$proto,${job%%:*}]=$(fio_job /dev/drbd0 "${job#*:}")
      done
    fi
    down_pair $proto
  done
  resync_rate
  unload_node_module
done

[[ $DRBDRS_NODE == a ]] || exit 0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
{
  echo "link: round trip ${RTT_MS} ms, TCP ${LINK_KIBS} KiB/s; fio ${RUNTIME} s per job; resync cap $RESYNC_CAP"
  printf '%-12s %-4s %10s %8s %9s %10s %8s %9s %8s\n' job proto "rs KiB/s" "rs IOPS" "rs lat" \
    "ko KiB/s" "ko IOPS" "ko lat" "rs/ko"
  for job in "${JOBS[@]}"; do
    name=${job%%:*}
    read -r bw iops lat <<<"${RESULT[raw,$name]}"
    printf '%-12s %-4s %10s %8s %7sus\n' "$name" raw "$bw" "$iops" "$lat"
    for proto in C A; do
      read -r rbw riops rlat <<<"${RESULT[drbd_rs-$proto,$name]}"
      read -r kbw kiops klat <<<"${RESULT[drbd-$proto,$name]}"
      printf '%-12s %-4s %10s %8s %7sus %10s %8s %7sus %8s\n' "$name" "$proto" "$rbw" "$riops" "$rlat" \
        "$kbw" "$kiops" "$klat" "$(ratio "$rbw" "$kbw")"
    done
  done
  echo "resync KiB/s: drbd_rs ${RESULT[drbd_rs,resync]}, drbd.ko ${RESULT[drbd,resync]}" \
    "(rs/ko $(ratio "${RESULT[drbd_rs,resync]}" "${RESULT[drbd,resync]}"))"
  # The issue's targets, computed from this run.
  read -r _ _ raw_lat <<<"${RESULT[raw,rand4k-qd1]}"
  read -r _ _ c_lat <<<"${RESULT[drbd_rs-C,rand4k-qd1]}"
  read -r _ c32 _ <<<"${RESULT[drbd_rs-C,rand4k-qd32]}"
  read -r _ k32 _ <<<"${RESULT[drbd-C,rand4k-qd32]}"
  read -r cseq _ <<<"${RESULT[drbd_rs-C,seq1m]}"
  read -r rawseq _ <<<"${RESULT[raw,seq1m]}"
  echo "target: protocol C QD1 latency ${c_lat}us <= 1.25 x (rtt + raw) =" \
    "$(awk -v r="$RTT_MS" -v w="$raw_lat" 'BEGIN { printf "%d", 1.25 * (r * 1000 + w) }')us"
  echo "target: protocol C QD32 IOPS rs/ko = $(ratio "$c32" "$k32") >= 2"
  echo "target: seq write ${cseq} KiB/s >= 0.9 x min(raw $rawseq, link $LINK_KIBS) =" \
    "$(awk -v a="$rawseq" -v b="$LINK_KIBS" 'BEGIN { m = a < b ? a : b; printf "%d", 0.9 * m }') KiB/s"
} | tee "$OUT"
