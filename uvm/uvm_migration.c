/* Live migration of the UVM (see uvm_migration.h).  */
#include "uvm_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "uvm/bridge/bridge_conn.h"
#include "proto/base/cleanup.h"
#include "proto/base/json.h"
#include "proto/base/log.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/qmp_client.h"
#include "uvm/vmm/vmm_process.h"
#include "uvm/migration/migration_channel.h"

/* How often QEMU is asked how a migration goes.  */
#define POLL_MS 50
/* Bridge round trips of a migration (the barrier, the destination's
   first request, settime).  */
#define ROUND_TRIP_MS 10000
/* How long Transfer waits for the requests in flight to the guest, and
   how often it looks.  */
#define DRAIN_MS 5000
#define DRAIN_POLL_MS 10
/* How long the destination waits for its VM to run after the source said
   the migration completed.  */
#define RESUME_WAIT_MS 30000
/* The name both QEMUs know their migration connection by (QMP getfd).  */
#define STREAM_FD_NAME "migration"

static void
set_status (struct uvm *u, const char *status)
{
  snprintf (u->migration.progress.status, sizeof u->migration.progress.status,
            "%s", status);
}

/* The one place the phase moves (migration_phase.h); an event the table
   does not take changes nothing and is logged (a bug).  */
static bool
phase_advance (struct uvm *u, enum uvm_migration_event ev)
{
  enum uvm_migration_phase next;
  if (!uvm_migration_phase_next (u->migration.phase, ev, &next))
    {
      log_error ("uvm %s: migration event %s refused in phase %s", u->id,
                 uvm_migration_event_name (ev),
                 uvm_migration_phase_name (u->migration.phase));
      return false;
    }
  log_entry (LOG_LEVEL_DEBUG, "uvm migration phase",
             (struct log_field[]){
                 { "uvm-id", u->id },
                 { "from", uvm_migration_phase_name (u->migration.phase) },
                 { "to", uvm_migration_phase_name (next) },
                 { "event", uvm_migration_event_name (ev) } },
             4);
  u->migration.phase = next;
  return true;
}

void
uvm_migration_init (struct uvm *u, const struct shim_config *cfg)
{
  struct uvm_migration *m = &u->migration;
  m->stream_fd = -1;
  m->max_bandwidth_mb = cfg->migration_max_bandwidth_mb;
  m->downtime_limit_ms = cfg->migration_downtime_limit_ms;
  m->timeout_ms = cfg->migration_timeout_ms;
  m->tls_dir
      = cfg->migration_tls_dir ? xstrdup (cfg->migration_tls_dir) : NULL;
  m->listen_address = cfg->migration_listen_address
                          ? xstrdup (cfg->migration_listen_address)
                          : NULL;
  uvm_init_timer (u, &m->poll_timer);
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

void
uvm_migration_close (struct uvm *u)
{
  struct uvm_migration *m = &u->migration;
  close_fd (&m->stream_fd);
  migration_listener_close (m->listener);
  m->listener = NULL;
  migration_dial_cancel (m->dial);
  m->dial = NULL;
  free (m->tls_dir);
  free (m->listen_address);
  m->tls_dir = m->listen_address = NULL;
  bridge_handover_release (&m->handover);
  bridge_handover_release (&m->adopt);
  for (size_t i = 0; i < u->nboot_paths; i++)
    free (u->boot_paths[i]);
  u->nboot_paths = 0;
  if (!uv_is_closing ((uv_handle_t *) &m->poll_timer))
    uv_close ((uv_handle_t *) &m->poll_timer, uvm_on_handle_closed);
}

static bool
qmp_usable (const struct uvm *u, shim_error **err)
{
  if (!u->backend->qmp)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the %s VMM cannot migrate a VM (the qemu VMM "
                           "can)",
                           u->backend->name)
           == 0;
  if (u->launch.qmp == NULL || u->launch.vmm == NULL || u->launch.vmm_exited)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone")
           == 0;
  return true;
}

/* ---- describe ----------------------------------------------------------- */

struct describe
{
  uv_work_t work;
  struct uvm *u;
  struct vm_description d;
  char *paths[VM_BOOT_FILES_MAX];
  size_t npaths;
  /* Set on the thread pool: the first file that could not be read.  */
  char *hash_error;
  uvm_describe_fn done;
  void *data;
};

static void
describe_finish (struct describe *ds, const shim_error *err)
{
  struct uvm *u = ds->u;
  if (u->state != UVM_DESTROYED)
    ds->done (ds->data, err ? NULL : &ds->d, err);
  vm_description_release (&ds->d);
  for (size_t i = 0; i < ds->npaths; i++)
    free (ds->paths[i]);
  free (ds->hash_error);
  free (ds);
  u->open_handles--;
  uvm_maybe_free (u);
}

static int
hash_file (const char *path, struct vm_boot_file *out)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  out->bytes = (uint64_t) st.st_size;
  void *p = st.st_size > 0 ? mmap (NULL, (size_t) st.st_size, PROT_READ,
                                   MAP_PRIVATE, fd, 0)
                           : NULL;
  close (fd);
  if (p == MAP_FAILED)
    return -1;
  sha256_hex (p, (size_t) st.st_size, out->sha256);
  if (p != NULL)
    munmap (p, (size_t) st.st_size);
  return 0;
}

static void
hash_boot_files (uv_work_t *w)
{
  struct describe *ds = w->data;
  for (size_t i = 0; i < ds->npaths; i++)
    {
      struct vm_boot_file *f = &ds->d.boot_files[ds->d.nboot_files];
      if (hash_file (ds->paths[i], f) < 0)
        {
          ds->hash_error = xasprintf ("read boot file %s: %s", ds->paths[i],
                                      strerror (errno));
          return;
        }
      const char *slash = strrchr (ds->paths[i], '/');
      f->name = xstrdup (slash ? slash + 1 : ds->paths[i]);
      ds->d.nboot_files++;
    }
}

static void
boot_files_hashed (uv_work_t *w, int status)
{
  struct describe *ds = w->data;
  (void) status;
  shim_error e = { GRPC_INTERNAL, ds->hash_error };
  describe_finish (ds, ds->hash_error ? &e : NULL);
}

static void
describe_hash (struct describe *ds)
{
  ds->work.data = ds;
  uv_queue_work (ds->u->loop, &ds->work, hash_boot_files, boot_files_hashed);
}

static void
on_uptime (void *data, const char *body, size_t len, const shim_error *err)
{
  struct describe *ds = data;
  struct bridge_response r = { 0 };
  shim_error *derr = NULL;
  if (err == NULL && bridge_response_decode (body, len, &r, &derr) == 0)
    ds->d.guest_uptime_ms = r.uptime_ms;
  bridge_response_release (&r);
  shim_error_free (derr);
  /* The uptime is for the operator; the description stands without it.  */
  describe_hash (ds);
}

static void
on_version (void *data, const json_value *ret, const shim_error *err)
{
  struct describe *ds = data;
  if (err != NULL)
    {
      shim_error e
          = { err->code, xasprintf ("QMP query-version: %s", err->msg) };
      describe_finish (ds, &e);
      free (e.msg);
      return;
    }
  const json_value *q = json_get (ret, "qemu");
  const char *pkg = json_get_string (ret, "package");
  ds->d.qemu_version = xasprintf (
      "%llu.%llu.%llu%s%s", (unsigned long long) json_get_u64 (q, "major"),
      (unsigned long long) json_get_u64 (q, "minor"),
      (unsigned long long) json_get_u64 (q, "micro"), pkg && *pkg ? " " : "",
      pkg ? pkg : "");
  struct uvm *u = ds->u;
  shim_error *rerr = NULL;
  if (uvm_connected_bridge (u) != NULL
      && uvm_request (u, BRIDGE_PING_BODY, ROUND_TRIP_MS, on_uptime, ds, &rerr)
             == 0)
    return;
  shim_error_free (rerr);
  describe_hash (ds);
}

int
uvm_describe (struct uvm *u, uvm_describe_fn done, void *data,
              shim_error **err)
{
  if (!qmp_usable (u, err))
    return -1;
  struct describe *ds = xzalloc (sizeof *ds);
  ds->u = u;
  ds->done = done;
  ds->data = data;
  ds->d.vmm = xstrdup (u->backend->name);
  ds->d.accel = xstrdup (uvm_accel_name (u));
  vm_description_from_argv (u->launch.vmm_argv, &ds->d.cpu_model,
                            &ds->d.machine);
  ds->d.cpus = u->cpus;
  ds->d.memory_mb = u->memory_mb;
  ds->d.kernel_cmdline = xstrdup (u->kernel_cmdline);
  ds->d.network = u->net.nic_connected;
  if (u->guest.bridge != NULL)
    {
      ds->d.bridge_next_request_id = bridge_conn_next_id (u->guest.bridge);
      ds->d.bridge_open_streams
          = (uint32_t) bridge_conn_open_stream_count (u->guest.bridge);
    }
  for (size_t i = 0; i < u->nboot_paths; i++)
    ds->paths[ds->npaths++] = xstrdup (u->boot_paths[i]);
  /* Counted as a handle: u outlives the work on the thread pool.  */
  u->open_handles++;
  qmp_client_execute (u->launch.qmp, "query-version", "{}", on_version, ds);
  return 0;
}

/* ---- source ------------------------------------------------------------- */

void
uvm_migration_progress (const struct uvm *u,
                        struct uvm_migration_progress *out)
{
  *out = u->migration.progress;
}

bool
uvm_migration_under_way (const struct uvm *u)
{
  return u->migration.phase != UVM_MIGRATION_NONE
         && u->migration.phase != UVM_MIGRATION_LISTENING;
}

bool
uvm_migration_completed (const struct uvm *u)
{
  return u->migration.phase == UVM_MIGRATION_COMPLETED
         || u->migration.phase == UVM_MIGRATION_HANDING_OVER;
}

static void
log_migration (struct uvm *u, int level, const char *msg)
{
  const struct uvm_migration_progress *p = &u->migration.progress;
  char total[24], down[24], sent[24];
  snprintf (total, sizeof total, "%llu", (unsigned long long) p->total_ms);
  snprintf (down, sizeof down, "%llu", (unsigned long long) p->downtime_ms);
  snprintf (sent, sizeof sent, "%llu",
            (unsigned long long) p->transferred_bytes);
  log_entry (level, msg,
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "status", p->status },
                                   { "total_ms", total },
                                   { "downtime_ms", down },
                                   { "bytes", sent },
                                   { "error", p->error } },
             6);
}

/* A command of the clean-up after a failed migration (cancel, resume).  */
static void
on_cleanup_step (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  (void) ret;
  if (err != NULL && u->launch.qmp != NULL)
    log_warn ("uvm %s: after a failed migration: %s", u->id, err->msg);
}

/* QEMU resumes the source itself after a failed or cancelled migration
   (return-path on); a VM still paused is resumed.  */
static void
on_status_after_failure (void *data, const json_value *ret,
                         const shim_error *err)
{
  struct uvm *u = data;
  const char *st = json_get_string (ret, "status");
  if (err == NULL && u->launch.qmp != NULL && st != NULL
      && strcmp (st, "running") != 0)
    qmp_client_execute (u->launch.qmp, "cont", "{}", on_cleanup_step, u);
}

/* Before the switchover: the source keeps its VM, its bridge writes what
   it held, and the sandbox is the source's again.  */
static void
migration_failed (struct uvm *u, const char *why, const char *qemu_status)
{
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_BARRIER && m->phase != UVM_MIGRATION_SENDING)
    return;
  phase_advance (u, UVM_MIG_EV_FAILED);
  uv_timer_stop (&m->poll_timer);
  close_fd (&m->stream_fd);
  migration_dial_cancel (m->dial);
  m->dial = NULL;
  /* QEMU's own word for its end, else ours.  */
  set_status (u, qemu_status           ? qemu_status
                 : m->cancel_requested ? "cancelled"
                                       : "failed");
  if (why != NULL && m->progress.error[0] == '\0')
    snprintf (m->progress.error, sizeof m->progress.error, "%s", why);
  if (u->guest.bridge != NULL)
    bridge_conn_release (u->guest.bridge);
  uvm_advance (u, UVM_EV_MIGRATION_FAILED);
  /* A step that failed may have left QEMU migrating (a later command of
     the sequence went through): nothing may go on behind the failure.  */
  if (u->launch.qmp != NULL)
    qmp_client_execute (u->launch.qmp, "migrate_cancel", "{}", on_cleanup_step,
                        u);
  log_migration (u, LOG_LEVEL_WARN,
                 "live migration failed; the source VM keeps running");
  if (u->launch.qmp != NULL)
    qmp_client_execute (u->launch.qmp, "query-status", "{}",
                        on_status_after_failure, u);
}

static void
on_query_migrate (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_SENDING)
    return;
  if (err != NULL)
    {
      migration_failed (u, err->msg, NULL);
      return;
    }
  const char *st = json_get_string (ret, "status");
  if (st == NULL)
    return;
  set_status (u, st);
  struct uvm_migration_progress *p = &m->progress;
  p->total_ms = json_get_u64 (ret, "total-time");
  p->downtime_ms = json_get_u64 (ret, "downtime");
  const json_value *ram = json_get (ret, "ram");
  p->transferred_bytes = json_get_u64 (ram, "transferred");
  p->remaining_bytes = json_get_u64 (ram, "remaining");
  p->total_bytes = json_get_u64 (ram, "total");
  p->dirty_sync_count = json_get_u64 (ram, "dirty-sync-count");
  const char *desc = json_get_string (ret, "error-desc");
  if (desc != NULL)
    snprintf (p->error, sizeof p->error, "QEMU: %s", desc);
  if (strcmp (st, "completed") == 0)
    {
      phase_advance (u, UVM_MIG_EV_SWITCHED_OVER);
      uv_timer_stop (&m->poll_timer);
      log_migration (u, LOG_LEVEL_INFO,
                     "live migration completed: the destination runs the VM");
    }
  else if (strcmp (st, "failed") == 0 || strcmp (st, "cancelled") == 0)
    migration_failed (u, NULL, st);
}

static void
on_cancel_sent (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  (void) ret;
  if (err != NULL)
    migration_failed (u, err->msg, NULL);
}

static void
on_poll (uv_timer_t *t)
{
  struct uvm *u = t->data;
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_SENDING || u->launch.qmp == NULL)
    return;
  if (m->deadline_ms != 0 && uv_now (u->loop) >= m->deadline_ms
      && !m->cancel_requested)
    {
      m->cancel_requested = true;
      const struct uvm_migration_progress *p = &m->progress;
      /* More than one pass over memory: the guest dirties pages faster
         than the settings let the last pass fit the downtime.  */
      if (p->dirty_sync_count > 1)
        snprintf (m->progress.error, sizeof m->progress.error,
                  "the transfer did not converge within %u ms "
                  "(migration_timeout_ms): after %llu passes over the "
                  "guest's memory %llu bytes were still dirty; the guest "
                  "writes memory faster than migration_max_bandwidth_mb "
                  "(%u MiB/s) can send it within "
                  "migration_downtime_limit_ms (%u ms): raise either, or "
                  "quiet the writer; cancelled",
                  m->timeout_ms, (unsigned long long) p->dirty_sync_count,
                  (unsigned long long) p->remaining_bytes, m->max_bandwidth_mb,
                  m->downtime_limit_ms);
      else
        snprintf (m->progress.error, sizeof m->progress.error,
                  "the transfer did not complete within %u ms "
                  "(migration_timeout_ms; %llu of %llu bytes sent at "
                  "migration_max_bandwidth_mb %u MiB/s); cancelled",
                  m->timeout_ms, (unsigned long long) p->transferred_bytes,
                  (unsigned long long) p->total_bytes, m->max_bandwidth_mb);
      qmp_client_execute (u->launch.qmp, "migrate_cancel", "{}",
                          on_cancel_sent, u);
    }
  qmp_client_execute (u->launch.qmp, "query-migrate", "{}", on_query_migrate,
                      u);
}

static void
on_migrate_step (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  (void) ret;
  if (err != NULL)
    {
      cleanup_free char *why = xasprintf ("QMP: %s", err->msg);
      migration_failed (u, why, NULL);
    }
}

/* The QMP id of the migration's TLS credentials.  */
#define TLS_OBJECT_ID "lcow-migration-tls"

/* QEMU's TLS credentials from migration_tls_dir, the peer verified
   (the client's certificate too: a destination takes no stranger's
   stream); once per VMM, before the first migration that uses them.  */
static void
add_tls_object (struct uvm *u, const char *endpoint, qmp_done_fn done)
{
  struct uvm_migration *m = &u->migration;
  if (!m->tls || m->tls_object)
    return;
  strbuf cmd = STRBUF_INIT;
  strbuf_printf (&cmd,
                 "{\"qom-type\":\"tls-creds-x509\",\"id\":\"%s\","
                 "\"endpoint\":\"%s\",\"verify-peer\":true,\"dir\":",
                 TLS_OBJECT_ID, endpoint);
  strbuf_json_string (&cmd, m->tls_dir, strlen (m->tls_dir));
  strbuf_putc (&cmd, '}');
  qmp_client_execute (u->launch.qmp, "object-add", cmd.data, done, u);
  strbuf_release (&cmd);
  m->tls_object = true;
}

/* migrate-set-parameters' TLS members: with TLS the credentials and, on
   the source, the name the destination's certificate must carry (an fd
   channel has none of its own); without, none (an earlier attempt's
   cleared).  */
static char *
tls_parameters_text (const struct uvm_migration *m, bool source)
{
  if (!m->tls)
    return xstrdup ("\"tls-creds\":\"\"");
  if (!source)
    return xstrdup ("\"tls-creds\":\"" TLS_OBJECT_ID "\"");
  return xasprintf ("\"tls-creds\":\"" TLS_OBJECT_ID
                    "\",\"tls-hostname\":\"%s\"",
                    m->tls_host);
}

static void
on_barrier (void *data, const char *body, size_t len, const shim_error *err)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  (void) body;
  (void) len;
  if (m->phase != UVM_MIGRATION_BARRIER)
    return;
  if (err != NULL || m->cancel_requested || u->launch.qmp == NULL)
    {
      cleanup_free char *why
          = err ? xasprintf ("the guest agent did not answer the barrier "
                             "ping: %s",
                             err->msg)
                : xstrdup (m->cancel_requested ? "cancelled"
                                               : "the VM is gone");
      migration_failed (u, why, NULL);
      return;
    }
  phase_advance (u, UVM_MIG_EV_BARRIER_PASSED);
  set_status (u, "setup");
  int fd = m->stream_fd;
  m->stream_fd = -1;
  qmp_client_execute_fd (u->launch.qmp, "getfd",
                         "{\"fdname\":\"" STREAM_FD_NAME "\"}", fd,
                         on_migrate_step, u);
  /* return-path: a destination that fails to load tells the source, which
     then keeps running instead of staying paused.  */
  qmp_client_execute (u->launch.qmp, "migrate-set-capabilities",
                      "{\"capabilities\":[{\"capability\":\"events\","
                      "\"state\":true},{\"capability\":\"return-path\","
                      "\"state\":true}]}",
                      on_migrate_step, u);
  add_tls_object (u, "client", on_migrate_step);
  cleanup_free char *tls = tls_parameters_text (m, true);
  cleanup_free char *params
      = xasprintf ("{\"max-bandwidth\":%llu,\"downtime-limit\":%u,%s}",
                   (unsigned long long) m->max_bandwidth_mb * 1024 * 1024,
                   m->downtime_limit_ms, tls);
  qmp_client_execute (u->launch.qmp, "migrate-set-parameters", params,
                      on_migrate_step, u);
  qmp_client_execute (u->launch.qmp, "migrate",
                      "{\"uri\":\"fd:" STREAM_FD_NAME "\"}", on_migrate_step,
                      u);
  m->deadline_ms = uv_now (u->loop) + m->timeout_ms;
  uv_timer_start (&m->poll_timer, on_poll, POLL_MS, POLL_MS);
}

static void
on_dialled (void *data, int fd, const shim_error *err)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  m->dial = NULL;
  if (err != NULL)
    migration_failed (u, err->msg, NULL);
  else
    m->stream_fd = fd;
}

/* The last frame the guest gets from this side: its answer proves the
   agent read everything before it.  Later frames wait in the bridge.  */
static void
send_barrier (struct uvm *u)
{
  shim_error *err = NULL;
  if (bridge_conn_request (u->guest.bridge, BRIDGE_PING_BODY, ROUND_TRIP_MS,
                           on_barrier, u, &err)
      < 0)
    {
      migration_failed (u, err->msg, NULL);
      shim_error_free (err);
      return;
    }
  bridge_conn_hold (u->guest.bridge);
  set_status (u, "barrier");
}

static void
on_drain (uv_timer_t *t)
{
  struct uvm *u = t->data;
  struct uvm_migration *m = &u->migration;
  size_t pending
      = u->guest.bridge != NULL ? bridge_conn_pending (u->guest.bridge) : 0;
  if (m->cancel_requested || u->launch.qmp == NULL || u->guest.bridge == NULL)
    migration_failed (u, m->cancel_requested ? "cancelled" : "the VM is gone",
                      NULL);
  else if (pending == 0 && m->stream_fd >= 0)
    {
      uv_timer_stop (t);
      send_barrier (u);
    }
  else if (uv_now (u->loop) >= m->deadline_ms)
    {
      cleanup_free char *why
          = pending > 0
                ? xasprintf ("%zu request(s) to the guest agent were still "
                             "in flight after %u ms: the VM is not "
                             "quiescent",
                             pending, DRAIN_MS)
                : xasprintf ("the destination did not accept the connection "
                             "within %u ms",
                             DRAIN_MS);
      migration_failed (u, why, NULL);
    }
}

int
uvm_migrate_out (struct uvm *u, const char *uri, const char *token,
                 shim_error **err)
{
  struct uvm_migration *m = &u->migration;
  if (!qmp_usable (u, err))
    return -1;
  if (!u->live_migration)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the sandbox is not live-migratable");
  if (u->state != UVM_RUNNING || m->phase != UVM_MIGRATION_NONE
      || uvm_connected_bridge (u) == NULL)
    return shim_error_set (
        err, GRPC_FAILED_PRECONDITION, "the VM is %s%s: it cannot migrate now",
        uvm_state_name (u->state),
        m->phase != UVM_MIGRATION_NONE ? " and migrating" : "");
  struct migration_address a;
  if (migration_address_parse (uri, false, &a, err) < 0)
    return -1;
  m->tls = a.tcp && m->tls_dir != NULL;
  snprintf (m->tls_host, sizeof m->tls_host, "%s", a.host);
  if ((m->tls && migration_tls_dir_check (m->tls_dir, false, err) < 0)
      || migration_dial_start (u->loop, uri, token, on_dialled, u, &m->dial,
                               err)
             < 0)
    return -1;
  m->cancel_requested = false;
  m->progress = (struct uvm_migration_progress){ 0 };
  phase_advance (u, UVM_MIG_EV_EXPORT);
  uvm_advance (u, UVM_EV_MIGRATE_OUT);
  log_entry (LOG_LEVEL_INFO, "live migration started",
             (struct log_field[]){ { "uvm-id", u->id }, { "to", uri } }, 2);
  /* A response that arrived after the switchover would reach nobody: the
     requests in flight end first (new ones are refused from here on, see
     uvm_migration_under_way), while the connection is made.  */
  set_status (u, "draining");
  m->deadline_ms = uv_now (u->loop) + DRAIN_MS;
  uv_timer_start (&m->poll_timer, on_drain, 0, DRAIN_POLL_MS);
  return 0;
}

int
uvm_migration_cancel (struct uvm *u, shim_error **err)
{
  struct uvm_migration *m = &u->migration;
  if (u->state == UVM_MIGRATING_IN)
    {
      /* The destination gives up its VM, which never ran here.  */
      if (u->launch.vmm != NULL && !u->launch.vmm_exited)
        vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
      return 0;
    }
  switch (m->phase)
    {
    case UVM_MIGRATION_BARRIER:
      m->cancel_requested = true;
      return 0;
    case UVM_MIGRATION_SENDING:
      if (!m->cancel_requested && u->launch.qmp != NULL)
        {
          m->cancel_requested = true;
          snprintf (m->progress.error, sizeof m->progress.error, "cancelled");
          qmp_client_execute (u->launch.qmp, "migrate_cancel", "{}",
                              on_cancel_sent, u);
        }
      return 0;
    case UVM_MIGRATION_COMPLETED:
    case UVM_MIGRATION_HANDING_OVER:
      return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                             "the VM has switched over to the destination: "
                             "the migration can no longer be cancelled");
    default:
      break;
    }
  return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                         "no live migration is in progress");
}

static void
maybe_handed_over (struct uvm *u)
{
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_HANDING_OVER || !m->handed_over
      || !u->launch.vmm_exited || m->handover_done == NULL)
    return;
  uvm_handover_fn done = m->handover_done;
  m->handover_done = NULL;
  char tail[24], out[24];
  snprintf (tail, sizeof tail, "%zu", m->handover.inbound_len);
  snprintf (out, sizeof out, "%zu", m->handover.outbound_len);
  log_entry (LOG_LEVEL_INFO, "bridge handed over to the destination",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "inbound_tail_bytes", tail },
                                   { "outbound_bytes", out } },
             3);
  done (m->handover_data, &m->handover, NULL);
}

static void
on_bridge_handed_over (void *data, struct bridge_handover *h)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  u->guest.bridge = NULL;
  bridge_handover_release (&m->handover);
  m->handover = *h;
  *h = (struct bridge_handover){ 0 };
  m->handed_over = true;
  maybe_handed_over (u);
}

static void
on_quit (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  (void) ret;
  /* QEMU may close QMP before it answers quit; its exit is what counts.  */
  if (err != NULL && u->launch.vmm != NULL && !u->launch.vmm_exited)
    vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
}

int
uvm_migration_hand_over (struct uvm *u, uvm_handover_fn done, void *data,
                         shim_error **err)
{
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_COMPLETED)
    return shim_error_set (
        err, GRPC_FAILED_PRECONDITION, "the migration has not completed (%s)",
        m->progress.status[0] ? m->progress.status : "not started");
  if (u->guest.bridge == NULL || u->launch.qmp == NULL)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the source's bridge or QEMU is gone");
  phase_advance (u, UVM_MIG_EV_HAND_OVER);
  m->handover_done = done;
  m->handover_data = data;
  /* The paused VMM quits; its bridge socket then reaches EOF after the
     last bytes the guest sent through it.  */
  bridge_conn_hand_over (u->guest.bridge, on_bridge_handed_over, u);
  qmp_client_execute (u->launch.qmp, "quit", "{}", on_quit, u);
  return 0;
}

void
uvm_migration_vmm_exited (struct uvm *u)
{
  struct uvm_migration *m = &u->migration;
  uv_timer_stop (&m->poll_timer);
  if (m->phase == UVM_MIGRATION_HANDING_OVER)
    {
      maybe_handed_over (u);
      return;
    }
  if (m->phase == UVM_MIGRATION_BARRIER || m->phase == UVM_MIGRATION_SENDING)
    snprintf (m->progress.error, sizeof m->progress.error,
              "the source VMM exited");
  if (m->phase != UVM_MIGRATION_NONE && m->phase != UVM_MIGRATION_COMPLETED)
    set_status (u, "failed");
  if (m->adopted != NULL)
    {
      uvm_adopted_fn done = m->adopted;
      m->adopted = NULL;
      shim_error e
          = { GRPC_UNAVAILABLE, (char *) "the destination VMM exited" };
      done (m->adopted_data, 0, &e);
    }
}

/* ---- destination -------------------------------------------------------- */

static void
on_incoming_step (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  (void) ret;
  if (err == NULL || u->launch.vmm == NULL || u->launch.vmm_exited)
    return;
  /* QEMU cannot take the state: this VM has nothing to run.  */
  log_entry (
      LOG_LEVEL_ERROR, "incoming migration failed; stopping the VMM",
      (struct log_field[]){ { "uvm-id", u->id }, { "reason", err->msg } }, 2);
  snprintf (u->migration.progress.error, sizeof u->migration.progress.error,
            "QMP: %s", err->msg);
  vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
}

static void
on_source_connected (void *data, int fd)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  m->listener = NULL;
  if (m->phase != UVM_MIGRATION_LISTENING || u->launch.qmp == NULL)
    {
      close (fd);
      return;
    }
  phase_advance (u, UVM_MIG_EV_CONNECTED);
  set_status (u, "receiving");
  qmp_client_execute_fd (u->launch.qmp, "getfd",
                         "{\"fdname\":\"" STREAM_FD_NAME "\"}", fd,
                         on_incoming_step, u);
  qmp_client_execute (u->launch.qmp, "migrate-set-capabilities",
                      "{\"capabilities\":[{\"capability\":\"events\","
                      "\"state\":true},{\"capability\":\"return-path\","
                      "\"state\":true}]}",
                      on_incoming_step, u);
  add_tls_object (u, "server", on_incoming_step);
  cleanup_free char *tls = tls_parameters_text (m, false);
  cleanup_free char *params = xasprintf ("{%s}", tls);
  qmp_client_execute (u->launch.qmp, "migrate-set-parameters", params,
                      on_incoming_step, u);
  qmp_client_execute (u->launch.qmp, "migrate-incoming",
                      "{\"uri\":\"fd:" STREAM_FD_NAME "\"}", on_incoming_step,
                      u);
  log_entry (LOG_LEVEL_INFO, "live migration: the source connected",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "tls", m->tls ? "true" : "false" } },
             2);
}

int
uvm_migration_listen (struct uvm *u, char **uri,
                      char token[MIGRATION_TOKEN_LEN + 1], shim_error **err)
{
  struct uvm_migration *m = &u->migration;
  if (!qmp_usable (u, err))
    return -1;
  if (u->state != UVM_MIGRATING_IN || m->phase != UVM_MIGRATION_NONE)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the VM is not waiting for a migration (%s)",
                           uvm_state_name (u->state));
  /* TCP at migration_listen_address, else a unix socket in the state
     directory.  */
  cleanup_free char *where
      = m->listen_address ? xasprintf ("tcp:%s", m->listen_address)
                          : xasprintf ("unix:%s/migration", u->state_dir);
  m->tls = m->listen_address != NULL && m->tls_dir != NULL;
  if ((m->tls && migration_tls_dir_check (m->tls_dir, true, err) < 0)
      || migration_token_new (token, err) < 0
      || migration_listener_open (u->loop, where, token, on_source_connected,
                                  u, &m->listener, uri, err)
             < 0)
    return shim_error_wrap (err, "%s",
                            m->listen_address ? "migration_listen_address"
                                              : "migration listener");
  phase_advance (u, UVM_MIG_EV_LISTEN);
  set_status (u, "listening");
  return 0;
}

static void
adopt_done (struct uvm *u, const shim_error *err)
{
  struct uvm_migration *m = &u->migration;
  uvm_adopted_fn done = m->adopted;
  m->adopted = NULL;
  if (done != NULL)
    done (m->adopted_data, m->adopted_uptime_ms, err);
}

static void
on_settime (void *data, const char *body, size_t len, const shim_error *err)
{
  struct uvm *u = data;
  shim_error *gerr = NULL;
  struct bridge_response r = { 0 };
  if (err == NULL && bridge_response_decode (body, len, &r, &gerr) < 0)
    err = gerr;
  bridge_response_release (&r);
  if (err != NULL)
    {
      cleanup_free char *why = xasprintf ("settime: %s", err->msg);
      shim_error e = { err->code, why };
      adopt_done (u, &e);
    }
  else
    {
      log_entry (LOG_LEVEL_INFO,
                 "guest clock set (it fell behind by the downtime)",
                 (struct log_field[]){ { "uvm-id", u->id } }, 1);
      adopt_done (u, NULL);
    }
  shim_error_free (gerr);
}

/* The first round trip on this side: the bridge goes on; then the guest's
   clock, which fell behind by the downtime.  */
static void
on_first_ping (void *data, const char *body, size_t len, const shim_error *err)
{
  struct uvm *u = data;
  if (err != NULL)
    {
      cleanup_free char *why
          = xasprintf ("the guest agent did not answer on the destination: "
                       "%s",
                       err->msg);
      shim_error e = { err->code, why };
      adopt_done (u, &e);
      return;
    }
  struct bridge_response r = { 0 };
  shim_error *perr = NULL;
  if (bridge_response_decode (body, len, &r, &perr) == 0)
    u->migration.adopted_uptime_ms = r.uptime_ms;
  bridge_response_release (&r);
  shim_error_free (perr);
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  cleanup_free char *req = bridge_settime_body (
      (uint64_t) now.tv_sec * 1000000000ull + (uint64_t) now.tv_nsec);
  shim_error *rerr = NULL;
  if (uvm_request (u, req, ROUND_TRIP_MS, on_settime, u, &rerr) < 0)
    {
      adopt_done (u, rerr);
      shim_error_free (rerr);
    }
}

static void adopt_when_running (struct uvm *u);

static void
on_adopt_retry (uv_timer_t *t)
{
  adopt_when_running (t->data);
}

static void
on_incoming_status (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  struct uvm_migration *m = &u->migration;
  if (m->phase != UVM_MIGRATION_ADOPTING || m->adopted == NULL)
    return;
  const char *st = err == NULL ? json_get_string (ret, "status") : NULL;
  bool running = st != NULL && strcmp (st, "running") == 0;
  if (!running)
    {
      if (err == NULL && uv_now (u->loop) < m->deadline_ms)
        {
          uv_timer_start (&m->poll_timer, on_adopt_retry, POLL_MS, 0);
          return;
        }
      cleanup_free char *why = xasprintf (
          "the destination VM did not run within %u ms (QEMU: %s)",
          RESUME_WAIT_MS, err ? err->msg : (st ? st : "no status"));
      shim_error e = { GRPC_FAILED_PRECONDITION, why };
      adopt_done (u, &e);
      return;
    }
  shim_error *aerr = NULL;
  u->guest.bridge = uvm_guest_adopt_bridge (u, &m->adopt, &aerr);
  if (u->guest.bridge == NULL)
    {
      if (aerr == NULL)
        shim_error_set (&aerr, GRPC_FAILED_PRECONDITION,
                        "the guest's bridge never connected on the "
                        "destination");
      adopt_done (u, aerr);
      shim_error_free (aerr);
      return;
    }
  u->guest.present = true;
  uvm_advance (u, UVM_EV_MIGRATED_IN);
  phase_advance (u, UVM_MIG_EV_ADOPTED);
  set_status (u, "completed");
  log_entry (LOG_LEVEL_INFO, "live migration: the VM runs here",
             (struct log_field[]){ { "uvm-id", u->id } }, 1);
  if (uvm_request (u, BRIDGE_PING_BODY, ROUND_TRIP_MS, on_first_ping, u, &aerr)
      < 0)
    {
      adopt_done (u, aerr);
      shim_error_free (aerr);
    }
}

static void
adopt_when_running (struct uvm *u)
{
  if (u->launch.qmp != NULL)
    qmp_client_execute (u->launch.qmp, "query-status", "{}",
                        on_incoming_status, u);
}

int
uvm_migration_adopt (struct uvm *u, const struct bridge_handover *h,
                     uvm_adopted_fn done, void *data, shim_error **err)
{
  struct uvm_migration *m = &u->migration;
  if (!qmp_usable (u, err))
    return -1;
  if (m->phase != UVM_MIGRATION_RECEIVING)
    return shim_error_set (
        err, GRPC_FAILED_PRECONDITION, "no migration was received (%s)",
        m->progress.status[0] ? m->progress.status : "not imported");
  bridge_handover_release (&m->adopt);
  /* Kept until the VM runs here (empty members are NULL on the wire).  */
  m->adopt = (struct bridge_handover){
    .inbound_tail = xmemdup (h->inbound_tail, h->inbound_len),
    .inbound_len = h->inbound_len,
    .outbound = xmemdup (h->outbound, h->outbound_len),
    .outbound_len = h->outbound_len,
    .next_id = h->next_id,
    .streams = xmemdup (h->streams, h->nstreams * sizeof *h->streams),
    .nstreams = h->nstreams,
  };
  phase_advance (u, UVM_MIG_EV_ADOPT);
  m->adopted = done;
  m->adopted_data = data;
  m->deadline_ms = uv_now (u->loop) + RESUME_WAIT_MS;
  m->poll_timer.data = u;
  adopt_when_running (u);
  return 0;
}
