"""Field roles: what a function's argument *is*, declared on the field itself.

A role tells the router how a value relates to the user's message, so that it can
repair what the model copied badly (funcgemma.repair) and, on the embedded backend,
keep a copied value to text the message contains while it is decoded::

    class TravelGuideParams(BaseModel):
        destination: Annotated[str, Copied()] = Field(description="City to visit.")
        days: Annotated[int | None, Days()] = Field(None, description="Trip length.")

- ``Copied()``: a place, a name, an item: copied from the user's words. A misspelt copy
  is replaced by the span of the message it is close to. ``exact=False`` for a value the
  model may rightly write otherwise (a ticker 'AAPL' for "Apple"): repaired, not forced.
- ``Verbatim()``: a text to work on (to label, to translate): copied whole, emoji and
  all, and completed to the whole quotation when the user quoted it.
- ``When(repeats=False)``: a time or date as said ("金曜日", "tomorrow at 9"); with
  ``repeats=True`` a repetition the message says ("every Monday") is put back.
- ``Language()``: the name of a language ("French", "英語"); a language the message
  does not contain becomes the one it names. Not forced while decoding.
- ``Amount()``: a number checked against the numbers the message states (12万 is
  120000, not 12000).
- ``Days()``: a length in days; one the user did not state becomes the one they did.

Repairs only ever use the message's own words: they repair copying, never invent.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel


@dataclass(frozen=True)
class Role:
    """Base of every role. ``grounded``: the value is text from the message (repaired
    against it); ``exact``: the embedded decoder keeps it to the message's text."""

    grounded: ClassVar[bool] = True
    numeric: ClassVar[bool] = False
    exact: ClassVar[bool] = False


@dataclass(frozen=True)
class Copied(Role):
    """A place, a name, an item: copied from the user's words."""

    exact: bool = True  # type: ignore[misc]  # a field here, a constant elsewhere


@dataclass(frozen=True)
class Verbatim(Role):
    """A text to work on (label, translate): taken whole, emoji included."""

    exact: ClassVar[bool] = True


@dataclass(frozen=True)
class When(Role):
    """A time or date as said; ``repeats``: it may repeat ("every Monday at 8")."""

    exact: ClassVar[bool] = True
    repeats: bool = False


@dataclass(frozen=True)
class Language(Role):
    """The name of a language, as the message names it."""


@dataclass(frozen=True)
class Amount(Role):
    """A number the message states (an amount of money, a count)."""

    grounded: ClassVar[bool] = False
    numeric: ClassVar[bool] = True


@dataclass(frozen=True)
class Days(Role):
    """A length in days the message states ("a 3-day trip", "a week", 2泊3日)."""

    grounded: ClassVar[bool] = False
    numeric: ClassVar[bool] = True


def _kinds(annotation: Any) -> set[type]:
    """The plain types an annotation allows (``int | None`` -> {int, NoneType})."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return {t for arg in typing.get_args(annotation) for t in _kinds(arg)}
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    return {origin or annotation}


def roles_of(params: type[BaseModel]) -> Mapping[str, Role]:
    """Field name -> its role, in field order, for the fields that declare one. Raises
    ValueError for a field with two roles, or a role its type cannot hold (a text role
    on a number, a number role on a text)."""
    found: dict[str, Role] = {}
    for name, info in params.model_fields.items():
        declared = [m for m in info.metadata if isinstance(m, Role)]
        if not declared:
            continue
        if len(declared) > 1:
            raise ValueError(f"{params.__name__}.{name} declares two roles: {declared}")
        role = declared[0]
        kinds = _kinds(info.annotation) - {type(None)}
        wanted = {int, float} if role.numeric else {str}
        if not kinds or not kinds <= wanted:
            kind = "a number" if role.numeric else "text"
            raise ValueError(f"{params.__name__}.{name}: {type(role).__name__}() needs "
                             f"{kind}, not {info.annotation}")
        found[name] = role
    return found
