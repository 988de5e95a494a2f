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

struct oci_linux_device
{
  char *path;
  char *type;
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
const char *oci_spec_annotation (const struct oci_spec *spec, const char *key);

/* Parses an OCI "process" object on its own (what Exec carries).  */
int oci_process_parse (const char *buf, size_t len, struct oci_process **out,
                       shim_error **err);
void oci_process_free (struct oci_process *p);

#endif
