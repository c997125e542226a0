"""Argument repair: what the model copied from the message, checked against the message.

A 270M router copies text well and not perfectly: a misspelt place, a time cut at its
colon, a reminder's "every Monday" left out, 12万 written as 12000. Each repair here
fixes one such mistake, for the fields whose role (funcgemma.roles) says what they are,
and only from the message's own words: a repair never invents a value.

One module a repair; ``REPAIRS`` is the one ordered list they run in. A step takes the
arguments, the roles and the message and returns the arguments (a new dict when it
changed anything). The order matters where steps meet: a value is aligned with the
message (copy) before it is completed (quotes, clock, day), and tidied after.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..roles import Amount, Days, Language, Role, Verbatim, When
from .clock import complete_clock
from .copy import ground
from .day import complete_day, without_day
from .language import ground_language
from .number import ground_number
from .particle import trim_particle
from .quotes import whole_text
from .repetition import complete_repetition
from .tidy import tidy

Arguments = dict[str, Any]
Roles = Mapping[str, Role]
Repair = Callable[[Arguments, Roles, str], Arguments]


def _texts(arguments: Arguments, roles: Roles, kind: type[Role] = Role) -> list[str]:
    """The fields of ``kind`` whose value is a string, in field order."""
    return [k for k, r in roles.items()
            if isinstance(r, kind) and r.grounded and isinstance(arguments.get(k), str)]


def copy_from_message(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A misspelt copy becomes the span of the message it is close to (repair.copy)."""
    return {**arguments, **{k: ground(arguments[k], text) for k in _texts(arguments, roles)}}


def whole_quotation(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A text to work on is the user's whole quotation (repair.quotes)."""
    return {**arguments,
            **{k: whole_text(arguments[k], text) for k in _texts(arguments, roles, Verbatim)}}


def tidied(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """No hesitation, dictated quote or (but in a Verbatim text) trailing emoji."""
    return {**arguments, **{k: tidy(arguments[k], verbatim=isinstance(roles[k], Verbatim))
                            for k in _texts(arguments, roles)}}


def whole_clock(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A time without a trailing particle, and with the minutes of its clock time."""
    return {**arguments, **{k: complete_clock(trim_particle(arguments[k]), text)
                            for k in _texts(arguments, roles, When)}}


def repetition(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A repeating time with the repetition the message says (repair.repetition)."""
    out = dict(arguments)
    for key in _texts(arguments, roles, When):
        role = roles[key]
        if isinstance(role, When) and role.repeats:
            others = tuple(str(v) for k, v in out.items() if k != key and isinstance(v, str))
            out[key] = complete_repetition(out[key], text, others=others)
    return out


def day(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A time of day with the day said beside it; that day leaves the other copied
    values it was copied into ("sleep tomorrow")."""
    out = dict(arguments)
    for key in _texts(arguments, roles, When):
        value = out[key]
        dated = complete_day(value, text)
        if dated == value:
            continue
        out[key] = dated
        for other in _texts(out, roles):
            if not isinstance(roles[other], (When, Verbatim)):
                out[other] = without_day(out[other], dated, value)
    return out


def language(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """A language the message does not contain becomes the one it names, outside the
    texts to work on (repair.language)."""
    texts = [arguments[k] for k in _texts(arguments, roles, Verbatim)]
    return {**arguments, **{k: ground_language(arguments[k], text, exclude=texts)
                            for k in _texts(arguments, roles, Language)}}


def numbers(arguments: Arguments, roles: Roles, text: str) -> Arguments:
    """Amounts and lengths in days checked against the numbers the message states
    (repair.number). Amounts first, then lengths, each in name order: a step sees the
    values the ones before it settled."""
    out = dict(arguments)
    keys = sorted(k for k, r in roles.items() if isinstance(r, Amount))
    keys += sorted(k for k, r in roles.items() if isinstance(r, Days))
    for key in keys:
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        taken = [v for k, v in out.items() if k != key and k in keys
                 and isinstance(v, (int, float)) and not isinstance(v, bool)]
        fixed = ground_number(float(value), text, duration=isinstance(roles[key], Days),
                              taken=taken)
        if fixed != value:
            out[key] = int(fixed) if isinstance(value, int) and fixed.is_integer() else fixed
    return out


# The order every call's arguments are repaired in.
REPAIRS: tuple[Repair, ...] = (
    copy_from_message,
    whole_quotation,
    tidied,
    whole_clock,
    repetition,
    day,
    language,
    numbers,
)


def repair(arguments: Mapping[str, Any], roles: Roles, text: str) -> Arguments:
    """``arguments`` with every repair applied, in order, against the message ``text``."""
    out = dict(arguments)
    for step in REPAIRS:
        out = step(out, roles, text)
    return out


__all__ = ["REPAIRS", "Repair", "complete_clock", "complete_day", "complete_repetition",
           "ground", "ground_language", "ground_number", "repair", "tidy", "trim_particle",
           "whole_text"]
