# pymac: eBPF tracer of CPython's memory machinery.
# make            build .output/pymac
# make setup      install every dependency (Debian packages), build, install, then
#                 start the Docker engine and build the containers' image
# make install    install pymac into $(DESTDIR)$(PREFIX)/bin (PREFIX=/usr/local) with
#                 its file capabilities; CAPS= installs it without any
# make deps       only install the dependencies
# make test       run the whole test suite: unit + integration, then the
#                 ASan/UBSan pass (unit tests, fuzz corpus, chosen integration tests)
# make test SANITIZE=1   only the ASan/UBSan pass (build in .output-san)
# make bench      run the benchmarks and print figures
# make vmlinux    regenerate vmlinux/vmlinux.h from the running kernel's BTF
# make run-modules MODULES="test_baseline.py ..." RUN_ARGS="--debug"
#                 start the engine, build the image once, then `pymac run` the
#                 demonstration modules, each in its own container, traced
# V=1             show the commands

.DEFAULT_GOAL := all
# SANITIZE=1: everything built with ASan and UBSan, apart from the plain build.
ifeq ($(SANITIZE),1)
OUTPUT := .output-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS := -O1 -g $(SAN_FLAGS)
else
OUTPUT := .output
endif
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
PKG_CONFIG ?= pkg-config

CFLAGS ?= -O2 -g
PYMAC_VERSION := 0.1.0
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -DPYMAC_VERSION=\"$(PYMAC_VERSION)\" -I$(OUTPUT) -Iuser -Ibpf
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3 -Wall -Werror \
	-Ivmlinux -Ibpf -I/usr/include/x86_64-linux-gnu
LDLIBS := -lbpf -lelf -ldw -ldebuginfod -lz -ljson-c -lcapstone -lncursesw -lpthread -lm

BPF_SRCS := $(sort $(wildcard bpf/*.bpf.c))
# common.bpf.o first: libbpf 1.1 links extern maps only to a definition it has already seen.
BPF_OBJS := $(OUTPUT)/bpf/common.bpf.o $(filter-out $(OUTPUT)/bpf/common.bpf.o,$(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS)))
BPF_HDRS := $(wildcard bpf/*.h)
USER_SRCS := $(sort $(wildcard user/*/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
LIB_OBJS := $(filter-out $(OUTPUT)/user/cmd/main.o,$(USER_OBJS))
USER_HDRS := $(wildcard user/*/*.h)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
FIXTURE_SRCS := $(sort $(wildcard tests/fixtures/*.c))
FIXTURE_BINS := $(patsubst tests/fixtures/%.c,$(OUTPUT)/fixtures/%,$(FIXTURE_SRCS))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# The engine and the image are what `pymac run` and the container tests
# need; a machine without them still gets pymac.
setup: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory install
	$(Q)(sh scripts/docker-setup.sh && sh scripts/build-image.sh) || \
		echo "setup: no Docker engine or image; pymac run needs them (scripts/docker-setup.sh, scripts/build-image.sh)"

# Install: the binary (self-contained: the BPF object is in it) and the
# documentation. The capabilities are what record, live and ps need for
# every target (docs/reliability.md, "What each command needs"); setcap
# replaces a file's set, so it is the whole list. They are not set under
# DESTDIR (a staged tree or a package: its installer sets them, and a copy
# drops them anyway) nor when setcap is missing; each case says so.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DOCDIR ?= $(PREFIX)/share/doc/pymac
CAPS ?= cap_sys_admin,cap_sys_ptrace,cap_dac_read_search+ep
SETCAP ?= setcap
INSTALL ?= install

install: $(OUTPUT)/pymac
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/pymac)
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR)
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/pymac $(DESTDIR)$(BINDIR)/pymac
	$(Q)$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	$(Q)if [ -z "$(CAPS)" ]; then \
		echo "install: no file capabilities set (CAPS is empty): run pymac as root"; \
	elif [ -n "$(DESTDIR)" ]; then \
		echo "install: capabilities not set under DESTDIR; after copying, run: setcap $(CAPS) $(BINDIR)/pymac"; \
	elif ! command -v $(SETCAP) >/dev/null 2>&1; then \
		echo "install: $(SETCAP) not found (Debian: libcap2-bin); pymac runs as root only; or: setcap $(CAPS) $(BINDIR)/pymac"; \
	else \
		$(SETCAP) $(CAPS) $(DESTDIR)$(BINDIR)/pymac && \
		echo "install: $(BINDIR)/pymac has $(CAPS): anyone who may run it can trace any process"; \
	fi

uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/pymac
	$(Q)rm -rf $(DESTDIR)$(DOCDIR)

.PHONY: setup all clean deps install uninstall test unit unit-bins integration bench vmlinux fixtures format run-modules soak reliability
.DELETE_ON_ERROR:

all: $(OUTPUT)/pymac fixtures

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/fixtures:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) vmlinux/vmlinux.h | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# All families are linked into one object so that they share the ring
# buffer, the target filter and the counters.
$(OUTPUT)/pymac.bpf.o: $(BPF_OBJS) | $(OUTPUT)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/pymac.skel.h: $(OUTPUT)/pymac.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name pymac_bpf > $@

$(OUTPUT)/user/%.o: user/%.c $(USER_HDRS) $(BPF_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Only the files that load the BPF object include its skeleton (directly or
# through attach/probes_impl.h); they are rebuilt when it changes.
SKEL_USERS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(shell grep -l 'probes_impl.h\|pymac.skel.h' $(USER_SRCS)))
$(SKEL_USERS): $(OUTPUT)/pymac.skel.h

$(OUTPUT)/pymac: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Each unit test links only the pieces it tests (TEST_OBJS_<name>), so a
# test builds even while an unrelated piece does not.
TEST_OBJS_test_trace := feed/record.o feed/feed.o trace/codec.o trace/chunk.o trace/writer.o trace/reader.o util/outfile.o util/msg.o
TEST_OBJS_test_rotate := feed/record.o trace/codec.o trace/chunk.o trace/writer.o trace/reader.o trace/rotate.o util/outfile.o util/msg.o
TEST_OBJS_test_elf := attach/elf_inspect.o attach/elf_notes.o attach/elf_dwarf.o attach/elf_code.o attach/elf_tables.o attach/sites.o attach/pycode.o
TEST_OBJS_test_debuginfo := attach/debuginfo.o attach/elf_inspect.o attach/elf_notes.o attach/elf_dwarf.o attach/targets.o attach/targets_files.o attach/procmaps.o util/fileio.o util/words.o
TEST_OBJS_test_procmaps := attach/procmaps.o util/fileio.o
TEST_OBJS_test_summary := feed/record.o model/ledger.o model/ledger_books.o model/procstats.o views/summary.o views/summary_text.o views/summary_json.o views/event_print.o util/json.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o
TEST_LIBS_test_summary := -ljson-c
TEST_OBJS_test_sampling := feed/record.o model/ledger.o model/ledger_books.o model/procstats.o views/summary.o views/summary_text.o views/summary_json.o views/event_print.o util/json.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o
TEST_LIBS_test_sampling := -ljson-c
TEST_OBJS_test_timeline := feed/record.o model/ledger.o model/ledger_books.o model/timeline.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o
TEST_OBJS_test_prom := feed/record.o model/ledger.o model/ledger_books.o model/timeline.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o views/prom.o
TEST_OBJS_test_record := feed/consumer.o feed/record.o
TEST_OBJS_test_tui := feed/record.o model/ledger.o model/ledger_books.o model/timeline.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o views/tui.o views/tui_draw.o views/lines.o
TEST_OBJS_test_containers := attach/containers.o attach/containers_json.o attach/containers_docker.o attach/containers_podman.o attach/containers_cgroup2.o attach/containers_run.o util/json.o util/fileio.o
TEST_OBJS_test_run_modules := cmd/run_modules.o
TEST_LIBS_test_containers := -ljson-c
TEST_OBJS_test_export := feed/record.o model/ledger.o model/ledger_books.o model/export_series.o export/export_chrome.o export/export_csv.o views/event_print.o util/json.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o
TEST_OBJS_test_sites := attach/sites.o
TEST_OBJS_test_footprint := model/footprint.o
TEST_OBJS_test_outfile := util/outfile.o
TEST_OBJS_test_words := util/words.o
TEST_OBJS_test_ledger := feed/record.o model/ledger.o model/ledger_books.o model/intern.o model/pidindex.o model/footprint.o util/hashmap.o
.SECONDEXPANSION:
$(OUTPUT)/tests/%: tests/unit/%.c $$(addprefix $(OUTPUT)/user/,$$(TEST_OBJS_$$*)) $(USER_HDRS) $(wildcard tests/unit/*.h) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(addprefix $(OUTPUT)/user/,$(TEST_OBJS_$*)) $(LDLIBS) $(TEST_LIBS_$*) -lcmocka -o $@

# Test fixtures: small C programs with known behaviour (USDT notes, exact
# malloc counts). Built without optimisation so every call stays a call.
$(OUTPUT)/fixtures/%: tests/fixtures/%.c | $(OUTPUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O0 -g -Wall -Wextra -Werror $< -o $@

fixtures: $(FIXTURE_BINS)

unit: $(UNIT_BINS) fixtures
	$(Q)tests/run-unit.sh $(UNIT_BINS)

unit-bins: $(UNIT_BINS)

test: all $(UNIT_BINS)
ifeq ($(SANITIZE),1)
	$(Q)PYMAC_OUTPUT=$(OUTPUT) tests/run.sh --sanitize
else
	$(Q)tests/run.sh
endif

bench: all
	$(Q)tests/bench/run.sh

# The demonstration containers in a loop, pymac attached: 10 minutes, or SOAK_MINUTES.
soak: all
	$(Q)tests/soak/soak.py $(if $(SOAK_MINUTES),--minutes $(SOAK_MINUTES))

# Bad command lines, damaged traces, malformed HTTP, output-path attacks, counted
# (docs/reliability.md). RELIABILITY_PYMAC=.output-san/pymac after `make SANITIZE=1`.
reliability: all
	$(Q)/usr/bin/python3 tests/reliability/attack.py $(if $(RELIABILITY_PYMAC),--pymac $(RELIABILITY_PYMAC))

run-modules: all
	$(Q)sh scripts/docker-setup.sh && sh scripts/build-image.sh >/dev/null && \
		$(OUTPUT)/pymac run --test-dir tests/modules $(MODULES) $(RUN_ARGS)

vmlinux:
	$(call msg,GEN,vmlinux/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

deps:
	$(Q)./scripts/install-deps.sh

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h user/*/*.c user/*/*.h tests/unit/*.c tests/fixtures/*.c

clean:
	$(Q)rm -rf .output .output-san

# libFuzzer targets: make fuzz, make fuzz-regress
-include tests/fuzz/fuzz.mk
