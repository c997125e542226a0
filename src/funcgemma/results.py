"""What a function's handler returns: ``Done`` or ``Failed``.

- ``Done(data, notice=None, answer_with=None)``: the function did its job. ``data`` is what
  it found or did (JSON-able; the chat model reads it, and ``/chat`` shows it as
  ``function_result``); ``notice`` is one line the user can trust as it is ("reminder #3
  saved: call mom, 2026-11-26 18:00", the forecast as fetched), shown beside the chat
  model's reply; ``answer_with`` tells the chat model what to say with it.
- ``Failed(message, data={})``: it could not do what was asked (a time it cannot read, no
  forecast). ``message`` is said to the user as it is, and the chat model is not asked to
  make up a result; a ``messages.Said`` keeps its Japanese. ``data`` is what was asked
  (the task and time), shown with the message.

``payload()`` is the result as the chat model and the API's JSON see it: ``data`` with
``answer_with``, or with ``error`` for a failure (the shape results had as plain dicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Done:
    data: dict[str, Any]
    notice: str | None = None
    answer_with: str | None = None

    def payload(self) -> dict[str, Any]:
        if self.answer_with is None:
            return dict(self.data)
        return {**self.data, "answer_with": self.answer_with}


@dataclass(frozen=True)
class Failed:
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {**self.data, "error": self.message}


Result = Done | Failed


def from_fields(fields: Mapping[str, Any], *, notice: str | None = None) -> Result:
    """A result built as one dict by a helper shared by several functions (funcgemma.facts:
    ``error`` for what could not be done, ``answer_with`` for the chat model) as a typed
    result. ``notice`` is for a success only."""
    data = dict(fields)
    error = data.pop("error", None)
    if isinstance(error, str):
        return Failed(error, data)
    answer_with = data.pop("answer_with", None)
    return Done(data, notice=notice, answer_with=answer_with if isinstance(answer_with, str)
                else None)


__all__ = ["Done", "Failed", "Result", "from_fields"]
