"""The terminal chat as a user meets it: what a function did is stated as it is, Ctrl-C
stops a reply or a line and never the chat, and reminders that come due while chatting
are shown at the next prompt."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_cli import NOW, SCRIPT, chat, make_conversation

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.cli import main
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import CompletionOptions, Message


def conversation_with(chat_backend: Any, now: Any = lambda: NOW,
                      **settings: Any) -> Conversation:
    cfg = Settings(**settings)
    registry = default_registry()
    script = {**SCRIPT, "Weather in Kyoto tomorrow?": tool_call(
        "weather_info", location="Kyoto", date="tomorrow")}
    router = Router(ScriptedBackend(script, model="router-test"), registry, settings=cfg)
    return Conversation(router, chat_backend, registry, FunctionContext(settings=cfg, now=now),
                        cfg)


def test_chat_states_what_the_reminder_function_saved() -> None:
    code, out, err = chat(["Remind me to stretch in 30 minutes", "/quit"])
    assert code == 0, err
    assert "  = reminder #1 saved: stretch, 2025-03-12 15:00\n" in out
    assert "bot> reply to Remind me to stretch in 30 minutes\n" in out


def test_chat_offline_weather_is_said_as_it_is_not_by_the_chat_model() -> None:
    conv = conversation_with(
        ScriptedBackend(reply=lambda messages: "A sunny day with clear skies!"),
        weather_base_url="http://127.0.0.1:9", geocoding_base_url="http://127.0.0.1:9",
        weather_timeout_s=2)
    code, out, err = chat(["Weather in Kyoto tomorrow?", "/quit"], conv)
    assert code == 0, err
    assert "bot> The forecast could not be fetched (network error" in out
    assert "sunny" not in out
    assert "  = " not in out, "the failure is the reply; it is not printed twice"


class InterruptOnce(io.StringIO):
    """stdin where the user presses Ctrl-C at the first prompt."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.interrupted = False

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return super().readline()


def test_chat_ctrl_c_at_the_prompt_drops_the_line_not_the_chat() -> None:
    out = io.StringIO()
    code = main(["chat"], stdin=InterruptOnce("hello\n/quit\n"), stdout=out,
                stderr=io.StringIO(), conversation=make_conversation())
    assert code == 0
    text = out.getvalue()
    assert "(Ctrl-D or /quit to leave)" in text
    assert "bot> reply to hello" in text and text.rstrip().endswith("bye")


class InterruptedChat(ScriptedBackend):
    """A chat model whose first reply the user interrupts with Ctrl-C after one piece."""

    def __init__(self) -> None:
        super().__init__(reply=lambda messages: f"reply to {messages[-1].content}")
        self.closed = False
        self.replies = 0

    def stream(self, messages: Sequence[Message], *,
               options: CompletionOptions | None = None) -> Iterator[str]:
        self.replies += 1
        if self.replies > 1:
            yield from super().stream(messages, options=options)
            return
        try:
            yield "Once upon a time"
            raise KeyboardInterrupt
        finally:
            self.closed = True


def test_chat_ctrl_c_during_a_reply_stops_it_and_the_chat_goes_on() -> None:
    backend = InterruptedChat()
    conv = conversation_with(backend)
    code, out, err = chat(["tell me a story", "hello", "/quit"], conv)
    assert code == 0, err
    assert "bot> Once upon a time\n(stopped)\n" in out
    assert "bot> reply to hello\n" in out and out.rstrip().endswith("bye")
    assert backend.closed
    # the stopped turn is not in the history the next reply is written from
    [(messages, _)] = [c for c in backend.calls if c[0][-1].content == "hello"]
    assert [m.content for m in messages if m.role == "user"] == ["hello"]


def test_chat_shows_a_reminder_that_comes_due_while_chatting() -> None:
    clock = [NOW]

    def reply(messages: Sequence[Message]) -> str:
        clock[0] += timedelta(minutes=31)  # the user chats on for half an hour
        return "ok"

    conv = conversation_with(ScriptedBackend(reply=reply), now=lambda: clock[0])
    code, out, err = chat(["Remind me to stretch in 30 minutes", "hello", "/quit"], conv)
    assert code == 0, err
    assert out.count("⏰ reminder due: stretch (2025-03-12 15:00)") == 1
    # shown at the prompt after the time passed, before the next message
    assert out.index("⏰ reminder due") < out.index("bot> ok", out.index("bot> ok") + 1)
    assert isinstance(clock[0], datetime)


@pytest.mark.parametrize(("variable", "value"), [
    ("FUNCGEMMA_ROUTER_CALL_BIAS", "nan"),  # every message silently "no function"
    ("FUNCGEMMA_QUEUE_SIZE", "0"),  # every request "busy"
    ("FUNCGEMMA_MAX_TEXT_CHARS", "0"),  # every message "too long"
    ("FUNCGEMMA_TIMEOUT_S", "-1"),
    ("FUNCGEMMA_TIMEZONE", "Mars/Olympus"),  # was "no model backend is available"
    ("FUNCGEMMA_DATE_ORDER", "DDMM"),
])
def test_a_setting_that_would_break_every_request_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    conversation = make_conversation()
    monkeypatch.setenv(variable, value)
    err = io.StringIO()
    code = main(["route", "hello"], stdout=io.StringIO(), stderr=err,
                conversation=conversation)
    assert code == 2
    assert err.getvalue().startswith(f"funcgemma: invalid setting: {variable}:")
    assert "Traceback" not in err.getvalue()


class Terminal(io.StringIO):
    """sys.stdin / sys.stdout of a terminal: the chat then uses prompt_toolkit."""

    def isatty(self) -> bool:
        return True


def terminal_chat(monkeypatch: pytest.MonkeyPatch, keys: str) -> tuple[int | None, str]:
    """The chat with its real prompt_toolkit prompt, typed into through a pipe. Run on a
    thread: a prompt that hangs fails the test instead of stopping the run."""
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    screen = Terminal()
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("sys.stdout", screen)
    result: list[int | BaseException] = []

    def run() -> None:
        with create_pipe_input() as keyboard, create_app_session(input=keyboard,
                                                                 output=DummyOutput()):
            keyboard.send_text(keys)
            try:
                result.append(main(["chat"], conversation=make_conversation()))
            except BaseException as exc:  # noqa: BLE001 - reported below
                result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert result, "the chat hung"
    assert not isinstance(result[0], BaseException), repr(result[0])
    return result[0], screen.getvalue()


def test_chat_data_dir_that_is_a_file_does_not_stop_the_terminal_chat(
        monkeypatch: pytest.MonkeyPatch, data_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The arrow-key history's directory was created unguarded: FileExistsError."""
    data_dir.write_text("a file where the data dir should be")
    code, screen = terminal_chat(monkeypatch, "hello\r/quit\r")
    assert code == 0
    assert "bot> reply to hello" in screen
    assert any("input history is not saved" in r.getMessage() for r in caplog.records)


def test_chat_history_file_that_cannot_be_read_or_written_does_not_stop_the_chat(
        monkeypatch: pytest.MonkeyPatch, data_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """prompt_toolkit failing on the history file printed tracebacks and hung the prompt."""
    (data_dir / "chat_history").mkdir(parents=True)  # unreadable and unwritable as a file
    code, screen = terminal_chat(monkeypatch, "hello\rhello again\r/quit\r")
    assert code == 0
    assert "bot> reply to hello\n" in screen and "bot> reply to hello again\n" in screen
    said = [r.getMessage() for r in caplog.records if "input history" in r.getMessage()]
    assert len(said) == 1 and "Is a directory" in said[0]
    assert not any(r.exc_info for r in caplog.records), "no traceback"


def test_chat_broken_reminder_store_is_said_once_not_before_every_prompt(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "reminders.sqlite3").write_bytes(b"not a database" * 100)
    code, out, _ = chat(["hello", "hello", "/quit"])
    assert code == 0
    said = [r for r in caplog.records if "could not read reminders" in r.getMessage()]
    assert len(said) == 1
    assert "left as it is" in said[0].getMessage()


def test_chat_deletes_a_reminder_by_its_number() -> None:
    conv = conversation_with(ScriptedBackend(reply=lambda messages: "ok"))
    store = reminder_store(conv.ctx)
    keep = store.add("water the plants", NOW + timedelta(days=1))
    drop = store.add("dentist", NOW + timedelta(days=2))
    code, out, err = chat([f"/reminders delete {drop.id}", f"/reminders rm #{drop.id}",
                           "/reminders list", "/quit"], conv)
    assert code == 0, err
    assert f"  deleted reminder #{drop.id} 2025-03-14 14:30  dentist\n" in out
    assert f"  no reminder #{drop.id} (/reminders lists them)\n" in out
    assert f"  #{keep.id} 2025-03-13 14:30  water the plants\n" in out
    assert [r.what for r in store.list()] == ["water the plants"]
    assert "bot>" not in out, "a /reminders command is never sent to the models"


@pytest.mark.parametrize("line", ["/reminders delete", "/reminders delete two",
                                  "/reminders delete 1 2", "/reminders frobnicate 1",
                                  "/reminders delete ١", "/reminders delete -1"])
def test_chat_reminders_command_misused_says_how_and_deletes_nothing(line: str) -> None:
    conv = conversation_with(ScriptedBackend(reply=lambda messages: "ok"))
    reminder_store(conv.ctx).add("kept", NOW + timedelta(days=1))
    code, out, err = chat([line, "/quit"], conv)
    assert code == 0, err
    assert "usage: /reminders  (list them) · /reminders delete N" in out
    assert [r.what for r in reminder_store(conv.ctx).list()] == ["kept"]
    assert "bot>" not in out



def test_chat_control_characters_from_a_model_or_the_store_are_shown_not_obeyed() -> None:
    """A reply or a stored reminder with an escape sequence retitled the terminal, wrote
    its clipboard (OSC 52) or cleared the screen: the terminal obeyed text it was shown."""
    sneaky = "Sure.\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\rline two\n\tindented\x9b31m"
    conv = conversation_with(ScriptedBackend(reply=lambda messages: sneaky))
    reminder_store(conv.ctx).add("bins\x1b[8m hidden", NOW + timedelta(days=1))
    code, out, err = chat(["hello", "/reminders", "/quit"], conv)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out
    assert "bot> Sure.\\x1b]0;pwned\\x07\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\x0dline two\n" in out
    assert "\n\tindented\\x9b31m\n" in out, "newlines and tabs are kept"
    assert "  bins\\x1b[8m hidden\n" in out


def test_chat_lists_a_repeating_reminder_with_its_repetition() -> None:
    from funcgemma.functions.schedule_reminder.recurrence import Repeat

    conv = conversation_with(ScriptedBackend(reply=lambda messages: "ok"))
    reminder_store(conv.ctx).add("stretch", NOW + timedelta(days=1),
                                  repeat=Repeat("weekdays", NOW.time()))
    code, out, err = chat(["/reminders", "/quit"], conv)
    assert code == 0, err
    assert "  #1 2025-03-13 14:30  stretch  (every weekday at 14:30)\n" in out
