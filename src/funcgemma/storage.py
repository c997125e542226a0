"""The service's one SQLite database: opened, locked and checked here; its tables belong to
whoever keeps them (the sessions, the idempotency keys, the facts cache, a function's own
store such as schedule_reminder's).

Every connection is autocommit (``BEGIN`` yourself) with a busy timeout and synchronous
writes, in WAL mode, so concurrent writers (the chat and `serve` at once) wait for each
other instead of failing, and a crash mid-write loses nothing already committed. A file at
the path that is not funcgemma's (corrupt, or another program's) is refused before
anything is written and left as it is: the user's data in it must survive.

The file is ``Settings.reminders_db`` (``reminders.sqlite3`` in the data directory), and
its errors still call it "the reminder database": that is the name users know it by. A file
funcgemma sets up is marked with its SQLite ``application_id``; one written before the mark
existed is recognised by the table every such file has (``LEGACY_TABLE``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .errors import DatabaseUnusable

BUSY_TIMEOUT_S = 10.0
# SQLite's header field for "which program's file is this" ("FGMA")
APPLICATION_ID = 0x46474D41
# what a file of a funcgemma before APPLICATION_ID must hold to be ours: the reminders
# table of the first version, which every such file had
LEGACY_TABLE = ("reminders", ("id", "what", "said", "due_utc", "created_utc", "notified"))
NAME = "reminder database"  # what the messages call the file (see the docstring)


class Database:
    """The database file at ``path``, checked and set up when this is built (raises
    DatabaseUnusable naming the fix). ``connection()`` for everything after."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready: set[str] = set()  # schemas already made through this object
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fix = "Set FUNCGEMMA_DATA_DIR to a writable directory."
            raise DatabaseUnusable(  # the path in `detail` only: the message reaches clients
                f"Cannot create the data directory for the {NAME} "
                f"({exc.strerror or type(exc).__name__}). {fix}",
                detail=f"Cannot create {self.path.parent} for the {NAME}: {exc}. {fix}",
            ) from exc
        with self._connect() as db:
            waiting_while_locked(lambda: self._set_up(db))

    def _set_up(self, db: sqlite3.Connection) -> None:
        new = self._check_is_ours(db)
        db.execute("PRAGMA journal_mode=WAL")
        if new:
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def _check_is_ours(self, db: sqlite3.Connection) -> bool:
        """Refuse, before writing anything, a database that is not funcgemma's; True for a
        new (or empty) file, ours to set up and mark."""
        (application,) = db.execute("PRAGMA application_id").fetchone()
        if application == APPLICATION_ID:
            return False
        tables = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            return True
        table, required = LEGACY_TABLE
        found = {name for (name,) in db.execute(f"SELECT name FROM pragma_table_info('{table}')")}
        if table in tables and set(required) <= found:
            return False
        if table in tables:
            held = f"a {table} table with columns " + ", ".join(sorted(found))
        else:
            held = "tables " + ", ".join(sorted(tables))
        raise self.not_ours(held)

    def not_ours(self, held: str) -> DatabaseUnusable:
        """The refusal of a file that holds ``held`` ("tables notes")."""
        problem = (f"is an SQLite database but not funcgemma's reminders (it holds "
                   f"{held[:200]}); it was left as it is. Move it away, or set "
                   "FUNCGEMMA_DATA_DIR to another directory.")
        return DatabaseUnusable(f"The {NAME} {problem}", detail=f"{self.path} {problem}")

    def ensure(self, schema: str) -> None:
        """Run ``schema`` (``CREATE TABLE IF NOT EXISTS ...``) once through this object."""
        with self._lock:
            if schema in self._ready:
                return
        with self._connect() as db:
            db.executescript(schema)
        with self._lock:
            self._ready.add(schema)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self.failed(exc) from exc
        try:
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.rollback()
            raise self.failed(exc) from exc
        finally:
            db.close()

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection to the file: autocommit (BEGIN yourself), waits for a lock,
        SQLite's errors raised as DatabaseUnusable naming the fix."""
        return self._connect()

    def failed(self, exc: sqlite3.Error) -> DatabaseUnusable:
        """SQLite's ``exc`` as the error users see, naming the fix."""
        # sqlite_errorname is Python 3.11+; 3.10 has only the text
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or (
                "not a database" in str(exc) or "malformed" in str(exc)):
            fix = ("It was left as it is, so that nothing in it is lost: move it away (or "
                   "repair it with `sqlite3 FILE .recover`), or set FUNCGEMMA_DATA_DIR to "
                   "another directory.")
        elif locked(exc):
            fix = (f"Another program held it for over {BUSY_TIMEOUT_S:.0f} s; is another "
                   "funcgemma stuck? Try again.")
        else:
            fix = "Set FUNCGEMMA_DATA_DIR to a writable directory."
        # the path in `detail` only (the log, the terminal): the message reaches clients
        return DatabaseUnusable(f"The {NAME} failed: {exc}. {fix}",
                                detail=f"The {NAME} {self.path} failed: {exc}. {fix}",
                                retryable=locked(exc))


def waiting_while_locked(step: Callable[[], None]) -> None:
    """Run ``step`` (setting a file up), again while another process holds the file, for
    up to BUSY_TIMEOUT_S. Two processes creating the file at once: switching a new file
    to WAL or creating tables while the other one writes it fails at once with "locked"
    (SQLite's deadlock guard does not wait), so wait here as a busy timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if not locked(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def locked(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because another connection holds the file."""
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or (
        "locked" in str(exc)
    )


__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT_S", "Database", "locked", "waiting_while_locked"]
