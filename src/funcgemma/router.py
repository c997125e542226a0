"""Router: router model + registry + parser -> RouteResult.

Order of trust: the router model's native tool calls (Ollama parses FunctionGemma
itself), guarded against its quirks (empty name, unknown name, truncated call, numbers as
strings); then the fallback parser over the raw text. Every candidate, native or parsed,
goes through one vetting step (funcgemma.vetting: hollow value, validation, echo,
grounding).
"No function" is a normal result, and so is a call whose required value from the message
names nothing (destination "?") and a call of a function nobody declared (the model's way
of saying "not one of these"); call-like output of a declared function that nothing can
repair is a ModelOutputError carrying the raw text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import regex

from . import typedcalls
from .backends.base import RouterModel
from .errors import InvalidRequest, TextTooLong, ToolChoiceUnmet
from .formats import functiongemma as fg
from .registry import FunctionRegistry
from .settings import Settings
from .types import Call, Completion, CompletionOptions, Message, RouteResult
from .vetting import HOLLOW, Vetting, dedupe, not_from_typed

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


class Router:
    def __init__(
        self,
        backend: RouterModel,
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
        if HOLLOW.fullmatch(aside.said):
            return self._result([], "none", start, self.backend.model)
        # A server that parses control tokens inside user text (Ollama renders the
        # prompt itself) gets them broken, so typed markers stay data.
        said = aside.said
        sent = fg.neutralise_control_tokens(said) if self.backend.parses_control_tokens else said
        messages = [Message(role="user", content=sent)]
        tools = self.registry.tools()
        options = self.options.model_copy(update={"call": mode, "only": only})
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
                 if (c := not_from_typed(self.registry.get(call.name), call, aside))]
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
        raw = fg.restore_markers(text)
        named = fg.CALL_NAME.search(raw)
        if named:
            return named.group(1) in self.registry.names
        return not raw.strip() or fg.START_CALL in raw

    def _calls_from(
        self, completion: Completion, *, user_text: str, said: str, allowed: Sequence[str]
    ) -> tuple[list[Call], Literal["tools_api", "fallback", "none"]]:
        """The usable calls in ``completion``: its native tool calls, then the calls the
        fallback parser reads in its text, each vetted the same way (funcgemma.vetting).
        ``user_text`` is the message as typed, ``said`` its own words with typed call
        syntax set aside; ``allowed``: the names a call may have (another is treated as a
        function nobody declared)."""
        vetting = Vetting(self.registry, user_text, said, allowed)
        native = [c for tool_call in completion.tool_calls if (c := vetting.vet(tool_call))]
        if native and not vetting.failed:
            return dedupe(native), "tools_api"
        raw = fg.restore_markers(completion.text)
        outcome = fg.extract_calls(raw, allowed)
        vetting.unknown.update(outcome.unknown)
        parsed = [c for pc in outcome.calls
                  if (c := vetting.vet(Call(name=pc.name, arguments=pc.arguments), raw=pc.raw))]
        calls = dedupe(native + parsed)
        if calls:
            return calls, ("fallback" if parsed else "tools_api")
        vetting.verdict(completion, raw, outcome)
        return [], "none"


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
