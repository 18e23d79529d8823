#!/bin/sh
# Shows how tgc's time and memory grow with the size of its input (issue 17): .tg files of simple
# statements of 1, 10 and 50 MB (`v123 = 123 * 3 + 1` and `total += v123`, a program of millions
# of compile-time values), a tensor program of growing length, and tgc check on generated C of
# about 1 and 10 MB beside clang -fsyntax-only on the same files. Prints seconds, peak memory,
# seconds per MB, and the ratios; the growth should be linear (the per-MB figures flat) and the
# check within 3x of clang.
#
# Usage: sh bench/stress.sh [TGC]   (default build/tgc). Writes only into a temporary folder.
# Needs: python3, clang, GNU time (/usr/bin/time). About a minute on a 2-core machine.
set -eu
cd "$(dirname "$0")/.."
tgc=$(realpath "${1:-build/tgc}")
[ -x "$tgc" ] || { echo "stress: no tgc at $tgc (sh scripts/setup.sh --no-run builds it)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/tgc-stress-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "stress: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $tgc"

# simple statements: MB of .tg
python3 - "$tmp" <<'EOF'
import sys
d = sys.argv[1]
for mb in (1, 10, 50):
    n = mb * 1000000 // 51
    with open(f"{d}/simple{mb}.tg", "w") as f:
        f.write("program p {\n    total = 0\n")
        for i in range(n):
            f.write(f"    v{i} = {i} * 3 + 1\n    total += v{i}\n")
        f.write("    print(total)\n}\n")
# tensor work: a statement of two tensor ops and a print per line pair
for k in (4000, 16000, 64000):
    with open(f"{d}/tensors{k}.tg", "w") as f:
        f.write("program p {\n    x = torch.ones(4)\n")
        for i in range(k):
            f.write(f"    y{i} = x * {i}\n    print(y{i}.sum())\n")
        f.write("}\n")
EOF

# one measurement: seconds and peak KB of a command
measure() {
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || {
        echo "stress: failed: $*" >&2
        cat "$tmp/err" >&2
        exit 1
    }
    cat "$tmp/time"
}

printf '\n%-26s %8s %9s %10s %9s\n' "tgc compile" "MB" "seconds" "peak MB" "s per MB"
for f in simple1 simple10 simple50 tensors4000 tensors16000 tensors64000; do
    mb=$(awk -v b="$(wc -c <"$tmp/$f.tg")" 'BEGIN { printf "%.2f", b / 1e6 }')
    set -- $(measure "$tgc" compile "$tmp/$f.tg" -o "$tmp/$f.c")
    awk -v n="$f" -v mb="$mb" -v s="$1" -v k="$2" 'BEGIN { printf "%-26s %8s %9.2f %10.0f %9.3f\n", n, mb, s, k / 1024, s / mb }'
done

# tgc check against clang on generated C of about 1 and 10 MB
printf '\n%-26s %8s %9s %9s %7s\n' "tgc check" "MB" "check s" "clang s" "ratio"
for k in 1000 10000; do
    python3 - "$tmp" "$k" <<'EOF'
import sys
d, k = sys.argv[1], int(sys.argv[2])
with open(f"{d}/check{k}.tg", "w") as f:
    f.write("program p {\n    x = torch.ones(4)\n")
    for i in range(k):
        f.write(f"    y{i} = x * {i}\n    print(y{i}.sum())\n")
    f.write("}\n")
EOF
    "$tgc" compile "$tmp/check$k.tg" -o "$tmp/check$k.c" --no-main
    mb=$(awk -v b="$(wc -c <"$tmp/check$k.c")" 'BEGIN { printf "%.1f", b / 1e6 }')
    set -- $(measure "$tgc" check "$tmp/check$k.c")
    c=$1
    set -- $(measure clang -fsyntax-only -std=c99 -fopenmp -Iruntime "$tmp/check$k.c")
    awk -v n="check$k.c" -v mb="$mb" -v c="$c" -v l="$1" 'BEGIN { printf "%-26s %8s %9.2f %9.2f %7.2f\n", n, mb, c, l, c / l }'
done
