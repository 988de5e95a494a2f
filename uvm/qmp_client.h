/* A QMP client for one QEMU: connects on first use, negotiates
   capabilities, runs commands one at a time (each bounded by a timeout) and
   reports each one's success or QEMU's error.  Events matter only to a
   command that waits for one.  */
#ifndef LCOW_UVM_QMP_CLIENT_H
#define LCOW_UVM_QMP_CLIENT_H

#include <uv.h>

#include "proto/error.h"

struct qmp_client;

typedef void (*qmp_done_fn) (void *data, const shim_error *err);

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
/* Fails queued commands; frees q once libuv lets go of its handles.  */
void qmp_client_close (struct qmp_client *q);

#endif
