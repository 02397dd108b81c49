# konvert — build, test, run. See README.md.
#   make            build build/konvert
#   make deps       install missing Debian packages (apt-get)
#   make run        build and start the demo server in the foreground
#   make check      unit tests (plain and ASan/UBSan) and integration tests
#   make SAN=1 ...  build into build/san with AddressSanitizer + UBSan

CC ?= cc
PKGS := libevent libevent_openssl libevent_pthreads openssl libcares libxcrypt zlib
DEB_PKGS := build-essential pkg-config libevent-dev libssl-dev libc-ares-dev \
	libcrypt-dev libcmocka-dev python3 python3-pytest swaks curl openssl \
	python3-aiosmtpd python3-dnslib libnet-ssleay-perl libio-socket-ssl-perl \
	fetchmail python3-dkim python3-spf python3-authres publicsuffix \
	zlib1g-dev

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -Wall -Wextra -Werror -Wformat=2 -O2 -g -D_GNU_SOURCE \
	-Isrc $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
BUILD := build/san
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD := build
endif

SRCS := $(wildcard src/*/*.c)
TEST_SRCS := $(filter %_test.c,$(SRCS))
LIB_SRCS := $(filter-out %_test.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/main.o
TEST_BINS := $(TEST_SRCS:src/%.c=$(BUILD)/test/%)
BIN := $(BUILD)/konvert
PYTEST := /usr/bin/python3 -m pytest
# Parallel compilation inside check (the test runs stay sequential).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps run check unit unit-san pytest clean bench
# Keep test objects (make would delete them as intermediates).
.SECONDARY:

all: $(BIN)

$(BIN): $(MAIN_OBJ) $(BUILD)/libkonvert.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/libkonvert.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test/%: $(BUILD)/obj/%.o $(BUILD)/libkonvert.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_SRCS:src/%.c=$(BUILD)/obj/%.d)

# Installs only what is missing; apt-get update first since a fresh machine
# has no package lists.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; \
	fi

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run-demo.sh

unit: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
	  echo "== $$t"; $$t || fail=1; done; exit $$fail

# The integration suites run twice: against the real binary, then against
# the ASan/UBSan build of it (a sanitizer report makes the server exit
# non-zero, which fails the test that stopped it).
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(TEST_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=1 all $(TEST_BINS:build/%=build/san/%)
	@$(MAKE) --no-print-directory SAN=1 unit
	KONVERT_BIN=$(CURDIR)/build/san/konvert $(PYTEST) -q -p no:cacheprovider tests
	$(PYTEST) -q -p no:cacheprovider tests

bench: all
	/usr/bin/python3 bench/smtp_bench.py $(BENCH_FLAGS)
	/usr/bin/python3 bench/pop3_bench.py $(BENCH_FLAGS)
	/usr/bin/python3 bench/relay_bench.py $(BENCH_FLAGS)

clean:
	rm -rf build
