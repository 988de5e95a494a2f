#!/usr/bin/env bash
# shellcheck disable=SC2046 # in_pod and bind print several ctr flags
# Container start against image size (issue 17): `ctr run --rm` of a static
# program from images of 2 MiB to 1 GiB (a busybox layer and a layer of
# incompressible data), for this shim (two pods running) and runc-v2:
#   first   the image's first container anywhere (lcow: its layers converted)
#   same    a second container while one of the image runs in the same pod
#           (lcow: the pod's disks shared)
#   other   the first container of the image in a second pod (lcow: the
#           host's layer cache, a disk attached)
# Then the disk ten containers of one image use across two pods, and how
# long State takes on a pod's shim while a 1 GiB layer converts.  With
# containerd 2.x, the first container through its EROFS snapshotter too.
# usage: layers_bench.sh [SIZES_MIB...]  (output: build/bench/layers.json)
source "$(dirname "$0")/../integration/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
OUT=${OUT:-$TOP/build/bench/layers.json}
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(2 64 256 1024); fi
lcow_setup
qemu_config '"layer_cache_max_mb": 8192'
make_rootfs "$T/rootfs"
LCOW=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
now_ms() { date +%s%3N; }
pod() {
  "${LCOW[@]}" -d --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$1" --rootfs "$T/rootfs" "$1" /bin/true >/dev/null
  wait_for 120 status_is "$1" RUNNING
}
in_pod() { echo --annotation io.kubernetes.cri.container-type=container --annotation "io.kubernetes.cri.sandbox-id=$1"; }
# timed CMD...: milliseconds CMD took; its output must say "ready".
timed() {
  local t0 out
  t0=$(now_ms)
  out=$("$@" 2>&1) || { echo "bench: $* failed: $out" >&2; exit 1; }
  grep -qx ready <<<"$out" || { echo "bench: $* printed: $out" >&2; exit 1; }
  echo $(($(now_ms) - t0))
}
# image SIZE_MIB [TAG]: imports localhost/bench:TAG (busybox, then SIZE MiB
# of random data in its own layer; TAG defaults to SIZE); echoes the
# reference.
image() {
  local tag=${2:-$1}
  local d="$T/img$tag"
  make_rootfs "$d/l1"
  mkdir -p "$d/l2"
  head -c "$1M" /dev/urandom >"$d/l2/pad"
  python3 "$TOP/test/integration/make_oci_image.py" "$d/img.tar" "localhost/bench:$tag" "$d/l1" "$d/l2" >&2
  ctr_ image import "$d/img.tar" >/dev/null
  if [ -n "$EROFS" ]; then
    # containerd unpacks it for its EROFS snapshotter too (its own mkfs.erofs).
    local t0; t0=$(now_ms)
    ctr_ image import --local --snapshotter erofs "$d/img.tar" >/dev/null
    echo $(($(now_ms) - t0)) >"$T/erofs-unpack-$tag"
  fi
  rm -rf "$d"
  echo "localhost/bench:$tag"
}

# containerd 2.x's EROFS snapshotter, where the host can mount EROFS: the
# first container from its images (attached as they are) beside the rest.
EROFS=""
if [ "${CONTAINERD_MAJOR:-1}" -ge 2 ] && grep -qw erofs /proc/filesystems; then EROFS=1; fi
pod podA
pod podB
results=()
# Ten containers of one image across two pods: the disk they use.
ref=$(image 64 ten)
for i in 1 2 3 4 5; do
  for p in podA podB; do "${LCOW[@]}" -d $(in_pod $p) "$ref" "ten$p$i" /bin/sleep 600 >/dev/null; done
done
for i in 1 2 3 4 5; do for p in podA podB; do wait_for 120 status_is "ten$p$i" RUNNING; done; done
cache_mib=$(du -sm "$T/layers" | cut -f1)
bundles_kib=$(du -sk "$T/state" | cut -f1)
images=$(find "$T/layers" -name '*.erofs' | wc -l)
echo "ten containers of a 64 MiB image (2 layers) in two pods: layer cache $cache_mib MiB in $images images, bundles $bundles_kib KiB"
for i in 1 2 3 4 5; do for p in podA podB; do
  ctr_ task kill -s SIGKILL "ten$p$i" >/dev/null; wait_for 20 status_is "ten$p$i" STOPPED; remove "ten$p$i" >/dev/null
done; done

for size in "${SIZES[@]}"; do
  ref=$(image "$size")
  # State on podA's shim, every 20 ms, while the first use converts.
  sock=$(sed 's|unix://||' "$(bundle_of podA)/address")
  (
    cd "$TOP/test/integration" && python3 -c '
import sys, time, ttrpc_client as c
sock, out = sys.argv[1], sys.argv[2]
worst, n, end = 0.0, 0, time.monotonic() + 600
while time.monotonic() < end:
    worst = max(worst, c.timed_state(sock, "podA")); n += 1
    try:
        open(out + ".stop").close(); break
    except FileNotFoundError:
        time.sleep(0.02)
open(out, "w").write("%.1f %d\n" % (worst, n))
' "$sock" "$T/state-$size.txt"
  ) &
  poller=$!
  first=$(timed "${LCOW[@]}" --rm $(in_pod podA) "$ref" "f$size" /bin/echo ready)
  : >"$T/state-$size.txt.stop"; wait "$poller"
  read -r state_worst state_calls <"$T/state-$size.txt"
  "${LCOW[@]}" -d $(in_pod podA) "$ref" "keep$size" /bin/sleep 600 >/dev/null
  wait_for 60 status_is "keep$size" RUNNING
  same=$(timed "${LCOW[@]}" --rm $(in_pod podA) "$ref" "s$size" /bin/echo ready)
  other=$(timed "${LCOW[@]}" --rm $(in_pod podB) "$ref" "o$size" /bin/echo ready)
  kill_and_wait "keep$size" SIGKILL; remove "keep$size" >/dev/null
  erofs_json=""
  if [ -n "$EROFS" ]; then
    efirst=$(timed "${LCOW[@]}" --snapshotter erofs --rm $(in_pod podA) "$ref" "e$size" /bin/echo ready)
    erofs_json=", \"lcow_erofs_snapshotter_first_ms\": $efirst, \"containerd_erofs_unpack_ms\": $(cat "$T/erofs-unpack-$size")"
    echo "$size MiB: lcow first through the EROFS snapshotter (its images attached as they are) $efirst ms; containerd's unpack into it took $(cat "$T/erofs-unpack-$size") ms"
  fi
  # runc: the same three runs.
  rfirst=$(timed ctr_ run --rm "$ref" "rf$size" /bin/echo ready)
  ctr_ run -d "$ref" "rkeep$size" /bin/sleep 600 >/dev/null
  rsame=$(timed ctr_ run --rm "$ref" "rs$size" /bin/echo ready)
  rother=$(timed ctr_ run --rm "$ref" "ro$size" /bin/echo ready)
  ctr_ task kill -s SIGKILL "rkeep$size" >/dev/null; sleep 0.5; remove "rkeep$size" >/dev/null || true
  echo "$size MiB: lcow first $first, same pod $same, other pod $other ms (State worst $state_worst ms over $state_calls calls during the first); runc $rfirst, $rsame, $rother ms"
  results+=("{\"mib\": $size, \"lcow_first_ms\": $first, \"lcow_same_pod_ms\": $same, \"lcow_other_pod_ms\": $other, \"state_worst_ms_during_first\": $state_worst, \"runc_first_ms\": $rfirst, \"runc_second_ms\": $rsame, \"runc_third_ms\": $rother$erofs_json}")
done

printf '{"runs": [%s], "ten_containers": {"cache_mib": %s, "cache_images": %s, "bundles_kib": %s}}\n' \
  "$(IFS=,; echo "${results[*]}")" "$cache_mib" "$images" "$bundles_kib" >"$OUT"
echo "wrote $OUT"
