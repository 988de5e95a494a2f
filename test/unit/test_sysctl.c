/* linux.sysctl: what a container's namespaces scope is taken, anything
   that would change the whole UVM is refused by name; oomScoreAdj is read
   in range only.  */
#include <check.h>
#include <string.h>

#include "proto/oci_spec.h"
#include "suites.h"
#include "policy/sysctl_policy.h"

static struct oci_spec *
spec (const char *json)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_msg (oci_spec_parse (json, strlen (json), &s, &err) == 0, "%s",
                 err ? err->msg : "");
  return s;
}

START_TEST (namespaced_taken)
{
  struct oci_spec *s
      = spec ("{\"linux\":{\"sysctl\":{\"kernel.shmmax\":\"1024\",\"fs.mqueue."
              "msg_max\":\"20\",\"net.ipv4.ip_unprivileged_port_start\":\"0\","
              "\"kernel.domainname\":\"pod\"}}}");
  strbuf bad = STRBUF_INIT;
  ck_assert_uint_eq (s->nsysctls, 4);
  ck_assert_str_eq (s->sysctls[2].key, "net.ipv4.ip_unprivileged_port_start");
  ck_assert_int_eq (sysctl_policy_check (s->sysctls, s->nsysctls, &bad), 0);
  strbuf_release (&bad);
  oci_spec_free (s);
}
END_TEST

START_TEST (host_wide_refused)
{
  struct oci_spec *s
      = spec ("{\"linux\":{\"sysctl\":{\"vm.overcommit_memory\":\"1\","
              "\"kernel.hostname\":\"x\",\"net/../../kernel/x\":\"1\","
              "\"net.a=kernel.b\":\"1\","
              "\"kernel.sem\":\"1 2 3 4\"}}}");
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (sysctl_policy_check (s->sysctls, s->nsysctls, &bad), -1);
  ck_assert_str_eq (bad.data,
                    "vm.overcommit_memory (not scoped by the pod's or the "
                    "container's namespaces: it would change the whole "
                    "UVM), "
                    "kernel.hostname (set the spec's hostname instead), "
                    "net/../../kernel/x (not a sysctl name), "
                    "net.a=kernel.b (not a sysctl name)");
  strbuf_release (&bad);
  oci_spec_free (s);
}
END_TEST

START_TEST (oom_score_adj)
{
  struct oci_spec *s
      = spec ("{\"process\":{\"args\":[\"sh\"],\"oomScoreAdj\":-999}}");
  ck_assert (s->process->has_oom_score_adj);
  ck_assert_int_eq (s->process->oom_score_adj, -999);
  oci_spec_free (s);
  s = spec ("{\"process\":{\"args\":[\"sh\"]}}");
  ck_assert (!s->process->has_oom_score_adj);
  oci_spec_free (s);
  const char *bad = "{\"process\":{\"args\":[\"sh\"],\"oomScoreAdj\":1001}}";
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (bad, strlen (bad), &s, &err), -1);
  ck_assert_msg (strstr (err->msg, "process.oomScoreAdj: expected an integer "
                                   "from -1000 to 1000")
                     != NULL,
                 "%s", err->msg);
  shim_error_free (err);
}
END_TEST

Suite *
sysctl_suite (void)
{
  Suite *s = suite_create ("sysctl");
  TCase *t = tcase_create ("spec");
  tcase_add_test (t, namespaced_taken);
  tcase_add_test (t, host_wide_refused);
  tcase_add_test (t, oom_score_adj);
  suite_add_tcase (s, t);
  return s;
}
