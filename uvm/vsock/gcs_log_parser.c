#include "gcs_log_parser.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/json.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

struct gcs_log_parser
{
  char *uvm_id;
  gcs_log_emit_fn emit;
  void *data;
  json_parser *json;
  /* Input since the end of the last complete object; cur_start is where
     the value being parsed starts in it.  */
  strbuf pending;
  size_t base;
  size_t cur_start;
  bool fail_in_value;
  /* After a decode error: the rest of the stream, bounded.  */
  bool failed;
  bool finished;
  strbuf rest;
  size_t rest_dropped;
};

static void
emit_simple (struct gcs_log_parser *p, enum log_level level, const char *msg,
             const char *key, const char *value)
{
  struct log_field f[2] = { { "uvm-id", p->uvm_id }, { key, value } };
  struct gcs_log_entry e = { level, msg, f, 2 };
  p->emit (p->data, &e);
}

/* Go's logrus.ParseLevel, or a level number as logrus.Level decodes it.  */
static int
parse_level (const json_value *v, enum log_level *out)
{
  static const enum log_level by_number[]
      = { LOG_LEVEL_ERROR, LOG_LEVEL_ERROR, LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
          LOG_LEVEL_INFO,  LOG_LEVEL_DEBUG, LOG_LEVEL_TRACE };
  if (v->type == JSON_STRING)
    return json_string_is_c (v) ? log_level_parse (v->str, out) : -1;
  if (v->type == JSON_NUMBER)
    {
      char *end;
      unsigned long n = strtoul (v->str, &end, 10);
      if (*end || n > 6)
        return -1;
      *out = by_number[n];
      return 0;
    }
  return -1;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).  */
static bool
is_rfc3339 (const char *s)
{
  const char *shape = "dddd-dd-ddTdd:dd:dd";
  for (size_t i = 0; shape[i]; i++)
    if (shape[i] == 'd' ? !isdigit ((unsigned char) s[i]) : s[i] != shape[i])
      return false;
  s += strlen (shape);
  if (*s == '.')
    {
      s++;
      if (!isdigit ((unsigned char) *s))
        return false;
      while (isdigit ((unsigned char) *s))
        s++;
    }
  if (*s == 'Z')
    return s[1] == '\0';
  return (*s == '+' || *s == '-') && isdigit ((unsigned char) s[1])
         && isdigit ((unsigned char) s[2]) && s[3] == ':'
         && isdigit ((unsigned char) s[4]) && isdigit ((unsigned char) s[5])
         && s[6] == '\0';
}

static void
render_number (strbuf *sb, const char *text)
{
  double d = strtod (text, NULL);
  if (isfinite (d) && d == trunc (d) && d >= -9223372036854775808.0
      && d < 9223372036854775808.0)
    {
      strbuf_printf (sb, "%lld", (long long) d);
      return;
    }
  /* Shortest representation that reads back as the same double.  */
  char buf[64];
  for (int prec = 1; prec <= 17; prec++)
    {
      snprintf (buf, sizeof buf, "%.*g", prec, d);
      if (strtod (buf, NULL) == d)
        break;
    }
  strbuf_puts (sb, buf);
}

static void
render_json (strbuf *sb, const json_value *v)
{
  switch (v->type)
    {
    case JSON_NULL:
      strbuf_puts (sb, "null");
      break;
    case JSON_BOOL:
      strbuf_puts (sb, v->boolean ? "true" : "false");
      break;
    case JSON_NUMBER:
      render_number (sb, v->str);
      break;
    case JSON_STRING:
      strbuf_json_string (sb, v->str, v->len);
      break;
    case JSON_ARRAY:
      strbuf_putc (sb, '[');
      for (size_t i = 0; i < v->count; i++)
        {
          if (i)
            strbuf_putc (sb, ',');
          render_json (sb, v->items[i]);
        }
      strbuf_putc (sb, ']');
      break;
    case JSON_OBJECT:
      strbuf_putc (sb, '{');
      for (size_t i = 0; i < v->count; i++)
        {
          if (i)
            strbuf_putc (sb, ',');
          strbuf_json_string (sb, v->members[i].key, v->members[i].key_len);
          strbuf_putc (sb, ':');
          render_json (sb, v->members[i].value);
        }
      strbuf_putc (sb, '}');
      break;
    }
}

/* A field value as logrus prints it: strings raw, numbers normalized.  */
static char *
render_field (const json_value *v)
{
  strbuf sb = STRBUF_INIT;
  if (v->type == JSON_STRING)
    strbuf_append (&sb, v->str, strlen (v->str));
  else if (v->type == JSON_NULL)
    strbuf_puts (&sb, "<nil>");
  else
    render_json (&sb, v);
  return strbuf_detach (&sb);
}

static bool
is_reserved (const char *key, size_t len)
{
  static const char *const reserved[]
      = { "time", "level", "msg", "message", "Message" };
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (strlen (reserved[i]) == len && memcmp (key, reserved[i], len) == 0)
      return true;
  return false;
}

/* The host's own fields of a guest entry, and those the shim adds to every
   line: a guest key by one of these names is kept as guest.<key>.  */
static bool
is_host_key (const char *key)
{
  static const char *const host[]
      = { "uvm-id", "vm.time", "namespace", "runtime", "fields-dropped" };
  for (size_t i = 0; i < sizeof host / sizeof *host; i++)
    if (strcmp (key, host[i]) == 0 || strncmp (key, "guest.", 6) == 0)
      return true;
  return false;
}

/* A guest key as a log key: bytes a logfmt key cannot hold become '_' (so
   no newline, quote, '=' or NUL reaches the log), and a host name is
   namespaced.  */
static char *
host_key (const char *key, size_t len)
{
  strbuf sb = STRBUF_INIT;
  for (size_t i = 0; i < len; i++)
    strbuf_putc (&sb, log_key_byte_ok (key[i]) ? key[i] : '_');
  if (len == 0)
    strbuf_putc (&sb, '_');
  if (!is_host_key (sb.data))
    return strbuf_detach (&sb);
  char *k = xasprintf ("guest.%s", sb.data);
  strbuf_release (&sb);
  return k;
}

/* Members of object by key, then by position.  */
static int
by_key (const void *a, const void *b, void *object)
{
  const json_value *v = object;
  const struct json_member *ma = &v->members[*(const size_t *) a];
  const struct json_member *mb = &v->members[*(const size_t *) b];
  size_t n = ma->key_len < mb->key_len ? ma->key_len : mb->key_len;
  int c = memcmp (ma->key, mb->key, n);
  if (c == 0 && ma->key_len != mb->key_len)
    c = ma->key_len < mb->key_len ? -1 : 1;
  if (c == 0)
    c = *(const size_t *) a < *(const size_t *) b ? -1 : 1;
  return c;
}

/* Marks in shadowed[] every member a later one with the same key hides
   (JSON objects decode "last one wins"): O(n log n), not a lookup per
   member.  */
static void
mark_shadowed (const json_value *v, bool *shadowed)
{
  size_t *order = xmalloc ((v->count + 1) * sizeof *order);
  for (size_t i = 0; i < v->count; i++)
    order[i] = i;
  qsort_r (order, v->count, sizeof *order, by_key, (void *) v);
  for (size_t i = 0; i + 1 < v->count; i++)
    {
      const struct json_member *a = &v->members[order[i]];
      const struct json_member *b = &v->members[order[i + 1]];
      shadowed[order[i]] = a->key_len == b->key_len
                           && memcmp (a->key, b->key, a->key_len) == 0;
    }
  free (order);
}

/* Decodes one object into a host entry; NULL error text on success.  */
static const char *
decode_entry (struct gcs_log_parser *p, const json_value *v)
{
  if (v->type != JSON_OBJECT)
    return "log entry is not a JSON object";
  enum log_level level = LOG_LEVEL_INFO;
  const json_value *lv = json_get (v, "level");
  if (lv != NULL && lv->type != JSON_NULL && parse_level (lv, &level) < 0)
    return "not a valid logrus Level";
  const json_value *tv = json_get (v, "time");
  if (tv != NULL && tv->type != JSON_NULL
      && (tv->type != JSON_STRING || !json_string_is_c (tv)
          || !is_rfc3339 (tv->str)))
    return "time is not an RFC 3339 timestamp";
  const json_value *mv = json_get (v, "msg");
  if (mv != NULL && mv->type != JSON_NULL && mv->type != JSON_STRING)
    return "msg is not a string";
  const char *msg = mv && mv->type == JSON_STRING ? mv->str : "";
  const json_value *src = json_get (v, "Source");
  if (src != NULL && src->type == JSON_STRING && strcmp (src->str, "ETW") == 0)
    {
      const json_value *m1 = json_get (v, "message");
      const json_value *m2 = json_get (v, "Message");
      if (m1 != NULL && m1->type == JSON_STRING)
        msg = m1->str;
      else if (m2 != NULL && m2->type == JSON_STRING)
        msg = m2->str;
    }

  bool *shadowed = xzalloc ((v->count + 1) * sizeof *shadowed);
  mark_shadowed (v, shadowed);
  struct log_field fields[GCS_LOG_FIELDS_MAX + 3];
  char *owned[2 * GCS_LOG_FIELDS_MAX];
  size_t n = 0, dropped = 0;
  for (size_t i = 0; i < v->count; i++)
    {
      const struct json_member *m = &v->members[i];
      if (shadowed[i] || is_reserved (m->key, m->key_len))
        continue;
      if (n == GCS_LOG_FIELDS_MAX)
        {
          dropped++;
          continue;
        }
      owned[2 * n] = host_key (m->key, m->key_len);
      owned[2 * n + 1] = render_field (m->value);
      fields[n] = (struct log_field){ owned[2 * n], owned[2 * n + 1] };
      n++;
    }
  size_t nguest = n;
  char ndropped[24];
  snprintf (ndropped, sizeof ndropped, "%zu", dropped);
  if (dropped > 0)
    fields[n++] = (struct log_field){ "fields-dropped", ndropped };
  fields[n++] = (struct log_field){ "uvm-id", p->uvm_id };
  fields[n++]
      = (struct log_field){ "vm.time",
                            tv && tv->type == JSON_STRING ? tv->str : "" };
  struct gcs_log_entry e = { level, msg, fields, n };
  p->emit (p->data, &e);
  for (size_t i = 0; i < 2 * nguest; i++)
    free (owned[i]);
  free (shadowed);
  return NULL;
}

static void
keep_rest (struct gcs_log_parser *p, const char *buf, size_t len)
{
  size_t room = GCS_LOG_ENTRY_MAX - p->rest.len;
  size_t n = len < room ? len : room;
  strbuf_append (&p->rest, buf, n);
  p->rest_dropped += len - n;
}

/* Stops parsing: the input from the failed value on is what is left.  */
static void
fail (struct gcs_log_parser *p, const char *error, bool report)
{
  p->failed = true;
  if (report)
    emit_simple (p, LOG_LEVEL_ERROR, "gcs log read", "error", error);
  if (p->pending.len > p->cur_start)
    keep_rest (p, p->pending.data + p->cur_start,
               p->pending.len - p->cur_start);
  strbuf_release (&p->pending);
  p->cur_start = 0;
}

static void
on_value (void *data, json_value *v)
{
  struct gcs_log_parser *p = data;
  if (!p->failed && !p->fail_in_value)
    {
      const char *error = decode_entry (p, v);
      if (error != NULL)
        {
          /* Not a syntax error: reported, then the rest is kept.  */
          emit_simple (p, LOG_LEVEL_ERROR, "gcs log read", "error", error);
          p->fail_in_value = true;
        }
      else
        p->cur_start = p->base + json_parser_offset (p->json);
    }
  json_free (v);
}

struct gcs_log_parser *
gcs_log_parser_new (const char *uvm_id, gcs_log_emit_fn emit, void *data)
{
  static const struct json_limits limits = { 64, 2 * GCS_LOG_ENTRY_MAX };
  struct gcs_log_parser *p = xzalloc (sizeof *p);
  p->uvm_id = xstrdup (uvm_id);
  p->emit = emit;
  p->data = data;
  p->json = json_parser_new (&limits, true, on_value, p);
  return p;
}

/* Feeds one slice; the caller bounds slices so that an unfinished value
   is noticed soon after it passes the limit (yajl itself would buffer a
   long token without end).  */
static void
feed_slice (struct gcs_log_parser *p, const char *buf, size_t len)
{
  p->base = p->pending.len;
  strbuf_append (&p->pending, buf, len);
  shim_error *err = NULL;
  int r = json_parser_feed (p->json, buf, len, &err);
  if (p->fail_in_value)
    fail (p, NULL, false);
  else if (r < 0)
    /* Syntax errors end parsing quietly; a cut at a limit is reported.  */
    fail (p, err->msg, strstr (err->msg, "limit") != NULL);
  else if (p->pending.len - p->cur_start > GCS_LOG_ENTRY_MAX)
    fail (p, "log entry exceeds the size limit", true);
  else
    {
      /* Keep only the start of the value still being parsed.  */
      size_t left = p->pending.len - p->cur_start;
      memmove (p->pending.data, p->pending.data + p->cur_start, left);
      p->pending.len = left;
      p->pending.data[left] = '\0';
      p->cur_start = 0;
    }
  shim_error_free (err);
}

void
gcs_log_parser_feed (struct gcs_log_parser *p, const char *buf, size_t len)
{
  const size_t slice = 64 * 1024;
  for (size_t off = 0; off < len; off += slice)
    {
      size_t n = len - off < slice ? len - off : slice;
      if (p->failed)
        keep_rest (p, buf + off, n);
      else
        feed_slice (p, buf + off, n);
    }
}

void
gcs_log_parser_finish (struct gcs_log_parser *p)
{
  if (p->finished)
    return;
  p->finished = true;
  if (!p->failed)
    {
      shim_error *err = NULL;
      if (json_parser_finish (p->json, &err) < 0)
        fail (p, err->msg, false);
      else
        strbuf_release (&p->pending);
      shim_error_free (err);
    }
  /* Report the trimmed remainder, if any.  */
  size_t start = 0, end = p->rest.len;
  while (start < end && isspace ((unsigned char) p->rest.data[start]))
    start++;
  while (end > start && isspace ((unsigned char) p->rest.data[end - 1]))
    end--;
  if (end > start)
    {
      char *text = xstrndup (p->rest.data + start, end - start);
      if (p->rest_dropped > 0)
        {
          char *t2
              = xasprintf ("%s [%zu more bytes cut]", text, p->rest_dropped);
          free (text);
          text = t2;
        }
      emit_simple (p, LOG_LEVEL_ERROR, "gcs terminated", "stderr", text);
      free (text);
    }
  strbuf_release (&p->rest);
}

void
gcs_log_parser_free (struct gcs_log_parser *p)
{
  if (p == NULL)
    return;
  json_parser_free (p->json);
  strbuf_release (&p->pending);
  strbuf_release (&p->rest);
  free (p->uvm_id);
  free (p);
}
