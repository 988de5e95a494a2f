/* The guest side of the bridge: a host request decoded into what it asks
   for.  Pure.  */
#ifndef LCOW_GUEST_BRIDGE_REQUEST_H
#define LCOW_GUEST_BRIDGE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"
#include "proto/oci_spec.h"

enum bridge_request_kind
{
  BRIDGE_REQUEST_UNSUPPORTED, /* a type this agent does not know */
  BRIDGE_REQUEST_SHUTDOWN,    /* power the VM off */
  BRIDGE_REQUEST_CREATE,      /* container + its init process, held */
  BRIDGE_REQUEST_EXEC,        /* another process in a container, held */
  BRIDGE_REQUEST_START,       /* release a held process */
  BRIDGE_REQUEST_SIGNAL,
  BRIDGE_REQUEST_RESIZE,
  BRIDGE_REQUEST_STATS,
  BRIDGE_REQUEST_DELETE,      /* a container, once its processes are gone */
  BRIDGE_REQUEST_UPDATE,      /* a running container's resources */
  BRIDGE_REQUEST_NETWORK,     /* the pod's NIC, before any container */
  BRIDGE_REQUEST_PING,        /* the agent reads the bridge: its uptime */
  BRIDGE_REQUEST_SETTIME,     /* the guest's wall clock (after a migration) */
  BRIDGE_REQUEST_DISK_REMOVE, /* a layer disk no container uses any more */
  BRIDGE_REQUEST_VOLUME_UPDATE, /* a volume's new content (kept in sync) */
  BRIDGE_REQUEST_CONNECT, /* a TCP connection to a guest port (port forward) */
};

/* A container's layers: overlayfs takes more, the host sends no more.  */
#define BRIDGE_LAYERS_MAX 128

/* An emptyDir: the pod's guest directory `name`, seen at path, capped at
   size bytes (0: none; medium Memory with a sizeLimit).  */
struct bridge_empty_dir
{
  char *path;
  char *name;
  uint64_t size;
};

/* A file the container sees with this content (a CRI pod file, or a file
   of a volume, beneath the volume's path).  */
struct bridge_file
{
  char *path;
  char *content;
  size_t len;
  unsigned mode; /* permission bits, 0: 0644 */
};

struct bridge_request
{
  enum bridge_request_kind kind;
  char *type;
  char *container;
  uint32_t process;
  /* disk_remove: the disk's SCSI target.  */
  uint32_t scsi_target;
  /* create: the root filesystem's layer disks (SCSI targets), top first,
     and the writable layer's cap.  */
  uint32_t layers[BRIDGE_LAYERS_MAX];
  size_t nlayers;
  uint32_t scratch_mb;
  /* create: the OCI config.json; exec: the OCI process object; update: the
     OCI LinuxResources object; network: the NIC's settings (network.h).  */
  char *spec;
  size_t spec_len;
  struct bridge_file *files;
  size_t nfiles;
  /* create: the pod's hostname, for the pod's UTS namespace (or NULL).  */
  char *pod_hostname;
  /* create: the pod's sysctls ("pod_sysctls": ["KEY=VALUE"]), for the
     pod's namespaces; only keys policy/sysctl_policy.h allows.  */
  struct oci_key_value *pod_sysctls;
  size_t npod_sysctls;
  /* create: where volumes are seen (their files are in files, beneath
     them), the emptyDirs, and where the termination log is (or NULL);
     volume_update: files of the volume at volumes[0].  */
  char **volumes;
  size_t nvolumes;
  struct bridge_empty_dir *empty_dirs;
  size_t nempty_dirs;
  /* create: host paths shared into the VM, as (path, name): where each is
     seen, and its path beneath BRIDGE_SHARE_DIR.  */
  struct bridge_empty_dir *shares;
  size_t nshares;
  char *termination_log;
  uint32_t signal;
  bool all;
  uint32_t width, height;
  /* settime: nanoseconds since the Unix epoch.  */
  uint64_t unix_ns;
  /* connect: the TCP port on the guest's 127.0.0.1 (1 to 65535).  */
  uint16_t port;
};

/* Returns 0 with *out filled, or -1 (InvalidArgument naming every missing
   or mistyped member) for a body that is not such a request.  */
int bridge_request_decode (const char *body, size_t len,
                           struct bridge_request *out, shim_error **err);
void bridge_request_release (struct bridge_request *r);

#endif
