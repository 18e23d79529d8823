#!/bin/sh
# Sets up a fresh Debian machine for tgc and runs the main job.
#   1. installs the Debian packages tgc needs (only those missing; apt-get update once first),
#   2. configures and builds with meson into build/,
#   3. runs the main job: trains samples/lenet_fashion.tg (2 epochs of Fashion-MNIST).
# Usage: sh scripts/setup.sh [--no-run]
set -eu
cd "$(dirname "$0")/.."

PACKAGES="meson ninja-build pkg-config gcc g++ clang libomp-dev check libclang-dev zlib1g-dev dataset-fashion-mnist"
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

[ -f build/build.ninja ] || meson setup build </dev/null # meson runs "cc -E -v -": stdin must not be a pipe with data
ninja -C build

[ "${1:-}" = "--no-run" ] && exit 0

# The main job: train the blitz's network on Fashion-MNIST for the blitz's 2 epochs, printing
# its log lines and the test accuracy, overall and per class.
./build/tgc build samples/lenet_fashion.tg -o build/lenet_fashion
./build/lenet_fashion
