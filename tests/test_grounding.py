"""Grounding: misspelt copies of the user's words are repaired from the message."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from funcgemma.functions.schedule_reminder.store import reminder_store
from funcgemma.registry import FunctionSpec, default_registry
from funcgemma.repair import (
    complete_clock,
    complete_day,
    complete_repetition,
    ground,
    repair,
    tidy,
    trim_particle,
    whole_text,
)
from funcgemma.roles import Amount, Copied, Days, Language, Verbatim, When, roles_of


def grounded(spec: FunctionSpec) -> list[str]:
    return [k for k, r in spec.roles.items() if r.grounded]

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(("value", "text", "expected"), [
    # the model's misspelling is replaced by the user's span, widened to whole words
    ("odoratum", "Need to buy deodorant on the way home", "deodorant"),
    ("bouquetes", "I want to get 5 bouquets for the wedding tables", "bouquets"),
    ("tonorow", "whats the forcast for pittsburg tomorow", "tomorow"),
    # the user's typo is what they wrote, so it is what the argument holds
    ("vancouver", "wheather in vancuver this weekedn?", "vancuver"),
    ("atlantica", "hows teh weathr in atlnta tmrw", "atlnta"),
    ("clevin", "is it gona be cold in clevland", "clevland"),
    # Japanese spans are taken as aligned, not widened to the whole run of kana
    ("東京駅", "東京の天気", "東京"),
    # a value already in the text (case and width folded) is kept as the model wrote it
    ("English", "what does it mean in english", "English"),
    ("Ｔｏｋｙｏ", "Tokyo weather", "Ｔｏｋｙｏ"),
    ("ゴミ出しリマインド", "ゴミ出しリマインド 明日7時", "ゴミ出しリマインド"),
    # nothing close enough: a translation or an inference is left alone
    ("New York City", "weather in NYC", "New York City"),
    ("Paris", "weather in the capital of France", "Paris"),
    ("OKATA", "2泊3日の大阪旅行、おすすめある？", "OKATA"),
    # a combining accent belongs to its letter: the span is not cut before it
    ("kafé", "a table at CAFE\u0301 MOZART tonight", "CAFE\u0301"),
    ("cafe", "meet at the cafe\u0301 near the station", "cafe\u0301"),
    # a copy that cuts a word is widened to the whole word, over letters only
    ("jordan", "where can i cop jordans for less than 200 bucks", "jordans"),
    ("fill my prescription", "remind me to refill my prescription", "refill my prescription"),
    ("Tokyo", "what's Tokyo's best ramen", "Tokyo"),
    ("Siberia", "is the Trans-Siberian worth it", "Siberian"),
    # ...a run of katakana is a word too, but digits and kanji do not join it
    ("バッテリー", "モバイルバッテリー買いたい", "モバイルバッテリー"),
    ("トイレットペーパー", "トイレットペーパー12ロール買わなきゃ", "トイレットペーパー"),
    ("Tシャツ", "Tシャツ3枚まとめて買える店ある?", "Tシャツ"),
    ("東京", "東京駅の近くのカフェ", "東京"),
    # ...and nothing widens where the value also stands as a whole word
    ("cat", "my cat knocked the catalog over", "cat"),
    # too short to judge
    ("x", "xylophone", "x"),
])
def test_ground(value: str, text: str, expected: str) -> None:
    assert ground(value, text) == expected


def test_ground_is_quick_on_a_long_run_of_japanese() -> None:
    """Every character of Japanese starts a candidate span: a long message is aligned by
    sliding instead, and still finds the user's spelling."""
    text = "あいうえお" * 1600 + "北海道の札幌" + "かきくけこ" * 10
    # The alignment's own CPU time: this thread only (process_time also counts the
    # threads other tests started), and no garbage collection of what the whole suite
    # left alive inside the timed call (CI saw 0.18-0.21 s for what takes 0.02 s alone).
    gc.collect()
    gc.disable()
    try:
        start = time.thread_time()
        found = ground("北海道札幌", text)
        spent = time.thread_time() - start
    finally:
        gc.enable()
    assert found == "北海道の札幌"
    assert spent < 0.1


def test_ground_strips_quotes_and_punctuation_from_the_span() -> None:
    text = 'is this positive? "the soup was cold but the staff were lovely!"'
    assert ground("the soup was cold but staff were lovely", text) == (
        "the soup was cold but the staff were lovely")


def test_repair_touches_only_grounded_string_fields() -> None:
    args = {"item": "odoratum", "quantity": 2, "currency": "USD"}
    out = repair(args, {"item": Copied(), "quantity": Copied()},
                 "buy 2 deodorant sticks, 5 bucks")
    assert out == {"item": "deodorant", "quantity": 2, "currency": "USD"}
    assert args["item"] == "odoratum"  # the input is not mutated


def test_every_grounded_field_is_a_string_parameter_of_its_function() -> None:
    for spec in default_registry():
        props = spec.tool_schema()["function"]["parameters"]["properties"]
        assert grounded(spec), f"{spec.name} grounds nothing"
        for key in grounded(spec):
            assert props[key]["type"] == "string", (spec.name, key)


@pytest.mark.parametrize(("value", "verbatim", "expected"), [
    # a spoken hesitation in front of a value is not part of it
    ("um Morgan Freeman", False, "Morgan Freeman"),
    ("uh, this app keeps crashing", True, "this app keeps crashing"),
    ("Umm uh email the landlord", False, "email the landlord"),
    ("erm the car inspection", False, "the car inspection"),
    # ...but words that merely start like one are kept
    ("umbrella", False, "umbrella"),
    ("uhlans of Warsaw", False, "uhlans of Warsaw"),
    ("Herman Melville", False, "Herman Melville"),
    ("UM football tickets", False, "UM football tickets"),
    ("ER visit", False, "ER visit"),
    # an emoji signing off a time or task goes; a text to label keeps its emoji
    ("tmrw morning 😩", False, "tmrw morning"),
    ("take the pizza out 🍕", False, "take the pizza out"),
    ("flight at 6 ✈️", False, "flight at 6"),
    ("the food was great 😍", True, "the food was great 😍"),
    ("Coca-Cola®", False, "Coca-Cola®"),
    # a dictated closing quote is punctuation, not text
    ("finally finished my thesis end quote", True, "finally finished my thesis"),
    ("the hotel was fine, unquote", True, "the hotel was fine"),
    ("quote of the day", True, "quote of the day"),
    # never emptied
    ("um", False, "um"),
    ("🍕", False, "🍕"),
])
def test_tidy(value: str, verbatim: bool, expected: str) -> None:
    assert tidy(value, verbatim=verbatim) == expected


def test_repair_tidies_and_keeps_verbatim_texts_whole() -> None:
    text = "so remind me at noon to um email the landlord 📧"
    out = repair({"task": "um email the landlord 📧", "time": "at noon"},
                 {"task": Copied(), "time": When()}, text)
    assert out == {"task": "email the landlord", "time": "at noon"}
    out = repair({"text": "uh love it 😍", "target_language": "French"},
                 {"text": Verbatim(), "target_language": Language()},
                 "translate uh love it 😍 to French")
    assert out["text"] == "love it 😍"


def test_roles_of_refuses_two_roles_or_a_role_the_type_cannot_hold() -> None:
    from typing import Annotated

    from pydantic import BaseModel

    class TwoRoles(BaseModel):
        task: Annotated[str, Copied(), When()]

    class TextAsNumber(BaseModel):
        days: Annotated[str, Days()]

    class NumberAsText(BaseModel):
        place: Annotated[int | None, Copied()] = None

    spec = default_registry().get("schedule_reminder")
    for params, match in ((TwoRoles, "two roles"), (TextAsNumber, "needs a number"),
                          (NumberAsText, "needs text")):
        with pytest.raises(ValueError, match=match):
            roles_of(params)
        with pytest.raises(ValueError, match=match):
            FunctionSpec(name="x", params=params, handler=spec.handler)
    assert dict(spec.roles) == {"task": Copied(), "time": When(repeats=True)}


@pytest.mark.parametrize(("value", "expected"), [
    ("金曜日に", "金曜日"), ("今の", "今"), ("明日は", "明日"), ("来週の月曜には", "来週の月曜"),
    ("水曜まで", "水曜まで"),  # まで is part of the time
    ("tomorrow at 9", "tomorrow at 9"), ("に", "に"),  # never emptied
])
def test_trim_particle(value: str, expected: str) -> None:
    assert trim_particle(value) == expected


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        ("at 3", "remnd me to pick up the kds at 3:15", "at 3:15"),
        ("at 3", "meet me in the Hauptstraße at 3:15", "at 3:15"),  # ß folds to two letters
        ("AT 3", "CALL MOM at 3:45", "AT 3:45"),
        ("3", "call the bank at 3:15pm ok", "3:15pm"),
        ("7", "wake me 7:05 a.m. tomorrow", "7:05 a.m."),
        ("at 3", "at 3 and again at 3:15", "at 3"),  # the hour alone is written too
        ("at 3", "meet at 30th street", "at 3"),
        ("at 9", "at 9:5 maybe", "at 9"),  # not a clock time
        ("tomorrow", "tomorrow 3:15", "tomorrow"),
        ("15時", "15時30分に会議", "15時"),
    ],
)
def test_complete_clock(value: str, text: str, expected: str) -> None:
    assert complete_clock(value, text) == expected


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        # the README's own example: "at 6pm" alone would be today at 18:00
        ("at 6pm", "remind me to call mom tomorrow at 6pm", "tomorrow at 6pm"),
        ("at 9", "remind me tomorrow morning at 9 to stretch", "tomorrow morning at 9"),
        ("at 6pm", "call mom at 6pm tomorrow please", "at 6pm tomorrow"),
        ("at 7", "remind me next Monday at 7 to run", "next Monday at 7"),
        ("at 5", "on Friday at 5 remind me to pay rent", "Friday at 5"),
        ("9am", "set a reminder for the dentist on Dec 3 9am", "Dec 3 9am"),
        ("18時", "明日の18時に母に電話するのをリマインドして", "明日の18時"),
        # the model left out the "at" between the day and the time, or a weekday as 金曜
        ("6pm", "remind me to call mom tomorrow at 6pm", "tomorrow at 6pm"),
        ("6 pm", "remind me at 6 pm on friday to call", "6 pm on friday"),
        ("7時", "金曜の夜7時にジムをリマインド", "金曜の夜7時"),
        # unchanged: a day already there, a relative time, no day next to it, two readings
        ("tomorrow at 6pm", "remind me to call mom tomorrow at 6pm", "tomorrow at 6pm"),
        ("in 30 minutes", "tomorrow remind me in 30 minutes", "in 30 minutes"),
        ("at 3pm", "remind me at 3pm to buy tomorrow's paper", "at 3pm"),
        ("at 8", "remind me to call Sunday Motors at 8", "at 8"),
        ("at 3pm", "check today at 3pm and tomorrow at 3pm", "at 3pm"),
    ],
)
def test_complete_day(value: str, text: str, expected: str) -> None:
    assert complete_day(value, text) == expected


@pytest.mark.parametrize(("text", "arguments", "expected"), [
    ("remind me to call mom tomorrow at 6pm", {"task": "call mom", "time": "at 6pm"},
     {"task": "call mom", "time": "tomorrow at 6pm"}),
    # the day the model put in the task belongs to the time
    ("remind me to sleep tomorrow at 10pm", {"task": "sleep tomorrow", "time": "at 10pm"},
     {"task": "sleep", "time": "tomorrow at 10pm"}),
    ("remind me to call mom tomorrow at 6pm", {"task": "call mom tomorrow", "time": "6pm"},
     {"task": "call mom", "time": "tomorrow at 6pm"}),
    ("明日の18時に母に電話するのをリマインドして", {"task": "母に電話する", "time": "18時"},
     {"task": "母に電話する", "time": "明日の18時"}),
])
def test_reminder_time_gets_the_day_said_next_to_it(
        text: str, arguments: dict[str, str], expected: dict[str, str]) -> None:
    spec = default_registry().get("schedule_reminder")
    assert spec.ground(arguments, text) == expected


def test_repair_checks_numbers_and_trims_times() -> None:
    out = repair({"item": "エアコン", "budget": 10000.0, "quantity": 2},
                 {"item": Copied(), "budget": Amount(), "quantity": Amount()},
                 "エアコンを2台、10万円以内で")
    assert out == {"item": "エアコン", "budget": 100000.0, "quantity": 2}
    out = repair({"destination": "Venice", "days": 7},
                 {"destination": Copied(), "days": Days()}, "We only have a single day in Venice")
    assert out == {"destination": "Venice", "days": 1} and isinstance(out["days"], int)
    out = repair({"location": "京都", "date": "今の"}, {"location": Copied(), "date": When()},
                 "今の京都の気温を教えて")
    assert out == {"location": "京都", "date": "今"}
    out = repair({"task": "pick up the kids", "time": "at 3"},
                 {"task": Copied(), "time": When()}, "remind me to pick up the kids at 3:15")
    assert out == {"task": "pick up the kids", "time": "at 3:15"}


@pytest.mark.parametrize(("value", "text", "expected"), [
    # a quoted text is taken whole, without its quotation marks
    ("ご来店", "「ご来店ありがとうございました」を英語に翻訳して", "ご来店ありがとうございました"),
    ("the concert was mid", "positive or negative 'the concert was mid tbh'",
     "the concert was mid tbh"),
    ("she said 'lovely hedge, trim it'", "she said 'lovely hedge, trim it' - is she cross?",
     "lovely hedge, trim it"),
    ("ok", "what's the tone of 'don't worry, it's ok'", "don't worry, it's ok"),
    # apostrophes inside words quote nothing; a value that is a whole quotation stays
    ("lemon", "what's 'lemon' in Italian", "lemon"),
    ("sakura", 'what does "sakura" mean in "sakura ga saita"', "sakura"),
    # two quotations hold it: ambiguous, left alone
    ("hi", "is 'hi there' or 'hi you' friendlier?", "hi"),
    # unquoted: the emoji that end the message right after the text belong to it
    ("my cat knocked my coffee over AGAIN",
     "sentiment of this tweet pls my cat knocked my coffee over AGAIN 😂",
     "my cat knocked my coffee over AGAIN 😂"),
    ("great food", "great food 😍 but slow service", "great food"),
])
def test_whole_text(value: str, text: str, expected: str) -> None:
    assert whole_text(value, text) == expected


@pytest.mark.parametrize("split", ["train", "dev", "test", "holdout/wild"])
def test_labelled_arguments_are_fixed_points(split: str) -> None:
    """Grounding and tidying never change a correct argument: every labelled value in our
    data comes back as it was labelled."""
    from funcgemma_lab.datasets import read_cases
    from funcgemma_lab.metrics import argument_matches

    registry = default_registry()
    changed = []
    for case in read_cases(DATA / f"{split}.jsonl"):
        if case.expected_function:
            spec = registry.get(case.expected_function)
            out = spec.ground(case.expected_arguments, case.text)
            if not all(argument_matches(case.expected_arguments, out).values()):
                changed.append((case.text, case.expected_arguments, out))
    # labelled before whole-word widening and published with the splits; relabelling it
    # would regroup its template and move published dev and test rows (split_cases)
    known = {"モバイルバッテリーを探して"} if split == "train" else set()
    assert [c for c in changed if c[0] not in known] == []


@pytest.mark.parametrize(("value", "text", "expected"), [
    # a language the user never named becomes the one the message names (seen on dev:
    # "into korean" came back as "english"; "into spansih" as "spies")
    ("english", "translate i want to go home into korean", "korean"),
    ("spies", "transalte 'good luck on your exam' into spansih", "spansih"),
    ("English", "「よろしくお願いします」を英語にして", "英語"),
    ("French", "How do you say 'good night' in Korean?", "Korean"),
    ("english", "kore eigo ni shite: arigatou", "eigo"),
    # a language inside the text to translate is data, not the target
    ("English", "translate 'I speak French' into german please", "german"),
    # the one marked as the target wins over one merely mentioned
    ("Spanish", "translate 'bonjour' from french to english", "english"),
    # "単語" (word) is not a language
    ("German", "この単語を韓国語で何て言う？「ありがとう」", "韓国語"),
    # a value the message contains is never touched, even if it looks wrong
    ("Korean", "translate 'I love Korean food' into Japanese", "Korean"),
    # no language named, or two equally likely: the model's value stays
    ("English", "translate this: hola amigo", "English"),
    ("Thai", "translate 'hello' into French and into Spanish", "Thai"),
])
def test_ground_language(value: str, text: str, expected: str) -> None:
    from funcgemma.repair.language import ground_language

    quoted = [q for q in ("good luck on your exam", "よろしくお願いします", "good night",
                          "I speak French", "bonjour", "ありがとう", "I love Korean food",
                          "hola amigo", "arigatou", "i want to go home", "hello")
              if q in text]
    assert ground_language(value, text, exclude=quoted) == expected


def test_translation_spec_grounds_its_language() -> None:
    spec = default_registry().get("translation_assist")
    out = spec.ground({"text": "nice to meet you", "target_language": "english"},
                      "okay translate uh nice to meet you into korean")
    assert out == {"text": "nice to meet you", "target_language": "korean"}
    # the language is repaired, never forced while decoding ('French' for フランス語)
    assert spec.copied == ("text",)


@pytest.mark.parametrize(("value", "text", "others", "expected"), [
    ("at 8am", "every monday remind me to water the plants at 8am", ("water the plants",),
     "every monday at 8am"),
    ("at 9pm", "set a daily reminder at 9pm to write in my journal", ("write in my journal",),
     "daily at 9pm"),
    ("at 8 o'clock", "remind me to take my tablets at 8 o'clock every morning",
     ("take my tablets",), "every morning at 8 o'clock"),
    ("8時", "毎週月曜日の8時に週報を出すのを教えて", ("週報を出す",), "毎週月曜日8時"),
    # unchanged: the repetition is the task's, already in the time, or the time is once
    ("friday morning", "alert me friday morning to send the weekly update",
     ("send the weekly update",), "friday morning"),
    ("every day at 7", "remind me every day at 7 to stretch", ("stretch",), "every day at 7"),
    ("in 30 minutes", "every day is hard, remind me in 30 minutes to rest", ("rest",),
     "in 30 minutes"),
    ("tomorrow at 9", "I forget things every day, remind me tomorrow at 9", ("x",),
     "tomorrow at 9"),
    # the word that makes it repeat, right before the copied value
    ("Monday at 8am", "remind me every Monday at 8am to take out the bins",
     ("take out the bins",), "every Monday at 8am"),
    ("on friday at 5pm", "remind me weekly on friday at 5pm to file the report",
     ("file the report",), "weekly on friday at 5pm"),
    ("朝7時", "薬を毎朝7時に飲むのをリマインドして", ("薬を飲む",), "毎朝7時"),
    # the clock time after a repetition copied alone
    ("毎朝", "薬を毎朝7時に飲むのをリマインドして", ("薬を飲む",), "毎朝7時"),
    # repetitions the function does not keep, so that it refuses them (were one-offs)
    ("at 9am", "remind me at 9am on the first of every month to pay rent", ("pay rent",),
     "every month at 9am"),
    ("at 8am", "remind me at 8am every other day to water the cactus", ("water the cactus",),
     "every other day at 8am"),
    ("at 10am", "remind me on weekends at 10am to call grandma", ("call grandma",),
     "on weekends at 10am"),
    # a start, an end or an exception right after it (were dropped: kept for ever)
    ("every day at 8", "remind me every day at 8 starting tomorrow to take vitamins",
     ("take vitamins",), "every day at 8 starting tomorrow"),
    ("every day at 8pm", "remind me every day at 8pm for the next week to stretch",
     ("stretch",), "every day at 8pm for the next week"),
    ("every morning", "remind me every morning at 7 except sundays to run", ("run",),
     "every morning at 7 except sundays"),
    ("every weekday at 8:55", "Set a reminder every weekday at 8:55 for the daily scrum",
     ("daily scrum",), "every weekday at 8:55"),  # "for the daily scrum" is no limit
    ("every day at 7", "Every day at 7, remind me to stretch", ("stretch",), "every day at 7"),
    # two: both, which the reminder function refuses (it kept one and dropped the other)
    ("at 8", "every monday or every friday, remind me at 8", ("x",),
     "every monday and every friday at 8"),
])
def test_complete_repetition(value: str, text: str, others: tuple[str, ...],
                             expected: str) -> None:
    assert complete_repetition(value, text, others=others) == expected


def test_a_weekly_request_whose_time_lost_its_repetition_is_saved_weekly() -> None:
    spec = default_registry().get("schedule_reminder")
    text = "every monday remind me to water the plants at 8am"
    grounded = spec.ground({"task": "water the plants", "time": "at 8am"}, text)
    assert grounded == {"task": "water the plants", "time": "every monday at 8am"}


def test_a_forecast_day_is_not_given_a_repetition() -> None:
    spec = default_registry().get("weather_info")
    text = "I run every morning, will it rain in Paris at 7am?"
    assert spec.ground({"location": "Paris", "date": "at 7am"}, text)["date"] == "at 7am"



@pytest.mark.parametrize(("text", "args"), [
    ("remind me at 9am on the first of every month to pay rent",
     {"task": "pay rent", "time": "at 9am"}),
    ("remind me every day at 8 starting tomorrow to take vitamins",
     {"task": "take vitamins", "time": "every day at 8"}),
    ("every morning at 9am and every evening at 9pm remind me to stretch",
     {"task": "stretch", "time": "at 9am"}),
])
def test_a_repetition_the_function_cannot_keep_is_refused_not_saved_once(
        text: str, args: dict[str, str], tmp_path: Path) -> None:
    """Each was saved as a one-off, or for ever, without a word: the router's copied time
    had lost the repetition or its limit."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from funcgemma.functions.context import FunctionContext
    from funcgemma.functions.schedule_reminder import ScheduleReminderParams, schedule_reminder
    from funcgemma.settings import Settings

    spec = default_registry().get("schedule_reminder")
    grounded = spec.ground(args, text)
    ctx = FunctionContext(settings=Settings(data_dir=tmp_path),
                          now=lambda: datetime(2026, 12, 6, 7, 0, tzinfo=ZoneInfo("UTC")))
    result = schedule_reminder(ScheduleReminderParams(**grounded), ctx)
    assert "every day, every weekday or every week" in result.payload()["error"]
    assert reminder_store(ctx).list() == []
