#include "stdio_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/bridge/bridge_protocol.h"

struct fifo
{
  uv_pipe_t pipe;
  struct stdio_relay *owner;
  bool open;
};

struct out_write
{
  uv_write_t req;
  struct stdio_relay *owner;
  uint8_t stream;
  uint32_t len;
};

struct stdio_relay
{
  const struct stdio_relay_ops *ops;
  void *ctx;
  struct fifo in, out[2];
  /* Writes in flight per output stream, and whether its end arrived.  */
  size_t pending[2];
  bool ended[2];
  /* Stdin bytes sent that the guest has not credited.  */
  uint32_t in_unacked;
  bool in_reading, in_close_requested, in_done;
  /* The end of stdin was sent by a migration's source.  */
  bool in_end_sent;
  int handles;
  bool closing;
  void (*drained_fn) (void *data);
  void *drained_data;
  uv_loop_t *loop;
  /* Bounds a drain (stdio_relay_when_drained_within); made when asked.  */
  uv_timer_t drain_timer;
  bool has_drain_timer;
  char in_buf[BRIDGE_DATA_MAX];
};

static void
maybe_free (struct stdio_relay *r)
{
  if (r->closing && r->handles == 0)
    free (r);
}

static void
on_fifo_closed (uv_handle_t *h)
{
  struct fifo *f = h->data;
  f->owner->handles--;
  maybe_free (f->owner);
}

static void
close_fifo (struct fifo *f)
{
  if (!f->open)
    return;
  f->open = false;
  uv_close ((uv_handle_t *) &f->pipe, on_fifo_closed);
}

/* Output FIFOs are opened O_RDWR: that never blocks without a peer, and a
   reader that comes late still gets everything.  Stdin is O_RDONLY: the
   client closing its end is the end of stdin; before a writer ever opened
   it, Linux reports neither data nor hangup, so nothing is read early.  */
static int
open_fifo (uv_loop_t *loop, struct stdio_relay *r, struct fifo *f,
           const char *path, bool input, shim_error **err)
{
  f->owner = r;
  if (path == NULL || path[0] != '/')
    return 0;
  int fd = open (path, (input ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "open %s", path);
  uv_pipe_init (loop, &f->pipe, 0);
  f->pipe.data = f;
  r->handles++;
  f->open = true;
  if (uv_pipe_open (&f->pipe, fd) < 0)
    {
      close (fd);
      close_fifo (f);
      return shim_error_set (err, GRPC_INTERNAL, "%s is not a FIFO", path);
    }
  return 0;
}

static bool
drained (const struct stdio_relay *r)
{
  return r->pending[0] == 0 && r->pending[1] == 0;
}

bool
stdio_relay_drained (const struct stdio_relay *r)
{
  return drained (r);
}

static void
call_drained (struct stdio_relay *r)
{
  void (*fn) (void *) = r->drained_fn;
  r->drained_fn = NULL;
  if (r->has_drain_timer)
    uv_timer_stop (&r->drain_timer);
  fn (r->drained_data);
}

static void
check_drained (struct stdio_relay *r)
{
  if (r->drained_fn != NULL && drained (r))
    call_drained (r);
}

static void
on_drain_timeout (uv_timer_t *t)
{
  struct stdio_relay *r = t->data;
  if (r->drained_fn != NULL && !r->closing)
    call_drained (r);
}

static void
on_timer_closed (uv_handle_t *h)
{
  struct stdio_relay *r = h->data;
  r->handles--;
  maybe_free (r);
}

/* ---- output ----------------------------------------------------------- */

static void
on_out_written (uv_write_t *w, int status)
{
  struct out_write *ow = (struct out_write *) w;
  struct stdio_relay *r = ow->owner;
  int i = ow->stream - BRIDGE_STDOUT;
  (void) status; /* a reader that left loses the bytes; the guest goes on */
  r->pending[i]--;
  if (!r->closing)
    {
      r->ops->credit (r->ctx, ow->stream, ow->len);
      if (r->ended[i] && r->pending[i] == 0)
        close_fifo (&r->out[i]);
      check_drained (r);
    }
  free (ow);
}

void
stdio_relay_output (struct stdio_relay *r, uint8_t stream,
                    const uint8_t *bytes, size_t len)
{
  if (stream != BRIDGE_STDOUT && stream != BRIDGE_STDERR)
    return;
  int i = stream - BRIDGE_STDOUT;
  if (len == 0)
    {
      r->ended[i] = true;
      if (r->pending[i] == 0)
        close_fifo (&r->out[i]);
      return;
    }
  if (!r->out[i].open)
    {
      r->ops->credit (r->ctx, stream, (uint32_t) len);
      return;
    }
  struct out_write *ow = xmalloc (sizeof *ow + len);
  ow->owner = r;
  ow->stream = stream;
  ow->len = (uint32_t) len;
  memcpy (ow + 1, bytes, len);
  uv_buf_t b = uv_buf_init ((char *) (ow + 1), (unsigned) len);
  r->pending[i]++;
  if (uv_write (&ow->req, (uv_stream_t *) &r->out[i].pipe, &b, 1,
                on_out_written)
      < 0)
    {
      r->pending[i]--;
      free (ow);
      r->ops->credit (r->ctx, stream, (uint32_t) len);
    }
}

/* ---- stdin ------------------------------------------------------------ */

static void update_stdin (struct stdio_relay *r);

static void
finish_stdin (struct stdio_relay *r)
{
  if (r->in_done)
    return;
  r->in_done = true;
  close_fifo (&r->in);
  r->ops->send_stdin (r->ctx, NULL, 0);
}

static void
on_in_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct stdio_relay *r = ((struct fifo *) h->data)->owner;
  (void) suggested;
  size_t room = BRIDGE_WINDOW - r->in_unacked;
  *buf = uv_buf_init (
      r->in_buf,
      (unsigned) (room < sizeof r->in_buf ? room : sizeof r->in_buf));
}

static void
on_in_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct stdio_relay *r = ((struct fifo *) s->data)->owner;
  if (n < 0)
    {
      finish_stdin (r);
      return;
    }
  if (n > 0)
    {
      r->in_unacked += (uint32_t) n;
      r->ops->send_stdin (r->ctx, buf->base, (size_t) n);
    }
  update_stdin (r);
}

/* Reads while the guest has room; ends once asked and the FIFO is empty.  */
static void
update_stdin (struct stdio_relay *r)
{
  if (!r->in.open || r->in_done)
    return;
  int avail = 0;
  if (r->in_close_requested
      && (ioctl (r->in.pipe.io_watcher.fd, FIONREAD, &avail) < 0
          || avail == 0))
    {
      finish_stdin (r);
      return;
    }
  bool want = r->in_unacked < BRIDGE_WINDOW;
  if (want && !r->in_reading)
    uv_read_start ((uv_stream_t *) &r->in.pipe, on_in_alloc, on_in_read);
  else if (!want && r->in_reading)
    uv_read_stop ((uv_stream_t *) &r->in.pipe);
  r->in_reading = want;
}

void
stdio_relay_stdin_credit (struct stdio_relay *r, uint32_t n)
{
  r->in_unacked = n > r->in_unacked ? 0 : r->in_unacked - n;
  update_stdin (r);
}

void
stdio_relay_close_stdin (struct stdio_relay *r)
{
  r->in_close_requested = true;
  if (!r->in.open)
    finish_stdin (r);
  else
    update_stdin (r);
}

/* ---- lifecycle -------------------------------------------------------- */

int
stdio_relay_open (uv_loop_t *loop, const char *stdin_path,
                  const char *stdout_path, const char *stderr_path,
                  const struct stdio_relay_ops *ops, void *ctx,
                  struct stdio_relay **out, shim_error **err)
{
  struct stdio_relay *r = xzalloc (sizeof *r);
  r->ops = ops;
  r->ctx = ctx;
  r->loop = loop;
  if (open_fifo (loop, r, &r->out[0], stdout_path, false, err) < 0
      || open_fifo (loop, r, &r->out[1], stderr_path, false, err) < 0
      || open_fifo (loop, r, &r->in, stdin_path, true, err) < 0)
    {
      stdio_relay_close (r);
      return -1;
    }
  if (!r->in.open)
    r->in_done = true; /* the caller ends the guest's stdin itself */
  *out = r;
  return 0;
}

void
stdio_relay_start (struct stdio_relay *r)
{
  if (r->in_done && !r->in_end_sent)
    r->ops->send_stdin (r->ctx, NULL, 0);
  else
    update_stdin (r);
}

void
stdio_relay_stdin_state (const struct stdio_relay *r, uint32_t *unacked,
                         bool *ended)
{
  *unacked = r->in_unacked;
  *ended = r->in_done;
}

void
stdio_relay_take_stdin (struct stdio_relay *r, uint32_t unacked, bool ended)
{
  r->in_unacked = unacked < BRIDGE_WINDOW ? unacked : BRIDGE_WINDOW;
  if (!ended)
    return;
  r->in_end_sent = true;
  r->in_done = true;
  close_fifo (&r->in);
}

void
stdio_relay_when_drained (struct stdio_relay *r, void (*fn) (void *data),
                          void *data)
{
  r->drained_fn = fn;
  r->drained_data = data;
  check_drained (r);
}

void
stdio_relay_when_drained_within (struct stdio_relay *r, uint64_t ms,
                                 void (*fn) (void *data), void *data)
{
  if (!r->has_drain_timer)
    {
      uv_timer_init (r->loop, &r->drain_timer);
      r->drain_timer.data = r;
      r->has_drain_timer = true;
      r->handles++;
    }
  uv_timer_start (&r->drain_timer, on_drain_timeout, ms, 0);
  stdio_relay_when_drained (r, fn, data);
}

void
stdio_relay_close (struct stdio_relay *r)
{
  if (r == NULL)
    return;
  r->closing = true;
  r->drained_fn = NULL;
  if (r->has_drain_timer)
    {
      r->has_drain_timer = false;
      uv_close ((uv_handle_t *) &r->drain_timer, on_timer_closed);
    }
  close_fifo (&r->in);
  close_fifo (&r->out[0]);
  close_fifo (&r->out[1]);
  maybe_free (r);
}
