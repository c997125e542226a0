"""OllamaBackend: the router and chat models served by a local Ollama.

The router model gets `/api/chat` with `tools`; Ollama renders and parses FunctionGemma
itself (>= 0.13.5), so native tool calls come back parsed, with quirks the router guards.

A router built from funcgemma's own fine-tune (Modelfile.finetuned: the base Gemma 3 270M
with the adapter merged in) speaks funcgemma's rendering, which Ollama's FunctionGemma
renderer does not produce. With ``raw_prompt`` the backend renders the prompt itself
(formats.functiongemma, the code the embedded backend and the trainer use) and sends it
to `/api/generate` with ``raw``; the router parses the text. The adapter's calibrated
call/no-call threshold is applied from the first token's log-probabilities (policy.py).

Library exceptions become funcgemma errors in one place, `_translate`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import ollama

from ..errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FuncgemmaError,
)
from ..formats import functiongemma as fg
from ..settings import Settings
from ..types import Call, Completion, CompletionOptions, Message
from .policy import TOP_LOGPROBS, first_token_decision

log = logging.getLogger(__name__)
# how long a readiness probe (GET /api/tags) is reused: a load balancer polling
# /health/ready every second reaches Ollama at most once in this time per model
PROBE_CACHE_S = 2.0


def make_client(
    settings: Settings, *, timeout: float | None = None, **kwargs: Any
) -> ollama.Client:
    """The one factory for Ollama clients (tests pass `transport=`); ``timeout`` defaults
    to FUNCGEMMA_TIMEOUT_S (the router's client gets FUNCGEMMA_ROUTE_TIMEOUT_S)."""
    return ollama.Client(host=settings.ollama_host,
                         timeout=settings.timeout_s if timeout is None else timeout, **kwargs)


def host_of(client: ollama.Client) -> str:
    """The address ``client`` talks to, as messages show it."""
    return str(client._client.base_url).rstrip("/")


# Ollama's answers for a model it lacks: "model 'x' not found" (the handlers' own check)
# and 'model "x" not found, try pulling it first' (the scheduler's). Any other 404 is
# not Ollama's: a path it does not serve ("404 page not found", e.g. a host ending /v1).
_MODEL_NOT_FOUND = re.compile(r"\bmodel\b.*\bnot found\b", re.IGNORECASE | re.DOTALL)


@contextmanager
def _translate(client: ollama.Client, model: str, *, fix: str | None = None) -> Iterator[None]:
    """Library exceptions as funcgemma errors. ``fix`` says how to get ``model`` when
    Ollama lacks it (pull it, or build it from a Modelfile)."""
    host = host_of(client)
    try:
        yield
    except FuncgemmaError:
        raise
    except (ConnectionError, httpx.ConnectError) as exc:
        # ollama.Client turns httpx.ConnectError into ConnectionError, except when
        # streaming, where the httpx error comes through as is.
        raise BackendUnavailable(
            f"Cannot reach Ollama at {host}. Is `ollama serve` running? "
            "Set FUNCGEMMA_OLLAMA_HOST if it listens elsewhere."
        ) from exc
    except httpx.TimeoutException as exc:
        raise BackendTimeout(
            f"Ollama at {host} did not answer in time (model {model}). "
            "Raise FUNCGEMMA_ROUTE_TIMEOUT_S (routing) or FUNCGEMMA_TIMEOUT_S (chat), "
            "or check the machine is not swapping."
        ) from exc
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"Lost the connection to Ollama at {host}: "
                                 f"{type(exc).__name__}.") from exc
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and _MODEL_NOT_FOUND.search(str(exc.error)):
            raise BackendUnavailable(
                f"Ollama has no model {model!r}: "
                + (fix or f"run `ollama pull {model}` (or ./setup.sh), or set "
                   "FUNCGEMMA_ROUTER_MODEL / FUNCGEMMA_CHAT_MODEL.")
            ) from exc
        if exc.status_code == 404:
            raise BackendUnavailable(
                f"{host} answered 404 ({str(exc.error)[:80]}), not as Ollama does: set "
                "FUNCGEMMA_OLLAMA_HOST to Ollama's own address, such as "
                "http://127.0.0.1:11434 (a path only where a proxy serves Ollama there)."
            ) from exc
        if exc.status_code == 503:  # OLLAMA_MAX_QUEUE requests are already waiting
            raise BackendBusy(f"Ollama at {host} is busy ({exc.error}); "
                              "try again shortly.") from exc
        if exc.status_code < 0:  # an {"error": ...} line inside a 200 stream
            raise BackendError(f"Ollama failed while answering ({model}): {exc.error}") from exc
        error = BackendError(f"Ollama answered {exc.status_code} for {model}: {exc.error}")
        # Ollama refused the request itself ("does not support tools", a bad option):
        # the same request gets the same answer (a proxy's 408 or 429 passes)
        error.retryable = not (400 <= exc.status_code < 500
                               and exc.status_code not in (408, 429))
        raise error from exc
    except (ValueError, KeyError, TypeError) as exc:  # malformed JSON from the server
        raise BackendError(f"Ollama sent a response funcgemma cannot read: {exc}") from exc


def _wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        msg: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role,
                               "content": m.content}
        if m.tool_calls:
            msg["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}}
                                 for c in m.tool_calls]
        if m.tool_name:
            msg["tool_name"] = m.tool_name
        out.append(msg)
    return out


def _options(options: CompletionOptions, num_ctx: int) -> dict[str, Any]:
    opts: dict[str, Any] = {"temperature": options.temperature,
                            "num_predict": options.max_tokens,
                            "num_ctx": options.num_ctx or num_ctx}
    if options.seed is not None:
        opts["seed"] = options.seed
    return opts


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")


def _wire_keep_alive(keep_alive: str | float) -> str | float:
    """``keep_alive`` as Ollama reads it: a JSON number is seconds (negative: for ever),
    a JSON string must be a Go duration ("30m"). A number written as a string, as an
    environment variable gives it ("-1", "3600"), goes as a number: as a string Ollama
    refuses every request with "time: missing unit in duration"."""
    if isinstance(keep_alive, str) and _NUMBER.fullmatch(keep_alive.strip()):
        value = float(keep_alive)
        return int(value) if value.is_integer() else value
    return keep_alive


class OllamaBackend:
    """A router model or a chat model (``role``) served by Ollama."""

    name = "ollama"
    # Ollama renders the prompt itself and parses control tokens inside message text
    # (/api/chat): the router breaks them in the user's text (RouterModel)
    parses_control_tokens = True
    # gemma3:4b (the default chat model) phrases from given text and translates; its
    # replies from sources are still checked against them (funcgemma.facts.check)
    answers_from_sources = True
    translates = True

    def __init__(self, client: ollama.Client, model: str, *, keep_alive: str | float = "30m",
                 num_ctx: int = 2048, role: str = "router", raw_prompt: bool = False,
                 call_bias: float = 0.0) -> None:
        self.client = client
        self.model = model
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx
        self.role = role
        self.raw_prompt = raw_prompt
        self.call_bias = call_bias
        self._keep_alive = _wire_keep_alive(keep_alive)
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, tuple[bool, str]] | None = None

    def close(self) -> None:
        """Close the HTTP client's pooled connections (a dropped client leaves its sockets
        to the garbage collector). The router and the chat model may share one client:
        closing it twice is harmless."""
        self.client.close()

    def _fix(self) -> str:
        """How to get this backend's model when Ollama lacks it."""
        variable = "FUNCGEMMA_CHAT_MODEL" if self.role == "chat" else "FUNCGEMMA_ROUTER_MODEL"
        if self.raw_prompt:  # funcgemma's fine-tune exists only where it was built
            return (f"build it with `ollama create {self.model} -f Modelfile.finetuned` "
                    "(docs/fine-tuning.md: Ollama with funcgemma's fine-tuned router), or set "
                    f"{variable}.")
        return f"run `ollama pull {self.model}` (or ./setup.sh), or set {variable}."

    def complete(self, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None
                 = None, options: CompletionOptions | None = None) -> Completion:
        options = options or CompletionOptions()
        # tool_choice: Ollama cannot force a call, so it is sent only the tools it may call
        # (none for "none"); the router validates what comes back
        if options.call == "none":
            tools = None
        elif tools and options.only is not None:
            tools = [t for t in tools if t.get("function", t).get("name") in options.only]
        if self.raw_prompt and tools:
            return self._complete_raw(messages, tools, options)
        with _translate(self.client, self.model, fix=self._fix()):
            resp = self.client.chat(
                model=self.model, messages=_wire_messages(messages),
                tools=list(tools) if tools else None, stream=False,
                options=_options(options, self.num_ctx), keep_alive=self._keep_alive,
            )
            calls = []
            for tc in resp.message.tool_calls or ():
                args = tc.function.arguments
                calls.append(Call(name=tc.function.name or "",
                                  arguments=dict(args) if isinstance(args, dict) else {}))
            return self._completion(resp, resp.message.content or "", calls)

    def _generate(self, prompt: str, options: CompletionOptions) -> ollama.GenerateResponse:
        opts = {**_options(options, self.num_ctx), "stop": list(fg.RAW_STOPS)}
        with _translate(self.client, self.model, fix=self._fix()):
            return self.client.generate(
                model=self.model, prompt=prompt, raw=True, stream=False, options=opts,
                logprobs=True, top_logprobs=TOP_LOGPROBS, keep_alive=self._keep_alive)

    def _complete_raw(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]],
                      options: CompletionOptions) -> Completion:
        prompt = fg.raw_prompt(fg.render_prompt(tools, messages))
        if options.call == "required":
            # our own rendering: the call is forced by writing its opening (and the name,
            # where only one may be called) as the start of the model's turn
            opening = fg.forced_opening(options.only)
            forced = self._generate(prompt + opening, options)
            return self._completion(forced, fg.restore_markers(
                opening + (forced.response or "")), [])
        resp = self._generate(prompt, options)
        text = resp.response or ""
        first = resp.logprobs[0] if resp.logprobs else None
        if first is not None and first.top_logprobs:
            decision = first_token_decision(
                first.token, first.logprob, [(t.token, t.logprob) for t in first.top_logprobs],
                self.call_bias, fg.CALL_TOKENS)
            if decision.action == "no_call":
                # the model chose a call that did not win by the calibrated margin
                log.debug("call margin %.3f <= bias %.3f: no function", decision.margin,
                          self.call_bias)
                text = fg.NO_CALL_REPLY
            elif decision.action == "decode_call":
                # a negative bias: the call was close enough to win; decode it
                more = self._generate(prompt + fg.RAW_CALL, options)
                text = fg.RAW_CALL + (more.response or "")
                resp = more
        elif self.call_bias:
            log.debug("Ollama sent no logprobs; the call bias is not applied")
        return self._completion(resp, fg.restore_markers(text), [])

    def _completion(self, resp: ollama.ChatResponse | ollama.GenerateResponse, text: str,
                    calls: list[Call]) -> Completion:
        return Completion(
            text=text,
            tool_calls=calls,
            done_reason=resp.done_reason,
            model=resp.model or self.model,
            prompt_tokens=resp.prompt_eval_count or 0,
            prompt_eval_tokens=resp.prompt_eval_count or 0,
            completion_tokens=resp.eval_count or 0,
            duration_ms=(resp.total_duration or 0) / 1e6,
        )

    def stream(self, messages: Sequence[Message], *,
               options: CompletionOptions | None = None) -> Iterator[str]:
        options = options or CompletionOptions(temperature=0.7, max_tokens=512)
        with _translate(self.client, self.model, fix=self._fix()):
            for chunk in self.client.chat(
                model=self.model, messages=_wire_messages(messages), stream=True,
                options=_options(options, self.num_ctx), keep_alive=self._keep_alive,
            ):
                if chunk.message.content:
                    yield chunk.message.content

    def ready(self) -> tuple[bool, str]:
        """Whether Ollama answers and has this model (is_ready), probed at most once every
        PROBE_CACHE_S; callers that arrive during a probe wait for its answer."""
        with self._probe_lock:
            if self._probe is None or time.monotonic() - self._probe[0] >= PROBE_CACHE_S:
                built = [self.model] if self.raw_prompt else []
                found = is_ready(self.client, [self.model], built=built)
                self._probe = (time.monotonic(), found)
            return self._probe[1]

    def describe(self) -> dict[str, Any]:
        out = {"backend": self.name, "role": self.role, "model": self.model,
               "host": host_of(self.client), "keep_alive": self.keep_alive,
               "num_ctx": self.num_ctx}
        if self.raw_prompt:
            out.update(prompt="raw", call_bias=self.call_bias)
        return out


def same_model(a: str, b: str) -> bool:
    """Whether two Ollama model names name the same model ("x" is "x:latest")."""

    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)


def is_ready(client: ollama.Client, models: Sequence[str], *, built: Sequence[str] = ()
             ) -> tuple[bool, str]:
    """Whether Ollama answers and has every model; the reason either way, for `auto`.
    ``built``: models made with `ollama create` from our Modelfile (the fine-tuned router
    in raw mode), which no registry has to pull."""
    try:
        with _translate(client, ", ".join(models)):
            present = [m.model or "" for m in client.list().models]
    except FuncgemmaError as exc:
        return False, exc.message
    missing = [m for m in models if not any(same_model(m, p) for p in present)]
    if missing:
        pulls = " and ".join(f"`ollama create {m} -f Modelfile.finetuned`" if m in built
                             else f"`ollama pull {m}`" for m in missing)
        return False, f"Ollama at {host_of(client)} lacks {', '.join(missing)} (run {pulls})"
    return True, f"Ollama at {host_of(client)} has {', '.join(models)}"


def models(client: ollama.Client) -> tuple[list[ollama.ListResponse.Model],
                                           list[ollama.ProcessResponse.Model]]:
    """The models Ollama has, and those it has loaded now (`funcgemma doctor`). Raises
    a FuncgemmaError (BackendUnavailable when Ollama cannot be reached)."""
    with _translate(client, "(listing models)"):
        return list(client.list().models), list(client.ps().models)
