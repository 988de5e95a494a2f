#include "json_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "xalloc.h"

void
json_reader_problem (struct json_reader *r, const char *path, const char *fmt,
                     ...)
{
  if (r->nproblems++ > 0)
    strbuf_puts (&r->problems, "; ");
  strbuf_printf (&r->problems, "%s: ", path);
  va_list ap;
  va_start (ap, fmt);
  strbuf_vprintf (&r->problems, fmt, ap);
  va_end (ap);
}

const json_value *
json_reader_want (struct json_reader *r, const json_value *v, enum json_type t,
                  const char *path)
{
  if (v == NULL || v->type == JSON_NULL)
    return NULL;
  if (v->type != t)
    {
      json_reader_problem (r, path, "expected %s, got %s", json_type_name (t),
                           json_type_name (v->type));
      return NULL;
    }
  return v;
}

static char *
member_path (const char *path, const char *key)
{
  return xasprintf ("%s%s%s", path, *path ? "." : "", key);
}

void
json_reader_require (struct json_reader *r, const json_value *obj,
                     const char *key, const char *path)
{
  const json_value *v = json_get (obj, key);
  if (v == NULL || v->type == JSON_NULL)
    {
      cleanup_free char *p = member_path (path, key);
      json_reader_problem (r, p, "required");
    }
}

char *
json_reader_bytes (struct json_reader *r, const json_value *obj,
                   const char *key, const char *path, size_t *len)
{
  cleanup_free char *p = member_path (path, key);
  const json_value *v
      = json_reader_want (r, json_get (obj, key), JSON_STRING, p);
  *len = 0;
  if (v == NULL)
    return NULL;
  char *s = xmalloc (v->len + 1);
  memcpy (s, v->str, v->len);
  s[v->len] = '\0';
  *len = v->len;
  return s;
}

char *
json_reader_text (struct json_reader *r, const json_value *v, const char *path)
{
  v = json_reader_want (r, v, JSON_STRING, path);
  if (v == NULL)
    return NULL;
  if (!json_string_is_c (v))
    {
      json_reader_problem (r, path, "string contains a NUL byte");
      return NULL;
    }
  return xstrdup (v->str);
}

char *
json_reader_string (struct json_reader *r, const json_value *obj,
                    const char *key, const char *path)
{
  cleanup_free char *p = member_path (path, key);
  return json_reader_text (r, json_get (obj, key), p);
}

bool
json_reader_bool (struct json_reader *r, const json_value *obj,
                  const char *key, const char *path)
{
  cleanup_free char *p = member_path (path, key);
  const json_value *v
      = json_reader_want (r, json_get (obj, key), JSON_BOOL, p);
  return v != NULL && v->boolean;
}

uint64_t
json_reader_number (struct json_reader *r, const json_value *v,
                    const char *path, uint64_t max)
{
  v = json_reader_want (r, v, JSON_NUMBER, path);
  if (v == NULL)
    return 0;
  char *end;
  errno = 0;
  unsigned long long n = strtoull (v->str, &end, 10);
  if (errno || *end || v->str[0] == '-' || n > max)
    {
      if (max == UINT32_MAX || max == UINT64_MAX)
        json_reader_problem (r, path,
                             "expected an unsigned %d-bit integer, got %s",
                             max == UINT32_MAX ? 32 : 64, v->str);
      else
        json_reader_problem (r, path,
                             "expected an integer from 0 to %llu, got %s",
                             (unsigned long long) max, v->str);
      return 0;
    }
  return n;
}

uint64_t
json_reader_uint (struct json_reader *r, const json_value *obj,
                  const char *key, const char *path, uint64_t max)
{
  cleanup_free char *p = member_path (path, key);
  return json_reader_number (r, json_get (obj, key), p, max);
}

char **
json_reader_string_array (struct json_reader *r, const json_value *obj,
                          const char *key, const char *path, size_t *n)
{
  cleanup_free char *p = member_path (path, key);
  const json_value *a
      = json_reader_want (r, json_get (obj, key), JSON_ARRAY, p);
  *n = 0;
  if (a == NULL)
    return NULL;
  char **out = xzalloc ((a->count + 1) * sizeof *out);
  for (size_t i = 0; i < a->count; i++)
    {
      cleanup_free char *ip = xasprintf ("%s[%zu]", p, i);
      char *s = json_reader_text (r, a->items[i], ip);
      if (s != NULL)
        out[(*n)++] = s;
    }
  return out;
}

int
json_reader_finish (struct json_reader *r, const char *prefix,
                    shim_error **err)
{
  int ret = 0;
  if (r->nproblems > 0)
    ret = shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s%s", prefix,
                          r->problems.data);
  strbuf_release (&r->problems);
  r->nproblems = 0;
  return ret;
}
