"""Split data/raw/*.jsonl into data/{train,dev,test}.jsonl with no near-duplicate leaks.

    python tools/split_data.py [--raw data/raw] [--out data] [--seed 13]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from . import arguments
from .datasets import (
    SPLITS,
    Case,
    DataError,
    leaks,
    read_cases,
    split_cases,
    write_cases,
)


def load_raw(raw: Path) -> list[Case]:
    """Every case in ``raw``/*.jsonl. DataError when there is none: writing the splits
    from nothing would empty the published train/dev/test files."""
    if not raw.is_dir():
        raise DataError(f"--raw {raw} is not a folder")
    paths = sorted(raw.glob("*.jsonl"))
    if not paths:
        raise DataError(f"--raw {raw} holds no *.jsonl files")
    cases = []
    for path in paths:
        for case in read_cases(path):
            case.extra.setdefault("source", path.stem)
            cases.append(case)
    if not cases:
        raise DataError(f"--raw {raw}: its *.jsonl files hold no cases")
    return cases


def execute(args: argparse.Namespace) -> int:
    """Write the splits ``args`` ask for: 0, 1 when the splits would leak, 2 on bad input."""
    try:
        cases = load_raw(args.raw)
    except DataError as exc:
        print(f"split_data: {exc}; nothing written", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"split_data: cannot create --out {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    splits = split_cases(cases, seed=args.seed)
    found = leaks(splits)
    if found:
        for a, ta, b, tb in found[:10]:
            print(f"leak: {a}: {ta!r} ~ {b}: {tb!r}", file=sys.stderr)
        return 1
    for name in SPLITS:
        write_cases(args.out / f"{name}.jsonl", splits[name])
        by = Counter((c.expected_function or "none", c.lang) for c in splits[name])
        print(f"{name}: {len(splits[name])} cases; " + ", ".join(
            f"{fn}/{lang}={n}" for (fn, lang), n in sorted(by.items())))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.split(ap)
    return execute(ap.parse_args(argv))
