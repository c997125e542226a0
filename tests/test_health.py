"""GET /health (liveness with the backend's state), GET /health/ready (503 until the backend
can serve), and a damaged reminders file as a 503 that shows the client no path."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apierrors import assert_error
from fake_ollama import CHAT_MODEL, DEFAULT_MODELS, ROUTER_MODEL, FakeOllama, free_port
from fastapi.testclient import TestClient

from funcgemma.api import Service, create_app
from funcgemma.backends import ollama as ollama_backend
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.conversation import Conversation
from funcgemma.diagnose import data_report
from funcgemma.factory import make_ollama
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import ReminderStore
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings

NOW = datetime(2025, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
REMIND = "remind me to call mom tomorrow at 9am"
HEALTH_FIELDS = {
    "status",
    "backend",
    "reason",
    "router",
    "chat",
    "functions",
    "ready",
    "backend_state",
}


def scripted_service(*, router_down: str | None = None, chat_down: str | None = None) -> Service:
    settings = Settings()
    registry = default_registry()
    script = {REMIND: tool_call("schedule_reminder", task="call mom", time="tomorrow at 9am")}
    router = Router(ScriptedBackend(script, not_ready=router_down), registry, settings=settings)
    chat = ScriptedBackend(reply=lambda messages: "noted", not_ready=chat_down)
    ctx = FunctionContext(settings=settings, now=lambda: NOW)
    return Service(
        Conversation(router, chat, registry, ctx, settings),
        settings,
        "scripted",
        "built by the test",
    )


def ollama_service(url: str) -> Service:
    settings = Settings(backend="ollama", ollama_host=url, timeout_s=2, route_timeout_s=2)
    backends = make_ollama(settings, "chosen by the test")
    registry = default_registry()
    ctx = FunctionContext(settings=settings, now=lambda: NOW)
    conversation = Conversation(
        Router(backends.router, registry, settings=settings), backends.chat, registry, ctx, settings
    )
    return Service(conversation, settings, backends.kind, backends.reason)




# --- scripted backend ----------------------------------------------------------------


def test_health_ready_backend_says_ok_and_ready() -> None:
    with TestClient(create_app(scripted_service())) as client:
        body = client.get("/health").json()
        assert set(body) == HEALTH_FIELDS
        assert body["status"] == "ok" and body["ready"] is True
        assert body["backend_state"] == {"router": "ready", "chat": "ready"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "ready": True,
            "backend_state": {"router": "ready", "chat": "ready"},
        }


@pytest.mark.parametrize(
    ("router_down", "chat_down", "says"),
    [
        ("weights missing", None, "router: weights missing"),
        (None, "chat model not loaded", "chat: chat model not loaded"),
    ],
)
def test_health_backend_that_cannot_serve_is_alive_and_not_ready(
    router_down: str | None, chat_down: str | None, says: str
) -> None:
    with TestClient(
        create_app(scripted_service(router_down=router_down, chat_down=chat_down))
    ) as client:
        health = client.get("/health")
        assert health.status_code == 200  # liveness: the process answers
        body = health.json()
        assert set(body) == HEALTH_FIELDS
        assert body["status"] == "ok" and body["ready"] is False
        role = "router" if router_down else "chat"
        assert body["backend_state"][role] == f"not ready: {router_down or chat_down}"
        ready = client.get("/health/ready")
        error = assert_error(ready, 503, "backend_unavailable")
        assert says in error["message"] and error["retryable"] is True
        assert ready.headers["Retry-After"] == "5"


def test_health_ready_follows_the_backend_as_it_changes() -> None:
    service = scripted_service(chat_down="loading")
    with TestClient(create_app(service)) as client:
        assert client.get("/health/ready").status_code == 503
        chat = service.conversation.chat
        assert isinstance(chat, ScriptedBackend)
        chat.not_ready = None
        assert client.get("/health/ready").status_code == 200


def test_health_ready_is_in_the_openapi_description() -> None:
    with TestClient(create_app(scripted_service())) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/health", "/health/ready"} <= set(paths)


# --- Ollama, a real HTTP server speaking Ollama's JSON ---------------------------------


@pytest.fixture
def no_probe_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ollama_backend, "PROBE_CACHE_S", 0.0)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def test_health_ollama_running_with_its_models_is_ready(fake: FakeOllama) -> None:
    with TestClient(create_app(ollama_service(fake.url))) as client:
        body = client.get("/health").json()
        assert body["status"] == "ok" and body["ready"] is True
        assert body["backend"] == "ollama" and body["router"]["host"] == fake.url
        assert client.get("/health/ready").status_code == 200
    assert fake.problems() == []


def test_health_ollama_stopped_is_not_ready_then_ready_once_it_runs(no_probe_cache: None) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with TestClient(create_app(ollama_service(url))) as client:
        body = client.get("/health").json()  # "ok" here, while every request was a 503
        assert body["status"] == "ok" and body["ready"] is False
        for role in ("router", "chat"):
            assert body["backend_state"][role].startswith(
                f"not ready: Cannot reach Ollama at {url}"
            )
        error = assert_error(client.get("/health/ready"), 503, "backend_unavailable")
        assert "Cannot reach Ollama" in error["message"]
        assert_error(client.post("/route", json={"text": "hello"}), 503, "backend_unavailable")
        with FakeOllama(port=port) as started:
            assert client.get("/health/ready").status_code == 200
            assert client.get("/health").json()["status"] == "ok"
            assert started.problems() == []
        assert client.get("/health/ready").status_code == 503  # stopped again


def test_health_ollama_without_the_chat_model_is_not_ready(no_probe_cache: None) -> None:
    router_only = [m for m in DEFAULT_MODELS if m.name.startswith(ROUTER_MODEL)]
    with (
        FakeOllama(models=router_only) as server,
        TestClient(create_app(ollama_service(server.url))) as client,
    ):
        body = client.get("/health").json()
        assert body["backend_state"]["router"] == "ready"
        assert body["backend_state"]["chat"].startswith("not ready: ")
        assert f"lacks {CHAT_MODEL}" in body["backend_state"]["chat"]
        error = assert_error(client.get("/health/ready"), 503, "backend_unavailable")
        assert f"ollama pull {CHAT_MODEL}" in error["message"]


def test_health_ollama_probe_is_cached_for_pollers(fake: FakeOllama) -> None:
    with TestClient(create_app(ollama_service(fake.url))) as client:
        for _ in range(20):
            assert client.get("/health/ready").status_code == 200
            assert client.get("/health").status_code == 200
    tags = [e for e in fake.exchanges if e.path == "/api/tags"]
    assert 1 <= len(tags) <= 4, len(tags)  # one per model and cache period, not 80


# --- a damaged reminders file --------------------------------------------------------


@pytest.fixture
def damaged(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    path = data_dir / "reminders.sqlite3"
    path.write_bytes(b"overwritten with garbage, not a database " * 200)
    return path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/reminders"),
        ("GET", "/reminders?include_done=true"),
        ("GET", "/reminders/due"),
        ("POST", "/reminders/due"),
        ("GET", "/reminders/1"),
        ("DELETE", "/reminders/1"),
    ],
)
def test_health_damaged_reminders_file_is_a_503_without_its_path(
    damaged: Path, data_dir: Path, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(scripted_service())) as client:
        response = client.request(method, path)
    error = assert_error(response, 503, "storage_unavailable")
    assert "reminder database" in error["message"] and "left as it is" in error["message"]
    assert str(data_dir) not in response.text and "/" + damaged.name not in response.text
    assert "Retry-After" in response.headers
    assert str(damaged) in caplog.text, "the server's log names the file"
    assert damaged.read_bytes().startswith(b"overwritten with garbage")


def test_health_damaged_reminders_file_in_chat_is_a_reply_without_its_path(
    damaged: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(scripted_service())) as client:
        response = client.post("/chat", json={"message": REMIND})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["function_error"].startswith("schedule_reminder failed: The reminder database")
    assert "reminder database" in body["reply"]
    assert str(data_dir) not in response.text
    assert str(damaged) in caplog.text


def test_health_unreadable_reminder_row_is_a_503_without_its_path(data_dir: Path) -> None:
    store = ReminderStore(data_dir / "reminders.sqlite3")
    bad = store.add("edited by hand", NOW + timedelta(days=1))
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE reminders SET due_utc = 'next tuesday' WHERE id = ?", (bad.id,))
    with TestClient(create_app(scripted_service())) as client:
        one = client.get(f"/reminders/{bad.id}")  # was a 500 naming the file
        listed = client.get("/reminders")
    error = assert_error(one, 503, "storage_unavailable")
    assert f"Reminder #{bad.id}" in error["message"] and str(data_dir) not in one.text
    assert listed.status_code == 200 and str(data_dir) not in listed.text
    assert [u["id"] for u in listed.json()["unreadable"]] == [bad.id]


def test_health_doctor_still_names_the_damaged_file(damaged: Path) -> None:
    report = data_report(Settings())
    assert report["reminders_file"] == str(damaged)
    assert "left as it is" in report["error"]
