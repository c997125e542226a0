"""Table tests for the fallback parser: raw router-model strings -> exact calls."""

from __future__ import annotations

import random
from typing import Any

import pytest

from funcgemma.formats.functiongemma import ParsedCall, extract_calls, parse_value, render_value

NAMES = ("weather_info", "get_time", "set_timer", "send_message")
SC = "<start_function_call>"
EC = "<end_function_call>"
SR = "<start_function_response>"
E = "<escape>"
KYOTO = {"location": "Kyoto"}

Expected = list[tuple[str, dict[str, Any]]]


def _calls(text: str) -> Expected:
    return [(c.name, c.arguments) for c in extract_calls(text, NAMES).calls]


# (raw model text, exact calls, saw_call_syntax)
FUNCTIONGEMMA_CASES: list[tuple[str, Expected, bool]] = [
    # one call, several calls, repeats, text around
    (f"{SC}call:weather_info{{location:{E}Kyoto{E}}}{EC}", [("weather_info", KYOTO)], True),
    (
        f"{SC}call:weather_info{{location:{E}Kyoto{E}}}{EC}{SC}call:get_time{{}}{EC}",
        [("weather_info", KYOTO), ("get_time", {})],
        True,
    ),
    (
        f"First {SC}call:get_time{{}}{EC} and then {SC}call:set_timer{{minutes:5}}{EC} ok",
        [("get_time", {}), ("set_timer", {"minutes": 5})],
        True,
    ),
    (
        f"{SC}call:get_time{{}}{EC}{SC}call:get_time{{}}{EC}",
        [("get_time", {}), ("get_time", {})],
        True,
    ),
    (
        f"Sure! {SC}call:get_time{{zone:{E}Asia/Tokyo{E}}}{EC} Done",
        [("get_time", {"zone": "Asia/Tokyo"})],
        True,
    ),
    (f"{SC}call:get_time{{}}{EC}<end_of_turn>", [("get_time", {})], True),
    (f"{SC}call:get_time{{}}{EC}{SR}", [("get_time", {})], True),
    (f"{SC}call:get_time{{}}{SR}<end_of_turn>", [("get_time", {})], True),
    # unterminated: keep what is complete
    (f"{SC}call:weather_info{{location:{E}Kyoto{E}}}", [("weather_info", KYOTO)], True),
    (
        f"{SC}call:weather_info{{location:{E}Kyoto{E},date:{E}tomo",
        [("weather_info", KYOTO)],
        True,
    ),
    (f"{SC}call:weather_info{{location:{E}Kyo", [("weather_info", {})], True),
    (f"{SC}call:weather_info{{location:{E}Kyoto{E},", [("weather_info", KYOTO)], True),
    (f"{SC}call:set_timer{{minutes:5,seconds:3", [("set_timer", {"minutes": 5})], True),
    ("call:set_timer{minutes:5,opts:{a:1,b:", [("set_timer", {"minutes": 5})], True),
    (f"{SC}call:weather_info{{location:", [("weather_info", {})], True),
    (f"{SC}call:get_time{{", [("get_time", {})], True),
    (f"{SC}call:get_ti", [], True),
    (f"{SC}", [], True),
    (f"call:set_timer{{minutes:5{EC}", [("set_timer", {"minutes": 5})], True),
    (f"{SC}call:set_timer{{label:[1,2", [("set_timer", {})], True),
    # bare values
    (
        "call:set_timer{a:-3,b:2.5,c:1e3,d:-1.5E-2,e:0}",
        [("set_timer", {"a": -3, "b": 2.5, "c": 1000.0, "d": -0.015, "e": 0})],
        True,
    ),
    (
        "call:set_timer{a:true,b:false,c:null}",
        [("set_timer", {"a": True, "b": False, "c": None})],
        True,
    ),
    (
        "call:weather_info{location: Kyoto , unit:celsius}",
        [("weather_info", {"location": "Kyoto", "unit": "celsius"})],
        True,
    ),
    (
        "call:weather_info{code:007,big:1e999,t:10:30}",
        [("weather_info", {"code": "007", "big": "1e999", "t": "10:30"})],
        True,
    ),
    # nesting, arrays, empty containers, quoted keys and JSON strings
    (
        "call:send_message{o:{p:{q:[1,[2,3],{r:true}]}}}",
        [("send_message", {"o": {"p": {"q": [1, [2, 3], {"r": True}]}}})],
        True,
    ),
    (
        f"call:send_message{{xs:[{E}a{E},{E}b{E}],ns:[1,2.5,-3]}}",
        [("send_message", {"xs": ["a", "b"], "ns": [1, 2.5, -3]})],
        True,
    ),
    ("call:send_message{xs:[],o:{}}", [("send_message", {"xs": [], "o": {}})], True),
    (f'call:weather_info{{"location":{E}Kyoto{E}}}', [("weather_info", KYOTO)], True),
    (
        'call:weather_info{location:"Kyoto \\"west\\""}',
        [("weather_info", {"location": 'Kyoto "west"'})],
        True,
    ),
    ("call:set_timer{minutes:5,}", [("set_timer", {"minutes": 5})], True),
    # escaped strings hold anything
    (
        f"{SC}call:send_message{{text:{E}a, b {{c}} [d]: e}}{E},to:{E}Bo{E}}}{EC}",
        [("send_message", {"text": "a, b {c} [d]: e}", "to": "Bo"})],
        True,
    ),
    (
        f"call:send_message{{text:{E}x < y \"quoted\" 'single' <b>{E}}}",
        [("send_message", {"text": "x < y \"quoted\" 'single' <b>"})],
        True,
    ),
    (
        f"call:send_message{{text:{E}line one\nline two\n{E}}}",
        [("send_message", {"text": "line one\nline two\n"})],
        True,
    ),
    (
        f"{SC}call:weather_info{{location:{E}京都{E},note:{E}🌸 晴れ{E}}}{EC}",
        [("weather_info", {"location": "京都", "note": "🌸 晴れ"})],
        True,
    ),
    (
        f"call:send_message{{text:{E}call:get_time{{}} {SC}{E}}}",
        [("send_message", {"text": f"call:get_time{{}} {SC}"})],
        True,
    ),
    (f"call:send_message{{{E}text{E}:{E}hi{E}}}", [("send_message", {"text": "hi"})], True),
    # mis-tags
    (f"{SR}call:weather_info{{location:{E}Kyoto{E}}}", [("weather_info", KYOTO)], True),
    ("call:weather_info{location:Kyoto}", [("weather_info", KYOTO)], True),
    (f"{SC}weather_info{{location:{E}Kyoto{E}}}{EC}", [("weather_info", KYOTO)], True),
    (f"{SC}call:get_time{EC}", [("get_time", {})], True),
    (f"{SC} call : weather_info {{location:Kyoto}}{EC}", [("weather_info", KYOTO)], True),
    # names: exact, known only
    (f"{SC}call:delete_everything{{}}{EC}", [], True),
    ("call:Weather_Info{location:Kyoto}", [], True),
    ("call:weather{location:Kyoto}", [], True),
    ("call:weather_info_v2{location:Kyoto}", [], True),
    (
        f"{SC}call:nope{{x:1}}{EC}{SC}call:get_time{{}}{EC}",
        [("get_time", {})],
        True,
    ),
    # prose: no call
    ("No function applies.", [], False),
    ("No function applies.<end_of_turn>", [], False),
    ("The weather is nice", [], False),
    ("I'll call: mom", [], False),
    ("I'll call: mom {later} today", [], False),
    ("use {curly} braces", [], False),
    ("recall:get_time{}", [], False),
    ("", [], False),
    ("   \n", [], False),
]

# (raw model text, exact calls, saw_call_syntax)
JSON_CASES: list[tuple[str, Expected, bool]] = [
    (
        '{"name": "weather_info", "arguments": {"location": "Kyoto"}}',
        [("weather_info", KYOTO)],
        True,
    ),
    (
        '{"name": "weather_info", "parameters": {"location": "Kyoto"}}',
        [("weather_info", KYOTO)],
        True,
    ),
    (
        '{"name": "weather_info", "arguments": "{\\"location\\": \\"Kyoto\\"}"}',
        [("weather_info", KYOTO)],
        True,
    ),
    (
        '[{"name": "get_time", "arguments": {}}, '
        '{"name": "set_timer", "arguments": {"minutes": 5}}]',
        [("get_time", {}), ("set_timer", {"minutes": 5})],
        True,
    ),
    (
        "Here you go:\n```json\n"
        '{"name": "weather_info", "arguments": {"location": "Kyoto"}}\n```\nok',
        [("weather_info", KYOTO)],
        True,
    ),
    ('```\n{"name": "get_time", "arguments": {}}\n```', [("get_time", {})], True),
    ('{"tool_call": {"name": "get_time", "arguments": {}}}', [("get_time", {})], True),
    (
        '{"function": {"name": "weather_info", "arguments": {"location": "Kyoto"}}}',
        [("weather_info", KYOTO)],
        True,
    ),
    (
        '{"tool_calls": [{"id": "1", "type": "function", "function": '
        '{"name": "set_timer", "arguments": "{\\"minutes\\": 2.5, \\"loud\\": true}"}}]}',
        [("set_timer", {"minutes": 2.5, "loud": True})],
        True,
    ),
    ('{"function": "get_time", "arguments": {}}', [("get_time", {})], True),
    ('{"name": "get_time"}', [("get_time", {})], True),
    ('{"name": "get_time", "arguments": null}', [("get_time", {})], True),
    ('{"name": "hack", "arguments": {}}', [], True),
    ('{"name": "weather_info", "arguments": [1, 2]}', [], True),
    ('{"location": "Kyoto"}', [], False),
    ('{"name": "Kyoto"}', [], False),
    (f'{SC}{{"name": "get_time", "arguments": {{}}}}{EC}', [("get_time", {})], True),
    (
        '[{"name": "get_time", "arguments": {}}, {"name": "weather_info", "argu',
        [("get_time", {})],
        True,
    ),
    (
        '{"name": "send_message", "arguments": '
        '{"text": "call:get_time{} 京都 🌸", "n": [1, {"a": null}]}}',
        [("send_message", {"text": "call:get_time{} 京都 🌸", "n": [1, {"a": None}]})],
        True,
    ),
    (
        '{"name": "weather_info", "arguments": "{\\"location\\": \\"Kyoto\\", \\"date\\": \\"tom',
        [],
        True,
    ),
    ('{"name": "weather_info", "arguments": {"location": "Kyoto", "da', [], True),
    ('{"name": ["get_time"], "arguments": {"a": 1', [], False),
    ('{"name": "Kyoto", "population": 14', [], False),
]


@pytest.mark.parametrize(("text", "expected", "saw"), FUNCTIONGEMMA_CASES)
def test_extract_calls_functiongemma_syntax(text: str, expected: Expected, saw: bool) -> None:
    outcome = extract_calls(text, NAMES)
    assert [(c.name, c.arguments) for c in outcome.calls] == expected
    assert outcome.saw_call_syntax is saw


@pytest.mark.parametrize(("text", "unknown"), [
    # the shipped adapter on "What's the total worth in euro of Messi according to latest
    # data?": a function nobody declared, its `{` left out (was a 502 bad_model_output)
    (f"{SC}call:currency_system:{E}EUR{E},item:{E}Messi{E}}}{EC}", ("currency_system",)),
    (f"{SC}call: stock_price (AAPL){EC}", ("stock_price",)),
])
def test_extract_calls_reads_the_name_of_a_broken_undeclared_call(
        text: str, unknown: tuple[str, ...]) -> None:
    outcome = extract_calls(text, NAMES)
    assert outcome.calls == []
    assert outcome.unknown == unknown
    assert outcome.saw_call_syntax


def test_extract_calls_prose_after_a_marker_is_no_name() -> None:
    outcome = extract_calls(f"{SC}Sure, I can help", NAMES)
    assert outcome.unknown == () and outcome.calls == [] and outcome.saw_call_syntax


@pytest.mark.parametrize(("text", "expected", "saw"), JSON_CASES)
def test_extract_calls_json_style(text: str, expected: Expected, saw: bool) -> None:
    outcome = extract_calls(text, NAMES)
    assert [(c.name, c.arguments) for c in outcome.calls] == expected
    assert outcome.saw_call_syntax is saw


@pytest.mark.parametrize(
    ("text", "raws"),
    [
        (f"Sure! {SC}call:get_time{{}}{EC} Done", ["call:get_time{}"]),
        (f"{SC}call:set_timer{{minutes:5,sec", ["call:set_timer{minutes:5,sec"]),
        (f"{SC}get_time{{}}{EC}", ["get_time{}"]),
        ('x [{"name": "get_time"}, {"name": "get_time"}] y', ['{"name": "get_time"}'] * 2),
    ],
)
def test_extract_calls_raw_is_exact_substring(text: str, raws: list[str]) -> None:
    calls = extract_calls(text, NAMES).calls
    assert [c.raw for c in calls] == raws
    assert all(c.raw in text for c in calls)


def test_extract_calls_accepts_any_iterable_of_names() -> None:
    outcome = extract_calls("call:get_time{}", (n for n in NAMES))
    assert outcome.calls == [ParsedCall("get_time", {}, "call:get_time{}")]


@pytest.mark.parametrize(
    "value",
    [
        "Kyoto",
        'a, b {c} [d]: e\n"q" <x>',
        "京都 🌸",
        "",
        0,
        -3,
        2.5,
        -1.5e-7,
        True,
        False,
        None,
        [],
        {},
        [1, "two", [3.0, None], {"k": "v"}],
        {"location": "Kyoto", "n": 3, "nested": {"xs": ["a", 2], "ok": True}},
    ],
)
def test_parse_value_round_trips_render_value(value: Any) -> None:
    assert parse_value(render_value(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), (" celsius ", "celsius"), ("null", None), ('"a\\nb"', "a\nb"), ("[1,]", [1])],
)
def test_parse_value_reads_bare_and_json_values(text: str, expected: Any) -> None:
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    "text", ["", "  ", f"{E}open", "{a:1", "[1,2", "{a:1} extra", "1,2", "{a}"]
)
def test_parse_value_rejects_incomplete_or_extra_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_value(text)


FRAGMENTS = [
    SC, EC, SR, E, "<end_of_turn>", "call:", "call", ":", "{", "}", "[", "]", ",", '"', "\\",
    "weather_info", "get_time", "Weather_Info", "x", "location", "Kyoto", "京都", "🌸", "-3",
    "2.5e3", "true", "null", " ", "\n", '{"name": ', '"arguments": ', '"get_time"', "```json",
    "<", ">", "'", "1" * 30,
]  # fmt: skip


def test_extract_calls_never_raises_on_fuzzed_input() -> None:
    rng = random.Random(20240611)
    for _ in range(200):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 60)))
        outcome = extract_calls(text, NAMES)
        assert all(c.name in NAMES for c in outcome.calls)
        assert all(c.raw in text for c in outcome.calls)
        assert all(isinstance(c.arguments, dict) for c in outcome.calls)


@pytest.mark.parametrize(
    "text",
    [
        "call:a{" * 5000,
        E * 10000,
        '{"a":' * 10000,
        f"{SC}call:get_time{{x:" + "[" * 50000,
        f"{SC}call:get_time{{" * 3000,
        '{"name": "get_time", "arguments": ' * 3000,
        "{" * 50000 + '"',
        f"call:get_time{{x:{E}" + "a" * 50000,
        "1" * 50000,
        f"call:get_time{{n:{'9' * 50000}}}",
    ],
)
def test_extract_calls_returns_on_adversarial_input(text: str) -> None:
    outcome = extract_calls(text, [*NAMES, "a"])
    assert all(c.name in (*NAMES, "a") for c in outcome.calls)
