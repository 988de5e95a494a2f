#!/usr/bin/env bash
# shellcheck disable=SC2046 # in_pod and bind print several ctr flags
# Issue 19: host directories (a pod's hostPath volumes, any host bind) in a
# pod that is not live-migratable reach its containers through a real
# directory share: virtio-fs, one virtiofsd per sandbox, guest RAM in a
# shared memfd.  A container reads and writes a host directory, a
# read-only one stays read-only (in the guest and on the host side of the
# share), a single file can be bound; nothing of the share outlives the
# container or the sandbox.  A migratable pod still refuses host binds.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
qemu_config
ONE_CPU=(--annotation io.microsoft.virtualmachine.computetopology.processor.count=1)
in_pod() { echo --annotation io.kubernetes.cri.container-type=container --annotation "io.kubernetes.cri.sandbox-id=$1"; }
make_rootfs "$T/ctr-rootfs"
mkdir -p "$T/host/rw" "$T/host/ro"
echo "from the host" >"$T/host/rw/hello"
echo "read only" >"$T/host/ro/file"
echo "key=value" >"$T/host/extra.conf"
echo "root's only" >"$T/host/rw/private" && chmod 0600 "$T/host/rw/private"

expect "a sandbox that is not migratable boots" run_sandbox p1 --runtime-config-path "$T/qemu.json" "${ONE_CPU[@]}"
uvm="$(bundle_of p1)/uvm.json"
expect "its QEMU has the virtio-fs device" grep -q 'vhost-user-fs-device,chardev=share,tag=lcowshare' "$uvm"
expect "and its RAM in a shared memfd" grep -q 'memory-backend-memfd,id=mem,size=512M,share=on' "$uvm"
sock=$(python3 -c 'import json,sys,re; a=json.load(open(sys.argv[1]))["vmm_argv"]; print([re.sub(r".*path=","",x) for x in a if x.startswith("socket,id=share,")][0])' "$uvm")
state=$(dirname "$(dirname "$sock")")
# (anchored: a check's own command line names the pattern too)
vfsd_pattern="^[^ ]*virtiofsd --fd=3 -o source=$state/share"
# (virtiofsd forks once into its pid namespace: two processes, one daemon)
expect "a virtiofsd serves the sandbox's share ($state/share)" pgrep -f -- "$vfsd_pattern"
vfsd=$(pgrep -f -- "$vfsd_pattern" | head -1)
expect "virtiofsd runs sandboxed: namespaces of its own" \
  bash -c '[ "$(readlink /proc/$1/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && [ "$(readlink /proc/$1/ns/net)" != "$(readlink /proc/self/ns/net)" ]' _ "$vfsd"
expect "root only in a user namespace of its own, every id mapped to itself" \
  bash -c '[ "$(readlink /proc/$1/ns/user)" != "$(readlink /proc/self/ns/user)" ] && [ "$(awk "{ print \$1, \$2, \$3 }" /proc/$1/uid_map)" = "0 0 4294967295" ]' _ "$vfsd"

out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod p1) \
  --mount "type=bind,src=$T/host/rw,dst=/data,options=rbind:rw" \
  --mount "type=bind,src=$T/host/ro,dst=/ro,options=rbind:ro" \
  --mount "type=bind,src=$T/host/extra.conf,dst=/etc/extra.conf,options=rbind:ro" \
  --rootfs "$T/ctr-rootfs" c1 /bin/sh -c '
    cat /data/hello; echo "from the guest" >/data/written && echo wrote-rw
    cat /data/private
    touch /ro/new 2>&1 || echo ro-refused
    cat /ro/file; cat /etc/extra.conf
    grep " /data " /proc/mounts | cut -d" " -f3' 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "the container ran" [ "$rc" -eq 0 ]
expect "it read a host file through the share" grep -qx "from the host" <<<"$out"
expect "its write reached the host directory" bash -c 'grep -q wrote-rw <<<"$1" && [ "$(cat "$2")" = "from the guest" ]' _ "$out" "$T/host/rw/written"
expect "files keep their owners: root's 0600 file is read by the container's root" grep -qx "root's only" <<<"$out"
expect "and what it writes is root's on the host, as under runc" test "$(stat -c %u "$T/host/rw/written")" = 0
expect "a read-only host directory is read-only in the container" grep -q "ro-refused" <<<"$out"
expect "and nothing was created in it on the host" bash -c '[ ! -e "$1" ]' _ "$T/host/ro/new"
expect "its files are read" grep -qx "read only" <<<"$out"
expect "a single host file is bound" grep -qx "key=value" <<<"$out"
expect "over virtio-fs" grep -qx "virtiofs" <<<"$out"
expect "the container's binds left the share with it" \
  wait_for 10 bash -c '! grep -q " $1/share/b" /proc/self/mountinfo' _ "$state"

# ---- issue 27: nothing a pod or its guest does through the share reaches the host
# A node as systemd mounts it: a shared tmpfs with a mount beneath the
# directory a pod binds.
mkdir -p "$T/node"
mount -t tmpfs node "$T/node" && mount --make-private "$T/node" && mount --make-shared "$T/node"
trap 'rc=$?; umount -R -l "$T/node" 2>/dev/null; lcow_teardown $rc' EXIT
mkdir -p "$T/node/src/sub"
echo top >"$T/node/src/top"
mount -t tmpfs sub "$T/node/src/sub"
echo in-sub >"$T/node/src/sub/file"
host_mounted() { findmnt -n "$1" >/dev/null; }
ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod p1) \
  --mount "type=bind,src=$T/node/src,dst=/host,options=rbind:ro" \
  --mount "type=bind,src=$T/node/src,dst=/follow,options=rbind:rw:rslave" \
  --rootfs "$T/ctr-rootfs" c3 /bin/sleep 600 >/dev/null
in_c3() { ctr_ task exec --exec-id "e$RANDOM" c3 /bin/sh -c "$1" 2>&1; }
expect "a read-only bind shows the host's submount" grep -qx in-sub <<<"$(in_c3 'cat /host/sub/file')"
expect "and its submount is read-only too (recursive, as runc's rro)" \
  grep -q "Read-only file system" <<<"$(in_c3 'touch /host/sub/new')"
expect "nothing was written in the host's submount" bash -c '[ ! -e "$1" ]' _ "$T/node/src/sub/new"
mkdir "$T/node/src/later"
mount -t tmpfs later "$T/node/src/later"
echo later >"$T/node/src/later/file"
expect "a host mount made later reaches an rslave bind (HostToContainer)" \
  wait_for 5 bash -c 'grep -qx later <<<"$1"' _ "$(sleep 0.5; in_c3 'cat /follow/later/file')"
expect "but not an rprivate one (mountPropagation None)" \
  bash -c '! grep -qx later <<<"$1"' _ "$(in_c3 'cat /host/later/file')"
kill_and_wait c3 SIGKILL >/dev/null && remove c3 >/dev/null
expect "deleting the container left the host's submounts mounted" \
  bash -c 'findmnt -n "$1" >/dev/null && findmnt -n "$2" >/dev/null' _ "$T/node/src/sub" "$T/node/src/later"
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod p1) \
  --mount "type=bind,src=$T/node/src,dst=/both,options=rbind:rw:rshared" \
  --rootfs "$T/ctr-rootfs" c4 /bin/sh -c : 2>&1) && rc=0 || rc=$?
ctr_ c rm c4 >/dev/null 2>&1 || true
expect "rshared (Bidirectional) is refused, saying why ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "/both.*rshared.*cannot reach the host" <<<"$2"' _ "$rc" "$out"

# A container that became root in the guest mounts the share itself: it can
# neither write its root (64 MiB landed in the host's /run) nor plant
# symlinks where the next bind goes (its error path followed them).
out=$(ctr_ run --rm --privileged --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod p1) \
  --mount "type=bind,src=$T/node/src,dst=/host,options=rbind:ro" \
  --rootfs "$T/ctr-rootfs" c5 /bin/sh -c "
    mkdir -p /mnt/s && mount -t virtiofs lcowshare /mnt/s && echo share-mounted
    for b in /mnt/s/b*; do touch \$b/sub/escaped 2>/dev/null && echo wrote-beneath-ro; done
    dd if=/dev/zero of=/mnt/s/big bs=1M count=64 2>&1 | tail -1
    for i in \$(busybox seq 1 20); do ln -s $T/node/src/sub /mnt/s/b\$i 2>/dev/null && echo planted; done
    echo done" 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "a privileged container mounted the share" grep -qx share-mounted <<<"$out"
expect "it could not write the share's root" \
  bash -c 'grep -q "Read-only file system" <<<"$1" && [ ! -e "$2/share/big" ]' _ "$out" "$state"
expect "nor plant a symlink in it" bash -c '! grep -q planted <<<"$1"' _ "$out"
expect "nor write beneath a read-only bind through the raw share (its submount is read-only on the host too)" \
  bash -c '! grep -q wrote-beneath-ro <<<"$1" && [ ! -e "$2/sub/escaped" ]' _ "$out" "$T/node/src"
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod p1) \
  --mount "type=bind,src=$T/host/rw,dst=/data,options=rbind:rw" \
  --rootfs "$T/ctr-rootfs" c6 /bin/cat /data/hello 2>&1) && rc=0 || rc=$?
expect "the next bind works" grep -qx "from the host" <<<"$out"
expect "and the host's mounts are all there" \
  bash -c 'findmnt -n "$1" >/dev/null && findmnt -n "$2" >/dev/null' _ "$T/node/src/sub" "$T/node/src/later"

# ---- a migratable pod: host binds stay refused ------------------------------
expect "a migratable sandbox boots, without a share" run_sandbox m1 --runtime-config-path "$T/qemu.json" \
  --annotation io.microsoft.migration.allowed=true "${ONE_CPU[@]}"
expect "no virtio-fs device in it" bash -c '! grep -q vhost-user-fs-device "$1"' _ "$(bundle_of m1)/uvm.json"
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" $(in_pod m1) \
  --annotation io.microsoft.migration.allowed=true \
  --mount "type=bind,src=$T/host/rw,dst=/data,options=rbind:rw" \
  --rootfs "$T/ctr-rootfs" c2 /bin/true 2>&1) && rc=0 || rc=$?
expect "a host bind in it is refused as a directory mount ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "/data (bind from .*) is a directory mount" <<<"$2"' _ "$rc" "$out"
ctr_ c rm c2 >/dev/null 2>&1 || true

# ---- the end of the sandbox ---------------------------------------------------
expect "the sandbox stops" kill_and_wait p1 SIGTERM
expect "virtiofsd exits with its VM" wait_for 10 bash -c '! pgrep -f -- "$1" >/dev/null' _ "$vfsd_pattern"
remove p1 >/dev/null
expect "no mount of the share is left once the sandbox is deleted" \
  bash -c '! grep -q " $1/share" /proc/self/mountinfo && [ ! -e "$1" ]' _ "$state"
kill_and_wait m1 SIGKILL && remove m1 >/dev/null
expect "the host directories are intact" bash -c '[ "$(cat "$1/rw/hello")" = "from the host" ] && [ "$(cat "$1/ro/file")" = "read only" ]' _ "$T/host"
expect "nothing is left behind" all_clean 20
finish
