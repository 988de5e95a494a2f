# containerd-shim-lcow-v2: plain Makefile.
#
#   make            build bin/containerd-shim-lcow-v2
#   make deps       install the Debian packages the build and tests need
#   make check      every test (unit, sanitizers, valgrind, fuzz smoke, containerd integration)
#   make demo       a private containerd drives the shim through real UVMs
#   make bootfiles  kernel (built once per machine), initrd.img and rootfs.vhd
#                   under build/bootfiles; bootfiles-debian: Debian's kernel
#   make fuzz       libFuzzer harnesses (clang)
#   make bench      benchmarks (not part of check)

SHELL := /bin/bash
CC ?= cc
CFLAGS ?= -O2 -g
BUILD ?= build
BINDIR ?= bin
PREFIX ?= /usr/local

PKGS := libuv libprotobuf-c yajl
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-std=gnu11
DEPFLAGS = -MMD -MP
ALL_CFLAGS = $(WARN) $(CFLAGS) -D_GNU_SOURCE -I. -I$(BUILD)/gen \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

PROTOS := $(wildcard proto/*.proto)
GEN_C := $(PROTOS:proto/%.proto=$(BUILD)/gen/proto/%.pb-c.c)
GEN_H := $(GEN_C:.c=.h)
# One source list per layer, and per wing of uvm/ (docs/architecture.md).
PROTO_SRCS := $(wildcard proto/*.c proto/base/*.c)
POLICY_SRCS := $(wildcard policy/*.c)
UVM_WINGS := config helper vmm bridge vsock storage share podnet migration
UVM_CORE_SRCS := $(wildcard uvm/*.c)
UVM_WING_SRCS := $(foreach w,$(UVM_WINGS),$(wildcard uvm/$(w)/*.c))
DAEMON_SRCS := $(wildcard daemon/*.c)
LIB_SRCS := $(PROTO_SRCS) $(POLICY_SRCS) $(UVM_WING_SRCS) $(UVM_CORE_SRCS) \
  $(DAEMON_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(GEN_C:%.c=%.o)
SHIM := $(BINDIR)/containerd-shim-lcow-v2
TEST_GUEST := $(BUILD)/test/fake-guest

# Debian packages: build, tests, QEMU boot files and the integration tests.
DEB_PACKAGES := build-essential pkg-config libuv1-dev libprotobuf-c-dev \
	protobuf-c-compiler libyajl-dev libseccomp-dev check containerd runc clang \
	libclang-rt-14-dev clang-format clang-tidy cppcheck shellcheck valgrind qemu-system-x86 qemu-utils cpio e2fsprogs erofs-utils busybox-static \
	python3 python3-grpcio procps iproute2 util-linux containernetworking-plugins \
	linux-source-6.1 xz-utils bc bison flex libelf-dev libssl-dev patch

.PHONY: all deps check unit-test integration-test demo clean install \
	bootfiles bootfiles-debian fuzz fuzz-lib fuzz-smoke bench bench-deps format format-check lint \
	asan-check valgrind-check integration-containerd2

all: $(SHIM) $(TEST_GUEST)

# install-missing PACKAGES: apt-get only what is not installed yet.
define install-missing
	@missing=$$(for p in $(1); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing; \
	else echo "all Debian packages present: $(1)" | cut -c1-60; fi
endef

deps:
	$(call install-missing,$(DEB_PACKAGES))

GEN_STAMP := $(BUILD)/gen/proto/.stamp
$(GEN_STAMP): $(PROTOS)
	@mkdir -p $(BUILD)/gen/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen/proto $(PROTOS)
	@touch $@
$(GEN_C) $(GEN_H): $(GEN_STAMP)
.SECONDARY: $(GEN_C) $(GEN_H)

# Generated code is not ours: compile it without -Wextra's pickiness.
$(BUILD)/gen/proto/%.pb-c.o: $(BUILD)/gen/proto/%.pb-c.c
	$(CC) $(CFLAGS) -I$(BUILD)/gen/proto -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/gen/proto $(DEPFLAGS) -c -o $@ $<

$(BUILD)/liblcow.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The shim is linked statically by default: no dynamic loading at start (a
# few ms per start action) and no shared-library pages in its RSS; its text
# pages are still shared between the shims of a node through the page
# cache.  The sanitizer builds link dynamically (LINK=dynamic).
LINK ?= static
STATIC_LIBS := -luv_a -lprotobuf-c -lyajl_s -lpthread -ldl -lrt -lm
# glibc warns that libuv's getpwuid_r (never called) wants NSS at run time.
LINK_FILTER := grep -v "getpwuid_r\|statically linked applications" || true

$(SHIM): $(BUILD)/obj/cmd/containerd-shim-lcow-v2/main.o $(BUILD)/liblcow.a
	@mkdir -p $(dir $@)
ifeq ($(LINK),static)
	set -o pipefail; $(CC) $(CFLAGS) -static -o $@ $^ $(STATIC_LIBS) 2>&1 | { $(LINK_FILTER); }
else
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
endif

# Guest-side code shared by the guest programs and the test guest: plain C,
# no libuv, the frame codec from proto/.
GUEST_IO := uvm/guest/guest_io.c proto/ttrpc_frame.c proto/base/strbuf.c proto/base/xalloc.c

$(TEST_GUEST): test/fake_guest.c $(GUEST_IO)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -I. -o $@ $< $(GUEST_IO)

# ---- guest programs and boot files --------------------------------------
# Static, always built with the plain toolchain (never the sanitizers):
# they run as the UVM's init and agent.
GUEST_DIR := build/guest
GUEST_PROGS := $(GUEST_DIR)/init $(GUEST_DIR)/vsockexec $(GUEST_DIR)/gcs
GUEST_LIB := uvm/guest/guest_port.c $(GUEST_IO)
# A container in the guest, one concern per file (container_private.h).
CONTAINER_SRCS := uvm/guest/container.c uvm/guest/container_disks.c \
  uvm/guest/container_files.c uvm/guest/container_mounts.c \
  uvm/guest/container_process.c uvm/guest/container_resources.c
# The agent's own code, with the shim's JSON, error and OCI spec readers.
AGENT_SRCS := uvm/guest/agent.c uvm/guest/agent_log.c $(CONTAINER_SRCS) \
  uvm/guest/capabilities.c uvm/guest/sysctl.c policy/sysctl_policy.c \
  uvm/guest/pid_namespace.c \
  uvm/guest/pod_namespaces.c uvm/guest/rootfs_path.c \
  uvm/guest/seccomp_profile.c uvm/guest/device_filter.c \
  uvm/guest/cgroup_resources.c uvm/guest/network.c proto/base/rtnl.c \
  proto/base/go_parse.c \
  proto/base/fd_pass.c \
  uvm/guest/held_process.c \
  uvm/guest/bridge_request.c proto/base/json.c proto/base/json_reader.c proto/base/error.c \
  proto/oci_spec.c proto/base/file_io.c proto/mount_options.c
GUEST_COMMON := $(GUEST_LIB) uvm/bridge/bridge_protocol.h $(AGENT_SRCS) \
  $(wildcard $(GUEST_LIB:.c=.h) $(AGENT_SRCS:.c=.h) uvm/guest/*.h)
BOOTFILES := build/bootfiles
# Debian's cloud kernel with its modules: selectable (boot_files_root_path),
# and measured beside the project's kernel by make bench.
BOOTFILES_DEBIAN := build/bootfiles-debian
KERNEL_INPUTS := uvm/guest/kernel/lcow.config uvm/guest/kernel/build-kernel.sh

$(GUEST_DIR)/gcs: GUEST_EXTRA := $(AGENT_SRCS) -lseccomp
$(GUEST_DIR)/%: uvm/guest/%.c $(GUEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -D_GNU_SOURCE -I. -I/usr/include/yajl -static -o $@ $< \
	  $(GUEST_LIB) $(GUEST_EXTRA) -lyajl_s

bootfiles: $(BOOTFILES)/.stamp
$(BOOTFILES)/.stamp: $(GUEST_PROGS) uvm/guest/build-bootfiles.sh $(KERNEL_INPUTS)
	uvm/guest/build-bootfiles.sh $(BOOTFILES) $(GUEST_DIR) build/cache own
	@touch $@
bootfiles-debian: $(BOOTFILES_DEBIAN)/.stamp
$(BOOTFILES_DEBIAN)/.stamp: $(GUEST_PROGS) uvm/guest/build-bootfiles.sh
	uvm/guest/build-bootfiles.sh $(BOOTFILES_DEBIAN) $(GUEST_DIR) build/cache debian
	@touch $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

clean:
	rm -rf build bin

# ---- tests -------------------------------------------------------------
UNIT_SRCS := $(wildcard test/unit/*.c)
# The guest's pure request decoder is tested with the host's encoder.
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o) \
  $(BUILD)/obj/uvm/guest/bridge_request.o $(BUILD)/obj/uvm/guest/capabilities.o \
  $(BUILD)/obj/uvm/guest/seccomp_profile.o \
  $(BUILD)/obj/uvm/guest/device_filter.o $(BUILD)/obj/uvm/guest/cgroup_resources.o \
  $(BUILD)/obj/uvm/guest/guest_io.o $(BUILD)/obj/uvm/guest/network.o \
  $(BUILD)/obj/uvm/guest/rootfs_path.o
UNIT_BIN := $(BUILD)/test/unit-tests
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
INTEGRATION_TESTS := $(sort $(wildcard test/integration/test_*.sh))
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
SAN_BUILD := build/asan

$(UNIT_BIN): $(UNIT_OBJS) $(BUILD)/liblcow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS) -lseccomp

unit-test: $(UNIT_BIN) $(TEST_GUEST)
	$(UNIT_BIN)

# The guest agent and vsockexec for the host, with ASan and UBSan, for
# the integration tests that run them outside a VM (the agent's container
# setup replaced by test/guest_host_containers.c).
GUEST_ASAN := $(BUILD)/test/guest-asan
GUEST_ASAN_PROGS := $(GUEST_ASAN)/gcs $(GUEST_ASAN)/vsockexec
$(GUEST_ASAN)/gcs: GUEST_ASAN_EXTRA := \
  $(filter-out $(CONTAINER_SRCS),$(AGENT_SRCS)) test/guest_host_containers.c -lseccomp
$(GUEST_ASAN)/%: uvm/guest/%.c $(GUEST_COMMON) test/guest_host_containers.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(SAN_FLAGS) -D_GNU_SOURCE -I. -I/usr/include/yajl -o $@ $< \
	  $(GUEST_LIB) $(GUEST_ASAN_EXTRA) -lyajl

# Each script starts its own private containerd; run as root.
integration-test: $(SHIM) $(TEST_GUEST) $(GUEST_ASAN_PROGS) bootfiles
	@set -e; fails=0; for t in $(INTEGRATION_TESTS); do \
	  echo "== $$t"; started=$$(date +%s); \
	  SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	    BOOTFILES_DIR=$(abspath $(BOOTFILES)) \
	    timeout 600 bash $$t || fails=$$((fails + 1)); \
	  echo "== $$t: $$(( $$(date +%s) - started )) s"; \
	done; \
	echo "integration ($(BUILD)): $$fails script(s) failed"; test $$fails -eq 0

# The scripts that exercise containerd's contract, run against containerd
# 2.x (its bin/ first on PATH; the scripts write the version 3 config it
# expects) where it is: CONTAINERD2_BIN, else the shared tools' build of
# 2.1.5 next to the checkout.  Where it is absent: skipped saying so, or,
# with CONTAINERD1_FALLBACK set, run on the containerd on PATH.
CONTAINERD2_BIN ?= $(firstword $(wildcard $(CURDIR)/../shared/tools/containerd-2.1/bin \
  /work/shared/tools/containerd-2.1/bin))
CONTAINERD2_TESTS := $(addprefix test/integration/,test_lifecycle.sh \
  test_containers.sh test_cri.sh test_faults.sh test_layers.sh \
  test_live_migration_containers.sh)
integration-containerd2:
	@if [ -x "$(CONTAINERD2_BIN)/containerd" ]; then \
	  echo "integration (containerd 2): $$($(CONTAINERD2_BIN)/containerd --version)"; \
	  PATH="$(CONTAINERD2_BIN):$$PATH" $(MAKE) integration-test \
	    INTEGRATION_TESTS="$(CONTAINERD2_TESTS)"; \
	elif [ -n "$(CONTAINERD1_FALLBACK)" ]; then \
	  echo "integration (containerd 2): absent (set CONTAINERD2_BIN to its bin/): on $$(containerd --version)"; \
	  $(MAKE) integration-test INTEGRATION_TESTS="$(CONTAINERD2_TESTS)"; \
	else \
	  echo "integration (containerd 2): skipped: no containerd 2.x (set CONTAINERD2_BIN to its bin/)"; \
	fi

# The unit and integration suites again, built with ASan + UBSan.  Every
# script runs once on containerd 1.6 in the plain build; here the contract's
# scripts run on containerd 2.x (where present), so each containerd drives
# each of them once without a third pass over the suite.
SAN_MAKE = BUILD=$(SAN_BUILD) BINDIR=$(SAN_BUILD)/bin CFLAGS="$(SAN_FLAGS)" LINK=dynamic
asan-check:
	$(MAKE) $(SAN_MAKE) unit-test
	$(MAKE) $(SAN_MAKE) integration-test \
	  INTEGRATION_TESTS="$(filter-out $(CONTAINERD2_TESTS),$(INTEGRATION_TESTS))"
	$(MAKE) $(SAN_MAKE) integration-containerd2 CONTAINERD1_FALLBACK=1

valgrind-check: $(UNIT_BIN)
	CK_FORK=no valgrind --quiet --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect $(UNIT_BIN)

demo: deps
	$(MAKE) all bootfiles
	SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) bash test/demo.sh

# The binary and the boot files, where the built-in defaults look for them.
install: all bootfiles
	install -D -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/bin/containerd-shim-lcow-v2
	install -d $(DESTDIR)$(PREFIX)/share/containerd-shim-lcow-v2/bootfiles
	install -m 0644 $(BOOTFILES)/kernel $(BOOTFILES)/kernel.acpi \
	  $(BOOTFILES)/kernel.cmdline $(BOOTFILES)/initrd.img $(BOOTFILES)/rootfs.vhd \
	  $(DESTDIR)$(PREFIX)/share/containerd-shim-lcow-v2/bootfiles/
	install -d -m 0700 $(DESTDIR)/var/lib/containerd-shim-lcow-v2/layers
	install -D -m 0644 man/containerd-shim-lcow-v2.8 \
	  $(DESTDIR)$(PREFIX)/share/man/man8/containerd-shim-lcow-v2.8

# ---- fuzzing ----------------------------------------------------------------
# libFuzzer harnesses (clang), the library rebuilt with the fuzzer's coverage
# and ASan + UBSan in build/fuzz.  Seeds live in test/fuzz/corpus/<name>/.
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
FUZZERS := $(patsubst test/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 15

fuzz-lib:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang \
	  CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/liblcow.a

# The guest's pure bridge code is compiled into its harness; the whole
# agent into its own, with the host stand-in for its containers.
$(FUZZ_BUILD)/fuzz_bridge_guest: EXTRA_FUZZ_SRCS := uvm/guest/bridge_request.c
$(FUZZ_BUILD)/fuzz_agent: EXTRA_FUZZ_SRCS := -DGUEST_HOST_NO_EXEC \
  uvm/guest/agent.c uvm/guest/agent_log.c uvm/guest/bridge_request.c \
  uvm/guest/held_process.c uvm/guest/guest_io.c test/guest_host_containers.c \
  uvm/guest/cgroup_resources.c uvm/guest/network.c \
  -lpthread
$(FUZZ_BUILD)/fuzz_oci_policy: EXTRA_FUZZ_SRCS := uvm/guest/device_filter.c \
  uvm/guest/seccomp_profile.c uvm/guest/cgroup_resources.c \
  uvm/guest/guest_io.c -lseccomp
# The Task service's harness links the UVM stand-in instead of uvm/uvm*.c.
$(FUZZ_BUILD)/fuzz_task_service: EXTRA_FUZZ_SRCS := test/fuzz/stub_uvm.c
$(FUZZ_BUILD)/fuzz_%: test/fuzz/fuzz_%.c fuzz-lib
	clang $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE -I. \
	  -I$(FUZZ_BUILD)/gen/proto $(shell pkg-config --cflags $(PKGS)) \
	  -o $@ $< $(EXTRA_FUZZ_SRCS) $(FUZZ_BUILD)/liblcow.a $(LIBS)

fuzz: $(FUZZERS)

# Each harness over its seeds, then FUZZ_SECONDS of new inputs.
fuzz-smoke: fuzz
	@set -e; for f in $(FUZZERS); do \
	  name=$$(basename $$f); corpus=$(FUZZ_BUILD)/corpus/$$name; \
	  mkdir -p $$corpus; cp -n test/fuzz/corpus/$$name/* $$corpus/ 2>/dev/null || true; \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    $$corpus 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; \
	  test $${PIPESTATUS[0]} -eq 0; \
	done

# ---- benchmarks (not part of check) ----------------------------------------
# containerd's Go ttrpc client, built offline from Debian's Go sources.
BENCH_PACKAGES := golang-go golang-github-containerd-ttrpc-dev \
	golang-github-containerd-containerd-dev gnuplot-nox
BENCH_DIR := $(BUILD)/bench

bench-deps: deps
	$(call install-missing,$(BENCH_PACKAGES))

$(BENCH_DIR)/ttrpc-bench: test/bench/ttrpc_bench.go
	@mkdir -p $(dir $@)
	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(abspath $(BUILD))/gocache \
	  go build -o $@ $<

$(BENCH_DIR)/policy-bench: test/bench/policy_bench.c $(BUILD)/liblcow.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/gen/proto -o $@ $< $(BUILD)/liblcow.a $(LIBS)

# The same shim linked dynamically, for the memory and start comparison.
$(BENCH_DIR)/dynamic/containerd-shim-lcow-v2: $(BUILD)/obj/cmd/containerd-shim-lcow-v2/main.o $(BUILD)/liblcow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BENCH_DIR)/rootfs/pause: test/bench/pause.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -static -o $@ $<

bench: bench-deps
	$(MAKE) all bootfiles $(BENCH_DIR)/ttrpc-bench $(BENCH_DIR)/policy-bench \
	  $(BENCH_DIR)/rootfs/pause $(BENCH_DIR)/dynamic/containerd-shim-lcow-v2
	SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) BENCH_DIR=$(abspath $(BENCH_DIR)) \
	  CFLAGS_USED="$(CFLAGS)" bash test/bench/run.sh
	@# The project's kernel beside Debian's (issue 32): host PSS per idle pod
	@# and after a container, then 20 TCG boots idle and 20 with one core
	@# kept busy (relaunches, p50, p99).
	$(MAKE) bootfiles-debian
	set -o pipefail; : >$(BENCH_DIR)/tcg_boot_load.txt; : >$(BENCH_DIR)/density.txt; \
	for k in $(BOOTFILES) $(BOOTFILES_DEBIAN); do \
	  label=$$(basename $$k); \
	  SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	    BOOTFILES_DIR=$(abspath $$k) OUT=$(abspath $(BENCH_DIR))/density-$$label.json \
	    bash test/bench/pod_density.sh 2 | grep -v '^time=' | tee -a $(BENCH_DIR)/density.txt; \
	  for burners in 0 1; do \
	    echo "$$label, $$burners busy core(s):" | tee -a $(BENCH_DIR)/tcg_boot_load.txt; \
	    SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	      BOOTFILES_DIR=$(abspath $$k) EXTRA_CONF='"accel": "tcg"' \
	      bash test/bench/tcg_boot_load.sh 20 $$burners | tee -a $(BENCH_DIR)/tcg_boot_load.txt; \
	  done; \
	done
	SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) BENCH_DIR=$(abspath $(BENCH_DIR)) \
	  bash test/bench/network_bench.sh
	@# Container start against image size, with runc-v2 (issue 17).
	set -o pipefail; SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) OUT=$(abspath $(BENCH_DIR))/layers.json \
	  bash test/bench/layers_bench.sh | grep -v '^time=' | tee $(BENCH_DIR)/layers.txt
	@# A host directory through virtio-fs against the guest's own tmpfs (issue 19).
	set -o pipefail; SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) OUT=$(abspath $(BENCH_DIR))/host_share.json \
	  bash test/bench/host_share_bench.sh | grep -v '^time=' | tee $(BENCH_DIR)/host_share.txt
	@# Live migration of idle 512 MiB and 1 GiB sandboxes (issue 18).
	set -o pipefail; SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) OUT=$(abspath $(BENCH_DIR))/migration.json \
	  bash test/bench/migration_bench.sh 5 | grep -v '^time=' | tee $(BENCH_DIR)/migration.txt
	@# The pod volume sync's loop time with 50 and 100 containers (issue 27).
	set -o pipefail; SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  bash test/bench/volume_sync_bench.sh | grep -v '^time=' | tee $(BENCH_DIR)/volume_sync.txt
	@# The longest event-loop iteration over a pod's life, with and without a
	@# pod network (issue 28).
	set -o pipefail; SHIM_BIN_DIR=$(abspath $(BINDIR)) BUILD_DIR=$(abspath $(BUILD)) \
	  BOOTFILES_DIR=$(abspath $(BOOTFILES)) BENCH_DIR=$(abspath $(BENCH_DIR)) \
	  bash test/bench/loop_stall_bench.sh | grep -v '^time=' | tee $(BENCH_DIR)/loop_stall.txt

# ---- style and static analysis ------------------------------------------
FORMAT_FILES = $(shell git ls-files '*.c' '*.h')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	bash test/format_check.sh

# cppcheck reads the generated protobuf-c headers with the library's version
# macros defined (it does not read system headers); clang-tidy runs a
# bugprone set, the checked conversions of cert-err34-c and
# misc-redundant-expression.  Findings are errors; a NOLINT says why.
CPPCHECK_FLAGS := -q --std=c11 --enable=warning,performance,portability \
	--error-exitcode=1 --inline-suppr --suppress=missingIncludeSystem \
	-D_GNU_SOURCE -DPROTOBUF_C__BEGIN_DECLS= -DPROTOBUF_C__END_DECLS= \
	-DPROTOBUF_C_VERSION_NUMBER=1004001 -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000
TIDY_CHECKS := -*,bugprone-*,-bugprone-easily-swappable-parameters,$\
	-bugprone-reserved-identifier,-bugprone-narrowing-conversions,$\
	-bugprone-assignment-in-if-condition,-bugprone-macro-parentheses,$\
	-bugprone-implicit-widening-of-multiplication-result,cert-err34-c,$\
	misc-redundant-expression
TIDY_SRCS = $(LIB_SRCS) $(wildcard cmd/*/*.c uvm/guest/*.c)

# Every shell script of the repository (.shellcheckrc says what is off, and why).
SHELL_SCRIPTS = $(shell git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './build/*')

lint: $(GEN_STAMP)
	cppcheck $(CPPCHECK_FLAGS) -I. -I$(BUILD)/gen/proto -j2 cmd daemon proto policy uvm
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
	  $(TIDY_SRCS) -- -std=gnu11 -D_GNU_SOURCE -I. -I$(BUILD)/gen \
	  -I$(BUILD)/gen/proto $(shell pkg-config --cflags $(PKGS))
	shellcheck -x $(SHELL_SCRIPTS)
	bash test/layering_check.sh
	$(MAKE) $(LIB_OBJS)
	python3 test/call_circles_check.py $(BUILD)/obj $(filter $(BUILD)/obj/%,$(LIB_OBJS))
	@echo "lint: cppcheck, clang-tidy, shellcheck, the layering rules and the call graph found nothing"

check: deps
	$(MAKE) format-check lint
	$(MAKE) all unit-test
	$(MAKE) valgrind-check
	$(MAKE) integration-test
	$(MAKE) asan-check
	$(MAKE) fuzz-smoke
	@echo "make check: all suites passed"
