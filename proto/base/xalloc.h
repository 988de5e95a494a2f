/* Allocation that never returns NULL.  The shim treats running out of memory
   as fatal (as crun does): every caller would otherwise need an error path
   it could not meaningfully take.  */
#ifndef LCOW_XALLOC_H
#define LCOW_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc (size_t n);
void *xzalloc (size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
void *xmemdup (const void *p, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
char *xvasprintf (const char *fmt, va_list ap);

#endif
