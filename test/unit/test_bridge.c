/* The bridge codecs: what the host encodes, the guest decodes (and
   refuses, naming every problem); the host's decoding of responses and
   exits; OCI process details the agent applies; rootfs image sizing.  */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mount.h>

#include "proto/mount_options.h"
#include "proto/oci_spec.h"
#include "suites.h"
#include "uvm/bridge.h"
#include "uvm/guest/bridge_request.h"
#include "uvm/rootfs_image.h"

START_TEST (create_round_trip)
{
  static const char spec[] = "{\"process\":{\"args\":[\"/bin/sh\"]}}";
  static const char hosts[] = "127.0.0.1 a\n\0binary";
  struct bridge_pod_file files[] = { { "/etc/hosts", hosts, sizeof hosts } };
  struct bridge_create c
      = { "ctr-1", 7, 3, spec, sizeof spec - 1, files, 1, "pod-\"host" };
  char *body = bridge_create_body (&c);
  struct bridge_request r;
  shim_error *err = NULL;
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_CREATE);
  ck_assert_str_eq (r.container, "ctr-1");
  ck_assert_uint_eq (r.process, 7);
  ck_assert_uint_eq (r.scsi_target, 3);
  ck_assert_uint_eq (r.spec_len, sizeof spec - 1);
  ck_assert_mem_eq (r.spec, spec, sizeof spec - 1);
  ck_assert_uint_eq (r.nfiles, 1);
  ck_assert_str_eq (r.files[0].path, "/etc/hosts");
  ck_assert_uint_eq (r.files[0].len, sizeof hosts);
  ck_assert_mem_eq (r.files[0].content, hosts, sizeof hosts);
  ck_assert_str_eq (r.pod_hostname, "pod-\"host");
  bridge_request_release (&r);
  free (body);
  /* Without a pod hostname the member is absent.  */
  c.pod_hostname = NULL;
  body = bridge_create_body (&c);
  ck_assert_ptr_null (strstr (body, "pod_hostname"));
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_ptr_null (r.pod_hostname);
  bridge_request_release (&r);
  free (body);
}
END_TEST

/* ping and settime: what a host sends a guest that has just moved.  */
START_TEST (ping_and_settime)
{
  struct bridge_request r;
  shim_error *err = NULL;
  static const char ping[] = "{\"type\":\"ping\"}";
  ck_assert_int_eq (bridge_request_decode (ping, sizeof ping - 1, &r, &err),
                    0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_PING);
  bridge_request_release (&r);
  static const char settime[]
      = "{\"type\":\"settime\",\"unix_ns\":1795910400123456789}";
  ck_assert_int_eq (
      bridge_request_decode (settime, sizeof settime - 1, &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_SETTIME);
  ck_assert_uint_eq (r.unix_ns, 1795910400123456789ull);
  bridge_request_release (&r);
  static const char no_time[] = "{\"type\":\"settime\"}";
  ck_assert_int_eq (
      bridge_request_decode (no_time, sizeof no_time - 1, &r, &err), -1);
  ck_assert_str_eq (err->msg, "invalid request: unix_ns: required");
  shim_error_free (err);
}
END_TEST

START_TEST (exec_and_container_bodies)
{
  char *body = bridge_exec_body ("c\"1", 9, "{\"args\":[\"ls\"]}", 15);
  struct bridge_request r;
  shim_error *err = NULL;
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_EXEC);
  ck_assert_str_eq (r.container, "c\"1");
  ck_assert_uint_eq (r.process, 9);
  bridge_request_release (&r);
  free (body);
  body = bridge_signal_body (9, 15, true);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_SIGNAL);
  ck_assert_uint_eq (r.process, 9);
  ck_assert_uint_eq (r.signal, 15);
  ck_assert (r.all);
  bridge_request_release (&r);
  free (body);
  body = bridge_resize_body (9, 80, 24);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_RESIZE);
  ck_assert_uint_eq (r.width, 80);
  ck_assert_uint_eq (r.height, 24);
  bridge_request_release (&r);
  free (body);
  body = bridge_start_body (9);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_START);
  bridge_request_release (&r);
  free (body);
  body = bridge_container_body ("delete", "c1");
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_DELETE);
  bridge_request_release (&r);
  free (body);
}
END_TEST

START_TEST (guest_refuses_naming_every_problem)
{
  static const char body[]
      = "{\"type\":\"create\",\"container\":\"../x\",\"process\":-1}";
  struct bridge_request r;
  shim_error *err = NULL;
  ck_assert_int_eq (bridge_request_decode (body, sizeof body - 1, &r, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_str_eq (err->msg,
                    "invalid request: spec: required; process: expected an "
                    "unsigned 32-bit integer, got -1; container: not a usable "
                    "id");
  shim_error_free (err);
  err = NULL;
  static const char files[]
      = "{\"type\":\"create\",\"container\":\"c\",\"process\":1,"
        "\"spec\":\"{}\",\"files\":[null,{\"path\":\"rel\",\"content\":\"\"},"
        "{\"content\":1}]}";
  ck_assert_int_eq (bridge_request_decode (files, sizeof files - 1, &r, &err),
                    -1);
  ck_assert_str_eq (err->msg,
                    "invalid request: files[0]: expected object, got null; "
                    "files[1]: path rel is not absolute; files[2].path: "
                    "required; files[2].content: expected string, got number");
  shim_error_free (err);
  err = NULL;
  ck_assert_int_eq (bridge_request_decode ("[1]", 3, &r, &err), -1);
  ck_assert_str_eq (err->msg,
                    "invalid request: request: expected object, got array");
  shim_error_free (err);
  err = NULL;
  static const char unknown[] = "{\"type\":\"frobnicate\"}";
  ck_assert_int_eq (
      bridge_request_decode (unknown, sizeof unknown - 1, &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_UNSUPPORTED);
  bridge_request_release (&r);
}
END_TEST

START_TEST (host_decodes_responses_and_exits)
{
  struct bridge_response resp;
  shim_error *err = NULL;
  static const char ok[]
      = "{\"type\":\"stats\",\"cpu_ns\":5,\"memory_bytes\":6,"
        "\"memory_limit\":7,\"pids\":[1,22,-3]}";
  ck_assert_int_eq (bridge_response_decode (ok, sizeof ok - 1, &resp, &err),
                    0);
  ck_assert_uint_eq (resp.cpu_ns, 5);
  ck_assert_uint_eq (resp.memory_bytes, 6);
  ck_assert_uint_eq (resp.npids, 2);
  ck_assert_uint_eq (resp.pids[1], 22);
  bridge_response_release (&resp);
  static const char bad[] = "{\"code\":5,\"error\":\"container x not found\"}";
  ck_assert_int_eq (bridge_response_decode (bad, sizeof bad - 1, &resp, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_NOT_FOUND);
  ck_assert_str_eq (err->msg, "guest: container x not found");
  shim_error_free (err);
  uint32_t key = 0, status = 0;
  static const char ex[] = "{\"type\":\"exit\",\"process\":4,\"status\":137}";
  ck_assert_int_eq (bridge_exit_decode (ex, sizeof ex - 1, &key, &status), 1);
  ck_assert_uint_eq (key, 4);
  ck_assert_uint_eq (status, 137);
  ck_assert_int_eq (
      bridge_exit_decode ("{\"type\":\"hello\"}", 16, &key, &status), 0);
}
END_TEST

START_TEST (oci_process_rlimits_and_groups)
{
  static const char p[] = "{\"args\":[\"a\"],\"user\":{\"uid\":1,\"gid\":2,"
                          "\"additionalGids\":[3,4]},"
                          "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":"
                          "1024,\"soft\":512}]}";
  struct oci_process *proc = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_process_parse (p, sizeof p - 1, &proc, &err), 0);
  ck_assert_uint_eq (proc->nadditional_gids, 2);
  ck_assert_uint_eq (proc->additional_gids[1], 4);
  ck_assert_uint_eq (proc->nrlimits, 1);
  ck_assert_str_eq (proc->rlimits[0].type, "RLIMIT_NOFILE");
  ck_assert_uint_eq (proc->rlimits[0].hard, 1024);
  ck_assert_uint_eq (proc->rlimits[0].soft, 512);
  oci_process_free (proc);
  static const char bad[] = "{\"rlimits\":[{\"type\":1,\"hard\":-1}]}";
  ck_assert_int_eq (oci_process_parse (bad, sizeof bad - 1, &proc, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "rlimits[0].type"));
  ck_assert_ptr_nonnull (strstr (err->msg, "rlimits[0].hard"));
  shim_error_free (err);
}
END_TEST

START_TEST (mount_options_split)
{
  char *opts[] = { "nosuid", "ro",       "lowerdir=/a:/b", "rbind",
                   "rw",     "rprivate", "mode=755" };
  strbuf data = STRBUF_INIT;
  unsigned long flags = mount_options_parse (opts, 7, &data);
  ck_assert_uint_eq (flags, MS_NOSUID | MS_BIND | MS_REC);
  ck_assert_str_eq (data.data, "lowerdir=/a:/b,mode=755");
  strbuf_release (&data);
}
END_TEST

START_TEST (image_size)
{
  /* Empty tree: the 16 MiB floor; always whole MiB; grows with content.  */
  ck_assert_uint_eq (rootfs_image_size (0, 0), 16u << 20);
  uint64_t s = rootfs_image_size (100u << 20, 1000);
  ck_assert_uint_eq (s % (1u << 20), 0);
  ck_assert_uint_ge (s, (100u << 20) + 1000 * 4096);
}
END_TEST

Suite *
bridge_suite (void)
{
  Suite *s = suite_create ("bridge");
  TCase *t = tcase_create ("codec");
  tcase_add_test (t, create_round_trip);
  tcase_add_test (t, exec_and_container_bodies);
  tcase_add_test (t, ping_and_settime);
  tcase_add_test (t, guest_refuses_naming_every_problem);
  tcase_add_test (t, host_decodes_responses_and_exits);
  tcase_add_test (t, oci_process_rlimits_and_groups);
  tcase_add_test (t, mount_options_split);
  tcase_add_test (t, image_size);
  suite_add_tcase (s, t);
  return s;
}
