#!/usr/bin/env bash
# make demo: a private containerd drives the shim through real UVMs under
# QEMU: a non-migratable sandbox whose guest logs stream into the shim log,
# a migratable one (no log listener, no vsockexec, booted from rootfs.vhd)
# running a container and then live-migrated with a running container to a
# second containerd (its output goes on from B's FIFOs), and a
# migratable sandbox refused by the policy.  Everything is cleaned up.
source "$(dirname "$0")/integration/lib.sh"
TEST_NAME=demo
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show_cmdlines() {
  python3 - "$1" "$BOOTFILES_DIR/kernel.cmdline" <<'PY'
import json, os, sys
u = json.load(open(sys.argv[1]))
g = u["guest"] or {}
# The project's kernel puts its built-in line (kernel.cmdline) first.
builtin = open(sys.argv[2]).read().strip() if os.path.exists(sys.argv[2]) else ""
print("    computed /proc/cmdline:", u["kernel_cmdline"])
print("    booted   /proc/cmdline:", g.get("cmdline"))
print("    identical after the kernel's built-in line:",
      " ".join(x for x in (builtin, u["kernel_cmdline"]) if x) == g.get("cmdline"))
print("    accelerator: %s (%s)" % (u["accel"], u["accel_reason"]))
print("    accel=%s  root=%s  kernel=%s  cpus=%s  memory_mb=%s  guest boot=%s ms"
      % (u["accel"], g.get("root"), g.get("kernel_release"), g.get("cpus"),
         g.get("memory_mb"), g.get("uptime_ms")))
print("    log_listener:", u["log_listener"], " live_migration:", u["live_migration"])
PY
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

say "starting a private containerd ($(containerd --version | awk '{print $3}')) with the shim on its PATH"
lcow_setup
readable_bootfiles
log="$T/containerd.log"
cat >"$T/qemu.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$QEMU", "boot_files_root_path": "$BOOTFILES_DIR",
 "memory_mb": 512}
JSON
echo "    shim config: $(tr -d '\n' <"$T/qemu.json")"

say "1. a sandbox that is not live-migratable (initrd rootfs)"
start=$(date +%s%N)
run_sandbox demo-logs --runtime-config-path "$T/qemu.json" \
  --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=initrd
echo "    RUNNING after $(ms_since "$start") ms; task pid $(task_pid demo-logs) is QEMU: $(ps -o comm= -p "$(task_pid demo-logs)")"
show_cmdlines "$(bundle_of demo-logs)/uvm.json"
echo "    the guest agent's own JSON logs, as the shim logged them:"
wait_for 5 grep -q 'msg="connected to host".*uvm-id=demo-logs' "$log" || true
grep 'uvm-id=demo-logs' "$log" | grep -E 'GCS started|connected to host' | sed 's/^/      /' | cut -c1-220

say "2. a live-migratable sandbox (io.microsoft.migration.allowed=true, rootfs.vhd)"
start=$(date +%s%N)
run_sandbox demo-lm --runtime-config-path "$T/qemu.json" \
  --annotation io.microsoft.migration.allowed=true \
  --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd \
  --annotation io.microsoft.virtualmachine.computetopology.processor.count=1
echo "    RUNNING after $(ms_since "$start") ms"
show_cmdlines "$(bundle_of demo-lm)/uvm.json"
grep 'uvm-id=demo-lm' "$log" | grep -E 'skipping GCS log listener' | sed 's/^/      /' | cut -c1-160
# The VM's directory: where its QMP socket is (-qmp unix:<dir>/qmp.sock,...).
vm_dir=$(python3 -c 'import json, os, sys
argv = json.load(open(sys.argv[1]))["vmm_argv"]
print(os.path.dirname(next(a for a in argv if a.startswith("unix:") and "qmp" in a)[5:].split(",")[0]))' "$(bundle_of demo-lm)/uvm.json")
echo "    hybrid log sockets (vsock_109) in its state directory ($vm_dir): $(find "$vm_dir" -name "vsock_109" | wc -l)"

say "3. a container in the live-migratable pod: its root filesystem arrives as a hot-added disk"
make_rootfs "$T/ctr-rootfs"
start=$(date +%s%N)
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=demo-lm \
  --annotation io.microsoft.migration.allowed=true --rootfs "$T/ctr-rootfs" demo-app \
  /bin/sh -c 'echo "kernel $(uname -r), pid $$, root: $(grep " / " /proc/mounts | cut -d" " -f1-3)"' 2>&1)
echo "    ctr run --rm (create, start, output, exit, delete) took $(ms_since "$start") ms; the container said:"
echo "      $out   (the host runs $(uname -r))"
wait_for 5 grep -q 'msg="disk removed from the VM" uvm-id=demo-lm' "$log" || true
grep -E 'task=demo-app|uvm-id=demo-lm scsi' "$log" | grep -E 'created in the UVM|disk removed' | sed 's/^/      /' | cut -c1-160

say "4. live migration: the pod's running VM and its container move to a second containerd"
TICKER='i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
ctr_ run --runtime io.containerd.lcow.v2 \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=demo-lm \
  --rootfs "$T/ctr-rootfs" demo-ticker /bin/sh -c "$TICKER" >"$T/ticker-a" 2>&1 &
TICKER_A=$!
wait_for 60 grep -q "tick 3" "$T/ticker-a" || true
echo "    on A, container demo-ticker (ctr run in the foreground) prints: $(tail -n 1 "$T/ticker-a")"
start_destination_containerd
trap 'rc=$?; set +e; kill "$TICKER_A" "${TICKER_B:-}" 2>/dev/null; stop_destination_containerd; lcow_teardown "$rc"' EXIT
echo "    destination: containerd in $T/B, namespace $NSB"
incoming_sandbox demo-lm "$T/qemu.json" --annotation io.microsoft.migration.allowed=true \
  --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd \
  --annotation io.microsoft.virtualmachine.computetopology.processor.count=1
echo "    its sandbox task waits for the VM: pid $(b_pid demo-lm) is QEMU started with -incoming defer"
echo "    containerd-shim-lcow-v2 migrate prepare <source shim> demo-lm <destination shim> demo-lm:"
"$SHIM_BIN_DIR/containerd-shim-lcow-v2" migrate prepare "$(address_a demo-lm)" demo-lm "$(address_b demo-lm)" demo-lm |
  sed 's/^/      /'
echo "    B's containerd creates the container, naming the source's (ctr run ... --annotation"
echo "    io.containerd.lcow.migration.source-container=demo-ticker): the shim adopts it"
ctr_b run --runtime io.containerd.lcow.v2 \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=demo-lm \
  --annotation io.containerd.lcow.migration.source-container=demo-ticker \
  --rootfs "$T/ctr-rootfs" demo-ticker /bin/sh -c "$TICKER" >"$T/ticker-b" 2>&1 &
TICKER_B=$!
wait_for 60 b_status_is demo-ticker RUNNING || true
echo "    adopted: $(b_status demo-ticker) on B with guest pid $(b_pid demo-ticker) (on A: $(task_pid demo-ticker))"
echo "    containerd-shim-lcow-v2 migrate transfer <source shim> demo-lm <destination shim> demo-lm:"
"$SHIM_BIN_DIR/containerd-shim-lcow-v2" migrate transfer "$(address_a demo-lm)" demo-lm "$(address_b demo-lm)" demo-lm |
  grep -v '^transfer: active' | sed 's/^/      /'
wait_for 20 grep -q tick "$T/ticker-b" || true
echo "    source task: $(task_status demo-lm) (moved: no exit event); destination task: $(b_status demo-lm), pid $(b_pid demo-lm)"
echo "    demo-ticker's last line on A: $(tail -n 1 "$T/ticker-a")"
echo "    and its next line, on B:      $(head -n 1 "$T/ticker-b")"
wait "$TICKER_A" || true

say "5. a live-migratable sandbox that asks for host-bound things: refused"
out=$(run_sandbox demo-bad --runtime-config-path "$T/qemu.json" \
  --annotation io.microsoft.migration.allowed=true \
  --annotation io.microsoft.virtualmachine.lcow.vpcienabled=true \
  --annotation io.microsoft.virtualmachine.console.pipe='\\.\pipe\vmconsole' \
  --annotation io.microsoft.virtualmachine.hv-socket.service-table.0000006d-facb-11e6-bd58-64006a7986d3='{}' \
  --mount type=bind,src=/srv,dst=/data,options=rbind:ro 2>&1) || true
echo "    ctr run said:"
fold -w 110 <<<"$out" | sed 's/^/      /'
ctr_ c rm demo-bad >/dev/null 2>&1 || true

say "6. stopping: SIGTERM asks each guest to power off (demo-lm's on the destination)"
start=$(date +%s%N)
ctr_ task kill demo-logs
wait_for 30 status_is demo-logs STOPPED
echo "    demo-logs STOPPED after $(ms_since "$start") ms"
remove demo-logs
ctr_b task kill -s SIGKILL demo-ticker
wait "$TICKER_B" || true
ctr_b c rm demo-ticker >/dev/null 2>&1 || true
ctr_ c rm demo-ticker >/dev/null 2>&1 || true
start=$(date +%s%N)
ctr_b task kill demo-lm
wait_for 30 b_status_is demo-lm STOPPED
echo "    demo-lm STOPPED on the destination after $(ms_since "$start") ms"
remove_b demo-lm
remove demo-lm
wait_for 10 nothing_left && wait_for 10 b_clean && echo "    no shim, no QEMU, no socket, no state left on either side" || echo "    something was left behind"
pass "demo finished"
finish
