"""OpenAI's wire shapes for OpenAIBackend: our messages and options out; tool calls and
log-probabilities in, in the shapes the servers that speak it really send."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..formats import functiongemma as fg
from ..types import Call, CompletionOptions, Message


def logprob_entries(logprobs: Any) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """(token, logprob, top alternatives) for each token of a streamed choice, from either
    shape a server sends: the completions API's (``tokens``, ``token_logprobs``,
    ``top_logprobs`` as dicts) or the chat API's (``content``: a list of entries), which
    llama-server uses for both."""
    if logprobs is None:
        return []
    data = logprobs.model_dump() if hasattr(logprobs, "model_dump") else dict(logprobs)
    out: list[tuple[str, float, list[tuple[str, float]]]] = []
    if isinstance(data.get("content"), list):
        for entry in data["content"]:
            top = [(str(t["token"]), float(t["logprob"])) for t in entry.get("top_logprobs") or ()]
            out.append((str(entry["token"]), float(entry["logprob"]), top))
        return out
    tokens = data.get("tokens") or []
    values = data.get("token_logprobs") or []
    tops = data.get("top_logprobs") or []
    for i, token in enumerate(tokens):
        value = values[i] if i < len(values) and values[i] is not None else 0.0
        top_i = tops[i] if i < len(tops) and isinstance(tops[i], Mapping) else {}
        out.append(
            (
                str(token),
                float(value),
                sorted(((str(t), float(v)) for t, v in top_i.items()), key=lambda kv: -kv[1]),
            )
        )
    return out


def tool_choice(options: CompletionOptions, tools: Sequence[dict[str, Any]]) -> Any:
    """CompletionOptions.call/only as OpenAI's ``tool_choice`` (``tools`` are already
    only the allowed ones)."""
    if options.call == "none":
        return "none"
    if options.call == "required":
        if len(tools) == 1:
            return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
        return "required"
    return "auto"


def tool_calls(tool_calls: Sequence[Any]) -> tuple[list[Call], list[str]]:
    """Native calls with their arguments decoded, and the calls whose arguments are not a
    JSON object, as call text for the router's fallback parser (which vets it, and
    keeps it as the raw output when nothing can be made of it)."""
    calls: list[Call] = []
    unparsed: list[str] = []
    for tc in tool_calls:
        function = getattr(tc, "function", None)
        if function is None:
            continue  # a custom (non-function) tool call: nothing funcgemma declared
        name, raw = function.name or "", function.arguments
        if isinstance(raw, Mapping):  # a server that sends an object, not a string
            calls.append(Call(name=name, arguments=dict(raw)))
            continue
        try:
            # "" and "null": a call without arguments
            arguments = json.loads(raw) if raw and raw.strip() else None
        except ValueError:
            arguments = raw  # not JSON: kept as text below
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            unparsed.append(f'{{"name": {json.dumps(name)}, "arguments": {raw}}}')
            continue
        calls.append(Call(name=name, arguments=arguments))
    return calls, unparsed


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Our messages in OpenAI's shape. Text from users, models and functions is
    neutralised: the server renders a template and parses special tokens in it."""
    out: list[dict[str, Any]] = []
    ids: dict[str, str] = {}  # function name -> the id of its latest call
    for m in messages:
        content = (
            m.content
            if m.role in ("system", "developer")
            else fg.neutralise_control_tokens(m.content)
        )
        if m.role in ("system", "developer"):
            out.append({"role": "system", "content": content})
        elif m.role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": content or None}
            if m.tool_calls:
                msg["tool_calls"] = []
                for c in m.tool_calls:
                    ids[c.name] = f"call_{len(ids)}_{c.name}"
                    msg["tool_calls"].append(
                        {
                            "id": ids[c.name],
                            "type": "function",
                            "function": {
                                "name": c.name,
                                "arguments": json.dumps(c.arguments, ensure_ascii=False),
                            },
                        }
                    )
            out.append(msg)
        elif m.role == "tool":
            out.append(
                {
                    "role": "tool",
                    "content": content,
                    "tool_call_id": ids.get(m.tool_name or "", "call_0"),
                }
            )
        else:
            out.append({"role": "user", "content": content})
    return out
