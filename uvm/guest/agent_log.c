#include "agent_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_io.h"
#include "proto/base/strbuf.h"

/* Longest log line the agent writes.  */
#define LOG_LINE_MAX 8192

static const char *const level_names[]
    = { "trace", "debug", "info", "warning", "error", "fatal", "panic" };

static enum agent_level min_level = L_DEBUG;
static bool log_json;

int
agent_log_parse_level (const char *s, enum agent_level *out)
{
  for (int i = 0; i <= L_PANIC; i++)
    if (strcmp (s, level_names[i]) == 0
        || (i == L_WARN && strcmp (s, "warn") == 0))
      {
        *out = (enum agent_level) i;
        return 0;
      }
  return -1;
}

void
agent_log_setup (enum agent_level min, bool json)
{
  min_level = min;
  log_json = json;
}

static void
now_rfc3339 (char *out, size_t cap)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  size_t n = strftime (out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (out + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

void
agent_log_fields (enum agent_level lvl, const char *msg, ...)
{
  if (lvl < min_level)
    return;
  char when[64];
  now_rfc3339 (when, sizeof when);
  strbuf line = STRBUF_INIT;
  if (log_json)
    strbuf_printf (&line, "{\"level\":\"%s\",\"msg\":", level_names[lvl]);
  else
    strbuf_printf (&line, "time=\"%s\" level=%s msg=", when, level_names[lvl]);
  strbuf_json_string (&line, msg, strlen (msg));
  if (log_json)
    strbuf_printf (&line, ",\"time\":\"%s\"", when);
  va_list ap;
  va_start (ap, msg);
  for (const char *k; (k = va_arg (ap, const char *)) != NULL;)
    {
      const char *v = va_arg (ap, const char *);
      strbuf_printf (&line, log_json ? ",\"%s\":" : " %s=", k);
      strbuf_json_string (&line, v, strlen (v));
    }
  va_end (ap);
  strbuf_puts (&line, log_json ? "}\n" : "\n");
  /* One entry stays one bounded line, whatever a field holds.  */
  if (line.len > LOG_LINE_MAX)
    {
      line.len = LOG_LINE_MAX;
      line.data[line.len - 1] = '\n';
    }
  write_all (STDERR_FILENO, line.data, line.len);
  strbuf_release (&line);
}
