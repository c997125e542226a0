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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import regex

from . import asking, clauses, followups, typedcalls
from .backends.base import RouterModel
from .errors import FuncgemmaError, InvalidRequest, TextTooLong, ToolChoiceUnmet
from .formats import functiongemma as fg
from .messages import in_language, language_of
from .registry import FunctionRegistry
from .roles import Copied
from .settings import Settings
from .types import (
    Ask,
    Call,
    Completion,
    CompletionOptions,
    Declarations,
    Message,
    RouteResult,
    RouteSource,
)
from .vetting import HOLLOW, Vetting, dedupe, not_from_typed

if TYPE_CHECKING:
    from .encoder.decide import Reading
    from .encoder.stage import EncoderStage

log = logging.getLogger(__name__)

Source = RouteSource
# how many functions the router model was not trained on it is shown beside the trained
# ones (more would crowd the context; past it, one is shown when the encoder picks it)
SHOWN_UNTRAINED = 8


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
        encoder: EncoderStage | None = None,
    ) -> None:
        """``encoder``: the stage that reads the message against every function's
        exemplars (funcgemma.encoder; factory.make_router builds it): the model is then
        shown only the functions it was trained on, and the encoder brings in the others."""
        self.backend = backend
        self.registry = registry
        self.settings = settings or Settings()
        self.options = CompletionOptions(temperature=0.0, max_tokens=max_tokens)
        self.encoder = encoder
        # Declarations by the names they declare, in that order (see _shown)
        self._declared: dict[tuple[str, ...], Declarations] = {}

    def route(self, text: str, *, call: Literal["auto", "none", "required"] = "auto",
              only: Sequence[str] | None = None, history: Sequence[Message] = (),
              defaults: Mapping[str, str | None] | None = None,
              asks_kept: bool = False) -> RouteResult:
        """Route ``text``. ``call``: "none" returns no call without asking the model;
        "required" raises ToolChoiceUnmet when no usable call comes back. ``only``: the
        names a call may have (the backend is told; a call of another is no function).
        ``history``: the conversation before ``text``, oldest first (assistant messages
        carry the calls made): a follow-up of the call before ("and in Osaka?", "at 6")
        is that call with the value it gives (funcgemma.followups). ``defaults``: values
        the user set ({"home_place": "Kyoto"}; over the settings' own), which fill a value a
        call lacks before it is asked for (FunctionSpec.defaults). ``asks_kept``: the
        history holds the call of every question back (a session's does), so an answer
        never needs the asked-about message routed again."""
        text = check_text(text, max_chars=self.settings.max_text_chars)
        start = time.perf_counter()
        if call == "none":
            return self._result([], "none", start, self.backend.model)
        allowed = tuple(n for n in self.registry.names if only is None or n in only)
        result = self._route_with(text, start, call, only is not None, allowed, history,
                                  asks_kept)
        # several requests the model did not answer with several calls: piece by piece
        if (call == "auto" and len({c.name for c in result.calls}) < 2
                and len(parts := clauses.pieces(text)) > 1):
            several = self._several(parts, start, only is not None, allowed, history,
                                    asks_kept)
            if several is not None:
                result = several
        # a follow-up's values come from the conversation, not from this message
        result = self._asked(result, text if result.source != "context" else None,
                             self._defaults(defaults))
        if call == "required" and not result.calls:
            raise ToolChoiceUnmet("A function call was required (tool_choice), and the router "
                                  "model made none that could be used.")
        return result

    def _asked(self, result: RouteResult, text: str | None,
               defaults: Mapping[str, str]) -> RouteResult:
        """``result`` with outcome "ask" when the call it makes, or the call its ask waits
        on, lacks a value its function asks for (FunctionSpec.asks_for; funcgemma.asking),
        the question in the user's language. A default the user set fills such a value
        first (FunctionSpec.defaults: a weather request's home place). A value that is not
        one ("remind" as a time) is taken out; a call that cannot be made without it, the
        message's only call, leaves ``calls`` for ``ask.arguments``. ``text``: the message
        the values came from (None for a follow-up's, which come from the conversation)."""
        if not (kept := result.kept):
            return result
        waiting, rest = kept[0], kept[1:]
        spec = self.registry.get(waiting.name)
        lacking = asking.lacking(spec, waiting.arguments, text) if spec.asks_for else []
        fill = {f: defaults[d] for f, d in spec.defaults.items() if d in defaults and f in lacking}
        lacking = [f for f in lacking if f not in fill]
        arguments = {k: v for k, v in waiting.arguments.items() if k not in lacking} | fill
        if not lacking:
            if not fill:
                return result
            call = self.registry.try_validate(Call(name=waiting.name, arguments=arguments))
            if call is None:
                return result
            log.debug("%s filled from the user's defaults: %s", call.name, sorted(fill))
            return result.model_copy(update={"calls": [call, *rest], "ask": None,
                                             "outcome": "call"})
        required = any(spec.params.model_fields[f].is_required() for f in lacking)
        if required and rest:
            return result  # several requests: the others are not held up by this one
        said = text or " ".join(str(v) for v in waiting.arguments.values())
        ask = Ask(function=waiting.name, field=lacking[0],
                  question=in_language(spec.asks_for[lacking[0]], language_of(said)),
                  arguments=arguments if required else {})
        calls = [] if required else [Call(name=waiting.name, arguments=arguments), *rest]
        return result.model_copy(update={"outcome": "ask", "ask": ask, "calls": calls})

    def _defaults(self, given: Mapping[str, str | None] | None) -> dict[str, str]:
        mine = {"home_place": self.settings.home_place}
        mine.update({k: v for k, v in (given or {}).items() if v})
        return {k: v for k, v in mine.items() if v}

    def _asking(self, partial: Call, text: str, result: RouteResult) -> RouteResult:
        """The ask of a call the model made without a value its function asks for."""
        spec = self.registry.get(partial.name)
        field = (asking.lacking(spec, partial.arguments, text) or list(spec.asks_for))[0]
        ask = Ask(function=partial.name, field=field,
                  question=in_language(spec.asks_for[field], language_of(text)),
                  arguments=dict(partial.arguments))
        return result.model_copy(update={"outcome": "ask", "ask": ask})

    def _route_with(self, text: str, start: float, mode: Literal["auto", "none", "required"],
                    restricted: bool, allowed: tuple[str, ...], history: Sequence[Message],
                    asks_kept: bool = False) -> RouteResult:
        """One request, read with the conversation before it."""
        followed = self._followed(text, history, allowed, asks_kept) if history else None
        if followed is not None:
            return self._result([followed], "context", start, self.backend.model)
        if mode == "auto" and followups.leads_nowhere(text, history):
            log.debug("a fragment with nothing before it to go on from: no request")
            return self._result([], "none", start, self.backend.model)
        result = self._route(text, start, mode, allowed if restricted else None)
        if history and result.calls:
            # "hiking boots in that range?": what it says stays the same is the last call's
            first = followups.inherit(result.calls[0], text, history, self.registry)
            if first is not result.calls[0]:
                result = result.model_copy(update={"calls": [first, *result.calls[1:]]})
        return result

    def _several(self, parts: list[str], start: float, restricted: bool,
                 allowed: tuple[str, ...], history: Sequence[Message],
                 asks_kept: bool = False) -> RouteResult | None:
        """The calls of a message that makes several requests (funcgemma.clauses), each
        piece routed with the pieces before it and their calls as history; None unless
        they call two functions or more, or one function twice with different arguments
        where every piece made its own complete call ("who is Florence Pugh and who is
        Paul Mescal"). A request that only looks cut in two ("classify this review,
        'great shoes'") stays one: its first piece names nothing to work on, so it asks."""
        calls: list[Call] = []
        sources: list[Source] = []
        before = list(history)
        whole = True  # every piece made one call and asked nothing
        for part in parts:
            routed = self._route_with(part, start, "auto", restricted, allowed, before,
                                      asks_kept)
            calls += routed.calls
            sources.append(routed.source)
            whole = whole and len(routed.calls) == 1 and routed.ask is None and all(
                self._own_request(c, part) for c in routed.calls)
            before += [Message(role="user", content=part),
                       Message(role="assistant", tool_calls=routed.calls)]
        calls = dedupe(calls)
        if len({c.name for c in calls}) < 2 and not (whole and len(calls) >= 2):
            return None
        source: Source = next((s for s in sources if s != "none"), "none")
        return self._result(calls, source, start, self.backend.model)

    def _own_request(self, call: Call, part: str) -> bool:
        """Whether ``call`` of one piece of a message is a request of its own: nothing it
        needs is lacking, and each name it has (a place, a person, an item) is in the
        piece and names something ("who is Paul Mescal"), not a verb or a pronoun ("where
        should I stop?" -> destination "stop")."""
        spec = self.registry.get(call.name)
        if asking.lacking(spec, call.arguments, part):
            return False
        said = part.casefold()
        named = [v for f, r in spec.roles.items() if isinstance(r, Copied)
                 and isinstance(v := call.arguments.get(f), str)]
        # the piece names its own (a value it shares with the piece before, "the same
        # date", need not be said again)
        return all(v.casefold() in said and followups.names_one(v) for v in named)

    def _followed(self, text: str, history: Sequence[Message], allowed: tuple[str, ...],
                  asks_kept: bool = False) -> Call | None:
        """The follow-up call ``text`` makes of the call before, if it is one. Its value is
        the message's own words outside any call syntax typed in it."""
        aside = typedcalls.set_aside(text, self.registry.names)

        def reroute(earlier: str) -> list[Call]:  # the message a question back was about
            try:
                again = self.route(earlier, only=allowed)
            except FuncgemmaError:  # it could not be worked out then either: nothing to fill
                return []
            return again.kept  # an ask's: what the call had when asked

        followed = followups.follow(aside.said, history, self.registry,
                                    reroute=None if asks_kept else reroute)
        if followed is None or followed.name not in allowed:
            return None
        log.debug("follow-up of the call before: %s", followed.name)
        return not_from_typed(self.registry.get(followed.name), followed, aside)

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
        shown = self._shown(only)
        options = self.options.model_copy(update={"call": mode, "only": only})
        tried: str | None = None
        seen: Reading | None = None
        if self.encoder is not None and self.encoder.untrained:
            # A function the model was not trained on that the encoder is sure of: its
            # pick stands whatever the model says (decide.choose), so the model only
            # writes the arguments, with no first answer to throw away.
            tried, seen = self.encoder.overriding(said, only)
            if tried is not None:
                calls, source, completion = self._forced(tried, messages, shown, options,
                                                         text=text, said=said)
                if calls:
                    return self._finish(calls, source, aside, start, completion)
        completion = self._complete(messages, self._declarations(shown), options)
        partials: list[Call] = []
        calls, source = self._calls_from(completion, user_text=text, said=said,
                                         allowed=self.registry.names if only is None else only,
                                         partials=partials)
        if self.encoder is not None and self.encoder.may_act(called=bool(calls)):
            calls, source = self._with_encoder(calls, source, messages, shown, options,
                                               text=text, said=said, only=only, tried=tried,
                                               seen=seen)
        result = self._finish(calls, source, aside, start, completion)
        if not result.calls and partials and mode != "required":
            partial = not_from_typed(self.registry.get(partials[0].name), partials[0], aside)
            if partial is not None:
                return self._asking(partial, text, result)
        return result

    def _finish(self, calls: list[Call], source: Source, aside: typedcalls.SetAside,
                start: float, completion: Completion) -> RouteResult:
        calls = [c for call in calls
                 if (c := not_from_typed(self.registry.get(call.name), call, aside))]
        return self._result(calls, source if calls else "none", start,
                            completion.model or self.backend.model)

    def _with_encoder(self, calls: list[Call], source: Source, messages: list[Message],
                      shown: tuple[str, ...], options: CompletionOptions, *, text: str,
                      said: str, only: tuple[str, ...] | None, tried: str | None,
                      seen: Reading | None) -> tuple[list[Call], Source]:
        """The encoder stage (funcgemma.encoder.decide): the model decides among the
        functions it was trained on (a call of another is not its to make); where the
        encoder picks the function, the model writes the arguments with the call forced
        to that name (no usable call: the model's own answer stands). ``tried``: a pick
        already forced before the model answered, that gave no usable call; ``seen``: the
        encoder's reading of the message, when it was read before the model answered."""
        assert self.encoder is not None
        trained = [c for c in calls if c.name in self.encoder.trained]
        forced, _ = self.encoder.choose(said, trained[0].name if trained else None, only,
                                        seen=seen)
        if forced is None or forced == tried:
            return trained, source if trained else "none"
        forced_calls, forced_source, _ = self._forced(forced, messages, shown, options,
                                                      text=text, said=said)
        if forced_calls:
            return forced_calls, forced_source
        return trained, source if trained else "none"

    def _forced(self, name: str, messages: list[Message], shown: tuple[str, ...],
                options: CompletionOptions, *, text: str, said: str
                ) -> tuple[list[Call], Source, Completion]:
        """The model's call of ``name``, forced. It is shown what the unforced completion
        is (``shown``: the KV cache over the declarations is kept), plus ``name`` when
        that is not among them."""
        tools = self._declarations(shown if name in shown else (*shown, name))
        completion = self._complete(
            messages, tools, options.model_copy(update={"call": "required", "only": (name,)}))
        calls, source = self._calls_from(completion, user_text=text, said=said,
                                         allowed=(name,))
        return calls, source, completion

    def _shown(self, only: Sequence[str] | None) -> tuple[str, ...]:
        """The functions the model is shown, in order. Without an encoder: all, by name.
        With one: the trained functions, then the others (the model's calls of those are
        not taken: the encoder brings them in), so that the declarations, and the KV cache
        over them, stay the same for every message; past SHOWN_UNTRAINED of them, only
        the trained ones and, when the encoder picks one, that one. ``only`` (tool_choice
        naming functions) adds what it names."""
        names = self.registry.names
        if self.encoder is not None and self.encoder.untrained:
            untrained = self.encoder.untrained
            names = [n for n in names if n in self.encoder.trained] + (
                untrained if len(untrained) <= SHOWN_UNTRAINED else [])
        extra = [n for n in only or () if n not in names and n in self.registry]
        return (*names, *extra)

    def _declarations(self, names: tuple[str, ...]) -> Declarations:
        if tuple(names) == tuple(self.registry.names):
            return self.registry.tools()
        if names not in self._declared:
            if len(self._declared) >= 64:  # picked one at a time: bounded
                self._declared.clear()
            specs = [self.registry.get(n) for n in names]
            self._declared[names] = Declarations(
                [s.tool_schema() for s in specs],
                copied={s.name: list(s.copied) for s in specs if s.copied})
        return self._declared[names]

    def _complete(self, messages: list[Message], tools: Declarations,
                  options: CompletionOptions) -> Completion:
        completion = self.backend.complete(messages, tools=tools, options=options)
        if (completion.done_reason == "length" and not completion.tool_calls
                and self._recoverable(completion.text)):
            # Ollama drops a call cut off by the token limit (no calls, done_reason
            # "length"): ask once more with room for a long argument.
            log.debug("router output hit the token limit; retrying with a larger budget")
            bigger = options.model_copy(update={"max_tokens": options.max_tokens * 4})
            completion = self.backend.complete(messages, tools=tools, options=bigger)
        return _without_surrogates(completion)

    def _result(self, calls: list[Call], source: Source,
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
        self, completion: Completion, *, user_text: str, said: str, allowed: Sequence[str],
        partials: list[Call] | None = None,
    ) -> tuple[list[Call], Source]:
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
        if partials is not None and completion.done_reason != "length":
            # a call cut off by the token limit lacks what the model had no room to write
            partials.extend(vetting.partials)
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
