"""LlamaCppRouter: the embedded default router model, llama.cpp in-process.

The router renders FunctionGemma's prompt itself (funcgemma.formats.functiongemma, the
same code the trainer uses) and tokenises it as token lists: trusted text with control tokens mapped
to single ids, user text with special-token parsing *off* (typed markers stay text).
The developer turn with all declarations is the same for every request, so the KV state
of the longest common token prefix with the previous request is kept and only the rest
is evaluated. The call bias and name prior are applied from the logits (policy).
Decoding is greedy and structure-aware (calldecoder). One llama.cpp context is not
re-entrant: requests take turns through a fair, bounded queue. Loading and the engine
are in llamaengine.py, the chat model in llamachat.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendError
from ..formats import functiongemma as fg
from ..settings import Settings
from ..types import Completion, CompletionOptions, Message, copied_of
from . import policy
from .calldecoder import CallDecoder, Vocab
from .fairlock import FairLock
from .llamachat import LlamaCppChat
from .llamaengine import LlamaEngine, load_llama

__all__ = ["LlamaCppChat", "LlamaCppRouter", "load_llama", "make_embedded"]

log = logging.getLogger(__name__)


def _vocab_markers(llm: Any) -> dict[str, int]:
    def token_id(text: str) -> int | None:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    markers = {}
    for tok in fg.CONTROL_TOKENS:
        markers[tok] = fg.control_token_id(tok, token_id)
    return markers


class LlamaCppRouter:
    """The router model (Gemma 3 270M + funcgemma's adapter by default)."""

    name = "llamacpp"
    # user text is tokenised with special parsing off: typed markers stay text
    parses_control_tokens = False

    def __init__(self, llm: Any, *, model: str, lock: FairLock, adapter: str | None = None,
                 call_bias: float = 0.0, name_prior: float = 0.0) -> None:
        self.engine = LlamaEngine(llm)
        self.llm = llm
        # The call policy (policy.py): the margin the <start_function_call> logit must
        # win by at the first step, and how much of the model's prior over the declared
        # names is taken out where it chooses one (0: none; see name_bias).
        self.call_bias = call_bias
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

    def encode(self, segments: Sequence[fg.Segment]) -> list[int]:
        return fg.encode(segments, self.tokenize, self.token_id)

    def _decoder(self, tools: Sequence[dict[str, Any]]) -> CallDecoder:
        key = fg.render_developer_turn(tools)
        if key not in self._decoders:
            self._decoders = {key: CallDecoder(self.vocab, tools)}
        return self._decoders[key]

    def _prefix_len(self, segments: Sequence[fg.Segment]) -> int:
        """Tokens of the developer turn (the declarations), tokenised once per tool set."""
        if self._prefix[0] != segments[0].text:
            self._prefix = (segments[0].text, len(self.encode(segments[:1])))
        return self._prefix[1]

    def _call_opening(self) -> list[int]:
        """The tokens a call starts with, up to its name: the call marker and `call:`."""
        return [self.markers[fg.START_CALL], *self.tokenize("call:")]

    def _prompt_logits(self, tools: Sequence[dict[str, Any]], decoder: CallDecoder,
                       segments: Sequence[fg.Segment], ids: list[int]
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
        name (policy.name_bias, from the logits on messages that say nothing). Once per
        tool set; the engine must hold the developer turn (``n_prefix`` tokens), and is
        left holding it. Call with the lock held."""
        cached_for, prior_then, cached = self._name_bias
        if cached_for is decoder and prior_then == self.name_prior:
            return cached
        bias: dict[int, float] = {}
        heads = decoder.heads
        if policy.wants_name_bias(self.name_prior, heads):
            tail = self._call_opening()
            rows = []
            for text in policy.CONTENT_FREE:
                ids = self.encode(fg.render_prompt(
                    tools, [Message(role="user", content=text)])) + tail
                logits, _ = self.engine.prefill(ids, reuse_at_most=n_prefix)
                rows.append(logits)
            self.engine.truncate(n_prefix)
            bias = policy.name_bias(rows, heads, self.name_prior)
        self._name_bias = (decoder, self.name_prior, bias)
        return bias

    def warm(self, tools: Sequence[dict[str, Any]]) -> int:
        """Evaluate the developer turn (and the name bias) now so the first request finds
        them cached."""
        ids = self.encode(fg.render_prompt(tools, [])[:1])
        with self.lock.hold():
            _, evaluated = self.engine.prefill(ids)
            self.name_bias(tools, self._decoder(tools), len(ids))
        return evaluated

    def complete(self, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None
                 = None, options: CompletionOptions | None = None) -> Completion:
        options = options or CompletionOptions()
        copied = copied_of(tools)  # from the functions' field roles (funcgemma.roles)
        tools = list(tools or [])
        segments = fg.render_prompt(tools, messages)
        ids = self.encode(segments)
        user_text = next((m.content for m in reversed(messages) if m.role == "user"), "")
        decoder = self._decoder(tools)
        start = time.perf_counter()
        with self.lock.hold():
            logits, evaluated, name_bias = self._prompt_logits(tools, decoder, segments, ids)
            try:
                start_call = self.markers[fg.START_CALL]
                margin = policy.logit_margin(logits, start_call)
                # tool_choice: "required" always starts a call, "none" never does
                call = policy.calls(margin, self.call_bias, options.call)
                first = start_call if call else int(np.argmax(logits))
                # a forced call, or one restricted to some names, is of a declared name
                names = (options.only if options.only is not None else list(decoder.params)
                         ) if options.call == "required" or options.only is not None else None
                result = decoder.decode(self.engine, first, user_text=user_text,
                                        max_tokens=options.max_tokens,
                                        copied=copied, name_bias=name_bias,
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
            text=fg.restore_markers(result.text),
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
        segments = fg.render_prompt(tools, messages)
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

    def ready(self) -> tuple[bool, str]:
        # the weights were checked and loaded in-process when this object was built
        return True, f"{self.model} loaded in-process"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "role": "router", "model": self.model,
                "adapter": self.adapter, "queue_waiting": self.lock.waiting,
                "n_ctx": self.engine.n_ctx}


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
