/* containerd-shim-lcow-v2: parses the command line and runs the action.  */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/migrate_command.h"
#include "daemon/shim_cli.h"
#include "uvm/podnet/pod_network_helper.h"
#include "uvm/storage/layer_convert.h"
#include "uvm/vmm/vmm_process.h"

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "vmm-exec") == 0)
    return vmm_exec_helper_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], LAYER_CONVERT_COMMAND) == 0)
    return layer_convert_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], POD_NETWORK_COMMAND) == 0)
    return pod_network_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], MIGRATE_COMMAND) == 0)
    return migrate_command_main (argc - 1, argv + 1);

  struct shim_flags flags;
  if (shim_flags_parse (argc, argv, &flags) < 0)
    return 2;
  if (flags.version)
    {
      printf ("%s %s\n", SHIM_NAME, SHIM_VERSION);
      return 0;
    }
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    {
      perror ("readlink /proc/self/exe");
      return 1;
    }
  self[n] = '\0';
  if (flags.bundle != NULL && chdir (flags.bundle) < 0 && flags.action == NULL)
    {
      perror ("chdir bundle");
      return 1;
    }
  if (flags.action == NULL)
    return shim_daemon_main (&flags, self);
  if (strcmp (flags.action, "start") == 0)
    return shim_start_main (&flags, self);
  if (strcmp (flags.action, "delete") == 0)
    return shim_delete_main (&flags, self);
  fprintf (stderr, "unknown action \"%s\" (want start or delete)\n",
           flags.action);
  return 2;
}
