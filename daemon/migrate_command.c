/* See migrate_command.h.  */
#include "migrate_command.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migration.pb-c.h"
#include "proto/base/clock.h"
#include "shim_address.h"
#include "ttrpc_client.h"

#define SERVICE "lcow.migration.v1.Migration"
/* Calls that wait for the VM (describe: boot file hashes; finalize: QEMU
   quitting, the destination's first round trips).  */
#define CALL_MS 60000
/* Export may await the pod's exec'd processes, for the source shim's
   migration_timeout_ms (which it bounds; this only catches a lost
   shim).  */
#define EXPORT_CALL_MS (60 * 60 * 1000)
#define PROGRESS_EVERY_MS 100

static volatile sig_atomic_t interrupted;

static void
on_signal (int sig)
{
  (void) sig;
  interrupted = 1;
}

struct side
{
  const char *what;
  const char *id;
  struct ttrpc_client client;
};

static int
call_within (struct side *s, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
             int timeout_ms)
{
  shim_error *err = NULL;
  if (ttrpc_client_call (&s->client, SERVICE, method, req, desc, resp,
                         timeout_ms, &err)
      == 0)
    return 0;
  fprintf (stderr, "migrate: %s %s: %s (code %d)\n", s->what, method, err->msg,
           err->code);
  shim_error_free (err);
  return -1;
}

static int
call (struct side *s, const char *method, const ProtobufCMessage *req,
      const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
  return call_within (s, method, req, desc, resp, CALL_MS);
}

/* Before the switchover: the source keeps its VM, the destination stops
   the one that waited.  */
static void
cancel (struct side *s)
{
  Pb__CancelRequest req = PB__CANCEL_REQUEST__INIT;
  req.id = (char *) s->id;
  ProtobufCMessage *resp = NULL;
  if (call (s, "Cancel", &req.base, &pb__cancel_response__descriptor, &resp)
      == 0)
    protobuf_c_message_free_unpacked (resp, NULL);
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };
  nanosleep (&ts, NULL);
}

/* The source's Progress answer, or NULL (said on stderr).  */
static Pb__ProgressResponse *
progress (struct side *src)
{
  Pb__ProgressRequest req = PB__PROGRESS_REQUEST__INIT;
  req.id = (char *) src->id;
  Pb__ProgressResponse *p = NULL;
  if (call (src, "Progress", &req.base, &pb__progress_response__descriptor,
            (ProtobufCMessage **) &p)
      < 0)
    return NULL;
  return p;
}

/* Polls the source until QEMU's migration ends: the final progress, or
   NULL when the migration failed or was interrupted.  */
static Pb__ProgressResponse *
follow (struct side *src)
{
  char last[32] = "";
  for (;;)
    {
      if (interrupted)
        {
          fprintf (stderr, "migrate: interrupted: cancelling\n");
          return NULL;
        }
      Pb__ProgressResponse *p = progress (src);
      if (p == NULL)
        return NULL;
      if (strcmp (p->status, last) != 0 || strcmp (p->status, "active") == 0)
        printf ("transfer: %s, %llu of %llu bytes sent, %llu remaining\n",
                p->status, (unsigned long long) p->transferred_bytes,
                (unsigned long long) p->total_bytes,
                (unsigned long long) p->remaining_bytes);
      fflush (stdout);
      snprintf (last, sizeof last, "%s", p->status);
      if (strcmp (p->status, "completed") == 0)
        return p;
      if (strcmp (p->status, "failed") == 0
          || strcmp (p->status, "cancelled") == 0)
        {
          fprintf (stderr, "migrate: the transfer %s: %s\n", p->status,
                   p->error[0] ? p->error : "no reason given");
          pb__progress_response__free_unpacked (p, NULL);
          return NULL;
        }
      pb__progress_response__free_unpacked (p, NULL);
      sleep_ms (PROGRESS_EVERY_MS);
    }
}

static void
usage (void)
{
  fprintf (
      stderr,
      "usage: containerd-shim-lcow-v2 migrate [prepare|transfer|cancel] "
      "[--force]\n"
      "           SOURCE_SOCKET SOURCE_ID DESTINATION_SOCKET DESTINATION_ID\n"
      "       containerd-shim-lcow-v2 migrate [prepare|transfer|cancel] "
      "[--force]\n           --from ADDRESS[,NAMESPACE[,SOCKET_DIR]] "
      "SOURCE_ID\n"
      "           --to ADDRESS[,NAMESPACE[,SOCKET_DIR]] DESTINATION_ID\n"
      "  Moves the running VM of sandbox SOURCE_ID (a live-migratable pod) "
      "and its containers\n"
      "  to DESTINATION_ID, a sandbox task created with the annotation "
      "io.containerd.lcow.migration.incoming=true.\n"
      "  prepare   exports the source (frozen from here) and imports it at "
      "the destination;\n"
      "            the source first awaits its exec'd processes (they do not "
      "move), up to its\n"
      "            migration_timeout_ms; with --force it refuses at once "
      "while any run\n"
      "            prints \"adopt CONTAINER_ID\" for each container to "
      "create on the destination with\n"
      "            the annotation io.containerd.lcow.migration.source-"
      "container=CONTAINER_ID\n"
      "  transfer  once every container is adopted: moves the VM; rerun "
      "after a switchover it finalizes\n"
      "  cancel    cancels both sides (before the switchover)\n"
      "  (none)    prepare, then transfer; exits 3 after prepare when there "
      "are containers to adopt\n"
      "  Sockets are shim addresses (a path or unix://PATH); or each side is "
      "named as ctr names a pod:\n"
      "  containerd's address, its namespace (default k8s.io) and the "
      "sandbox id; the shim's socket is\n"
      "  found where containerd puts it (SOCKET_DIR, default "
      "$CONTAINERD_SHIM_LCOW_SOCKET_DIR or /run/containerd/s).\n"
      "  SIGINT or SIGTERM before the switchover cancels.\n");
}

/* The steps after Transfer started; 0 when the VM runs at the
   destination.  */
static int
switch_over (struct side *src, struct side *dst, uint64_t src_uptime,
             uint64_t started)
{
  Pb__ProgressResponse *done = follow (src);
  if (done == NULL)
    return -1;
  printf ("switchover: %llu ms, downtime %llu ms, %llu bytes sent\n",
          (unsigned long long) done->total_ms,
          (unsigned long long) done->downtime_ms,
          (unsigned long long) done->transferred_bytes);
  /* From here the destination runs the VM: nothing is cancelled.  */
  Pb__FinalizeRequest fin = PB__FINALIZE_REQUEST__INIT;
  fin.id = (char *) src->id;
  Pb__FinalizeResponse *out = NULL;
  if (call (src, "Finalize", &fin.base, &pb__finalize_response__descriptor,
            (ProtobufCMessage **) &out)
      < 0)
    {
      pb__progress_response__free_unpacked (done, NULL);
      return -2;
    }
  Pb__FinalizeRequest adopt = PB__FINALIZE_REQUEST__INIT;
  adopt.id = (char *) dst->id;
  adopt.handover = out->handover;
  Pb__FinalizeResponse *in = NULL;
  int r = call (dst, "Finalize", &adopt.base,
                &pb__finalize_response__descriptor, (ProtobufCMessage **) &in);
  if (r == 0)
    {
      uint64_t total = monotonic_ms () - started;
      printf ("finalize: the guest runs on the destination, up %llu ms (%llu "
              "ms at export)\n",
              (unsigned long long) in->guest_uptime_ms,
              (unsigned long long) src_uptime);
      printf ("migrated %s -> %s: total_ms=%llu transfer_ms=%llu "
              "downtime_ms=%llu bytes=%llu source_uptime_ms=%llu "
              "destination_uptime_ms=%llu\n",
              src->id, dst->id, (unsigned long long) total,
              (unsigned long long) done->total_ms,
              (unsigned long long) done->downtime_ms,
              (unsigned long long) done->transferred_bytes,
              (unsigned long long) src_uptime,
              (unsigned long long) in->guest_uptime_ms);
      pb__finalize_response__free_unpacked (in, NULL);
    }
  pb__finalize_response__free_unpacked (out, NULL);
  pb__progress_response__free_unpacked (done, NULL);
  return r < 0 ? -2 : 0;
}

/* Export from the source, Import at the destination (both cancelled if
   the destination refuses); 0 with both answers, or -1 (said on stderr;
   *exported may be set, the caller frees it).  The source awaits its
   exec'd processes, or with force refuses while any run.  Prints the
   containers the destination's containerd is to create ("adopt ID").  */
static int
prepare (struct side *src, struct side *dst, bool force,
         Pb__ExportResponse **exported, Pb__ImportResponse **imported)
{
  Pb__ExportRequest ex = PB__EXPORT_REQUEST__INIT;
  ex.id = (char *) src->id;
  ex.force = force;
  if (call_within (src, "Export", &ex.base, &pb__export_response__descriptor,
                   (ProtobufCMessage **) exported, EXPORT_CALL_MS)
      < 0)
    return -1;
  const Pb__VmDescription *vm = (*exported)->vm;
  printf ("export: sandbox %s, qemu %s, %s, %u vCPU, %llu MiB, guest up "
          "%llu ms\n",
          src->id, vm->qemu_version, vm->accel, vm->cpus,
          (unsigned long long) vm->memory_mb,
          (unsigned long long) vm->guest_uptime_ms);
  Pb__ImportRequest im = PB__IMPORT_REQUEST__INIT;
  im.id = (char *) dst->id;
  im.source = (*exported)->vm;
  im.n_containers = (*exported)->n_containers;
  im.containers = (*exported)->containers;
  im.next_process_key = (*exported)->next_process_key;
  if (call (dst, "Import", &im.base, &pb__import_response__descriptor,
            (ProtobufCMessage **) imported)
      < 0)
    {
      cancel (src);
      cancel (dst);
      return -1;
    }
  printf ("import: the destination accepts the VM\n");
  for (size_t i = 0; i < (*exported)->n_containers; i++)
    printf ("adopt %s\n", (*exported)->containers[i]->id);
  fflush (stdout);
  return 0;
}

/* The source's migration status ("" when it has none to tell), or NULL.  */
static char *
source_status (struct side *src)
{
  Pb__ProgressResponse *p = progress (src);
  if (p == NULL)
    return NULL;
  char *st = strdup (p->status);
  pb__progress_response__free_unpacked (p, NULL);
  return st;
}

/* Prepare at the destination (every container adopted), Transfer from
   the source, then the switchover; a source whose transfer completed
   already (an orchestrator that died) is only finalized.  src_uptime:
   the guest's at export, 0 when this step runs alone (not known).  0, or
   1.  */
static int
transfer (struct side *src, struct side *dst, uint64_t src_uptime,
          uint64_t started)
{
  char *st = source_status (src);
  if (st == NULL)
    return 1;
  bool completed = strcmp (st, "completed") == 0;
  free (st);
  if (completed)
    {
      printf ("transfer: completed before; finalizing\n");
      return switch_over (src, dst, src_uptime, started) == 0 ? 0 : 1;
    }
  Pb__PrepareRequest pr = PB__PREPARE_REQUEST__INIT;
  pr.id = (char *) dst->id;
  Pb__PrepareResponse *prepared = NULL;
  if (call (dst, "Prepare", &pr.base, &pb__prepare_response__descriptor,
            (ProtobufCMessage **) &prepared)
      < 0)
    return 1;
  printf ("prepare: the destination waits for the VM's state at %s\n",
          prepared->uri);
  Pb__TransferRequest tr = PB__TRANSFER_REQUEST__INIT;
  tr.id = (char *) src->id;
  tr.uri = prepared->uri;
  tr.token = prepared->token;
  ProtobufCMessage *ignored = NULL;
  int r = call (src, "Transfer", &tr.base, &pb__transfer_response__descriptor,
                &ignored);
  pb__prepare_response__free_unpacked (prepared, NULL);
  if (r < 0)
    {
      cancel (src);
      cancel (dst);
      return 1;
    }
  protobuf_c_message_free_unpacked (ignored, NULL);
  r = switch_over (src, dst, src_uptime, started);
  if (r == -1)
    {
      cancel (src);
      cancel (dst);
    }
  return r == 0 ? 0 : 1;
}

/* A side named as ctr names a pod: "ADDRESS[,NAMESPACE[,SOCKET_DIR]]"
   and the sandbox id; its shim's socket, as containerd computes it.  */
static char *
socket_of (const char *spec, const char *id)
{
  char *copy = strdup (spec);
  char *ns = strchr (copy, ',');
  char *dir = NULL;
  if (ns != NULL)
    {
      *ns++ = '\0';
      dir = strchr (ns, ',');
      if (dir != NULL)
        *dir++ = '\0';
    }
  char *address
      = shim_socket_address_in (dir && *dir ? dir : shim_socket_dir (), copy,
                                ns && *ns ? ns : "k8s.io", id);
  char *path = strdup (shim_socket_path (address));
  free (address);
  free (copy);
  return path;
}

/* Takes --force out of argv (anywhere after the command).  */
static bool
take_force (int *argc, char **argv)
{
  bool force = false;
  int kept = 1;
  for (int i = 1; i < *argc; i++)
    if (strcmp (argv[i], "--force") == 0)
      force = true;
    else
      argv[kept++] = argv[i];
  *argc = kept;
  return force;
}

int
migrate_command_main (int argc, char **argv)
{
  bool force = take_force (&argc, argv);
  const char *step = "";
  /* argv[0] is "migrate"; a step comes first.  */
  if (argc == 6 || argc == 8)
    {
      step = argv[1];
      argv++;
      argc--;
    }
  bool named = argc == 7 && strcmp (argv[1], "--from") == 0
               && strcmp (argv[4], "--to") == 0;
  if ((argc != 5 && !named)
      || (strcmp (step, "") != 0 && strcmp (step, "prepare") != 0
          && strcmp (step, "transfer") != 0 && strcmp (step, "cancel") != 0))
    {
      usage ();
      return 2;
    }
  char *sockets[2] = { NULL, NULL };
  if (named)
    {
      /* --from SPEC ID --to SPEC ID, as SOCKET ID SOCKET ID.  */
      sockets[0] = socket_of (argv[2], argv[3]);
      sockets[1] = socket_of (argv[5], argv[6]);
      static char *positional[5];
      positional[0] = argv[0];
      positional[1] = sockets[0];
      positional[2] = argv[3];
      positional[3] = sockets[1];
      positional[4] = argv[6];
      argv = positional;
    }
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  setvbuf (stdout, NULL, _IOLBF, 0);
  struct side src = { "source", argv[2], { .fd = -1 } };
  struct side dst = { "destination", argv[4], { .fd = -1 } };
  shim_error *err = NULL;
  if (ttrpc_client_connect (argv[1], &src.client, &err) < 0
      || ttrpc_client_connect (argv[3], &dst.client, &err) < 0)
    {
      fprintf (stderr, "migrate: %s\n", err->msg);
      shim_error_free (err);
      ttrpc_client_close (&src.client);
      free (sockets[0]);
      free (sockets[1]);
      return 1;
    }
  uint64_t started = monotonic_ms ();
  int rc = 1;
  Pb__ExportResponse *exported = NULL;
  Pb__ImportResponse *imported = NULL;
  if (strcmp (step, "cancel") == 0)
    {
      cancel (&src);
      cancel (&dst);
      rc = 0;
    }
  else if (strcmp (step, "transfer") == 0)
    rc = transfer (&src, &dst, 0, started);
  else if (prepare (&src, &dst, force, &exported, &imported) < 0)
    rc = 1;
  else if (strcmp (step, "prepare") == 0)
    rc = 0;
  else if (exported->n_containers > 0)
    {
      printf ("migrate: create each container above on the destination "
              "with the annotation "
              "io.containerd.lcow.migration.source-container=ID, then run "
              "`migrate transfer`\n");
      rc = 3;
    }
  else
    rc = transfer (&src, &dst, exported->vm->guest_uptime_ms, started);
  if (imported != NULL)
    pb__import_response__free_unpacked (imported, NULL);
  if (exported != NULL)
    pb__export_response__free_unpacked (exported, NULL);
  ttrpc_client_close (&src.client);
  ttrpc_client_close (&dst.client);
  free (sockets[0]);
  free (sockets[1]);
  return rc;
}
