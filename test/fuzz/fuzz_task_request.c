/* libFuzzer: the Task API request messages the shim decodes.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>

#include "runtimeoptions.pb-c.h"
#include "task.pb-c.h"

#define TRY(type, fn)                                                         \
  do                                                                          \
    {                                                                         \
      type *m = fn##__unpack (NULL, size, data);                              \
      if (m != NULL)                                                          \
        fn##__free_unpacked (m, NULL);                                        \
    }                                                                         \
  while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  TRY (Pb__CreateTaskRequest, pb__create_task_request);
  TRY (Pb__KillRequest, pb__kill_request);
  TRY (Pb__ExecProcessRequest, pb__exec_process_request);
  TRY (Pb__ResizePtyRequest, pb__resize_pty_request);
  TRY (Pb__WaitRequest, pb__wait_request);
  TRY (Pb__RuntimeOptions, pb__runtime_options);
  return 0;
}
