/* The bridge connection against a guest end it does not control: a
   socket pair, the test writing what a hostile guest would.  */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "proto/base/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "suites.h"
#include "uvm/bridge/bridge_conn.h"

struct seen
{
  size_t stream_bytes;
  size_t stream_calls;
  size_t notifies;
  bool closed;
  char violation[256];
  struct bridge_conn *c;
  bool credit_back;
};

static void
on_read (void *data)
{
  (void) data;
}

static void
on_notify (void *data, const uint8_t *body, size_t len)
{
  (void) body;
  (void) len;
  ((struct seen *) data)->notifies++;
}

static void
on_stream (void *data, uint32_t process, uint8_t stream, const uint8_t *bytes,
           size_t len)
{
  struct seen *s = data;
  (void) bytes;
  s->stream_bytes += len;
  s->stream_calls++;
  if (s->credit_back)
    bridge_conn_credit (s->c, process, stream, (uint32_t) len);
}

static void
on_credit (void *data, uint32_t process, uint32_t n)
{
  (void) data;
  (void) process;
  (void) n;
}

static void
on_closed (void *data, const char *violation)
{
  struct seen *s = data;
  s->closed = true;
  s->c = NULL;
  if (violation)
    snprintf (s->violation, sizeof s->violation, "%s", violation);
}

static const struct bridge_conn_events events
    = { on_read, on_notify, on_stream, on_credit, on_closed };

static uv_loop_t loop;
static int guest_fd;
static struct seen seen;

static void
setup (void)
{
  int fds[2];
  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                    0);
  uv_loop_init (&loop);
  memset (&seen, 0, sizeof seen);
  shim_error *err = NULL;
  seen.c = bridge_conn_new (&loop, fds[0], "vm1", &events, &seen, &err);
  ck_assert_ptr_nonnull (seen.c);
  guest_fd = fds[1];
  fcntl (guest_fd, F_SETFL, O_NONBLOCK);
}

static void
teardown (void)
{
  bridge_conn_close (seen.c, NULL, true);
  close (guest_fd);
  uv_run (&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq (uv_loop_close (&loop), 0);
}

static void
spin (int iterations)
{
  for (int i = 0; i < iterations; i++)
    uv_run (&loop, UV_RUN_NOWAIT);
}

/* Writes b from *off while the host takes it, running the loop between
   writes, for at most spins iterations.  */
static void
guest_write (const strbuf *b, size_t *off, int spins)
{
  for (int i = 0; *off < b->len && i < spins; i++)
    {
      ssize_t n = write (guest_fd, b->data + *off, b->len - *off);
      ck_assert (n > 0 || errno == EAGAIN);
      if (n > 0)
        *off += (size_t) n;
      spin (1);
    }
}

static void
guest_send (uint32_t id, uint8_t type, uint8_t flags, const void *body,
            size_t len, int copies)
{
  strbuf b = STRBUF_INIT;
  for (int i = 0; i < copies; i++)
    ttrpc_frame_append (&b, id, type, flags, body, len);
  size_t off = 0;
  guest_write (&b, &off, INT_MAX);
  strbuf_release (&b);
}

/* Each frame the guest end fd can read now, to fn.  */
static void
read_guest_frames (int fd,
                   void (*fn) (void *data, const struct ttrpc_header *h,
                               const uint8_t *body),
                   void *data)
{
  uint8_t buf[65536];
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    for (size_t off = 0; off < (size_t) n;)
      {
        enum ttrpc_decode_event ev;
        off += ttrpc_decoder_feed (&d, buf + off, (size_t) n - off, &ev);
        if (ev != TTRPC_DECODE_FRAME)
          continue;
        uint8_t *b = ttrpc_decoder_take_body (&d);
        fn (data, &d.header, b);
        free (b);
      }
  ttrpc_decoder_release (&d);
}

struct credit_seen
{
  uint32_t process;
  uint32_t total;
  int frames;
};

static void
count_credit (void *data, const struct ttrpc_header *h, const uint8_t *b)
{
  struct credit_seen *c = data;
  if (h->type == BRIDGE_TYPE_CREDIT && h->stream_id == c->process)
    {
      c->total += (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16
                  | (uint32_t) b[2] << 8 | b[3];
      c->frames++;
    }
}

/* Total credit and CREDIT frames the guest received for process.  */
static void
guest_credit (uint32_t process, uint32_t *total, int *frames)
{
  struct credit_seen c = { process, 0, 0 };
  read_guest_frames (guest_fd, count_credit, &c);
  *total = c.total;
  *frames = c.frames;
}

START_TEST (credit_is_merged_per_stream)
{
  seen.credit_back = true;
  bridge_conn_open_streams (seen.c, 5);
  guest_send (5, BRIDGE_TYPE_DATA, BRIDGE_STDOUT, "x", 1, 20000);
  spin (20);
  ck_assert_uint_eq (seen.stream_bytes, 20000);
  uint32_t total;
  int frames;
  guest_credit (5, &total, &frames);
  ck_assert_uint_eq (total, 20000);
  /* One per read, not one per frame.  */
  ck_assert_int_lt (frames, 100);
  ck_assert (!seen.closed);
}
END_TEST

START_TEST (output_beyond_the_window_ends_the_bridge)
{
  bridge_conn_open_streams (seen.c, 5);
  static char chunk[BRIDGE_DATA_MAX];
  guest_send (5, BRIDGE_TYPE_DATA, BRIDGE_STDERR, chunk, sizeof chunk, 5);
  spin (100); /* BRIDGE_READ_BUDGET bytes an iteration */
  ck_assert (seen.closed);
  ck_assert_ptr_nonnull (strstr (seen.violation, "process 5 stderr"));
  ck_assert_ptr_nonnull (
      strstr (seen.violation, "beyond the 262144-byte window"));
  ck_assert_uint_eq (seen.stream_bytes, BRIDGE_WINDOW);
}
END_TEST

START_TEST (oversize_frames_end_the_bridge)
{
  bridge_conn_open_streams (seen.c, 5);
  /* The header alone is enough: the body is never waited for.  */
  uint8_t h[TTRPC_HEADER_LEN];
  ttrpc_header_encode (h, &(struct ttrpc_header){ BRIDGE_DATA_MAX + 1, 5,
                                                  BRIDGE_TYPE_DATA, 1 });
  ck_assert_int_eq (write (guest_fd, h, sizeof h), sizeof h);
  spin (5);
  ck_assert (seen.closed);
  ck_assert_str_eq (seen.violation, "guest protocol violation: DATA frame of "
                                    "65537 bytes (at most 65536)");
}
END_TEST

START_TEST (bad_credit_size_ends_the_bridge)
{
  guest_send (5, BRIDGE_TYPE_CREDIT, BRIDGE_STDIN, "12345", 5, 1);
  spin (5);
  ck_assert (seen.closed);
  ck_assert_ptr_nonnull (strstr (seen.violation, "CREDIT frame of 5 bytes"));
}
END_TEST

START_TEST (meaningless_frames_are_counted)
{
  bridge_conn_open_streams (seen.c, 5);
  guest_send (9, BRIDGE_TYPE_DATA, BRIDGE_STDOUT, "x", 1, 10);
  guest_send (5, BRIDGE_TYPE_DATA, BRIDGE_STDIN, "x", 1, 1);
  guest_send (77, BRIDGE_TYPE_RESPONSE, 0, "{}", 2, 1);
  guest_send (1, 42, 0, "?", 1, 1);
  guest_send (9, BRIDGE_TYPE_CREDIT, BRIDGE_STDIN, "\0\0\0\1", 4, 1);
  bridge_conn_close_streams (seen.c, 5);
  guest_send (5, BRIDGE_TYPE_DATA, BRIDGE_STDOUT, "x", 1, 1);
  spin (10);
  ck_assert (!seen.closed);
  ck_assert_uint_eq (seen.stream_calls, 0);
  ck_assert_uint_eq (bridge_conn_ignored (seen.c), 15);
}
END_TEST

START_TEST (a_guest_that_stops_reading_is_not_heard)
{
  /* More than BRIDGE_OUT_MAX plus what the socket buffers.  */
  static char body[8192];
  memset (body, ' ', sizeof body - 1);
  memcpy (body, "{}", 2);
  for (int i = 0; i < 600; i++)
    ck_assert_int_eq (bridge_conn_post (seen.c, body), 0);
  spin (5);
  guest_send (0, BRIDGE_TYPE_NOTIFY, 0, "{\"type\":\"x\"}", 12, 1);
  spin (20);
  ck_assert_uint_eq (seen.notifies, 0);
  /* The guest takes what it was sent: it is heard again.  */
  char buf[65536];
  for (int i = 0; i < 400 && seen.notifies == 0; i++)
    {
      while (read (guest_fd, buf, sizeof buf) > 0)
        ;
      spin (1);
    }
  ck_assert_uint_eq (seen.notifies, 1);
}
END_TEST

/* Output within every window, but more than BRIDGE_QUEUED_MAX waiting for
   the FIFOs in all: the guest is not heard until the host passes some on.  */
START_TEST (output_queued_for_the_fifos_is_capped)
{
  static char chunk[BRIDGE_DATA_MAX];
  uint32_t streams = BRIDGE_QUEUED_MAX / BRIDGE_WINDOW + 2;
  for (uint32_t k = 1; k <= streams; k++)
    bridge_conn_open_streams (seen.c, k);
  strbuf b = STRBUF_INIT;
  for (uint32_t k = 1; k <= streams; k++)
    for (uint32_t i = 0; i < BRIDGE_WINDOW / sizeof chunk; i++)
      ttrpc_frame_append (&b, k, BRIDGE_TYPE_DATA, BRIDGE_STDOUT, chunk,
                          sizeof chunk);
  ttrpc_frame_append (&b, 0, BRIDGE_TYPE_NOTIFY, 0, "{\"type\":\"x\"}", 12);
  size_t off = 0;
  guest_write (&b, &off, 100000);
  spin (20);
  ck_assert (!seen.closed);
  ck_assert_uint_le (seen.stream_bytes, BRIDGE_QUEUED_MAX + BRIDGE_DATA_MAX);
  ck_assert_uint_eq (seen.notifies, 0);
  /* The FIFOs take it all: everything arrives.  */
  for (uint32_t k = 1; k <= streams; k++)
    bridge_conn_credit (seen.c, k, BRIDGE_STDOUT, BRIDGE_WINDOW);
  guest_write (&b, &off, 100000);
  spin (20);
  ck_assert_uint_eq (seen.notifies, 1);
  strbuf_release (&b);
}
END_TEST

/* ---- live migration: hold, hand over, adopt ---------------------------- */

struct side
{
  struct seen seen;
  int guest;
  struct bridge_handover handover;
  bool handed_over;
};

/* The host's end of a new socket pair; the guest's is sd->guest.  */
static int
side_open (struct side *sd)
{
  int fds[2];
  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                    0);
  memset (sd, 0, sizeof *sd);
  sd->guest = fds[1];
  fcntl (sd->guest, F_SETFL, O_NONBLOCK);
  return fds[0];
}

static void
on_handed_over (void *data, struct bridge_handover *h)
{
  struct side *sd = data;
  sd->handover = *h;
  *h = (struct bridge_handover){ 0 };
  sd->handed_over = true;
}

struct frames_seen
{
  uint8_t *types;
  int max;
  int count;
  uint32_t *last_id;
  /* Credit for stdout and stderr, summed.  */
  uint32_t credited[2];
};

static void
note_frame (void *data, const struct ttrpc_header *h, const uint8_t *b)
{
  struct frames_seen *f = data;
  if (f->count < f->max)
    f->types[f->count] = h->type;
  f->count++;
  if (h->type == BRIDGE_TYPE_REQUEST)
    *f->last_id = h->stream_id;
  if (h->type == BRIDGE_TYPE_CREDIT && h->length == 4
      && (h->flags == BRIDGE_STDOUT || h->flags == BRIDGE_STDERR))
    f->credited[h->flags - BRIDGE_STDOUT] += (uint32_t) b[0] << 24
                                             | (uint32_t) b[1] << 16
                                             | (uint32_t) b[2] << 8 | b[3];
}

/* Everything the guest end can read now: how many frames, their types in
   order (types[0..max)), the last request's id, and the credit per output
   stream (credited, when not NULL).  */
static int
guest_frames_credit (int fd, uint8_t *types, int max, uint32_t *last_id,
                     uint32_t *credited)
{
  struct frames_seen f = { types, max, 0, last_id, { 0, 0 } };
  read_guest_frames (fd, note_frame, &f);
  if (credited != NULL)
    memcpy (credited, f.credited, sizeof f.credited);
  return f.count;
}

static int
guest_frames (int fd, uint8_t *types, int max, uint32_t *last_id)
{
  return guest_frames_credit (fd, types, max, last_id, NULL);
}

static void
write_all (int fd, const char *p, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      ck_assert (w > 0 || errno == EAGAIN);
      if (w > 0)
        {
          p += w;
          n -= (size_t) w;
        }
      spin (1);
    }
}

/* What the guest sends across a switchover, split at every byte: each
   frame is heard exactly once, by one side or the other; what the source
   held reaches the guest through the destination first, with credit for
   all the output the source received (it passes that on itself); the
   streams are open at the destination without asking; request ids go
   on.  */
START_TEST (a_handover_splits_anywhere)
{
  strbuf stream = STRBUF_INIT;
  ttrpc_frame_append (&stream, 0, BRIDGE_TYPE_NOTIFY, 0, "{\"type\":\"a\"}",
                      12);
  ttrpc_frame_append (&stream, 5, BRIDGE_TYPE_DATA, BRIDGE_STDOUT, "hello", 5);
  ttrpc_frame_append (&stream, 0, BRIDGE_TYPE_NOTIFY, 0, "{\"type\":\"b\"}",
                      12);
  ttrpc_frame_append (&stream, 5, BRIDGE_TYPE_DATA, BRIDGE_STDERR, "world!",
                      6);
  for (size_t split = 0; split <= stream.len; split++)
    {
      uv_loop_init (&loop);
      struct side src, dst;
      shim_error *err = NULL;
      int host = side_open (&src);
      struct bridge_conn *a
          = bridge_conn_new (&loop, host, "vm1", &events, &src.seen, &err);
      src.seen.c = a;
      bridge_conn_open_streams (a, 5);
      /* The barrier goes out, then the host's frames are held.  */
      ck_assert_int_eq (bridge_conn_post (a, "{\"type\":\"ping\"}"), 0);
      bridge_conn_hold (a);
      ck_assert_int_eq (bridge_conn_send_stdin (a, 5, "in", 2), 0);
      bridge_conn_hand_over (a, on_handed_over, &src);
      write_all (src.guest, stream.data, split);
      spin (5);
      /* Only the barrier reached the guest.  */
      uint32_t id = 0;
      uint8_t types[4];
      ck_assert_int_eq (guest_frames (src.guest, types, 4, &id), 1);
      ck_assert_uint_eq (types[0], BRIDGE_TYPE_REQUEST);
      ck_assert_uint_eq (id, 1);
      shutdown (src.guest, SHUT_WR);
      for (int i = 0; i < 50 && !src.handed_over; i++)
        spin (1);
      ck_assert_msg (src.handed_over, "split %zu: no handover", split);
      ck_assert (!src.seen.closed);

      int host_b = side_open (&dst);
      struct bridge_conn *b = bridge_conn_adopt (
          &loop, host_b, "vm1", &events, &dst.seen, &src.handover, &err);
      ck_assert_msg (b != NULL, "split %zu: %s", split, err ? err->msg : "");
      dst.seen.c = b;
      ck_assert_uint_eq (src.handover.nstreams, 1);
      ck_assert_uint_eq (src.handover.streams[0], 5);
      ck_assert_uint_eq (bridge_conn_open_stream_count (b), 1);
      ck_assert_int_eq (bridge_conn_post (b, "{\"type\":\"ping\"}"), 0);
      write_all (dst.guest, stream.data + split, stream.len - split);
      spin (5);
      ck_assert_uint_eq (src.seen.notifies + dst.seen.notifies, 2);
      ck_assert_uint_eq (src.seen.stream_bytes + dst.seen.stream_bytes, 11);
      ck_assert_msg (!dst.seen.closed, "split %zu: %s", split,
                     dst.seen.violation);
      /* The held stdin first, the credit for what the source received
         (nothing of it was credited there), then the destination's own
         request, whose id follows the source's.  */
      size_t src_out = src.seen.stream_bytes;
      uint32_t credited[2];
      int want = 2 + (src_out >= 5) + (src_out > 5);
      ck_assert_int_eq (
          guest_frames_credit (dst.guest, types, 4, &id, credited), want);
      ck_assert_uint_eq (types[0], BRIDGE_TYPE_DATA);
      for (int i = 1; i < want - 1; i++)
        ck_assert_uint_eq (types[i], BRIDGE_TYPE_CREDIT);
      ck_assert_uint_eq (types[want - 1], BRIDGE_TYPE_REQUEST);
      ck_assert_uint_eq (credited[0] + credited[1], src_out);
      ck_assert_uint_eq (id, 2);

      bridge_handover_release (&src.handover);
      bridge_conn_close (b, NULL, true);
      close (src.guest);
      close (dst.guest);
      uv_run (&loop, UV_RUN_DEFAULT);
      ck_assert_int_eq (uv_loop_close (&loop), 0);
    }
  strbuf_release (&stream);
}
END_TEST

/* Released (the migration was cancelled), the held frames go out.  */
START_TEST (a_released_hold_sends_what_it_held)
{
  bridge_conn_hold (seen.c);
  ck_assert_int_eq (bridge_conn_send_stdin (seen.c, 5, "abc", 3), 0);
  ck_assert_int_eq (bridge_conn_post (seen.c, "{\"type\":\"ping\"}"), 0);
  spin (3);
  uint32_t id = 0;
  uint8_t types[4];
  ck_assert_int_eq (guest_frames (guest_fd, types, 4, &id), 0);
  bridge_conn_release (seen.c);
  spin (3);
  /* Both frames, in the order they were written.  */
  ck_assert_int_eq (guest_frames (guest_fd, types, 4, &id), 2);
  ck_assert_uint_eq (types[0], BRIDGE_TYPE_DATA);
  ck_assert_uint_eq (types[1], BRIDGE_TYPE_REQUEST);
  ck_assert_uint_eq (id, 1);
}
END_TEST

/* What the host holds is bounded as what it sends is: beyond
   BRIDGE_OUT_MAX a frame is refused.  */
START_TEST (holding_is_bounded)
{
  static char chunk[BRIDGE_DATA_MAX];
  bridge_conn_hold (seen.c);
  size_t held = 0;
  while (bridge_conn_send_stdin (seen.c, 5, chunk, sizeof chunk) == 0)
    {
      held += sizeof chunk;
      ck_assert_uint_le (held, BRIDGE_OUT_MAX);
    }
  ck_assert_uint_gt (held + sizeof chunk + TTRPC_HEADER_LEN, BRIDGE_OUT_MAX);
}
END_TEST

/* A handover's tail must be the start of one frame within the limits.  */
START_TEST (an_adopted_tail_is_checked)
{
  strbuf whole = STRBUF_INIT;
  ttrpc_frame_append (&whole, 0, BRIDGE_TYPE_NOTIFY, 0, "{}", 2);
  uint8_t huge[TTRPC_HEADER_LEN];
  struct ttrpc_header h = { BRIDGE_MESSAGE_MAX + 1, 0, BRIDGE_TYPE_NOTIFY, 0 };
  ttrpc_header_encode (huge, &h);
  struct bridge_handover cases[] = {
    { .inbound_tail = (uint8_t *) whole.data, .inbound_len = whole.len },
    { .inbound_tail = huge, .inbound_len = sizeof huge },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      int fds[2];
      ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM, 0, fds), 0);
      shim_error *err = NULL;
      struct seen other = { 0 };
      ck_assert_ptr_null (bridge_conn_adopt (&loop, fds[0], "vm1", &events,
                                             &other, &cases[i], &err));
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert (strstr (err->msg, "is not the start of one frame") != NULL);
      shim_error_free (err);
      close (fds[1]);
    }
  strbuf_release (&whole);
}
END_TEST

Suite *
bridge_conn_suite (void)
{
  Suite *s = suite_create ("bridge_conn");
  TCase *tc = tcase_create ("flow");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, credit_is_merged_per_stream);
  tcase_add_test (tc, output_beyond_the_window_ends_the_bridge);
  tcase_add_test (tc, oversize_frames_end_the_bridge);
  tcase_add_test (tc, bad_credit_size_ends_the_bridge);
  tcase_add_test (tc, meaningless_frames_are_counted);
  tcase_add_test (tc, a_guest_that_stops_reading_is_not_heard);
  tcase_add_test (tc, output_queued_for_the_fifos_is_capped);
  tcase_add_test (tc, a_released_hold_sends_what_it_held);
  tcase_add_test (tc, an_adopted_tail_is_checked);
  tcase_add_test (tc, holding_is_bounded);
  suite_add_tcase (s, tc);
  TCase *mig = tcase_create ("migration");
  tcase_add_test (mig, a_handover_splits_anywhere);
  suite_add_tcase (s, mig);
  return s;
}
