"""`funcgemma mcp`: the registry's functions, and the router, as MCP tools.

One tool per registry function (name, description and input schema are the declarations
the router reads, ``FunctionSpec.tool_schema()``), and ``route``, which routes free text
and, with ``run: true``, runs what it routed. Served over stdio (the default: a desktop
client starts the process) or streamable HTTP at ``/mcp``, with the official ``mcp`` SDK.

- A tool's result is its handler's result as JSON text (also as structured content), then
  the function's notice line where it states one ("reminder #3 saved: ...").
- Anything a client can get wrong (an unknown or invalid argument, a time that cannot be
  read, a router that cannot be reached) is a tool result with ``isError`` and a message
  saying what to change, never a protocol error or a crash.
- The model is loaded on the first ``route`` call, so ``tools/list`` answers at once and
  the function tools work with no model at all.
- Over HTTP the browser checks of the HTTP API apply (api/browser.py): on a loopback
  address only loopback Host headers (DNS rebinding), and a request of any method from a
  page whose Origin is not allowed (FUNCGEMMA_ORIGINS) is refused, as the MCP
  specification asks; FUNCGEMMA_API_KEY, when set, is required as a bearer token. The
  SDK's own Host/Origin check is off: it does not read FUNCGEMMA_ORIGINS' wildcards.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from pydantic import ValidationError

from .errors import (
    BackendUnavailable,
    ConfigurationError,
    ForbiddenOrigin,
    FuncgemmaError,
    Unauthorized,
)
from .messages import in_language, language_of
from .registry import FunctionRegistry, FunctionSpec, default_registry
from .results import Done, Failed
from .settings import Settings

if TYPE_CHECKING:
    from starlette.datastructures import Headers
    from starlette.types import ASGIApp, Receive, Scope, Send

    from .conversation import Conversation
    from .functions.context import FunctionContext
    from .router import Router

log = logging.getLogger(__name__)

ROUTE = "route"
ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "description": "The user's request, as they said it."},
        "run": {
            "type": "boolean",
            "default": False,
            "description": "Also run the function it routes to (this may save a reminder) "
            "and return its result. Default false: only say which function and arguments.",
        },
    },
    "required": ["text"],
}
ROUTE_DESCRIPTION = (
    "Work out which of this server's functions a free-text request asks for, and with which "
    "arguments (funcgemma's FunctionGemma router). Returns the RouteResult JSON: calls "
    "(name, arguments; empty when no function applies), source, latency_ms, model."
)


def _tool(name: str, description: str, schema: dict[str, Any], *,
          changes_state: bool) -> types.Tool:
    if changes_state:  # FunctionSpec.changes_state, and route (run=true may run one)
        hints = types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False
        )
    else:
        hints = types.ToolAnnotations(read_only_hint=True)
    return types.Tool(name=name, description=description, input_schema=schema, annotations=hints)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class FuncgemmaMCP:
    """The tools, over a registry and a function context built now and a router built on
    the first ``route`` call (``conversation`` supplies all three, for tests)."""

    def __init__(
        self,
        settings: Settings,
        backend: str | None = None,
        conversation: Conversation | None = None,
    ) -> None:
        from .functions.context import FunctionContext

        self.settings = settings
        self.backend = backend
        self.registry: FunctionRegistry = (
            conversation.registry if conversation is not None else default_registry()
        )
        if ROUTE in self.registry:
            raise ConfigurationError(
                f"No function may be called {ROUTE!r}: over MCP that is the router's tool."
            )
        self.ctx: FunctionContext = (
            conversation.ctx if conversation is not None else FunctionContext(settings=settings)
        )
        self._router: Router | None = conversation.router if conversation is not None else None
        self._owns_ctx = conversation is None
        self._load_lock = threading.Lock()
        self.tools: list[types.Tool] = []
        for spec in self.registry:
            declared = spec.tool_schema()["function"]
            self.tools.append(_tool(declared["name"], declared["description"],
                                    declared["parameters"], changes_state=spec.changes_state))
        self.tools.append(_tool(ROUTE, ROUTE_DESCRIPTION, ROUTE_SCHEMA, changes_state=True))
        self._schemas = {t.name: t.input_schema for t in self.tools}

    def router(self) -> Router:
        """The router, loading the model the first time (a few seconds, embedded)."""
        with self._load_lock:
            if self._router is None:
                from .factory import make_backends, make_router

                try:
                    backends = make_backends(self.settings, self.backend)
                except (BackendUnavailable, ConfigurationError) as exc:  # as the CLI says it
                    raise BackendUnavailable(
                        f"no model backend is available: {exc.message} "
                        "(`funcgemma doctor` shows what was tried)"
                    ) from exc
                log.info("MCP route: backend %s (%s)", backends.kind, backends.reason)
                self._router = make_router(backends, self.registry, self.settings)
            return self._router

    def close(self) -> None:
        if self._owns_ctx:
            self.ctx.close()

    def server(self) -> Server[Any]:
        async def list_tools(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return types.ListToolsResult(tools=list(self.tools))

        async def call_tool(
            ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            # handlers and the router block (SQLite, HTTP, the model): off the event loop
            return await anyio.to_thread.run_sync(self.call, params.name, params.arguments or {})

        from . import __version__

        return Server(
            "funcgemma",
            version=__version__,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            get_tool_input_schema=self._schemas.get,
            instructions="Local functions (reminders, weather, translation, ...) "
            "and a router that picks one for a free-text request.",
        )

    def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """One ``tools/call``; never raises for anything a client or a model can cause."""
        try:
            if name == ROUTE:
                return self._route(arguments)
            if name not in self.registry:
                return _error(
                    f"No tool named {name[:64]!r}; tools/list names them: "
                    f"{', '.join([*self.registry.names, ROUTE])}."
                )
            lang = language_of(" ".join(v for v in arguments.values() if isinstance(v, str)))
            outcome = self._run(self.registry.get(name), arguments, lang)
            result = outcome.get("result")
            content: list[types.ContentBlock] = (
                [types.TextContent(text=_as_json(result))] if result is not None else []
            )
            return types.CallToolResult(
                content=content + self._lines(outcome),
                is_error="error" in outcome,
                structured_content=None if result is None else json.loads(_as_json(result)),
            )
        except FuncgemmaError as exc:
            return _error(f"{name}: {exc.message}")

    def _run(self, spec: FunctionSpec, arguments: dict[str, Any], lang: str) -> dict[str, Any]:
        """{"name", "result", "notice"}, or with "error" when it could not be done; a
        failing handler never raises."""
        fields = spec.params.model_fields
        unknown = sorted(set(arguments) - set(fields))
        if unknown:  # a misspelt name would otherwise be dropped without a word
            return {
                "name": spec.name,
                "error": f"{spec.name}: unknown argument(s) "
                f"{', '.join(unknown)[:200]}; it takes {', '.join(sorted(fields))}.",
            }
        try:
            params = spec.params.model_validate(arguments)
        except ValidationError as exc:
            return {"name": spec.name, "error": f"{spec.name}: invalid arguments: {_describe(exc)}"}
        try:
            result = spec.handler(params, self.ctx)
        except Exception as exc:  # noqa: BLE001 - any handler failure is the tool's error
            log.warning("function %s failed: %s: %s", spec.name, type(exc).__name__, exc)
            log.debug("function %s failed", spec.name, exc_info=True)
            why = exc.message if isinstance(exc, FuncgemmaError) else type(exc).__name__
            return {"name": spec.name, "error": f"{spec.name} failed: {why}"}
        if isinstance(result, Failed):  # could not do it: the result says why
            return {
                "name": spec.name,
                "result": result.payload(),
                "error": in_language(result.message, lang),
            }
        if not isinstance(result, Done):
            log.warning("function %s returned %s, not results.Done or Failed", spec.name,
                        type(result).__name__)
            return {"name": spec.name, "error": f"{spec.name} failed: TypeError"}
        notice = None if result.notice is None else in_language(result.notice, lang)
        return {"name": spec.name, "result": result.payload(), "notice": notice}

    @staticmethod
    def _lines(outcome: dict[str, Any]) -> list[types.ContentBlock]:
        """What the function said beyond its result: why it failed, or its notice."""
        return [
            types.TextContent(text=str(line))
            for line in (outcome.get("error"), outcome.get("notice"))
            if line
        ]

    def _route(self, arguments: dict[str, Any]) -> types.CallToolResult:
        text, run = arguments.get("text"), arguments.get("run", False)
        if not isinstance(text, str):
            return _error("route: `text` (a string, the request to route) is required.")
        if not isinstance(run, bool):
            return _error("route: `run` must be true or false.")
        unknown = sorted(set(arguments) - {"text", "run"})
        if unknown:
            return _error(
                f"route: unknown argument(s) {', '.join(unknown)[:200]}; it takes text and run."
            )
        route = self.router().route(text)
        routed = route.model_dump(mode="json")
        if not run:
            return types.CallToolResult(
                content=[types.TextContent(text=_as_json(routed))], structured_content=routed
            )
        lang = language_of(text)
        outcomes = [self._run(self.registry.get(c.name), c.arguments, lang) for c in route.calls]
        body = {"route": routed, "results": outcomes}
        content: list[types.ContentBlock] = [types.TextContent(text=_as_json(body))]
        for outcome in outcomes:
            content += self._lines(outcome)
        failed = bool(outcomes) and all("error" in o for o in outcomes)
        return types.CallToolResult(
            content=content, structured_content=json.loads(_as_json(body)), is_error=failed
        )


def serve_stdio(tools: FuncgemmaMCP) -> None:
    """Serve over this process's stdin/stdout (the SDK points fd 1 at stderr meanwhile, so
    nothing else can write on the wire)."""
    from mcp.server.stdio import stdio_server

    server = tools.server()

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def _guarded(app: ASGIApp, settings: Settings, bind_host: str) -> ASGIApp:
    """``app`` behind the HTTP API's browser checks, plus: a disallowed Origin is refused on
    every method (MCP's GET opens a stream), and the bearer token when FUNCGEMMA_API_KEY is
    set."""
    from starlette.datastructures import Headers

    from .api.browser import BrowserGuard, OriginList, is_loopback
    from .api.errors import error_response

    origins, key = OriginList(settings.origin_patterns), settings.api_key

    def refusal(headers: Headers) -> FuncgemmaError | None:
        origin = headers.get("origin")
        if origin is not None and not origins.allows(origin):
            return ForbiddenOrigin(
                f"Requests from web pages at {origin[:80]!r} are not "
                "allowed; add the origin to FUNCGEMMA_ORIGINS to allow them."
            )
        sent = headers.get("authorization", "")
        token = sent[7:] if sent.lower().startswith("bearer ") else ""
        if key and not hmac.compare_digest(token.encode(), key.encode()):
            return Unauthorized("Missing or wrong bearer token (FUNCGEMMA_API_KEY).")
        return None

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(Headers(scope=scope)) if scope["type"] == "http" else None
        if refused is not None:
            await error_response(refused)(scope, receive, send)
        else:
            await app(scope, receive, send)

    return BrowserGuard(guard, origins=settings.origin_patterns, check_host=is_loopback(bind_host))


def http_app(tools: FuncgemmaMCP, host: str) -> ASGIApp:
    """The streamable HTTP app (MCP at ``/mcp``), guarded as the HTTP API is."""
    from mcp.server.transport_security import TransportSecuritySettings

    app = tools.server().streamable_http_app(
        streamable_http_path="/mcp",
        host=host,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return _guarded(app, tools.settings, host)


def serve_http(tools: FuncgemmaMCP, host: str, port: int) -> None:
    import uvicorn

    from .api.app import UVICORN

    uvicorn.run(http_app(tools, host), host=host, port=port, log_level="warning", **UVICORN)


__all__ = ["ROUTE", "FuncgemmaMCP", "http_app", "serve_http", "serve_stdio"]
