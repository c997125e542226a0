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
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()
