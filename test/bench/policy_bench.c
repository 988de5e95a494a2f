/* make bench: the migratability policy's cost for a sandbox with 100
   annotations and a container with 100 mounts, spec parsing excluded.
   Prints one JSON object.  */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/annotation_policy.h"
#include "policy/container_policy.h"
#include "policy/problems.h"
#include "proto/oci_spec.h"
#include "proto/base/strbuf.h"

#define ITERATIONS 20000

static double
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static struct oci_spec *
parse (strbuf *json)
{
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  if (oci_spec_parse (json->data, json->len, &spec, &err) < 0)
    {
      fprintf (stderr, "policy_bench: %s\n", err->msg);
      return NULL;
    }
  return spec;
}

/* Mean microseconds per evaluation of check over spec.  */
static double
time_check (const struct oci_spec *spec,
            void (*check) (const struct oci_spec *, struct policy_problems *),
            size_t *problems)
{
  double t0 = now_us ();
  for (int i = 0; i < ITERATIONS; i++)
    {
      struct policy_problems p = { 0 };
      check (spec, &p);
      *problems = p.count;
      policy_problems_release (&p);
    }
  return (now_us () - t0) / ITERATIONS;
}

int
main (void)
{
  /* 100 annotations: every allow-listed key, the locked keys, denied and
     HvSocket keys, and keys outside the namespace.  */
  strbuf a = STRBUF_INIT;
  strbuf_puts (
      &a, "{\"annotations\":{\"io.microsoft.migration.allowed\":\"true\"");
  int n = 1;
  for (size_t i = 0; i < annotation_policy_allowed_count && n < 100; i++, n++)
    strbuf_printf (&a, ",\"%s\":\"1\"", annotation_policy_allowed_keys[i]);
  strbuf_puts (
      &a, ",\"io.microsoft.virtualmachine.lcow.preferredrootfstype\":\"vhd\"");
  n++;
  for (int i = 0; n < 100; i++, n++)
    strbuf_printf (&a,
                   i % 3 == 0 ? ",\"io.microsoft.virtualmachine.hv-socket."
                                "service-table.%08x-facb-11e6\":\"{}\""
                   : i % 3 == 1
                       ? ",\"io.microsoft.virtualmachine.knob%d\":\"x\""
                       : ",\"org.example.label%d\":\"y\"",
                   i);
  strbuf_puts (&a, "}}");

  /* 100 mounts: virtual filesystems, pod files, guest-internal sources,
     host binds and disks.  */
  strbuf m = STRBUF_INIT;
  strbuf_puts (&m,
               "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod\"},"
               "\"mounts\":[");
  for (int i = 0; i < 100; i++)
    {
      static const char *const shapes[] = {
        "{\"destination\":\"/t%d\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}",
        "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/var/"
        "lib/"
        "containerd/io.containerd.grpc.v1.cri/sandboxes/pod/hosts\","
        "\"options\":[\"rbind\",\"ro\"],\"x\":%d}",
        "{\"destination\":\"/s%d\",\"source\":\"sandbox://data\","
        "\"options\":[\"bind\"]}",
        "{\"destination\":\"/h%d\",\"type\":\"bind\",\"source\":\"/srv/data\","
        "\"options\":[\"rbind\"]}",
        "{\"destination\":\"/d%d\",\"type\":\"virtual-disk\","
        "\"source\":\"/disks/a.vhdx\"}",
      };
      strbuf_puts (&m, i ? "," : "");
      strbuf_printf (&m, shapes[i % 5], i);
    }
  strbuf_puts (&m, "]}");

  struct oci_spec *as = parse (&a), *ms = parse (&m);
  if (as == NULL || ms == NULL)
    return 1;
  size_t ap = 0, mp = 0;
  double a_us = time_check (as, annotation_policy_check, &ap);
  double m_us = time_check (ms, container_policy_check, &mp);
  printf ("{\"annotations\": %zu, \"annotation_problems\": %zu, "
          "\"annotation_policy_us\": %.2f, \"mounts\": %zu, "
          "\"mount_problems\": %zu, \"container_policy_us\": %.2f}\n",
          as->nannotations, ap, a_us, ms->nmounts, mp, m_us);
  oci_spec_free (as);
  oci_spec_free (ms);
  strbuf_release (&a);
  strbuf_release (&m);
  return 0;
}
