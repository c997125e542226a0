"""Extra functions (data/extra): declared in some training batches and not in others, so
their messages teach the router to read declarations; and their data checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from funcgemma.formats import functiongemma as fg
from funcgemma.registry import default_registry
from funcgemma_lab.datasets import Case, DataError, near_duplicate_pairs, read_cases
from funcgemma_lab.training.declarations import sample_declarations
from funcgemma_lab.training.examples import Tokenizer
from funcgemma_lab.training.extra import load_extra, load_extras

DATA = Path(__file__).parents[1] / "data"


def _tool(name: str, required: str = "value") -> dict:
    return {"type": "function", "function": {
        "name": name, "description": f"Do {name}.",
        "parameters": {"type": "object", "required": [required], "properties": {
            required: {"type": "string", "description": "What."}}}}}


EXTRA = [_tool("play_music", "query"), _tool("feed_pet", "pet")]


def test_a_needed_extra_function_is_sometimes_declared_and_then_a_call() -> None:
    served = default_registry().tools()
    rng = random.Random(3)
    sets = [sample_declarations(served, rng, extra=EXTRA, needed=["play_music"])
            for _ in range(400)]
    declared = [s for s in sets if "play_music" in {t["function"]["name"] for t in s.tools}]
    serving = [s for s in sets if len(s.tools) == 7 and set(s.names) == set(
        default_registry().names)]
    assert 0.35 < len(declared) / len(sets) < 0.6  # 60% non-serving batches x 0.8
    assert all(s.names["play_music"] == "play_music" and s.params["play_music"] == {
        "query": "query"} for s in declared)
    assert all("play_music" not in s.names for s in sets if s not in declared)
    assert serving and all("play_music" not in s.names for s in serving)
    # an extra function nobody in the batch asks for can still appear, as a distractor
    assert any("feed_pet" in s.names for s in sets)


@pytest.mark.training
def test_extra_cases_are_weighted_as_one_class() -> None:
    from funcgemma_lab.training.trainer import class_weights  # imports torch

    cases = ([Case(text=f"w{i}", expected_function="weather_info") for i in range(10)]
             + [Case(text=f"n{i}", expected_function=None) for i in range(10)]
             + [Case(text=f"m{i}", expected_function="play_music") for i in range(5)]
             + [Case(text=f"p{i}", expected_function="feed_pet") for i in range(5)])
    w = class_weights(cases, served=default_registry().names)
    assert set(w) == {"weather_info", "none", "extra"}
    assert w["extra"] == w["none"] == w["weather_info"]


@pytest.mark.training
def test_make_batches_trains_extra_cases_as_calls_only_where_declared() -> None:
    from funcgemma_lab.training.trainer import TrainConfig, make_batches  # imports torch

    specials = {t: 1000 + i for i, t in enumerate(fg.CONTROL_TOKENS)}
    tok = Tokenizer(plain=lambda text: list(text.encode()), token_id=specials.get)
    cases = [Case(text=f"play some jazz no. {i}", expected_function="play_music",
                  expected_arguments={"query": "jazz"}) for i in range(64)]
    cfg = TrainConfig(out=Path("unused"), batch=4, max_len=8192)
    batches = make_batches(cases, default_registry().tools(), tok, cfg, random.Random(0), EXTRA)
    calls = [e for b in batches for e in b.examples if e.label == "play_music"]
    nones = [e for b in batches for e in b.examples if e.label == "none"]
    assert calls and nones
    for b in batches:
        declared = b"play_music" in bytes(t for t in b.prefix if t < 256)
        assert all((e.label == "play_music") == declared for e in b.examples)


def _write(folder: Path, tools: list[dict], rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "functions.json").write_text(json.dumps(tools), "utf-8")
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return folder


def _row(text: str, fn: str, **args: object) -> dict:
    return {"text": text, "expected_function": fn, "expected_arguments": args, "lang": "en"}


@pytest.mark.parametrize(("tools", "row", "message"), [
    ([_tool("weather_info")], _row("x", "weather_info", value="x"), "already a served"),
    ([_tool("get_stock_quote")], _row("x", "get_stock_quote", value="x"), "distractor"),
    (EXTRA, _row("jazz please", "tell_joke", query="jazz"), "not in functions.json"),
    (EXTRA, _row("jazz please", "play_music"), "required argument"),
    (EXTRA, _row("jazz please", "play_music", query="blues"), "not verbatim"),
    (EXTRA, _row("jazz please", "play_music", query="jazz", volume="5"), "not a declared"),
    (EXTRA, _row("jazz please", "play_music", query=5), "not of type string"),
])
def test_load_extra_names_the_problem(tmp_path: Path, tools: list[dict], row: dict,
                                      message: str) -> None:
    folder = _write(tmp_path / "extra", tools, [row])
    with pytest.raises(DataError, match=message):
        load_extra(folder, default_registry().names)


# every extra-function folder of data/ (finetune.py --extra-functions, repeatable), so a
# new one is checked without being listed here
EXTRA_DIRS = sorted(p.parent for p in DATA.glob("extra*/functions.json"))


@pytest.mark.parametrize("folder", EXTRA_DIRS, ids=lambda p: p.name)
def test_the_shipped_extra_functions_are_valid_and_cover_new_ground(folder: Path) -> None:
    tools, cases = load_extra(folder, default_registry().names)
    names = {t["function"]["name"] for t in tools}
    assert len(names) >= 25
    counts = {n: sum(c.expected_function == n for c in cases) for n in names}
    assert min(counts.values()) >= 8, counts
    assert {c.lang for c in cases} == {"en", "ja"}


def test_extra_messages_are_not_no_function_rows_of_the_training_data() -> None:
    """A message taught as a call of an extra function must not also be taught as "no
    function" (our no-function data means: none of the *served* functions applies)."""
    _, cases = load_extras(EXTRA_DIRS, default_registry().names)
    nones = [c.text for c in read_cases(DATA / "train.jsonl") if c.expected_function is None]
    texts = [c.text for c in cases] + nones
    crossing = [(texts[i], texts[j]) for i, j in near_duplicate_pairs(texts)
                if i < len(cases) <= j]
    assert crossing == []


@pytest.mark.training
def test_none_weight_gives_the_no_function_class_more_of_the_loss() -> None:
    from funcgemma_lab.training.trainer import class_weights  # imports torch

    cases = ([Case(text=f"w{i}", expected_function="weather_info") for i in range(10)]
             + [Case(text=f"t{i}", expected_function="travel_guide") for i in range(30)]
             + [Case(text=f"n{i}", expected_function=None) for i in range(20)])
    served = default_registry().names
    plain = class_weights(cases, served=served)
    heavy = class_weights(cases, served=served, none_weight=3.0)
    counts = {"weather_info": 10, "travel_guide": 30, "none": 20}

    def shares(w: dict[str, float]) -> dict[str, float]:
        return {k: w[k] * n for k, n in counts.items()}

    for w in (plain, heavy):  # mean 1 over cases: the loss keeps its scale
        assert abs(sum(shares(w).values()) - len(cases)) < 1e-9
    assert abs(shares(plain)["none"] - shares(plain)["weather_info"]) < 1e-9
    assert abs(shares(heavy)["none"] - 3 * shares(heavy)["travel_guide"]) < 1e-9
    with pytest.raises(ValueError, match="none_weight"):
        class_weights(cases, served=served, none_weight=0)


@pytest.mark.training
def test_extra_weight_gives_the_extra_functions_together_more_of_the_loss() -> None:
    from funcgemma_lab.training.trainer import class_weights  # imports torch

    cases = ([Case(text=f"w{i}", expected_function="weather_info") for i in range(10)]
             + [Case(text=f"p{i}", expected_function="track_package") for i in range(30)]
             + [Case(text=f"r{i}", expected_function="renew_library_book") for i in range(20)]
             + [Case(text=f"n{i}", expected_function=None) for i in range(20)])
    served = default_registry().names
    counts = {"weather_info": 10, "extra": 50, "none": 20}
    for extra_weight in (1.0, 4.0):
        w = class_weights(cases, served=served, extra_weight=extra_weight)
        assert set(w) == set(counts)  # the two extra functions are one class
        shares = {k: w[k] * n for k, n in counts.items()}
        assert abs(sum(shares.values()) - len(cases)) < 1e-9
        assert abs(shares["extra"] - extra_weight * shares["weather_info"]) < 1e-9
        assert abs(shares["none"] - shares["weather_info"]) < 1e-9
    with pytest.raises(ValueError, match="extra_weight"):
        class_weights(cases, served=served, extra_weight=-1)


def test_extra_folders_load_together_and_a_name_declared_twice_is_refused(
        tmp_path: Path) -> None:
    row = {"text": "feed the cat", "expected_function": "feed_pet",
           "expected_arguments": {"pet": "cat"}, "lang": "en"}
    one = _write(tmp_path / "one", [_tool("feed_pet", "pet")], [row])
    two = _write(tmp_path / "two", [_tool("play_music", "query")],
                 [{**row, "text": "play jazz", "expected_function": "play_music",
                   "expected_arguments": {"query": "jazz"}}])
    tools, cases = load_extras([one, two], default_registry().names)
    assert [t["function"]["name"] for t in tools] == ["feed_pet", "play_music"]
    assert [c.expected_function for c in cases] == ["feed_pet", "play_music"]
    with pytest.raises(DataError, match="'feed_pet' is already"):
        load_extras([one, one], default_registry().names)


def test_the_extra_folders_together_declare_each_function_once() -> None:
    tools, _ = load_extras(EXTRA_DIRS, default_registry().names)
    assert len(tools) >= 60


def test_no_extra_function_is_about_reminders() -> None:
    """The extra functions teach reading declarations; one about reminders, alarms or
    calendars would leak schedule_reminder into a run that holds it out."""
    tools, cases = load_extras(EXTRA_DIRS, default_registry().names)
    words = ("remind", "alarm", "timer", "calendar", "schedule", "reminder", "to-do",
             "todo", "リマインド", "アラーム", "タイマー", "予定")
    named = [t["function"]["name"] for t in tools
             if any(w in (t["function"]["name"] + t["function"]["description"]).lower()
                    for w in words)]
    assert named == []
