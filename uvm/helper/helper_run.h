/* The shim's own executable run as a helper process for work that may not
   run on the event loop (it blocks, or needs another namespace): started
   with uv_spawn, its standard output kept in a memfd, and its answer, one
   JSON value, parsed when it exits.  A helper answers either its result or
   {"error": {"code": <gRPC code>, "message": "..."}} (helper_answer_error),
   so an error keeps its code across the process boundary.  */
#ifndef LCOW_UVM_HELPER_HELPER_RUN_H
#define LCOW_UVM_HELPER_HELPER_RUN_H

#include <stdio.h>
#include <uv.h>

#include "proto/base/error.h"
#include "proto/base/json.h"

/* What a helper may print: more is cut (and is then no JSON value).  */
#define HELPER_ANSWER_MAX (256 * 1024)

struct helper_run;

/* The helper's answer (err NULL), or why there is none: its error answer,
   a spawn failure, an exit without an answer, a signal.  answer is the
   caller's only for the call.  */
typedef void (*helper_run_fn) (void *data, const json_value *answer,
                               const shim_error *err);

/* argv[0] is the executable; argv is NULL-terminated.  done is called once,
   from the loop, unless helper_run_kill is called first.  */
int helper_run_start (uv_loop_t *loop, char *const argv[], helper_run_fn done,
                      void *data, struct helper_run **out, shim_error **err);
/* Kills the helper; done is not called.  */
void helper_run_kill (struct helper_run *r);

/* In the helper: err as its answer on out.  */
void helper_answer_error (FILE *out, const shim_error *err);

#endif
