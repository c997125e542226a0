"""Reminders stored in the service's SQLite database (funcgemma.storage), in their own
tables: ``reminders`` and ``reminder_keys``.

Every write is one transaction (storage.Database: WAL, a busy timeout), so concurrent
writers (the chat and `serve` at once) wait for each other instead of failing, and a
crash mid-write loses nothing that was already committed.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pydantic import BaseModel

from ...errors import ConfigurationError, DatabaseUnusable
from ...idempotency import LIFETIME as KEY_LIFETIME
from ...storage import LEGACY_TABLE, Database, waiting_while_locked
from .recurrence import Repeat, zone_key, zone_of

if TYPE_CHECKING:
    from ..context import FunctionContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    what TEXT NOT NULL,
    said TEXT NOT NULL DEFAULT '',
    due_utc TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    notified INTEGER NOT NULL DEFAULT 0,
    repeat TEXT NOT NULL DEFAULT '',
    tz TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders (due_utc);
-- a write done for a request with an Idempotency-Key (idempotency.py), recorded in the
-- write's own transaction: the same write asked again returns `result` instead
CREATE TABLE IF NOT EXISTS reminder_keys (
    key TEXT PRIMARY KEY,
    action TEXT NOT NULL,        -- add | claim_due | delete
    result TEXT NOT NULL,        -- JSON: what the write returned
    created_utc TEXT NOT NULL    -- forgotten idempotency.LIFETIME after it
);
CREATE INDEX IF NOT EXISTS reminder_keys_created ON reminder_keys (created_utc);
"""
# what the reminders table must hold to be ours (the first version's columns)...
REQUIRED = LEGACY_TABLE[1]
# ...and the columns added since, to a file of an older version when it is opened
ADDED = ("repeat", "tz")  # repeating reminders (recurrence.Repeat) and their time zone
# named, not `SELECT *`: a database with a column added by a newer funcgemma still reads
COLUMNS = (*REQUIRED, *ADDED)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM reminders"
# the reminders whose time has come and that were not shown yet, soonest first
DUE = SELECT + " WHERE notified = 0 AND due_utc <= ? ORDER BY due_utc, id"
log = logging.getLogger(__name__)


class Reminder(BaseModel):
    id: int
    what: str
    said: str
    due: datetime
    created: datetime
    notified: bool
    repeat: str = ""  # "" once; else recurrence.Repeat.encode(): "weekly:0@08:00"
    zone: str = ""  # the time zone a repeating one keeps its clock time in ("Asia/Tokyo")


class Unreadable(BaseModel):
    """A row that cannot be read (edited by hand or by another program), listed by its
    number and why, so the user can delete or fix it while the others still list."""

    id: int
    problem: str


class Listing(NamedTuple):
    reminders: list[Reminder]
    unreadable: list[Unreadable]


def _utc(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


class ReminderStore:
    """The reminders, in ``database`` (a path opens the database file there)."""

    def __init__(self, database: Database | Path) -> None:
        self.db = database if isinstance(database, Database) else Database(Path(database))
        self.path = self.db.path
        self._lock = threading.Lock()
        with self.db.connection() as db:
            waiting_while_locked(lambda: self._set_up(db))

    def _set_up(self, db: sqlite3.Connection) -> None:
        self._check_is_ours(db)
        db.executescript(SCHEMA)
        self._add_columns(db)

    def _add_columns(self, db: sqlite3.Connection) -> None:
        """Columns added since the first version, added to an older file (its rows kept)."""
        found = {name for (name,) in db.execute("SELECT name FROM pragma_table_info('reminders')")}
        for column in ADDED:
            if column in found:
                continue
            try:
                db.execute(f"ALTER TABLE reminders ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it first
                    raise

    def _check_is_ours(self, db: sqlite3.Connection) -> None:
        """Refuse, before writing anything, a reminders table that is not funcgemma's."""
        found = {name for (name,) in db.execute("SELECT name FROM pragma_table_info('reminders')")}
        if found and not set(REQUIRED) <= found:
            raise self.db.not_ours("a reminders table with columns " + ", ".join(sorted(found)))

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.connection()

    def _recorded(self, db: sqlite3.Connection, key: str | None) -> str | None:
        """The result recorded for the keyed write ``key`` (JSON), or None."""
        if key is None:
            return None
        row = db.execute("SELECT result FROM reminder_keys WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _record(self, db: sqlite3.Connection, key: str | None, action: str,
                result: object) -> None:
        """Record a keyed write's result, in the write's transaction (and forget the
        expired ones as we pass)."""
        if key is None:
            return
        now = datetime.now(timezone.utc)
        db.execute("DELETE FROM reminder_keys WHERE created_utc < ?", (_utc(now - KEY_LIFETIME),))
        db.execute("INSERT INTO reminder_keys (key, action, result, created_utc) "
                   "VALUES (?, ?, ?, ?)", (key, action, json.dumps(result), _utc(now)))

    def add(self, what: str, due: datetime, *, said: str = "", repeat: Repeat | None = None,
            key: str | None = None) -> Reminder:
        """Save a reminder; with ``repeat`` it comes due again at each of its times, in
        ``due``'s time zone, until it is deleted. With ``key`` (a retried request's,
        idempotency.py) it is saved once: the same key again returns that reminder (as
        it is now; as it was saved if deleted since) and saves nothing."""
        now = datetime.now(timezone.utc)
        zone = zone_key(due.tzinfo) if repeat else ""
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            recorded = self._recorded(db, key)
            if recorded is not None:
                db.execute("ROLLBACK")
                first = Reminder.model_validate_json(recorded)
                try:
                    return self.get(first.id)
                except (KeyError, ConfigurationError):
                    return first
            cur = db.execute(
                "INSERT INTO reminders (what, said, due_utc, created_utc, repeat, tz) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (what, said, _utc(due), _utc(now), repeat.encode() if repeat else "", zone),
            )
            rid = cur.lastrowid
            assert rid is not None
            if key is not None:
                row = db.execute(SELECT + " WHERE id = ?", (rid,)).fetchone()
                self._record(db, key, "add", self._row(row).model_dump(mode="json"))
            db.execute("COMMIT")
        return self.get(rid)

    def get(self, rid: int) -> Reminder:
        if not _storable(rid):
            raise KeyError(rid)
        with self._connect() as db:
            row = db.execute(SELECT + " WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise KeyError(rid)
        return self._row(row)

    def _rows(self, query: str, *params: str) -> builtins.list[tuple]:  # type: ignore[type-arg]
        with self._connect() as db:
            return db.execute(query, params).fetchall()

    def list(self, *, include_done: bool = True) -> list[Reminder]:
        """Every reminder, soonest first; ConfigurationError naming the first row that
        cannot be read (`listing` lists the others as well)."""
        return [self._row(r) for r in self._rows(self._listed(include_done))]

    def listing(self, *, include_done: bool = True) -> Listing:
        """Every reminder that can be read, soonest first, and the rows that cannot:
        one row edited by hand does not hide the others."""
        return self._split(self._rows(self._listed(include_done)))

    @staticmethod
    def _listed(include_done: bool) -> str:
        return SELECT + ("" if include_done else " WHERE notified = 0") + " ORDER BY due_utc, id"

    def due(self, now: datetime) -> builtins.list[Reminder]:
        """Reminders whose time has come and that were not shown yet (a row that cannot
        be read is logged and left out, as `claim_due` leaves it)."""
        return self._readable(self._rows(DUE, _utc(now)))

    def _split(self, rows: Iterable[tuple]) -> Listing:  # type: ignore[type-arg]
        """``rows`` as the reminders that can be read and the rows that cannot."""
        good: builtins.list[Reminder] = []
        bad: builtins.list[Unreadable] = []
        for row in rows:
            try:
                good.append(self._row(row))
            except ConfigurationError as exc:
                bad.append(Unreadable(id=row[0], problem=exc.message))
        return Listing(good, bad)

    def _readable(self, rows: Iterable[tuple]) -> builtins.list[Reminder]:  # type: ignore[type-arg]
        """The rows that can be read, as reminders; the others are logged and skipped."""
        items, unreadable = self._split(rows)
        for bad in unreadable:
            log.warning("%s", bad.problem)
        return items

    def claim_due(self, now: datetime, *, key: str | None = None) -> builtins.list[Reminder]:
        """The reminders due by `now` and not shown yet, marked shown in the same
        transaction: of two processes showing reminders (two chats, a chat and a
        script), each due reminder goes to exactly one. A row that cannot be read is
        left as it is (and logged): the others are still shown. With ``key`` the same
        key again returns the reminders that the first call took."""
        claimed: builtins.list[Reminder] = []
        now = now if now.tzinfo is not None else now.astimezone()
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock first, then read what is ours
            recorded = self._recorded(db, key)
            if recorded is not None:
                db.execute("ROLLBACK")
                return [Reminder.model_validate(r) for r in json.loads(recorded)]
            rows = db.execute(DUE, (_utc(now),)).fetchall()
            shown, again = [], []
            for reminder in self._readable(rows):
                claimed.append(reminder.model_copy(update={"notified": True}))
                repeat = Repeat.decode(reminder.repeat) if reminder.repeat else None
                if repeat is None:
                    shown.append((reminder.id,))
                else:  # a repeating one comes due again at its next time (one, if missed)
                    # a zone left empty (NULL, by hand) is UTC's, not a crash of the chat
                    upcoming = repeat.next_after(max(now, reminder.due), zone_of(reminder.zone))
                    again.append((_utc(upcoming), reminder.id))
            db.executemany("UPDATE reminders SET notified = 1 WHERE id = ?", shown)
            db.executemany("UPDATE reminders SET due_utc = ? WHERE id = ?", again)
            self._record(db, key, "claim_due", [r.model_dump(mode="json") for r in claimed])
            db.execute("COMMIT")
        return claimed

    def delete(self, rid: int, *, key: str | None = None) -> Reminder | None:
        """Remove reminder `rid`; KeyError if there is none. Returns it as it was, or
        None for a row that could not be read (edited by hand): deleting is how a user
        gets rid of one. With ``key`` the same key again returns what the first call
        deleted, not a KeyError."""
        if not _storable(rid):
            raise KeyError(rid)
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            recorded = self._recorded(db, key)
            if recorded is not None:
                db.execute("ROLLBACK")
                first = json.loads(recorded)
                return None if first is None else Reminder.model_validate(first)
            row = db.execute(SELECT + " WHERE id = ?", (rid,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise KeyError(rid)
            try:
                gone: Reminder | None = self._row(row)
            except ConfigurationError:
                gone = None
            db.execute("DELETE FROM reminders WHERE id = ?", (rid,))
            self._record(db, key, "delete", gone.model_dump(mode="json") if gone else None)
            db.execute("COMMIT")
        return gone

    def mark_notified(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE reminders SET notified = 1 WHERE id = ?", [(i,) for i in ids])
            db.execute("COMMIT")

    def _row(self, row: tuple) -> Reminder:  # type: ignore[type-arg]
        rid, what, said, due_utc, created_utc, notified, repeat, zone = row
        try:
            return Reminder(
                id=rid,
                what=what,
                said=said,
                due=_aware(datetime.fromisoformat(due_utc)),
                created=_aware(datetime.fromisoformat(created_utc)),
                notified=bool(notified),
                repeat=repeat or "",  # NULL in a column a newer funcgemma added its own way
                zone=zone or "",
            )
        except (TypeError, ValueError) as exc:  # a row edited by hand or another program
            fix = (f"cannot be read ({exc}); delete it (chat: `/reminders delete {rid}`; API: "
                   f"`DELETE /reminders/{rid}`) or fix that row with the `sqlite3` tool. "
                   "Nothing was changed.")
            raise DatabaseUnusable(f"Reminder #{rid} in the reminder database {fix}",
                                   detail=f"Reminder #{rid} in {self.path} {fix}") from exc


def _aware(dt: datetime) -> datetime:
    """Times are stored in UTC; one written without its offset is read as UTC too."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _storable(rid: int) -> bool:
    """An id SQLite can hold (a larger one raises OverflowError, not 'no such row')."""
    return -(2**63) <= rid < 2**63


def reminder_store(ctx: FunctionContext) -> ReminderStore:
    """The context's reminder store, over its database (opened at the first use)."""
    return ctx.kept("schedule_reminder.store", lambda: ReminderStore(ctx.database()))
