"""travel_guide: travel advice for one place, from Wikivoyage (its "See" section, or the
part that holds what was asked), else Wikipedia (funcgemma.facts). The chat model
writes the guide from that text only; a failed lookup is said plainly."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ..facts import WikiClient, lookup_place, notice, sources_off
from ..messages import Said
from ..registry import FunctionSpec
from ..results import Done, Failed, from_fields
from ..roles import Copied, Days
from .context import FunctionContext


class TravelGuideParams(BaseModel):
    """Travel advice for visiting a place: sights, itinerary, local food, getting around,
    best season."""

    destination: Annotated[str, Copied()] = Field(
        description="City, region or country to visit, e.g. 'Kyoto'."
    )
    days: Annotated[int | None, Days()] = Field(
        None, ge=1, le=365, description="Trip length in days, if given."
    )


def travel_guide(params: TravelGuideParams, ctx: FunctionContext) -> Done | Failed:
    if not ctx.settings.facts_sources:
        return from_fields({
            "destination": params.destination,
            "days": params.days,
            **sources_off(params.destination, "wikivoyage"),
        })
    found = lookup_place(WikiClient.for_context(ctx), params.destination, ctx.message,
                         params.days)
    # the notice: the page the guide comes from, ``source: Wikivoyage, <title> <url>``
    return from_fields(found, notice=None if "error" in found else notice(found))


SPEC = FunctionSpec(
    name="travel_guide",
    asks_for={"destination": Said("Where would you like to go?", ja="どこに行きたいですか？")},
    params=TravelGuideParams,
    handler=travel_guide,
    examples=(
        "What should I see in Lisbon on a 3-day trip?",
        "Any tips for visiting Hokkaido in winter?",
        "京都でおすすめの観光地を教えて",
        "2泊3日で金沢に行くならどこを回るべき？",
    ),
)
