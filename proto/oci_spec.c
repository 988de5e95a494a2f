#include "oci_spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "file_io.h"
#include "strbuf.h"
#include "xalloc.h"

static const struct json_limits spec_limits = {
  .max_depth = 64,
  .max_bytes = 4 * OCI_SPEC_MAX_BYTES,
};

/* Type problems are collected, so one error names every bad path.  */
struct reader
{
  strbuf problems;
  size_t nproblems;
};

static void
problem (struct reader *r, const char *path, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
problem (struct reader *r, const char *path, const char *fmt, ...)
{
  if (r->nproblems++ > 0)
    strbuf_puts (&r->problems, "; ");
  strbuf_puts (&r->problems, path);
  strbuf_puts (&r->problems, ": ");
  va_list ap;
  va_start (ap, fmt);
  char *m = xvasprintf (fmt, ap);
  va_end (ap);
  strbuf_puts (&r->problems, m);
  free (m);
}

/* Returns v when it has type t; otherwise records a problem.  A JSON null
   counts as absent, as Go's decoder treats it.  */
static const json_value *
want (struct reader *r, const json_value *v, enum json_type t,
      const char *path)
{
  if (v == NULL || v->type == JSON_NULL)
    return NULL;
  if (v->type != t)
    {
      problem (r, path, "expected %s, got %s", json_type_name (t),
               json_type_name (v->type));
      return NULL;
    }
  return v;
}

static char *
get_string (struct reader *r, const json_value *obj, const char *key,
            const char *path)
{
  cleanup_free char *p = xasprintf ("%s%s%s", path, *path ? "." : "", key);
  const json_value *v = want (r, json_get (obj, key), JSON_STRING, p);
  if (v == NULL)
    return NULL;
  if (!json_string_is_c (v))
    {
      problem (r, p, "string contains a NUL byte");
      return NULL;
    }
  return xstrdup (v->str);
}

static bool
get_bool (struct reader *r, const json_value *obj, const char *key,
          const char *path)
{
  cleanup_free char *p = xasprintf ("%s.%s", path, key);
  const json_value *v = want (r, json_get (obj, key), JSON_BOOL, p);
  return v != NULL && v->boolean;
}

/* An unsigned integer of at most max; p names it in a problem.  */
static uint64_t
number_value (struct reader *r, const json_value *v, uint64_t max,
              const char *p)
{
  if (v == NULL)
    return 0;
  char *end;
  errno = 0;
  unsigned long long n = strtoull (v->str, &end, 10);
  if (errno || *end || v->str[0] == '-' || n > max)
    {
      problem (r, p, "expected an unsigned %d-bit integer, got %s",
               max == UINT32_MAX ? 32 : 64, v->str);
      return 0;
    }
  return n;
}

static uint64_t
get_uint (struct reader *r, const json_value *obj, const char *key,
          const char *path, uint64_t max)
{
  cleanup_free char *p = xasprintf ("%s.%s", path, key);
  return number_value (r, want (r, json_get (obj, key), JSON_NUMBER, p), max,
                       p);
}

static uint32_t
get_u32 (struct reader *r, const json_value *obj, const char *key,
         const char *path)
{
  return (uint32_t) get_uint (r, obj, key, path, UINT32_MAX);
}

static char **
get_string_array (struct reader *r, const json_value *obj, const char *key,
                  const char *path, size_t *n)
{
  cleanup_free char *p = xasprintf ("%s.%s", path, key);
  const json_value *a = want (r, json_get (obj, key), JSON_ARRAY, p);
  *n = 0;
  if (a == NULL)
    return NULL;
  char **out = xzalloc ((a->count + 1) * sizeof *out);
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *ip = xasprintf ("%s[%zu]", p, i);
      const json_value *s = want (r, a->items[i], JSON_STRING, ip);
      if (s == NULL)
        continue;
      if (!json_string_is_c (s))
        {
          problem (r, ip, "string contains a NUL byte");
          continue;
        }
      out[(*n)++] = xstrdup (s->str);
    }
  return out;
}

static void
free_string_array (char **a, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (a[i]);
  free (a);
}

static void
read_annotations (struct reader *r, const json_value *root,
                  struct oci_spec *spec)
{
  const json_value *a
      = want (r, json_get (root, "annotations"), JSON_OBJECT, "annotations");
  if (a == NULL)
    return;
  spec->annotations = xzalloc ((a->count + 1) * sizeof *spec->annotations);
  for (size_t i = 0; i < a->count; i++)
    {
      const struct json_member *m = &a->members[i];
      if (memchr (m->key, '\0', m->key_len) != NULL)
        {
          problem (r, "annotations", "a key contains a NUL byte");
          continue;
        }
      /* A key repeated later in the object overrides this one.  */
      if (json_get (a, m->key) != m->value)
        continue;
      cleanup_free char *p = xasprintf ("annotations[\"%s\"]", m->key);
      const json_value *v = want (r, m->value, JSON_STRING, p);
      if (v == NULL)
        {
          if (m->value->type == JSON_NULL)
            problem (r, p, "expected string, got null");
          continue;
        }
      if (!json_string_is_c (v))
        {
          problem (r, p, "string contains a NUL byte");
          continue;
        }
      struct oci_annotation *an = &spec->annotations[spec->nannotations++];
      an->key = xstrdup (m->key);
      an->value = xstrdup (v->str);
    }
}

static void
read_mounts (struct reader *r, const json_value *root, struct oci_spec *spec)
{
  const json_value *a = want (r, json_get (root, "mounts"), JSON_ARRAY, "mounts");
  if (a == NULL)
    return;
  spec->mounts = xzalloc ((a->count + 1) * sizeof *spec->mounts);
  spec->nmounts = a->count;
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *p = xasprintf ("mounts[%zu]", i);
      struct oci_mount *m = &spec->mounts[i];
      const json_value *o = want (r, a->items[i], JSON_OBJECT, p);
      if (o == NULL)
        continue;
      m->destination = get_string (r, o, "destination", p);
      m->type = get_string (r, o, "type", p);
      m->source = get_string (r, o, "source", p);
      m->options = get_string_array (r, o, "options", p, &m->noptions);
    }
}

static void
read_devices (struct reader *r, const json_value *root, struct oci_spec *spec)
{
  const json_value *lin = want (r, json_get (root, "linux"), JSON_OBJECT, "linux");
  spec->has_linux = lin != NULL;
  const json_value *ld
      = lin ? want (r, json_get (lin, "devices"), JSON_ARRAY, "linux.devices")
            : NULL;
  if (ld != NULL)
    {
      spec->linux_devices = xzalloc ((ld->count + 1) * sizeof *spec->linux_devices);
      spec->nlinux_devices = ld->count;
      for (size_t i = 0; i < ld->count; i++)
        {
          cleanup_free char *p = xasprintf ("linux.devices[%zu]", i);
          const json_value *o = want (r, ld->items[i], JSON_OBJECT, p);
          if (o == NULL)
            continue;
          spec->linux_devices[i].path = get_string (r, o, "path", p);
          spec->linux_devices[i].type = get_string (r, o, "type", p);
        }
    }
  const json_value *win
      = want (r, json_get (root, "windows"), JSON_OBJECT, "windows");
  const json_value *wd
      = win ? want (r, json_get (win, "devices"), JSON_ARRAY, "windows.devices")
            : NULL;
  if (wd != NULL)
    {
      spec->windows_devices
          = xzalloc ((wd->count + 1) * sizeof *spec->windows_devices);
      spec->nwindows_devices = wd->count;
      for (size_t i = 0; i < wd->count; i++)
        {
          cleanup_free char *p = xasprintf ("windows.devices[%zu]", i);
          const json_value *o = want (r, wd->items[i], JSON_OBJECT, p);
          if (o == NULL)
            continue;
          spec->windows_devices[i].id = get_string (r, o, "id", p);
          spec->windows_devices[i].id_type = get_string (r, o, "idType", p);
        }
    }
}

static struct oci_process *
read_process (struct reader *r, const json_value *o, const char *path)
{
  struct oci_process *proc = xzalloc (sizeof *proc);
  proc->args = get_string_array (r, o, "args", path, &proc->nargs);
  proc->env = get_string_array (r, o, "env", path, &proc->nenv);
  proc->cwd = get_string (r, o, "cwd", path);
  proc->terminal = get_bool (r, o, "terminal", path);
  cleanup_free char *up = xasprintf ("%s.user", path);
  const json_value *user = want (r, json_get (o, "user"), JSON_OBJECT, up);
  if (user != NULL)
    {
      proc->uid = get_u32 (r, user, "uid", up);
      proc->gid = get_u32 (r, user, "gid", up);
      cleanup_free char *gp = xasprintf ("%s.additionalGids", up);
      const json_value *g
          = want (r, json_get (user, "additionalGids"), JSON_ARRAY, gp);
      if (g != NULL)
        {
          proc->additional_gids
              = xzalloc ((g->count + 1) * sizeof *proc->additional_gids);
          proc->nadditional_gids = g->count;
          for (size_t i = 0; i < g->count; i++)
            {
              cleanup_free char *ip = xasprintf ("%s[%zu]", gp, i);
              proc->additional_gids[i] = (uint32_t) number_value (
                  r, want (r, g->items[i], JSON_NUMBER, ip), UINT32_MAX, ip);
            }
        }
    }
  cleanup_free char *rp = xasprintf ("%s.rlimits", path);
  const json_value *rl = want (r, json_get (o, "rlimits"), JSON_ARRAY, rp);
  if (rl != NULL)
    {
      proc->rlimits = xzalloc ((rl->count + 1) * sizeof *proc->rlimits);
      proc->nrlimits = rl->count;
      for (size_t i = 0; i < rl->count; i++)
        {
          cleanup_free char *ip = xasprintf ("%s[%zu]", rp, i);
          const json_value *e = want (r, rl->items[i], JSON_OBJECT, ip);
          if (e == NULL)
            continue;
          proc->rlimits[i].type = get_string (r, e, "type", ip);
          proc->rlimits[i].hard = get_uint (r, e, "hard", ip, UINT64_MAX);
          proc->rlimits[i].soft = get_uint (r, e, "soft", ip, UINT64_MAX);
        }
    }
  return proc;
}

static int
finish (struct reader *r, shim_error **err)
{
  if (r->nproblems == 0)
    {
      strbuf_release (&r->problems);
      return 0;
    }
  int ret = shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s", r->problems.data);
  strbuf_release (&r->problems);
  return ret;
}

int
oci_spec_parse (const char *buf, size_t len, struct oci_spec **out,
                shim_error **err)
{
  if (len > OCI_SPEC_MAX_BYTES)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "spec is %zu bytes, more than the %u allowed", len,
                           OCI_SPEC_MAX_BYTES);
  json_value *root = json_parse (buf, len, &spec_limits, err);
  if (root == NULL)
    return -1;
  struct reader r = { STRBUF_INIT, 0 };
  struct oci_spec *spec = xzalloc (sizeof *spec);
  if (want (&r, root, JSON_OBJECT, "spec") != NULL)
    {
      read_annotations (&r, root, spec);
      read_mounts (&r, root, spec);
      read_devices (&r, root, spec);
      spec->hostname = get_string (&r, root, "hostname", "spec");
      const json_value *rt = want (&r, json_get (root, "root"), JSON_OBJECT, "root");
      if (rt != NULL)
        {
          spec->root_path = get_string (&r, rt, "path", "root");
          spec->root_readonly = get_bool (&r, rt, "readonly", "root");
        }
      const json_value *pr
          = want (&r, json_get (root, "process"), JSON_OBJECT, "process");
      if (pr != NULL)
        spec->process = read_process (&r, pr, "process");
    }
  json_free (root);
  if (finish (&r, err) < 0)
    {
      oci_spec_free (spec);
      return -1;
    }
  *out = spec;
  return 0;
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
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (read_file_capped (dfd, "config.json", OCI_SPEC_MAX_BYTES, &buf, &len,
                        err)
      < 0)
    return -1;
  if (oci_spec_parse (buf, len, out, err) < 0)
    return shim_error_wrap (err, "%s/config.json", bundle_dir);
  return 0;
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
  free (p);
}

int
oci_process_parse (const char *buf, size_t len, struct oci_process **out,
                   shim_error **err)
{
  json_value *root = json_parse (buf, len, &spec_limits, err);
  if (root == NULL)
    return -1;
  struct reader r = { STRBUF_INIT, 0 };
  struct oci_process *p = NULL;
  if (want (&r, root, JSON_OBJECT, "process") != NULL)
    p = read_process (&r, root, "process");
  json_free (root);
  if (finish (&r, err) < 0)
    {
      oci_process_free (p);
      return -1;
    }
  *out = p;
  return 0;
}

void
oci_spec_free (struct oci_spec *spec)
{
  if (spec == NULL)
    return;
  for (size_t i = 0; i < spec->nannotations; i++)
    {
      free (spec->annotations[i].key);
      free (spec->annotations[i].value);
    }
  free (spec->annotations);
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
