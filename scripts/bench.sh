#!/usr/bin/env bash
# `make bench`: fio in two VMs on the raw disk, and on drbd_rs and drbd.ko replicating to the
# other VM under protocols C and A, plus each module's resync rate (scripts/bench-guest.sh);
# prints a table with ratios. Under TCG only numbers within one run compare.
# Runs on the release kernel (kernel/fragment.config alone, no lock/leak/memory debugging), with
# the module built for it in a copy of the tree (build/bench-tree), so the debug build of the
# work tree stays as it is.
set -euo pipefail
export DRBD_RS_KERNEL=release
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
scripts/kernel.sh build
tree="$REPO_ROOT/build/bench-tree"
rm -rf "$tree"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard -- ':!build' ':!target' |
  while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$tree"
ln -s "$REPO_ROOT/target" "$tree/target"
make -C "$tree" --no-print-directory module
"$tree/scripts/vm.py" --out build/vm/bench "$tree/scripts/bench-guest.sh"
cat build/vm/bench/node-a/bench.txt
