/* The migratability policy, table driven: annotation classes (every
   allow-listed key, every locked key with its value and near misses, every
   HvSocket form, every denied key of lcow-behaviour.md §11, keys outside the
   namespace), the opt-in resolution, and the mount and device tables.  */
#include <check.h>

#include "suites.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/annotation_policy.h"
#include "policy/container_policy.h"
#include "proto/base/go_parse.h"
#include "policy/migration.h"
#include "daemon/pod_file_reader.h"
#include "daemon/pod_volumes.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/xalloc.h"
#include "policy/pod_file_binds.h"
#include "proto/oci_spec.h"

#define VM "io.microsoft.virtualmachine."

/* A spec from a JSON text (the real reader, so tests cover it too).  */
static struct oci_spec *
spec_of (const char *json)
{
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_msg (oci_spec_parse (json, strlen (json), &s, &err) == 0, "%s",
                 err ? err->msg : "");
  return s;
}

static const char *const allowed[] = {
  VM "lcow.bootfilesrootpath",
  VM "bootfilesrootpath",
  VM "lcow.kerneldirectboot",
  VM "computetopology.memory.allowovercommit",
  VM "computetopology.processor.count",
  VM "computetopology.processor.limit",
  VM "computetopology.processor.weight",
  VM "computetopology.memory.sizeinmb",
  VM "computetopology.memory.lowmmiogapinmb",
  VM "computetopology.memory.highmmiobaseinmb",
  VM "computetopology.memory.highmmiogapinmb",
  VM "storageqos.bandwidthmaximum",
  VM "storageqos.iopsmaximum",
  VM "lcow.network.policybasedrouting",
};

START_TEST (test_allowed_any_value)
{
  static const char *const values[] = { "", "x", "-1", "true", "{}" };
  for (size_t v = 0; v < 5; v++)
    ck_assert_int_eq (annotation_policy_classify (allowed[_i], values[v]),
                      ANNOTATION_ALLOWED);
}
END_TEST

START_TEST (test_allow_list_is_exactly_the_spec)
{
  ck_assert_uint_eq (annotation_policy_allowed_count, 14);
}
END_TEST

static const struct
{
  const char *key, *ok, *near[6];
} locked[] = {
  { VM "lcow.preferredrootfstype",
    "vhd",
    { "VHD", "vhd ", " vhd", "initrd", "", NULL } },
  { VM "lcow.vpcienabled",
    "false",
    { "False", "FALSE", "0", "f", "", "true" } },
  { VM "devices.virtualpmem.maximumcount",
    "0",
    { "00", "0 ", "+0", "-0", "", "1" } },
  { VM "lcow.writable-overlay-directories",
    "false",
    { "False", "0", "false ", "", "true", NULL } },
};

START_TEST (test_locked_values)
{
  ck_assert_int_eq (annotation_policy_classify (locked[_i].key, locked[_i].ok),
                    ANNOTATION_LOCKED_OK);
  for (size_t n = 0; n < 6 && locked[_i].near[n]; n++)
    ck_assert_msg (
        annotation_policy_classify (locked[_i].key, locked[_i].near[n])
            == ANNOTATION_LOCKED_BAD,
        "%s=\"%s\" must be rejected", locked[_i].key, locked[_i].near[n]);
}
END_TEST

START_TEST (test_hvsocket_forms)
{
  const char *forms[] = {
    VM "hv-socket.service-table.12345678-1234-1234-1234-123456789abc",
    VM "hv-socket.service-table.12345678-1234-1234-1234-123456789ABC",
    VM "hv-socket.service-table.not-a-guid",
    VM "hv-socket.service-table.",
  };
  for (size_t i = 0; i < 4; i++)
    ck_assert_int_eq (annotation_policy_classify (forms[i], "{}"),
                      ANNOTATION_HVSOCKET);
  /* The bare key without the trailing dot is a plain default deny.  */
  ck_assert_int_eq (
      annotation_policy_classify (VM "hv-socket.service-table", "{}"),
      ANNOTATION_DENIED);
}
END_TEST

/* Rows 19-68 of the table (minus the HvSocket prefix row), plus the two
   strings added on upstream main.  */
static const char *const denied[] = {
  VM "console.pipe",
  VM "lcow.extra-vsock-ports",
  VM "lcow.timesync.disable",
  VM "lcow.kernelbootoptions",
  VM "lcow.vpmem.nomultimapping",
  VM "devices.virtualpmem.maximumsizebytes",
  VM "lcow.dmverity-create-args",
  VM "lcow.dmverity-mode",
  VM "lcow.dmverity-rootfs-vhd",
  VM "storage.scratch.encrypted",
  VM "lcow.gueststatefile",
  VM "lcow.hcl-enabled",
  VM "lcow.amd-certificate",
  VM "no_security_hardware",
  VM "lcow.securitypolicy",
  VM "lcow.enforcer",
  VM "lcow.securitypolicy.env",
  VM "lcow.uvm-reference-info-file",
  VM "uvm-hash-envelope-reference-info-file",
  VM "lcow.privileged",
  VM "dump-directory-path",
  VM "fileshares.disablewritable",
  VM "kerneldrivers",
  VM "cpugroup.id",
  VM "computetopology.memory.enabledeferredcommit",
  VM "computetopology.memory.enablecolddiscardhint",
  VM "fullyphysicallybacked",
  VM "computetopology.processor.numa.max-processors-per-node",
  VM "computetopology.processor.numa.max-size-per-node",
  VM "computetopology.numa.preferred-physical-nodes",
  VM "computetopology.numa.mapped-physical-nodes",
  VM "computetopology.numa.count-of-processors",
  VM "computetopology.numa.count-of-memory-blocks",
  VM "resource-partition-id",
  VM "disablecompartmentnamespace",
  VM "wcow.timezone.noinherit",
  VM "wcow.virtualSMB.nodirectmap",
  VM "forwardlogs.sources",
  VM "forwardlogs.enable",
  VM "forwardlogs.defaultsources.enable",
  VM "wcow.gueststatefile",
  VM "wcow.securitypolicy",
  VM "wcow.enforcer",
  VM "wcow.amd-certificate",
  VM "wcow.securitypolicy.env",
  VM "wcow.uvm-reference-info-file",
  VM "wcow.isolation_type",
  VM "wcow.no_secure_boot",
  VM "wcow.writable_efi",
  VM "wcow.additional-reg-keys",
  VM "lcow.hostnetwork",
  VM "lcow.extra-exec-command-args",
  /* near misses of allowed keys are not allowed */
  VM "computetopology.processor.Count",
  VM "LCOW.bootfilesrootpath",
  VM "lcow.bootfilesrootpath.",
  VM "",
};

START_TEST (test_denied)
{
  ck_assert_msg (annotation_policy_classify (denied[_i], "x")
                     == ANNOTATION_DENIED,
                 "%s must be denied", denied[_i]);
}
END_TEST

START_TEST (test_outside_namespace_ignored)
{
  const char *keys[] = {
    "io.microsoft.container.processdumplocation",
    "io.microsoft.disable-unsafe-operations",
    "io.microsoft.migration.allowed",
    "io.kubernetes.cri.sandbox-id",
    "io.microsoft.virtualmachine", /* no trailing dot */
    "IO.MICROSOFT.VIRTUALMACHINE.console.pipe",
    "",
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ck_assert_int_eq (annotation_policy_classify (keys[i], "x"),
                      ANNOTATION_IGNORED);
}
END_TEST

START_TEST (test_check_lists_every_problem)
{
  struct oci_spec *s
      = spec_of ("{\"annotations\":{\"" VM "console.pipe\":\"x\",\"" VM
                 "lcow.vpcienabled\":\"true\",\"" VM
                 "hv-socket.service-table.1\":\"{}\",\"" VM
                 "computetopology.processor.count\":\"4\",\"other\":\"y\"}}");
  struct policy_problems p = { STRBUF_INIT, 0 };
  annotation_policy_check (s, &p);
  shim_error *err = NULL;
  ck_assert_int_eq (
      policy_problems_to_error (&p, "live-migratable sandbox", &err), -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_str_eq (err->msg,
                    "live-migratable sandbox: 3 problems: annotation " VM
                    "console.pipe is not allowed; annotation " VM
                    "lcow.vpcienabled must be \"false\" (locked), got "
                    "\"true\"; annotation " VM
                    "hv-socket.service-table.1 is an HvSocket service-table "
                    "entry, never allowed");
  shim_error_free (err);
  oci_spec_free (s);
}
END_TEST

/* ---- opt-in ------------------------------------------------------------- */

static const struct
{
  const char *allowed, *enabled;
  int result; /* 0 false, 1 true, -1 refused */
  int warns;
} optin[] = {
  { NULL, NULL, 0, 0 },       { "true", NULL, 1, 0 },
  { NULL, "true", 1, 0 },     { "1", NULL, 1, 0 },
  { "T", NULL, 1, 0 },        { "True", NULL, 1, 0 },
  { "TRUE", NULL, 1, 0 },     { "tRUE", NULL, 0, 1 },
  { " true", NULL, 0, 1 },    { "yes", NULL, 0, 1 },
  { "", NULL, 0, 1 },         { "not-a-bool", NULL, 0, 1 },
  { "true", "true", 1, 0 },   { "0", "False", 0, 0 },
  { "true", "maybe", -1, 1 }, { "false", "true", -1, 0 },
  { "f", "F", 0, 0 },
};

/* Only "true" makes a migration destination; "false" and no annotation
   do not; any other value is refused, naming it.  */
static const struct
{
  const char *value;
  int result;
  bool incoming;
} incoming_cases[] = {
  { NULL, 0, false },    { "true", 0, true }, { "false", 0, false },
  { "True", -1, false }, { "", -1, false },   { "1", -1, false },
  { "yes", -1, false },
};

START_TEST (test_migration_incoming)
{
  char json[256];
  if (incoming_cases[_i].value != NULL)
    snprintf (json, sizeof json,
              "{\"annotations\":{\"" ANNOTATION_MIGRATION_INCOMING
              "\":\"%s\"}}",
              incoming_cases[_i].value);
  else
    snprintf (json, sizeof json, "{}");
  struct oci_spec *s = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (json, strlen (json), &s, &err), 0);
  bool incoming = !incoming_cases[_i].incoming;
  ck_assert_int_eq (migration_incoming (s, &incoming, &err),
                    incoming_cases[_i].result);
  ck_assert (incoming == incoming_cases[_i].incoming);
  if (incoming_cases[_i].result < 0)
    {
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert_ptr_nonnull (strstr (err->msg, ANNOTATION_MIGRATION_INCOMING));
      shim_error_free (err);
    }
  oci_spec_free (s);
}
END_TEST

START_TEST (test_opt_in)
{
  char json[512];
  snprintf (json, sizeof json, "{\"annotations\":{%s%s%s%s%s%s%s}}",
            optin[_i].allowed ? "\"io.microsoft.migration.allowed\":\"" : "",
            optin[_i].allowed ? optin[_i].allowed : "",
            optin[_i].allowed ? "\"" : "",
            optin[_i].allowed && optin[_i].enabled ? "," : "",
            optin[_i].enabled ? "\"io.microsoft.migration.support-enabled\":\""
                              : "",
            optin[_i].enabled ? optin[_i].enabled : "",
            optin[_i].enabled ? "\"" : "");
  struct oci_spec *s = spec_of (json);
  struct migration_decision d = { 0 };
  shim_error *err = NULL;
  int r = migration_resolve (s, &d, &err);
  if (optin[_i].result < 0)
    {
      ck_assert_int_eq (r, -1);
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert_ptr_nonnull (
          strstr (err->msg, "io.microsoft.migration.allowed"));
      ck_assert_ptr_nonnull (
          strstr (err->msg, "io.microsoft.migration.support-enabled"));
      shim_error_free (err);
    }
  else
    {
      ck_assert_int_eq (r, 0);
      ck_assert_int_eq (d.migratable, optin[_i].result);
      ck_assert_int_eq (d.warning != NULL, optin[_i].warns);
    }
  migration_decision_release (&d);
  oci_spec_free (s);
}
END_TEST

START_TEST (test_go_parse)
{
  bool b;
  int64_t i;
  uint64_t u;
  ck_assert_int_eq (go_parse_bool ("t", &b), 0);
  ck_assert (b);
  ck_assert_int_eq (go_parse_bool ("yes", &b), -1);
  ck_assert_int_eq (go_parse_int ("-2147483648", 32, &i), 0);
  ck_assert_int_eq (i, -2147483648LL);
  ck_assert_int_eq (go_parse_int ("2147483648", 32, &i), -1);
  ck_assert_int_eq (go_parse_int ("+7", 32, &i), 0);
  ck_assert_int_eq (go_parse_int ("", 32, &i), -1);
  ck_assert_int_eq (go_parse_int ("1 ", 32, &i), -1);
  ck_assert_int_eq (go_parse_uint ("18446744073709551615", 64, &u), 0);
  ck_assert_int_eq (go_parse_uint ("18446744073709551616", 64, &u), -1);
  ck_assert_int_eq (go_parse_uint ("-1", 64, &u), -1);
  ck_assert_int_eq (go_parse_uint ("+1", 64, &u), -1);
  uint32_t ids[3];
  ck_assert_int_eq (go_parse_u32_fields ("0:4294967295:7", ':', ids, 3), 0);
  ck_assert_uint_eq (ids[1], 4294967295u);
  ck_assert_uint_eq (ids[2], 7);
  /* sscanf's %u took these (a sign, a wrap, a trailing field).  */
  ck_assert_int_eq (go_parse_u32_fields ("-1:5", ':', ids, 2), -1);
  ck_assert_int_eq (go_parse_u32_fields ("1:4294967296", ':', ids, 2), -1);
  ck_assert_int_eq (go_parse_u32_fields ("1:2:3", ':', ids, 2), -1);
  ck_assert_int_eq (go_parse_u32_fields ("1::3", ':', ids, 3), -1);
  ck_assert_int_eq (go_parse_u32_fields ("1:2", ':', ids, 3), -1);
  ck_assert_int_eq (go_parse_u32_fields (" 1:2", ':', ids, 2), -1);
}
END_TEST

/* ---- mounts and devices ------------------------------------------------- */

static const struct
{
  const char *type, *source, *dest;
  const char *options; /* comma separated */
  unsigned cls;
} mounts[] = {
  { "bind", "/srv/data", "/data", "rbind,ro", MOUNT_CLASS_DIRECTORY },
  { "bind", "data", "/data", "", MOUNT_CLASS_DIRECTORY },  /* relative */
  { "", "/srv", "/data", "rbind", MOUNT_CLASS_DIRECTORY }, /* empty type */
  { "none", "/srv", "/data", "bind", MOUNT_CLASS_DIRECTORY },
  { "", "/srv", "/data", "RBIND", 0 }, /* case-sensitive */
  { "", "/srv", "/data", "rbind-ish", 0 },
  { "bind", "", "/data", "", MOUNT_CLASS_DIRECTORY },
  { "bind", "sandbox:///x", "/x", "rbind", 0 },
  { "bind", "sandbox-tmp:///x", "/x", "", 0 },
  { "bind", "uvm:///x", "/x", "", 0 },
  { "bind", "hugepages://2M/x", "/x", "", 0 },
  { "bind", "SANDBOX:///x", "/x", "", MOUNT_CLASS_DIRECTORY },
  { "virtual-disk", "C:\\d.vhdx", "/d", "", MOUNT_CLASS_VHD },
  { "physical-disk", "\\\\.\\PhysicalDrive1", "/d", "", MOUNT_CLASS_VHD },
  { "extensible-virtual-disk", "evd://space/x", "/d", "", MOUNT_CLASS_VHD },
  { "tmpfs", "/x/disk.VHDX", "/d", "", MOUNT_CLASS_VHD },
  { "bind", "/x/disk.vhd", "/d", "ro",
    MOUNT_CLASS_VHD | MOUNT_CLASS_DIRECTORY },
  { "tmpfs", "tmpfs", "/tmp", "nosuid", 0 },
  { "proc", "proc", "/proc", "", 0 },
  { "sysfs", "sysfs", "/sys", "ro", 0 },
  { "devpts", "devpts", "/dev/pts", "", 0 },
  { "mqueue", "mqueue", "/dev/mqueue", "", 0 },
  { "cgroup", "cgroup", "/sys/fs/cgroup", "ro", 0 },
  { "", "", "/x", "", 0 },
  /* CRI pod files of sandbox "pod1" */
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/hosts",
    "/etc/hosts", "rbind,rprivate,rw", 0 },
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/hostname",
    "/etc/hostname", "rbind", 0 },
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/resolv.conf",
    "/etc/resolv.conf", "rbind", 0 },
  { "bind", "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/shm",
    "/dev/shm", "rbind", 0 },
  /* ... and near misses */
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod2/hosts",
    "/etc/hosts", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/hosts",
    "/etc/hostname", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/../../../../"
    "etc/hosts",
    "/etc/hosts", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "/etc/hosts", "/etc/hosts", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "io.containerd.grpc.v1.cri/sandboxes/pod1/hosts", "/etc/hosts",
    "rbind", MOUNT_CLASS_DIRECTORY },
  /* The kubelet's pod content of pod uid1: copied, not shared */
  { "bind", "/var/lib/kubelet/pods/uid1/etc-hosts", "/etc/hosts", "rbind", 0 },
  { "bind", "/var/lib/kubelet/pods/uid1/containers/app/8f2a",
    "/dev/termination-log", "rbind", 0 },
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~configmap/cfg",
    "/etc/cfg", "rbind,ro", 0 },
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~secret/s",
    "/etc/s", "rbind,ro", 0 },
  { "bind",
    "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~projected/"
    "kube-api-access-1",
    "/var/run/secrets/kubernetes.io/serviceaccount", "rbind,ro", 0 },
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~downward-api/d",
    "/etc/podinfo", "rbind,ro", 0 },
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~empty-dir/c",
    "/cache", "rbind", 0 },
  /* ... and what stays a host directory */
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~host-path/h",
    "/h", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "/var/lib/kubelet/pods/uid2/volumes/kubernetes.io~configmap/cfg",
    "/etc/cfg", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "/var/lib/kubelet/pods/uid1/volume-subpaths/cfg/app/0",
    "/etc/cfg/one", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "/var/lib/kubelet/pods/uid1/volumes/kubernetes.io~configmap/cfg/x",
    "/etc/cfg", "rbind", MOUNT_CLASS_DIRECTORY },
  { "bind", "/var/lib/kubelet/pods/uid1/etc-hosts/../../uid2/etc-hosts",
    "/etc/hosts", "rbind", MOUNT_CLASS_DIRECTORY },
};

START_TEST (test_mount_classes)
{
  char *opts = strdup (mounts[_i].options);
  char *list[8];
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r (opts, ",", &save); t && n < 8;
       t = strtok_r (NULL, ",", &save))
    list[n++] = t;
  struct oci_mount m = { (char *) mounts[_i].dest, (char *) mounts[_i].type,
                         (char *) mounts[_i].source, list, n };
  ck_assert_msg (mount_classify (&m, "pod1", "uid1") == mounts[_i].cls,
                 "mount %zu (%s %s -> %s): got %u want %u", (size_t) _i,
                 mounts[_i].type, mounts[_i].source, mounts[_i].dest,
                 mount_classify (&m, "pod1", "uid1"), mounts[_i].cls);
  free (opts);
}
END_TEST

START_TEST (test_container_check_message)
{
  struct oci_spec *s = spec_of (
      "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod1\"},"
      "\"mounts\":[{\"destination\":\"/"
      "proc\",\"type\":\"proc\",\"source\":\"proc\"},"
      "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/"
      "data\",\"options\":[\"rbind\"]},"
      "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":"
      "\"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/pod1/"
      "hosts\"}],"
      "\"linux\":{\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\"}]},"
      "\"windows\":{\"devices\":[{\"id\":\"PCI\\\\VEN_1234&DEV_5678\\\\0\","
      "\"idType\":\"vpci\"}]}}");
  struct policy_problems p = { STRBUF_INIT, 0 };
  container_policy_check (s, &p);
  shim_error *err = NULL;
  ck_assert_int_eq (policy_problems_to_error (&p, "c", &err), -1);
  ck_assert_str_eq (
      err->msg, "c: 3 problems: device windows.devices[0] (idType "
                "\"vpci\", id \"PCI\\VEN_1234&DEV_5678\\0\") is a device "
                "assignment; device linux.devices[0] (/dev/fuse) is a host "
                "device assignment; mount[1] /data (bind from /srv/data) "
                "is a directory mount");
  shim_error_free (err);
  oci_spec_free (s);
}
END_TEST

/* ---- pod file binds ----------------------------------------------------- */

static const struct
{
  const char *mounts;
  const char *annotations;
  /* The accepted destinations joined by ',', or the error's parts.  */
  const char *accepted;
  const char *error;
} pod_binds[] = {
  { "{\"destination\":\"/etc/hostname\",\"type\":\"bind\",\"source\":\"/r/c/"
    "io.containerd.grpc.v1.cri/sandboxes/pod1/hostname\"},{\"destination\":\"/"
    "etc/hosts\",\"type\":\"bind\",\"source\":\"/r/k/pods/uid-9/"
    "etc-hosts\"},{\"destination\":\"/dev/"
    "termination-log\",\"type\":\"bind\",\"source\":\"/r/k/pods/uid-9/"
    "containers/app/0a1b2c\"},{\"destination\":\"/etc/"
    "config\",\"type\":\"bind\",\"source\":\"/r/k/pods/uid-9/volumes/"
    "kubernetes.io~configmap/cfg\"},{\"destination\":\"/var/run/secrets/"
    "kubernetes.io/serviceaccount\",\"type\":\"bind\",\"source\":\"/r/k/pods/"
    "uid-9/volumes/kubernetes.io~projected/"
    "kube-api-access-x\"},{\"destination\":\"/"
    "cache\",\"type\":\"bind\",\"source\":\"/r/k/pods/uid-9/volumes/"
    "kubernetes.io~empty-dir/cache\"},{\"destination\":\"/dev/"
    "shm\",\"type\":\"bind\",\"source\":\"/anywhere\"},{\"destination\":\"/"
    "proc\",\"type\":\"proc\",\"source\":\"proc\"}",
    "\"io.kubernetes.cri.sandbox-uid\":\"uid-9\"",
    "/etc/hostname,/etc/hosts,/dev/termination-log,/etc/config,/var/run/"
    "secrets/kubernetes.io/serviceaccount,/cache",
    NULL },
  { "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/etc/"
    "shadow\"}",
    "", NULL,
    "/etc/hosts (from /etc/shadow): a host directory or file, which needs a "
    "directory share" },
  { "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/r/c/"
    "io.containerd.grpc.v1.cri/sandboxes/pod2/hosts\"}",
    "", NULL, "a host directory or file" },
  { "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/r/c/"
    "io.containerd.grpc.v1.cri/sandboxes/pod1/../pod2/hosts\"}",
    "", NULL, "a host directory or file" },
  { "{\"destination\":\"/etc/config\",\"type\":\"bind\",\"source\":\"/"
    "elsewhere/pods/uid-9/volumes/kubernetes.io~secret/s\"}",
    "\"io.kubernetes.cri.sandbox-uid\":\"uid-9\"", NULL,
    "not beneath a pod file root" },
  { "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/r/c/"
    "io.containerd.grpc.v1.cri/sandboxes/pod1/hosts\"},{\"destination\":\"/"
    "etc/hosts\",\"type\":\"bind\",\"source\":\"/r/c/"
    "io.containerd.grpc.v1.cri/sandboxes/pod1/hosts\"},{\"destination\":\"/"
    "data\",\"type\":\"bind\",\"source\":\"/r/k/pods/uid-9/volumes/"
    "kubernetes.io~host-path/d\"}",
    "\"io.kubernetes.cri.sandbox-uid\":\"uid-9\"", NULL,
    "emptyDir is made in the guest, /dev/shm is a guest tmpfs): /etc/hosts "
    "(from /r/c/io.containerd.grpc.v1.cri/sandboxes/pod1/hosts): bound more "
    "than once; /data (from "
    "/r/k/pods/uid-9/volumes/kubernetes.io~host-path/d): a host directory or "
    "file" },
};

START_TEST (test_pod_file_binds)
{
  char *doc = NULL;
  if (asprintf (&doc,
                "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"x\"],"
                "\"cwd\":\"/\"},"
                "\"root\":{\"path\":\"rootfs\"},\"annotations\":{%s},"
                "\"mounts\":[%s]}",
                pod_binds[_i].annotations, pod_binds[_i].mounts)
      < 0)
    ck_abort ();
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  ck_assert_msg (oci_spec_parse (doc, strlen (doc), &spec, &err) == 0, "%s",
                 err ? err->msg : "");
  char *roots[] = { (char *) "/r/c/io.containerd.grpc.v1.cri/sandboxes",
                    (char *) "/r/k/pods/" };
  struct pod_file_bind binds[8];
  size_t n = 0;
  int r = pod_file_binds_plan (spec, roots, 2, "pod1", false, binds, &n, &err);
  if (pod_binds[_i].accepted)
    {
      ck_assert_msg (r == 0, "%s", err ? err->msg : "");
      char joined[256] = "";
      for (size_t i = 0; i < n; i++)
        {
          strcat (joined, i ? "," : "");
          strcat (joined, binds[i].destination);
        }
      ck_assert_str_eq (joined, pod_binds[_i].accepted);
    }
  else
    {
      ck_assert_int_eq (r, -1);
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert_msg (strstr (err->msg, pod_binds[_i].error), "%s", err->msg);
      shim_error_free (err);
    }
  oci_spec_free (spec);
  free (doc);
}
END_TEST

/* With a host share, host binds go through it (read-only as their options
   say); pod content is still copied; a source that is not a clean
   absolute path is refused.  */
START_TEST (test_pod_file_binds_shared)
{
  static const char doc[]
      = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"x\"]},"
        "\"root\":{\"path\":\"rootfs\"},\"mounts\":["
        "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/"
        "data\",\"options\":[\"rbind\",\"rw\"]},"
        "{\"destination\":\"/conf\",\"type\":\"bind\",\"source\":\"/etc/"
        "app.conf\",\"options\":[\"rw\",\"ro\"]},"
        "{\"destination\":\"/etc/hostname\",\"type\":\"bind\",\"source\":"
        "\"/r/c/io.containerd.grpc.v1.cri/sandboxes/pod1/hostname\"}]}";
  char *roots[] = { (char *) "/r/c/io.containerd.grpc.v1.cri/sandboxes" };
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (oci_spec_parse (doc, strlen (doc), &spec, &err), 0);
  struct pod_file_bind binds[4];
  size_t n = 0;
  ck_assert_int_eq (
      pod_file_binds_plan (spec, roots, 1, "pod1", true, binds, &n, &err), 0);
  ck_assert_uint_eq (n, 3);
  ck_assert_int_eq (binds[0].kind, POD_CONTENT_NONE);
  ck_assert_str_eq (binds[0].host_source, "/srv/data");
  ck_assert (!binds[0].options.readonly);
  ck_assert (binds[0].options.recursive);
  ck_assert_int_eq (binds[0].options.propagation, MOUNT_PROPAGATION_PRIVATE);
  ck_assert_str_eq (binds[1].host_source, "/etc/app.conf");
  ck_assert (binds[1].options.readonly);
  ck_assert (!binds[1].options.recursive);
  ck_assert_int_eq (binds[2].kind, POD_CONTENT_CRI_FILE);
  /* Without the share the same spec is refused, saying why.  */
  ck_assert_int_eq (
      pod_file_binds_plan (spec, roots, 1, "pod1", false, binds, &n, &err),
      -1);
  ck_assert (strstr (err->msg, "no virtiofsd") != NULL);
  ck_assert (strstr (err->msg, "/data (from /srv/data)") != NULL);
  shim_error_free (err);
  err = NULL;
  oci_spec_free (spec);
  static const char unclean[]
      = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"x\"]},"
        "\"root\":{\"path\":\"rootfs\"},\"mounts\":["
        "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/"
        "../etc\"}]}";
  ck_assert_int_eq (oci_spec_parse (unclean, strlen (unclean), &spec, &err),
                    0);
  ck_assert_int_eq (
      pod_file_binds_plan (spec, roots, 1, "pod1", true, binds, &n, &err), -1);
  ck_assert (strstr (err->msg, "/data (from /srv/../etc): the source is not "
                               "a clean absolute path")
             != NULL);
  shim_error_free (err);
  err = NULL;
  oci_spec_free (spec);
  /* Bidirectional propagation is refused for every bind, naming each.  */
  static const char bidirectional[]
      = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"x\"]},"
        "\"root\":{\"path\":\"rootfs\"},\"mounts\":["
        "{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/srv/"
        "a\",\"options\":[\"rbind\",\"rshared\"]},"
        "{\"destination\":\"/b\",\"type\":\"bind\",\"source\":\"/srv/"
        "b\",\"options\":[\"rbind\",\"rslave\"]},"
        "{\"destination\":\"/c\",\"type\":\"bind\",\"source\":\"/srv/"
        "c\",\"options\":[\"shared\"]}]}";
  ck_assert_int_eq (
      oci_spec_parse (bidirectional, strlen (bidirectional), &spec, &err), 0);
  ck_assert_int_eq (
      pod_file_binds_plan (spec, roots, 1, "pod1", true, binds, &n, &err), -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err->msg, "/a (from /srv/a): propagation "
                                           "rshared (Bidirectional) is "
                                           "refused"));
  ck_assert_ptr_nonnull (strstr (err->msg, "/c (from /srv/c): propagation"));
  ck_assert_ptr_null (strstr (err->msg, "/b (from"));
  shim_error_free (err);
  oci_spec_free (spec);
}
END_TEST

/* The sync's look at a volume: its stamp, and no file read.  */
struct stamp_result
{
  pod_volume_stamp stamp;
  size_t nfiles;
  bool failed;
};

static void
on_stamped (void *data, const struct bridge_pod_file *files, size_t n,
            const pod_volume_stamp *stamps, const shim_error *err)
{
  struct stamp_result *r = data;
  (void) files;
  memcpy (r->stamp, stamps[0], sizeof r->stamp);
  r->nfiles = n;
  r->failed = err != NULL;
}

static void
look (const char *root, const char *relative, struct stamp_result *r)
{
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct pod_file_bind b = { .kind = POD_CONTENT_VOLUME,
                             .destination = "/etc/config",
                             .root = root,
                             .relative = relative };
  struct pod_file_reader *reader = NULL;
  *r = (struct stamp_result){ .failed = true };
  pod_file_reader_start (&loop, &b, 1, false, on_stamped, r, &reader);
  uv_run (&loop, UV_RUN_DEFAULT);
  uv_loop_close (&loop);
}

static void
write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
  close (fd);
}

/* A volume's stamp changes with the kubelet's ..data link, or (without
   one) with any entry's inode, size or times, and with nothing else.  */
START_TEST (test_volume_stamps)
{
  int probe = open_beneath (AT_FDCWD, ".", O_RDONLY | O_DIRECTORY, 0);
  if (probe < 0 && errno == ENOSYS)
    {
      fprintf (stderr, "volume stamps: skipped, no openat2 here\n");
      return;
    }
  close (probe);
  char root[] = "/tmp/lcow-unit-stamps.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (root));
  cleanup_free char *vol = xasprintf ("%s/pod/cfg", root);
  cleanup_free char *v1 = xasprintf ("%s/..v1", vol);
  cleanup_free char *v2 = xasprintf ("%s/..v2", vol);
  cleanup_free char *data = xasprintf ("%s/..data", vol);
  cleanup_free char *tmp = xasprintf ("%s/..data_tmp", vol);
  cleanup_free char *pod = xasprintf ("%s/pod", root);
  ck_assert_int_eq (mkdir (pod, 0755), 0);
  ck_assert_int_eq (mkdir (vol, 0755), 0);
  ck_assert_int_eq (mkdir (v1, 0755), 0);
  cleanup_free char *key1 = xasprintf ("%s/key", v1);
  write_text (key1, "one");
  ck_assert_int_eq (symlink ("..v1", data), 0);
  cleanup_free char *key = xasprintf ("%s/key", vol);
  ck_assert_int_eq (symlink ("..data/key", key), 0);
  struct stamp_result a, b;
  look (root, "pod/cfg", &a);
  ck_assert (!a.failed);
  ck_assert_uint_eq (a.nfiles, 0);
  look (root, "pod/cfg", &b);
  ck_assert_mem_eq (a.stamp, b.stamp, sizeof a.stamp);
  /* The atomic writer's update: a new ..<version>, ..data swapped.  */
  ck_assert_int_eq (mkdir (v2, 0755), 0);
  cleanup_free char *key2 = xasprintf ("%s/key", v2);
  write_text (key2, "two");
  ck_assert_int_eq (symlink ("..v2", tmp), 0);
  ck_assert_int_eq (rename (tmp, data), 0);
  look (root, "pod/cfg", &b);
  ck_assert (memcmp (a.stamp, b.stamp, sizeof a.stamp) != 0);
  /* A plain directory: a file rewritten changes the stamp.  */
  cleanup_free char *plain = xasprintf ("%s/pod/plain", root);
  cleanup_free char *file = xasprintf ("%s/file", plain);
  ck_assert_int_eq (mkdir (plain, 0755), 0);
  write_text (file, "a");
  look (root, "pod/plain", &a);
  look (root, "pod/plain", &b);
  ck_assert_mem_eq (a.stamp, b.stamp, sizeof a.stamp);
  write_text (file, "bb");
  look (root, "pod/plain", &b);
  ck_assert (memcmp (a.stamp, b.stamp, sizeof a.stamp) != 0);
  /* A volume that is not there: the look fails.  */
  look (root, "pod/absent", &b);
  ck_assert (b.failed);
  cleanup_free char *rm = xasprintf ("rm -rf %s", root);
  ck_assert_int_eq (system (rm), 0);
}
END_TEST

/* A hostile guest's termination message goes to the kubelet's file cut to
   what the kubelet reads, and never through a symlink.  */
START_TEST (test_termination_message_capped)
{
  /* valgrind does not know openat2, which the shim needs for pod files.  */
  int probe = open_beneath (AT_FDCWD, ".", O_RDONLY | O_DIRECTORY, 0);
  if (probe < 0 && errno == ENOSYS)
    {
      fprintf (stderr, "termination message: skipped, no openat2 here\n");
      return;
    }
  close (probe);
  char root[] = "/tmp/lcow-unit-pods.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (root));
  char path[256];
  snprintf (path, sizeof path, "%s/uid1", root);
  ck_assert_int_eq (mkdir (path, 0755), 0);
  snprintf (path, sizeof path, "%s/uid1/log", root);
  FILE *f = fopen (path, "w");
  fclose (f);
  struct pod_file_bind b = { .kind = POD_CONTENT_TERMINATION_LOG,
                             .destination = "/dev/termination-log",
                             .root = root,
                             .relative = "uid1/log" };
  struct pod_volumes *v = pod_volumes_new (NULL, "c", &b, 1);
  static char big[3 * POD_TERMINATION_MESSAGE_MAX];
  memset (big, 'x', sizeof big);
  shim_error *err = NULL;
  ck_assert_int_eq (pod_volumes_write_termination (v, big, sizeof big, &err),
                    0);
  struct stat st;
  ck_assert_int_eq (stat (path, &st), 0);
  ck_assert_int_eq (st.st_size, POD_TERMINATION_MESSAGE_MAX);
  pod_volumes_free (v);
  /* The log replaced by a symlink: refused, nothing written through it.  */
  char target[256];
  snprintf (target, sizeof target, "%s/elsewhere", root);
  f = fopen (target, "w");
  fclose (f);
  ck_assert_int_eq (unlink (path), 0);
  ck_assert_int_eq (symlink (target, path), 0);
  v = pod_volumes_new (NULL, "c", &b, 1);
  ck_assert_int_eq (pod_volumes_write_termination (v, "m", 1, &err), -1);
  shim_error_free (err);
  ck_assert_int_eq (stat (target, &st), 0);
  ck_assert_int_eq (st.st_size, 0);
  pod_volumes_free (v);
  snprintf (path, sizeof path, "rm -rf %s", root);
  ck_assert_int_eq (system (path), 0);
}
END_TEST

Suite *
policy_suite (void)
{
  Suite *s = suite_create ("policy");
  TCase *tc = tcase_create ("annotations");
  tcase_add_loop_test (tc, test_allowed_any_value, 0,
                       sizeof allowed / sizeof allowed[0]);
  tcase_add_test (tc, test_allow_list_is_exactly_the_spec);
  tcase_add_loop_test (tc, test_locked_values, 0, 4);
  tcase_add_test (tc, test_hvsocket_forms);
  tcase_add_loop_test (tc, test_denied, 0, sizeof denied / sizeof denied[0]);
  tcase_add_test (tc, test_outside_namespace_ignored);
  tcase_add_test (tc, test_check_lists_every_problem);
  tcase_add_loop_test (tc, test_opt_in, 0, sizeof optin / sizeof optin[0]);
  tcase_add_loop_test (tc, test_migration_incoming, 0,
                       sizeof incoming_cases / sizeof incoming_cases[0]);
  tcase_add_test (tc, test_go_parse);
  suite_add_tcase (s, tc);
  TCase *mc = tcase_create ("mounts");
  tcase_add_loop_test (mc, test_mount_classes, 0,
                       sizeof mounts / sizeof mounts[0]);
  tcase_add_test (mc, test_container_check_message);
  tcase_add_loop_test (mc, test_pod_file_binds, 0,
                       sizeof pod_binds / sizeof pod_binds[0]);
  tcase_add_test (mc, test_pod_file_binds_shared);
  tcase_add_test (mc, test_termination_message_capped);
  tcase_add_test (mc, test_volume_stamps);
  suite_add_tcase (s, mc);
  return s;
}
