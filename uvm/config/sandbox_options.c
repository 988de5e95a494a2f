#include "sandbox_options.h"

#include <stdlib.h>
#include <string.h>

#include "proto/base/go_parse.h"
#include "proto/base/xalloc.h"

struct parse_ctx
{
  const struct oci_spec *spec;
  strbuf *warnings;
};

static void
warn (struct parse_ctx *c, const char *key, const char *value,
      const char *what)
{
  strbuf_printf (c->warnings, "%sannotation %s=\"%s\" is not %s, default used",
                 c->warnings->len ? "; " : "", key, value, what);
}

static bool
ann_bool (struct parse_ctx *c, const char *key, bool def)
{
  const char *v = oci_spec_annotation (c->spec, key);
  bool b;
  if (v == NULL)
    return def;
  if (go_parse_bool (v, &b) < 0)
    {
      warn (c, key, v, "a boolean");
      return def;
    }
  return b;
}

static int64_t
ann_int (struct parse_ctx *c, const char *key, int bits, int64_t def)
{
  const char *v = oci_spec_annotation (c->spec, key);
  int64_t n;
  if (v == NULL)
    return def;
  if (go_parse_int (v, bits, &n) < 0)
    {
      warn (c, key, v, "an integer");
      return def;
    }
  return n;
}

static uint64_t
ann_uint (struct parse_ctx *c, const char *key, int bits, uint64_t def)
{
  const char *v = oci_spec_annotation (c->spec, key);
  uint64_t n;
  if (v == NULL)
    return def;
  if (go_parse_uint (v, bits, &n) < 0)
    {
      warn (c, key, v, "an unsigned integer");
      return def;
    }
  return n;
}

static char *
ann_string (struct parse_ctx *c, const char *key)
{
  const char *v = oci_spec_annotation (c->spec, key);
  return v ? xstrdup (v) : NULL;
}

/* The same path, but for trailing slashes.  */
static bool
same_dir (const char *a, const char *b)
{
  size_t na = strlen (a), nb = strlen (b);
  while (na > 1 && a[na - 1] == '/')
    na--;
  while (nb > 1 && b[nb - 1] == '/')
    nb--;
  return na == nb && strncmp (a, b, na) == 0;
}

static int
boot_files_path (struct parse_ctx *c, const struct shim_config *cfg,
                 char **out, shim_error **err)
{
  const char *pr = oci_spec_annotation (c->spec, ANN_BOOT_FILES_ROOT_PATH);
  const char *main
      = oci_spec_annotation (c->spec, ANN_BOOT_FILES_ROOT_PATH_MAIN);
  if (pr && main && strcmp (pr, main) != 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "conflicting boot files annotations: %s=\"%s\" and "
                           "%s=\"%s\"",
                           ANN_BOOT_FILES_ROOT_PATH, pr,
                           ANN_BOOT_FILES_ROOT_PATH_MAIN, main);
  const char *p = pr ? pr : main;
  if (p == NULL)
    {
      *out
          = xstrdup (cfg->boot_files_root_path ? cfg->boot_files_root_path
                                               : DEFAULT_BOOT_FILES_ROOT_PATH);
      return 0;
    }
  /* A pod author chooses among the directories the administrator allows;
     QEMU is never pointed at any other host directory.  */
  bool allowed
      = cfg->boot_files_root_path && same_dir (p, cfg->boot_files_root_path);
  for (size_t i = 0; !allowed && i < cfg->nboot_files_allowed; i++)
    allowed = same_dir (p, cfg->boot_files_allowed[i]);
  if (!allowed)
    return shim_error_set (
        err, GRPC_INVALID_ARGUMENT,
        "annotation %s: \"%s\" is not a boot files "
        "directory the shim configuration allows "
        "(boot_files_root_path, boot_files_allowed)",
        pr ? ANN_BOOT_FILES_ROOT_PATH : ANN_BOOT_FILES_ROOT_PATH_MAIN, p);
  *out = xstrdup (p);
  return 0;
}

static char *
join (const char *dir, const char *name)
{
  return xasprintf ("%s/%s", dir, name);
}

static int
refuse_unsupported (const struct oci_spec *spec, shim_error **err)
{
  static const char *const unsupported[]
      = { ANN_NCPROXY, ANN_VPMEM_NO_MULTI_MAPPING, ANN_KERNEL_DRIVERS };
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    {
      const char *v = oci_spec_annotation (spec, unsupported[i]);
      if (v != NULL && *v != '\0')
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "%s annotation is not supported",
                               unsupported[i]);
    }
  return 0;
}

/* Processors: default 2 (1 on a one-CPU host), clamped to the host.  */
static int
choose_processors (struct parse_ctx *c, const struct shim_config *cfg,
                   const struct sandbox_options_env *env,
                   struct sandbox_options *o, shim_error **err)
{
  int64_t def_cpus = cfg->processor_count  ? cfg->processor_count
                     : env->host_cpus == 1 ? 1
                                           : 2;
  int64_t cpus = ann_int (c, ANN_PROCESSOR_COUNT, 32, def_cpus);
  if (cpus < 1)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "annotation %s: processor count must be at least "
                           "1, got %lld",
                           ANN_PROCESSOR_COUNT, (long long) cpus);
  if (env->host_cpus > 0 && cpus > (int64_t) env->host_cpus)
    cpus = env->host_cpus;
  o->processor_count = (uint32_t) cpus;
  return 0;
}

/* Memory: the annotation or the configuration's default, no more than the
   host has, and (unless the annotation asks) within the pod's limit.  */
static int
choose_memory (struct parse_ctx *c, const struct shim_config *cfg,
               const struct sandbox_options_env *env,
               struct sandbox_options *o, shim_error **err)
{
  uint64_t mem = ann_uint (c, ANN_MEMORY_SIZE_MB, 64,
                           cfg->memory_mb ? cfg->memory_mb : 1024);
  if (mem == 0 || mem > (1ull << 40))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "annotation %s: memory size %llu MB is out of "
                           "range",
                           ANN_MEMORY_SIZE_MB, (unsigned long long) mem);
  if (env->host_memory_mb > 0 && mem > env->host_memory_mb)
    {
      strbuf_printf (c->warnings,
                     "%sannotation %s: %llu MB is more than the host's %llu "
                     "MB; the UVM gets %llu MB",
                     c->warnings->len ? "; " : "", ANN_MEMORY_SIZE_MB,
                     (unsigned long long) mem,
                     (unsigned long long) env->host_memory_mb,
                     (unsigned long long) env->host_memory_mb);
      mem = env->host_memory_mb;
    }
  /* The VMM is in the pod's cgroup: a UVM bigger than the pod's limit
     would get QEMU killed by the pod's OOM, not the guest's.  */
  if (oci_spec_annotation (c->spec, ANN_MEMORY_SIZE_MB) == NULL
      && env->pod_memory_limit_mb > 0
      && mem + VMM_MEMORY_OVERHEAD_MB > env->pod_memory_limit_mb)
    {
      uint64_t fit = env->pod_memory_limit_mb
                             > VMM_MEMORY_OVERHEAD_MB + UVM_MEMORY_MIN_MB
                         ? env->pod_memory_limit_mb - VMM_MEMORY_OVERHEAD_MB
                         : UVM_MEMORY_MIN_MB;
      strbuf_printf (c->warnings,
                     "%sthe pod's memory limit is %llu MB: the UVM gets %llu "
                     "MB (%d MB are left for the VMM)",
                     c->warnings->len ? "; " : "",
                     (unsigned long long) env->pod_memory_limit_mb,
                     (unsigned long long) (fit - (fit & 1)),
                     VMM_MEMORY_OVERHEAD_MB);
      mem = fit - (fit & 1);
    }
  o->memory_mb = mem + (mem & 1);
  return 0;
}

/* Rootfs: the initrd unless rootfs.vhd exists; the annotation decides.  */
static int
choose_rootfs (struct parse_ctx *c, const struct sandbox_options_env *env,
               struct sandbox_options *o, shim_error **err)
{
  o->rootfs = env->exists (o->boot_files_root_path, VHD_FILE) ? ROOTFS_VHD
                                                              : ROOTFS_INITRD;
  const char *pref = oci_spec_annotation (c->spec, ANN_PREFERRED_ROOTFS_TYPE);
  if (pref != NULL && strcmp (pref, "initrd") == 0)
    o->rootfs = ROOTFS_INITRD;
  else if (pref != NULL && strcmp (pref, "vhd") == 0)
    o->rootfs = ROOTFS_VHD;
  else if (pref != NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "invalid PreferredRootFSType: %s", pref);
  const char *rootfs_name = o->rootfs == ROOTFS_VHD ? VHD_FILE : INITRD_FILE;
  if (!env->exists (o->boot_files_root_path, rootfs_name))
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "\"%s\" not found in boot files path %s",
                           rootfs_name, o->boot_files_root_path);
  o->rootfs_path = join (o->boot_files_root_path, rootfs_name);
  if (o->writable_overlay && o->rootfs == ROOTFS_INITRD)
    strbuf_printf (c->warnings,
                   "%swritable overlay is ignored for the initrd "
                   "rootfs",
                   c->warnings->len ? "; " : "");
  return 0;
}

/* Kernel-direct prefers the uncompressed kernel; UEFI needs "kernel".  */
static int
choose_kernel (const struct sandbox_options_env *env,
               struct sandbox_options *o, shim_error **err)
{
  if (o->kernel_direct
      && env->exists (o->boot_files_root_path, UNCOMPRESSED_KERNEL_FILE))
    o->kernel_path = join (o->boot_files_root_path, UNCOMPRESSED_KERNEL_FILE);
  else if (env->exists (o->boot_files_root_path, KERNEL_FILE))
    o->kernel_path = join (o->boot_files_root_path, KERNEL_FILE);
  else
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           o->kernel_direct
                               ? "kernel file not found in boot files path "
                                 "for kernel direct boot: %s"
                               : "kernel file \"kernel\" not found in boot "
                                 "files path: %s",
                           o->boot_files_root_path);
  return 0;
}

int
sandbox_options_parse (const struct oci_spec *spec,
                       const struct shim_config *cfg, bool live_migration,
                       const struct sandbox_options_env *env,
                       struct sandbox_options *o, strbuf *warnings,
                       shim_error **err)
{
  struct parse_ctx c = { spec, warnings };
  memset (o, 0, sizeof *o);
  o->live_migration = live_migration;
  o->log_relay = live_migration && cfg->migratable_log_relay;
  if (refuse_unsupported (spec, err) < 0)
    return -1;
  if (boot_files_path (&c, cfg, &o->boot_files_root_path, err) < 0)
    goto fail;
  if (!env->exists (o->boot_files_root_path, NULL))
    {
      shim_error_set (err, GRPC_FAILED_PRECONDITION,
                      "boot_files_root_path \"%s\" does not exist",
                      o->boot_files_root_path);
      goto fail;
    }
  if (choose_processors (&c, cfg, env, o, err) < 0
      || choose_memory (&c, cfg, env, o, err) < 0)
    goto fail;
  if (ann_uint (&c, ANN_VPMEM_COUNT, 32, 0) > 0)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT,
                      "v2 shims do not support vPMem devices");
      goto fail;
    }
  o->kernel_direct = ann_bool (&c, ANN_KERNEL_DIRECT_BOOT, true);
  o->vpci_enabled = ann_bool (&c, ANN_VPCI_ENABLED, false);
  o->writable_overlay = ann_bool (&c, ANN_WRITABLE_OVERLAY, false);
  o->disable_time_sync = ann_bool (&c, ANN_TIMESYNC_DISABLE, false);
  o->dm_verity = ann_bool (&c, ANN_DMVERITY_MODE, false);
  o->dm_verity_create_args = ann_string (&c, ANN_DMVERITY_CREATE_ARGS);
  o->kernel_boot_options = ann_string (&c, ANN_KERNEL_BOOT_OPTIONS);
  o->console_pipe = ann_string (&c, ANN_CONSOLE_PIPE);
  o->core_dump_location = ann_string (&c, ANN_PROCESS_DUMP_LOCATION);
  o->log_level = xstrdup (cfg->log_level ? cfg->log_level : "info");
  o->scrub_logs = cfg->scrub_logs;
  if (choose_rootfs (&c, env, o, err) < 0 || choose_kernel (env, o, err) < 0)
    goto fail;
  return 0;

fail:
  sandbox_options_release (o);
  return -1;
}

void
sandbox_options_cmdline_input (const struct sandbox_options *o,
                               struct kernel_cmdline_input *in)
{
  memset (in, 0, sizeof *in);
  in->rootfs_name = o->rootfs == ROOTFS_VHD ? VHD_FILE : INITRD_FILE;
  in->kernel_direct = o->kernel_direct;
  in->dm_verity = o->dm_verity;
  in->dm_verity_create_args = o->dm_verity_create_args;
  in->console = o->console_pipe != NULL && *o->console_pipe != '\0';
  in->kernel_boot_options = o->kernel_boot_options;
  in->vpci_enabled = o->vpci_enabled;
  in->processor_count = o->processor_count;
  in->writable_overlay = o->writable_overlay;
  in->log_level = o->log_level;
  in->scrub_logs = o->scrub_logs;
  in->disable_time_sync = o->disable_time_sync;
  in->core_dump_location = o->core_dump_location;
  in->live_migration = o->live_migration;
  in->log_relay = o->log_relay;
}

void
sandbox_options_release (struct sandbox_options *o)
{
  free (o->boot_files_root_path);
  free (o->kernel_path);
  free (o->rootfs_path);
  free (o->log_level);
  free (o->kernel_boot_options);
  free (o->console_pipe);
  free (o->dm_verity_create_args);
  free (o->core_dump_location);
  memset (o, 0, sizeof *o);
}
