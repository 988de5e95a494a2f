#!/usr/bin/env bash
# Issue 6: containers run inside the sandbox's UVM through the guest agent.
# A standalone `ctr run` runs its process in its own UVM (its output shows
# the guest's kernel and command line); stdin, exit codes, exec and kill
# work; a CRI pod shares one shim and one UVM between a sandbox and its
# containers, with pod files copied in, and a migratable pod refuses a
# container with a directory mount while the others keep running.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
readable_bootfiles
cat >"$T/qemu.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$QEMU", "boot_files_root_path": "$BOOTFILES_DIR",
 "pod_file_roots": ["$T/cri/io.containerd.grpc.v1.cri/sandboxes"], "memory_mb": 512, "gcs_connection_timeout_ms": 90000, "stop_grace_ms": 10000}
JSON
ROOTFS="$T/ctr-rootfs"
make_rootfs "$ROOTFS"
# The sandboxes' cgroups (ctr names /<namespace>/<id>), in one hierarchy:
# what this script made must be gone at its end.
CG=$(dirname "$(find /sys/fs/cgroup -maxdepth 2 -name cgroup.procs | head -n 1)")
# (the namespace's directory itself may not exist yet: nothing then)
cgroups_now() { { find "$CG/$NS" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true; } | sort; }
CG_BEFORE=$(cgroups_now)
RUN=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
host_release=$(uname -r)
guest_release=$(cat "$BOOTFILES_DIR/kernel.release")

# --- standalone: output from inside the UVM, exit code ---------------------
out=$("${RUN[@]}" --rootfs "$ROOTFS" s1 /bin/sh -c 'uname -r; cat /proc/cmdline; exit 7' 2>&1) && rc=0 || rc=$?
echo "  s1 output: $(head -c 300 <<<"$out" | tr '\n' '|')"
expect "ctr run prints the guest kernel's release ($guest_release)" grep -qxF "$guest_release" <<<"$out"
expect "which differs from the host's ($host_release)" [ "$guest_release" != "$host_release" ]
expect "the process read the guest's /proc/cmdline" grep -q 'vsockexec\|init=' <<<"$out"
expect "the exit code propagates (7)" [ "$rc" -eq 7 ]
ctr_ c rm s1 >/dev/null 2>&1 || true

# --- stdin ------------------------------------------------------------------
out=$(printf 'line one\nline two\n' | "${RUN[@]}" --rootfs "$ROOTFS" s2 /bin/cat 2>&1) && rc=0 || rc=$?
expect "stdin reaches the process and comes back (echo data | ctr run ... cat)" \
  [ "$out" = $'line one\nline two' ]
expect "cat exits 0 after stdin ends" [ "$rc" -eq 0 ]
ctr_ c rm s2 >/dev/null 2>&1 || true

# --- capabilities and no_new_privs as runc sets them (issue 20) --------------
# The same ctr specs under runc (containerd's default runtime) and in the UVM:
# what the process sees in /proc/self/status must be the same, line by line.
n=0
for flags in "" "--cap-drop CAP_CHOWN --cap-drop CAP_NET_RAW --cap-add CAP_SYS_PTRACE" "--allow-new-privs"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  runc_out=$(ctr_ run --rm $flags --rootfs "$ROOTFS" "runc$n" /bin/sh -c \
    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status" 2>&1)
  # shellcheck disable=SC2086
  lcow_out=$("${RUN[@]}" --rm $flags --rootfs "$ROOTFS" "caps$n" /bin/sh -c \
    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status" 2>&1)
  echo "  ctr run ${flags:-(default)}: runc | UVM"
  paste -d'|' <(echo "$runc_out") <(echo "$lcow_out") | sed 's/^/    /'
  expect "capabilities and NoNewPrivs as under runc: ${flags:-default spec}" \
    [ "${runc_out:-nothing from runc}" = "$lcow_out" ]
done

# Masked and read-only paths (containerd's default lists): how each is
# mounted, as the process sees it in /proc/self/mountinfo.  The host's and
# the guest's kernels differ in what exists (this host has no /proc/kcore):
# a path either side lacks is left out of the comparison.
protect='for p in /proc/kcore /proc/keys /proc/timer_list /proc/sysrq-trigger /sys/firmware /proc/sys /proc/bus /proc/fs /proc/irq; do
  [ -e $p ] || { echo "$p absent"; continue; }
  awk -v p=$p '"'"'$5 == p { split($6, o, ","); m = m " " o[1] } END { print p (m == "" ? " -" : m) }'"'"' /proc/self/mountinfo
done'
runc_out=$(ctr_ run --rm --rootfs "$ROOTFS" runc-paths /bin/sh -c "$protect" 2>&1)
lcow_out=$("${RUN[@]}" --rm --rootfs "$ROOTFS" paths /bin/sh -c "$protect" 2>&1)
echo "  masked and read-only paths: runc | UVM"
paste -d'|' <(echo "$runc_out") <(echo "$lcow_out") | sed 's/^/    /'
absent=$(printf '%s\n%s\n' "$runc_out" "$lcow_out" | awk '$2 == "absent" { print $1 }' | sort -u)
both() { awk -v skip="$absent" 'BEGIN { n = split(skip, a, "\n"); for (i = 1; i <= n; i++) s[a[i]] = 1 } !($1 in s)' <<<"$1"; }
expect "masked and read-only paths mounted as under runc ($(both "$runc_out" | wc -l) paths both kernels have)" \
  [ "$(both "${runc_out:-nothing from runc}")" = "$(both "$lcow_out")" ]
# What the guest has and this host lacks is protected too ('h' only prints
# the sysrq help, were it ever let through; the project's kernel has no
# /proc/kcore at all).
out=$("${RUN[@]}" --rm --rootfs "$ROOTFS" masked /bin/sh -c \
  'if [ -e /proc/kcore ]; then wc -c </proc/kcore; else echo absent; fi; echo h 2>/dev/null >/proc/sysrq-trigger && echo written || echo refused' 2>&1)
# shellcheck disable=SC2086,SC2116 # echo joins the lines into words
expect "in the UVM /proc/kcore is absent or reads empty, /proc/sysrq-trigger refuses writes ($(echo $out))" \
  bash -c '[ "$1" = "0 refused" ] || [ "$1" = "absent refused" ]' _ "$(echo $out)"

# What a privileged pod's network tools do (issue 30's NET_ADMIN rows): the
# guest kernel has bridge, veth, VLAN and tun/tap built in, nothing to load.
# Without the capability the same commands are refused.
nettools='/bin/busybox brctl addbr foobar && /bin/busybox ip link add v0 type veth &&
  /bin/busybox ip link set foobar up && /bin/busybox vconfig add v0 7 >/dev/null &&
  /bin/busybox tunctl -t t0 >/dev/null && /bin/busybox ip -o link show | /bin/busybox awk "{ print \$2 }" | /bin/busybox tr -d ":" | /bin/busybox sort | /bin/busybox tr "\n" " "'
out=$("${RUN[@]}" --rm --privileged --rootfs "$ROOTFS" nettools /bin/sh -c "$nettools" 2>&1)
expect "a privileged container makes a bridge, a veth pair, a VLAN and a TAP ($out)" \
  bash -c 'for l in foobar "v0@veth0" "v0.7@v0" t0; do grep -qw -- "$l" <<<"$1" || exit 1; done' _ "$out"
out=$("${RUN[@]}" --rm --rootfs "$ROOTFS" nettools2 /bin/sh -c '/bin/busybox brctl addbr foobar && echo made' 2>&1) || true
expect "without NET_ADMIN the bridge is refused ($out)" bash -c '! grep -qx made <<<"$1"' _ "$out"

# oomScoreAdj and sysctls scoped by the container's namespaces, from one
# spec file (ctr's default spec with those added) under both runtimes.
ctr oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec["process"]["args"] = ["/bin/sh", "-c", "cat /proc/self/oom_score_adj /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max"]
spec["process"]["oomScoreAdj"] = 123
spec["root"]["path"] = sys.argv[1]
spec["linux"]["sysctl"] = {"kernel.shmmax": "65536", "fs.mqueue.msg_max": "20"}
json.dump(spec, sys.stdout)' "$ROOTFS" >"$T/sysctl-spec.json"
runc_out=$(ctr_ run --rm --config "$T/sysctl-spec.json" runc-sysctl 2>&1) || true
lcow_out=$("${RUN[@]}" --rm --config "$T/sysctl-spec.json" sysctl 2>&1) || true
echo "  oomScoreAdj, kernel.shmmax, fs.mqueue.msg_max: runc | UVM"
paste -d'|' <(echo "$runc_out") <(echo "$lcow_out") | sed 's/^/    /'
expect "oomScoreAdj and namespaced sysctls as under runc" \
  [ "${runc_out:-nothing from runc}" = "$lcow_out" ]
# shellcheck disable=SC2086,SC2116 # echo joins the lines into words
expect "the values are the spec's (123 65536 20)" [ "$(echo $lcow_out)" = "123 65536 20" ]
python3 -c '
import json, sys
spec = json.load(open(sys.argv[1]))
spec["linux"]["sysctl"] = {"vm.overcommit_memory": "1"}
json.dump(spec, open(sys.argv[1], "w"))' "$T/sysctl-spec.json"
out=$("${RUN[@]}" --rm --config "$T/sysctl-spec.json" sysctl-vm 2>&1) && rc=0 || rc=$?
expect "a sysctl that would change the whole UVM is refused, named ($(head -c 160 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "vm.overcommit_memory (not scoped" <<<"$2"' _ "$rc" "$out"
ctr_ c rm sysctl-vm >/dev/null 2>&1 || true

# compare LABEL RUNC_OUTPUT LCOW_OUTPUT: prints both side by side and
# expects them identical.
compare() {
  echo "  $1: runc | UVM"
  paste -d'|' <(echo "$2") <(echo "$3") | sed 's/^/    /'
  expect "$1: as under runc" [ "${2:-nothing from runc}" = "$3" ]
}

# A seccomp profile that denies mkdir, with and without no_new_privs.
status='grep -E "^(NoNewPrivs|Seccomp)" /proc/self/status; mkdir /tmp/x 2>&1 && echo mkdir allowed'
for nnp in true false; do
  ctr oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec["process"]["args"] = ["/bin/sh", "-c", sys.argv[2]]
spec["process"]["noNewPrivileges"] = sys.argv[3] == "true"
spec["root"]["path"] = sys.argv[1]
spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}
json.dump(spec, sys.stdout)' "$ROOTFS" "$status" "$nnp" >"$T/seccomp-$nnp.json"
  compare "seccomp profile denying mkdir, noNewPrivileges $nnp" \
    "$(ctr_ run --rm --config "$T/seccomp-$nnp.json" "runc-seccomp-$nnp" 2>&1)" \
    "$("${RUN[@]}" --rm --config "$T/seccomp-$nnp.json" "seccomp-$nnp" 2>&1)"
done
python3 -c '
import json, sys
spec = json.load(open(sys.argv[1]))
spec["linux"]["seccomp"]["syscalls"].append({"names": ["rmdir"], "action": "SCMP_ACT_NOTIFY"})
spec["linux"]["seccomp"]["architectures"].append("SCMP_ARCH_VAX")
json.dump(spec, open(sys.argv[1], "w"))' "$T/seccomp-true.json"
out=$("${RUN[@]}" --rm --config "$T/seccomp-true.json" seccomp-bad 2>&1) && rc=0 || rc=$?
expect "a profile the guest cannot apply is refused, each item named ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "SCMP_ARCH_VAX is unknown" <<<"$2" && grep -q "SCMP_ACT_NOTIFY has no listener" <<<"$2"' _ "$rc" "$out"
ctr_ c rm seccomp-bad >/dev/null 2>&1 || true

# A read-only root; mount refused without CAP_SYS_ADMIN.
ro='touch /x 2>&1 | sed "s/.*: //"; mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo mount refused'
compare "read-only root, mount" "$(ctr_ run --rm --read-only --rootfs "$ROOTFS" runc-ro /bin/sh -c "$ro" 2>&1)" \
  "$("${RUN[@]}" --rm --read-only --rootfs "$ROOTFS" ro /bin/sh -c "$ro" 2>&1)"

# An image whose symlinks point out of its root (absolute, and up with
# ".."): a mount through them lands in the container's root, as runc
# resolves it, not on the guest's own directories.
cp -a "$ROOTFS" "$T/rootfs-links"
mkdir -p "$T/rootfs-links/tmp/target"
ln -s /tmp/target "$T/rootfs-links/evil"
ln -s ../../../../.. "$T/rootfs-links/up"
links='stat -f -c %T /evil/planted; stat -f -c %T /up/tmp/target/up-planted'
# shellcheck disable=SC2054 # commas separate mount options, not elements
mounts=(--mount type=tmpfs,src=tmpfs,dst=/evil/planted,options=size=1m
        --mount type=tmpfs,src=tmpfs,dst=/up/tmp/target/up-planted,options=size=1m)
compare "mounts through the image's symlinks" \
  "$(ctr_ run --rm "${mounts[@]}" --rootfs "$T/rootfs-links" runc-links /bin/sh -c "$links" 2>&1)" \
  "$("${RUN[@]}" --rm "${mounts[@]}" --rootfs "$T/rootfs-links" links /bin/sh -c "$links" 2>&1)"

# Devices: the nodes in /dev, and mknod then open of nodes the spec does
# not list (memory, disks, a terminal): made, but refused by the devices
# cgroup.
dev='ls /dev | tr "\n" " "; echo; for d in "c 1 3 null" "c 1 1 mem" "b 8 0 sda" "b 254 0 vda" "c 4 1 tty1"; do set -- $d
  mknod /tmp/$4 $1 $2 $3 2>/dev/null && m="mknod made" || m="mknod refused"
  if head -c 1 /tmp/$4 >/dev/null 2>/tmp/err; then o="open allowed"; else o="open: $(sed "s/.*: //" /tmp/err)"; fi
  echo "$4: $m, $o"; rm -f /tmp/$4 /tmp/err; done'
compare "devices" "$(ctr_ run --rm --rootfs "$ROOTFS" runc-dev /bin/sh -c "$dev" 2>&1)" \
  "$("${RUN[@]}" --rm --rootfs "$ROOTFS" dev /bin/sh -c "$dev" 2>&1)"

# A PID namespace of its own: the process is pid 1 and sees only itself.
pidns='echo "pid $$"; set -- /proc/[0-9]*; echo "$# processes"'
compare "PID namespace" "$(ctr_ run --rm --rootfs "$ROOTFS" runc-pid /bin/sh -c "$pidns" 2>&1)" \
  "$("${RUN[@]}" --rm --rootfs "$ROOTFS" pid /bin/sh -c "$pidns" 2>&1)"

# Two containers of one pod, in the pod's PID, UTS and IPC namespaces (CRI
# names the sandbox task's; shareProcessNamespace for PID) or in their own
# PID namespace.  The sandbox spec carries the pod's hostname.  Under runc the
# "sandbox" is a sleeping container with that spec.
sees='[ $$ -eq 1 ] && echo "own init" || echo "not init"
  p=$(grep -l "^sleep" /proc/[0-9]*/comm | head -n 1)
  if [ -n "$p" ]; then echo "sees the other container"; d=${p%/comm}
    for ns in ipc uts; do [ "$(readlink $d/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] && echo "same $ns namespace" || echo "other $ns namespace"; done
    echo "hostname $(uname -n)"
  else echo "sees no other container"; fi'
ctr oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec["process"]["args"] = ["/bin/sleep", "600"]
spec["root"]["path"] = sys.argv[1]
spec["hostname"] = "pod-host"
spec["annotations"] = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "pod2"}
json.dump(spec, sys.stdout)' "$ROOTFS" >"$T/pod2-sandbox.json"
with_pod_ns() { for ns in pid uts ipc; do echo "--with-ns $ns:/proc/$1/ns/$ns"; done; }
ctr_ run -d --config "$T/pod2-sandbox.json" runc-sb >/dev/null
sbpid=$(ctr_ task ls | awk '$1 == "runc-sb" { print $2 }')
# shellcheck disable=SC2046
ctr_ run -d $(with_pod_ns "$sbpid") --rootfs "$ROOTFS" runc-other /bin/sleep 600 >/dev/null
# shellcheck disable=SC2046
runc_shared=$(ctr_ run --rm $(with_pod_ns "$sbpid") --rootfs "$ROOTFS" runc-shared /bin/sh -c "$sees" 2>&1)
runc_own=$(ctr_ run --rm --rootfs "$ROOTFS" runc-own /bin/sh -c "$sees" 2>&1)
for id in runc-other runc-sb; do ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1; wait_for 10 status_is "$id" STOPPED; remove "$id" >/dev/null 2>&1 || true; done
POD2=(--annotation io.kubernetes.cri.sandbox-id=pod2)
"${RUN[@]}" -d --config "$T/pod2-sandbox.json" pod2 >/dev/null
expect "pod2's sandbox runs" wait_for 60 status_is pod2 RUNNING
sbpid=$(ctr_ task ls | awk '$1 == "pod2" { print $2 }')
# shellcheck disable=SC2207
SHARED=(--annotation io.kubernetes.cri.container-type=container "${POD2[@]}" $(with_pod_ns "$sbpid"))
"${RUN[@]}" -d "${SHARED[@]}" --rootfs "$ROOTFS" p2-other /bin/sleep 600 >/dev/null
expect "a container in the pod's namespaces runs" wait_for 60 status_is p2-other RUNNING
compare "a container in the pod's PID, UTS and IPC namespaces" "$runc_shared" \
  "$("${RUN[@]}" --rm "${SHARED[@]}" --rootfs "$ROOTFS" p2-shared /bin/sh -c "$sees" 2>&1)"
expect "it has the pod's hostname" grep -q "hostname pod-host" <<<"$runc_shared"
compare "a container in its own PID namespace beside it" "$runc_own" \
  "$("${RUN[@]}" --rm --annotation io.kubernetes.cri.container-type=container "${POD2[@]}" \
    --rootfs "$ROOTFS" p2-own /bin/sh -c "$sees" 2>&1)"
out=$("${RUN[@]}" -d --annotation io.kubernetes.cri.container-type=container "${POD2[@]}" \
  --with-ns "pid:/proc/1/ns/pid" --rootfs "$ROOTFS" p2-bad /bin/true 2>&1) && rc=0 || rc=$?
expect "a PID namespace other than the pod's is refused, named ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "pid namespace /proc/1/ns/pid is not the pod'"'"'s" <<<"$2"' _ "$rc" "$out"
ctr_ c rm p2-bad >/dev/null 2>&1 || true

# The agent out of reach: no container sees it or the guest's init; root in
# a container that kills every process it can see (the pod's namespace)
# leaves the agent serving; the bridge's virtio-serial port cannot be
# opened even through a node made for it, and without CAP_MKNOD no node can
# be made at all.
seen=$("${RUN[@]}" --rm "${SHARED[@]}" --rootfs "$ROOTFS" p2-ps /bin/sh -c 'cat /proc/[0-9]*/comm | sort -u | tr "\n" " "' 2>&1)
expect "no container sees the agent or the guest's init (it sees: $seen)" \
  bash -c '! grep -qw "gcs\|init\|vsockexec" <<<"$1" && grep -qw sleep <<<"$1"' _ "$seen"
"${RUN[@]}" --rm "${SHARED[@]}" --rootfs "$ROOTFS" p2-killer /bin/sh -c 'kill -KILL -1' >/dev/null 2>&1 || true
expect "after kill -KILL -1 in the pod's namespace, the other container is gone" wait_for 10 status_is p2-other STOPPED
out=$("${RUN[@]}" --rm --annotation io.kubernetes.cri.container-type=container "${POD2[@]}" \
  --rootfs "$ROOTFS" p2-after /bin/echo the agent still serves 2>&1)
expect "and the agent still serves the pod ($out)" [ "$out" = "the agent still serves" ]
port='major=$(awk "\$2 == \"virtio-portsdev\" { print \$1 }" /proc/devices); echo "major ${major:-none}"
  ls /dev | grep -c "^vport" ; mknod /tmp/port c "$major" 1 2>/dev/null && echo made || echo "mknod refused"
  if [ -c /tmp/port ]; then echo x 2>/dev/null >/tmp/port && echo "port opened" || echo "port refused"; else echo "no node"; fi'
out=$("${RUN[@]}" --rm "${SHARED[@]}" --rootfs "$ROOTFS" p2-port /bin/sh -c "$port" 2>&1)
echo "  as root with CAP_MKNOD: $(tr '\n' ' ' <<<"$out")"
expect "as root with CAP_MKNOD: no port node in /dev, one made by mknod cannot be opened" \
  bash -c 'grep -q "^major [0-9]" <<<"$1" && [ "$(sed -n 2,4p <<<"$1" | tr "\n" " ")" = "0 made port refused " ]' _ "$out"
out=$("${RUN[@]}" --rm "${SHARED[@]}" --cap-drop CAP_MKNOD --rootfs "$ROOTFS" p2-nomknod /bin/sh -c "$port" 2>&1)
expect "without CAP_MKNOD no node can be made ($(tr '\n' ' ' <<<"$out"))" \
  bash -c '[ "$(sed -n 3,4p <<<"$1" | tr "\n" " ")" = "mknod refused no node " ]' _ "$out"
remove p2-other >/dev/null 2>&1 || true
ctr_ task kill -s SIGKILL pod2 >/dev/null 2>&1 || true
wait_for 20 status_is pod2 STOPPED
remove pod2 >/dev/null 2>&1 || true

# --- an imported image: containerd's snapshot mounts (two layers) ----------
mkdir -p "$T/layer2/etc"; echo "from the upper layer" >"$T/layer2/etc/motd"
python3 "$TOP/test/integration/make_oci_image.py" "$T/img.tar" localhost/lcow-test:2 "$ROOTFS" "$T/layer2"
ctr_ image import "$T/img.tar" >/dev/null
out=$("${RUN[@]}" --rm localhost/lcow-test:2 i1 /bin/sh -c 'cat /etc/motd; uname -r' 2>&1) && rc=0 || rc=$?
expect "an imported two-layer image runs from its snapshot (both layers seen)" \
  bash -c '[ "$1" -eq 0 ] && grep -q "from the upper layer" <<<"$2" && grep -qxF "$3" <<<"$2"' _ "$rc" "$out" "$guest_release"

# --- a terminal: ctr run -t under script(1), whose pty is 33x101 -----------
tty_cmd="stty rows 33 cols 101; ctr -a $T/containerd.sock -n $NS run -t --runtime io.containerd.lcow.v2"
tty_cmd="$tty_cmd --runtime-config-path $T/qemu.json --rootfs $ROOTFS t1 /bin/sh -c 'tty; stty size; exit 4'"
out=$(timeout 120 script -qec "$tty_cmd" /dev/null 2>&1) && rc=0 || rc=$?
echo "  t1 output: $(tr -d '\r' <<<"$out" | tr '\n' '|')"
expect "ctr run -t: the process's terminal is from the container's devpts" grep -q '^.*/dev/pts/0' <<<"$out"
expect "ResizePty sized it as the client's (33 101)" grep -q '^33 101' <<<"$out"
expect "the exit code propagates through the terminal path (4)" [ "$rc" -eq 4 ]
ctr_ c rm t1 >/dev/null 2>&1 || true

# --- big output: nothing lost at exit -------------------------------------
out=$("${RUN[@]}" --rootfs "$ROOTFS" s3 /bin/sh -c 'i=0; while [ $i -lt 20000 ]; do echo "line $i of the output"; i=$((i+1)); done' 2>&1 | wc -l)
expect "20000 lines of output all arrive before the exit (got $out)" [ "$out" -eq 20000 ]
ctr_ c rm s3 >/dev/null 2>&1 || true

# --- exec and kill in a running container ----------------------------------
# The process is its PID namespace's init: SIGTERM ends it only through a
# handler, as under runc.
"${RUN[@]}" -d --memory-limit 100663296 --rootfs "$ROOTFS" s4 /bin/sh -c 'trap "exit 0" TERM; sleep 600 & wait' >/dev/null
expect "a detached container runs" wait_for 60 status_is s4 RUNNING
mem_limit() { ctr_ task metrics "$1" 2>/dev/null | awk '$1 == "memory.limit_in_bytes" { print $2 }'; }
expect "its memory limit is applied at create ($(mem_limit s4))" [ "$(mem_limit s4)" = 100663296 ]
# Update (containerd's UpdateContainerResources) through the shim socket:
# ctr has no command for it.
sock=$(sed 's|unix://||' "$(bundle_of s4)/address")
update() { python3 "$TOP/test/integration/ttrpc_client.py" "$sock" update "$1" 0 "${@:2}"; }
out=$(update s4 '{"memory":{"limit":67108864},"cpu":{"shares":512,"quota":20000,"period":100000},"pids":{"limit":4}}')
expect "Update of a running container answers OK ($out)" [ "$out" = "code 0: " ]
expect "the new memory limit holds ($(mem_limit s4))" [ "$(mem_limit s4)" = 67108864 ]
out=$(ctr_ task exec --exec-id forks s4 /bin/sh -c 'for i in 1 2 3 4 5; do sleep 2 & done; wait' 2>&1) || true
expect "the new pids limit holds (forks refused: $(grep -c "can't fork" <<<"$out"))" grep -q "can't fork" <<<"$out"
out=$(update s4 '{"cpu":{"cpus":"2-3"},"memory":{"kernel":1024},"blockIO":{"weight":10}}')
expect "what the UVM cannot apply is refused, each named ($(head -c 200 <<<"$out"))" \
  bash -c 'grep -q "^code 3: " <<<"$1" && grep -q "cpu.cpus (2-3)" <<<"$1" && grep -q "memory.kernel" <<<"$1" && grep -q blockIO <<<"$1"' _ "$out"
out=$(update s4 '{}' types.containerd.io/microsoft/hcsshim/WindowsResources)
expect "resources of another type are refused ($out)" grep -q "^code 3: .*expected types.containerd.io/opencontainers" <<<"$out"
update s4 '{"pids":{"limit":-1}}' >/dev/null
out=$(ctr_ task exec --exec-id e1 s4 /bin/sh -c 'echo exec says hello; hostname; exit 3' 2>&1) && rc=0 || rc=$?
expect "ctr task exec runs a second process in the container" grep -q 'exec says hello' <<<"$out"
expect "the exec'd process's exit code propagates (3)" [ "$rc" -eq 3 ]
pids=$(ctr_ task ps s4 2>&1 | tail -n +2 | wc -l)
expect "ctr task ps lists the container's processes ($pids)" [ "$pids" -ge 1 ]
expect "ctr task metrics answers" ctr_ task metrics s4
expect "ctr task kill stops it" kill_and_wait s4 SIGTERM
expect "delete works after the kill" ctr_ task delete s4
expect "the task is gone" bash -c "! ctr -a '$T/containerd.sock' -n $NS task ls -q | grep -qx s4"
expect "the container is removed" ctr_ c rm s4

# --- a pod: sandbox + two containers in one shim and one UVM ---------------
# Pod files where containerd's CRI plugin keeps them.
PODDIR="$T/cri/io.containerd.grpc.v1.cri/sandboxes/pod1"
mkdir -p "$PODDIR/shm"
printf '127.0.0.1 localhost\n10.1.2.3 pod-host\n' >"$PODDIR/hosts"
printf 'nameserver 10.0.0.53\n' >"$PODDIR/resolv.conf"
echo pod-host >"$PODDIR/hostname"
LM=io.microsoft.migration.allowed=true
POD=(--annotation io.kubernetes.cri.sandbox-id=pod1)
"${RUN[@]}" -d --annotation "$LM" --annotation io.kubernetes.cri.container-type=sandbox "${POD[@]}" \
  --rootfs "$ROOTFS" pod1 /bin/true >/dev/null
expect "the pod sandbox runs" wait_for 60 status_is pod1 RUNNING
sock=$(sed 's|unix://||' "$(bundle_of pod1)/address")
out=$(update pod1 '{"memory":{"limit":1073741824}}')
expect "Update of the pod sandbox task is Unimplemented, saying why ($out)" \
  grep -q "^code 12: .*resizing a running UVM is not supported" <<<"$out"
podfiles=(--mount "type=bind,src=$PODDIR/hosts,dst=/etc/hosts,options=rbind:ro"
          --mount "type=bind,src=$PODDIR/resolv.conf,dst=/etc/resolv.conf,options=rbind:ro"
          --mount "type=bind,src=$PODDIR/hostname,dst=/etc/hostname,options=rbind:ro"
          --mount "type=bind,src=$PODDIR/shm,dst=/dev/shm,options=rbind:rw")
"${RUN[@]}" -d --annotation "$LM" --annotation io.kubernetes.cri.container-type=container "${POD[@]}" \
  "${podfiles[@]}" --rootfs "$ROOTFS" app1 /bin/sleep 600 >/dev/null
expect "container app1 runs in the pod" wait_for 60 status_is app1 RUNNING
"${RUN[@]}" -d --annotation "$LM" --annotation io.kubernetes.cri.container-type=container "${POD[@]}" \
  --rootfs "$ROOTFS" app2 /bin/sleep 600 >/dev/null
expect "container app2 runs in the pod" wait_for 60 status_is app2 RUNNING
expect "one shim serves the pod" [ "$(shim_pids | wc -w)" -eq 1 ]
expect "one QEMU serves the pod" [ "$(pgrep -fc "^$QEMU -name lcow-pod1( |\$)")" -eq 1 ]
out=$(ctr_ task exec --exec-id e2 app1 /bin/cat /etc/hosts /etc/resolv.conf 2>&1)
expect "pod files are copied into the guest" bash -c "grep -q pod-host <<<'$out' && grep -q 10.0.0.53 <<<'$out'"
out=$(ctr_ task exec --exec-id e3 app1 /bin/sh -c 'echo shm > /dev/shm/x && cat /dev/shm/x' 2>&1)
expect "/dev/shm is a writable tmpfs" [ "$out" = shm ]
mkdir -p "$T/data"
out=$("${RUN[@]}" -d --annotation "$LM" --annotation io.kubernetes.cri.container-type=container "${POD[@]}" \
  --mount "type=bind,src=$T/data,dst=/data,options=rbind:rw" --rootfs "$ROOTFS" bad1 /bin/true 2>&1) && rc=0 || rc=$?
expect "a container with a directory mount is refused in a migratable pod" [ "$rc" -ne 0 ]
expect "the refusal names the mount" grep -q '/data' <<<"$out"
ctr_ c rm bad1 >/dev/null 2>&1 || true
expect "app1 keeps running" status_is app1 RUNNING
expect "app2 keeps running" status_is app2 RUNNING
out=$(ctr_ task exec --exec-id e4 app2 /bin/echo still here 2>&1)
expect "and answers an exec" [ "$out" = "still here" ]
out=$(timeout 60 script -qec "stty rows 20 cols 70; ctr -a $T/containerd.sock -n $NS task exec -t --exec-id e5 app2 /bin/sh -c 'tty; stty size'" /dev/null 2>&1) || true
expect "ctr task exec -t: a terminal in the container, sized 20 70" \
  bash -c 'grep -q "/dev/pts/" <<<"$1" && grep -q "^20 70" <<<"$1"' _ "$out"

# --- a deleted container's disk leaves the VM (QEMU's node too) -------------
"${RUN[@]}" --rm --annotation "$LM" --annotation io.kubernetes.cri.container-type=container "${POD[@]}" \
  --rootfs "$ROOTFS" app3 /bin/echo app3 >/dev/null
expect "a deleted container's disk is unplugged and its node removed" \
  wait_for 15 grep -q 'msg="disk removed from the VM" uvm-id=pod1' "$T/containerd.log"
expect "without an unplug or removal error" bash -c '! grep -q "unplug disk\|remove disk" "$1"' _ "$T/containerd.log"
expect "app2 still runs" status_is app2 RUNNING

# --- the VM dying fails every container with 255 ----------------------------
pkill -KILL -f "^$QEMU -name lcow-pod1( |\$)"
expect "app1 stops when the VM dies" wait_for 20 status_is app1 STOPPED
expect "app2 stops when the VM dies" wait_for 20 status_is app2 STOPPED
expect "the shim log says why" grep -q 'the UVM exited under it' "$T/containerd.log"
for id in app1 app2 pod1; do ctr_ task delete "$id" >/dev/null 2>&1 || true; ctr_ c rm "$id" >/dev/null 2>&1 || true; done
expect "nothing is left behind" all_clean 20
expect "no sandbox's cgroup is left ($(comm -13 <(echo "$CG_BEFORE") <(cgroups_now) | tr '\n' ' '))" \
  [ -z "$(comm -13 <(echo "$CG_BEFORE") <(cgroups_now))" ]
finish
