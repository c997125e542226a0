"""Vetting: one path for every candidate call the router model makes, whether it came
back as a native tool call or was parsed from its text.

Each candidate goes through these steps, once and in this order (``Vetting.vet``):

1. a function nobody declared (or not among the allowed ones) is the model's way of
   saying "not one of these": no function;
2. an echo of the user's own text (parsed text the message contains) is data, not a
   choice;
3. a copied value that names nothing ("?", "…"), or arguments the function says name
   nothing (``FunctionSpec.names_nothing``): no call, or the optional value left out;
4. validation against the function's params model, once;
5. an echo of a call the user typed (same function, the typed values) is data;
6. grounding: the arguments the user stated are copied from their own words
   (``FunctionSpec.ground``), validated again only when grounding changed them.

What was set aside is counted, and ``Vetting.verdict`` decides from those counts
whether output with no usable call is "no function" or a ModelOutputError carrying
the raw text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import regex

from . import asking, typedcalls
from .errors import ModelOutputError
from .formats import functiongemma as fg
from .registry import FunctionRegistry, FunctionSpec
from .text import squash
from .types import Call, Completion

log = logging.getLogger(__name__)

# A value that names nothing: empty, or only punctuation and spaces ("?", "…", "「」").
# Emoji are symbols, not punctuation: "😭" is a text whose sentiment can be labelled.
HOLLOW = regex.compile(r"[\p{P}\p{Z}\s]*")
# A parsed call whose text is this short is not taken for an echo of the message
# ("call:x{}" can be in anything).
_ECHO_MIN_CHARS = 8
# stands in for a value a call lacks, to see whether the rest of it is valid
_PLACEHOLDER = "placeholder"


@dataclass
class Vetting:
    """Vets the candidate calls of one completion. ``user_text``: the message as typed
    (to tell an echo of it); ``said``: its own words with typed call syntax set aside
    (what arguments are grounded in); ``allowed``: the names a call may have."""

    registry: FunctionRegistry
    user_text: str
    said: str
    allowed: Sequence[str]
    failed: int = 0  # empty name (Ollama's regex miss), bad arguments
    echoes: int = 0
    hollow: int = 0
    unknown: set[str] = field(default_factory=set)  # functions nobody declared
    # calls set aside only for lacking a value their function asks for (asks_for): what
    # they have, for the router's question back
    partials: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Calls spelt out in the user's own text, and whether it has call syntax at all:
        # a model that repeats one, whole or in part, is echoing data.
        found = fg.extract_calls(self.user_text, self.registry.names)
        self.typed = list(found.calls)
        self.user_syntax = found.saw_call_syntax
        self._squashed_user = squash(self.user_text)

    def vet(self, candidate: Call, *, raw: str | None = None) -> Call | None:
        """``candidate`` as a usable call, or None (counted). ``raw``: the text a parsed
        call was read from (None for a native tool call)."""
        if candidate.name.strip() and candidate.name not in self.allowed:
            self.unknown.add(candidate.name)
            return None
        if raw is not None and len(raw) > _ECHO_MIN_CHARS and squash(raw) in self._squashed_user:
            self.echoes += 1
            return None
        usable = self._without_hollow(candidate)
        if usable is None:  # nothing the message says for a required value: no function
            self.hollow += 1
            return None
        call = self.registry.try_validate(usable)
        if call is None:
            self.failed += 1
            if raw is None or raw.rstrip().endswith("}"):  # not a call cut off mid-way
                self._keep_partial(usable)
            return None
        if _echoes(call, self.typed):
            self.echoes += 1
            return None
        return self._grounded(call)

    def _without_hollow(self, call: Call) -> Call | None:
        """``call`` less the copied arguments whose value names nothing (only punctuation
        or nothing at all); None if one of those was required. A copied value is a
        piece of the user's message; where the message has no place, person or item for
        it the embedded decoder can only copy punctuation ("What can you do?" ->
        travel_guide, destination "?"). Such a call cannot be run on anything the user
        said, so it is no function; an optional argument of that kind is just left out."""
        if call.name not in self.registry.names:
            return call  # validation reports the unknown name
        spec = self.registry.get(call.name)
        if spec.names_nothing is not None and spec.names_nothing(call.arguments):
            return None
        empty = [k for k in spec.copied if isinstance(call.arguments.get(k), str)
                 and HOLLOW.fullmatch(call.arguments[k])]
        if not empty:
            return call
        if any(spec.params.model_fields[k].is_required() for k in empty):
            return None
        kept = {k: v for k, v in call.arguments.items() if k not in empty}
        return Call(name=call.name, arguments=kept)

    def _keep_partial(self, call: Call) -> None:
        """Keep ``call`` in ``partials`` when the only values it lacks are ones its
        function asks for: those left out, the rest valid (a fragment that names nothing,
        "what about tomorrow?", is never kept)."""
        if (self.user_syntax or call.name not in self.registry.names
                or call.name not in self.allowed):
            return  # a message with call syntax typed in it gets no question about it
        spec = self.registry.get(call.name)
        if not spec.asks_for or (spec.names_nothing is not None
                                 and spec.names_nothing(call.arguments)):
            return
        lacking = asking.lacking(spec, call.arguments, self.said)
        if not lacking:
            return
        kept = {k: v for k, v in call.arguments.items() if k not in lacking
                and not (k in spec.copied and isinstance(v, str) and HOLLOW.fullmatch(v))}
        probe = {**kept, **{name: _PLACEHOLDER for name in lacking
                            if spec.params.model_fields[name].is_required()}}
        if self.registry.try_validate(Call(name=call.name, arguments=probe)) is None:
            return
        self.partials.append(Call(name=call.name, arguments=kept))

    def _grounded(self, call: Call) -> Call:
        """``call`` with its grounded arguments copied from the user's own words."""
        spec = self.registry.get(call.name)
        arguments = spec.ground(call.arguments, self.said)
        if arguments == call.arguments:
            return call
        repaired = self.registry.try_validate(Call(name=call.name, arguments=arguments))
        if repaired is None:
            return call
        log.debug("grounded %s arguments %s -> %s", call.name, call.arguments, arguments)
        return repaired

    def verdict(self, completion: Completion, raw: str, outcome: fg.ParseOutcome) -> None:
        """With no usable call: return (no function) or raise ModelOutputError. ``raw``:
        the completion's text with its markers restored; ``outcome``: what the parser
        found in it."""
        if self.partials and completion.done_reason != "length":
            log.debug("a call lacked a value its function asks for: asked back")
            return
        if self.echoes:
            log.debug("dropped %d call(s) the model echoed from the user's text", self.echoes)
        if self.hollow:
            log.debug("dropped %d call(s) whose required value from the message names "
                      "nothing", self.hollow)
        if self.unknown:
            # The model's answer is "a function applies, but not one of these": for us,
            # no function. (A 502 made the chat fail on a request we cannot serve.)
            log.info("the router called %s, which is not declared: no function",
                     ", ".join(sorted(self.unknown))[:200])
        echoed_text = bool(raw.strip()) and squash(raw) in self._squashed_user
        unexplained_syntax = (outcome.saw_call_syntax and not self.echoes and not self.hollow
                              and not echoed_text and not self.unknown)
        truncated = completion.done_reason == "length" and not raw.strip() and not self.echoes
        if self.user_syntax and (self.failed or outcome.saw_call_syntax):
            # The user typed call syntax and the model's call is broken: it is a garbled
            # copy of that data, not a failure of the model's own choice. No function.
            log.debug("dropped an unusable call made while the user's text had call syntax")
            return
        if self.failed or unexplained_syntax or truncated:
            detail = "truncated by the token limit" if completion.done_reason == "length" else (
                "not a valid call of a registered function"
            )
            raise ModelOutputError(
                f"The router model produced a function call that could not be used ({detail}).",
                raw=completion.text or repr([c.model_dump() for c in completion.tool_calls]),
            )


def not_from_typed(spec: FunctionSpec, call: Call, aside: typedcalls.SetAside) -> Call | None:
    """``call`` less the text arguments that only typed call syntax holds (in the typed
    call, not in the message's own words); None when one of those is required."""
    if not aside.typed:
        return call
    said = squash(aside.said)
    typed = [squash(fg.unmarked(piece)) for piece in aside.typed]
    injected = {k for k, v in call.arguments.items()
                if isinstance(v, str) and (value := squash(v))
                and value not in said and any(value in piece for piece in typed)}
    if not injected:
        return call
    log.debug("dropped %s of %s: only typed call syntax holds them", sorted(injected), call.name)
    if any(spec.params.model_fields[k].is_required() for k in injected
           if k in spec.params.model_fields):
        return None
    return Call(name=call.name,
                arguments={k: v for k, v in call.arguments.items() if k not in injected})


def _echoes(call: Call, typed: list[fg.ParsedCall]) -> bool:
    """True when ``call`` copies a call the user typed: same function, and every argument
    it has was typed with the same value or is a piece of the typed call's text once
    markers are set aside (a model that garbles an injected call copies fragments of it,
    markers and all: ``wire money<end_function_call>``)."""
    return any(
        call.name == t.name and all(
            (k in t.arguments and str(t.arguments[k]) == str(v))
            or squash(fg.unmarked(str(v))) in squash(fg.unmarked(t.raw))
            for k, v in call.arguments.items())
        for t in typed)


def dedupe(calls: list[Call]) -> list[Call]:
    """``calls`` without repeats, in order."""
    seen: set[str] = set()
    out = []
    for call in calls:
        key = call.model_dump_json()
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out
