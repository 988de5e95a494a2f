/* libFuzzer: the OCI spec reader, then the migratability decision, the
   annotation policy, the container and namespace checks, and the guest's
   devices program, seccomp filter and cgroup writes builders on whatever
   it accepted; the same bytes as an Update's resources too; the spec's
   mounts as a Create's rootfs mounts (which layers).  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>
#include <stdlib.h>

#include "policy/annotation_policy.h"
#include "policy/container_policy.h"
#include "policy/migration.h"
#include "policy/problems.h"
#include "policy/namespace_policy.h"
#include "proto/oci_spec.h"
#include "uvm/guest/cgroup_resources.h"
#include "uvm/guest/device_filter.h"
#include "uvm/guest/seccomp_profile.h"
#include "uvm/storage/rootfs_layers.h"

static void
build_guest_filters (const struct oci_spec *spec)
{
  static struct bpf_insn prog[DEVICE_FILTER_MAX_INSNS];
  struct device_rule *rules;
  size_t n;
  strbuf bad = STRBUF_INIT;
  if (device_rules_from_spec (spec, &rules, &n, &bad) == 0)
    {
      device_filter_build (rules, n, prog);
      free (rules);
    }
  strbuf_reset (&bad);
  if (spec->seccomp != NULL)
    seccomp_profile_check (spec->seccomp, &bad);
  strbuf_reset (&bad);
  static struct cgroup_plan plan;
  cgroup_plan_build (&spec->resources, &plan, &bad);
  strbuf_release (&bad);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  /* The same bytes as an Update's resources.  */
  if (oci_resources_parse ((const char *) data, size, &spec, &err) < 0)
    shim_error_free (err);
  else
    {
      build_guest_filters (spec);
      oci_spec_free (spec);
    }
  spec = NULL;
  err = NULL;
  if (oci_spec_parse ((const char *) data, size, &spec, &err) < 0)
    {
      shim_error_free (err);
      return 0;
    }
  struct migration_decision md = { 0 };
  if (migration_resolve (spec, &md, &err) < 0)
    shim_error_free (err);
  migration_decision_release (&md);
  struct policy_problems problems = { 0 };
  annotation_policy_check (spec, &problems);
  container_policy_check (spec, &problems);
  namespace_policy_check (spec, "/proc/1/ns/pid", &problems);
  err = NULL;
  if (policy_problems_to_error (&problems, "fuzz", &err) < 0)
    shim_error_free (err);
  build_guest_filters (spec);
  /* The spec's mounts as a Create's rootfs: each alone, then all.  */
  struct rootfs_mount *rootfs = calloc (spec->nmounts + 1, sizeof *rootfs);
  for (size_t i = 0; i < spec->nmounts; i++)
    {
      const struct oci_mount *m = &spec->mounts[i];
      rootfs[i] = (struct rootfs_mount){ m->type ? m->type : "",
                                         m->source ? m->source : "",
                                         m->options, m->noptions };
    }
  struct rootfs_plan plan;
  for (size_t i = 0; i <= spec->nmounts; i++)
    {
      err = NULL;
      if (rootfs_layers_plan (i < spec->nmounts ? &rootfs[i] : rootfs,
                              i < spec->nmounts ? 1 : spec->nmounts,
                              "/bundle/rootfs", &plan, &err)
          < 0)
        shim_error_free (err);
      else
        rootfs_plan_release (&plan);
    }
  free (rootfs);
  oci_spec_free (spec);
  return 0;
}
