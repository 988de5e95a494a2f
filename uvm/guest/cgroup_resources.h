/* linux.resources on a container's cgroup v2 files, at create and at
   Update, converted as runc converts them for cgroup v2: memory.limit to
   memory.max, reservation to memory.low, swap (memory plus swap) to
   memory.swap.max minus the limit, cpu.shares to cpu.weight, quota and
   period to cpu.max, pids.limit to pids.max (-1 or 0: "max"), unified keys
   of the enabled controllers (cpu, memory, pids) written as given.  What
   the UVM cannot do is refused, naming each member: host CPU and memory
   node numbers (cpu.cpus, cpu.mems) do not name the UVM's, and cgroup v2 has
   no kernel memory, swappiness, OOM-killer switch, real-time budget, or (in
   the guest) io, net or rdma controller.  hugepageLimits hold trivially:
   the UVM has no huge pages (the kubelet lists every size with a zero
   limit).  */
#ifndef LCOW_UVM_GUEST_CGROUP_RESOURCES_H
#define LCOW_UVM_GUEST_CGROUP_RESOURCES_H

#include <stddef.h>

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

#define CGROUP_WRITES_MAX 40
#define CGROUP_FILE_MAX 48
#define CGROUP_VALUE_MAX 96

struct cgroup_write
{
  char file[CGROUP_FILE_MAX];
  char value[CGROUP_VALUE_MAX];
};

struct cgroup_plan
{
  struct cgroup_write writes[CGROUP_WRITES_MAX];
  size_t n;
};

/* Pure: the writes for r; 0, or -1 with every refused member in *bad.  */
int cgroup_plan_build (const struct oci_resources *r, struct cgroup_plan *out,
                       strbuf *bad);
/* Writes each value into <cgroup>/<file>, in order; 0, or -1 with errno and
   the file at fault in *failed.  */
int cgroup_plan_apply (const char *cgroup, const struct cgroup_plan *plan,
                       const char **failed);

#endif
