"""Summarise py-spy raw stacks (`py-spy record -f raw`, or `bench/run.py --profile-dir`).

    .venv/bin/python bench/profile_summary.py /tmp/prof/quiz_view.txt [--top 25]

Prints the share of samples spent *in* each function (self) and *under* it
(inclusive; each function counted once per stack), plus a coarse split by
library, which is what the optimisation work needs first: how much is the ORM,
the driver, FastAPI/pydantic, our code, the event loop.
"""

from __future__ import annotations

import argparse
import collections
import re

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
_LIBS = (
    ("sqlalchemy", "SQLAlchemy"),
    ("asyncpg", "asyncpg"),
    ("fastapi", "FastAPI"),
    ("starlette", "Starlette"),
    ("pydantic", "pydantic"),
    ("uvicorn", "uvicorn"),
    ("qoach", "qoach"),
    ("jwt", "PyJWT"),
    ("redis", "redis"),
    ("argon2", "argon2"),
    ("asyncio", "asyncio"),
)


def parse(path: str) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = []
            for raw in stack.split(";"):
                match = _FRAME.match(raw)
                frames.append((match["func"], match["file"]) if match else (raw, ""))
            stacks.append((frames, int(count)))
    return stacks


def library(file: str) -> str:
    for needle, name in _LIBS:
        if f"{needle}/" in file or file.startswith(needle):
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = parse(args.path)
    total = sum(n for _, n in stacks) or 1
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    libs: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        if not frames:
            continue
        func, file = frames[-1]
        own[f"{func} ({file})"] += n
        libs[library(file)] += n
        for key in {f"{f} ({p})" for f, p in frames}:
            under[key] += n
    print(f"{total} samples")
    print("\nself time by library (innermost frame):")
    for name, n in libs.most_common():
        print(f"  {n / total:6.1%}  {name}")
    print(f"\nself, top {args.top}:")
    for key, n in own.most_common(args.top):
        print(f"  {n / total:6.1%}  {key[:140]}")
    print(f"\ninclusive, qoach functions and other hot spots (top {args.top * 2}):")
    for key, n in under.most_common(args.top * 2):
        print(f"  {n / total:6.1%}  {key[:140]}")


if __name__ == "__main__":
    main()
