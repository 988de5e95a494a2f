#include "problems.h"

#include <stdarg.h>

void
policy_problem_add (struct policy_problems *p, const char *fmt, ...)
{
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
