#!/usr/bin/env bash
# Issue 14: a hostile guest cannot hurt the host.  Each attack runs in a pod
# of its own whose "VM" is test/integration/hostile_guest.py (a QEMU
# stand-in playing a hostile agent).  For each: the shim's RSS stays under
# RSS_PEAK_KIB while it lasts and comes back within RSS_AFTER_KIB of the
# baseline, State on the pod's sandbox task answers in under STATE_MS
# throughout, and the outcome is the documented one.  A table of the
# numbers goes to $RESULTS.
source "$(dirname "$0")/lib.sh"
# The stand-in notes when its attack begins (containerd passes this on);
# it runs as each sandbox's own uid.
HOSTILE_DIR=$(mktemp -d /tmp/lcow-hostile.XXXXXX)
chmod 0777 "$HOSTILE_DIR"
export HOSTILE_LOG=$HOSTILE_DIR/attacks.log
: >"$HOSTILE_LOG"
chmod 0666 "$HOSTILE_LOG"
lcow_setup
client="$TOP/test/integration/ttrpc_client.py"
# What the stand-in runs, where the sandboxes' own uids can read it.
mkdir -m 0755 "$T/guest-asan" && cp "$BUILD_DIR"/test/guest-asan/* "$T/guest-asan/"
GUEST="$T/hostile_guest.py"
cp "$TOP/test/integration/hostile_guest.py" "$GUEST"
mkdir -m 0777 "$T/guest-logs"
WATCH_SECONDS=${WATCH_SECONDS:-5}
CYCLES=${CYCLES:-300}
RSS_PEAK_KIB=$((64 * 1024))
RSS_AFTER_KIB=$((4 * 1024))
# A stalled loop shows as seconds; a State round trip from the Python client
# on a busy 2-core host has been seen at 54 ms with nothing stalled.
STATE_MS=100
RESULTS=${RESULTS:-$BUILD_DIR/test/hostile_guest.txt}
mkdir -p "$(dirname "$RESULTS")"
# ASan's allocator keeps freed memory and doubles what is live: memory and
# latency are then reported, not asserted.
SANITIZED=0
if shim_sanitized; then SANITIZED=1; fi
ROOTFS="$T/ctr-rootfs"
SANDBOXES="$T/cri/io.containerd.grpc.v1.cri/sandboxes"
mkdir -p "$ROOTFS/bin"; echo hostile >"$ROOTFS/bin/marker"
printf '%-15s %10s %10s %12s  %s\n' attack "peak KiB" "after KiB" "max State ms" outcome >"$RESULTS"

# vm_config ATTACK: a runtime config whose QEMU is the hostile guest (no
# host directory share: this guest serves none, and without one every
# host bind but pod content is refused, which pod-files checks).
vm_config() {
  cat >"$T/qemu-$1" <<SH
#!/bin/sh
export HOSTILE_GUEST_PROGRAMS="$T/guest-asan" HOSTILE_SANITIZER_LOG="$T/guest-logs/sanitizer"
exec python3 "$GUEST" $1 "\$@"
SH
  chmod +x "$T/qemu-$1"
  cat >"$T/vm-$1.json" <<JSON
{"vmm": "qemu", "layer_cache_dir": "$T/layers", "vmm_path": "$T/qemu-$1", "boot_files_root_path": "$T/boot",
 "pod_file_roots": ["$SANDBOXES"], "virtiofsd_path": "",
 "accel": "tcg", "gcs_connection_timeout_ms": 20000, "stop_grace_ms": 1000}
JSON
}

# pod ATTACK [ctr flags]: the pod's sandbox (p-ATTACK), running.
pod() {
  local a=$1; shift
  vm_config "$a"
  run_sandbox "p-$a" --runtime-config-path "$T/vm-$a.json" "$@" >/dev/null
  wait_for 20 status_is "p-$a" RUNNING
}
# container ATTACK ID [ctr flags]: a container in pod p-ATTACK.
container() {
  local a=$1 id=$2; shift 2
  ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm-$a.json" \
    --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=p-$a" "$@" --rootfs "$ROOTFS" "$id" /bin/sleep
}
# ONLY="attack ...": run just those.
want() { [ -z "${ONLY:-}" ] && return 0; for a in "$@"; do [[ " $ONLY " == *" $a "* ]] && return 0; done; return 1; }
shim_of() { pgrep -f "^$SHIM_BIN_DIR/containerd-shim-lcow-v2 -namespace $NS -id p-$1( |\$)"; }
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
attack_started() { grep -q "^$1 attack started" "$HOSTILE_LOG" 2>/dev/null; }

# watch ATTACK: State latency and RSS of the pod's shim for WATCH_SECONDS
# (in the background: WATCH_PID); measured ATTACK reads them.
watch_start() {
  local a=$1 addr
  addr=$(cat "$(bundle_of "p-$a")/address")
  SHIM=$(shim_of "$a"); BASE_RSS=$(rss_of "$SHIM")
  python3 "$client" "${addr#unix://}" watch "p-$a" "$SHIM" "$WATCH_SECONDS" "$T/watch-$a" &
  WATCH_PID=$!
}
# measured ATTACK OUTCOME: the numbers, asserted, and a row of the table.
measured() {
  local a=$1 outcome=$2 worst peak calls after
  wait "$WATCH_PID" || true
  read -r worst peak calls <"$T/watch-$a"
  after=-1
  if kill -0 "$SHIM" 2>/dev/null; then
    # Freed memory goes back to the kernel as the loop settles.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      after=$(rss_of "$SHIM"); [ $((after - BASE_RSS)) -lt "$RSS_AFTER_KIB" ] && break; sleep 0.3
    done
  fi
  printf '%-15s %10s %10s %12s  %s\n' "$a" "$peak" "$after" "$worst" "$outcome" >>"$RESULTS"
  echo "    $a: rss $BASE_RSS KiB -> peak $peak KiB -> $after KiB; State max $worst ms over $calls calls"
  if [ "$SANITIZED" = 1 ]; then echo "    (sanitized build: memory and latency not asserted)"; return 0; fi
  expect "$a: shim RSS peak under $RSS_PEAK_KIB KiB ($peak)" [ "$peak" -lt "$RSS_PEAK_KIB" ]
  [ "$after" -lt 0 ] || expect "$a: RSS back within $RSS_AFTER_KIB KiB of $BASE_RSS ($after)" \
    [ $((after - BASE_RSS)) -lt "$RSS_AFTER_KIB" ]
  expect "$a: State answered in under $STATE_MS ms throughout ($worst)" \
    python3 -c "import sys; sys.exit(float('$worst') >= $STATE_MS)"
}
logged() { grep -c -- "$1" "$T/containerd.log" || true; }
# stopped_or_gone ID: the task is STOPPED, or there is none.
stopped_or_gone() { [ -z "$(task_status "$1")" ] || status_is "$1" STOPPED; }
# cleanup_pod ATTACK: every container of the pod, then its sandbox, gone.
cleanup_pod() {
  local a=$1 ids
  ids="$(ctr_ c ls -q | grep -- "-$a\$" | grep -vx -- "p-$a" || true) p-$a"
  for id in $ids; do ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $ids; do
    wait_for 10 stopped_or_gone "$id" || true
    ctr_ task delete "$id" >/dev/null 2>&1 || true
    ctr_ c rm "$id" >/dev/null 2>&1 || true
  done
  expect "$a: nothing left behind" all_clean 15
}

# --- the project's guest agent and vsockexec, under ASan and UBSan ---------
if want agent; then
expect "agent: the pod runs on the sanitizer builds of vsockexec and gcs" pod agent
expect "agent: its hello came from gcs" grep -q 'msg="guest agent connected" uvm-id=p-agent' "$T/containerd.log"
RUN_AGENT=(ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm-agent.json"
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=p-agent
  --rootfs "$ROOTFS")
out=$("${RUN_AGENT[@]}" a1-agent /bin/sh -c 'echo hello; echo oops >&2; exit 3' 2>&1) && rc=0 || rc=$?
expect "agent: output and exit code come back ($rc)" bash -c '[ "$1" -eq 3 ] && grep -q hello <<<"$2" && grep -q oops <<<"$2"' _ "$rc" "$out"
out=$(printf 'one\ntwo\n' | "${RUN_AGENT[@]}" a2-agent /bin/cat 2>&1) || true
expect "agent: stdin reaches the process" [ "$out" = $'one\ntwo' ]
# Stderr closed first, the process gone, then stdout ending (a child kept
# it): the record the agent frees on stdout's end was read again (a use
# after free before the fix).
ok=0
for i in 1 2 3 4 5; do
  out=$("${RUN_AGENT[@]}" "a3-$i-agent" /bin/sh -c 'exec 2>&-; (sleep 0.3; echo late) & echo early' 2>&1) \
    && [ "$out" = $'early\nlate' ] && ok=$((ok + 1))
done
expect "agent: a process whose stdout ends last, 5 times ($ok)" [ "$ok" -eq 5 ]
ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm-agent.json" \
  --annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=p-agent \
  --rootfs "$ROOTFS" a4-agent /bin/sleep 600 >/dev/null
wait_for 10 status_is a4-agent RUNNING || true
out=$(ctr_ task exec --exec-id e1 a4-agent /bin/sh -c 'echo from exec; exit 4' 2>&1) && rc=0 || rc=$?
expect "agent: exec runs and its exit code comes back ($rc)" bash -c '[ "$1" -eq 4 ] && grep -q "from exec" <<<"$2"' _ "$rc" "$out"
expect "agent: kill stops the container" kill_and_wait a4-agent SIGTERM
ctr_ task delete a4-agent >/dev/null 2>&1 || true
ctr_ c rm a4-agent >/dev/null 2>&1 || true
expect "agent: SIGTERM powers the VM off through the agent" kill_and_wait p-agent SIGTERM
cleanup_pod agent
# Reports go to the files, or to the agent's stderr: the guest log.
reports=$(cat "$T"/guest-logs/sanitizer.* 2>/dev/null || true)
reports="$reports$(grep 'uvm-id=p-agent' "$T/containerd.log" | grep 'runtime error\|Sanitizer' || true)"
expect "agent: no sanitizer report from vsockexec or gcs" [ -z "$reports" ]
[ -z "$reports" ] || head -c 3000 <<<"$reports"
fi

# --- a well-behaved guest: 300 create/delete cycles in one pod --------------
if want none; then
expect "none: the pod runs on the stand-in" pod none
start=$(date +%s)
ok=0
for i in $(seq "$CYCLES"); do
  ctr_ run --rm --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm-none.json" \
    --annotation io.kubernetes.cri.container-type=container \
    --annotation io.kubernetes.cri.sandbox-id=p-none --rootfs "$ROOTFS" "c$i-none" /bin/true \
    >/dev/null 2>"$T/cycle.err" || { cat "$T/cycle.err"; break; }
  ok=$((ok + 1))
done
echo "    $ok cycles in $(( $(date +%s) - start )) s"
expect "none: $CYCLES container create/delete cycles in one pod succeed ($ok)" [ "$ok" -eq "$CYCLES" ]
cleanup_pod none
fi

# --- credit flood: 1-byte DATA frames, the bridge never read ---------------
if want credit-flood; then
expect "credit-flood: pod runs" pod credit-flood
watch_start credit-flood
container credit-flood c-credit-flood --null-io >/dev/null
wait_for 10 attack_started credit-flood || true
measured credit-flood "bridge paused at the queue limit; unknown keys ignored"
expect "credit-flood: DATA for unknown processes is counted" grep -q 'bridge frames ignored' "$T/containerd.log"
expect "credit-flood: the sandbox keeps running" status_is p-credit-flood RUNNING
cleanup_pod credit-flood
fi

# --- stdout window ignored while nobody reads the FIFO ---------------------
if want window; then
expect "window: pod runs" pod window
watch_start window
container window c-window >/dev/null
wait_for 10 attack_started window || true
expect "window: the sandbox fails" wait_for 10 status_is p-window STOPPED
measured window "sandbox failed: window exceeded"
expect "window: the reason is logged" grep -q 'protocol violation.*window' "$T/containerd.log"
cleanup_pod window
fi

# --- a DATA frame over BRIDGE_DATA_MAX --------------------------------------
if want oversize-data; then
expect "oversize-data: pod runs" pod oversize-data
watch_start oversize-data
container oversize-data c-oversize-data >/dev/null
expect "oversize-data: the sandbox fails" wait_for 10 status_is p-oversize-data STOPPED
measured oversize-data "sandbox failed: DATA over 64 KiB"
expect "oversize-data: the reason is logged" grep -q 'protocol violation.*98304' "$T/containerd.log"
cleanup_pod oversize-data
fi

# --- junk frames: ignored, counted, warnings rate-limited -----------------
if want junk; then
before=$(logged 'bridge frames ignored')
expect "junk: pod runs" pod junk
watch_start junk
measured junk "ignored and counted"
lines=$(( $(logged 'bridge frames ignored') - before ))
expect "junk: the frames are counted in few lines ($lines)" [ "$lines" -ge 1 ] && [ "$lines" -le $((WATCH_SECONDS + 3)) ]
expect "junk: the sandbox keeps running" status_is p-junk RUNNING
cleanup_pod junk
fi

# --- an exit before the create reply ---------------------------------------
if want early-exit; then
expect "early-exit: pod runs" pod early-exit
ctr_ events >"$T/events-early" 2>&1 & EVENTS=$!
sleep 0.3
watch_start early-exit
container early-exit c-early-exit >/dev/null || true
expect "early-exit: the container is STOPPED" wait_for 10 status_is c-early-exit STOPPED
measured early-exit "exit held until created; STOPPED, never back"
sleep 0.5; kill "$EVENTS" 2>/dev/null || true
grep 'c-early-exit' "$T/events-early" >"$T/events-c" || true
topics=$(event_topics "$T/events-c")
echo "    events: $topics"
expect "early-exit: TaskCreate comes before TaskExit" grep -q '/tasks/create.*/tasks/exit' <<<"$topics"
expect "early-exit: the status stays STOPPED" status_is c-early-exit STOPPED
expect "early-exit: Delete succeeds" ctr_ task delete c-early-exit >/dev/null
cleanup_pod early-exit
fi

# --- pids the guest chose ----------------------------------------------------
if want guest-pid; then
expect "guest-pid: pod runs" pod guest-pid
container guest-pid c-guest-pid >/dev/null
expect "guest-pid: the container runs" wait_for 10 status_is c-guest-pid RUNNING
expect "guest-pid: its pid is the guest's, labelled so in the log" \
  grep -q 'msg="container created in the UVM".*guest-pid=1\b' "$T/containerd.log"
cleanup_pod guest-pid
fi

# --- a guest that never answers --------------------------------------------
if want silent; then
expect "silent: pod runs" pod silent
watch_start silent
measured silent "answers nothing; Kill stops the VM after stop_grace_ms"
expect "silent: SIGTERM stops the VM after the grace period" kill_and_wait p-silent SIGTERM
cleanup_pod silent
fi

# --- pod files: only regular files of this pod, never followed, never waited for
if want pod-files; then
pf() { # ID DEST SRC...: a container binding SRC at DEST (pairs)
  local id=$1; shift; local m=()
  while [ $# -gt 0 ]; do m+=(--mount "type=bind,src=$2,dst=$1,options=rbind:ro"); shift 2; done
  container pod-files "$id" "${m[@]}" 2>&1
}
expect "pod-files: pod runs" pod pod-files
mine="$SANDBOXES/p-pod-files"; other="$SANDBOXES/p-other"
mkdir -p "$mine" "$other"
echo "127.0.0.1 mine" >"$mine/hosts"; echo theirs >"$other/hosts"; echo pod >"$mine/hostname"
mkfifo "$mine/resolv.conf"
watch_start pod-files
out=$(pf f1-pod-files /etc/resolv.conf "$mine/resolv.conf") || true
expect "pod-files: a FIFO is refused, not waited for" grep -q 'resolv.conf.*not a regular file' <<<"$out"
out=$(pf f2-pod-files /etc/hosts /etc/shadow) || true
expect "pod-files: /etc/shadow at /etc/hosts is refused" grep -q '/etc/hosts (from /etc/shadow): a host directory or file' <<<"$out"
# The pod's own hosts, for a moment a symlink to /etc/shadow.
mv "$mine/hosts" "$mine/hosts.real"; ln -s /etc/shadow "$mine/hosts"
out=$(pf f3-pod-files /etc/hosts "$mine/hosts") || true
rm "$mine/hosts"; mv "$mine/hosts.real" "$mine/hosts"
expect "pod-files: a symlink is not followed" grep -q 'symlink on the way' <<<"$out"
out=$(pf f4-pod-files /etc/hosts "$other/hosts") || true
expect "pod-files: another pod's file is refused" grep -q "p-other/hosts): a host directory or file" <<<"$out"
out=$(pf f5-pod-files /etc/hosts "$mine/hosts" /etc/hosts "$mine/hosts") || true
expect "pod-files: a destination bound twice is refused" grep -q 'bound more than once' <<<"$out"
out=$(pf f6-pod-files /etc/hosts "$mine/../p-other/hosts") || true
expect "pod-files: a path with .. is refused" grep -q 'p-other/hosts): a host directory or file' <<<"$out"
pf f7-pod-files /etc/hosts "$mine/hosts" /etc/hostname "$mine/hostname" >/dev/null
expect "pod-files: this pod's regular files are accepted" wait_for 10 status_is f7-pod-files RUNNING
measured pod-files "refused with the reason, State unaffected"
for i in 1 2 3 4 5 6; do ctr_ c rm "f$i-pod-files" >/dev/null 2>&1 || true; done
cleanup_pod pod-files
fi

# --- the sandbox goes while a container's image is being built
if want sandbox-gone; then
expect "sandbox-gone: pod runs" pod sandbox-gone
BIG="$T/big-rootfs"; mkdir -p "$BIG/bin"
head -c 600M /dev/urandom >"$BIG/bin/blob"
ctr_ run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$T/vm-sandbox-gone.json" \
  --annotation io.kubernetes.cri.container-type=container \
  --annotation io.kubernetes.cri.sandbox-id=p-sandbox-gone --rootfs "$BIG" c-sandbox-gone /bin/sleep \
  >"$T/gone.out" 2>&1 & CREATE=$!
wait_for 10 pgrep -f "mkfs.erofs.*big-rootfs" >/dev/null || true
ctr_ task kill -s SIGKILL p-sandbox-gone
wait_for 10 status_is p-sandbox-gone STOPPED
ctr_ task delete p-sandbox-gone >/dev/null
wait "$CREATE" || true
echo "    create: $(head -c 300 "$T/gone.out")"
expect "sandbox-gone: the create fails, naming why" grep -q "sandbox is gone\|VM is gone\|VM exited" "$T/gone.out"
expect "sandbox-gone: the shim is still there to clean up" ctr_ c rm c-sandbox-gone
ctr_ c rm p-sandbox-gone >/dev/null 2>&1 || true
rm -rf "$BIG"
expect "sandbox-gone: nothing left behind" all_clean 15
fi

# --- guest logs (port 109: a pod that is not migratable) -------------------
if want log-flood log-forge log-keys; then
expect "log-forge: pod runs" pod log-forge
wait_for 10 grep -q FORGED-SHADOW "$T/containerd.log" || true
expect "log-forge: the entries arrive" grep -q 'FORGED-ENTRY' "$T/containerd.log"
expect "log-forge: no line of the guest's making" bash -c '! grep -q "^ *time=\"2001\|^FORGED\|^b=" "$1"' _ "$T/containerd.log"
expect "log-forge: no NUL reaches the log" bash -c '! grep -qaP "\x00" "$1"' _ "$T/containerd.log"
shadow=$(grep 'FORGED-SHADOW' "$T/containerd.log")
echo "    $shadow" | cut -c1-300
expect "log-forge: a guest 'namespace' cannot shadow the shim's" \
  bash -c 'grep -q " namespace=lcowtest " <<<"$1" && ! grep -q " namespace=forged-ns" <<<"$1"' _ "$shadow"
expect "log-forge: it is kept, namespaced" grep -q 'guest.namespace=forged-ns' <<<"$shadow"
cleanup_pod log-forge

expect "log-keys: pod runs" pod log-keys
wait_for 10 attack_started log-keys || true
watch_start log-keys
measured log-keys "entries of 20000 keys decoded in linear time, members capped"
cleanup_pod log-keys

before=$(logged 'guest log lines dropped')
expect "log-flood: pod runs" pod log-flood
wait_for 10 attack_started log-flood || true
watch_start log-flood
measured log-flood "rate-limited, drops counted"
expect "log-flood: drops are reported" [ "$(logged 'guest log lines dropped')" -gt "$before" ]
expect "log-flood: the lines are rate-limited" [ "$(logged 'msg=flood')" -lt 20000 ]
cleanup_pod log-flood
fi

echo "    ---- $RESULTS"; sed 's/^/    /' "$RESULTS"
rm -rf "$HOSTILE_DIR"
finish
