# shellcheck shell=bash
# Helpers for the integration tests: a private containerd 1.6 (own root,
# state, sockets; CRI disabled) driving the shim from this tree.
# Each test sources this file, calls lcow_setup, and uses ctr_ / expect_.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHIM_BIN_DIR=${SHIM_BIN_DIR:-$TOP/bin}
BUILD_DIR=${BUILD_DIR:-$TOP/build}
FAKE_GUEST=${FAKE_GUEST:-$BUILD_DIR/test/fake-guest}
STATE_ROOT=/run/containerd-shim-lcow-v2
TEST_NAME=$(basename "$0" .sh)
NS=lcowtest
PASSED=0
FAILED=0

lcow_setup() {
  T=$(mktemp -d /tmp/lcow-it.XXXXXX)
  # Others may pass through (not list) to the shim socket directory, so
  # that the socket's own mode is what keeps them out.
  chmod 0711 "$T"
  mkdir -p "$T/root" "$T/state" "$T/rootfs" "$T/boot"
  find "$STATE_ROOT" -mindepth 1 -maxdepth 1 ! -name vmm-uids >"$T/state-before" 2>/dev/null || true
  if [ -s "$T/state-before" ] && grep -qv '/accel-' "$T/state-before"; then
    echo "# sandbox state left by an earlier run (not counted here):"
    grep -v '/accel-' "$T/state-before" | sed 's/^/#   /'
  fi
  # Boot files for the exec VMM: only their presence matters to it.
  : >"$T/boot/kernel"
  : >"$T/boot/initrd.img"
  write_containerd_toml
  # The fake guest where the sandboxes' own uids can read it.
  install -m 0755 "$FAKE_GUEST" "$T/fake-guest"
  FAKE_GUEST=$T/fake-guest
  write_shim_config "$T/shim.json"
  # Sanitizer reports of the shim (whose stderr is /dev/null) go to files
  # that teardown checks.
  export ASAN_OPTIONS="log_path=$T/sanitizer:detect_leaks=1"
  export UBSAN_OPTIONS="log_path=$T/sanitizer:print_stacktrace=1:halt_on_error=1"
  trap lcow_teardown EXIT
  start_containerd
}

# write_containerd_toml [CRI_SECTION]: the private containerd's config; its
# CRI plugin is disabled unless a [plugins."io.containerd.grpc.v1.cri"]
# section is given (start_containerd again for it to take effect).
# write_containerd_toml [CRI_SECTION [DIR]]: the configuration of a
# private containerd kept in DIR (default $T).
# The containerd on PATH (Debian's 1.6, or 2.x first on PATH): its major
# version, and the config version it expects (2 for 1.x, 3 for 2.x).
CONTAINERD_MAJOR=$(containerd --version 2>/dev/null | sed -n 's/.* v\{0,1\}\([0-9]*\)\.[0-9]*\.[0-9].*/\1/p')
CONTAINERD_CONFIG_VERSION=$([ "${CONTAINERD_MAJOR:-1}" -ge 2 ] && echo 3 || echo 2)
write_containerd_toml() {
  local no_cri='disabled_plugins = ["io.containerd.grpc.v1.cri"]'
  local dir=${2:-$T}
  cat >"$dir/containerd.toml" <<TOML
version = $CONTAINERD_CONFIG_VERSION
root = "$dir/root"
state = "$dir/state"
${1:-$no_cri}
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  level = "debug"
TOML
}

# kubelet_volume DIR VERSION KEY=VALUE...: a volume as the kubelet's atomic
# writer makes it: ..<version>/<key>, ..data -> ..<version>, <key> ->
# ..data/<key>; a new version replaces ..data in one rename.
kubelet_volume() {
  local dir=$1 version=$2; shift 2
  mkdir -p "$dir/..$version"
  for kv in "$@"; do printf '%s' "${kv#*=}" >"$dir/..$version/${kv%%=*}"; done
  ln -sfn "..$version" "$dir/..data_tmp" && mv -T "$dir/..data_tmp" "$dir/..data"
  for kv in "$@"; do [ -L "$dir/${kv%%=*}" ] || ln -s "..data/${kv%%=*}" "$dir/${kv%%=*}"; done
}

# launch_containerd DIR: the containerd configured in DIR, its log there
# and its shims' sockets in DIR/s; LAUNCHED_PID is its pid.
launch_containerd() {
  local dir=$1
  PATH="$SHIM_BIN_DIR:$PATH" CONTAINERD_SHIM_LCOW_CONFIG="$T/shim.json" \
    CONTAINERD_SHIM_LCOW_SOCKET_DIR="$dir/s" containerd --config "$dir/containerd.toml" >>"$dir/containerd.log" 2>&1 &
  LAUNCHED_PID=$!
  for _ in $(seq 100); do
    [ -S "$dir/containerd.sock" ] && ctr -a "$dir/containerd.sock" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "containerd did not start:"; cat "$dir/containerd.log"; exit 1
}
start_containerd() {
  launch_containerd "$T"
  CONTAINERD_PID=$LAUNCHED_PID
}

# ---- live migration: a second host ------------------------------------------
# Another private containerd in $T/B with its own namespace (a shim's state
# directory is named by namespace and id, and both run on this host).
NSB=lcowtest-b
ctr_b() { ctr -a "$T/B/containerd.sock" -n "$NSB" "$@"; }
start_destination_containerd() {
  mkdir -p "$T/B/root" "$T/B/state"
  write_containerd_toml "" "$T/B"
  launch_containerd "$T/B"
  B_PID=$LAUNCHED_PID
}
b_shims() { pgrep -f "^$SHIM_BIN_DIR/containerd-shim-lcow-v2 -namespace $NSB " || true; }
b_clean() { [ -z "$(b_shims)" ] && [ -z "$(find "$T/B/s" -type s 2>/dev/null)" ]; }
b_status() { ctr_b task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
b_pid() { ctr_b task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
b_status_is() { [ "$(b_status "$1")" = "$2" ]; }
remove_b() { ctr_b task delete "$1" >/dev/null 2>&1; ctr_b c rm "$1" >/dev/null; }
# Before lcow_teardown: B's tasks, then B.
stop_destination_containerd() {
  [ -n "${B_PID:-}" ] || return 0
  remove_everything ctr_b
  kill "$B_PID" 2>/dev/null || true
  wait "$B_PID" 2>/dev/null || true
  wait_for 5 b_clean || fail "the destination left shims or sockets: $(b_shims | tr '\n' ' ') $(find "$T/B/s" -type s 2>/dev/null)"
  if [ "$FAILED" -ne 0 ]; then echo "---- destination containerd log ----"; tail -n 60 "$T/B/containerd.log"; fi
}
# The shim sockets of a sandbox on either host.
address_a() { sed 's|^unix://||' "$(bundle_of "$1")/address"; }
address_b() { sed 's|^unix://||' "$T/B/state/io.containerd.runtime.v2.task/$NSB/$1/address"; }
# incoming_sandbox ID CONFIG [ctr run options...]: a sandbox task on B that
# waits for a migration (its QEMU started with -incoming defer).
incoming_sandbox() {
  local id=$1 config=$2; shift 2
  ctr_b run -d --runtime io.containerd.lcow.v2 --runtime-config-path "$config" \
    --annotation io.kubernetes.cri.container-type=sandbox --annotation "io.kubernetes.cri.sandbox-id=$id" \
    --annotation io.containerd.lcow.migration.incoming=true "$@" --rootfs "$T/rootfs" "$id"
}

# stop_containerd: containerd exits; the shims it started keep running.
stop_containerd() {
  kill "$CONTAINERD_PID" 2>/dev/null || true
  wait "$CONTAINERD_PID" 2>/dev/null || true
}

# write_shim_config FILE [extra JSON members...]
write_shim_config() {
  local file=$1; shift
  local extra=""
  for m in "$@"; do extra="$extra, $m"; done
  cat >"$file" <<JSON
{"vmm": "exec", "vmm_path": "$FAKE_GUEST", "boot_files_root_path": "$T/boot",
 "boot_files_allowed": ["$T/boot-empty", "/nonexistent/boot", "$T/boot-vhd"],
 "layer_cache_dir": "$T/layers",
 "gcs_connection_timeout_ms": 10000, "stop_grace_ms": 2000$extra}
JSON
}

# remove_everything CTR: every task killed and deleted, every container
# removed, through the ctr wrapper CTR (ctr_ or ctr_b).
remove_everything() {
  local c=$1
  for id in $($c task ls -q 2>/dev/null); do $c task kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.3
  for id in $($c task ls -q 2>/dev/null); do $c task delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $($c c ls -q 2>/dev/null); do $c c rm "$id" >/dev/null 2>&1 || true; done
}

# lcow_teardown [STATUS]: the script's status (default: the last command's).
lcow_teardown() {
  local rc=${1:-$?}
  remove_everything ctr_
  kill "$CONTAINERD_PID" 2>/dev/null || true
  wait "$CONTAINERD_PID" 2>/dev/null || true
  wait_for 5 no_shims || true
  # containerd's EROFS snapshotter leaves its layers mounted under its root.
  awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l || true
  # ctr's cgroupsPath is /<namespace>/<id>: the shim removes <id>, the
  # namespace's directory is ctr's (empty by now; a busy one stays).
  rmdir /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/*/"$NSB" /sys/fs/cgroup/"$NS" \
    /sys/fs/cgroup/"$NSB" 2>/dev/null || true
  local left
  left=$(shim_sockets)
  if [ -n "$left" ]; then
    fail "shim sockets left behind"
    for s in $left; do echo "    $s ($(grep -o "id=[^ ]* socket=$s" "$T/containerd.log" | cut -d" " -f1))"; done
  fi
  # Every shim proves its loop empty at exit (daemon/shim_daemon.c).
  if grep -q 'event loop not empty at exit' "$T/containerd.log"; then
    fail "a shim exited with handles still open"
    grep 'event loop not empty' "$T/containerd.log"
  fi
  if compgen -G "$T/sanitizer.*" >/dev/null; then
    fail "sanitizer reports from the shim"
    cat "$T"/sanitizer.*
  fi
  # GCC's UBSan writes to stderr whatever log_path says: the shim log.
  if grep -h "runtime error:" "$T/containerd.log" "$T/B/containerd.log" 2>/dev/null; then
    fail "UBSan reports in the shim log"
  fi
  echo "$TEST_NAME: $PASSED passed, $FAILED failed"
  if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    echo "---- containerd log ($T/containerd.log) ----"; tail -n 80 "$T/containerd.log"
  else
    rm -rf "$T"
  fi
  [ "$FAILED" -eq 0 ] && exit "$rc" || exit 1
}

ctr_() { ctr -a "$T/containerd.sock" -n "$NS" "$@"; }

pass() { PASSED=$((PASSED + 1)); echo "ok - $TEST_NAME: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $TEST_NAME: $*"; }

# expect DESCRIPTION COMMAND...: passes when the command succeeds.
expect() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for() {
  local secs=$1; shift
  local n=$((secs * 10))
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}

task_status() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
bundle_of() { echo "$T/state/io.containerd.runtime.v2.task/$NS/$1"; }
shim_pids() { pgrep -f "^$SHIM_BIN_DIR/containerd-shim-lcow-v2 -namespace $NS " || true; }
no_shims() { [ -z "$(shim_pids)" ]; }
status_is() { [ "$(task_status "$1")" = "$2" ]; }
# task_forgotten ID: containerd lists no task ID.
task_forgotten() { ! ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { f = 1 } END { exit !f }'; }
# containerd_version: the daemon's version (1.6.20, 2.1.5, ...);
# containerd_at_least MAJOR MINOR: whether it is that or later.
containerd_version() { containerd --version | awk '{ sub(/^v/, "", $3); print $3 }'; }
containerd_at_least() {
  local v major minor
  v=$(containerd_version)
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }
}
no_fake_guest() { ! pgrep -f "^$FAKE_GUEST" >/dev/null; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# kill_and_wait ID SIGNAL: signal the task and wait until it is STOPPED.
kill_and_wait() { ctr_ task kill -s "$2" "$1" && wait_for 15 status_is "$1" STOPPED; }
# remove ID: delete the task and the container.
remove() { ctr_ task delete "$1" >/dev/null && ctr_ c rm "$1"; }
event_topics() { grep -o '/tasks/[a-z-]*' "$1" | tr '\n' ' '; }
# Sandbox state directories (32 hex digits of a sha256, daemon/task.c)
# this script made; the host's KVM verdict files beside them are meant to
# stay, and what an earlier run left is that run's failure, not this one's.
state_dirs() {
  find "$STATE_ROOT" -mindepth 1 -maxdepth 1 ! -name 'accel-*.json' ! -name vmm-uids 2>/dev/null |
    grep -vxF -f "$T/state-before" || true
}
state_dir_count() { state_dirs | wc -l; }

shim_sockets() { [ -d "$T/s" ] || return 0; find "$T/s" -type s 2>/dev/null | sort; }
socket_count() { shim_sockets | wc -l; }
# nothing_left: no shim, no sandbox state, no shim socket.
nothing_left() { no_shims && [ "$(state_dir_count)" -eq 0 ] && [ "$(socket_count)" -eq 0 ]; }
# all_clean SECONDS: waits for nothing_left; on timeout names what is left.
all_clean() {
  wait_for "$1" nothing_left && return 0
  echo "  left behind: shims=[$(shim_pids | tr '\n' ' ')] sockets=$(socket_count)"
  ps -o pid,etimes,args -p "$(shim_pids | paste -sd, -)" 2>/dev/null | sed 's/^/    /'
  state_dirs | sed 's/^/    state: /'
  shim_sockets | sed 's/^/    socket: /'
  return 1
}
# shim_sanitized: the shim under test is the ASan build.  (ldd's whole
# output is read: with pipefail, `ldd | grep -q` fails whenever grep exits
# before ldd has written everything.)
shim_sanitized() {
  case "$(ldd "$SHIM_BIN_DIR/containerd-shim-lcow-v2" 2>/dev/null)" in
    *libasan*) return 0 ;;
  esac
  return 1
}
# answered_code ID METHOD CODE: the shim answered containerd's Task METHOD
# for ID with the gRPC status CODE (InvalidArgument...), as its log says
# (ctr's own wording of a status differs between containerd 1.6 and 2.x).
answered_code() {
  grep 'msg="ttrpc call failed"' "$T/containerd.log" |
    grep "method=containerd.task.v[23].Task/$2 code=$3 " | grep -q "$1"
}
# refused ID PATTERN [ctr run flags...]: ctr run fails with PATTERN in its
# output and leaves nothing behind.
refused() {
  local id=$1 pattern=$2; shift 2
  local out rc=0
  out=$(run_sandbox "$id" "$@" 2>&1) || rc=$?
  ctr_ c rm "$id" >/dev/null 2>&1 || true
  if [ "$rc" -eq 0 ]; then echo "  (unexpectedly accepted)"; return 1; fi
  if ! grep -qF -- "$pattern" <<<"$out"; then echo "  (output: $out)"; return 1; fi
  all_clean 5
}

# run_sandbox ID [ctr run flags...]: a detached pod sandbox (the task is the
# UVM) on the fake guest; the CRI annotations are added unless given.
run_sandbox() {
  local id=$1; shift
  local cri=(--annotation io.kubernetes.cri.container-type=sandbox
             --annotation "io.kubernetes.cri.sandbox-id=$id")
  case "$*" in *io.kubernetes.cri.*) cri=() ;; esac
  ctr_ run -d --runtime io.containerd.lcow.v2 "${cri[@]}" "$@" --rootfs "$T/rootfs" "$id"
}

# make_rootfs DIR: a container root filesystem with a static busybox.
make_rootfs() {
  mkdir -p "$1"/{bin,etc,proc,sys,dev,tmp}
  cp /bin/busybox "$1/bin/busybox"
  for a in sh cat echo uname sleep ls wc head tr hostname id stty tty mv; do ln -sf busybox "$1/bin/$a"; done
}

# readable_bootfiles: the boot files copied to $T/bootfiles, where a VMM
# running as its sandbox's own uid can read them whatever the checkout's
# own permissions (a VMM that cannot read them fails its sandbox);
# BOOTFILES_DIR then names the copy.
readable_bootfiles() {
  [ -d "$T/bootfiles" ] && return 0
  mkdir -m 0755 "$T/bootfiles"
  cp "$BOOTFILES_DIR"/* "$T/bootfiles/"
  chmod 0644 "$T"/bootfiles/*
  BOOTFILES_DIR="$T/bootfiles"
}

# qemu_config [MEMBERS]: $T/qemu.json for the qemu VMM with the readable
# boot files (MEMBERS: more JSON members, comma-separated).
qemu_config() {
  readable_bootfiles
  cat >"$T/qemu.json" <<JSON
{"vmm": "qemu", "vmm_path": "$QEMU", "boot_files_root_path": "$T/bootfiles",${1:+
 $1,}
 "layer_cache_dir": "$T/layers",
 "memory_mb": 512, "gcs_connection_timeout_ms": 90000, "stop_grace_ms": 10000}
JSON
}

# json_get FILE KEY: one top-level value of a JSON file.
json_get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if not isinstance(v,str) else v)' "$1" "$2"; }

# The summary line and exit status come from the EXIT trap (teardown), after
# the sanitizer check.
finish() { :; }
