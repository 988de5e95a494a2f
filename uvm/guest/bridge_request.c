#include "bridge_request.h"

#include <stdlib.h>
#include <string.h>

#include "policy/sysctl_policy.h"
#include "proto/base/cleanup.h"
#include "proto/base/json_reader.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/bridge/bridge_protocol.h"

static const struct json_limits request_limits = { 64, 4u << 20 };

static const struct
{
  const char *name;
  enum bridge_request_kind kind;
} kinds[] = {
  { BRIDGE_REQ_SHUTDOWN, BRIDGE_REQUEST_SHUTDOWN },
  { BRIDGE_REQ_CREATE, BRIDGE_REQUEST_CREATE },
  { BRIDGE_REQ_EXEC, BRIDGE_REQUEST_EXEC },
  { BRIDGE_REQ_START, BRIDGE_REQUEST_START },
  { BRIDGE_REQ_SIGNAL, BRIDGE_REQUEST_SIGNAL },
  { BRIDGE_REQ_RESIZE, BRIDGE_REQUEST_RESIZE },
  { BRIDGE_REQ_STATS, BRIDGE_REQUEST_STATS },
  { BRIDGE_REQ_DELETE, BRIDGE_REQUEST_DELETE },
  { BRIDGE_REQ_UPDATE, BRIDGE_REQUEST_UPDATE },
  { BRIDGE_REQ_NETWORK, BRIDGE_REQUEST_NETWORK },
  { BRIDGE_REQ_PING, BRIDGE_REQUEST_PING },
  { BRIDGE_REQ_SETTIME, BRIDGE_REQUEST_SETTIME },
  { BRIDGE_REQ_DISK_REMOVE, BRIDGE_REQUEST_DISK_REMOVE },
  { BRIDGE_REQ_VOLUME_UPDATE, BRIDGE_REQUEST_VOLUME_UPDATE },
  { BRIDGE_REQ_CONNECT, BRIDGE_REQUEST_CONNECT },
};

/* Members each kind needs; the decoder reports every one missing.  */
enum need
{
  NEED_CONTAINER = 1,
  NEED_PROCESS = 2,
  NEED_SPEC = 4,
  NEED_SIGNAL = 8,
  NEED_SIZE = 16,
  NEED_TIME = 32,
  NEED_LAYERS = 64,
  NEED_TARGET = 128,
  NEED_VOLUMES = 256,
  NEED_PORT = 512,
};

static unsigned
needs (enum bridge_request_kind k)
{
  switch (k)
    {
    case BRIDGE_REQUEST_CREATE:
      return NEED_CONTAINER | NEED_PROCESS | NEED_SPEC | NEED_LAYERS;
    case BRIDGE_REQUEST_EXEC:
      return NEED_CONTAINER | NEED_PROCESS | NEED_SPEC;
    case BRIDGE_REQUEST_DISK_REMOVE:
      return NEED_TARGET;
    case BRIDGE_REQUEST_VOLUME_UPDATE:
      return NEED_CONTAINER | NEED_VOLUMES;
    case BRIDGE_REQUEST_START:
      return NEED_PROCESS;
    case BRIDGE_REQUEST_SIGNAL:
      return NEED_PROCESS | NEED_SIGNAL;
    case BRIDGE_REQUEST_RESIZE:
      return NEED_PROCESS | NEED_SIZE;
    case BRIDGE_REQUEST_STATS:
    case BRIDGE_REQUEST_DELETE:
      return NEED_CONTAINER;
    case BRIDGE_REQUEST_UPDATE:
      return NEED_CONTAINER | NEED_SPEC;
    case BRIDGE_REQUEST_NETWORK:
      return NEED_SPEC;
    case BRIDGE_REQUEST_SETTIME:
      return NEED_TIME;
    case BRIDGE_REQUEST_CONNECT:
      return NEED_PROCESS | NEED_PORT;
    default:
      return 0;
    }
}

/* Members each kind needs, with the flag that asks for them.  */
static const struct
{
  unsigned need;
  const char *key;
} required[] = {
  { NEED_CONTAINER, "container" }, { NEED_PROCESS, "process" },
  { NEED_SPEC, "spec" },           { NEED_SIGNAL, "signal" },
  { NEED_SIZE, "width" },          { NEED_SIZE, "height" },
  { NEED_TIME, "unix_ns" },        { NEED_LAYERS, "layers" },
  { NEED_TARGET, "scsi_target" },  { NEED_VOLUMES, "volumes" },
  { NEED_PORT, "port" },
};

static bool
usable_id (const char *id)
{
  return id[0] != '\0' && strchr (id, '/') == NULL && strlen (id) <= 128
         && strcmp (id, ".") != 0 && strcmp (id, "..") != 0;
}

static void
read_layers (struct json_reader *r, const json_value *root,
             struct bridge_request *out)
{
  const json_value *a
      = json_reader_want (r, json_get (root, "layers"), JSON_ARRAY, "layers");
  if (a == NULL)
    return;
  if (a->count == 0 || a->count > BRIDGE_LAYERS_MAX)
    {
      json_reader_problem (r, "layers", "%zu layers, not 1 to %d", a->count,
                           BRIDGE_LAYERS_MAX);
      return;
    }
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *p = xasprintf ("layers[%zu]", i);
      out->layers[out->nlayers++]
          = (uint32_t) json_reader_number (r, a->items[i], p, UINT32_MAX);
    }
}

/* An array of {"path": absolute, key: what is behind it}: emptyDirs (a
   plain name) or host shares (BRIDGE_SHARE_DIR/<plain name>).  */
static struct bridge_empty_dir *
read_bound_dirs (struct json_reader *r, const json_value *root,
                 const char *array, const char *key, const char *prefix,
                 size_t *n)
{
  const json_value *a = json_get (root, array);
  if (a == NULL || json_reader_want (r, a, JSON_ARRAY, array) == NULL)
    return NULL;
  struct bridge_empty_dir *out = xzalloc ((a->count + 1) * sizeof *out);
  size_t plen = strlen (prefix);
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *p = xasprintf ("%s[%zu]", array, i);
      const json_value *o = json_reader_want (r, a->items[i], JSON_OBJECT, p);
      if (o == NULL)
        continue;
      json_reader_require (r, o, "path", p);
      json_reader_require (r, o, key, p);
      struct bridge_empty_dir *d = &out[(*n)++];
      d->path = json_reader_string (r, o, "path", p);
      d->name = json_reader_string (r, o, key, p);
      d->size = json_reader_uint (r, o, "size", p, UINT64_MAX);
      if (d->path != NULL && d->path[0] != '/')
        json_reader_problem (r, p, "path %s is not absolute", d->path);
      if (d->name != NULL
          && (strncmp (d->name, prefix, plen) != 0
              || !usable_id (d->name + plen)))
        json_reader_problem (r, p, "%s %s is not a plain name%s%.*s", key,
                             d->name, plen ? " beneath " : "",
                             plen ? (int) plen - 1 : 0, prefix);
    }
  return out;
}

/* "pod_sysctls": ["KEY=VALUE", ...], split at the first '=' (keys
   have none), each key one the policy allows.  */
static void
read_pod_sysctls (struct json_reader *r, const json_value *root,
                  struct bridge_request *out)
{
  if (json_get (root, "pod_sysctls") == NULL)
    return;
  size_t n = 0;
  char **items = json_reader_string_array (r, root, "pod_sysctls", "", &n);
  if (items == NULL)
    return;
  out->pod_sysctls = xzalloc ((n + 1) * sizeof *out->pod_sysctls);
  for (size_t i = 0; i < n; i++)
    {
      char *eq = strchr (items[i], '=');
      if (eq == NULL)
        json_reader_problem (r, "pod_sysctls", "%s is not KEY=VALUE",
                             items[i]);
      else
        {
          struct oci_key_value *kv = &out->pod_sysctls[out->npod_sysctls++];
          kv->key = xstrndup (items[i], (size_t) (eq - items[i]));
          kv->value = xstrdup (eq + 1);
        }
      free (items[i]);
    }
  free (items);
  strbuf bad = STRBUF_INIT;
  if (sysctl_policy_check (out->pod_sysctls, out->npod_sysctls, &bad) < 0)
    json_reader_problem (r, "pod_sysctls", "%s", bad.data);
  strbuf_release (&bad);
}

static void
read_files (struct json_reader *r, const json_value *root,
            struct bridge_request *out)
{
  const json_value *a
      = json_reader_want (r, json_get (root, "files"), JSON_ARRAY, "files");
  if (a == NULL)
    return;
  out->files = xzalloc ((a->count + 1) * sizeof *out->files);
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *p = xasprintf ("files[%zu]", i);
      const json_value *o = json_reader_want (r, a->items[i], JSON_OBJECT, p);
      if (o == NULL)
        {
          if (a->items[i]->type == JSON_NULL)
            json_reader_problem (r, p, "expected object, got null");
          continue;
        }
      json_reader_require (r, o, "path", p);
      json_reader_require (r, o, "content", p);
      struct bridge_file *f = &out->files[out->nfiles++];
      f->path = json_reader_string (r, o, "path", p);
      f->content = json_reader_bytes (r, o, "content", p, &f->len);
      f->mode = (unsigned) json_reader_uint (r, o, "mode", p, 07777);
      if (f->path != NULL && f->path[0] != '/')
        json_reader_problem (r, p, "path %s is not absolute", f->path);
    }
}

int
bridge_request_decode (const char *body, size_t len,
                       struct bridge_request *out, shim_error **err)
{
  *out = (struct bridge_request){ 0 };
  json_value *root = json_parse (body, len, &request_limits, err);
  if (root == NULL)
    return -1;
  struct json_reader r = JSON_READER_INIT;
  if (root->type != JSON_OBJECT)
    json_reader_problem (&r, "request", "expected object, got %s",
                         json_type_name (root->type));
  else
    {
      json_reader_require (&r, root, "type", "");
      out->type = json_reader_string (&r, root, "type", "");
      for (size_t i = 0; out->type && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp (out->type, kinds[i].name) == 0)
          out->kind = kinds[i].kind;
      unsigned need = needs (out->kind);
      for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (need & required[i].need)
          json_reader_require (&r, root, required[i].key, "");
      out->container = json_reader_string (&r, root, "container", "");
      out->process
          = (uint32_t) json_reader_uint (&r, root, "process", "", UINT32_MAX);
      out->spec = json_reader_bytes (&r, root, "spec", "", &out->spec_len);
      out->scsi_target = (uint32_t) json_reader_uint (&r, root, "scsi_target",
                                                      "", UINT32_MAX);
      out->signal
          = (uint32_t) json_reader_uint (&r, root, "signal", "", UINT32_MAX);
      out->width
          = (uint32_t) json_reader_uint (&r, root, "width", "", UINT32_MAX);
      out->height
          = (uint32_t) json_reader_uint (&r, root, "height", "", UINT32_MAX);
      out->all = json_reader_bool (&r, root, "all", "");
      out->unix_ns = json_reader_uint (&r, root, "unix_ns", "", UINT64_MAX);
      out->port = (uint16_t) json_reader_uint (&r, root, "port", "", 65535);
      if (out->kind == BRIDGE_REQUEST_CONNECT && out->port == 0
          && json_get (root, "port") != NULL)
        json_reader_problem (&r, "port", "expected 1 to 65535");
      out->pod_hostname = json_reader_string (&r, root, "pod_hostname", "");
      read_pod_sysctls (&r, root, out);
      if (out->container != NULL && !usable_id (out->container))
        json_reader_problem (&r, "container", "not a usable id");
      out->scratch_mb = (uint32_t) json_reader_uint (&r, root, "scratch_mb",
                                                     "", UINT32_MAX);
      out->termination_log
          = json_reader_string (&r, root, "termination_log", "");
      if (json_get (root, "volumes") != NULL)
        out->volumes = json_reader_string_array (&r, root, "volumes", "",
                                                 &out->nvolumes);
      for (size_t i = 0; i < out->nvolumes; i++)
        if (out->volumes[i][0] != '/')
          json_reader_problem (&r, "volumes", "%s is not absolute",
                               out->volumes[i]);
      if (out->kind == BRIDGE_REQUEST_VOLUME_UPDATE && out->nvolumes != 1)
        json_reader_problem (&r, "volumes", "one volume per update");
      if (out->kind == BRIDGE_REQUEST_CREATE
          || out->kind == BRIDGE_REQUEST_VOLUME_UPDATE)
        read_files (&r, root, out);
      if (out->kind == BRIDGE_REQUEST_CREATE)
        {
          read_layers (&r, root, out);
          out->empty_dirs = read_bound_dirs (&r, root, "empty_dirs", "name",
                                             "", &out->nempty_dirs);
          out->shares = read_bound_dirs (&r, root, "shares", "source",
                                         BRIDGE_SHARE_DIR "/", &out->nshares);
        }
    }
  json_free (root);
  if (json_reader_finish (&r, "invalid request: ", err) < 0)
    {
      bridge_request_release (out);
      return -1;
    }
  return 0;
}

void
bridge_request_release (struct bridge_request *r)
{
  free (r->type);
  free (r->container);
  free (r->spec);
  free (r->pod_hostname);
  oci_key_values_free (r->pod_sysctls, r->npod_sysctls);
  for (size_t i = 0; i < r->nfiles; i++)
    {
      free (r->files[i].path);
      free (r->files[i].content);
    }
  free (r->files);
  for (size_t i = 0; i < r->nvolumes; i++)
    free (r->volumes[i]);
  free (r->volumes);
  for (size_t i = 0; i < r->nempty_dirs; i++)
    {
      free (r->empty_dirs[i].path);
      free (r->empty_dirs[i].name);
    }
  free (r->empty_dirs);
  for (size_t i = 0; i < r->nshares; i++)
    {
      free (r->shares[i].path);
      free (r->shares[i].name);
    }
  free (r->shares);
  free (r->termination_log);
  *r = (struct bridge_request){ 0 };
}
