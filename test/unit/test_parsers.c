/* The OCI spec reader (JSON-path errors, strict types, NUL bytes, caps) and
   the streaming guest-log parser (upstream inputs, every split point,
   invalid UTF-8, depth bombs, over-long values, unknown levels).  */
#include <check.h>

#include "suites.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "proto/base/log.h"
#include "proto/oci_spec.h"
#include "proto/base/rate_limit.h"
#include "proto/base/strbuf.h"
#include "uvm/vsock/gcs_log_parser.h"

static void
expect_spec_error (const char *json, const char *msg)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (json, strlen (json), &s, &err), -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_msg (strstr (err->msg, msg) != NULL, "got \"%s\", want \"%s\"",
                 err->msg, msg);
  shim_error_free (err);
}

START_TEST (test_spec_paths)
{
  expect_spec_error ("{\"mounts\":[{},{},{},{\"source\":1}]}",
                     "mounts[3].source: expected string, got number");
  expect_spec_error ("{\"annotations\":{\"a\":1}}",
                     "annotations[\"a\"]: expected string, got number");
  expect_spec_error ("{\"annotations\":[]}",
                     "annotations: expected object, got array");
  expect_spec_error ("{\"mounts\":[{\"options\":[\"ro\",2]}]}",
                     "mounts[0].options[1]: expected string, got number");
  expect_spec_error ("{\"linux\":{\"devices\":[{\"path\":true}]}}",
                     "linux.devices[0].path: expected string, got bool");
  expect_spec_error ("{\"windows\":{\"devices\":[{\"idType\":[]}]}}",
                     "windows.devices[0].idType: expected string, got array");
  expect_spec_error (
      "{\"process\":{\"user\":{\"uid\":-1}}}",
      "process.user.uid: expected an unsigned 32-bit integer, got -1");
  expect_spec_error ("[]", "spec: expected object, got array");
  expect_spec_error ("{\"annotations\":{\"a\":\"x\\u0000y\"}}",
                     "annotations[\"a\"]: string contains a NUL byte");
  expect_spec_error ("{\"annotations\":{\"io.microsoft.migration."
                     "allowed\\u0000x\":\"true\"}}",
                     "annotations: a key contains a NUL byte");
  /* every problem is named, not just the first */
  expect_spec_error ("{\"root\":{\"path\":1},\"mounts\":[{\"type\":2}]}",
                     "mounts[0].type: expected string, got number; root.path: "
                     "expected string, got number");
  expect_spec_error ("{\"a\":", "parse error");
  expect_spec_error ("{\"a\":1} {}", "trailing garbage");
}
END_TEST

START_TEST (test_spec_values)
{
  const char *json
      = "{\"annotations\":{\"k\":\"1\",\"j\":\"x\",\"k\":\"2\"},"
        "\"root\":{\"path\":\"/r\",\"readonly\":true},\"mounts\":null,"
        "\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"x\"],\"cwd\":\"/\","
        "\"terminal\":false,\"user\":{\"uid\":1000,\"gid\":100}},\"linux\":{"
        "\"maskedPaths\":[\"/proc/kcore\",\"/sys/firmware\"],"
        "\"readonlyPaths\":[\"/proc/sys\"]}}";
  struct oci_spec *s = NULL;
  ck_assert_int_eq (oci_spec_parse (json, strlen (json), &s, NULL), 0);
  ck_assert_uint_eq (s->nannotations, 2);
  ck_assert_str_eq (oci_spec_annotation (s, "k"), "2"); /* last one wins */
  ck_assert_str_eq (s->root_path, "/r");
  ck_assert (s->root_readonly && s->has_linux);
  ck_assert_uint_eq (s->process->nargs, 3);
  ck_assert_uint_eq (s->process->uid, 1000);
  ck_assert_uint_eq (s->nmounts, 0);
  ck_assert_uint_eq (s->nmasked_paths, 2);
  ck_assert_str_eq (s->masked_paths[1], "/sys/firmware");
  ck_assert_uint_eq (s->nreadonly_paths, 1);
  ck_assert_str_eq (s->readonly_paths[0], "/proc/sys");
  oci_spec_free (s);
}
END_TEST

START_TEST (test_spec_limits)
{
  /* 100 levels of nesting are refused, not recursed into.  */
  strbuf sb = STRBUF_INIT;
  strbuf_puts (&sb, "{\"x\":");
  for (int i = 0; i < 100; i++)
    strbuf_putc (&sb, '[');
  for (int i = 0; i < 100; i++)
    strbuf_putc (&sb, ']');
  strbuf_putc (&sb, '}');
  expect_spec_error (sb.data, "nesting exceeds the depth limit");
  strbuf_release (&sb);
  /* Over the size cap.  */
  size_t n = OCI_SPEC_MAX_BYTES + 10;
  char *big = malloc (n + 1);
  memset (big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  big[n] = '\0';
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (big, n, &s, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "more than the"));
  shim_error_free (err);
  free (big);
}
END_TEST

/* ---- guest log parser ----------------------------------------------- */

static strbuf captured;

static void
capture (void *data, const struct gcs_log_entry *e)
{
  (void) data;
  strbuf_printf (&captured, "%s|%s", log_level_name (e->level), e->msg);
  for (size_t i = 0; i < e->nfields; i++)
    strbuf_printf (&captured, "|%s=%s", e->fields[i].key, e->fields[i].value);
  strbuf_putc (&captured, '\n');
}

/* Feeds input in chunks of the given size; returns what was emitted.  */
static const char *
run_parser (const char *input, size_t len, size_t chunk)
{
  strbuf_reset (&captured);
  struct gcs_log_parser *p = gcs_log_parser_new ("vm1", capture, NULL);
  for (size_t off = 0; off < len; off += chunk)
    gcs_log_parser_feed (p, input + off,
                         len - off < chunk ? len - off : chunk);
  gcs_log_parser_finish (p);
  gcs_log_parser_free (p);
  return captured.data ? captured.data : "";
}

static const struct
{
  const char *input;
  const char *expected;
} log_cases[] = {
  /* upstream's test inputs */
  { "{\"time\":\"2024-01-15T10:30:00Z\",\"level\":\"fatal\",\"msg\":\"fatal "
    "message\"}",
    "error|fatal message|uvm-id=vm1|vm.time=2024-01-15T10:30:00Z\n" },
  { "{\"time\":\"2024-01-15T10:30:00Z\",\"level\":\"info\",\"msg\":\"\","
    "\"Source\":\"ETW\",\"message\":\"etw message\"}",
    "info|etw message|Source=ETW|uvm-id=vm1|vm.time=2024-01-15T10:30:00Z\n" },
  { "{\"time\":\"2024-01-15T10:30:00Z\",\"level\":\"info\",\"msg\":\"m\","
    "\"count\":100.0}",
    "info|m|count=100|uvm-id=vm1|vm.time=2024-01-15T10:30:00Z\n" },
  { "{\"time\":\"2024-01-15T10:30:00Z\",\"level\":\"info\",\"msg\":\"m\","
    "\"ratio\":3.14}",
    "info|m|ratio=3.14|uvm-id=vm1|vm.time=2024-01-15T10:30:00Z\n" },
  { "{\"time\":\"2024-01-15T10:30:00Z\",\"level\":\"info\",\"msg\":\"last "
    "message\"}\n"
    "panic: something went wrong\ngoroutine 1 [running]:\nmain.main()\n",
    "info|last message|uvm-id=vm1|vm.time=2024-01-15T10:30:00Z\n"
    "error|gcs terminated|uvm-id=vm1|stderr=panic: something went wrong\n"
    "goroutine 1 [running]:\nmain.main()\n" },
  /* semantics around them */
  { "{\"msg\":\"no level\"}", "info|no level|uvm-id=vm1|vm.time=\n" },
  { "{\"level\":\"PANIC\",\"msg\":\"p\"}{\"level\":\"Warning\",\"msg\":\"w\"}",
    "error|p|uvm-id=vm1|vm.time=\nwarning|w|uvm-id=vm1|vm.time=\n" },
  { "{\"level\":\"info\",\"msg\":\"keep\",\"Message\":\"alt\"}",
    "info|keep|uvm-id=vm1|vm.time=\n" },
  { "{\"Source\":\"ETW\",\"msg\":\"m\",\"Message\":\"alt\"}",
    "info|alt|Source=ETW|uvm-id=vm1|vm.time=\n" },
  { "{\"msg\":\"n\",\"big\":12345678901234567890,\"neg\":-2.0,\"o\":{\"a\":[1,"
    "true,null]},\"z\":null}",
    "info|n|big=1.2345678901234567e+19|neg=-2|o={\"a\":[1,true,null]}|z=<nil>|"
    "uvm-id=vm1|vm.time=\n" },
  /* an unknown level ends parsing with an error; the rest is reported */
  { "{\"msg\":\"a\"}{\"level\":\"loud\",\"msg\":\"b\"}{\"msg\":\"c\"}",
    "info|a|uvm-id=vm1|vm.time=\n"
    "error|gcs log read|uvm-id=vm1|error=not a valid logrus Level\n"
    "error|gcs "
    "terminated|uvm-id=vm1|stderr={\"level\":\"loud\",\"msg\":\"b\"}{\"msg\":"
    "\"c\"}\n" },
  { "{\"time\":\"yesterday\",\"msg\":\"t\"}",
    "error|gcs log read|uvm-id=vm1|error=time is not an RFC 3339 timestamp\n"
    "error|gcs "
    "terminated|uvm-id=vm1|stderr={\"time\":\"yesterday\",\"msg\":\"t\"}\n" },
  { "[1,2]",
    "error|gcs log read|uvm-id=vm1|error=log entry is not a JSON object\n"
    "error|gcs terminated|uvm-id=vm1|stderr=[1,2]\n" },
  /* invalid UTF-8 is a syntax error: parsing ends quietly */
  { "{\"msg\":\"ok\"}{\"msg\":\"\xff\xfe\"}",
    "info|ok|uvm-id=vm1|vm.time=\nerror|gcs "
    "terminated|uvm-id=vm1|stderr={\"msg\":\"\xff\xfe\"}\n" },
  /* truncated at the end of the stream */
  { "{\"msg\":\"ok\"} {\"msg\":\"cut",
    "info|ok|uvm-id=vm1|vm.time=\n"
    "error|gcs terminated|uvm-id=vm1|stderr={\"msg\":\"cut\n" },
  { "  \n\t ", "" },
  /* hostile keys: made safe for a log line, host names namespaced */
  { "{\"msg\":\"k\",\"a\\nb\":\"v\",\"q\\\"=\":\"x\",\"namespace\":\"n\","
    "\"runtime\":\"r\","
    "\"uvm-id\":\"u\",\"guest.x\":\"g\",\"fields-dropped\":\"9\",\"\":0,"
    "\"nul\\u0000k\":1}",
    "info|k|a_b=v|q__=x|guest.namespace=n|guest.runtime=r|guest.uvm-id=u|"
    "guest.guest.x=g|"
    "guest.fields-dropped=9|_=0|nul_k=1|uvm-id=vm1|vm.time=\n" },
  /* duplicate keys: the last one wins, where it stands */
  { "{\"msg\":\"d\",\"a\":1,\"b\":2,\"a\":3,\"b\":4,\"c\":5}",
    "info|d|a=3|b=4|c=5|uvm-id=vm1|vm.time=\n" },
};

START_TEST (test_log_every_split)
{
  const char *in = log_cases[_i].input;
  size_t len = strlen (in);
  for (size_t chunk = 1; chunk <= len + 1; chunk++)
    ck_assert_msg (strcmp (run_parser (in, len, chunk), log_cases[_i].expected)
                       == 0,
                   "case %d chunk %zu:\n got  %s\n want %s", _i, chunk,
                   captured.data, log_cases[_i].expected);
}
END_TEST

START_TEST (test_log_bombs)
{
  /* 100000 nested arrays: refused at the depth limit, not recursed.  */
  size_t n = 100000;
  char *bomb = malloc (n + 1);
  memset (bomb, '[', n);
  bomb[n] = '\0';
  const char *out = run_parser (bomb, n, 4096);
  ck_assert_ptr_nonnull (strstr (
      out, "gcs log read|uvm-id=vm1|error=nesting exceeds the depth limit"));
  free (bomb);
  /* A 3 MiB string value: cut at the bound, the rest reported once and
     itself bounded.  */
  n = 3u << 20;
  char *big = malloc (n + 16);
  strcpy (big, "{\"msg\":\"");
  memset (big + 8, 'a', n);
  strcpy (big + 8 + n, "\"}");
  out = run_parser (big, strlen (big), 65536);
  ck_assert_ptr_nonnull (
      strstr (out, "error=log entry exceeds the size limit"));
  ck_assert_ptr_nonnull (strstr (out, "more bytes cut]"));
  ck_assert_uint_lt (strlen (out), (size_t) GCS_LOG_ENTRY_MAX + 4096);
  free (big);
}
END_TEST

/* An entry of 20000 keys: the first GCS_LOG_FIELDS_MAX kept, the others
   counted (and decoded in linear time: quadratic took 0.77 s).  */
START_TEST (test_log_wide_entry)
{
  strbuf in = STRBUF_INIT;
  strbuf_puts (&in, "{\"msg\":\"wide\"");
  for (int i = 0; i < 20000; i++)
    strbuf_printf (&in, ",\"k%d\":%d", i, i);
  strbuf_puts (&in, ",\"k5\":\"again\"}");
  const char *out = run_parser (in.data, in.len, 65536);
  ck_assert_ptr_nonnull (strstr (out, "info|wide|k0=0|k1=1|"));
  ck_assert_ptr_null (strstr (out, "|k5=5|"));
  ck_assert_ptr_nonnull (
      strstr (out, "|k64=64|fields-dropped=19936|uvm-id=vm1"));
  ck_assert_ptr_null (strstr (out, "|k65="));
  strbuf_release (&in);
}
END_TEST

/* log_entry writes any key as a logfmt key: no byte of it can end the line
   or start a field.  */
START_TEST (test_log_line_keys)
{
  int fds[2];
  ck_assert_int_eq (pipe (fds), 0);
  log_set_fd (fds[1]);
  log_entry (LOG_LEVEL_INFO, "m\nx",
             (struct log_field[]){ { "a\nb=c \"d", "v\nw" } }, 1);
  char buf[512];
  ssize_t n = read (fds[0], buf, sizeof buf - 1);
  ck_assert_int_gt (n, 0);
  buf[n] = '\0';
  ck_assert_ptr_nonnull (strstr (buf, " msg=\"m\\nx\" a_b_c__d=\"v\\nw\"\n"));
  ck_assert_ptr_eq (strchr (buf, '\n'), buf + n - 1);
  log_set_fd (-1);
  close (fds[0]);
}
END_TEST

/* ---- rate limit --------------------------------------------------------- */

START_TEST (test_rate_limit)
{
  struct rate_limit r;
  rate_limit_init (&r, 100, 10, 1000);
  int passed = 0;
  for (int i = 0; i < 50; i++)
    passed += rate_limit_take (&r, 1000);
  ck_assert_int_eq (passed, 10); /* the burst */
  ck_assert_uint_eq (rate_limit_take_dropped (&r), 40);
  ck_assert_uint_eq (rate_limit_take_dropped (&r), 0);
  /* 50 ms at 100/s: 5 more.  */
  passed = 0;
  for (int i = 0; i < 50; i++)
    passed += rate_limit_take (&r, 1050);
  ck_assert_int_eq (passed, 5);
  /* A long pause refills to the burst, not beyond.  */
  passed = 0;
  for (int i = 0; i < 50; i++)
    passed += rate_limit_take (&r, 1000000);
  ck_assert_int_eq (passed, 10);
  /* Time going backwards passes nothing extra.  */
  ck_assert (!rate_limit_take (&r, 5));
}
END_TEST

static void
log_teardown (void)
{
  strbuf_release (&captured);
}

Suite *
parsers_suite (void)
{
  Suite *s = suite_create ("parsers");
  TCase *tc = tcase_create ("oci_spec");
  tcase_add_test (tc, test_spec_paths);
  tcase_add_test (tc, test_spec_values);
  tcase_add_test (tc, test_spec_limits);
  suite_add_tcase (s, tc);
  TCase *lc = tcase_create ("gcs_log");
  tcase_add_checked_fixture (lc, NULL, log_teardown);
  tcase_add_loop_test (lc, test_log_every_split, 0,
                       sizeof log_cases / sizeof log_cases[0]);
  tcase_add_test (lc, test_log_bombs);
  tcase_add_test (lc, test_log_wide_entry);
  tcase_add_test (lc, test_log_line_keys);
  tcase_add_test (lc, test_rate_limit);
  tcase_set_timeout (lc, 60);
  suite_add_tcase (s, lc);
  return s;
}
