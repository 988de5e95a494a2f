#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

/* What the log keeps when the reader is slow: enough for bursts, bounded so
   a stalled containerd cannot grow the shim.  */
#define LOG_BACKLOG_MAX (256 * 1024)
#define LOG_CONTEXT_MAX 4

static int log_out_fd = -1;
static enum log_level log_threshold = LOG_LEVEL_INFO;
static strbuf backlog = STRBUF_INIT;
static uint64_t dropped;
static struct
{
  char *key;
  char *value;
} context[LOG_CONTEXT_MAX];
static size_t ncontext;

static const char *const level_names[] = {
  "error", "warning", "info", "debug", "trace",
};

void
log_set_fd (int fd)
{
  if (log_out_fd >= 0)
    close (log_out_fd);
  log_out_fd = fd;
  if (fd >= 0)
    fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
}

int
log_fd (void)
{
  return log_out_fd;
}

void
log_set_level (enum log_level level)
{
  log_threshold = level;
}

enum log_level
log_get_level (void)
{
  return log_threshold;
}

void
log_add_context (const char *key, const char *value)
{
  if (ncontext == LOG_CONTEXT_MAX)
    return;
  context[ncontext].key = xstrdup (key);
  context[ncontext].value = xstrdup (value);
  ncontext++;
}

int
log_level_parse (const char *name, enum log_level *out)
{
  static const struct
  {
    const char *name;
    enum log_level level;
  } table[] = {
    { "panic", LOG_LEVEL_ERROR },  { "fatal", LOG_LEVEL_ERROR },
    { "error", LOG_LEVEL_ERROR },  { "warn", LOG_LEVEL_WARN },
    { "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
    { "debug", LOG_LEVEL_DEBUG },  { "trace", LOG_LEVEL_TRACE },
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcasecmp (name, table[i].name) == 0)
      {
        *out = table[i].level;
        return 0;
      }
  return -1;
}

const char *
log_level_name (enum log_level level)
{
  return level_names[level];
}

bool
log_key_byte_ok (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || (c != '\0' && strchr ("-._/@^+", c));
}

/* logrus quotes a value unless every byte is in [A-Za-z0-9-._/@^+].  */
static void
append_value (strbuf *sb, const char *v)
{
  int plain = *v != '\0';
  for (const char *p = v; *p && plain; p++)
    plain = log_key_byte_ok (*p);
  if (plain)
    strbuf_puts (sb, v);
  else
    strbuf_json_string (sb, v, strlen (v));
}

static void
append_field (strbuf *sb, const char *key, const char *value)
{
  strbuf_putc (sb, ' ');
  for (const char *k = key; *k; k++)
    strbuf_putc (sb, log_key_byte_ok (*k) ? *k : '_');
  strbuf_putc (sb, '=');
  append_value (sb, value);
}

size_t
log_flush (void)
{
  if (log_out_fd < 0)
    {
      strbuf_reset (&backlog);
      return 0;
    }
  size_t off = 0;
  while (off < backlog.len)
    {
      ssize_t n = write (log_out_fd, backlog.data + off, backlog.len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      off += (size_t) n;
    }
  if (off == backlog.len)
    strbuf_reset (&backlog);
  else if (off > 0)
    {
      memmove (backlog.data, backlog.data + off, backlog.len - off);
      backlog.len -= off;
      backlog.data[backlog.len] = '\0';
    }
  return backlog.len;
}

void
log_entry (enum log_level level, const char *msg,
           const struct log_field *fields, size_t nfields)
{
  if (level > log_threshold)
    return;

  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char when[64];
  size_t w = strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (when + w, sizeof when - w, ".%09ldZ", ts.tv_nsec);

  strbuf line = STRBUF_INIT;
  strbuf_puts (&line, "time=");
  strbuf_json_string (&line, when, strlen (when));
  strbuf_puts (&line, " level=");
  strbuf_puts (&line, level_names[level]);
  append_field (&line, "msg", msg ? msg : "");
  for (size_t i = 0; i < nfields; i++)
    append_field (&line, fields[i].key,
                  fields[i].value ? fields[i].value : "");
  for (size_t i = 0; i < ncontext; i++)
    append_field (&line, context[i].key, context[i].value);
  strbuf_putc (&line, '\n');

  if (backlog.len + line.len > LOG_BACKLOG_MAX)
    dropped++;
  else
    strbuf_append (&backlog, line.data, line.len);
  strbuf_release (&line);
  log_flush ();
}

void
log_printf (enum log_level level, const char *fmt, ...)
{
  if (level > log_threshold)
    return;
  va_list ap;
  va_start (ap, fmt);
  char *msg = xvasprintf (fmt, ap);
  va_end (ap);
  log_entry (level, msg, NULL, 0);
  free (msg);
}

uint64_t
log_dropped_lines (void)
{
  return dropped;
}

void
log_close (void)
{
  log_flush ();
  log_set_fd (-1);
  strbuf_release (&backlog);
  for (size_t i = 0; i < ncontext; i++)
    {
      free (context[i].key);
      free (context[i].value);
    }
  ncontext = 0;
}
