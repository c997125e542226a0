"""create_app(): the FastAPI application. Routes hold no business logic."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response

from ..conversation import Conversation
from ..errors import TextTooLong, Unauthorized
from ..settings import Settings
from .errors import error_response, install_error_handlers

MAX_BODY_BYTES = 1_000_000


@dataclass
class Service:
    conversation: Conversation
    settings: Settings
    backend_kind: str
    backend_reason: str


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

    from .routes import router

    app.include_router(router)
    return app

