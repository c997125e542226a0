"""The OpenAI-compatible endpoint (/v1) and what it stands on: tools from a client's JSON
schemas (funcgemma.foreign), tool_choice through the router and each backend, and the real
`openai` client against a real `funcgemma serve` (a fake Ollama behind it, in this
process; and, slow, the embedded backend)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest
from fake_ollama import CHAT_TEXT, NO_CALL_TEXT, Call, FakeOllama, Reply, last_user_text
from fastapi.testclient import TestClient
from processes import child_env, funcgemma
from pydantic import ValidationError
from test_api import make_service
from test_calldecoder import ScriptedModel, ToyVocab

from funcgemma.api import create_app
from funcgemma.backends.calldecoder import CallDecoder
from funcgemma.backends.ollama import OllamaBackend
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.errors import InvalidRequest, ToolChoiceUnmet
from funcgemma.foreign import ForeignRegistry
from funcgemma.formats import functiongemma as fg
from funcgemma.formats.functiongemma import RAW_CALL
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call as OurCall
from funcgemma.types import CompletionOptions, Message

KEY = "test-key-123"
S, E, C = fg.START_CALL, fg.ESCAPE, fg.END_CALL


def _tool(name: str, parameters: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


WEATHER = _tool(
    "get_weather",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["city"],
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
    },
    "Current weather in a city.",
)
FORECAST = _tool(
    "get_forecast",
    {
        "type": "object",
        "required": ["city", "days"],
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
        },
    },
)
TIME = _tool(
    "get-time",
    {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": True},
)
FOREIGN = [WEATHER, FORECAST, TIME]


# --- tools from JSON schemas ------------------------------------------------------------

NESTED = _tool(
    "book",
    {
        "type": "object",
        "required": ["trip"],
        "$defs": {
            "Leg": {
                "type": "object",
                "required": ["to"],
                "additionalProperties": False,
                "properties": {
                    "to": {"type": "string"},
                    "seats": {"type": "integer", "exclusiveMinimum": 0},
                },
            }
        },
        "properties": {
            "trip": {"type": "array", "items": {"$ref": "#/$defs/Leg"}, "maxItems": 2},
            "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "json": {"type": "boolean"},
        },
    },
)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (WEATHER, {"city": "Paris", "unit": "celsius"}, {"city": "Paris", "unit": "celsius"}),
        (WEATHER, {"city": "Paris"}, {"city": "Paris"}),  # no default filled in
        (WEATHER, {"city": "Paris", "unit": "kelvin"}, None),  # outside the enum
        (WEATHER, {"city": "Paris", "unit": None}, None),  # null is not a string
        (WEATHER, {"city": "Paris", "wind": True}, None),  # additionalProperties: false
        (WEATHER, {"unit": "celsius"}, None),  # required city missing
        (WEATHER, {"city": 7}, None),  # a number is not a string
        (WEATHER, {"city": "Pa\ud800ris"}, None),  # a lone surrogate cannot be sent
        (FORECAST, {"city": "Paris", "days": "3"}, {"city": "Paris", "days": 3}),  # Ollama's "3"
        (FORECAST, {"city": "Paris", "days": 15}, None),  # over the maximum
        (FORECAST, {"city": "Paris", "days": 0}, None),  # under the minimum
        (FORECAST, {"city": "Paris", "days": 2.5}, None),  # not an integer
        (FORECAST, {"city": "Paris", "days": True}, None),  # a boolean is not a number
        (FORECAST, {"city": "Paris", "days": 3, "hours": 2}, None),  # not declared
        (TIME, {"city": "Paris", "zone": "CET"}, {"city": "Paris", "zone": "CET"}),  # may be more
        (
            NESTED,
            {"trip": [{"to": "Rome", "seats": 2}], "note": None, "ratio": 0.5, "json": True},
            {"trip": [{"to": "Rome", "seats": 2}], "note": None, "ratio": 0.5, "json": True},
        ),
        (NESTED, {"trip": [{"to": "Rome", "seats": 0}]}, None),  # exclusiveMinimum in a $ref
        (NESTED, {"trip": [{"to": "Rome", "bus": 1}]}, None),  # closed nested object
        (NESTED, {"trip": [{"to": "A"}, {"to": "B"}, {"to": "C"}]}, None),  # maxItems
        (NESTED, {"trip": [], "note": "too long"}, None),  # maxLength in anyOf
        (NESTED, {"trip": [], "ratio": 1.5}, None),  # number over its maximum
    ],
)
def test_foreign_validates_and_never_repairs(
    tool: dict[str, Any], arguments: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    registry = ForeignRegistry([tool])
    name = tool["function"]["name"]
    got = registry.try_validate(OurCall(name=name, arguments=arguments))
    assert (got.arguments if got else None) == expected
    if expected is None:
        with pytest.raises(ValidationError):
            registry.validate(OurCall(name=name, arguments=arguments))


def test_foreign_declaration_is_the_clients_with_references_written_out() -> None:
    registry = ForeignRegistry([TIME, NESTED])
    time_decl, nested_decl = registry.tools()
    assert time_decl == TIME  # as sent, in the client's order
    params = nested_decl["function"]["parameters"]
    assert "$defs" not in params
    assert params["properties"]["trip"]["items"]["properties"]["to"] == {"type": "string"}
    assert params["properties"]["note"]["type"] == "string"  # X-or-null read as X
    assert registry.names == ["book", "get-time"]


@pytest.mark.parametrize(
    ("tools", "says"),
    [
        ([_tool("1st", {"type": "object"})], "tools[0].function.name"),
        ([WEATHER, WEATHER], "declared twice"),
        ([_tool("f", {"type": "array"})], "type object"),
        ([_tool("f", {"type": "object", "properties": {"x": {"type": "date"}}})], "'date'"),
        (
            [_tool("f", {"type": "object", "properties": {"x": {"$ref": "http://x/y"}}})],
            "local references",
        ),
        (
            [
                _tool(
                    "f",
                    {"type": "object", "properties": {"x": {"type": "integer", "minimum": "1"}}},
                )
            ],
            "minimum",
        ),
        ([_tool("f", {"type": "object", "properties": {"x": {"enum": []}}})], "enum"),
        (
            [
                _tool(
                    "f",
                    {
                        "type": "object",
                        "$defs": {"R": {"type": "array", "items": {"$ref": "#/$defs/R"}}},
                        "properties": {"x": {"$ref": "#/$defs/R"}},
                    },
                )
            ],
            "deeper",
        ),
    ],
)
def test_foreign_unreadable_schema_is_a_clear_client_error(
    tools: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ForeignRegistry(tools)
    assert says in caught.value.message


# --- the decoder forces what tool_choice asks --------------------------------------------


def _decode(
    target: str,
    tools: Sequence[dict[str, Any]],
    *,
    first_is_call: bool = True,
    names: Sequence[str] | None = None,
) -> tuple[str, Any]:
    toy = ToyVocab()
    decoder = CallDecoder(toy.vocab(), tools)
    model = ScriptedModel(toy, target)
    first = toy.markers[S] if first_is_call else model.target[0]
    result = decoder.decode(model, first, user_text="weather in Paris", max_tokens=64, names=names)
    return result.text, result


def test_calldecoder_named_choice_overrides_the_models_name() -> None:
    # the model wants get_weather; only get_forecast may be called
    text, _ = _decode(
        f"{S}call:get_weather{{city:{E}Paris{E}}}{C}", FOREIGN, names=["get_forecast"]
    )
    assert text.startswith(f"{S}call:get_forecast{{")


def test_calldecoder_forced_call_of_a_model_that_wanted_none_is_of_a_declared_name() -> None:
    text, _ = _decode(
        f"No function applies.{fg.END_TURN}", FOREIGN, names=["get_weather", "get-time"]
    )
    assert text.startswith((f"{S}call:get_weather{{", f"{S}call:get-time{{")), text


@pytest.mark.parametrize(("wanted", "kept"), [("fahrenheit", True), ("kelvin", False)])
def test_calldecoder_keeps_an_enum_value_to_its_values(wanted: str, kept: bool) -> None:
    text, result = _decode(
        f"{S}call:get_weather{{city:{E}Paris{E},unit:{E}{wanted}{E}}}{C}", [WEATHER]
    )
    (parsed,) = fg.extract_calls(text, ["get_weather"]).calls
    call = ForeignRegistry([WEATHER]).validate(
        OurCall(name="get_weather", arguments=parsed.arguments)
    )
    assert call.arguments["unit"] in ("celsius", "fahrenheit")
    assert (call.arguments["unit"] == wanted) is kept
    assert (result.steered == 0) is kept


def test_calldecoder_array_value_keeps_its_own_commas() -> None:
    plan = _tool(
        "plan",
        {
            "type": "object",
            "required": ["cities", "days"],
            "properties": {
                "cities": {"type": "array", "items": {"type": "string"}},
                "days": {"type": "integer"},
            },
        },
    )
    target = f"{S}call:plan{{cities:[{E}Paris{E},{E}Rome{E}],days:3}}{C}"
    text, _ = _decode(target, [plan])
    assert text == target


# --- the router passes tool_choice through -----------------------------------------------


def _router(script: Any) -> tuple[Router, ScriptedBackend]:
    backend = ScriptedBackend(script, model="router-test")
    return Router(backend, default_registry(), settings=Settings()), backend


def test_router_none_does_not_ask_the_model() -> None:
    router, backend = _router({"Weather in Kyoto?": tool_call("weather_info", location="Kyoto")})
    result = router.route("Weather in Kyoto?", call="none")
    assert result.calls == [] and result.source == "none" and backend.calls == []


def test_router_required_without_a_call_is_tool_choice_unmet() -> None:
    router, _ = _router({"hello": "Hi!"})
    assert router.route("hello").calls == []
    with pytest.raises(ToolChoiceUnmet) as caught:
        router.route("hello", call="required")
    assert caught.value.status_code == 502 and caught.value.code == "tool_choice_unmet"


def test_router_only_drops_a_call_of_another_name() -> None:
    router, _ = _router({"Weather in Kyoto?": tool_call("weather_info", location="Kyoto")})
    assert router.route("Weather in Kyoto?", only=["weather_info"]).calls[0].name == "weather_info"
    assert router.route("Weather in Kyoto?", only=["travel_guide"]).calls == []
    with pytest.raises(ToolChoiceUnmet):
        router.route("Weather in Kyoto?", call="required", only=["travel_guide"])


# --- Ollama is sent only the tools it may call ---------------------------------------------


def test_ollama_sends_only_the_allowed_tools_and_none_for_none() -> None:
    with FakeOllama(lambda r: Reply(content=NO_CALL_TEXT)) as fake:
        backend = OllamaBackend(ollama.Client(host=fake.url), "functiongemma")
        tools = default_registry().tools()
        message = [Message(role="user", content="hi")]
        backend.complete(message, tools=tools, options=CompletionOptions(only=("weather_info",)))
        backend.complete(message, tools=tools, options=CompletionOptions(call="none"))
        backend.complete(message, tools=tools)
        sent = [[t["function"]["name"] for t in r.get("tools") or ()] for r in fake.chat_requests]
        assert fake.problems() == []
    assert sent == [["weather_info"], [], sorted(t["function"]["name"] for t in tools)]


def test_ollama_raw_prompt_forces_the_named_call() -> None:
    def model(request: dict[str, Any]) -> Reply:
        return Reply(content=f"destination:{E}Rome{E}}}{C}")

    with FakeOllama(model) as fake:
        backend = OllamaBackend(ollama.Client(host=fake.url), "functiongemma", raw_prompt=True)
        out = backend.complete(
            [Message(role="user", content="hello")],
            tools=default_registry().tools(),
            options=CompletionOptions(call="required", only=("travel_guide",)),
        )
        prompt = [e.request_json for e in fake.exchanges if e.path == "/api/generate"][0]["prompt"]
    assert prompt.endswith(f"{RAW_CALL}call:travel_guide{{")
    assert out.text == f"{S}call:travel_guide{{destination:{E}Rome{E}}}{C}"


# --- the HTTP layer, in process -----------------------------------------------------------


def test_openai_errors_have_openais_shape_for_auth_and_validation() -> None:
    with TestClient(create_app(make_service(api_key="s3cret"))) as client:
        denied = client.post("/v1/chat/completions", json={"model": "m", "messages": []})
        invalid = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": []},
            headers={"Authorization": "Bearer s3cret"},
        )
        route = client.post("/route", json={"text": "hi"})  # elsewhere: funcgemma's shape
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert denied.json()["error"]["type"] == "authentication_error"
    assert invalid.status_code == 400  # OpenAI's status for FastAPI's 422
    assert set(invalid.json()["error"]) == {"message", "type", "param", "code"}
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert set(route.json()["error"]) == {"code", "message", "retryable"}


def test_openai_stream_chat_model_failure_is_an_error_event() -> None:
    with TestClient(create_app(make_service())) as client:
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "m",
                "stream": True,
                "tools": FOREIGN,
                "tool_choice": "none",
                "messages": [{"role": "user", "content": "chat down"}],
            },
        ) as response:
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert json.loads(events[-1])["error"]["code"] == "backend_unavailable"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_idempotency_key_runs_a_function_once(stream: bool) -> None:
    """Without tools funcgemma runs its own functions: a retry with the same key is given
    the first answer again (streamed: as one delta) and saves nothing twice."""
    body = {"model": "m", "stream": stream, "messages": _user("明日の朝9時に会議をリマインドして")}
    headers = {"Idempotency-Key": "k-1"}
    with TestClient(create_app(make_service())) as client:
        answers = [
            client.post("/v1/chat/completions", json=body, headers=headers) for _ in range(2)
        ]
        reminders = client.get("/reminders").json()["reminders"]
    assert [r["what"] for r in reminders] == ["会議"]
    assert [a.status_code for a in answers] == [200, 200]
    assert "idempotent-replayed" not in answers[0].headers
    assert answers[1].headers["idempotent-replayed"] == "true"
    if stream:
        contents = [
            "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                for line in a.text.splitlines()
                if line.startswith("data: {")
            )
            for a in answers
        ]
    else:
        contents = [a.json()["choices"][0]["message"]["content"] for a in answers]
    assert contents[0] == contents[1] and "会議" in contents[0]


# --- the real openai client against `funcgemma serve` over a fake Ollama -------------------


def fake_model(request: dict[str, Any]) -> Reply:
    """Keyword routing over whatever tools the request carries."""
    names = [t["function"]["name"] for t in request.get("tools") or ()]
    if not names:
        return Reply(content=CHAT_TEXT)
    text = last_user_text(request).lower()
    if "remind" in text:
        return Reply(
            tool_calls=[Call("schedule_reminder", {"task": "call mom", "time": "tomorrow at 9am"})]
        )
    if "two cities" in text:
        return Reply(
            tool_calls=[
                Call("get_weather", {"city": "Paris"}),
                Call("get_weather", {"city": "Tokyo"}),
            ]
        )
    if "kelvin" in text:
        return Reply(tool_calls=[Call("get_weather", {"city": "Paris", "unit": "kelvin"})])
    if "fortnight" in text:
        return Reply(tool_calls=[Call("get_forecast", {"city": "Paris", "days": 99})])
    if "three days" in text:
        return Reply(tool_calls=[Call("get_forecast", {"city": "Paris", "days": "3"})])
    if "weather" in text:
        return Reply(tool_calls=[Call("get_weather", {"city": "Paris", "unit": "celsius"})])
    if "anything" in text:  # the first tool it was sent
        return Reply(tool_calls=[Call(names[0], {"city": "Paris"})])
    return Reply(content=NO_CALL_TEXT)


@dataclass
class Stack:
    url: str
    fake: FakeOllama
    log: Path

    def requests_for(self, text: str) -> list[dict[str, Any]]:
        return [r for r in self.fake.chat_requests if last_user_text(r) == text]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("v1")
    fake = FakeOllama(fake_model, loaded=("functiongemma:latest", "gemma3:4b")).start()
    try:
        env = child_env(
            FUNCGEMMA_BACKEND="ollama",
            FUNCGEMMA_OLLAMA_HOST=fake.url,
            FUNCGEMMA_DATA_DIR=str(tmp / "data"),
            FUNCGEMMA_API_KEY=KEY,
        )
        with funcgemma(["serve"], env=env, log=tmp / "serve.log") as url:
            yield Stack(url, fake, tmp / "serve.log")
        assert fake.problems() == []  # every request funcgemma sent Ollama conforms
    finally:
        fake.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key=KEY, timeout=20) as c:
        yield c


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def _arguments(message: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]


@pytest.mark.slow
def test_v1_models_lists_the_served_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["funcgemma", "functiongemma", "gemma3:4b"]
    assert client.models.retrieve("gemma3:4b").owned_by == "funcgemma"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.slow
def test_v1_foreign_tool_call_is_returned_not_run(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="gpt-4o-mini", messages=_user("what's the weather in Paris?"), tools=FOREIGN
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert _arguments(choice.message) == [("get_weather", {"city": "Paris", "unit": "celsius"})]
    assert choice.message.tool_calls[0].id.startswith("call_")
    assert out.model == "functiongemma" and out.object == "chat.completion"


@pytest.mark.slow
def test_v1_streamed_tool_call_arrives_in_argument_pieces(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m", messages=_user("weather in Paris, streamed"), tools=FOREIGN, stream=True
        )
    )
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    deltas = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    pieces = [d.function.arguments for d in deltas[1:]]
    assert len(pieces) > 1 and all(d.index == 0 for d in deltas)
    assert json.loads("".join(pieces)) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(c.choices[0].delta.content for c in chunks)


@pytest.mark.slow
def test_v1_tool_choice_none_answers_in_content_without_the_router(
    client: openai.OpenAI, stack: Stack
) -> None:
    text = "weather in Paris, but just talk"
    out = client.chat.completions.create(
        model="m", messages=_user(text), tools=FOREIGN, tool_choice="none"
    )
    assert out.choices[0].message.content == CHAT_TEXT and not out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "stop" and out.model == "gemma3:4b"
    assert [bool(r.get("tools")) for r in stack.requests_for(text)] == [False]  # chat only


@pytest.mark.slow
def test_v1_tool_choice_auto_without_a_call_answers_in_content(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="m", messages=_user("tell me a joke"), tools=FOREIGN, tool_choice="auto"
    )
    assert out.choices[0].message.content == CHAT_TEXT and not out.choices[0].message.tool_calls


@pytest.mark.slow
def test_v1_tool_choice_required_unmet_is_a_502_not_retried(
    client: openai.OpenAI, stack: Stack
) -> None:
    text = "tell me another joke"
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=2) as retrying:
        with pytest.raises(openai.InternalServerError) as caught:
            retrying.chat.completions.create(
                model="m", messages=_user(text), tools=FOREIGN, tool_choice="required"
            )
    assert caught.value.status_code == 502 and caught.value.code == "tool_choice_unmet"
    assert len(stack.requests_for(text)) == 1  # x-should-retry: false


@pytest.mark.slow
def test_v1_named_tool_choice_sends_ollama_only_that_tool(
    client: openai.OpenAI, stack: Stack
) -> None:
    text = "anything for Paris"
    auto = client.chat.completions.create(model="m", messages=_user(text), tools=FOREIGN)
    named = client.chat.completions.create(
        model="m",
        messages=_user(text),
        tools=FOREIGN,
        tool_choice={"type": "function", "function": {"name": "get-time"}},
    )
    assert _arguments(auto.choices[0].message) == [("get_weather", {"city": "Paris"})]
    assert _arguments(named.choices[0].message) == [("get-time", {"city": "Paris"})]
    sent = [[t["function"]["name"] for t in r["tools"]] for r in stack.requests_for(text)]
    assert sent == [["get_weather", "get_forecast", "get-time"], ["get-time"]]


@pytest.mark.slow
def test_v1_parallel_tool_calls_false_returns_one_call(client: openai.OpenAI) -> None:
    both = client.chat.completions.create(model="m", messages=_user("two cities"), tools=FOREIGN)
    one = client.chat.completions.create(
        model="m", messages=_user("two cities"), tools=FOREIGN, parallel_tool_calls=False
    )
    assert [a["city"] for _, a in _arguments(both.choices[0].message)] == ["Paris", "Tokyo"]
    assert [a["city"] for _, a in _arguments(one.choices[0].message)] == ["Paris"]


@pytest.mark.slow
@pytest.mark.parametrize("text", ["weather in kelvin please", "forecast for a fortnight"])
def test_v1_value_outside_enum_or_bounds_is_never_returned(
    client: openai.OpenAI, text: str
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=_user(text), tools=FOREIGN)
    assert caught.value.code == "bad_model_output"
    assert set(caught.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]
    assert "kelvin" not in str(caught.value.body) and "99" not in str(caught.value.body)


@pytest.mark.slow
def test_v1_number_written_as_a_string_is_read_as_a_number(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="m", messages=_user("three days in Paris"), tools=FOREIGN
    )
    assert _arguments(out.choices[0].message) == [("get_forecast", {"city": "Paris", "days": 3})]


@pytest.mark.slow
def test_v1_registry_tools_route_as_route_does(client: openai.OpenAI, stack: Stack) -> None:
    text = "remind me to call mom tomorrow at 9am"
    tools: Any = default_registry().tools()
    out = client.chat.completions.create(model="m", messages=_user(text), tools=tools)
    routed = httpx.post(
        f"{stack.url}/route", json={"text": text}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    assert _arguments(out.choices[0].message) == [
        (c["name"], c["arguments"]) for c in routed["calls"]
    ]
    assert routed["calls"][0]["name"] == "schedule_reminder"
    reminders = httpx.get(
        f"{stack.url}/reminders", headers={"Authorization": f"Bearer {KEY}"}
    ).json()["reminders"]
    assert reminders == []  # returned to the client, never run


@pytest.mark.slow
def test_v1_tool_result_is_answered_in_content(client: openai.OpenAI, stack: Stack) -> None:
    text = "what's the weather in Paris now?"
    messages: Any = [
        {"role": "system", "content": "You are terse."},
        *_user(text),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    ]
    out = client.chat.completions.create(model="m", messages=messages, tools=FOREIGN)
    assert out.choices[0].message.content == CHAT_TEXT and not out.choices[0].message.tool_calls
    (sent,) = stack.requests_for(text)
    assert not sent.get("tools")
    system = sent["messages"][0]
    assert system["role"] == "system" and "You are terse." in system["content"]
    assert "`get_weather`" in system["content"] and '{"temp_c": 21}' in system["content"]


@pytest.mark.slow
def test_v1_without_tools_funcgemma_runs_its_own_function(
    client: openai.OpenAI, stack: Stack
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="funcgemma", messages=_user("please remind me to call mom"), stream=True
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content.startswith(CHAT_TEXT) and "call mom" in content[len(CHAT_TEXT) :]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    reminders = httpx.get(
        f"{stack.url}/reminders", headers={"Authorization": f"Bearer {KEY}"}
    ).json()["reminders"]
    assert [r["what"] for r in reminders] == ["call mom"]
    plain = client.chat.completions.create(model="funcgemma", messages=_user("hello there"))
    assert plain.choices[0].message.content == CHAT_TEXT
    assert plain.model_extra and plain.model_extra["funcgemma"]["route"]["calls"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_", "param", "says"),
    [
        (
            {
                "messages": _user("hi"),
                "tools": FOREIGN,
                "tool_choice": {"type": "function", "function": {"name": "launch"}},
            },
            "tool_choice",
            "launch",
        ),
        ({"messages": _user("hi"), "tool_choice": "required"}, "tool_choice", "tools"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages", "user message"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                    }
                ]
            },
            "messages[0].content[0]",
            "text only",
        ),
        (
            {
                "messages": _user("hi"),
                "tools": [_tool("f", {"type": "object", "properties": {"x": {"type": "date"}}})],
            },
            "tools",
            "'date'",
        ),
        ({"messages": _user("   ")}, "messages[0].content", "empty"),
    ],
)
def test_v1_invalid_request_is_a_400_in_openais_shape(
    client: openai.OpenAI, request_: dict[str, Any], param: str, says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", **request_)
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error" and body["param"] == param
    assert says in body["message"] and caught.value.code == "invalid_request"


@pytest.mark.slow
def test_v1_auth_and_origin_guard_answer_in_openais_shape(stack: Stack) -> None:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.chat.completions.create(model="m", messages=_user("hi"))
    assert caught.value.code == "unauthorized"
    page = httpx.post(
        f"{stack.url}/v1/chat/completions",
        json={"model": "m", "messages": _user("hi")},
        headers={"Authorization": f"Bearer {KEY}", "Origin": "https://evil.example"},
    )
    assert page.status_code == 403
    assert page.json()["error"]["type"] == "permission_error"
    assert page.json()["error"]["code"] == "forbidden_origin"


# --- the embedded backend forces tool_choice (real llama.cpp, real weights) ----------------


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp")
    tmp = tmp_path_factory.mktemp("v1-embedded")
    env = child_env(FUNCGEMMA_DATA_DIR=str(tmp / "data"), FUNCGEMMA_API_KEY=KEY)
    with funcgemma(["--backend", "llamacpp", "serve"], env=env, log=tmp / "serve.log") as url:
        yield url


@pytest.mark.slow
@pytest.mark.llamacpp
def test_v1_embedded_tool_choice_forces_and_forbids_and_routes_as_route(embedded: str) -> None:
    with openai.OpenAI(
        base_url=f"{embedded}/v1", api_key=KEY, timeout=120, max_retries=0
    ) as client:

        def ask(text: str, tools: Any, choice: Any = "auto") -> Any:
            return client.chat.completions.create(
                model="m", messages=_user(text), tools=tools, tool_choice=choice, max_tokens=64
            ).choices[0]

        joke = "tell me a joke about penguins"
        assert not ask(joke, FOREIGN).message.tool_calls  # the model's own choice: none
        required = ask(joke, FOREIGN, "required")
        assert required.finish_reason == "tool_calls"
        ((name, arguments),) = _arguments(required.message)
        assert name in ("get_weather", "get_forecast", "get-time")
        ForeignRegistry(FOREIGN).validate(OurCall(name=name, arguments=arguments))
        named = ask(joke, FOREIGN, {"type": "function", "function": {"name": "get_weather"}})
        assert [n for n, _ in _arguments(named.message)] == ["get_weather"]
        assert _arguments(named.message)[0][1].get("unit", "celsius") in ("celsius", "fahrenheit")
        registry: Any = default_registry().tools()
        weather = "What's the weather in Kyoto tomorrow?"
        forbidden = ask(weather, registry, "none")
        assert forbidden.message.content and not forbidden.message.tool_calls
        for text in (weather, "remind me to call mom at 6pm", "Tell me about Ichiro Suzuki"):
            routed = httpx.post(
                f"{embedded}/route",
                json={"text": text},
                timeout=120,
                headers={"Authorization": f"Bearer {KEY}"},
            ).json()
            got = ask(text, registry)
            assert _arguments(got.message) == [
                (c["name"], c["arguments"]) for c in routed["calls"]
            ], text
            assert routed["calls"], text
