# drbd_rs — see README.md. Everything runs as root on Debian 12.
#   make deps       install build/test dependencies (idempotent)
#   make kernel     build the cached debug test kernel (once per kernel version + fragments)
#   make            module (drbd_rs.ko, tests-kunit/drbd_rs_kunit.ko) + userspace tools
#   make check      every test layer; last line "N passed, N failed"
#   make check-host host-only part (fmt, clippy, cargo test); no kernel needed
#   make check-vm   module build, KUnit and VM scenarios
#   make demo       two linked VMs running the classic scenario
#   make bench      fio on the raw disk, drbd_rs and drbd.ko in a VM, with ratios (release kernel)
#   make vm-run SCRIPT=tests-vm/x.sh [V=1]   one VM test by hand
#   make install    drbd_rs.ko into /lib/modules/$(uname -r)/extra, `modprobe drbd` loads it

SHELL := /bin/bash
# rustup's cargo (host crates, bindgen-cli) may not be on a non-login PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)
KDIR ?= $(shell scripts/kernel.sh path 2>/dev/null)
KRUSTC ?= /usr/bin/rustc
KBINDGEN ?= $(HOME)/.cargo/bin/bindgen
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 RUSTC=$(KRUSTC) BINDGEN=$(KBINDGEN)

.PHONY: all deps kernel module tools install check check-host check-vm check-failover demo bench vm-run clean

all: module tools

deps:
	scripts/deps.sh

kernel:
	scripts/kernel.sh build

module: kernel
	$(KMAKE) modules

tools:
	cargo build --release --workspace

# Run as root on the machine that boots the kernel the module was built for.
install:
	scripts/install.sh

# The README's two commands work on a fresh machine: both install what is missing first.
check:
	$(MAKE) --no-print-directory deps
	scripts/check.sh all

check-host:
	scripts/check.sh host

check-vm:
	scripts/check.sh vm

# Heartbeat and Pacemaker failover in two VMs (≈ 25 min; not yet in `make check`'s budget).
check-failover:
	$(MAKE) --no-print-directory deps
	scripts/check.sh failover

demo:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	scripts/demo.sh

# The benchmark builds its own module for the release kernel (scripts/bench.sh).
bench: tools
	scripts/bench.sh

vm-run:
	scripts/vm.py $(if $(V),--verbose) $(SCRIPT)

clean:
	-[ -d "$(KDIR)" ] && $(KMAKE) clean
	cargo clean
	rm -rf build
