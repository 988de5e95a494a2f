/* See guest_adoption.h.  */
#include "guest_adoption.h"
#include "guest_process.h"
#include "pod_volumes.h"
#include "service_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"

/* ---- source ------------------------------------------------------------- */

void
guest_deliver_held_exits (struct task_service *ts)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (!t->exit_held)
      continue;
    t->exit_held = false;
    if (t->creating)
      t->exit_parked = true;
    else
      guest_process_deliver_exit (t);
  }
}

void
guest_handover_state (struct task_service *ts, const uint32_t *keys, size_t n,
                      struct stream_handover *streams,
                      struct held_exit **exits, size_t *nexits)
{
  for (size_t i = 0; i < n; i++)
    {
      struct task *t = task_find_key (ts, keys[i]);
      streams[i] = (struct stream_handover){ .key = keys[i] };
      if (t != NULL && t->relay != NULL)
        stdio_relay_stdin_state (t->relay, &streams[i].stdin_unacked,
                                 &streams[i].stdin_closed);
    }
  *nexits = 0;
  *exits = xzalloc ((service_tasks (ts)->count + 1) * sizeof **exits);
  size_t cap = service_tasks (ts)->count;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t->exit_held && t->exec_id == NULL && *nexits < cap)
      (*exits)[(*nexits)++]
          = (struct held_exit){ t->key, t->exit_status_pending,
                                t->held_message, t->held_message_len };
  }
}

/* How long a moved container's output may take to reach the source's
   FIFOs (a reader that went away would hold it for ever).  */
#define MOVED_DRAIN_MS 10000

static void
moved_when_drained (void *data)
{
  struct task *t = data;
  if (t->relay != NULL && !stdio_relay_drained (t->relay))
    log_entry (LOG_LEVEL_WARN,
               "moved container: output not written to its FIFO within the "
               "bound is dropped here",
               (struct log_field[]){ { "task", t->id } }, 1);
  task_moved (t);
}

void
guest_processes_moved (struct task_service *ts)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t == sandbox_task (ts) || t->exited)
      continue;
    t->exit_held = false;
    log_entry (LOG_LEVEL_INFO,
               "container moved to the destination with its VM",
               (struct log_field[]){ { "task", t->id } }, 1);
    if (t->relay != NULL)
      stdio_relay_when_drained_within (t->relay, MOVED_DRAIN_MS,
                                       moved_when_drained, t);
    else
      task_moved (t);
  }
}

/* ---- destination -------------------------------------------------------- */

static void
on_adopted_rootfs (void *data, const uint32_t *targets, size_t ntargets,
                   const shim_error *err)
{
  struct task *t = data;
  (void) targets;
  (void) ntargets;
  shim_error gone
      = { GRPC_FAILED_PRECONDITION, (char *) "the pod's sandbox is gone" };
  if (err == NULL && sandbox_uvm (t->ts) == NULL)
    err = &gone;
  if (err != NULL)
    {
      guest_container_create_failed (t, err);
      return;
    }
  /* Its output flows from Finalize on; stdin is read from then.  */
  guest_container_created (t, false,
                           "container adopted from the migration's source");
}

void
guest_container_adopt (struct task *t, struct ttrpc_call *call,
                       Pb__CreateTaskRequest *req, const struct oci_spec *spec,
                       const struct migrating_container *mc)
{
  t->adopted = true;
  t->guest_id = xstrdup (mc->guest_id);
  t->key = mc->key;
  t->pid = mc->pid;
  if (guest_container_begin (t, call, req, spec) < 0)
    return;
  struct layer_expectation *expect
      = xzalloc ((mc->nlayers + 1) * sizeof *expect);
  for (size_t i = 0; i < mc->nlayers; i++)
    expect[i] = (struct layer_expectation){ mc->layers[i].target,
                                            mc->layers[i].digest };
  shim_error *err = NULL;
  /* on_adopted_rootfs may run (and end t) before this returns.  */
  int r = guest_container_prepare_rootfs (t, expect, mc->nlayers,
                                          on_adopted_rootfs, &err);
  free (expect);
  if (r == 0)
    return;
  shim_error_wrap (&err, "source container %s", mc->id);
  guest_container_create_failed (t, err);
  shim_error_free (err);
}

void
guest_adoption_finalized (struct task_service *ts,
                          const struct stream_handover *streams,
                          size_t nstreams, const struct held_exit *exits,
                          size_t nexits)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (!t->adopted)
      continue;
    t->adopted = false;
    for (size_t i = 0; i < nstreams && t->relay != NULL; i++)
      if (streams[i].key == t->key)
        stdio_relay_take_stdin (t->relay, streams[i].stdin_unacked,
                                streams[i].stdin_closed);
    if (t->relay != NULL)
      stdio_relay_start (t->relay);
  }
  for (size_t i = 0; i < nexits; i++)
    {
      struct task *t = task_find_key (ts, exits[i].key);
      if (t == NULL || t->exited)
        continue;
      t->exit_status_pending = exits[i].status;
      /* The guest wrote it in the source's file: the kubelet here reads
         this side's.  */
      shim_error *werr = NULL;
      if (exits[i].message != NULL && t->volumes != NULL
          && pod_volumes_write_termination (t->volumes, exits[i].message,
                                            exits[i].message_len, &werr)
                 < 0)
        {
          log_warn ("container %s: %s", t->id, werr->msg);
          shim_error_free (werr);
        }
      guest_process_deliver_exit (t);
    }
}

void
guest_adoption_abandon (struct task_service *ts, const char *why)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (!t->adopted)
      continue;
    if (t->exited)
      {
        /* Its end is recorded (its VM went); it is an ordinary record.  */
        t->adopted = false;
        continue;
      }
    if (t->creating)
      {
        shim_error e = { GRPC_FAILED_PRECONDITION, (char *) why };
        guest_container_create_failed (t, &e);
        continue;
      }
    t->adopted = false;
    /* Its process never ran in this sandbox's VM: nothing to ask it.  */
    t->pod_serial = 0;
    log_entry (LOG_LEVEL_WARN, why,
               (struct log_field[]){ { "task", t->id },
                                     { "source-container", t->guest_id } },
               2);
    task_exited (t, 255);
  }
}
