/* See vm_description.h.  */
#include "vm_description.h"

#include <stdlib.h>
#include <string.h>

#include "policy/problems.h"
#include "proto/base/xalloc.h"

void
vm_description_from_argv (char *const *argv, char **cpu_model, char **machine)
{
  const char *cpu = "", *mach = "";
  size_t mach_len = 0;
  for (size_t i = 0; argv != NULL && argv[i] != NULL && argv[i + 1] != NULL;
       i++)
    if (strcmp (argv[i], "-cpu") == 0)
      cpu = argv[i + 1];
    else if (strcmp (argv[i], "-machine") == 0)
      {
        /* The type is the first member: "microvm,pcie=off,...".  */
        mach = argv[i + 1];
        mach_len = strcspn (mach, ",");
      }
  *cpu_model = xstrdup (cpu);
  *machine = xstrndup (mach, mach_len);
}

static void
compare_text (struct policy_problems *p, const char *what, const char *src,
              const char *dst)
{
  if (strcmp (src ? src : "", dst ? dst : "") != 0)
    policy_problem_add (p, "%s: source \"%s\", destination \"%s\"", what,
                        src ? src : "", dst ? dst : "");
}

static void
compare_number (struct policy_problems *p, const char *what, uint64_t src,
                uint64_t dst)
{
  if (src != dst)
    policy_problem_add (p, "%s: source %llu, destination %llu", what,
                        (unsigned long long) src, (unsigned long long) dst);
}

static const struct vm_boot_file *
find_boot_file (const struct vm_description *d, const char *name)
{
  for (size_t i = 0; i < d->nboot_files; i++)
    if (strcmp (d->boot_files[i].name, name) == 0)
      return &d->boot_files[i];
  return NULL;
}

/* Each boot file of either side, by name: present on both, same bytes.  */
static void
compare_boot_files (struct policy_problems *p,
                    const struct vm_description *src,
                    const struct vm_description *dst)
{
  for (size_t i = 0; i < src->nboot_files; i++)
    {
      const struct vm_boot_file *s = &src->boot_files[i];
      const struct vm_boot_file *d = find_boot_file (dst, s->name);
      if (d == NULL)
        policy_problem_add (p, "boot file %s: the destination has none",
                            s->name);
      else if (strcmp (s->sha256, d->sha256) != 0)
        policy_problem_add (p,
                            "boot file %s: source sha256 %s (%llu bytes), "
                            "destination sha256 %s (%llu bytes)",
                            s->name, s->sha256, (unsigned long long) s->bytes,
                            d->sha256, (unsigned long long) d->bytes);
    }
  for (size_t i = 0; i < dst->nboot_files; i++)
    if (find_boot_file (src, dst->boot_files[i].name) == NULL)
      policy_problem_add (p, "boot file %s: the source has none",
                          dst->boot_files[i].name);
}

int
vm_description_compare (const struct vm_description *src,
                        const struct vm_description *dst, shim_error **err)
{
  struct policy_problems p = { 0 };
  compare_text (&p, "vmm", src->vmm, dst->vmm);
  /* microvm has no versioned machine type: the same QEMU build.  */
  compare_text (&p, "qemu_version", src->qemu_version, dst->qemu_version);
  compare_text (&p, "accel", src->accel, dst->accel);
  /* QEMU does not check the CPU model itself (a guest moved from "max" to
     "qemu64" hangs).  */
  compare_text (&p, "cpu_model", src->cpu_model, dst->cpu_model);
  compare_text (&p, "machine", src->machine, dst->machine);
  compare_number (&p, "cpus", src->cpus, dst->cpus);
  compare_number (&p, "memory_mb", src->memory_mb, dst->memory_mb);
  compare_text (&p, "kernel_cmdline", src->kernel_cmdline,
                dst->kernel_cmdline);
  compare_boot_files (&p, src, dst);
  if (src->network != dst->network)
    policy_problem_add (&p,
                        "network: the %s VM has the pod's NIC, the %s "
                        "one has none",
                        src->network ? "source" : "destination",
                        src->network ? "destination" : "source");
  if (policy_problems_to_error (&p,
                                "the destination VM cannot take the "
                                "source's state",
                                err)
      < 0)
    {
      (*err)->code = GRPC_FAILED_PRECONDITION;
      return -1;
    }
  return 0;
}

void
vm_description_release (struct vm_description *d)
{
  free (d->vmm);
  free (d->qemu_version);
  free (d->accel);
  free (d->cpu_model);
  free (d->machine);
  free (d->kernel_cmdline);
  for (size_t i = 0; i < d->nboot_files; i++)
    free (d->boot_files[i].name);
  *d = (struct vm_description){ 0 };
}
