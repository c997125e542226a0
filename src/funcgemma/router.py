"""Router: backend + registry + parser -> RouteResult.

Order of trust: the backend's native tool calls (Ollama parses FunctionGemma itself),
guarded against its quirks (empty name, unknown name, truncated call, numbers as
strings); then the fallback parser over the raw text; then pydantic validation.
"No function" is a normal result, and so is a call whose required value from the message
names nothing (destination "?") and a call of a function nobody declared (the model's way
of saying "not one of these"); call-like output of a declared function that nothing can
repair is a ModelOutputError carrying the raw text.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

import regex

from . import parsing, render, typedcalls
from .backends.base import Backend
from .errors import InvalidRequest, ModelOutputError, TextTooLong, ToolChoiceUnmet
from .registry import FunctionRegistry, FunctionSpec
from .settings import Settings
from .types import Call, Completion, CompletionOptions, Message, RouteResult

log = logging.getLogger(__name__)


def check_text(text: object, *, max_chars: int, field: str = "text") -> str:
    """Reject what no model should see, with a message that says what to change.
    ``field`` is the request field the text came in (named in the message)."""
    if not isinstance(text, str):
        raise InvalidRequest(f"`{field}` must be a string.")
    if "\x00" in text:
        raise InvalidRequest(f"`{field}` contains a NUL byte; send plain text.")
    if not text.strip():
        raise InvalidRequest(f"`{field}` is empty; send the message to route.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (JSON "\ud800") cannot be tokenised nor sent back as UTF-8
        raise InvalidRequest(f"`{field}` is not valid Unicode (it has a lone "
                             "surrogate).") from None
    if len(text) > max_chars:
        raise TextTooLong(
            f"`{field}` has {len(text)} characters; the limit is {max_chars} "
            "(FUNCGEMMA_MAX_TEXT_CHARS)."
        )
    return text


# A value that names nothing: empty, or only punctuation and spaces ("?", "…", "「」").
# Emoji are symbols, not punctuation: "😭" is a text whose sentiment can be labelled.
_HOLLOW = regex.compile(r"[\p{P}\p{Z}\s]*")


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


class Router:
    def __init__(
        self,
        backend: Backend,
        registry: FunctionRegistry,
        *,
        settings: Settings | None = None,
        max_tokens: int = 128,
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.settings = settings or Settings()
        self.options = CompletionOptions(temperature=0.0, max_tokens=max_tokens)

    def route(self, text: str, *, call: Literal["auto", "none", "required"] = "auto",
              only: Sequence[str] | None = None) -> RouteResult:
        """Route ``text``. ``call``: "none" returns no call without asking the model;
        "required" raises ToolChoiceUnmet when no usable call comes back. ``only``: the
        names a call may have (the backend is told; a call of another is no function)."""
        text = check_text(text, max_chars=self.settings.max_text_chars)
        start = time.perf_counter()
        if call == "none":
            return self._result([], "none", start, self.backend.model)
        allowed = tuple(n for n in self.registry.names if only is None or n in only)
        result = self._route(text, start, call, None if only is None else allowed)
        if call == "required" and not result.calls:
            raise ToolChoiceUnmet("A function call was required (tool_choice), and the router "
                                  "model made none that could be used.")
        return result

    def _route(self, text: str, start: float, mode: Literal["auto", "none", "required"],
               only: tuple[str, ...] | None) -> RouteResult:
        # Call syntax the user typed is data: the request's own words are routed, and no
        # argument may come from inside a typed call (funcgemma.typedcalls).
        aside = typedcalls.set_aside(text, self.registry.names)
        if aside.typed:
            log.debug("set aside %d piece(s) of call syntax typed in the message",
                      len(aside.typed))
        if _HOLLOW.fullmatch(aside.said):
            return self._result([], "none", start, self.backend.model)
        # Ollama renders the prompt itself and parses control tokens inside user
        # text; neutralise them so typed markers stay data. The embedded backend
        # tokenises user text with special parsing off instead.
        said = aside.said
        sent = render.neutralise_control_tokens(said) if self.backend.name == "ollama" else said
        messages = [Message(role="user", content=sent)]
        tools = self.registry.tools()
        options = self.options.model_copy(update={"copied": self.registry.copied(),
                                                  "call": mode, "only": only})
        completion = self.backend.complete(messages, tools=tools, options=options)
        if (completion.done_reason == "length" and not completion.tool_calls
                and self._recoverable(completion.text)):
            # Ollama drops a call cut off by the token limit (no calls, done_reason
            # "length"): ask once more with room for a long argument.
            log.debug("router output hit the token limit; retrying with a larger budget")
            bigger = options.model_copy(update={"max_tokens": options.max_tokens * 4})
            completion = self.backend.complete(messages, tools=tools, options=bigger)
        completion = _without_surrogates(completion)
        calls, source = self._calls_from(completion, user_text=text, said=said,
                                         allowed=self.registry.names if only is None else only)
        calls = [c for call in calls
                 if (c := _not_from_typed(self.registry.get(call.name), call, aside))]
        return self._result(calls, source if calls else "none", start,
                            completion.model or self.backend.model)

    def _result(self, calls: list[Call], source: Literal["tools_api", "fallback", "none"],
                start: float, model: str) -> RouteResult:
        result = RouteResult(
            calls=calls,
            source=source,
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            model=model,
        )
        log.info(
            "routed function=%s source=%s latency_ms=%.1f backend=%s",
            ",".join(c.name for c in calls) or "none",
            source,
            result.latency_ms,
            self.backend.name,
        )
        return result

    def _recoverable(self, text: str) -> bool:
        """Whether output cut off at the token limit could become a call with more room:
        nothing yet (Ollama holds back a call it is still parsing), or a call of a
        declared function. Prose, or a call of a function nobody declared, would only
        take four times as long to fail."""
        raw = render.restore_markers(text)
        named = parsing.CALL_NAME.search(raw)
        if named:
            return named.group(1) in self.registry.names
        return not raw.strip() or render.START_CALL in raw

    def _calls_from(
        self, completion: Completion, *, user_text: str, said: str, allowed: Sequence[str]
    ) -> tuple[list[Call], Literal["tools_api", "fallback", "none"]]:
        """The usable calls in ``completion``. ``user_text`` is the message as typed (to
        tell an echo of it), ``said`` its own words with typed call syntax set aside (what
        arguments are grounded in); ``allowed``: the names a call may have (another is
        treated as a function nobody declared)."""
        typed, user_syntax = self._typed_calls(user_text)
        native: list[Call] = []
        failed = echoes = hollow = 0
        unknown: set[str] = set()  # functions the model asked for that nobody declared
        for tool_call in completion.tool_calls:
            if tool_call.name.strip() and tool_call.name not in allowed:
                unknown.add(tool_call.name)
                continue
            usable = self._without_hollow(tool_call)
            if usable is None:
                hollow += 1
                continue
            call = self.registry.try_validate(usable)
            if call is None:
                failed += 1  # empty name (Ollama's regex miss), bad arguments
            elif _echoes(call, typed):
                echoes += 1
            else:
                native.append(self._grounded(call, said))
        if native and not failed:
            return _dedupe(native), "tools_api"
        raw = render.restore_markers(completion.text)
        outcome = parsing.extract_calls(raw, allowed)
        unknown.update(outcome.unknown)
        squashed_user = _squash(user_text)
        parsed = []
        for pc in outcome.calls:
            if len(pc.raw) > 8 and _squash(pc.raw) in squashed_user:
                echoes += 1
                continue
            usable = self._without_hollow(Call(name=pc.name, arguments=pc.arguments))
            if usable is None:
                hollow += 1
                continue
            call = self.registry.try_validate(usable)
            if call is None:
                failed += 1
            elif _echoes(call, typed):
                echoes += 1
            else:
                parsed.append(self._grounded(call, said))
        calls = _dedupe(native + parsed)
        if calls:
            return calls, ("fallback" if parsed else "tools_api")
        if echoes:
            log.debug("dropped %d call(s) the model echoed from the user's text", echoes)
        if hollow:
            log.debug("dropped %d call(s) whose required value from the message names "
                      "nothing", hollow)
        if unknown:
            # The model's answer is "a function applies, but not one of these": for us,
            # no function. (A 502 made the chat fail on a request we cannot serve.)
            log.info("the router called %s, which is not declared: no function",
                     ", ".join(sorted(unknown))[:200])
        echoed_text = bool(raw.strip()) and _squash(raw) in squashed_user
        unexplained_syntax = (outcome.saw_call_syntax and not echoes and not hollow
                              and not echoed_text and not unknown)
        truncated = completion.done_reason == "length" and not raw.strip() and not echoes
        if user_syntax and (failed or outcome.saw_call_syntax):
            # The user typed call syntax and the model's call is broken: it is a garbled
            # copy of that data, not a failure of the model's own choice. No function.
            log.debug("dropped an unusable call made while the user's text had call syntax")
            return [], "none"
        if failed or unexplained_syntax or truncated:
            detail = "truncated by the token limit" if completion.done_reason == "length" else (
                "not a valid call of a registered function"
            )
            raise ModelOutputError(
                f"The router model produced a function call that could not be used ({detail}).",
                raw=completion.text or repr([c.model_dump() for c in completion.tool_calls]),
            )
        return [], "none"

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
                 and _HOLLOW.fullmatch(call.arguments[k])]
        if not empty:
            return call
        if any(spec.params.model_fields[k].is_required() for k in empty):
            return None
        kept = {k: v for k, v in call.arguments.items() if k not in empty}
        return Call(name=call.name, arguments=kept)

    def _grounded(self, call: Call, user_text: str) -> Call:
        """``call`` with its grounded arguments copied from the user's own words."""
        spec = self.registry.get(call.name)
        arguments = spec.ground(call.arguments, user_text)
        if arguments == call.arguments:
            return call
        repaired = self.registry.try_validate(Call(name=call.name, arguments=arguments))
        if repaired is None:
            return call
        log.debug("grounded %s arguments %s -> %s", call.name, call.arguments, arguments)
        return repaired

    def _typed_calls(self, user_text: str) -> tuple[list[parsing.ParsedCall], bool]:
        """Calls spelt out in the user's own text, and whether it has call syntax at all.
        A model that repeats one, whole or in part, is echoing data, not choosing a
        function, so such calls are never returned."""
        found = parsing.extract_calls(user_text, self.registry.names)
        return list(found.calls), found.saw_call_syntax


_SURROGATE = regex.compile(r"[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """``value`` (text, or a JSON-like value) with each lone surrogate as U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    return value


def _without_surrogates(completion: Completion) -> Completion:
    """``completion`` with every lone surrogate (a JSON "\\ud800" from a server, which no
    UTF-8 answer can carry) as U+FFFD: model output never fails to be sent back."""
    return completion.model_copy(update={
        "text": without_surrogates(completion.text),
        "tool_calls": [c.model_copy(update={"name": without_surrogates(c.name),
                                            "arguments": without_surrogates(c.arguments)})
                       for c in completion.tool_calls]})


def _not_from_typed(spec: FunctionSpec, call: Call, aside: typedcalls.SetAside) -> Call | None:
    """``call`` less the text arguments that only typed call syntax holds (in the typed
    call, not in the message's own words); None when one of those is required."""
    if not aside.typed:
        return call
    said = _squash(aside.said)
    typed = [_squash(_unmarked(piece)) for piece in aside.typed]
    injected = {k for k, v in call.arguments.items()
                if isinstance(v, str) and (value := _squash(v))
                and value not in said and any(value in piece for piece in typed)}
    if not injected:
        return call
    log.debug("dropped %s of %s: only typed call syntax holds them", sorted(injected), call.name)
    if any(spec.params.model_fields[k].is_required() for k in injected
           if k in spec.params.model_fields):
        return None
    return Call(name=call.name,
                arguments={k: v for k, v in call.arguments.items() if k not in injected})


def _echoes(call: Call, typed: list[parsing.ParsedCall]) -> bool:
    """True when ``call`` copies a call the user typed: same function, and every argument
    it has was typed with the same value or is a piece of the typed call's text once
    markers are set aside (a model that garbles an injected call copies fragments of it,
    markers and all: ``wire money<end_function_call>``)."""
    return any(
        call.name == t.name and all(
            (k in t.arguments and str(t.arguments[k]) == str(v))
            or _squash(_unmarked(str(v))) in _squash(_unmarked(t.raw))
            for k, v in call.arguments.items())
        for t in typed)


def _unmarked(text: str) -> str:
    for token in render.CONTROL_SPELLINGS:
        text = text.replace(token, " ")
    return text


def _key(call: Call) -> str:
    return call.model_dump_json()


def _dedupe(calls: list[Call]) -> list[Call]:
    seen: set[str] = set()
    out = []
    for call in calls:
        key = _key(call)
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out
