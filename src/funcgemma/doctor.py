"""What `funcgemma doctor` knows about Ollama: reachability, the models present and
loaded, and whether router + chat model fit in this machine's memory together."""

from __future__ import annotations

import os
from typing import Any

import ollama

from .backends.ollama import _host, _same_model, _translate
from .errors import FuncgemmaError

# Share of RAM both models may take before macOS/Linux start swapping the rest of the
# laptop out: on 8 GB, ~3.6 GB of models leaves room for the OS, a browser and us.
MEMORY_SHARE = 0.6


def total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def ollama_report(client: ollama.Client, router_model: str, chat_model: str) -> dict[str, Any]:
    report: dict[str, Any] = {"host": _host(client), "reachable": False}
    try:
        with _translate(client, "(listing models)"):
            tags = client.list().models
            running = client.ps().models
    except FuncgemmaError as exc:
        report["error"] = exc.message
        return report
    report["reachable"] = True
    models: dict[str, dict[str, Any]] = {}
    for role, name in (("router", router_model), ("chat", chat_model)):
        tag = next((m for m in tags if _same_model(name, m.model or "")), None)
        ps = next((m for m in running if _same_model(name, m.model or "")), None)
        models[role] = {
            "name": name,
            "present": tag is not None,
            "size_bytes": tag.size if tag else None,
            "loaded": ps is not None,
            "loaded_bytes": ps.size if ps else None,
            "vram_bytes": ps.size_vram if ps else None,
            "fix": None if tag else f"ollama pull {name}",
        }
    report["models"] = models
    total = total_memory_bytes()
    need = sum((m["loaded_bytes"] or m["size_bytes"] or 0) for m in models.values())
    report["memory"] = {"total_bytes": total, "models_bytes": need,
                        "fits": None if not total else need <= MEMORY_SHARE * total}
    return report


def _gb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e9:.2f} GB"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"host: {report['host']}"]
    if not report["reachable"]:
        lines.append(f"unreachable: {report.get('error')}")
        return "\n".join(lines)
    for role, m in report["models"].items():
        state = "loaded" if m["loaded"] else ("present" if m["present"] else "MISSING")
        size = _gb(m["loaded_bytes"] or m["size_bytes"])
        fix = f"  -> run `{m['fix']}`" if m["fix"] else ""
        lines.append(f"{role}: {m['name']} {state} ({size}){fix}")
    mem = report["memory"]
    verdict = {True: "fit together", False: "DO NOT fit together (expect swapping)",
               None: "unknown"}[mem["fits"]]
    lines.append(f"memory: models {_gb(mem['models_bytes'])} of {_gb(mem['total_bytes'])} RAM: "
                 f"{verdict}")
    return "\n".join(lines)
