"""funcgemma.mcp: the registry's functions and the router as MCP tools, driven by the
official SDK's own client: in-process over the SDK's in-memory transport (a scripted
router), and end to end over a real `funcgemma mcp` process on stdio and on streamable
HTTP, its router an in-process fake Ollama (tests/fake_ollama.py, scenario e2e)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import anyio
import httpx
import mcp_types as types
import pytest
from fake_ollama import FakeOllama, free_port
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from processes import child_env, funcgemma
from pydantic import BaseModel
from starlette.testclient import TestClient

from funcgemma import cli
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.conversation import Conversation
from funcgemma.errors import BackendUnavailable, ConfigurationError
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.mcp import ROUTE, FuncgemmaMCP, http_app
from funcgemma.registry import FunctionRegistry, FunctionSpec, default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings

T = TypeVar("T")
NOW = datetime(2025, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
REMIND = "remind me to call mom tomorrow at 9am"
START_TIMEOUT_S = 30.0


def make_tools(
    script: Any = None, *, registry: FunctionRegistry | None = None, **settings: Any
) -> FuncgemmaMCP:
    """The MCP tools over a scripted router, the real registry and functions."""
    cfg = Settings(**settings)
    registry = registry or default_registry()
    router = Router(ScriptedBackend(script or {}), registry, settings=cfg)
    ctx = FunctionContext(settings=cfg, now=lambda: NOW)
    return FuncgemmaMCP(
        cfg, conversation=Conversation(router, ScriptedBackend(), registry, ctx, cfg)
    )


def over_mcp(tools: FuncgemmaMCP, body: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``body`` with the SDK's client connected to ``tools`` (JSON-RPC over the
    SDK's in-memory streams, the initialize handshake desktop clients use)."""

    async def main() -> T:
        async with Client(tools.server(), mode="legacy") as client:
            return await body(client)

    return anyio.run(main)


def call(tools: FuncgemmaMCP, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    return over_mcp(tools, lambda client: client.call_tool(name, arguments))


def texts(result: types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, types.TextContent)]


def reminders(tools: FuncgemmaMCP) -> list[tuple[str, str | None]]:
    items, _ = reminder_store(tools.ctx).listing()
    return [(r.what, r.said) for r in items]


def check_listing(listed: types.ListToolsResult) -> None:
    """Every registry function with the declaration the router reads, and route."""
    tools = {tool.name: tool for tool in listed.tools}
    registry = default_registry()
    assert list(tools) == [*registry.names, ROUTE]
    for spec in registry:
        declared = spec.tool_schema()["function"]
        tool = tools[spec.name]
        assert tool.input_schema == declared["parameters"]
        assert tool.description == declared["description"] and tool.description
        assert tool.annotations is not None
        if spec.name == "schedule_reminder":  # it saves: said, so a client can ask first
            assert tool.annotations.read_only_hint is False
            assert tool.annotations.destructive_hint is False  # adds, deletes nothing
            assert tool.annotations.idempotent_hint is False  # twice saves two
        else:
            assert tool.annotations.read_only_hint is True
    route = tools[ROUTE]
    assert route.input_schema["required"] == ["text"]
    assert route.input_schema["properties"]["run"]["default"] is False
    assert route.annotations is not None and route.annotations.read_only_hint is False


# --- in process --------------------------------------------------------------------


def test_mcp_list_tools_shows_every_function_and_route() -> None:
    check_listing(over_mcp(make_tools(), lambda client: client.list_tools()))


def test_mcp_read_only_function_returns_its_result_as_json() -> None:
    result = call(make_tools(), "sentiment_label", {"text": "I love it, a great day"})
    assert result.is_error is False
    (body,) = texts(result)  # no notice: sentiment_label states none
    assert json.loads(body)["label"] == "positive"
    assert result.structured_content == json.loads(body)


def test_mcp_schedule_reminder_saves_it_and_states_the_notice() -> None:
    tools = make_tools()
    result = call(tools, "schedule_reminder", {"task": "call mom", "time": "tomorrow at 9am"})
    assert result.is_error is False
    body, notice = texts(result)
    saved = json.loads(body)
    assert saved["saved"] is True and saved["due"].startswith("2025-03-13T09:00")
    assert notice == f"reminder #{saved['id']} saved: call mom, 2025-03-13 09:00"
    assert reminders(tools) == [("call mom", "tomorrow at 9am")]


def test_mcp_notice_is_in_the_language_of_the_arguments() -> None:
    result = call(make_tools(), "schedule_reminder", {"task": "母に電話", "time": "明日の9時"})
    assert result.is_error is False
    assert texts(result)[1].startswith("リマインダー #1 を保存しました: 母に電話")


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        (
            "schedule_reminder",
            {"task": 3, "time": "tomorrow"},
            "task: Input should be a valid string",
        ),
        ("translation_assist", {"text": "hello"}, "target_language: Field required"),
        ("sentiment_label", {"txt": "great"}, "unknown argument(s) txt; it takes text"),
        ("no_such_tool", {}, "No tool named 'no_such_tool'"),
        (ROUTE, {}, "`text` (a string, the request to route) is required"),
        (ROUTE, {"text": REMIND, "run": "yes"}, "`run` must be true or false"),
        (ROUTE, {"text": REMIND, "runn": True}, "unknown argument(s) runn"),
        (ROUTE, {"text": "   "}, "`text` is empty"),
    ],
)
def test_mcp_bad_arguments_are_a_tool_error_with_a_message(
    name: str, arguments: dict[str, Any], says: str
) -> None:
    tools = make_tools(
        {REMIND: tool_call("schedule_reminder", task="call mom", time="tomorrow at 9am")}
    )
    result = call(tools, name, arguments)
    assert result.is_error is True
    (message,) = texts(result)
    assert says in message, message
    assert reminders(tools) == []


def test_mcp_reminder_that_cannot_be_saved_is_a_tool_error_saying_why() -> None:
    tools = make_tools()
    result = call(tools, "schedule_reminder", {"task": "call mom", "time": "yesterday at 9am"})
    assert result.is_error is True
    body, why = texts(result)
    assert json.loads(body)["error"] == why and "is in the past, so nothing was saved" in why
    assert reminders(tools) == []


class _Params(BaseModel):
    """Always fails."""

    text: str


def _broken(params: _Params, ctx: FunctionContext) -> dict[str, Any]:
    raise RuntimeError("/secret/path exploded")


def test_mcp_failing_handler_is_a_tool_error_without_its_details() -> None:
    registry = FunctionRegistry([FunctionSpec(name="broken", params=_Params, handler=_broken)])
    result = call(make_tools(registry=registry), "broken", {"text": "x"})
    assert result.is_error is True
    assert texts(result) == ["broken failed: RuntimeError"]


def test_mcp_route_returns_the_route_result_and_runs_nothing() -> None:
    tools = make_tools(
        {REMIND: tool_call("schedule_reminder", task="call mom", time="tomorrow at 9am")}
    )
    result = call(tools, ROUTE, {"text": REMIND})
    assert result.is_error is False
    (body,) = texts(result)
    routed = json.loads(body)
    assert routed["calls"] == [
        {"name": "schedule_reminder", "arguments": {"task": "call mom", "time": "tomorrow at 9am"}}
    ]
    assert routed["source"] == "tools_api" and result.structured_content == routed
    assert reminders(tools) == []


def test_mcp_route_with_run_runs_the_routed_call_and_states_the_notice() -> None:
    tools = make_tools(
        {REMIND: tool_call("schedule_reminder", task="call mom", time="tomorrow at 9am")}
    )
    result = call(tools, ROUTE, {"text": REMIND, "run": True})
    assert result.is_error is False
    body, notice = texts(result)
    ran = json.loads(body)
    assert ran["route"]["calls"][0]["name"] == "schedule_reminder"
    (outcome,) = ran["results"]
    assert outcome["name"] == "schedule_reminder" and outcome["result"]["saved"] is True
    assert outcome["notice"] == notice == "reminder #1 saved: call mom, 2025-03-13 09:00"
    assert reminders(tools) == [("call mom", "tomorrow at 9am")]


def test_mcp_route_with_run_and_no_function_runs_nothing() -> None:
    result = call(make_tools(), ROUTE, {"text": "tell me a joke", "run": True})
    assert result.is_error is False
    assert json.loads(texts(result)[0]) == {
        "route": {
            "calls": [],
            "source": "none",
            "latency_ms": pytest.approx(0, abs=1e3),
            "model": "scripted",
            "outcome": "answer",
            "ask": None,
        },
        "results": [],
    }


def test_mcp_route_backend_failure_is_a_tool_error() -> None:
    down = BackendUnavailable(
        "Cannot reach Ollama at http://127.0.0.1:9. Is `ollama serve` running?"
    )
    result = call(make_tools({REMIND: down}), ROUTE, {"text": REMIND})
    assert result.is_error is True
    assert texts(result) == [f"route: {down.message}"]


def test_mcp_loads_no_model_until_route(data_dir: Path) -> None:
    """tools/list and the functions answer with no backend at all; route says why not."""
    dead = f"http://127.0.0.1:{free_port()}"
    tools = FuncgemmaMCP(
        Settings(ollama_host=dead, timeout_s=2, route_timeout_s=2), backend="ollama"
    )

    async def body(client: Client) -> tuple[Any, ...]:
        listed = await client.list_tools()
        labelled = await client.call_tool("sentiment_label", {"text": "awful, just awful"})
        loaded = tools._router is not None
        routed = await client.call_tool(ROUTE, {"text": REMIND})
        return listed, labelled, loaded, routed

    listed, labelled, loaded, routed = over_mcp(tools, body)
    check_listing(listed)
    assert labelled.is_error is False and json.loads(texts(labelled)[0])["label"] == "negative"
    assert loaded is False
    assert routed.is_error is True and dead.split("//")[1] in texts(routed)[0]


def test_mcp_function_named_route_is_refused_at_start() -> None:
    spec = FunctionSpec(name=ROUTE, params=_Params, handler=_broken)
    with pytest.raises(ConfigurationError, match="router's tool"):
        make_tools(registry=FunctionRegistry([spec]))


# --- HTTP guards, in process ----------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def guarded() -> Callable[..., TestClient]:
    def start(host: str = "127.0.0.1", **settings: Any) -> TestClient:
        tools = make_tools(**settings)
        return TestClient(http_app(tools, host), base_url="http://127.0.0.1:8765")

    return start


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_mcp_http_refuses_a_page_from_another_origin(
    guarded: Callable[..., TestClient], method: str
) -> None:
    with guarded() as client:
        response = client.request(
            method,
            "/mcp",
            json=INITIALIZE if method == "POST" else None,
            headers={**MCP_HEADERS, "Origin": "https://evil.example"},
        )
    assert_refused(response, 403, "forbidden_origin")


def test_mcp_http_refuses_a_rebound_host_name(guarded: Callable[..., TestClient]) -> None:
    with guarded() as client:
        response = client.post(
            "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example:8765"}
        )
    assert_refused(response, 403, "forbidden_host")


def test_mcp_http_serves_a_loopback_page_and_an_allowed_origin(
    guarded: Callable[..., TestClient],
) -> None:
    with guarded(origins="https://app.example.com") as client:
        for origin in ("http://localhost:6274", "https://app.example.com"):
            response = client.post(
                "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Origin": origin}
            )
            assert response.status_code == 200, response.text
            assert '"serverInfo"' in response.text


def test_mcp_http_needs_the_bearer_token_when_an_api_key_is_set(
    guarded: Callable[..., TestClient],
) -> None:
    with guarded(host="0.0.0.0", api_key="s3cret") as client:
        assert_refused(
            client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS), 401, "unauthorized"
        )
        wrong = {**MCP_HEADERS, "Authorization": "Bearer nope"}
        assert_refused(client.post("/mcp", json=INITIALIZE, headers=wrong), 401, "unauthorized")
        right = {**MCP_HEADERS, "Authorization": "Bearer s3cret", "Host": "192.0.2.1:8765"}
        assert client.post("/mcp", json=INITIALIZE, headers=right).status_code == 200


def test_mcp_cli_refuses_a_public_address_without_an_api_key() -> None:
    err = io.StringIO()
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0"], stderr=err) == 2
    assert "without FUNCGEMMA_API_KEY" in err.getvalue()


def test_mcp_cli_without_the_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "funcgemma.mcp")
    monkeypatch.setitem(sys.modules, "mcp_types", None)  # as if it were not installed
    err = io.StringIO()
    assert cli.main(["mcp"], stderr=err) == 1
    assert "needs the MCP SDK" in err.getvalue() and "Traceback" not in err.getvalue()


# --- end to end: a real `funcgemma mcp` process ---------------------------------------


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama.from_scenario("e2e") as fake:
        yield fake
    assert fake.problems() == []


def server_env(ollama: FakeOllama, data_dir: Path) -> dict[str, str]:
    return child_env(FUNCGEMMA_OLLAMA_HOST=ollama.url, FUNCGEMMA_DATA_DIR=str(data_dir),
                     FUNCGEMMA_TIMEZONE="Asia/Tokyo")


def saved_reminders(env: dict[str, str]) -> list[dict[str, Any]]:
    """What `funcgemma reminders --json` lists (the store, read by another process)."""
    done = subprocess.run(
        [sys.executable, "-m", "funcgemma", "reminders", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


async def exercise(client: Client, env: dict[str, str]) -> None:
    """What every transport must do: list, a read-only call, a saving call, route with and
    without run, and an invalid argument."""
    check_listing(await client.list_tools())

    translated = await client.call_tool(
        "translation_assist", {"text": "good morning", "target_language": "French"}
    )
    assert translated.is_error is False
    assert json.loads(texts(translated)[0])["target_language"] == "French"

    saved = await client.call_tool(
        "schedule_reminder", {"task": "water the plants", "time": "tomorrow at 8am"}
    )
    assert saved.is_error is False, texts(saved)
    assert texts(saved)[1].startswith("reminder #1 saved: water the plants, ")
    assert [r["what"] for r in saved_reminders(env)] == ["water the plants"]

    routed = await client.call_tool(ROUTE, {"text": REMIND})
    assert routed.is_error is False, texts(routed)
    assert json.loads(texts(routed)[0])["calls"] == [
        {"name": "schedule_reminder", "arguments": {"task": "call mom", "time": "tomorrow at 9am"}}
    ]
    assert len(saved_reminders(env)) == 1  # route alone runs nothing

    ran = await client.call_tool(ROUTE, {"text": REMIND, "run": True})
    assert ran.is_error is False, texts(ran)
    assert texts(ran)[1].startswith("reminder #2 saved: call mom, ")
    assert [r["what"] for r in saved_reminders(env)] == ["water the plants", "call mom"]

    invalid = await client.call_tool("travel_guide", {"destination": "Lisbon", "days": "many"})
    assert invalid.is_error is True
    assert "days: Input should be a valid integer" in texts(invalid)[0]


@pytest.mark.slow
def test_mcp_stdio_end_to_end(fake_ollama: FakeOllama, data_dir: Path, tmp_path: Path) -> None:
    env = server_env(fake_ollama, data_dir)
    params = StdioServerParameters(
        command=sys.executable, env=env, args=["-m", "funcgemma", "--backend", "ollama", "mcp"]
    )
    log = tmp_path / "stderr.log"

    async def main() -> None:
        with log.open("w") as errlog, anyio.fail_after(START_TIMEOUT_S):
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                assert client.server_info is not None
                assert client.server_info.name == "funcgemma"
                await exercise(client, env)

    anyio.run(main)
    assert "Traceback" not in log.read_text()


@pytest.fixture
def http_server(
    fake_ollama: FakeOllama, data_dir: Path, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(fake_ollama, data_dir)
    with funcgemma(["--backend", "ollama", "mcp", "--http"], env=env,
                   log=tmp_path / "server.log", ready_path="/mcp") as url:
        yield f"{url}/mcp", env


@pytest.mark.slow
def test_mcp_http_end_to_end(http_server: tuple[str, dict[str, str]]) -> None:
    url, env = http_server

    async def main() -> None:
        with anyio.fail_after(START_TIMEOUT_S):
            async with Client(url) as client:  # the newest protocol the SDK speaks
                assert client.protocol_version in MODERN_PROTOCOL_VERSIONS
                await exercise(client, env)

    async def legacy() -> str:  # the handshake clients of 2025 versions make
        async with Client(url, mode="legacy") as client:
            check_listing(await client.list_tools())
            labelled = await client.call_tool("sentiment_label", {"text": "rude and cold"})
            assert json.loads(texts(labelled)[0])["label"] == "negative"
            return client.protocol_version

    anyio.run(main)
    assert anyio.run(legacy).startswith("2025-")
    evil = httpx.post(
        url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "http://evil.example"}
    )
    assert_refused(evil, 403, "forbidden_origin")
