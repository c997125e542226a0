"""Repeating reminders: what is read as a repetition, when it first and next comes due,
and the store keeping its wall-clock time across a change of the clocks."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from funcgemma.functions.schedule_reminder.recurrence import (
    Repeat,
    Unsupported,
    parse_repeating,
    zone_key,
    zone_of,
)
from funcgemma.functions.schedule_reminder.store import ReminderStore

LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")
SUNDAY = datetime(2026, 12, 6, 10, 30, tzinfo=LONDON)  # a Sunday morning


@pytest.mark.parametrize(("said", "encoded", "first"), [
    ("every monday at 8am", "weekly:0@08:00", "2026-12-07 08:00"),
    ("Every Monday at 8am", "weekly:0@08:00", "2026-12-07 08:00"),
    ("mondays at 9", "weekly:0@09:00", "2026-12-07 09:00"),
    ("weekly on friday at 5pm", "weekly:4@17:00", "2026-12-11 17:00"),
    ("every sunday", "weekly:6@09:00", "2026-12-13 09:00"),  # today's 9:00 has passed
    ("every sunday at 11am", "weekly:6@11:00", "2026-12-06 11:00"),  # today, still ahead
    ("every day at 7", "daily@07:00", "2026-12-07 07:00"),  # 07:00, not 19:00 today
    ("every day at 3", "daily@15:00", "2026-12-06 15:00"),  # an hour 1-6 with a day: pm
    ("daily at 8am", "daily@08:00", "2026-12-07 08:00"),
    ("every day", "daily@09:00", "2026-12-07 09:00"),
    ("every morning at 6:30", "daily@06:30", "2026-12-07 06:30"),
    ("each night at 10", "daily@22:00", "2026-12-06 22:00"),
    ("every weekday at 8", "weekdays@08:00", "2026-12-07 08:00"),
    ("on weekdays at 7:30", "weekdays@07:30", "2026-12-07 07:30"),
    ("毎朝7時", "daily@07:00", "2026-12-07 07:00"),
    ("毎日9時", "daily@09:00", "2026-12-07 09:00"),
    ("毎晩", "daily@19:00", "2026-12-06 19:00"),
    ("毎週金曜の夜9時", "weekly:4@21:00", "2026-12-11 21:00"),
    ("毎日曜日の朝", "weekly:6@09:00", "2026-12-13 09:00"),  # Sundays, not 毎日 + 曜日
    ("毎月曜", "weekly:0@09:00", "2026-12-07 09:00"),  # Mondays, not 毎月
    ("平日の朝7時", "weekdays@07:00", "2026-12-07 07:00"),
    ("every day at 7 in the morning", "daily@07:00", "2026-12-07 07:00"),
    ("weekday mornings at 7", "weekdays@07:00", "2026-12-07 07:00"),
    ("every weekday morning at 8", "weekdays@08:00", "2026-12-07 08:00"),
    ("平日は毎朝8時", "weekdays@08:00", "2026-12-07 08:00"),
    ("平日の毎晩10時", "weekdays@22:00", "2026-12-07 22:00"),
    ("every friday night", "weekly:4@20:00", "2026-12-11 20:00"),
    ("every saturday morning at 10", "weekly:5@10:00", "2026-12-12 10:00"),
])
def test_repeating_times_are_read(said: str, encoded: str, first: str) -> None:
    parsed = parse_repeating(said, now=SUNDAY)
    assert parsed is not None
    repeat, when = parsed
    assert (repeat.encode(), when.strftime("%Y-%m-%d %H:%M")) == (encoded, first)
    assert when.tzinfo == LONDON and when > SUNDAY


@pytest.mark.parametrize("said", ["tomorrow at 9", "at 7", "friday", "明日の朝9時", "in 2 hours"])
def test_a_one_off_time_is_not_a_repetition(said: str) -> None:
    assert parse_repeating(said, now=SUNDAY) is None


@pytest.mark.parametrize("said", [
    "every 2 hours", "every month on the 1st", "every other day", "毎月1日", "隔週の月曜",
    "every monday and thursday", "every day from tomorrow", "monthly", "every year on my birthday",
    # two times, a limit or an exception: saving one of them would be wrong (the first two
    # were saved as daily at 00:00)
    "every day at 8 and 9", "every day at 8am and 8pm", "毎日8時と20時", "every day this week",
    "every day until friday", "every day except sunday", "every weekday except friday",
    "毎日12月まで", "every monday for 3 weeks",
])
def test_a_repetition_we_do_not_keep_is_refused_not_taken_as_a_one_off(said: str) -> None:
    with pytest.raises(Unsupported):
        parse_repeating(said, now=SUNDAY)


def test_repeat_encodes_and_decodes() -> None:
    for repeat in (Repeat("daily", time(7, 5)), Repeat("weekdays", time(23, 59)),
                   Repeat("weekly", time(0, 0), 6)):
        assert Repeat.decode(repeat.encode()) == repeat
    for bad in ("", "daily", "weekly@08:00", "daily:3@08:00", "daily@24:00", "hourly@08:00"):
        assert Repeat.decode(bad) is None, bad


def test_repeat_describes_itself_in_english_and_japanese() -> None:
    said = Repeat("weekly", time(8, 0), 0).describe()
    assert (str(said), said.ja) == ("every Monday at 08:00", "毎週月曜日 08:00")
    assert Repeat("weekdays", time(7, 30)).describe().ja == "平日 07:30"


def test_weekdays_skip_the_weekend() -> None:
    friday_evening = datetime(2026, 12, 11, 20, 0, tzinfo=LONDON)
    nxt = Repeat("weekdays", time(8, 0)).next_after(friday_evening, LONDON)
    assert nxt == datetime(2026, 12, 14, 8, 0, tzinfo=LONDON)  # Monday


def test_a_daily_reminder_keeps_its_clock_time_when_the_clocks_change() -> None:
    """08:00 London is 08:00 UTC in March before the change and 07:00 UTC after it."""
    before = datetime(2027, 3, 27, 8, 0, tzinfo=LONDON)  # the clocks go forward on the 28th
    nxt = Repeat("daily", time(8, 0)).next_after(before, LONDON)
    assert nxt.strftime("%Y-%m-%d %H:%M %Z") == "2027-03-28 08:00 BST"
    elapsed = nxt.astimezone(timezone.utc) - before.astimezone(timezone.utc)
    assert elapsed == timedelta(hours=23), "one hour less of real time"


def test_a_clock_time_the_clocks_skip_comes_when_it_will_be() -> None:
    nxt = Repeat("daily", time(1, 30)).next_after(datetime(2027, 3, 27, 12, 0, tzinfo=LONDON),
                                                   LONDON)
    assert nxt.strftime("%Y-%m-%d %H:%M") == "2027-03-28 02:30"  # 01:30 does not exist
    after = Repeat("daily", time(1, 30)).next_after(nxt, LONDON)
    assert after.strftime("%Y-%m-%d %H:%M") == "2027-03-29 01:30", "back to its own time"


@pytest.mark.parametrize("zone", [TOKYO, LONDON, timezone(timedelta(hours=-3, minutes=-30))])
def test_zones_are_stored_by_name(zone: object) -> None:
    assert zone_of(zone_key(zone)).utcoffset(SUNDAY.replace(tzinfo=None)) == \
        zone.utcoffset(SUNDAY.replace(tzinfo=None))  # type: ignore[attr-defined]


def test_store_a_repeating_reminder_comes_due_again_and_again(tmp_path: Path) -> None:
    store = ReminderStore(tmp_path / "r.sqlite3")
    parsed = parse_repeating("every day at 8am", now=SUNDAY)
    assert parsed is not None
    saved = store.add("take the pills", parsed[1], said="every day at 8am", repeat=parsed[0])
    assert saved.repeat == "daily@08:00"
    monday_8 = datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)
    assert store.claim_due(monday_8 - timedelta(minutes=1)) == []
    [shown] = store.claim_due(monday_8)
    assert shown.id == saved.id and shown.due == monday_8
    assert store.claim_due(monday_8) == [], "shown once for this time"
    [again] = store.list()
    assert (again.due, again.notified) == (monday_8 + timedelta(days=1), False)
    # a week with the app closed: it is shown once, and comes next at its next time
    later = datetime(2026, 12, 15, 12, 0, tzinfo=LONDON)
    assert len(store.claim_due(later)) == 1
    assert store.list()[0].due == datetime(2026, 12, 16, 8, 0, tzinfo=LONDON)
    assert store.delete(saved.id) is not None and store.claim_due(later + timedelta(days=9)) == []


def test_store_a_repeating_reminder_keeps_its_zone_after_the_clocks_change(
        tmp_path: Path) -> None:
    store = ReminderStore(tmp_path / "r.sqlite3")
    first = datetime(2027, 3, 27, 8, 0, tzinfo=LONDON)
    store.add("walk", first, repeat=Repeat("daily", time(8, 0)))
    store.claim_due(first)
    assert store.list()[0].due.astimezone(LONDON).strftime("%H:%M %Z") == "08:00 BST"


def _file_of_another_version(path: Path, columns: str, row: str) -> None:
    """A reminders file as the first version wrote it, with ``columns`` added (SQL) and
    one ``row`` of values for its columns other than id, said and notified."""
    names = "what, due_utc, created_utc" + (", repeat, tz" if columns else "")
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            "CREATE TABLE reminders (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL,"
            " said TEXT NOT NULL DEFAULT '', due_utc TEXT NOT NULL, created_utc TEXT NOT NULL,"
            f" notified INTEGER NOT NULL DEFAULT 0{columns});"
            f"INSERT INTO reminders ({names}) VALUES {row};")


def test_an_older_reminders_file_gets_the_new_columns_and_keeps_its_rows(
        tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    _file_of_another_version(path, "", "('old one', '2026-12-07T08:00:00+00:00', "
                             "'2026-12-01T08:00:00+00:00')")
    store = ReminderStore(path)
    [old] = store.list()
    assert (old.what, old.repeat) == ("old one", "")
    store.add("new one", SUNDAY + timedelta(days=1), repeat=Repeat("daily", time(11, 30)))
    assert [r.repeat for r in ReminderStore(path).list()] == ["", "daily@11:30"]


def test_a_repeating_row_with_no_zone_is_shown_not_a_crash(tmp_path: Path) -> None:
    """A row whose zone column is NULL (a file edited by hand, or made by another
    version) crashed every claim: the chat did not start and POST /reminders/due was a
    500."""
    path = tmp_path / "r.sqlite3"
    _file_of_another_version(path, ", repeat TEXT, tz TEXT",
                             "('stretch', '2026-12-06T08:00:00+00:00', "
                             "'2026-12-01T08:00:00+00:00', 'daily@08:00', NULL)")
    store = ReminderStore(path)
    [shown] = store.claim_due(SUNDAY)
    assert (shown.what, shown.zone) == ("stretch", "")
    assert store.list()[0].due == datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)


def test_a_clock_time_said_on_the_night_it_is_skipped_is_kept_as_said() -> None:
    """Said on the day the clocks skip 01:30, "every day at 1:30am" was kept as 02:30 for
    ever after."""
    parsed = parse_repeating("every day at 1:30am", now=datetime(2027, 3, 28, 0, 10,
                                                                tzinfo=LONDON))
    assert parsed is not None
    repeat, first = parsed
    assert repeat.encode() == "daily@01:30"
    assert first.strftime("%Y-%m-%d %H:%M") == "2027-03-28 02:30"  # the time it will be


@pytest.mark.parametrize(("said", "encoded"), [
    # clock times the time parser misread (00:00 or 09:00, kept for ever with a repeat)
    ("every day at 6.30pm", "daily@18:30"), ("every day at 12 noon", "daily@12:00"),
    ("毎日午後0時", "daily@12:00"), ("every day at 7.15am", "daily@07:15"),
    ("every day at seven pm", "daily@19:00"), ("every day at 18.30", "daily@18:30"),
    ("every day at 1830", "daily@18:30"), ("every day at 9h30", "daily@09:30"),
    ("every day at 21h", "daily@21:00"), ("every day at 9 p.m", "daily@21:00"),
    ("every day at 8 o'clock", "daily@08:00"), ("every morning at 7 sharp", "daily@07:00"),
    ("every day at 8am please", "daily@08:00"), ("毎日昼12時", "daily@12:00"),
    ("毎日深夜1時", "daily@01:00"), ("every day at midnight", "daily@00:00"),
    # day names people shorten
    ("every thurs at 9", "weekly:3@09:00"), ("every thur at 9", "weekly:3@09:00"),
    ("every weds at 5pm", "weekly:2@17:00"), ("every tues at 10am", "weekly:1@10:00"),
])
def test_clock_times_and_day_names_people_write(said: str, encoded: str) -> None:
    parsed = parse_repeating(said, now=SUNDAY)
    assert parsed is not None and parsed[0].encode() == encoded


@pytest.mark.parametrize("said", ["twice a day", "once a week", "mon-fri at 7", "水曜日ごとに",
                                  "3日おきに"])
def test_other_ways_of_repeating_are_refused_as_repetitions(said: str) -> None:
    with pytest.raises(Unsupported):
        parse_repeating(said, now=SUNDAY)


def test_a_repetition_we_keep_at_a_time_we_cannot_read_is_unreadable() -> None:
    from funcgemma.functions.schedule_reminder.recurrence import Unreadable

    with pytest.raises(Unreadable):
        parse_repeating("every day at teatime", now=SUNDAY)
