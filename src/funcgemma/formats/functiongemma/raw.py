"""FunctionGemma over a server given the prompt as one string (Ollama's ``raw``,
``/v1/completions``).

Such a server tokenises the prompt with special-token parsing on, so the markers are
spelt as their reserved aliases (render.raw_prompt) and the model writes them so too.

Some servers do not print special tokens in what they send back (llama-cpp-python's
server; llama-server without ``--special``; vLLM unless ``skip_special_tokens`` is off):
each marker arrives as an empty token. ``MarkerRestorer`` writes them back from the
token boundaries, and says where the model's turn ended, since a stop string that is
never printed never stops the server.
"""

from __future__ import annotations

from collections.abc import Sequence

from .tokens import (
    END_CALL,
    END_TURN,
    ESCAPE,
    RESERVED_ALIASES,
    START_CALL,
    START_RESP,
    restore_markers,
)

# the call marker as the model writes it, and where its turn ends (the response marker
# it writes after its calls, or the end of the turn)
RAW_CALL = RESERVED_ALIASES[START_CALL]
RAW_STOPS = (RESERVED_ALIASES[START_RESP], END_TURN)
# the first token of a call, in either spelling
CALL_TOKENS = frozenset({RAW_CALL, START_CALL})
# A token a server sends as "" is a special token it does not print. At the start of the
# model's turn the fine-tuned router writes either the call marker or visible text
# ("No function applies."), so there "" is the call marker.
HIDDEN = ""


def forced_opening(only: Sequence[str] | None) -> str:
    """The start of the model's turn that forces a call (``call`` "required"): the call
    marker, and the function's name where only one may be called."""
    only = only or ()
    return RAW_CALL + (f"call:{only[0]}{{" if len(only) == 1 else "")


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
            self._parts.append(restore_markers(opening))
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
                self._parts.append(START_CALL)
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
            self._parts.append(ESCAPE)
            self._escaped = False
        elif self._opened and self._depth <= 0:
            self._parts.append(END_CALL)
            self._in_call = False
        else:
            self._parts.append(ESCAPE)
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
