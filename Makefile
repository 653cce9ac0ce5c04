# frugal — build, test, bench.
#   make            build/frugal (optimised)
#   make test       check-src, unit tests (cmocka) + end-to-end tests under ASan/UBSan,
#                   a short fuzz pass, then unit + busy e2e files under TSan
#   make unit T=x   one unit suite; make e2e T=file P=pattern: one e2e file
#   make check-src  layer rules and banned functions (scripts/check-src.sh)
#   make fuzz       libFuzzer targets in build/fuzz/ (needs clang: CLANG=clang-14)
#   make fuzz-run   run each for FUZZ_SECONDS (default 30); fails on a finding
#   make bench      overhead benchmark against direct and nginx, and the
#                   routing-decision benchmark (not tests)
#   make build/edge_bench   the HTTP edge against evhttp: server CPU per request
#   make bench-dash the spend dashboard's reads on a 1,000,000-row ledger
#   make build/json_bench   the JSON indexer's microbenchmark (parse with and
#                   without the duplicate-name check, lookups)
#   make build/shared_bench the shared state's per-call operations (budgets,
#                   rate limits, response cache, prefix sightings)
#   make install    copy build/frugal to $(PREFIX)/bin
CC      ?= cc
PREFIX  ?= /usr/local
PKGS    := libevent libevent_pthreads libcurl jansson yaml-0.1 sqlite3 libpcre2-8 libcrypto libpq hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
# src/ has one folder per layer (see scripts/check-src.sh for who may include
# whom); headers are included by bare name, so every folder is on the path.
SRC_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c src/*/*.h))))
INCS    := $(SRC_DIRS:%=-iquote %)
# -MMD -MP: each object depends on the headers it really includes (.d files)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(INCS) $(WARN) $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lhttp_parser -lpthread -lm

SRC     := $(wildcard src/*/*.c)
LIB_SRC := $(filter-out src/cli/main.c,$(SRC))
UNIT    := $(wildcard test/unit/test_*.c)

# The spend dashboard's files, embedded into a generated C source
# (src/server/dash_assets.h): the page from ui/, and the charting library
# (uPlot) that scripts/install-deps.sh installs from npm into ui/node_modules,
# pinned in ui/package-lock.json and never committed.
UI_LIB  := ui/node_modules/uplot/dist
UI_EMBED := index.html=ui/index.html app.js=ui/app.js app.css=ui/app.css \
            uPlot.min.js=$(UI_LIB)/uPlot.iife.min.js uPlot.min.css=$(UI_LIB)/uPlot.min.css
GEN_C   := build/gen/dash_assets.c

$(GEN_C): scripts/embed-ui.sh $(foreach p,$(UI_EMBED),$(lastword $(subst =, ,$(p))))
	@mkdir -p $(@D)
	scripts/embed-ui.sh $@ $(UI_EMBED)

$(UI_LIB)/uPlot.iife.min.js $(UI_LIB)/uPlot.min.css: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	touch $(UI_LIB)/uPlot.iife.min.js $(UI_LIB)/uPlot.min.css

# Release build
OBJ     := $(SRC:src/%.c=build/obj/%.o) build/obj/gen/dash_assets.o
LIB_OBJ := $(LIB_SRC:src/%.c=build/obj/%.o) build/obj/gen/dash_assets.o
# Sanitizer builds.  SANITIZER=address (ASan+UBSan, the default for tests,
# in build/san/) or SANITIZER=thread (ThreadSanitizer, in build/tsan/), as
# in redis's Makefile; `make test` runs both.
SANITIZER ?= address
ifeq ($(SANITIZER),thread)
SANDIR  := build/tsan
SAN     := -fsanitize=thread -fno-omit-frame-pointer -Wno-format-truncation -DFG_DEBUG
SAN_RUN := TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp"
else
SANDIR  := build/san
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-format-truncation -DFG_DEBUG
SAN_RUN := ASAN_OPTIONS=detect_leaks=1
endif
SOBJ    := $(SRC:src/%.c=$(SANDIR)/%.o) $(SANDIR)/gen/dash_assets.o
SLIB    := $(LIB_SRC:src/%.c=$(SANDIR)/%.o) $(SANDIR)/gen/dash_assets.o
UBIN    := $(UNIT:test/unit/%.c=$(SANDIR)/%)

.PHONY: bench-dash
.PHONY: all bench-build test unit e2e tsan bench bench-routing install clean fmt fmt-check check-src deps fuzz fuzz-run fuzz-short
all: build/frugal

# The release daemon's allocator: mimalloc (Debian's libmimalloc-dev) when it
# is installed, else the C library's.  It replaces malloc for libcurl,
# libevent and SQLite too: measured with `make bench` and callgrind
# (README, Performance).  ALLOC=system (or jemalloc) chooses another; the
# sanitizer builds always keep the system allocator, which ASan/TSan replace.
ALLOC ?= $(if $(filter /%,$(shell $(CC) -print-file-name=libmimalloc.so)),mimalloc,system)
ALLOC_LIBS_mimalloc := -Wl,--push-state,--no-as-needed -lmimalloc -Wl,--pop-state
ALLOC_LIBS_jemalloc := -Wl,--push-state,--no-as-needed -ljemalloc -Wl,--pop-state
ALLOC_LIBS := $(ALLOC_LIBS_$(ALLOC))

build/frugal: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALLOC_LIBS) $(LDLIBS)

# In-process benchmark of one routing decision (bench/route_bench.c)
build/route_bench: bench/route_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# In-process benchmark of the shared state's per-call operations (bench/shared_bench.c)
build/shared_bench: bench/shared_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# The HTTP edge against evhttp, server CPU per request (bench/edge_bench.c)
build/edge_bench: bench/edge_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# The spend dashboard's reads on a 1,000,000-row ledger (bench/dash_bench.c)
build/dash_bench: bench/dash_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

bench-dash: build/dash_bench
	build/dash_bench

# In-process benchmark of the JSON indexer (bench/json_bench.c)
build/json_bench: bench/json_bench.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

build/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(SANDIR)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

# the generated sources (no sanitizer needed on byte tables)
build/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(SANDIR)/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
build/fuzz/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(SANDIR)/frugal: $(SOBJ)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(SANDIR)/test_%: test/unit/test_%.c $(SLIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -Itest/unit -o $@ $< $(SLIB) $(LDLIBS) -lcmocka

-include $(shell find build -name '*.d' 2>/dev/null)

# make unit [T=name]: every unit suite, or test/unit/test_NAME.c alone
UNIT_RUN := $(if $(T),$(SANDIR)/test_$(T),$(UBIN))
# Suites named *_pg need a Postgres server: test/pg-run.sh starts a
# throwaway one for them (and skips loudly when Postgres is not installed).
unit: $(UNIT_RUN)
	@set -e; for t in $(UNIT_RUN); do echo "== $$t"; case $$t in \
	    *_pg) $(SAN_RUN) test/pg-run.sh run $$t ;; *) $(SAN_RUN) $$t ;; esac; done

test/e2e/node_modules: test/e2e/package-lock.json
	cd test/e2e && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# make e2e [T=file] [P=pattern]: every end-to-end file, or test/e2e/FILE.test.mjs
# alone, optionally only the tests whose name matches P.
# .logs collects every daemon's stderr for the last test (zz_redaction), which
# checks that no key the suite used was ever logged.
E2E_FILES := $(if $(T),$(T:%=%.test.mjs),*.test.mjs)
e2e: $(SANDIR)/frugal test/e2e/node_modules
	$(if $(T),,rm -rf test/e2e/.logs)
	cd test/e2e && $(SAN_RUN) FRUGAL_BIN=$(CURDIR)/$(SANDIR)/frugal node --test --test-concurrency=1 \
	    $(if $(P),--test-name-pattern='$(P)') $(E2E_FILES)

# ThreadSanitizer: the unit suites and the end-to-end files whose daemons are
# busiest across threads (keys and budgets, batches, the ledger, the
# Postgres ledger with its spool and store reader thread, replicas on Redis,
# the caches on Redis, the dashboard's reader pool, deferred batches in the
# store shared by the collector thread and the workers, a config reload under
# 50 streams, the budget alert thread).
TSAN_E2E ?= keys batch ledger pg redis rcache dashreads deferstore reload alerts
tsan:
	$(MAKE) SANITIZER=thread unit
	$(MAKE) SANITIZER=thread e2e T="$(TSAN_E2E)"

# Layer rules and banned functions (scripts/check-src.sh)
check-src:
	scripts/check-src.sh

# a short fuzz pass (FUZZ_SHORT_SECONDS per target) so every test run exercises them
# the benchmark programs are built (not run) so they cannot rot unseen
BENCH_BINS = build/route_bench build/json_bench build/shared_bench build/edge_bench build/dash_bench
bench-build: $(BENCH_BINS)

test: check-src fmt-check bench-build unit e2e fuzz-short tsan

# Fuzzing.  libFuzzer comes with clang (not gcc), so these targets are built
# with $(CLANG); the library objects are compiled again for it in build/fuzz/.
# Seeds are in fuzz/corpus/TARGET/ (committed); what a run finds goes to
# build/fuzz/work/ and crashes to build/fuzz/artifacts/.
CLANG   ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE $(INCS) -Ifuzz $(WARN) $(PKG_CFLAGS) -O1 -g $(FUZZ_SAN) -MMD -MP
FUZZ_OBJ := $(LIB_SRC:src/%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/dash_assets.o
.SECONDARY: $(FUZZ_OBJ)   # objects shared by every target: keep them
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_SECONDS ?= 30
FUZZ_SHORT_SECONDS ?= 10

fuzz: $(FUZZ_BIN)

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz-run: fuzz
	scripts/fuzz-run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-short: fuzz
	scripts/fuzz-run.sh $(FUZZ_SHORT_SECONDS) $(FUZZ_TARGETS)

# Routing quality on ../shared/data/routing: per-source / per-pair eval,
# learning curves, calibration, the shadow simulation through the daemon
# (bench/routing*.mjs; ~6 minutes, not in CI; `node bench/routing.mjs
# --tune` adds the prior-strength search).
bench-routing: build/frugal
	node bench/routing.mjs

bench: build/frugal build/route_bench build/dash_bench
	bench/run.sh
	build/dash_bench

install: build/frugal
	install -D -m 0755 build/frugal $(PREFIX)/bin/frugal
	if [ -f data/router-weights.frw ]; then \
	    install -D -m 0644 data/router-weights.frw $(PREFIX)/share/frugal/router-weights.frw; fi

deps:
	scripts/install-deps.sh

# every C file but the generated price table (scripts/gen-prices.mjs)
FMT_FILES = $(filter-out src/config/price_table.c,$(wildcard src/*/*.c src/*/*.h test/unit/*.c fuzz/*.c fuzz/*.h bench/*.c))
fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	clang-format --dry-run --Werror $(FMT_FILES)

clean:
	rm -rf build
