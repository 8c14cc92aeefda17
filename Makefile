# The two commands a new machine needs: `make run` and `make test`.
BUILD_DIR   ?= build
BUILD_TYPE  ?= Release
CONFIG      ?= etc/rmqtt.toml
CMAKE_EXTRA ?=
JOBS        ?= $(shell nproc)

# ccache keys on paths relative to the checkout, so a clone elsewhere reuses the cache.
export CCACHE_BASEDIR ?= $(CURDIR)

.PHONY: all deps configure build run test unit asan-test tsan-test format format-check bench clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_EXTRA) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	exec ./$(BUILD_DIR)/broker/rmqttd -f $(CONFIG)

test: build
	@cmake --build $(BUILD_DIR) --target format-check
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

# The whole suite against an ASan + UBSan build (RelWithDebInfo, in build-asan); slower.
asan-test: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQTT_SANITIZE=address $(CMAKE_EXTRA) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 900

# The threaded parts under ThreadSanitizer (RelWithDebInfo, in build-tsan): unit and storage tests
# (router concurrency, committer, registry, pipeline), and the integration tests, whose rmqttd
# runs 2 workers (cross-worker delivery, takeover, store completions). A report fails the test.
tsan-test: deps
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQTT_SANITIZE=thread $(CMAKE_EXTRA) >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	cd build-tsan && ctest --output-on-failure -j $(JOBS) --timeout 900 -L "unit|storage|integration" -LE slow

format: configure
	@cmake --build $(BUILD_DIR) --target format

format-check: configure
	@cmake --build $(BUILD_DIR) --target format-check

bench: build
	./bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
