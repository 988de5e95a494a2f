/* The host side of the bridge: the guest agent's messages decoded, the
   host's requests encoded.  Pure.  */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "proto/base/json.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* Every message from the guest is parsed within these.  */
static const struct json_limits message_limits
    = { 16, 4 * BRIDGE_MESSAGE_MAX };

static char *
json_str (const json_value *obj, const char *key)
{
  const char *s = json_get_string (obj, key);
  return xstrdup (s ? s : "");
}

int
bridge_hello_decode (uint8_t frame_type, const uint8_t *body, size_t len,
                     struct bridge_hello *out, shim_error **err)
{
  json_value *v = json_parse ((const char *) body, len, &message_limits, err);
  if (v == NULL)
    return shim_error_wrap (err, "undecodable bridge message");
  const json_value *type = json_get (v, "type");
  int r;
  if (v->type != JSON_OBJECT || type == NULL || type->type != JSON_STRING)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT,
                        "bridge message without a string \"type\"");
  else if (frame_type == BRIDGE_TYPE_NOTIFY
           && strcmp (type->str, "hello") == 0)
    {
      out->cmdline = json_str (v, "cmdline");
      out->kernel_release = json_str (v, "kernel_release");
      out->root = json_str (v, "root");
      out->cpus = json_get_u64 (v, "cpus");
      out->memory_mb = json_get_u64 (v, "memory_mb");
      out->uptime_ms = json_get_u64 (v, "uptime_ms");
      r = 1;
    }
  else
    r = 0;
  json_free (v);
  return r;
}

void
bridge_hello_release (struct bridge_hello *h)
{
  free (h->cmdline);
  free (h->kernel_release);
  free (h->root);
  memset (h, 0, sizeof *h);
}

static json_value *
parse_object (const char *body, size_t len, shim_error **err)
{
  json_value *v = json_parse (body, len, &message_limits, err);
  if (v != NULL && v->type != JSON_OBJECT)
    {
      json_free (v);
      shim_error_set (err, GRPC_INTERNAL, "bridge message is not an object");
      return NULL;
    }
  return v;
}

int
bridge_response_decode (const char *body, size_t len,
                        struct bridge_response *out, shim_error **err)
{
  *out = (struct bridge_response){ 0 };
  json_value *v = parse_object (body, len, err);
  if (v == NULL)
    return shim_error_wrap (err, "undecodable guest response");
  const json_value *e = json_get (v, "error");
  int r = 0;
  if (e != NULL)
    {
      uint64_t code = json_get_u64 (v, "code");
      r = shim_error_set (
          err,
          code > 0 && code <= GRPC_UNAUTHENTICATED ? (int) code
                                                   : GRPC_INTERNAL,
          "guest: %s",
          e->type == JSON_STRING && json_string_is_c (e) ? e->str
                                                         : "request failed");
    }
  else
    {
      out->pid = (uint32_t) json_get_u64 (v, "pid");
      out->cpu_ns = json_get_u64 (v, "cpu_ns");
      out->memory_bytes = json_get_u64 (v, "memory_bytes");
      out->memory_limit = json_get_u64 (v, "memory_limit");
      out->uptime_ms = json_get_u64 (v, "uptime_ms");
      const json_value *pids = json_get (v, "pids");
      if (pids != NULL && pids->type == JSON_ARRAY)
        {
          out->pids = xzalloc ((pids->count + 1) * sizeof *out->pids);
          for (size_t i = 0; i < pids->count; i++)
            if (pids->items[i]->type == JSON_NUMBER
                && pids->items[i]->str[0] != '-')
              out->pids[out->npids++]
                  = (uint32_t) strtoul (pids->items[i]->str, NULL, 10);
        }
    }
  json_free (v);
  return r;
}

void
bridge_response_release (struct bridge_response *r)
{
  free (r->pids);
  r->pids = NULL;
}

int
bridge_exit_decode (const char *body, size_t len, uint32_t *process,
                    uint32_t *status, char **message, size_t *message_len)
{
  *message = NULL;
  *message_len = 0;
  shim_error *err = NULL;
  json_value *v = parse_object (body, len, &err);
  shim_error_free (err);
  if (v == NULL)
    return 0;
  const json_value *type = json_get (v, "type");
  int r = type && type->type == JSON_STRING && strcmp (type->str, "exit") == 0
          && json_get (v, "process") && json_get (v, "status");
  if (r)
    {
      *process = (uint32_t) json_get_u64 (v, "process");
      *status = (uint32_t) json_get_u64 (v, "status");
      const json_value *m = json_get (v, "termination_message");
      if (m != NULL && m->type == JSON_STRING)
        {
          *message = xmemdup (m->str, m->len + 1);
          *message_len = m->len;
        }
    }
  json_free (v);
  return r;
}

/* ,"files":[{"path":...,"content":...},...]  */
static void
put_files (strbuf *b, const struct bridge_pod_file *files, size_t n)
{
  strbuf_puts (b, ",\"files\":[");
  for (size_t i = 0; i < n; i++)
    {
      strbuf_puts (b, i ? ",{\"path\":" : "{\"path\":");
      strbuf_json_string (b, files[i].path, strlen (files[i].path));
      strbuf_puts (b, ",\"content\":");
      strbuf_json_string (b, files[i].content, files[i].len);
      if (files[i].mode != 0)
        strbuf_printf (b, ",\"mode\":%u", files[i].mode);
      strbuf_putc (b, '}');
    }
  strbuf_putc (b, ']');
}

/* ,"key":["...",...] unless n is 0.  */
static void
put_strings (strbuf *b, const char *key, const char *const *items, size_t n)
{
  if (n == 0)
    return;
  strbuf_printf (b, ",\"%s\":[", key);
  for (size_t i = 0; i < n; i++)
    {
      if (i)
        strbuf_putc (b, ',');
      strbuf_json_string (b, items[i], strlen (items[i]));
    }
  strbuf_putc (b, ']');
}

char *
bridge_volume_update_body (const char *container, const char *volume,
                           const struct bridge_pod_file *files, size_t nfiles)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b,
               "{\"type\":\"" BRIDGE_REQ_VOLUME_UPDATE "\",\"container\":");
  strbuf_json_string (&b, container, strlen (container));
  put_strings (&b, "volumes", &volume, 1);
  put_files (&b, files, nfiles);
  strbuf_putc (&b, '}');
  return strbuf_detach (&b);
}

/* ,"array":[{"path":P,"key":V[,"size":S]},...] (nothing when n is 0;
   sizes may be NULL, a size of 0 is left out).  */
static void
put_bound_dirs (strbuf *b, const char *array, const char *key,
                const char *const *paths, const char *const *values,
                const uint64_t *sizes, size_t n)
{
  if (n == 0)
    return;
  strbuf_printf (b, ",\"%s\":[", array);
  for (size_t i = 0; i < n; i++)
    {
      strbuf_puts (b, i ? ",{\"path\":" : "{\"path\":");
      strbuf_json_string (b, paths[i], strlen (paths[i]));
      strbuf_printf (b, ",\"%s\":", key);
      strbuf_json_string (b, values[i], strlen (values[i]));
      if (sizes != NULL && sizes[i] > 0)
        strbuf_printf (b, ",\"size\":%llu", (unsigned long long) sizes[i]);
      strbuf_putc (b, '}');
    }
  strbuf_putc (b, ']');
}

char *
bridge_create_members (const struct bridge_create *c)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b, "\"type\":\"" BRIDGE_REQ_CREATE "\",\"container\":");
  strbuf_json_string (&b, c->container, strlen (c->container));
  strbuf_printf (&b, ",\"process\":%u,\"scratch_mb\":%u,\"spec\":", c->process,
                 c->scratch_mb);
  strbuf_json_string (&b, c->spec, c->spec_len);
  put_files (&b, c->files, c->nfiles);
  put_strings (&b, "volumes", c->volumes, c->nvolumes);
  put_strings (&b, "pod_sysctls", c->pod_sysctls, c->npod_sysctls);
  put_bound_dirs (&b, "empty_dirs", "name", c->empty_dir_paths,
                  c->empty_dir_names, c->empty_dir_sizes, c->nempty_dirs);
  put_bound_dirs (&b, "shares", "source", c->share_paths, c->share_sources,
                  NULL, c->nshares);
  if (c->termination_log != NULL)
    {
      strbuf_puts (&b, ",\"termination_log\":");
      strbuf_json_string (&b, c->termination_log, strlen (c->termination_log));
    }
  if (c->pod_hostname != NULL)
    {
      strbuf_puts (&b, ",\"pod_hostname\":");
      strbuf_json_string (&b, c->pod_hostname, strlen (c->pod_hostname));
    }
  return strbuf_detach (&b);
}

char *
bridge_create_body (const char *members, const uint32_t *layers, size_t n)
{
  strbuf b = STRBUF_INIT;
  strbuf_putc (&b, '{');
  strbuf_puts (&b, members);
  strbuf_puts (&b, ",\"layers\":[");
  for (size_t i = 0; i < n; i++)
    strbuf_printf (&b, i ? ",%u" : "%u", layers[i]);
  strbuf_puts (&b, "]}");
  return strbuf_detach (&b);
}

char *
bridge_disk_remove_body (uint32_t target)
{
  return xasprintf (
      "{\"type\":\"" BRIDGE_REQ_DISK_REMOVE "\",\"scsi_target\":%u}", target);
}

char *
bridge_update_body (const char *container, const char *resources, size_t len)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b, "{\"type\":\"" BRIDGE_REQ_UPDATE "\",\"container\":");
  strbuf_json_string (&b, container, strlen (container));
  strbuf_puts (&b, ",\"spec\":");
  strbuf_json_string (&b, resources, len);
  strbuf_putc (&b, '}');
  return strbuf_detach (&b);
}

char *
bridge_exec_body (const char *container, uint32_t process, const char *spec,
                  size_t spec_len)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b, "{\"type\":\"" BRIDGE_REQ_EXEC "\",\"container\":");
  strbuf_json_string (&b, container, strlen (container));
  strbuf_printf (&b, ",\"process\":%u,\"spec\":", process);
  strbuf_json_string (&b, spec, spec_len);
  strbuf_putc (&b, '}');
  return strbuf_detach (&b);
}

char *
bridge_container_body (const char *type, const char *container)
{
  strbuf b = STRBUF_INIT;
  strbuf_printf (&b, "{\"type\":\"%s\",\"container\":", type);
  strbuf_json_string (&b, container, strlen (container));
  strbuf_putc (&b, '}');
  return strbuf_detach (&b);
}

char *
bridge_start_body (uint32_t process)
{
  return xasprintf ("{\"type\":\"" BRIDGE_REQ_START "\",\"process\":%u}",
                    process);
}

char *
bridge_connect_body (uint32_t process, uint16_t port)
{
  return xasprintf ("{\"type\":\"" BRIDGE_REQ_CONNECT
                    "\",\"process\":%u,\"port\":%u}",
                    process, port);
}

char *
bridge_signal_body (uint32_t process, uint32_t signal, bool all)
{
  return xasprintf ("{\"type\":\"" BRIDGE_REQ_SIGNAL
                    "\",\"process\":%u,\"signal\":%u,"
                    "\"all\":%s}",
                    process, signal, all ? "true" : "false");
}

char *
bridge_resize_body (uint32_t process, uint32_t width, uint32_t height)
{
  return xasprintf ("{\"type\":\"" BRIDGE_REQ_RESIZE
                    "\",\"process\":%u,\"width\":%u,"
                    "\"height\":%u}",
                    process, width, height);
}

char *
bridge_settime_body (uint64_t unix_ns)
{
  return xasprintf ("{\"type\":\"" BRIDGE_REQ_SETTIME "\",\"unix_ns\":%llu}",
                    (unsigned long long) unix_ns);
}

char *
bridge_network_body (const char *config, size_t len)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b, "{\"type\":\"" BRIDGE_REQ_NETWORK "\",\"spec\":");
  strbuf_json_string (&b, config, len);
  strbuf_putc (&b, '}');
  return strbuf_detach (&b);
}
