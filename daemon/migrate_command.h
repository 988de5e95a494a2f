/* The shim binary's `migrate` command: drives one live migration between
   two shims over their sockets (lcow.migration.v1.Migration; see
   migration_service.h), printing each step, the progress and the result.
   The orchestrator for tests, the demo and operators.  */
#ifndef LCOW_MIGRATE_COMMAND_H
#define LCOW_MIGRATE_COMMAND_H

#define MIGRATE_COMMAND "migrate"

/* argv[0] is "migrate".  Returns the exit status: 0 migrated, 1 failed
   (before the switchover the source keeps running), 2 usage.  */
int migrate_command_main (int argc, char **argv);

#endif
