/* See ttrpc_client.h.  */
#include "ttrpc_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/clock.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "proto/ttrpc_frame.h"
#include "ttrpc.pb-c.h"

int
ttrpc_client_connect (const char *address, struct ttrpc_client *c,
                      shim_error **err)
{
  const char *path
      = strncmp (address, "unix://", 7) == 0 ? address + 7 : address;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "socket path %s is too long", path);
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return shim_error_errno (err, GRPC_UNAVAILABLE, e, "connect to %s",
                               path);
    }
  *c = (struct ttrpc_client){ .fd = fd,
                              .next_stream = 1,
                              .address = xstrdup (path) };
  return 0;
}

static int
write_all (int fd, const char *p, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      n -= (size_t) w;
    }
  return 0;
}

/* The response frame for stream, its body (malloc'd) in *body.  */
static int
read_response (struct ttrpc_client *c, uint32_t stream, uint64_t deadline,
               uint8_t **body, size_t *len, shim_error **err)
{
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  uint8_t buf[16384];
  for (;;)
    {
      uint64_t now = monotonic_ms ();
      if (now >= deadline)
        {
          ttrpc_decoder_release (&d);
          return shim_error_set (err, GRPC_DEADLINE_EXCEEDED,
                                 "%s did not answer in time", c->address);
        }
      struct pollfd p = { .fd = c->fd, .events = POLLIN };
      int r = poll (&p, 1, (int) (deadline - now));
      if (r < 0 && errno == EINTR)
        continue;
      ssize_t n = r > 0 ? read (c->fd, buf, sizeof buf) : 0;
      if (r > 0 && n <= 0)
        {
          ttrpc_decoder_release (&d);
          return shim_error_set (err, GRPC_UNAVAILABLE,
                                 "%s closed the connection", c->address);
        }
      size_t off = 0;
      while (off < (size_t) (n > 0 ? n : 0))
        {
          enum ttrpc_decode_event ev;
          off += ttrpc_decoder_feed (&d, buf + off, (size_t) n - off, &ev);
          if (ev == TTRPC_DECODE_OVERSIZED)
            {
              ttrpc_decoder_release (&d);
              return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                                     "%s sent a frame over %u bytes",
                                     c->address, TTRPC_MESSAGE_MAX);
            }
          if (ev == TTRPC_DECODE_FRAME && d.header.stream_id == stream
              && d.header.type == TTRPC_TYPE_RESPONSE)
            {
              *len = d.header.length;
              *body = ttrpc_decoder_take_body (&d);
              ttrpc_decoder_release (&d);
              return 0;
            }
          if (ev == TTRPC_DECODE_FRAME)
            free (ttrpc_decoder_take_body (&d));
        }
    }
}

int
ttrpc_client_call (struct ttrpc_client *c, const char *service,
                   const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc,
                   ProtobufCMessage **resp, uint32_t timeout_ms,
                   shim_error **err)
{
  size_t plen = protobuf_c_message_get_packed_size (req);
  cleanup_free uint8_t *payload = xmalloc (plen + 1);
  protobuf_c_message_pack (req, payload);
  Pb__Request r = PB__REQUEST__INIT;
  r.service = (char *) service;
  r.method = (char *) method;
  r.payload.data = payload;
  r.payload.len = plen;
  r.timeout_nano = (int64_t) timeout_ms * 1000000;
  size_t rlen = pb__request__get_packed_size (&r);
  if (rlen > TTRPC_MESSAGE_MAX)
    return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                           "%s request of %zu bytes is too large", method,
                           rlen);
  cleanup_free uint8_t *packed = xmalloc (rlen + 1);
  pb__request__pack (&r, packed);
  uint32_t stream = c->next_stream;
  c->next_stream += 2;
  strbuf frame = STRBUF_INIT;
  ttrpc_frame_append (&frame, stream, TTRPC_TYPE_REQUEST, 0, packed, rlen);
  int w = write_all (c->fd, frame.data, frame.len);
  strbuf_release (&frame);
  if (w < 0)
    return shim_error_errno (err, GRPC_UNAVAILABLE, errno, "write to %s",
                             c->address);
  uint8_t *body = NULL;
  size_t len = 0;
  if (read_response (c, stream, monotonic_ms () + timeout_ms, &body, &len, err)
      < 0)
    return -1;
  Pb__Response *answer = pb__response__unpack (NULL, len, body);
  free (body);
  if (answer == NULL)
    return shim_error_set (err, GRPC_INTERNAL,
                           "%s: undecodable ttrpc response", method);
  int ret = 0;
  if (answer->status != NULL && answer->status->code != 0)
    ret = shim_error_set (err, answer->status->code, "%s",
                          answer->status->message);
  else
    {
      *resp = protobuf_c_message_unpack (resp_desc, NULL, answer->payload.len,
                                         answer->payload.data);
      if (*resp == NULL)
        ret = shim_error_set (err, GRPC_INTERNAL,
                              "%s: undecodable response payload", method);
    }
  pb__response__free_unpacked (answer, NULL);
  return ret;
}

void
ttrpc_client_close (struct ttrpc_client *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  free (c->address);
  c->address = NULL;
}
