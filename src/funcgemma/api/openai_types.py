"""OpenAI's chat-completions shapes, as much of them as funcgemma reads and writes.

Requests accept every field OpenAI's clients send (``temperature``, ``max_tokens``,
``user``, ``seed``...) and ignore the ones funcgemma does not use: the router decodes
greedily within its own token budget. Responses are the documented shapes, with one
extra key, ``funcgemma`` (the route, and what funcgemma's own functions did), which
OpenAI's clients keep as an extra field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..types import RouteResult


class _Open(BaseModel):
    # OpenAI adds fields over time; a client's newer field must not fail the request
    model_config = ConfigDict(extra="allow")


class FunctionDef(_Open):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        None,
        description="A JSON schema of type object (see funcgemma.foreign for what is enforced).",
    )


class ToolDef(_Open):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Open):
    name: str


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: NamedFunction


class FunctionCallIn(_Open):
    name: str
    arguments: str | dict[str, Any] = ""


class ToolCallIn(_Open):
    id: str | None = None
    type: str = "function"
    function: FunctionCallIn


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class ChatCompletionRequest(_Open):
    model: str = Field(
        description="Any string: funcgemma answers with the models it serves "
        "(GET /v1/models lists them)."
    )
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    stream: bool | None = False
    n: int | None = None


class FunctionCallOut(BaseModel):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "tool_calls"]
    logprobs: None = None


class Extension(BaseModel):
    """What funcgemma adds: the route it took, and, without ``tools``, what its own
    functions did (``notice``: a line the user can trust as it is)."""

    route: RouteResult | None = None
    notice: str | None = None
    function_result: dict[str, Any] | None = None
    function_error: str | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: None = None  # not counted
    funcgemma: Extension | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "funcgemma"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
