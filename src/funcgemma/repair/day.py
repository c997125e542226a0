"""Day repair: a time of day copied without the day said right beside it ("at 6pm" of
"tomorrow at 6pm") gets that day, and the day leaves the other arguments it was copied
into ("sleep tomorrow"). Role: When."""

from __future__ import annotations

import regex

from ..text import MONTH_EN, WEEKDAY_EN

# A day said right before or after the clock time the model copied ("tomorrow" in "call
# mom tomorrow at 6pm" when the model wrote "at 6pm"): without it the reminder is set for
# the wrong day.
_DAY_EN = (r"(?<![\p{L}\p{N}])(?:the\s+day\s+after\s+tomorrow|tomorrow|tmrw|tmr|today|"
           r"tonight|ashita|kyou|(?:(?:this|next|coming)\s+)?" + WEEKDAY_EN + r"|"
           r"(?:this|next)\s+week(?:end)?|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+"
           + MONTH_EN + r"|" + MONTH_EN + r"\s+\d{1,2}(?:st|nd|rd|th)?)"
           r"(?:\s+(?:morning|afternoon|evening|night))?(?![\p{L}\p{N}])")
_DAY_JA = (r"(?:明後日|あさって|明日|あした|あす|今日|きょう|本日|今夜|今晩|"
           r"(?:来週|今週)の?[月火水木金土日]曜日?|[月火水木金土日]曜日?(?=の|\\s|$|\\d)|\d{1,2}月\d{1,2}日)"
           r"(?:の?(?:朝|夜|午前|午後|夕方|昼))?")
_DAY = regex.compile(f"{_DAY_EN}|{_DAY_JA}", regex.IGNORECASE)
DAY = _DAY  # a day as said, in English, romaji or Japanese (funcgemma.followups)
# the day, then what may stand between it and the time: "tomorrow at 6pm", "on Friday @ 5"
_DAY_BEFORE = regex.compile(f"(?:{_DAY_EN}|{_DAY_JA}の?)[ \\t,、]*(?:(?:at|@|by)\\s+)?$",
                            regex.IGNORECASE)
_DAY_AFTER = regex.compile(f"[ \\t,、]*(?:on\\s+)?(?:{_DAY_EN})", regex.IGNORECASE)
# only a time of day is completed with a day; "in 30 minutes" is not
_CLOCKISH = regex.compile(r"\d|noon|midnight|morning|afternoon|evening|night|[時朝夜昼]|夕方",
                          regex.IGNORECASE)
_RELATIVE = regex.compile(r"\bin\s|\blater\b|from\s+now|後", regex.IGNORECASE)


def complete_day(value: str, text: str) -> str:
    """A time of day without a day ("at 6pm") that the message says right next to one
    ("tomorrow at 6pm", "at 6pm tomorrow", "明日の18時") gets that day, as written. A value
    that already names a day, a relative time ("in 30 minutes"), or one the message
    writes in places with different days around it, is unchanged."""
    if (not value.strip() or _DAY.search(value) or not _CLOCKISH.search(value)
            or _RELATIVE.search(value)):
        return value
    spans = set()
    for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE, overlapped=True):
        before = _DAY_BEFORE.search(text, max(0, m.start() - 60), m.start())
        after = None if before else _DAY_AFTER.match(text, m.end())
        start = before.start() if before else m.start()
        end = after.end() if after else m.end()
        spans.add(text[start:end])
    if len(spans) != 1:
        return value
    return spans.pop().strip(" \t,、")


def _without_day(value: str, day: str) -> str:
    """``value`` less a trailing ``day`` that now belongs to the time ("sleep tomorrow"
    when the time became "tomorrow at 10pm"); never empties it."""
    if not day or not value.lower().rstrip().endswith(day.lower()):
        return value
    out = value.rstrip()[: -len(day)].rstrip(" \t,、の")
    out = regex.sub(r"\s+(?:on|for)$", "", out, flags=regex.IGNORECASE)
    return out if out.strip() else value


def without_day(other: str, dated: str, value: str) -> str:
    """``other`` (another copied value) less the day that ``value`` became ``dated``
    with, where ``other`` ends with it; never empties it."""
    day = dated[: dated.lower().rfind(value.lower())] \
        if dated.lower().endswith(value.lower()) else ""
    day = regex.sub(r"(?:\s+(?:at|@|by))?[\s,、の]*$", "", day, flags=regex.IGNORECASE)
    return _without_day(other, day)
