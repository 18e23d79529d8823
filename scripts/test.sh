#!/bin/sh
# Runs the whole test suite: installs and builds what is missing (scripts/setup.sh --no-run),
# then every Check suite through meson. Ends with a line "N passed, N failed".
# Set TGC_SANITIZE=1 to also run the suite in a build with AddressSanitizer and UBSan.
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh --no-run || exit 1

status=0
summary() { # builddir -> adds its counts: Check's checks, or whole meson tests where no Check summary exists
    log="$1/meson-logs/testlog.txt"
    [ -f "$log" ] || return
    counts=$(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$log" |
             awk '{c += $1; f += $2 + $3} END {print c + 0, f + 0}')
    checks=${counts% *}; bad=${counts#* }
    meson_bad=$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\)"' "$1/meson-logs/testlog.json")
    [ "$bad" -eq 0 ] && bad=$meson_bad
    passed=$((passed + checks - (bad > checks ? checks : bad))); failed=$((failed + bad))
}
passed=0; failed=0

meson test -C build --print-errorlogs || status=1
summary build

if [ "${TGC_SANITIZE:-0}" = "1" ]; then
    [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false </dev/null # stdin: see setup.sh
    ninja -C build-asan || exit 1
    # any undefined behaviour fails the run (by default UBSan reports and goes on)
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build-asan --print-errorlogs || status=1
    summary build-asan
fi

echo "$passed passed, $failed failed"
exit $status
