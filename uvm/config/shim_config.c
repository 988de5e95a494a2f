#include "shim_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/base/go_parse.h"
#include "policy/pod_file_binds.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/json.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"

static const char *const mode_names[] = {
  [ACCEL_AUTO] = "auto",
  [ACCEL_KVM] = "kvm",
  [ACCEL_TCG] = "tcg",
};

const char *
accel_mode_name (enum accel_mode mode)
{
  return mode_names[mode];
}

int
accel_mode_parse (const char *s, enum accel_mode *out)
{
  for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
    if (strcmp (s, mode_names[i]) == 0)
      {
        *out = (enum accel_mode) i;
        return 0;
      }
  return -1;
}

static void
free_strings (char ***items, size_t *n)
{
  for (size_t i = 0; i < *n; i++)
    free ((*items)[i]);
  free (*items);
  *items = NULL;
  *n = 0;
}

static void
set_strings (char ***items, size_t *n, const char *const *from, size_t count)
{
  free_strings (items, n); /* a repeated key: the last one wins */
  *items = xzalloc ((count + 1) * sizeof (char *));
  for (size_t i = 0; i < count; i++)
    (*items)[i] = xstrdup (from[i]);
  *n = count;
}

void
shim_config_defaults (struct shim_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->vmm = VMM_KIND_QEMU;
  cfg->vmm_path = xstrdup (DEFAULT_QEMU_PATH);
  cfg->virtiofsd_path = xstrdup (DEFAULT_VIRTIOFSD_PATH);
  cfg->boot_files_root_path = xstrdup (DEFAULT_BOOT_FILES_ROOT_PATH);
  cfg->scrub_logs = -1;
  cfg->gcs_connection_timeout_ms = 120000;
  cfg->stop_grace_ms = 5000;
  cfg->tcg_boot_stall_ms = 5000;
  cfg->tcg_tb_size_mb = 32;
  cfg->accel = ACCEL_AUTO;
  cfg->kvm_progress_timeout_ms = 10000;
  cfg->layer_cache_dir = xstrdup (DEFAULT_LAYER_CACHE_DIR);
  cfg->layer_cache_max_mb = 10240;
  cfg->container_scratch_mb = 1024;
  /* QEMU's own bandwidth default (128 MiB/s) throttles a local link.  */
  cfg->migration_max_bandwidth_mb = 1024;
  cfg->migration_downtime_limit_ms = 300;
  cfg->migration_timeout_ms = 60000;
  cfg->migration_prepare_timeout_ms = 300000;
  cfg->source = xstrdup ("built-in defaults");
  static const char *const roots[] = POD_FILE_ROOTS_DEFAULT;
  set_strings (&cfg->pod_file_roots, &cfg->npod_file_roots, roots,
               sizeof roots / sizeof *roots);
}

static int
type_error (shim_error **err, const char *key, const char *want,
            const json_value *v)
{
  return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                         "key \"%s\": expected %s, got %s", key, want,
                         json_type_name (v->type));
}

/* An array of strings; absolute paths only when paths.  */
static int
get_strings (const char *key, const json_value *v, bool paths, char ***items,
             size_t *n, shim_error **err)
{
  if (v->type != JSON_ARRAY)
    return type_error (err, key, "an array of strings", v);
  const char **from = xzalloc ((v->count + 1) * sizeof *from);
  for (size_t i = 0; i < v->count; i++)
    {
      const json_value *item = v->items[i];
      if (item->type != JSON_STRING || !json_string_is_c (item)
          || (paths && item->str[0] != '/'))
        {
          free (from);
          return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                                 "key \"%s[%zu]\": expected %s", key, i,
                                 paths ? "an absolute path" : "a string");
        }
      from[i] = item->str;
    }
  set_strings (items, n, from, v->count);
  free (from);
  return 0;
}

static int
get_string (const char *key, const json_value *v, char **out, shim_error **err)
{
  if (v->type != JSON_STRING || !json_string_is_c (v))
    return type_error (err, key, "a string", v);
  free (*out);
  *out = xstrdup (v->str);
  return 0;
}

static int
get_uint (const char *key, const json_value *v, int bits, uint64_t min,
          uint64_t *out, shim_error **err)
{
  uint64_t n;
  if (v->type != JSON_NUMBER)
    return type_error (err, key, "an unsigned integer", v);
  if (go_parse_uint (v->str, bits, &n) < 0 || n < min)
    return shim_error_set (
        err, GRPC_INVALID_ARGUMENT,
        "key \"%s\": %s is not an integer in [%llu, %llu]", key, v->str,
        (unsigned long long) min,
        (unsigned long long) (bits >= 64 ? UINT64_MAX : ((1ull << bits) - 1)));
  *out = n;
  return 0;
}

/* Keys whose value is an unsigned integer of at most `bits` bits and at
   least min, stored in a uint32_t or (wide) a uint64_t member.  */
struct uint_key
{
  const char *key;
  int bits;
  uint64_t min;
  size_t offset;
  bool wide;
};

#define U32_KEY(name, bits, min)                                              \
  {                                                                           \
#name, bits, min, offsetof(struct shim_config, name), false               \
  }
#define U64_KEY(name, bits, min)                                              \
  {                                                                           \
#name, bits, min, offsetof(struct shim_config, name), true                \
  }

static const struct uint_key uint_keys[] = {
  U32_KEY (processor_count, 31, 1),
  U64_KEY (memory_mb, 40, 2),
  U32_KEY (gcs_connection_timeout_ms, 31, 1),
  U32_KEY (stop_grace_ms, 31, 0),
  U32_KEY (kvm_progress_timeout_ms, 31, 1),
  U64_KEY (layer_cache_max_mb, 40, 0),
  U32_KEY (container_scratch_mb, 20, 1),
  U32_KEY (migration_max_bandwidth_mb, 31, 1),
  U32_KEY (migration_downtime_limit_ms, 31, 1),
  U32_KEY (migration_timeout_ms, 31, 1000),
  U32_KEY (migration_prepare_timeout_ms, 31, 1000),
  U32_KEY (tcg_boot_stall_ms, 31, 0),
  U32_KEY (tcg_tb_size_mb, 20, 0),
};

/* Keys whose value is a string kept as it is.  */
static const struct
{
  const char *key;
  size_t offset;
} string_keys[] = {
  { "vmm_path", offsetof (struct shim_config, vmm_path) },
  { "virtiofsd_path", offsetof (struct shim_config, virtiofsd_path) },
  { "boot_files_root_path",
    offsetof (struct shim_config, boot_files_root_path) },
  { "migration_listen_address",
    offsetof (struct shim_config, migration_listen_address) },
  { "migration_tls_dir", offsetof (struct shim_config, migration_tls_dir) },
};

static int
parse_vmm (struct shim_config *cfg, const json_value *v, shim_error **err)
{
  if (v->type != JSON_STRING)
    return type_error (err, "vmm", "a string", v);
  if (strcmp (v->str, "qemu") == 0)
    cfg->vmm = VMM_KIND_QEMU;
  else if (strcmp (v->str, "exec") == 0)
    cfg->vmm = VMM_KIND_EXEC;
  else
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "key \"vmm\": \"%s\" is neither \"qemu\" nor "
                           "\"exec\"",
                           v->str);
  return 0;
}

static int
parse_vmm_user (struct shim_config *cfg, const json_value *v, shim_error **err)
{
  uint32_t ids[2];
  if (v->type != JSON_STRING)
    return type_error (err, "vmm_user", "a string", v);
  if (strcmp (v->str, "auto") == 0)
    cfg->vmm_user = VMM_USER_AUTO;
  else if (strcmp (v->str, "root") == 0)
    cfg->vmm_user = VMM_USER_ROOT;
  else if (go_parse_u32_fields (v->str, ':', ids, 2) == 0 && ids[0] != 0)
    {
      cfg->vmm_user = VMM_USER_FIXED;
      cfg->vmm_uid = ids[0];
      cfg->vmm_gid = ids[1];
    }
  else
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "key \"vmm_user\": expected \"auto\", "
                           "\"root\" or \"UID:GID\" (UID not 0), got "
                           "\"%s\"",
                           json_string_is_c (v) ? v->str : "?");
  return 0;
}

static int
parse_log_level (struct shim_config *cfg, const json_value *v,
                 shim_error **err)
{
  enum log_level lvl;
  if (get_string ("log_level", v, &cfg->log_level, err) < 0)
    return -1;
  if (log_level_parse (cfg->log_level, &lvl) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "key \"log_level\": unknown level \"%s\"",
                           cfg->log_level);
  return 0;
}

static int
parse_scrub_logs (struct shim_config *cfg, const json_value *v,
                  shim_error **err)
{
  if (v->type != JSON_BOOL)
    return type_error (err, "scrub_logs", "a boolean", v);
  cfg->scrub_logs = v->boolean;
  return 0;
}

static int
parse_migratable_log_relay (struct shim_config *cfg, const json_value *v,
                            shim_error **err)
{
  if (v->type != JSON_BOOL)
    return type_error (err, "migratable_log_relay", "a boolean", v);
  cfg->migratable_log_relay = v->boolean;
  return 0;
}

static int
parse_accel (struct shim_config *cfg, const json_value *v, shim_error **err)
{
  if (v->type != JSON_STRING || !json_string_is_c (v))
    return type_error (err, "accel", "a string", v);
  if (accel_mode_parse (v->str, &cfg->accel) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "key \"accel\": \"%s\" is none of \"auto\", "
                           "\"kvm\", \"tcg\"",
                           v->str);
  return 0;
}

static int
parse_layer_cache_dir (struct shim_config *cfg, const json_value *v,
                       shim_error **err)
{
  if (get_string ("layer_cache_dir", v, &cfg->layer_cache_dir, err) < 0)
    return -1;
  if (cfg->layer_cache_dir[0] != '/')
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "key \"layer_cache_dir\": \"%s\" is not an "
                           "absolute path",
                           cfg->layer_cache_dir);
  return 0;
}

static int
parse_vmm_args (struct shim_config *cfg, const json_value *v, shim_error **err)
{
  return get_strings ("vmm_args", v, false, &cfg->vmm_args, &cfg->nvmm_args,
                      err);
}

static int
parse_pod_file_roots (struct shim_config *cfg, const json_value *v,
                      shim_error **err)
{
  return get_strings ("pod_file_roots", v, true, &cfg->pod_file_roots,
                      &cfg->npod_file_roots, err);
}

static int
parse_boot_files_allowed (struct shim_config *cfg, const json_value *v,
                          shim_error **err)
{
  return get_strings ("boot_files_allowed", v, true, &cfg->boot_files_allowed,
                      &cfg->nboot_files_allowed, err);
}

/* Keys with rules of their own.  */
static const struct
{
  const char *key;
  int (*parse) (struct shim_config *cfg, const json_value *v,
                shim_error **err);
} special_keys[] = {
  { "vmm", parse_vmm },
  { "vmm_user", parse_vmm_user },
  { "vmm_args", parse_vmm_args },
  { "pod_file_roots", parse_pod_file_roots },
  { "boot_files_allowed", parse_boot_files_allowed },
  { "log_level", parse_log_level },
  { "scrub_logs", parse_scrub_logs },
  { "migratable_log_relay", parse_migratable_log_relay },
  { "accel", parse_accel },
  { "layer_cache_dir", parse_layer_cache_dir },
};

static int
apply_member (struct shim_config *cfg, const char *key, const json_value *v,
              shim_error **err)
{
  char *base = (char *) cfg;
  for (size_t i = 0; i < sizeof uint_keys / sizeof *uint_keys; i++)
    if (strcmp (key, uint_keys[i].key) == 0)
      {
        uint64_t n = 0;
        if (get_uint (key, v, uint_keys[i].bits, uint_keys[i].min, &n, err)
            < 0)
          return -1;
        if (uint_keys[i].wide)
          memcpy (base + uint_keys[i].offset, &n, sizeof n);
        else
          {
            uint32_t n32 = (uint32_t) n;
            memcpy (base + uint_keys[i].offset, &n32, sizeof n32);
          }
        return 0;
      }
  for (size_t i = 0; i < sizeof string_keys / sizeof *string_keys; i++)
    if (strcmp (key, string_keys[i].key) == 0)
      return get_string (key, v, (char **) (base + string_keys[i].offset),
                         err);
  for (size_t i = 0; i < sizeof special_keys / sizeof *special_keys; i++)
    if (strcmp (key, special_keys[i].key) == 0)
      return special_keys[i].parse (cfg, v, err);
  return shim_error_set (err, GRPC_INVALID_ARGUMENT, "unknown key \"%s\"",
                         key);
}

int
shim_config_parse (const char *buf, size_t len, struct shim_config *cfg,
                   shim_error **err)
{
  static const struct json_limits limits = { 16, 4 * SHIM_CONFIG_MAX_BYTES };
  json_value *root = json_parse (buf, len, &limits, err);
  if (root == NULL)
    return -1;
  int ret = 0;
  if (root->type != JSON_OBJECT)
    ret = shim_error_set (err, GRPC_INVALID_ARGUMENT,
                          "expected a JSON object, got %s",
                          json_type_name (root->type));
  for (size_t i = 0; ret == 0 && i < root->count; i++)
    {
      const struct json_member *m = &root->members[i];
      if (memchr (m->key, '\0', m->key_len) != NULL)
        ret = shim_error_set (err, GRPC_INVALID_ARGUMENT,
                              "a key contains a NUL byte");
      else
        ret = apply_member (cfg, m->key, m->value, err);
    }
  json_free (root);
  return ret;
}

int
shim_config_load (const char *path, struct shim_config *cfg, shim_error **err)
{
  shim_config_defaults (cfg);
  bool explicit_path = path != NULL && *path != '\0';
  if (!explicit_path)
    {
      const char *env = getenv (SHIM_CONFIG_ENV);
      explicit_path = env != NULL && *env != '\0';
      path = explicit_path ? env : SHIM_CONFIG_DEFAULT_PATH;
    }
  if (!explicit_path && access (path, F_OK) < 0 && errno == ENOENT)
    return 0;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (read_file_capped (-1, path, SHIM_CONFIG_MAX_BYTES, &buf, &len, err) < 0
      || shim_config_parse (buf, len, cfg, err) < 0)
    {
      shim_config_release (cfg);
      return shim_error_wrap (err, "shim configuration %s", path);
    }
  free (cfg->source);
  cfg->source = xstrdup (path);
  return 0;
}

void
shim_config_release (struct shim_config *cfg)
{
  free (cfg->vmm_path);
  free (cfg->virtiofsd_path);
  free_strings (&cfg->vmm_args, &cfg->nvmm_args);
  free_strings (&cfg->pod_file_roots, &cfg->npod_file_roots);
  free_strings (&cfg->boot_files_allowed, &cfg->nboot_files_allowed);
  free (cfg->boot_files_root_path);
  free (cfg->migration_listen_address);
  free (cfg->migration_tls_dir);
  free (cfg->layer_cache_dir);
  free (cfg->log_level);
  free (cfg->source);
  memset (cfg, 0, sizeof *cfg);
}
