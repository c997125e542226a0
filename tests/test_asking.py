"""Asking back (funcgemma.asking): a call whose function needs a value the message does
not give is a question, never a guess; the answer completes the call."""

from __future__ import annotations

from typing import Any

import pytest

from funcgemma import asking
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.types import Call, Message
from funcgemma_lab.metrics import CaseOutcome, ask_scores, compute_metrics
from tests.test_conversation import make_conversation

REGISTRY = default_registry()


def role(function: str, field: str) -> Any:
    return REGISTRY.get(function).roles[field]


@pytest.mark.parametrize("function, field, value, message", [
    ("shopping_intent", "item", "three of them", "order me three of them"),
    ("shopping_intent", "item", "something", "buy me something nice"),
    ("shopping_intent", "item", "新しいの", "新しいのに買い替えたい"),
    ("sentiment_label", "text", "this review", "what's the tone of this review?"),
    ("sentiment_label", "text", "review", "what's the tone of this review?"),
    ("sentiment_label", "text", "the customer review", "label the customer review"),
    ("translation_assist", "text", "my note", "can you translate my note into Italian"),
    ("translation_assist", "text", "メッセージ", "このメッセージを英語にして"),
    ("travel_guide", "destination", "somewhere", "take me somewhere warm"),
    ("travel_guide", "destination", "I want to go somewhere for 3 days, ideas?",
     "I want to go somewhere for 3 days, ideas?"),
    ("translation_assist", "target_language", "translate", "translate 'cheers'"),
    ("weather_info", "location", "?", "what's the forecast looking like?"),
    ("translation_assist", "text", "translate", "translate this into German"),
])
def test_what_names_nothing_is_not_a_value(function: str, field: str, value: str,
                                           message: str) -> None:
    assert asking.not_a_value(role(function, field), value, message)


@pytest.mark.parametrize("function, field, value, message", [
    ("shopping_intent", "item", "reusable water bottles", "buy three reusable water bottles"),
    ("shopping_intent", "item", "ドライヤー", "ドライヤーを買いたい"),
    ("sentiment_label", "text", "Delivery took three weeks.", "Delivery took three weeks."),
    # a text that is only two words is still a text to label
    ("sentiment_label", "text", "great menu", "classify 'great menu'"),
    ("sentiment_label", "text", "terrible reply", "sentiment of: terrible reply"),
    ("translation_assist", "text", "good morning", "translate good morning into French"),
    ("travel_guide", "destination", "the Faroe Islands", "plan a trip to the Faroe Islands"),
    ("translation_assist", "target_language", "韓国語", "韓国語に訳して"),
    ("weather_info", "location", "Kyoto", "weather in Kyoto"),
    # a place that is the whole message is a place ("New York City"), not a request
    ("weather_info", "location", "New York City", "New York City"),
])
def test_a_value_the_message_gives_is_one(function: str, field: str, value: str,
                                          message: str) -> None:
    assert not asking.not_a_value(role(function, field), value, message)


def test_a_reminder_time_that_cannot_be_read_is_lacking() -> None:
    spec = REGISTRY.get("schedule_reminder")
    assert asking.lacking(spec, {"task": "take my pills", "time": "リマインド"}, "x") == ["time"]
    assert asking.lacking(spec, {"task": "take my pills", "time": "at 6pm"}, "x") == []
    assert asking.lacking(spec, {"task": "take my pills", "time": "every day at 8"}, "x") == []
    assert asking.lacking(spec, {"task": "it"}, "remind me about it") == ["task", "time"]


def test_one_value_written_for_two_fields_is_lacking() -> None:
    spec = REGISTRY.get("weather_info")
    assert asking.lacking(spec, {"location": "週末", "date": "週末"}, "週末、雪降るかな？") == [
        "location"]
    assert asking.lacking(spec, {"location": "Kyoto", "date": "週末"}, "x") == []
    # a place written as the date too is still the place
    assert asking.lacking(spec, {"location": "atlnta", "date": "atlnta"}, "x") == []


@pytest.mark.parametrize("function, arguments, message, lacks", [
    # a place made of when and how the weather is: the request's words
    ("weather_info", {"location": "hot", "date": "tomorrow"}, "how hot will it get tomorrow",
     ["location"]),
    ("weather_info", {"location": "temperature", "date": "right now"}, "temperature right now?",
     ["location"]),
    ("weather_info", {"location": "the rain", "date": "afternoon"},
     "is the rain supposed to stop by the afternoon?", ["location"]),
    ("weather_info", {"location": "明日の最高気温", "date": "明日"}, "明日の最高気温は何度？",
     ["location"]),
    ("weather_info", {"location": "雪降る", "date": "今夜"}, "今夜雪降るかな", ["location"]),
    # a thing asked for with the request's verbs, or pointed at, is not named
    ("shopping_intent", {"item": "buy it"}, "ok buy it", ["item"]),
    ("shopping_intent", {"item": "注文確定"}, "じゃあそれで注文確定して", ["item"]),
    ("shopping_intent", {"item": "購入手続き進めて"}, "うん、購入手続き進めて", ["item"]),
    ("shopping_intent", {"item": "the cheapest one"}, "just buy the cheapest one", ["item"]),
    ("shopping_intent", {"item": "blue one"}, "go ahead and get the blue one", ["item"]),
    ("shopping_intent", {"item": "赤いの", "quantity": 2}, "赤いの2つ買っといて", ["item"]),
    # the request to translate, less its language, is no text
    ("translation_assist", {"text": "I say this in Greek", "target_language": "Greek"},
     "how do I say this in Greek?", ["text"]),
    ("translation_assist", {"text": "なんて言う", "target_language": "イタリア語"},
     "これイタリア語でなんて言うの？", ["text"]),
    ("translation_assist", {"text": "Vietnamese", "target_language": "Vietnamese"},
     "can you translate something to Vietnamese for me", ["text"]),
    ("translation_assist", {"text": "これを英語に訳して", "target_language": "英語"},
     "これを英語に訳して", ["text"]),
    ("sentiment_label", {"text": "このレビューの感情を判定して"}, "このレビューの感情を判定して",
     ["text"]),
    ("translation_assist", {"text": "I'm running late", "target_language": "for me"},
     "translate 'I'm running late' for me", ["target_language"]),
    ("shopping_intent", {"item": "何か買いたい", "budget": 3000.0}, "3千円以内で何か買いたい",
     ["item"]),
    # a time or a trip's length where a place goes, who someone is where a name goes
    ("travel_guide", {"destination": "weekend away"}, "what should I see on a weekend away?",
     ["destination"]),
    ("travel_guide", {"destination": "三泊四日", "days": 4}, "三泊四日でおすすめのプラン作って",
     ["destination"]),
    ("travel_guide", {"destination": "連休"}, "連休に旅行したい", ["destination"]),
    ("celebrity_info", {"name": "女優さん"}, "朝ドラに出てた女優さんの経歴", ["name"]),
    ("celebrity_info", {"name": "the singer"}, "who's the singer everyone likes?", ["name"]),
    # a month or a season where a place goes; a misspelt request word is the word
    ("travel_guide", {"destination": "May"}, "where should I go in May?", ["destination"]),
    ("travel_guide", {"destination": "early spring"}, "best trip for early spring",
     ["destination"]),
    ("travel_guide", {"destination": "5月"}, "5月におすすめの旅行先", ["destination"]),
    ("weather_info", {"location": "tomorow"}, "rain tomorow?", ["location"]),
    ("weather_info", {"location": "wether"}, "wether for the weekend", ["location"]),
    ("translation_assist", {"text": "transalte this", "target_language": "French"},
     "can u transalte this to French", ["text"]),
    ("translation_assist", {"text": "the mesage", "target_language": "German"},
     "translate the mesage into German", ["text"]),
    ("celebrity_info", {"name": "the actres"}, "who is the actres in that show", ["name"]),
    # the request's trip words, who someone is in a show, its own verbs, its words as a
    # language
    ("travel_guide", {"destination": "I'm heading off on a 10-day trip next month", "days": 10},
     "I'm heading off on a 10-day trip next month, what's worth doing", ["destination"]),
    ("travel_guide", {"destination": "4日間の旅行プラン", "days": 4}, "4日間の旅行プランを立てて",
     ["destination"]),
    ("travel_guide", {"destination": "nani"}, "soko de nani suru no ga ii?", ["destination"]),
    ("celebrity_info", {"name": "lead singer"}, "facts about the lead singer pls", ["name"]),
    ("celebrity_info", {"name": "あのドラマに出てた俳優"}, "あのドラマに出てた俳優って誰？",
     ["name"]),
    ("shopping_intent", {"item": "the usual", "quantity": 3}, "order 3 of the usual", ["item"]),
    ("shopping_intent", {"item": "restok"}, "i need to restok, budget is 100 euros", ["item"]),
    ("schedule_reminder", {"task": "リマインダー設定して", "time": "明日の朝8時"},
     "明日の朝8時にリマインダー設定して", ["task"]),
    ("schedule_reminder", {"task": "in 20 mins", "time": "in 20 mins"},
     "remind me in 20 mins abt it", ["task"]),
    ("translation_assist", {"text": "お世話になっております", "target_language": "翻訳して"},
     "「お世話になっております」を翻訳して", ["target_language"]),
    ("translation_assist", {"text": "いただきます", "target_language": "外国語"},
     "「いただきます」って外国語でどう言うの？", ["target_language"]),
    ("translation_assist", {"text": "put the paragraph bellow into French",
                            "target_language": "French"},
     "put the paragraph bellow into French please", ["text"]),
    # a clause that points back at the conversation names nothing here
    ("travel_guide", {"destination": "my cousin lives in"},
     "tips for visiting the city my cousin lives in?", ["destination"]),
    ("celebrity_info", {"name": "the movie we watched last night"},
     "who's that guy from the movie we watched last night?", ["name"]),
    ("shopping_intent", {"item": "those things you recommended"},
     "I need to buy a few of those things you recommended", ["item"]),
    ("sentiment_label", {"text": "I mentioned"}, "what's the vibe of that tweet I mentioned?",
     ["text"]),
    ("schedule_reminder", {"task": "the thing I mentioned", "time": "at 5"},
     "remind me about the thing I mentioned at 5", ["task"]),
    # ... and what names a place, a thing or a text stays
    ("schedule_reminder", {"task": "pick up the package my mom sent", "time": "at 5"},
     "remind me to pick up the package my mom sent at 5", []),
    ("translation_assist", {"text": "I told you so", "target_language": "French"},
     "translate I told you so into French", []),
    ("celebrity_info", {"name": "They Might Be Giants"}, "who are They Might Be Giants", []),
    ("celebrity_info", {"name": "The Weeknd"}, "who is The Weeknd", []),
    ("celebrity_info", {"name": "Lead Belly"}, "who was Lead Belly", []),
    ("travel_guide", {"destination": "Nice"}, "going to Nice next month", []),
    ("schedule_reminder", {"task": "set up the tent", "time": "at 5"},
     "remind me to set up the tent at 5", []),
    ("shopping_intent", {"item": "set of knives"}, "buy a set of knives", []),
    ("travel_guide", {"destination": "Maine"}, "Maine in May", []),
    ("celebrity_info", {"name": "Brian May"}, "who is Brian May", []),
    ("travel_guide", {"destination": "Tonga"}, "Tonga tonight", []),
    ("weather_info", {"location": "Weston"}, "weather in Weston", []),
    ("translation_assist", {"text": "Tomorrow never dies", "target_language": "Spanish"},
     "translate Tomorrow never dies into Spanish", []),
    ("shopping_intent", {"item": "weekend bag"}, "buy a weekend bag", []),
    ("travel_guide", {"destination": "Long Beach"}, "Long Beach tips", []),
    ("celebrity_info", {"name": "Billie Holiday"}, "who was Billie Holiday", []),
    ("sentiment_label", {"text": "Check in was slow"}, "tone of: Check in was slow", []),
    ("weather_info", {"location": "Sunnyvale", "date": "tonight"}, "Sunnyvale tonight?", []),
    ("weather_info", {"location": "大阪", "date": "明日"}, "明日の大阪、雨？", []),
    ("shopping_intent", {"item": "Formula One cap"}, "buy a Formula One cap", []),
    ("shopping_intent", {"item": "order forms"}, "buy order forms", []),
    ("shopping_intent", {"item": "赤いマフラー"}, "赤いマフラー買って", []),
    ("celebrity_info", {"name": "Rain"}, "who is Rain?", []),
    ("translation_assist", {"text": "I do", "target_language": "French"},
     "how do you say 'I do' in French", []),
    ("translation_assist", {"text": "I love you", "target_language": "French"},
     "how do you say I love you in French", []),
])
def test_the_requests_own_words_are_not_its_values(function: str, arguments: dict[str, Any],
                                                   message: str, lacks: list[str]) -> None:
    assert asking.lacking(REGISTRY.get(function), arguments, message) == lacks


def test_a_value_the_conversation_gave_is_not_read_as_the_requests_words() -> None:
    """A follow-up's value ("no wait, I meant 'the menu please'") came from the user's
    answer, not from the model copying the request: it is a value, whatever its words."""
    spec = REGISTRY.get("translation_assist")
    arguments = {"text": "the menu please", "target_language": "Greek"}
    assert asking.lacking(spec, arguments, None) == []
    copied = {"text": "I say this", "target_language": "Greek"}
    assert asking.lacking(spec, copied, None) == []
    assert asking.lacking(spec, copied, "how do I say this in Greek?") == ["text"]


def test_a_call_that_cannot_run_without_the_value_is_an_ask_with_what_it_has() -> None:
    text = "can you translate my note into Italian"
    router = Router(ScriptedBackend({text: tool_call("translation_assist", text="my note",
                                                     target_language="Italian")}), REGISTRY)
    result = router.route(text)
    assert result.outcome == "ask" and result.calls == []
    assert result.ask is not None and result.ask.model_dump() == {
        "function": "translation_assist", "field": "text",
        "question": "What should I translate? Paste the text here.",
        "arguments": {"target_language": "Italian"}}


def test_a_call_the_model_could_not_complete_is_an_ask_in_the_users_language() -> None:
    # the model leaves the required item out: validation fails, the rest is kept
    text = "新しいのに買い替えたい"
    router = Router(ScriptedBackend({text: tool_call("shopping_intent", quantity=1)}), REGISTRY)
    result = router.route(text)
    assert (result.outcome, result.calls) == ("ask", [])
    assert result.ask is not None and result.ask.field == "item"
    assert result.ask.question == "何を買いたいですか？"
    assert result.ask.arguments == {"quantity": 1}


def test_a_copied_word_of_the_request_is_not_a_time() -> None:
    text = "薬を飲むのをリマインドして"
    router = Router(ScriptedBackend({text: tool_call("schedule_reminder", task="薬を飲む",
                                                     time="リマインド")}), REGISTRY)
    result = router.route(text)
    assert result.outcome == "ask" and result.ask is not None and result.ask.field == "time"
    # the reminder can be made without a time (it asks for one): kept, without "リマインド"
    assert result.calls == [Call(name="schedule_reminder", arguments={"task": "薬を飲む"})]


def test_call_syntax_typed_in_a_message_never_becomes_a_question() -> None:
    text = 'call:weather_info{location:"?"}'
    router = Router(ScriptedBackend({text: tool_call("weather_info", location="?")}), REGISTRY)
    result = router.route(text)
    assert (result.outcome, result.calls, result.ask) == ("answer", [], None)


def test_a_fragment_that_names_nothing_is_never_asked_about() -> None:
    text = "what about tomorrow?"
    router = Router(ScriptedBackend({text: tool_call("schedule_reminder", task="tomorrow",
                                                     time="tomorrow")}), REGISTRY)
    assert router.route(text).outcome == "answer"


def test_the_answer_completes_the_call_asked_about() -> None:
    asked = "can you translate my note into Italian"
    router = Router(ScriptedBackend({asked: tool_call("translation_assist", text="my note",
                                                      target_language="Italian")}), REGISTRY)
    history = [Message(role="user", content=asked),
               Message(role="assistant", content="What should I translate? Paste the text here.")]
    result = router.route("the cat needs feeding twice a day", history=history)
    assert (result.outcome, result.source) == ("call", "context")
    assert result.calls == [Call(name="translation_assist", arguments={
        "target_language": "Italian", "text": "the cat needs feeding twice a day"})]
    # a question of the user's own is a new request, not the answer
    assert router.route("is it going to rain in Paris?", history=history).calls == []


def test_a_greeting_thanks_or_letting_it_go_answers_no_question() -> None:
    asked = "should I bring an umbrella tomorrow?"
    router = Router(ScriptedBackend({asked: tool_call("weather_info", date="tomorrow")}),
                    REGISTRY)
    history = [Message(role="user", content=asked),
               Message(role="assistant", content="Where? Tell me the city or place.")]
    assert router.route("Sapporo", history=history).calls == [Call(
        name="weather_info", arguments={"date": "tomorrow", "location": "Sapporo"})]
    for other in ("hello", "never mind", "thanks!", "ありがとう", "やっぱりいい"):
        assert router.route(other, history=history).calls == [], other


def test_chat_asks_back_runs_nothing_and_the_answers_save_one_reminder() -> None:
    conv, chat = make_conversation({
        "remind me about that thing": tool_call("schedule_reminder", task="that thing")})
    first = conv.ask("remind me about that thing", "s-ask")
    assert first.route.outcome == "ask" and first.function_result is None
    assert first.reply == "What should I remind you about?"
    assert chat.calls == []  # funcgemma asked; the chat model was not
    second = conv.ask("take out the bins", "s-ask")
    # the task is given; the time is still missing: asked, and nothing saved yet
    assert second.route.outcome == "ask" and second.route.source == "context"
    assert second.route.calls == [Call(name="schedule_reminder",
                                       arguments={"task": "take out the bins"})]
    assert reminder_store(conv.ctx).list() == []
    third = conv.ask("at 6pm", "s-ask")
    assert third.route.calls == [Call(name="schedule_reminder", arguments={
        "task": "take out the bins", "time": "at 6pm"})]
    saved = reminder_store(conv.ctx).list()
    assert [r.what for r in saved] == ["take out the bins"]


def test_ask_scores_count_hits_false_asks_and_the_field() -> None:
    def case(expected: str | None, asked: str | None, name: str = "weather_info") -> CaseOutcome:
        predicted = [Call(name=name, arguments={})] if asked or expected else []
        return CaseOutcome(expected_function=name if expected else None, expected_arguments={},
                           lang="en", predicted=predicted, source="none", latency_ms=1.0,
                           expected_ask=expected, asked=asked, asks_labelled=True)

    scores = ask_scores([case("location", "location"), case("location", "date"),
                         case("location", None), case(None, "location"), case(None, None)])
    assert scores == {"n": 5, "expected": 3, "asked": 3, "precision": 2 / 3,
                      "recall": 2 / 3, "f1": pytest.approx(2 / 3), "field_right": 1 / 3}
    # a file that labels no asks reports none
    plain = CaseOutcome(expected_function=None, expected_arguments={}, lang="en",
                        predicted=[], source="none", latency_ms=1.0)
    assert "asks" not in compute_metrics([plain], REGISTRY.names)


UMBRELLA = "should I bring an umbrella tomorrow?"
NO_PLACE = {UMBRELLA: tool_call("weather_info", date="tomorrow"),
            "明日は傘いるかな": tool_call("weather_info", date="明日"),
            "plan me a 4-day trip": tool_call("travel_guide", days=4)}


def test_a_home_place_fills_a_weather_request_that_names_none() -> None:
    from funcgemma.settings import Settings

    router = Router(ScriptedBackend(NO_PLACE), REGISTRY, settings=Settings(home_place=" Kyoto "))
    result = router.route(UMBRELLA)
    assert (result.outcome, result.ask) == ("call", None)
    assert result.calls == [Call(name="weather_info",
                                 arguments={"date": "tomorrow", "location": "Kyoto"})]
    # one given with the request is used over the setting
    mine = router.route(UMBRELLA, defaults={"home_place": "Osaka"})
    assert mine.calls[0].arguments["location"] == "Osaka"
    # a value no default stands for is still asked for: a trip goes nowhere by default
    trip = router.route("plan me a 4-day trip")
    assert (trip.outcome, trip.ask and trip.ask.field) == ("ask", "destination")
    # with none set, the place is asked for, in the user's language
    bare = Router(ScriptedBackend(NO_PLACE), REGISTRY).route("明日は傘いるかな")
    assert bare.outcome == "ask" and bare.ask is not None
    assert bare.ask.question.startswith("どこの天気")


def test_a_home_place_is_one_line_of_text() -> None:
    from pydantic import ValidationError

    from funcgemma.settings import Settings

    assert Settings(home_place="  ").home_place is None
    assert Settings(home_place="New  York").home_place == "New York"
    for bad in ("Kyoto\nignore this", "x" * 101):
        with pytest.raises(ValidationError):
            Settings(home_place=bad)


def test_route_and_chat_take_a_home_place() -> None:
    from fastapi.testclient import TestClient

    from funcgemma.api.app import create_app
    from tests.test_api import make_service

    with TestClient(create_app(make_service(script=NO_PLACE))) as client:
        asked = client.post("/route", json={"text": UMBRELLA}).json()
        assert asked["outcome"] == "ask" and asked["ask"]["field"] == "location"
        assert asked["ask"]["arguments"] == {"date": "tomorrow"}
        home = client.post("/route", json={"text": UMBRELLA, "home_place": "Sapporo"}).json()
        assert home["outcome"] == "call"
        assert home["calls"][0]["arguments"] == {"date": "tomorrow", "location": "Sapporo"}
        for bad in ("Sapporo\r\nX-Evil: 1", "x" * 101):
            refused = client.post("/route", json={"text": UMBRELLA, "home_place": bad})
            assert refused.status_code == 422, refused.text
        chat = client.post("/chat", json={"message": UMBRELLA, "home_place": "Sapporo"})
        assert chat.status_code == 200, chat.text
        assert chat.json()["route"]["calls"][0]["arguments"]["location"] == "Sapporo"
        question = client.post("/chat", json={"message": UMBRELLA, "session_id": "home-1"})
        assert question.json()["reply"] == "Where? Tell me the city or place."
        assert question.json()["function_result"] is None


def test_route_with_a_session_id_keeps_the_turn_for_the_next_request() -> None:
    from fastapi.testclient import TestClient

    from funcgemma.api.app import create_app
    from tests.test_api import make_service

    script = {**NO_PLACE, "What's the weather in Kyoto tomorrow?": tool_call(
        "weather_info", location="Kyoto", date="tomorrow")}
    with TestClient(create_app(make_service(script=script))) as client:
        first = client.post("/route", json={"text": "What's the weather in Kyoto tomorrow?",
                                            "session_id": "r-1"}).json()
        assert first["calls"][0]["arguments"]["location"] == "Kyoto"
        osaka = client.post("/route", json={"text": "and in Osaka?", "session_id": "r-1"})
        assert osaka.json()["source"] == "context"
        assert osaka.json()["calls"] == [{"name": "weather_info", "arguments": {
            "location": "Osaka", "date": "tomorrow"}}]
        # another session knows nothing of it
        other = client.post("/route", json={"text": "and in Osaka?", "session_id": "r-2"})
        assert other.json()["source"] != "context"
        # an ask waits in the session; its answer completes the call, without the model
        asked = client.post("/route", json={"text": UMBRELLA, "session_id": "r-3"}).json()
        assert asked["outcome"] == "ask"
        answered = client.post("/route", json={"text": "Sapporo", "session_id": "r-3"}).json()
        assert (answered["outcome"], answered["source"]) == ("call", "context")
        assert answered["calls"][0]["arguments"] == {"date": "tomorrow", "location": "Sapporo"}
        # and /chat goes on from the same session
        chat = client.post("/chat", json={"message": "and in Nagoya?", "session_id": "r-3"})
        assert chat.json()["route"]["calls"][0]["arguments"]["location"] == "Nagoya"
        both = client.post("/route", json={"text": "hi", "session_id": "r-1", "history": [
            {"role": "user", "content": "hello"}]})
        assert both.status_code in (400, 422) and "not both" in both.text
        bad = client.post("/route", json={"text": "hi", "session_id": "has space"})
        assert bad.status_code in (400, 422) and "session_id" in bad.text


@pytest.mark.parametrize("pattern, unit", [
    ("_WHEN_OR_WEATHER", "next week this morning 明日の朝今週の "),
    ("_WHEN_ONLY", "next weekend away 三泊四日の連休 "),
    ("_SOMEONE", "the famous singer あの女優さん "),
    ("_REQUESTED", "buy it, the order 注文しておいて "),
    ("_ASKING_TO_TRANSLATE", "how do I say this review このレビューの感情を "),
    ("_ASKING_WORD", "translate this foreign language 外国語に翻訳して "),
])
def test_a_long_value_of_words_read_two_ways_is_read_in_linear_time(pattern: str,
                                                                    unit: str) -> None:
    """Each token is taken once ("next week" is a day, or two words: reading both ways at
    every token made a 20-token place take 47 s). regex's own timeout fails the test
    where that comes back, instead of hanging it."""
    value = unit * 60 + "zzz"
    compiled = getattr(asking, pattern)
    assert compiled.fullmatch(value, timeout=2.0) is None
    assert compiled.fullmatch(unit * 60, timeout=2.0) is not None


@pytest.mark.parametrize(("word", "known", "one_off"), [
    ("umbrela", "umbrella", True), ("transalte", "translate", True),
    ("wether", "weather", True), ("tomorroww", "tomorrow", True),
    ("translate", "translate", False), ("tomrw", "tomorrow", False),
    ("weston", "weather", False), ("transaltes", "translate", False),
])
def test_one_letter_off_by_hand(word: str, known: str, one_off: bool) -> None:
    assert asking._one_off(word, known) is one_off


@pytest.mark.parametrize("function, arguments, message, lacks", [
    # eighteenth rule (experiments/followups-32/RULE.md): a place named only by whose it is
    ("weather_info", {"location": "my home town", "date": "Sunday"},
     "what's the weather like in my home town on Sunday", ["location"]),
    ("weather_info", {"location": "near the school"}, "is it raining near the school?",
     ["location"]),
    ("travel_guide", {"destination": "my aunt's city"}, "what to see in my aunt's city",
     ["destination"]),
    ("weather_info", {"location": "彼氏の実家"}, "彼氏の実家って雪降る？", ["location"]),
    ("weather_info", {"location": "旅行先の天気"}, "旅行先の天気を教えて", ["location"]),
    ("travel_guide", {"destination": "my upcoming trip"}, "tips for my upcoming trip",
     ["destination"]),
    ("travel_guide", {"destination": "見どころ"}, "見どころを教えて", ["destination"]),
    ("celebrity_info", {"name": "that rapper"}, "how old is that rapper", ["name"]),
    ("celebrity_info", {"name": "アイドル"}, "最近人気のアイドルについて教えて", ["name"]),
    ("shopping_intent", {"item": "under 30 euros", "budget": 30.0, "currency": "EUR"},
     "get me something under 30 euros", ["item"]),
    ("sentiment_label", {"text": "I'm going to paste next"},
     "tell me the mood of the message I'm going to paste next", ["text"]),
    ("translation_assist", {"text": "おはよう", "target_language": "訳して欲しいけど"},
     "「おはよう」を訳して欲しいけど", ["target_language"]),
    # named places, people and things stay values
    ("weather_info", {"location": "Hometown Bay"}, "weather in Hometown Bay", []),
    ("travel_guide", {"destination": "Cabo"}, "3 days in Cabo", []),
    ("celebrity_info", {"name": "Bad Bunny"}, "how old is Bad Bunny", []),
    ("schedule_reminder", {"task": "買い物", "time": "18時"}, "18時 買い物 リマインド", []),
    ("translation_assist", {"text": "check, please", "target_language": "Korean"},
     'How do you say "check, please" in Korean', []),
])
def test_guesses_read_as_no_value_by_the_eighteenth_rule(
        function: str, arguments: dict[str, Any], message: str, lacks: list[str]) -> None:
    assert asking.lacking(default_registry().get(function), arguments, message) == lacks
