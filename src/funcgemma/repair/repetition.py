"""Repetition repair: a reminder's time copied without the words that make it repeat
("at 8am" of "every Monday ... at 8am") gets them back, with a start, an end or an
exception said right after it, so that a repeating reminder is not saved once (and a
repetition the reminder cannot keep is refused, not dropped). Role: When(repeats=True)."""

from __future__ import annotations

import regex

from ..text import JAPANESE, REPEAT_EN, REPEAT_JA, WEEKDAY_EN

# A repetition the message says that the copied time left out ("every Monday remind me to
# water the plants at 8am" with the time "at 8am"): without it a weekly reminder was saved
# once. Repetitions the reminder function does not keep are looked for too ("on the first
# of every month", "every other day", "on weekends"), so that it refuses them instead of
# saving a one-off.
_REPEAT = regex.compile(f"{REPEAT_EN}|{REPEAT_JA}", regex.IGNORECASE)
# what leads into a time said right after it ("every Monday at 8am" copied as "Monday at
# 8am", "毎朝7時" as "朝7時")
_LEAD = regex.compile(r"(?:\b(?:every|each)\s+|\bweekly\s+|毎週?|平日[のは]?)$", regex.IGNORECASE)
# a start, an end or an exception said right after the time ("every day at 8 starting
# tomorrow"): kept with it, so that a repetition with a limit is refused, not kept for ever
_LIMIT = regex.compile(r"[ \t]*,?[ \t]*(?:starting|from|until|till|through|thru|except|"
                       r"excluding|but\s+not|for\s+(?:the\s+(?:next|coming|rest\s+of)\s+\w+|"
                       r"(?:\d+|a|one|two|three|four)\s+(?:days?|weeks?|months?|years?)\b))"
                       r"[^.!?\n]*", regex.IGNORECASE)
# a clock time said right after a repetition the model copied alone ("毎朝" of "毎朝7時に")
_CLOCK_AFTER = regex.compile(r"[ \t]*(?:at[ \t]+)?\d{1,2}(?:[:.]\d{2})?(?:[ \t]*(?:[ap]\.?m\b\.?)|"
                             r"時半|時\d{1,2}分|時)?", regex.IGNORECASE)


# a time that is once by what it says: a relative time, a named day or weekday
# ("at noon Saturday" beside "closes on Saturdays"), a date
_ONCE = regex.compile(r"\bin\s|\blater\b|from\s+now|後|\b(?:today|tonight|tomorrow|tmrw|tmr|"
                      r"next|this)\b|明日|明後日|今日|今夜|今晩|あした|来週|今週|\d{1,2}月\d{1,2}日|"
                      r"\d{1,2}/\d{1,2}|\d(?:st|nd|rd|th)\b|[月火水木金土日]曜|"
                      r"(?<![\p{L}\p{N}])" + WEEKDAY_EN + r"(?![\p{L}\p{N}])", regex.IGNORECASE)


def complete_repetition(value: str, text: str, *, others: tuple[str, ...] = ()) -> str:
    """A reminder's time as the message says it, where the copied value left part of it
    out. Right beside the value: the word that makes it repeat ("every" of "every Monday
    at 8am", 毎 of 毎朝7時), the clock time after a repetition copied alone ("毎朝" of
    "毎朝7時に"), and a start, end or exception after it ("starting tomorrow"). Elsewhere
    in the message: a repetition, when the message says exactly one, outside the other
    arguments ("send the weekly update" is a task), and the value names no day of its own."""
    if not value.strip():
        return value
    # where the other arguments stand in the message (the task): not part of the time
    taken = [m.span() for o in others if o
             for m in regex.finditer(regex.escape(o), text, regex.IGNORECASE)]
    spots = [m for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE)]
    if len(spots) == 1:
        start, end = span = spots[0].span()
        lead = _LEAD.search(text, 0, start)
        if lead and not _REPEAT.search(value):
            start = lead.start()
        if not regex.search(r"\d", text[start:end]) and _REPEAT.search(text[start:end]):
            clock = _CLOCK_AFTER.match(text, end)
            if clock and regex.search(r"\d", clock.group()):
                end = clock.end()
        limit = _LIMIT.match(text, end)
        if limit and _REPEAT.search(text[start:end]):
            # up to where the task or another argument starts ("... to take vitamins")
            stops = [a for a, b in taken if end < a and b <= limit.end()]
            verb = regex.search(r"[ \t,]+(?:to|that|and|remind|please)\b", text[end: limit.end()])
            end = min([limit.end(), *stops, *([end + verb.start()] if verb else [])])
        if (start, end) != span:
            value = text[start:end].strip(" \t,、")
    if _REPEAT.search(value) or _ONCE.search(value):
        return value
    said = [m for m in _REPEAT.finditer(text)
            if not any(a <= m.start() < b for a, b in taken)]
    kinds = list({m.group().lower(): m.group() for m in said}.values())
    if not kinds:
        return value
    # two ("every morning ... and every evening"): all of them, which the reminder
    # function refuses rather than keep one and drop the other
    repetition = " and ".join(kinds)
    joiner = "" if JAPANESE.search(repetition) else " "
    return f"{repetition}{joiner}{value}"

