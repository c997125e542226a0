"""Reminders stored in a SQLite file under the user's data directory.

Every write is one transaction in WAL mode with a busy timeout, so concurrent writers
(the chat and `serve` at once) wait for each other instead of failing, and a crash
mid-write loses nothing that was already committed.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from .errors import ConfigurationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    what TEXT NOT NULL,
    said TEXT NOT NULL DEFAULT '',
    due_utc TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    notified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders (due_utc);
"""


class Reminder(BaseModel):
    id: int
    what: str
    said: str
    due: datetime
    created: datetime
    notified: bool


def _utc(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


class ReminderStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot create {self.path.parent} for the reminder database: {exc}. "
                "Set FUNCGEMMA_DATA_DIR to a writable directory."
            ) from exc
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        try:
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.rollback()
            raise self._failed(exc) from exc
        finally:
            db.close()

    def _failed(self, exc: sqlite3.Error) -> ConfigurationError:
        return ConfigurationError(
            f"The reminder database {self.path} failed: {exc}. "
            "Set FUNCGEMMA_DATA_DIR to a writable directory."
        )

    def add(self, what: str, due: datetime, *, said: str = "") -> Reminder:
        now = datetime.now(timezone.utc)
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO reminders (what, said, due_utc, created_utc) VALUES (?, ?, ?, ?)",
                (what, said, _utc(due), _utc(now)),
            )
            db.execute("COMMIT")
            rid = cur.lastrowid
        assert rid is not None
        return self.get(rid)

    def get(self, rid: int) -> Reminder:
        with self._connect() as db:
            row = db.execute("SELECT * FROM reminders WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise KeyError(rid)
        return _row(row)

    def list(self, *, include_done: bool = True) -> list[Reminder]:
        query = "SELECT * FROM reminders"
        if not include_done:
            query += " WHERE notified = 0"
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY due_utc, id").fetchall()
        return [_row(r) for r in rows]

    def due(self, now: datetime) -> builtins.list[Reminder]:
        """Reminders whose time has come and that were not shown yet."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM reminders WHERE notified = 0 AND due_utc <= ? ORDER BY due_utc",
                (_utc(now),),
            ).fetchall()
        return [_row(r) for r in rows]

    def mark_notified(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE reminders SET notified = 1 WHERE id = ?", [(i,) for i in ids])
            db.execute("COMMIT")


def _row(row: tuple) -> Reminder:  # type: ignore[type-arg]
    rid, what, said, due_utc, created_utc, notified = row
    return Reminder(
        id=rid,
        what=what,
        said=said,
        due=datetime.fromisoformat(due_utc),
        created=datetime.fromisoformat(created_utc),
        notified=bool(notified),
    )
