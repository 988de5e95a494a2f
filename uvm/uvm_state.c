/* The UVM record's own life (uvm_private.h): its state changes, the
   handles that keep it, the reports of its start and exit.  The lowest
   file of the core: the others call it, it calls none of them.  */
#include "uvm_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/accel.h"
#include "uvm/vmm/vmm_process.h"
#include "uvm/vsock/gcs_log_parser.h"

/* Moves the lifecycle (uvm_lifecycle.h) and logs it; false, changing
   nothing, for an event the current state does not take.  */
bool
uvm_advance (struct uvm *u, enum uvm_event event)
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

void
uvm_maybe_free (struct uvm *u)
{
  if (u->state != UVM_DESTROYED || u->open_handles > 0)
    return;
  gcs_log_parser_free (u->guest.log_parser);
  vmm_user_lease_release (&u->launch.user_lease);
  free (u->launch.user_reason);
  free (u->vm_dir);
  uvm_free_argv (u->launch.vmm_argv);
  uvm_free_argv (u->launch.tcg_argv);
  accel_choice_release (&u->launch.accel);
  free (u->state_root);
  free (u->vmm_path);
  free (u->launch.qmp_operator_path);
  free (u->launch.kvm_failure);
  for (size_t i = 0; u->launch.vmm_env && u->launch.vmm_env[i]; i++)
    free (u->launch.vmm_env[i]);
  free (u->launch.vmm_env);
  free (u->helper_exe);
  bridge_hello_release (&u->guest.hello);
  free (u->kernel_cmdline);
  free (u->cgroup_dir);
  free (u->net.netns_path);
  free (u->launch.qmp_path);
  free (u->share_socket);
  free (u->id);
  free (u->state_dir);
  free (u->uvm_json_path);
  free (u->vsock_uds);
  free (u->guest.log_listener_address);
  free (u);
}

void
uvm_on_handle_closed (uv_handle_t *h)
{
  struct uvm *u = h->data;
  u->open_handles--;
  uvm_maybe_free (u);
}

void
uvm_report_started (struct uvm *u, const shim_error *err)
{
  if (uvm_state_start_reported (u->state)
      || !uvm_advance (u, err == NULL ? UVM_EV_HELLO : UVM_EV_START_FAILED))
    return;
  uv_timer_stop (&u->launch.start_timer);
  uv_timer_stop (&u->launch.stall_timer);
  uv_timer_stop (&u->launch.sample_timer);
  uv_timer_stop (&u->launch.progress_timer);
  if (err == NULL)
    uvm_record_verdict (u);
  else if (u->launch.vmm && !u->launch.vmm_exited)
    vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
  u->events->on_started (u->data, err);
}

void
uvm_fail_start (struct uvm *u, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  shim_error e = { code, xvasprintf (fmt, ap) };
  va_end (ap);
  log_error ("uvm %s: %s", u->id, e.msg);
  uvm_report_started (u, &e);
  free (e.msg);
}

void
uvm_maybe_report_exit (struct uvm *u)
{
  if (u->state != UVM_STOPPED || !u->guest.log_finished
      || !uvm_advance (u, UVM_EV_EXIT_REPORTED))
    return;
  u->events->on_exited (u->data, u->launch.exit_status, u->launch.term_signal);
}

void
uvm_init_timer (struct uvm *u, uv_timer_t *t)
{
  uv_timer_init (u->loop, t);
  t->data = u;
  u->open_handles++;
}

/* A guest that sent bytes on a port runs.  */
void
uvm_note_progress (struct uvm *u)
{
  u->launch.guest_progress = true;
  uv_timer_stop (&u->launch.progress_timer);
}

void
uvm_free_argv (char **argv)
{
  for (size_t i = 0; argv && argv[i]; i++)
    free (argv[i]);
  free (argv);
}

/* The host's verdict on KVM, once a boot has decided it: a guest ran
   under KVM on trial, or the same VM booted under TCG after KVM failed.  */
void
uvm_record_verdict (struct uvm *u)
{
  enum kvm_verdict v;
  const char *why;
  if (u->launch.accel.kvm && u->launch.accel.on_trial)
    {
      v = KVM_WORKS;
      why = "a guest booted under KVM on this host";
    }
  else if (u->launch.fell_back)
    {
      v = KVM_BROKEN;
      why = u->launch.accel.reason;
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
  log_entry (
      LOG_LEVEL_INFO, "host KVM verdict recorded",
      (struct log_field[]){ { "uvm-id", u->id },
                            { "kvm", v == KVM_WORKS ? "works" : "broken" },
                            { "reason", why } },
      3);
}
