"""A fake Ollama server speaking Ollama's exact JSON, for tests (stdlib only).

A real HTTP server on 127.0.0.1 in a background thread: `POST /api/chat` and
`POST /api/generate` (one JSON object, or NDJSON chunks when ``stream`` is true,
Ollama's default; generate also with ``logprobs``/``top_logprobs``), `GET /api/tags`,
`GET /api/ps`, `GET /api/version`, and Ollama's error bodies ``{"error": "..."}``
(404 for a model it lacks; 400 for a bad body, which includes a ``keep_alive`` string
that is not a Go duration, such as "-1"). Every response validates against
Ollama's own OpenAPI description (tests/data/ollama-openapi.yaml; checked as
test_backend_ollama.py's `serve` fixture tears down), except ``Reply(body=...)``,
which exists to be broken.

A test scripts the model with a function from the request JSON to a `Reply`; the named
`SCENARIOS` reproduce what Ollama (>= 0.13.5, ``PARSER functiongemma``) really does to
FunctionGemma's output: a call that fails its regex comes back with an empty name and
its text lost; a call cut off by ``num_predict`` is dropped (``done_reason "length"``);
names and arguments are passed through unvalidated, numbers as the model wrote them.

    with FakeOllama.from_scenario("native") as fake:
        client = ollama.Client(host=fake.url)

Or as a process, for end-to-end tests:  python tests/fake_ollama.py --port N --scenario e2e
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

VERSION = "0.13.5"
ROUTER_MODEL = "functiongemma"
CHAT_MODEL = "gemma3:4b"
CHAT_TEXT = "Here is what I found. Enjoy your day!"
NO_CALL_TEXT = "I cannot help with that using the available functions."
SC, EC, ESC = "<start_function_call>", "<end_function_call>", "<escape>"


@dataclass(frozen=True)
class Model:
    """One entry of /api/tags (and of /api/ps when loaded)."""

    name: str  # as Ollama lists it, with its tag: "functiongemma:latest"
    size: int
    family: str = "gemma3"
    parameter_size: str = "268.10M"
    quantization_level: str = "Q8_0"
    size_vram: int = 0

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


DEFAULT_MODELS = (
    Model("functiongemma:latest", 300_849_008, parameter_size="268.10M"),
    Model("gemma3:4b", 3_338_801_804, parameter_size="4.3B", quantization_level="Q4_K_M"),
)


def _full_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


@dataclass(frozen=True)
class Call:
    """A tool call as Ollama's parser hands it on: name and arguments unvalidated."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def call(name: str, **arguments: Any) -> Call:
    return Call(name, arguments)


@dataclass(frozen=True)
class Reply:
    """What the fake model does with one /api/chat request."""

    content: str = ""
    tool_calls: Sequence[Call] = ()
    done_reason: str = "stop"
    status: int = 200
    error: str | None = None  # answer {"error": error} with `status` instead
    delay_s: float = 0.0  # wait this long before answering (a slow or stuck model)
    body: bytes | None = None  # send these bytes as the 200 JSON body (malformed JSON)
    stream_error: str | None = None  # streamed: an {"error"} line after the content
    eval_count: int | None = None
    # /api/generate with logprobs: one entry per generated token, as `logprob(...)` makes
    logprobs: Sequence[dict[str, Any]] = ()


Script = Callable[[dict[str, Any]], Reply]


@dataclass
class Exchange:
    """One request the fake received and everything it sent back."""

    method: str
    path: str
    request_body: bytes
    status: int = 0
    content_type: str = ""
    body: bytes = b""  # NDJSON lines joined, for streams

    @property
    def request_json(self) -> Any:
        try:
            return json.loads(self.request_body) if self.request_body else None
        except ValueError:
            return None

    @property
    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def last_user_text(request: dict[str, Any]) -> str:
    users = [m.get("content") or "" for m in request.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def logprob(token: str, value: float, *alternatives: tuple[str, float]) -> dict[str, Any]:
    """One generated token's log-probability entry, as Ollama sends it: the chosen token
    and, in ``top_logprobs``, the most likely tokens at that position (chosen included)."""
    def entry(tok: str, lp: float) -> dict[str, Any]:
        return {"token": tok, "logprob": lp, "bytes": list(tok.encode())}

    top = sorted([(token, value), *alternatives], key=lambda kv: -kv[1])
    return {**entry(token, value), "top_logprobs": [entry(t, v) for t, v in top]}


# Go's time.ParseDuration, which Ollama's api.Duration applies to a string keep_alive
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


def keep_alive_error(value: Any) -> str | None:
    """Ollama's error for a ``keep_alive`` it cannot read, else None. A number is seconds
    (negative: for ever); a string must be a Go duration, so "-1" or "3600" is refused."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None
    if not isinstance(value, str):
        return f"Unsupported type: '{type(value).__name__}'"
    if _GO_DURATION.fullmatch(value):
        return None
    if re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)", value):
        return f'time: missing unit in duration "{value}"'
    return f'time: invalid duration "{value}"'


def num_predict(request: dict[str, Any]) -> int:
    return int((request.get("options") or {}).get("num_predict", 128))


class ThreadedServer:
    """A fake's HTTP server (``self._server``) answering on a daemon thread; the fakes of
    Ollama, Wikipedia and OpenAI-compatible servers share this lifecycle. ``_stopping`` is
    set first, so that a slow reply in progress is cut short."""

    _server: ThreadingHTTPServer
    _stopping: threading.Event
    _thread: threading.Thread | None

    def _listen(self, server: type[ThreadingHTTPServer], handler: type[BaseHTTPRequestHandler],
                host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind ``server`` with ``handler`` (which reaches this fake as ``server.fake``),
        with the lock and the records every fake keeps, not yet answering."""
        self.exchanges: list[Any] = []
        self.errors: list[BaseException] = []  # crashes inside the fake itself
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = server((host, port), handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = None

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeOllama(ThreadedServer):
    def __init__(
        self,
        script: Script | None = None,
        *,
        models: Sequence[Model] = DEFAULT_MODELS,
        loaded: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script: Script = script or (lambda request: Reply(content=CHAT_TEXT))
        self.models = list(models)
        self.loaded = list(loaded)  # names shown by /api/ps
        self._listen(_Server, _Handler, host, port)

    @classmethod
    def from_scenario(cls, name: str, **kwargs: Any) -> FakeOllama:
        scenario = SCENARIOS[name]
        kwargs.setdefault("models", scenario.models)
        kwargs.setdefault("loaded", scenario.loaded)
        return cls(scenario.script, **kwargs)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.request_json for e in self.exchanges if e.path == "/api/chat"]

    def problems(self, *, requests: bool = True) -> list[str]:
        """Every way the traffic so far strayed from Ollama's API description: the fake's
        responses, and (``requests``) what the client sent. [] when all conforms."""
        with self._lock:
            exchanges = list(self.exchanges)
        found = [repr(e) for e in self.errors]
        for ex in exchanges:
            found += response_problems(ex)
            if requests:
                found += request_problems(ex)
        return found

    def has_model(self, name: str) -> bool:
        return any(_full_name(name) == m.name for m in self.models)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # --- response bodies, shaped as Ollama's Go types marshal them -------------------
    def tags_body(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "modified_at": "2025-12-18T10:02:41.372091+09:00",
                    "size": m.size,
                    "digest": m.digest,
                    "details": self._details(m),
                }
                for m in self.models
            ]
        }

    def ps_body(self) -> dict[str, Any]:
        expires = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
        running = [m for m in self.models if any(_full_name(n) == m.name for n in self.loaded)]
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "size": m.size,
                    "digest": m.digest,
                    "details": self._details(m),
                    "expires_at": expires,
                    "size_vram": m.size_vram,
                    "context_length": 4096,
                }
                for m in running
            ]
        }

    @staticmethod
    def _details(m: Model) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": m.family,
            "families": [m.family],
            "parameter_size": m.parameter_size,
            "quantization_level": m.quantization_level,
        }


def _wire_calls(calls: Sequence[Call]) -> list[dict[str, Any]]:
    # Ollama >= 0.12: an id on every call, `index` counting calls within the reply.
    return [
        {
            "id": f"call_{secrets.token_hex(4)}",
            "function": {"index": i, "name": c.name, "arguments": dict(c.arguments)},
        }
        for i, c in enumerate(calls)
    ]


def _metrics(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    prompt = (json.dumps(request.get("messages", [])) + json.dumps(request.get("tools") or [])
              + str(request.get("prompt") or ""))
    evals = (
        reply.eval_count
        if reply.eval_count is not None
        else (max(1, len(reply.content.split())) + 24 * len(reply.tool_calls))
    )
    prompt_tokens = max(1, len(prompt) // 4)
    return {
        "total_duration": 120_000_000 + evals * 9_000_000,
        "load_duration": 41_000_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_tokens * 150_000,
        "eval_count": evals,
        "eval_duration": evals * 9_000_000,
    }


def _chunks(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up first (timeout): what a real server sees too
        if exc is not None:
            self.fake.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("HEAD")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        ex = Exchange(method, self.path.split("?")[0], self.rfile.read(length) if length else b"")
        fake.record(ex)
        if method == "GET" and ex.path == "/api/tags":
            self._send(ex, 200, fake.tags_body())
        elif method == "GET" and ex.path == "/api/ps":
            self._send(ex, 200, fake.ps_body())
        elif method == "GET" and ex.path == "/api/version":
            self._send(ex, 200, {"version": VERSION})
        elif method in ("GET", "HEAD") and ex.path == "/":
            self._send(ex, 200, b"Ollama is running", "text/plain; charset=utf-8")
        elif method == "POST" and ex.path == "/api/chat":
            self._chat(ex)
        elif method == "POST" and ex.path == "/api/generate":
            self._generate(ex)
        else:
            self._send(ex, 404, b"404 page not found", "text/plain")

    def _chat(self, ex: Exchange) -> None:
        fake = self.server.fake
        request = self._request(ex, "ChatRequest")
        if request is None:
            return None
        model = request["model"]
        reply = fake.script(request)
        if reply.delay_s and fake._stopping.wait(reply.delay_s):
            self.close_connection = True
            return None  # stopped while "generating": drop the connection
        if reply.error is not None:
            return self._send(ex, reply.status, {"error": reply.error})
        if reply.body is not None:
            return self._send(ex, reply.status, reply.body)
        head = {"model": model, "created_at": _now()}
        done = {"done": True, "done_reason": reply.done_reason, **_metrics(request, reply)}
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = _wire_calls(reply.tool_calls)
        if not request.get("stream", True):
            return self._send(ex, 200, {**head, "message": message, **done})
        events = [
            {**head, "message": {"role": "assistant", "content": piece}, "done": False}
            for piece in _chunks(reply.content)
        ]
        if reply.tool_calls:  # Ollama emits parsed calls in their own chunk
            events.append(
                {
                    **head,
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": message["tool_calls"],
                    },
                    "done": False,
                }
            )
        if reply.stream_error is not None:
            events.append({"error": reply.stream_error})
        else:
            events.append(
                {
                    "model": model,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": ""},
                    **done,
                }
            )
        self._stream(ex, events)
        return None

    def _request(self, ex: Exchange, kind: str) -> dict[str, Any] | None:
        """The request body, or None after answering Ollama's error for a bad one."""
        fake = self.server.fake
        try:
            request = json.loads(ex.request_body)
        except ValueError:
            self._send(ex, 400, {"error": "invalid character looking for beginning of value"})
            return None
        if not isinstance(request, dict):
            self._send(ex, 400, {"error": f"json: cannot unmarshal into api.{kind}"})
            return None
        bad_keep_alive = keep_alive_error(request.get("keep_alive"))
        if bad_keep_alive:  # api.Duration fails to unmarshal: the whole body is refused
            self._send(ex, 400, {"error": bad_keep_alive})
            return None
        model = request.get("model")
        if not model:
            self._send(ex, 400, {"error": "model is required"})
            return None
        if not fake.has_model(model):
            self._send(ex, 404, {"error": f"model '{model}' not found"})
            return None
        return request

    def _generate(self, ex: Exchange) -> None:
        fake = self.server.fake
        request = self._request(ex, "GenerateRequest")
        if request is None:
            return None
        reply = fake.script(request)
        if reply.delay_s and fake._stopping.wait(reply.delay_s):
            self.close_connection = True
            return None
        if reply.error is not None:
            return self._send(ex, reply.status, {"error": reply.error})
        head = {"model": request["model"], "created_at": _now()}
        done = {"done": True, "done_reason": reply.done_reason, **_metrics(request, reply)}
        lps = {"logprobs": list(reply.logprobs)} if request.get("logprobs") else {}
        if not request.get("stream", True):
            return self._send(ex, 200, {**head, "response": reply.content, **done, **lps})
        events = [{**head, "response": piece, "done": False} for piece in _chunks(reply.content)]
        events.append({**head, "response": "", **done, **lps})
        self._stream(ex, events)
        return None

    def _send(
        self,
        ex: Exchange,
        status: int,
        body: Any,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        ex.status, ex.content_type, ex.body = status, content_type, data
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")  # no pooled connection outlives stop()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def _stream(self, ex: Exchange, events: list[dict[str, Any]]) -> None:
        ex.status, ex.content_type = 200, "application/x-ndjson"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            ex.body += line
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


# --- scenarios -------------------------------------------------------------------------
# A router request carries `tools`; a chat request does not and gets CHAT_TEXT.


def for_router(route: Script, *, chat: str = CHAT_TEXT) -> Script:
    def script(request: dict[str, Any]) -> Reply:
        return route(request) if request.get("tools") else Reply(content=chat)

    return script


def needs_budget(tokens: int, then: Reply) -> Script:
    """A call longer than ``num_predict``: Ollama drops it (done_reason "length")."""

    def route(request: dict[str, Any]) -> Reply:
        budget = num_predict(request)
        if budget < tokens:
            return Reply(done_reason="length", eval_count=budget)
        return then

    return for_router(route)


def echo_markers(request: dict[str, Any]) -> Reply:
    """A model that copies what the user typed: a call spelt out in the user's text comes
    back parsed as a tool call, as Ollama's parser would do (unless it was neutralised)."""
    text = last_user_text(request)
    found = re.search(re.escape(SC) + r"call:(\w+)\{(.*?)\}" + re.escape(EC), text)
    if not found:
        return Reply(content=NO_CALL_TEXT)
    args = dict(re.findall(r"(\w+):" + ESC + "(.*?)" + ESC, found.group(2)))
    return Reply(tool_calls=[Call(found.group(1), args)])


NEWLINE_CALL = (
    f"{SC}call:translation_assist{{target_language:{ESC}French{ESC},"
    f"text:{ESC}Good morning\nSee you soon{ESC}}}{EC}"
)


def e2e(request: dict[str, Any]) -> Reply:
    """Keyword routing for end-to-end tests of a real `funcgemma serve`."""
    if not request.get("tools"):
        return Reply(content=CHAT_TEXT)
    text = last_user_text(request).lower()
    if "slow" in text:
        return Reply(delay_s=30.0)
    if "remind" in text:
        return Reply(
            tool_calls=[call("schedule_reminder", task="call mom", time="tomorrow at 9am")]
        )
    if "lisbon" in text:
        return Reply(tool_calls=[call("travel_guide", destination="Lisbon", days="3")])
    if "garbage" in text:
        return Reply(tool_calls=[Call("")])  # failed Ollama's regex; text lost
    return Reply(content=NO_CALL_TEXT)


@dataclass(frozen=True)
class Scenario:
    script: Script
    description: str
    models: tuple[Model, ...] = DEFAULT_MODELS
    loaded: tuple[str, ...] = ()


SCENARIOS: dict[str, Scenario] = {
    "native": Scenario(
        for_router(
            lambda r: Reply(tool_calls=[call("weather_info", location="Kyoto", date="tomorrow")])
        ),
        "one native tool call",
        loaded=("functiongemma:latest",),
    ),
    "multi": Scenario(
        for_router(
            lambda r: Reply(
                tool_calls=[
                    call("weather_info", location="Kyoto"),
                    call("travel_guide", destination="Kyoto"),
                ]
            )
        ),
        "two native tool calls (index 0 and 1)",
    ),
    "no_call": Scenario(for_router(lambda r: Reply(content=NO_CALL_TEXT)), "plain text, no call"),
    "empty_name": Scenario(
        for_router(lambda r: Reply(tool_calls=[Call("")])),
        "a call that failed Ollama's regex: empty name, raw text lost",
    ),
    "empty_name_kept": Scenario(
        for_router(lambda r: Reply(content=NEWLINE_CALL, tool_calls=[Call("")])),
        "empty name, raw call text kept in content",
    ),
    "truncated": Scenario(
        needs_budget(10_000, Reply()), "every call is cut off by num_predict and dropped"
    ),
    "needs_budget": Scenario(
        needs_budget(
            200,
            Reply(
                tool_calls=[
                    call(
                        "translation_assist",
                        text="A long letter to translate",
                        target_language="German",
                    )
                ]
            ),
        ),
        "a call that needs more than 128 tokens",
    ),
    "unknown_name": Scenario(
        for_router(lambda r: Reply(tool_calls=[call("get_stock_price", symbol="GOOG")])),
        "a name that is not registered",
    ),
    "unknown_and_valid": Scenario(
        for_router(
            lambda r: Reply(
                tool_calls=[
                    call("get_stock_price", symbol="GOOG"),
                    call("weather_info", location="Oslo"),
                ]
            )
        ),
        "an unregistered name beside a valid call",
    ),
    "wrong_types": Scenario(
        for_router(
            lambda r: Reply(tool_calls=[call("travel_guide", destination="Lisbon", days="three")])
        ),
        "arguments of wrong type",
    ),
    "wrong_required_type": Scenario(
        for_router(
            lambda r: Reply(tool_calls=[call("travel_guide", destination=["Lisbon"], days=3)])
        ),
        "a required argument of the wrong type",
    ),
    "string_numbers": Scenario(
        for_router(
            lambda r: Reply(
                tool_calls=[
                    call(
                        "shopping_intent",
                        item="HDMI cable",
                        quantity="2",
                        budget="20",
                        currency="usd",
                    )
                ]
            )
        ),
        "numbers arriving as strings",
    ),
    "echo": Scenario(for_router(echo_markers), "copies calls typed by the user"),
    "slow": Scenario(
        lambda r: Reply(content=CHAT_TEXT, delay_s=30.0),
        "answers after 30 s (longer than any client timeout in the tests)",
    ),
    "http_500": Scenario(
        lambda r: Reply(status=500, error="llama runner process has terminated: signal: killed"),
        "HTTP 500",
    ),
    "busy": Scenario(
        lambda r: Reply(
            status=503,
            error="server busy, please try again.  maximum pending requests exceeded",
        ),
        "HTTP 503: more than OLLAMA_MAX_QUEUE requests waiting",
    ),
    "no_tools": Scenario(
        lambda r: Reply(
            status=400, error=f"registry.ollama.ai/library/{r['model']} does not support tools"
        ),
        "HTTP 400: a model without tool support asked with tools",
    ),
    "malformed": Scenario(
        lambda r: Reply(body=b'{"model": "functiongemma", "message": {'),
        "a 200 whose body is not JSON",
    ),
    "stream_error": Scenario(
        lambda r: Reply(
            content=CHAT_TEXT, stream_error="an error was encountered while running the model"
        ),
        "a stream that ends with an error line",
    ),
    "no_models": Scenario(
        lambda r: Reply(content=CHAT_TEXT), "Ollama without any model", models=()
    ),
    "e2e": Scenario(
        e2e, "keyword routing for end-to-end tests", loaded=("functiongemma:latest", "gemma3:4b")
    ),
}


# --- conformance with Ollama's own API description ------------------------------------
# tests/data/ollama-openapi.yaml is ollama/ollama's docs/openapi.yaml (commit fb30760,
# MIT). The validators are imported lazily: the server itself needs only the stdlib.
SPEC_PATH = Path(__file__).parent / "data" / "ollama-openapi.yaml"
SPEC_HOST = "http://localhost:11434"


@functools.lru_cache(maxsize=1)
def _spec() -> tuple[Any, dict[str, Any]]:
    import yaml
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC_PATH)), yaml.safe_load(SPEC_PATH.read_text())


def schema_problems(name: str, value: Any) -> list[str]:
    """``value`` against ``components.schemas[name]`` of the spec (formats checked)."""
    from openapi_schema_validator import OAS31Validator

    schema = {"$ref": f"#/components/schemas/{name}", "components": _spec()[1]["components"]}
    validator = OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)
    return [f"{name}: {e.message}" for e in validator.iter_errors(value)]


def _ollama_rules(event: dict[str, Any]) -> list[str]:
    """What Ollama's Go types guarantee beyond the spec (api.ToolCall, api.ChatResponse)."""
    problems = []
    for tc in (event.get("message") or {}).get("tool_calls") or ():
        fn = tc.get("function", {})
        if not isinstance(tc.get("id"), str) or not tc["id"]:
            problems.append(f"tool call without an id: {tc}")
        if not isinstance(fn.get("index"), int) or not isinstance(fn.get("arguments"), dict):
            problems.append(f"tool call without an int index and object arguments: {tc}")
    if event.get("done"):
        for key in (
            "done_reason",
            "total_duration",
            "load_duration",
            "prompt_eval_count",
            "prompt_eval_duration",
            "eval_count",
            "eval_duration",
        ):
            if key not in event:
                problems.append(f"final event without {key}")
    return problems


def _mock_request(ex: Exchange) -> Any:
    from openapi_core.testing import MockRequest

    return MockRequest(SPEC_HOST, ex.method.lower(), ex.path, data=ex.request_body or None)


def response_problems(ex: Exchange) -> list[str]:
    """Why the response in ``ex`` does not conform; [] when it does."""
    from openapi_core.testing import MockResponse

    if ex.status == 0 or ex.path not in _spec()[1]["paths"]:
        return []  # no answer was sent (dropped), or a path the spec does not describe
    if ex.content_type == "application/x-ndjson":
        problems = []
        for line in ex.body.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                return [f"stream line is not JSON: {line[:80]!r}"]
            if "error" in event:
                problems += schema_problems("ErrorResponse", event)
                continue
            kind = "Generate" if ex.path == "/api/generate" else "Chat"
            problems += schema_problems(f"{kind}StreamEvent", event) + _ollama_rules(event)
            if event.get("done"):  # the last event carries the whole response's fields
                problems += schema_problems(f"{kind}Response", event)
        return problems
    try:
        body = json.loads(ex.body)
    except ValueError:
        return [f"{ex.path} answered {ex.status} with a body that is not JSON"]
    if ex.status >= 400:
        missing = [] if isinstance(body.get("error"), str) else ["error body without `error`"]
        return missing + schema_problems("ErrorResponse", body)
    response = MockResponse(ex.body, status_code=ex.status, content_type="application/json")
    try:
        _spec()[0].validate_response(_mock_request(ex), response)
    except Exception as exc:  # noqa: BLE001 - any validation failure is a finding
        return [f"{ex.path}: {exc}"]
    return _ollama_rules(body)


def request_problems(ex: Exchange) -> list[str]:
    """Why the request a client sent in ``ex`` does not conform to the spec."""
    if ex.path not in _spec()[1]["paths"]:
        return [f"request to {ex.path}, which Ollama does not serve"]
    try:
        _spec()[0].validate_request(_mock_request(ex))
    except Exception as exc:  # noqa: BLE001 - any validation failure is a finding
        return [f"{ex.method} {ex.path}: {exc}"]
    return []


def free_port() -> int:
    """A port nothing listens on (bound, read and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fake Ollama server for funcgemma's tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11434)
    p.add_argument("--scenario", default="e2e", choices=sorted(SCENARIOS))
    args = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake = FakeOllama.from_scenario(args.scenario, host=args.host, port=args.port).start()
    print(f"fake ollama {VERSION} on {fake.url} ({args.scenario})", flush=True)
    while not stop.wait(0.2):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
