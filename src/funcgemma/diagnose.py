"""`funcgemma doctor`: which backend would be used and why, Ollama's state (reachability,
the models present and loaded), the embedded weights, whether the models fit in this
machine's memory, and where reminders live and the clock their times are read with."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, TextIO

from .errors import FuncgemmaError
from .settings import Settings

if TYPE_CHECKING:
    import ollama

# Share of RAM both models may take before macOS/Linux start swapping the rest of the
# laptop out: on 8 GB, ~3.6 GB of models leaves room for the OS, a browser and us.
MEMORY_SHARE = 0.6


def total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def ollama_report(client: ollama.Client, router_model: str, chat_model: str) -> dict[str, Any]:
    """What Ollama at ``client`` has of the two models, and whether they fit in memory."""
    from .backends.ollama import host_of, models, same_model

    report: dict[str, Any] = {"host": host_of(client), "reachable": False}
    try:
        tags, running = models(client)
    except FuncgemmaError as exc:
        report["error"] = exc.message
        return report
    report["reachable"] = True
    found: dict[str, dict[str, Any]] = {}
    for role, name in (("router", router_model), ("chat", chat_model)):
        tag = next((m for m in tags if same_model(name, m.model or "")), None)
        ps = next((m for m in running if same_model(name, m.model or "")), None)
        found[role] = {
            "name": name,
            "present": tag is not None,
            "size_bytes": tag.size if tag else None,
            "loaded": ps is not None,
            "loaded_bytes": ps.size if ps else None,
            "vram_bytes": ps.size_vram if ps else None,
            "fix": None if tag else f"ollama pull {name}",
        }
    report["models"] = found
    total = total_memory_bytes()
    need = sum((m["loaded_bytes"] or m["size_bytes"] or 0) for m in found.values())
    report["memory"] = {"total_bytes": total, "models_bytes": need,
                        "fits": None if not total else need <= MEMORY_SHARE * total}
    return report


def _gb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e9:.2f} GB"


def format_report(report: dict[str, Any]) -> str:
    """``ollama_report`` as the lines doctor prints."""
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


def embedded_report(settings: Settings) -> dict[str, Any]:
    from .factory import embedded_available

    ok, why = embedded_available()
    report: dict[str, Any] = {"installed": ok, "detail": why}
    if ok:
        try:
            from . import weights

            report["weights"] = weights.describe(settings)
        except FuncgemmaError as exc:
            report["weights_error"] = exc.message
    return report


def data_report(settings: Settings) -> dict[str, Any]:
    """What the functions keep and where (FunctionHooks.doctor: where reminders live,
    whether they can be read, the clock their times are read with), as one object. Creates
    no file; never decides the exit code (the chat runs without a function's data)."""
    from .plugins import function_hooks
    from .registry import default_registry

    report: dict[str, Any] = {}
    for hooks in function_hooks(default_registry()):
        if hooks.doctor is not None:
            report.update(hooks.doctor(settings))
    return report


def openai_report(settings: Settings) -> dict[str, Any]:
    """The OpenAI-compatible server's probe (GET /models) for the router and the chat
    model, as the backends `--backend openai` builds see it."""
    from .factory import make_openai

    backends = make_openai(settings, "doctor")
    report: dict[str, Any] = {}
    for role, backend in (("router", backends.router), ("chat", backends.chat)):
        ok, why = backend.ready()
        report[role] = {**backend.describe(), "ready": ok, "detail": why}
    return report


def unusable(kind: str, ollama: dict[str, Any], embedded: dict[str, Any],
             openai: dict[str, Any] | None = None) -> str | None:
    """Why the selected backend cannot serve, from the reports above, or None. `auto`
    checked this when it chose; a backend named with --backend / FUNCGEMMA_BACKEND is
    taken as is (chat and serve then fail on first use), so doctor checks it here."""
    if kind == "openai":
        problems = [str(r["detail"]) for r in (openai or {}).values() if not r["ready"]]
        return "; ".join(dict.fromkeys(problems)) or None
    if kind == "ollama":
        if not ollama["reachable"]:
            return str(ollama.get("error") or f"Ollama at {ollama['host']} is unreachable")
        missing = [m for m in ollama["models"].values() if not m["present"]]
        if not missing:
            return None
        fixes = " and ".join(f"`{m['fix']}`" for m in missing)
        return f"Ollama lacks {', '.join(m['name'] for m in missing)} (run {fixes})"
    if not embedded["installed"]:
        return str(embedded["detail"])
    errors = [info["error"] for info in embedded.get("weights", {}).values()
              if isinstance(info, dict) and "error" in info]
    if "weights_error" in embedded:
        errors.append(embedded["weights_error"])
    return "; ".join(errors) or None


def run_doctor(settings: Settings, backend: str | None, out: TextIO) -> int:
    """Print the report; 0 when the selected backend is usable, 1 when none is. Loads no
    model: the selection is what `auto` would pick, decided the same way
    (factory.select_backend), or the backend named explicitly."""
    from .backends.ollama import make_client
    from .factory import select_backend

    print("== Ollama", file=out)
    client = make_client(settings, timeout=min(settings.timeout_s, 5.0))
    try:
        report = ollama_report(client, settings.router_model, settings.chat_model)
    finally:
        client.close()
    print(format_report(report), file=out)
    print("== Embedded (llama.cpp)", file=out)
    embedded = embedded_report(settings)
    print(json.dumps(embedded, indent=2, ensure_ascii=False, default=str), file=out)
    print("== Data", file=out)
    print(json.dumps(data_report(settings), indent=2, ensure_ascii=False), file=out)
    print("== Selection", file=out)
    try:
        selection = select_backend(settings, backend)
    except FuncgemmaError as exc:
        print(f"no usable backend: {exc.message}", file=out)
        return 1
    print(f"backend: {selection.kind} ({selection.reason})", file=out)
    served = None
    if selection.kind == "openai":
        print("== OpenAI-compatible server", file=out)
        served = openai_report(settings)
        print(json.dumps(served, indent=2, ensure_ascii=False), file=out)
    problem = unusable(selection.kind, report, embedded, served)
    if problem:
        print(f"no usable backend: {problem}", file=out)
        return 1
    return 0
