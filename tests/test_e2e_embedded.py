"""End to end on the embedded default: `funcgemma serve` on llama.cpp with the real
weights, driven over real HTTP. What only a real server shows: a streaming client that
drops its connection."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_ollama import free_port
from test_e2e_ollama import _stop, _wait_until

pytestmark = pytest.mark.slow

SRC = Path(__file__).parents[1] / "src"
QUEUE_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FUNCGEMMA_") and k != "OLLAMA_HOST"}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        FUNCGEMMA_BACKEND="llamacpp",
        FUNCGEMMA_DATA_DIR=str(tmp / "data"),
        FUNCGEMMA_QUEUE_TIMEOUT_S=str(QUEUE_TIMEOUT_S),
    )
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "funcgemma", "serve", "--host", "127.0.0.1",
             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: httpx.get(f"{url}/health", timeout=1).is_success, proc,
                    "funcgemma serve", log)
        yield url
    finally:
        _stop(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


def test_e2e_embedded_a_dropped_stream_does_not_block_the_chat(server: str) -> None:
    """A client that reads the first event of a streamed reply and hangs up: the next
    /chat used to wait for the chat model until the queue timed out (503), forever."""
    with httpx.Client(base_url=server, timeout=60) as client:
        with client.stream("POST", "/chat", json={
                "message": "Tell me a very long story about a dragon", "stream": True}) as r:
            assert r.status_code == 200
            assert '"type": "route"' in next(r.iter_lines())
        # the connection is closed here, in the middle of the reply
        reply = client.post("/chat", json={"message": "hello"}, timeout=QUEUE_TIMEOUT_S + 40)
        assert reply.status_code == 200, reply.text
        assert reply.json()["reply"].strip()
