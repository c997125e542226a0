"""Several requests in one message (funcgemma.clauses): cut where a second request starts,
each piece routed, every call run; a message that only looks cut in two stays one call."""

from __future__ import annotations

import pytest

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.clauses import pieces
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.types import Call, Completion
from tests.test_conversation import make_conversation

REGISTRY = default_registry()
TWO = "What's the weather in Kyoto tomorrow, and remind me to pack an umbrella at 8pm"


@pytest.mark.parametrize("text, expected", [
    (TWO, ["What's the weather in Kyoto tomorrow", "remind me to pack an umbrella at 8pm"]),
    ("明日の京都の天気を教えて、8時に傘をリマインドして",
     ["明日の京都の天気を教えて", "8時に傘をリマインドして"]),
    ("来週の那覇の天気はどう？それと那覇で4日間過ごすならどこに行く？",
     ["来週の那覇の天気はどう？", "那覇で4日間過ごすならどこに行く？"]),
    ("Tell me about Lady Gaga, find her latest album on vinyl",
     ["Tell me about Lady Gaga", "find her latest album on vinyl"]),
])
def test_a_message_is_cut_where_a_second_request_starts(text: str, expected: list[str]) -> None:
    assert pieces(text) == expected


@pytest.mark.parametrize("text", [
    "remind me to buy bread and milk", "What is the weather in Tokyo and Osaka?",
    "カメラ買いたい、15万円以内", "あとで電話するのをリマインドして",
    "In Paris, what should I see?",
    # a long message is a text to work on, whatever it holds
    "Label this: " + "check the weather and remind me at 6, " * 20,
    "このレビューを判定してください、「組み立ては簡単で、デザインもおしゃれです」",
])
def test_one_request_is_not_cut(text: str) -> None:
    assert pieces(text) == [text]


KYOTO = tool_call("weather_info", location="Kyoto", date="tomorrow")
UMBRELLA = tool_call("schedule_reminder", task="pack an umbrella", time="at 8pm")


def test_router_returns_a_call_for_each_request() -> None:
    backend = ScriptedBackend({TWO: KYOTO, "What's the weather in Kyoto tomorrow": KYOTO,
                               "remind me to pack an umbrella at 8pm": UMBRELLA})
    result = Router(backend, REGISTRY).route(TWO)
    assert result.calls == [
        Call(name="weather_info", arguments={"location": "Kyoto", "date": "tomorrow"}),
        Call(name="schedule_reminder", arguments={"task": "pack an umbrella", "time": "at 8pm"})]


def test_one_function_asked_twice_or_once_keeps_the_whole_messages_call() -> None:
    text = "Tell me about Lady Gaga, find her latest album on vinyl"
    gaga = Completion(tool_calls=[Call(name="celebrity_info", arguments={"name": "Lady Gaga"})],
                      done_reason="stop")
    backend = ScriptedBackend({text: gaga, "Tell me about Lady Gaga": gaga,
                               "find her latest album on vinyl": "I cannot shop for that."})
    assert Router(backend, REGISTRY).route(text).calls == [
        Call(name="celebrity_info", arguments={"name": "Lady Gaga"})]


def test_a_later_piece_follows_up_the_earlier_one() -> None:
    text = "what's the weather in Kyoto tomorrow and what about Osaka?"
    backend = ScriptedBackend({text: KYOTO, "what's the weather in Kyoto tomorrow": KYOTO})
    # "what about Osaka?" goes on from the Kyoto call: the weather of both, tomorrow
    assert Router(backend, REGISTRY).route(text).calls == [
        Call(name="weather_info", arguments={"location": "Kyoto", "date": "tomorrow"}),
        Call(name="weather_info", arguments={"location": "Osaka", "date": "tomorrow"})]


def test_one_function_asked_for_twice_gets_two_calls() -> None:
    text = "who is Florence Pugh and who is Paul Mescal"
    def person(name: str) -> Completion:
        return Completion(tool_calls=[Call(name="celebrity_info", arguments={"name": name})])

    pugh = person("Florence Pugh")
    backend = ScriptedBackend({text: pugh, "who is Florence Pugh": pugh,
                               "who is Paul Mescal": person("Paul Mescal")})
    assert pieces(text) == ["who is Florence Pugh", "who is Paul Mescal"]
    assert [c.arguments["name"] for c in Router(backend, REGISTRY).route(text).calls] == [
        "Florence Pugh", "Paul Mescal"]


def test_a_piece_that_names_nothing_keeps_the_message_one_call() -> None:
    text = "classify this review, and rate 'great shoes, fast delivery'"
    whole = tool_call("sentiment_label", text="great shoes, fast delivery")
    backend = ScriptedBackend({
        text: whole, "classify this review": tool_call("sentiment_label", text="this review"),
        "rate 'great shoes, fast delivery'": whole})
    assert len(pieces(text)) == 2
    assert Router(backend, REGISTRY).route(text).calls == [
        Call(name="sentiment_label", arguments={"text": "great shoes, fast delivery"})]


def test_chat_runs_both_calls_and_replies_once() -> None:
    conv, chat = make_conversation({
        TWO: KYOTO, "What's the weather in Kyoto tomorrow": KYOTO,
        "remind me to pack an umbrella at 8pm": UMBRELLA}, weather_offline=True)
    reply = conv.ask(TWO, "s")
    assert [c.name for c in reply.route.calls] == ["weather_info", "schedule_reminder"]
    assert reply.notice is not None and "pack an umbrella" in reply.notice


def test_a_second_piece_whose_name_is_a_verb_is_not_a_second_request() -> None:
    text = "Is the Trans-Siberian worth it, and where should I stop?"
    trip = tool_call("travel_guide", destination="Trans-Siberian")
    backend = ScriptedBackend({text: trip, "Is the Trans-Siberian worth it": trip,
                               "where should I stop?": tool_call("travel_guide",
                                                                 destination="stop")})
    assert len(pieces(text)) == 2
    assert Router(backend, REGISTRY).route(text).calls == [
        Call(name="travel_guide", arguments={"destination": "Trans-Siberian"})]
