/* The host side of the bridge: decoding what the guest agent sends.  */
#ifndef LCOW_UVM_BRIDGE_H
#define LCOW_UVM_BRIDGE_H

#include "bridge_protocol.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"

/* What the guest agent says it booted, from its hello notification.  */
struct bridge_hello
{
  char *cmdline;
  char *kernel_release;
  char *root;
  uint64_t cpus;
  uint64_t memory_mb;
  uint64_t uptime_ms;
};

/* Decodes one guest message body.  Returns 1 with *out filled for a hello,
   0 for any other well-formed message, -1 (InvalidArgument) for a body
   that is not a JSON object with a string "type".  Pure.  */
int bridge_hello_decode (uint8_t frame_type, const uint8_t *body, size_t len,
                         struct bridge_hello *out, shim_error **err);
void bridge_hello_release (struct bridge_hello *h);

/* What a successful response carries (members absent are 0).  */
struct bridge_response
{
  uint32_t pid;
  uint64_t cpu_ns;
  uint64_t memory_bytes;
  uint64_t memory_limit;
  /* ping: the guest's CLOCK_BOOTTIME.  */
  uint64_t uptime_ms;
  uint32_t *pids;
  size_t npids;
};

/* Returns 0 with *out filled, or -1 with the guest's error (its gRPC code
   and message) or why the body is not a response.  */
int bridge_response_decode (const char *body, size_t len,
                            struct bridge_response *out, shim_error **err);
void bridge_response_release (struct bridge_response *r);
/* 1 with the fields for an exit notification, else 0.  */
/* message: a container init's termination log, if the guest sent one
   (malloc'd, *message_len bytes; NULL otherwise).  */
int bridge_exit_decode (const char *body, size_t len, uint32_t *process,
                        uint32_t *status, char **message, size_t *message_len);

struct bridge_pod_file
{
  const char *path;
  const char *content;
  size_t len;
  /* Permission bits as on the host (a secret's defaultMode), 0: 0644.  */
  unsigned mode;
};

struct bridge_create
{
  const char *container;
  uint32_t process;
  /* The writable layer's cap.  */
  uint32_t scratch_mb;
  const char *spec;
  size_t spec_len;
  const struct bridge_pod_file *files;
  size_t nfiles;
  /* The pod's hostname, for the pod's UTS namespace, or NULL.  */
  const char *pod_hostname;
  /* The pod's sysctls, KEY=VALUE, for the pod's namespaces.  */
  const char *const *pod_sysctls;
  size_t npod_sysctls;
  /* Where volumes are seen (their files are in files, beneath them).  */
  const char *const *volumes;
  size_t nvolumes;
  /* emptyDirs: where each is seen, its volume name, and its cap in bytes
     (0: none).  */
  const char *const *empty_dir_paths;
  const char *const *empty_dir_names;
  const uint64_t *empty_dir_sizes;
  size_t nempty_dirs;
  /* Where the termination log is, or NULL.  */
  const char *termination_log;
  /* Host paths shared into the VM (host_share.h): where each is seen, and
     where the guest has it.  */
  const char *const *share_paths;
  const char *const *share_sources;
  size_t nshares;
};

/* Request bodies (malloc'd JSON).  A create request is made in two steps,
   as the host learns it: its members, all but the root filesystem's layers
   (bridge_create_members, as text to keep), then the request with the
   layer disks, top first, once they are in the VM (bridge_create_body: at
   most BRIDGE_CREATE_LAYERS_BYTES (n) longer than the members).  */
char *bridge_create_members (const struct bridge_create *c);
char *bridge_create_body (const char *members, const uint32_t *layers,
                          size_t n);
#define BRIDGE_CREATE_LAYERS_BYTES(n) (18 + 11 * (n))
char *bridge_exec_body (const char *container, uint32_t process,
                        const char *spec, size_t spec_len);
/* {"type": type, "container": container}: stats, delete.  */
char *bridge_container_body (const char *type, const char *container);
char *bridge_start_body (uint32_t process);
/* connect: a TCP connection to the guest's 127.0.0.1:port, its bytes the
   streams of process (port forward).  */
char *bridge_connect_body (uint32_t process, uint16_t port);
/* update: an OCI LinuxResources JSON document, as containerd sent it.  */
char *bridge_update_body (const char *container, const char *resources,
                          size_t len);
/* A volume's new content: its files, beneath volume.  */
char *bridge_volume_update_body (const char *container, const char *volume,
                                 const struct bridge_pod_file *files,
                                 size_t nfiles);
/* The guest lets go of the layer disk at target (no container uses it).  */
char *bridge_disk_remove_body (uint32_t target);
char *bridge_signal_body (uint32_t process, uint32_t signal, bool all);
char *bridge_resize_body (uint32_t process, uint32_t width, uint32_t height);
/* A round trip (the guest answers its uptime).  */
#define BRIDGE_PING_BODY "{\"type\":\"" BRIDGE_REQ_PING "\"}"
/* The guest powers the VM off.  */
#define BRIDGE_SHUTDOWN_BODY "{\"type\":\"" BRIDGE_REQ_SHUTDOWN "\"}"
/* The guest's wall clock (after a live migration's downtime).  */
char *bridge_settime_body (uint64_t unix_ns);
/* The pod's NIC: config is the network document (uvm/guest/network.h).  */
char *bridge_network_body (const char *config, size_t len);
#endif
