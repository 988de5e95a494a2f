/* The VMM backends' pure builders: every option that changes QEMU's argv,
   and the exec backend's environment.  */
#include <check.h>

#include "suites.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/xalloc.h"
#include "uvm/podnet/pod_cgroup.h"
#include "uvm/storage/vhd_footer.h"
#include "uvm/migration/vm_description.h"
#include "uvm/vmm/vmm.h"
#include "uvm/vmm/vmm_process.h"
#include "uvm/vmm/vmm_user.h"

static const uint32_t ports3[] = { 1, 109, 0x40000000 };
static const uint32_t ports2[] = { 1, 0x40000000 };

static struct vmm_spec
base_spec (void)
{
  return (struct vmm_spec){
    .sandbox_id = "sb1",
    .kernel_path = "/boot/kernel",
    .initrd_path = "/boot/initrd.img",
    .kernel_cmdline = "initrd=/initrd.img panic=-1 -- -e 1 /bin/gcs",
    .cpus = 2,
    .memory_mb = 1024,
    .vsock_uds = "/run/x/vsock",
    .host_ports = ports3,
    .nhost_ports = 3,
    .qmp_socket = "/run/x/qmp.sock",
    .qmp_operator_socket = "/run/x/qmp-operator.sock",
    .tcg_tb_size_mb = 64,
    .vmm_path = "/usr/bin/qemu-system-x86_64",
  };
}

static char **
build (const struct vmm_backend *b, const struct vmm_spec *spec,
       struct vmm_command *cmd)
{
  shim_error *err = NULL;
  ck_assert_int_eq (b->build (spec, cmd, &err), 0);
  return cmd->argv;
}

/* The value following option opt (the n-th occurrence), or NULL.  */
static const char *
opt_value (char **argv, const char *opt, int n)
{
  for (size_t i = 0; argv[i] && argv[i + 1]; i++)
    if (strcmp (argv[i], opt) == 0 && n-- == 0)
      return argv[i + 1];
  return NULL;
}

static int
count (char **argv, const char *s)
{
  int n = 0;
  for (size_t i = 0; argv[i]; i++)
    n += strcmp (argv[i], s) == 0;
  return n;
}

/* The vmm-exec helper's argv with every placement flag: the command's
   arguments after "--", then the NULL (it once fell one past the array,
   which execve then read: EFAULT; ASan and valgrind see the read here).  */
START_TEST (vmm_exec_argv_full_placement)
{
  char *qemu[] = { (char *) "qemu", (char *) "-a", (char *) "-b", NULL };
  struct vmm_command cmd = { .argv = qemu };
  struct vmm_user user = { 1000, 1001, 0 };
  struct vmm_placement place
      = { "/sys/fs/cgroup/p", "/run/netns/p", "tap0", -1, true, true };
  char **argv = vmm_process_argv ("/shim", &cmd, &user, &place);
  size_t n = 0;
  while (argv[n] != NULL)
    n++;
  ck_assert_uint_eq (n, 13 + 3);
  ck_assert_str_eq (argv[1], "vmm-exec");
  ck_assert_str_eq (argv[3], "1000:1001:0");
  ck_assert_str_eq (argv[9], "tap0");
  ck_assert_str_eq (argv[12], "--");
  ck_assert_str_eq (argv[13], "qemu");
  ck_assert_str_eq (argv[15], "-b");
  free (argv);
}
END_TEST

START_TEST (qemu_base_machine)
{
  struct vmm_spec spec = base_spec ();
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (a[0], "/usr/bin/qemu-system-x86_64");
  ck_assert_str_eq (opt_value (a, "-name", 0), "lcow-sb1");
  ck_assert_str_eq (opt_value (a, "-machine", 0),
                    "microvm,pcie=off,isa-serial=off,"
                    "auto-kernel-cmdline=off");
  ck_assert_str_eq (opt_value (a, "-accel", 0), "tcg,tb-size=64");
  ck_assert_int_eq (count (a, "virtio-balloon-device,free-page-reporting=on"),
                    1);
  ck_assert_str_eq (opt_value (a, "-cpu", 0), "max");
  ck_assert_int_eq (count (a, "-nodefaults"), 1);
  ck_assert_str_eq (opt_value (a, "-sandbox", 0),
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                    "resourcecontrol=deny");
  ck_assert_int_eq (count (a, "-no-reboot"), 1);
  ck_assert_str_eq (opt_value (a, "-smp", 0), "2");
  ck_assert_str_eq (opt_value (a, "-m", 0), "1024");
  ck_assert_str_eq (opt_value (a, "-kernel", 0), "/boot/kernel");
  ck_assert_str_eq (opt_value (a, "-initrd", 0), "/boot/initrd.img");
  /* The command line goes through untouched, as one argument.  */
  ck_assert_str_eq (opt_value (a, "-append", 0), spec.kernel_cmdline);
  ck_assert_str_eq (opt_value (a, "-qmp", 0),
                    "unix:/run/x/qmp.sock,server=on,wait=off");
  /* A second monitor: QEMU serves one client per socket.  */
  ck_assert_str_eq (opt_value (a, "-qmp", 1),
                    "unix:/run/x/qmp-operator.sock,server=on,wait=off");
  ck_assert_ptr_null (opt_value (a, "-drive", 0));
  vmm_command_release (&cmd);
}
END_TEST

START_TEST (qemu_kvm)
{
  struct vmm_spec spec = base_spec ();
  spec.kvm = true;
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-accel", 0), "kvm");
  vmm_command_release (&cmd);
  /* A kernel without ACPI: a machine without.  */
  spec.acpi_off = true;
  a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-machine", 0),
                    "microvm,pcie=off,isa-serial=off,"
                    "auto-kernel-cmdline=off,acpi=off");
  ck_assert_str_eq (opt_value (a, "-cpu", 0), "host");
  vmm_command_release (&cmd);
}
END_TEST

/* A host directory share: the virtio-fs device on virtiofsd's socket, and
   guest RAM virtiofsd can map.  */
START_TEST (qemu_host_share)
{
  struct vmm_spec spec = base_spec ();
  spec.share_socket = "/run/x/vm/virtiofs.sock";
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert (strstr (opt_value (a, "-machine", 0), ",memory-backend=mem")
             != NULL);
  ck_assert_str_eq (opt_value (a, "-object", 0),
                    "memory-backend-memfd,id=mem,size=1024M,share=on");
  ck_assert_str_eq (opt_value (a, "-global", 0),
                    "virtio-mmio.force-legacy=false");
  ck_assert_str_eq (opt_value (a, "-m", 0), "1024");
  ck_assert_str_eq (opt_value (a, "-chardev", count (a, "-chardev") - 1),
                    "socket,id=share,path=/run/x/vm/virtiofs.sock");
  ck_assert_int_eq (count (a, "vhost-user-fs-device,chardev=share,tag="
                              "lcowshare"),
                    1);
  /* The balloon comes after every other device, the share included.  */
  ck_assert_str_eq (opt_value (a, "-device", count (a, "-device") - 1),
                    "virtio-balloon-device,free-page-reporting=on");
  vmm_command_release (&cmd);
  /* Without a share: none of it.  */
  spec.share_socket = NULL;
  a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_ptr_null (opt_value (a, "-object", 0));
  ck_assert (strstr (opt_value (a, "-machine", 0), "memory-backend") == NULL);
  vmm_command_release (&cmd);
}
END_TEST

/* A migration's destination: the same argv, waiting for the state.  */
START_TEST (qemu_incoming)
{
  struct vmm_spec spec = base_spec ();
  struct vmm_command plain = { 0 }, in = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &plain);
  spec.incoming = true;
  char **b = build (&vmm_backend_qemu, &spec, &in);
  size_t n = 0;
  while (a[n] != NULL)
    {
      ck_assert_str_eq (a[n], b[n]);
      n++;
    }
  ck_assert_str_eq (b[n], "-incoming");
  ck_assert_str_eq (b[n + 1], "defer");
  ck_assert_ptr_null (b[n + 2]);
  char *cpu, *machine;
  vm_description_from_argv (b, &cpu, &machine);
  ck_assert_str_eq (cpu, "max");
  ck_assert_str_eq (machine, "microvm");
  free (cpu);
  free (machine);
  vmm_command_release (&plain);
  vmm_command_release (&in);
}
END_TEST

static struct vm_description
description (void)
{
  struct vm_description d = {
    .vmm = strdup ("qemu"),
    .qemu_version = strdup ("7.2.22 Debian 1:7.2+dfsg-7+deb12u18"),
    .accel = strdup ("tcg"),
    .cpu_model = strdup ("max"),
    .machine = strdup ("microvm"),
    .cpus = 1,
    .memory_mb = 512,
    .kernel_cmdline = strdup ("root=/dev/sda ro -- -e 1 /bin/gcs"),
    .nboot_files = 2,
  };
  d.boot_files[0].name = strdup ("kernel");
  strcpy (d.boot_files[0].sha256, "aa");
  d.boot_files[1].name = strdup ("rootfs.vhd");
  strcpy (d.boot_files[1].sha256, "bb");
  return d;
}

static void
replace (char **field, const char *value)
{
  free (*field);
  *field = strdup (value);
}

START_TEST (vm_descriptions_compared)
{
  struct vm_description src = description (), dst = description ();
  shim_error *err = NULL;
  ck_assert_int_eq (vm_description_compare (&src, &dst, &err), 0);
  /* Paths and the guest's uptime are not compared.  */
  dst.guest_uptime_ms = 99;
  ck_assert_int_eq (vm_description_compare (&src, &dst, &err), 0);
  /* Every difference is named, with both values.  */
  replace (&dst.qemu_version, "8.0.0");
  replace (&dst.accel, "kvm");
  replace (&dst.cpu_model, "host");
  dst.cpus = 2;
  dst.memory_mb = 1024;
  replace (&dst.kernel_cmdline, "root=/dev/sda ro");
  strcpy (dst.boot_files[1].sha256, "cc");
  replace (&dst.boot_files[0].name, "vmlinuz");
  dst.network = true;
  ck_assert_int_eq (vm_description_compare (&src, &dst, &err), -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  const char *want[] = {
    "10 problems",
    "qemu_version: source \"7.2.22 Debian 1:7.2+dfsg-7+deb12u18\", "
    "destination \"8.0.0\"",
    "accel: source \"tcg\", destination \"kvm\"",
    "cpu_model: source \"max\", destination \"host\"",
    "cpus: source 1, destination 2",
    "memory_mb: source 512, destination 1024",
    "kernel_cmdline: source \"root=/dev/sda ro -- -e 1 /bin/gcs\", "
    "destination \"root=/dev/sda ro\"",
    "boot file kernel: the destination has none",
    "boot file rootfs.vhd: source sha256 bb (0 bytes), destination sha256 cc",
    "boot file vmlinuz: the source has none",
    "network: the destination VM has the pod's NIC, the source one has none",
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    ck_assert_msg (strstr (err->msg, want[i]) != NULL, "%s\nlacks %s",
                   err->msg, want[i]);
  shim_error_free (err);
  vm_description_release (&src);
  vm_description_release (&dst);
  ck_assert_ptr_null (dst.vmm);
}
END_TEST

START_TEST (qemu_cpus_memory)
{
  struct vmm_spec spec = base_spec ();
  spec.cpus = 7;
  spec.memory_mb = 3072;
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-smp", 0), "7");
  ck_assert_str_eq (opt_value (a, "-m", 0), "3072");
  vmm_command_release (&cmd);
}
END_TEST

START_TEST (qemu_vsock_ports)
{
  struct vmm_spec spec = base_spec ();
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-device", 0),
                    "virtio-serial-device,id=vsock-serial");
  ck_assert_str_eq (opt_value (a, "-chardev", 0),
                    "socket,id=vsock1,path=/run/x/vsock_1");
  ck_assert_str_eq (opt_value (a, "-chardev", 1),
                    "socket,id=vsock109,path=/run/x/vsock_109");
  ck_assert_str_eq (opt_value (a, "-chardev", 2),
                    "socket,id=vsock1073741824,path=/run/x/vsock_1073741824");
  ck_assert_str_eq (opt_value (a, "-device", 2),
                    "virtserialport,bus=vsock-serial.0,chardev=vsock109,"
                    "name=vsock.109");
  vmm_command_release (&cmd);

  /* Migratable: port 109 is not listened on, so it is simply absent.  */
  spec.host_ports = ports2;
  spec.nhost_ports = 2;
  a = build (&vmm_backend_qemu, &spec, &cmd);
  for (size_t i = 0; a[i]; i++)
    ck_assert_msg (strstr (a[i], "109") == NULL, "%s", a[i]);
  ck_assert_ptr_null (opt_value (a, "-chardev", 2));
  vmm_command_release (&cmd);

  spec.nhost_ports = 0;
  a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_ptr_null (opt_value (a, "-chardev", 0));
  /* No serial device without ports; the SCSI controller for container
     disks and the balloon are always there, the balloon last.  */
  ck_assert_str_eq (opt_value (a, "-device", 0),
                    "virtio-scsi-device,id=scsi0");
  ck_assert_str_eq (opt_value (a, "-device", 1),
                    "virtio-balloon-device,free-page-reporting=on");
  ck_assert_ptr_null (opt_value (a, "-device", 2));
  vmm_command_release (&cmd);
}
END_TEST

START_TEST (qemu_vhd_rootfs)
{
  struct vmm_spec spec = base_spec ();
  spec.initrd_path = NULL;
  spec.rootfs_vhd_path = "/boot/rootfs.vhd";
  spec.kernel_cmdline
      = "root=/dev/sda ro rootwait init=/init -- -e 1 /bin/gcs";
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_ptr_null (opt_value (a, "-initrd", 0));
  ck_assert_str_eq (opt_value (a, "-drive", 0),
                    "file=/boot/rootfs.vhd,format=vpc,if=none,id=rootfs,"
                    "readonly=on,cache=none,aio=threads");
  ck_assert_str_eq (opt_value (a, "-device", 4),
                    "virtio-scsi-device,id=scsi0");
  ck_assert_str_eq (opt_value (a, "-device", 5),
                    "scsi-hd,drive=rootfs,bus=scsi0.0,channel=0,scsi-id=0,"
                    "lun=0");
  vmm_command_release (&cmd);

  spec.loader_path = "/boot/loader.img";
  a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-initrd", 0), "/boot/loader.img");
  vmm_command_release (&cmd);

  /* A fixed VHD: raw bytes without the 512-byte footer (the argv the
     migration study migrated).  */
  spec.rootfs_raw_size = 33562624;
  a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-drive", 0),
                    "file=/boot/rootfs.vhd,format=raw,size=33562624,if=none,"
                    "id=rootfs,readonly=on,cache=none,aio=threads");
  vmm_command_release (&cmd);
}
END_TEST

START_TEST (qemu_escaping)
{
  /* Option values split on commas; -kernel and -initrd are verbatim.  */
  struct vmm_spec spec = base_spec ();
  spec.kernel_path = "/b,oot/kernel";
  spec.vsock_uds = "/run/a,b/vsock";
  spec.qmp_socket = "/run/a,b/qmp.sock";
  spec.initrd_path = NULL;
  spec.rootfs_vhd_path = "/b,oot/rootfs.vhd";
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_qemu, &spec, &cmd);
  ck_assert_str_eq (opt_value (a, "-kernel", 0), "/b,oot/kernel");
  ck_assert_str_eq (opt_value (a, "-chardev", 0),
                    "socket,id=vsock1,path=/run/a,,b/vsock_1");
  ck_assert (
      strncmp (opt_value (a, "-drive", 0), "file=/b,,oot/rootfs.vhd,", 24)
      == 0);
  ck_assert_str_eq (opt_value (a, "-qmp", 0),
                    "unix:/run/a,,b/qmp.sock,server=on,wait=off");
  vmm_command_release (&cmd);
}
END_TEST

START_TEST (qemu_needs_a_binary)
{
  struct vmm_spec spec = base_spec ();
  spec.vmm_path = "";
  struct vmm_command cmd = { 0 };
  shim_error *err = NULL;
  ck_assert_int_eq (vmm_backend_qemu.build (&spec, &cmd, &err), -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  shim_error_free (err);
}
END_TEST

static const char *
env_value (char **env, const char *key)
{
  size_t n = strlen (key);
  for (size_t i = 0; env[i]; i++)
    if (strncmp (env[i], key, n) == 0 && env[i][n] == '=')
      return env[i] + n + 1;
  return NULL;
}

START_TEST (exec_environment)
{
  struct vmm_spec spec = base_spec ();
  spec.vmm_path = "/opt/fake-guest";
  char *args[] = { "--logs", "2" };
  spec.vmm_args = args;
  spec.nvmm_args = 2;
  struct vmm_command cmd = { 0 };
  char **a = build (&vmm_backend_exec, &spec, &cmd);
  ck_assert_str_eq (a[0], "/opt/fake-guest");
  ck_assert_str_eq (a[1], "--logs");
  ck_assert_str_eq (a[2], "2");
  ck_assert_ptr_null (a[3]);
  ck_assert_str_eq (env_value (cmd.env, "LCOW_SANDBOX_ID"), "sb1");
  ck_assert_str_eq (env_value (cmd.env, "LCOW_KERNEL_CMDLINE"),
                    spec.kernel_cmdline);
  ck_assert_str_eq (env_value (cmd.env, "LCOW_KERNEL"), "/boot/kernel");
  ck_assert_str_eq (env_value (cmd.env, "LCOW_INITRD"), "/boot/initrd.img");
  ck_assert_ptr_null (env_value (cmd.env, "LCOW_ROOTFS_VHD"));
  ck_assert_str_eq (env_value (cmd.env, "LCOW_CPUS"), "2");
  ck_assert_str_eq (env_value (cmd.env, "LCOW_MEMORY_MB"), "1024");
  ck_assert_str_eq (env_value (cmd.env, "LCOW_VSOCK_UDS"), "/run/x/vsock");
  vmm_command_release (&cmd);
}
END_TEST

/* Who the VMM runs as: a uid per sandbox, a configured one, or root; and
   the helper's argument both ways.  */
START_TEST (vmm_user_identity)
{
  struct shim_config cfg;
  shim_config_defaults (&cfg);
  struct vmm_user u;
  vmm_user_choose (&cfg, "0a0b0cffee", &u);
  ck_assert_uint_eq (u.uid, VMM_USER_UID_BASE + 0x0a0b0c);
  ck_assert_uint_eq (u.gid, u.uid);
  struct vmm_user other;
  vmm_user_choose (&cfg, "0a0b0dffee", &other);
  ck_assert_uint_ne (other.uid, u.uid);
  cfg.vmm_user = VMM_USER_FIXED;
  cfg.vmm_uid = 1000;
  cfg.vmm_gid = 100;
  vmm_user_choose (&cfg, "0a0b0c", &u);
  ck_assert_uint_eq (u.uid, 1000);
  ck_assert_uint_eq (u.gid, 100);
  cfg.vmm_user = VMM_USER_ROOT;
  vmm_user_choose (&cfg, "0a0b0c", &u);
  ck_assert_uint_eq (u.uid, 0);
  ck_assert_uint_eq (u.kvm_gid, 0);
  struct vmm_user p, q = { 2130706433, 2130706433, 993 };
  ck_assert_int_eq (vmm_user_parse_arg (vmm_user_arg (&q), &p), 0);
  ck_assert_uint_eq (p.uid, q.uid);
  ck_assert_uint_eq (p.gid, q.gid);
  ck_assert_uint_eq (p.kvm_gid, 993);
  ck_assert_int_eq (vmm_user_parse_arg ("1:2", &p), -1);
  ck_assert_int_eq (vmm_user_parse_arg ("1:2:3x", &p), -1);
  ck_assert_int_eq (vmm_user_parse_arg ("-1:2:3", &p), -1);
  shim_config_release (&cfg);
}
END_TEST

/* Leases: two live sandboxes never hold one uid (a hash collision takes
   the next free one), a configured uid serves one sandbox at a time, and a
   uid let go serves again.  */
START_TEST (vmm_user_leases)
{
  char dir[] = "/tmp/lcow-unit-leases.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (dir));
  cleanup_free char *locks = xasprintf ("%s/l", dir);
  struct shim_config cfg;
  shim_config_defaults (&cfg);
  struct vmm_user a, b, c;
  struct vmm_user_lease la, lb, lc;
  shim_error *err = NULL;
  ck_assert_int_eq (vmm_user_lease (&cfg, "0a0b0cff", locks, &a, &la, &err),
                    0);
  ck_assert_uint_eq (a.uid, VMM_USER_UID_BASE + 0x0a0b0c);
  ck_assert_int_eq (vmm_user_lease (&cfg, "0a0b0c00", locks, &b, &lb, &err),
                    0);
  ck_assert_uint_eq (b.uid, a.uid + 1);
  ck_assert_uint_eq (b.gid, b.uid);
  vmm_user_lease_release (&la);
  ck_assert_int_eq (la.fd, -1);
  ck_assert_int_eq (vmm_user_lease (&cfg, "0a0b0c11", locks, &c, &lc, &err),
                    0);
  ck_assert_uint_eq (c.uid, a.uid);
  vmm_user_lease_release (&lb);
  vmm_user_lease_release (&lc);
  cfg.vmm_user = VMM_USER_FIXED;
  cfg.vmm_uid = cfg.vmm_gid = 4242;
  ck_assert_int_eq (vmm_user_lease (&cfg, "aa", locks, &a, &la, &err), 0);
  ck_assert_int_eq (vmm_user_lease (&cfg, "bb", locks, &b, &lb, &err), -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert_ptr_nonnull (strstr (err->msg, "vmm_user 4242:4242 is held"));
  shim_error_free (err);
  err = NULL;
  vmm_user_lease_release (&la);
  ck_assert_int_eq (vmm_user_lease (&cfg, "bb", locks, &b, &lb, &err), 0);
  vmm_user_lease_release (&lb);
  cfg.vmm_user = VMM_USER_ROOT;
  ck_assert_int_eq (vmm_user_lease (&cfg, "cc", locks, &c, &lc, &err), 0);
  ck_assert_uint_eq (c.uid, 0);
  ck_assert_int_eq (lc.fd, -1);
  /* Every lock file went with its lease.  */
  ck_assert_int_eq (rmdir (locks), 0);
  ck_assert_int_eq (rmdir (dir), 0);
  shim_config_release (&cfg);
}
END_TEST

/* A VHD footer as the specification lays it out: cookie, disk type,
   current size, checksum (one's complement of the byte sum).  */
static void
make_footer (unsigned char f[VHD_FOOTER_SIZE], uint32_t type, uint64_t size)
{
  memset (f, 0, VHD_FOOTER_SIZE);
  memcpy (f, "conectix", 8);
  for (int i = 0; i < 8; i++)
    f[48 + i] = (unsigned char) (size >> (56 - 8 * i));
  for (int i = 0; i < 4; i++)
    f[60 + i] = (unsigned char) (type >> (24 - 8 * i));
  uint32_t sum = 0;
  for (int i = 0; i < VHD_FOOTER_SIZE; i++)
    sum += f[i];
  sum = ~sum;
  for (int i = 0; i < 4; i++)
    f[64 + i] = (unsigned char) (sum >> (24 - 8 * i));
}

START_TEST (vhd_footers)
{
  unsigned char f[VHD_FOOTER_SIZE];
  struct vhd_info vhd;
  shim_error *err = NULL;
  make_footer (f, VHD_FIXED, 1 << 20);
  ck_assert_int_eq (vhd_footer_parse (f, (1 << 20) + 512, &vhd, &err), 0);
  ck_assert_int_eq (vhd.type, VHD_FIXED);
  ck_assert_uint_eq (vhd.data_size, 1 << 20);
  make_footer (f, VHD_DYNAMIC, 1 << 30);
  ck_assert_int_eq (vhd_footer_parse (f, 70000, &vhd, &err), 0);
  ck_assert_int_eq (vhd.type, VHD_DYNAMIC);
  /* A fixed VHD claiming more than the file holds.  */
  make_footer (f, VHD_FIXED, 1 << 20);
  ck_assert_int_eq (vhd_footer_parse (f, 4096, &vhd, &err), -1);
  ck_assert_str_eq (err->msg, "fixed VHD of 4096 bytes says it holds 1048576");
  shim_error_free (err);
  err = NULL;
  make_footer (f, 7, 0);
  ck_assert_int_eq (vhd_footer_parse (f, 4096, &vhd, &err), -1);
  ck_assert_str_eq (err->msg, "VHD disk type 7 is none of fixed (2), dynamic "
                              "(3) and differencing (4)");
  shim_error_free (err);
  err = NULL;
  make_footer (f, VHD_FIXED, 0);
  f[100] ^= 1;
  ck_assert_int_eq (vhd_footer_parse (f, 4096, &vhd, &err), -1);
  ck_assert (strstr (err->msg, "VHD footer checksum") == err->msg);
  shim_error_free (err);
  err = NULL;
  memcpy (f, "not-a-vhd", 9);
  ck_assert_int_eq (vhd_footer_parse (f, 4096, &vhd, &err), -1);
  ck_assert_str_eq (err->msg, "not a VHD: no \"conectix\" footer");
  shim_error_free (err);
}
END_TEST

/* The probe reads the last 512 bytes of a real file.  */
START_TEST (vhd_probe_file)
{
  char path[] = "/tmp/lcow-vhd-XXXXXX";
  int fd = mkstemp (path);
  ck_assert_int_ge (fd, 0);
  unsigned char f[VHD_FOOTER_SIZE];
  make_footer (f, VHD_FIXED, 8192);
  ck_assert_int_eq (ftruncate (fd, 8192), 0);
  ck_assert_int_eq (pwrite (fd, f, sizeof f, 8192), (ssize_t) sizeof f);
  close (fd);
  struct vhd_info vhd;
  shim_error *err = NULL;
  ck_assert_int_eq (vhd_probe (path, &vhd, &err), 0);
  ck_assert_uint_eq (vhd.data_size, 8192);
  ck_assert_int_eq (truncate (path, 100), 0);
  ck_assert_int_eq (vhd_probe (path, &vhd, &err), -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert (strstr (err->msg, "too short for a VHD footer") != NULL);
  shim_error_free (err);
  unlink (path);
}
END_TEST

/* The pod's memory limit, from a memory hierarchy of a mountinfo: v1's
   limit file, v2's memory.max ("max" is no limit).  */
START_TEST (pod_cgroup_memory_limits)
{
  char root[] = "/tmp/lcow-unit-memcg.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (root));
  char path[512], mountinfo[300];
  snprintf (mountinfo, sizeof mountinfo, "%s/mountinfo", root);
  FILE *f = fopen (mountinfo, "w");
  fprintf (f, "30 1 0:26 / %s/proc rw - proc proc rw\n", root);
  fprintf (f, "31 1 0:27 / %s/v1 rw - cgroup cgroup rw,memory\n", root);
  fclose (f);
  snprintf (path, sizeof path, "mkdir -p %s/v1/kubepods/pod1", root);
  ck_assert_int_eq (system (path), 0);
  snprintf (path, sizeof path, "%s/v1/kubepods/pod1/memory.limit_in_bytes",
            root);
  f = fopen (path, "w");
  fputs ("629145600\n", f);
  fclose (f);
  ck_assert_uint_eq (pod_cgroup_memory_limit (mountinfo, "kubepods/pod1/abc"),
                     629145600u);
  /* Unlimited (v1's page-rounded INT64_MAX), no parent, no file: none.  */
  f = fopen (path, "w");
  fputs ("9223372036854771712\n", f);
  fclose (f);
  ck_assert_uint_eq (pod_cgroup_memory_limit (mountinfo, "kubepods/pod1/abc"),
                     0);
  ck_assert_uint_eq (pod_cgroup_memory_limit (mountinfo, "abc"), 0);
  ck_assert_uint_eq (pod_cgroup_memory_limit (mountinfo, "nope/abc"), 0);
  snprintf (path, sizeof path, "rm -rf %s", root);
  ck_assert_int_eq (system (path), 0);
}
END_TEST

/* linux.cgroupsPath as the kubelet's two drivers write it.  */
START_TEST (pod_cgroup_dirs)
{
  static const struct
  {
    const char *path, *dir;
  } ok[] = {
    { "/kubepods/besteffort/pod1/abc", "kubepods/besteffort/pod1/abc" },
    { "//lcowtest/s1", "lcowtest/s1" },
    { "kubepods-besteffort-pod1.slice:cri-containerd:abc",
      "kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod1.slice/cri-containerd-abc.scope" },
    { "system.slice:docker:x", "system.slice/docker-x.scope" },
    { ":cri:abc", "cri-abc.scope" },
    { "-.slice::abc", "abc.scope" },
    { "a-b.slice:p:c-d.slice", "a.slice/a-b.slice/c-d.slice" },
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    {
      char *dir = NULL;
      shim_error *err = NULL;
      ck_assert_msg (pod_cgroup_dir (ok[i].path, &dir, &err) == 0, "%s: %s",
                     ok[i].path, err ? err->msg : "");
      ck_assert_str_eq (dir, ok[i].dir);
      free (dir);
    }
  static const char *const bad[] = { "/",
                                     "/a/../b",
                                     "/a//b",
                                     "relative/path",
                                     "a:b",
                                     "a.slice:p:n:x",
                                     "a:p:n",
                                     "-a.slice:p:n",
                                     "a--b.slice:p:n",
                                     "a.slice:p:",
                                     "a.slice:p/q:n" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char *dir = NULL;
      shim_error *err = NULL;
      ck_assert_msg (pod_cgroup_dir (bad[i], &dir, &err) == -1, "%s", bad[i]);
      ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
      ck_assert_ptr_null (dir);
      shim_error_free (err);
    }
}
END_TEST

static void
write_text (const char *dir, const char *name, const char *text)
{
  char path[512];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen (path, "w");
  ck_assert_ptr_nonnull (f);
  fputs (text, f);
  fclose (f);
}

static void
read_text (const char *dir, const char *name, char *out, size_t len)
{
  char path[512];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen (path, "r");
  ck_assert_ptr_nonnull (f);
  size_t n = fread (out, 1, len - 1, f);
  out[n] = '\0';
  fclose (f);
}

/* Two processes join a new cpuset cgroup at once (the VMM and its
   virtiofsd): the one that did not make it finds cpus written and mems
   not yet, and inherits both rather than join an empty cpuset (ENOSPC);
   a cpuset already set up (the kubelet's CPU manager) is left alone.  */
START_TEST (pod_cgroup_half_made_cpuset)
{
  char root[] = "/tmp/lcow-unit-cpuset.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (root));
  char mountinfo[600], pod[600], other[600], text[64];
  write_text (root, "cpuset.cpus", "0-1\n");
  write_text (root, "cpuset.mems", "0\n");
  snprintf (pod, sizeof pod, "%s/pod", root);
  ck_assert_int_eq (mkdir (pod, 0755), 0);
  write_text (pod, "cpuset.cpus", "0-1\n");
  write_text (pod, "cpuset.mems", "");
  write_text (pod, "cgroup.procs", "");
  snprintf (other, sizeof other, "%s/pinned", root);
  ck_assert_int_eq (mkdir (other, 0755), 0);
  write_text (other, "cpuset.cpus", "1\n");
  write_text (other, "cpuset.mems", "0\n");
  write_text (other, "cgroup.procs", "");
  snprintf (mountinfo, sizeof mountinfo, "%s/mountinfo", root);
  FILE *f = fopen (mountinfo, "w");
  ck_assert_ptr_nonnull (f);
  fprintf (f, "30 20 0:27 / %s rw,nosuid - cgroup cgroup rw,cpuset\n", root);
  fclose (f);
  shim_error *err = NULL;
  ck_assert_msg (pod_cgroup_join (mountinfo, "pod", &err) == 0, "%s",
                 err ? err->msg : "");
  read_text (pod, "cpuset.mems", text, sizeof text);
  ck_assert_str_eq (text, "0\n");
  ck_assert_int_eq (pod_cgroup_join (mountinfo, "pinned", &err), 0);
  read_text (other, "cpuset.cpus", text, sizeof text);
  ck_assert_str_eq (text, "1\n");
  char cmd[700];
  snprintf (cmd, sizeof cmd, "rm -rf %s", root);
  ck_assert_int_eq (system (cmd), 0);
}
END_TEST

Suite *
vmm_argv_suite (void)
{
  Suite *s = suite_create ("vmm_argv");
  TCase *q = tcase_create ("qemu");
  tcase_add_test (q, qemu_base_machine);
  tcase_add_test (q, vmm_exec_argv_full_placement);
  tcase_add_test (q, qemu_kvm);
  tcase_add_test (q, qemu_incoming);
  tcase_add_test (q, qemu_host_share);
  tcase_add_test (q, vm_descriptions_compared);
  tcase_add_test (q, qemu_cpus_memory);
  tcase_add_test (q, qemu_vsock_ports);
  tcase_add_test (q, qemu_vhd_rootfs);
  tcase_add_test (q, qemu_escaping);
  tcase_add_test (q, qemu_needs_a_binary);
  suite_add_tcase (s, q);
  TCase *e = tcase_create ("exec");
  tcase_add_test (e, exec_environment);
  tcase_add_test (e, vmm_user_identity);
  tcase_add_test (e, vmm_user_leases);
  TCase *v = tcase_create ("vhd and cgroup");
  tcase_add_test (v, vhd_footers);
  tcase_add_test (v, vhd_probe_file);
  tcase_add_test (v, pod_cgroup_dirs);
  tcase_add_test (v, pod_cgroup_half_made_cpuset);
  tcase_add_test (v, pod_cgroup_memory_limits);
  suite_add_tcase (s, v);
  suite_add_tcase (s, e);
  return s;
}
