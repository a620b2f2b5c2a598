#!/usr/bin/env bash
# Install everything the build and the tests need: Debian packages and bindgen-cli.
# Idempotent: re-running only installs what is missing. Needs root (apt-get).
set -euo pipefail
source "$(dirname "$0")/common.sh"

PACKAGES=(
  # kernel + Rust-for-Linux toolchain
  linux-source-6.12 rustc-web rust-web-src
  clang lld llvm libclang-dev
  make flex bison bc libelf-dev libssl-dev cpio kmod xz-utils python3
  # VM harness
  qemu-system-x86 busybox-static
  # userspace in the guests (the host's root is the guest's root)
  drbd-utils fio e2fsprogs iproute2 iputils-ping util-linux mount procps psmisc nftables
  # device-mapper tables that fail a range of the lower disk (disk-error.sh)
  dmsetup
  # cluster managers for the failover tests (heartbeat v1, pacemaker + corosync; the IPaddr
  # agent runs ifconfig, which resource-agents only recommends)
  heartbeat pacemaker corosync resource-agents crmsh net-tools
  # reading the reference captures
  tshark
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; the default (no) is fine.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

BINDGEN_VERSION=0.72.1
bindgen_bin="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
if [[ -x "$bindgen_bin" ]] && "$bindgen_bin" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
  echo "deps: bindgen $BINDGEN_VERSION present"
else
  echo "deps: building bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
  cargo install --locked --version "$BINDGEN_VERSION" bindgen-cli
fi
