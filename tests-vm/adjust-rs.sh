# `adjust` on drbd_rs, drbdadm-rs against drbd-utils' drbdadm-84 (which reads the running
# configuration with `drbdsetup-84 show`, i.e. the module's GET_STATUS dump): in each state
# (nothing up, up, a resource without minors, attached but not connected, a disk option
# changed in the file, a net option changed, the peer address changed, resource options
# changed, detached, another lower device, another minor, a lower device without its volume)
# both tools' `-d adjust r0` must print the same lines; then `drbdadm-rs adjust r0` runs them
# and afterwards drbdadm-84 must find nothing left to do, with the state and `drbdsetup-84
# show` as the file says. adjust-with-progress is compared with drbdadm-84's own run. One
# node: the peer (127.0.0.2) never answers, a connection waits in WFConnection.
# vm-disks: 64M 64M
# vm-timeout: 300
source "$DRBDRS_REPO/tests-vm/lib/common.sh"
ADM84=/lib/drbd/drbdadm-84
SETUP84=/lib/drbd/drbdsetup-84
[[ -x $ADM84 && -x $SETUP84 ]] || fail "drbd-utils' drbdadm-84 is not installed"

# conf [OPTIONS] [NET] [DISK] [PEER] [MINOR] [LOWER]: /etc/drbd.conf with resource r0.
conf() {
  local options=${1:-} net=${2:-"protocol C;"} disk=${3:-"c-plan-ahead 0; resync-rate 4M;"}
  local peer=${4:-127.0.0.2:7789} minor=${5:-0} lower=${6:-/dev/vda}
  cat >/etc/drbd.conf <<CONF
global { usage-count no; }
resource r0 {
  options { $options }
  net { $net }
  disk { $disk }
  on node-a { device minor $minor; disk $lower; address 127.0.0.1:7789; meta-disk internal; }
  on node-b { device minor $minor; disk $lower; address $peer; meta-disk internal; }
}
CONF
}

# compare WHAT [EXPECTED-REGEX]: both dry runs print the same; the lines go to stdout.
compare() {
  local ours theirs
  ours=$("$TOOL" -d adjust r0) || fail "$1: drbdadm-rs -d adjust failed"
  theirs=$("$ADM84" -d adjust r0 2>/dev/null) || fail "$1: drbdadm-84 -d adjust failed"
  echo "$ours" | sed "s/^/  [$1] /" >&2
  expect_eq "$1: -d adjust of drbdadm-rs and drbdadm-84" "$theirs" "$ours"
  [[ -z ${2:-} ]] || expect_match "$1: what adjust does" "$2" "$ours"
}

# adjust WHAT: drbdadm-rs adjust r0, then nothing is left to do for either tool.
adjust() {
  "$TOOL" adjust r0 || fail "$1: drbdadm-rs adjust failed"
  local left
  left=$("$ADM84" -d adjust r0 2>/dev/null)
  expect_eq "$1: drbdadm-84 -d adjust afterwards" "" "$left"
  left=$("$TOOL" -d adjust r0)
  expect_eq "$1: drbdadm-rs -d adjust afterwards" "" "$left"
}

proc0() { sed -n 's/^ *0: //p' /proc/drbd | awk '{print $1, $2, $3}'; }
show() { "$SETUP84" show r0; }

log "create-md, module loaded, nothing up"
conf "" "" "" "" 0 /dev/vdb
"$TOOL" create-md --force r0 >/dev/null
conf
"$TOOL" create-md --force r0 >/dev/null
insmod "$MODULE_KO"
compare "nothing up" "new-resource r0"
adjust "nothing up"
expect_eq "state after adjust" "cs:WFConnection ro:Secondary/Unknown ds:Inconsistent/DUnknown" "$(proc0)"
show | tee /tmp/show
grep -q "resync-rate.*4096" /tmp/show || fail "show does not print the resync-rate"
grep -q "address.*ipv4 127.0.0.2:7789" /tmp/show || fail "show does not print the peer"

log "up: nothing to do"
compare "up"
expect_eq "up: nothing to do" "" "$("$TOOL" -d adjust r0)"

log "attached, not connected"
"$TOOL" disconnect r0
compare "not connected" "^[^ ]+ connect r0"
adjust "not connected"
expect_eq "connected again" "cs:WFConnection" "$(proc0 | cut -d' ' -f1)"

log "a disk option changed in the file"
conf "" "" "c-plan-ahead 0; resync-rate 8M; al-extents 509;"
compare "disk option" "disk-options 0 --set-defaults"
adjust "disk option"
show | grep -q "resync-rate.*8192" || fail "resync-rate not changed: $(show)"
show | grep -q "al-extents.*509" || fail "al-extents not changed: $(show)"
log "and removed again: back to the default"
conf
compare "disk option removed" "disk-options 0 --set-defaults"
adjust "disk option removed"
show | grep -q "al-extents" && fail "al-extents still set: $(show)"

log "a net option changed"
conf "" "protocol C; ping-int 7;"
compare "net option" "net-options .* --set-defaults"
adjust "net option"
show | grep -q "ping-int.*7" || fail "ping-int not changed: $(show)"

log "the peer address changed"
conf "" "protocol C; ping-int 7;" "" 127.0.0.3:7790
compare "peer address" "disconnect .*127.0.0.2:7789"
adjust "peer address"
show | grep -q "address.*127.0.0.3:7790" || fail "peer not changed: $(show)"
expect_eq "state after a new peer" "cs:WFConnection ro:Secondary/Unknown ds:Inconsistent/DUnknown" "$(proc0)"

log "resource options changed (and the old peer and net options again)"
conf "on-no-data-accessible suspend-io; cpu-mask 1;"
compare "resource options" "resource-options r0 --set-defaults.*disconnect .*127.0.0.3:7790.*connect r0"
adjust "resource options"
show | grep -q "on-no-data-accessible.*suspend-io" || fail "resource option not set: $(show)"
if "$TOOL" -- --cpu-mask=x resource-options r0 2>/tmp/err; then fail "a bad cpu-mask was taken"; fi
cat /tmp/err

# drbd_rs detaches only without a net config (its connection belongs to the volume): the
# states with a detach come without a connection.
log "detached"
"$TOOL" disconnect r0
"$TOOL" detach r0
compare "detached" "attach 0 /dev/vda.*connect r0"
adjust "detached"
expect_eq "attached again" "cs:WFConnection ro:Secondary/Unknown ds:Inconsistent/DUnknown" "$(proc0)"

log "another lower device"
conf "on-no-data-accessible suspend-io; cpu-mask 1;" "" "" "" 0 /dev/vdb
compare "lower device, connected" "detach 0"
# drbd_rs refuses the detach: adjust says what to do, exits 1 and leaves the rest undone.
if "$TOOL" adjust r0 2>/tmp/err; then fail "adjust detached with a connection"; fi
cat /tmp/err
grep -q "run 'drbdadm-rs disconnect r0', then adjust again" /tmp/err || fail "no hint: $(cat /tmp/err)"
show | grep -q 'disk.*"/dev/vda"' || fail "a failed adjust changed the disk: $(show)"
expect_eq "a failed adjust left the state" "cs:WFConnection" "$(proc0 | cut -d' ' -f1)"
"$TOOL" disconnect r0
compare "lower device" "detach 0"
adjust "lower device"
show | grep -q 'disk.*"/dev/vdb"' || fail "not on /dev/vdb: $(show)"

log "another minor"
conf "on-no-data-accessible suspend-io; cpu-mask 1;" "" "" "" 3 /dev/vdb
compare "minor" "del-minor 0"
# The connection belongs to the volume here (drbd_rs): it goes with the old minor.
"$TOOL" disconnect r0 2>/dev/null || true
compare "minor, disconnected" "del-minor 0"
adjust "minor"
[[ -e /dev/drbd3 && ! -e /dev/drbd0 ]] || fail "minor 3 not there or minor 0 still there"

log "a resource without minors"
"$TOOL" down r0
"$TOOL" new-resource r0
compare "resource without minors" "new-minor r0 3 0"
adjust "resource without minors"

log "adjust-with-progress, as drbdadm-84 prints it"
"$TOOL" down r0
"$ADM84" adjust-with-progress r0 >/tmp/progress84 2>/tmp/err84 || fail "drbdadm-84 adjust-with-progress: $(cat /tmp/progress84 /tmp/err84)"
cat /tmp/progress84 /tmp/err84
"$TOOL" down r0
"$TOOL" adjust-with-progress r0 >/tmp/progress-rs 2>/tmp/err-rs || fail "drbdadm-rs adjust-with-progress: $(cat /tmp/progress-rs /tmp/err-rs)"
cat /tmp/progress-rs
expect_eq "adjust-with-progress output" "$(cat /tmp/progress84)" "$(cat /tmp/progress-rs)"
expect_eq "-d adjust-with-progress" "" "$("$TOOL" -d adjust-with-progress r0)"

"$TOOL" down r0
rmmod drbd_rs
expect_clean_dmesg
log "ok"
