#include "json.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "xalloc.h"

struct json_parser
{
  yajl_handle yajl;
  struct json_limits limits;
  void (*on_value) (void *ctx, json_value *v);
  void *ctx;
  /* Containers being built, innermost last.  */
  json_value **stack;
  size_t depth;
  /* Key waiting for its value in the innermost object.  */
  char *pending_key;
  size_t pending_key_len;
  size_t bytes;
  const char *limit_error;
  size_t consumed;
};

static json_value *
new_value (json_parser *p, enum json_type type)
{
  p->bytes += sizeof (json_value);
  json_value *v = xzalloc (sizeof *v);
  v->type = type;
  return v;
}

static int
over_limit (json_parser *p)
{
  if (p->bytes > p->limits.max_bytes)
    {
      p->limit_error = "value exceeds the size limit";
      return 1;
    }
  return 0;
}

static void
grow (json_value *c, size_t elem)
{
  if (c->count < c->cap)
    return;
  c->cap = c->cap ? c->cap * 2 : 4;
  if (c->type == JSON_ARRAY)
    c->items = xrealloc (c->items, c->cap * elem);
  else
    c->members = xrealloc (c->members, c->cap * elem);
}

/* Attaches v to the innermost container, or hands it out when top-level.  */
static int
add_value (json_parser *p, json_value *v)
{
  if (p->depth == 0)
    {
      p->bytes = 0;
      p->on_value (p->ctx, v);
      return 1;
    }
  json_value *c = p->stack[p->depth - 1];
  if (c->type == JSON_ARRAY)
    {
      grow (c, sizeof (json_value *));
      c->items[c->count++] = v;
    }
  else
    {
      grow (c, sizeof (struct json_member));
      c->members[c->count].key = p->pending_key;
      c->members[c->count].key_len = p->pending_key_len;
      c->members[c->count].value = v;
      c->count++;
      p->pending_key = NULL;
    }
  p->bytes += sizeof (struct json_member);
  return !over_limit (p);
}

static int
cb_null (void *ctx)
{
  json_parser *p = ctx;
  return add_value (p, new_value (p, JSON_NULL));
}

static int
cb_boolean (void *ctx, int b)
{
  json_parser *p = ctx;
  json_value *v = new_value (p, JSON_BOOL);
  v->boolean = b != 0;
  return add_value (p, v);
}

static int
add_text (json_parser *p, enum json_type type, const char *s, size_t len)
{
  p->bytes += len + 1;
  if (over_limit (p))
    return 0;
  json_value *v = new_value (p, type);
  v->str = xstrndup (s, len);
  v->len = len;
  return add_value (p, v);
}

static int
cb_number (void *ctx, const char *s, size_t len)
{
  return add_text (ctx, JSON_NUMBER, s, len);
}

static int
cb_string (void *ctx, const unsigned char *s, size_t len)
{
  return add_text (ctx, JSON_STRING, (const char *) s, len);
}

static int
push (json_parser *p, enum json_type type)
{
  if (p->depth >= p->limits.max_depth)
    {
      p->limit_error = "nesting exceeds the depth limit";
      return 0;
    }
  json_value *v = new_value (p, type);
  if (p->depth > 0 && !add_value (p, v))
    return 0;
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  p->stack = xrealloc (p->stack, (p->depth + 1) * sizeof *p->stack);
  p->stack[p->depth++] = v;
  return 1;
}

static int
pop (void *ctx)
{
  json_parser *p = ctx;
  json_value *v = p->stack[--p->depth];
  if (p->depth == 0)
    return add_value (p, v);
  return 1;
}

static int
cb_start_map (void *ctx)
{
  return push (ctx, JSON_OBJECT);
}

static int
cb_map_key (void *ctx, const unsigned char *s, size_t len)
{
  json_parser *p = ctx;
  p->bytes += len + 1;
  if (over_limit (p))
    return 0;
  free (p->pending_key);
  p->pending_key = xstrndup ((const char *) s, len);
  p->pending_key_len = len;
  return 1;
}

static int
cb_start_array (void *ctx)
{
  return push (ctx, JSON_ARRAY);
}

static const yajl_callbacks callbacks = {
  .yajl_null = cb_null,
  .yajl_boolean = cb_boolean,
  .yajl_number = cb_number,
  .yajl_string = cb_string,
  .yajl_start_map = cb_start_map,
  .yajl_map_key = cb_map_key,
  .yajl_end_map = pop,
  .yajl_start_array = cb_start_array,
  .yajl_end_array = pop,
};

json_parser *
json_parser_new (const struct json_limits *limits, bool multiple,
                 void (*on_value) (void *ctx, json_value *v), void *ctx)
{
  json_parser *p = xzalloc (sizeof *p);
  p->limits = *limits;
  p->on_value = on_value;
  p->ctx = ctx;
  p->yajl = yajl_alloc (&callbacks, NULL, p);
  if (p->yajl == NULL)
    abort ();
  if (multiple)
    yajl_config (p->yajl, yajl_allow_multiple_values, 1);
  return p;
}

static void
discard_partial (json_parser *p)
{
  if (p->depth > 0)
    json_free (p->stack[0]);
  p->depth = 0;
  free (p->pending_key);
  p->pending_key = NULL;
}

static int
status_error (json_parser *p, yajl_status st, const char *buf, size_t len,
              shim_error **err)
{
  if (st == yajl_status_ok)
    return 0;
  discard_partial (p);
  if (st == yajl_status_client_canceled)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s",
                           p->limit_error ? p->limit_error : "canceled");
  unsigned char *text
      = yajl_get_error (p->yajl, 0, (const unsigned char *) buf, len);
  char *msg = xstrdup (text ? (const char *) text : "invalid JSON");
  yajl_free_error (p->yajl, text);
  /* yajl's text ends in a newline; keep messages one line.  */
  size_t n = strlen (msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
    msg[--n] = '\0';
  int r = shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s", msg);
  free (msg);
  return r;
}

int
json_parser_feed (json_parser *p, const char *buf, size_t len,
                  shim_error **err)
{
  yajl_status st = yajl_parse (p->yajl, (const unsigned char *) buf, len);
  p->consumed = yajl_get_bytes_consumed (p->yajl);
  return status_error (p, st, buf, len, err);
}

int
json_parser_finish (json_parser *p, shim_error **err)
{
  yajl_status st = yajl_complete_parse (p->yajl);
  return status_error (p, st, "", 0, err);
}

size_t
json_parser_offset (const json_parser *p)
{
  return yajl_get_bytes_consumed (p->yajl);
}

size_t
json_parser_consumed (const json_parser *p)
{
  return p->consumed;
}

bool
json_parser_idle (const json_parser *p)
{
  return p->depth == 0;
}

void
json_parser_free (json_parser *p)
{
  if (p == NULL)
    return;
  discard_partial (p);
  yajl_free (p->yajl);
  free (p->stack);
  free (p);
}

struct single
{
  json_value *value;
  int count;
};

static void
keep_single (void *ctx, json_value *v)
{
  struct single *s = ctx;
  if (s->count++ == 0)
    s->value = v;
  else
    json_free (v);
}

json_value *
json_parse (const char *buf, size_t len, const struct json_limits *limits,
            shim_error **err)
{
  struct single s = { NULL, 0 };
  json_parser *p = json_parser_new (limits, false, keep_single, &s);
  if (json_parser_feed (p, buf, len, err) < 0
      || json_parser_finish (p, err) < 0)
    {
      json_parser_free (p);
      json_free (s.value);
      return NULL;
    }
  json_parser_free (p);
  if (s.value == NULL)
    shim_error_set (err, GRPC_INVALID_ARGUMENT, "empty JSON document");
  return s.value;
}

void
json_free (json_value *v)
{
  if (v == NULL)
    return;
  free (v->str);
  if (v->type == JSON_ARRAY)
    for (size_t i = 0; i < v->count; i++)
      json_free (v->items[i]);
  if (v->type == JSON_OBJECT)
    for (size_t i = 0; i < v->count; i++)
      {
        free (v->members[i].key);
        json_free (v->members[i].value);
      }
  free (v->items);
  free (v->members);
  free (v);
}

const json_value *
json_get (const json_value *obj, const char *key)
{
  if (obj == NULL || obj->type != JSON_OBJECT)
    return NULL;
  size_t klen = strlen (key);
  for (size_t i = obj->count; i-- > 0;)
    if (obj->members[i].key_len == klen
        && memcmp (obj->members[i].key, key, klen) == 0)
      return obj->members[i].value;
  return NULL;
}

const char *
json_get_string (const json_value *obj, const char *key)
{
  const json_value *v = json_get (obj, key);
  return v != NULL && v->type == JSON_STRING && json_string_is_c (v) ? v->str
                                                                     : NULL;
}

uint64_t
json_get_u64 (const json_value *obj, const char *key)
{
  const json_value *v = json_get (obj, key);
  return v != NULL && v->type == JSON_NUMBER && v->str[0] != '-'
             ? strtoull (v->str, NULL, 10)
             : 0;
}

const char *
json_type_name (enum json_type t)
{
  static const char *const names[]
      = { "null", "bool", "number", "string", "array", "object" };
  return names[t];
}

bool
json_string_is_c (const json_value *v)
{
  return v->type == JSON_STRING && memchr (v->str, '\0', v->len) == NULL;
}
