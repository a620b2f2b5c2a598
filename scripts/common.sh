# Shared settings for the build and test scripts: one place for toolchain paths and the
# kernel cache location. Sourced, never executed.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# rustup's cargo (host crates, bindgen-cli) may not be on a non-login PATH.
[[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]] && PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export PATH
export REPO_ROOT

# The kernel's Rust support needs Debian's rustc-web (it ships rust-src); rustup's rustc on
# PATH has none. bindgen comes from `cargo install` (scripts/deps.sh).
export KRUSTC="${KRUSTC:-/usr/bin/rustc}"
export KBINDGEN="${KBINDGEN:-${CARGO_HOME:-$HOME/.cargo}/bin/bindgen}"
KMAKE_ARGS=(LLVM=1 "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")

CACHE_ROOT="${DRBD_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drbd_rs}"
KERNEL_FRAGMENT="$REPO_ROOT/kernel/fragment.config"
# Two test kernels: "debug" (the default; lockdep, atomic-sleep, hung-task, kmemleak, KFENCE and
# fault injection on top of the fragment) for make check and make demo, "release" (the
# fragment alone) for make bench, so that performance numbers stay comparable.
KERNEL_VARIANT="${DRBD_RS_KERNEL:-debug}"
case "$KERNEL_VARIANT" in
  debug | release) ;;
  *) echo "error: DRBD_RS_KERNEL must be debug or release, not '$KERNEL_VARIANT'" >&2; exit 1 ;;
esac

# The config fragments of the selected variant, merged in this order.
kernel_fragments() {
  echo "$KERNEL_FRAGMENT"
  [[ $KERNEL_VARIANT == debug ]] && echo "$REPO_ROOT/kernel/debug.config"
  return 0
}

die() { echo "error: $*" >&2; exit 1; }

# The cache key: everything that changes the built kernel or what a module must match.
kernel_key() {
  local src_ver frag_hash tool_hash
  src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
    die "linux-source-6.12 is not installed; run 'make deps'"
  frag_hash=$(kernel_fragments | xargs cat | sha256sum | cut -c1-12)
  tool_hash=$( { "$KRUSTC" --version; "$KBINDGEN" --version; clang --version | head -1; } 2>/dev/null |
    sha256sum | cut -c1-8)
  # '~' (Debian backport versions) would upset make in a path.
  echo "linux-${src_ver//\~/_}-${KERNEL_VARIANT}-${frag_hash}-tools-${tool_hash}"
}

kernel_dir() { echo "$CACHE_ROOT/$(kernel_key)"; }
