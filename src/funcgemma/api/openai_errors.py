"""Errors on /v1 in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

funcgemma raises its own errors everywhere (funcgemma.errors); under /v1 one middleware,
OpenAIErrors, rewrites every error answer into OpenAI's shape as it leaves, so those of
the bearer-token check, the origin guard and the body limit (answered before any route
runs) have it too. A 422 becomes OpenAI's 400; ``code`` is funcgemma's code; the header
``x-should-retry`` carries funcgemma's ``retryable``, which OpenAI's clients read before
retrying a 5xx (a greedy router's unusable output is not worth asking for again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from ..errors import InvalidRequest

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class OpenAIInvalid(InvalidRequest):
    """An invalid request, naming the field it is about (OpenAI's ``param``)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "retryable": self.retryable,
                "param": self.param,
            }
        }


def openai_error(body: Any, status: int) -> tuple[int, dict[str, Any]] | None:
    """funcgemma's error body as OpenAI's (status, body); None if ``body`` is not one."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(error.get("message"), str):
        return None
    status = 400 if status == 422 else status
    kind = _TYPES.get(status) or ("invalid_request_error" if status < 500 else "server_error")
    return status, {
        "error": {
            "message": error["message"],
            "type": kind,
            "param": error.get("param"),
            "code": error.get("code"),
        }
    }


class OpenAIErrors:
    """Every error answered under /v1 in OpenAI's shape (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        held: ASGIMessage | None = None
        body = bytearray()

        async def translated(message: ASGIMessage) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message  # an error: sent once its whole body is here
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            start, payload = _rewritten(held, bytes(body))
            await send(start)
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, translated)


def _rewritten(start: ASGIMessage, body: bytes) -> tuple[ASGIMessage, bytes]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return start, body
    found = openai_error(parsed, start["status"])
    if found is None:
        return start, body
    status, shaped = found
    payload = json.dumps(shaped, ensure_ascii=False).encode()
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    headers["content-length"] = str(len(payload))
    headers["content-type"] = "application/json"
    retryable = parsed["error"].get("retryable")
    if isinstance(retryable, bool):  # OpenAI's clients read it before retrying a 5xx
        headers["x-should-retry"] = "true" if retryable else "false"
    return {**start, "status": status, "headers": headers.raw}, payload
