#!/usr/bin/env bash
# Live migration of an idle sandbox (issue 18): a migratable sandbox of
# 1 vCPU and each memory size is booted on one private containerd and
# migrated to a second one by `containerd-shim-lcow-v2 migrate`, at the
# default max-bandwidth and downtime-limit, RUNS times per size.
# Reported per run: the whole command (export to finalize), QEMU's
# transfer time and downtime, bytes sent.
# usage: migration_bench.sh [RUNS [SIZES_MIB...]]  (output: build/bench/migration.json)
source "$(dirname "$0")/../integration/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
OUT=${OUT:-$TOP/build/bench/migration.json}
RUNS=${1:-3}
shift || true
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(512 1024); fi
lcow_setup
qemu_config
start_destination_containerd
trap 'rc=$?; set +e; stop_destination_containerd; lcow_teardown "$rc"' EXIT
mkdir -p "$(dirname "$OUT")"
echo "[" >"$OUT"
sep=""
printf '%-8s %-4s %10s %12s %12s %12s\n' "mem_mib" "run" "total_ms" "transfer_ms" "downtime_ms" "bytes"
for mem in "${SIZES[@]}"; do
  for run in $(seq "$RUNS"); do
    id="mig-$mem-$run"
    shape=(--annotation io.microsoft.migration.allowed=true
           --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
           --annotation io.microsoft.virtualmachine.computetopology.processor.count=1
           --annotation "io.microsoft.virtualmachine.computetopology.memory.sizeinmb=$mem")
    run_sandbox "$id" --runtime-config-path "$T/qemu.json" "${shape[@]}" >/dev/null
    incoming_sandbox "$id" "$T/qemu.json" "${shape[@]}" >/dev/null
    line=$("$SHIM_BIN_DIR/containerd-shim-lcow-v2" migrate "$(address_a "$id")" "$id" "$(address_b "$id")" "$id" | grep '^migrated ')
    num() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
    printf '%-8s %-4s %10s %12s %12s %12s\n' "$mem" "$run" "$(num total_ms)" "$(num transfer_ms)" "$(num downtime_ms)" "$(num bytes)"
    printf '%s{"memory_mib": %s, "run": %s, "total_ms": %s, "transfer_ms": %s, "downtime_ms": %s, "bytes": %s}\n' \
      "$sep" "$mem" "$run" "$(num total_ms)" "$(num transfer_ms)" "$(num downtime_ms)" "$(num bytes)" >>"$OUT"
    sep=","
    ctr_b task kill "$id" && wait_for 30 b_status_is "$id" STOPPED
    remove_b "$id"
    remove "$id" >/dev/null
  done
done
echo "]" >>"$OUT"
finish
