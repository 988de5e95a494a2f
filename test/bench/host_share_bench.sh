#!/usr/bin/env bash
# Host directories through virtio-fs (issue 19): a container of a pod that
# is not migratable writes then reads 64 MiB in a host directory bound into
# it (virtio-fs, virtiofsd cache=none), next to the same in the container's
# own writable layer (a guest tmpfs), and lists 1000 files of each; under
# TCG here.  Output: build/bench/host_share.json
source "$(dirname "$0")/../integration/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
OUT=${OUT:-$TOP/build/bench/host_share.json}
lcow_setup
qemu_config
make_rootfs "$T/ctr-rootfs"
mkdir -p "$T/host/data" "$(dirname "$OUT")"
for i in $(seq 1000); do : >"$T/host/data/f$i"; done
run_sandbox p1 --runtime-config-path "$T/qemu.json" \
  --annotation io.microsoft.virtualmachine.computetopology.processor.count=1 >/dev/null
# In the guest (busybox date has no %N: the guest's uptime, in 10 ms steps):
# ms for 64 MiB written (and synced), read back, 1000 names listed.
script='
t() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}0"; } # ms, 10 ms steps
for d in /data /scratch; do
  mkdir -p $d/m; [ $d = /scratch ] && for i in $(seq 1000); do : >$d/f$i; done
  a=$(t); dd if=/dev/zero of=$d/m/blob bs=1M count=64 conv=fsync 2>/dev/null; b=$(t)
  cat $d/m/blob >/dev/null; c=$(t); ls $d >/dev/null; e=$(t)
  echo "$d $((b - a)) $((c - b)) $((e - c))"
done'
out=$(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=p1 \
  --mount "type=bind,src=$T/host/data,dst=/data,options=rbind:rw" \
  --rootfs "$T/ctr-rootfs" hb /bin/sh -c "$script" 2>&1) || { echo "bench: $out" >&2; exit 1; }
printf '%-10s %12s %12s %12s\n' where "write_ms" "read_ms" "ls1000_ms"
echo "[" >"$OUT"; sep=""
while read -r where w r l; do
  printf '%-10s %12s %12s %12s\n' "$where" "$w" "$r" "$l"
  printf '%s{"where": "%s", "write_64mib_ms": %s, "read_64mib_ms": %s, "list_1000_ms": %s}\n' \
    "$sep" "$where" "$w" "$r" "$l" >>"$OUT"; sep=","
done <<<"$out"
echo "]" >>"$OUT"
kill_and_wait p1 SIGKILL && remove p1 >/dev/null
finish
