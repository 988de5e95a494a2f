/* The VMM in the pod's cgroup: the sandbox spec's linux.cgroupsPath, as the
   kubelet and containerd name it for either cgroup driver, so that the
   pod's limits, QoS and stats cover the VM.  The VMM's helper joins it
   before it execs QEMU (everything QEMU allocates is charged there), in
   every cgroup hierarchy the host mounts (cgroup v2, or each v1 controller),
   and the shim removes the sandbox's own directory after the VMM exits.  */
#ifndef LCOW_UVM_POD_CGROUP_H
#define LCOW_UVM_POD_CGROUP_H

#include <stdint.h>

#include "proto/base/error.h"

/* Pure: the directory, relative to a hierarchy's root, for cgroupsPath:
   "/kubepods/besteffort/pod1/ID" (cgroupfs) as it is, less the leading
   slash; "kubepods-besteffort-pod1.slice:cri-containerd:ID" (systemd) as
   systemd lays it out, "kubepods.slice/kubepods-besteffort.slice/
   kubepods-besteffort-pod1.slice/cri-containerd-ID.scope".  InvalidArgument
   naming what is wrong.  */
int pod_cgroup_dir (const char *cgroups_path, char **out, shim_error **err);

/* Where the hierarchies are found.  */
#define POD_CGROUP_MOUNTINFO "/proc/self/mountinfo"

/* Moves the calling process into dir (from pod_cgroup_dir) in every
   hierarchy mounted per mountinfo, creating the directories as needed
   (a new v1 cpuset directory gets its parent's cpus and mems).  */
int pod_cgroup_join (const char *mountinfo, const char *dir, shim_error **err);
/* The memory limit (bytes; 0 if none) of dir's parent, the pod's own
   cgroup (the kubelet sets the pod's limit there), from the memory
   hierarchy of mountinfo (v2 memory.max or v1 memory.limit_in_bytes).  */
uint64_t pod_cgroup_memory_limit (const char *mountinfo, const char *dir);
/* Removes dir's last component in every hierarchy (it must be empty: the
   VMM has exited); errors other than absence are returned.  */
int pod_cgroup_remove (const char *mountinfo, const char *dir,
                       shim_error **err);

#endif
