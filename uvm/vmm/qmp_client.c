#include "qmp_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "proto/base/fd_pass.h"
#include "proto/base/json.h"
#include "proto/base/list.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* A QMP command that takes longer means a wedged QEMU.  */
#define QMP_COMMAND_TIMEOUT_MS 10000
#define QMP_REPLY_MAX (1u << 20)
/* Between connection attempts while QEMU has not made its socket yet.  */
#define QMP_CONNECT_RETRY_MS 10

struct command
{
  struct list link;
  char *text;
  qmp_done_fn done;
  void *data;
  /* Done only once this event about this device follows the reply.  */
  char *until_event;
  char *until_device;
  bool replied;
  /* Sent with the command (SCM_RIGHTS), then closed; -1 if none.  */
  int fd;
};

enum qmp_state
{
  QMP_IDLE,       /* not connected */
  QMP_CONNECTING, /* until the greeting */
  QMP_NEGOTIATING,
  QMP_READY,
  QMP_BROKEN, /* every command fails */
};

struct qmp_client
{
  uv_loop_t *loop;
  char *path;
  uv_pipe_t pipe;
  uv_connect_t connect_req;
  uv_timer_t timer;
  json_parser *parser;
  enum qmp_state state;
  bool pipe_open;
  bool in_flight;
  bool closing;
  int handles;
  char *broken_why;
  qmp_event_fn on_event;
  void *event_data;
  uint64_t connect_deadline;
  struct list queue;
  char read_buf[4096];
};

static void pump (struct qmp_client *q);

static void
finish_head (struct qmp_client *q, const json_value *ret,
             const shim_error *err)
{
  q->in_flight = false;
  uv_timer_stop (&q->timer);
  if (list_empty (&q->queue))
    return;
  struct command *c = list_entry (q->queue.next, struct command, link);
  list_remove (&c->link);
  c->done (c->data, err == NULL ? ret : NULL, err);
  if (c->fd >= 0)
    close (c->fd);
  free (c->text);
  free (c->until_event);
  free (c->until_device);
  free (c);
}

static struct command *
head (struct qmp_client *q)
{
  return list_empty (&q->queue)
             ? NULL
             : list_entry (q->queue.next, struct command, link);
}

static void
on_closed (uv_handle_t *h)
{
  struct qmp_client *q = h->data;
  if (--q->handles == 0)
    {
      json_parser_free (q->parser);
      free (q->broken_why);
      free (q->path);
      free (q);
    }
}

/* Fails the command in flight and everything queued after it.  */
static void
break_client (struct qmp_client *q, const char *why)
{
  if (q->state == QMP_BROKEN)
    return;
  q->state = QMP_BROKEN;
  q->broken_why = xstrdup (why);
  if (q->pipe_open)
    {
      uv_read_stop ((uv_stream_t *) &q->pipe);
      uv_close ((uv_handle_t *) &q->pipe, on_closed);
      q->pipe_open = false;
    }
  shim_error e = { GRPC_UNAVAILABLE, xasprintf ("QMP: %s", why) };
  while (!list_empty (&q->queue))
    finish_head (q, NULL, &e);
  free (e.msg);
}

static void
on_written (uv_write_t *w, int status)
{
  free (w->data);
  free (w);
  (void) status; /* a failed write shows up as a read error */
}

static void
send_text (struct qmp_client *q, const char *text)
{
  uv_write_t *w = xzalloc (sizeof *w);
  w->data = xstrdup (text);
  uv_buf_t b = uv_buf_init (w->data, (unsigned) strlen (text));
  if (uv_write (w, (uv_stream_t *) &q->pipe, &b, 1, on_written) < 0)
    {
      free (w->data);
      free (w);
      break_client (q, "write failed");
    }
}

/* The command and its fd in one sendmsg.  Commands go one at a time, so
   nothing is queued before it: a short message on a connected socket
   either goes whole or the client is broken.  */
static void
send_with_fd (struct qmp_client *q, struct command *c)
{
  uv_os_fd_t sock;
  size_t len = strlen (c->text);
  ssize_t n = -1;
  if (uv_stream_get_write_queue_size ((uv_stream_t *) &q->pipe) == 0
      && uv_fileno ((uv_handle_t *) &q->pipe, &sock) == 0)
    n = fd_pass_send (sock, c->text, len, c->fd);
  if (n != (ssize_t) len)
    break_client (q, "cannot pass a file to QEMU");
}

/* No reply means a wedged QEMU; no event after a reply only that the
   guest did not cooperate (an unplug it never acknowledged).  */
static void
on_timeout (uv_timer_t *t)
{
  struct qmp_client *q = t->data;
  struct command *c = head (q);
  if (c == NULL || !c->replied)
    {
      break_client (q, "no reply within the command timeout");
      return;
    }
  shim_error e
      = { GRPC_DEADLINE_EXCEEDED,
          xasprintf ("QMP: no %s event for %s within %d ms", c->until_event,
                     c->until_device, QMP_COMMAND_TIMEOUT_MS) };
  finish_head (q, NULL, &e);
  free (e.msg);
  pump (q);
}

static bool
is_awaited_event (const struct command *c, const json_value *v)
{
  const json_value *name = json_get (v, "event");
  const json_value *device = json_get (json_get (v, "data"), "device");
  return c != NULL && c->replied && name != NULL && name->type == JSON_STRING
         && strcmp (name->str, c->until_event) == 0 && device != NULL
         && device->type == JSON_STRING
         && strcmp (device->str, c->until_device) == 0;
}

static void
pump (struct qmp_client *q)
{
  if (q->state != QMP_READY || q->in_flight || list_empty (&q->queue))
    return;
  struct command *c = head (q);
  q->in_flight = true;
  uv_timer_start (&q->timer, on_timeout, QMP_COMMAND_TIMEOUT_MS, 0);
  if (c->fd >= 0)
    send_with_fd (q, c);
  else
    send_text (q, c->text);
}

static void
on_value (void *ctx, json_value *v)
{
  struct qmp_client *q = ctx;
  const json_value *err = json_get (v, "error");
  if (v->type != JSON_OBJECT)
    ;
  else if (json_get (v, "event") != NULL)
    {
      const json_value *name = json_get (v, "event");
      if (q->on_event != NULL && name->type == JSON_STRING
          && json_string_is_c (name))
        q->on_event (q->event_data, name->str, json_get (v, "data"));
      if (q->state == QMP_READY && q->in_flight
          && is_awaited_event (head (q), v))
        {
          finish_head (q, NULL, NULL);
          pump (q);
        }
    }
  else if (q->state == QMP_CONNECTING && json_get (v, "QMP") != NULL)
    {
      q->state = QMP_NEGOTIATING;
      send_text (q, "{\"execute\":\"qmp_capabilities\"}\n");
    }
  else if (q->state == QMP_NEGOTIATING)
    {
      if (err != NULL)
        break_client (q, "capabilities negotiation refused");
      else
        {
          q->state = QMP_READY;
          pump (q);
        }
    }
  else if (q->state == QMP_READY && q->in_flight)
    {
      struct command *c = head (q);
      if (err == NULL && c != NULL && c->until_event != NULL)
        {
          /* The reply only started it; the timeout covers the wait.  */
          c->replied = true;
          json_free (v);
          return;
        }
      if (err == NULL)
        finish_head (q, json_get (v, "return"), NULL);
      else
        {
          const json_value *desc = json_get (err, "desc");
          shim_error e
              = { GRPC_INTERNAL,
                  xasprintf ("QMP: %s", desc && desc->type == JSON_STRING
                                            ? desc->str
                                            : "command failed") };
          finish_head (q, NULL, &e);
          free (e.msg);
        }
      pump (q);
    }
  json_free (v);
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct qmp_client *q = h->data;
  (void) suggested;
  *buf = uv_buf_init (q->read_buf, sizeof q->read_buf);
}

static void
on_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct qmp_client *q = s->data;
  if (n < 0)
    {
      break_client (q, "QEMU closed the connection");
      return;
    }
  shim_error *err = NULL;
  if (json_parser_feed (q->parser, buf->base, (size_t) n, &err) < 0)
    {
      break_client (q, err->msg);
      shim_error_free (err);
    }
}

static void start_connect (struct qmp_client *q);

static void
on_retry_timer (uv_timer_t *t)
{
  start_connect (t->data);
}

static void
on_pipe_closed_for_retry (uv_handle_t *h)
{
  struct qmp_client *q = h->data;
  /* Not closed meanwhile: the timer is still there.  */
  if (q->state == QMP_CONNECTING)
    uv_timer_start (&q->timer, on_retry_timer, QMP_CONNECT_RETRY_MS, 0);
  on_closed (h);
}

static void
on_connect (uv_connect_t *req, int status)
{
  struct qmp_client *q = req->data;
  if (q->state == QMP_BROKEN)
    return;
  /* A QEMU just started may not have made its socket yet.  */
  if ((status == UV_ENOENT || status == UV_ECONNREFUSED)
      && uv_now (q->loop) < q->connect_deadline)
    {
      q->pipe_open = false;
      uv_close ((uv_handle_t *) &q->pipe, on_pipe_closed_for_retry);
      return;
    }
  if (status < 0)
    {
      break_client (q, uv_strerror (status));
      return;
    }
  uv_read_start ((uv_stream_t *) &q->pipe, on_alloc, on_read);
}

static void
start_connect (struct qmp_client *q)
{
  uv_pipe_init (q->loop, &q->pipe, 0);
  q->pipe.data = q;
  q->pipe_open = true;
  q->handles++;
  q->connect_req.data = q;
  uv_pipe_connect (&q->connect_req, &q->pipe, q->path, on_connect);
}

static void
connect_once (struct qmp_client *q, uint64_t wait_ms)
{
  if (q->state != QMP_IDLE)
    return;
  q->state = QMP_CONNECTING;
  q->connect_deadline = uv_now (q->loop) + wait_ms;
  start_connect (q);
}

struct qmp_client *
qmp_client_new (uv_loop_t *loop, const char *socket_path)
{
  static const struct json_limits limits = { 32, 4 * QMP_REPLY_MAX };
  struct qmp_client *q = xzalloc (sizeof *q);
  q->loop = loop;
  q->path = xstrdup (socket_path);
  list_init (&q->queue);
  q->parser = json_parser_new (&limits, true, on_value, q);
  uv_timer_init (loop, &q->timer);
  q->timer.data = q;
  q->handles = 1;
  return q;
}

static void
enqueue (struct qmp_client *q, struct command *c)
{
  list_add_tail (&q->queue, &c->link);
  if (q->state == QMP_BROKEN)
    {
      shim_error e
          = { GRPC_UNAVAILABLE, xasprintf ("QMP: %s", q->broken_why) };
      finish_head (q, NULL, &e);
      free (e.msg);
      return;
    }
  connect_once (q, 0);
  pump (q);
}

static struct command *
command_new (const char *command, const char *arguments_json, qmp_done_fn done,
             void *data)
{
  struct command *c = xzalloc (sizeof *c);
  c->text = xasprintf ("{\"execute\":\"%s\",\"arguments\":%s}\n", command,
                       arguments_json);
  c->done = done;
  c->data = data;
  c->fd = -1;
  return c;
}

void
qmp_client_execute (struct qmp_client *q, const char *command,
                    const char *arguments_json, qmp_done_fn done, void *data)
{
  enqueue (q, command_new (command, arguments_json, done, data));
}

void
qmp_client_execute_until (struct qmp_client *q, const char *command,
                          const char *arguments_json, const char *event,
                          const char *device, qmp_done_fn done, void *data)
{
  struct command *c = command_new (command, arguments_json, done, data);
  c->until_event = xstrdup (event);
  c->until_device = xstrdup (device);
  enqueue (q, c);
}

void
qmp_client_execute_fd (struct qmp_client *q, const char *command,
                       const char *arguments_json, int fd, qmp_done_fn done,
                       void *data)
{
  struct command *c = command_new (command, arguments_json, done, data);
  c->fd = fd;
  enqueue (q, c);
}

void
qmp_client_watch (struct qmp_client *q, qmp_event_fn fn, void *data)
{
  q->on_event = fn;
  q->event_data = data;
  connect_once (q, QMP_CONNECT_WAIT_MS);
}

void
qmp_client_close (struct qmp_client *q)
{
  if (q == NULL)
    return;
  shim_error e = { GRPC_UNAVAILABLE, (char *) "QMP: client closed" };
  q->on_event = NULL;
  while (!list_empty (&q->queue))
    finish_head (q, NULL, &e);
  q->state = QMP_BROKEN;
  if (q->pipe_open)
    uv_close ((uv_handle_t *) &q->pipe, on_closed);
  q->pipe_open = false;
  uv_close ((uv_handle_t *) &q->timer, on_closed);
}
