#!/bin/sh
# tgc's generated training step against an expert's hand-written C step for the same LeNet
# (../shared/anchors/handc/fast.c, built here with the same flags), PyTorch, and JAX and tinygrad
# where bench/venv has them: same model, same batch, made-up data in memory, each at its best
# thread count (1 or 2 here), then the machine's measured peak. tgc and the hand C are the median
# of RUNS runs (default 5) of SECONDS each; the CPU and its vector flags head the table. Prints
# the table and writes bench/RESULTS.md.
#
#   sh bench/run.sh [SECONDS] [RUNS]   (seconds per run, default 1; runs, default 5)
#   NETS=lenet FASHION=0 sh bench/run.sh 0.5 3     (a quick look: the LeNet rows only)
#
# It ends with the Fashion-MNIST run of bench/lenet_fashion.sh (seed 0, both sides at their best
# batch-4 thread count): accuracy, wall time and peak memory. FASHION=0 leaves it out.
#
# Set up the peers once (never needed by the tests):
#   python3 -m venv bench/venv && bench/venv/bin/pip install jax jaxlib tinygrad numpy
set -eu
cd "$(dirname "$0")/.."
secs=${1:-1}
runs=${2:-5}
[ -x build/tgc ] || sh scripts/setup.sh --no-run
ninja -C build >/dev/null
out=build/bench
mkdir -p "$out"
CFLAGS="-std=c99 -O3 -march=native -ffp-contract=fast -fopenmp"
py=bench/venv/bin/python3
have() { [ -x "$py" ] && "$py" -c "import $1" 2>/dev/null; }
best() { # best of the thread counts: prints "rate threads"
    b=0; bt=0
    for t in 1 2; do
        r=$("$@" "$t") || r=0
        [ -n "$r" ] || r=0
        if awk "BEGIN {exit !($r > $b)}"; then b=$r; bt=$t; fi
    done
    echo "$b $bt"
}
median() { sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}'; }
tgc_rate() { for r in $(seq "$runs"); do OMP_NUM_THREADS=$3 "$out/$1/step_bench" "$2" "$secs"; done | median; }
# the hand-written C: its own median of $runs runs ("... median N img/s ...")
hand_rate() { # net mode batch threads
    [ "$1" = lenet ] && [ -x "$out/handc/fast" ] || { echo 0; return; }
    m=bench; [ "$2" = predict ] && m=infer
    OMP_NUM_THREADS=$4 "$out/handc/fast" "$m" "$3" "$runs" "$secs" | sed -n 's/.*median \([0-9]*\) img.*/\1/p'
}
torch_rate() { /usr/bin/python3 bench/torch_bench.py "$1" "$2" "$3" "$4" "$secs"; }
jax_rate() { "$py" bench/jax_bench.py "$1" "$2" "$3" "$4" "$secs"; }
tiny_rate() { "$py" bench/tinygrad_bench.py "$1" "$2" "$3" "$4" "$secs"; }

build_step() { # net batch -> $out/net_batch/step_bench
    d="$out/$1_$2"
    mkdir -p "$d"
    src=samples/lenet.tg
    [ "$1" = net2 ] && src=bench/net2.tg
    sed "s/^\( *batch *= *\)[0-9]*/\1$2/" "$src" > "$d/net.tg"
    ./build/tgc compile "$d/net.tg" -o "$d/net.c" --no-main --prefix net --stats > "$d/stats.txt"
    cc $CFLAGS -I"$d" -Iruntime "$d/net.c" bench/step_bench.c -o "$d/step_bench" -Lbuild/runtime -ltgrt -lz -lm
}

handc=../shared/anchors/handc/fast.c
mkdir -p "$out/handc"
[ -f "$handc" ] && cc $CFLAGS -o "$out/handc/fast" "$handc" -lm
peak1=$(cc $CFLAGS bench/peak.c -o "$out/peak" && OMP_NUM_THREADS=1 "$out/peak")
peak2=$(OMP_NUM_THREADS=2 "$out/peak")
{
echo "# tgc against the hand-written C and PyTorch$(have jax && echo ', JAX')$(have tinygrad && echo ', tinygrad'): images per second"
echo
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl)$' | tr '\n' ' ' | sed 's/ $//')
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $flags;"
echo "tgc: gcc $CFLAGS, OpenMP threads 1 or 2, the better shown; PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
blas=$(/usr/bin/python3 -c 'import torch, re; m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()); print(m.group(1) if m else "?")')
# Debian's torch links the generic libblas.so.3, which the alternatives system points at a BLAS
lib=$(readlink -f "/usr/lib/$(gcc -dumpmachine)/libblas.so.3" 2>/dev/null || true)
case "$lib" in *openblas*) blas="$blas, libblas.so.3 -> OpenBLAS ($lib)" ;; ?*) blas="$blas, libblas.so.3 -> $lib" ;; esac
echo "(Debian, its BLAS: $blas), threads 1 or 2. Measured peak: $peak1 GFLOP/s on 1 thread, $peak2 on 2."
echo "tgc and hand C (../shared/anchors/handc/fast.c, the blitz LeNet only): the median of $runs runs of $secs s; the"
echo "others: as many steps as fit in $secs s after a warm-up. One batch of made-up data, reused."
echo
echo "| net | what | batch | tgc img/s (thr) | hand C img/s (thr) | tgc / hand C | PyTorch img/s (thr) | tgc / PyTorch | JAX | tinygrad | tgc GFLOP/s | of peak |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
ft=1; fp=1
for net in ${NETS:-lenet net2}; do
    for mode in train predict; do
        batches="1 4 16 64 256"
        [ "$net" = net2 ] && batches=$([ "$mode" = train ] && echo "4 64" || echo "256")
        for b in $batches; do
            build_step "$net" "$b"
            set -- $(best tgc_rate "${net}_$b" "$mode"); t=$1; tt=$2
            set -- $(best hand_rate "$net" "$mode" "$b"); h=$1; ht=$2
            hr=-; hc=-
            [ "$h" != 0 ] && { hc="$h ($ht)"; hr=$(awk "BEGIN {printf \"%.2fx\", $t / $h}"); }
            set -- $(best torch_rate "$net" "$mode" "$b"); p=$1; pt=$2
            j=-; k=-
            have jax && { set -- $(best jax_rate "$net" "$mode" "$b"); j="$1 ($2)"; }
            have tinygrad && { set -- $(best tiny_rate "$net" "$mode" "$b"); k="$1 ($2)"; }
            # FLOPs of one step from --stats (train) or of the predict graph
            g=train_; [ "$mode" = predict ] && g=predict_
            fl=$(awk -v g="== $g" 'index($0, g) == 1 {on = 1; next} /^== / {on = 0} on && $1 == "total" {print $2; exit}' "$out/${net}_$b/stats.txt")
            gf=$(awk "BEGIN {printf \"%.1f\", $fl / $b * $t / 1e9}")
            ratio=$(awk "BEGIN {printf \"%.1fx\", $t / $p}")
            pk=$peak1; [ "$tt" = 2 ] && pk=$peak2
            pct=$(awk "BEGIN {printf \"%.0f%%\", 100 * $gf / $pk}")
            [ "$net $mode $b" = "lenet train 4" ] && { ft=$tt; fp=$pt; }
            echo "| $net | $mode | $b | $t ($tt) | $hc | $hr | $p ($pt) | $ratio | $j | $k | $gf | $pct |"
        done
    done
done
if [ "${FASHION:-1}" != 0 ]; then
    echo
    echo "Fashion-MNIST: the blitz network trained 2 epochs at batch 4, SGD(lr=0.001, momentum=0.9), then tested"
    echo "(samples/lenet_fashion.tg and bench/lenet_fashion_torch.py, seed 0), each side at its best batch-4 thread count above;"
    echo "wall time and peak resident memory of the whole process from /usr/bin/time."
    echo
    echo "| side | threads | test accuracy % | wall s | peak RSS MB |"
    echo "|---|---|---|---|---|"
    TGC_THREADS=$ft TORCH_THREADS=$fp sh bench/lenet_fashion.sh 0 |
        awk -v ft="$ft" -v fp="$fp" 'NR > 1 {printf "| %s | %s | %s | %s | %s |\n", $1, ($1 == "tgc" ? ft : fp), $3, $4, $5}'
fi
} | tee "$out/results.md"
[ -n "${NETS:-}" ] || cp "$out/results.md" bench/RESULTS.md # a quick look (NETS) leaves the record alone
