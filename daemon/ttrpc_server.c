#include "ttrpc_server.h"
#include "shim_socket.h"

#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/base/list.h"
#include "proto/base/log.h"
#include "proto/pb_pack.h"
#include "proto/ttrpc_frame.h"
#include "proto/base/xalloc.h"
#include "ttrpc.pb-c.h"

#define READ_BUFFER_SIZE (64 * 1024)
/* Request flag: the client will stream Data frames.  */
#define TTRPC_FLAG_REMOTE_OPEN 0x02
/* How long after a connection closes the heap is trimmed (see
   schedule_trim).  */
#define TRIM_DELAY_MS 200

struct ttrpc_conn
{
  uv_pipe_t pipe;
  struct ttrpc_server *server;
  struct list link;
  struct ttrpc_decoder decoder;
  struct list calls;
  size_t ncalls;
  uint32_t last_stream_id;
  bool closing;
  bool read_paused;
};

struct ttrpc_call
{
  struct list link;
  struct ttrpc_conn *conn;
  uint32_t stream_id;
  char *method;
  int policy;
};

struct ttrpc_server
{
  uv_loop_t *loop;
  uv_pipe_t listener;
  bool listening;
  struct list conns;
  size_t nconns;
  uv_timer_t trim_timer;
  const struct ttrpc_service **services;
  size_t nservices;
  struct ttrpc_server_limits limits;
  int open_handles;
  void (*done) (void *);
  void *done_data;
  /* One read buffer for every connection: libuv fills it and on_read
     consumes it (the decoder copies) before any other read, so thousands
     of idle connections cost no buffers.  */
  char read_buffer[READ_BUFFER_SIZE];
};

struct write_req
{
  uv_write_t req;
  struct ttrpc_conn *conn;
  char *data;
};

static void conn_close (struct ttrpc_conn *c);
static void on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

struct ttrpc_server *
ttrpc_server_new (uv_loop_t *loop, const struct ttrpc_server_limits *lim)
{
  struct ttrpc_server *s = xzalloc (sizeof *s);
  s->loop = loop;
  s->limits = *lim;
  list_init (&s->conns);
  uv_timer_init (loop, &s->trim_timer);
  s->trim_timer.data = s;
  s->open_handles++;
  return s;
}

void
ttrpc_server_register (struct ttrpc_server *s,
                       const struct ttrpc_service *service)
{
  size_t n = s->nservices + 1;
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  s->services = xrealloc (s->services, n * sizeof *s->services);
  s->services[s->nservices++] = service;
}

size_t
ttrpc_server_connection_count (const struct ttrpc_server *s)
{
  return s->nconns;
}

static void
maybe_finish_close (struct ttrpc_server *s)
{
  if (s->done == NULL || s->open_handles > 0)
    return;
  void (*done) (void *) = s->done;
  void *data = s->done_data;
  free (s->services);
  free (s);
  done (data);
}

/* ---- writing ---------------------------------------------------------- */

static void
on_write (uv_write_t *req, int status)
{
  struct write_req *w = (struct write_req *) req;
  struct ttrpc_conn *c = w->conn;
  free (w->data);
  free (w);
  if (status < 0 && status != UV_ECANCELED)
    {
      log_debug ("ttrpc: write failed: %s", uv_strerror (status));
      conn_close (c);
      return;
    }
  if (c->read_paused && !c->closing
      && uv_stream_get_write_queue_size ((uv_stream_t *) &c->pipe)
             < c->server->limits.max_queued_reply_bytes / 4)
    {
      c->read_paused = false;
      uv_read_start ((uv_stream_t *) &c->pipe, on_alloc, on_read);
    }
}

static void
send_response (struct ttrpc_conn *c, uint32_t stream_id,
               const Pb__Response *resp)
{
  if (c == NULL || c->closing)
    return;
  size_t len = pb__response__get_packed_size (resp);
  Pb__RpcStatus too_big = PB__RPC_STATUS__INIT;
  Pb__Response fallback = PB__RESPONSE__INIT;
  char msg[128];
  if (len > TTRPC_MESSAGE_MAX)
    {
      /* Never send what a ttrpc 1.1 client would crash on.  */
      snprintf (msg, sizeof msg,
                "reply of %zu bytes exceeds the maximum message size of %u",
                len, TTRPC_MESSAGE_MAX);
      too_big.code = GRPC_RESOURCE_EXHAUSTED;
      too_big.message = msg;
      fallback.status = &too_big;
      resp = &fallback;
      len = pb__response__get_packed_size (resp);
    }
  /* Most replies are small and the socket has room: write them at once,
     with no allocation; queue only what the socket did not take (never
     ahead of earlier queued replies: uv_try_write refuses then).  */
  size_t total = TTRPC_HEADER_LEN + len;
  char stack[4096];
  char *data = total <= sizeof stack ? stack : xmalloc (total);
  struct ttrpc_header h
      = { (uint32_t) len, stream_id, TTRPC_TYPE_RESPONSE, 0 };
  ttrpc_header_encode ((uint8_t *) data, &h);
  pb__response__pack (resp, (uint8_t *) data + TTRPC_HEADER_LEN);
  uv_buf_t buf = uv_buf_init (data, (unsigned) total);
  int n = uv_try_write ((uv_stream_t *) &c->pipe, &buf, 1);
  if (n < 0 && n != UV_EAGAIN)
    {
      if (data != stack)
        free (data);
      conn_close (c);
      return;
    }
  size_t done = n > 0 ? (size_t) n : 0;
  if (done == total)
    {
      if (data != stack)
        free (data);
      return;
    }
  struct write_req *w = xzalloc (sizeof *w);
  w->conn = c;
  w->data = xmalloc (total - done);
  memcpy (w->data, data + done, total - done);
  if (data != stack)
    free (data);
  buf = uv_buf_init (w->data, (unsigned) (total - done));
  int r = uv_write (&w->req, (uv_stream_t *) &c->pipe, &buf, 1, on_write);
  if (r < 0)
    {
      free (w->data);
      free (w);
      conn_close (c);
    }
}

static void
send_status (struct ttrpc_conn *c, uint32_t stream_id, int code,
             const char *message)
{
  Pb__RpcStatus st = PB__RPC_STATUS__INIT;
  st.code = code;
  st.message = (char *) message;
  Pb__Response resp = PB__RESPONSE__INIT;
  resp.status = &st;
  send_response (c, stream_id, &resp);
}

/* ---- calls ------------------------------------------------------------ */

static void
call_finish (struct ttrpc_call *call)
{
  if (call->conn != NULL)
    {
      list_remove (&call->link);
      call->conn->ncalls--;
    }
  free (call->method);
  free (call);
}

void
ttrpc_call_reply (struct ttrpc_call *call, const ProtobufCMessage *msg)
{
  Pb__Response resp = PB__RESPONSE__INIT;
  if (msg != NULL)
    {
      size_t n = protobuf_c_message_get_packed_size (msg);
      if (n > TTRPC_MESSAGE_MAX)
        {
          ttrpc_call_fail_code (call, GRPC_RESOURCE_EXHAUSTED,
                                "reply of %zu bytes exceeds the maximum "
                                "message size of %u",
                                n, TTRPC_MESSAGE_MAX);
          return;
        }
      resp.payload = pb_pack (msg);
    }
  send_response (call->conn, call->stream_id, &resp);
  free (resp.payload.data);
  call_finish (call);
}

void
ttrpc_call_fail (struct ttrpc_call *call, const shim_error *err)
{
  int code = err && err->code != GRPC_OK ? err->code : GRPC_UNKNOWN;
  const char *msg = err ? err->msg : "unknown error";
  log_entry (LOG_LEVEL_DEBUG, "ttrpc call failed",
             (struct log_field[]){ { "method", call->method },
                                   { "code", grpc_code_name (code) },
                                   { "error", msg } },
             3);
  send_status (call->conn, call->stream_id, code, msg);
  call_finish (call);
}

void
ttrpc_call_fail_code (struct ttrpc_call *call, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  shim_error e = { code, xvasprintf (fmt, ap) };
  va_end (ap);
  ttrpc_call_fail (call, &e);
  free (e.msg);
}

bool
ttrpc_call_orphaned (const struct ttrpc_call *call)
{
  return call->conn == NULL || call->conn->closing;
}

const char *
ttrpc_call_method (const struct ttrpc_call *call)
{
  return call->method;
}

int
ttrpc_call_policy (const struct ttrpc_call *call)
{
  return call->policy;
}

/* ---- reading and dispatch --------------------------------------------- */

static const struct ttrpc_service *
find_service (struct ttrpc_server *s, const char *name)
{
  for (size_t i = 0; i < s->nservices; i++)
    if (strcmp (s->services[i]->name, name) == 0)
      return s->services[i];
  return NULL;
}

/* The frame rules a request meets before it is read (ttrpc's stream ids,
   no streaming, the calls in flight); false when it was answered here or
   is ignored.  */
static bool
frame_accepted (struct ttrpc_conn *c, const struct ttrpc_header *h)
{
  if (h->type != TTRPC_TYPE_REQUEST)
    {
      /* ttrpc 1.1 ignores other frame types for forward compatibility.  */
      log_debug ("ttrpc: ignoring frame of type %u on stream %u", h->type,
                 h->stream_id);
      return false;
    }
  const char *refusal = NULL;
  int code = GRPC_INVALID_ARGUMENT;
  char msg[96];
  if (h->stream_id % 2 == 0)
    refusal = "StreamID must be odd for client initiated streams";
  else if (h->stream_id <= c->last_stream_id)
    refusal = "StreamID cannot be re-used and must increment";
  else
    c->last_stream_id = h->stream_id;
  if (refusal == NULL && (h->flags & TTRPC_FLAG_REMOTE_OPEN))
    {
      code = GRPC_UNIMPLEMENTED;
      refusal = "streaming requests are not supported by this shim";
    }
  else if (refusal == NULL
           && c->ncalls >= c->server->limits.max_calls_per_conn)
    {
      snprintf (msg, sizeof msg,
                "too many requests in flight on this connection (%zu)",
                c->ncalls);
      code = GRPC_RESOURCE_EXHAUSTED;
      refusal = msg;
    }
  if (refusal == NULL)
    return true;
  send_status (c, h->stream_id, code, refusal);
  return false;
}

static void
dispatch (struct ttrpc_conn *c, const struct ttrpc_header *h, uint8_t *body)
{
  if (!frame_accepted (c, h))
    return;
  Pb__Request *req = pb__request__unpack (NULL, h->length, body);
  if (req == NULL)
    {
      send_status (c, h->stream_id, GRPC_INVALID_ARGUMENT,
                   "unmarshal request error: invalid protobuf");
      return;
    }
  char msg[512];
  const struct ttrpc_service *svc = find_service (c->server, req->service);
  const struct ttrpc_method *m = NULL;
  for (size_t i = 0; svc != NULL && i < svc->nmethods; i++)
    if (strcmp (svc->methods[i].name, req->method) == 0)
      m = &svc->methods[i];
  if (svc == NULL || m == NULL)
    {
      snprintf (msg, sizeof msg, "%s %s", svc ? "method" : "service",
                svc ? req->method : req->service);
      send_status (c, h->stream_id, GRPC_UNIMPLEMENTED, msg);
      pb__request__free_unpacked (req, NULL);
      return;
    }
  struct ttrpc_call *call = xzalloc (sizeof *call);
  call->conn = c;
  call->stream_id = h->stream_id;
  call->method = xasprintf ("%s/%s", req->service, req->method);
  call->policy = m->policy;
  list_add_tail (&c->calls, &call->link);
  c->ncalls++;
  log_entry (LOG_LEVEL_TRACE, "ttrpc request",
             (struct log_field[]){ { "method", call->method } }, 1);
  m->handler (call, svc->data, req->payload.data, req->payload.len);
  pb__request__free_unpacked (req, NULL);
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct ttrpc_conn *c = (struct ttrpc_conn *) h;
  (void) suggested;
  *buf = uv_buf_init (c->server->read_buffer, READ_BUFFER_SIZE);
}

static void
on_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
  struct ttrpc_conn *c = (struct ttrpc_conn *) stream;
  if (nread < 0)
    {
      conn_close (c);
      return;
    }
  size_t off = 0;
  while (off < (size_t) nread && !c->closing)
    {
      enum ttrpc_decode_event ev;
      off += ttrpc_decoder_feed (&c->decoder,
                                 (const uint8_t *) buf->base + off,
                                 (size_t) nread - off, &ev);
      if (ev == TTRPC_DECODE_FRAME)
        {
          uint8_t *body = ttrpc_decoder_take_body (&c->decoder);
          dispatch (c, &c->decoder.header, body);
          free (body);
        }
      else if (ev == TTRPC_DECODE_OVERSIZED)
        {
          char msg[96];
          snprintf (msg, sizeof msg,
                    "message length %u exceed maximum message size of %u",
                    c->decoder.header.length, TTRPC_MESSAGE_MAX);
          send_status (c, c->decoder.header.stream_id, GRPC_RESOURCE_EXHAUSTED,
                       msg);
        }
    }
  /* A client that does not read its replies must not grow the shim.  */
  if (!c->closing && !c->read_paused
      && uv_stream_get_write_queue_size (stream)
             > c->server->limits.max_queued_reply_bytes)
    {
      c->read_paused = true;
      uv_read_stop (stream);
    }
}

static void
on_trim (uv_timer_t *t)
{
  (void) t;
  malloc_trim (0);
}

/* Freed memory goes back to the system soon after connections close,
   whatever the heap's shape: glibc returns it by itself only from the
   heap's top, and a burst of connections, a client that stopped reading or
   a half frame's buffer leave it spread below records still in use.  Once
   per TRIM_DELAY_MS at most.  */
static void
schedule_trim (struct ttrpc_server *s)
{
  if (s->done == NULL && !uv_is_active ((uv_handle_t *) &s->trim_timer))
    uv_timer_start (&s->trim_timer, on_trim, TRIM_DELAY_MS, 0);
}

static void
on_conn_closed (uv_handle_t *h)
{
  struct ttrpc_conn *c = (struct ttrpc_conn *) h;
  struct ttrpc_server *s = c->server;
  ttrpc_decoder_release (&c->decoder);
  free (c);
  schedule_trim (s);
  s->open_handles--;
  maybe_finish_close (s);
}

static void
conn_close (struct ttrpc_conn *c)
{
  if (c->closing)
    return;
  c->closing = true;
  /* In-flight calls outlive the connection; their replies are dropped.  */
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->calls)
  {
    struct ttrpc_call *call = list_entry (pos, struct ttrpc_call, link);
    list_remove (&call->link);
    call->conn = NULL;
  }
  c->ncalls = 0;
  list_remove (&c->link);
  c->server->nconns--;
  uv_close ((uv_handle_t *) &c->pipe, on_conn_closed);
}

static int
conn_start (struct ttrpc_server *s, struct ttrpc_conn *c)
{
  c->server = s;
  ttrpc_decoder_init (&c->decoder);
  list_init (&c->calls);
  list_add_tail (&s->conns, &c->link);
  s->nconns++;
  s->open_handles++;
  return uv_read_start ((uv_stream_t *) &c->pipe, on_alloc, on_read);
}

static bool
peer_is_same_user (int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return false;
  return cred.uid == geteuid () && cred.gid == getegid ();
}

static void
on_refused_closed (uv_handle_t *h)
{
  free (h);
}

static void
on_connection (uv_stream_t *listener, int status)
{
  struct ttrpc_server *s = listener->data;
  if (status < 0)
    {
      log_warn ("ttrpc: accept: %s", uv_strerror (status));
      return;
    }
  struct ttrpc_conn *c = xzalloc (sizeof *c);
  uv_pipe_init (s->loop, &c->pipe, 0);
  if (uv_accept (listener, (uv_stream_t *) &c->pipe) < 0)
    {
      uv_close ((uv_handle_t *) &c->pipe, on_refused_closed);
      return;
    }
  uv_os_fd_t fd;
  if (uv_fileno ((uv_handle_t *) &c->pipe, &fd) < 0 || !peer_is_same_user (fd))
    {
      log_warn ("ttrpc: refusing connection from a peer with another uid or "
                "gid");
      uv_close ((uv_handle_t *) &c->pipe, on_refused_closed);
      return;
    }
  if (conn_start (s, c) < 0)
    conn_close (c);
}

/* The listener's and the trim timer's.  */
static void
on_server_handle_closed (uv_handle_t *h)
{
  struct ttrpc_server *s = h->data;
  s->open_handles--;
  maybe_finish_close (s);
}

int
ttrpc_server_serve_fd (struct ttrpc_server *s, int fd, shim_error **err)
{
  uv_pipe_init (s->loop, &s->listener, 0);
  s->listener.data = s;
  s->open_handles++;
  s->listening = true;
  int r = uv_pipe_open (&s->listener, fd);
  if (r == 0)
    r = uv_listen ((uv_stream_t *) &s->listener, shim_socket_backlog (),
                   on_connection);
  if (r < 0)
    return shim_error_set (err, GRPC_INTERNAL, "listen on fd %d: %s", fd,
                           uv_strerror (r));
  return 0;
}

int
ttrpc_server_adopt_conn (struct ttrpc_server *s, int fd, shim_error **err)
{
  struct ttrpc_conn *c = xzalloc (sizeof *c);
  uv_pipe_init (s->loop, &c->pipe, 0);
  int r = uv_pipe_open (&c->pipe, fd);
  if (r < 0)
    {
      uv_close ((uv_handle_t *) &c->pipe, on_refused_closed);
      return shim_error_set (err, GRPC_INTERNAL, "adopt fd %d: %s", fd,
                             uv_strerror (r));
    }
  if (conn_start (s, c) < 0)
    conn_close (c);
  return 0;
}

void
ttrpc_server_close (struct ttrpc_server *s, void (*done) (void *), void *data)
{
  s->done = done;
  s->done_data = data;
  if (s->listening)
    {
      s->listening = false;
      uv_close ((uv_handle_t *) &s->listener, on_server_handle_closed);
    }
  uv_close ((uv_handle_t *) &s->trim_timer, on_server_handle_closed);
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &s->conns)
      conn_close (list_entry (pos, struct ttrpc_conn, link));
  maybe_finish_close (s);
}

ProtobufCMessage *
ttrpc_call_decode (struct ttrpc_call *call,
                   const ProtobufCMessageDescriptor *desc,
                   const uint8_t *payload, size_t len)
{
  ProtobufCMessage *m = protobuf_c_message_unpack (desc, NULL, len, payload);
  if (m == NULL)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "ttrpc: error unmarshalling payload: invalid "
                          "protobuf");
  return m;
}
