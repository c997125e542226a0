"""OpenAIBackend: the router and chat models served by any OpenAI-compatible server
(vLLM, llama.cpp's llama-server, llama-cpp-python's server, LM Studio, a hosted endpoint).

The router has two modes:

- ``tools`` (default): `/v1/chat/completions` with ``tools`` and ``tool_choice``. The
  server renders the model's prompt and parses its calls (vLLM's FunctionGemma tool
  parser); its ``tool_calls`` come back as native calls, and its ``content`` is read by
  the router's fallback parser (FunctionGemma text a server did not parse).
- ``raw``: for a server without a tool parser that serves funcgemma's fine-tuned router
  (llama-server with the shipped adapter). funcgemma renders the prompt itself
  (formats.functiongemma, as the embedded backend and the trainer do) and sends it to
  `/v1/completions`; the adapter's calibrated call bias is applied from the first
  token's log-probabilities (policy.py, shared with the raw Ollama router). The reply
  is streamed, so that reading stops where the model's turn ends even on a server that
  does not print special tokens, where a stop string never matches.

User text is neutralised (functiongemma.neutralise_control_tokens) in both modes and
roles: a server parses special tokens in what it is sent.

A server-side model is assumed capable: ``answers_from_sources`` and ``translates`` are
True unless the factory is told otherwise (the embedded SmolLM2 is the one that is not).

Library exceptions become funcgemma errors in one place, openaierrors.translate; OpenAI's
wire shapes are in openaiwire.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import openai

from ..errors import FuncgemmaError
from ..formats import functiongemma as fg
from ..settings import Settings
from ..types import Completion, CompletionOptions, Message
from . import openaiwire as wire
from .openaierrors import model_setting, translate
from .policy import TOP_LOGPROBS, first_token_decision

log = logging.getLogger(__name__)
# how long a readiness probe (GET /models) is reused, as for Ollama
PROBE_CACHE_S = 2.0
PROBE_TIMEOUT_S = 5.0
# in raw mode an empty token at the start of the model's turn is the call marker a
# server did not print (functiongemma.HIDDEN)
_RAW_CALL_TOKENS = fg.CALL_TOKENS | {fg.HIDDEN}


def make_client(
    settings: Settings, *, base_url: str | None = None, timeout: float | None = None, **kwargs: Any
) -> openai.OpenAI:
    """The one factory for OpenAI clients (tests pass `http_client=`). ``timeout``
    defaults to FUNCGEMMA_TIMEOUT_S (the router's client gets FUNCGEMMA_ROUTE_TIMEOUT_S).
    The client does not retry: a deadline is the router's, and a busy server's
    Retry-After goes back to funcgemma's caller. A key is always sent ("none" when
    FUNCGEMMA_OPENAI_API_KEY is unset; the client requires one); OPENAI_API_KEY is not
    read, so a key for OpenAI never goes to another server."""
    return openai.OpenAI(
        base_url=base_url or settings.openai_base_url,
        api_key=settings.openai_api_key or "none",
        timeout=settings.timeout_s if timeout is None else timeout,
        max_retries=0,
        **kwargs,
    )


def _base_url(client: openai.OpenAI) -> str:
    return str(client.base_url).rstrip("/")


class OpenAIBackend:
    """A router model or a chat model (``role``) served by an OpenAI-compatible server."""

    name = "openai"
    # the server parses control tokens in message text, but the wire messages are
    # neutralised here already (openaiwire.wire_messages): the router need not
    parses_control_tokens = False

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        *,
        role: str = "router",
        raw_prompt: bool = False,
        call_bias: float = 0.0,
        answers_from_sources: bool = True,
        translates: bool = True,
    ) -> None:
        self.client = client
        self.model = model
        self.role = role
        self.raw_prompt = raw_prompt
        self.call_bias = call_bias
        self.answers_from_sources = answers_from_sources
        self.translates = translates
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, tuple[bool, str]] | None = None

    def close(self) -> None:
        """Close the HTTP client's pooled connections (a dropped client leaves its sockets
        to the garbage collector). The router and the chat model may share one client:
        closing it twice is harmless."""
        self.client.close()

    @property
    def base_url(self) -> str:
        return _base_url(self.client)

    def _translate(self) -> AbstractContextManager[None]:
        """Library exceptions as funcgemma errors (openaierrors.py)."""
        return translate(self.base_url, self.model, role=self.role, raw_prompt=self.raw_prompt)

    # -- the router ------------------------------------------------------------------
    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        options = options or CompletionOptions()
        if tools and options.only is not None:
            tools = [t for t in tools if t.get("function", t).get("name") in options.only]
        if self.raw_prompt and tools:
            if options.call == "none":  # as the router does: the model is not asked
                return Completion(text=fg.NO_CALL_REPLY, model=self.model)
            return self._complete_raw(messages, tools, options)
        start = time.perf_counter()
        sent = [t if "function" in t else {"type": "function", "function": t} for t in tools or ()]
        with self._translate():
            resp = self._chat_request(
                messages,
                options,
                stream=False,
                tools=cast(Any, sent) if sent else openai.omit,
                tool_choice=wire.tool_choice(options, sent) if sent else openai.omit,
            )
            choice = resp.choices[0]
            text = choice.message.content or ""
            calls, unparsed = wire.tool_calls(choice.message.tool_calls or ())
            usage = resp.usage
            prompt_tokens = usage.prompt_tokens if usage else 0
            cached = 0
            if usage and usage.prompt_tokens_details:
                cached = usage.prompt_tokens_details.cached_tokens or 0
            return Completion(
                # a call whose arguments are not JSON goes to the fallback parser as text
                text="\n".join([text, *unparsed]) if unparsed else text,
                tool_calls=calls,
                done_reason=choice.finish_reason,
                model=resp.model or self.model,
                prompt_tokens=prompt_tokens,
                prompt_eval_tokens=max(0, prompt_tokens - cached),
                completion_tokens=usage.completion_tokens if usage else 0,
                duration_ms=(time.perf_counter() - start) * 1000,
            )

    def _complete_raw(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        options: CompletionOptions,
    ) -> Completion:
        prompt = fg.raw_prompt(fg.render_prompt(tools, messages))
        if options.call == "required":
            # the call is forced by writing its opening as the start of the model's turn
            return self._generate(
                prompt, fg.forced_opening(options.only), options, decide=False
            ).completion(self.model)
        first = self._generate(prompt, "", options, decide=True)
        if first.decode_call:
            # a negative bias: the call was close enough to win; decode it
            return self._generate(prompt, fg.RAW_CALL, options, decide=False).completion(self.model)
        return first.completion(self.model)

    def _deadline_s(self) -> float | None:
        timeout = self.client.timeout
        if isinstance(timeout, (int, float)):
            return float(timeout)
        if isinstance(timeout, httpx2.Timeout):
            return timeout.read
        return None

    def _generate(
        self, prompt: str, opening: str, options: CompletionOptions, *, decide: bool
    ) -> _Generated:
        """One streamed completion of ``prompt`` after ``opening`` (the start of the
        model's turn written for it). ``decide``: apply the call bias to the first token,
        and stop there when it says no call or to decode one."""
        out = _Generated(restorer=fg.MarkerRestorer(opening))
        start = time.perf_counter()
        limit = self._deadline_s()
        deadline = None if limit is None else time.monotonic() + limit
        with self._translate():
            stream = self.client.completions.create(
                model=self.model,
                prompt=prompt + opening,
                stream=True,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                stop=list(fg.RAW_STOPS),
                logprobs=TOP_LOGPROBS,
                # vLLM drops special tokens from the text unless told not to; other
                # servers ignore the field
                extra_body={"skip_special_tokens": False},
                seed=openai.omit if options.seed is None else options.seed,
            )
            with stream:
                for chunk in stream:
                    out.model = chunk.model or out.model
                    if deadline is not None and time.monotonic() > deadline:
                        raise openai.APITimeoutError(request=stream.response.request)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if self._read(out, choice, decide) or out.restorer.done:
                        break
                    if choice.finish_reason:
                        out.done_reason = choice.finish_reason
        out.duration_ms = (time.perf_counter() - start) * 1000
        if decide and not out.decided and self.call_bias:
            log.debug("the server sent no logprobs; the call bias is not applied")
        return out

    def _read(self, out: _Generated, choice: Any, decide: bool) -> bool:
        """Take in one streamed choice; True when reading can stop (the first token
        decided no call, or to decode one)."""
        entries = wire.logprob_entries(choice.logprobs)
        if not entries:
            # no token boundaries: the text as it comes (an empty piece is no marker)
            if choice.text:
                out.restorer.feed(choice.text)
                out.tokens += 1
            return False
        for token, logprob, top in entries:
            if decide and not out.decided:
                out.decided = True
                if top:
                    decision = first_token_decision(token, logprob, top, self.call_bias,
                                                    _RAW_CALL_TOKENS)
                    if decision.action == "no_call":
                        log.debug(
                            "call margin %.3f <= bias %.3f: no function",
                            decision.margin,
                            self.call_bias,
                        )
                        out.restorer = fg.MarkerRestorer(fg.NO_CALL_REPLY)
                        out.done_reason = "stop"
                        return True
                    if decision.action == "decode_call":
                        out.decode_call = True
                        return True
            out.restorer.feed(token)
            out.tokens += 1
            if out.restorer.done:
                out.done_reason = "stop"  # the model's turn ended at an unprinted marker
                return True
        return False

    def _chat_request(
        self, messages: Sequence[Message], options: CompletionOptions, *, stream: bool,
        **extra: Any,
    ) -> Any:
        """One /chat/completions request, as the router (with tools) and the chat model
        (streamed) both send it."""
        return self.client.chat.completions.create(
            model=self.model,
            messages=cast(Any, wire.wire_messages(messages)),
            stream=stream,
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            seed=openai.omit if options.seed is None else options.seed,
            **extra,
        )

    # -- the chat model --------------------------------------------------------------
    def stream(
        self, messages: Sequence[Message], *, options: CompletionOptions | None = None
    ) -> Iterator[str]:
        options = options or CompletionOptions(temperature=0.7, max_tokens=512)
        with self._translate():
            stream = self._chat_request(messages, options, stream=True)
            with stream:
                for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content

    # -- health ----------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        """Whether the server answers GET /models and lists this model, probed at most
        once every PROBE_CACHE_S; callers that arrive during a probe wait for its answer."""
        with self._probe_lock:
            if self._probe is None or time.monotonic() - self._probe[0] >= PROBE_CACHE_S:
                self._probe = (time.monotonic(), self._check())
            return self._probe[1]

    def _check(self) -> tuple[bool, str]:
        url = self.base_url
        try:
            with self._translate():
                page = self.client.with_options(timeout=PROBE_TIMEOUT_S).models.list()
                ids = [str(m.id) for m in page.data]
        except FuncgemmaError as exc:
            return False, exc.message
        if self.model in ids:
            return True, f"the server at {url} serves {self.model}"
        if not ids:  # some servers list nothing and serve what they were started with
            return True, f"the server at {url} answers (it lists no models)"
        return False, (
            f"the server at {url} serves {', '.join(ids[:5])}, not "
            f"{self.model!r}: set {model_setting(self.role)} to one of them (or "
            "name the model so when starting the server: vLLM "
            "--served-model-name, llama-server --alias)"
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.name,
            "role": self.role,
            "model": self.model,
            "base_url": self.base_url,
        }
        if self.role == "router":
            out["prompt"] = "raw" if self.raw_prompt else "tools"
        if self.raw_prompt:
            out["call_bias"] = self.call_bias
        return out


@dataclass
class _Generated:
    """What one streamed raw completion gave."""

    restorer: fg.MarkerRestorer
    model: str = ""
    done_reason: str | None = None
    tokens: int = 0
    duration_ms: float = 0.0
    decided: bool = False
    decode_call: bool = False

    def completion(self, model: str) -> Completion:
        return Completion(
            text=fg.restore_markers(self.restorer.text),
            tool_calls=[],
            done_reason=self.done_reason,
            model=self.model or model,
            completion_tokens=self.tokens,
            duration_ms=self.duration_ms,
        )
