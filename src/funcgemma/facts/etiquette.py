"""Wikimedia's API etiquette, kept for every request to Wikipedia and Wikivoyage.

- Say who is asking: ``User-Agent`` (and ``Api-User-Agent``) name funcgemma, its version
  and a contact URL (https://foundation.wikimedia.org/wiki/Policy:Wikimedia_Foundation_User-Agent_Policy).
- Ask slowly: requests start at most FUNCGEMMA_FACTS_MAX_REQUESTS_PER_S a second, across
  every thread of the process (https://www.mediawiki.org/wiki/API:Etiquette).
- Leave a host alone a while (BACKOFF_S) once it could not be reached or did not answer:
  fifty calls in one message while offline answer at once, not after fifty time-outs.
"""

from __future__ import annotations

import threading
import time

import httpx

CONTACT_URL = "https://github.com/funcgemma/funcgemma"
BACKOFF_S = 10.0


def user_agent() -> str:
    """``funcgemma/<version> (<contact>; local assistant) httpx/<version>``."""
    from .. import __version__

    return f"funcgemma/{__version__} ({CONTACT_URL}; local assistant) httpx/{httpx.__version__}"


class Pacer:
    """Requests start at least 1/rate seconds apart, across every thread that shares it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, rate: float, max_wait_s: float) -> bool:
        """Wait for this request's turn; False (and no turn taken) when that would be
        longer than ``max_wait_s``: a queue of lookups is refused, not left to grow."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            if start - now > max_wait_s:
                return False
            self._next = start + 1.0 / rate
        if start > now:
            time.sleep(start - now)
        return True


PACER = Pacer()  # one for the process
_DOWN: dict[str, float] = {}  # host:port -> monotonic time until which it is not asked
_DOWN_LOCK = threading.Lock()


def mark_down(host: str) -> None:
    with _DOWN_LOCK:
        _DOWN[host] = time.monotonic() + BACKOFF_S


def is_down(host: str) -> bool:
    with _DOWN_LOCK:
        return time.monotonic() < _DOWN.get(host, 0.0)


def forget_unreachable() -> None:
    """Ask every host again at once (tests, or after the network came back)."""
    with _DOWN_LOCK:
        _DOWN.clear()


__all__ = [
    "BACKOFF_S",
    "CONTACT_URL",
    "PACER",
    "Pacer",
    "forget_unreachable",
    "is_down",
    "mark_down",
    "user_agent",
]
