"""Reading an OpenAI chat-completions request: the text of its messages, the last user
message, ``tool_choice``, and the router its ``tools`` call for (funcgemma's own router
when they are exactly its functions, else one over the client's schemas)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import InvalidRequest
from ..foreign import ForeignRegistry
from ..registry import FunctionRegistry
from ..router import Router
from ..types import Call, Message
from .app import Service
from .openai_errors import OpenAIInvalid
from .openai_types import ChatMessage, NamedToolChoice, ToolDef

Mode = Literal["auto", "none", "required"]


def message_text(content: str | list[dict[str, Any]] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind not in ("text", "refusal") or not isinstance(part.get(kind), str):
            raise OpenAIInvalid(
                f"funcgemma reads text only; `{where}[{j}]` is of type {str(kind)[:32]!r}.",
                param=f"{where}[{j}]",
            )
        texts.append(part[kind])
    return "\n".join(texts)


def last_user(messages: Sequence[ChatMessage]) -> tuple[int, str]:
    for at in range(len(messages) - 1, -1, -1):
        if messages[at].role == "user":
            return at, message_text(messages[at].content, f"messages[{at}].content")
    raise OpenAIInvalid(
        "`messages` has no user message; funcgemma answers the last one.", param="messages"
    )


def history_of(messages: Sequence[ChatMessage]) -> list[Message]:
    """The conversation before the last user message, as the router reads it: user and
    assistant messages, an assistant's tool calls with their arguments (a JSON string, as
    OpenAI sends them). A call whose arguments are not a JSON object is left out: the
    history is context, never a reason to refuse the request."""
    at, _ = last_user(messages)
    history = []
    for i, message in enumerate(messages[:at]):
        if message.role not in ("user", "assistant"):
            continue
        calls = []
        for call in message.tool_calls or []:
            arguments = call.function.arguments
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments or "{}")
                except ValueError:
                    continue
            if isinstance(arguments, dict):
                calls.append(Call(name=call.function.name, arguments=arguments))
        try:
            text = message_text(message.content, f"messages[{i}].content")
        except OpenAIInvalid:
            text = ""
        history.append(Message(role=message.role, content=text, tool_calls=calls))
    return history


def tool_choice_of(
    choice: str | NamedToolChoice | None, names: Sequence[str]
) -> tuple[Mode, tuple[str, ...] | None]:
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in names:
            raise OpenAIInvalid(
                f"`tool_choice` names {choice.function.name[:64]!r}, which "
                "`tools` does not declare.",
                param="tool_choice",
            )
        return "required", (choice.function.name,)
    if choice == "none":
        return "none", None
    if choice == "required":
        return "required", None
    return "auto", None


def declarations_of(tools: Sequence[ToolDef]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t.function.name,
                "description": t.function.description or "",
                "parameters": t.function.parameters,
            },
        }
        for t in tools
    ]


def _properties(parameters: Any) -> set[str] | None:
    props = parameters.get("properties") if isinstance(parameters, Mapping) else None
    return set(props) if isinstance(props, Mapping) else None


def is_own(registry: FunctionRegistry, declared: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the tools are funcgemma's own functions, with the same arguments."""
    names = sorted(t["function"]["name"] for t in declared)
    if names != registry.names:
        return False
    ours = {t["function"]["name"]: t["function"]["parameters"] for t in registry.tools()}
    return all(
        _properties(t["function"]["parameters"]) == _properties(ours[t["function"]["name"]])
        for t in declared
    )


def router_for(service: Service, tools: Sequence[ToolDef]) -> Router:
    conv = service.conversation
    declared = declarations_of(tools)
    if is_own(conv.registry, declared):
        return conv.router
    try:
        registry = ForeignRegistry(declared)
    except InvalidRequest as exc:
        raise OpenAIInvalid(exc.message, param="tools") from None
    return Router(
        conv.router.backend,
        registry,
        settings=service.settings,
        max_tokens=conv.router.options.max_tokens,
    )
