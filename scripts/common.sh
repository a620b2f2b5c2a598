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

die() { echo "error: $*" >&2; exit 1; }

# The cache key: everything that changes the built kernel or what a module must match.
kernel_key() {
  local src_ver frag_hash tool_hash
  src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
    die "linux-source-6.12 is not installed; run 'make deps'"
  frag_hash=$(sha256sum "$KERNEL_FRAGMENT" | cut -c1-12)
  tool_hash=$( { "$KRUSTC" --version; "$KBINDGEN" --version; clang --version | head -1; } 2>/dev/null |
    sha256sum | cut -c1-8)
  # '~' (Debian backport versions) would upset make in a path.
  echo "linux-${src_ver//\~/_}-frag-${frag_hash}-tools-${tool_hash}"
}

kernel_dir() { echo "$CACHE_ROOT/$(kernel_key)"; }
