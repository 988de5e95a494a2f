/* The livelock sampler on QEMU 7.2's own "info registers -a" text: CPU 0
   spinning in the guest kernel, CPU 1 not yet started (real mode, halted),
   as captured from a TCG boot hung in calibrate_delay.  */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "uvm/vmm/vcpu_sample.h"

static const char hung[]
    = "CPU#0\r\n"
      "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 "
      "RDX=0000000000000000\r\n"
      "RIP=ffffffff81002f9f RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 "
      "HLT=0\r\n"
      "ES =0000 0000000000000000 ffffffff 00c00000\r\n"
      "CPU#1\r\n"
      "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00060fb1\r\n"
      "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n"
      "CS =f000 ffff0000 0000ffff 00009b00\r\n";

static void
sample (const char *text, struct vcpu_sample *s)
{
  ck_assert_int_eq (vcpu_sample_parse (text, s), 0);
}

START_TEST (parse_qemu_text)
{
  struct vcpu_sample s;
  sample (hung, &s);
  ck_assert_uint_eq (s.ncpus, 2);
  ck_assert_uint_eq (s.ip[0], 0xffffffff81002f9full);
  ck_assert (!s.halted[0]);
  ck_assert_uint_eq (s.ip[1], 0xfff0);
  ck_assert (s.halted[1]);
}
END_TEST

START_TEST (stuck_or_moving)
{
  struct vcpu_sample a, b;
  sample (hung, &a);
  sample (hung, &b);
  ck_assert (vcpu_sample_stuck (&a, &b));
  /* The spinning vCPU moved.  */
  b.ip[0] += 4;
  ck_assert (!vcpu_sample_stuck (&a, &b));
  /* Every vCPU halted: an idle guest, not a spinning one.  */
  b = a;
  b.halted[0] = true;
  ck_assert (!vcpu_sample_stuck (&a, &b));
  /* It was halted before and runs now at the same address: it moved.  */
  a.halted[0] = true;
  b.halted[0] = false;
  ck_assert (!vcpu_sample_stuck (&a, &b));
  /* A different vCPU count (or none) compares as moving.  */
  sample (hung, &a);
  b = a;
  b.ncpus = 1;
  ck_assert (!vcpu_sample_stuck (&a, &b));
  memset (&a, 0, sizeof a);
  ck_assert (!vcpu_sample_stuck (&a, &a));
}
END_TEST

START_TEST (parse_errors)
{
  static const char *const bad[] = {
    "",
    "Error: no CPU\n",
    "CPU#0\nRAX=0\n",                      /* no instruction pointer */
    "CPU#0\nRIP=ffffffff81000000 RFL=2\n", /* no halt state */
    "CPU#0\nRIP=zz HLT=0\n",               /* not hex */
    "CPU#0\nCPU#1\nRIP=1 HLT=0\n",         /* CPU 0 without one */
  };
  struct vcpu_sample s;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    ck_assert_msg (vcpu_sample_parse (bad[i], &s) == -1, "accepted: %s",
                   bad[i]);
}
END_TEST

START_TEST (more_vcpus_than_kept)
{
  char text[VCPU_SAMPLE_MAX * 40 + 200] = "";
  for (int i = 0; i < VCPU_SAMPLE_MAX + 3; i++)
    {
      char line[64];
      snprintf (line, sizeof line, "CPU#%d\nRIP=%x HLT=0\n", i, i + 16);
      strcat (text, line);
    }
  struct vcpu_sample s;
  sample (text, &s);
  ck_assert_uint_eq (s.ncpus, VCPU_SAMPLE_MAX);
  ck_assert_uint_eq (s.ip[VCPU_SAMPLE_MAX - 1], VCPU_SAMPLE_MAX - 1 + 16);
}
END_TEST

Suite *
vcpu_sample_suite (void)
{
  Suite *s = suite_create ("vcpu_sample");
  TCase *t = tcase_create ("livelock");
  tcase_add_test (t, parse_qemu_text);
  tcase_add_test (t, stuck_or_moving);
  tcase_add_test (t, parse_errors);
  tcase_add_test (t, more_vcpus_than_kept);
  suite_add_tcase (s, t);
  return s;
}
