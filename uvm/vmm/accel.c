#include "accel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/json.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

#define VERDICT_MAX_BYTES 8192

static const char *const verdict_names[] = {
  [KVM_UNKNOWN] = "unknown",
  [KVM_WORKS] = "works",
  [KVM_BROKEN] = "broken",
};

int
accel_choose (enum accel_mode mode, int kvm_errno,
              const struct host_verdict *verdict, struct accel_choice *out,
              shim_error **err)
{
  *out = (struct accel_choice){ 0 };
  switch (mode)
    {
    case ACCEL_TCG:
      out->reason = xstrdup ("accel \"tcg\" in the shim configuration");
      return 0;
    case ACCEL_KVM:
      if (kvm_errno != 0)
        return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                               "accel \"kvm\" in the shim configuration, but "
                               "/dev/kvm cannot be opened: %s",
                               strerror (kvm_errno));
      out->kvm = true;
      out->on_trial = verdict->kvm != KVM_WORKS;
      out->reason = xstrdup ("accel \"kvm\" in the shim configuration");
      return 0;
    case ACCEL_AUTO:
      break;
    }
  if (kvm_errno != 0)
    out->reason = xasprintf ("/dev/kvm: %s", strerror (kvm_errno));
  else if (verdict->kvm == KVM_BROKEN)
    out->reason = xasprintf ("host verdict: %s", verdict->reason);
  else if (verdict->kvm == KVM_WORKS)
    {
      out->kvm = true;
      out->may_fall_back = true;
      out->reason = xasprintf ("host verdict: %s", verdict->reason);
    }
  else
    {
      out->kvm = out->on_trial = out->may_fall_back = true;
      out->reason = xstrdup ("/dev/kvm opens; no guest has run under KVM on "
                             "this host yet (this boot is the test)");
    }
  return 0;
}

void
accel_choice_release (struct accel_choice *c)
{
  free (c->reason);
  c->reason = NULL;
}

int
accel_kvm_errno (void)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return errno;
  close (fd);
  return 0;
}

/* ---- host verdict --------------------------------------------------- */

/* What the verdict depends on: this boot, the KVM modules as loaded (a
   reload makes new sysfs nodes) and the QEMU binary.  */
static char *
host_identity (const char *vmm_path)
{
  strbuf sb = STRBUF_INIT;
  char *boot_id = NULL;
  size_t len = 0;
  if (read_file_capped (-1, "/proc/sys/kernel/random/boot_id", 64, &boot_id,
                        &len, NULL)
      == 0)
    strbuf_printf (&sb, "boot=%.*s", (int) strcspn (boot_id, "\n"), boot_id);
  free (boot_id);
  struct utsname u;
  if (uname (&u) == 0)
    strbuf_printf (&sb, " kernel=%s", u.release);
  DIR *d = opendir ("/sys/module");
  if (d != NULL)
    {
      struct dirent *e;
      while ((e = readdir (d)) != NULL)
        if (strncmp (e->d_name, "kvm", 3) == 0)
          strbuf_printf (&sb, " %s:%llu", e->d_name,
                         (unsigned long long) e->d_ino);
      closedir (d);
    }
  struct stat st;
  if (stat (vmm_path, &st) == 0)
    strbuf_printf (&sb, " vmm=%llu:%llu:%lld", (unsigned long long) st.st_dev,
                   (unsigned long long) st.st_ino, (long long) st.st_mtime);
  return strbuf_detach (&sb);
}

char *
host_verdict_path (const char *state_root, const char *vmm_path)
{
  char hex[2 * SHA256_DIGEST_LEN + 1];
  sha256_hex (vmm_path, strlen (vmm_path), hex);
  return xasprintf ("%s/accel-%.16s.json", state_root, hex);
}

char *
host_verdict_format (const char *host_id, enum kvm_verdict kvm,
                     const char *reason)
{
  strbuf sb = STRBUF_INIT;
  strbuf_puts (&sb, "{\"host\": ");
  strbuf_json_string (&sb, host_id, strlen (host_id));
  strbuf_printf (&sb, ", \"kvm\": \"%s\", \"reason\": ", verdict_names[kvm]);
  strbuf_json_string (&sb, reason, strlen (reason));
  strbuf_puts (&sb, "}\n");
  return strbuf_detach (&sb);
}

int
host_verdict_parse (const char *text, size_t len, const char *host_id,
                    struct host_verdict *out)
{
  static const struct json_limits limits = { 4, 4 * VERDICT_MAX_BYTES };
  *out = (struct host_verdict){ KVM_UNKNOWN, NULL };
  json_value *root = json_parse (text, len, &limits, NULL);
  if (root == NULL)
    return -1;
  const char *host = json_get_string (root, "host");
  const char *kvm = json_get_string (root, "kvm");
  const char *reason = json_get_string (root, "reason");
  int r = -1;
  if (host != NULL && kvm != NULL && reason != NULL)
    {
      r = 0;
      if (strcmp (host, host_id) != 0)
        ; /* made for another boot, module or binary */
      else if (strcmp (kvm, verdict_names[KVM_WORKS]) == 0)
        out->kvm = KVM_WORKS;
      else if (strcmp (kvm, verdict_names[KVM_BROKEN]) == 0)
        out->kvm = KVM_BROKEN;
      else
        r = -1;
      if (out->kvm != KVM_UNKNOWN)
        out->reason = xstrdup (reason);
    }
  json_free (root);
  return r;
}

void
host_verdict_load (const char *state_root, const char *vmm_path,
                   struct host_verdict *out)
{
  *out = (struct host_verdict){ KVM_UNKNOWN, NULL };
  cleanup_free char *path = host_verdict_path (state_root, vmm_path);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_file_capped (-1, path, VERDICT_MAX_BYTES, &text, &len, NULL) < 0)
    return;
  cleanup_free char *id = host_identity (vmm_path);
  /* A malformed file is no verdict: the next boot makes a new one.  */
  host_verdict_parse (text, len, id, out);
}

int
host_verdict_store (const char *state_root, const char *vmm_path,
                    enum kvm_verdict kvm, const char *reason, shim_error **err)
{
  cleanup_free char *path = host_verdict_path (state_root, vmm_path);
  cleanup_free char *id = host_identity (vmm_path);
  cleanup_free char *text = host_verdict_format (id, kvm, reason);
  if (mkdir_p (state_root, 0700, err) < 0
      || write_file_atomic (path, text, strlen (text), err) < 0)
    return shim_error_wrap (err, "record the KVM verdict in %s", path);
  return 0;
}

void
host_verdict_release (struct host_verdict *v)
{
  free (v->reason);
  v->reason = NULL;
}
