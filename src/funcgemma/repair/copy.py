"""Copy repair: a value the model misspelt while copying ("odoratum" for "deodorant",
"atlantica" for "atlnta") becomes the span of the message it is close to. A value that
matches nothing (translated, inferred) is left alone: this repairs copying, never invents.
Roles: every text role (Copied, Verbatim, When, Language)."""

from __future__ import annotations

import regex
from rapidfuzz import fuzz

from ..text import KANA, LETTER, WORD_CHAR, WORDY, fold

# A span must score at least this (rapidfuzz ratio, 0-100) to replace the model's
# value. At 70, "odoratum" -> "deodorant", "clevin" -> "clevland" and "tonorow" ->
# "tomorow" are repaired; "New York City" (42 against "in NYC") and "Paris" for "the
# capital of France" are left as the model wrote them.
MIN_SCORE = 70.0

_TOKEN = regex.compile(WORD_CHAR + r"+|[^\s\p{P}\p{S}]")
# Values longer than this are aligned by sliding (a quoted review), not by word runs.
_LONG = 32
_EDGE = regex.compile(r"^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$")
# Above this many candidate spans (a short value against a long run of Japanese, where
# every character starts one) the value is aligned by sliding instead: same answer on
# ordinary messages, bounded time on an 8000-character one.
_MAX_SPANS = 4000


def _candidates(text: str, length: int, limit: float = _MAX_SPANS
                ) -> list[tuple[int, int]] | None:
    """(start, end) of every run of whole tokens in ``text`` about ``length`` long, or
    None when there are more than ``limit``. A token is a word in a spaced script, or
    one character of any other script."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    longest = int(1.5 * length) + 2
    spans = []
    for i, (start, _) in enumerate(tokens):
        for _, end in tokens[i:]:
            if end - start > longest:
                break
            if end - start >= length // 2:
                spans.append((start, end))
        if len(spans) > limit:
            return None
    return spans


def _slide(value: str, text: str) -> tuple[float, int, int]:
    hit = fuzz.partial_ratio_alignment(value, text)
    return (hit.score, hit.dest_start, hit.dest_end) if hit else (0.0, 0, 0)


def _aligned(value: str, text: str) -> tuple[float, int, int]:
    """Best (score, start, end) of a span of ``text`` against ``value``, both folded."""
    if len(value) > _LONG:
        # a long quoted text: slide it along the message (partial ratio), then widen
        return _slide(value, text)
    offset, spans = 0, _candidates(text, len(value))
    if spans is None:  # find the region by sliding, then search it span by span
        _, a, b = _slide(value, text)
        offset = max(0, a - len(value) - 2)
        text = text[offset : b + len(value) + 2]
        spans = _candidates(text, len(value), limit=float("inf")) or []
    best = (0.0, 0, 0)
    for start, end in spans:
        score = fuzz.ratio(value, text[start:end])
        if score > best[0]:
            best = (score, offset + start, offset + end)
    return best


def _joined(a: str, b: str) -> regex.Pattern[str] | None:
    """The character class two neighbours share as one word, or None."""
    for cls in (LETTER, KANA):
        if cls.match(a) and cls.match(b):
            return cls
    return None


def _whole_words(value: str, folded_value: str, text: str, folded_text: str,
                 where: list[tuple[int, int]]) -> str:
    """``value``, found in ``text``, widened to whole words when every place it occurs
    cuts a word of a spaced script ("jordan" in "cop jordans" gives "jordans", "fill" in
    "refill" gives "refill"). Only letters and digits widen: "Tokyo" in "Tokyo's" stays."""
    first = None
    for m in regex.finditer(regex.escape(folded_value), folded_text, overlapped=True):
        start, end = where[m.start()][0], where[m.end() - 1][1]
        left = _joined(text[start - 1], text[start]) if start > 0 else None
        right = _joined(text[end - 1], text[end]) if end < len(text) else None
        if not (left or right):
            return value
        first = first or (start, end, left, right)
    if first is None:
        return value
    start, end, left, right = first
    while left and start > 0 and left.match(text[start - 1]):
        start -= 1
    while right and end < len(text) and right.match(text[end]):
        end += 1
    return text[start:end] if end - start <= 2 * len(value) + 2 else value


def ground(value: str, text: str, *, min_score: float = MIN_SCORE) -> str:
    """``value`` as the user wrote it in ``text``, or ``value`` unchanged."""
    folded_value, _ = fold(value.strip())
    folded_text, where = fold(text)
    if len(folded_value) < 2 or not folded_text:
        return value
    if folded_value in folded_text:
        return _whole_words(value, folded_value, text, folded_text, where)
    score, a, b = _aligned(folded_value, folded_text)
    if score < min_score or b <= a:
        return value
    start, end = where[a][0], where[b - 1][1]
    while start > 0 and WORDY.match(text[start - 1]) and WORDY.match(text[start]):
        start -= 1
    while end < len(text) and WORDY.match(text[end]) and WORDY.match(text[end - 1]):
        end += 1
    span = _EDGE.sub("", text[start:end])
    if len(span) < 2 or len(span) > 2 * len(value) + 2:
        return value
    return span

