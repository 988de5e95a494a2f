#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void
reserve (strbuf *sb, size_t extra)
{
  size_t need = sb->len + extra + 1;
  if (need <= sb->cap)
    return;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < need)
    cap *= 2;
  sb->data = xrealloc (sb->data, cap);
  sb->cap = cap;
}

void
strbuf_append (strbuf *sb, const void *data, size_t n)
{
  reserve (sb, n);
  if (n)
    memcpy (sb->data + sb->len, data, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void
strbuf_puts (strbuf *sb, const char *s)
{
  strbuf_append (sb, s, strlen (s));
}

void
strbuf_putc (strbuf *sb, char c)
{
  strbuf_append (sb, &c, 1);
}

void
strbuf_vprintf (strbuf *sb, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy (ap2, ap);
  int n = vsnprintf (NULL, 0, fmt, ap);
  if (n > 0)
    {
      reserve (sb, (size_t) n);
      vsnprintf (sb->data + sb->len, (size_t) n + 1, fmt, ap2);
      sb->len += (size_t) n;
    }
  va_end (ap2);
}

void
strbuf_printf (strbuf *sb, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  strbuf_vprintf (sb, fmt, ap);
  va_end (ap);
}

void
strbuf_list_printf (strbuf *sb, const char *fmt, ...)
{
  if (sb->len > 0)
    strbuf_puts (sb, "; ");
  va_list ap;
  va_start (ap, fmt);
  strbuf_vprintf (sb, fmt, ap);
  va_end (ap);
}

void
strbuf_add_token (strbuf *sb, const char *s)
{
  if (sb->len > 0)
    strbuf_putc (sb, ' ');
  strbuf_puts (sb, s);
}

void
strbuf_json_string (strbuf *sb, const char *s, size_t n)
{
  strbuf_putc (sb, '"');
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      switch (c)
        {
        case '"':
          strbuf_puts (sb, "\\\"");
          break;
        case '\\':
          strbuf_puts (sb, "\\\\");
          break;
        case '\n':
          strbuf_puts (sb, "\\n");
          break;
        case '\r':
          strbuf_puts (sb, "\\r");
          break;
        case '\t':
          strbuf_puts (sb, "\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            strbuf_printf (sb, "\\u%04x", c);
          else
            strbuf_putc (sb, (char) c);
        }
    }
  strbuf_putc (sb, '"');
}

void
strbuf_reset (strbuf *sb)
{
  sb->len = 0;
  if (sb->data)
    sb->data[0] = '\0';
}

char *
strbuf_detach (strbuf *sb)
{
  char *p = sb->data ? sb->data : xstrdup ("");
  sb->data = NULL;
  sb->len = sb->cap = 0;
  return p;
}

void
strbuf_release (strbuf *sb)
{
  free (sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}
