/* The parts of an OCI runtime spec (config.json) the shim decides on:
   annotations, mounts, device assignments, root and process.  Strict types;
   errors name the JSON path ("mounts[3].source: expected string, got
   number").  Members the shim does not use are ignored.  */
#ifndef LCOW_OCI_SPEC_H
#define LCOW_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/json.h"

/* Largest config.json the shim reads.  */
#define OCI_SPEC_MAX_BYTES (4u << 20)

/* An entry of a string map (annotations, linux.sysctl).  */
struct oci_key_value
{
  char *key;
  char *value;
};

struct oci_mount
{
  char *destination;
  char *type;
  char *source;
  char **options;
  size_t noptions;
};

/* linux.devices: a node made in the container's /dev.  */
struct oci_linux_device
{
  char *path;
  /* "c", "b", "u" or "p".  */
  char *type;
  int64_t major;
  int64_t minor;
  bool has_file_mode;
  uint32_t file_mode;
  uint32_t uid;
  uint32_t gid;
};

/* linux.resources.devices: a devices cgroup rule.  */
struct oci_device_rule
{
  bool allow;
  /* "a", "b" or "c"; NULL means "a".  */
  char *type;
  /* -1 when absent: every number.  */
  int64_t major;
  int64_t minor;
  /* Some of "rwm"; NULL means all three.  */
  char *access;
};

/* linux.resources besides devices: what a container's cgroup gets at
   create and at Update.  has_* says a member was given.  */
struct oci_resources
{
  bool has_memory_limit, has_memory_reservation, has_memory_swap;
  int64_t memory_limit, memory_reservation, memory_swap;
  /* Given, though cgroup v2 has no place for them.  */
  bool has_memory_kernel, has_memory_kernel_tcp, has_memory_swappiness;
  bool disable_oom_killer;
  /* 0: not given.  */
  uint64_t cpu_shares;
  bool has_cpu_quota;
  int64_t cpu_quota;
  uint64_t cpu_period;
  char *cpu_cpus;
  char *cpu_mems;
  bool has_cpu_realtime;
  bool has_pids_limit;
  int64_t pids_limit;
  /* Other controllers named, each given: blockIO, hugepageLimits, network,
     rdma.  */
  bool has_block_io, has_hugepage_limits, has_network, has_rdma;
  /* unified: cgroup v2 file names and values, in document order.  */
  struct oci_key_value *unified;
  size_t nunified;
};

/* linux.namespaces[].  */
struct oci_namespace
{
  char *type;
  /* The namespace to join; NULL for a new one.  */
  char *path;
};

struct oci_seccomp_arg
{
  uint32_t index;
  uint64_t value;
  uint64_t value_two;
  /* "SCMP_CMP_EQ" and the like, as written.  */
  char *op;
};

struct oci_seccomp_rule
{
  char **names;
  size_t nnames;
  char *action;
  bool has_errno_ret;
  uint32_t errno_ret;
  struct oci_seccomp_arg *args;
  size_t nargs;
};

/* linux.seccomp, names as written (the agent resolves them).  */
struct oci_seccomp
{
  char *default_action;
  bool has_default_errno_ret;
  uint32_t default_errno_ret;
  char **architectures;
  size_t narchitectures;
  char **flags;
  size_t nflags;
  char *listener_path;
  struct oci_seccomp_rule *syscalls;
  size_t nsyscalls;
};

struct oci_windows_device
{
  char *id;
  char *id_type;
};

struct oci_rlimit
{
  /* "RLIMIT_NOFILE" and the like, as written.  */
  char *type;
  uint64_t hard;
  uint64_t soft;
};

/* The sets of process.capabilities, in the order of OCI's names.  */
enum oci_cap_set
{
  OCI_CAP_BOUNDING,
  OCI_CAP_EFFECTIVE,
  OCI_CAP_INHERITABLE,
  OCI_CAP_PERMITTED,
  OCI_CAP_AMBIENT,
  OCI_CAP_SETS,
};

struct oci_process
{
  char **args;
  size_t nargs;
  char **env;
  size_t nenv;
  char *cwd;
  bool terminal;
  uint32_t uid;
  uint32_t gid;
  uint32_t *additional_gids;
  size_t nadditional_gids;
  struct oci_rlimit *rlimits;
  size_t nrlimits;
  /* process.capabilities was given (without it the process keeps what it
     inherits, as under runc); each set's names ("CAP_CHOWN"), as written.  */
  bool has_capabilities;
  char **capabilities[OCI_CAP_SETS];
  size_t ncapabilities[OCI_CAP_SETS];
  bool no_new_privileges;
  /* process.oomScoreAdj, when given (-1000..1000).  */
  bool has_oom_score_adj;
  int oom_score_adj;
};

struct oci_spec
{
  /* Unique keys, in document order (a repeated key keeps its last value).  */
  struct oci_key_value *annotations;
  size_t nannotations;
  struct oci_mount *mounts;
  size_t nmounts;
  struct oci_linux_device *linux_devices;
  size_t nlinux_devices;
  struct oci_windows_device *windows_devices;
  size_t nwindows_devices;
  char *hostname;
  char *root_path;
  bool root_readonly;
  /* linux.sysctl, unique keys in document order.  */
  struct oci_key_value *sysctls;
  size_t nsysctls;
  /* linux.maskedPaths and linux.readonlyPaths, as written.  */
  char **masked_paths;
  size_t nmasked_paths;
  char **readonly_paths;
  size_t nreadonly_paths;
  struct oci_namespace *namespaces;
  size_t nnamespaces;
  struct oci_device_rule *device_rules;
  size_t ndevice_rules;
  struct oci_resources resources;
  /* linux.cgroupsPath, as written.  */
  char *cgroups_path;
  /* NULL without linux.seccomp.  */
  struct oci_seccomp *seccomp;
  bool has_linux;
  struct oci_process *process;
  /* The document itself, as read by oci_spec_load_bundle (else NULL): what
     is forwarded as it is, so that the file is read once.  */
  char *document;
  size_t document_len;
};

int oci_spec_parse (const char *buf, size_t len, struct oci_spec **out,
                    shim_error **err);
/* Reads <dir>/config.json without following a symlink there; the spec
   keeps the document.  */
int oci_spec_load_bundle (const char *bundle_dir, struct oci_spec **out,
                          shim_error **err);
void oci_spec_free (struct oci_spec *spec);
/* n entries, their strings and the array.  */
void oci_key_values_free (struct oci_key_value *kv, size_t n);
const char *oci_spec_annotation (const struct oci_spec *spec, const char *key);
/* The linux.namespaces entry of that type, or NULL.  */
const struct oci_namespace *oci_spec_namespace (const struct oci_spec *spec,
                                                const char *type);

/* Parses an OCI LinuxResources object on its own (what Update carries):
   a spec with only linux.resources, so that problems are named
   linux.resources.<member>.  */
int oci_resources_parse (const char *buf, size_t len, struct oci_spec **out,
                         shim_error **err);

/* Parses an OCI "process" object on its own (what Exec carries).  */
int oci_process_parse (const char *buf, size_t len, struct oci_process **out,
                       shim_error **err);
void oci_process_free (struct oci_process *p);

/* A bind mount: type "bind", or a "bind" or "rbind" option.  */
bool oci_mount_is_bind (const struct oci_mount *m);

#endif
