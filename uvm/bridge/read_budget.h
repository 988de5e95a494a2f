/* At most `limit` bytes read from a peer per loop iteration: past it the
   owner stops reading, and is told at the end of the iteration (a uv_check
   handle) to start again.  One busy guest connection then cannot hold the
   loop (and every other client of the shim) for longer than it takes to
   handle `limit` bytes.  */
#ifndef LCOW_UVM_READ_BUDGET_H
#define LCOW_UVM_READ_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct read_budget
{
  uv_check_t check;
  size_t used, limit;
  void (*on_refill) (void *data);
  void *data;
};

void read_budget_init (uv_loop_t *loop, struct read_budget *b, size_t limit,
                       void (*on_refill) (void *data), void *data);
/* Counts n bytes read; false once the budget is spent (on_refill is then
   called at the end of this loop iteration).  */
bool read_budget_spend (struct read_budget *b, size_t n);
bool read_budget_left (const struct read_budget *b);
/* Closes the handle; close_cb gets it with its data set to the owner's
   data.  */
void read_budget_close (struct read_budget *b, uv_close_cb close_cb);

#endif
