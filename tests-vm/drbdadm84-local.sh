# drbd-utils' own drbdadm (8.4 personality, chosen from /proc/drbd) drives first the in-tree
# drbd.ko and then drbd_rs through the same local commands: create-md, new-resource,
# new-minor, attach (apply-al + drbdsetup attach with the config's disk options), primary
# --force, role/dstate/cstate, secondary, detach, down. What the tools report must be
# identical for both modules. (`drbdadm up` also connects: that needs replication.)
# vm-disks: 64M
# vm-timeout: 300
# drbd.ko 6.12 leaks the resync plan of a previous attach (drbd_adm_attach overwrites
# device->rs_plan_s, drbd_nl.c:1986): a 96-byte fifo_buffer {head 0, size 20 (c-plan-ahead)}.
# vm-allow-leak: \(size 96\):\s+comm "drbdsetup-84"[^\n]*\n\s+hex dump \(first 32 bytes\):\s+00 00 00 00 14 00 00 00 00 00 00 00 00 00 00 00
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
cat >/etc/drbd.conf <<'CONF'
global { usage-count no; }
common { disk { on-io-error detach; resync-rate 20M; al-extents 509; } }
resource r0 {
  on node-a { device /dev/drbd0; disk /dev/vda; address 169.254.77.1:7789; meta-disk internal; }
  on node-b { device /dev/drbd0; disk /dev/vda; address 169.254.77.2:7789; meta-disk internal; }
}
CONF

# flow OUT: run the life cycle, record what the tools say (state lines, not counters).
flow() {
  local out=$1
  drbdadm --version | grep -qx "DRBDADM_API_VERSION=1" || fail "drbdadm did not pick its 8.4 personality"
  yes yes | drbdadm create-md r0 >/dev/null
  drbdadm new-resource r0
  drbdadm new-minor r0
  { echo "unconfigured: $(sed -n 's/^ 0: //p' /proc/drbd)"; } >"$out"
  drbdadm attach r0
  { echo "attached: $(sed -n 's/^ 0: //p' /proc/drbd) $(grep -o 'oos:[0-9]*' /proc/drbd)"
    echo "dstate: $(drbdadm dstate r0) cstate: $(drbdadm cstate r0) role: $(drbdadm role r0)"; } >>"$out"
  if drbdadm primary r0 2>/tmp/err; then fail "primary on Inconsistent data worked"; fi
  echo "primary refused: $(grep -o 'State change failed.*' /tmp/err)" >>"$out"
  drbdadm primary --force r0
  echo "primary: $(sed -n 's/^ 0: //p' /proc/drbd) role: $(drbdadm role r0)" >>"$out"
  dd if=/dev/urandom of=/tmp/blk bs=1M count=4 status=none
  dd if=/tmp/blk of=/dev/drbd0 bs=1M oflag=direct status=none
  cmp <(dd if=/dev/drbd0 bs=1M count=4 iflag=direct status=none) /tmp/blk || fail "read back differs"
  drbdadm secondary r0
  echo "secondary: role: $(drbdadm role r0)" >>"$out"
  drbdadm detach r0
  echo "detached: $(sed -n 's/^ 0: //p' /proc/drbd) dstate: $(drbdadm dstate r0)" >>"$out"
  drbdadm attach r0
  echo "re-attached: dstate: $(drbdadm dstate r0)" >>"$out"
  drbdadm down r0
  echo "down: $(wc -l </proc/drbd) lines in /proc/drbd" >>"$out"
  # What the module left on disk: size and bitmap as drbdmeta reads them (UUIDs are random).
  # Only the bitmap words covering the 64 MiB device: drbd.ko leaves uninitialized memory in
  # the unused tail of the last bitmap page (drbd_rs writes zeros there).
  drbdmeta 0 v08 /dev/vda internal apply-al
  drbdmeta 0 v08 /dev/vda internal dump-md 2>/dev/null |
    sed -n '/^la-size-sect/p; /^bm {/,/# at 65536kB/p' >>"$out"
  cat "$out"
}

log "reference: drbd.ko"
load_reference_drbd
flow /tmp/reference.txt
rmmod drbd lru_cache

log "drbd_rs"
dd if=/dev/zero of=/dev/vda bs=1M count=64 status=none
insmod "$MODULE_KO"
flow /tmp/drbd_rs.txt
rmmod drbd_rs

log "both modules told the tools the same"
diff -u /tmp/reference.txt /tmp/drbd_rs.txt || fail "drbd_rs differs from drbd.ko"
expect_clean_dmesg
log "ok"
