/* The bridge codecs: what the host encodes, the guest decodes (and
   refuses, naming every problem); the host's decoding of responses and
   exits; OCI process details the agent applies; rootfs image sizing.  */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/mount_options.h"
#include "proto/oci_spec.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "suites.h"
#include "uvm/bridge/bridge.h"
#include "uvm/guest/bridge_request.h"
#include "uvm/storage/erofs_snapshot.h"
#include "uvm/storage/layer_cache.h"
#include "uvm/storage/rootfs_layers.h"

START_TEST (create_round_trip)
{
  static const char spec[] = "{\"process\":{\"args\":[\"/bin/sh\"]}}";
  static const char hosts[] = "127.0.0.1 a\n\0binary";
  struct bridge_pod_file files[]
      = { { "/etc/hosts", hosts, sizeof hosts, 0 } };
  struct bridge_create c
      = { .container = "ctr-1",
          .process = 7,
          .scratch_mb = 64,
          .spec = spec,
          .spec_len = sizeof spec - 1,
          .files = files,
          .nfiles = 1,
          .pod_hostname = "pod-\"host",
          .pod_sysctls
          = (const char *const[]){ "kernel.shm_rmid_forced=1",
                                   "net.ipv4.ping_group_range=0 2147483647" },
          .npod_sysctls = 2 };
  static const uint32_t layers[] = { 5, 3, 9 };
  char *early = bridge_create_members (&c);
  struct bridge_request r;
  shim_error *err = NULL;
  /* Without its layers the guest refuses it, naming them.  */
  char *body = bridge_create_body (early, layers, 0);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "layers"));
  shim_error_free (err);
  free (body);
  err = NULL;
  body = bridge_create_body (early, layers, 3);
  ck_assert_uint_le (strlen (body),
                     strlen (early) + BRIDGE_CREATE_LAYERS_BYTES (3));
  free (early);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_CREATE);
  ck_assert_str_eq (r.container, "ctr-1");
  ck_assert_uint_eq (r.process, 7);
  ck_assert_uint_eq (r.nlayers, 3);
  ck_assert_uint_eq (r.layers[0], 5);
  ck_assert_uint_eq (r.layers[2], 9);
  ck_assert_uint_eq (r.scratch_mb, 64);
  ck_assert_uint_eq (r.spec_len, sizeof spec - 1);
  ck_assert_mem_eq (r.spec, spec, sizeof spec - 1);
  ck_assert_uint_eq (r.nfiles, 1);
  ck_assert_str_eq (r.files[0].path, "/etc/hosts");
  ck_assert_uint_eq (r.files[0].len, sizeof hosts);
  ck_assert_mem_eq (r.files[0].content, hosts, sizeof hosts);
  ck_assert_str_eq (r.pod_hostname, "pod-\"host");
  ck_assert_uint_eq (r.npod_sysctls, 2);
  ck_assert_str_eq (r.pod_sysctls[0].key, "kernel.shm_rmid_forced");
  ck_assert_str_eq (r.pod_sysctls[0].value, "1");
  ck_assert_str_eq (r.pod_sysctls[1].key, "net.ipv4.ping_group_range");
  ck_assert_str_eq (r.pod_sysctls[1].value, "0 2147483647");
  bridge_request_release (&r);
  free (body);
  /* Without a pod hostname the member is absent.  */
  c.pod_hostname = NULL;
  early = bridge_create_members (&c);
  body = bridge_create_body (early, layers, 1);
  free (early);
  ck_assert_ptr_null (strstr (body, "pod_hostname"));
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_ptr_null (r.pod_hostname);
  bridge_request_release (&r);
  free (body);
}
END_TEST

/* A port forward's connect: the port is required, 1 to 65535.  */
START_TEST (connect_round_trip)
{
  struct bridge_request r;
  shim_error *err = NULL;
  char *body = bridge_connect_body (9, 8080);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_CONNECT);
  ck_assert_uint_eq (r.process, 9);
  ck_assert_uint_eq (r.port, 8080);
  bridge_request_release (&r);
  free (body);
  static const char *const bad[]
      = { "{\"type\":\"connect\",\"process\":1}",
          "{\"type\":\"connect\",\"process\":1,\"port\":0}",
          "{\"type\":\"connect\",\"process\":1,\"port\":65536}" };
  static const char *const why[]
      = { "port: required", "port: expected 1 to 65535", "port" };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      ck_assert_int_eq (
          bridge_request_decode (bad[i], strlen (bad[i]), &r, &err), -1);
      ck_assert_msg (strstr (err->msg, why[i]) != NULL, "%s", err->msg);
      shim_error_free (err);
      err = NULL;
    }
}
END_TEST

/* The guest holds pod sysctls to the same policy as the host.  */
START_TEST (pod_sysctls_refused)
{
  static const char body[]
      = "{\"type\":\"create\",\"container\":\"c\",\"process\":1,"
        "\"spec\":\"{}\",\"layers\":[1],\"pod_sysctls\":[\"kernel.sem\","
        "\"vm.swappiness=1\",\"net.core.somaxconn=4096\"]}";
  struct bridge_request r;
  shim_error *err = NULL;
  ck_assert_int_eq (bridge_request_decode (body, sizeof body - 1, &r, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_msg (strstr (err->msg, "kernel.sem is not KEY=VALUE") != NULL
                     && strstr (err->msg, "vm.swappiness (not scoped") != NULL
                     && strstr (err->msg, "net.core") == NULL,
                 "%s", err->msg);
  shim_error_free (err);
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
                    "invalid request: spec: required; layers: required; "
                    "process: expected an "
                    "unsigned 32-bit integer, got -1; container: not a usable "
                    "id");
  shim_error_free (err);
  err = NULL;
  static const char files[]
      = "{\"type\":\"create\",\"container\":\"c\",\"process\":1,\"layers\":[1]"
        ","
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
  char *message = NULL;
  size_t message_len = 0;
  static const char ex[] = "{\"type\":\"exit\",\"process\":4,\"status\":137}";
  ck_assert_int_eq (bridge_exit_decode (ex, sizeof ex - 1, &key, &status,
                                        &message, &message_len),
                    1);
  ck_assert_uint_eq (key, 4);
  ck_assert_uint_eq (status, 137);
  ck_assert_ptr_null (message);
  ck_assert_int_eq (bridge_exit_decode ("{\"type\":\"hello\"}", 16, &key,
                                        &status, &message, &message_len),
                    0);
  /* A container's termination log comes with its init's exit.  */
  static const char tl[] = "{\"type\":\"exit\",\"process\":5,\"status\":1,"
                           "\"termination_message\":\"bad\\u0000config\"}";
  ck_assert_int_eq (bridge_exit_decode (tl, sizeof tl - 1, &key, &status,
                                        &message, &message_len),
                    1);
  ck_assert_uint_eq (message_len, 10);
  ck_assert_mem_eq (message, "bad\0config", 10);
  free (message);
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

/* A bind's options: the last ro/rw, rbind, the last propagation.  */
START_TEST (mount_options_of_a_bind)
{
  struct bind_options o;
  char *none[] = { "bind" };
  mount_options_bind (none, 1, &o);
  ck_assert (!o.readonly && !o.recursive);
  ck_assert_int_eq (o.propagation, MOUNT_PROPAGATION_PRIVATE);
  char *slave[] = { "rbind", "ro", "rshared", "rslave" };
  mount_options_bind (slave, 4, &o);
  ck_assert (o.readonly && o.recursive);
  ck_assert_int_eq (o.propagation, MOUNT_PROPAGATION_SLAVE);
  ck_assert_str_eq (mount_propagation_name (o.propagation), "rslave");
  char *shared[] = { "ro", "rw", "private", "shared" };
  mount_options_bind (shared, 4, &o);
  ck_assert (!o.readonly);
  ck_assert_int_eq (o.propagation, MOUNT_PROPAGATION_SHARED);
}
END_TEST

/* Pod volumes: a volume's files beneath its path, emptyDirs, the
   termination log; and a volume's update.  */
START_TEST (volumes_round_trip)
{
  static const char spec[] = "{\"process\":{\"args\":[\"/bin/sh\"]}}";
  struct bridge_pod_file files[] = { { "/etc/cfg/a", "1", 1, 0 },
                                     { "/etc/cfg/sub/b", "22", 2, 0400 },
                                     { "/dev/termination-log", "", 0, 0 } };
  const char *volumes[] = { "/etc/cfg" };
  const char *paths[] = { "/cache" }, *names[] = { "cache" };
  const uint64_t sizes[] = { 2097152 };
  const char *shared[] = { "/data" }, *share_src[] = { "/run/gcs/share/b1" };
  struct bridge_create c = { .container = "c",
                             .process = 1,
                             .scratch_mb = 8,
                             .spec = spec,
                             .spec_len = sizeof spec - 1,
                             .files = files,
                             .nfiles = 3,
                             .volumes = volumes,
                             .nvolumes = 1,
                             .empty_dir_paths = paths,
                             .empty_dir_names = names,
                             .empty_dir_sizes = sizes,
                             .nempty_dirs = 1,
                             .termination_log = "/dev/termination-log",
                             .share_paths = shared,
                             .share_sources = share_src,
                             .nshares = 1 };
  static const uint32_t layer = 1;
  char *early = bridge_create_members (&c);
  char *body = bridge_create_body (early, &layer, 1);
  free (early);
  struct bridge_request r;
  shim_error *err = NULL;
  ck_assert_msg (bridge_request_decode (body, strlen (body), &r, &err) == 0,
                 "%s", err ? err->msg : "");
  ck_assert_uint_eq (r.nvolumes, 1);
  ck_assert_str_eq (r.volumes[0], "/etc/cfg");
  ck_assert_uint_eq (r.nempty_dirs, 1);
  ck_assert_str_eq (r.empty_dirs[0].path, "/cache");
  ck_assert_str_eq (r.empty_dirs[0].name, "cache");
  ck_assert_uint_eq (r.empty_dirs[0].size, 2097152);
  ck_assert_str_eq (r.termination_log, "/dev/termination-log");
  ck_assert_uint_eq (r.nshares, 1);
  ck_assert_str_eq (r.shares[0].path, "/data");
  ck_assert_str_eq (r.shares[0].name, "/run/gcs/share/b1");
  ck_assert_uint_eq (r.nfiles, 3);
  ck_assert_str_eq (r.files[1].path, "/etc/cfg/sub/b");
  ck_assert_uint_eq (r.files[1].mode, 0400); /* a secret's defaultMode */
  ck_assert_uint_eq (r.files[0].mode, 0);
  bridge_request_release (&r);
  free (body);
  body = bridge_volume_update_body ("c", "/etc/cfg", files, 2);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_VOLUME_UPDATE);
  ck_assert_str_eq (r.container, "c");
  ck_assert_uint_eq (r.nfiles, 2);
  bridge_request_release (&r);
  free (body);
  /* An emptyDir named with a path, a relative volume, a share outside the
     share: refused, named.  */
  static const char bad[]
      = "{\"type\":\"create\",\"container\":\"c\",\"process\":1,"
        "\"spec\":\"{}\",\"layers\":[1],\"files\":[],"
        "\"volumes\":[\"rel\"],\"empty_dirs\":[{\"path\":\"/x\","
        "\"name\":\"../up\"}],\"shares\":[{\"path\":\"/d\",\"source\":"
        "\"/etc\"},{\"path\":\"/e\",\"source\":\"/run/gcs/share/../x\"}]}";
  ck_assert_int_eq (bridge_request_decode (bad, sizeof bad - 1, &r, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "rel is not absolute"));
  ck_assert_ptr_nonnull (strstr (err->msg, "name ../up is not a plain name"));
  ck_assert_ptr_nonnull (strstr (
      err->msg, "source /etc is not a plain name beneath /run/gcs/share"));
  ck_assert_ptr_nonnull (strstr (
      err->msg, "source /run/gcs/share/../x is not a plain name beneath"));
  shim_error_free (err);
}
END_TEST

START_TEST (disk_remove_and_layer_limits)
{
  struct bridge_request r;
  shim_error *err = NULL;
  char *body = bridge_disk_remove_body (17);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_int_eq (r.kind, BRIDGE_REQUEST_DISK_REMOVE);
  ck_assert_uint_eq (r.scsi_target, 17);
  bridge_request_release (&r);
  free (body);
  static const char no_target[] = "{\"type\":\"disk_remove\"}";
  ck_assert_int_eq (
      bridge_request_decode (no_target, sizeof no_target - 1, &r, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "scsi_target"));
  shim_error_free (err);
  err = NULL;
  /* No layer, or more than the guest takes: refused.  */
  static const char none[]
      = "{\"type\":\"create\",\"container\":\"c\",\"process\":1,"
        "\"spec\":\"{}\",\"layers\":[]}";
  ck_assert_int_eq (bridge_request_decode (none, sizeof none - 1, &r, &err),
                    -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "0 layers"));
  shim_error_free (err);
  err = NULL;
  uint32_t many[BRIDGE_LAYERS_MAX + 1] = { 0 };
  char *head = xstrdup ("\"type\":\"create\",\"container\":\"c\","
                        "\"process\":1,\"spec\":\"{}\"");
  body = bridge_create_body (head, many, BRIDGE_LAYERS_MAX + 1);
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "129 layers"));
  shim_error_free (err);
  free (body);
  body = bridge_create_body (head, many, BRIDGE_LAYERS_MAX);
  err = NULL;
  ck_assert_int_eq (bridge_request_decode (body, strlen (body), &r, &err), 0);
  ck_assert_uint_eq (r.nlayers, BRIDGE_LAYERS_MAX);
  bridge_request_release (&r);
  free (body);
  free (head);
}
END_TEST

START_TEST (layer_keys)
{
  char a[LAYER_KEY_LEN + 1], b[LAYER_KEY_LEN + 1], k[LAYER_KEY_LEN + 1];
  layer_cache_key ("/s/1/fs", 2049, 77, 1700000000123456789LL, a);
  ck_assert_uint_eq (strlen (a), LAYER_KEY_LEN);
  layer_cache_key ("/s/1/fs", 2049, 77, 1700000000123456789LL, b);
  ck_assert_str_eq (a, b); /* stable */
  /* Any part of the identity changes it: path, device, inode, birth.  */
  layer_cache_key ("/s/2/fs", 2049, 77, 1700000000123456789LL, b);
  ck_assert_str_ne (a, b);
  layer_cache_key ("/s/1/fs", 2050, 77, 1700000000123456789LL, b);
  ck_assert_str_ne (a, b);
  layer_cache_key ("/s/1/fs", 2049, 78, 1700000000123456789LL, b);
  ck_assert_str_ne (a, b);
  layer_cache_key ("/s/1/fs", 2049, 77, 1700000000123456788LL, b);
  ck_assert_str_ne (a, b);
  char name[LAYER_KEY_LEN + 16];
  snprintf (name, sizeof name, "%s.erofs", a);
  ck_assert (layer_cache_image_name (name, k));
  ck_assert_str_eq (k, a);
  snprintf (name, sizeof name, "%s.json", a);
  ck_assert (!layer_cache_image_name (name, k));
  snprintf (name, sizeof name, ".%s.erofs", a);
  ck_assert (!layer_cache_image_name (name, k));
  snprintf (name, sizeof name, "%s.erofs", a);
  name[3] = 'G'; /* not hex */
  ck_assert (!layer_cache_image_name (name, k));
  ck_assert (!layer_cache_image_name ("../x.erofs", k));
}
END_TEST

START_TEST (eviction_choice)
{
  /* 4 images of 10 bytes used at t=1..4; 2 and 1 in use.  */
  struct layer_cache_entry e[] = {
    { .id = 0, .bytes = 10, .used_ns = 3 },
    { .id = 1, .bytes = 10, .used_ns = 1, .in_use = true },
    { .id = 2, .bytes = 10, .used_ns = 4 },
    { .id = 3, .bytes = 10, .used_ns = 2 },
  };
  /* Room for 25: the least recently used not in use go (3, then 0).  */
  ck_assert_uint_eq (layer_cache_pick_victims (e, 4, 25), 20);
  bool evicted[4] = { false };
  for (size_t i = 0; i < 4; i++)
    evicted[e[i].id] = e[i].evict;
  ck_assert (evicted[3] && evicted[0] && !evicted[1] && !evicted[2]);
  /* Room for nothing: everything not in use goes; the one in use stays.  */
  ck_assert_uint_eq (layer_cache_pick_victims (e, 4, 0), 10);
  for (size_t i = 0; i < 4; i++)
    ck_assert (e[i].evict == !e[i].in_use);
  /* Within the bound: nothing goes.  */
  ck_assert_uint_eq (layer_cache_pick_victims (e, 4, 40), 40);
  for (size_t i = 0; i < 4; i++)
    ck_assert (!e[i].evict);
  ck_assert_uint_eq (layer_cache_pick_victims (NULL, 0, 0), 0);
}
END_TEST

/* The plan of a mount list; with expect < 0 the error's text (if msg).  */
static struct rootfs_plan
plan_list (const struct rootfs_mount *m, size_t n, int expect, char **msg)
{
  struct rootfs_plan p;
  shim_error *err = NULL;
  ck_assert_int_eq (rootfs_layers_plan (m, n, "/b/rootfs", &p, &err), expect);
  if (expect < 0)
    {
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      if (msg != NULL)
        *msg = xstrdup (err->msg);
      shim_error_free (err);
    }
  return p;
}

/* The plan of one mount (none without a type).  */
static struct rootfs_plan
plan_of (const char *type, const char *source, char **opts, size_t nopts,
         int expect)
{
  struct rootfs_mount m = { type, source, opts, nopts };
  return plan_list (&m, type ? 1 : 0, expect, NULL);
}

START_TEST (rootfs_plans)
{
  /* containerd's overlay: upper first (only if not empty), then the lower
     directories in their order, cached.  */
  char *ov[]
      = { (char *) "index=off", (char *) "workdir=/s/9/work",
          (char *) "upperdir=/s/9/fs", (char *) "lowerdir=/s/2/fs:/s/1/fs" };
  struct rootfs_plan p = plan_of ("overlay", "overlay", ov, 4, 0);
  ck_assert_uint_eq (p.nlayers, 3);
  ck_assert (!p.mount_first);
  ck_assert_str_eq (p.layers[0].dir, "/s/9/fs");
  ck_assert (!p.layers[0].cached && p.layers[0].skip_if_empty);
  ck_assert_str_eq (p.layers[1].dir, "/s/2/fs");
  ck_assert (p.layers[1].cached && !p.layers[1].skip_if_empty);
  ck_assert_str_eq (p.layers[2].dir, "/s/1/fs");
  rootfs_plan_release (&p);
  /* A read-only view: lower directories only.  */
  p = plan_of ("overlay", "overlay", ov + 3, 1, 0);
  ck_assert_uint_eq (p.nlayers, 2);
  rootfs_plan_release (&p);
  /* ctr run --rootfs: the spec's root, uncached; a bind: its source.  */
  p = plan_of (NULL, NULL, NULL, 0, 0);
  ck_assert_uint_eq (p.nlayers, 1);
  ck_assert_str_eq (p.layers[0].dir, "/b/rootfs");
  ck_assert (!p.layers[0].cached);
  rootfs_plan_release (&p);
  char *ro[] = { (char *) "rbind", (char *) "ro" };
  p = plan_of ("bind", "/s/3/fs", ro, 2, 0);
  ck_assert_str_eq (p.layers[0].dir, "/s/3/fs");
  ck_assert (!p.layers[0].cached && !p.mount_first);
  rootfs_plan_release (&p);
  /* Anything else is mounted on the bundle's rootfs first.  */
  p = plan_of ("ext4", "/dev/sdz", NULL, 0, 0);
  ck_assert (p.mount_first);
  ck_assert_str_eq (p.layers[0].dir, "/b/rootfs");
  rootfs_plan_release (&p);
  /* Refused: no lowerdir, a relative layer, too many layers.  */
  plan_of ("overlay", "overlay", ov, 3, -1);
  char *rel[] = { (char *) "lowerdir=/s/2/fs:s/1/fs" };
  plan_of ("overlay", "overlay", rel, 1, -1);
  strbuf many = STRBUF_INIT;
  strbuf_puts (&many, "lowerdir=/l0");
  for (int i = 1; i <= ROOTFS_LAYERS_MAX; i++)
    strbuf_printf (&many, ":/l%d", i);
  char *lots[] = { many.data };
  plan_of ("overlay", "overlay", lots, 1, -1);
  strbuf_release (&many);
  /* 100,000 relative layers: each is a problem, but the error stays
     bounded (the rest counted, not listed).  */
  strbuf rel_many = STRBUF_INIT;
  strbuf_puts (&rel_many, "lowerdir=a");
  for (int i = 1; i < 100000; i++)
    strbuf_puts (&rel_many, ":a");
  char *rel_lots[] = { rel_many.data };
  struct rootfs_mount rel_m = { "overlay", "overlay", rel_lots, 1 };
  char *msg = NULL;
  plan_list (&rel_m, 1, -1, &msg);
  ck_assert_ptr_nonnull (strstr (msg, "rootfs: 100001 problems"));
  ck_assert_ptr_nonnull (strstr (msg, "the rest not listed"));
  ck_assert_uint_lt (strlen (msg), 80u << 10);
  free (msg);
  strbuf_release (&rel_many);
}
END_TEST

#define EROFS_MOUNT(src)                                                      \
  {                                                                           \
    "erofs", src, (char *[]){ (char *) "ro", (char *) "loop" }, 2             \
  }

/* containerd 2.2+'s list (the EROFS snapshotter through the mount manager),
   in the shapes its snapshotter gives: erofs images, then a templated
   overlay.  */
START_TEST (rootfs_mount_manager_lists)
{
  char *active[] = { (char *) "workdir=/s/9/work", (char *) "upperdir=/s/9/fs",
                     (char *) "lowerdir={{ overlay 0 1 }}" };
  struct rootfs_mount two[] = {
    EROFS_MOUNT ("/s/3/layer.erofs"),
    EROFS_MOUNT ("/s/2/layer.erofs"),
    { "format/mkdir/overlay", "overlay", active, 3 },
  };
  char *msg = NULL;
  struct rootfs_plan p = plan_list (two, 3, 0, NULL);
  ck_assert_uint_eq (p.nlayers, 3);
  ck_assert (!p.mount_first);
  ck_assert_str_eq (p.layers[0].dir, "/s/9/fs");
  ck_assert (p.layers[0].skip_if_empty && !p.layers[0].image);
  ck_assert_str_eq (p.layers[1].dir, "/s/3/layer.erofs");
  ck_assert (p.layers[1].image);
  ck_assert_str_eq (p.layers[2].dir, "/s/2/layer.erofs");
  ck_assert (p.layers[2].image);
  rootfs_plan_release (&p);
  /* Counting down, as "{{ overlay A B }}" does with A > B.  */
  char *down[] = { (char *) "lowerdir={{ overlay 1 0 }}" };
  two[2].options = down;
  two[2].noptions = 1;
  p = plan_list (two, 3, 0, NULL);
  ck_assert_uint_eq (p.nlayers, 2);
  ck_assert_str_eq (p.layers[0].dir, "/s/2/layer.erofs");
  ck_assert_str_eq (p.layers[1].dir, "/s/3/layer.erofs");
  rootfs_plan_release (&p);
  /* One parent: "{{ mount 0 }}"; a one-layer view: the image alone.  */
  char *one_opts[]
      = { (char *) "upperdir=/s/9/fs", (char *) "lowerdir={{ mount 0 }}" };
  struct rootfs_mount one[] = { EROFS_MOUNT ("/s/1/layer.erofs"),
                                { "format/overlay", "overlay", one_opts, 2 } };
  p = plan_list (one, 2, 0, NULL);
  ck_assert_uint_eq (p.nlayers, 2);
  ck_assert_str_eq (p.layers[1].dir, "/s/1/layer.erofs");
  ck_assert (p.layers[1].image);
  rootfs_plan_release (&p);
  p = plan_list (one, 1, 0, NULL);
  ck_assert_uint_eq (p.nlayers, 1);
  ck_assert (p.layers[0].image && !p.mount_first);
  rootfs_plan_release (&p);
  /* Block mode (the writable layer an ext4 image containerd makes): refused,
     naming the mount and the upperdir.  */
  char *block_opts[]
      = { (char *) "X-containerd.mkdir.path={{ mount 0 }}/upper:0755",
          (char *) "workdir={{ mount 0 }}/work",
          (char *) "upperdir={{ mount 0 }}/upper",
          (char *) "lowerdir={{ mount 1 }}" };
  struct rootfs_mount block[] = {
    { "mkfs/ext4", "/s/9/rw.img", NULL, 0 },
    EROFS_MOUNT ("/s/1/layer.erofs"),
    { "format/mkdir/overlay", "overlay", block_opts, 4 },
  };
  p = plan_list (block, 3, -1, &msg);
  ck_assert_ptr_nonnull (strstr (msg, "rootfs: 2 problems"));
  ck_assert_ptr_nonnull (strstr (msg, "mount 0: type \"mkfs/ext4\""));
  ck_assert_ptr_nonnull (strstr (msg, "upperdir {{ mount 0 }}/upper"));
  free (msg);
  /* Templates that name nothing usable, each named.  */
  char *bad_opts[] = { (char *) "lowerdir={{ mount 5 }}:{{ mount 0 }}:{{ "
                                "source 1 }}:{{ overlay 1 9 }}" };
  struct rootfs_mount bad[] = {
    { "bind", "/s/4/fs", NULL, 0 },
    EROFS_MOUNT ("/s/1/layer.erofs"),
    { "format/mkdir/overlay", "overlay", bad_opts, 1 },
  };
  p = plan_list (bad, 3, -1, &msg);
  ck_assert_ptr_nonnull (strstr (msg, "rootfs: 5 problems"));
  ck_assert_ptr_nonnull (strstr (msg, "type \"bind\" before the overlay"));
  ck_assert_ptr_nonnull (strstr (msg, "{{ mount 5 }}: no mount 5"));
  ck_assert_ptr_nonnull (strstr (msg, "{{ mount 0 }}: mount 0 is \"bind\""));
  ck_assert_ptr_nonnull (
      strstr (msg, "template {{ source 1 }} is not understood"));
  ck_assert_ptr_nonnull (strstr (msg, "{{ overlay 1 9 }}: mounts 1 to 9"));
  free (msg);
  /* A step the shim does not perform, alone: named.  */
  struct rootfs_mount unknown[]
      = { { "format/mkdir/bind", "{{ mount 0 }}/upper", NULL, 0 } };
  p = plan_list (unknown, 1, -1, &msg);
  ck_assert_ptr_nonnull (
      strstr (msg, "mount 0: type \"format/mkdir/bind\" is not supported"));
  free (msg);
  /* Text after a template.  */
  char *tail_opts[] = { (char *) "lowerdir={{ mount 0 }}/x" };
  one[1].options = tail_opts;
  one[1].noptions = 1;
  p = plan_list (one, 2, -1, &msg);
  ck_assert_ptr_nonnull (strstr (msg, "\"/x\" after a template"));
  free (msg);
}
END_TEST

/* containerd 2.1's EROFS snapshotter: the image behind a lowerdir it
   mounted, found by its mark and the EROFS magic.  */
START_TEST (erofs_snapshot_found)
{
  char root[] = "/tmp/erofs-snap.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (root));
  char *fs = xasprintf ("%s/fs", root);
  char *image = xasprintf ("%s/layer.erofs", root);
  char *mark = xasprintf ("%s/.erofslayer", root);
  ck_assert_int_eq (mkdir (fs, 0755), 0);
  unsigned char sb[2048] = { 0 };
  sb[1024] = 0xe2, sb[1025] = 0xe1, sb[1026] = 0xf5, sb[1027] = 0xe0;
  FILE *f = fopen (image, "w");
  ck_assert_uint_eq (fwrite (sb, 1, sizeof sb, f), sizeof sb);
  fclose (f);
  /* Without the snapshotter's mark: another snapshotter's directory.  */
  ck_assert_ptr_null (erofs_snapshot_image (fs));
  fclose (fopen (mark, "w"));
  char *found = erofs_snapshot_image (fs);
  ck_assert_str_eq (found, image);
  free (found);
  /* Not "<id>/fs", or not EROFS: a directory to convert.  */
  ck_assert_ptr_null (erofs_snapshot_image (root));
  sb[1024] = 0;
  f = fopen (image, "w");
  ck_assert_uint_eq (fwrite (sb, 1, sizeof sb, f), sizeof sb);
  fclose (f);
  ck_assert_ptr_null (erofs_snapshot_image (fs));
  unlink (image);
  unlink (mark);
  rmdir (fs);
  rmdir (root);
  free (fs);
  free (image);
  free (mark);
}
END_TEST

Suite *
bridge_suite (void)
{
  Suite *s = suite_create ("bridge");
  TCase *t = tcase_create ("codec");
  tcase_add_test (t, create_round_trip);
  tcase_add_test (t, pod_sysctls_refused);
  tcase_add_test (t, connect_round_trip);
  tcase_add_test (t, exec_and_container_bodies);
  tcase_add_test (t, ping_and_settime);
  tcase_add_test (t, guest_refuses_naming_every_problem);
  tcase_add_test (t, host_decodes_responses_and_exits);
  tcase_add_test (t, oci_process_rlimits_and_groups);
  tcase_add_test (t, mount_options_split);
  tcase_add_test (t, mount_options_of_a_bind);
  tcase_add_test (t, volumes_round_trip);
  tcase_add_test (t, disk_remove_and_layer_limits);
  tcase_add_test (t, layer_keys);
  tcase_add_test (t, eviction_choice);
  tcase_add_test (t, rootfs_plans);
  tcase_add_test (t, rootfs_mount_manager_lists);
  tcase_add_test (t, erofs_snapshot_found);
  suite_add_tcase (s, t);
  return s;
}
