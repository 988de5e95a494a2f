#include "bridge_request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/strbuf.h"
#include "proto/xalloc.h"

static const struct json_limits request_limits = { 64, 4u << 20 };

static const struct
{
  const char *name;
  enum bridge_request_kind kind;
} kinds[] = {
  { "shutdown", BRIDGE_REQUEST_SHUTDOWN }, { "create", BRIDGE_REQUEST_CREATE },
  { "exec", BRIDGE_REQUEST_EXEC },         { "start", BRIDGE_REQUEST_START },
  { "signal", BRIDGE_REQUEST_SIGNAL },     { "resize", BRIDGE_REQUEST_RESIZE },
  { "stats", BRIDGE_REQUEST_STATS },       { "delete", BRIDGE_REQUEST_DELETE },
};

/* Members each kind needs; the decoder reports every one missing.  */
enum need
{
  NEED_CONTAINER = 1,
  NEED_PROCESS = 2,
  NEED_SPEC = 4,
  NEED_SIGNAL = 8,
  NEED_SIZE = 16,
};

static unsigned
needs (enum bridge_request_kind k)
{
  switch (k)
    {
    case BRIDGE_REQUEST_CREATE:
      return NEED_CONTAINER | NEED_PROCESS | NEED_SPEC;
    case BRIDGE_REQUEST_EXEC:
      return NEED_CONTAINER | NEED_PROCESS | NEED_SPEC;
    case BRIDGE_REQUEST_START:
      return NEED_PROCESS;
    case BRIDGE_REQUEST_SIGNAL:
      return NEED_PROCESS | NEED_SIGNAL;
    case BRIDGE_REQUEST_RESIZE:
      return NEED_PROCESS | NEED_SIZE;
    case BRIDGE_REQUEST_STATS:
    case BRIDGE_REQUEST_DELETE:
      return NEED_CONTAINER;
    default:
      return 0;
    }
}

struct reader
{
  const json_value *obj;
  strbuf problems;
};

static void
problem (struct reader *r, const char *key, const char *what)
{
  strbuf_printf (&r->problems, "%s%s: %s", r->problems.len ? "; " : "", key,
                 what);
}

static char *
get_text (struct reader *r, const char *key, size_t *len, bool required)
{
  const json_value *v = json_get (r->obj, key);
  if (v == NULL || v->type != JSON_STRING)
    {
      if (required || v != NULL)
        problem (r, key, "expected a string");
      return NULL;
    }
  if (len != NULL)
    *len = v->len;
  char *s = xmalloc (v->len + 1);
  memcpy (s, v->str, v->len);
  s[v->len] = '\0';
  return s;
}

static uint32_t
get_u32 (struct reader *r, const char *key, bool required)
{
  const json_value *v = json_get (r->obj, key);
  if (v == NULL && !required)
    return 0;
  char *end = NULL;
  errno = 0;
  unsigned long long n = v && v->type == JSON_NUMBER
                             ? strtoull (v->str, &end, 10)
                             : 0;
  if (v == NULL || v->type != JSON_NUMBER || errno || *end
      || v->str[0] == '-' || n > UINT32_MAX)
    {
      problem (r, key, "expected an unsigned 32-bit integer");
      return 0;
    }
  return (uint32_t) n;
}

static void
get_files (struct reader *r, struct bridge_request *out)
{
  const json_value *a = json_get (r->obj, "files");
  if (a == NULL)
    return;
  if (a->type != JSON_ARRAY)
    {
      problem (r, "files", "expected an array");
      return;
    }
  out->files = xzalloc ((a->count + 1) * sizeof *out->files);
  for (size_t i = 0; i < a->count; i++)
    {
      struct reader fr = { a->items[i], STRBUF_INIT };
      if (fr.obj->type != JSON_OBJECT)
        {
          problem (r, "files", "expected objects");
          break;
        }
      struct bridge_file *f = &out->files[out->nfiles++];
      size_t plen = 0;
      f->path = get_text (&fr, "path", &plen, true);
      f->content = get_text (&fr, "content", &f->len, true);
      if (fr.problems.len)
        problem (r, "files", fr.problems.data);
      else if (f->path[0] != '/' || strlen (f->path) != plen)
        problem (r, "files", "paths must be absolute, without NUL bytes");
      strbuf_release (&fr.problems);
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
  struct reader r = { root, STRBUF_INIT };
  if (root->type != JSON_OBJECT)
    problem (&r, "request", "expected an object");
  else
    {
      out->type = get_text (&r, "type", NULL, true);
      for (size_t i = 0; out->type && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp (out->type, kinds[i].name) == 0)
          out->kind = kinds[i].kind;
      unsigned need = needs (out->kind);
      out->container = get_text (&r, "container", NULL, need & NEED_CONTAINER);
      out->process = get_u32 (&r, "process", need & NEED_PROCESS);
      out->spec = get_text (&r, "spec", &out->spec_len, need & NEED_SPEC);
      out->scsi_target = get_u32 (&r, "scsi_target", false);
      out->signal = get_u32 (&r, "signal", need & NEED_SIGNAL);
      out->width = get_u32 (&r, "width", need & NEED_SIZE);
      out->height = get_u32 (&r, "height", need & NEED_SIZE);
      const json_value *all = json_get (root, "all");
      out->all = all != NULL && all->type == JSON_BOOL && all->boolean;
      if (out->container != NULL
          && (out->container[0] == '\0' || strchr (out->container, '/')
              || strlen (out->container) > 128
              || strcmp (out->container, ".") == 0
              || strcmp (out->container, "..") == 0))
        problem (&r, "container", "not a usable id");
      if (out->kind == BRIDGE_REQUEST_CREATE)
        get_files (&r, out);
    }
  json_free (root);
  if (r.problems.len == 0)
    {
      strbuf_release (&r.problems);
      return 0;
    }
  shim_error_set (err, GRPC_INVALID_ARGUMENT, "invalid request: %s",
                  r.problems.data);
  strbuf_release (&r.problems);
  bridge_request_release (out);
  return -1;
}

void
bridge_request_release (struct bridge_request *r)
{
  free (r->type);
  free (r->container);
  free (r->spec);
  for (size_t i = 0; i < r->nfiles; i++)
    {
      free (r->files[i].path);
      free (r->files[i].content);
    }
  free (r->files);
  *r = (struct bridge_request){ 0 };
}
