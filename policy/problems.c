#include "problems.h"

#include <stdarg.h>
#include <string.h>

/* Past this much text, problems are counted, not listed: a request that
   names thousands of bad items (a lowerdir of relative paths, say) must not
   make an error many times its own size.  */
#define PROBLEMS_TEXT_MAX (64u << 10)
#define PROBLEMS_UNLISTED "; the rest not listed"

void
policy_problem_add (struct policy_problems *p, const char *fmt, ...)
{
  if (p->text.len >= PROBLEMS_TEXT_MAX)
    {
      size_t n = sizeof PROBLEMS_UNLISTED - 1;
      if (p->text.len < n
          || memcmp (p->text.data + p->text.len - n, PROBLEMS_UNLISTED, n)
                 != 0)
        strbuf_puts (&p->text, PROBLEMS_UNLISTED);
      p->count++;
      return;
    }
  if (p->count++ > 0)
    strbuf_puts (&p->text, "; ");
  va_list ap;
  va_start (ap, fmt);
  strbuf_vprintf (&p->text, fmt, ap);
  va_end (ap);
}

int
policy_problems_to_error (struct policy_problems *p, const char *subject,
                          shim_error **err)
{
  int ret = 0;
  if (p->count > 0)
    ret = shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s: %zu problem%s: %s",
                          subject, p->count, p->count == 1 ? "" : "s",
                          p->text.data);
  policy_problems_release (p);
  return ret;
}

void
policy_problems_release (struct policy_problems *p)
{
  strbuf_release (&p->text);
  p->count = 0;
}
