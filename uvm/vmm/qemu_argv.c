/* The QEMU backend's command line: a microvm (no PCI, matching pci=off)
   with virtio-mmio devices, the kernel command line passed through
   untouched (auto-kernel-cmdline=off), each listened-on vsock port carried
   by a virtio-serial port wired to the shim's hybrid <uds>_<port> socket,
   and rootfs.vhd read-only on virtio-scsi (the guest's /dev/sda): a fixed
   VHD as raw bytes, a dynamic one with the vpc driver.  Pure.  */
#include <stdlib.h>
#include <string.h>

#include "uvm/bridge/bridge_protocol.h"
#include "proto/base/xalloc.h"
#include "vmm.h"

struct argv_builder
{
  char **v;
  size_t n, cap;
};

static void
add (struct argv_builder *b, char *owned)
{
  if (b->n + 2 > b->cap)
    {
      b->cap = b->cap ? b->cap * 2 : 32;
      b->v = xrealloc (b->v, b->cap * sizeof (char *));
    }
  b->v[b->n++] = owned;
  b->v[b->n] = NULL;
}

static void
add2 (struct argv_builder *b, const char *opt, char *owned_value)
{
  add (b, xstrdup (opt));
  add (b, owned_value);
}

/* QEMU option values separate with commas; a comma inside is doubled.  */
static char *
qemu_escape (const char *s)
{
  size_t n = 0;
  for (const char *p = s; *p; p++)
    n += *p == ',' ? 2 : 1;
  char *out = xmalloc (n + 1), *o = out;
  for (const char *p = s; *p; p++)
    {
      *o++ = *p;
      if (*p == ',')
        *o++ = ',';
    }
  *o = '\0';
  return out;
}

/* The machine, its memory and CPUs, and what it boots.  */
static void
add_machine (struct argv_builder *b, const struct vmm_spec *spec)
{
  /* A virtio-fs share needs guest RAM virtiofsd can map: a shared memfd.
     A kernel without ACPI gets a machine without: the MP table, the PIT
     and PIC, the virtio-mmio transports on IRQs 5-12.  */
  add2 (
      b, "-machine",
      xasprintf ("microvm,pcie=off,isa-serial=off,auto-kernel-cmdline=off%s%s",
                 spec->acpi_off ? ",acpi=off" : "",
                 spec->share_socket ? ",memory-backend=mem" : ""));
  if (spec->kvm)
    add2 (b, "-accel", xstrdup ("kvm"));
  else if (spec->tcg_tb_size_mb > 0)
    add2 (b, "-accel", xasprintf ("tcg,tb-size=%u", spec->tcg_tb_size_mb));
  else
    add2 (b, "-accel", xstrdup ("tcg"));
  if (spec->share_socket != NULL)
    {
      add2 (b, "-object",
            xasprintf ("memory-backend-memfd,id=mem,size=%lluM,share=on",
                       (unsigned long long) spec->memory_mb));
      /* virtiofsd (libvhost-user) serves modern virtio only; microvm's
         virtio-mmio transports are legacy unless told otherwise.  */
      add2 (b, "-global", xstrdup ("virtio-mmio.force-legacy=false"));
    }
  add2 (b, "-cpu", xstrdup (spec->kvm ? "host" : "max"));
  add2 (b, "-smp", xasprintf ("%u", spec->cpus));
  add2 (b, "-m", xasprintf ("%llu", (unsigned long long) spec->memory_mb));
  /* -kernel and -initrd take the path verbatim (no option parsing).  */
  add2 (b, "-kernel", xstrdup (spec->kernel_path));
  if (spec->initrd_path != NULL)
    add2 (b, "-initrd", xstrdup (spec->initrd_path));
  else if (spec->rootfs_vhd_path != NULL && spec->loader_path != NULL)
    add2 (b, "-initrd", xstrdup (spec->loader_path));
  add2 (b, "-append", xstrdup (spec->kernel_cmdline));
}

/* Pages the guest frees go back to the host: its kernel reports free
   blocks and QEMU discards them.  Added last, so it takes the last
   virtio-mmio transport handed out (transports go from IRQ 12 down; a
   fifth device would share IRQ 8 with the RTC): a guest without the
   driver (Debian's kernel loads none) leaves the device idle.  */
static void
add_balloon (struct argv_builder *b)
{
  add2 (b, "-device",
        xstrdup ("virtio-balloon-device,free-page-reporting=on"));
}

/* The guest's vsock ports, as virtio-serial ports on the host's sockets.  */
static void
add_vsock_ports (struct argv_builder *b, const struct vmm_spec *spec)
{
  if (spec->nhost_ports > 0)
    add2 (b, "-device", xstrdup ("virtio-serial-device,id=vsock-serial"));
  for (size_t i = 0; i < spec->nhost_ports; i++)
    {
      uint32_t port = spec->host_ports[i];
      char *path = qemu_escape (spec->vsock_uds);
      add2 (b, "-chardev",
            xasprintf ("socket,id=vsock%u,path=%s_%u", port, path, port));
      free (path);
      add2 (b, "-device",
            xasprintf ("virtserialport,bus=vsock-serial.0,chardev=vsock%u,"
                       "name=vsock.%u",
                       port, port));
    }
}

/* The SCSI controller (container root filesystems are hot-added to it)
   and the rootfs VHD on it.  */
static void
add_disks (struct argv_builder *b, const struct vmm_spec *spec)
{
  add2 (b, "-device", xstrdup ("virtio-scsi-device,id=scsi0"));
  if (spec->rootfs_vhd_path == NULL)
    return;
  char *vhd = qemu_escape (spec->rootfs_vhd_path);
  /* A fixed VHD as raw bytes without its footer: the vpc driver blocks
     migration.  */
  char *format = spec->rootfs_raw_size > 0
                     ? xasprintf ("raw,size=%llu",
                                  (unsigned long long) spec->rootfs_raw_size)
                     : xstrdup ("vpc");
  add2 (b, "-drive",
        xasprintf ("file=%s,format=%s,if=none,id=rootfs,readonly=on,"
                   "cache=none,aio=threads",
                   vhd, format));
  free (format);
  free (vhd);
  add2 (b, "-device",
        xstrdup ("scsi-hd,drive=rootfs,bus=scsi0.0,channel=0,scsi-id=0,"
                 "lun=0"));
}

/* The pod's NIC, the host directory share, the QMP sockets.  */
static void
add_host_links (struct argv_builder *b, const struct vmm_spec *spec)
{
  if (spec->nic_mac != NULL)
    {
      add2 (b, "-netdev", xasprintf ("tap,id=net0,fd=%d", VMM_TAP_FD));
      add2 (b, "-device",
            xasprintf ("virtio-net-device,netdev=net0,mac=%s", spec->nic_mac));
    }
  if (spec->share_socket != NULL)
    {
      char *path = qemu_escape (spec->share_socket);
      add2 (b, "-chardev", xasprintf ("socket,id=share,path=%s", path));
      free (path);
      add2 (b, "-device",
            xstrdup (
                "vhost-user-fs-device,chardev=share,tag=" BRIDGE_SHARE_TAG));
    }
  const char *qmp[] = { spec->qmp_socket, spec->qmp_operator_socket };
  for (size_t i = 0; i < sizeof qmp / sizeof *qmp; i++)
    if (qmp[i] != NULL)
      {
        char *q = qemu_escape (qmp[i]);
        add2 (b, "-qmp", xasprintf ("unix:%s,server=on,wait=off", q));
        free (q);
      }
}

static int
qemu_build (const struct vmm_spec *spec, struct vmm_command *out,
            shim_error **err)
{
  if (spec->vmm_path == NULL || *spec->vmm_path == '\0')
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "no QEMU binary configured (vmm_path)");
  struct argv_builder b = { 0 };
  add (&b, xstrdup (spec->vmm_path));
  add2 (&b, "-name", xasprintf ("lcow-%s", spec->sandbox_id));
  add (&b, xstrdup ("-nodefaults"));
  add (&b, xstrdup ("-no-user-config"));
  /* Seccomp: no obsolete system calls, no set*id, no fork or exec, no
     scheduler or affinity changes (QEMU 7.2's deny options).  */
  add2 (&b, "-sandbox",
        xstrdup ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                 "resourcecontrol=deny"));
  add2 (&b, "-display", xstrdup ("none"));
  /* A guest reboot (panic=-1) stops the VM, as HCS StopOnReset does.  */
  add (&b, xstrdup ("-no-reboot"));
  add_machine (&b, spec);
  add_vsock_ports (&b, spec);
  add_disks (&b, spec);
  add_host_links (&b, spec);
  add_balloon (&b);
  /* A live migration's destination: the VM's state comes over QMP's
     migrate-incoming, to a VM with the same shape.  */
  if (spec->incoming)
    {
      add (&b, xstrdup ("-incoming"));
      add (&b, xstrdup ("defer"));
    }
  out->argv = b.v;
  out->env = xzalloc (sizeof (char *));
  return 0;
}

const struct vmm_backend vmm_backend_qemu = {
  .name = "qemu",
  .transport = VSOCK_TRANSPORT_HYBRID,
  .stop_via_guest = true,
  .qmp = true,
  .accelerated = true,
  .reads_vhd = true,
  .nic = true,
  .build = qemu_build,
};
