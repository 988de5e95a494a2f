#!/usr/bin/env bash
# Issue 7: faults.  The VMM killed under the shim; the shim killed under
# containerd; containerd restarted under the shim; the bundle's disk full.
# Each ends with one exit event at most, a clear error where there is one,
# and nothing left behind.
source "$(dirname "$0")/lib.sh"
lcow_setup
log="$T/containerd.log"
ctr_ events >"$T/events.log" 2>&1 &
EVENTS=$!
exits_of() { grep '/tasks/exit' "$T/events.log" | grep -c "\"$1\"" || true; }
zombie() { [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }

# --- the VMM killed with SIGKILL behind the shim's back --------------------
run_sandbox f1 >/dev/null
vmm=$(task_pid f1)
kill -9 "$vmm"
expect "the task stops when its VMM is killed" wait_for 10 status_is f1 STOPPED
expect "no zombie VMM" bash -c '! ps -o stat= -p "$1" | grep -q Z' _ "$vmm"
expect "the exit status is 137" bash -c 'grep "/tasks/exit" "$1" | grep "\"f1\"" | grep -q "\"exit_status\":137"' _ "$T/events.log"
expect "exactly one exit event" test "$(exits_of f1)" -eq 1
remove f1

# --- the shim killed with SIGKILL while its sandbox runs --------------------
run_sandbox f2 >/dev/null
vmm=$(task_pid f2)
shim=$(shim_pids)
kill -9 "$shim"
expect "the VMM dies with its shim (parent-death signal)" wait_for 10 pid_gone "$vmm"
expect "containerd noticed and cleaned the dead shim" wait_for 10 grep -q 'msg="cleaning up dead shim"' "$log"
ctr_ task delete f2 >/dev/null 2>&1 || true
ctr_ c rm f2 >/dev/null 2>&1 || true
expect "nothing left of f2 (shim, VMM, socket, state)" all_clean 10

# A listener that accepts into its backlog but never answers is what a dying
# shim looks like for a moment (containerd may run delete in that moment):
# delete must not take it for a live shim.
mute_bundle="$T/mute-bundle"; mkdir -p "$mute_bundle"
mute_sock="$T/s/mute"
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8); time.sleep(60)' "$mute_sock" &
mute=$!
wait_for 5 test -S "$mute_sock"
printf "unix://%s" "$mute_sock" >"$mute_bundle/address"
(cd "$mute_bundle" && CONTAINERD_SHIM_LCOW_SOCKET_DIR="$T/s" timeout 10 \
   "$SHIM_BIN_DIR/containerd-shim-lcow-v2" -namespace "$NS" -id mute -bundle "$mute_bundle" delete >/dev/null)
expect "delete: a listener that never answers is no live shim (its socket removed)" test ! -e "$mute_sock"
kill "$mute" 2>/dev/null; wait "$mute" 2>/dev/null || true

# --- containerd restarted while the shim runs ------------------------------
run_sandbox f3 >/dev/null
shim=$(shim_pids); vmm=$(task_pid f3)
kill "$EVENTS" 2>/dev/null || true
stop_containerd
expect "the shim outlives containerd" kill -0 "$shim"
# The VMM exits while nobody listens: the exit event must not be lost.
kill -9 "$vmm"
sleep 1
start_containerd
ctr_ events >"$T/events2.log" 2>&1 &
EVENTS=$!
if containerd_at_least 1 7; then
  # Since 1.7 a restarting containerd shuts down the shim of a task with no
  # process left (Pids answers none) and forgets the task, as it does
  # runc's: the shim must then leave nothing behind.
  expect "containerd $(containerd_version) forgets f3, whose VM died while it was down" \
    wait_for 15 task_forgotten f3
  expect "and its shim is gone" wait_for 15 pid_gone "$shim"
  ctr_ c rm f3 >/dev/null
else
  expect "containerd reconnects to the running shim: f3 is known" wait_for 10 bash -c '[ -n "$1" ]' _ "$(task_status f3)"
  expect "f3 reported STOPPED after the restart" wait_for 15 status_is f3 STOPPED
  expect "the exit reached containerd (in its log)" \
    wait_for 15 grep -q 'msg="event forwarded".*topic=/tasks/exit' "$log"
  expect "the same shim is serving" test "$(shim_pids)" = "$shim"
  remove f3
fi
expect "nothing left after the restart" all_clean 10

# --- the bundle's disk full ------------------------------------------------
ns_dir="$T/state/io.containerd.runtime.v2.task/$NS"
mkdir -p "$ns_dir"
mount -t tmpfs -o size=256k lcow-full "$ns_dir"
outcomes=""
for pages in 0 1 2 3 4 6 8 12; do
  rm -f "$ns_dir/filler"
  head -c $(( (64 - pages) * 4096 )) /dev/zero >"$ns_dir/filler" 2>/dev/null || true
  if out=$(run_sandbox "d$pages" 2>&1); then
    outcomes="$outcomes $pages:ok"
    ctr_ task kill -s SIGKILL "d$pages" >/dev/null 2>&1; wait_for 10 status_is "d$pages" STOPPED
    ctr_ task delete "d$pages" >/dev/null 2>&1 || true
  else
    grep -qi "no space left on device" <<<"$out" || { echo "    unexpected error with $pages free pages: $out"; outcomes="$outcomes $pages:BAD"; }
    grep -q "write uvm.json\|write address\|address" <<<"$out" && outcomes="$outcomes $pages:shim-enospc" || outcomes="$outcomes $pages:enospc"
  fi
  ctr_ c rm "d$pages" >/dev/null 2>&1 || true
  wait_for 10 nothing_left || outcomes="$outcomes $pages:LEFTOVER"
done
rm -f "$ns_dir/filler"
echo "    free pages -> outcome:$outcomes"
expect "a full bundle disk gives 'no space left on device' and leaves nothing" \
  bash -c '! grep -q "BAD\|LEFTOVER" <<<"$1"' _ "$outcomes"
expect "some attempts failed inside the shim, some ran" \
  bash -c 'grep -q "shim-enospc" <<<"$1" && grep -q ":ok" <<<"$1"' _ "$outcomes"
umount "$ns_dir"

# --- QEMU not installed ----------------------------------------------------
cat >"$T/noqemu.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "/nonexistent/qemu-system-x86_64", "boot_files_root_path": "$T/boot"}
JSON
expect "QEMU not installed: refused, naming the binary, nothing left" \
  refused f5 "VMM /nonexistent/qemu-system-x86_64 is not executable" --runtime-config-path "$T/noqemu.json"

# --- security: the hybrid vsock sockets and the state directory ------------
# A guest that never connects to the agent port keeps that listener open.
write_shim_config "$T/nogcs.json" '"vmm_args": ["--no-gcs"]' '"gcs_connection_timeout_ms": 4000'
(run_sandbox f4 --runtime-config-path "$T/nogcs.json" >/dev/null 2>&1 || true) &
RUN=$!
wait_for 5 bash -c 'compgen -G "$1/*/vm/vsock_1073741824" >/dev/null' _ "$STATE_ROOT" || true
sd=$(dirname "$(dirname "$(compgen -G "$STATE_ROOT/*/vm/vsock_1073741824" | head -1)")")
vmm_uid=$(json_get "$(bundle_of f4)/uvm.json" vmm_uid)
expect "state root is root-owned and not writable by others" \
  bash -c '[ "$(stat -c %U "$1")" = root ] && [ $(( 0$(stat -c %a "$1") & 022 )) -eq 0 ]' _ "$STATE_ROOT"
expect "the sandbox state directory is root's, 0711 (no listing)" \
  bash -c '[ "$(stat -c %U:%a "$1")" = root:711 ]' _ "$sd"
expect "the VMM's own directory is 0700, its uid's ($vmm_uid)" \
  bash -c '[ "$(stat -c %u:%a "$1/vm")" = "$2:700" ]' _ "$sd" "$vmm_uid"
expect "the listening hybrid vsock socket is 0600, the VMM's uid's" \
  bash -c '[ "$(stat -c %u:%a "$1/vm/vsock_1073741824")" = "$2:600" ]' _ "$sd" "$vmm_uid"
lease="$STATE_ROOT/vmm-uids/$vmm_uid.lock"
expect "its uid is leased while it lives ($lease)" [ -e "$lease" ]
wait "$RUN"
ctr_ c rm f4 >/dev/null 2>&1 || true
expect "and let go with it" wait_for 5 bash -c '[ ! -e "$1" ]' _ "$lease"

# --- VMM identities: one live sandbox per uid, never root by surprise ------
write_shim_config "$T/fixed.json" '"vmm_user": "4242:4242"'
expect "a configured VMM uid runs one sandbox" run_sandbox f6 --runtime-config-path "$T/fixed.json"
out=$(run_sandbox f7 --runtime-config-path "$T/fixed.json" 2>&1) && rc=0 || rc=$?
ctr_ c rm f7 >/dev/null 2>&1 || true
expect "a second sandbox on it is refused, naming it ($out)" \
  bash -c '[ "$1" -ne 0 ] && grep -q "vmm_user 4242:4242 is held by another live sandbox" <<<"$2"' _ "$rc" "$out"
kill_and_wait f6 SIGKILL && remove f6 >/dev/null
expect "once the first is gone the uid serves another" run_sandbox f7 --runtime-config-path "$T/fixed.json"
kill_and_wait f7 SIGKILL && remove f7 >/dev/null
mkdir -m 0700 "$T/private-boot"
cp "$T/boot/kernel" "$T/boot/initrd.img" "$T/private-boot/"
private_config() { # private_config FILE [MEMBER]: boot files only root reads
  cat >"$1" <<JSON
{"vmm": "exec", "vmm_path": "$FAKE_GUEST", "boot_files_root_path": "$T/private-boot",
 "layer_cache_dir": "$T/layers", "gcs_connection_timeout_ms": 10000${2:+, $2}}
JSON
}
private_config "$T/private.json"
expect "boot files the VMM's uid cannot read fail the sandbox (no silent root)" \
  refused f8 "cannot read $T/private-boot/kernel" --runtime-config-path "$T/private.json"
private_config "$T/root.json" '"vmm_user": "root"'
expect "unless vmm_user says root" run_sandbox f8 --runtime-config-path "$T/root.json"
expect "and then it is root" test "$(json_get "$(bundle_of f8)/uvm.json" vmm_uid)" = 0
kill_and_wait f8 SIGKILL && remove f8 >/dev/null
kill "$EVENTS" 2>/dev/null || true
expect "clean at the end" all_clean 10
finish
