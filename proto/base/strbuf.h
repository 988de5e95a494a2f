/* A growable byte buffer, always NUL-terminated, for building strings and
   wire messages.  */
#ifndef LCOW_STRBUF_H
#define LCOW_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strbuf
{
  char *data;
  size_t len;
  size_t cap;
} strbuf;

#define STRBUF_INIT                                                           \
  {                                                                           \
    NULL, 0, 0                                                                \
  }

void strbuf_append (strbuf *sb, const void *data, size_t n);
void strbuf_puts (strbuf *sb, const char *s);
void strbuf_putc (strbuf *sb, char c);
void strbuf_printf (strbuf *sb, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
void strbuf_vprintf (strbuf *sb, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));
/* Appends an item to a "; "-separated list (what a refusal names).  */
void strbuf_list_printf (strbuf *sb, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* Appends s with a single space before it unless the buffer is empty.  */
void strbuf_add_token (strbuf *sb, const char *s);
/* Appends s as a JSON string literal (quotes included).  */
void strbuf_json_string (strbuf *sb, const char *s, size_t n);
void strbuf_reset (strbuf *sb);
/* Returns the buffer (never NULL) and leaves sb empty.  */
char *strbuf_detach (strbuf *sb);
void strbuf_release (strbuf *sb);

static inline void
cleanup_strbuf_fn (strbuf *sb)
{
  strbuf_release (sb);
}
#define cleanup_strbuf __attribute__ ((cleanup (cleanup_strbuf_fn)))

#endif
