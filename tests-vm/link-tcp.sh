# Two guests on the private link: ping works and a TCP transfer arrives intact.
# vm-nodes: 2
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"

[[ -n "${DRBDRS_NIC:-}" ]] || fail "no NIC with the link MAC"
ip -br addr show "$DRBDRS_NIC"
log "ping $DRBDRS_PEER_IP"
for _ in $(seq 60); do ping -c1 -W1 "$DRBDRS_PEER_IP" >/dev/null 2>&1 && break; done
ping -c3 -W2 "$DRBDRS_PEER_IP"

# Only the link route exists: nothing leaves this guest but the 169.254.77.0/24 link.
routes=$(ip -4 route show | grep -v "169.254.77.0/24" || true)
expect_eq "routes other than the link" "" "$routes"

PORT=7790
if [[ $DRBDRS_NODE == a ]]; then
  log "sending 16 MiB to node-b"
  head -c $((16 << 20)) /dev/urandom >/tmp/payload
  sha256sum </tmp/payload | cut -d' ' -f1 >/tmp/payload.sha
  /usr/bin/python3 - "$DRBDRS_PEER_IP" "$PORT" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        break
    except OSError:
        time.sleep(0.3)
else:
    sys.exit("cannot connect")
s.settimeout(120)  # the debug kernel under TCG can stall a send for seconds
data = open("/tmp/payload", "rb").read()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
digest = s.makefile().read().strip()
want = open("/tmp/payload.sha").read().strip()
print("peer got", digest)
sys.exit(0 if digest == want else "digest mismatch")
PY
else
  log "receiving on port $PORT"
  /usr/bin/python3 - "$DRBDRS_IP" "$PORT" <<'PY'
import hashlib, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
srv.settimeout(120)
c, _ = srv.accept()
h, n = hashlib.sha256(), 0
while chunk := c.recv(1 << 16):
    h.update(chunk)
    n += len(chunk)
print("received", n, "bytes")
c.sendall(h.hexdigest().encode() + b"\n")
c.close()
sys.exit(0 if n == 16 << 20 else "short transfer")
PY
fi
log "ok"
