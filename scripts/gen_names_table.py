#!/usr/bin/python3
"""Rewrites the table of names by namespace in docs/language.md (between the names:begin and
names:end markers) from frontend/namespaces.c, the compiler's own table. test_frontend holds
the two to agree (test_namespace_table), so run this after adding a name:

    python3 scripts/gen_names_table.py
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def namespaces():
    src = open(os.path.join(ROOT, "frontend", "namespaces.c")).read()
    body = src[src.index("const NamespaceDef namespaces[] = {"):src.index("{NULL, NULL, NULL}")]
    out = []
    for m in re.finditer(r'\{\s*"([^"]+)",\s*"([^"]*)",\s*((?:"[^"]*"\s*)+)\}', body):
        members = "".join(re.findall(r'"([^"]*)"', m.group(3))).split()
        out.append((m.group(1), m.group(2).split(), members))
    return out


def table():
    spaces = namespaces()
    paths = {p for p, _, _ in spaces}
    rows = ["| namespace | also written | names (each PyTorch's name of that path) |", "|---|---|---|"]
    for path, aliases, members in spaces:
        names = [f"`{n}`" for n in members if f"{path}.{n}" not in paths]
        subs = [f"`{n}.`" for n in members if f"{path}.{n}" in paths]
        also = ", ".join(f"`{a}`" for a in aliases if a != path)
        rows.append(f"| `{path}` | {also} | {' '.join(names + subs) or '(none yet)'} |")
    return "\n".join(rows) + "\n"


def main():
    path = os.path.join(ROOT, "docs", "language.md")
    text = open(path).read()
    begin = text.index("<!-- names:begin")
    begin = text.index("\n", begin) + 1
    end = text.index("<!-- names:end -->")
    new = text[:begin] + table() + text[end:]
    if new != text:
        open(path, "w").write(new)
    print(f"{len(namespaces())} namespaces written to docs/language.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
