#!/usr/bin/env bash
# Issue 18 (first part): the argv of a live-migratable sandbox migrates.
# Boot files carry a fixed rootfs.vhd, which QEMU opens as raw bytes (its
# vpc driver blocks migration); the exact vmm_argv a real migratable
# sandbox ran is started twice, and the first QEMU migrates into the second
# (-incoming defer), whose guest agent then answers.  A dynamic VHD is
# refused for a migratable sandbox, with the reason, and still boots one
# that is not migratable.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
qemu_config
# Under TCG here, single-vCPU guests migrate reliably (the study's runs).
MIGRATABLE=(--annotation io.microsoft.migration.allowed=true
            --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
            --annotation io.microsoft.virtualmachine.computetopology.processor.count=1)

expect "make bootfiles built a fixed VHD (qemu-img sees raw data before a footer)" \
  bash -c 'qemu-img info --output=json "$1" | grep -q "\"format\": \"raw\""' _ "$T/bootfiles/rootfs.vhd"

# --- a real migratable sandbox's argv migrates -------------------------------
expect "a migratable sandbox boots" run_sandbox m1 --runtime-config-path "$T/qemu.json" "${MIGRATABLE[@]}"
uvm="$(bundle_of m1)/uvm.json"
size=$(($(stat -c %s "$T/bootfiles/rootfs.vhd") - 512))
expect "QEMU opens rootfs.vhd as raw, without its footer (size=$size)" \
  grep -q "rootfs.vhd,format=raw,size=$size,if=none,id=rootfs,readonly=on" "$uvm"
cp "$uvm" "$T/m1-uvm.json"
kill_and_wait m1 SIGKILL && remove m1 >/dev/null
mkdir "$T/mig"
out=$(timeout 240 python3 "$TOP/test/integration/migrate_argv.py" "$T/m1-uvm.json" "$T/mig" 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "that exact argv migrates into a second QEMU started with -incoming defer" [ "$rc" -eq 0 ]
expect "the destination's guest agent answered and powered the VM off" \
  grep -q "the destination VM powered off" <<<"$out"
# The same argv with the VHD opened by the vpc driver, as before: QEMU
# refuses to migrate it (what the fixed VHD avoids).
python3 -c '
import json, re, sys
u = json.load(open(sys.argv[1]))
u["vmm_argv"] = [re.sub(r"format=raw,size=[0-9]+", "format=vpc", a) for a in u["vmm_argv"]]
json.dump(u, open(sys.argv[2], "w"))' "$T/m1-uvm.json" "$T/m1-vpc.json"
mkdir "$T/mig-vpc"
out=$(timeout 240 python3 "$TOP/test/integration/migrate_argv.py" "$T/m1-vpc.json" "$T/mig-vpc" 2>&1) && rc=0 || rc=$?
expect "with the vpc driver the same argv cannot migrate ($(grep -o 'migrate.*' <<<"$out" | tail -1 | head -c 160))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "does not support live migration" <<<"$2"' _ "$rc" "$out"
expect "no QEMU of the migrations is left" bash -c '! pgrep -f "^$1 -name lcow-m1( |\$)" >/dev/null' _ "$QEMU"

# --- a dynamic VHD ------------------------------------------------------------
mkdir -m 0755 "$T/dynboot"
cp "$T/bootfiles"/* "$T/dynboot/"
head -c "$size" "$T/bootfiles/rootfs.vhd" >"$T/rootfs.raw"
qemu-img convert -f raw -O vpc "$T/rootfs.raw" "$T/dynboot/rootfs.vhd"
chmod 0644 "$T"/dynboot/*
sed "s|$T/bootfiles|$T/dynboot|" "$T/qemu.json" >"$T/dyn.json"
expect "qemu-img made a dynamic VHD" \
  bash -c 'qemu-img info --output=json "$1" | grep -q "\"format\": \"vpc\""' _ "$T/dynboot/rootfs.vhd"
out=$(run_sandbox d1 --runtime-config-path "$T/dyn.json" "${MIGRATABLE[@]}" 2>&1) && rc=0 || rc=$?
expect "a migratable sandbox on a dynamic VHD is refused, saying why ($(head -c 240 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "is a dynamic VHD, which QEMU opens with its vpc driver, and that blocks live migration" <<<"$2"' _ "$rc" "$out"
expect "at FailedPrecondition" answered_code d1 Create FailedPrecondition
ctr_ c rm d1 >/dev/null 2>&1 || true
expect "a sandbox that is not migratable boots from the dynamic VHD" run_sandbox d2 \
  --runtime-config-path "$T/dyn.json" --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
expect "with QEMU's vpc driver" grep -q 'rootfs.vhd,format=vpc,if=none' "$(bundle_of d2)/uvm.json"
kill_and_wait d2 SIGKILL && remove d2 >/dev/null
expect "nothing is left behind" all_clean 20
finish
