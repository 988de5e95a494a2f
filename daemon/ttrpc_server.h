/* A ttrpc server on libuv: unary calls, every request handled as soon as it
   is read (a parked Wait never blocks Start, State or Kill on the same
   connection), replies written in completion order through one ordered
   queue per connection, 4 MiB frame cap both ways, same-uid peers only.  */
#ifndef LCOW_TTRPC_SERVER_H
#define LCOW_TTRPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct ttrpc_server;
struct ttrpc_call;

/* A handler must eventually complete the call exactly once, with
   ttrpc_call_reply or ttrpc_call_fail, now or later.  */
typedef void (*ttrpc_handler) (struct ttrpc_call *call, void *service_data,
                               const uint8_t *payload, size_t len);

struct ttrpc_method
{
  const char *name;
  ttrpc_handler handler;
  /* What the service declares about the method, read back during the call
   (ttrpc_call_policy); the server gives it no meaning.  */
  int policy;
};

struct ttrpc_service
{
  const char *name;
  const struct ttrpc_method *methods;
  size_t nmethods;
  void *data;
};

struct ttrpc_server_limits
{
  /* Requests in flight on one connection before new ones are refused.  */
  size_t max_calls_per_conn;
  /* Reply bytes queued on one connection before reading pauses.  */
  size_t max_queued_reply_bytes;
};

struct ttrpc_server *ttrpc_server_new (uv_loop_t *loop,
                                       const struct ttrpc_server_limits *lim);
/* The service must outlive the server.  */
void ttrpc_server_register (struct ttrpc_server *s,
                            const struct ttrpc_service *service);
/* Serves on an already listening unix socket fd (takes ownership).  */
int ttrpc_server_serve_fd (struct ttrpc_server *s, int fd, shim_error **err);
/* Serves one already connected stream fd (tests, socketpairs).  */
int ttrpc_server_adopt_conn (struct ttrpc_server *s, int fd, shim_error **err);
/* Stops listening and closes every connection; in-flight calls are
   abandoned (their completion is discarded).  Frees the server once every
   handle is closed, then calls done.  */
void ttrpc_server_close (struct ttrpc_server *s, void (*done) (void *),
                         void *data);
size_t ttrpc_server_connection_count (const struct ttrpc_server *s);

/* Replies OK with msg serialized as the payload (NULL: empty payload).  A
   reply larger than the frame cap becomes ResourceExhausted.  */
void ttrpc_call_reply (struct ttrpc_call *call, const ProtobufCMessage *msg);
void ttrpc_call_fail (struct ttrpc_call *call, const shim_error *err);
void ttrpc_call_fail_code (struct ttrpc_call *call, int code, const char *fmt,
                           ...) __attribute__ ((format (printf, 3, 4)));
/* True when the client is gone: the reply will be discarded.  */
bool ttrpc_call_orphaned (const struct ttrpc_call *call);
const char *ttrpc_call_method (const struct ttrpc_call *call);
/* The called method's ttrpc_method.policy.  */
int ttrpc_call_policy (const struct ttrpc_call *call);
/* The unpacked request, or NULL with the call failed (InvalidArgument).  */
ProtobufCMessage *ttrpc_call_decode (struct ttrpc_call *call,
                                     const ProtobufCMessageDescriptor *desc,
                                     const uint8_t *payload, size_t len);

/* h_<method>: the ttrpc handler that decodes the request, calls
   handle_<method> (service data, call, request) and frees the request
   unless that returned true (it kept it).  */
#define TTRPC_HANDLER(method, type, prefix)                                   \
  static void h_##method (struct ttrpc_call *call, void *data,                \
                          const uint8_t *payload, size_t len)                 \
  {                                                                           \
    type *req = (type *) ttrpc_call_decode (call, &prefix##__descriptor,      \
                                            payload, len);                    \
    if (req != NULL && !handle_##method (data, call, req))                    \
      protobuf_c_message_free_unpacked (&req->base, NULL);                    \
  }

#endif
