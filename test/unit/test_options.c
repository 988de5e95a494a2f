/* Sandbox options over the shim configuration, and the configuration file
   reader: defaults, upstream's parsing fallbacks, and every error.  */
#include <check.h>

#include "suites.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/oci_spec.h"
#include "uvm/config/sandbox_options.h"
#include "uvm/config/shim_config.h"

#define VM "io.microsoft.virtualmachine."

/* Boot directories the injected probe knows: /boot (kernel, initrd.img),
   /boot-vhd (kernel, vmlinux, initrd.img, rootfs.vhd), /boot-nok (initrd).  */
static bool
fake_exists (const char *dir, const char *name)
{
  static const char *const files[] = {
    "/boot/kernel",         "/boot/initrd.img",     "/boot-vhd/kernel",
    "/boot-vhd/vmlinux",    "/boot-vhd/initrd.img", "/boot-vhd/rootfs.vhd",
    "/boot-nok/initrd.img",
  };
  if (name == NULL)
    return strcmp (dir, "/boot") == 0 || strcmp (dir, "/boot-vhd") == 0
           || strcmp (dir, "/boot-nok") == 0;
  char path[256];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (strcmp (path, files[i]) == 0)
      return true;
  return false;
}

static uint64_t pod_limit_mb; /* the next parse's pod memory limit */

static int
parse (const char *annotations_json, unsigned host_cpus,
       struct sandbox_options *o, strbuf *warn, shim_error **err)
{
  char json[2048];
  snprintf (json, sizeof json, "{\"annotations\":{%s}}", annotations_json);
  struct oci_spec *spec = NULL;
  ck_assert_int_eq (oci_spec_parse (json, strlen (json), &spec, NULL), 0);
  struct shim_config cfg;
  shim_config_defaults (&cfg);
  free (cfg.boot_files_root_path);
  cfg.boot_files_root_path = strdup ("/boot");
  cfg.boot_files_allowed = calloc (4, sizeof (char *));
  cfg.boot_files_allowed[0] = strdup ("/boot-vhd/");
  cfg.boot_files_allowed[1] = strdup ("/nope");
  cfg.boot_files_allowed[2] = strdup ("/boot-nok");
  cfg.nboot_files_allowed = 3;
  struct sandbox_options_env env
      = { host_cpus, 4096, fake_exists, pod_limit_mb };
  int r = sandbox_options_parse (spec, &cfg, false, &env, o, warn, err);
  shim_config_release (&cfg);
  oci_spec_free (spec);
  return r;
}

/* The VMM is charged to the pod's cgroup: without a memory annotation the
   UVM fits under the pod's limit, the VMM's share left out.  */
START_TEST (test_pod_memory_limit)
{
  struct sandbox_options o;
  strbuf w = STRBUF_INIT;
  pod_limit_mb = 600;
  ck_assert_int_eq (parse ("", 8, &o, &w, NULL), 0);
  ck_assert_uint_eq (o.memory_mb, 600 - VMM_MEMORY_OVERHEAD_MB);
  ck_assert_ptr_nonnull (strstr (w.data, "the pod's memory limit is 600 MB"));
  sandbox_options_release (&o);
  strbuf_reset (&w);
  /* A limit with room for the default: the default.  */
  pod_limit_mb = 4096;
  ck_assert_int_eq (parse ("", 8, &o, &w, NULL), 0);
  ck_assert_uint_eq (o.memory_mb, 1024);
  ck_assert_uint_eq (w.len, 0);
  sandbox_options_release (&o);
  /* A tiny limit: the floor.  */
  pod_limit_mb = 200;
  ck_assert_int_eq (parse ("", 8, &o, &w, NULL), 0);
  ck_assert_uint_eq (o.memory_mb, UVM_MEMORY_MIN_MB);
  sandbox_options_release (&o);
  strbuf_reset (&w);
  /* The annotation decides when it is there.  */
  pod_limit_mb = 600;
  ck_assert_int_eq (parse ("\"io.microsoft.virtualmachine.computetopology."
                           "memory.sizeinmb\":\"2048\"",
                           8, &o, &w, NULL),
                    0);
  ck_assert_uint_eq (o.memory_mb, 2048);
  sandbox_options_release (&o);
  pod_limit_mb = 0;
  strbuf_release (&w);
}
END_TEST

START_TEST (test_defaults)
{
  struct sandbox_options o;
  strbuf w = STRBUF_INIT;
  ck_assert_int_eq (parse ("", 8, &o, &w, NULL), 0);
  ck_assert_str_eq (o.boot_files_root_path, "/boot");
  ck_assert_str_eq (o.kernel_path, "/boot/kernel");
  ck_assert_str_eq (o.rootfs_path, "/boot/initrd.img");
  ck_assert_int_eq (o.rootfs, ROOTFS_INITRD);
  ck_assert (o.kernel_direct);
  ck_assert_uint_eq (o.processor_count, 2);
  ck_assert_uint_eq (o.memory_mb, 1024);
  ck_assert_str_eq (o.log_level, "info");
  ck_assert_int_eq (o.scrub_logs, -1);
  ck_assert_uint_eq (w.len, 0);
  sandbox_options_release (&o);
  /* One host CPU: the default is 1.  */
  ck_assert_int_eq (parse ("", 1, &o, &w, NULL), 0);
  ck_assert_uint_eq (o.processor_count, 1);
  sandbox_options_release (&o);
  strbuf_release (&w);
}
END_TEST

START_TEST (test_values_and_fallbacks)
{
  struct sandbox_options o;
  strbuf w = STRBUF_INIT;
  ck_assert_int_eq (parse ("\"" VM "computetopology.processor.count\":\"64\","
                           "\"" VM "computetopology.memory.sizeinmb\":\"511\","
                           "\"" VM "lcow.vpcienabled\":\"yes\","
                           "\"" VM "lcow.timesync.disable\":\"1\"",
                           4, &o, &w, NULL),
                    0);
  ck_assert_uint_eq (o.processor_count, 4); /* clamped to the host */
  ck_assert_uint_eq (o.memory_mb, 512);     /* rounded up to even */
  ck_assert (!o.vpci_enabled);              /* unparsable: default */
  ck_assert (o.disable_time_sync);
  ck_assert_ptr_nonnull (
      strstr (w.data, VM "lcow.vpcienabled=\"yes\" is not a boolean"));
  sandbox_options_release (&o);
  strbuf_reset (&w);
  ck_assert_int_eq (parse ("\"" VM "computetopology.processor.count\":\"two\"",
                           4, &o, &w, NULL),
                    0);
  ck_assert_uint_eq (o.processor_count, 2);
  ck_assert_ptr_nonnull (strstr (w.data, "is not an integer"));
  sandbox_options_release (&o);
  /* Memory: no more than the host has (4096 MB here), with a warning.  */
  strbuf_reset (&w);
  ck_assert_int_eq (
      parse ("\"" VM "computetopology.memory.sizeinmb\":\"1099511627776\"", 4,
             &o, &w, NULL),
      0);
  ck_assert_uint_eq (o.memory_mb, 4096);
  ck_assert_ptr_nonnull (
      strstr (w.data, "1099511627776 MB is more than the host's 4096 MB"));
  sandbox_options_release (&o);
  strbuf_release (&w);
}
END_TEST

START_TEST (test_rootfs_and_kernel_selection)
{
  struct sandbox_options o;
  strbuf w = STRBUF_INIT;
  /* rootfs.vhd present: chosen by default; vmlinux preferred kernel-direct */
  ck_assert_int_eq (parse ("\"" VM "lcow.bootfilesrootpath\":\"/boot-vhd\"", 2,
                           &o, &w, NULL),
                    0);
  ck_assert_int_eq (o.rootfs, ROOTFS_VHD);
  ck_assert_str_eq (o.kernel_path, "/boot-vhd/vmlinux");
  sandbox_options_release (&o);
  ck_assert_int_eq (parse ("\"" VM "bootfilesrootpath\":\"/boot-vhd\",\"" VM
                           "lcow.preferredrootfstype\":\"initrd\",\"" VM
                           "lcow.kerneldirectboot\":\"false\"",
                           2, &o, &w, NULL),
                    0);
  ck_assert_int_eq (o.rootfs, ROOTFS_INITRD);
  ck_assert_str_eq (o.kernel_path, "/boot-vhd/kernel");
  sandbox_options_release (&o);
  strbuf_release (&w);
}
END_TEST

static const struct
{
  const char *annotations;
  int code;
  const char *msg;
} errors[] = {
  { "\"" VM "lcow.preferredrootfstype\":\"invalid\"", GRPC_INVALID_ARGUMENT,
    "invalid PreferredRootFSType: invalid" },
  { "\"" VM "lcow.preferredrootfstype\":\"vhd\"", GRPC_FAILED_PRECONDITION,
    "\"rootfs.vhd\" not found in boot files path /boot" },
  { "\"" VM "lcow.bootfilesrootpath\":\"/nope\"", GRPC_FAILED_PRECONDITION,
    "boot_files_root_path \"/nope\" does not exist" },
  { "\"" VM "lcow.bootfilesrootpath\":\"/boot-nok\"", GRPC_FAILED_PRECONDITION,
    "kernel file not found in boot files path for kernel direct boot: "
    "/boot-nok" },
  { "\"" VM "lcow.bootfilesrootpath\":\"/boot\",\"" VM
    "bootfilesrootpath\":\"/boot-vhd\"",
    GRPC_INVALID_ARGUMENT,
    "conflicting boot files annotations: " VM
    "lcow.bootfilesrootpath=\"/boot\" and " VM
    "bootfilesrootpath=\"/boot-vhd\"" },
  { "\"" VM "lcow.bootfilesrootpath\":\"/etc\"", GRPC_INVALID_ARGUMENT,
    "annotation " VM
    "lcow.bootfilesrootpath: \"/etc\" is not a boot files directory the shim "
    "configuration allows (boot_files_root_path, boot_files_allowed)" },
  { "\"" VM "bootfilesrootpath\":\"/boot/../etc\"", GRPC_INVALID_ARGUMENT,
    "annotation " VM
    "bootfilesrootpath: \"/boot/../etc\" is not a boot files directory the "
    "shim configuration allows (boot_files_root_path, boot_files_allowed)" },
  { "\"" VM "devices.virtualpmem.maximumcount\":\"32\"", GRPC_INVALID_ARGUMENT,
    "v2 shims do not support vPMem devices" },
  { "\"" VM "kerneldrivers\":\"x\"", GRPC_INVALID_ARGUMENT,
    VM "kerneldrivers annotation is not supported" },
  { "\"io.microsoft.network.ncproxy\":\"x\"", GRPC_INVALID_ARGUMENT,
    "io.microsoft.network.ncproxy annotation is not supported" },
  { "\"" VM "computetopology.processor.count\":\"0\"", GRPC_INVALID_ARGUMENT,
    "annotation " VM "computetopology.processor.count: processor count must "
    "be at least 1, got 0" },
};

START_TEST (test_errors)
{
  struct sandbox_options o;
  strbuf w = STRBUF_INIT;
  shim_error *err = NULL;
  ck_assert_int_eq (parse (errors[_i].annotations, 2, &o, &w, &err), -1);
  ck_assert_int_eq (err->code, errors[_i].code);
  ck_assert_str_eq (err->msg, errors[_i].msg);
  shim_error_free (err);
  strbuf_release (&w);
}
END_TEST

/* ---- configuration file ---------------------------------------------- */

static const struct
{
  const char *json;
  const char *error; /* NULL: valid */
} configs[] = {
  { "{}", NULL },
  { "{\"vmm\":\"exec\",\"vmm_path\":\"/x\",\"vmm_args\":[\"a\"],"
    "\"boot_files_root_path\":\"/b\",\"processor_count\":4,\"memory_mb\":2048,"
    "\"log_level\":\"debug\",\"scrub_logs\":true,"
    "\"gcs_connection_timeout_ms\":5000,\"stop_grace_ms\":0}",
    NULL },
  /* Fuzzer finding: a repeated array key leaked the first array.  */
  { "{\"vmm_args\":[\"a\",\"b\"],\"vmm_args\":[\"c\"],\"tcg_boot_stall_ms\":"
    "0}",
    NULL },
  { "{\"bogus\":1}", "unknown key \"bogus\"" },
  { "{\"vmm\":\"kvmtool\"}",
    "key \"vmm\": \"kvmtool\" is neither \"qemu\" nor \"exec\"" },
  { "{\"vmm\":1}", "key \"vmm\": expected a string, got number" },
  { "{\"memory_mb\":\"lots\"}",
    "key \"memory_mb\": expected an unsigned integer, got string" },
  { "{\"processor_count\":0}",
    "key \"processor_count\": 0 is not an integer in [1, 2147483647]" },
  { "{\"processor_count\":-1}",
    "key \"processor_count\": -1 is not an integer" },
  { "{\"processor_count\":1.5}",
    "key \"processor_count\": 1.5 is not an integer" },
  { "{\"scrub_logs\":\"yes\"}",
    "key \"scrub_logs\": expected a boolean, got string" },
  { "{\"log_level\":\"loud\"}", "key \"log_level\": unknown level \"loud\"" },
  { "{\"vmm_args\":[1]}", "key \"vmm_args[0]\": expected a string" },
  { "{\"accel\":\"tcg\",\"kvm_progress_timeout_ms\":2000}", NULL },
  { "{\"vmm_user\":\"auto\",\"pod_file_roots\":[\"/"
    "r\"],\"boot_files_allowed\":[\"/b2\"]}",
    NULL },
  { "{\"vmm_user\":\"root\"}", NULL },
  { "{\"vmm_user\":\"1000:1000\"}", NULL },
  { "{\"vmm_user\":\"0:0\"}", "key \"vmm_user\": expected \"auto\", \"root\" "
                              "or \"UID:GID\" (UID not 0), got \"0:0\"" },
  { "{\"vmm_user\":\"qemu\"}", "key \"vmm_user\": expected \"auto\", \"root\" "
                               "or \"UID:GID\" (UID not 0), got \"qemu\"" },
  { "{\"pod_file_roots\":[\"relative\"]}",
    "key \"pod_file_roots[0]\": expected an absolute path" },
  { "{\"boot_files_allowed\":\"/b\"}",
    "key \"boot_files_allowed\": expected an array of strings, got string" },
  { "{\"accel\":\"hvf\"}",
    "key \"accel\": \"hvf\" is none of \"auto\", \"kvm\", \"tcg\"" },
  { "{\"accel\":true}", "key \"accel\": expected a string, got bool" },
  { "{\"kvm_progress_timeout_ms\":0}", "key \"kvm_progress_timeout_ms\": 0 is "
                                       "not an integer in [1, 2147483647]" },
  { "{\"layer_cache_dir\":\"/c\",\"layer_cache_max_mb\":0,"
    "\"container_scratch_mb\":16}",
    NULL },
  { "{\"layer_cache_dir\":\"cache\"}",
    "key \"layer_cache_dir\": \"cache\" is not an absolute path" },
  { "{\"container_scratch_mb\":0}",
    "key \"container_scratch_mb\": 0 is not an integer in [1, 1048575]" },
  { "{\"migration_max_bandwidth_mb\":64,\"migration_downtime_limit_ms\":50,"
    "\"migration_timeout_ms\":1000}",
    NULL },
  { "{\"migration_prepare_timeout_ms\":999}",
    "key \"migration_prepare_timeout_ms\": 999 is not an integer in [1000, "
    "2147483647]" },
  { "{\"migration_timeout_ms\":999}",
    "key \"migration_timeout_ms\": 999 is not an integer in [1000, "
    "2147483647]" },
  { "{\"migration_max_bandwidth_mb\":0}",
    "key \"migration_max_bandwidth_mb\": 0 is not an integer in [1, "
    "2147483647]" },
  { "{\"layer_cache_max_mb\":-1}",
    "key \"layer_cache_max_mb\": -1 is not an integer" },
  { "[]", "expected a JSON object, got array" },
  { "{\"vmm\":", "parse error" },
};

START_TEST (test_config)
{
  struct shim_config cfg;
  shim_config_defaults (&cfg);
  shim_error *err = NULL;
  int r = shim_config_parse (configs[_i].json, strlen (configs[_i].json), &cfg,
                             &err);
  if (configs[_i].error == NULL)
    ck_assert_msg (r == 0, "%s", err ? err->msg : "");
  else
    {
      ck_assert_int_eq (r, -1);
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert_msg (strstr (err->msg, configs[_i].error) != NULL, "%s vs %s",
                     err->msg, configs[_i].error);
      shim_error_free (err);
    }
  shim_config_release (&cfg);
}
END_TEST

START_TEST (test_config_load_paths)
{
  struct shim_config cfg;
  shim_error *err = NULL;
  unsetenv (SHIM_CONFIG_ENV);
  ck_assert_int_eq (shim_config_load ("/nonexistent/c.json", &cfg, &err), -1);
  ck_assert_str_eq (err->msg,
                    "shim configuration /nonexistent/c.json: open "
                    "/nonexistent/c.json: No such file or directory");
  shim_error_free (err);
  err = NULL;
  setenv (SHIM_CONFIG_ENV, "/nonexistent/env.json", 1);
  ck_assert_int_eq (shim_config_load (NULL, &cfg, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "/nonexistent/env.json"));
  shim_error_free (err);
  unsetenv (SHIM_CONFIG_ENV);
}
END_TEST

Suite *
options_suite (void)
{
  Suite *s = suite_create ("options");
  TCase *tc = tcase_create ("sandbox");
  tcase_add_test (tc, test_defaults);
  tcase_add_test (tc, test_pod_memory_limit);
  tcase_add_test (tc, test_values_and_fallbacks);
  tcase_add_test (tc, test_rootfs_and_kernel_selection);
  tcase_add_loop_test (tc, test_errors, 0, sizeof errors / sizeof errors[0]);
  suite_add_tcase (s, tc);
  TCase *cc = tcase_create ("config");
  tcase_add_loop_test (cc, test_config, 0, sizeof configs / sizeof configs[0]);
  tcase_add_test (cc, test_config_load_paths);
  suite_add_tcase (s, cc);
  return s;
}
