#!/usr/bin/env bash
# make bench, pod networking: TCP throughput and round trips between two
# pods of this shim on a private CNI bridge, and from a pod to the bridge's
# host address, next to the same between two runc containers on the same
# bridge.  Prints a table and writes $BENCH_DIR/network.json.
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=network-bench
BENCH_DIR=${BENCH_DIR:-$BUILD_DIR/bench}
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
MIB=${MIB:-64}
lcow_setup
qemu_config
ROOTFS="$T/rootfs-net"
make_rootfs "$ROOTFS"
RUN=(ctr_ run --runtime io.containerd.lcow.v2 --runtime-config-path "$T/qemu.json")
source "$TOP/test/integration/cni.sh"
cni_setup
trap 'rc=$?; { kill "${SINK_PID:-}" || true; } 2>/dev/null; cni_teardown a b ra rb; set +e; (exit $rc); lcow_teardown' EXIT
declare -A IP
for n in a b ra rb; do IP[$n]=$(cni_add "$n"); done

# The client side, run in a container: MIB MiB to ADDRESS:PORT, then 20
# pings; prints "seconds rtt_avg_ms".
# The clock stops when the last byte is handed to nc (within its socket
# buffer of the end): nc then waits for a close the sink never makes.
client='t0=$(busybox cut -d" " -f1 /proc/uptime)
  { busybox dd if=/dev/zero bs=65536 count=$((16 * $1)) 2>/dev/null
    busybox cut -d" " -f1 /proc/uptime >/tmp/t1; } | busybox nc -w 2 $2 $3
  t1=$(busybox cat /tmp/t1)
  rtt=$(busybox ping -q -c 20 -i 0.2 $2 | busybox sed -n "s|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p")
  echo "$t0 $t1 $rtt" | busybox awk "{ printf \"%.2f %s\\n\", \$2 - \$1, \$3 }"'
sink='while :; do busybox nc -l -p 5001 >/dev/null; done'
# A sink on the bridge's host address.
python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5002))
s.listen(4)
while True:
    c, _ = s.accept()
    while c.recv(1 << 20):
        pass
    c.close()' "$CNI_NET.1" &
SINK_PID=$!

# This shim: two pods, a sink in b.
lcow_pod a; lcow_pod b
wait_for 60 status_is a RUNNING && wait_for 60 status_is b RUNNING
in_pod b -d -- sink-b /bin/sh -c "$sink" >/dev/null
wait_for 60 status_is sink-b RUNNING; sleep 1
lcow_pp=$(in_pod a --rm -- cli-ab /bin/sh -c "$client" _ "$MIB" "${IP[b]}" 5001 2>&1 | tail -n 1)
lcow_ph=$(in_pod a --rm -- cli-ah /bin/sh -c "$client" _ "$MIB" "$CNI_NET.1" 5002 2>&1 | tail -n 1)

# runc: two containers, each in its own namespace on the same bridge.
runc_in() { local n=$1 mode=$2 id=$3; shift 3
  ctr_ run "$mode" --with-ns "network:$(cni_netns "$n")" --rootfs "$ROOTFS" "$id" "$@"; }
runc_in rb -d sink-rb /bin/sh -c "$sink" >/dev/null
wait_for 30 status_is sink-rb RUNNING; sleep 1
runc_pp=$(runc_in ra --rm cli-rab /bin/sh -c "$client" _ "$MIB" "${IP[rb]}" 5001 2>&1 | tail -n 1)
runc_ph=$(runc_in ra --rm cli-rah /bin/sh -c "$client" _ "$MIB" "$CNI_NET.1" 5002 2>&1 | tail -n 1)

python3 - "$BENCH_DIR" "$MIB" "$lcow_pp" "$lcow_ph" "$runc_pp" "$runc_ph" <<'PY'
import json, sys
out, mib = sys.argv[1], int(sys.argv[2])
def parse(s):
    try:
        secs, rtt = s.split()
        return {"mib_per_s": round(mib / max(float(secs), 0.01), 1), "rtt_ms": float(rtt)}
    except ValueError:
        return {"error": s}
res = {"mib": mib, "lcow": {"pod_to_pod": parse(sys.argv[3]), "pod_to_host": parse(sys.argv[4])},
       "runc": {"pod_to_pod": parse(sys.argv[5]), "pod_to_host": parse(sys.argv[6])}}
json.dump(res, open(out + "/network.json", "w"), indent=2)
print("\npod network (%d MiB over TCP, then 20 pings; TCG here)" % mib)
print("%-28s %14s %14s" % ("", "lcow (this)", "runc-v2"))
for what, label in (("pod_to_pod", "pod to pod"), ("pod_to_host", "pod to host")):
    l, r = res["lcow"][what], res["runc"][what]
    f = lambda d, k: "%.1f" % d[k] if k in d else "error"
    print("%-28s %14s %14s" % (label + ": MiB/s", f(l, "mib_per_s"), f(r, "mib_per_s")))
    print("%-28s %14s %14s" % (label + ": RTT ms", f(l, "rtt_ms"), f(r, "rtt_ms")))
PY
for id in sink-b sink-rb a b; do ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
for id in sink-b sink-rb a b; do wait_for 20 status_is "$id" STOPPED || true; remove "$id" >/dev/null 2>&1 || true; done
finish
