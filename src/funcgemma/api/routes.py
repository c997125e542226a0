"""HTTP routes: translate requests to Conversation/Router calls and back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from ..errors import FuncgemmaError, NotFound
from ..types import ChatReply, RouteResult
from .app import Service

if TYPE_CHECKING:
    from ..reminders import Reminder, ReminderStore

router = APIRouter()


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The user's message to route.")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    session_id: str | None = None
    stream: bool = False


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


@router.post("/route", response_model=RouteResult)
def route(body: RouteRequest, request: Request, response: Response) -> RouteResult:
    result = _service(request).conversation.router.route(body.text)
    response.headers["X-Route-Latency-Ms"] = f"{result.latency_ms:.3f}"
    return result


@router.post(
    "/chat",
    response_model=ChatReply,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON, or NDJSON "
                     "events (route, delta, done | error) when stream is true"}},
)
def chat(body: ChatRequest, request: Request) -> Any:
    turn = _service(request).conversation.start(body.message, body.session_id)
    if not body.stream:
        return turn.collect()

    def events() -> Iterator[str]:
        head = {"type": "route", "session_id": turn.session_id, "route": turn.route.model_dump(),
                "function_result": turn.function_result, "function_error": turn.function_error,
                "notice": turn.notice}
        try:
            yield json.dumps(head, ensure_ascii=False, default=str) + "\n"
            for piece in turn.chunks():
                yield json.dumps({"type": "delta", "text": piece}, ensure_ascii=False) + "\n"
        except FuncgemmaError as exc:
            yield json.dumps({"type": "error", **exc.to_dict()}, ensure_ascii=False) + "\n"
            return
        finally:
            turn.close()  # a client that went away stops the generation
        yield json.dumps({"type": "done", "reply": turn.reply}, ensure_ascii=False) + "\n"

    # Starlette does not close a sync body iterator when the client disconnects; the
    # background task runs after the response either way.
    return StreamingResponse(events(), media_type="application/x-ndjson",
                             background=BackgroundTask(turn.close))


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


def _store(request: Request) -> ReminderStore:
    return _service(request).conversation.ctx.reminder_store()


def _listed(items: list[Reminder]) -> dict[str, Any]:
    return {"reminders": [r.model_dump(mode="json") for r in items]}


@router.get("/reminders")
def reminders(request: Request, include_done: bool = False) -> dict[str, Any]:
    """The reminders, soonest first, and the rows that cannot be read (edited by hand:
    their number and why; DELETE /reminders/{id} removes one), so one bad row does not
    hide the rest."""
    items, unreadable = _store(request).listing(include_done=include_done)
    return {**_listed(items), "unreadable": [u.model_dump() for u in unreadable]}


@router.get("/reminders/due")
def due_reminders(request: Request) -> dict[str, Any]:
    """The reminders whose time has come and that were not shown yet, left as they are
    (POST takes them: returns them once and marks them shown)."""
    return _listed(_store(request).due(_service(request).conversation.ctx.now()))


@router.post("/reminders/due")
def take_due_reminders(request: Request) -> dict[str, Any]:
    """The reminders whose time has come and that were not shown yet, marked shown as
    they are returned: of several clients (a chat, a notifier) each gets a reminder once."""
    return _listed(_store(request).claim_due(_service(request).conversation.ctx.now()))


def _reminder_not_found(reminder_id: int) -> NotFound:
    return NotFound(f"No reminder #{reminder_id} (GET /reminders?include_done=true lists them).")


@router.get("/reminders/{reminder_id}")
def reminder(reminder_id: int, request: Request) -> dict[str, Any]:
    try:
        found = _store(request).get(reminder_id)
    except KeyError:
        raise _reminder_not_found(reminder_id) from None
    return found.model_dump(mode="json")


@router.delete("/reminders/{reminder_id}")
def delete_reminder(reminder_id: int, request: Request) -> dict[str, Any]:
    """Delete a reminder, shown or not; answers with it as it was."""
    try:
        gone = _store(request).delete(reminder_id)
    except KeyError:
        raise _reminder_not_found(reminder_id) from None
    # a row edited by hand so that it cannot be read is deleted all the same
    return {"deleted": gone.model_dump(mode="json") if gone else {"id": reminder_id}}


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    svc = _service(request)
    conv = svc.conversation
    return {
        "status": "ok",
        "backend": svc.backend_kind,
        "reason": svc.backend_reason,
        "router": conv.router.backend.describe(),
        "chat": conv.chat.describe(),
        "functions": conv.registry.names,
    }
