"""What a function, or the lab, adds to the service besides a schema and a handler.

The core CLI, API and terminal chat name no function and no lab module: they ask
here for the commands, routes and notices that are declared.

- A function declares ``FunctionSpec.hooks`` (a :class:`FunctionHooks`): CLI
  subcommands, terminal-chat commands, HTTP routes, and notices shown to the user
  before a chat prompt (a reminder that came due).
- Another package (the lab: ``funcgemma eval``, ``train``, ...) declares an entry
  point in the ``funcgemma.commands`` group whose object is a sequence of
  :class:`Command`. It is imported only when the CLI starts, never by the service.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TextIO

import regex

if TYPE_CHECKING:
    from .conversation import Conversation
    from .functions.context import FunctionContext
    from .registry import FunctionRegistry
    from .settings import Settings

log = logging.getLogger(__name__)

COMMAND_GROUP = "funcgemma.commands"
# control characters other than newline and tab: an escape sequence in a reply or a stored
# reminder would be obeyed by the terminal (retitle it, write the clipboard, hide text)
_CONTROL = regex.compile(r"[^\P{Cc}\n\t]")


def shown(text: str) -> str:
    """Text from a model, a user or a file, made safe to print on a terminal (for every
    command that prints what it did not write itself)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True)
class Invocation:
    """What a CLI subcommand is run with."""

    settings: Settings
    args: argparse.Namespace
    stdin: TextIO
    out: TextIO
    err: TextIO
    # the caller's own conversation (tests pass one over scripted backends), else None
    conversation: Conversation | None = None


@dataclass(frozen=True)
class Command:
    """A ``funcgemma NAME`` subcommand. ``run`` returns the exit status."""

    name: str
    help: str
    run: Callable[[Invocation], int]
    configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    description: str | None = None


@dataclass(frozen=True)
class ChatCommand:
    """A terminal-chat command (``/reminders``): ``run(ctx, words, out)`` with the words
    after the command. ``usage`` is its part of the chat's /help line."""

    name: str
    usage: str
    run: Callable[[FunctionContext, list[str], TextIO], None]


@dataclass(frozen=True)
class FunctionHooks:
    """Everything a function contributes beyond its call (all optional)."""

    commands: tuple[Command, ...] = ()
    chat_commands: tuple[ChatCommand, ...] = ()
    # FastAPI routes, mounted by the app: ``routes(service) -> fastapi.APIRouter`` where
    # service is the app's api.Service (its conversation's ``ctx`` is the FunctionContext)
    routes: Callable[[Any], Any] | None = None
    # lines to show the user before the next chat prompt, each shown once (a due
    # reminder); called before every prompt, so it must be cheap and must not raise
    # for a broken store (FuncgemmaError is caught and said once by the chat)
    notices: Callable[[FunctionContext], list[str]] | None = None
    # what `funcgemma doctor` shows of the function's data under "== Data" (where its file
    # is, whether it can be read): keys of one JSON object; must not raise
    doctor: Callable[[Settings], dict[str, Any]] | None = None


def function_hooks(registry: FunctionRegistry) -> list[FunctionHooks]:
    """The hooks of every function of ``registry``, in name order."""
    return [spec.hooks for spec in registry if spec.hooks is not None]


def installed_commands() -> list[Command]:
    """Commands other packages declare in the ``funcgemma.commands`` entry-point group.
    A package that fails to import is left out with a warning: `funcgemma chat` must
    not break because the lab's extra is half installed."""
    found: list[Command] = []
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        try:
            loaded = point.load()
        except Exception as exc:  # noqa: BLE001 - any import error of a plugin
            log.warning("funcgemma: commands %r could not be loaded: %s", point.name, exc)
            continue
        items: Iterable[Any] = loaded() if callable(loaded) else loaded
        found.extend(c for c in items if isinstance(c, Command))
    return found


def all_commands(registry: FunctionRegistry) -> Sequence[Command]:
    """Installed commands, then the functions' (in `funcgemma --help` in that order); a
    name declared twice is an error."""
    commands = installed_commands()
    commands += [c for hooks in function_hooks(registry) for c in hooks.commands]
    seen: set[str] = set()
    for command in commands:
        if command.name in seen:
            raise ValueError(f"the command {command.name!r} is declared twice")
        seen.add(command.name)
    return commands
