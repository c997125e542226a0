"""What the chat model may say about fetched facts, and what a small one is not asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.registry import FunctionRegistry, FunctionSpec, default_registry
from funcgemma.results import Done
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call, Completion, Message

SUMMARY = ("Hayao Miyazaki is a Japanese animator who co-founded Studio Ghibli in 1985. "
           "He directed My Neighbor Totoro.")


def fake_lookup(params: Any, ctx: FunctionContext) -> Done:
    return Done({"found": True, "title": "Hayao Miyazaki",
                 "url": "https://en.example/Hayao_Miyazaki", "lang": "en", "source": "wikipedia",
                 "summary": SUMMARY, "passage": None, "asked": None},
                notice="source: Wikipedia, Hayao Miyazaki https://en.example/Hayao_Miyazaki",
                answer_with="Answer only from summary and passage.")


def make(reply: Any, *, capable: bool) -> tuple[Conversation, ScriptedBackend]:
    base = default_registry()
    celebrity = base.get("celebrity_info")
    specs = [s for s in base if s.name != "celebrity_info"]
    registry = FunctionRegistry([*specs, FunctionSpec(
        name="celebrity_info", params=celebrity.params, handler=fake_lookup)])
    settings = Settings()
    router = Router(ScriptedBackend({
        "Who is Hayao Miyazaki?": Completion(tool_calls=[Call(
            name="celebrity_info", arguments={"name": "Hayao Miyazaki"})], done_reason="stop"),
        "Translate good night into Korean": tool_call(
            "translation_assist", text="good night", target_language="Korean"),
        "「おやすみ」を韓国語にして": tool_call(
            "translation_assist", text="おやすみ", target_language="韓国語"),
    }), registry, settings=settings)
    chat = ScriptedBackend(reply=reply, capable=capable)
    ctx = FunctionContext(settings=settings)
    return Conversation(router, chat, registry, ctx, settings), chat


def inventing(messages: Sequence[Message]) -> str:
    return "Miyazaki, creator of Frozen, was born in 1890."


def faithful(messages: Sequence[Message]) -> str:
    return "Hayao Miyazaki co-founded Studio Ghibli in 1985."


def test_conversation_invented_facts_are_replaced_by_the_source() -> None:
    conv, chat = make(inventing, capable=True)
    reply = conv.ask("Who is Hayao Miyazaki?")
    assert chat.calls, "a capable chat model is asked"
    assert "Frozen" not in reply.reply and "1890" not in reply.reply
    assert reply.reply == SUMMARY
    assert reply.notice == "source: Wikipedia, Hayao Miyazaki https://en.example/Hayao_Miyazaki"


def test_conversation_a_faithful_reply_is_kept() -> None:
    conv, _ = make(faithful, capable=True)
    assert conv.ask("Who is Hayao Miyazaki?").reply == faithful([])


def test_conversation_a_small_chat_model_is_not_asked_about_facts() -> None:
    conv, chat = make(inventing, capable=False)
    reply = conv.ask("Who is Hayao Miyazaki?")
    assert chat.calls == [], "the embedded chat model is not asked: the answer is extractive"
    assert reply.reply == SUMMARY


@pytest.mark.parametrize(("text", "says"), [
    ("Translate good night into Korean", "I cannot translate here"),
    ("「おやすみ」を韓国語にして", "ここでは翻訳できません"),
])
def test_conversation_a_chat_model_that_cannot_translate_is_not_asked(text: str,
                                                                      says: str) -> None:
    conv, chat = make(lambda messages: "Gongye-12", capable=False)
    reply = conv.ask(text)
    assert chat.calls == []
    assert says in reply.reply and "Gongye" not in reply.reply
    assert reply.route.calls[0].name == "translation_assist"
