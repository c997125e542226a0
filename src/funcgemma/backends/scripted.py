"""A backend that replays scripted completions: the fake router model and chat model
used to test the router, conversation, API and CLI without a model. Shipped in the
package so tests of the layers above use it instead of mocking funcgemma's own classes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import FuncgemmaError
from ..types import Call, Completion, CompletionOptions, Message

Script = Callable[[Sequence[Message], Sequence[dict[str, Any]] | None], Completion | str]


class ScriptedBackend:
    """``script`` maps the last user message to a Completion (or raw text), or raises
    a FuncgemmaError to simulate backend failures. Chat replies echo by default."""

    name = "scripted"

    def __init__(
        self,
        script: Script | dict[str, Completion | str | FuncgemmaError] | None = None,
        *,
        model: str = "scripted",
        parses_control_tokens: bool = False,
        reply: Callable[[Sequence[Message]], str] | None = None,
        delay_s: float = 0.0,
        not_ready: str | None = None,
        capable: bool = True,
    ) -> None:
        self.model = model
        # as a router model: like Ollama's (True: the router neutralises user text) or not
        self.parses_control_tokens = parses_control_tokens
        # as a chat model: like Ollama's (True) or like the embedded SmolLM2 (False)
        self.answers_from_sources = self.translates = capable
        self._script = script
        self._reply = reply
        self.delay_s = delay_s
        self.not_ready = not_ready  # why ready() says no (a test of /health/ready sets it)
        self.calls: list[tuple[list[Message], list[dict[str, Any]] | None]] = []
        self._lock = threading.Lock()

    def _lookup(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] | None):
        if callable(self._script):
            return self._script(messages, tools)
        text = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if isinstance(self._script, dict) and text in self._script:
            return self._script[text]
        return ""

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        with self._lock:
            self.calls.append((list(messages), list(tools) if tools is not None else None))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = self._lookup(messages, tools)
        if isinstance(out, FuncgemmaError):
            raise out
        if isinstance(out, str):
            out = Completion(text=out, done_reason="stop", model=self.model)
        return out.model_copy(update={"model": out.model or self.model})

    def stream(
        self, messages: Sequence[Message], *, options: CompletionOptions | None = None
    ) -> Iterator[str]:
        with self._lock:
            self.calls.append((list(messages), None))
        if self._reply is not None:
            text = self._reply(messages)
        else:
            last = messages[-1].content if messages else ""
            text = f"(scripted reply) {last}"
        for i in range(0, len(text), 8):
            if self.delay_s:
                time.sleep(self.delay_s / 10)
            yield text[i : i + 8]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "loaded": True}

    def ready(self) -> tuple[bool, str]:
        if self.not_ready is not None:
            return False, self.not_ready
        return True, "scripted"


def tool_call(name: str, **arguments: Any) -> Completion:
    """Convenience: a Completion carrying one native tool call."""
    return Completion(tool_calls=[Call(name=name, arguments=arguments)], done_reason="stop")
