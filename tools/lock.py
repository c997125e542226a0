#!/usr/bin/env python3
"""Refresh requirements.lock: every package funcgemma and its extras need, at one version.

    .venv/bin/python tools/lock.py              # resolve again from PyPI, newest versions
    .venv/bin/python tools/lock.py --keep-installed
                                                # pin what this virtualenv has now
    .venv/bin/python tools/lock.py --check      # exit 1 if pyproject.toml changed since

setup.sh installs with ``pip install -c requirements.lock``, so a fresh machine gets the
versions CI tested, whatever was released since. The lock is universal (uv's
``--universal``: markers for Linux and macOS, the Pythons pyproject.toml allows). Its first
line holds a digest of pyproject.toml's dependency tables; tests/test_lock.py fails when
pyproject.toml and the lock disagree. After refreshing: ./setup.sh --train and the whole test suite.
If the lock's setuptools changed, pin the same version in pyproject.toml's [build-system]
(pip builds the editable install where the lock does not reach; tests/test_lock.py checks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """Digest of what pyproject.toml asks for (dependencies, extras, Python)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    asked = {"requires-python": project.get("requires-python"),
             "dependencies": sorted(project.get("dependencies", [])),
             "optional-dependencies": {k: sorted(v) for k, v in
                                       sorted(project.get("optional-dependencies", {}).items())}}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    first = lock.read_text().splitlines()[0] if lock.exists() else ""
    return first.removeprefix(DIGEST_PREFIX).strip() if first.startswith(DIGEST_PREFIX) else None


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        sys.exit("tools/lock.py needs uv: .venv/bin/pip install -c requirements.lock uv")
    return found


def relock(keep_installed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lock.txt"
        cmd = [_uv(), "pip", "compile", str(PYPROJECT), "--all-extras", "--universal",
               "--no-header", "--quiet", "-o", str(out)]
        if keep_installed:
            installed = Path(tmp) / "installed.txt"
            frozen = subprocess.run([sys.executable, "-m", "pip", "freeze",
                                     "--exclude-editable"], check=True, capture_output=True,
                                    text=True).stdout
            # a local build (torch 2.13.0+cpu from a machine's own wheel folder) is pinned
            # as its public version, which it satisfies
            installed.write_text(re.sub(r"\+[\w.]+$", "", frozen, flags=re.M))
            cmd += ["--constraint", str(installed)]
        subprocess.run(cmd, check=True, cwd=ROOT)
        body = out.read_text()
    header = (f"{DIGEST_PREFIX}{dependency_digest()}\n"
              "# Every package funcgemma and its extras install, at the version CI tested.\n"
              "# setup.sh installs with `pip install -c requirements.lock`.\n"
              "# Do not edit: refresh with `.venv/bin/python tools/lock.py` (see its docstring).\n")
    LOCK.write_text(header + body)
    print(f"wrote {LOCK.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when pyproject.toml changed since the lock was made")
    parser.add_argument("--keep-installed", action="store_true",
                        help="pin the versions installed in this virtualenv where they fit")
    args = parser.parse_args(argv)
    if args.check:
        if recorded_digest() != dependency_digest():
            print("requirements.lock is out of date with pyproject.toml: run tools/lock.py",
                  file=sys.stderr)
            return 1
        print("requirements.lock matches pyproject.toml")
        return 0
    relock(args.keep_installed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
