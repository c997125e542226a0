"""Shared test set-up: every test starts from default settings and a private data dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from funcgemma.settings import get_settings


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No FUNCGEMMA_* or OLLAMA_HOST from the developer's shell leaks into a test, and
    reminders and chat history go to a fresh directory."""
    for name in list(os.environ):
        if name.startswith("FUNCGEMMA_") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name)
    data_dir = tmp_path / "funcgemma-data"
    monkeypatch.setenv("FUNCGEMMA_DATA_DIR", str(data_dir))
    # no test reaches the real Wikipedia: a lookup that a test does not point at its fake
    # server fails at once, as offline (port 9, discard, is closed on loopback)
    for site in ("WIKIPEDIA", "WIKIVOYAGE"):
        monkeypatch.setenv(f"FUNCGEMMA_{site}_URL", f"http://127.0.0.1:9/{site.lower()}/{{lang}}")
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()
