"""Repeating reminders: 'every day at 8', 'every Monday', 'on weekdays at 7:30', '毎朝7時',
'毎週金曜の夜9時'.

Three kinds, the ones people set: every day, every weekday (Monday to Friday), every week
on one day. Each keeps its wall-clock time in the user's time zone, so "every day at 8"
stays at 08:00 across a change of the clocks. Anything else said with "every" or 毎
("every 2 hours", "every month", 毎月) is refused by the reminder function, never saved as
a one-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from ...messages import Said
from ...text import WEEKDAY_EN, WEEKDAYS_EN, WEEKDAYS_JA, nfkc
from .timeparse import parse_when

DAYS_EN = WEEKDAYS_EN
DAYS_JA = WEEKDAYS_JA
_DAY_EN = rf"({WEEKDAY_EN})s?"
_R = regex.compile
# (pattern, kind, what stands in its place for the time parser); order matters: 毎日曜 is
# Sundays, not 毎日 + 曜
_PATTERNS = (
    (_R(rf"\b(?:every|each)\s+(?:week\s+on\s+)?{_DAY_EN}\b", regex.I), "weekly", "day"),
    (_R(rf"\bweekly\s+on\s+{_DAY_EN}\b", regex.I), "weekly", "day"),
    (_R(r"\b(?:on\s+)?(mon|tues|wednes|thurs|fri|satur|sun)days\b", regex.I), "weekly", "day"),
    (_R(r"毎週?([月火水木金土日])曜日?(?:日)?"), "weekly", "day"),
    (_R(r"\b(?:(?:every|each)\s+)?weekday\s+mornings?\b", regex.I), "weekdays", "the morning"),
    (_R(r"\b(?:(?:every|each)\s+)?weekday\s+(?:evenings?|nights?)\b", regex.I), "weekdays",
     "in the evening"),
    (_R(r"\b(?:every|each)\s+weekday\b|\b(?:on\s+)?weekdays\b", regex.I), "weekdays", ""),
    (_R(r"平日(?:の|は)?毎朝"), "weekdays", "朝"),
    (_R(r"平日(?:の|は)?(?:毎晩|毎夜)"), "weekdays", "夜"),
    (_R(r"平日(?:の|は)?(?:毎日)?"), "weekdays", ""),
    (_R(r"\b(?:every|each)\s+morning\b", regex.I), "daily", "the morning"),
    (_R(r"\b(?:every|each)\s+afternoon\b", regex.I), "daily", "in the afternoon"),
    (_R(r"\b(?:every|each)\s+(?:evening|night)\b|\bnightly\b", regex.I), "daily",
     "in the evening"),
    (_R(r"\b(?:every|each)\s*day\b|\bdaily\b", regex.I), "daily", ""),
    (_R(r"毎朝"), "daily", "朝"),
    (_R(r"毎晩|毎夜"), "daily", "夜"),
    (_R(r"毎日(?:の)?"), "daily", ""),
    (_R(r"\b(?:every|each)\s+week\b|\bweekly\b", regex.I), "weekly", ""),
    (_R(r"毎週(?:の)?"), "weekly", ""),
)
# what is left of a repetition nobody handles: said as a refusal, not saved as a one-off
_OTHER = _R(r"\b(?:every|each|daily|weekly|monthly|yearly|annually|hourly|fortnightly|"
            r"biweekly|weekdays?|weekends|twice|(?:once|times)\s+a)\b|"
            r"\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\s*-\s*(?:mon|tue|wed|thu|fri|sat|sun)|"
            r"毎|隔週|隔日|平日|ごと|おき", regex.I)
_ANY_DAY = _R(rf"\b{_DAY_EN}\b|[月火水木金土日]曜", regex.I)
_DAY_WORD = _R(r"\b(?:today|tonight|tomorrow|tmrw)\b|今日|明日|今夜|今晩", regex.I)
# two times, a limit or an exception: more than one repetition keeps ("at 8 and 8pm",
# "this week", "until Friday", "from Monday", まで, 以外)
_MORE = _R(r"\b(?:and|or|except|until|till|through|thru|for|from|starting|this|next|but|"
           r"in|on\s+the|of)\b|&|まで|以外|から|\d\s*時?\s*と", regex.I)
_CJK = _R(r"[\p{Han}\p{Hiragana}\p{Katakana}]")


class Unsupported(ValueError):
    """A repetition said in a way we do not keep ('every 2 hours', 毎月)."""


class Unreadable(ValueError):
    """A repetition we keep, with a time of day that cannot be read."""


@dataclass(frozen=True)
class Repeat:
    kind: str  # "daily" | "weekdays" | "weekly"
    clock: time  # the wall-clock time it comes due at, in the reminder's zone
    weekday: int = 0  # weekly: 0 is Monday

    def encode(self) -> str:
        day = f":{self.weekday}" if self.kind == "weekly" else ""
        return f"{self.kind}{day}@{self.clock.strftime('%H:%M')}"

    @classmethod
    def decode(cls, text: str) -> Repeat | None:
        m = regex.fullmatch(r"(daily|weekdays|weekly)(?::([0-6]))?@([0-2]\d):([0-5]\d)", text)
        if m is None or int(m.group(3)) > 23:
            return None
        if (m.group(1) == "weekly") != (m.group(2) is not None):
            return None
        return cls(m.group(1), time(int(m.group(3)), int(m.group(4))), int(m.group(2) or 0))

    def allows(self, day: date) -> bool:
        if self.kind == "weekdays":
            return day.weekday() < 5
        if self.kind == "weekly":
            return day.weekday() == self.weekday
        return True

    def next_after(self, moment: datetime, zone: tzinfo) -> datetime:
        """The first time it comes due strictly after ``moment``, in ``zone``."""
        day = moment.astimezone(zone).date()
        while True:
            if self.allows(day):
                # through UTC and back: a clock time the clocks skip is the time it will be
                due = datetime.combine(day, self.clock, zone).astimezone(timezone.utc)
                if due > moment:
                    return due.astimezone(zone)
            day += timedelta(days=1)

    def describe(self) -> Said:
        at = self.clock.strftime("%H:%M")
        if self.kind == "weekly":
            return Said(f"every {DAYS_EN[self.weekday].capitalize()} at {at}",
                        ja=f"毎週{DAYS_JA[self.weekday]}曜日 {at}")
        if self.kind == "weekdays":
            return Said(f"every weekday at {at}", ja=f"平日 {at}")
        return Said(f"every day at {at}", ja=f"毎日 {at}")


def _weekday(word: str) -> int:
    if word in DAYS_JA:
        return DAYS_JA.index(word)
    return next(i for i, d in enumerate(DAYS_EN) if d.startswith(word.lower()[:3]))


def parse_repeating(text: str, *, now: datetime, order: str = "MDY"
                    ) -> tuple[Repeat, datetime] | None:
    """(the repetition, its first time) for a repeating ``text``; None if ``text`` says
    no repetition (a one-off, for parse_when). Raises Unsupported for a repetition of
    another kind, Unreadable for one we keep at a time of day that cannot be read."""
    said = nfkc(text)
    for pattern, kind, stand_in in _PATTERNS:
        m = pattern.search(said)
        if m is None:
            continue
        weekday = _weekday(m.group(1)) if stand_in == "day" else 0
        if len(_ANY_DAY.findall(said)) > 1 or _DAY_WORD.search(said):
            raise Unsupported(text)  # "every Monday and Thursday", "every day from tomorrow"
        if stand_in == "day":
            stand_in = f"{DAYS_JA[weekday]}曜" if _CJK.search(m.group()) else DAYS_EN[weekday]
        rest = " ".join((said[: m.start()] + f" {stand_in} " + said[m.end():]).split())
        if _OTHER.search(rest) or _MORE.search(_without_parts_of_day(rest)):
            raise Unsupported(text)  # "every day every week", "every day at 8 and 9"
        if now.tzinfo is None:
            now = now.astimezone()
        clock = _clock(rest, has_day=kind == "weekly" and stand_in != "", order=order)
        if clock is None:
            raise Unreadable(text)
        if kind == "weekly" and stand_in == "":
            weekday = now.weekday()  # "every week": on today's day of the week
        repeat = Repeat(kind, clock, weekday)
        assert now.tzinfo is not None
        return repeat, repeat.next_after(now - timedelta(microseconds=1), now.tzinfo)
    if _OTHER.search(said):
        raise Unsupported(text)
    return None


def _without_parts_of_day(rest: str) -> str:
    """``rest`` less the stand-ins and phrasings that name a part of the day ("in the
    evening", "the morning"), whose words would read as a limit."""
    return regex.sub(r"\b(?:in\s+)?the\s+(?:morning|afternoon|evening)\b|\bat\s+night\b",
                     " ", rest, flags=regex.I)


# a day with no clock changes, and a Monday: the clock time is read as said there
_REFERENCE = datetime(2001, 1, 1, tzinfo=timezone.utc)
_SAYS_MIDNIGHT = _R(r"midnight|\b0?0:00\b|\b12\s*am\b|(?<!\d)0時|午前0時", regex.I)


def _clock(rest: str, *, has_day: bool, order: str) -> time | None:
    """The time of day ``rest`` names, as said: read on a day without a change of the
    clocks ("every day at 1:30am" stays 01:30 when said on the night 01:30 is skipped),
    from the start of the day so that the hour is not bent by the hour it is now ("every
    day at 7" is 07:00, also said at 10:00), and with a day word so that an hour from 1
    to 6 is the afternoon ("every day at 3" is 15:00)."""
    candidates = [rest]
    if not has_day:
        today = "今日の" if _CJK.search(rest) else "today "
        candidates = [today + rest if rest else today.rstrip("の "), rest]
    for candidate in candidates:
        if not candidate.strip():
            continue
        found = parse_when(candidate, now=_REFERENCE, order=order)
        if found is None:
            continue
        clock = found.time().replace(second=0, microsecond=0)
        if clock == time(0) and not _SAYS_MIDNIGHT.search(candidate):
            continue  # the day was read and the time was not ("today at 6.30pm" once)
        return clock
    return None


def zone_key(zone: tzinfo | None) -> str:
    """A name to store for ``zone``: its IANA key, else its offset ('UTC+09:00')."""
    key = getattr(zone, "key", None)
    if isinstance(key, str) and key:
        return key
    offset = (zone or timezone.utc).utcoffset(None) or timedelta(0)
    sign, minutes = ("-" if offset < timedelta(0) else "+"), abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_of(key: str) -> tzinfo:
    m = regex.fullmatch(r"UTC([+-])(\d\d):(\d\d)", key)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(key) if key else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc
