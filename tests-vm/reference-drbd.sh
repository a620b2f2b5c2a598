# The in-tree drbd.ko (our interop peer) loads in the test kernel and reports 8.4.11.
# vm-nodes: 1
# vm-timeout: 120
source "$DRBDRS_REPO/tests-vm/lib/common.sh"

load_reference_drbd
head -1 /proc/drbd
expect_eq "drbd.ko version" "version: 8.4.11 (api:1/proto:86-101)" "$(head -1 /proc/drbd)"
fam=$(genl ctrl get name drbd)
expect_match "drbd.ko family" 'Version: 0x1  header size: 8  max attribs: 24 ' "$fam"
rmmod drbd lru_cache
expect_clean_dmesg
log "ok"
