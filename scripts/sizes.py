#!/usr/bin/env python3
"""Sizes of the Rust sources: the longest files (lines) and the longest functions
(lines from the `fn` line to its closing brace), to hold the "no file over ~800
lines, no function over ~120" rule.

    scripts/sizes.py [--top N] [--max-file 800] [--max-fn 120] [DIR ...]   (default: src)

A function runs from its `fn` line to the first later line that is its indent
followed by `}` (rustfmt's layout); declarations without a body are skipped.
With --max-file / --max-fn the exit status is 1 when something is over.
"""
import argparse
import os
import re
import sys

FN_LINE = re.compile(
    r"^(?P<indent>\s*)(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe|extern\s+\"[^\"]*\")\s+)*fn\s+(?P<name>\w+)"
)


def rust_files(roots):
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in sorted(names):
                if name.endswith(".rs"):
                    yield os.path.join(dirpath, name)


def functions(lines):
    """(name, first line number, length in lines) for each fn with a body."""
    found = []
    for start, line in enumerate(lines):
        match = FN_LINE.match(line)
        if not match or line.lstrip().startswith("//"):
            continue
        indent = match.group("indent")
        # Find where the signature ends: a `{` opens the body, a `;` ends a declaration.
        body = None
        for index in range(start, len(lines)):
            text = lines[index].split("//", 1)[0].rstrip()
            if text.endswith(";") and "{" not in text:
                break
            if "{" in text:
                body = index
                break
        if body is None:
            continue
        opening = lines[body].split("//", 1)[0].rstrip()
        if opening.endswith("}") and opening.count("{") == opening.count("}"):
            found.append((match.group("name"), start + 1, body - start + 1))
            continue
        closing = indent + "}"
        for end in range(body + 1, len(lines)):
            if lines[end].rstrip() == closing:
                found.append((match.group("name"), start + 1, end - start + 1))
                break
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", default=["src"])
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--max-file", type=int)
    parser.add_argument("--max-fn", type=int)
    args = parser.parse_args()

    file_sizes = []
    fn_sizes = []
    for path in rust_files(args.roots):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        file_sizes.append((len(lines), path))
        for name, line, length in functions(lines):
            fn_sizes.append((length, f"{path}:{line}", name))

    file_sizes.sort(reverse=True)
    fn_sizes.sort(reverse=True)
    print(f"largest files (lines), of {len(file_sizes)}:")
    for size, path in file_sizes[: args.top]:
        print(f"  {size:6}  {path}")
    print(f"largest functions (lines), of {len(fn_sizes)}:")
    for size, where, name in fn_sizes[: args.top]:
        print(f"  {size:6}  {name}  {where}")

    over = []
    if args.max_file is not None:
        over += [f"file {path}: {size} lines" for size, path in file_sizes if size > args.max_file]
    if args.max_fn is not None:
        over += [f"fn {name} at {where}: {size} lines" for size, where, name in fn_sizes if size > args.max_fn]
    for line in over:
        print(f"OVER: {line}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
