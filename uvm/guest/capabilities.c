/* See capabilities.h.  */
#include "capabilities.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct
{
  const char *name;
  unsigned cap;
} names[] = {
  { "CAP_CHOWN", CAP_CHOWN },
  { "CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE },
  { "CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH },
  { "CAP_FOWNER", CAP_FOWNER },
  { "CAP_FSETID", CAP_FSETID },
  { "CAP_KILL", CAP_KILL },
  { "CAP_SETGID", CAP_SETGID },
  { "CAP_SETUID", CAP_SETUID },
  { "CAP_SETPCAP", CAP_SETPCAP },
  { "CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE },
  { "CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE },
  { "CAP_NET_BROADCAST", CAP_NET_BROADCAST },
  { "CAP_NET_ADMIN", CAP_NET_ADMIN },
  { "CAP_NET_RAW", CAP_NET_RAW },
  { "CAP_IPC_LOCK", CAP_IPC_LOCK },
  { "CAP_IPC_OWNER", CAP_IPC_OWNER },
  { "CAP_SYS_MODULE", CAP_SYS_MODULE },
  { "CAP_SYS_RAWIO", CAP_SYS_RAWIO },
  { "CAP_SYS_CHROOT", CAP_SYS_CHROOT },
  { "CAP_SYS_PTRACE", CAP_SYS_PTRACE },
  { "CAP_SYS_PACCT", CAP_SYS_PACCT },
  { "CAP_SYS_ADMIN", CAP_SYS_ADMIN },
  { "CAP_SYS_BOOT", CAP_SYS_BOOT },
  { "CAP_SYS_NICE", CAP_SYS_NICE },
  { "CAP_SYS_RESOURCE", CAP_SYS_RESOURCE },
  { "CAP_SYS_TIME", CAP_SYS_TIME },
  { "CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG },
  { "CAP_MKNOD", CAP_MKNOD },
  { "CAP_LEASE", CAP_LEASE },
  { "CAP_AUDIT_WRITE", CAP_AUDIT_WRITE },
  { "CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL },
  { "CAP_SETFCAP", CAP_SETFCAP },
  { "CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE },
  { "CAP_MAC_ADMIN", CAP_MAC_ADMIN },
  { "CAP_SYSLOG", CAP_SYSLOG },
  { "CAP_WAKE_ALARM", CAP_WAKE_ALARM },
  { "CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND },
  { "CAP_AUDIT_READ", CAP_AUDIT_READ },
  { "CAP_PERFMON", CAP_PERFMON },
  { "CAP_BPF", CAP_BPF },
  { "CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE },
};

static const char *const set_names[OCI_CAP_SETS]
    = { "bounding", "effective", "inheritable", "permitted", "ambient" };

int
capability_plan_build (const struct oci_process *p, unsigned last_cap,
                       struct capability_plan *out, strbuf *bad)
{
  *out = (struct capability_plan){ .set = p->has_capabilities };
  size_t nbad = 0;
  for (int s = 0; s < OCI_CAP_SETS; s++)
    for (size_t i = 0; i < p->ncapabilities[s]; i++)
      {
        const char *name = p->capabilities[s][i];
        size_t k = 0;
        while (k < sizeof names / sizeof *names
               && strcmp (names[k].name, name) != 0)
          k++;
        if (k < sizeof names / sizeof *names && names[k].cap <= last_cap)
          {
            out->sets[s] |= UINT64_C (1) << names[k].cap;
            continue;
          }
        strbuf_printf (
            bad, "%s%s: %s%s", nbad++ ? ", " : "", set_names[s], name,
            k < sizeof names / sizeof *names ? " (not in the guest kernel)"
                                             : " (unknown)");
      }
  return nbad ? -1 : 0;
}

unsigned
capability_last_cap (void)
{
  unsigned last = CAP_LAST_CAP;
  FILE *f = fopen ("/proc/sys/kernel/cap_last_cap", "re");
  if (f != NULL)
    {
      /* NOLINTNEXTLINE(cert-err34-c): the kernel's own number */
      if (fscanf (f, "%u", &last) != 1 || last > 63)
        last = CAP_LAST_CAP;
      fclose (f);
    }
  return last;
}

int
capability_plan_apply_before_user (const struct capability_plan *plan,
                                   unsigned last_cap)
{
  if (!plan->set)
    return 0;
  for (unsigned cap = 0; cap <= last_cap; cap++)
    if (!(plan->sets[OCI_CAP_BOUNDING] & (UINT64_C (1) << cap))
        && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      return -1;
  return prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0);
}

int
capability_plan_apply_after_user (const struct capability_plan *plan)
{
  if (!plan->set)
    return 0;
  struct __user_cap_header_struct header
      = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++)
    data[i] = (struct __user_cap_data_struct){
      .effective = (uint32_t) (plan->sets[OCI_CAP_EFFECTIVE] >> (32 * i)),
      .permitted = (uint32_t) (plan->sets[OCI_CAP_PERMITTED] >> (32 * i)),
      .inheritable = (uint32_t) (plan->sets[OCI_CAP_INHERITABLE] >> (32 * i)),
    };
  if (syscall (SYS_capset, &header, data) < 0
      || prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return -1;
  for (unsigned cap = 0; cap < 64; cap++)
    if ((plan->sets[OCI_CAP_AMBIENT] & (UINT64_C (1) << cap))
        && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      return -1;
  return 0;
}
