#!/usr/bin/python3
"""A CRI v1 client for the tests, as the kubelet calls containerd's CRI
plugin: gRPC from Debian's python3-grpcio, the messages encoded here from
the published field numbers of k8s.io/cri-api runtime/v1 (only the fields
the tests use).
usage: cri_client.py SOCKET COMMAND ARGS...
  run-pod POD.json                     -> pod sandbox id
  create POD_ID POD.json CTR.json      -> container id
  start|rm-ctr CID;  stop-ctr CID SECS
  exec CID SECS CMD...                 -> its stdout; exits with its code
  status CID                           -> STATE EXIT_CODE REASON|MESSAGE
  update CID MEMORY_BYTES CPU_SHARES
  pod-stats POD_ID                     -> cpu_ns memory_working_set_bytes
  pod-status|stop-pod|rm-pod POD_ID
  portforward POD_ID PORT TEXT         -> what the pod's PORT answered TEXT
     with (PortForward, then the streaming server's websocket protocol,
     v4.channel.k8s.io, as the kubelet speaks it); the error channel's
     text goes to stderr and the exit status is 3
Failures print "error CODE: DETAILS" and exit 2."""
import base64
import json
import os
import socket
import struct
import sys
import urllib.parse

import grpc

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ttrpc_client import field_bytes, parse_fields, varint  # noqa: E402

SERVICE = "/runtime.v1.RuntimeService/"
CONTAINER_STATES = ["CREATED", "RUNNING", "EXITED", "UNKNOWN"]
POD_STATES = ["READY", "NOTREADY"]


def msg(*fields):
    """A message from (number, value) pairs: str/bytes, int, bool, dict
    (map<string,string>), a list of such (repeated), or an encoded
    message given as ("msg", bytes)."""
    out = b""
    for num, val in fields:
        if val is None:
            continue
        if isinstance(val, tuple) and val[0] == "msg":
            out += field_bytes(num, val[1])
        elif isinstance(val, bool):
            out += varint(num << 3) + varint(int(val)) if val else b""
        elif isinstance(val, int):
            out += varint(num << 3) + varint(val & (2**64 - 1)) if val else b""
        elif isinstance(val, dict):
            for k, v in val.items():
                out += field_bytes(num, msg((1, k), (2, v)))
        elif isinstance(val, list):
            for item in val:
                out += msg((num, item))
        elif val != "" and val != b"":
            out += field_bytes(num, val)
    return out


def sub(data):
    return ("msg", data)


def pod_config(p):
    # PodSandboxConfig: metadata 1 (name 1, uid 2, namespace 3, attempt 4),
    # hostname 2, log_directory 3, labels 6, annotations 7, linux 8
    # (cgroup_parent 1, security_context 2 (namespace_options 1 (network 1,
    # ipc 3: 2 = NODE), privileged 6), sysctls 3).
    ns = msg((1, 2 if p.get("host_network") else 0), (3, 2 if p.get("host_ipc") else 0))
    linux = msg((1, p.get("cgroup_parent", "")),
                (2, sub(msg((1, sub(ns)), (6, bool(p.get("privileged")))))),
                (3, p.get("sysctls", {})))
    return msg((1, sub(msg((1, p["name"]), (2, p["uid"]), (3, p.get("namespace", "default"))))),
               (2, p.get("hostname", p["name"])), (3, p.get("log_directory", "")),
               (6, p.get("labels", {})), (7, p.get("annotations", {})),
               (8, sub(linux)))


def container_config(c):
    # ContainerConfig: metadata 1 (name 1), image 2 (image 1), command 3,
    # args 4, envs 6 (key 1, value 2), mounts 7 (container_path 1,
    # host_path 2, readonly 3, propagation 5: 2 = BIDIRECTIONAL), labels 9,
    # annotations 10, log_path 11, linux 15 (resources 1
    # (memory_limit_in_bytes 4), security_context 2 (capabilities 1
    # (add_capabilities 1), privileged 2)).
    mounts = [sub(msg((1, m["container_path"]), (2, m["host_path"]),
                      (3, bool(m.get("readonly"))), (5, m.get("propagation", 0))))
              for m in c.get("mounts", [])]
    envs = [sub(msg((1, k), (2, v))) for k, v in c.get("envs", {}).items()]
    security = msg((1, sub(msg((1, c.get("add_capabilities", []))))),
                   (2, bool(c.get("privileged"))))
    linux = msg((1, sub(msg((4, c.get("memory_limit", 0))))), (2, sub(security)))
    return msg((1, sub(msg((1, c["name"])))), (2, sub(msg((1, c["image"])))),
               (3, c.get("command", [])), (4, c.get("args", [])), (6, envs),
               (7, mounts), (9, c.get("labels", {})), (10, c.get("annotations", {})),
               (11, c.get("log_path", "")), (15, sub(linux)))


def call(channel, method, request, timeout=180):
    rpc = channel.unary_unary(SERVICE + method, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    try:
        return parse_fields(rpc(request, timeout=timeout))
    except grpc.RpcError as e:
        print("error %s: %s" % (e.code().name, e.details()))
        sys.exit(2)


def s(fields, num):
    v = fields.get(num, [b""])[0]
    return v.decode(errors="replace") if isinstance(v, bytes) else v


def load(path):
    with open(path) as f:
        return json.load(f)


class WebSocket:
    """The client side of RFC 6455, only what a port forward needs."""

    def __init__(self, url, protocol):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
            % (path, u.netloc, key, protocol)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                sys.exit("websocket: the server closed during the upgrade")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n")[0]
        if b" 101 " not in status:
            sys.exit("websocket: no upgrade: %s" % status.decode(errors="replace"))

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def frames(self):
        """(opcode, payload) until the server closes."""
        while True:
            try:
                b0, b1 = self._exact(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._exact(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._exact(8))[0]
                mask = self._exact(4) if b1 & 0x80 else None
                data = self._exact(n)
            except (EOFError, ConnectionResetError):
                return
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b0 & 0x0F
            if opcode == 8:
                return
            if opcode == 9:
                self.send(10, data)
                continue
            yield opcode, data


def port_forward(url, text):
    """One port: channel 0 is its data, 1 its errors; each begins with the
    port (2 bytes, little endian)."""
    ws = WebSocket(url, "v4.channel.k8s.io")
    seen, out, err, sent = set(), b"", b"", False
    for _, payload in ws.frames():
        if not payload:
            continue
        channel, data = payload[0], payload[1:]
        if channel not in seen:
            seen.add(channel)
        elif channel == 0:
            out += data
        else:
            err += data
        if seen == {0, 1} and not sent:
            ws.send(2, b"\x00" + text.encode())
            sent = True
    return out, err


def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    ch = grpc.insecure_channel("unix://" + sock)
    if cmd == "run-pod":
        r = call(ch, "RunPodSandbox", msg((1, sub(pod_config(load(args[0])))),
                                          (2, load(args[0]).get("runtime_handler", ""))))
        print(s(r, 1))
    elif cmd == "create":
        r = call(ch, "CreateContainer", msg((1, args[0]), (2, sub(container_config(load(args[2])))),
                                            (3, sub(pod_config(load(args[1]))))))
        print(s(r, 1))
    elif cmd == "start":
        call(ch, "StartContainer", msg((1, args[0])))
    elif cmd == "stop-ctr":
        call(ch, "StopContainer", msg((1, args[0]), (2, int(args[1]))))
    elif cmd == "rm-ctr":
        call(ch, "RemoveContainer", msg((1, args[0])))
    elif cmd == "exec":
        r = call(ch, "ExecSync", msg((1, args[0]), (2, args[2:]), (3, int(args[1]))))
        sys.stdout.write(s(r, 1))
        sys.stderr.write(s(r, 2))
        sys.exit(r.get(3, [0])[0])
    elif cmd == "status":
        st = parse_fields(call(ch, "ContainerStatus", msg((1, args[0]))).get(1, [b""])[0])
        print("%s %d %s|%s" % (CONTAINER_STATES[st.get(3, [0])[0]], st.get(7, [0])[0],
                               s(st, 10), s(st, 11)))
    elif cmd == "update":
        res = msg((3, int(args[2])), (4, int(args[1])))
        call(ch, "UpdateContainerResources", msg((1, args[0]), (2, sub(res))))
        print("ok")
    elif cmd == "pod-stats":
        # PodSandboxStats: linux 2 (cpu 1 (usage_core_nano_seconds 2
        # (value 1)), memory 2 (working_set_bytes 2 (value 1))).
        st = parse_fields(call(ch, "PodSandboxStats", msg((1, args[0]))).get(1, [b""])[0])
        linux = parse_fields(st.get(2, [b""])[0])
        cpu = parse_fields(linux.get(1, [b""])[0])
        mem = parse_fields(linux.get(2, [b""])[0])
        value = lambda f, n: parse_fields(f.get(n, [b""])[0]).get(1, [0])[0]  # noqa: E731
        print("%d %d" % (value(cpu, 2), value(mem, 2)))
    elif cmd == "pod-status":
        st = parse_fields(call(ch, "PodSandboxStatus", msg((1, args[0]))).get(1, [b""])[0])
        print(POD_STATES[st.get(3, [0])[0]])
    elif cmd == "portforward":
        r = call(ch, "PortForward", msg((1, args[0]), (2, [int(args[1])])))
        out, err = port_forward(s(r, 1), args[2].encode().decode("unicode_escape"))
        sys.stdout.buffer.write(out)
        if err:
            sys.stderr.write(err.decode(errors="replace"))
            sys.exit(3)
    elif cmd == "stop-pod":
        call(ch, "StopPodSandbox", msg((1, args[0])))
    elif cmd == "rm-pod":
        call(ch, "RemovePodSandbox", msg((1, args[0])))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
