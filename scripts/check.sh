#!/usr/bin/env bash
# Run the test layers and count every result; the last line is "N passed, N failed".
#   check.sh host   cargo fmt/clippy/test (host crates) + rustfmt of the module sources
#   check.sh vm     module build, KUnit in a VM, VM scenarios (tests-vm/*.sh)
#   check.sh all    both (what `make check` and CI run)
#   check.sh failover  module, tools and the cluster-manager failover scenarios alone
#                   (tests-vm/failover-*.sh, also part of `check.sh vm`; `make check-failover`)
# A layer that cannot run (e.g. the kernel build failed) counts as failed, never as skipped.
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

layer=${1:-all}
LOGDIR="$REPO_ROOT/build/check"
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
RESULTS="$LOGDIR/results.txt"
: >"$RESULTS"
start_all=$(date +%s)

record() { # record PASS|FAIL|SKIP NAME [COUNT]
  local n=${3:-1}
  for ((i = 0; i < n; i++)); do echo "$1 $2" >>"$RESULTS"; done
}

# step NAME CMD...: one check; its output goes to a log, shown (tail) only on failure.
step() {
  local name=$1; shift
  local log="$LOGDIR/${name//[^A-Za-z0-9_.-]/_}.log" t0=$(date +%s)
  if "$@" >"$log" 2>&1; then
    record PASS "$name"
    printf '  PASS  %-40s %4ds\n' "$name" $(($(date +%s) - t0))
  else
    record FAIL "$name"
    printf '  FAIL  %-40s %4ds  (log: %s)\n' "$name" $(($(date +%s) - t0)) "$log"
    tail -n 30 "$log" | sed 's/^/        | /'
    return 1
  fi
}

# A failed VM scenario: CI keeps only this output, so show the end of each guest's console
# (the scenario's own log lines, the failing command, any splat).
show_guest_consoles() {
  local console
  for console in "build/vm/$(basename "$1" .sh)"/*/console.log; do
    [[ -f $console ]] || continue
    echo "        | --- ${console#build/vm/}, last 40 lines:"
    tail -n 40 "$console" | sed 's/^/        | /'
  done
}

# Module sources are formatted like the host crates (rustup's rustfmt; the kernel's
# rustfmtcheck needs a rustfmt matching its rustc, which Debian's rustc-web lacks).
rustfmt_module() {
  local files
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'drbd_rs.rs' \
    'rust/glue/*.rs' 'rust/engine/*.rs' 'tests-kunit/*.rs')
  rustfmt --edition 2021 --check "${files[@]}"
}

run_host() {
  echo "== host: format, lint, unit tests"
  step cargo-fmt cargo fmt --all -- --check
  step rustfmt-module rustfmt_module
  step cargo-clippy cargo clippy --workspace --all-targets -- -D warnings

  local log="$LOGDIR/cargo-test.log" t0=$(date +%s)
  cargo test --workspace >"$log" 2>&1
  local rc=$? passed failed
  passed=$(awk '/^test result:/ {s += $4} END {print s+0}' "$log")
  failed=$(awk '/^test result:/ {s += $6} END {print s+0}' "$log")
  record PASS cargo-test "$passed"
  record FAIL cargo-test "$failed"
  if ((rc != 0 && failed == 0)); then
    record FAIL cargo-test-build
    failed=1
  fi
  printf '  %s  %-40s %4ds  (%d passed, %d failed)\n' "$( ((rc == 0)) && echo PASS || echo FAIL)" \
    "cargo test" $(($(date +%s) - t0)) "$passed" "$failed"
  ((rc == 0)) || grep -E "^(test .* FAILED|---- |error)" "$log" | head -20 | sed 's/^/        | /'

  # The simulator's seeded schedules, many of them: optimized, so 10,000 of each kind fit in
  # seconds (link faults and switchovers; power loss of either node with failovers; the
  # resync controls).
  # A failure prints its seed and the command that replays it.
  step sim-seeds env DRBD_SIM_SEEDS="${DRBD_SIM_SEEDS:-10000}" \
    cargo test --release -p drbd_sim --test replication replicated_writes_hold_the_invariants
  step sim-crash-seeds env DRBD_SIM_CRASH_SEEDS="${DRBD_SIM_CRASH_SEEDS:-10000}" \
    cargo test --release -p drbd_sim --test crash crash_schedules_hold_the_invariants
  # invalidate / invalidate-remote / pause-sync / resume-sync among writes and link cuts.
  step sim-invalidate-seeds env DRBD_SIM_SEEDS="${DRBD_SIM_INVALIDATE_SEEDS:-10000}" \
    cargo test --release -p drbd_sim --test invalidate seeded_schedules_of_invalidate_and_pause
  # Lower-disk errors (one node's disk failing in windows) among writes and link cuts.
  step sim-disk-error-seeds env DRBD_SIM_DISK_ERROR_SEEDS="${DRBD_SIM_DISK_ERROR_SEEDS:-10000}" \
    cargo test --release -p drbd_sim --test disk_errors disk_errors_lose_no_acknowledged_write
}

run_vm() {
  echo "== kernel, module, tools"
  if ! step kernel-build scripts/kernel.sh build; then
    # Nothing below can run without a kernel; count what we could not run as failed.
    record FAIL kunit-and-vm-tests
    return
  fi
  step module-build make --no-print-directory module || { record FAIL kunit-and-vm-tests; return; }
  step tools-build cargo build --release --workspace || { record FAIL vm-tests; return; }

  echo "== KUnit (in a VM)"
  local kout="$REPO_ROOT/build/vm/kunit" t0=$(date +%s)
  scripts/vm.py --out "$kout" tests-kunit/run-in-guest.sh >"$LOGDIR/kunit.log" 2>&1
  local vm_rc=$? kpass kfail
  scripts/ktap.py "$kout/node-a/ktap.txt" >>"$LOGDIR/kunit.log" 2>&1
  read -r kpass kfail < <(scripts/ktap.py --counts "$kout/node-a/ktap.txt" 2>/dev/null || echo "0 0")
  record PASS kunit "$kpass"
  record FAIL kunit "$kfail"
  if ((vm_rc != 0 || kpass == 0)); then
    record FAIL kunit-run
    kfail=$((kfail + 1))
  fi
  printf '  %s  %-40s %4ds  (%d passed, %d failed)\n' "$( ((kfail == 0)) && echo PASS || echo FAIL)" \
    "kunit" $(($(date +%s) - t0)) "$kpass" "$kfail"
  ((kfail == 0)) || tail -n 30 "$LOGDIR/kunit.log" | sed 's/^/        | /'

  echo "== VM scenarios"
  local t name
  local -a single=() pairs=()
  for t in tests-vm/*.sh; do
    name="vm:$(basename "$t" .sh)"
    # VM_ONLY=REGEX (daily work): only the scenarios whose name matches.
    [[ -z ${VM_ONLY:-} || $(basename "$t" .sh) =~ $VM_ONLY ]] || continue
    # "# vm-check: no": a scenario run by hand only (too slow for the budget so far).
    if grep -q '^# vm-check: no' "$t"; then
      printf '  ----  %-40s (by hand: scripts/vm.py %s)\n' "$name" "$t"
    elif grep -q '^# vm-nodes: 2' "$t"; then
      pairs+=("$t")
    else
      single+=("$t")
    fi
  done
  run_side_by_side "${single[@]}"
  for t in "${pairs[@]}"; do
    vm_scenario "$t"
  done
}

# vm_scenario FILE: one VM scenario, reported like every step; a failure shows the end of
# each guest's console.
vm_scenario() {
  step "vm:$(basename "$1" .sh)" scripts/vm.py "$1" || show_guest_consoles "$1"
}

# run_side_by_side FILE...: single-guest scenarios, two at a time. A TCG guest keeps about
# one host core busy, so two of them take the time of little more than one on a two-core
# machine (the two-guest scenarios load both cores already and run alone). Each lane takes
# the next scenario from a shared queue; the reports are printed in name order at the end.
run_side_by_side() {
  local queue="$LOGDIR/side-by-side.queue" reports="$LOGDIR/side-by-side" lane t
  mkdir -p "$reports"
  printf '%s\n' "$@" >"$queue"
  for lane in 1 2; do
    (
      while t=$(flock "$queue.lock" sh -c 'head -n 1 "$1" && sed -i 1d "$1"' _ "$queue") &&
        [[ -n $t ]]; do
        vm_scenario "$t" >"$reports/$(basename "$t" .sh).txt" 2>&1
      done
    ) &
  done
  wait
  for t in "$@"; do
    cat "$reports/$(basename "$t" .sh).txt"
  done
}

# The cluster-manager failover scenarios alone.
run_failover() {
  echo "== build"
  step module-build make --no-print-directory module || { record FAIL failover-tests; return; }
  step tools-build cargo build --release --workspace || { record FAIL failover-tests; return; }
  echo "== failover scenarios (Heartbeat, Pacemaker)"
  local t
  for t in tests-vm/failover-*.sh; do
    vm_scenario "$t"
  done
}

case "$layer" in
  host) run_host ;;
  vm) run_vm ;;
  all) run_host; run_vm ;;
  failover) run_failover ;;
  *) die "usage: check.sh host|vm|all|failover" ;;
esac

passed=$(grep -c '^PASS ' "$RESULTS")
failed=$(grep -c '^FAIL ' "$RESULTS")
skipped=$(grep -c '^SKIP ' "$RESULTS")
echo "== done in $(($(date +%s) - start_all))s; results in $RESULTS"
if ((skipped > 0)); then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
((failed == 0))
