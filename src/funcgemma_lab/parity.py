"""Do `/v1/chat/completions` (with the registry's tools) and `/route` make the same calls?
(issue 33: the routing figures must not change through the OpenAI-compatible surface)

    python tools/v1_parity.py --data data/test.jsonl --out runs/v1-parity

Starts a real `funcgemma serve` (funcgemma_lab.bench.start_server), sends each case's text
to `/route` and, with the registry's tools, to `/v1/chat/completions` through the real
`openai` client, and writes ``parity.json`` and ``parity.md``: the rows whose calls differ,
and each path's macro-F1 and false-call rate on the labels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from funcgemma.registry import default_registry

from .bench import free_port, start_server
from .hybrid import false_calls, macro_f1, read_jsonl


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python tools/v1_parity.py", description=__doc__)
    ap.add_argument("--backend", default="llamacpp", choices=["auto", "ollama", "llamacpp"])
    ap.add_argument("--data", type=Path, default=Path("data/test.jsonl"))
    ap.add_argument("--limit", type=int, default=None, help="the first N cases only")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--out", type=Path, default=Path("runs/v1-parity"))
    return ap


def _v1_calls(message: Any) -> list[dict[str, Any]]:
    return [{"name": c.function.name, "arguments": json.loads(c.function.arguments)}
            for c in message.tool_calls or []]


def main(argv: list[str] | None = None) -> int:
    import openai

    args = _parser().parse_args(argv)
    rows = read_jsonl(args.data)[: args.limit]
    port = free_port()
    proc, started = start_server(args, port)
    base = f"http://127.0.0.1:{port}"
    tools: Any = default_registry().tools()
    out: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=base, timeout=120) as http, openai.OpenAI(
                base_url=f"{base}/v1", api_key="unused", timeout=120, max_retries=0) as client:
            for n, row in enumerate(rows, 1):
                routed = http.post("/route", json={"text": row["text"]})
                routed.raise_for_status()
                answer = client.chat.completions.create(
                    model="funcgemma", messages=[{"role": "user", "content": row["text"]}],
                    tools=tools)
                out.append({"text": row["text"], "expected": row.get("expected_function"),
                            "route": routed.json()["calls"],
                            "v1": _v1_calls(answer.choices[0].message)})
                if n % 50 == 0:
                    print(f"{n}/{len(rows)}", file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()
    gold = [r["expected"] for r in out]

    def figures(path: str) -> dict[str, float]:
        pred = [r[path][0]["name"] if r[path] else None for r in out]
        return {"macro_f1": round(macro_f1(gold, pred), 4),
                "false_calls": round(false_calls(gold, pred), 4)}

    differ = [r for r in out if r["route"] != r["v1"]]
    route, v1 = figures("route"), figures("v1")
    report: dict[str, Any] = {
        "data": str(args.data), "n": len(out), "server_start_s": round(started, 1),
        "differ": len(differ), "route": route, "v1": v1, "rows_that_differ": differ}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parity.json").write_text(json.dumps(report, indent=1, ensure_ascii=False)
                                          + "\n")
    (args.out / "parity.md").write_text(
        f"# /route and /v1/chat/completions on {args.data}\n\n"
        f"| path | n | macro-F1 | false calls |\n| --- | --- | --- | --- |\n"
        f"| /route | {len(out)} | {route['macro_f1']} | {route['false_calls']} |\n"
        f"| /v1/chat/completions | {len(out)} | {v1['macro_f1']} | {v1['false_calls']} |\n"
        f"\nrows whose calls differ: {len(differ)}\n")
    print(f"{len(out)} cases: {len(differ)} differ; /route {route}, /v1 {v1}")
    return 0
