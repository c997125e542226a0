"""A first-come-first-served lock with a bounded queue.

One llama.cpp context is not re-entrant, so requests take turns. Waiters are served in
arrival order (a plain Lock lets a late thread barge in), the queue is bounded so an
overloaded server answers 503 at once instead of piling up threads, and a waiter that
gives up leaves no hole in the line.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import BackendBusy


class FairLock:
    def __init__(self, *, max_waiting: int = 64, timeout_s: float = 30.0, name: str = "model"):
        self.max_waiting = max_waiting
        self.timeout_s = timeout_s
        self.name = name
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def _advance(self) -> None:
        self._serving += 1
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._cond:
            if self._waiting >= self.max_waiting:
                raise BackendBusy(
                    f"The {self.name} is busy: {self._waiting} requests are queued "
                    f"(FUNCGEMMA_QUEUE_SIZE={self.max_waiting}). Retry shortly.",
                    retry_after=1,
                )
            ticket = self._next_ticket
            self._next_ticket += 1
            self._waiting += 1
            try:
                served = self._cond.wait_for(lambda: self._serving == ticket, self.timeout_s)
                if not served:
                    self._abandoned.add(ticket)
                    raise BackendBusy(
                        f"Waited {self.timeout_s:.0f} s for the {self.name} without a turn "
                        "(FUNCGEMMA_QUEUE_TIMEOUT_S). Retry shortly.",
                        retry_after=2,
                    )
            finally:
                self._waiting -= 1
        try:
            yield
        finally:
            with self._cond:
                self._advance()
