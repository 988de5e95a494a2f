/* process.capabilities as bit masks: containerd's default set is runc's
   CapEff 00000000a80425fb; every name the guest cannot apply is refused
   by name; without the member nothing is changed.  */
#include <check.h>
#include <string.h>

#include "proto/oci_spec.h"
#include "suites.h"
#include "uvm/guest/capabilities.h"

#define DEFAULT_CAPS                                                          \
  "[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWNER\","        \
  "\"CAP_MKNOD\",\"CAP_NET_RAW\",\"CAP_SETGID\",\"CAP_SETUID\","              \
  "\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\","                 \
  "\"CAP_SYS_CHROOT\",\"CAP_KILL\",\"CAP_AUDIT_WRITE\"]"

static struct oci_process *
process (const char *json)
{
  struct oci_process *p = NULL;
  shim_error *err = NULL;
  ck_assert_msg (oci_process_parse (json, strlen (json), &p, &err) == 0, "%s",
                 err ? err->msg : "");
  return p;
}

START_TEST (containerd_default)
{
  struct oci_process *p = process (
      "{\"args\":[\"sh\"],\"noNewPrivileges\":true,\"capabilities\":{"
      "\"bounding\":" DEFAULT_CAPS ",\"effective\":" DEFAULT_CAPS
      ",\"permitted\":" DEFAULT_CAPS "}}");
  struct capability_plan plan;
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (capability_plan_build (p, 40, &plan, &bad), 0);
  ck_assert (plan.set);
  ck_assert (p->no_new_privileges);
  ck_assert_uint_eq (plan.sets[OCI_CAP_BOUNDING], 0xa80425fbu);
  ck_assert_uint_eq (plan.sets[OCI_CAP_EFFECTIVE], 0xa80425fbu);
  ck_assert_uint_eq (plan.sets[OCI_CAP_PERMITTED], 0xa80425fbu);
  ck_assert_uint_eq (plan.sets[OCI_CAP_INHERITABLE], 0);
  ck_assert_uint_eq (plan.sets[OCI_CAP_AMBIENT], 0);
  strbuf_release (&bad);
  oci_process_free (p);
}
END_TEST

START_TEST (refused_by_name)
{
  struct oci_process *p = process (
      "{\"args\":[\"sh\"],\"capabilities\":{\"effective\":[\"CAP_FOO\","
      "\"CAP_CHOWN\"],\"ambient\":[\"CAP_CHECKPOINT_RESTORE\"]}}");
  struct capability_plan plan;
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (capability_plan_build (p, 39, &plan, &bad), -1);
  ck_assert_str_eq (bad.data, "effective: CAP_FOO (unknown), ambient: "
                              "CAP_CHECKPOINT_RESTORE (not in the guest "
                              "kernel)");
  strbuf_release (&bad);
  oci_process_free (p);
}
END_TEST

START_TEST (absent_changes_nothing)
{
  struct oci_process *p = process ("{\"args\":[\"sh\"]}");
  struct capability_plan plan;
  strbuf bad = STRBUF_INIT;
  ck_assert_int_eq (capability_plan_build (p, 40, &plan, &bad), 0);
  ck_assert (!plan.set);
  ck_assert (!p->no_new_privileges);
  /* An empty object is a spec that asks for no capability at all.  */
  struct oci_process *q = process ("{\"args\":[\"sh\"],\"capabilities\":{}}");
  ck_assert_int_eq (capability_plan_build (q, 40, &plan, &bad), 0);
  ck_assert (plan.set);
  ck_assert_uint_eq (plan.sets[OCI_CAP_BOUNDING], 0);
  strbuf_release (&bad);
  oci_process_free (p);
  oci_process_free (q);
}
END_TEST

Suite *
capabilities_suite (void)
{
  Suite *s = suite_create ("capabilities");
  TCase *t = tcase_create ("plan");
  tcase_add_test (t, containerd_default);
  tcase_add_test (t, refused_by_name);
  tcase_add_test (t, absent_changes_nothing);
  suite_add_tcase (s, t);
  return s;
}
