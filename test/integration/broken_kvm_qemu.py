#!/usr/bin/env python3
"""A QEMU stand-in for a host whose /dev/kvm opens but does not run guests.

With "-accel kvm" in its arguments it behaves as QEMU does when KVM stops the
guest: it prints QEMU's internal-error text on stderr, serves its QMP socket
with a STOP event and run state "internal-error", and stays paused until
killed.  Installed under a name ending in "-hang", a KVM launch is instead a
guest that never moves and says nothing (the real QEMU, under TCG, with -S).
Anything else runs the real QEMU.  Each launch is appended to
$BROKEN_KVM_LOG ("kvm" or "tcg")."""
import json
import os
import socket
import sys
import time

REAL_QEMU = os.environ.get("REAL_QEMU", "/usr/bin/qemu-system-x86_64")
args = sys.argv[1:]
kvm = any(a == "kvm" and args[i - 1] == "-accel" for i, a in enumerate(args))
with open(os.environ["BROKEN_KVM_LOG"], "a") as f:
    f.write("kvm\n" if kvm else "tcg\n")
if not kvm:
    os.execv(REAL_QEMU, [REAL_QEMU] + args)
if os.path.basename(sys.argv[0]).endswith("-hang"):
    tcg = ["tcg" if a == "kvm" else "max" if a == "host" else a for a in args]
    os.execv(REAL_QEMU, [REAL_QEMU] + tcg + ["-S"])

qmp = [a for i, a in enumerate(args) if i > 0 and args[i - 1] == "-qmp"]
path = qmp[0].split(":", 1)[1].split(",")[0]
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(1)
sys.stderr.write("KVM internal error. Suberror: 1\nemulation failure\n"
                 "RAX=0000000000000000 RBX=0000000000000000\n")
sys.stderr.flush()
conn, _ = listener.accept()
out = conn.makefile("w")
inp = conn.makefile("r")


def send(obj):
    out.write(json.dumps(obj) + "\n")
    out.flush()


send({"QMP": {"version": {}, "capabilities": []}})
send_stop = True
for line in inp:
    cmd = json.loads(line).get("execute")
    if cmd == "qmp_capabilities":
        send({"return": {}})
        if send_stop:
            send({"timestamp": {"seconds": int(time.time()), "microseconds": 0},
                  "event": "STOP"})
            send_stop = False
    elif cmd == "query-status":
        send({"return": {"status": "internal-error", "running": False}})
    else:
        send({"error": {"class": "GenericError", "desc": "stand-in"}})
time.sleep(3600)
