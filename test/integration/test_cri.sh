#!/usr/bin/env bash
# Issue 19: Kubernetes pods through CRI, as a kubelet drives them: a private
# containerd with its CRI plugin and a runtime "lcow" (the README's snippet),
# a CRI client (cri_client.py), pods shaped as the kubelet shapes them (cgroup
# parent, log directory, the kubelet's mounts from <root>/pods/<uid>/), in a
# migratable and a non-migratable sandbox: ExecSync, the service-account
# token, a configMap updated while the container runs, a termination
# message, PodSandboxStats, UpdateContainerResources, a hostPath (through
# virtio-fs in the pod that is not migratable) refused in
# the migratable pod, hostIPC and hostNetwork pods refused, pod sysctls read back in a
# container (a sysctl that would change the whole UVM refused at RunPodSandbox),
# pods on a CNI bridge, PortForward to a server on the guest's localhost, a
# privileged and a NET_ADMIN container making a bridge (refused without the
# capability), Bidirectional propagation refused, containerd restarted with pods
# running, and the
# migratable pod moved to a pod CRI created, its container adopted through
# CreateContainer (live migration).
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
PY=/usr/bin/python3
lcow_setup
stop_containerd
PODS="$T/kubelet/pods"
CGP="/lcowtest-cri-$$"
qemu_config "\"pod_file_roots\": [\"$PODS\", \"$T/root/io.containerd.grpc.v1.cri/sandboxes\"]"
# The pods' network: CRI runs Debian's bridge plugin on a private bridge.
source "$TOP/test/integration/cni.sh"
mkdir -p "$T/cni-conf"
cat >"$T/cni-conf/10-lcowtest.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "lcowtest$CNI_TAG", "plugins": [
 {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": false,
  "ipam": {"type": "host-local", "subnet": "$CNI_NET.0/24", "dataDir": "$T/cni-ipam",
           "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
# The README's snippet for each containerd: version 2 (1.x), version 3 (2.x).
if [ "$CONTAINERD_CONFIG_VERSION" = 3 ]; then
  CRI_RUNTIME='plugins."io.containerd.cri.v1.runtime"'
  CRI_TOML="[plugins.\"io.containerd.cri.v1.images\".pinned_images]
  sandbox = \"localhost/pause:1\"
[plugins.\"io.containerd.grpc.v1.cri\"]
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
[$CRI_RUNTIME]
  disable_apparmor = true"
else
  CRI_RUNTIME='plugins."io.containerd.grpc.v1.cri"'
  CRI_TOML="[$CRI_RUNTIME]
  sandbox_image = \"localhost/pause:1\"
  disable_apparmor = true
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\""
fi
write_containerd_toml "$(cat <<TOML
$CRI_TOML
  [$CRI_RUNTIME.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$T/cni-conf"
  [$CRI_RUNTIME.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [$CRI_RUNTIME.containerd.runtimes.lcow]
    runtime_type = "io.containerd.lcow.v2"
    pod_annotations = ["io.microsoft.migration.*", "io.containerd.lcow.*",
      "io.microsoft.virtualmachine.computetopology.processor.count",
      "io.microsoft.virtualmachine.computetopology.memory.sizeinmb"]
    container_annotations = ["io.containerd.lcow.*"]
    [$CRI_RUNTIME.containerd.runtimes.lcow.options]
      ConfigPath = "$T/qemu.json"
$([ "$CONTAINERD_CONFIG_VERSION" = 3 ] && cat <<SHIM_SANDBOXER
  [$CRI_RUNTIME.containerd.runtimes.lcow-shim]
    runtime_type = "io.containerd.lcow.v2"
    sandboxer = "shim"
SHIM_SANDBOXER
)
TOML
)"
start_containerd
CRI_SOCK="$T/containerd.sock"
cri() { "$PY" "$TOP/test/integration/cri_client.py" "$CRI_SOCK" "$@"; }
k8s() { ctr -a "$T/containerd.sock" -n k8s.io "$@"; }
cri_cleanup() {
  local rc=$?
  for p in $(k8s task ls -q 2>/dev/null); do k8s task kill -s SIGKILL "$p" >/dev/null 2>&1 || true; done
  for pod in "${PODIDS[@]}"; do cri stop-pod "$pod" >/dev/null 2>&1 || true; cri rm-pod "$pod" >/dev/null 2>&1 || true; done
  for d in /sys/fs/cgroup/"${CGP#/}"-* /sys/fs/cgroup/*/"${CGP#/}"-*; do
    if [ -d "$d" ]; then rmdir "$d" 2>/dev/null || fail "a pod cgroup is left: $d"; fi
  done
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  (exit "$rc") # the script's own status, for the teardown
  lcow_teardown
}
trap cri_cleanup EXIT
PODIDS=()

make_rootfs "$T/rootfs"
"$PY" "$TOP/test/integration/make_oci_image.py" "$T/pause.tar" localhost/pause:1 "$T/rootfs"
"$PY" "$TOP/test/integration/make_oci_image.py" "$T/app.tar" localhost/app:1 "$T/rootfs"
k8s image import "$T/pause.tar" >/dev/null
k8s image import "$T/app.tar" >/dev/null

# pod_files NAME UID MIGRATABLE: the kubelet's pod directory and the pod's
# config ($T/NAME.pod.json).
pod_files() {
  local name=$1 uid=$2 lm=$3 dir="$PODS/$2"
  mkdir -p "$dir/containers/app" "$dir/volumes/kubernetes.io~empty-dir/scratch" "$T/logs/default_${name}_$uid"
  printf '127.0.0.1 localhost\n10.1.1.1 %s\n' "$name" >"$dir/etc-hosts"
  : >"$dir/containers/app/1a2b"
  kubelet_volume "$dir/volumes/kubernetes.io~configmap/settings" v1 color=blue
  kubelet_volume "$dir/volumes/kubernetes.io~projected/kube-api-access-abcde" v1 token=token-of-"$name" namespace=default ca.crt=CA
  cat >"$T/$name.pod.json" <<JSON
{"name": "$name", "uid": "$uid", "namespace": "default", "hostname": "$name",
 "log_directory": "$T/logs/default_${name}_$uid", "cgroup_parent": "$CGP-$name",
 "runtime_handler": "lcow", "labels": {"app": "$name"}, "privileged": $([ "$lm" = yes ] && echo false || echo true),
 "sysctls": {"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.ipv4.ping_group_range": "0 1000"},
 "annotations": {$([ "$lm" = yes ] && echo '"io.microsoft.migration.allowed": "true"')}}
JSON
}
# pod NAME UID MIGRATABLE: pod_files and RunPodSandbox.
pod() {
  pod_files "$@"
  cri run-pod "$T/$1.pod.json"
}
# ctr_json NAME UID CMD [EXTRA MOUNTS JSON]: a container as the kubelet shapes it.
ctr_json() {
  local name=$1 uid=$2 cmd=$3 extra=${4:-} dir="$PODS/$2"
  cat <<JSON
{"name": "app", "image": "localhost/app:1", "command": ["/bin/sh", "-c", "$cmd"],
 "log_path": "app/0.log", "labels": {"io.kubernetes.container.name": "app"},
 "mounts": [
  {"container_path": "/etc/hosts", "host_path": "$dir/etc-hosts"},
  {"container_path": "/dev/termination-log", "host_path": "$dir/containers/app/1a2b"},
  {"container_path": "/var/run/secrets/kubernetes.io/serviceaccount", "host_path": "$dir/volumes/kubernetes.io~projected/kube-api-access-abcde", "readonly": true},
  {"container_path": "/etc/settings", "host_path": "$dir/volumes/kubernetes.io~configmap/settings", "readonly": true},
  {"container_path": "/scratch", "host_path": "$dir/volumes/kubernetes.io~empty-dir/scratch"}$extra]}
JSON
}

# Read through eval (below) too: shellcheck cannot see that.
# shellcheck disable=SC2034
UID_plain='' UID_migratable='' PID_plain='' PID_migratable='' CID_plain='' CID_migratable=''
for kind in plain migratable; do
  uid=$(cat /proc/sys/kernel/random/uuid); name="web-$kind"
  lm=no; [ $kind = migratable ] && lm=yes
  if [ $kind = plain ]; then
    # The kubelet's pod cgroup with the pod's memory limit (600 MiB), before
    # RunPodSandbox: the VMM is charged there, so the UVM must fit under it.
    if [ -d /sys/fs/cgroup/memory ]; then
      mkdir -p "/sys/fs/cgroup/memory$CGP-$name"
      echo 629145600 >"/sys/fs/cgroup/memory$CGP-$name/memory.limit_in_bytes"
    else
      mkdir -p "/sys/fs/cgroup$CGP-$name"
      echo 629145600 >"/sys/fs/cgroup$CGP-$name/memory.max"
    fi
  fi
  t0=$(date +%s%3N)
  out=$(pod "$name" "$uid" "$lm" 2>&1) && pid=$out || pid=""
  t_run=$(($(date +%s%3N) - t0))
  expect "$kind: RunPodSandbox ($t_run ms)" [ -n "$pid" ]
  [ -n "$pid" ] || { echo "    $out"; continue; }
  PODIDS+=("$pid")
  ctr_json "$name" "$uid" 'echo started; sleep 600' >"$T/$name.ctr.json"
  t0=$(date +%s%3N)
  cid=$(cri create "$pid" "$T/$name.pod.json" "$T/$name.ctr.json" 2>&1) && cri start "$cid" >/tmp/cri-start.$$ 2>&1 && rc=0 || rc=$?
  t_start=$(($(date +%s%3N) - t0))
  expect "$kind: CreateContainer + StartContainer with the kubelet's default mounts ($t_start ms) $(cat /tmp/cri-start.$$ 2>/dev/null)" [ "$rc" -eq 0 ]
  rm -f /tmp/cri-start.$$
  t0=$(date +%s%3N)
  out=$(cri exec "$cid" 30 /bin/cat /var/run/secrets/kubernetes.io/serviceaccount/token 2>&1 || true)
  t_exec=$(($(date +%s%3N) - t0))
  expect "$kind: ExecSync reads the service-account token ($t_exec ms: $out)" [ "$out" = "token-of-$name" ]
  if [ $kind = plain ]; then
    kb=$(cri exec "$cid" 30 /bin/sh -c "grep MemTotal /proc/meminfo" 2>&1 | tr -dc 0-9 || true)
    expect "plain: the UVM is sized to fit the pod's 600 MiB limit (guest MemTotal ${kb:-?} kB)" \
      bash -c '[ "${1:-0}" -gt 250000 ] && [ "$1" -lt 420000 ]' _ "$kb"
  fi
  out=$(cri exec "$cid" 30 /bin/cat /proc/sys/kernel/shm_rmid_forced /proc/sys/fs/mqueue/msg_max /proc/sys/net/ipv4/ping_group_range 2>&1 | tr -s ' \t\n' ' ' || true)
  expect "$kind: the pod's sysctls (safe, unsafe, net) read back in the container ($out)" [ "$out" = "1 100 0 1000 " ]
  addr=$(cri exec "$cid" 30 /bin/busybox ip -4 -o addr show eth0 2>&1 || true)
  expect "$kind: the pod is on CNI's network ($(head -c 100 <<<"$addr"))" grep -q "inet $CNI_NET\\." <<<"$addr"
  out=$(cri exec "$cid" 30 /bin/sh -c 'hostname; cat /etc/hosts' 2>&1 || true)
  expect "$kind: the pod's hostname and the kubelet's /etc/hosts" bash -c 'grep -qx "$1" <<<"$2" && grep -q "10.1.1.1 $1" <<<"$2"' _ "$name" "$out"
  # The configMap, updated on the host as the kubelet updates it.
  t0=$(date +%s%3N)
  kubelet_volume "$PODS/$uid/volumes/kubernetes.io~configmap/settings" v2 color=green
  seen() { [ "$(cri exec "$cid" 10 /bin/cat /etc/settings/color 2>/dev/null)" = green ]; }
  wait_for 15 seen && t_cm=$(($(date +%s%3N) - t0)) || t_cm=none
  expect "$kind: a configMap update reaches the running container ($t_cm ms)" [ "$t_cm" != none ]
  stats=$(cri pod-stats "$pid" 2>&1 || true)
  expect "$kind: PodSandboxStats answers with the VM's usage ($stats)" bash -c '[ "$(wc -w <<<"$1")" -eq 2 ] && [ "${1#* }" -gt 0 ]' _ "$stats"
  out=$(cri update "$cid" 134217728 512 2>&1 || true)
  # Without a cgroup namespace (a cgroup v1 host), the guest's whole
  # hierarchy is seen: the container's cgroup is named by its id.
  limit=$(cri exec "$cid" 10 /bin/cat "/sys/fs/cgroup/$cid/memory.max" 2>&1 || true)
  expect "$kind: UpdateContainerResources applies a memory limit ($out, memory.max $limit)" \
    bash -c '[ "$1" = ok ] && [ "$2" = 134217728 ]' _ "$out" "$limit"
  echo "  $kind: RunPodSandbox $t_run ms, Create+Start $t_start ms, ExecSync $t_exec ms, configMap $t_cm ms"
  eval "CID_$kind=$cid PID_$kind=$pid UID_$kind=$uid"
done

# --- a hostPath: refused in the migratable pod, with the reason -----------------
mkdir -p "$T/host-data"
uid=$UID_migratable
ctr_json web-migratable "$uid" 'sleep 600' ", {\"container_path\": \"/data\", \"host_path\": \"$T/host-data\"}" \
  | sed 's/"name": "app"/"name": "hostpath"/' >"$T/hp.ctr.json"
cid=$(cri create "$PID_migratable" "$T/web-migratable.pod.json" "$T/hp.ctr.json" 2>&1) || true
out=$(cri start "$cid" 2>&1 || true)
expect "a hostPath is refused in the migratable pod, naming it ($(head -c 160 <<<"$out"))" grep -q "/data.*directory mount" <<<"$out"
st=$(cri status "$cid" 2>&1 || true)
expect "the kubelet sees it EXITED 128, StartError, with the shim's reason ($(head -c 120 <<<"$st"))" \
  grep -q "^EXITED 128 StartError|.*directory mount" <<<"$st"
cri rm-ctr "$cid" >/dev/null 2>&1 || true

# --- hostIPC: refused at RunPodSandbox, with the reason ------------------------
pod_files web-hostipc "$(cat /proc/sys/kernel/random/uuid)" no
sed -i 's/"cgroup_parent"/"host_ipc": true, "cgroup_parent"/' "$T/web-hostipc.pod.json"
out=$(cri run-pod "$T/web-hostipc.pod.json" 2>&1) && rc=0 || rc=$?
expect "a hostIPC pod is refused at RunPodSandbox, naming the setting and why ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "no ipc namespace: the node.s IPC namespace (hostIPC) cannot be given inside a VM" <<<"$2"' _ "$rc" "$out"

# --- hostNetwork: refused at RunPodSandbox, with the reason ----------------------
pod_files web-hostnet "$(cat /proc/sys/kernel/random/uuid)" no
sed -i 's/"cgroup_parent"/"host_network": true, "cgroup_parent"/' "$T/web-hostnet.pod.json"
out=$(cri run-pod "$T/web-hostnet.pod.json" 2>&1) && rc=0 || rc=$?
expect "a hostNetwork pod is refused at RunPodSandbox, naming the setting and why ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "no network namespace: the node.s network (hostNetwork) cannot be given inside a VM" <<<"$2"' _ "$rc" "$out"

# --- a sysctl that would change the whole UVM: refused at RunPodSandbox --------
pod_files web-vmsysctl "$(cat /proc/sys/kernel/random/uuid)" no
sed -i 's/"sysctls": {/"sysctls": {"vm.swappiness": "10", /' "$T/web-vmsysctl.pod.json"
out=$(cri run-pod "$T/web-vmsysctl.pod.json" 2>&1) && rc=0 || rc=$?
expect "a pod sysctl that would change the whole UVM is refused, named ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "linux.sysctl: vm.swappiness (not scoped by the pod.s or the container.s namespaces: it would change the whole UVM)" <<<"$2"' _ "$rc" "$out"

# --- an emptyDir shared by two containers of a pod; a hostPath in a pod that is
# not migratable (through the VM's virtio-fs share) ------------------------------
cri exec "$CID_plain" 10 /bin/sh -c 'echo from-app > /scratch/note' >/dev/null 2>&1 || true
ctr_json web-plain "$UID_plain" 'sleep 600' | sed 's/"name": "app"/"name": "reader"/' >"$T/rd.ctr.json"
if cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/rd.ctr.json" 2>&1); then
  cri start "$cid" >/dev/null 2>&1 || true
fi
out=$(cri exec "$cid" 10 /bin/cat /scratch/note 2>&1 || true)
expect "a second container sees what the first wrote in their emptyDir ($out)" [ "$out" = from-app ]
cri stop-ctr "$cid" 0 >/dev/null 2>&1 || true; cri rm-ctr "$cid" >/dev/null 2>&1 || true
ctr_json web-plain "$UID_plain" 'sleep 600' ", {\"container_path\": \"/data\", \"host_path\": \"$T/host-data\"}" \
  | sed 's/"name": "app"/"name": "hostpath"/' >"$T/hp2.ctr.json"
echo "from the node" >"$T/host-data/note"
cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/hp2.ctr.json" 2>&1) || true
out=$(cri start "$cid" 2>&1) && rc=0 || rc=$?
expect "a hostPath container starts in the non-migratable pod ($(head -c 160 <<<"$out"))" [ "$rc" -eq 0 ]
out=$(cri exec "$cid" 10 /bin/sh -c 'cat /data/note; echo from-the-pod > /data/back' 2>&1 || true)
expect "it reads the node's directory ($out)" [ "$out" = "from the node" ]
expect "and writes to it" grep -qx "from-the-pod" "$T/host-data/back"
cri stop-ctr "$cid" 0 >/dev/null 2>&1 || true; cri rm-ctr "$cid" >/dev/null 2>&1 || true

# --- PortForward to a server on the guest's localhost, as kubectl port-forward --
WEB_CMD='/bin/busybox mkdir -p /tmp/www && echo served-from-the-guest > /tmp/www/index.html && head -c 3000000 /dev/urandom > /tmp/www/big && exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /tmp/www'
ctr_json web-plain "$UID_plain" "$WEB_CMD" | sed 's/"name": "app"/"name": "web"/' >"$T/web.ctr.json"
if cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/web.ctr.json" 2>&1); then
  cri start "$cid" >/dev/null 2>&1 || true
fi
# Listening on 127.0.0.1:8080 (0100007F:1F90, state 0A) in the guest.
serving() { cri exec "$cid" 10 /bin/cat /proc/net/tcp 2>/dev/null | grep -q "0100007F:1F90 00000000:0000 0A"; }
wait_for 30 serving || true
t0=$(date +%s%3N)
out=$(cri portforward "$PID_plain" 8080 'GET /index.html HTTP/1.0\r\n\r\n' 2>&1 || true)
t_pf=$(($(date +%s%3N) - t0))
expect "PortForward reaches a server on the guest's 127.0.0.1:8080 ($t_pf ms: $(head -n 1 <<<"$out" | tr -d '\r'))" \
  bash -c 'grep -q "^HTTP/1.[01] 200" <<<"$1" && grep -qx "served-from-the-guest" <<<"$1"' _ "$out"
want=$(cri exec "$cid" 10 /bin/busybox md5sum /tmp/www/big 2>&1 | cut -d' ' -f1 || true)
t0=$(date +%s%3N)
got=$(cri portforward "$PID_plain" 8080 'GET /big HTTP/1.0\r\n\r\n' 2>/dev/null \
  | python3 -c 'import hashlib, sys; print(hashlib.md5(sys.stdin.buffer.read().split(b"\r\n\r\n", 1)[-1]).hexdigest())' || true)
t_big=$(($(date +%s%3N) - t0))
expect "3 MB through PortForward arrive whole ($t_big ms, md5 $got)" [ "$got" = "$want" ]
out=$(cri portforward "$PID_plain" 8081 'GET / HTTP/1.0\r\n\r\n' 2>&1) && rc=0 || rc=$?
expect "PortForward to a port nothing listens on in the guest fails, on its error channel (rc $rc: $(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -eq 3 ] && grep -q "error forwarding port 8081" <<<"$2"' _ "$rc" "$out"
pf_pids=()
for i in 1 2 3 4; do
  cri portforward "$PID_plain" 8080 'GET /index.html HTTP/1.0\r\n\r\n' >"$T/pf.$i" 2>&1 &
  pf_pids+=($!)
done
wait "${pf_pids[@]}"
ok=$(grep -lx "served-from-the-guest" "$T"/pf.[1-4] | wc -l)
expect "four PortForwards at once are each answered ($ok of 4)" [ "$ok" -eq 4 ]
echo "  PortForward: a small answer $t_pf ms, 3 MB $t_big ms"
cri stop-ctr "$cid" 0 >/dev/null 2>&1 || true; cri rm-ctr "$cid" >/dev/null 2>&1 || true

# --- a privileged container's and a NET_ADMIN container's network tools; without
# the capability refused; Bidirectional propagation refused with its reason -------
# The containers share the pod's network: each makes its own names.
for kind in privileged netadmin plain; do
  nettools="/bin/busybox brctl addbr br$kind && /bin/busybox ip link add v$kind type veth && /bin/busybox ip -o link show && echo made"
  ctr_json web-plain "$UID_plain" "$nettools" | sed "s/\"name\": \"app\"/\"name\": \"net-$kind\"/" >"$T/net.ctr.json"
  case $kind in
    privileged) sed -i 's/"labels"/"privileged": true, "labels"/' "$T/net.ctr.json" ;;
    netadmin) sed -i 's/"labels"/"add_capabilities": ["NET_ADMIN"], "labels"/' "$T/net.ctr.json" ;;
  esac
  if cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/net.ctr.json" 2>&1); then
    cri start "$cid" >/dev/null 2>&1 || true
  fi
  ended() { cri status "$cid" 2>/dev/null | grep -q "^EXITED"; }
  wait_for 30 ended || true
  log=$(tail -n 20 "$T/logs/default_web-plain_$UID_plain/app/0.log" 2>/dev/null || true)
  st=$(cri status "$cid" 2>&1 || true)
  if [ $kind = plain ]; then
    expect "without NET_ADMIN a container cannot make a bridge (status $st$(tail -n 1 <<<"$log"))" \
      bash -c '! grep -q "^EXITED 0 " <<<"$1" && grep -q "brctl: .*Operation not permitted" <<<"$2"' _ "$st" "$log"
  else
    expect "a $kind container makes a bridge and a veth pair through CRI (status $st$(grep -v "^.* stdout F [0-9]*:" <<<"$log" | tail -n 2 | tr '\n' ' '))" \
      bash -c 'grep -q "^EXITED 0 " <<<"$1" && grep -q "br$3" <<<"$2" && grep -q "v$3@veth" <<<"$2"' _ "$st" "$log" "$kind"
  fi
  cri rm-ctr "$cid" >/dev/null 2>&1 || true
  rm -f "$T/logs/default_web-plain_$UID_plain/app/0.log"
done
# containerd 1.6 checks that a Bidirectional host path is on a shared mount
# before the shim hears of it: the test makes one.
mkdir -p "$T/shared" && mount --bind "$T/shared" "$T/shared" && mount --make-shared "$T/shared"
ctr_json web-plain "$UID_plain" 'sleep 600' ", {\"container_path\": \"/shared\", \"host_path\": \"$T/shared\", \"propagation\": 2}" \
  | sed 's/"name": "app"/"name": "rshared"/' >"$T/rshared.ctr.json"
cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/rshared.ctr.json" 2>&1) || true
out=$(cri start "$cid" 2>&1 || true)
expect "Bidirectional propagation is refused at StartContainer, naming the mount and why ($(grep -o "/shared.*" <<<"$out" | head -c 200))" \
  grep -q "/shared (from $T/shared): propagation rshared (Bidirectional) is refused: a mount made in the VM cannot reach the host" <<<"$out"
cri rm-ctr "$cid" >/dev/null 2>&1 || true
umount "$T/shared" 2>/dev/null || true

# --- the termination message ------------------------------------------------------
uid=$UID_plain
: >"$PODS/$uid/containers/app/1a2b"
ctr_json web-plain "$uid" 'echo the config is missing > /dev/termination-log; exit 2' \
  | sed 's/"name": "app"/"name": "finisher"/' >"$T/fin.ctr.json"
if cid=$(cri create "$PID_plain" "$T/web-plain.pod.json" "$T/fin.ctr.json" 2>&1); then
  cri start "$cid" >/dev/null 2>&1 || true
fi
exited() { cri status "$cid" | grep -q "^EXITED 2 "; }
expect "a container that exits 2 is EXITED 2 ($(cri status "$cid" 2>&1))" wait_for 60 exited
expect "its termination message is in the kubelet's file" grep -qx "the config is missing" "$PODS/$uid/containers/app/1a2b"

# --- containerd restarted with the pods running ----------------------------------
stop_containerd
start_containerd
for kind in plain migratable; do
  eval "pid=\$PID_$kind cid=\$CID_$kind"
  expect "$kind: the pod is READY after containerd's restart" wait_for 30 bash -c '[ "$("$1" "$2" "$3" pod-status "$4" 2>&1)" = READY ]' _ "$PY" "$TOP/test/integration/cri_client.py" "$CRI_SOCK" "$pid"
  out=$(cri exec "$cid" 30 /bin/echo still here 2>&1 || true)
  expect "$kind: and its container answers ExecSync ($out)" [ "$out" = "still here" ]
done

# --- the migratable pod moves to a pod CRI created, its container adopted
# through CreateContainer + StartContainer (as an orchestrator would) ------
cri exec "$CID_migratable" 10 /bin/sh -c 'echo before the move > /tmp/marker' >/dev/null 2>&1 || true
# A second container leaves a termination message when stopped: it will be
# stopped while the pod is exported, its exit delivered by the destination.
FIN_CMD='trap \"echo stopped while moving > /dev/termination-log; exit 3\" TERM; while :; do sleep 0.2; done'
fin_json() { ctr_json "$1" "$2" "$FIN_CMD" | sed 's/"name": "app"/"name": "fin"/; s|containers/app/1a2b|containers/fin/1a2b|'; }
mkdir -p "$PODS/$UID_migratable/containers/fin" && : >"$PODS/$UID_migratable/containers/fin/1a2b"
fin_json web-migratable "$UID_migratable" >"$T/fin-a.ctr.json"
if fin_a=$(cri create "$PID_migratable" "$T/web-migratable.pod.json" "$T/fin-a.ctr.json" 2>&1); then
  cri start "$fin_a" >/dev/null 2>&1 || true
fi
uid=$(cat /proc/sys/kernel/random/uuid)
pod_files web-migratable-b "$uid" yes
# The same hostname as the source (the process's HOSTNAME must match) and
# the annotation that makes it a migration's destination.
sed -i 's/"hostname": "web-migratable-b"/"hostname": "web-migratable"/; s/"annotations": {/"annotations": {"io.containerd.lcow.migration.incoming": "true", /' \
  "$T/web-migratable-b.pod.json"
out=$(cri run-pod "$T/web-migratable-b.pod.json" 2>&1) && PID_dest=$out || PID_dest=""
expect "a destination pod through RunPodSandbox (incoming) ($(head -c 600 <<<"$out"))" [ -n "$PID_dest" ]
[ -n "$PID_dest" ] || grep -E 'level=(error|warning)' "$T/containerd.log" | tail -n 8 >&2
PODIDS+=("$PID_dest")
SIDE_A="$T/containerd.sock,k8s.io,$T/s"
out=$("$SHIM_BIN_DIR/containerd-shim-lcow-v2" migrate prepare --from "$SIDE_A" "$PID_migratable" --to "$SIDE_A" "$PID_dest" 2>&1) && rc=0 || rc=$?
expect "migrate prepare names the container to adopt ($(tail -n 1 <<<"$out"))" \
  bash -c '[ "$1" -eq 0 ] && grep -qx "adopt $2" <<<"$3"' _ "$rc" "$CID_migratable" "$out"
expect "both containers are named to adopt" grep -qx "adopt $fin_a" <<<"$out"
k8s task kill -s SIGTERM "$fin_a" >/dev/null 2>&1 || true
ctr_json web-migratable-b "$uid" 'echo started; sleep 600' \
  | sed "s/\"labels\"/\"annotations\": {\"io.containerd.lcow.migration.source-container\": \"$CID_migratable\"}, \"labels\"/" >"$T/adopt.ctr.json"
cid=$(cri create "$PID_dest" "$T/web-migratable-b.pod.json" "$T/adopt.ctr.json" 2>&1) && cri start "$cid" >"$T/adopt-start" 2>&1 && rc=0 || rc=$?
expect "CreateContainer + StartContainer adopt it ($(head -c 200 "$T/adopt-start" 2>/dev/null) $(head -c 200 <<<"$cid"))" [ "$rc" -eq 0 ]
mkdir -p "$PODS/$uid/containers/fin" && : >"$PODS/$uid/containers/fin/1a2b"
fin_json web-migratable-b "$uid" \
  | sed "s/\"labels\"/\"annotations\": {\"io.containerd.lcow.migration.source-container\": \"$fin_a\"}, \"labels\"/" >"$T/fin-b.ctr.json"
if fin_b=$(cri create "$PID_dest" "$T/web-migratable-b.pod.json" "$T/fin-b.ctr.json" 2>&1); then
  cri start "$fin_b" >/dev/null 2>&1 || true
fi
out=$("$SHIM_BIN_DIR/containerd-shim-lcow-v2" migrate transfer --from "$SIDE_A" "$PID_migratable" --to "$SIDE_A" "$PID_dest" 2>&1) && rc=0 || rc=$?
expect "migrate transfer moves the pod ($(tail -n 1 <<<"$out"))" [ "$rc" -eq 0 ]
st=$(cri status "$cid" 2>&1 || true)
expect "the adopted container is RUNNING for CRI ($st)" grep -q "^RUNNING" <<<"$st"
out=$(cri exec "$cid" 30 /bin/cat /tmp/marker 2>&1 || true)
expect "ExecSync in it reads what the process wrote before the move ($out)" [ "$out" = "before the move" ]
fin_exited() { cri status "$fin_b" | grep -q "^EXITED 3 "; }
expect "the container stopped while the pod was exported exits on the destination, 3 ($(cri status "$fin_b" 2>&1 | head -c 100))" wait_for 30 fin_exited
expect "its termination message is in the destination kubelet's file" grep -qx "stopped while moving" "$PODS/$uid/containers/fin/1a2b"
gone() { [ "$(cri pod-status "$PID_migratable" 2>&1)" = NOTREADY ]; }
expect "the source pod is NOTREADY: its VM went" wait_for 30 gone

for pod in "${PODIDS[@]}"; do
  expect "StopPodSandbox" cri stop-pod "$pod"
  expect "RemovePodSandbox" cri rm-pod "$pod"
done
PODIDS=()
# containerd 2's sandbox API (sandboxer = "shim"): not served yet, said so.
if [ "$CONTAINERD_CONFIG_VERSION" = 3 ]; then
  pod_files sandboxer-shim "$(cat /proc/sys/kernel/random/uuid)" no
  sed -i 's/"runtime_handler": "lcow"/"runtime_handler": "lcow-shim"/' "$T/sandboxer-shim.pod.json"
  out=$(cri run-pod "$T/sandboxer-shim.pod.json" 2>&1) && rc=0 || rc=$?
  expect "sandboxer = \"shim\": RunPodSandbox fails Unimplemented, saying what to configure ($(head -c 400 <<<"$out"))" \
    bash -c '[ "$1" -ne 0 ] && grep -q "UNIMPLEMENTED" <<<"$2" && grep -q "configure the runtime with sandboxer = \"podsandbox\"" <<<"$2"' _ "$rc" "$out"
fi
no_cri_left() { ! pgrep -f "^$SHIM_BIN_DIR/containerd-shim-lcow-v2 -namespace k8s.io" >/dev/null && ! pgrep -f "^$QEMU -name lcow-" >/dev/null; }
expect "no shim or VM is left" wait_for 20 no_cri_left
