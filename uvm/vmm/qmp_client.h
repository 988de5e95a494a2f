/* A QMP client for one QEMU: connects on first use (or at once with
   qmp_client_watch), negotiates capabilities, runs commands one at a time
   (each bounded by a timeout) and reports each one's result or QEMU's
   error; events go to the watcher, if any, and to a command that waits for
   one.  */
#ifndef LCOW_UVM_QMP_CLIENT_H
#define LCOW_UVM_QMP_CLIENT_H

#include <uv.h>

#include "proto/base/error.h"
#include "proto/base/json.h"

struct qmp_client;

/* ret: the command's "return" value (NULL with err).  */
typedef void (*qmp_done_fn) (void *data, const json_value *ret,
                             const shim_error *err);
/* An event's name and its "data" member (NULL when it has none).  */
typedef void (*qmp_event_fn) (void *data, const char *event,
                              const json_value *event_data);

struct qmp_client *qmp_client_new (uv_loop_t *loop, const char *socket_path);
/* Queues {"execute": command, "arguments": arguments_json}; done is called
   exactly once (by qmp_client_close at the latest, with Unavailable).  */
void qmp_client_execute (struct qmp_client *q, const char *command,
                         const char *arguments_json, qmp_done_fn done,
                         void *data);
/* The same, for a command QEMU completes later (device_del): done once
   QEMU has replied and then sent `event` with data.device == device, or
   with DeadlineExceeded when the event does not come within the command
   timeout.  Later commands wait meanwhile.  */
void qmp_client_execute_until (struct qmp_client *q, const char *command,
                               const char *arguments_json, const char *event,
                               const char *device, qmp_done_fn done,
                               void *data);
/* The same, passing fd with the command (SCM_RIGHTS: add-fd); takes fd
   and closes it once the command is done.  */
void qmp_client_execute_fd (struct qmp_client *q, const char *command,
                            const char *arguments_json, int fd,
                            qmp_done_fn done, void *data);
/* Connects now, waiting up to QMP_CONNECT_WAIT_MS for QEMU to make its
   socket, and passes every event to fn until the client is closed.  A
   client that cannot connect fails its commands (Unavailable).  */
#define QMP_CONNECT_WAIT_MS 5000
void qmp_client_watch (struct qmp_client *q, qmp_event_fn fn, void *data);
/* Fails queued commands; frees q once libuv lets go of its handles.  */
void qmp_client_close (struct qmp_client *q);

#endif
