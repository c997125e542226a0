"""Routing metrics over evaluated cases: pure functions, no I/O.

Definitions (the numbers in report.json mean exactly this):

- A case's *expected label* is its ``expected_function`` or ``"none"``; its *predicted
  label* is the first predicted call's name or ``"none"``. ``accuracy`` compares the two.
- ``per_function``: one-vs-rest precision, recall, F1 and support for every label (the
  functions passed in plus ``"none"``; labels met in the data but not passed in are
  appended so nothing is dropped). A zero denominator gives 0.0.
- ``macro_f1``: the unweighted mean F1 over *active* labels, those with support > 0 or
  at least one prediction; a label nobody expected and nobody predicted has no defined
  F1 and is left out. ``weighted_f1`` weights each label's F1 by its support.
- ``argument_match``: over cases whose expected function (not none) was predicted and
  whose ``expected_arguments`` is non-empty, the share whose first predicted call matches
  every expected key after normalisation (see ``values_match``). Extra predicted keys are
  not penalised. ``argument_per_key`` is keyed ``"function.key"``.
- ``call_set``: over cases that carry ``expected_calls``, micro precision/recall/F1 of
  predicted calls against expected calls, a pair matching when the names are equal and
  every expected argument matches (greedy one-to-one); ``exact`` is the share of cases
  whose calls all matched with nothing extra.
- ``latency_ms``: percentiles by linear interpolation between closest ranks (numpy's
  default, Excel's PERCENTILE.INC), over cases with a measured latency.
- ``false_call_rate``: share of expected-none cases routed to a function.
- Top-level rates are ``None`` when their denominator is zero.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from funcgemma.types import Call

NONE = "none"
SOURCES = ("tools_api", "fallback", "context", "none", "error")
_TRAILING = ".!?。！？、，,;:…"
_QUOTES = {'"': '"', "'": "'", "「": "」", "『": "』", "“": "”", "‘": "’"}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")


@dataclass(frozen=True)
class CaseOutcome:
    """One routed case: what was expected and what the router produced."""

    expected_function: str | None
    expected_arguments: Mapping[str, Any]
    lang: str
    predicted: Sequence[Call]
    source: str  # tools_api | fallback | none | error
    latency_ms: float | None
    parse_failure: bool = False
    text: str = ""
    expected_calls: Sequence[Call] | None = None
    kind: str | None = None  # a conversation turn's kind (data/multiturn)
    expected_ask: str | None = None  # the field a question back should ask for
    asked: str | None = None  # the field the router asked for (outcome "ask")
    asks_labelled: bool = False  # the case's file labels asks (scored in "asks")

    @property
    def expected_label(self) -> str:
        return self.expected_function or NONE

    @property
    def predicted_label(self) -> str:
        return self.predicted[0].name if self.predicted else NONE


def normalise_text(value: str) -> str:
    """NFKC (full/half width), casefold, collapse whitespace, then peel surrounding
    quotes and trailing punctuation until nothing changes."""
    text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    while True:
        before = text
        text = text.rstrip(_TRAILING).strip()
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
            text = text[1:-1].strip()
        if text == before:
            return text


def as_number(value: Any) -> float | None:
    """3, 3.0, "3", "３" and "1,000" are numbers; booleans are not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = normalise_text(value)
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
        if _NUMBER.fullmatch(text):
            return float(text)
    return None


def values_match(expected: Any, predicted: Any) -> bool:
    """Compare one argument value the way a reader would: numbers numerically,
    text after ``normalise_text``, lists element-wise, dicts key by expected key."""
    if predicted is None:
        return expected is None
    e_num, p_num = as_number(expected), as_number(predicted)
    if e_num is not None and p_num is not None:
        return math.isclose(e_num, p_num, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, Mapping):
        return isinstance(predicted, Mapping) and all(
            values_match(v, predicted.get(k)) for k, v in expected.items()
        )
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(predicted, (list, tuple))
            and len(expected) == len(predicted)
            and all(values_match(e, p) for e, p in zip(expected, predicted, strict=True))
        )
    return normalise_text(str(expected)) == normalise_text(str(predicted))


def argument_matches(expected: Mapping[str, Any], predicted: Mapping[str, Any]) -> dict[str, bool]:
    """Per expected key: does the predicted value match (a missing key does not)?"""
    return {k: k in predicted and values_match(v, predicted[k]) for k, v in expected.items()}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def label_scores(
    expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> tuple[dict[str, dict[str, float]], float | None, float | None]:
    """Per-label scores, macro F1 over active labels and support-weighted F1."""
    support, guessed = Counter(expected), Counter(predicted)
    hits = Counter(e for e, p in zip(expected, predicted, strict=True) if e == p)
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        p = hits[label] / guessed[label] if guessed[label] else 0.0
        r = hits[label] / support[label] if support[label] else 0.0
        per[label] = {
            "precision": p, "recall": r, "f1": _f1(p, r),
            "support": support[label], "predicted": guessed[label],
        }
    active = [lab for lab in labels if support[lab] or guessed[lab]]
    macro = _ratio(sum(per[lab]["f1"] for lab in active), len(active))
    total = sum(support[lab] for lab in labels)
    weighted = _ratio(sum(per[lab]["f1"] * support[lab] for lab in labels), total)
    return per, macro, weighted


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; ``q`` in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values),
    }


def _match_calls(expected: Sequence[Call], predicted: Sequence[Call]) -> int:
    free = list(predicted)
    matched = 0
    for want in expected:
        for i, got in enumerate(free):
            same = got.name == want.name
            if same and all(argument_matches(want.arguments, got.arguments).values()):
                del free[i]
                matched += 1
                break
    return matched


def call_set_scores(outcomes: Sequence[CaseOutcome]) -> dict[str, float | int | None]:
    cases = [o for o in outcomes if o.expected_calls is not None]
    tp = n_expected = n_predicted = exact = 0
    for o in cases:
        expected = list(o.expected_calls or ())
        matched = _match_calls(expected, o.predicted)
        tp += matched
        n_expected += len(expected)
        n_predicted += len(o.predicted)
        exact += matched == len(expected) == len(o.predicted)
    p, r = _ratio(tp, n_predicted), _ratio(tp, n_expected)
    f1 = _f1(p or 0.0, r or 0.0) if cases else None
    exact_share = _ratio(exact, len(cases))
    return {"n": len(cases), "precision": p, "recall": r, "f1": f1, "exact": exact_share}


def ask_scores(outcomes: Sequence[CaseOutcome]) -> dict[str, float | int | None]:
    """Questions back: a case that expects one and got one is a hit (``field_right`` also
    needs the same field and function); one asked where none was expected is a false ask."""
    cases = [o for o in outcomes if o.asks_labelled]
    tp = sum(o.expected_ask is not None and o.asked is not None for o in cases)
    asked = sum(o.asked is not None for o in cases)
    expected = sum(o.expected_ask is not None for o in cases)
    field_right = sum(o.expected_ask is not None and o.asked == o.expected_ask
                      and o.predicted_label == o.expected_label for o in cases)
    p, r = _ratio(tp, asked), _ratio(tp, expected)
    return {"n": len(cases), "expected": expected, "asked": asked, "precision": p,
            "recall": r, "f1": _f1(p or 0.0, r or 0.0) if expected or asked else None,
            "field_right": _ratio(field_right, expected)}


def _argument_scores(outcomes: Sequence[CaseOutcome]) -> dict[str, Any]:
    checked = matched = 0
    per_key: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        label = o.expected_label
        if label == NONE or o.predicted_label != label or not o.expected_arguments:
            continue
        keys = argument_matches(o.expected_arguments, o.predicted[0].arguments)
        checked += 1
        matched += all(keys.values())
        for key, ok in keys.items():
            per_key[f"{label}.{key}"][0] += ok
            per_key[f"{label}.{key}"][1] += 1
    return {
        "argument_match": _ratio(matched, checked),
        "argument_match_n": checked,
        "argument_per_key": {
            k: {"n": n, "match_rate": hit / n} for k, (hit, n) in sorted(per_key.items())
        },
    }


def _labels(functions: Sequence[str], outcomes: Sequence[CaseOutcome]) -> list[str]:
    base = [f for f in functions if f != NONE]
    seen = {o.expected_label for o in outcomes} | {o.predicted_label for o in outcomes}
    extra = sorted(seen - set(base) - {NONE})
    return base + extra + [NONE]


def _confusions(
    outcomes: Sequence[CaseOutcome], labels: Sequence[str], top_k: int
) -> tuple[list[list[int]], list[dict[str, Any]]]:
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o in outcomes:
        e, p = o.expected_label, o.predicted_label
        matrix[index[e]][index[p]] += 1
        if e != p and len(examples[(e, p)]) < 3:
            examples[(e, p)].append(o.text)
    pairs = [
        (matrix[i][j], i, j)
        for i in range(len(labels))
        for j in range(len(labels))
        if i != j and matrix[i][j]
    ]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    worst = [
        {"expected": labels[i], "predicted": labels[j], "count": c,
         "examples": examples[(labels[i], labels[j])]}
        for c, i, j in pairs[:top_k]
    ]
    return matrix, worst


def compute_metrics(
    outcomes: Sequence[CaseOutcome], functions: Sequence[str], *, top_k: int = 5
) -> dict[str, Any]:
    """Every number report.json carries about routing quality (see module docstring)."""
    labels = _labels(functions, outcomes)
    expected = [o.expected_label for o in outcomes]
    predicted = [o.predicted_label for o in outcomes]
    per_function, macro, weighted = label_scores(expected, predicted, labels)
    correct = sum(e == p for e, p in zip(expected, predicted, strict=True))

    per_lang: dict[str, dict[str, Any]] = {}
    for lang in sorted({o.lang for o in outcomes}):
        subset = [o for o in outcomes if o.lang == lang]
        exp = [o.expected_label for o in subset]
        pred = [o.predicted_label for o in subset]
        _, lang_macro, _ = label_scores(exp, pred, labels)
        hits = sum(e == p for e, p in zip(exp, pred, strict=True))
        per_lang[lang] = {"n": len(subset), "accuracy": hits / len(subset), "macro_f1": lang_macro}

    per_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.kind for o in outcomes if o.kind}):
        subset = [o for o in outcomes if o.kind == kind]
        routed = [o for o in subset if o.expected_label == o.predicted_label]
        called = [o for o in routed if o.expected_label != NONE and o.expected_arguments]
        right = sum(all(argument_matches(o.expected_arguments, o.predicted[0].arguments)
                        .values()) for o in called)
        per_kind[kind] = {
            "n": len(subset), "accuracy": _ratio(len(routed), len(subset)),
            "arguments_right": _ratio(right, len(called)),
            # a reminder nobody asked for: the harm "and tomorrow?" used to do
            "reminders_unasked": sum(o.predicted_label == "schedule_reminder"
                                     and o.expected_label != "schedule_reminder"
                                     for o in subset)}

    sources = Counter({s: 0 for s in SOURCES})
    sources.update(o.source for o in outcomes)
    none_cases = [o for o in outcomes if o.expected_label == NONE]
    false_calls = sum(o.predicted_label != NONE for o in none_cases)
    matrix, worst = _confusions(outcomes, labels, top_k)
    call_set = call_set_scores(outcomes)
    return {
        "n": len(outcomes),
        "accuracy": _ratio(correct, len(outcomes)),
        "macro_f1": macro,
        "weighted_f1": weighted,
        "per_function": per_function,
        **_argument_scores(outcomes),
        "call_set_f1": call_set["f1"],
        "call_set": call_set,
        **({"asks": ask_scores(outcomes)} if any(o.asks_labelled for o in outcomes) else {}),
        "per_lang": per_lang,
        **({"per_kind": per_kind} if per_kind else {}),
        "sources": dict(sources),
        "parse_failures": sum(o.parse_failure for o in outcomes),
        "latency_ms": latency_summary([o.latency_ms for o in outcomes if o.latency_ms is not None]),
        "false_call_rate": _ratio(false_calls, len(none_cases)),
        "false_call_n": len(none_cases),
        "labels": labels,
        "confusion": {"labels": labels, "matrix": matrix},
        "worst_confusions": worst,
    }
