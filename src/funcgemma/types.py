"""Data shapes shared by every layer (pydantic models only)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Call(BaseModel):
    """One function call: a registered name and its (validated) arguments."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[Call] = Field(default_factory=list)
    tool_name: str | None = None


class CompletionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = 0.0
    max_tokens: int = 96
    num_ctx: int | None = None
    seed: int | None = None
    # function -> arguments whose value is copied from the user's last message (a place,
    # a name, a quoted text). A backend that decodes calls itself keeps such a value to
    # text the message contains; others ignore it.
    copied: dict[str, list[str]] = Field(default_factory=dict)
    # Whether the model must call a function: "auto" (its choice), "none" (never; the
    # router does not ask the model at all) or "required" (always). ``only``: the names a
    # call may have (None: any declared). A backend that decodes itself forces these while
    # decoding; others send only those tools and the router validates after.
    call: Literal["auto", "none", "required"] = "auto"
    only: tuple[str, ...] | None = None


class Completion(BaseModel):
    """What a backend returns for one non-streamed completion."""

    text: str = ""
    tool_calls: list[Call] = Field(default_factory=list)
    done_reason: str | None = None
    model: str = ""
    prompt_tokens: int = 0
    prompt_eval_tokens: int = 0  # tokens actually evaluated (prompt_tokens minus cached prefix)
    completion_tokens: int = 0
    duration_ms: float = 0.0


class RouteResult(BaseModel):
    """The router's answer. ``calls == []`` means no function applies."""

    calls: list[Call] = Field(default_factory=list)
    source: Literal["tools_api", "fallback", "none"] = "none"
    latency_ms: float = 0.0
    model: str = ""


class ChatReply(BaseModel):
    session_id: str
    reply: str
    route: RouteResult
    function_result: dict[str, Any] | None = None
    function_error: str | None = None
    # What the function did, in a line the user can trust as it is ("reminder #3 saved:
    # call mom, 2026-11-26 18:00"; the forecast as fetched), whatever the reply says
    notice: str | None = None
