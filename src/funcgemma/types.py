"""Data shapes shared by every layer (pydantic models only)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    # Whether the model must call a function: "auto" (its choice), "none" (never; the
    # router does not ask the model at all) or "required" (always). ``only``: the names a
    # call may have (None: any declared). A backend that decodes itself forces these while
    # decoding; others send only those tools and the router validates after.
    call: Literal["auto", "none", "required"] = "auto"
    only: tuple[str, ...] | None = None


class Declarations(list[dict[str, Any]]):
    """Tool declarations as they go over the wire (a plain list of dicts), carrying what
    the functions' field roles say the embedded decoder needs: ``copied``, function ->
    its arguments whose value is text of the user's message (funcgemma.roles). A backend
    that decodes calls itself keeps such a value to the message's text; the others send
    the list as it is. A plain list has nothing copied."""

    def __init__(self, tools: Iterable[dict[str, Any]] = (), *,
                 copied: Mapping[str, Iterable[str]] | None = None) -> None:
        super().__init__(tools)
        self.copied: dict[str, list[str]] = {k: list(v) for k, v in (copied or {}).items()}


def copied_of(tools: Iterable[dict[str, Any]] | None) -> dict[str, list[str]]:
    """The copied arguments ``tools`` declares (none for a plain list)."""
    return dict(tools.copied) if isinstance(tools, Declarations) else {}


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


# where a routed call came from: the backend's tool calls, the fallback parser of its
# text, the conversation (a follow-up of the call before: funcgemma.followups), or none
RouteSource = Literal["tools_api", "fallback", "context", "none"]


class Ask(BaseModel):
    """What a call lacks that only the user can say, and the question that asks for it."""

    function: str
    field: str
    question: str
    # what the call has so far when it could not be made without the value (``calls`` is
    # then empty): the next message's answer completes it
    arguments: dict[str, Any] = Field(default_factory=dict)


class RouteResult(BaseModel):
    """The router's answer. ``calls == []`` means no call to run. ``outcome``: "call"
    (run the calls), "ask" (a call lacks a value the function needs and cannot guess;
    ``ask`` says which and how to ask. A call that can run without it is kept in
    ``calls``; one that cannot is left out and what it has is ``ask.arguments``), or
    "answer" (no function: a plain reply)."""

    calls: list[Call] = Field(default_factory=list)
    source: RouteSource = "none"
    latency_ms: float = 0.0
    model: str = ""
    outcome: Literal["call", "ask", "answer"] = "answer"
    ask: Ask | None = None

    @property
    def kept(self) -> list[Call]:
        """The calls a conversation keeps for this turn: ``calls``, or, when an ask left
        them for ``ask.arguments``, the call it waits on (the answer completes it)."""
        if self.ask is not None and not self.calls:
            return [Call(name=self.ask.function, arguments=self.ask.arguments)]
        return list(self.calls)

    @model_validator(mode="after")
    def _outcome_of_calls(self) -> RouteResult:
        if self.outcome == "answer" and self.calls:
            self.outcome = "ask" if self.ask is not None else "call"
        return self


class ChatReply(BaseModel):
    session_id: str
    reply: str
    route: RouteResult
    function_result: dict[str, Any] | None = None
    function_error: str | None = None
    # What the function did, in a line the user can trust as it is ("reminder #3 saved:
    # call mom, 2026-11-26 18:00"; the forecast as fetched), whatever the reply says
    notice: str | None = None
