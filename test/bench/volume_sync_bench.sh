#!/usr/bin/env bash
# make bench: what the pod volume sync costs the shim's event loop (issue
# 27).  One pod whose "VM" is the stand-in agent (hostile_guest.py playing
# a well-behaved one), N containers each with a kubelet configMap volume of
# 20 files of 16 KiB; the CPU time of the shim's loop thread (its main
# thread: the thread pool's work is not counted) over MEASURE_SECONDS, per
# second, at each N; then one volume updated on the host, and the time
# until the shim sends it to the guest.
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=volume_sync_bench
COUNTS=${COUNTS:-"0 50 100"}
MEASURE_SECONDS=${MEASURE_SECONDS:-10}
lcow_setup
UIDP=2a7c6f1e-0b3d-4c5e-8f90-1a2b3c4d5e6f
PODS="$T/kubelet/pods"
POD="$PODS/$UIDP"
GUEST="$T/hostile_guest.py"
cp "$TOP/test/integration/hostile_guest.py" "$GUEST"
cat >"$T/qemu-benign" <<SH
#!/bin/sh
exec python3 "$GUEST" benign "\$@"
SH
chmod 0755 "$T/qemu-benign" "$GUEST"
cat >"$T/vm.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$T/qemu-benign", "boot_files_root_path": "$T/boot",
 "pod_file_roots": ["$PODS"], "virtiofsd_path": "",
 "accel": "tcg", "gcs_connection_timeout_ms": 20000, "stop_grace_ms": 1000}
JSON
make_rootfs "$T/rootfs"
RUN=(ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm.json"
     --annotation io.kubernetes.cri.sandbox-id=kpod --annotation "io.kubernetes.cri.sandbox-uid=$UIDP")
"${RUN[@]}" --annotation io.kubernetes.cri.container-type=sandbox --rootfs "$T/rootfs" kpod /bin/true >/dev/null
wait_for 30 status_is kpod RUNNING || { echo "the pod did not start"; exit 1; }
shim=$(shim_pids | head -1)
keys=()
for k in $(seq 20); do keys+=("key$k=$(head -c 12288 /dev/urandom | base64 -w0)"); done
loop_ticks() { awk '{ print $14 + $15 }' "/proc/$shim/task/$shim/stat"; }
hz=$(getconf CLK_TCK)
made=0
printf '%-12s %s\n' containers "loop ms per second"
for n in $COUNTS; do
  while [ "$made" -lt "$n" ]; do
    made=$((made + 1))
    vol="$POD/volumes/kubernetes.io~configmap/cfg$made"
    kubelet_volume "$vol" 2026_12_07_01.000000001 "${keys[@]}"
    "${RUN[@]}" --annotation io.kubernetes.cri.container-type=container \
      --mount "type=bind,src=$vol,dst=/etc/config,options=rbind:ro" \
      --rootfs "$T/rootfs" "c$made" /bin/sleep >/dev/null
  done
  sleep 2
  before=$(loop_ticks)
  sleep "$MEASURE_SECONDS"
  after=$(loop_ticks)
  printf '%-12s %s\n' "$n" "$(( (after - before) * 1000 / hz / MEASURE_SECONDS ))"
done
if [ "$made" -gt 0 ]; then
  start=$(date +%s%N)
  kubelet_volume "$POD/volumes/kubernetes.io~configmap/cfg1" 2026_12_07_02.000000001 key1=changed "${keys[@]:1}"
  wait_for 10 grep -q 'msg="volume changed on the host: sent to the guest" container=c1 ' "$T/containerd.log" &&
    echo "a volume updated on the host reached the guest's request queue in $(( ($(date +%s%N) - start) / 1000000 )) ms"
fi
remove_everything ctr_
finish
