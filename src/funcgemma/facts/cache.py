"""Fetched Wikipedia/Wikivoyage JSON kept in the service's SQLite database, so that the
same question asked again (or by the next worker) costs Wikimedia nothing.

The table lives in the service's one database (funcgemma.storage): WAL, a busy timeout,
and a file that is not funcgemma's refused and left as it is. The cache is an optimisation
only: a database that cannot be opened, read or written is logged and the lookup goes to
the network uncached.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import FuncgemmaError

if TYPE_CHECKING:
    from ..storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts_cache (
    url TEXT PRIMARY KEY,        -- the full request URL, query string included
    body TEXT NOT NULL,          -- the JSON answer as received
    fetched_at REAL NOT NULL     -- Unix time; refetched after FUNCGEMMA_FACTS_CACHE_MAX_AGE_S
);
CREATE INDEX IF NOT EXISTS facts_cache_fetched ON facts_cache (fetched_at);
"""
# bounds on what is kept: a whole article's text is tens of kilobytes
MAX_ROWS = 5000
MAX_BODY_CHARS = 2_000_000
log = logging.getLogger(__name__)

_READY: set[str] = set()  # databases whose table exists (created once per process)
_WARNED: set[str] = set()  # databases already reported unusable (once, not per lookup)
_LOCK = threading.Lock()


class FactsCache:
    """get/put by URL; never raises for a database problem."""

    def __init__(
        self,
        open_store: Callable[[], Database],
        max_age_s: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_store = open_store
        self.max_age_s = max_age_s
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.max_age_s > 0

    def _store(self) -> Database | None:
        try:
            store = self._open_store()
            name = str(store.path)
            with _LOCK:
                ready = name in _READY
            if not ready:
                with store.connection() as db:
                    db.executescript(SCHEMA)
                with _LOCK:
                    _READY.add(name)
            return store
        except (FuncgemmaError, sqlite3.Error, OSError) as exc:
            self._unusable(exc)
            return None

    def get(self, url: str) -> str | None:
        """The body fetched for ``url`` no longer than max_age_s ago, or None."""
        if not self.enabled or (store := self._store()) is None:
            return None
        try:
            with store.connection() as db:
                row = db.execute(
                    "SELECT body, fetched_at FROM facts_cache WHERE url = ?", (url,)
                ).fetchone()
        except (FuncgemmaError, sqlite3.Error, OSError) as exc:
            self._unusable(exc, store)
            return None
        if row is None:
            return None
        body, fetched_at = row
        try:
            age = self._clock() - float(fetched_at)
        except (TypeError, ValueError):  # a row edited by hand: fetched again
            return None
        if not isinstance(body, str) or not 0 <= age <= self.max_age_s:
            return None  # expired (or from a clock set back): fetched again
        return body

    def put(self, url: str, body: str) -> None:
        if not self.enabled or len(body) > MAX_BODY_CHARS or (store := self._store()) is None:
            return
        now = self._clock()
        try:
            with store.connection() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT OR REPLACE INTO facts_cache (url, body, fetched_at) VALUES (?, ?, ?)",
                    (url, body, now),
                )
                # the expired ones and the oldest beyond MAX_ROWS go as we pass
                db.execute("DELETE FROM facts_cache WHERE fetched_at < ?", (now - self.max_age_s,))
                db.execute(
                    "DELETE FROM facts_cache WHERE url NOT IN (SELECT url FROM "
                    "facts_cache ORDER BY fetched_at DESC LIMIT ?)",
                    (MAX_ROWS,),
                )
                db.execute("COMMIT")
        except (FuncgemmaError, sqlite3.Error, OSError) as exc:
            self._unusable(exc, store)

    def _unusable(self, exc: BaseException, store: Database | None = None) -> None:
        if store is not None:  # a file replaced under us: its table is made again next time
            with _LOCK:
                _READY.discard(str(store.path))
        why = f"{type(exc).__name__}: {exc}"  # DatabaseUnusable's str names the file, for the log
        key = why[:200]
        with _LOCK:
            first = key not in _WARNED
            _WARNED.add(key)
        if first:
            log.warning("the facts cache is not used (lookups go to the network): %s", why)
        else:
            log.debug("the facts cache is not used: %s", why)


__all__ = ["MAX_ROWS", "SCHEMA", "FactsCache"]
