#!/usr/bin/env bash
# Issue 4: the host side of the vsock ports.  A non-migratable sandbox's
# guest logs reach the shim log (containerd's log, as containerd records the
# bundle's log FIFO) with levels and fields; a migratable one binds no log
# port, is never connected to on it, and its Wait returns when the VMM exits.
source "$(dirname "$0")/lib.sh"
lcow_setup
log="$T/containerd.log"

# --- not migratable: logs forwarded --------------------------------------
write_shim_config "$T/logs.json" '"vmm_args": ["--logs", "3", "--panic"]'
expect "non-migratable sandbox runs" run_sandbox g1 --runtime-config-path "$T/logs.json"
expect "the log port was bound" grep -q 'msg="listening on vsock port" port=109' "$log"
expect "an info entry with its fields" \
  grep -q 'level=info msg="fake guest log 0" index=0 ratio=0.25 uvm-id=g1 vm.time="2026-11-22T10:30:00.5Z"' "$log"
expect "a debug entry at debug level" grep -q 'level=debug msg="fake guest log 1" index=1' "$log"
expect "fatal is clamped to error" grep -q 'level=error msg="fake guest log 2" index=2' "$log"
expect "no 'gcs terminated' while the stream is open" bash -c '! grep -q "gcs terminated" "$1"' _ "$log"
kill_and_wait g1 SIGKILL && remove g1
# The rest of the stream is reported once it ends, as upstream does.
expect "trailing panic text is 'gcs terminated' with stderr" \
  wait_for 5 grep -q 'level=error msg="gcs terminated" uvm-id=g1 stderr="panic: fake guest agent failure' "$log"

# --- migratable: no log port, Wait returns at VMM exit ----------------------
write_shim_config "$T/exit.json" '"vmm_args": ["--exit-after", "700", "--exit-code", "3"]'
start=$(date +%s%N)
out=$(timeout 30 ctr -a "$T/containerd.sock" -n "$NS" run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/exit.json" \
  --annotation io.microsoft.migration.allowed=true --annotation io.kubernetes.cri.container-type=sandbox \
  --annotation io.kubernetes.cri.sandbox-id=m1 --rootfs "$T/rootfs" m1 2>&1) && rc=0 || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "foreground ctr run returns the VMM's exit code 3 (rc=$rc, ${ms} ms)" test "$rc" -eq 3
expect "the shim logged that it skips the log listener" \
  grep -q 'msg="skipping GCS log listener: sandbox is live-migratable" uvm-id=m1' "$log"
expect "the guest found no log forwarder on its command line" \
  grep -q 'fake-guest: no log forwarder on the command line' "$log"
m1_lines=$(grep 'uvm-id=m1' "$log" || true)
expect "no listener on port 109 for m1" bash -c '! grep -q "port=109" <<<"$1"' _ "$(sed -n '/sandbox=m1/,$p' "$log" | grep 'listening on vsock port' | head -3)"
expect "no guest log entries for m1" bash -c '! grep -q "fake guest log" <<<"$1"' _ "$m1_lines"
expect "the agent connected to m1" grep -q 'msg="guest agent connected" uvm-id=m1' "$log"

# --- two sandboxes at once over the per-VM hybrid transport -----------------
expect "sandbox a runs" run_sandbox two-a
expect "sandbox b runs at the same time" run_sandbox two-b --annotation io.microsoft.migration.allowed=true
expect "both RUNNING" bash -c '[ "$1" = RUNNING ] && [ "$2" = RUNNING ]' _ "$(task_status two-a)" "$(task_status two-b)"
expect "two shims, two VMMs" test "$(shim_pids | wc -w)" -eq 2
kill_and_wait two-a SIGKILL && remove two-a
kill_and_wait two-b SIGKILL && remove two-b
expect "clean at the end" all_clean 5
finish
