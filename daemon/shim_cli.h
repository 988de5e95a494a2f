/* The shim's command line, parsed the way Go's flag package does it
   (-flag value, -flag=value, --flag; parsing stops at the first non-flag
   word, the action), and the actions it dispatches to.  */
#ifndef LCOW_SHIM_CLI_H
#define LCOW_SHIM_CLI_H

#include <stdbool.h>

/* What -v prints and Connect answers.  */
#define SHIM_NAME "containerd-shim-lcow-v2"
#define SHIM_VERSION "0.1.0"

#define STATE_ROOT_DEFAULT "/run/containerd-shim-lcow-v2"

struct shim_flags
{
  const char *ns;
  const char *id;
  const char *address;        /* containerd's gRPC socket */
  const char *publish_binary; /* accepted, unused: events go over ttrpc */
  const char *bundle;
  const char *socket; /* serve on this path instead of fd 3 */
  bool debug;
  bool version;
  const char *action; /* NULL: run the daemon */
  int action_index;   /* argv index of the action word */
};

/* Returns 0, or -1 with a message on stderr for a malformed command line.
   Unknown flags are ignored, as containerd may pass newer ones.  */
int shim_flags_parse (int argc, char **argv, struct shim_flags *out);

/* Each returns the process exit status.  */
int shim_start_main (const struct shim_flags *f, const char *self_exe);
int shim_delete_main (const struct shim_flags *f, const char *self_exe);
int shim_daemon_main (const struct shim_flags *f, const char *self_exe);

#endif
