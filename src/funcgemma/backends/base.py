"""The backend protocol. A backend serves one model in one role (router or chat)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from ..types import Completion, CompletionOptions, Message


@runtime_checkable
class Backend(Protocol):
    name: str  # "ollama", "llamacpp", "scripted"
    model: str  # model name/path shown in RouteResult.model
    supports_native_tools: bool  # True when the backend returns parsed tool_calls itself
    # As a chat model: whether it can be trusted to phrase an answer from fetched text
    # without adding facts, and to translate. The embedded SmolLM2-135M can do neither:
    # facts are then answered extractively and a translation is declined.
    answers_from_sources: bool
    translates: bool

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        """One completion. With ``tools`` the model may call functions; backends without
        native tool support return the raw text for the fallback parser."""
        ...

    def stream(
        self, messages: Sequence[Message], *, options: CompletionOptions | None = None
    ) -> Iterator[str]:
        """Stream a plain chat reply as text pieces."""
        ...

    def describe(self) -> dict[str, Any]:
        """Health/diagnostic information (model, loaded, sizes...)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether the model can serve now, and why (GET /health, /health/ready): cheap
        enough to poll, never raises."""
        ...
