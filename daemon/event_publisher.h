/* Publishes task events to containerd over ttrpc
   containerd.services.events.ttrpc.v1.Events/Forward, one at a time in
   order, from a bounded queue: a containerd that is briefly unreachable
   loses nothing (reconnect with backoff, resend).  */
#ifndef LCOW_EVENT_PUBLISHER_H
#define LCOW_EVENT_PUBLISHER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <uv.h>

#define EVENT_QUEUE_MAX 2048
#define EVENT_MAX_ATTEMPTS 5

struct event_publisher;

/* address: containerd's ttrpc socket path ($TTRPC_ADDRESS); NULL or empty
   means events are only logged.  */
struct event_publisher *
event_publisher_new (uv_loop_t *loop, const char *address, const char *ns);
/* type_name is the bare message name, e.g. containerd.events.TaskExit.  */
void event_publisher_publish (struct event_publisher *p, const char *topic,
                              const char *type_name,
                              const ProtobufCMessage *event);
size_t event_publisher_pending (const struct event_publisher *p);
/* Waits up to drain_ms for the queue to empty, closes every handle, frees
   the publisher and calls done.  */
void event_publisher_close (struct event_publisher *p, uint64_t drain_ms,
                            void (*done) (void *), void *data);

#endif
