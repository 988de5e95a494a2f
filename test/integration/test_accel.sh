#!/usr/bin/env bash
# Issue 13: the accelerator.  A stand-in QEMU (broken_kvm_qemu.py) whose
# KVM attempts stop with QEMU's internal error, as on hosts whose /dev/kvm
# opens but does not run guests, runs the real QEMU under TCG.  Under
# "auto" the first sandbox falls back to TCG inside its Create and records
# the host verdict, the second goes straight to TCG; "kvm" fails at once
# with QEMU's reason; a VM stopped over QMP ends its boot or its sandbox at
# once.  Runs on every host: it needs no working (or broken) KVM.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
# Inherited by containerd, so by the shims and their VMMs.
# Written by the stand-in, which runs as the sandbox's own uid.
ACCEL_LOG_DIR=$(mktemp -d /tmp/lcow-accel.XXXXXX)
chmod 0777 "$ACCEL_LOG_DIR"
export BROKEN_KVM_LOG=$ACCEL_LOG_DIR/launches
trap 'rm -rf "$ACCEL_LOG_DIR"' EXIT
lcow_setup
readable_bootfiles
log="$T/containerd.log"
if [ ! -e /dev/kvm ]; then
  echo "ok - test_accel: # SKIP the fallback needs /dev/kvm to exist (it is never used to run a guest here)"
  finish; exit 0
fi
: >"$BROKEN_KVM_LOG"
chmod 0666 "$BROKEN_KVM_LOG"
VMM="$T/qemu-broken-kvm"
cp "$TOP/test/integration/broken_kvm_qemu.py" "$VMM"
conf() { # conf FILE ACCEL
  cat >"$1" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$VMM", "boot_files_root_path": "$BOOTFILES_DIR",
 "memory_mb": 512, "processor_count": 1, "accel": "$2", "gcs_connection_timeout_ms": 60000}
JSON
}
conf "$T/auto.json" auto
conf "$T/kvm.json" kvm
conf "$T/tcg.json" tcg
verdict=$(python3 -c 'import hashlib,sys; print("%s/accel-%s.json" % (sys.argv[1], hashlib.sha256(sys.argv[2].encode()).hexdigest()[:16]))' "$STATE_ROOT" "$VMM")
rm -f "$verdict"
trap 'rm -rf "$verdict" "$ACCEL_LOG_DIR"; lcow_teardown' EXIT
launches() { paste -sd, "$BROKEN_KVM_LOG"; }
# Later TCG launches are the shim relaunching a boot that hung for real
# (a busy host; see test_qemu's q4): KVM first, then TCG only.
kvm_then_tcg() { [[ "$(launches)" =~ ^kvm(,tcg)+$ ]]; }
tcg_only() { [[ "$(launches)" =~ ^tcg(,tcg)*$ ]]; }
# ms_between LOG FIRST-PATTERN SECOND-PATTERN: log time from one line to another.
ms_between() {
  python3 - "$@" <<'PY'
import re, sys
from datetime import datetime
def at(pat):
    for l in open(sys.argv[1]):
        if re.search(pat, l):
            t = re.search(r'time="([^"]+)"', l).group(1)
            return datetime.strptime(t[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
print(int((at(sys.argv[3]) - at(sys.argv[2])).total_seconds() * 1000))
PY
}
uvm_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$(bundle_of "$1")/uvm.json" "$2"; }
# qmp_operator ID COMMAND: runs a QMP command on the sandbox's operator socket.
qmp_operator() {
  python3 - "$(bundle_of "$1")/uvm.json" "$2" <<'PY'
import json, socket, sys
argv = json.load(open(sys.argv[1]))["vmm_argv"]
path = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-qmp"][1]
path = path.split(":", 1)[1].split(",")[0]
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
}

# --- auto: the first sandbox falls back inside its Create -------------------
start=$(date +%s%N)
expect "auto: a sandbox boots although KVM stops its guest" run_sandbox a1 --runtime-config-path "$T/auto.json"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  a1 create -> RUNNING: $ms ms (launches: $(launches))"
expect "auto: KVM tried first, then the same VM under TCG" kvm_then_tcg
expect "auto: the fallback costs seconds, not the GCS timeout" test "$ms" -lt 20000
expect "the shim log warns once, with QEMU's reason" \
  bash -c '[ "$(grep -c "msg=\"KVM does not run guests on this host; relaunching the VM under TCG\" uvm-id=a1" "$1")" -eq 1 ] &&
           grep "KVM does not run guests" "$1" | grep -q "QEMU stopped the VM: internal-error (QEMU: KVM internal error. Suberror: 1)"' _ "$log"
expect "uvm.json: accel tcg" test "$(uvm_field a1 accel)" = tcg
expect "uvm.json: accel_reason says why" \
  grep -q '"accel_reason": "kvm attempt failed: QEMU stopped the VM: internal-error (QEMU: KVM internal error. Suberror: 1)"' "$(bundle_of a1)/uvm.json"
expect "the VMM started line names the accelerator and reason" \
  grep -q 'msg="VMM started" uvm-id=a1 vmm=qemu accel=tcg attempt=2 accel_reason="kvm attempt failed: QEMU stopped the VM: internal-error' "$log"
expect "the host verdict is recorded: kvm broken" \
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if v["kvm"]=="broken" and "internal-error" in v["reason"] else 1)' "$verdict"
expect "the task's pid is the TCG QEMU" tr '\0' ' ' <"/proc/$(task_pid a1)/cmdline" | grep -q -- '-accel tcg'

# --- auto: the second sandbox goes straight to TCG --------------------------
: >"$BROKEN_KVM_LOG"
expect "auto: a second sandbox boots" run_sandbox a2 --runtime-config-path "$T/auto.json"
expect "auto: no KVM attempt once the host verdict says broken" tcg_only
expect "uvm.json: the reason is the host verdict" \
  bash -c 'grep -q "\"accel_reason\": \"host verdict: kvm attempt failed: QEMU stopped the VM: internal-error" "$1"' _ "$(bundle_of a2)/uvm.json"
expect "no second warning" test "$(grep -c 'KVM does not run guests' "$log")" -eq 1

# --- a running VM that stops ends its sandbox --------------------------------
ctr_ events >"$T/events.txt" 2>&1 &
EVENTS_PID=$!
sleep 0.3
expect "QMP stop on a running sandbox" qmp_operator a2 stop
expect "the sandbox task exits" wait_for 10 status_is a2 STOPPED
expect "the shim log says why" grep -q 'msg="VM stopped; ending the sandbox" uvm-id=a2 reason="QEMU stopped the VM: paused"' "$log"
kill "$EVENTS_PID" 2>/dev/null || true
expect "one exit event for a2" test "$(grep '/tasks/exit' "$T/events.txt" | grep -c '"a2"')" -eq 1
remove a2
expect "a1 stops on SIGKILL" kill_and_wait a1 SIGKILL
remove a1

# --- a KVM guest that hangs without a word falls back as soon as it is seen --
# (as QEMU with -cpu qemu64 does on these hosts: no event, no exit)
HANG="$T/qemu-broken-kvm-hang"
cp "$TOP/test/integration/broken_kvm_qemu.py" "$HANG"
sed "s|$VMM|$HANG|" "$T/auto.json" >"$T/hang.json"
hang_verdict=$(python3 -c 'import hashlib,sys; print("%s/accel-%s.json" % (sys.argv[1], hashlib.sha256(sys.argv[2].encode()).hexdigest()[:16]))' "$STATE_ROOT" "$HANG")
trap 'rm -f "$verdict" "$hang_verdict" "$BROKEN_KVM_LOG"; lcow_teardown' EXIT
: >"$BROKEN_KVM_LOG"
start=$(date +%s%N)
expect "auto: a sandbox boots although its KVM guest stands still" run_sandbox h1 --runtime-config-path "$T/hang.json"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  h1 create -> RUNNING: $ms ms (launches: $(launches))"
expect "auto: KVM tried first, then TCG" kvm_then_tcg
fallback_ms=$(ms_between "$log" 'msg="VMM started" uvm-id=h1 .*attempt=1 ' 'KVM does not run guests.*uvm-id=h1')
echo "  h1 fell back $fallback_ms ms after its KVM launch"
expect "... before the progress timeout (10 s) would have ended the trial" test "$fallback_ms" -lt 5000
expect "the warning says the vCPUs stood still" \
  grep -q 'msg="KVM does not run guests on this host; relaunching the VM under TCG" uvm-id=h1 reason="the guest.s vCPUs stood still for 800 ms (CPU 0 at 0xfff0)"' "$log"
expect "h1 stops on SIGKILL" kill_and_wait h1 SIGKILL
remove h1

# --- kvm: KVM or a clear error ----------------------------------------------
: >"$BROKEN_KVM_LOG"
start=$(date +%s%N)
out=$(run_sandbox k1 --runtime-config-path "$T/kvm.json" 2>&1) && rc=0 || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ctr_ c rm k1 >/dev/null 2>&1 || true
echo "  k1 refused after $ms ms: $out"
expect "accel kvm on a broken host fails Create" test "$rc" -ne 0
expect "... in under 10 s" test "$ms" -lt 10000
expect "... with no TCG attempt" test "$(launches)" = "kvm"
expect "... FailedPrecondition naming QEMU's reason" \
  grep -q 'method=containerd.task.v2.Task/Create code=FailedPrecondition error="create sandbox k1: start UVM: the VM did not boot under kvm: QEMU stopped the VM: internal-error (QEMU: KVM internal error. Suberror: 1)' "$log"

# --- a VM stopped during its boot fails the boot at once ---------------------
(rc=0; run_sandbox s1 --runtime-config-path "$T/tcg.json" >"$T/s1.out" 2>&1 || rc=$?; echo "$rc" >"$T/s1.rc") &
operator_socket() { python3 -c 'import json,sys
argv=json.load(open(sys.argv[1]))["vmm_argv"]; print([argv[i+1] for i in range(len(argv)-1) if argv[i]=="-qmp"][1].split(":",1)[1].split(",")[0])' "$(bundle_of s1)/uvm.json" 2>/dev/null || echo /nonexistent; }
wait_for 10 bash -c 'test -S "$1"' _ "$(wait_for 10 test -s "$(bundle_of s1)/uvm.json"; operator_socket)" || true
start=$(date +%s%N)
expect "QMP stop during s1's boot" qmp_operator s1 stop
wait_for 10 test -s "$T/s1.rc" || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  s1 failed $ms ms after the stop: $(cat "$T/s1.out")"
expect "the boot fails at once (< 5 s), not after the GCS timeout" \
  bash -c '[ "$(cat "$1")" != 0 ] && [ "$2" -lt 5000 ]' _ "$T/s1.rc" "$ms"
expect "... naming the run state" grep -q 'create sandbox s1: start UVM: the VM did not boot under tcg: QEMU stopped the VM: paused' "$log"
ctr_ c rm s1 >/dev/null 2>&1 || true
expect "nothing left" all_clean 10
finish
