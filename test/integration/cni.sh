# shellcheck shell=bash
# Sourced after lib.sh by the scripts that put sandboxes on a network: a
# private CNI bridge and subnet named after the run (Debian's bridge and
# host-local plugins, run as containerd's CRI plugin runs them), network
# namespaces for pods, and their removal.
CNI_TAG=$(( $$ % 100000 ))
CNI_BRIDGE="lcbr$CNI_TAG"
CNI_NET="10.251.$(( $$ % 200 + 20 ))"
cni_setup() {
  cat >"$T/cni.json" <<JSON
{"cniVersion": "0.4.0", "name": "lcowtest$CNI_TAG", "type": "bridge", "bridge": "$CNI_BRIDGE",
 "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "$CNI_NET.0/24", "dataDir": "$T/cni-ipam",
          "routes": [{"dst": "0.0.0.0/0"}]}}
JSON
}
cni_netns() { echo "/var/run/netns/lcow-$CNI_TAG-$1"; }
# cni COMMAND NAME: ADD or DEL for the namespace of that name.
cni() {
  CNI_COMMAND=$1 CNI_CONTAINERID="pod-$2" CNI_NETNS=$(cni_netns "$2") CNI_IFNAME=eth0 \
    CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge <"$T/cni.json"
}
# cni_add NAME: a namespace on the bridge; prints its address.
cni_add() {
  ip netns add "lcow-$CNI_TAG-$1"
  cni ADD "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'
}
# cni_remove NAME...: CNI DEL (its status is cni_remove's) and the namespace.
cni_remove() {
  local rc=0
  for n in "$@"; do
    cni DEL "$n" >/dev/null 2>&1 || rc=1
    ip netns del "lcow-$CNI_TAG-$n" 2>/dev/null || true
  done
  return $rc
}
cni_teardown() { # cni_teardown NAME...: whatever is left, at exit
  for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  cni_remove "$@" || true
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
}
# lcow_pod NAME: a pod sandbox of this shim in that namespace.
lcow_pod() {
  "${RUN[@]}" -d --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$1" --with-ns "network:$(cni_netns "$1")" \
    --rootfs "$ROOTFS" "$1" /bin/true >/dev/null
}
# in_pod POD [ctr run flags...] -- ID CMD...: a container of that pod.
in_pod() {
  local p=$1 flags=(); shift
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  local id=$2; shift 2
  "${RUN[@]}" "${flags[@]}" --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$p" --with-ns "network:$(cni_netns "$p")" \
    --rootfs "$ROOTFS" "$id" "$@"
}
