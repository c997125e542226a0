"""OpenAI's streamed chat completion: server-sent ``chat.completion.chunk`` events.

A call streams as OpenAI streams one: its id and name first, then its arguments (JSON
text) in pieces, then ``finish_reason: "tool_calls"``; a reply streams as content pieces,
then ``finish_reason: "stop"``; ``data: [DONE]`` ends the stream. An error after the
first event is an ``{"error": {...}}`` event (OpenAI's clients raise it), and the end.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ..errors import FuncgemmaError
from .openai_errors import openai_error
from .openai_types import Extension, ToolCallOut

PIECE = 24  # characters of a call's arguments per streamed delta
_SURROGATE = re.compile("[\ud800-\udfff]")
DONE = "data: [DONE]\n\n"


def utf8(text: str) -> str:
    """``text`` as it can be sent: a lone surrogate (a model's JSON may carry "\\ud800")
    becomes U+FFFD instead of failing the answer."""
    return _SURROGATE.sub("\ufffd", text)


def clean(value: Any) -> Any:
    """``value`` (JSON data) with every string made sendable (``utf8``)."""
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, dict):
        return {utf8(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def close_quietly(pieces: Iterator[str]) -> None:
    """Stop a chat model's reply (a client that went away)."""
    close = getattr(pieces, "close", None)
    if close is not None:
        try:
            close()
        except ValueError:  # still running on another thread: it stops on its own
            pass


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def sse(
    events: Iterator[str],
    background: BackgroundTask | None = None,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        background=background,
        headers={"Cache-Control": "no-cache", **(headers or {})},
    )


def chunk(
    cid: str,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    extension: Extension | None = None,
) -> str:
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if extension is not None:
        body["funcgemma"] = extension.model_dump(mode="json")
    return f"data: {utf8(json.dumps(body, ensure_ascii=False))}\n\n"


def error_event(exc: FuncgemmaError) -> str:
    found = openai_error(exc.to_dict(), exc.status_code)
    body = found[1] if found else exc.to_dict()
    return f"data: {utf8(json.dumps(body, ensure_ascii=False))}\n\n"


def tool_call_events(
    cid: str, model: str, calls: Sequence[ToolCallOut], extension: Extension
) -> Iterator[str]:
    """Calls as OpenAI streams them: each call's id and name, then its arguments in pieces."""
    yield chunk(cid, model, {"role": "assistant", "content": None})
    for i, call in enumerate(calls):
        yield chunk(
            cid,
            model,
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": ""},
                    }
                ]
            },
        )
        arguments = call.function.arguments
        for j in range(0, len(arguments), PIECE):
            yield chunk(
                cid,
                model,
                {"tool_calls": [{"index": i, "function": {"arguments": arguments[j : j + PIECE]}}]},
            )
    yield chunk(cid, model, {}, "tool_calls", extension)
    yield DONE


def content_events(
    cid: str, model: str, pieces: Iterator[str], extension: Extension
) -> Iterator[str]:
    try:
        yield chunk(cid, model, {"role": "assistant", "content": ""})
        for piece in pieces:
            if piece:
                yield chunk(cid, model, {"content": piece})
    except FuncgemmaError as exc:
        yield error_event(exc)
        return
    finally:
        close_quietly(pieces)
    yield chunk(cid, model, {}, "stop", extension)
    yield DONE
