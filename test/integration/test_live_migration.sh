#!/usr/bin/env bash
# Issue 18: a live-migratable sandbox's VM moves from one shim to another,
# each driven by its own containerd (two roots, two shim socket directories,
# two namespaces: one host stands in for two).  The shim binary's `migrate`
# command drives the Migration service of both shims.  One source VM is
# booted; three destinations refuse or lose the migration first, and after
# each the source still runs and its bridge still works; a second source
# vanishes past its switchover before handing over, and its destination
# gives up and stops the VM; then the VM moves,
# and the destination answers State and Kill, powers the guest off through
# the bridge and publishes the exit, while the source's task ends without
# an exit event.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
SHIM="$SHIM_BIN_DIR/containerd-shim-lcow-v2"
lcow_setup
# A bandwidth low enough that an idle 512 MiB guest takes seconds to move:
# time to cancel it, or to kill the destination, while it moves.
qemu_config '"migration_max_bandwidth_mb": 24'
# Under TCG here, single-vCPU guests migrate reliably (the study's runs).
MIGRATABLE=(--annotation io.microsoft.migration.allowed=true
            --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
            --annotation io.microsoft.virtualmachine.computetopology.processor.count=1)

start_destination_containerd
trap 'rc=$?; set +e; stop_destination_containerd; lcow_teardown "$rc"' EXIT
B="$T/B"
incoming() { local id=$1; shift; incoming_sandbox "$id" "$T/qemu.json" "${MIGRATABLE[@]}" "$@"; }
# The source still runs: its shim answers State as RUNNING and its QEMU
# lives (the next migration's barrier ping proves its bridge again).
source_runs() { status_is m1 RUNNING && kill -0 "$SRC_QEMU" 2>/dev/null; }
migrate() { "$SHIM" migrate "$(address_a m1)" m1 "$(address_b "$1")" "$1"; }
# interrupted_migration DEST ACTION...: migrates to DEST in the background
# (the command itself, not a function's subshell, so that a signal reaches
# it), runs ACTION once QEMU's transfer is under way, and sets rc and the
# output file $T/mig-DEST.
interrupted_migration() {
  local dest=$1; shift
  "$SHIM" migrate "$(address_a m1)" m1 "$(address_b "$dest")" "$dest" >"$T/mig-$dest" 2>&1 &
  MIG=$!
  expect "the transfer to $dest gets under way" wait_for 60 grep -q "transfer: active" "$T/mig-$dest"
  "$@"
  wait "$MIG" && rc=0 || rc=$?
  sed 's/^/  /' "$T/mig-$dest"
}

ctr_ events >"$T/events-a" 2>&1 &
EVENTS_A=$!
ctr_b events >"$T/events-b" 2>&1 &
EVENTS_B=$!

expect "the source sandbox boots (1 vCPU, 512 MiB)" run_sandbox m1 --runtime-config-path "$T/qemu.json" "${MIGRATABLE[@]}"
SRC_QEMU=$(task_pid m1)

# ---- a destination that cannot take the VM ------------------------------------
out=$(incoming d1 --annotation io.microsoft.virtualmachine.computetopology.memory.sizeinmb=1024 2>&1) && rc=0 || rc=$?
expect "a destination sandbox is created without booting ($out)" [ "$rc" -eq 0 ]
D1_QEMU=$(b_pid d1)
expect "its QEMU waits for the VM's state (-incoming defer)" \
  bash -c 'tr "\0" " " <"/proc/$1/cmdline" | grep -q -- "-incoming defer"' _ "$D1_QEMU"
out=$(migrate d1 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "an incompatible destination is refused before anything moves, naming the difference" \
  bash -c '[ "$1" -eq 1 ] && grep -q "memory_mb: source 512, destination 1024" <<<"$2" && ! grep -q "^transfer:" <<<"$2"' _ "$rc" "$out"
expect "the refused destination's VMM is stopped and its task exits" wait_for 20 b_status_is d1 STOPPED
expect "the source still runs" source_runs
remove_b d1

# ---- cancelled mid-way ---------------------------------------------------------
expect "a second destination is created" incoming d2
interrupted_migration d2 eval 'kill -INT "$MIG"'
expect "an interrupted migrate cancels (exit 1)" bash -c '[ "$1" -eq 1 ] && grep -q "interrupted: cancelling" "$2"' _ "$rc" "$T/mig-d2"
expect "the source keeps running after the cancel" source_runs
expect "the cancelled destination's task exits" wait_for 20 b_status_is d2 STOPPED
remove_b d2

# ---- the destination's QEMU killed mid-way --------------------------------------
expect "a third destination is created" incoming d3
D3_QEMU=$(b_pid d3)
interrupted_migration d3 kill -KILL "$D3_QEMU"
expect "the migration fails (exit 1) when the destination's QEMU dies" \
  bash -c '[ "$1" -eq 1 ] && grep -q "the transfer failed" "$2"' _ "$rc" "$T/mig-d3"
expect "the source keeps running after losing its destination" source_runs
expect "the killed destination's task exits" wait_for 20 b_status_is d3 STOPPED
remove_b d3

# ---- the source gone past the switchover, before its handover ------------------
# A second source; its destination gives up waiting for the handover after
# its transfer's and its orchestrator's time (short here).
sed 's/"migration_max_bandwidth_mb": 24/"migration_max_bandwidth_mb": 24, "migration_prepare_timeout_ms": 3000, "migration_timeout_ms": 5000/' \
  "$T/qemu.json" >"$T/qemu-short.json"
expect "a second source boots" run_sandbox m2 --runtime-config-path "$T/qemu.json" "${MIGRATABLE[@]}"
expect "its destination (short deadlines)" incoming_sandbox dg "$T/qemu-short.json" "${MIGRATABLE[@]}"
out=$("$SHIM" migrate prepare "$(address_a m2)" m2 "$(address_b dg)" dg 2>&1) && rc=0 || rc=$?
expect "prepare" [ "$rc" -eq 0 ]
out=$(python3 "$TOP/test/integration/ttrpc_client.py" "$(address_a m2)" transfer-then-vanish m2 0 \
  "$(address_b dg)" dg no-finalize 2>&1) && rc=0 || rc=$?
expect "the transfer completes; nobody finalizes ($out)" [ "$rc" -eq 0 ]
M2_QEMU=$(task_pid m2)
pkill -KILL -f "containerd-shim-lcow-v2 -namespace $NS -id m2 " || true
kill -KILL "$M2_QEMU" 2>/dev/null || true
expect "the destination gives up: no handover came" \
  wait_for 30 grep -q '"live migration given up: the source'"'"'s handover never came; stopping the VM"' "$B/containerd.log"
expect "its VM is stopped" wait_for 20 b_status_is dg STOPPED
remove_b dg
ctr_ task delete m2 >/dev/null 2>&1 || true
ctr_ c rm m2 >/dev/null 2>&1 || true

# ---- the VM moves ---------------------------------------------------------------
expect "the real destination is created" incoming m1
DST_QEMU=$(b_pid m1)
out=$(migrate m1 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "the VM migrates from A's shim to B's" [ "$rc" -eq 0 ]
line=$(grep '^migrated ' <<<"$out" || true)
num() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
expect "with its total time, downtime and bytes sent ($line)" \
  bash -c '[ -n "$1" ] && [ "$2" -gt 0 ] && [ "$3" -gt 1000000 ]' _ "$line" "$(num total_ms)" "$(num bytes)"
# Its uptime went on by about the migration's own duration: the same
# guest, not one booted again.
expect "the guest on the destination is the same running guest (uptime $(num source_uptime_ms) ms at export, $(num destination_uptime_ms) ms after, $(num total_ms) ms later)" \
  bash -c 'd=$(($2 - $1)); [ "$1" -gt 0 ] && [ "$d" -ge $(($3 / 2)) ] && [ "$d" -le $(($3 + 2000)) ]' _ \
  "$(num source_uptime_ms)" "$(num destination_uptime_ms)" "$(num total_ms)"
expect "the destination set the guest's clock" grep -q '"guest clock set (it fell behind by the downtime)"' "$B/containerd.log"
expect "the source's QEMU is gone" wait_for 10 pid_gone "$SRC_QEMU"
expect "the source's task ended as moved (STOPPED, status 0)" \
  bash -c 'ctr -a "$1" -n "$2" task ls | awk '"'"'$1 == "m1" { print $3 }'"'"' | grep -qx STOPPED' _ "$T/containerd.sock" "$NS"
expect "the source's shim logged the move, not a fault" grep -q '"sandbox moved to the destination"' "$T/containerd.log"
expect "B's shim answers State: RUNNING with the destination's QEMU" \
  bash -c '[ "$1" = RUNNING ] && [ "$2" = "$3" ] && kill -0 "$3"' _ "$(b_status m1)" "$(b_pid m1)" "$DST_QEMU"
expect "B's shim takes a Kill of SIGTERM" ctr_b task kill -s SIGTERM m1
expect "which powers the guest off" wait_for 30 b_status_is m1 STOPPED
expect "through the guest agent (asked over the adopted bridge)" grep -q '"asked the guest to power off"' "$B/containerd.log"
expect "B's QEMU exited" wait_for 10 pid_gone "$DST_QEMU"
sleep 1
kill "$EVENTS_A" "$EVENTS_B" 2>/dev/null || true
expect "B published the exit ($(event_topics "$T/events-b"))" grep -q "/tasks/exit.*m1" "$T/events-b"
expect "A published no exit for the sandbox that moved ($(event_topics "$T/events-a"))" \
  bash -c '! grep "/tasks/exit" "$1" | grep -q m1' _ "$T/events-a"
expect "A's moved task is deleted" remove m1
expect "B's task is deleted" remove_b m1
expect "nothing is left on the source" all_clean 20
expect "nothing is left on the destination" wait_for 20 b_clean
expect "no QEMU of the migrations is left" bash -c '! pgrep -f "^$1 -name lcow-" >/dev/null' _ "$QEMU"
finish
