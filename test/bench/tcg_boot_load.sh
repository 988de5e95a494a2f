#!/usr/bin/env bash
# Sandbox boots under TCG while CPU burners keep cores busy: per boot the
# Create -> RUNNING time through a private containerd and how many times
# the shim relaunched a stalled boot; then the relaunch total, p50 and p99.
#   tcg_boot_load.sh [BOOTS] [BURNERS]
# QEMU (default /usr/bin/qemu-system-x86_64) is the VMM; EXTRA_CONF adds
# shim configuration members (e.g. '"accel": "tcg"').
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=tcg_boot_load
BOOTS=${1:-20}
BURNERS=${2:-1}
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
cat >"$T/boot.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$QEMU", "boot_files_root_path": "$BOOTFILES_DIR",
 "memory_mb": 512, "gcs_connection_timeout_ms": 120000${EXTRA_CONF:+, $EXTRA_CONF}}
JSON
burners=()
for _ in $(seq "$BURNERS"); do
  sh -c 'while :; do :; done' &
  burners+=($!)
done
trap 'kill "${burners[@]}" 2>/dev/null; lcow_teardown' EXIT

times=() relaunch_total=0 relaunched_boots=0 failures=0
for i in $(seq "$BOOTS"); do
  id=b$i
  start=$(date +%s%N)
  if out=$(run_sandbox "$id" --runtime-config-path "$T/boot.json" 2>&1); then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    times+=("$ms")
    kill_and_wait "$id" SIGKILL >/dev/null 2>&1 || true
    remove "$id" >/dev/null 2>&1 || true
  else
    ms="failed ($(tail -1 <<<"$out" | cut -c1-200))"
    failures=$((failures + 1))
    ctr_ c rm "$id" >/dev/null 2>&1 || true
  fi
  n=$(grep -c "msg=\"guest made no progress; relaunching the VM\" uvm-id=$id " "$T/containerd.log" || true)
  relaunch_total=$((relaunch_total + n))
  [ "$n" -gt 0 ] && relaunched_boots=$((relaunched_boots + 1))
  echo "  boot $i: create -> RUNNING $ms ms, relaunches $n"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
count=${#times[@]}
pct() { [ "$count" -gt 0 ] && sed -n "$(( ($1 * count + 99) / 100 ))p" <<<"$sorted" || echo -; }
echo "summary: $BOOTS boots, $BURNERS burner(s): relaunches $relaunch_total (in $relaunched_boots boots), failures $failures, p50 $(pct 50) ms, p99 $(pct 99) ms, max $(tail -1 <<<"$sorted") ms"
all_clean 10 >/dev/null || echo "  (left behind: see above)"
