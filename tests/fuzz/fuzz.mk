# libFuzzer targets for the parsers of untrusted input (included from the
# Makefile). Built with clang into $(OUTPUT)/fuzz, apart from the gcc objects.
#   make fuzz [FUZZ_SECONDS=300] [FUZZERS="trace elf"]
#                 fuzz each target on a copy of its corpus
#   make fuzz-regress
#                 run every corpus and crash input once; fails on a crash

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_DIR := $(OUTPUT)/fuzz
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE \
	-DPYMAC_VERSION=\"$(PYMAC_VERSION)\" -I$(OUTPUT) -Iuser -Ibpf -Wall -Wextra \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined

# (addprefix, not patsubst: % in a pattern rule's prerequisites is the stem.)
# Each fuzzer links only the sources of the parser it tests.
FUZZ_SRCS_trace := trace/codec trace/chunk trace/writer trace/reader feed/record util/outfile
FUZZ_LIBS_trace := -lz
FUZZ_SRCS_elf := attach/elf_inspect attach/elf_notes attach/elf_dwarf attach/elf_code attach/elf_tables attach/sites attach/pycode
FUZZ_LIBS_elf := -lelf -ldw -lcapstone
FUZZ_SRCS_procmaps := attach/procmaps util/fileio
FUZZ_SRCS_containers := attach/containers attach/containers_json attach/containers_docker attach/containers_podman attach/containers_cgroup2 util/fileio
FUZZ_LIBS_containers := -ljson-c
FUZZ_SRCS_cgroup := attach/containers attach/containers_cgroup2 util/fileio
FUZZ_LIBS_cgroup := -ljson-c

FUZZ_SRCS_record := feed/consumer feed/record model/ledger model/ledger_books model/timeline model/procstats model/export_series model/intern model/pidindex model/footprint util/hashmap util/json views/summary views/summary_text views/summary_json
FUZZ_LIBS_record := -lbpf

FUZZERS ?= trace elf procmaps containers cgroup record
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZERS))

.PHONY: fuzz fuzz-build fuzz-regress
# Keep the objects: they are intermediate files of the pattern rules below.
.PRECIOUS: $(FUZZ_DIR)/obj/%.o $(FUZZ_DIR)/obj/fuzz_%.o

$(FUZZ_DIR)/obj:
	$(Q)mkdir -p $@

$(FUZZ_DIR)/obj/%.o: user/%.c $(USER_HDRS) $(BPF_HDRS) | $(FUZZ_DIR)/obj
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c $(USER_HDRS) $(BPF_HDRS) | $(FUZZ_DIR)/obj
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz_%.o $$(addprefix $(FUZZ_DIR)/obj/,$$(addsuffix .o,$$(FUZZ_SRCS_$$*)))
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) $^ $(FUZZ_LIBS_$*) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh fuzz $(FUZZERS)

fuzz-regress: $(FUZZ_BINS)
	$(Q)FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh regress $(FUZZERS)
