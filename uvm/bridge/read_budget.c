#include "read_budget.h"

static void
on_check (uv_check_t *h)
{
  struct read_budget *b = h->data;
  b->used = 0;
  uv_check_stop (h);
  b->on_refill (b->data);
}

void
read_budget_init (uv_loop_t *loop, struct read_budget *b, size_t limit,
                  void (*on_refill) (void *data), void *data)
{
  uv_check_init (loop, &b->check);
  b->check.data = b;
  b->used = 0;
  b->limit = limit;
  b->on_refill = on_refill;
  b->data = data;
}

bool
read_budget_left (const struct read_budget *b)
{
  return b->used < b->limit;
}

bool
read_budget_spend (struct read_budget *b, size_t n)
{
  b->used += n;
  if (read_budget_left (b))
    return true;
  uv_check_start (&b->check, on_check);
  return false;
}

void
read_budget_close (struct read_budget *b, uv_close_cb close_cb)
{
  uv_check_stop (&b->check);
  b->check.data = b->data;
  uv_close ((uv_handle_t *) &b->check, close_cb);
}
