/* See sandbox.h.  */
#include "sandbox.h"
#include "service_record.h"
#include "sandbox_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_adoption.h"
#include "guest_process.h"
#include "migration_service.h"
#include "policy/migration.h"
#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "runtimeoptions.pb-c.h"
#include "sandbox_plan.h"
#include "task.h"
#include "pod_volumes.h"
#include "port_forward.h"
#include "uvm/layer_set.h"
#include "uvm/uvm.h"

/* Moves the sandbox on and logs it; an event its state does not take is
   logged and changes nothing.  */
static bool
advance (struct sandbox *sb, enum sandbox_event event)
{
  enum sandbox_state next;
  const char *from = sandbox_state_name (sb->state);
  if (!sandbox_state_next (sb->state, event, &next))
    {
      log_entry (
          LOG_LEVEL_ERROR, "sandbox: transition refused",
          (struct log_field[]){ { "sandbox", sb->id }, { "state", from } }, 2);
      return false;
    }
  sb->state = next;
  log_entry (LOG_LEVEL_DEBUG, "sandbox state",
             (struct log_field[]){ { "sandbox", sb->id },
                                   { "from", from },
                                   { "to", sandbox_state_name (next) } },
             3);
  return true;
}

/* sandbox_end's work (sandbox_record.c calls it through sb->end).  */
static void
end_sandbox (struct task_service *ts)
{
  struct sandbox *sb = service_sandbox (ts);
  if (sb == NULL)
    return;
  /* Until the UVM is up the sandbox task is the sandbox's own.  */
  if (sb->state == SANDBOX_CREATING && sb->task != NULL)
    task_free (sb->task);
  if (sb->layers != NULL)
    layer_set_forget_vm (sb->layers);
  if (sb->uvm != NULL)
    guest_sandbox_ending (ts);
  migration_sandbox_ending (ts);
  advance (sb, SANDBOX_EV_END);
  service_set_sandbox (ts, NULL);
  port_forward_stop (sb->port_forward);
  uvm_destroy (sb->uvm);
  layer_set_close (sb->layers);
  pod_volume_sync_stop (sb->volume_sync);
  sandbox_plan_release (&sb->plan);
  if (sb->create_call != NULL)
    ttrpc_call_fail_code (sb->create_call, GRPC_UNAVAILABLE,
                          "sandbox %s ended while it was being created",
                          sb->id);
  if (sb->create_req)
    pb__create_task_request__free_unpacked (sb->create_req, NULL);
  oci_spec_free (sb->standalone_spec);
  free (sb->hostname);
  for (size_t i = 0; i < sb->nsysctls; i++)
    free (sb->sysctls[i]);
  free (sb->sysctls);
  free (sb->id);
  free (sb);
}

/* ---- the UVM's events --------------------------------------------------- */

/* A pod on a network: containerd's PortForward reaches its VM.  Without
   it the pod still runs (PortForward is refused as before), so a failure
   is logged, not the pod's.  */
static void
start_port_forward (struct task_service *ts, struct sandbox *sb)
{
  if (sb->plan.netns_path == NULL)
    return;
  struct port_forward_config pc = {
    .loop = service_config (ts)->loop,
    .uvm = sb->uvm,
    .sandbox_id = sb->id,
    .netns_path = sb->plan.netns_path,
    .next_key = &service_guest (ts)->next_process_key,
  };
  shim_error *err = NULL;
  if (port_forward_start (&pc, &sb->port_forward, &err) < 0)
    {
      log_entry (
          LOG_LEVEL_WARN, "port forward unavailable",
          (struct log_field[]){ { "sandbox", sb->id }, { "error", err->msg } },
          2);
      shim_error_free (err);
    }
}

/* The UVM is up (or, for a migration's destination, its VMM waits): the
   sandbox task is created.  */
static void
sandbox_created (struct task_service *ts, struct ttrpc_call *call)
{
  struct sandbox *sb = service_sandbox (ts);
  advance (sb, SANDBOX_EV_UVM_STARTED);
  struct task *t = sb->task;
  task_add (t);
  if (sb->standalone_spec != NULL)
    {
      /* The task's own process, in its UVM.  */
      Pb__CreateTaskRequest *req = sb->create_req;
      sb->create_req = NULL;
      guest_container_create (t, call, req, sb->standalone_spec);
      return;
    }
  start_port_forward (ts, sb);
  t->pid = (uint32_t) uvm_pid (sb->uvm);
  task_set_status (t, PB__TASK_STATUS__CREATED);
  task_open_stdio (t);

  char pid[16];
  snprintf (pid, sizeof pid, "%u", t->pid);
  log_entry (LOG_LEVEL_INFO, "sandbox created",
             (struct log_field[]){ { "sandbox", sb->id }, { "pid", pid } }, 2);
  task_reply_created (t, call, sb->create_req);
  pb__create_task_request__free_unpacked (sb->create_req, NULL);
  sb->create_req = NULL;
}

static void
on_uvm_started (void *data, const shim_error *err)
{
  struct task_service *ts = data;
  struct sandbox *sb = service_sandbox (ts);
  struct ttrpc_call *call = sb->create_call;
  sb->create_call = NULL;
  if (err != NULL)
    {
      task_fail_call (call, err, "create sandbox %s: start UVM: %s", sb->id);
      end_sandbox (ts);
      return;
    }
  if (uvm_incoming (sb->uvm))
    {
      /* Its VMM waits for the source's VM (Import, Finalize).  */
      migration_incoming_created (ts);
      log_entry (LOG_LEVEL_INFO, "sandbox created to receive a live migration",
                 (struct log_field[]){ { "sandbox", sb->id } }, 1);
    }
  sandbox_created (ts, call);
}

static void
on_uvm_exited (void *data, int64_t exit_status, int term_signal)
{
  struct task_service *ts = data;
  struct sandbox *sb = service_sandbox (ts);
  advance (sb, SANDBOX_EV_UVM_EXITED);
  if (migration_moved (ts))
    {
      /* Not a fault: the VM runs on at the destination.  */
      log_entry (LOG_LEVEL_INFO, "sandbox moved to the destination",
                 (struct log_field[]){ { "sandbox", sb->id } }, 1);
      guest_processes_moved (ts);
      task_moved (sb->task);
      return;
    }
  /* A migration cannot outlive the VM it was moving.  */
  migration_give_up (ts, "the VM exited");
  uint32_t status
      = term_signal ? 128u + (uint32_t) term_signal : (uint32_t) exit_status;
  /* Every container process of the sandbox goes with its VM.  Creates in
     flight fail on their own (their requests fail).  */
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t == sb->task || t->creating || t->exited)
      continue;
    log_entry (LOG_LEVEL_ERROR,
               "container process failed: the UVM exited under it",
               (struct log_field[]){ { "task", t->id },
                                     { "exec", t->exec_id ? t->exec_id : "" },
                                     { "uvm-id", sb->id } },
               3);
    task_exited (t, 255);
  }
  task_exited (sb->task, sb->task->kind == TASK_CONTAINER ? 255 : status);
}

static const struct uvm_events uvm_events = {
  .on_started = on_uvm_started,
  .on_exited = on_uvm_exited,
  .on_notify = guest_on_notify,
  .on_stream = guest_on_stream,
  .on_credit = guest_on_credit,
};

static char *
runtime_config_path (const Pb__Any *options)
{
  /* runtimeoptions.v1.Options; other option types carry no path.  */
  if (options == NULL || options->type_url == NULL
      || strstr (options->type_url, "runtimeoptions.v1.Options") == NULL)
    return NULL;
  Pb__RuntimeOptions *o = pb__runtime_options__unpack (
      NULL, options->value.len, options->value.data);
  if (o == NULL)
    return NULL;
  char *path = *o->config_path ? xstrdup (o->config_path) : NULL;
  pb__runtime_options__free_unpacked (o, NULL);
  return path;
}

/* The sandbox's layer set; its uncached images go under the cache
   directory (disk, not the state directory's tmpfs), named in the state
   directory so that the delete action finds them after a crash.  */
static void
start_layers (struct task_service *ts, struct sandbox *sb,
              const char *state_dir)
{
  const struct shim_config *cfg = &sb->plan.cfg;
  /* Named as the state directory is (a digest of namespace and id): two
     sandboxes' names cannot collide, as "<ns>-<id>" could ("a-b"/"c" and
     "a"/"b-c").  */
  const char *slash = strrchr (state_dir, '/');
  cleanup_free char *scratch
      = xasprintf ("%s/sandboxes/%s", cfg->layer_cache_dir,
                   slash != NULL ? slash + 1 : state_dir);
  cleanup_free char *link
      = xasprintf ("%s/" UVM_LAYER_SCRATCH_LINK, state_dir);
  if (symlink (scratch, link) < 0)
    log_warn ("record %s: %s", link, strerror (errno));
  struct layer_set_config lc = { .loop = service_config (ts)->loop,
                                 .helper_exe = service_config (ts)->self_exe,
                                 .cache_dir = cfg->layer_cache_dir,
                                 .cache_max_mb = cfg->layer_cache_max_mb,
                                 .scratch_dir = scratch,
                                 .portable = sb->plan.migratable };
  sb->layers = layer_set_new (&lc, sb->uvm);
  sb->volume_sync = pod_volume_sync_start (service_config (ts)->loop, ts);
}

/* The sandbox's UVM from its plan, and its layer set; on failure the call
   is failed (the caller ends the sandbox).  */
static int
start_uvm (struct task_service *ts, struct sandbox *sb,
           struct ttrpc_call *call, const Pb__CreateTaskRequest *req,
           bool incoming)
{
  shim_error *err = NULL;
  cleanup_free char *state_dir = task_service_state_dir (
      service_config (ts)->state_root, service_config (ts)->ns, req->id);
  struct uvm_config uc = {
    .id = sb->id,
    .state_dir = state_dir,
    .state_root = service_config (ts)->state_root,
    .bundle = req->bundle,
    .opts = &sb->plan.opts,
    .rootfs_raw_size = sb->plan.rootfs_raw_size,
    .cgroup_dir = sb->plan.cgroup_dir,
    .netns_path = sb->plan.netns_path,
    .kernel_cmdline = sb->plan.kernel_cmdline,
    .backend = vmm_backend_for (sb->plan.cfg.vmm),
    .cfg = &sb->plan.cfg,
    .helper_exe = service_config (ts)->self_exe,
    .incoming = incoming,
    .host_share = sb->plan.host_share,
  };
  sb->create_call = call;
  if (uvm_start (service_config (ts)->loop, &uc, &uvm_events, ts, &sb->uvm,
                 &err)
      < 0)
    {
      sb->uvm = NULL;
      sb->create_call = NULL;
      shim_error_wrap (&err, "create sandbox %s: start UVM", sb->id);
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      return -1;
    }
  start_layers (ts, sb, state_dir);
  return 0;
}

void
sandbox_create (struct task_service *ts, struct ttrpc_call *call,
                Pb__CreateTaskRequest *req, struct oci_spec **specp,
                const char *sandbox_id, bool standalone)
{
  const struct oci_spec *spec = *specp;
  shim_error *err = NULL;
  if (service_sandbox (ts) != NULL)
    {
      ttrpc_call_fail_code (call, GRPC_ALREADY_EXISTS,
                            "sandbox %s already exists in this shim: already "
                            "exists",
                            service_sandbox (ts)->id);
      pb__create_task_request__free_unpacked (req, NULL);
      return;
    }
  struct sandbox *sb = xzalloc (sizeof *sb);
  sb->end = end_sandbox;
  sb->id = xstrdup (sandbox_id);
  sb->create_req = req;
  service_set_sandbox (ts, sb);
  cleanup_free char *config_path = runtime_config_path (req->options);
  bool incoming = false;
  if (sandbox_plan_build (sb->id, spec, config_path, &sb->plan, &err) < 0
      || migration_incoming (spec, &incoming, &err) < 0)
    {
      shim_error_wrap (&err, "create sandbox %s", sb->id);
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      end_sandbox (ts);
      return;
    }
  if (incoming && (standalone || !sb->plan.migratable))
    {
      ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                            "create sandbox %s: %s needs a live-migratable "
                            "pod sandbox (%s=true and CRI's sandbox "
                            "annotations)",
                            sb->id, ANNOTATION_MIGRATION_INCOMING,
                            ANNOTATION_MIGRATION_ALLOWED);
      end_sandbox (ts);
      return;
    }
  if (standalone)
    {
      sb->standalone_spec = *specp;
      *specp = NULL;
    }
  else
    {
      sb->hostname = spec->hostname ? xstrdup (spec->hostname) : NULL;
      sb->sysctls = xzalloc ((spec->nsysctls + 1) * sizeof *sb->sysctls);
      for (size_t i = 0; i < spec->nsysctls; i++)
        sb->sysctls[sb->nsysctls++] = xasprintf ("%s=%s", spec->sysctls[i].key,
                                                 spec->sysctls[i].value);
    }

  struct task *t = task_new (ts, req->id, NULL, req->bundle, req->stdin,
                             req->stdout, req->stderr, req->terminal);
  t->kind = standalone ? TASK_CONTAINER : TASK_POD_SANDBOX;
  t->pod_serial = t->serial;
  sb->task = t;

  if (start_uvm (ts, sb, call, req, incoming) < 0)
    end_sandbox (ts);
}
