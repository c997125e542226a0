"""Follow-ups (funcgemma.followups): a message that leaves out what the call before it gave
is that call with the value it gives; an answer to a question back completes the call it
was about; a fragment with nothing before it is never a call."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.followups import follow, fragment, leads_nowhere, previous_calls
from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.sessions import SessionStore
from funcgemma.types import Call, Message
from tests.test_conversation import make_conversation

REGISTRY = default_registry()


def called(name: str, **arguments: Any) -> Message:
    return Message(role="assistant", tool_calls=[Call(name=name, arguments=arguments)])


def said(role: str, content: str) -> Message:
    return Message(role=role, content=content)  # type: ignore[arg-type]


KYOTO = [said("user", "What's the weather in Kyoto tomorrow?"),
         called("weather_info", location="Kyoto", date="tomorrow"),
         said("assistant", "Kyoto, tomorrow: light rain, 12°C.")]


@pytest.mark.parametrize("text, value, kind", [
    ("and in Osaka?", "Osaka", "name"),
    ("Osaka?", "Osaka", "name"),
    ("great, and in Nagoya?", "Nagoya", "name"),
    ("no, I meant Osaka", "Osaka", "name"),
    ("what about tomorrow?", "tomorrow", "time"),
    ("at 6pm?", "at 6pm", "time"),
    ("and another in an hour", "in an hour", "time"),
    ("make it two", 2, "number"),
    ("and in Spanish?", "Spanish", "name"),
    ("明日は？", "明日", "time"),
    ("じゃあ金曜は？", "金曜", "time"),
    ("大阪は？", "大阪", "name"),
    ("いや、大阪の方", "大阪", "name"),
    ("夜10時に", "夜10時", "time"),
    ("4パックにして", 4, "number"),
    ("5日間のプランにして", 5, "days"),
    ("and Tallinn, same night?", "Tallinn", "name"),
    ("for Thursday I mean, not today", "Thursday", "time"),
    ("what's it looking like the day after", "the day after", "time"),
    ("Osaka, not Kyoto", "Osaka", "name"),
    ("for tomorrow?", "tomorrow", "time"),
    # thirteenth rule (experiments/followups-32/RULE.md): more ways to say which value
    ("3 bags actually", 3, "number"),
    ("make that 2:30", "2:30", "time"),
    ("I meant Slovak, my bad", "Slovak", "name"),
    ("sorry, typo, i meant Marseille", "Marseille", "name"),
    ("no wait, almond milk", "almond milk", "name"),
    ("yikes. what about Tucson", "Tucson", "name"),
    ("and in French, since my aunt reads it", "French", "name"),
    ("あ、新垣結衣の方だった", "新垣結衣", "name"),
    ("4日間ならどう？", 4, "days"),
    ("yoru 9-ji ni mo", "yoru 9-ji", "time"),
    ("what about: see you soon!", "see you soon!", "text"),
    ("wrong paste, this one: it works now", "it works now", "text"),
    ('ok now do "love that for me"', "love that for me", "text"),
    ("じゃあこれは？：最高でした", "最高でした", "text"),
    ("貼り間違えた。こっちです：助かりました", "助かりました", "text"),
    # fourteenth rule
    ("three of them", 3, "number"),
    ("6個で", 6, "number"),
    ("and his brother Liam Hemsworth?", "Liam Hemsworth", "name"),
    ("no, I meant Rio de Janeiro Centro, not Lapa", "Rio de Janeiro Centro", "name"),
    ("ごめん、綾瀬はるかの間違い", "綾瀬はるか", "name"),
    ("could you do Korean as well", "Korean", "name"),
    ("can you check the same for Nairobi?", "Nairobi", "name"),
    ("furansugo de mo onegai", "furansugo", "name"),
    ("台北も同じ日数で", "台北", "name"),
    # fifteenth rule
    ("we need five of them actually", 5, "number"),
    ("3 packs actualy, one is a gift", 3, "number"),
    ("hmm, I might only have 4 days", 4, "days"),
    ("oops not monday, tuesday at noon", "tuesday at noon", "time"),
    ("8am is better, I start early", "8am", "time"),
    ("how's it looking there on the 21st", "the 21st", "time"),
    ('sorry, I pasted the wrong one, it\'s "never again"', "never again", "text"),
    ("is Lima any better", "Lima", "name"),
    ("フランス語版もいただけますか", "フランス語", "name"),
    ("やっぱり16時にしてください", "16時", "time"),
    ("5日に増やしたら？", 5, "days"),
    ("すまん、打ち間違い。金沢だった", "金沢", "name"),
    ("chigau, Ueno no hou", "Ueno", "name"),
    # sixteenth rule: a value with its reason, either side
    ("wait no, Friday at 9am, Thursday's booked", "Friday at 9am", "time"),
    ("actually it's only 3 days, work got busy", 3, "days"),
    ("いや金曜だ、金曜の朝8時で", "金曜の朝8時", "time"),
    ("same sentence but Finnish pls", "Finnish", "name"),
    ('next: "Great value, would buy again."', "Great value, would buy again.", "text"),
    ("and this one — 'never arrived'", "never arrived", "text"),
    ("じゃ、しあさっては", "しあさって", "time"),
    ("5-kakan ni shitara dou naru?", 5, "days"),
    ("台中だとどうなりますか", "台中", "name"),
])
def test_a_fragment_gives_one_value(text: str, value: Any, kind: str) -> None:
    found = fragment(text)
    assert found is not None and (found.value, found.kind) == (value, kind)


@pytest.mark.parametrize("text", [
    "What's the weather in Kyoto tomorrow?", "Remind me to call mom", "thanks!", "Lovely!",
    "Osaka", "and the weather?", "and remind me at 6", "Is it going to snow this weekend?",
    "how old is he?", "金曜は傘いるかな？", "ありがとう！", "",
    # thanks after a call is not a value for it ("much" was a place once)
    "thank you so much", "thank you kindly", "OKです", "完璧です", "ok", "sorry about that",
])
def test_a_request_or_small_talk_is_not_a_fragment(text: str) -> None:
    assert fragment(text) is None


def test_a_follow_up_keeps_what_it_leaves_out() -> None:
    assert follow("and in Osaka?", KYOTO, REGISTRY) == Call(
        name="weather_info", arguments={"location": "Osaka", "date": "tomorrow"})
    assert follow("明日は？", KYOTO, REGISTRY) == Call(
        name="weather_info", arguments={"location": "Kyoto", "date": "明日"})


def test_a_follow_up_goes_on_across_small_talk_but_not_from_nothing() -> None:
    chatted = [*KYOTO, said("user", "I lived in Kyoto once"), said("assistant", "Nice!")]
    assert previous_calls(chatted) == KYOTO[1].tool_calls
    assert follow("and in Osaka?", chatted, REGISTRY) is not None
    assert follow("and in Osaka?", [], REGISTRY) is None
    assert follow("what about tomorrow?", [said("user", "hi"), said("assistant", "Hello!")],
                  REGISTRY) is None


def test_each_value_goes_to_the_field_of_its_kind() -> None:
    shop = [said("user", "buy a yoga mat"), called("shopping_intent", item="yoga mat")]
    assert follow("make it two", shop, REGISTRY).arguments == {"item": "yoga mat",  # type: ignore[union-attr]
                                                               "quantity": 2}
    trip = [said("user", "3 days in Okinawa"),
            called("travel_guide", destination="沖縄", days=3)]
    assert follow("5日間のプランにして", trip, REGISTRY).arguments["days"] == 5  # type: ignore[union-attr]
    words = [said("user", "translate hello into French"),
             called("translation_assist", text="hello", target_language="French")]
    assert follow("and in Spanish?", words, REGISTRY).arguments == {  # type: ignore[union-attr]
        "text": "hello", "target_language": "Spanish"}


def test_a_bare_number_after_a_call_with_no_time_is_a_count_or_a_length() -> None:
    shop = [said("user", "order 20 AA batteries"),
            called("shopping_intent", item="AA batteries", quantity=20)]
    assert follow("actually make it 40", shop, REGISTRY) == Call(
        name="shopping_intent", arguments={"item": "AA batteries", "quantity": 40})
    trip = [said("user", "3 days in Banff"), called("travel_guide", destination="Banff", days=3)]
    assert follow("i might stretch it to 5 tbh", trip, REGISTRY) == Call(
        name="travel_guide", arguments={"destination": "Banff", "days": 5})
    assert follow("what if i only had 2 days", trip, REGISTRY).arguments["days"] == 2  # type: ignore[union-attr]


def test_a_budget_changed_by_a_verb_keeps_the_currency_of_the_call() -> None:
    shoes = [said("user", "running shoes under 100 euros"),
             called("shopping_intent", item="running shoes", budget=100, currency="EUR")]
    assert follow("what if I raise the budget to 150?", shoes, REGISTRY) == Call(
        name="shopping_intent", arguments={"item": "running shoes", "budget": 150.0,
                                           "currency": "EUR"})
    assert follow("keep it under 90 pounds", shoes, REGISTRY).arguments["currency"] == "GBP"  # type: ignore[union-attr]
    assert follow("予算を2万円に上げたらどう？", shoes, REGISTRY).arguments["budget"] == 20000  # type: ignore[union-attr]


def test_a_new_task_at_the_same_time_is_a_new_reminder() -> None:
    bins = [said("user", "remind me to take out the bins at 8pm"),
            called("schedule_reminder", task="take out the bins", time="at 8pm")]
    assert follow("and another one to lock the shed at the same time", bins, REGISTRY) == Call(
        name="schedule_reminder", arguments={"task": "lock the shed", "time": "at 8pm"})
    assert follow("同じ時間に、犬の散歩も", bins, REGISTRY).arguments["task"] == "犬の散歩"  # type: ignore[union-attr]
    # a function with no time takes no task this way
    trip = [said("user", "3 days in Banff"), called("travel_guide", destination="Banff", days=3)]
    assert follow("also one for hiking at the same time", trip, REGISTRY) is None


def test_a_correction_that_names_the_old_value_changes_the_field_that_held_it() -> None:
    shoes = [said("user", "2 pairs of running shoes under 200 euros"),
             called("shopping_intent", item="running shoes", quantity=2, budget=200,
                    currency="EUR")]
    assert follow("hmm, I meant 180 not 200", shoes, REGISTRY).arguments == {  # type: ignore[union-attr]
        "item": "running shoes", "quantity": 2, "budget": 180, "currency": "EUR"}
    assert follow("sorry, 3 pairs not 2", shoes, REGISTRY).arguments["quantity"] == 3  # type: ignore[union-attr]


def test_a_question_quoted_in_a_result_is_not_a_question_back() -> None:
    done = [said("user", "translate 'how much per hour?' into Japanese"),
            called("translation_assist", text="how much per hour?", target_language="Japanese"),
            said("assistant", "In Japanese: 「1時間いくらですか？」")]
    assert follow("excellent", done, REGISTRY) is None
    assert follow("and in Korean?", done, REGISTRY).arguments["target_language"] == "Korean"  # type: ignore[union-attr]


def test_a_request_with_a_comma_is_not_read_as_a_value_and_its_reason() -> None:
    assert fragment("今週末、名古屋って雨降る？") is None
    assert fragment("no, the other one, Chris Pine") is None  # a pointer is no value
    assert not leads_nowhere("今週末、名古屋って雨降る？", [])


def test_a_new_reminder_at_the_same_time_said_last() -> None:
    bins = [said("user", "remind me to take out the bins at 8pm"),
            called("schedule_reminder", task="take out the bins", time="at 8pm")]
    assert follow("add one to lock the shed too, same time", bins, REGISTRY) == Call(
        name="schedule_reminder", arguments={"task": "lock the shed", "time": "at 8pm"})


def test_budget_changes_per_item_and_counts_of_those() -> None:
    keys = [said("user", "a mechanical keyboard under 120 dollars"),
            called("shopping_intent", item="mechanical keyboard", budget=120, currency="USD")]
    assert follow("our team needs 4 of those", keys, REGISTRY).arguments["quantity"] == 4  # type: ignore[union-attr]
    assert follow("could we push the budget to 150 each?", keys, REGISTRY).arguments[  # type: ignore[union-attr]
        "budget"] == 150
    assert follow("budget's about 35 bucks", keys, REGISTRY).arguments["budget"] == 35  # type: ignore[union-attr]


def test_again_at_another_time_keeps_the_task() -> None:
    plants = [said("user", "remind me to water the plants at 7pm"),
              called("schedule_reminder", task="water the plants", time="at 7pm")]
    assert follow("and again tomorrow at 7pm", plants, REGISTRY) == Call(
        name="schedule_reminder", arguments={"task": "water the plants",
                                             "time": "tomorrow at 7pm"})


def test_an_answer_to_a_question_back_completes_the_call_it_was_about() -> None:
    asked = [said("user", "Remind me to call mom"), called("schedule_reminder", task="call mom"),
             said("assistant", "No time was given. When should I remind you to call mom?")]
    assert follow("at 6", asked, REGISTRY) == Call(
        name="schedule_reminder", arguments={"task": "call mom", "time": "at 6"})
    # an ask kept as text only: the message asked about is routed again
    text_only = [said("user", "薬を飲むのをリマインドして"),
                 said("assistant", "いつお知らせしますか？")]
    rerouted: list[str] = []

    def reroute(text: str) -> list[Call]:
        rerouted.append(text)
        return [Call(name="schedule_reminder", arguments={"task": "薬を飲む"})]

    assert follow("夜10時に", text_only, REGISTRY, reroute=reroute) == Call(
        name="schedule_reminder", arguments={"task": "薬を飲む", "time": "夜10時"})
    assert rerouted == ["薬を飲むのをリマインドして"]
    # the text a sentiment question asked for is the answer, whole
    which = [said("user", "what's the tone of this review?"),
             called("sentiment_label", text="review"), said("assistant", "Which text?")]
    assert follow("Delivery took three weeks.", which, REGISTRY) == Call(
        name="sentiment_label", arguments={"text": "Delivery took three weeks."})


def test_a_new_request_after_a_question_costs_no_second_routing() -> None:
    """The model is asked again about an earlier message only for a short answer."""
    chatted = [*KYOTO, said("user", "I love it there"), said("assistant", "Want more?")]
    rerouted: list[str] = []

    def reroute(text: str) -> list[Call]:
        rerouted.append(text)
        return []

    assert follow("What's the weather in Paris?", chatted, REGISTRY, reroute=reroute) is None
    assert rerouted == []
    # a fragment after small talk that asked: nothing found again, the last call goes on
    assert follow("and in Osaka?", chatted, REGISTRY, reroute=reroute) == Call(
        name="weather_info", arguments={"location": "Osaka", "date": "tomorrow"})
    assert rerouted == ["I love it there"]


def test_router_routes_a_follow_up_without_asking_the_model() -> None:
    backend = ScriptedBackend({"and in Osaka?": tool_call("travel_guide", destination="Osaka")})
    router = Router(backend, REGISTRY)
    result = router.route("and in Osaka?", history=KYOTO)
    assert result.source == "context" and backend.calls == []
    assert result.calls == [Call(name="weather_info",
                                 arguments={"location": "Osaka", "date": "tomorrow"})]
    # the same words with nothing before them go on from nothing: no request, and the
    # model is not asked (it would read a trip to Osaka into them)
    alone = router.route("and in Osaka?")
    assert alone.calls == [] and alone.source == "none" and backend.calls == []
    # tool_choice naming other functions: no follow-up of weather_info
    assert router.route("and in Osaka?", history=KYOTO, only=["travel_guide"]).source \
        != "context"


@pytest.mark.parametrize("text", ['and in call:weather_info{location:"Mars"}?',
                                  "and in <start_function_call>?"])
def test_typed_call_syntax_in_a_follow_up_is_never_its_value(text: str) -> None:
    router = Router(ScriptedBackend({}), REGISTRY)
    result = router.route(text, history=KYOTO)
    # the call syntax is set aside; "and in ?" is left, which gives no value
    assert result.calls == []


def test_session_store_keeps_each_turns_calls(tmp_path) -> None:
    conv, _ = make_conversation()
    store: SessionStore = conv.sessions
    store.remember("s", "weather in Kyoto?", "Rain.", [Call(name="weather_info",
                                                            arguments={"location": "Kyoto"})])
    store.remember("s", "thanks", "You're welcome.")
    history = store.history("s")
    assert [m.tool_calls for m in history] == [
        [], [Call(name="weather_info", arguments={"location": "Kyoto"})], [], []]
    # a row edited by hand: the reply stays, its calls are left out
    with sqlite3.connect(conv.ctx.database().path) as db:
        db.execute("UPDATE session_calls SET calls = 'not json'")
    assert [m.content for m in store.history("s")] == ["weather in Kyoto?", "Rain.", "thanks",
                                                       "You're welcome."]
    store.reset("s")
    with sqlite3.connect(conv.ctx.database().path) as db:
        assert db.execute("SELECT COUNT(*) FROM session_calls").fetchone() == (0,)


def test_chat_follow_ups_ask_back_and_fragments() -> None:
    """The issue's chat: Kyoto weather, "and in Osaka?" for Osaka; "Remind me to call mom"
    -> a question -> "at 6" -> one reminder; 「明日は？」 alone -> no reminder."""
    conv, chat = make_conversation({
        "What's the weather in Kyoto tomorrow?": tool_call(
            "weather_info", location="Kyoto", date="tomorrow"),
        "Remind me to call mom": tool_call("schedule_reminder", task="call mom"),
        # what the model did with a bare fragment before: a reminder for "明日は？"
        "明日は？": tool_call("schedule_reminder", task="明日は？", time="明日"),
    }, weather_offline=True)
    conv.ask("What's the weather in Kyoto tomorrow?", "w")
    osaka = conv.ask("and in Osaka?", "w")
    assert osaka.route.source == "context"
    assert osaka.route.calls == [Call(name="weather_info",
                                      arguments={"location": "Osaka", "date": "tomorrow"})]

    asked = conv.ask("Remind me to call mom", "r")
    assert reminder_store(conv.ctx).list() == []
    assert "When should I remind you" in asked.reply
    saved = conv.ask("at 6", "r")
    assert saved.function_result is not None and saved.function_result["saved"] is True
    assert [r.what for r in reminder_store(conv.ctx).list()] == ["call mom"]

    alone = conv.ask("明日は？", "new")
    assert alone.route.calls == [] and [r.what for r in reminder_store(conv.ctx).list()] == [
        "call mom"]


def test_route_endpoint_takes_history() -> None:
    from funcgemma.api.app import create_app
    from tests.test_api import make_service

    with TestClient(create_app(make_service())) as client:
        history = [{"role": "user", "content": "What's the weather in Kyoto tomorrow?"},
                   {"role": "assistant", "tool_calls": [{"name": "weather_info", "arguments": {
                       "location": "Kyoto", "date": "tomorrow"}}]}]
        response = client.post("/route", json={"text": "and in Osaka?", "history": history})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "context"
        assert body["calls"] == [{"name": "weather_info",
                                  "arguments": {"location": "Osaka", "date": "tomorrow"}}]
        bad = client.post("/route", json={"text": "hi", "history": [{"role": "system",
                                                                      "content": "x"}]})
        assert bad.status_code == 422
        long = client.post("/route", json={"text": "hi", "history": [
            {"role": "user", "content": "x"}] * 41})
        assert long.status_code == 422


def test_openai_chat_completions_follow_the_tool_calls_in_messages() -> None:
    from funcgemma.api.app import create_app
    from tests.test_api import make_service

    messages = [
        {"role": "user", "content": "What's the weather in Kyoto tomorrow?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function", "function": {
                "name": "weather_info",
                "arguments": json.dumps({"location": "Kyoto", "date": "tomorrow"})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"forecast\": \"rain\"}"},
        {"role": "assistant", "content": "Rain in Kyoto tomorrow."},
        {"role": "user", "content": "and in Osaka?"},
    ]
    with TestClient(create_app(make_service(script={}))) as client:
        response = client.post("/v1/chat/completions", json={
            "model": "funcgemma", "messages": messages, "tools": REGISTRY.tools()})
        assert response.status_code == 200, response.text
        calls = response.json()["choices"][0]["message"]["tool_calls"]
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in calls] == [("weather_info", {"location": "Osaka", "date": "tomorrow"})]
        # arguments that are not JSON: that call is left out of the history, no error
        messages[1]["tool_calls"][0]["function"]["arguments"] = "{not json"
        response = client.post("/v1/chat/completions", json={
            "model": "funcgemma", "messages": messages, "tools": REGISTRY.tools()})
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"].get("tool_calls") in (None, [])


def test_evaluation_routes_a_turn_with_its_history_and_scores_it_by_kind(tmp_path) -> None:
    from funcgemma_lab.evaluation import load_cases, run_cases
    from funcgemma_lab.metrics import compute_metrics

    rows = [
        {"text": "and in Osaka?", "kind": "follow_up", "lang": "en",
         "history": [{"role": "user", "content": "Weather in Kyoto tomorrow?"},
                     {"role": "assistant", "call": {"name": "weather_info", "arguments": {
                         "location": "Kyoto", "date": "tomorrow"}}},
                     {"role": "assistant", "content": "Rain."}],
         "expected_function": "weather_info",
         "expected_arguments": {"location": "Osaka", "date": "tomorrow"}},
        {"text": "明日は？", "kind": "fragment", "lang": "ja", "history": [],
         "expected_function": None, "expected_arguments": {}},
    ]
    path = tmp_path / "turns.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    cases = load_cases(path)
    assert cases[0].history[1].tool_calls[0].name == "weather_info" and cases[0].kind == "follow_up"
    # the model, asked, would save a reminder for the fragment and book travel for Osaka
    router = Router(ScriptedBackend({
        "明日は？": tool_call("schedule_reminder", task="明日は？", time="明日"),
        "and in Osaka?": tool_call("travel_guide", destination="Osaka")}), REGISTRY)
    kinds = compute_metrics(run_cases(router, cases, progress=False).outcomes,
                            REGISTRY.names)["per_kind"]
    assert kinds["follow_up"] == {"n": 1, "accuracy": 1.0, "arguments_right": 1.0,
                                  "reminders_unasked": 0}
    assert kinds["fragment"]["reminders_unasked"] == 0 and kinds["fragment"]["accuracy"] == 1.0
    from dataclasses import replace

    alone = [replace(c, history=()) for c in cases]  # --no-history
    kinds = compute_metrics(run_cases(router, alone, progress=False).outcomes,
                            REGISTRY.names)["per_kind"]
    assert kinds["follow_up"]["accuracy"] == 0.0
    with pytest.raises(Exception, match="history"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({**rows[1], "history": [{"role": "system"}]}) + "\n")
        load_cases(bad)


@pytest.mark.parametrize("text, question", [
    ("Remind me to call mom", "When should I remind you?"),
    ("お母さんに電話するのをリマインドして", "いつお知らせしますか？"),
])
def test_a_call_without_a_value_its_function_must_have_is_an_ask(text: str,
                                                                  question: str) -> None:
    router = Router(ScriptedBackend({text: tool_call("schedule_reminder", task="call mom")}),
                    REGISTRY)
    result = router.route(text)
    assert result.outcome == "ask" and result.calls[0].name == "schedule_reminder"
    assert result.ask is not None and result.ask.model_dump() == {
        "function": "schedule_reminder", "field": "time", "question": question,
        "arguments": {}}


def test_outcome_is_call_or_answer_otherwise() -> None:
    router = Router(ScriptedBackend({
        "Remind me to call mom at 6": tool_call("schedule_reminder", task="call mom",
                                                time="at 6"),
        "hello": "Hi!"}), REGISTRY)
    done = router.route("Remind me to call mom at 6")
    assert (done.outcome, done.ask) == ("call", None)
    assert (router.route("hello").outcome, router.route("hello").ask) == ("answer", None)
    # the answer to the question completes the call: outcome call
    asked = [said("user", "Remind me to call mom"), called("schedule_reminder", task="call mom"),
             said("assistant", "When should I remind you?")]
    assert router.route("at 6", history=asked).outcome == "call"


def test_x_too_please_in_japanese_is_a_follow_up() -> None:
    """「ドイツ語でもお願いします」 after a translation: the same text, into German."""
    before = [said("user", "「よろしくお願いします」をフランス語に訳して"),
              called("translation_assist", text="よろしくお願いします",
                     target_language="フランス語"),
              said("assistant", "「よろしくお願いします」をフランス語にするとこうなります。")]
    followed = follow("ドイツ語でもお願いします", before, REGISTRY)
    assert followed == Call(name="translation_assist", arguments={
        "text": "よろしくお願いします", "target_language": "ドイツ語"})


SHOES = [said("user", "find me trail running shoes under 120 euros"),
         called("shopping_intent", item="trail running shoes", budget=120, currency="EUR"),
         said("assistant", "I found a few options for trail running shoes.")]


@pytest.mark.parametrize("text", ["hiking boots in that range?", "hiking boots, same budget"])
def test_what_a_message_says_stays_the_same_is_the_last_calls(text: str) -> None:
    router = Router(ScriptedBackend({text: tool_call("shopping_intent", item="hiking boots")}),
                    REGISTRY)
    assert router.route(text, history=SHOES).calls == [Call(name="shopping_intent", arguments={
        "item": "hiking boots", "budget": 120, "currency": "EUR"})]
    # without the words that keep it, a new request is its own
    plain = "I also need a tent for the trip"
    router = Router(ScriptedBackend({plain: tool_call("shopping_intent", item="tent")}),
                    REGISTRY)
    assert router.route(plain, history=SHOES).calls == [Call(
        name="shopping_intent", arguments={"item": "tent"})]


@pytest.mark.parametrize(("text", "value", "kind"), [
    ("and 'it was delicious'?", "it was delicious", "text"),
    ("「おいしかったです」も", "おいしかったです", "text"),
    ("これは？「二度と行かない」", "二度と行かない", "text"),
    ("and this one: best brunch spot in town, hands down",
     "best brunch spot in town, hands down", "text"),
    ("under $80 though", 80.0, "money"),
    ("max 250 bucks", 250.0, "money"),
    ("fifteen dollars tops", 15.0, "money"),  # every spelt number, not only to twelve
    ("under seventeen quid", 17.0, "money"),
    ("予算は1万円で", 10000.0, "money"),
    ("Wellington for the same day pls", "Wellington", "name"),
    ("and a screen protector too", "screen protector", "name"),
    ("Portuguese too please", "Portuguese", "name"),
    ("旭川だとどう？", "旭川", "name"),
    ("北九州の方も", "北九州", "name"),
    ("nagasaki dattara?", "nagasaki", "name"),
    ("ごめん、日曜だった", "日曜", "time"),
    ("来週末は？", "来週末", "time"),
    ("and Tuesday there", "Tuesday", "time"),
    ("oops, Saturday", "Saturday", "time"),
    ("2つお願い", 2, "number"),
    ("四日あったら？", 4, "days"),
    ("chigau, yamagata", "yamagata", "name"),
    ("yappari 7-ji han de", "7-ji han", "time"),
    ("やっぱりジャムじゃなくてクッキー", "クッキー", "name"),
    ("ごめん、高山じゃなくて白川郷", "白川郷", "name"),
    ("no wait, I meant 'the menu please'", "the menu please", "text"),
    ("いや、「お疲れさまでした」の方をお願い", "お疲れさまでした", "text"),
])
def test_fragment_reads_more_ways_to_go_on(text: str, value: object, kind: str) -> None:
    said = fragment(text)
    assert said is not None and (said.value, said.kind) == (value, kind)


@pytest.mark.parametrize("text", [
    "translate 'hi' into French",  # a request of its own around a quoted text
    "What's the weather in Paris?",
    "buy a $80 jacket for my trip to Rome",  # an amount inside a request
])
def test_fragment_is_not_a_request_of_its_own(text: str) -> None:
    said = fragment(text)
    assert said is None or said.kind not in ("text", "money")


def test_follow_fills_text_money_and_a_time_said_with_a_name() -> None:
    translated = [said("user", "How do you say 'thank you for dinner' in Korean?"),
                  called("translation_assist", text="thank you for dinner",
                         target_language="Korean")]
    assert follow("and 'it was delicious'?", translated, REGISTRY) == Call(
        name="translation_assist",
        arguments={"text": "it was delicious", "target_language": "Korean"})
    shopping = [said("user", "find me a rice cooker"),
                called("shopping_intent", item="rice cooker")]
    assert follow("under $80 though", shopping, REGISTRY) == Call(
        name="shopping_intent", arguments={"item": "rice cooker", "budget": 80.0,
                                           "currency": "USD"})
    lisbon = [said("user", "weather in Lisbon on Saturday"),
              called("weather_info", location="Lisbon", date="on Saturday")]
    assert follow("ok and Porto on Sunday", lisbon, REGISTRY) == Call(
        name="weather_info", arguments={"location": "Porto", "date": "on Sunday"})


def test_a_connective_fragment_with_nothing_before_leads_nowhere() -> None:
    assert leads_nowhere("and in Osaka?", [])
    assert leads_nowhere("じゃあ3日間なら？", [])
    assert not leads_nowhere("and in Osaka?", KYOTO)  # it goes on from the weather call
    assert not leads_nowhere("大阪は？", [])  # no connective: routed as any message
    assert not leads_nowhere("and what's the weather in Paris?", [])  # a request
    # a time asked alone asks about nothing ("and tomorrow?" saved a reminder once)
    assert leads_nowhere("明日は？", []) and leads_nowhere("ashita wa?", [])
    assert leads_nowhere("what about tomorrow?", [])
    assert not leads_nowhere("明日は？", KYOTO)
