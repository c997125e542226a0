"""Metrics over a hand-checked case set: every expected number is derived below."""

from __future__ import annotations

import pytest

from funcgemma.types import Call
from funcgemma_lab.metrics import CaseOutcome, compute_metrics, percentile, values_match

W, S, T = "weather_info", "shopping_intent", "translation_assist"
# Registry order (sorted names). celebrity_info is never expected nor predicted: it is
# shown in per_function with zeros and left out of macro F1.
FUNCTIONS = ["celebrity_info", S, T, W]


AUTO = object()


def case(
    n,
    expected,
    args,
    lang,
    predicted,
    source="tools_api",
    *,
    latency=AUTO,
    parse_failure=False,
    expected_calls=None,
):
    return CaseOutcome(
        expected_function=expected,
        expected_arguments=args,
        lang=lang,
        predicted=[Call(name=name, arguments=a) for name, a in predicted],
        source=source,
        latency_ms=10.0 * n if latency is AUTO else latency,
        parse_failure=parse_failure,
        text=f"case {n}",
        expected_calls=expected_calls,
    )


# case  lang expected -> predicted   notes
#  1    en   W -> W   args match after casefold + trailing "."
#  2    ja   W -> W   args match
#  3    ja   S -> S   full-width "ＰＳ５" == "PS5", quantity 2 == "2"; source fallback
#  4    en   S -> S   budget 100 == "100.0" but currency USD != EUR: argument mismatch
#  5    en   S -> W   misroute
#  6    en   T -> T   args match ("good morning!" == "Good morning")
#  7    en   T -> none  parse failure (source error)
#  8    en   none -> none  source none
#  9    en   none -> W  false call
# 10    ja   none -> none  backend error (source error, no latency)
# 11    en   W -> W   multi-call: expected [Kyoto, Osaka], predicted [Kyoto, Nara, S umbrella]
# 12    en   S -> T   misroute
# 13    ja   none -> W  false call
CASES = [
    case(
        1,
        W,
        {"location": "Kyoto", "date": "tomorrow"},
        "en",
        [(W, {"location": "kyoto", "date": "Tomorrow."})],
    ),
    case(2, W, {"location": "東京"}, "ja", [(W, {"location": "東京"})]),
    case(
        3,
        S,
        {"item": "ＰＳ５", "quantity": 2},
        "ja",
        [(S, {"item": "PS5", "quantity": "2"})],
        "fallback",
    ),
    case(
        4,
        S,
        {"item": "headphones", "budget": 100, "currency": "USD"},
        "en",
        [(S, {"item": "headphones", "budget": "100.0", "currency": "EUR"})],
    ),
    case(5, S, {"item": "socks"}, "en", [(W, {"location": "socks"})]),
    case(
        6,
        T,
        {"text": "Good morning", "target_language": "French"},
        "en",
        [(T, {"text": "good morning!", "target_language": "french"})],
    ),
    case(
        7, T, {"text": "hello", "target_language": "Spanish"}, "en", [], "error", parse_failure=True
    ),
    case(8, None, {}, "en", [], "none"),
    case(9, None, {}, "en", [(W, {"location": "here"})]),
    case(10, None, {}, "ja", [], "error", latency=None),  # backend error: no latency
    case(
        11,
        W,
        {"location": "Kyoto"},
        "en",
        [(W, {"location": "Kyoto"}), (W, {"location": "Nara"}), (S, {"item": "umbrella"})],
        latency=110.0,
        expected_calls=[
            Call(name=W, arguments={"location": "Kyoto"}),
            Call(name=W, arguments={"location": "Osaka"}),
        ],
    ),
    case(12, S, {"item": "umbrella"}, "en", [(T, {"text": "umbrella"})], latency=120.0),
    case(13, None, {}, "ja", [(W, {"location": "大阪"})], latency=130.0),
]


@pytest.fixture(scope="module")
def m():
    return compute_metrics(CASES, FUNCTIONS, top_k=3)


def test_metrics_accuracy_counts_first_call_or_none(m):
    # correct: 1, 2, 3, 4, 6, 8, 10, 11 -> 8 of 13 (an error predicting none on a
    # none case counts as correct)
    assert m["n"] == 13
    assert m["accuracy"] == pytest.approx(8 / 13)


def test_metrics_per_function_precision_recall_f1(m):
    pf = m["per_function"]
    # W: support 3 (1,2,11), predicted 6 (1,2,5,9,11,13), hits 3 -> P 1/2, R 1, F1 2/3
    assert pf[W] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 3, "predicted": 6}
    )
    # S: support 4 (3,4,5,12), predicted 2 (3,4), hits 2 -> P 1, R 1/2, F1 2/3
    assert pf[S] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 4, "predicted": 2}
    )
    # T: support 2 (6,7), predicted 2 (6,12), hits 1 -> P 1/2, R 1/2, F1 1/2
    assert pf[T] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2}
    )
    # none: support 4 (8,9,10,13), predicted 3 (7,8,10), hits 2 -> P 2/3, R 1/2,
    # F1 = 2*(2/3)*(1/2)/(2/3+1/2) = (2/3)/(7/6) = 4/7
    assert pf["none"] == pytest.approx(
        {"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "support": 4, "predicted": 3}
    )
    assert pf["celebrity_info"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "predicted": 0,
    }


def test_metrics_macro_f1_skips_labels_never_expected_or_predicted(m):
    # active labels: W, S, T, none (not celebrity_info)
    # macro = (2/3 + 2/3 + 1/2 + 4/7) / 4 = (101/42) / 4 = 101/168
    assert m["macro_f1"] == pytest.approx(101 / 168)
    # weighted = (3*2/3 + 4*2/3 + 2*1/2 + 4*4/7) / 13 = (167/21) / 13 = 167/273
    assert m["weighted_f1"] == pytest.approx(167 / 273)


def test_metrics_argument_match_normalises_values(m):
    # checked: correctly routed, non-none, with arguments: 1, 2, 3, 4, 6, 11 -> 6
    # all keys match except case 4 (currency) -> 5/6
    assert m["argument_match_n"] == 6
    assert m["argument_match"] == pytest.approx(5 / 6)
    assert m["argument_per_key"] == {
        "shopping_intent.budget": {"n": 1, "match_rate": 1.0},  # 100 == "100.0"
        "shopping_intent.currency": {"n": 1, "match_rate": 0.0},
        "shopping_intent.item": {"n": 2, "match_rate": 1.0},  # "ＰＳ５" == "PS5"
        "shopping_intent.quantity": {"n": 1, "match_rate": 1.0},  # 2 == "2"
        "translation_assist.target_language": {"n": 1, "match_rate": 1.0},
        "translation_assist.text": {"n": 1, "match_rate": 1.0},
        "weather_info.date": {"n": 1, "match_rate": 1.0},
        "weather_info.location": {"n": 3, "match_rate": 1.0},  # cases 1, 2, 11
    }


def test_metrics_call_set_f1_over_multi_call_cases(m):
    # only case 11: 2 expected, 3 predicted, 1 matched (Kyoto)
    # P = 1/3, R = 1/2, F1 = 2*(1/6)/(5/6) = 2/5; not an exact match
    assert m["call_set"] == pytest.approx(
        {"n": 1, "precision": 1 / 3, "recall": 0.5, "f1": 0.4, "exact": 0.0}
    )
    assert m["call_set_f1"] == pytest.approx(0.4)


def test_metrics_per_lang(m):
    # en: 1,4,5,6,7,8,9,11,12 -> correct 1,4,6,8,11 = 5/9
    #   W: sup 2, pred 4 (1,5,9,11), hit 2 -> F1 2/3; S: sup 3, pred 1, hit 1 -> F1 1/2
    #   T: sup 2, pred 2 (6,12), hit 1 -> 1/2; none: sup 2 (8,9), pred 2 (7,8), hit 1 -> 1/2
    #   macro = (2/3 + 3/2) / 4 = 13/24
    # ja: 2,3,10,13 -> correct 2,3,10 = 3/4
    #   W: sup 1, pred 2, hit 1 -> 2/3; S: 1/1/1 -> 1; none: sup 2, pred 1, hit 1 -> 2/3
    #   T inactive -> macro = (2/3 + 1 + 2/3) / 3 = 7/9
    assert list(m["per_lang"]) == ["en", "ja"]
    assert m["per_lang"]["en"] == pytest.approx({"n": 9, "accuracy": 5 / 9, "macro_f1": 13 / 24})
    assert m["per_lang"]["ja"] == pytest.approx({"n": 4, "accuracy": 3 / 4, "macro_f1": 7 / 9})


def test_metrics_sources_failures_and_false_calls(m):
    # tools_api: 1,2,4,5,6,9,11,12,13 = 9; fallback: 3; none: 8; error: 7, 10
    assert m["sources"] == {"tools_api": 9, "fallback": 1, "context": 0, "none": 1, "error": 2}
    assert m["parse_failures"] == 1
    # expected none: 8, 9, 10, 13; routed to a function: 9, 13 -> 2/4
    assert m["false_call_rate"] == pytest.approx(0.5)
    assert m["false_call_n"] == 4


def test_metrics_latency_percentiles_interpolate_linearly(m):
    # 12 values (case 10 has none): 10..90 step 10, 110, 120, 130
    # p50: pos 11*0.50 = 5.5  -> 60 + 0.5*10  = 65
    # p95: pos 11*0.95 = 10.45 -> 120 + 0.45*10 = 124.5
    # p99: pos 11*0.99 = 10.89 -> 120 + 0.89*10 = 128.9
    # mean: (450 + 360) / 12 = 67.5
    assert m["latency_ms"] == pytest.approx(
        {"n": 12, "p50": 65.0, "p95": 124.5, "p99": 128.9, "mean": 67.5}
    )


def test_metrics_confusion_matrix_and_worst_pairs(m):
    assert m["confusion"]["labels"] == ["celebrity_info", S, T, W, "none"]
    assert m["confusion"]["matrix"] == [
        [0, 0, 0, 0, 0],
        [0, 2, 1, 1, 0],  # S: 3,4 -> S; 12 -> T; 5 -> W
        [0, 0, 1, 0, 1],  # T: 6 -> T; 7 -> none
        [0, 0, 0, 3, 0],  # W: 1, 2, 11
        [0, 0, 0, 2, 2],  # none: 9, 13 -> W; 8, 10 -> none
    ]
    # by count, then matrix order; top_k=3 drops T -> none
    assert m["worst_confusions"] == [
        {"expected": "none", "predicted": W, "count": 2, "examples": ["case 9", "case 13"]},
        {"expected": S, "predicted": T, "count": 1, "examples": ["case 12"]},
        {"expected": S, "predicted": W, "count": 1, "examples": ["case 5"]},
    ]


@pytest.mark.parametrize(
    ("expected", "predicted"),
    [
        ("ＰＳ５", "ps5"),
        (3, "3"),
        (3, 3.0),
        ("3.0", 3),
        ("３", 3),
        ("1,000", 1000),
        ("Kyoto.", "kyoto"),
        ("東京。", "東京"),
        ("「京都」", "京都"),
        ("  New   York ", "new york"),
        ("Great!!", "great"),
        (["a", "B"], ["A", "b"]),
    ],
)
def test_metrics_values_match_after_normalisation(expected, predicted):
    assert values_match(expected, predicted)


@pytest.mark.parametrize(
    ("expected", "predicted"),
    [
        ("Kyoto", "Tokyo"),
        (3, "three"),
        ("12", "1,2"),
        (3, 4),
        ("a", None),
        (True, 1),
        (["a"], ["a", "b"]),
    ],
)
def test_metrics_values_match_rejects_different_values(expected, predicted):
    assert not values_match(expected, predicted)


def test_metrics_percentile_single_value():
    assert percentile([42.0], 95) == 42.0


def test_metrics_empty_input_gives_undefined_rates():
    m = compute_metrics([], FUNCTIONS)
    assert m["n"] == 0
    assert m["accuracy"] is None and m["macro_f1"] is None and m["false_call_rate"] is None
    assert m["latency_ms"] == {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None}
    assert m["sources"] == {"tools_api": 0, "fallback": 0, "context": 0, "none": 0, "error": 0}


def test_metrics_unknown_labels_are_appended_before_none():
    outcome = case(1, "old_function", {}, "en", [(W, {})])
    assert compute_metrics([outcome], [W])["labels"] == [W, "old_function", "none"]
