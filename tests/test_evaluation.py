"""End-to-end evaluation over the real Router with a ScriptedBackend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.errors import BackendUnavailable, InvalidRequest
from funcgemma.registry import FunctionRegistry, FunctionSpec
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Completion
from funcgemma_lab import evaluation
from funcgemma_lab.evaluation import evaluate, load_cases, select_cases
from funcgemma_lab.reporting import compare_reports

ROOT = Path(__file__).resolve().parents[1]


class WeatherParams(BaseModel):
    """Weather for a place."""

    location: str = Field(description="City or place.")
    date: str | None = Field(None, description="Day asked about.")


class ShopParams(BaseModel):
    """Something the user wants to buy."""

    item: str = Field(description="What to buy.")
    quantity: int | None = Field(None, description="How many.")


def _handler(params, ctx):
    return {}


def make_registry() -> FunctionRegistry:
    return FunctionRegistry(
        [
            FunctionSpec(name="weather_info", params=WeatherParams, handler=_handler),
            FunctionSpec(name="shopping_intent", params=ShopParams, handler=_handler),
        ]
    )


CASES = [
    {
        "text": "Weather in Kyoto tomorrow?",
        "expected_function": "weather_info",
        "expected_arguments": {"location": "Kyoto", "date": "tomorrow"},
        "lang": "en",
    },
    {
        "text": "東京の天気は？",
        "expected_function": "weather_info",
        "expected_arguments": {"location": "東京"},
        "lang": "ja",
    },
    {
        "text": "Buy 2 pairs of socks",
        "expected_function": "shopping_intent",
        "expected_arguments": {"item": "socks", "quantity": 2},
        "lang": "en",
        "group": "x",
    },
    {"text": "hello there", "expected_function": None, "expected_arguments": {}, "lang": "en"},
    {
        "text": "I need an umbrella",
        "expected_function": "shopping_intent",
        "expected_arguments": {"item": "umbrella"},
        "lang": "en",
    },
    {
        "text": "Paris weather",
        "expected_function": "weather_info",
        "expected_arguments": {"location": "Paris"},
        "lang": "en",
    },
    {"text": "thanks!", "expected_function": None, "expected_arguments": {}, "lang": "en"},
]

SCRIPT = {
    "Weather in Kyoto tomorrow?": tool_call("weather_info", location="Kyoto", date="tomorrow"),
    "東京の天気は？": tool_call("weather_info", location="東京"),
    "Buy 2 pairs of socks": tool_call("shopping_intent", item="socks", quantity="2"),
    "hello there": "Hi! How can I help?",
    "I need an umbrella": tool_call("weather_info", location="umbrella"),
    # a native call of an unregistered function that the fallback cannot repair
    "Paris weather": Completion(  # a call of a declared function that cannot be read
        text="<start_function_call>call:weather_info{location:<end_function_call>"),
    "thanks!": BackendUnavailable("Cannot reach the scripted backend."),
}


def write_cases(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    return path


def make_router(script) -> Router:
    return Router(ScriptedBackend(script), make_registry(), settings=Settings())


def load_tool():
    from funcgemma_lab import evaluate as module  # what tools/evaluate.py runs

    return module


@pytest.fixture
def report(tmp_path):
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    out = tmp_path / "out"
    return evaluate(
        make_router(SCRIPT), cases, out, meta={"backend": "scripted"}, progress=False
    ), out


def test_evaluation_writes_three_files(report):
    _, out = report
    assert json.loads((out / "report.json").read_text("utf-8"))["n"] == 7
    md = (out / "report.md").read_text("utf-8")
    assert "| `weather_info` |" in md and "## Worst confusions" in md
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_report_numbers(report):
    r, _ = report
    # correct: Kyoto, 東京, socks, hello (none), thanks (error counts as none) -> 5/7
    assert r["accuracy"] == pytest.approx(5 / 7)
    assert r["sources"] == {"tools_api": 4, "fallback": 0, "context": 0, "none": 1, "error": 2}
    assert r["parse_failures"] == 1
    # Kyoto, 東京 and socks ("2" coerced to 2 by the params model) all match
    assert (r["argument_match"], r["argument_match_n"]) == (1.0, 3)
    assert r["false_call_rate"] == 0.0
    assert r["per_function"]["shopping_intent"]["recall"] == pytest.approx(1 / 2)
    assert r["worst_confusions"][0]["examples"] == ["I need an umbrella"]
    assert r["partial"] is False
    assert r["meta"]["backend"] == "scripted" and r["meta"]["model"] == "scripted"
    assert r["latency_ms"]["n"] == 6  # the backend error has no latency


def test_evaluation_failures_keep_raw_output(report):
    r, _ = report
    kinds = {e["text"]: (e["kind"], e["source"]) for e in r["errors"]}
    assert kinds == {
        "I need an umbrella": ("misroute", "tools_api"),
        "Paris weather": ("parse_failure", "error"),
        "thanks!": ("error", "error"),
    }
    by_text = {e["text"]: e for e in r["errors"]}
    assert "umbrella" in by_text["I need an umbrella"]["raw"]
    assert "call:weather_info{location:" in by_text["Paris weather"]["raw"]
    assert "Cannot reach" in by_text["thanks!"]["error"]
    assert r["errors_total"] == 3


def test_evaluation_lists_every_failure_in_failures_jsonl(tmp_path, monkeypatch):
    """report.json keeps the first MAX_FAILURES; failures.jsonl keeps every failed case."""
    monkeypatch.setattr(evaluation, "MAX_FAILURES", 1)
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    r = evaluate(make_router(SCRIPT), cases, tmp_path / "out", progress=False)
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "failures.jsonl").read_text("utf-8").splitlines()]
    assert len(r["errors"]) == 1 and r["errors_total"] == 3
    assert {row["text"] for row in rows} == {"I need an umbrella", "Paris weather", "thanks!"}
    assert rows[0] == r["errors"][0]
    every = [json.loads(line) for line in
             (tmp_path / "out" / "predictions.jsonl").read_text("utf-8").splitlines()]
    assert [row["text"] for row in every] == [c.text for c in cases]
    assert sum(row["kind"] != "ok" for row in every) == 3
    assert all(row["kind"] == "ok" for row in every if row["text"] not in
               {"I need an umbrella", "Paris weather", "thanks!"})


def test_evaluation_interrupt_keeps_partial_results(tmp_path):
    seen = []

    def script(messages, tools):
        seen.append(messages[-1].content)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return tool_call("weather_info", location="Kyoto")

    router = make_router(script)
    backend = router.backend
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    r = evaluate(router, cases, tmp_path / "out", progress=False)
    assert r["partial"] is True and r["n"] == 2
    assert r["meta"]["planned"] == 7
    assert json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))["partial"] is True
    assert "Partial run" in (tmp_path / "out" / "report.md").read_text("utf-8")
    assert router.backend is backend


def test_evaluation_unreachable_backend_raises_instead_of_reporting(tmp_path):
    down = BackendUnavailable("Cannot reach Ollama. Is `ollama serve` running?")
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    router = make_router(lambda messages, tools: down)
    with pytest.raises(BackendUnavailable):
        evaluate(router, cases, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert len(router.backend.calls) == 3


def test_evaluation_compare_shows_both_runs_and_deltas(tmp_path, capsys):
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    evaluate(make_router(SCRIPT), cases, tmp_path / "a", progress=False)
    perfect = {
        **SCRIPT,
        "I need an umbrella": tool_call("shopping_intent", item="umbrella"),
        "Paris weather": tool_call("weather_info", location="Paris"),
    }
    evaluate(make_router(perfect), cases, tmp_path / "b", progress=False)
    a, b = tmp_path / "a" / "report.json", tmp_path / "b" / "report.json"
    text = compare_reports(a, b)
    assert str(a) in text and str(b) in text
    # accuracy 5/7 -> 7/7: +0.286
    assert "| accuracy | 0.714 | 1.000 | +0.286 |" in text
    assert "| `shopping_intent` |" in text
    assert load_tool().main(["--compare", str(a), str(b)]) == 0
    assert "+0.286" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "expected a JSON object"),
        ('{"expected_function": null}', "'text'"),
        ('{"text": "hi"}', "missing 'expected_function'"),
        (
            '{"text": "hi", "expected_function": null, "expected_arguments": []}',
            "'expected_arguments' must be an object",
        ),
    ],
)
def test_evaluation_load_cases_bad_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(CASES[0]) + "\n\n" + line + "\n", "utf-8")
    with pytest.raises(InvalidRequest) as info:
        load_cases(path)
    assert f"{path}:3:" in info.value.message and message in info.value.message


def test_evaluation_tool_bad_data_exits_2_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "hi", "expected_function": null}\n{oops\n', "utf-8")
    assert load_tool().main(["--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2:" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_evaluation_tool_bad_out_exits_2_before_any_backend(tmp_path, capsys, monkeypatch,
                                                            where):
    """A bad --out is found before the model loads and the cases are routed, not when
    the report is written at the end (which threw the whole run away)."""
    from funcgemma import factory

    def no_backend(*args, **kwargs):
        raise AssertionError("a backend was built before --out was checked")

    monkeypatch.setattr(factory, "make_backends", no_backend)
    (tmp_path / "file").write_text("keep", "utf-8")
    out = tmp_path / "file" if where == "file" else tmp_path / "file" / "reports"
    data = write_cases(tmp_path / "cases.jsonl", CASES)
    assert load_tool().main(["--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate: ") and str(out) in err and err.count("\n") == 1
    assert "is a file, not a folder" in err if where == "file" else "Not a directory" in err
    assert (tmp_path / "file").read_text("utf-8") == "keep"


def test_evaluation_tool_invalid_setting_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://[::1")
    data = write_cases(tmp_path / "cases.jsonl", CASES)
    assert load_tool().main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate: invalid setting: FUNCGEMMA_OLLAMA_HOST: ")
    assert "Invalid IPv6 URL" in err and err.count("\n") == 1


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"meta": null, "n": 3}', "'meta' must be an object, got null"),
    ('{"meta": {}, "latency_ms": [1]}', "'latency_ms' must be an object"),
    ('{"meta": {}, "per_function": {"weather_info": 0.5}}', "'per_function' must map"),
])
def test_evaluation_compare_rejects_what_is_not_a_report(tmp_path, capsys, content, message):
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    evaluate(make_router(SCRIPT), cases, tmp_path / "a", progress=False)
    good, bad = tmp_path / "a" / "report.json", tmp_path / "bad.json"
    bad.write_text(content, "utf-8")
    with pytest.raises(InvalidRequest, match=message):
        compare_reports(good, bad)
    assert load_tool().main(["--compare", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evaluate: {bad} is not a report.json: ") and message in err
    assert err.count("\n") == 1


def test_evaluation_load_cases_expected_calls_fill_first_call(tmp_path):
    line = {
        "text": "weather in Kyoto and Osaka",
        "lang": "en",
        "expected_calls": [
            {"name": "weather_info", "arguments": {"location": "Kyoto"}},
            {"name": "weather_info", "arguments": {"location": "Osaka"}},
        ],
    }
    (case,) = load_cases(write_cases(tmp_path / "multi.jsonl", [line]))
    assert case.expected_function == "weather_info"
    assert case.expected_arguments == {"location": "Kyoto"}
    assert [c.arguments["location"] for c in case.expected_calls] == ["Kyoto", "Osaka"]


def test_evaluation_select_cases_filters_shuffles_and_limits(tmp_path):
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    assert [c.text for c in select_cases(cases, lang="ja")] == ["東京の天気は？"]
    assert len(select_cases(cases, limit=3)) == 3
    once = select_cases(cases, seed=7, limit=4)
    assert once == select_cases(cases, seed=7, limit=4)
    assert sorted(c.line for c in select_cases(cases, seed=7)) == list(range(1, 8))


def test_evaluation_expect_none_scores_out_of_scope_requests(tmp_path):
    """--expect-none: requests meant for functions that are not served are no-function
    messages, so every call the router makes for them is a false call."""
    cases = select_cases(load_cases(write_cases(tmp_path / "c.jsonl", CASES)), expect_none=True)
    assert {c.expected_function for c in cases} == {None}
    assert all(c.expected_arguments == {} and c.expected_calls is None for c in cases)
    r = evaluate(make_router(SCRIPT), cases, tmp_path / "out", meta={}, progress=False)
    # Kyoto, 東京, socks and umbrella get a call; hello, the rejected call and the error do not
    assert r["false_call_rate"] == pytest.approx(4 / 7)
    assert load_tool()._parser().parse_args(["--data", "x", "--expect-none"]).expect_none


def test_evaluation_tool_model_flag_targets_the_backend():
    tool = load_tool()
    settings, backend = tool._apply_model(Settings(), "auto", "models/router.gguf")
    assert (backend, settings.router_gguf) == ("llamacpp", Path("models/router.gguf"))
    settings, backend = tool._apply_model(Settings(), "ollama", "my-router")
    assert (backend, settings.router_model) == ("ollama", "my-router")
    with pytest.raises(InvalidRequest):
        tool._apply_model(Settings(), "llamacpp", "my-router")


def test_evaluation_report_names_the_routers_decision_settings(tmp_path):
    """report.md says which call bias and name prior produced the figures (they change
    them without changing the model file); a run without them says nothing."""
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    evaluate(make_router(SCRIPT), cases, tmp_path / "a", progress=False,
             meta={"backend": "scripted", "call_bias": -0.75, "name_prior": 1.0})
    md = (tmp_path / "a" / "report.md").read_text("utf-8")
    assert "\ncall bias -0.75 · name prior 1.0\n" in md
    assert json.loads((tmp_path / "a" / "report.json").read_text("utf-8"))["meta"][
        "name_prior"] == 1.0
    evaluate(make_router(SCRIPT), cases, tmp_path / "b", progress=False,
             meta={"backend": "scripted", "call_bias": None, "name_prior": None})
    assert "name prior" not in (tmp_path / "b" / "report.md").read_text("utf-8")


def test_evaluation_explain_needs_a_router_that_shows_its_call_decision(tmp_path):
    cases = load_cases(write_cases(tmp_path / "cases.jsonl", CASES))
    with pytest.raises(InvalidRequest, match="--explain needs the embedded router"):
        evaluate(make_router(SCRIPT), cases, tmp_path / "out", progress=False, explain=True)
    assert not (tmp_path / "out").exists()  # refused before any case is routed


def test_evaluation_tool_explain_with_ollama_exits_2_before_any_backend(tmp_path, capsys,
                                                                        monkeypatch):
    from funcgemma import factory

    def no_backend(*args, **kwargs):
        raise AssertionError("a backend was built before --explain was checked")

    monkeypatch.setattr(factory, "make_backends", no_backend)
    data = write_cases(tmp_path / "cases.jsonl", CASES)
    assert load_tool().main(["--data", str(data), "--backend", "ollama", "--explain",
                             "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate: --explain needs the embedded router")
    assert "Traceback" not in err


def test_misses_say_whether_a_function_was_lost_at_the_call_or_at_the_name():
    from funcgemma_lab.misses import summarise

    def row(expected, predicted, kind="misroute", margin=None, if_called=None):
        out = {"expected": expected, "kind": kind,
               "predicted": [{"name": predicted, "arguments": {}}] if predicted else []}
        if margin is not None:
            out["call_margin"] = margin
        if if_called is not None:
            out["if_called"] = if_called
        return out

    rows = [
        row("schedule_reminder", None, margin=-1.0, if_called={"schedule_reminder": -0.1}),
        row("schedule_reminder", None, margin=-3.0, if_called={"sentiment_label": -0.2,
                                                               "schedule_reminder": -1.9}),
        row("schedule_reminder", None, margin=-2.0),  # not explained: counted, not named
        row("schedule_reminder", "sentiment_label", margin=1.0),
        row("schedule_reminder", "schedule_reminder", kind="ok", margin=2.0),
        row("weather_info", "weather_info", kind="ok"),
        row(None, "weather_info", margin=0.5),  # a false call is not a missed function
        row("travel_guide", None, kind="parse_failure"),  # bad output, not a route
    ]
    assert summarise(rows) == {"schedule_reminder": {
        "missed": 4, "no_call": 3, "no_call_right_name": 1, "other_function": 1,
        "no_call_median_margin": -2.0}}
    assert summarise([row("weather_info", None)])["weather_info"][
        "no_call_median_margin"] is None
