#!/bin/sh
# The CUDA backend on a real GPU, for a machine that may have no package manager, no meson, no
# Check and no dataset: only a C compiler, the NVIDIA driver and the CUDA toolkit (NVRTC).
#
#   sh scripts/gpu_check.sh pack [DIR]          here, where tgc builds: writes the bundle DIR
#                                               (default gpu_check/, about 31 MB)
#   sh DIR/gpu_check.sh run [DIR] [RESULTS]     on the GPU machine: builds, runs, writes RESULTS
#                                               (default DIR/results.txt)
#
# The bundle holds the generated C of every program it runs (so tgc is not needed there), the
# runtime's sources, zlib's header and static library from this machine (used only where the GPU
# machine has no zlib.h), Fashion-MNIST's four files, and this script. `run` then shows:
#   1. libtgrt_cuda opens the GPU and NVRTC compiles the kernels (the device line);
#   2. 100 training steps of LeNet on the GPU against the C backend: every loss and every
#      parameter's sum within 1e-4 (PASS/FAIL); the same again from the kernel cache; the
#      runtime's GPU test (tests/test_cuda_gpu.c) where Check is installed; a program with loops
#      (tests/programs/cuda_loop.tg) printing on the GPU what it prints on the CPU;
#   3. the Fashion-MNIST trainer, 2 epochs, on the GPU and on the CPU: both accuracies (PASS when
#      they are within 1 point);
#   4. the bench: tgc CUDA training and inference images/s at batch 4 and 256, and PyTorch CUDA's
#      (where /usr/bin/python3 or python3 has torch with CUDA).
# Everything goes to RESULTS, which ends with "gpu_check: N passed, N failed".
set -eu

mode=${1:-}
case "$mode" in
pack)
    cd "$(dirname "$0")/.."
    dir=${2:-gpu_check}
    [ -x build/tgc ] || { echo "gpu_check: build tgc first (sh scripts/setup.sh --no-run)" >&2; exit 1; }
    data=/usr/share/datasets/fashion-mnist
    [ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "gpu_check: $data is missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
    rm -rf "$dir"
    mkdir -p "$dir/runtime" "$dir/data" "$dir/zlib" "$dir/gen"
    cp runtime/*.c runtime/*.h "$dir/runtime/"
    cp tests/steps_driver.c bench/step_bench.c bench/torch_bench.py tests/test_cuda_gpu.c tests/harness.h "$dir/"
    cp "$data"/*.gz "$dir/data/"
    for h in /usr/include/zlib.h /usr/include/zconf.h /usr/include/*/zconf.h; do
        [ -f "$h" ] && cp "$h" "$dir/zlib/"
    done
    for a in /usr/lib/*/libz.a /usr/lib/libz.a; do
        [ -f "$a" ] && cp "$a" "$dir/zlib/" && break
    done
    cp scripts/gpu_check.sh "$dir/"
    tgc=./build/tgc
    for t in c cuda; do
        mkdir -p "$dir/gen/steps_$t" "$dir/gen/fashion_$t"
        $tgc compile samples/lenet.tg --no-main --prefix net --target $t -o "$dir/gen/steps_$t/net.c"
        $tgc compile samples/lenet_trainer.tg --target $t -o "$dir/gen/fashion_$t/lenet_fashion.c"
        mkdir -p "$dir/gen/loop_$t"
        $tgc compile tests/programs/cuda_loop.tg --target $t -o "$dir/gen/loop_$t/cuda_loop.c"
    done
    for b in 4 256; do
        mkdir -p "$dir/gen/bench_$b"
        sed "s/^\( *batch *= *\)[0-9]*/\1$b/" samples/lenet.tg > "$dir/gen/bench_$b/net.tg"
        $tgc compile "$dir/gen/bench_$b/net.tg" --no-main --prefix net --target cuda -o "$dir/gen/bench_$b/net.c"
    done
    echo "gpu_check: bundle in $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: sh $dir/gpu_check.sh run $dir"
    exit 0
    ;;
run) ;;
*)
    echo "usage: sh scripts/gpu_check.sh pack [DIR] | run [DIR] [RESULTS]" >&2
    exit 2
    ;;
esac

set +e # from here every step reports PASS or FAIL and the run goes on to the summary line
dir=${2:-$(dirname "$0")}
dir=$(cd "$dir" && pwd)
results=${3:-$dir/results.txt}
cc=${CC:-cc}
cuda=${CUDA_HOME:-/usr/local/cuda}
b="$dir/build"
mkdir -p "$b"
pass=0
fail=0
: > "$results"
say() { echo "$*" | tee -a "$results"; }
verdict() { # name ok
    if [ "$2" = 1 ]; then pass=$((pass + 1)); say "PASS $1"; else fail=$((fail + 1)); say "FAIL $1"; fi
}

say "gpu_check $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: not found')"
say "cc: $($cc --version | head -1); CUDA: $cuda"

# the runtime: libtgrt (zlib from the system, else the bundle's) and libtgrt_cuda
zinc="" zlib="-lz"
if ! echo '#include <zlib.h>' | $cc -E - >/dev/null 2>&1; then
    zinc="-I$dir/zlib"
    zlib="$dir/zlib/libz.a"
fi
flags="-std=c99 -O2 -D_POSIX_C_SOURCE=200809L"
objs=""
for f in "$dir"/runtime/*.c; do
    n=$(basename "$f" .c)
    [ "$n" = cuda ] && continue
    $cc $flags $zinc -I"$dir/runtime" -c "$f" -o "$b/$n.o"
    objs="$objs $b/$n.o"
done
ar rcs "$b/libtgrt.a" $objs
$cc $flags -I"$dir/runtime" -I"$cuda/include" -c "$dir/runtime/cuda.c" -o "$b/cuda.o"
ar rcs "$b/libtgrt_cuda.a" "$b/cuda.o"
libs="-L$b -ltgrt $zlib -lm"
culibs="-L$b -ltgrt_cuda -ltgrt $zlib -lm -ldl"
fast="-std=c99 -O3 -march=native -ffp-contract=fast -fopenmp"

# 2. 100 steps, GPU against CPU
for t in c cuda; do
    l=$libs
    [ $t = cuda ] && l=$culibs
    $cc -std=c99 -O2 -DSTEPS=100 -DPARAMS -DDECIMAL -I"$dir/gen/steps_$t" -I"$dir/runtime" "$dir/gen/steps_$t/net.c" \
        "$dir/steps_driver.c" -o "$b/steps_$t" $l
done
"$b/steps_c" > "$b/steps_c.txt"
export TGC_CUDA_CACHE="$b/kernel-cache" # a fresh cache: the first run compiles, the second loads
rm -rf "$TGC_CUDA_CACHE"
t0=$(date +%s.%N)
if "$b/steps_cuda" > "$b/steps_cuda.txt" 2> "$b/steps_cuda.err"; then
    ok=$(paste -d' ' "$b/steps_c.txt" "$b/steps_cuda.txt" | awk '
        function abs(v) { return v < 0 ? -v : v }
        NF == 2 { a = $1 + 0; g = $2 + 0; n++; if (abs(a - g) > 1e-4 * abs(a)) { bad++; print "loss " n ": " a " vs " g > "/dev/stderr" } }
        NF == 6 { s = $2 + 0; m = $3 + 0; s2 = $5 + 0; m2 = $6 + 0; p++
                  if ($1 != $4 || abs(s - s2) > 1e-4 * m || abs(m - m2) > 1e-4 * m) { bad++; print $1 ": " s " " m " vs " s2 " " m2 > "/dev/stderr" } }
        END { print (n == 100 && p > 0 && !bad) ? 1 : 0 }' 2>> "$results")
    say "100 LeNet steps: last loss C $(sed -n 100p "$b/steps_c.txt"), CUDA $(sed -n 100p "$b/steps_cuda.txt")"
else
    ok=0
    say "the CUDA steps failed: $(cat "$b/steps_cuda.err")"
    if grep -q "no CUDA driver\|no CUDA GPU" "$b/steps_cuda.err"; then
        say "gpu_check: no GPU here, nothing more to check (0 passed, 0 failed; skipped)"
        exit 77
    fi
fi
verdict "100 training steps of LeNet on the GPU agree with the C backend within 1e-4" "$ok"
t1=$(date +%s.%N)
"$b/steps_cuda" > "$b/steps_cuda2.txt" 2>> "$b/steps_cuda.err"
t2=$(date +%s.%N)
say "the same program again: $(awk "BEGIN {printf \"%.2f s, first run %.2f s\", $t2 - $t1, $t1 - $t0}") (NVRTC compiled the kernels once)"
ok=0
cmp -s "$b/steps_cuda.txt" "$b/steps_cuda2.txt" && [ -n "$(ls "$TGC_CUDA_CACHE" 2>/dev/null)" ] && ok=1
verdict "a second run takes the kernels from the cache and computes the same" "$ok"
unset TGC_CUDA_CACHE

# the runtime's own GPU test, where Check is installed
if pkg-config --exists check 2>/dev/null; then
    if $cc -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -I"$dir" -I"$dir/runtime" "$dir/test_cuda_gpu.c" -o "$b/test_cuda_gpu" -L"$b" -ltgrt_cuda -ldl \
        $(pkg-config --cflags --libs check) 2>> "$results"; then
        "$b/test_cuda_gpu" > "$b/test_cuda_gpu.txt" 2>&1
        rc=$?
        tail -3 "$b/test_cuda_gpu.txt" | tee -a "$results"
        verdict "libtgrt_cuda's GPU test (memory, copies, launches, shared memory, the cache, errors)" $([ $rc -eq 0 ] && echo 1 || echo 0)
    else
        verdict "libtgrt_cuda's GPU test builds" 0
    fi
else
    say "libtgrt_cuda's GPU test: skipped (no Check here)"
fi

# a program with loops: its segments on the GPU print what its C build prints
$cc -std=c99 -O2 -I"$dir/runtime" "$dir/gen/loop_c/cuda_loop.c" -o "$b/loop_c" $libs
$cc -std=c99 -O2 -I"$dir/runtime" "$dir/gen/loop_cuda/cuda_loop.c" -o "$b/loop_cuda" $culibs
ok=0
"$b/loop_c" > "$b/loop_c.txt" 2>&1 && "$b/loop_cuda" > "$b/loop_cuda.txt" 2>&1 && cmp -s "$b/loop_c.txt" "$b/loop_cuda.txt" && ok=1
tail -1 "$b/loop_cuda.txt" | tee -a "$results"
verdict "a program with loops (tests/programs/cuda_loop.tg) prints on the GPU what it prints on the CPU" "$ok"

# 3. Fashion-MNIST, 2 epochs, both backends
$cc $fast -I"$dir/runtime" "$dir/gen/fashion_c/lenet_fashion.c" -o "$b/fashion_c" $libs
$cc $fast -I"$dir/runtime" "$dir/gen/fashion_cuda/lenet_fashion.c" -o "$b/fashion_cuda" $culibs
acc() { sed -n 's/^Accuracy of the network on the [0-9]* test images: \([0-9]*\) %/\1/p' "$1"; }
for t in cuda c; do
    s=$(date +%s)
    "$b/fashion_$t" --data "$dir/data" > "$b/fashion_$t.txt" 2> "$b/fashion_$t.err" || true
    say "Fashion-MNIST 2 epochs, $t: $(grep -c 'loss:' "$b/fashion_$t.txt") log lines, accuracy $(acc "$b/fashion_$t.txt") %, $(($(date +%s) - s)) s"
done
a1=$(acc "$b/fashion_cuda.txt")
a2=$(acc "$b/fashion_c.txt")
ok=0
[ -n "$a1" ] && [ -n "$a2" ] && [ $((a1 - a2)) -le 1 ] && [ $((a2 - a1)) -le 1 ] && ok=1
verdict "Fashion-MNIST on the GPU reaches the C trainer's accuracy (within 1 point)" "$ok"

# 4. the bench
py=/usr/bin/python3
[ -x "$py" ] || py=python3
say "bench (images/s; tgc: kernels and copies of each step, the loss read back; PyTorch: synchronized):"
say "| what | batch | tgc CUDA | PyTorch CUDA | ratio |"
for bs in 4 256; do
    $cc -std=c99 -O2 -I"$dir/gen/bench_$bs" -I"$dir/runtime" "$dir/gen/bench_$bs/net.c" "$dir/step_bench.c" \
        -o "$b/bench_$bs" $culibs
    for m in train predict; do
        t=$("$b/bench_$bs" $m 3 2>/dev/null || echo -)
        p=$("$py" "$dir/torch_bench.py" lenet $m $bs 1 3 cuda 2>/dev/null || echo -)
        r=-
        case "$t$p" in *-*) ;; *) r=$(awk "BEGIN {printf \"%.2fx\", $t / $p}") ;; esac
        say "| $m | $bs | $t | $p | $r |"
    done
done
say "gpu_check: $pass passed, $fail failed"
[ $fail -eq 0 ]
