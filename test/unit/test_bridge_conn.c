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
#include "uvm/bridge_conn.h"

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

/* Total credit and CREDIT frames the guest received for process.  */
static void
guest_credit (uint32_t process, uint32_t *total, int *frames)
{
  *total = 0;
  *frames = 0;
  uint8_t buf[65536];
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  ssize_t n;
  while ((n = read (guest_fd, buf, sizeof buf)) > 0)
    for (size_t off = 0; off < (size_t) n;)
      {
        enum ttrpc_decode_event ev;
        off += ttrpc_decoder_feed (&d, buf + off, (size_t) n - off, &ev);
        if (ev != TTRPC_DECODE_FRAME)
          continue;
        uint8_t *b = ttrpc_decoder_take_body (&d);
        if (d.header.type == 5 && d.header.stream_id == process)
          {
            *total += (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16
                      | (uint32_t) b[2] << 8 | b[3];
            (*frames)++;
          }
        free (b);
      }
  ttrpc_decoder_release (&d);
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
  suite_add_tcase (s, tc);
  return s;
}
