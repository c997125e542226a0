"""funcgemma on Ray Serve (funcgemma.rayserve): the deployment's options, and the whole
HTTP API in two replicas on a local Ray cluster, started as a user starts it
(`python -m funcgemma.rayserve`), with the embedded model in each replica."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
from fake_ollama import free_port
from processes import child_env, start, wait_until

from funcgemma.rayserve import DeployError, Options


def test_options_from_serve_run_arguments() -> None:
    env = {"FUNCGEMMA_BACKEND": "llamacpp", "FUNCGEMMA_THREADS": "1", "HOME": "/root"}
    options = Options.from_args({"replicas": "3", "num_cpus": "0.5"}, env)
    spec = options.deployment()
    assert spec["num_replicas"] == 3 and "autoscaling_config" not in spec
    assert spec["ray_actor_options"] == {
        "num_cpus": 0.5,
        # only funcgemma's settings travel to the replicas
        "runtime_env": {"env_vars": {"FUNCGEMMA_BACKEND": "llamacpp",
                                     "FUNCGEMMA_THREADS": "1"}}}


def test_options_autoscale_between_min_and_max() -> None:
    spec = Options.from_args({"min_replicas": "1", "max_replicas": "4"}, {}).deployment()
    assert "num_replicas" not in spec
    assert spec["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4,
                                          "initial_replicas": 2,
                                          "target_ongoing_requests": 2.0}


@pytest.mark.parametrize(("args", "message"), [
    ({"replica": "2"}, "unknown option replica"),
    ({"replicas": "two"}, "replicas='two' is not a int"),
    ({"replicas": "0"}, "replicas must be at least 1"),
    ({"min_replicas": "1"}, "give min_replicas and max_replicas together"),
    ({"min_replicas": "3", "max_replicas": "2"}, "need 0 <= min_replicas <= max_replicas"),
    ({"num_cpus": "0"}, "num_cpus and target_ongoing_requests must be positive"),
])
def test_options_refuse_what_ray_would_choke_on(args: dict[str, str], message: str) -> None:
    with pytest.raises(DeployError, match=message):
        Options.from_args(args, {})


@pytest.mark.ray
@pytest.mark.llamacpp
@pytest.mark.slow
def test_two_ray_replicas_route_and_share_sessions(tmp_path: Path) -> None:
    """Two replicas, each with its own embedded model: both answer, and a follow-up
    (`session_id`) is routed right whichever replica took the turn before it (the
    session store is the SQLite file every replica on the host shares)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Ray's socket paths live under RAY_TMPDIR and must stay under 108 bytes
    ray_tmp = tempfile.mkdtemp(prefix="fgray-", dir="/tmp")
    env = child_env(FUNCGEMMA_BACKEND="llamacpp", FUNCGEMMA_THREADS="1",
                    FUNCGEMMA_DATA_DIR=str(tmp_path / "data"), RAY_USAGE_STATS_ENABLED="0",
                    RAY_TMPDIR=ray_tmp)
    log = tmp_path / "rayserve.log"
    proc = start(["-m", "funcgemma.rayserve", "--replicas", "2", "--num-cpus", "0.5",
                  "--port", str(port)], env=env, log=log)
    try:
        # ready once a replica answers (Ray's proxy answers 404 before the app is up)
        wait_until(lambda: "x-funcgemma-replica" in httpx.get(f"{base}/health", timeout=2)
                   .headers, proc, "python -m funcgemma.rayserve", log, timeout_s=600)
        with httpx.Client(base_url=base, timeout=120) as client:
            served: dict[str, list[str]] = {}
            crossed = 0
            for n in range(12):
                session = f"ray-{n}"
                first = client.post("/route", json={
                    "text": "What's the weather in Kyoto tomorrow?", "session_id": session})
                assert first.status_code == 200, first.text
                assert first.json()["calls"][0]["name"] == "weather_info"
                then = client.post("/route", json={"text": "and in Osaka?",
                                                   "session_id": session})
                assert then.status_code == 200, then.text
                call = then.json()["calls"][0]
                assert call["name"] == "weather_info", then.json()
                assert call["arguments"]["location"] == "Osaka"
                assert call["arguments"].get("date") == "tomorrow"
                pids = [r.headers["x-funcgemma-replica"] for r in (first, then)]
                for pid in pids:
                    served.setdefault(pid, []).append(session)
                crossed += pids[0] != pids[1]
                if len(served) == 2 and crossed >= 1:
                    break
            assert len(served) == 2, served  # both replicas answered
            assert crossed >= 1, served  # a follow-up on the other replica was right
            health = client.get("/health")
            assert health.status_code == 200 and "Ray Serve replica" in health.text
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the deployment and the cluster go down
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
