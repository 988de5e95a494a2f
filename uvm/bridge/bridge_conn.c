#include "bridge_conn.h"
#include "read_budget.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/list.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "proto/base/xalloc.h"

/* How often dropped frames are reported, at most.  */
#define IGNORED_REPORT_MS 1000

struct pending
{
  struct list link;
  struct bridge_conn *owner;
  uint32_t id;
  /* NULL for a posted request: its response is dropped.  */
  bridge_reply_fn reply;
  void *data;
  uv_timer_t timer;
};

/* The output streams of one process the host opened.  */
struct stream
{
  struct list link;
  uint32_t process;
  /* Per output stream (stdout, stderr): bytes received and not credited,
     and credit not yet written.  */
  uint32_t unacked[2];
  uint32_t credit_due[2];
};

struct out_frame
{
  uv_write_t req;
  struct bridge_conn *owner;
  size_t len;
  uint8_t bytes[];
};

struct bridge_conn
{
  uv_loop_t *loop;
  uv_pipe_t pipe;
  struct read_budget budget;
  uv_timer_t report_timer;
  char *uvm_id;
  const struct bridge_conn_events *events;
  void *data;
  struct ttrpc_decoder decoder;
  char buffer[16384];

  uint32_t next_id;
  struct list pending;
  struct list streams;
  /* Bytes of frames written and not yet completed; bytes received and not
     yet credited, over every stream; bytes read in this loop iteration.  */
  size_t out_bytes;
  size_t queued;
  bool reading;
  /* In a read callback: credit is merged and written at its end.  */
  bool in_read;
  uint64_t ignored;
  uint64_t ignored_unreported;
  char *ignored_reason;

  int handles;
  bool closing;
  bool quiet;

  /* Live migration: frames written while held wait here (bounded on their
     own, not in out_bytes); the guest's EOF hands everything over.  */
  bool held;
  strbuf held_out;
  bridge_handover_fn handover;
  void *handover_data;
};

static void update_reading (struct bridge_conn *c);
static void flush_credit (struct bridge_conn *c);

/* ---- lifetime ----------------------------------------------------------- */

static void
maybe_free (struct bridge_conn *c)
{
  if (!c->closing || c->handles > 0)
    return;
  while (!list_empty (&c->streams))
    {
      struct stream *s = list_entry (c->streams.next, struct stream, link);
      list_remove (&s->link);
      free (s);
    }
  ttrpc_decoder_release (&c->decoder);
  strbuf_release (&c->held_out);
  free (c->ignored_reason);
  free (c->uvm_id);
  free (c);
}

static void
on_handle_closed (uv_handle_t *h)
{
  struct bridge_conn *c = h->data;
  c->handles--;
  maybe_free (c);
}

static void
on_pending_closed (uv_handle_t *h)
{
  struct pending *p = h->data;
  struct bridge_conn *c = p->owner;
  free (p);
  c->handles--;
  maybe_free (c);
}

static void
complete_pending (struct pending *p, const char *body, size_t len,
                  const shim_error *err)
{
  struct bridge_conn *c = p->owner;
  list_remove (&p->link);
  uv_timer_stop (&p->timer);
  uv_close ((uv_handle_t *) &p->timer, on_pending_closed);
  if (p->reply != NULL && !(c->closing && c->quiet))
    p->reply (p->data, body, len, err);
}

static void
report_ignored (struct bridge_conn *c)
{
  if (c->ignored_unreported == 0)
    return;
  char count[24];
  snprintf (count, sizeof count, "%llu",
            (unsigned long long) c->ignored_unreported);
  log_entry (LOG_LEVEL_WARN, "bridge frames ignored",
             (struct log_field[]){ { "uvm-id", c->uvm_id },
                                   { "count", count },
                                   { "first-reason", c->ignored_reason } },
             3);
  c->ignored_unreported = 0;
  free (c->ignored_reason);
  c->ignored_reason = NULL;
}

void
bridge_conn_close (struct bridge_conn *c, const char *why, bool quiet)
{
  if (c == NULL || c->closing)
    return;
  c->closing = true;
  c->quiet = quiet;
  report_ignored (c);
  shim_error e = { GRPC_UNAVAILABLE, (char *) (why ? why : "bridge closed") };
  while (!list_empty (&c->pending))
    complete_pending (list_entry (c->pending.next, struct pending, link), NULL,
                      0, &e);
  uv_close ((uv_handle_t *) &c->pipe, on_handle_closed);
  read_budget_close (&c->budget, on_handle_closed);
  uv_close ((uv_handle_t *) &c->report_timer, on_handle_closed);
}

/* The guest broke the protocol, or closed: the owner hears it once.  */
static void
end (struct bridge_conn *c, const char *violation)
{
  if (c->closing)
    return;
  const struct bridge_conn_events *ev = c->events;
  void *data = c->data;
  cleanup_free char *why
      = violation ? xasprintf ("guest protocol violation: %s", violation)
                  : xstrdup ("the guest agent closed the bridge");
  bridge_conn_close (c, why, false);
  ev->on_closed (data, violation ? why : NULL);
}

static void
on_report_timer (uv_timer_t *t)
{
  report_ignored (t->data);
}

static void ignore (struct bridge_conn *c, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static void
ignore (struct bridge_conn *c, const char *fmt, ...)
{
  c->ignored++;
  if (c->ignored_unreported++ == 0)
    {
      va_list ap;
      va_start (ap, fmt);
      c->ignored_reason = xvasprintf (fmt, ap);
      va_end (ap);
      if (!uv_is_active ((uv_handle_t *) &c->report_timer))
        uv_timer_start (&c->report_timer, on_report_timer, IGNORED_REPORT_MS,
                        0);
    }
}

uint64_t
bridge_conn_ignored (const struct bridge_conn *c)
{
  return c->ignored;
}

static size_t
list_length (const struct list *l)
{
  size_t n = 0;
  for (const struct list *p = l->next; p != l; p = p->next)
    n++;
  return n;
}

size_t
bridge_conn_pending (const struct bridge_conn *c)
{
  return list_length (&c->pending);
}

uint32_t
bridge_conn_next_id (const struct bridge_conn *c)
{
  return c->next_id + 1;
}

size_t
bridge_conn_open_stream_count (const struct bridge_conn *c)
{
  return list_length (&c->streams);
}

/* ---- writing ------------------------------------------------------------ */

static void
on_written (uv_write_t *w, int status)
{
  struct out_frame *f = (struct out_frame *) w;
  struct bridge_conn *c = f->owner;
  (void) status; /* a broken connection shows up as a read error */
  c->out_bytes -= f->len;
  free (f);
  if (!c->closing)
    {
      flush_credit (c);
      update_reading (c);
    }
}

/* Writes whole frames, given as a head and a body (either may be empty),
   copied once; or holds them (see bridge_conn_hold).  */
static int
write_bytes (struct bridge_conn *c, const void *head, size_t head_len,
             const void *body, size_t body_len)
{
  if (c->closing)
    return -1;
  size_t total = head_len + body_len;
  if (c->held)
    {
      /* Held frames are bounded as frames in flight are, on their own:
         the guest keeps being read (its EOF ends a handover).  */
      if (c->held_out.len + total > BRIDGE_OUT_MAX)
        return -1;
      strbuf_append (&c->held_out, head, head_len);
      strbuf_append (&c->held_out, body, body_len);
      return 0;
    }
  struct out_frame *f = xmalloc (sizeof *f + total);
  f->owner = c;
  /* What the frame costs in memory, not on the wire: the limit is about
     memory, and a credit frame is mostly its write request.  */
  f->len = sizeof *f + total;
  if (head_len)
    memcpy (f->bytes, head, head_len);
  if (body_len)
    memcpy (f->bytes + head_len, body, body_len);
  uv_buf_t b = uv_buf_init ((char *) f->bytes, (unsigned) total);
  if (uv_write (&f->req, (uv_stream_t *) &c->pipe, &b, 1, on_written) < 0)
    {
      free (f);
      return -1;
    }
  c->out_bytes += f->len;
  return 0;
}

static int
write_frame (struct bridge_conn *c, uint32_t id, uint8_t type, uint8_t flags,
             const void *body, size_t len)
{
  uint8_t head[TTRPC_HEADER_LEN];
  struct ttrpc_header h = { (uint32_t) len, id, type, flags };
  ttrpc_header_encode (head, &h);
  return write_bytes (c, head, sizeof head, body, len);
}

/* A CREDIT frame's body: n, big-endian.  */
static void
credit_body (uint32_t n, uint8_t out[4])
{
  out[0] = (uint8_t) (n >> 24);
  out[1] = (uint8_t) (n >> 16);
  out[2] = (uint8_t) (n >> 8);
  out[3] = (uint8_t) n;
}

static struct stream *
find_stream (struct bridge_conn *c, uint32_t process)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->streams)
  {
    struct stream *s = list_entry (pos, struct stream, link);
    if (s->process == process)
      return s;
  }
  return NULL;
}

/* Writes the credit that is due while the guest takes what it is sent.  */
static void
flush_credit (struct bridge_conn *c)
{
  if (c->in_read || c->held)
    return;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->streams)
  {
    struct stream *s = list_entry (pos, struct stream, link);
    for (int i = 0; i < 2; i++)
      {
        if (s->credit_due[i] == 0)
          continue;
        if (c->out_bytes > BRIDGE_OUT_MAX)
          return;
        uint8_t b[4];
        credit_body (s->credit_due[i], b);
        if (write_frame (c, s->process, BRIDGE_TYPE_CREDIT,
                         (uint8_t) (BRIDGE_STDOUT + i), b, sizeof b)
            < 0)
          return;
        s->credit_due[i] = 0;
      }
  }
}

void
bridge_conn_credit (struct bridge_conn *c, uint32_t process, uint8_t stream,
                    uint32_t n)
{
  struct stream *s = find_stream (c, process);
  if (c->closing || s == NULL
      || (stream != BRIDGE_STDOUT && stream != BRIDGE_STDERR))
    return;
  int i = stream - BRIDGE_STDOUT;
  if (n > s->unacked[i])
    n = s->unacked[i];
  s->unacked[i] -= n;
  c->queued -= n;
  s->credit_due[i] += n;
  flush_credit (c);
  update_reading (c);
}

void
bridge_conn_open_streams (struct bridge_conn *c, uint32_t process)
{
  if (find_stream (c, process) != NULL)
    return;
  struct stream *s = xzalloc (sizeof *s);
  s->process = process;
  list_add_tail (&c->streams, &s->link);
}

void
bridge_conn_close_streams (struct bridge_conn *c, uint32_t process)
{
  struct stream *s = find_stream (c, process);
  if (s == NULL)
    return;
  c->queued -= s->unacked[0] + s->unacked[1];
  list_remove (&s->link);
  free (s);
  if (!c->closing)
    update_reading (c);
}

int
bridge_conn_send_stdin (struct bridge_conn *c, uint32_t process,
                        const void *bytes, size_t len)
{
  return write_frame (c, process, BRIDGE_TYPE_DATA, BRIDGE_STDIN, bytes, len);
}

static void
on_request_timeout (uv_timer_t *t)
{
  struct pending *p = t->data;
  shim_error e = { GRPC_DEADLINE_EXCEEDED,
                   xasprintf ("the guest agent did not answer within %llu ms",
                              (unsigned long long) uv_timer_get_repeat (t)) };
  complete_pending (p, NULL, 0, &e);
  free (e.msg);
}

int
bridge_conn_request (struct bridge_conn *c, const char *body,
                     uint32_t timeout_ms, bridge_reply_fn reply, void *data,
                     shim_error **err)
{
  size_t len = strlen (body);
  if (len > BRIDGE_MESSAGE_MAX)
    return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                           "bridge request of %zu bytes, more than the %u "
                           "allowed",
                           len, BRIDGE_MESSAGE_MAX);
  uint32_t id = ++c->next_id;
  if (write_frame (c, id, BRIDGE_TYPE_REQUEST, 0, body, len) < 0)
    return shim_error_set (err, GRPC_UNAVAILABLE,
                           "the guest agent is not connected");
  struct pending *p = xzalloc (sizeof *p);
  p->owner = c;
  p->id = id;
  p->reply = reply;
  p->data = data;
  uv_timer_init (c->loop, &p->timer);
  p->timer.data = p;
  c->handles++;
  if (reply != NULL)
    {
      uv_timer_start (&p->timer, on_request_timeout, timeout_ms, 0);
      uv_timer_set_repeat (&p->timer, timeout_ms);
    }
  list_add_tail (&c->pending, &p->link);
  return 0;
}

int
bridge_conn_post (struct bridge_conn *c, const char *body)
{
  shim_error *err = NULL;
  int r = bridge_conn_request (c, body, 0, NULL, NULL, &err);
  shim_error_free (err);
  return r;
}

/* ---- reading ------------------------------------------------------------ */

static void
on_response (struct bridge_conn *c, uint32_t id, const uint8_t *body,
             size_t len)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->pending)
  {
    struct pending *p = list_entry (pos, struct pending, link);
    if (p->id == id)
      {
        complete_pending (p, (const char *) body, len, NULL);
        return;
      }
  }
  ignore (c, "response to no request (id %u)", id);
}

/* Output of a process: only for streams the host opened, within the
   window.  Returns a violation, or NULL.  */
static const char *
on_output (struct bridge_conn *c, const struct ttrpc_header *h,
           const uint8_t *body, char *why, size_t whylen)
{
  struct stream *s = find_stream (c, h->stream_id);
  if (s == NULL || (h->flags != BRIDGE_STDOUT && h->flags != BRIDGE_STDERR))
    {
      ignore (c,
              "output for process %u stream %u, which the host did not "
              "open",
              h->stream_id, h->flags);
      return NULL;
    }
  int i = h->flags - BRIDGE_STDOUT;
  if (s->unacked[i] + h->length > BRIDGE_WINDOW)
    {
      snprintf (why, whylen,
                "process %u %s: %u bytes sent beyond the %u-byte window",
                h->stream_id, i ? "stderr" : "stdout",
                s->unacked[i] + h->length - BRIDGE_WINDOW, BRIDGE_WINDOW);
      return why;
    }
  s->unacked[i] += h->length;
  c->queued += h->length;
  c->events->on_stream (c->data, h->stream_id, h->flags, body, h->length);
  return NULL;
}

/* The limits a header is held to before its body is read.  */
static const char *
check_header (const struct ttrpc_header *h, char *why, size_t whylen)
{
  if (h->type == BRIDGE_TYPE_DATA && h->length > BRIDGE_DATA_MAX)
    snprintf (why, whylen, "DATA frame of %u bytes (at most %u)", h->length,
              BRIDGE_DATA_MAX);
  else if (h->type == BRIDGE_TYPE_CREDIT && h->length != 4)
    snprintf (why, whylen, "CREDIT frame of %u bytes (4 expected)", h->length);
  else if (h->length > BRIDGE_MESSAGE_MAX)
    snprintf (why, whylen, "message of %u bytes (at most %u)", h->length,
              BRIDGE_MESSAGE_MAX);
  else
    return NULL;
  return why;
}

static const char *
on_frame (struct bridge_conn *c, const struct ttrpc_header *h,
          const uint8_t *body, char *why, size_t whylen)
{
  switch (h->type)
    {
    case BRIDGE_TYPE_DATA:
      return on_output (c, h, body, why, whylen);
    case BRIDGE_TYPE_CREDIT:
      if (h->flags == BRIDGE_STDIN && find_stream (c, h->stream_id) != NULL)
        c->events->on_credit (c->data, h->stream_id,
                              (uint32_t) body[0] << 24
                                  | (uint32_t) body[1] << 16
                                  | (uint32_t) body[2] << 8 | body[3]);
      else
        ignore (c,
                "credit for process %u stream %u, which the host did not "
                "open",
                h->stream_id, h->flags);
      return NULL;
    case BRIDGE_TYPE_RESPONSE:
      on_response (c, h->stream_id, body, h->length);
      return NULL;
    case BRIDGE_TYPE_NOTIFY:
      c->events->on_notify (c->data, body, h->length);
      return NULL;
    default:
      ignore (c, "frame of unknown type %u", h->type);
      return NULL;
    }
}

/* The credit still due, as the frames that would have carried it.  */
static void
append_credit_due (struct bridge_conn *c, strbuf *out)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->streams)
  {
    struct stream *s = list_entry (pos, struct stream, link);
    for (int i = 0; i < 2; i++)
      if (s->credit_due[i] != 0)
        {
          uint8_t b[4];
          credit_body (s->credit_due[i], b);
          ttrpc_frame_append (out, s->process, BRIDGE_TYPE_CREDIT,
                              (uint8_t) (BRIDGE_STDOUT + i), b, sizeof b);
        }
  }
}

static void
hand_over (struct bridge_conn *c)
{
  strbuf tail = { 0 };
  ttrpc_decoder_copy_partial (&c->decoder, &tail);
  struct bridge_handover h = { .next_id = c->next_id };
  size_t n = bridge_conn_open_stream_count (c);
  h.streams = xzalloc ((n + 1) * sizeof *h.streams);
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &c->streams)
  {
    struct stream *s = list_entry (pos, struct stream, link);
    h.streams[h.nstreams++] = s->process;
    /* What this side received is as good as passed on: it still reaches
       this side's FIFOs.  */
    for (int i = 0; i < 2; i++)
      {
        s->credit_due[i] += s->unacked[i];
        c->queued -= s->unacked[i];
        s->unacked[i] = 0;
      }
  }
  /* What was held, then the credit due: all the host had not sent.  */
  append_credit_due (c, &c->held_out);
  h.inbound_len = tail.len;
  h.inbound_tail = (uint8_t *) strbuf_detach (&tail);
  h.outbound_len = c->held_out.len;
  h.outbound = (uint8_t *) strbuf_detach (&c->held_out);
  bridge_handover_fn fn = c->handover;
  void *data = c->handover_data;
  bridge_conn_close (c, "the bridge was handed over", true);
  fn (data, &h);
  bridge_handover_release (&h);
}

void
bridge_conn_hold (struct bridge_conn *c)
{
  c->held = true;
}

void
bridge_conn_release (struct bridge_conn *c)
{
  if (!c->held || c->closing)
    return;
  c->held = false;
  strbuf out = c->held_out;
  c->held_out = (strbuf){ 0 };
  if (out.len > 0)
    write_bytes (c, out.data, out.len, NULL, 0);
  strbuf_release (&out);
  flush_credit (c);
  update_reading (c);
}

void
bridge_conn_hand_over (struct bridge_conn *c, bridge_handover_fn fn,
                       void *data)
{
  c->handover = fn;
  c->handover_data = data;
}

void
bridge_handover_release (struct bridge_handover *h)
{
  free (h->inbound_tail);
  free (h->outbound);
  free (h->streams);
  *h = (struct bridge_handover){ 0 };
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct bridge_conn *c = h->data;
  (void) suggested;
  *buf = uv_buf_init (c->buffer, sizeof c->buffer);
}

static void
on_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct bridge_conn *c = s->data;
  if (n < 0 && c->handover != NULL)
    {
      hand_over (c);
      return;
    }
  if (n < 0)
    {
      end (c, NULL);
      return;
    }
  c->events->on_read (c->data);
  read_budget_spend (&c->budget, (size_t) n);
  c->in_read = true;
  char why[160];
  const char *violation = NULL;
  size_t off = 0;
  while (off < (size_t) n && !c->closing && violation == NULL)
    {
      enum ttrpc_decode_event ev;
      off += ttrpc_decoder_feed (&c->decoder,
                                 (const uint8_t *) buf->base + off,
                                 (size_t) n - off, &ev);
      bool have_header = ev != TTRPC_DECODE_NEED_MORE
                         || c->decoder.hdr_have == TTRPC_HEADER_LEN;
      if (have_header)
        violation = check_header (&c->decoder.header, why, sizeof why);
      if (ev == TTRPC_DECODE_FRAME && violation == NULL)
        {
          uint8_t *body = ttrpc_decoder_take_body (&c->decoder);
          violation = on_frame (c, &c->decoder.header, body, why, sizeof why);
          free (body);
        }
    }
  if (c->closing)
    return;
  c->in_read = false;
  if (violation != NULL)
    {
      end (c, violation);
      return;
    }
  flush_credit (c);
  update_reading (c);
}

static void
on_budget_refill (void *data)
{
  update_reading (data);
}

/* Reads while the guest takes what it is sent, the FIFOs keep up, and this
   loop iteration's budget lasts.  */
static void
update_reading (struct bridge_conn *c)
{
  bool want = c->out_bytes <= BRIDGE_OUT_MAX && c->queued <= BRIDGE_QUEUED_MAX
              && read_budget_left (&c->budget);
  if (want && !c->reading)
    uv_read_start ((uv_stream_t *) &c->pipe, on_alloc, on_read);
  else if (!want && c->reading)
    uv_read_stop ((uv_stream_t *) &c->pipe);
  c->reading = want;
}

struct bridge_conn *
bridge_conn_new (uv_loop_t *loop, int fd, const char *uvm_id,
                 const struct bridge_conn_events *events, void *data,
                 shim_error **err)
{
  struct bridge_conn *c = xzalloc (sizeof *c);
  c->loop = loop;
  c->uvm_id = xstrdup (uvm_id);
  c->events = events;
  c->data = data;
  ttrpc_decoder_init (&c->decoder);
  list_init (&c->pending);
  list_init (&c->streams);
  uv_pipe_init (loop, &c->pipe, 0);
  read_budget_init (loop, &c->budget, BRIDGE_READ_BUDGET, on_budget_refill, c);
  uv_timer_init (loop, &c->report_timer);
  c->pipe.data = c->report_timer.data = c;
  c->handles = 3;
  int r = uv_pipe_open (&c->pipe, fd);
  if (r < 0)
    {
      close (fd);
      shim_error_set (err, GRPC_INTERNAL, "bridge connection: %s",
                      uv_strerror (r));
      bridge_conn_close (c, NULL, true);
      return NULL;
    }
  update_reading (c);
  return c;
}

struct bridge_conn *
bridge_conn_adopt (uv_loop_t *loop, int fd, const char *uvm_id,
                   const struct bridge_conn_events *events, void *data,
                   const struct bridge_handover *h, shim_error **err)
{
  struct bridge_conn *c
      = bridge_conn_new (loop, fd, uvm_id, events, data, err);
  if (c == NULL)
    return NULL;
  c->next_id = h->next_id;
  for (size_t i = 0; i < h->nstreams; i++)
    bridge_conn_open_streams (c, h->streams[i]);
  enum ttrpc_decode_event ev = TTRPC_DECODE_NEED_MORE;
  size_t used
      = ttrpc_decoder_feed (&c->decoder, h->inbound_tail, h->inbound_len, &ev);
  char why[160];
  bool have_header = c->decoder.hdr_have == TTRPC_HEADER_LEN;
  if (ev != TTRPC_DECODE_NEED_MORE || used != h->inbound_len
      || (have_header && check_header (&c->decoder.header, why, sizeof why)))
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT,
                      "bridge handover: the %zu-byte tail is not the start of "
                      "one frame",
                      h->inbound_len);
      bridge_conn_close (c, NULL, true);
      return NULL;
    }
  if (h->outbound_len > BRIDGE_HANDOVER_OUT_MAX)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT,
                      "bridge handover: %zu bytes to send, more than %u",
                      h->outbound_len, BRIDGE_HANDOVER_OUT_MAX);
      bridge_conn_close (c, NULL, true);
      return NULL;
    }
  if (h->outbound_len > 0)
    write_bytes (c, h->outbound, h->outbound_len, NULL, 0);
  return c;
}
