"""The two model roles: a router model (a completion with the declared functions) and a
chat model (a streamed reply). A backend serves one model in one role; the Ollama,
OpenAI-compatible and scripted backends can be built for either, the embedded ones are
one class a role.

Capabilities are attributes, read where they matter:

- ``RouterModel.parses_control_tokens``: the message text is sent to something that
  reads control tokens inside it (Ollama renders FunctionGemma's prompt itself and
  tokenises with special parsing on) and the backend does not break them itself: the
  router neutralises the user's text before sending it, so typed markers stay data.
  The embedded router tokenises user text with special parsing off, and the
  OpenAI-compatible backend neutralises its wire messages itself: both say False.
- ``ChatModel.answers_from_sources`` / ``translates``: whether the chat model can be
  trusted to phrase an answer from fetched text without adding facts, and to
  translate. The embedded SmolLM2-135M can do neither: facts are then answered
  extractively and a translation is declined.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from ..types import Completion, CompletionOptions, Message


@runtime_checkable
class RouterModel(Protocol):
    name: str  # "ollama", "llamacpp", "openai", "scripted" (logs, /health)
    model: str  # model name/path shown in RouteResult.model
    parses_control_tokens: bool

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        """One completion. With ``tools`` the model may call functions: native tool calls
        come back parsed where the server parses them, else the raw text is returned for
        the router's fallback parser."""
        ...

    def describe(self) -> dict[str, Any]:
        """Health/diagnostic information (model, loaded, sizes...)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether the model can serve now, and why (GET /health, /health/ready): cheap
        enough to poll, never raises."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    name: str
    model: str
    answers_from_sources: bool
    translates: bool

    def stream(
        self, messages: Sequence[Message], *, options: CompletionOptions | None = None
    ) -> Iterator[str]:
        """Stream a plain chat reply as text pieces."""
        ...

    def describe(self) -> dict[str, Any]:
        """Health/diagnostic information (model, loaded, sizes...)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether the model can serve now, and why: cheap enough to poll, never raises."""
        ...
