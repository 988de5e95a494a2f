#!/usr/bin/env bash
# Host memory per idle pod: PODS pod sandboxes (512 MiB guests, QEMU under
# TCG) started through a private containerd; the PSS of every process of a
# pod (its shim and everything under it: QEMU, virtiofsd) once each is
# RUNNING and 10 s later; then in the first pod a container touches 200 MB
# and exits, and that pod's PSS is read 10 s after the exit.
#   pod_density.sh [PODS]
# BOOTFILES_DIR selects the boot files (and so the kernel); LABEL names the
# run in the output; EXTRA_CONF adds shim configuration members; OUT: a JSON
# summary.
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=pod_density
PODS=${1:-2}
LABEL=${LABEL:-$(basename "$BOOTFILES_DIR")}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
trap 'lcow_teardown' EXIT
make_rootfs "$T/rootfs"
qemu_config "\"accel\": \"tcg\"${EXTRA_CONF:+, $EXTRA_CONF}"

# pss_kib PID...: the summed PSS of the processes and all their descendants.
pss_kib() {
  local pids=("$@") all=() p
  while [ ${#pids[@]} -gt 0 ]; do
    p=${pids[0]} pids=("${pids[@]:1}")
    all+=("$p")
    mapfile -t -O "${#pids[@]}" pids < <(ps -o pid= --ppid "$p" | tr -d ' ')
  done
  for p in "${all[@]}"; do awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null; done |
    awk '{ s += $1 } END { print s + 0 }'
}
# pod_shim ID: the pid of the pod's shim.
pod_shim() { pgrep -f "^$SHIM_BIN_DIR/containerd-shim-lcow-v2 -namespace $NS -id $1( |\$)" | head -1; }
# pod_processes ID: "name=PSS_KiB ..." for the pod's shim and each child with
# its descendants (a child gone meanwhile is left out).
pod_processes() {
  local shim q exe line
  shim=$(pod_shim "$1")
  line="shim=$(awk '/^Pss:/ { print $2 }' "/proc/$shim/smaps_rollup")"
  for q in $(ps -o pid= --ppid "$shim"); do
    exe=$(readlink "/proc/$q/exe") || continue
    line+=" $(basename "$exe")=$(pss_kib "$q")"
  done
  echo "$line"
}
# pod_pss_mib ID: the PSS of the pod's shim and everything under it, MiB.
pod_pss_mib() {
  echo $(( ($(pss_kib "$(pod_shim "$1")") + 512) / 1024 ))
}

for i in $(seq "$PODS"); do
  run_sandbox "p$i" --runtime-config-path "$T/qemu.json" >/dev/null
done
for i in $(seq "$PODS"); do wait_for 120 status_is "p$i" RUNNING || echo "p$i did not start"; done
after_boot=() idle=()
for i in $(seq "$PODS"); do after_boot+=("$(pod_pss_mib "p$i")"); done
sleep 10
for i in $(seq "$PODS"); do
  idle+=("$(pod_pss_mib "p$i")")
  echo "  $LABEL pod p$i: PSS after boot ${after_boot[$((i - 1))]} MiB, 10 s later ${idle[$((i - 1))]} MiB ($(pod_processes "p$i"), KiB)"
done

# What the guest says it uses (its /proc/meminfo, from a container of p1).
meminfo=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=p1 \
  --rootfs "$T/rootfs" meminfo /bin/busybox awk \
  '/^(MemTotal|MemFree|Buffers|Cached|Shmem|Slab|KernelStack|PageTables|Percpu):/ { printf "%s %.1f MB ", $1, $2 / 1024 }' \
  /proc/meminfo 2>&1 || true)
echo "  $LABEL guest p1 /proc/meminfo: $meminfo"

# A container that touches 200 MB of memory, then exits.
ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=p1 \
  --rootfs "$T/rootfs" toucher /bin/busybox awk 'BEGIN { s = sprintf("%200000000s", ""); print length(s) }' \
  >"$T/toucher.out" 2>&1 || echo "  the container failed: $(tail -1 "$T/toucher.out")"
peak=$(pod_pss_mib p1)
ctr_ task delete toucher >/dev/null 2>&1 || true
ctr_ c rm toucher >/dev/null 2>&1 || true
settle=()
for s in $(seq 10); do sleep 1; settle+=("$(pod_pss_mib p1)"); done
echo "  $LABEL after a container touched 200 MB and exited: PSS at exit $peak MiB, then per second ${settle[*]} MiB ($(pod_processes p1), KiB)"
sum=0; for v in "${idle[@]}"; do sum=$((sum + v)); done
mean=$((sum / PODS))
echo "summary: $LABEL: $PODS idle pods, mean PSS $mean MiB per pod ($(( 1024 / (mean > 0 ? mean : 1) )) per GiB of host memory); after a 200 MB container: $peak MiB at exit, ${settle[9]} MiB 10 s later"
if [ -n "${OUT:-}" ]; then
  printf '{"label": "%s", "pods": %d, "idle_pss_mib": [%s], "after_boot_pss_mib": [%s], "pods_per_gib": %d, "container_exit_pss_mib": %d, "settled_pss_mib": [%s]}\n' \
    "$LABEL" "$PODS" "$(IFS=,; echo "${idle[*]}")" "$(IFS=,; echo "${after_boot[*]}")" \
    $(( 1024 / (mean > 0 ? mean : 1) )) "$peak" "$(IFS=,; echo "${settle[*]}")" >"$OUT"
fi
for i in $(seq "$PODS"); do kill_and_wait "p$i" SIGKILL >/dev/null 2>&1; remove "p$i" >/dev/null 2>&1; done
