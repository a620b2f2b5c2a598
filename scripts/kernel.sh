#!/usr/bin/env bash
# Build (or find) the cached test kernel: Debian's linux-source-6.12, `make tinyconfig` merged
# with kernel/fragment.config (and kernel/debug.config for the default "debug" variant;
# DRBD_RS_KERNEL=release leaves it out). The built tree lives outside the work tree, keyed by source
# version + fragment hash + toolchain; it is rebuilt only when that key changes.
#   kernel.sh path    print the tree's path (built or not)
#   kernel.sh build   build it unless the cache already has it
set -euo pipefail
source "$(dirname "$0")/common.sh"

cmd=${1:-build}
KDIR=$(kernel_dir)

case "$cmd" in
  path) echo "$KDIR"; exit 0 ;;
  build) ;;
  *) die "usage: kernel.sh path|build" ;;
esac

if [[ -f "$KDIR/.drbd_rs-complete" ]]; then
  echo "kernel: cached at $KDIR"
  exit 0
fi

[[ -x "$KRUSTC" && -x "$KBINDGEN" ]] || die "toolchain missing ($KRUSTC, $KBINDGEN); run 'make deps'"
tarball=/usr/src/linux-source-6.12.tar.xz
[[ -f $tarball ]] || die "$tarball missing; run 'make deps'"

mkdir -p "$CACHE_ROOT"
# Built in place: a kernel tree records its own path, so it is never moved. A directory
# without the completion marker is an interrupted build and is started over.
work="$KDIR"
rm -rf "$work"
mkdir -p "$work"
echo "kernel: unpacking $(basename "$tarball") into $work"
tar -xf "$tarball" -C "$work" --strip-components=1

cd "$work"
log="$work/build.log"
kmake() { make "${KMAKE_ARGS[@]}" "$@"; }

kmake rustavailable >"$log" 2>&1 || { cat "$log"; die "the kernel does not accept this Rust toolchain"; }
kmake tinyconfig >>"$log" 2>&1
mapfile -t fragments < <(kernel_fragments)
KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >>"$log" 2>&1
kmake olddefconfig >>"$log" 2>&1

# Every option the fragment asks for must survive olddefconfig; a silently dropped one
# (unmet dependency) would surface much later as a confusing test failure.
dropped=0
while IFS= read -r line; do
  [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]] || continue
  opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
  if [[ $want == n ]]; then
    grep -q "^$opt=" .config && { echo "kernel: $opt should be off" >&2; dropped=1; }
  elif ! grep -qx "$opt=$want" .config; then
    echo "kernel: $opt=$want did not survive olddefconfig (got: $(grep "^$opt=\|# $opt " .config || echo unset))" >&2
    dropped=1
  fi
done < <(cat "${fragments[@]}")
((dropped == 0)) || die "fix ${fragments[*]} (dependencies of the options above)"

jobs=$(($(nproc) + 1))
echo "kernel: building the $KERNEL_VARIANT kernel with -j$jobs (about 8-12 minutes on 2 cores); log: $log"
start=$(date +%s)
kmake -j"$jobs" >>"$log" 2>&1 &
pid=$!
# Progress: the number of objects built so far against the count a finished build had.
total_objects=1700
while kill -0 "$pid" 2>/dev/null; do
  sleep 20
  done_objects=$(grep -cE '^\s+(CC|RUSTC|AS|LD)' "$log" || true)
  pct=$((done_objects * 100 / total_objects)); ((pct > 99)) && pct=99
  printf 'kernel: ~%d%% (%d objects, %ds)\n' "$pct" "$done_objects" $(($(date +%s) - start))
done
if ! wait "$pid"; then
  tail -40 "$log"
  die "kernel build failed; full log: $log"
fi
echo "kernel: built in $(($(date +%s) - start))s"

touch .drbd_rs-complete
echo "kernel: cached at $KDIR"
