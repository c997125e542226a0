"""FunctionGemma's prompt, rendered in one place.

The embedded backend, the raw-prompt servers (Ollama's ``raw``, ``/v1/completions``),
the fine-tuning tool and the tests all render prompts with this module, so what the model
is trained on is byte-for-byte what it is served.

A prompt is a list of :class:`Segment`. Trusted segments are ours and may contain
control tokens (``<start_of_turn>``, ``<escape>``...); untrusted segments are user
text and must be tokenised with special-token parsing off, so that control tokens a
user types stay plain text. :func:`encode` does that for any tokenizer; :func:`raw_prompt`
writes the prompt as one string for a server that parses special tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...types import Call, Message
from .tokens import (
    BOS,
    CONTROL_TOKENS,
    END_CALL,
    END_DECL,
    END_RESP,
    END_TURN,
    ESCAPE,
    NO_CALL_REPLY,
    PREAMBLE,
    RESERVED_ALIASES,
    START_CALL,
    START_DECL,
    START_RESP,
    START_TURN,
    control_token_id,
    neutralise_control_tokens,
    split_control,
)


@dataclass(frozen=True)
class Segment:
    text: str
    trusted: bool = True


def _esc(text: str) -> str:
    return f"{ESCAPE}{text}{ESCAPE}"


def render_value(value: Any) -> str:
    """A call argument or schema value in FunctionGemma's syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return _esc(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{render_value(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render_value(v) for v in value) + "]"
    return _esc(str(value))


def _render_schema(schema: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(schema):
        value = schema[key]
        if key == "type" and isinstance(value, str):
            parts.append(f"type:{_esc(value.upper())}")
        elif key == "properties":
            props = ",".join(f"{k}:{_render_schema(value[k])}" for k in sorted(value))
            parts.append(f"properties:{{{props}}}")
        elif key == "items" and isinstance(value, Mapping):
            parts.append(f"items:{_render_schema(value)}")
        elif key in ("description", "enum", "required"):
            parts.append(f"{key}:{render_value(value)}")
    return "{" + ",".join(parts) + "}"


def render_declaration(tool: Mapping[str, Any]) -> str:
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    body = f"description:{_esc(fn.get('description', ''))},parameters:{_render_schema(params)}"
    return f"{START_DECL}declaration:{fn['name']}{{{body}}}{END_DECL}"


def render_developer_turn(tools: Sequence[Mapping[str, Any]]) -> str:
    decls = "".join(render_declaration(t) for t in tools)
    return f"{BOS}{START_TURN}developer\n{PREAMBLE}{decls}{END_TURN}\n"


def render_call(call: Call) -> str:
    args = ",".join(f"{k}:{render_value(call.arguments[k])}" for k in sorted(call.arguments))
    return f"{START_CALL}call:{call.name}{{{args}}}{END_CALL}"


def render_target(calls: Iterable[Call]) -> str:
    """The model turn we train towards: the calls, or a short no-call reply."""
    return prompt_text(target_segments(calls))


def _value_segments(value: Any) -> list[Segment]:
    if isinstance(value, str):
        return [Segment(ESCAPE), Segment(value, trusted=False), Segment(ESCAPE)]
    if isinstance(value, Mapping):
        out = [Segment("{")]
        for i, k in enumerate(sorted(value)):
            out += [Segment(("," if i else "") + f"{k}:"), *_value_segments(value[k])]
        return out + [Segment("}")]
    if isinstance(value, (list, tuple)):
        out = [Segment("[")]
        for i, v in enumerate(value):
            out += ([Segment(",")] if i else []) + _value_segments(v)
        return out + [Segment("]")]
    return [Segment(render_value(value))]


def target_segments(calls: Iterable[Call]) -> list[Segment]:
    """render_target as segments: argument strings come from user text, so they are
    untrusted (a value that spells a control token is tokenised as text)."""
    calls = list(calls)
    if not calls:
        return [Segment(f"{NO_CALL_REPLY}{END_TURN}")]
    out: list[Segment] = []
    for call in calls:
        out.append(Segment(f"{START_CALL}call:{call.name}{{"))
        for i, key in enumerate(sorted(call.arguments)):
            out.append(Segment(("," if i else "") + f"{key}:"))
            out += _value_segments(call.arguments[key])
        out.append(Segment(f"}}{END_CALL}"))
    out.append(Segment(START_RESP))
    return out


def render_prompt(
    tools: Sequence[Mapping[str, Any]], messages: Sequence[Message]
) -> list[Segment]:
    """Developer turn with declarations, then the conversation, then the open model turn.

    The first segment depends only on ``tools``: it is the prefix whose KV state the
    embedded backend evaluates once and reuses."""
    segments = [Segment(render_developer_turn(tools))]
    for msg in messages:
        if msg.role in ("system", "developer"):
            continue  # the developer turn is ours; other instructions are not routed
        if msg.role == "user":
            segments.append(Segment(f"{START_TURN}user\n"))
            segments.append(Segment(msg.content, trusted=False))
            segments.append(Segment(f"{END_TURN}\n"))
        elif msg.role == "assistant":
            body = "".join(render_call(c) for c in msg.tool_calls)
            segments.append(Segment(f"{START_TURN}model\n{body}"))
            if msg.content:
                segments.append(Segment(msg.content, trusted=False))
            segments.append(Segment(f"{END_TURN}\n"))
        elif msg.role == "tool":
            segments.append(Segment(f"{START_RESP}response:{msg.tool_name or ''}{{value:{ESCAPE}"))
            segments.append(Segment(msg.content, trusted=False))
            segments.append(Segment(f"{ESCAPE}}}{END_RESP}"))
    segments.append(Segment(f"{START_TURN}model\n"))
    return segments


def prompt_text(segments: Iterable[Segment]) -> str:
    return "".join(s.text for s in segments)


def encode(
    segments: Iterable[Segment],
    tokenize_plain: Callable[[str], list[int]],
    token_id: Callable[[str], int | None],
) -> list[int]:
    """Token ids for a rendered prompt, for any tokenizer.

    ``tokenize_plain`` must tokenise text with special-token parsing off and no BOS;
    ``token_id`` returns the id of a single special token, or None if the vocabulary
    lacks it (then the marker's reserved alias is used)."""
    ids: list[int] = []
    for seg in segments:
        if not seg.trusted:
            ids.extend(tokenize_plain(seg.text))
            continue
        for piece in split_control(seg.text):
            if piece in CONTROL_TOKENS:
                ids.append(control_token_id(piece, token_id))
            else:
                ids.extend(tokenize_plain(piece))
    return ids


def raw_prompt(segments: Iterable[Segment]) -> str:
    """The prompt as one string for a server that tokenises it with special-token parsing
    on and adds BOS itself (Ollama's ``raw`` mode): FunctionGemma markers spelt as their
    reserved aliases (the base vocabulary has no marker tokens), no BOS, and control tokens
    inside untrusted text broken so they stay text."""
    out = []
    for seg in segments:
        if not seg.trusted:
            out.append(neutralise_control_tokens(seg.text))
            continue
        text = seg.text.removeprefix(BOS) if not out else seg.text
        for marker, alias in RESERVED_ALIASES.items():
            text = text.replace(marker, alias)
        out.append(text)
    return "".join(out)

