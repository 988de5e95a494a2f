/* Intrusive circular doubly-linked list.  */
#ifndef LCOW_LIST_H
#define LCOW_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list
{
  struct list *prev, *next;
};

static inline void
list_init (struct list *l)
{
  l->prev = l->next = l;
}

static inline bool
list_empty (const struct list *l)
{
  return l->next == l;
}

static inline void
list_add_tail (struct list *l, struct list *item)
{
  item->prev = l->prev;
  item->next = l;
  l->prev->next = item;
  l->prev = item;
}

static inline void
list_remove (struct list *item)
{
  item->prev->next = item->next;
  item->next->prev = item->prev;
  list_init (item);
}

#define list_entry(ptr, type, member)                                         \
  ((type *) ((char *) (ptr) -offsetof (type, member)))

#define list_for_each_safe(pos, tmp, head)                                    \
  for (pos = (head)->next, tmp = pos->next; pos != (head);                    \
       pos = tmp, tmp = pos->next)

#endif
