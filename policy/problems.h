/* A list of policy violations, each "<item> <reason>", joined into the one
   message a rejection carries.  */
#ifndef LCOW_POLICY_PROBLEMS_H
#define LCOW_POLICY_PROBLEMS_H

#include <stddef.h>

#include "proto/base/error.h"
#include "proto/base/strbuf.h"

struct policy_problems
{
  strbuf text;
  size_t count;
};

void policy_problem_add (struct policy_problems *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* With problems: sets *err to InvalidArgument "<subject>: N problem(s):
   a; b; c" (past 64 KiB of text the rest are counted, not listed) and
   returns -1.  Without: returns 0.  Releases p either way.  */
int policy_problems_to_error (struct policy_problems *p, const char *subject,
                              shim_error **err);
void policy_problems_release (struct policy_problems *p);

#endif
