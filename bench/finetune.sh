#!/bin/sh
# The blitz's Task 2-3 fine-tuning step (bench/finetune.tg: ResNet-18, backbone frozen, fc trained)
# against PyTorch's (bench/finetune_bench.py, torchvision's resnet18), same batch of made-up
# 3x32x32 images, each side at its best thread count (1 or 2 here). Writes bench/FINETUNE.md.
#
#   sh bench/finetune.sh [SECONDS]      (seconds per measurement, default 3)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-3}
[ -x build/tgc ] || sh scripts/setup.sh --no-run
ninja -C build >/dev/null
out=build/bench/finetune
mkdir -p "$out"
CFLAGS="-std=c99 -O3 -march=native -ffp-contract=fast -fopenmp"
best() { # command... -> "rate threads", the better of 1 and 2 threads (the command takes the count last)
    b=0; bt=0
    for t in 1 2; do
        r=$("$@" "$t") || r=0
        if awk "BEGIN {exit !($r > $b)}"; then b=$r; bt=$t; fi
    done
    echo "$b $bt"
}
tgc_rate() { OMP_NUM_THREADS=$2 "$out/b$1/step_bench" train "$secs"; }
torch_rate() { /usr/bin/python3 bench/finetune_bench.py "$1" "$2" "$secs"; }
{
echo "# Fine-tuning ResNet-18 (the blitz's Task 2-3): tgc against PyTorch, images per second"
echo
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f1- | sed 's/.*: //'), $(nproc) cores; backbone frozen"
echo "(batch norm in training mode), fc trained with SGD momentum, 3x32x32 made-up images; tgc: gcc $CFLAGS;"
echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), torchvision's resnet18. Best of 1 and 2 threads."
echo
echo "| batch | tgc img/s (thr) | PyTorch img/s (thr) | tgc / PyTorch |"
echo "|---|---|---|---|"
for b in 4 32; do
    d="$out/b$b"
    mkdir -p "$d"
    sed "s/^\( *batch *= *\)[0-9]*/\1$b/" bench/finetune.tg > "$d/net.tg"
    ./build/tgc compile "$d/net.tg" -o "$d/net.c" --no-main --prefix net
    cc $CFLAGS -I"$d" -Iruntime "$d/net.c" bench/step_bench.c -o "$d/step_bench" -Lbuild/runtime -ltgrt -lz -lm
    set -- $(best tgc_rate "$b"); t=$1; tt=$2
    set -- $(best torch_rate "$b"); p=$1; pt=$2
    echo "| $b | $t ($tt) | $p ($pt) | $(awk "BEGIN {printf \"%.2fx\", $t / $p}") |"
done
} | tee "$out/results.md"
cp "$out/results.md" bench/FINETUNE.md
