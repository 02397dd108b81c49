# konvert — build, test, run. See README.md.
#   make            build build/konvert
#   make deps       install missing Debian packages (apt-get)
#   make run        build and start the demo server in the foreground
#   make check      unit tests (plain and ASan/UBSan) and integration tests
#   make SAN=1 ...  build into build/san with AddressSanitizer + UBSan
#   make install    install under PREFIX (/usr) and DESTDIR; make uninstall

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

# make install: the binary, its sendmail/mailq links, man pages, the systemd
# unit, a sample configuration and the state directory. The installed
# binary differs from $(BIN) only in config.o (-DKONVERT_INSTALLED: default
# file /etc/konvert/konvert.conf, data_dir /var/lib/konvert), so it reuses
# every other object of $(BUILD). Its paths are fixed (SPEC.md "Command
# line"); only where the files go follows PREFIX and DESTDIR.
PREFIX ?= /usr
DESTDIR ?=
SBINDIR := $(PREFIX)/sbin
MANDIR := $(PREFIX)/share/man
DOCDIR := $(PREFIX)/share/doc/konvert
CONFDIR := /etc/konvert
STATEDIR := /var/lib/konvert
UNITDIR := /lib/systemd/system
KONVERT_USER := konvert
INSTALL_BUILD = $(BUILD)/install
INSTALL_BIN = $(INSTALL_BUILD)/konvert
INSTALL_OBJS = $(filter-out $(BUILD)/obj/config/config.o,$(LIB_OBJS)) \
	$(INSTALL_BUILD)/obj/config/config.o
# The names konvert answers to besides its own (src/main.c): link:target.
# /usr/lib/sendmail follows /usr/sbin/sendmail (as Debian's MTAs have it):
# install makes it after that one, uninstall removes it first.
INSTALL_LINKS := $(SBINDIR)/sendmail:konvert $(SBINDIR)/mailq:konvert \
	$(PREFIX)/lib/sendmail:../sbin/sendmail

.PHONY: all deps run check unit unit-san pytest clean bench install uninstall deb
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
-include $(INSTALL_BUILD)/obj/config/config.d

$(INSTALL_BUILD)/obj/config/config.o: src/config/config.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKONVERT_INSTALLED $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(INSTALL_BUILD)/libkonvert.a: $(INSTALL_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(INSTALL_BIN): $(MAIN_OBJ) $(INSTALL_BUILD)/libkonvert.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Never clobbers what is not ours: an existing konvert.conf stays, and a
# sendmail that belongs to another MTA is left alone with a note. The
# system user and the ownership of STATEDIR need root and a real system
# (no DESTDIR); a package does those in its postinst instead.
install: $(INSTALL_BIN)
	@set -e; d='$(DESTDIR)'; \
	install -d $$d$(SBINDIR) $$d$(PREFIX)/lib $$d$(MANDIR)/man8 \
	  $$d$(MANDIR)/man5 $$d$(DOCDIR) $$d$(UNITDIR) $$d$(CONFDIR); \
	install -m 0755 $(INSTALL_BIN) $$d$(SBINDIR)/konvert; \
	echo "installed $$d$(SBINDIR)/konvert"; \
	self=$$(readlink -f $$d$(SBINDIR)/konvert); \
	for pair in $(INSTALL_LINKS); do \
	  link=$$d$${pair%%:*}; target=$${pair#*:}; \
	  if [ -e "$$link" -o -L "$$link" ] && \
	      [ "$$(readlink -f "$$link")" != "$$self" ]; then \
	    echo "note: $$link belongs to another program; left alone"; \
	  elif [ "$$(cd "$${link%/*}" && readlink -f "$$target")" != "$$self" ]; then \
	    echo "note: $$link not made: $$target is not konvert"; \
	  else \
	    ln -sfn "$$target" "$$link"; echo "installed $$link -> $$target"; \
	  fi; \
	done; \
	install -m 0644 dist/konvert.8 $$d$(MANDIR)/man8/konvert.8; \
	install -m 0644 dist/konvert.conf.5 $$d$(MANDIR)/man5/konvert.conf.5; \
	sed 's|/usr/sbin/konvert|$(SBINDIR)/konvert|g' dist/konvert.service \
	  > $(INSTALL_BUILD)/konvert.service; \
	install -m 0644 $(INSTALL_BUILD)/konvert.service \
	  $$d$(UNITDIR)/konvert.service; \
	install -m 0644 dist/konvert.conf.sample $$d$(DOCDIR)/konvert.conf.sample; \
	echo "installed man pages, $$d$(UNITDIR)/konvert.service"; \
	if [ -e $$d$(CONFDIR)/konvert.conf ]; then \
	  echo "kept $$d$(CONFDIR)/konvert.conf (new sample: $$d$(DOCDIR)/konvert.conf.sample)"; \
	else \
	  install -m 0644 dist/konvert.conf.sample $$d$(CONFDIR)/konvert.conf; \
	  echo "installed $$d$(CONFDIR)/konvert.conf"; fi; \
	real=no; [ -z "$$d" ] && [ "$$(id -u)" = 0 ] && real=yes; \
	if [ $$real = no ]; then \
	  echo "note: DESTDIR set or not root: system user $(KONVERT_USER) not created, $(STATEDIR) not chowned"; \
	elif ! getent passwd $(KONVERT_USER) >/dev/null; then \
	  group=--user-group; \
	  getent group $(KONVERT_USER) >/dev/null && group="--gid $(KONVERT_USER)"; \
	  shell=/usr/sbin/nologin; [ -x $$shell ] || shell=/bin/false; \
	  useradd --system $$group --home-dir $(STATEDIR) --no-create-home \
	    --shell $$shell --comment "konvert mail server" $(KONVERT_USER); \
	  echo "created system user $(KONVERT_USER)"; fi; \
	if [ ! -d $$d$(STATEDIR) ]; then \
	  install -d -m 0750 $$d$(STATEDIR); \
	  if [ $$real = yes ]; then \
	    chown $(KONVERT_USER): $(STATEDIR); fi; \
	  echo "installed $$d$(STATEDIR)"; fi; \
	if [ $$real = yes ] && [ -d /run/systemd/system ]; then \
	  systemctl daemon-reload || true; fi; \
	echo "next: edit $(CONFDIR)/konvert.conf, konvert check-config, systemctl enable --now konvert"

# Mail (STATEDIR), the configuration (CONFDIR) and the system user stay.
uninstall:
	@d='$(DESTDIR)'; self=$$(readlink -f $$d$(SBINDIR)/konvert); links=; \
	for pair in $(INSTALL_LINKS); do links="$${pair%%:*} $$links"; done; \
	for link in $$links; do \
	  link=$$d$$link; \
	  if [ -L "$$link" ] && [ "$$(readlink -f "$$link")" = "$$self" ]; then \
	    rm -f "$$link"; echo "removed $$link"; fi; \
	done; \
	for f in $(SBINDIR)/konvert $(MANDIR)/man8/konvert.8 \
	    $(MANDIR)/man5/konvert.conf.5 $(UNITDIR)/konvert.service \
	    $(DOCDIR)/konvert.conf.sample; do \
	  if [ -e $$d$$f ]; then rm -f $$d$$f; echo "removed $$d$$f"; fi; \
	done; \
	rmdir $$d$(DOCDIR) 2>/dev/null || true; \
	if [ -z "$$d" ] && [ "$$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then \
	  systemctl daemon-reload || true; fi; \
	echo "kept $$d$(CONFDIR) and $$d$(STATEDIR) (mail) and the user $(KONVERT_USER)"

# make deb: a Debian package of what install puts in place (DESTDIR into
# $(BUILD)/deb/root), with Provides/Conflicts/Replaces: mail-transport-agent
# as Debian's MTAs have them, konvert.conf as a conffile, and maintainer
# scripts (dist/deb/) that make the system user and /var/lib/konvert.
# Depends: the Debian packages that own the shared libraries the binary
# links, and publicsuffix (DMARC).
DEB_VERSION = $(shell sed -n 's/^\#define KONVERT_VERSION "\(.*\)"/\1/p' src/main.c)
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_ROOT = $(BUILD)/deb/root
DEB_FILE = $(BUILD)/konvert_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: $(INSTALL_BIN)
	@set -e; rm -rf $(DEB_ROOT); \
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr >/dev/null; \
	rm -rf $(DEB_ROOT)/var; \
	install -d $(DEB_ROOT)/DEBIAN; \
	install -m 0755 dist/deb/postinst dist/deb/prerm dist/deb/postrm $(DEB_ROOT)/DEBIAN/; \
	echo $(CONFDIR)/konvert.conf > $(DEB_ROOT)/DEBIAN/conffiles; \
	deps=$$(ldd $(INSTALL_BIN) | awk '$$3 ~ /^\// {print $$3}' | \
	  while read -r lib; do dpkg -S "$$(readlink -f "$$lib")" 2>/dev/null || dpkg -S "$$lib"; done | \
	  cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g'); \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1); \
	{ echo "Package: konvert"; echo "Version: $(DEB_VERSION)"; \
	  echo "Architecture: $(DEB_ARCH)"; \
	  echo "Maintainer: konvert developers <postmaster@localhost>"; \
	  echo "Installed-Size: $$size"; \
	  echo "Depends: $$deps, adduser, publicsuffix"; \
	  echo "Provides: mail-transport-agent"; \
	  echo "Conflicts: mail-transport-agent"; \
	  echo "Replaces: mail-transport-agent"; \
	  echo "Section: mail"; echo "Priority: optional"; \
	  echo "Description: mail server: SMTP, relay queue, DKIM/SPF/DMARC, POP3 and POP2"; \
	  echo " konvert takes mail in over SMTP, delivers it to Maildirs or relays it"; \
	  echo " through a durable queue, signs and checks mail (DKIM, SPF, DMARC, DANE,"; \
	  echo " MTA-STS) and serves it over POP3 and POP2, in one program."; \
	} > $(DEB_ROOT)/DEBIAN/control; \
	dpkg-deb --root-owner-group --build $(DEB_ROOT) $(DEB_FILE) >/dev/null; \
	echo "built $(DEB_FILE)"

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
