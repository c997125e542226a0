"""Idempotency-Key: create_app over real routing, conversation and SQLite, scripted models;
and, marked slow, a real `funcgemma serve` killed with SIGKILL mid-burst and restarted."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from apierrors import assert_error
from fake_ollama import CHAT_TEXT, NO_CALL_TEXT, FakeOllama, Reply, call, free_port, last_user_text
from fastapi.testclient import TestClient
from processes import child_env, start, stop, wait_until

from funcgemma.api import Service, create_app
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.conversation import Conversation
from funcgemma.errors import BackendUnavailable, FuncgemmaError
from funcgemma.functions.context import FunctionContext, keyed_request
from funcgemma.functions.schedule_reminder.store import ReminderStore
from funcgemma.idempotency import LIFETIME, PENDING_LEASE, IdempotencyStore, body_digest
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call, Completion, Message

NOW = datetime(2025, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
REMIND = "明日の朝9時に会議をリマインドして"
TWO = "Remind me to call mom at 6pm and to water the plants at 7pm"
SCRIPT: dict[str, Completion | str | FuncgemmaError] = {
    REMIND: tool_call("schedule_reminder", task="会議", time="明日の朝9時"),
    TWO: Completion(
        tool_calls=[
            Call(name="schedule_reminder", arguments={"task": "call mom", "time": "6pm"}),
            Call(name="schedule_reminder", arguments={"task": "water the plants", "time": "7pm"}),
        ]
    ),
    "hello": "Hi!",
    "unavailable": BackendUnavailable("Cannot reach Ollama at http://127.0.0.1:11434."),
}


class Gate:
    """A chat model a test can hold in the middle of a reply."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()

    def __call__(self, messages: Sequence[Message]) -> str:
        self.entered.set()
        assert self.open.wait(10), "the test never let the reply go"
        return f"reply to {messages[-1].content}"


@dataclass
class App:
    client: TestClient
    router: ScriptedBackend
    gate: Gate


@pytest.fixture
def make_app() -> Iterator[Callable[..., App]]:
    """A service over the test's data directory; each call is a restart of it."""
    clients: list[TestClient] = []

    def make(clock: Callable[[], datetime] | None = None) -> App:
        cfg = Settings()
        registry = default_registry()
        router = ScriptedBackend(SCRIPT, model="router-test")
        gate = Gate()
        ctx = FunctionContext(settings=cfg, now=lambda: NOW)
        conversation = Conversation(
            Router(router, registry, settings=cfg),
            ScriptedBackend(reply=gate, model="chat-test"),
            registry,
            ctx,
            cfg,
        )
        app = create_app(Service(conversation, cfg, "scripted", "built by the test"))
        if clock is not None:
            app.state.idempotency = IdempotencyStore(ctx.database(), clock=clock)
        client = TestClient(app).__enter__()
        clients.append(client)
        return App(client, router, gate)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()


def reminders() -> list[Any]:
    return ReminderStore(Settings().reminders_db).list()


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}




def rows(sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(Settings().reminders_db)) as db:
        return db.execute(sql, params).fetchall()


def left_by_a_dead_process(key: str) -> None:
    """Make the pending row of ``key`` look as a kill -9 leaves it: held by a process
    that is gone, no answer stored."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with closing(sqlite3.connect(Settings().reminders_db)) as db, db:
        db.execute(
            "UPDATE idempotency_keys SET state = 'pending', status = NULL, "
            "response = NULL, owner = ? WHERE key = ?",
            (f"{socket.gethostname()}:{proc.pid}", key),
        )


# --- replay ---------------------------------------------------------------------------


def test_idempotency_replay_returns_the_first_answer_and_saves_one_reminder(app: App) -> None:
    first = app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-1"))
    again = app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-1"))
    assert first.status_code == again.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert first.json()["function_result"]["saved"] is True
    assert [r.what for r in reminders()] == ["会議"]
    assert len(app.router.calls) == 1  # the replay did not even route


def test_idempotency_keyed_answer_has_the_unkeyed_shape(app: App) -> None:
    plain = app.client.post("/chat", json={"message": "hello", "session_id": "s1"}).json()
    with_key = app.client.post(
        "/chat", json={"message": "hello", "session_id": "s2"}, headers=keyed("k-shape")
    ).json()
    assert set(with_key) == set(plain)
    assert with_key["reply"] == plain["reply"] and with_key["route"]["calls"] == []


def test_idempotency_without_a_key_every_request_runs(app: App) -> None:
    for _ in range(2):
        response = app.client.post("/chat", json={"message": REMIND})
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    assert len(reminders()) == 2
    tables = {name for (name,) in rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "idempotency_keys" not in tables  # nothing kept for requests without a key


def test_idempotency_two_calls_in_one_request_are_each_saved_once(app: App) -> None:
    first = app.client.post("/chat", json={"message": TWO}, headers=keyed("k-two"))
    assert first.status_code == 200, first.text
    assert sorted(r.what for r in reminders()) == ["call mom", "water the plants"]
    left_by_a_dead_process("k-two")  # killed before the answer was stored: runs again
    again = app.client.post("/chat", json={"message": TWO}, headers=keyed("k-two"))
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers
    assert sorted(r.what for r in reminders()) == ["call mom", "water the plants"]


def test_idempotency_json_body_written_another_way_is_the_same_request(app: App) -> None:
    first = app.client.post(
        "/chat",
        content=json.dumps({"message": REMIND, "stream": False}),
        headers={**keyed("k-json"), "content-type": "application/json"},
    )
    again = app.client.post(
        "/chat",
        content=f'{{ "stream" : false, "message" : "{REMIND}" }}',
        headers={**keyed("k-json"), "content-type": "application/json"},
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    assert len(reminders()) == 1


def test_idempotency_body_digest_is_of_the_canonical_json() -> None:
    assert body_digest(b'{"a": 1, "b": [2]}') == body_digest(b'{"b":[2],"a":1}')
    assert body_digest(b'{"a": 1}') != body_digest(b'{"a": 2}')
    assert body_digest(b"") != body_digest(b"{}")
    assert body_digest(b"[" * 100_000) != body_digest(b"[" * 99_999)  # too deep: as bytes


# --- a key used for another request, a malformed key ----------------------------------


def test_idempotency_key_reused_for_another_body_is_422_and_does_nothing(app: App) -> None:
    assert (
        app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-reuse")).status_code
        == 200
    )
    error = assert_error(
        app.client.post("/chat", json={"message": TWO}, headers=keyed("k-reuse")),
        422,
        "idempotency_key_reused",
    )
    assert "new key" in error["message"] and error["retryable"] is False
    assert_error(
        app.client.post("/reminders/due", headers=keyed("k-reuse")), 422, "idempotency_key_reused"
    )
    assert [r.what for r in reminders()] == ["会議"]
    assert len(app.router.calls) == 1


@pytest.mark.parametrize(
    "key",
    ["", " ", "has space", "é-accent", "a" * 256, '""'],
    ids=["empty", "a space", "inner space", "not ascii", "256 chars", "empty quoted"],
)
def test_idempotency_malformed_key_is_422(app: App, key: str) -> None:
    response = app.client.post(
        "/chat", json={"message": REMIND}, headers={"Idempotency-Key": key.encode()}
    )  # é as UTF-8
    error = assert_error(response, 422, "invalid_request")
    assert "`Idempotency-Key` must be 1-255 visible ASCII characters" in error["message"]
    assert reminders() == []


def test_idempotency_key_of_255_chars_and_the_quoted_form_are_accepted(app: App) -> None:
    long_key = "k" * 255
    assert (
        app.client.post("/chat", json={"message": REMIND}, headers=keyed(long_key)).status_code
        == 200
    )
    quoted = app.client.post("/chat", json={"message": REMIND}, headers=keyed(f'"{long_key}"'))
    assert quoted.headers["Idempotent-Replayed"] == "true"  # the draft's sf-string form
    assert len(reminders()) == 1


def test_idempotency_two_key_headers_are_422(app: App) -> None:
    response = app.client.post(
        "/chat",
        json={"message": REMIND},
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert "one `Idempotency-Key`" in assert_error(response, 422, "invalid_request")["message"]


# --- concurrency, restarts, expiry -------------------------------------------------------


def test_idempotency_retry_while_the_first_runs_is_409_and_runs_once(app: App) -> None:
    app.gate.open.clear()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            app.client.post, "/chat", json={"message": REMIND}, headers=keyed("k-busy")
        )
        assert app.gate.entered.wait(10)
        error = assert_error(
            app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-busy")),
            409,
            "idempotency_key_in_progress",
        )
        assert error["retryable"] is True
        app.gate.open.set()
        assert first.result().status_code == 200
    again = app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-busy"))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.result().content
    assert len(reminders()) == 1 and len(app.router.calls) == 1


def test_idempotency_burst_of_one_key_runs_once(app: App) -> None:
    def post(_: int) -> httpx.Response:
        return app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-burst"))

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    ran = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(ran) == 1
    assert all(
        r.status_code == 409 or r.headers.get("idempotent-replayed") == "true"
        for r in responses
        if r is not ran[0]
    )
    assert len(reminders()) == 1


def test_idempotency_answer_survives_a_restart(make_app: Callable[..., App]) -> None:
    first = make_app().client.post("/chat", json={"message": REMIND}, headers=keyed("k-restart"))
    restarted = make_app()
    again = restarted.client.post("/chat", json={"message": REMIND}, headers=keyed("k-restart"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    assert len(reminders()) == 1 and restarted.router.calls == []


def test_idempotency_expired_key_runs_again(make_app: Callable[..., App]) -> None:
    now = [datetime(2025, 3, 12, 5, 30, tzinfo=timezone.utc)]
    app = make_app(clock=lambda: now[0])
    assert (
        app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-old")).status_code
        == 200
    )
    now[0] += LIFETIME - timedelta(minutes=1)
    kept = app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-old"))
    assert kept.headers["Idempotent-Replayed"] == "true" and len(reminders()) == 1
    now[0] += timedelta(minutes=2)  # over 24 h since the first
    again = app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-old"))
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers
    assert len(reminders()) == 2
    assert rows("SELECT count(*) FROM idempotency_keys") == [(1,)]  # the old row pruned


# --- the crash window: killed after the write, before the answer was stored -------------


def test_idempotency_retry_after_a_crash_does_not_save_twice(make_app: Callable[..., App]) -> None:
    first = make_app().client.post("/chat", json={"message": REMIND}, headers=keyed("k-crash"))
    left_by_a_dead_process("k-crash")
    again = make_app().client.post("/chat", json={"message": REMIND}, headers=keyed("k-crash"))
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers  # re-run
    assert again.json()["function_result"]["id"] == first.json()["function_result"]["id"]
    assert len(reminders()) == 1
    assert rows("SELECT state, owner FROM idempotency_keys") == [("done", "")]


def test_idempotency_pending_key_of_a_live_process_is_409(app: App) -> None:
    assert (
        app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-live")).status_code
        == 200
    )
    with closing(sqlite3.connect(Settings().reminders_db)) as db, db:  # another worker's
        db.execute(
            "UPDATE idempotency_keys SET state = 'pending', owner = ?, locked_at = ?",
            (
                f"{socket.gethostname()}:{os.getppid()}",
                datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            ),
        )
    assert_error(
        app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-live")),
        409,
        "idempotency_key_in_progress",
    )
    stale = datetime.now(timezone.utc) - PENDING_LEASE - timedelta(seconds=1)
    with closing(sqlite3.connect(Settings().reminders_db)) as db, db:  # ...whose lease ran out
        db.execute(
            "UPDATE idempotency_keys SET locked_at = ?", (stale.isoformat(timespec="microseconds"),)
        )
    assert (
        app.client.post("/chat", json={"message": REMIND}, headers=keyed("k-live")).status_code
        == 200
    )
    assert len(reminders()) == 1


def test_reminders_add_with_a_key_saves_once() -> None:
    store = ReminderStore(Settings().reminders_db)
    first = store.add("tea", NOW + timedelta(hours=1), key="run#0")
    again = store.add("tea", NOW + timedelta(hours=2), key="run#0")
    other = store.add("tea", NOW + timedelta(hours=1), key="run#1")
    assert again == first and other.id != first.id
    assert [r.id for r in store.list()] == [first.id, other.id]
    store.delete(first.id)
    assert store.add("tea", NOW, key="run#0") == first  # as it was saved


def test_function_context_action_key_names_the_request_and_the_call() -> None:
    ctx = FunctionContext(settings=Settings())
    assert ctx.action_key() is None
    with keyed_request("run"), ctx.calling(2):
        assert ctx.action_key() == "run#2"
    assert ctx.action_key() is None


# --- the other routes that change state ----------------------------------------------


def test_idempotency_delete_replay_answers_with_the_deleted_reminder(app: App) -> None:
    rid = ReminderStore(Settings().reminders_db).add("tea", NOW + timedelta(hours=1)).id
    first = app.client.delete(f"/reminders/{rid}", headers=keyed("k-del"))
    again = app.client.delete(f"/reminders/{rid}", headers=keyed("k-del"))
    assert first.status_code == 200 and first.json()["deleted"]["id"] == rid
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    assert_error(app.client.delete(f"/reminders/{rid}"), 404, "not_found")  # no key: as today
    missing = app.client.delete("/reminders/999", headers=keyed("k-del-404"))
    assert_error(missing, 404, "not_found")
    replayed = app.client.delete("/reminders/999", headers=keyed("k-del-404"))
    assert replayed.status_code == 404 and replayed.headers["Idempotent-Replayed"] == "true"


def test_idempotency_take_due_cut_off_before_its_answer_gives_the_same_reminders(app: App) -> None:
    store = ReminderStore(Settings().reminders_db)
    due = store.add("tea", NOW - timedelta(hours=1))
    first = app.client.post("/reminders/due", headers=keyed("k-due"))
    assert [r["id"] for r in first.json()["reminders"]] == [due.id]
    again = app.client.post("/reminders/due", headers=keyed("k-due"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    left_by_a_dead_process("k-due")  # the claim was committed, the answer never stored
    retried = app.client.post("/reminders/due", headers=keyed("k-due"))
    assert "idempotent-replayed" not in retried.headers
    assert retried.json() == first.json()  # not [], which would lose the reminder
    assert app.client.post("/reminders/due").json()["reminders"] == []


# --- errors ----------------------------------------------------------------------------


def test_idempotency_retryable_error_lets_the_retry_run(app: App) -> None:
    for _ in range(2):
        response = app.client.post("/chat", json={"message": "unavailable"}, headers=keyed("k-503"))
        assert_error(response, 503, "backend_unavailable")
        assert "idempotent-replayed" not in response.headers
    assert len(app.router.calls) == 2


def test_idempotency_client_error_is_replayed(app: App) -> None:
    body = {"message": REMIND, "session_id": "has space"}
    first = app.client.post("/chat", json=body, headers=keyed("k-422"))
    assert_error(first, 422, "invalid_request")
    again = app.client.post("/chat", json=body, headers=keyed("k-422"))
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_idempotency_unwritable_data_dir_is_503_not_500(app: App, data_dir: Path) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir.write_text("a file where the data directory should be")
    error = assert_error(
        app.client.post("/reminders/due", headers=keyed("k-disk")), 503, "storage_unavailable"
    )
    assert "FUNCGEMMA_DATA_DIR" in error["message"] and str(data_dir) not in error["message"]
    assert app.client.post("/chat", json={"message": "hello"}).status_code == 200


# --- streamed /chat ----------------------------------------------------------------------


def stream_events(client: TestClient, key: str) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with client.stream(
        "POST", "/chat", json={"message": REMIND, "stream": True}, headers=keyed(key)
    ) as response:
        events = [json.loads(line) for line in response.iter_lines() if line]
    return response, events


def test_idempotency_streamed_chat_replays_as_one_shot_ndjson(app: App) -> None:
    first, events = stream_events(app.client, "k-stream")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again, replayed = stream_events(app.client, "k-stream")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"].startswith("application/x-ndjson")
    assert [e["type"] for e in replayed] == ["route", "delta", "done"]
    assert replayed[0] == events[0] and replayed[-1] == events[-1]
    assert replayed[1]["text"] == events[-1]["reply"] == f"reply to {REMIND}"
    assert len(reminders()) == 1


# --- a real server killed with SIGKILL mid-burst -----------------------------------------

SERVE_START_S = 60.0
TEXT = "remind me to call mom tomorrow at 9am"


class Model:
    """The fake Ollama's script: reminders for the router; ``hold`` makes the chat model
    (and the router, for a message with "wait") hang until the server is killed."""

    def __init__(self) -> None:
        self.hold = False

    def __call__(self, request: dict[str, Any]) -> Reply:
        delay = 120.0 if self.hold else 0.0
        if not request.get("tools"):
            return Reply(content=CHAT_TEXT, delay_s=delay)
        text = last_user_text(request).lower()
        if "remind" not in text:
            return Reply(content=NO_CALL_TEXT)
        return Reply(
            tool_calls=[call("schedule_reminder", task="call mom", time="tomorrow at 9am")],
            delay_s=delay if "wait" in text else 0.0,
        )


def _serve(fake: FakeOllama, data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `funcgemma serve` this test can kill -9 (so not processes.funcgemma's context)."""
    port = free_port()
    env = child_env(FUNCGEMMA_BACKEND="ollama", FUNCGEMMA_OLLAMA_HOST=fake.url,
                    FUNCGEMMA_DATA_DIR=str(data))
    proc = start(["-m", "funcgemma", "serve", "--host", "127.0.0.1", "--port", str(port)],
                 env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health", timeout=1).is_success, proc,
                   "funcgemma serve", log, SERVE_START_S)
    except BaseException:
        stop(proc)
        raise
    return proc, url


def _chat_requests(fake: FakeOllama, *, wait: bool | None = None) -> int:
    found = fake.chat_requests
    if wait is None:
        return sum(1 for r in found if not r.get("tools"))
    return sum(1 for r in found if r.get("tools") and "wait" in last_user_text(r))


@pytest.mark.slow
def test_idempotency_serve_killed_mid_burst_saves_each_keyed_reminder_once(tmp_path: Path) -> None:
    """3 requests confirmed, 4 killed after their reminder was saved (the chat model
    hangs), 1 killed before it (the router hangs); restarted on the same data directory,
    every retry succeeds and there is one reminder per key."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    model = Model()
    bodies = {f"key-{i}": {"message": TEXT + (" (wait)" if i == 7 else f" #{i}")} for i in range(8)}
    procs: list[subprocess.Popen[bytes]] = []
    with FakeOllama(model, loaded=("functiongemma:latest", "gemma3:4b")) as fake:
        try:
            proc, url = _serve(fake, data, log)
            procs.append(proc)
            confirmed = {}
            with httpx.Client(base_url=url, timeout=30) as api:
                for key in ("key-0", "key-1", "key-2"):
                    response = api.post("/chat", json=bodies[key], headers=keyed(key))
                    assert response.status_code == 200, response.text
                    confirmed[key] = response.content
            model.hold = True
            chats_before = _chat_requests(fake)

            def post(key: str) -> httpx.Response | Exception:
                try:
                    return httpx.post(
                        f"{url}/chat", json=bodies[key], headers=keyed(key), timeout=60
                    )
                except httpx.HTTPError as exc:
                    return exc

            with ThreadPoolExecutor(5) as pool:
                cut = pool.map(post, [f"key-{i}" for i in range(3, 8)])
                deadline = time.monotonic() + 30
                while (
                    _chat_requests(fake) - chats_before < 4 or _chat_requests(fake, wait=True) < 1
                ):
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.05)
                proc.kill()  # SIGKILL: no clean-up of any kind
                proc.wait(timeout=10)
                assert all(isinstance(r, Exception) for r in cut)  # none was confirmed
            with closing(sqlite3.connect(data / "reminders.sqlite3")) as db:
                saved_before = {rid for (rid,) in db.execute("SELECT id FROM reminders")}
                states = db.execute(
                    "SELECT state, count(*) FROM idempotency_keys GROUP BY state ORDER BY state"
                ).fetchall()
            assert len(saved_before) == 7  # the crash window was hit: 4 saved, unanswered
            assert states == [("done", 3), ("pending", 5)]

            model.hold = False
            proc, url = _serve(fake, data, log)
            procs.append(proc)
            with httpx.Client(base_url=url, timeout=30) as api:
                with ThreadPoolExecutor(8) as pool:
                    retried = dict(
                        zip(
                            bodies,
                            pool.map(
                                lambda k: api.post("/chat", json=bodies[k], headers=keyed(k)),
                                bodies,
                            ),
                            strict=True,
                        )
                    )
                for key, response in retried.items():
                    assert response.status_code == 200, (key, response.text)
                    if key in confirmed:
                        assert response.headers["Idempotent-Replayed"] == "true"
                        assert response.content == confirmed[key]
                    else:
                        assert "idempotent-replayed" not in response.headers
                ids = [r.json()["function_result"]["id"] for r in retried.values()]
                assert len(set(ids)) == len(bodies)
                assert set(ids) >= saved_before  # the 4 cut off got theirs, not new ones
                listed = api.get("/reminders", params={"include_done": "true"}).json()
                assert len(listed["reminders"]) == len(bodies)  # one per distinct key
                for key in bodies:  # and now every one is a replay
                    response = api.post("/chat", json=bodies[key], headers=keyed(key))
                    assert response.headers["Idempotent-Replayed"] == "true"
                    assert response.content == retried[key].content
                assert len(api.get("/reminders").json()["reminders"]) == len(bodies)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text()
