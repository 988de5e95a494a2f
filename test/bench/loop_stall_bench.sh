#!/usr/bin/env bash
# make bench, the event loop: the longest time one loop iteration of the
# shim held its loop (daemon/loop_watch.h, logged at the shim's exit) over
# the whole life of a pod on a CNI network (create, start, a container
# run, kill, delete), ROUNDS times; the same for a pod without a network.
# Prints a table and writes $BENCH_DIR/loop_stall.json.
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=loop-stall-bench
BENCH_DIR=${BENCH_DIR:-$BUILD_DIR/bench}
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
ROUNDS=${ROUNDS:-5}
lcow_setup
qemu_config
ROOTFS="$T/rootfs-stall"
make_rootfs "$ROOTFS"
RUN=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
source "$TOP/test/integration/cni.sh"
cni_setup
pods=()
for i in $(seq "$ROUNDS"); do pods+=("n$i"); done
trap 'rc=$?; cni_teardown "${pods[@]}"; set +e; (exit $rc); lcow_teardown' EXIT

# one_pod ID [ctr run flags]: the pod's life; the longest iteration its
# shim logged meanwhile, in us (the pods live one after the other).
one_pod() {
  local id=$1; shift
  local from
  from=$(wc -l <"$T/containerd.log")
  "${RUN[@]}" -d --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$id" "$@" \
    --rootfs "$ROOTFS" "$id" /bin/sh -c 'sleep 600' >/dev/null
  wait_for 60 status_is "$id" RUNNING
  "${RUN[@]}" --rm --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$id" "$@" \
    --rootfs "$ROOTFS" "c-$id" /bin/sh -c true >/dev/null
  ctr_ t kill -s KILL "$id" >/dev/null
  wait_for 60 status_is "$id" STOPPED
  ctr_ t rm "$id" >/dev/null 2>&1 || true
  ctr_ c rm "$id" >/dev/null
  sleep 1
  tail -n +"$((from + 1))" "$T/containerd.log" | grep 'msg="event loop' |
    sed -n 's/.* us=\([0-9]*\).*/\1/p' | sort -n | tail -n 1
}

net=() bare=()
for i in $(seq "$ROUNDS"); do
  cni_add "n$i" >/dev/null
  net+=("$(one_pod "n$i" --with-ns "network:$(cni_netns "n$i")")")
  bare+=("$(one_pod "b$i")")
done
stalls=$(grep -c 'msg="event loop held by one iteration"' "$T/containerd.log" || true)
ms() { awk '{ printf "%.1f", $1 / 1000 }' <<<"$1"; }
sorted() { printf '%s\n' "$@" | sort -n | tr '\n' ' '; }
echo "longest loop iteration per pod life, ms (ROUNDS=$ROUNDS):"
printf '  %-22s %s\n' "pod network:" "$(for v in $(sorted "${net[@]}"); do printf '%s ' "$(ms "$v")"; done)"
printf '  %-22s %s\n' "no network:" "$(for v in $(sorted "${bare[@]}"); do printf '%s ' "$(ms "$v")"; done)"
echo "  iterations over 100 ms logged: $stalls"
mkdir -p "$BENCH_DIR"
printf '{"rounds":%d,"network_us":[%s],"bare_us":[%s],"stalls_over_100ms":%d}\n' \
  "$ROUNDS" "$(IFS=,; echo "${net[*]}")" "$(IFS=,; echo "${bare[*]}")" "$stalls" \
  >"$BENCH_DIR/loop_stall.json"
