/* See helper_run.h.  */
#include "helper_run.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

static const struct json_limits answer_limits = { 16, 4 * HELPER_ANSWER_MAX };

struct helper_run
{
  uv_process_t proc;
  int out_fd;
  char *name; /* argv[0] argv[1], for errors */
  helper_run_fn done;
  void *data;
  bool killed;
};

static void
run_free (uv_handle_t *h)
{
  struct helper_run *r = h->data;
  if (r->out_fd >= 0)
    close (r->out_fd);
  free (r->name);
  free (r);
}

/* The answer in out (NUL-terminated), as a value or an error.  */
static json_value *
read_answer (const struct helper_run *r, const char *out, size_t len,
             int64_t status, int term_signal, shim_error **err)
{
  json_value *v = len > 0 ? json_parse (out, len, &answer_limits, NULL) : NULL;
  const json_value *e = v != NULL ? json_get (v, "error") : NULL;
  if (e != NULL)
    {
      const char *msg = json_get_string (e, "message");
      uint64_t code = json_get_u64 (e, "code");
      shim_error_set (err,
                      code > 0 && code <= GRPC_UNAUTHENTICATED ? (int) code
                                                               : GRPC_INTERNAL,
                      "%s", msg != NULL ? msg : "(no message)");
    }
  else if (v == NULL || status != 0 || term_signal != 0)
    shim_error_set (err, GRPC_INTERNAL,
                    "%s: ended with status %lld, signal %d, %s", r->name,
                    (long long) status, term_signal,
                    v == NULL ? "without an answer" : "after its answer");
  if (*err != NULL)
    {
      json_free (v);
      return NULL;
    }
  return v;
}

static void
on_helper_exit (uv_process_t *proc, int64_t status, int term_signal)
{
  struct helper_run *r = proc->data;
  uv_close ((uv_handle_t *) proc, run_free);
  if (r->killed)
    return;
  char *out = xmalloc (HELPER_ANSWER_MAX + 1);
  ssize_t n = pread (r->out_fd, out, HELPER_ANSWER_MAX, 0);
  size_t len = n > 0 ? (size_t) n : 0;
  out[len] = '\0';
  shim_error *err = NULL;
  json_value *v = read_answer (r, out, len, status, term_signal, &err);
  free (out);
  r->done (r->data, v, err);
  json_free (v);
  shim_error_free (err);
}

int
helper_run_start (uv_loop_t *loop, char *const argv[], helper_run_fn done,
                  void *data, struct helper_run **out, shim_error **err)
{
  int fd = memfd_create ("helper-answer", MFD_CLOEXEC);
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "memfd_create");
  struct helper_run *r = xzalloc (sizeof *r);
  r->out_fd = fd;
  r->name = xasprintf ("%s %s", argv[0], argv[1] ? argv[1] : "");
  r->done = done;
  r->data = data;
  r->proc.data = r;
  uv_stdio_container_t stdio[3] = { { UV_IGNORE, { 0 } },
                                    { UV_INHERIT_FD, { .fd = fd } },
                                    { UV_INHERIT_FD, { .fd = 2 } } };
  uv_process_options_t opts = {
    .exit_cb = on_helper_exit,
    .file = argv[0],
    .args = (char **) argv,
    .stdio_count = 3,
    .stdio = stdio,
  };
  int rc = uv_spawn (loop, &r->proc, &opts);
  if (rc < 0)
    {
      shim_error_set (err, GRPC_INTERNAL, "spawn %s: %s", r->name,
                      uv_strerror (rc));
      /* A failed spawn's handle still closes through the loop.  */
      uv_close ((uv_handle_t *) &r->proc, run_free);
      return -1;
    }
  if (out != NULL)
    *out = r;
  return 0;
}

void
helper_run_kill (struct helper_run *r)
{
  if (r == NULL)
    return;
  r->killed = true;
  uv_process_kill (&r->proc, SIGKILL);
}

void
helper_answer_error (FILE *out, const shim_error *err)
{
  strbuf b = STRBUF_INIT;
  strbuf_printf (&b, "{\"error\":{\"code\":%d,\"message\":", err->code);
  strbuf_json_string (&b, err->msg, strlen (err->msg));
  strbuf_puts (&b, "}}\n");
  fwrite (b.data, 1, b.len, out);
  strbuf_release (&b);
}
