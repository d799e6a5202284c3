# wanmeter build. `make` builds build/wanmeter and build/libwanmeter.a; `make check` builds a
# second copy under AddressSanitizer + UndefinedBehaviorSanitizer in build/san/ and runs every
# test (C unit tests, CLI tests, PyTorch reference verification). See README.md.

CC      ?= cc
PKGS    := yaml-0.1 jansson
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Iinclude -Isrc -Ibuild/gen $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(sort $(wildcard src/*.c src/models/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
GEN_SRC  := build/gen/default_config.c build/gen/default_devices.c
HDRS     := $(wildcard include/*.h src/*.h src/models/*.h cli/*.h tests/unit/*.h)

# $(1) = output dir, $(2) = extra flags
define variant
$(1)/obj/%.o: %.c $(HDRS) | $(GEN_SRC)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -c $$< -o $$@
$(1)/libwanmeter.a: $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRC) $(GEN_SRC))
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/wanmeter: $(patsubst %.c,$(1)/obj/%.o,$(CLI_SRC)) $(1)/libwanmeter.a
	$$(CC) $(2) $$^ $$(LDLIBS) -o $$@
$(1)/tests/%: $(1)/obj/tests/unit/%.o $(1)/libwanmeter.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $$(TESTLIBS) $$(LDLIBS) -o $$@
$(1)/bench/%: $(1)/obj/bench/%.o $(1)/libwanmeter.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $$(LDLIBS) -o $$@
endef

TESTS     := $(patsubst tests/unit/%.c,build/tests/%,$(TEST_SRC))
SAN_TESTS := $(patsubst tests/unit/%.c,build/san/tests/%,$(TEST_SRC))
BENCHES   := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))

.PHONY: all check unit-tests cli-tests reference-tests bench clean run
.SECONDARY:

all: build/wanmeter $(TESTS) $(BENCHES)

$(eval $(call variant,build,))
$(eval $(call variant,build/san,$(SAN)))

# The default configuration (presets, workloads, tolerances) is compiled into the binary so
# that wanmeter works from any directory; configs/wanmeter.yaml stays the single source.
build/gen/default_config.c: configs/wanmeter.yaml scripts/embed.sh
	@mkdir -p build/gen
	sh scripts/embed.sh $< wm_default_config_yaml > $@.tmp && mv $@.tmp $@

# The device database (configs/devices.yaml) likewise.
build/gen/default_devices.c: configs/devices.yaml scripts/embed.sh
	@mkdir -p build/gen
	sh scripts/embed.sh $< wm_default_devices_yaml > $@.tmp && mv $@.tmp $@

run: build/wanmeter
	build/wanmeter report

check: build/wanmeter build/san/wanmeter $(SAN_TESTS) $(BENCHES)
	bash scripts/check.sh

bench: $(BENCHES) build/wanmeter
	sh bench/run.sh

clean:
	rm -rf build
