#include "vmm_process.h"
#include "uvm/podnet/pod_cgroup.h"
#include "vmm_user.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

extern char **environ;

/* Longest VMM output line kept whole; longer ones are split.  */
#define OUTPUT_LINE_MAX 4096
/* The exit is reported once the output has ended, or this long after.  */
#define OUTPUT_DRAIN_MS 500
/* The first error line kept as the VMM's reason, at most.  */
#define REASON_MAX 300

struct output_pipe
{
  uv_pipe_t pipe;
  struct vmm_process *owner;
  strbuf line;
  char buffer[4096];
  const char *stream;
  bool ended;
};

struct vmm_process
{
  uv_process_t process;
  struct output_pipe out, err;
  uv_timer_t drain_timer;
  char *log_name;
  char *first_error;
  vmm_exit_fn on_exit;
  void *data;
  int open_handles;
  int64_t exit_status;
  int term_signal;
  bool exited;
  bool exit_reported;
  bool destroyed;
};

static void
maybe_free (struct vmm_process *p)
{
  if (p->destroyed && p->open_handles == 0)
    {
      strbuf_release (&p->out.line);
      strbuf_release (&p->err.line);
      free (p->log_name);
      free (p->first_error);
      free (p);
    }
}

static void
on_closed (uv_handle_t *h)
{
  struct vmm_process *p = h->data;
  p->open_handles--;
  maybe_free (p);
}

/* QEMU's own words for what went wrong: its first stderr line that is not
   a warning ("KVM internal error. Suberror: 1", "failed to set MSR ...").  */
static void
keep_reason (struct output_pipe *o)
{
  struct vmm_process *p = o->owner;
  if (p->first_error != NULL || o != &p->err
      || strstr (o->line.data, ": warning: ") != NULL)
    return;
  p->first_error = xstrndup (
      o->line.data, o->line.len < REASON_MAX ? o->line.len : REASON_MAX);
}

static void
emit_line (struct output_pipe *o)
{
  if (o->line.len == 0)
    return;
  keep_reason (o);
  log_entry (LOG_LEVEL_INFO, o->line.data,
             (struct log_field[]){ { "vmm", o->owner->log_name },
                                   { "stream", o->stream } },
             2);
  strbuf_reset (&o->line);
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct output_pipe *o = (struct output_pipe *) h;
  (void) suggested;
  *buf = uv_buf_init (o->buffer, sizeof o->buffer);
}

static void
report_exit (struct vmm_process *p)
{
  if (p->exit_reported || p->destroyed)
    return;
  p->exit_reported = true;
  uv_timer_stop (&p->drain_timer);
  if (p->on_exit != NULL)
    p->on_exit (p->data, p->exit_status, p->term_signal);
}

static void
on_drain_timeout (uv_timer_t *t)
{
  report_exit (t->data);
}

static void
on_output (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct output_pipe *o = (struct output_pipe *) s;
  if (n < 0)
    {
      struct vmm_process *p = o->owner;
      emit_line (o);
      uv_read_stop (s);
      o->ended = true;
      if (p->exited && p->out.ended && p->err.ended)
        report_exit (p);
      return;
    }
  for (ssize_t i = 0; i < n; i++)
    {
      char c = buf->base[i];
      if (c == '\n')
        emit_line (o);
      else if (c != '\r')
        {
          strbuf_putc (&o->line, c);
          if (o->line.len >= OUTPUT_LINE_MAX)
            emit_line (o);
        }
    }
}

static void
on_process_exit (uv_process_t *proc, int64_t status, int term_signal)
{
  struct vmm_process *p = proc->data;
  p->exited = true;
  p->exit_status = status;
  p->term_signal = term_signal;
  /* Its last words first (a child that kept the pipes is not waited for).  */
  if (p->out.ended && p->err.ended)
    report_exit (p);
  else
    uv_timer_start (&p->drain_timer, on_drain_timeout, OUTPUT_DRAIN_MS, 0);
}

char **
vmm_process_argv (const char *helper, const struct vmm_command *cmd,
                  const struct vmm_user *user,
                  const struct vmm_placement *place)
{
  size_t nargs = 0;
  while (cmd->argv[nargs])
    nargs++;
  /* helper, vmm-exec, --user USER, three flags with values, --userns,
     --mountns, "--": 13 at most before cmd's, then the NULL.  */
  char **argv = xzalloc ((13 + nargs + 1) * sizeof (char *));
  size_t a = 0;
  argv[a++] = (char *) helper;
  argv[a++] = (char *) "vmm-exec";
  argv[a++] = (char *) "--user";
  argv[a++] = (char *) vmm_user_arg (user);
  const char *const flags[][2] = { { "--cgroup", place->cgroup_dir },
                                   { "--netns", place->netns_path },
                                   { "--tap", place->tap } };
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
    if (flags[i][1] != NULL)
      {
        argv[a++] = (char *) flags[i][0];
        argv[a++] = (char *) flags[i][1];
      }
  if (place->own_user_namespace)
    argv[a++] = (char *) "--userns";
  if (place->own_mount_namespace)
    argv[a++] = (char *) "--mountns";
  argv[a++] = (char *) "--";
  memcpy (argv + a, cmd->argv, nargs * sizeof (char *));
  return argv;
}

/* The shim's environment and cmd's additions (free the array).  */
static char **
vmm_env (const struct vmm_command *cmd)
{
  size_t nenv = 0, nextra = 0;
  while (environ[nenv])
    nenv++;
  while (cmd->env && cmd->env[nextra])
    nextra++;
  char **env = xzalloc ((nenv + nextra + 1) * sizeof (char *));
  memcpy (env, environ, nenv * sizeof (char *));
  if (nextra)
    memcpy (env + nenv, cmd->env, nextra * sizeof (char *));
  return env;
}

int
vmm_process_spawn (uv_loop_t *loop, const char *helper,
                   const struct vmm_command *cmd, const struct vmm_user *user,
                   const struct vmm_placement *place, const char *log_name,
                   vmm_exit_fn on_exit, void *data, struct vmm_process **out,
                   shim_error **err)
{
  char **argv = vmm_process_argv (helper, cmd, user, place);
  char **env = vmm_env (cmd);

  struct vmm_process *p = xzalloc (sizeof *p);
  p->log_name = xstrdup (log_name);
  p->on_exit = on_exit;
  p->data = data;
  p->out.owner = p->err.owner = p;
  p->out.stream = "stdout";
  p->err.stream = "stderr";
  uv_pipe_init (loop, &p->out.pipe, 0);
  uv_pipe_init (loop, &p->err.pipe, 0);
  uv_timer_init (loop, &p->drain_timer);
  p->out.pipe.data = p->err.pipe.data = p->process.data = p;
  p->drain_timer.data = p;

  uv_stdio_container_t stdio[4] = {
    { .flags = UV_IGNORE },
    { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
      .data.stream = (uv_stream_t *) &p->out.pipe },
    { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
      .data.stream = (uv_stream_t *) &p->err.pipe },
    { .flags = UV_INHERIT_FD, .data.fd = place->inherit_fd },
  };
  uv_process_options_t opts = {
    .exit_cb = on_process_exit,
    .file = helper,
    .args = argv,
    .env = env,
    .stdio_count = place->inherit_fd >= 0 ? 4 : 3,
    .stdio = stdio,
  };
  int r = uv_spawn (loop, &p->process, &opts);
  free (argv);
  free (env);
  p->open_handles = 4;
  if (r < 0)
    {
      p->destroyed = true;
      uv_close ((uv_handle_t *) &p->drain_timer, on_closed);
      uv_close ((uv_handle_t *) &p->out.pipe, on_closed);
      uv_close ((uv_handle_t *) &p->err.pipe, on_closed);
      uv_close ((uv_handle_t *) &p->process, on_closed);
      return shim_error_set (err, GRPC_INTERNAL, "spawn %s: %s", cmd->argv[0],
                             uv_strerror (r));
    }
  uv_read_start ((uv_stream_t *) &p->out.pipe, on_alloc, on_output);
  uv_read_start ((uv_stream_t *) &p->err.pipe, on_alloc, on_output);
  *out = p;
  return 0;
}

int
vmm_process_pid (const struct vmm_process *p)
{
  return p->process.pid;
}

const char *
vmm_process_first_error (const struct vmm_process *p)
{
  return p->first_error;
}

int
vmm_process_kill (struct vmm_process *p, int sig, shim_error **err)
{
  if (p->exited)
    return shim_error_set (err, GRPC_NOT_FOUND, "process already finished");
  int r = uv_process_kill (&p->process, sig);
  if (r < 0)
    return shim_error_set (err, GRPC_INTERNAL, "signal %d to pid %d: %s", sig,
                           p->process.pid, uv_strerror (r));
  return 0;
}

void
vmm_process_destroy (struct vmm_process *p)
{
  if (p == NULL || p->destroyed)
    return;
  p->destroyed = true;
  if (!p->exited)
    uv_process_kill (&p->process, SIGKILL);
  emit_line (&p->out);
  emit_line (&p->err);
  uv_close ((uv_handle_t *) &p->drain_timer, on_closed);
  uv_close ((uv_handle_t *) &p->out.pipe, on_closed);
  uv_close ((uv_handle_t *) &p->err.pipe, on_closed);
  uv_close ((uv_handle_t *) &p->process, on_closed);
}

/* The TAP of that name, attached as VMM_TAP_FD for the VMM.  */
static int
open_tap (const char *name)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  /* dup2 onto itself would keep close-on-exec: cleared explicitly.  */
  if (fd < 0 || ioctl (fd, TUNSETIFF, &ifr) < 0
      || dup2 (fd, VMM_TAP_FD) != VMM_TAP_FD
      || fcntl (VMM_TAP_FD, F_SETFD, 0) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      errno = saved;
      return -1;
    }
  if (fd != VMM_TAP_FD)
    close (fd);
  return 0;
}

/* The descriptors a command in its own user namespace may open (virtiofsd
   holds one per inode the guest looked up, and would raise its own limit
   to this, which needs the host's CAP_SYS_RESOURCE).  */
#define USERNS_NOFILE 1000000
/* Every uid and gid, mapped to itself.  */
#define IDENTITY_MAP "0 0 4294967295\n"

static int
write_identity_map (pid_t pid, const char *which)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, which);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write (fd, IDENTITY_MAP, strlen (IDENTITY_MAP));
  close (fd);
  return n == (ssize_t) strlen (IDENTITY_MAP) ? 0 : -1;
}

/* Enters a mount namespace of its own (host mounts still reach it; its
   own reach nothing) with a /proc instance of its own that shows a
   process only to its uid ("invisible": kernels before 5.8, whose proc
   options were shared by every mount, refuse the word, and so fail safe).  */
static int
enter_private_proc (void)
{
  if (unshare (CLONE_NEWNS) < 0
      || mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return -1;
  return mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "hidepid=invisible");
}

/* Enters a user namespace of its own with every id mapped to itself.  A
   process may map only its own id from inside; the full map is written by
   a child that stays in the host's namespace, as root.  */
static int
enter_identity_userns (void)
{
  int sync[2];
  if (pipe2 (sync, O_CLOEXEC) < 0)
    return -1;
  pid_t self = getpid ();
  pid_t writer = fork ();
  if (writer < 0)
    return -1;
  if (writer == 0)
    {
      char c;
      close (sync[1]);
      if (read (sync[0], &c, 1) != 1)
        _exit (1);
      _exit (write_identity_map (self, "uid_map") == 0
                     && write_identity_map (self, "gid_map") == 0
                 ? 0
                 : 1);
    }
  close (sync[0]);
  int r = unshare (CLONE_NEWUSER);
  int e = errno;
  if (r == 0 && write (sync[1], "u", 1) != 1)
    r = -1, e = errno;
  close (sync[1]);
  int status = 0;
  while (waitpid (writer, &status, 0) < 0 && errno == EINTR)
    ;
  if (r == 0 && !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    r = -1, e = EPERM;
  errno = e;
  return r;
}

/* The helper's command line: where the VMM goes, and what it runs.  */
struct exec_plan
{
  struct vmm_user user;
  const char *cgroup_dir, *netns_path, *tap;
  bool userns, mountns;
  char **program;
};

static int
parse_exec_args (int argc, char **argv, struct exec_plan *plan)
{
  *plan = (struct exec_plan){ 0 };
  int dashes = 3;
  for (;;)
    if (argc > dashes + 2 && strcmp (argv[dashes], "--cgroup") == 0)
      plan->cgroup_dir = argv[dashes + 1], dashes += 2;
    else if (argc > dashes + 2 && strcmp (argv[dashes], "--netns") == 0)
      plan->netns_path = argv[dashes + 1], dashes += 2;
    else if (argc > dashes + 2 && strcmp (argv[dashes], "--tap") == 0)
      plan->tap = argv[dashes + 1], dashes += 2;
    else if (argc > dashes + 1 && strcmp (argv[dashes], "--userns") == 0)
      plan->userns = true, dashes += 1;
    else if (argc > dashes + 1 && strcmp (argv[dashes], "--mountns") == 0)
      plan->mountns = true, dashes += 1;
    else
      break;
  if (argc < dashes + 2 || strcmp (argv[1], "--user") != 0
      || vmm_user_parse_arg (argv[2], &plan->user) < 0
      || strcmp (argv[dashes], "--") != 0)
    return -1;
  plan->program = argv + dashes + 1;
  return 0;
}

/* Into the pod's cgroup and network namespace, the TAP opened there, then
   a mount and a user namespace of its own, as the plan asks; 0, or -1
   with the reason on stderr.  */
static int
enter_places (const struct exec_plan *plan)
{
  shim_error *err = NULL;
  if (plan->cgroup_dir != NULL
      && pod_cgroup_join (POD_CGROUP_MOUNTINFO, plan->cgroup_dir, &err) < 0)
    {
      fprintf (stderr, "vmm-exec: %s\n", err->msg);
      shim_error_free (err);
      return -1;
    }
  int netns
      = plan->netns_path ? open (plan->netns_path, O_RDONLY | O_CLOEXEC) : -1;
  if (plan->netns_path != NULL
      && (netns < 0 || setns (netns, CLONE_NEWNET) < 0))
    {
      fprintf (stderr, "vmm-exec: enter the pod's network namespace %s: %s\n",
               plan->netns_path, strerror (errno));
      return -1;
    }
  if (netns >= 0)
    close (netns);
  const char *what = NULL;
  char tap_what[64];
  snprintf (tap_what, sizeof tap_what, "open the pod's TAP %s",
            plan->tap ? plan->tap : "");
  if (plan->tap != NULL && open_tap (plan->tap) < 0)
    what = tap_what;
  else if (plan->mountns && enter_private_proc () < 0)
    what = "a mount namespace of its own";
  else if (plan->userns)
    {
      /* Raised while it is still the host's root: its namespace cannot.  */
      struct rlimit files = { USERNS_NOFILE, USERNS_NOFILE };
      setrlimit (RLIMIT_NOFILE, &files);
      if (enter_identity_userns () < 0)
        what = "a user namespace of its own";
    }
  if (what == NULL)
    return 0;
  fprintf (stderr, "vmm-exec: %s: %s\n", what, strerror (errno));
  return -1;
}

int
vmm_exec_helper_main (int argc, char **argv)
{
  struct exec_plan plan;
  if (parse_exec_args (argc, argv, &plan) < 0)
    {
      fprintf (stderr, "usage: vmm-exec --user UID:GID:KVMGID [--cgroup DIR] "
                       "[--netns PATH] [--tap NAME] [--userns] [--mountns] "
                       "-- program [args...]\n");
      return 2;
    }
  if (enter_places (&plan) < 0)
    return 1;
  pid_t parent = getppid ();
  if (vmm_user_become (&plan.user) < 0)
    {
      fprintf (stderr, "vmm-exec: become uid %u: %s\n",
               (unsigned) plan.user.uid, strerror (errno));
      return 1;
    }
  /* The VMM dies with the shim, whatever way the shim goes (set after the
     uid change, which clears it).  */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0)
    {
      fprintf (stderr, "vmm-exec: prctl: %s\n", strerror (errno));
      return 1;
    }
  if (getppid () != parent)
    return 1;
  execv (plan.program[0], plan.program);
  fprintf (stderr, "vmm-exec: execv %s: %s\n", plan.program[0],
           strerror (errno));
  return 127;
}
