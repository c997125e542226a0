"""Conversation: route the message, run the chosen function, let the chat model reply.

Where the function could not do what was asked (no forecast, a time it cannot read, a
handler that failed) funcgemma replies itself with what went wrong, and the chat model is
not asked: a small chat model told "the forecast could not be fetched" still wrote
"sunny day with clear skies". What a function did is also stated in a ``notice`` line of
its own, so the facts never depend on the chat model's phrasing.

History is kept per session with a bounded number of turns, and the number of
sessions is bounded too (least recently used dropped first), in the service's SQLite
database (funcgemma.sessions), so any worker, or the service after a restart, goes on
with a session. A handler that fails becomes a polite reply, never a crash.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from .backends.base import ChatModel
from .errors import FuncgemmaError, InvalidRequest, ModelOutputError
from .facts.check import check_reply
from .facts.extractive import extractive_answer
from .functions.context import FunctionContext
from .messages import Said, in_language, language_of
from .registry import FunctionRegistry
from .results import Done, Failed, Result
from .router import Router, check_text, without_surrogates
from .sessions import SessionStore
from .settings import Settings
from .types import Call, ChatReply, CompletionOptions, Message, RouteResult

log = logging.getLogger(__name__)

# visible characters only: no spaces, controls, NUL or lone surrogates ("\ud800" cannot
# even be sent back as UTF-8)
_SESSION_ID = regex.compile(r"[^\p{C}\p{Z}\s]{1,128}")


def _check_session_id(session_id: str) -> None:
    if not _SESSION_ID.fullmatch(session_id):
        raise InvalidRequest("`session_id` must be 1-128 characters with no spaces, "
                             "control characters or lone surrogates.")

SYSTEM_PROMPT = (
    "You are funcgemma, a friendly assistant running on the user's own computer. "
    "Answer briefly and in the language the user wrote in."
)
# the reply to a message whose router output could not be used (/route: a 502)
NOT_WORKED_OUT = Said(
    "Sorry, I could not work out what to do with that request. Could you say it another way?",
    ja="すみません、そのご依頼をどう扱えばよいか分かりませんでした。別の言い方で試していただけますか？")
CANNOT_TRANSLATE = Said(
    "I cannot translate here: the built-in chat model is too small to translate reliably, "
    "and I will not show a made-up translation. With Ollama and its chat model "
    "(`ollama pull gemma3:4b`, then start funcgemma again) I can.",
    ja="ここでは翻訳できません。内蔵のチャットモデルは小さすぎて正しく翻訳できないため、"
    "でたらめな訳はお見せしません。Ollama とそのチャットモデル（`ollama pull gemma3:4b` の後、"
    "funcgemma を起動し直してください）があれば翻訳できます。")
# where no tool ran, the chat model must not claim an action ("Done, I booked it!"):
# the requests funcgemma cannot serve reach it this way
NO_TOOL = ("\nNo tool was run for this message, so nothing was done: never say that you "
           "set, saved, booked, bought, sent or looked up anything. If the user asks for "
           "an action, say plainly that you cannot do it here.")


@dataclass(frozen=True)
class CallOutcome:
    """What running one routed call gave: the handler's result, or the text of the error
    it raised."""

    name: str
    result: Result | None
    error: str | None

    @property
    def failure(self) -> str | None:
        """What went wrong, said to the user; None when the function did its job."""
        if self.error:
            return Said(f"Sorry, that could not be done right now ({self.error}).",
                        ja=f"申し訳ありません、今はできませんでした（{self.error}）。")
        if isinstance(self.result, Failed):
            return self.result.message  # a Said keeps its Japanese
        return None

    @property
    def payload(self) -> dict[str, Any] | None:
        """The result as the chat model and ChatReply.function_result see it."""
        return None if self.result is None else self.result.payload()


@dataclass
class Turn:
    """One chat turn. Iterate ``chunks()`` to stream the reply; history is updated
    when the stream completes."""

    session_id: str
    route: RouteResult
    function_result: dict[str, Any] | None
    function_error: str | None
    notice: str | None
    # False when funcgemma wrote the reply itself (every routed call failed)
    replied_by_model: bool
    _stream: Iterator[str]
    _on_done: Any
    reply: str = ""
    _parts: list[str] = field(default_factory=list)

    def chunks(self) -> Iterator[str]:
        for piece in self._stream:
            self._parts.append(piece)
            yield piece
        self.reply = "".join(self._parts).strip()
        self._on_done(self.reply)

    def replies(self) -> Iterator[str]:
        """``chunks()``, except that when the chat model fails after a function did its
        job (a reminder is saved) the reply ends with what the function did, its notice,
        instead of an error: an error would be retried and repeat the action."""
        try:
            yield from self.chunks()
        except FuncgemmaError as exc:
            if not (self.notice and self.replied_by_model):
                raise
            log.warning("chat model failed (%s); the reply is what the function did",
                        exc.message)
            tail = f" {self.notice}" if self._parts else self.notice
            self._parts.append(tail)
            self.reply = "".join(self._parts).strip()
            self._on_done(self.reply)
            yield tail

    def close(self) -> None:
        """Stop the reply where it is (the client went away); history is not updated."""
        close = getattr(self._stream, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # still running on another thread: it stops on its own
                pass

    def collect(self) -> ChatReply:
        for _ in self.replies():
            pass
        return ChatReply(
            session_id=self.session_id,
            reply=self.reply,
            route=self.route,
            function_result=self.function_result,
            function_error=self.function_error,
            notice=self.notice,
        )


class Conversation:
    def __init__(
        self,
        router: Router,
        chat: ChatModel,
        registry: FunctionRegistry,
        ctx: FunctionContext,
        settings: Settings,
        sessions: SessionStore | None = None,
    ) -> None:
        self.router = router
        self.chat = chat
        self.registry = registry
        self.ctx = ctx
        self.settings = settings
        # the service database (funcgemma.storage) is opened at the first turn
        self.sessions = sessions or SessionStore(ctx.database, settings)
        self.options = CompletionOptions(temperature=0.7, max_tokens=512)

    def history(self, session_id: str) -> list[Message]:
        return self.sessions.history(session_id)

    def reset(self, session_id: str) -> None:
        self.sessions.reset(session_id)

    def _remember(self, session_id: str, user: str, reply: str,
                  calls: Sequence[Call] = ()) -> None:
        self.sessions.remember(session_id, user, reply, calls)

    def run_function(self, route: RouteResult) -> tuple[dict[str, Any] | None, str | None]:
        """Run the first routed call: (result, None), or (None, error) when it fails."""
        outcomes = self.run_calls(route)
        if not outcomes:
            return None, None
        return outcomes[0].payload, outcomes[0].error

    def run_calls(self, route: RouteResult) -> list[CallOutcome]:
        """Run every routed call in order. A failing handler never raises: its error
        text is kept so the chat model can apologise instead of making up a result."""
        outcomes = []
        for index, call in enumerate(route.calls):
            spec = self.registry.get(call.name)
            if spec.needs_translation and not self.chat.translates:
                outcomes.append(CallOutcome(call.name, Failed(CANNOT_TRANSLATE), None))
                continue
            try:
                params = spec.params.model_validate(call.arguments)
                with self.ctx.calling(index):  # keys its writes when the request has a key
                    result = spec.handler(params, self.ctx)
                if not isinstance(result, (Done, Failed)):
                    raise TypeError(f"{call.name} returned {type(result).__name__}, "
                                    "not results.Done or Failed")
            except Exception as exc:  # noqa: BLE001 - any handler failure becomes a polite reply
                # one line for the user's terminal; the traceback with -vv (debug)
                log.warning("function %s failed: %s: %s", call.name, type(exc).__name__, exc)
                log.debug("function %s failed", call.name, exc_info=True)
                # funcgemma's own errors name the fix ("Set FUNCGEMMA_DATA_DIR to a writable
                # directory."); anything else is a bug whose details stay in the log
                why = (exc.message.rstrip(".") if isinstance(exc, FuncgemmaError)
                       else type(exc).__name__)
                outcomes.append(CallOutcome(call.name, None, f"{call.name} failed: {why}"))
            else:
                outcomes.append(CallOutcome(call.name, result, None))
        return outcomes

    def close(self) -> None:
        """Release what the functions opened (the weather HTTP client) and the models'
        HTTP clients (Ollama, an OpenAI-compatible server)."""
        self.ctx.close()
        for model in (self.router.backend, self.chat):
            close = getattr(model, "close", None)
            if callable(close):
                close()

    def route(self, text: str, session_id: str,
              defaults: Mapping[str, str | None] | None = None) -> RouteResult:
        """Route ``text`` as a turn of the session (`/route` with a `session_id`): read
        with its turns, and kept in it with its calls (or the call a question back waits
        on), so that the next message of the session, on `/route` or `/chat`, in this
        process or another on the same data directory, follows up on it. Nothing is run."""
        _check_session_id(session_id)
        result = self.router.route(text, history=self.history(session_id), defaults=defaults,
                                   asks_kept=True)
        self._remember(session_id, text, result.ask.question if result.ask else "", result.kept)
        return result

    def start(self, message: str, session_id: str | None = None,
              defaults: Mapping[str, str | None] | None = None) -> Turn:
        message = check_text(message, max_chars=self.settings.max_text_chars, field="message")
        if session_id is not None:
            _check_session_id(session_id)
        sid = session_id or uuid.uuid4().hex
        lang = language_of(message)  # funcgemma's own words in the user's language
        history = self.history(sid)
        try:
            # the turns before: a follow-up ("and in Osaka?", "at 6") goes on from their calls
            # a question back keeps its call in the session: no message is routed again
            route = self.router.route(message, history=history, defaults=defaults,
                                      asks_kept=True)
        except ModelOutputError as exc:
            # /route answers 502 with the raw text; a chat user gets a plain reply
            log.warning("the router's output could not be used; replied that it was not "
                        "worked out")
            log.debug("unusable router output: %r", exc.raw[:500])
            return self._said_ourselves(sid, message, in_language(NOT_WORKED_OUT, lang))
        if route.ask is not None and not route.calls:
            # a call that cannot be made without a value only the user can give: ask for
            # it, and keep what the call has so that the answer completes it
            return Turn(session_id=sid, route=route, function_result=None, function_error=None,
                        notice=None, replied_by_model=False, _stream=iter([route.ask.question]),
                        _on_done=lambda text: self._remember(sid, message, text, route.kept))
        with self.ctx.for_message(message):  # a handler may read what was asked
            outcomes = self.run_calls(route)
        failures = [in_language(f, lang) for o in outcomes if (f := o.failure)]
        sourced = [s for o in outcomes if (s := Sourced.of(o))]
        if outcomes and len(failures) == len(outcomes):  # nothing was done: say so ourselves
            stream: Iterator[str] = iter([" ".join(failures)])
        elif sourced and not self.chat.answers_from_sources:
            # a small chat model invents beside any source: the answer is the source's own
            stream = iter([" ".join([*(s.extract(lang) for s in sourced), *failures])])
        else:
            messages = self._chat_messages(history, message, outcomes)
            # a chat model's text may hold a lone surrogate, which no UTF-8 reply can carry
            stream = _clean(self.chat.stream(messages, options=self.options))
            if sourced:
                stream = _checked(stream, sourced, message, lang)
        first = outcomes[0] if outcomes else CallOutcome("", None, None)
        return Turn(
            session_id=sid,
            route=route,
            function_result=first.payload,
            function_error=first.error,
            notice="; ".join(in_language(n, lang) for n in self._notices(outcomes)) or None,
            replied_by_model=not (outcomes and len(failures) == len(outcomes)),
            _stream=stream,
            _on_done=lambda reply: self._remember(sid, message, reply, route.calls),
        )

    def _said_ourselves(self, sid: str, message: str, reply: str) -> Turn:
        """A turn whose reply funcgemma wrote itself, with no function run."""
        return Turn(session_id=sid, route=RouteResult(calls=[], source="none", latency_ms=0.0,
                                                      model=self.router.backend.model),
                    function_result=None, function_error=None, notice=None,
                    replied_by_model=False, _stream=iter([reply]),
                    _on_done=lambda text: self._remember(sid, message, text))

    def ask(self, message: str, session_id: str | None = None) -> ChatReply:
        return self.start(message, session_id).collect()

    def _notices(self, outcomes: list[CallOutcome]) -> list[str]:
        notices = []
        for outcome in outcomes:
            failure = outcome.failure
            if failure:
                notices.append(failure)
                continue
            if isinstance(outcome.result, Done) and outcome.result.notice:
                notices.append(outcome.result.notice)
        return notices

    def _chat_messages(self, history: list[Message], message: str,
                       outcomes: list[CallOutcome]) -> list[Message]:
        system = SYSTEM_PROMPT if outcomes else SYSTEM_PROMPT + NO_TOOL
        for outcome in outcomes:
            if outcome.error:
                system += (
                    f"\nThe tool `{outcome.name}` failed ({outcome.error}). Apologise briefly, "
                    "say the request could not be completed right now, and do not make up a "
                    "result."
                )
            else:
                payload = json.dumps(outcome.payload, ensure_ascii=False, default=str)
                system += (
                    f"\nThe tool `{outcome.name}` was run for this message and returned:\n"
                    f"{payload}\nBase your answer on it. If it contains an \"error\", tell the "
                    "user plainly and do not invent data."
                )
        # the chat model reads the turns as text: the calls were the router's business
        earlier = [m.model_copy(update={"tool_calls": []}) for m in history]
        return [Message(role="system", content=system), *earlier,
                Message(role="user", content=message)]


@dataclass(frozen=True)
class Sourced:
    """A function's result that carries fetched source text (celebrity_info, travel_guide:
    funcgemma.facts): the reply may state only what that text or the message says."""

    summary: str
    passage: str | None
    asked: str | None
    lang: str

    @classmethod
    def of(cls, outcome: CallOutcome) -> Sourced | None:
        if outcome.error or not isinstance(outcome.result, Done):
            return None
        result = outcome.result.data
        if result.get("found") is not True:
            return None
        summary = result.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            return None
        passage = result.get("passage")
        asked = result.get("asked")
        return cls(summary, passage if isinstance(passage, str) else None,
                   asked if isinstance(asked, str) else None, str(result.get("lang") or "en"))

    @property
    def texts(self) -> list[str]:
        return [t for t in (self.summary, self.passage) if t]

    def extract(self, lang: str) -> str:
        return extractive_answer(self.summary, self.passage, self.asked, self.lang or lang)


def _closing(stream: Iterator[str]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _clean(stream: Iterator[str]) -> Iterator[str]:
    """The chat model's pieces with any lone surrogate as U+FFFD (no UTF-8 reply can carry
    one); closing this closes the model's stream (a client that went away)."""
    try:
        for piece in stream:
            yield without_surrogates(piece)
    finally:
        _closing(stream)


def _checked(stream: Iterator[str], sourced: list[Sourced], message: str,
             lang: str) -> Iterator[str]:
    """The chat model's reply, held back until it is checked against the fetched text: a
    name, number or date that neither the source nor the message holds replaces the reply
    with the source's own sentences (funcgemma.facts.check)."""
    try:
        reply = "".join(stream)
    finally:
        _closing(stream)
    check = check_reply(reply, [t for s in sourced for t in s.texts], message)
    if check.ok:
        yield reply
        return
    log.info("the chat model's reply stated %d thing(s) the source does not; answered from "
             "the source instead", len(check.unsupported))
    log.debug("unsupported in the reply: %r", check.unsupported)
    yield " ".join(s.extract(lang) for s in sourced)


def build_conversation(
    settings: Settings, backend: str | None = None
) -> tuple[Conversation, str, str]:
    """Everything the CLI and API need, from settings. Returns (conversation, kind, reason)."""
    from .factory import make_backends, make_router
    from .registry import default_registry

    backends = make_backends(settings, backend)
    registry = default_registry()
    router = make_router(backends, registry, settings)
    if router.encoder is not None:  # its index is read (or built, once) now, not mid-request
        router.encoder.warm()
    ctx = FunctionContext(settings=settings)
    conversation = Conversation(router, backends.chat, registry, ctx, settings)
    return conversation, backends.kind, backends.reason


__all__ = ["CallOutcome", "Conversation", "Turn", "build_conversation"]
