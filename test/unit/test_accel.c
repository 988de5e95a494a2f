/* The accelerator decision (every mode against every host state) and the
   host verdict's record.  */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"
#include "uvm/vmm/accel.h"

static const struct host_verdict unknown = { KVM_UNKNOWN, NULL };
static const struct host_verdict works
    = { KVM_WORKS, (char *) "a guest booted" };
static const struct host_verdict broken
    = { KVM_BROKEN, (char *) "kvm attempt failed: QEMU stopped the VM: "
                             "internal-error" };

static const struct
{
  enum accel_mode mode;
  int kvm_errno;
  const struct host_verdict *verdict;
  /* kvm, on_trial, may_fall_back; or an error */
  bool kvm, on_trial, may_fall_back;
  const char *reason;
  const char *error;
} cases[] = {
  { ACCEL_TCG, 0, &works, false, false, false,
    "accel \"tcg\" in the shim configuration", NULL },
  { ACCEL_TCG, ENOENT, &unknown, false, false, false,
    "accel \"tcg\" in the shim configuration", NULL },
  { ACCEL_KVM, 0, &unknown, true, true, false,
    "accel \"kvm\" in the shim configuration", NULL },
  /* Asked for, KVM is tried even where it failed before: the error is
     then QEMU's own, fresh.  */
  { ACCEL_KVM, 0, &broken, true, true, false,
    "accel \"kvm\" in the shim configuration", NULL },
  { ACCEL_KVM, 0, &works, true, false, false,
    "accel \"kvm\" in the shim configuration", NULL },
  { ACCEL_KVM, EACCES, &works, false, false, false, NULL,
    "accel \"kvm\" in the shim configuration, but /dev/kvm cannot be opened: "
    "Permission denied" },
  { ACCEL_AUTO, ENOENT, &unknown, false, false, false,
    "/dev/kvm: No such file or directory", NULL },
  { ACCEL_AUTO, 0, &unknown, true, true, true,
    "/dev/kvm opens; no guest has run under KVM on this host yet (this boot "
    "is the test)",
    NULL },
  { ACCEL_AUTO, 0, &works, true, false, true, "host verdict: a guest booted",
    NULL },
  { ACCEL_AUTO, 0, &broken, false, false, false,
    "host verdict: kvm attempt failed: QEMU stopped the VM: internal-error",
    NULL },
};

START_TEST (choose)
{
  struct accel_choice c;
  shim_error *err = NULL;
  int r = accel_choose (cases[_i].mode, cases[_i].kvm_errno, cases[_i].verdict,
                        &c, &err);
  if (cases[_i].error != NULL)
    {
      ck_assert_int_eq (r, -1);
      ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
      ck_assert_str_eq (err->msg, cases[_i].error);
      shim_error_free (err);
      accel_choice_release (&c);
      return;
    }
  ck_assert_int_eq (r, 0);
  ck_assert_int_eq (c.kvm, cases[_i].kvm);
  ck_assert_int_eq (c.on_trial, cases[_i].on_trial);
  ck_assert_int_eq (c.may_fall_back, cases[_i].may_fall_back);
  ck_assert_str_eq (c.reason, cases[_i].reason);
  accel_choice_release (&c);
}
END_TEST

START_TEST (mode_names)
{
  enum accel_mode m;
  for (enum accel_mode i = ACCEL_AUTO; i <= ACCEL_TCG; i++)
    {
      ck_assert_int_eq (accel_mode_parse (accel_mode_name (i), &m), 0);
      ck_assert_int_eq (m, i);
    }
  ck_assert_int_eq (accel_mode_parse ("KVM", &m), -1);
  ck_assert_int_eq (accel_mode_parse ("", &m), -1);
}
END_TEST

START_TEST (verdict_round_trip)
{
  const char *id = "boot=b1 kernel=6.1 kvm:12 vmm=1:2:3";
  char *text = host_verdict_format (id, KVM_BROKEN, "QEMU said \"no\"\n");
  struct host_verdict v;
  ck_assert_int_eq (host_verdict_parse (text, strlen (text), id, &v), 0);
  ck_assert_int_eq (v.kvm, KVM_BROKEN);
  ck_assert_str_eq (v.reason, "QEMU said \"no\"\n");
  host_verdict_release (&v);
  /* Another boot, module load or QEMU binary: no verdict.  */
  ck_assert_int_eq (host_verdict_parse (text, strlen (text),
                                        "boot=b2 kernel=6.1 kvm:12 vmm=1:2:3",
                                        &v),
                    0);
  ck_assert_int_eq (v.kvm, KVM_UNKNOWN);
  ck_assert_ptr_null (v.reason);
  free (text);
  text = host_verdict_format (id, KVM_WORKS, "a guest booted");
  ck_assert_int_eq (host_verdict_parse (text, strlen (text), id, &v), 0);
  ck_assert_int_eq (v.kvm, KVM_WORKS);
  host_verdict_release (&v);
  free (text);
}
END_TEST

START_TEST (verdict_malformed)
{
  static const char *const bad[] = {
    "",
    "{",
    "[]",
    "{\"host\":\"h\",\"kvm\":\"works\"}",
    "{\"host\":\"h\",\"kvm\":\"maybe\",\"reason\":\"r\"}",
    "{\"host\":1,\"kvm\":\"works\",\"reason\":\"r\"}",
    "{\"host\":\"h\\u0000\",\"kvm\":\"works\",\"reason\":\"r\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      struct host_verdict v;
      ck_assert_int_eq (host_verdict_parse (bad[i], strlen (bad[i]), "h", &v),
                        -1);
      ck_assert_int_eq (v.kvm, KVM_UNKNOWN);
      ck_assert_ptr_null (v.reason);
    }
}
END_TEST

START_TEST (verdict_store_and_load)
{
  char dir[] = "/tmp/lcow-accel.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (dir));
  char root[64];
  snprintf (root, sizeof root, "%s/root", dir);
  struct host_verdict v;
  host_verdict_load (root, "/bin/true", &v);
  ck_assert_int_eq (v.kvm, KVM_UNKNOWN);
  ck_assert_int_eq (
      host_verdict_store (root, "/bin/true", KVM_BROKEN, "stopped", NULL), 0);
  host_verdict_load (root, "/bin/true", &v);
  ck_assert_int_eq (v.kvm, KVM_BROKEN);
  ck_assert_str_eq (v.reason, "stopped");
  host_verdict_release (&v);
  /* Kept per QEMU binary.  */
  host_verdict_load (root, "/bin/false", &v);
  ck_assert_int_eq (v.kvm, KVM_UNKNOWN);
  char *path = host_verdict_path (root, "/bin/true");
  ck_assert_int_eq (unlink (path), 0);
  free (path);
  ck_assert_int_eq (rmdir (root), 0);
  ck_assert_int_eq (rmdir (dir), 0);
}
END_TEST

Suite *
accel_suite (void)
{
  Suite *s = suite_create ("accel");
  TCase *t = tcase_create ("decision");
  tcase_add_loop_test (t, choose, 0, sizeof cases / sizeof *cases);
  tcase_add_test (t, mode_names);
  tcase_add_test (t, verdict_round_trip);
  tcase_add_test (t, verdict_malformed);
  tcase_add_test (t, verdict_store_and_load);
  suite_add_tcase (s, t);
  return s;
}
