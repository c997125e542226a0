"""`funcgemma doctor`: which backend would be used and why, Ollama's state, the
embedded weights, and whether the models fit in this machine's memory."""

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


def run_doctor(settings: Settings, backend: str | None, out: TextIO) -> int:
    from .backends.ollama import make_client
    from .doctor import format_report, ollama_report
    from .factory import make_backends

    print("== Ollama", file=out)
    report = ollama_report(make_client(settings), settings.router_model, settings.chat_model)
    print(format_report(report), file=out)
    print("== Embedded (llama.cpp)", file=out)
    print(json.dumps(embedded_report(settings), indent=2, ensure_ascii=False, default=str), file=out)
    print("== Selection", file=out)
    try:
        backends = make_backends(settings, backend)
    except FuncgemmaError as exc:
        print(f"no usable backend: {exc.message}", file=out)
        return 1
    print(f"backend: {backends.kind} ({backends.reason})", file=out)
    return 0
