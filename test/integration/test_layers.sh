#!/usr/bin/env bash
# Issue 17: a container's root filesystem is its image's layers, each
# converted once per host into a read-only EROFS image (the layer cache),
# attached once per pod and shared by the pod's containers, stacked by the
# guest with overlayfs under a capped writable tmpfs.  A two-layer image
# (with a whiteout and an opaque directory in its top layer) runs in two
# pods; the cache's bound evicts unused images, never one in use.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
lcow_setup
# Room for the two-layer image (busybox: about 2 MiB) and a little more.
CACHE_MB=4
qemu_config "\"layer_cache_max_mb\": $CACHE_MB, \"container_scratch_mb\": 16"
RUN=(ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
MIGRATABLE=(--annotation io.microsoft.migration.allowed=true
            --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
            --annotation io.microsoft.virtualmachine.computetopology.processor.count=1)
LOG="$T/containerd.log"
CACHE="$T/layers"
count() { grep -c "msg=\"$1\"" "$LOG" || true; }

# --- the image: layer 1 a busybox tree, layer 2 changes it -----------------
make_rootfs "$T/l1"
mkdir -p "$T/l1/data" "$T/l2/etc" "$T/l2/data"
echo "from layer 1" >"$T/l1/etc/gone"
echo a >"$T/l1/data/a"
echo "from layer 2" >"$T/l2/etc/motd"
: >"$T/l2/etc/.wh.gone"          # a whiteout: layer 1's /etc/gone is deleted
: >"$T/l2/data/.wh..wh..opq"     # an opaque directory: layer 1's /data is hidden
echo b >"$T/l2/data/b"
python3 "$TOP/test/integration/make_oci_image.py" "$T/img.tar" localhost/lcow-layers:1 "$T/l1" "$T/l2"
ctr_ image import "$T/img.tar" >/dev/null
IMG=localhost/lcow-layers:1

pod() {
  "${RUN[@]}" --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$1" --rootfs "$T/rootfs" "$1" /bin/true >/dev/null
}
# in_pod POD ID IMAGE CMD...: a container of the pod, from an image.
in_pod() {
  local p=$1 id=$2 image=$3; shift 3
  "${RUN[@]}" --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$p" "$image" "$id" "$@" >/dev/null
}
make_rootfs "$T/rootfs"
pod podA
pod podB
expect "two pods run" bash -c 'for p in podA podB; do
  for i in $(seq 1 120); do [ "$(ctr -a "$1" -n "$2" task ls | awk -v p=$p "\$1 == p { print \$3 }")" = RUNNING ] && continue 2; sleep 0.5; done; exit 1; done' _ "$T/containerd.sock" "$NS"

# --- three containers of the image at once, two pods: one conversion each --
in_pod podA a1 "$IMG" /bin/sleep 600 & p1=$!
in_pod podA a2 "$IMG" /bin/sleep 600 & p2=$!
in_pod podB b1 "$IMG" /bin/sleep 600 & p3=$!
wait "$p1" "$p2" "$p3" || true
for id in a1 a2 b1; do expect "container $id runs" wait_for 60 status_is "$id" RUNNING; done
expect "each layer converted once for three containers in two pods ($(count 'layer converted'))" \
  [ "$(count 'layer converted')" -eq 2 ]
expect "the other pod found both in the host's cache ($(count "layer found in the host's cache"))" \
  [ "$(count "layer found in the host's cache")" -eq 2 ]
expect "each layer attached once per pod: 4 disks for 3 containers ($(count 'layer disk attached'))" \
  [ "$(count 'layer disk attached')" -eq 4 ]
images=$(find "$CACHE" -maxdepth 1 -name '*.erofs' | wc -l)
expect "one image per layer in the cache ($images)" [ "$images" -eq 2 ]
expect "with its content digest beside it" bash -c \
  'for j in "$1"/*.json; do grep -q "\"digest\":\"sha256:[0-9a-f]\{64\}\"" "$j" || exit 1; done' _ "$CACHE"
expect "no image in any bundle" bash -c '! find "$1/state" -name "*.img" -o -name "*.erofs" | grep -q .' _ "$T"

out=$(ctr_ task exec --exec-id see a1 /bin/sh -c 'cat /etc/motd; ls /data; ls /etc/gone 2>&1; busybox | head -n 1' 2>&1 || true)
echo "  a1 sees: $(tr '\n' '|' <<<"$out")"
expect "both layers are seen: layer 2's file, layer 1's programs" \
  bash -c 'grep -q "from layer 2" <<<"$1" && grep -q "^BusyBox" <<<"$1"' _ "$out"
expect "layer 2's whiteout hides layer 1's /etc/gone" grep -q "No such file" <<<"$out"
expect "layer 2's opaque /data hides layer 1's entries (only b)" [ "$(sed -n 2p <<<"$out")" = b ]
out=$(ctr_ task exec --exec-id see b1 /bin/sh -c 'cat /etc/motd; ls /data' 2>&1 || true)
expect "the other pod's container sees the same tree" [ "$out" = $'from layer 2\nb' ]

# --- the writable layer: per container, capped --------------------------------
ctr_ task exec --exec-id w a1 /bin/sh -c 'echo mine > /etc/motd' >/dev/null 2>&1 || true
out=$(ctr_ task exec --exec-id r a2 /bin/cat /etc/motd 2>&1 || true)
expect "a write in one container is its own (a2 still reads layer 2's: $out)" [ "$out" = "from layer 2" ]
out=$(ctr_ task exec --exec-id big a1 /bin/busybox dd if=/dev/zero of=/big bs=1M count=32 2>&1 || true)
expect "writing past the 16 MiB cap fails with ENOSPC ($(tail -n 1 <<<"$out"))" grep -q "No space left" <<<"$out"
expect "the container lives on" status_is a1 RUNNING

# --- unplugged with the last user ---------------------------------------------
removed() { count 'disk removed from the VM'; }
kill_and_wait a1 SIGKILL; remove a1 >/dev/null
expect "a layer another container uses stays attached ($(removed) removed)" [ "$(removed)" -eq 0 ]
kill_and_wait a2 SIGKILL; remove a2 >/dev/null
expect "both layers unplugged when the pod's last user is deleted" wait_for 10 bash -c '[ "$(grep -c "msg=\"disk removed from the VM\"" "$1")" -eq 2 ]' _ "$LOG"

# --- the cache's bound ---------------------------------------------------------
# b1 still holds both layers.  A 3 MiB layer takes the cache over its bound,
# but nothing in use may go.
key_of() { python3 -c 'import json,sys,glob
for j in glob.glob(sys.argv[1] + "/*.json"):
    if json.load(open(j))["source"] == sys.argv[2]: print(j[:-5].rsplit("/", 1)[1])' "$CACHE" "$1"; }
mkdir -p "$T/l3/bin"; cp "$T/l1/bin/busybox" "$T/l3/bin/"; ln -s busybox "$T/l3/bin/sleep"
head -c 3M /dev/urandom >"$T/l3/blob"
python3 "$TOP/test/integration/make_oci_image.py" "$T/img3.tar" localhost/lcow-layers:3 "$T/l3"
ctr_ image import "$T/img3.tar" >/dev/null
in_pod podA c1 localhost/lcow-layers:3 /bin/sleep 600
expect "a container of a third image runs" wait_for 60 status_is c1 RUNNING
images=$(find "$CACHE" -maxdepth 1 -name '*.erofs' | wc -l)
mb=$(du -sm --apparent-size "$CACHE"/*.erofs | awk '{ s += $1 } END { print s }')
expect "over the bound ($mb MiB > $CACHE_MB), no image in use is evicted ($images images)" \
  bash -c '[ "$1" -eq 3 ] && [ "$(grep -c "evicted from the host" "$2")" -eq 0 ]' _ "$images" "$LOG"
# Once b1 and c1 are gone, the next conversion evicts the least recently
# used unused images until the bound holds, and keeps its own.
kill_and_wait b1 SIGKILL; remove b1 >/dev/null
kill_and_wait c1 SIGKILL; remove c1 >/dev/null
mkdir -p "$T/l4/bin"; cp "$T/l1/bin/busybox" "$T/l4/bin/"; ln -s busybox "$T/l4/bin/sleep"; echo four >"$T/l4/four"
python3 "$TOP/test/integration/make_oci_image.py" "$T/img4.tar" localhost/lcow-layers:4 "$T/l4"
ctr_ image import "$T/img4.tar" >/dev/null
in_pod podB d1 localhost/lcow-layers:4 /bin/sleep 600
expect "a container of a fourth image runs" wait_for 60 status_is d1 RUNNING
evicted=$(count 'layer image evicted from the host.s cache')
mb=$(du -sm --apparent-size "$CACHE"/*.erofs | awk '{ s += $1 } END { print s }')
echo "  cache after: $(find "$CACHE" -maxdepth 1 -name '*.erofs' | wc -l) images, $mb MiB; $evicted evicted"
expect "unused images were evicted ($evicted) until the bound holds ($mb MiB <= $CACHE_MB)" \
  bash -c '[ "$1" -ge 1 ] && [ "$2" -le "$3" ]' _ "$evicted" "$mb" "$CACHE_MB"
out=$(ctr_ task exec --exec-id see d1 /bin/busybox cat /four 2>&1 || true)
expect "the image in use stays and serves its container ($out)" [ "$out" = four ]

# --- a plain directory (ctr run --rootfs): converted, not cached ---------------
"${RUN[@]}" --annotation io.kubernetes.cri.container-type=container \
  --annotation io.kubernetes.cri.sandbox-id=podB --rootfs "$T/l4" e1 /bin/sleep 600 >/dev/null
expect "a --rootfs container runs" wait_for 60 status_is e1 RUNNING
scratch=$(find "$CACHE/sandboxes" -name '*.erofs' | wc -l)
expect "its image is the sandbox's own, not in the cache ($scratch)" [ "$scratch" -eq 1 ]
kill_and_wait e1 SIGKILL; remove e1 >/dev/null
expect "and is removed with the container" wait_for 10 bash -c '[ -z "$(find "$1/sandboxes" -name "*.erofs")" ]' _ "$CACHE"

# --- containerd 2's EROFS snapshotter: its layer images attached as they are
EROFS_ROOT="$T/root/io.containerd.snapshotter.v1.erofs"
if [ "${CONTAINERD_MAJOR:-1}" -lt 2 ]; then
  echo "# skipped: the EROFS snapshotter: containerd $(containerd --version | awk '{print $3}') has none (2.0+ has)"
elif ! grep -qw erofs /proc/filesystems; then
  echo "# skipped: the EROFS snapshotter: this host's kernel has no erofs, which it mounts its layers with"
else
  converted=$(count 'layer converted'); attached=$(count 'layer disk attached')
  ERUN=(ctr_ run -d --snapshotter erofs --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json"
        --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=podB)
  out=$("${ERUN[@]}" "$IMG" f1 /bin/sleep 600 2>&1)
  expect "a container of the image through the EROFS snapshotter runs ($out)" wait_for 60 status_is f1 RUNNING
  expect "both its layers were containerd's images, taken as they are ($(count 'layer image taken as containerd made it'))" \
    [ "$(count 'layer image taken as containerd made it')" -eq 2 ]
  expect "none converted ($(($(count 'layer converted') - converted)) more conversions)" \
    [ "$(count 'layer converted')" -eq "$converted" ]
  out=$(ctr_ task exec --exec-id e f1 /bin/sh -c 'cat /etc/motd; ls /data; cat /etc/gone 2>&1' 2>&1 || true)
  expect "the layers stack as before: layer 2's file, its opaque /data, its whiteout ($(tr '\n' ' ' <<<"$out"))" \
    bash -c '[ "$(sed -n 1,2p <<<"$1")" = $'"'"'from layer 2\nb'"'"' ] && grep -q "No such file" <<<"$1"' _ "$out"
  "${ERUN[@]}" "$IMG" f2 /bin/sleep 600 >/dev/null 2>&1
  expect "a second container of it in the pod runs" wait_for 60 status_is f2 RUNNING
  expect "and shares the pod's two disks ($(($(count 'layer disk attached') - attached)) attached)" \
    [ "$(count 'layer disk attached')" -eq $((attached + 2)) ]
  removed=$(count 'disk removed from the VM')
  for id in f1 f2; do kill_and_wait "$id" SIGKILL; remove "$id" >/dev/null; done
  expect "the disks are unplugged with their last container" \
    wait_for 10 bash -c '[ "$(grep -c "msg=\"disk removed from the VM\"" "$1")" -ge "$2" ]' _ "$LOG" $((removed + 2))
  images=$(find "$EROFS_ROOT/snapshots" -name layer.erofs | wc -l)
  expect "containerd's images stay where they were ($images)" [ "$images" -ge 2 ]
  # A live-migratable pod converts them instead: its destination must have
  # the same bytes, and containerd's images are this host's own.
  "${RUN[@]}" "${MIGRATABLE[@]}" --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation io.kubernetes.cri.sandbox-id=podM --rootfs "$T/rootfs" podM /bin/true >/dev/null
  expect "a live-migratable pod runs" wait_for 60 status_is podM RUNNING
  taken=$(count 'layer image taken as containerd made it')
  ctr_ run -d --snapshotter erofs --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json" \
    --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=podM \
    "$IMG" m1 /bin/sleep 600 >/dev/null 2>&1
  expect "its container of the image runs" wait_for 60 status_is m1 RUNNING
  expect "from layers converted, not containerd's images ($(($(count 'layer image taken as containerd made it') - taken)) taken)" \
    [ "$(count 'layer image taken as containerd made it')" -eq "$taken" ]
  out=$(ctr_ task exec --exec-id e m1 /bin/cat /etc/motd 2>&1 || true)
  expect "it reads the same tree ($out)" [ "$out" = "from layer 2" ]
  for id in m1 podM; do kill_and_wait "$id" SIGKILL; remove "$id" >/dev/null; done
fi

kill_and_wait d1 SIGKILL; remove d1 >/dev/null
for p in podA podB; do kill_and_wait "$p" SIGKILL; remove "$p" >/dev/null; done
expect "nothing is left behind" wait_for 10 nothing_left
expect "no sandbox's scratch directory is left" bash -c '[ -z "$(ls -A "$1/sandboxes" 2>/dev/null)" ]' _ "$CACHE"
