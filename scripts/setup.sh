#!/bin/sh
# Sets up a fresh Debian machine for tgc and runs the main job.
#   1. installs the Debian packages tgc needs (only those missing; apt-get update once first),
#   2. configures and builds with meson into build/,
#   3. runs the main job: compile every blitz sample to C, build it, run it.
# Usage: sh scripts/setup.sh [--no-run]
set -eu
cd "$(dirname "$0")/.."

PACKAGES="meson ninja-build pkg-config gcc clang libomp-dev check libclang-dev zlib1g-dev dataset-fashion-mnist"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

[ -f build/build.ninja ] || meson setup build
ninja -C build

[ "${1:-}" = "--no-run" ] && exit 0

# The main job. Until the trainer lands (train blocks), it compiles and runs the blitz's
# tensor programs and the Task 3 network; each prints exactly what PyTorch printed.
mkdir -p build/blitz
for tg in samples/blitz/*.tg; do
    name=$(basename "$tg" .tg)
    echo "== $tg"
    ./build/tgc build "$tg" -o "build/blitz/$name"
    "./build/blitz/$name"
done
