"""The real `funcgemma` CLI and chat loop, driven through injected streams with a
conversation over scripted backends."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fake_ollama import DEFAULT_MODELS, FakeOllama

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.cli import main
from funcgemma.conversation import Conversation
from funcgemma.errors import BackendTimeout, FuncgemmaError
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Completion, Message, RouteResult

NOW = datetime(2025, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
SCRIPT: dict[str, Completion | str | FuncgemmaError] = {
    "Translate hello into French": tool_call("translation_assist", text="hello",
                                             target_language="French"),
    "Remind me to stretch in 30 minutes": tool_call("schedule_reminder", task="stretch",
                                                    time="in 30 minutes"),
    "hello": "Hi!",
    "slow": BackendTimeout("Ollama did not answer in time. Raise FUNCGEMMA_TIMEOUT_S."),
    "garbage": "<start_function_call>call:weather_info{location:<end_function_call>",
}


def reply(messages: Sequence[Message]) -> str:
    return f"reply to {messages[-1].content}"


def make_conversation() -> Conversation:
    settings = Settings()
    registry = default_registry()
    router = Router(ScriptedBackend(SCRIPT, model="router-test"), registry, settings=settings)
    chat = ScriptedBackend(reply=reply, model="chat-test")
    ctx = FunctionContext(settings=settings, now=lambda: NOW)
    return Conversation(router, chat, registry, ctx, settings)


def run_cli(argv: list[str], stdin: str = "",
            conversation: Conversation | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err,
                conversation=conversation)
    return code, out.getvalue(), err.getvalue()


def chat(lines: list[str], conversation: Conversation | None = None) -> tuple[int, str, str]:
    return run_cli(["chat"], "".join(f"{line}\n" for line in lines),
                   conversation or make_conversation())


def test_cli_chat_banner_shows_backend_and_reason() -> None:
    code, out, _ = chat(["/quit"])
    assert code == 0
    first = out.splitlines()[0]
    assert first == "funcgemma chat · backend: scripted (conversation supplied by the caller)"
    assert "/functions" in out.splitlines()[1]


def test_cli_chat_routed_turn_prints_call_and_streams_reply() -> None:
    code, out, err = chat(["Translate hello into French", "/quit"])
    assert code == 0, err
    call_line = '  [translation_assist {"text": "hello", "target_language": "French"} · tools_api, '
    assert call_line in out
    assert "bot> reply to Translate hello into French\n" in out
    assert out.rstrip().endswith("bye")


def test_cli_chat_unrouted_turn_prints_no_call_line() -> None:
    _, out, _ = chat(["hello", "/quit"])
    assert "bot> reply to hello\n" in out
    assert "· none" not in out and "[" not in out.split("bot>")[1]


def test_cli_chat_functions_command() -> None:
    _, out, _ = chat(["/functions", "/quit"])
    for name in default_registry().names:
        assert f"  {name}: " in out


def test_cli_chat_reminders_command_lists_saved_reminders() -> None:
    conversation = make_conversation()
    _, out, _ = chat(["/reminders", "Remind me to stretch in 30 minutes", "/reminders", "/quit"],
                     conversation)
    assert out.count("(no reminders)") == 1
    [saved] = reminder_store(conversation.ctx).list()
    assert f"  #{saved.id} 2025-03-12 15:00  stretch\n" in out  # on the user's (Tokyo) clock


def test_cli_chat_reset_starts_a_new_session() -> None:
    conversation = make_conversation()
    _, out, _ = chat(["hello", "/reset", "hello", "/quit"], conversation)
    assert "(new session)" in out
    chat_backend = conversation.chat
    assert isinstance(chat_backend, ScriptedBackend)
    last_messages = chat_backend.calls[-1][0]
    assert [m.role for m in last_messages] == ["system", "user"], "history was not carried over"


def test_cli_chat_keeps_history_within_a_session() -> None:
    conversation = make_conversation()
    chat(["hello", "hello", "/quit"], conversation)
    chat_backend = conversation.chat
    assert isinstance(chat_backend, ScriptedBackend)
    assert [m.role for m in chat_backend.calls[-1][0]] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("command", ["/quit", "/exit"])
def test_cli_chat_quit_exits_zero(command: str) -> None:
    code, out, _ = chat([command, "hello"])
    assert code == 0
    assert "reply to hello" not in out, "nothing after /quit is read"


def test_cli_chat_eof_exits_zero() -> None:
    code, out, err = chat(["hello"])  # no /quit: stdin ends
    assert code == 0, err
    assert "reply to hello" in out and out.rstrip().endswith("bye")


def test_cli_chat_unknown_command_and_help() -> None:
    _, out, _ = chat(["/frobnicate", "/help", "/quit"])
    assert "unknown command /frobnicate;" in out
    assert out.count("/reminders  list reminders") >= 3  # banner, unknown command, /help


def test_cli_chat_error_mid_chat_is_reported_and_loop_continues() -> None:
    code, out, err = chat(["slow", "garbage", "hello", "/quit"])
    assert code == 0
    assert "(error: Ollama did not answer in time. Raise FUNCGEMMA_TIMEOUT_S.)" in out
    # an unusable router output is a plain reply in the chat, not an error
    assert "bot> Sorry, I could not work out what to do with that request." in out
    assert "bot> reply to hello" in out, "the loop went on after the errors"
    assert "Traceback" not in out + err


def test_cli_chat_blank_lines_are_ignored() -> None:
    conversation = make_conversation()
    chat(["", "   ", "/quit"], conversation)
    router_backend = conversation.router.backend
    assert isinstance(router_backend, ScriptedBackend) and router_backend.calls == []


def test_cli_chat_shows_due_reminders_at_start_once() -> None:
    conversation = make_conversation()
    store = reminder_store(conversation.ctx)
    store.add("take the bins out", NOW - timedelta(minutes=10))
    store.add("future thing", NOW + timedelta(days=1))
    _, out, _ = chat(["/quit"], conversation)
    assert "⏰ reminder due: take the bins out (" in out
    assert "future thing" not in out
    _, again, _ = chat(["/quit"], conversation)
    assert "⏰" not in again, "a shown reminder is marked notified"


def test_cli_route_json_prints_a_route_result() -> None:
    code, out, err = run_cli(["route", "Translate hello into French", "--json"],
                             conversation=make_conversation())
    assert code == 0, err
    result = RouteResult.model_validate(json.loads(out))
    assert result.calls[0].name == "translation_assist" and result.source == "tools_api"
    assert out.count("\n") == 1


def test_cli_route_plain_output() -> None:
    code, out, _ = run_cli(["route", "Translate hello into French"],
                           conversation=make_conversation())
    assert code == 0
    assert out == 'translation_assist {"text": "hello", "target_language": "French"}\n'
    code, out, _ = run_cli(["route", "hello"], conversation=make_conversation())
    assert (code, out) == (0, "no function applies\n")


@pytest.mark.parametrize(("text", "code", "message"), [
    ("", 2, "funcgemma: `text` is empty; send the message to route.\n"),
    ("slow", 1, "funcgemma: Ollama did not answer in time. Raise FUNCGEMMA_TIMEOUT_S.\n"),
    ("garbage", 1, "funcgemma: The router model produced a function call that could not be "
                   "used (not a valid call of a registered function).\n"),
])
def test_cli_route_errors_exit_nonzero_with_one_line(text: str, code: int, message: str) -> None:
    exit_code, out, err = run_cli(["route", text, "--json"], conversation=make_conversation())
    assert exit_code == code
    assert err == message
    assert out == ""


def test_cli_chat_without_a_backend_says_so(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("FUNCGEMMA_ROUTER_GGUF", str(tmp_path / "missing.gguf"))
    monkeypatch.setenv("FUNCGEMMA_TIMEOUT_S", "2")
    code, out, err = run_cli(["chat"], "hello\n")
    assert code == 1
    assert err.startswith("funcgemma: no model backend is available: ")
    assert "funcgemma doctor" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bot>" not in out


def test_cli_invalid_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    conversation = make_conversation()
    monkeypatch.setenv("FUNCGEMMA_HISTORY_TURNS", "lots")
    code, _, err = run_cli(["route", "hello"], conversation=conversation)
    assert code == 2
    assert err.startswith("funcgemma: invalid setting: FUNCGEMMA_HISTORY_TURNS")
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [["doctor"], ["route", "hello"], ["chat"]])
def test_cli_malformed_ollama_host_is_an_invalid_setting(monkeypatch: pytest.MonkeyPatch,
                                                         argv: list[str]) -> None:
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://[::1")
    code, out, err = run_cli(argv, "hello\n")
    assert code == 2
    assert err.startswith("funcgemma: invalid setting: ") and "OLLAMA_HOST" in err
    assert "Invalid IPv6 URL" in err
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""


def no_embedded_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUNCGEMMA_ROUTER_GGUF", str(tmp_path / "missing-router.gguf"))
    monkeypatch.setenv("FUNCGEMMA_CHAT_GGUF", str(tmp_path / "missing-chat.gguf"))


def test_cli_doctor_explicit_ollama_unreachable_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """--backend ollama is taken without a check when chat starts, so doctor must check
    it: 0 would tell a script that Ollama is usable."""
    no_embedded_weights(monkeypatch, tmp_path)
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("FUNCGEMMA_TIMEOUT_S", "2")
    code, out, err = run_cli(["--backend", "ollama", "doctor"])
    assert code == 1
    assert "backend: ollama (chosen with --backend ollama" in out
    assert "unreachable: Cannot reach Ollama at http://127.0.0.1:9." in out
    assert "no usable backend: Cannot reach Ollama at http://127.0.0.1:9." in out
    assert err == ""


@pytest.mark.parametrize(("models", "code"), [(DEFAULT_MODELS, 0), (DEFAULT_MODELS[:1], 1)])
def test_cli_doctor_explicit_ollama_exit_code_follows_its_models(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models: tuple[Any, ...],
        code: int) -> None:
    no_embedded_weights(monkeypatch, tmp_path)
    with FakeOllama(models=models) as fake:
        monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", fake.url)
        got, out, _ = run_cli(["--backend", "ollama", "doctor"])
    assert got == code
    assert ("no usable backend: Ollama lacks gemma3:4b (run `ollama pull gemma3:4b`)"
            in out) == bool(code)


@pytest.mark.llamacpp
def test_cli_doctor_explicit_llamacpp_without_weights_exits_1(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_embedded_weights(monkeypatch, tmp_path)
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("FUNCGEMMA_TIMEOUT_S", "2")
    code, out, _ = run_cli(["--backend", "llamacpp", "doctor"])
    assert code == 1
    assert "no usable backend: " in out and "FUNCGEMMA_ROUTER_GGUF points at" in out


def test_cli_usage_errors_and_help_use_the_given_streams() -> None:
    code, out, err = run_cli(["--backend", "nope", "chat"])
    assert code == 2 and "invalid choice: 'nope'" in err and out == ""
    code, out, err = run_cli(["--help"])
    assert code == 0 and "usage: funcgemma" in out and err == ""


def test_cli_serve_refuses_public_host_without_api_key() -> None:
    code, _, err = run_cli(["serve", "--host", "0.0.0.0"], conversation=make_conversation())
    assert code == 2
    assert "FUNCGEMMA_API_KEY" in err


def scripted_router_calls(conversation: Conversation) -> list[Any]:
    backend = conversation.router.backend
    assert isinstance(backend, ScriptedBackend)
    return backend.calls


def test_cli_chat_slash_text_with_spaces_is_a_message() -> None:
    conversation = make_conversation()
    chat(["/not a command", "/quit"], conversation)
    [(messages, _)] = scripted_router_calls(conversation)
    assert messages[-1].content == "/not a command"


def test_cli_reminders_subcommand_lists_deletes_and_takes_due_ones() -> None:
    conversation = make_conversation()
    store = reminder_store(conversation.ctx)
    code, out, err = run_cli(["reminders"], conversation=conversation)
    assert (code, out) == (0, "(no reminders)\n"), err
    bins = store.add("take the bins out", NOW - timedelta(minutes=10))
    call = store.add("call mom", NOW + timedelta(days=1))
    code, out, err = run_cli(["reminders", "list"], conversation=conversation)
    assert code == 0, err
    assert out == (f"#{bins.id} 2025-03-12 14:20  take the bins out\n"
                   f"#{call.id} 2025-03-13 14:30  call mom\n")
    code, out, err = run_cli(["reminders", "due", "--json"], conversation=conversation)
    assert code == 0, err
    assert [(r["id"], r["notified"]) for r in json.loads(out)] == [(bins.id, True)]
    assert run_cli(["reminders", "due"], conversation=conversation)[1] == "", "taken once"
    code, out, err = run_cli(["reminders", "delete", f"#{call.id}"], conversation=conversation)
    assert (code, out) == (0, f"deleted reminder #{call.id} 2025-03-13 14:30  call mom\n"), err
    assert [r.what for r in store.list()] == ["take the bins out"]


def test_cli_reminders_subcommand_lists_around_an_unreadable_row() -> None:
    conversation = make_conversation()
    store = reminder_store(conversation.ctx)
    bad = store.add("edited by hand", NOW + timedelta(hours=1))
    kept = store.add("call mom", NOW + timedelta(days=1))
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE reminders SET created_utc = '\x1b]0;pwned\x07' WHERE id = ?",
                   (bad.id,))
    code, out, err = run_cli(["reminders"], conversation=conversation)
    assert code == 0, err
    listed, problem = out.splitlines()
    assert listed == f"#{kept.id} 2025-03-13 14:30  call mom"
    assert problem.startswith(f"#{bad.id} ! Reminder #{bad.id} ")
    assert "/reminders delete" in problem and "\x1b" not in out  # escaped as text
    code, out, err = run_cli(["reminders", "--json"], conversation=conversation)
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [kept.id]
    assert f"Reminder #{bad.id} " in err


@pytest.mark.parametrize(("argv", "says"), [
    (["reminders", "delete"], "needs the reminder's number"),
    (["reminders", "delete", "two"], "needs the reminder's number"),
    (["reminders", "list", "3"], "takes no number"),
    (["reminders", "delete", "99"], "no reminder #99"),
])
def test_cli_reminders_subcommand_misuse_is_one_line_and_exit_2(argv: list[str],
                                                                says: str) -> None:
    conversation = make_conversation()
    reminder_store(conversation.ctx).add("kept", NOW + timedelta(days=1))
    code, out, err = run_cli(argv, conversation=conversation)
    assert code == 2 and out == ""
    assert err.startswith("funcgemma: ") and says in err and err.count("\n") == 1
    assert [r.what for r in reminder_store(conversation.ctx).list()] == ["kept"]


def test_cli_reminders_subcommand_loads_no_model() -> None:
    """Without a conversation given, it opens the store from settings and nothing else."""
    code, out, err = run_cli(["--backend", "ollama", "reminders"])
    assert (code, out) == (0, "(no reminders)\n"), err


def _doctor_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    no_embedded_weights(monkeypatch, tmp_path)
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("FUNCGEMMA_TIMEOUT_S", "2")
    monkeypatch.setenv("FUNCGEMMA_TIMEZONE", "Asia/Tokyo")
    code, out, _ = run_cli(["--backend", "ollama", "doctor"])
    section = out.split("== Data\n", 1)[1].split("== Selection", 1)[0]
    return code, json.loads(section)


def test_cli_doctor_data_section_counts_reminders_and_creates_no_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> None:
    from funcgemma.functions.schedule_reminder.recurrence import Repeat
    from funcgemma.functions.schedule_reminder.store import ReminderStore

    code, data = _doctor_data(monkeypatch, tmp_path)
    assert code == 1  # Ollama named and unreachable: the data section changes nothing
    assert data["reminders"].startswith("no file yet") and data["time_zone"] == "Asia/Tokyo"
    assert not (data_dir / "reminders.sqlite3").exists(), "doctor created the file"
    store = ReminderStore(data_dir / "reminders.sqlite3")
    store.add("once", NOW)
    store.add("weekly", NOW, repeat=Repeat("weekly", NOW.time(), 2))
    store.mark_notified([1])
    _, data = _doctor_data(monkeypatch, tmp_path)
    assert data["reminders"] == {"total": 2, "pending": 1, "repeating": 1}
    assert data["reminders_file"] == str(data_dir / "reminders.sqlite3")
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE reminders SET due_utc = 'soon' WHERE id = 2")
    _, data = _doctor_data(monkeypatch, tmp_path)
    assert data["reminders"]["total"] == 2 and data["reminders"]["pending"] == 0
    assert [p.split(" in ")[0] for p in data["reminders"]["unreadable"]] == ["Reminder #2"]


def test_cli_doctor_says_what_is_wrong_with_the_reminders_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "reminders.sqlite3").write_bytes(b"not a database, my notes" * 100)
    code, data = _doctor_data(monkeypatch, tmp_path)
    assert code == 1 and "left as it is" in data["error"]
    assert (data_dir / "reminders.sqlite3").read_bytes() == b"not a database, my notes" * 100
