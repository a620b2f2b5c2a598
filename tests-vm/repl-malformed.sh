# A hostile peer (tests-vm/lib/bad_peer.py, on 127.0.0.2 in the same guest) connects to a
# drbd_rs node (127.0.0.1) as drbd 8.4 does and then sends one malformed or out-of-order
# packet per connection: a bad magic, a header announcing more than the limit, an unknown
# command, a payload shorter than its command, P_DATA before the handshake finished, a P_STATE
# with an impossible state word, garbage on the meta socket, a P_STATE instead of the
# features, a packet cut off by the peer closing. Each time the node drops the connection
# with one clear kernel log line (error level), goes back to WFConnection, leaves the lower
# device untouched and the kernel log free of splats.
# vm-disks: 8M
# vm-timeout: 600
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
PORT=7789
cat >/etc/drbd.conf <<CONF
global { usage-count no; }
resource r0 {
  # ping-timeout 2 s: the guest under TCG on a loaded host stalls for more than 0.5 s.
  net { protocol C; ping-timeout 20; connect-int 1; }
  on node-a { device /dev/drbd0; disk /dev/vda; address 127.0.0.1:$PORT; meta-disk internal; }
  on bad-peer { device /dev/drbd0; disk /dev/vda; address 127.0.0.2:$PORT; meta-disk internal; }
}
CONF
# Recognisable data in the replicated area (create-md writes only the meta data at the end).
head -c $((6 << 20)) /dev/urandom | dd of=/dev/vda bs=1M oflag=direct status=none
insmod "$MODULE_KO"
"$TOOL" create-md --force r0
"$TOOL" up r0
wait_for "WFConnection" 30 is_cs WFConnection
sectors=$(cat /sys/block/drbd0/size)
# (1 MiB reads: 512-byte direct reads of 8 MiB take minutes under TCG.)
area_sha() {
  dd if=/dev/vda bs=1M count=$((sectors * 512)) iflag=direct,count_bytes status=none | sha256sum | cut -d' ' -f1
}
before=$(area_sha)

python3 "$DRBDRS_REPO/tests-vm/lib/bad_peer.py" 127.0.0.1 127.0.0.2 "$PORT" all ||
  { cat /proc/drbd; fail "the node did not handle every bad packet as it should"; }
expect_eq "lower device after the bad peer" "$before" "$(area_sha)"
cat /proc/drbd
"$TOOL" down r0
rmmod drbd_rs
expect_eq "lower device after down" "$before" "$(area_sha)"
expect_clean_dmesg
log "ok"
