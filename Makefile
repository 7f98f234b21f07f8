# herd: build, test and run ngx_stream_herd_module.
#
#   make              build build/ngx_stream_herd_module.so against the
#                     installed Debian nginx (nginx-dev sources)
#   make NGINX_SRC=D  build against the nginx source tree D (>= 1.22)
#   make deps         install what is missing (Debian/Ubuntu, as root)
#   make test         build and run the Test::Nginx suites in t/
#   make herd         build and start the five-server herd of conf/goloman
#   make herd-stop    stop it
#   make fuzz         build the fuzz targets of fuzz/ and run each for
#                     FUZZ_SECONDS (60) seconds (clang, libfuzzer-14-dev)
#   make test-asan    the suites against nginx and herd built with
#                     -fsanitize=address,undefined (t/sanitize)
#   make test-valgrind  the suites with nginx under valgrind memcheck

SHELL       := /bin/bash

NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
STREAM_SO   ?= /usr/lib/nginx/modules/ngx_stream_module.so
NGINX_TESTS ?=
PROVE_J     ?= 2

BUILD       := $(CURDIR)/build
NGX_BUILD   := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_stream_herd_module.so
HERD_PREFIX := $(BUILD)/herd
HERD_TOPOLOGY ?= goloman
HERD_CONF   := $(CURDIR)/conf/$(HERD_TOPOLOGY)
HERD_NAMES  := $(basename $(notdir $(wildcard $(HERD_CONF)/*.conf)))

SOURCES     := $(wildcard ngx_herd_module/*.c ngx_herd_module/*.h)

DEB_PKGS    := nginx nginx-dev libnginx-mod-stream libcurl4-openssl-dev \
               libcjson-dev libssl-dev openssl perl netcat-openbsd make gcc

export NGINX_BIN

.PHONY: all build deps test conf-test herd herd-stop clean

all: build

build: $(MODULE)

# Configure once (again when `config` changes), then let nginx's own
# objs/Makefile rebuild the module incrementally.

$(NGX_BUILD)/objs/Makefile: config
	rm -rf $(NGX_BUILD)
	mkdir -p $(NGX_BUILD)
	cp -a $(NGINX_SRC)/. $(NGX_BUILD)/
	cd $(NGX_BUILD) && \
	if [ -f conf_flags ]; then \
	    . ./conf_flags; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt='-g -O2 -fstack-protector-strong -fPIC -D_FORTIFY_SOURCE=2' \
	        --with-ld-opt='-Wl,-z,relro -Wl,-z,now -fPIC' \
	        --with-stream=dynamic --with-stream_ssl_module \
	        --with-stream_realip_module \
	        --add-dynamic-module=$(CURDIR) $(NGINX_CONFIGURE_EXTRA); \
	else \
	    if [ -x configure ]; then cf=./configure; else cf=./auto/configure; fi; \
	    $$cf --with-compat --with-stream=dynamic \
	        --add-dynamic-module=$(CURDIR) $(NGINX_CONFIGURE_EXTRA); \
	fi

$(MODULE): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile \
	    objs/ngx_stream_herd_module.so
	cp $(NGX_BUILD)/objs/ngx_stream_herd_module.so $(MODULE).tmp
	mv -f $(MODULE).tmp $(MODULE)


deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing; \
	elif ! command -v dpkg-query >/dev/null; then \
	    echo "make deps: not a Debian system; herd needs: nginx >= 1.22" \
	         "with its stream module and configure tree (or NGINX_SRC)," \
	         "libcurl >= 7.32 headers, cJSON >= 1.7.13 headers, perl" \
	         "with Test::More, a C compiler and make."; \
	else \
	    echo "make deps: missing Debian packages:$$missing"; \
	    echo "run as root: apt-get install$$missing"; exit 1; \
	fi

test: deps build conf-test
	MODULE=$(MODULE) STREAM_SO=$(STREAM_SO) NGINX_TESTS=$(NGINX_TESTS) \
	    PROVE_J=$(PROVE_J) t/run

# nginx -t over every example configuration in conf/ (a herd's files
# next to the stand-in's places.inc, as `make herd` runs them).

conf-test: build $(HERD_PREFIX)/modules
	@for d in $(CURDIR)/conf/*/; do \
	    t=$(BUILD)/conf-test/$$(basename $$d); \
	    rm -rf $$t; mkdir -p $$t; \
	    cp $$d*.conf $$t/; \
	    cp $(CURDIR)/conf/places-standin.inc $$t/places.inc; \
	done
	@t=$(BUILD)/conf-test/production; rm -rf $$t; mkdir -p $$t/herd-tls; \
	cp $(CURDIR)/conf/production.conf $$t/; \
	echo 'herd_peer_secret "conf-test-secret-0123456789";' \
	    > $$t/herd-secret.inc; \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout $$t/herd-tls/server.key \
	    -out $$t/herd-tls/server.crt -subj /CN=Goloman -days 1 \
	    >/dev/null 2>&1; \
	cp $$t/herd-tls/server.crt $$t/herd-tls/ca.crt
	@for f in $(BUILD)/conf-test/*/*.conf \
	          $(filter-out %/production.conf,$(wildcard $(CURDIR)/conf/*.conf)); do \
	    [ -f "$$f" ] || continue; \
	    $(NGINX_BIN) -q -t -p $(HERD_PREFIX)/ -c $$f \
	        || { echo "conf-test: $$f rejected"; exit 1; }; \
	    echo "conf-test: $$f ok"; \
	done

$(HERD_PREFIX)/modules: $(MODULE)
	mkdir -p $(HERD_PREFIX)/logs $(HERD_PREFIX)/modules
	ln -sf $(STREAM_SO) $(HERD_PREFIX)/modules/ngx_stream_module.so
	ln -sf $(MODULE) $(HERD_PREFIX)/modules/ngx_stream_herd_module.so
	touch $@

# Without HERD_PLACES_KEY, WHATSAT goes to the local Places stand-in
# (conf/places-standin.conf: sample data, not Google); with it, to Google
# (HERD_PLACES_API=new, the default, or legacy).  The key goes only into
# build/herd/conf/places.inc, readable by its owner alone.

herd: deps build $(HERD_PREFIX)/modules herd-stop
	@[ -n "$(HERD_NAMES)" ] || { echo "no conf/$(HERD_TOPOLOGY)"; exit 1; }
	@rm -rf $(HERD_PREFIX)/conf
	@mkdir -p $(HERD_PREFIX)/conf
	@cp $(HERD_CONF)/*.conf $(HERD_PREFIX)/conf/
	@if [ -n "$$HERD_PLACES_KEY" ]; then \
	    case "$$HERD_PLACES_KEY" in \
	    *[!A-Za-z0-9_-]*) echo "HERD_PLACES_KEY: unexpected characters"; \
	                      exit 1;; \
	    esac; \
	    case "$${HERD_PLACES_API:-new}" in \
	    new|legacy) ;; \
	    *) echo "HERD_PLACES_API: new or legacy"; exit 1;; \
	    esac; \
	    (umask 077; \
	     printf 'herd_places_key  %s;\nherd_places_api  %s;\n' \
	         "$$HERD_PLACES_KEY" "$${HERD_PLACES_API:-new}" \
	         > $(HERD_PREFIX)/conf/places.inc); \
	    echo "WHATSAT: Google Places ($${HERD_PLACES_API:-new} API)"; \
	else \
	    cp $(CURDIR)/conf/places-standin.inc $(HERD_PREFIX)/conf/places.inc; \
	    $(NGINX_BIN) -p $(HERD_PREFIX)/ \
	        -c $(CURDIR)/conf/places-standin.conf || exit 1; \
	    echo "WHATSAT: the local Places stand-in on 127.0.0.1:12080" \
	         "(sample data, not Google; set HERD_PLACES_KEY for Google)"; \
	fi
	@for n in $(HERD_NAMES); do \
	    $(NGINX_BIN) -p $(HERD_PREFIX)/ -c $(HERD_PREFIX)/conf/$$n.conf \
	        || exit 1; \
	done
	@echo
	@echo "herd started ($(HERD_TOPOLOGY)):"
	@for n in $(HERD_NAMES); do \
	    printf '  %-10s %s\n' $$n \
	        "$$(sed -n 's/^ *listen *\([^;]*\);.*/\1/p' $(HERD_CONF)/$$n.conf)"; \
	done
	@echo "logs in $(HERD_PREFIX)/logs; stop with: make herd-stop"
	@echo "try:  printf 'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127" \
	      "%s\\n' \$$(date +%s.%N) | nc -N 127.0.0.1 12000"

herd-stop:
	@for pid in $(HERD_PREFIX)/logs/*.pid; do \
	    n=$$(basename $$pid .pid); \
	    if [ -f $$pid ] && kill -0 $$(cat $$pid) 2>/dev/null; then \
	        kill -QUIT $$(cat $$pid); \
	        for i in $$(seq 50); do \
	            kill -0 $$(cat $$pid 2>/dev/null) 2>/dev/null || break; \
	            sleep 0.1; \
	        done; \
	        echo "herd: stopped $$n"; \
	    fi; \
	done

# Benchmarks (bench/, issue 5): every scenario side by side with the asyncio
# herd and the ceilings; writes docs/performance.md.  About 10 minutes.

.PHONY: bench
bench: deps build
	bench/run

# Fuzzing (fuzz/): libFuzzer targets with ASan and UBSan, each run for
# FUZZ_SECONDS (default 60); fails on any crash.  CI: FUZZ_SECONDS=20.

.PHONY: fuzz
fuzz: deps $(NGX_BUILD)/objs/Makefile
	$(MAKE) -C fuzz NGX_BUILD=$(NGX_BUILD) BUILD=$(BUILD)/fuzz

# CI: every seed and past crash once, ASan + UBSan (deterministic)
.PHONY: fuzz-replay
fuzz-replay: deps $(NGX_BUILD)/objs/Makefile
	$(MAKE) -C fuzz replay NGX_BUILD=$(NGX_BUILD) BUILD=$(BUILD)/fuzz

# Memory checkers (t/sanitize): the whole suite against nginx, its stream
# module and herd built from the nginx source (the orig tarball of Debian's
# source package, fetched once into build/nginx-orig) with ASan + UBSan, or
# with every nginx process under valgrind memcheck.  Builds in build/asan,
# build/valgrind.

.PHONY: test-asan test-valgrind
test-asan: deps
	t/sanitize asan

test-valgrind: deps
	@command -v valgrind >/dev/null || { \
	    if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	        export DEBIAN_FRONTEND=noninteractive; \
	        apt-get update -qq && apt-get install -y -qq valgrind; \
	    else \
	        echo "make test-valgrind: install valgrind"; exit 1; \
	    fi; }
	t/sanitize valgrind

clean:
	rm -rf $(BUILD)
