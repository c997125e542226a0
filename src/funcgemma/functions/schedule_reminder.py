"""schedule_reminder: parse when, store the reminder in SQLite, confirm it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..registry import FunctionSpec
from ..timeparse import parse_when
from .context import FunctionContext


class ScheduleReminderParams(BaseModel):
    """Set a reminder for the user at a time."""

    task: str = Field(description="What to remind the user of, e.g. 'call mom'.")
    time: str | None = Field(None, description="When, as said, e.g. 'tomorrow at 9am'.")


def schedule_reminder(params: ScheduleReminderParams, ctx: FunctionContext) -> dict[str, Any]:
    if not params.time:
        return {"task": params.task, "error": "No time was given. Ask the user when to remind "
                "them; nothing was saved."}
    due = parse_when(params.time, now=ctx.now())
    if due is None:
        return {"task": params.task, "time": params.time, "error": f"Could not understand the "
                f"time {params.time!r}. Ask the user for a clearer time; nothing was saved."}
    if due < ctx.now():
        return {"task": params.task, "time": params.time, "error": f"{params.time!r} is in the "
                "past. Ask the user for a future time; nothing was saved."}
    reminder = ctx.reminder_store().add(params.task, due, said=params.time)
    return {
        "saved": True,
        "id": reminder.id,
        "task": reminder.what,
        # stored in UTC; confirmed in the user's own time zone
        "due": reminder.due.astimezone(due.tzinfo).isoformat(timespec="minutes"),
        "answer_with": "Confirm the reminder with its date and time.",
    }


SPEC = FunctionSpec(
    name="schedule_reminder",
    grounded=("task", "time"),
    copied=("task", "time"),
    when=("time",),
    params=ScheduleReminderParams,
    handler=schedule_reminder,
    examples=(
        "Remind me to call mom at 6pm",
        "Set a reminder for the dentist tomorrow at 9am",
        "明日の朝9時に会議をリマインドして",
        "30分後に洗濯物を取り込むのを教えて",
    ),
)
