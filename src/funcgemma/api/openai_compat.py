"""OpenAI-compatible endpoints: ``POST /v1/chat/completions`` and ``GET /v1/models``.

With ``tools``, funcgemma is the tool-calling model: the last user message is routed over
the client's functions and the calls come back as ``tool_calls`` for the client to run;
funcgemma never runs them. Tools that are exactly funcgemma's own functions (the same names
and arguments) get its own specs, with grounding and repair, so the calls equal ``/route``'s;
any other tool is validated against the client's schema and never repaired
(funcgemma.foreign). Where no call is made (``tool_choice`` "none", the model's choice, or
tool results after the last user message under "auto"), the chat model answers in
``content``. A call is never written into ``content``.

Without ``tools``, funcgemma is its own assistant, as on ``/chat``: it routes the last user
message, runs its own functions and replies in ``content`` (earlier messages are not
read; each request is a fresh session).

Errors on /v1 have OpenAI's shape (openai_errors); streams are OpenAI's chunk events
(openai_stream).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from ..conversation import NO_TOOL, SYSTEM_PROMPT, Conversation, Turn
from ..errors import FuncgemmaError, InvalidRequest, NotFound, TextTooLong
from ..idempotency import REPLAYED_HEADER, Stored
from ..router import check_text
from ..types import Message, RouteResult
from .app import Service
from .idempotency import IdempotencyKey, Keyed
from .openai_errors import OpenAIErrors, OpenAIInvalid
from .openai_request import history_of, last_user, message_text, router_for, tool_choice_of
from .openai_stream import (
    DONE,
    chunk,
    clean,
    close_quietly,
    content_events,
    error_event,
    new_id,
    sse,
    tool_call_events,
    utf8,
)
from .openai_types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ErrorResponse,
    Extension,
    FunctionCallOut,
    ModelCard,
    ModelList,
    ToolCallOut,
)

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
_CREATED = int(time.time())


def install(app: FastAPI) -> None:
    """The /v1 routes, and their error shape around every other middleware."""
    app.include_router(router)
    app.add_middleware(OpenAIErrors)


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _served(service: Service) -> list[str]:
    conv = service.conversation
    return list(dict.fromkeys(["funcgemma", conv.router.backend.model, conv.chat.model]))


@router.get("/models", response_model=ModelList)
def list_models(request: Request) -> ModelList:
    """The models funcgemma serves: itself, its router model and its chat model. A request's
    ``model`` may name any of them, or any other string (the answer names the model that
    gave it)."""
    return ModelList(data=[ModelCard(id=m, created=_CREATED) for m in _served(_service(request))])


@router.get(
    "/models/{model_id:path}", response_model=ModelCard, responses={404: {"model": ErrorResponse}}
)
def get_model(model_id: str, request: Request) -> ModelCard:
    if model_id not in _served(_service(request)):
        raise NotFound(f"No model {model_id[:64]!r} here; GET /v1/models lists them.")
    return ModelCard(id=model_id, created=_CREATED)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 413, 415, 502, 503, 504)
}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "JSON, or chat.completion.chunk events when stream is true",
        },
        **_ERRORS,
    },
)
def chat_completions(body: ChatCompletionRequest, request: Request, key: IdempotencyKey) -> Any:
    service = _service(request)
    if body.n not in (None, 1):
        raise OpenAIInvalid("funcgemma gives one choice; send `n` 1 or leave it out.", param="n")
    for legacy in ("functions", "function_call"):
        if legacy in (body.model_extra or {}):
            raise OpenAIInvalid(
                f"`{legacy}` is OpenAI's older form; send `tools` and `tool_choice` instead.",
                param=legacy,
            )
    at, text = last_user(body.messages)
    where = f"messages[{at}].content"
    try:
        check_text(text, max_chars=service.settings.max_text_chars, field=where)
    except TextTooLong:
        raise
    except InvalidRequest as exc:
        raise OpenAIInvalid(exc.message, param=where) from None
    if body.tools:
        return _tool_calling(service, body, at, text)
    if body.tool_choice not in (None, "none", "auto"):
        raise OpenAIInvalid(
            "`tool_choice` needs `tools`: declare the functions it may call.", param="tool_choice"
        )
    return _assistant(service.conversation, body, text, key)


def _tool_calling(service: Service, body: ChatCompletionRequest, at: int, text: str) -> Any:
    tools = body.tools or []
    mode, only = tool_choice_of(body.tool_choice, [t.function.name for t in tools])
    router = router_for(service, tools)
    answered = any(m.role in ("tool", "function") for m in body.messages[at + 1 :])
    if mode == "none" or (mode == "auto" and answered):
        return _chat_reply(service, body, at, text, None)
    # the messages before: a follow-up ("and in Osaka?") goes on from their tool calls
    route = router.route(text, call=mode, only=only, history=history_of(body.messages))
    calls = route.calls[:1] if body.parallel_tool_calls is False else route.calls
    if not calls:
        return _chat_reply(service, body, at, text, route)
    route = route.model_copy(update={"calls": calls})
    out = [
        ToolCallOut(
            id=f"call_{uuid.uuid4().hex[:24]}",
            function=FunctionCallOut(
                name=c.name, arguments=utf8(json.dumps(c.arguments, ensure_ascii=False))
            ),
        )
        for c in calls
    ]
    cid, model, extension = new_id(), route.model, Extension(route=route)
    if body.stream:
        return sse(tool_call_events(cid, model, out, extension))
    return ChatCompletion(
        id=cid,
        created=int(time.time()),
        model=model,
        choices=[Choice(message=AssistantMessage(tool_calls=out), finish_reason="tool_calls")],
        funcgemma=_sendable(extension),
    )


def _reply_messages(
    service: Service, messages: Sequence[ChatMessage], at: int, text: str
) -> list[Message]:
    """What the chat model reads: the client's system text (else funcgemma's), the results
    of tools run since the last user message, the earlier turns' text, the message."""
    system = "\n".join(
        t
        for i, m in enumerate(messages)
        if m.role in ("system", "developer")
        if (t := message_text(m.content, f"messages[{i}].content")).strip()
    )
    names = {c.id: c.function.name for m in messages for c in m.tool_calls or () if c.id}
    results = [
        (
            m.name or names.get(m.tool_call_id or "") or "tool",
            message_text(m.content, f"messages[{at + 1 + i}].content"),
        )
        for i, m in enumerate(messages[at + 1 :])
        if m.role in ("tool", "function")
    ]
    system = system or SYSTEM_PROMPT
    for name, result in results:
        system += (
            f"\nThe tool `{name}` was run for this message and returned:\n{result}\n"
            "Base your answer on it."
        )
    earlier = [
        Message(role=m.role, content=t)
        for i, m in enumerate(messages[:at])
        if m.role in ("user", "assistant")
        if (t := message_text(m.content, f"messages[{i}].content")).strip()
    ]
    keep = 2 * service.settings.history_turns
    return [
        Message(role="system", content=system if results else system + NO_TOOL),
        *(earlier[-keep:] if keep else []),
        Message(role="user", content=text),
    ]


def _chat_reply(
    service: Service, body: ChatCompletionRequest, at: int, text: str, route: RouteResult | None
) -> Any:
    """The chat model's answer in ``content`` (no call was made), or the router's question
    back when the call lacked a value (``route.ask``)."""
    conv = service.conversation
    if route is not None and route.ask is not None:
        # a call that lacks a value only the user can give: the question that asks for it
        pieces: Iterator[str] = iter([route.ask.question])
    else:
        pieces = conv.chat.stream(
            _reply_messages(service, body.messages, at, text), options=conv.options
        )
    cid, model, extension = new_id(), conv.chat.model, Extension(route=route)
    if body.stream:
        return sse(
            content_events(cid, model, pieces, extension), BackgroundTask(close_quietly, pieces)
        )
    return _completion(cid, model, "".join(pieces).strip(), extension)


def _completion(cid: str, model: str, content: str, extension: Extension) -> ChatCompletion:
    return ChatCompletion(
        id=cid,
        created=int(time.time()),
        model=model,
        choices=[Choice(message=AssistantMessage(content=utf8(content)), finish_reason="stop")],
        funcgemma=_sendable(extension),
    )


def _sendable(extension: Extension) -> Extension:
    """``extension`` with every string made sendable as UTF-8 (openai_stream.utf8)."""
    return Extension.model_validate(clean(extension.model_dump(mode="json")))


def _with_notice(turn: Turn) -> str:
    """The reply, and what funcgemma's function did in a line of its own (the reply
    already says it where funcgemma wrote the reply itself)."""
    if turn.notice and turn.replied_by_model:
        return f"{turn.reply}\n\n{turn.notice}"
    return turn.reply


def _extension(turn: Turn) -> Extension:
    return Extension(
        route=turn.route,
        notice=turn.notice,
        function_result=turn.function_result,
        function_error=turn.function_error,
    )


def _assistant(
    conv: Conversation, body: ChatCompletionRequest, text: str, key: Keyed | None
) -> Any:
    """funcgemma as its own assistant (no ``tools``): /chat's turn, in OpenAI's shapes."""
    if not body.stream:

        def answer(_: str | None = None) -> ChatCompletion:
            turn = conv.start(text)
            try:
                turn.collect()
            finally:
                conv.reset(turn.session_id)
            return _completion(new_id(), conv.chat.model, _with_notice(turn), _extension(turn))

        return key.respond(answer) if key else answer()
    if key is not None and (stored := key.begin()) is not None:
        return _replayed(stored)
    turn = key.run(lambda: conv.start(text)) if key else conv.start(text)
    cid, model = new_id(), conv.chat.model

    def events() -> Iterator[str]:
        try:
            yield chunk(cid, model, {"role": "assistant", "content": ""})
            for piece in turn.replies():
                yield chunk(cid, model, {"content": piece})
            if _with_notice(turn) != turn.reply:
                yield chunk(cid, model, {"content": _with_notice(turn)[len(turn.reply) :]})
            if key is not None:  # stored before the last event is sent
                key.finish(_completion(cid, model, _with_notice(turn), _extension(turn)))
        except FuncgemmaError as exc:
            if key is not None:
                key.release()
            yield error_event(exc)
            return
        finally:
            turn.close()
            conv.reset(turn.session_id)
        yield chunk(cid, model, {}, "stop", _extension(turn))
        yield DONE

    return sse(events(), BackgroundTask(_closed, conv, turn, key))


def _closed(conv: Conversation, turn: Turn, key: Keyed | None) -> None:
    turn.close()
    conv.reset(turn.session_id)
    if key is not None:  # the client went away before the end: a retry runs it again
        key.release()


def _replayed(stored: Stored) -> Any:
    """A streamed answer given again (Idempotency-Key): its whole content as one delta."""
    headers = {REPLAYED_HEADER: "true"}
    if stored.status != 200:
        return JSONResponse(stored.body, status_code=stored.status, headers=headers)
    first = ChatCompletion.model_validate(stored.body)
    content = first.choices[0].message.content or ""

    def events() -> Iterator[str]:
        yield chunk(first.id, first.model, {"role": "assistant", "content": ""})
        yield chunk(first.id, first.model, {"content": content})
        yield chunk(first.id, first.model, {}, "stop", first.funcgemma)
        yield DONE

    return sse(events(), headers=headers)
