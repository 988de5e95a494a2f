#!/usr/bin/env bash
# Issue 2: a private containerd 1.6 drives the shim through a whole sandbox
# lifecycle with the exec VMM and the fake guest.
source "$(dirname "$0")/lib.sh"
lcow_setup

ctr_ events >"$T/events.log" 2>&1 &
EVENTS_PID=$!
sleep 0.2

# --- a standalone sandbox: RUNNING, pid = the VMM's ---------------------
expect "ctr run -d starts a sandbox" run_sandbox s1
expect "task s1 is RUNNING" test "$(task_status s1)" = RUNNING
pid=$(task_pid s1)
expect "task pid is the VMM (fake guest) process" \
  grep -q fake-guest "/proc/$pid/cmdline"
expect "one shim process for s1" test "$(shim_pids | wc -w)" -eq 1
b=$(bundle_of s1)
expect "address file written" grep -q "^unix://$T/s/[0-9a-f]\{64\}$" "$b/address"
# The VMM must not inherit the shim's listening socket: it would keep the
# socket "served" for delete after the shim died.
listener_inode() { awk -v p="$(sed 's|unix://||' "$b/address")" '$8 == p { print $7 }' /proc/net/unix; }
expect "the VMM does not hold the shim's listening socket" \
  bash -c '[ -n "$1" ] && ! ls -l "/proc/$2/fd" | grep -q "socket:\[$1\]"' _ "$(listener_inode)" "$pid"
want='initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet pci=off nr_cpus=2 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel info'
expect "uvm.json kernel_cmdline (not migratable)" test "$(json_get "$b/uvm.json" kernel_cmdline)" = "$want"
expect "uvm.json live_migration false" test "$(json_get "$b/uvm.json" live_migration)" = false
expect "uvm.json log_listener names port 109" grep -q '"log_listener": ".*/vsock_109"' "$b/uvm.json"
expect "uvm.json vmm_argv names the fake guest" grep -q fake-guest "$b/uvm.json"
expect "the agent's hello is in uvm.json" grep -q '"kernel_release": "fake-guest"' "$b/uvm.json"

# --- Kill: exactly one exit event, STOPPED --------------------------------
expect "ctr task kill" ctr_ task kill s1
expect "s1 becomes STOPPED" wait_for 10 status_is s1 STOPPED
expect "the VMM is gone" wait_for 5 pid_gone "$pid"
expect "ctr task delete" ctr_ task delete s1
expect "ctr c rm" ctr_ c rm s1
expect "no shim process left" wait_for 5 no_shims
expect "no shim socket left" test ! -e "$(sed 's|unix://||' "$b/address" 2>/dev/null || echo /nonexistent)"
expect "no sandbox state left" test "$(state_dir_count)" -eq 0
expect "the shim closed every handle: its loop was empty at exit" \
  wait_for 5 grep -q 'msg="event loop closed empty"' "$T/containerd.log"
sleep 0.3
kill "$EVENTS_PID" 2>/dev/null || true
wait "$EVENTS_PID" 2>/dev/null || true
topics=$(event_topics "$T/events.log")
expect "events in order: create start exit delete (got: $topics)" \
  test "$topics" = "/tasks/create /tasks/start /tasks/exit /tasks/delete "
expect "exactly one exit event" test "$(grep -c '/tasks/exit' "$T/events.log")" -eq 1

# --- migratable: the kernel command line drops the log wrapper -----------
expect "migratable sandbox runs" run_sandbox m1 --annotation io.microsoft.migration.allowed=true
b=$(bundle_of m1)
want='initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet pci=off nr_cpus=2 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/gcs -v4 -log-format json -loglevel info'
expect "uvm.json kernel_cmdline (migratable)" test "$(json_get "$b/uvm.json" kernel_cmdline)" = "$want"
expect "uvm.json live_migration true" test "$(json_get "$b/uvm.json" live_migration)" = true
expect "uvm.json log_listener null" test "$(json_get "$b/uvm.json" log_listener)" = null
expect "SIGKILL stops the migratable sandbox" kill_and_wait m1 SIGKILL
out=$(ctr_ task delete m1 2>&1)
expect "ctr reports exit code 137 after SIGKILL" grep -q 'exit code 137' <<<"$out"
ctr_ c rm m1 >/dev/null 2>&1 || true

# --- grouping: a CRI container joins its sandbox's shim -------------------
expect "pod sandbox runs" run_sandbox pod1 \
  --annotation io.kubernetes.cri.container-type=sandbox \
  --annotation io.kubernetes.cri.sandbox-id=pod1
shims_before=$(shim_pids | wc -w)
out=$(ctr_ run -d --runtime io.containerd.lcow.v2 --annotation io.kubernetes.cri.container-type=container \
  --annotation io.kubernetes.cri.sandbox-id=pod1 --rootfs "$T/rootfs" app1 /bin/true 2>&1) && rc=0 || rc=$?
expect "container create reached the pod's shim (refused: the exec VMM has no disks)" \
  bash -c "[ $rc -ne 0 ] && grep -q 'cannot hot-add disks' <<<'$out'"
expect "still one shim for the pod" test "$(shim_pids | wc -w)" -eq "$shims_before"
expect "the pod's sandbox still runs" test "$(task_status pod1)" = RUNNING
expect "the pod's shim started once" test "$(grep -c 'msg="shim started"' "$T/containerd.log")" -eq 3
ctr_ c rm app1 >/dev/null 2>&1 || true
expect "the pod sandbox stops" kill_and_wait pod1 SIGKILL
expect "the pod is removed" remove pod1
expect "no shim left after the pod" wait_for 5 no_shims

# --- the pod's cgroup: the VMM joins linux.cgroupsPath in every hierarchy ---
# As the kubelet's systemd driver names it (containerd passes it on), and
# as cgroupfs paths are.
cgroups_of() { awk -F: '{ print $3 }' "/proc/$1/cgroup" | sort -u; }
hierarchy_dirs() { find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d; }
for case in "kubepods-besteffort-podlcow.slice:cri-containerd:cg1 kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podlcow.slice/cri-containerd-cg1.scope" \
            "/lcow-kubepods/podlcow/cg1 lcow-kubepods/podlcow/cg1"; do
  # shellcheck disable=SC2086 # two words: the path given and the one expected
  set -- $case
  expect "a sandbox with cgroupsPath $1 runs" run_sandbox cg1 --cgroup "$1"
  pid=$(task_pid cg1)
  expect "its VMM is in /$2 in every hierarchy ($(cgroups_of "$pid" | tr '\n' ' '))" \
    [ "$(cgroups_of "$pid")" = "/$2" ]
  expect "uvm.json names the cgroup" grep -q "\"cgroup\": \"$2\"" "$(bundle_of cg1)/uvm.json"
  expect "cg1 stops" kill_and_wait cg1 SIGKILL
  remove cg1 >/dev/null
  expect "its cgroup is removed from every hierarchy" \
    bash -c 'for h in $(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d); do [ ! -e "$h/$1" ] || exit 1; done' _ "$2"
  # The parents are the kubelet's to remove; here, the test's.
  for h in $(hierarchy_dirs); do d=$h/$(dirname "$2"); while [ "$d" != "$h" ]; do rmdir "$d" 2>/dev/null; d=$(dirname "$d"); done; done
done
out=$(run_sandbox cg2 --cgroup "kubepods:x" 2>&1) && rc=0 || rc=$?
expect "a cgroupsPath of neither form is refused, named ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "neither an absolute cgroupfs path nor systemd" <<<"$2"' _ "$rc" "$out"
ctr_ c rm cg2 >/dev/null 2>&1 || true

finish
