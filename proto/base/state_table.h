/* A state machine's transitions as a table of (from, event, to) rows, the
   form uvm_lifecycle.c, migration_state.c and migration_phase.c write
   theirs in (pure).  */
#ifndef LCOW_PROTO_BASE_STATE_TABLE_H
#define LCOW_PROTO_BASE_STATE_TABLE_H

#include <stdbool.h>
#include <stddef.h>

struct state_transition
{
  int from;
  int event;
  int to;
};

/* The state event leads to from state in the n rows, or false (*next
   untouched) when no row has them.  */
bool state_table_next (const struct state_transition *rows, size_t n,
                       int state, int event, int *next);

#endif
