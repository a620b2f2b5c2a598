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
#   make install    drbdadm-rs, its man page and bash completion under $(DESTDIR)$(PREFIX)
#                   (PREFIX=/usr/local); without DESTDIR also drbd_rs.ko into
#                   /lib/modules/$(uname -r)/extra, and `modprobe drbd` loads it
#   make install-tools   only the first part (what a package build wants)

SHELL := /bin/bash
# rustup's cargo (host crates, bindgen-cli) may not be on a non-login PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)
KDIR ?= $(shell scripts/kernel.sh path 2>/dev/null)
KRUSTC ?= /usr/bin/rustc
KBINDGEN ?= $(HOME)/.cargo/bin/bindgen
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 RUSTC=$(KRUSTC) BINDGEN=$(KBINDGEN)

.PHONY: all deps kernel module tools install install-tools check check-host check-vm check-failover demo bench vm-run clean

all: module tools

deps:
	scripts/deps.sh

kernel:
	scripts/kernel.sh build

module: kernel
	$(KMAKE) modules

tools:
	cargo build --release --workspace

PREFIX ?= /usr/local
DESTDIR ?=
# The binary installed (the release build; built first when missing).
DRBDADM_RS ?= target/release/drbdadm-rs

# The module part runs as root on the machine that boots the kernel the module was built
# for; with DESTDIR (a staging tree) only the tools are installed.
install: install-tools
ifeq ($(DESTDIR),)
	scripts/install.sh
endif

install-tools:
	[ -x "$(DRBDADM_RS)" ] || cargo build --release -p drbd_rs_tools
	install -D -m 755 "$(DRBDADM_RS)" "$(DESTDIR)$(PREFIX)/sbin/drbdadm-rs"
	install -D -m 644 Documentation/man/drbdadm-rs.8 "$(DESTDIR)$(PREFIX)/share/man/man8/drbdadm-rs.8"
	install -D -m 644 contrib/bash-completion/drbdadm-rs \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/drbdadm-rs"

# The README's two commands work on a fresh machine: both install what is missing first.
check:
	$(MAKE) --no-print-directory deps
	scripts/check.sh all

check-host:
	scripts/check.sh host

check-vm:
	scripts/check.sh vm

# The Heartbeat and Pacemaker failover scenarios alone (part of `make check` too).
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
