"""Idempotency keys: a retried request gets the first one's answer and does nothing again.

A client sends ``Idempotency-Key`` (the IETF draft "The Idempotency-Key HTTP Header Field",
as Stripe's keys work) on a request that changes state. The key is kept ``LIFETIME`` in
the service's SQLite database, in two places:

- ``idempotency_keys`` (here): the request's fingerprint (method, path, body's SHA-256),
  ``pending`` while it runs, then ``done`` with its status and body, which a retry gets.
- every write the request does records a key of its own in the same transaction as the
  write (schedule_reminder's ``reminder_keys``: this row's ``run_id``, and the routed
  call's number in /chat). A process killed after a reminder was saved but before the answer was
  stored leaves the row ``pending``; the retry runs the request again (routing is
  deterministic) and the keyed write returns the reminder already saved instead of
  saving another.

A ``pending`` row is held by the process running it (``host:pid``); a retry while that
process still runs it is a 409, once the process is gone (killed, restarted) the retry
takes the row over. A holder on another host, or whose process cannot be checked, is
trusted for ``PENDING_LEASE``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigurationError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from .storage import Database

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# how long a key is remembered; a key used again after it is a new request
LIFETIME = timedelta(hours=24)
# how long a pending key's holder on another host (or one that cannot be checked) is
# trusted to still run it; longer than any request takes (router + chat model time-outs)
PENDING_LEASE = timedelta(minutes=10)
MAX_KEY_CHARS = 255

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,            -- 'pending' until the answer is stored, then 'done'
    status INTEGER,
    response TEXT,                  -- the answer's JSON body, once done
    created_at TEXT NOT NULL,       -- UTC; the key is forgotten LIFETIME after it
    run_id TEXT NOT NULL,           -- what the request's own writes are keyed by
    owner TEXT NOT NULL DEFAULT '', -- host:pid of the process running it; '' for none
    locked_at TEXT NOT NULL         -- when that process took it
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
"""
PENDING, DONE = "pending", "done"
log = logging.getLogger(__name__)

# (database, key) of the requests this process is running: a pending row held by this
# process whose key is not here was left by a request that failed to store its answer
_RUNNING: set[tuple[str, str]] = set()
_RUNNING_LOCK = threading.Lock()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(dt: datetime) -> str:
    # one fixed width, so that the text sorts as the time does
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_key(value: str) -> str:
    """The key as sent: 1-255 visible ASCII characters. The draft's quoted form
    (``"8e03978e-..."``, a structured-field string) is the same key as the bare one."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not 1 <= len(value) <= MAX_KEY_CHARS or not all("!" <= c <= "~" for c in value):
        raise InvalidRequest(
            f"`{HEADER}` must be 1-{MAX_KEY_CHARS} visible ASCII characters (letters, digits, "
            "punctuation; no spaces), e.g. a UUID; send a new one for each new request."
        )
    return value


def body_digest(body: bytes) -> str:
    """SHA-256 of the body; of its canonical form when it is JSON, so that a retry that
    re-serialises the same object (other key order or spacing) is the same request."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):  # not JSON (or empty, or too deep): the bytes
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What makes a request with a key the same request."""

    method: str
    path: str
    body_sha256: str


@dataclass(frozen=True)
class Stored:
    """The first request's answer, given again."""

    status: int
    body: Any


@dataclass(frozen=True)
class Run:
    """A key this process now runs; its writes are keyed by ``run_id``."""

    key: str
    run_id: str


def storage_unavailable(exc: ConfigurationError) -> StorageUnavailable:
    """The database's failure as the API's 503, naming the fix (never a 500)."""
    return StorageUnavailable(
        f"Idempotency keys cannot be kept: {exc.message} Requests without `{HEADER}` still work."
    )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # no harmless probe (signal 0 is CTRL_C_EVENT): the lease decides
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process, alive
        return True
    return True


class IdempotencyStore:
    """The ``idempotency_keys`` table, in the service's one database (funcgemma.storage)."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock
        self._name = str(db.path)
        with self._storage(), db.connection() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _storage(self) -> Iterator[None]:
        try:
            yield
        except StorageUnavailable:  # a 503 already, which says if a retry can help
            raise
        except ConfigurationError as exc:
            raise storage_unavailable(exc) from exc

    def begin(self, key: str, fingerprint: Fingerprint) -> Run | Stored:
        """Take ``key`` for a request: a ``Run`` to do it (new, or taken over from a
        process that stopped), or the first request's ``Stored`` answer. Raises
        IdempotencyKeyReused for another request's key, IdempotencyKeyInProgress while the
        first one still runs."""
        now = self._clock()
        running = (self._name, key)
        with self._storage(), self._db.connection() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?", (_stamp(now - LIFETIME),)
            )  # expired ones, as we pass
            row = db.execute(
                "SELECT method, path, body_sha256, state, status, response, run_id, owner, "
                "locked_at FROM idempotency_keys WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                run_id = uuid.uuid4().hex
                db.execute(
                    "INSERT INTO idempotency_keys (key, method, path, body_sha256, state, "
                    "created_at, run_id, owner, locked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        fingerprint.method,
                        fingerprint.path,
                        fingerprint.body_sha256,
                        PENDING,
                        _stamp(now),
                        run_id,
                        _owner(),
                        _stamp(now),
                    ),
                )
            else:
                method, path, digest, state, status, response, run_id, owner, locked_at = row
                if (method, path, digest) != (
                    fingerprint.method,
                    fingerprint.path,
                    fingerprint.body_sha256,
                ):
                    db.execute("COMMIT")  # the pruning
                    raise IdempotencyKeyReused(
                        f"This `{HEADER}` was already used for another request (another "
                        "method, path or body); a key names one request: send a new key "
                        "for a new one."
                    )
                if state == DONE:
                    try:
                        stored = Stored(int(status), json.loads(response))
                    except (TypeError, ValueError):  # edited by hand: run it again (keyed)
                        log.warning("a stored idempotent answer cannot be read; running again")
                    else:
                        db.execute("COMMIT")
                        return stored
                elif self._held(key, owner, locked_at, now):
                    db.execute("ROLLBACK")
                    raise IdempotencyKeyInProgress(
                        f"The first request with this `{HEADER}` is still running; retry in "
                        "a moment (with the same key) for its answer."
                    )
                else:
                    log.info(
                        "a request whose process stopped before it answered is run "
                        "again (its writes are not repeated)"
                    )
                db.execute(
                    "UPDATE idempotency_keys SET state = ?, status = NULL, "
                    "response = NULL, owner = ?, locked_at = ? WHERE key = ?",
                    (PENDING, _owner(), _stamp(now), key),
                )
            with _RUNNING_LOCK:
                _RUNNING.add(running)
            try:
                db.execute("COMMIT")
            except BaseException:
                with _RUNNING_LOCK:
                    _RUNNING.discard(running)
                raise
        return Run(key, run_id)

    def _held(self, key: str, owner: str, locked_at: str, now: datetime) -> bool:
        """Whether the process that took the pending ``key`` is still running it."""
        if not owner:
            return False  # released: its request failed and may be retried
        try:
            if datetime.fromisoformat(locked_at) + PENDING_LEASE < now:
                return False
        except (TypeError, ValueError):
            return False
        host, _, pid_text = owner.rpartition(":")
        if host != socket.gethostname() or not pid_text.isdigit():
            return True  # another machine's (a shared data directory): its lease decides
        if int(pid_text) == os.getpid():
            with _RUNNING_LOCK:
                return (self._name, key) in _RUNNING
        return _process_alive(int(pid_text))

    def finish(self, run: Run, status: int, body: Any) -> None:
        """Store the answer a retry will get."""
        try:
            with self._storage(), self._db.connection() as db:
                db.execute(
                    "UPDATE idempotency_keys SET state = ?, status = ?, response = ?, owner = '' "
                    "WHERE key = ? AND run_id = ? AND state = ?",
                    (
                        DONE,
                        status,
                        json.dumps(body, ensure_ascii=False),
                        run.key,
                        run.run_id,
                        PENDING,
                    ),
                )
        finally:
            self._stopped(run)

    def release(self, run: Run) -> None:
        """Let a retry run the request again (it failed in a way a retry may fix). Its
        writes stay keyed by the same ``run_id``, so what it did is not done twice."""
        try:
            with self._storage(), self._db.connection() as db:
                db.execute(
                    "UPDATE idempotency_keys SET owner = '' WHERE key = ? AND run_id = ? "
                    "AND state = ?",
                    (run.key, run.run_id, PENDING),
                )
        except StorageUnavailable as exc:  # not held by a live request all the same
            log.warning("%s", exc.message)
        finally:
            self._stopped(run)

    def _stopped(self, run: Run) -> None:
        with _RUNNING_LOCK:
            _RUNNING.discard((self._name, run.key))


__all__ = [
    "HEADER",
    "LIFETIME",
    "PENDING_LEASE",
    "REPLAYED_HEADER",
    "Fingerprint",
    "IdempotencyStore",
    "Run",
    "Stored",
    "body_digest",
    "parse_key",
    "storage_unavailable",
]
