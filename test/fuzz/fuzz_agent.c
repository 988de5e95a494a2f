/* The guest agent's whole request handling, fed a bridge stream: frames of
   every type, requests that create, exec, start, signal, resize, stat and
   delete processes (forked and exiting at once: the container setup is
   test/guest_host_containers.c built with GUEST_HOST_NO_EXEC), stdin and
   credit for them.  The agent runs until the stream ends; a thread drains
   what it sends.  */
#include "test/fuzz/fuzz.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uvm/guest/agent.h"
#include "uvm/guest/agent_log.h"
#include "uvm/guest/guest_io.h"

static void *
drain (void *arg)
{
  int fd = *(int *) arg;
  char buf[65536];
  while (read (fd, buf, sizeof buf) > 0)
    ;
  return NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int quiet;
  if (!quiet)
    {
      agent_log_setup (L_FATAL, true);
      quiet = 1;
    }
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return 0;
  pthread_t reader;
  pthread_create (&reader, NULL, drain, &sv[1]);
  write_all (sv[1], data, size);
  shutdown (sv[1], SHUT_WR);
  agent_serve (sv[0]);
  close (sv[0]);
  pthread_join (reader, NULL);
  close (sv[1]);
  /* Reap what has exited, not wait for all: libFuzzer's symbolizer is a
     child too, and never exits.  */
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  return 0;
}
