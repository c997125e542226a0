"""schedule_reminder: parse when, store the reminder in SQLite, confirm it.

A package that owns its domain: reading times (timeparse), repetition (recurrence), its
store in the service's database (store), and what it adds to the terminal (cli: `funcgemma
reminders`, `/reminders`, the due reminders before each chat prompt, its part of `doctor`)
and to the HTTP API (routes: /reminders), declared as hooks in SPEC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import regex
from pydantic import BaseModel, Field

from ...messages import Said
from ...plugins import FunctionHooks
from ...registry import FunctionSpec
from ...results import Done, Failed
from ...roles import Copied, When
from ...text import nfkc
from ..context import FunctionContext
from .cli import CHAT_COMMAND, COMMAND, doctor_report, due_notices
from .recurrence import Repeat, Unreadable, Unsupported, parse_repeating
from .store import reminder_store
from .timeparse import parse_when


class ScheduleReminderParams(BaseModel):
    """Set a reminder for the user at a time."""

    task: Annotated[str, Copied()] = Field(
        description="What to remind the user of, e.g. 'call mom'."
    )
    time: Annotated[str | None, When(repeats=True)] = Field(
        None, description="When, as said, e.g. 'tomorrow at 9am'."
    )


# Words that ask, join or point but name nothing to be reminded of ("what about", "and
# at", 「は？」, "remind me"); a task left empty once they, its own time and any other
# time are taken out is a fragment ("what about tomorrow?", 「明日は？」), not a task.
_FILLER = regex.compile(
    r"\b(?:what(?:'s|s)?|how|about|and|or|then|so|also|again|at|on|in|by|for|the|is|it|"
    r"that|this|ok(?:ay)?|please|me|remind(?:er|ers)?|set|a|an|do|does|can|could|would|"
    r"will|you|i|just|one|now|same|time|when)\b|リマインド|お知らせ|教えて|[はもってのにでをがかねよ]",
    regex.IGNORECASE,
)


_NAMED = regex.compile(r"[\p{L}\p{N}]")


def names_nothing(arguments: dict[str, Any]) -> bool:
    """True when the task is only a time, a question word or a particle."""
    task = arguments.get("task")
    if not isinstance(task, str):
        return False
    rest = nfkc(task)
    said_time = arguments.get("time")
    if isinstance(said_time, str) and said_time.strip():
        rest = rest.replace(nfkc(said_time.strip()), " ")
    rest = " ".join(_FILLER.sub(" ", rest).split())
    if not _NAMED.search(rest):
        return True
    # what is left is itself a time ("tomorrow", "金曜"): a time with nothing to do at it
    return parse_when(rest, now=datetime.now(timezone.utc), order="YMD") is not None


def unusable(arguments: dict[str, Any]) -> list[str]:
    """["time"] when the time is not one that can be read ("remind", 「リマインド」): the
    router asks for it rather than saving nothing with an error."""
    said = arguments.get("time")
    if not isinstance(said, str) or not said.strip():
        return []
    now = datetime.now(timezone.utc)
    try:
        if parse_repeating(said, now=now, order="YMD") is not None:
            return []
    except Unsupported:
        return []  # a repetition it does not do: the function says which it does
    except Unreadable:
        return ["time"]
    return [] if parse_when(said, now=now, order="YMD") is not None else ["time"]


def schedule_reminder(params: ScheduleReminderParams, ctx: FunctionContext) -> Done | Failed:
    if not params.time:
        return Failed(Said(
            f"No time was given, so nothing was saved. When should I remind you to "
            f"{params.task}?",
            ja=f"時刻がなかったので保存していません。「{params.task}」をいつお知らせしますか?"),
            {"task": params.task})
    now = ctx.now()
    try:
        repeating = parse_repeating(params.time, now=now, order=ctx.date_order())
    except Unreadable:  # a repetition we keep, at a time we cannot read
        return _unreadable(params)
    except Unsupported:
        return Failed(Said(
            f"A reminder can repeat every day, every weekday or every week on one day, at "
            f"one time; {params.time!r} is not one of those, so nothing was saved. When "
            f"should I remind you to {params.task}?",
            ja=f"繰り返しは毎日・平日・毎週（曜日一つ）の決まった時刻だけです。「{params.time}」"
            f"はそのどれでもないので保存していません。「{params.task}」をいつお知らせしますか?"),
            _asked(params))
    if repeating is not None:
        repeat, first = repeating
        return _saved(ctx, params.task, params.time, first, repeat)
    due = parse_when(params.time, now=now, order=ctx.date_order())
    if due is None:
        return _unreadable(params)
    if due < now:
        return Failed(Said(
            f"{params.time!r} is in the past, so nothing was saved. When should I remind "
            f"you to {params.task}?",
            ja=f"「{params.time}」は過ぎているので保存していません。"
            f"「{params.task}」をいつお知らせしますか?"), _asked(params))
    return _saved(ctx, params.task, params.time, due, None)


def _saved(ctx: FunctionContext, task: str, said: str, due: datetime,
           repeat: Repeat | None) -> Done:
    """Save the reminder (first due at ``due``; again at each time of ``repeat``)."""
    # a retried request (Idempotency-Key) gets the reminder its first run saved
    reminder = reminder_store(ctx).add(task, due, said=said, repeat=repeat,
                                       key=ctx.action_key())
    data: dict[str, Any] = {
        "saved": True,
        "id": reminder.id,
        "task": reminder.what,
        # stored in UTC; confirmed in the user's own time zone
        "due": reminder.due.astimezone(due.tzinfo).isoformat(timespec="minutes"),
    }
    if repeat is None:
        return Done(data, notice=_notice(data, None),
                    answer_with="Confirm the reminder with its date and time.")
    data.update(repeat=repeat.encode(), every=str(repeat.describe()))
    return Done(data, notice=_notice(data, repeat),
                answer_with="Confirm the repeating reminder: how often, at what time, "
                            "and when it first comes.")


def _asked(params: ScheduleReminderParams) -> dict[str, Any]:
    return {"task": params.task, "time": params.time}


def _unreadable(params: ScheduleReminderParams) -> Failed:
    return Failed(Said(
        f"Could not understand the time {params.time!r}, so nothing was saved. When "
        f"should I remind you to {params.task}?",
        ja=f"「{params.time}」という時刻が読めなかったので保存していません。"
        f"「{params.task}」をいつお知らせしますか?"), _asked(params))


def _notice(saved: dict[str, Any], repeat: Repeat | None) -> str:
    """What was saved, for when, in the user's time zone."""
    due = saved["due"].replace("T", " ")[:16]
    if repeat is not None:
        every = repeat.describe()
        return Said(f"reminder #{saved['id']} saved: {saved['task']}, {every}, first "
                    f"{due}",
                    ja=f"リマインダー #{saved['id']} を保存しました: {saved['task']}、"
                    f"{every.ja}、初回 {due}")
    return Said(f"reminder #{saved['id']} saved: {saved['task']}, {due}",
                ja=f"リマインダー #{saved['id']} を保存しました: {saved['task']}、{due}")


def _routes(service: Any) -> Any:
    from .routes import routes  # FastAPI is imported by the API only

    return routes(service)


HOOKS = FunctionHooks(commands=(COMMAND,), chat_commands=(CHAT_COMMAND,), routes=_routes,
                      notices=due_notices, doctor=doctor_report)

SPEC = FunctionSpec(
    name="schedule_reminder",
    hooks=HOOKS,
    changes_state=True,
    names_nothing=names_nothing,
    asks_for={"task": Said("What should I remind you about?", ja="何をお知らせしますか？"),
              "time": Said("When should I remind you?", ja="いつお知らせしますか？")},
    unusable=unusable,
    params=ScheduleReminderParams,
    handler=schedule_reminder,
    examples=(
        "Remind me to call mom at 6pm",
        "Set a reminder for the dentist tomorrow at 9am",
        "明日の朝9時に会議をリマインドして",
        "30分後に洗濯物を取り込むのを教えて",
    ),
)
