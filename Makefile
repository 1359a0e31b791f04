# The two commands of the README:
#   make run   install what is missing, build, start the server on its defaults
#   make test  install what is missing, build with ASan+UBSan, run every test
#
# Other targets: make build (release-ish build in build/), make demo,
# make test-tsan (the server's threads under ThreadSanitizer),
# make test-web (the page's unit and browser tests), make test-openapi
# (docs/openapi.yaml against the server), make deb (the Debian package,
# into DEB_BUILD), make test-deploy (HTTPS through nginx, and the package
# installed and serving), make clean. BUILD, TEST_BUILD and WEB_BUILD
# name the Meson build directories.

BUILD ?= build
TEST_BUILD ?= build-test
VALGRIND_BUILD ?= build-valgrind
TSAN_BUILD ?= build-tsan
WEB_BUILD ?= build-web
DEB_BUILD ?= build-deb
DEMO_PORT ?= 7777
SERVER_FLAGS ?=

.PHONY: all deps build run test test-tsan test-web test-openapi test-deploy deb demo cluster clean

all: build

deps:
	@./tools/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtests=disabled

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

$(WEB_BUILD)/build.ninja:
	meson setup $(WEB_BUILD) -Dtests=disabled

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	./$(BUILD)/server/raceboard-server $(SERVER_FLAGS)

test: deps $(TEST_BUILD)/build.ninja
	meson compile -C $(TEST_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(TEST_BUILD) --print-errorlogs $(TEST_ARGS)
	./tests/valgrind-server.sh $(VALGRIND_BUILD)
	$(MAKE) test-tsan
	$(MAKE) test-openapi
	$(MAKE) test-web
	$(MAKE) test-deploy

# The integration suites that drive the server's threads (REST, WS, acks,
# pipelining, slow subscribers, cluster mode) against a server built with
# ThreadSanitizer in TSAN_BUILD; any TSan report fails it (about 1 minute
# on 2 cores). TSAN_TESTS picks other suites (meson test names).
test-tsan: deps $(TEST_BUILD)/build.ninja
	./tests/tsan-server.sh $(TSAN_BUILD) $(TEST_BUILD) $(TSAN_TESTS)

# docs/openapi.yaml against real replies of the server (tests/openapi/:
# Ajv, JSON Schema 2020-12), so the description cannot drift.
test-openapi: deps $(WEB_BUILD)/build.ninja
	@RACEBOARD_WITH_NPM=1 ./tools/install-deps.sh
	meson compile -C $(WEB_BUILD) raceboard-server
	@[ -d tests/openapi/node_modules/ajv ] || \
		npm ci --prefix tests/openapi --no-audit --no-fund
	cd tests/openapi && RACEBOARD_SERVER_BIN=$(CURDIR)/$(WEB_BUILD)/server/raceboard-server \
		node --test openapi.test.mjs

# The page (web-demo/): node unit tests of its rules, then end-to-end tests
# in Debian's headless Chromium against the real server binary.
test-web: deps $(WEB_BUILD)/build.ninja
	@RACEBOARD_WITH_BROWSER=1 ./tools/install-deps.sh
	meson compile -C $(WEB_BUILD) raceboard-server
	@[ -d tests/browser/node_modules/playwright-core ] || \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund
	node --test tests/web/
	cd tests/browser && RACEBOARD_SERVER_BIN=$(CURDIR)/$(WEB_BUILD)/server/raceboard-server \
		node --test --test-concurrency=1 e2e.test.mjs daily.test.mjs output.test.mjs

# The Debian package (debian/: debhelper and Meson), built from a copy of
# the tracked files; the .deb lands in DEB_BUILD.
deb:
	@RACEBOARD_WITH_DEPLOY=1 ./tools/install-deps.sh
	./tools/build-deb.sh $(DEB_BUILD)

# Deployment checks: HTTPS through Debian's nginx running
# docs/deploy/nginx.conf (the page over wss: in Chromium, the CLI with
# --cacert, a webhook), then the package built, installed with dpkg -i and
# serving from / (skipped without root).
test-deploy: deps $(WEB_BUILD)/build.ninja
	@RACEBOARD_WITH_DEPLOY=1 RACEBOARD_WITH_BROWSER=1 ./tools/install-deps.sh
	meson compile -C $(WEB_BUILD) raceboard-server raceboard
	@[ -d tests/browser/node_modules/playwright-core ] || \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund
	cd tests/browser && RACEBOARD_SERVER_BIN=$(CURDIR)/$(WEB_BUILD)/server/raceboard-server \
		RACEBOARD_CLI_BIN=$(CURDIR)/$(WEB_BUILD)/cli/raceboard node --test https.test.mjs
	./tests/deploy/deb_test.sh $(DEB_BUILD); rc=$$?; \
		[ $$rc -eq 0 ] || [ $$rc -eq 77 ] || exit $$rc

# The server on DEMO_PORT with fresh data, fed by a producer of realistic
# races; Ctrl-C stops both.
# Cluster mode on loopback (docs/CLUSTER.md): 3 NATS JetStream nodes and 3
# servers on 7777-7779; Ctrl-C stops all of them.
cluster: build
	./tools/cluster.sh $(BUILD)

demo: build
	@RACEBOARD_WITH_NODE=1 ./tools/install-deps.sh
	@data=$$(mktemp -d); \
	./$(BUILD)/server/raceboard-server --port $(DEMO_PORT) --data-dir "$$data" \
		--log-level warn $(SERVER_FLAGS) & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf "$$data"' EXIT INT TERM; \
	echo "Raceboard demo: open http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C stops it)"; \
	node tools/demo-producer.mjs --url http://127.0.0.1:$(DEMO_PORT)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(WEB_BUILD) $(VALGRIND_BUILD) build-fuzz \
		$(DEB_BUILD) $(TSAN_BUILD)
