"""Labelled cases: loading, normalising, grouping near-duplicates, splitting without leaks.

Two cases are kept in the same split when they share a `group`, when their normalised
texts are equal, when they are the same template with other argument values ("weather
in Kyoto tomorrow" / "weather in Osaka tomorrow"), or when their character 4-gram
Jaccard similarity is at least NEAR_DUPLICATE. Groups are then split per (function,
language) stratum, so every split sees every class in both languages.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

NEAR_DUPLICATE = 0.7
SPLITS = ("train", "dev", "test")
_PUNCT = regex.compile(r"[\p{P}\p{S}]+")


@dataclass
class Case:
    text: str
    expected_function: str | None
    expected_arguments: dict[str, Any] = field(default_factory=dict)
    lang: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "expected_function": self.expected_function,
                "expected_arguments": self.expected_arguments, "lang": self.lang, **self.extra}


def about_function(case: Case, name: str, negatives: bool = True) -> bool:
    """Whether ``case`` was written for function ``name``: one of its calls, or (with
    ``negatives``) a hard negative written to contrast with it (a no-function row whose
    ``near`` names it). Holding a function out of training (the generalisation test) drops
    both by default: a user who adds a function has neither."""
    return case.expected_function == name or (
        negatives and case.expected_function is None and case.extra.get("near") == name)


class DataError(ValueError):
    pass


def read_cases(path: Path) -> list[Case]:
    """The cases in a JSONL file. Any problem (a missing or unreadable file, a bad line)
    raises DataError naming the file, and the line, for the tools to print as one line."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            found = [_parse_line(path, n, line) for n, line in enumerate(fh, 1)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from exc
    return [case for case in found if case is not None]


def _parse_line(path: Path, n: int, line: str) -> Case | None:
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{n}: not JSON ({exc}); see data/README.md") from exc
    if not isinstance(row, dict):
        raise DataError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}; "
                        "see data/README.md")
    try:
        text = row.pop("text")
        fn = row.pop("expected_function")
    except KeyError as exc:
        raise DataError(f"{path}:{n}: not a case (no {exc}); see data/README.md") from exc
    if not isinstance(text, str) or not (fn is None or isinstance(fn, str)):
        raise DataError(f"{path}:{n}: `text` must be a string and "
                        "`expected_function` a string or null")
    return Case(text=text, expected_function=fn,
                expected_arguments=row.pop("expected_arguments", None) or {},
                lang=row.pop("lang", "en"), extra=row)


def write_cases(path: Path, cases: Iterable[Case]) -> None:
    """Write through a temporary file renamed into place, so a failed write leaves the
    file that was there (a published split) as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as fh:
            for case in cases:
                fh.write(json.dumps(case.to_json(), ensure_ascii=False) + "\n")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def normalise(text: str) -> str:
    """Case, width, punctuation and spacing folded away: the key for 'same text'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def skeleton(case: Case) -> str:
    """The text with its argument values replaced by their names: the template."""
    text = case.text
    for key, value in sorted(case.expected_arguments.items(), key=lambda kv: -len(str(kv[1]))):
        if isinstance(value, str) and value and value in text:
            text = text.replace(value, f"<{key}>")
    return normalise(text)


def _shingles(text: str, n: int = 4) -> set[str]:
    t = normalise(text)
    return {t[i : i + n] for i in range(max(1, len(t) - n + 1))}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def near_duplicate_pairs(texts: Sequence[str], threshold: float = NEAR_DUPLICATE
                         ) -> list[tuple[int, int]]:
    shingles = [_shingles(t) for t in texts]
    index: dict[str, list[int]] = defaultdict(list)
    for i, sh in enumerate(shingles):
        for s in sh:
            index[s].append(i)
    pairs = []
    for i, sh in enumerate(shingles):
        counts: dict[int, int] = defaultdict(int)
        for s in sh:
            postings = index[s]
            if len(postings) > 300:  # very common 4-grams say nothing about duplication
                continue
            for j in postings:
                if j > i:
                    counts[j] += 1
        for j, shared in counts.items():
            if shared / (len(sh) + len(shingles[j]) - shared) >= threshold:
                pairs.append((i, j))
    return pairs


def group_cases(cases: Sequence[Case], threshold: float = NEAR_DUPLICATE) -> list[int]:
    """A group id per case; cases that must not be split apart share one."""
    uf = _UnionFind(len(cases))
    first: dict[tuple[str, str], int] = {}
    for i, case in enumerate(cases):
        keys = [("norm", normalise(case.text)), ("skel", skeleton(case))]
        if case.extra.get("group"):
            keys.append(("group", f"{case.extra.get('source', '')}/{case.extra['group']}"))
        for key in keys:
            if key in first:
                uf.union(i, first[key])
            else:
                first[key] = i
    for i, j in near_duplicate_pairs([c.text for c in cases], threshold):
        uf.union(i, j)
    return [uf.find(i) for i in range(len(cases))]


def split_cases(cases: Sequence[Case], *, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                seed: int = 13) -> dict[str, list[Case]]:
    """Train/dev/test by group, per (function, language) stratum.

    A case with ``"split": "train"`` (or dev/test) is pinned there and takes no part
    in the random assignment: rows added after a split was published join training
    without moving any published dev or test row. ``leaks`` still checks them.
    """
    pinned = [c for c in cases if c.extra.get("split") in SPLITS]
    cases = [c for c in cases if c.extra.get("split") not in SPLITS]
    groups = group_cases(cases)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for g, idx in members.items():
        head = cases[idx[0]]
        strata[(head.expected_function or "none", head.lang)].append(g)
    rng = random.Random(seed)
    out: dict[str, list[Case]] = {name: [] for name in SPLITS}
    for key in sorted(strata):
        gids = sorted(strata[key])
        rng.shuffle(gids)
        total = sum(len(members[g]) for g in gids)
        filled = {name: 0 for name in SPLITS}
        for g in gids:
            # give the group to the split furthest below its target share
            name = min(SPLITS, key=lambda s: filled[s] / total - ratios[SPLITS.index(s)])
            filled[name] += len(members[g])
            out[name].extend(cases[i] for i in members[g])
    for name in SPLITS:
        rng.shuffle(out[name])
        out[name].extend(c for c in pinned if c.extra["split"] == name)
    return out


def leaks(splits: dict[str, list[Case]], threshold: float = NEAR_DUPLICATE
          ) -> list[tuple[str, str, str, str]]:
    """(split_a, text_a, split_b, text_b) for every pair that crosses splits."""
    flat = [(name, c) for name in SPLITS for c in splits.get(name, [])]
    found = []
    seen: dict[str, tuple[str, str]] = {}
    for name, c in flat:
        for key in (normalise(c.text), "skel:" + skeleton(c)):
            if key in seen and seen[key][0] != name:
                found.append((seen[key][0], seen[key][1], name, c.text))
            seen.setdefault(key, (name, c.text))
    for i, j in near_duplicate_pairs([c.text for _, c in flat], threshold):
        if flat[i][0] != flat[j][0]:
            found.append((flat[i][0], flat[i][1].text, flat[j][0], flat[j][1].text))
    return found
