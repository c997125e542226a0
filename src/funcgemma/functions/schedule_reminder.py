"""schedule_reminder: parse when, store the reminder in SQLite, confirm it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..messages import Said
from ..registry import FunctionSpec
from ..timeparse import parse_when
from .context import FunctionContext


class ScheduleReminderParams(BaseModel):
    """Set a reminder for the user at a time."""

    task: str = Field(description="What to remind the user of, e.g. 'call mom'.")
    time: str | None = Field(None, description="When, as said, e.g. 'tomorrow at 9am'.")


def schedule_reminder(params: ScheduleReminderParams, ctx: FunctionContext) -> dict[str, Any]:
    if not params.time:
        return {"task": params.task, "error": Said(
            f"No time was given, so nothing was saved. When should I remind you to "
            f"{params.task}?",
            ja=f"時刻がなかったので保存していません。「{params.task}」をいつお知らせしますか?")}
    due = parse_when(params.time, now=ctx.now(), order=ctx.date_order())
    if due is None:
        return {"task": params.task, "time": params.time, "error": Said(
            f"Could not understand the time {params.time!r}, so nothing was saved. When "
            f"should I remind you to {params.task}?",
            ja=f"「{params.time}」という時刻が読めなかったので保存していません。"
            f"「{params.task}」をいつお知らせしますか?")}
    if due < ctx.now():
        return {"task": params.task, "time": params.time, "error": Said(
            f"{params.time!r} is in the past, so nothing was saved. When should I remind "
            f"you to {params.task}?",
            ja=f"「{params.time}」は過ぎているので保存していません。"
            f"「{params.task}」をいつお知らせしますか?")}
    reminder = ctx.reminder_store().add(params.task, due, said=params.time)
    return {
        "saved": True,
        "id": reminder.id,
        "task": reminder.what,
        # stored in UTC; confirmed in the user's own time zone
        "due": reminder.due.astimezone(due.tzinfo).isoformat(timespec="minutes"),
        "answer_with": "Confirm the reminder with its date and time.",
    }


def confirm(result: dict[str, Any]) -> str:
    """What was saved, for when, in the user's time zone."""
    due = result["due"].replace("T", " ")[:16]
    return Said(f"reminder #{result['id']} saved: {result['task']}, {due}",
                ja=f"リマインダー #{result['id']} を保存しました: {result['task']}、{due}")


SPEC = FunctionSpec(
    name="schedule_reminder",
    confirm=confirm,
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
