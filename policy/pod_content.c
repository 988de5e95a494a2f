#include "pod_content.h"

#include <stdbool.h>
#include <string.h>

#include "container_policy.h"
#include "proto/base/file_io.h"

#define CRI_SANDBOXES_DIR "/io.containerd.grpc.v1.cri/sandboxes/"

static const struct
{
  const char *destination;
  const char *file;
  enum pod_content_kind kind;
} cri_files[] = {
  { "/etc/hosts", "hosts", POD_CONTENT_CRI_FILE },
  { "/etc/hostname", "hostname", POD_CONTENT_CRI_FILE },
  { "/etc/resolv.conf", "resolv.conf", POD_CONTENT_CRI_FILE },
  { "/dev/shm", "shm", POD_CONTENT_SHM },
};

/* The kubelet's volume plugins whose content it writes itself.  */
static const char *const content_volumes[] = {
  "kubernetes.io~configmap",
  "kubernetes.io~secret",
  "kubernetes.io~projected",
  "kubernetes.io~downward-api",
};
#define EMPTY_DIR_PLUGIN "kubernetes.io~empty-dir"

/* The text after "<dir><id>/" in source, if that is where source is.  */
static const char *
after_dir (const char *source, const char *dir, const char *id)
{
  if (id == NULL || *id == '\0' || strchr (id, '/') != NULL)
    return NULL;
  for (const char *p = strstr (source, dir); p != NULL;
       p = strstr (p + 1, dir))
    {
      const char *q = p + strlen (dir);
      if (strncmp (q, id, strlen (id)) == 0 && q[strlen (id)] == '/')
        return q + strlen (id) + 1;
    }
  return NULL;
}

/* n path components exactly (none empty).  */
static bool
components (const char *rel, int n)
{
  int count = 1;
  for (const char *c = rel; *c; c++)
    count += *c == '/';
  return *rel != '\0' && path_is_plain (rel) && count == n;
}

static enum pod_content_kind
kubelet_kind (const char *rel, const char **name)
{
  if (strcmp (rel, "etc-hosts") == 0)
    return POD_CONTENT_FILE;
  if (strncmp (rel, "containers/", 11) == 0 && components (rel, 3))
    return POD_CONTENT_TERMINATION_LOG;
  if (strncmp (rel, "volumes/", 8) != 0 || !components (rel, 3))
    return POD_CONTENT_NONE;
  const char *plugin = rel + 8;
  const char *vol = strchr (plugin, '/') + 1;
  size_t n = (size_t) (vol - 1 - plugin);
  for (size_t i = 0; i < sizeof content_volumes / sizeof *content_volumes; i++)
    if (strlen (content_volumes[i]) == n
        && strncmp (plugin, content_volumes[i], n) == 0)
      return POD_CONTENT_VOLUME;
  if (strlen (EMPTY_DIR_PLUGIN) == n
      && strncmp (plugin, EMPTY_DIR_PLUGIN, n) == 0)
    {
      if (name != NULL)
        *name = vol;
      return POD_CONTENT_EMPTY_DIR;
    }
  return POD_CONTENT_NONE;
}

enum pod_content_kind
pod_content_kind (const struct oci_mount *m, const char *sandbox_id,
                  const char *pod_uid, const char **name)
{
  if (!oci_mount_is_bind (m) || m->source == NULL || m->destination == NULL
      || m->source[0] != '/' || !path_is_plain (m->source + 1))
    return POD_CONTENT_NONE;
  const char *rel = after_dir (m->source, CRI_SANDBOXES_DIR, sandbox_id);
  if (rel != NULL)
    {
      for (size_t i = 0; i < sizeof cri_files / sizeof *cri_files; i++)
        if (strcmp (m->destination, cri_files[i].destination) == 0
            && strcmp (rel, cri_files[i].file) == 0)
          return cri_files[i].kind;
      return POD_CONTENT_NONE;
    }
  rel = after_dir (m->source, "/pods/", pod_uid);
  return rel != NULL ? kubelet_kind (rel, name) : POD_CONTENT_NONE;
}
