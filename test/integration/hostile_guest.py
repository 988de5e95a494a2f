#!/usr/bin/env python3
"""A hostile guest: a QEMU stand-in that plays the UVM for the shim's QEMU
backend, one attack per launch.

    hostile_guest.py ATTACK [QEMU arguments...]

It serves the QMP sockets named by -qmp (capabilities, run state, disk
hot-plug: every command succeeds, device_del is followed by DEVICE_DELETED),
takes the entropy from vsock port 1, and connects to the ports the
command line wires with -chardev as the guest's init and agent would: the
log port 109 (only present for sandboxes that are not migratable) and the
bridge (uvm/guest/PROTOCOL.md).  As agent it answers every request: create
and exec with a pid, start (a process whose args[0] ends in "true" then
exits 0; others run until signalled), signal (the process exits 128+N),
stats, delete, shutdown (the VM powers off).

ATTACK is one of:
  agent          not an attack: the project's own guest programs, built with
                 ASan and UBSan for the host ($HOSTILE_GUEST_PROGRAMS), run
                 as the kernel command line says (vsockexec, gcs), over the
                 hybrid sockets; their sanitizer reports go to
                 $HOSTILE_SANITIZER_LOG.*
  none           a well-behaved guest
  credit-flood   after the first start, stops reading the bridge and sends
                 1-byte stdout DATA frames for that process and for keys
                 the host never chose, without end
  window         after the first start, sends stdout without waiting for
                 credit (64 KiB frames)
  oversize-data  after the first start, one stdout DATA frame of 96 KiB
  junk           after hello, without end: frames of unknown type,
                 responses to no request, notifications of unknown type,
                 exits and credit of unknown processes, bodies that are
                 not JSON
  early-exit     the exit of a process is sent before its create reply
  guest-pid      create and exec answer pid 1
  silent         says hello, then never answers
  log-forge      log entries (port 109) whose keys and values hold newlines,
                 quotes, '=' and NUL, and keys named time, level, msg,
                 namespace and runtime
  log-keys       log entries of 20000 keys each, without end
  log-flood      short log lines, as fast as the socket takes them
Every attack but none writes "attack started" to $HOSTILE_LOG (if set)."""
import itertools
import json
import os
import socket
import struct
import sys
import threading
import time

REQUEST, RESPONSE, NOTIFY, DATA, CREDIT = 1, 2, 3, 4, 5
STDOUT = 1
GCS_PORT = 0x40000000
LOG_PORT = 109
ATTACK = sys.argv[1]
FDSETS = itertools.count(1)
ARGS = sys.argv[2:]


def note(what):
    path = os.environ.get("HOSTILE_LOG")
    if path:
        with open(path, "a") as f:
            f.write("%s %s\n" % (ATTACK, what))


def opt_values(name):
    return [ARGS[i + 1] for i, a in enumerate(ARGS[:-1]) if a == name]


def frame(fid, ftype, body, flags=0):
    if isinstance(body, str):
        body = body.encode()
    return struct.pack(">IIBB", len(body), fid, ftype, flags) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


# ---- QMP ---------------------------------------------------------------------

def serve_qmp(path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=qmp_session, args=(conn,), daemon=True).start()


def qmp_session(conn):
    out = conn.makefile("w")

    def send(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}},
                      "capabilities": []}})
        for line in conn.makefile("r"):
            req = json.loads(line)
            cmd, args = req.get("execute"), req.get("arguments", {})
            if cmd == "query-status":
                send({"return": {"status": "running", "running": True}})
            elif cmd == "add-fd":
                fdset = next(FDSETS)
                send({"return": {"fdset-id": fdset, "fd": 40 + fdset}})
            elif cmd == "human-monitor-command":
                send({"return": "RIP=%016x\r\n" % int(time.time() * 1000)})
            else:
                send({"return": {}})
            if cmd == "device_del":
                send({"timestamp": {"seconds": int(time.time()), "microseconds": 0},
                      "event": "DEVICE_DELETED", "data": {"device": args.get("id")}})
    except (OSError, ValueError):
        pass


# ---- ports -------------------------------------------------------------------

def port_paths():
    paths = {}
    for spec in opt_values("-chardev"):
        # The guest's vsock ports only (a host share's socket is virtiofsd's,
        # which this guest does not use).
        if not spec.startswith("socket,id=vsock"):
            continue
        fields = dict(f.split("=", 1) for f in spec.split(",")[1:] if "=" in f)
        path = fields.get("path", "")
        port = int(path.rsplit("_", 1)[1])
        paths[port] = path
    return paths


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def log_attack(s):
    if ATTACK == "log-forge":
        nasty = ["a\nb", 'q"uote', "eq=ual", "nul\0byte", "time", "level", "msg",
                 "namespace", "runtime",
                 'x\ntime="2001-01-01T00:00:00Z" level=fatal msg=FORGED-LINE']
        entry = {"time": "2026-11-28T10:00:00Z", "level": "error", "msg": "FORGED-ENTRY"}
        for k in nasty:
            entry["guest-" + k if k in ("time", "level", "msg") else k] = \
                '\ntime="2001-01-01T00:00:00Z" level=fatal msg=FORGED-VALUE "=\0'
        s.sendall((json.dumps(entry) + "\n").encode())
        s.sendall((json.dumps({"time": "2026-11-28T10:00:00Z", "level": "info",
                               "msg": "FORGED-SHADOW", "namespace": "forged-ns",
                               "runtime": "forged-rt"}) + "\n").encode())
        note("attack started")
    elif ATTACK == "log-keys":
        entry = {"time": "2026-11-28T10:00:00Z", "level": "debug", "msg": "wide"}
        for i in range(20000):
            entry["k%d" % i] = i
        line = (json.dumps(entry) + "\n").encode()
        note("attack started")
        while True:
            s.sendall(line)
    elif ATTACK == "log-flood":
        line = b'{"time":"2026-11-28T10:00:00Z","level":"info","msg":"flood"}\n' * 1000
        note("attack started")
        while True:
            s.sendall(line)


# ---- the agent ---------------------------------------------------------------

class Agent:
    def __init__(self, sock):
        self.s = sock
        self.lock = threading.Lock()
        self.running = {}
        self.attacked = False

    def send(self, data):
        with self.lock:
            self.s.sendall(data)

    def notify(self, body):
        self.send(frame(0, NOTIFY, json.dumps(body)))

    def exit(self, key, status):
        self.send(frame(key, DATA, b"", STDOUT) + frame(key, DATA, b"", 2))
        self.notify({"type": "exit", "process": key, "status": status})
        self.running.pop(key, None)

    def hello(self, cmdline):
        self.notify({"type": "hello", "protocol": 2, "cmdline": cmdline,
                     "kernel_release": "hostile-guest", "root": "/dev/sda",
                     "cpus": 1, "memory_mb": 512, "uptime_ms": 1})

    def answer(self, rid, req):
        kind = req.get("type")
        key = req.get("process", 0)
        if ATTACK == "silent":
            return
        if kind == "shutdown":
            self.send(frame(rid, RESPONSE, '{"type":"shutdown"}'))
            os._exit(0)
        if kind in ("create", "exec"):
            if ATTACK == "early-exit":
                self.notify({"type": "exit", "process": key, "status": 3})
                note("attack started")
            spec = json.loads(req.get("spec", "{}"))
            args = (spec.get("process") or spec).get("args") or [""]
            self.running[key] = args[0]
            pid = 1 if ATTACK == "guest-pid" else 1000 + key
            self.send(frame(rid, RESPONSE, json.dumps({"type": kind, "pid": pid})))
            return
        if kind == "start":
            self.send(frame(rid, RESPONSE, '{"type":"start"}'))
            if self.running.get(key, "").endswith("true"):
                self.exit(key, 0)
            elif not self.attacked and ATTACK in ("credit-flood", "window", "oversize-data"):
                self.attacked = True
                threading.Thread(target=self.stream_attack, args=(key,), daemon=True).start()
            return
        if kind == "signal":
            self.send(frame(rid, RESPONSE, '{"type":"signal"}'))
            if key in self.running:
                self.exit(key, 128 + req.get("signal", 9))
            return
        if kind == "stats":
            self.send(frame(rid, RESPONSE, json.dumps(
                {"type": "stats", "cpu_ns": 1, "memory_bytes": 4096,
                 "memory_limit": 0, "pids": [1000]})))
            return
        self.send(frame(rid, RESPONSE, json.dumps({"type": kind})))

    def stream_attack(self, key):
        note("attack started")
        if ATTACK == "oversize-data":
            self.send(frame(key, DATA, b"x" * (96 << 10), STDOUT))
        elif ATTACK == "window":
            chunk = frame(key, DATA, b"w" * (64 << 10), STDOUT)
            while True:
                self.send(chunk)
        elif ATTACK == "credit-flood":
            self.reading = False
            batch = b"".join(frame(key if i % 2 else 50000 + i, DATA, b"c", STDOUT)
                             for i in range(100000))
            while True:
                self.send(batch)

    def junk(self):
        note("attack started")
        batch = b"".join([
            frame(7, 9, b"unknown frame type"),
            frame(99999, RESPONSE, '{"type":"create","pid":5}'),
            frame(0, NOTIFY, '{"type":"bogus"}'),
            frame(0, NOTIFY, '{"type":"exit","process":7777,"status":1}'),
            frame(0, NOTIFY, b"not json at all"),
            frame(8, CREDIT, b"\0\0\0\1"),
        ] * 2000)
        while True:
            self.send(batch)

    def run(self, cmdline):
        self.reading = True
        self.hello(cmdline)
        if ATTACK == "junk":
            threading.Thread(target=self.junk, daemon=True).start()
        while True:
            if not self.reading:
                time.sleep(3600)
            length, fid, ftype, flags = struct.unpack(">IIBB", recv_exact(self.s, 10))
            body = recv_exact(self.s, length)
            if ftype == REQUEST:
                self.answer(fid, json.loads(body))
            elif ftype == DATA and flags == 0 and body:
                self.send(frame(fid, CREDIT, struct.pack(">I", len(body)), 0))


def run_guest_programs(cmdline, ports):
    """init's part is played here (entropy); the rest of init's command
    line runs from the sanitizer builds, and dies with this process."""
    import ctypes
    import subprocess
    words = cmdline.split(" -- ", 1)[1].split()
    if words[:2] == ["-e", "1"]:
        words = words[2:]
    progs = os.environ["HOSTILE_GUEST_PROGRAMS"]
    words = [os.path.join(progs, os.path.basename(w)) if w.startswith("/bin/") else w
             for w in words]
    env = dict(os.environ)
    env["LCOW_VSOCK_UDS"] = ports[1].rsplit("_", 1)[0]
    env["ASAN_OPTIONS"] = "log_path=%s:detect_leaks=1" % os.environ["HOSTILE_SANITIZER_LOG"]
    env["UBSAN_OPTIONS"] = "log_path=%s:print_stacktrace=1:halt_on_error=1" % \
        os.environ["HOSTILE_SANITIZER_LOG"]
    libc = ctypes.CDLL(None)
    child = subprocess.Popen(words, env=env, preexec_fn=lambda: libc.prctl(1, 9))
    # The VM powers off when its agent exits (shutdown), as init does.
    sys.exit(child.wait())


def main():
    for path in opt_values("-qmp"):
        qpath = path.split(":", 1)[1].split(",")[0]
        threading.Thread(target=serve_qmp, args=(qpath,), daemon=True).start()
    cmdline = (opt_values("-append") or [""])[0]
    ports = port_paths()
    time.sleep(0.05)
    entropy = connect(ports[1])
    recv_exact(entropy, 512)
    if ATTACK == "agent":
        run_guest_programs(cmdline, ports)
    if LOG_PORT in ports:
        log = connect(ports[LOG_PORT])
        threading.Thread(target=log_attack, args=(log,), daemon=True).start()
    agent = Agent(connect(ports[GCS_PORT]))
    try:
        agent.run(cmdline)
    except (EOFError, OSError):
        pass
    # The bridge closed: the VM stays until it is killed, as a VM would.
    time.sleep(3600)


if __name__ == "__main__":
    main()
