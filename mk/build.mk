# Compilation rules for chatd, chatctl and the unit tests, in one of two modes:
# MODE=release (optimized, build/release) or MODE=asan (ASan+UBSan, build/asan).
# Every .c under src/ except src/main.c goes into one static library that the
# programs and the tests link against.

MODE ?= release
BUILD := build/$(MODE)
CC ?= cc
PKGS := libuv jansson libcjson sqlite3 libpq hiredis zlib nettle

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-unused-parameter
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Isrc -Itests/unit -MMD -MP $(WARN) $(shell pkg-config --cflags $(PKGS))
LDLIBS := $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -lm

ifeq ($(MODE),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif
CFLAGS := $(CFLAGS_COMMON) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) -Wl,--as-needed

LIB_SRC := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libchatd.a

CHATCTL_SRC := $(shell find tools/chatctl -name '*.c' 2>/dev/null | sort)
BENCH_SRC := $(shell find tools/bench -name '*.c' 2>/dev/null | sort)
TEST_SUPPORT_SRC := tests/unit/test_main.c
TEST_SRC := $(shell find tests/unit -name '*_test.c' | sort)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)

PROGRAMS := $(BUILD)/chatd $(if $(CHATCTL_SRC),$(BUILD)/chatctl) $(if $(BENCH_SRC),$(BUILD)/bench)

.PHONY: all
all: $(PROGRAMS) $(if $(filter asan,$(MODE)),$(TEST_BIN))

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/chatd: $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/chatctl: $(CHATCTL_SRC:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%_test: $(BUILD)/tests/unit/%_test.o $(BUILD)/tests/unit/test_main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
