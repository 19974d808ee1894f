# nncc: build, test and show the compiler. `make` alone builds it.
#
#   make demo    release build, compile + run the example MLP from the CLI,
#                a C program and the benchmark
#   make test    debug build, the whole test suite and the C loader's
#                mutation test
#   make test-unit  only the Swift tests that run no C compiler (UNIT_TESTS)
#   make fuzz    every libFuzzer target for FUZZ_SECONDS (default 600) each
#   make fuzz-smoke  every libFuzzer target for 10 s (CI runs it after the tests)
#
# Every target does its own set-up (SwiftPM fetches the two dependencies);
# nothing outside this folder is read except the optional conformance suite.

SWIFT   ?= swift
# gcc unless CC is set on the command line or in the environment.
ifeq ($(origin CC),default)
CC      := gcc
endif
PYTHON  ?= python3
NNCC    := .build/release/nncc
OUT     := out

# Compiled libraries are cached by hash; keep the cache inside the build
# folder so that neither the demo nor the tests write to ~/.cache.
export NNCC_CACHE ?= $(CURDIR)/.build/nncc-cache
TEST_CACHE := $(CURDIR)/.build/nncc-test-cache
# Seconds per fuzz target: `make fuzz` (release build), and `make fuzz-smoke`
# (debug build: compiles in half the time, runs 10x slower; a smoke test of
# every target, kept out of `make test`: its ASan build of the whole compiler
# takes longer than the tests it would add to, and the tests replay the seeds).
FUZZ_SECONDS      ?= 600
TEST_FUZZ_SECONDS ?= 10
TEST_FUZZ_CONFIG  ?= debug

CONFORMANCE := ../shared/conformance/run.py

# nncc links libclang (custom C operators, docs/custom-ops.md): Debian's libclang-dev, or
# LIBCLANG_PREFIX=/path/to/llvm holding include/clang-c/Index.h and lib/libclang.so. The `deps`
# step installs libclang-dev where it can (root with apt-get), so that a fresh machine needs nothing.
LIBCLANG_HEADER = $(firstword $(wildcard $(LIBCLANG_PREFIX)/include/clang-c/Index.h /usr/lib/llvm-*/include/clang-c/Index.h))

.DEFAULT_GOAL := build
.PHONY: build deps test test-unit fuzz fuzz-smoke demo generated bench conformance clean

build: deps
	$(SWIFT) build -c release

deps:
	@if [ -z "$(LIBCLANG_HEADER)" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	        echo "== installing libclang-dev (custom C operators read C with libclang)"; \
	        apt-get update -qq < /dev/null && apt-get install -y -qq --no-install-recommends libclang-dev < /dev/null; \
	    else \
	        echo "libclang is missing: install libclang-dev (sudo apt-get install libclang-dev), or set LIBCLANG_PREFIX to a folder with include/clang-c/Index.h and lib/libclang.so" >&2; exit 1; \
	    fi; \
	fi

# The tests run the nncc executable and the example apps from the folder
# of the test bundle (.build/debug), so the debug products must exist first:
# one build of everything, tests included (a plain `swift build` then `swift
# test` compiles every module twice). XCTest classes run in parallel worker
# processes (--parallel) and the Swift Testing suites (one test case per
# fixture) run their cases in parallel. The libraries build at -O1 (NNCC_OPT_LEVEL):
# half of -O3's gcc time, the same FMA contraction; TargetTests and ClangTests
# build at -O3, the level users get.
test: deps
	$(SWIFT) build --build-tests
	NNCC_CACHE=$(TEST_CACHE) NNCC_OPT_LEVEL=1 $(SWIFT) test --skip-build --parallel
	CC=$(CC) sh templates/test/run.sh

# The tests that need no gcc: front ends, readers, shapes, passes, the ONNX
# importer and the emitted C's text. NNCC_CC names no compiler, so a test
# here that starts gcc fails instead of passing slowly.
empty :=
space := $(empty) $(empty)
UNIT_TESTS := $(subst $(space),|,$(strip \
	FormatsTests FrontendTests FuzzCorpusTests HardeningShapeTests ONNXImportTests \
	PassTests ShapeTests SnapshotTests LRScheduleTests LRRangeTestTests \
	InspectTests ClassificationReportTests GradReportTests/testWarnings \
	GoldenTests/assertCloseHelper GoldenTests/fixturesFound \
	TrainingTests/trainingFixturesCarryGradients TrainingTests/crossEntropyNeedsClassVector \
	ReferenceKernelTests/everyFixtureModelIsCompared \
	CompilerTests/familyAndVersionComeFromThePredefinedMacros CompilerTests/flagsFollowTheFamily \
	ClangTests/sampleCoversEveryTemplate))

test-unit: deps
	$(SWIFT) build --build-tests
	NNCC_CC=/nonexistent/no-gcc-in-test-unit $(SWIFT) test --skip-build --filter '$(UNIT_TESTS)'

# libFuzzer targets over the model and data readers, under ASan (docs/fuzzing.md).
fuzz: deps
	SWIFT=$(SWIFT) FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/fuzz.sh

fuzz-smoke: deps
	SWIFT=$(SWIFT) FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) FUZZ_CONFIG=$(TEST_FUZZ_CONFIG) FUZZ_JOBS=2 sh scripts/fuzz.sh

demo: build
	@mkdir -p $(OUT)
	@echo "== nncc compile examples/mlp.json -o $(OUT)/mlp"
	$(NNCC) compile examples/mlp.json -o $(OUT)/mlp
	@echo
	@echo "== nncc run examples/mlp.json --input examples/mlp_x.npy"
	$(NNCC) run examples/mlp.json --input examples/mlp_x.npy
	@echo
	@echo "== C app (examples/c-app/main.c) linked against $(OUT)/mlp/libmlp.so"
	$(PYTHON) -c "import numpy as np; np.load('examples/mlp_x.npy').astype('<f4').tofile('$(OUT)/mlp/mlp_x.f32')"
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -I $(OUT)/mlp examples/c-app/main.c \
		-L $(OUT)/mlp -lmlp -Wl,-rpath,$(CURDIR)/$(OUT)/mlp -o $(OUT)/mlp/mlp-app
	$(OUT)/mlp/mlp-app examples/mlp.safetensors $(OUT)/mlp/mlp_x.f32
	@echo
	@echo "== nncc bench examples/mlp.json"
	$(NNCC) bench examples/mlp.json --batch 1
	$(NNCC) bench examples/mlp.json --batch 128
	@echo
	@echo "== nncc train examples/digits_cnn.json: the generated C trains a CNN on UCI digits"
	@start=$$(date +%s); \
	$(NNCC) train examples/digits_cnn.json --data examples/digits/train.npz --val examples/digits/test.npz \
		--save $(OUT)/digits_cnn.safetensors --log $(OUT)/digits_cnn.csv --plot $(OUT)/digits_cnn_loss.svg && \
	echo "trained in $$(( $$(date +%s) - start )) s (compile included); loss curve: $(OUT)/digits_cnn_loss.svg"
	@echo
	@echo "== nncc eval examples/digits_cnn.json on the 360 held-out digits"
	$(NNCC) eval examples/digits_cnn.json --data examples/digits/test.npz --weights $(OUT)/digits_cnn.safetensors

# generated/NAME.{c,h} for every example model, as `--target portable` at the
# default batch emits them (a test compares them with a fresh emission).
generated: build
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	rm -f generated/*.c generated/*.h && \
	for model in examples/*.json; do \
		stem=$$(basename "$$model" .json); \
		$(NNCC) compile "$$model" --target portable -o "$$tmp/$$stem" > /dev/null || exit 1; \
		cp "$$tmp/$$stem"/*.c "generated/$$stem.c" && cp "$$tmp/$$stem"/*.h "generated/$$stem.h" || exit 1; \
		echo "generated/$$stem.c, generated/$$stem.h"; \
	done

bench: build
	$(PYTHON) bench/run.py --nncc $(CURDIR)/$(NNCC)

conformance: build
	@if [ -f $(CONFORMANCE) ]; then \
		$(PYTHON) $(CONFORMANCE) --nncc $(CURDIR)/$(NNCC); \
	else \
		echo "conformance suite absent ($(CONFORMANCE) not found); skipped"; \
	fi

clean:
	rm -rf .build .build-fuzz $(OUT)
