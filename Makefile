# frugal — build, test, bench.
#   make            build/frugal (optimised)
#   make test       unit tests (cmocka) + end-to-end tests, all under ASan/UBSan
#   make fuzz       libFuzzer targets in build/fuzz/ (needs clang: CLANG=clang-14)
#   make fuzz-run   run each for FUZZ_SECONDS (default 30); fails on a finding
#   make bench      overhead benchmark against direct and nginx, and the
#                   routing-decision benchmark (not tests)
#   make build/json_bench   the JSON indexer's microbenchmark (parse with and
#                   without the duplicate-name check, lookups)
#   make install    copy build/frugal to $(PREFIX)/bin
CC      ?= cc
PREFIX  ?= /usr/local
PKGS    := libevent libevent_pthreads libcurl jansson yaml-0.1 sqlite3 libpcre2-8 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc $(WARN) $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread -lm

SRC     := $(wildcard src/*.c)
LIB_SRC := $(filter-out src/main.c,$(SRC))
UNIT    := $(wildcard test/unit/test_*.c)

# Release build
OBJ     := $(SRC:src/%.c=build/obj/%.o)
LIB_OBJ := $(LIB_SRC:src/%.c=build/obj/%.o)
# Sanitizer build (tests)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-format-truncation
SOBJ    := $(SRC:src/%.c=build/san/%.o)
SLIB    := $(LIB_SRC:src/%.c=build/san/%.o)
UBIN    := $(UNIT:test/unit/%.c=build/san/%)

.PHONY: all test unit e2e bench install clean fmt deps fuzz fuzz-run fuzz-short
all: build/frugal

build/frugal: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# In-process benchmark of one routing decision (bench/route_bench.c)
build/route_bench: bench/route_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# In-process benchmark of the JSON indexer (bench/json_bench.c)
build/json_bench: bench/json_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/%.o: src/%.c $(wildcard src/*.h) | build/san
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

build/san/frugal: $(SOBJ)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

build/san/test_%: test/unit/test_%.c $(SLIB) | build/san
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -Itest/unit -o $@ $< $(SLIB) $(LDLIBS) -lcmocka

build/obj build/san:
	mkdir -p $@

unit: $(UBIN)
	@set -e; for t in $(UBIN); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

test/e2e/node_modules: test/e2e/package-lock.json
	cd test/e2e && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# .logs collects every daemon's stderr for the last test (zz_redaction), which
# checks that no key the suite used was ever logged.
e2e: build/san/frugal test/e2e/node_modules
	rm -rf test/e2e/.logs
	cd test/e2e && FRUGAL_BIN=$(CURDIR)/build/san/frugal node --test --test-concurrency=1 *.test.mjs

# a short fuzz pass (FUZZ_SHORT_SECONDS per target) so every test run exercises them
test: unit e2e fuzz-short

# Fuzzing.  libFuzzer comes with clang (not gcc), so these targets are built
# with $(CLANG); the library objects are compiled again for it in build/fuzz/.
# fuzz_multipart is built only once src/multipart.c exists.  Seeds are in
# fuzz/corpus/TARGET/ (committed); what a run finds goes to build/fuzz/work/
# and crashes to build/fuzz/artifacts/.
CLANG   ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc -Ifuzz $(WARN) $(PKG_CFLAGS) -O1 -g $(FUZZ_SAN)
FUZZ_OBJ := $(LIB_SRC:src/%.c=build/fuzz/obj/%.o)
.SECONDARY: $(FUZZ_OBJ)   # objects shared by every target: keep them
FUZZ_ALL := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS := $(if $(wildcard src/multipart.c),$(FUZZ_ALL),$(filter-out fuzz_multipart,$(FUZZ_ALL)))
FUZZ_BIN := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_SECONDS ?= 30
FUZZ_SHORT_SECONDS ?= 10

fuzz: $(FUZZ_BIN)

build/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) | build/fuzz/obj
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/%: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_OBJ)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

build/fuzz/obj:
	mkdir -p $@

fuzz-run: fuzz
	scripts/fuzz-run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-short: fuzz
	scripts/fuzz-run.sh $(FUZZ_SHORT_SECONDS) $(FUZZ_TARGETS)

bench: build/frugal build/route_bench
	bench/run.sh

install: build/frugal
	install -D -m 0755 build/frugal $(PREFIX)/bin/frugal
	if [ -f data/router-weights.frw ]; then \
	    install -D -m 0644 data/router-weights.frw $(PREFIX)/share/frugal/router-weights.frw; fi

deps:
	scripts/install-deps.sh

fmt:
	clang-format -i src/*.c src/*.h test/unit/*.c

clean:
	rm -rf build
