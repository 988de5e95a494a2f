#!/usr/bin/env bash
# shellcheck disable=SC2046 # in_pod and bind print several ctr flags
# Issue 19, item 1: the kubelet's mounts in a live-migratable pod, laid out
# as the kubelet lays them out (<root>/pods/<uid>/...): its /etc/hosts, the
# termination log (copied back when the container exits), a configMap
# volume (kept in sync: an update on the host reaches the running
# container), a projected service-account token, an emptyDir shared by two
# containers; a hostPath refused with its reason, and a volume whose
# symlink leaves it refused.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
UID9=8d6a1f0e-3c2b-4f6e-9a51-0c1d2e3f4a5b
PODS="$T/kubelet/pods"
POD="$PODS/$UID9"
qemu_config "\"pod_file_roots\": [\"$PODS\", \"$T/cri/io.containerd.grpc.v1.cri/sandboxes\"]"
make_rootfs "$T/rootfs"
RUN=(ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
LM=io.microsoft.migration.allowed=true

mkdir -p "$POD/containers/app1" "$POD/containers/app3" "$POD/volumes/kubernetes.io~empty-dir/cache" \
  "$POD/volumes/kubernetes.io~empty-dir/ram"
# medium: Memory, sizeLimit: 2Mi, as the kubelet makes it: a tmpfs of that size.
mount -t tmpfs -o size=2m tmpfs "$POD/volumes/kubernetes.io~empty-dir/ram"
trap 'rc=$?; umount "$POD/volumes/kubernetes.io~empty-dir/ram" 2>/dev/null; lcow_teardown "$rc"' EXIT
printf '127.0.0.1 localhost\n10.9.8.7 kpod\n' >"$POD/etc-hosts"
: >"$POD/containers/app1/5f1c"
: >"$POD/containers/app3/77ab"
CFG="$POD/volumes/kubernetes.io~configmap/cfg"
kubelet_volume "$CFG" 2026_11_29_01.000000001 greeting=hello mode=blue
SA="$POD/volumes/kubernetes.io~projected/kube-api-access-q7x"
kubelet_volume "$SA" 2026_11_29_01.000000002 token=eyJhbGciOiJSUzI1NiJ9.first namespace=default ca.crt=CERT
KEY="$POD/volumes/kubernetes.io~secret/ssh"
kubelet_volume "$KEY" 2026_11_29_01.000000004 id_ed25519=PRIVATE
chmod 0400 "$KEY/..2026_11_29_01.000000004/id_ed25519" # defaultMode: 0400
EVIL="$POD/volumes/kubernetes.io~secret/evil"
kubelet_volume "$EVIL" 2026_11_29_01.000000003 ok=1
ln -s /etc/shadow "$EVIL/..2026_11_29_01.000000003/shadow"; ln -s ..data/shadow "$EVIL/shadow"
mkdir -p "$T/host-data"

sandbox=(--annotation io.kubernetes.cri.container-type=sandbox --annotation io.kubernetes.cri.sandbox-id=kpod
         --annotation "io.kubernetes.cri.sandbox-uid=$UID9")
ctr_annotations=(--annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=kpod
                 --annotation "io.kubernetes.cri.sandbox-uid=$UID9" --annotation "$LM")
"${RUN[@]}" --annotation "$LM" "${sandbox[@]}" --rootfs "$T/rootfs" kpod /bin/true >/dev/null
expect "a migratable pod runs" wait_for 90 status_is kpod RUNNING
bind() { echo "--mount" "type=bind,src=$1,dst=$2,options=rbind:${3:-ro}"; }
# shellcheck disable=SC2046
"${RUN[@]}" "${ctr_annotations[@]}" $(bind "$POD/etc-hosts" /etc/hosts) \
  $(bind "$POD/containers/app1/5f1c" /dev/termination-log rw) $(bind "$CFG" /etc/config) \
  $(bind "$SA" /var/run/secrets/kubernetes.io/serviceaccount) $(bind "$KEY" /etc/ssh-key) \
  $(bind "$POD/volumes/kubernetes.io~empty-dir/cache" /cache rw) \
  --rootfs "$T/rootfs" app1 /bin/sleep 600 >/dev/null
expect "a container with the kubelet's default mounts runs in the migratable pod" wait_for 60 status_is app1 RUNNING
x() { ctr_ task exec --exec-id "e$RANDOM" "$@" 2>&1 || true; }
out=$(x app1 /bin/sh -c 'cat /etc/hosts; cat /etc/config/greeting; echo; ls /etc/config; cat /var/run/secrets/kubernetes.io/serviceaccount/token')
echo "  app1 sees: $(tr '\n' '|' <<<"$out")"
expect "the kubelet's /etc/hosts" grep -q "10.9.8.7 kpod" <<<"$out"
expect "the configMap's keys and values" bash -c 'grep -qx hello <<<"$1" && grep -qx greeting <<<"$1" && grep -qx mode <<<"$1"' _ "$out"
expect "the service-account token" grep -q "eyJhbGciOiJSUzI1NiJ9.first" <<<"$out"
out=$(x app1 /bin/busybox stat -L -c %a /etc/ssh-key/id_ed25519)
expect "a secret keeps its mode (defaultMode 0400: $out)" [ "$out" = 400 ]
out=$(x app1 /bin/sh -c 'echo x > /etc/config/greeting' )
expect "a read-only volume stays read-only" grep -qi "read-only" <<<"$out"

# --- an emptyDir shared by two containers ------------------------------------
x app1 /bin/sh -c 'echo from-app1 > /cache/note' >/dev/null
# shellcheck disable=SC2046
"${RUN[@]}" "${ctr_annotations[@]}" $(bind "$POD/volumes/kubernetes.io~empty-dir/cache" /cache rw) \
  --rootfs "$T/rootfs" app2 /bin/sleep 600 >/dev/null
expect "a second container with the emptyDir runs" wait_for 60 status_is app2 RUNNING
out=$(x app2 /bin/cat /cache/note)
expect "it sees what the first wrote ($out)" [ "$out" = from-app1 ]
expect "nothing of it on the host's emptyDir" bash -c '[ -z "$(ls -A "$1")" ]' _ "$POD/volumes/kubernetes.io~empty-dir/cache"
# An emptyDir of medium Memory with a sizeLimit: the same cap in the guest.
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" "${ctr_annotations[@]}" \
  $(bind "$POD/volumes/kubernetes.io~empty-dir/ram" /ram rw) --rootfs "$T/rootfs" ram1 /bin/sh -c '
    dd if=/dev/zero of=/ram/one bs=1M count=1 2>/dev/null && echo one-mib-ok
    dd if=/dev/zero of=/ram/three bs=1M count=3 2>&1 | grep -o "No space left on device" | head -1' 2>&1)
expect "a 2 MiB memory emptyDir takes 1 MiB and refuses 3 ($(tr '\n' ' ' <<<"$out"))" \
  bash -c 'grep -q one-mib-ok <<<"$1" && grep -q "No space left on device" <<<"$1"' _ "$out"

# --- the configMap updated on the host, as the kubelet updates it -------------
t0=$(date +%s%3N)
kubelet_volume "$CFG" 2026_11_29_02.000000001 greeting=bonjour mode=green
rm -rf "$CFG/..2026_11_29_01.000000001"
seen() { [ "$(x app1 /bin/cat /etc/config/greeting)" = bonjour ]; }
wait_for 15 seen && ms=$(($(date +%s%3N) - t0)) || ms=none
expect "a configMap update reaches the running container (after $ms ms)" [ "$ms" != none ]
out=$(x app1 /bin/cat /etc/config/mode)
expect "every key of the new version ($out)" [ "$out" = green ]
kubelet_volume "$SA" 2026_11_29_02.000000002 token=eyJhbGciOiJSUzI1NiJ9.rotated namespace=default ca.crt=CERT
expect "a rotated token reaches it too" wait_for 15 bash -c 'ctr -a "$1" -n "$2" task exec --exec-id tok$RANDOM app1 /bin/cat /var/run/secrets/kubernetes.io/serviceaccount/token | grep -q rotated' _ "$T/containerd.sock" "$NS"

# --- the termination message --------------------------------------------------
# shellcheck disable=SC2046
"${RUN[@]}" "${ctr_annotations[@]}" $(bind "$POD/containers/app3/77ab" /dev/termination-log rw) \
  --rootfs "$T/rootfs" app3 /bin/sh -c 'echo "config missing: /etc/app.yaml" > /dev/termination-log; exit 3' >/dev/null
expect "a container that writes its termination message exits" wait_for 60 status_is app3 STOPPED
expect "the message is in its host file for the kubelet ($(cat "$POD/containers/app3/77ab"))" \
  grep -qx "config missing: /etc/app.yaml" "$POD/containers/app3/77ab"

# --- refused: a hostPath, a volume whose symlink leaves it ----------------------
# shellcheck disable=SC2046
out=$("${RUN[@]}" "${ctr_annotations[@]}" $(bind "$T/host-data" /data rw) --rootfs "$T/rootfs" bad1 /bin/true 2>&1 || true)
expect "a hostPath is refused in a migratable pod, saying why" grep -q "directory mount" <<<"$out"
ctr_ c rm bad1 >/dev/null 2>&1 || true
# shellcheck disable=SC2046
out=$("${RUN[@]}" "${ctr_annotations[@]}" $(bind "$EVIL" /etc/evil) --rootfs "$T/rootfs" bad2 /bin/true 2>&1 || true)
expect "a volume whose symlink leaves it is refused, naming it" grep -q "shadow: a symlink out of the volume" <<<"$out"
ctr_ c rm bad2 >/dev/null 2>&1 || true
expect "the pod's containers keep running" bash -c "status_is() { [ \"\$(ctr -a '$T/containerd.sock' -n $NS task ls | awk -v id=\$1 '\$1 == id { print \$3 }')\" = \$2 ]; }; status_is app1 RUNNING && status_is app2 RUNNING"

for c in app1 app2; do kill_and_wait "$c" SIGKILL; remove "$c" >/dev/null; done
remove app3 >/dev/null
kill_and_wait kpod SIGKILL; remove kpod >/dev/null
expect "nothing is left behind" wait_for 10 nothing_left
