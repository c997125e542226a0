"""`funcgemma`: terminal chat and subcommands. Streams are injectable for tests."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from typing import TextIO

from .errors import FuncgemmaError
from .settings import Settings

log = logging.getLogger(__name__)

HELP = "/functions  list functions · /reminders  list reminders · /reset  new session · /quit  exit"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="funcgemma", description="Local function-routing chat.")
    p.add_argument("--backend", choices=["auto", "ollama", "llamacpp"], default=None,
                   help="model backend (default: FUNCGEMMA_BACKEND or auto)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("chat", help="interactive chat (default)")
    r = sub.add_parser("route", help="route one message and print the result")
    r.add_argument("text")
    r.add_argument("--json", action="store_true", help="print the RouteResult as JSON")
    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    sub.add_parser("doctor", help="check backends, models and memory")
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=err)
    settings = Settings()
    try:
        if args.command == "route":
            return _route(settings, args, out)
        if args.command == "serve":
            return _serve(settings, args, err)
        if args.command == "doctor":
            from .diagnose import run_doctor

            return run_doctor(settings, args.backend, out)
        return _chat(settings, args, stdin or sys.stdin, out)
    except FuncgemmaError as exc:
        print(f"funcgemma: {exc.message}", file=err)
        return 2 if exc.status_code < 500 else 1
    except KeyboardInterrupt:
        return 130


def _route(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from .factory import make_backends
    from .registry import default_registry
    from .router import Router

    backends = make_backends(settings, args.backend)
    result = Router(backends.router, default_registry(), settings=settings).route(args.text)
    if args.json:
        print(result.model_dump_json(), file=out)
    elif result.calls:
        for call in result.calls:
            print(f"{call.name} {json.dumps(call.arguments, ensure_ascii=False)}", file=out)
    else:
        print("no function applies", file=out)
    return 0


def _serve(settings: Settings, args: argparse.Namespace, err: TextIO) -> int:
    import uvicorn

    from .api import Service, create_app
    from .conversation import build_conversation

    if not _is_loopback(args.host) and not settings.api_key:
        print(f"funcgemma: refusing to listen on {args.host} without FUNCGEMMA_API_KEY; "
              "set it (clients then send `Authorization: Bearer <key>`) or use 127.0.0.1.", file=err)
        return 2
    conversation, kind, reason = build_conversation(settings, args.backend)
    print(f"funcgemma: backend {kind} ({reason}); listening on http://{args.host}:{args.port}",
          file=err, flush=True)
    app = create_app(Service(conversation, settings, kind, reason))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _read_line(stdin: TextIO, out: TextIO, session: object | None) -> str | None:
    if session is not None:
        try:
            return session.prompt("you> ")  # type: ignore[attr-defined]
        except EOFError:
            return None
    print("you> ", end="", file=out, flush=True)
    line = stdin.readline()
    return None if line == "" else line.rstrip("\n")


def _chat(settings: Settings, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    from .conversation import build_conversation

    conversation, kind, reason = build_conversation(settings, args.backend)
    print(f"funcgemma chat · backend: {kind} ({reason})\n{HELP}", file=out)
    _show_due(conversation, out)
    session = None
    if stdin is sys.stdin and stdin.isatty() and out is sys.stdout:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        session = PromptSession(history=FileHistory(str(settings.data_dir / "chat_history")))
    sid = os.urandom(8).hex()
    while True:
        line = _read_line(stdin, out, session)
        if line is None or line.strip() in ("/quit", "/exit"):
            print("bye", file=out)
            return 0
        text = line.strip()
        if not text:
            continue
        if text == "/functions":
            for spec in conversation.registry:
                print(f"  {spec.name}: {spec.summary}", file=out)
            continue
        if text == "/reminders":
            _list_reminders(conversation, out)
            continue
        if text == "/reset":
            conversation.reset(sid)
            sid = os.urandom(8).hex()
            print("(new session)", file=out)
            continue
        if text.startswith("/") and " " not in text:
            print(f"unknown command {text}; {HELP}", file=out)
            continue
        try:
            turn = conversation.start(text, sid)
            for call in turn.route.calls:
                args_text = json.dumps(call.arguments, ensure_ascii=False)
                print(f"  [{call.name} {args_text} · {turn.route.source}, "
                      f"{turn.route.latency_ms:.0f} ms]", file=out)
            print("bot> ", end="", file=out, flush=True)
            for piece in turn.chunks():
                print(piece, end="", file=out, flush=True)
            print(file=out)
        except FuncgemmaError as exc:
            print(f"\n(error: {exc.message})", file=out)


def _list_reminders(conversation: object, out: TextIO) -> None:
    store = conversation.ctx.reminder_store()  # type: ignore[attr-defined]
    items = store.list()
    if not items:
        print("  (no reminders)", file=out)
    for r in items:
        print(f"  #{r.id} {r.due.astimezone().strftime('%Y-%m-%d %H:%M')}  {r.what}", file=out)


def _show_due(conversation: object, out: TextIO) -> None:
    ctx = conversation.ctx  # type: ignore[attr-defined]
    try:
        store = ctx.reminder_store()
        due = store.due(ctx.now())
    except Exception as exc:  # noqa: BLE001 - a broken store must not stop the chat
        log.warning("could not read reminders: %s", exc)
        return
    for r in due:
        print(f"⏰ reminder due: {r.what} ({r.due.astimezone().strftime('%Y-%m-%d %H:%M')})", file=out)
    if due:
        store.mark_notified([r.id for r in due])
