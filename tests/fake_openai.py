"""A fake OpenAI-compatible server for tests (stdlib only), in the shapes vLLM,
llama-server and llama-cpp-python's server send.

A real HTTP server on 127.0.0.1 in a background thread: `GET /v1/models`,
`POST /v1/chat/completions` (with ``tools``; streamed as server-sent events when
``stream`` is true) and `POST /v1/completions` (streamed or not, with the completions
API's ``logprobs``: ``tokens``, ``token_logprobs``, ``top_logprobs``). Errors are
OpenAI's ``{"error": {"message", "type", "code"}}`` with the status a test asks for.

A test scripts the model with a function from the request JSON to a `Reply`:

    kyoto = tool_call("weather_info", '{"location": "Kyoto"}')
    with FakeOpenAI(lambda request: Reply(tool_calls=[kyoto])) as fake:
        client = openai.OpenAI(base_url=fake.url, api_key="none")

A completion is scripted as the tokens the model writes (`Token`); a special token the
server does not print is `Token("")`, as llama-cpp-python's server sends it. Stop strings
end the text as servers do: before the stop, with ``finish_reason`` "stop"; a reply
that runs to ``max_tokens`` ends with "length". The stream stops early when the client
closes it (``Exchange.tokens_sent`` says how many tokens went out).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fake_ollama import ThreadedServer

ROUTER_MODEL = "google/functiongemma-270m-it"
CHAT_MODEL = "google/gemma-3-4b-it"


@dataclass(frozen=True)
class Token:
    """One generated token: its text ("" for a special token the server does not print),
    its log-probability and the most likely tokens at its position (chosen included)."""

    text: str
    logprob: float = -0.01
    top: Sequence[tuple[str, float]] = ()


def tokens(*texts: str) -> list[Token]:
    return [Token(t) for t in texts]


def tool_call(name: str, arguments: str) -> dict[str, Any]:
    """A tool call as a server sends it: the arguments a JSON string (or not)."""
    return {"name": name, "arguments": arguments}


@dataclass(frozen=True)
class Reply:
    """What the fake model does with one request."""

    content: str = ""
    tool_calls: Sequence[dict[str, Any]] = ()
    completion: Sequence[Token] = ()  # /v1/completions: the tokens written
    finish_reason: str | None = None  # default: "tool_calls", "stop" or "length"
    status: int = 200
    error: str | None = None  # answer OpenAI's error body with `status` instead
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (a slow or stuck server)
    body: bytes | None = None  # send these bytes as the 200 JSON body (malformed JSON)
    token_delay_s: float = 0.0  # between streamed tokens


Script = Callable[[dict[str, Any]], Reply]


@dataclass
class Exchange:
    """One request the fake received, and how much of the reply went out."""

    method: str
    path: str
    headers: dict[str, str]
    request: Any
    status: int = 0
    tokens_sent: int = 0
    closed_early: bool = False


class FakeOpenAI(ThreadedServer):
    def __init__(
        self, script: Script | None = None, *, models: Sequence[str] = (ROUTER_MODEL, CHAT_MODEL)
    ) -> None:
        self.script: Script = script or (lambda request: Reply(content="Hello there."))
        self.models = list(models)
        self._listen(_Server, _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def requests(self, path: str) -> list[dict[str, Any]]:
        return [e.request for e in self.exchanges if e.path == f"/v1/{path}"]

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


def _error_body(status: int, message: str) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


def _cut(texts: list[str], stop: Sequence[str]) -> tuple[int, str | None]:
    """How many tokens go out before a stop string, and the partial text of the one that
    holds it (None: no stop string met)."""
    written = ""
    for i, text in enumerate(texts):
        for s in stop:
            if s and s in written + text:
                return i, (written + text)[: (written + text).index(s)][len(written) :]
        written += text
    return len(texts), None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        exchange = Exchange("GET", self.path, dict(self.headers), None, 200)
        self.fake._record(exchange)
        if self.path.rstrip("/") != "/v1/models":
            exchange.status = 404
            return self._send(404, _error_body(404, f"no route {self.path}"))
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.fake.models
        ]
        self._send(200, json.dumps({"object": "list", "data": data}).encode())

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        exchange = Exchange("POST", self.path, dict(self.headers), request)
        self.fake._record(exchange)
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            exchange.status = 404
            return self._send(404, _error_body(404, f"no route {self.path}"))
        try:
            reply = self.fake.script(request)
        except BaseException as exc:  # a broken test script, reported by the test
            self.fake.errors.append(exc)
            exchange.status = 500
            return self._send(500, _error_body(500, f"script failed: {exc!r}"))
        if reply.delay_s and self.fake._stopping.wait(reply.delay_s):
            return
        exchange.status = reply.status
        if reply.error is not None:
            return self._send(reply.status, _error_body(reply.status, reply.error), reply.headers)
        if reply.body is not None:
            return self._send(reply.status, reply.body, reply.headers)
        model = request.get("model") or ""
        if self.path == "/v1/chat/completions":
            self._chat(request, reply, model, exchange)
        else:
            self._completion(request, reply, model, exchange)

    # -- /v1/chat/completions ----------------------------------------------------
    def _chat(self, request: dict[str, Any], reply: Reply, model: str, exchange: Exchange) -> None:
        calls = [
            {"id": f"call_{i}", "type": "function", "function": dict(c)}
            for i, c in enumerate(reply.tool_calls)
        ]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        if request.get("stream"):
            pieces = [reply.content[i : i + 4] for i in range(0, len(reply.content), 4)]
            chunks = [{"role": "assistant", "content": p} for p in pieces]
            events = [
                self._chunk("chat.completion.chunk", model, {"delta": d, "finish_reason": None})
                for d in chunks
            ]
            events.append(
                self._chunk("chat.completion.chunk", model, {"delta": {}, "finish_reason": finish})
            )
            return self._stream(events, reply, exchange)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if calls:
            message["tool_calls"] = calls
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": 700,
                "completion_tokens": 12,
                "total_tokens": 712,
                "prompt_tokens_details": {"cached_tokens": 650},
            },
        }
        self._send(200, json.dumps(body).encode(), reply.headers)

    # -- /v1/completions ---------------------------------------------------------
    def _completion(
        self, request: dict[str, Any], reply: Reply, model: str, exchange: Exchange
    ) -> None:
        limit = int(request.get("max_tokens") or 16)
        written = list(reply.completion)[:limit]
        n, partial = _cut([t.text for t in written], request.get("stop") or [])
        finish = reply.finish_reason or (
            "stop" if partial is not None or len(written) < limit or n < len(written) else "length"
        )
        out = written[:n]
        want = request.get("logprobs")

        def logprobs(toks: Sequence[Token]) -> dict[str, Any] | None:
            if want is None:
                return None
            return {
                "tokens": [t.text for t in toks],
                "token_logprobs": [t.logprob for t in toks],
                "top_logprobs": [dict(t.top or [(t.text, t.logprob)]) for t in toks],
                "text_offset": [0 for _ in toks],
            }

        if request.get("stream"):
            events = [
                self._chunk(
                    "text_completion",
                    model,
                    {"text": t.text, "logprobs": logprobs([t]), "finish_reason": None},
                )
                for t in out
            ]
            if partial:
                events.append(
                    self._chunk(
                        "text_completion",
                        model,
                        {"text": partial, "logprobs": None, "finish_reason": None},
                    )
                )
            events.append(
                self._chunk(
                    "text_completion",
                    model,
                    {"text": "", "logprobs": None, "finish_reason": finish},
                )
            )
            return self._stream(events, reply, exchange, tokens=True)
        text = "".join(t.text for t in out) + (partial or "")
        body = {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "text": text, "logprobs": logprobs(out), "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": 700,
                "completion_tokens": len(out),
                "total_tokens": 700 + len(out),
            },
        }
        exchange.tokens_sent = len(out)
        self._send(200, json.dumps(body).encode(), reply.headers)

    @staticmethod
    def _chunk(kind: str, model: str, choice: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chunk-1",
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, **choice}],
        }

    def _stream(
        self, events: list[dict[str, Any]], reply: Reply, exchange: Exchange, tokens: bool = False
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        try:
            for event in events:
                if reply.token_delay_s and self.fake._stopping.wait(reply.token_delay_s):
                    return
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                if tokens and event["choices"][0].get("logprobs"):
                    exchange.tokens_sent += 1
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            exchange.closed_early = True
