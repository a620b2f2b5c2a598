# Helpers for scripts running inside a test guest (sourced). Tests run with `bash -e`.
# shellcheck shell=bash

MODULE_KO="$DRBDRS_REPO/drbd_rs.ko"
KUNIT_KO="$DRBDRS_REPO/tests-kunit/drbd_rs_kunit.ko"
TOOL="$DRBDRS_REPO/target/release/drbdadm-rs"

fail() { echo "FAIL: $*" >&2; exit 1; }
# Each line says when (seconds since the guest booted): where a slow scenario spends its time.
log() { local up; read -r up _ </proc/uptime; echo "--- [${up%.*} s] $*"; }

expect_eq() { # expect_eq WHAT EXPECTED ACTUAL
  [[ "$2" == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

expect_match() { # expect_match WHAT REGEX TEXT
  [[ "$3" =~ $2 ]] || fail "$1: '$3' does not match /$2/"
}

# The kernel log since boot must show no warning, oops, lockdep or KFENCE report, hung task...
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

# --- two-node scenarios (vm-nodes: 2) ---------------------------------------------------
# Which module and admin tool each node runs, from the host environment (scripts/vm.py passes
# DRBD_MODULE_* and DRBD_TOOL_* through): DRBD_MODULE_A|B = drbd (the in-tree drbd.ko,
# default) or drbd_rs; DRBD_TOOL_A|B = drbdadm-rs or drbdadm-84 (drbd-utils' drbdadm, 8.4
# personality). Defaults: drbdadm-rs on node-a, drbdadm-84 on node-b, so both tools meet.
node_var() { local v="$1_${DRBDRS_NODE^^}"; echo "${!v:-$2}"; }
NODE_MODULE=$(node_var DRBD_MODULE drbd)
NODE_TOOL=$(node_var DRBD_TOOL "$([[ ${DRBDRS_NODE:-a} == a ]] && echo drbdadm-rs || echo drbdadm-84)")
PEER=$([[ ${DRBDRS_NODE:-a} == a ]] && echo b || echo a)

# load_node_module: this node's DRBD module.
load_node_module() {
  case $NODE_MODULE in
    drbd) load_reference_drbd ;;
    drbd_rs) insmod "$MODULE_KO" ;;
    *) fail "DRBD_MODULE_${DRBDRS_NODE^^}=$NODE_MODULE: want drbd or drbd_rs" ;;
  esac
  log "node-$DRBDRS_NODE: module $NODE_MODULE, tool $NODE_TOOL"
}

# install_for_modprobe: scripts/install.sh in this guest, so that `modprobe drbd` (what
# drbd-utils' init script, drbd.service and the cluster agents run) loads drbd_rs. The guest's
# /lib/modules/$(uname -r) is bare (the host has none): the index files a kernel package
# ships, empty, keep depmod quiet.
install_for_modprobe() {
  local kmods
  kmods=/lib/modules/$(uname -r)
  mkdir -p "$kmods"
  for f in modules.order modules.builtin modules.builtin.modinfo; do [[ -e $kmods/$f ]] || : >"$kmods/$f"; done
  "$DRBDRS_REPO/scripts/install.sh" "$(uname -r)"
}

# adm ARGS...: this node's admin tool (drbdadm-rs or drbd-utils' drbdadm).
adm() {
  echo "# $NODE_TOOL $*" >&2
  case $NODE_TOOL in
    drbdadm-rs) "$TOOL" "$@" ;;
    drbdadm-84) drbdadm "$@" ;;
    *) fail "DRBD_TOOL_${DRBDRS_NODE^^}=$NODE_TOOL: want drbdadm-rs or drbdadm-84" ;;
  esac
}

# Which boot of this node the script runs in (1, then 2 after a power_loss).
BOOT=${DRBDRS_BOOT:-1}

# power_loss: this node loses power now. The harness (scripts/vm.py) kills its QEMU without
# warning and boots it again with the same disks; the script then runs from the start with
# BOOT one higher (the root file system, /etc/drbd.conf included, is fresh again). What the
# guest had not written to its virtual disk yet is lost, as on a real machine.
power_loss() {
  log "power loss"
  : >"$DRBDRS_RESULTS/power-loss"
  sleep infinity
}

# adm_within SECS ARGS...: adm, killed after SECS seconds (for the waiting commands).
adm_within() {
  local secs=$1
  shift
  echo "# $NODE_TOOL $* (at most ${secs} s)" >&2
  case $NODE_TOOL in
    drbdadm-rs) timeout "$secs" "$TOOL" "$@" ;;
    drbdadm-84) timeout "$secs" drbdadm "$@" ;;
    *) fail "DRBD_TOOL_${DRBDRS_NODE^^}=$NODE_TOOL: want drbdadm-rs or drbdadm-84" ;;
  esac
}

# adm_create_md RES: fresh meta data without questions, with either tool.
adm_create_md() {
  # drbdmeta asks again (and --force alone answers) when meta data exist already.
  if [[ $NODE_TOOL == drbdadm-84 ]]; then adm -- --force create-md "$1" >/dev/null; else adm create-md --force "$1"; fi
}

# write_drbd_conf PROTOCOL [NET-OPTIONS] [DISK-OPTIONS] [SECTIONS]: /etc/drbd.conf with
# resource r0 on /dev/vda (internal meta data) between node-a (169.254.77.1) and node-b
# (.2), port 7789; SECTIONS (e.g. `handlers { ... }`) go into the resource as they are.
# DRBD_DISK_A: node-a's lower device instead of /dev/vda.
# The resync rate is fixed (c-plan-ahead 0): low enough to watch a sync, high enough for TCG;
# DISK-OPTIONS, if given, replace the default `resync-rate 20M;` (a second
# resync-rate is a warning, and the first one counts, with drbdadm-84 as with drbdadm-rs).
# A guest under TCG on a busy host can stall for a second or two: the ping timeout is 3 s
# (default 0.5 s, which drops the connection again and again there). STARTUP_OPTIONS, if set,
# replace the startup section's timeouts.
write_drbd_conf() {
  cat >/etc/drbd.conf <<CONF
global { usage-count no; }
resource r0 {
  net { protocol $1; ping-timeout 30; ${2:-} }
  disk { c-plan-ahead 0; ${3:-resync-rate 20M;} }
  startup { ${STARTUP_OPTIONS:-wfc-timeout 120; degr-wfc-timeout 60;} }
  ${4:-}
  on node-a { device /dev/drbd0; disk ${DRBD_DISK_A:-/dev/vda}; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
CONF
}

# wait_link: the peer answers pings on the link.
wait_link() {
  [[ -n "${DRBDRS_NIC:-}" ]] || fail "no NIC with the link MAC"
  for _ in $(seq 120); do ping -c1 -W1 "$DRBDRS_PEER_IP" >/dev/null 2>&1 && return 0; done
  fail "peer $DRBDRS_PEER_IP unreachable"
}

# sync_point NAME [DATA]: barrier between the two guests over TCP port 7700 on the link
# (node-a listens, node-b connects); both must arrive with the same NAME. Prints the
# peer's DATA (one line), so nodes can compare checksums. SYNC_TIMEOUT: how long a node waits
# for the other (seconds). A failed exchange (the link busy with a takeover, a peer that just
# booted) is retried: node-b until it got node-a's answer, and node-a answers a retry of the
# sync point it finished last (its answer may have been lost) from /tmp/sync-point-last.
SYNC_PORT=7700
SYNC_TIMEOUT=${SYNC_TIMEOUT:-300}
sync_point() {
  local name=$1 data=${2:-}
  log "sync point $name" >&2
  /usr/bin/python3 - "$DRBDRS_NODE" "$DRBDRS_IP" "$DRBDRS_PEER_IP" "$SYNC_PORT" "$name" "$data" "$SYNC_TIMEOUT" <<'PY'
import socket, sys, time
node, me, peer, port, name, data, wait = sys.argv[1:]
line = f"{name} {data}\n".encode()
deadline = time.monotonic() + int(wait)
LAST = "/tmp/sync-point-last"

def left():
    return max(0.1, deadline - time.monotonic())

def exchange_a():
    """node-a: the first line of a node-b at this sync point, after answering retries."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((me, int(port)))
    srv.listen(1)
    try:
        while time.monotonic() < deadline:
            srv.settimeout(left())
            try:
                c, _ = srv.accept()
            except socket.timeout:
                break
            with c:
                try:
                    c.settimeout(min(30, left()))
                    got = c.makefile("rb").readline().decode().rstrip("\n")
                    if not got:
                        continue
                    got_name = got.split(" ")[0]
                    if got_name != name:
                        try:
                            last = open(LAST, "rb").read()
                        except FileNotFoundError:
                            last = b""
                        if last and last.split(b" ")[0] == got_name.encode():
                            c.sendall(last)  # node-b missed our answer to the previous one
                            continue
                    c.sendall(line)
                except OSError:
                    continue
            with open(LAST, "wb") as f:
                f.write(line)
            return got
    finally:
        srv.close()
    sys.exit(f"sync point {name}: node-b never came")

def exchange_b():
    """node-b: node-a's answer to our line."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((peer, int(port)), timeout=5) as c:
                c.settimeout(min(30, left()))
                c.sendall(line)
                got = c.makefile("rb").readline().decode().rstrip("\n")
                if got:
                    return got
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"sync point {name}: no answer from node-a")

got = exchange_a() if node == "a" else exchange_b()
peer_name, _, peer_data = got.partition(" ")
if peer_name != name:
    sys.exit(f"sync point {name}: peer is at '{peer_name}'")
if peer_data:
    print(peer_data)
PY
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds (showing /proc/drbd's state line
# every 20 s meanwhile: under TCG on a busy host a sync can take a while).
wait_for() {
  local what=$1 secs=$2; shift 2
  local start=$SECONDS next=$((SECONDS + 20))
  until "$@"; do
    ((SECONDS < start + secs)) || { cat /proc/drbd; fail "timed out after ${secs}s waiting for $what"; }
    if ((SECONDS >= next)); then
      echo "    ($((SECONDS - start))s) $(grep -o 'cs:.*' /proc/drbd | head -1) $(grep -o 'oos:[0-9]*' /proc/drbd)"
      next=$((SECONDS + 20))
    fi
    sleep 0.5
  done
}

# Conditions for wait_for, from /proc/drbd (the same for both modules and tools).
proc_cs() { sed -n 's/^ *0: cs:\([A-Za-z]*\).*/\1/p' /proc/drbd; }
proc_ds() { sed -n 's/^ *0: .* ds:\([A-Za-z]*\/[A-Za-z]*\).*/\1/p' /proc/drbd; }
is_cs() { [[ $(proc_cs) == "$1" ]]; }
is_ds() { [[ $(proc_ds) == "$1" ]]; }
is_ro() { grep -Eq "^ *0: .* ro:$1 " /proc/drbd; }
in_sync() { is_cs Connected && is_ds UpToDate/UpToDate; }
# The state right after `up` on a fresh pair.
fresh_pair() { is_cs Connected && is_ro Secondary/Secondary && is_ds Inconsistent/Inconsistent; }

# up_zeroed_pair: create-md and up on both nodes of a fresh pair whose disks are all zeros,
# connected and UpToDate/UpToDate without the initial sync (node-a's new-current-uuid
# --clear-bitmap, as drbd's documentation suggests for blank disks); sync points `connected`
# and `synced` on both nodes.
up_zeroed_pair() {
  adm_create_md r0
  adm up r0
  adm_within 120 wait-connect r0 || fail "not connected within 120 s"
  sync_point connected
  [[ $DRBDRS_NODE == a ]] && adm new-current-uuid --clear-bitmap r0
  wait_for "UpToDate/UpToDate without sync" 60 in_sync
  expect_eq "out of sync after the skipped initial sync" 0 "$(oos)"
  sync_point synced
}

# seeded_data SEED: 2 MiB both nodes can produce; drbd_has SEED: /dev/drbd0 starts with them.
seeded_data() {
  python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(2 << 20))' "$1"
}
drbd_has() { cmp <(dd if=/dev/drbd0 bs=1M count=2 iflag=direct status=none) <(seeded_data "$1"); }

# switch_over WRITER SEED: WRITER promotes, writes seeded data SEED (O_DIRECT) and demotes;
# the other node then promotes, must read the same data, and demotes.
switch_over() {
  local writer=$1 seed=$2
  if [[ $DRBDRS_NODE == "$writer" ]]; then
    adm primary r0
    seeded_data "$seed" | dd of=/dev/drbd0 bs=1M oflag=direct status=none ||
      { cat /proc/drbd; fail "write on node-$writer"; }
    drbd_has "$seed" || fail "node-$writer does not read back what it wrote"
    adm secondary r0
  fi
  sync_point "written-$seed"
  if [[ $DRBDRS_NODE != "$writer" ]]; then
    wait_for "the writer's demotion" 60 is_ro Secondary/Secondary
    adm primary r0
    drbd_has "$seed" || fail "node-$DRBDRS_NODE does not have node-$writer's data (seed $seed)"
    log "node-$DRBDRS_NODE reads node-$writer's data (seed $seed)"
    adm secondary r0
  fi
  sync_point "read-$seed"
  wait_for "both Secondary" 60 is_ro Secondary/Secondary
}

# full_sync_from SOURCE: fresh meta data on both, up, SOURCE forces itself primary, full sync
# to UpToDate/UpToDate, SOURCE demotes again.
full_sync_from() {
  adm_create_md r0
  adm up r0
  wait_for "Connected Secondary/Secondary Inconsistent/Inconsistent" 120 fresh_pair
  cat /proc/drbd
  # Both must have seen the fresh state before one of them leaves it.
  sync_point "fresh-$1"
  [[ $DRBDRS_NODE == "$1" ]] && adm primary --force r0
  wait_for "the full sync from node-$1" 600 in_sync
  log "full sync from node-$1 done"
  cat /proc/drbd
  sync_point "synced-$1"
  [[ $DRBDRS_NODE == "$1" ]] && adm secondary r0
  wait_for "both Secondary" 60 is_ro Secondary/Secondary
}

# unload_node_module: this node's DRBD module (and drbd.ko's lru_cache) removed.
unload_node_module() {
  if [[ $NODE_MODULE == drbd ]]; then rmmod drbd lru_cache; else rmmod drbd_rs; fi
}

# device_sha: sha256 of the whole replicated area of /dev/vda (the DRBD device's size from
# sysfs; direct reads, so the page cache of the lower device cannot be stale).
device_sha() {
  local sectors
  sectors=$(cat /sys/block/drbd0/size)
  # 1 MiB reads: 512-byte direct reads of a few MiB take minutes under TCG.
  dd if=/dev/vda bs=1M count=$((sectors * 512)) iflag=direct,count_bytes status=none |
    sha256sum | cut -d' ' -f1
}

# compare_devices NAME: once both nodes got here (no more writes in flight), the replicated
# area of the lower device must be the same on both.
compare_devices() {
  sync_point "$1-quiet"
  local peer_sha
  peer_sha=$(sync_point "$1" "$(device_sha)")
  expect_eq "$1: whole device on both nodes" "$peer_sha" "$(device_sha)"
}
