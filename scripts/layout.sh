#!/bin/sh
# The house rules of the source layout, measured.
#   sh scripts/layout.sh [N]      the N largest files and functions of the compiler and runtime (default 15)
#   sh scripts/layout.sh --check  exit 1, naming each, if any rule is broken:
#     - no compiler source file over 1,200 lines;
#     - no hand-written function over 150 lines, except tables (a switch with one case per op:
#       EXEMPT below, each with its reason);
#     - dependencies point one way: frontend/, passes/ and the backends include ir/ but nothing
#       upward; passes/ no frontend or backend; codegen_c/ nothing of codegen_cuda/, which
#       includes only codegen_c's frame.h and codegen_c.h; runtime/ none of the compiler's
#       headers (it ships alone with the generated programs).
# A function is counted from its first line at column 0 to the closing brace at column 0
# (clang-format's layout, which the tree follows).
set -eu
cd "$(dirname "$0")/.."

MAX_FILE=1200
MAX_FUNC=150
# name: why it may be longer (a table: one case per op)
EXEMPT="ir_infer vjp"

compiler="frontend ir passes codegen_c codegen_cuda"
sources() { ls $(for d in $compiler runtime; do echo "$d/*.c $d/*.h"; done) tgc.c 2>/dev/null; }

# file:line lines name, one per function definition
functions() {
    for f in $(sources | grep '\.c$'); do
        awk -v F="$f" '
            # a definition starts at column 0 with a name and "(" and no "=" or ";" before the "("
            !infn && /^[A-Za-z_][A-Za-z_0-9 \t*]*\(/ && !/^(typedef|struct|enum|union|return|if|for|while|switch)\b/ {
                head = $0; sub(/\(.*/, "", head); n = split(head, w, /[ \t*]+/); name = w[n]
                if (name != "") { infn = 1; start = NR; body = 0 }
            }
            infn && /;[ \t]*$/ && !body && !/\{/ { infn = 0 }   # a prototype
            # a definition on one line: static int f(void) { return 0; }
            infn && !body && /\{.*\}[ \t]*(\/\*.*\*\/|\/\/.*)?$/ { print F ":" start, 1, name; infn = 0; next }
            # the body opens: "{" at the end of a line, a comment may follow
            infn && /\{[ \t]*(\/\*.*\*\/|\/\/.*)?[ \t]*$/ { body = 1 }
            infn && body && /^}/ { print F ":" start, NR - start + 1, name; infn = 0 }
        ' "$f"
    done
}

if [ "${1:-}" != "--check" ]; then
    top=${1:-15}
    echo "largest files (lines):"
    wc -l $(sources) | grep -v ' total$' | sort -rn | head -n "$top" | awk '{printf "  %6d  %s\n", $1, $2}'
    echo "largest functions (lines):"
    functions | sort -k2,2 -rn | head -n "$top" | awk '{printf "  %6d  %-32s %s\n", $2, $3, $1}'
    exit 0
fi

bad=0
for f in $(for d in $compiler; do ls $d/*.c $d/*.h 2>/dev/null; done) tgc.c; do
    n=$(wc -l <"$f")
    if [ "$n" -gt "$MAX_FILE" ]; then echo "layout: $f has $n lines (at most $MAX_FILE)"; bad=1; fi
done
long=$(functions | awk -v max=$MAX_FUNC -v exempt=" $EXEMPT " '
    $1 !~ /^runtime\// && $2 > max && index(exempt, " " $3 " ") == 0 {
        printf "layout: %s: %s has %d lines (at most %d)\n", $1, $3, $2, max }')
if [ -n "$long" ]; then echo "$long"; bad=1; fi
# one-way dependencies: folder -> the include prefixes it must not use
rule() {
    dir=$1; shift
    for bad_inc in "$@"; do
        if grep -n "#include \"$bad_inc" $dir/*.c $dir/*.h 2>/dev/null; then
            echo "layout: $dir/ includes $bad_inc (dependencies point one way)"; return 1
        fi
    done
}
rule ir frontend/ passes/ codegen_c/ codegen_cuda/ || bad=1
rule frontend passes/ codegen_c/ codegen_cuda/ || bad=1
rule passes frontend/ codegen_c/ codegen_cuda/ || bad=1
rule codegen_c frontend/ codegen_cuda/ || bad=1
rule codegen_cuda frontend/ passes/ || bad=1
# the CUDA backend shares the kernel frame and the C backend's API only, not its internals
if grep -n '#include "codegen_c/' codegen_cuda/*.c codegen_cuda/*.h | grep -v 'codegen_c/\(frame\|codegen_c\)\.h"'; then
    echo "layout: codegen_cuda/ includes codegen_c/'s internals (only frame.h and codegen_c.h)"; bad=1
fi
rule runtime ir/ frontend/ passes/ codegen_c/ codegen_cuda/ || bad=1
if grep -n '#include "\(ir\|frontend\|passes\|codegen_c\|codegen_cuda\)\.h"' runtime/*.c runtime/*.h; then
    echo "layout: runtime/ includes a compiler header"; bad=1
fi
[ "$bad" = 0 ] && echo "layout: files under $MAX_FILE lines, functions under $MAX_FUNC (tables: $EXEMPT), dependencies one way"
exit $bad
