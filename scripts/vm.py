#!/usr/bin/env python3
"""Boot the cached test kernel in QEMU and run a script inside, on one node or two linked nodes.

The guest's root is the host's root (read-only over 9p, with a private tmpfs overlay), so the
repository, drbd-utils, fio and our tools are all there at the same paths. Each node gets its
own raw disk files as virtio-blk (/dev/vda, /dev/vdb, ...). Two nodes are linked by QEMU socket
networking over UDP on 127.0.0.1 only; inside, the link carries 169.254.77.0/24 and nothing
else. No user-mode networking, no other traffic.

A test script may declare what it needs in header comments:
    # vm-nodes: 2            one or two guests (default 1)
    # vm-disks: 64M 16M      disk files per node (default none)
    # vm-timeout: 180        seconds for the whole run (default 120)
    # vm-memory: 768         MiB per guest (default 768)
    # vm-cpus: 2             vCPUs per guest (default 2 for one guest, 1 each for two: under
    #                        TCG two 2-vCPU guests on a 2-core host spin on each other's
    #                        locks; one vCPU each runs a two-node scenario ≈ 20 % faster, and
    #                        a kernel thread that never sleeps starves its guest at once)
    # vm-pcap: yes           record the link as out/link.pcap
    # vm-allow-dmesg: REGEX  a kernel report this test provokes on purpose (repeatable)
    # vm-allow-leak: REGEX   a kmemleak record that is not ours (repeatable)
Environment inside: DRBDRS_NODE (a|b), DRBDRS_IP, DRBDRS_PEER_IP, DRBDRS_NIC, DRBDRS_REPO,
DRBDRS_KDIR (kernel tree, for the in-tree drbd.ko), DRBDRS_RESULTS (/results: a per-node host
directory the script may write to). Scenario parameters set on the host are passed through:
DRBD_MODULE_A/B and DRBD_TOOL_A/B (which module and admin tool each node runs, see
tests-vm/lib/common.sh).

Power loss: a guest that creates `power-loss` in DRBDRS_RESULTS has its QEMU killed at once
and is booted again with the same disks and DRBDRS_BOOT one higher (1 at first); the script
runs again from the start and decides by DRBDRS_BOOT what to do (tests-vm/lib/common.sh:
power_loss, BOOT). The earlier boots' consoles are kept as console-bootN.log.

Exit status: 0 when every node's script exited 0 and its kernel log (and kmemleak report)
shows no splat (tests-vm/lib/dmesg_check.py); 1 otherwise (timeouts included).
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODES = {
    "a": {"hostname": "node-a", "ip": "169.254.77.1", "mac": "52:54:00:77:00:01"},
    "b": {"hostname": "node-b", "ip": "169.254.77.2", "mac": "52:54:00:77:00:02"},
}


def kernel_dir() -> Path:
    out = subprocess.run([str(REPO / "scripts/kernel.sh"), "path"], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip())


def cache_root(kdir: Path) -> Path:
    return kdir.parent


def newc_entry(name: str, mode: int, data: bytes, ino: int) -> bytes:
    """One record of a cpio 'newc' archive (the initramfs format)."""
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + name_b
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def build_initramfs(cache: Path) -> Path:
    """The initramfs holds only busybox and the first-stage init; rebuilt when either changes."""
    init = (REPO / "scripts/guest-init.sh").read_bytes()
    busybox = Path("/bin/busybox").read_bytes()
    import hashlib
    digest = hashlib.sha256(init + busybox).hexdigest()[:12]
    path = cache / f"initramfs-{digest}.cpio"
    if path.exists():
        return path
    archive = b""
    entries = [("bin", 0o040755, b""), ("bin/busybox", 0o100755, busybox),
               ("init", 0o100755, init)]
    for ino, (name, mode, data) in enumerate(entries, start=1):
        archive += newc_entry(name, mode, data, ino)
    archive += newc_entry("TRAILER!!!", 0, b"", 0)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(archive)
    tmp.rename(path)
    return path


def kvm_usable(kdir: Path) -> bool:
    """KVM only after a bounded probe boot succeeded once for this kernel (cached verdict)."""
    if os.environ.get("DRBDRS_ACCEL") in ("tcg", "kvm"):
        return os.environ["DRBDRS_ACCEL"] == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    flags = Path("/proc/cpuinfo").read_text()
    if not re.search(r"\b(vmx|svm)\b", flags):
        return False
    verdict = cache_root(kdir) / f"kvm-probe-{kdir.name}"
    if verdict.exists():
        return verdict.read_text().strip() == "ok"
    probe = REPO / "tests-vm/lib/probe.sh"
    out = cache_root(kdir) / "kvm-probe-run"
    ok = run_nodes(kdir, probe, nodes=1, disks=[], timeout=40, memory=512, out=out,
                   accel="kvm", pcap=False, verbose=False) == 0
    verdict.write_text("ok\n" if ok else "hangs\n")
    return ok


def qemu_command(kdir: Path, initramfs: Path, node: str, script: Path, disks: list,
                 memory: int, cpus: int, accel: str, outdir: Path, net: dict | None,
                 boot: int = 1) -> list:
    n = NODES[node]
    env = {
        "DRBDRS_BOOT": str(boot),
        "DRBDRS_STAGE2": str(REPO / "scripts/guest-stage2.sh"),
        "DRBDRS_SCRIPT": str(script),
        "DRBDRS_REPO": str(REPO),
        "DRBDRS_KDIR": str(kdir),
        "DRBDRS_NODE": node,
        "DRBDRS_HOSTNAME": n["hostname"],
    }
    env.update({k: v for k, v in os.environ.items()
                if re.fullmatch(r"DRBD_(MODULE|TOOL)_[AB]", k) and re.fullmatch(r"[\w.-]+", v)})
    if net:
        env.update({"DRBDRS_IP": n["ip"], "DRBDRS_MAC": n["mac"],
                    "DRBDRS_PEER_IP": NODES["b" if node == "a" else "a"]["ip"]})
    # acpi=noirq: PCI interrupt routing without ACPI's _PRT method, whose AML the debug
    # kernel (kmemleak, lockdep) interprets so slowly under TCG that it hits the
    # interpreter's 30 s loop timeout once per PCI device.
    append = ("console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init acpi=noirq "
              "net.ifnames=0 " + " ".join(f"{k}={v}" for k, v in env.items()))
    cmd = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-no-reboot",
           "-display", "none", "-monitor", "none",
           "-m", str(memory), "-smp", str(cpus),
           "-kernel", str(kdir / "arch/x86/boot/bzImage"), "-initrd", str(initramfs),
           "-append", append,
           "-serial", f"file:{outdir / 'console.log'}",
           "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
           "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
           "-fsdev", f"local,id=results,path={outdir},security_model=none",
           "-device", "virtio-9p-pci,fsdev=results,mount_tag=results"]
    if accel == "kvm":
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        cmd += ["-accel", "tcg,thread=multi", "-cpu", "max"]
    for disk in disks:
        cmd += ["-drive", f"file={disk},format=raw,if=virtio,cache=unsafe,discard=unmap"]
    if net:
        cmd += ["-netdev", f"socket,id=link,udp=127.0.0.1:{net['peer_port']},"
                           f"localaddr=127.0.0.1:{net['my_port']}",
                "-device", f"virtio-net-pci,netdev=link,mac={n['mac']}"]
        if net.get("pcap"):
            cmd += ["-object", f"filter-dump,id=dump,netdev=link,file={net['pcap']}"]
    return cmd


def free_udp_ports(count: int) -> list:
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def follow(path: Path, prefix: str, stop: threading.Event):
    """Echo a growing console log with a node prefix (for --verbose)."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.1)
    with open(path, "rb") as f:
        pending = b""
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    sys.stdout.write(f"{prefix}{line.decode(errors='replace').rstrip()}\n")
                sys.stdout.flush()
            elif stop.is_set():
                break
            else:
                time.sleep(0.2)


def run_nodes(kdir: Path, script: Path, nodes: int, disks: list, timeout: int, memory: int,
              out: Path, accel: str, pcap: bool, verbose: bool, allow_dmesg: list = (),
              allow_leak: list = (), cpus: int | None = None) -> int:
    cpus = cpus or (2 if nodes == 1 else 1)
    initramfs = build_initramfs(cache_root(kdir))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    names = ["a", "b"][:nodes]
    ports = free_udp_ports(2) if nodes == 2 else []
    procs, stops, threads = {}, [], []
    node_disks_of, nets = {}, {}
    for i, node in enumerate(names):
        nodedir = out / NODES[node]["hostname"]
        nodedir.mkdir()
        node_disks = []
        for j, size in enumerate(disks):
            disk = nodedir / f"disk{j}.img"
            with open(disk, "wb") as f:
                f.truncate(parse_size(size))
            node_disks.append(disk)
        net = None
        if nodes == 2:
            net = {"my_port": ports[i], "peer_port": ports[1 - i],
                   "pcap": str(out / "link.pcap") if pcap and node == "a" else None}
        node_disks_of[node], nets[node] = node_disks, net
        cmd = qemu_command(kdir, initramfs, node, script, node_disks, memory, cpus, accel,
                           nodedir, net)
        (nodedir / "qemu-cmdline.txt").write_text(" ".join(cmd) + "\n")
        procs[node] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=open(nodedir / "qemu.log", "wb"),
                                       stderr=subprocess.STDOUT)
        if verbose:
            stop = threading.Event()
            t = threading.Thread(target=follow, daemon=True,
                                 args=(nodedir / "console.log", f"[{NODES[node]['hostname']}] ", stop))
            t.start()
            stops.append(stop)
            threads.append(t)

    def start(node: str, boot: int):
        nodedir = out / NODES[node]["hostname"]
        cmd = qemu_command(kdir, initramfs, node, script, node_disks_of[node], memory, cpus,
                           accel, nodedir, nets[node], boot)
        (nodedir / "qemu-cmdline.txt").write_text(" ".join(cmd) + "\n")
        procs[node] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=open(nodedir / "qemu.log", "ab"),
                                       stderr=subprocess.STDOUT)

    # A guest that writes `power-loss` into its results directory loses power: its QEMU is
    # killed at once (no sync, no shutdown) and the node boots again with the same disks and
    # DRBDRS_BOOT one higher; the script picks up from there (the other node runs on).
    boots = {node: 1 for node in names}
    deadline = time.monotonic() + timeout
    timed_out = False
    while any(p.poll() is None for p in procs.values()):
        if time.monotonic() > deadline:
            timed_out = True
            break
        for node in names:
            nodedir = out / NODES[node]["hostname"]
            marker = nodedir / "power-loss"
            if marker.exists() and procs[node].poll() is None:
                procs[node].kill()
                procs[node].wait()
                marker.unlink()
                (nodedir / "console.log").rename(nodedir / f"console-boot{boots[node]}.log")
                boots[node] += 1
                start(node, boots[node])
                if verbose:
                    stop = threading.Event()
                    t = threading.Thread(target=follow, daemon=True,
                                         args=(nodedir / "console.log",
                                               f"[{NODES[node]['hostname']}] ", stop))
                    t.start()
                    stops.append(stop)
                    threads.append(t)
        time.sleep(0.2)
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for stop in stops:
        stop.set()
    for t in threads:
        t.join(timeout=5)

    worst = 0
    for node in names:
        nodedir = out / NODES[node]["hostname"]
        status_file = nodedir / "exit-status"
        for disk in nodedir.glob("disk*.img"):
            disk.unlink()
        if status_file.exists():
            status = int(status_file.read_text().strip() or 255)
            verdict = f"exit status {status}"
            # The debug kernel's reports fail the test that caused them, whatever its status.
            logs = [str(p) for p in (nodedir / "dmesg.txt", nodedir / "kmemleak.txt") if p.exists()]
            allow = [a for rx in allow_dmesg for a in ("--allow", rx)]
            allow += [a for rx in allow_leak for a in ("--allow-leak", rx)]
            check = subprocess.run([sys.executable, str(REPO / "tests-vm/lib/dmesg_check.py"),
                                    *allow, *logs], capture_output=True, text=True)
            if check.returncode != 0:
                print(check.stdout, end="")
                status = status or 1
                verdict += ", kernel reports found (see above)"
        else:
            status = 124 if timed_out else 255
            verdict = "timed out" if timed_out else "guest died before the script finished"
            console = (nodedir / "console.log")
            if console.exists() and not verbose:
                tail = console.read_text(errors="replace").splitlines()[-25:]
                print("\n".join(f"  | {line}" for line in tail))
        print(f"vm: {NODES[node]['hostname']}: {verdict} (log: {nodedir / 'console.log'})")
        worst = worst or status
    return 0 if worst == 0 else 1


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text)
    if not m:
        raise SystemExit(f"vm: bad disk size {text!r} (use e.g. 64M)")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def script_headers(script: Path) -> dict:
    headers = {}
    for line in script.read_text().splitlines()[:40]:
        m = re.match(r"#\s*vm-([\w-]+):\s*(.*)$", line)
        if m and m.group(1) in ("allow-dmesg", "allow-leak"):
            headers.setdefault(m.group(1), []).append(m.group(2).strip())
        elif m:
            headers[m.group(1)] = m.group(2).strip()
    return headers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("script", type=Path, help="bash script to run inside the guest(s)")
    ap.add_argument("--out", type=Path, help="result directory (default build/vm/<script>)")
    ap.add_argument("--nodes", type=int, choices=(1, 2))
    ap.add_argument("--disks", nargs="*", help="disk sizes per node, e.g. 64M 16M")
    ap.add_argument("--timeout", type=int)
    ap.add_argument("--memory", type=int)
    ap.add_argument("--cpus", type=int, help="vCPUs per guest")
    ap.add_argument("--pcap", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="stream guest consoles")
    args = ap.parse_args()

    script = args.script.resolve()
    if not script.is_file():
        raise SystemExit(f"vm: no such script: {args.script}")
    hdr = script_headers(script)
    kdir = kernel_dir()
    if not (kdir / ".drbd_rs-complete").exists():
        raise SystemExit(f"vm: kernel not built at {kdir}; run 'make kernel'")
    out = (args.out or REPO / "build/vm" / script.stem).resolve()
    accel = "kvm" if kvm_usable(kdir) else "tcg"
    return run_nodes(
        kdir, script,
        nodes=args.nodes or int(hdr.get("nodes", 1)),
        disks=args.disks if args.disks is not None else hdr.get("disks", "").split(),
        timeout=args.timeout or int(hdr.get("timeout", 120)),
        memory=args.memory or int(hdr.get("memory", 768)),
        out=out, accel=accel,
        pcap=args.pcap or hdr.get("pcap", "no") == "yes",
        verbose=args.verbose,
        allow_dmesg=hdr.get("allow-dmesg", []),
        allow_leak=hdr.get("allow-leak", []),
        cpus=args.cpus or (int(hdr["cpus"]) if "cpus" in hdr else None))


if __name__ == "__main__":
    sys.exit(main())
