/* See cgroup_resources.h.  */
#include "cgroup_resources.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest_io.h"

#define CPU_PERIOD_DEFAULT 100000

static void
add (struct cgroup_plan *p, const char *file, const char *value)
{
  struct cgroup_write *w = &p->writes[p->n++];
  snprintf (w->file, sizeof w->file, "%s", file);
  snprintf (w->value, sizeof w->value, "%s", value);
}

/* -1 (and for pids.max, 0 too) is "max".  */
static void
add_limit (struct cgroup_plan *p, const char *file, int64_t v, bool zero_max)
{
  char text[24];
  if (v < 0 || (zero_max && v == 0))
    snprintf (text, sizeof text, "max");
  else
    snprintf (text, sizeof text, "%lld", (long long) v);
  add (p, file, text);
}

/* A unified key the guest's enabled controllers own: "<controller>.<name>",
   lower case, not a cgroup.* core file.  */
static bool
unified_key_ok (const char *key)
{
  static const char *const controllers[] = { "cpu.", "memory.", "pids." };
  bool known = false;
  for (size_t i = 0; i < sizeof controllers / sizeof controllers[0]; i++)
    known |= strncmp (key, controllers[i], strlen (controllers[i])) == 0;
  if (!known || strlen (key) >= CGROUP_FILE_MAX)
    return false;
  for (const char *c = key; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.'
          || *c == '_'))
      return false;
  return true;
}

static void
plan_memory (const struct oci_resources *r, struct cgroup_plan *p, strbuf *bad)
{
  if (r->has_memory_limit)
    add_limit (p, "memory.max", r->memory_limit, false);
  if (r->has_memory_reservation)
    add_limit (p, "memory.low", r->memory_reservation, false);
  if (r->has_memory_swap && r->memory_swap != 0)
    {
      /* Unlimited swap, or an unlimited memory limit it would be added
         to.  */
      if (r->memory_swap == -1
          || (r->has_memory_limit && r->memory_limit == -1))
        add (p, "memory.swap.max", "max");
      else if (!r->has_memory_limit || r->memory_limit == 0)
        strbuf_list_printf (bad, "linux.resources.memory.swap: a swap limit "
                                 "needs a memory limit");
      else if (r->memory_swap < r->memory_limit)
        strbuf_list_printf (bad,
                            "linux.resources.memory.swap (%lld) is below "
                            "the memory limit (%lld): it counts memory plus "
                            "swap",
                            (long long) r->memory_swap,
                            (long long) r->memory_limit);
      else
        add_limit (p, "memory.swap.max", r->memory_swap - r->memory_limit,
                   false);
    }
  static const char v2[] = "cgroup v2 has no such setting";
  if (r->has_memory_kernel)
    strbuf_list_printf (bad, "linux.resources.memory.kernel: %s", v2);
  if (r->has_memory_kernel_tcp)
    strbuf_list_printf (bad, "linux.resources.memory.kernelTCP: %s", v2);
  if (r->has_memory_swappiness)
    strbuf_list_printf (bad, "linux.resources.memory.swappiness: %s", v2);
  if (r->disable_oom_killer)
    strbuf_list_printf (bad, "linux.resources.memory.disableOOMKiller: %s",
                        v2);
}

static void
plan_cpu (const struct oci_resources *r, struct cgroup_plan *p, strbuf *bad)
{
  char text[48];
  if (r->cpu_shares != 0)
    {
      uint64_t shares = r->cpu_shares < 2 ? 2 : r->cpu_shares;
      uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
      snprintf (text, sizeof text, "%llu", (unsigned long long) weight);
      add (p, "cpu.weight", text);
    }
  if (r->has_cpu_quota || r->cpu_period != 0)
    {
      char quota[24] = "max";
      if (r->has_cpu_quota && r->cpu_quota > 0)
        snprintf (quota, sizeof quota, "%lld", (long long) r->cpu_quota);
      snprintf (text, sizeof text, "%s %llu", quota,
                (unsigned long long) (r->cpu_period ? r->cpu_period
                                                    : CPU_PERIOD_DEFAULT));
      add (p, "cpu.max", text);
    }
  if (r->cpu_cpus != NULL && *r->cpu_cpus)
    strbuf_list_printf (bad,
                        "linux.resources.cpu.cpus (%s): host CPU numbers do "
                        "not name the UVM's vCPUs",
                        r->cpu_cpus);
  if (r->cpu_mems != NULL && *r->cpu_mems)
    strbuf_list_printf (bad,
                        "linux.resources.cpu.mems (%s): host memory nodes "
                        "are not the UVM's",
                        r->cpu_mems);
  if (r->has_cpu_realtime)
    strbuf_list_printf (bad, "linux.resources.cpu.realtimeRuntime and "
                             "realtimePeriod: cgroup v2 has no real-time "
                             "budget");
}

int
cgroup_plan_build (const struct oci_resources *r, struct cgroup_plan *out,
                   strbuf *bad)
{
  out->n = 0;
  size_t before = bad->len;
  plan_memory (r, out, bad);
  plan_cpu (r, out, bad);
  if (r->has_pids_limit)
    add_limit (out, "pids.max", r->pids_limit, true);
  if (r->has_block_io)
    strbuf_list_printf (bad, "linux.resources.blockIO: the guest has no io "
                             "controller");
  if (r->has_network)
    strbuf_list_printf (bad, "linux.resources.network: the guest has no "
                             "net_cls or net_prio controller");
  if (r->has_rdma)
    strbuf_list_printf (bad, "linux.resources.rdma: the UVM has no RDMA "
                             "device");
  if (r->nunified > CGROUP_WRITES_MAX - out->n)
    strbuf_list_printf (bad,
                        "linux.resources.unified: %zu keys, more than "
                        "the %zu the guest takes",
                        r->nunified, (size_t) (CGROUP_WRITES_MAX - out->n));
  else
    for (size_t i = 0; i < r->nunified; i++)
      {
        const struct oci_key_value *kv = &r->unified[i];
        if (!unified_key_ok (kv->key))
          strbuf_list_printf (bad,
                              "linux.resources.unified[\"%s\"]: not a file of "
                              "the guest's cpu, memory or pids controller",
                              kv->key);
        else if (strlen (kv->value) >= CGROUP_VALUE_MAX
                 || strchr (kv->value, '\n') != NULL)
          strbuf_list_printf (bad,
                              "linux.resources.unified[\"%s\"]: the value is "
                              "not one line of at most %zu bytes",
                              kv->key, (size_t) CGROUP_VALUE_MAX - 1);
        else
          add (out, kv->key, kv->value);
      }
  return bad->len > before ? -1 : 0;
}

int
cgroup_plan_apply (const char *cgroup, const struct cgroup_plan *plan,
                   const char **failed)
{
  for (size_t i = 0; i < plan->n; i++)
    {
      char path[512];
      snprintf (path, sizeof path, "%s/%s", cgroup, plan->writes[i].file);
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      int r = fd < 0 ? -1
                     : write_all (fd, plan->writes[i].value,
                                  strlen (plan->writes[i].value));
      if (fd >= 0)
        close (fd);
      if (r < 0)
        {
          *failed = plan->writes[i].file;
          return -1;
        }
    }
  return 0;
}
