#include "container_policy.h"

#include <string.h>
#include <strings.h>

#include "pod_content.h"

#define ANNOTATION_CRI_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANNOTATION_CRI_POD_UID "io.kubernetes.cri.sandbox-uid"

static const char *const vhd_mount_types[] = {
  "virtual-disk",
  "physical-disk",
  "extensible-virtual-disk",
};

/* Bind sources that name guest-internal locations, not host paths.  */
static const char *const guest_source_prefixes[] = {
  "hugepages://",
  "sandbox://",
  "sandbox-tmp://",
  "uvm://",
};

static bool
str_has_suffix_ci (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && strcasecmp (s + n - m, suffix) == 0;
}

unsigned
mount_classify (const struct oci_mount *m, const char *sandbox_id,
                const char *pod_uid)
{
  unsigned cls = 0;
  const char *type = m->type ? m->type : "";
  const char *source = m->source ? m->source : "";
  for (size_t i = 0; i < sizeof vhd_mount_types / sizeof vhd_mount_types[0];
       i++)
    if (strcmp (type, vhd_mount_types[i]) == 0)
      cls |= MOUNT_CLASS_VHD;
  if (str_has_suffix_ci (source, ".vhd")
      || str_has_suffix_ci (source, ".vhdx"))
    cls |= MOUNT_CLASS_VHD;
  if (oci_mount_is_bind (m))
    {
      bool guest_internal = false;
      for (size_t i = 0;
           i < sizeof guest_source_prefixes / sizeof guest_source_prefixes[0];
           i++)
        if (strncmp (source, guest_source_prefixes[i],
                     strlen (guest_source_prefixes[i]))
            == 0)
          guest_internal = true;
      if (!guest_internal
          && pod_content_kind (m, sandbox_id, pod_uid, NULL)
                 == POD_CONTENT_NONE)
        cls |= MOUNT_CLASS_DIRECTORY;
    }
  return cls;
}

static const char *
or_empty (const char *s)
{
  return s ? s : "";
}

void
container_policy_check (const struct oci_spec *spec,
                        struct policy_problems *problems)
{
  for (size_t i = 0; i < spec->nwindows_devices; i++)
    {
      const struct oci_windows_device *d = &spec->windows_devices[i];
      policy_problem_add (problems,
                          "device windows.devices[%zu] (idType \"%s\", id "
                          "\"%s\") is a device assignment",
                          i, or_empty (d->id_type), or_empty (d->id));
    }
  for (size_t i = 0; i < spec->nlinux_devices; i++)
    policy_problem_add (problems,
                        "device linux.devices[%zu] (%s) is a host device "
                        "assignment",
                        i, or_empty (spec->linux_devices[i].path));

  const char *sandbox_id
      = oci_spec_annotation (spec, ANNOTATION_CRI_SANDBOX_ID);
  const char *pod_uid = oci_spec_annotation (spec, ANNOTATION_CRI_POD_UID);
  for (size_t i = 0; i < spec->nmounts; i++)
    {
      const struct oci_mount *m = &spec->mounts[i];
      unsigned cls = mount_classify (m, sandbox_id, pod_uid);
      if (cls == 0)
        continue;
      const char *what = cls == (MOUNT_CLASS_VHD | MOUNT_CLASS_DIRECTORY)
                             ? "a VHD mount and a directory mount"
                         : cls == MOUNT_CLASS_VHD ? "a VHD mount"
                                                  : "a directory mount";
      policy_problem_add (problems, "mount[%zu] %s (%s from %s) is %s", i,
                          or_empty (m->destination),
                          m->type && *m->type ? m->type : "no type",
                          or_empty (m->source), what);
    }
}
