/* The sandbox record, shared by the file that owns its life (sandbox.c)
   and the one that answers for it (sandbox_record.c); nothing else sees
   it (sandbox.h).  */
#ifndef LCOW_DAEMON_SANDBOX_PRIVATE_H
#define LCOW_DAEMON_SANDBOX_PRIVATE_H

#include "sandbox.h"
#include "sandbox_plan.h"

struct layer_set;
struct pod_volume_sync;

struct sandbox
{
  char *id;
  enum sandbox_state state;
  struct sandbox_plan plan;
  struct uvm *uvm;
  struct task *task;
  struct ttrpc_call *create_call;
  /* The Create request's rootfs, for the TaskCreate event.  */
  Pb__CreateTaskRequest *create_req;
  /* A standalone task (no CRI annotations) runs its own process in the
     UVM: its spec, until the UVM is up.  */
  struct oci_spec *standalone_spec;
  /* A pod sandbox's hostname, which the pod's UTS namespace gets.  */
  char *hostname;
  /* Its spec's linux.sysctl as KEY=VALUE (sysctl_policy.h's keys), for
     the pod's namespaces in the guest.  */
  char **sysctls;
  size_t nsysctls;
  /* The layer images its VM has (containers' root filesystems).  */
  struct layer_set *layers;
  /* containerd's PortForward into its VM (a pod with a network
     namespace), or NULL.  */
  struct port_forward *port_forward;
  /* Its containers' volumes kept in sync.  */
  struct pod_volume_sync *volume_sync;
  /* sandbox_end's work, which is sandbox.c's: the files that only read the
     sandbox (this one's accessors) reach it without calling sandbox.c.  */
  void (*end) (struct task_service *ts);
};

#endif
