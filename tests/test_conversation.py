"""Conversation: route -> run the function -> streamed chat reply, with bounded memory."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.conversation import Conversation
from funcgemma.errors import BackendUnavailable, InvalidRequest
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import FunctionRegistry, FunctionSpec, default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Message

NOW = datetime(2025, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Tokyo"))


def system_of(messages: Sequence[Message]) -> str:
    return next(m.content for m in messages if m.role == "system")


def make_conversation(
    script: Any = None,
    *,
    reply: Any = None,
    registry: FunctionRegistry | None = None,
    **settings: Any,
) -> tuple[Conversation, ScriptedBackend]:
    cfg = Settings(**settings)
    registry = registry or default_registry()
    router = Router(ScriptedBackend(script or {}), registry, settings=cfg)
    chat = ScriptedBackend(reply=reply or (lambda messages: f"echo: {messages[-1].content}"))
    ctx = FunctionContext(settings=cfg, now=lambda: NOW)
    return Conversation(router, chat, registry, ctx, cfg), chat


def test_conversation_routes_runs_function_and_streams_reply() -> None:
    conv, chat = make_conversation(
        {"Translate hello into French": tool_call("translation_assist", text="hello",
                                                  target_language="French")},
        reply=lambda messages: "Bonjour ! That is 'hello' in French.",
    )
    turn = conv.start("Translate hello into French", "s1")
    assert turn.route.calls[0].name == "translation_assist"
    assert turn.function_result is not None
    assert turn.function_result["target_language"] == "French"
    pieces = list(turn.chunks())
    assert len(pieces) > 1, "the reply is streamed in pieces"
    assert "".join(pieces) == "Bonjour ! That is 'hello' in French."
    assert turn.reply == "Bonjour ! That is 'hello' in French."


def test_conversation_chat_model_gets_function_result_in_system_message() -> None:
    conv, chat = make_conversation(
        {"Is 'great food, rude staff' positive?": tool_call(
            "sentiment_label", text="great food, rude staff")}
    )
    reply = conv.ask("Is 'great food, rude staff' positive?", "s1")
    assert reply.function_result is not None and reply.function_result["label"] == "mixed"
    messages = chat.calls[-1][0]
    system = system_of(messages)
    assert "`sentiment_label` was run" in system
    assert "No tool was run" not in system
    assert '"label": "mixed"' in system
    assert messages[-1] == Message(role="user", content="Is 'great food, rude staff' positive?")


def test_conversation_no_function_replies_without_tool_text() -> None:
    conv, chat = make_conversation({"hello": "Hi! How can I help?"})
    reply = conv.ask("hello", "s1")
    assert reply.route.calls == [] and reply.route.source == "none"
    assert reply.function_result is None and reply.function_error is None
    assert reply.reply == "echo: hello"
    system = system_of(chat.calls[-1][0])
    assert "returned" not in system and "failed" not in system
    # nothing ran, so the chat model is told it must not claim an action
    assert "No tool was run for this message, so nothing was done" in system


def test_conversation_runs_every_routed_call() -> None:
    text = "Translate hi into German and label 'I love it'"
    from funcgemma.types import Call, Completion

    both = Completion(tool_calls=[
        Call(name="translation_assist", arguments={"text": "hi", "target_language": "German"}),
        Call(name="sentiment_label", arguments={"text": "I love it"}),
    ])
    conv, chat = make_conversation({text: both})
    reply = conv.ask(text, "s1")
    assert reply.function_result is not None
    assert reply.function_result["target_language"] == "German"  # the first call's result
    system = system_of(chat.calls[-1][0])
    assert "`translation_assist` was run" in system and "`sentiment_label` was run" in system
    assert '"label": "positive"' in system


def test_conversation_history_is_kept_per_session_and_bounded() -> None:
    conv, chat = make_conversation(history_turns=2)
    for i in range(5):
        conv.ask(f"a{i}", "alice")
    conv.ask("b0", "bob")
    history = conv.history("alice")
    assert [m.content for m in history] == ["a3", "echo: a3", "a4", "echo: a4"]
    assert [m.role for m in history] == ["user", "assistant"] * 2
    assert [m.content for m in conv.history("bob")] == ["b0", "echo: b0"]
    conv.ask("a5", "alice")
    sent = chat.calls[-1][0]
    assert [m.content for m in sent[1:]] == ["a3", "echo: a3", "a4", "echo: a4", "a5"]


def test_conversation_history_turns_zero_keeps_no_history() -> None:
    """FUNCGEMMA_HISTORY_TURNS=0 (allowed) still kept and sent the last turn."""
    conv, chat = make_conversation(history_turns=0)
    conv.ask("my secret", "s1")
    conv.ask("hi", "s1")
    assert conv.history("s1") == []
    assert [m.role for m in chat.calls[-1][0]] == ["system", "user"]


def test_conversation_sessions_are_bounded_least_recently_used_first() -> None:
    conv, _ = make_conversation(max_sessions=2)
    conv.ask("one", "s1")
    conv.ask("two", "s2")
    conv.ask("again", "s1")  # s1 is now the most recently used
    conv.ask("three", "s3")  # evicts s2
    assert conv.history("s2") == []
    assert [m.content for m in conv.history("s1")][-2:] == ["again", "echo: again"]
    assert conv.history("s3") != []


def test_conversation_reset_forgets_a_session() -> None:
    conv, _ = make_conversation()
    conv.ask("remember me", "s1")
    conv.reset("s1")
    assert conv.history("s1") == []


def test_conversation_new_session_id_when_none_given() -> None:
    conv, _ = make_conversation()
    first, second = conv.ask("hi"), conv.ask("hi")
    assert first.session_id and second.session_id and first.session_id != second.session_id


def boom_registry() -> FunctionRegistry:
    from pydantic import BaseModel, Field

    class BoomParams(BaseModel):
        """Explodes."""

        what: str = Field(description="Anything.")

    def boom(params: BoomParams, ctx: FunctionContext) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    return FunctionRegistry([*default_registry(), FunctionSpec(name="boom", params=BoomParams,
                                                                handler=boom)])


def test_conversation_failing_handler_is_said_by_funcgemma_not_the_chat_model() -> None:
    conv, chat = make_conversation(
        {"do it": tool_call("boom", what="x")},
        reply=lambda messages: "Done! It worked perfectly.",
        registry=boom_registry(),
    )
    reply = conv.ask("do it", "s1")
    assert reply.function_error == "boom failed: RuntimeError"
    assert reply.function_result is None
    assert reply.reply == "Sorry, that could not be done right now (boom failed: RuntimeError)."
    assert chat.calls == [], "the chat model is not asked to phrase a failure"
    assert "disk on fire" not in reply.reply, "exception details stay in the log"
    # the reply is kept with the call it answered (a follow-up goes on from it)
    assert conv.history("s1")[-1] == Message(role="assistant", content=reply.reply,
                                             tool_calls=reply.route.calls)


def test_conversation_failing_handler_logs_one_line_not_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    conv, _ = make_conversation({"do it": tool_call("boom", what="x")}, registry=boom_registry())
    with caplog.at_level(logging.WARNING, logger="funcgemma"):
        conv.ask("do it", "s1")
    [record] = caplog.records
    assert record.getMessage() == "function boom failed: RuntimeError: disk on fire"
    assert record.exc_info is None, "the traceback is for -vv, not the user's terminal"


def test_conversation_offline_weather_is_never_invented() -> None:
    """Offline, a small chat model told "the forecast could not be fetched" still wrote
    "sunny day with clear skies": the reply is now the function's own words."""
    conv, chat = make_conversation(
        {"Weather in Kyoto tomorrow?": tool_call("weather_info", location="Kyoto",
                                                 date="tomorrow")},
        reply=lambda messages: "Tomorrow in Kyoto: a sunny day with clear skies!",
        weather_base_url="http://127.0.0.1:9", geocoding_base_url="http://127.0.0.1:9",
        weather_timeout_s=2,
    )
    reply = conv.ask("Weather in Kyoto tomorrow?", "s1")
    assert reply.reply.startswith("The forecast could not be fetched (network error")
    assert "sunny" not in reply.reply and chat.calls == []
    assert reply.notice == reply.reply


def test_conversation_notice_states_what_was_saved() -> None:
    conv, chat = make_conversation(
        {"remind me to call mom tomorrow at 6pm": tool_call(
            "schedule_reminder", task="call mom", time="at 6pm")},
        reply=lambda messages: "Sure, I'll remind you on Friday!",
    )
    reply = conv.ask("remind me to call mom tomorrow at 6pm", "s1")
    assert reply.notice == "reminder #1 saved: call mom, 2025-03-13 18:00"
    assert reply.reply == "Sure, I'll remind you on Friday!", "the reply stays the model's"
    assert len(chat.calls) == 1


def test_conversation_unwritable_data_dir_is_a_polite_reply(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    conv, _ = make_conversation(
        {"Remind me to stretch in 30 minutes": tool_call(
            "schedule_reminder", task="stretch", time="in 30 minutes")},
        data_dir=blocker,
    )
    reply = conv.ask("Remind me to stretch in 30 minutes", "s1")
    # funcgemma's own error says how to fix it; "failed: ConfigurationError" did not
    assert reply.function_error is not None
    assert reply.function_error.startswith("schedule_reminder failed: Cannot create ")
    assert reply.reply.endswith("Set FUNCGEMMA_DATA_DIR to a writable directory).")


def test_conversation_stores_a_reminder_end_to_end() -> None:
    conv, chat = make_conversation(
        {"明日の朝9時に会議をリマインドして": tool_call(
            "schedule_reminder", task="会議", time="明日の朝9時")}
    )
    reply = conv.ask("明日の朝9時に会議をリマインドして", "s1")
    assert reply.function_result is not None and reply.function_result["saved"] is True
    assert reply.function_result["due"] == "2025-03-13T09:00+09:00"
    stored = reminder_store(conv.ctx).list()
    assert [r.what for r in stored] == ["会議"]


def test_conversation_rejects_bad_message_and_session_id() -> None:
    conv, chat = make_conversation()
    with pytest.raises(InvalidRequest):
        conv.start("   ")
    with pytest.raises(InvalidRequest, match="session_id"):
        conv.start("hi", "x" * 129)
    with pytest.raises(InvalidRequest, match="session_id"):
        conv.start("hi", "")
    for bad in (" ", "a b", "a\x00b", "\ud800", "\t"):
        with pytest.raises(InvalidRequest, match="session_id"):
            conv.start("hi", bad)
    assert chat.calls == []


def test_conversation_chat_backend_failure_propagates_and_keeps_history_clean() -> None:
    def down(messages: Sequence[Message]) -> str:
        raise BackendUnavailable("chat model is down")

    conv, _ = make_conversation(reply=down)
    turn = conv.start("hi", "s1")
    with pytest.raises(BackendUnavailable):
        list(turn.chunks())
    assert conv.history("s1") == []


def test_conversation_funcgemmas_own_words_are_in_the_users_language(tmp_path: Path) -> None:
    """A reminder with no time: funcgemma replies itself, in the language of the message."""
    ja, en = "歯医者をリマインドして", "remind me about the dentist"
    conv, chat = make_conversation({ja: tool_call("schedule_reminder", task="歯医者"),
                                    en: tool_call("schedule_reminder", task="the dentist")},
                                   data_dir=tmp_path)
    reply = conv.ask(ja)
    assert "時刻がなかったので保存していません" in reply.reply and "歯医者" in reply.reply
    assert "No time was given" in conv.ask(en).reply


def test_closing_the_conversation_closes_the_models_http_clients() -> None:
    """A dropped client leaves its pooled sockets to the garbage collector (a
    ResourceWarning at some later, unrelated moment): closing the conversation closes
    them."""
    import openai

    from funcgemma.backends.ollama import OllamaBackend, make_client
    from funcgemma.backends.openai import OpenAIBackend

    cfg = Settings(ollama_host="http://127.0.0.1:9")
    ollama_client = make_client(cfg)
    router = Router(OllamaBackend(ollama_client, "functiongemma"), default_registry(),
                    settings=cfg)
    chat_client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")
    chat = OpenAIBackend(chat_client, "gemma", role="chat")
    conv = Conversation(router, chat, default_registry(),
                        FunctionContext(settings=cfg, now=lambda: NOW), cfg)
    assert not ollama_client._client.is_closed and not chat_client._client.is_closed
    conv.close()
    assert ollama_client._client.is_closed and chat_client._client.is_closed
    conv.close()  # twice is harmless
