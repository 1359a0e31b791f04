# The two commands of the README:
#   make run   install what is missing, build, start the server on its defaults
#   make test  install what is missing, build with ASan+UBSan, run every test
#
# Other targets: make build (release-ish build in build/), make demo,
# make clean. BUILD and TEST_BUILD name the Meson build directories.

BUILD ?= build
TEST_BUILD ?= build-test
SERVER_FLAGS ?=

.PHONY: all deps build run test clean

all: build

deps:
	@./tools/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtests=disabled

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	./$(BUILD)/server/raceboard-server $(SERVER_FLAGS)

test: deps $(TEST_BUILD)/build.ninja
	meson compile -C $(TEST_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(TEST_BUILD) --print-errorlogs $(TEST_ARGS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
