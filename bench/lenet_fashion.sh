#!/bin/sh
# Accuracy, wall time and peak memory of the blitz network on Fashion-MNIST (2 epochs, batch 4,
# SGD(lr=0.001, momentum=0.9)): the main job (samples/lenet_fashion.tg) for seeds 0 to 4 and, where /usr/bin/python3 has
# torch, PyTorch on the same setting, on this machine, one after the other.
#
#   sh bench/lenet_fashion.sh [SEEDS...]        (default: 0 1 2 3 4; takes a while)
#
# TGC_THREADS=N and TORCH_THREADS=N set each side's thread count (default: each side's own).
set -eu
cd "$(dirname "$0")/.."
seeds=${*:-0 1 2 3 4}
[ -x build/tgc ] || sh scripts/setup.sh --no-run
./build/tgc build samples/lenet_fashion.tg -o build/lenet_fashion
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
printf '%-8s %-5s %9s %9s %9s\n' side seed accuracy wall_s peak_MB
for s in $seeds; do
    /usr/bin/time -v env ${TGC_THREADS:+OMP_NUM_THREADS="$TGC_THREADS"} ./build/lenet_fashion --seed "$s" > build/bench_tgc.txt 2> build/bench_tgc.time
    # the test set has 1,000 images per class: the overall accuracy is the mean of the per-class ones
    acc=$(sed -n 's/^Accuracy for class: .* is \([0-9.]*\) %$/\1/p' build/bench_tgc.txt | awk '{s += $1} END {printf "%.2f", s / NR}')
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' build/bench_tgc.time | awk -F: '{print ($1 * 60 + $2)}')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' build/bench_tgc.time | awk '{printf "%.0f", $1 / 1024}')
    printf '%-8s %-5s %9s %9s %9s\n' tgc "$s" "$acc" "$wall" "$rss"
    if [ "$have_torch" = 1 ]; then
        /usr/bin/time -v /usr/bin/python3 bench/lenet_fashion_torch.py "$s" > build/bench_torch.txt 2> build/bench_torch.time
        acc=$(tail -n 1 build/bench_torch.txt)
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' build/bench_torch.time | awk -F: '{print ($1 * 60 + $2)}')
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' build/bench_torch.time | awk '{printf "%.0f", $1 / 1024}')
        printf '%-8s %-5s %9s %9s %9s\n' pytorch "$s" "$acc" "$wall" "$rss"
    fi
done
