"""The reminders on the terminal: `funcgemma reminders [list|delete N|due] [--json]`, the
chat's `/reminders` command, the due reminders shown before each chat prompt, and the
reminders' part of `funcgemma doctor` (declared as hooks in the package's SPEC)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any, TextIO

from ...errors import FuncgemmaError, InvalidRequest, NotFound
from ...plugins import ChatCommand, Command, Invocation, shown
from ...settings import Settings
from ..context import FunctionContext
from .recurrence import Repeat, zone_key
from .store import Listing, Reminder, reminder_store

log = logging.getLogger(__name__)

USAGE = "usage: /reminders  (list them) · /reminders delete N  (delete reminder #N)"


def _when(reminder: Reminder, ctx: FunctionContext) -> str:
    """A reminder's time on the user's clock (the one the functions use)."""
    zone = ctx.now().tzinfo
    return reminder.due.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _line(reminder: Reminder, ctx: FunctionContext) -> str:
    done = "  (shown)" if reminder.notified else ""
    repeat = Repeat.decode(reminder.repeat) if reminder.repeat else None
    every = f"  ({repeat.describe()})" if repeat else ""
    return f"#{reminder.id} {_when(reminder, ctx)}  {shown(reminder.what)}{every}{done}"


def _due_line(reminder: Reminder, ctx: FunctionContext) -> str:
    return f"⏰ reminder due: {shown(reminder.what)} ({_when(reminder, ctx)})"


def _list_reminders(ctx: FunctionContext, out: TextIO, indent: str = "  ") -> None:
    items, unreadable = reminder_store(ctx).listing()
    if not items and not unreadable:
        print(f"{indent}(no reminders)", file=out)
    for r in items:
        print(f"{indent}{_line(r, ctx)}", file=out)
    for bad in unreadable:  # the file's text, so escaped like a reminder's
        print(f"{indent}#{bad.id} ! {shown(bad.problem)}", file=out)


def _reminder_number(word: str) -> int | None:
    """'3' or '#3' as 3; None for anything else (a sign, a word, another script's digits)."""
    number = word.removeprefix("#")
    return int(number) if number.isascii() and number.isdigit() else None


def _delete_reminder(ctx: FunctionContext, rid: int) -> str:
    """What was deleted, said in one line; KeyError if there is no such reminder."""
    gone = reminder_store(ctx).delete(rid)
    if gone is None:
        return f"deleted reminder #{rid} (it could not be read)"
    return f"deleted reminder {_line(gone, ctx)}"


def chat_command(ctx: FunctionContext, words: list[str], out: TextIO) -> None:
    """`/reminders [list]`, `/reminders delete N` in the terminal chat."""
    if not words or words == ["list"]:
        _list_reminders(ctx, out)
        return
    if words[0] not in ("delete", "del", "rm", "cancel") or len(words) != 2:
        print(f"  {USAGE}", file=out)
        return
    rid = _reminder_number(words[1])
    if rid is None:
        print(f"  not a reminder number: {shown(words[1][:40])}; {USAGE}", file=out)
        return
    try:
        print(f"  {_delete_reminder(ctx, rid)}", file=out)
    except KeyError:
        print(f"  no reminder #{rid} (/reminders lists them)", file=out)


def _configure(rm: argparse.ArgumentParser) -> None:
    rm.add_argument("action", nargs="?", choices=["list", "delete", "due"], default="list",
                    help="list (default); delete N; due: print the reminders that are due "
                    "and mark them shown (for cron or a timer)")
    rm.add_argument("id", nargs="?", help="the reminder's number, for delete")
    rm.add_argument("--json", action="store_true", help="list or due as JSON")


def run_command(call: Invocation) -> int:
    """`funcgemma reminders [list|delete N|due]`: the store alone, no model loaded."""
    args, out = call.args, call.out
    ctx = (call.conversation.ctx if call.conversation is not None
           else FunctionContext(settings=call.settings))
    if args.action != "delete" and args.id is not None:
        raise InvalidRequest(f"`reminders {args.action}` takes no number; "
                             "did you mean `reminders delete N`?")
    if args.action == "delete":
        rid = _reminder_number(args.id or "")
        if rid is None:
            raise InvalidRequest("`reminders delete N` needs the reminder's number (1, or #1); "
                                 "`funcgemma reminders` lists them.")
        try:
            print(_delete_reminder(ctx, rid), file=out)
        except KeyError:
            raise NotFound(f"no reminder #{rid} (`funcgemma reminders` lists them)") from None
        return 0
    store = reminder_store(ctx)
    if not args.json and args.action == "list":
        _list_reminders(ctx, out, indent="")
        return 0
    # due: taken and marked shown in one step, for a notifier run from cron or a timer
    items, unreadable = (Listing(store.claim_due(ctx.now()), []) if args.action == "due"
                         else store.listing())
    if not args.json:
        for r in items:
            print(_due_line(r, ctx), file=out)
        return 0
    print(json.dumps([r.model_dump(mode="json") for r in items], ensure_ascii=False), file=out)
    for bad in unreadable:  # the JSON on stdout stays a list of reminders
        print(f"funcgemma reminders: {shown(bad.problem)}", file=call.err)
    return 0


def due_notices(ctx: FunctionContext) -> list[str]:
    """The reminders that came due, each shown once: claimed and marked shown at once, so
    a second chat open at the same time does not show the same reminder again. A broken
    store is said once in the log (not before every prompt), never stops the chat."""
    try:
        return [_due_line(r, ctx) for r in reminder_store(ctx).claim_due(ctx.now())]
    except FuncgemmaError as exc:
        warned: set[str] = ctx.kept("schedule_reminder.warned", set)
        if exc.message not in warned:
            warned.add(exc.message)
            log.warning("could not read reminders: %s", exc.message)
        return []


def doctor_report(settings: Settings) -> dict[str, Any]:
    """Where reminders live and whether they can be read, and the clock and date order
    reminder times are read with. Creates no file (an older one gets the columns added
    since, as the chat would add them, its rows kept); never decides the exit code (the
    chat runs without reminders)."""
    path = settings.reminders_db
    report: dict[str, Any] = {"reminders_file": str(path)}
    try:
        ctx = FunctionContext(settings=settings)
        now = ctx.now()
        report["time_zone"] = zone_key(now.tzinfo)
        report["now"] = now.isoformat(timespec="minutes")
        report["date_order"] = ctx.date_order()
        if not path.exists():
            report["reminders"] = "no file yet (created with the first reminder)"
            return report
        items, unreadable = reminder_store(ctx).listing()
        report["reminders"] = {"total": len(items) + len(unreadable),
                               "pending": sum(not r.notified for r in items),
                               "repeating": sum(bool(r.repeat) for r in items)}
        if unreadable:
            report["reminders"]["unreadable"] = [u.problem for u in unreadable]
    except FuncgemmaError as exc:
        report["error"] = exc.message
    return report


COMMAND = Command(name="reminders", help="list or delete reminders, or take the due ones "
                  "(no model is loaded)", run=run_command, configure=_configure,
                  description=argparse.SUPPRESS)  # its --help starts with the usage
CHAT_COMMAND = ChatCommand(name="reminders", usage="/reminders  list reminders · "
                           "/reminders delete N  delete reminder #N", run=chat_command)
