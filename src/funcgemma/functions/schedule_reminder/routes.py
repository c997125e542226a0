"""The reminders over HTTP: GET /reminders, GET and POST /reminders/due, GET and DELETE
/reminders/{id} (the ``routes`` hook; the app mounts them). POST and DELETE accept
``Idempotency-Key``: the same key again answers as the first request did and changes
nothing again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from ...api.idempotency import IdempotencyKey
from ...errors import NotFound
from .store import Reminder, ReminderStore, reminder_store

if TYPE_CHECKING:
    from ...api.app import Service


def _listed(items: list[Reminder]) -> dict[str, Any]:
    return {"reminders": [r.model_dump(mode="json") for r in items]}


def _reminder_not_found(reminder_id: int) -> NotFound:
    return NotFound(f"No reminder #{reminder_id} (GET /reminders?include_done=true lists them).")


def routes(service: Service) -> APIRouter:
    """The reminder routes over ``service``'s function context."""
    router = APIRouter()
    ctx = service.conversation.ctx

    def _store() -> ReminderStore:
        return reminder_store(ctx)

    @router.get("/reminders")
    def reminders(include_done: bool = False) -> dict[str, Any]:
        """The reminders, soonest first, and the rows that cannot be read (edited by hand:
        their number and why; DELETE /reminders/{id} removes one), so one bad row does not
        hide the rest."""
        items, unreadable = _store().listing(include_done=include_done)
        return {**_listed(items), "unreadable": [u.model_dump() for u in unreadable]}

    @router.get("/reminders/due")
    def due_reminders() -> dict[str, Any]:
        """The reminders whose time has come and that were not shown yet, left as they are
        (POST takes them: returns them once and marks them shown)."""
        return _listed(_store().due(ctx.now()))

    @router.post("/reminders/due")
    def take_due_reminders(key: IdempotencyKey) -> Any:
        """The reminders whose time has come and that were not shown yet, marked shown as
        they are returned: of several clients (a chat, a notifier) each gets a reminder once."""
        def take(action: str | None) -> dict[str, Any]:
            return _listed(_store().claim_due(ctx.now(), key=action))

        return key.respond(take) if key else take(None)

    @router.get("/reminders/{reminder_id}")
    def reminder(reminder_id: int) -> dict[str, Any]:
        try:
            found = _store().get(reminder_id)
        except KeyError:
            raise _reminder_not_found(reminder_id) from None
        return found.model_dump(mode="json")

    @router.delete("/reminders/{reminder_id}")
    def delete_reminder(reminder_id: int, key: IdempotencyKey) -> Any:
        """Delete a reminder, shown or not; answers with it as it was."""
        def delete(action: str | None) -> dict[str, Any]:
            try:
                gone = _store().delete(reminder_id, key=action)
            except KeyError:
                raise _reminder_not_found(reminder_id) from None
            # a row edited by hand so that it cannot be read is deleted all the same
            return {"deleted": gone.model_dump(mode="json") if gone else {"id": reminder_id}}

        return key.respond(delete) if key else delete(None)

    return router
