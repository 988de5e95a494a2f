/* See migration_containers.h.  */
#include "migration_containers.h"
#include "service_record.h"

#include <stdlib.h>
#include <string.h>

#include "policy/problems.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"
#include "task.h"
#include "uvm/storage/disk_hotplug.h"

static void
container_release (struct migrating_container *c)
{
  free (c->id);
  free (c->guest_id);
  free (c->layers);
  free (c->adopted_by);
}

void
migrating_set_release (struct migrating_set *set)
{
  for (size_t i = 0; i < set->n; i++)
    container_release (&set->items[i]);
  free (set->items);
  *set = (struct migrating_set){ 0 };
}

/* Why container t cannot move, or NULL.  */
static const char *
cannot_move (const struct task *t)
{
  if (t->creating || t->rootfs == NULL)
    return "is being created";
  if (t->exited)
    return "has exited and is not deleted";
  return NULL;
}

int
migrating_set_collect (struct task_service *ts, struct migrating_set *out,
                       shim_error **err)
{
  struct policy_problems problems = { STRBUF_INIT, 0 };
  *out = (struct migrating_set){
    .next_process_key = service_guest (ts)->next_process_key + 1,
  };
  out->items = xzalloc ((service_tasks (ts)->count + 1) * sizeof *out->items);
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    /* Execs are awaited (migration_running_execs), and stay.  */
    if (t == sandbox_task (ts) || t->kind == TASK_EXEC)
      continue;
    const char *why = cannot_move (t);
    if (why != NULL)
      {
        policy_problem_add (&problems, "container %s %s", t->id, why);
        continue;
      }
    struct migrating_container *c = &out->items[out->n++];
    c->id = xstrdup (t->id);
    c->guest_id = xstrdup (task_guest_id (t));
    c->key = t->key;
    c->pid = t->pid;
    c->terminal = t->terminal;
    memcpy (c->process_digest, t->process_digest, sizeof c->process_digest);
    c->nlayers = container_rootfs_layer_count (t->rootfs);
    c->layers = xzalloc ((c->nlayers + 1) * sizeof *c->layers);
    for (size_t i = 0; i < c->nlayers; i++)
      {
        const char *digest;
        container_rootfs_layer (t->rootfs, i, &c->layers[i].target, &digest);
        snprintf (c->layers[i].digest, sizeof c->layers[i].digest, "%s",
                  digest);
      }
  }
  if (policy_problems_to_error (&problems, "the pod cannot move", err) == 0)
    return 0;
  (*err)->code = GRPC_FAILED_PRECONDITION;
  migrating_set_release (out);
  return -1;
}

size_t
migration_running_execs (struct task_service *ts, shim_error **err)
{
  struct policy_problems problems = { STRBUF_INIT, 0 };
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    const struct task *t = list_entry (pos, struct task, link);
    if (t->kind == TASK_EXEC && !t->exited)
      policy_problem_add (&problems, "exec %s in container %s is running",
                          t->exec_id, t->id);
  }
  size_t n = problems.count;
  if (policy_problems_to_error (&problems,
                                "exec'd processes do not move (only "
                                "containers' init processes do)",
                                err)
      < 0)
    (*err)->code = GRPC_FAILED_PRECONDITION;
  return n;
}

void
migrating_set_to_pb (const struct migrating_set *set, Pb__ExportResponse *resp)
{
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  resp->containers = xzalloc ((set->n + 1) * sizeof *resp->containers);
  resp->n_containers = set->n;
  resp->next_process_key = set->next_process_key;
  for (size_t i = 0; i < set->n; i++)
    {
      const struct migrating_container *c = &set->items[i];
      Pb__Container *pc = xzalloc (sizeof *pc);
      pb__container__init (pc);
      pc->id = c->id;
      pc->guest_id = c->guest_id;
      pc->process_key = c->key;
      pc->pid = c->pid;
      pc->terminal = c->terminal;
      pc->process_digest = (char *) c->process_digest;
      pc->n_layers = c->nlayers;
      /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
      pc->layers = xzalloc ((c->nlayers + 1) * sizeof *pc->layers);
      for (size_t j = 0; j < c->nlayers; j++)
        {
          Pb__Disk *d = xzalloc (sizeof *d);
          pb__disk__init (d);
          d->scsi_target = c->layers[j].target;
          d->sha256 = (char *) c->layers[j].digest;
          pc->layers[j] = d;
        }
      resp->containers[i] = pc;
    }
}

void
migrating_set_pb_free (Pb__ExportResponse *resp)
{
  for (size_t i = 0; i < resp->n_containers; i++)
    {
      for (size_t j = 0; j < resp->containers[i]->n_layers; j++)
        free (resp->containers[i]->layers[j]);
      free (resp->containers[i]->layers);
      free (resp->containers[i]);
    }
  free (resp->containers);
  resp->containers = NULL;
  resp->n_containers = 0;
}

static bool
is_hex (const char *s, size_t n)
{
  if (strlen (s) != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

static bool
valid_id (const char *id)
{
  return id != NULL && id[0] != '\0' && strlen (id) <= MIGRATION_ID_MAX;
}

/* Checks one container (i: its place) against the ones before it.  */
static void
check_container (const Pb__Container *c, size_t i, Pb__Container *const *in,
                 uint32_t next_key, struct policy_problems *p)
{
  if (!valid_id (c->id) || !valid_id (c->guest_id))
    {
      policy_problem_add (p,
                          "container %zu: its id and guest id must be 1 "
                          "to %d bytes",
                          i, MIGRATION_ID_MAX);
      return;
    }
  for (size_t j = 0; j < i; j++)
    {
      if (strcmp (in[j]->id, c->id) == 0)
        policy_problem_add (p, "container %s: listed twice", c->id);
      if (in[j]->process_key == c->process_key)
        policy_problem_add (p, "container %s: process key %u taken by %s",
                            c->id, c->process_key, in[j]->id);
    }
  if (c->process_key == 0 || c->process_key >= next_key)
    policy_problem_add (p,
                        "container %s: process key %u is not below the next "
                        "key %u",
                        c->id, c->process_key, next_key);
  if (!is_hex (c->process_digest, 64))
    policy_problem_add (p,
                        "container %s: the process digest is not 64 hex "
                        "digits",
                        c->id);
  if (c->n_layers == 0 || c->n_layers > MIGRATION_LAYERS_MAX)
    policy_problem_add (p, "container %s: %zu layers (1 to %d)", c->id,
                        c->n_layers, MIGRATION_LAYERS_MAX);
  for (size_t j = 0; j < c->n_layers && j < MIGRATION_LAYERS_MAX; j++)
    {
      const Pb__Disk *d = c->layers[j];
      if (d->scsi_target < 1 || d->scsi_target > DISK_HOTPLUG_TARGET_MAX)
        policy_problem_add (p,
                            "container %s: layer %zu at SCSI target %u "
                            "(1 to %d)",
                            c->id, j, d->scsi_target, DISK_HOTPLUG_TARGET_MAX);
      if (strncmp (d->sha256, "sha256:", 7) != 0
          || !is_hex (d->sha256 + 7, 64))
        policy_problem_add (p,
                            "container %s: layer %zu: digest is not "
                            "sha256:<64 hex digits>",
                            c->id, j);
    }
}

int
migrating_set_from_pb (Pb__Container *const *in, size_t n,
                       uint32_t next_process_key, struct migrating_set *out,
                       shim_error **err)
{
  *out = (struct migrating_set){ .next_process_key = next_process_key };
  if (n > MIGRATION_CONTAINERS_MAX)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "source: %zu containers (at most %d)", n,
                           MIGRATION_CONTAINERS_MAX);
  struct policy_problems problems = { STRBUF_INIT, 0 };
  for (size_t i = 0; i < n; i++)
    check_container (in[i], i, in, next_process_key, &problems);
  if (policy_problems_to_error (&problems, "source", err) < 0)
    return -1;
  out->items = xzalloc ((n + 1) * sizeof *out->items);
  for (size_t i = 0; i < n; i++)
    {
      const Pb__Container *c = in[i];
      struct migrating_container *m = &out->items[out->n++];
      m->id = xstrdup (c->id);
      m->guest_id = xstrdup (c->guest_id);
      m->key = c->process_key;
      m->pid = c->pid;
      m->terminal = c->terminal;
      memcpy (m->process_digest, c->process_digest, sizeof m->process_digest);
      m->nlayers = c->n_layers;
      m->layers = xzalloc ((c->n_layers + 1) * sizeof *m->layers);
      for (size_t j = 0; j < c->n_layers; j++)
        {
          m->layers[j].target = c->layers[j]->scsi_target;
          memcpy (m->layers[j].digest, c->layers[j]->sha256,
                  sizeof m->layers[j].digest);
        }
    }
  return 0;
}

struct migrating_container *
migrating_set_claim (struct migrating_set *set, const char *source_id,
                     const char *task_id, const char *process_digest,
                     shim_error **err)
{
  for (size_t i = 0; i < set->n; i++)
    {
      struct migrating_container *c = &set->items[i];
      if (strcmp (c->id, source_id) != 0)
        continue;
      if (c->adopted_by != NULL)
        {
          shim_error_set (err, GRPC_FAILED_PRECONDITION,
                          "source container %s is adopted by %s already",
                          source_id, c->adopted_by);
          return NULL;
        }
      if (strcmp (c->process_digest, process_digest) != 0)
        {
          shim_error_set (err, GRPC_FAILED_PRECONDITION,
                          "the process differs from source container %s's "
                          "(args, env, cwd, user or terminal: digest %.12s, "
                          "the source's %.12s)",
                          source_id, process_digest, c->process_digest);
          return NULL;
        }
      c->adopted_by = xstrdup (task_id);
      return c;
    }
  shim_error_set (err, GRPC_FAILED_PRECONDITION,
                  "no source container %s was imported", source_id);
  return NULL;
}

void
migrating_set_unclaim (struct migrating_set *set, const char *task_id)
{
  for (size_t i = 0; i < set->n; i++)
    if (set->items[i].adopted_by != NULL
        && strcmp (set->items[i].adopted_by, task_id) == 0)
      {
        /* A task claims one container; task_id may be this very string.  */
        free (set->items[i].adopted_by);
        set->items[i].adopted_by = NULL;
        return;
      }
}

int
migrating_set_all_adopted (const struct migrating_set *set, shim_error **err)
{
  struct policy_problems problems = { STRBUF_INIT, 0 };
  for (size_t i = 0; i < set->n; i++)
    if (set->items[i].adopted_by == NULL)
      policy_problem_add (&problems, "source container %s is not adopted",
                          set->items[i].id);
  if (policy_problems_to_error (&problems, "not every container is adopted",
                                err)
      == 0)
    return 0;
  (*err)->code = GRPC_FAILED_PRECONDITION;
  return -1;
}

/* Each string length-prefixed, so that no two lists serialize alike.  */
static void
digest_strings (strbuf *b, const char *what, char *const *v, size_t n)
{
  strbuf_printf (b, "%s %zu\n", what, n);
  for (size_t i = 0; i < n; i++)
    {
      strbuf_printf (b, "%zu:", strlen (v[i]));
      strbuf_puts (b, v[i]);
    }
}

void
migration_process_digest (const struct oci_process *p, char hex[65])
{
  strbuf b = STRBUF_INIT;
  digest_strings (&b, "args", p->args, p->nargs);
  digest_strings (&b, "env", p->env, p->nenv);
  const char *cwd = p->cwd ? p->cwd : "";
  strbuf_printf (&b, "cwd %zu:%s\nuser %u:%u\nterminal %d\n", strlen (cwd),
                 cwd, p->uid, p->gid, p->terminal ? 1 : 0);
  sha256_hex (b.data, b.len, hex);
  strbuf_release (&b);
}
