"""Quotation repair: a text to label or translate is the user's whole quotation, or
keeps the emoji that end the message right after it. Role: Verbatim."""

from __future__ import annotations

import regex

from ..text import EMOJI_OR_SPACE, fold

# A quoted text in the message: 「...」, 『...』, “...”, "..." or '...' (an apostrophe inside
# a word, as in "what's", opens or closes nothing).
_QUOTED = regex.compile(
    r"「(?P<q>[^「」]+)」|『(?P<q>[^『』]+)』|“(?P<q>[^“”]+)”"
    r"|(?<![\p{L}\p{N}])\"(?P<q>[^\"]+)\"(?![\p{L}\p{N}])"
    r"|(?<![\p{L}\p{N}])'(?P<q>[^'\s](?:(?:[^']|(?<=\p{L})'(?=\p{L}))*[^'\s])?)'"
    r"(?![\p{L}\p{N}])")
_EMOJI_TAIL = regex.compile(EMOJI_OR_SPACE + "*$")


def quotations(text: str) -> list[str]:
    """Each text the message quotes, without its quotation marks."""
    return [q.strip() for m in _QUOTED.finditer(text) for q in m.captures("q") if q.strip()]


def whole_text(value: str, text: str) -> str:
    """A text to label or translate, completed from the message: when the user quoted it,
    the whole quotation, without the quotation marks ("ご来店" inside 「ご来店ありがとう
    ございました」, or "she said 'lovely hedge'" for the quote alone); otherwise the value
    with the emoji that end the message right after it ("over AGAIN 😂")."""
    quotes = quotations(text)
    bare = fold(value.strip().strip("「」『』“”\"'"))[0]
    if quotes and bare:
        folded = [fold(q)[0] for q in quotes]
        if bare not in folded:
            inside = [q for q, f in zip(quotes, folded, strict=True) if bare in f]
            around = [q for q, f in zip(quotes, folded, strict=True) if f in bare]
            if len(inside) == 1:
                return inside[0]
            if not inside and len(around) == 1:
                return around[0]
        return value
    at = text.rfind(value)
    if at >= 0 and value.strip():
        tail = text[at + len(value):]
        if tail.strip() and _EMOJI_TAIL.fullmatch(tail):
            return value + tail.rstrip()
    return value

