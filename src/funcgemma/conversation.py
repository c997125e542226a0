"""Conversation: route the message, run the chosen function, let the chat model reply.

History is kept per session with a bounded number of turns, and the number of
sessions is bounded too (least recently used dropped first). A handler that fails
becomes a polite reply, never a crash.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .backends.base import Backend
from .errors import FuncgemmaError, InvalidRequest
from .functions.context import FunctionContext
from .registry import FunctionRegistry
from .router import Router, check_text
from .settings import Settings
from .types import ChatReply, CompletionOptions, Message, RouteResult

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are funcgemma, a friendly assistant running on the user's own computer. "
    "Answer briefly and in the language the user wrote in."
)


@dataclass
class Turn:
    """One chat turn. Iterate ``chunks()`` to stream the reply; history is updated
    when the stream completes."""

    session_id: str
    route: RouteResult
    function_result: dict[str, Any] | None
    function_error: str | None
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

    def collect(self) -> ChatReply:
        for _ in self.chunks():
            pass
        return ChatReply(
            session_id=self.session_id,
            reply=self.reply,
            route=self.route,
            function_result=self.function_result,
            function_error=self.function_error,
        )


class Conversation:
    def __init__(
        self,
        router: Router,
        chat: Backend,
        registry: FunctionRegistry,
        ctx: FunctionContext,
        settings: Settings,
    ) -> None:
        self.router = router
        self.chat = chat
        self.registry = registry
        self.ctx = ctx
        self.settings = settings
        self._sessions: OrderedDict[str, deque[Message]] = OrderedDict()
        self._lock = threading.Lock()
        self.options = CompletionOptions(temperature=0.7, max_tokens=512)

    def history(self, session_id: str) -> list[Message]:
        with self._lock:
            return list(self._sessions.get(session_id, ()))

    def reset(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _remember(self, session_id: str, user: str, reply: str) -> None:
        with self._lock:
            hist = self._sessions.setdefault(
                session_id, deque(maxlen=2 * max(1, self.settings.history_turns))
            )
            self._sessions.move_to_end(session_id)
            hist.append(Message(role="user", content=user))
            hist.append(Message(role="assistant", content=reply))
            while len(self._sessions) > self.settings.max_sessions:
                self._sessions.popitem(last=False)

    def run_function(self, route: RouteResult) -> tuple[dict[str, Any] | None, str | None]:
        if not route.calls:
            return None, None
        call = route.calls[0]
        spec = self.registry.get(call.name)
        try:
            params = spec.params.model_validate(call.arguments)
            result = spec.handler(params, self.ctx)
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes a polite reply
            log.warning("function %s failed: %s", call.name, type(exc).__name__, exc_info=True)
            return None, f"{call.name} failed: {type(exc).__name__}"
        return result, None

    def start(self, message: str, session_id: str | None = None) -> Turn:
        message = check_text(message, max_chars=self.settings.max_text_chars)
        if session_id is not None and (not session_id or len(session_id) > 128):
            raise InvalidRequest("`session_id` must be 1-128 characters.")
        sid = session_id or uuid.uuid4().hex
        route = self.router.route(message)
        result, error = self.run_function(route)
        messages = self._chat_messages(sid, message, route, result, error)
        stream = self.chat.stream(messages, options=self.options)
        return Turn(
            session_id=sid,
            route=route,
            function_result=result,
            function_error=error,
            _stream=stream,
            _on_done=lambda reply: self._remember(sid, message, reply),
        )

    def ask(self, message: str, session_id: str | None = None) -> ChatReply:
        return self.start(message, session_id).collect()

    def _chat_messages(
        self,
        sid: str,
        message: str,
        route: RouteResult,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> list[Message]:
        system = SYSTEM_PROMPT
        if route.calls:
            call = route.calls[0]
            if error:
                system += (
                    f"\nThe tool `{call.name}` failed ({error}). Apologise briefly, say the "
                    "request could not be completed right now, and do not make up a result."
                )
            else:
                payload = json.dumps(result, ensure_ascii=False, default=str)
                system += (
                    f"\nThe tool `{call.name}` was run for this message and returned:\n{payload}\n"
                    "Base your answer on it. If it contains an \"error\", tell the user plainly "
                    "and do not invent data."
                )
        return [Message(role="system", content=system), *self.history(sid),
                Message(role="user", content=message)]


def build_conversation(settings: Settings, backend: str | None = None) -> tuple[Conversation, str, str]:
    """Everything the CLI and API need, from settings. Returns (conversation, kind, reason)."""
    from .factory import make_backends
    from .registry import default_registry

    backends = make_backends(settings, backend)
    registry = default_registry()
    router = Router(backends.router, registry, settings=settings)
    ctx = FunctionContext(settings=settings)
    return Conversation(router, backends.chat, registry, ctx, settings), backends.kind, backends.reason


__all__ = ["Conversation", "Turn", "build_conversation", "FuncgemmaError"]
