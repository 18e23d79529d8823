#!/bin/sh
# Fuzzes the frontend and the graph passes with libFuzzer: tests/fuzz/fuzz_frontend.c runs each input
# as a .tg file through tgc's pipeline up to the written C (parse, lower, dce, simplify, fuse,
# memplan, emit), where a user error is fine and a crash, an internal error, a failed ir_verify, a
# sanitizer report, a leak, a hang (-timeout) or a blow-up of memory (-rss_limit_mb) is a finding.
#
#   sh scripts/fuzz.sh [SECONDS]    fuzz for SECONDS (default 600), then print a summary
#
# Everything lives in build-fuzz/ (ignored by git): the target (fuzz_frontend), the corpus (corpus/,
# kept from run to run and reseeded each time), findings (crashes/: crash-*, leak-*, timeout-*,
# oom-*) and the log of the last run (fuzz.log). To replay or shrink a finding:
#
#   TGC_FUZZ_VERBOSE=1 build-fuzz/fuzz_frontend build-fuzz/crashes/crash-...   (shows the diagnostics)
#   build-fuzz/fuzz_frontend -minimize_crash=1 -max_total_time=60 -exact_artifact_path=min.tg crash-...
#
# The seeds: every .tg of samples/, samples/blitz/ and tests/programs/, the malformed programs of the
# diagnostic table (scripts/gen_diag_table.py) and the fixed findings (tests/fuzz/regressions/).
# The build is a plain clang command, not part of meson: the normal build and CI never need libFuzzer.
# Environment: CC (default clang; Debian's clang 14 with libclang-rt-14-dev works), FUZZ_DIR (default
# build-fuzz).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
case $secs in '' | *[!0-9]*) echo "usage: sh scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
dir=${FUZZ_DIR:-build-fuzz}
cc=${CC:-clang}
mkdir -p "$dir/corpus" "$dir/seeds" "$dir/crashes"

# codegen_c/frame.c needs config.h for the version in its banner; nothing else of it
version=$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" meson.build | head -n 1)
printf '#pragma once\n#define TGC_VERSION "%s"\n' "$version" > "$dir/config.h"
# the compiler's sources as meson lists them, less codegen_c/validate.c (tgc check, libclang)
srcs=""
for layer in ir frontend passes codegen_c; do
    # the first files(...) of the layer's meson.build, which may span lines and hold comments
    for f in $(sed 's/#.*//' "$layer/meson.build" | tr '\n' ' ' | sed -n "s/[^(]*files(\([^)]*\)).*/\1/p" | tr -d "',"); do
        [ "$f" = validate.c ] || srcs="$srcs $layer/$f"
    done
done
echo "building $dir/fuzz_frontend with $cc"
# shellcheck disable=SC2086 # $srcs is a list of paths without spaces
$cc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -std=c99 -D_POSIX_C_SOURCE=200809L -I. -I"$dir" \
    tests/fuzz/fuzz_frontend.c $srcs -lm -o "$dir/fuzz_frontend"

# seeds: copied fresh each run; libFuzzer reads them with the corpus and writes what it finds to corpus/
rm -f "$dir"/seeds/*
for f in samples/*.tg samples/blitz/*.tg tests/programs/*.tg tests/fuzz/regressions/*.tg; do
    [ -f "$f" ] && cp "$f" "$dir/seeds/$(echo "$f" | tr / _)"
done
python3 - "$dir/seeds" <<'EOF'
import os, sys
sys.path.insert(0, "scripts")
import gen_diag_table
for name, src in gen_diag_table.CASES:
    with open(os.path.join(sys.argv[1], "diag_" + name + ".tg"), "w", encoding="latin-1") as f:
        f.write(src)
EOF
echo "$(ls "$dir/seeds" | wc -l) seeds, $(ls "$dir/corpus" | wc -l) inputs in $dir/corpus from earlier runs"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cmd="$dir/fuzz_frontend -max_total_time=$secs -max_len=4096 -timeout=10 -rss_limit_mb=2048
     -dict=tests/fuzz/tg.dict -artifact_prefix=$dir/crashes/ -print_final_stats=1 $dir/corpus $dir/seeds"
echo "$cmd" | tr -s ' \n' ' '; echo
status=0
# shellcheck disable=SC2086
$cmd > "$dir/fuzz.log" 2>&1 || status=$?

# the summary: libFuzzer's last status line and final statistics
last=$(grep -E '^#[0-9]+' "$dir/fuzz.log" | tail -n 1)
stat() { sed -n "s/^stat::$1: *//p" "$dir/fuzz.log" | tail -n 1; }
field() { echo "$last" | sed -n "s/.* $1: \([^ ]*\).*/\1/p"; }
echo "---- libFuzzer, $secs s ($dir/fuzz.log)"
echo "executions: $(stat number_of_executed_units)  exec/s: $(stat average_exec_per_sec)"
echo "coverage:   cov: $(field cov)  ft: $(field ft)"
echo "corpus:     $(field corp) (inputs/bytes), $(ls "$dir/corpus" | wc -l) files in $dir/corpus"
echo "peak RSS:   $(stat peak_rss_mb) MB"
if [ "$status" -ne 0 ]; then
    echo "FINDING (libFuzzer exit $status): $(grep -m 1 -E 'ERROR: |==ERROR|runtime error|internal error|Test unit written' "$dir/fuzz.log" || true)"
    grep -E 'Test unit written|artifact_prefix' "$dir/fuzz.log" || true
    echo "findings are in $dir/crashes/"
else
    echo "no finding"
fi
exit "$status"
