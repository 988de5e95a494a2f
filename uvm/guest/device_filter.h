/* The devices cgroup of a container on the guest's cgroup v2: a BPF
   program the kernel runs on each open and mknod of a device node by a
   process in the cgroup.  The rules in force are the spec's
   linux.resources.devices, then those of the nodes every container has (as
   runc allows them: mknod of any node, null, zero, full, random, urandom,
   tty, ptmx, the pty slaves and
   /dev/net/tun), then one per linux.devices entry; the last
   rule that matches decides, and no match denies.  A deny rule matches an
   access that asks for any of its rights, an allow rule one that asks for
   no other right.  */
#ifndef LCOW_UVM_GUEST_DEVICE_FILTER_H
#define LCOW_UVM_GUEST_DEVICE_FILTER_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

/* More rules than this are refused (the program stays small).  */
#define DEVICE_RULES_MAX 512
/* Instructions a program of DEVICE_RULES_MAX rules may need.  */
#define DEVICE_FILTER_MAX_INSNS (8 + 8 * DEVICE_RULES_MAX)

/* Rights, as the kernel encodes them (BPF_DEVCG_ACC_*).  */
enum device_access
{
  DEVICE_MKNOD = BPF_DEVCG_ACC_MKNOD,
  DEVICE_READ = BPF_DEVCG_ACC_READ,
  DEVICE_WRITE = BPF_DEVCG_ACC_WRITE,
};

struct device_rule
{
  bool allow;
  /* 'a' (any), 'b' or 'c'.  */
  char type;
  /* -1: any.  */
  int64_t major;
  int64_t minor;
  /* enum device_access bits.  */
  unsigned access;
};

/* Pure: the rules in force for the spec (see above) in *out (the caller
   frees it); 0, or -1 with every refused rule or device named in *bad.  */
int device_rules_from_spec (const struct oci_spec *s, struct device_rule **out,
                            size_t *n, strbuf *bad);
/* Pure: the program for those rules in out (DEVICE_FILTER_MAX_INSNS room);
   returns the instruction count.  */
size_t device_filter_build (const struct device_rule *rules, size_t n,
                            struct bpf_insn *out);
/* Loads the program and attaches it to the cgroup directory; 0, or -1
   with errno.  */
int device_filter_attach (const char *cgroup, const struct bpf_insn *insns,
                          size_t n);

#endif
