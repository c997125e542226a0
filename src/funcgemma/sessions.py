"""Chat sessions (each session_id's recent turns) in the service's SQLite database, so
that any worker of `funcgemma serve --workers N`, or the service after a restart, goes on
with a session where the last answer left it.

The tables live in the service's one database (funcgemma.storage): WAL, a busy timeout,
and a file that is not funcgemma's refused and left as it is. A turn is appended, its
session trimmed to the bound and the least recently used sessions beyond ``max_sessions``
dropped in one ``BEGIN IMMEDIATE`` transaction: two workers answering one session wait for
each other, and each turn's two messages stay together and in order. History is a
convenience: a database that cannot be opened, read or written costs that turn its history
(a warning in the log), never the chat.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from .errors import FuncgemmaError
from .types import Call, Message

if TYPE_CHECKING:
    from .settings import Settings
    from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,        -- the message's number in its session, oldest first
    role TEXT NOT NULL,          -- user | assistant
    content TEXT NOT NULL,
    created_at REAL NOT NULL,    -- Unix time
    PRIMARY KEY (session_id, seq)
);
-- one row a session: the least recently used go first beyond FUNCGEMMA_MAX_SESSIONS
CREATE TABLE IF NOT EXISTS session_seen (
    session_id TEXT PRIMARY KEY,
    -- a counter over the database, not a time: it only grows, whatever the workers' clocks
    last_used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_seen_last_used ON session_seen (last_used);
-- the calls routed for a turn, kept with its reply, so that the next message can follow
-- them ("and in Osaka?", "at 6": funcgemma.followups)
CREATE TABLE IF NOT EXISTS session_calls (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,        -- the reply's seq in sessions
    calls TEXT NOT NULL,         -- JSON: [{"name", "arguments"}]
    PRIMARY KEY (session_id, seq)
);
"""
# what a database problem looks like here: funcgemma's own errors (DatabaseUnusable, with
# the fix), SQLite's, the file system's, and text SQLite cannot bind (ValueError)
_UNUSABLE = (FuncgemmaError, sqlite3.Error, OSError, ValueError)
_CALLS = TypeAdapter(list[Call])
log = logging.getLogger(__name__)


class SessionStore:
    """history / remember / reset by session_id; never raises for a database problem."""

    def __init__(
        self,
        open_database: Callable[[], Database],
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_database = open_database
        self.settings = settings
        self._clock = clock
        self._ready: set[str] = set()  # databases whose tables exist
        self._warned: set[str] = set()  # problems already logged as warnings

    @property
    def _keep(self) -> int:
        return 2 * self.settings.history_turns

    def _store(self) -> Database:
        database = self._open_database()
        name = str(database.path)
        if name not in self._ready:
            with database.connection() as db:
                db.executescript(SCHEMA)
            self._ready.add(name)
        return database

    def history(self, session_id: str) -> list[Message]:
        """The session's last 2 * history_turns messages, oldest first; [] when the
        database cannot be read."""
        if self._keep == 0:  # FUNCGEMMA_HISTORY_TURNS=0: none, whatever an earlier run kept
            return []
        try:
            with self._store().connection() as db:
                rows = db.execute(
                    "SELECT s.role, s.content, c.calls FROM sessions s LEFT JOIN "
                    "session_calls c ON c.session_id = s.session_id AND c.seq = s.seq "
                    "WHERE s.session_id = ? ORDER BY s.seq DESC LIMIT ?",
                    (session_id, self._keep),
                ).fetchall()
        except _UNUSABLE as exc:
            self._unusable("this turn is answered without the session's earlier turns", exc)
            return []
        messages = []
        for role, content, calls in reversed(rows):
            try:
                if role not in ("user", "assistant"):
                    raise ValueError(f"role {role!r}")
                messages.append(Message(role=role, content=content))
            except (ValidationError, ValueError):  # a row edited by hand: left out
                log.warning("a stored chat message cannot be read; it is left out")
                continue
            if calls is not None and role == "assistant":
                try:
                    messages[-1].tool_calls = _CALLS.validate_json(calls)
                except ValidationError:  # edited by hand: the reply without its calls
                    log.warning("a stored turn's calls cannot be read; they are left out")
        return messages

    def remember(self, session_id: str, user: str, reply: str,
                 calls: Sequence[Call] = ()) -> None:
        """Append a turn (the user's message, the reply and the calls routed for it) to the
        session."""
        keep = self._keep
        if keep == 0:  # FUNCGEMMA_HISTORY_TURNS=0: no memory at all
            return
        now = self._clock()
        try:
            with self._store().connection() as db:
                db.execute("BEGIN IMMEDIATE")
                (seq,) = db.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM sessions WHERE session_id = ?",
                    (session_id,),
                ).fetchone()
                db.executemany(
                    "INSERT INTO sessions (session_id, seq, role, content, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (session_id, seq, "user", user, now),
                        (session_id, seq + 1, "assistant", reply, now),
                    ],
                )
                if calls:
                    db.execute(
                        "INSERT INTO session_calls (session_id, seq, calls) VALUES (?, ?, ?)",
                        (session_id, seq + 1, _CALLS.dump_json(list(calls)).decode()),
                    )
                for table in ("sessions", "session_calls"):
                    db.execute(
                        f"DELETE FROM {table} WHERE session_id = ? AND seq < ?",
                        (session_id, seq + 2 - keep),
                    )
                new = (
                    db.execute(
                        "SELECT 1 FROM session_seen WHERE session_id = ?", (session_id,)
                    ).fetchone()
                    is None
                )
                db.execute(
                    "INSERT INTO session_seen (session_id, last_used) VALUES (?, (SELECT "
                    "COALESCE(MAX(last_used), 0) + 1 FROM session_seen)) ON CONFLICT "
                    "(session_id) DO UPDATE SET last_used = excluded.last_used",
                    (session_id,),
                )
                if new:  # one more session: the least recently used beyond the bound go
                    self._evict(db)
                db.execute("COMMIT")
        except _UNUSABLE as exc:
            self._unusable("this turn is not kept in the session's history", exc)

    def _evict(self, db: sqlite3.Connection) -> None:
        row = db.execute(
            "SELECT last_used FROM session_seen ORDER BY last_used DESC LIMIT 1 OFFSET ?",
            (self.settings.max_sessions,),
        ).fetchone()
        if row is None:
            return
        for table in ("sessions", "session_calls"):
            db.execute(
                f"DELETE FROM {table} WHERE session_id IN (SELECT session_id FROM "
                "session_seen WHERE last_used <= ?)",
                row,
            )
        db.execute("DELETE FROM session_seen WHERE last_used <= ?", row)

    def reset(self, session_id: str) -> None:
        """Forget the session."""
        try:
            with self._store().connection() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
                db.execute("DELETE FROM session_calls WHERE session_id = ?", (session_id,))
                db.execute("DELETE FROM session_seen WHERE session_id = ?", (session_id,))
                db.execute("COMMIT")
        except _UNUSABLE as exc:
            self._unusable("the session could not be forgotten", exc)

    def _unusable(self, what: str, exc: BaseException) -> None:
        self._ready.clear()  # a file replaced under us: its tables are made again next time
        # DatabaseUnusable's str names the file and the fix, for the log
        why = f"{type(exc).__name__}: {exc}"
        if why[:200] in self._warned:  # said once as a warning; the rest at debug
            log.debug("chat history store: %s (%s)", what, why)
            return
        if len(self._warned) >= 100:
            self._warned.clear()
        self._warned.add(why[:200])
        log.warning("chat history cannot be kept in the database: %s (%s)", what, why)


__all__ = ["SCHEMA", "SessionStore"]
