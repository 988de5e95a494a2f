/* The pod's cgroup removed once what ran in it is gone: the VMM (exited,
   or just killed with its VM running) and virtiofsd (just killed) leave it
   within milliseconds, so the removal is tried at once and then on a
   timer, every POD_CGROUP_RETRY_MS for at most POD_CGROUP_RETRY_MAX_MS
   (the last failure is logged), never by sleeping on the loop.  The
   removal owns itself: the loop runs until it is done.  */
#ifndef LCOW_UVM_PODNET_POD_CGROUP_REMOVAL_H
#define LCOW_UVM_PODNET_POD_CGROUP_REMOVAL_H

#include <uv.h>

#define POD_CGROUP_RETRY_MS 5
#define POD_CGROUP_RETRY_MAX_MS 1000

/* dir is pod_cgroup_dir's; owner names the UVM in the log.  */
void pod_cgroup_remove_when_empty (uv_loop_t *loop, const char *dir,
                                   const char *owner);

#endif
