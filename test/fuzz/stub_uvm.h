/* A stand-in for the UVM (uvm/uvm.h) and the layer conversions
   (uvm/layer_conversion.h), linked instead of them into the Task service
   harness: nothing boots, and every event a real VM would send arrives
   when the harness says, in the order it says.  The stand-in checks the
   contracts the daemon relies on: no callback after uvm_destroy, each
   request answered once, each conversion and disk attach finished once
   unless cancelled.  */
#ifndef LCOW_TEST_FUZZ_STUB_UVM_H
#define LCOW_TEST_FUZZ_STUB_UVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The next uvm_start (and layer_conversion_start) fails at once.  */
void stub_uvm_fail_next_start (bool fail);
void stub_image_fail_next_build (bool fail);

/* The VM's events (nothing happens without a live VM in that state).  */
void stub_uvm_started (bool ok);
void stub_uvm_exited (int64_t status);
void stub_uvm_notify_exit (uint32_t process, uint32_t status);
void stub_uvm_stream (uint32_t process, uint8_t stream, const uint8_t *bytes,
                      size_t len);
void stub_uvm_credit (uint32_t process, uint32_t n);
/* Answers the oldest request: a response with pid, or the guest's error.  */
void stub_uvm_reply (bool ok, uint32_t pid);
void stub_uvm_finish_attach (bool ok);
void stub_image_finish_build (bool ok);
/* Live migration: the call waiting for the VM is answered (a description,
   the adopted bridge, the source's VMM quitting), or a transfer ends
   (completed, or failed).  */
void stub_uvm_migration_step (bool ok);

/* Nothing of the stand-in's is left (between inputs).  */
bool stub_uvm_idle (void);

#endif
