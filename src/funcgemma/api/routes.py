"""HTTP routes: translate requests to Conversation/Router calls and back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from ..errors import BackendUnavailable, FuncgemmaError, InvalidRequest
from ..settings import HomePlace
from ..types import ChatReply, Message, RouteResult
from .app import Service
from .idempotency import IdempotencyKey, Keyed, replay

if TYPE_CHECKING:
    from ..conversation import Turn

router = APIRouter()
# mounted after the functions' own routes (FunctionHooks.routes), as they always were
health_router = APIRouter()
# line separators that JSON leaves as they are but line readers (httpx's iter_lines,
# str.splitlines) split on: escaped, so one event is always one line
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"})


def _ndjson(event: dict[str, Any]) -> str:
    """One NDJSON line for a streamed /chat event."""
    return json.dumps(event, ensure_ascii=False, default=str).translate(_LINE_BREAKS) + "\n"


# the turns a /route request may carry: a follow-up needs only the turn before
MAX_HISTORY = 40


class HistoryItem(Message):
    """An earlier message of the conversation: ``role`` user or assistant (an assistant
    message carries the calls made for its turn in ``tool_calls``, as /route returned
    them), or tool (a function's result)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "tool"]  # type: ignore[assignment]


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The user's message to route.")
    history: list[HistoryItem] = Field(
        default_factory=list, max_length=MAX_HISTORY,
        description="The conversation before `text`, oldest first. A follow-up of the "
        "last turn's calls (\"and in Osaka?\", \"at 6\") is routed as that call with the "
        "value it gives (source \"context\"). Nothing is kept between requests unless "
        "`session_id` is given.")
    session_id: str | None = Field(
        default=None, description="Route as a turn of this session instead of `history`: "
        "read with its earlier turns (of /route or /chat) and kept in it, so the next "
        "request of the session follows up on it. Nothing is run.")
    home_place: HomePlace = Field(
        default=None,
        description="The user's home place: a weather request that names no place is for "
        "it (over FUNCGEMMA_HOME_PLACE) rather than asked \"Where?\".")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    session_id: str | None = None
    stream: bool = False
    home_place: HomePlace = Field(default=None, description="As on /route.")


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


@router.post("/route", response_model=RouteResult)
def route(body: RouteRequest, request: Request, response: Response) -> RouteResult:
    service = _service(request)
    defaults = {"home_place": body.home_place}
    if body.session_id is not None:
        if body.history:
            raise InvalidRequest("Send the conversation as `history` or name its "
                                 "`session_id`, not both.")
        result = service.conversation.route(body.text, body.session_id, defaults)
    else:
        result = service.router.route(body.text, history=body.history, defaults=defaults)
    response.headers["X-Route-Latency-Ms"] = f"{result.latency_ms:.3f}"
    return result


@router.post(
    "/chat",
    response_model=ChatReply,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON, or NDJSON "
                     "events (route, delta, done | error) when stream is true"}},
)
def chat(body: ChatRequest, request: Request, key: IdempotencyKey) -> Any:
    conversation = _service(request).conversation
    if key is not None and (stored := key.begin()) is not None:  # a retry: the first answer
        return replay(stored, _replayed_events if body.stream else None)
    defaults = {"home_place": body.home_place}
    turn = (key.run(lambda: conversation.start(body.message, body.session_id, defaults)) if key
            else conversation.start(body.message, body.session_id, defaults))
    if not body.stream:
        return key.finish(key.run(turn.collect)) if key else turn.collect()

    def events() -> Iterator[str]:
        head = {"type": "route", "session_id": turn.session_id, "route": turn.route.model_dump(),
                "function_result": turn.function_result, "function_error": turn.function_error,
                "notice": turn.notice}
        try:
            yield _ndjson(head)
            for piece in turn.replies():
                yield _ndjson({"type": "delta", "text": piece})
            if key is not None:  # stored before `done` is sent
                key.finish(_reply_of(turn))
        except FuncgemmaError as exc:
            if key is not None:
                key.release()
            yield _ndjson({"type": "error", **exc.to_dict()})
            return
        finally:
            turn.close()  # a client that went away stops the generation
        yield _ndjson({"type": "done", "reply": turn.reply})

    # Starlette does not close a sync body iterator when the client disconnects; the
    # background task runs after the response either way.
    return StreamingResponse(events(), media_type="application/x-ndjson",
                             background=BackgroundTask(_closed, turn, key))


def _closed(turn: Turn, key: Keyed | None) -> None:
    turn.close()
    if key is not None:  # the client went away before `done`: a retry runs it again
        key.release()


def _reply_of(turn: Turn) -> ChatReply:
    return ChatReply(session_id=turn.session_id, reply=turn.reply, route=turn.route,
                     function_result=turn.function_result,
                     function_error=turn.function_error, notice=turn.notice)


def _replayed_events(reply: dict[str, Any]) -> Iterator[str]:
    """A streamed reply given again (Idempotency-Key): its route event, the whole reply
    as one delta, and done."""
    head = {"type": "route", **{name: reply.get(name) for name in (
        "session_id", "route", "function_result", "function_error", "notice")}}
    yield _ndjson(head)
    if reply.get("reply"):
        yield _ndjson({"type": "delta", "text": reply["reply"]})
    yield _ndjson({"type": "done", "reply": reply.get("reply", "")})


@router.get("/functions")
def functions(request: Request) -> dict[str, Any]:
    registry = _service(request).conversation.registry
    return {
        "functions": [
            {"name": tool["function"]["name"], "description": tool["function"]["description"],
             "parameters": tool["function"]["parameters"],
             "examples": list(registry.get(tool["function"]["name"]).examples)}
            for tool in registry.tools()
        ]
    }


def _states(state: dict[str, tuple[bool, str]]) -> dict[str, str]:
    return {role: "ready" if ok else f"not ready: {why}" for role, (ok, why) in state.items()}


@health_router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """Liveness: `status` "ok" and 200 while the process answers, with the backend's state:
    `ready` is false while a model cannot serve (Ollama unreachable, a model missing)."""
    svc = _service(request)
    conv = svc.conversation
    state = svc.backend_state()
    ready = all(ok for ok, _ in state.values())
    return {
        "status": "ok",  # liveness: the server answers (readiness is "ready")
        "backend": svc.backend_kind,
        "reason": svc.backend_reason,
        "router": conv.router.backend.describe(),
        "chat": conv.chat.describe(),
        "functions": conv.registry.names,
        "ready": ready,
        "backend_state": _states(state),
    }


@health_router.get("/health/ready", responses={503: {"description": "backend_unavailable, with "
                                              "Retry-After, until the backend can serve"}})
def health_ready(request: Request) -> dict[str, Any]:
    """Readiness, for a load balancer: 200 when the router and chat models can serve,
    503 `backend_unavailable` (with Retry-After) until they can."""
    state = _service(request).backend_state()
    problems = [f"{role}: {why}" for role, (ok, why) in state.items() if not ok]
    if problems:
        raise BackendUnavailable("The backend cannot serve yet: " + "; ".join(problems))
    return {"ready": True, "backend_state": _states(state)}
