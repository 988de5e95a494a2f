#!/usr/bin/env bash
# Issue 16: pod networking.  Two pods on a private CNI bridge (Debian's
# bridge and host-local plugins, run here as containerd's CRI plugin runs
# them): each UVM gets a NIC in its pod's network namespace, the guest has
# the pod's address and routes, a container in pod A reaches a TCP server
# in pod B and one on the bridge's host address, and after the pods are gone
# CNI DEL succeeds and nothing of the test's network is left.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
mkdir -m 0755 "$T/bootfiles"
cp "$BOOTFILES_DIR"/* "$T/bootfiles/"
chmod 0644 "$T"/bootfiles/*
cat >"$T/qemu.json" <<JSON
{"vmm": "qemu", "vmm_path": "$QEMU", "boot_files_root_path": "$T/bootfiles",
 "memory_mb": 512, "gcs_connection_timeout_ms": 90000, "stop_grace_ms": 10000}
JSON
ROOTFS="$T/rootfs-net"
make_rootfs "$ROOTFS"
mkdir -p "$ROOTFS/www" && echo "served from pod b" >"$ROOTFS/www/index.html"
RUN=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")

# A private bridge and subnet, named after this run.
tag=$(( $$ % 100000 ))
BR="lcbr$tag"
NET="10.251.$(( $$ % 200 + 20 ))"
cat >"$T/cni.json" <<JSON
{"cniVersion": "0.4.0", "name": "lcowtest$tag", "type": "bridge", "bridge": "$BR",
 "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "$NET.0/24", "dataDir": "$T/cni-ipam",
          "routes": [{"dst": "0.0.0.0/0"}]}}
JSON
cni() {
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/$3 CNI_IFNAME=eth0 \
    CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge <"$T/cni.json"
}
pod_ip() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }
cleanup_network() {
  for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  for p in a b; do
    cni DEL "pod-$p" "lcow-$tag-$p" >/dev/null 2>&1 || true
    ip netns del "lcow-$tag-$p" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  [ -n "${HTTPD_PID:-}" ] && kill "$HTTPD_PID" 2>/dev/null || true
}
trap 'rc=$?; cleanup_network; set +e; (exit $rc); lcow_teardown' EXIT

declare -A IP
for p in a b; do
  ip netns add "lcow-$tag-$p"
  IP[$p]=$(cni ADD "pod-$p" "lcow-$tag-$p" | pod_ip) || true
done
expect "CNI gave both pods an address (${IP[a]:-none}, ${IP[b]:-none})" \
  bash -c '[ -n "$1" ] && [ -n "$2" ]' _ "${IP[a]:-}" "${IP[b]:-}"

# A TCP server on the bridge's host address.
mkdir -p "$T/www" && echo "served from the host" >"$T/www/index.html"
busybox httpd -f -p "$NET.1:18080" -h "$T/www" &
HTTPD_PID=$!

pod() { # pod NAME NETNS: a pod sandbox in that network namespace
  "${RUN[@]}" -d --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$1" --with-ns "network:/var/run/netns/$2" \
    --rootfs "$ROOTFS" "$1" /bin/true >/dev/null
}
in_pod() { # in_pod POD -d|--rm ID CMD...: a container of that pod
  local p=$1 mode=$2 id=$3; shift 3
  "${RUN[@]}" "$mode" --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$p" --with-ns "network:/var/run/netns/lcow-$tag-${p#pod}" \
    --rootfs "$ROOTFS" "$id" "$@"
}
start=$(date +%s%N)
pod poda "lcow-$tag-a"
expect "pod a's sandbox runs" wait_for 60 status_is poda RUNNING
echo "  pod a: create -> RUNNING $(( ($(date +%s%N) - start) / 1000000 )) ms"
pod podb "lcow-$tag-b"
expect "pod b's sandbox runs" wait_for 60 status_is podb RUNNING
expect "the shim says the guest has the pod's network" \
  grep -q "msg=\"pod network configured in the guest\" uvm-id=poda interface=eth0 mac=.* address=${IP[a]}/24" "$T/containerd.log"
expect "QEMU runs in the pod's network namespace" \
  bash -c '[ "$(readlink /proc/$1/ns/net)" = "$(ip netns exec lcow-$2-a readlink /proc/self/ns/net)" ]' _ "$(task_pid poda)" "$tag"
expect "the TAP and its redirect are in pod a's namespace" \
  bash -c 'ip -n lcow-$1-a link show tap0_lcow >/dev/null && ip netns exec lcow-$1-a tc filter show dev eth0 ingress | grep -q "mirred.*tap0_lcow"' _ "$tag"

in_pod podb -d srv-b /bin/busybox httpd -f -p 8080 -h /www >/dev/null
expect "a TCP server runs in pod b" wait_for 60 status_is srv-b RUNNING
out=$(in_pod poda --rm cli-a /bin/sh -c "busybox ip -4 addr show eth0; busybox ip route" 2>&1) || true
echo "$out" | sed 's/^/  pod a: /'
expect "a container in pod a sees the pod's address on eth0" grep -q "inet ${IP[a]}/24" <<<"$out"
expect "and its default route through the bridge" grep -q "default via $NET.1" <<<"$out"
# An HTTP GET by nc (busybox's static wget crashes in its resolver without
# the NSS libraries this rootfs lacks).
fetch() { # fetch POD ID ADDRESS PORT: the last line of /index.html's answer
  in_pod "$1" --rm "$2" /bin/sh -c \
    "printf 'GET /index.html HTTP/1.0\r\n\r\n' | busybox nc -w 10 $3 $4" 2>&1 | tail -n 1
}
out=$(fetch poda get-b "${IP[b]}" 8080) || true
expect "a container in pod a reaches the server in pod b ($out)" [ "$out" = "served from pod b" ]
out=$(fetch poda get-h "$NET.1" 18080) || true
expect "and the server on the bridge's host address ($out)" [ "$out" = "served from the host" ]

ctr_ task kill -s SIGKILL srv-b >/dev/null 2>&1; wait_for 20 status_is srv-b STOPPED
remove srv-b >/dev/null 2>&1 || true
for p in poda podb; do kill_and_wait "$p" SIGKILL >/dev/null; remove "$p" >/dev/null 2>&1 || true; done
expect "the TAP and the redirect are gone with the pods" \
  bash -c '! ip -n lcow-$1-a link show tap0_lcow 2>/dev/null && ! ip netns exec lcow-$1-a tc qdisc show dev eth0 | grep -q ingress' _ "$tag"
for p in a b; do
  expect "CNI DEL of pod $p succeeds" cni DEL "pod-$p" "lcow-$tag-$p"
  ip netns del "lcow-$tag-$p"
done
ip link del "$BR" 2>/dev/null || true
expect "nothing of the test's network is left" \
  bash -c '! ip link show "$1" 2>/dev/null && ! ip netns list | grep -q "lcow-$2-"' _ "$BR" "$tag"
expect "nothing is left behind" all_clean 20
finish
