"""What a handler may use: settings, an HTTP client, the reminder store, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ..reminders import ReminderStore
    from ..settings import Settings


def _now() -> datetime:
    return datetime.now().astimezone()


@dataclass
class FunctionContext:
    settings: Settings
    http: httpx.Client | None = None
    reminders: ReminderStore | None = None
    now: Callable[[], datetime] = field(default=_now)

    def http_client(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(timeout=self.settings.weather_timeout_s)
        return self.http

    def reminder_store(self) -> ReminderStore:
        if self.reminders is None:
            from ..reminders import ReminderStore

            self.reminders = ReminderStore(self.settings.reminders_db)
        return self.reminders
