/* libFuzzer: the shim's own Task service driven end to end.  Each input is
   a script: Task API and Migration calls (built from the input's bytes, sent
   as ttrpc frames over a socketpair to the real server and handlers)
   interleaved with what a VM would do (the stand-in of stub_uvm.h: the boot
   ends, the VM exits, the guest answers or fails a request, reports a process
   exit, sends output; an image build or a disk attach finishes).  After the
   script the service is closed as the daemon closes it, and the loop must
   be empty: every handle closed, every VM and image job let go of.  */
#include "test/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/event_publisher.h"
#include "daemon/migration_service.h"
#include "daemon/task_service.h"
#include "daemon/ttrpc_server.h"
#include "proto/base/file_io.h"
#include "proto/base/log.h"
#include "proto/oci_spec.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "proto/pb_pack.h"
#include "proto/ttrpc_frame.h"
#include "migration.pb-c.h"
#include "runtimeoptions.pb-c.h"
#include "task.pb-c.h"
#include "test/fuzz/stub_uvm.h"
#include "ttrpc.pb-c.h"

/* ---- the world the calls refer to (made once) --------------------------- */

enum bundle
{
  B_SANDBOX,
  B_MIGRATABLE,
  B_STANDALONE,
  B_CONTAINER,
  B_CONTAINER_DIR_MOUNT,
  B_CONTAINER_OTHER_POD,
  B_INCOMING,
  B_ADOPTING,
  B_COUNT,
};

/* What the host requires of a container's namespaces (see
   policy/namespace_policy.h).  */
#define PID_NS "\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}"

static const char *const bundle_specs[B_COUNT] = {
  [B_SANDBOX]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/pause\"]},"
    "\"root\":{\"path\":\"rootfs\"},\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"sandbox\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\"}}",
  [B_MIGRATABLE]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/pause\"]},"
    "\"root\":{\"path\":\"rootfs\"},\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"sandbox\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\","
    "\"io.microsoft.migration.allowed\":\"true\"}}",
  [B_STANDALONE]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":"
    "[\"/bin/sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"}," PID_NS "}",
  [B_CONTAINER]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/bin/sh\"],"
    "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"}," PID_NS
    ",\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\"}}",
  [B_CONTAINER_DIR_MOUNT]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/bin/sh\"],"
    "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"},\"mounts\":[{"
    "\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv\","
    "\"options\":[\"rbind\"]}]," PID_NS ",\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\"}}",
  [B_CONTAINER_OTHER_POD]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/bin/sh\"]},"
    "\"root\":{\"path\":\"rootfs\"},\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.sandbox-id\":\"other\"}}",
  [B_INCOMING]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/pause\"]},"
    "\"root\":{\"path\":\"rootfs\"},\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"sandbox\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\","
    "\"io.microsoft.migration.allowed\":\"true\","
    "\"io.containerd.lcow.migration.incoming\":\"true\"}}",
  [B_ADOPTING]
  = "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/bin/sh\"],"
    "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"}," PID_NS
    ",\"annotations\":{"
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.sandbox-id\":\"s\","
    "\"io.containerd.lcow.migration.source-container\":\"c1\"}}",
};

static const char *const task_ids[] = { "s", "c0", "c1", "c2", "solo" };
/* The stub images' digest (stub_uvm.c), and B_ADOPTING's process's.  */
#define HEX64_ZERO                                                            \
  "0000000000000000000000000000000000000000000000000000000000000000"
static char adopting_digest[65];
static const char *const exec_ids[] = { "", "e0", "e1" };

static char root[64];
static char bundles[B_COUNT][96];
static char config_path[96];

static void
write_text (const char *path, const char *text)
{
  FILE *f = fopen (path, "we");
  if (f == NULL || fputs (text, f) == EOF || fclose (f) != 0)
    abort ();
}

static void
remove_world (void)
{
  remove_tree (root);
}

static void
make_world (void)
{
  snprintf (root, sizeof root, "/tmp/fuzz-task-service.XXXXXX");
  if (mkdtemp (root) == NULL)
    abort ();
  atexit (remove_world);
  char path[160], text[512];
  snprintf (path, sizeof path, "%s/boot", root);
  mkdir (path, 0755);
  snprintf (path, sizeof path, "%s/boot/kernel", root);
  write_text (path, "");
  snprintf (path, sizeof path, "%s/boot/initrd.img", root);
  write_text (path, "");
  snprintf (config_path, sizeof config_path, "%s/shim.json", root);
  snprintf (text, sizeof text,
            "{\"vmm\": \"exec\", \"vmm_path\": \"/bin/true\", "
            "\"boot_files_root_path\": \"%s/boot\"}",
            root);
  write_text (config_path, text);
  for (int b = 0; b < B_COUNT; b++)
    {
      snprintf (bundles[b], sizeof bundles[b], "%s/bundle%d", root, b);
      mkdir (bundles[b], 0755);
      snprintf (path, sizeof path, "%s/rootfs", bundles[b]);
      mkdir (path, 0755);
      snprintf (path, sizeof path, "%s/config.json", bundles[b]);
      write_text (path, bundle_specs[b]);
    }
  struct oci_spec *adopting = NULL;
  shim_error *err = NULL;
  if (oci_spec_parse (bundle_specs[B_ADOPTING],
                      strlen (bundle_specs[B_ADOPTING]), &adopting, &err)
      < 0)
    abort ();
  migration_process_digest (adopting->process, adopting_digest);
  oci_spec_free (adopting);
  /* The daemon's log is part of what runs; its output is wanted only to
     read a crash (FUZZ_LOG=1).  */
  log_set_fd (getenv ("FUZZ_LOG") ? dup (2) : -1);
  log_set_level (LOG_LEVEL_DEBUG);
}

/* ---- the script --------------------------------------------------------- */

struct script
{
  const uint8_t *data;
  size_t size, at;
};

static uint8_t
next (struct script *s)
{
  return s->at < s->size ? s->data[s->at++] : 0;
}

struct harness
{
  uv_loop_t loop;
  struct ttrpc_server *server;
  struct task_service *tasks;
  struct event_publisher *events;
  int client;
  uint32_t next_stream;
  int closing_parts;
};

static void
on_shutdown (void *data)
{
  (void) data; /* the daemon would stop; the script goes on */
}

/* Runs the loop until the script's last step has had its effect: the
   requests in flight (pod files read on the thread pool, replies written)
   are finished, so that an input always does the same.  */
static void
pump (struct harness *h)
{
  uv_run (&h->loop, UV_RUN_NOWAIT);
  for (int i = 0; i < 1000 && h->loop.active_reqs.count > 0; i++)
    uv_run (&h->loop, UV_RUN_ONCE);
  uint8_t buf[65536];
  while (read (h->client, buf, sizeof buf) > 0)
    ;
}

static void
send_frame (struct harness *h, const uint8_t *body, size_t len)
{
  strbuf frame = STRBUF_INIT;
  ttrpc_frame_append (&frame, h->next_stream, TTRPC_TYPE_REQUEST, 0, body,
                      len);
  h->next_stream += 2;
  size_t off = 0;
  while (off < frame.len)
    {
      ssize_t n = write (h->client, frame.data + off, frame.len - off);
      if (n > 0)
        off += (size_t) n;
      else if (n < 0 && errno != EAGAIN)
        break;
      else
        pump (h);
    }
  strbuf_release (&frame);
  pump (h);
}

static void
call_service (struct harness *h, const char *service, const char *method,
              const ProtobufCMessage *msg)
{
  Pb__Request req = PB__REQUEST__INIT;
  req.service = (char *) service;
  req.method = (char *) method;
  if (msg != NULL)
    req.payload = pb_pack (msg);
  ProtobufCBinaryData body = pb_pack (&req.base);
  send_frame (h, body.data, body.len);
  free (body.data);
  free (req.payload.data);
}

static void
call (struct harness *h, const char *method, const ProtobufCMessage *msg)
{
  call_service (h, "containerd.task.v2.Task", method, msg);
}

/* A request whose payload is the script's next bytes, undecoded.  */
static void
call_raw (struct harness *h, struct script *s, const char *method)
{
  size_t len = next (s) % 32;
  Pb__Request req = PB__REQUEST__INIT;
  req.service = "containerd.task.v2.Task";
  req.method = (char *) method;
  req.payload.data = (uint8_t *) s->data + s->at;
  req.payload.len = s->at + len <= s->size ? len : s->size - s->at;
  s->at += req.payload.len;
  ProtobufCBinaryData body = pb_pack (&req.base);
  send_frame (h, body.data, body.len);
  free (body.data);
}

static void
create (struct harness *h, struct script *s)
{
  uint8_t b = next (s);
  Pb__RuntimeOptions ro = PB__RUNTIME_OPTIONS__INIT;
  ro.config_path = config_path;
  Pb__Any options = PB__ANY__INIT;
  options.type_url = "containerd.runc.v1.runtimeoptions.v1.Options";
  options.value = pb_pack (&ro.base);
  Pb__CreateTaskRequest r = PB__CREATE_TASK_REQUEST__INIT;
  r.id = (char *) task_ids[next (s) % 5];
  r.bundle = bundles[b % B_COUNT];
  r.terminal = b & 0x80;
  r.stdin = r.stdout = r.stderr = "";
  r.options = &options;
  if (b & 0x40)
    r.checkpoint = "/checkpoint";
  call (h, "Create", &r.base);
  free (options.value.data);
}

static void
task_call (struct harness *h, struct script *s, uint8_t op)
{
  char *id = (char *) task_ids[next (s) % 5];
  char *exec = (char *) exec_ids[next (s) % 3];
  switch (op)
    {
    case 0:
      {
        Pb__StartRequest r = PB__START_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        call (h, "Start", &r.base);
        break;
      }
    case 1:
      {
        Pb__StateRequest r = PB__STATE_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        call (h, "State", &r.base);
        break;
      }
    case 2:
      {
        Pb__WaitRequest r = PB__WAIT_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        call (h, "Wait", &r.base);
        break;
      }
    case 3:
      {
        Pb__KillRequest r = PB__KILL_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        r.signal = next (s) % 70;
        r.all = next (s) & 1;
        call (h, "Kill", &r.base);
        break;
      }
    case 4:
      {
        Pb__DeleteRequest r = PB__DELETE_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        call (h, "Delete", &r.base);
        break;
      }
    case 5:
      {
        Pb__PidsRequest r = PB__PIDS_REQUEST__INIT;
        r.id = id;
        call (h, "Pids", &r.base);
        break;
      }
    case 6:
      {
        Pb__StatsRequest r = PB__STATS_REQUEST__INIT;
        r.id = id;
        call (h, "Stats", &r.base);
        break;
      }
    case 7:
      {
        Pb__Any spec = PB__ANY__INIT;
        spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/"
                        "Process";
        static const char process[] = "{\"args\":[\"/bin/ls\"],\"cwd\":\"/\"}";
        spec.value.data = (uint8_t *) process;
        spec.value.len = (next (s) & 1) ? sizeof process - 1 : 3;
        Pb__ExecProcessRequest r = PB__EXEC_PROCESS_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        r.stdin = r.stdout = r.stderr = "";
        r.terminal = next (s) & 1;
        r.spec = (next (s) & 3) ? &spec : NULL;
        call (h, "Exec", &r.base);
        break;
      }
    case 8:
      {
        Pb__CloseIORequest r = PB__CLOSE_IOREQUEST__INIT;
        r.id = id, r.exec_id = exec;
        r.stdin = true;
        call (h, "CloseIO", &r.base);
        break;
      }
    case 9:
      {
        Pb__ResizePtyRequest r = PB__RESIZE_PTY_REQUEST__INIT;
        r.id = id, r.exec_id = exec;
        r.width = next (s), r.height = next (s);
        call (h, "ResizePty", &r.base);
        break;
      }
    case 10:
      {
        Pb__ConnectRequest r = PB__CONNECT_REQUEST__INIT;
        r.id = id;
        call (h, "Connect", &r.base);
        break;
      }
    case 11:
      {
        Pb__ShutdownRequest r = PB__SHUTDOWN_REQUEST__INIT;
        r.id = id;
        call (h, "Shutdown", &r.base);
        break;
      }
    default:
      {
        static const char *const others[]
            = { "Update", "Pause", "Resume", "Checkpoint", "Create", "Kill" };
        call_raw (h, s, others[next (s) % 6]);
        break;
      }
    }
}

/* The Migration service: each method with ids and payloads from the
   script (the handover's bytes too).  */
static void
migration_call (struct harness *h, struct script *s, uint8_t op)
{
  char *id = (char *) task_ids[next (s) % 5];
  const char *svc = "lcow.migration.v1.Migration";
  switch (op)
    {
    case 0:
      {
        Pb__ExportRequest r = PB__EXPORT_REQUEST__INIT;
        r.id = id;
        call_service (h, svc, "Export", &r.base);
        break;
      }
    case 1:
      {
        Pb__BootFile f = PB__BOOT_FILE__INIT;
        f.name = "kernel";
        f.sha256 = "00";
        Pb__BootFile *files[] = { &f, &f, &f, &f, &f };
        Pb__VmDescription vm = PB__VM_DESCRIPTION__INIT;
        vm.vmm = "qemu";
        vm.accel = "tcg";
        vm.memory_mb = (next (s) & 1) ? 512 : 1024;
        vm.n_boot_files = next (s) % 6;
        vm.boot_files = files;
        /* Source containers: c1 with B_ADOPTING's process or not, the
           stub images' digest or not, the first target or not.  */
        Pb__Disk layer = PB__DISK__INIT;
        layer.scsi_target = 1 + next (s) % 3;
        layer.sha256 = (next (s) & 1) ? "sha256:" HEX64_ZERO : "sha256:00";
        Pb__Disk *layers[] = { &layer };
        Pb__Container c[2] = { PB__CONTAINER__INIT, PB__CONTAINER__INIT };
        Pb__Container *cs[] = { &c[0], &c[1] };
        for (int i = 0; i < 2; i++)
          {
            c[i].id = (char *) task_ids[1 + (next (s) + i) % 4];
            c[i].guest_id = c[i].id;
            c[i].process_key = 1 + next (s) % 4;
            c[i].process_digest = adopting_digest;
            c[i].n_layers = next (s) % 2;
            c[i].layers = layers;
          }
        Pb__ImportRequest r = PB__IMPORT_REQUEST__INIT;
        r.id = id;
        r.source = (next (s) & 3) ? &vm : NULL;
        r.n_containers = next (s) % 3;
        r.containers = cs;
        r.next_process_key = next (s) % 8;
        call_service (h, svc, "Import", &r.base);
        break;
      }
    case 2:
      {
        Pb__TransferRequest r = PB__TRANSFER_REQUEST__INIT;
        r.id = id;
        r.uri = "unix:/stub/migration_0";
        call_service (h, svc, "Transfer", &r.base);
        break;
      }
    case 3:
      {
        Pb__ProgressRequest r = PB__PROGRESS_REQUEST__INIT;
        r.id = id;
        call_service (h, svc, "Progress", &r.base);
        break;
      }
    case 4:
      {
        Pb__BridgeHandover ho = PB__BRIDGE_HANDOVER__INIT;
        size_t len = next (s) % 32;
        ho.inbound_tail.data = (uint8_t *) s->data + s->at;
        ho.inbound_tail.len = s->at + len <= s->size ? len : s->size - s->at;
        s->at += ho.inbound_tail.len;
        ho.next_request_id = next (s);
        Pb__StreamHandover st = PB__STREAM_HANDOVER__INIT;
        st.process_key = next (s) % 4;
        st.stdin_unacked = (uint32_t) next (s) << 16;
        st.stdin_closed = next (s) & 1;
        Pb__StreamHandover *sts[] = { &st, &st };
        Pb__QueuedExit ex = PB__QUEUED_EXIT__INIT;
        ex.process_key = next (s) % 4;
        ex.status = next (s);
        Pb__QueuedExit *exs[] = { &ex, &ex };
        ho.n_streams = next (s) % 3;
        ho.streams = sts;
        ho.n_exits = next (s) % 3;
        ho.exits = exs;
        Pb__FinalizeRequest r = PB__FINALIZE_REQUEST__INIT;
        r.id = id;
        r.handover = (next (s) & 1) ? &ho : NULL;
        call_service (h, svc, "Finalize", &r.base);
        break;
      }
    case 5:
      {
        Pb__PrepareRequest r = PB__PREPARE_REQUEST__INIT;
        r.id = id;
        call_service (h, svc, "Prepare", &r.base);
        break;
      }
    default:
      {
        Pb__CancelRequest r = PB__CANCEL_REQUEST__INIT;
        r.id = id;
        call_service (h, svc, "Cancel", &r.base);
        break;
      }
    }
}

static void
vm_event (struct harness *h, struct script *s, uint8_t op)
{
  uint8_t arg = next (s);
  switch (op)
    {
    case 0:
      stub_uvm_started (arg & 1);
      break;
    case 1:
      stub_uvm_exited (arg);
      break;
    case 2:
      stub_uvm_notify_exit (arg % 8, next (s));
      break;
    case 3:
      {
        uint8_t bytes[64] = { 0 };
        stub_uvm_stream (arg % 8, 1 + (next (s) & 1), bytes,
                         next (s) % sizeof bytes);
        break;
      }
    case 4:
      stub_uvm_credit (arg % 8, next (s));
      break;
    case 5:
      stub_uvm_reply (arg & 1, 100 + (arg >> 1));
      break;
    case 6:
      stub_uvm_finish_attach (arg & 1);
      break;
    case 7:
      stub_image_finish_build (arg & 1);
      break;
    case 8:
      stub_uvm_fail_next_start (arg & 1);
      break;
    case 9:
      stub_uvm_migration_step (arg & 1);
      break;
    default:
      stub_image_fail_next_build (arg & 1);
      break;
    }
  pump (h);
}

static void
on_part_closed (void *data)
{
  struct harness *h = data;
  h->closing_parts--;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool made;
  if (!made)
    {
      make_world ();
      made = true;
    }
  struct harness h = { .next_stream = 1 };
  int sv[2];
  if (uv_loop_init (&h.loop) != 0
      || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort ();
  h.client = sv[0];
  fcntl (h.client, F_SETFL, O_NONBLOCK);
  h.events
      = event_publisher_new (&h.loop, "/nonexistent/containerd.sock", "fuzz");
  struct task_service_config c = {
    .loop = &h.loop,
    .ns = "fuzz",
    .self_exe = "/bin/true",
    .state_root = root,
    .events = h.events,
    .on_shutdown = on_shutdown,
  };
  h.tasks = task_service_new (&c);
  struct ttrpc_server_limits lim = { 64, 1 << 20 };
  h.server = ttrpc_server_new (&h.loop, &lim);
  task_service_register (h.tasks, h.server);
  migration_service_register (h.tasks, h.server);
  shim_error *err = NULL;
  if (ttrpc_server_adopt_conn (h.server, sv[1], &err) < 0)
    abort ();

  struct script s = { data, size, 0 };
  for (int steps = 0; s.at < s.size && steps < 200; steps++)
    {
      uint8_t op = next (&s);
      if (op < 48)
        create (&h, &s);
      else if (op < 140)
        task_call (&h, &s, (uint8_t) ((op - 48) % 13));
      else if (op < 160)
        migration_call (&h, &s, (uint8_t) ((op - 140) % 7));
      else
        vm_event (&h, &s, (uint8_t) ((op - 160) % 11));
    }

  /* As the daemon stops: the service, then the server and the publisher.  */
  task_service_close (h.tasks);
  h.closing_parts = 2;
  ttrpc_server_close (h.server, on_part_closed, &h);
  event_publisher_close (h.events, 0, on_part_closed, &h);
  close (h.client);
  while (h.closing_parts > 0 && uv_run (&h.loop, UV_RUN_ONCE) != 0)
    ;
  uv_run (&h.loop, UV_RUN_DEFAULT);
  if (h.closing_parts != 0 || uv_loop_close (&h.loop) != 0
      || !stub_uvm_idle ())
    abort (); /* something outlived the service */
  stub_uvm_fail_next_start (false);
  stub_image_fail_next_build (false);
  return 0;
}
