/* What confines a container in the guest besides its capabilities: the
   namespaces the host lets it ask for, the seccomp filter built from its
   profile (loaded for real in a child), and the devices cgroup program
   (run by a small interpreter of the instructions it uses, and given to the
   kernel's verifier where the host allows).  */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/pkt_sched.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/namespace_policy.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/json.h"
#include "proto/base/rtnl.h"
#include "proto/base/xalloc.h"
#include "proto/oci_spec.h"
#include "suites.h"
#include "uvm/guest/bridge_request.h"
#include "uvm/guest/cgroup_resources.h"
#include "uvm/guest/device_filter.h"
#include "uvm/guest/network.h"
#include "uvm/guest/rootfs_path.h"
#include "uvm/guest/seccomp_profile.h"
#include "uvm/podnet/pod_nic.h"

static struct oci_spec *
spec (const char *json)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_msg (oci_spec_parse (json, strlen (json), &s, &err) == 0, "%s",
                 err ? err->msg : "");
  return s;
}

static char *
spec_error (const char *json)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (json, strlen (json), &s, &err), -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  char *msg = strdup (err->msg);
  shim_error_free (err);
  return msg;
}

/* ---- linux.namespaces ----------------------------------------------------
 */

static char *
namespace_problems (const char *json, const char *pod_pid_ns)
{
  struct oci_spec *s = spec (json);
  struct policy_problems p = { STRBUF_INIT, 0 };
  namespace_policy_check (s, pod_pid_ns, &p);
  char *text = p.count ? strbuf_detach (&p.text) : NULL;
  policy_problems_release (&p);
  oci_spec_free (s);
  return text;
}

/* CRI's hostIPC: the node's IPC namespace, which a VM cannot give.  */
#define NO_IPC                                                                \
  "linux.namespaces: no ipc namespace: the node's IPC namespace (hostIPC) "   \
  "cannot be given inside a VM; run the pod with the node's runtime"

START_TEST (namespaces_taken)
{
  ck_assert_ptr_null (namespace_problems (
      "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{"
      "\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"network\",\"path\":"
      "\"/var/run/netns/cni-1\"},{\"type\":\"cgroup\"}]}}",
      NULL));
  /* The pod's, as CRI names it for shareProcessNamespace.  */
  ck_assert_ptr_null (namespace_problems (
      "{\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":\"/proc/42/ns/"
      "pid\"},{\"type\":\"uts\",\"path\":\"/proc/42/ns/uts\"},{\"type\":"
      "\"ipc\",\"path\":\"/proc/42/ns/ipc\"}]}}",
      "/proc/42/ns"));
}
END_TEST

START_TEST (pod_namespaces)
{
  struct policy_problems p = { STRBUF_INIT, 0 };
  struct oci_spec *s = spec ("{\"linux\":{\"namespaces\":[{\"type\":"
                             "\"pid\"},{\"type\":\"network\"}]}}");
  namespace_policy_check_pod (s, &p);
  ck_assert_uint_eq (p.count, 1);
  ck_assert_str_eq (p.text.data, NO_IPC);
  policy_problems_release (&p);
  oci_spec_free (s);
  /* hostNetwork: no network namespace.  */
  s = spec ("{\"linux\":{\"namespaces\":[{\"type\":\"ipc\"}]}}");
  namespace_policy_check_pod (s, &p);
  ck_assert_uint_eq (p.count, 1);
  ck_assert_str_eq (p.text.data,
                    "linux.namespaces: no network namespace: the node's "
                    "network (hostNetwork) cannot be given inside a VM, "
                    "whose guest has its own network stack; run the pod "
                    "with the node's runtime");
  policy_problems_release (&p);
  oci_spec_free (s);
  s = spec ("{\"linux\":{\"namespaces\":[{\"type\":\"ipc\"},{\"type\":"
            "\"network\",\"path\":\"/var/run/netns/cni-1\"}]}}");
  namespace_policy_check_pod (s, &p);
  ck_assert_uint_eq (p.count, 0);
  policy_problems_release (&p);
  oci_spec_free (s);
}
END_TEST

START_TEST (namespaces_refused)
{
  char *text = namespace_problems (
      "{\"linux\":{\"namespaces\":[{\"type\":\"user\"},{\"type\":\"time\"},{"
      "\"type\":\"pid\",\"path\":\"/proc/1/ns/pid\"},{\"type\":\"bogus\"},{"
      "\"type\":\"uts\",\"path\":\"/proc/42/ns/ipc\"},{\"type\":\"mount\","
      "\"path\":\"/proc/42/ns/mnt\"},{\"type\":\"network\",\"path\":\"/var/"
      "run/netns/cni-1\"}]}}",
      "/proc/42/ns");
  ck_assert_str_eq (
      text, "linux.namespaces[0]: user namespaces are not supported (the "
            "guest agent applies no ID mappings); linux.namespaces[1]: time "
            "namespaces are not supported by the guest agent; "
            "linux.namespaces[2]: pid namespace /proc/1/ns/pid is not the "
            "pod's (/proc/42/ns/pid), the only one a container may join; "
            "linux.namespaces[3]: unknown type \"bogus\"; "
            "linux.namespaces[4]: uts namespace /proc/42/ns/ipc is not the "
            "pod's (/proc/42/ns/uts), the only one a container may join; "
            "linux.namespaces[5]: joining a mount namespace (/proc/42/ns/mnt) "
            "is not supported: each container has its own; " NO_IPC);
  free (text);
  text = namespace_problems ("{\"linux\":{\"namespaces\":[{\"type\":\"pid\","
                             "\"path\":\"/proc/42/ns/pid\"}]}}",
                             NULL);
  ck_assert_str_eq (text, "linux.namespaces[0]: pid namespace "
                          "/proc/42/ns/pid cannot be joined: the container "
                          "is in no pod; " NO_IPC);
  free (text);
  text = namespace_problems ("{\"linux\":{}}", NULL);
  ck_assert_str_eq (text, "linux.namespaces: no pid namespace (the container "
                          "would share the guest agent's and could signal "
                          "it); " NO_IPC);
  free (text);
  text = spec_error ("{\"linux\":{\"namespaces\":[{\"path\":7}]}}");
  ck_assert_str_eq (text, "linux.namespaces[0].type: required; "
                          "linux.namespaces[0].path: expected string, got "
                          "number");
  free (text);
}
END_TEST

/* ---- linux.seccomp -------------------------------------------------------
 */

#define DENY_MKDIR                                                            \
  "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","            \
  "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"               \
  "\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\",\"not_a_syscall\"],"       \
  "\"action\":\"SCMP_ACT_ERRNO\"},{\"names\":[\"umask\"],\"action\":"         \
  "\"SCMP_ACT_ERRNO\",\"errnoRet\":38,\"args\":[{\"index\":0,\"value\":63,"   \
  "\"op\":\"SCMP_CMP_EQ\"}]},{\"names\":[\"getpid\"],\"action\":"             \
  "\"SCMP_ACT_ALLOW\"}]}}}"

START_TEST (seccomp_read)
{
  struct oci_spec *s = spec (DENY_MKDIR);
  ck_assert_ptr_nonnull (s->seccomp);
  ck_assert_str_eq (s->seccomp->default_action, "SCMP_ACT_ALLOW");
  ck_assert_uint_eq (s->seccomp->narchitectures, 2);
  ck_assert_uint_eq (s->seccomp->nsyscalls, 3);
  ck_assert_uint_eq (s->seccomp->syscalls[0].nnames, 3);
  ck_assert (!s->seccomp->syscalls[0].has_errno_ret);
  ck_assert (s->seccomp->syscalls[1].has_errno_ret);
  ck_assert_uint_eq (s->seccomp->syscalls[1].errno_ret, 38);
  ck_assert_uint_eq (s->seccomp->syscalls[1].args[0].value, 63);
  strbuf bad = STRBUF_INIT;
  /* An unknown syscall name is skipped, as runc skips it.  */
  ck_assert_int_eq (seccomp_profile_check (s->seccomp, &bad), 0);
  strbuf_release (&bad);
  oci_spec_free (s);
  char *text = spec_error (
      "{\"linux\":{\"seccomp\":{\"syscalls\":[{\"names\":\"mkdir\"}]}}}");
  ck_assert_str_eq (text, "linux.seccomp.defaultAction: required; "
                          "linux.seccomp.syscalls[0].action: required; "
                          "linux.seccomp.syscalls[0].names: expected array, "
                          "got string");
  free (text);
}
END_TEST

START_TEST (seccomp_refused_by_name)
{
  struct oci_spec *s = spec (
      "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_MAYBE\","
      "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_VAX\"],"
      "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_NEW\"],"
      "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_NOTIFY\"},"
      "{\"names\":[\"write\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{"
      "\"index\":1,\"value\":1,\"op\":\"SCMP_CMP_ABOUT\"}]}]}}}");
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (seccomp_profile_check (s->seccomp, &bad), -1);
  ck_assert_str_eq (
      bad.data,
      "defaultAction SCMP_ACT_MAYBE is unknown; architecture SCMP_ARCH_VAX "
      "is unknown (architectures[1]); flag SECCOMP_FILTER_FLAG_NEW is "
      "unknown (flags[1]); action SCMP_ACT_NOTIFY has no listener in the "
      "guest (syscalls[0]); operator SCMP_CMP_ABOUT is unknown (syscalls[1])");
  strbuf_release (&bad);
  oci_spec_free (s);
}
END_TEST

/* Loaded into a child: mkdir fails with EPERM (ENOENT without the filter),
   umask(077) with the rule's errno while umask(022) passes, and the
   no_new_privs bit stays as it was (runc leaves it to the spec).  */
START_TEST (seccomp_loaded)
{
  if (geteuid () != 0)
    {
      fprintf (stderr, "seccomp_loaded: skipped, needs root to load a "
                       "filter without no_new_privs\n");
      return;
    }
  struct oci_spec *s = spec (DENY_MKDIR);
  pid_t pid = fork ();
  if (pid == 0)
    {
      if (seccomp_profile_load (s->seccomp) < 0)
        _exit (10);
      if (mkdir ("/nonexistent-dir/x", 0700) == 0 || errno != EPERM)
        _exit (11);
      if (syscall (SYS_umask, 077) != -1 || errno != ENOSYS)
        _exit (12);
      if (syscall (SYS_umask, 022) < 0)
        _exit (13);
      if (prctl (PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        _exit (14);
      _exit (0);
    }
  int status;
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  ck_assert (WIFEXITED (status));
  ck_assert_int_eq (WEXITSTATUS (status), 0);
  oci_spec_free (s);
}
END_TEST

/* ---- devices ---------------------------------------------------------- */

/* Runs the program for one access; returns its verdict (1 allow).  */
static int
run_filter (const struct bpf_insn *p, size_t n, unsigned type, unsigned access,
            uint32_t major, uint32_t minor)
{
  uint64_t r[11] = { 0 };
  const uint32_t ctx[3] = { access << 16 | type, major, minor };
  for (size_t pc = 0; pc < n; pc++)
    {
      const struct bpf_insn *i = &p[pc];
      uint64_t imm = (uint64_t) (int64_t) i->imm;
      bool jump = false;
      switch (i->code)
        {
        case BPF_LDX | BPF_MEM | BPF_W:
          ck_assert (i->src_reg == 1 && i->off % 4 == 0 && i->off < 12);
          r[i->dst_reg] = ctx[i->off / 4];
          break;
        case BPF_ALU64 | BPF_AND | BPF_K:
          r[i->dst_reg] &= imm;
          break;
        case BPF_ALU64 | BPF_RSH | BPF_K:
          r[i->dst_reg] >>= imm;
          break;
        case BPF_ALU64 | BPF_MOV | BPF_X:
          r[i->dst_reg] = r[i->src_reg];
          break;
        case BPF_ALU64 | BPF_MOV | BPF_K:
          r[i->dst_reg] = imm;
          break;
        case BPF_JMP | BPF_JNE | BPF_K:
          jump = r[i->dst_reg] != imm;
          break;
        case BPF_JMP | BPF_JNE | BPF_X:
          jump = r[i->dst_reg] != r[i->src_reg];
          break;
        case BPF_JMP | BPF_JEQ | BPF_K:
          jump = r[i->dst_reg] == imm;
          break;
        case BPF_JMP | BPF_EXIT:
          return (int) r[0];
        default:
          ck_abort_msg ("instruction %zu: unexpected code %#x", pc, i->code);
        }
      if (jump)
        {
          ck_assert (i->off >= 0 && pc + 1 + (size_t) i->off < n);
          pc += (size_t) i->off;
        }
    }
  ck_abort_msg ("the program ran off its end");
  return -1;
}

enum
{
  B = BPF_DEVCG_DEV_BLOCK,
  C = BPF_DEVCG_DEV_CHAR,
  R = DEVICE_READ,
  W = DEVICE_WRITE,
  M = DEVICE_MKNOD,
};

struct filter
{
  struct bpf_insn insns[DEVICE_FILTER_MAX_INSNS];
  size_t n;
};

static void
filter_for_spec (const char *json, struct filter *f)
{
  struct oci_spec *s = spec (json);
  struct device_rule *rules;
  size_t n;
  strbuf bad = STRBUF_INIT;
  ck_assert_msg (device_rules_from_spec (s, &rules, &n, &bad) == 0, "%s",
                 bad.data);
  f->n = device_filter_build (rules, n, f->insns);
  free (rules);
  strbuf_release (&bad);
  oci_spec_free (s);
}

/* The kernel's verifier takes it (where this host lets the test load BPF:
   root, a kernel with cgroup BPF).  */
static void
verifier_accepts (const struct filter *f)
{
  union bpf_attr a;
  memset (&a, 0, sizeof a);
  static char log[16384];
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = (uint64_t) (uintptr_t) f->insns;
  a.insn_cnt = (uint32_t) f->n;
  a.license = (uint64_t) (uintptr_t) "Apache-2.0";
  a.log_buf = (uint64_t) (uintptr_t) log;
  a.log_size = sizeof log;
  a.log_level = 1;
  long fd = syscall (SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
  if (fd < 0 && (errno == EPERM || errno == ENOSYS))
    return;
  ck_assert_msg (fd >= 0, "verifier: %s: %s", strerror (errno), log);
  close ((int) fd);
}

/* containerd's default spec denies everything; runc's defaults follow.  */
START_TEST (devices_default_spec)
{
  static struct filter f;
  filter_for_spec ("{\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,"
                   "\"access\":\"rwm\"}]}}}",
                   &f);
  verifier_accepts (&f);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R | W, 1, 3), 1); /* null */
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 1, 9), 1); /* urandom */
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R | W, 136, 7), 1);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R | W, 5, 2), 1); /* ptmx */
  ck_assert_int_eq (run_filter (f.insns, f.n, B, M, 8, 0), 1);     /* mknod */
  ck_assert_int_eq (run_filter (f.insns, f.n, C, M, 245, 1), 1);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 1, 1), 0); /* mem */
  ck_assert_int_eq (run_filter (f.insns, f.n, B, R, 8, 0), 0);
  ck_assert_int_eq (run_filter (f.insns, f.n, B, R | M, 8, 0), 0);
  /* The bridge's virtio-serial port.  */
  ck_assert_int_eq (run_filter (f.insns, f.n, C, W, 245, 1), 0);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 4, 1), 0); /* tty1 */
}
END_TEST

/* A device the spec lists is allowed whole; a rule the spec adds too. */
START_TEST (devices_listed)
{
  static struct filter f;
  filter_for_spec (
      "{\"linux\":{\"devices\":[{\"path\":\"/dev/sdz\",\"type\":\"b\","
      "\"major\":8,\"minor\":16}],\"resources\":{\"devices\":[{\"allow\":"
      "false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":10,"
      "\"access\":\"r\"}]}}}",
      &f);
  verifier_accepts (&f);
  ck_assert_int_eq (run_filter (f.insns, f.n, B, R | W, 8, 16), 1);
  ck_assert_int_eq (run_filter (f.insns, f.n, B, R, 8, 17), 0);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 10, 1), 1);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R | W, 10, 1), 0);
}
END_TEST

/* The last match decides; a deny matches any right it names, an allow
   only accesses within its rights; a number no device has never
   matches.  */
START_TEST (devices_rule_semantics)
{
  static struct filter f;
  const struct device_rule rules[] = {
    { true, 'a', -1, -1, R | W | M },
    { false, 'c', 1, 5, W },
    { false, 'b', (int64_t) 1 << 40, -1, R | W | M },
  };
  f.n = device_filter_build (rules, 3, f.insns);
  verifier_accepts (&f);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 1, 5), 1);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, W, 1, 5), 0);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R | W, 1, 5), 0);
  ck_assert_int_eq (run_filter (f.insns, f.n, B, R | W, 8, 0), 1);
  /* No rule at all: everything denied.  */
  f.n = device_filter_build (NULL, 0, f.insns);
  verifier_accepts (&f);
  ck_assert_int_eq (run_filter (f.insns, f.n, C, R, 1, 3), 0);
}
END_TEST

START_TEST (devices_refused_by_name)
{
  struct oci_spec *s = spec (
      "{\"linux\":{\"devices\":[{\"path\":\"/dev/../etc/x\",\"type\":\"c\"},"
      "{\"path\":\"/dev/y\",\"type\":\"z\"}],\"resources\":{\"devices\":[{"
      "\"allow\":true,\"type\":\"q\",\"access\":\"rx\"}]}}}");
  struct device_rule *rules = NULL;
  size_t n = 0;
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (device_rules_from_spec (s, &rules, &n, &bad), -1);
  ck_assert_str_eq (
      bad.data,
      "linux.resources.devices[0]: type \"q\" is not a, b or c; "
      "linux.resources.devices[0]: access \"rx\" is not made of r, w and m; "
      "linux.devices[0]: path \"/dev/../etc/x\" is not absolute, or has an "
      "empty, \".\" or \"..\" component; linux.devices[1]: type \"z\" is not "
      "c, b, u or p");
  ck_assert_ptr_null (rules);
  strbuf_release (&bad);
  oci_spec_free (s);
  char *text = spec_error ("{\"linux\":{\"resources\":{\"devices\":[{"
                           "\"major\":-2}]},\"devices\":[{\"fileMode\":"
                           "65535}]}}");
  ck_assert_str_eq (text, "linux.devices[0].fileMode: expected an integer "
                          "from 0 to 4095, got 65535; "
                          "linux.resources.devices[0].major: "
                          "expected an integer from -1 to "
                          "9223372036854775807");
  free (text);
}
END_TEST

/* ---- linux.resources -------------------------------------------------- */

static const char *
planned (const struct cgroup_plan *p, const char *file)
{
  for (size_t i = 0; i < p->n; i++)
    if (strcmp (p->writes[i].file, file) == 0)
      return p->writes[i].value;
  return NULL;
}

/* runc's cgroup v2 conversions.  */
START_TEST (resources_converted)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  static const char json[]
      = "{\"memory\":{\"limit\":67108864,\"reservation\":-1,\"swap\":"
        "100663296},\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":"
        "200000},\"pids\":{\"limit\":0},\"hugepageLimits\":[{\"pageSize\":"
        "\"2MB\",\"limit\":0}],\"unified\":{\"memory.high\":\"50331648\"}}";
  ck_assert_int_eq (oci_resources_parse (json, sizeof json - 1, &s, &err), 0);
  struct cgroup_plan p;
  strbuf bad = STRBUF_INIT;
  ck_assert_msg (cgroup_plan_build (&s->resources, &p, &bad) == 0, "%s",
                 bad.data);
  ck_assert_str_eq (planned (&p, "memory.max"), "67108864");
  ck_assert_str_eq (planned (&p, "memory.low"), "max");
  ck_assert_str_eq (planned (&p, "memory.swap.max"), "33554432");
  ck_assert_str_eq (planned (&p, "cpu.weight"), "39");
  ck_assert_str_eq (planned (&p, "cpu.max"), "50000 200000");
  ck_assert_str_eq (planned (&p, "pids.max"), "max");
  ck_assert_str_eq (planned (&p, "memory.high"), "50331648");
  ck_assert_uint_eq (p.n, 7);
  oci_spec_free (s);
  /* A quota alone takes the default period; shares 2 is weight 1.  */
  static const char json2[]
      = "{\"cpu\":{\"shares\":2,\"quota\":-1},\"pids\":{\"limit\":20},"
        "\"memory\":{\"limit\":-1,\"swap\":-1}}";
  ck_assert_int_eq (oci_resources_parse (json2, sizeof json2 - 1, &s, &err),
                    0);
  ck_assert_int_eq (cgroup_plan_build (&s->resources, &p, &bad), 0);
  ck_assert_str_eq (planned (&p, "cpu.weight"), "1");
  ck_assert_str_eq (planned (&p, "cpu.max"), "max 100000");
  ck_assert_str_eq (planned (&p, "pids.max"), "20");
  ck_assert_str_eq (planned (&p, "memory.max"), "max");
  ck_assert_str_eq (planned (&p, "memory.swap.max"), "max");
  strbuf_release (&bad);
  oci_spec_free (s);
}
END_TEST

START_TEST (resources_refused_by_name)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  static const char json[]
      = "{\"memory\":{\"limit\":1000,\"swap\":10,\"kernel\":1,"
        "\"swappiness\":0,\"disableOOMKiller\":true},\"cpu\":{\"cpus\":"
        "\"0-3\",\"mems\":\"0\",\"realtimeRuntime\":5},\"blockIO\":{},"
        "\"network\":{},\"rdma\":{},\"unified\":{\"cgroup.procs\":\"1\","
        "\"io.max\":\"x\",\"memory.high\":\"1\\n2\"}}";
  ck_assert_int_eq (oci_resources_parse (json, sizeof json - 1, &s, &err), 0);
  struct cgroup_plan p;
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (cgroup_plan_build (&s->resources, &p, &bad), -1);
  ck_assert_str_eq (
      bad.data,
      "linux.resources.memory.swap (10) is below the memory limit (1000): "
      "it counts memory plus swap; linux.resources.memory.kernel: cgroup v2 "
      "has no such setting; linux.resources.memory.swappiness: cgroup v2 has "
      "no such setting; linux.resources.memory.disableOOMKiller: cgroup v2 "
      "has no such setting; linux.resources.cpu.cpus (0-3): host CPU "
      "numbers do not name the UVM's vCPUs; linux.resources.cpu.mems (0): "
      "host memory nodes are not the UVM's; linux.resources.cpu."
      "realtimeRuntime and realtimePeriod: cgroup v2 has no real-time "
      "budget; linux.resources.blockIO: the guest has no io controller; "
      "linux.resources.network: the guest has no net_cls or net_prio "
      "controller; linux.resources.rdma: the UVM has no RDMA device; "
      "linux.resources.unified[\"cgroup.procs\"]: not a file of the guest's "
      "cpu, memory or pids controller; linux.resources.unified[\"io.max\"]: "
      "not a file of the guest's cpu, memory or pids controller; "
      "linux.resources.unified[\"memory.high\"]: the value is not one line "
      "of at most 95 bytes");
  strbuf_release (&bad);
  oci_spec_free (s);
  /* Types are checked with the paths named.  */
  static const char bad_json[]
      = "{\"memory\":{\"limit\":\"1G\"},\"cpu\":{\"shares\":-5}}";
  ck_assert_int_eq (
      oci_resources_parse (bad_json, sizeof bad_json - 1, &s, &err), -1);
  ck_assert_str_eq (err->msg, "linux.resources.memory.limit: expected "
                              "number, got string; linux.resources.cpu."
                              "shares: expected an integer from 0 to 262144, "
                              "got -5");
  shim_error_free (err);
  err = NULL;
  ck_assert_int_eq (oci_resources_parse ("[]", 2, &s, &err), -1);
  ck_assert_str_eq (err->msg, "linux.resources: expected object, got array");
  shim_error_free (err);
}
END_TEST

/* ---- the pod's NIC ---------------------------------------------------- */

static const struct json_limits test_limits = { 16, 1 << 20 };

/* What the kernel dumps in a pod's namespace after CNI's bridge plugin,
   built as rtnetlink messages: lo, eth0 (a veth end) and a TAP.  */
static void
link_message (struct rtnl_msg *m, int index, unsigned short type,
              const char *name, const unsigned char mac[6], uint32_t mtu)
{
  struct ifinfomsg *i = rtnl_start (m, RTM_NEWLINK, 0, sizeof *i);
  i->ifi_index = index;
  i->ifi_type = type;
  rtnl_put_str (m, IFLA_IFNAME, name);
  rtnl_put (m, IFLA_ADDRESS, mac, 6);
  rtnl_put_u32 (m, IFLA_MTU, mtu);
}

static void
address_message (struct rtnl_msg *m, int index, unsigned char family,
                 const char *addr, unsigned char prefix)
{
  struct ifaddrmsg *a = rtnl_start (m, RTM_NEWADDR, 0, sizeof *a);
  a->ifa_family = family;
  a->ifa_prefixlen = prefix;
  a->ifa_index = (unsigned) index;
  unsigned char bytes[16];
  inet_pton (family, addr, bytes);
  rtnl_put (m, IFA_LOCAL, bytes, family == AF_INET ? 4 : 16);
}

static void
route_message (struct rtnl_msg *m, uint32_t oif, const char *dst,
               unsigned char dst_len, const char *gateway, unsigned char table)
{
  struct rtmsg *r = rtnl_start (m, RTM_NEWROUTE, 0, sizeof *r);
  r->rtm_family = AF_INET;
  r->rtm_dst_len = dst_len;
  r->rtm_table = table;
  r->rtm_type = RTN_UNICAST;
  struct in_addr in;
  if (dst != NULL && inet_pton (AF_INET, dst, &in) == 1)
    rtnl_put (m, RTA_DST, &in, 4);
  if (gateway != NULL && inet_pton (AF_INET, gateway, &in) == 1)
    rtnl_put (m, RTA_GATEWAY, &in, 4);
  rtnl_put_u32 (m, RTA_OIF, oif);
}

static void
scan_cni_namespace (struct pod_nic_scan *scan)
{
  static const unsigned char zero[6] = { 0 };
  static const unsigned char veth[6] = { 0x8a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f };
  static const unsigned char tap[6] = { 2, 0, 0, 0, 0, 1 };
  struct rtnl_msg m;
  memset (scan, 0, sizeof *scan);
  link_message (&m, 1, ARPHRD_LOOPBACK, "lo", zero, 65536);
  pod_nic_scan_link (scan, m.h);
  link_message (&m, 3, ARPHRD_ETHER, "eth0", veth, 1450);
  pod_nic_scan_link (scan, m.h);
  link_message (&m, 4, ARPHRD_ETHER, POD_NIC_TAP, tap, 1450);
  pod_nic_scan_link (scan, m.h);
  address_message (&m, 1, AF_INET, "127.0.0.1", 8);
  pod_nic_scan_address (scan, m.h);
  address_message (&m, 3, AF_INET, "10.251.77.2", 24);
  pod_nic_scan_address (scan, m.h);
  address_message (&m, 3, AF_INET6, "fe80::1", 64);
  pod_nic_scan_address (scan, m.h);
}

/* The helper reads the namespace and answers; the shim reads the answer
   and tells the guest, which reads what the host sends.  */
START_TEST (pod_nic_round_trip)
{
  struct pod_nic_scan scan;
  scan_cni_namespace (&scan);
  struct pod_nic nic;
  shim_error *err = NULL;
  ck_assert_int_eq (pod_nic_pick (&scan, &nic, &err), 0);
  struct rtnl_msg m;
  route_message (&m, 3, NULL, 0, "10.251.77.1", RT_TABLE_MAIN);
  pod_nic_add_route (&nic, m.h);
  route_message (&m, 3, "10.251.77.0", 24, NULL, RT_TABLE_MAIN);
  pod_nic_add_route (&nic, m.h);
  /* Another interface's route, and a route of another table: not ours.  */
  route_message (&m, 9, "192.168.0.0", 16, NULL, RT_TABLE_MAIN);
  pod_nic_add_route (&nic, m.h);
  route_message (&m, 3, "10.9.0.0", 16, NULL, RT_TABLE_LOCAL);
  pod_nic_add_route (&nic, m.h);
  ck_assert_str_eq (nic.ifname, "eth0");
  ck_assert_int_eq (nic.ifindex, 3);
  ck_assert_str_eq (nic.mac, "8a:1b:2c:3d:4e:5f");
  ck_assert_uint_eq (nic.mtu, 1450);
  ck_assert_uint_eq (nic.naddresses, 1);
  ck_assert_str_eq (nic.addresses[0], "10.251.77.2/24");
  ck_assert_uint_eq (nic.nroutes, 2);
  ck_assert_str_eq (nic.routes[0].dst, "default");
  ck_assert_str_eq (nic.routes[0].gateway, "10.251.77.1");
  ck_assert_str_eq (nic.routes[1].dst, "10.251.77.0/24");
  nic.ingress_ours = true;

  char *answer = pod_nic_to_json (&nic);
  json_value *v = json_parse (answer, strlen (answer), &test_limits, &err);
  ck_assert_ptr_nonnull (v);
  struct pod_nic back;
  ck_assert_msg (pod_nic_from_json (v, &back, &err) == 0, "%s",
                 err ? err->msg : "");
  ck_assert_mem_eq (&back, &nic, sizeof nic);
  json_free (v);
  free (answer);

  char *body = pod_nic_guest_body (&nic);
  struct bridge_request r;
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_NETWORK);
  struct network_config c;
  ck_assert_msg (network_config_parse (r.spec, r.spec_len, &c, &err) == 0,
                 "%s", err ? err->msg : "");
  static const unsigned char mac[6] = { 0x8a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f };
  ck_assert_mem_eq (c.mac, mac, 6);
  ck_assert_uint_eq (c.mtu, 1450);
  ck_assert_uint_eq (c.naddresses, 1);
  ck_assert_uint_eq (c.prefixes[0], 24);
  ck_assert_uint_eq (ntohl (c.addresses[0].s_addr), 0x0afb4d02u);
  ck_assert_uint_eq (c.nroutes, 2);
  ck_assert (c.routes[0].has_gateway && c.routes[0].dst_len == 0);
  ck_assert (!c.routes[1].has_gateway && c.routes[1].dst_len == 24);
  bridge_request_release (&r);
  free (body);
}
END_TEST

/* An image's symlinks cannot take a mount point or a device node out of
   the container's root: absolute and ".." links resolve within it.  */
START_TEST (rootfs_paths_stay_in_root)
{
  char dir[] = "/tmp/lcow-unit-rootfs.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (dir));
  cleanup_free char *outside = xasprintf ("%s/outside", dir);
  cleanup_free char *inside = xasprintf ("%s/root", dir);
  char *path = NULL;
  ck_assert_int_eq (mkdir (outside, 0755), 0);
  ck_assert_int_eq (mkdir (inside, 0755), 0);
  free (path);
  path = xasprintf ("%s/abs", inside);
  ck_assert_int_eq (symlink (outside, path), 0);
  free (path);
  path = xasprintf ("%s/up", inside);
  ck_assert_int_eq (symlink ("../../../..", path), 0);
  free (path);
  path = xasprintf ("%s/node", inside);
  ck_assert_int_eq (symlink (outside, path), 0);
  free (path);
  path = xasprintf ("%s/dangling", inside);
  ck_assert_int_eq (symlink ("/nowhere", path), 0);
  /* Where the absolute link points when read within the root (a link
     to nowhere is refused, not followed out).  */
  free (path);
  path = xasprintf ("%s%s", inside, outside);
  ck_assert_int_eq (mkdir_p (path, 0755, NULL), 0);
  int root = open (inside, O_PATH | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge (root, 0);
  char *last = NULL;
  int parent = rootfs_path_parent (root, "/abs/made/dev", &last);
  if (parent < 0 && errno == ENOSYS)
    {
      fprintf (stderr, "rootfs paths: skipped, no openat2 here\n");
      close (root);
      free (path);
      return;
    }
  ck_assert_int_ge (parent, 0);
  ck_assert_str_eq (last, "dev");
  free (last);
  close (parent);
  /* The absolute link was followed within the root.  */
  free (path);
  path = xasprintf ("%s%s/made", inside, outside);
  ck_assert_int_eq (access (path, F_OK), 0);
  free (path);
  path = xasprintf ("%s/made", outside);
  ck_assert_int_eq (access (path, F_OK), -1);
  int t = rootfs_path_mount_point (root, "/up/etc/hosts", true);
  ck_assert_int_ge (t, 0);
  close (t);
  free (path);
  path = xasprintf ("%s/etc/hosts", inside);
  ck_assert_int_eq (access (path, F_OK), 0);
  /* A last component that is a link resolves within the root too.  */
  t = rootfs_path_mount_point (root, "/node", false);
  ck_assert_int_ge (t, 0);
  close (t);
  free (path);
  path = xasprintf ("%s%s", inside, outside);
  struct stat st;
  ck_assert_int_eq (stat (path, &st), 0);
  ck_assert (S_ISDIR (st.st_mode));
  ck_assert_int_eq (rootfs_path_parent (root, "/dangling/x", &last), -1);
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_int_eq (rootfs_path_parent (root, "/", &last), -1);
  ck_assert_int_eq (errno, EINVAL);
  ck_assert_int_eq (rootfs_path_parent (root, "/a/..", &last), -1);
  /* Nothing was made outside.  */
  DIR *d = opendir (outside);
  int entries = 0;
  while (readdir (d) != NULL)
    entries++;
  closedir (d);
  ck_assert_int_eq (entries, 2);
  close (root);
  free (path);
  cleanup_free char *rm = xasprintf ("rm -rf %s", dir);
  ck_assert_int_eq (system (rm), 0);
}
END_TEST

/* A request with nested attributes reads back as it was built; one that
   outgrows the buffer is never sent.  */
START_TEST (rtnl_messages)
{
  struct rtnl_msg m;
  struct tcmsg *t = rtnl_start (&m, RTM_NEWTFILTER, NLM_F_CREATE, sizeof *t);
  t->tcm_ifindex = 7;
  rtnl_put_str (&m, TCA_KIND, "u32");
  struct rtattr *options = rtnl_nest_begin (&m, TCA_OPTIONS);
  rtnl_put_u32 (&m, 1, 0xdeadbeefu);
  rtnl_put_str (&m, 2, "inner");
  rtnl_nest_end (&m, options);
  rtnl_put_u32 (&m, TCA_CHAIN, 3);
  ck_assert (!m.overflow);
  ck_assert_uint_eq (m.h->nlmsg_flags, NLM_F_CREATE | NLM_F_REQUEST);
  const struct rtattr *tb[TCA_MAX + 1];
  rtnl_attrs (m.h, sizeof *t, tb, TCA_MAX);
  ck_assert_str_eq (rtnl_str (tb[TCA_KIND]), "u32");
  ck_assert_ptr_nonnull (tb[TCA_CHAIN]);
  ck_assert_ptr_null (tb[TCA_RATE]);
  const struct rtattr *inner[3];
  rtnl_nested (tb[TCA_OPTIONS], inner, 2);
  uint32_t v;
  memcpy (&v, RTA_DATA (inner[1]), sizeof v);
  ck_assert_uint_eq (v, 0xdeadbeefu);
  ck_assert_str_eq (rtnl_str (inner[2]), "inner");
  /* Not NUL-terminated: no string.  */
  rtnl_start (&m, RTM_NEWLINK, 0, sizeof (struct ifinfomsg));
  rtnl_put (&m, IFLA_IFNAME, "eth0", 4);
  const struct rtattr *link[IFLA_MAX + 1];
  rtnl_attrs (m.h, sizeof (struct ifinfomsg), link, IFLA_MAX);
  ck_assert_ptr_null (rtnl_str (link[IFLA_IFNAME]));
  char big[RTNL_MSG_MAX];
  memset (big, 'x', sizeof big);
  rtnl_put (&m, IFLA_IFALIAS, big, sizeof big);
  ck_assert (m.overflow);
  ck_assert_int_eq (rtnl_talk (-1, &m), -1);
  ck_assert_int_eq (errno, EMSGSIZE);
}
END_TEST

/* A helper's answer is read with care: it crossed a process boundary.  */
START_TEST (pod_nic_answer_checked)
{
  static const char *const bad[] = {
    "[]",
    "{\"mac\":\"8a:1b:2c:3d:4e:5f\"}",
    "{\"ifname\":\"a-name-longer-than-ifnamsiz\",\"mac\":\"m\"}",
    "{\"ifname\":\"eth0\",\"mac\":\"m\",\"mtu\":70000}",
    "{\"ifname\":\"eth0\",\"mac\":\"m\",\"routes\":[{\"gateway\":1}]}",
  };
  static const char *const why[] = {
    "expected object, got array",   "ifname: required",
    "ifname: longer than 15 bytes", "mtu",
    "routes[0].dst: required",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      shim_error *err = NULL;
      json_value *v = json_parse (bad[i], strlen (bad[i]), &test_limits, &err);
      ck_assert_ptr_nonnull (v);
      struct pod_nic nic;
      ck_assert_int_eq (pod_nic_from_json (v, &nic, &err), -1);
      ck_assert_msg (strstr (err->msg, why[i]) != NULL, "%zu: %s", i,
                     err->msg);
      shim_error_free (err);
      json_free (v);
    }
}
END_TEST

START_TEST (pod_nic_refused)
{
  struct pod_nic nic;
  shim_error *err = NULL;
  /* Only lo, and the TAP: no interface of CNI's.  */
  struct pod_nic_scan scan;
  scan_cni_namespace (&scan);
  scan.links[1].ether = false;
  ck_assert_int_eq (pod_nic_pick (&scan, &nic, &err), -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert (strstr (err->msg, "no Ethernet interface") != NULL);
  shim_error_free (err);
  err = NULL;
  struct network_config c;
  static const char bad[]
      = "{\"mac\":\"8a:1b:2c\",\"mtu\":1500,\"addresses\":[\"10.0.0.300/24\","
        "\"10.0.0.2/33\"],\"routes\":[{\"dst\":\"nowhere\"},{\"dst\":"
        "\"default\",\"gateway\":\"10.0.0.0/8\"},{\"gateway\":\"10.0.0.1\"}]}";
  ck_assert_int_eq (network_config_parse (bad, sizeof bad - 1, &c, &err), -1);
  ck_assert_str_eq (
      err->msg,
      "network.mac: not a MAC address: 8a:1b:2c; network.addresses: not one "
      "of at most 8 IPv4 addresses with their prefix: 10.0.0.300/24; "
      "network.addresses: not one of at most 8 IPv4 addresses with their "
      "prefix: 10.0.0.2/33; network.routes[0]: dst is not an IPv4 network: "
      "nowhere; network.routes[1]: gateway is not an IPv4 address: "
      "10.0.0.0/8; network.routes[2].dst: required");
  shim_error_free (err);
}
END_TEST

Suite *
confinement_suite (void)
{
  Suite *s = suite_create ("confinement");
  TCase *t = tcase_create ("namespaces");
  tcase_add_test (t, namespaces_taken);
  tcase_add_test (t, namespaces_refused);
  tcase_add_test (t, pod_namespaces);
  suite_add_tcase (s, t);
  t = tcase_create ("seccomp");
  tcase_add_test (t, seccomp_read);
  tcase_add_test (t, seccomp_refused_by_name);
  tcase_add_test (t, seccomp_loaded);
  suite_add_tcase (s, t);
  t = tcase_create ("devices");
  tcase_add_test (t, devices_default_spec);
  tcase_add_test (t, devices_listed);
  tcase_add_test (t, devices_rule_semantics);
  tcase_add_test (t, devices_refused_by_name);
  suite_add_tcase (s, t);
  t = tcase_create ("network");
  tcase_add_test (t, pod_nic_round_trip);
  tcase_add_test (t, pod_nic_refused);
  tcase_add_test (t, pod_nic_answer_checked);
  tcase_add_test (t, rtnl_messages);
  tcase_add_test (t, rootfs_paths_stay_in_root);
  suite_add_tcase (s, t);
  t = tcase_create ("resources");
  tcase_add_test (t, resources_converted);
  tcase_add_test (t, resources_refused_by_name);
  suite_add_tcase (s, t);
  return s;
}
