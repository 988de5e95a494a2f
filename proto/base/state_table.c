/* See state_table.h.  */
#include "state_table.h"

bool
state_table_next (const struct state_transition *rows, size_t n, int state,
                  int event, int *next)
{
  for (size_t i = 0; i < n; i++)
    if (rows[i].from == state && rows[i].event == event)
      {
        *next = rows[i].to;
        return true;
      }
  return false;
}
