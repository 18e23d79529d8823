#!/bin/sh
# Shows that a change of the compiler changed nothing a user sees: every .tg file of the tree
# (samples, test programs, bench networks) is compiled by this tree's tgc and by the tgc of
# another commit, and the two are compared:
#   - what each writes: the C and its header (default options and -O0), the IR (--emit=ir),
#     the CUDA source (--emit=cuda), the --stats report, and each command's messages and status;
#   - what each program prints when run (its stdout, stderr and exit status);
#   - each train block's trainer, run for a few hundred batches (every batch's loss, the log
#     lines, the test accuracy), and the Fashion-MNIST trainer (samples/lenet_trainer.tg)
#     for its whole 2 epochs with --full.
# Usage: sh scripts/same_outputs.sh [--full] [--code-only] [--keep] [REF]
#   REF        the commit to compare with (default HEAD: the working tree against its last commit)
#   --full     train the main job for its 2 epochs (about a minute per side), not 3,000 batches
#   --code-only  compare the generated files and messages only (no C compiler runs; seconds)
#   --expect-code-changes  the generated files may differ (a change to the code generator
#              that keeps behaviour); what the programs and trainers print must still be equal
#   --keep     keep the temporary folder (its path is printed) to look at the differences
# Exit status 0 when everything is identical; 1 with the differences listed otherwise.
# Needs: git, meson, ninja, cc, and the Fashion-MNIST files for the trainers (dataset-fashion-mnist).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

full=0; code_only=0; keep=0; code_may_differ=0; ref=HEAD
for a in "$@"; do
    case "$a" in
    --full) full=1 ;;
    --code-only) code_only=1 ;;
    --expect-code-changes) code_may_differ=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "same_outputs: unknown option '$a' (see --help)" >&2; exit 2 ;;
    *) ref=$a ;;
    esac
done
git rev-parse --verify -q "$ref^{commit}" >/dev/null || { echo "same_outputs: '$ref' is not a commit" >&2; exit 2; }

tmp=$(mktemp -d /tmp/tgc-same-XXXXXX)
cleanup() { if [ "$keep" = 1 ]; then echo "same_outputs: kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# the other commit, built apart (its own build folder, so this tree's build is untouched)
echo "same_outputs: building $ref ($(git rev-parse --short "$ref"))"
mkdir "$tmp/base"
git archive "$ref" | tar -x -C "$tmp/base"
(cd "$tmp/base" && meson setup build </dev/null >"$tmp/base-setup.log" 2>&1 && ninja -C build >"$tmp/base-build.log" 2>&1) ||
    { echo "same_outputs: $ref does not build; see $tmp/base-build.log" >&2; keep=1; exit 1; }
echo "same_outputs: building this tree"
ninja -C build >"$tmp/build.log" 2>&1 || { echo "same_outputs: this tree does not build" >&2; cat "$tmp/build.log" >&2; exit 1; }

# a small CIFAR-10 in the real binary format (64 records per file) for the trainers that read one
cifar="$tmp/cifar"
mkdir -p "$cifar"
k=0
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    k=$((k + 1))
    LC_ALL=C awk -v k=$k 'BEGIN { srand(k); for (r = 0; r < 64; r++) { printf "%c", (r + k) % 10;
        for (i = 0; i < 3072; i++) printf "%c", int(rand() * 256) } }' >"$cifar/$f.bin"
done

# what a program loads, by its file name: the goldens' weights and batches
fixtures() {
    case "$1" in
    *net3*) echo tests/golden/train/net3 ;;
    *net4*) echo tests/golden/train/net4 ;;
    *lenet_npy*) echo tests/golden/lenet ;;
    *safetensors*) echo tests/golden/safetensors ;;
    esac
}

files=$(ls samples/*.tg samples/blitz/*.tg tests/programs/*.tg tests/programs/passes/*.tg bench/*.tg 2>/dev/null)

# snapshot TGC OUT: everything the compiler TGC writes and every program's output, into OUT.
# Each command runs inside OUT with the same arguments, so paths in banners match.
snapshot() {
    tgc=$1; out=$2
    mkdir -p "$out/code" "$out/run"
    for f in $files; do
        n=$(echo "$f" | tr '/' '_' | sed 's/\.tg$//')
        src="$root/$f"
        (
            cd "$out/code"
            for v in "c:" "O0:-O0" "ir:--emit=ir" "cu:--emit=cuda" "stats:--stats"; do
                kind=${v%%:*}; opt=${v#*:}
                ext=$kind; [ "$kind" = O0 ] && ext=O0.c; [ "$kind" = stats ] && ext=stats.c
                set +e
                "$tgc" compile "$src" $opt -o "$n.$ext" >"$n.$kind.stdout" 2>"$n.$kind.stderr"
                echo "exit $?" >>"$n.$kind.stderr"
                set -e
            done
        )
        [ "$code_only" = 1 ] && continue
        grep -q '^exit 0$' "$out/code/$n.c.stderr" || continue
        run="$out/run/$n"
        mkdir -p "$run"
        fx=$(fixtures "$f")
        if [ -n "$fx" ]; then
            for e in "$root/$fx"/*; do ln -s "$e" "$run/"; done
        fi
        mkdir -p "$run/data"
        ln -s "$cifar" "$run/data/cifar-10-batches-bin"
        for e in "$cifar"/*; do ln -s "$e" "$run/data/"; done
        (
            cd "$run"
            set +e
            "$tgc" build "$src" -o prog >build.out 2>&1
            echo "exit $?" >>build.out
            [ -x prog ] || exit 0
            if grep -q '^train ' "$src"; then
                limit=300; [ "$f" = samples/lenet_trainer.tg ] && limit=3000
                [ "$f" = samples/lenet_trainer.tg ] && [ "$full" = 1 ] && limit=0
                if [ "$limit" = 0 ]; then
                    timeout 900 ./prog --csv losses.csv >stdout 2>stderr </dev/null
                else
                    timeout 600 ./prog --limit $limit --test-limit 1000 --csv losses.csv >stdout 2>stderr </dev/null
                fi
            else
                timeout 300 ./prog >stdout 2>stderr </dev/null
            fi
            echo "exit $?" >>stderr
            rm -f prog
        )
    done
}

echo "same_outputs: compiling and running with $ref's tgc"
snapshot "$tmp/base/build/tgc" "$tmp/old"
echo "same_outputs: compiling and running with this tree's tgc"
snapshot "$root/build/tgc" "$tmp/new"

# progress lines (\r ...), elapsed times and images per second differ from run to run
for side in old new; do
    find "$tmp/$side/run" -name stdout -o -name stderr | while read -r f; do
        sed -i -e 's/\r/\n/g' "$f"
        sed -i -e '/images\/s\|elapsed\| s$\|[0-9]\.[0-9]* s\b/d' "$f"
    done
done

status=0
if [ "$code_may_differ" = 1 ]; then
    # messages and exit statuses of the compiler must still agree
    if ! diff -r -q -x '*.c' -x '*.h' -x '*.ir' -x '*.cu' -x '*.stdout' "$tmp/old/code" "$tmp/new/code" >"$tmp/code.diff"; then
        echo "same_outputs: the compiler's messages differ:"; cat "$tmp/code.diff"; status=1
    fi
    echo "same_outputs: generated files: $(diff -r -q "$tmp/old/code" "$tmp/new/code" | wc -l) of $(ls "$tmp/new/code" | wc -l) differ (allowed by --expect-code-changes)"
elif ! diff -r -q "$tmp/old/code" "$tmp/new/code" >"$tmp/code.diff"; then
    echo "same_outputs: the generated files differ:"; cat "$tmp/code.diff"; status=1
fi
if [ "$code_only" = 0 ] && ! diff -r -q "$tmp/old/run" "$tmp/new/run" >"$tmp/run.diff"; then
    echo "same_outputs: what the programs print differs:"; cat "$tmp/run.diff"; status=1
fi
nfiles=$(echo "$files" | wc -l)
nruns=$(find "$tmp/new/run" -name stdout | wc -l)
ntrain=$(find "$tmp/new/run" -name losses.csv | wc -l)
what="the generated files and messages"
[ "$code_may_differ" = 1 ] && what="the compiler's messages and exit statuses; generated files may differ"
if [ "$status" = 0 ]; then
    if [ "$code_only" = 1 ]; then
        echo "same_outputs: identical: $nfiles .tg files compiled 5 ways ($what)"
    else
        echo "same_outputs: identical: $nfiles .tg files compiled 5 ways ($what), $nruns programs run ($ntrain trainers, their every batch's loss)"
    fi
else
    keep=1
fi
exit $status
