"""Which functions a training prompt declares, and under which names.

The router must read its declarations, not memorise seven names, so each training batch
sees a sampled declaration set: real functions subsampled and shuffled, sometimes
renamed (with the same meaning), plus distractor functions from other domains. A case
whose function is left out of the set is trained towards "no function applies". A share
of batches uses exactly the serving set, so that configuration is learnt best.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Alternative names and descriptions with the same meaning as the real function.
ALIASES: dict[str, list[tuple[str, str]]] = {
    "travel_guide": [
        ("trip_advisor", "Suggest sights, food and an itinerary for a trip to a place."),
        ("plan_visit", "Travel tips for a destination: what to see and do, when to go."),
        ("destination_tips", "Advice for travellers visiting a city, region or country."),
    ],
    "celebrity_info": [
        ("person_profile", "Background on a well-known person: career, works, life."),
        ("famous_person_lookup", "Look up who a famous person is and what they are known for."),
        ("biography", "Short biography of a public figure."),
    ],
    "shopping_intent": [
        ("buy_item", "The user wants to purchase a product; capture item, count and budget."),
        ("product_search", "Find something to buy, optionally within a budget."),
        ("purchase_request", "Record what the user wants to buy."),
    ],
    "sentiment_label": [
        ("classify_sentiment", "Say whether a given text is positive, negative or neutral."),
        ("tone_check", "Judge the tone or mood of a quoted message or review."),
        ("analyze_sentiment", "Sentiment analysis of a piece of text."),
    ],
    "weather_info": [
        ("get_forecast", "Weather forecast (rain, temperature, wind) for a location and day."),
        ("check_weather", "Current or upcoming weather conditions at a place."),
        ("weather_lookup", "Look up the weather for a city on a date."),
    ],
    "schedule_reminder": [
        ("set_reminder", "Create a reminder to notify the user about a task at a time."),
        ("remind_me", "Remind the user of something later."),
        ("create_alert", "Schedule a note that alerts the user at the given time."),
    ],
    "translation_assist": [
        ("translate_text", "Translate a text into the requested language."),
        ("language_translate", "Render the given words in another language."),
        ("translate", "Translation of a phrase or sentence into a target language."),
    ],
}


def _fn(name: str, description: str, props: dict[str, tuple[str, str]], required: list[str]
        ) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "required": required, "properties": {
            k: {"type": t, "description": d} for k, (t, d) in sorted(props.items())}}}}


# Functions from domains none of our labelled messages asks for (data/extra included),
# so a declared distractor never makes a labelled case wrong.
DISTRACTORS: list[dict[str, Any]] = [
    _fn("get_stock_quote", "Latest share price for a stock ticker symbol.",
        {"ticker": ("string", "Ticker symbol, e.g. 'AAPL'.")}, ["ticker"]),
    _fn("query_database", "Run a read-only SQL query on the company database.",
        {"sql": ("string", "The SQL query.")}, ["sql"]),
    _fn("resize_image", "Resize an image file to a width and height in pixels.",
        {"path": ("string", "Image file path."), "width": ("integer", "Width in pixels."),
         "height": ("integer", "Height in pixels.")}, ["path", "width", "height"]),
    _fn("create_invoice", "Create an invoice for a client with an amount due.",
        {"client": ("string", "Client name."), "amount": ("number", "Amount due.")},
        ["client", "amount"]),
    _fn("restart_server", "Restart a named server in the data centre.",
        {"hostname": ("string", "Server host name.")}, ["hostname"]),
    _fn("git_commit", "Commit staged changes in a git repository with a message.",
        {"message": ("string", "Commit message.")}, ["message"]),
    _fn("check_flight_status", "Status of a flight by its flight number.",
        {"flight_number": ("string", "Flight number, e.g. 'JL123'.")}, ["flight_number"]),
    _fn("compute_bmi", "Body mass index from height in cm and weight in kg.",
        {"height_cm": ("number", "Height in centimetres."),
         "weight_kg": ("number", "Weight in kilograms.")}, ["height_cm", "weight_kg"]),
    _fn("lookup_postal_code", "Address area for a postal code.",
        {"postal_code": ("string", "Postal code, e.g. '100-0001'.")}, ["postal_code"]),
    _fn("get_exchange_rate", "Exchange rate between two currency codes.",
        {"base": ("string", "Base currency code."), "quote": ("string", "Quote currency code.")},
        ["base", "quote"]),
    _fn("scan_qr_code", "Decode the QR code in an image file.",
        {"path": ("string", "Image file path.")}, ["path"]),
    _fn("set_volume", "Set the device's speaker volume in percent.",
        {"level": ("integer", "Volume 0-100.")}, ["level"]),
    _fn("open_support_ticket", "Open an IT support ticket with a summary.",
        {"summary": ("string", "Problem summary."),
         "priority": ("string", "One of: low, normal, high.")}, ["summary"]),
    _fn("get_vehicle_battery", "Battery level of the user's electric car.", {}, []),
    _fn("list_files", "List files in a directory.",
        {"directory": ("string", "Directory path.")}, ["directory"]),
]


@dataclass(frozen=True)
class DeclarationSet:
    tools: list[dict[str, Any]]  # what the prompt declares, in prompt order
    names: dict[str, str]  # real function name -> name used in this set (absent: left out)
    params: dict[str, dict[str, str]]  # real function -> {real param: name used}


def _renamed(tool: Mapping[str, Any], name: str, description: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(tool))
    out["function"]["name"] = name
    out["function"]["description"] = description
    return out


def _identity(tool: Mapping[str, Any]) -> dict[str, str]:
    return {k: k for k in (tool["function"].get("parameters") or {}).get("properties", {})}


def sample_declarations(real: Sequence[Mapping[str, Any]], rng: random.Random, *,
                        serving_share: float = 0.4, keep: float = 0.85,
                        rename: float = 0.3, max_distractors: int = 4,
                        extra: Sequence[Mapping[str, Any]] = (),
                        needed: Sequence[str] = (), include_needed: float = 0.8
                        ) -> DeclarationSet:
    """One declaration set for a batch (see the module docstring).

    ``extra`` are labelled functions funcgemma does not serve (data/extra): outside the
    serving set they join the distractors, and each of ``needed`` (extra functions the
    batch's cases ask for) is declared with probability ``include_needed``, so those
    cases are calls when their function is declared and "no function" when it is not.
    A declared extra function is a real one in the returned set (its cases are calls)."""
    names = [t["function"]["name"] for t in real]
    ident = {n: _identity(t) for n, t in zip(names, real, strict=True)}
    if rng.random() < serving_share:
        return DeclarationSet([dict(t) for t in real], {n: n for n in names}, ident)
    tools: list[dict[str, Any]] = []
    used: dict[str, str] = {}
    for name, tool in zip(names, real, strict=True):
        if rng.random() > keep:
            continue
        if name in ALIASES and rng.random() < rename:
            alias, desc = rng.choice(ALIASES[name])
            tools.append(_renamed(tool, alias, desc))
            used[name] = alias
        else:
            tools.append(copy.deepcopy(dict(tool)))
            used[name] = name
    by_name = {t["function"]["name"]: t for t in extra}
    chosen = [by_name[n] for n in sorted(set(needed)) if n in by_name
              and rng.random() < include_needed]
    pool = DISTRACTORS + [t for n, t in by_name.items() if n not in needed]
    chosen += rng.sample(pool, rng.randint(0, max_distractors))
    params = {n: ident[n] for n in used}
    for tool in chosen:
        tools.append(copy.deepcopy(dict(tool)))
        name = tool["function"]["name"]
        if name in by_name:
            used[name] = name
            params[name] = _identity(tool)
    rng.shuffle(tools)
    return DeclarationSet(tools, used, params)
