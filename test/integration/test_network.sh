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
qemu_config "\"pod_file_roots\": [\"$T/cri/io.containerd.grpc.v1.cri/sandboxes\"]"
# Pod a's resolv.conf where containerd's CRI plugin keeps it.
PODDIR="$T/cri/io.containerd.grpc.v1.cri/sandboxes/a"
mkdir -p "$PODDIR" && printf 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\n' >"$PODDIR/resolv.conf"
ROOTFS="$T/rootfs-net"
make_rootfs "$ROOTFS"
mkdir -p "$ROOTFS/www" && echo "served from pod b" >"$ROOTFS/www/index.html"
RUN=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")

source "$TOP/test/integration/cni.sh"
cni_setup
trap 'rc=$?; { kill "${HTTPD_PID:-}" || true; } 2>/dev/null; cni_teardown a b c; set +e; (exit $rc); lcow_teardown' EXIT
declare -A IP
for p in a b; do IP[$p]=$(cni_add "$p") || true; done
expect "CNI gave both pods an address (${IP[a]:-none}, ${IP[b]:-none})" \
  bash -c '[ -n "$1" ] && [ -n "$2" ]' _ "${IP[a]:-}" "${IP[b]:-}"
NET=$CNI_NET
tag=$CNI_TAG

# A TCP server on the bridge's host address.
mkdir -p "$T/www" && echo "served from the host" >"$T/www/index.html"
busybox httpd -f -p "$NET.1:18080" -h "$T/www" &
HTTPD_PID=$!

# CNI's own ingress qdisc and filter (as a bandwidth or firewall plugin
# leaves them) on pod b's and pod c's interface: the shim's redirect joins
# them, and teardown removes only the shim's.
cni_ingress() {
  ip netns exec "lcow-$tag-$1" tc qdisc add dev eth0 ingress &&
    ip netns exec "lcow-$tag-$1" tc filter add dev eth0 parent ffff: pref 1 protocol ip \
      u32 match ip src 192.0.2.1/32 flowid ffff:1
}
cni_ingress_intact() { # only CNI's filter is left on the pod's interface
  local f
  f=$(ip netns exec "lcow-$tag-$1" tc filter show dev eth0 ingress)
  grep -q "pref 1 " <<<"$f" && ! grep -q mirred <<<"$f"
}
expect "pod b's interface has CNI's own ingress filter" cni_ingress b

start=$(date +%s%N)
lcow_pod a
expect "pod a's sandbox runs" wait_for 60 status_is a RUNNING
echo "  pod a: create -> RUNNING $(( ($(date +%s%N) - start) / 1000000 )) ms"
lcow_pod b
expect "pod b's sandbox runs" wait_for 60 status_is b RUNNING
expect "the shim says the guest has the pod's network" \
  grep -q "msg=\"pod network configured in the guest\" uvm-id=a interface=eth0 mac=.* address=${IP[a]}/24" "$T/containerd.log"
expect "QEMU runs in the pod's network namespace" \
  bash -c '[ "$(readlink /proc/$1/ns/net)" = "$(ip netns exec lcow-$2-a readlink /proc/self/ns/net)" ]' _ "$(task_pid a)" "$tag"
expect "the TAP and its redirect are in pod a's namespace" \
  bash -c 'ip -n lcow-$1-a link show tap0_lcow >/dev/null && ip netns exec lcow-$1-a tc filter show dev eth0 ingress | grep -q "mirred.*tap0_lcow"' _ "$tag"

in_pod b -d -- srv-b /bin/busybox httpd -f -p 8080 -h /www >/dev/null
expect "a TCP server runs in pod b" wait_for 60 status_is srv-b RUNNING
out=$(in_pod a --rm --mount "type=bind,src=$PODDIR/resolv.conf,dst=/etc/resolv.conf,options=rbind:ro" \
  -- cli-a /bin/sh -c "busybox ip -4 addr show eth0; busybox ip route; cat /etc/resolv.conf" 2>&1) || true
echo "$out" | sed 's/^/  pod a: /'
expect "a container in pod a sees the pod's address on eth0" grep -q "inet ${IP[a]}/24" <<<"$out"
expect "and its default route through the bridge" grep -q "default via $NET.1" <<<"$out"
expect "and the pod's DNS settings" grep -q "^nameserver 10.96.0.10" <<<"$out"
# An HTTP GET by nc (busybox's static wget crashes in its resolver without
# the NSS libraries this rootfs lacks).
fetch() { # fetch POD ID ADDRESS PORT: the last line of /index.html's answer
  in_pod "$1" --rm -- "$2" /bin/sh -c \
    "printf 'GET /index.html HTTP/1.0\r\n\r\n' | busybox nc -w 10 $3 $4" 2>&1 | tail -n 1
}
out=$(fetch a get-b "${IP[b]}" 8080) || true
expect "a container in pod a reaches the server in pod b ($out)" [ "$out" = "served from pod b" ]
out=$(fetch a get-h "$NET.1" 18080) || true
expect "and the server on the bridge's host address ($out)" [ "$out" = "served from the host" ]

ctr_ task kill -s SIGKILL srv-b >/dev/null 2>&1; wait_for 20 status_is srv-b STOPPED
remove srv-b >/dev/null 2>&1 || true
for p in a b; do kill_and_wait "$p" SIGKILL >/dev/null; remove "$p" >/dev/null 2>&1 || true; done
expect "the TAP and the redirect are gone with the pods" \
  wait_for 10 bash -c '! ip -n lcow-$1-a link show tap0_lcow 2>/dev/null && ! ip netns exec lcow-$1-a tc qdisc show dev eth0 | grep -q ingress' _ "$tag"
expect "CNI's own ingress qdisc and filter in pod b are left as CNI made them" cni_ingress_intact b
# A spec naming the host's own network namespace is refused, and the host's
# interfaces are left alone.
out=$("${RUN[@]}" -d --annotation io.kubernetes.cri.container-type=sandbox \
  --annotation io.kubernetes.cri.sandbox-id=h --with-ns "network:/proc/$$/ns/net" \
  --rootfs "$ROOTFS" h /bin/true 2>&1) && rc=0 || rc=$?
expect "the host's network namespace is refused, named ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "/proc/$3/ns/net is the host.s network namespace" <<<"$2"' _ "$rc" "$out" "$$"
expect "and no TAP was made on the host" bash -c '! ip link show tap0_lcow 2>/dev/null'
ctr_ c rm h >/dev/null 2>&1 || true

# A shim killed with its pod: containerd's delete action takes the TAP and
# the redirect out of the namespace.
IP[c]=$(cni_add c) || true
cni_ingress c
lcow_pod c
expect "pod c's sandbox runs" wait_for 60 status_is c RUNNING
uid_c=$(json_get "$(bundle_of c)/uvm.json" vmm_uid)
pkill -KILL -f "containerd-shim-lcow-v2 -namespace $NS -id c " || true
expect "after its shim is killed, the delete action removes the TAP and the redirect" \
  wait_for 20 bash -c '! ip -n lcow-$1-c link show tap0_lcow >/dev/null 2>&1 &&
    ! ip netns exec lcow-$1-c tc filter show dev eth0 ingress | grep -q mirred' _ "$tag"
expect "and leaves CNI's own ingress qdisc and filter" cni_ingress_intact c
expect "and lets its VMM's uid go ($uid_c)" wait_for 10 bash -c '[ ! -e "$1/vmm-uids/$2.lock" ]' _ "$STATE_ROOT" "$uid_c"
ctr_ task delete c >/dev/null 2>&1 || true; ctr_ c rm c >/dev/null 2>&1 || true
for p in a b c; do expect "CNI DEL of pod $p succeeds" cni_remove "$p"; done
ip link del "$CNI_BRIDGE" 2>/dev/null || true
expect "nothing of the test's network is left" \
  bash -c '! ip link show "$1" 2>/dev/null && ! ip netns list | grep -q "lcow-$2-"' _ "$CNI_BRIDGE" "$tag"
expect "nothing is left behind" all_clean 20
finish
