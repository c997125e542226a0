"""`funcgemma`: terminal chat and subcommands. Streams are injectable for tests."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from .errors import BackendUnavailable, ConfigurationError, FuncgemmaError
from .plugins import ChatCommand, Command, FunctionHooks, Invocation, function_hooks
from .plugins import shown as _shown
from .settings import Settings, describe_invalid

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)

# the terminal chat's own commands; the functions' (ChatCommand.usage) go after /functions
HELP_FIRST = ("/functions  list functions",)
HELP_LAST = ("/reset  new session", "/help  this list", "/quit  exit")
CALLER_SUPPLIED = "conversation supplied by the caller"
MAX_WORKERS = 64


def chat_help(commands: Iterable[ChatCommand] = ()) -> str:
    """The chat's /help line: its own commands and the functions'."""
    return " · ".join([*HELP_FIRST, *(c.usage for c in commands), *HELP_LAST])


BUILT_IN = ("chat", "route", "serve", "doctor", "mcp", "functions")


def _parser(commands: Iterable[Command] = ()) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="funcgemma", description="Local function-routing chat.")
    p.add_argument("--backend", choices=["auto", "ollama", "llamacpp", "openai"], default=None,
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
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help=f"worker processes (1-{MAX_WORKERS}, default 1); each loads its own "
                   "models, so the embedded backend takes N times the memory. Chat sessions "
                   "are shared through the data directory's database")
    sub.add_parser("doctor", help="check backends, models and memory")
    f = sub.add_parser("functions", help="list the functions, or estimate how well each "
                       "routes from its examples (`functions check [NAME]`)")
    f.add_argument("action", nargs="?", choices=["list", "check"], default="list")
    f.add_argument("name", nargs="?", help="with check: only this function")
    f.add_argument("--json", action="store_true", help="one JSON object a function")
    f.add_argument("--strict", action="store_true", help="with check: exit 1 on a warning")
    m = sub.add_parser("mcp", help="serve the functions and the router as MCP tools "
                       "(stdio; --http for streamable HTTP at /mcp)")
    m.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    m.add_argument("--host", default="127.0.0.1", help="with --http (default 127.0.0.1; "
                   "any other address needs FUNCGEMMA_API_KEY)")
    m.add_argument("--port", type=int, default=8765, help="with --http (default 8765)")
    for command in commands:  # the installed packages' (the lab's), then the functions'
        if command.name in BUILT_IN:
            raise ConfigurationError(f"a plugin declares the built-in command {command.name!r}")
        command.configure(sub.add_parser(command.name, help=command.help,
                                         description=command.description or command.help))
    return p


def _open_without_key(host: str, settings: Settings, err: TextIO) -> bool:
    """True (and says why) when ``host`` is not loopback and no API key is set: `serve`
    and `mcp --http` then refuse to start."""
    from .api.browser import is_loopback

    if is_loopback(host) or settings.api_key:
        return False
    print(f"funcgemma: refusing to listen on {host} without FUNCGEMMA_API_KEY; set it "
          "(clients then send `Authorization: Bearer <key>`) or use 127.0.0.1.", file=err)
    return True


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         conversation: Conversation | None = None) -> int:
    """Entry point. ``conversation`` replaces the one built from settings (tests pass
    one over scripted backends); everything else runs as it does for a user."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        commands = {c.name: c for c in _commands(conversation)}
    except (ValueError, ConfigurationError) as exc:
        print(f"funcgemma: {exc}", file=err)
        return 2
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = _parser(commands.values()).parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=err)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"funcgemma: invalid setting: {describe_invalid(exc)}", file=err)
        return 2
    try:
        if args.command == "route":
            return _route(settings, args, out, conversation)
        if args.command == "serve":
            return _serve(settings, args, err, conversation)
        if args.command == "mcp":
            return _mcp(settings, args, err, conversation)
        if args.command in commands:
            return commands[args.command].run(Invocation(
                settings, args, stdin or sys.stdin, out, err, conversation))
        if args.command == "functions":
            return _functions(settings, args, out, err, conversation)
        if args.command == "doctor":
            from .diagnose import run_doctor

            return run_doctor(settings, args.backend, out)
        return _chat(settings, args, stdin or sys.stdin, out, conversation)
    except FuncgemmaError as exc:
        print(f"funcgemma: {exc.message}", file=err)
        return 2 if exc.status_code < 500 else 1
    except KeyboardInterrupt:
        return 130


def _commands(given: Conversation | None) -> list[Command]:
    """The subcommands functions and installed packages add (funcgemma.plugins)."""
    from .plugins import all_commands
    from .registry import default_registry

    return list(all_commands(given.registry if given is not None else default_registry()))


def _conversation(settings: Settings, args: argparse.Namespace,
                  given: Conversation | None) -> tuple[Conversation, str, str]:
    if given is not None:
        return given, given.router.backend.name, CALLER_SUPPLIED
    from .conversation import build_conversation

    try:
        return build_conversation(settings, args.backend)
    except (BackendUnavailable, ConfigurationError) as exc:
        raise BackendUnavailable(f"no model backend is available: {exc.message} "
                                 "(`funcgemma doctor` shows what was tried)") from exc


def _route(settings: Settings, args: argparse.Namespace, out: TextIO,
           given: Conversation | None) -> int:
    if given is not None:
        router = given.router
    else:
        from .factory import make_backends, make_router
        from .registry import default_registry

        backends = make_backends(settings, args.backend)
        router = make_router(backends, default_registry(), settings)
    result = router.route(args.text)
    if args.json:
        print(result.model_dump_json(), file=out)
    elif result.calls:
        for call in result.calls:
            print(f"{call.name} {json.dumps(call.arguments, ensure_ascii=False)}", file=out)
    else:
        print("no function applies", file=out)
    return 0


def _functions(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO,
               given: Conversation | None) -> int:
    """`funcgemma functions [list | check [NAME]]` (funcgemma.encoder.check): the encoder
    alone, never the router model."""
    from .encoder import check
    from .registry import default_registry

    registry = given.registry if given is not None else default_registry()
    if args.name is not None and args.action == "list":
        print(f"funcgemma: `functions list` takes no NAME (`functions check {args.name}` "
              "checks one).", file=err)
        return 2
    if args.name is not None and args.name not in registry:
        print(f"funcgemma: no function named {args.name!r} to check; the functions are "
              f"{', '.join(registry.names)}.", file=err)
        return 2
    if args.action == "list":
        trained = check.trained_names(settings, registry)
        for summary in (check.summarize(spec, spec.name in trained) for spec in registry):
            print(json.dumps(summary.to_json(), ensure_ascii=False) if args.json
                  else check.describe(summary), file=out)
        return 0
    try:
        stage = check.check_stage(settings, registry)
    except ConfigurationError as exc:
        print(f"funcgemma: {exc.message}", file=err)
        return 2
    if note := check.calibration_note(stage.policy):
        print(f"funcgemma: {note}", file=err)
    results = check.check(stage, None if args.name is None else [args.name])
    for result in results:
        print(json.dumps(result.to_json(), ensure_ascii=False) if args.json
              else "\n".join(check.report_lines(result)), file=out)
    return 1 if args.strict and any(r.warnings for r in results) else 0


def _serve(settings: Settings, args: argparse.Namespace, err: TextIO,
           given: Conversation | None) -> int:
    import uvicorn

    from .api import Service, create_app
    from .api.app import UVICORN

    if not 1 <= args.workers <= MAX_WORKERS:
        print(f"funcgemma: --workers must be 1-{MAX_WORKERS} (got {args.workers}).", file=err)
        return 2
    if _open_without_key(args.host, settings, err):
        return 2
    if args.workers > 1:
        return _serve_workers(settings, args, err, given)
    conversation, kind, reason = _conversation(settings, args, given)
    print(f"funcgemma: backend {kind} ({reason}); listening on http://{args.host}:{args.port}",
          file=err, flush=True)
    app = create_app(Service(conversation, settings, kind, reason, bind_host=args.host))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **UVICORN)
    return 0


def _serve_workers(settings: Settings, args: argparse.Namespace, err: TextIO,
                   given: Conversation | None) -> int:
    """`serve --workers N`: uvicorn starts N processes, each building its own app
    (api.app.from_environment) with the backend chosen here, once, without loading it."""
    import tempfile

    import uvicorn

    from .api.app import UVICORN, WORKER_ENV
    from .factory import select_backend

    if given is not None:
        print("funcgemma: --workers needs the conversation built from settings; a caller's "
              "own conversation is served by one process (leave out --workers).", file=err)
        return 2
    try:
        chosen = select_backend(settings, args.backend)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"no model backend is available: {exc.message} "
                                 "(`funcgemma doctor` shows what was tried)") from exc
    fd, failed = tempfile.mkstemp(prefix="funcgemma-workers-")
    os.close(fd)
    worker = {"host": args.host, "reason": chosen.reason, "failed": failed,
              "log_level": logging.getLogger().getEffectiveLevel()}
    print(f"funcgemma: backend {chosen.kind} ({chosen.reason}); listening on "
          f"http://{args.host}:{args.port} with {args.workers} workers", file=err, flush=True)
    # the workers are new processes (spawned): the environment is what reaches them
    saved = {name: os.environ.get(name) for name in ("FUNCGEMMA_BACKEND", WORKER_ENV)}
    os.environ["FUNCGEMMA_BACKEND"] = chosen.kind
    os.environ[WORKER_ENV] = json.dumps(worker)
    try:
        uvicorn.run("funcgemma.api.app:from_environment", factory=True, host=args.host,
                    port=args.port, workers=args.workers, log_level="warning", **UVICORN)
        with open(failed, encoding="utf-8") as reasons:
            # uvicorn stops once a worker cannot start (its log line says why): exit 1
            return 1 if reasons.read().strip() else 0
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with contextlib.suppress(OSError):
            os.remove(failed)


def _input_history(settings: Settings) -> Any:
    """Arrow-key history in the data dir. A data dir or history file that cannot be read
    or written (read-only, a file in the way) costs the saved history, never the chat:
    prompt_toolkit left to fail on it printed tracebacks and hung the prompt."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("input history is not saved: cannot create %s (%s); set "
                    "FUNCGEMMA_DATA_DIR to a writable directory", settings.data_dir,
                    exc.strerror or exc)
        return InMemoryHistory()

    class _History(FileHistory):
        warned = False

        def _warn(self, exc: OSError) -> None:
            if not self.warned:
                self.warned = True
                log.warning("input history is not saved: %s: %s", self.filename,
                            exc.strerror or exc)

        def load_history_strings(self) -> Iterable[str]:
            try:
                return list(super().load_history_strings())
            except OSError as exc:
                self._warn(exc)
                return []

        def store_string(self, string: str) -> None:
            try:
                super().store_string(string)
            except OSError as exc:  # kept in memory for this chat all the same
                self._warn(exc)

    return _History(str(settings.data_dir / "chat_history"))


def _read_line(stdin: TextIO, out: TextIO, session: object | None) -> str | None:
    if session is not None:
        try:
            return session.prompt("you> ")  # type: ignore[attr-defined]
        except EOFError:
            return None
    print("you> ", end="", file=out, flush=True)
    line = stdin.readline()
    return None if line == "" else line.rstrip("\n")


def _chat(settings: Settings, args: argparse.Namespace, stdin: TextIO, out: TextIO,
          given: Conversation | None) -> int:
    conversation, kind, reason = _conversation(settings, args, given)
    try:
        return _chat_loop(conversation, kind, reason, settings, stdin, out)
    finally:
        if given is None:
            conversation.close()


def _chat_loop(conversation: Conversation, kind: str, reason: str, settings: Settings,
               stdin: TextIO, out: TextIO) -> int:
    hooks = function_hooks(conversation.registry)
    commands = {f"/{c.name}": c for h in hooks for c in h.chat_commands}
    help_line = chat_help(commands.values())
    print(f"funcgemma chat · backend: {kind} ({reason})\n{help_line}", file=out)
    session: Any = None
    if stdin is sys.stdin and stdin.isatty() and out is sys.stdout:
        from prompt_toolkit import PromptSession

        session = PromptSession(history=_input_history(settings))
    sid = os.urandom(8).hex()
    warned: set[str] = set()
    while True:
        _show_notices(conversation, hooks, out, warned)  # what came due while chatting, too
        try:
            line = _read_line(stdin, out, session)
        except KeyboardInterrupt:  # Ctrl-C at the prompt drops the line, as in a shell
            print("\n(Ctrl-D or /quit to leave)", file=out)
            continue
        if line is None or line.strip() in ("/quit", "/exit"):
            print("bye", file=out)
            return 0
        text = line.strip()
        if not text:
            continue
        try:
            if text == "/functions":
                for spec in conversation.registry:
                    print(f"  {spec.name}: {spec.summary}", file=out)
            elif text.split()[0] in commands:
                commands[text.split()[0]].run(conversation.ctx, text.split()[1:], out)
            elif text == "/reset":
                conversation.reset(sid)
                sid = os.urandom(8).hex()
                print("(new session)", file=out)
            elif text == "/help":
                print(help_line, file=out)
            elif text.startswith("/") and " " not in text:
                print(f"unknown command {_shown(text)}; {help_line}", file=out)
            else:
                _turn(conversation, text, sid, out)
        except FuncgemmaError as exc:
            print(f"\n(error: {_shown(exc.message)})", file=out)
        except KeyboardInterrupt:
            print("\n(stopped)", file=out)


def _turn(conversation: Conversation, text: str, sid: str, out: TextIO) -> None:
    turn = conversation.start(text, sid)
    for call in turn.route.calls:
        args_text = json.dumps(call.arguments, ensure_ascii=False)
        print(f"  [{call.name} {args_text} · {turn.route.source}, "
              f"{turn.route.latency_ms:.0f} ms]", file=out)
    ask = turn.route.ask
    if ask is not None and not turn.route.calls:  # a call that waits for a value
        args_text = json.dumps(ask.arguments, ensure_ascii=False)
        print(f"  [{ask.function} {args_text} · asks for {ask.field} · {turn.route.source}, "
              f"{turn.route.latency_ms:.0f} ms]", file=out)
    if turn.notice and turn.replied_by_model:  # the facts, whatever the reply says
        print(f"  = {_shown(turn.notice)}", file=out)
    print("bot> ", end="", file=out, flush=True)
    try:
        for piece in turn.chunks():
            print(_shown(piece), end="", file=out, flush=True)
    except KeyboardInterrupt:
        turn.close()  # Ctrl-C stops the reply, not the chat
        raise
    print(file=out)


def _mcp(settings: Settings, args: argparse.Namespace, err: TextIO,
         given: Conversation | None) -> int:
    """`funcgemma mcp`: the MCP server (funcgemma.mcp); the model loads on the first route."""
    try:
        from .mcp import FuncgemmaMCP, serve_http, serve_stdio
    except ModuleNotFoundError as exc:
        if exc.name not in ("mcp", "mcp_types"):
            raise
        raise ConfigurationError("`funcgemma mcp` needs the MCP SDK: install it with "
                                 "`pip install 'funcgemma[mcp]'` (or `pip install mcp`).") from exc

    if args.http and _open_without_key(args.host, settings, err):
        return 2
    tools = FuncgemmaMCP(settings, args.backend, given)
    try:
        if args.http:
            print(f"funcgemma: MCP on http://{args.host}:{args.port}/mcp", file=err, flush=True)
            serve_http(tools, args.host, args.port)
        else:
            serve_stdio(tools)
    finally:
        tools.close()
    return 0


def _show_notices(conversation: Conversation, hooks: list[FunctionHooks], out: TextIO,
                  warned: set[str]) -> None:
    """The functions' notices (funcgemma.plugins: what came due), each line once."""
    for h in hooks:
        if h.notices is None:
            continue
        try:
            lines = h.notices(conversation.ctx)
        except FuncgemmaError as exc:  # a broken store must not stop the chat
            if exc.message not in warned:  # said once, not before every prompt
                warned.add(exc.message)
                log.warning("could not show a function's notices: %s", exc.message)
            continue
        for line in lines:
            print(line, file=out)
