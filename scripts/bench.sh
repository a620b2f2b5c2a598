#!/usr/bin/env bash
# `make bench`: fio in a VM on the raw disk, drbd_rs and drbd.ko; prints a table with ratios.
# Numbers under TCG emulation are only comparable within one run (15 s per job and target).
# Runs on the release kernel (kernel/fragment.config alone, no lock/leak/KASAN debugging), with
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
