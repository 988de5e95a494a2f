#!/usr/bin/env bash
# Issue 2: bad configuration and bad input get a clear error naming what is
# wrong, and leave no process, socket or state behind.
source "$(dirname "$0")/lib.sh"
lcow_setup

expect "missing runtime config file is named" \
  refused e1 "shim configuration /nonexistent/lcow.json: open /nonexistent/lcow.json: No such file or directory" \
  --runtime-config-path /nonexistent/lcow.json

echo '{"vmm": "exec", "bogus_key": 1}' >"$T/bad1.json"
expect "unknown config key is named" \
  refused e2 'unknown key "bogus_key"' --runtime-config-path "$T/bad1.json"

echo '{"memory_mb": "lots"}' >"$T/bad2.json"
expect "wrong config type names the key" \
  refused e3 'key "memory_mb": expected an unsigned integer, got string' --runtime-config-path "$T/bad2.json"

echo '{"vmm": ' >"$T/bad3.json"
expect "malformed config JSON is refused" \
  refused e4 "shim configuration $T/bad3.json" --runtime-config-path "$T/bad3.json"

expect "bad annotation value is refused" \
  refused e5 "invalid PreferredRootFSType: bogus" \
  --annotation io.microsoft.virtualmachine.lcow.preferredrootfstype=bogus

mkdir -p "$T/boot-empty"
: >"$T/boot-empty/kernel"
expect "missing boot file is named" \
  refused e6 '"initrd.img" not found in boot files path' \
  --annotation "io.microsoft.virtualmachine.lcow.bootfilesrootpath=$T/boot-empty"

expect "missing boot directory names boot_files_root_path" \
  refused e7 'boot_files_root_path "/nonexistent/boot" does not exist' \
  --annotation io.microsoft.virtualmachine.lcow.bootfilesrootpath=/nonexistent/boot

expect "a boot files directory the configuration does not allow is refused" \
  refused e7b 'bootfilesrootpath: "/etc" is not a boot files directory the shim configuration allows' \
  --annotation io.microsoft.virtualmachine.lcow.bootfilesrootpath=/etc

expect "vPMem is refused" refused e8 "v2 shims do not support vPMem devices" \
  --annotation io.microsoft.virtualmachine.devices.virtualpmem.maximumcount=2

expect "CRI sandbox id without a type is refused" \
  refused e9 "cannot specify 'io.kubernetes.cri.sandbox-id' without 'io.kubernetes.cri.container-type'" \
  --annotation io.kubernetes.cri.sandbox-id=x

expect "unknown CRI container type is refused" \
  refused e10 "invalid 'io.kubernetes.cri.container-type': 'pod'" \
  --annotation io.kubernetes.cri.container-type=pod --annotation io.kubernetes.cri.sandbox-id=x

write_shim_config "$T/nogcs.json" '"vmm_args": ["--no-gcs"]' '"gcs_connection_timeout_ms": 1000'
expect "a guest agent that never connects times out, VMM stopped" \
  refused e11 "the guest agent did not connect to the GCS port (1073741824) within 1000 ms; VMM stopped" \
  --runtime-config-path "$T/nogcs.json"
expect "no fake guest left running" no_fake_guest

write_shim_config "$T/novmm.json" '"vmm_path": "/nonexistent/qemu"'
expect "a missing VMM binary is named" \
  refused e12 "VMM /nonexistent/qemu is not executable" --runtime-config-path "$T/novmm.json"

expect "the shim still works after all that" run_sandbox ok1
expect "ok1 is RUNNING" test "$(task_status ok1)" = RUNNING
kill_and_wait ok1 SIGKILL && remove ok1
expect "clean at the end" all_clean 5
finish
