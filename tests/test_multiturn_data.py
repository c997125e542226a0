"""The conversation, multi-call and plain-style labelled sets (data/multiturn, data/multicall,
data/plain): well-formed, grounded in what the user said, big enough, and free of leaks
across their splits and into the project's other labelled data."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from funcgemma.registry import FunctionSpec, default_registry
from funcgemma_lab.datasets import (
    SPLITS,
    Case,
    near_duplicate_pairs,
    normalise,
    read_cases,
    skeleton,
)
from funcgemma_lab.evaluation import load_cases

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SETS = {"multiturn": SPLITS, "multicall": ("dev", "test"), "plain": SPLITS}
FILES = [DATA / name / f"{split}.jsonl" for name, splits in SETS.items() for split in splits]
KINDS = {
    "follow_up",
    "fragment",
    "topic_switch",
    "correction",
    "missing_argument",
    "chit_chat",
    "cannot",
    "clarification",
}
MULTITURN_KEYS = {
    "conversation",
    "turn",
    "history",
    "text",
    "expected_function",
    "expected_arguments",
    "expected_ask",
    "kind",
    "lang",
}
PLAIN_STYLES = {
    "reorder",
    "place_order",
    "no_category",
    "indirect_translation",
    "person_question",
    "calendar",
    "what_to_wear",
    "no_place",
    "terse",
    "near_miss",
}


def _grounded(spec: FunctionSpec) -> list[str]:
    return [k for k, r in spec.roles.items() if r.grounded]


@cache
def _rows(path: Path) -> tuple[dict[str, Any], ...]:
    with path.open(encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def _all(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(split, row) for split in SETS[name] for row in _rows(DATA / name / f"{split}.jsonl")]


def _calls(row: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    if "expected_calls" in row:
        return [(c["name"], c["arguments"]) for c in row["expected_calls"]]
    return [(row["expected_function"], row["expected_arguments"])]


def _is_romaji(row: dict[str, Any]) -> bool:
    return row["lang"] == "ja" and row["text"].isascii()


def _user_texts(row: dict[str, Any]) -> list[str]:
    return [m["content"] for m in row.get("history", []) if m["role"] == "user"]


def _history_calls(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["call"] for m in row.get("history", []) if "call" in m]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_multiturn_data_every_row_parses(path: Path) -> None:
    """Both readers take every line: the split tools' (datasets) and the evaluator's."""
    rows = _rows(path)
    assert rows
    assert len(read_cases(path)) == len(rows)
    cases = load_cases(path)
    assert len(cases) == len(rows)
    if path.parent.name == "multicall":
        assert all(c.expected_calls for c in cases)


@pytest.mark.parametrize("name", SETS)
def test_multiturn_data_functions_and_arguments_are_the_registrys(name: str) -> None:
    registry = default_registry()
    for split, row in _all(name):
        where = f"{name}/{split}: {row['text']!r}"
        assert row["lang"] in {"en", "ja"}, where
        ask = row.get("expected_ask")
        for fn, args in _calls(row):
            if fn is None:
                assert args == {} and ask is None, where
                continue
            spec = registry.get(fn)  # one of the seven, or this raises
            assert set(args) <= set(spec.params.model_fields), where
            if ask is None:
                spec.params.model_validate(args)
            else:  # what was given is valid once the asked field is there
                assert set(ask) == {"field"}, where
                assert ask["field"] in spec.params.model_fields, where
                assert ask["field"] not in args, where
                spec.params.model_validate({**args, ask["field"]: "x"})
        for call in _history_calls(row):
            registry.get(call["name"]).params.model_validate(call["arguments"])


@pytest.mark.parametrize("name", SETS)
def test_multiturn_data_values_are_copied_from_what_the_user_said(name: str) -> None:
    """A value the user states is in the text as written; one a follow-up leaves out is
    copied from an earlier call of the conversation, or (an answer to a question) from
    the user's earlier message."""
    registry = default_registry()
    for split, row in _all(name):
        said = _user_texts(row)
        earlier = {v for call in _history_calls(row) for v in call["arguments"].values()}
        for fn, args in _calls(row):
            if fn is None:
                continue
            for key in _grounded(registry.get(fn)):
                value = args.get(key)
                if value is None or value in row["text"]:
                    continue
                assert value in earlier or any(value in text for text in said), (
                    f"{name}/{split}: {row['text']!r}: {key}={value!r} not said"
                )
        for n, message in enumerate(row.get("history", [])):
            if "call" not in message:
                continue
            before = [m["content"] for m in row["history"][:n] if m["role"] == "user"]
            for key in _grounded(registry.get(message["call"]["name"])):
                value = message["call"]["arguments"].get(key)
                assert value is None or any(value in text for text in before), (
                    f"{name}/{split}: history of {row['text']!r}: {key}={value!r}"
                )


def test_multiturn_data_rows_follow_the_conversation_format() -> None:
    by_conv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    split_of: dict[str, set[str]] = defaultdict(set)
    for split, row in _all("multiturn"):
        where = f"{split}: {row['conversation']} turn {row['turn']}"
        assert MULTITURN_KEYS <= set(row), where
        assert row["kind"] in KINDS, where
        assert (row.get("outcome") == "cannot") == (row["kind"] == "cannot"), where
        history = row["history"]
        for message in history:
            assert message["role"] in {"user", "assistant"}, where
            assert len(set(message) & {"content", "call"}) == 1, where
            if "call" in message:
                assert message["role"] == "assistant", where
        assert len(_user_texts(row)) == row["turn"] - 1, where
        assert not history or history[-1]["role"] == "assistant", where
        by_conv[row["conversation"]].append(row)
        split_of[row["conversation"]].add(split)
    assert all(len(s) == 1 for s in split_of.values()), "a conversation spans splits"
    for rows in by_conv.values():
        rows.sort(key=lambda r: r["turn"])
        longest = rows[-1]
        for row in rows:  # every scored turn sees the same conversation so far
            assert longest["history"][: len(row["history"])] == row["history"]


def test_multiturn_data_each_kind_means_what_it_says() -> None:
    rows = {(r["conversation"], r["turn"]): r for _, r in _all("multiturn")}
    for (conv, turn), row in rows.items():
        where = f"{conv} turn {turn}: {row['text']!r}"
        calls = _history_calls(row)
        kind = row["kind"]
        if kind == "fragment":
            assert row["history"] == [] and turn == 1, where
        if kind in {"fragment", "chit_chat", "cannot"}:
            assert row["expected_function"] is None, where
        if kind in {"follow_up", "correction"}:  # the last call, with a change
            last = calls[-1]
            assert row["expected_function"] == last["name"], where
            assert set(last["arguments"]) <= set(row["expected_arguments"]), where
            assert row["expected_arguments"] != last["arguments"], where
        if kind in {"topic_switch", "clarification"}:
            assert row["expected_function"] is not None and row["history"], where
        if row["expected_ask"] is not None:  # the next turn answers it with the whole call
            assert kind == "missing_argument", where
            answer = rows[(conv, turn + 1)]
            assert answer["kind"] == "missing_argument", where
            assert answer["expected_ask"] is None, where
            assert answer["expected_function"] == row["expected_function"], where
            assert row["expected_arguments"].items() <= answer["expected_arguments"].items()
            assert row["expected_ask"]["field"] in answer["expected_arguments"], where
        elif kind == "missing_argument":
            asked = rows[(conv, turn - 1)]
            assert asked["expected_ask"] is not None, where


def test_multiturn_data_counts_meet_the_minimums() -> None:
    rows = _all("multiturn")
    convs: dict[str, tuple[str, str, int, bool]] = {}
    for split, row in rows:
        old = convs.get(row["conversation"], (split, row["lang"], 0, False))
        convs[row["conversation"]] = (
            split,
            row["lang"],
            max(old[2], row["turn"]),
            old[3] or _is_romaji(row),
        )
    assert len(convs) >= 300
    assert all(2 <= turns <= 4 for _, _, turns, _ in convs.values())
    langs = Counter(lang for _, lang, _, _ in convs.values())
    assert langs["ja"] / len(convs) >= 0.35
    assert sum(romaji for *_, romaji in convs.values()) >= 5
    shares = Counter(split for split, *_ in convs.values())
    for split, target in zip(SPLITS, (0.60, 0.15, 0.25), strict=True):
        assert abs(shares[split] / len(convs) - target) <= 0.05, shares
    kinds = Counter(row["kind"] for _, row in rows)
    assert all(kinds[kind] >= 25 for kind in KINDS - {"clarification"}), kinds
    for split in SPLITS:
        seen = {(row["kind"], row["lang"]) for s, row in rows if s == split}
        assert {(k, lang) for k in KINDS for lang in ("en", "ja")} <= seen, split
    follow = {fn for _, row in rows if row["kind"] == "follow_up" for fn, _ in _calls(row)}
    assert follow == set(default_registry().names)


def test_multicall_data_counts_and_shape() -> None:
    rows = [row for _, row in _all("multicall")]
    assert len(rows) >= 80
    sizes = Counter(len(row["expected_calls"]) for row in rows)
    assert sizes[1] >= 5 and sizes[2] >= 50 and sizes[3] >= 5, sizes
    assert {row["lang"] for row in rows} == {"en", "ja"}
    for row in rows:  # the single-call fields agree with the first call
        first = row["expected_calls"][0]
        assert (row["expected_function"], row["expected_arguments"]) == (
            first["name"],
            first["arguments"],
        )
        assert all(c["name"] for c in row["expected_calls"])


def test_plain_data_counts_styles_and_pinned_splits() -> None:
    rows = _all("plain")
    assert len(rows) >= 240
    assert all(row["split"] == split for split, row in rows)
    assert {row["style"] for _, row in rows} == PLAIN_STYLES
    n = len(rows)
    shares = Counter(split for split, _ in rows)
    for split, target in zip(SPLITS, (0.5, 0.2, 0.3), strict=True):
        assert abs(shares[split] / n - target) <= 0.05, shares
    script = Counter("romaji" if _is_romaji(row) else row["lang"] for _, row in rows)
    for key, target in (("en", 0.6), ("ja", 0.25), ("romaji", 0.15)):
        assert abs(script[key] / n - target) <= 0.05, script
    none = sum(row["expected_function"] is None for _, row in rows)
    assert 0.25 <= none / n <= 0.35
    assert all(row["style"] == "near_miss" for _, row in rows if row["expected_function"] is None)
    assert all(
        row.get("near") in default_registry().names
        for _, row in rows
        if row["style"] == "near_miss"
    )


def _texts(split: str) -> list[Case]:
    """Every user text of a split across the three sets: scored ones with their
    arguments (for the template check), earlier turns of a conversation without."""
    out = []
    for name, splits in SETS.items():
        if split not in splits:
            continue
        for row in _rows(DATA / name / f"{split}.jsonl"):
            args = {f"{k}{n}": v for n, (_, a) in enumerate(_calls(row)) for k, v in a.items()}
            out.append(Case(row["text"], row["expected_function"], args, extra={"scored": True}))
            out += [Case(text, None) for text in _user_texts(row)]
    return out


def _template(case: Case) -> str | None:
    """A scored text's template (its values replaced by their names), unless nothing but
    the values is left ("Osaka", "at 6"): a bare answer is no template."""
    skel = skeleton(case)
    names = {w for key in case.expected_arguments for w in normalise(key).split()}
    if case.extra.get("scored") and set(skel.split()) - names:
        return skel
    return None


def test_multiturn_data_splits_share_no_text_or_template() -> None:
    """Across train/dev/test of all three sets: no text equal after NFKC, case folding and
    dropping punctuation (datasets.normalise), no near-duplicate (datasets.near_duplicate_pairs,
    the split tools' check) and no scored template."""
    unique = {
        (split, case.text, _template(case)): case for split in SPLITS for case in _texts(split)
    }
    flat = [(split, case) for (split, _, _), case in unique.items()]
    seen: dict[str, str] = {}
    crossing = []
    for split, case in flat:
        template = _template(case)
        keys = [normalise(case.text)] + ([f"template:{template}"] if template else [])
        for key in keys:
            if seen.setdefault(key, split) != split:
                crossing.append((seen[key], split, case.text))
    pairs = near_duplicate_pairs([case.text for _, case in flat])
    crossing += [
        (flat[i][0], flat[j][0], flat[j][1].text) for i, j in pairs if flat[i][0] != flat[j][0]
    ]
    assert crossing == []


@pytest.mark.slow
def test_multiturn_data_shares_no_text_with_the_other_labelled_data() -> None:
    """Nothing here is in (or near) the single-turn splits, the held-out sets or the
    extra-function messages."""
    others = [DATA / f"{split}.jsonl" for split in SPLITS]
    others += sorted(DATA.glob("holdout/*.jsonl")) + sorted(DATA.glob("extra*/cases.jsonl"))
    theirs = [c.text for path in others for c in read_cases(path)]
    assert len(theirs) > 5000
    ours = sorted({case.text for split in SPLITS for case in _texts(split)})
    known = {normalise(text) for text in theirs}
    assert [text for text in ours if normalise(text) in known] == []
    pairs = near_duplicate_pairs(theirs + ours)
    assert [(theirs[i], ours[j - len(theirs)]) for i, j in pairs if i < len(theirs) <= j] == []


def _near_scored_texts(ours: list[str]) -> list[tuple[str, str]]:
    """(scored text, our text) for each of ``ours`` equal or near a dev, test or held-out
    text of any set (the held-out function sets included)."""
    scored = [case.text for split in ("dev", "test") for case in _texts(split)]
    scored += [c.text for p in [DATA / "dev.jsonl", DATA / "test.jsonl",
                                *sorted(DATA.glob("holdout/*.jsonl")),
                                *sorted(DATA.glob("holdout/*/cases.jsonl"))]
               for c in read_cases(p)]
    known = {normalise(text): text for text in scored}
    equal = [(known[normalise(t)], t) for t in ours if normalise(t) in known]
    pairs = near_duplicate_pairs(scored + ours)
    return equal + [(scored[i], ours[j - len(scored)]) for i, j in pairs
                    if i < len(scored) <= j]


def test_plain_train2_is_registry_shaped_and_far_from_every_scored_text() -> None:
    """data/plain/train2.jsonl (more training rows in the plain styles, written blind): each
    row reads, names one of the seven (or none) with the registry's fields, copies each
    stated value from its text, asks for a required value only where it is left out, and
    no text is equal or near to a dev, test or held-out text of any set."""
    path = DATA / "plain" / "train2.jsonl"
    rows = _rows(path)
    assert len(rows) >= 300 and len(read_cases(path)) == len(rows)
    assert {row["style"] for row in rows} == PLAIN_STYLES
    assert all(row["split"] == "train" for row in rows)
    registry = default_registry()
    for row in rows:
        fn, args, ask = row["expected_function"], row["expected_arguments"], row["expected_ask"]
        if fn is None:
            assert args == {} and ask is None and row["style"] == "near_miss", row["text"]
            continue
        spec = registry.get(fn)
        assert set(args) <= set(spec.params.model_fields), row["text"]
        for key in _grounded(spec):
            assert args.get(key) is None or args[key] in row["text"], (row["text"], key)
        if ask is None:
            spec.params.model_validate(args)
        else:
            assert ask["field"] in spec.params.model_fields and ask["field"] not in args
    assert _near_scored_texts([row["text"] for row in rows]) == []


def test_plain_negatives_are_no_function_and_far_from_every_scored_text() -> None:
    """data/plain/negatives.jsonl (hard negatives in the plain styles, written blind, for
    run 9): every row asks for nothing the seven do, near misses name the function they
    sit beside, and no text is equal or near to a dev, test or held-out text."""
    path = DATA / "plain" / "negatives.jsonl"
    rows = _rows(path)
    assert len(rows) >= 300 and len(read_cases(path)) == len(rows)
    assert {row["style"] for row in rows} == {"other_service", "near_miss", "fragment"}
    names = set(default_registry().names)
    for row in rows:
        assert row["expected_function"] is None and row["expected_arguments"] == {}, row
        assert row["expected_ask"] is None and row["split"] == "train", row
        assert (row["near"] in names) == (row["style"] == "near_miss"), row
    assert {row["near"] for row in rows if row["near"]} == names
    assert {row["lang"] for row in rows} == {"en", "ja"}
    assert _near_scored_texts([row["text"] for row in rows]) == []
