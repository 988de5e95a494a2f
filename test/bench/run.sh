#!/usr/bin/env bash
# make bench: this shim next to containerd-shim-runc-v2, in one run, driven
# by containerd's own Go ttrpc client, alternating between the two.
# Prints a table with PASS/FAIL against the targets, writes
# $BENCH_DIR/results.json and $BENCH_DIR/latency.png.
source "$(dirname "$0")/../integration/lib.sh"
TEST_NAME=bench
BENCH_DIR=${BENCH_DIR:-$BUILD_DIR/bench}
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
GOBENCH="$BENCH_DIR/ttrpc-bench"
ROUNDS=${ROUNDS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
RUNC_SHIM=$(command -v containerd-shim-runc-v2)
R="$BENCH_DIR/raw"
rm -rf "$R"; mkdir -p "$R"
say() { printf '==> %s\n' "$*"; }

lcow_setup

# --- one sandbox of each -----------------------------------------------------
run_sandbox b-lcow >/dev/null
ctr_ run -d --runtime io.containerd.runc.v2 --rootfs "$BENCH_DIR/rootfs" b-runc /pause >/dev/null
sock_of() { sed 's|unix://||' "$(bundle_of "$1")/address"; }
LSOCK=$(sock_of b-lcow); RSOCK=$(sock_of b-runc)
LPID=$(shim_pids)
RPID=$(pgrep -f "^$RUNC_SHIM -namespace $NS -id b-runc" | head -1)

# --- round trips: Connect and State, 1 and 8 connections, alternating ------
say "ttrpc round trips (Go client, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds, alternating shims)"
for round in $(seq "$ROUNDS"); do
  for method in Connect State; do
    for conns in 1 8; do
      for shim in lcow runc; do
        if [ $shim = lcow ]; then a=$LSOCK id=b-lcow; else a=$RSOCK id=b-runc; fi
        "$GOBENCH" -addr "$a" -id "$id" -method $method -conns $conns \
          -duration "${SECONDS_PER_RUN}s" -samples "$R/$shim-$method-$conns-$round.txt" \
          >"$R/$shim-$method-$conns-$round.json"
      done
    done
  done
done

# --- memory: idle (started, nothing created) and with one sandbox --------
mem_of() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {print r, p}' "/proc/$1/smaps_rollup"; }
mem_of "$LPID" >"$R/lcow-mem-one.txt"
mem_of "$RPID" >"$R/runc-mem-one.txt"
idle_bundle() {
  local d="$T/idle-$1"; mkdir -p "$d"
  echo '{"ociVersion":"1.0.2","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"}}' >"$d/config.json"
  mkfifo "$d/log"; (cat "$d/log" >/dev/null &) ; echo "$d"
}
# start_shim BIN ID: runs the start action in a fresh bundle; prints ms.
start_shim() {
  local bin=$1 id=$2 d; d=$(idle_bundle "$id")
  (cd "$d" && python3 -c '
import subprocess, sys, time
t = time.monotonic()
out = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, capture_output=True, text=True)
ms = (time.monotonic() - t) * 1000
if out.returncode != 0 or not out.stdout.startswith("unix://"):
    sys.exit("start failed: " + out.stdout + out.stderr)
print("%.2f" % ms)' "$bin" -namespace benchidle -id "$id" -address "$T/containerd.sock" -publish-binary /bin/true start)
}
stop_idle() {  # kill the daemon started for ID and its socket
  local pid; pid=$(pgrep -f -- "-namespace benchidle -id $1( |$)" | head -1)
  local sock; sock=$(sed 's|unix://||' "$T/idle-$1/address" 2>/dev/null || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$sock" ] && rm -f "$sock"
  true
}
say "shim memory and start latency"
for shim in lcow runc lcow-dynamic; do
  bin=$SHIM_BIN_DIR/containerd-shim-lcow-v2; [ $shim = runc ] && bin=$RUNC_SHIM
  [ $shim = lcow-dynamic ] && bin=$BENCH_DIR/dynamic/containerd-shim-lcow-v2
  start_shim "$bin" "$shim-idle" >/dev/null
  sleep 1
  pid=$(pgrep -f -- "-namespace benchidle -id $shim-idle( |$)" | head -1)
  mem_of "$pid" >"$R/$shim-mem-idle.txt"
  stop_idle "$shim-idle"
  : >"$R/$shim-start.txt"
  for i in $(seq 20); do
    start_shim "$bin" "$shim-s$i" >>"$R/$shim-start.txt"
    stop_idle "$shim-s$i"
  done
done

# The harness's own cost of spawning a program and reading its output.
python3 -c '
import subprocess, time
for _ in range(20):
    t = time.monotonic()
    subprocess.run(["/bin/true"], stdin=subprocess.DEVNULL, capture_output=True)
    print("%.2f" % ((time.monotonic() - t) * 1000))' >"$R/spawn-baseline.txt"

# --- sandbox create -> RUNNING ----------------------------------------------
say "sandbox create -> RUNNING (exec VMM: shim cost alone; QEMU: boot included)"
cat >"$T/qemu.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$QEMU", "boot_files_root_path": "$BOOTFILES_DIR", "memory_mb": 512}
JSON
create_ms() {  # create_ms ID [ctr run flags]: time of ctr run -d, then remove
  local id=$1; shift
  local t0; t0=$(date +%s%N)
  run_sandbox "$id" "$@" >/dev/null
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
  ctr_ task kill -s SIGKILL "$id" >/dev/null; wait_for 20 status_is "$id" STOPPED; remove "$id" >/dev/null
}
: >"$R/create-exec.txt"; : >"$R/create-qemu.txt"; : >"$R/guest-boot.txt"
for i in $(seq 5); do create_ms "ce$i" >>"$R/create-exec.txt"; done
for i in $(seq 3); do
  t0=$(date +%s%N)
  run_sandbox "cq$i" --runtime-config-path "$T/qemu.json" \
    --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=initrd >/dev/null
  echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$R/create-qemu.txt"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guest"]["uptime_ms"])' \
    "$(bundle_of "cq$i")/uvm.json" >>"$R/guest-boot.txt"
  ctr_ task kill -s SIGKILL "cq$i" >/dev/null; wait_for 20 status_is "cq$i" STOPPED; remove "cq$i" >/dev/null
done

# --- a container in an already booted UVM ---------------------------------
# From ctr run to the container's first output byte (Create: image, disk
# hot-add, guest create; Start; the output's way back), and the whole run
# with the exit and delete.
say "container Create -> Start -> first output, inside a booted UVM"
make_rootfs "$T/ctr-rootfs"
run_sandbox pod-b --runtime-config-path "$T/qemu.json" \
  --annotation io.kubernetes.cri.container-type=sandbox \
  --annotation io.kubernetes.cri.sandbox-id=pod-b >/dev/null
wait_for 60 status_is pod-b RUNNING
for i in $(seq 8); do
  python3 - "$T/containerd.sock" "$NS" "$T/qemu.json" "$T/ctr-rootfs" "cb$i" <<'PY' >>"$R/container.txt"
import subprocess, sys, time
sock, ns, cfg, rootfs, cid = sys.argv[1:]
t = time.monotonic()
p = subprocess.Popen(["ctr", "-a", sock, "-n", ns, "run", "--rm", "--runtime", "io.containerd.lcow.v2",
                      "--runtime-config-path", cfg,
                      "--annotation", "io.kubernetes.cri.container-type=container",
                      "--annotation", "io.kubernetes.cri.sandbox-id=pod-b",
                      "--rootfs", rootfs, cid, "/bin/echo", "hello"], stdout=subprocess.PIPE)
first = p.stdout.read(1)
t_first = time.monotonic()
p.stdout.read()
if p.wait() != 0 or first != b"h":
    sys.exit("container run failed")
print("%.1f %.1f" % ((t_first - t) * 1000, (time.monotonic() - t) * 1000))
PY
done
ctr_ task kill -s SIGKILL pod-b >/dev/null; wait_for 20 status_is pod-b STOPPED; remove pod-b >/dev/null

# --- policy ------------------------------------------------------------
"$BENCH_DIR/policy-bench" >"$R/policy.json"

ctr_ task kill -s SIGKILL b-lcow >/dev/null; ctr_ task kill -s SIGKILL b-runc >/dev/null
wait_for 10 status_is b-lcow STOPPED; wait_for 10 status_is b-runc STOPPED
remove b-lcow >/dev/null; remove b-runc >/dev/null

# --- report ------------------------------------------------------------
KVM=$([ -w /dev/kvm ] && echo kvm || echo tcg)
python3 - "$R" "$BENCH_DIR" "$ROUNDS" "$KVM" "${CFLAGS_USED:--O2 -g}" <<'PY'
import glob, json, os, statistics, sys
raw, out, rounds, accel, cflags = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(p): return json.load(open(p))
def nums(p): return [float(x) for x in open(p).read().split()]
def med(xs): return statistics.median(xs)
res = {"build_cflags": cflags, "sanitizers": "off", "accel": accel, "rpc": {}, "memory_kib": {},
       "start_ms": {}, "create_ms": {}, "policy": load(os.path.join(raw, "policy.json"))}
rows = []
for method in ("Connect", "State"):
    for conns in (1, 8):
        for shim in ("lcow", "runc"):
            runs = [load(os.path.join(raw, "%s-%s-%d-%d.json" % (shim, method, conns, r)))
                    for r in range(1, rounds + 1)]
            res["rpc"]["%s/%s/%d" % (shim, method, conns)] = {
                "p50_us": med([r["p50_us"] for r in runs]),
                "p99_us": med([r["p99_us"] for r in runs]),
                "calls_per_second": med([r["calls_per_second"] for r in runs]),
                "errors": sum(r["errors"] for r in runs)}
for shim in ("lcow", "runc", "lcow-dynamic"):
    for what in ("idle", "one"):
        path = os.path.join(raw, "%s-mem-%s.txt" % (shim, what))
        if os.path.exists(path):
            rss, pss = open(path).read().split()
            res["memory_kib"]["%s/%s" % (shim, what)] = {"rss": int(rss), "pss": int(pss)}
    s = sorted(nums(os.path.join(raw, "%s-start.txt" % shim)))
    res["start_ms"][shim] = {"p50": med(s), "min": s[0], "max": s[-1], "runs": len(s)}
res["start_ms"]["harness_spawn_baseline"] = {"p50": med(nums(os.path.join(raw, "spawn-baseline.txt")))}
for v in ("exec", "qemu"):
    c = nums(os.path.join(raw, "create-%s.txt" % v))
    res["create_ms"][v] = {"median": med(c), "runs": len(c)}
runs = [line.split() for line in open(os.path.join(raw, "container.txt"))]
res["container_ms"] = {"first_output_median": med([float(r[0]) for r in runs]),
                       "whole_run_median": med([float(r[1]) for r in runs]), "runs": len(runs)}
boot = nums(os.path.join(raw, "guest-boot.txt"))
res["create_ms"]["qemu"]["guest_boot_median"] = med(boot)
res["create_ms"]["qemu"]["outside_guest_boot_median"] = res["create_ms"]["qemu"]["median"] - med(boot)

rpc = res["rpc"]
targets = [
    ("shim RSS with one sandbox <= 2 MiB", res["memory_kib"]["lcow/one"]["rss"] <= 2048,
     "%d KiB" % res["memory_kib"]["lcow/one"]["rss"]),
    ("Connect p50 <= half of runc's", rpc["lcow/Connect/1"]["p50_us"] <= rpc["runc/Connect/1"]["p50_us"] / 2,
     "%.1f vs %.1f us" % (rpc["lcow/Connect/1"]["p50_us"], rpc["runc/Connect/1"]["p50_us"])),
    ("throughput, 8 connections >= 2x runc's",
     rpc["lcow/State/8"]["calls_per_second"] >= 2 * rpc["runc/State/8"]["calls_per_second"],
     "%.0f vs %.0f calls/s" % (rpc["lcow/State/8"]["calls_per_second"], rpc["runc/State/8"]["calls_per_second"])),
    ("start < 5 ms", res["start_ms"]["lcow"]["p50"] < 5, "%.2f ms" % res["start_ms"]["lcow"]["p50"]),
    ("policy < 50 us for 100 annotations", res["policy"]["annotation_policy_us"] < 50,
     "%.2f us" % res["policy"]["annotation_policy_us"]),
]
res["targets"] = [{"target": t, "pass": ok, "measured": m} for t, ok, m in targets]
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=2)

print("\nbuild: %s, sanitizers off; accel for QEMU: %s\n" % (cflags, accel))
print("%-28s %14s %14s" % ("", "lcow (this)", "runc-v2"))
for method in ("Connect", "State"):
    for conns in (1, 8):
        l, r = rpc["lcow/%s/%d" % (method, conns)], rpc["runc/%s/%d" % (method, conns)]
        print("%-28s %14s %14s" % ("%s p50/p99 us, %d conn" % (method, conns),
              "%.0f/%.0f" % (l["p50_us"], l["p99_us"]), "%.0f/%.0f" % (r["p50_us"], r["p99_us"])))
        print("%-28s %14.0f %14.0f" % ("%s calls/s, %d conn" % (method, conns),
              l["calls_per_second"], r["calls_per_second"]))
for what in ("idle", "one"):
    l, r = res["memory_kib"]["lcow/" + what], res["memory_kib"]["runc/" + what]
    label = "RSS/PSS KiB, " + ("idle" if what == "idle" else "one sandbox")
    print("%-28s %14s %14s" % (label, "%d/%d" % (l["rss"], l["pss"]), "%d/%d" % (r["rss"], r["pss"])))
print("%-28s %14.2f %14.2f" % ("start ms (p50 of 20)", res["start_ms"]["lcow"]["p50"], res["start_ms"]["runc"]["p50"]))
print("%-28s %14.2f %14s" % ("  (harness spawn of /bin/true)", res["start_ms"]["harness_spawn_baseline"]["p50"], ""))
st = res["memory_kib"]["lcow-dynamic/idle"]
print("%-28s %14s %14s" % ("dynamic build: RSS/PSS idle", "%d/%d" % (st["rss"], st["pss"]), "-"))
print("%-28s %14.2f %14s" % ("dynamic build: start ms", res["start_ms"]["lcow-dynamic"]["p50"], "-"))
print("%-28s %14.0f %14s" % ("create->RUNNING ms, exec VMM", res["create_ms"]["exec"]["median"], "-"))
print("%-28s %14.0f %14s" % ("create->RUNNING ms, QEMU", res["create_ms"]["qemu"]["median"], "-"))
print("%-28s %14.0f %14s" % ("  of which guest boot ms", res["create_ms"]["qemu"]["guest_boot_median"], "-"))
print("%-28s %14.0f %14s" % ("container: first output ms", res["container_ms"]["first_output_median"], "-"))
print("%-28s %14.0f %14s" % ("  whole ctr run ms", res["container_ms"]["whole_run_median"], "-"))
print("%-28s %14.2f %14s" % ("policy us, 100 annotations", res["policy"]["annotation_policy_us"], "-"))
print("%-28s %14.2f %14s" % ("policy us, 100 mounts", res["policy"]["container_policy_us"], "-"))
print("\ntargets:")
for t in res["targets"]:
    print("  %-42s %s  (%s)" % (t["target"], "PASS" if t["pass"] else "FAIL", t["measured"]))
PY

# --- plot: latency distributions (CDF), State and Connect, 1 connection ----
if command -v gnuplot >/dev/null; then
  for f in lcow-State-1-1 runc-State-1-1 lcow-Connect-1-1 runc-Connect-1-1; do
    awk -v n="$(wc -l <"$R/$f.txt")" '{print $1, NR/n}' "$R/$f.txt" >"$R/$f.cdf"
  done
  gnuplot <<GP
set terminal png size 900,540 noenhanced
set output "$BENCH_DIR/latency.png"
set title "Task API round trip, containerd's Go ttrpc client, 1 connection"
set xlabel "latency (us, log scale)"; set ylabel "fraction of calls"
set logscale x; set grid; set key bottom right
plot "$R/lcow-State-1-1.cdf" using 1:2 with lines lw 2 title "lcow State", \
     "$R/runc-State-1-1.cdf" using 1:2 with lines lw 2 title "runc-v2 State", \
     "$R/lcow-Connect-1-1.cdf" using 1:2 with lines dt 2 lw 2 title "lcow Connect", \
     "$R/runc-Connect-1-1.cdf" using 1:2 with lines dt 2 lw 2 title "runc-v2 Connect"
GP
  echo "plot: $BENCH_DIR/latency.png"
fi
echo "results: $BENCH_DIR/results.json"
pass "benchmark finished"
finish
