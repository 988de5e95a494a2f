#include "event_publisher.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.pb-c.h"
#include "proto/base/error.h"
#include "proto/base/list.h"
#include "proto/base/log.h"
#include "proto/pb_pack.h"
#include "proto/ttrpc_frame.h"
#include "proto/base/xalloc.h"
#include "ttrpc.pb-c.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define FORWARD_TIMEOUT_MS 5000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

struct queued_event
{
  struct list link;
  char *topic;
  uint8_t *request; /* a packed ttrpc Request */
  size_t len;
  int attempts;
};

struct client_conn
{
  uv_pipe_t pipe;
  uv_connect_t connect_req;
  struct event_publisher *owner;
  struct ttrpc_decoder decoder;
  char read_buffer[4096];
};

enum conn_state
{
  CONN_IDLE,
  CONN_CONNECTING,
  CONN_CONNECTED,
};

struct event_publisher
{
  uv_loop_t *loop;
  char *address;
  char *ns;
  struct list queue;
  size_t queued;
  struct client_conn *conn;
  enum conn_state state;
  uint32_t next_stream_id;
  uint32_t inflight_stream_id; /* 0: nothing in flight */
  uv_timer_t retry_timer;
  uv_timer_t timeout_timer;
  uint64_t retry_ms;
  bool retry_scheduled;
  int open_handles;
  bool closing;
  void (*done) (void *);
  void *done_data;
};

static void kick (struct event_publisher *p);

static void
free_event (struct queued_event *e)
{
  free (e->topic);
  free (e->request);
  free (e);
}

static void
maybe_finish (struct event_publisher *p)
{
  if (p->done == NULL || p->open_handles > 0)
    return;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &p->queue)
  {
    struct queued_event *e = list_entry (pos, struct queued_event, link);
    log_error ("event %s dropped: containerd did not take it before exit",
               e->topic);
    list_remove (pos);
    free_event (e);
  }
  void (*done) (void *) = p->done;
  void *data = p->done_data;
  free (p->address);
  free (p->ns);
  free (p);
  done (data);
}

static void
on_handle_closed (uv_handle_t *h)
{
  struct event_publisher *p = h->data;
  p->open_handles--;
  maybe_finish (p);
}

static void
on_conn_closed (uv_handle_t *h)
{
  struct client_conn *c = (struct client_conn *) h;
  struct event_publisher *p = c->owner;
  ttrpc_decoder_release (&c->decoder);
  free (c);
  p->open_handles--;
  maybe_finish (p);
}

static void
drop_connection (struct event_publisher *p)
{
  if (p->conn != NULL)
    {
      uv_close ((uv_handle_t *) &p->conn->pipe, on_conn_closed);
      p->conn = NULL;
    }
  p->state = CONN_IDLE;
  p->inflight_stream_id = 0;
  uv_timer_stop (&p->timeout_timer);
}

static void
on_retry (uv_timer_t *t)
{
  struct event_publisher *p = t->data;
  p->retry_scheduled = false;
  kick (p);
}

static void
schedule_retry (struct event_publisher *p)
{
  if (p->retry_scheduled || p->closing)
    return;
  p->retry_scheduled = true;
  uv_timer_start (&p->retry_timer, on_retry, p->retry_ms, 0);
  p->retry_ms
      = p->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : p->retry_ms * 2;
}

/* The head event failed once more: drop it after too many attempts.  */
static void
head_failed (struct event_publisher *p, const char *why)
{
  if (list_empty (&p->queue))
    return;
  struct queued_event *e
      = list_entry (p->queue.next, struct queued_event, link);
  if (++e->attempts >= EVENT_MAX_ATTEMPTS)
    {
      log_error ("event %s dropped after %d attempts: %s", e->topic,
                 e->attempts, why);
      list_remove (&e->link);
      p->queued--;
      free_event (e);
    }
  else
    log_warn ("event %s not forwarded (attempt %d): %s", e->topic, e->attempts,
              why);
}

static void
on_timeout (uv_timer_t *t)
{
  struct event_publisher *p = t->data;
  head_failed (p, "containerd did not answer Forward in time");
  drop_connection (p);
  schedule_retry (p);
}

static void
on_response (struct event_publisher *p, const struct ttrpc_header *h,
             const uint8_t *body)
{
  if (h->type != TTRPC_TYPE_RESPONSE || h->stream_id != p->inflight_stream_id)
    return;
  uv_timer_stop (&p->timeout_timer);
  p->inflight_stream_id = 0;
  Pb__Response *resp = pb__response__unpack (NULL, h->length, body);
  if (resp == NULL)
    head_failed (p, "undecodable response");
  else if (resp->status != NULL && resp->status->code != 0)
    {
      char why[512];
      snprintf (why, sizeof why, "containerd answered %s: %s",
                grpc_code_name (resp->status->code), resp->status->message);
      head_failed (p, why);
    }
  else
    {
      struct queued_event *e
          = list_entry (p->queue.next, struct queued_event, link);
      log_debug ("event %s forwarded", e->topic);
      list_remove (&e->link);
      p->queued--;
      free_event (e);
      p->retry_ms = RETRY_MIN_MS;
    }
  if (resp != NULL)
    pb__response__free_unpacked (resp, NULL);
  kick (p);
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct client_conn *c = (struct client_conn *) h;
  (void) suggested;
  *buf = uv_buf_init (c->read_buffer, sizeof c->read_buffer);
}

static void
on_read (uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  struct client_conn *c = (struct client_conn *) s;
  struct event_publisher *p = c->owner;
  if (nread < 0)
    {
      if (p->inflight_stream_id != 0)
        head_failed (p, "connection to containerd closed");
      drop_connection (p);
      schedule_retry (p);
      return;
    }
  size_t off = 0;
  while (off < (size_t) nread && p->conn == c)
    {
      enum ttrpc_decode_event ev;
      off += ttrpc_decoder_feed (&c->decoder,
                                 (const uint8_t *) buf->base + off,
                                 (size_t) nread - off, &ev);
      if (ev == TTRPC_DECODE_FRAME)
        {
          uint8_t *body = ttrpc_decoder_take_body (&c->decoder);
          on_response (p, &c->decoder.header, body);
          free (body);
        }
    }
}

static void
on_write (uv_write_t *req, int status)
{
  free (req->data);
  free (req);
  (void) status; /* a failed write surfaces as a read error or timeout */
}

static void
send_head (struct event_publisher *p)
{
  struct queued_event *e
      = list_entry (p->queue.next, struct queued_event, link);
  /* Strictly increasing odd stream ids: ttrpc >= 1.2 servers insist.  */
  uint32_t sid = p->next_stream_id;
  p->next_stream_id += 2;
  strbuf frame = STRBUF_INIT;
  ttrpc_frame_append (&frame, sid, TTRPC_TYPE_REQUEST, 0, e->request, e->len);
  uv_write_t *req = xzalloc (sizeof *req);
  req->data = frame.data;
  uv_buf_t buf = uv_buf_init (frame.data, (unsigned) frame.len);
  if (uv_write (req, (uv_stream_t *) &p->conn->pipe, &buf, 1, on_write) < 0)
    {
      free (frame.data);
      free (req);
      drop_connection (p);
      schedule_retry (p);
      return;
    }
  p->inflight_stream_id = sid;
  uv_timer_start (&p->timeout_timer, on_timeout, FORWARD_TIMEOUT_MS, 0);
}

static void
on_connect (uv_connect_t *req, int status)
{
  struct client_conn *c = req->data;
  struct event_publisher *p = c->owner;
  if (p->conn != c)
    return;
  if (status < 0)
    {
      log_debug ("events: connect %s: %s", p->address, uv_strerror (status));
      drop_connection (p);
      schedule_retry (p);
      return;
    }
  p->state = CONN_CONNECTED;
  p->next_stream_id = 1;
  uv_read_start ((uv_stream_t *) &c->pipe, on_alloc, on_read);
  kick (p);
}

static void
kick (struct event_publisher *p)
{
  if (list_empty (&p->queue))
    {
      if (p->closing)
        {
          drop_connection (p);
          event_publisher_close (p, 0, p->done, p->done_data);
        }
      return;
    }
  if (p->retry_scheduled)
    return;
  if (p->state == CONN_IDLE)
    {
      struct client_conn *c = xzalloc (sizeof *c);
      c->owner = p;
      ttrpc_decoder_init (&c->decoder);
      uv_pipe_init (p->loop, &c->pipe, 0);
      p->open_handles++;
      c->connect_req.data = c;
      p->conn = c;
      p->state = CONN_CONNECTING;
      uv_pipe_connect (&c->connect_req, &c->pipe, p->address, on_connect);
      return;
    }
  if (p->state == CONN_CONNECTED && p->inflight_stream_id == 0)
    send_head (p);
}

struct event_publisher *
event_publisher_new (uv_loop_t *loop, const char *address, const char *ns)
{
  struct event_publisher *p = xzalloc (sizeof *p);
  p->loop = loop;
  p->address = address && *address ? xstrdup (address) : NULL;
  p->ns = xstrdup (ns);
  list_init (&p->queue);
  p->retry_ms = RETRY_MIN_MS;
  uv_timer_init (loop, &p->retry_timer);
  uv_timer_init (loop, &p->timeout_timer);
  p->retry_timer.data = p->timeout_timer.data = p;
  p->open_handles = 2;
  return p;
}

static void
now_timestamp (Pb__Timestamp *ts)
{
  struct timespec t;
  clock_gettime (CLOCK_REALTIME, &t);
  ts->seconds = t.tv_sec;
  ts->nanos = (int32_t) t.tv_nsec;
}

void
event_publisher_publish (struct event_publisher *p, const char *topic,
                         const char *type_name, const ProtobufCMessage *event)
{
  log_entry (LOG_LEVEL_DEBUG, "publishing event",
             (struct log_field[]){ { "topic", topic }, { "type", type_name } },
             2);
  if (p->address == NULL || p->closing)
    return;
  if (p->queued >= EVENT_QUEUE_MAX)
    {
      log_error ("event %s dropped: %d events already queued", topic,
                 EVENT_QUEUE_MAX);
      return;
    }
  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  now_timestamp (&ts);
  Pb__Any any = PB__ANY__INIT;
  any.type_url = (char *) type_name;
  any.value = pb_pack (event);
  Pb__Envelope env = PB__ENVELOPE__INIT;
  env.timestamp = &ts;
  env.namespace_ = p->ns;
  env.topic = (char *) topic;
  env.event = &any;
  Pb__ForwardRequest fwd = PB__FORWARD_REQUEST__INIT;
  fwd.envelope = &env;

  Pb__KeyValue md = PB__KEY_VALUE__INIT;
  md.key = "containerd-namespace-ttrpc";
  md.value = p->ns;
  Pb__KeyValue *mds[] = { &md };
  Pb__Request req = PB__REQUEST__INIT;
  req.service = EVENTS_SERVICE;
  req.method = "Forward";
  req.payload = pb_pack (&fwd.base);
  req.n_metadata = 1;
  req.metadata = mds;

  struct queued_event *e = xzalloc (sizeof *e);
  e->topic = xstrdup (topic);
  ProtobufCBinaryData packed = pb_pack (&req.base);
  e->request = packed.data;
  e->len = packed.len;
  free (any.value.data);
  free (req.payload.data);
  list_add_tail (&p->queue, &e->link);
  p->queued++;
  kick (p);
}

size_t
event_publisher_pending (const struct event_publisher *p)
{
  return p->queued;
}

static void
on_drain_timeout (uv_timer_t *t)
{
  struct event_publisher *p = t->data;
  log_warn ("events: %zu events still queued after the drain timeout",
            p->queued);
  drop_connection (p);
  event_publisher_close (p, 0, p->done, p->done_data);
}

void
event_publisher_close (struct event_publisher *p, uint64_t drain_ms,
                       void (*done) (void *), void *data)
{
  p->done = done;
  p->done_data = data;
  if (!p->closing && drain_ms > 0 && !list_empty (&p->queue)
      && p->address != NULL)
    {
      /* Keep sending until the queue is empty or the drain time is up.  */
      p->closing = true;
      uv_timer_stop (&p->retry_timer);
      p->retry_scheduled = false;
      uv_timer_start (&p->retry_timer, on_drain_timeout, drain_ms, 0);
      kick (p);
      return;
    }
  if (uv_is_closing ((uv_handle_t *) &p->retry_timer))
    return;
  p->closing = true;
  drop_connection (p);
  uv_close ((uv_handle_t *) &p->retry_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &p->timeout_timer, on_handle_closed);
}
