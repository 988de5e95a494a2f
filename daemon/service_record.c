/* See service_record.h.  */
#include "service_record.h"

#include <stdlib.h>

#include "proto/base/xalloc.h"

struct task_service
{
  struct task_service_config config;
  struct task_table tasks;
  struct guest_table guest;
  struct migration_part migration;
  struct sandbox *sandbox;
  bool closing;
};

struct task_service *
service_record_new (const struct task_service_config *c)
{
  struct task_service *ts = xzalloc (sizeof *ts);
  ts->config = *c;
  list_init (&ts->tasks.list);
  list_init (&ts->guest.ops);
  return ts;
}

void
service_record_free (struct task_service *ts)
{
  free (ts);
}

const struct task_service_config *
service_config (const struct task_service *ts)
{
  return &ts->config;
}

/* The parts belong to their owners, which change them through a service
   their callers may only read.  */
struct task_table *
service_tasks (const struct task_service *ts)
{
  return (struct task_table *) &ts->tasks;
}

struct guest_table *
service_guest (const struct task_service *ts)
{
  return (struct guest_table *) &ts->guest;
}

struct migration_part *
service_migration (const struct task_service *ts)
{
  return (struct migration_part *) &ts->migration;
}

struct sandbox *
service_sandbox (const struct task_service *ts)
{
  return ts->sandbox;
}

void
service_set_sandbox (struct task_service *ts, struct sandbox *sb)
{
  ts->sandbox = sb;
}

bool
service_closing (const struct task_service *ts)
{
  return ts->closing;
}

void
service_set_closing (struct task_service *ts)
{
  ts->closing = true;
}
