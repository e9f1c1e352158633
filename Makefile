# Thin wrappers over CMake. `make test` and `make demo` are the two README commands: each installs
# what is missing (scripts/install-deps.sh), builds, and runs.
JOBS ?= $(shell nproc)
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo -G Ninja)
# Warnings fail the build only where the project's own checks run: `make test` (and so CI).
WERROR ?= OFF

.PHONY: all deps build test test-fast test-asan test-tsan test-release demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B build $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUSHCAP_WERROR=$(WERROR)
	cmake --build build -j $(JOBS)

# Every test: the release build, then ASan+UBSan on everything, then TSan on the ring, then a
# Release (-O3) build with its unit tests, the build type packagers use.
test: test-fast test-asan test-tsan test-release
test test-fast test-asan test-tsan test-release: WERROR = ON

test-fast: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPUSHCAP_SANITIZE=address,undefined -DPUSHCAP_WERROR=$(WERROR)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS) -LE no-sanitizer

test-tsan: deps
	cmake -S . -B build-tsan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUSHCAP_SANITIZE=thread -DPUSHCAP_RING_ONLY=ON -DPUSHCAP_WERROR=$(WERROR)
	cmake --build build-tsan -j $(JOBS)
	ctest --test-dir build-tsan --output-on-failure -L ring

test-release: deps
	cmake -S . -B build-release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DPUSHCAP_WERROR=$(WERROR)
	cmake --build build-release -j $(JOBS)
	ctest --test-dir build-release --output-on-failure -j $(JOBS) -L unit

demo: build
	scripts/demo.sh

# The figures in the README: each benchmark prints a table and a JSON line.
bench: build
	build/bin/pushcap-bench ring
	build/bin/pushcap-bench capture
	build/bin/pushcap-bench push

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan build-tsan
