#!/usr/bin/env bash
# Issue 3: the live-migration policy through the private containerd: allowed
# shapes run, every class of violation is refused with the whole message
# visible to the ctr user, a refusal leaves nothing, and the same
# annotations on a non-migratable sandbox are accepted.
source "$(dirname "$0")/lib.sh"
lcow_setup
LM=io.microsoft.migration.allowed=true
VM=io.microsoft.virtualmachine
mkdir -p "$T/boot-vhd"
: >"$T/boot-vhd/kernel"
: >"$T/boot-vhd/rootfs.vhd"

# spec_with ID PYTHON: a complete OCI spec (ctr's default) edited by PYTHON
# (operating on `s`), with root.path set to the test rootfs.
spec_with() {
  ctr oci spec >"$T/base.json"
  python3 - "$T/base.json" "$T/$1.json" "$T/rootfs" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["root"] = {"path": sys.argv[3], "readonly": True}
s.setdefault("annotations", {})
exec(sys.argv[4])
json.dump(s, open(sys.argv[2], "w"))
PY
}

# --- allowed shapes run ---------------------------------------------------
expect "migratable sandbox with only allowed keys runs" run_sandbox ok1 \
  --annotation "$LM" \
  --annotation "$VM.computetopology.processor.count=1" \
  --annotation "$VM.computetopology.memory.sizeinmb=511" \
  --annotation "$VM.lcow.bootfilesrootpath=$T/boot-vhd" \
  --annotation "$VM.lcow.preferredrootfstype=vhd" \
  --annotation "$VM.lcow.vpcienabled=false" \
  --annotation "$VM.devices.virtualpmem.maximumcount=0" \
  --annotation io.microsoft.container.processdumplocation=/tmp/dumps
b=$(bundle_of ok1)
want='root=/dev/sda ro rootwait init=/init initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet pci=off nr_cpus=1 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/gcs -v4 -log-format json -loglevel info -core-dump-location /tmp/dumps'
expect "its command line boots rootfs.vhd without the log wrapper" \
  test "$(json_get "$b/uvm.json" kernel_cmdline)" = "$want"
expect "uvm.json says live_migration true" test "$(json_get "$b/uvm.json" live_migration)" = true
expect "the decision is logged with the sandbox id" \
  grep -q 'msg="sandbox is live-migratable" sandbox=ok1 migratable=true' "$T/containerd.log"
kill_and_wait ok1 SIGKILL && remove ok1

# --- each class of violation is refused, nothing left ----------------------
expect "locked key with another value" refused v1 \
  "live-migratable sandbox: 1 problem: annotation $VM.lcow.vpcienabled must be \"false\" (locked), got \"True\"" \
  --annotation "$LM" --annotation "$VM.lcow.vpcienabled=True"
expect "HvSocket service-table entry" refused v2 \
  "annotation $VM.hv-socket.service-table.12345678-1234-1234-1234-123456789ABC is an HvSocket service-table entry, never allowed" \
  --annotation "$LM" --annotation "$VM.hv-socket.service-table.12345678-1234-1234-1234-123456789ABC={}"
expect "key not on the allow-list" refused v3 \
  "annotation $VM.lcow.timesync.disable is not allowed" \
  --annotation "$LM" --annotation "$VM.lcow.timesync.disable=true"
expect "every offending key is listed" refused v4 \
  "live-migratable sandbox: 3 problems: " \
  --annotation "$LM" --annotation "$VM.console.pipe=x" \
  --annotation "$VM.lcow.kernelbootoptions=quiet" \
  --annotation "$VM.lcow.writable-overlay-directories=true"
expect "conflicting opt-in annotations name both keys" refused v5 \
  'conflicting live-migration annotations: io.microsoft.migration.allowed="true" means true but io.microsoft.migration.support-enabled="maybe" means false' \
  --annotation "$LM" --annotation io.microsoft.migration.support-enabled=maybe
expect "the alias alone opts in" refused v6 "annotation $VM.lcow.timesync.disable is not allowed" \
  --annotation io.microsoft.migration.support-enabled=true --annotation "$VM.lcow.timesync.disable=true"
expect "a host directory bind mount" refused v7 \
  "mount[" --annotation "$LM" --mount type=bind,src=/srv,dst=/data,options=rbind:ro
out=$(run_sandbox v7b --annotation "$LM" --mount type=bind,src=/srv,dst=/data,options=rbind:ro 2>&1 || true)
ctr_ c rm v7b >/dev/null 2>&1 || true
expect "the bind mount message names destination, type and source" \
  grep -q '/data (bind from /srv) is a directory mount' <<<"$out"
expect "a host device" refused v8 "device linux.devices[0] (/dev/null) is a host device assignment" \
  --annotation "$LM" --device /dev/null

spec_with v9 '
s["annotations"]["io.microsoft.migration.allowed"] = "true"
s["mounts"].append({"destination": "/disk", "type": "virtual-disk", "source": "C:\\disks\\data.vhdx"})
s["mounts"].append({"destination": "/d2", "type": "bind", "source": "/x/y.vhd", "options": ["ro"]})
s["mounts"].append({"destination": "/tmpfs", "type": "tmpfs", "source": "tmpfs"})
s["mounts"].append({"destination": "/ok", "type": "bind", "source": "sandbox:///shared"})
s.setdefault("windows", {})["devices"] = [{"id": "PCI\\VEN_1234&DEV_5678\\0", "idType": "vpci-instance-id"}]
'
out=$(ctr_ run -d --runtime io.containerd.lcow.v2 --config "$T/v9.json" v9 2>&1) && rc=0 || rc=$?
ctr_ c rm v9 >/dev/null 2>&1 || true
expect "--config spec with VHD mounts and a device is refused" test "$rc" -ne 0
expect "... naming the windows device" grep -q 'device windows.devices\[0\] (idType "vpci-instance-id"' <<<"$out"
expect "... naming the virtual-disk mount" grep -q '/disk (virtual-disk from C:\\disks\\data.vhdx) is a VHD mount' <<<"$out"
expect "... naming a .vhd bind as both" grep -q '/d2 (bind from /x/y.vhd) is a VHD mount and a directory mount' <<<"$out"
expect "... and not the tmpfs or sandbox:// mounts" bash -c '! grep -q "/tmpfs\|/ok (" <<<"$1"' _ "$out"
expect "... with the gRPC code InvalidArgument" answered_code v9 Create InvalidArgument
expect "nothing left after the --config refusal" all_clean 5
expect "the refusal is in the shim log" grep -q 'msg="sandbox refused" sandbox=v9 migratable=true' "$T/containerd.log"

# --- the same annotations without the opt-in are accepted -------------------
expect "non-migratable sandbox with denied keys runs" run_sandbox nm1 \
  --annotation "$VM.lcow.timesync.disable=true" \
  --annotation "$VM.hv-socket.service-table.12345678-1234-1234-1234-123456789abc={}" \
  --mount type=bind,src=/srv,dst=/data,options=rbind:ro --device /dev/null
expect "its command line keeps the log wrapper and -disable-time-sync" \
  grep -q '/bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel info -disable-time-sync"' "$(bundle_of nm1)/uvm.json"
kill_and_wait nm1 SIGKILL && remove nm1
expect "allowed=false is not migratable" run_sandbox nm2 \
  --annotation io.microsoft.migration.allowed=false --annotation "$VM.console.pipe=x"
kill_and_wait nm2 SIGKILL && remove nm2

# --- a migration destination is made by "true" only -------------------------
expect "incoming=false is an ordinary migratable sandbox (the exec VMM could not receive one)" \
  run_sandbox in1 --annotation io.microsoft.migration.allowed=true \
  --annotation io.containerd.lcow.migration.incoming=false
kill_and_wait in1 SIGKILL && remove in1
expect "any other value is refused, naming it" \
  refused in2 'io.containerd.lcow.migration.incoming="yes": expected "true" or "false"' \
  --annotation io.microsoft.migration.allowed=true --annotation io.containerd.lcow.migration.incoming=yes
expect "clean at the end" all_clean 5
finish
