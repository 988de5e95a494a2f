/* See seccomp_profile.h.  */
#include "seccomp_profile.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/xalloc.h"

#define ACTION_INVALID 0xffffffffu

/* The libseccomp action for an OCI action name; ACTION_INVALID if none.  */
static uint32_t
action_of (const char *name, bool has_ret, uint32_t ret)
{
  uint16_t code = has_ret ? (uint16_t) ret : EPERM;
  if (name == NULL)
    return ACTION_INVALID;
  if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    return SCMP_ACT_ALLOW;
  if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    return SCMP_ACT_ERRNO (code);
  if (strcmp (name, "SCMP_ACT_KILL") == 0
      || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    return SCMP_ACT_KILL_THREAD;
  if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    return SCMP_ACT_KILL_PROCESS;
  if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    return SCMP_ACT_TRAP;
  if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    return SCMP_ACT_TRACE (code);
  if (strcmp (name, "SCMP_ACT_LOG") == 0)
    return SCMP_ACT_LOG;
  return ACTION_INVALID;
}

static int
op_of (const char *name)
{
  static const struct
  {
    const char *name;
    enum scmp_compare op;
  } ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE },
    { "SCMP_CMP_LT", SCMP_CMP_LT },
    { "SCMP_CMP_LE", SCMP_CMP_LE },
    { "SCMP_CMP_EQ", SCMP_CMP_EQ },
    { "SCMP_CMP_GE", SCMP_CMP_GE },
    { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
  };
  for (size_t i = 0; name && i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp (name, ops[i].name) == 0)
      return (int) ops[i].op;
  return -1;
}

/* "SCMP_ARCH_X86_64" is libseccomp's "x86_64"; 0 if unknown.  */
static uint32_t
arch_of (const char *name)
{
  static const char prefix[] = "SCMP_ARCH_";
  if (name == NULL || strncmp (name, prefix, sizeof prefix - 1) != 0)
    return 0;
  char lower[32];
  size_t n = 0;
  for (const char *p = name + sizeof prefix - 1; *p && n < sizeof lower - 1;
       p++)
    lower[n++] = (char) tolower ((unsigned char) *p);
  lower[n] = '\0';
  return seccomp_arch_resolve_name (lower);
}

static int
flag_of (const char *name)
{
  if (name == NULL)
    return -1;
  if (strcmp (name, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
    return SCMP_FLTATR_CTL_TSYNC;
  if (strcmp (name, "SECCOMP_FILTER_FLAG_LOG") == 0)
    return SCMP_FLTATR_CTL_LOG;
  if (strcmp (name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
    return SCMP_FLTATR_CTL_SSB;
  return -1;
}

/* Adds one rule's conditions for each resolved syscall.  */
static int
add_rule (scmp_filter_ctx ctx, const struct oci_seccomp_rule *rule,
          uint32_t action)
{
  struct scmp_arg_cmp *conds = xzalloc ((rule->nargs + 1) * sizeof *conds);
  bool repeated = false;
  for (size_t k = 0; k < rule->nargs; k++)
    {
      const struct oci_seccomp_arg *a = &rule->args[k];
      conds[k]
          = (struct scmp_arg_cmp){ .arg = a->index,
                                   .op = (enum scmp_compare) op_of (a->op),
                                   .datum_a = a->value,
                                   .datum_b = a->value_two };
      for (size_t j = 0; j < k; j++)
        repeated |= rule->args[j].index == a->index;
    }
  int r = 0;
  for (size_t i = 0; r == 0 && i < rule->nnames; i++)
    {
      int nr = seccomp_syscall_resolve_name (rule->names[i]);
      if (nr == __NR_SCMP_ERROR)
        continue;
      if (!repeated)
        r = seccomp_rule_add_array (ctx, action, nr, (unsigned) rule->nargs,
                                    conds);
      else
        for (size_t k = 0; r == 0 && k < rule->nargs; k++)
          r = seccomp_rule_add_array (ctx, action, nr, 1, &conds[k]);
    }
  free (conds);
  return r;
}

/* The filter, or NULL with what is refused in *bad (or errno).  */
static scmp_filter_ctx
build (const struct oci_seccomp *s, strbuf *bad)
{
  uint32_t def = action_of (s->default_action, s->has_default_errno_ret,
                            s->default_errno_ret);
  if (def == ACTION_INVALID)
    strbuf_list_printf (bad, "defaultAction %s is unknown",
                        s->default_action ? s->default_action : "(none)");
  for (size_t i = 0; i < s->narchitectures; i++)
    if (arch_of (s->architectures[i]) == 0)
      strbuf_list_printf (bad,
                          "architecture %s is unknown (architectures[%zu])",
                          s->architectures[i], i);
  for (size_t i = 0; i < s->nflags; i++)
    if (flag_of (s->flags[i]) < 0)
      strbuf_list_printf (bad, "flag %s is unknown (flags[%zu])", s->flags[i],
                          i);
  for (size_t i = 0; i < s->nsyscalls; i++)
    {
      const struct oci_seccomp_rule *rule = &s->syscalls[i];
      if (rule->action && strcmp (rule->action, "SCMP_ACT_NOTIFY") == 0)
        strbuf_list_printf (
            bad, "action %s has no listener in the guest (syscalls[%zu])",
            rule->action, i);
      else if (action_of (rule->action, false, 0) == ACTION_INVALID)
        strbuf_list_printf (bad, "action %s is unknown (syscalls[%zu])",
                            rule->action ? rule->action : "(none)", i);
      for (size_t k = 0; k < rule->nargs; k++)
        if (op_of (rule->args[k].op) < 0)
          strbuf_list_printf (bad, "operator %s is unknown (syscalls[%zu])",
                              rule->args[k].op ? rule->args[k].op : "(none)",
                              i);
    }
  if (bad->len)
    return NULL;
  scmp_filter_ctx ctx = seccomp_init (def);
  if (ctx == NULL)
    {
      errno = ENOMEM;
      return NULL;
    }
  int r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  for (size_t i = 0; r == 0 && i < s->narchitectures; i++)
    {
      r = seccomp_arch_add (ctx, arch_of (s->architectures[i]));
      if (r == -EEXIST)
        r = 0;
    }
  for (size_t i = 0; r == 0 && i < s->nflags; i++)
    r = seccomp_attr_set (ctx, (enum scmp_filter_attr) flag_of (s->flags[i]),
                          1);
  for (size_t i = 0; r == 0 && i < s->nsyscalls; i++)
    {
      const struct oci_seccomp_rule *rule = &s->syscalls[i];
      uint32_t action
          = action_of (rule->action, rule->has_errno_ret, rule->errno_ret);
      if (action != def)
        r = add_rule (ctx, rule, action);
    }
  if (r < 0)
    {
      seccomp_release (ctx);
      errno = -r;
      return NULL;
    }
  return ctx;
}

int
seccomp_profile_check (const struct oci_seccomp *s, strbuf *bad)
{
  scmp_filter_ctx ctx = build (s, bad);
  if (ctx == NULL && bad->len == 0)
    strbuf_printf (bad, "libseccomp: %s", strerror (errno));
  if (ctx == NULL)
    return -1;
  seccomp_release (ctx);
  return 0;
}

int
seccomp_profile_load (const struct oci_seccomp *s)
{
  strbuf bad = STRBUF_INIT;
  scmp_filter_ctx ctx = build (s, &bad);
  strbuf_release (&bad);
  if (ctx == NULL)
    return -1;
  int r = seccomp_load (ctx);
  seccomp_release (ctx);
  if (r < 0)
    {
      errno = -r;
      return -1;
    }
  return 0;
}
