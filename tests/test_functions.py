"""Each function's handler with realistic parameters. Open-Meteo is faked at its HTTP
transport with the shapes its API really returns; everything else is real."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fake_wiki import FakeWiki

from funcgemma.functions.celebrity_info import CelebrityInfoParams, celebrity_info
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder import ScheduleReminderParams, schedule_reminder
from funcgemma.functions.schedule_reminder.store import ReminderStore, reminder_store
from funcgemma.functions.sentiment_label import SentimentLabelParams, sentiment_label
from funcgemma.functions.shopping_intent import ShoppingIntentParams, shopping_intent
from funcgemma.functions.translation_assist import TranslationAssistParams, translation_assist
from funcgemma.functions.travel_guide import TravelGuideParams, travel_guide
from funcgemma.functions.weather_info import WeatherInfoParams, weather_info
from funcgemma.messages import in_language, language_of
from funcgemma.results import Done, Failed
from funcgemma.settings import Settings

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2025, 3, 12, 14, 30, tzinfo=TOKYO)  # a Wednesday
WEATHER_KEYS = {"conditions", "temperature_max_c", "temperature_min_c",
                "precipitation_probability_pct", "wind_max_kmh"}

# --- Open-Meteo, as it answers ------------------------------------------------------

GEOCODING = {
    "kyoto": {"id": 1857910, "name": "Kyoto", "latitude": 35.02107, "longitude": 135.75385,
              "elevation": 48.0, "feature_code": "PPLA", "country_code": "JP",
              "admin1_id": 1857907, "timezone": "Asia/Tokyo", "population": 1459640,
              "country_id": 1861060, "country": "Japan", "admin1": "Kyoto"},
    "東京": {"id": 1850147, "name": "Tokyo", "latitude": 35.6895, "longitude": 139.69171,
            "elevation": 44.0, "feature_code": "PPLC", "country_code": "JP",
            "admin1_id": 1850144, "timezone": "Asia/Tokyo", "population": 8336599,
            "country_id": 1861060, "country": "Japan", "admin1": "Tokyo"},
}


def forecast_body(start: date, days: int = 16) -> dict[str, Any]:
    """/v1/forecast with daily arrays; every day's values differ so the day is checkable."""
    return {
        "latitude": 35.0, "longitude": 135.75, "generationtime_ms": 0.07,
        "utc_offset_seconds": 32400, "timezone": "Asia/Tokyo", "timezone_abbreviation": "GMT+9",
        "elevation": 48.0,
        "daily_units": {"time": "iso8601", "weather_code": "wmo code",
                        "temperature_2m_max": "°C", "temperature_2m_min": "°C",
                        "precipitation_probability_max": "%", "wind_speed_10m_max": "km/h"},
        "daily": {
            "time": [(start + timedelta(days=i)).isoformat() for i in range(days)],
            "weather_code": [[3, 61, 0, 2][i % 4] for i in range(days)],
            "temperature_2m_max": [round(12.1 + i, 1) for i in range(days)],
            "temperature_2m_min": [round(2.3 + i, 1) for i in range(days)],
            "precipitation_probability_max": [10 * (i % 10) for i in range(days)],
            "wind_speed_10m_max": [round(5.5 + i, 1) for i in range(days)],
        },
    }


def open_meteo(requests: list[httpx.Request], *,
               forecast: Callable[[httpx.Request], httpx.Response] | None = None,
               ) -> httpx.MockTransport:
    """Open-Meteo's geocoding and forecast endpoints; the forecast starts on NOW's day."""

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host == "geocoding-api.open-meteo.com" and request.url.path == "/v1/search":
            name = request.url.params.get("name", "")
            hit = GEOCODING.get(name.casefold())
            body: dict[str, Any] = {"generationtime_ms": 0.4}
            if hit:
                body["results"] = [hit]
            return httpx.Response(200, json=body)
        if request.url.host == "api.open-meteo.com" and request.url.path == "/v1/forecast":
            if forecast is not None:
                return forecast(request)
            params = request.url.params
            daily = params.get("daily", "").split(",")
            if not params.get("latitude") or not all(k in daily for k in (
                    "weather_code", "temperature_2m_max", "temperature_2m_min",
                    "precipitation_probability_max", "wind_speed_10m_max")):
                return httpx.Response(400, json={"error": True, "reason": "bad request"})
            return httpx.Response(200, json=forecast_body(NOW.date()))
        return httpx.Response(404, json={"error": True, "reason": "Not Found"})

    return httpx.MockTransport(handler)


@pytest.fixture
def weather_ctx() -> Iterator[tuple[FunctionContext, list[httpx.Request]]]:
    requests: list[httpx.Request] = []
    with httpx.Client(transport=open_meteo(requests)) as client:
        yield FunctionContext(settings=Settings(), http=client, now=lambda: NOW), requests


def done(result: Done | Failed) -> Done:
    assert isinstance(result, Done), result
    return result


def failed(result: Done | Failed) -> Failed:
    assert isinstance(result, Failed), result
    return result


def ctx_with(transport: httpx.MockTransport) -> tuple[FunctionContext, httpx.Client]:
    client = httpx.Client(transport=transport)
    return FunctionContext(settings=Settings(), http=client, now=lambda: NOW), client


@pytest.mark.parametrize(("when", "day", "offset"), [
    (None, "2025-03-12", 0),
    ("today", "2025-03-12", 0),
    ("tomorrow", "2025-03-13", 1),
    ("明日", "2025-03-13", 1),
    ("明後日", "2025-03-14", 2),
    ("this weekend", "2025-03-15", 3),
    ("金曜日", "2025-03-14", 2),
])
def test_weather_info_picks_the_asked_day(weather_ctx: tuple[FunctionContext, list[httpx.Request]],
                                          when: str | None, day: str, offset: int) -> None:
    ctx, requests = weather_ctx
    result = done(weather_info(WeatherInfoParams(location="Kyoto", date=when), ctx)).data
    assert result["date"] == day
    assert result["location"] == "Kyoto, Kyoto, Japan"
    assert result["temperature_max_c"] == round(12.1 + offset, 1)
    assert result["temperature_min_c"] == round(2.3 + offset, 1)
    assert result["precipitation_probability_pct"] == 10 * offset
    assert result["wind_max_kmh"] == round(5.5 + offset, 1)
    assert result["conditions"] == ["overcast", "light rain", "clear sky", "partly cloudy"][
        offset % 4]
    assert result["source"] == "Open-Meteo"
    geo, fc = requests
    assert geo.url.params["name"] == "Kyoto"
    assert fc.url.params["latitude"] == "35.02107" and fc.url.params["longitude"] == "135.75385"


def test_weather_info_japanese_place_name(
        weather_ctx: tuple[FunctionContext, list[httpx.Request]]) -> None:
    ctx, _ = weather_ctx
    result = done(weather_info(WeatherInfoParams(location="東京", date="明日"), ctx)).data
    assert result["location"] == "Tokyo, Tokyo, Japan"
    assert result["date"] == "2025-03-13"


def test_weather_info_unknown_place(
        weather_ctx: tuple[FunctionContext, list[httpx.Request]]) -> None:
    ctx, requests = weather_ctx
    result = failed(weather_info(WeatherInfoParams(location="Atlantisville"), ctx))
    assert "No place called 'Atlantisville'" in result.message
    assert not WEATHER_KEYS & result.data.keys()
    assert len(requests) == 1, "no forecast is fetched for a place that does not exist"


def test_weather_info_day_outside_the_forecast(
        weather_ctx: tuple[FunctionContext, list[httpx.Request]]) -> None:
    ctx, _ = weather_ctx
    result = failed(weather_info(WeatherInfoParams(location="Kyoto", date="in 30 days"), ctx))
    assert "No forecast for 'in 30 days'" in result.message
    assert "2025-03-12 to 2025-03-27" in result.message
    assert not WEATHER_KEYS & result.data.keys()


def fail_with(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, text="Internal Server Error")


OFFLINE_CASES = [
    ("offline", fail_with(httpx.ConnectError("[Errno 111] Connection refused")),
     "network error: ConnectError"),
    ("timeout", fail_with(httpx.ReadTimeout("timed out")), "timed out"),
    ("forecast 500", open_meteo([], forecast=status(500)), "answered HTTP 500"),
    ("forecast not JSON", open_meteo([], forecast=lambda r: httpx.Response(200, text="<html>")),
     "unexpected answer"),
    ("forecast without daily", open_meteo([], forecast=lambda r: httpx.Response(
        200, json={"latitude": 35.0, "longitude": 135.75})), "unexpected answer"),
    ("forecast with short arrays", open_meteo([], forecast=lambda r: httpx.Response(
        200, json={"daily": {**forecast_body(NOW.date())["daily"], "weather_code": [3]}})),
     "unexpected answer"),
]


@pytest.mark.parametrize(("transport", "why"), [c[1:] for c in OFFLINE_CASES],
                         ids=[c[0] for c in OFFLINE_CASES])
def test_weather_info_unavailable_says_so_and_invents_nothing(
        transport: httpx.MockTransport, why: str) -> None:
    ctx, client = ctx_with(transport)
    with client:
        result = failed(weather_info(WeatherInfoParams(location="Kyoto", date="tomorrow"), ctx))
    assert set(result.payload()) == {"location", "error"}
    assert result.message.startswith("The forecast could not be fetched")
    assert why in result.message
    assert result.message.endswith("so I cannot tell you the weather in Kyoto right now.")
    assert in_language(result.message, "ja").endswith("今はKyotoの天気をお伝えできません。")
    assert not any(word in result.message.lower() for word in ("rain", "sunny", "°", "cloud"))


def test_weather_info_uses_configured_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(query=None)))
        if request.url.path == "/v1/search":
            return httpx.Response(200, json={"results": [GEOCODING["kyoto"]]})
        return httpx.Response(200, json=forecast_body(NOW.date()))

    settings = Settings(weather_base_url="http://meteo.local",
                        geocoding_base_url="http://geo.local")
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        ctx = FunctionContext(settings=settings, http=client, now=lambda: NOW)
        assert done(weather_info(WeatherInfoParams(location="Kyoto"), ctx)).data["date"] == (
            "2025-03-12")
    assert seen == ["http://geo.local/v1/search", "http://meteo.local/v1/forecast"]


# --- schedule_reminder ---------------------------------------------------------------

@pytest.fixture
def reminder_ctx() -> FunctionContext:
    return FunctionContext(settings=Settings(), now=lambda: NOW)


def test_schedule_reminder_stores_under_data_dir_and_lists_back(
        reminder_ctx: FunctionContext, data_dir: Path) -> None:
    result = done(schedule_reminder(
        ScheduleReminderParams(task="call mom", time="tomorrow at 6pm"), reminder_ctx)).data
    assert result["saved"] is True
    assert result["due"] == "2025-03-13T18:00+09:00"
    assert (data_dir / "reminders.sqlite3").is_file()
    reopened = ReminderStore(data_dir / "reminders.sqlite3")
    [stored] = reopened.list()
    assert stored.id == result["id"]
    assert stored.what == "call mom" and stored.said == "tomorrow at 6pm"
    assert stored.due == datetime(2025, 3, 13, 18, 0, tzinfo=TOKYO)
    assert not stored.notified


def test_schedule_reminder_japanese_relative_time(reminder_ctx: FunctionContext) -> None:
    result = done(schedule_reminder(ScheduleReminderParams(task="洗濯物を取り込む", time="30分後"),
                                    reminder_ctx)).data
    assert result["due"] == "2025-03-12T15:00+09:00"
    assert [r.what for r in reminder_store(reminder_ctx).list()] == ["洗濯物を取り込む"]


@pytest.mark.parametrize(("when", "message"), [
    ("yesterday at 9am", "in the past"),
    ("when pigs fly", "Could not understand"),
    (None, "No time was given"),
])
def test_schedule_reminder_bad_time_saves_nothing(reminder_ctx: FunctionContext,
                                                  when: str | None, message: str) -> None:
    result = failed(schedule_reminder(ScheduleReminderParams(task="dentist", time=when),
                                      reminder_ctx))
    assert message in result.message and "nothing was saved" in result.message
    assert "saved" not in result.payload() and result.payload()["task"] == "dentist"
    assert reminder_store(reminder_ctx).list() == []
    ja = in_language(result.message, "ja")  # funcgemma says it itself: in the user's language
    assert "保存していません" in ja and "dentist" in ja


def test_schedule_reminder_repeating_is_saved_once_with_its_repetition(
        reminder_ctx: FunctionContext) -> None:
    result = done(schedule_reminder(ScheduleReminderParams(
        task="take out the bins", time="every monday at 8am"), reminder_ctx))
    saved = result.data
    assert (saved["saved"], saved["repeat"], saved["due"]) == (
        True, "weekly:0@08:00", "2025-03-17T08:00+09:00")
    assert result.notice == (f"reminder #{saved['id']} saved: take out the bins, "
                             "every Monday at 08:00, first 2025-03-17 08:00")
    assert result.answer_with and "repeating" in result.answer_with
    daily = done(schedule_reminder(ScheduleReminderParams(task="薬を飲む", time="毎朝7時"),
                                   reminder_ctx))
    rid = daily.data["id"]
    assert daily.notice is not None and in_language(daily.notice, "ja") == (
        f"リマインダー #{rid} を保存しました: 薬を飲む、毎日 07:00、初回 2025-03-13 07:00")
    stored = {r.what: r.repeat for r in reminder_store(reminder_ctx).list()}
    assert stored == {"take out the bins": "weekly:0@08:00", "薬を飲む": "daily@07:00"}


@pytest.mark.parametrize("when", ["every 2 hours", "every month on the 1st", "毎月1日"])
def test_schedule_reminder_repetition_it_cannot_keep_saves_nothing(
        reminder_ctx: FunctionContext, when: str) -> None:
    result = failed(schedule_reminder(ScheduleReminderParams(task="water the plants",
                                                             time=when), reminder_ctx))
    assert "every day, every weekday or every week" in result.message
    assert "nothing was saved" in result.message and "saved" not in result.data
    assert "毎日・平日・毎週" in in_language(result.message, "ja")
    assert reminder_store(reminder_ctx).list() == [], "not saved as a one-off either"


def test_function_notices_have_their_japanese(reminder_ctx: FunctionContext) -> None:
    from funcgemma.functions.weather_info import WMO_CODES
    from funcgemma.functions.weather_info import forecast_notice as weather_notice

    result = done(schedule_reminder(ScheduleReminderParams(task="歯医者", time="明日の朝9時"),
                                    reminder_ctx))
    saved, notice = result.data, result.notice
    assert notice == f"reminder #{saved['id']} saved: 歯医者, 2025-03-13 09:00"
    assert in_language(notice, "ja") == (
        f"リマインダー #{saved['id']} を保存しました: 歯医者、2025-03-13 09:00")
    forecast = {"location": "Kyoto, Kyoto, Japan", "date": "2025-03-13", "conditions":
                WMO_CODES[61], "temperature_min_c": 3.3, "temperature_max_c": 13.1,
                "precipitation_probability_pct": 10}
    assert weather_notice(forecast) == ("Kyoto, Kyoto, Japan, 2025-03-13: light rain, 3.3 to "
                                        "13.1 °C, rain 10%")
    assert in_language(weather_notice(forecast), "ja") == (
        "Kyoto, Kyoto, Japan、2025-03-13: 小雨、3.3〜13.1 °C、降水確率 10%")
    assert all(isinstance(name, str) and name.ja for name in WMO_CODES.values())
    assert json.dumps(forecast["conditions"]) == '"light rain"'  # results stay plain strings


@pytest.mark.parametrize(("text", "lang"), [
    ("明日の東京の天気は?", "ja"), ("remind me at 9", "en"), ("ラーメン", "ja"),
    ("東京", "ja"), ("", "en"), ("Tokyo weather 🌧", "en"),
])
def test_language_of_a_message(text: str, lang: str) -> None:
    assert language_of(text) == lang


# --- shopping_intent -----------------------------------------------------------------

@pytest.mark.parametrize(("said", "iso"), [
    ("$", "USD"), ("dollars", "USD"), (" usd ", "USD"), ("ドル", "USD"),
    ("円", "JPY"), ("yen", "JPY"), ("¥", "JPY"), ("JPY", "JPY"),
    ("€", "EUR"), ("Euros", "EUR"), ("ユーロ", "EUR"),
    ("£", "GBP"), ("pounds", "GBP"), ("chf", "CHF"),
])
def test_shopping_intent_normalises_currency(said: str, iso: str) -> None:
    params = ShoppingIntentParams(item="rice cooker", budget=100, currency=said)
    assert params.currency == iso
    intent = done(shopping_intent(params, FunctionContext(settings=Settings()))).data["intent"]
    assert intent["currency"] == iso


def test_shopping_intent_budget_per_item() -> None:
    params = ShoppingIntentParams(item="HDMI cable", quantity=2, budget=20, currency="$")
    intent = done(shopping_intent(params, FunctionContext(settings=Settings()))).data["intent"]
    assert intent["quantity"] == 2 and intent["budget"] == 20 and intent["budget_per_item"] == 10
    assert "within the budget" in intent["answer_with"]


def test_shopping_intent_without_budget_or_quantity() -> None:
    params = ShoppingIntentParams(item="トイレットペーパー")
    intent = done(shopping_intent(params, FunctionContext(settings=Settings()))).data["intent"]
    assert intent["item"] == "トイレットペーパー" and intent["quantity"] == 1
    assert "budget" not in intent and "currency" not in intent


# --- sentiment_label -----------------------------------------------------------------

SENTIMENT_CASES = [
    ("I love this phone, the battery life is amazing", "positive"),
    ("Best purchase I've made all year", "positive"),
    ("The chocolate cake was delicious", "positive"),
    ("Not bad at all, honestly.", "positive"),
    ("The food was cold and the staff were rude", "negative"),
    ("The movie wasn't good", "negative"),
    ("I will never buy from them again", "negative"),
    ("Great camera but the battery is terrible", "mixed"),
    ("The package arrived on Tuesday.", "neutral"),
    ("I do not know yet. Great product so far!", "positive"),
    ("店員さんがとても親切でした", "positive"),
    ("料理も美味しかったし、また行きたい", "positive"),
    ("最悪の対応で、二度と行かない", "negative"),
    ("全然美味しくなかった", "negative"),
    ("景色は最高だけど、値段が高い", "mixed"),
    ("明日は月曜日です", "neutral"),
    ("不満足な結果でした", "negative"),
]


@pytest.mark.parametrize(("text", "expected"), SENTIMENT_CASES)
def test_sentiment_label_labels_clear_texts(text: str, expected: str) -> None:
    result = done(sentiment_label(SentimentLabelParams(text=text),
                                  FunctionContext(settings=Settings()))).data
    assert result["label"] == expected, result["reason"]
    assert result["text"] == text
    if expected == "neutral":
        assert result["reason"] == "no clear sentiment words"
    else:
        assert result["reason"].startswith("cue words: ")


# --- the functions the chat model answers ---------------------------------------------

def test_translation_assist_pins_text_and_language() -> None:
    result = done(translation_assist(TranslationAssistParams(text="よろしくお願いします",
                                                             target_language="English"),
                                     FunctionContext(settings=Settings())))
    assert result.data == {"text": "よろしくお願いします", "target_language": "English"}
    assert result.answer_with and "into English" in result.answer_with


def test_travel_guide_mentions_trip_length() -> None:
    with FakeWiki() as fake:  # Wikivoyage, faked (tests/test_facts_sources.py has the rest)
        ctx = FunctionContext(settings=Settings(wikipedia_url=fake.wikipedia_url,
                                                wikivoyage_url=fake.wikivoyage_url))
        with_days = done(travel_guide(TravelGuideParams(destination="Kyoto", days=3), ctx))
        assert with_days.data["days"] == 3 and "Plan 3 days" in str(with_days.answer_with)
        without = done(travel_guide(TravelGuideParams(destination="京都"), ctx))
        assert without.data["days"] is None and "Plan" not in str(without.answer_with)
        ctx.close()


def test_celebrity_info_asks_for_no_guessing() -> None:
    with FakeWiki() as fake:
        ctx = FunctionContext(settings=Settings(wikipedia_url=fake.wikipedia_url))
        result = done(celebrity_info(CelebrityInfoParams(name="Hayao Miyazaki"), ctx))
        ctx.close()
    assert result.data["name"] == "Hayao Miyazaki" and result.data["found"] is True
    assert str(result.answer_with).startswith("Answer only from summary and passage.")
    assert result.notice and result.notice.startswith("source: Wikipedia, ")
    json.dumps(result.payload())  # results must be JSON for the chat model's system message


def test_function_context_uses_configured_time_zone() -> None:
    ctx = FunctionContext(settings=Settings(timezone="America/New_York"))
    assert ctx.now().tzinfo == ZoneInfo("America/New_York")
    fixed = FunctionContext(settings=Settings(timezone="America/New_York"), now=lambda: NOW)
    assert fixed.now() == NOW, "an injected clock wins"


def test_function_context_rejects_unknown_time_zone() -> None:
    from pydantic import ValidationError

    from funcgemma.errors import ConfigurationError

    with pytest.raises(ValidationError, match="not a time zone name"):
        Settings(timezone="Mars/Olympus_Mons")  # refused where the settings are read
    with pytest.raises(ConfigurationError, match="FUNCGEMMA_TIMEZONE"):  # and if built anyway
        FunctionContext(settings=Settings.model_construct(timezone="Mars/Olympus_Mons"))


@pytest.mark.parametrize(("name", "expected"), [
    ("Timothée Chalamet's", "Timothée Chalamet"),
    ("Serena Williams'", "Serena Williams"),
    ("Chalamet’s", "Chalamet"),
    ("Shaquille O'Neal", "Shaquille O'Neal"),
    ("Guns N' Roses", "Guns N' Roses"),
    ("大谷翔平", "大谷翔平"),
])
def test_celebrity_name_is_not_possessive(name: str, expected: str) -> None:
    assert CelebrityInfoParams(name=name).name == expected
