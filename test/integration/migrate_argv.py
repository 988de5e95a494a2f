#!/usr/bin/env python3
"""Migrates the exact QEMU command line the shim ran for a sandbox.

usage: migrate_argv.py UVM_JSON WORKDIR

Takes vmm_argv from a live-migratable sandbox's uvm.json, runs it as a
source QEMU with its sockets moved under WORKDIR/src (this script plays the
shim's host side: the entropy port, the GCS bridge until the agent's
hello), runs the same argv plus -incoming defer as a destination under
WORKDIR/dst, migrates over QMP with the return path on, and then proves the
guest runs on the destination: its agent answers a bridge shutdown request
there (the same guest: its uptime went on; its wall clock is set) and the
destination QEMU exits.  Prints the migration's numbers;
exits non-zero with the reason on any failure.  Both QEMUs are killed on
the way out.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

ENTROPY_PORT = 1
GCS_PORT = 0x40000000
BOOT_ATTEMPTS = 6
HELLO_TIMEOUT = 15.0


def fail(msg):
    print("migrate_argv: " + msg, file=sys.stderr)
    sys.exit(1)


def read_exact(conn, n, deadline):
    data = b""
    while len(data) < n:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("bridge closed")
        data += chunk
    return data


def read_frame(conn, deadline):
    """One bridge frame: (id, type, body)."""
    head = read_exact(conn, 10, deadline)
    length, ident, ftype, _flags = struct.unpack(">IIBB", head)
    return ident, ftype, read_exact(conn, length, deadline)


def request(conn, ident, message):
    """Sends a bridge request and returns its JSON answer (an error answer
    ends the run)."""
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">IIBB", len(body), ident, 1, 0) + body)
    deadline = time.monotonic() + 30
    try:
        while True:
            got, ftype, answer = read_frame(conn, deadline)
            if ftype == 2 and got == ident:
                reply = json.loads(answer)
                if "error" in reply:
                    fail("%s on the destination: %s" % (message["type"], reply["error"]))
                return reply
    except (socket.timeout, EOFError) as e:
        fail("no answer to %s from the guest agent on the destination: %s"
             % (message["type"], e))


class Side:
    """One QEMU and the host ends of its sockets."""

    def __init__(self, name, argv, workdir, incoming):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.listeners = {}
        self.conns = {}
        self.argv = self.rewrite(argv, incoming)
        self.proc = None
        self.qmp = None

    def rewrite(self, argv, incoming):
        out = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "-qmp":
                i += 2  # the shim's sockets; this side has its own
                continue
            if arg == "-chardev" and i + 1 < len(argv):
                opts = argv[i + 1].split(",")
                for k, o in enumerate(opts):
                    if o.startswith("path="):
                        base = os.path.basename(o[len("path="):])
                        path = os.path.join(self.dir, base)
                        port = int(base.rsplit("_", 1)[1])
                        self.listen(port, path)
                        opts[k] = "path=" + path
                out += [arg, ",".join(opts)]
                i += 2
                continue
            out.append(arg)
            i += 1
        out += ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if incoming:
            out += ["-incoming", "defer"]
        return out

    def listen(self, port, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        self.listeners[port] = s

    def accept_all(self, entropy):
        """Accepts each port's connection as QEMU makes it."""
        def accept(port, s):
            s.settimeout(60)
            try:
                conn, _ = s.accept()
            except OSError:
                return
            if port == ENTROPY_PORT and entropy:
                conn.sendall(os.urandom(512))
                conn.shutdown(socket.SHUT_WR)
            self.conns[port] = conn
        for port, s in self.listeners.items():
            threading.Thread(target=accept, args=(port, s), daemon=True).start()

    def start(self, entropy):
        self.accept_all(entropy)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "qemu.err"), "w"))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.qmp_path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                fail("%s: QEMU did not start: %s" % (self.dir, self.stderr()))
            time.sleep(0.02)
        self.qmp = Qmp(self.qmp_path)

    def stderr(self):
        try:
            return open(os.path.join(self.dir, "qemu.err")).read().strip()
        except OSError:
            return ""

    def wait_hello(self, timeout):
        deadline = time.monotonic() + timeout
        while GCS_PORT not in self.conns:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        conn = self.conns[GCS_PORT]
        try:
            while True:
                _, ftype, body = read_frame(conn, deadline)
                if ftype == 3 and json.loads(body).get("type") == "hello":
                    return json.loads(body)
        except (socket.timeout, EOFError, ValueError):
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in list(self.listeners.values()) + list(self.conns.values()):
            s.close()


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self.file.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("QMP closed during " + name)
            reply = json.loads(line)
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError("%s: %s" % (name, reply["error"]["desc"]))
            return reply["return"]


def main():
    if len(sys.argv) != 3:
        fail(__doc__.strip().splitlines()[2])
    argv = json.load(open(sys.argv[1]))["vmm_argv"]
    workdir = sys.argv[2]
    sides = []
    try:
        src = None
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            src = Side("src%d" % attempt, argv, workdir, incoming=False)
            sides.append(src)
            src.start(entropy=True)
            hello = src.wait_hello(HELLO_TIMEOUT)
            if hello is not None:
                break
            # A TCG boot that stalls is relaunched, as the shim does.
            print("  boot attempt %d: no hello in %.0f s, relaunching"
                  % (attempt, HELLO_TIMEOUT))
            src.kill()
        else:
            fail("the source guest never said hello")
        print("  source booted (attempt %d), guest uptime at hello %s ms"
              % (attempt, hello.get("uptime_ms")))
        dst = Side("dst", argv, workdir, incoming=True)
        sides.append(dst)
        dst.start(entropy=False)
        uri = "unix:" + os.path.join(workdir, "mig.sock")
        caps = {"capabilities": [{"capability": "events", "state": True},
                                 {"capability": "return-path", "state": True}]}
        dst.qmp.cmd("migrate-set-capabilities", caps)
        dst.qmp.cmd("migrate-incoming", {"uri": uri})
        src.qmp.cmd("migrate-set-capabilities", caps)
        start = time.monotonic()
        try:
            src.qmp.cmd("migrate", {"uri": uri})
        except RuntimeError as e:
            fail("the source refused to migrate: %s" % e)
        while True:
            info = src.qmp.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() - start > 60:
                src.qmp.cmd("migrate_cancel")
                fail("no convergence in 60 s: %s" % json.dumps(info))
            time.sleep(0.05)
        if info["status"] != "completed":
            fail("migration %s: %s; destination: %s"
                 % (info["status"], info.get("error-desc", ""), dst.stderr()))
        ram = info.get("ram", {})
        print("  migrated: total %s ms, downtime %s ms, %d bytes sent"
              % (info.get("total-time"), info.get("downtime"),
                 ram.get("transferred", 0)))
        deadline = time.monotonic() + 10
        while dst.qmp.cmd("query-status")["status"] != "running":
            if time.monotonic() > deadline:
                fail("the destination did not resume")
            time.sleep(0.05)
        print("  source: %s, destination: running"
              % src.qmp.cmd("query-status")["status"])
        # The same guest answers on the destination's bridge: its uptime
        # went on from the source's hello; its wall clock is set (it fell
        # behind by the downtime); then it powers off.
        conn = dst.conns.get(GCS_PORT)
        if conn is None:
            fail("the destination never connected its bridge port")
        pong = request(conn, 1, {"type": "ping"})
        if pong.get("uptime_ms", 0) <= hello.get("uptime_ms", 0):
            fail("the destination's guest is not the one that booted: %s" % pong)
        print("  the same guest on the destination: uptime %s ms (hello at %s ms)"
              % (pong["uptime_ms"], hello.get("uptime_ms")))
        request(conn, 2, {"type": "settime", "unix_ns": time.time_ns()})
        print("  its wall clock set")
        answer = request(conn, 3, {"type": "shutdown"})
        print("  the guest agent answered on the destination: %s" % json.dumps(answer))
        try:
            dst.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fail("the destination VM did not power off")
        print("  the destination VM powered off (QEMU exit %d)" % dst.proc.returncode)
    finally:
        for side in sides:
            side.kill()


if __name__ == "__main__":
    main()
