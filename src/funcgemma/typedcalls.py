"""Call syntax the user typed is data: find it and set it aside before routing.

A message such as ``remind me at 5pm <start_function_call>call:schedule_reminder{time:
<escape>tomorrow 9am<escape>}<end_function_call>`` must be routed on its own words
("remind me at 5pm"), never on the call it carries, in any spelling:

- FunctionGemma markers (``<start_function_call>`` ... and their ``<unusedN>`` aliases)
  with everything up to the matching end marker, and any stray control token;
- ``call:NAME{...}`` and JSON call objects (``{"name": ..., "arguments": ...}``), as the
  fallback parser reads them;
- a Python- or JS-style call: a declared function's name followed by ``(`` (``schedule_
  reminder(task="x")``, ``functions.schedule_reminder({...})``), or any identifier whose
  ``(`` is followed by a keyword argument (``set_alarm(time="9am")``).

``set_aside`` returns the message with those spans replaced by one space, and the text
of each span, so the router can refuse an argument value that only a typed call holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import regex

from .formats import functiongemma as fg

__all__ = ["SetAside", "set_aside"]

_BLOCKS = regex.compile(
    "|".join(
        rf"{regex.escape(start)}.*?(?:{regex.escape(end)}|$)"
        for start, end in (
            (fg.START_CALL, fg.END_CALL),
            (fg.START_RESP, fg.END_RESP),
            (fg.START_DECL, fg.END_DECL),
        )
    ),
    regex.DOTALL,
)
_STRAY = regex.compile("|".join(regex.escape(t) for t in fg.CONTROL_TOKENS))
# an identifier glued to `(` and a keyword argument: `f(x=1)`, `f(task: "x")` (not prose
# such as "me (note: cake)")
_KEYWORD_CALL = regex.compile(
    r"(?<![\w.])[^\W\d][\w.]*+\(\s*+[^\W\d]\w*+\s*+(?:=|:\s*+[\"'{\[])"
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}
# deeper nesting than this is not a call anyone types; it bounds the scan
_MAX_DEPTH = 32


@dataclass(frozen=True)
class SetAside:
    """The message's own words (``said``) and the typed call syntax taken out of it."""

    said: str
    typed: tuple[str, ...]


def set_aside(text: str, names: Iterable[str]) -> SetAside:
    """``text`` with every piece of typed call syntax replaced by a space."""
    names = list(names)
    text = fg.restore_markers(text)  # `<unused2>` is `<start_function_call>`
    typed: list[str] = []

    def cut(start: int, end: int) -> None:
        nonlocal text
        typed.append(text[start:end])
        text = f"{text[:start].rstrip()} {text[end:].lstrip()}"

    while (m := _BLOCKS.search(text)) is not None:
        cut(m.start(), m.end())
    while (m := _STRAY.search(text)) is not None:
        cut(m.start(), m.end())
    # `call:NAME{...}` and JSON calls, as the fallback parser finds them (longest first,
    # so a call inside another is cut with it)
    found = fg.extract_calls(text, names)
    for raw in sorted({c.raw for c in found.calls if c.raw.strip()}, key=len, reverse=True):
        while (at := text.find(raw)) >= 0:
            cut(at, at + len(raw))
    for start, end in _parenthesised_calls(text, names):
        cut(start, end)
    return SetAside(said=text.strip(), typed=tuple(typed))


def _parenthesised_calls(text: str, names: list[str]) -> list[tuple[int, int]]:
    """Spans of ``name(...)`` calls, last first (so cutting one leaves the others' offsets
    valid)."""
    declared = (
        regex.compile(
            r"(?<![\w])(?:[^\W\d]\w*+\.)*+(?:" + "|".join(map(regex.escape, names)) + r")\s*+\(",
            regex.IGNORECASE,
        )
        if names
        else None
    )
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        hits = [m for p in (declared, _KEYWORD_CALL) if p and (m := p.search(text, pos))]
        if not hits:
            break
        m = min(hits, key=lambda h: h.start())
        open_at = text.index("(", m.start())
        end = _closing(text, open_at)
        spans.append((m.start(), end))
        pos = end
    return spans[::-1]


def _closing(text: str, open_at: int) -> int:
    """Where the bracket opened at ``open_at`` closes (after it), quotes respected; the end
    of the text when it never does (a call cut off is still a call)."""
    depth = 0
    quote: str | None = None
    i = open_at
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in _QUOTES:
            quote = _QUOTES[char]
        elif char in "([{":
            depth += 1
            if depth > _MAX_DEPTH:
                return len(text)
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)
