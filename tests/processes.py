"""Real `funcgemma` processes for end-to-end tests: started, waited for, always stopped.

    with funcgemma(["--backend", "ollama", "serve"], env=child_env(FUNCGEMMA_...=...),
                   log=tmp_path / "serve.log") as url:
        httpx.get(f"{url}/health")

A process that exits before it is ready, or is not ready in time, fails the test with the
tail of its log; a Traceback in the log when it stops fails it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fake_ollama import free_port

SRC = Path(__file__).parents[1] / "src"
START_TIMEOUT_S = 120.0


def child_env(**settings: str) -> dict[str, str]:
    """This process's environment less any FUNCGEMMA_* and OLLAMA_HOST, with funcgemma's
    source importable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FUNCGEMMA_") and k != "OLLAMA_HOST"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(settings)
    return env


def start(args: Sequence[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``args`` run with this Python, output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path,
               timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def funcgemma(args: Sequence[str], *, env: dict[str, str], log: Path, port: int | None = None,
              ready_path: str = "/health", timeout_s: float = START_TIMEOUT_S) -> Iterator[str]:
    """`python -m funcgemma ARGS --host 127.0.0.1 --port PORT` (a free port unless given)
    running, ready when GET ``ready_path`` answers below 500; yields its base URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(["-m", "funcgemma", *args, "--host", "127.0.0.1", "--port", str(port)],
                 env=env, log=log)
    try:
        wait_until(lambda: httpx.get(url + ready_path, timeout=1).status_code < 500, proc,
                   f"funcgemma {' '.join(args)}", log, timeout_s)
        yield url
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
