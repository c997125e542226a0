"""create_app(): the FastAPI application. Routes hold no business logic."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..conversation import Conversation
from ..errors import FuncgemmaError, StorageUnavailable, TextTooLong, Unauthorized
from ..router import Router
from ..settings import Settings
from .browser import BrowserGuard, is_loopback
from .errors import error_response, install_error_handlers

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


@dataclass
class Service:
    conversation: Conversation
    settings: Settings
    backend_kind: str
    backend_reason: str
    # the address `serve` listens on; on a loopback one only loopback Host headers are
    # answered (DNS rebinding). None (an app built in-process, tests): not checked.
    bind_host: str | None = None

    @property
    def router(self) -> Router:
        """The router /route serves (the conversation's: one model, one registry)."""
        return self.conversation.router

    def backend_state(self) -> dict[str, tuple[bool, str]]:
        """Whether the router and chat models can serve now, and why not: each backend's
        own probe (Ollama's is cached for a few seconds, so polling it is cheap)."""
        conv = self.conversation
        return {"router": _probe(conv.router.backend), "chat": _probe(conv.chat)}


def _probe(backend: Any) -> tuple[bool, str]:
    ready = getattr(backend, "ready", None)
    if ready is None:  # a backend written before the probe existed serves when asked
        return True, "no readiness probe"
    try:
        ok, why = ready()
    except FuncgemmaError as exc:
        return False, exc.message
    return bool(ok), str(why)


class _BodyLimit:
    """Counts a request body's bytes as they arrive and stops at MAX_BODY_BYTES. The
    Content-Length check in ``guard`` cannot see a chunked body, which would otherwise be
    read whole and parsed before any limit applied. The 413 is raised from the read, so
    it gets the API's error shape like every other error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES:
                    raise HTTPException(413)  # FastAPI re-raises its own type from a body read
            return message

        await self.app(scope, counted, send)


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.conversation.close()

    app = FastAPI(
        lifespan=lifespan,
        title="funcgemma",
        version="0.1.0",
        description="Local function routing (FunctionGemma) and chat. Errors are "
        '`{"error": {"code", "message", "retryable"}}`.',
    )
    app.state.service = service
    install_error_handlers(app)

    @app.exception_handler(StorageUnavailable)
    async def _storage(request: Request, exc: StorageUnavailable) -> JSONResponse:
        # the client's message names no file; the log has the path (DatabaseUnusable)
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return error_response(exc)

    # inside `guard`: the 413 is raised in the route's own body read, not across the
    # task that BaseHTTPMiddleware runs the route in (which would wrap it)
    app.add_middleware(_BodyLimit)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        key = service.settings.api_key
        if key:
            sent = request.headers.get("authorization", "")
            token = sent[7:] if sent.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(token.encode(), key.encode()):
                return error_response(
                    Unauthorized("Missing or wrong bearer token (FUNCGEMMA_API_KEY).")
                )
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return error_response(TextTooLong(f"Request body over {MAX_BODY_BYTES} bytes."))
        return await call_next(request)

    # outermost: a browser's preflight carries no bearer token, and a page that may not
    # use the API is refused before anything else runs
    app.add_middleware(
        BrowserGuard, origins=service.settings.origin_patterns,
        check_host=service.bind_host is not None and is_loopback(service.bind_host))

    from ..plugins import function_hooks
    from .openai_compat import install as install_openai
    from .routes import health_router, router

    app.include_router(router)
    for hooks in function_hooks(service.conversation.registry):  # a function's own routes
        if hooks.routes is not None:
            app.include_router(hooks.routes(service))
    app.include_router(health_router)
    install_openai(app)  # /v1 (OpenAI's shapes), its error shape around every middleware
    return app


# How uvicorn serves funcgemma, whatever else is installed (ray[serve] brings uvloop,
# httptools and websockets, which uvicorn would otherwise pick up): the HTTP/1.1 parser and
# event loop the suite tests, and no WebSocket support (no route uses it)
UVICORN: dict[str, Any] = {"http": "h11", "loop": "asyncio", "ws": "none"}

# `funcgemma serve --workers N`: what the parent chose for its workers, as JSON
# {"host", "reason", "log_level", "failed": a file a worker that cannot start writes
# its reason to, so the parent exits 1}; the backend itself goes in FUNCGEMMA_BACKEND
WORKER_ENV = "FUNCGEMMA_SERVE_WORKER"
# uvicorn's exit status for a worker that could not start: its supervisor then stops
# instead of starting the worker again and again (uvicorn.config.STARTUP_FAILURE)
STARTUP_FAILURE = 3


def from_environment() -> FastAPI:
    """The app one worker of `funcgemma serve --workers N` serves (uvicorn imports it by
    name, ``funcgemma.api.app:from_environment``, in each worker process): settings from
    the environment, the backend the parent chose, and its own models. Run under uvicorn
    by hand, it answers as a loopback server unless FUNCGEMMA_SERVE_WORKER names the
    host (see cli._serve)."""
    import json
    import os
    import sys

    from pydantic import ValidationError

    from ..conversation import build_conversation
    from ..settings import describe_invalid, get_settings

    try:
        worker = json.loads(os.environ.get(WORKER_ENV) or "{}")
    except ValueError:
        worker = None
    if not isinstance(worker, dict):
        worker = {}
    level = worker.get("log_level")
    # one line per worker and request: the process id tells the workers apart
    logging.basicConfig(level=level if isinstance(level, int) else logging.WARNING,
                        format="%(levelname)s %(name)s [%(process)d]: %(message)s")
    try:
        settings = get_settings()
        conversation, kind, reason = build_conversation(settings)
    except (ValidationError, FuncgemmaError) as exc:  # the same in every worker
        why = (f"invalid setting: {describe_invalid(exc)}" if isinstance(exc, ValidationError)
               else exc.message)
        log.error("funcgemma: this worker cannot start: %s", why)
        failed = worker.get("failed")
        if isinstance(failed, str):
            with contextlib.suppress(OSError), open(failed, "a", encoding="utf-8") as out:
                out.write(why + "\n")
        sys.exit(STARTUP_FAILURE)
    host = worker.get("host")
    reason = worker.get("reason") or reason
    service = Service(conversation, settings, kind, str(reason),
                      bind_host=host if isinstance(host, str) else "127.0.0.1")
    return create_app(service)
