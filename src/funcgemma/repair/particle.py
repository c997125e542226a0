"""Particle repair: a time copied with the Japanese particle after it ("金曜日に",
"今の") loses it. Role: When."""

from __future__ import annotations

import regex

# A Japanese case or topic particle copied after a time ("金曜日に", "今の", "明日は"):
# our labels never end a time with one, and the reminder parser reads the time without it.
_TIME_PARTICLE = regex.compile(r"(?<=[\p{Han}\p{Katakana}\p{Hiragana}\p{N}ー])(?:には|に|の|は)$")


def trim_particle(value: str) -> str:
    """A time or date without a trailing Japanese particle; never empties it."""
    out = _TIME_PARTICLE.sub("", value.rstrip())
    return out if out else value

