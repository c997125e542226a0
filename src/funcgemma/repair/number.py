"""Numbers the user stated, so a numeric argument can be checked against the message.

A 270M router copies text well and numbers less well. Two mistakes recur: it writes
"12万円" as 12000 (the pattern "3万" -> 30000 stretched to two digits), and it fills a
trip length it was not told ("a 2 day plan" -> days=7, the most common length in its
training). ``ground_number`` repairs both, and only those: a value the message states is
kept, a value a scaled amount explains by a power of ten becomes that amount, and a
duration the message does not state becomes the one duration it does state. Anything
else is left as the model wrote it: grounding repairs, it never invents.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import regex

from ..text import nfkc

_SCALES = {"万": 10_000, "千": 1_000, "億": 100_000_000, "k": 1_000, "thousand": 1_000,
           "million": 1_000_000}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
          "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "a": 1, "an": 1,
          "single": 1}
_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Japanese day counts read in romaji ("osaka de ichinichi dake").
_ROMAJI_DAYS = {"ichinichi": 1, "futsuka": 2, "mikka": 3, "yokka": 4, "itsuka": 5,
                "isshuukan": 7, "isshukan": 7, "nishuukan": 14}

_DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?"
_KANJI_NUM = r"[一二三四五六七八九十]+"
_WORD_NUM = r"(?:" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")"
# 12万, 1.5万, 1万5000, 3千, 40k, 2 thousand, 三万 (a bare "k" only right after digits)
_AMOUNT = regex.compile(
    rf"(?P<n>{_DIGITS}|{_KANJI_NUM})\s*(?P<s>万|千|億|(?<=\d)k(?![\p{{L}}])|thousand|million)"
    rf"(?P<rest>{_DIGITS}(?![万千億]))?|(?P<n>{_DIGITS})",
    regex.IGNORECASE)
_EN_DAYS = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])(?P<n>{_DIGITS}|{_WORD_NUM})(?:\s+full)?[\s-]*"
    r"(?P<u>days?|weeks?)(?![\p{L}])|(?P<f>fortnight)",
    regex.IGNORECASE)
# 3日間, 2泊3日 (three days), 1週間, 一日; not a date such as 12月3日
_JA_DAYS = regex.compile(
    rf"(?:(?:{_DIGITS}|{_KANJI_NUM})泊)?(?<![\d.,一二三四五六七八九十]|月\s*)"
    rf"(?P<n>{_DIGITS}|{_KANJI_NUM})\s*(?P<u>日間?|週間)")


@dataclass(frozen=True)
class Mention:
    value: float
    scaled: bool = False  # written with 万, 千, k, thousand...


def _kanji(text: str) -> int | None:
    """一 .. 九十九 (十 alone is 10, 二十三 is 23); None for anything else."""
    tens, _, ones = text.partition("十")
    if "十" not in text:
        return _KANJI.get(text) if len(text) == 1 else None
    if len(tens) > 1 or len(ones) > 1:
        return None
    t = _KANJI.get(tens, 0 if tens else 1)
    o = _KANJI.get(ones, 0 if not ones else -100)
    return t * 10 + o if o >= 0 and (not tens or tens in _KANJI) else None


def _number(text: str) -> float | None:
    text = text.lower()
    if text in _WORDS:
        return float(_WORDS[text])
    if regex.fullmatch(_KANJI_NUM, text):
        k = _kanji(text)
        return float(k) if k is not None else None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


_UNITS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * n for n, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_MULTIPLIERS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000}
# every English word a spelt number is made of ("twenty", "seventeen", "thousand")
NUMBER_WORDS = frozenset({*_UNITS, *_TENS, *_MULTIPLIERS})
_EN_WORD = regex.compile(r"[a-z]+")


def _spelt_numbers(text: str) -> list[Mention]:
    """Numbers spelt in English words: "fifty" (50), "five hundred" (500, scaled),
    "two thousand five hundred" (2500), "a hundred" (100), "twenty-five" (25)."""
    out: list[Mention] = []
    total = current = 0
    seen = scaled = False
    words = _EN_WORD.findall(text.lower().replace("-", " "))
    for i, word in enumerate([*words, ""]):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
            seen = True
        elif word == "a" and nxt in _MULTIPLIERS and not seen:
            current, seen = 1, True
        elif word in _MULTIPLIERS and seen:
            if word == "hundred":
                current *= 100
            else:
                total, current = total + current * _MULTIPLIERS[word], 0
            scaled = True
        elif word == "and" and seen and nxt in {*_UNITS, *_TENS}:
            continue
        else:
            if seen:
                out.append(Mention(float(total + current), scaled=scaled))
            total = current = 0
            seen = scaled = False
    return out


def stated_numbers(text: str) -> list[Mention]:
    """Every number ``text`` states in digits, with its scale applied (12万 is 120000,
    1万5000 is 15000, 40k is 40000), Japanese numerals before 万/千, and numbers spelt in
    English words ("five hundred")."""
    out = _spelt_numbers(text)
    for m in _AMOUNT.finditer(nfkc(text)):
        n = _number(m.group("n"))
        if n is None:
            continue
        scale = m.group("s")
        if scale:
            rest = _number(m.group("rest")) if m.group("rest") else 0.0
            out.append(Mention(n * _SCALES[scale.lower()] + (rest or 0.0), scaled=True))
        elif regex.fullmatch(_DIGITS, m.group("n")):
            out.append(Mention(n))
    return out


def stated_days(text: str) -> list[float]:
    """Trip lengths in days that ``text`` states: "2 days", "a 3-day plan", "a week" (7),
    "two weeks" (14), "a fortnight", "3日間", "2泊3日" (3), "1週間", "一日", "mikka"."""
    folded = nfkc(text)
    out = []
    for m in _EN_DAYS.finditer(folded):
        if m.group("f"):
            out.append(14.0)
            continue
        n = _number(m.group("n"))
        if n is not None:
            out.append(n * (7 if m.group("u").lower().startswith("week") else 1))
    for m in _JA_DAYS.finditer(folded):
        n = _number(m.group("n"))
        if n is not None:
            out.append(n * (7 if m.group("u") == "週間" else 1))
    for word in regex.findall(r"\p{Latin}+", folded.lower()):
        if word in _ROMAJI_DAYS:
            out.append(float(_ROMAJI_DAYS[word]))
    return out


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def ground_number(value: float, text: str, *, duration: bool = False,
                  taken: Collection[float] = ()) -> float:
    """``value`` checked against the numbers ``text`` states (see the module docstring).
    ``duration``: the argument is a length in days. ``taken``: values other numeric
    arguments of the same call hold (a duration is never moved onto one of them)."""
    if duration:
        days = stated_days(text)
        if any(_same(value, d) for d in days):
            return value
        free = {d for d in days if not any(_same(d, t) for t in taken)}
        return free.pop() if len(free) == 1 else value
    mentions = stated_numbers(text)
    if any(_same(value, m.value) for m in mentions) or value == 0:
        return value
    # a power of ten off the one number that explains it: "12万" written 12000, or a
    # zero dropped in copying a long number ("200000" written 20000; not "4 people" for
    # a budget of 400, where the small number is something else)
    rescaled = {m.value for m in mentions if m.value and _power_of_ten(m.value / value)
                and (m.scaled or min(abs(m.value), abs(value)) >= 100)}
    return rescaled.pop() if len(rescaled) == 1 else value


def _power_of_ten(ratio: float) -> bool:
    if ratio <= 0:
        return False
    exponent = math.log10(ratio)
    return abs(exponent - round(exponent)) < 1e-9 and round(exponent) != 0
