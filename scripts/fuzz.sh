#!/bin/sh
# Fuzzes what tgc and its programs read from the outside, with libFuzzer, one target after another:
#
#   frontend     tests/fuzz/fuzz_frontend.c: each input as a .tg file through tgc's pipeline up to
#                the written C (parse, lower, dce, simplify, fuse, memplan, emit)
#   safetensors  tests/fuzz/fuzz_runtime.c: each input as a checkpoint (the trainer's reader, the
#                strict and the prefixed loads)
#   data         the same file: each input split into an IDX images file and a labels file, and
#                read as .npy arrays
#   options      the same file: each input split at NUL bytes into a program's command line
#
# A user error is fine; a crash, an internal error, a failed ir_verify, a sanitizer report, a leak,
# a hang (-timeout) or a blow-up of memory (-rss_limit_mb) is a finding.
#
#   sh scripts/fuzz.sh [SECONDS] [TARGET ...]   each TARGET for SECONDS (default 600; all four)
#
# Everything lives in build-fuzz/ (ignored by git): the targets (fuzz_TARGET), their corpora
# (corpus-TARGET/, kept from run to run and reseeded each time; corpus/ for the frontend), findings
# (crashes/: crash-*, leak-*, timeout-*, oom-*) and each run's log (fuzz-TARGET.log). To replay or
# shrink a finding:
#
#   TGC_FUZZ_VERBOSE=1 build-fuzz/fuzz_frontend build-fuzz/crashes/crash-...   (shows the diagnostics)
#   build-fuzz/fuzz_TARGET -minimize_crash=1 -max_total_time=60 -exact_artifact_path=min crash-...
#
# The seeds: for the frontend every .tg of samples/, samples/blitz/ and tests/programs/, the
# malformed programs of the diagnostic table (scripts/gen_diag_table.py) and the fixed findings
# (tests/fuzz/regressions/*.tg); for the others tests/fuzz/regressions/TARGET/, where a fixed
# finding is kept too (the fuzz-regressions and fuzz-runtime suites replay them all).
# The build is a plain clang command, not part of meson: the normal build and CI never need libFuzzer.
# Environment: CC (default clang; Debian's clang 14 with libclang-rt-14-dev works), FUZZ_DIR (default
# build-fuzz).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
case $secs in '' | *[!0-9]*) echo "usage: sh scripts/fuzz.sh [SECONDS] [frontend|safetensors|data|options ...]" >&2; exit 2 ;; esac
[ $# -gt 0 ] && shift
targets=${*:-frontend safetensors data options}
for t in $targets; do
    case $t in frontend | safetensors | data | options) ;; *) echo "fuzz: unknown target '$t'" >&2; exit 2 ;; esac
done
dir=${FUZZ_DIR:-build-fuzz}
cc=${CC:-clang}
mkdir -p "$dir/seeds" "$dir/crashes"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c99 -D_POSIX_C_SOURCE=200809L"

# the sources of a meson.build's first files(...), which may span lines and hold comments
meson_files() {
    sed 's/#.*//' "$1/meson.build" | tr '\n' ' ' | sed -n "s/[^(]*files(\([^)]*\)).*/\1/p" | tr -d "',"
}

build_frontend() {
    # codegen_c/frame.c needs config.h for the version in its banner; nothing else of it
    version=$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" meson.build | head -n 1)
    printf '#pragma once\n#define TGC_VERSION "%s"\n' "$version" > "$dir/config.h"
    srcs="" # the compiler's sources as meson lists them, less codegen_c/validate.c (tgc check, libclang)
    for layer in ir frontend passes codegen_c; do
        for f in $(meson_files "$layer"); do
            [ "$f" = validate.c ] || srcs="$srcs $layer/$f"
        done
    done
    # shellcheck disable=SC2086 # lists of paths without spaces
    $cc $flags -I. -I"$dir" tests/fuzz/fuzz_frontend.c $srcs -lm -o "$dir/fuzz_frontend"
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
}

build_runtime() { # $1: the target
    srcs=""
    for f in $(meson_files runtime); do
        srcs="$srcs runtime/$f"
    done
    # shellcheck disable=SC2086
    $cc $flags -DTGC_FUZZ_TARGET="fuzz_$1" -Iruntime tests/fuzz/fuzz_runtime.c $srcs -lz -lm -o "$dir/fuzz_$1"
    rm -f "$dir"/seeds/*
    cp tests/fuzz/regressions/"$1"/* "$dir/seeds/"
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in $targets; do
    echo "building $dir/fuzz_$t with $cc"
    if [ "$t" = frontend ]; then
        build_frontend
        corpus=$dir/corpus
        extra="-max_len=4096 -dict=tests/fuzz/tg.dict"
    else
        build_runtime "$t"
        corpus=$dir/corpus-$t
        extra="-max_len=65536"
    fi
    mkdir -p "$corpus"
    echo "$(ls "$dir/seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) inputs in $corpus from earlier runs"
    log=$dir/fuzz-$t.log
    cmd="$dir/fuzz_$t -max_total_time=$secs $extra -timeout=10 -rss_limit_mb=2048 -close_fd_mask=1
         -artifact_prefix=$dir/crashes/$t- -print_final_stats=1 $corpus $dir/seeds"
    echo "$cmd" | tr -s ' \n' ' '; echo
    st=0
    # shellcheck disable=SC2086
    $cmd > "$log" 2>&1 || st=$?

    # the summary: libFuzzer's last status line and final statistics
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    field() { echo "$last" | sed -n "s/.* $1: \([^ ]*\).*/\1/p"; }
    echo "---- $t: libFuzzer, $secs s ($log)"
    echo "executions: $(stat number_of_executed_units)  exec/s: $(stat average_exec_per_sec)"
    echo "coverage:   cov: $(field cov)  ft: $(field ft)"
    echo "corpus:     $(field corp) (inputs/bytes), $(ls "$corpus" | wc -l) files in $corpus"
    echo "peak RSS:   $(stat peak_rss_mb) MB"
    if [ "$st" -ne 0 ]; then
        echo "FINDING (libFuzzer exit $st): $(grep -m 1 -E 'ERROR: |==ERROR|runtime error|internal error|Test unit written' "$log" || true)"
        grep -E 'Test unit written|artifact_prefix' "$log" || true
        echo "findings are in $dir/crashes/"
        status=$st
    else
        echo "no finding"
    fi
done
exit "$status"
