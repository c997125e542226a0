"""What a handler may use: settings, an HTTP client, the service's database, a clock, and
the key its writes are recorded under when the request has an Idempotency-Key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import tzlocal

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..settings import Settings
    from ..storage import Database

T = TypeVar("T")


# The request being served when it came with an Idempotency-Key (its run's id, set by the
# API) and the number of the routed call being run: per thread of work, not per context
# object, since one FunctionContext serves every request at once.
_REQUEST_KEY: ContextVar[str | None] = ContextVar("funcgemma_request_key", default=None)
_CALL_INDEX: ContextVar[int] = ContextVar("funcgemma_call_index", default=0)
# The user's message the routed calls were made for (set by the conversation): a handler
# reads what was asked of a name ("When was X born?") and the user's language from it.
_MESSAGE: ContextVar[str | None] = ContextVar("funcgemma_message", default=None)


@contextmanager
def keyed_request(key: str | None) -> Iterator[None]:
    """Run a request under ``key`` (idempotency.Run.run_id): the handlers it runs record
    their writes under it, so that the request run again writes nothing twice."""
    token = _REQUEST_KEY.set(key)
    try:
        yield
    finally:
        _REQUEST_KEY.reset(token)


def _now() -> datetime:
    """Now in the machine's own time zone, as a zone with its rules (Europe/London), not a
    fixed offset: "tomorrow at 9am" said the evening before the clocks change is 9:00 on
    tomorrow's clock, not 9:00 at today's offset."""
    return datetime.now(tzlocal.get_localzone())


@dataclass
class FunctionContext:
    settings: Settings
    http: httpx.Client | None = None
    now: Callable[[], datetime] = field(default=_now)
    _owns_http: bool = field(default=False, init=False, repr=False)
    _database: Database | None = field(default=None, init=False, repr=False)
    _kept: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # handlers run on the API's worker threads: create the shared client and stores once
    # (reentrant: what ``kept`` builds may open the database)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.now is _now and self.settings.timezone:
            # FUNCGEMMA_TIMEZONE: the user's zone when the machine's is not theirs (a server)
            try:
                zone = ZoneInfo(self.settings.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigurationError(
                    f"FUNCGEMMA_TIMEZONE={self.settings.timezone!r} is not a time zone name; "
                    "use one like 'Asia/Tokyo' or 'Europe/Paris'."
                ) from exc
            self.now = partial(datetime.now, zone)

    def action_key(self) -> str | None:
        """The key a handler's write is recorded under (ReminderStore.add(key=...)): the
        request's and the call's number; None for a request without Idempotency-Key."""
        key = _REQUEST_KEY.get()
        return None if key is None else f"{key}#{_CALL_INDEX.get()}"

    @contextmanager
    def calling(self, index: int) -> Iterator[None]:
        """Around the handler of a request's routed call number ``index``."""
        token = _CALL_INDEX.set(index)
        try:
            yield
        finally:
            _CALL_INDEX.reset(token)

    @contextmanager
    def for_message(self, text: str | None) -> Iterator[None]:
        """Around the handlers run for the user's message ``text`` (``message`` inside)."""
        token = _MESSAGE.set(text)
        try:
            yield
        finally:
            _MESSAGE.reset(token)

    @property
    def message(self) -> str | None:
        """The user's message being answered; None outside ``for_message`` (a /route)."""
        return _MESSAGE.get()

    def date_order(self) -> str:
        """How the user writes a numeric date: FUNCGEMMA_DATE_ORDER, else their locale's."""
        from .schedule_reminder.timeparse import locale_date_order

        return self.settings.date_order or locale_date_order()

    def http_client(self) -> httpx.Client:
        with self._lock:
            if self.http is None:
                self.http = httpx.Client(timeout=self.settings.weather_timeout_s)
                self._owns_http = True
            return self.http

    def close(self) -> None:
        """Close the HTTP client this context opened (one it was given stays open)."""
        with self._lock:
            if self.http is not None and self._owns_http:
                self.http.close()
                self.http = None

    def database(self) -> Database:
        """The service's SQLite database (funcgemma.storage), opened at the first use;
        DatabaseUnusable, naming the fix, when it cannot be (tried again next time)."""
        with self._lock:
            if self._database is None:
                from ..storage import Database

                self._database = Database(self.settings.reminders_db)
            return self._database

    def kept(self, name: str, build: Callable[[], T]) -> T:
        """What a function keeps for this context (its store over ``database()``), built
        by ``build`` the first time; a build that raises is tried again next time."""
        with self._lock:
            if name not in self._kept:
                self._kept[name] = build()
            return self._kept[name]  # type: ignore[no-any-return]
