# Compilation rules for chatd, its PostgreSQL module, chatctl and the unit
# tests, in one of two modes: MODE=release (optimized, build/release) or
# MODE=asan (ASan+UBSan, build/asan). Every .c under src/ except src/main.c
# and the PostgreSQL engine goes into one static library that the programs and
# the tests link against; the engine is built on its own (below).

MODE ?= release
comma := ,
BUILD := build/$(MODE)
CC ?= cc
PKGS := libuv jansson libcjson sqlite3 libpq hiredis zlib nettle

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-unused-parameter
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Isrc -Itests/unit -MMD -MP $(WARN) $(shell pkg-config --cflags $(PKGS))
# libpq serves only the PostgreSQL engine and chatctl: chatd never links it.
PG_PKGS := libpq
LDLIBS := $(shell pkg-config --libs $(filter-out $(PG_PKGS),$(PKGS))) -lhttp_parser -lpthread -lm
PG_LDLIBS := $(shell pkg-config --libs $(PG_PKGS))

ifeq ($(MODE),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif
CFLAGS := $(CFLAGS_COMMON) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) -Wl,--as-needed

# The PostgreSQL engine, compiled position-independent in a directory of its
# own: linked into the module chatd-postgres.so, which chatd loads beside its
# executable when DATABASE_URL names PostgreSQL (src/store/postgres_module.c),
# and archived for the unit tests, which link it in. chatd exports to the
# module only the symbols in PG_EXPORTS.
PG_SRC := $(addprefix src/store/,postgres.c postgres_dm.c postgres_ops.c postgres_schema.c)
PG_OBJ := $(PG_SRC:%.c=$(BUILD)/pic/%.o)
PG_MODULE := $(BUILD)/chatd-postgres.so
PG_LIB := $(BUILD)/libchatd-postgres.a
PG_EXPORTS := mk/chatd-postgres.exports
# A program that loads the module exports those symbols, and links them in
# even where it calls none of them itself (--undefined pulls them from LIB).
PG_HOST_LDFLAGS := -Wl,--dynamic-list=$(PG_EXPORTS) \
  $(patsubst %,-Wl$(comma)--undefined=%,$(shell sed -n 's/^ *\([a-z_]*\);$$/\1/p' $(PG_EXPORTS)))

LIB_SRC := $(filter-out src/main.c $(PG_SRC),$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libchatd.a

CHATCTL_SRC := $(shell find tools/chatctl -name '*.c' 2>/dev/null | sort)
BENCH_SRC := $(shell find tools/bench -name '*.c' 2>/dev/null | sort)
TEST_SUPPORT_SRC := tests/unit/test_main.c
TEST_SRC := $(shell find tests/unit -name '*_test.c' | sort)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)

PROGRAMS := $(BUILD)/chatd $(PG_MODULE) $(if $(CHATCTL_SRC),$(BUILD)/chatctl) $(if $(BENCH_SRC),$(BUILD)/bench)

.PHONY: all
all: $(PROGRAMS) $(if $(filter asan,$(MODE)),$(TEST_BIN))

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(PG_LIB): $(PG_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/chatd: $(BUILD)/src/main.o $(LIB) $(PG_EXPORTS)
	$(CC) $(LDFLAGS) $(PG_HOST_LDFLAGS) -o $@ $(filter-out $(PG_EXPORTS),$^) $(LDLIBS)

$(PG_MODULE): $(PG_OBJ)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(PG_LDLIBS)

$(BUILD)/chatctl: $(CHATCTL_SRC:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(PG_LDLIBS)

# bench's store scenario opens the store, PostgreSQL's through the module too
$(BUILD)/bench: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(LIB) $(PG_EXPORTS)
	$(CC) $(LDFLAGS) $(PG_HOST_LDFLAGS) -o $@ $(filter-out $(PG_EXPORTS),$^) $(LDLIBS)

$(BUILD)/tests/unit/%_test: $(BUILD)/tests/unit/%_test.o $(BUILD)/tests/unit/test_main.o $(PG_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(PG_LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (PIC)"
	@$(CC) $(CFLAGS) -fPIC -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
