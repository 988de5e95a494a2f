/* A container's cgroup: devices program, resources at create and Update,
   stats and pids; the pod-wide network and the guest clock.  */
#include "container_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "capabilities.h"
#include "cgroup_resources.h"
#include "device_filter.h"
#include "network.h"
#include "pid_namespace.h"
#include "pod_namespaces.h"
#include "rootfs_path.h"
#include "seccomp_profile.h"
#include "sysctl.h"
#include "guest_io.h"
#include "proto/base/cleanup.h"
#include "proto/base/fd_pass.h"
#include "proto/base/file_io.h"
#include "proto/mount_options.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* The devices cgroup of the spec's rules, before anything runs in it (or
   replacing the program at Update).  */
int
restrict_devices (const struct oci_spec *spec, const char *cgroup,
                  shim_error **err)
{
  struct device_rule *rules = NULL;
  size_t nrules = 0;
  cleanup_strbuf strbuf bad = STRBUF_INIT;
  if (device_rules_from_spec (spec, &rules, &nrules, &bad) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "devices: %s",
                           bad.data);
  struct bpf_insn *prog = xmalloc (DEVICE_FILTER_MAX_INSNS * sizeof *prog);
  size_t n = device_filter_build (rules, nrules, prog);
  int r = device_filter_attach (cgroup, prog, n);
  free (prog);
  free (rules);
  if (r < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "attach the devices filter to %s", cgroup);
  return 0;
}

/* linux.resources written into the container's cgroup.  */
int
apply_resources (const struct container *c, const struct oci_resources *r,
                 shim_error **err)
{
  struct cgroup_plan plan;
  cleanup_strbuf strbuf bad = STRBUF_INIT;
  const char *failed;
  if (cgroup_plan_build (r, &plan, &bad) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s", bad.data);
  if (cgroup_plan_apply (c->cgroup, &plan, &failed) < 0)
    return shim_error_errno (err, GRPC_INVALID_ARGUMENT, errno, "cgroup %s/%s",
                             c->cgroup, failed);
  return 0;
}

int
guest_set_time (uint64_t unix_ns, shim_error **err)
{
  struct timespec ts
      = { (time_t) (unix_ns / 1000000000u), (long) (unix_ns % 1000000000u) };
  if (clock_settime (CLOCK_REALTIME, &ts) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "settime");
  agent_log (L_INFO, "wall clock set by the host");
  return 0;
}

int
containers_network (const char *config, size_t len, shim_error **err)
{
  struct network_config net;
  if (network_config_parse (config, len, &net, err) < 0
      || network_config_apply (&net, err) < 0)
    return -1;
  agent_log (L_INFO, "the pod's network is configured");
  return 0;
}

int
container_update (struct container *c, const char *resources, size_t len,
                  shim_error **err)
{
  struct oci_spec *update = NULL;
  if (oci_resources_parse (resources, len, &update, err) < 0)
    return -1;
  int r = 0;
  if (update->ndevice_rules > 0)
    {
      /* The update's rules with the nodes the container was made with.  */
      struct oci_spec merged = *c->spec;
      merged.device_rules = update->device_rules;
      merged.ndevice_rules = update->ndevice_rules;
      r = restrict_devices (&merged, c->cgroup, err);
    }
  if (r == 0)
    r = apply_resources (c, &update->resources, err);
  oci_spec_free (update);
  return r < 0 ? shim_error_wrap (err, "update container %s", c->id) : 0;
}

unsigned long long
read_number_field (const char *path, const char *key)
{
  FILE *f = fopen (path, "re");
  unsigned long long v = 0;
  if (f == NULL)
    return 0;
  char line[256];
  size_t klen = key ? strlen (key) : 0;
  while (fgets (line, sizeof line, f))
    if (key == NULL || (strncmp (line, key, klen) == 0 && line[klen] == ' '))
      {
        v = strtoull (line + (key ? klen + 1 : 0), NULL, 10);
        break;
      }
  fclose (f);
  return v;
}

/* The pids in the container's cgroup; returns how many.  */
size_t
container_pids (const struct container *c, long **out)
{
  cleanup_free char *procs = xasprintf ("%s/cgroup.procs", c->cgroup);
  size_t n = 0, cap = 16;
  *out = xmalloc (cap * sizeof **out);
  FILE *f = fopen (procs, "re");
  long pid;
  /* NOLINTNEXTLINE(cert-err34-c): the kernel's own format */
  while (f != NULL && fscanf (f, "%ld", &pid) == 1)
    {
      if (n == cap)
        *out = xrealloc (*out, (cap *= 2) * sizeof **out);
      (*out)[n++] = pid;
    }
  if (f != NULL)
    fclose (f);
  return n;
}

void
container_stats (const struct container *c, strbuf *out)
{
  cleanup_free char *cpu = xasprintf ("%s/cpu.stat", c->cgroup);
  cleanup_free char *mem = xasprintf ("%s/memory.current", c->cgroup);
  cleanup_free char *max = xasprintf ("%s/memory.max", c->cgroup);
  strbuf_printf (out,
                 "{\"type\":\"stats\",\"cpu_ns\":%llu,\"memory_bytes\":%llu,"
                 "\"memory_limit\":%llu,\"pids\":[",
                 read_number_field (cpu, "usage_usec") * 1000ull,
                 read_number_field (mem, NULL), read_number_field (max, NULL));
  cleanup_free long *pids = NULL;
  size_t n = container_pids (c, &pids);
  for (size_t i = 0; i < n; i++)
    strbuf_printf (out, "%s%ld", i ? "," : "", pids[i]);
  strbuf_puts (out, "]}");
}
