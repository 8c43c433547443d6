#!/usr/bin/env python3
"""The house rule on sizes: no header under include/ over 500 lines, no function over 80.

    python3 tools/check_sizes.py [include] [--max-file 500] [--max-function 80]

Prints every header and function over its limit and exits 1 if there is one (CTest runs it, label
lint). A function is a brace block opened right after a parameter list ")" (optionally followed by
const, noexcept, mutable, a trailing return type or a requires clause) that is not inside another
function: its lambdas count as its own lines. A lambda that initialises a variable outside any
function (a constexpr table) counts as a function. Comments and string literals are ignored;
lengths are lines from the opening brace to the closing one.
"""
import argparse
import os
import re
import sys

CONTROL = {"if", "for", "while", "switch", "catch", "else", "do", "try"}


def strip(text):
    """Comments and string / char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


def opens_function(head):
    """Whether a block whose text before '{' is `head` is a function body (or a lambda's)."""
    h = head.strip()
    h = re.sub(r"\brequires\b.*$", "", h, flags=re.S).strip()          # trailing requires clause
    h = re.sub(r"->\s*[\w:<>,\s*&]+$", "", h).strip()                   # trailing return type
    while True:
        m = re.search(r"\b(const|noexcept|mutable|override|final|constexpr)\s*$", h)
        if not m:
            break
        h = h[:m.start()].rstrip()
    if not h.endswith(")"):
        return False
    # the name before the parameter list: not a control statement
    depth, i = 0, len(h) - 1
    while i >= 0:
        depth += {")": 1, "(": -1}.get(h[i], 0)
        if depth == 0:
            break
        i -= 1
    word = re.search(r"(\w+)\s*$", h[:i])
    return not (word and word.group(1) in CONTROL)


def functions(text):
    """(first line, last line) of every outermost function body."""
    s = strip(text)
    found, stack, last_stop = [], [], 0
    line_of = lambda pos: s.count("\n", 0, pos) + 1
    for pos, c in enumerate(s):
        if c == "{":
            head = s[last_stop:pos]
            in_function = any(kind == "f" for kind, _ in stack)
            kind = "f" if not in_function and opens_function(head) else "b"
            stack.append((kind, pos))
            last_stop = pos + 1
        elif c == "}":
            if stack:
                kind, start = stack.pop()
                if kind == "f":
                    found.append((line_of(start), line_of(pos)))
            last_stop = pos + 1
        elif c == ";":
            last_stop = pos + 1
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include"))
    ap.add_argument("--max-file", type=int, default=500)
    ap.add_argument("--max-function", type=int, default=80)
    a = ap.parse_args()
    problems = 0
    for d, _, files in os.walk(a.root):
        for f in sorted(files):
            if not f.endswith((".hpp", ".h", ".cuh")):
                continue
            path = os.path.join(d, f)
            text = open(path, encoding="utf-8").read()
            rel = os.path.relpath(path, os.path.dirname(os.path.abspath(a.root)))
            lines = text.count("\n")
            if lines > a.max_file:
                print(f"{rel}: {lines} lines (limit {a.max_file})")
                problems += 1
            for first, last in functions(text):
                if last - first + 1 > a.max_function:
                    print(f"{rel}:{first}: a function of {last - first + 1} lines (limit {a.max_function})")
                    problems += 1
    print(f"{problems} over the limits" if problems else "every header and function is within the limits")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
