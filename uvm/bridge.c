/* The host side of the bridge: decoding the guest agent's messages.  */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "proto/json.h"
#include "proto/xalloc.h"

static char *
json_str (const json_value *obj, const char *key)
{
  const json_value *v = json_get (obj, key);
  return xstrdup (v && v->type == JSON_STRING && json_string_is_c (v) ? v->str
                                                                      : "");
}

static uint64_t
json_u64 (const json_value *obj, const char *key)
{
  const json_value *v = json_get (obj, key);
  return v && v->type == JSON_NUMBER && v->str[0] != '-'
             ? strtoull (v->str, NULL, 10)
             : 0;
}

int
bridge_hello_decode (uint8_t frame_type, const uint8_t *body, size_t len,
                     struct bridge_hello *out, shim_error **err)
{
  static const struct json_limits limits = { 16, 4 * BRIDGE_MESSAGE_MAX };
  json_value *v = json_parse ((const char *) body, len, &limits, err);
  if (v == NULL)
    return shim_error_wrap (err, "undecodable bridge message");
  const json_value *type = json_get (v, "type");
  int r;
  if (v->type != JSON_OBJECT || type == NULL || type->type != JSON_STRING)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT,
                        "bridge message without a string \"type\"");
  else if (frame_type == BRIDGE_TYPE_NOTIFY && strcmp (type->str, "hello") == 0)
    {
      out->cmdline = json_str (v, "cmdline");
      out->kernel_release = json_str (v, "kernel_release");
      out->root = json_str (v, "root");
      out->cpus = json_u64 (v, "cpus");
      out->memory_mb = json_u64 (v, "memory_mb");
      out->uptime_ms = json_u64 (v, "uptime_ms");
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
