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
Failures print "error CODE: DETAILS" and exit 2."""
import json
import sys

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
    # ipc 3: 2 = NODE)), sysctls 3).
    ns = msg((1, 2 if p.get("host_network") else 0), (3, 2 if p.get("host_ipc") else 0))
    linux = msg((1, p.get("cgroup_parent", "")),
                (2, sub(msg((1, sub(ns))))), (3, p.get("sysctls", {})))
    return msg((1, sub(msg((1, p["name"]), (2, p["uid"]), (3, p.get("namespace", "default"))))),
               (2, p.get("hostname", p["name"])), (3, p.get("log_directory", "")),
               (6, p.get("labels", {})), (7, p.get("annotations", {})),
               (8, sub(linux)))


def container_config(c):
    # ContainerConfig: metadata 1 (name 1), image 2 (image 1), command 3,
    # args 4, envs 6 (key 1, value 2), mounts 7 (container_path 1,
    # host_path 2, readonly 3), labels 9, annotations 10, log_path 11,
    # linux 15 (resources 1 (memory_limit_in_bytes 4)).
    mounts = [sub(msg((1, m["container_path"]), (2, m["host_path"]),
                      (3, bool(m.get("readonly"))))) for m in c.get("mounts", [])]
    envs = [sub(msg((1, k), (2, v))) for k, v in c.get("envs", {}).items()]
    linux = msg((1, sub(msg((4, c.get("memory_limit", 0))))))
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
    elif cmd == "stop-pod":
        call(ch, "StopPodSandbox", msg((1, args[0])))
    elif cmd == "rm-pod":
        call(ch, "RemovePodSandbox", msg((1, args[0])))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
