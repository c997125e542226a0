"""Tidy repair: a hesitation in front of a value ("um email the landlord"), a dictated
closing quote, and (except in a text to work on) emoji after the last word are not part
of the value. Roles: every text role; Verbatim keeps its emoji."""

from __future__ import annotations

import regex

from ..text import EMOJI_OR_SPACE

# Hesitations a speaker (or a voice keyboard) puts in front of a value ("remind me to um
# email the landlord"): never part of it. Only whole words ("umbrella" stays), and not in
# capitals: "UM football" and "ER visit" are names.
_FILLER = regex.compile(r"^(?:(?:[Uu](?:h+|m+|hm+)|[Ee]rm+|[Hh]m+)(?![\p{L}\p{N}'’-])"
                        r"[\s,.…-]*)+")
# Emoji after the last word of a place, name, time or task: the user's sign-off ("tmrw
# morning 😩"), not part of the value. Kept in texts to label or translate.
_TRAILING_EMOJI = regex.compile(EMOJI_OR_SPACE + "+$")
# A dictated closing quote ("is this happy or sad quote finally done end quote"): the
# quotation mark, spoken, not the quoted text.
_SPOKEN_CLOSE = regex.compile(r"[\s,.]+(?:end|close|un)[\s-]?quote[\s.!?]*$", regex.IGNORECASE)


def tidy(value: str, *, verbatim: bool = False) -> str:
    """``value`` without a leading hesitation, a dictated closing quote and, unless it
    is a ``verbatim`` text (to label or translate), trailing emoji. Never empties it."""
    out = _FILLER.sub("", value)
    out = _SPOKEN_CLOSE.sub("", out)
    if not verbatim:
        out = _TRAILING_EMOJI.sub("", out)
    out = out.strip()
    return out if out else value

