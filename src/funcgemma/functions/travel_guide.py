"""travel_guide: focused travel advice for one place, written by the chat model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..registry import FunctionSpec
from .context import FunctionContext


class TravelGuideParams(BaseModel):
    """Travel advice for visiting a place: sights, itinerary, local food, getting around,
    best season."""

    destination: str = Field(description="City, region or country to visit, e.g. 'Kyoto'.")
    days: int | None = Field(None, ge=1, le=365, description="Trip length in days, if given.")


def travel_guide(params: TravelGuideParams, ctx: FunctionContext) -> dict[str, Any]:
    plan = f"a {params.days}-day itinerary" if params.days else "the highlights"
    return {
        "destination": params.destination,
        "days": params.days,
        "answer_with": (
            f"A focused travel guide to {params.destination}: {plan}, two or three "
            "must-see places, one local dish, how to get around, and the best season. "
            "Say if you are unsure of a fact."
        ),
    }


SPEC = FunctionSpec(
    name="travel_guide",
    grounded=("destination",),
    copied=("destination",),
    durations=("days",),
    params=TravelGuideParams,
    handler=travel_guide,
    examples=(
        "What should I see in Lisbon on a 3-day trip?",
        "Any tips for visiting Hokkaido in winter?",
        "京都でおすすめの観光地を教えて",
        "2泊3日で金沢に行くならどこを回るべき？",
    ),
)
