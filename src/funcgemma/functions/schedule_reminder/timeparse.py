"""Natural-language times in English and Japanese -> aware datetimes.

dateparser does the heavy lifting; this module first rewrites the phrasings it misses
(measured: '明日の朝9時', '来週の火曜日', '今夜8時', '週末', 'this weekend', 'tmrw',
'12月3日 14:00' all fail or come back wrong) into English it reads, and gives a date
without a time a sensible hour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import dateparser
import regex

from ...text import MONTHS_EN, WEEKDAYS_EN, WEEKDAYS_JA, nfkc

DEFAULT_HOUR = 9  # "remind me on Friday" means Friday morning, not midnight

_WEEKDAYS = dict(zip(WEEKDAYS_JA, WEEKDAYS_EN, strict=True))
_WD = f"([{WEEKDAYS_JA}])曜日?"
_MONTHS = MONTHS_EN
_R = regex.compile


_HOURS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve")


def _month(number: str) -> str:
    """'12' -> 'december'; a number that is no month stays as it is (dateparser fails)."""
    n = int(number)
    return _MONTHS[n - 1] if 1 <= n <= 12 else number
# Order matters: day words first, then parts of day, then clock times.
_REWRITES: list[tuple[regex.Pattern[str], Any]] = [
    # romaji first, while the words are still whole
    (_R(r"\bashita\b", regex.I), "明日"),
    (_R(r"\b(?:kyou|kyo)\b", regex.I), "今日"),
    (_R(r"\b(?:konban|kon'ya|konya)\b", regex.I), "今夜"),
    (_R(r"\basa\b", regex.I), "朝"),
    (_R(r"\b(?:yoru|ban)\b", regex.I), "夜"),
    (_R(r"\b(\d{1,2})\s*ji\s*han\b", regex.I), r"\1時半"),
    (_R(r"\b(\d{1,2})\s*ji\b", regex.I), r"\1時"),
    (_R(r"\b(\d+)\s*(?:fun|pun)\s*go\b", regex.I), r"\1分後"),
    (_R(r"\bno\b"), " "),
    # clock times written in ways dateparser misreads (measured: "at 18.30", "9h30", "21h"
    # and "at 9 p.m" came back as 09:00, "at seven pm" as next July, "at 1830" as the year
    # 1830, "8 o'clock" and "12 noon" not at all, 午後0時 as midnight)
    (_R(r"\b(\d{1,2})\s*([ap])\.\s*m\b\.?", regex.I), r"\1\2m"),
    (_R(r"\bat\s+(\d{1,2})\.(\d{2})\b(?!\.\d)", regex.I), r"at \1:\2"),
    (_R(r"(?<!\bin\s+)\b(\d{1,2})h(\d{2})?\b", regex.I),
     lambda m: f"{m.group(1)}:{m.group(2) or '00'}"),
    (_R(r"\bat\s+([01]\d|2[0-3])([0-5]\d)\b", regex.I), r"at \1:\2"),
    (_R(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"
        r"(?=\s*(?:[ap]m\b|o'clock\b))|(?<=\bat\s+)"
        r"(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b", regex.I),
     lambda m: str(_HOURS.index((m.group(1) or m.group(2)).lower()) + 1)),
    (_R(r"(?:\bat\s+)?\b(\d{1,2})\s*o'clock\b", regex.I), r"at \1"),
    (_R(r"\b12\s+(noon|midnight)\b", regex.I), r"\1"),
    (_R(r"\b(?:sharp|please|pls|plz)\b", regex.I), " "),
    (_R(r"午後0時|昼12時"), "12時"),
    (_R(r"午前0時"), "0時"),
    (_R(r"深夜(\d{1,2})時"), r"午前\1時"),
    (_R(r"昼([1-6])時"), r"午後\1時"),
    (_R(r"\b(?:tmrw|tmr|tomorow|tommorow|tommorrow|tomorro)\b", regex.I), "tomorrow"),
    (_R(r"\btonite\b", regex.I), "tonight"),
    # "tonight at 8" is 8pm; dateparser returns now for it, and 8:30 *am* for "at 8:30"
    (_R(r"\btonight\s+(?:at\s+)?(?=\d{1,2}+(?::\d{2})?+(?!\s*(?:[ap]\.?m|o'clock)))", regex.I),
     "today pm "),
    (_R(r"\b(?:an\s+hour\s+and\s+a\s+half|1\.5\s+hours?)\b", regex.I), "90 minutes"),
    (_R(r"\bhalf\s+an\s+hour\b", regex.I), "30 minutes"),
    (_R(r"\b(\d+)\s*mins?\b", regex.I), r"\1 minutes"),
    (_R(r"\bin\s+(\d+)\s*m\b", regex.I), r"in \1 minutes"),
    (_R(r"\bin\s+(\d+)\s*h\b", regex.I), r"in \1 hours"),
    (_R(r"\bmidnight\b", regex.I), "12:00am"),
    (_R(r"\b(\d+)\s*hrs?\b", regex.I), r"\1 hours"),
    (_R(r"\b(?:this\s+)?weekend\b", regex.I), "saturday"),
    (_R(r"今週末|週末|土日"), " saturday "),
    (_R(r"明後日|あさって"), " in 2 days "),
    (_R(r"明日|あした|あす"), " tomorrow "),
    (_R(r"今日|きょう|本日"), " today "),
    (_R(r"今夜|今晩"), " today pm "),
    (_R("来週の?" + _WD), lambda m: f" next {_WEEKDAYS[m.group(1)]} "),
    (_R("今週の?" + _WD), lambda m: f" {_WEEKDAYS[m.group(1)]} "),
    (_R(_WD), lambda m: f" {_WEEKDAYS[m.group(1)]} "),
    (_R(r"来週"), " next week "),
    # a month and a day are written out, so the date order of numeric dates never applies
    (_R(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日"),
     lambda m: f" {_month(m.group(2))} {m.group(3)} {m.group(1) or ''} "),
    (_R(r"(\d+)\s*分後"), r" in \1 minutes "),
    (_R(r"(\d+)\s*時間半後"), lambda m: f" in {int(m.group(1)) * 60 + 30} minutes "),
    (_R(r"(\d+)\s*時間後"), r" in \1 hours "),
    (_R(r"(\d+)\s*日後"), r" in \1 days "),
    (_R(r"(?:朝|午前)の?"), " am "),
    # 午後/夕方 without a clock time: the afternoon (3pm) and early evening (6pm)
    (_R(r"(?:午後|昼過ぎ)(?!の?\s*\d)"), " 3:00pm "),
    (_R(r"夕方(?!の?\s*\d)"), " 6:00pm "),
    (_R(r"(?:夜|晩|夕方|午後)の?"), " pm "),
    (_R(r"正午|お昼"), " noon "),
    (_R(r"(\d{1,2})時半"), r" \1:30 "),
    (_R(r"(\d{1,2})時(\d{1,2})分"), r" \1:\2 "),
    (_R(r"(\d{1,2})時"), r" \1:00 "),
    (_R(r"[のにでごろ頃]"), " "),
]
_PART_THEN_CLOCK = _R(r"\b(am|pm)\s+(\d{1,2}(?::\d{2})?)")
_CLOCK = _R(r"\d{1,2}\s*(?::\d{2}|am|pm|a\.m\.|p\.m\.|o'clock)|\bnoon\b|\bmidnight\b|"
            r"\btonight\b|\bmorning\b|\bevening\b|\bafternoon\b|\bnight\b|\bminutes?\b|"
            r"\bhours?\b|\bnow\b", regex.I)
# A clock time and nothing else ("8時", "at 7"): 12-hour reading, the next one to come.
_BARE_CLOCK = _R(r"(?:at\s+)?(\d{1,2})(?::(\d{2}))?", regex.I)
# a clock time and nothing else ("at 9am", "18:00", "noon")
_CLOCK_ONLY = _R(r"(?:at\s+)?(?:\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?|noon|12:00am)", regex.I)
# an hour written without am/pm ("at 3:00" after normalise), with nothing that says the
# half of the clock
_AFTERNOON_HOUR = _R(r"(?<![\d:])([1-6]):[0-5]\d\b(?!\s*[ap]\.?m)", regex.I)
_NEXT_DAY = _R(rf"\bnext ({'|'.join(WEEKDAYS_EN)})\b", regex.I)


DATE_ORDERS = ("MDY", "DMY", "YMD")
# Where a locale's territory writes the month first, or the year first; elsewhere the day
# comes first (CLDR's short date patterns, simplified to the three orders).
_MDY_TERRITORIES = frozenset({"US", "PH", "PR", "GU", "AS", "VI", "UM", "MP", "FM", "MH",
                              "PW", "BZ"})
_YMD_TERRITORIES = frozenset({"JP", "CN", "TW", "KR", "KP", "HU", "MN", "LT", "IR"})


def locale_date_order(environ: Mapping[str, str] | None = None) -> str:
    """How the user's locale writes a numeric date: 'MDY' (en_US), 'DMY' (en_GB, fr_FR) or
    'YMD' (ja_JP), from LC_ALL / LC_TIME / LANG as the C library reads them; 'MDY' (what
    dateparser assumes) where none names a territory (C, POSIX, unset)."""
    env = os.environ if environ is None else environ
    value = next((env[k] for k in ("LC_ALL", "LC_TIME", "LANG") if env.get(k)), "")
    found = regex.match(r"[A-Za-z]{2,3}_([A-Za-z]{2})\b", value)
    if found is None:
        return "MDY"
    territory = found.group(1).upper()
    if territory in _MDY_TERRITORIES:
        return "MDY"
    return "YMD" if territory in _YMD_TERRITORIES else "DMY"


# "3/12", "3/12/2027", "2027/3/12": read here in the user's order and written out, because
# dateparser given DMY reads "12/25" as 2125-12-12
_NUMERIC_DATE = _R(r"(?<![\d/:.])(\d{1,4})/(\d{1,2})(?:/(\d{2,4}))?(?![\d/:])")


def _numeric_date(m: regex.Match[str], order: str) -> str:
    a, b, c = m.group(1), m.group(2), m.group(3)
    if len(a) == 4 or (c is not None and order == "YMD"):  # the year first
        if c is None:
            return m.group()
        year, month, day = a, int(b), int(c)
    else:
        first, second = int(a), int(b)
        month, day = (second, first) if order == "DMY" else (first, second)
        if month > 12 and day <= 12:  # "25/12" said by someone whose order is MDY
            month, day = day, month
        year = c or ""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group()
    if len(year) == 2:
        year = f"20{year}"
    return f" {_MONTHS[month - 1]} {day} {year} "


def normalise(text: str, order: str = "MDY") -> str:
    """Rewrite ``text`` into English dateparser reads (exposed for tests); ``order``: how
    a numeric date such as 3/12 is written (DATE_ORDERS)."""
    text = nfkc(text).strip()
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    text = _NUMERIC_DATE.sub(lambda m: _numeric_date(m, order), text)
    text = _PART_THEN_CLOCK.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)  # 午後3時 -> 3:00pm
    text = regex.sub(r"\btoday pm\b(?!\s*\d)", "tonight", text)
    text = regex.sub(r"(?<![\d:]\s*)\bam\b(?!\s*\d)", " 9:00am", text)  # 朝 alone: morning
    text = regex.sub(r"(?<![\d:]\s*)\bpm\b(?!\s*\d)", " 7:00pm", text)  # 夜 alone: evening
    text = regex.sub(r"(\d{1,2}:\d{2})\s+(am|pm)", r"\1\2", text)
    # "at 7" is a clock time; dateparser reads a bare 7 as a month or a day
    text = regex.sub(r"\bat\s+(\d{1,2})\b(?![:.]?\d|\s*(?:[ap]\.?m\b|o'clock))", r"at \1:00",
                     text, flags=regex.I)
    text = _with_part_of_day(text)
    return " ".join(text.split())


_PART_OF_DAY = _R(r"\b(morning|afternoon|evening|night|tonight)\b", regex.I)
# an hour without am/pm, as "at 7:00" or a lone "7" ("tomorrow morning 7")
_PLAIN_HOUR = _R(r"(?<![\d:/.])(\d{1,2})(?::(\d{2}))?"
                 r"(?![\d:/.]|\s*(?:[ap]\.?m\b|minutes?\b|hours?\b|days?\b|o'clock))", regex.I)


def _with_part_of_day(text: str) -> str:
    """An hour said with a part of the day takes its half of the clock: "tomorrow evening
    at 7" is 19:00, "at 9 tonight" 21:00, "tomorrow morning 7" 07:00 (dateparser reads
    the hour as am and the part of the day not at all)."""
    part = _PART_OF_DAY.search(text)
    if part is None or not _PLAIN_HOUR.search(text):
        return text
    word = part.group(1).lower()
    half = "am" if word == "morning" else "pm"

    def clock(m: regex.Match[str]) -> str:
        hour = int(m.group(1))
        if not 1 <= hour <= 12:
            return m.group()
        return f"{hour}:{m.group(2) or '00'}{half}"

    text = _PLAIN_HOUR.sub(clock, text, count=1)
    day = "today" if word == "tonight" else ""
    return _PART_OF_DAY.sub(day, text)


_ABBR = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# a day of the month said without its month: "on the 3rd", "the 15th", "3日"
_DAY_OF_MONTH = _R(rf"(?<!\b{_ABBR}\s*)\b(?:on\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)\b"
                   rf"(?!\s+(?:of\b|{_ABBR}))|(?<![\d/])(\d{{1,2}})日", regex.I)
_WEEKEND = _R(r"\bweekend\b|週末|土日", regex.I)
_NEXT_WEEKEND = _R(r"\bnext\s+weekend\b|来週末", regex.I)
# an offset from now in minutes or hours and nothing else: elapsed time, not clock time
_ELAPSED = _R(r"in(?:\s+(?:and\s+)?\d+\s+(?:minutes?|hours?))+", regex.I)


def _months_from(day: date, n: int) -> date:
    """The first date from ``day`` on (``day`` included) whose day of the month is ``n``
    (months without it are skipped: "the 31st" said in April is May 31)."""
    year, month = day.year, day.month
    for _ in range(13):
        try:
            found = date(year, month, n)
        except ValueError:
            found = None
        if found is not None and found >= day:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(f"no month has a day {n}")


def _moment(found: datetime, has_clock: bool) -> datetime:
    return found if has_clock else datetime.combine(found.date(), time(DEFAULT_HOUR))


def _parse(text: str, now: datetime, order: str, *, whole_day: bool = False
           ) -> tuple[datetime, bool] | None:
    """``whole_day``: a day is still ahead until it ends (a forecast's day), not once its
    moment has passed (a reminder's)."""
    cleaned = normalise(text, order)
    if not cleaned:
        return None
    naive_now = now.replace(tzinfo=None)
    day_of_month = _DAY_OF_MONTH.search(cleaned)
    n_day = int(day_of_month.group(1) or day_of_month.group(2)) if day_of_month else 0
    if day_of_month and 1 <= n_day <= 31:
        # dateparser reads "the 3rd" as March and "3日" as three days: the day is the
        # next one with that number, written out for it
        first = _months_from(naive_now.date(), n_day)
        cleaned = (cleaned[: day_of_month.start()] + f" {_MONTHS[first.month - 1]} {n_day} "
                   f"{first.year} " + cleaned[day_of_month.end() :])
        cleaned = " ".join(cleaned.split())
    else:
        day_of_month = None
    has_clock = bool(_CLOCK.search(cleaned))

    def ahead(when: datetime) -> bool:
        if whole_day:
            return when.date() >= naive_now.date()
        return _moment(when, has_clock) > naive_now

    nxt = _NEXT_DAY.search(cleaned)
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": naive_now,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": order,
    }
    query = _NEXT_DAY.sub(r"\1", cleaned) if nxt else cleaned
    found = dateparser.parse(query, languages=["en", "ja"], settings=settings)  # type: ignore[arg-type]
    if found is None:
        return None
    if nxt:
        # "next Tuesday"/"来週の火曜日" means the one in the coming week, never this week's.
        monday_next = naive_now.date() + timedelta(days=7 - naive_now.weekday())
        while found.date() < monday_next:
            found += timedelta(days=7)
    elif _WEEKEND.search(text) and not _NEXT_WEEKEND.search(text) and naive_now.weekday() >= 5:
        # "this weekend" said on the weekend is this one while it has a moment ahead
        # (today, or Sunday), not next Saturday
        for day in (naive_now.date(), naive_now.date() + timedelta(days=1)):
            here = datetime.combine(day, found.time())
            if day.weekday() >= 5 and ahead(here):
                found = here
                break
    if day_of_month is not None and not ahead(found):
        # "on the 5th" said on the 5th after its hour: next month's
        later = _months_from(found.date() + timedelta(days=1), n_day)
        found = datetime.combine(later, found.time())
    if _CLOCK_ONLY.fullmatch(cleaned):
        # a time of day and nothing else is the next time the clock shows it: today, or
        # tomorrow once it has passed. Computed here: on the last day of a month
        # dateparser moves a passed time to the next day without moving the month ("at
        # 9am" said on Dec 31 at 22:00 came back as 2027-12-01).
        found = datetime.combine(naive_now.date(), found.time())
        if found <= naive_now:
            found += timedelta(days=1)
    bare = _BARE_CLOCK.fullmatch(cleaned)
    if bare and 1 <= int(bare.group(1)) <= 11:
        # "8時" at 14:30 means 20:00 today, not 08:00 tomorrow: take the nearer reading.
        evening = found - timedelta(hours=12)
        if evening > naive_now:
            found = evening
    elif not bare and _AFTERNOON_HOUR.search(cleaned) and 1 <= found.hour <= 6:
        # "tomorrow at 3", "金曜日の3時": with a day and no am/pm, an hour from 1 to 6 is
        # the afternoon; nobody means 3 in the night without saying so
        found += timedelta(hours=12)
    return found, has_clock


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.astimezone()


def parse_when(text: str, *, now: datetime, order: str = "MDY") -> datetime | None:
    """The moment ``text`` refers to, in ``now``'s time zone; None if unreadable.

    A day without a clock time ('Friday', '明日') means DEFAULT_HOUR on that day. ``order``:
    how the user writes a numeric date (DATE_ORDERS; see locale_date_order)."""
    now = _aware(now)
    parsed = _parse(text, now, order)
    if parsed is None:
        return None
    found, has_clock = parsed
    found = _moment(found, has_clock)
    if _ELAPSED.fullmatch(normalise(text, order)):
        # "in 2 hours" is two hours of elapsed time, also across a change of the clocks
        # (wall-clock arithmetic was an hour off there)
        elapsed = found - now.replace(tzinfo=None)
        return (now.astimezone(timezone.utc) + elapsed).astimezone(now.tzinfo)
    # a wall-clock time; through UTC and back so one the clocks skip (02:30 on the night
    # they go forward) comes back as the time it will be then (03:30)
    return found.replace(tzinfo=now.tzinfo).astimezone(timezone.utc).astimezone(now.tzinfo)


def parse_day(text: str, *, now: datetime, order: str = "MDY") -> date | None:
    """The calendar day ``text`` refers to ('tomorrow', '金曜日', 'Dec 3'); None if unreadable."""
    parsed = _parse(text, _aware(now), order, whole_day=True)
    return parsed[0].date() if parsed else None
