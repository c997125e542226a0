"""End to end over real processes: `python tests/fake_ollama.py --scenario e2e` and a real
`funcgemma serve` (FUNCGEMMA_BACKEND=ollama) pointed at it, driven over HTTP with httpx."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from apierrors import assert_error
from fake_ollama import CHAT_TEXT, free_port
from processes import child_env, start, stop, wait_until

pytestmark = pytest.mark.slow

FAKE_OLLAMA = Path(__file__).parent / "fake_ollama.py"
ROUTE_TIMEOUT_S = 1.5  # the e2e fake takes 30 s over "slow"


@dataclass
class Stack:
    """A running fake Ollama and `funcgemma serve`, and where their output goes."""

    url: str
    ollama_url: str
    data_dir: Path
    logs: dict[str, Path]

    def log_tail(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}"
                         for name, path in self.logs.items())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both processes, started once for the module and always stopped."""
    tmp = tmp_path_factory.mktemp("e2e")
    ollama_port, api_port = free_port(), free_port()
    ollama_url = f"http://127.0.0.1:{ollama_port}"
    env = child_env(
        FUNCGEMMA_BACKEND="ollama",
        FUNCGEMMA_OLLAMA_HOST=ollama_url,
        FUNCGEMMA_DATA_DIR=str(tmp / "data"),
        FUNCGEMMA_ROUTE_TIMEOUT_S=str(ROUTE_TIMEOUT_S),
    )
    stack = Stack(f"http://127.0.0.1:{api_port}", ollama_url, tmp / "data",
                  {"fake ollama": tmp / "ollama.log", "funcgemma serve": tmp / "serve.log"})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start([str(FAKE_OLLAMA), "--port", str(ollama_port), "--scenario", "e2e"],
                           env=env, log=stack.logs["fake ollama"]))
        wait_until(lambda: httpx.get(f"{ollama_url}/api/version", timeout=1).is_success,
                   procs[0], "fake ollama", stack.logs["fake ollama"])
        procs.append(start(["-m", "funcgemma", "serve", "--host", "127.0.0.1",
                            "--port", str(api_port)], env=env, log=stack.logs["funcgemma serve"]))
        wait_until(lambda: httpx.get(f"{stack.url}/health", timeout=1).is_success,
                   procs[1], "funcgemma serve", stack.logs["funcgemma serve"])
        yield stack
    finally:
        for proc in reversed(procs):
            stop(proc)
    serve_log = stack.logs["funcgemma serve"].read_text(errors="replace")
    assert "Traceback" not in serve_log, serve_log


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        yield client




def test_e2e_health_names_the_ollama_backend(api: httpx.Client, stack: Stack) -> None:
    body = api.get("/health").json()
    assert body["status"] == "ok" and body["backend"] == "ollama"
    assert body["router"]["model"] == "functiongemma" and body["chat"]["model"] == "gemma3:4b"
    assert body["router"]["host"] == body["chat"]["host"] == stack.ollama_url


def test_e2e_route_reminder(api: httpx.Client) -> None:
    response = api.post("/route", json={"text": "remind me to call mom tomorrow at 9am"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calls"] == [{"name": "schedule_reminder",
                              "arguments": {"task": "call mom", "time": "tomorrow at 9am"}}]
    assert body["source"] == "tools_api" and body["model"] == "functiongemma"
    assert float(response.headers["X-Route-Latency-Ms"]) == body["latency_ms"] > 0


def test_e2e_route_days_arrive_as_an_int(api: httpx.Client) -> None:
    response = api.post("/route", json={"text": "3 days in lisbon"})
    assert response.status_code == 200, response.text
    (call,) = response.json()["calls"]
    assert call["name"] == "travel_guide"
    assert call["arguments"]["destination"].lower() == "lisbon"
    assert type(call["arguments"]["days"]) is int and call["arguments"]["days"] == 3


def test_e2e_route_no_function(api: httpx.Client) -> None:
    response = api.post("/route", json={"text": "tell me a joke about cats"})
    assert response.status_code == 200, response.text
    assert response.json()["calls"] == [] and response.json()["source"] == "none"


def test_e2e_route_unusable_call_is_502(api: httpx.Client) -> None:
    error = assert_error(api.post("/route", json={"text": "garbage"}), 502, "bad_model_output")
    assert error["retryable"] is False  # the router decodes greedily: a retry fails the same


def test_e2e_route_stuck_model_is_504(api: httpx.Client) -> None:
    started = time.monotonic()
    response = api.post("/route", json={"text": "slow"})
    assert time.monotonic() - started < ROUTE_TIMEOUT_S + 5
    error = assert_error(response, 504, "backend_timeout")
    assert "FUNCGEMMA_ROUTE_TIMEOUT_S" in error["message"] and error["retryable"] is True


# (case id, request body, status, code, what the message says)
BAD_INPUT: list[tuple[str, Any, int, str, str]] = [
    ("empty text", {"text": ""}, 422, "invalid_request", "empty"),
    ("text is a number", {"text": 42}, 422, "invalid_request", "`text`"),
    ("missing text", {"message": "hi"}, 422, "invalid_request", "`text`"),
    ("too long", {"text": "a" * 8001}, 413, "text_too_long", "8000"),
]


@pytest.mark.parametrize(("body", "status", "code", "message"), [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_e2e_route_bad_input_is_a_clear_client_error(api: httpx.Client, body: Any, status: int,
                                                     code: str, message: str) -> None:
    error = assert_error(api.post("/route", json=body), status, code)
    assert message in error["message"] and error["retryable"] is False


def test_e2e_route_invalid_json(api: httpx.Client) -> None:
    response = api.post("/route", content=b'{"text": ',
                        headers={"content-type": "application/json"})
    assert assert_error(response, 422, "invalid_request")["message"] == (
        "The request body is not valid JSON.")


def test_e2e_chat_returns_the_chat_models_text(api: httpx.Client) -> None:
    response = api.post("/chat", json={"message": "tell me a joke about cats",
                                       "session_id": "e2e"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == CHAT_TEXT and body["session_id"] == "e2e"
    assert body["route"]["calls"] == [] and body["function_result"] is None


def test_e2e_chat_stream_deltas_spell_the_chat_text(api: httpx.Client) -> None:
    with api.stream("POST", "/chat", json={"message": "tell me a joke", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert events[0]["type"] == "route" and events[0]["route"]["calls"] == []
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == CHAT_TEXT
    assert events[-1] == {"type": "done", "reply": CHAT_TEXT}


def test_e2e_chat_reminder_is_scheduled(api: httpx.Client) -> None:
    body = api.post("/chat", json={"message": "remind me to call mom tomorrow at 9am"}).json()
    assert body["route"]["calls"][0]["name"] == "schedule_reminder"
    assert body["function_error"] is None and body["function_result"] is not None
    assert body["reply"] == CHAT_TEXT
    reminders = api.get("/reminders").json()["reminders"]
    assert [r["what"] for r in reminders] == ["call mom"]
