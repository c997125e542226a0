"""What a handler may use: settings, an HTTP client, the reminder store, a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import tzlocal

from ..errors import ConfigurationError
from ..timeparse import locale_date_order

if TYPE_CHECKING:
    from ..reminders import ReminderStore
    from ..settings import Settings


def _now() -> datetime:
    """Now in the machine's own time zone, as a zone with its rules (Europe/London), not a
    fixed offset: "tomorrow at 9am" said the evening before the clocks change is 9:00 on
    tomorrow's clock, not 9:00 at today's offset."""
    return datetime.now(tzlocal.get_localzone())


@dataclass
class FunctionContext:
    settings: Settings
    http: httpx.Client | None = None
    reminders: ReminderStore | None = None
    now: Callable[[], datetime] = field(default=_now)
    _owns_http: bool = field(default=False, init=False, repr=False)
    # handlers run on the API's worker threads: create the shared client and store once
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

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

    def date_order(self) -> str:
        """How the user writes a numeric date: FUNCGEMMA_DATE_ORDER, else their locale's."""
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

    def reminder_store(self) -> ReminderStore:
        with self._lock:
            if self.reminders is None:
                from ..reminders import ReminderStore

                self.reminders = ReminderStore(self.settings.reminders_db)
            return self.reminders
