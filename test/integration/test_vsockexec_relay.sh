#!/usr/bin/env bash
# vsockexec -r (migratable_log_relay), the sanitizer build run on the host
# against a unix listener as the shim's hybrid port: the program starts at
# once and its output waits while nobody listens (vsockexec dials every
# 100 ms); when the listener closes the connection, as a VM's old host does
# after a move, the next write fails and vsockexec dials again and goes on
# (the lines the closed end had not read are lost; none is sent twice and
# the order holds); the exit status is the program's, 128 + a signal's,
# and a SIGTERM to vsockexec reaches the program.
source "$(dirname "$0")/lib.sh"
lcow_setup
VSOCKEXEC="$BUILD_DIR/test/guest-asan/vsockexec"
export LCOW_VSOCK_UDS="$T/vsock"

# listener PORT DELAY_S FIRST_LINES OUT: listens at ${LCOW_VSOCK_UDS}_PORT
# after DELAY_S; with FIRST_LINES > 0 reads that many lines on a first
# connection and closes it; then reads a connection to its end; writes
# what it read to OUT.
listener() {
  python3 - "$LCOW_VSOCK_UDS" "$@" <<'PY'
import socket, sys, time
base, port, delay, first_lines, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
time.sleep(delay)
s = socket.socket(socket.AF_UNIX)
s.bind(f"{base}_{port}")
s.listen(2)
s.settimeout(20)
got = b""
if first_lines > 0:
    c, _ = s.accept()
    while got.count(b"\n") < first_lines:
        d = c.recv(4096)
        if not d:
            break
        got += d
    c.close()
    got += b"--- redialled ---\n"
c, _ = s.accept()
c.settimeout(20)
while True:
    d = c.recv(4096)
    if not d:
        break
    got += d
with open(out, "wb") as f:
    f.write(got)
PY
}

listener 109 0.5 3 "$T/out" &
LISTENER=$!
start=$(date +%s%N)
"$VSOCKEXEC" -r -e 109 /bin/sh -c 'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo "line $i"; sleep 0.05; done; echo "to stderr" >&2; exit 7' \
  && rc=0 || rc=$?
wait "$LISTENER" && lrc=0 || lrc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "the program's exit status comes back (7: $rc, $ms ms)" [ "$rc" -eq 7 ]
expect "the listener saw two connections ($lrc)" bash -c '[ "$1" -eq 0 ] && grep -q -- "--- redialled ---" "$2"' _ "$lrc" "$T/out"
first=$(sed -n '1p' "$T/out")
expect "the output waited for the late listener: its first line is line 1 ($first)" [ "$first" = "line 1" ]
after=$(sed -n '/--- redialled ---/,$p' "$T/out" | sed 1d)
expect "after the close vsockexec dialled again and went on to the end: line 40, then stderr" \
  bash -c 'grep -qx "line 40" <<<"$1" && [ "$(tail -n 1 <<<"$1")" = "to stderr" ]' _ "$after"
expect "in order, nothing twice" bash -c 'grep -o "[0-9]*" "$1" | awk "NR > 1 && \$1 <= prev { bad = 1 } { prev = \$1 } END { exit bad }"' _ "$T/out"

listener 110 0 0 "$T/out-term" &
LISTENER=$!
"$VSOCKEXEC" -r -o 110 /bin/sh -c 'echo ready; exec sleep 30' &
RELAY=$!
wait_for 10 test -S "${LCOW_VSOCK_UDS}_110"
sleep 0.5
kill -TERM "$RELAY"
wait "$RELAY" && rc=0 || rc=$?
wait "$LISTENER" && lrc=0 || lrc=$?
expect "SIGTERM reaches the program: 128 + 15 ($rc), its output relayed to -o ($lrc)" \
  bash -c '[ "$1" -eq 143 ] && [ "$2" -eq 0 ] && grep -qx ready "$3"' _ "$rc" "$lrc" "$T/out-term"
out=$("$VSOCKEXEC" -r /bin/true 2>&1) && rc=0 || rc=$?
expect "-r without an output port exits 1 ($out)" bash -c '[ "$1" -eq 1 ] && grep -q "needs an output port" <<<"$2"' _ "$rc" "$out"
reports=$(cat "$T"/sanitizer.* 2>/dev/null || true)
expect "no sanitizer report from vsockexec" [ -z "$reports" ]
