#include "pod_file_binds.h"

#include <string.h>

#include "container_policy.h"
#include "proto/base/file_io.h"
#include "proto/base/strbuf.h"

/* "/" then components, none empty, "." or "..".  */
static bool
clean_absolute (const char *p)
{
  return p != NULL && p[0] == '/' && path_is_plain (p + 1);
}

/* The path below root, if p is beneath it; else NULL.  */
static const char *
beneath (const char *p, const char *root)
{
  size_t n = strlen (root);
  while (n > 1 && root[n - 1] == '/')
    n--;
  return strncmp (p, root, n) == 0 && p[n] == '/' ? p + n + 1 : NULL;
}

/* The first component of rel names this pod.  */
static bool
names_pod (const char *rel, const char *name)
{
  size_t n = strcspn (rel, "/");
  return name != NULL && *name != '\0' && strlen (name) == n
         && strncmp (rel, name, n) == 0 && rel[n] == '/';
}

static const char *
check_source (const struct oci_mount *m, char *const *roots, size_t nroots,
              const char *sandbox_id, const char *pod_uid,
              struct pod_file_bind *out)
{
  /* An emptyDir is made in the guest: only its medium is looked at (a
     kubelet's tmpfs for medium Memory), when it is where pod files are.  */
  bool empty_dir = out->kind == POD_CONTENT_EMPTY_DIR;
  if (!clean_absolute (m->source))
    return empty_dir ? NULL : "the source is not a clean absolute path";
  for (size_t r = 0; r < nroots; r++)
    {
      const char *rel = beneath (m->source, roots[r]);
      if (rel == NULL)
        continue;
      if (!names_pod (rel, sandbox_id) && !names_pod (rel, pod_uid))
        return empty_dir ? NULL : "the source is not in this pod's directory";
      out->root = roots[r];
      out->relative = rel;
      return NULL;
    }
  return empty_dir ? NULL
                   : "the source is not beneath a pod file root of the shim "
                     "configuration (pod_file_roots)";
}

int
pod_file_binds_plan (const struct oci_spec *spec, char *const *roots,
                     size_t nroots, const char *sandbox_id, bool host_share,
                     struct pod_file_bind *binds, size_t *n, shim_error **err)
{
  const char *pod_uid
      = oci_spec_annotation (spec, POD_FILE_ANNOTATION_POD_UID);
  strbuf bad = STRBUF_INIT;
  bool directory = false;
  *n = 0;
  for (size_t i = 0; i < spec->nmounts; i++)
    {
      const struct oci_mount *m = &spec->mounts[i];
      if (!oci_mount_is_bind (m) || m->destination == NULL
          || strcmp (m->destination, "/dev/shm") == 0)
        continue;
      const char *why = NULL;
      const char *name = NULL;
      enum pod_content_kind kind
          = pod_content_kind (m, sandbox_id, pod_uid, &name);
      binds[*n] = (struct pod_file_bind){ .kind = kind,
                                          .destination = m->destination,
                                          .name = name };
      bool host_path = kind == POD_CONTENT_NONE || kind == POD_CONTENT_SHM;
      mount_options_bind (m->options, m->noptions, &binds[*n].options);
      if (binds[*n].options.propagation == MOUNT_PROPAGATION_SHARED)
        why = "propagation rshared (Bidirectional) is refused: a mount made "
              "in the VM cannot reach the host";
      else if (host_path && !host_share)
        {
          directory = true;
          why = "a host directory or file, which needs a directory share";
        }
      for (size_t j = 0; why == NULL && j < *n; j++)
        if (strcmp (binds[j].destination, m->destination) == 0)
          why = "bound more than once";
      if (why == NULL && host_path)
        {
          binds[*n].kind = POD_CONTENT_NONE;
          binds[*n].host_source = m->source;
          if (!clean_absolute (m->source))
            why = "the source is not a clean absolute path";
        }
      else if (why == NULL)
        why = check_source (m, roots, nroots, sandbox_id, pod_uid, &binds[*n]);
      if (why == NULL)
        (*n)++;
      else
        strbuf_printf (&bad, "%s%s (from %s): %s", bad.len ? "; " : "",
                       m->destination, m->source ? m->source : "?", why);
    }
  if (bad.len == 0)
    return 0;
  shim_error_set (err, GRPC_INVALID_ARGUMENT, "bind mounts refused%s: %s",
                  directory
                      ? " (the UVM has no directory share: a "
                        "live-migratable pod, or no virtiofsd; pod content "
                        "is copied in (containerd's and the kubelet's "
                        "pod files, the termination log, configMap, "
                        "secret, projected and downwardAPI volumes), "
                        "emptyDir is made in the guest, /dev/shm is a "
                        "guest tmpfs)"
                      : "",
                  bad.data);
  strbuf_release (&bad);
  return -1;
}
