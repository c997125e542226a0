"""celebrity_info: who a famous person is, from Wikipedia (funcgemma.facts).

The chat model answers from the page's summary and the passage that holds what was
asked (a birth date, their films), never from its own memory: a name Wikipedia does not
know, or a lookup that fails, is said plainly."""

from __future__ import annotations

from typing import Annotated

import regex
from pydantic import BaseModel, Field, field_validator

from ..facts import WikiClient, lookup_person, notice, sources_off
from ..messages import Said
from ..registry import FunctionSpec
from ..results import Done, Failed, from_fields
from ..roles import Copied
from .context import FunctionContext


class CelebrityInfoParams(BaseModel):
    """Facts about a famous person: who they are, their work, career and life."""

    name: Annotated[str, Copied()] = Field(
        description="The person's name as written, e.g. 'Marie Curie'."
    )

    @field_validator("name")
    @classmethod
    def _not_possessive(cls, value: str) -> str:
        """ "Timothée Chalamet's girlfriend" is about Timothée Chalamet: a possessive the
        model copies with the name ("Chalamet's", "Williams'") is not part of it."""
        return _POSSESSIVE.sub("", value) or value


_POSSESSIVE = regex.compile(r"(?<=\p{L})(?:['’]s|(?<=s)['’])$")


def celebrity_info(params: CelebrityInfoParams, ctx: FunctionContext) -> Done | Failed:
    if not ctx.settings.facts_sources:
        return from_fields(sources_off(params.name, "wikipedia"))
    found = lookup_person(WikiClient.for_context(ctx), params.name, ctx.message)
    # the notice: the page the answer comes from, ``source: Wikipedia, <title> <url>``
    return from_fields(found, notice=None if "error" in found else notice(found))


SPEC = FunctionSpec(
    name="celebrity_info",
    asks_for={"name": Said("Who would you like to know about?", ja="誰について知りたいですか？")},
    params=CelebrityInfoParams,
    handler=celebrity_info,
    examples=(
        "Who is Hayao Miyazaki?",
        "Tell me about Serena Williams' career",
        "大谷翔平ってどんな選手？",
        "宇多田ヒカルについて教えてください",
    ),
)
