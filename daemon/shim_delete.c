/* The "delete" action: containerd runs it after every teardown and when a
   shim died.  Idempotent: kills a VMM the daemon left behind, removes the
   sandbox's runtime directory and a socket nobody serves, and prints a
   DeleteResponse.  It never touches tasks a live grouped daemon still
   serves.  */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/base/file_io.h"
#include "proto/base/xalloc.h"
#include "shim_address.h"
#include "shim_cli.h"
#include "task.pb-c.h"
#include "shim_socket.h"
#include "task_service.h"
#include "uvm/uvm.h"

int
shim_delete_main (const struct shim_flags *f, const char *self_exe)
{
  if (f->id == NULL)
    {
      fprintf (stderr, "delete: -id is required\n");
      return 1;
    }
  const char *bundle = f->bundle ? f->bundle : ".";
  char *address_file = xasprintf ("%s/address", bundle);
  char *address = NULL;
  size_t len = 0;
  bool served = false;
  if (read_file_capped (-1, address_file, 4096, &address, &len, NULL) == 0)
    {
      const char *path = shim_socket_path (address);
      served = shim_socket_is_served (path);
      const char *dir = shim_socket_dir ();
      size_t dir_len = strlen (dir);
      /* Only a socket in our directory: the address file is not trusted
         to name any other path.  */
      if (!served && strncmp (path, dir, dir_len) == 0 && path[dir_len] == '/')
        unlink (path);
    }
  free (address);
  free (address_file);

  /* A live daemon owns its sandbox; otherwise clean what it left.  */
  int pid = 0;
  if (!served)
    {
      char *state_dir
          = task_service_state_dir (STATE_ROOT_DEFAULT, f->ns, f->id);
      pid = uvm_cleanup_orphan (state_dir, self_exe);
      free (state_dir);
    }
  char *uvm_json = xasprintf ("%s/uvm.json", bundle);
  if (!served)
    unlink (uvm_json);
  free (uvm_json);

  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  ts.seconds = now.tv_sec;
  ts.nanos = (int32_t) now.tv_nsec;
  Pb__DeleteResponse resp = PB__DELETE_RESPONSE__INIT;
  resp.pid = (uint32_t) pid;
  resp.exit_status = 128 + 9;
  resp.exited_at = &ts;
  uint8_t buf[64];
  size_t n = pb__delete_response__pack (&resp, buf);
  /* containerd parses this: a short write must fail the delete.  */
  if (fwrite (buf, 1, n, stdout) != n || fflush (stdout) != 0)
    {
      fprintf (stderr, "delete %s: write the response: %s\n", f->id,
               strerror (errno));
      return 1;
    }
  return 0;
}
