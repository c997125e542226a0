"""The raw-prompt router path, shared by the backends that send funcgemma's own rendered
prompt to a server (Ollama's `/api/generate` raw, an OpenAI-compatible `/v1/completions`).

A server given the prompt as one string tokenises it with special-token parsing on, so
the markers are spelt as their reserved aliases (render.raw_prompt) and the model writes
them so too. The fine-tuned router's first token decides call or no call; the adapter's
calibrated ``call_bias`` is applied to that choice from the first token's
log-probabilities (``call_decision``).

Some servers do not print special tokens in what they send back (llama-cpp-python's
server; llama-server without ``--special``; vLLM unless ``skip_special_tokens`` is off):
each marker arrives as an empty token. ``MarkerRestorer`` writes them back from the
token boundaries, and says where the model's turn ended, since a stop string that is
never printed never stops the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from .. import render

# the call marker as the model writes it, and where its turn ends (the response marker
# it writes after its calls, or the end of the turn)
RAW_CALL = render.RESERVED_ALIASES[render.START_CALL]
RAW_STOPS = (render.RESERVED_ALIASES[render.START_RESP], render.END_TURN)
TOP_LOGPROBS = 5
CALL_TOKENS = frozenset({RAW_CALL, render.START_CALL})
# A token a server sends as "" is a special token it does not print. At the start of the
# model's turn the fine-tuned router writes either the call marker or visible text
# ("No function applies."), so there "" is the call marker.
HIDDEN = ""


def is_call_token(token: str, call_tokens: frozenset[str] = CALL_TOKENS) -> bool:
    return token in call_tokens


def forced_opening(only: Sequence[str] | None) -> str:
    """The start of the model's turn that forces a call (``call`` "required"): the call
    marker, and the function's name where only one may be called."""
    only = only or ()
    return RAW_CALL + (f"call:{only[0]}{{" if len(only) == 1 else "")


class Decision(NamedTuple):
    """What to do with the model's first token: ``keep`` its choice, answer ``no_call``
    (a call that did not win by the calibrated margin), or ``decode_call`` (a negative
    bias: the call marker came close enough to win, so decode a call after it).
    ``margin``: the call's log-probability margin over the best other token."""

    action: Literal["keep", "no_call", "decode_call"]
    margin: float


def call_decision(
    token: str,
    logprob: float,
    top: Iterable[tuple[str, float]],
    bias: float,
    call_tokens: frozenset[str] = CALL_TOKENS,
) -> Decision:
    """Apply the call bias to the first token ``token`` (log-probability ``logprob``),
    given the most likely tokens at that position ``top`` as (token, logprob)."""
    top = list(top)
    others = [lp for t, lp in top if t not in call_tokens]
    calls = [lp for t, lp in top if t in call_tokens]
    if token in call_tokens:
        margin = logprob - max(others, default=-float("inf"))
        return Decision("no_call" if margin <= bias else "keep", margin)
    if calls:
        margin = max(calls) - logprob
        return Decision("decode_call" if margin > bias else "keep", margin)
    return Decision("keep", -float("inf"))


class MarkerRestorer:
    """FunctionGemma's markers written back into output whose special tokens came as
    empty tokens, fed one token at a time. Inside a call an empty token opens or closes
    an ``<escape>``, or, once the call's braces are closed, ends the call; between calls
    it is another call's marker when ``call:`` follows, else the end of the model's turn
    (``done``). A server that prints its markers sends no empty tokens, and its text
    passes through unchanged.

    ``opening``: what was written as the start of the model's turn (forced_opening), so
    that the tokens after it are read in the right place. A partial UTF-8 character that
    a server sends as an empty token is misread as a marker (llama-cpp-python's server
    does with a character it has no token for); the router vets what comes of it."""

    def __init__(self, opening: str = "") -> None:
        self._parts: list[str] = []
        self._in_call = False
        self._depth = 0
        self._opened = False  # the call's `{` was written
        self._escaped = False
        self._pending = False  # an empty token between calls, not yet known
        self.done = False
        if opening:
            self._parts.append(render.restore_markers(opening))
            if opening.startswith(RAW_CALL):
                self._in_call = True
                self._visible(opening[len(RAW_CALL) :])

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, token: str) -> None:
        if self.done:
            return
        if not self._in_call:
            if self._pending:
                self._pending = False
                if not token.lstrip().startswith("call"):
                    self.done = True  # the response marker: the model's turn is over
                    return
                self._parts.append(render.START_CALL)
                self._in_call, self._depth, self._opened = True, 0, False
            elif token == HIDDEN:
                self._pending = True
                return
            else:
                self._parts.append(token)
                return
        if token != HIDDEN:
            self._parts.append(token)
            self._visible(token)
        elif self._escaped:
            self._parts.append(render.ESCAPE)
            self._escaped = False
        elif self._opened and self._depth <= 0:
            self._parts.append(render.END_CALL)
            self._in_call = False
        else:
            self._parts.append(render.ESCAPE)
            self._escaped = True

    def _visible(self, text: str) -> None:
        if self._escaped:
            return
        for ch in text:
            if ch == "{":
                self._depth += 1
                self._opened = True
            elif ch == "}":
                self._depth -= 1
