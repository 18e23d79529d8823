#!/bin/sh
# The main job as a program (samples/lenet_fashion.tg: the Task 4 loop written out) against the
# built-in trainer it replaced, both on this machine in one run: the trainer is built by the tgc
# of commit 1d80b17 (the last before programs could loop; its samples/lenet_fashion.tg is the
# `train` block), from a copy of that commit made in a temporary folder.
#
#   sh bench/main_job.sh [SEEDS...]     (default: 0 1 2 3 4; about 2 minutes of building, then
#                                        2 x 7 s per seed and per round)
#
# For each seed both run twice, alternating (old, new, old, new), and each side's faster run
# counts: wall time of the whole job (reading the data, 2 epochs of 15,000 steps, the test pass)
# and the test accuracy (the mean of the ten per-class accuracies, so both give two decimals).
# The two draw their initial weights and permutation differently (the program draws them as
# PyTorch does), so per seed the accuracies differ; over the seeds their spreads should overlap.
# It ends with the speed ratio old/new of the summed best times (above 0.95: within 5%).
# ROUNDS=N changes the number of runs per side and seed.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
seeds=${*:-0 1 2 3 4}
rounds=${ROUNDS:-2}
base=1d80b17
[ -x build/tgc ] || sh scripts/setup.sh --no-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git archive "$base" | tar -x -C "$work" && mkdir "$work/src" && (cd "$work" && mv -- * src/ 2>/dev/null || true)
(cd "$work/src" && meson setup "$work/b" </dev/null >/dev/null && ninja -C "$work/b" tgc runtime/libtgrt.a >/dev/null)
"$work/b/tgc" build "$work/src/samples/lenet_fashion.tg" -o "$work/old"
./build/tgc build samples/lenet_fashion.tg -o "$work/new"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $cpu, $(nproc) cores; OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
echo "old: the train block built by tgc $base; new: the program built by tgc $(git rev-parse --short HEAD)"
printf '%-5s %10s %10s %9s %9s\n' seed old_acc new_acc old_s new_s
acc_of() { sed -n 's/^Accuracy for class: .* is \([0-9.]*\) %$/\1/p' "$1" | awk '{s += $1} END {printf "%.2f", s / NR}'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN {print (b == "" || a < b) ? a : b}'; }
told=0; tnew=0
for s in $seeds; do
    bo=""; bn=""
    r=0
    while [ "$r" -lt "$rounds" ]; do
        for side in old new; do
            start=$(date +%s.%N)
            "$work/$side" --seed "$s" > "$work/$side.txt"
            end=$(date +%s.%N)
            t=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')
            if [ "$side" = old ]; then bo=$(best "$t" "$bo"); else bn=$(best "$t" "$bn"); fi
        done
        r=$((r + 1))
    done
    ao=$(acc_of "$work/old.txt"); an=$(acc_of "$work/new.txt")
    printf '%-5s %10s %10s %9s %9s\n' "$s" "$ao" "$an" "$bo" "$bn"
    echo "$ao $an" >> "$work/acc"
    told=$(awk -v a="$told" -v b="$bo" 'BEGIN {print a + b}')
    tnew=$(awk -v a="$tnew" -v b="$bn" 'BEGIN {print a + b}')
done
awk '{o[NR] = $1; n[NR] = $2; so += $1; sn += $2}
     END {
       mo = so / NR; mn = sn / NR
       for (i = 1; i <= NR; i++) { vo += (o[i] - mo) ^ 2; vn += (n[i] - mn) ^ 2 }
       d = NR > 1 ? NR - 1 : 1
       printf "accuracy: old %.2f +- %.2f, new %.2f +- %.2f (mean +- sample std over %d seeds)\n", mo, sqrt(vo / d), mn, sqrt(vn / d), NR
     }' "$work/acc"
awk -v o="$told" -v n="$tnew" 'BEGIN {printf "speed old/new: %.3f (summed best wall time %.2f s old, %.2f s new)\n", o / n, o, n}'
