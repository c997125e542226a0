"""weather_info: a real forecast from Open-Meteo (no API key). Offline, it says so plainly
and never invents weather."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field

from ..registry import FunctionSpec
from ..timeparse import parse_day
from .context import FunctionContext

# WMO weather interpretation codes, as documented by Open-Meteo.
WMO_CODES = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast",
    45: "fog", 48: "rime fog", 51: "light drizzle", 53: "drizzle", 55: "dense drizzle",
    56: "freezing drizzle", 57: "dense freezing drizzle", 61: "light rain", 63: "rain",
    65: "heavy rain", 66: "freezing rain", 67: "heavy freezing rain", 71: "light snow",
    73: "snow", 75: "heavy snow", 77: "snow grains", 80: "light showers", 81: "showers",
    82: "violent showers", 85: "snow showers", 86: "heavy snow showers",
    95: "thunderstorm", 96: "thunderstorm with hail", 99: "thunderstorm with heavy hail",
}
FORECAST_DAYS = 16
_DAILY = ("weather_code", "temperature_2m_max", "temperature_2m_min",
          "precipitation_probability_max", "wind_speed_10m_max")


class WeatherInfoParams(BaseModel):
    """Weather forecast for a place and day: temperature, rain, snow, wind."""

    location: str = Field(description="City or place, e.g. 'Kyoto'.")
    date: str | None = Field(None, description="Day asked about, e.g. 'tomorrow'.")


def _unavailable(location: str, why: str) -> dict[str, Any]:
    return {
        "location": location,
        "error": f"The forecast could not be fetched ({why}), so I cannot tell you the "
        f"weather in {location} right now.",
    }


def _target_day(text: str | None, ctx: FunctionContext) -> date | None:
    if not text:
        return ctx.now().date()
    return parse_day(text, now=ctx.now(), order=ctx.date_order())


def _fetch(params: WeatherInfoParams, ctx: FunctionContext) -> dict[str, Any]:
    """Geocode, then fetch the daily forecast: ``{"place": ..., "daily": ...}``, or
    ``{"error": ...}`` for a place that does not exist. Raises httpx/parsing errors."""
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
        return {"location": params.location, "error": f"No place called "
                f"{params.location!r} was found. Which place do you mean?"}
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


def weather_info(params: WeatherInfoParams, ctx: FunctionContext) -> dict[str, Any]:
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
    if "error" in fetched:
        return fetched

    place, days, daily = fetched["place"], fetched["days"], fetched["daily"]
    day = _target_day(params.date, ctx)
    name = ", ".join(p for p in (place.get("name"), place.get("admin1"), place.get("country")) if p)
    if day is None or day not in days:
        return {
            "location": name,
            "error": f"No forecast for {params.date!r}: forecasts cover {days[0]} to "
            f"{days[-1]}.",
        }
    i = days.index(day)
    return {
        "location": name,
        "date": day.isoformat(),
        "conditions": WMO_CODES.get(daily["weather_code"][i], "unknown"),
        "temperature_max_c": daily["temperature_2m_max"][i],
        "temperature_min_c": daily["temperature_2m_min"][i],
        "precipitation_probability_pct": daily["precipitation_probability_max"][i],
        "wind_max_kmh": daily["wind_speed_10m_max"][i],
        "source": "Open-Meteo",
    }


def confirm(result: dict[str, Any]) -> str:
    """The forecast in one line, as the service gave it."""
    return (f"{result['location']}, {result['date']}: {result['conditions']}, "
            f"{result['temperature_min_c']:g} to {result['temperature_max_c']:g} °C, "
            f"rain {result['precipitation_probability_pct']:g}%")


SPEC = FunctionSpec(
    name="weather_info",
    confirm=confirm,
    grounded=("location", "date"),
    copied=("location", "date"),
    when=("date",),
    params=WeatherInfoParams,
    handler=weather_info,
    examples=(
        "What's the weather in Kyoto tomorrow?",
        "Will it rain in Seattle this weekend?",
        "明日の東京の天気は？",
        "札幌は今日寒い？",
    ),
)
