#include "uvm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "bridge.h"
#include "bridge_conn.h"
#include "proto/rate_limit.h"
#include "read_budget.h"
#include "uvm_lifecycle.h"
#include "disk_hotplug.h"
#include "gcs_log_parser.h"
#include "kernel_cmdline.h"
#include "proto/cleanup.h"
#include "proto/file_io.h"
#include "proto/json.h"
#include "proto/log.h"
#include "proto/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "proto/list.h"
#include "proto/xalloc.h"
#include "qmp_client.h"
#include "vcpu_sample.h"
#include "vmm_process.h"
#include "vmm_user.h"
#include "vsock_port.h"

/* After the VMM exits, how long its log connection may take to end.  */
#define LOG_DRAIN_MS 2000
/* Guest log lines the shim log takes: a steady rate and a burst (a boot
   logs a few hundred), and how often the lines dropped are counted.  */
#define GUEST_LOG_LINES_PER_S 200
#define GUEST_LOG_BURST 1000
#define LOG_REPORT_MS 1000
/* Guest log bytes handled per loop iteration (see read_budget.h).  */
#define GUEST_LOG_READ_BUDGET (64u << 10)
/* Until the guest shows progress, its vCPUs are sampled this often; this
   many samples in a row without movement make a livelock.  */
#define HANG_SAMPLE_MS 400
#define HANG_SAMPLES 3

struct stream_conn
{
  uv_pipe_t pipe;
  struct uvm *owner;
  char buffer[16384];
};

/* What the guest agent reported in its hello, once it has.  */
struct guest_info
{
  bool present;
  struct bridge_hello hello;
};

struct uvm
{
  uv_loop_t *loop;
  char *id;
  char *state_dir;
  char *uvm_json_path;
  char *vsock_uds;
  char *log_listener_address;
  bool live_migration;
  uint32_t stop_grace_ms;
  const struct uvm_events *events;
  void *data;

  struct vsock_listener *entropy_listener;
  /* Half-closed after the write; kept until the VMM exits (see
     on_entropy_conn).  */
  int entropy_fd;
  struct vsock_listener *log_listener;
  struct vsock_listener *gcs_listener;
  struct stream_conn *log_conn;
  struct gcs_log_parser *log_parser;
  struct bridge_conn *bridge;

  struct vmm_process *vmm;
  char **vmm_argv;
  char **vmm_env;
  char *helper_exe;
  const struct vmm_backend *backend;
  uint32_t ports[3];
  size_t nports;
  uint32_t tcg_boot_stall_ms;
  unsigned boot_attempt;
  char *kernel_cmdline;
  /* The accelerator of the running attempt, and the same VM's argv under
     TCG for a KVM attempt that may fall back.  */
  struct accel_choice accel;
  char **tcg_argv;
  char *state_root;
  char *vmm_path;
  uint32_t kvm_progress_timeout_ms;
  /* This attempt's guest has run code (see guest_progressed).  */
  bool guest_progress;
  uint64_t attempt_started_ms;
  /* The livelock watch (see on_sample_tick).  */
  struct vcpu_sample last_sample;
  unsigned still_samples;
  bool sampling;
  /* Why this Create's KVM attempt failed, until the TCG relaunch; then
     fell_back.  */
  char *kvm_failure;
  bool fell_back;
  /* Why the VM was stopped for a guest protocol violation.  */
  char *violation;
  /* Who the VMM runs as, and why; its private directory (sockets).  */
  struct vmm_user user;
  char *user_reason;
  char *vm_dir;
  /* QEMU's QMP connection: run-state events, and the disks' commands.  */
  struct qmp_client *qmp;
  struct disk_hotplug *disks;
  char *qmp_path;
  char *qmp_operator_path;
  struct guest_info guest;

  uv_timer_t start_timer;
  uv_timer_t drain_timer;
  uv_timer_t log_report_timer;
  struct rate_limit log_rate;
  struct read_budget log_budget;
  uv_timer_t grace_timer;
  uv_timer_t stall_timer;
  uv_timer_t sample_timer;
  uv_timer_t progress_timer;
  int open_handles;

  enum uvm_state state;
  /* The exit is reported once both have happened, in either order.  */
  bool vmm_exited;
  bool log_finished;
  int64_t exit_status;
  int term_signal;
};

static void maybe_report_exit (struct uvm *u);
static void report_log_drops (struct uvm *u);
static void close_entropy (struct uvm *u);
static void relaunch (struct uvm *u);
static void attempt_failed (struct uvm *u, const char *what);
static void record_verdict (struct uvm *u);
static bool guest_progressed (struct uvm *u);

/* Moves the lifecycle (uvm_lifecycle.h) and logs it; false, changing
   nothing, for an event the current state does not take.  */
static bool
advance (struct uvm *u, enum uvm_event event)
{
  enum uvm_state next;
  const char *from = uvm_state_name (u->state);
  if (!uvm_lifecycle_next (u->state, event, &next))
    {
      log_entry (LOG_LEVEL_ERROR, "uvm: transition refused",
                 (struct log_field[]){ { "uvm-id", u->id },
                                       { "state", from },
                                       { "event", uvm_event_name (event) } },
                 3);
      return false;
    }
  u->state = next;
  log_entry (LOG_LEVEL_DEBUG, "uvm state",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "from", from },
                                   { "to", uvm_state_name (next) },
                                   { "event", uvm_event_name (event) } },
             4);
  return true;
}

static void
free_argv (char **argv)
{
  for (size_t i = 0; argv && argv[i]; i++)
    free (argv[i]);
  free (argv);
}

static void
maybe_free (struct uvm *u)
{
  if (u->state != UVM_DESTROYED || u->open_handles > 0)
    return;
  gcs_log_parser_free (u->log_parser);
  free (u->violation);
  free (u->user_reason);
  free (u->vm_dir);
  free_argv (u->vmm_argv);
  free_argv (u->tcg_argv);
  accel_choice_release (&u->accel);
  free (u->state_root);
  free (u->vmm_path);
  free (u->qmp_operator_path);
  free (u->kvm_failure);
  for (size_t i = 0; u->vmm_env && u->vmm_env[i]; i++)
    free (u->vmm_env[i]);
  free (u->vmm_env);
  free (u->helper_exe);
  bridge_hello_release (&u->guest.hello);
  free (u->kernel_cmdline);
  free (u->qmp_path);
  free (u->id);
  free (u->state_dir);
  free (u->uvm_json_path);
  free (u->vsock_uds);
  free (u->log_listener_address);
  free (u);
}

static void
on_handle_closed (uv_handle_t *h)
{
  struct uvm *u = h->data;
  u->open_handles--;
  maybe_free (u);
}

static void
on_conn_closed (uv_handle_t *h)
{
  struct stream_conn *c = (struct stream_conn *) h;
  struct uvm *u = c->owner;
  free (c);
  u->open_handles--;
  maybe_free (u);
}

static struct stream_conn *
adopt (struct uvm *u, int fd)
{
  struct stream_conn *c = xzalloc (sizeof *c);
  c->owner = u;
  uv_pipe_init (u->loop, &c->pipe, 0);
  u->open_handles++;
  if (uv_pipe_open (&c->pipe, fd) < 0)
    {
      close (fd);
      uv_close ((uv_handle_t *) &c->pipe, on_conn_closed);
      return NULL;
    }
  return c;
}

static void
close_conn (struct stream_conn **c)
{
  if (*c != NULL)
    {
      uv_close ((uv_handle_t *) &(*c)->pipe, on_conn_closed);
      *c = NULL;
    }
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct stream_conn *c = (struct stream_conn *) h;
  (void) suggested;
  *buf = uv_buf_init (c->buffer, sizeof c->buffer);
}

/* ---- uvm.json --------------------------------------------------------- */

static const char *
accel_name (const struct uvm *u)
{
  if (!u->backend->accelerated)
    return "none";
  return u->accel.kvm ? "kvm" : "tcg";
}

static int
write_uvm_json (struct uvm *u, shim_error **err)
{
  strbuf sb = STRBUF_INIT;
  strbuf_puts (&sb, "{\n  \"id\": ");
  strbuf_json_string (&sb, u->id, strlen (u->id));
  strbuf_puts (&sb, ",\n  \"kernel_cmdline\": ");
  strbuf_json_string (&sb, u->kernel_cmdline, strlen (u->kernel_cmdline));
  strbuf_puts (&sb, ",\n  \"vmm_argv\": [");
  for (size_t i = 0; u->vmm_argv && u->vmm_argv[i]; i++)
    {
      strbuf_puts (&sb, i ? ", " : "");
      strbuf_json_string (&sb, u->vmm_argv[i], strlen (u->vmm_argv[i]));
    }
  strbuf_printf (&sb, "],\n  \"vmm_pid\": %d,\n  \"accel\": \"%s\",\n",
                 u->vmm ? vmm_process_pid (u->vmm) : 0, accel_name (u));
  strbuf_puts (&sb, "  \"accel_reason\": ");
  strbuf_json_string (&sb, u->accel.reason, strlen (u->accel.reason));
  strbuf_printf (&sb, ",\n  \"vmm_uid\": %u,\n  \"vmm_user_reason\": ",
                 (unsigned) u->user.uid);
  const char *ur = u->user_reason ? u->user_reason : "";
  strbuf_json_string (&sb, ur, strlen (ur));
  strbuf_puts (&sb, ",\n");
  strbuf_printf (&sb, "  \"live_migration\": %s,\n  \"log_listener\": ",
                 u->live_migration ? "true" : "false");
  if (u->log_listener_address)
    strbuf_json_string (&sb, u->log_listener_address,
                        strlen (u->log_listener_address));
  else
    strbuf_puts (&sb, "null");
  strbuf_puts (&sb, ",\n  \"guest\": ");
  if (u->guest.present)
    {
      strbuf_puts (&sb, "{\"cmdline\": ");
      strbuf_json_string (&sb, u->guest.hello.cmdline, strlen (u->guest.hello.cmdline));
      strbuf_puts (&sb, ", \"kernel_release\": ");
      strbuf_json_string (&sb, u->guest.hello.kernel_release,
                          strlen (u->guest.hello.kernel_release));
      strbuf_puts (&sb, ", \"root\": ");
      strbuf_json_string (&sb, u->guest.hello.root, strlen (u->guest.hello.root));
      strbuf_printf (&sb,
                     ", \"cpus\": %llu, \"memory_mb\": %llu, "
                     "\"uptime_ms\": %llu}",
                     (unsigned long long) u->guest.hello.cpus,
                     (unsigned long long) u->guest.hello.memory_mb,
                     (unsigned long long) u->guest.hello.uptime_ms);
    }
  else
    strbuf_puts (&sb, "null");
  strbuf_puts (&sb, "\n}\n");
  int r = write_file_atomic (u->uvm_json_path, sb.data, sb.len, err);
  strbuf_release (&sb);
  return r < 0 ? shim_error_wrap (err, "write uvm.json") : 0;
}

/* ---- start and exit sequencing --------------------------------------- */

static void
report_started (struct uvm *u, const shim_error *err)
{
  if (uvm_state_start_reported (u->state)
      || !advance (u, err == NULL ? UVM_EV_HELLO : UVM_EV_START_FAILED))
    return;
  uv_timer_stop (&u->start_timer);
  uv_timer_stop (&u->stall_timer);
  uv_timer_stop (&u->sample_timer);
  uv_timer_stop (&u->progress_timer);
  if (err == NULL)
    record_verdict (u);
  else if (u->vmm && !u->vmm_exited)
    vmm_process_kill (u->vmm, SIGKILL, NULL);
  u->events->on_started (u->data, err);
}

static void
fail_start (struct uvm *u, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
fail_start (struct uvm *u, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  shim_error e = { code, xvasprintf (fmt, ap) };
  va_end (ap);
  log_error ("uvm %s: %s", u->id, e.msg);
  report_started (u, &e);
  free (e.msg);
}

static void
finish_log (struct uvm *u)
{
  if (u->log_finished)
    return;
  u->log_finished = true;
  if (u->log_parser != NULL)
    gcs_log_parser_finish (u->log_parser);
  uv_timer_stop (&u->log_report_timer);
  report_log_drops (u);
  vsock_listener_close (u->log_listener);
  u->log_listener = NULL;
  close_conn (&u->log_conn);
  uv_timer_stop (&u->drain_timer);
  maybe_report_exit (u);
}

static void
maybe_report_exit (struct uvm *u)
{
  if (u->state != UVM_STOPPED || !u->log_finished
      || !advance (u, UVM_EV_EXIT_REPORTED))
    return;
  u->events->on_exited (u->data, u->exit_status, u->term_signal);
}

static void
on_drain_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  log_warn ("uvm %s: guest log still open %d ms after the VMM exited", u->id,
            LOG_DRAIN_MS);
  finish_log (u);
}

static void
on_vmm_exit (void *data, int64_t status, int term_signal)
{
  struct uvm *u = data;
  if (u->state == UVM_BOOTING)
    {
      char what[64];
      if (term_signal)
        snprintf (what, sizeof what, "QEMU was killed by signal %d",
                  term_signal);
      else
        snprintf (what, sizeof what, "QEMU exited with status %lld",
                  (long long) status);
      attempt_failed (u, what);
    }
  if (u->state == UVM_RELAUNCHING)
    {
      relaunch (u);
      return;
    }
  u->vmm_exited = true;
  u->exit_status = status;
  u->term_signal = term_signal;
  advance (u, UVM_EV_VMM_EXITED);
  uv_timer_stop (&u->grace_timer);
  bridge_conn_close (u->bridge, "the VM exited", false);
  u->bridge = NULL;
  log_entry (LOG_LEVEL_INFO, "VMM exited",
             (struct log_field[]){
                 { "uvm-id", u->id },
                 { "status", term_signal ? strsignal (term_signal) : "exit" } },
             2);
  /* Nothing will connect any more; a connected log gets time to drain.  */
  vsock_listener_close (u->entropy_listener);
  u->entropy_listener = NULL;
  close_entropy (u);
  if (u->log_conn == NULL)
    finish_log (u);
  else
    uv_timer_start (&u->drain_timer, on_drain_timeout, LOG_DRAIN_MS, 0);
  maybe_report_exit (u);
}

static void
on_start_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  char what[96];
  snprintf (what, sizeof what,
            "the guest agent did not connect to the GCS port (%u) within "
            "%llu ms",
            LINUX_GCS_VSOCK_PORT, (unsigned long long) uv_timer_get_repeat (t));
  if (u->accel.kvm && u->accel.may_fall_back)
    {
      /* The TCG attempt gets the whole timeout again.  */
      attempt_failed (u, what);
      uv_timer_again (t);
      return;
    }
  fail_start (u, GRPC_DEADLINE_EXCEEDED, "%s; VMM stopped", what);
}

/* ---- accelerator and run state ------------------------------------------ */

/* QEMU's own words, when it gave any, after what the shim saw.  */
static char *
with_vmm_reason (const struct uvm *u, const char *what)
{
  const char *why = u->vmm ? vmm_process_first_error (u->vmm) : NULL;
  return why ? xasprintf ("%s (QEMU: %s)", what, why) : xstrdup (what);
}

/* This attempt's boot cannot succeed: QEMU stopped or exited, or a KVM
   guest on trial showed no progress.  A KVM attempt that may fall back is
   relaunched under TCG; anything else fails the start.  */
static void
attempt_failed (struct uvm *u, const char *what)
{
  if (u->state != UVM_BOOTING)
    return;
  cleanup_free char *why = with_vmm_reason (u, what);
  if (u->accel.kvm && u->accel.may_fall_back)
    {
      log_entry (LOG_LEVEL_WARN,
                 "KVM does not run guests on this host; relaunching the VM "
                 "under TCG",
                 (struct log_field[]){ { "uvm-id", u->id }, { "reason", why } },
                 2);
      free (u->kvm_failure);
      u->kvm_failure = xasprintf ("kvm attempt failed: %s", why);
      advance (u, UVM_EV_ATTEMPT_FAILED);
      if (!u->vmm_exited)
        vmm_process_kill (u->vmm, SIGKILL, NULL);
      return;
    }
  fail_start (u, GRPC_FAILED_PRECONDITION, "the VM did not boot under %s: %s",
              accel_name (u), why);
}

static void
on_progress_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (guest_progressed (u))
    return; /* the start timeout bounds the rest of the boot */
  char what[112];
  snprintf (what, sizeof what,
            "no guest progress under KVM within %u ms (the guest read no "
            "entropy, sent nothing)",
            u->kvm_progress_timeout_ms);
  attempt_failed (u, what);
}

/* A guest that sent bytes on a port runs.  */
static void
note_progress (struct uvm *u)
{
  u->guest_progress = true;
  uv_timer_stop (&u->progress_timer);
}

/* Whether this attempt's guest code has run: it sent bytes, or read its
   entropy.  A connected port proves nothing (QEMU connects its chardevs
   itself at start); QEMU takes the entropy bytes off the socket only as
   the guest reads them, so an empty send queue means the guest's init
   ran.  */
static bool
guest_progressed (struct uvm *u)
{
  int queued;
  if (!u->guest_progress && u->entropy_fd >= 0
      && ioctl (u->entropy_fd, SIOCOUTQ, &queued) == 0 && queued == 0)
    note_progress (u);
  return u->guest_progress;
}

/* Stopped VMs do not resume by themselves: before the start that fails the
   boot; after it the sandbox ends, with the reason in the log.  */
static void
vm_stopped (struct uvm *u, const char *state)
{
  cleanup_free char *what = xasprintf ("QEMU stopped the VM: %s", state);
  if (!uvm_state_start_reported (u->state))
    {
      attempt_failed (u, what);
      return;
    }
  if (!uvm_state_started (u->state) || u->vmm_exited)
    return;
  cleanup_free char *why = with_vmm_reason (u, what);
  log_entry (LOG_LEVEL_ERROR, "VM stopped; ending the sandbox",
             (struct log_field[]){ { "uvm-id", u->id }, { "reason", why } },
             2);
  vmm_process_kill (u->vmm, SIGKILL, NULL);
}

static void
on_run_state (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  if (u->qmp == NULL)
    return; /* closed with its VM */
  if (err != NULL)
    {
      log_warn ("uvm %s: %s; the VM's run state is not watched", u->id,
                err->msg);
      return;
    }
  const json_value *status = json_get (ret, "status");
  if (status == NULL || status->type != JSON_STRING
      || !json_string_is_c (status))
    return;
  if (strcmp (status->str, "running") != 0
      && strcmp (status->str, "prelaunch") != 0)
    vm_stopped (u, status->str);
}

static void
query_run_state (struct uvm *u)
{
  qmp_client_execute (u->qmp, "query-status", "{}", on_run_state, u);
}

static void
on_qmp_event (void *data, const char *event, const json_value *event_data)
{
  struct uvm *u = data;
  if (strcmp (event, "STOP") == 0)
    query_run_state (u); /* which state it stopped in */
  else if (strcmp (event, "GUEST_PANICKED") == 0)
    vm_stopped (u, "guest-panicked");
  else if (strcmp (event, "SHUTDOWN") == 0
           && !uvm_state_start_reported (u->state))
    {
      /* After the start a shutdown is the guest powering off (Kill).  */
      const json_value *r = json_get (event_data, "reason");
      cleanup_free char *what = xasprintf (
          "shutdown (%s)", r != NULL && r->type == JSON_STRING
                                   && json_string_is_c (r)
                               ? r->str
                               : "no reason given");
      vm_stopped (u, what);
    }
}

/* The host's verdict on KVM, once a boot has decided it: a guest ran
   under KVM on trial, or the same VM booted under TCG after KVM failed.  */
static void
record_verdict (struct uvm *u)
{
  enum kvm_verdict v;
  const char *why;
  if (u->accel.kvm && u->accel.on_trial)
    {
      v = KVM_WORKS;
      why = "a guest booted under KVM on this host";
    }
  else if (u->fell_back)
    {
      v = KVM_BROKEN;
      why = u->accel.reason;
    }
  else
    return;
  shim_error *err = NULL;
  if (host_verdict_store (u->state_root, u->vmm_path, v, why, &err) < 0)
    {
      log_warn ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
      return;
    }
  log_entry (LOG_LEVEL_INFO, "host KVM verdict recorded",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "kvm", v == KVM_WORKS ? "works" : "broken" },
                                   { "reason", why } },
             3);
}

static int
choose_accel (struct uvm *u, enum accel_mode mode, shim_error **err)
{
  if (!u->backend->accelerated)
    {
      u->accel.reason = xstrdup ("the VMM runs no guest code of its own");
      return 0;
    }
  struct host_verdict v;
  host_verdict_load (u->state_root, u->vmm_path, &v);
  int r = accel_choose (mode, accel_kvm_errno (), &v, &u->accel, err);
  host_verdict_release (&v);
  return r;
}

/* The next attempt runs the same VM under TCG.  */
static void
switch_to_tcg (struct uvm *u)
{
  free_argv (u->vmm_argv);
  u->vmm_argv = u->tcg_argv;
  u->tcg_argv = NULL;
  accel_choice_release (&u->accel);
  u->accel = (struct accel_choice){ .reason = u->kvm_failure };
  u->kvm_failure = NULL;
  u->fell_back = true;
}

/* ---- entropy ---------------------------------------------------------- */

static void
close_entropy (struct uvm *u)
{
  if (u->entropy_fd >= 0)
    close (u->entropy_fd);
  u->entropy_fd = -1;
}

static void
on_entropy_conn (void *data, int fd)
{
  struct uvm *u = data;
  u->entropy_listener = NULL;
  uint8_t buf[LINUX_ENTROPY_BYTES];
  size_t have = 0;
  while (have < sizeof buf)
    {
      ssize_t n = getrandom (buf + have, sizeof buf - have, 0);
      if (n < 0 && errno != EINTR)
        break;
      if (n > 0)
        have += (size_t) n;
    }
  /* A fresh socket's buffer holds 512 bytes: this write does not block.  */
  ssize_t w = write (fd, buf, have);
  log_entry (LOG_LEVEL_DEBUG, "entropy written",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "ok", w == (ssize_t) have ? "true" : "false" } },
             2);
  /* Half-close rather than close: a VMM that relays the port (QEMU's
     virtio-serial chardev) drops the relay on a hangup, possibly before the
     guest has read the bytes, while an EOF arrives after them.  */
  shutdown (fd, SHUT_WR);
  close_entropy (u);
  u->entropy_fd = fd;
}

/* ---- guest log -------------------------------------------------------- */

static void
report_log_drops (struct uvm *u)
{
  uint64_t n = rate_limit_take_dropped (&u->log_rate);
  if (n == 0)
    return;
  char count[24];
  snprintf (count, sizeof count, "%llu", (unsigned long long) n);
  log_entry (LOG_LEVEL_WARN, "guest log lines dropped",
             (struct log_field[]){ { "uvm-id", u->id }, { "count", count } },
             2);
}

static void
on_log_report (uv_timer_t *t)
{
  report_log_drops (t->data);
}

/* The guest writes to the shim log at a bounded rate: beyond it lines are
   counted, and the count logged once a second.  */
static void
emit_guest_log (void *data, const struct gcs_log_entry *e)
{
  struct uvm *u = data;
  if (rate_limit_take (&u->log_rate, uv_now (u->loop)))
    log_entry (e->level, e->msg, e->fields, e->nfields);
  else if (!uv_is_active ((uv_handle_t *) &u->log_report_timer))
    uv_timer_start (&u->log_report_timer, on_log_report, LOG_REPORT_MS, 0);
}

static void
on_log_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct stream_conn *c = (struct stream_conn *) s;
  struct uvm *u = c->owner;
  if (n < 0)
    {
      finish_log (u);
      return;
    }
  note_progress (u);
  gcs_log_parser_feed (u->log_parser, buf->base, (size_t) n);
  if (!read_budget_spend (&u->log_budget, (size_t) n))
    uv_read_stop (s);
}

static void
on_log_budget_refill (void *data)
{
  struct uvm *u = data;
  if (u->log_conn != NULL)
    uv_read_start ((uv_stream_t *) &u->log_conn->pipe, on_alloc, on_log_read);
}

static void
on_log_conn (void *data, int fd)
{
  struct uvm *u = data;
  u->log_listener = NULL;
  u->log_conn = adopt (u, fd);
  if (u->log_conn == NULL)
    {
      finish_log (u);
      return;
    }
  u->log_parser = gcs_log_parser_new (u->id, emit_guest_log, u);
  rate_limit_init (&u->log_rate, GUEST_LOG_LINES_PER_S, GUEST_LOG_BURST,
                   uv_now (u->loop));
  uv_read_start ((uv_stream_t *) &u->log_conn->pipe, on_alloc, on_log_read);
}

/* ---- GCS bridge ------------------------------------------------------- */

static void
on_bridge_read (void *data)
{
  note_progress (data);
}

static void
on_hello (struct uvm *u, struct bridge_hello *hello)
{
  shim_error *err = NULL;
  u->guest.present = true;
  u->guest.hello = *hello;
  *hello = (struct bridge_hello){ 0 };
  char cpus[24], mem[24], up[24];
  snprintf (up, sizeof up, "%llu", (unsigned long long) u->guest.hello.uptime_ms);
  snprintf (cpus, sizeof cpus, "%llu", (unsigned long long) u->guest.hello.cpus);
  snprintf (mem, sizeof mem, "%llu",
            (unsigned long long) u->guest.hello.memory_mb);
  log_entry (LOG_LEVEL_INFO, "guest agent connected",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "guest.cmdline", u->guest.hello.cmdline },
                                   { "guest.kernel", u->guest.hello.kernel_release },
                                   { "guest.root", u->guest.hello.root },
                                   { "guest.cpus", cpus },
                                   { "guest.memory_mb", mem },
                                   { "guest.uptime_ms", up } },
             7);
  if (write_uvm_json (u, &err) < 0)
    {
      log_warn ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
    }
  report_started (u, NULL);
}

static void
on_bridge_notify (void *data, const uint8_t *body, size_t len)
{
  struct uvm *u = data;
  shim_error *err = NULL;
  struct bridge_hello hello = { 0 };
  int r = bridge_hello_decode (BRIDGE_TYPE_NOTIFY, body, len, &hello, &err);
  if (r < 0)
    {
      /* Counted with the bridge's other ignored frames would hide what the
         guest said; a bad notification is rare from a working agent.  */
      log_debug ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
      return;
    }
  /* An attempt being killed for a relaunch does not start the sandbox.  */
  if (r == 1 && !u->guest.present && u->state == UVM_BOOTING)
    on_hello (u, &hello);
  else if (r == 0 && uvm_state_started (u->state) && u->events->on_notify)
    u->events->on_notify (u->data, (const char *) body, len);
  bridge_hello_release (&hello);
}

static void
on_bridge_stream (void *data, uint32_t process, uint8_t stream,
                  const uint8_t *bytes, size_t len)
{
  struct uvm *u = data;
  if (uvm_state_started (u->state))
    u->events->on_stream (u->data, process, stream, bytes, len);
}

static void
on_bridge_credit (void *data, uint32_t process, uint32_t n)
{
  struct uvm *u = data;
  if (uvm_state_started (u->state))
    u->events->on_credit (u->data, process, BRIDGE_STDIN, n);
}

/* A guest that breaks the protocol loses its VM: the sandbox fails with
   the reason, and the host keeps its memory.  */
static void
on_bridge_closed (void *data, const char *violation)
{
  struct uvm *u = data;
  u->bridge = NULL;
  if (violation == NULL)
    {
      log_entry (LOG_LEVEL_INFO, "guest agent connection closed",
                 (struct log_field[]){ { "uvm-id", u->id } }, 1);
      return;
    }
  log_entry (LOG_LEVEL_ERROR, "stopping the VM",
             (struct log_field[]){ { "uvm-id", u->id }, { "reason", violation } },
             2);
  free (u->violation);
  u->violation = xstrdup (violation);
  if (!uvm_state_start_reported (u->state))
    fail_start (u, GRPC_INTERNAL, "%s", violation);
  else if (u->vmm != NULL && !u->vmm_exited)
    vmm_process_kill (u->vmm, SIGKILL, NULL);
}

static const struct bridge_conn_events bridge_events = {
  on_bridge_read,   on_bridge_notify,  on_bridge_stream,
  on_bridge_credit, on_bridge_closed,
};

static struct bridge_conn *
connected_bridge (struct uvm *u)
{
  return u->guest.present ? u->bridge : NULL;
}

int
uvm_request (struct uvm *u, const char *body, uint32_t timeout_ms,
             uvm_reply_fn reply, void *data, shim_error **err)
{
  struct bridge_conn *c = connected_bridge (u);
  if (c == NULL)
    return shim_error_set (err, GRPC_UNAVAILABLE,
                           "the guest agent is not connected");
  return bridge_conn_request (c, body, timeout_ms, reply, data, err);
}

void
uvm_open_streams (struct uvm *u, uint32_t process)
{
  if (u->bridge != NULL)
    bridge_conn_open_streams (u->bridge, process);
}

void
uvm_close_streams (struct uvm *u, uint32_t process)
{
  if (u->bridge != NULL)
    bridge_conn_close_streams (u->bridge, process);
}

int
uvm_send_stream (struct uvm *u, uint32_t process, uint8_t stream,
                 const void *bytes, size_t len)
{
  struct bridge_conn *c = connected_bridge (u);
  if (c == NULL || stream != BRIDGE_STDIN)
    return -1;
  return bridge_conn_send_stdin (c, process, bytes, len);
}

void
uvm_send_credit (struct uvm *u, uint32_t process, uint8_t stream, uint32_t n)
{
  struct bridge_conn *c = connected_bridge (u);
  if (c != NULL)
    bridge_conn_credit (c, process, stream, n);
}

static void
on_gcs_conn (void *data, int fd)
{
  struct uvm *u = data;
  shim_error *err = NULL;
  u->gcs_listener = NULL;
  u->bridge = bridge_conn_new (u->loop, fd, u->id, &bridge_events, u, &err);
  if (u->bridge == NULL)
    {
      log_warn ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
    }
}

/* ---- lifecycle -------------------------------------------------------- */

/* Field 22 of /proc/<pid>/stat: tells a pid's process from a later one.  */
static unsigned long long
process_start_time (int pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return 0;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  char *p = strrchr (buf, ')');
  unsigned long long start = 0;
  if (p == NULL
      || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
                        "%*d %*d %*d %*d %*d %*d %llu",
                 &start)
             != 1)
    return 0;
  return start;
}

/* <state_dir>/vmm.pid: "pid start-time", for cleanup without the daemon.  */
static void
record_vmm (struct uvm *u)
{
  int pid = vmm_process_pid (u->vmm);
  char *path = xasprintf ("%s/vmm.pid", u->state_dir);
  char *text = xasprintf ("%d %llu\n", pid, process_start_time (pid));
  write_file_atomic (path, text, strlen (text), NULL);
  free (path);
  free (text);
}

int
uvm_cleanup_orphan (const char *state_dir)
{
  char *path = xasprintf ("%s/vmm.pid", state_dir);
  char *text = NULL;
  size_t len = 0;
  int pid = 0;
  unsigned long long start = 0;
  if (read_file_capped (-1, path, 128, &text, &len, NULL) == 0
      && sscanf (text, "%d %llu", &pid, &start) == 2 && pid > 1
      && start != 0 && process_start_time (pid) == start)
    kill (pid, SIGKILL);
  free (text);
  free (path);
  remove_tree (state_dir);
  return pid > 0 ? pid : 0;
}

static int
listen_port (struct uvm *u, uint32_t port, vsock_accept_fn fn,
             struct vsock_listener **out, shim_error **err)
{
  struct vsock_listener_config lc = {
    .transport = u->backend->transport,
    .uds = u->vsock_uds,
    .port = port,
    .single = true,
  };
  if (vsock_listener_open (u->loop, &lc, fn, u, out, err) < 0)
    return shim_error_wrap (err, "listen on vsock port %u", port);
  /* The VMM connects as its own uid.  */
  cleanup_free char *path = xasprintf ("%s_%u", u->vsock_uds, port);
  if (lc.transport == VSOCK_TRANSPORT_HYBRID
      && chown (path, u->user.uid, u->user.gid) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "chown %s", path);
  return 0;
}

/* The VMM's own directory (its sockets), reachable by its uid through
   the state directories, which only root may list or write.  */
static int
make_vm_dir (struct uvm *u, shim_error **err)
{
  if (chmod (u->state_root, 0711) < 0 || chmod (u->state_dir, 0711) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "chmod %s",
                             u->state_dir);
  return vmm_user_own (&u->user, u->vm_dir, err);
}

static void
init_timer (struct uvm *u, uv_timer_t *t)
{
  uv_timer_init (u->loop, t);
  t->data = u;
  u->open_handles++;
}

/* Listeners first: the guest connects as soon as it boots.  */
static int
bind_listeners (struct uvm *u, shim_error **err)
{
  u->nports = 0;
  if (listen_port (u, LINUX_ENTROPY_VSOCK_PORT, on_entropy_conn,
                   &u->entropy_listener, err)
      < 0)
    return -1;
  u->ports[u->nports++] = LINUX_ENTROPY_VSOCK_PORT;
  if (u->live_migration)
    {
      /* Host-local state that cannot follow the VM: bind nothing.  */
      if (u->boot_attempt == 0)
        log_entry (LOG_LEVEL_INFO,
                   "skipping GCS log listener: sandbox is live-migratable",
                   (struct log_field[]){ { "uvm-id", u->id } }, 1);
      u->log_finished = true;
    }
  else
    {
      if (listen_port (u, LINUX_LOG_VSOCK_PORT, on_log_conn, &u->log_listener,
                       err)
          < 0)
        return -1;
      free (u->log_listener_address);
      vsock_hybrid_path (u->vsock_uds, LINUX_LOG_VSOCK_PORT,
                         &u->log_listener_address, NULL);
      u->ports[u->nports++] = LINUX_LOG_VSOCK_PORT;
    }
  if (listen_port (u, LINUX_GCS_VSOCK_PORT, on_gcs_conn, &u->gcs_listener,
                   err)
      < 0)
    return -1;
  u->ports[u->nports++] = LINUX_GCS_VSOCK_PORT;
  return 0;
}

static void on_boot_stall (uv_timer_t *t);
static void on_sample_tick (uv_timer_t *t);

/* Each attempt waits half as long again as the previous one: a host slow
   enough to need longer boots gets them, a hung kernel is still retried.  */
static uint64_t
stall_limit_ms (const struct uvm *u)
{
  uint64_t ms = u->tcg_boot_stall_ms;
  for (unsigned i = 0; i < u->boot_attempt; i++)
    ms += ms / 2;
  return ms;
}

/* The QMP connection of this attempt: run-state events, disk hot-plug.  */
static void
watch_vmm (struct uvm *u)
{
  u->qmp = qmp_client_new (u->loop, u->qmp_path);
  u->disks = disk_hotplug_new (u->qmp, u->id);
  qmp_client_watch (u->qmp, on_qmp_event, u);
  /* A VM stopped before the connection sent no event that reached us.  */
  query_run_state (u);
}

static int
spawn_vmm (struct uvm *u, shim_error **err)
{
  struct vmm_command run = { u->vmm_argv, u->vmm_env };
  u->guest_progress = false;
  if (vmm_process_spawn (u->loop, u->helper_exe, &run, &u->user,
                         u->backend->name,
                         on_vmm_exit, u, &u->vmm, err)
      < 0)
    return -1;
  record_vmm (u);
  char attempt[16];
  snprintf (attempt, sizeof attempt, "%u", u->boot_attempt + 1);
  log_entry (LOG_LEVEL_INFO, "VMM started",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "vmm", u->backend->name },
                                   { "accel", accel_name (u) },
                                   { "attempt", attempt },
                                   { "accel_reason", u->accel.reason } },
             5);
  if (u->backend->qmp)
    watch_vmm (u);
  /* The record of what was started is part of starting it.  */
  if (write_uvm_json (u, err) < 0)
    return -1;
  u->attempt_started_ms = uv_now (u->loop);
  bool tcg_watched
      = u->backend->accelerated && !u->accel.kvm && u->tcg_boot_stall_ms > 0;
  if (u->accel.kvm && u->accel.on_trial)
    uv_timer_start (&u->progress_timer, on_progress_timeout,
                    u->kvm_progress_timeout_ms, 0);
  if (tcg_watched)
    uv_timer_start (&u->stall_timer, on_boot_stall, stall_limit_ms (u), 0);
  if (u->backend->qmp && (tcg_watched || u->accel.on_trial))
    {
      u->last_sample.ncpus = 0;
      u->still_samples = 0;
      u->sampling = false;
      uv_timer_start (&u->sample_timer, on_sample_tick, HANG_SAMPLE_MS,
                      HANG_SAMPLE_MS);
    }
  return 0;
}

/* Boots that hang.  Under TCG the guest kernel learns its TSC frequency
   only by calibrating against the PIT (QEMU 7.2's TCG gives no CPUID
   0x15/0x16/0x40000010 frequency, microvm has no HPET, the fixed command
   line has pmtmr=0).  The calibration rejects every sample taken while the
   host descheduled QEMU, so on a busy host it fails ("Marking TSC unstable
   due to could not calculate TSC khz"); calibrate_delay() then waits for
   jiffies, but microvm's hardware-reduced ACPI gives the kernel no PIT tick
   and the local APIC timer is only set up later: the kernel spins there
   forever.  Such a VM is relaunched, as soon as its vCPUs are seen standing
   still, else when the stall limit passes without progress.  A guest that
   read its entropy is past that point; the start timeout still bounds the
   rest of its boot.  */

/* The last resort for a boot without progress: kill it and launch again
   (on_vmm_exit relaunches).  */
static void
relaunch_stalled (struct uvm *u, const char *after_ms, const char *why)
{
  if (u->boot_attempt + 1 >= UVM_BOOT_ATTEMPTS)
    return; /* the start timeout reports it */
  log_entry (LOG_LEVEL_WARN, "guest made no progress; relaunching the VM",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "after_ms", after_ms },
                                   { "reason", why } },
             3);
  advance (u, UVM_EV_ATTEMPT_FAILED);
  vmm_process_kill (u->vmm, SIGKILL, NULL);
}

static void
on_boot_stall (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (u->state != UVM_BOOTING || u->vmm_exited || guest_progressed (u))
    return;
  char ms[24];
  snprintf (ms, sizeof ms, "%llu", (unsigned long long) stall_limit_ms (u));
  relaunch_stalled (u, ms, "no progress within the stall limit");
}

/* A guest whose vCPUs stand still (spinning in one place, or halted)
   across HANG_SAMPLES samples before it made any progress will not boot:
   under TCG that is the kernel stuck in calibrate_delay after a failed TSC
   calibration (see "Boots that hang"), under KVM on trial a guest KVM
   cannot run.  A slow guest moves, and keeps its time.  */
static void
on_vcpu_sample (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  if (u->qmp == NULL)
    return; /* closed with its VM */
  u->sampling = false;
  struct vcpu_sample now;
  if (err != NULL || ret == NULL || ret->type != JSON_STRING
      || !json_string_is_c (ret) || vcpu_sample_parse (ret->str, &now) < 0
      || u->state != UVM_BOOTING || u->guest_progress)
    return;
  u->still_samples = vcpu_sample_stuck (&u->last_sample, &now)
                         ? u->still_samples + 1
                         : 0;
  u->last_sample = now;
  if (u->still_samples + 1 < HANG_SAMPLES)
    return;
  uv_timer_stop (&u->sample_timer);
  char what[96], ms[24];
  snprintf (what, sizeof what,
            "the guest's vCPUs stood still for %d ms (CPU 0 at 0x%llx)",
            (HANG_SAMPLES - 1) * HANG_SAMPLE_MS,
            (unsigned long long) now.ip[0]);
  if (u->accel.kvm)
    {
      attempt_failed (u, what);
      return;
    }
  snprintf (ms, sizeof ms, "%llu",
            (unsigned long long) (uv_now (u->loop) - u->attempt_started_ms));
  relaunch_stalled (u, ms, what);
}

static void
on_sample_tick (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (u->state != UVM_BOOTING || u->vmm_exited || guest_progressed (u))
    {
      uv_timer_stop (t);
      return;
    }
  if (u->sampling || u->qmp == NULL)
    return;
  u->sampling = true;
  qmp_client_execute (u->qmp, "human-monitor-command",
                      "{\"command-line\":\"info registers -a\"}",
                      on_vcpu_sample, u);
}

/* Kills what is left of the VMM and closes the listeners and connections
   of its launch.  */
static void
drop_vm (struct uvm *u)
{
  vmm_process_destroy (u->vmm);
  u->vmm = NULL;
  close_entropy (u);
  vsock_listener_close (u->entropy_listener);
  vsock_listener_close (u->log_listener);
  vsock_listener_close (u->gcs_listener);
  u->entropy_listener = u->log_listener = u->gcs_listener = NULL;
  close_conn (&u->log_conn);
  bool destroyed = u->state == UVM_DESTROYED;
  bridge_conn_close (u->bridge, "the VM is gone", destroyed);
  u->bridge = NULL;
  uv_timer_stop (&u->progress_timer);
  uv_timer_stop (&u->sample_timer);
  /* No callback once destroyed; a relaunch fails attaches in flight (they
     end as the client closes).  */
  disk_hotplug_close (u->disks, destroyed);
  u->disks = NULL;
  struct qmp_client *qmp = u->qmp;
  u->qmp = NULL; /* its failing commands find the VM gone */
  qmp_client_close (qmp);
}

/* After an attempt's VMM exited (a stalled boot, or a KVM attempt that
   failed): drop what it connected, bind again and start the next one.  */
static void
relaunch (struct uvm *u)
{
  advance (u, UVM_EV_VMM_EXITED);
  u->boot_attempt++;
  drop_vm (u);
  gcs_log_parser_free (u->log_parser);
  u->log_parser = NULL;
  if (u->kvm_failure != NULL)
    switch_to_tcg (u);
  shim_error *err = NULL;
  if (bind_listeners (u, &err) < 0 || spawn_vmm (u, &err) < 0)
    {
      /* A VMM that did start is killed by fail_start.  */
      u->vmm_exited = u->vmm == NULL;
      fail_start (u, GRPC_FAILED_PRECONDITION, "relaunch the VM: %s",
                  err->msg);
      shim_error_free (err);
    }
}

/* The initramfs that mounts rootfs.vhd, when the boot files have one.  */
static char *
loader_path (const struct sandbox_options *o)
{
  char *loader = xasprintf ("%s/" UVM_LOADER_FILE, o->boot_files_root_path);
  if (o->rootfs == ROOTFS_VHD && access (loader, R_OK) == 0)
    return loader;
  free (loader);
  return NULL;
}

/* Who the VMM runs as: its own uid where it can read what it opens
   itself, else root (logged, and in uvm.json).  */
static void
choose_user (struct uvm *u, const struct uvm_config *cfg)
{
  const struct sandbox_options *o = cfg->opts;
  cleanup_free char *loader = loader_path (o);
  const char *reads[]
      = { cfg->cfg->vmm_path, o->kernel_path, o->rootfs_path, loader };
  size_t n = sizeof reads / sizeof *reads;
  const char *slash = strrchr (u->state_dir, '/');
  vmm_user_choose (cfg->cfg, slash ? slash + 1 : u->state_dir, &u->user);
  char *why = NULL;
  if (!vmm_user_can_read (&u->user, reads, n, &why))
    {
      log_entry (LOG_LEVEL_WARN, "the VMM runs as root",
                 (struct log_field[]){ { "uvm-id", u->id }, { "reason", why } },
                 2);
      u->user = (struct vmm_user){ 0, 0, 0 };
    }
  free (u->user_reason);
  u->user_reason = why ? why
                       : xstrdup (u->user.uid ? "its own uid"
                                              : "vmm_user \"root\" in the "
                                                "shim configuration");
}

/* The VMM's command line under the chosen accelerator, and under TCG too
   when a KVM attempt may fall back.  */
static int
build_vmm_commands (struct uvm *u, const struct uvm_config *cfg,
                    shim_error **err)
{
  const struct sandbox_options *o = cfg->opts;
  cleanup_free char *loader = loader_path (o);
  struct vmm_spec spec = {
    .sandbox_id = cfg->id,
    .kernel_path = o->kernel_path,
    .initrd_path = o->rootfs == ROOTFS_INITRD ? o->rootfs_path : NULL,
    .rootfs_vhd_path = o->rootfs == ROOTFS_VHD ? o->rootfs_path : NULL,
    .loader_path = loader,
    .kernel_cmdline = cfg->kernel_cmdline,
    .cpus = o->processor_count,
    .memory_mb = o->memory_mb,
    .vsock_uds = u->vsock_uds,
    .host_ports = u->ports,
    .nhost_ports = u->nports,
    .qmp_socket = u->qmp_path,
    .qmp_operator_socket = u->qmp_operator_path,
    .kvm = u->accel.kvm,
    .vmm_path = cfg->cfg->vmm_path,
    .vmm_args = cfg->cfg->vmm_args,
    .nvmm_args = cfg->cfg->nvmm_args,
  };
  struct vmm_command cmd = { 0 };
  if (cfg->backend->build (&spec, &cmd, err) < 0)
    return -1;
  u->vmm_argv = cmd.argv;
  u->vmm_env = cmd.env;
  if (access (cmd.argv[0], X_OK) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "VMM %s is not executable", cmd.argv[0]);
  if (!(u->accel.kvm && u->accel.may_fall_back))
    return 0;
  struct vmm_command tcg = { 0 };
  spec.kvm = false;
  if (cfg->backend->build (&spec, &tcg, err) < 0)
    return -1;
  u->tcg_argv = tcg.argv;
  tcg.argv = NULL;
  vmm_command_release (&tcg);
  return 0;
}

int
uvm_start (uv_loop_t *loop, const struct uvm_config *cfg,
           const struct uvm_events *events, void *data, struct uvm **out,
           shim_error **err)
{
  struct uvm *u = xzalloc (sizeof *u);
  u->entropy_fd = -1;
  u->loop = loop;
  u->id = xstrdup (cfg->id);
  u->state_dir = xstrdup (cfg->state_dir);
  u->state_root = xstrdup (cfg->state_root);
  u->vmm_path = xstrdup (cfg->cfg->vmm_path ? cfg->cfg->vmm_path : "");
  u->uvm_json_path = xasprintf ("%s/uvm.json", cfg->bundle);
  u->vm_dir = xasprintf ("%s/vm", cfg->state_dir);
  u->vsock_uds = xasprintf ("%s/vsock", u->vm_dir);
  u->qmp_path = xasprintf ("%s/qmp.sock", u->vm_dir);
  u->qmp_operator_path = xasprintf ("%s/qmp-operator.sock", u->vm_dir);
  u->kernel_cmdline = xstrdup (cfg->kernel_cmdline);
  u->live_migration = cfg->opts->live_migration;
  u->stop_grace_ms = cfg->cfg->stop_grace_ms;
  u->tcg_boot_stall_ms = cfg->cfg->tcg_boot_stall_ms;
  u->kvm_progress_timeout_ms = cfg->cfg->kvm_progress_timeout_ms;
  u->events = events;
  u->data = data;
  u->helper_exe = xstrdup (cfg->helper_exe);
  u->backend = cfg->backend;
  init_timer (u, &u->start_timer);
  init_timer (u, &u->drain_timer);
  init_timer (u, &u->log_report_timer);
  read_budget_init (loop, &u->log_budget, GUEST_LOG_READ_BUDGET,
                    on_log_budget_refill, u);
  u->open_handles++;
  init_timer (u, &u->grace_timer);
  init_timer (u, &u->stall_timer);
  init_timer (u, &u->sample_timer);
  init_timer (u, &u->progress_timer);

  if (choose_accel (u, cfg->cfg->accel, err) < 0
      || mkdir_p (cfg->state_dir, 0700, err) < 0)
    goto fail;
  choose_user (u, cfg);
  if (make_vm_dir (u, err) < 0 || bind_listeners (u, err) < 0
      || build_vmm_commands (u, cfg, err) < 0 || spawn_vmm (u, err) < 0)
    goto fail;
  uv_timer_start (&u->start_timer, on_start_timeout,
                  cfg->cfg->gcs_connection_timeout_ms, 0);
  uv_timer_set_repeat (&u->start_timer, cfg->cfg->gcs_connection_timeout_ms);
  *out = u;
  return 0;

fail:
  uvm_destroy (u);
  return -1;
}

int
uvm_pid (const struct uvm *u)
{
  return u->vmm ? vmm_process_pid (u->vmm) : 0;
}

static void
on_grace_expired (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (!u->vmm_exited)
    {
      log_warn ("uvm %s: VMM still running %u ms after SIGTERM; killing it",
                u->id, u->stop_grace_ms);
      vmm_process_kill (u->vmm, SIGKILL, NULL);
    }
}

/* Asks the guest agent to power the VM off; false if it cannot be asked.  */
static bool
request_guest_shutdown (struct uvm *u)
{
  if (!u->backend->stop_via_guest)
    return false;
  struct bridge_conn *c = connected_bridge (u);
  bool sent = c != NULL && bridge_conn_post (c, "{\"type\":\"shutdown\"}") == 0;
  log_entry (sent ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
             sent ? "asked the guest to power off"
                  : "cannot ask the guest to power off; signalling the VMM",
             (struct log_field[]){ { "uvm-id", u->id } }, 1);
  return sent;
}

/* ---- disks ------------------------------------------------------------ */

/* The VM can take disks now; else why not.  */
static int
disks_usable (const struct uvm *u, shim_error **err)
{
  if (!u->backend->qmp)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the %s VMM cannot hot-add disks; containers need "
                           "the qemu VMM",
                           u->backend->name);
  if (u->vmm == NULL || u->vmm_exited || u->disks == NULL)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone");
  return 0;
}

int
uvm_attach_disk (struct uvm *u, const char *image, uint32_t target,
                 uvm_done_fn done, void *data, shim_error **err)
{
  if (disks_usable (u, err) < 0)
    return -1;
  return disk_hotplug_attach (u->disks, image, target, done, data, err);
}

void
uvm_release_scsi_target (struct uvm *u, uint32_t target)
{
  /* A VM that is gone took its disks with it.  */
  if (u->disks != NULL && u->state != UVM_DESTROYED && u->vmm != NULL
      && !u->vmm_exited)
    disk_hotplug_release (u->disks, target);
}

int
uvm_reserve_scsi_target (struct uvm *u, uint32_t *target, shim_error **err)
{
  if (disks_usable (u, err) < 0)
    return -1;
  if (disk_hotplug_reserve (u->disks, target) < 0)
    return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                           "the UVM has no SCSI target left for another "
                           "container (%u in use or not yet unplugged)",
                           DISK_HOTPLUG_TARGET_MAX);
  return 0;
}

int
uvm_signal (struct uvm *u, int sig, shim_error **err)
{
  if (u->vmm == NULL || u->vmm_exited)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "process already finished: not found");
  if (!(sig == SIGTERM && request_guest_shutdown (u))
      && vmm_process_kill (u->vmm, sig, err) < 0)
    return -1;
  if (sig == SIGTERM && !uv_is_active ((uv_handle_t *) &u->grace_timer))
    uv_timer_start (&u->grace_timer, on_grace_expired, u->stop_grace_ms, 0);
  return 0;
}

int
uvm_usage (const struct uvm *u, uint64_t *cpu_ns, uint64_t *rss_bytes)
{
  if (u->vmm == NULL || u->vmm_exited)
    return -1;
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", vmm_process_pid (u->vmm));
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return -1;
  char buf[1024];
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  /* Fields after the parenthesised command: utime is 14th, rss 24th.  */
  char *p = strrchr (buf, ')');
  if (p == NULL)
    return -1;
  unsigned long long utime = 0, stime = 0;
  long long rss = 0;
  if (sscanf (p + 2,
              "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
              "%*d %*d %*d %*d %*u %*u %lld",
              &utime, &stime, &rss)
      != 3)
    return -1;
  long hz = sysconf (_SC_CLK_TCK);
  *cpu_ns = (utime + stime) * (1000000000ull / (unsigned long long) hz);
  *rss_bytes = (uint64_t) rss * (uint64_t) sysconf (_SC_PAGESIZE);
  return 0;
}

void
uvm_destroy (struct uvm *u)
{
  if (u == NULL || u->state == UVM_DESTROYED)
    return;
  advance (u, UVM_EV_DESTROY);
  drop_vm (u);
  uv_close ((uv_handle_t *) &u->start_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &u->drain_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &u->log_report_timer, on_handle_closed);
  read_budget_close (&u->log_budget, on_handle_closed);
  uv_close ((uv_handle_t *) &u->grace_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &u->stall_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &u->sample_timer, on_handle_closed);
  uv_close ((uv_handle_t *) &u->progress_timer, on_handle_closed);
  unlink (u->uvm_json_path);
  remove_tree (u->state_dir);
}
