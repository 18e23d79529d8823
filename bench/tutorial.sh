#!/bin/sh
# The blitz's Task 4 (samples/blitz/cifar10_tutorial.tg: Fashion-MNIST, 2 epochs, batch 4) built
# by tgc, and PyTorch 1.13 running the same Python (bench/tutorial_torch.py), one after the other on
# this machine: both outputs side by side, then wall time and peak memory of each.
#
#   sh bench/tutorial.sh          (about 10 s for tgc, 2 to 3 minutes for PyTorch)
set -eu
cd "$(dirname "$0")/.."
[ -x build/tgc ] || sh scripts/setup.sh --no-run
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./build/tgc build samples/blitz/cifar10_tutorial.tg -o "$work/tutorial"
cd "$work"
/usr/bin/time -v ./tutorial > tgc.txt 2> tgc.time
have_torch=0
/usr/bin/python3 -c "import torch, torchvision" 2>/dev/null && have_torch=1
if [ "$have_torch" = 1 ]; then
    /usr/bin/time -v /usr/bin/python3 "$root/bench/tutorial_torch.py" > torch.txt 2> torch.time
    printf '%-48s | %s\n' "tgc" "PyTorch"
    paste -d '|' tgc.txt torch.txt | awk -F'|' '{printf "%-48s | %s%s\n", $1, $2, ($1 == $2 ? "" : "   <- differs")}'
else
    cat tgc.txt
    echo "(no torch/torchvision for /usr/bin/python3: PyTorch's side skipped)"
fi
for side in tgc torch; do
    [ -f "$side.time" ] || continue
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$side.time" | awk -F: '{print ($1 * 60 + $2)}')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$side.time" | awk '{printf "%.0f", $1 / 1024}')
    printf '%-8s wall %6s s   peak %5s MB\n' "$side" "$wall" "$rss"
done
