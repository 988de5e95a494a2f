/* The UVM's PID 1.  Two roles, chosen by where it runs:

   - loader: started from the loader initramfs with root= on the kernel
     command line (the rootfs.vhd boot).  The Debian kernel builds
     virtio-mmio and virtio-scsi as modules, so the kernel cannot mount
     root= itself: load the block modules, wait for the device, mount it
     read-only and hand over to its init= program with the same arguments.
   - init: mounts the API filesystems, loads the modules listed in
     /lib/modules/lcow.order, seeds the RNG from the host (-e port), lays a
     tmpfs-backed overlay over /etc and /var (-w), runs the remaining
     arguments in a new session, reaps every child until that one exits,
     and powers the VM off.

   Flags as upstream's init: getopt "+d:e:w".  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/random.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_port.h"
#include "uvm/bridge/bridge_protocol.h"

#define MODULE_DIR "/lib/modules"
#define MODULE_ORDER MODULE_DIR "/lcow.order"
#define ENTROPY_BYTES 512
#define ROOT_WAIT_SECONDS 30

static void
warn (const char *fmt, const char *arg)
{
  fprintf (stderr, "init: ");
  fprintf (stderr, fmt, arg);
  fprintf (stderr, ": %s\n", strerror (errno));
}

/* Never returns: PID 1 must not exit (that panics the kernel).  */
static void
power_off (void)
{
  sync ();
  /* Only a kernel with ACPI can power off: without (the project's), its
     power-off halts the CPUs for ever.  */
  if (access ("/sys/firmware/acpi", F_OK) == 0)
    reboot (RB_POWER_OFF);
  /* Without a power-off method, a reboot stops a VM run with -no-reboot.  */
  reboot (RB_AUTOBOOT);
  for (;;)
    pause ();
}

static void
mount_one (const char *src, const char *dst, const char *type,
           unsigned long flags, const char *data)
{
  mkdir (dst, 0755);
  if (mount (src, dst, type, flags, data) < 0 && errno != EBUSY)
    warn ("mount %s", dst);
}

static void
mount_api_filesystems (void)
{
  mount_one ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_one ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_one ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  /* /dev/ptmx opens only with a devpts at /dev/pts: terminals for
     container processes.  */
  mount_one ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
             "gid=5,mode=0620,ptmxmode=0666");
  mount_one ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_one ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* The kernel gives init no stdio when the initramfs has no /dev/console;
   later opens must not land on fds 0-2.  */
static void
ensure_stdio (void)
{
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0)
      {
        int c = open ("/dev/console", O_RDWR);
        if (c < 0)
          c = open ("/dev/null", O_RDWR);
        if (c >= 0 && c != fd)
          {
            dup2 (c, fd);
            close (c);
          }
      }
}

static void
load_modules (void)
{
  FILE *f = fopen (MODULE_ORDER, "re");
  if (f == NULL)
    return;
  char name[256];
  while (fgets (name, sizeof name, f) != NULL)
    {
      name[strcspn (name, "\n")] = '\0';
      if (name[0] == '\0' || name[0] == '#')
        continue;
      char path[512];
      snprintf (path, sizeof path, MODULE_DIR "/%s", name);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        {
          warn ("open module %s", path);
          continue;
        }
      if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
        warn ("load module %s", name);
      close (fd);
    }
  fclose (f);
}

/* Reads one kernel parameter's value ("" for a bare flag); NULL if absent.
   Stops at "--": what follows belongs to init.  */
static char *
kernel_param (const char *cmdline, const char *key)
{
  size_t klen = strlen (key);
  const char *p = cmdline;
  while (*p)
    {
      while (*p == ' ' || *p == '\n')
        p++;
      const char *start = p;
      bool quoted = false;
      while (*p && (quoted || (*p != ' ' && *p != '\n')))
        {
          if (*p == '"')
            quoted = !quoted;
          p++;
        }
      size_t len = (size_t) (p - start);
      if (len == 2 && strncmp (start, "--", 2) == 0)
        return NULL;
      if (len >= klen && strncmp (start, key, klen) == 0)
        {
          if (len == klen)
            return strdup ("");
          if (start[klen] == '=')
            return strndup (start + klen + 1, len - klen - 1);
        }
    }
  return NULL;
}

static char *
read_cmdline (void)
{
  static char buf[4096];
  int fd = open ("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return buf;
}

static bool
running_from_initramfs (void)
{
  struct statfs st;
  return statfs ("/", &st) == 0
         && (st.f_type == RAMFS_MAGIC || st.f_type == TMPFS_MAGIC);
}

/* The rootfs.vhd boot: mount root= and exec its init= with our argv.  */
static void
load_root_and_switch (const char *root, bool read_only, const char *init,
                      char **argv)
{
  load_modules ();
  struct stat st;
  for (int i = 0; stat (root, &st) < 0 && i < ROOT_WAIT_SECONDS * 100; i++)
    nanosleep (&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
  mkdir ("/newroot", 0755);
  if (mount (root, "/newroot", "ext4", read_only ? MS_RDONLY : 0, NULL) < 0)
    {
      warn ("mount root %s", root);
      power_off ();
    }
  /* Keep /dev (the root device node lives there); drop the rest.  */
  mkdir ("/newroot/dev", 0755);
  if (mount ("/dev", "/newroot/dev", NULL, MS_MOVE, NULL) < 0)
    warn ("move %s", "/dev");
  umount2 ("/proc", MNT_DETACH);
  umount2 ("/sys", MNT_DETACH);
  umount2 ("/run", MNT_DETACH);
  umount2 ("/tmp", MNT_DETACH);
  if (chdir ("/newroot") < 0 || mount (".", "/", NULL, MS_MOVE, NULL) < 0
      || chroot (".") < 0 || chdir ("/") < 0)
    {
      warn ("switch to %s", root);
      power_off ();
    }
  argv[0] = (char *) init;
  execv (init, argv);
  warn ("exec %s", init);
  power_off ();
}

static void
seed_entropy (uint32_t port)
{
  int fd = guest_port_connect (port);
  if (fd < 0)
    {
      fprintf (stderr, "init: entropy port %u: %s\n", port, strerror (errno));
      return;
    }
  struct rand_pool_info *seed = calloc (1, sizeof *seed + ENTROPY_BYTES);
  if (seed == NULL)
    {
      close (fd);
      return;
    }
  uint8_t *buf = (uint8_t *) seed->buf;
  size_t have = 0;
  while (have < ENTROPY_BYTES)
    {
      ssize_t n = read (fd, buf + have, ENTROPY_BYTES - have);
      if (n <= 0)
        break;
      have += (size_t) n;
    }
  close (fd);
  seed->entropy_count = (int) have * 8;
  seed->buf_size = (int) have;
  int rnd = open ("/dev/random", O_WRONLY | O_CLOEXEC);
  if (rnd < 0 || ioctl (rnd, RNDADDENTROPY, seed) < 0)
    warn ("seed %s", "/dev/random");
  if (rnd >= 0)
    close (rnd);
  free (seed);
}

/* The host's directory share (a pod that is not live-migratable): the
   virtio-fs device is there only then, so its absence is not an error.  */
static void
mount_host_share (void)
{
  mkdir ("/run/gcs", 0755);
  mkdir (BRIDGE_SHARE_DIR, 0755);
  if (mount (BRIDGE_SHARE_TAG, BRIDGE_SHARE_DIR, "virtiofs",
             MS_NOSUID | MS_NODEV, NULL)
      < 0)
    rmdir (BRIDGE_SHARE_DIR);
}

/* -w: writable /etc and /var over a read-only root, upper layers on a
   tmpfs under /run.  */
static void
writable_overlay (void)
{
  static const char *const dirs[] = { "etc", "var" };
  mount_one ("tmpfs", "/run/overlay", "tmpfs", MS_NOSUID | MS_NODEV,
             "mode=0755");
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      char upper[64], work[64], target[32], data[256];
      snprintf (upper, sizeof upper, "/run/overlay/%s-upper", dirs[i]);
      snprintf (work, sizeof work, "/run/overlay/%s-work", dirs[i]);
      snprintf (target, sizeof target, "/%s", dirs[i]);
      mkdir (upper, 0755);
      mkdir (work, 0755);
      snprintf (data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s",
                target, upper, work);
      if (mount ("overlay", target, "overlay", 0, data) < 0)
        warn ("overlay %s", target);
    }
}

int
main (int argc, char **argv)
{
  mount_api_filesystems ();
  ensure_stdio ();
  char *cmdline = read_cmdline ();
  char *root = cmdline ? kernel_param (cmdline, "root") : NULL;
  if (root != NULL && *root != '\0' && running_from_initramfs ())
    {
      char *init = kernel_param (cmdline, "init");
      char *ro = kernel_param (cmdline, "ro");
      load_root_and_switch (root, ro != NULL, init ? init : "/init", argv);
    }
  free (root);

  load_modules ();
  mount_host_share ();
  int64_t entropy_port = -1;
  bool overlay = false;
  int opt;
  while ((opt = getopt (argc, argv, "+d:e:w")) != -1)
    switch (opt)
      {
      case 'd':
        break; /* a debug shell needs a console; this UVM has none */
      case 'e':
        entropy_port = guest_port_parse (optarg);
        if (entropy_port < 0)
          {
            fprintf (stderr, "init: invalid entropy port\n");
            power_off ();
          }
        break;
      case 'w':
        overlay = true;
        break;
      default:
        break;
      }
  if (entropy_port > 0)
    seed_entropy ((uint32_t) entropy_port);
  if (overlay)
    writable_overlay ();

  static char *default_argv[] = { "/bin/gcs", "-loglevel", "debug",
                                  "-logfile=/run/gcs/gcs.log", NULL };
  char **child_argv = optind < argc ? argv + optind : default_argv;
  char *envp[] = { "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", NULL };
  pid_t child = fork ();
  if (child == 0)
    {
      setsid ();
      execvpe (child_argv[0], child_argv, envp);
      fprintf (stderr, "init: exec %s: %s\n", child_argv[0], strerror (errno));
      _exit (127);
    }
  if (child < 0)
    warn ("fork %s", child_argv[0]);
  for (;;)
    {
      int status;
      pid_t pid = wait (&status);
      if (pid == child || (pid < 0 && errno == ECHILD))
        break;
    }
  power_off ();
}
