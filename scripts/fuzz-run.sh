#!/bin/sh
# fuzz-run.sh SECONDS TARGET... — run each libFuzzer target in build/fuzz/
# for SECONDS, from its committed seeds (fuzz/corpus/TARGET) plus what earlier
# runs found (build/fuzz/work/TARGET, where new inputs go).  Stops at the
# first finding: the crashing input is in build/fuzz/artifacts/ and the exit
# status is non-zero.  Prints one summary line per target.
set -eu
secs=$1
shift
mkdir -p build/fuzz/artifacts
for t in "$@"; do
    work=build/fuzz/work/$t
    seeds=fuzz/corpus/$t
    mkdir -p "$work" "$seeds"
    log=build/fuzz/$t.log
    # bigger inputs where the interesting structure needs room
    case $t in
        fuzz_json_rewrite|fuzz_translate|fuzz_translate_rs) maxlen=16384 ;;
        *) maxlen=8192 ;;
    esac
    dict=
    case $t in
        fuzz_sse_*|fuzz_translate|fuzz_translate_rs|fuzz_json_rewrite) dict=-dict=fuzz/sse.dict ;;
    esac
    start=$(date +%s)
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=$maxlen -print_final_stats=1 $dict \
        -artifact_prefix="build/fuzz/artifacts/$t-" "$work" "$seeds" >"$log" 2>&1; then
        echo "== $t: FINDING after $(( $(date +%s) - start )) s (see $log; input in build/fuzz/artifacts/)"
        grep -E "ERROR|runtime error|invariant failed|SUMMARY" "$log" | head -5
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "== $t: ${secs} s, ${runs:-?} inputs, no finding (corpus $(ls "$work" | wc -l) + $(ls "$seeds" | wc -l) seeds)"
done
