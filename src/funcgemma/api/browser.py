"""What a web page in the user's browser may ask of the API, decided before anything runs.

With no API key (the default on 127.0.0.1) any page the user opens could otherwise use the
API: a form posted to a function's route changed what it stores, and one posted to /chat
ran functions. As Ollama guards its own API:

- a server bound to a loopback address takes only loopback Host headers (localhost,
  127.0.0.0/8, [::1], any port): a page whose own name was pointed at 127.0.0.1 (DNS
  rebinding) sends that name and gets 403 ``forbidden_host``;
- a state-changing request (POST, PUT, PATCH, DELETE) whose Origin is not allowed
  (FUNCGEMMA_ORIGINS, loopback pages by default) is 403 ``forbidden_origin``, whatever
  its content type or lack of body;
- a body not labelled as JSON (``application/json`` or ``+json``) is 415
  ``unsupported_media_type``: an HTML form cannot post one (FastAPI refused an unlabelled
  body already; a request with no body at all, `curl -X POST URL`, passes);
- CORS preflights are answered from the same list, and the answers to an allowed origin
  carry ``Access-Control-Allow-Origin``.

Clients that are not browsers (curl, SDKs) send no Origin and are not affected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import regex
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ForbiddenHost, ForbiddenOrigin, FuncgemmaError, UnsupportedMediaType
from .errors import error_response

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = ("Authorization, Content-Type, Idempotency-Key, Mcp-Session-Id, "
                 "Mcp-Protocol-Version, Last-Event-ID")
EXPOSE_HEADERS = "Retry-After, X-Route-Latency-Ms, Idempotent-Replayed, Mcp-Session-Id"
PREFLIGHT_MAX_AGE_S = 600
# a Host header: a name or an IPv4 address, or an IPv6 address in brackets; any port
_HOST = regex.compile(r"(?:\[(?P<ip6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]/@\s]+))(?::\d{0,5})?", regex.I)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this
    machine: localhost or a loopback address."""
    host = host.strip().removeprefix("[").removesuffix("]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_host_header(value: str) -> bool:
    """Whether a Host header names this machine (with any port)."""
    found = _HOST.fullmatch(value.strip())
    return found is not None and is_loopback(found["ip6"] or found["name"])


def _origin_pattern(pattern: str) -> regex.Pattern[str]:
    """An allowed origin (settings: scheme://host[:port]) as a regex: ``*`` in the host is
    any run of name characters ("http://*.example.com" takes "http://a.b.example.com"),
    ``:*`` any port; no port takes only the scheme's default one, as browsers omit it."""
    scheme, _, rest = pattern.partition("://")
    if rest.startswith("["):
        end = rest.index("]") + 1
        host, port = rest[:end], rest[end + 1 :] if rest[end : end + 1] == ":" else None
    else:
        host, sep, tail = rest.partition(":")
        port = tail if sep else None
    text = regex.escape(scheme) + "://" + regex.escape(host).replace(r"\*", r"[^/:\[\]@\s]*")
    if port == "*":
        text += r":\d{1,5}"
    elif port is not None:
        text += ":" + regex.escape(port)
    return regex.compile(text, regex.I)


class OriginList:
    """The origins whose pages may change state and read the answers."""

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = list(patterns)
        self.any = "*" in patterns
        self._patterns = [_origin_pattern(p) for p in patterns if p != "*"]

    def allows(self, origin: str) -> bool:
        origin = origin.strip()
        return self.any or any(p.fullmatch(origin) for p in self._patterns)


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "transfer-encoding" in headers


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class BrowserGuard:
    """Pure ASGI middleware, outside the API-key check: a preflight carries no token."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str], check_host: bool) -> None:
        self.app = app
        self.origins = OriginList(origins)
        self.check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        origin = headers.get("origin")
        allowed = origin is not None and self.origins.allows(origin)
        refusal = self._refusal(headers, method, origin, allowed)
        if refusal is not None:
            await self._answer(error_response(refusal), scope, receive, send, origin, allowed)
            return
        if method == "OPTIONS" and allowed and "access-control-request-method" in headers:
            preflight = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
                },
            )
            await self._answer(preflight, scope, receive, send, origin, allowed)
            return
        await self.app(scope, receive, self._with_cors(send, origin, allowed))

    def _refusal(
        self, headers: Headers, method: str, origin: str | None, allowed: bool
    ) -> FuncgemmaError | None:
        host = headers.get("host")
        if self.check_host and host is not None and not loopback_host_header(host):
            return ForbiddenHost(
                f"This server listens on a loopback address and answers only requests for "
                f"localhost, 127.0.0.1 or [::1], not {host[:80]!r} (a web page's own name "
                "pointed at this machine). Use http://127.0.0.1:PORT."
            )
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if origin is not None and not allowed and (method in STATE_CHANGING or preflight):
            return ForbiddenOrigin(
                f"Requests from web pages at {origin[:80]!r} are not allowed; add the "
                "origin to FUNCGEMMA_ORIGINS (comma-separated, e.g. https://app.example.com) "
                "to allow them."
            )
        content_type = headers.get("content-type", "")
        if method in STATE_CHANGING and _has_body(headers) and not _is_json(content_type):
            return UnsupportedMediaType(
                "The body must be JSON, sent with `Content-Type: application/json` (it was "
                f"{content_type[:64]!r})."
            )
        return None

    async def _answer(
        self,
        response: Response,
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: str | None,
        allowed: bool,
    ) -> None:
        await response(scope, receive, self._with_cors(send, origin, allowed))

    @staticmethod
    def _with_cors(send: Send, origin: str | None, allowed: bool) -> Send:
        if origin is None:
            return send

        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")  # the answer depends on the Origin sent
                if allowed:
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        return cors_send
