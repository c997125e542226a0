"""Benchmark a real `funcgemma serve`: route latency, service overhead, memory, concurrency.

    python tools/bench.py [--backend llamacpp] [--requests 200] [--clients 32] [--duration 60]

Starts `funcgemma serve` as a subprocess on a free loopback port and measures, over HTTP:
- cold: start-up time and the first /route request's latency;
- warm: /route latency p50/p95/p99 over texts from data/test.jsonl (sequential); each
  text is also sent with one earlier turn and its call (`history`), side by side, for
  what reading the conversation costs;
- overhead: client-observed latency minus the router's own `latency_ms` (what HTTP,
  FastAPI and JSON add over the backend call), p50/p95;
- memory: the server's peak RSS (VmHWM) with router and chat model loaded, after one
  chat turn;
- concurrency: N clients hammering /route for D seconds: requests sent, answered, errors,
  lost, throughput, RSS at start and end (drift); with a list (--clients 1,4,8,32), each
  count in turn (a table of throughput, p50/p95 and status codes);
- host speed, before and after: the bare router model's prompt rate and one-token step
  on this machine at that moment (shared machines slow down several-fold at times, and
  every latency above scales with it).
Writes bench.json and bench.md (a Markdown table) into --out (default runs/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from funcgemma.errors import FuncgemmaError
from funcgemma.settings import get_settings

from . import arguments
from .datasets import DataError
from .metrics import percentile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int, field: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:  # noqa: BLE001 - memory figures are best effort off Linux
        return None


def texts(path: Path, n: int) -> list[str]:
    """``n`` texts from the JSONL file's "text" fields, cycled; DataError naming the file
    (and line) when it has none to give."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DataError(f"--data {path}: {reason or exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{path}:{number}: expected an object with a \"text\" string")
        rows.append(row["text"])
    if not rows:
        raise DataError(f"--data {path} holds no texts")
    return (rows * (n // len(rows) + 1))[:n]


def start_server(args: argparse.Namespace, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "funcgemma", "--backend", args.backend, "serve", "--port",
           str(port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/health"
    while time.perf_counter() - t0 < args.startup_timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start in time")


# One earlier turn and its call, sent with each message of the "with history" figure: what
# a client of a stateless /route sends in a conversation
ONE_TURN: list[dict[str, Any]] = [
    {"role": "user", "content": "What's the weather in Kyoto tomorrow?"},
    {"role": "assistant", "tool_calls": [{"name": "weather_info", "arguments": {
        "location": "Kyoto", "date": "tomorrow"}}]},
    {"role": "assistant", "content": "Kyoto, tomorrow: light rain, 12°C."},
]


def timed_route(client: httpx.Client, text: str, history: list[dict[str, Any]] | None = None
                ) -> tuple[float, float | None, int]:
    t0 = time.perf_counter()
    r = client.post("/route", json={"text": text, **({"history": history} if history else {})})
    total = (time.perf_counter() - t0) * 1000
    inner = r.json().get("latency_ms") if r.status_code == 200 else None
    return total, inner, r.status_code


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "p99": round(percentile(values, 99), 2), "mean": round(sum(values) / len(values), 2)}


def hammer(base: str, items: list[str], clients: int, duration: float, pid: int
           ) -> dict[str, Any]:
    sent = answered = errors = 0
    codes: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + duration
    lat: list[float] = []

    def worker(k: int) -> None:
        nonlocal sent, answered, errors
        with httpx.Client(base_url=base, timeout=120.0) as client:
            i = k
            while time.monotonic() < stop:
                with lock:
                    sent += 1
                try:
                    total, _, code = timed_route(client, items[i % len(items)])
                except httpx.HTTPError as exc:
                    code, total = -1, 0.0
                    with lock:
                        codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
                with lock:
                    answered += code != -1
                    errors += code != 200
                    codes[str(code)] = codes.get(str(code), 0) + 1
                    if code == 200:
                        lat.append(total)
                i += clients

    rss_start = rss_bytes(pid)
    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    with tqdm(total=int(duration), desc=f"{clients} clients", unit="s") as bar:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            bar.update(1)
    # the requests still queued when the window closes are answered after it: the rate is
    # over the time until the last one came back, not over the window alone
    elapsed = time.monotonic() - began
    rss_end = rss_bytes(pid)
    return {"clients": clients, "duration_s": duration, "elapsed_s": round(elapsed, 2),
            "sent": sent, "answered": answered,
            "errors": errors, "lost": sent - answered, "status_codes": codes,
            "throughput_rps": round(answered / elapsed, 2), "latency_ms": summary(lat),
            "rss_start_mb": rss_start and round(rss_start / 1e6, 1),
            "rss_end_mb": rss_end and round(rss_end / 1e6, 1),
            "rss_drift_mb": rss_start and rss_end and round((rss_end - rss_start) / 1e6, 1)}


def host_speed() -> dict[str, float] | None:
    """The bare router GGUF's prompt evaluation rate (256 tokens) and one decoding step
    on this machine now; None when the embedded backend is not installed."""
    try:
        from funcgemma import weights
        from funcgemma.backends.llamaengine import LlamaEngine, load_llama
        from funcgemma.settings import Settings

        settings = Settings()
        llm = load_llama(weights.router_gguf(settings), n_ctx=512,
                         n_threads=settings.n_threads)
    except Exception:  # noqa: BLE001 - the probe is context, not the benchmark
        return None
    engine = LlamaEngine(llm)
    ids = list(llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 40,
                            add_bos=True))[:256]
    best = float("inf")
    for _ in range(2):
        engine.truncate(0)
        t0 = time.perf_counter()
        engine.feed(ids)
        best = min(best, time.perf_counter() - t0)
    steps = []
    for tok in ids[:16]:
        t0 = time.perf_counter()
        engine.feed([tok])
        steps.append(time.perf_counter() - t0)
    return {"prefill_tok_s": round(len(ids) / best, 1),
            "step_ms": round(percentile(steps, 50) * 1000, 1)}


def _rise(value: float | None, base: float | None) -> str:
    return f"{(value / base - 1) * 100:+.0f}%" if value and base else "–"


def _speed(h: dict[str, float] | None) -> str:
    return f"{h['prefill_tok_s']:.0f} tok/s, step {h['step_ms']:.0f} ms" if h else "–"


def markdown(res: dict[str, Any]) -> str:
    w, c, o, cc = res["warm_ms"], res["cold"], res["overhead_ms"], res["concurrency"]
    h = res.get("warm_with_history_ms") or summary([])
    rows = [
        ("start-up (server ready)", f"{c['startup_s']:.1f} s"),
        ("cold /route (first request)", f"{c['first_route_ms']:.0f} ms"),
        ("warm /route p50 / p95 / p99", f"{w['p50']} / {w['p95']} / {w['p99']} ms"),
        ("router only p50 / p95", f"{res['router_ms']['p50']} / {res['router_ms']['p95']} ms"),
        ("warm /route with one earlier turn and its call, p50 / p95",
         f"{h['p50']} / {h['p95']} ms ({_rise(h['p50'], w['p50'])} at p50)"),
        ("service overhead p50 / p95", f"{o['p50']} / {o['p95']} ms"),
        ("peak RSS (router + chat loaded)", f"{res['memory']['peak_rss_mb']} MB"),
        (f"{cc['clients']} clients x {cc['duration_s']:.0f} s",
         f"{cc['answered']} answered, {cc['errors']} errors, {cc['lost']} lost, "
         f"{cc['throughput_rps']} req/s"),
        ("memory drift under load", f"{cc['rss_drift_mb']} MB"),
        ("host speed before / after (bare model: prompt rate, one step)",
         f"{_speed(res['host']['before'])} / {_speed(res['host']['after'])}"),
    ]
    sweep = res.get("concurrency_sweep") or []
    table = ""
    if len(sweep) > 1:
        table = ("\n| clients | answered / s | p50 / p95 ms | errors (status codes) |\n"
                 "| --- | --- | --- | --- |\n" + "\n".join(
                     f"| {r['clients']} | {r['throughput_rps']} | {r['latency_ms']['p50']} / "
                     f"{r['latency_ms']['p95']} | {r['errors']} "
                     f"({', '.join(f'{k}: {v}' for k, v in sorted(r['status_codes'].items()))})"
                     f" |" for r in sweep) + "\n")
    head = (f"Backend `{res['backend']}`, model `{res['model']}`, {res['machine']}, "
            f"{res['requests']} warm requests, {res['timestamp']}.\n\n")
    return head + "| measure | value |\n| --- | --- |\n" + "\n".join(
        f"| {a} | {b} |" for a, b in rows) + "\n" + table


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.bench(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    return execute(_parser().parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    """Benchmark as ``args`` say; bad arguments, data and settings exit 2 before any
    server starts."""
    try:
        get_settings()  # the server reads the same settings: a bad one fails here, first
        items = texts(args.data, args.requests)
    except (DataError, FuncgemmaError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    try:  # before minutes of benchmarking whose results would be lost at the end
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as exc:
        print(f"bench: cannot write the results to --out {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    before = host_speed()
    port = free_port()
    proc, startup = start_server(args, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120.0) as client:
            health = client.get("/health").json()
            first, _, code = timed_route(client, items[0])
            if code != 200:
                raise SystemExit(f"/route answered {code}")
            totals, inner, with_history = [], [], []
            for i, text in enumerate(tqdm(items, desc="warm /route", unit="req")):
                # each message alone and with one earlier turn, side by side, in turns
                for history in ((None, ONE_TURN) if i % 2 == 0 else (ONE_TURN, None)):
                    total, router_ms, code = timed_route(client, text, history)
                    if code != 200 or router_ms is None:
                        continue
                    if history:
                        with_history.append(total)
                    else:
                        totals.append(total)
                        inner.append(router_ms)
            client.post("/chat", json={"message": "Hello! What can you do?"})
            peak = rss_bytes(proc.pid, "VmHWM") or rss_bytes(proc.pid)
        sweep = [hammer(base, items, n, args.duration, proc.pid) for n in args.clients]
        conc = sweep[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    after = host_speed()
    res = {
        "backend": health.get("backend"), "model": health.get("router", {}).get("model"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), "requests": len(totals),
        "cold": {"startup_s": round(startup, 2), "first_route_ms": round(first, 1)},
        "warm_ms": summary(totals), "router_ms": summary(inner),
        "warm_with_history_ms": summary(with_history),
        "overhead_ms": summary([t - i for t, i in zip(totals, inner, strict=True)]),
        "memory": {"peak_rss_mb": peak and round(peak / 1e6, 1)},
        "concurrency": conc,
        "concurrency_sweep": sweep,
        "host": {"before": before, "after": after},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "bench.md").write_text(markdown(res))
    print(markdown(res))
    return 0
