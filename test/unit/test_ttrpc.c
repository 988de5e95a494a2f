/* ttrpc frame codec and server: the golden vectors of the protocol spec
   (§1.13), every chunking of the input, the 4 MiB cap, stream-id rules,
   unknown services and methods, and out-of-order completion.  */
#include <check.h>

#include "suites.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/ttrpc_server.h"
#include "proto/base/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "task.pb-c.h"
#include "ttrpc.pb-c.h"

static size_t
unhex (const char *hex, uint8_t *out)
{
  size_t n = 0;
  for (const char *p = hex; *p;)
    {
      if (*p == ' ')
        {
          p++;
          continue;
        }
      unsigned v;
      sscanf (p, "%2x", &v);
      out[n++] = (uint8_t) v;
      p += 2;
    }
  return n;
}

/* Vector 1: Connect{id:"demo"} with namespace metadata, 91 bytes.  */
static uint8_t connect_frame[128];
static size_t connect_len;

static void
build_connect_frame (void)
{
  strbuf sb = STRBUF_INIT;
  strbuf_append (&sb, "\x00\x00\x00\x51\x00\x00\x00\x01\x01\x00", 10);
  strbuf_append (&sb,
                 "\x0a\x17"
                 "containerd.task.v2.Task",
                 25);
  strbuf_append (&sb,
                 "\x12\x07"
                 "Connect",
                 9);
  strbuf_append (&sb,
                 "\x1a\x06\x0a\x04"
                 "demo",
                 8);
  strbuf_append (&sb,
                 "\x2a\x25\x0a\x1a"
                 "containerd-namespace-ttrpc"
                 "\x12\x07"
                 "default",
                 39);
  memcpy (connect_frame, sb.data, sb.len);
  connect_len = sb.len;
  strbuf_release (&sb);
}

START_TEST (test_decode_golden_connect_any_chunking)
{
  build_connect_frame ();
  ck_assert_uint_eq (connect_len, 91);
  for (size_t chunk = 1; chunk <= connect_len; chunk++)
    {
      struct ttrpc_decoder d;
      ttrpc_decoder_init (&d);
      int frames = 0;
      for (size_t off = 0; off < connect_len;)
        {
          size_t n = connect_len - off < chunk ? connect_len - off : chunk;
          size_t used = 0;
          while (used < n)
            {
              enum ttrpc_decode_event ev;
              used += ttrpc_decoder_feed (&d, connect_frame + off + used,
                                          n - used, &ev);
              if (ev == TTRPC_DECODE_FRAME)
                {
                  frames++;
                  ck_assert_uint_eq (d.header.length, 81);
                  ck_assert_uint_eq (d.header.stream_id, 1);
                  ck_assert_uint_eq (d.header.type, TTRPC_TYPE_REQUEST);
                  uint8_t *body = ttrpc_decoder_take_body (&d);
                  Pb__Request *r = pb__request__unpack (NULL, 81, body);
                  ck_assert_ptr_nonnull (r);
                  ck_assert_str_eq (r->service, "containerd.task.v2.Task");
                  ck_assert_str_eq (r->method, "Connect");
                  ck_assert_uint_eq (r->n_metadata, 1);
                  ck_assert_str_eq (r->metadata[0]->key,
                                    "containerd-namespace-ttrpc");
                  Pb__ConnectRequest *c = pb__connect_request__unpack (
                      NULL, r->payload.len, r->payload.data);
                  ck_assert_str_eq (c->id, "demo");
                  pb__connect_request__free_unpacked (c, NULL);
                  pb__request__free_unpacked (r, NULL);
                  free (body);
                }
            }
          off += n;
        }
      ck_assert_int_eq (frames, 1);
      ttrpc_decoder_release (&d);
    }
}
END_TEST

START_TEST (test_encode_golden_replies)
{
  /* Vector 1 reply: ConnectResponse{shim_pid=1234, task_pid=5678}.  */
  Pb__ConnectResponse cr = PB__CONNECT_RESPONSE__INIT;
  cr.shim_pid = 1234;
  cr.task_pid = 5678;
  uint8_t payload[16];
  size_t plen = pb__connect_response__pack (&cr, payload);
  Pb__Response resp = PB__RESPONSE__INIT;
  resp.payload.data = payload;
  resp.payload.len = plen;
  uint8_t body[32];
  size_t blen = pb__response__pack (&resp, body);
  strbuf sb = STRBUF_INIT;
  ttrpc_frame_append (&sb, 1, TTRPC_TYPE_RESPONSE, 0, body, blen);
  uint8_t want[64];
  size_t wlen = unhex ("00000008 00000001 02 00 12 06 08d209 10ae2c", want);
  ck_assert_uint_eq (sb.len, wlen);
  ck_assert_mem_eq (sb.data, want, wlen);
  strbuf_release (&sb);

  /* Vector 5: DeleteResponse{42, 137, {1700000000 s, 5 ns}}.  */
  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  ts.seconds = 1700000000;
  ts.nanos = 5;
  Pb__DeleteResponse dr = PB__DELETE_RESPONSE__INIT;
  dr.pid = 42;
  dr.exit_status = 137;
  dr.exited_at = &ts;
  uint8_t out[32];
  size_t n = pb__delete_response__pack (&dr, out);
  wlen = unhex ("082a 108901 1a08 0880e2cfaa06 1005", want);
  ck_assert_uint_eq (n, wlen);
  ck_assert_mem_eq (out, want, wlen);
}
END_TEST

START_TEST (test_oversized_header_is_discarded)
{
  /* A header announcing 5 MiB, then 100 bytes of its data, then a valid
     empty frame: the decoder reports the oversize without allocating and
     resumes after the discarded data.  */
  size_t big = 5u << 20;
  uint8_t *buf = calloc (1, 10 + big + 10);
  struct ttrpc_header h = { (uint32_t) big, 3, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode (buf, &h);
  struct ttrpc_header h2 = { 0, 5, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode (buf + 10 + big, &h2);
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  int oversized = 0, frames = 0;
  size_t total = 10 + big + 10, off = 0;
  while (off < total)
    {
      size_t n = total - off < 65536 ? total - off : 65536;
      size_t used = 0;
      while (used < n)
        {
          enum ttrpc_decode_event ev;
          used += ttrpc_decoder_feed (&d, buf + off + used, n - used, &ev);
          ck_assert_uint_le (ttrpc_decoder_buffered (&d), 10);
          if (ev == TTRPC_DECODE_OVERSIZED)
            {
              oversized++;
              ck_assert_uint_eq (d.header.stream_id, 3);
            }
          if (ev == TTRPC_DECODE_FRAME)
            {
              frames++;
              ck_assert_uint_eq (d.header.stream_id, 5);
              free (ttrpc_decoder_take_body (&d));
            }
        }
      off += n;
    }
  ck_assert_int_eq (oversized, 1);
  ck_assert_int_eq (frames, 1);
  ttrpc_decoder_release (&d);
  free (buf);
}
END_TEST

START_TEST (test_several_frames_in_one_buffer)
{
  strbuf sb = STRBUF_INIT;
  for (uint32_t i = 0; i < 5; i++)
    ttrpc_frame_append (&sb, 2 * i + 1, TTRPC_TYPE_REQUEST, 0, "abc",
                        i % 2 ? 3 : 0);
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  size_t off = 0;
  uint32_t next = 1;
  while (off < sb.len)
    {
      enum ttrpc_decode_event ev;
      off += ttrpc_decoder_feed (&d, (uint8_t *) sb.data + off, sb.len - off,
                                 &ev);
      if (ev == TTRPC_DECODE_FRAME)
        {
          ck_assert_uint_eq (d.header.stream_id, next);
          next += 2;
          free (ttrpc_decoder_take_body (&d));
        }
    }
  ck_assert_uint_eq (next, 11);
  strbuf_release (&sb);
  ttrpc_decoder_release (&d);
}
END_TEST

/* ---- server over a socketpair ----------------------------------------- */

static uv_loop_t loop;
static struct ttrpc_server *server;
static int client_fd;
static struct ttrpc_call *parked_calls[16];
static size_t nparked;

static void
h_echo (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  (void) data;
  Pb__ConnectRequest *r = pb__connect_request__unpack (NULL, len, payload);
  Pb__ConnectResponse resp = PB__CONNECT_RESPONSE__INIT;
  resp.version = r ? r->id : "";
  ttrpc_call_reply (call, &resp.base);
  if (r)
    pb__connect_request__free_unpacked (r, NULL);
}

static void
h_park (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  (void) data, (void) payload, (void) len;
  parked_calls[nparked++] = call;
}

static void
h_huge (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  (void) data, (void) payload, (void) len;
  Pb__ConnectResponse resp = PB__CONNECT_RESPONSE__INIT;
  char *big = malloc (5u << 20);
  memset (big, 'x', (5u << 20) - 1);
  big[(5u << 20) - 1] = '\0';
  resp.version = big;
  ttrpc_call_reply (call, &resp.base);
  free (big);
}

static const struct ttrpc_method test_methods[] = {
  { "Echo", h_echo, 0 },
  { "Park", h_park, 0 },
  { "Huge", h_huge, 0 },
};
static struct ttrpc_service test_service
    = { "test.Service", test_methods, 3, NULL };

static void
server_setup (void)
{
  int sv[2];
  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
  uv_loop_init (&loop);
  struct ttrpc_server_limits lim = { 8, 1u << 20 };
  server = ttrpc_server_new (&loop, &lim);
  ttrpc_server_register (server, &test_service);
  ck_assert_int_eq (ttrpc_server_adopt_conn (server, sv[0], NULL), 0);
  client_fd = sv[1];
  fcntl (client_fd, F_SETFL, O_NONBLOCK);
  nparked = 0;
}

static void
closed (void *data)
{
  *(int *) data = 1;
}

static void
server_teardown (void)
{
  int done = 0;
  for (size_t i = 0; i < nparked; i++)
    ttrpc_call_reply (parked_calls[i], NULL);
  nparked = 0;
  ttrpc_server_close (server, closed, &done);
  while (!done)
    uv_run (&loop, UV_RUN_ONCE);
  ck_assert_int_eq (uv_loop_close (&loop), 0);
  close (client_fd);
}

static void
send_request (uint32_t sid, const char *service, const char *method,
              const char *id)
{
  Pb__ConnectRequest cr = PB__CONNECT_REQUEST__INIT;
  cr.id = (char *) id;
  uint8_t payload[256];
  size_t plen = pb__connect_request__pack (&cr, payload);
  Pb__Request req = PB__REQUEST__INIT;
  req.service = (char *) service;
  req.method = (char *) method;
  req.payload.data = payload;
  req.payload.len = plen;
  uint8_t body[512];
  size_t blen = pb__request__pack (&req, body);
  strbuf sb = STRBUF_INIT;
  ttrpc_frame_append (&sb, sid, TTRPC_TYPE_REQUEST, 0, body, blen);
  ck_assert_int_eq (write (client_fd, sb.data, sb.len), (ssize_t) sb.len);
  strbuf_release (&sb);
}

/* Runs the loop until one whole response frame is read.  */
static Pb__Response *
read_response (uint32_t *sid)
{
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  for (int spins = 0; spins < 100000; spins++)
    {
      uv_run (&loop, UV_RUN_NOWAIT);
      uint8_t b;
      ssize_t n = read (client_fd, &b, 1);
      if (n != 1)
        continue;
      enum ttrpc_decode_event ev;
      ttrpc_decoder_feed (&d, &b, 1, &ev);
      if (ev == TTRPC_DECODE_FRAME)
        {
          ck_assert_uint_eq (d.header.type, TTRPC_TYPE_RESPONSE);
          *sid = d.header.stream_id;
          uint8_t *body = ttrpc_decoder_take_body (&d);
          Pb__Response *r = pb__response__unpack (NULL, d.header.length, body);
          free (body);
          ttrpc_decoder_release (&d);
          return r;
        }
    }
  ck_abort_msg ("no response");
  return NULL;
}

static void
expect_status (uint32_t want_sid, int code, const char *msg)
{
  uint32_t sid;
  Pb__Response *r = read_response (&sid);
  ck_assert_uint_eq (sid, want_sid);
  ck_assert_ptr_nonnull (r->status);
  ck_assert_int_eq (r->status->code, code);
  ck_assert_str_eq (r->status->message, msg);
  pb__response__free_unpacked (r, NULL);
}

START_TEST (test_unknown_service_and_method)
{
  send_request (7, "test.Service", "Bogus", "x");
  expect_status (7, 12, "method Bogus");
  send_request (9, "no.such.Service", "Connect", "x");
  expect_status (9, 12, "service no.such.Service");
}
END_TEST

START_TEST (test_stream_id_rules)
{
  send_request (4, "test.Service", "Echo", "x");
  expect_status (4, 3, "StreamID must be odd for client initiated streams");
  send_request (5, "test.Service", "Echo", "x");
  uint32_t sid;
  Pb__Response *r = read_response (&sid);
  ck_assert_ptr_null (r->status);
  pb__response__free_unpacked (r, NULL);
  send_request (5, "test.Service", "Echo", "x");
  expect_status (5, 3, "StreamID cannot be re-used and must increment");
}
END_TEST

START_TEST (test_parked_call_does_not_block_others)
{
  send_request (1, "test.Service", "Park", "w");
  send_request (3, "test.Service", "Echo", "first");
  uint32_t sid;
  Pb__Response *r = read_response (&sid);
  ck_assert_uint_eq (sid, 3);
  ck_assert_ptr_null (r->status);
  Pb__ConnectResponse *c
      = pb__connect_response__unpack (NULL, r->payload.len, r->payload.data);
  ck_assert_str_eq (c->version, "first");
  pb__connect_response__free_unpacked (c, NULL);
  pb__response__free_unpacked (r, NULL);
  ck_assert_uint_eq (nparked, 1);
  ttrpc_call_reply (parked_calls[0], NULL);
  nparked = 0;
  r = read_response (&sid);
  ck_assert_uint_eq (sid, 1);
  ck_assert_ptr_null (r->status);
  ck_assert_uint_eq (r->payload.len, 0);
  pb__response__free_unpacked (r, NULL);
}
END_TEST

START_TEST (test_oversized_request_and_reply)
{
  /* An oversized request: ResourceExhausted on its stream, then service
     continues on the same connection.  */
  size_t big = (4u << 20) + 1;
  uint8_t hdr[10];
  struct ttrpc_header h = { (uint32_t) big, 11, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode (hdr, &h);
  ck_assert_int_eq (write (client_fd, hdr, 10), 10);
  char *junk = calloc (1, big);
  size_t sent = 0;
  uint32_t sid;
  while (sent < big)
    {
      ssize_t n = write (client_fd, junk + sent, big - sent);
      if (n > 0)
        sent += (size_t) n;
      uv_run (&loop, UV_RUN_NOWAIT);
    }
  free (junk);
  expect_status (
      11, 8, "message length 4194305 exceed maximum message size of 4194304");
  /* A reply that would exceed the cap becomes ResourceExhausted.  */
  send_request (13, "test.Service", "Huge", "x");
  Pb__Response *r = read_response (&sid);
  ck_assert_uint_eq (sid, 13);
  ck_assert_int_eq (r->status->code, 8);
  pb__response__free_unpacked (r, NULL);
  send_request (15, "test.Service", "Echo", "still");
  r = read_response (&sid);
  ck_assert_uint_eq (sid, 15);
  ck_assert_ptr_null (r->status);
  pb__response__free_unpacked (r, NULL);
}
END_TEST

START_TEST (test_garbage_request_body)
{
  strbuf sb = STRBUF_INIT;
  ttrpc_frame_append (&sb, 1, TTRPC_TYPE_REQUEST, 0, "\xff\xff\xff\xff", 4);
  /* A frame of an unknown type is ignored; the next one is answered.  */
  ttrpc_frame_append (&sb, 3, 0x7f, 0, "", 0);
  ck_assert_int_eq (write (client_fd, sb.data, sb.len), (ssize_t) sb.len);
  strbuf_release (&sb);
  expect_status (1, 3, "unmarshal request error: invalid protobuf");
  send_request (5, "test.Service", "Echo", "ok");
  uint32_t sid;
  Pb__Response *r = read_response (&sid);
  ck_assert_uint_eq (sid, 5);
  pb__response__free_unpacked (r, NULL);
}
END_TEST

START_TEST (test_in_flight_cap)
{
  /* Limit is 8: the ninth parked call is refused, not dropped.  */
  for (uint32_t i = 0; i < 8; i++)
    send_request (2 * i + 1, "test.Service", "Park", "p");
  send_request (17, "test.Service", "Park", "p");
  expect_status (17, 8, "too many requests in flight on this connection (8)");
}
END_TEST

Suite *
ttrpc_suite (void)
{
  Suite *s = suite_create ("ttrpc");
  TCase *codec = tcase_create ("codec");
  tcase_add_test (codec, test_decode_golden_connect_any_chunking);
  tcase_add_test (codec, test_encode_golden_replies);
  tcase_add_test (codec, test_oversized_header_is_discarded);
  tcase_add_test (codec, test_several_frames_in_one_buffer);
  suite_add_tcase (s, codec);
  TCase *srv = tcase_create ("server");
  tcase_add_checked_fixture (srv, server_setup, server_teardown);
  tcase_add_test (srv, test_unknown_service_and_method);
  tcase_add_test (srv, test_stream_id_rules);
  tcase_add_test (srv, test_parked_call_does_not_block_others);
  tcase_add_test (srv, test_oversized_request_and_reply);
  tcase_add_test (srv, test_garbage_request_body);
  tcase_add_test (srv, test_in_flight_cap);
  tcase_set_timeout (srv, 30);
  suite_add_tcase (s, srv);
  return s;
}
