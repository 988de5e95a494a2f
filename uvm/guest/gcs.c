/* gcs: the guest agent.  Logs in logrus form (JSON with -log-format json)
   on stderr or -logfile, connects to the host's GCS port, says hello with
   what the guest booted, and serves the bridge (uvm/guest/PROTOCOL.md,
   uvm/guest/agent.c).  Flags are upstream's, parsed the Go
   way (-name, -name=value, -name value).  */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_log.h"
#include "guest_io.h"
#include "guest_port.h"
#include "proto/base/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "uvm/bridge/bridge_protocol.h"

#define GCS_PORT 0x40000000u
#define CONNECT_TRIES 100

struct flags
{
  const char *loglevel, *log_format, *logfile, *core_dump_location;
  const char *kmsg_log_level, *root_mem_reserve, *gcs_mem_limit;
  const char *policy_stance;
  bool v4, scrub_logs, disable_time_sync, use_inouterr;
};

static int
parse_bool (const char *s, bool *out)
{
  static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
  static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };
  for (size_t i = 0; i < 6; i++)
    {
      if (strcmp (s, yes[i]) == 0)
        return *out = true, 0;
      if (strcmp (s, no[i]) == 0)
        return *out = false, 0;
    }
  return -1;
}

static int
parse_flags (int argc, char **argv, struct flags *f)
{
  struct
  {
    const char *name;
    const char **str;
    bool *boolean;
  } table[] = {
    { "loglevel", &f->loglevel, NULL },
    { "log-format", &f->log_format, NULL },
    { "logfile", &f->logfile, NULL },
    { "core-dump-location", &f->core_dump_location, NULL },
    { "kmsgLogLevel", &f->kmsg_log_level, NULL },
    { "root-mem-reserve-bytes", &f->root_mem_reserve, NULL },
    { "gcs-mem-limit-bytes", &f->gcs_mem_limit, NULL },
    { "initial-policy-stance", &f->policy_stance, NULL },
    { "v4", NULL, &f->v4 },
    { "scrub-logs", NULL, &f->scrub_logs },
    { "disable-time-sync", NULL, &f->disable_time_sync },
    { "use-inouterr", NULL, &f->use_inouterr },
  };
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      if (a[0] != '-')
        return fprintf (stderr, "gcs: unexpected argument %s\n", a), -1;
      a += a[1] == '-' ? 2 : 1;
      const char *eq = strchr (a, '=');
      size_t len = eq ? (size_t) (eq - a) : strlen (a);
      size_t k = 0;
      while (k < sizeof table / sizeof table[0]
             && !(strlen (table[k].name) == len
                  && strncmp (table[k].name, a, len) == 0))
        k++;
      if (k == sizeof table / sizeof table[0])
        return fprintf (stderr, "flag provided but not defined: %s\n",
                        argv[i]),
               -1;
      if (table[k].boolean != NULL)
        {
          if (eq == NULL)
            *table[k].boolean = true;
          else if (parse_bool (eq + 1, table[k].boolean) < 0)
            return fprintf (stderr, "invalid boolean value %s for -%s\n",
                            eq + 1, table[k].name),
                   -1;
        }
      else if (eq != NULL)
        *table[k].str = eq + 1;
      else if (i + 1 < argc)
        *table[k].str = argv[++i];
      else
        return fprintf (stderr, "flag needs an argument: -%s\n",
                        table[k].name),
               -1;
    }
  return 0;
}

static void
read_text (const char *path, char *out, size_t cap)
{
  out[0] = '\0';
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read (fd, out, cap - 1);
  close (fd);
  out[n > 0 ? n : 0] = '\0';
  out[strcspn (out, "\n")] = '\0';
}

/* A kernel that mounted root= itself lists it as /dev/root: the device's
   own name comes from sysfs, by the root's device number.  */
static void
name_kernel_root (char *out, size_t cap)
{
  struct stat st;
  char path[64], uevent[512];
  if (stat ("/", &st) < 0)
    return;
  snprintf (path, sizeof path, "/sys/dev/block/%u:%u/uevent",
            major (st.st_dev), minor (st.st_dev));
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return;
  while (fgets (uevent, sizeof uevent, f) != NULL)
    {
      /* Past the prefix only once it matched: a shorter line ends first.  */
      if (strncmp (uevent, "DEVNAME=", 8) != 0)
        continue;
      size_t n = strcspn (uevent + 8, "\n");
      if (n + 6 <= cap)
        {
          memcpy (out, "/dev/", 5);
          memcpy (out + 5, uevent + 8, n);
          out[5 + n] = '\0';
        }
    }
  fclose (f);
}

/* The device mounted on "/", from /proc/self/mounts.  */
static void
root_device (char *out, size_t cap)
{
  snprintf (out, cap, "unknown");
  FILE *f = fopen ("/proc/self/mounts", "re");
  if (f == NULL)
    return;
  char dev[256], dir[256];
  while (fscanf (f, "%255s %255s %*[^\n]", dev, dir) == 2)
    if (strcmp (dir, "/") == 0)
      snprintf (out, cap, "%s", dev); /* the last one is on top */
  fclose (f);
  if (strcmp (out, "/dev/root") == 0)
    name_kernel_root (out, cap);
}

static uint64_t
memory_mb (void)
{
  FILE *f = fopen ("/proc/meminfo", "re");
  unsigned long long kb = 0;
  if (f != NULL)
    {
      /* NOLINTNEXTLINE(cert-err34-c): the kernel's own format */
      if (fscanf (f, "MemTotal: %llu kB", &kb) != 1)
        kb = 0;
      fclose (f);
    }
  return kb / 1024;
}

static int
send_hello (int fd)
{
  char cmdline[4096], root[256];
  struct utsname un;
  uname (&un);
  read_text ("/proc/cmdline", cmdline, sizeof cmdline);
  root_device (root, sizeof root);
  strbuf body = STRBUF_INIT;
  strbuf_printf (&body, "{\"type\":\"hello\",\"protocol\":%d,\"cmdline\":",
                 BRIDGE_PROTOCOL_VERSION);
  strbuf_json_string (&body, cmdline, strlen (cmdline));
  strbuf_puts (&body, ",\"kernel_release\":");
  strbuf_json_string (&body, un.release, strlen (un.release));
  strbuf_puts (&body, ",\"root\":");
  strbuf_json_string (&body, root, strlen (root));
  strbuf_printf (&body, ",\"cpus\":%ld,\"memory_mb\":%llu,\"uptime_ms\":%llu}",
                 sysconf (_SC_NPROCESSORS_ONLN),
                 (unsigned long long) memory_mb (),
                 (unsigned long long) agent_uptime_ms ());
  agent_log (L_INFO, "connected to host", "cmdline", cmdline, "kernel",
             un.release, "root", root);
  int r = bridge_frame_send (fd, 0, BRIDGE_TYPE_NOTIFY, body.data);
  strbuf_release (&body);
  return r;
}

int
main (int argc, char **argv)
{
  struct flags f
      = { .loglevel = "debug", .log_format = "text", .scrub_logs = true };
  if (parse_flags (argc, argv, &f) < 0)
    return 2;
  enum agent_level min_level;
  if (agent_log_parse_level (f.loglevel, &min_level) < 0)
    {
      fprintf (stderr, "gcs: invalid -loglevel %s\n", f.loglevel);
      return 2;
    }
  if (strcmp (f.log_format, "json") != 0 && strcmp (f.log_format, "text") != 0)
    {
      fprintf (stderr, "gcs: invalid -log-format %s\n", f.log_format);
      return 2;
    }
  agent_log_setup (min_level, strcmp (f.log_format, "json") == 0);
  if (f.logfile != NULL)
    {
      char dir[512];
      snprintf (dir, sizeof dir, "%s", f.logfile);
      char *slash = strrchr (dir, '/');
      if (slash != NULL && slash != dir)
        {
          *slash = '\0';
          mkdir (dir, 0755);
        }
      int fd
          = open (f.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0)
        dup2 (fd, STDERR_FILENO), close (fd);
    }
  if (f.core_dump_location != NULL)
    {
      int fd = open ("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
      if (fd < 0
          || write_all (fd, f.core_dump_location,
                        strlen (f.core_dump_location))
                 < 0)
        agent_log (L_WARN, "cannot set the core dump location", "path",
                   f.core_dump_location);
      if (fd >= 0)
        close (fd);
    }
  agent_log (L_INFO, "GCS started", "log-format", f.log_format, "loglevel",
             f.loglevel, "scrub-logs", f.scrub_logs ? "true" : "false",
             "time-sync", f.disable_time_sync ? "disabled" : "host");

  int fd = -1;
  for (int i = 0; fd < 0 && i < CONNECT_TRIES; i++)
    {
      fd = guest_port_connect (GCS_PORT);
      if (fd < 0)
        nanosleep (&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
    }
  if (fd < 0)
    {
      agent_log (L_FATAL, "cannot connect to the host's GCS port", "error",
                 strerror (errno));
      return 1;
    }
  if (send_hello (fd) < 0)
    {
      agent_log (L_FATAL, "cannot say hello to the host", "error",
                 strerror (errno));
      return 1;
    }
  return agent_serve (fd);
}
