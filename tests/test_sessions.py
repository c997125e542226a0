"""Chat sessions in the service's SQLite database: bounded, shared by every worker, and
never the reason a chat fails."""

from __future__ import annotations

import io
import logging
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_ollama import CHAT_TEXT, FakeOllama
from processes import child_env, funcgemma

from funcgemma.api.app import WORKER_ENV, from_environment
from funcgemma.backends.scripted import ScriptedBackend
from funcgemma.cli import main
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.sessions import SessionStore
from funcgemma.settings import Settings
from funcgemma.storage import Database
from funcgemma.types import Message


def store_at(path: Path, **settings: Any) -> SessionStore:
    """A store over the file ``path``, as one worker opens it."""
    database = Database(path)
    return SessionStore(lambda: database, Settings(**settings))


def contents(messages: Sequence[Message]) -> list[str]:
    return [m.content for m in messages]


def make_conversation(**settings: Any) -> tuple[Conversation, ScriptedBackend]:
    cfg = Settings(**settings)
    registry = default_registry()
    router = Router(ScriptedBackend({}), registry, settings=cfg)
    chat = ScriptedBackend(reply=lambda messages: f"echo: {messages[-1].content}")
    return Conversation(router, chat, registry, FunctionContext(settings=cfg), cfg), chat


def test_session_store_keeps_the_last_turns_oldest_first(tmp_path: Path) -> None:
    store = store_at(tmp_path / "db.sqlite3", history_turns=2)
    for i in range(5):
        store.remember("alice", f"a{i}", f"r{i}")
    store.remember("bob", "b0", "s0")
    history = store.history("alice")
    assert contents(history) == ["a3", "r3", "a4", "r4"]
    assert [m.role for m in history] == ["user", "assistant"] * 2
    assert contents(store.history("bob")) == ["b0", "s0"]
    assert store.history("carol") == []
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # trimmed on disk, not only read
        (rows,) = db.execute("SELECT COUNT(*) FROM sessions WHERE session_id = 'alice'").fetchone()
    db.close()
    assert rows == 4


def test_session_store_drops_the_least_recently_used_session(tmp_path: Path) -> None:
    store = store_at(tmp_path / "db.sqlite3", max_sessions=2)
    store.remember("s1", "one", "r")
    store.remember("s2", "two", "r")
    store.remember("s1", "again", "r")  # s1 is now the most recently used
    store.remember("s3", "three", "r")  # evicts s2
    assert store.history("s2") == []
    assert contents(store.history("s1")) == ["one", "r", "again", "r"]
    assert contents(store.history("s3")) == ["three", "r"]


def test_session_store_lowered_bounds_apply_to_what_an_earlier_run_kept(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    before = store_at(path, history_turns=8, max_sessions=10)
    for n in range(5):
        before.remember(f"s{n}", "hi", "r")
        before.remember(f"s{n}", "more", "r")
    after = store_at(path, history_turns=1, max_sessions=2)
    assert contents(after.history("s0")) == ["more", "r"]  # the bound applies as read
    after.remember("new", "hi", "r")  # a new session: all beyond the bound go at once
    assert [s for s in ("s0", "s1", "s2", "s3", "s4", "new") if after.history(s)] == ["s4", "new"]


def test_session_store_history_turns_zero_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store_at(path).remember("s1", "kept earlier", "r")
    off = store_at(path, history_turns=0)
    off.remember("s1", "my secret", "r")
    assert off.history("s1") == []
    with sqlite3.connect(path) as db:
        stored = [c for (c,) in db.execute("SELECT content FROM sessions")]
    db.close()
    assert "my secret" not in stored


def test_session_store_two_workers_see_each_others_turns(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first, second = store_at(path, max_sessions=2), store_at(path, max_sessions=2)
    first.remember("s", "hello", "hi there")
    second.remember("s", "and again", "yes?")
    assert contents(first.history("s")) == ["hello", "hi there", "and again", "yes?"]
    assert first.history("s") == second.history("s")
    # the LRU order is the database's, whichever worker used the session
    first.remember("t", "t", "r")
    second.remember("s", "s again", "r")
    first.remember("u", "u", "r")  # evicts t, the least recently used by either
    assert second.history("t") == [] and second.history("s") != []
    second.reset("s")
    assert first.history("s") == []


def test_session_store_concurrent_turns_stay_whole_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    workers = [store_at(path, history_turns=100) for _ in range(2)]
    threads, turns = 4, 8
    start = threading.Barrier(threads)

    def chat(n: int) -> None:
        start.wait()
        for i in range(turns):
            workers[(n + i) % 2].remember("shared", f"q{n}.{i}", f"a{n}.{i}")

    running = [threading.Thread(target=chat, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    history = workers[0].history("shared")
    assert len(history) == 2 * threads * turns
    for question, answer in zip(history[::2], history[1::2], strict=True):
        assert question.role == "user" and answer.role == "assistant"
        assert answer.content == "a" + question.content[1:], "a turn's messages were split"
    for n in range(threads):  # each thread's turns in the order it sent them
        mine = [m.content for m in history[::2] if m.content.startswith(f"q{n}.")]
        assert mine == [f"q{n}.{i}" for i in range(turns)]


def test_session_store_row_edited_by_hand_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = store_at(path)
    store.remember("s", "hello", "hi")
    store.remember("s", "bye", "ciao")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET role = 'wizard' WHERE content = 'hello'")
    db.close()
    assert contents(store.history("s")) == ["hi", "bye", "ciao"]


def test_conversation_keeps_sessions_in_the_data_directory(data_dir: Path) -> None:
    first, _ = make_conversation()
    first.ask("hello", "s1")
    restarted, chat = make_conversation()  # a second worker, or the service restarted
    restarted.ask("again", "s1")
    sent = chat.calls[-1][0]
    assert contents(sent[1:]) == ["hello", "echo: hello", "again"]
    with sqlite3.connect(data_dir / "reminders.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (4,)
    db.close()


def test_conversation_damaged_database_answers_without_history(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "reminders.sqlite3").write_bytes(b"this is not a database" * 100)
    conv, chat = make_conversation()
    with caplog.at_level(logging.WARNING, logger="funcgemma.sessions"):
        first = conv.ask("hello", "s1")
        second = conv.ask("again", "s1")
    assert (first.reply, second.reply) == ("echo: hello", "echo: again")
    assert contents(chat.calls[-1][0][1:]) == ["again"]  # no history, no error
    assert conv.history("s1") == []
    conv.reset("s1")  # never raises either
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and "chat history cannot be kept" in warned[0].getMessage()
    assert (data_dir / "reminders.sqlite3").read_bytes().startswith(b"this is not"), "left as is"


def test_conversation_unwritable_data_directory_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    conv, _ = make_conversation(data_dir=blocker / "data")
    assert conv.ask("hello", "s1").reply == "echo: hello"
    assert conv.history("s1") == []


@pytest.mark.parametrize("workers", ["0", "65", "-3"])
def test_cli_serve_workers_out_of_range_is_refused(workers: str) -> None:
    err = io.StringIO()
    code = main(["serve", "--workers", workers], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert err.getvalue().count("\n") == 1 and "--workers must be 1-64" in err.getvalue()


def test_cli_serve_workers_refuses_a_callers_conversation() -> None:
    conv, _ = make_conversation()
    err = io.StringIO()
    code = main(["serve", "--workers", "2"], stdout=io.StringIO(), stderr=err, conversation=conv)
    assert code == 2 and "--workers" in err.getvalue()


def test_app_from_environment_uses_the_parents_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCGEMMA_BACKEND", "ollama")
    monkeypatch.setenv(WORKER_ENV, '{"host": "0.0.0.0", "reason": "auto: from the parent"}')
    app = from_environment()
    service = app.state.service
    assert (service.backend_kind, service.backend_reason) == ("ollama", "auto: from the parent")
    assert service.bind_host == "0.0.0.0"
    service.conversation.close()


def test_app_from_environment_bad_setting_stops_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FUNCGEMMA_BACKEND", "nonsense")
    with pytest.raises(SystemExit) as stopped:
        from_environment()
    assert stopped.value.code == 3  # uvicorn's startup failure: not restarted in a loop
    assert any("FUNCGEMMA_BACKEND" in r.getMessage() for r in caplog.records)


ROUTED = re.compile(r"INFO funcgemma\.router \[(\d+)\]: routed ")


@pytest.mark.slow
def test_sessions_e2e_two_workers_continue_one_session(tmp_path: Path) -> None:
    """`serve --workers 2`: turns of one session answered by different worker processes
    each reach the chat model with every earlier turn."""
    log = tmp_path / "serve.log"
    with FakeOllama.from_scenario("e2e") as fake:
        env = child_env(
            FUNCGEMMA_OLLAMA_HOST=fake.url,
            FUNCGEMMA_DATA_DIR=str(tmp_path / "data"),
            FUNCGEMMA_HISTORY_TURNS="100",
        )
        with funcgemma(
            ["-v", "--backend", "ollama", "serve", "--workers", "2"],
            env=env,
            log=log,
            ready_path="/health/ready",
        ) as url:
            sent: list[str] = []
            pids: set[str] = set()
            # a new connection each time, so the kernel hands each to whichever worker
            # accepts first; stop once two workers have answered (and a turn after that)
            while len(sent) < 60 and (len(pids) < 2 or len(sent) < 4):
                sent.append(f"hello number {len(sent)}")
                response = httpx.post(
                    f"{url}/chat", json={"message": sent[-1], "session_id": "shared"}, timeout=30
                )
                assert response.status_code == 200, response.text
                assert response.json()["reply"] == CHAT_TEXT
                pids = set(ROUTED.findall(log.read_text(errors="replace")))
        assert len(ROUTED.findall(log.read_text(errors="replace"))) == len(sent)
        assert len(pids) >= 2, f"one worker answered all {len(sent)} requests"
        chats = [r for r in fake.chat_requests if not r.get("tools")]
        assert len(chats) == len(sent)
        for n, request in enumerate(chats):
            users = [m["content"] for m in request["messages"] if m["role"] == "user"]
            assert users == sent[: n + 1], f"turn {n} did not see the earlier turns"
            replies = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
            assert replies == [CHAT_TEXT] * n
        assert fake.problems() == []
