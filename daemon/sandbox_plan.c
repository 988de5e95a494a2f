#include "sandbox_plan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/annotation_policy.h"
#include "policy/container_policy.h"
#include "policy/migration.h"
#include "policy/namespace_policy.h"
#include "policy/sysctl_policy.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/config/kernel_cmdline.h"
#include "uvm/podnet/pod_cgroup.h"
#include "uvm/storage/vhd_footer.h"
#include "uvm/vmm/vmm.h"

static bool
path_exists (const char *dir, const char *name)
{
  struct stat st;
  if (name == NULL)
    return stat (dir, &st) == 0 && S_ISDIR (st.st_mode);
  char *p = xasprintf ("%s/%s", dir, name);
  bool ok = stat (p, &st) == 0 && S_ISREG (st.st_mode);
  free (p);
  return ok;
}

/* How QEMU opens the rootfs VHD: a fixed one as raw bytes; a dynamic one
   with the vpc driver, which blocks migration.  */
static int
rootfs_vhd_plan (const char *path, bool migratable, uint64_t *raw_size,
                 shim_error **err)
{
  struct vhd_info vhd;
  if (vhd_probe (path, &vhd, err) < 0)
    return shim_error_wrap (err, "boot files");
  if (vhd.type == VHD_FIXED)
    *raw_size = vhd.data_size;
  else if (migratable)
    return shim_error_set (
        err, GRPC_FAILED_PRECONDITION,
        "live-migratable sandbox: boot file %s is a %s VHD, which QEMU "
        "opens with its vpc driver, and that blocks live migration; a fixed "
        "VHD (as make bootfiles builds) is opened as raw and migrates",
        path, vhd.type == VHD_DYNAMIC ? "dynamic" : "differencing");
  return 0;
}

/* Host directories are shared into a VM that stays on this host, when the
   VMM can share them.  */
static void
plan_host_share (const char *id, struct sandbox_plan *plan)
{
  const char *daemon = plan->cfg.virtiofsd_path;
  if (plan->migratable || plan->cfg.vmm != VMM_KIND_QEMU || *daemon == '\0')
    return;
  plan->host_share = access (daemon, X_OK) == 0;
  if (!plan->host_share)
    log_entry (LOG_LEVEL_WARN,
               "no host directory share: virtiofsd is not executable",
               (struct log_field[]){ { "sandbox", id },
                                     { "virtiofsd_path", daemon } },
               2);
}

/* Migratable or not, from the annotations exactly as sent; a migratable
   sandbox must then pass the annotation and container policies, every
   problem named in one error.  */
static int
decide_migratability (const char *id, const struct oci_spec *spec,
                      struct sandbox_plan *plan, shim_error **err)
{
  struct migration_decision md;
  if (migration_resolve (spec, &md, err) < 0)
    {
      log_entry (
          LOG_LEVEL_INFO, "sandbox refused",
          (struct log_field[]){ { "sandbox", id }, { "reason", (*err)->msg } },
          2);
      return -1;
    }
  if (md.warning)
    log_entry (LOG_LEVEL_WARN, md.warning,
               (struct log_field[]){ { "sandbox", id } }, 1);
  plan->migratable = md.migratable;
  migration_decision_release (&md);

  if (plan->migratable)
    {
      struct policy_problems problems = { STRBUF_INIT, 0 };
      annotation_policy_check (spec, &problems);
      container_policy_check (spec, &problems);
      if (policy_problems_to_error (&problems, "live-migratable sandbox", err)
          < 0)
        {
          log_entry (LOG_LEVEL_INFO, "sandbox refused",
                     (struct log_field[]){ { "sandbox", id },
                                           { "migratable", "true" },
                                           { "reason", (*err)->msg } },
                     3);
          return -1;
        }
    }
  log_entry (LOG_LEVEL_INFO,
             plan->migratable ? "sandbox is live-migratable"
                              : "sandbox is not live-migratable",
             (struct log_field[]){
                 { "sandbox", id },
                 { "migratable", plan->migratable ? "true" : "false" } },
             2);
  return 0;
}

/* The sandbox options: the annotations within the shim configuration, the
   host and the pod's memory limit; warnings are logged.  */
static int
plan_options (const char *id, const struct oci_spec *spec,
              struct sandbox_plan *plan, shim_error **err)
{
  strbuf warnings = STRBUF_INIT;
  struct sandbox_options_env env = {
    .host_cpus = (unsigned) sysconf (_SC_NPROCESSORS_ONLN),
    .host_memory_mb
    = (uint64_t) sysconf (_SC_PHYS_PAGES) * (uint64_t) sysconf (_SC_PAGESIZE)
      >> 20,
    .exists = path_exists,
    .pod_memory_limit_mb
    = plan->cgroup_dir
          ? pod_cgroup_memory_limit (POD_CGROUP_MOUNTINFO, plan->cgroup_dir)
                >> 20
          : 0,
  };
  int r = sandbox_options_parse (spec, &plan->cfg, plan->migratable, &env,
                                 &plan->opts, &warnings, err);
  if (warnings.len)
    log_entry (LOG_LEVEL_WARN, warnings.data,
               (struct log_field[]){ { "sandbox", id } }, 1);
  strbuf_release (&warnings);
  return r;
}

int
sandbox_plan_build (const char *id, const struct oci_spec *spec,
                    const char *config_path, struct sandbox_plan *plan,
                    shim_error **err)
{
  memset (plan, 0, sizeof *plan);

  struct policy_problems problems = { STRBUF_INIT, 0 };
  namespace_policy_check_pod (spec, &problems);
  strbuf bad = STRBUF_INIT;
  if (sysctl_policy_check (spec->sysctls, spec->nsysctls, &bad) < 0)
    policy_problem_add (&problems, "linux.sysctl: %s", bad.data);
  strbuf_release (&bad);
  if (policy_problems_to_error (&problems, "pod sandbox", err) < 0)
    return -1;
  if (decide_migratability (id, spec, plan, err) < 0)
    return -1;
  if (shim_config_load (config_path, &plan->cfg, err) < 0)
    return -1;

  if (spec->cgroups_path != NULL && *spec->cgroups_path
      && pod_cgroup_dir (spec->cgroups_path, &plan->cgroup_dir, err) < 0)
    {
      shim_config_release (&plan->cfg);
      return -1;
    }
  if (plan_options (id, spec, plan, err) < 0)
    {
      shim_config_release (&plan->cfg);
      free (plan->cgroup_dir);
      plan->cgroup_dir = NULL;
      return shim_error_wrap (err, "sandbox options");
    }

  if (plan->opts.rootfs == ROOTFS_VHD
      && vmm_backend_for (plan->cfg.vmm)->reads_vhd
      && rootfs_vhd_plan (plan->opts.rootfs_path, plan->migratable,
                          &plan->rootfs_raw_size, err)
             < 0)
    {
      sandbox_plan_release (plan);
      return -1;
    }

  const struct oci_namespace *net = oci_spec_namespace (spec, "network");
  if (net != NULL && net->path != NULL)
    plan->netns_path = xstrdup (net->path);
  plan_host_share (id, plan);

  struct kernel_cmdline_input in;
  sandbox_options_cmdline_input (&plan->opts, &in);
  if (kernel_cmdline_build (&in, &plan->kernel_cmdline, err) < 0)
    {
      sandbox_plan_release (plan);
      return -1;
    }
  return 0;
}

void
sandbox_plan_release (struct sandbox_plan *plan)
{
  shim_config_release (&plan->cfg);
  sandbox_options_release (&plan->opts);
  free (plan->kernel_cmdline);
  plan->kernel_cmdline = NULL;
  free (plan->cgroup_dir);
  plan->cgroup_dir = NULL;
  free (plan->netns_path);
  plan->netns_path = NULL;
}

int
sandbox_check_container (const char *sandbox_id, const char *container_id,
                         const struct oci_spec *spec, shim_error **err)
{
  struct policy_problems problems = { STRBUF_INIT, 0 };
  container_policy_check (spec, &problems);
  char *subject = xasprintf ("container %s in live-migratable sandbox %s",
                             container_id, sandbox_id);
  int r = policy_problems_to_error (&problems, subject, err);
  free (subject);
  if (r < 0)
    log_entry (LOG_LEVEL_INFO, "container refused",
               (struct log_field[]){ { "sandbox", sandbox_id },
                                     { "container", container_id },
                                     { "reason", (*err)->msg } },
               3);
  return r;
}
