"""A fragment with nothing to follow ("what about tomorrow?", 「明日は？」) is never a
reminder: a reminder needs a task that is more than its own time or a question word."""

from __future__ import annotations

from typing import Any

import pytest

from funcgemma.backends.scripted import ScriptedBackend
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder import names_nothing
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call, Completion

FRAGMENTS: list[dict[str, Any]] = [
    {"task": "tomorrow", "time": "tomorrow"},
    {"task": "what about tomorrow?", "time": "tomorrow"},
    {"task": "what about tomorrow?"},
    {"task": "and at 6pm?", "time": "6pm"},
    {"task": "at 6pm?"},
    {"task": "明日は？", "time": "明日"},
    {"task": "明日は？"},
    {"task": "remind me"},
    {"task": "friday"},
    {"task": "?"},
]
TASKS: list[dict[str, Any]] = [
    {"task": "call mom", "time": "6pm"},
    {"task": "call mom"},
    {"task": "buy milk tomorrow"},
    {"task": "薬を飲む", "time": "9時"},
    {"task": "会議", "time": "明日の朝9時"},
    {"task": "the dentist", "time": "tomorrow at 9am"},
    {"task": "pay rent", "time": "on friday"},
    {"task": "洗濯物を取り込む"},
    {"task": "leave"},
    {"task": "the meeting", "time": "at 6pm"},
]


@pytest.mark.parametrize("arguments", FRAGMENTS, ids=[str(a) for a in FRAGMENTS])
def test_names_nothing_finds_fragments(arguments: dict[str, Any]) -> None:
    assert names_nothing(arguments)


@pytest.mark.parametrize("arguments", TASKS, ids=[str(a) for a in TASKS])
def test_names_nothing_keeps_real_tasks(arguments: dict[str, Any]) -> None:
    assert not names_nothing(arguments)


@pytest.mark.parametrize(("text", "task", "time"), [
    ("what about tomorrow?", "tomorrow", "tomorrow"),
    ("and at 6pm?", "and at 6pm?", "6pm"),
    ("明日は？", "明日は？", "明日"),
])
def test_chat_saves_no_reminder_from_a_fragment(text: str, task: str, time: str) -> None:
    """What the shipped router wrote for these on 3ff5cb4 is now no call, and the chat
    saves nothing."""
    settings = Settings()
    registry = default_registry()
    router = Router(ScriptedBackend(lambda messages, tools: Completion(
        tool_calls=[Call(name="schedule_reminder", arguments={"task": task, "time": time})],
        done_reason="stop")), registry, settings=settings)
    ctx = FunctionContext(settings=settings)
    chat = ScriptedBackend(reply=lambda messages: "ok")
    reply = Conversation(router, chat, registry, ctx, settings).ask(text)
    assert reply.route.calls == []
    assert reply.route.source == "none"
    assert reply.function_result is None
    assert reminder_store(ctx).listing()[0] == []
