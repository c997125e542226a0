"""The router's encoder stage (funcgemma.encoder): the decision rule, the exemplars a
function brings, the index's disk cache, and the router with the stage in it.

The rule and example files run everywhere; what needs a real sentence encoder (the
`embedded` extra) is in the llamacpp tier."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.encoder.decide import FEW_SHOT_BELOW, Policy, Reading, bonus_vector, choose
from funcgemma.encoder.index import (
    MAX_EXAMPLES,
    description_text,
    function_exemplars,
    read_lines,
    registry_exemplars,
    top_k_means,
    typical_margin,
)
from funcgemma.registry import FunctionRegistry, default_registry, discover
from funcgemma.router import Router

TRAINED = frozenset(default_registry().names)
POLICY = Policy(encoder="use", k=10, few_shot_bonus=0.05, new_margin=0.04, fill_margin=0.12)


def seen(best: str, score: float, none: float) -> Reading:
    return Reading(((best, score), ("travel_guide", score - 0.2)), none)


def test_choose_new_function_overrides_the_adapter_when_confident() -> None:
    assert choose("travel_guide", seen("book_flight", 0.60, 0.50), TRAINED, POLICY) == \
        "book_flight"
    assert choose(None, seen("book_flight", 0.60, 0.50), TRAINED, POLICY) == "book_flight"


def test_choose_new_function_below_its_margin_leaves_the_adapter() -> None:
    assert choose("travel_guide", seen("book_flight", 0.52, 0.50), TRAINED, POLICY) is None
    assert choose(None, seen("book_flight", 0.52, 0.50), TRAINED, POLICY) is None


def test_choose_fills_a_no_function_only_past_the_fill_margin() -> None:
    assert choose(None, seen("weather_info", 0.70, 0.50), TRAINED, POLICY) == "weather_info"
    assert choose(None, seen("weather_info", 0.60, 0.50), TRAINED, POLICY) is None


def test_choose_never_overrides_a_trained_call_with_another_trained_one() -> None:
    assert choose("travel_guide", seen("weather_info", 0.99, 0.0), TRAINED, POLICY) is None


def test_choose_with_uncalibrated_policy_changes_nothing() -> None:
    assert choose(None, seen("book_flight", 0.99, 0.0), TRAINED, Policy()) is None
    assert choose(None, seen("weather_info", 0.99, 0.0), TRAINED, Policy()) is None


def test_choose_asks_a_function_for_its_own_typical_margin() -> None:
    """Fourth rule: the margin an untrained function needs grows with how far above no
    function its own examples sit (a narrow function needs more than a broad one)."""
    scaled = Policy(new_margin=0.0, margin_scale=0.5)
    reading = seen("book_flight", 0.60, 0.50)  # margin 0.10
    assert choose(None, reading, TRAINED, scaled, {"book_flight": 0.15}) == "book_flight"
    assert choose(None, reading, TRAINED, scaled, {"book_flight": 0.30}) is None
    assert choose(None, reading, TRAINED, scaled) == "book_flight"  # unknown: 0
    assert Policy.from_json(scaled.to_json()).margin_scale == 0.5
    assert Policy.from_json({"new_margin": 0.1}).margin_scale == 0.0  # older .json files


def test_typical_margin_leaves_each_example_out() -> None:
    """Two examples that are the same direction score 1.0 against each other only when
    neither counts itself; no function sits at cosine 0."""
    e = np.eye(4, dtype=np.float32)
    examples = np.stack([e[0], e[0]])
    assert typical_margin(examples, e[:0], e[2:3], k=10) == pytest.approx(1.0)
    # a lone example is compared with the description only
    assert typical_margin(e[:1], e[1:2], e[2:3], k=10) == pytest.approx(0.0)
    assert typical_margin(e[:0], e[1:2], e[2:3], k=10) == 0.0  # no examples: neutral
    mixed = np.stack([e[0], e[1]])  # each example far from the other: 0 own score
    assert typical_margin(mixed, e[:0], np.stack([e[0], e[1]]), k=1) == pytest.approx(-1.0)


def test_policy_json_round_trip_keeps_an_off_margin_as_null() -> None:
    data = Policy(new_margin=0.03).to_json()
    assert data["fill_margin"] is None
    back = Policy.from_json(data)
    assert back.new_margin == 0.03 and math.isinf(back.fill_margin)


def test_bonus_goes_to_few_shot_functions_only() -> None:
    groups = [None, "a", "b"]
    counts = {None: 500, "a": FEW_SHOT_BELOW - 1, "b": FEW_SHOT_BELOW}
    assert bonus_vector(groups, counts, POLICY).tolist() == pytest.approx([0.0, 0.05, 0.0])


def test_top_k_means_averages_the_k_nearest_or_all_of_a_small_group() -> None:
    sims = np.array([[0.9, 0.1, 0.5, 0.7, 0.3]], dtype=np.float32)
    members = [np.array([0, 1, 2]), np.array([3]), np.array([], dtype=int)]
    out = top_k_means(sims, members, k=2)
    assert out[0].tolist() == pytest.approx([0.7, 0.7, -1.0])


def test_builtin_functions_bring_their_example_files() -> None:
    for spec in default_registry():
        assert spec.example_file is not None and spec.example_file.is_file(), spec.name
        exemplars = function_exemplars(spec)
        assert exemplars[0].text == description_text(spec)
        assert len(exemplars) == MAX_EXAMPLES + 1  # its description and 20 requests
        assert len({e.text for e in exemplars}) == len(exemplars)


def test_example_files_match_the_training_data() -> None:
    from funcgemma_lab.hybrid_runs import example_files

    for path, text in example_files().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is out of date: run `funcgemma hybrid write-examples`")


def test_a_function_reads_at_most_max_examples(tmp_path: Path) -> None:
    spec = default_registry().get("weather_info")
    path = tmp_path / "many.examples.txt"
    path.write_text("".join(f"weather in town {i}\n" for i in range(50)), encoding="utf-8")
    from dataclasses import replace

    exemplars = function_exemplars(replace(spec, example_file=path))
    assert len(exemplars) == MAX_EXAMPLES + 1
    assert [e.text for e in exemplars[1:len(spec.examples) + 1]] == list(spec.examples)


def test_read_lines_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.examples.txt"
    path.write_text("# about\n\nbook a flight to Oslo\n  fly me to Rome  \n", encoding="utf-8")
    assert read_lines(path) == ["book a flight to Oslo", "fly me to Rome"]


FLIGHT = '''
from pydantic import BaseModel, Field
from funcgemma.registry import FunctionSpec
from funcgemma.results import Done


class BookFlight(BaseModel):
    """Book a plane ticket to a destination city."""

    destination: str = Field(description="City to fly to, e.g. 'Oslo'.")


def run(params, ctx):
    return Done({"booked": params.destination})


SPEC = FunctionSpec(name="book_flight", params=BookFlight, handler=run, examples=(
    "book me a flight to Oslo",
    "I need a plane ticket to Rome next week",
    "get me on a flight to Seoul",
    "大阪行きの飛行機を予約して",
    "札幌までの航空券を取って",
))
'''


@pytest.fixture
def flight_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package of functions with book_flight added as one file (5 examples)."""
    package = tmp_path / "myfunctions"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "book_flight.py").write_text(textwrap.dedent(FLIGHT))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "myfunctions"


def test_discover_finds_an_example_file_beside_a_one_file_function(
        flight_package: str, tmp_path: Path) -> None:
    (tmp_path / flight_package / "book_flight.examples.txt").write_text(
        "fly me to Lima\n", encoding="utf-8")
    (spec,) = discover(flight_package)
    assert spec.example_file == tmp_path / flight_package / "book_flight.examples.txt"
    assert [e.text for e in function_exemplars(spec)][-1] == "fly me to Lima"


def registry_with_flight(package: str) -> FunctionRegistry:
    return FunctionRegistry([*default_registry(), *discover(package)])


def stage_for(registry: FunctionRegistry, tmp_path: Path, **policy: float):
    from funcgemma.encoder.stage import EncoderStage

    return EncoderStage(registry, Policy(**{"encoder": "use", **policy}), trained=TRAINED,
                        cache_dir=tmp_path / "cache")


def test_router_without_encoder_shows_every_function_by_name() -> None:
    backend = ScriptedBackend({})
    Router(backend, default_registry()).route("hello there")
    shown = [t["function"]["name"] for t in backend.calls[0][1] or []]
    assert shown == default_registry().names


@pytest.fixture(scope="module")
def embedded_router():
    from funcgemma.backends.llamacpp import make_embedded
    from funcgemma.settings import Settings

    router, _ = make_embedded(Settings())
    return router


@pytest.mark.llamacpp
class TestWithEncoder:
    def test_index_is_cached_on_disk_by_content(self, tmp_path: Path) -> None:
        from funcgemma.encoder.index import ExemplarIndex
        from funcgemma.encoder.models import load

        class Counting:
            def __init__(self) -> None:
                self.inner = load("use")
                self.name = "use"
                self.texts = 0

            def encode(self, texts):
                self.texts += len(texts)
                return self.inner.encode(texts)

        exemplars = registry_exemplars(default_registry())[:50]
        first = Counting()
        a = ExemplarIndex(first, exemplars, cache_dir=tmp_path)
        assert first.texts == 50
        again = Counting()
        b = ExemplarIndex(again, exemplars, cache_dir=tmp_path)
        assert again.texts == 0 and np.array_equal(a.vectors, b.vectors)
        changed = Counting()
        ExemplarIndex(changed, exemplars[:49], cache_dir=tmp_path)
        assert changed.texts == 49
        for cached in tmp_path.glob("*.npz"):
            cached.write_bytes(b"not a numpy file")
        damaged = Counting()
        c = ExemplarIndex(damaged, exemplars, cache_dir=tmp_path)
        assert damaged.texts == 50 and np.allclose(a.vectors, c.vectors)

    def test_loading_an_encoder_holds_blas_to_its_threads(self) -> None:
        """numpy's BLAS threads spin after each product and took the router model's cores
        (+110 ms a message on 2 cores); loading the encoder holds them to its count."""
        from threadpoolctl import threadpool_info, threadpool_limits

        from funcgemma.encoder.models import load

        with threadpool_limits(limits=2, user_api="blas"):
            load("use", threads=1)
            blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            assert blas and set(blas) == {1}

    def test_router_drops_the_models_call_of_an_untrained_function(
            self, flight_package: str, tmp_path: Path) -> None:
        registry = registry_with_flight(flight_package)
        backend = ScriptedBackend(lambda m, t: tool_call("book_flight", destination="Oslo"))
        router = Router(backend, registry, encoder=stage_for(registry, tmp_path))
        assert router.route("what a lovely morning").calls == []

    def test_router_shows_trained_functions_first_then_the_new_one(
            self, flight_package: str, tmp_path: Path) -> None:
        registry = registry_with_flight(flight_package)
        backend = ScriptedBackend({})
        Router(backend, registry, encoder=stage_for(registry, tmp_path)).route("hello")
        shown = [t["function"]["name"] for t in backend.calls[0][1] or []]
        assert shown == [*sorted(TRAINED), "book_flight"]

    def test_router_forces_the_call_to_the_encoders_pick(
            self, flight_package: str, tmp_path: Path) -> None:
        registry = registry_with_flight(flight_package)
        options_seen = []

        declared = []

        class Recording(ScriptedBackend):
            def complete(self, messages, *, tools=None, options=None):
                options_seen.append(options)
                declared.append([t["function"]["name"] for t in tools or []])
                return super().complete(messages, tools=tools, options=options)

        def script(messages, tools):
            forced = options_seen[-1].only == ("book_flight",)
            return tool_call("book_flight", destination="Lisbon") if forced else \
                tool_call("travel_guide", destination="Lisbon")

        router = Router(Recording(script), registry,
                        encoder=stage_for(registry, tmp_path, new_margin=-1.0))
        result = router.route("book me a plane ticket to Lisbon")
        assert [c.name for c in result.calls] == ["book_flight"]
        assert result.calls[0].arguments == {"destination": "Lisbon"}
        assert options_seen[-1].call == "required"
        # the encoder's pick stands whatever the model would say: one completion, forced,
        # declaring what an unforced one does (its KV cache is kept), each function once
        assert declared == [[*sorted(TRAINED), "book_flight"]]

    def test_router_asks_the_model_when_the_forced_call_is_unusable(
            self, flight_package: str, tmp_path: Path) -> None:
        registry = registry_with_flight(flight_package)
        options_seen = []

        class Recording(ScriptedBackend):
            def complete(self, messages, *, tools=None, options=None):
                options_seen.append(options)
                return super().complete(messages, tools=tools, options=options)

        def script(messages, tools):
            if options_seen[-1].only == ("book_flight",):  # a call of another name
                return tool_call("weather_info", location="Lisbon")
            return tool_call("travel_guide", destination="Lisbon")

        router = Router(Recording(script), registry,
                        encoder=stage_for(registry, tmp_path, new_margin=-1.0))
        result = router.route("book me a plane ticket to Lisbon")
        assert [c.name for c in result.calls] == ["travel_guide"]
        # forced first, then the model's own answer; the pick is not forced twice
        assert [o.only for o in options_seen] == [("book_flight",), None]

    def test_embedded_router_routes_a_function_added_in_one_file(
            self, flight_package: str, tmp_path: Path, embedded_router) -> None:
        """The issue's test: a function from a temporary module with 5 examples is routed
        with no retraining, on the real embedded backend and the shipped calibration."""
        from funcgemma.factory import make_encoder_stage
        from funcgemma.settings import Settings

        registry = registry_with_flight(flight_package)
        settings = Settings(encoder_cache_dir=tmp_path / "cache")
        stage = make_encoder_stage(settings, registry)
        assert stage is not None and stage.untrained == ["book_flight"]
        router = Router(embedded_router, registry, settings=settings, encoder=stage)
        for text, place in [("book me a flight to Lisbon", "Lisbon"),
                            ("ロンドン行きの飛行機を予約して", "ロンドン")]:
            result = router.route(text)
            assert [c.name for c in result.calls] == ["book_flight"], text
            assert result.calls[0].arguments["destination"] == place
        assert [c.name for c in router.route("What's the weather in Kyoto tomorrow?").calls] \
            == ["weather_info"]
        assert router.route("thanks, that was helpful!").calls == []


def test_answers_rebuilt_from_a_runs_failures(tmp_path: Path) -> None:
    """Older hold-out runs kept only failures.jsonl: a row not listed was routed to its
    expected function, a listed one to what it predicted (the hybrid test reads both)."""
    import json

    from funcgemma_lab.hybrid import answers_from_failures

    data = tmp_path / "test.jsonl"
    rows = [{"text": "weather in Oslo", "expected_function": "weather_info"},
            {"text": "hi there", "expected_function": None},
            {"text": "remind me at 6 to stretch", "expected_function": "schedule_reminder"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    failures = tmp_path / "failures.jsonl"
    failures.write_text(json.dumps({"text": "weather in Oslo", "predicted": []}) + "\n"
                        + json.dumps({"text": "hi there", "predicted": [
                            {"name": "travel_guide", "arguments": {}}]}) + "\n")
    assert answers_from_failures(data, failures) == {
        "weather in Oslo": None, "hi there": "travel_guide",
        "remind me at 6 to stretch": "schedule_reminder"}
