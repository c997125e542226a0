"""weather_info: a real forecast from Open-Meteo (no API key). Offline, it says so plainly
and never invents weather."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, Field

from ..messages import Said, in_language
from ..registry import FunctionSpec
from ..results import Done, Failed
from ..roles import Copied, When
from .context import FunctionContext
from .schedule_reminder.timeparse import parse_day

# WMO weather interpretation codes, as documented by Open-Meteo (English, Japanese).
_WMO = {
    0: ("clear sky", "快晴"), 1: ("mainly clear", "おおむね晴れ"),
    2: ("partly cloudy", "晴れ時々曇り"), 3: ("overcast", "曇り"), 45: ("fog", "霧"),
    48: ("rime fog", "着氷性の霧"), 51: ("light drizzle", "弱い霧雨"), 53: ("drizzle", "霧雨"),
    55: ("dense drizzle", "強い霧雨"), 56: ("freezing drizzle", "着氷性の霧雨"),
    57: ("dense freezing drizzle", "強い着氷性の霧雨"), 61: ("light rain", "小雨"),
    63: ("rain", "雨"), 65: ("heavy rain", "大雨"), 66: ("freezing rain", "着氷性の雨"),
    67: ("heavy freezing rain", "強い着氷性の雨"), 71: ("light snow", "小雪"), 73: ("snow", "雪"),
    75: ("heavy snow", "大雪"), 77: ("snow grains", "霧雪"), 80: ("light showers", "弱いにわか雨"),
    81: ("showers", "にわか雨"), 82: ("violent showers", "激しいにわか雨"),
    85: ("snow showers", "にわか雪"), 86: ("heavy snow showers", "強いにわか雪"),
    95: ("thunderstorm", "雷雨"), 96: ("thunderstorm with hail", "ひょうを伴う雷雨"),
    99: ("thunderstorm with heavy hail", "激しいひょうを伴う雷雨"),
}
WMO_CODES = {code: Said(en, ja=ja) for code, (en, ja) in _WMO.items()}
FORECAST_DAYS = 16
log = logging.getLogger(__name__)
_DAILY = ("weather_code", "temperature_2m_max", "temperature_2m_min",
          "precipitation_probability_max", "wind_speed_10m_max")


class WeatherInfoParams(BaseModel):
    """Weather forecast for a place and day: temperature, rain, snow, wind."""

    location: Annotated[str, Copied()] = Field(description="City or place, e.g. 'Kyoto'.")
    date: Annotated[str | None, When()] = Field(
        None, description="Day asked about, e.g. 'tomorrow'."
    )


def _unavailable(location: str, why: str) -> Failed:
    return Failed(Said(f"The forecast could not be fetched ({why}), so I cannot tell you the "
                       f"weather in {location} right now.",
                       ja=f"天気予報を取得できなかったので（{why}）、今は{location}の天気を"
                       "お伝えできません。"), {"location": location})


def _target_day(text: str | None, ctx: FunctionContext) -> date | None:
    if not text:
        return ctx.now().date()
    return parse_day(text, now=ctx.now(), order=ctx.date_order())


def _fetch(params: WeatherInfoParams, ctx: FunctionContext) -> dict[str, Any] | Failed:
    """Geocode, then fetch the daily forecast: ``{"place": ..., "daily": ...}``, or
    Failed for a place that does not exist. Raises httpx/parsing errors."""
    settings = ctx.settings
    client = ctx.http_client()
    geo = client.get(
        f"{settings.geocoding_base_url}/v1/search",
        params={"name": params.location, "count": 1, "format": "json"},
        timeout=settings.weather_timeout_s,
    )
    geo.raise_for_status()
    places = geo.json().get("results") or []
    if not places:
        return Failed(Said(
            f"No place called {params.location!r} was found. Which place do you mean?",
            ja=f"「{params.location}」という場所が見つかりませんでした。どこのことですか?"),
            {"location": params.location})
    place = places[0]
    fc = client.get(
        f"{settings.weather_base_url}/v1/forecast",
        params={
            "latitude": place["latitude"],
            "longitude": place["longitude"],
            "daily": ",".join(_DAILY),
            "timezone": "auto",
            "forecast_days": FORECAST_DAYS,
        },
        timeout=settings.weather_timeout_s,
    )
    fc.raise_for_status()
    daily = fc.json()["daily"]
    days = [datetime.strptime(d, "%Y-%m-%d").date() for d in daily["time"]]
    if not days or any(len(daily[key]) != len(days) for key in _DAILY):
        raise ValueError("daily arrays missing or of different lengths")
    return {"place": place, "days": days, "daily": daily}


def weather_info(params: WeatherInfoParams, ctx: FunctionContext) -> Done | Failed:
    try:
        fetched = _fetch(params, ctx)
    except httpx.TimeoutException:
        return _unavailable(params.location, "the weather service timed out")
    except httpx.HTTPStatusError as exc:
        return _unavailable(params.location,
                            f"the weather service answered HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return _unavailable(params.location, f"network error: {type(exc).__name__}")
    except (KeyError, ValueError, TypeError, AttributeError):
        return _unavailable(params.location, "the weather service sent an unexpected answer")
    if isinstance(fetched, Failed):
        return fetched

    place, days, daily = fetched["place"], fetched["days"], fetched["daily"]
    day = _target_day(params.date, ctx)
    name = ", ".join(p for p in (place.get("name"), place.get("admin1"), place.get("country")) if p)
    if day is None or day not in days:
        return Failed(Said(f"No forecast for {params.date!r}: forecasts cover {days[0]} to "
                           f"{days[-1]}.",
                           ja=f"「{params.date}」の予報はありません。予報は{days[0]}から"
                           f"{days[-1]}までです。"), {"location": name})
    i = days.index(day)
    forecast = {
        "location": name,
        "date": day.isoformat(),
        "conditions": WMO_CODES.get(daily["weather_code"][i], Said("unknown", ja="不明")),
        "temperature_max_c": daily["temperature_2m_max"][i],
        "temperature_min_c": daily["temperature_2m_min"][i],
        "precipitation_probability_pct": daily["precipitation_probability_max"][i],
        "wind_max_kmh": daily["wind_speed_10m_max"][i],
        "source": "Open-Meteo",
    }
    try:
        said = forecast_notice(forecast)
    except (TypeError, ValueError):  # a figure the service left out (null): no notice line
        log.warning("weather_info: could not state its result")
        said = None
    return Done(forecast, notice=said)


def forecast_notice(result: dict[str, Any]) -> str:
    """The forecast in one line, as the service gave it."""
    low, high = result["temperature_min_c"], result["temperature_max_c"]
    rain = result["precipitation_probability_pct"]
    return Said(f"{result['location']}, {result['date']}: {result['conditions']}, "
                f"{low:g} to {high:g} °C, rain {rain:g}%",
                ja=f"{result['location']}、{result['date']}: "
                f"{in_language(result['conditions'], 'ja')}、{low:g}〜{high:g} °C、"
                f"降水確率 {rain:g}%")


SPEC = FunctionSpec(
    name="weather_info",
    defaults={"location": "home_place"},
    asks_for={"location": Said("Where? Tell me the city or place.",
                               ja="どこの天気ですか？都市か場所を教えてください。")},
    params=WeatherInfoParams,
    handler=weather_info,
    examples=(
        "What's the weather in Kyoto tomorrow?",
        "Will it rain in Seattle this weekend?",
        "明日の東京の天気は？",
        "札幌は今日寒い？",
    ),
)
