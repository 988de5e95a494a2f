/* See pod_port_steer.h.  */
#include "pod_port_steer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/base/cleanup.h"

static int
bpf_call (int cmd, union bpf_attr *attr)
{
  return (int) syscall (__NR_bpf, cmd, attr, sizeof *attr);
}

#define INSN(c, d, s, o, i)                                                   \
  ((struct bpf_insn){                                                         \
      .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* The program, for the SOCKMAP map_fd: a TCP lookup for 127.0.0.1 gets
   the map's socket; anything else (and a failed assignment) goes on to
   the kernel's own lookup.  r6 = ctx; r7 = the socket, released.  */
static int
load_program (int map_fd, shim_error **err)
{
  enum
  {
    PASS = 19 /* index of "r0 = SK_PASS" */
  };
  const struct bpf_insn prog[] = {
    /* 0 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
    /* 1 */
    INSN (BPF_LDX | BPF_MEM | BPF_W, 2, 6,
          offsetof (struct bpf_sk_lookup, protocol), 0),
    /* 2 */ INSN (BPF_JMP | BPF_JNE | BPF_K, 2, 0, PASS - 3, IPPROTO_TCP),
    /* 3 */
    INSN (BPF_LDX | BPF_MEM | BPF_W, 2, 6,
          offsetof (struct bpf_sk_lookup, local_ip4), 0),
    /* 4 */
    INSN (BPF_JMP | BPF_JNE | BPF_K, 2, 0, PASS - 5,
          (int32_t) htonl (INADDR_LOOPBACK)),
    /* 5: key 0 on the stack */
    INSN (BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),
    /* 6, 7: r1 = the map */
    INSN (BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
    INSN (0, 0, 0, 0, 0),
    /* 8 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
    /* 9 */ INSN (BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
    /* 10 */ INSN (BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
    /* 11 */ INSN (BPF_JMP | BPF_JEQ | BPF_K, 0, 0, PASS - 12, 0),
    /* 12 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 0, 0),
    /* 13 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
    /* 14 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 2, 7, 0, 0),
    /* 15 */ INSN (BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 0),
    /* 16 */ INSN (BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_assign),
    /* 17 */ INSN (BPF_ALU64 | BPF_MOV | BPF_X, 1, 7, 0, 0),
    /* 18 */ INSN (BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_release),
    /* 19 */ INSN (BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, SK_PASS),
    /* 20 */ INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static const char license[] = "Apache-2.0";
  union bpf_attr load;
  memset (&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_SK_LOOKUP;
  load.expected_attach_type = BPF_SK_LOOKUP;
  load.insns = (uint64_t) (uintptr_t) prog;
  load.insn_cnt = sizeof prog / sizeof *prog;
  load.license = (uint64_t) (uintptr_t) license;
  int fd = bpf_call (BPF_PROG_LOAD, &load);
  if (fd < 0)
    shim_error_errno (err, GRPC_UNAVAILABLE, errno,
                      "port forward: load the sk_lookup program");
  return fd;
}

/* The listening socket, made inside the namespace at netns_path.  */
static int
listen_in (const char *netns_path, shim_error **err)
{
  cleanup_close int self
      = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  cleanup_close int pod = open (netns_path, O_RDONLY | O_CLOEXEC);
  struct stat a, b;
  if (self < 0 || pod < 0 || fstat (self, &a) < 0 || fstat (pod, &b) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "port forward: namespace %s", netns_path);
  if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "port forward: %s is the host's network "
                           "namespace, not a pod's",
                           netns_path);
  if (setns (pod, CLONE_NEWNET) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "port forward: enter %s", netns_path);
  int s = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int saved = errno;
  struct sockaddr_in any
      = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  if (s >= 0
      && (bind (s, (struct sockaddr *) &any, sizeof any) < 0
          || listen (s, SOMAXCONN) < 0))
    {
      saved = errno;
      close (s);
      s = -1;
    }
  /* Back to the thread's own namespace: it has the fd open and the
     privilege that entered the pod's, so this does not fail; if it ever
     did, nothing on this thread may make another socket.  */
  if (setns (self, CLONE_NEWNET) < 0)
    {
      if (s >= 0)
        close (s);
      return shim_error_errno (err, GRPC_INTERNAL, errno,
                               "port forward: return from %s", netns_path);
    }
  if (s < 0)
    return shim_error_errno (err, GRPC_INTERNAL, saved,
                             "port forward: listen in %s", netns_path);
  return s;
}

int
pod_port_steer_open (const char *netns_path, struct pod_port_steer *out,
                     shim_error **err)
{
  *out = (struct pod_port_steer){ -1, -1 };
  int listen_fd = listen_in (netns_path, err);
  if (listen_fd < 0)
    return -1;
  union bpf_attr attr;
  memset (&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_SOCKMAP;
  attr.key_size = sizeof (uint32_t);
  attr.value_size = sizeof (uint64_t);
  attr.max_entries = 1;
  cleanup_close int map_fd = bpf_call (BPF_MAP_CREATE, &attr);
  uint32_t key = 0;
  uint64_t value = (uint64_t) listen_fd;
  memset (&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t) map_fd;
  attr.key = (uint64_t) (uintptr_t) &key;
  attr.value = (uint64_t) (uintptr_t) &value;
  if (map_fd < 0 || bpf_call (BPF_MAP_UPDATE_ELEM, &attr) < 0)
    {
      shim_error_errno (err, GRPC_UNAVAILABLE, errno,
                        "port forward: a SOCKMAP for the listener");
      close (listen_fd);
      return -1;
    }
  cleanup_close int prog_fd = load_program (map_fd, err);
  cleanup_close int ns_fd = open (netns_path, O_RDONLY | O_CLOEXEC);
  int link_fd = -1;
  if (prog_fd >= 0 && ns_fd >= 0)
    {
      memset (&attr, 0, sizeof attr);
      attr.link_create.prog_fd = (uint32_t) prog_fd;
      attr.link_create.target_fd = (uint32_t) ns_fd;
      attr.link_create.attach_type = BPF_SK_LOOKUP;
      link_fd = bpf_call (BPF_LINK_CREATE, &attr);
      if (link_fd < 0)
        shim_error_errno (err, GRPC_UNAVAILABLE, errno,
                          "port forward: attach to %s", netns_path);
    }
  else if (prog_fd >= 0)
    shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                      "port forward: namespace %s", netns_path);
  if (link_fd < 0)
    {
      close (listen_fd);
      return -1;
    }
  /* The link holds the program, the program the map.  */
  *out = (struct pod_port_steer){ listen_fd, link_fd };
  return 0;
}

void
pod_port_steer_close (struct pod_port_steer *s)
{
  if (s->link_fd >= 0)
    close (s->link_fd);
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  *s = (struct pod_port_steer){ -1, -1 };
}
