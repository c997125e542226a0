"""Natural-language times, English and Japanese, against a fixed `now`."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from funcgemma.functions.schedule_reminder.timeparse import DEFAULT_HOUR, parse_day, parse_when

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2025, 3, 12, 14, 30, tzinfo=TOKYO)  # Wednesday 14:30
MONDAY_MORNING = datetime(2025, 3, 10, 8, 0, tzinfo=TOKYO)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TOKYO)


WHEN_CASES: list[tuple[str, datetime]] = [
    # English, relative
    ("in 30 minutes", at(12, 15, 0)),
    ("in 10 min", at(12, 14, 40)),
    ("in half an hour", at(12, 15, 0)),
    ("in 2 hours", at(12, 16, 30)),
    ("in 1 hr", at(12, 15, 30)),
    ("in 5 days", at(17, DEFAULT_HOUR)),
    ("in 2 weeks", at(26, DEFAULT_HOUR)),
    ("next week", at(19, DEFAULT_HOUR)),
    # English, days and clock times
    ("tomorrow", at(13, DEFAULT_HOUR)),
    ("tomorrow at 9am", at(13, 9)),
    ("tmrw 9am", at(13, 9)),
    ("tomorrow at 7", at(13, 7)),
    ("3pm tomorrow", at(13, 15)),
    ("tomorrow morning", at(13, 9)),
    ("tomorrow afternoon", at(13, 15)),
    ("tomorrow evening", at(13, 18)),
    ("tomorrow at noon", at(13, 12)),
    ("at 6pm", at(12, 18)),
    ("at 9am", at(13, 9)),  # 9am today has passed
    ("at 7", at(12, 19)),  # the next 7 o'clock is this evening
    ("tonight", at(12, 20)),
    ("tonight at 8", at(12, 20)),
    ("tonight at 8:30", at(12, 20, 30)),
    ("15:00", at(12, 15)),
    # English, weekdays and dates
    ("friday", at(14, DEFAULT_HOUR)),
    ("on Friday at 5:30pm", at(14, 17, 30)),
    ("friday at 8", at(14, 8)),
    ("next Tuesday", at(18, DEFAULT_HOUR)),
    ("next Tuesday at 3pm", at(18, 15)),
    ("Monday 10am", at(17, 10)),
    ("this weekend", at(15, DEFAULT_HOUR)),
    ("Saturday morning", at(15, 9)),
    ("December 3 at 14:00", at(3, 14, month=12)),
    ("Dec 3", at(3, DEFAULT_HOUR, month=12)),
    ("2025-03-20 10:00", at(20, 10)),
    # Japanese, relative
    ("30分後", at(12, 15, 0)),
    ("10分後に", at(12, 14, 40)),
    ("2時間後", at(12, 16, 30)),
    ("1時間半後", at(12, 16, 0)),
    ("3日後", at(15, DEFAULT_HOUR)),
    ("来週", at(19, DEFAULT_HOUR)),
    # Japanese, days, parts of day and clock times
    ("明日", at(13, DEFAULT_HOUR)),
    ("あした", at(13, DEFAULT_HOUR)),
    ("明後日の10時", at(14, 10)),
    ("明日の朝9時", at(13, 9)),
    ("明日の朝", at(13, 9)),
    ("明日の午後3時", at(13, 15)),
    ("明日の15時半", at(13, 15, 30)),
    ("明日の夕方", at(13, 18)),
    ("明日の正午", at(13, 12)),
    ("午後3時", at(12, 15)),
    ("午後3時半", at(12, 15, 30)),
    ("午前10時", at(13, 10)),
    ("今日の午後", at(12, 15)),
    ("今夜", at(12, 20)),
    ("今夜8時", at(12, 20)),
    ("今晩9時", at(12, 21)),
    ("8時", at(12, 20)),  # the next 8 o'clock
    ("朝7時", at(13, 7)),
    # Japanese, weekdays and dates
    ("金曜日", at(14, DEFAULT_HOUR)),
    ("金曜日の午後3時", at(14, 15)),
    ("今週の金曜日", at(14, DEFAULT_HOUR)),
    ("来週の火曜日", at(18, DEFAULT_HOUR)),
    ("来週月曜", at(17, DEFAULT_HOUR)),
    ("来週の月曜日の朝", at(17, 9)),
    ("週末", at(15, DEFAULT_HOUR)),
    ("3月20日の午後2時", at(20, 14)),
    ("12月3日 14:00", at(3, 14, month=12)),
    ("１２月３日　１４：００", at(3, 14, month=12)),  # full-width digits and space
    # romaji
    ("ashita no asa 9ji", at(13, 9)),
    ("ashita", at(13, DEFAULT_HOUR)),
    ("kyou no yoru 8ji", at(12, 20)),
    ("30 pun go", at(12, 15, 0)),
]


@pytest.mark.parametrize(("text", "expected"), WHEN_CASES)
def test_timeparse_parse_when_table(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("next monday", at(17, DEFAULT_HOUR)),
    ("来週の月曜日", at(17, DEFAULT_HOUR)),
    ("next tuesday", at(18, DEFAULT_HOUR)),  # never tomorrow: "next" is the coming week
    ("monday", at(17, DEFAULT_HOUR)),
    ("sunday", at(16, DEFAULT_HOUR)),
])
def test_timeparse_next_weekday_from_monday(text: str, expected: datetime) -> None:
    assert parse_when(text, now=MONDAY_MORNING) == expected


@pytest.mark.parametrize("text", ["when pigs fly", "blah blah", "", "   "])
def test_timeparse_unreadable_is_none(text: str) -> None:
    assert parse_when(text, now=NOW) is None


def test_timeparse_past_stays_in_the_past() -> None:
    assert parse_when("yesterday at 9am", now=NOW) == at(11, 9)


def test_timeparse_result_is_in_nows_time_zone() -> None:
    utc_now = NOW.astimezone(ZoneInfo("UTC"))  # 05:30 UTC
    result = parse_when("in 30 minutes", now=utc_now)
    assert result is not None and result.tzinfo == utc_now.tzinfo
    assert result == NOW.replace(hour=15, minute=0)


@pytest.mark.parametrize(("text", "expected"), [
    ("tomorrow", date(2025, 3, 13)),
    ("明日", date(2025, 3, 13)),
    ("today", date(2025, 3, 12)),
    ("今日", date(2025, 3, 12)),
    ("this weekend", date(2025, 3, 15)),
    ("金曜日", date(2025, 3, 14)),
    ("Dec 3", date(2025, 12, 3)),
])
def test_timeparse_parse_day_table(text: str, expected: date) -> None:
    assert parse_day(text, now=NOW) == expected


# Found by an audit of reminder times (2026-12-05): each of these was saved wrong.
NEW_YEARS_EVE = datetime(2026, 12, 31, 22, 0, tzinfo=TOKYO)
END_OF_NOVEMBER = datetime(2026, 11, 30, 20, 0, tzinfo=TOKYO)
SATURDAY_NIGHT = datetime(2026, 11, 28, 23, 50, tzinfo=TOKYO)


@pytest.mark.parametrize(("text", "now", "expected"), [
    # a passed clock time on a month's last day: dateparser gave the next day of the
    # same month, a year or a month away (2027-12-01 for "at 9am" on Dec 31)
    ("at 9am", NEW_YEARS_EVE, datetime(2027, 1, 1, 9, 0, tzinfo=TOKYO)),
    ("朝7時", NEW_YEARS_EVE, datetime(2027, 1, 1, 7, 0, tzinfo=TOKYO)),
    ("noon", NEW_YEARS_EVE, datetime(2027, 1, 1, 12, 0, tzinfo=TOKYO)),
    ("6pm", END_OF_NOVEMBER, datetime(2026, 12, 1, 18, 0, tzinfo=TOKYO)),
    ("at 9am", END_OF_NOVEMBER, datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)),
    # with a day and no am/pm, 1 to 6 is the afternoon (was 03:00)
    ("tomorrow at 3", NOW, at(13, 15)),
    ("明日の3時", NOW, at(13, 15)),
    ("on Friday at 5", NOW, at(14, 17)),
    ("tomorrow at 3:15", NOW, at(13, 15, 15)),
    ("tomorrow at 9", NOW, at(13, 9)),  # 7 to 11 stay the morning
    # a part of the day said with the hour (was read as am, or ignored)
    ("tomorrow evening at 7", NOW, at(13, 19)),
    ("tomorrow night at 11", NOW, at(13, 23)),
    ("at 9 tonight", NOW, at(12, 21)),
    ("tomorrow morning 7", NOW, at(13, 7)),  # was 14:30
    # midnight and h/m abbreviations (were 09:00 of some day)
    ("tomorrow at midnight", NOW, at(13, 0)),
    ("in 1h", SATURDAY_NIGHT, datetime(2026, 11, 29, 0, 50, tzinfo=TOKYO)),
    ("in 30m", SATURDAY_NIGHT, datetime(2026, 11, 29, 0, 20, tzinfo=TOKYO)),
])
def test_timeparse_times_a_user_means(text: str, now: datetime, expected: datetime) -> None:
    assert parse_when(text, now=now) == expected


def test_timeparse_keeps_the_clock_across_a_change_of_summer_time() -> None:
    """"tomorrow at 9am" said in London the evening before the clocks go forward is 9:00
    on tomorrow's clock (BST), as long as now carries the zone, not a fixed offset."""
    london = ZoneInfo("Europe/London")
    due = parse_when("tomorrow at 9am", now=datetime(2026, 3, 28, 20, 0, tzinfo=london))
    assert due is not None and due.hour == 9 and due.utcoffset() is not None
    assert due.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]


def test_function_context_now_carries_a_zone_with_rules() -> None:
    from funcgemma.functions.context import FunctionContext
    from funcgemma.settings import Settings

    zone = FunctionContext(settings=Settings()).now().tzinfo
    assert hasattr(zone, "key"), f"{zone!r} is a fixed offset, not a time zone"


# The cases the first audit listed as not handled (README), fixed 2026-12-05.
NEW_YORK = ZoneInfo("America/New_York")
SATURDAY_AFTERNOON = datetime(2026, 12, 5, 14, 30, tzinfo=NEW_YORK)


def ny(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(("text", "now", "expected"), [
    # a day of the month without its month is the next day with that number (dateparser
    # read "the 3rd" as March and "3日" as three days from now)
    ("the 3rd", SATURDAY_AFTERNOON, ny(1, 3, DEFAULT_HOUR, year=2027)),
    ("on the 15th at 5pm", SATURDAY_AFTERNOON, ny(12, 15, 17)),
    ("3日", SATURDAY_AFTERNOON, ny(1, 3, DEFAULT_HOUR, year=2027)),
    ("15日の10時", SATURDAY_AFTERNOON, ny(12, 15, 10)),
    ("on the 5th", SATURDAY_AFTERNOON, ny(1, 5, DEFAULT_HOUR, year=2027)),  # today's 9:00 passed
    ("on the 5th at 6pm", SATURDAY_AFTERNOON, ny(12, 5, 18)),  # today, still ahead
    ("the 31st", ny(11, 12, 9), ny(12, 31, DEFAULT_HOUR)),  # November has no 31st
    ("Dec 3rd", SATURDAY_AFTERNOON, ny(12, 3, DEFAULT_HOUR, year=2027)),  # month said: as before
    ("3rd of January", SATURDAY_AFTERNOON, ny(1, 3, DEFAULT_HOUR, year=2027)),
    ("3日後", SATURDAY_AFTERNOON, ny(12, 8, DEFAULT_HOUR)),  # three days, not the 3rd
    # "this weekend" said on the weekend is this one while a moment of it is ahead
    ("this weekend", SATURDAY_AFTERNOON, ny(12, 6, DEFAULT_HOUR)),  # was next Saturday
    ("週末", SATURDAY_AFTERNOON, ny(12, 6, DEFAULT_HOUR)),
    ("this weekend at 4pm", SATURDAY_AFTERNOON, ny(12, 5, 16)),
    ("this weekend", ny(12, 6, 8), ny(12, 6, DEFAULT_HOUR)),  # Sunday before 9
    ("this weekend", ny(12, 6, 10), ny(12, 12, DEFAULT_HOUR)),  # over: the next one
    ("next weekend", SATURDAY_AFTERNOON, ny(12, 12, DEFAULT_HOUR)),
])
def test_timeparse_days_said_without_a_month_and_weekends(text: str, now: datetime,
                                                            expected: datetime) -> None:
    assert parse_when(text, now=now) == expected


@pytest.mark.parametrize(("text", "order", "expected"), [
    ("3/12", "MDY", ny(3, 12, DEFAULT_HOUR, year=2027)),
    ("3/12", "DMY", ny(12, 3, DEFAULT_HOUR, year=2027)),
    ("3/12", "YMD", ny(3, 12, DEFAULT_HOUR, year=2027)),  # Japan writes month/day too
    ("25/12", "MDY", ny(12, 25, DEFAULT_HOUR)),  # no month 25: the other reading
    ("12/25", "DMY", ny(12, 25, DEFAULT_HOUR)),  # was 2125-12-12
    ("12/25 at 8pm", "DMY", ny(12, 25, 20)),
    ("1/2/2027", "DMY", ny(2, 1, DEFAULT_HOUR, year=2027)),
    ("1/2/27", "MDY", ny(1, 2, DEFAULT_HOUR, year=2027)),
    ("2027/1/2", "DMY", ny(1, 2, DEFAULT_HOUR, year=2027)),  # a year first is unambiguous
    ("12月3日", "DMY", ny(12, 3, DEFAULT_HOUR, year=2027)),  # written out: no order applies
])
def test_timeparse_numeric_dates_follow_the_users_order(text: str, order: str,
                                                        expected: datetime) -> None:
    assert parse_when(text, now=SATURDAY_AFTERNOON, order=order) == expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "en_US.UTF-8"}, "MDY"),
    ({"LANG": "en_GB.UTF-8"}, "DMY"),
    ({"LANG": "fr_FR.UTF-8"}, "DMY"),
    ({"LANG": "ja_JP.UTF-8"}, "YMD"),
    ({"LANG": "en_US.UTF-8", "LC_TIME": "en_GB.UTF-8"}, "DMY"),
    ({"LC_ALL": "de_DE", "LC_TIME": "en_US.UTF-8"}, "DMY"),
    ({"LANG": "C.UTF-8"}, "MDY"),
    ({}, "MDY"),
])
def test_timeparse_date_order_comes_from_the_locale(environ: dict[str, str],
                                                   expected: str) -> None:
    from funcgemma.functions.schedule_reminder.timeparse import locale_date_order

    assert locale_date_order(environ) == expected


def test_schedule_reminder_reads_numeric_dates_in_the_configured_order(tmp_path) -> None:
    from funcgemma.functions.context import FunctionContext
    from funcgemma.functions.schedule_reminder import ScheduleReminderParams, schedule_reminder
    from funcgemma.settings import Settings

    ctx = FunctionContext(settings=Settings(data_dir=tmp_path, date_order="DMY"),
                          now=lambda: SATURDAY_AFTERNOON)
    try:
        result = schedule_reminder(ScheduleReminderParams(task="pay rent", time="3/12"), ctx)
    finally:
        ctx.close()
    assert result.payload()["due"] == "2027-12-03T09:00-05:00"


@pytest.mark.parametrize(("now", "text", "expected_utc_hours"), [
    # the night the clocks go back (01:00-02:00 happens twice): two hours, not three
    (ny(11, 1, 0, 30), "in 2 hours", 2.0),
    # the night they go forward (02:00-03:00 is skipped): two hours, not one
    (ny(3, 8, 0, 30), "in 2 hours", 2.0),
    (ny(3, 8, 0, 30), "in 90 minutes", 1.5),
])
def test_timeparse_offsets_from_now_are_elapsed_time(now: datetime, text: str,
                                                    expected_utc_hours: float) -> None:
    due = parse_when(text, now=now)
    assert due is not None
    utc = ZoneInfo("UTC")  # (same-zone subtraction in Python is wall-clock time)
    assert (due.astimezone(utc) - now.astimezone(utc)).total_seconds() == expected_utc_hours * 3600
    assert due.tzinfo is NEW_YORK


def test_timeparse_a_clock_time_the_clocks_skip_is_the_time_it_will_be() -> None:
    due = parse_when("tomorrow at 2:30am", now=ny(3, 7, 12))
    assert due is not None
    assert (due.hour, due.minute, due.utcoffset().total_seconds()) == (3, 30, -4 * 3600)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [
    ("on the 5th", date(2026, 12, 5)),  # a forecast for today: today is not over at 14:30
    ("this weekend", date(2026, 12, 5)),
    ("the 3rd", date(2027, 1, 3)),
])
def test_timeparse_parse_day_keeps_a_day_until_it_ends(text: str, expected: date) -> None:
    assert parse_day(text, now=SATURDAY_AFTERNOON) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # each was read wrong before 2026-12-06: 09:00, next July, the year 1830, midnight, or
    # not at all
    ("tomorrow at 18.30", at(13, 18, 30)), ("at 9h30 tomorrow", at(13, 9, 30)),
    ("tomorrow at 21h", at(13, 21)), ("tomorrow at 1830", at(13, 18, 30)),
    ("tomorrow at 9 p.m", at(13, 21)), ("at seven pm", at(12, 19)),
    ("tomorrow at 8 o'clock", at(13, 8)), ("tomorrow at 12 noon", at(13, 12)),
    ("明日の午後0時", at(13, 12)), ("明日の昼12時", at(13, 12)), ("明日の深夜1時", at(13, 1)),
    ("tomorrow at 7 sharp", at(13, 7)), ("tomorrow at 9am please", at(13, 9)),
    ("in 2h", at(12, 16, 30)),  # still two hours, not 02:00
])
def test_clock_times_written_other_ways(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected
