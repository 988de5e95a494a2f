#!/usr/bin/env bash
# Issue 29: a pod moves with its containers running.  A's pod runs a
# container that prints a numbered line every 50 ms (read by a `ctr run` in
# the foreground) and one that keeps a counter in its guest memory.
# `migrate prepare` exports A and imports at B and names the containers;
# B's containerd creates each with the annotation naming the source
# container (`ctr run`), which the shim adopts instead of creating; then
# `migrate transfer` moves the VM.  Before that, the refusals: another
# process, other layers, a container not adopted, an exec with --force
# (without, the export awaits it), a destination whose TLS certificates
# come from another CA (the state goes over TCP with QEMU's TLS), a
# writer the transfer cannot keep up with; the guest's log is relayed to
# whichever side runs it (migratable_log_relay); then the orchestrator
# goes away (migration_prepare_timeout_ms): A runs on and B's adopted
# containers exit; and `migrate cancel` after a prepare.  Exits the guest reports
# while a pod is exported are held: delivered by A when the migration is
# cancelled, by B (once) when it went through.
source "$(dirname "$0")/lib.sh"
BOOTFILES_DIR=${BOOTFILES_DIR:-$TOP/build/bootfiles}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
SHIM="$SHIM_BIN_DIR/containerd-shim-lcow-v2"
lcow_setup
# An orchestrator that is gone between prepare and transfer: both sides
# give the migration up after this long (the first attempt below ends so).
# A bandwidth low enough that the transfer takes seconds: time to kill the
# destination's QEMU while it runs.
# The VM's state goes over TCP on loopback with QEMU's TLS, both peers
# verified by certificates of the test's own CA.
# tls_dir DIR: a CA and, signed by it, a server certificate for 127.0.0.1
# and a client certificate, under QEMU's x509 file names.
tls_dir() {
  local d=$1 who
  mkdir -m 0755 "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lcow test CA ${d##*/}" \
    -keyout "$d/ca-key.pem" -out "$d/ca-cert.pem" 2>/dev/null
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$d/$who-key.pem" -out "$d/$who.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=%s\n' "$([ "$who" = server ] && echo serverAuth || echo clientAuth)" >"$d/$who.ext"
    openssl x509 -req -in "$d/$who.csr" -CA "$d/ca-cert.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
      -days 2 -extfile "$d/$who.ext" -out "$d/$who-cert.pem" 2>/dev/null
  done
  # The VMM runs as its own user.
  chmod 0644 "$d"/*
}
tls_dir "$T/tls"
tls_dir "$T/tls-other"
# A transfer that has not completed after 15 s is cancelled (a writer
# below never lets it converge).
# The guest log is relayed (migratable_log_relay): each side binds the log
# port, the guest's forwarder redials.
qemu_config '"migration_prepare_timeout_ms": 30000, "migration_max_bandwidth_mb": 24, "migration_timeout_ms": 15000,
 "migratable_log_relay": true,
 "migration_listen_address": "127.0.0.1:0", "migration_tls_dir": "'"$T/tls"'"'
# A destination whose certificates come from another CA.
sed "s|$T/tls\"|$T/tls-other\"|" "$T/qemu.json" >"$T/qemu-other-ca.json"
MIGRATABLE=(--annotation io.microsoft.migration.allowed=true
            --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=vhd
            --annotation io.microsoft.virtualmachine.computetopology.processor.count=1)
ROOTFS="$T/ctr-rootfs"
make_rootfs "$ROOTFS"
OTHER_ROOTFS="$T/ctr-rootfs-other"
make_rootfs "$OTHER_ROOTFS"
echo "not the source's layer" >"$OTHER_ROOTFS/etc/marker"

start_destination_containerd
trap 'rc=$?; set +e; kill $(jobs -p) 2>/dev/null; stop_destination_containerd; lcow_teardown "$rc"' EXIT

PRINTER='i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.05; done'
# The count is renamed into place: a reader between a plain redirect's truncation and its write read nothing (seen once).
COUNTER='i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done'
# in_pod SANDBOX: the annotations of a container joining that pod.
in_pod() { echo "--annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=$1"; }
RUN_A=(ctr_ run --runtime io.containerd.lcow.v2)
RUN_B=(ctr_b run --runtime io.containerd.lcow.v2)
adopting() { echo "--annotation io.containerd.lcow.migration.source-container=$1"; }
migrate() { "$SHIM" migrate "$1" "$(address_a m1)" m1 "$(address_b "$2")" "$2"; }
last_line() { grep -o 'line [0-9]*' "$1" | tail -n 1 | cut -d' ' -f2; }

expect "the source pod boots (1 vCPU, 512 MiB)" run_sandbox m1 --runtime-config-path "$T/qemu.json" "${MIGRATABLE[@]}"
# shellcheck disable=SC2046
"${RUN_A[@]}" $(in_pod m1) --rootfs "$ROOTFS" printer /bin/sh -c "$PRINTER" >"$T/out-a" 2>&1 &
PRINTER_A=$!
# shellcheck disable=SC2046
"${RUN_A[@]}" -d $(in_pod m1) --rootfs "$ROOTFS" counter /bin/sh -c "$COUNTER" >/dev/null
expect "both containers run on A" wait_for 60 bash -c 'grep -q "line 5" "$1"' _ "$T/out-a"
expect "with migratable_log_relay the guest runs its agent under vsockexec -r -e 109" \
  bash -c 'tr "\0" " " <"/proc/$1/cmdline" | grep -q -- "-- -e 1 /bin/vsockexec -r -e 109 /bin/gcs "' _ "$(task_pid m1)"
expect "and A forwards the guest's log" grep -q 'msg="GCS started"' "$T/containerd.log"
PID_PRINTER=$(task_pid printer)
PID_COUNTER=$(task_pid counter)
ctr_ events >"$T/events-a" 2>&1 &
ctr_b events >"$T/events-b" 2>&1 &
# victim ID: a container that waits to be killed.
victim() {
  # shellcheck disable=SC2046
  "${RUN_A[@]}" -d $(in_pod m1) --rootfs "$ROOTFS" "$1" /bin/sleep 600 >/dev/null
  wait_for 60 status_is "$1" RUNNING
}
exits_of() { grep -c "/tasks/exit.*\"$2\"" "$1" || true; }
# prepared_destination DEST CONFIG SOURCE=ID...: an incoming pod DEST
# (runtime config CONFIG), prepared (A exported, B imported), and each
# SOURCE container of A adopted on B as ID (same process), all RUNNING.
prepared_destination() {
  local dest=$1 config=$2 pair src id cmd; shift 2
  expect "a destination pod $dest" incoming_sandbox "$dest" "$config" "${MIGRATABLE[@]}"
  out=$(migrate prepare "$dest" 2>&1) && rc=0 || rc=$?
  expect "prepare to $dest" [ "$rc" -eq 0 ]
  for pair in "$@"; do
    src=${pair%%=*} id=${pair#*=} cmd=$PRINTER
    [ "$src" = counter ] && cmd=$COUNTER
    [ "$src" = writer ] && cmd=$WRITER
    # shellcheck disable=SC2046
    "${RUN_B[@]}" -d $(in_pod "$dest") $(adopting "$src") --rootfs "$ROOTFS" "$id" /bin/sh -c "$cmd" >/dev/null
  done
  expect "$# adopted on B" wait_for 60 bash -c '[ "$(ctr -a "$1" -n "$2" task ls | grep -c RUNNING)" -ge "$3" ]' \
    _ "$T/B/containerd.sock" "$NSB" "$(($# + 1))"
}
# source_runs_on BEFORE DEST ID...: after a transfer to DEST failed, A's
# printer goes on past line BEFORE with its pid, and on B the destination
# pod and its adopted containers ID... stop (their VM got nothing) and are
# removed.
source_runs_on() {
  local before=$1 dest=$2 id; shift 2
  expect "A's printer goes on (line $before, then more), same pids" \
    wait_for 10 bash -c '[ "$(grep -o "line [0-9]*" "$1" | tail -n 1 | cut -d" " -f2)" -gt "$2" ] && [ "$3" = "$4" ]' \
    _ "$T/out-a" "$before" "$(task_pid printer)" "$PID_PRINTER"
  expect "B's adopted containers exit with $dest's VM" \
    wait_for 30 bash -c '[ "$(ctr -a "$1" -n "$2" task ls | grep -c STOPPED)" -ge "$3" ]' \
    _ "$T/B/containerd.sock" "$NSB" "$(($# + 1))"
  for id in "$@" "$dest"; do remove_b "$id"; done
}
expect "a third container, to be killed while the pod is exported, runs" victim v1

# ---- refusals, then the orchestrator is gone: A runs on ---------------------
expect "a destination pod is created" incoming_sandbox d1 "$T/qemu.json" "${MIGRATABLE[@]}"
out=$(migrate prepare d1 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "prepare exports and imports, naming each container to adopt" \
  bash -c '[ "$1" -eq 0 ] && grep -qx "adopt printer" <<<"$2" && grep -qx "adopt counter" <<<"$2" && grep -qx "adopt v1" <<<"$2"' _ "$rc" "$out"
expect "A still takes a Kill of an exported container" ctr_ task kill -s SIGKILL v1
sleep 2
expect "but holds its exit while the pod may move (still RUNNING, no exit event)" \
  bash -c '[ "$1" = RUNNING ] && [ "$2" -eq 0 ]' _ "$(task_status v1)" "$(exits_of "$T/events-a" v1)"
# shellcheck disable=SC2046
out=$("${RUN_B[@]}" -d $(in_pod d1) $(adopting printer) --rootfs "$ROOTFS" p-other /bin/sh -c 'echo another process' 2>&1) && rc=0 || rc=$?
expect "an adoption asking for another process is refused, naming the container ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "the process differs from source container printer" <<<"$2"' _ "$rc" "$out"
# shellcheck disable=SC2046
out=$("${RUN_B[@]}" -d $(in_pod d1) $(adopting printer) --rootfs "$OTHER_ROOTFS" p-layers /bin/sh -c "$PRINTER" 2>&1) && rc=0 || rc=$?
expect "an adoption from other layers is refused, naming the layer and both digests ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "image sha256:[0-9a-f]\{64\} at SCSI target [0-9]* here, the source had sha256:[0-9a-f]\{64\}" <<<"$2"' _ "$rc" "$out"
ctr_b c rm p-other p-layers >/dev/null 2>&1 || true
# shellcheck disable=SC2046
"${RUN_B[@]}" $(in_pod d1) $(adopting printer) --rootfs "$ROOTFS" p1 /bin/sh -c "$PRINTER" >"$T/out-b1" 2>&1 &
P1_CTR=$!
expect "the printer is adopted on B: RUNNING with the guest pid it has on A ($PID_PRINTER)" \
  wait_for 60 bash -c '[ "$(ctr -a "$1" -n "$2" task ls | awk '"'"'$1 == "p1" { print $2, $3 }'"'"')" = "$3 RUNNING" ]' _ \
  "$T/B/containerd.sock" "$NSB" "$PID_PRINTER"
out=$(ctr_b task kill -s SIGTERM p1 2>&1) && rc=0 || rc=$?
expect "until Finalize, B refuses a Kill of the adopted container ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "adopted from a live migration" <<<"$2"' _ "$rc" "$out"
out=$(migrate transfer d1 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "transfer refuses while a container is not adopted, naming it" \
  bash -c '[ "$1" -ne 0 ] && grep -q "source container counter is not adopted" <<<"$2" && ! grep -q "^transfer:" <<<"$2"' _ "$rc" "$out"
# The orchestrator goes away here: nothing calls transfer or cancel.
given_up() { grep -q '"live migration given up: no transfer began within migration_prepare_timeout_ms"' "$1"; }
expect "past migration_prepare_timeout_ms the source gives the migration up" wait_for 45 given_up "$T/containerd.log"
expect "and so does the destination" wait_for 10 given_up "$T/B/containerd.log"
expect "B's adopted container exits (it runs on at the source)" wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$P1_CTR"
wait "$P1_CTR" && rc=0 || rc=$?
expect "with status 255, and nothing of its output reached B (ctr: $rc, $(head -c 200 "$T/out-b1"))" \
  bash -c '[ "$1" -eq 255 ] && ! grep -q "^line" "$2"' _ "$rc" "$T/out-b1"
expect "B logged why" grep -q '"the migration ended without a switchover: the container runs on at the source"' "$T/B/containerd.log"
expect "A delivers the held exit once the migration is given up" wait_for 10 status_is v1 STOPPED
expect "once ($(exits_of "$T/events-a" v1) exit event)" [ "$(exits_of "$T/events-a" v1)" -eq 1 ]
ctr_ task delete v1 >/dev/null && ctr_ c rm v1 >/dev/null
before=$(last_line "$T/out-a")
expect "A's printer runs on after it (line $before, then more)" \
  wait_for 10 bash -c '[ "$(grep -o "line [0-9]*" "$1" | tail -n 1 | cut -d" " -f2)" -gt "$2" ]' _ "$T/out-a" "$before"
expect "A's containers are RUNNING with the same pids" \
  bash -c '[ "$1" = "$2" ] && [ "$3" = RUNNING ]' _ "$(task_pid printer)" "$PID_PRINTER" "$(task_status counter)"
ctr_b c rm p1 >/dev/null 2>&1 || true
ctr_b task kill -s SIGKILL d1 >/dev/null 2>&1 || true
expect "the destination's sandbox stopped (its VMM was killed)" wait_for 20 b_status_is d1 STOPPED
remove_b d1

# ---- exec'd processes do not move: awaited, or refused with --force; then cancel ----
expect "another destination pod is created" incoming_sandbox dc "$T/qemu.json" "${MIGRATABLE[@]}"
ctr_ task exec --exec-id slow counter /bin/sleep 4 >/dev/null 2>&1 &
EXEC_SLOW=$!
expect "an exec'd process runs on A" wait_for 20 bash -c 'ctr -a "$1" -n "$2" task ps counter | grep -q .' _ "$T/containerd.sock" "$NS"
sleep 1
out=$("$SHIM" migrate prepare --force "$(address_a m1)" m1 "$(address_b dc)" dc 2>&1) && rc=0 || rc=$?
expect "with --force the export refuses at once, naming the exec ($(head -c 300 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "exec slow in container counter is running" <<<"$2" && grep -q "not awaited (force)" <<<"$2"' _ "$rc" "$out"
start=$(date +%s%N)
migrate prepare dc >"$T/prep-dc" 2>&1 &
PREP=$!
expect "without it the export awaits the exec" wait_for 10 grep -q '"live migration: the export awaits the pod'"'"'s exec'"'"'d processes"' "$T/containerd.log"
out=$(ctr_ task exec --exec-id late counter /bin/true 2>&1) && rc=0 || rc=$?
expect "meanwhile a new exec is refused ($(head -c 200 <<<"$out"))" \
  bash -c '[ "$1" -ne 0 ] && grep -q "awaiting-execs\|is migrating" <<<"$2"' _ "$rc" "$out"
wait "$PREP" && rc=0 || rc=$?
waited_ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$EXEC_SLOW" || true
expect "and goes on once it has exited (prepare exit $rc after $waited_ms ms)" \
  bash -c '[ "$1" -eq 0 ] && [ "$2" -ge 1000 ] && grep -qx "adopt counter" "$3" && ! grep -q "adopt slow" "$3"' _ "$rc" "$waited_ms" "$T/prep-dc"
out=$(migrate cancel dc 2>&1) && rc=0 || rc=$?
expect "migrate cancel cancels both sides ($out)" [ "$rc" -eq 0 ]
expect "the destination's VMM stops" wait_for 20 b_status_is dc STOPPED
expect "the source is not frozen any more: it exports again at once" \
  bash -c '"$1" migrate prepare "$2" m1 "$3" dc 2>&1 | grep -q "destination Import"' _ "$SHIM" "$(address_a m1)" "$(address_b dc)"
"$SHIM" migrate cancel "$(address_a m1)" m1 "$(address_b dc)" dc >/dev/null 2>&1 || true
remove_b dc

# ---- the destination's QEMU killed mid-transfer ----------------------------------
prepared_destination dk "$T/qemu.json" printer=pk counter=ck
DK_QEMU=$(b_pid dk)
migrate transfer dk >"$T/mig-dk" 2>&1 &
MIG=$!
expect "the transfer gets under way" wait_for 60 grep -q "transfer: active" "$T/mig-dk"
before=$(last_line "$T/out-a")
kill -KILL "$DK_QEMU"
wait "$MIG" && rc=0 || rc=$?
sed 's/^/  /' "$T/mig-dk"
expect "the transfer fails when the destination's QEMU dies (exit 1)" \
  bash -c '[ "$1" -eq 1 ] && grep -q "the transfer failed" "$2"' _ "$rc" "$T/mig-dk"
expect "A's printer goes on (line $before, then more), its output still A's" \
  wait_for 10 bash -c '[ "$(grep -o "line [0-9]*" "$1" | tail -n 1 | cut -d" " -f2)" -gt "$2" ]' _ "$T/out-a" "$before"
expect "with the same pids" bash -c '[ "$1" = "$2" ] && [ "$3" = "$4" ]' _ \
  "$(task_pid printer)" "$PID_PRINTER" "$(task_pid counter)" "$PID_COUNTER"
expect "A takes calls again: Stats of the counter" ctr_ task metrics counter
expect "B's adopted containers exited with their VM" \
  wait_for 20 bash -c '[ "$(ctr -a "$1" -n "$2" task ls | grep -c STOPPED)" -ge 3 ]' _ "$T/B/containerd.sock" "$NSB"
for id in pk ck dk; do remove_b "$id"; done

# ---- TCP+TLS with a destination of another CA: no transfer, A runs on ----------
# (its certificates come from another CA)
prepared_destination dw "$T/qemu-other-ca.json" printer=pw counter=cw
before=$(last_line "$T/out-a")
out=$(migrate transfer dw 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "the transfer goes to a TCP port and fails the TLS handshake (exit $rc)" \
  bash -c '[ "$1" -ne 0 ] && grep -q "at tcp:127.0.0.1:[0-9]*" <<<"$2" && grep -qi "the transfer failed: .*\(certificate\|tls\|handshake\)" <<<"$2"' _ "$rc" "$out"
source_runs_on "$before" dw pw cw

# ---- a writer the transfer cannot keep up with: cancelled, the settings named -----
# (random bytes: QEMU sends a page of zeros as a flag, not 4 KiB)
WRITER='/bin/busybox dd if=/dev/urandom of=/tmp/a bs=1M count=32 2>/dev/null; while :; do /bin/busybox cp /tmp/a /tmp/b; done'
# shellcheck disable=SC2046
"${RUN_A[@]}" -d $(in_pod m1) --rootfs "$ROOTFS" writer /bin/sh -c "$WRITER" >/dev/null
expect "a container rewriting 32 MiB of its memory without pause runs on A" wait_for 30 status_is writer RUNNING
prepared_destination dn "$T/qemu.json" printer=pn counter=cn writer=wn
before=$(last_line "$T/out-a")
out=$(migrate transfer dn 2>&1) && rc=0 || rc=$?
echo "$out" | tail -n 3 | sed 's/^/  /'
expect "the transfer does not converge and is cancelled after migration_timeout_ms, naming the settings (exit $rc)" \
  bash -c '[ "$1" -ne 0 ] && grep -q "did not converge within 15000 ms" <<<"$2" && grep -q "migration_max_bandwidth_mb (24 MiB/s)" <<<"$2" && grep -q "migration_downtime_limit_ms" <<<"$2"' _ "$rc" "$out"
source_runs_on "$before" dn pn cn wn
ctr_ task kill -s SIGKILL writer >/dev/null
expect "the writer is stopped and deleted on A" wait_for 20 status_is writer STOPPED
ctr_ task delete writer >/dev/null && ctr_ c rm writer >/dev/null

# ---- the pod moves ----------------------------------------------------------------
expect "a second destination pod is created" incoming_sandbox d2 "$T/qemu.json" "${MIGRATABLE[@]}"
# (an exec'd process that has exited stays behind on A)
count_before=$(ctr_ task exec --exec-id before counter cat /tmp/count 2>&1 || true)
expect "another container to be killed while exported runs" victim v2
out=$(migrate prepare d2 2>&1) && rc=0 || rc=$?
expect "prepare again" [ "$rc" -eq 0 ]
expect "it is killed on A after the export" ctr_ task kill -s SIGKILL v2
# shellcheck disable=SC2046
"${RUN_B[@]}" -d $(in_pod d2) $(adopting v2) --rootfs "$ROOTFS" v2-b /bin/sleep 600 >/dev/null
# shellcheck disable=SC2046
"${RUN_B[@]}" $(in_pod d2) $(adopting printer) --rootfs "$ROOTFS" printer-b /bin/sh -c "$PRINTER" >"$T/out-b" 2>&1 &
PRINTER_B=$!
# shellcheck disable=SC2046
"${RUN_B[@]}" -d $(in_pod d2) $(adopting counter) --rootfs "$ROOTFS" counter-b /bin/sh -c "$COUNTER" >/dev/null
expect "the three containers are adopted on B" wait_for 60 bash -c \
  '[ "$(ctr -a "$1" -n "$2" task ls | grep -c RUNNING)" -ge 4 ]' _ "$T/B/containerd.sock" "$NSB"
# A caller asking Stats all along (a kubelet's collector, faster): the
# transfer drains what is in flight instead of refusing; from its start
# A answers Unavailable (ctr cannot tell: containerd logs the shim's code).
log_mark=$(wc -l <"$T/containerd.log")
(while :; do
   if ctr -a "$T/containerd.sock" -n "$NS" task metrics counter >/dev/null 2>&1; then echo answered; else echo refused; fi
   sleep 0.02
 done) >"$T/stats-loop" 2>&1 &
STATS_LOOP=$!
wait_for 10 grep -q answered "$T/stats-loop"
# The orchestrator dies past the switchover: the source handed over, the
# destination was never told.
out=$(python3 "$TOP/test/integration/ttrpc_client.py" "$(address_a m1)" transfer-then-vanish m1 0 \
  "$(address_b d2)" d2 2>&1) && rc=0 || rc=$?
kill "$STATS_LOOP" 2>/dev/null; wait "$STATS_LOOP" 2>/dev/null || true
expect "with Stats asked every 20 ms, a transfer whose orchestrator dies after the source's Finalize ($out)" [ "$rc" -eq 0 ]
stats_failed=$(tail -n +"$log_mark" "$T/containerd.log" | grep 'ttrpc call failed.*Task/Stats' || true)
first_code=$(grep -o 'code=[A-Za-z]*' <<<"$stats_failed" | head -n 1)
expect "the Stats answered before it ($(grep -c answered "$T/stats-loop")); the first refused is Unavailable ($first_code; $(grep -c . <<<"$stats_failed") refused)" \
  bash -c 'grep -q answered "$1" && [ "$2" = code=Unavailable ]' _ "$T/stats-loop" "$first_code"
# Rerun, naming each side as ctr names a pod: containerd's address,
# namespace and socket directory, and the sandbox id.
out=$("$SHIM" migrate transfer --from "$T/containerd.sock,$NS,$T/s" m1 \
  --to "$T/B/containerd.sock,$NSB,$T/B/s" d2 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/  /'
expect "a rerun of migrate transfer finishes it: the pod runs on B with its containers" \
  bash -c '[ "$1" -eq 0 ] && grep -q "completed before; finalizing" <<<"$2"' _ "$rc" "$out"
expect "A answered its handover again" grep -q '"live migration: the handover answered again' "$T/containerd.log"
expect "B forwards the moved guest's log: its entry after the clock was set there" \
  wait_for 10 grep -q 'msg="wall clock set by the host"' "$T/B/containerd.log"
expect "the VM's state went over TCP with TLS (B listened on 127.0.0.1, its source connected with tls=true)" \
  bash -c 'grep "live migration prepared" "$1" | grep -q "uri=.\?tcp:127.0.0.1:[0-9]*" && grep -q "the source connected.*tls=true" "$1"' _ "$T/B/containerd.log"
expect "A's printer ends as moved (its ctr exits 0)" wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$PRINTER_A"
wait "$PRINTER_A" && rc=0 || rc=$?
expect "with status 0" [ "$rc" -eq 0 ]
expect "B's printer goes on" wait_for 20 bash -c 'grep -q "^line" "$1"' _ "$T/out-b"
sleep 1
a_last=$(last_line "$T/out-a")
b_first=$(grep -o 'line [0-9]*' "$T/out-b" | head -n 1 | cut -d' ' -f2)
seq_ok() { cat "$T/out-a" "$T/out-b" | grep -o 'line [0-9]*' | cut -d' ' -f2 | awk 'NR != $1 { bad = 1 } END { exit bad || NR < 10 }'; }
expect "A's output then B's is 1..N with no gap and no duplicate (A ends at $a_last, B starts at $b_first)" seq_ok
expect "the printer has the same guest pid on B ($PID_PRINTER)" [ "$(b_pid printer-b)" = "$PID_PRINTER" ]
expect "so has the counter ($PID_COUNTER)" [ "$(b_pid counter-b)" = "$PID_COUNTER" ]
count_after=$(ctr_b task exec --exec-id after counter-b cat /tmp/count 2>&1 || true)
expect "an Exec on B reads the counter, which went on ($count_before before, $count_after after)" \
  bash -c '[ "$1" -gt 0 ] && [ "$2" -gt "$1" ]' _ "${count_before:-0}" "${count_after:-0}"
expect "B delivered the exit held across the switchover: v2-b STOPPED" \
  wait_for 10 b_status_is v2-b STOPPED
expect "with the status of A's SIGKILL (137)" grep -q '/tasks/exit.*"v2-b".*"exit_status":137' "$T/events-b"
expect "exactly once, by B; A published none for v2 (B: $(exits_of "$T/events-b" v2-b), A: $(exits_of "$T/events-a" v2))" \
  bash -c '[ "$1" -eq 1 ] && [ "$2" -eq 0 ]' _ "$(exits_of "$T/events-b" v2-b)" "$(exits_of "$T/events-a" v2)"
ctr_b task delete v2-b >/dev/null && ctr_b c rm v2-b >/dev/null
expect "B answers Stats for the adopted container" bash -c 'ctr -a "$1" -n "$2" task metrics counter-b | grep -q .' _ "$T/B/containerd.sock" "$NSB"
expect "B's Kill stops the printer" ctr_b task kill -s SIGKILL printer-b
expect "its ctr sees the exit" wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$PRINTER_B"
expect "A's counter ended as moved" wait_for 20 status_is counter STOPPED
expect "A's tasks are deleted" bash -c 'ctr -a "$1" -n "$2" task delete counter >/dev/null 2>&1; ctr -a "$1" -n "$2" task delete v2 >/dev/null 2>&1; ctr -a "$1" -n "$2" task delete m1 >/dev/null' _ "$T/containerd.sock" "$NS"
ctr_ c rm printer counter v2 m1 >/dev/null 2>&1 || true
expect "B's Kill stops the counter" ctr_b task kill -s SIGKILL counter-b
expect "which exits" wait_for 20 b_status_is counter-b STOPPED
expect "B deletes it (the printer's ctr deleted its own)" ctr_b task delete counter-b
expect "B unplugged the adopted containers' disks (two layers)" \
  bash -c '[ "$(grep -c "\"disk removed from the VM\"" "$1")" -ge 2 ]' _ "$T/B/containerd.log"
ctr_b c rm printer-b counter-b >/dev/null 2>&1 || true
ctr_b task kill -s SIGKILL d2 >/dev/null 2>&1 || true
expect "B's sandbox stops" wait_for 20 b_status_is d2 STOPPED
remove_b d2
expect "nothing is left on the source" all_clean 20
expect "nothing is left on the destination" wait_for 20 b_clean
finish
