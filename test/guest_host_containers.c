/* A stand-in for uvm/guest/container.c so that the guest agent can run on
   the host under ASan and UBSan (test_hostile_guest.sh, "agent"): a
   container is only its id and spec, and its processes are the spec's
   args forked on the host as held processes (no namespaces, mounts,
   cgroup or terminal).  What it exercises is agent.c: requests, the
   process table, stream pumping and exit reporting.  The real container
   setup runs in the UVM (test_containers.sh).  Built with
   GUEST_HOST_NO_EXEC (the agent's fuzz harness), a released process exits
   0 at once instead of running anything.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/base/xalloc.h"
#include "uvm/guest/cgroup_resources.h"
#include "uvm/guest/container.h"
#include "uvm/guest/network.h"
#include "uvm/guest/guest_io.h"

struct container
{
  char *id;
  struct oci_spec *spec;
  pid_t init;
};

int
containers_init (shim_error **err)
{
  (void) err;
  return 0;
}

int
container_create (const struct bridge_request *req, struct container **out,
                  shim_error **err)
{
  struct oci_spec *spec = NULL;
  if (oci_spec_parse (req->spec, req->spec_len, &spec, err) < 0)
    return -1;
  if (spec->process == NULL || spec->process->nargs == 0)
    {
      oci_spec_free (spec);
      return shim_error_set (err, GRPC_INVALID_ARGUMENT, "no process.args");
    }
  struct container *c = xzalloc (sizeof *c);
  c->id = xstrdup (req->container);
  c->spec = spec;
  *out = c;
  return 0;
}

const char *
container_id (const struct container *c)
{
  return c->id;
}

pid_t
container_init_pid (const struct container *c)
{
  return c->init;
}

static void
close_pair (int p[2])
{
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0)
      close (p[i]);
}

int
container_spawn (struct container *c, const struct oci_process *p,
                 struct held_process *out, shim_error **err)
{
  if (p == NULL)
    p = c->spec->process;
  if (p->terminal)
    return shim_error_set (err, GRPC_UNIMPLEMENTED,
                           "no terminal on the host stand-in");
  int start[2] = { -1, -1 }, status[2] = { -1, -1 }, in[2] = { -1, -1 },
      o[2] = { -1, -1 }, e[2] = { -1, -1 };
  bool ok = pipe2 (start, O_CLOEXEC) == 0 && pipe2 (status, O_CLOEXEC) == 0
            && pipe2 (in, O_CLOEXEC) == 0 && pipe2 (o, O_CLOEXEC) == 0
            && pipe2 (e, O_CLOEXEC) == 0;
  pid_t pid = ok ? fork () : -1;
  if (pid == 0)
    {
      dup2 (in[0], 0);
      dup2 (o[1], 1);
      dup2 (e[1], 2);
      /* Without an exec, nothing is closed on exec: the other processes'
         pipes must not stay open here.  */
      for (int fd = 3; fd < 1024; fd++)
        if (fd != start[0] && fd != status[1])
          close (fd);
      char b;
      if (read (start[0], &b, 1) != 1)
        _exit (127);
#ifdef GUEST_HOST_NO_EXEC
      _exit (0);
#endif
      char **env = xzalloc ((p->nenv + 1) * sizeof *env);
      if (p->nenv > 0)
        memcpy (env, p->env, p->nenv * sizeof *env);
      execve (p->args[0], p->args, env);
      const char *why = strerror (errno);
      write_all (status[1], why, strlen (why));
      _exit (127);
    }
  int saved = errno;
  close (start[0]);
  close (status[1]);
  close (in[0]);
  close (o[1]);
  close (e[1]);
  start[0] = status[1] = in[0] = o[1] = e[1] = -1;
  if (pid < 0)
    {
      close_pair (start);
      close_pair (status);
      close_pair (in);
      close_pair (o);
      close_pair (e);
      return shim_error_errno (err, GRPC_INTERNAL, saved, "fork");
    }
  fcntl (o[0], F_SETFL, O_NONBLOCK);
  fcntl (e[0], F_SETFL, O_NONBLOCK);
  *out = (struct held_process){ pid,  false,    in[1],    o[0],
                                e[0], start[1], status[0] };
  if (c->init == 0)
    c->init = pid;
  return 0;
}

void
container_stats (const struct container *c, strbuf *out)
{
  strbuf_printf (out,
                 "{\"type\":\"stats\",\"cpu_ns\":0,\"memory_bytes\":0,"
                 "\"memory_limit\":0,\"pids\":[%d]}",
                 (int) c->init);
}

/* The host's clock is not the guest's to set.  */
int
guest_set_time (uint64_t unix_ns, shim_error **err)
{
  (void) unix_ns;
  (void) err;
  return 0;
}

/* Read as in the UVM; the host's network is not the guest's to change.  */
int
containers_network (const char *config, size_t len, shim_error **err)
{
  struct network_config net;
  return network_config_parse (config, len, &net, err);
}

/* The resources are read and planned as in the UVM; there is no cgroup to
   write them into.  */
int
container_update (struct container *c, const char *resources, size_t len,
                  shim_error **err)
{
  struct oci_spec *update = NULL;
  if (oci_resources_parse (resources, len, &update, err) < 0)
    return -1;
  struct cgroup_plan plan;
  strbuf bad = STRBUF_INIT;
  int r = cgroup_plan_build (&update->resources, &plan, &bad);
  if (r < 0)
    shim_error_set (err, GRPC_INVALID_ARGUMENT, "update container %s: %s",
                    c->id, bad.data);
  strbuf_release (&bad);
  oci_spec_free (update);
  return r;
}

void
container_signal_all (const struct container *c, int sig)
{
  if (c->init > 0)
    kill (c->init, sig);
}

void
container_destroy (struct container *c)
{
  if (c == NULL)
    return;
  if (c->init > 0 && kill (c->init, SIGKILL) == 0)
    waitpid (c->init, NULL, 0);
  oci_spec_free (c->spec);
  free (c->id);
  free (c);
}

int
container_disk_remove (uint32_t target, shim_error **err)
{
  /* No disks on the host: only the request's decoding and answer are
     exercised here.  */
  (void) target, (void) err;
  return 0;
}

int
container_volume_update (struct container *c, const struct bridge_request *req,
                         shim_error **err)
{
  /* No volumes on the host: the request is decoded and answered only.  */
  (void) c, (void) req, (void) err;
  return 0;
}

void
container_termination_message (const struct container *c, strbuf *out)
{
  (void) c, (void) out;
}
