"""The one place where exceptions become HTTP responses ({"error": {...}})."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import FuncgemmaError, InvalidRequest, TextTooLong

log = logging.getLogger(__name__)


def error_response(exc: FuncgemmaError) -> JSONResponse:
    headers = {}
    if exc.status_code == 503:
        headers["Retry-After"] = str(exc.retry_after or 1)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


def _body(code: str, message: str, retryable: bool = False) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "retryable": retryable}}


def _clip(name: str, limit: int = 64) -> str:
    return name if len(name) <= limit else name[:limit] + "…"


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        # a field name is echoed back at most 64 characters long (a 900 KB unknown key
        # came back whole)
        loc = ".".join(_clip(str(p)) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        parts.append(f"`{loc or 'body'}`: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FuncgemmaError)
    async def _funcgemma(_: Request, exc: FuncgemmaError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_body("invalid_request", _describe_validation(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:  # the body limit, counted as the bytes arrive
            return error_response(TextTooLong("Request body over 1 MB."))
        if exc.status_code == 400:  # FastAPI could not parse the body at all
            return error_response(InvalidRequest(
                "The request body is not valid JSON (invalid UTF-8, or nested too deeply)."))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        body = _body("internal", "Internal error; see the server log.")
        return JSONResponse(body, status_code=500)
