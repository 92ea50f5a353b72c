# chatd — front door of the build. `make` builds the release binaries,
# `make run` starts a development server, `make test` runs every suite under
# AddressSanitizer/UBSan, `make bench` runs the benchmarks. Compilation rules
# live in mk/build.mk; this file only installs what is missing and dispatches.

.PHONY: all deps run test test-deps unit e2e fuzz bench format clean

all: deps
	@$(MAKE) --no-print-directory -f mk/build.mk MODE=release all

deps:
	@scripts/install-deps.sh build

run: all
	@scripts/dev-run.sh

test-deps:
	@scripts/install-deps.sh test

test: test-deps
	@$(MAKE) --no-print-directory -f mk/build.mk MODE=asan all
	@scripts/run-tests.sh build/asan

unit: deps
	@$(MAKE) --no-print-directory -f mk/build.mk MODE=asan all
	@scripts/run-tests.sh build/asan unit

bench:
	@scripts/install-deps.sh bench
	@$(MAKE) --no-print-directory -f mk/build.mk MODE=release all
	@$(MAKE) --no-print-directory -s -C bench/relay
	@cd bench/peers/seed-node && npm ci --silent --no-audit --no-fund
	@scripts/bench.sh

format:
	@clang-format -i $$(find src tools tests -name '*.[ch]')

clean:
	rm -rf build
