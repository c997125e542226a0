"""`funcgemma doctor`: which backend would be used and why, Ollama's state, the
embedded weights, whether the models fit in this machine's memory, and where reminders
live and the clock their times are read with."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .errors import FuncgemmaError
from .settings import Settings


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
    """Where reminders live and whether they can be read, and the clock and date order
    reminder times are read with. Creates no file (an older one gets the columns added
    since, as the chat would add them, its rows kept); never decides the exit code (the
    chat runs without reminders)."""
    from .functions.context import FunctionContext
    from .recurrence import zone_key

    path = settings.reminders_db
    report: dict[str, Any] = {"reminders_file": str(path)}
    try:
        ctx = FunctionContext(settings=settings)
        now = ctx.now()
        report["time_zone"] = zone_key(now.tzinfo)
        report["now"] = now.isoformat(timespec="minutes")
        report["date_order"] = ctx.date_order()
        if not path.exists():
            report["reminders"] = "no file yet (created with the first reminder)"
            return report
        items, unreadable = ctx.reminder_store().listing()
        report["reminders"] = {"total": len(items) + len(unreadable),
                               "pending": sum(not r.notified for r in items),
                               "repeating": sum(bool(r.repeat) for r in items)}
        if unreadable:
            report["reminders"]["unreadable"] = [u.problem for u in unreadable]
    except FuncgemmaError as exc:
        report["error"] = exc.message
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
    from .doctor import format_report, ollama_report
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
