#include "kernel_cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid.  */
static size_t
utf8_len (const unsigned char *s)
{
  if (s[0] < 0x80)
    return 1;
  size_t n = s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
             : s[0] >= 0xe0                 ? 3
             : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                                            : 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

char *
go_quote (const char *s)
{
  strbuf sb = STRBUF_INIT;
  strbuf_putc (&sb, '"');
  const unsigned char *p = (const unsigned char *) s;
  while (*p)
    {
      unsigned char c = *p;
      size_t n = utf8_len (p);
      if (c == '"' || c == '\\')
        strbuf_printf (&sb, "\\%c", c);
      else if (c >= 0x20 && c < 0x7f)
        strbuf_putc (&sb, (char) c);
      else if (c == '\a' || c == '\b' || c == '\f' || c == '\n' || c == '\r'
               || c == '\t' || c == '\v')
        strbuf_printf (&sb, "\\%c",
                       "abtnvfr"[c == '\a'   ? 0
                                 : c == '\b' ? 1
                                 : c == '\t' ? 2
                                 : c == '\n' ? 3
                                 : c == '\v' ? 4
                                 : c == '\f' ? 5
                                             : 6]);
      else if (c < 0x80 || n == 0)
        {
          strbuf_printf (&sb, "\\x%02x", c);
          n = 1;
        }
      else
        {
          strbuf_append (&sb, p, n);
          p += n;
          continue;
        }
      p++;
    }
  strbuf_putc (&sb, '"');
  return strbuf_detach (&sb);
}

char *
kernel_cmdline_gcs_command (const struct kernel_cmdline_input *in)
{
  strbuf sb = STRBUF_INIT;
  if (!in->live_migration)
    strbuf_printf (&sb, "/bin/vsockexec -e %u", LINUX_LOG_VSOCK_PORT);
  else if (in->log_relay)
    strbuf_printf (&sb, "/bin/vsockexec -r -e %u", LINUX_LOG_VSOCK_PORT);
  strbuf_add_token (&sb, "/bin/gcs -v4 -log-format json -loglevel");
  strbuf_add_token (&sb, in->log_level ? in->log_level : "info");
  if (in->disable_time_sync)
    strbuf_add_token (&sb, "-disable-time-sync");
  if (in->scrub_logs >= 0)
    strbuf_add_token (&sb, in->scrub_logs ? "-scrub-logs=true"
                                          : "-scrub-logs=false");
  if (in->core_dump_location != NULL && *in->core_dump_location)
    {
      strbuf_add_token (&sb, "-core-dump-location");
      strbuf_add_token (&sb, in->core_dump_location);
    }
  return strbuf_detach (&sb);
}

int
kernel_cmdline_build (const struct kernel_cmdline_input *in, char **out,
                      shim_error **err)
{
  strbuf sb = STRBUF_INIT;
  const char *rootfs = in->rootfs_name ? in->rootfs_name : "";

  if (strcmp (rootfs, INITRD_FILE) == 0)
    {
      if (!in->kernel_direct)
        strbuf_add_token (&sb, "initrd=/" INITRD_FILE);
    }
  else if (strcmp (rootfs, VHD_FILE) == 0)
    {
      if (in->dm_verity)
        {
          if (in->dm_verity_create_args == NULL
              || *in->dm_verity_create_args == '\0')
            {
              strbuf_release (&sb);
              return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                                     "DmVerityCreateArgs should be set when "
                                     "DmVerityMode is true and not booting "
                                     "from a vmgs file");
            }
          char *q = go_quote (in->dm_verity_create_args);
          strbuf_add_token (&sb, "root=/dev/dm-0 dm-mod.create=");
          strbuf_puts (&sb, q);
          strbuf_puts (&sb, " init=/init");
          free (q);
        }
      else
        strbuf_add_token (&sb, "root=/dev/sda ro rootwait init=/init");
    }

  strbuf_add_token (&sb, "initcall_blacklist=virtio_vsock_init");
  if (in->console)
    strbuf_add_token (&sb, "8250_core.nr_uarts=1 8250_core.skip_txen_test=1 "
                           "console=ttyS0,115200");
  else
    strbuf_add_token (&sb, "8250_core.nr_uarts=0 panic=-1 quiet");
  if (in->kernel_boot_options != NULL && *in->kernel_boot_options)
    strbuf_add_token (&sb, in->kernel_boot_options);
  if (!in->vpci_enabled)
    strbuf_add_token (&sb, "pci=off");
  strbuf_add_token (&sb, "");
  strbuf_printf (&sb, "nr_cpus=%u brd.rd_nr=0 pmtmr=0 -- -e %u",
                 in->processor_count, LINUX_ENTROPY_VSOCK_PORT);
  if (in->writable_overlay && strcmp (rootfs, VHD_FILE) == 0)
    strbuf_add_token (&sb, "-w");

  char *gcs = kernel_cmdline_gcs_command (in);
  if (in->console)
    {
      strbuf_add_token (&sb, "sh -c\"");
      strbuf_puts (&sb, gcs);
      strbuf_puts (&sb, "& exec sh\"");
    }
  else
    strbuf_add_token (&sb, gcs);
  free (gcs);

  if (sb.len >= KERNEL_CMDLINE_MAX)
    {
      size_t n = sb.len;
      strbuf_release (&sb);
      return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                             "kernel command line is %zu bytes, more than the "
                             "guest's limit of %d",
                             n, KERNEL_CMDLINE_MAX - 1);
    }
  *out = strbuf_detach (&sb);
  return 0;
}
