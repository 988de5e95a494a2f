#!/usr/bin/env bash
# Live migration (issues 18 and 29): a migratable pod of 1 vCPU and each
# memory size is booted on one private containerd and migrated to a second
# one by `containerd-shim-lcow-v2 migrate`, at the default max-bandwidth
# and downtime-limit, RUNS times per size and load:
#   idle     no container;
#   printer  a container printing a line every 10 ms, read by a `ctr run`
#            on each side (adopted on the destination);
#   writer   the printer and a container rewriting 50 MiB of its memory
#            with random bytes every second (50 MiB/s).
# Reported per run: the whole transfer command (prepare excluded), QEMU's
# transfer time and downtime, bytes sent, and with a printer the gap the
# host saw between the last line read on A and the first read on B.
# usage: migration_bench.sh [RUNS [SIZES_MIB...]]  (output: build/bench/migration.json)
source "$(dirname "$0")/../integration/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
OUT=${OUT:-$TOP/build/bench/migration.json}
SHIM="$SHIM_BIN_DIR/containerd-shim-lcow-v2"
RUNS=${1:-3}
shift || true
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(512 1024); fi
lcow_setup
qemu_config
ROOTFS="$T/ctr-rootfs"
make_rootfs "$ROOTFS"
for a in dd seq cp; do ln -sf busybox "$ROOTFS/bin/$a"; done
start_destination_containerd
trap 'rc=$?; set +e; kill $(jobs -p) 2>/dev/null; stop_destination_containerd; lcow_teardown "$rc"' EXIT
mkdir -p "$(dirname "$OUT")"
PRINTER='while :; do echo tick; sleep 0.01; done'
# Random bytes: QEMU sends a page of zeros as a flag, not as 4 KiB.
WRITER='dd if=/dev/urandom of=/tmp/src bs=1M count=50 2>/dev/null; while :; do cp /tmp/src /tmp/blob; sleep 1; done'
# stamp FILE: each line read, prefixed with the host's time in ns.
stamp() { while IFS= read -r l; do echo "$(date +%s%N) $l"; done >"$1"; }
# container CTR SANDBOX ID SCRIPT [ADOPTS]: a pod container (adopting the
# source's ADOPTS), in the background.
container() {
  local c=$1 sb=$2 id=$3 script=$4 adopts=${5:-}
  local extra=()
  [ -n "$adopts" ] && extra=(--annotation "io.containerd.lcow.migration.source-container=$adopts")
  "$c" run --runtime io.containerd.lcow.v2 --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$sb" "${extra[@]}" --rootfs "$ROOTFS" "$id" /bin/sh -c "$script"
}
echo "[" >"$OUT"
sep=""
printf '%-8s %-8s %-4s %10s %12s %12s %12s %10s\n' "mem_mib" "load" "run" "total_ms" "transfer_ms" "downtime_ms" "bytes" "gap_ms"
for mem in "${SIZES[@]}"; do
  for load in idle printer writer; do
    for run in $(seq "$RUNS"); do
      id="mig-$mem-$load-$run"
      shape=(--annotation io.microsoft.migration.allowed=true
             --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
             --annotation io.microsoft.virtualmachine.computetopology.processor.count=1
             --annotation "io.microsoft.virtualmachine.computetopology.memory.sizeinmb=$mem")
      run_sandbox "$id" --runtime-config-path "$T/qemu.json" "${shape[@]}" >/dev/null
      rm -f "$T/a.out" "$T/b.out"
      if [ "$load" != idle ]; then
        container ctr_ "$id" p "$PRINTER" 2>&1 | stamp "$T/a.out" &
        wait_for 60 grep -q tick "$T/a.out"
      fi
      if [ "$load" = writer ]; then
        container ctr_ "$id" w "$WRITER" >/dev/null 2>&1 &
        wait_for 60 status_is w RUNNING
        sleep 2
      fi
      incoming_sandbox "$id" "$T/qemu.json" "${shape[@]}" >/dev/null
      "$SHIM" migrate prepare "$(address_a "$id")" "$id" "$(address_b "$id")" "$id" >/dev/null
      if [ "$load" != idle ]; then
        container ctr_b "$id" p "$PRINTER" p 2>&1 | stamp "$T/b.out" &
        wait_for 60 b_status_is p RUNNING
      fi
      if [ "$load" = writer ]; then
        container ctr_b "$id" w "$WRITER" w >/dev/null 2>&1 &
        wait_for 60 b_status_is w RUNNING
      fi
      line=$("$SHIM" migrate transfer "$(address_a "$id")" "$id" "$(address_b "$id")" "$id" | grep '^migrated ')
      num() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
      gap=null
      if [ "$load" != idle ]; then
        wait_for 30 grep -q tick "$T/b.out"
        gap=$(( ($(head -n 1 "$T/b.out" | cut -d' ' -f1) - $(grep tick "$T/a.out" | tail -n 1 | cut -d' ' -f1)) / 1000000 ))
      fi
      printf '%-8s %-8s %-4s %10s %12s %12s %12s %10s\n' "$mem" "$load" "$run" "$(num total_ms)" "$(num transfer_ms)" "$(num downtime_ms)" "$(num bytes)" "$gap"
      printf '%s{"memory_mib": %s, "load": "%s", "run": %s, "total_ms": %s, "transfer_ms": %s, "downtime_ms": %s, "bytes": %s, "output_gap_ms": %s}\n' \
        "$sep" "$mem" "$load" "$run" "$(num total_ms)" "$(num transfer_ms)" "$(num downtime_ms)" "$(num bytes)" "$gap" >>"$OUT"
      sep=","
      for c in p w; do ctr_b task kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
      sleep 1
      for c in p w; do remove_b "$c" >/dev/null 2>&1 || true; ctr_ task delete "$c" >/dev/null 2>&1 || true; ctr_ c rm "$c" >/dev/null 2>&1 || true; done
      ctr_b task kill "$id" && wait_for 30 b_status_is "$id" STOPPED
      remove_b "$id"
      remove "$id" >/dev/null
    done
  done
done
echo "]" >>"$OUT"
finish
