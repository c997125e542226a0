"""celebrity_info: who a famous person is, answered by the chat model."""

from __future__ import annotations

from typing import Any

import regex
from pydantic import BaseModel, Field, field_validator

from ..registry import FunctionSpec
from .context import FunctionContext


class CelebrityInfoParams(BaseModel):
    """Facts about a famous person: who they are, their work, career and life."""

    name: str = Field(description="The person's name as written, e.g. 'Marie Curie'.")

    @field_validator("name")
    @classmethod
    def _not_possessive(cls, value: str) -> str:
        """"Timothée Chalamet's girlfriend" is about Timothée Chalamet: a possessive the
        model copies with the name ("Chalamet's", "Williams'") is not part of it."""
        return _POSSESSIVE.sub("", value) or value


_POSSESSIVE = regex.compile(r"(?<=\p{L})(?:['’]s|(?<=s)['’])$")


def celebrity_info(params: CelebrityInfoParams, ctx: FunctionContext) -> dict[str, Any]:
    return {
        "name": params.name,
        "answer_with": (
            f"Who {params.name} is in two or three sentences: what they are known for and "
            "their best-known work. Do not guess recent news or dates you are unsure of; "
            "say so instead."
        ),
    }


SPEC = FunctionSpec(
    name="celebrity_info",
    grounded=("name",),
    copied=("name",),
    params=CelebrityInfoParams,
    handler=celebrity_info,
    examples=(
        "Who is Hayao Miyazaki?",
        "Tell me about Serena Williams' career",
        "大谷翔平ってどんな選手？",
        "宇多田ヒカルについて教えてください",
    ),
)
