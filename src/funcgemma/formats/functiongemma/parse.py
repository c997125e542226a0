"""Fallback parser: raw router-model text -> candidate function calls.

Used when a backend's native tool calls are missing or unusable. It reads
FunctionGemma's own syntax (``<start_function_call>call:NAME{k:v,...}``), the usual
mis-tags (response marker instead of call marker, a missing marker or ``call:``
prefix) and JSON-style calls (``{"name": ..., "arguments": ...}``, bare, fenced, in
lists or wrappers). It is a small scanner: one regex finds where a call may start,
then a recursive-descent parser reads the value grammar from there. Every token
regex is possessive and nesting is capped, so time stays linear on any input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import regex

from .tokens import END_CALL, END_RESP, ESCAPE, START_CALL, START_RESP

__all__ = ["CALL_NAME", "ParseOutcome", "ParsedCall", "extract_calls", "parse_value"]

_NAME = r"[^\W\d][\w.\-]*+"
# `call:NAME{`, however spaced: the name a (possibly unfinished) call is for.
CALL_NAME = regex.compile(rf"call\s*+:\s*+({_NAME})\s*+\{{")
# Where a call may start. Bare `call:` needs a name and `{` right after it, so prose
# like "I'll call: mom" is not call syntax. JSON candidates start at `{"`.
# After a marker, `call:NAME` names the function even when what follows is broken
# (`call:currency_system:<escape>EUR...`, a function nobody declared, written the way
# the model saw the declared ones written): a name without `call:` needs `{` or the end
# marker, so that prose after a marker ("Sure, ...") is not read as a name.
_CANDIDATE = regex.compile(
    rf"(?P<marker>{regex.escape(START_CALL)}|{regex.escape(START_RESP)})\s*+"
    rf"(?P<body>call\s*+:\s*+(?P<name>{_NAME})\s*+(?P<brace>\{{)?+"
    rf"|(?P<plain_name>{_NAME})\s*+"
    rf"(?:(?P<plain_brace>\{{)|(?={regex.escape(END_CALL)})))?"
    rf"|(?<!\w)(?P<bare>call:(?P<bare_name>{_NAME})\{{)"
    r"|(?P<json>\{)\s*+\""
)
_JSON_NAME_FIRST = regex.compile(r'\{\s*+"name"\s*+:\s*+"')
_WS = regex.compile(r"\s*+")
_KEY = regex.compile(r"[^\s:,{}\[\]<>\"]++")
_JSON_STRING = regex.compile(r'"(?:[^"\\]++|\\.)*+"', regex.DOTALL)
# A bare value runs to the next delimiter or control marker; a lone `<` is text.
_BARE = regex.compile(r"(?:[^,{}\[\]<]++|<(?!/?[a-z_]++>))*+")
_INT = regex.compile(r"-?(?:0|[1-9][0-9]*+)")
_FLOAT = regex.compile(r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?[0-9]++)?+")
# Deeper than any real argument; caps recursion and per-candidate work on hostile input.
_MAX_DEPTH = 16
_CALL_MARKERS = (START_CALL, END_CALL, START_RESP, END_RESP, ESCAPE)
_ARG_KEYS = ("arguments", "parameters", "args")
_MISSING: Any = object()


@dataclass(frozen=True)
class ParsedCall:
    """A candidate call; ``raw`` is the exact substring it was read from (markers
    excluded), so the router can tell a call the model echoed from the user's text."""

    name: str
    arguments: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class ParseOutcome:
    """Calls of known names in order of appearance, and whether the text had any
    call syntax at all (a marker, ``call:NAME{``, a JSON call object), so that
    "no call" can be told apart from "a call nothing could use". ``unknown``: the
    names of calls of functions not in the list (the model asking for a function
    nobody declared), in order of appearance."""

    calls: list[ParsedCall]
    saw_call_syntax: bool
    unknown: tuple[str, ...] = ()


class _Stop(Exception):
    """The value at hand is cut off (pos == len(text)) or malformed at ``pos``."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


class _Parser:
    def __init__(self, text: str, *, bare_at_end: bool = False) -> None:
        self.text = text
        self.n = len(text)
        # In model output a bare value at the very end may be cut ("3" of "35").
        self.bare_at_end = bare_at_end

    def ws(self, pos: int) -> int:
        m = _WS.match(self.text, pos)
        return m.end() if m else pos

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > _MAX_DEPTH:
            raise _Stop(pos)
        text, pos = self.text, self.ws(pos)
        if pos >= self.n:
            raise _Stop(self.n)
        if text.startswith(ESCAPE, pos):
            end = text.find(ESCAPE, pos + len(ESCAPE))
            if end < 0:
                raise _Stop(self.n)
            return text[pos + len(ESCAPE) : end], end + len(ESCAPE)
        char = text[pos]
        if char in "{[":
            return self.container(pos + 1, depth + 1, "}" if char == "{" else "]")
        if char == '"':
            return self.string(pos)
        m = _BARE.match(text, pos)
        end = m.end() if m else pos
        if end >= self.n and not self.bare_at_end:
            raise _Stop(self.n)
        word = text[pos:end].strip()
        return (_bare(word) if word else _MISSING), end

    def string(self, pos: int) -> tuple[str, int]:
        m = _JSON_STRING.match(self.text, pos)
        if not m:
            raise _Stop(self.n)
        body = m.group()[1:-1]
        if "\\" in body:
            try:
                body = json.loads(m.group())
            except ValueError:  # invalid escape: keep the text between the quotes
                pass
        return body, m.end()

    def key(self, pos: int) -> tuple[str, int]:
        text = self.text
        if text.startswith(ESCAPE, pos):
            key, pos = self.value(pos, 0)
        elif text.startswith('"', pos):
            key, pos = self.string(pos)
        else:
            m = _KEY.match(text, pos)
            if not m:
                raise _Stop(pos)
            key, pos = m.group(), m.end()
        pos = self.ws(pos)
        if pos >= self.n:
            raise _Stop(self.n)
        if text[pos] != ":":
            raise _Stop(pos)
        return str(key), pos + 1

    def container(self, pos: int, depth: int, close: str) -> tuple[Any, int]:
        obj: dict[str, Any] = {}
        arr: list[Any] = []
        first = True
        while True:
            pos = self.ws(pos)
            if pos >= self.n:
                raise _Stop(self.n)
            if self.text[pos] == close:
                return (obj if close == "}" else arr), pos + 1
            if not first:
                if self.text[pos] != ",":
                    raise _Stop(pos)
                pos = self.ws(pos + 1)
                if self.text.startswith(close, pos):  # trailing comma
                    return (obj if close == "}" else arr), pos + 1
            first = False
            key = None
            if close == "}":
                key, pos = self.key(pos)
            value, pos = self.value(pos, depth)
            if value is _MISSING:
                continue
            if key is None:
                arr.append(value)
            else:
                obj[key] = value

    def arguments(self, pos: int) -> tuple[dict[str, Any], int]:
        """A call's `{...}` body from just after `{`: like ``container`` but it keeps every
        complete argument when the rest is cut off or malformed."""
        out: dict[str, Any] = {}
        text = self.text
        while True:
            pos = self.ws(pos)
            if pos >= self.n or (text[pos] == "<" and not text.startswith(ESCAPE, pos)):
                # cut off, or a marker such as <end_function_call> ends the call
                return out, pos
            if text[pos] == "}":
                return out, pos + 1
            if text[pos] == ",":
                pos += 1
                continue
            try:
                key, after_key = self.key(pos)
                value, after = self.value(after_key, 1)
            except _Stop as stop:
                return out, stop.pos
            pos = self.ws(after)
            if pos < self.n and text[pos] not in ",}<":
                return out, pos  # no delimiter after the value: it may be incomplete
            if value is not _MISSING:
                out[key] = value


def _bare(word: str) -> Any:
    if word in ("true", "false"):
        return word == "true"
    if word == "null":
        return None
    try:
        if _INT.fullmatch(word):
            return int(word)
        if _FLOAT.fullmatch(word):
            number = float(word)
            return number if math.isfinite(number) else word
    except ValueError:  # more digits than int() accepts
        pass
    return word


def _json_arguments(call: dict[str, Any]) -> dict[str, Any] | None:
    args = next((call[k] for k in _ARG_KEYS if k in call), None)
    if args is None or args == "":
        return {}
    if isinstance(args, str):  # arguments as a JSON-encoded string
        body = args.strip()
        if not body.startswith("{"):
            return None
        args, _ = _Parser(body).arguments(1)
    return args if isinstance(args, dict) else None


def _json_calls(value: Any, names: frozenset[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Call-shaped objects anywhere inside a decoded JSON value, outermost first."""
    if isinstance(value, list):
        for item in value:
            yield from _json_calls(item, names)
    elif isinstance(value, dict):
        name = value.get("name")
        if not isinstance(name, str) and isinstance(value.get("function"), str):
            name = value["function"]
        if isinstance(name, str) and (name in names or any(k in value for k in _ARG_KEYS)):
            yield name, _json_arguments(value)
            return
        for item in value.values():
            yield from _json_calls(item, names)


def extract_calls(text: str, names: Iterable[str]) -> ParseOutcome:
    """Every call of a function in ``names`` found in ``text``; never raises.

    Names match exactly; a call of any other name only sets ``saw_call_syntax``. A
    call cut off after its name and ``{`` keeps the arguments that are complete."""
    known = frozenset(names)
    if not isinstance(text, str) or not text:
        return ParseOutcome(calls=[], saw_call_syntax=False)
    saw = any(marker in text for marker in _CALL_MARKERS)
    calls: list[ParsedCall] = []
    unknown: list[str] = []
    parser = _Parser(text)
    pos = 0
    while (m := _CANDIDATE.search(text, pos)) is not None:
        if m.group("json") is not None:
            try:
                value, end = parser.value(m.start(), 0)
            except _Stop:
                # A cut-off JSON call of a known name is still call syntax.
                if not saw and _JSON_NAME_FIRST.match(text, m.start()):
                    head, _ = parser.arguments(m.start() + 1)
                    saw = head.get("name") in known
                pos = m.start() + 1  # not JSON from here; a call may start inside
                continue
            for name, args in _json_calls(value, known):
                saw = True
                if name in known and args is not None:
                    calls.append(ParsedCall(name, args, text[m.start() : end]))
                elif name not in known and name.strip():
                    unknown.append(name)
            pos = end
            continue
        start = m.start("body") if m.group("marker") is not None else m.start("bare")
        name = m.group("name") or m.group("plain_name") or m.group("bare_name")
        if name is None:  # a marker with nothing readable after it
            pos = m.end()
            continue
        saw = True
        if (m.group("brace") or m.group("plain_brace") or m.group("bare")) is not None:
            args, end = parser.arguments(m.end())
        else:
            args, end = {}, m.end("name")
        if name in known:
            calls.append(ParsedCall(name, args, text[start:end]))
        else:
            unknown.append(name)
        pos = max(end, m.end())
    return ParseOutcome(calls=calls, saw_call_syntax=saw, unknown=tuple(unknown))


def parse_value(text: str) -> Any:
    """One FunctionGemma value (what ``render_value`` writes), e.g.
    ``{a:<escape>x<escape>,n:[1,2.5,true,null]}``. Raises ValueError if ``text`` is
    not exactly one complete value."""
    parser = _Parser(text, bare_at_end=True)
    try:
        value, end = parser.value(0, 0)
    except _Stop as stop:
        raise ValueError(f"Not a complete FunctionGemma value (stopped at {stop.pos})") from None
    if value is _MISSING or parser.ws(end) != len(text):
        raise ValueError(f"Not exactly one FunctionGemma value: {text[:80]!r}")
    return value
