/* Every kernel command line vector of lcow-behaviour.md §13.1, byte for
   byte, plus the builder's errors.  */
#include <check.h>

#include "suites.h"

/* Vectors are written as "T01 with these changes", as the spec reads.  */
#ifdef __clang__
#pragma GCC diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
#include <stdlib.h>
#include <string.h>

#include "proto/base/error.h"
#include "uvm/config/kernel_cmdline.h"

#define DVA                                                                   \
  "dmverity,,,ro,0 196744 verity 1 /dev/sda /dev/sdb 4096 4096 24593 0 "      \
  "sha256 aa bb"
#define TAIL "pci=off nr_cpus=2 brd.rd_nr=0 pmtmr=0 -- -e 1 "
#define NOCON                                                                 \
  "initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet "
#define GCS "/bin/gcs -v4 -log-format json -loglevel "

struct vector
{
  const char *name;
  struct kernel_cmdline_input in;
  const char *expected;
};

/* T01's inputs: opts{} ann{} n=2 kd=1 con=0 initrd.img LM=0.  */
#define BASE                                                                  \
  .rootfs_name = "initrd.img", .kernel_direct = true, .processor_count = 2,   \
  .scrub_logs = -1

static const struct vector vectors[] = {
  { "T01", { BASE }, NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
  { "T02", { BASE, .live_migration = true }, NOCON TAIL GCS "info" },
  { "T03",
    { BASE, .kernel_direct = false },
    "initrd=/initrd.img " NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
  { "T04",
    { BASE, .kernel_direct = false, .live_migration = true },
    "initrd=/initrd.img " NOCON TAIL GCS "info" },
  { "T05",
    { BASE, .rootfs_name = "rootfs.vhd" },
    "root=/dev/sda ro rootwait init=/init " NOCON TAIL
    "/bin/vsockexec -e 109 " GCS "info" },
  { "T06",
    { BASE, .rootfs_name = "rootfs.vhd", .live_migration = true },
    "root=/dev/sda ro rootwait init=/init " NOCON TAIL GCS "info" },
  { "T07",
    { BASE, .rootfs_name = "rootfs.vhd", .kernel_direct = false,
      .processor_count = 4 },
    "root=/dev/sda ro rootwait init=/init " NOCON
    "pci=off nr_cpus=4 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 " GCS
    "info" },
  { "T08",
    { BASE, .rootfs_name = "rootfs.vhd", .dm_verity = true,
      .dm_verity_create_args = DVA },
    "root=/dev/dm-0 dm-mod.create=\"" DVA "\" init=/init " NOCON TAIL
    "/bin/vsockexec -e 109 " GCS "info" },
  { "T09",
    { BASE, .rootfs_name = "rootfs.vhd", .dm_verity = true,
      .dm_verity_create_args = DVA, .live_migration = true },
    "root=/dev/dm-0 dm-mod.create=\"" DVA "\" init=/init " NOCON TAIL GCS
    "info" },
  { "T11",
    { BASE, .rootfs_name = "rootfs.vhd", .writable_overlay = true },
    "root=/dev/sda ro rootwait init=/init " NOCON TAIL
    "-w /bin/vsockexec -e 109 " GCS "info" },
  { "T12",
    { BASE, .rootfs_name = "rootfs.vhd", .writable_overlay = true,
      .live_migration = true },
    "root=/dev/sda ro rootwait init=/init " NOCON TAIL "-w " GCS "info" },
  { "T13",
    { BASE, .writable_overlay = true },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
  { "T14",
    { BASE, .console = true },
    "initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=1 "
    "8250_core.skip_txen_test=1 console=ttyS0,115200 " TAIL
    "sh -c\"/bin/vsockexec -e 109 " GCS "info& exec sh\"" },
  { "T15",
    { BASE, .console = true, .live_migration = true },
    "initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=1 "
    "8250_core.skip_txen_test=1 console=ttyS0,115200 " TAIL "sh -c\"" GCS
    "info& exec sh\"" },
  { "T16",
    { BASE, .log_level = "debug" },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "debug" },
  { "T17",
    { BASE, .log_level = "debug", .live_migration = true },
    NOCON TAIL GCS "debug" },
  { "T18",
    { BASE, .scrub_logs = 1 },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info -scrub-logs=true" },
  { "T19",
    { BASE, .scrub_logs = 0 },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info -scrub-logs=false" },
  { "T20",
    { BASE, .scrub_logs = 0, .live_migration = true },
    NOCON TAIL GCS "info -scrub-logs=false" },
  { "T21",
    { BASE, .disable_time_sync = true },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info -disable-time-sync" },
  { "T23",
    { BASE, .core_dump_location = "/tmp/dumps" },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS
               "info -core-dump-location /tmp/dumps" },
  { "T25",
    { BASE, .vpci_enabled = true },
    NOCON "nr_cpus=2 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 " GCS
          "info" },
  { "T26",
    { BASE, .kernel_boot_options = "console=ttyS0 loglevel=7" },
    NOCON "console=ttyS0 loglevel=7 " TAIL "/bin/vsockexec -e 109 " GCS
          "info" },
  /* T30: nil options -> log level info; T31: the builder ignores the
     annotation and takes LM from its input.  */
  { "T30",
    { BASE, .log_level = NULL },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
  { "T31",
    { BASE, .live_migration = false },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
  /* migratable_log_relay: upstream's newer command for migratable
     sandboxes (§14, LinuxLogForwarderCommand(true)); without migration
     the relay changes nothing.  */
  { "R01",
    { BASE, .live_migration = true, .log_relay = true },
    NOCON TAIL "/bin/vsockexec -r -e 109 " GCS "info" },
  { "R02",
    { BASE, .live_migration = true, .log_relay = true, .log_level = "debug",
      .scrub_logs = 1 },
    NOCON TAIL "/bin/vsockexec -r -e 109 " GCS "debug -scrub-logs=true" },
  { "R03",
    { BASE, .live_migration = false, .log_relay = true },
    NOCON TAIL "/bin/vsockexec -e 109 " GCS "info" },
};

START_TEST (test_vector)
{
  const struct vector *v = &vectors[_i];
  char *out = NULL;
  shim_error *err = NULL;
  ck_assert_msg (kernel_cmdline_build (&v->in, &out, &err) == 0, "%s: %s",
                 v->name, err ? err->msg : "");
  ck_assert_msg (strcmp (out, v->expected) == 0, "%s:\n got  %s\n want %s",
                 v->name, out, v->expected);
  if (v->in.live_migration && !v->in.log_relay)
    ck_assert_ptr_null (strstr (out, "vsockexec"));
  free (out);
}
END_TEST

START_TEST (test_dm_verity_without_args)
{
  struct kernel_cmdline_input in
      = { BASE, .rootfs_name = "rootfs.vhd", .dm_verity = true };
  char *out = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (kernel_cmdline_build (&in, &out, &err), -1);
  ck_assert_str_eq (err->msg, "DmVerityCreateArgs should be set when "
                              "DmVerityMode is true and not booting from a "
                              "vmgs file");
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  shim_error_free (err);
}
END_TEST

START_TEST (test_other_rootfs_name_adds_nothing)
{
  struct kernel_cmdline_input in = { BASE, .rootfs_name = "custom.img" };
  char *out = NULL;
  ck_assert_int_eq (kernel_cmdline_build (&in, &out, NULL), 0);
  ck_assert (strncmp (out, "initcall_blacklist=", 19) == 0);
  free (out);
}
END_TEST

START_TEST (test_too_long_is_refused)
{
  char big[3000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  struct kernel_cmdline_input in = { BASE, .kernel_boot_options = big };
  char *out = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (kernel_cmdline_build (&in, &out, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "guest's limit of 2047"));
  shim_error_free (err);
}
END_TEST

START_TEST (test_go_quote)
{
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "plain", "\"plain\"" },
    { "a\"b\\c", "\"a\\\"b\\\\c\"" },
    { "tab\there\n", "\"tab\\there\\n\"" },
    { "\x01\x7f", "\"\\x01\\x7f\"" },
    { "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
    { "bad\xff", "\"bad\\xff\"" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *q = go_quote (cases[i].in);
      ck_assert_str_eq (q, cases[i].out);
      free (q);
    }
}
END_TEST

Suite *
kernel_cmdline_suite (void)
{
  Suite *s = suite_create ("kernel_cmdline");
  TCase *tc = tcase_create ("vectors");
  tcase_add_loop_test (tc, test_vector, 0,
                       (int) (sizeof vectors / sizeof vectors[0]));
  tcase_add_test (tc, test_dm_verity_without_args);
  tcase_add_test (tc, test_other_rootfs_name_adds_nothing);
  tcase_add_test (tc, test_too_long_is_refused);
  tcase_add_test (tc, test_go_quote);
  suite_add_tcase (s, tc);
  return s;
}
