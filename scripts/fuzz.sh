#!/bin/sh
# Builds the libFuzzer targets (Sources/nncc-fuzz) under ASan and runs each one for FUZZ_SECONDS.
#
#   scripts/fuzz.sh [TARGET...]      targets: json safetensors npy npz onnx (default: all)
#
# FUZZ_SECONDS  time per target (default 600)
# FUZZ_CONFIG   release (default) or debug: the debug build compiles in about half the time and
#               runs about ten times slower
# FUZZ_JOBS     targets run at once (default 1); `make test` runs 2, one per core
#
# Each target starts from its committed seeds (Tests/Fuzz/corpus/TARGET, read only) plus what
# earlier runs found (.build-fuzz/corpus/TARGET). A crash, an ASan report, a leak, an input
# taking over 1 s or 2 GB is a failure: libFuzzer writes the input to .build-fuzz/crashes/TARGET/
# and the log is .build-fuzz/logs/CONFIG-TARGET.log. Exits non-zero when any target failed; the last
# line is "N passed, M failed". docs/fuzzing.md has the details.
set -u
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-600}
config=${FUZZ_CONFIG:-release}
targets=${*:-json safetensors npy npz onnx}
scratch=.build-fuzz

# `--sanitize=fuzzer` makes SwiftPM link libFuzzer's main (and keep the executable's entry point
# out); the sanitizers themselves go in one -sanitize= flag, since SwiftPM orders two --sanitize
# options at random and the compiler keeps only the last.
"${SWIFT:-swift}" build -c "$config" --product nncc-fuzz --scratch-path "$scratch" --sanitize=fuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING || exit 1
bin=$scratch/$config/nncc-fuzz

# libFuzzer reports crashes itself; Swift's backtracer would stall each one for a while.
export SWIFT_BACKTRACE=enable=no

jobs=${FUZZ_JOBS:-1}

# Runs one target; its exit status goes to LOG.rc for the report below.
run_target() {
    t=$1
    work=$scratch/corpus/$t
    crashes=$scratch/crashes/$t
    # One log per build configuration, so a short debug run cannot overwrite a long release run's log.
    log=$scratch/logs/$config-$t.log
    mkdir -p "$work" "$crashes" "$scratch/logs"
    set -- "$work" "Tests/Fuzz/corpus/$t" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
        -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$crashes/"
    if [ -f "Tests/Fuzz/dict/$t.dict" ]; then set -- "$@" -dict="Tests/Fuzz/dict/$t.dict"; fi
    NNCC_FUZZ_TARGET=$t "$bin" "$@" > "$log" 2>&1
    echo $? > "$log.rc"
}

# FUZZ_JOBS targets at a time.
running=0
for t in $targets; do
    [ -d "Tests/Fuzz/corpus/$t" ] || continue
    rm -f "$scratch/logs/$config-$t.log.rc"
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait; running=0; fi
done
wait

passed=0
failed=0
for t in $targets; do
    if [ ! -d "Tests/Fuzz/corpus/$t" ]; then
        echo "$t: unknown target (no Tests/Fuzz/corpus/$t)"
        failed=$((failed + 1))
        continue
    fi
    log=$scratch/logs/$config-$t.log
    crashes=$scratch/crashes/$t
    rc=$(cat "$log.rc" 2> /dev/null || echo "?")

    runs=$(LC_ALL=C sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    # -a: a mutated input echoed in the log may hold any byte.
    last=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    artifact=$(LC_ALL=C sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -n 1)
    summary="${runs:-?} runs, coverage ${cov:-?} edges / ${ft:-?} features, corpus ${corp:-?} inputs"

    if [ "$rc" = 0 ] && [ -z "$cov" ]; then
        echo "$t: FAILED: no coverage reported; is the build instrumented? (log $log)"
        failed=$((failed + 1))
    elif [ "$rc" = 0 ]; then
        echo "$t: ok: $summary"
        passed=$((passed + 1))
    else
        kind=$(basename "${artifact:-failure-}" | cut -d- -f1)
        echo "$t: FAILED ($kind, exit $rc): $summary"
        grep -a -E 'Fatal error|==ERROR|ERROR: libFuzzer|SUMMARY|ALARM' "$log" | head -n 5 | sed 's/^/    /'
        [ -n "$artifact" ] && echo "    reproduce: NNCC_FUZZ_TARGET=$t $bin $artifact"
        echo "    log: $log"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
