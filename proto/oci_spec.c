#include "oci_spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file_io.h"
#include "base/go_parse.h"
#include "base/json_reader.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

static const struct json_limits spec_limits = {
  .max_depth = 64,
  .max_bytes = 4 * OCI_SPEC_MAX_BYTES,
};

static void
free_string_array (char **a, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (a[i]);
  free (a);
}

void
oci_key_values_free (struct oci_key_value *kv, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (kv[i].key);
      free (kv[i].value);
    }
  free (kv);
}

/* A member that is there and not null (Go reads null as absent).  */
static bool
has_member (const json_value *obj, const char *key)
{
  const json_value *v = json_get (obj, key);
  return v != NULL && v->type != JSON_NULL;
}

/* A signed integer member in [min, max]; false when absent or wrong (a
   problem then).  */
static bool
read_int (struct json_reader *r, const json_value *obj, const char *key,
          const char *path, int64_t min, int64_t max, int64_t *out)
{
  cleanup_free char *p = xasprintf ("%s.%s", path, key);
  const json_value *v
      = json_reader_want (r, json_get (obj, key), JSON_NUMBER, p);
  if (v == NULL)
    return false;
  if (go_parse_int (v->str, 64, out) < 0 || *out < min || *out > max)
    {
      json_reader_problem (r, p, "expected an integer from %lld to %lld",
                           (long long) min, (long long) max);
      return false;
    }
  return true;
}

/* An array of objects at obj.key: a zeroed array of n+1 elements of size
   each, with *n set, or NULL; each item is passed to fn when an object.  */
static void *
read_objects (struct json_reader *r, const json_value *obj, const char *key,
              const char *path, size_t size, size_t *n,
              void (*fn) (struct json_reader *, const json_value *,
                          const char *, void *))
{
  cleanup_free char *p = xasprintf ("%s.%s", path, key);
  const json_value *a
      = json_reader_want (r, json_get (obj, key), JSON_ARRAY, p);
  if (a == NULL)
    return NULL;
  char *items = xzalloc ((a->count + 1) * size);
  *n = a->count;
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *ip = xasprintf ("%s[%zu]", p, i);
      const json_value *o = json_reader_want (r, a->items[i], JSON_OBJECT, ip);
      if (o != NULL)
        fn (r, o, ip, items + i * size);
    }
  return items;
}

static void
read_device (struct json_reader *r, const json_value *o, const char *p,
             void *item)
{
  struct oci_linux_device *d = item;
  d->path = json_reader_string (r, o, "path", p);
  d->type = json_reader_string (r, o, "type", p);
  read_int (r, o, "major", p, INT64_MIN, INT64_MAX, &d->major);
  read_int (r, o, "minor", p, INT64_MIN, INT64_MAX, &d->minor);
  d->has_file_mode = has_member (o, "fileMode");
  d->file_mode = (uint32_t) json_reader_uint (r, o, "fileMode", p, 07777);
  d->uid = (uint32_t) json_reader_uint (r, o, "uid", p, UINT32_MAX);
  d->gid = (uint32_t) json_reader_uint (r, o, "gid", p, UINT32_MAX);
}

static void
read_device_rule (struct json_reader *r, const json_value *o, const char *p,
                  void *item)
{
  struct oci_device_rule *d = item;
  d->allow = json_reader_bool (r, o, "allow", p);
  d->type = json_reader_string (r, o, "type", p);
  d->access = json_reader_string (r, o, "access", p);
  if (!read_int (r, o, "major", p, -1, INT64_MAX, &d->major))
    d->major = -1;
  if (!read_int (r, o, "minor", p, -1, INT64_MAX, &d->minor))
    d->minor = -1;
}

static void
read_namespace (struct json_reader *r, const json_value *o, const char *p,
                void *item)
{
  struct oci_namespace *ns = item;
  json_reader_require (r, o, "type", p);
  ns->type = json_reader_string (r, o, "type", p);
  ns->path = json_reader_string (r, o, "path", p);
  if (ns->path != NULL && ns->path[0] == '\0')
    {
      free (ns->path);
      ns->path = NULL;
    }
}

static void
read_seccomp_arg (struct json_reader *r, const json_value *o, const char *p,
                  void *item)
{
  struct oci_seccomp_arg *a = item;
  json_reader_require (r, o, "op", p);
  a->index = (uint32_t) json_reader_uint (r, o, "index", p, 5);
  a->value = json_reader_uint (r, o, "value", p, UINT64_MAX);
  a->value_two = json_reader_uint (r, o, "valueTwo", p, UINT64_MAX);
  a->op = json_reader_string (r, o, "op", p);
}

static void
read_seccomp_rule (struct json_reader *r, const json_value *o, const char *p,
                   void *item)
{
  struct oci_seccomp_rule *s = item;
  json_reader_require (r, o, "action", p);
  s->names = json_reader_string_array (r, o, "names", p, &s->nnames);
  s->action = json_reader_string (r, o, "action", p);
  s->has_errno_ret = has_member (o, "errnoRet");
  s->errno_ret = (uint32_t) json_reader_uint (r, o, "errnoRet", p, 4095);
  s->args = read_objects (r, o, "args", p, sizeof *s->args, &s->nargs,
                          read_seccomp_arg);
}

static struct oci_seccomp *
read_seccomp (struct json_reader *r, const json_value *lin)
{
  const json_value *o = json_reader_want (r, json_get (lin, "seccomp"),
                                          JSON_OBJECT, "linux.seccomp");
  if (o == NULL)
    return NULL;
  const char *p = "linux.seccomp";
  struct oci_seccomp *s = xzalloc (sizeof *s);
  json_reader_require (r, o, "defaultAction", p);
  s->default_action = json_reader_string (r, o, "defaultAction", p);
  s->has_default_errno_ret = has_member (o, "defaultErrnoRet");
  s->default_errno_ret
      = (uint32_t) json_reader_uint (r, o, "defaultErrnoRet", p, 4095);
  s->architectures = json_reader_string_array (r, o, "architectures", p,
                                               &s->narchitectures);
  s->flags = json_reader_string_array (r, o, "flags", p, &s->nflags);
  s->listener_path = json_reader_string (r, o, "listenerPath", p);
  s->syscalls = read_objects (r, o, "syscalls", p, sizeof *s->syscalls,
                              &s->nsyscalls, read_seccomp_rule);
  return s;
}

/* A JSON object of strings (annotations, linux.sysctl) as Go's
   map[string]string reads it: unique keys in document order.  */
static void
read_string_map (struct json_reader *r, const json_value *obj, const char *key,
                 const char *path, struct oci_key_value **out, size_t *n)
{
  const json_value *a
      = json_reader_want (r, json_get (obj, key), JSON_OBJECT, path);
  if (a == NULL)
    return;
  *out = xzalloc ((a->count + 1) * sizeof **out);
  for (size_t i = 0; i < a->count; i++)
    {
      const struct json_member *m = &a->members[i];
      if (memchr (m->key, '\0', m->key_len) != NULL)
        {
          json_reader_problem (r, path, "a key contains a NUL byte");
          continue;
        }
      /* A key repeated later in the object overrides this one.  */
      if (json_get (a, m->key) != m->value)
        continue;
      cleanup_free char *p = xasprintf ("%s[\"%s\"]", path, m->key);
      /* Go's map[string]string refuses a null value.  */
      if (m->value->type == JSON_NULL)
        {
          json_reader_problem (r, p, "expected string, got null");
          continue;
        }
      char *value = json_reader_text (r, m->value, p);
      if (value == NULL)
        continue;
      struct oci_key_value *kv = &(*out)[(*n)++];
      kv->key = xstrdup (m->key);
      kv->value = value;
    }
}

static void
read_mounts (struct json_reader *r, const json_value *root,
             struct oci_spec *spec)
{
  const json_value *a
      = json_reader_want (r, json_get (root, "mounts"), JSON_ARRAY, "mounts");
  if (a == NULL)
    return;
  spec->mounts = xzalloc ((a->count + 1) * sizeof *spec->mounts);
  spec->nmounts = a->count;
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *p = xasprintf ("mounts[%zu]", i);
      struct oci_mount *m = &spec->mounts[i];
      const json_value *o = json_reader_want (r, a->items[i], JSON_OBJECT, p);
      if (o == NULL)
        continue;
      m->destination = json_reader_string (r, o, "destination", p);
      m->type = json_reader_string (r, o, "type", p);
      m->source = json_reader_string (r, o, "source", p);
      m->options = json_reader_string_array (r, o, "options", p, &m->noptions);
    }
}

static void
read_resources (struct json_reader *r, const json_value *res,
                struct oci_spec *spec)
{
  struct oci_resources *o = &spec->resources;
  spec->device_rules = read_objects (r, res, "devices", "linux.resources",
                                     sizeof (struct oci_device_rule),
                                     &spec->ndevice_rules, read_device_rule);
  const char *mp = "linux.resources.memory";
  const json_value *mem
      = json_reader_want (r, json_get (res, "memory"), JSON_OBJECT, mp);
  if (mem != NULL)
    {
      o->has_memory_limit
          = read_int (r, mem, "limit", mp, -1, INT64_MAX, &o->memory_limit);
      o->has_memory_reservation = read_int (r, mem, "reservation", mp, -1,
                                            INT64_MAX, &o->memory_reservation);
      o->has_memory_swap
          = read_int (r, mem, "swap", mp, -1, INT64_MAX, &o->memory_swap);
      o->has_memory_kernel = has_member (mem, "kernel");
      o->has_memory_kernel_tcp = has_member (mem, "kernelTCP");
      o->has_memory_swappiness = has_member (mem, "swappiness");
      o->disable_oom_killer
          = json_reader_bool (r, mem, "disableOOMKiller", mp);
    }
  const char *cp = "linux.resources.cpu";
  const json_value *cpu
      = json_reader_want (r, json_get (res, "cpu"), JSON_OBJECT, cp);
  if (cpu != NULL)
    {
      o->cpu_shares = json_reader_uint (r, cpu, "shares", cp, 262144);
      o->has_cpu_quota = read_int (r, cpu, "quota", cp, INT64_MIN, INT64_MAX,
                                   &o->cpu_quota);
      o->cpu_period = json_reader_uint (r, cpu, "period", cp, 1000000);
      o->cpu_cpus = json_reader_string (r, cpu, "cpus", cp);
      o->cpu_mems = json_reader_string (r, cpu, "mems", cp);
      o->has_cpu_realtime = has_member (cpu, "realtimeRuntime")
                            || has_member (cpu, "realtimePeriod");
    }
  const char *pp = "linux.resources.pids";
  const json_value *pids
      = json_reader_want (r, json_get (res, "pids"), JSON_OBJECT, pp);
  if (pids != NULL)
    o->has_pids_limit = read_int (r, pids, "limit", pp, INT64_MIN, INT64_MAX,
                                  &o->pids_limit);
  o->has_block_io = has_member (res, "blockIO");
  o->has_hugepage_limits = has_member (res, "hugepageLimits");
  o->has_network = has_member (res, "network");
  o->has_rdma = has_member (res, "rdma");
  read_string_map (r, res, "unified", "linux.resources.unified", &o->unified,
                   &o->nunified);
}

static void
read_platform (struct json_reader *r, const json_value *root,
               struct oci_spec *spec)
{
  const json_value *lin
      = json_reader_want (r, json_get (root, "linux"), JSON_OBJECT, "linux");
  spec->has_linux = lin != NULL;
  if (lin != NULL)
    {
      spec->masked_paths = json_reader_string_array (
          r, lin, "maskedPaths", "linux", &spec->nmasked_paths);
      spec->readonly_paths = json_reader_string_array (
          r, lin, "readonlyPaths", "linux", &spec->nreadonly_paths);
      read_string_map (r, lin, "sysctl", "linux.sysctl", &spec->sysctls,
                       &spec->nsysctls);
      spec->linux_devices = read_objects (r, lin, "devices", "linux",
                                          sizeof (struct oci_linux_device),
                                          &spec->nlinux_devices, read_device);
      spec->namespaces = read_objects (r, lin, "namespaces", "linux",
                                       sizeof (struct oci_namespace),
                                       &spec->nnamespaces, read_namespace);
      spec->seccomp = read_seccomp (r, lin);
      spec->cgroups_path = json_reader_string (r, lin, "cgroupsPath", "linux");
      const json_value *res = json_reader_want (
          r, json_get (lin, "resources"), JSON_OBJECT, "linux.resources");
      if (res != NULL)
        read_resources (r, res, spec);
    }
  const json_value *win = json_reader_want (r, json_get (root, "windows"),
                                            JSON_OBJECT, "windows");
  const json_value *wd = win ? json_reader_want (r, json_get (win, "devices"),
                                                 JSON_ARRAY, "windows.devices")
                             : NULL;
  if (wd != NULL)
    {
      spec->windows_devices
          = xzalloc ((wd->count + 1) * sizeof *spec->windows_devices);
      spec->nwindows_devices = wd->count;
      for (size_t i = 0; i < wd->count; i++)
        {
          cleanup_free char *p = xasprintf ("windows.devices[%zu]", i);
          const json_value *o
              = json_reader_want (r, wd->items[i], JSON_OBJECT, p);
          if (o == NULL)
            continue;
          spec->windows_devices[i].id = json_reader_string (r, o, "id", p);
          spec->windows_devices[i].id_type
              = json_reader_string (r, o, "idType", p);
        }
    }
}

static struct oci_process *
read_process (struct json_reader *r, const json_value *o, const char *path)
{
  struct oci_process *proc = xzalloc (sizeof *proc);
  proc->args = json_reader_string_array (r, o, "args", path, &proc->nargs);
  proc->env = json_reader_string_array (r, o, "env", path, &proc->nenv);
  proc->cwd = json_reader_string (r, o, "cwd", path);
  proc->terminal = json_reader_bool (r, o, "terminal", path);
  cleanup_free char *up = xasprintf ("%s.user", path);
  const json_value *user
      = json_reader_want (r, json_get (o, "user"), JSON_OBJECT, up);
  if (user != NULL)
    {
      proc->uid = (uint32_t) json_reader_uint (r, user, "uid", up, UINT32_MAX);
      proc->gid = (uint32_t) json_reader_uint (r, user, "gid", up, UINT32_MAX);
      cleanup_free char *gp = xasprintf ("%s.additionalGids", up);
      const json_value *g = json_reader_want (
          r, json_get (user, "additionalGids"), JSON_ARRAY, gp);
      if (g != NULL)
        {
          proc->additional_gids
              = xzalloc ((g->count + 1) * sizeof *proc->additional_gids);
          proc->nadditional_gids = g->count;
          for (size_t i = 0; i < g->count; i++)
            {
              cleanup_free char *ip = xasprintf ("%s[%zu]", gp, i);
              proc->additional_gids[i] = (uint32_t) json_reader_number (
                  r, g->items[i], ip, UINT32_MAX);
            }
        }
    }
  proc->no_new_privileges = json_reader_bool (r, o, "noNewPrivileges", path);
  int64_t adj;
  proc->has_oom_score_adj
      = read_int (r, o, "oomScoreAdj", path, -1000, 1000, &adj);
  proc->oom_score_adj = proc->has_oom_score_adj ? (int) adj : 0;
  cleanup_free char *cp = xasprintf ("%s.capabilities", path);
  const json_value *caps
      = json_reader_want (r, json_get (o, "capabilities"), JSON_OBJECT, cp);
  static const char *const cap_sets[OCI_CAP_SETS]
      = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  proc->has_capabilities = caps != NULL;
  for (int s = 0; caps != NULL && s < OCI_CAP_SETS; s++)
    proc->capabilities[s] = json_reader_string_array (r, caps, cap_sets[s], cp,
                                                      &proc->ncapabilities[s]);
  cleanup_free char *rp = xasprintf ("%s.rlimits", path);
  const json_value *rl
      = json_reader_want (r, json_get (o, "rlimits"), JSON_ARRAY, rp);
  if (rl != NULL)
    {
      proc->rlimits = xzalloc ((rl->count + 1) * sizeof *proc->rlimits);
      proc->nrlimits = rl->count;
      for (size_t i = 0; i < rl->count; i++)
        {
          cleanup_free char *ip = xasprintf ("%s[%zu]", rp, i);
          const json_value *e
              = json_reader_want (r, rl->items[i], JSON_OBJECT, ip);
          if (e == NULL)
            continue;
          proc->rlimits[i].type = json_reader_string (r, e, "type", ip);
          proc->rlimits[i].hard
              = json_reader_uint (r, e, "hard", ip, UINT64_MAX);
          proc->rlimits[i].soft
              = json_reader_uint (r, e, "soft", ip, UINT64_MAX);
        }
    }
  return proc;
}

/* One JSON document that must be an object (named path in problems),
   read by read: its result, or NULL with *err naming every problem (what
   read built is released).  */
static void *
parse_document (const char *buf, size_t len, const char *path,
                void *(*read) (struct json_reader *, const json_value *),
                void (*release) (void *), shim_error **err)
{
  json_value *root = json_parse (buf, len, &spec_limits, err);
  if (root == NULL)
    return NULL;
  struct json_reader r = JSON_READER_INIT;
  void *out = NULL;
  if (json_reader_want (&r, root, JSON_OBJECT, path) != NULL)
    out = read (&r, root);
  json_free (root);
  if (json_reader_finish (&r, "", err) < 0)
    {
      release (out);
      return NULL;
    }
  return out;
}

static void *
read_spec (struct json_reader *r, const json_value *root)
{
  struct oci_spec *spec = xzalloc (sizeof *spec);
  read_string_map (r, root, "annotations", "annotations", &spec->annotations,
                   &spec->nannotations);
  read_mounts (r, root, spec);
  read_platform (r, root, spec);
  spec->hostname = json_reader_string (r, root, "hostname", "spec");
  const json_value *rt
      = json_reader_want (r, json_get (root, "root"), JSON_OBJECT, "root");
  if (rt != NULL)
    {
      spec->root_path = json_reader_string (r, rt, "path", "root");
      spec->root_readonly = json_reader_bool (r, rt, "readonly", "root");
    }
  const json_value *pr = json_reader_want (r, json_get (root, "process"),
                                           JSON_OBJECT, "process");
  if (pr != NULL)
    spec->process = read_process (r, pr, "process");
  return spec;
}

static void
release_spec (void *spec)
{
  oci_spec_free (spec);
}

int
oci_spec_parse (const char *buf, size_t len, struct oci_spec **out,
                shim_error **err)
{
  if (len > OCI_SPEC_MAX_BYTES)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "spec is %zu bytes, more than the %u allowed", len,
                           OCI_SPEC_MAX_BYTES);
  *out = parse_document (buf, len, "spec", read_spec, release_spec, err);
  return *out ? 0 : -1;
}

int
oci_spec_load_bundle (const char *bundle_dir, struct oci_spec **out,
                      shim_error **err)
{
  cleanup_close int dfd
      = open (bundle_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "open bundle %s", bundle_dir);
  char *buf = NULL;
  size_t len = 0;
  if (read_file_capped (dfd, "config.json", OCI_SPEC_MAX_BYTES, &buf, &len,
                        err)
      < 0)
    return -1;
  if (oci_spec_parse (buf, len, out, err) < 0)
    {
      free (buf);
      return shim_error_wrap (err, "%s/config.json", bundle_dir);
    }
  (*out)->document = buf;
  (*out)->document_len = len;
  return 0;
}

static void *
read_resources_document (struct json_reader *r, const json_value *root)
{
  struct oci_spec *spec = xzalloc (sizeof *spec);
  read_resources (r, root, spec);
  return spec;
}

int
oci_resources_parse (const char *buf, size_t len, struct oci_spec **out,
                     shim_error **err)
{
  *out = parse_document (buf, len, "linux.resources", read_resources_document,
                         release_spec, err);
  return *out ? 0 : -1;
}

void
oci_process_free (struct oci_process *p)
{
  if (p == NULL)
    return;
  free_string_array (p->args, p->nargs);
  free_string_array (p->env, p->nenv);
  free (p->cwd);
  free (p->additional_gids);
  for (size_t i = 0; i < p->nrlimits; i++)
    free (p->rlimits[i].type);
  free (p->rlimits);
  for (int s = 0; s < OCI_CAP_SETS; s++)
    free_string_array (p->capabilities[s], p->ncapabilities[s]);
  free (p);
}

static void *
read_process_document (struct json_reader *r, const json_value *root)
{
  return read_process (r, root, "process");
}

static void
release_process (void *p)
{
  oci_process_free (p);
}

int
oci_process_parse (const char *buf, size_t len, struct oci_process **out,
                   shim_error **err)
{
  *out = parse_document (buf, len, "process", read_process_document,
                         release_process, err);
  return *out ? 0 : -1;
}

static void
seccomp_free (struct oci_seccomp *s)
{
  if (s == NULL)
    return;
  free (s->default_action);
  free_string_array (s->architectures, s->narchitectures);
  free_string_array (s->flags, s->nflags);
  free (s->listener_path);
  for (size_t i = 0; i < s->nsyscalls; i++)
    {
      struct oci_seccomp_rule *rule = &s->syscalls[i];
      free_string_array (rule->names, rule->nnames);
      free (rule->action);
      for (size_t k = 0; k < rule->nargs; k++)
        free (rule->args[k].op);
      free (rule->args);
    }
  free (s->syscalls);
  free (s);
}

void
oci_spec_free (struct oci_spec *spec)
{
  if (spec == NULL)
    return;
  free (spec->document);
  oci_key_values_free (spec->annotations, spec->nannotations);
  oci_key_values_free (spec->sysctls, spec->nsysctls);
  for (size_t i = 0; i < spec->nmounts; i++)
    {
      free (spec->mounts[i].destination);
      free (spec->mounts[i].type);
      free (spec->mounts[i].source);
      free_string_array (spec->mounts[i].options, spec->mounts[i].noptions);
    }
  free (spec->mounts);
  for (size_t i = 0; i < spec->nlinux_devices; i++)
    {
      free (spec->linux_devices[i].path);
      free (spec->linux_devices[i].type);
    }
  free (spec->linux_devices);
  for (size_t i = 0; i < spec->nnamespaces; i++)
    {
      free (spec->namespaces[i].type);
      free (spec->namespaces[i].path);
    }
  free (spec->namespaces);
  for (size_t i = 0; i < spec->ndevice_rules; i++)
    {
      free (spec->device_rules[i].type);
      free (spec->device_rules[i].access);
    }
  free (spec->device_rules);
  free (spec->resources.cpu_cpus);
  free (spec->resources.cpu_mems);
  oci_key_values_free (spec->resources.unified, spec->resources.nunified);
  seccomp_free (spec->seccomp);
  free (spec->cgroups_path);
  free_string_array (spec->masked_paths, spec->nmasked_paths);
  free_string_array (spec->readonly_paths, spec->nreadonly_paths);
  for (size_t i = 0; i < spec->nwindows_devices; i++)
    {
      free (spec->windows_devices[i].id);
      free (spec->windows_devices[i].id_type);
    }
  free (spec->windows_devices);
  free (spec->hostname);
  free (spec->root_path);
  oci_process_free (spec->process);
  free (spec);
}

const char *
oci_spec_annotation (const struct oci_spec *spec, const char *key)
{
  for (size_t i = 0; i < spec->nannotations; i++)
    if (strcmp (spec->annotations[i].key, key) == 0)
      return spec->annotations[i].value;
  return NULL;
}

const struct oci_namespace *
oci_spec_namespace (const struct oci_spec *spec, const char *type)
{
  for (size_t i = 0; i < spec->nnamespaces; i++)
    if (spec->namespaces[i].type != NULL
        && strcmp (spec->namespaces[i].type, type) == 0)
      return &spec->namespaces[i];
  return NULL;
}

bool
oci_mount_is_bind (const struct oci_mount *m)
{
  if (m->type != NULL && strcmp (m->type, "bind") == 0)
    return true;
  for (size_t i = 0; i < m->noptions; i++)
    if (strcmp (m->options[i], "bind") == 0
        || strcmp (m->options[i], "rbind") == 0)
      return true;
  return false;
}
